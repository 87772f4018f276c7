/* SPDX-License-Identifier: Apache-2.0 */
/*
 * COMMAND frames from the probe. The only action is "kill": of this
 * tracer's own tracees (thread-group leaders) and of the processes its
 * procfs scanner reported, never of anything else and never of itself.
 * A COMMAND names its process by pid and start time (clock ticks after
 * boot, /proc/PID/stat field 22): a pid that now belongs to another
 * process is refused, not signalled. The container scope signals every
 * such process whose container (read from /proc) is the one named.
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

#include "log.h"
#include "mem.h"
#include "procsnap.h"
#include "tracer.h"
#include "util.h"


/* How a kill went, for the result and the log. */
enum kill_error {
	KILL_NOT_OURS = 4096,      /* not a tracee and not reported by the scanner;
				    * above every errno value, which pass through */
	KILL_OTHER_TRACER,         /* traced, but not by us (or it is us) */
	KILL_THREAD,               /* a thread id, not a process */
	KILL_REUSED,               /* the pid now names another process */
	KILL_NO_START,             /* the COMMAND has no start time */
};

/*
 * Whether pidfds are there: -1 not tried yet, 0 no (ENOSYS before Linux 5.3,
 * or SENTRACE_NO_PIDFD=1, which the tests use to run the fallback), 1 yes.
 * Probed once, on the first kill.
 */
static int have_pidfd = -1;

/* A pidfd for pid; -ENOSYS when the kernel (or the switch) has none. */
static int pin(pid_t pid)
{
	int fd;

	if (have_pidfd < 0) {
		const char *env = getenv("SENTRACE_NO_PIDFD");

		have_pidfd = !(env && strcmp(env, "1") == 0);
		if (!have_pidfd)
			log_info("kill: SENTRACE_NO_PIDFD=1, using kill()");
	}
	if (!have_pidfd)
		return -ENOSYS;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0 && errno == ENOSYS) {
		log_info("kill: no pidfd_open (Linux < 5.3), using kill()");
		have_pidfd = 0;
		return -ENOSYS;
	}
	return fd < 0 ? -errno : fd;
}

/* Sends sig through pidfd when there is one (>= 0), else with kill(). */
static int send_signal(int pidfd, pid_t pid, int sig)
{
	long r = pidfd >= 0 ? syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0)
			    : kill(pid, sig);

	return r < 0 ? -errno : 0;
}

/* -KILL_REUSED unless pid is still the process that started at ticks. */
static int check_start(pid_t pid, uint64_t ticks)
{
	uint64_t now = proc_start_ticks(pid);

	if (now == 0)
		return -ESRCH;
	return now == ticks ? 0 : -KILL_REUSED;
}

/*
 * One of our own tracees. After the table check the process is pinned
 * (a pidfd) or, without pidfds, needs no pin: a traced process that exits
 * stays a zombie until its tracer has waited for it (its real parent cannot
 * reap it before), and this single-threaded tracer does not wait between
 * the checks below and kill(). So its pid cannot be reused in between, and
 * check-then-kill() is as safe as the pidfd.
 */
static int kill_tracee(pid_t pid, uint64_t ticks, int sig, bool *ret_pidfd)
{
	struct proc_status st;
	int pidfd, r;

	/* Still ours, and a process, not a thread (pidfd_open would refuse a
	 * thread with EINVAL, which says less)? */
	if (proc_read_status(pid, &st) < 0)
		return -ESRCH;
	if (st.tracer_pid != getpid())
		return -KILL_OTHER_TRACER;
	if (st.tgid != pid)
		return -KILL_THREAD;
	pidfd = pin(pid);
	if (pidfd < 0 && pidfd != -ENOSYS)
		return pidfd;
	/* The table has the pid; is it still the process named? A new tracee
	 * that got the pid of one we reaped has another start time. */
	r = check_start(pid, ticks);
	if (r == 0)
		r = send_signal(pidfd, pid, sig);
	*ret_pidfd = pidfd >= 0;
	if (pidfd >= 0)
		close(pidfd);
	return r;
}

/*
 * A process the procfs scanner reported: not our tracee, so anyone may reap
 * it. The pidfd pins it: if the start time read after pidfd_open matches,
 * the pinned process is the one named, and the signal can reach no other.
 * Without pidfds the start time is checked, then kill() sent: if in the
 * microseconds between the two the process exits, is reaped by its parent
 * and the pid space wraps around to give its pid to a new process, that
 * process is hit. That race is accepted and documented (docs/security.md).
 */
static int kill_scanned(struct tracer *tr, pid_t pid, uint64_t ticks, int sig,
			bool *ret_pidfd)
{
	uint64_t seen;
	int pidfd, r;

	if (!tr->procscan || !procscan_lookup(tr->procscan, pid, &seen))
		return -KILL_NOT_OURS;
	/* The scanner reported another process under this pid. */
	if (seen != ticks)
		return -KILL_REUSED;
	pidfd = pin(pid);
	if (pidfd < 0 && pidfd != -ENOSYS)
		return pidfd;
	r = check_start(pid, ticks);
	/* A process that another tracer (a debugger) holds is still found by
	 * the scanner, and may be killed as any other. */
	if (r == 0)
		r = send_signal(pidfd, pid, sig);
	*ret_pidfd = pidfd >= 0;
	if (pidfd >= 0)
		close(pidfd);
	return r;
}

/* Kills the process named by pid and start time, if we may. */
static int kill_named(struct tracer *tr, pid_t pid, uint64_t ticks, int sig,
		      bool *ret_pidfd)
{
	*ret_pidfd = false;
	if (pid <= 0 || pid == getpid())
		return -KILL_OTHER_TRACER;
	if (ticks == 0)
		return -KILL_NO_START;
	if (tracee_table_lookup(&tr->tracees, pid))
		return kill_tracee(pid, ticks, sig, ret_pidfd);
	return kill_scanned(tr, pid, ticks, sig, ret_pidfd);
}

static const char *kill_strerror(int r)
{
	switch (-r) {
	case KILL_NOT_OURS:
		return "not a tracee of this tracer, nor found by its procfs scanner";
	case KILL_OTHER_TRACER:
		return "not a tracee of this tracer";
	case KILL_THREAD:
		return "a thread, not a process";
	case KILL_REUSED:
		return "pid reused: its start time is not the one named";
	case KILL_NO_START:
		return "no start time: refused, the pid may name another process";
	case ESRCH:
		return "no such process";
	default:
		return strerror(-r);
	}
}

/* --- the container scope ---------------------------------------------------- */

/* The processes of one container, collected before any is signalled. */
struct victims {
	const char *container_id;
	pid_t named;               /* the COMMAND's own process, done first */
	struct { pid_t pid; uint64_t ticks; } *v;
	size_t n, cap;
	bool oom;
};

/* Only a process whose own /proc (cgroup, mountinfo) names the container:
 * one whose container cannot be read is left alone, so that the scope
 * never reaches past the container (a host's processes have no id). */
static bool in_container(pid_t pid, const char *container_id)
{
	char buf[CONTAINER_ID_MAX];

	return container_id_for_pid(pid, buf, sizeof(buf)) == 0 &&
	       strcmp(buf, container_id) == 0;
}

static void victims_add(struct victims *vs, pid_t pid, uint64_t ticks)
{
	if (pid == vs->named || pid == getpid() || !in_container(pid, vs->container_id))
		return;
	if (vs->n == vs->cap) {
		size_t cap = vs->cap ? vs->cap * 2 : 64;
		void *nv = realloc(vs->v, cap * sizeof(*vs->v));

		if (!nv) {
			vs->oom = true;
			return;
		}
		vs->v = nv;
		vs->cap = cap;
	}
	vs->v[vs->n].pid = pid;
	vs->v[vs->n].ticks = ticks;
	vs->n++;
}

static void add_tracee(struct tracee *t, void *data)
{
	/* Processes only; the start time is read now, as the tracee cannot
	 * be reaped before we wait for it. */
	if (t->tid == t->tgid)
		victims_add(data, t->tid, proc_start_ticks(t->tid));
}

static void add_scanned(pid_t pid, uint64_t ticks, void *data)
{
	victims_add(data, pid, ticks);
}

/*
 * The named process first (with the usual checks), then every tracee and
 * every scanned process of the same container. Returns the count
 * signalled; *ret_err is the named process's error, if any.
 */
static uint32_t kill_container(struct tracer *tr, const struct wire_command *cmd,
			       int *ret_err, bool *ret_pidfd)
{
	struct victims vs = {
		.container_id = "", .named = (pid_t)cmd->pid,
	};
	char cid[CONTAINER_ID_MAX];
	uint32_t count = 0;
	bool pidfd;
	int r;

	r = kill_named(tr, (pid_t)cmd->pid, cmd->start_ticks, cmd->signal, ret_pidfd);
	*ret_err = r;
	/* A COMMAND that names a process it has wrong is not acted on further. */
	if (r == -KILL_REUSED || r == -KILL_NO_START || r == -KILL_NOT_OURS ||
	    r == -KILL_OTHER_TRACER || r == -KILL_THREAD)
		return 0;
	if (r == 0)
		count++;
	if (cmd->container_id.len == 0 || cmd->container_id.len >= sizeof(cid))
		return count;
	memcpy(cid, cmd->container_id.ptr, cmd->container_id.len);
	cid[cmd->container_id.len] = '\0';
	vs.container_id = cid;
	tracee_table_foreach(&tr->tracees, add_tracee, &vs);
	if (tr->procscan)
		procscan_foreach(tr->procscan, add_scanned, &vs);
	if (vs.oom)
		log_warn("kill: out of memory listing container %s", cid);
	for (size_t i = 0; i < vs.n; i++) {
		if (vs.v[i].ticks == 0)
			continue;
		if (kill_named(tr, vs.v[i].pid, vs.v[i].ticks, cmd->signal, &pidfd) == 0)
			count++;
	}
	free(vs.v);
	return count;
}

void tracer_on_command(struct client *c, const struct wire_command *cmd)
{
	struct tracer *tr = c->data;
	struct wire_command_result res = {
		.id = cmd->id, .pid = cmd->pid, .signal = cmd->signal,
	};
	bool pidfd = false;
	int r;

	if (!wire_str_eq(cmd->action, "kill")) {
		res.error = wire_str_c("unknown action");
		client_send_command_result(c, &res);
		return;
	}
	if (cmd->scope.len == 0 || wire_str_eq(cmd->scope, "process")) {
		r = kill_named(tr, (pid_t)cmd->pid, cmd->start_ticks, cmd->signal, &pidfd);
		res.count = r == 0;
	} else if (wire_str_eq(cmd->scope, "container")) {
		res.count = kill_container(tr, cmd, &r, &pidfd);
		/* Done when anything of the container was reached. */
		if (res.count > 0)
			r = 0;
	} else {
		res.error = wire_str_c("unknown scope");
		client_send_command_result(c, &res);
		return;
	}
	res.done = r == 0;
	if (r < 0)
		res.error = wire_str_c(kill_strerror(r));
	log_info("kill %lld (start %llu) with signal %d for rule %.*s: %s%s, %u signalled",
		 (long long)cmd->pid, (unsigned long long)cmd->start_ticks, cmd->signal,
		 (int)cmd->rule_id.len, cmd->rule_id.ptr,
		 r == 0 ? "done" : kill_strerror(r),
		 r == 0 ? (pidfd ? " (pidfd)" : " (kill())") : "", res.count);
	client_send_command_result(c, &res);
}
