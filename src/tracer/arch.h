/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Everything that differs between architectures and ABIs, in one place:
 * reading a stop's system call (PTRACE_GET_SYSCALL_INFO where the kernel has
 * it, registers otherwise), pointer width of the 32-bit compat ABI, and the
 * audit arch values the seccomp filter sees.
 */
#ifndef SENTRACE_ARCH_H
#define SENTRACE_ARCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum sc_op {
	SC_OP_NONE = 0,
	SC_OP_ENTRY,
	SC_OP_EXIT,
	SC_OP_SECCOMP,
};

/*
 * What the registers say about a syscall stop when the kernel does not
 * tell entry from exit (before 5.3, no PTRACE_GET_SYSCALL_INFO).
 */
enum sc_hint {
	SC_HINT_NONE = 0,     /* nothing: the tracee's state must decide */
	SC_HINT_EXIT,         /* x86_64: rax != -ENOSYS, surely an exit */
	SC_HINT_ENOSYS,       /* x86_64: rax == -ENOSYS, an entry (or a call
			       * that failed with ENOSYS) */
};

struct sc_info {
	enum sc_op op;        /* SC_OP_NONE at a syscall stop read from the
			       * registers: see hint */
	enum sc_hint hint;
	bool compat;          /* 32-bit ABI on a 64-bit kernel */
	bool abi_sure;        /* compat is the ABI the call entered with: the
			       * kernel said so, or the task runs 32-bit code */
	bool has_compat_view; /* compat_args holds the int 0x80 view */
	int nr;
	uint64_t args[6];     /* zero-extended; compat args are 32-bit values */
	uint64_t compat_args[6]; /* x86_64 registers of a 64-bit task read as
			       * the i386 ABI (ebx, ecx, …): an `int 0x80`
			       * from 64-bit code, which the regset cannot
			       * tell from `syscall` */
	int64_t ret;          /* SC_OP_EXIT */
	uint32_t ret_data;    /* SC_OP_SECCOMP: the SECCOMP_RET_TRACE data */
};

/* Probed once: does this kernel answer PTRACE_GET_SYSCALL_INFO? */
bool arch_probe_syscall_info(pid_t stopped_tid);
void arch_force_registers(void);

/*
 * Reads the system call of a stop. `expect` is SC_OP_SECCOMP at a seccomp
 * stop; at a syscall stop, the kernel's op is used where it tells, and
 * registers leave op at SC_OP_NONE with a hint (see stopseq.h).
 */
int arch_get_sc_info(pid_t tid, enum sc_op expect, struct sc_info *ret);

/* Takes the i386 view of the registers (an int 0x80 from 64-bit code). */
static inline void arch_use_compat_view(struct sc_info *s)
{
	for (int i = 0; i < 6; i++)
		s->args[i] = s->compat_args[i];
	s->compat = true;
	s->abi_sure = true;
	s->has_compat_view = false;
}

/* Rewrites the first argument of the call tid is stopped in. */
int arch_set_arg0(pid_t tid, uint64_t value);

/*
 * Refuses the call tid is stopped in at its entry (or seccomp) stop: the
 * number becomes -1, so the kernel skips it, and the return register holds
 * ret. The exit stop must set ret again (arch_set_ret): at a plain entry
 * stop some kernels write -ENOSYS there when they skip the call.
 */
int arch_refuse_syscall(pid_t tid, int64_t ret);
/* Sets the return value of the call tid is stopped in at its exit stop. */
int arch_set_ret(pid_t tid, int64_t ret);

/* Pointer size of the tracee's ABI, for argv/envp arrays. */
static inline unsigned arch_ptr_size(bool compat)
{
	return compat ? 4 : (unsigned)sizeof(void *);
}

#endif
