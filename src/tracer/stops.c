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
#include "dnscap.h"
#include "inject.h"
#include "log.h"
#include "mem.h"
#include "stopseq.h"
#include "procsnap.h"
#include "syscalls.h"
#include "tracer.h"
#include "util.h"

/* --- resuming and emitting ------------------------------------------------ */

int tracer_resume(struct tracer *tr, struct tracee *t, int sig)
{
	/* Without the filter, every call must stop; with it, only the exit of
	 * a call whose event waits for its result, and every call of a
	 * thread watched for a DNS query (dnscap.c). */
	int req = (!(t->flags & TRACEE_FILTERED) || (t->flags & TRACEE_IN_SYSCALL) ||
		   t->dns_watch) ? PTRACE_SYSCALL : PTRACE_CONT;

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

bool tracer_seccomp_before_entry(struct tracer *tr, pid_t tid)
{
	int r;

	if (tr->seccomp_order >= 0)
		return tr->seccomp_order == 1;
	/*
	 * PTRACE_GET_SYSCALL_INFO came with 5.3, long after the order
	 * changed in 4.8; and with it the kernel tells the entry stop from
	 * the exit anyway. Only the register path needs the probe, which
	 * forks a child: done here, at the first seccomp stop, rather than
	 * at start, so that CMD stays the tracer's first child (pid 2 in a
	 * pid namespace of its own).
	 */
	if (arch_probe_syscall_info(tid)) {
		tr->seccomp_order = 0;
		return false;
	}
	r = stopseq_probe_order();
	if (r < 0) {
		log_warn("cannot tell the seccomp stop order (%s): taking the one "
			 "of Linux 4.8+", strerror(-r));
		r = 0;
	}
	tr->seccomp_order = r;
	log_info("seccomp stop: %s the syscall-entry stop", r ? "before" : "after");
	return r == 1;
}

static void on_exit_status(struct tracer *tr, pid_t tid, int status)
{
	struct tracee *t;

	if (guardian_reaped(&tr->guardian, tid, status))
		return;
	t = tracee_table_lookup(&tr->tracees, tid);
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
	if ((t->flags & TRACEE_HELD) && tracer_synthesize_fork(tr, t) < 0) {
		/* Killed while held, unknown: nothing of it was sent. */
		tracee_table_remove(&tr->tracees, t);
		if (tr->tracees.count == 0)
			tracer_finish(tr);
		return;
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
	if (t->tid == t->tgid)
		guardian_del(&tr->guardian, t->tgid);
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

/* Gone, or a zombie: its exit was reported or will never stop again. */
static bool proc_is_gone(pid_t pid)
{
	char buf[512];
	int n = proc_read_file(pid, "stat", buf, sizeof(buf) - 1);
	char *p;

	if (n <= 0)
		return kill(pid, 0) < 0;  /* no /proc to ask: alive or not */
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

static bool synth_ring_take(struct tracer *tr, pid_t tid)
{
	for (size_t i = 0; i < ARRAY_SIZE(tr->synth_ring); i++)
		if (tr->synth_ring[i] == tid) {
			tr->synth_ring[i] = 0;
			return true;
		}
	return false;
}

int tracer_synthesize_fork(struct tracer *tr, struct tracee *t)
{
	struct evbuf *e = &tr->scratch;
	struct proc_status st;
	bool thread;
	pid_t parent;

	if (proc_read_status(t->tid, &st) < 0)
		return -ESRCH;
	/*
	 * The parent is the kernel's: the thread group for a thread, PPid
	 * for a process (the subreaper's or init's, if the parent died
	 * before its fork event could be handled).
	 */
	thread = st.tgid != t->tid;
	parent = thread ? st.tgid : st.ppid;
	t->tgid = st.tgid;
	ev_begin(e, EV_FORK, NULL, parent, parent, false);
	ev_i64(e, "child", t->tid);
	ev_i64(e, "ppid", parent);
	ev_bool(e, "thread", thread);
	ev_bool(e, "synthesized", true);
	ev_end(e);
	tracer_emit(tr, e);
	t->flags |= TRACEE_FORK_SYNTH;
	tr->synth_ring[tr->synth_next++ % ARRAY_SIZE(tr->synth_ring)] = t->tid;
	tr->stats.forks_synthesized++;
	return 0;
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
	bool thread, late = false;
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
	if (child && (child->flags & TRACEE_FORK_SYNTH)) {
		/* Let go overdue with a fork event of ours: the probe
		 * has its fork already. */
		child->flags &= ~TRACEE_FORK_SYNTH;
		late = true;
	} else if (!child && proc_is_gone(ctid)) {
		/* A zombie (its exit came first) gets no entry: it never
		 * stops again, and the tracer would wait for it. If it was
		 * let go with a fork event of ours, it gets no second one. */
		late = tr->stats.forks_synthesized > 0 && synth_ring_take(tr, ctid);
	} else if (!child) {
		if (tr->stats.forks_synthesized > 0)
			synth_ring_take(tr, ctid);  /* a new process, same pid */
		child = tracer_tracee_get(tr, ctid, thread ? t->tgid : ctid);
	}
	if (child) {
		child->tgid = thread ? t->tgid : ctid;
		/* A filter is inherited by threads and children alike. */
		child->flags |= t->flags & TRACEE_FILTERED;
		if (!thread)
			guardian_add(&tr->guardian, ctid);
		else
			dnscap_thread_born(t, child);
	}
	if (late)
		tr->stats.forks_late++;
	else if (!(t->flags & TRACEE_PREEXEC)) {
		struct evbuf *e = &tr->scratch;

		ev_begin(e, EV_FORK, fork_syscall_name(event), t->tgid,
			 t->tid, false);
		ev_i64(e, "child", ctid);
		ev_i64(e, "ppid", t->tgid);
		ev_bool(e, "thread", thread);
		/* The new process's identity for kill COMMANDs. */
		if (!thread)
			ev_u64(e, "child_start_ticks", proc_start_ticks(ctid));
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
			/* Its filter and injection state move with it. */
			t->flags = (t->flags & ~TRACEE_IN_SYSCALL) |
				   (old->flags & (TRACEE_IN_SYSCALL |
						  TRACEE_FILTERED | TRACEE_INJECT));
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
	t->flags &= ~(TRACEE_IN_SYSCALL | TRACEE_PREEXEC | TRACEE_AWAIT_ENTRY);
	/*
	 * The thread is inside execve: without the filter its exit stop
	 * comes next, whatever the parity of the tid it took over was.
	 */
	if (!(t->flags & TRACEE_FILTERED))
		t->flags |= TRACEE_INSYS_ANY;
	tracer_resume(tr, t, 0);
}

static bool skip_while_preexec(const struct tracee *t, int id)
{
	/* Before CMD's exec only the exec itself is CMD's doing. */
	return (t->flags & TRACEE_PREEXEC) && id >= 0 &&
	       sc_table[id].kind != EV_EXEC;
}

/* Decodes the entry of call id; true when its event waits for the exit. */
static bool decode_entry(struct tracer *tr, struct tracee *t, int id,
			 const struct sc_info *info)
{
	if (id < 0 || (size_t)id >= sc_table_len || skip_while_preexec(t, id))
		return false;
	return sc_decode_entry(tr, t, id, info) == 0;
}

/*
 * The RET_TRACE data of this stop is not ours, or names another call than
 * the one that stopped: a filter of the tracee's own returned TRACE too
 * (the newest filter's data wins), to hide the call or forge another. The
 * call is decoded by its number; this says it happened.
 */
static void emit_seccomp_mismatch(struct tracer *tr, struct tracee *t,
				  const struct sc_info *info, int id, int claimed)
{
	struct evbuf *e = &tr->scratch;

	tr->stats.seccomp_data_mismatch++;
	if (t->flags & TRACEE_PREEXEC)
		return;
	ev_begin(e, EV_SECCOMP_MISMATCH, id >= 0 ? sc_table[id].name : NULL,
		 t->tgid, t->tid, info->compat);
	ev_i64(e, "nr", info->nr);
	ev_i64(e, "data", info->ret_data);
	ev_str(e, "claimed", claimed >= 0 ? sc_table[claimed].name : "");
	ev_end(e);
	tracer_emit(tr, e);
}

static void on_seccomp(struct tracer *tr, struct tracee *t)
{
	enum stop_action act;
	struct sc_info info;
	bool pending = false, mismatch;
	int id, claimed;

	tr->stats.seccomp_stops++;
	act = stopseq_classify(t->flags, STOP_KIND_SECCOMP, SC_OP_SECCOMP,
			       SC_HINT_NONE);
	if (act == STOP_ENTRY) {
		if (arch_get_sc_info(t->tid, SC_OP_SECCOMP, &info) < 0) {
			tracer_resume(tr, t, 0);
			return;
		}
		/* The call is the kernel's number, never the data alone. */
		id = sc_seccomp_id(&info, &claimed, &mismatch);
		if (mismatch)
			emit_seccomp_mismatch(tr, t, &info, id, claimed);
		pending = decode_entry(tr, t, id, &info);
	}
	t->flags = stopseq_flags_after(t->flags, act, pending,
				       pending && tracer_seccomp_before_entry(tr, t->tid));
	tracer_resume(tr, t, 0);
}

static bool is_restart(int64_t ret)
{
	/* ERESTARTSYS … ERESTART_RESTARTBLOCK: the kernel runs it again. */
	return ret <= -512 && ret >= -516;
}

static void on_syscall_stop(struct tracer *tr, struct tracee *t)
{
	enum stop_action act;
	struct sc_info info;
	bool pending = false;

	tr->stats.syscall_stops++;
	if (arch_get_sc_info(t->tid, SC_OP_NONE, &info) < 0) {
		tracer_resume(tr, t, 0);
		return;
	}
	act = stopseq_classify(t->flags, STOP_KIND_SYSCALL, info.op, info.hint);
	/* A thread that connected to a DNS port: is this its query? */
	if (t->dns_watch && (info.op == SC_OP_ENTRY || act == STOP_ENTRY) &&
	    !(t->flags & TRACEE_PREEXEC))
		dnscap_watch_entry(tr, t, &info);
	if (act == STOP_ENTRY && (t->flags & TRACEE_INJECT)) {
		/* A syscall-entry stop is where a call can be swapped for
		 * ours: put the filter into this process now. */
		if (inject_begin(tr, t) == 0)
			return;
	}
	if (act == STOP_ENTRY) {
		pending = decode_entry(tr, t, sc_lookup_nr(info.compat, info.nr), &info);
	} else if (act == STOP_EXIT && (t->flags & TRACEE_IN_SYSCALL)) {
		if (t->refused) {
			/* Refused at its entry: the result is ours. */
			t->flags &= ~TRACEE_IN_SYSCALL;
			info.ret = -t->refused;
			if (arch_set_ret(t->tid, info.ret) < 0)
				log_debug("tid %d: cannot set the result", (int)t->tid);
			t->refused = 0;
			sc_decode_exit(tr, t, info.ret);
		} else if (is_restart(info.ret)) {
			tr->stats.restarts_skipped++;
			ev_reset(&t->ev);
			t->sc_id = -1;
		} else {
			t->flags &= ~TRACEE_IN_SYSCALL;
			sc_decode_exit(tr, t, info.ret);
		}
	}
	/* The order matters only after a seccomp stop (on_seccomp). */
	t->flags = stopseq_flags_after(t->flags, act, pending, false);
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
	if (!t && sig == SIGTRAP && event == PTRACE_EVENT_EXEC) {
		/*
		 * A thread exec'd while the leader's tid, which it takes over,
		 * had no entry (a zombie leader attach skipped, or its exit
		 * already handled): not a new child, and not to be held.
		 */
		t = tracer_tracee_get(tr, tid, tid);
		if (t) {
			on_exec(tr, t);
			return;
		}
	}
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
