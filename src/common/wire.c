/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The msgpack codec of the wire protocol: validation of untrusted payloads,
 * decoding into msgpack objects, map accessors, and the typed messages.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "sentrace/wire.h"
#include "hmac.h"

/* msgpack-c's own unpacker gives up past 32 nested containers. */
#define WIRE_MAX_DEPTH 32

const char *wire_type_name(int type)
{
	static const char *const names[WIRE_TYPE_MAX] = {
		[WIRE_HELLO] = "HELLO",
		[WIRE_HELLO_ACK] = "HELLO_ACK",
		[WIRE_EVENTS] = "EVENTS",
		[WIRE_PROCESS] = "PROCESS",
		[WIRE_STATS] = "STATS",
		[WIRE_COMMAND] = "COMMAND",
		[WIRE_GOODBYE] = "GOODBYE",
		[WIRE_ACK] = "ACK",
		[WIRE_COMMAND_RESULT] = "COMMAND_RESULT",
		[WIRE_CHALLENGE] = "CHALLENGE",
		[WIRE_AUTH] = "AUTH",
	};

	if (type <= 0 || type >= WIRE_TYPE_MAX)
		return "UNKNOWN";
	return names[type];
}

bool wire_str_eq(struct wire_str s, const char *c)
{
	size_t n = strlen(c);

	return s.len == n && memcmp(s.ptr, c, n) == 0;
}

void wire_put_len(uint8_t out[WIRE_FRAME_HEADER], uint32_t len)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
}

uint32_t wire_get_len(const uint8_t in[WIRE_FRAME_HEADER])
{
	return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 |
	       (uint32_t)in[2] << 8 | (uint32_t)in[3];
}

static uint64_t be_read(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * Walks one value starting at *pos. Every element of a container takes at
 * least one byte, so a count larger than the bytes left is a lie.
 */
static int validate_value(const uint8_t *b, size_t len, size_t *pos, int depth)
{
	size_t p = *pos, left;
	uint64_t count = 0, skip = 0;
	unsigned c;

	if (p >= len || depth > WIRE_MAX_DEPTH)
		return -EBADMSG;
	c = b[p++];
	left = len - p;

	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
		skip = 0;
	} else if (c >= 0x80 && c <= 0x8f) {
		count = 2ull * (c & 0x0f);
	} else if (c >= 0x90 && c <= 0x9f) {
		count = c & 0x0f;
	} else if (c >= 0xa0 && c <= 0xbf) {
		skip = c & 0x1f;
	} else {
		static const unsigned char lenbytes[] = {
			[0xc4 - 0xc4] = 1, [0xc5 - 0xc4] = 2, [0xc6 - 0xc4] = 4,
			[0xc7 - 0xc4] = 1, [0xc8 - 0xc4] = 2, [0xc9 - 0xc4] = 4,
		};

		switch (c) {
		case 0xc4: case 0xc5: case 0xc6: /* bin */
		case 0xc7: case 0xc8: case 0xc9: /* ext */
			if (left < lenbytes[c - 0xc4])
				return -EBADMSG;
			skip = be_read(b + p, lenbytes[c - 0xc4]);
			p += lenbytes[c - 0xc4];
			left -= lenbytes[c - 0xc4];
			if (c >= 0xc7)
				skip += 1; /* ext type byte */
			break;
		case 0xca: skip = 4; break;
		case 0xcb: skip = 8; break;
		case 0xcc: case 0xd0: skip = 1; break;
		case 0xcd: case 0xd1: skip = 2; break;
		case 0xce: case 0xd2: skip = 4; break;
		case 0xcf: case 0xd3: skip = 8; break;
		case 0xd4: skip = 2; break;
		case 0xd5: skip = 3; break;
		case 0xd6: skip = 5; break;
		case 0xd7: skip = 9; break;
		case 0xd8: skip = 17; break;
		case 0xd9: case 0xda: case 0xdb: {
			unsigned n = c == 0xd9 ? 1 : c == 0xda ? 2 : 4;

			if (left < n)
				return -EBADMSG;
			skip = be_read(b + p, n);
			p += n;
			left -= n;
			break;
		}
		case 0xdc: case 0xdd: case 0xde: case 0xdf: {
			unsigned n = (c == 0xdc || c == 0xde) ? 2 : 4;

			if (left < n)
				return -EBADMSG;
			count = be_read(b + p, n);
			if (c >= 0xde)
				count *= 2;
			p += n;
			left -= n;
			break;
		}
		default: /* 0xc1 is never used */
			return -EBADMSG;
		}
	}

	/*
	 * msgpack-c refuses a container when 32 are already open, even an
	 * empty one: containers may sit at depths 0 to 31 only.
	 */
	if (((c >= 0x80 && c <= 0x9f) || (c >= 0xdc && c <= 0xdf)) &&
	    depth >= WIRE_MAX_DEPTH)
		return -EBADMSG;
	if (skip > left)
		return -EBADMSG;
	p += skip;
	if (count > len - p)
		return -EBADMSG;
	for (uint64_t i = 0; i < count; i++) {
		int r = validate_value(b, len, &p, depth + 1);

		if (r < 0)
			return r;
	}
	*pos = p;
	return 0;
}

int wire_validate(const char *buf, size_t len)
{
	size_t pos = 0;
	int r = validate_value((const uint8_t *)buf, len, &pos, 0);

	if (r < 0)
		return r;
	return pos == len ? 0 : -EBADMSG;
}

int wire_decode(const char *buf, size_t len, msgpack_unpacked *up,
		const msgpack_object **ret_root, int *ret_type)
{
	size_t off = 0;
	uint64_t type;

	if (wire_validate(buf, len) < 0)
		return -EBADMSG;
	if (msgpack_unpack_next(up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != len)
		return -EBADMSG;
	if (up->data.type != MSGPACK_OBJECT_MAP)
		return -EBADMSG;
	if (!wire_map_u64(&up->data, "type", &type) || type == 0 || type > INT32_MAX)
		return -EBADMSG;
	*ret_root = &up->data;
	*ret_type = (int)type;
	return 0;
}

const msgpack_object *wire_map_get(const msgpack_object *map, const char *key)
{
	size_t klen = strlen(key);

	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (kv->key.type == MSGPACK_OBJECT_STR &&
		    kv->key.via.str.size == klen &&
		    memcmp(kv->key.via.str.ptr, key, klen) == 0)
			return &kv->val;
	}
	return NULL;
}

bool wire_map_str(const msgpack_object *map, const char *key, struct wire_str *ret)
{
	const msgpack_object *o = wire_map_get(map, key);

	if (!o || o->type != MSGPACK_OBJECT_STR)
		return false;
	ret->ptr = o->via.str.ptr;
	ret->len = o->via.str.size;
	return true;
}

bool wire_map_bin(const msgpack_object *map, const char *key, struct wire_str *ret)
{
	const msgpack_object *o = wire_map_get(map, key);

	if (!o || o->type != MSGPACK_OBJECT_BIN)
		return false;
	ret->ptr = o->via.bin.ptr;
	ret->len = o->via.bin.size;
	return true;
}

bool wire_map_i64(const msgpack_object *map, const char *key, int64_t *ret)
{
	const msgpack_object *o = wire_map_get(map, key);

	if (!o)
		return false;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > INT64_MAX)
			return false;
		*ret = (int64_t)o->via.u64;
		return true;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*ret = o->via.i64;
		return true;
	}
	return false;
}

bool wire_map_u64(const msgpack_object *map, const char *key, uint64_t *ret)
{
	const msgpack_object *o = wire_map_get(map, key);

	if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*ret = o->via.u64;
	return true;
}

bool wire_map_bool(const msgpack_object *map, const char *key, bool *ret)
{
	const msgpack_object *o = wire_map_get(map, key);

	if (!o || o->type != MSGPACK_OBJECT_BOOLEAN)
		return false;
	*ret = o->via.boolean;
	return true;
}

void wire_pack_strn(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

void wire_pack_str(msgpack_packer *pk, const char *s)
{
	wire_pack_strn(pk, s ? s : "", s ? strlen(s) : 0);
}

void wire_pack_kv_str(msgpack_packer *pk, const char *key, const char *val)
{
	wire_pack_str(pk, key);
	wire_pack_str(pk, val);
}

void wire_pack_kv_strn(msgpack_packer *pk, const char *key, const char *val, size_t len)
{
	wire_pack_str(pk, key);
	wire_pack_strn(pk, val, len);
}

void wire_pack_kv_i64(msgpack_packer *pk, const char *key, int64_t val)
{
	wire_pack_str(pk, key);
	msgpack_pack_int64(pk, val);
}

void wire_pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t val)
{
	wire_pack_str(pk, key);
	msgpack_pack_uint64(pk, val);
}

void wire_pack_kv_bool(msgpack_packer *pk, const char *key, bool val)
{
	wire_pack_str(pk, key);
	if (val)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

void wire_pack_kv_bin(msgpack_packer *pk, const char *key, const void *val, size_t len)
{
	wire_pack_str(pk, key);
	msgpack_pack_bin(pk, len);
	msgpack_pack_bin_body(pk, val, len);
}

static void pack_kv_wb(msgpack_packer *pk, const char *key, struct wire_str s)
{
	wire_pack_kv_bin(pk, key, s.ptr ? s.ptr : "", s.ptr ? s.len : 0);
}

static void unpack_wb(const msgpack_object *root, const char *key, struct wire_str *ret)
{
	if (!wire_map_bin(root, key, ret))
		*ret = (struct wire_str){ "", 0 };
}

static void pack_kv_ws(msgpack_packer *pk, const char *key, struct wire_str s)
{
	wire_pack_kv_strn(pk, key, s.ptr ? s.ptr : "", s.ptr ? s.len : 0);
}

static void unpack_ws(const msgpack_object *root, const char *key, struct wire_str *ret)
{
	if (!wire_map_str(root, key, ret))
		*ret = (struct wire_str){ "", 0 };
}

void wire_pack_hello(msgpack_packer *pk, const struct wire_hello *m)
{
	uint32_t argc = m->argc < WIRE_HELLO_ARGV ? m->argc : WIRE_HELLO_ARGV;
	uint32_t npids = m->npids < WIRE_HELLO_PIDS ? m->npids : WIRE_HELLO_PIDS;

	msgpack_pack_map(pk, 9 + (m->nonce.len ? 1 : 0) + (m->resume_session ? 2 : 0) +
			 (npids ? 1 : 0));
	wire_pack_kv_u64(pk, "type", WIRE_HELLO);
	if (m->nonce.len)
		pack_kv_wb(pk, "nonce", m->nonce);
	if (m->resume_session) {
		wire_pack_kv_u64(pk, "resume_session", m->resume_session);
		pack_kv_wb(pk, "resume_secret", m->resume_secret);
	}
	wire_pack_kv_u64(pk, "version", m->version);
	pack_kv_ws(pk, "tracer_version", m->tracer_version);
	pack_kv_ws(pk, "mode", m->mode);
	pack_kv_ws(pk, "hostname", m->hostname);
	pack_kv_ws(pk, "container_id", m->container_id);
	wire_pack_kv_u64(pk, "pidns", m->pidns);
	wire_pack_kv_i64(pk, "tracer_pid", m->tracer_pid);
	wire_pack_str(pk, "argv");
	msgpack_pack_array(pk, argc);
	for (uint32_t i = 0; i < argc; i++)
		wire_pack_strn(pk, m->argv[i].ptr, m->argv[i].len);
	if (npids) {
		wire_pack_str(pk, "pids");
		msgpack_pack_array(pk, npids);
		for (uint32_t i = 0; i < npids; i++)
			msgpack_pack_int64(pk, m->pids[i]);
	}
}

int wire_unpack_hello(const msgpack_object *root, struct wire_hello *ret)
{
	struct wire_hello m = { 0 };
	const msgpack_object *argv;
	uint64_t v;

	if (!wire_map_u64(root, "version", &v) || v > UINT32_MAX)
		return -EBADMSG;
	m.version = (uint32_t)v;
	unpack_ws(root, "tracer_version", &m.tracer_version);
	unpack_ws(root, "mode", &m.mode);
	unpack_ws(root, "hostname", &m.hostname);
	unpack_ws(root, "container_id", &m.container_id);
	unpack_wb(root, "nonce", &m.nonce);
	wire_map_u64(root, "resume_session", &m.resume_session);
	unpack_wb(root, "resume_secret", &m.resume_secret);
	wire_map_u64(root, "pidns", &m.pidns);
	wire_map_i64(root, "tracer_pid", &m.tracer_pid);
	argv = wire_map_get(root, "argv");
	if (argv && argv->type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t i = 0; i < argv->via.array.size &&
				     m.argc < WIRE_HELLO_ARGV; i++) {
			const msgpack_object *a = &argv->via.array.ptr[i];

			if (a->type != MSGPACK_OBJECT_STR)
				continue;
			m.argv[m.argc].ptr = a->via.str.ptr;
			m.argv[m.argc].len = a->via.str.size;
			m.argc++;
		}
	}
	argv = wire_map_get(root, "pids");
	if (argv && argv->type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t i = 0; i < argv->via.array.size &&
				     m.npids < WIRE_HELLO_PIDS; i++) {
			const msgpack_object *a = &argv->via.array.ptr[i];

			if (a->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
			    a->via.u64 <= INT32_MAX)
				m.pids[m.npids++] = (int64_t)a->via.u64;
		}
	}
	*ret = m;
	return 0;
}

void wire_pack_hello_ack(msgpack_packer *pk, const struct wire_hello_ack *m)
{
	msgpack_pack_map(pk, m->secret.len ? 6 : 5);
	wire_pack_kv_u64(pk, "type", WIRE_HELLO_ACK);
	wire_pack_kv_u64(pk, "version", m->version);
	pack_kv_ws(pk, "probe_version", m->probe_version);
	wire_pack_kv_u64(pk, "session", m->session);
	pack_kv_ws(pk, "error", m->error);
	if (m->secret.len)
		pack_kv_wb(pk, "secret", m->secret);
}

int wire_unpack_hello_ack(const msgpack_object *root, struct wire_hello_ack *ret)
{
	struct wire_hello_ack m = { 0 };
	uint64_t v;

	if (!wire_map_u64(root, "version", &v) || v > UINT32_MAX)
		return -EBADMSG;
	m.version = (uint32_t)v;
	unpack_ws(root, "probe_version", &m.probe_version);
	wire_map_u64(root, "session", &m.session);
	unpack_ws(root, "error", &m.error);
	unpack_wb(root, "secret", &m.secret);
	*ret = m;
	return 0;
}

void wire_pack_challenge(msgpack_packer *pk, const struct wire_challenge *m)
{
	msgpack_pack_map(pk, m->proof.len ? 3 : 2);
	wire_pack_kv_u64(pk, "type", WIRE_CHALLENGE);
	pack_kv_wb(pk, "nonce", m->nonce);
	if (m->proof.len)
		pack_kv_wb(pk, "proof", m->proof);
}

int wire_unpack_challenge(const msgpack_object *root, struct wire_challenge *ret)
{
	struct wire_challenge m = { 0 };

	if (!wire_map_bin(root, "nonce", &m.nonce) || m.nonce.len != WIRE_SECRET_LEN)
		return -EBADMSG;
	unpack_wb(root, "proof", &m.proof);
	*ret = m;
	return 0;
}

void wire_pack_auth(msgpack_packer *pk, const struct wire_auth *m)
{
	msgpack_pack_map(pk, 2);
	wire_pack_kv_u64(pk, "type", WIRE_AUTH);
	pack_kv_wb(pk, "proof", m->proof);
}

int wire_unpack_auth(const msgpack_object *root, struct wire_auth *ret)
{
	struct wire_auth m = { 0 };

	if (!wire_map_bin(root, "proof", &m.proof))
		return -EBADMSG;
	*ret = m;
	return 0;
}

static void hmac_put_u64(struct hmac_sha256 *m, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	hmac_sha256_update(m, b, sizeof(b));
}

/* Each piece is preceded by its length, so no two inputs read the same. */
static void hmac_put_str(struct hmac_sha256 *m, struct wire_str s)
{
	hmac_put_u64(m, s.len);
	if (s.len)
		hmac_sha256_update(m, s.ptr, s.len);
}

void wire_auth_proof(const char *token, size_t token_len, enum wire_role role,
		     const struct wire_hello *h, struct wire_str probe_nonce,
		     uint8_t out[WIRE_SECRET_LEN])
{
	struct hmac_sha256 m;

	hmac_sha256_init(&m, token, token_len);
	hmac_put_str(&m, wire_str_c(role == WIRE_ROLE_PROBE ? "sentrace-2 probe"
							     : "sentrace-2 tracer"));
	hmac_put_str(&m, h->nonce);
	hmac_put_str(&m, probe_nonce);
	hmac_put_str(&m, h->hostname);
	hmac_put_u64(&m, h->pidns);
	hmac_put_u64(&m, (uint64_t)h->tracer_pid);
	hmac_sha256_final(&m, out);
}

void wire_pack_command(msgpack_packer *pk, const struct wire_command *m)
{
	bool container = m->scope.len > 0;

	msgpack_pack_map(pk, container ? 9 : 7);
	wire_pack_kv_u64(pk, "type", WIRE_COMMAND);
	wire_pack_kv_u64(pk, "id", m->id);
	pack_kv_ws(pk, "action", m->action);
	wire_pack_kv_i64(pk, "pid", m->pid);
	wire_pack_kv_i64(pk, "signal", m->signal);
	pack_kv_ws(pk, "rule_id", m->rule_id);
	wire_pack_kv_u64(pk, "start_ticks", m->start_ticks);
	if (container) {
		pack_kv_ws(pk, "scope", m->scope);
		pack_kv_ws(pk, "container_id", m->container_id);
	}
}

int wire_unpack_command(const msgpack_object *root, struct wire_command *ret)
{
	struct wire_command m = { 0 };
	int64_t v;

	/* A pid above INT32_MAX would wrap to another one as a pid_t. */
	if (!wire_map_u64(root, "id", &m.id) ||
	    !wire_map_str(root, "action", &m.action) ||
	    !wire_map_i64(root, "pid", &m.pid) || m.pid <= 0 || m.pid > INT32_MAX ||
	    !wire_map_i64(root, "signal", &v) || v < 0 || v > 64)
		return -EBADMSG;
	m.signal = (int32_t)v;
	unpack_ws(root, "rule_id", &m.rule_id);
	/* Absent stays 0: the tracer refuses such a kill (docs/protocol.md). */
	wire_map_u64(root, "start_ticks", &m.start_ticks);
	unpack_ws(root, "scope", &m.scope);
	unpack_ws(root, "container_id", &m.container_id);
	*ret = m;
	return 0;
}

void wire_pack_ack(msgpack_packer *pk, const struct wire_ack *m)
{
	msgpack_pack_map(pk, 2);
	wire_pack_kv_u64(pk, "type", WIRE_ACK);
	wire_pack_kv_u64(pk, "seq", m->seq);
}

int wire_unpack_ack(const msgpack_object *root, struct wire_ack *ret)
{
	struct wire_ack m = { 0 };

	if (!wire_map_u64(root, "seq", &m.seq))
		return -EBADMSG;
	*ret = m;
	return 0;
}

void wire_pack_command_result(msgpack_packer *pk, const struct wire_command_result *m)
{
	msgpack_pack_map(pk, 7);
	wire_pack_kv_u64(pk, "type", WIRE_COMMAND_RESULT);
	wire_pack_kv_u64(pk, "id", m->id);
	wire_pack_kv_i64(pk, "pid", m->pid);
	wire_pack_kv_i64(pk, "signal", m->signal);
	wire_pack_kv_bool(pk, "done", m->done);
	pack_kv_ws(pk, "error", m->error);
	wire_pack_kv_u64(pk, "count", m->count);
}

int wire_unpack_command_result(const msgpack_object *root,
			       struct wire_command_result *ret)
{
	struct wire_command_result m = { 0 };
	uint64_t u;
	int64_t v;

	if (!wire_map_u64(root, "id", &m.id) || !wire_map_i64(root, "pid", &m.pid) ||
	    !wire_map_bool(root, "done", &m.done))
		return -EBADMSG;
	if (wire_map_i64(root, "signal", &v) && v >= 0 && v <= 64)
		m.signal = (int32_t)v;
	unpack_ws(root, "error", &m.error);
	if (wire_map_u64(root, "count", &u) && u <= UINT32_MAX)
		m.count = (uint32_t)u;
	*ret = m;
	return 0;
}

void wire_pack_goodbye(msgpack_packer *pk, const struct wire_goodbye *m)
{
	msgpack_pack_map(pk, 3);
	wire_pack_kv_u64(pk, "type", WIRE_GOODBYE);
	pack_kv_ws(pk, "reason", m->reason);
	wire_pack_kv_i64(pk, "exit_status", m->exit_status);
}

int wire_unpack_goodbye(const msgpack_object *root, struct wire_goodbye *ret)
{
	struct wire_goodbye m = { 0 };
	int64_t v = 0;

	unpack_ws(root, "reason", &m.reason);
	if (wire_map_i64(root, "exit_status", &v) && v >= INT32_MIN && v <= INT32_MAX)
		m.exit_status = (int32_t)v;
	*ret = m;
	return 0;
}
