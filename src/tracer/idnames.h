/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names of user and group ids as a tracee sees them, without the tracer's
 * loop ever touching the tracee's files. The files are read by a worker
 * thread (mem.c's proc_id_name_read: regular files only, 1 MiB at most);
 * the loop only reads a cache keyed by the process's root as procfs tells
 * it (its mount namespace and the path of its root, neither of which asks
 * the tracee's file system anything), and waits for a first lookup at most
 * IDNAMES_WAIT_MS. A lookup that takes longer (a FUSE or NFS file the
 * tracee serves) leaves the event without the name; the name comes with
 * later events once the worker has it. Answers are kept IDNAMES_TTL_MS and
 * then used once more while the worker refreshes them.
 *
 * One cache and one worker per process: like libuv's thread pool they are
 * a process-wide resource, and the readers that need them (exec
 * enrichment, procfs snapshots) take no tracer.
 */
#ifndef SENTRACE_IDNAMES_H
#define SENTRACE_IDNAMES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IDNAMES_WAIT_MS 50
#define IDNAMES_TTL_MS  2000

/*
 * The name of id in file ("passwd" or "group") below pid's root, into buf.
 * Returns its length; -ENOENT when there is none (or the file is not a
 * regular file), -EAGAIN when the answer is not known yet.
 */
int proc_id_name(pid_t pid, const char *file, int64_t id, char *buf, size_t cap);

/* Counters for STATS and tests. */
struct idnames_stats {
	uint64_t lookups, hits, timeouts, dropped;
};
void idnames_stats(struct idnames_stats *ret);

#endif
