/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guardian (--attach-seccomp): a small process forked at start that
 * does nothing while the tracer lives, and takes over the processes that
 * carry the filter when the tracer dies, so that their monitored calls go
 * through instead of failing with ENOSYS (a SECCOMP_RET_TRACE with no
 * tracer). It is not a tracee and not dumpable.
 *
 * The tracer keeps the set of traced process ids in a shared mapping (a
 * process is added when it is seized or forked, removed when it exits or
 * is let go); a pipe whose write end only the tracer holds tells the
 * guardian when the tracer is gone: a byte before EOF means a normal end
 * with nothing left to guard, EOF alone means the tracer died.
 */
#ifndef SENTRACE_GUARDIAN_H
#define SENTRACE_GUARDIAN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct guardian_set;

struct guardian {
	pid_t pid;                 /* the guardian; 0 when there is none */
	int life_fd;               /* write end of the life pipe */
	struct guardian_set *set;  /* shared with the guardian; NULL: none */
	size_t count;              /* entries in set */
};

/*
 * Forks the guardian (before anything is seized). pids are the --pid
 * values: the guardian also looks at them and their descendants, in case
 * the set missed one. Returns 0 or -errno (then g stays empty).
 */
int guardian_start(struct guardian *g, const pid_t *pids, size_t n_pids);

/* A traced process (thread group) appeared or is gone. No-ops without
 * a guardian. */
void guardian_add(struct guardian *g, pid_t tgid);
void guardian_del(struct guardian *g, pid_t tgid);

/* The set alone, with no guardian process (the unit tests'): 0 or -errno.
 * guardian_end() frees it. */
int guardian_set_init(struct guardian *g);
/* The pids in the set, read as the guardian reads it (every slot), up to
 * cap of them; returns how many there are. */
size_t guardian_set_list(const struct guardian *g, pid_t *out, size_t cap);

/* The tracer's waitpid() returned pid: true (and logged) when it is the
 * guardian's exit, which is no tracee's. */
bool guardian_reaped(struct guardian *g, pid_t pid, int status);

/* The end of the session. nothing_left: no traced process remains, so the
 * guardian just exits; otherwise it takes over what is left. */
void guardian_end(struct guardian *g, bool nothing_left);

#endif
