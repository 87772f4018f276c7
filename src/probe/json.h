/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A streaming JSON writer over a strbuf: it places commas and colons itself,
 * escapes strings (control characters and bytes that are not valid UTF-8
 * become \u00XX), and converts any msgpack object generically. One line of
 * output is one writer's buffer.
 */
#ifndef SENTRACE_PROBE_JSON_H
#define SENTRACE_PROBE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "strbuf.h"

/* Deeper than any wire payload can be (32) plus our own wrappers. */
#define JSON_MAX_DEPTH 64

struct json {
	struct strbuf sb;
	unsigned depth;
	uint64_t has_items;   /* bit d: level d already holds an item */
	bool after_key;       /* the next value completes a key */
};

void json_init(struct json *j);
void json_fini(struct json *j);
void json_reset(struct json *j);
/* The text written so far and whether every allocation succeeded. */
static inline const char *json_data(const struct json *j)
{
	return j->sb.data ? j->sb.data : "";
}
static inline size_t json_len(const struct json *j)
{
	return j->sb.len;
}
static inline bool json_failed(const struct json *j)
{
	return j->sb.failed;
}

void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_keyn(struct json *j, const char *key, size_t len);

void json_null(struct json *j);
void json_bool(struct json *j, bool v);
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
void json_double(struct json *j, double v);   /* NaN and infinities: null */
void json_str(struct json *j, const char *s);
void json_strn(struct json *j, const char *s, size_t len);
void json_base64(struct json *j, const void *data, size_t len);
/* A value rendered earlier by another writer, inserted verbatim. */
void json_raw(struct json *j, const char *text, size_t len);
/*
 * Any msgpack object: nil, bool, integers, floats, str, arrays and maps map
 * to their JSON peers; bin becomes a base64 string; ext becomes
 * {"ext":TYPE,"data":BASE64}. Map keys that are not strings are written as
 * their JSON text inside a string.
 */
void json_msgpack(struct json *j, const msgpack_object *o);
/* A msgpack map key, with the rule above for keys that are not strings. */
void json_msgpack_key(struct json *j, const msgpack_object *k);

static inline void json_kv_str(struct json *j, const char *k, const char *v)
{
	json_key(j, k);
	json_str(j, v);
}

static inline void json_kv_strn(struct json *j, const char *k, const char *v,
				size_t len)
{
	json_key(j, k);
	json_strn(j, v, len);
}

static inline void json_kv_int(struct json *j, const char *k, int64_t v)
{
	json_key(j, k);
	json_int(j, v);
}

static inline void json_kv_uint(struct json *j, const char *k, uint64_t v)
{
	json_key(j, k);
	json_uint(j, v);
}

static inline void json_kv_bool(struct json *j, const char *k, bool v)
{
	json_key(j, k);
	json_bool(j, v);
}

/* Appends the escaped body of a JSON string (no quotes) to sb. */
void json_escape(struct strbuf *sb, const char *s, size_t len);

/*
 * Length of the valid UTF-8 sequence at s (1-4), or 0 when the byte at s
 * does not start one: overlong forms, surrogates and code points past
 * U+10FFFF are invalid.
 */
size_t utf8_seq_len(const unsigned char *s, size_t left);

#endif
