/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guardian: fail open when the tracer dies (--attach-seccomp).
 *
 * A filter cannot be taken out of a process, and its SECCOMP_RET_TRACE
 * fails the call with ENOSYS once no tracer with PTRACE_O_TRACESECCOMP is
 * attached: after a SIGKILL of the tracer, redis accepts no connection,
 * spins on the pending one and cannot save (adversarial run 6B). There is
 * no "allow when untraced" action in the kernel, and USER_NOTIF needs a
 * live supervisor too. So a second process stays ready: the kernel checks
 * for a tracer at each call, and the guardian becomes that tracer. It
 * seizes every thread of the filtered processes and resumes every stop,
 * so their calls run, untraced and unreported, until they exit.
 *
 * Between the tracer's death and the guardian's seize (a few milliseconds,
 * docs/security.md "If the tracer is killed") monitored calls still fail
 * with ENOSYS. A guardian killed too leaves them failing for good.
 *
 * The guardian side is plain blocking code with no libuv: it must stay
 * small and run in a process that inherited nothing but a pipe and stderr.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guardian.h"
#include "log.h"
#include "util.h"

/*
 * The shared set: open addressing with linear probing. Deletion shifts
 * entries back instead of leaving tombstones, copying before clearing, so
 * that at every instant each live pid is in some slot: the tracer may be
 * killed between any two stores, and the guardian reads every slot.
 */
#define SET_SLOTS (1u << 16)
#define SET_MASK  (SET_SLOTS - 1)
#define SET_LIMIT (SET_SLOTS - SET_SLOTS / 8)

struct guardian_set {
	pid_t slot[SET_SLOTS];
	uint32_t overflow;         /* more processes than SET_LIMIT came: the
				    * guardian warns that it may miss some */
};

/* How long the guardian waits for the dead tracer's tracees to be let go,
 * and for one thread to become free to seize. */
#define RELEASE_WAIT_NS (5 * NSEC_PER_SEC)
#define RETRY_NS        (200 * 1000)
/* Passes over /proc for descendants before it stops looking. */
#define SCAN_PASSES     8

#define GUARD_OPTIONS                                                        \
	(PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |  \
	 PTRACE_O_TRACECLONE)

/* The byte that tells the guardian the session ended normally. */
#define LIFE_BYE 'q'

static uint32_t slot_of(pid_t pid)
{
	return ((uint32_t)pid * 2654435761u) >> 16 & SET_MASK;
}

void guardian_add(struct guardian *g, pid_t tgid)
{
	struct guardian_set *s = g->set;
	uint32_t i;

	if (!s || tgid <= 0)
		return;
	for (i = slot_of(tgid); s->slot[i]; i = (i + 1) & SET_MASK)
		if (s->slot[i] == tgid)
			return;
	if (g->count >= SET_LIMIT) {
		/* The guardian then finds the rest by their parents only. */
		s->overflow = 1;
		return;
	}
	s->slot[i] = tgid;
	g->count++;
}

void guardian_del(struct guardian *g, pid_t tgid)
{
	struct guardian_set *s = g->set;
	uint32_t i, j;

	if (!s || tgid <= 0)
		return;
	for (i = slot_of(tgid); s->slot[i] != tgid; i = (i + 1) & SET_MASK)
		if (!s->slot[i])
			return;
	/* Knuth's algorithm R: move back every later entry of the run whose
	 * home slot is not between the hole and it. */
	for (j = (i + 1) & SET_MASK; s->slot[j]; j = (j + 1) & SET_MASK) {
		uint32_t k = slot_of(s->slot[j]);

		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		s->slot[i] = s->slot[j];
		i = j;
	}
	s->slot[i] = 0;
	g->count--;
}

/* --- the guardian process ------------------------------------------------ */

struct pstat {
	pid_t ppid, tracer;
	int seccomp;               /* 0 none, 1 strict, 2 filter */
};

/* The three lines of /proc/TID/status it needs, bounded. */
static int read_pstat(pid_t tid, struct pstat *ret)
{
	char path[64], buf[4096], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	*ret = (struct pstat){ 0 };
	if ((p = strstr(buf, "\nPPid:")))
		ret->ppid = (pid_t)strtol(p + 6, NULL, 10);
	if ((p = strstr(buf, "\nTracerPid:")))
		ret->tracer = (pid_t)strtol(p + 11, NULL, 10);
	if ((p = strstr(buf, "\nSeccomp:")))
		ret->seccomp = (int)strtol(p + 9, NULL, 10);
	return 0;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / NSEC_PER_SEC), (long)(ns % NSEC_PER_SEC) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The processes the guardian holds, sorted for bsearch. */
struct held {
	pid_t *v;
	size_t n, cap;
	size_t threads;
};

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

static bool held_has(const struct held *h, pid_t pid)
{
	return h->n && bsearch(&pid, h->v, h->n, sizeof(pid_t), cmp_pid);
}

static void held_put(struct held *h, pid_t pid)
{
	if (held_has(h, pid))
		return;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		pid_t *v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return; /* only the descendant scan misses it */
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n++] = pid;
	qsort(h->v, h->n, sizeof(pid_t), cmp_pid);
}

/*
 * Seizes tid. Returns 1 when seized now, 0 when it is gone, already ours,
 * or held by another tracer past the deadline.
 */
static int seize_tid(pid_t tid, pid_t self, uint64_t deadline)
{
	struct pstat st;

	for (;;) {
		if (ptrace(PTRACE_SEIZE, tid, 0, GUARD_OPTIONS) == 0)
			return 1;
		if (errno != EPERM || read_pstat(tid, &st) < 0 || st.tracer == self)
			return 0;
		if (now_monotonic_ns() > deadline) {
			log_err("tid %d: still traced by pid %d; its monitored "
				"calls keep failing", (int)tid, (int)st.tracer);
			return 0;
		}
		sleep_ns(RETRY_NS);
	}
}

/* Takes every thread of pid if it carries a filter, rereading the task
 * list until no new thread turns up. */
static void guard_process(struct held *h, pid_t pid, pid_t self)
{
	uint64_t deadline = now_monotonic_ns() + RELEASE_WAIT_NS;
	struct pstat st;
	char path[64];
	bool added;

	if (held_has(h, pid) || read_pstat(pid, &st) < 0 || st.seccomp != 2)
		return;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	do {
		DIR *d = opendir(path);
		struct dirent *de;

		added = false;
		if (!d)
			return;
		while ((de = readdir(d))) {
			pid_t tid = (pid_t)strtol(de->d_name, NULL, 10);

			if (tid > 0 && seize_tid(tid, self, deadline) > 0) {
				h->threads++;
				added = true;
			}
		}
		closedir(d);
		if (added)
			held_put(h, pid);
	} while (added);
}

/*
 * Children of held processes that the set does not name: forked while the
 * tracer died, before their fork event reached it, or beyond the set's
 * size. Filtered processes of the machine that descend from none of ours
 * are left alone: they are not ours to seize.
 */
static void guard_descendants(struct held *h, pid_t self)
{
	for (int pass = 0; pass < SCAN_PASSES; pass++) {
		size_t before = h->n;
		DIR *d = opendir("/proc");
		struct dirent *de;

		if (!d)
			return;
		while ((de = readdir(d))) {
			pid_t pid = (pid_t)strtol(de->d_name, NULL, 10);
			struct pstat st;

			if (pid <= 0 || pid == self || held_has(h, pid) ||
			    read_pstat(pid, &st) < 0 || st.seccomp != 2)
				continue;
			if (held_has(h, st.ppid))
				guard_process(h, pid, self);
		}
		closedir(d);
		if (h->n == before)
			return;
	}
}

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* Resumes every stop until the last guarded thread is gone. */
static uint64_t serve(void)
{
	uint64_t stops = 0;

	for (;;) {
		int status, sig, event;
		pid_t tid = waitpid(-1, &status, __WALL);

		if (tid < 0) {
			if (errno == EINTR)
				continue;
			return stops; /* ECHILD: nothing left */
		}
		if (!WIFSTOPPED(status))
			continue;
		stops++;
		sig = WSTOPSIG(status);
		event = (status >> 16) & 0xff;
		if (event == PTRACE_EVENT_STOP) {
			/* A group-stop stays one (SIGCONT ends it); a new
			 * child's first stop just resumes. */
			if (is_stop_signal(sig))
				ptrace(PTRACE_LISTEN, tid, 0, 0);
			else
				ptrace(PTRACE_CONT, tid, 0, 0);
		} else if (sig == SIGTRAP && event) {
			/* Seccomp: the call runs. Fork, clone: the child is
			 * ours already (auto-attached) and stops on its own. */
			ptrace(PTRACE_CONT, tid, 0, 0);
		} else {
			ptrace(PTRACE_CONT, tid, 0, sig);
		}
	}
}

static void say(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* To stderr (the tracer's) and to syslog: the tracer's own log is gone. */
static void say(int prio, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_at(prio == LOG_ERR ? LOG_LEVEL_ERR : LOG_LEVEL_WARN, "%s", line);
	syslog(prio, "%s", line);
}

/* Nothing of the tracer's but stderr and the pipe: no socket to the probe,
 * no signalfd, no epoll. Batches of fds, until a pass finds no more. */
static void close_others(int keep)
{
	int fds[256], n, null;

	do {
		DIR *d = opendir("/proc/self/fd");
		struct dirent *de;

		n = 0;
		if (!d)
			break;
		while ((de = readdir(d)) && n < (int)ARRAY_SIZE(fds)) {
			int fd = (int)strtol(de->d_name, NULL, 10);

			if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && fd > 2 &&
			    fd != keep && fd != dirfd(d))
				fds[n++] = fd;
		}
		closedir(d);
		for (int i = 0; i < n; i++)
			close(fds[i]);
	} while (n > 0);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		if (null > 2)
			close(null);
	}
}

static void become_quiet(void)
{
	static const int ignored[] = {
		SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE,
		SIGWINCH, SIGTSTP, SIGTTIN, SIGTTOU,
	};
	sigset_t none;
	int fd;

	/* Its job is to outlive the tracer: the terminal's and the tracer's
	 * process group's signals are not for it. It exits when its last
	 * guarded process has. */
	for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
		signal(ignored[i], SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	if (chdir("/") < 0)
		log_debug("chdir(/): %s", strerror(errno));
	/* Not dumpable: a tracee of the same user cannot ptrace it. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_NAME, "sentrace-guard", 0, 0, 0);
	/* A few hundred KiB: the OOM killer should take anything else first
	 * (allowed with CAP_SYS_RESOURCE; best effort). */
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "-1000", 5) < 0)
			log_debug("oom_score_adj: %s", strerror(errno));
		close(fd);
	}
}

static void __attribute__((noreturn))
guardian_main(struct guardian_set *set, int life, pid_t tracer,
	      const pid_t *pids, size_t n_pids)
{
	struct held h = { 0 };
	uint64_t t_gone, t_held, stops;
	pid_t self = getpid();
	char c;
	ssize_t n;

	log_init("sentrace-guardian", log_level);
	become_quiet();
	close_others(life);
	/* close_others() closed the tracer's own stderr description. */
	log_nonblocking();
	openlog("sentrace-guardian", LOG_PID | LOG_NDELAY, LOG_DAEMON);

	while ((n = read(life, &c, 1)) < 0 && errno == EINTR)
		;
	if (n == 1 && c == LIFE_BYE)
		_exit(0);
	t_gone = now_monotonic_ns();
	/*
	 * The pipe closes when the tracer's files do, a little before the
	 * kernel lets its tracees go; it reparents its children (us) after
	 * that. Until then a seize fails with EPERM.
	 */
	while (getppid() == tracer && now_monotonic_ns() - t_gone < RELEASE_WAIT_NS)
		sleep_ns(RETRY_NS / 4);

	for (uint32_t i = 0; i < SET_SLOTS; i++)
		if (set->slot[i] > 0)
			guard_process(&h, set->slot[i], self);
	for (size_t i = 0; i < n_pids; i++)
		guard_process(&h, pids[i], self);
	guard_descendants(&h, self);
	t_held = now_monotonic_ns();
	if (h.n == 0)
		_exit(0);
	if (set->overflow)
		say(LOG_ERR, "more than %u processes were traced: those that left "
		    "the traced tree may be missed", SET_LIMIT);
	say(LOG_WARNING, "sentrace (pid %d) is gone: took over %zu thread(s) of "
	    "%zu process(es) with the seccomp filter %.1f ms after it died; "
	    "their system calls now run untraced and unreported until they exit",
	    (int)tracer, h.threads, h.n, (double)(t_held - t_gone) / NSEC_PER_MSEC);
	stops = serve();
	say(LOG_WARNING, "the last guarded process has exited (%llu stops "
	    "resumed); exiting", (unsigned long long)stops);
	_exit(0);
}

/* --- the tracer's side ---------------------------------------------------- */

int guardian_set_init(struct guardian *g)
{
	/* Shared, so that the forked guardian sees what the tracer writes. */
	struct guardian_set *set = mmap(NULL, sizeof(*set), PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (set == MAP_FAILED)
		return -errno;
	*g = (struct guardian){ .pid = 0, .life_fd = -1, .set = set, .count = 0 };
	return 0;
}

size_t guardian_set_list(const struct guardian *g, pid_t *out, size_t cap)
{
	size_t n = 0;

	for (uint32_t i = 0; g->set && i < SET_SLOTS; i++)
		if (g->set->slot[i] > 0) {
			if (n < cap)
				out[n] = g->set->slot[i];
			n++;
		}
	return n;
}

int guardian_start(struct guardian *g, const pid_t *pids, size_t n_pids)
{
	struct guardian_set *set;
	pid_t tracer = getpid(), pid;
	int p[2], r;

	r = guardian_set_init(g);
	if (r < 0)
		return r;
	set = g->set;
	g->set = NULL;
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		munmap(set, sizeof(*set));
		return r;
	}
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		munmap(set, sizeof(*set));
		return r;
	}
	if (pid == 0) {
		close(p[1]);
		guardian_main(set, p[0], tracer, pids, n_pids);
	}
	close(p[0]);
	g->pid = pid;
	g->life_fd = p[1];
	g->set = set;
	g->count = 0;
	log_info("guardian pid %d: takes over the filtered processes if sentrace "
		 "dies", (int)pid);
	return 0;
}

bool guardian_reaped(struct guardian *g, pid_t pid, int status)
{
	if (!g->set || pid != g->pid)
		return false;
	g->pid = 0;
	if (WIFSIGNALED(status))
		log_warn("the guardian was killed by signal %d: if sentrace dies "
			 "now, the filtered processes' monitored calls fail with "
			 "ENOSYS", WTERMSIG(status));
	else
		log_warn("the guardian exited (%d): if sentrace dies now, the "
			 "filtered processes' monitored calls fail with ENOSYS",
			 WEXITSTATUS(status));
	return true;
}

void guardian_end(struct guardian *g, bool nothing_left)
{
	char c = LIFE_BYE;

	if (!g->set)
		return;
	if (g->life_fd >= 0) {
		if (nothing_left && write(g->life_fd, &c, 1) < 0)
			log_debug("guardian pipe: %s", strerror(errno));
		close(g->life_fd);
		g->life_fd = -1;
	}
	munmap(g->set, sizeof(*g->set));
	g->set = NULL;
}
