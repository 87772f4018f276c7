/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the procfs scanner against the real /proc: processes this
 * test starts play the untraced ones (or the traced ones, through a fake
 * is_traced), and every emitted event is decoded and kept for the asserts.
 * Other processes of the host come and go meanwhile: the asserts look only
 * at the pids the test started.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <msgpack.h>
#include <uv.h>

#include "event.h"
#include "procscan.h"
#include "procsnap.h"
#include "util.h"

#define ARGV_KEEP 8

/* One emitted event, decoded. */
struct got {
	char ev[16];
	int64_t pid, tid, ppid, ret;
	uint64_t ts;
	bool from_procfs, has_ppid, has_code, has_syscall, has_ret;
	int argc;
	char argv[ARGV_KEEP][64];
	char file[256];
};

struct fake {
	struct got *evs;
	size_t n, cap;
	pid_t traced[8];           /* what is_traced says yes to */
	size_t ntraced;
};

static bool str_is(const msgpack_object *o, const char *s)
{
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	       memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

static void copy_str(char *dst, size_t cap, const msgpack_object *o)
{
	size_t n = o->via.str.size < cap - 1 ? o->via.str.size : cap - 1;

	memcpy(dst, o->via.str.ptr, n);
	dst[n] = '\0';
}

static void decode(struct got *g, const struct evbuf *e)
{
	msgpack_unpacked u;
	size_t off = 0;

	memset(g, 0, sizeof(*g));
	msgpack_unpacked_init(&u);
	ck_assert_int_eq(msgpack_unpack_next(&u, e->sb.data, e->sb.size, &off),
			 MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, e->sb.size);
	ck_assert_int_eq(u.data.type, MSGPACK_OBJECT_MAP);
	for (uint32_t i = 0; i < u.data.via.map.size; i++) {
		const msgpack_object *k = &u.data.via.map.ptr[i].key;
		const msgpack_object *v = &u.data.via.map.ptr[i].val;

		if (str_is(k, "ev"))
			copy_str(g->ev, sizeof(g->ev), v);
		else if (str_is(k, "pid"))
			g->pid = v->via.i64;
		else if (str_is(k, "tid"))
			g->tid = v->via.i64;
		else if (str_is(k, "ppid"))
			g->ppid = v->via.i64, g->has_ppid = true;
		else if (str_is(k, "ret"))
			g->ret = v->via.i64, g->has_ret = true;
		else if (str_is(k, "ts"))
			g->ts = v->via.u64;
		else if (str_is(k, "from_procfs"))
			g->from_procfs = v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
		else if (str_is(k, "code"))
			g->has_code = true;
		else if (str_is(k, "syscall"))
			g->has_syscall = true;
		else if (str_is(k, "file"))
			copy_str(g->file, sizeof(g->file), v);
		else if (str_is(k, "argv")) {
			ck_assert_int_eq(v->type, MSGPACK_OBJECT_ARRAY);
			g->argc = (int)v->via.array.size;
			for (uint32_t a = 0; a < v->via.array.size && a < ARGV_KEEP; a++)
				copy_str(g->argv[a], sizeof(g->argv[a]), &v->via.array.ptr[a]);
		}
	}
	msgpack_unpacked_destroy(&u);
}

static bool fake_is_traced(void *data, pid_t tgid)
{
	struct fake *f = data;

	for (size_t i = 0; i < f->ntraced; i++)
		if (f->traced[i] == tgid)
			return true;
	return false;
}

static void fake_emit(void *data, struct evbuf *e)
{
	struct fake *f = data;

	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 256;
		f->evs = realloc(f->evs, f->cap * sizeof(*f->evs));
		ck_assert_ptr_nonnull(f->evs);
	}
	decode(&f->evs[f->n++], e);
}

static const struct procscan_ops fake_ops = {
	.is_traced = fake_is_traced,
	.emit = fake_emit,
};

/* Index of the n-th (from 0) event of kind ev for pid, or -1. */
static ssize_t find_ev(const struct fake *f, const char *ev, pid_t pid, int nth)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->evs[i].pid == pid && strcmp(f->evs[i].ev, ev) == 0 && nth-- == 0)
			return (ssize_t)i;
	return -1;
}

static size_t count_ev(const struct fake *f, const char *ev, pid_t pid)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		n += f->evs[i].pid == pid && strcmp(f->evs[i].ev, ev) == 0;
	return n;
}

/* --- processes to find ------------------------------------------------------ */

/*
 * Starts `sleep TAG` (a distinctive argv) and returns once it has exec'd:
 * the close-on-exec end of a pipe reads EOF then.
 */
static pid_t start_sleeper(const char *tag)
{
	int p[2];
	char c;
	pid_t pid;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		execlp("sleep", "sleep", tag, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 0);
	close(p[0]);
	return pid;
}

static void kill_and_reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
}

/*
 * A chain of depth processes, each the child of the one before; pids[0]
 * is our child. Each writes its pid on the pipe, then pauses.
 */
static void start_chain(pid_t *pids, int depth)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	/* Orphans come back to us, so that the test reaps what it made. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	pids[0] = fork();
	ck_assert_int_ge(pids[0], 0);
	if (pids[0] == 0) {
		close(p[0]);
		for (int level = 0; level < depth; level++) {
			pid_t me = getpid();

			if (write(p[1], &me, sizeof(me)) != sizeof(me))
				_exit(1);
			if (level + 1 == depth || fork() != 0)
				break;
		}
		close(p[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	for (int i = 0; i < depth; i++)
		ck_assert_int_eq(read(p[0], &pids[i], sizeof(pids[i])),
				 sizeof(pids[i]));
	close(p[0]);
}

static void kill_chain(pid_t *pids, int depth)
{
	for (int i = depth - 1; i >= 0; i--)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < depth; i++)
		while (waitpid(-1, NULL, 0) < 0 && errno == EINTR)
			;
}

/* --- fixture ------------------------------------------------------------------ */

static uv_loop_t loop;
static struct fake fake;
static struct procscan *ps;

static void setup(void)
{
	memset(&fake, 0, sizeof(fake));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	/* A long period: the tests call procscan_scan() themselves. */
	ck_assert_int_eq(procscan_new(&loop, 3600 * NSEC_PER_SEC, &fake_ops,
				      &fake, &ps), 0);
}

static void teardown(void)
{
	ps = procscan_free(ps);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	free(fake.evs);
}

/* --- tests ---------------------------------------------------------------------- */

START_TEST(test_exec_then_exit)
{
	pid_t child;
	ssize_t i;
	struct got *g;
	uint64_t start;

	procscan_scan(ps);
	child = start_sleeper("1001");
	fake.n = 0;
	procscan_scan(ps);
	ck_assert_uint_eq(count_ev(&fake, "exec", child), 1);
	ck_assert(procscan_knows(ps, child));
	i = find_ev(&fake, "exec", child, 0);
	g = &fake.evs[i];
	ck_assert(g->from_procfs);
	ck_assert(!g->has_syscall);
	ck_assert_int_eq(g->tid, child);
	ck_assert(g->has_ppid);
	ck_assert_int_eq(g->ppid, getpid());
	ck_assert(g->has_ret);
	ck_assert_int_eq(g->ret, 0);
	ck_assert_int_eq(g->argc, 2);
	ck_assert_str_eq(g->argv[0], "sleep");
	ck_assert_str_eq(g->argv[1], "1001");
	ck_assert_ptr_nonnull(strstr(g->file, "sleep"));
	/* ts is the start time, not the time of the scan. */
	start = proc_start_time_ns(child);
	ck_assert_uint_eq(g->ts, start);
	ck_assert_uint_le(g->ts, now_realtime_ns() + NSEC_PER_SEC);

	/* Known now: a second pass says nothing about it. */
	fake.n = 0;
	procscan_scan(ps);
	ck_assert_uint_eq(count_ev(&fake, "exec", child), 0);
	ck_assert_uint_eq(count_ev(&fake, "exit", child), 0);

	kill_and_reap(child);
	fake.n = 0;
	procscan_scan(ps);
	ck_assert_uint_eq(count_ev(&fake, "exit", child), 1);
	ck_assert(!procscan_knows(ps, child));
	g = &fake.evs[find_ev(&fake, "exit", child, 0)];
	ck_assert(g->from_procfs);
	ck_assert(!g->has_code);
	ck_assert_int_eq(g->tid, child);
	ck_assert_uint_ge(procscan_stats(ps)->exits, 1);
}
END_TEST

START_TEST(test_parents_before_children)
{
	pid_t pids[4];
	ssize_t at[4];

	procscan_scan(ps);
	start_chain(pids, 4);
	fake.n = 0;
	procscan_scan(ps);
	for (int i = 0; i < 4; i++) {
		ck_assert_uint_eq(count_ev(&fake, "exec", pids[i]), 1);
		at[i] = find_ev(&fake, "exec", pids[i], 0);
		ck_assert_int_eq(fake.evs[at[i]].ppid, i ? pids[i - 1] : getpid());
		if (i)
			ck_assert_int_lt(at[i - 1], at[i]);
	}
	kill_chain(pids, 4);
}
END_TEST

START_TEST(test_first_pass_reports_everything_in_order)
{
	/* The first pass reports what already runs; with that many events
	 * the order is worth checking over the whole host. */
	procscan_scan(ps);
	ck_assert_uint_gt(fake.n, 0);
	for (size_t i = 0; i < fake.n; i++) {
		const struct got *g = &fake.evs[i];

		ck_assert_str_eq(g->ev, "exec");
		ck_assert(g->from_procfs);
		/* Never the scanner's own process, never a kernel thread. */
		ck_assert_int_ne(g->pid, getpid());
		ck_assert_int_ne(g->pid, 2);
		ck_assert_int_ne(g->ppid, 2);
		/* Parents come first. */
		for (size_t j = i + 1; j < fake.n; j++)
			ck_assert_int_ne(fake.evs[j].pid, g->ppid);
	}
	ck_assert_uint_eq(procscan_count(ps), fake.n);
}
END_TEST

START_TEST(test_traced_tree_skipped)
{
	pid_t pids[3];

	procscan_scan(ps);
	start_chain(pids, 3);
	/* The middle one is traced: it and its child are ptrace's. */
	fake.traced[fake.ntraced++] = pids[1];
	fake.n = 0;
	procscan_scan(ps);
	ck_assert_uint_eq(count_ev(&fake, "exec", pids[0]), 1);
	ck_assert_uint_eq(count_ev(&fake, "exec", pids[1]), 0);
	ck_assert_uint_eq(count_ev(&fake, "exec", pids[2]), 0);

	/* No longer traced (a detach): reported from then on. */
	fake.ntraced = 0;
	fake.n = 0;
	procscan_scan(ps);
	ck_assert_uint_eq(count_ev(&fake, "exec", pids[0]), 0);
	ck_assert_uint_eq(count_ev(&fake, "exec", pids[1]), 1);
	ck_assert_uint_eq(count_ev(&fake, "exec", pids[2]), 1);
	ck_assert_int_lt(find_ev(&fake, "exec", pids[1], 0),
			 find_ev(&fake, "exec", pids[2], 0));
	kill_chain(pids, 3);
}
END_TEST

START_TEST(test_pid_reuse)
{
	pid_t child;
	ssize_t ex, ex2, ed;

	procscan_scan(ps);
	child = start_sleeper("1002");
	procscan_scan(ps);
	ck_assert_uint_eq(count_ev(&fake, "exec", child), 1);
	/* As if the pid had belonged to an older process. */
	ck_assert_int_eq(procscan_set_start(ps, child, 1), 0);
	ck_assert_int_eq(procscan_set_start(ps, -5, 1), -ENOENT);
	fake.n = 0;
	procscan_scan(ps);
	ck_assert_uint_eq(count_ev(&fake, "exit", child), 1);
	ck_assert_uint_eq(count_ev(&fake, "exec", child), 1);
	ed = find_ev(&fake, "exit", child, 0);
	ex = find_ev(&fake, "exec", child, 0);
	ck_assert_int_lt(ed, ex);
	ck_assert_uint_eq(fake.evs[ex].ts, proc_start_time_ns(child));
	/* The table holds the true start time again. */
	fake.n = 0;
	procscan_scan(ps);
	ex2 = find_ev(&fake, "exec", child, 0);
	ck_assert_int_eq(ex2, -1);
	kill_and_reap(child);
}
END_TEST

START_TEST(test_zombie_not_reported)
{
	pid_t child = fork();

	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(0);
	/* Until reaped it is a zombie: it has exited already. */
	for (int i = 0; i < 1000; i++) {
		struct proc_stat st;
		char buf[512], path[64];
		FILE *f;
		size_t n;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)child);
		f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		ck_assert_int_eq(proc_stat_parse(buf, &st), 0);
		if (st.state == 'Z')
			break;
		usleep(1000);
	}
	procscan_scan(ps);
	ck_assert_uint_eq(count_ev(&fake, "exec", child), 0);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
}
END_TEST

START_TEST(test_stat_parse)
{
	static const char line[] =
		"4242 (a) b) (c) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 "
		"20 0 1 0 987654 1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 "
		"0 0 17 3 0 0 0 0 0\n";
	struct proc_stat st;

	ck_assert_int_eq(proc_stat_parse(line, &st), 0);
	ck_assert_int_eq(st.pid, 4242);
	ck_assert_int_eq(st.ppid, 17);
	ck_assert_int_eq(st.state, 'S');
	ck_assert_uint_eq(st.flags, 4194560);
	ck_assert_uint_eq(st.start_ticks, 987654);
	ck_assert_int_eq(proc_stat_parse("12 (x", &st), -EIO);
	ck_assert_int_eq(proc_stat_parse("", &st), -EIO);
	ck_assert_int_eq(proc_stat_parse("1 (x) S 2 3", &st), -EIO);
}
END_TEST

/* --- the timer ------------------------------------------------------------------- */

static uint64_t timer_scans;

static void stop_cb(uv_timer_t *h)
{
	timer_scans = procscan_stats(ps)->scans;
	ps = procscan_free(ps);
	uv_close((uv_handle_t *)h, NULL);
}

START_TEST(test_timer)
{
	uv_loop_t l;
	uv_timer_t stop;
	struct fake f = { 0 };

	ck_assert_int_eq(uv_loop_init(&l), 0);
	ck_assert_int_eq(procscan_new(&l, 20 * NSEC_PER_MSEC, &fake_ops, &f, &ps), 0);
	/* The first pass waits one period. */
	ck_assert_uint_eq(procscan_stats(ps)->scans, 0);
	procscan_stop(NULL);
	uv_timer_init(&l, &stop);
	uv_timer_start(&stop, stop_cb, 110, 0);
	uv_run(&l, UV_RUN_DEFAULT);
	ck_assert_uint_ge(timer_scans, 2);
	ck_assert_uint_le(timer_scans, 6);
	ck_assert_int_eq(uv_loop_close(&l), 0);
	free(f.evs);
	ck_assert_ptr_null(procscan_free(NULL));
}
END_TEST

static void stopped_cb(uv_timer_t *h)
{
	timer_scans = procscan_stats(ps)->scans;
	ps = procscan_free(ps);
	uv_close((uv_handle_t *)h, NULL);
}

START_TEST(test_stop)
{
	uv_loop_t l;
	uv_timer_t stop;
	struct fake f = { 0 };

	ck_assert_int_eq(uv_loop_init(&l), 0);
	ck_assert_int_eq(procscan_new(&l, 10 * NSEC_PER_MSEC, &fake_ops, &f, &ps), 0);
	procscan_stop(ps);
	uv_timer_init(&l, &stop);
	uv_timer_start(&stop, stopped_cb, 60, 0);
	timer_scans = 99;
	uv_run(&l, UV_RUN_DEFAULT);
	ck_assert_uint_eq(timer_scans, 0);
	ck_assert_int_eq(uv_loop_close(&l), 0);
	free(f.evs);
}
END_TEST

/* --- cost ------------------------------------------------------------------------- */

#define COST_CHILDREN 300
#define COST_PASSES   50

START_TEST(test_cost)
{
	static pid_t kids[COST_CHILDREN];
	uint64_t t0, first, steady;

	for (int i = 0; i < COST_CHILDREN; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0) {
			for (;;)
				pause();
		}
	}
	t0 = now_monotonic_ns();
	procscan_scan(ps);
	first = now_monotonic_ns() - t0;
	t0 = now_monotonic_ns();
	for (int i = 0; i < COST_PASSES; i++)
		procscan_scan(ps);
	steady = (now_monotonic_ns() - t0) / COST_PASSES;
	printf("procscan: %llu processes listed; first pass (%llu execs) %.1f us, "
	       "steady pass %.1f us\n",
	       (unsigned long long)procscan_stats(ps)->last_listed,
	       (unsigned long long)procscan_stats(ps)->execs,
	       (double)first / 1000, (double)steady / 1000);
	for (int i = 0; i < COST_CHILDREN; i++)
		kill_and_reap(kids[i]);
	fake.n = 0;
	procscan_scan(ps);
	for (int i = 0; i < COST_CHILDREN; i++)
		ck_assert_uint_eq(count_ev(&fake, "exit", kids[i]), 1);
}
END_TEST

static Suite *procscan_suite(void)
{
	Suite *s = suite_create("procscan");
	TCase *tc;

	tc = tcase_create("exec_then_exit");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_exec_then_exit);
	suite_add_tcase(s, tc);
	tc = tcase_create("parents_before_children");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parents_before_children);
	tcase_add_test(tc, test_first_pass_reports_everything_in_order);
	suite_add_tcase(s, tc);
	tc = tcase_create("traced_tree_skipped");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_traced_tree_skipped);
	tcase_add_test(tc, test_zombie_not_reported);
	suite_add_tcase(s, tc);
	tc = tcase_create("pid_reuse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pid_reuse);
	suite_add_tcase(s, tc);
	tc = tcase_create("stat_parse");
	tcase_add_test(tc, test_stat_parse);
	suite_add_tcase(s, tc);
	tc = tcase_create("timer");
	tcase_add_test(tc, test_timer);
	tcase_add_test(tc, test_stop);
	suite_add_tcase(s, tc);
	tc = tcase_create("cost");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cost);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(procscan_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
