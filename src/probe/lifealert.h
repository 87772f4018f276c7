/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Alerts about the delivery itself, not about a rule: a tracer whose
 * session ended without GOODBYE (killed, or its connection cut), a
 * connected tracer that fell silent past the heartbeat timeout (stopped,
 * wedged), one that spoke again, and events the tracer reported lost. Each
 * names the workload as its HELLO described it, so that an analyst knows
 * which machine and command went unwatched, and for how long. They go to
 * the alert outputs, in the alerts' format (docs/alerts.md "Delivery
 * alerts"), through their own rate limit, which holds back the log line
 * as well: a client that opens and drops sessions in a loop, or sends
 * STATS full of drop ranges, gets a bounded number of lines.
 */
#ifndef SENTRACE_PROBE_LIFEALERT_H
#define SENTRACE_PROBE_LIFEALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "strbuf.h"

struct engine;

#define LIFEALERT_RATE  5       /* lines per second */
#define LIFEALERT_BURST 100

enum lifealert_kind {
	LIFEALERT_LOST,          /* session ended without GOODBYE */
	LIFEALERT_SILENT,        /* no frame for the heartbeat timeout */
	LIFEALERT_RESUMED,       /* a silent tracer spoke again */
	LIFEALERT_DROPPED,       /* events the tracer could not deliver */
};

/* What an alert says; the strings are borrowed. */
struct lifealert_info {
	enum lifealert_kind kind;
	uint64_t session;
	const char *session_json;   /* the "session" object of the event log */
	size_t session_json_len;
	const char *workload_json;  /* {"hostname",…,"argv":[…]} from HELLO */
	size_t workload_json_len;
	const char *workload_text;  /* the same, as a text fragment */
	const char *hostname;
	const char *reason;         /* LOST: why the session ended */
	uint64_t silent_ns;         /* SILENT, RESUMED: how long no frame came */
	/* DROPPED: the lost range, as far as known (0: unknown). */
	uint64_t count;
	uint64_t seq_first, seq_last;
	uint64_t ts_first, ts_last;
};

struct lifealert {
	struct engine *engine;      /* its outputs and format; NULL: log only */
	double tokens;
	uint64_t refill_ns;
	uint64_t written;
	uint64_t suppressed;        /* held back since the last line written */
	uint64_t suppressed_total;
	struct json j;
	struct strbuf text;
};

void lifealert_init(struct lifealert *la, struct engine *engine);
void lifealert_fini(struct lifealert *la);
/* Logs the alert (warning) and writes it to the alert outputs. */
void lifealert_raise(struct lifealert *la, const struct lifealert_info *in);

/* The rule id of a kind, as in the alert's "rule". */
const char *lifealert_rule(enum lifealert_kind kind);

#endif
