/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process resolver's table, one per tracer (it outlives reconnects):
 * pid -> parent, executable, argv, environment, credentials, cwd, tty, comm
 * and start time. Bounded in entries and bytes; when full, the entry
 * updated longest ago is evicted, but an entry that others name as parent
 * gets a bounded second chance (an ancestor is usually the long-lived master
 * process, the one updated longest ago). An exited process leaves the table
 * at once unless processes still in the table name it as their parent: then
 * it stays, marked exited, so that their ancestry resolves, and goes when
 * the last of them goes.
 *
 * Lineage is the fork history: ppid is the creator, the process whose fork
 * made this one, and does not follow the kernel's re-parenting (to PID 1, a
 * subreaper or the tracer) when the creator exits; a daemon that
 * double-forks keeps its ancestry. cur_ppid is the kernel's current parent
 * as the last exec event or snapshot reported it.
 */
#ifndef SENTRACE_PROBE_PROCTABLE_H
#define SENTRACE_PROBE_PROCTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROC_TABLE_MAX_ENTRIES 65536
#define PROC_TABLE_MAX_BYTES   (64u << 20)
#define PROC_FILE_MAX          4096   /* bytes of a path (file, cwd) */
#define PROC_ARGV_MAX          64     /* arguments kept */
#define PROC_ARGV_BYTES        4096   /* bytes of arguments kept */
#define PROC_ENVP_MAX          256    /* environment strings kept */
#define PROC_ENVP_BYTES        16384  /* bytes of environment kept */
#define PROC_COMM_MAX          16     /* as the kernel's TASK_COMM_LEN */
#define PROC_ANCESTORS_MAX     64     /* depth of an ancestry walk */

struct proc_entry {
	int64_t pid;
	int64_t ppid;              /* the creator (lineage); 0 when unknown */
	int64_t cur_ppid;          /* the kernel's current parent; 0: unknown */
	char *file;                /* NULL when unknown */
	char **argv;               /* argc strings, NULL when argc == 0 */
	uint32_t argc;
	bool argv_truncated;       /* arguments were dropped or cut */
	char **envp;               /* envc "NAME=value" strings */
	uint32_t envc;
	uint32_t argv_bytes, envp_bytes; /* held by argv, envp (NULs included) */
	bool envp_truncated;
	char *cwd;                 /* NULL when unknown */
	char *tty;                 /* NULL when unknown, "" when none */
	char *user, *group;        /* names of uid and gid; NULL when unknown */
	char *container_id;        /* the process's own; NULL: the session's */
	char comm[PROC_COMM_MAX];  /* "" when unknown */
	int64_t uid, euid, gid, egid; /* -1 when unknown */
	int64_t suid, fsuid, sgid, fsgid; /* -1 when unknown */
	int64_t cap_effective, cap_permitted; /* -1 when unknown */
	uint64_t start_ns;         /* wall clock; 0 when unknown */
	uint64_t start_ticks;      /* /proc/PID/stat starttime, as the tracer
				    * read it; 0 when unknown. Kills name it */
	uint32_t nchildren;        /* entries whose ppid is this pid */
	bool exited;
	size_t bytes;              /* accounted size of the strings */
	struct proc_entry *hnext;  /* hash chain */
	struct proc_entry *older, *newer; /* age list */
};

struct proc_table {
	struct proc_entry **buckets;
	size_t nbuckets;           /* a power of two */
	size_t count;
	size_t max_entries;
	size_t bytes;
	size_t max_bytes;
	struct proc_entry *oldest, *newest;
	const struct proc_entry *pinned; /* never evicted (during a copy) */
	uint64_t evicted;          /* entries dropped to stay in bounds */
	size_t exited;             /* entries kept for their children */
};

int proc_table_new(size_t max_entries, size_t max_bytes, struct proc_table **ret_table);
struct proc_table *proc_table_free(struct proc_table *t);

struct proc_entry *proc_table_get(struct proc_table *t, int64_t pid);
/*
 * The entry for pid, created empty when absent (evicting the oldest entries
 * when the table is full), and marked as the most recently updated. An
 * exited entry with that pid (pid reuse) is replaced by a fresh one.
 * NULL only when out of memory.
 */
struct proc_entry *proc_table_upsert(struct proc_table *t, int64_t pid);
void proc_table_remove(struct proc_table *t, int64_t pid);
/*
 * The process exited: its entry goes, unless children in the table still
 * name it; exited parents left without children go too.
 */
void proc_table_exit(struct proc_table *t, int64_t pid);

/* Sets e's parent and keeps the children counts right. */
void proc_entry_set_ppid(struct proc_table *t, struct proc_entry *e, int64_t ppid);
/*
 * e's parent, or NULL: unknown, not in the table, or younger than e (the
 * parent's pid was reused after it exited).
 */
struct proc_entry *proc_table_parent(struct proc_table *t, const struct proc_entry *e);

/* Setters copy their input, cut to the bounds above. */
int proc_entry_set_file(struct proc_table *t, struct proc_entry *e,
			const char *file, size_t len);
int proc_entry_set_cwd(struct proc_table *t, struct proc_entry *e,
		       const char *cwd, size_t len);
/* Sets (or with s NULL forgets) user, group or container_id. */
int proc_entry_set_name(struct proc_table *t, struct proc_entry *e, char **field,
			const char *s, size_t len);
int proc_entry_set_tty(struct proc_table *t, struct proc_entry *e,
		       const char *tty, size_t len);
void proc_entry_set_comm(struct proc_entry *e, const char *comm, size_t len);
/* Starts a new argv; add arguments one by one. */
void proc_entry_clear_argv(struct proc_table *t, struct proc_entry *e);
int proc_entry_add_arg(struct proc_table *t, struct proc_entry *e,
		       const char *arg, size_t len);
void proc_entry_clear_envp(struct proc_table *t, struct proc_entry *e);
int proc_entry_add_env(struct proc_table *t, struct proc_entry *e,
		       const char *env, size_t len);
/* dst gets a copy of src's file, argv, envp, cwd, tty, comm and creds (a fork). */
int proc_entry_copy_image(struct proc_table *t, struct proc_entry *dst,
			  const struct proc_entry *src);

/* The last path component of the executable, or "?" when unknown. */
const char *proc_entry_name(const struct proc_entry *e);

#endif
