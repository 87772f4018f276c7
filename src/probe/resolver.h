/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process resolver: keeps a tracer's process table in step with its
 * events (exec, fork, setuid/setgid, capset, chdir, prctl) and PROCESS
 * snapshots. Knows the wire keys of docs/protocol.md; knows nothing of
 * sessions or output.
 */
#ifndef SENTRACE_PROBE_RESOLVER_H
#define SENTRACE_PROBE_RESOLVER_H

#include <stdint.h>

#include <msgpack.h>

#include "proctable.h"

/*
 * Applies one event of kind type (enum rules_event_type, or -1) by process
 * pid with return value ret at wall-clock ts. An exit is not applied here:
 * the caller calls proc_table_exit() once it has used the entry.
 */
void resolver_apply_event(struct proc_table *t, const msgpack_object *ev,
			  int type, int64_t pid, int64_t ret, uint64_t ts);
/* Creates or updates the entry of one PROCESS snapshot map. */
void resolver_apply_snapshot(struct proc_table *t, const msgpack_object *snap);
/* Recomputes every children count (after a snapshot). */
void resolver_recount(struct proc_table *t);

#endif
