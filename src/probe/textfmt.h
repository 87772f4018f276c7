/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The text view: one readable line per event for terminals. Everything that
 * came from a tracee is escaped, so that file names cannot move the cursor
 * or fake lines.
 */
#ifndef SENTRACE_PROBE_TEXTFMT_H
#define SENTRACE_PROBE_TEXTFMT_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "record.h"
#include "strbuf.h"

/* "ENOENT" for 2; "E<n>" when the number has no name. */
const char *errno_name(int err, char buf[16]);
/* "2026-11-23T14:00:00.123456789Z" (UTC) into buf (at least 32 bytes). */
const char *time_iso8601(uint64_t ns, char *buf, size_t len);

/* "14:00:00.123", local time. */
void text_time(struct strbuf *sb, uint64_t ns);
/*
 * A string as a shell-like word: bytes outside printable ASCII become \xNN,
 * and the word is double-quoted when empty or when it holds spaces, quotes
 * or backslashes.
 */
void text_word(struct strbuf *sb, const char *s, size_t len);
/* "O_WRONLY|O_CREAT|O_TRUNC"; unknown bits are appended in hex. */
void text_open_flags(struct strbuf *sb, uint64_t flags);
/* A msgpack value: scalars plainly, arrays as [a,b], maps as {k=v,…}. */
void text_msgpack(struct strbuf *sb, const msgpack_object *o);
/*
 * The part of an event line after "TIME NAME[PID] ": the kind, its details
 * and " = RET", from the decoded record (kinds without a view of their own
 * list every key of the raw map).
 */
void text_event(struct strbuf *sb, const struct event_record *ev);

#endif
