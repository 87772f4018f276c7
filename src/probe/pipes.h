/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Standard-stream lineage: which process writes the pipe that is another
 * process's stdin (`curl … | sh`: the shell's stdin writer is curl). Exec
 * events say what fds 0-2 are (docs/protocol.md); the index remembers, per
 * tracer, the last exec'd writer of each pipe inode.
 *
 * The two ends of a pipeline are exec'd by the shell in either order, so
 * the reader's exec may be evaluated before its writer is known. Such an
 * exec is kept (deferred) for a while; when a writer of that pipe execs,
 * the reader's exec is evaluated again, and a rule alerts then only if it
 * matches with the writer known, did not match without it, and did not
 * alert for that exec yet. Everything is bounded: see the caps below
 * (docs/rules.md, "Pipelines").
 */
#ifndef SENTRACE_PROBE_PIPES_H
#define SENTRACE_PROBE_PIPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "proctable.h"

struct event_record;

#define PIPES_WRITERS        1024   /* pipe inodes remembered per tracer */
#define PIPES_DEFER_MAX      128    /* exec events waiting for a writer */
#define PIPES_DEFER_BYTES    (2u << 20) /* their saved bytes, in all */
#define PIPES_DEFER_EVENT_MAX (64u << 10) /* a larger exec is not kept */
#define PIPES_DEFER_NS       (30ull * 1000000000ull) /* how long one waits */
#define PIPES_FIRED_MAX      8      /* rules remembered as alerted, per exec */
#define PIPES_UPSTREAM_MAX   8      /* pipes followed up a pipeline */

/* The writer of a pipe, as its exec reported it. */
struct pipe_writer {
	uint64_t ino;              /* 0: free slot */
	int64_t pid;
	uint64_t seen_ns;          /* its exec's time */
	char *file;                /* NULL when unknown */
	char comm[PROC_COMM_MAX];
	uint64_t stdin_ino;        /* the pipe the writer reads, 0: none */
};

struct pipe_index *pipe_index_free(struct pipe_index *pi);

/* "pipe", "socket", … -> enum proc_stdio_type (UNKNOWN for anything else). */
uint8_t pipes_stdio_type(const char *s, size_t len);
const char *pipes_stdio_type_name(uint8_t type);

/*
 * The exec of e (already applied to the table) named its standard streams:
 * e's stdout and stderr pipes now have e as their writer.
 */
void pipes_note_exec(struct proc_table *t, const struct proc_entry *e,
		     uint64_t ts);

/*
 * The writer of e's stdin, or NULL: not a pipe, no writer seen, or hidden
 * (a deferred evaluation asking how a rule fared without it).
 */
const struct pipe_writer *pipes_stdin_writer(struct proc_table *t,
					     const struct proc_entry *e);

/*
 * Hop n up e's pipeline: 0 is the writer of e's stdin, 1 the writer of that
 * writer's stdin (`curl | base64 -d | sh`: base64, then curl), … NULL past
 * the first process that does not read a pipe, or PIPES_UPSTREAM_MAX.
 */
const struct pipe_writer *pipes_stdin_upstream(struct proc_table *t,
					       const struct proc_entry *e,
					       unsigned n);

struct engine;
struct engine_source;
struct rule;

/*
 * After the rules ran on an exec of proc: keeps the event when proc reads
 * a pipe (fired: the rules that matched it), and evaluates again the kept
 * execs whose pipe proc writes.
 */
void pipes_after_exec(struct engine *en, const struct engine_source *src,
		      const struct event_record *ev, const struct proc_entry *proc,
		      uint64_t ts, const struct rule *const *fired, size_t nfired);

#endif
