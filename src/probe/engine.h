/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The detection engine: the loaded policies, rule evaluation for each event,
 * per-rule rate limiting, the kill action (COMMAND frames, a disarmer, and
 * alerts held until the tracer's COMMAND_RESULT or a timeout), and alert
 * lines for every alert output. Alert format: docs/alerts.md.
 */
#ifndef SENTRACE_PROBE_ENGINE_H
#define SENTRACE_PROBE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "sentrace/wire.h"
#include "rules.h"
#include "fieldget.h"
#include "json.h"
#include "output.h"
#include "strbuf.h"
#include "tracers.h"
#include "window.h"

#define ENGINE_RATE_DEFAULT      10     /* alerts per second per rule */
#define ENGINE_BURST_DEFAULT     50
#define ENGINE_DISARM_MAX        5      /* kills per executable per period */
#define ENGINE_DISARM_PERIOD_NS  (60ull * 1000000000ull)
#define ENGINE_KILL_TIMEOUT_NS   (2ull * 1000000000ull)
#define ENGINE_PENDING_MAX       4096   /* alerts waiting for a kill result */
#define ENGINE_DISARM_SLOTS      1024
#define ENGINE_SINKS_MAX         8

struct engine_config {
	const char *const *policy_paths; /* files or directories */
	size_t npolicy_paths;
	bool enabled;                  /* false: no rules at all */
	double rate;                   /* alerts per second per rule */
	uint32_t burst;
	bool enforcement;              /* false: kill actions are not carried out */
	uint32_t disarm_max;           /* 0: no disarmer */
	uint64_t disarm_period_ns;
	uint64_t kill_timeout_ns;
};

void engine_config_defaults(struct engine_config *c);

struct rule_state {
	char *id;
	double tokens;
	uint64_t refill_ns;            /* when tokens was last topped up */
	double rate;                   /* tokens per second */
	double burst;
	uint64_t suppressed;           /* since the rule's last alert */
};

struct disarm_slot {
	uint64_t key;                  /* hash of rule, executable, session; 0: free */
	uint64_t window_start;
	uint32_t count;
	bool warned;
};

struct pending_alert {
	uint64_t cmd_id;
	uint64_t deadline;
	struct tracer_state *owner;
	char *line;                    /* NULL: the alert was suppressed */
	size_t len;
	size_t split, split_end;       /* the status placeholder in line */
	int prio;                      /* syslog priority */
	struct pending_alert *next;
};

struct engine_stats {
	uint64_t alerts;
	uint64_t suppressed;
	uint64_t kills_sent;
	uint64_t kills_done;
	uint64_t kills_failed;
	uint64_t kills_timeout;
	uint64_t kills_disarmed;
	uint64_t kills_disabled;        /* enforcement off */
	uint64_t reloads;
	uint64_t reload_failures;
	uint64_t stray_results;         /* COMMAND_RESULTs nobody waited for */
	/* Pipelines (pipes.h): execs kept for a late writer, evaluated again,
	 * the alerts that came of it, and those dropped at a cap or expired. */
	uint64_t pipes_deferred;
	uint64_t pipes_replayed;
	uint64_t pipes_late_alerts;
	uint64_t pipes_dropped;
	uint64_t pipes_expired;
};

struct engine {
	struct engine_config cfg;
	char **paths;                   /* copies of cfg.policy_paths */
	struct rule_set *rules;         /* NULL: no rules */
	struct rule_state *states;      /* one per rule, by index */
	const struct rule **by_ptr;     /* rules sorted by address, for lookup */
	size_t *by_ptr_idx;
	size_t nrules;

	struct output *sinks[ENGINE_SINKS_MAX];
	size_t nsinks;
	enum output_format format;      /* of the alert lines */

	struct disarm_slot disarm[ENGINE_DISARM_SLOTS];
	struct pending_alert *pending, *pending_tail;
	size_t npending;
	uint64_t next_cmd_id;
	uint64_t fake_now;              /* tests: the clock, when not 0 */

	/* Per event, reused. */
	struct field_ctx fc;
	struct json j;
	struct strbuf text;
	struct strbuf tmp;
	struct engine_stats stats;

	/* The groups of the rules with a threshold (window.c). */
	struct window_table *windows;
	/* A kept exec decoded again for its late evaluation (pipes.c). */
	struct event_record replay;
};

int engine_new(const struct engine_config *cfg, struct engine **ret_engine);
/* Writes pending alerts (status "unknown: probe stopping") and frees. */
struct engine *engine_free(struct engine *en);
/* Alert lines go to every sink (borrowed), in one format. */
int engine_add_sink(struct engine *en, struct output *o);

/*
 * Loads the policies. Every problem is logged. Returns the number of errors
 * (the rules that loaded are used), or -errno.
 */
int engine_load(struct engine *en);
/*
 * SIGHUP: loads the policies again; keeps the current rules when the new
 * ones have errors (each one logged). 0 or the number of errors.
 */
int engine_reload(struct engine *en);
size_t engine_rule_count(const struct engine *en);

/* What engine_eval() needs to know about the event's session. */
struct engine_source {
	struct tracer_state *ts;
	const char *session_json;       /* the "session" object */
	size_t session_json_len;
	const char *hostname;
	msgpack_sbuffer *reply;         /* COMMAND frames go here; NULL: none */
};

/*
 * Evaluates the rules of the event's kind and writes or holds an alert for
 * each match; proc is the event's process after the resolver ran (or NULL).
 * The kind, pid and ts are the record's (ev->ts: the time to report).
 */
void engine_eval(struct engine *en, const struct engine_source *src,
		 const struct event_record *ev, const struct proc_entry *proc);

/*
 * One match of rule r found outside engine_eval() (a deferred evaluation,
 * pipes.c), with en->fc pointing at ev: rate limit, kill, alert.
 */
void engine_alert(struct engine *en, const struct engine_source *src,
		  const struct rule *r, const struct event_record *ev,
		  const struct proc_entry *proc);

/* A COMMAND_RESULT from ts's tracer. */
void engine_command_result(struct engine *en, struct tracer_state *ts,
			   const struct wire_command_result *res);
/* Writes the held alerts whose time is up; returns how many remain. */
size_t engine_tick(struct engine *en);
/* The earliest deadline of a held alert (monotonic ns), 0 when none. */
uint64_t engine_next_deadline(const struct engine *en);
/* ts goes away: its held alerts are written with status why. */
void engine_forget(struct engine *en, struct tracer_state *ts, const char *why);
void engine_flush(struct engine *en);

/* Falco's priority name for a severity: "Critical", "Error", … */
const char *engine_priority_name(enum rules_severity s);
/* The syslog priority for a severity. */
int engine_syslog_priority(enum rules_severity s);

/* An alert line made elsewhere (lifealert.c), in en->format, to every sink. */
void engine_write_line(struct engine *en, int prio, const char *line, size_t len);

#endif
