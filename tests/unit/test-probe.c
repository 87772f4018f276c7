/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the probe's pieces that need no socket: the JSON writer,
 * the text view helpers, the process table, a session fed frame by frame,
 * and the configuration loader.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <msgpack.h>

#include "sentrace/wire.h"
#include "frame.h"
#include "json.h"
#include "lifealert.h"
#include "output.h"
#include "probe-config.h"
#include "proctable.h"
#include "session.h"
#include "textfmt.h"
#include "util.h"

/* ---- JSON writer ---- */

static char *json_of(const char *s, size_t len)
{
	struct json j;
	char *out;

	json_init(&j);
	json_strn(&j, s, len);
	out = strdup(json_data(&j));
	json_fini(&j);
	return out;
}

static const struct {
	const char *in;
	size_t len;
	const char *out;
} escapes[] = {
	{ "plain", 5, "\"plain\"" },
	{ "", 0, "\"\"" },
	{ "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
	{ "\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"" },
	{ "\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"" },
	{ "a\0b", 3, "\"a\\u0000b\"" },
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
	  "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"" },
	{ "\x80", 1, "\"\\u0080\"" },                 /* lone continuation */
	{ "\xff\xfe", 2, "\"\\u00ff\\u00fe\"" },
	{ "\xc0\xaf", 2, "\"\\u00c0\\u00af\"" },      /* overlong '/' */
	{ "\xe0\x80\xaf", 3, "\"\\u00e0\\u0080\\u00af\"" },
	{ "\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\"" }, /* surrogate */
	{ "\xf4\x90\x80\x80", 4, "\"\\u00f4\\u0090\\u0080\\u0080\"" },
	{ "x\xe2\x82", 3, "\"x\\u00e2\\u0082\"" },    /* cut sequence */
	{ "\xc3\xa9\xc3", 3, "\"\xc3\xa9\\u00c3\"" },
};

START_TEST(test_json_escape)
{
	char *got = json_of(escapes[_i].in, escapes[_i].len);

	ck_assert_str_eq(got, escapes[_i].out);
	free(got);
}
END_TEST

START_TEST(test_json_structure)
{
	struct json j;

	json_init(&j);
	json_object_begin(&j);
	json_kv_str(&j, "a", "x");
	json_key(&j, "b");
	json_array_begin(&j);
	json_int(&j, -1);
	json_uint(&j, UINT64_MAX);
	json_bool(&j, true);
	json_null(&j);
	json_object_begin(&j);
	json_object_end(&j);
	json_array_begin(&j);
	json_array_end(&j);
	json_array_end(&j);
	json_key(&j, "c");
	json_double(&j, 0.5);
	json_key(&j, "d");
	json_raw(&j, "{\"r\":1}", 7);
	json_object_end(&j);
	ck_assert_str_eq(json_data(&j),
			 "{\"a\":\"x\",\"b\":[-1,18446744073709551615,true,null,{},[]],"
			 "\"c\":0.5,\"d\":{\"r\":1}}");
	json_reset(&j);
	json_str(&j, NULL);
	ck_assert_str_eq(json_data(&j), "null");
	json_fini(&j);
}
END_TEST

START_TEST(test_json_base64)
{
	static const char *const want[] = {
		"\"\"", "\"Zg==\"", "\"Zm8=\"", "\"Zm9v\"", "\"Zm9vYg==\"",
		"\"Zm9vYmE=\"", "\"Zm9vYmFy\"",
	};
	struct json j;

	json_init(&j);
	for (size_t n = 0; n <= 6; n++) {
		json_reset(&j);
		json_base64(&j, "foobar", n);
		ck_assert_str_eq(json_data(&j), want[n]);
	}
	json_fini(&j);
}
END_TEST

START_TEST(test_json_msgpack)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	size_t off = 0;
	struct json j;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 8);
	wire_pack_kv_i64(&pk, "neg", -5);
	wire_pack_kv_bool(&pk, "f", false);
	wire_pack_str(&pk, "bin");
	msgpack_pack_bin(&pk, 3);
	msgpack_pack_bin_body(&pk, "\x00\xff\x10", 3);
	wire_pack_str(&pk, "nil");
	msgpack_pack_nil(&pk);
	wire_pack_str(&pk, "arr");
	msgpack_pack_array(&pk, 2);
	wire_pack_str(&pk, "q\"");
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_u64(&pk, "n", 1);
	msgpack_pack_int(&pk, 7);          /* a key that is not a string */
	wire_pack_str(&pk, "seven");
	wire_pack_str(&pk, "ext");
	msgpack_pack_ext(&pk, 1, 4);
	msgpack_pack_ext_body(&pk, "A", 1);
	wire_pack_str(&pk, "dbl");
	msgpack_pack_double(&pk, 1.0 / 0.0);
	msgpack_unpacked_init(&up);
	ck_assert_int_eq(msgpack_unpack_next(&up, sb.data, sb.size, &off),
			 MSGPACK_UNPACK_SUCCESS);
	json_init(&j);
	json_msgpack(&j, &up.data);
	ck_assert_str_eq(json_data(&j),
			 "{\"neg\":-5,\"f\":false,\"bin\":\"AP8Q\",\"nil\":null,"
			 "\"arr\":[\"q\\\"\",{\"n\":1}],\"7\":\"seven\","
			 "\"ext\":{\"ext\":4,\"data\":\"QQ==\"},\"dbl\":null}");
	json_fini(&j);
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* ---- text view ---- */

START_TEST(test_text_helpers)
{
	struct strbuf sb;
	char nb[16];

	strbuf_init(&sb);
	text_open_flags(&sb, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
	ck_assert_str_eq(sb.data, "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC");
	strbuf_reset(&sb);
	text_open_flags(&sb, O_RDONLY);
	ck_assert_str_eq(sb.data, "O_RDONLY");
	strbuf_reset(&sb);
	text_open_flags(&sb, O_RDWR | O_TMPFILE | 0x40000000);
	ck_assert_str_eq(sb.data, "O_RDWR|O_TMPFILE|0x40000000");
	strbuf_reset(&sb);
	text_word(&sb, "a b\x1b[1m", 7);
	ck_assert_str_eq(sb.data, "\"a b\\x1b[1m\"");
	strbuf_reset(&sb);
	text_word(&sb, "", 0);
	ck_assert_str_eq(sb.data, "\"\"");
	ck_assert_str_eq(errno_name(ENOENT, nb), "ENOENT");
	ck_assert_str_eq(errno_name(ECONNREFUSED, nb), "ECONNREFUSED");
	ck_assert_str_eq(errno_name(512, nb), "ERESTARTSYS");
	ck_assert_str_eq(errno_name(4000, nb), "E4000");
	strbuf_fini(&sb);
}
END_TEST

START_TEST(test_time_iso8601)
{
	char buf[48];

	ck_assert_str_eq(time_iso8601(1795442400123456789ull, buf, sizeof(buf)),
			 "2026-11-23T14:00:00.123456789Z");
	ck_assert_str_eq(time_iso8601(0, buf, sizeof(buf)),
			 "1970-01-01T00:00:00.000000000Z");
}
END_TEST

/* ---- process table ---- */

START_TEST(test_proctable_basic)
{
	struct proc_table *t;
	struct proc_entry *e, *c;

	ck_assert_int_eq(proc_table_new(100, 1 << 20, &t), 0);
	e = proc_table_upsert(t, 10);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(proc_entry_set_file(t, e, "/bin/sh", 7), 0);
	ck_assert_int_eq(proc_entry_add_arg(t, e, "sh", 2), 0);
	ck_assert_int_eq(proc_entry_add_arg(t, e, "-c", 2), 0);
	ck_assert_str_eq(proc_entry_name(e), "sh");
	c = proc_table_upsert(t, 11);
	e = proc_table_get(t, 10);
	ck_assert_int_eq(proc_entry_copy_image(t, c, e), 0);
	ck_assert_str_eq(c->file, "/bin/sh");
	ck_assert_uint_eq(c->argc, 2);
	ck_assert_str_eq(c->argv[1], "-c");
	proc_table_remove(t, 10);
	ck_assert_ptr_null(proc_table_get(t, 10));
	ck_assert_ptr_nonnull(proc_table_get(t, 11));
	ck_assert_uint_eq(t->count, 1);
	ck_assert_str_eq(proc_entry_name(NULL), "?");
	proc_table_free(t);
}
END_TEST

START_TEST(test_lifealert_limit)
{
	static char buf[1 << 20];
	char path[] = "/tmp/sentrace-lifealert-XXXXXX";
	struct lifealert_info in = {
		.kind = LIFEALERT_DROPPED, .session = 3, .count = 5,
		.seq_first = 10, .seq_last = 14,
		.ts_first = 1700000000000000000ull, .ts_last = 1700000001000000000ull,
	};
	struct engine_config ec;
	struct lifealert la;
	struct engine *en;
	struct output *o;
	const char *last;
	ssize_t n;
	int fd, lines = 0;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	engine_config_defaults(&ec);
	ck_assert_int_eq(engine_new(&ec, &en), 0);
	ck_assert_int_eq(output_new(path, OUTPUT_JSON, &o), 0);
	ck_assert_int_eq(engine_add_sink(en, o), 0);
	en->fake_now = 1;
	lifealert_init(&la, en);

	/* A client sending drop ranges without end gets the burst, no more. */
	for (int i = 0; i < 300; i++)
		lifealert_raise(&la, &in);
	ck_assert_uint_eq(la.written, LIFEALERT_BURST);
	ck_assert_uint_eq(la.suppressed_total, 300 - LIFEALERT_BURST);
	/* A second later one more, saying how many were held back. */
	en->fake_now += 1000000000ull;
	lifealert_raise(&la, &in);
	ck_assert_uint_eq(la.written, LIFEALERT_BURST + 1);
	ck_assert_int_eq(output_flush(o), 0);

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		lines++;
	ck_assert_int_eq(lines, LIFEALERT_BURST + 1);
	last = strstr(buf, "\"suppressed\":200");
	ck_assert_ptr_nonnull(last);
	ck_assert_ptr_nonnull(strstr(buf, "\"rule\":\"sentrace_events_dropped\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"dropped\":{\"count\":5,\"seq_first\":10,"
				     "\"seq_last\":14,\"time_first\":\"2023-11-14T22:13:20"));
	ck_assert_ptr_nonnull(strstr(buf, "5 events lost, seq 10-14, from 2023-11-14T22:13:20"));

	lifealert_fini(&la);
	engine_free(en);
	output_free(o);
	close(fd);
	unlink(path);
}
END_TEST

/* Fills ts's table with n leaves (pids from base) under one ancestor. */
static void fill_tree(struct tracer_state *ts, int64_t base, int n)
{
	struct proc_entry *root = proc_table_upsert(ts->procs, base), *e;

	ck_assert_ptr_nonnull(root);
	for (int i = 1; i <= n; i++) {
		e = proc_table_upsert(ts->procs, base + i);
		ck_assert_ptr_nonnull(e);
		proc_entry_set_ppid(ts->procs, e, base);
		ck_assert_uint_le(ts->procs->budget->count, ts->procs->budget->max_entries);
	}
}

START_TEST(test_proctable_total_bound)
{
	struct tracer_registry reg;
	struct tracer_state *a, *b, *c;
	struct wire_hello h = {
		.version = WIRE_PROTOCOL_VERSION, .mode = wire_str_c("wrapped"),
		.hostname = wire_str_c("box"), .pidns = 1, .tracer_pid = 10,
	};
	uint64_t last = 0;
	bool resumed;

	tracer_registry_init(&reg, TRACERS_IDLE_MAX);
	reg.budget.max_entries = 1000;
	ck_assert_int_eq(tracer_registry_attach(&reg, &h, &last, &a, &resumed), 0);
	h.tracer_pid = 11;
	ck_assert_int_eq(tracer_registry_attach(&reg, &h, &last, &b, &resumed), 0);
	h.tracer_pid = 12;
	ck_assert_int_eq(tracer_registry_attach(&reg, &h, &last, &c, &resumed), 0);

	/* An idle tracer's table goes first, whole. */
	fill_tree(c, 30000, 300);
	tracer_registry_detach(&reg, c, false);
	fill_tree(a, 10000, 600);
	ck_assert_uint_eq(reg.budget.count, 902);
	fill_tree(b, 20000, 300);
	ck_assert_uint_eq(reg.reclaimed_idle, 1);
	ck_assert_uint_eq(reg.count, 2);
	ck_assert_uint_le(reg.budget.count, 1000);

	/* Then the largest live table gives back leaves, never its ancestor. */
	fill_tree(b, 40000, 500);
	ck_assert_uint_le(reg.budget.count, 1000);
	ck_assert_uint_eq(reg.budget.count, a->procs->count + b->procs->count);
	ck_assert_uint_gt(a->procs->evicted, 0);
	ck_assert_uint_gt(reg.budget.evicted, a->procs->evicted);
	ck_assert_ptr_nonnull(proc_table_get(a->procs, 10000));
	ck_assert_ptr_nonnull(proc_table_get(b->procs, 20000));
	ck_assert_ptr_nonnull(proc_table_get(b->procs, 40000));
	ck_assert_ptr_nonnull(proc_table_get(b->procs, 40500));
	tracer_registry_fini(&reg);
	ck_assert_uint_eq(reg.budget.count, 0);
	ck_assert_uint_eq(reg.budget.bytes, 0);
}
END_TEST

/*
 * An exited process stays while a child in the table names it as parent:
 * a sibling's exit must not take it (ancestry of the child still alive),
 * the last child's does.
 */
START_TEST(test_proctable_exited_parent_kept)
{
	struct proc_table *t;
	struct proc_entry *e;

	ck_assert_int_eq(proc_table_new(100, 1 << 20, &t), 0);
	ck_assert_ptr_nonnull(proc_table_upsert(t, 20));
	for (int64_t pid = 21; pid <= 22; pid++) {
		e = proc_table_upsert(t, pid);
		ck_assert_ptr_nonnull(e);
		proc_entry_set_ppid(t, e, 20);
	}
	proc_table_exit(t, 20);
	proc_table_exit(t, 21);
	ck_assert_ptr_null(proc_table_get(t, 21));
	e = proc_table_get(t, 20);
	ck_assert_ptr_nonnull(e);
	ck_assert(e->exited);
	ck_assert_int_eq(proc_table_get(t, 22)->ppid, 20);
	proc_table_exit(t, 22);
	ck_assert_ptr_null(proc_table_get(t, 20));
	ck_assert_uint_eq(t->count, 0);
	proc_table_free(t);
}
END_TEST

START_TEST(test_proctable_bounds)
{
	char arg[5000];
	struct proc_table *t;
	struct proc_entry *e;

	/* Entry bound: the oldest go first, the table never grows past it. */
	ck_assert_int_eq(proc_table_new(1000, 64 << 20, &t), 0);
	for (int64_t pid = 1; pid <= 5000; pid++) {
		e = proc_table_upsert(t, pid);
		ck_assert_ptr_nonnull(e);
		ck_assert_int_eq(proc_entry_set_file(t, e, "/usr/bin/x", 10), 0);
		ck_assert_uint_le(t->count, 1000);
	}
	ck_assert_ptr_null(proc_table_get(t, 4000));
	ck_assert_ptr_nonnull(proc_table_get(t, 4001));
	ck_assert_uint_eq(t->evicted, 4000);
	proc_table_free(t);

	/* Byte bound, and per-entry argv bounds. */
	memset(arg, 'a', sizeof(arg));
	ck_assert_int_eq(proc_table_new(100000, 256 << 10, &t), 0);
	for (int64_t pid = 1; pid <= 1000; pid++) {
		e = proc_table_upsert(t, pid);
		for (int k = 0; k < 100; k++)
			ck_assert_int_eq(proc_entry_add_arg(t, e, arg, 100), 0);
		ck_assert_uint_le(e->argc, PROC_ARGV_MAX);
		ck_assert(e->argv_truncated);
		ck_assert_uint_le(t->bytes, 256 << 10);
	}
	e = proc_table_upsert(t, 5000);
	ck_assert_int_eq(proc_entry_set_file(t, e, arg, sizeof(arg)), 0);
	ck_assert_uint_eq(strlen(e->file), PROC_FILE_MAX);
	proc_table_free(t);
}
END_TEST

/* ---- a session fed frame by frame ---- */

struct fixture {
	char path[64];
	struct output *out;
	struct probe_totals totals;
	struct tracer_registry tracers;
	struct session_env env;
	struct session *s;
	msgpack_sbuffer reply;
};

static void fx_init(struct fixture *fx, enum output_format fmt)
{
	int fd;

	memset(fx, 0, sizeof(*fx));
	strcpy(fx->path, "/tmp/sentrace-test-XXXXXX");
	fd = mkstemp(fx->path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(output_new(fx->path, fmt, &fx->out), 0);
	tracer_registry_init(&fx->tracers, TRACERS_IDLE_MAX);
	fx->env.out = fx->out;
	fx->env.totals = &fx->totals;
	fx->env.tracers = &fx->tracers;
	ck_assert_int_eq(session_new(&fx->env, "test", &fx->s), 0);
	msgpack_sbuffer_init(&fx->reply);
}

/* Everything written so far; the caller frees it. */
static char *fx_output(struct fixture *fx)
{
	char *data = NULL;
	size_t len = 0;
	FILE *f;

	output_flush(fx->out);
	f = fopen(fx->path, "r");
	ck_assert_ptr_nonnull(f);
	if (getdelim(&data, &len, '\0', f) < 0) {
		/* An empty file. */
		ck_assert(feof(f));
		free(data);
		data = strdup("");
	}
	fclose(f);
	return data;
}

static void fx_fini(struct fixture *fx)
{
	session_free(fx->s);
	tracer_registry_fini(&fx->tracers);
	output_free(fx->out);
	msgpack_sbuffer_destroy(&fx->reply);
	unlink(fx->path);
}

static int fx_send(struct fixture *fx, msgpack_sbuffer *sb)
{
	int r = session_handle_frame(fx->s, sb->data, sb->size, &fx->reply);

	msgpack_sbuffer_clear(sb);
	return r;
}

static void pack_hello(msgpack_packer *pk, uint32_t version)
{
	struct wire_hello h = {
		.version = version, .tracer_version = wire_str_c("0.1.0"),
		.mode = wire_str_c("wrapped"), .hostname = wire_str_c("box"),
		.container_id = wire_str_c(""), .tracer_pid = 99, .argc = 1,
		.argv = { wire_str_c("sh") },
	};

	wire_pack_hello(pk, &h);
}

/* The HELLO_ACK in fx->reply. */
static void check_ack(struct fixture *fx, uint64_t session, bool error)
{
	const msgpack_object *root;
	struct wire_hello_ack ack;
	msgpack_unpacked up;
	int type;

	ck_assert_uint_gt(fx->reply.size, WIRE_FRAME_HEADER);
	ck_assert_uint_eq(wire_get_len((const uint8_t *)fx->reply.data),
			  fx->reply.size - WIRE_FRAME_HEADER);
	msgpack_unpacked_init(&up);
	ck_assert_int_eq(wire_decode(fx->reply.data + WIRE_FRAME_HEADER,
				     fx->reply.size - WIRE_FRAME_HEADER, &up, &root,
				     &type), 0);
	ck_assert_int_eq(type, WIRE_HELLO_ACK);
	ck_assert_int_eq(wire_unpack_hello_ack(root, &ack), 0);
	ck_assert_uint_eq(ack.session, session);
	ck_assert_int_eq(ack.error.len > 0, error);
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_clear(&fx->reply);
}

static void pack_events(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 2);
	wire_pack_kv_u64(pk, "type", WIRE_EVENTS);
	wire_pack_str(pk, "events");
	msgpack_pack_array(pk, 5);

	/* 100 forks 101; 101 execs cat; 101 opens; 101 exits. */
	msgpack_pack_map(pk, 7);
	wire_pack_kv_str(pk, "ev", "fork");
	wire_pack_kv_str(pk, "syscall", "clone");
	wire_pack_kv_u64(pk, "ts", 1795442400000000000ull);
	wire_pack_kv_i64(pk, "pid", 100);
	wire_pack_kv_i64(pk, "ret", 101);
	wire_pack_kv_i64(pk, "child", 101);
	wire_pack_kv_bool(pk, "thread", false);

	msgpack_pack_map(pk, 7);
	wire_pack_kv_str(pk, "ev", "exec");
	wire_pack_kv_u64(pk, "ts", 1795442400100000000ull);
	wire_pack_kv_i64(pk, "pid", 101);
	wire_pack_kv_i64(pk, "ret", 0);
	wire_pack_kv_str(pk, "file", "/usr/bin/cat");
	wire_pack_str(pk, "argv");
	msgpack_pack_array(pk, 2);
	wire_pack_str(pk, "cat");
	wire_pack_str(pk, "/etc/hostname");
	wire_pack_kv_i64(pk, "ppid", 100);

	msgpack_pack_map(pk, 6);
	wire_pack_kv_str(pk, "ev", "open");
	wire_pack_kv_i64(pk, "pid", 101);
	wire_pack_kv_i64(pk, "tid", 101);
	wire_pack_kv_i64(pk, "ret", -2);
	wire_pack_kv_str(pk, "path", "/etc/nope\n");
	wire_pack_kv_u64(pk, "flags", O_RDONLY);

	msgpack_pack_int(pk, 3);    /* not a map: skipped */

	msgpack_pack_map(pk, 3);
	wire_pack_kv_str(pk, "ev", "exit");
	wire_pack_kv_i64(pk, "pid", 101);
	wire_pack_kv_i64(pk, "code", 3);
}

START_TEST(test_session_json)
{
	struct fixture fx;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char *out;

	fx_init(&fx, OUTPUT_JSON);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

	pack_hello(&pk, WIRE_PROTOCOL_VERSION);
	ck_assert_int_eq(fx_send(&fx, &sb), 0);
	check_ack(&fx, 1, false);
	ck_assert_uint_eq(fx.totals.sessions, 1);

	pack_events(&pk);
	ck_assert_int_eq(fx_send(&fx, &sb), 0);
	ck_assert_uint_eq(fx.s->events, 4);
	ck_assert_uint_eq(fx.s->bad_events, 1);
	/* The exited process left the table; its parent was never seen. */
	ck_assert_ptr_null(proc_table_get(fx.s->procs, 101));

	msgpack_pack_map(&pk, 1);
	wire_pack_kv_u64(&pk, "type", 42);
	ck_assert_int_eq(fx_send(&fx, &sb), 0);
	ck_assert_uint_eq(fx.totals.unknown_messages, 1);

	msgpack_pack_map(&pk, 2);
	wire_pack_kv_u64(&pk, "type", WIRE_STATS);
	wire_pack_str(&pk, "dropped");
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_u64(&pk, "open", 2);
	ck_assert_int_eq(fx_send(&fx, &sb), 0);

	{
		struct wire_goodbye g = { .reason = wire_str_c("done"), .exit_status = 3 };

		wire_pack_goodbye(&pk, &g);
	}
	ck_assert_int_eq(fx_send(&fx, &sb), 0);
	session_end(fx.s, "goodbye");
	session_end(fx.s, "twice");   /* written once only */

	out = fx_output(&fx);
	ck_assert_ptr_nonnull(strstr(out,
		"{\"type\":\"session_start\",\"time\":\""));
	ck_assert_ptr_nonnull(strstr(out,
		"\"session\":{\"id\":1,\"hostname\":\"box\",\"container_id\":\"\","
		"\"mode\":\"wrapped\",\"tracer_pid\":99},\"argv\":[\"sh\"],"
		"\"tracer_version\":\"0.1.0\"}\n"));
	/* The child inherits nothing from an unknown parent, but gets ppid. */
	ck_assert_ptr_nonnull(strstr(out,
		"{\"type\":\"event\",\"time\":\"2026-11-23T14:00:00.000000000Z\","));
	ck_assert_ptr_nonnull(strstr(out,
		"\"event\":{\"ev\":\"fork\",\"syscall\":\"clone\",\"ts\":1795442400000000000,"
		"\"pid\":100,\"ret\":101,\"child\":101,\"thread\":false},"
		"\"process\":{\"pid\":100}}\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"\"ppid\":100},\"process\":{\"pid\":101,\"ppid\":100,"
		"\"file\":\"/usr/bin/cat\",\"argv\":[\"cat\",\"/etc/hostname\"]}}\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"\"event\":{\"ev\":\"open\",\"pid\":101,\"tid\":101,\"ret\":-2,"
		"\"path\":\"/etc/nope\\n\",\"flags\":0,\"error\":\"ENOENT\"},"
		"\"process\":{\"pid\":101,\"ppid\":100,\"file\":\"/usr/bin/cat\""));
	ck_assert_ptr_nonnull(strstr(out,
		"\"event\":{\"ev\":\"exit\",\"pid\":101,\"code\":3},"
		"\"process\":{\"pid\":101,\"ppid\":100,\"file\":\"/usr/bin/cat\""));
	ck_assert_ptr_nonnull(strstr(out,
		"\"counters\":{},\"dropped\":{\"open\":2}}\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"\"reason\":\"goodbye\",\"events\":4,\"unknown_messages\":1,"
		"\"exit_status\":3,\"duplicates\":0,\"dropped\":2,\"alerts\":0,"
		"\"alerts_suppressed\":0,\"connections\":1}\n"));
	ck_assert_ptr_null(strstr(out, "twice"));
	free(out);
	msgpack_sbuffer_destroy(&sb);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_session_text)
{
	struct fixture fx;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char *out;

	fx_init(&fx, OUTPUT_TEXT);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_hello(&pk, WIRE_PROTOCOL_VERSION);
	ck_assert_int_eq(fx_send(&fx, &sb), 0);
	pack_events(&pk);
	ck_assert_int_eq(fx_send(&fx, &sb), 0);
	session_end(fx.s, "eof");
	out = fx_output(&fx);
	ck_assert_ptr_nonnull(strstr(out, " session 1 start hostname=box mode=wrapped"));
	ck_assert_ptr_nonnull(strstr(out, " ?[101] exec /usr/bin/cat cat /etc/hostname = 0\n"));
	ck_assert_ptr_nonnull(strstr(out, " cat[101] open /etc/nope\\x0a O_RDONLY = -ENOENT\n"));
	ck_assert_ptr_nonnull(strstr(out, " cat[101] exit code=3\n"));
	ck_assert_ptr_nonnull(strstr(out, " session 1 end reason=eof events=4 unknown_messages=0 duplicates=0 "
				     "dropped=0 alerts=0 alerts_suppressed=0\n"));
	free(out);
	msgpack_sbuffer_destroy(&sb);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_session_rejects)
{
	struct fixture fx;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char *out;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

	/* A first frame that is not HELLO. */
	fx_init(&fx, OUTPUT_JSON);
	pack_events(&pk);
	ck_assert_int_eq(fx_send(&fx, &sb), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(fx.s->error, "not HELLO"));
	ck_assert_uint_eq(fx.totals.protocol_errors, 1);
	session_end(fx.s, "error");
	out = fx_output(&fx);
	ck_assert_str_eq(out, "");   /* no session, no lines */
	free(out);
	fx_fini(&fx);

	/* Another protocol version: an ACK with an error, then close. */
	fx_init(&fx, OUTPUT_JSON);
	pack_hello(&pk, WIRE_PROTOCOL_VERSION + 1);
	ck_assert_int_eq(fx_send(&fx, &sb), SESSION_CLOSE);
	check_ack(&fx, 0, true);
	ck_assert_uint_eq(fx.totals.sessions, 0);
	fx_fini(&fx);

	/* Garbage after a good HELLO, and a second HELLO. */
	fx_init(&fx, OUTPUT_JSON);
	pack_hello(&pk, WIRE_PROTOCOL_VERSION);
	ck_assert_int_eq(fx_send(&fx, &sb), 0);
	msgpack_sbuffer_write(&sb, "\xdd\xff\xff\xff\xff", 5);
	ck_assert_int_eq(fx_send(&fx, &sb), -EBADMSG);
	pack_hello(&pk, WIRE_PROTOCOL_VERSION);
	ck_assert_int_eq(fx_send(&fx, &sb), -EBADMSG);
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_u64(&pk, "type", WIRE_EVENTS);
	ck_assert_int_eq(fx_send(&fx, &sb), -EBADMSG);
	fx_fini(&fx);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* ---- the shared token ---- */

static const struct {
	const char *want, *got;
	bool equal;
} token_cases[] = {
	{ "secret", "secret", true },
	{ "secret", "secreT", false },
	{ "secret", "secre", false },
	{ "secret", "secrets", false },
	{ "secret", "", false },
	{ "s", "s", true },
};

START_TEST(test_token_equal)
{
	const char *want = token_cases[_i].want, *got = token_cases[_i].got;
	char longer[SESSION_TOKEN_MAX + 2];

	ck_assert_int_eq(session_token_equal(want, strlen(want), got, strlen(got)),
			 token_cases[_i].equal);
	/* A token longer than the limit matches nothing, not even itself. */
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	ck_assert(!session_token_equal(longer, strlen(longer), longer, strlen(longer)));
	ck_assert(session_token_equal(longer, SESSION_TOKEN_MAX, longer, SESSION_TOKEN_MAX));
	ck_assert(!session_token_equal(longer, SESSION_TOKEN_MAX, longer,
				       SESSION_TOKEN_MAX + 1));
}
END_TEST

static const uint8_t tracer_nonce[WIRE_SECRET_LEN] = { 1, 2, 3, 4, 5 };

static struct wire_hello hello_with_nonce(void)
{
	struct wire_hello h = {
		.version = WIRE_PROTOCOL_VERSION, .tracer_version = wire_str_c("0.1.0"),
		.mode = wire_str_c("wrapped"), .hostname = wire_str_c("box"),
		.container_id = wire_str_c(""), .tracer_pid = 99,
		.nonce = { (const char *)tracer_nonce, sizeof(tracer_nonce) },
		.argc = 1, .argv = { wire_str_c("sh") },
	};

	return h;
}

static const struct {
	const char *token;          /* NULL: the tracer has none */
	bool accepted;
} hello_cases[] = {
	{ "s3cret", true },
	{ "s3creT", false },
	{ "s3cret-and-more", false },
	{ NULL, false },
};

/* The reply's one frame, decoded into up. */
static int reply_frame(struct fixture *fx, msgpack_unpacked *up,
		       const msgpack_object **root)
{
	int type;

	msgpack_unpacked_init(up);
	ck_assert_uint_gt(fx->reply.size, WIRE_FRAME_HEADER);
	ck_assert_uint_eq(wire_get_len((const uint8_t *)fx->reply.data),
			  fx->reply.size - WIRE_FRAME_HEADER);
	ck_assert_int_eq(wire_decode(fx->reply.data + WIRE_FRAME_HEADER,
				     fx->reply.size - WIRE_FRAME_HEADER, up, root,
				     &type), 0);
	return type;
}

START_TEST(test_session_token)
{
	const char *tok = hello_cases[_i].token;
	struct wire_hello h = hello_with_nonce();
	struct fixture fx;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char *out;
	int r;

	fx_init(&fx, OUTPUT_JSON);
	fx.env.token = "s3cret";
	fx.env.token_len = 6;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (tok) {
		const msgpack_object *root;
		struct wire_challenge ch;
		msgpack_unpacked up;
		uint8_t want[WIRE_SECRET_LEN], proof[WIRE_SECRET_LEN];
		struct wire_auth auth = { { (const char *)proof, sizeof(proof) } };

		wire_pack_hello(&pk, &h);
		ck_assert_int_eq(fx_send(&fx, &sb), 0);
		/* The probe proves the token first; the token is not in it. */
		ck_assert_int_eq(reply_frame(&fx, &up, &root), WIRE_CHALLENGE);
		ck_assert_int_eq(wire_unpack_challenge(root, &ch), 0);
		ck_assert(memmem(fx.reply.data, fx.reply.size, "s3cret", 6) == NULL);
		wire_auth_proof("s3cret", 6, WIRE_ROLE_PROBE, &h, ch.nonce, want);
		ck_assert_uint_eq(ch.proof.len, sizeof(want));
		ck_assert_int_eq(memcmp(ch.proof.ptr, want, sizeof(want)), 0);
		/* A proof for the other direction is not the same. */
		wire_auth_proof("s3cret", 6, WIRE_ROLE_TRACER, &h, ch.nonce, proof);
		ck_assert_int_ne(memcmp(proof, want, sizeof(want)), 0);
		wire_auth_proof(tok, strlen(tok), WIRE_ROLE_TRACER, &h, ch.nonce, proof);
		msgpack_unpacked_destroy(&up);
		msgpack_sbuffer_clear(&fx.reply);
		wire_pack_auth(&pk, &auth);
	} else {
		pack_hello(&pk, WIRE_PROTOCOL_VERSION);
	}
	r = fx_send(&fx, &sb);
	if (hello_cases[_i].accepted) {
		ck_assert_int_eq(r, 0);
		check_ack(&fx, 1, false);
		ck_assert_uint_eq(fx.totals.auth_failures, 0);
	} else {
		const msgpack_object *root;
		struct wire_hello_ack ack;
		msgpack_unpacked up;

		ck_assert_int_eq(r, SESSION_CLOSE);
		ck_assert_int_eq(reply_frame(&fx, &up, &root), WIRE_HELLO_ACK);
		ck_assert_int_eq(wire_unpack_hello_ack(root, &ack), 0);
		ck_assert(wire_str_eq(ack.error, "authentication failed"));
		ck_assert_uint_eq(ack.session, 0);
		msgpack_unpacked_destroy(&up);
		msgpack_sbuffer_clear(&fx.reply);
		ck_assert_uint_eq(fx.totals.auth_failures, 1);
		ck_assert_uint_eq(fx.totals.sessions, 0);
		ck_assert_str_eq(fx.s->error, "authentication failed");
	}
	/* Whatever follows a refused HELLO is never looked at. */
	pack_events(&pk);
	ck_assert_int_eq(fx_send(&fx, &sb), 0);
	ck_assert_uint_eq(fx.s->events, hello_cases[_i].accepted ? 4 : 0);
	ck_assert_uint_eq(fx.reply.size, 0);
	session_end(fx.s, "eof");
	out = fx_output(&fx);
	if (hello_cases[_i].accepted)
		ck_assert_ptr_nonnull(strstr(out, "\"type\":\"event\""));
	else
		ck_assert_str_eq(out, "");
	free(out);
	msgpack_sbuffer_destroy(&sb);
	fx_fini(&fx);
}
END_TEST

/* ---- configuration ---- */

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/sentrace-cfg-XXXXXX");
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

START_TEST(test_config)
{
	struct probe_config c;
	char err[256], *path;

	ck_assert_int_eq(probe_config_init(&c), 0);
	ck_assert_str_eq(c.listen, SENTRACE_DEFAULT_PROBE_ADDR);
	ck_assert_str_eq(c.output, "auto");
	path = write_tmp("runtime_security_config:\n"
			 "  enabled: true\n"
			 "  ebpfless:\n"
			 "    enabled: true\n"
			 "    socket: unix:/run/sentrace.sock\n"
			 "output:\n"
			 "  path: /var/log/x.json\n"
			 "  format: text\n");
	ck_assert_int_eq(probe_config_load(&c, path, err, sizeof(err)), 0);
	ck_assert_str_eq(c.listen, "unix:/run/sentrace.sock");
	ck_assert_str_eq(c.output, "/var/log/x.json");
	ck_assert_int_eq(c.format, OUTPUT_TEXT);
	unlink(path);
	free(path);

	path = write_tmp("output:\n  path: [a, b\n");
	ck_assert_int_eq(probe_config_load(&c, path, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, ":3:") != NULL, "no line number in '%s'", err);
	unlink(path);
	free(path);

	path = write_tmp("runtime_security_config:\n"
			 "  ebpfless:\n"
			 "    socket: nowhere\n");
	ck_assert_int_eq(probe_config_load(&c, path, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, ":3: 'runtime_security_config.ebpfless.socket' is not a valid address") != NULL, "got '%s'", err);
	unlink(path);
	free(path);

	path = write_tmp("output: 5\n");
	ck_assert_int_eq(probe_config_load(&c, path, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, ":1: a section on the way to 'output.path' must be a mapping") != NULL, "got '%s'", err);
	unlink(path);
	free(path);

	path = write_tmp("");
	ck_assert_int_eq(probe_config_load(&c, path, err, sizeof(err)), 0);
	unlink(path);
	free(path);

	ck_assert_int_eq(probe_config_load(&c, "/nonexistent/x.yaml", err, sizeof(err)),
			 -ENOENT);
	probe_config_fini(&c);
}
END_TEST

static const char *fake_env[][2] = {
	{ "SENTRACE_RUNTIME_SECURITY_CONFIG_EBPFLESS_TOKEN_FILE", "/etc/env.token" },
	{ "DD_RUNTIME_SECURITY_CONFIG_EBPFLESS_SOCKET_MODE", "0600" },
};

static char *fake_getenv(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(fake_env); i++)
		if (strcmp(name, fake_env[i][0]) == 0)
			return (char *)fake_env[i][1];
	return NULL;
}

START_TEST(test_config_access)
{
	static const struct {
		const char *text;
		int ret;
		uint64_t mode;
	} modes[] = {
		{ "0660", 0, 0660 }, { "600", 0, 0600 }, { "0", 0, 0 }, { "0777", 0, 0777 },
		{ "1777", -EINVAL, 0 }, { "0668", -EINVAL, 0 }, { "", -EINVAL, 0 },
		{ "-660", -EINVAL, 0 }, { "00660", -EINVAL, 0 }, { "rw", -EINVAL, 0 },
	};
	struct probe_config c;
	char err[256], *path;
	uint64_t mode;
	FILE *f;
	char *text = NULL;
	size_t len = 0;

	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		mode = 12345;
		ck_assert_int_eq(probe_config_parse_mode(modes[i].text, &mode), modes[i].ret);
		ck_assert_uint_eq(mode, modes[i].ret == 0 ? modes[i].mode : 12345);
	}

	ck_assert_int_eq(probe_config_init(&c), 0);
	ck_assert_ptr_null(c.token_file);
	ck_assert_ptr_null(c.socket_group);
	ck_assert_uint_eq(c.socket_mode, PROBE_SOCKET_MODE_DEFAULT);
	path = write_tmp("runtime_security_config:\n"
			 "  ebpfless:\n"
			 "    socket: unix:/run/sentrace.sock\n"
			 "    socket_mode: 0640\n"
			 "    socket_group: sentrace\n"
			 "    token_file: /etc/sentrace/token\n");
	ck_assert_int_eq(probe_config_load(&c, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.socket_mode, 0640);
	ck_assert_str_eq(c.socket_group, "sentrace");
	ck_assert_str_eq(c.token_file, "/etc/sentrace/token");
	unlink(path);
	free(path);

	/* The printed configuration reads back the same. */
	f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	probe_config_print(&c, f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "    socket_mode: \"0640\"\n"
					   "    socket_group: \"sentrace\"\n"
					   "    token_file: \"/etc/sentrace/token\"\n"));
	free(text);

	ck_assert_int_eq(probe_config_env(&c, fake_getenv, err, sizeof(err)), 0);
	ck_assert_str_eq(c.token_file, "/etc/env.token");
	ck_assert_uint_eq(c.socket_mode, 0600);

	/* The empty string unsets the token file. */
	path = write_tmp("runtime_security_config:\n"
			 "  ebpfless:\n"
			 "    token_file: \"\"\n");
	ck_assert_int_eq(probe_config_load(&c, path, err, sizeof(err)), 0);
	ck_assert_ptr_null(c.token_file);
	unlink(path);
	free(path);

	path = write_tmp("runtime_security_config:\n"
			 "  ebpfless:\n"
			 "    socket_mode: 0999\n");
	ck_assert_int_eq(probe_config_load(&c, path, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, ":3: 'runtime_security_config.ebpfless.socket_mode' "
			     "must be permission bits in octal") != NULL, "got '%s'", err);
	unlink(path);
	free(path);
	probe_config_fini(&c);
}
END_TEST

static Suite *probe_suite(void)
{
	Suite *s = suite_create("probe");
	TCase *tc;

	tc = tcase_create("json_escape");
	tcase_add_loop_test(tc, test_json_escape, 0,
			    (int)(sizeof(escapes) / sizeof(escapes[0])));
	suite_add_tcase(s, tc);
	tc = tcase_create("json_structure");
	tcase_add_test(tc, test_json_structure);
	suite_add_tcase(s, tc);
	tc = tcase_create("json_base64");
	tcase_add_test(tc, test_json_base64);
	suite_add_tcase(s, tc);
	tc = tcase_create("json_msgpack");
	tcase_add_test(tc, test_json_msgpack);
	suite_add_tcase(s, tc);
	tc = tcase_create("text_helpers");
	tcase_add_test(tc, test_text_helpers);
	tcase_add_test(tc, test_time_iso8601);
	suite_add_tcase(s, tc);
	tc = tcase_create("proctable");
	tcase_add_test(tc, test_proctable_basic);
	tcase_add_test(tc, test_proctable_bounds);
	tcase_add_test(tc, test_proctable_total_bound);
	tcase_add_test(tc, test_lifealert_limit);
	tcase_add_test(tc, test_proctable_exited_parent_kept);
	suite_add_tcase(s, tc);
	tc = tcase_create("session_json");
	tcase_add_test(tc, test_session_json);
	suite_add_tcase(s, tc);
	tc = tcase_create("session_text");
	tcase_add_test(tc, test_session_text);
	suite_add_tcase(s, tc);
	tc = tcase_create("session_rejects");
	tcase_add_test(tc, test_session_rejects);
	suite_add_tcase(s, tc);
	tc = tcase_create("session_token");
	tcase_add_loop_test(tc, test_token_equal, 0, (int)ARRAY_SIZE(token_cases));
	tcase_add_loop_test(tc, test_session_token, 0, (int)ARRAY_SIZE(hello_cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("config");
	tcase_add_test(tc, test_config);
	tcase_add_test(tc, test_config_access);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(probe_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
