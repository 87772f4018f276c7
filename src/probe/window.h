/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Thresholds and windows (a rule's `threshold:`, docs/rules.md): the groups
 * of matching events, keyed by rule (or shared counter), session and the
 * values of the `by`
 * fields, each with the events (or distinct values) seen within the
 * window. The engine asks window_match() after a rule's expression matched;
 * an alert is raised only when it says the threshold is reached. State is
 * bounded over every rule and session: WINDOW_GROUPS_MAX groups and
 * WINDOW_ENTRIES_MAX remembered events; past a cap the least recently
 * counted groups go first, and every eviction is counted and logged.
 */
#ifndef SENTRACE_PROBE_WINDOW_H
#define SENTRACE_PROBE_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define WINDOW_GROUPS_MAX    4096     /* groups, every rule and session */
#define WINDOW_ENTRIES_MAX   65536    /* remembered events or values */
#define WINDOW_KEY_MAX       1024     /* bytes of a group or value key */
#define WINDOW_BUCKETS       4096
#define WINDOW_EXPIRE_STEP   8        /* expired groups freed per call */
#define WINDOW_LOG_PERIOD_NS (60ull * 1000000000ull)

struct window_stats {
	uint64_t counted;          /* events that counted toward a threshold */
	uint64_t fired;            /* thresholds reached */
	uint64_t unkeyed;          /* events without a value of a by field */
	uint64_t groups;           /* live groups now */
	uint64_t entries;          /* live entries now */
	uint64_t groups_expired;   /* freed when their window had passed */
	uint64_t groups_evicted;   /* freed early, at a cap */
	uint64_t entries_evicted;  /* entries freed with those groups */
};

struct window_table;

int window_table_new(struct window_table **ret);
struct window_table *window_table_free(struct window_table *wt);
/* Forgets every group (the rules were reloaded: indexes changed). */
void window_table_clear(struct window_table *wt);
const struct window_stats *window_table_stats(const struct window_table *wt);

/*
 * Counts one event in the group gkey[0..glen) (glen <= WINDOW_KEY_MAX;
 * the caller puts the rule or counter in it), with the distinct value
 * dkey[0..dlen), or dkey NULL when t counts events. ts is the event's
 * time (ns). True when t->alert and the group holds t->count events (or
 * values) within t->window_ns, this one included: the group then starts
 * over, so the next alert needs a full count again. With t->alert false
 * the event only counts (the group keeps its t->count newest entries).
 */
bool window_count(struct window_table *wt, const struct rule_threshold *t,
		  const void *gkey, size_t glen, const void *dkey, size_t dlen,
		  uint64_t ts);

/*
 * The engine's hook: builds the keys from the rule's id (or t->counter),
 * the session and the event's values of t's fields (through ctx, the
 * evaluator's getter), and counts the event. An event without a value of
 * a `by` field is not counted (stats.unkeyed). True: raise the alert.
 */
bool window_match(struct window_table *wt, const char *rule_id,
		  const struct rule_threshold *t, const struct rules_ctx *ctx,
		  uint64_t session, uint64_t ts);

#endif
