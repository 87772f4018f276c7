/* SPDX-License-Identifier: Apache-2.0 */
/* Wrap mode: spawn CMD traced, follow its tree, stream events, exit with its status. */
#ifndef SENTRACE_TRACE_H
#define SENTRACE_TRACE_H

#include "tracer.h"

/* Runs the whole session; returns the tracer's exit status. */
int trace_run(const struct tracer_opts *opts);

#endif
