/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Installing the seccomp filter into a process that is already running
 * (attach mode, --attach-seccomp): at a syscall-entry stop one of its
 * threads is made to run mmap, prctl(PR_SET_NO_NEW_PRIVS) when it lacks
 * CAP_SYS_ADMIN, seccomp(SECCOMP_FILTER_FLAG_TSYNC) and munmap, then the
 * call it was making is run again as if nothing happened.
 *
 * A filter cannot be removed: a process that has it must stay traced for
 * the rest of its life (its monitored calls would fail with ENOSYS).
 */
#ifndef SENTRACE_INJECT_H
#define SENTRACE_INJECT_H

struct tracer;
struct tracee;

/* At a syscall-entry stop of t: starts the injection and resumes t.
 * Returns 0 when started, -errno when t is left as it was. */
int inject_begin(struct tracer *tr, struct tracee *t);

/* Every stop of t while an injection is under way. */
void inject_stop(struct tracer *tr, struct tracee *t, int status);

#endif
