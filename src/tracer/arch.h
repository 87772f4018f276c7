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

struct sc_info {
	enum sc_op op;
	bool compat;          /* 32-bit ABI on a 64-bit kernel */
	int nr;
	uint64_t args[6];     /* zero-extended; compat args are 32-bit values */
	int64_t ret;          /* SC_OP_EXIT */
	uint32_t ret_data;    /* SC_OP_SECCOMP: the SCMP_ACT_TRACE data */
};

/* Probed once: does this kernel answer PTRACE_GET_SYSCALL_INFO? */
bool arch_probe_syscall_info(pid_t stopped_tid);
void arch_force_registers(void);

/*
 * Reads the system call of a stop. `expect` says which stop this is when
 * registers are the only source (they cannot tell entry from exit).
 */
int arch_get_sc_info(pid_t tid, enum sc_op expect, struct sc_info *ret);

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
