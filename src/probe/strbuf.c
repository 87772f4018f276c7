/* SPDX-License-Identifier: Apache-2.0 */
/* Growable byte buffer used by the JSON writer and the text view. */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

void strbuf_init(struct strbuf *sb)
{
	memset(sb, 0, sizeof(*sb));
}

void strbuf_fini(struct strbuf *sb)
{
	free(sb->data);
	memset(sb, 0, sizeof(*sb));
}

void strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	sb->failed = false;
	if (sb->data)
		sb->data[0] = '\0';
}

/* Room for n more bytes plus the terminating NUL. */
static bool strbuf_grow(struct strbuf *sb, size_t n)
{
	size_t want, ncap;
	char *nd;

	if (sb->failed)
		return false;
	if (n >= SIZE_MAX / 2 - sb->len) {
		sb->failed = true;
		return false;
	}
	want = sb->len + n + 1;
	if (want <= sb->cap)
		return true;
	ncap = sb->cap ? sb->cap : 256;
	while (ncap < want)
		ncap *= 2;
	nd = realloc(sb->data, ncap);
	if (!nd) {
		sb->failed = true;
		return false;
	}
	sb->data = nd;
	sb->cap = ncap;
	return true;
}

void strbuf_add(struct strbuf *sb, const void *p, size_t n)
{
	if (!strbuf_grow(sb, n))
		return;
	if (n)
		memcpy(sb->data + sb->len, p, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void strbuf_puts(struct strbuf *sb, const char *s)
{
	strbuf_add(sb, s, strlen(s));
}

void strbuf_putc(struct strbuf *sb, char c)
{
	strbuf_add(sb, &c, 1);
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !strbuf_grow(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}
