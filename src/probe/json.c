/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming JSON writer and the generic msgpack to JSON conversion. */
#include "config.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

void json_init(struct json *j)
{
	memset(j, 0, sizeof(*j));
	strbuf_init(&j->sb);
}

void json_fini(struct json *j)
{
	strbuf_fini(&j->sb);
	j->depth = 0;
	j->has_items = 0;
	j->after_key = false;
}

void json_reset(struct json *j)
{
	strbuf_reset(&j->sb);
	j->depth = 0;
	j->has_items = 0;
	j->after_key = false;
}

/* Called before every value and key: the separator the position needs. */
static void json_sep(struct json *j)
{
	uint64_t bit = 1ull << j->depth;

	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->has_items & bit)
		strbuf_putc(&j->sb, ',');
	j->has_items |= bit;
}

static void json_open(struct json *j, char c)
{
	json_sep(j);
	if (j->depth + 1 >= JSON_MAX_DEPTH) {
		/* Callers bound their nesting; never emit broken text. */
		assert(!"JSON nesting too deep");
		j->sb.failed = true;
		return;
	}
	strbuf_putc(&j->sb, c);
	j->depth++;
	j->has_items &= ~(1ull << j->depth);
}

static void json_close(struct json *j, char c)
{
	assert(j->depth > 0);
	if (j->depth == 0)
		return;
	j->has_items &= ~(1ull << j->depth);
	j->depth--;
	strbuf_putc(&j->sb, c);
}

void json_object_begin(struct json *j)
{
	json_open(j, '{');
}

void json_object_end(struct json *j)
{
	json_close(j, '}');
}

void json_array_begin(struct json *j)
{
	json_open(j, '[');
}

void json_array_end(struct json *j)
{
	json_close(j, ']');
}

void json_keyn(struct json *j, const char *key, size_t len)
{
	json_sep(j);
	strbuf_putc(&j->sb, '"');
	json_escape(&j->sb, key, len);
	strbuf_add(&j->sb, "\":", 2);
	j->after_key = true;
}

void json_key(struct json *j, const char *key)
{
	json_keyn(j, key, strlen(key));
}

void json_null(struct json *j)
{
	json_sep(j);
	strbuf_add(&j->sb, "null", 4);
}

void json_bool(struct json *j, bool v)
{
	json_sep(j);
	strbuf_puts(&j->sb, v ? "true" : "false");
}

void json_int(struct json *j, int64_t v)
{
	json_sep(j);
	strbuf_printf(&j->sb, "%" PRId64, v);
}

void json_uint(struct json *j, uint64_t v)
{
	json_sep(j);
	strbuf_printf(&j->sb, "%" PRIu64, v);
}

void json_double(struct json *j, double v)
{
	json_sep(j);
	if (!isfinite(v)) {
		strbuf_add(&j->sb, "null", 4);
		return;
	}
	/* 17 significant digits round-trip any double. */
	strbuf_printf(&j->sb, "%.17g", v);
}

size_t utf8_seq_len(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0; /* continuation byte, 0xc0/0xc1 overlongs, 0xf5+ */
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void json_escape(struct strbuf *sb, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	/* Copies runs of plain bytes at once; escapes the rest one by one. */
	while (i < len) {
		unsigned char c = p[i];
		char esc[6];
		size_t n;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++;
			run++;
			continue;
		}
		if (c >= 0x80) {
			n = utf8_seq_len(p + i, len - i);
			if (n > 0) {
				i += n;
				run += n;
				continue;
			}
		}
		strbuf_add(sb, p + i - run, run);
		run = 0;
		switch (c) {
		case '"':  strbuf_add(sb, "\\\"", 2); break;
		case '\\': strbuf_add(sb, "\\\\", 2); break;
		case '\n': strbuf_add(sb, "\\n", 2); break;
		case '\r': strbuf_add(sb, "\\r", 2); break;
		case '\t': strbuf_add(sb, "\\t", 2); break;
		case '\b': strbuf_add(sb, "\\b", 2); break;
		case '\f': strbuf_add(sb, "\\f", 2); break;
		default:
			/*
			 * Control characters, DEL and every byte outside a
			 * valid UTF-8 sequence: the code point of the same
			 * value, so that the output stays valid JSON.
			 */
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			strbuf_add(sb, esc, 6);
			break;
		}
		i++;
	}
	strbuf_add(sb, p + i - run, run);
}

void json_strn(struct json *j, const char *s, size_t len)
{
	json_sep(j);
	strbuf_putc(&j->sb, '"');
	json_escape(&j->sb, s, len);
	strbuf_putc(&j->sb, '"');
}

void json_str(struct json *j, const char *s)
{
	if (!s) {
		json_null(j);
		return;
	}
	json_strn(j, s, strlen(s));
}

void json_base64(struct json *j, const void *data, size_t len)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char out[4];
	size_t i;

	json_sep(j);
	strbuf_putc(&j->sb, '"');
	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[0] = tbl[v >> 18];
		out[1] = tbl[(v >> 12) & 63];
		out[2] = tbl[(v >> 6) & 63];
		out[3] = tbl[v & 63];
		strbuf_add(&j->sb, out, 4);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		out[0] = tbl[v >> 18];
		out[1] = tbl[(v >> 12) & 63];
		out[2] = out[3] = '=';
		strbuf_add(&j->sb, out, 4);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		out[0] = tbl[v >> 18];
		out[1] = tbl[(v >> 12) & 63];
		out[2] = tbl[(v >> 6) & 63];
		out[3] = '=';
		strbuf_add(&j->sb, out, 4);
	}
	strbuf_putc(&j->sb, '"');
}

void json_raw(struct json *j, const char *text, size_t len)
{
	json_sep(j);
	strbuf_add(&j->sb, text, len);
}

/* A map key that is not a string: its JSON text, as a string. */
void json_msgpack_key(struct json *j, const msgpack_object *k)
{
	struct json tmp;

	if (k->type == MSGPACK_OBJECT_STR) {
		json_keyn(j, k->via.str.ptr, k->via.str.size);
		return;
	}
	json_init(&tmp);
	json_msgpack(&tmp, k);
	if (json_failed(&tmp))
		j->sb.failed = true;
	json_keyn(j, json_data(&tmp), json_len(&tmp));
	json_fini(&tmp);
}

void json_msgpack(struct json *j, const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		json_null(j);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		json_bool(j, o->via.boolean);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		json_uint(j, o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		json_int(j, o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		json_double(j, o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		json_strn(j, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		json_base64(j, o->via.bin.ptr, o->via.bin.size);
		break;
	case MSGPACK_OBJECT_EXT:
		json_object_begin(j);
		json_kv_int(j, "ext", o->via.ext.type);
		json_key(j, "data");
		json_base64(j, o->via.ext.ptr, o->via.ext.size);
		json_object_end(j);
		break;
	case MSGPACK_OBJECT_ARRAY:
		json_array_begin(j);
		for (uint32_t i = 0; i < o->via.array.size; i++)
			json_msgpack(j, &o->via.array.ptr[i]);
		json_array_end(j);
		break;
	case MSGPACK_OBJECT_MAP:
		json_object_begin(j);
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			json_msgpack_key(j, &o->via.map.ptr[i].key);
			json_msgpack(j, &o->via.map.ptr[i].val);
		}
		json_object_end(j);
		break;
	default:
		json_null(j);
		break;
	}
}
