/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Threshold groups: a hash table of groups (chained, a fixed number of
 * buckets, a seeded hash so that a tracee cannot aim its keys at one
 * bucket), and a list of the groups from the least to the most recently
 * counted, which gives both the expiry order and the eviction order.
 * A group holds its entries oldest first: one per counted event, or with
 * `distinct` one per value, stamped with the value's latest event. It
 * holds at most count - 1 of them (the count-th fires and clears), or
 * count when rules of its counter only count (`alert: false`) and wait
 * for one that alerts.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hmac.h"
#include "log.h"
#include "util.h"
#include "window.h"

struct wentry {
	struct wentry *next;
	uint64_t ts;
	uint16_t len;
	unsigned char val[];
};

struct wgroup {
	struct wgroup *hnext;           /* bucket chain */
	struct wgroup *older, *newer;   /* the list by last count */
	uint64_t hash;
	uint64_t last_ts;               /* the newest counted event */
	uint64_t window_ns;
	struct wentry *head, *tail;     /* oldest first */
	uint32_t nentries;
	uint16_t klen;
	unsigned char key[];
};

struct window_table {
	struct wgroup *buckets[WINDOW_BUCKETS];
	struct wgroup *oldest, *newest;
	uint64_t seed;
	uint64_t logged_ns;             /* last "cap reached" message */
	uint64_t logged_evictions;      /* evictions when it was written */
	struct window_stats stats;
};

static uint64_t mix(uint64_t h)
{
	/* The finaliser of MurmurHash3: every input bit reaches every output bit. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static uint64_t key_hash(const struct window_table *wt, const unsigned char *k,
			 size_t len)
{
	uint64_t h = mix(wt->seed);

	for (size_t i = 0; i < len; i++)
		h = mix(h ^ ((uint64_t)k[i] << ((i & 7) * 8)));
	return mix(h ^ len);
}

int window_table_new(struct window_table **ret)
{
	struct window_table *wt = calloc(1, sizeof(*wt));

	if (!wt)
		return -ENOMEM;
	if (random_bytes(&wt->seed, sizeof(wt->seed)) < 0)
		wt->seed = now_monotonic_ns() ^ (uint64_t)(uintptr_t)wt;
	*ret = wt;
	return 0;
}

static void entries_free(struct window_table *wt, struct wgroup *g)
{
	struct wentry *e = g->head, *next;

	for (; e; e = next) {
		next = e->next;
		free(e);
	}
	wt->stats.entries -= g->nentries;
	g->head = g->tail = NULL;
	g->nentries = 0;
}

static void group_unlink(struct window_table *wt, struct wgroup *g)
{
	struct wgroup **pp = &wt->buckets[g->hash % WINDOW_BUCKETS];

	while (*pp != g)
		pp = &(*pp)->hnext;
	*pp = g->hnext;
	if (g->older)
		g->older->newer = g->newer;
	else
		wt->oldest = g->newer;
	if (g->newer)
		g->newer->older = g->older;
	else
		wt->newest = g->older;
}

static void group_free(struct window_table *wt, struct wgroup *g)
{
	group_unlink(wt, g);
	entries_free(wt, g);
	wt->stats.groups--;
	free(g);
}

void window_table_clear(struct window_table *wt)
{
	while (wt->oldest)
		group_free(wt, wt->oldest);
}

struct window_table *window_table_free(struct window_table *wt)
{
	if (!wt)
		return NULL;
	window_table_clear(wt);
	free(wt);
	return NULL;
}

const struct window_stats *window_table_stats(const struct window_table *wt)
{
	return &wt->stats;
}

/* Whether an event at then is outside a window ending at now. */
static bool outside(uint64_t then, uint64_t now, uint64_t window_ns)
{
	/* Events of a session come in order; a clock that went back keeps. */
	return now > then && now - then > window_ns;
}

static void expire_some(struct window_table *wt, uint64_t now)
{
	for (unsigned i = 0; i < WINDOW_EXPIRE_STEP && wt->oldest; i++) {
		struct wgroup *g = wt->oldest;

		if (!outside(g->last_ts, now, g->window_ns))
			break;
		wt->stats.groups_expired++;
		group_free(wt, g);
	}
}

/* Frees the least recently counted group other than keep, at a cap. */
static bool evict_one(struct window_table *wt, const struct wgroup *keep)
{
	struct wgroup *g = wt->oldest;

	if (g == keep)
		g = g->newer;
	if (!g)
		return false;
	wt->stats.groups_evicted++;
	wt->stats.entries_evicted += g->nentries;
	group_free(wt, g);
	return true;
}

static void log_evictions(struct window_table *wt)
{
	uint64_t now = now_monotonic_ns();
	uint64_t n = wt->stats.groups_evicted;

	if (n == wt->logged_evictions)
		return;
	if (wt->logged_ns && now - wt->logged_ns < WINDOW_LOG_PERIOD_NS)
		return;
	log_warn("threshold state full (%d groups, %d entries): %" PRIu64
		 " groups evicted before their window ended (%" PRIu64 " in all)",
		 WINDOW_GROUPS_MAX, WINDOW_ENTRIES_MAX, n - wt->logged_evictions, n);
	wt->logged_ns = now;
	wt->logged_evictions = n;
}

static struct wgroup *group_get(struct window_table *wt, const unsigned char *k,
				size_t len, uint64_t window_ns)
{
	uint64_t h = key_hash(wt, k, len);
	struct wgroup *g;

	for (g = wt->buckets[h % WINDOW_BUCKETS]; g; g = g->hnext)
		if (g->hash == h && g->klen == len &&
		    !memcmp(g->key, k, len))
			break;
	if (g) {
		/* To the newest end: it is being counted now. */
		if (g != wt->newest) {
			group_unlink(wt, g);
			g->hnext = wt->buckets[h % WINDOW_BUCKETS];
			wt->buckets[h % WINDOW_BUCKETS] = g;
			g->newer = NULL;
			g->older = wt->newest;
			wt->newest->newer = g;
			wt->newest = g;
			if (!wt->oldest)
				wt->oldest = g;
		}
		return g;
	}
	while (wt->stats.groups >= WINDOW_GROUPS_MAX && evict_one(wt, NULL))
		;
	g = calloc(1, sizeof(*g) + len);
	if (!g)
		return NULL;
	g->hash = h;
	g->window_ns = window_ns;
	g->klen = (uint16_t)len;
	memcpy(g->key, k, len);
	g->hnext = wt->buckets[h % WINDOW_BUCKETS];
	wt->buckets[h % WINDOW_BUCKETS] = g;
	g->older = wt->newest;
	if (wt->newest)
		wt->newest->newer = g;
	else
		wt->oldest = g;
	wt->newest = g;
	wt->stats.groups++;
	return g;
}

static void entry_drop_oldest(struct window_table *wt, struct wgroup *g)
{
	struct wentry *e = g->head;

	g->head = e->next;
	if (!g->head)
		g->tail = NULL;
	free(e);
	g->nentries--;
	wt->stats.entries--;
}

/* Moves the entry of a value seen before to the newest end; false: new. */
static bool entry_refresh(struct wgroup *g, const void *dkey, size_t dlen, uint64_t ts)
{
	struct wentry *e, **pp, *prev = NULL;

	for (pp = &g->head; *pp; prev = *pp, pp = &(*pp)->next) {
		e = *pp;
		if (e->len != dlen || memcmp(e->val, dkey, dlen))
			continue;
		*pp = e->next;
		if (g->tail == e)
			g->tail = prev;
		e->next = NULL;
		e->ts = ts;
		if (g->tail)
			g->tail->next = e;
		else
			g->head = e;
		g->tail = e;
		return true;
	}
	return false;
}

bool window_count(struct window_table *wt, const struct rule_threshold *t,
		  const void *gkey, size_t glen, const void *dkey, size_t dlen,
		  uint64_t ts)
{
	struct wgroup *g;
	struct wentry *e;

	if (glen > WINDOW_KEY_MAX)
		glen = WINDOW_KEY_MAX;
	if (dlen > WINDOW_KEY_MAX)
		dlen = WINDOW_KEY_MAX;
	expire_some(wt, ts);
	wt->stats.counted++;
	if (t->count <= 1) {
		wt->stats.fired += t->alert;
		return t->alert;
	}
	g = group_get(wt, gkey, glen, t->window_ns);
	log_evictions(wt);
	if (!g)
		return false;
	g->last_ts = ts;
	/* What fell out of the window. */
	while (g->head && outside(g->head->ts, ts, t->window_ns))
		entry_drop_oldest(wt, g);
	if (!dkey || !entry_refresh(g, dkey, dlen, ts)) {
		/* The event that completes the count needs no entry. */
		if (t->alert && g->nentries + 1 >= t->count)
			goto fire;
		while (wt->stats.entries >= WINDOW_ENTRIES_MAX && evict_one(wt, g))
			;
		e = malloc(sizeof(*e) + (dkey ? dlen : 0));
		if (!e)
			return false;
		e->next = NULL;
		e->ts = ts;
		e->len = dkey ? (uint16_t)dlen : 0;
		if (dkey)
			memcpy(e->val, dkey, dlen);
		if (g->tail)
			g->tail->next = e;
		else
			g->head = e;
		g->tail = e;
		g->nentries++;
		wt->stats.entries++;
	}
	if (t->alert && g->nentries >= t->count)
		goto fire;
	/* A rule that only counts keeps the count newest, for the others. */
	while (g->nentries > t->count)
		entry_drop_oldest(wt, g);
	return false;
fire:
	entries_free(wt, g);
	wt->stats.fired++;
	return true;
}

/* ---- keys from field values ---- */

struct keybuf {
	unsigned char b[WINDOW_KEY_MAX];
	size_t len;
};

static void key_put(struct keybuf *k, const void *p, size_t n)
{
	if (n > sizeof(k->b) - k->len)
		n = sizeof(k->b) - k->len;
	memcpy(k->b + k->len, p, n);
	k->len += n;
}

/*
 * Appends one field's value: a kind byte, then for a string its length
 * (two bytes) and bytes, for an integer its eight bytes. Strings are cut
 * so that a key fits; the length says where each value ends. False when
 * the value is absent.
 */
static bool key_value(struct keybuf *k, const struct rules_ctx *ctx, int field_id)
{
	struct rules_value v;
	unsigned char kind;

	memset(&v, 0, sizeof(v));
	v.kind = RULES_V_NONE;
	if (ctx->get(ctx->data, field_id, &v) < 0)
		v.kind = RULES_V_NONE;
	switch (v.kind) {
	case RULES_V_STR: {
		size_t n = v.len > 200 ? 200 : v.len;
		uint16_t l = (uint16_t)n;

		kind = 's';
		key_put(k, &kind, 1);
		key_put(k, &l, sizeof(l));
		key_put(k, v.s, n);
		return true;
	}
	case RULES_V_INT:
		kind = 'i';
		key_put(k, &kind, 1);
		key_put(k, &v.i, sizeof(v.i));
		return true;
	default:
		kind = '-';
		key_put(k, &kind, 1);
		return false;
	}
}

bool window_match(struct window_table *wt, const char *rule_id,
		  const struct rule_threshold *t, const struct rules_ctx *ctx,
		  uint64_t session, uint64_t ts)
{
	struct keybuf g = { .len = 0 }, d = { .len = 0 };
	const char *space = t->counter ? t->counter : rule_id;
	size_t n = strlen(space);
	uint8_t tag = t->counter ? 'c' : 'r';
	uint16_t l;

	/* The rule's own groups, or its counter's; ids are at most a few
	 * dozen bytes, and a cut one still has its length. */
	if (n > 64)
		n = 64;
	l = (uint16_t)n;
	key_put(&g, &tag, 1);
	key_put(&g, &l, sizeof(l));
	key_put(&g, space, n);
	/* Pids and everything else are per tracer session. */
	key_put(&g, &session, sizeof(session));
	for (size_t i = 0; i < t->nby; i++) {
		if (!key_value(&g, ctx, t->by[i]->id)) {
			wt->stats.unkeyed++;
			return false;
		}
	}
	/* An absent distinct value is a value of its own ("-"). */
	for (size_t i = 0; i < t->ndistinct; i++)
		key_value(&d, ctx, t->distinct[i]->id);
	return window_count(wt, t, g.b, g.len, t->ndistinct ? d.b : NULL, d.len, ts);
}
