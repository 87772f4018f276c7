/* SPDX-License-Identifier: Apache-2.0 */
/* Standard-stream lineage: pipe writers and deferred reader evaluation. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "engine.h"
#include "pipes.h"

struct deferred {
	uint64_t ino;              /* the pipe the reader's stdin is */
	int64_t pid;
	uint64_t start_ns;         /* the reader's, to tell a reused pid */
	uint64_t ts;               /* the exec's time */
	char *data;                /* the exec event, msgpack */
	size_t len;
	uint64_t fired[PIPES_FIRED_MAX]; /* hashes of rule ids that alerted */
	unsigned nfired;
};

struct pipe_index {
	struct pipe_writer w[PIPES_WRITERS];
	struct deferred d[PIPES_DEFER_MAX]; /* oldest first */
	size_t nd;
	size_t dbytes;
	bool hide;                 /* writers are hidden (pipes_stdin_writer) */
};

static const char *const type_names[] = {
	[PROC_STDIO_UNKNOWN] = NULL, [PROC_STDIO_NONE] = "none",
	[PROC_STDIO_PIPE] = "pipe", [PROC_STDIO_SOCKET] = "socket",
	[PROC_STDIO_TTY] = "tty", [PROC_STDIO_NULL] = "null",
	[PROC_STDIO_FILE] = "file", [PROC_STDIO_OTHER] = "other",
};

uint8_t pipes_stdio_type(const char *s, size_t len)
{
	for (uint8_t i = 1; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strlen(type_names[i]) == len && memcmp(type_names[i], s, len) == 0)
			return i;
	return PROC_STDIO_UNKNOWN;
}

const char *pipes_stdio_type_name(uint8_t type)
{
	return type < sizeof(type_names) / sizeof(type_names[0]) ?
	       type_names[type] : NULL;
}

static void deferred_drop(struct pipe_index *pi, size_t i)
{
	pi->dbytes -= pi->d[i].len;
	free(pi->d[i].data);
	memmove(&pi->d[i], &pi->d[i + 1], (pi->nd - i - 1) * sizeof(pi->d[0]));
	pi->nd--;
}

struct pipe_index *pipe_index_free(struct pipe_index *pi)
{
	if (!pi)
		return NULL;
	for (size_t i = 0; i < PIPES_WRITERS; i++)
		free(pi->w[i].file);
	while (pi->nd)
		deferred_drop(pi, pi->nd - 1);
	free(pi);
	return NULL;
}

static struct pipe_index *index_of(struct proc_table *t)
{
	if (!t->pipes)
		t->pipes = calloc(1, sizeof(*t->pipes));
	return t->pipes;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/*
 * Two slots may hold an inode (a small cache, not a table that grows):
 * the slot that has it, else the free or older one of the two.
 */
static struct pipe_writer *writer_slot(struct pipe_index *pi, uint64_t ino,
				       bool add)
{
	size_t h = (size_t)(mix(ino) % PIPES_WRITERS);
	struct pipe_writer *a = &pi->w[h], *b = &pi->w[h ^ 1];

	if (a->ino == ino)
		return a;
	if (b->ino == ino)
		return b;
	if (!add)
		return NULL;
	if (!a->ino)
		return a;
	if (!b->ino)
		return b;
	return a->seen_ns <= b->seen_ns ? a : b;
}

void pipes_note_exec(struct proc_table *t, const struct proc_entry *e,
		     uint64_t ts)
{
	struct pipe_index *pi;

	for (int fd = 1; fd <= 2; fd++) {
		const struct proc_stdio *s = &e->stdio[fd];
		struct pipe_writer *w;

		if (s->type != PROC_STDIO_PIPE || !s->ino)
			continue;
		/* 2>&1: the same pipe twice. */
		if (fd == 2 && e->stdio[1].type == PROC_STDIO_PIPE &&
		    e->stdio[1].ino == s->ino)
			continue;
		pi = index_of(t);
		if (!pi)
			return;
		w = writer_slot(pi, s->ino, true);
		free(w->file);
		w->file = e->file ? strndup(e->file, PROC_FILE_MAX) : NULL;
		w->ino = s->ino;
		w->pid = e->pid;
		w->seen_ns = ts;
		memcpy(w->comm, e->comm, sizeof(w->comm));
		w->stdin_ino = e->stdio[0].type == PROC_STDIO_PIPE ? e->stdio[0].ino : 0;
	}
}

const struct pipe_writer *pipes_stdin_writer(struct proc_table *t,
					     const struct proc_entry *e)
{
	const struct pipe_writer *w;

	if (!t || !t->pipes || t->pipes->hide || !e ||
	    e->stdio[0].type != PROC_STDIO_PIPE || !e->stdio[0].ino)
		return NULL;
	w = writer_slot(t->pipes, e->stdio[0].ino, false);
	/* A process's own stdout looping back to its stdin is no writer. */
	return w && w->pid != e->pid ? w : NULL;
}

const struct pipe_writer *pipes_stdin_upstream(struct proc_table *t,
					       const struct proc_entry *e,
					       unsigned n)
{
	const struct pipe_writer *w = pipes_stdin_writer(t, e);

	if (n >= PIPES_UPSTREAM_MAX)
		return NULL;
	for (unsigned i = 0; w && i < n; i++)
		w = w->stdin_ino ? writer_slot(t->pipes, w->stdin_ino, false) : NULL;
	return w;
}

/* Whether pipe ino is on the way up from pipe start (a kept reader's). */
static bool upstream_has(struct pipe_index *pi, uint64_t start, uint64_t ino)
{
	const struct pipe_writer *w;

	for (unsigned i = 0; start && i < PIPES_UPSTREAM_MAX; i++) {
		if (start == ino)
			return true;
		w = writer_slot(pi, start, false);
		start = w ? w->stdin_ino : 0;
	}
	return false;
}

static uint64_t id_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static bool fired_has(const struct deferred *d, uint64_t h)
{
	for (unsigned i = 0; i < d->nfired; i++)
		if (d->fired[i] == h)
			return true;
	return false;
}

static void fired_add(struct deferred *d, uint64_t h)
{
	if (!fired_has(d, h) && d->nfired < PIPES_FIRED_MAX)
		d->fired[d->nfired++] = h;
}

static void expire(struct engine *en, struct pipe_index *pi, uint64_t now)
{
	while (pi->nd && pi->d[0].ts + PIPES_DEFER_NS < now) {
		deferred_drop(pi, 0);
		en->stats.pipes_expired++;
	}
}

static void defer(struct engine *en, struct pipe_index *pi,
		  const struct event_record *ev, const struct proc_entry *proc,
		  uint64_t ts, const struct rule *const *fired, size_t nfired)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct deferred *d;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (!ev->raw || msgpack_pack_object(&pk, *ev->raw) != 0 ||
	    sb.size > PIPES_DEFER_EVENT_MAX) {
		msgpack_sbuffer_destroy(&sb);
		en->stats.pipes_dropped++;
		return;
	}
	/* The oldest give way: the newest reader is the one still running. */
	while (pi->nd && (pi->nd == PIPES_DEFER_MAX ||
			  pi->dbytes + sb.size > PIPES_DEFER_BYTES)) {
		deferred_drop(pi, 0);
		en->stats.pipes_dropped++;
	}
	d = &pi->d[pi->nd++];
	memset(d, 0, sizeof(*d));
	d->ino = proc->stdio[0].ino;
	d->pid = proc->pid;
	d->start_ns = proc->start_ns;
	d->ts = ts;
	d->len = sb.size;
	d->data = msgpack_sbuffer_release(&sb);
	pi->dbytes += d->len;
	for (size_t i = 0; i < nfired; i++)
		fired_add(d, id_hash(rule_id(fired[i])));
	en->stats.pipes_deferred++;
}

#define REPLAY_MATCHES_MAX 64

struct matches {
	const struct rule *r[REPLAY_MATCHES_MAX];
	size_t n;
};

static void collect(const struct rule *r, void *data)
{
	struct matches *m = data;

	if (m->n < REPLAY_MATCHES_MAX)
		m->r[m->n++] = r;
}

/* The kept exec d, evaluated again now that its pipe has a writer. */
static void replay(struct engine *en, const struct engine_source *src,
		   struct proc_table *t, struct deferred *d)
{
	const struct proc_entry *reader = proc_table_get(t, d->pid);
	struct matches matches;
	struct rules_ctx rctx;
	msgpack_unpacked u;
	size_t off = 0;

	if (!reader || reader->start_ns != d->start_ns ||
	    reader->stdio[0].type != PROC_STDIO_PIPE || reader->stdio[0].ino != d->ino)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, d->data, d->len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    record_decode(&en->replay, &u.data, NULL) < 0) {
		msgpack_unpacked_destroy(&u);
		return;
	}
	en->stats.pipes_replayed++;
	field_ctx_reset(&en->fc, &en->replay, t, reader,
			src->ts ? src->ts->container_id : "");
	rctx = field_ctx_rules(&en->fc);
	/* The rules that match now (the index picks the candidates)... */
	matches.n = 0;
	rule_set_eval(en->rules, RULES_EV_EXEC, &rctx, collect, &matches);
	for (size_t i = 0; i < matches.n; i++) {
		const struct rule *r = matches.r[i];
		uint64_t h = id_hash(rule_id(r));
		int without;

		if (fired_has(d, h))
			continue;
		/* ... and did not without the writers: those alerted then. */
		t->pipes->hide = true;
		without = rule_eval(r, RULES_EV_EXEC, &rctx);
		t->pipes->hide = false;
		if (without == 1)
			continue;
		fired_add(d, h);
		en->stats.pipes_late_alerts++;
		engine_alert(en, src, r, &en->replay, reader);
	}
	msgpack_unpacked_destroy(&u);
}

void pipes_after_exec(struct engine *en, const struct engine_source *src,
		      const struct event_record *ev, const struct proc_entry *proc,
		      uint64_t ts, const struct rule *const *fired, size_t nfired)
{
	struct proc_table *t = src->ts ? src->ts->procs : NULL;
	struct pipe_index *pi;
	bool writes = false;

	if (!t || !proc || !en->rules)
		return;
	for (int fd = 1; fd <= 2; fd++)
		writes |= proc->stdio[fd].type == PROC_STDIO_PIPE && proc->stdio[fd].ino;
	if (!writes && proc->stdio[0].type != PROC_STDIO_PIPE)
		return;
	pi = index_of(t);
	if (!pi)
		return;
	expire(en, pi, ts);
	/* A new image of a kept reader: the old exec is not its own now. */
	for (size_t i = pi->nd; i-- > 0;)
		if (pi->d[i].pid == proc->pid)
			deferred_drop(pi, i);
	if (writes) {
		bool replayed = false;

		for (size_t i = 0; i < pi->nd; i++) {
			struct deferred *d = &pi->d[i];

			/* A new writer of its pipe, or of a pipe further up
			 * its pipeline. */
			if (d->pid != proc->pid &&
			    ((proc->stdio[1].type == PROC_STDIO_PIPE &&
			      upstream_has(pi, d->ino, proc->stdio[1].ino)) ||
			     (proc->stdio[2].type == PROC_STDIO_PIPE &&
			      upstream_has(pi, d->ino, proc->stdio[2].ino)))) {
				replay(en, src, t, d);
				replayed = true;
			}
		}
		/* The context pointed at a kept event, freed by now. */
		if (replayed)
			field_ctx_reset(&en->fc, ev, t, proc, src->ts->container_id);
	}
	if (proc->stdio[0].type == PROC_STDIO_PIPE && proc->stdio[0].ino)
		defer(en, pi, ev, proc, ts, fired, nfired);
}
