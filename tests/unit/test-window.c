// SPDX-License-Identifier: Apache-2.0
/*
 * Thresholds and windows: the `threshold:` key of the policy loader
 * (accepted forms and every error), the group table of the probe
 * (src/probe/window.c: counting, distinct values, the window sliding,
 * starting over, expiry, the caps and their counters), and the engine
 * raising an alert only when the count is reached.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "sentrace/wire.h"
#include "engine.h"
#include "output.h"
#include "rules.h"
#include "window.h"

#define SEC 1000000000ull
#define T0 1795442400000000000ull

/* ---- the policy key ---- */

static const char *const HEAD =
	"version: 1\nrules:\n"
	"  - id: burst\n"
	"    description: d\n"
	"    expression: exec.file.name in [\"id\", \"uname\"]\n"
	"    severity: low\n";

/* Loads HEAD plus a threshold line; returns the errors, diag filled. */
static int load_with(const char *threshold, struct rules_diag *diag,
		     struct rule_set **rs)
{
	char text[2048];
	const char *names[1] = { "t.policy" };
	const char *texts[1] = { text };

	snprintf(text, sizeof(text), "%s    threshold: %s\n", HEAD, threshold);
	rules_diag_init(diag);
	ck_assert_int_ge(rule_set_load_buffers(names, texts, 1, diag, rs), 0);
	return (int)diag->errors;
}

START_TEST(test_policy_forms)
{
	struct rules_diag d;
	struct rule_set *rs;
	const struct rule_threshold *t;

	ck_assert_int_eq(load_with("{count: 5, window: 30s, by: process.parent.pid, "
				   "distinct: exec.file.name}", &d, &rs), 0);
	t = rule_threshold(rule_set_find(rs, "burst"));
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->count, 5);
	ck_assert_uint_eq(t->window_ns, 30 * SEC);
	ck_assert_uint_eq(t->nby, 1);
	ck_assert_str_eq(t->by[0]->name, "process.parent.pid");
	ck_assert_uint_eq(t->ndistinct, 1);
	ck_assert_str_eq(t->distinct[0]->name, "exec.file.name");
	rule_set_free(rs);
	rules_diag_fini(&d);

	/* Lists of fields, no by (one group), block style. */
	ck_assert_int_eq(load_with("\n      count: 100\n      window: 10s\n"
				   "      distinct: [exec.file.name, exec.argv0]", &d, &rs), 0);
	t = rule_threshold(rule_set_find(rs, "burst"));
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->nby, 0);
	ck_assert_uint_eq(t->ndistinct, 2);
	rule_set_free(rs);
	rules_diag_fini(&d);
}
END_TEST

static const struct {
	const char *threshold;
	const char *message;
} bad[] = {
	{ "5", "threshold must be a mapping" },
	{ "{window: 30s}", "threshold count must be an integer from 1 to 1000" },
	{ "{count: 0, window: 30s}", "threshold count must be" },
	{ "{count: 1001, window: 30s}", "threshold count must be" },
	{ "{count: many, window: 30s}", "threshold count must be" },
	{ "{count: 5}", "threshold window must be a positive duration" },
	{ "{count: 5, window: 30}", "threshold window must be" },
	{ "{count: 5, window: 25h}", "threshold window must be" },
	{ "{count: 5, window: 1s, by: process.nope}",
	  "threshold by: unknown field 'process.nope'" },
	{ "{count: 5, window: 1s, by: process.argv}", "'process.argv' is an array" },
	{ "{count: 5, window: 1s, distinct: open.file.path}",
	  "'open.file.path' is a field of open events" },
	{ "{count: 5, window: 1s, by: []}", "a field name or a list of field names" },
	{ "{count: 5, window: 1s, by: [process.pid, process.uid, process.gid, "
	  "process.euid, process.egid]}", "at most 4 fields" },
	{ "{count: 5, window: 1s, per: process.pid}", "threshold: unknown key 'per'" },
	{ "{count: 2, window: 1s, alert: false}", "alert: false needs a counter" },
	{ "{count: 2, window: 1s, alert: maybe, counter: c}", "alert must be true or false" },
	{ "{count: 2, window: 1s, counter: [a]}", "counter must be a name" },
};

START_TEST(test_policy_errors)
{
	struct rules_diag d;
	struct rule_set *rs;
	bool found = false;

	ck_assert_int_eq(load_with(bad[_i].threshold, &d, &rs), 1);
	for (size_t i = 0; i < d.n; i++)
		found |= strstr(d.v[i].msg, bad[_i].message) != NULL;
	if (!found)
		ck_abort_msg("%s: no error \"%s\" (first: %s)", bad[_i].threshold,
			     bad[_i].message, d.n ? d.v[0].msg : "none");
	/* The broken rule is skipped, with a line and column. */
	ck_assert_ptr_null(rule_set_find(rs, "burst"));
	ck_assert_uint_gt(d.v[0].line, 0);
	rule_set_free(rs);
	rules_diag_fini(&d);
}
END_TEST

START_TEST(test_check_rules)
{
	char path[] = "/tmp/sentrace-window-XXXXXX";
	int fd = mkstemp(path);
	const char *paths[1] = { path };
	char text[1024];
	FILE *out = tmpfile(), *err = tmpfile();
	char buf[4096];
	size_t n;

	ck_assert_int_ge(fd, 0);
	snprintf(text, sizeof(text), "%s    threshold: {count: 5, window: 30s, "
		 "by: connect.addr.port}\n", HEAD);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert_int_eq(rules_check_run(paths, 1, out, err), 1);
	rewind(err);
	n = fread(buf, 1, sizeof(buf) - 1, err);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "error: threshold by: 'connect.addr.port' is a "
				     "field of connect events"));
	fclose(out);
	fclose(err);

	/* A good one is listed with what it counts. */
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	snprintf(text, sizeof(text), "%s    threshold: {count: 5, window: 90s, "
		 "by: process.parent.pid, distinct: [exec.file.name, exec.argv0], "
		 "counter: recon}\n", HEAD);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	out = tmpfile();
	err = tmpfile();
	ck_assert_int_eq(rules_check_run(paths, 1, out, err), 0);
	rewind(out);
	n = fread(buf, 1, sizeof(buf) - 1, out);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "burst\texec\tlow\tthreshold 5 within 90s by process.parent.pid "
			 "distinct exec.file.name,exec.argv0 counter recon\n"
			 "1 rule loaded, 0 errors, 0 warnings\n");
	fclose(out);
	fclose(err);
	unlink(path);
}
END_TEST

START_TEST(test_policy_counter)
{
	static const char *const text =
		"version: 1\nrules:\n"
		"  - id: reads\n"
		"    expression: open.file.path == \"/etc/shadow\"\n"
		"    threshold: {count: 2, window: 10s, by: process.pid, distinct: event.type,\n"
		"                counter: exfil, alert: false}\n"
		"  - id: connects\n"
		"    expression: connect.addr.port == 443\n"
		"    threshold: {count: 2, window: 10s, by: process.pid, distinct: event.type,\n"
		"                counter: exfil}\n"
		"  - id: other_window\n"
		"    expression: connect.addr.port == 80\n"
		"    threshold: {count: 2, window: 20s, by: process.pid, distinct: event.type,\n"
		"                counter: exfil}\n";
	const char *names[1] = { "c.policy" }, *texts[1] = { text };
	const struct rule_threshold *t;
	struct rules_diag d;
	struct rule_set *rs;

	rules_diag_init(&d);
	ck_assert_int_eq(rule_set_load_buffers(names, texts, 1, &d, &rs), 1);
	ck_assert_ptr_nonnull(strstr(d.v[0].msg, "threshold counter 'exfil': count, window, "
				     "by and distinct must be those of rule 'reads'"));
	ck_assert_uint_eq(d.v[0].line, 13);
	t = rule_threshold(rule_set_find(rs, "reads"));
	ck_assert_str_eq(t->counter, "exfil");
	ck_assert(!t->alert);
	t = rule_threshold(rule_set_find(rs, "connects"));
	ck_assert_str_eq(t->counter, "exfil");
	ck_assert(t->alert);
	ck_assert_ptr_null(rule_set_find(rs, "other_window"));
	rule_set_free(rs);
	rules_diag_fini(&d);
}
END_TEST

/* ---- the group table ---- */

static struct rule_threshold th(uint32_t count, uint64_t window_ns)
{
	struct rule_threshold t;

	memset(&t, 0, sizeof(t));
	t.count = count;
	t.window_ns = window_ns;
	t.alert = true;
	return t;
}

START_TEST(test_count_in_window)
{
	struct window_table *wt;
	struct rule_threshold t = th(3, 10 * SEC);

	ck_assert_int_eq(window_table_new(&wt), 0);
	/* Two, then the third 11 s after the first: the first fell out. */
	ck_assert(!window_count(wt, &t, "g", 1, NULL, 0, T0));
	ck_assert(!window_count(wt, &t, "g", 1, NULL, 0, T0 + 5 * SEC));
	ck_assert(!window_count(wt, &t, "g", 1, NULL, 0, T0 + 11 * SEC));
	/* Within 10 s of the second: three. */
	ck_assert(window_count(wt, &t, "g", 1, NULL, 0, T0 + 12 * SEC));
	/* It starts over: two more are not enough. */
	ck_assert(!window_count(wt, &t, "g", 1, NULL, 0, T0 + 13 * SEC));
	ck_assert(!window_count(wt, &t, "g", 1, NULL, 0, T0 + 13 * SEC));
	ck_assert(window_count(wt, &t, "g", 1, NULL, 0, T0 + 14 * SEC));
	/* Groups and rules are apart. */
	ck_assert(!window_count(wt, &t, "h", 1, NULL, 0, T0 + 14 * SEC));
	ck_assert(!window_count(wt, &t, "G", 1, NULL, 0, T0 + 14 * SEC));
	ck_assert(!window_count(wt, &t, "h", 1, NULL, 0, T0 + 14 * SEC));
	ck_assert(window_count(wt, &t, "h", 1, NULL, 0, T0 + 14 * SEC));
	ck_assert_uint_eq(window_table_stats(wt)->fired, 3);
	ck_assert_uint_eq(window_table_stats(wt)->groups, 3);
	/* count 1: every event. */
	t = th(1, SEC);
	ck_assert(window_count(wt, &t, "g2", 2, NULL, 0, T0));
	window_table_free(wt);
}
END_TEST

START_TEST(test_distinct)
{
	struct window_table *wt;
	struct rule_threshold t = th(3, 30 * SEC);

	ck_assert_int_eq(window_table_new(&wt), 0);
	/* The same program again and again is one value. */
	for (int i = 0; i < 20; i++)
		ck_assert(!window_count(wt, &t, "g", 1, "id", 2, T0 + (uint64_t)i * SEC));
	ck_assert(!window_count(wt, &t, "g", 1, "uname", 5, T0 + 20 * SEC));
	ck_assert_uint_eq(window_table_stats(wt)->entries, 2);
	/* "id" was seen last at +19 s: still in the window at +45 s... */
	ck_assert(window_count(wt, &t, "g", 1, "ps", 2, T0 + 45 * SEC));
	ck_assert_uint_eq(window_table_stats(wt)->entries, 0);
	/* ...but a value seen 31 s ago is not. */
	ck_assert(!window_count(wt, &t, "g", 1, "id", 2, T0 + 100 * SEC));
	ck_assert(!window_count(wt, &t, "g", 1, "uname", 5, T0 + 131 * SEC));
	ck_assert(!window_count(wt, &t, "g", 1, "ps", 2, T0 + 132 * SEC));
	ck_assert_uint_eq(window_table_stats(wt)->entries, 2);
	/* Values are compared whole: "i" is not "id". */
	ck_assert(window_count(wt, &t, "g", 1, "i", 1, T0 + 133 * SEC));
	window_table_free(wt);
}
END_TEST

/* A counter shared by a rule that only counts (reads) and one that alerts. */
START_TEST(test_sequence)
{
	struct window_table *wt;
	struct rule_threshold reads = th(2, 10 * SEC), conns = th(2, 10 * SEC);

	reads.alert = false;
	ck_assert_int_eq(window_table_new(&wt), 0);
	/* Connect, then read: the read completes nothing. */
	ck_assert(!window_count(wt, &conns, "p1", 2, "connect", 7, T0));
	ck_assert(!window_count(wt, &reads, "p1", 2, "open", 4, T0 + SEC));
	ck_assert_uint_eq(window_table_stats(wt)->entries, 2);
	/* Another connect after that read: read, then connect. */
	ck_assert(window_count(wt, &conns, "p1", 2, "connect", 7, T0 + 2 * SEC));
	/* Read, then a connect 11 s later: too late. */
	ck_assert(!window_count(wt, &reads, "p2", 2, "open", 4, T0));
	ck_assert(!window_count(wt, &reads, "p2", 2, "open", 4, T0 + SEC));
	ck_assert(!window_count(wt, &conns, "p2", 2, "connect", 7, T0 + 12 * SEC));
	/* Read, then connect within the window. */
	ck_assert(!window_count(wt, &reads, "p3", 2, "open", 4, T0));
	ck_assert(window_count(wt, &conns, "p3", 2, "connect", 7, T0 + 9 * SEC));
	/* Many reads keep at most count entries. */
	for (int i = 0; i < 50; i++) {
		char v[8];

		snprintf(v, sizeof(v), "v%d", i);
		ck_assert(!window_count(wt, &reads, "p4", 2, v, strlen(v), T0));
	}
	ck_assert_uint_le(window_table_stats(wt)->entries, 2 + 2 + 1);
	window_table_free(wt);
}
END_TEST

START_TEST(test_expiry)
{
	struct window_table *wt;
	struct rule_threshold t = th(2, 10 * SEC);
	char key[16];

	ck_assert_int_eq(window_table_new(&wt), 0);
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "p%d", i);
		ck_assert(!window_count(wt, &t, key, strlen(key), NULL, 0, T0));
	}
	ck_assert_uint_eq(window_table_stats(wt)->groups, 100);
	/* Each later call frees a few groups whose window has passed. */
	for (int i = 0; i < 20; i++)
		window_count(wt, &t, "late", 4, NULL, 0, T0 + 60 * SEC + (uint64_t)i);
	ck_assert_uint_eq(window_table_stats(wt)->groups, 1);
	ck_assert_uint_eq(window_table_stats(wt)->groups_expired, 100);
	ck_assert_uint_eq(window_table_stats(wt)->groups_evicted, 0);
	window_table_clear(wt);
	ck_assert_uint_eq(window_table_stats(wt)->groups, 0);
	ck_assert_uint_eq(window_table_stats(wt)->entries, 0);
	window_table_free(wt);
}
END_TEST

START_TEST(test_caps)
{
	struct window_table *wt;
	struct rule_threshold t = th(RULES_THRESHOLD_COUNT_MAX, 3600 * SEC);
	char key[32];
	uint64_t i;

	ck_assert_int_eq(window_table_new(&wt), 0);
	/* A tracee making a new group per event (a pid per fork, say). */
	for (i = 0; i < WINDOW_GROUPS_MAX + 500; i++) {
		snprintf(key, sizeof(key), "pid%" PRIu64, i);
		window_count(wt, &t, key, strlen(key), NULL, 0, T0 + i);
	}
	ck_assert_uint_eq(window_table_stats(wt)->groups, WINDOW_GROUPS_MAX);
	ck_assert_uint_eq(window_table_stats(wt)->groups_evicted, 500);
	ck_assert_uint_eq(window_table_stats(wt)->entries, WINDOW_GROUPS_MAX);
	/* The least recently counted went first: pid0 starts again from 1. */
	for (i = 0; i < RULES_THRESHOLD_COUNT_MAX - 1; i++)
		ck_assert(!window_count(wt, &t, "pid0", 4, NULL, 0, T0 + 10 * SEC));
	ck_assert(window_count(wt, &t, "pid0", 4, NULL, 0, T0 + 10 * SEC));
	window_table_clear(wt);
	/* Entries: 100 groups of 999 events are more than the cap. */
	for (i = 0; i < 100 * 999; i++) {
		snprintf(key, sizeof(key), "g%" PRIu64, i / 999);
		window_count(wt, &t, key, strlen(key), NULL, 0, T0 + i);
	}
	ck_assert_uint_le(window_table_stats(wt)->entries, WINDOW_ENTRIES_MAX);
	ck_assert_uint_gt(window_table_stats(wt)->entries_evicted, 0);
	/* Over-long keys are cut, not refused. */
	{
		char big[2 * WINDOW_KEY_MAX];

		memset(big, 'x', sizeof(big));
		window_count(wt, &t, big, sizeof(big), big, sizeof(big), T0);
	}
	window_table_free(wt);
}
END_TEST

/* ---- keys from field values ---- */

/* A getter: field 106 (process.pid) and 1001 (exec.file.name), or absent. */
struct fake_ev {
	int64_t pid;              /* < 0: absent */
	const char *name;
};

static int fake_get(void *data, int field_id, struct rules_value *ret)
{
	const struct fake_ev *e = data;

	if (field_id == 106 && e->pid >= 0) {
		ret->kind = RULES_V_INT;
		ret->i = e->pid;
		return 0;
	}
	if (field_id == 1001 && e->name) {
		ret->kind = RULES_V_STR;
		ret->s = e->name;
		ret->len = strlen(e->name);
		return 0;
	}
	return -1;
}

static bool match_one(struct window_table *wt, const char *rule,
		      const struct rule_threshold *t, uint64_t session, int64_t pid,
		      const char *name, uint64_t ts)
{
	struct fake_ev e = { .pid = pid, .name = name };
	struct rules_ctx ctx = { .get = fake_get, .data = &e };

	return window_match(wt, rule, t, &ctx, session, ts);
}

START_TEST(test_match_keys)
{
	struct window_table *wt;
	struct rule_threshold t = th(2, 10 * SEC);
	char long1[300], long2[300];

	t.by[0] = rules_field_by_name("process.pid", 11);
	t.nby = 1;
	t.distinct[0] = rules_field_by_name("exec.file.name", 14);
	t.ndistinct = 1;
	ck_assert_ptr_nonnull(t.by[0]);
	ck_assert_ptr_nonnull(t.distinct[0]);
	ck_assert_int_eq(window_table_new(&wt), 0);
	/* Same pid in two sessions: two groups. */
	ck_assert(!match_one(wt, "r", &t, 1, 100, "id", T0));
	ck_assert(!match_one(wt, "r", &t, 2, 100, "ps", T0));
	/* Another rule: its own groups. */
	ck_assert(!match_one(wt, "r2", &t, 1, 100, "ps", T0));
	ck_assert(match_one(wt, "r", &t, 1, 100, "ps", T0));
	/* Without a pid the event is not counted. */
	ck_assert(!match_one(wt, "r", &t, 1, -1, "id", T0));
	ck_assert(!match_one(wt, "r", &t, 1, -1, "ps", T0));
	ck_assert_uint_eq(window_table_stats(wt)->unkeyed, 2);
	/* An absent distinct value is a value ("-"), seen twice: one. */
	ck_assert(!match_one(wt, "r", &t, 1, 7, NULL, T0));
	ck_assert(!match_one(wt, "r", &t, 1, 7, NULL, T0));
	ck_assert(match_one(wt, "r", &t, 1, 7, "id", T0));
	/* Strings count by their first 200 bytes. */
	memset(long1, 'a', sizeof(long1));
	long1[sizeof(long1) - 1] = '\0';
	memcpy(long2, long1, sizeof(long2));
	long2[250] = 'b';
	ck_assert(!match_one(wt, "r", &t, 1, 8, long1, T0));
	ck_assert(!match_one(wt, "r", &t, 1, 8, long2, T0));
	long2[150] = 'b';
	ck_assert(match_one(wt, "r", &t, 1, 8, long2, T0));
	/* A counter is shared by the rules that name it, whatever their ids. */
	t.counter = "shared";
	ck_assert(!match_one(wt, "x1", &t, 1, 9, "id", T0));
	ck_assert(match_one(wt, "x2", &t, 1, 9, "ps", T0));
	window_table_free(wt);
}
END_TEST

/* ---- the engine ---- */

static const char *const ENGINE_POLICY =
	"version: 1\nrules:\n"
	"  - id: discovery_test\n"
	"    description: discovery burst\n"
	"    expression: exec.file.name in [\"id\", \"uname\", \"ps\", \"whoami\"]\n"
	"    severity: low\n"
	"    threshold: {count: 3, window: 30s, by: exec.uid, distinct: exec.file.name}\n"
	"  - id: every_exec\n"
	"    description: every id\n"
	"    expression: exec.file.name == \"id\"\n"
	"    severity: info\n";

struct mp_buf {
	msgpack_sbuffer sb;
	struct event_record rec;
};

static void eval_exec(struct engine *en, struct mp_buf *b, const char *file,
		      int64_t uid, uint64_t ts)
{
	struct engine_source src = { .hostname = "box" };
	msgpack_packer pk;
	msgpack_unpacked up;
	size_t off = 0;

	msgpack_sbuffer_clear(&b->sb);
	msgpack_packer_init(&pk, &b->sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 7);
	wire_pack_kv_str(&pk, "ev", "exec");
	wire_pack_kv_u64(&pk, "ts", ts);
	wire_pack_kv_i64(&pk, "pid", 100);
	wire_pack_kv_i64(&pk, "ret", 0);
	wire_pack_kv_str(&pk, "file", file);
	wire_pack_kv_i64(&pk, "uid", uid);
	wire_pack_str(&pk, "argv");
	msgpack_pack_array(&pk, 1);
	wire_pack_str(&pk, file);
	msgpack_unpacked_init(&up);
	ck_assert_int_eq(msgpack_unpack_next(&up, b->sb.data, b->sb.size, &off),
			 MSGPACK_UNPACK_SUCCESS);
	ck_assert_int_eq(record_decode(&b->rec, &up.data, NULL), 0);
	engine_eval(en, &src, &b->rec, NULL);
	msgpack_unpacked_destroy(&up);
}

static size_t count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[16384];
	size_t n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

START_TEST(test_engine)
{
	char dir[] = "/tmp/sentrace-window-XXXXXX", policy[64], alerts[64];
	const char *paths[1] = { policy };
	struct engine_config ec;
	struct engine *en;
	struct output *out;
	struct mp_buf b;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(policy, sizeof(policy), "%s/t.policy", dir);
	snprintf(alerts, sizeof(alerts), "%s/alerts", dir);
	f = fopen(policy, "w");
	fputs(ENGINE_POLICY, f);
	fclose(f);
	engine_config_defaults(&ec);
	ec.policy_paths = paths;
	ec.npolicy_paths = 1;
	ck_assert_int_eq(engine_new(&ec, &en), 0);
	ck_assert_int_eq(output_new(alerts, OUTPUT_JSON, &out), 0);
	ck_assert_int_eq(engine_add_sink(en, out), 0);
	ck_assert_int_eq(engine_load(en), 0);
	msgpack_sbuffer_init(&b.sb);
	ck_assert_int_eq(record_init(&b.rec), 0);

	/* id three times, uname by another user: two values for uid 1000. */
	eval_exec(en, &b, "/usr/bin/id", 1000, T0);
	eval_exec(en, &b, "/usr/bin/id", 1000, T0 + SEC);
	eval_exec(en, &b, "/usr/bin/id", 1000, T0 + 2 * SEC);
	eval_exec(en, &b, "/usr/bin/uname", 0, T0 + 2 * SEC);
	eval_exec(en, &b, "/usr/bin/uname", 1000, T0 + 3 * SEC);
	engine_flush(en);
	ck_assert_uint_eq(count_lines(alerts, "\"rule\":\"discovery_test\""), 0);
	/* The rule without a threshold alerted on each id. */
	ck_assert_uint_eq(count_lines(alerts, "\"rule\":\"every_exec\""), 3);
	/* The third distinct program of uid 1000: one alert, with the threshold. */
	eval_exec(en, &b, "/bin/ps", 1000, T0 + 4 * SEC);
	engine_flush(en);
	ck_assert_uint_eq(count_lines(alerts, "\"rule\":\"discovery_test\""), 1);
	ck_assert_uint_eq(count_lines(alerts, "\"threshold\":{\"count\":3,"
				      "\"window_ns\":30000000000}"), 1);
	ck_assert_uint_eq(count_lines(alerts, "\"file\":\"/bin/ps\""), 1);
	/* A reload forgets the counts: two more are not enough. */
	ck_assert_int_eq(engine_reload(en), 0);
	eval_exec(en, &b, "/usr/bin/whoami", 1000, T0 + 5 * SEC);
	eval_exec(en, &b, "/usr/bin/uname", 1000, T0 + 5 * SEC);
	engine_flush(en);
	ck_assert_uint_eq(count_lines(alerts, "\"rule\":\"discovery_test\""), 1);
	ck_assert_uint_eq(window_table_stats(en->windows)->fired, 1);

	engine_free(en);
	output_free(out);
	msgpack_sbuffer_destroy(&b.sb);
	record_fini(&b.rec);
	unlink(policy);
	unlink(alerts);
	rmdir(dir);
}
END_TEST

static Suite *window_suite(void)
{
	Suite *s = suite_create("window");
	TCase *tc = tcase_create("policy");

	tcase_add_test(tc, test_policy_forms);
	tcase_add_loop_test(tc, test_policy_errors, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_check_rules);
	tcase_add_test(tc, test_policy_counter);
	suite_add_tcase(s, tc);
	tc = tcase_create("groups");
	tcase_add_test(tc, test_count_in_window);
	tcase_add_test(tc, test_distinct);
	tcase_add_test(tc, test_sequence);
	tcase_add_test(tc, test_match_keys);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_caps);
	suite_add_tcase(s, tc);
	tc = tcase_create("engine");
	tcase_add_test(tc, test_engine);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(window_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
