/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One waitpid status at a time: tracer_on_status() sorts every stop of a
 * tracee and keeps the tracee table right. Seccomp and syscall stops go to
 * the decoders (syscalls.c), fork/clone/exec events update the table and
 * emit their events, exits emit EV_EXIT, group-stops are listened, and every
 * other signal is re-injected. docs/internals.md draws the state machine.
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "attach.h"
#include "inject.h"
#include "log.h"
#include "mem.h"
#include "syscalls.h"
#include "tracer.h"
#include "util.h"

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

pid_t tracer_tgid_of(pid_t tid)
{
	struct proc_status st;

	return proc_read_status(tid, &st) == 0 ? st.tgid : tid;
}

struct tracee *tracer_tracee_get(struct tracer *tr, pid_t tid, pid_t tgid)
{
	struct tracee *t = tracee_table_lookup(&tr->tracees, tid);

	if (t)
		return t;
	if (tracee_table_add(&tr->tracees, tid, tgid ? tgid : tracer_tgid_of(tid), &t) < 0)
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
		tracer_finish(tr);
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

void tracer_release_held(struct tracer *tr, struct tracee *t)
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
		child = tracer_tracee_get(tr, ctid, thread ? t->tgid : ctid);
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
		tracer_release_held(tr, child);
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
			char *hold = t->hold;

			evbuf_swap(&t->ev, &old->ev);
			t->hold = old->hold;
			old->hold = hold;
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
		/* What the kernel ran, not what another thread may have
		 * rewritten the request into after the entry stop. */
		sc_exec_finish(t);
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

void tracer_on_status(struct tracer *tr, pid_t tid, int status)
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
			tracer_finish(tr);
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
		t = tracer_tracee_get(tr, tid, tid);
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
