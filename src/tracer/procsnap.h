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
#include "mem.h"

/*
 * Fills e with one snapshot map: pid, ppid, file, argv, argv_truncated,
 * envp, envp_truncated, uid, euid, gid, egid, cwd, tty, start_time (ns since
 * the epoch), start_ticks (clock ticks after boot), comm. Returns -ESRCH
 * when pid is gone.
 */
int procsnap_build(struct evbuf *e, pid_t pid);

/*
 * The image of pid as an exec event carries it, added to the open map e:
 * file, argv, argv_truncated, envp, envp_truncated, uid, euid, gid, egid,
 * cwd, tty. st is pid's /proc/PID/status, read by the caller.
 */
void procsnap_put_image(struct evbuf *e, pid_t pid, const struct proc_status *st);

/*
 * Start time of pid in clock ticks after boot (stat's field 22), 0 if
 * unknown. With the pid it names one process for the life of the system:
 * kill COMMANDs carry it, so that a reused pid is never signalled.
 */
uint64_t proc_start_ticks(pid_t pid);

/* Start time of pid in ns since the epoch, 0 if unknown. */
uint64_t proc_start_time_ns(pid_t pid);

/* The fields of /proc/PID/stat that the procfs scanner needs. */
struct proc_stat {
	pid_t pid, ppid;
	char state;                /* R, S, D, Z, … */
	unsigned flags;            /* PF_* of the task */
	uint64_t start_ticks;      /* clock ticks after boot */
};

/* Parses one /proc/PID/stat line (NUL-terminated); -EIO when malformed. */
int proc_stat_parse(const char *buf, struct proc_stat *ret);

/* Clock ticks after boot (stat's starttime) as ns since the epoch. */
uint64_t proc_ticks_to_ns(uint64_t ticks);

#endif
