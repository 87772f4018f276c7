/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable byte buffer for building output lines. An allocation failure
 * is sticky: later appends are dropped and strbuf_failed() says so, so that
 * callers check once per line instead of after every append.
 */
#ifndef SENTRACE_PROBE_STRBUF_H
#define SENTRACE_PROBE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *data;       /* NUL-terminated when len > 0 */
	size_t len;
	size_t cap;
	bool failed;      /* an allocation failed; the content is incomplete */
};

void strbuf_init(struct strbuf *sb);
void strbuf_fini(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
void strbuf_add(struct strbuf *sb, const void *p, size_t n);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_putc(struct strbuf *sb, char c);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline bool strbuf_failed(const struct strbuf *sb)
{
	return sb->failed;
}

#endif
