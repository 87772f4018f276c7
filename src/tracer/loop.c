/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tracer's loop side. SIGCHLD and the forwarded signals arrive on a
 * signalfd polled by libuv; each readiness drains waitpid(-1, __WALL |
 * WNOHANG) within a budget, continued from an idle handle, and hands every
 * status to tracer_on_status() (stops.c). While stops keep coming, the
 * drain waits for the next one in waitpid() itself (see hot_wait()).
 * Signals for CMD are forwarded from here.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach.h"
#include "log.h"
#include "tracer.h"
#include "util.h"

/* Statuses handled per loop iteration before yielding to the network. */
#define DRAIN_BUDGET 512

/* The signals sentrace passes on to CMD (and SIGCHLD for the reaper). */
static const int forwarded_signals[] = {
	SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH,
};

static void drain_idle_cb(uv_idle_t *h)
{
	tracer_drain(h->data);
}

/*
 * Waiting for the next stop in waitpid() instead of epoll.
 *
 * Through the signalfd, every stop queues a SIGCHLD, wakes epoll and costs a
 * read; with SIGCHLD unblocked at its default action the kernel drops the
 * signal and wakes a tracer sleeping in waitpid() directly, which costs
 * about half the CPU per stop (docs/benchmarks.md, "Where the time goes").
 * So once a drain has handled a stop it goes "hot": SIGCHLD unblocked, a
 * periodic per-thread timer (HOT_TICK_NS) armed, and it waits for the next
 * stop in waitpid(). SIGALRM, blocked everywhere else, is unblocked around
 * that waitpid() only; its handler has no SA_RESTART, so a tick ends the
 * wait with EINTR. A tick after a period without a stop ends the hot
 * phase (the loop is held up for two periods at most), and so does the
 * drain's budget. Leaving, SIGCHLD is blocked again and one more WNOHANG
 * catches a stop whose signal was dropped in between. The timer is armed
 * once per hot phase, not per stop: programming a timer per wait costs a
 * virtual machine more than it saves.
 */
#define HOT_TICK_NS (1000 * 1000)

static void hot_alarm(int sig)
{
	(void)sig;
}

static void sig_block(int sig, bool block)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

static int hot_setup(struct tracer *tr)
{
	struct sigaction sa = { .sa_handler = hot_alarm };
	struct sigevent sev = {
		.sigev_notify = SIGEV_THREAD_ID,
		.sigev_signo = SIGALRM,
	};

	sig_block(SIGALRM, true);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) < 0)
		return -errno;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &sev, &tr->hot_timer) < 0)
		return -errno;
	tr->hot_timer_ok = true;
	return 0;
}

static bool hot_begin(struct tracer *tr)
{
	struct itimerspec tick = {
		.it_value = { .tv_nsec = HOT_TICK_NS },
		.it_interval = { .tv_nsec = HOT_TICK_NS },
	};

	if (timer_settime(tr->hot_timer, 0, &tick, NULL) < 0)
		return false;
	sig_block(SIGCHLD, false);
	return true;
}

static void hot_end(struct tracer *tr)
{
	struct itimerspec off = { 0 };

	timer_settime(tr->hot_timer, 0, &off, NULL);
	sig_block(SIGCHLD, true);
}

/* The next stop's tid, or 0 after a tick period without one. */
static pid_t hot_wait(struct tracer *tr, int *status, bool *seen)
{
	for (;;) {
		pid_t tid;
		int e;

		sig_block(SIGALRM, false);
		tid = waitpid(-1, status, __WALL);
		e = errno;
		sig_block(SIGALRM, true);
		tr->stats.hot_waits++;
		if (tid > 0) {
			tr->stats.hot_wait_stops++;
			*seen = true;
			return tid;
		}
		if (e != EINTR || !*seen)
			return 0;
		*seen = false;  /* a tick: go on if this period had a stop */
	}
}

/*
 * Fair service: sweeps.
 *
 * waitpid(-1) does not report the oldest stop first: the kernel walks the
 * tracer's list of tracees, which has the newest at its head. While newer
 * tracees keep stopping (a fork storm: every fork adds one at the head),
 * an old tracee's stop waits behind all of theirs, and a parent's fork
 * event behind its own children (measured: a canary tracee frozen for the
 * whole storm, children let go without their fork event). So when more
 * than one tracee could be waiting, a drain sweeps: it takes every status
 * there is now (WNOHANG until none, each tracee reports one at a time) and
 * then handles them, the tracee that was traced first first. A stop waits
 * at most for one sweep: one handling of every tracee stopped before it.
 * A sweep that finds nothing more than the stop it began with costs one
 * waitpid() for nothing; then the next SWEEP_EVERY stops are handled as they
 * come, which bounds that cost while load is light and the unfairness
 * while it grows (an old tracee waits for SWEEP_EVERY stops at most before
 * the next sweep takes it).
 */
#define SWEEP_EVERY 16

/* Handles the swept statuses not handled yet, up to budget; the count. */
static int sweep_handle(struct tracer *tr, int budget)
{
	int handled = 0;

	while (tr->sweep_i > 0 && handled < budget) {
		struct tracer_status *s = &tr->sweep[--tr->sweep_i];

		tracer_on_status(tr, s->tid, s->status);
		handled++;
	}
	return handled;
}

/* Takes every status there is after (tid, status), newest first as the
 * kernel reports them; they are handled from the end. */
static int sweep_collect(struct tracer *tr, pid_t tid, int status)
{
	size_t n = 0;

	for (;;) {
		if (n == tr->sweep_cap) {
			size_t cap = tr->sweep_cap ? tr->sweep_cap * 2 : 256;
			struct tracer_status *a = realloc(tr->sweep, cap * sizeof(*a));

			if (!a) {
				/* No room: this one now, the rest waits
				 * for the next sweep. */
				tracer_on_status(tr, tid, status);
				break;
			}
			tr->sweep = a;
			tr->sweep_cap = cap;
		}
		tr->sweep[n].tid = tid;
		tr->sweep[n].status = status;
		n++;
		tid = waitpid(-1, &status, __WALL | WNOHANG);
		if (tid <= 0)
			break;
	}
	tr->sweep_i = n;
	tr->stats.sweeps++;
	if (n > tr->stats.sweep_max)
		tr->stats.sweep_max = n;
	return (int)n;
}

void tracer_drain(struct tracer *tr)
{
	int budget = DRAIN_BUDGET;
	bool hot = false, seen = false;
	int handled = 0;

	/* What an earlier sweep took has waited longest: it goes first. */
	budget -= sweep_handle(tr, budget);
	while (budget > 0 && tr->sweep_i == 0) {
		int status;
		/* Hot, the blocking waitpid() returns at once if a stop is
		 * there already: no WNOHANG first. */
		pid_t tid = hot ? hot_wait(tr, &status, &seen)
				: waitpid(-1, &status, __WALL | WNOHANG);

		if (tid == 0 && !hot && handled > 0 && tr->hot_timer_ok && tr->tracing &&
		    !tr->finishing && tr->tracees.count > 0) {
			hot = hot_begin(tr);
			seen = true;
			if (hot)
				tid = hot_wait(tr, &status, &seen);
		}
		if (tid <= 0 && hot) {
			/* Back to epoll: a stop from before the block
			 * had its SIGCHLD dropped. */
			hot_end(tr);
			hot = false;
			handled = 0;
			tid = waitpid(-1, &status, __WALL | WNOHANG);
		}
		if (tid <= 0) {
			uv_idle_stop(&tr->drain_idle);
			return;
		}
		handled++;
		if (tr->tracees.count > 1 && tr->sweep_skip == 0) {
			if (sweep_collect(tr, tid, status) == 1)
				tr->sweep_skip = SWEEP_EVERY;
			budget -= sweep_handle(tr, budget);
		} else {
			if (tr->sweep_skip > 0)
				tr->sweep_skip--;
			tracer_on_status(tr, tid, status);
			budget--;
		}
	}
	if (hot)
		hot_end(tr);
	/* More may be waiting: continue next iteration, after the network. */
	uv_idle_start(&tr->drain_idle, drain_idle_cb);
}

static void forward_signal(struct tracer *tr, const struct signalfd_siginfo *si)
{
	int sig = (int)si->ssi_signo;

	if (tr->opts.n_pids > 0) {
		/* Attach mode: the processes are not ours to signal. */
		if (sig == SIGTERM || sig == SIGINT) {
			if (tr->tracees.count == 0)
				tracer_finish(tr);
			else
				attach_detach_all(tr);
		}
		return;
	}
	/* The terminal already sent ^C, ^\ and resizes to the whole
	 * foreground group, CMD included: do not deliver them twice. */
	if (si->ssi_code == SI_KERNEL &&
	    (sig == SIGINT || sig == SIGQUIT || sig == SIGWINCH))
		return;
	if (!tr->tracing) {
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT) {
			log_warn("%s before CMD started: not starting it", strsignal(sig));
			kill(tr->main_pid, SIGKILL);
			tr->exit_status = 128 + sig;
			tr->client.state = CLIENT_DONE;
			tracer_close_all(tr);
		}
		return;
	}
	if (!tr->main_exited) {
		/* CMD under --uid is another user's process: without
		 * CAP_KILL the signal would be lost in silence. */
		if (kill(tr->main_pid, sig) < 0 && errno == EPERM)
			log_warn("passing %s on to CMD: %s (it runs as another user: "
				 "sentrace needs CAP_KILL)", strsignal(sig), strerror(EPERM));
		return;
	}
	/* CMD is gone but its descendants live (a daemon): they get it. */
	for (size_t i = 0; i < tr->tracees.nbuckets; i++)
		for (struct tracee *t = tr->tracees.buckets[i]; t; t = t->next)
			if (t->tid == t->tgid)
				kill(t->tid, sig);
	tracer_prune_dead(tr);
}

static void sig_poll_cb(uv_poll_t *h, int status, int events)
{
	struct tracer *tr = h->data;
	struct signalfd_siginfo si[16];
	bool chld = false;
	ssize_t n;

	/* One read takes every pending signal unless the buffer fills: a
	 * second read per wake-up would only find the signalfd empty. */
	do {
		n = read(tr->sigfd, si, sizeof(si));
		for (size_t i = 0; n > 0 && i < (size_t)n / sizeof(si[0]); i++) {
			if (si[i].ssi_signo == SIGCHLD)
				chld = true;
			else
				forward_signal(tr, &si[i]);
		}
	} while (n == (ssize_t)sizeof(si));
	if (chld || status < 0)
		tracer_drain(tr);
}


int tracer_setup_signals(struct tracer *tr)
{
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded_signals); i++)
		sigaddset(&mask, forwarded_signals[i]);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	r = hot_setup(tr);
	if (r < 0)
		log_warn("no timer for waiting in waitpid (%s): stops wake the loop "
			 "through the signalfd only", strerror(-r));
	tr->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return tr->sigfd < 0 ? -errno : 0;
}

void tracer_loop_start(struct tracer *tr)
{
	uv_poll_init(tr->loop, &tr->sig_poll, tr->sigfd);
	tr->sig_poll.data = tr;
	uv_poll_start(&tr->sig_poll, UV_READABLE, sig_poll_cb);
	uv_idle_init(tr->loop, &tr->drain_idle);
	tr->drain_idle.data = tr;
}
