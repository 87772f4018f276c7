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
/* Every tracer's tables together (struct proc_budget), by default. */
#define PROC_TOTAL_MAX_ENTRIES 262144
#define PROC_TOTAL_MAX_BYTES   (256u << 20)
#define PROC_FILE_MAX          4096   /* bytes of a path (file, cwd) */
#define PROC_ARGV_MAX          64     /* arguments kept */
#define PROC_ARGV_BYTES        4096   /* bytes of arguments kept */
#define PROC_ENVP_MAX          256    /* environment strings kept */
#define PROC_ENVP_BYTES        16384  /* bytes of environment kept */
#define PROC_COMM_MAX          16     /* as the kernel's TASK_COMM_LEN */
#define PROC_ANCESTORS_MAX     64     /* depth of an ancestry walk */
#define PROC_SOCKS_MAX         8      /* TCP/UDP sockets remembered (by fd) */
#define PROC_PORTS_MAX         8      /* ports a server listened on, kept */

/*
 * What the probe knows of one of a process's TCP/UDP sockets, from its
 * socket, bind and listen events. The tracer does not see close or dup,
 * so an fd may have been reused: a slot is replaced by the next socket
 * or bind on its fd. Forks copy the slots (the child inherits the fds),
 * so that a pre-forked worker's accept on its parent's listener knows the
 * port.
 */
struct proc_sock {
	int32_t fd;                /* -1: free slot */
	uint16_t port;             /* bound port, 0: none or unknown */
	uint8_t type;              /* SOCK_STREAM, SOCK_DGRAM, 0: unknown */
	bool listening;            /* listen() succeeded on it */
};

/*
 * Server identity by behaviour. `server`: the process (any of its threads,
 * before or after an exec: the pid did it, and the fds survive the exec)
 * listened on a TCP socket, bound a UDP socket to a port, or accepted a
 * TCP connection. `forked`: it was forked by a server and has not exec'd
 * since, so it holds the server's sockets and runs its code (a pre-forked
 * worker before its first accept, a fork-per-connection handler); an exec
 * ends that, as the new program has not used them. A worker that accepts
 * on an inherited listener is a server by its accept.
 */
struct proc_net {
	struct proc_sock socks[PROC_SOCKS_MAX];
	uint16_t ports[PROC_PORTS_MAX]; /* listened or accepted on, first seen first */
	uint8_t nports;
	uint8_t next;              /* slot replaced next when all are in use */
	bool server;
	bool forked;               /* forked by a server, no exec since */
	bool ports_dropped;        /* more ports than PROC_PORTS_MAX */
};

/* What one of fds 0-2 was at the last exec (docs/protocol.md, exec). */
enum proc_stdio_type {
	PROC_STDIO_UNKNOWN,        /* not reported */
	PROC_STDIO_NONE, PROC_STDIO_PIPE, PROC_STDIO_SOCKET, PROC_STDIO_TTY,
	PROC_STDIO_NULL, PROC_STDIO_FILE, PROC_STDIO_OTHER,
};

struct proc_stdio {
	uint8_t type;              /* enum proc_stdio_type */
	uint64_t ino;              /* of a pipe or socket; 0 otherwise */
};

struct pipe_index;

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
	struct proc_stdio stdio[3]; /* fds 0-2 at the last exec (pipes.c) */
	uint32_t nchildren;        /* entries whose ppid is this pid */
	bool exited;
	struct proc_net net;       /* sockets and server identity */
	size_t bytes;              /* accounted size of the strings */
	struct proc_entry *hnext;  /* hash chain */
	struct proc_entry *older, *newer; /* age list */
};

struct proc_table;

/*
 * A bound shared by several tables (the probe's: every tracer's together).
 * When a table would take the total past it, reclaim is called to free
 * entries somewhere (tracers.c: an idle tracer's whole table first, then
 * a part of the largest one), with the table that asks and its entry
 * being written, which must stay.
 */
struct proc_budget {
	size_t count, max_entries;
	size_t bytes, max_bytes;
	uint64_t evicted;          /* entries dropped for this bound */
	size_t peak_count, peak_bytes; /* the most held at once */
	void (*reclaim)(void *data, struct proc_table *asking,
			const struct proc_entry *keep);
	void *data;
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
	size_t nparents;           /* entries with nchildren > 0 */
	struct proc_budget *budget; /* NULL: this table's bounds only */
	struct pipe_index *pipes;  /* pipe ends and deferred readers (pipes.h) */
};

int proc_table_new(size_t max_entries, size_t max_bytes, struct proc_table **ret_table);
struct proc_table *proc_table_free(struct proc_table *t);
/* Counts t (empty) against b too; see struct proc_budget. */
void proc_table_set_budget(struct proc_table *t, struct proc_budget *b);
/*
 * Evicts up to n entries, in the order of the per-table bound (the
 * updated longest ago first, ancestors after a second chance), never
 * keep or the pinned one; counted in t->evicted and the budget's evicted.
 */
size_t proc_table_evict(struct proc_table *t, size_t n, const struct proc_entry *keep);

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

/*
 * Network events of e (ret >= 0 only): a TCP/UDP socket created as fd, a
 * bind of fd to port (family: AF_INET/AF_INET6 or other, which forgets the
 * fd), a listen on fd, and an accept on the listener fd (inet_peer: the
 * peer's address is AF_INET/AF_INET6; false when the call asked for none).
 */
void proc_entry_net_socket(struct proc_entry *e, int64_t fd, int family, int type);
void proc_entry_net_bind(struct proc_entry *e, int64_t fd, int family, int64_t port);
void proc_entry_net_listen(struct proc_entry *e, int64_t fd);
void proc_entry_net_accept(struct proc_entry *e, int64_t fd, bool inet_peer);
/* An exec: what was only inherited from a forking server is not ours. */
void proc_entry_net_exec(struct proc_entry *e);
/* process.is_server: by its own doing, or forked by a server (no exec). */
static inline bool proc_entry_is_server(const struct proc_entry *e)
{
	return e->net.server || e->net.forked;
}

/* The last path component of the executable, or "?" when unknown. */
const char *proc_entry_name(const struct proc_entry *e);

#endif
