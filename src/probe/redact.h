/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Environment values out of a frame, where it enters the probe: before the
 * resolver, the event log, the rules and the alerts see it, every envp
 * string of an EVENTS or PROCESS frame whose name is not on the keep list
 * is cut to its name (envkeep.h). The tracer does the same before sending;
 * this holds for tracers that did not (older ones, or a --keep-env that
 * keeps more than this probe's env_keep).
 */
#ifndef SENTRACE_PROBE_REDACT_H
#define SENTRACE_PROBE_REDACT_H

#include <stdint.h>

#include <msgpack.h>

#include "envkeep.h"

/*
 * Shortens the strings in place (their sizes; the objects belong to the
 * frame's unpacked zone, the bytes to the caller's buffer, left as they
 * are). k NULL keeps no value. Returns the number of values cut.
 */
uint64_t redact_frame_env(const struct env_keep *k, const msgpack_object *root,
			  int type);

#endif
