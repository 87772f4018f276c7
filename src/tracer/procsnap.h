/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process snapshots from /proc: what the probe needs to know about a process
 * it did not see start (attach mode, reconnects, the procfs scanner).
 */
#ifndef SENTRACE_PROCSNAP_H
#define SENTRACE_PROCSNAP_H

#include <stdint.h>
#include <sys/types.h>

#include "event.h"

/*
 * Fills e with one snapshot map: pid, ppid, file, argv, argv_truncated,
 * envp, envp_truncated, uid, euid, gid, egid, cwd, tty, start_time (ns since
 * the epoch), comm. Returns -ESRCH when pid is gone.
 */
int procsnap_build(struct evbuf *e, pid_t pid);

/* Start time of pid in ns since the epoch, 0 if unknown. */
uint64_t proc_start_time_ns(pid_t pid);

#endif
