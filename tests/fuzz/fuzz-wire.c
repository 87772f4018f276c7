/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the message codec (src/common/wire.c). The input is one
 * frame payload. It goes through wire_decode(); a message that decodes is
 * read by every typed unpack, whatever its type, and each one that
 * succeeds is packed again and must read back the same. The open bodies
 * of EVENTS and PROCESS go through the probe's decoder (src/probe/record.c),
 * whose record is checked against the map; then every value of them and of
 * STATS is walked, recursively, as the writers do.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "rules.h"
#include "sentrace/wire.h"
#include "record.h"
#include "fuzz.h"

/* Touches every byte of a string, so that the sanitizers check its bounds. */
static unsigned str_sum(const char *p, size_t len)
{
	unsigned sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += (unsigned char)p[i];
	return sum;
}

static unsigned ws_sum(struct wire_str s)
{
	fuzz_check(s.ptr != NULL);
	return str_sum(s.ptr, s.len);
}

/* Every value below o, the way json_msgpack() renders one. */
static unsigned walk(const msgpack_object *o, int depth)
{
	unsigned sum = (unsigned)o->type;

	fuzz_check(depth <= 64);
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		return sum + str_sum(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		return sum + str_sum(o->via.bin.ptr, o->via.bin.size);
	case MSGPACK_OBJECT_EXT:
		return sum + str_sum(o->via.ext.ptr, o->via.ext.size);
	case MSGPACK_OBJECT_ARRAY:
		for (uint32_t i = 0; i < o->via.array.size; i++)
			sum += walk(&o->via.array.ptr[i], depth + 1);
		return sum;
	case MSGPACK_OBJECT_MAP:
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			sum += walk(&o->via.map.ptr[i].key, depth + 1);
			sum += walk(&o->via.map.ptr[i].val, depth + 1);
		}
		return sum;
	default:
		return sum + (unsigned)o->via.u64;
	}
}

/* Packs a message with pack, decodes it and hands the root to check. */
struct repack {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	const msgpack_object *root;
	int type;
};

static void repack_begin(struct repack *rp)
{
	msgpack_sbuffer_init(&rp->sb);
	msgpack_packer_init(&rp->pk, &rp->sb, msgpack_sbuffer_write);
	msgpack_unpacked_init(&rp->up);
}

static void repack_decode(struct repack *rp, int want_type)
{
	fuzz_check(wire_decode(rp->sb.data, rp->sb.size, &rp->up, &rp->root,
			       &rp->type) == 0);
	fuzz_check(rp->type == want_type);
}

static void repack_end(struct repack *rp)
{
	msgpack_unpacked_destroy(&rp->up);
	msgpack_sbuffer_destroy(&rp->sb);
}

static bool ws_eq(struct wire_str a, struct wire_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static void check_hello(const msgpack_object *root)
{
	struct wire_hello m, back;
	struct repack rp;

	if (wire_unpack_hello(root, &m) < 0)
		return;
	fuzz_check(m.argc <= WIRE_HELLO_ARGV);
	ws_sum(m.tracer_version);
	ws_sum(m.mode);
	ws_sum(m.hostname);
	ws_sum(m.container_id);
	for (uint32_t i = 0; i < m.argc; i++)
		ws_sum(m.argv[i]);

	repack_begin(&rp);
	wire_pack_hello(&rp.pk, &m);
	repack_decode(&rp, WIRE_HELLO);
	fuzz_check(wire_unpack_hello(rp.root, &back) == 0);
	fuzz_check(back.version == m.version && back.pidns == m.pidns &&
		   back.tracer_pid == m.tracer_pid && back.argc == m.argc);
	fuzz_check(ws_eq(back.tracer_version, m.tracer_version) &&
		   ws_eq(back.mode, m.mode) && ws_eq(back.hostname, m.hostname) &&
		   ws_eq(back.container_id, m.container_id));
	for (uint32_t i = 0; i < m.argc; i++)
		fuzz_check(ws_eq(back.argv[i], m.argv[i]));
	repack_end(&rp);
}

static void check_hello_ack(const msgpack_object *root)
{
	struct wire_hello_ack m, back;
	struct repack rp;

	if (wire_unpack_hello_ack(root, &m) < 0)
		return;
	ws_sum(m.probe_version);
	ws_sum(m.error);

	repack_begin(&rp);
	wire_pack_hello_ack(&rp.pk, &m);
	repack_decode(&rp, WIRE_HELLO_ACK);
	fuzz_check(wire_unpack_hello_ack(rp.root, &back) == 0);
	fuzz_check(back.version == m.version && back.session == m.session);
	fuzz_check(ws_eq(back.probe_version, m.probe_version) &&
		   ws_eq(back.error, m.error));
	repack_end(&rp);
}

static void check_command(const msgpack_object *root)
{
	struct wire_command m, back;
	struct repack rp;

	if (wire_unpack_command(root, &m) < 0)
		return;
	fuzz_check(m.pid > 0 && m.signal >= 0 && m.signal <= 64);
	ws_sum(m.action);
	ws_sum(m.rule_id);

	repack_begin(&rp);
	wire_pack_command(&rp.pk, &m);
	repack_decode(&rp, WIRE_COMMAND);
	fuzz_check(wire_unpack_command(rp.root, &back) == 0);
	fuzz_check(back.id == m.id && back.pid == m.pid && back.signal == m.signal);
	fuzz_check(ws_eq(back.action, m.action) && ws_eq(back.rule_id, m.rule_id));
	repack_end(&rp);
}

static void check_command_result(const msgpack_object *root)
{
	struct wire_command_result m, back;
	struct repack rp;

	if (wire_unpack_command_result(root, &m) < 0)
		return;
	fuzz_check(m.signal >= 0 && m.signal <= 64);
	ws_sum(m.error);

	repack_begin(&rp);
	wire_pack_command_result(&rp.pk, &m);
	repack_decode(&rp, WIRE_COMMAND_RESULT);
	fuzz_check(wire_unpack_command_result(rp.root, &back) == 0);
	fuzz_check(back.id == m.id && back.pid == m.pid &&
		   back.signal == m.signal && back.done == m.done);
	fuzz_check(ws_eq(back.error, m.error));
	repack_end(&rp);
}

static void check_ack(const msgpack_object *root)
{
	struct wire_ack m, back;
	struct repack rp;

	if (wire_unpack_ack(root, &m) < 0)
		return;

	repack_begin(&rp);
	wire_pack_ack(&rp.pk, &m);
	repack_decode(&rp, WIRE_ACK);
	fuzz_check(wire_unpack_ack(rp.root, &back) == 0);
	fuzz_check(back.seq == m.seq);
	repack_end(&rp);
}

static void check_goodbye(const msgpack_object *root)
{
	struct wire_goodbye m, back;
	struct repack rp;

	if (wire_unpack_goodbye(root, &m) < 0)
		return;
	ws_sum(m.reason);

	repack_begin(&rp);
	wire_pack_goodbye(&rp.pk, &m);
	repack_decode(&rp, WIRE_GOODBYE);
	fuzz_check(wire_unpack_goodbye(rp.root, &back) == 0);
	fuzz_check(back.exit_status == m.exit_status && ws_eq(back.reason, m.reason));
	repack_end(&rp);
}

/*
 * What the decoder made of one map, checked against the map: every slot has
 * the type its kind's schema says, points inside the input, and every first
 * key of the right type was decoded (nothing valid is missed silently, and
 * every miss is counted).
 */
static unsigned check_record(const struct event_record *r, const msgpack_object *m,
			     int n, const struct record_stats *st)
{
	unsigned sum = 0, bad = 0;

	fuzz_check(n >= 0 && (unsigned)n == r->errors);
	fuzz_check(record_stats_total(st) == r->errors);
	fuzz_check(r->raw == m);
	fuzz_check(r->type == -1 || (r->type >= 0 && r->type <= RECORD_KIND_PROCESS));
	for (size_t k = 0; k < record_key_count(); k++) {
		const struct record_slot *sl = record_slot(r, (int)k);
		const struct rules_str *v;
		const int64_t *iv;
		size_t len;

		if (!sl || sl->vt == RECORD_V_NONE)
			continue;
		fuzz_check(sl->vt == record_key_type(r->type, (int)k));
		if (sl->vt == RECORD_V_STR)
			sum += str_sum(sl->v.s, sl->n);
		if (record_strs(r, (int)k, &v, &len)) {
			fuzz_check(len <= RECORD_ARRAY_MAX);
			for (size_t i = 0; i < len; i++)
				sum += str_sum(v[i].ptr, v[i].len);
		}
		if (record_ints(r, (int)k, &iv, &len)) {
			fuzz_check(len <= RECORD_ARRAY_MAX);
			for (size_t i = 0; i < len; i++)
				sum += (unsigned)iv[i];
		}
	}
	/* Each typed key of the map is in its slot, or counted as bad. */
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *key = &m->via.map.ptr[i].key;
		char name[64];
		int k;

		if (key->type != MSGPACK_OBJECT_STR || key->via.str.size >= sizeof(name) ||
		    memchr(key->via.str.ptr, '\0', key->via.str.size))
			continue;
		memcpy(name, key->via.str.ptr, key->via.str.size);
		name[key->via.str.size] = '\0';
		k = record_key_index(name);
		if (k < 0 || record_key_type(r->type, k) == RECORD_V_NONE)
			continue;
		if (!record_has(r, k))
			bad++;
	}
	fuzz_check(bad <= r->errors);
	return sum;
}

/* An event as the probe decodes it, then every value as the writers do. */
static unsigned walk_event(struct event_record *r, const msgpack_object *ev)
{
	struct record_stats st = { 0 };
	int n = record_decode(r, ev, &st);

	if (ev->type != MSGPACK_OBJECT_MAP) {
		fuzz_check(n == -EBADMSG);
		return 0;
	}
	fuzz_check(r->type < RULES_EV__COUNT);
	return check_record(r, ev, n, &st) + walk(ev, 0);
}

/* A process snapshot, decoded as the resolver reads it, then the rest. */
static unsigned walk_process(struct event_record *r, const msgpack_object *p)
{
	struct record_stats st = { 0 };
	int n = record_decode_snapshot(r, p, &st);

	if (p->type != MSGPACK_OBJECT_MAP) {
		fuzz_check(n == -EBADMSG);
		return 0;
	}
	fuzz_check(r->type == RECORD_KIND_PROCESS);
	return check_record(r, p, n, &st) + walk(p, 0);
}

static unsigned walk_body(const msgpack_object *root, int type)
{
	/* One record for the process's life, as a session has. */
	static struct event_record rec;
	static bool rec_ready;
	const msgpack_object *o;
	unsigned sum = 0;
	uint64_t seq;

	switch (type) {
	case WIRE_EVENTS:
		if (!rec_ready) {
			fuzz_check(record_init(&rec) == 0);
			rec_ready = true;
		}
		wire_map_u64(root, "seq", &seq);
		o = wire_map_get(root, "events");
		if (o && o->type == MSGPACK_OBJECT_ARRAY)
			for (uint32_t i = 0; i < o->via.array.size; i++)
				sum += walk_event(&rec, &o->via.array.ptr[i]);
		break;
	case WIRE_PROCESS:
		if (!rec_ready) {
			fuzz_check(record_init(&rec) == 0);
			rec_ready = true;
		}
		o = wire_map_get(root, "processes");
		if (o && o->type == MSGPACK_OBJECT_ARRAY)
			for (uint32_t i = 0; i < o->via.array.size; i++)
				sum += walk_process(&rec, &o->via.array.ptr[i]);
		break;
	case WIRE_STATS:
		for (int k = 0; k < 2; k++) {
			o = wire_map_get(root, k ? "dropped" : "counters");
			if (!o || o->type != MSGPACK_OBJECT_MAP)
				continue;
			for (uint32_t i = 0; i < o->via.map.size; i++)
				if (o->via.map.ptr[i].val.type ==
				    MSGPACK_OBJECT_POSITIVE_INTEGER)
					sum += (unsigned)o->via.map.ptr[i].val.via.u64;
			sum += walk(o, 0);
		}
		break;
	default:
		sum += walk(root, 0);
		break;
	}
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	const msgpack_object *root;
	msgpack_unpacked up;
	volatile unsigned sink;
	int type, valid;

	valid = wire_validate(buf, size);
	fuzz_check(valid == 0 || valid == -EBADMSG);
	msgpack_unpacked_init(&up);
	if (wire_decode(buf, size, &up, &root, &type) < 0) {
		msgpack_unpacked_destroy(&up);
		return 0;
	}
	/* Whatever decodes has passed validation. */
	fuzz_check(valid == 0);
	fuzz_check(type > 0 && root->type == MSGPACK_OBJECT_MAP);
	(void)wire_type_name(type);

	check_hello(root);
	check_hello_ack(root);
	check_command(root);
	check_command_result(root);
	check_ack(root);
	check_goodbye(root);
	sink = walk_body(root, type);
	(void)sink;

	msgpack_unpacked_destroy(&up);
	return 0;
}
