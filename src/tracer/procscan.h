/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The procfs scanner: processes of the tracer's pid namespace that ptrace
 * does not see (a `kubectl exec` or `docker exec` shell, anything started
 * outside the traced tree) are reported as exec events built from /proc,
 * parents before children, and as exit events once they are gone. It owns
 * a timer and the table of processes it reported (pid → start time).
 */
#ifndef SENTRACE_PROCSCAN_H
#define SENTRACE_PROCSCAN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "event.h"

/* Processes reported and not yet gone; more are left out and counted. */
#define PROCSCAN_MAX_KNOWN 65536u

struct procscan;

struct procscan_ops {
	/* Is tgid in the tracer's table? Such processes and their
	 * descendants are traced, so never reported from here. */
	bool (*is_traced)(void *data, pid_t tgid);
	/* A finished event (e is reused after the call returns). */
	void (*emit)(void *data, struct evbuf *e);
};

struct procscan_stats {
	uint64_t scans;
	uint64_t execs;            /* exec events emitted */
	uint64_t exits;            /* exit events emitted */
	uint64_t untracked;        /* processes that did not fit the table */
	uint64_t scan_errors;      /* /proc could not be listed */
	uint64_t last_listed;      /* processes the last pass listed */
	uint64_t last_scan_ns;     /* how long the last pass took */
};

/*
 * A scanner that runs every period_ns on loop, the first time one period
 * from now (so that the traced tree's own events arrive first).
 */
int procscan_new(uv_loop_t *loop, uint64_t period_ns,
		 const struct procscan_ops *ops, void *data,
		 struct procscan **ret_ps);

/* One pass over /proc now (the timer calls it; so do the tests). */
void procscan_scan(struct procscan *ps);

const struct procscan_stats *procscan_stats(const struct procscan *ps);

/* Number of processes currently reported as alive. */
size_t procscan_count(const struct procscan *ps);

/* Whether pid was reported by an exec event and not yet by an exit. */
bool procscan_knows(const struct procscan *ps, pid_t pid);

/*
 * Whether pid is reported and alive as far as the last pass knows, with
 * the start time (clock ticks after boot) it was reported with. The kill
 * COMMAND checks it: a pid the scanner saw is not yet the process named.
 */
bool procscan_lookup(const struct procscan *ps, pid_t pid, uint64_t *ret_start_ticks);

/* Calls fn for every reported process, by pid; fn must not scan. */
void procscan_foreach(const struct procscan *ps,
		      void (*fn)(pid_t pid, uint64_t start_ticks, void *data),
		      void *data);

/* No more passes (the tracer is finishing); the counters stay readable.
 * NULL is a no-op. */
void procscan_stop(struct procscan *ps);

/*
 * Overrides the start time recorded for a reported pid (tests simulate pid
 * reuse with it). Returns -ENOENT when pid is not in the table.
 */
int procscan_set_start(struct procscan *ps, pid_t pid, uint64_t start_ticks);

/* Stops and closes the timer; the memory goes in the close callback, so
 * the loop must run once more. NULL is a no-op. Returns NULL. */
struct procscan *procscan_free(struct procscan *ps);

#endif
