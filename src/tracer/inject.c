/* SPDX-License-Identifier: Apache-2.0 */
/* Putting the seccomp filter into a running process through ptrace. */
#include "config.h"

#include <elf.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "inject.h"
#include "log.h"
#include "mem.h"
#include "tracer.h"

#if defined(__x86_64__)

#define CAP_SYS_ADMIN_BIT 21
#define MAX_HELD_SIGNALS  8

enum inject_step { STEP_MMAP, STEP_NNP, STEP_SECCOMP, STEP_MUNMAP };

struct inject {
	enum inject_step step;
	struct user_regs_struct saved;  /* at the entry stop we took over */
	uint64_t page;
	size_t page_len;
	long seccomp_ret;
	bool nnp;                       /* no CAP_SYS_ADMIN: no_new_privs first */
	bool entered;                   /* the next syscall stop is an exit */
	int held[MAX_HELD_SIGNALS];     /* signals that came in meanwhile */
	int nheld;
};

static bool has_cap_sys_admin(pid_t pid)
{
	struct proc_status st;

	return proc_read_status(pid, &st) == 0 &&
	       ((st.cap_eff >> CAP_SYS_ADMIN_BIT) & 1);
}

/* From an exit stop: rewind to the syscall instruction and make it run
 * call nr with these arguments instead. */
static int run_call(struct tracee *t, long nr, const uint64_t args[6])
{
	struct user_regs_struct r = t->inject->saved;

	r.rip -= 2;
	r.rax = (uint64_t)nr;
	r.rdi = args[0];
	r.rsi = args[1];
	r.rdx = args[2];
	r.r10 = args[3];
	r.r8 = args[4];
	r.r9 = args[5];
	if (ptrace(PTRACE_SETREGS, t->tid, 0, &r) < 0)
		return -errno;
	/* Rewound: the call enters again, its entry stop comes first. */
	t->inject->entered = false;
	return ptrace(PTRACE_SYSCALL, t->tid, 0, 0) < 0 ? -errno : 0;
}

static void set_process_flags(struct tracer *tr, pid_t tgid, uint32_t set, uint32_t clear)
{
	for (size_t i = 0; i < tr->tracees.nbuckets; i++)
		for (struct tracee *x = tr->tracees.buckets[i]; x; x = x->next)
			if (x->tgid == tgid)
				x->flags = (x->flags & ~clear) | set;
}

/* The original call runs again; the process keeps or lacks the filter. */
static void finish(struct tracer *tr, struct tracee *t)
{
	struct inject *inj = t->inject;
	struct user_regs_struct r = inj->saved;
	bool ok = inj->seccomp_ret == 0;
	int r_set;

	r.rip -= 2;
	r.rax = r.orig_rax;
	r_set = ptrace(PTRACE_SETREGS, t->tid, 0, &r);
	if (ok) {
		set_process_flags(tr, t->tgid, TRACEE_FILTERED, TRACEE_INJECT);
		tr->stats.filters_injected++;
		log_info("pid %d: seccomp filter installed%s; it stays traced "
			 "until it exits", (int)t->tgid,
			 inj->nnp ? " (with no_new_privs: no CAP_SYS_ADMIN)" : "");
	} else {
		set_process_flags(tr, t->tgid, 0, TRACEE_INJECT);
		tr->stats.filters_failed++;
		log_warn("pid %d: cannot install the seccomp filter (%s); every "
			 "system call of it keeps stopping", (int)t->tgid,
			 strerror((int)-inj->seccomp_ret));
	}
	if (r_set < 0)
		log_err("pid %d: cannot restore registers: %s", (int)t->tid,
			strerror(errno));
	for (int i = 0; i < inj->nheld; i++)
		syscall(SYS_tgkill, t->tgid, t->tid, inj->held[i]);
	free(inj);
	t->inject = NULL;
	if (tr->detaching && !(t->flags & TRACEE_FILTERED)) {
		ptrace(PTRACE_DETACH, t->tid, 0, 0);
		tracee_table_remove(&tr->tracees, t);
		return;
	}
	tracer_resume(tr, t, 0);
}

static int write_filter(struct tracer *tr, struct tracee *t)
{
	struct inject *inj = t->inject;
	struct {
		uint16_t len;
		uint16_t pad[3];
		uint64_t filter;
	} fprog = { (uint16_t)(tr->bpf_len / sizeof(struct sock_filter)), { 0 },
		    inj->page + 16 };
	struct iovec local[2] = {
		{ &fprog, sizeof(fprog) }, { tr->bpf, tr->bpf_len },
	};
	struct iovec remote = { (void *)(uintptr_t)inj->page, 16 + tr->bpf_len };
	ssize_t n = process_vm_writev(t->tid, local, 2, &remote, 1, 0);

	return n == (ssize_t)(16 + tr->bpf_len) ? 0 : -EFAULT;
}

/* Next step after the exit of the current one. */
static void advance(struct tracer *tr, struct tracee *t, long ret)
{
	struct inject *inj = t->inject;
	uint64_t a[6] = { 0 };
	int r = 0;

	switch (inj->step) {
	case STEP_MMAP:
		if (ret < 0 && ret > -4096) {
			inj->seccomp_ret = ret;
			finish(tr, t);
			return;
		}
		inj->page = (uint64_t)ret;
		if (write_filter(tr, t) < 0) {
			inj->seccomp_ret = -EFAULT;
			goto unmap;
		}
		if (inj->nnp) {
			inj->step = STEP_NNP;
			a[0] = PR_SET_NO_NEW_PRIVS;
			a[1] = 1;
			r = run_call(t, SYS_prctl, a);
			break;
		}
		/* fall through */
	case STEP_NNP:
		if (inj->step == STEP_NNP && ret != 0) {
			inj->seccomp_ret = ret;
			goto unmap;
		}
		inj->step = STEP_SECCOMP;
		a[0] = SECCOMP_SET_MODE_FILTER;
		a[1] = SECCOMP_FILTER_FLAG_TSYNC;
		a[2] = inj->page;
		r = run_call(t, SYS_seccomp, a);
		break;
	case STEP_SECCOMP:
		/* With TSYNC a positive result names a thread that could not
		 * be synchronised. */
		inj->seccomp_ret = ret > 0 ? -EBUSY : ret;
		goto unmap;
	case STEP_MUNMAP:
		finish(tr, t);
		return;
	}
	if (r < 0)
		log_debug("tid %d: injection step: %s", (int)t->tid, strerror(-r));
	return;
unmap:
	inj->step = STEP_MUNMAP;
	a[0] = inj->page;
	a[1] = inj->page_len;
	if (run_call(t, SYS_munmap, a) < 0)
		finish(tr, t);
}

int inject_begin(struct tracer *tr, struct tracee *t)
{
	struct user_regs_struct regs;
	struct iovec iov = { &regs, sizeof(regs) };
	unsigned char insn[2];
	struct inject *inj;

	if (!tr->bpf)
		return -EINVAL;
	if (ptrace(PTRACE_GETREGSET, t->tid, NT_PRSTATUS, &iov) < 0)
		return -errno;
	if (iov.iov_len != sizeof(regs)) {
		/* The 32-bit ABI enters through int 0x80 or sysenter. */
		log_warn("pid %d: 32-bit process: no filter injection", (int)t->tgid);
		set_process_flags(tr, t->tgid, 0, TRACEE_INJECT);
		return -ENOTSUP;
	}
	/* Only where the call came from a plain `syscall` instruction can it
	 * be run again by rewinding two bytes. */
	if (mem_read(t->tid, regs.rip - 2, insn, 2) < 0 || insn[0] != 0x0f ||
	    insn[1] != 0x05)
		return -EAGAIN;
	inj = calloc(1, sizeof(*inj));
	if (!inj)
		return -ENOMEM;
	inj->saved = regs;
	inj->nnp = !has_cap_sys_admin(t->tgid);
	inj->page_len = (16 + tr->bpf_len + 4095) & ~(size_t)4095;
	inj->step = STEP_MMAP;
	/* Taken over at its entry stop: the exit of our mmap comes next. */
	inj->entered = true;
	t->inject = inj;
	/* One thread does it for the whole process (TSYNC). */
	set_process_flags(tr, t->tgid, 0, TRACEE_INJECT);
	/* At an entry stop the call can simply be replaced. */
	regs.orig_rax = SYS_mmap;
	regs.rdi = 0;
	regs.rsi = inj->page_len;
	regs.rdx = PROT_READ | PROT_WRITE;
	regs.r10 = MAP_PRIVATE | MAP_ANONYMOUS;
	regs.r8 = (uint64_t)-1;
	regs.r9 = 0;
	if (ptrace(PTRACE_SETREGS, t->tid, 0, &regs) < 0 ||
	    ptrace(PTRACE_SYSCALL, t->tid, 0, 0) < 0) {
		int r = -errno;

		t->inject = NULL;
		free(inj);
		return r;
	}
	return 0;
}

void inject_stop(struct tracer *tr, struct tracee *t, int status)
{
	struct inject *inj = t->inject;
	int sig = WSTOPSIG(status), event = (status >> 16) & 0xff;
	struct sc_info info;

	if (sig != (SIGTRAP | 0x80)) {
		/* Not now: a signal handler would run with our registers.
		 * It is raised again once the thread is itself. */
		if (event == 0 && inj->nheld < MAX_HELD_SIGNALS)
			inj->held[inj->nheld++] = sig;
		else if (event == PTRACE_EVENT_STOP && sig != SIGTRAP &&
			 inj->nheld < MAX_HELD_SIGNALS)
			inj->held[inj->nheld++] = SIGSTOP;
		ptrace(PTRACE_SYSCALL, t->tid, 0, 0);
		return;
	}
	if (arch_get_sc_info(t->tid, SC_OP_NONE, &info) < 0) {
		ptrace(PTRACE_SYSCALL, t->tid, 0, 0);
		return;
	}
	/*
	 * The kernel's op where it tells; with registers, our own parity:
	 * rax cannot tell here, as seccomp(2) or prctl may fail with ENOSYS.
	 */
	if (info.op == SC_OP_NONE)
		info.op = inj->entered ? SC_OP_EXIT : SC_OP_ENTRY;
	if (info.op == SC_OP_ENTRY) {
		/* Our call entering after the rewind: let it run. */
		inj->entered = true;
		ptrace(PTRACE_SYSCALL, t->tid, 0, 0);
		return;
	}
	advance(tr, t, (long)info.ret);
}

#else

int inject_begin(struct tracer *tr, struct tracee *t)
{
	return -ENOTSUP;
}

void inject_stop(struct tracer *tr, struct tracee *t, int status)
{
}

#endif
