/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which stop of a system call this is, as a pure function of the tracee's
 * flags and what the kernel or the registers say, so that stop sequences
 * this kernel cannot produce (the seccomp stop before the entry stop,
 * before 4.8) are replayed in tests/unit/test-stopseq.c. Also the probe of
 * that order at start.
 */
#ifndef SENTRACE_STOPSEQ_H
#define SENTRACE_STOPSEQ_H

#include <stdbool.h>
#include <stdint.h>

#include "arch.h"

enum stop_kind {
	STOP_KIND_SECCOMP,      /* PTRACE_EVENT_SECCOMP */
	STOP_KIND_SYSCALL,      /* SIGTRAP | 0x80 */
};

enum stop_action {
	STOP_RESUME,            /* nothing to decode or finish */
	STOP_ENTRY,             /* a call enters: decode it */
	STOP_SKIP_ENTRY,        /* the entry stop after our seccomp stop
				 * (kernels < 4.8): decoded already */
	STOP_EXIT,              /* a call returns: finish its event */
};

/*
 * What to do at a stop of kind for a tracee with flags (enum tracee_flag).
 * reported is the kernel's op (PTRACE_GET_SYSCALL_INFO), SC_OP_NONE when
 * only registers were read; hint is what the registers say then.
 */
enum stop_action stopseq_classify(uint32_t flags, enum stop_kind kind,
				  enum sc_op reported, enum sc_hint hint);

/*
 * The flags after act. pending: the decoder left an event that waits for
 * the exit stop (STOP_ENTRY only). seccomp_before_entry: this kernel stops
 * for seccomp before the syscall-entry stop.
 */
uint32_t stopseq_flags_after(uint32_t flags, enum stop_action act, bool pending,
			     bool seccomp_before_entry);

/*
 * Finds out at start whether the seccomp stop comes before the entry stop
 * (3.5 to 4.7) or after it (4.8+): a child with a one-rule filter calls
 * getppid() once, and the first of its two stops tells. 1: before, 0:
 * after, -ENOSYS when the kernel has no seccomp filters, -errno when it
 * cannot tell.
 */
int stopseq_probe_order(void);

/*
 * Does this kernel have seccomp filters (3.5+)? Asked without a child:
 * a NULL program is EFAULT (or EACCES) where filters exist, EINVAL on 3.4.
 */
bool stopseq_kernel_has_filters(void);

#endif
