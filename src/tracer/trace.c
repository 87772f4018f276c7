/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tracing core. SIGCHLD and the forwarded signals arrive on a signalfd
 * polled by the loop; each readiness drains waitpid(-1, __WALL | WNOHANG)
 * within a budget, continued from an idle handle, and every stop is handled
 * here: seccomp and syscall stops go to the decoders, ptrace events keep
 * the tracee table right, signals are re-injected, group-stops listened.
 * While stops keep coming, the drain waits for the next one in waitpid()
 * itself (see hot_wait()).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "attach.h"
#include "inject.h"
#include "container.h"
#include "log.h"
#include "mem.h"
#include "procsnap.h"
#include "syscalls.h"
#include "trace.h"
#include "util.h"

/* Statuses handled per loop iteration before yielding to the network. */
#define DRAIN_BUDGET 512
/* How long the tracer waits, at the end, for the probe to take everything. */
#define FINISH_DEADLINE_NS (5 * NSEC_PER_SEC)
#define EXIT_TRACER_FAILURE 125
/* Held new children are checked this often; STATS and the check for
 * vanished tracees run every STATS_TICKS of these. */
#define HOUSEKEEPING_MS 250
#define STATS_TICKS     40
#define HELD_MAX_NS     (1 * NSEC_PER_SEC)

#define PTRACE_OPTIONS                                                       \
	(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |  \
	 PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACESECCOMP |   \
	 PTRACE_O_EXITKILL)

/* The signals sentrace passes on to CMD (and SIGCHLD for the reaper). */
static const int forwarded_signals[] = {
	SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH,
};

extern char **environ;

static void drain(struct tracer *tr);
static void finish(struct tracer *tr);
static void start_attach(struct tracer *tr);
static void prune_dead(struct tracer *tr);
static void release_held(struct tracer *tr, struct tracee *t);
static void close_all(struct tracer *tr);

/* --- resuming and emitting ------------------------------------------------ */

int tracer_resume(struct tracer *tr, struct tracee *t, int sig)
{
	/* Without the filter, every call must stop; with it, only the exit of
	 * a call whose event waits for its result. */
	int req = (!(t->flags & TRACEE_FILTERED) || (t->flags & TRACEE_IN_SYSCALL))
			  ? PTRACE_SYSCALL : PTRACE_CONT;

	if (ptrace(req, t->tid, 0, sig) < 0) {
		int r = -errno;

		/* -ESRCH: it died; the exit status is on its way. */
		log_debug("ptrace(%s, %d): %s", req == PTRACE_CONT ? "CONT" : "SYSCALL",
			  (int)t->tid, strerror(-r));
		return r;
	}
	if (sig)
		tr->stats.signals_injected++;
	return 0;
}

void tracer_emit(struct tracer *tr, struct evbuf *e)
{
	client_emit(&tr->client, e);
}

static void resume_tid(pid_t tid, int sig)
{
	if (ptrace(PTRACE_CONT, tid, 0, sig) < 0)
		log_debug("ptrace(CONT, %d): %s", (int)tid, strerror(errno));
}

/* --- the tracee table ------------------------------------------------------ */

static pid_t tgid_of(pid_t tid)
{
	struct proc_status st;

	return proc_read_status(tid, &st) == 0 ? st.tgid : tid;
}

static struct tracee *tracee_get(struct tracer *tr, pid_t tid, pid_t tgid)
{
	struct tracee *t = tracee_table_lookup(&tr->tracees, tid);

	if (t)
		return t;
	if (tracee_table_add(&tr->tracees, tid, tgid ? tgid : tgid_of(tid), &t) < 0)
		return NULL;
	if (tr->tracees.count > tr->stats.tracees_max)
		tr->stats.tracees_max = tr->tracees.count;
	return t;
}

/* --- stops ------------------------------------------------------------------ */

static void on_exit_status(struct tracer *tr, pid_t tid, int status)
{
	struct tracee *t = tracee_table_lookup(&tr->tracees, tid);

	if (tid == tr->main_pid) {
		tr->main_exited = true;
		tr->exit_status = WIFEXITED(status) ? WEXITSTATUS(status)
						    : 128 + WTERMSIG(status);
	}
	if (!t)
		return; /* an orphan we reap as PID 1, or already gone */
	if (t->flags & TRACEE_IN_SYSCALL) {
		/* Killed inside a monitored call: report what it attempted. */
		ev_bool(&t->ev, "interrupted", true);
		sc_decode_exit(tr, t, -EINTR);
		t->flags &= ~TRACEE_IN_SYSCALL;
	}
	if (t->tid == t->tgid && !(t->flags & TRACEE_PREEXEC)) {
		struct evbuf *e = &tr->scratch;

		ev_begin(e, EV_EXIT, NULL, t->tgid, t->tid, false);
		if (WIFEXITED(status)) {
			ev_i64(e, "code", WEXITSTATUS(status));
		} else {
			ev_i64(e, "signal", WTERMSIG(status));
			ev_bool(e, "core", WCOREDUMP(status));
		}
		ev_end(e);
		tracer_emit(tr, e);
	}
	tracee_table_remove(&tr->tracees, t);
	if (tr->tracees.count == 0)
		finish(tr);
}

static bool is_thread_of(pid_t tgid, pid_t tid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)tgid, (int)tid);
	return stat(path, &st) == 0;
}

static const char *fork_syscall_name(int event)
{
	/* clone() and clone3() with SIGCHLD report as a fork event. */
	switch (event) {
	case PTRACE_EVENT_FORK:
		return "fork";
	case PTRACE_EVENT_VFORK:
		return "vfork";
	default:
		return "clone";
	}
}

static void release_held(struct tracer *tr, struct tracee *t)
{
	t->flags &= ~TRACEE_HELD;
	tracer_resume(tr, t, t->held_sig);
	t->held_sig = 0;
}

static void on_fork(struct tracer *tr, struct tracee *t, int event)
{
	unsigned long msg = 0;
	struct tracee *child;
	bool thread;
	pid_t ctid;

	if (ptrace(PTRACE_GETEVENTMSG, t->tid, 0, &msg) < 0) {
		tracer_resume(tr, t, 0);
		return;
	}
	ctid = (pid_t)msg;
	thread = event == PTRACE_EVENT_CLONE && is_thread_of(t->tgid, ctid);
	/*
	 * The child's own stops may have been handled first, its exit
	 * included: only a child that still exists gets an entry here.
	 */
	child = tracee_table_lookup(&tr->tracees, ctid);
	if (!child && kill(ctid, 0) == 0)
		child = tracee_get(tr, ctid, thread ? t->tgid : ctid);
	if (child) {
		child->tgid = thread ? t->tgid : ctid;
		/* A filter is inherited by threads and children alike. */
		child->flags |= t->flags & TRACEE_FILTERED;
	}
	if (!(t->flags & TRACEE_PREEXEC)) {
		struct evbuf *e = &tr->scratch;

		ev_begin(e, EV_FORK, fork_syscall_name(event), t->tgid,
			 t->tid, false);
		ev_i64(e, "child", ctid);
		ev_i64(e, "ppid", t->tgid);
		ev_bool(e, "thread", thread);
		ev_end(e);
		tracer_emit(tr, e);
	}
	/* The fork event is out: the child's own events may follow. */
	if (child && (child->flags & TRACEE_HELD))
		release_held(tr, child);
	tracer_resume(tr, t, 0);
}

static void on_exec(struct tracer *tr, struct tracee *t)
{
	unsigned long former = 0;

	ptrace(PTRACE_GETEVENTMSG, t->tid, 0, &former);
	if (former && (pid_t)former != t->tid) {
		/* A non-leader thread exec'd: it now has the leader's tid. Its
		 * pending event moves with it; its old entry is gone. */
		struct tracee *old = tracee_table_lookup(&tr->tracees, (pid_t)former);

		if (old) {
			evbuf_swap(&t->ev, &old->ev);
			t->sc_id = old->sc_id;
			t->compat = old->compat;
			memcpy(t->args, old->args, sizeof(t->args));
			t->flags = (t->flags & ~TRACEE_IN_SYSCALL) |
				   (old->flags & TRACEE_IN_SYSCALL);
			tracee_table_remove(&tr->tracees, old);
		}
	}
	t->tgid = t->tid;
	if ((t->flags & TRACEE_IN_SYSCALL) && t->ev.kind == EV_EXEC) {
		sc_exec_enrich(&t->ev, t->tgid);
		ev_i64(&t->ev, "ret", 0);
		ev_end(&t->ev);
		tracer_emit(tr, &t->ev);
		ev_reset(&t->ev);
	} else {
		/* No entry seen (it happened before we could decode): build
		 * what /proc still tells. */
		struct evbuf *e = &tr->scratch;
		char exe[SENTRACE_PATH_MAX];

		ev_begin(e, EV_EXEC, "execve", t->tgid, t->tid, false);
		if (proc_readlink(t->tid, "exe", exe, sizeof(exe)) >= 0)
			ev_str(e, "file", exe);
		sc_exec_enrich(e, t->tgid);
		ev_i64(e, "ret", 0);
		ev_end(e);
		tracer_emit(tr, e);
	}
	t->sc_id = -1;
	t->flags &= ~(TRACEE_IN_SYSCALL | TRACEE_PREEXEC);
	tracer_resume(tr, t, 0);
}

static bool skip_while_preexec(const struct tracee *t, int id)
{
	/* Before CMD's exec only the exec itself is CMD's doing. */
	return (t->flags & TRACEE_PREEXEC) && id >= 0 &&
	       sc_table[id].kind != EV_EXEC;
}

static void decode_entry(struct tracer *tr, struct tracee *t, int id,
			 const struct sc_info *info)
{
	if (id < 0 || (size_t)id >= sc_table_len || skip_while_preexec(t, id))
		return;
	if (sc_decode_entry(tr, t, id, info) == 0)
		t->flags |= TRACEE_IN_SYSCALL;
}

static void on_seccomp(struct tracer *tr, struct tracee *t)
{
	struct sc_info info;

	tr->stats.seccomp_stops++;
	if (arch_get_sc_info(t->tid, SC_OP_SECCOMP, &info) == 0)
		decode_entry(tr, t, (int)info.ret_data, &info);
	tracer_resume(tr, t, 0);
}

static bool is_restart(int64_t ret)
{
	/* ERESTARTSYS … ERESTART_RESTARTBLOCK: the kernel runs it again. */
	return ret <= -512 && ret >= -516;
}

static void on_syscall_stop(struct tracer *tr, struct tracee *t)
{
	enum sc_op expect = (t->flags & TRACEE_INSYS_ANY) ? SC_OP_EXIT : SC_OP_ENTRY;
	struct sc_info info;

	tr->stats.syscall_stops++;
	if (t->flags & TRACEE_FILTERED)
		expect = SC_OP_EXIT;
	if (arch_get_sc_info(t->tid, expect, &info) < 0) {
		tracer_resume(tr, t, 0);
		return;
	}
	if (info.op == SC_OP_ENTRY && (t->flags & TRACEE_INJECT)) {
		/* A syscall-entry stop is where a call can be swapped for
		 * ours: put the filter into this process now. */
		if (inject_begin(tr, t) == 0)
			return;
	}
	if (info.op == SC_OP_ENTRY) {
		t->flags |= TRACEE_INSYS_ANY;
		decode_entry(tr, t, sc_lookup_nr(info.compat, info.nr), &info);
	} else if (info.op == SC_OP_EXIT) {
		t->flags &= ~TRACEE_INSYS_ANY;
		if (t->flags & TRACEE_IN_SYSCALL) {
			t->flags &= ~TRACEE_IN_SYSCALL;
			if (is_restart(info.ret)) {
				tr->stats.restarts_skipped++;
				ev_reset(&t->ev);
				t->sc_id = -1;
			} else {
				sc_decode_exit(tr, t, info.ret);
			}
		}
	}
	tracer_resume(tr, t, 0);
}

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

static void on_status(struct tracer *tr, pid_t tid, int status)
{
	struct tracee *t;
	int sig, event;

	tr->stats.stops++;
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		on_exit_status(tr, tid, status);
		return;
	}
	if (!WIFSTOPPED(status))
		return;
	t = tracee_table_lookup(&tr->tracees, tid);
	if (t && t->inject) {
		inject_stop(tr, t, status);
		return;
	}
	if (tr->detaching && (!t || attach_can_detach(t))) {
		attach_detach_stopped(tr, tid, status);
		if (tr->tracees.count == 0)
			finish(tr);
		return;
	}
	sig = WSTOPSIG(status);
	event = (status >> 16) & 0xff;
	if (!t) {
		/*
		 * A new child whose parent's fork event is not handled yet:
		 * keep it stopped until then, so that the probe sees the fork
		 * before anything the child does (its exit included). Its tgid
		 * is set by that fork event.
		 */
		t = tracee_get(tr, tid, tid);
		if (!t) {
			resume_tid(tid, 0);
			return;
		}
		t->flags |= TRACEE_HELD;
		t->held_since = now_monotonic_ns();
		if (event == 0 && sig != (SIGTRAP | 0x80))
			t->held_sig = sig;
		return;
	}

	if (event == PTRACE_EVENT_STOP) {
		/* A group-stop of a seized tracee: stay stopped, but let
		 * SIGCONT wake it. Anything else here (a new tracee's first
		 * stop, an interrupt) just resumes. */
		if (is_stop_signal(sig)) {
			if (ptrace(PTRACE_LISTEN, tid, 0, 0) < 0)
				log_debug("ptrace(LISTEN, %d): %s", (int)tid, strerror(errno));
		} else {
			tracer_resume(tr, t, 0);
		}
		return;
	}
	if (sig == (SIGTRAP | 0x80)) {
		on_syscall_stop(tr, t);
		return;
	}
	if (sig == SIGTRAP && event) {
		switch (event) {
		case PTRACE_EVENT_SECCOMP:
			on_seccomp(tr, t);
			return;
		case PTRACE_EVENT_FORK:
		case PTRACE_EVENT_VFORK:
		case PTRACE_EVENT_CLONE:
			on_fork(tr, t, event);
			return;
		case PTRACE_EVENT_EXEC:
			on_exec(tr, t);
			return;
		default:
			tracer_resume(tr, t, 0);
			return;
		}
	}
	/* A signal on its way to the tracee: deliver it, realtime ones too. */
	tracer_resume(tr, t, sig);
}

/* --- the loop ----------------------------------------------------------------- */

static void drain_idle_cb(uv_idle_t *h)
{
	drain(h->data);
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

static void drain(struct tracer *tr)
{
	int budget = DRAIN_BUDGET;
	bool hot = false, seen = false;
	int handled = 0;

	while (budget-- > 0) {
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
		on_status(tr, tid, status);
		handled++;
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
				finish(tr);
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
			close_all(tr);
		}
		return;
	}
	if (!tr->main_exited) {
		kill(tr->main_pid, sig);
		return;
	}
	/* CMD is gone but its descendants live (a daemon): they get it. */
	for (size_t i = 0; i < tr->tracees.nbuckets; i++)
		for (struct tracee *t = tr->tracees.buckets[i]; t; t = t->next)
			if (t->tid == t->tgid)
				kill(t->tid, sig);
	prune_dead(tr);
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
		drain(tr);
}

/* --- the procfs scanner ------------------------------------------------------------ */

static bool procscan_is_traced(void *data, pid_t tgid)
{
	struct tracer *tr = data;

	return tracee_table_lookup(&tr->tracees, tgid) != NULL;
}

static void procscan_emit(void *data, struct evbuf *e)
{
	tracer_emit(data, e);
}

static const struct procscan_ops procscan_ops = {
	.is_traced = procscan_is_traced,
	.emit = procscan_emit,
};

/*
 * The initial pid namespace has a fixed inode number (PROC_PID_INIT_INO,
 * 0xEFFFFFFC) since Linux 3.8.
 */
static bool in_initial_pidns(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == 0xEFFFFFFCu;
}

/* Once the traced processes are in the table: before that, the scanner
 * would report them (attach mode) as untraced. */
static void start_procscan(struct tracer *tr)
{
	int r;

	if (tr->opts.proc_scan == PROC_SCAN_OFF || tr->procscan)
		return;
	if (tr->opts.proc_scan == PROC_SCAN_AUTO && in_initial_pidns()) {
		log_info("procfs scanner off: this is the host's pid namespace "
			 "(--proc-scan turns it on)");
		return;
	}
	r = procscan_new(tr->loop, tr->opts.proc_scan_period_ns, &procscan_ops,
			 tr, &tr->procscan);
	if (r < 0)
		log_warn("procfs scanner: %s; processes outside the traced tree "
			 "will not be reported", strerror(-r));
}

static void release_cmd(struct tracer *tr)
{
	if (tr->tracing)
		return;
	tr->tracing = true;
	start_procscan(tr);
	uv_timer_stop(&tr->handshake_timer);
	/* CMD sits in the group-stop it put itself in; let it go. */
	kill(tr->main_pid, SIGCONT);
}

/*
 * One PROCESS frame with a snapshot of every traced process, put before
 * anything queued: after a reconnect the probe rebuilds its tree first.
 */
static void send_snapshots(struct tracer *tr)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct evbuf snap;
	uint32_t n = 0;
	size_t start, count_at;
	unsigned char *p;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	evbuf_init(&snap);
	start = frame_begin(&sb);
	msgpack_pack_map(&pk, 2);
	wire_pack_kv_u64(&pk, "type", WIRE_PROCESS);
	wire_pack_str(&pk, "processes");
	count_at = sb.size;
	msgpack_sbuffer_write(&sb, "\xdd\0\0\0\0", 5); /* array32, patched */
	for (size_t i = 0; i < tr->tracees.nbuckets; i++) {
		for (struct tracee *t = tr->tracees.buckets[i]; t; t = t->next) {
			if (t->tid != t->tgid || (t->flags & TRACEE_PREEXEC))
				continue;
			if (procsnap_build(&snap, t->tgid) < 0)
				continue;
			/* A frame has a size limit; a huge tree is cut here. */
			if (sb.size + snap.sb.size > WIRE_FRAME_MAX - 64) {
				tr->stats.snapshots_cut++;
				continue;
			}
			msgpack_sbuffer_write(&sb, snap.sb.data, snap.sb.size);
			n++;
		}
	}
	evbuf_free(&snap);
	if (n > 0) {
		p = (unsigned char *)sb.data + count_at + 1;
		p[0] = (unsigned char)(n >> 24);
		p[1] = (unsigned char)(n >> 16);
		p[2] = (unsigned char)(n >> 8);
		p[3] = (unsigned char)n;
		frame_end(&sb, start);
		client_push_front(&tr->client, &sb);
	}
	msgpack_sbuffer_destroy(&sb);
}

static void start_attach(struct tracer *tr)
{
	if (tr->attached)
		return;
	tr->attached = true;
	tr->tracing = true;
	uv_timer_stop(&tr->handshake_timer);
	if (attach_all(tr) == 0) {
		log_err("no process could be traced");
		tr->exit_status = 1;
		tr->client.state = CLIENT_DONE;
		close_all(tr);
		return;
	}
	log_info("attached to %zu thread(s)", tr->tracees.count);
	start_procscan(tr);
}

/*
 * A COMMAND from the probe: kill one of our own tracees, never anything
 * else and never ourselves. The pidfd pins the process, so the signal
 * cannot reach another process that reused the pid.
 */
static int kill_tracee(struct tracer *tr, pid_t pid, int sig)
{
	struct proc_status st;
	int pidfd, r = 0;

	if (pid <= 0 || pid == getpid())
		return -EPERM;
	if (!tracee_table_lookup(&tr->tracees, pid))
		return -ESRCH;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	/* Still ours now that it is pinned, and a process, not a thread? */
	if (proc_read_status(pid, &st) < 0)
		r = -ESRCH;
	else if (st.tracer_pid != getpid())
		r = -EPERM;
	else if (st.tgid != pid)
		r = -EINVAL;
	if (r == 0 && syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		r = -errno;
	close(pidfd);
	return r;
}

static void on_client_command(struct client *c, const struct wire_command *cmd)
{
	struct tracer *tr = c->data;
	struct wire_command_result res = {
		.id = cmd->id, .pid = cmd->pid, .signal = cmd->signal,
	};
	int r;

	if (!wire_str_eq(cmd->action, "kill")) {
		res.error = wire_str_c("unknown action");
		client_send_command_result(c, &res);
		return;
	}
	r = kill_tracee(tr, (pid_t)cmd->pid, cmd->signal);
	res.done = r == 0;
	if (r < 0) {
		res.error = wire_str_c(r == -EPERM ? "not a tracee of this tracer" :
				       r == -ESRCH ? "no such tracee" : strerror(-r));
	}
	log_info("kill %lld with signal %d for rule %.*s: %s", (long long)cmd->pid,
		 cmd->signal, (int)cmd->rule_id.len, cmd->rule_id.ptr,
		 r == 0 ? "done" : strerror(-r));
	client_send_command_result(c, &res);
}

static void on_client_ready(struct client *c)
{
	struct tracer *tr = c->data;

	if (tr->opts.n_pids > 0)
		start_attach(tr);
	else
		release_cmd(tr);
	send_snapshots(tr);
}

/*
 * Entries whose thread is gone without our seeing its exit (it should not
 * happen; if it does, the tracer must not wait for them forever).
 */
static void prune_dead(struct tracer *tr)
{
	for (size_t i = 0; i < tr->tracees.nbuckets; i++) {
		struct tracee *t = tr->tracees.buckets[i];

		while (t) {
			struct tracee *next = t->next;
			char path[64];

			snprintf(path, sizeof(path), "/proc/%d", (int)t->tid);
			if (access(path, F_OK) < 0 && errno == ENOENT) {
				log_warn("tid %d vanished without an exit status", (int)t->tid);
				tr->stats.vanished++;
				tracee_table_remove(&tr->tracees, t);
			}
			t = next;
		}
	}
	if (tr->tracees.count == 0 && tr->tracing)
		finish(tr);
}

/* A held child whose parent's fork event never came (the parent was
 * killed in between): it must not wait forever. */
static void release_overdue(struct tracer *tr)
{
	uint64_t now = now_monotonic_ns();

	for (size_t i = 0; i < tr->tracees.nbuckets; i++)
		for (struct tracee *t = tr->tracees.buckets[i]; t; t = t->next)
			if ((t->flags & TRACEE_HELD) &&
			    now - t->held_since > HELD_MAX_NS) {
				tr->stats.held_overdue++;
				t->tgid = tgid_of(t->tid);
				/* Unknown parent: assume the mode of the session.
				 * Stopping on every call when a filter is there
				 * costs time, never events. */
				if (!tr->opts.disable_seccomp)
					t->flags |= TRACEE_FILTERED;
				release_held(tr, t);
			}
}

static void housekeeping_cb(uv_timer_t *h)
{
	struct tracer *tr = h->data;

	if (tr->finishing)
		return;
	release_overdue(tr);
	if (++tr->ticks % STATS_TICKS)
		return;
	prune_dead(tr);
	if (!tr->finishing)
		client_send_stats(&tr->client);
}

static void close_all(struct tracer *tr)
{
	if (!uv_is_closing((uv_handle_t *)&tr->housekeeping))
		uv_close((uv_handle_t *)&tr->housekeeping, NULL);
	if (!uv_is_closing((uv_handle_t *)&tr->handshake_timer))
		uv_close((uv_handle_t *)&tr->handshake_timer, NULL);
	if (!uv_is_closing((uv_handle_t *)&tr->sig_poll))
		uv_close((uv_handle_t *)&tr->sig_poll, NULL);
	if (!uv_is_closing((uv_handle_t *)&tr->drain_idle))
		uv_close((uv_handle_t *)&tr->drain_idle, NULL);
	tr->procscan = procscan_free(tr->procscan);
	client_close(&tr->client);
}

static void on_client_done(struct client *c)
{
	struct tracer *tr = c->data;

	if (!tr->tracing) {
		/* The probe refused us before CMD ran: CMD never starts. */
		if (tr->main_pid > 0)
			kill(tr->main_pid, SIGKILL);
		tr->exit_status = EXIT_TRACER_FAILURE;
	}
	if (tr->tracees.count == 0 || !tr->tracing)
		close_all(tr);
}

static void finish(struct tracer *tr)
{
	if (tr->finishing)
		return;
	tr->finishing = true;
	procscan_stop(tr->procscan);
	client_finish(&tr->client, tr->exit_status, FINISH_DEADLINE_NS);
}

static void pack_stats(struct client *c, msgpack_packer *pk)
{
	struct tracer *tr = c->data;
	const struct procscan_stats none = { 0 };
	const struct procscan_stats *ps = tr->procscan ? procscan_stats(tr->procscan) : &none;
	const struct {
		const char *name;
		uint64_t value;
	} kv[] = {
		{ "events", c->events_produced },
		{ "events_queued", c->events_queued },
		{ "events_dropped", c->events_dropped },
		{ "events_acked", c->events_acked },
		{ "events_resent", c->events_resent },
		{ "stops", tr->stats.stops },
		{ "seccomp_stops", tr->stats.seccomp_stops },
		{ "syscall_stops", tr->stats.syscall_stops },
		{ "signals_injected", tr->stats.signals_injected },
		{ "decode_errors", tr->stats.decode_errors },
		{ "restarts_skipped", tr->stats.restarts_skipped },
		{ "vanished", tr->stats.vanished },
		{ "held_overdue", tr->stats.held_overdue },
		{ "filters_injected", tr->stats.filters_injected },
		{ "filters_failed", tr->stats.filters_failed },
		{ "snapshots_cut", tr->stats.snapshots_cut },
		{ "untraced_clones", tr->stats.untraced_clones },
		{ "hot_waits", tr->stats.hot_waits },
		{ "hot_wait_stops", tr->stats.hot_wait_stops },
		{ "tracees", tr->tracees.count },
		{ "tracees_max", tr->stats.tracees_max },
		{ "procscan_execs", ps->execs },
		{ "procscan_exits", ps->exits },
		{ "procscan_untracked", ps->untracked },
		{ "procscan_scan_us", ps->last_scan_ns / 1000 },
		{ "commands", c->commands },
		{ "frames_sent", c->frames_sent },
		{ "bytes_sent", c->bytes_sent },
	};

	msgpack_pack_map(pk, ARRAY_SIZE(kv));
	for (size_t i = 0; i < ARRAY_SIZE(kv); i++)
		wire_pack_kv_u64(pk, kv[i].name, kv[i].value);
}

/* --- spawning CMD ----------------------------------------------------------------- */

static int find_in_path(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	const char *p;

	if (strchr(name, '/')) {
		snprintf(out, cap, "%s", name);
		return 0;
	}
	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (p = path; p; ) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		struct stat st;

		snprintf(out, cap, "%.*s%s%s", (int)len, p, len ? "/" : "", name);
		if (stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(out, X_OK) == 0)
			return 0;
		p = colon ? colon + 1 : NULL;
	}
	return -ENOENT;
}

static void child_fail(const char *what, const char *arg)
{
	int e = errno;

	dprintf(STDERR_FILENO, "sentrace: %s%s%s: %s\n", what, arg ? " " : "",
		arg ? arg : "", strerror(e));
	_exit(e == ENOENT ? 127 : e == EACCES || e == ENOEXEC ? 126
							      : EXIT_TRACER_FAILURE);
}

/* Runs in the child between fork and exec: async-signal-safe calls only. */
static void child_exec(const struct tracer_opts *o, const char *path,
		       const struct sock_fprog *prog)
{
	sigset_t none;

	sigemptyset(&none);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Wait here, stopped, until the tracer has seized us and the
	 * probe has answered. */
	raise(SIGSTOP);

	if (prog) {
		/*
		 * Without no_new_privs, setuid binaries in the tree keep
		 * working; the kernel allows that only with CAP_SYS_ADMIN.
		 */
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog) < 0) {
			if (errno != EACCES)
				child_fail("cannot install the seccomp filter", NULL);
			if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
			    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog) < 0)
				child_fail("cannot install the seccomp filter", NULL);
		}
	}
	if (o->set_gid || o->set_uid) {
		gid_t g = o->set_gid ? o->gid : getgid();

		if (setgroups(1, &g) < 0)
			child_fail("setgroups", NULL);
		if (o->set_gid && setgid(o->gid) < 0)
			child_fail("setgid", NULL);
		if (o->set_uid && setuid(o->uid) < 0)
			child_fail("setuid", NULL);
	}
	execve(path, o->argv, environ);
	child_fail("cannot execute", path);
}

static int spawn_cmd(struct tracer *tr, const char *path, const void *bpf, size_t bpf_len)
{
	struct sock_fprog prog = {
		.len = (unsigned short)(bpf_len / sizeof(struct sock_filter)),
		.filter = (struct sock_filter *)bpf,
	};
	struct tracee *t;
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		child_exec(&tr->opts, path, bpf ? &prog : NULL);

	if (waitpid(pid, &status, WSTOPPED) < 0 || !WIFSTOPPED(status)) {
		log_err("CMD did not stop before exec as expected");
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -ECHILD;
	}
	if (ptrace(PTRACE_SEIZE, pid, 0, PTRACE_OPTIONS) < 0) {
		int r = -errno;

		log_err("ptrace(PTRACE_SEIZE, %d): %s", (int)pid, strerror(-r));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return r;
	}
	tr->main_pid = pid;
	if (tracee_table_add(&tr->tracees, pid, pid, &t) < 0)
		return -ENOMEM;
	t->flags |= TRACEE_PREEXEC;
	if (bpf)
		t->flags |= TRACEE_FILTERED;
	tr->stats.tracees_max = 1;
	return 0;
}

/* --- set-up ----------------------------------------------------------------------- */

static void handshake_timeout_cb(uv_timer_t *h)
{
	struct tracer *tr = h->data;
	char why[128] = "";

	if (tr->tracing)
		return;
	if (tr->client.last_error)
		snprintf(why, sizeof(why), " (last error: %s)",
			 uv_strerror(tr->client.last_error));
	log_err("no answer from the probe at %s within %.1fs%s; %s "
		"(use --async to go on without the probe)", tr->client.addr_str,
		(double)tr->opts.handshake_timeout_ns / NSEC_PER_SEC, why,
		tr->opts.n_pids ? "nothing was attached" : "CMD was not started");
	if (tr->main_pid > 0)
		kill(tr->main_pid, SIGKILL);
	tr->exit_status = EXIT_TRACER_FAILURE;
	tr->client.state = CLIENT_DONE;
	close_all(tr);
}

static int setup_signals(struct tracer *tr)
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

static void fill_hello(struct tracer *tr, char *hostname, size_t hcap)
{
	struct wire_hello *h = &tr->client.hello;
	struct stat st;
	int src;

	if (gethostname(hostname, hcap) < 0)
		hostname[0] = '\0';
	hostname[hcap - 1] = '\0';
	h->version = WIRE_PROTOCOL_VERSION;
	h->tracer_version = wire_str_c(SENTRACE_VERSION);
	h->mode = wire_str_c("wrapped");
	h->hostname = wire_str_c(hostname);
	src = container_id_resolve(tr->container_id, sizeof(tr->container_id));
	if (src < 0)
		log_warn("container id: %s", strerror(-src));
	else if (src > 0)
		log_info("container id %s (from %s)", tr->container_id,
			 container_id_source_name(src));
	h->container_id = wire_str_c(tr->container_id);
	h->token = wire_str_c(tr->token);
	h->pidns = stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
	h->tracer_pid = getpid();
	for (h->argc = 0; tr->opts.argv[h->argc] && h->argc < WIRE_HELLO_ARGV; h->argc++)
		h->argv[h->argc] = wire_str_c(tr->opts.argv[h->argc]);
}

int trace_run(const struct tracer_opts *opts)
{
	struct tracer tr;
	char path[SENTRACE_PATH_MAX], hostname[256];
	char *pid_argv[WIRE_HELLO_ARGV + 1] = { NULL };
	char pid_strs[WIRE_HELLO_ARGV][16];
	bool attach = opts->n_pids > 0;
	void *bpf = NULL;
	size_t bpf_len = 0;
	int r;

	memset(&tr, 0, sizeof(tr));
	tr.opts = *opts;
	tr.exit_status = attach ? 0 : EXIT_TRACER_FAILURE;
	tr.sigfd = -1;

	if (attach) {
		/* A filter cannot be put into a running process (yet): every
		 * system call of the attached processes stops. */
		tr.opts.disable_seccomp = true;
		for (size_t i = 0; i < opts->n_pids && i < WIRE_HELLO_ARGV; i++) {
			snprintf(pid_strs[i], sizeof(pid_strs[i]), "%d", (int)opts->pids[i]);
			pid_argv[i] = pid_strs[i];
		}
		tr.opts.argv = pid_argv;
	} else if (find_in_path(opts->argv[0], path, sizeof(path)) < 0) {
		log_err("%s: command not found", opts->argv[0]);
		return 127;
	}
	if (opts->token_file) {
		r = read_secret_file(opts->token_file, tr.token, sizeof(tr.token));
		if (r < 0) {
			log_err("token file %s: %s", opts->token_file,
				r == -EPERM ? "must be a file only its owner can read "
				"(chmod 600), owned by this user or root" :
				r == -EINVAL ? "must hold one line of 1 to 255 bytes" :
				strerror(-r));
			return EXIT_TRACER_FAILURE;
		}
	}
	if (getenv("SENTRACE_NO_SYSCALL_INFO"))
		arch_force_registers();
	sc_tables_init();
	if (!tr.opts.disable_seccomp || tr.opts.attach_seccomp) {
		r = sc_build_filter(false, &bpf, &bpf_len);
		if (r < 0) {
			log_err("cannot build the seccomp filter: %s", strerror(-r));
			return EXIT_TRACER_FAILURE;
		}
	}
	if (attach && tr.opts.attach_seccomp) {
		/* Kept for the processes it will be put into. */
		tr.bpf = bpf;
		tr.bpf_len = bpf_len;
		bpf = NULL;
	}
	r = setup_signals(&tr);
	if (r < 0) {
		log_err("signalfd: %s", strerror(-r));
		free(bpf);
		return EXIT_TRACER_FAILURE;
	}
	tr.loop = uv_default_loop();
	tracee_table_init(&tr.tracees);
	evbuf_init(&tr.scratch);
	r = client_init(&tr.client, tr.loop, opts->probe_addr,
			opts->queue_max_bytes, opts->queue_max_frames);
	if (r < 0) {
		log_err("bad probe address '%s': %s", opts->probe_addr, strerror(-r));
		free(bpf);
		return EXIT_TRACER_FAILURE;
	}
	tr.client.data = &tr;
	tr.client.on_ready = on_client_ready;
	tr.client.on_done = on_client_done;
	tr.client.pack_stats = pack_stats;
	tr.client.on_command = on_client_command;
	fill_hello(&tr, hostname, sizeof(hostname));
	if (attach)
		tr.client.hello.mode = wire_str_c("attached");

	if (!attach) {
		r = spawn_cmd(&tr, path, bpf, bpf_len);
		free(bpf);
		if (r < 0) {
			client_close(&tr.client);
			uv_run(tr.loop, UV_RUN_DEFAULT);
			return EXIT_TRACER_FAILURE;
		}
	}

	uv_poll_init(tr.loop, &tr.sig_poll, tr.sigfd);
	tr.sig_poll.data = &tr;
	uv_poll_start(&tr.sig_poll, UV_READABLE, sig_poll_cb);
	uv_idle_init(tr.loop, &tr.drain_idle);
	tr.drain_idle.data = &tr;
	uv_timer_init(tr.loop, &tr.handshake_timer);
	tr.handshake_timer.data = &tr;
	uv_timer_init(tr.loop, &tr.housekeeping);
	tr.housekeeping.data = &tr;
	uv_timer_start(&tr.housekeeping, housekeeping_cb, HOUSEKEEPING_MS,
		       HOUSEKEEPING_MS);

	client_start(&tr.client);
	if (!opts->async)
		uv_timer_start(&tr.handshake_timer, handshake_timeout_cb,
			       opts->handshake_timeout_ns / NSEC_PER_MSEC, 0);
	else if (attach)
		start_attach(&tr);
	else
		release_cmd(&tr);
	/* Statuses that arrived before the poll started. */
	drain(&tr);

	uv_run(tr.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(tr.loop) != 0)
		log_debug("loop closed with handles still open");

	/* If we gave up early, CMD was killed: reap it, whatever it was. */
	while (!attach && tr.tracees.count > 0 && waitpid(-1, NULL, __WALL) > 0)
		;
	close(tr.sigfd);
	free(tr.bpf);
	evbuf_free(&tr.scratch);
	tracee_table_free(&tr.tracees);
	return tr.exit_status;
}
