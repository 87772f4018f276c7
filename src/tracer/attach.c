/* SPDX-License-Identifier: Apache-2.0 */
/* Attach mode: seize, follow, detach. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "attach.h"
#include "log.h"
#include "mem.h"
#include "tracer.h"

#define ATTACH_OPTIONS                                                       \
	(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |  \
	 PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACESECCOMP)

/*
 * Seizes tid. PTRACE_O_TRACESECCOMP came with seccomp filters (3.5): a 3.4
 * kernel refuses it with EINVAL, and has no filter to report anyway.
 */
static int seize(pid_t tid)
{
	if (ptrace(PTRACE_SEIZE, tid, 0, ATTACH_OPTIONS) == 0)
		return 0;
	if (errno == EINVAL &&
	    ptrace(PTRACE_SEIZE, tid, 0, ATTACH_OPTIONS & ~PTRACE_O_TRACESECCOMP) == 0)
		return 0;
	return -errno;
}

/* A zombie: a leader that called pthread_exit while its threads run. */
static bool is_zombie(pid_t tid)
{
	char buf[512], *p;
	int n = proc_read_file(tid, "stat", buf, sizeof(buf) - 1);

	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* The state follows the last ')': comm may hold anything. */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'Z';
}

/* Why tid cannot be seized, in words an operator can act on. */
static void explain_seize_error(pid_t pid, int err)
{
	struct proc_status st;

	if (err == ESRCH) {
		log_err("pid %d: no such process", (int)pid);
		return;
	}
	if (err == EPERM) {
		if (proc_read_status(pid, &st) == 0 && st.tracer_pid != 0) {
			log_err("pid %d: already traced by pid %d", (int)pid,
				(int)st.tracer_pid);
			return;
		}
		log_err("pid %d: not permitted to trace it (needs CAP_SYS_PTRACE, "
			"or the same user and kernel.yama.ptrace_scope 0)", (int)pid);
		return;
	}
	log_err("pid %d: cannot trace: %s", (int)pid, strerror(err));
}

/* Seizes every thread of pid, rereading the task list until it is stable. */
static int seize_process(struct tracer *tr, pid_t pid)
{
	char path[64];
	bool added;
	int seized = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	do {
		DIR *d = opendir(path);
		struct dirent *de;

		added = false;
		if (!d)
			return seized > 0 ? seized : -ESRCH;
		while ((de = readdir(d))) {
			pid_t tid = (pid_t)strtol(de->d_name, NULL, 10);
			struct tracee *t;

			if (tid <= 0 || tracee_table_lookup(&tr->tracees, tid))
				continue;
			if (seize(tid) < 0) {
				int r = errno;

				/* Its live threads are the process (T6). */
				if (tid == pid && r == EPERM && is_zombie(tid))
					continue;
				if (tid == pid) {
					closedir(d);
					return -r;
				}
				continue; /* a thread that just exited */
			}
			if (tracee_table_add(&tr->tracees, tid, pid, &t) == 0 &&
			    tr->opts.attach_seccomp)
				t->flags |= TRACEE_INJECT;
			if (tid == pid)
				guardian_add(&tr->guardian, pid);
			/* Stop it once so that it resumes in syscall-stop mode. */
			ptrace(PTRACE_INTERRUPT, tid, 0, 0);
			seized++;
			added = true;
		}
		closedir(d);
	} while (added);
	return seized;
}

/* pid → ppid of every process, to find descendants. */
struct pp {
	pid_t pid, ppid;
};

static size_t read_all_ppids(struct pp **ret)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	struct pp *v = NULL;
	size_t n = 0, cap = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		pid_t pid = (pid_t)strtol(de->d_name, NULL, 10);
		struct proc_status st;

		if (pid <= 0 || proc_read_status(pid, &st) < 0)
			continue;
		if (n == cap) {
			struct pp *nv = realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
		}
		v[n++] = (struct pp){ pid, st.ppid };
	}
	closedir(d);
	*ret = v;
	return n;
}

static int attach_tree(struct tracer *tr, pid_t root, const struct pp *all, size_t n)
{
	int count = 0;

	/* Depth-first over the snapshot of /proc: parents before children. */
	for (size_t i = 0; i < n; i++) {
		if (all[i].ppid != root || tracee_table_lookup(&tr->tracees, all[i].pid))
			continue;
		if (seize_process(tr, all[i].pid) > 0) {
			count++;
			count += attach_tree(tr, all[i].pid, all, n);
		}
	}
	return count;
}

int attach_all(struct tracer *tr)
{
	struct pp *all = NULL;
	size_t n = 0;
	int total = 0;

	if (!tr->opts.attach_only_listed)
		n = read_all_ppids(&all);
	for (size_t i = 0; i < tr->opts.n_pids; i++) {
		pid_t pid = tr->opts.pids[i];
		int r;

		if (tracee_table_lookup(&tr->tracees, pid))
			continue; /* listed twice, or a descendant of another */
		r = seize_process(tr, pid);
		if (r < 0) {
			explain_seize_error(pid, -r);
			continue;
		}
		total++;
		if (!tr->opts.attach_only_listed)
			total += attach_tree(tr, pid, all, n);
	}
	free(all);
	if (tr->tracees.count > tr->stats.tracees_max)
		tr->stats.tracees_max = tr->tracees.count;
	return total;
}

void attach_detach_all(struct tracer *tr)
{
	size_t kept = 0;

	if (tr->detaching)
		return;
	tr->detaching = true;
	log_info("detaching from %zu thread(s)", tr->tracees.count);
	for (size_t i = 0; i < tr->tracees.nbuckets; i++) {
		struct tracee *t = tr->tracees.buckets[i];

		while (t) {
			struct tracee *next = t->next;

			if ((t->flags & TRACEE_FILTERED) || t->inject) {
				/* Its filter cannot be taken out: without a
				 * tracer its monitored calls would fail. */
				kept++;
			} else if (t->flags & TRACEE_HELD) {
				/* Already in a ptrace-stop: no new stop will come. */
				ptrace(PTRACE_DETACH, t->tid, 0, t->held_sig);
				tracee_table_remove(&tr->tracees, t);
			} else if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) < 0) {
				log_debug("ptrace(INTERRUPT, %d): %s", (int)t->tid,
					  strerror(errno));
			}
			t = next;
		}
	}
	if (kept)
		log_warn("%zu thread(s) have the seccomp filter (--attach-seccomp) "
			 "and stay traced until they exit: detaching them would "
			 "make their monitored system calls fail with ENOSYS", kept);
}

bool attach_can_detach(const struct tracee *t)
{
	return !(t->flags & TRACEE_FILTERED) && !t->inject;
}

void attach_detach_stopped(struct tracer *tr, pid_t tid, int status)
{
	struct tracee *t = tracee_table_lookup(&tr->tracees, tid);
	int sig = WSTOPSIG(status), event = (status >> 16) & 0xff, pass = 0;

	/* A signal on its way in is handed back with the detach, so that
	 * nothing pending is lost. Our own stops carry none. */
	if (event == 0 && sig != (SIGTRAP | 0x80))
		pass = sig;
	if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK ||
	    event == PTRACE_EVENT_CLONE) {
		unsigned long child = 0;
		struct tracee *ct;

		/* The new child is ours too until it stops and is let go. */
		if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &child) == 0 && child)
			tracee_table_add(&tr->tracees, (pid_t)child, (pid_t)child, &ct);
	}
	if (ptrace(PTRACE_DETACH, tid, 0, pass) < 0)
		log_debug("ptrace(DETACH, %d): %s", (int)tid, strerror(errno));
	if (t && t->tid == t->tgid)
		guardian_del(&tr->guardian, t->tgid);
	if (t)
		tracee_table_remove(&tr->tracees, t);
}
