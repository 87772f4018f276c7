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

#include "proctable.h"
#include "record.h"

/*
 * Applies one decoded event (its kind, pid, ret and wall-clock ts are the
 * record's). An exit is not applied here: the caller calls proc_table_exit()
 * once it has used the entry.
 */
void resolver_apply_event(struct proc_table *t, const struct event_record *ev);
/* Creates or updates the entry of one PROCESS snapshot (record_decode_snapshot). */
void resolver_apply_snapshot(struct proc_table *t, const struct event_record *snap);
/* Recomputes every children count (after a snapshot). */
void resolver_recount(struct proc_table *t);

#endif
