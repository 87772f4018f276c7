/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the wire codec and the frame reader: every message type
 * round-trips, frames reassemble however the stream is cut, and hostile
 * payloads are rejected without crashing.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <msgpack.h>

#include "sentrace/wire.h"
#include "envkeep.h"
#include "frame.h"
#include "hmac.h"

struct packbuf {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void pb_init(struct packbuf *b)
{
	msgpack_sbuffer_init(&b->sb);
	msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

static void pb_fini(struct packbuf *b)
{
	msgpack_sbuffer_destroy(&b->sb);
}

static int decode(const struct packbuf *b, msgpack_unpacked *up,
		  const msgpack_object **root, int *type)
{
	msgpack_unpacked_init(up);
	return wire_decode(b->sb.data, b->sb.size, up, root, type);
}

static bool ws_eq(struct wire_str s, const char *c)
{
	return wire_str_eq(s, c);
}

/* ---- typed messages ---- */

START_TEST(test_hello_roundtrip)
{
	struct wire_hello in = {
		.version = WIRE_PROTOCOL_VERSION,
		.tracer_version = wire_str_c("0.1.0"),
		.mode = wire_str_c("wrapped"),
		.hostname = wire_str_c("host-1"),
		.container_id = wire_str_c("abc123"),
		.pidns = 4026531836ull,
		.tracer_pid = 4242,
		.argc = 3,
		.argv = { wire_str_c("sh"), wire_str_c("-c"), wire_str_c("echo hi") },
	}, out;
	const msgpack_object *root;
	msgpack_unpacked up;
	struct packbuf b;
	int type;

	pb_init(&b);
	wire_pack_hello(&b.pk, &in);
	ck_assert_int_eq(decode(&b, &up, &root, &type), 0);
	ck_assert_int_eq(type, WIRE_HELLO);
	ck_assert_int_eq(wire_unpack_hello(root, &out), 0);
	ck_assert_uint_eq(out.version, WIRE_PROTOCOL_VERSION);
	ck_assert(ws_eq(out.tracer_version, "0.1.0"));
	ck_assert(ws_eq(out.mode, "wrapped"));
	ck_assert(ws_eq(out.hostname, "host-1"));
	ck_assert(ws_eq(out.container_id, "abc123"));
	ck_assert_uint_eq(out.pidns, 4026531836ull);
	ck_assert_int_eq(out.tracer_pid, 4242);
	ck_assert_uint_eq(out.argc, 3);
	ck_assert(ws_eq(out.argv[0], "sh"));
	ck_assert(ws_eq(out.argv[2], "echo hi"));
	msgpack_unpacked_destroy(&up);
	pb_fini(&b);
}
END_TEST

START_TEST(test_hello_argv_bounded)
{
	struct wire_hello in = { .version = 1, .argc = 40 }, out;
	const msgpack_object *root;
	msgpack_unpacked up;
	struct packbuf b;
	int type;

	for (int i = 0; i < WIRE_HELLO_ARGV; i++)
		in.argv[i] = wire_str_c("x");
	pb_init(&b);
	wire_pack_hello(&b.pk, &in);
	ck_assert_int_eq(decode(&b, &up, &root, &type), 0);
	ck_assert_int_eq(wire_unpack_hello(root, &out), 0);
	ck_assert_uint_eq(out.argc, WIRE_HELLO_ARGV);
	msgpack_unpacked_destroy(&up);
	pb_fini(&b);
}
END_TEST

START_TEST(test_hello_ack_roundtrip)
{
	struct wire_hello_ack in = {
		.version = WIRE_PROTOCOL_VERSION,
		.probe_version = wire_str_c("9.9"),
		.session = 77,
		.error = wire_str_c("unsupported"),
	}, out;
	const msgpack_object *root;
	msgpack_unpacked up;
	struct packbuf b;
	int type;

	pb_init(&b);
	wire_pack_hello_ack(&b.pk, &in);
	ck_assert_int_eq(decode(&b, &up, &root, &type), 0);
	ck_assert_int_eq(type, WIRE_HELLO_ACK);
	ck_assert_int_eq(wire_unpack_hello_ack(root, &out), 0);
	ck_assert_uint_eq(out.version, WIRE_PROTOCOL_VERSION);
	ck_assert(ws_eq(out.probe_version, "9.9"));
	ck_assert_uint_eq(out.session, 77);
	ck_assert(ws_eq(out.error, "unsupported"));
	msgpack_unpacked_destroy(&up);
	pb_fini(&b);
}
END_TEST

START_TEST(test_command_roundtrip)
{
	struct wire_command in = {
		.id = 5, .action = wire_str_c("kill"), .pid = 1234, .signal = 9,
		.rule_id = wire_str_c("nc_exec"), .start_ticks = 987654321,
		.scope = wire_str_c("container"), .container_id = wire_str_c("abc"),
	}, out;
	const msgpack_object *root;
	msgpack_unpacked up;
	struct packbuf b;
	int type;

	pb_init(&b);
	wire_pack_command(&b.pk, &in);
	ck_assert_int_eq(decode(&b, &up, &root, &type), 0);
	ck_assert_int_eq(type, WIRE_COMMAND);
	ck_assert_int_eq(wire_unpack_command(root, &out), 0);
	ck_assert_uint_eq(out.id, 5);
	ck_assert(ws_eq(out.action, "kill"));
	ck_assert_int_eq(out.pid, 1234);
	ck_assert_int_eq(out.signal, 9);
	ck_assert(ws_eq(out.rule_id, "nc_exec"));
	ck_assert_uint_eq(out.start_ticks, 987654321);
	ck_assert(ws_eq(out.scope, "container"));
	ck_assert(ws_eq(out.container_id, "abc"));
	msgpack_unpacked_destroy(&up);
	pb_fini(&b);
}
END_TEST

/* 0, negative, and above INT32_MAX (it would wrap to another pid_t). */
static const int64_t bad_pids[] = { 0, -1, (int64_t)INT32_MAX + 1, INT64_MAX };

START_TEST(test_command_rejects_bad_pid)
{
	struct wire_command in = { .id = 1, .action = wire_str_c("kill"),
				   .pid = bad_pids[_i], .signal = 9 }, out;
	const msgpack_object *root;
	msgpack_unpacked up;
	struct packbuf b;
	int type;

	pb_init(&b);
	wire_pack_command(&b.pk, &in);
	ck_assert_int_eq(decode(&b, &up, &root, &type), 0);
	ck_assert_int_eq(wire_unpack_command(root, &out), -EBADMSG);
	msgpack_unpacked_destroy(&up);
	pb_fini(&b);
}
END_TEST

START_TEST(test_goodbye_roundtrip)
{
	struct wire_goodbye in = { .reason = wire_str_c("done"), .exit_status = -3 }, out;
	const msgpack_object *root;
	msgpack_unpacked up;
	struct packbuf b;
	int type;

	pb_init(&b);
	wire_pack_goodbye(&b.pk, &in);
	ck_assert_int_eq(decode(&b, &up, &root, &type), 0);
	ck_assert_int_eq(type, WIRE_GOODBYE);
	ck_assert_int_eq(wire_unpack_goodbye(root, &out), 0);
	ck_assert(ws_eq(out.reason, "done"));
	ck_assert_int_eq(out.exit_status, -3);
	msgpack_unpacked_destroy(&up);
	pb_fini(&b);
}
END_TEST

START_TEST(test_events_roundtrip)
{
	const msgpack_object *root, *evs, *ev, *argv;
	msgpack_unpacked up;
	struct packbuf b;
	struct wire_str s;
	int64_t i64;
	uint64_t u64;
	bool bv;
	int type;

	pb_init(&b);
	msgpack_pack_map(&b.pk, 2);
	wire_pack_kv_u64(&b.pk, "type", WIRE_EVENTS);
	wire_pack_str(&b.pk, "events");
	msgpack_pack_array(&b.pk, 2);
	msgpack_pack_map(&b.pk, 6);
	wire_pack_kv_str(&b.pk, "ev", "exec");
	wire_pack_kv_u64(&b.pk, "ts", 1700000000123456789ull);
	wire_pack_kv_i64(&b.pk, "pid", 100);
	wire_pack_kv_i64(&b.pk, "ret", 0);
	wire_pack_kv_str(&b.pk, "file", "/bin/true");
	wire_pack_str(&b.pk, "argv");
	msgpack_pack_array(&b.pk, 1);
	wire_pack_str(&b.pk, "true");
	msgpack_pack_map(&b.pk, 4);
	wire_pack_kv_str(&b.pk, "ev", "open");
	wire_pack_kv_i64(&b.pk, "ret", -2);
	wire_pack_kv_bool(&b.pk, "compat", true);
	wire_pack_kv_strn(&b.pk, "path", "/a\0b", 4);

	ck_assert_int_eq(decode(&b, &up, &root, &type), 0);
	ck_assert_int_eq(type, WIRE_EVENTS);
	evs = wire_map_get(root, "events");
	ck_assert_ptr_nonnull(evs);
	ck_assert_int_eq(evs->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(evs->via.array.size, 2);
	ev = &evs->via.array.ptr[0];
	ck_assert(wire_map_str(ev, "ev", &s) && ws_eq(s, "exec"));
	ck_assert(wire_map_u64(ev, "ts", &u64) && u64 == 1700000000123456789ull);
	ck_assert(wire_map_i64(ev, "pid", &i64) && i64 == 100);
	argv = wire_map_get(ev, "argv");
	ck_assert(argv && argv->type == MSGPACK_OBJECT_ARRAY && argv->via.array.size == 1);
	ev = &evs->via.array.ptr[1];
	ck_assert(wire_map_i64(ev, "ret", &i64) && i64 == -2);
	ck_assert(!wire_map_u64(ev, "ret", &u64));
	ck_assert(wire_map_bool(ev, "compat", &bv) && bv);
	ck_assert(wire_map_str(ev, "path", &s) && s.len == 4 && memcmp(s.ptr, "/a\0b", 4) == 0);
	ck_assert(!wire_map_str(ev, "missing", &s));
	msgpack_unpacked_destroy(&up);
	pb_fini(&b);
}
END_TEST

START_TEST(test_stats_roundtrip)
{
	const msgpack_object *root, *counters, *dropped;
	msgpack_unpacked up;
	struct packbuf b;
	uint64_t v;
	int type;

	pb_init(&b);
	msgpack_pack_map(&b.pk, 3);
	wire_pack_kv_u64(&b.pk, "type", WIRE_STATS);
	wire_pack_str(&b.pk, "counters");
	msgpack_pack_map(&b.pk, 2);
	wire_pack_kv_u64(&b.pk, "events_sent", 12);
	wire_pack_kv_u64(&b.pk, "tracees", UINT64_MAX);
	wire_pack_str(&b.pk, "dropped");
	msgpack_pack_map(&b.pk, 1);
	wire_pack_kv_u64(&b.pk, "open", 3);

	ck_assert_int_eq(decode(&b, &up, &root, &type), 0);
	ck_assert_int_eq(type, WIRE_STATS);
	counters = wire_map_get(root, "counters");
	dropped = wire_map_get(root, "dropped");
	ck_assert(wire_map_u64(counters, "events_sent", &v) && v == 12);
	ck_assert(wire_map_u64(counters, "tracees", &v) && v == UINT64_MAX);
	ck_assert(wire_map_u64(dropped, "open", &v) && v == 3);
	msgpack_unpacked_destroy(&up);
	pb_fini(&b);
}
END_TEST

START_TEST(test_unknown_type_decodes)
{
	const msgpack_object *root;
	msgpack_unpacked up;
	struct packbuf b;
	int type;

	pb_init(&b);
	msgpack_pack_map(&b.pk, 2);
	wire_pack_kv_u64(&b.pk, "type", 99);
	wire_pack_kv_str(&b.pk, "future", "x");
	ck_assert_int_eq(decode(&b, &up, &root, &type), 0);
	ck_assert_int_eq(type, 99);
	ck_assert_str_eq(wire_type_name(type), "UNKNOWN");
	ck_assert_str_eq(wire_type_name(WIRE_STATS), "STATS");
	msgpack_unpacked_destroy(&up);
	pb_fini(&b);
}
END_TEST

/* ---- frame reader ---- */

/* Three frames of different sizes, packed back to back. */
static void make_stream(msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	size_t start;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	for (int i = 0; i < 3; i++) {
		start = frame_begin(sb);
		msgpack_pack_map(&pk, 2);
		wire_pack_kv_u64(&pk, "type", WIRE_STATS);
		wire_pack_str(&pk, "pad");
		msgpack_pack_array(&pk, (size_t)(i * 40));
		for (int k = 0; k < i * 40; k++)
			msgpack_pack_int(&pk, k);
		frame_end(sb, start);
	}
}

/* Feeds data into r in pieces of at most step bytes; counts frames. */
static int feed(struct frame_reader *r, const char *data, size_t len, size_t step,
		size_t *ret_bytes)
{
	size_t off = 0, bytes = 0;
	int frames = 0;

	while (off < len) {
		const char *payload;
		uint32_t plen;
		char *ptr;
		size_t room, n;

		ck_assert_int_eq(frame_reader_reserve(r, &ptr, &room), 0);
		ck_assert_uint_gt(room, 0);
		n = len - off < step ? len - off : step;
		if (n > room)
			n = room;
		memcpy(ptr, data + off, n);
		frame_reader_commit(r, n);
		off += n;
		for (;;) {
			int k = frame_reader_next(r, &payload, &plen);

			ck_assert_int_ge(k, 0);
			if (k == 0)
				break;
			ck_assert_int_eq(wire_validate(payload, plen), 0);
			frames++;
			bytes += plen + WIRE_FRAME_HEADER;
		}
	}
	*ret_bytes = bytes;
	return frames;
}

START_TEST(test_frame_split_every_byte)
{
	msgpack_sbuffer sb;
	size_t bytes;

	make_stream(&sb);
	/* Cut once at every position, and also feed a byte at a time. */
	for (size_t cut = 0; cut <= sb.size; cut++) {
		struct frame_reader r;
		size_t b1 = 0, b2 = 0;
		int n;

		frame_reader_init(&r, WIRE_FRAME_MAX);
		n = feed(&r, sb.data, cut, sb.size, &b1);
		n += feed(&r, sb.data + cut, sb.size - cut, sb.size, &b2);
		ck_assert_int_eq(n, 3);
		ck_assert_uint_eq(b1 + b2, sb.size);
		ck_assert_uint_eq(r.len - r.off, 0);
		frame_reader_free(&r);
	}
	for (size_t step = 1; step <= 7; step++) {
		struct frame_reader r;

		frame_reader_init(&r, WIRE_FRAME_MAX);
		ck_assert_int_eq(feed(&r, sb.data, sb.size, step, &bytes), 3);
		ck_assert_uint_eq(bytes, sb.size);
		frame_reader_free(&r);
	}
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_frame_two_in_one_read)
{
	static const char data[] = {
		0, 0, 0, 1, (char)0xc0,
		0, 0, 0, 2, (char)0x91, 0x01,
	};
	struct frame_reader r;
	const char *p;
	uint32_t len;
	char *ptr;
	size_t room;

	frame_reader_init(&r, WIRE_FRAME_MAX);
	ck_assert_int_eq(frame_reader_reserve(&r, &ptr, &room), 0);
	memcpy(ptr, data, sizeof(data));
	frame_reader_commit(&r, sizeof(data));
	ck_assert_int_eq(frame_reader_next(&r, &p, &len), 1);
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq((unsigned char)p[0], 0xc0);
	ck_assert_int_eq(frame_reader_next(&r, &p, &len), 1);
	ck_assert_uint_eq(len, 2);
	ck_assert_int_eq((unsigned char)p[0], 0x91);
	ck_assert_int_eq(frame_reader_next(&r, &p, &len), 0);
	frame_reader_free(&r);
}
END_TEST

START_TEST(test_frame_truncated)
{
	static const char data[] = { 0, 0, 0, 3, (char)0x92, 0x01 };
	struct frame_reader r;
	const char *p;
	uint32_t len;
	char *ptr;
	size_t room;

	frame_reader_init(&r, WIRE_FRAME_MAX);
	/* Header alone, then header plus a partial payload. */
	for (size_t n = 0; n <= sizeof(data); n++) {
		ck_assert_int_eq(frame_reader_reserve(&r, &ptr, &room), 0);
		if (n > 0) {
			memcpy(ptr, data + n - 1, 1);
			frame_reader_commit(&r, 1);
		}
		ck_assert_int_eq(frame_reader_next(&r, &p, &len), 0);
	}
	ck_assert_int_eq(frame_reader_reserve(&r, &ptr, &room), 0);
	ptr[0] = 0x02;
	frame_reader_commit(&r, 1);
	ck_assert_int_eq(frame_reader_next(&r, &p, &len), 1);
	ck_assert_uint_eq(len, 3);
	frame_reader_free(&r);
}
END_TEST

START_TEST(test_frame_oversize)
{
	struct frame_reader r;
	uint8_t hdr[WIRE_FRAME_HEADER];
	const char *p;
	uint32_t len;
	char *ptr;
	size_t room;

	frame_reader_init(&r, WIRE_FRAME_MAX);
	wire_put_len(hdr, WIRE_FRAME_MAX + 1);
	ck_assert_int_eq(frame_reader_reserve(&r, &ptr, &room), 0);
	memcpy(ptr, hdr, sizeof(hdr));
	frame_reader_commit(&r, sizeof(hdr));
	ck_assert_int_eq(frame_reader_next(&r, &p, &len), -EMSGSIZE);
	frame_reader_free(&r);

	/* The largest legal length is only "need more". */
	frame_reader_init(&r, WIRE_FRAME_MAX);
	wire_put_len(hdr, WIRE_FRAME_MAX);
	ck_assert_int_eq(frame_reader_reserve(&r, &ptr, &room), 0);
	memcpy(ptr, hdr, sizeof(hdr));
	frame_reader_commit(&r, sizeof(hdr));
	ck_assert_int_eq(frame_reader_next(&r, &p, &len), 0);
	frame_reader_free(&r);

	frame_reader_init(&r, WIRE_FRAME_MAX);
	wire_put_len(hdr, UINT32_MAX);
	ck_assert_int_eq(frame_reader_reserve(&r, &ptr, &room), 0);
	memcpy(ptr, hdr, sizeof(hdr));
	frame_reader_commit(&r, sizeof(hdr));
	ck_assert_int_eq(frame_reader_next(&r, &p, &len), -EMSGSIZE);
	frame_reader_free(&r);
}
END_TEST

START_TEST(test_frame_zero_length)
{
	static const char data[] = { 0, 0, 0, 0 };
	struct frame_reader r;
	const char *p;
	uint32_t len;
	char *ptr;
	size_t room;

	frame_reader_init(&r, WIRE_FRAME_MAX);
	ck_assert_int_eq(frame_reader_reserve(&r, &ptr, &room), 0);
	memcpy(ptr, data, sizeof(data));
	frame_reader_commit(&r, sizeof(data));
	ck_assert_int_eq(frame_reader_next(&r, &p, &len), -EBADMSG);
	frame_reader_free(&r);
}
END_TEST

START_TEST(test_frame_header_helpers)
{
	uint8_t hdr[WIRE_FRAME_HEADER];
	msgpack_sbuffer sb;
	size_t start;

	wire_put_len(hdr, 0x01020304);
	ck_assert_int_eq(hdr[0], 1);
	ck_assert_int_eq(hdr[3], 4);
	ck_assert_uint_eq(wire_get_len(hdr), 0x01020304);
	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_write(&sb, "xy", 2);
	start = frame_begin(&sb);
	ck_assert_uint_eq(start, 2);
	msgpack_sbuffer_write(&sb, "abc", 3);
	frame_end(&sb, start);
	ck_assert_uint_eq(wire_get_len((const uint8_t *)sb.data + 2), 3);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* ---- hostile payloads ---- */

struct bad_case {
	const char *name;
	const char *data;
	size_t len;
};

#define BAD(n, s) { n, s, sizeof(s) - 1 }
static const struct bad_case bad_cases[] = {
	BAD("nil", "\xc0"),
	BAD("positive int", "\x05"),
	BAD("array", "\x91\x01"),
	BAD("string", "\xa3" "abc"),
	BAD("empty map", "\x80"),
	BAD("map without type", "\x81\xa1" "a\x01"),
	BAD("type is a string", "\x81\xa4" "type\xa1" "1"),
	BAD("type is negative", "\x81\xa4" "type\xff"),
	BAD("type is zero", "\x81\xa4" "type\x00"),
	BAD("type too large", "\x81\xa4" "type\xcf\x01\x00\x00\x00\x00\x00\x00\x00"),
	BAD("trailing bytes", "\x81\xa4" "type\x03\xc0"),
	BAD("two values", "\x81\xa4" "type\x03\x81\xa4" "type\x03"),
	BAD("array of 4 billion", "\xdd\xff\xff\xff\xff"),
	BAD("map of 4 billion", "\xdf\xff\xff\xff\xff"),
	BAD("str32 of 4 billion", "\xdb\xff\xff\xff\xff"),
	BAD("bin32 of 4 billion", "\xc6\xff\xff\xff\xff"),
	BAD("ext32 of 4 billion", "\xc9\xff\xff\xff\xff\x01"),
	BAD("truncated str", "\x81\xa4" "type\xa5" "ab"),
	BAD("truncated uint64", "\x81\xa4" "type\xcf\x00\x00"),
	BAD("truncated map", "\x82\xa4" "type\x03"),
	BAD("reserved 0xc1", "\x81\xa4" "type\xc1"),
	BAD("missing str8 length", "\xd9"),
	BAD("map16 claims too much", "\xde\x00\x10\xa4" "type\x03"),
};

START_TEST(test_decode_rejects)
{
	const struct bad_case *c = &bad_cases[_i];
	const msgpack_object *root;
	msgpack_unpacked up;
	int type;

	msgpack_unpacked_init(&up);
	ck_assert_msg(wire_decode(c->data, c->len, &up, &root, &type) == -EBADMSG,
		      "case '%s' was accepted", c->name);
	msgpack_unpacked_destroy(&up);
}
END_TEST

/* depth nested one-element arrays around a map {"type":3}. */
static void pack_nested(struct packbuf *b, int depth)
{
	msgpack_pack_map(&b->pk, 2);
	wire_pack_kv_u64(&b->pk, "type", WIRE_EVENTS);
	wire_pack_str(&b->pk, "deep");
	for (int i = 0; i < depth; i++)
		msgpack_pack_array(&b->pk, 1);
	msgpack_pack_nil(&b->pk);
}

START_TEST(test_decode_deep_nesting)
{
	const msgpack_object *root;
	msgpack_unpacked up;
	struct packbuf b;
	int type;

	/* 1 map + 40 arrays. */
	pb_init(&b);
	pack_nested(&b, 40);
	ck_assert_int_eq(wire_validate(b.sb.data, b.sb.size), -EBADMSG);
	msgpack_unpacked_init(&up);
	ck_assert_int_eq(wire_decode(b.sb.data, b.sb.size, &up, &root, &type), -EBADMSG);
	msgpack_unpacked_destroy(&up);
	pb_fini(&b);

	/* 32 containers in all is the documented limit and is accepted. */
	pb_init(&b);
	pack_nested(&b, 31);
	ck_assert_int_eq(wire_validate(b.sb.data, b.sb.size), 0);
	msgpack_unpacked_init(&up);
	ck_assert_int_eq(wire_decode(b.sb.data, b.sb.size, &up, &root, &type), 0);
	msgpack_unpacked_destroy(&up);
	pb_fini(&b);

	/* 33 is one too many, for us and for msgpack-c alike. */
	pb_init(&b);
	pack_nested(&b, 32);
	ck_assert_int_eq(wire_validate(b.sb.data, b.sb.size), -EBADMSG);
	pb_fini(&b);
}
END_TEST

/* What msgpack-c thinks: exactly one value that fills the buffer. */
static bool msgpack_c_accepts(const char *data, size_t len)
{
	msgpack_unpacked up;
	size_t off = 0;
	bool ok;

	msgpack_unpacked_init(&up);
	ok = msgpack_unpack_next(&up, data, len, &off) == MSGPACK_UNPACK_SUCCESS &&
	     off == len;
	msgpack_unpacked_destroy(&up);
	return ok;
}

/* A random value of bounded size and depth, packed by msgpack-c. */
static void pack_random(msgpack_packer *pk, unsigned *seed, int depth)
{
	int kind = rand_r(seed) % (depth >= 6 ? 9 : 11);
	char bytes[300];
	uint32_t n;

	switch (kind) {
	case 0: msgpack_pack_nil(pk); break;
	case 1: msgpack_pack_true(pk); break;
	case 2: msgpack_pack_int64(pk, -(int64_t)rand_r(seed) * rand_r(seed)); break;
	case 3: msgpack_pack_uint64(pk, (uint64_t)rand_r(seed) << (rand_r(seed) % 33)); break;
	case 4: msgpack_pack_double(pk, rand_r(seed) / 7.0); break;
	case 5: msgpack_pack_float(pk, (float)rand_r(seed)); break;
	case 6:
		n = (uint32_t)(rand_r(seed) % 300);
		memset(bytes, 'a' + rand_r(seed) % 26, n);
		wire_pack_strn(pk, bytes, n);
		break;
	case 7:
		n = (uint32_t)(rand_r(seed) % 300);
		memset(bytes, rand_r(seed), n);
		msgpack_pack_bin(pk, n);
		msgpack_pack_bin_body(pk, bytes, n);
		break;
	case 8: {
		static const uint32_t sizes[] = { 1, 2, 4, 8, 16, 3, 0, 20, 255, 256 };

		n = sizes[rand_r(seed) % 10];
		memset(bytes, 7, n);
		msgpack_pack_ext(pk, n, (int8_t)(rand_r(seed) % 128));
		msgpack_pack_ext_body(pk, bytes, n);
		break;
	}
	case 9:
		n = (uint32_t)(rand_r(seed) % 20);
		if (rand_r(seed) % 8 == 0)
			n += 20;
		msgpack_pack_array(pk, n);
		for (uint32_t i = 0; i < n; i++)
			pack_random(pk, seed, depth + 1);
		break;
	default:
		n = (uint32_t)(rand_r(seed) % 18);
		msgpack_pack_map(pk, n);
		for (uint32_t i = 0; i < n; i++) {
			pack_random(pk, seed, depth + 1);
			pack_random(pk, seed, depth + 1);
		}
		break;
	}
}

START_TEST(test_validate_agrees_with_msgpack_c)
{
	unsigned seed = 12345;

	for (int i = 0; i < 2000; i++) {
		struct packbuf b;

		pb_init(&b);
		pack_random(&b.pk, &seed, 0);
		ck_assert_msg(msgpack_c_accepts(b.sb.data, b.sb.size),
			      "msgpack-c rejects its own output (case %d)", i);
		ck_assert_msg(wire_validate(b.sb.data, b.sb.size) == 0,
			      "valid value rejected (case %d, %zu bytes)", i, b.sb.size);
		/* Every strict prefix is incomplete for both. */
		if (b.sb.size > 1) {
			size_t cut = (size_t)rand_r(&seed) % (b.sb.size - 1) + 1;

			ck_assert_int_eq(wire_validate(b.sb.data, cut), -EBADMSG);
		}
		pb_fini(&b);
	}
	/* The depth limit matches msgpack-c's own, on both sides of it. */
	for (int depth = 28; depth <= 36; depth++) {
		struct packbuf b;

		pb_init(&b);
		for (int k = 0; k < depth; k++)
			msgpack_pack_array(&b.pk, 1);
		msgpack_pack_map(&b.pk, 0);
		ck_assert_msg((wire_validate(b.sb.data, b.sb.size) == 0) ==
			      msgpack_c_accepts(b.sb.data, b.sb.size),
			      "disagreement at %d nested containers", depth + 1);
		pb_fini(&b);
	}
}
END_TEST

START_TEST(test_random_bytes_never_crash)
{
	unsigned seed = 20261123;
	char buf[512];

	for (int i = 0; i < 5000; i++) {
		const msgpack_object *root;
		msgpack_unpacked up;
		size_t len = (size_t)(rand_r(&seed) % (int)sizeof(buf)) + 1;
		int type = 0, r;

		for (size_t k = 0; k < len; k++)
			buf[k] = (char)rand_r(&seed);
		/* Some cases start like a real message, to get past the top. */
		if (i % 3 == 0 && len > 6)
			memcpy(buf, "\x82\xa4type\x03", 6 < len ? 6 : len);
		msgpack_unpacked_init(&up);
		r = wire_decode(buf, len, &up, &root, &type);
		ck_assert_msg(r == 0 || r == -EBADMSG, "case %d returned %d", i, r);
		if (r == 0) {
			ck_assert_int_eq(root->type, MSGPACK_OBJECT_MAP);
			ck_assert_int_gt(type, 0);
		}
		/* Whatever validate accepts, msgpack-c must accept too. */
		if (wire_validate(buf, len) == 0)
			ck_assert(msgpack_c_accepts(buf, len));
		msgpack_unpacked_destroy(&up);
	}
}
END_TEST

START_TEST(test_mutated_messages)
{
	unsigned seed = 7;
	struct wire_hello h = {
		.version = 1, .tracer_version = wire_str_c("0.1.0"),
		.mode = wire_str_c("wrapped"), .hostname = wire_str_c("h"),
		.argc = 2, .argv = { wire_str_c("a"), wire_str_c("b") },
	};
	struct packbuf b;

	pb_init(&b);
	wire_pack_hello(&b.pk, &h);
	for (int i = 0; i < 3000; i++) {
		char *copy = malloc(b.sb.size);
		const msgpack_object *root;
		msgpack_unpacked up;
		struct wire_hello out;
		int type, r;

		memcpy(copy, b.sb.data, b.sb.size);
		for (int k = 0; k < 1 + i % 4; k++)
			copy[(size_t)rand_r(&seed) % b.sb.size] = (char)rand_r(&seed);
		msgpack_unpacked_init(&up);
		r = wire_decode(copy, b.sb.size, &up, &root, &type);
		ck_assert(r == 0 || r == -EBADMSG);
		if (r == 0 && type == WIRE_HELLO) {
			r = wire_unpack_hello(root, &out);
			ck_assert(r == 0 || r == -EBADMSG);
			if (r == 0)
				ck_assert_uint_le(out.argc, WIRE_HELLO_ARGV);
		}
		msgpack_unpacked_destroy(&up);
		free(copy);
	}
	pb_fini(&b);
}
END_TEST

/* ---- SHA-256 and HMAC-SHA256 (FIPS 180-4 and RFC 4231 test vectors) ---- */

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static const struct {
	const char *key, *data, *mac;
	size_t key_len;             /* 0: strlen(key) */
} hmac_cases[] = {
	/* RFC 4231 case 2 */
	{ "Jefe", "what do ya want for nothing?",
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 0 },
	/* RFC 4231 case 1: 20 bytes of 0x0b */
	{ "\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b",
	  "Hi There",
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 0 },
	/* RFC 4231 case 6: a key longer than a block is hashed first */
	{ NULL, "Test Using Larger Than Block-Size Key - Hash Key First",
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 131 },
};

START_TEST(test_sha256_vectors)
{
	static const char *const in[] = { "", "abc",
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq" };
	static const char *const want[] = {
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	};
	uint8_t out[SHA256_LEN];
	char h[2 * SHA256_LEN + 1], thousand[1000];
	struct sha256 s;

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		sha256_init(&s);
		/* Byte by byte as well as at once: the block logic is the same. */
		for (const char *p = in[i]; *p; p++)
			sha256_update(&s, p, 1);
		sha256_final(&s, out);
		hex(out, sizeof(out), h);
		ck_assert_str_eq(h, want[i]);
	}
	/* A million 'a's crosses many blocks. */
	memset(thousand, 'a', sizeof(thousand));
	sha256_init(&s);
	for (int i = 0; i < 1000; i++)
		sha256_update(&s, thousand, sizeof(thousand));
	sha256_final(&s, out);
	hex(out, sizeof(out), h);
	ck_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

START_TEST(test_hmac_sha256_vectors)
{
	uint8_t key[131], out[SHA256_LEN];
	char h[2 * SHA256_LEN + 1];
	struct hmac_sha256 m;
	const char *k = hmac_cases[_i].key;
	size_t klen = hmac_cases[_i].key_len ? hmac_cases[_i].key_len : strlen(k);

	if (!k) {
		memset(key, 0xaa, sizeof(key));
		k = (const char *)key;
	}
	hmac_sha256_init(&m, k, klen);
	hmac_sha256_update(&m, hmac_cases[_i].data, strlen(hmac_cases[_i].data));
	hmac_sha256_final(&m, out);
	hex(out, sizeof(out), h);
	ck_assert_str_eq(h, hmac_cases[_i].mac);
}
END_TEST

START_TEST(test_auth_proof_binds_everything)
{
	static const uint8_t nt[WIRE_SECRET_LEN] = { 1 }, np[WIRE_SECRET_LEN] = { 2 };
	struct wire_hello h = {
		.hostname = wire_str_c("box"), .pidns = 7, .tracer_pid = 99,
		.nonce = { (const char *)nt, sizeof(nt) },
	}, h2;
	struct wire_str pn = { (const char *)np, sizeof(np) };
	uint8_t a[WIRE_SECRET_LEN], b[WIRE_SECRET_LEN];

	wire_auth_proof("tok", 3, WIRE_ROLE_PROBE, &h, pn, a);
	wire_auth_proof("tok", 3, WIRE_ROLE_PROBE, &h, pn, b);
	ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
	wire_auth_proof("tok", 3, WIRE_ROLE_TRACER, &h, pn, b);
	ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
	wire_auth_proof("toK", 3, WIRE_ROLE_PROBE, &h, pn, b);
	ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
	h2 = h;
	h2.tracer_pid = 98;
	wire_auth_proof("tok", 3, WIRE_ROLE_PROBE, &h2, pn, b);
	ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
	h2 = h;
	h2.hostname = wire_str_c("boy");
	wire_auth_proof("tok", 3, WIRE_ROLE_PROBE, &h2, pn, b);
	ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
	/* The nonces swapped are another input. */
	h2 = h;
	h2.nonce = pn;
	wire_auth_proof("tok", 3, WIRE_ROLE_PROBE, &h2, h.nonce, b);
	ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
	ck_assert(mem_equal_ct(a, a, sizeof(a)));
	ck_assert(!mem_equal_ct(a, b, sizeof(a)));
}
END_TEST

/* ---- environment keep lists (envkeep.h) ---- */

static const struct {
	const char *keep;       /* env_keep_add() list */
	const char *in;         /* one environment string */
	const char *out;        /* what is reported */
} env_cases[] = {
	{ "", "SECRET_TOKEN=hunter2", "SECRET_TOKEN" },
	{ "PATH", "SECRET_TOKEN=hunter2", "SECRET_TOKEN" },
	{ "PATH", "PATH=/bin", "PATH=/bin" },
	{ "PATH", "PATHX=/bin", "PATHX" },       /* exact names */
	{ "PATHX", "PATH=/bin", "PATH" },
	{ "LC_*", "LC_ALL=C", "LC_ALL=C" },      /* a prefix */
	{ "LC_*", "LANG=C", "LANG" },
	{ "*", "ANY=thing", "ANY=thing" },
	{ "A,,B", "B=1", "B=1" },                /* empty items skipped */
	{ "", "NOEQUALS", "NOEQUALS" },          /* nothing to cut */
	{ "", "EMPTY=", "EMPTY" },
	{ "", "=value", "" },                    /* no name: nothing of it */
	{ "", "A=b=c", "A" },                    /* the first '=' ends the name */
	{ ENV_KEEP_DEFAULT, "LD_PRELOAD=/tmp/x.so", "LD_PRELOAD=/tmp/x.so" },
	{ ENV_KEEP_DEFAULT, "AWS_SECRET_ACCESS_KEY=x", "AWS_SECRET_ACCESS_KEY" },
};

START_TEST(test_env_keep_cut)
{
	struct env_keep k = { .n = 0 };
	size_t len = strlen(env_cases[_i].in);

	ck_assert_int_eq(env_keep_add(&k, env_cases[_i].keep), 0);
	len = env_keep_cut(&k, env_cases[_i].in, len);
	ck_assert_uint_eq(len, strlen(env_cases[_i].out));
	ck_assert(memcmp(env_cases[_i].in, env_cases[_i].out, len) == 0);
	env_keep_clear(&k);
}
END_TEST

START_TEST(test_env_keep_rejects)
{
	static const char *const bad[] = { "A=B", "SECRET TOKEN", "A*B", "**", "A-B" };
	struct env_keep k = { .n = 0 };
	char name[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(env_keep_add(&k, bad[i]), -EINVAL);
	for (int i = 0; i < ENV_KEEP_MAX; i++) {
		snprintf(name, sizeof(name), "V%d", i);
		ck_assert_int_eq(env_keep_add(&k, name), 0);
	}
	ck_assert_int_eq(env_keep_add(&k, "V0"), 0);  /* a duplicate: no room taken */
	ck_assert_int_eq(env_keep_add(&k, "ONE_TOO_MANY"), -E2BIG);
	env_keep_clear(&k);
	ck_assert_uint_eq(k.n, 0);
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc;

	tc = tcase_create("hello");
	tcase_add_test(tc, test_hello_roundtrip);
	tcase_add_test(tc, test_hello_argv_bounded);
	suite_add_tcase(s, tc);
	tc = tcase_create("hmac");
	tcase_add_test(tc, test_sha256_vectors);
	tcase_add_loop_test(tc, test_hmac_sha256_vectors, 0,
			    (int)(sizeof(hmac_cases) / sizeof(hmac_cases[0])));
	tcase_add_test(tc, test_auth_proof_binds_everything);
	suite_add_tcase(s, tc);
	tc = tcase_create("hello_ack");
	tcase_add_test(tc, test_hello_ack_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("command");
	tcase_add_test(tc, test_command_roundtrip);
	tcase_add_loop_test(tc, test_command_rejects_bad_pid, 0,
			    (int)(sizeof(bad_pids) / sizeof(bad_pids[0])));
	suite_add_tcase(s, tc);
	tc = tcase_create("goodbye");
	tcase_add_test(tc, test_goodbye_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("events");
	tcase_add_test(tc, test_events_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("stats");
	tcase_add_test(tc, test_stats_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("unknown_type");
	tcase_add_test(tc, test_unknown_type_decodes);
	suite_add_tcase(s, tc);

	tc = tcase_create("frame_split");
	tcase_add_test(tc, test_frame_split_every_byte);
	suite_add_tcase(s, tc);
	tc = tcase_create("frame_two_in_one_read");
	tcase_add_test(tc, test_frame_two_in_one_read);
	suite_add_tcase(s, tc);
	tc = tcase_create("frame_truncated");
	tcase_add_test(tc, test_frame_truncated);
	suite_add_tcase(s, tc);
	tc = tcase_create("frame_oversize");
	tcase_add_test(tc, test_frame_oversize);
	suite_add_tcase(s, tc);
	tc = tcase_create("frame_zero_length");
	tcase_add_test(tc, test_frame_zero_length);
	suite_add_tcase(s, tc);
	tc = tcase_create("frame_header");
	tcase_add_test(tc, test_frame_header_helpers);
	suite_add_tcase(s, tc);

	tc = tcase_create("decode_rejects");
	tcase_add_loop_test(tc, test_decode_rejects, 0, (int)(sizeof(bad_cases) /
							     sizeof(bad_cases[0])));
	suite_add_tcase(s, tc);
	tc = tcase_create("deep_nesting");
	tcase_add_test(tc, test_decode_deep_nesting);
	suite_add_tcase(s, tc);
	tc = tcase_create("validate_agrees");
	tcase_add_test(tc, test_validate_agrees_with_msgpack_c);
	suite_add_tcase(s, tc);
	tc = tcase_create("random_bytes");
	tcase_add_test(tc, test_random_bytes_never_crash);
	suite_add_tcase(s, tc);
	tc = tcase_create("mutated_messages");
	tcase_add_test(tc, test_mutated_messages);
	suite_add_tcase(s, tc);
	tc = tcase_create("env_keep");
	tcase_add_loop_test(tc, test_env_keep_cut, 0,
			    (int)(sizeof(env_cases) / sizeof(env_cases[0])));
	tcase_add_test(tc, test_env_keep_rejects);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wire_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
