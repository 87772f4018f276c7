/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The order of a system call's stops, and how a tracee's flags follow it.
 * docs/internals.md draws the sequences; tests/unit/test-stopseq.c replays
 * them, the old kernels' order included.
 */
#include "config.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "log.h"
#include "stopseq.h"
#include "tracee.h"

enum stop_action stopseq_classify(uint32_t flags, enum stop_kind kind,
				  enum sc_op reported, enum sc_hint hint)
{
	if (kind == STOP_KIND_SECCOMP) {
		/*
		 * Only our filter's stops decode. Without it, the entry stop
		 * decodes every call (it comes too, before or after this one),
		 * and a tracee's own RET_TRACE filter has nothing to say.
		 */
		return (flags & TRACEE_FILTERED) ? STOP_ENTRY : STOP_RESUME;
	}
	if (reported == SC_OP_ENTRY) {
		if (flags & TRACEE_AWAIT_ENTRY)
			return STOP_SKIP_ENTRY;
		/* With the filter, calls are decoded at their seccomp stop. */
		return (flags & TRACEE_FILTERED) ? STOP_RESUME : STOP_ENTRY;
	}
	if (reported == SC_OP_EXIT)
		return STOP_EXIT;
	/* Registers only. A result other than -ENOSYS is an exit. */
	if (hint == SC_HINT_EXIT)
		return STOP_EXIT;
	if (flags & TRACEE_AWAIT_ENTRY)
		return STOP_SKIP_ENTRY;
	/* A filtered tracee stops at a syscall stop only for an exit once
	 * its entry is behind it. */
	if (flags & TRACEE_FILTERED)
		return STOP_EXIT;
	/*
	 * rax == -ENOSYS: an entry, as strace takes it, or the exit of a call
	 * that failed with ENOSYS (init_module where modules are not built
	 * in): the parity decides. A wrong parity mends itself at the next
	 * exit, whose rax tells (SC_HINT_EXIT above).
	 */
	return (flags & TRACEE_INSYS_ANY) ? STOP_EXIT : STOP_ENTRY;
}

uint32_t stopseq_flags_after(uint32_t flags, enum stop_action act, bool pending,
			     bool seccomp_before_entry)
{
	switch (act) {
	case STOP_RESUME:
		break;
	case STOP_ENTRY:
		if (!(flags & TRACEE_FILTERED))
			flags |= TRACEE_INSYS_ANY;
		if (pending)
			flags |= TRACEE_IN_SYSCALL;
		else
			flags &= ~TRACEE_IN_SYSCALL;
		/* Resumed with PTRACE_SYSCALL for the exit, an old kernel
		 * stops at the entry first. */
		if (pending && (flags & TRACEE_FILTERED) && seccomp_before_entry)
			flags |= TRACEE_AWAIT_ENTRY;
		break;
	case STOP_SKIP_ENTRY:
		flags &= ~TRACEE_AWAIT_ENTRY;
		break;
	case STOP_EXIT:
		flags &= ~(TRACEE_INSYS_ANY | TRACEE_IN_SYSCALL | TRACEE_AWAIT_ENTRY);
		break;
	}
	return flags;
}

bool stopseq_kernel_has_filters(void)
{
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL, 0, 0) < 0 &&
	       errno != EINVAL;
}

/* The child of the probe: a filter that traces getppid() only. */
static void order_child(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(code) / sizeof(code[0]), code };

	if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0)
		_exit(1);
	kill(getpid(), SIGSTOP);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		_exit(2);
	syscall(__NR_getppid);
	_exit(0);
}

int stopseq_probe_order(void)
{
	int result = -EAGAIN, status;
	bool reaped = false;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		order_child();
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) {
		/* It exited (no ptrace here?): nothing to kill or reap. */
		return -ECHILD;
	}
	/* No PTRACE_O_EXITKILL: it came with 3.8, and the child is killed
	 * below anyway. */
	if (ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD |
		   PTRACE_O_TRACESECCOMP) < 0) {
		/* 3.4: no PTRACE_O_TRACESECCOMP, as there are no filters. */
		result = errno == EINVAL ? -ENOSYS : -errno;
		goto out;
	}
	/* A bounded number of stops: the child makes a handful of calls. */
	for (int n = 0; n < 64 && result == -EAGAIN; n++) {
		struct sc_info info;

		if (ptrace(PTRACE_SYSCALL, pid, 0, 0) < 0 ||
		    waitpid(pid, &status, 0) != pid) {
			result = -errno;
			break;
		}
		if (!WIFSTOPPED(status)) {
			reaped = true;
			/* Exit code 2: the filter was refused (Linux 3.4, or
			 * a kernel built without CONFIG_SECCOMP_FILTER). */
			result = WIFEXITED(status) && WEXITSTATUS(status) == 2
					 ? -ENOSYS : -ECHILD;
			break;
		}
		if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8)))
			result = 1;     /* before any entry stop of getppid */
		else if (WSTOPSIG(status) == (SIGTRAP | 0x80) &&
			 arch_get_sc_info(pid, SC_OP_NONE, &info) == 0 &&
			 info.nr == __NR_getppid)
			result = 0;
	}
out:
	if (reaped)
		return result;
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return result;
}
