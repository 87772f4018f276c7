/* SPDX-License-Identifier: Apache-2.0 */
/*
 * COMMAND frames from the probe. The only action is "kill", and only of
 * this tracer's own tracees (thread-group leaders), never of anything else.
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
#include "tracer.h"
#include "util.h"


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

void tracer_on_command(struct client *c, const struct wire_command *cmd)
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
