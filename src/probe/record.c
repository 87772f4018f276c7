/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event decoder: the key index and per-kind value types (built once from
 * the field table and the probe's own keys), and one pass over a map that
 * fills typed slots.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "record.h"

/* Rows of the type table: the event kinds, PROCESS, an unknown kind. */
#define ROW_UNKNOWN (RECORD_KIND_PROCESS + 1)
#define NROWS (ROW_UNKNOWN + 1)
#define KEYS_MAX 512
#define HASH_SIZE 1024          /* a power of two, above 2 * KEYS_MAX */
#define ANY_EVENT (-1)          /* every event kind, not PROCESS */
#define SCRATCH_KEEP 4096       /* array elements kept from event to event */

struct schema {
	bool ready;
	unsigned conflicts;     /* a key typed two ways in one kind */
	size_t nkeys;
	const char *key[KEYS_MAX];
	uint32_t len[KEYS_MAX];
	int16_t hash[HASH_SIZE]; /* key index + 1, 0: empty */
	uint8_t vt[NROWS][KEYS_MAX];
};

/*
 * Derived once from constant tables and never written after: not state,
 * so one copy serves every session (and the tests, and the fuzzers).
 */
static struct schema schema;

static const char *const builtin_names[RK__BUILTIN] = {
#define RECORD_KEY_NAME(id, s) [RK_##id] = s,
	RECORD_KEYS(RECORD_KEY_NAME)
#undef RECORD_KEY_NAME
};

/*
 * The keys the probe reads beyond the rule fields: the resolver's (exec,
 * fork, the id calls, snapshots) and the text writer's, with their types.
 */
static const struct {
	int kind;
	enum record_key key;
	enum record_vtype vt;
} probe_keys[] = {
#define K(kind, key, vt) { kind, RK_##key, RECORD_V_##vt },
#define E(kind, key, vt) K(RULES_EV_##kind, key, vt)
	K(ANY_EVENT, EV, STR) K(ANY_EVENT, SYSCALL, STR) K(ANY_EVENT, TS, INT)
	K(ANY_EVENT, PID, INT) K(ANY_EVENT, TID, INT) K(ANY_EVENT, RET, INT)
	K(ANY_EVENT, COMPAT, BOOL) K(ANY_EVENT, ERROR, STR)

	E(EXEC, FILE, STR) E(EXEC, ARGV, STRS) E(EXEC, ENVP, STRS)
	E(EXEC, ARGV_TRUNCATED, BOOL) E(EXEC, ENVP_TRUNCATED, BOOL)
	E(EXEC, UID, INT) E(EXEC, EUID, INT) E(EXEC, GID, INT) E(EXEC, EGID, INT)
	E(EXEC, CWD, STR) E(EXEC, TTY, STR) E(EXEC, USER, STR)
	E(EXEC, GROUP, STR) E(EXEC, CONTAINER_ID, STR) E(EXEC, PPID, INT)
	E(EXEC, START_TICKS, INT) E(EXEC, TAMPERED, BOOL)
	E(EXEC, REQUESTED_FILE, STR)

	E(FORK, THREAD, BOOL) E(FORK, CHILD, INT) E(FORK, PPID, INT)
	E(FORK, CHILD_START_TICKS, INT)
	E(EXIT, CODE, INT) E(EXIT, SIGNAL, INT) E(EXIT, CORE, BOOL)

	E(SETUID, UID, INT) E(SETUID, EUID, INT) E(SETUID, SUID, INT)
	E(SETUID, FSUID, INT)
	E(SETGID, GID, INT) E(SETGID, EGID, INT) E(SETGID, SGID, INT)
	E(SETGID, FSGID, INT)
	E(CAPSET, EFFECTIVE, INT) E(CAPSET, PERMITTED, INT)
	E(CHDIR, PATH, STR) E(PRCTL, OPTION, INT) E(PRCTL, NAME, STR)

	E(OPEN, PATH, STR) E(OPEN, REQUESTED_PATH, STR) E(OPEN, FLAGS, INT)
	E(OPEN, MODE, INT)
	E(CONNECT, PATH, STR) E(CONNECT, ADDR, STR) E(CONNECT, PORT, INT)
	E(CONNECT, FAMILY, INT)
	E(BIND, PATH, STR) E(BIND, ADDR, STR) E(BIND, PORT, INT)
	E(BIND, FAMILY, INT)
	E(ACCEPT, PATH, STR) E(ACCEPT, ADDR, STR) E(ACCEPT, PORT, INT)
	E(ACCEPT, FAMILY, INT)
	/* Server identity (resolver.c apply_net). */
	E(SOCKET, FAMILY, INT) E(SOCKET, TYPE, INT) E(BIND, FD, INT)
	E(LISTEN, FD, INT) E(ACCEPT, FD, INT)
	/* Standard streams (resolver.c set_stdio, pipes.c). */
	E(EXEC, STDIN, STR) E(EXEC, STDIN_INO, INT) E(EXEC, STDOUT, STR)
	E(EXEC, STDOUT_INO, INT) E(EXEC, STDERR, STR) E(EXEC, STDERR_INO, INT)

#define P(key, vt) K(RECORD_KIND_PROCESS, key, vt)
	P(PID, INT) P(PPID, INT) P(FILE, STR) P(ARGV, STRS) P(ENVP, STRS)
	P(ARGV_TRUNCATED, BOOL) P(ENVP_TRUNCATED, BOOL) P(UID, INT)
	P(EUID, INT) P(GID, INT) P(EGID, INT) P(CWD, STR) P(TTY, STR)
	P(USER, STR) P(GROUP, STR) P(CONTAINER_ID, STR) P(START_TICKS, INT)
	P(START_TIME, INT) P(COMM, STR)
	P(STDIN, STR) P(STDIN_INO, INT) P(STDOUT, STR) P(STDOUT_INO, INT)
	P(STDERR, STR) P(STDERR_INO, INT)
#undef P
#undef E
#undef K
};

static uint32_t hash_key(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static int lookup(const char *s, size_t len)
{
	uint32_t h = hash_key(s, len);

	for (uint32_t i = 0; i < HASH_SIZE; i++) {
		int16_t e = schema.hash[(h + i) & (HASH_SIZE - 1)];

		if (e == 0)
			return -ENOENT;
		if (schema.len[e - 1] == len && memcmp(schema.key[e - 1], s, len) == 0)
			return e - 1;
	}
	return -ENOENT;
}

/* The index of key, added when new; -ENOSPC past KEYS_MAX. */
static int intern(const char *key)
{
	size_t len = strlen(key);
	int k = lookup(key, len);
	uint32_t h;

	if (k >= 0)
		return k;
	if (schema.nkeys >= KEYS_MAX)
		return -ENOSPC;
	k = (int)schema.nkeys++;
	schema.key[k] = key;
	schema.len[k] = (uint32_t)len;
	for (h = hash_key(key, len);; h++) {
		int16_t *e = &schema.hash[h & (HASH_SIZE - 1)];

		if (*e == 0) {
			*e = (int16_t)(k + 1);
			break;
		}
	}
	return k;
}

static void set_type(int kind, int k, enum record_vtype vt)
{
	int lo = kind, hi = kind;

	if (kind == ANY_EVENT) {
		lo = 0;
		hi = RULES_EV__COUNT - 1;
	}
	for (int row = lo; row <= hi; row++) {
		if (schema.vt[row][k] != RECORD_V_NONE && schema.vt[row][k] != vt) {
			log_warn("event key %s is typed twice in kind %d: keeping the first",
				 schema.key[k], row);
			schema.conflicts++;
			continue;
		}
		schema.vt[row][k] = vt;
	}
	/* An unknown kind still has the common keys. */
	if (kind == ANY_EVENT)
		schema.vt[ROW_UNKNOWN][k] = vt;
}

/* What a field's wire value is: its type, before the transformation. */
static enum record_vtype wire_type(const struct rules_field *f)
{
	switch (f->xform) {
	case RULES_XFORM_ARGS:
	case RULES_XFORM_ARGV0:
	case RULES_XFORM_ENV_NAMES:
		return RECORD_V_STRS;
	case RULES_XFORM_LENGTH:
	case RULES_XFORM_ENTROPY:
	case RULES_XFORM_LONGEST_LABEL:
		/* Measures of a string (dns.question.name.length, …). */
		return RECORD_V_STR;
	default:
		break;
	}
	switch (f->type) {
	case RULES_TYPE_STRING:
	case RULES_TYPE_IP:
		return RECORD_V_STR;
	case RULES_TYPE_INT:
	case RULES_TYPE_DURATION:
		return RECORD_V_INT;
	case RULES_TYPE_BOOL:
		return RECORD_V_BOOL;
	case RULES_TYPE_STRING_ARRAY:
		return RECORD_V_STRS;
	case RULES_TYPE_INT_ARRAY:
		return RECORD_V_INTS;
	}
	return RECORD_V_NONE;
}

static int schema_build(void)
{
	if (schema.ready)
		return 0;
	for (int k = 0; k < RK__BUILTIN; k++)
		if (intern(builtin_names[k]) != k)
			return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(probe_keys); i++)
		set_type(probe_keys[i].kind, probe_keys[i].key, probe_keys[i].vt);
	for (size_t i = 0; i < rules_field_count(); i++) {
		const struct rules_field *f = rules_field_at(i);
		int k;

		if (f->source != RULES_SRC_EVENT)
			continue;
		k = intern(f->key);
		if (k < 0)
			return k;
		set_type(f->event == RULES_EV_ANY ? ANY_EVENT : f->event, k,
			 wire_type(f));
	}
	schema.ready = true;
	return 0;
}

int record_key_index(const char *key)
{
	if (schema_build() < 0)
		return -ENOENT;
	return lookup(key, strlen(key));
}

size_t record_key_count(void)
{
	if (schema_build() < 0)
		return 0;
	return schema.nkeys;
}

enum record_vtype record_key_type(int type, int k)
{
	if (schema_build() < 0 || k < 0 || (size_t)k >= schema.nkeys)
		return RECORD_V_NONE;
	if (type < 0 || type >= NROWS)
		type = ROW_UNKNOWN;
	return (enum record_vtype)schema.vt[type][k];
}

unsigned record_schema_conflicts(void)
{
	schema_build();
	return schema.conflicts;
}

int record_init(struct event_record *r)
{
	int err;

	memset(r, 0, sizeof(*r));
	err = schema_build();
	if (err < 0)
		return err;
	r->slot = calloc(schema.nkeys, sizeof(*r->slot));
	if (!r->slot)
		return -ENOMEM;
	r->nslots = schema.nkeys;
	r->gen = 1;
	memset(r->pred, 0xff, sizeof(r->pred));
	r->type = -1;
	r->kind.ptr = "";
	return 0;
}

void record_fini(struct event_record *r)
{
	free(r->slot);
	free(r->strs);
	free(r->ints);
	free(r->repeat);
	memset(r, 0, sizeof(*r));
}

/* Room for n more elements in a scratch array; false when out of memory. */
static bool reserve(void **v, size_t *cap, size_t used, size_t n, size_t size)
{
	size_t want = *v && *cap ? *cap : 64;
	void *p;

	/* Allocated even for an empty array: a slot's offset is never added
	 * to a NULL scratch. */
	if (*v && used + n <= *cap)
		return true;
	while (want < used + n)
		want *= 2;
	p = realloc(*v, want * size);
	if (!p)
		return false;
	*v = p;
	*cap = want;
	return true;
}

enum verdict { V_OK, V_BAD_TYPE, V_OVERSIZE, V_NO_MEMORY };

static enum verdict fill(struct event_record *r, struct record_slot *sl,
			 enum record_vtype vt, const msgpack_object *o)
{
	uint32_t n;

	switch (vt) {
	case RECORD_V_STR:
		if (o->type != MSGPACK_OBJECT_STR)
			return V_BAD_TYPE;
		sl->v.s = o->via.str.ptr;
		sl->n = o->via.str.size;
		break;
	case RECORD_V_INT:
		sl->big = false;
		if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
			sl->big = o->via.u64 > INT64_MAX;
			sl->v.u = o->via.u64;
		} else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
			sl->v.i = o->via.i64;
		} else {
			return V_BAD_TYPE;
		}
		break;
	case RECORD_V_BOOL:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return V_BAD_TYPE;
		sl->v.b = o->via.boolean;
		break;
	case RECORD_V_STRS:
	case RECORD_V_INTS:
		if (o->type != MSGPACK_OBJECT_ARRAY)
			return V_BAD_TYPE;
		n = o->via.array.size;
		if (n > RECORD_ARRAY_MAX || r->nstrs + r->nints + n > RECORD_ELEMS_MAX)
			return V_OVERSIZE;
		/* Offsets, not pointers: a later array may move the scratch. */
		if (vt == RECORD_V_STRS) {
			if (!reserve((void **)&r->strs, &r->strs_cap, r->nstrs, n,
				     sizeof(*r->strs)))
				return V_NO_MEMORY;
			for (uint32_t i = 0; i < n; i++) {
				const msgpack_object *e = &o->via.array.ptr[i];

				if (e->type != MSGPACK_OBJECT_STR)
					return V_BAD_TYPE;
				r->strs[r->nstrs + i].ptr = e->via.str.ptr;
				r->strs[r->nstrs + i].len = e->via.str.size;
			}
			sl->v.u = r->nstrs;
			r->nstrs += n;
		} else {
			if (!reserve((void **)&r->ints, &r->ints_cap, r->nints, n,
				     sizeof(*r->ints)))
				return V_NO_MEMORY;
			for (uint32_t i = 0; i < n; i++) {
				const msgpack_object *e = &o->via.array.ptr[i];

				if (e->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
					r->ints[r->nints + i] = e->via.i64;
				else if (e->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
					 e->via.u64 <= INT64_MAX)
					r->ints[r->nints + i] = (int64_t)e->via.u64;
				else
					return V_BAD_TYPE;
			}
			sl->v.u = r->nints;
			r->nints += n;
		}
		sl->n = n;
		break;
	default:
		return V_BAD_TYPE;
	}
	sl->vt = (uint8_t)vt;
	return V_OK;
}

static void count(struct event_record *r, struct record_stats *st,
		  enum verdict v, const char *key)
{
	r->errors++;
	if (st) {
		switch (v) {
		case V_BAD_TYPE: st->bad_type++; break;
		case V_OVERSIZE: st->oversize++; break;
		case V_NO_MEMORY: st->no_memory++; break;
		default: st->duplicate_key++; break;
		}
	}
	log_debug("event key %s: %s", key,
		  v == V_BAD_TYPE ? "wrong type" : v == V_OVERSIZE ? "array too long" :
		  v == V_NO_MEMORY ? "out of memory" : "given twice");
}

/* Remembers that place i of a map of n repeats a key (for the writers). */
static void mark_repeat(struct event_record *r, uint32_t i, uint32_t n)
{
	size_t words = (n + 63) / 64;

	if (words > r->repeat_words) {
		uint64_t *p = realloc(r->repeat, words * sizeof(*p));

		/* Without room the place is still counted, only written. */
		if (!p)
			return;
		memset(p + r->repeat_words, 0, (words - r->repeat_words) * sizeof(*p));
		r->repeat = p;
		r->repeat_words = words;
	}
	r->repeat[i / 64] |= 1ull << (i % 64);
	r->has_repeats = true;
}

/*
 * One pass over the map: every key the row types goes into its slot. kind is
 * the "ev" value read before the pass (its slot is filled already).
 */
static void decode_keys(struct event_record *r, const msgpack_object *m, int row,
			const msgpack_object *kind, struct record_stats *st)
{
	const uint8_t *types = schema.vt[row];
	int16_t *pred = r->pred[row];

	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object_kv *kv = &m->via.map.ptr[i];
		const char *key = kv->key.via.str.ptr;
		uint32_t len = kv->key.via.str.size;
		struct record_slot *sl;
		enum verdict v;
		int k;

		/* Other keys are the writers' (pass-through) only. */
		if (kv->key.type != MSGPACK_OBJECT_STR || &kv->val == kind)
			continue;
		/*
		 * The tracer writes a kind's keys in the same order every
		 * time: the key at this place last time is one compare away,
		 * and the hash is only for the others.
		 */
		k = i < RECORD_PRED ? pred[i] : -1;
		if (k < 0 || schema.len[k] != len || memcmp(schema.key[k], key, len) != 0) {
			k = lookup(key, len);
			if (i < RECORD_PRED)
				pred[i] = (int16_t)(k < 0 ? -1 : k);
		}
		if (k < 0 || types[k] == RECORD_V_NONE)
			continue;
		sl = &r->slot[k];
		if (sl->gen == r->gen) {
			count(r, st, V_OK, schema.key[k]);
			mark_repeat(r, i, m->via.map.size);
			continue;
		}
		sl->gen = r->gen;
		v = fill(r, sl, (enum record_vtype)types[k], &kv->val);
		if (v != V_OK) {
			sl->vt = RECORD_V_NONE;
			count(r, st, v, schema.key[k]);
		}
	}
}

static void begin(struct event_record *r, const msgpack_object *m)
{
	if (r->has_repeats) {
		memset(r->repeat, 0, r->repeat_words * sizeof(*r->repeat));
		r->has_repeats = false;
	}
	/*
	 * What a hostile event made the scratch grow to does not stay with
	 * the session: past what a tracer's exec needs, it is given back.
	 */
	if (r->strs_cap > SCRATCH_KEEP) {
		free(r->strs);
		r->strs = NULL;
		r->strs_cap = 0;
	}
	if (r->ints_cap > SCRATCH_KEEP) {
		free(r->ints);
		r->ints = NULL;
		r->ints_cap = 0;
	}
	if (r->repeat_words > 16) {
		free(r->repeat);
		r->repeat = NULL;
		r->repeat_words = 0;
	}
	r->raw = m;
	r->errors = 0;
	r->nstrs = r->nints = 0;
	/* Generation 0 is never current, so zeroed slots never look valid. */
	if (++r->gen == 0) {
		for (size_t i = 0; i < r->nslots; i++)
			r->slot[i].gen = 0;
		r->gen = 1;
	}
	r->type = -1;
	r->kind.ptr = "";
	r->kind.len = 0;
	r->has_pid = r->has_tid = r->has_ret = r->has_ts = false;
	r->pid = r->tid = r->ret = 0;
	r->ts = 0;
}

int record_decode(struct event_record *r, const msgpack_object *ev,
		  struct record_stats *st)
{
	const msgpack_object *kind = NULL;
	int row = ROW_UNKNOWN;

	if (!r->slot)
		return -ENOMEM;
	begin(r, ev);
	if (!ev || ev->type != MSGPACK_OBJECT_MAP) {
		r->raw = NULL;
		return -EBADMSG;
	}
	/* The kind first (the tracer writes it first): it says what the other
	 * keys should be. The first "ev" counts, as everywhere. */
	for (uint32_t i = 0; i < ev->via.map.size; i++) {
		const msgpack_object *k = &ev->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 2 &&
		    memcmp(k->via.str.ptr, "ev", 2) == 0) {
			kind = &ev->via.map.ptr[i].val;
			break;
		}
	}
	if (kind) {
		struct record_slot *sl = &r->slot[RK_EV];

		sl->gen = r->gen;
		sl->vt = RECORD_V_NONE;
		if (kind->type == MSGPACK_OBJECT_STR) {
			sl->vt = RECORD_V_STR;
			sl->v.s = kind->via.str.ptr;
			sl->n = kind->via.str.size;
			r->kind.ptr = sl->v.s;
			r->kind.len = sl->n;
			r->type = rules_event_type_from_name(r->kind.ptr, r->kind.len);
			if (r->type < 0)
				r->type = -1;
			else
				row = r->type;
		} else {
			count(r, st, V_BAD_TYPE, "ev");
		}
	}
	decode_keys(r, ev, row, kind, st);
	r->has_pid = record_i64(r, RK_PID, &r->pid);
	r->has_tid = record_i64(r, RK_TID, &r->tid);
	r->has_ret = record_i64(r, RK_RET, &r->ret);
	r->has_ts = record_u64(r, RK_TS, &r->ts);
	return (int)r->errors;
}

int record_decode_snapshot(struct event_record *r, const msgpack_object *snap,
			   struct record_stats *st)
{
	if (!r->slot)
		return -ENOMEM;
	begin(r, snap);
	if (!snap || snap->type != MSGPACK_OBJECT_MAP) {
		r->raw = NULL;
		return -EBADMSG;
	}
	r->type = RECORD_KIND_PROCESS;
	decode_keys(r, snap, RECORD_KIND_PROCESS, NULL, st);
	r->has_pid = record_i64(r, RK_PID, &r->pid);
	return (int)r->errors;
}

bool record_has(const struct event_record *r, int k)
{
	const struct record_slot *sl = record_slot(r, k);

	return sl && sl->vt != RECORD_V_NONE;
}

bool record_str(const struct event_record *r, int k, struct rules_str *ret)
{
	const struct record_slot *sl = record_slot(r, k);

	if (!sl || sl->vt != RECORD_V_STR)
		return false;
	ret->ptr = sl->v.s;
	ret->len = sl->n;
	return true;
}

bool record_i64(const struct event_record *r, int k, int64_t *ret)
{
	const struct record_slot *sl = record_slot(r, k);

	if (!sl || sl->vt != RECORD_V_INT || sl->big)
		return false;
	*ret = sl->v.i;
	return true;
}

bool record_u64(const struct event_record *r, int k, uint64_t *ret)
{
	const struct record_slot *sl = record_slot(r, k);

	if (!sl || sl->vt != RECORD_V_INT || (!sl->big && sl->v.i < 0))
		return false;
	*ret = sl->v.u;
	return true;
}

bool record_bool(const struct event_record *r, int k, bool *ret)
{
	const struct record_slot *sl = record_slot(r, k);

	if (!sl || sl->vt != RECORD_V_BOOL)
		return false;
	*ret = sl->v.b;
	return true;
}

bool record_strs(const struct event_record *r, int k,
		 const struct rules_str **ret_v, size_t *ret_n)
{
	const struct record_slot *sl = record_slot(r, k);

	if (!sl || sl->vt != RECORD_V_STRS)
		return false;
	*ret_v = r->strs + sl->v.u;
	*ret_n = sl->n;
	return true;
}

bool record_ints(const struct event_record *r, int k,
		 const int64_t **ret_v, size_t *ret_n)
{
	const struct record_slot *sl = record_slot(r, k);

	if (!sl || sl->vt != RECORD_V_INTS)
		return false;
	*ret_v = r->ints + sl->v.u;
	*ret_n = sl->n;
	return true;
}

uint64_t record_stats_total(const struct record_stats *st)
{
	return st->bad_type + st->oversize + st->duplicate_key + st->no_memory;
}
