/* SPDX-License-Identifier: Apache-2.0 */
/* The registry of tracer identities: a short list, most recent first. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hmac.h"
#include "log.h"
#include "util.h"
#include "tracers.h"

static void ts_free(struct tracer_registry *reg, struct tracer_state *ts);

/*
 * The total bound of the process tables is hit while asking grows: an
 * idle tracer (no connection; it may never come back) gives its whole
 * table first, the one idle longest; else the largest table gives back a
 * sixteenth of its entries, by its own eviction order (leaves before
 * ancestors), so that one busy tracer cannot starve the others.
 */
static void registry_reclaim(void *data, struct proc_table *asking,
			     const struct proc_entry *keep)
{
	struct tracer_registry *reg = data;
	struct tracer_state *ts, *idle = NULL, *big = NULL;
	size_t n;

	for (ts = reg->head; ts; ts = ts->next) {
		if (ts->live == 0 && ts->procs != asking)
			idle = ts;  /* the list is most recent first */
		if (!big || ts->procs->bytes > big->procs->bytes)
			big = ts;
	}
	if (idle && idle->procs->count > 0) {
		log_warn("session %" PRIu64 " forgotten (%zu processes): the process "
			 "tables of all tracers are at their bound (%zu entries, %zu "
			 "bytes)", idle->id, idle->procs->count, reg->budget.max_entries,
			 reg->budget.max_bytes);
		reg->reclaimed_idle++;
		reg->budget.evicted += idle->procs->count;
		ts_free(reg, idle);
		return;
	}
	if (!big)
		return;
	n = big->procs->count / 16;
	n = proc_table_evict(big->procs, n ? n : 1, big->procs == asking ? keep : NULL);
	if (n && !big->budget_warned) {
		big->budget_warned = true;
		log_warn("session %" PRIu64 ": %zu processes evicted: the process tables "
			 "of all tracers are at their bound (%zu entries, %zu bytes)",
			 big->id, n, reg->budget.max_entries, reg->budget.max_bytes);
	}
}

void tracer_registry_init(struct tracer_registry *reg, size_t idle_max)
{
	memset(reg, 0, sizeof(*reg));
	reg->idle_max = idle_max;
	reg->table_max_entries = PROC_TABLE_MAX_ENTRIES;
	reg->table_max_bytes = PROC_TABLE_MAX_BYTES;
	reg->budget.max_entries = PROC_TOTAL_MAX_ENTRIES;
	reg->budget.max_bytes = PROC_TOTAL_MAX_BYTES;
	reg->budget.reclaim = registry_reclaim;
	reg->budget.data = reg;
}

static void ts_unlink(struct tracer_registry *reg, struct tracer_state *ts)
{
	if (ts->prev)
		ts->prev->next = ts->next;
	else
		reg->head = ts->next;
	if (ts->next)
		ts->next->prev = ts->prev;
	ts->prev = ts->next = NULL;
}

static void ts_push(struct tracer_registry *reg, struct tracer_state *ts)
{
	ts->prev = NULL;
	ts->next = reg->head;
	if (reg->head)
		reg->head->prev = ts;
	reg->head = ts;
}

static void ts_free(struct tracer_registry *reg, struct tracer_state *ts)
{
	if (reg->on_free)
		reg->on_free(reg->on_free_data, ts);
	ts_unlink(reg, ts);
	reg->count--;
	if (ts->live == 0)
		reg->idle--;
	proc_table_free(ts->procs);
	explicit_bzero(ts->secret, sizeof(ts->secret));
	free(ts->hostname);
	free(ts->container_id);
	free(ts);
}

void tracer_registry_fini(struct tracer_registry *reg)
{
	while (reg->head)
		ts_free(reg, reg->head);
}

static bool same_identity(const struct tracer_state *ts, const struct wire_hello *h)
{
	return ts->pidns == h->pidns && ts->tracer_pid == h->tracer_pid &&
	       strlen(ts->hostname) == h->hostname.len &&
	       memcmp(ts->hostname, h->hostname.ptr, h->hostname.len) == 0;
}

/* The secret is compared whatever the rest says, in constant time. */
static bool may_resume(const struct tracer_state *ts, const struct wire_hello *h)
{
	bool secret_ok = h->resume_secret.len == WIRE_SECRET_LEN &&
			 mem_equal_ct(ts->secret, h->resume_secret.ptr, WIRE_SECRET_LEN);

	return secret_ok && ts->id == h->resume_session && ts->live == 0 &&
	       same_identity(ts, h);
}

static char *dup_wire(struct wire_str w)
{
	return strndup(w.ptr ? w.ptr : "", w.ptr ? w.len : 0);
}

int tracer_registry_attach(struct tracer_registry *reg, const struct wire_hello *h,
			   uint64_t *last_id, struct tracer_state **ret_ts,
			   bool *ret_resumed)
{
	struct tracer_state *ts;
	char *cid;
	int r;

	cid = dup_wire(h->container_id);
	if (!cid)
		return -ENOMEM;
	for (ts = h->resume_session ? reg->head : NULL; ts; ts = ts->next)
		if (ts->id == h->resume_session)
			break;
	if (ts && !may_resume(ts, h))
		ts = NULL;
	if (ts) {
		ts_unlink(reg, ts);
		ts_push(reg, ts);
		free(ts->container_id);
		ts->container_id = cid;
		if (ts->live++ == 0)
			reg->idle--;
		ts->connects++;
		*ret_ts = ts;
		*ret_resumed = true;
		return 0;
	}
	ts = calloc(1, sizeof(*ts));
	if (!ts) {
		free(cid);
		return -ENOMEM;
	}
	ts->container_id = cid;
	r = random_bytes(ts->secret, sizeof(ts->secret));
	if (r < 0) {
		free(cid);
		free(ts);
		return r;
	}
	ts->hostname = dup_wire(h->hostname);
	r = ts->hostname ? proc_table_new(reg->table_max_entries, reg->table_max_bytes,
					  &ts->procs) : -ENOMEM;
	if (r < 0) {
		free(ts->hostname);
		free(cid);
		free(ts);
		return r;
	}
	proc_table_set_budget(ts->procs, &reg->budget);
	ts->pidns = h->pidns;
	ts->tracer_pid = h->tracer_pid;
	ts->id = ++*last_id;
	ts->live = 1;
	ts->connects = 1;
	ts_push(reg, ts);
	reg->count++;
	*ret_ts = ts;
	*ret_resumed = false;
	return 0;
}

void tracer_registry_detach(struct tracer_registry *reg, struct tracer_state *ts,
			    bool finished)
{
	struct tracer_state *t, *prev;

	if (ts->live > 0 && --ts->live == 0) {
		reg->idle++;
		ts->idle_since_ns = now_monotonic_ns();
	}
	if (ts->live == 0 && finished) {
		ts_free(reg, ts);
		return;
	}
	/* Too many idle tracers: forget the least recently attached. */
	for (t = reg->head; t && t->next; t = t->next)
		;
	while (reg->idle > reg->idle_max && t) {
		prev = t->prev;
		if (t->live == 0)
			ts_free(reg, t);
		t = prev;
	}
}

size_t tracer_registry_expire(struct tracer_registry *reg, uint64_t now,
			      uint64_t timeout_ns)
{
	struct tracer_state *ts, *next;
	size_t n = 0;

	for (ts = reg->head; ts; ts = next) {
		next = ts->next;
		if (ts->live > 0 || now < ts->idle_since_ns ||
		    now - ts->idle_since_ns < timeout_ns)
			continue;
		log_info("session %" PRIu64 " expired: no tracer for %" PRIu64
			 " s; %zu processes forgotten", ts->id,
			 (uint64_t)((now - ts->idle_since_ns) / 1000000000ull), ts->procs->count);
		ts_free(reg, ts);
		n++;
	}
	return n;
}
