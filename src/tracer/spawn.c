/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wrap mode's CMD: found in PATH, forked, stopped by itself until the tracer
 * has seized it, then (once the probe has answered) given the filter, its
 * ids, and exec'd. The child runs async-signal-safe code only.
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "tracer.h"
#include "util.h"

#define PTRACE_OPTIONS                                                       \
	(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |  \
	 PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACESECCOMP |   \
	 PTRACE_O_EXITKILL)

extern char **environ;

int tracer_find_in_path(const char *name, char *out, size_t cap)
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
	/* The tracer is not dumpable, and fork passed that on: the exec
	 * decides again from CMD's credentials, as without us. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
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

/*
 * Seizes CMD with the options this kernel has. PTRACE_O_EXITKILL came with
 * 3.8: without it, a tracer that dies detaches CMD instead of killing it
 * (said once). PTRACE_O_TRACESECCOMP came with 3.5, with the filters: a
 * kernel that refuses it runs no filter of ours.
 */
static int seize_cmd(pid_t pid, bool filtered)
{
	unsigned long opts = PTRACE_OPTIONS;

	if (ptrace(PTRACE_SEIZE, pid, 0, opts) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	opts &= ~(unsigned long)PTRACE_O_EXITKILL;
	if (ptrace(PTRACE_SEIZE, pid, 0, opts) == 0) {
		log_warn("no PTRACE_O_EXITKILL (Linux < 3.8): if sentrace dies, "
			 "CMD goes on untraced");
		return 0;
	}
	if (errno != EINVAL || filtered)
		return -errno;
	opts &= ~(unsigned long)PTRACE_O_TRACESECCOMP;
	return ptrace(PTRACE_SEIZE, pid, 0, opts) == 0 ? 0 : -errno;
}

int tracer_spawn_cmd(struct tracer *tr, const char *path, const void *bpf, size_t bpf_len)
{
	struct sock_fprog prog = {
		.len = (unsigned short)(bpf_len / sizeof(struct sock_filter)),
		.filter = (struct sock_filter *)bpf,
	};
	struct tracee *t;
	int status, r;
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
	r = seize_cmd(pid, bpf != NULL);
	if (r < 0) {
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

