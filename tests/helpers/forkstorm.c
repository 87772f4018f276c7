// SPDX-License-Identifier: Apache-2.0
/*
 * forkstorm: a bounded fork bomb next to a latency canary, for the tracer's
 * fairness under a fork storm (tests/integration/test_forkstorm.py).
 *
 *   forkstorm storm MS MAXPROCS DIR
 *
 * A canary process opens DIR/canary every 50 ms (openat, a monitored call)
 * and measures the largest gap between two of its opens. Once it runs, a
 * bomb starts: every process of it forks as fast as it can, for MS
 * milliseconds, while fewer than MAXPROCS of them live (a counter in shared
 * memory; RLIMIT_NPROC, set by the test, is the backstop); each opens
 * /dev/null after every fork attempt, so that every child has an event of
 * its own, and spins when it may not fork. At the deadline every bomber
 * reaps its children and exits; then the canary stops. Prints, one JSON
 * line each: {"canary":…} with its pid, iterations and max_gap_ms, and
 * {"storm":…} with the number of processes the bomb made and its own
 * nice value. Everything is
 * bounded by MS (at most 10 s) and MAXPROCS (at most 4,000).
 *
 *   forkstorm orphans N DIR
 *
 * N times: a parent forks a child and is SIGKILLed (by a thread of its own)
 * while the tracer may not yet have handled its fork event, so that the
 * event can be lost. The child, re-parented, opens DIR/orphan-I and exits.
 * Prints {"orphan":I,"pid":CHILD} for each child that ran, then
 * {"orphans":N}.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define CANARY_PERIOD_US 50000

static void die(const char *what)
{
	fprintf(stderr, "forkstorm: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* One line, one write(2): several processes share stdout. */
static void line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void line(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(buf) - 1)
		_exit(3);
	buf[n++] = '\n';
	if (write(STDOUT_FILENO, buf, (size_t)n) != n)
		_exit(3);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int reap(pid_t pid)
{
	int st = 0;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

static int open_traced(const char *path, int flags)
{
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0600);
}

/* --- storm ------------------------------------------------------------------ */

struct shared {
	int live;              /* bombers alive (the root included) */
	int made;              /* processes the bomb forked */
	int canary_runs;       /* the canary has opened this often */
	int stop;              /* the bomb is over: the canary stops */
};

static void canary(struct shared *sh, const char *dir, uint64_t hard_end)
{
	char path[PATH_MAX];
	uint64_t last = now_ns(), max_gap = 0;
	long n = 0;

	snprintf(path, sizeof(path), "%s/canary", dir);
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) && now_ns() < hard_end) {
		int fd = open_traced(path, O_WRONLY | O_CREAT);
		uint64_t t = now_ns();

		if (fd < 0)
			_exit(4);
		close(fd);
		if (t - last > max_gap)
			max_gap = t - last;
		last = t;
		n++;
		__atomic_store_n(&sh->canary_runs, (int)n, __ATOMIC_RELEASE);
		sleep_us(CANARY_PERIOD_US);
	}
	line("{\"canary\":\"done\",\"pid\":%d,\"iterations\":%ld,\"max_gap_ms\":%llu,"
	     "\"period_ms\":%d}", (int)getpid(), n,
	     (unsigned long long)(max_gap / 1000000), CANARY_PERIOD_US / 1000);
	_exit(0);
}

static void bomber(struct shared *sh, uint64_t deadline, int max)
{
	while (now_ns() < deadline) {
		pid_t c = -1;
		int fd;

		if (__atomic_add_fetch(&sh->live, 1, __ATOMIC_ACQ_REL) <= max) {
			c = fork();
			if (c == 0) {
				__atomic_add_fetch(&sh->made, 1, __ATOMIC_RELAXED);
				continue;  /* the child joins in */
			}
		}
		if (c < 0) {
			/* At the cap: try again soon. (A bomb that spins here
			 * starves everything on the machine, traced or not,
			 * which says nothing about the tracer.) */
			__atomic_sub_fetch(&sh->live, 1, __ATOMIC_ACQ_REL);
			sleep_us(2000);
			continue;
		}
		fd = open_traced("/dev/null", O_RDONLY);
		if (fd >= 0)
			close(fd);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
	while (wait(NULL) > 0 || errno == EINTR)
		;
	__atomic_sub_fetch(&sh->live, 1, __ATOMIC_ACQ_REL);
	_exit(0);
}

static int mode_storm(long ms, int max, const char *dir)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t start, deadline;
	pid_t can, root;
	int st, nice;

	if (ms > 10000 || max > 4000)
		return 2;
	if (sh == MAP_FAILED)
		die("mmap");
	memset(sh, 0, sizeof(*sh));
	start = now_ns();
	can = fork();
	if (can < 0)
		die("fork canary");
	if (can == 0)
		canary(sh, dir, start + (uint64_t)(ms + 60000) * 1000000u);
	/* The canary is running (three opens seen) before the bomb starts. */
	while (__atomic_load_n(&sh->canary_runs, __ATOMIC_ACQUIRE) < 3)
		sleep_us(10000);
	deadline = now_ns() + (uint64_t)ms * 1000000u;
	sh->live = 1;
	root = fork();
	if (root < 0)
		die("fork bomb");
	if (root == 0)
		bomber(sh, deadline, max);
	st = reap(root);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	reap(can);
	errno = 0;
	nice = getpriority(PRIO_PROCESS, 0);
	line("{\"storm\":\"done\",\"root\":%d,\"made\":%d,\"root_status\":%d,"
	     "\"elapsed_ms\":%llu,\"nice\":%d}", (int)root, sh->made, st,
	     (unsigned long long)((now_ns() - start) / 1000000), errno ? 99 : nice);
	return 0;
}

/* --- orphans ------------------------------------------------------------------ */

static int orphan_go[2];
static int orphan_stat = -1;       /* /proc/self/task/MAIN/stat, opened before */
static int orphan_forked;          /* fork() returned in the parent */

/* The state letter of the main thread: 't' while it is in a ptrace stop. */
static char main_state(void)
{
	char buf[512];
	ssize_t n = pread(orphan_stat, buf, sizeof(buf) - 1, 0);
	char *p;

	if (n <= 0)
		return '?';
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/*
 * Kills its own process while the main thread sits in the stop of its fork
 * event (the child exists, the tracer may not have handled the event yet),
 * or, if the tracer was quicker, once fork() has returned.
 */
static void *orphan_killer(void *arg)
{
	char c;

	(void)arg;
	while (read(orphan_go[0], &c, 1) < 0 && errno == EINTR)
		;
	while (!__atomic_load_n(&orphan_forked, __ATOMIC_ACQUIRE) && main_state() != 't')
		;
	syscall(SYS_kill, getpid(), SIGKILL);
	return NULL;
}

static void orphan_child(int i, pid_t parent, const char *dir)
{
	uint64_t end = now_ns() + 10000000000u;
	char path[PATH_MAX];
	int fd;

	/* Until the parent is gone and we are re-parented to the subreaper. */
	while (getppid() == parent && now_ns() < end)
		sleep_us(1000);
	snprintf(path, sizeof(path), "%s/orphan-%d", dir, i);
	fd = open_traced(path, O_WRONLY | O_CREAT);
	if (fd >= 0)
		close(fd);
	line("{\"orphan\":%d,\"pid\":%d}", i, (int)getpid());
	_exit(0);
}

static int mode_orphans(int n, const char *dir)
{
	if (n > 1000)
		return 2;
	/* The orphans come back to us, not to init: we can wait for them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		die("PR_SET_CHILD_SUBREAPER");
	for (int i = 0; i < n; i++) {
		pid_t parent = fork();

		if (parent < 0)
			die("fork");
		if (parent == 0) {
			char path[64];
			pthread_t th;
			pid_t me = getpid();

			snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)me);
			orphan_stat = open(path, O_RDONLY | O_CLOEXEC);
			if (orphan_stat < 0 || pipe(orphan_go) < 0 ||
			    pthread_create(&th, NULL, orphan_killer, NULL) != 0)
				_exit(5);
			if (write(orphan_go[1], "k", 1) != 1)
				_exit(6);
			if (fork() == 0)
				orphan_child(i, me, dir);
			__atomic_store_n(&orphan_forked, 1, __ATOMIC_RELEASE);
			for (;;)
				pause();
		}
		reap(parent);
	}
	/* Reap the orphans (we are their subreaper). */
	while (wait(NULL) > 0 || errno == EINTR)
		;
	line("{\"orphans\":%d}", n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "storm"))
		return mode_storm(atol(argv[2]), atoi(argv[3]), argv[4]);
	if (argc == 4 && !strcmp(argv[1], "orphans"))
		return mode_orphans(atoi(argv[2]), argv[3]);
	fprintf(stderr, "usage: forkstorm storm MS MAXPROCS DIR | orphans N DIR\n");
	return 2;
}
