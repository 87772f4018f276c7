/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the probe remembers about each tracer across its connections. Each
 * state has a random secret, given to its tracer in HELLO_ACK; a HELLO
 * resumes a state only with its session id, the same identity (hostname +
 * pid namespace + tracer pid), that secret, and while no other connection
 * is attached. Anything else starts a new state: a client that knows the
 * identity (a tracee knows all three) never touches the real tracer's, and
 * a restarted tracer with an old identity starts from nothing instead of
 * having its first events taken for duplicates. A reconnecting tracer finds
 * its session id, process table and the last event sequence number it
 * delivered, so that re-sent events are recognised as duplicates. A tracer
 * that said GOODBYE is forgotten when its connection closes; one that
 * vanished is kept, idle, up to a bound.
 */
#ifndef SENTRACE_PROBE_TRACERS_H
#define SENTRACE_PROBE_TRACERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sentrace/wire.h"
#include "proctable.h"

/* Disconnected tracers kept for a reconnect; the oldest go first. */
#define TRACERS_IDLE_MAX 256
/* Default time a disconnected tracer's state is kept for its reconnect. */
#define TRACERS_IDLE_TIMEOUT_NS (600ull * 1000000000ull)

struct tracer_state {
	uint64_t id;                /* session id, kept across reconnects */
	char *hostname;
	uint64_t pidns;
	int64_t tracer_pid;
	char *container_id;         /* from the latest HELLO */
	uint8_t secret[WIRE_SECRET_LEN]; /* proves a resume; see above */
	struct proc_table *procs;

	uint64_t last_seq;          /* highest sequence number processed */
	uint64_t events;            /* distinct events processed */
	uint64_t duplicates;        /* re-sent events dropped */
	uint64_t dropped;           /* the tracer's own drops (latest STATS) */
	uint64_t missing;           /* sequence numbers skipped (gaps seen) */
	uint64_t drop_ranges;       /* STATS drop ranges reported */
	uint64_t gap_log_ns;        /* the last gap warning (monotonic) */
	unsigned gap_log_tokens;
	uint64_t gaps_unlogged;
	uint64_t alerts;            /* alert lines written */
	uint64_t suppressed;        /* alerts the limiter held back */
	uint64_t connects;          /* HELLOs accepted */
	unsigned live;              /* connections attached now */
	uint64_t idle_since_ns;     /* monotonic; when live last fell to 0 */
	bool budget_warned;         /* logged an eviction for the total bound */
	uint64_t lost_ns;           /* monotonic; a "lost" alert is open */

	struct tracer_state *prev, *next;
};

struct tracer_registry {
	struct tracer_state *head;  /* most recently attached first */
	size_t count;
	size_t idle;
	size_t idle_max;
	/* Each tracer's process table, and all of them together. */
	size_t table_max_entries, table_max_bytes;
	struct proc_budget budget;
	uint64_t reclaimed_idle;    /* idle tracers freed for the total bound */
	/* Called before a state is freed (pending alerts refer to it). */
	void (*on_free)(void *data, struct tracer_state *ts);
	void *on_free_data;
};

void tracer_registry_init(struct tracer_registry *reg, size_t idle_max);
void tracer_registry_fini(struct tracer_registry *reg);

/*
 * The state h resumes (see above), or a new one with id ++*last_id and a
 * fresh secret. *ret_resumed tells which. -ENOMEM (or getrandom's error)
 * on failure.
 */
int tracer_registry_attach(struct tracer_registry *reg, const struct wire_hello *h,
			   uint64_t *last_id, struct tracer_state **ret_ts,
			   bool *ret_resumed);
/* A connection of ts ended; finished: the tracer said GOODBYE. */
void tracer_registry_detach(struct tracer_registry *reg, struct tracer_state *ts,
			    bool finished);
/*
 * Frees every state that has had no connection for timeout_ns or longer at
 * now (monotonic), its process table with it: a tracer that never came back
 * must not hold memory for the probe's life. Returns how many went.
 */
size_t tracer_registry_expire(struct tracer_registry *reg, uint64_t now,
			      uint64_t timeout_ns);

#endif
