/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The probe's minimal process table, one per tracer session: pid -> parent,
 * executable and argv. Bounded in entries and bytes; when full, the entry
 * updated longest ago is evicted (exited processes are removed as soon as
 * their exit was reported, so what remains is live or forgotten).
 */
#ifndef SENTRACE_PROBE_PROCTABLE_H
#define SENTRACE_PROBE_PROCTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROC_TABLE_MAX_ENTRIES 65536
#define PROC_TABLE_MAX_BYTES   (64u << 20)
#define PROC_FILE_MAX          4096   /* bytes of the executable path */
#define PROC_ARGV_MAX          64     /* arguments kept */
#define PROC_ARGV_BYTES        4096   /* bytes of arguments kept */

struct proc_entry {
	int64_t pid;
	int64_t ppid;              /* 0 when unknown */
	char *file;                /* NULL when unknown */
	char **argv;               /* argc strings, NULL when argc == 0 */
	uint32_t argc;
	bool argv_truncated;       /* arguments were dropped or cut */
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
};

int proc_table_new(size_t max_entries, size_t max_bytes, struct proc_table **ret_table);
struct proc_table *proc_table_free(struct proc_table *t);

struct proc_entry *proc_table_get(struct proc_table *t, int64_t pid);
/*
 * The entry for pid, created empty when absent (evicting the oldest entries
 * when the table is full), and marked as the most recently updated.
 * NULL only when out of memory.
 */
struct proc_entry *proc_table_upsert(struct proc_table *t, int64_t pid);
void proc_table_remove(struct proc_table *t, int64_t pid);

/* Setters copy their input, cut to the bounds above. */
int proc_entry_set_file(struct proc_table *t, struct proc_entry *e,
			const char *file, size_t len);
/* Starts a new argv; add arguments one by one. */
void proc_entry_clear_argv(struct proc_table *t, struct proc_entry *e);
int proc_entry_add_arg(struct proc_table *t, struct proc_entry *e,
		       const char *arg, size_t len);
/* dst gets a copy of src's file and argv (a fork). */
int proc_entry_copy_image(struct proc_table *t, struct proc_entry *dst,
			  const struct proc_entry *src);

/* The last path component of the executable, or "?" when unknown. */
const char *proc_entry_name(const struct proc_entry *e);

#endif
