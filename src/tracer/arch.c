/* SPDX-License-Identifier: Apache-2.0 */
/* Syscall information from a ptrace stop, for x86_64 (with ia32) and aarch64. */
#include "config.h"

#include <elf.h>
#include <errno.h>
#include <linux/audit.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>

#include "arch.h"
#include "log.h"

static int have_info = -1; /* -1 unknown, 0 no, 1 yes */

void arch_force_registers(void)
{
	have_info = 0;
}

bool arch_probe_syscall_info(pid_t tid)
{
	struct __ptrace_syscall_info info;

	if (have_info < 0) {
		long r = ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof(info), &info);

		/*
		 * Only EIO (an unknown request, before 5.3) and EINVAL mean
		 * "not there". ESRCH is a tracee that died (or is not
		 * stopped) under us: ask again at the next stop, or a 5.3+
		 * kernel would read registers for good.
		 */
		if (r > 0)
			have_info = 1;
		else if (r < 0 && (errno == EIO || errno == EINVAL))
			have_info = 0;
		if (have_info >= 0)
			log_info("PTRACE_GET_SYSCALL_INFO: %s",
				 have_info ? "available" : "not available, reading registers");
	}
	return have_info == 1;
}

static bool arch_is_compat(uint32_t arch)
{
#if defined(__x86_64__)
	return arch == AUDIT_ARCH_I386;
#elif defined(__aarch64__)
	return arch == AUDIT_ARCH_ARM;
#else
	(void)arch;
	return false;
#endif
}

static int sc_info_from_kernel(pid_t tid, struct sc_info *ret)
{
	struct __ptrace_syscall_info info;
	struct sc_info s = { 0 };
	long r;

	memset(&info, 0, sizeof(info));
	r = ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof(info), &info);
	if (r < 0)
		return -errno;
	s.compat = arch_is_compat(info.arch);
	/* The kernel's arch follows how the call entered (int 0x80 included). */
	s.abi_sure = true;
	switch (info.op) {
	case PTRACE_SYSCALL_INFO_ENTRY:
		s.op = SC_OP_ENTRY;
		s.nr = (int)info.entry.nr;
		memcpy(s.args, info.entry.args, sizeof(s.args));
		break;
	case PTRACE_SYSCALL_INFO_SECCOMP:
		s.op = SC_OP_SECCOMP;
		s.nr = (int)info.seccomp.nr;
		memcpy(s.args, info.seccomp.args, sizeof(s.args));
		s.ret_data = info.seccomp.ret_data;
		break;
	case PTRACE_SYSCALL_INFO_EXIT:
		s.op = SC_OP_EXIT;
		s.ret = info.exit.rval;
		break;
	default:
		s.op = SC_OP_NONE;
		break;
	}
	if (s.compat) {
		for (int i = 0; i < 6; i++)
			s.args[i] &= 0xffffffffu;
	}
	*ret = s;
	return 0;
}

#if defined(__x86_64__)
/* The ia32 view of the general registers that PTRACE_GETREGSET returns. */
struct regs32 {
	uint32_t ebx, ecx, edx, esi, edi, ebp, eax;
	uint32_t xds, xes, xfs, xgs, orig_eax, eip, xcs, eflags, esp, xss;
};

static int sc_info_from_regs(pid_t tid, enum sc_op expect, struct sc_info *ret)
{
	union {
		struct user_regs_struct r64;
		struct regs32 r32;
	} regs;
	struct iovec iov = { &regs, sizeof(regs) };
	struct sc_info s = { 0 };

	if (ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &iov) < 0)
		return -errno;
	s.op = expect == SC_OP_SECCOMP ? SC_OP_SECCOMP : SC_OP_NONE;
	if (iov.iov_len == sizeof(struct regs32)) {
		const struct regs32 *r = &regs.r32;

		/* 32-bit code enters the kernel only through the i386 ABI. */
		s.compat = true;
		s.abi_sure = true;
		s.hint = (int32_t)r->eax == -ENOSYS ? SC_HINT_ENOSYS : SC_HINT_EXIT;
		s.nr = (int)r->orig_eax;
		s.args[0] = r->ebx;
		s.args[1] = r->ecx;
		s.args[2] = r->edx;
		s.args[3] = r->esi;
		s.args[4] = r->edi;
		s.args[5] = r->ebp;
		s.ret = (int32_t)r->eax;
	} else {
		const struct user_regs_struct *r = &regs.r64;

		s.nr = (int)r->orig_rax;
		s.args[0] = r->rdi;
		s.args[1] = r->rsi;
		s.args[2] = r->rdx;
		s.args[3] = r->r10;
		s.args[4] = r->r8;
		s.args[5] = r->r9;
		s.ret = (int64_t)r->rax;
		/*
		 * The regset follows the code segment, not how the call
		 * entered: an `int 0x80` from 64-bit code looks the same.
		 * Keep its i386 view; the filter's data may tell the ABI.
		 */
		s.compat_args[0] = (uint32_t)r->rbx;
		s.compat_args[1] = (uint32_t)r->rcx;
		s.compat_args[2] = (uint32_t)r->rdx;
		s.compat_args[3] = (uint32_t)r->rsi;
		s.compat_args[4] = (uint32_t)r->rdi;
		s.compat_args[5] = (uint32_t)r->rbp;
		s.has_compat_view = true;
		/* The kernel sets rax to -ENOSYS before the entry stop (as
		 * strace relies on); at an exit it holds the result. */
		s.hint = (int64_t)r->rax == -ENOSYS ? SC_HINT_ENOSYS : SC_HINT_EXIT;
	}
	if (expect == SC_OP_SECCOMP) {
		unsigned long msg = 0;

		if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg) < 0)
			return -errno;
		s.ret_data = (uint32_t)msg;
	}
	*ret = s;
	return 0;
}
int arch_set_arg0(pid_t tid, uint64_t value)
{
	union {
		struct user_regs_struct r64;
		struct regs32 r32;
	} regs;
	struct iovec iov = { &regs, sizeof(regs) };

	if (ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &iov) < 0)
		return -errno;
	if (iov.iov_len == sizeof(struct regs32))
		regs.r32.ebx = (uint32_t)value;
	else
		regs.r64.rdi = value;
	return ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, &iov) < 0 ? -errno : 0;
}

int arch_refuse_syscall(pid_t tid, int64_t ret)
{
	union {
		struct user_regs_struct r64;
		struct regs32 r32;
	} regs;
	struct iovec iov = { &regs, sizeof(regs) };

	if (ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &iov) < 0)
		return -errno;
	/* orig_rax is the number the kernel dispatches on; -1 is no call. */
	if (iov.iov_len == sizeof(struct regs32)) {
		regs.r32.orig_eax = (uint32_t)-1;
		regs.r32.eax = (uint32_t)ret;
	} else {
		regs.r64.orig_rax = (unsigned long long)-1;
		regs.r64.rax = (unsigned long long)ret;
	}
	return ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, &iov) < 0 ? -errno : 0;
}

int arch_set_ret(pid_t tid, int64_t ret)
{
	union {
		struct user_regs_struct r64;
		struct regs32 r32;
	} regs;
	struct iovec iov = { &regs, sizeof(regs) };

	if (ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &iov) < 0)
		return -errno;
	if (iov.iov_len == sizeof(struct regs32))
		regs.r32.eax = (uint32_t)ret;
	else
		regs.r64.rax = (unsigned long long)ret;
	return ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, &iov) < 0 ? -errno : 0;
}
#elif defined(__aarch64__)
#ifndef NT_ARM_SYSTEM_CALL
#define NT_ARM_SYSTEM_CALL 0x404
#endif
int arch_refuse_syscall(pid_t tid, int64_t ret)
{
	struct user_regs_struct regs;
	struct iovec iov = { &regs, sizeof(regs) };
	int nr = -1;
	struct iovec nr_iov = { &nr, sizeof(nr) };

	/* The number lives in its own regset; x0 takes the result. */
	if (ptrace(PTRACE_SETREGSET, tid, NT_ARM_SYSTEM_CALL, &nr_iov) < 0)
		return -errno;
	if (ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &iov) < 0)
		return -errno;
	regs.regs[0] = (uint64_t)ret;
	return ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, &iov) < 0 ? -errno : 0;
}

int arch_set_ret(pid_t tid, int64_t ret)
{
	struct user_regs_struct regs;
	struct iovec iov = { &regs, sizeof(regs) };

	if (ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &iov) < 0)
		return -errno;
	regs.regs[0] = (uint64_t)ret;
	return ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, &iov) < 0 ? -errno : 0;
}

int arch_set_arg0(pid_t tid, uint64_t value)
{
	struct user_regs_struct regs;
	struct iovec iov = { &regs, sizeof(regs) };

	if (ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &iov) < 0)
		return -errno;
	regs.regs[0] = value;
	return ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, &iov) < 0 ? -errno : 0;
}

static int sc_info_from_regs(pid_t tid, enum sc_op expect, struct sc_info *ret)
{
	struct user_regs_struct regs;
	struct iovec iov = { &regs, sizeof(regs) };
	struct sc_info s = { 0 };

	if (ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &iov) < 0)
		return -errno;
	/*
	 * x8 holds the number; x0 is overwritten by the result at exit, so
	 * nothing tells entry from exit: the tracee's state decides. AArch32
	 * tasks are not told apart (their regset is not read as such).
	 */
	s.op = expect == SC_OP_SECCOMP ? SC_OP_SECCOMP : SC_OP_NONE;
	s.abi_sure = true;
	s.nr = (int)regs.regs[8];
	for (int i = 0; i < 6; i++)
		s.args[i] = regs.regs[i];
	s.ret = (int64_t)regs.regs[0];
	if (expect == SC_OP_SECCOMP) {
		unsigned long msg = 0;

		if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg) < 0)
			return -errno;
		s.ret_data = (uint32_t)msg;
	}
	*ret = s;
	return 0;
}
#else
#error "sentrace supports x86_64 and aarch64"
#endif

int arch_get_sc_info(pid_t tid, enum sc_op expect, struct sc_info *ret)
{
	if (have_info < 0)
		arch_probe_syscall_info(tid);
	if (have_info == 1)
		return sc_info_from_kernel(tid, ret);
	return sc_info_from_regs(tid, expect, ret);
}
