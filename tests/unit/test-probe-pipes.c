/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pipeline lineage in the probe (src/probe/pipes.c) without a tracer: exec
 * events with fds 0-2 go through the resolver and the engine in either
 * order, and the alerts are counted. Covers the late writer, a filter up
 * the pipeline, a second writer (no second alert), rules that do not
 * depend on the writer (no alert again), a new image of the reader, and
 * the caps (count, age) with their counters.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <msgpack.h>

#include "sentrace/wire.h"
#include "engine.h"
#include "pipes.h"
#include "proctable.h"
#include "resolver.h"
#include "rules.h"
#include "tracers.h"

#define T0 1795442400000000000ull
#define SEC 1000000000ull

static const char policy[] =
	"version: 1\n"
	"rules:\n"
	"  - id: piped\n"
	"    expression: >-\n"
	"      exec.file.name == \"sh\" && exec.stdin.type == \"pipe\"\n"
	"      && process.stdin.upstream.file.name in [\"curl\"]\n"
	"    severity: high\n"
	"  - id: any_sh\n"
	"    expression: exec.file.name == \"sh\" && exec.argv in [\"-x\"]\n"
	"    severity: low\n";

struct fx {
	char dir[64], policy[96], alerts[96];
	struct engine *en;
	struct output *out;
	struct tracer_state ts;
	struct engine_source src;
	msgpack_sbuffer reply;
	struct event_record rec;
};

static void fx_init(struct fx *fx)
{
	struct engine_config ec;
	const char *paths[1];
	FILE *f;

	memset(fx, 0, sizeof(*fx));
	strcpy(fx->dir, "/tmp/sentrace-pipes-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fx->dir));
	snprintf(fx->policy, sizeof(fx->policy), "%s/p.policy", fx->dir);
	snprintf(fx->alerts, sizeof(fx->alerts), "%s/alerts", fx->dir);
	f = fopen(fx->policy, "w");
	ck_assert_ptr_nonnull(f);
	fputs(policy, f);
	fclose(f);
	paths[0] = fx->policy;
	engine_config_defaults(&ec);
	ec.policy_paths = paths;
	ec.npolicy_paths = 1;
	ec.rate = 1000;
	ec.burst = 1000;
	ck_assert_int_eq(engine_new(&ec, &fx->en), 0);
	ck_assert_int_eq(output_new(fx->alerts, OUTPUT_JSON, &fx->out), 0);
	ck_assert_int_eq(engine_add_sink(fx->en, fx->out), 0);
	ck_assert_int_eq(engine_load(fx->en), 0);
	ck_assert_int_eq(proc_table_new(1024, 1u << 20, &fx->ts.procs), 0);
	fx->ts.container_id = (char *)"";
	msgpack_sbuffer_init(&fx->reply);
	ck_assert_int_eq(record_init(&fx->rec), 0);
	fx->src.ts = &fx->ts;
	fx->src.session_json = "{}";
	fx->src.session_json_len = 2;
	fx->src.hostname = "box";
	fx->src.reply = &fx->reply;
}

static void fx_fini(struct fx *fx)
{
	engine_free(fx->en);
	output_free(fx->out);
	proc_table_free(fx->ts.procs);
	msgpack_sbuffer_destroy(&fx->reply);
	record_fini(&fx->rec);
	unlink(fx->policy);
	unlink(fx->alerts);
	rmdir(fx->dir);
}

/* One exec: pid runs file with fd 0 reading pipe in (0: a tty) and fd 1
 * writing pipe out (0: a tty); then the resolver and the rules. */
static void exec_ev(struct fx *fx, int64_t pid, const char *file, const char *arg,
		    uint64_t in, uint64_t out, uint64_t ts)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	size_t off = 0;
	uint32_t n = 11 + (in ? 1 : 0) + (out ? 1 : 0);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	wire_pack_kv_str(&pk, "ev", "exec");
	wire_pack_kv_str(&pk, "syscall", "execve");
	wire_pack_kv_u64(&pk, "ts", ts);
	wire_pack_kv_i64(&pk, "pid", pid);
	wire_pack_kv_i64(&pk, "tid", pid);
	wire_pack_kv_i64(&pk, "ret", 0);
	wire_pack_kv_str(&pk, "file", file);
	wire_pack_str(&pk, "argv");
	msgpack_pack_array(&pk, 2);
	wire_pack_str(&pk, strrchr(file, '/') + 1);
	wire_pack_str(&pk, arg);
	wire_pack_kv_str(&pk, "stdin", in ? "pipe" : "tty");
	if (in)
		wire_pack_kv_u64(&pk, "stdin_ino", in);
	wire_pack_kv_str(&pk, "stdout", out ? "pipe" : "tty");
	if (out)
		wire_pack_kv_u64(&pk, "stdout_ino", out);
	wire_pack_kv_str(&pk, "stderr", "tty");
	msgpack_unpacked_init(&u);
	ck_assert_int_eq(msgpack_unpack_next(&u, sb.data, sb.size, &off),
			 MSGPACK_UNPACK_SUCCESS);
	ck_assert_int_eq(record_decode(&fx->rec, &u.data, NULL), 0);
	resolver_apply_event(fx->ts.procs, &fx->rec);
	engine_eval(fx->en, &fx->src, &fx->rec, proc_table_get(fx->ts.procs, pid));
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

/* Alerts of rule id in the output so far. */
static unsigned alerts_of(struct fx *fx, const char *id)
{
	char line[16384], want[64];
	unsigned n = 0;
	FILE *f;

	engine_flush(fx->en);
	snprintf(want, sizeof(want), "\"rule_id\":\"%s\"", id);
	f = fopen(fx->alerts, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, want))
			n++;
	fclose(f);
	return n;
}

START_TEST(test_writer_first)
{
	struct fx fx;

	fx_init(&fx);
	exec_ev(&fx, 10, "/usr/bin/curl", "http://x", 0, 77, T0);
	exec_ev(&fx, 11, "/bin/sh", "-s", 77, 0, T0 + 1);
	ck_assert_uint_eq(alerts_of(&fx, "piped"), 1);
	ck_assert_uint_eq(fx.en->stats.pipes_late_alerts, 0);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_reader_first)
{
	struct fx fx;

	fx_init(&fx);
	exec_ev(&fx, 11, "/bin/sh", "-s", 77, 0, T0);
	ck_assert_uint_eq(alerts_of(&fx, "piped"), 0);
	ck_assert_uint_eq(fx.en->stats.pipes_deferred, 1);
	/* A writer that is not a downloader: nothing yet. */
	exec_ev(&fx, 12, "/bin/sleep", "1", 0, 77, T0 + SEC / 2);
	ck_assert_uint_eq(alerts_of(&fx, "piped"), 0);
	exec_ev(&fx, 10, "/usr/bin/curl", "http://x", 0, 77, T0 + SEC);
	ck_assert_uint_eq(alerts_of(&fx, "piped"), 1);
	ck_assert_uint_eq(fx.en->stats.pipes_late_alerts, 1);
	ck_assert_uint_eq(fx.en->stats.pipes_replayed, 2);
	/* A second curl on that pipe: the exec has alerted already. */
	exec_ev(&fx, 13, "/usr/bin/curl", "http://y", 0, 77, T0 + 2 * SEC);
	ck_assert_uint_eq(alerts_of(&fx, "piped"), 1);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_upstream_filter_last)
{
	struct fx fx;

	fx_init(&fx);
	/* curl | base64 -d | sh, with curl's exec last. */
	exec_ev(&fx, 11, "/bin/sh", "-s", 2, 0, T0);
	exec_ev(&fx, 12, "/usr/bin/base64", "-d", 1, 2, T0 + 1);
	ck_assert_uint_eq(alerts_of(&fx, "piped"), 0);
	exec_ev(&fx, 10, "/usr/bin/curl", "http://x", 0, 1, T0 + 2);
	ck_assert_uint_eq(alerts_of(&fx, "piped"), 1);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_rule_without_writer_not_again)
{
	struct fx fx;

	fx_init(&fx);
	exec_ev(&fx, 11, "/bin/sh", "-x", 77, 0, T0);
	ck_assert_uint_eq(alerts_of(&fx, "any_sh"), 1);
	exec_ev(&fx, 10, "/usr/bin/curl", "http://x", 0, 77, T0 + 1);
	ck_assert_uint_eq(alerts_of(&fx, "any_sh"), 1);
	ck_assert_uint_eq(alerts_of(&fx, "piped"), 1);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_new_image_forgets)
{
	struct fx fx;

	fx_init(&fx);
	exec_ev(&fx, 11, "/bin/sh", "-s", 77, 0, T0);
	/* The same process execs cat: its sh exec is not its own any more. */
	exec_ev(&fx, 11, "/bin/cat", "-", 77, 0, T0 + 1);
	exec_ev(&fx, 10, "/usr/bin/curl", "http://x", 0, 77, T0 + 2);
	ck_assert_uint_eq(alerts_of(&fx, "piped"), 0);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_caps)
{
	struct fx fx;
	unsigned extra = 10;

	fx_init(&fx);
	for (unsigned i = 0; i < PIPES_DEFER_MAX + extra; i++)
		exec_ev(&fx, 1000 + i, "/bin/sh", "-s", 5000 + i, 0, T0 + i);
	ck_assert_uint_eq(fx.en->stats.pipes_deferred, PIPES_DEFER_MAX + extra);
	ck_assert_uint_eq(fx.en->stats.pipes_dropped, extra);
	/* The oldest went first: its writer comes too late. */
	exec_ev(&fx, 10, "/usr/bin/curl", "a", 0, 5000, T0 + SEC);
	ck_assert_uint_eq(alerts_of(&fx, "piped"), 0);
	exec_ev(&fx, 20, "/usr/bin/curl", "b", 0, 5000 + PIPES_DEFER_MAX + extra - 1,
		T0 + SEC);
	ck_assert_uint_eq(alerts_of(&fx, "piped"), 1);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_expiry)
{
	struct fx fx;

	fx_init(&fx);
	exec_ev(&fx, 11, "/bin/sh", "-s", 77, 0, T0);
	exec_ev(&fx, 10, "/usr/bin/curl", "http://x", 0, 77, T0 + PIPES_DEFER_NS + SEC);
	ck_assert_uint_eq(alerts_of(&fx, "piped"), 0);
	ck_assert_uint_eq(fx.en->stats.pipes_expired, 1);
	fx_fini(&fx);
}
END_TEST

static Suite *pipes_suite(void)
{
	Suite *s = suite_create("probe-pipes");
	TCase *tc = tcase_create("order");

	tcase_add_test(tc, test_writer_first);
	tcase_add_test(tc, test_reader_first);
	tcase_add_test(tc, test_upstream_filter_last);
	tcase_add_test(tc, test_rule_without_writer_not_again);
	tcase_add_test(tc, test_new_image_forgets);
	suite_add_tcase(s, tc);
	tc = tcase_create("bounds");
	tcase_add_test(tc, test_caps);
	tcase_add_test(tc, test_expiry);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pipes_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
