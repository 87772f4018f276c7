/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attach mode: seizing running processes (every thread, and by default
 * every descendant), and letting them go again, unharmed, on request.
 */
#ifndef SENTRACE_ATTACH_H
#define SENTRACE_ATTACH_H

#include <stdbool.h>
#include <stdbool.h>
#include <sys/types.h>

struct tracer;

/*
 * Seizes the listed processes (and their descendants unless only_listed),
 * each thread interrupted so that it resumes in syscall-stop mode. Reports
 * each pid that cannot be traced. Returns the number of processes seized.
 */
int attach_all(struct tracer *tr);

/* Starts detaching every tracee: each is interrupted and let go at its stop. */
void attach_detach_all(struct tracer *tr);

/* False for processes that have the injected filter. */
struct tracee;
bool attach_can_detach(const struct tracee *t);

/* At a stop while detaching: let tid go, passing on a signal it was to get. */
void attach_detach_stopped(struct tracer *tr, pid_t tid, int status);

#endif
