/* SPDX-License-Identifier: Apache-2.0 */
/* Process table: chained hash on pid plus an age list for eviction. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proctable.h"

#define PROC_TABLE_MIN_BUCKETS 256
/* Rough per-entry overhead counted against max_bytes. */
#define PROC_ENTRY_OVERHEAD    (sizeof(struct proc_entry) + 16)

static size_t pid_hash(const struct proc_table *t, int64_t pid)
{
	uint64_t h = (uint64_t)pid * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (t->nbuckets - 1);
}

int proc_table_new(size_t max_entries, size_t max_bytes, struct proc_table **ret_table)
{
	struct proc_table *t;

	if (max_entries == 0 || max_bytes == 0)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->nbuckets = PROC_TABLE_MIN_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return -ENOMEM;
	}
	t->max_entries = max_entries;
	t->max_bytes = max_bytes;
	*ret_table = t;
	return 0;
}

static void entry_free_strings(struct proc_table *t, struct proc_entry *e)
{
	free(e->file);
	e->file = NULL;
	for (uint32_t i = 0; i < e->argc; i++)
		free(e->argv[i]);
	free(e->argv);
	e->argv = NULL;
	e->argc = 0;
	e->argv_truncated = false;
	t->bytes -= e->bytes;
	e->bytes = 0;
}

struct proc_table *proc_table_free(struct proc_table *t)
{
	struct proc_entry *e, *next;

	if (!t)
		return NULL;
	for (e = t->oldest; e; e = next) {
		next = e->newer;
		entry_free_strings(t, e);
		free(e);
	}
	free(t->buckets);
	free(t);
	return NULL;
}

struct proc_entry *proc_table_get(struct proc_table *t, int64_t pid)
{
	struct proc_entry *e;

	for (e = t->buckets[pid_hash(t, pid)]; e; e = e->hnext)
		if (e->pid == pid)
			return e;
	return NULL;
}

static void age_unlink(struct proc_table *t, struct proc_entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = NULL;
}

static void age_append(struct proc_table *t, struct proc_entry *e)
{
	e->older = t->newest;
	e->newer = NULL;
	if (t->newest)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

static void entry_destroy(struct proc_table *t, struct proc_entry *e)
{
	struct proc_entry **pp = &t->buckets[pid_hash(t, e->pid)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	age_unlink(t, e);
	entry_free_strings(t, e);
	t->bytes -= PROC_ENTRY_OVERHEAD;
	t->count--;
	free(e);
}

void proc_table_remove(struct proc_table *t, int64_t pid)
{
	struct proc_entry *e = proc_table_get(t, pid);

	if (e)
		entry_destroy(t, e);
}

/* Doubles the bucket array; on failure the table keeps working, slower. */
static void proc_table_rehash(struct proc_table *t)
{
	size_t n = t->nbuckets * 2;
	struct proc_entry **nb = calloc(n, sizeof(*nb));
	struct proc_entry *e;

	if (!nb)
		return;
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
	for (e = t->oldest; e; e = e->newer) {
		size_t h = pid_hash(t, e->pid);

		e->hnext = nb[h];
		nb[h] = e;
	}
}

/*
 * Evicts the oldest entries, except keep and the pinned one, until one more
 * entry (when slots is 1) and want more bytes fit.
 */
static void proc_table_make_room(struct proc_table *t, size_t slots, size_t want,
				 const struct proc_entry *keep)
{
	struct proc_entry *victim = t->oldest;

	while (victim && (t->count + slots > t->max_entries ||
			  t->bytes + want > t->max_bytes)) {
		struct proc_entry *next = victim->newer;

		if (victim != keep && victim != t->pinned) {
			entry_destroy(t, victim);
			t->evicted++;
		}
		victim = next;
	}
}

struct proc_entry *proc_table_upsert(struct proc_table *t, int64_t pid)
{
	struct proc_entry *e = proc_table_get(t, pid);
	size_t h;

	if (e) {
		age_unlink(t, e);
		age_append(t, e);
		return e;
	}
	proc_table_make_room(t, 1, PROC_ENTRY_OVERHEAD, NULL);
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->pid = pid;
	if (t->count >= t->nbuckets)
		proc_table_rehash(t);
	h = pid_hash(t, pid);
	e->hnext = t->buckets[h];
	t->buckets[h] = e;
	age_append(t, e);
	t->count++;
	t->bytes += PROC_ENTRY_OVERHEAD;
	return e;
}

int proc_entry_set_file(struct proc_table *t, struct proc_entry *e,
			const char *file, size_t len)
{
	char *copy;

	if (len > PROC_FILE_MAX)
		len = PROC_FILE_MAX;
	proc_table_make_room(t, 0, len + 1, e);
	copy = strndup(file, len);
	if (!copy)
		return -ENOMEM;
	if (e->file) {
		size_t old = strlen(e->file) + 1;

		e->bytes -= old;
		t->bytes -= old;
		free(e->file);
	}
	e->file = copy;
	/* strndup stops at an embedded NUL: count what was kept. */
	len = strlen(copy) + 1;
	e->bytes += len;
	t->bytes += len;
	return 0;
}

void proc_entry_clear_argv(struct proc_table *t, struct proc_entry *e)
{
	for (uint32_t i = 0; i < e->argc; i++) {
		size_t n = strlen(e->argv[i]) + 1 + sizeof(char *);

		e->bytes -= n;
		t->bytes -= n;
		free(e->argv[i]);
	}
	free(e->argv);
	e->argv = NULL;
	e->argc = 0;
	e->argv_truncated = false;
}

static size_t entry_argv_bytes(const struct proc_entry *e)
{
	size_t n = 0;

	for (uint32_t i = 0; i < e->argc; i++)
		n += strlen(e->argv[i]) + 1;
	return n;
}

int proc_entry_add_arg(struct proc_table *t, struct proc_entry *e,
		       const char *arg, size_t len)
{
	size_t used = entry_argv_bytes(e);
	char **nv, *copy;

	if (e->argc >= PROC_ARGV_MAX || used >= PROC_ARGV_BYTES) {
		e->argv_truncated = true;
		return 0;
	}
	if (len > PROC_ARGV_BYTES - used) {
		len = PROC_ARGV_BYTES - used;
		e->argv_truncated = true;
	}
	proc_table_make_room(t, 0, len + 1 + sizeof(char *), e);
	copy = strndup(arg, len);
	if (!copy)
		return -ENOMEM;
	nv = realloc(e->argv, (e->argc + 1) * sizeof(*nv));
	if (!nv) {
		free(copy);
		return -ENOMEM;
	}
	e->argv = nv;
	e->argv[e->argc++] = copy;
	len = strlen(copy) + 1 + sizeof(char *);
	e->bytes += len;
	t->bytes += len;
	return 0;
}

int proc_entry_copy_image(struct proc_table *t, struct proc_entry *dst,
			  const struct proc_entry *src)
{
	int r;

	if (dst == src)
		return 0;
	/* Making room for dst must not evict the entry being copied. */
	t->pinned = src;
	proc_entry_clear_argv(t, dst);
	r = 0;
	if (src->file)
		r = proc_entry_set_file(t, dst, src->file, strlen(src->file));
	for (uint32_t i = 0; r == 0 && i < src->argc; i++)
		r = proc_entry_add_arg(t, dst, src->argv[i], strlen(src->argv[i]));
	if (r == 0)
		dst->argv_truncated = src->argv_truncated;
	t->pinned = NULL;
	return r;
}

const char *proc_entry_name(const struct proc_entry *e)
{
	const char *slash;

	if (!e || !e->file || !*e->file)
		return "?";
	slash = strrchr(e->file, '/');
	return slash && slash[1] ? slash + 1 : e->file;
}
