/* SPDX-License-Identifier: Apache-2.0 */
/* Text view of events, errno and flag names, time stamps. */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sentrace/wire.h"
#include "util.h"
#include "textfmt.h"

/* The kernel's O_LARGEFILE: glibc defines it as 0 on 64-bit targets. */
#if defined(__x86_64__) || defined(__i386__)
#define KERNEL_O_LARGEFILE 0100000
#elif defined(__aarch64__) || defined(__arm__)
#define KERNEL_O_LARGEFILE 0400000
#else
#define KERNEL_O_LARGEFILE 0
#endif

const char *errno_name(int err, char buf[16])
{
	/* Kernel-internal restart codes, which glibc does not name. */
	static const char *const restart[] = {
		"ERESTARTSYS", "ERESTARTNOINTR", "ERESTARTNOHAND",
		"ENOIOCTLCMD", "ERESTART_RESTARTBLOCK",
	};
	const char *n = NULL;

	if (err >= 512 && err < 512 + (int)ARRAY_SIZE(restart))
		return restart[err - 512];
	if (err > 0)
		n = strerrorname_np(err);
	if (n)
		return n;
	snprintf(buf, 16, "E%d", err);
	return buf;
}

const char *time_iso8601(uint64_t ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / NSEC_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&sec, &tm)) {
		snprintf(buf, len, "%" PRIu64, ns);
		return buf;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (unsigned)(ns % NSEC_PER_SEC));
	return buf;
}

void text_time(struct strbuf *sb, uint64_t ns)
{
	time_t sec = (time_t)(ns / NSEC_PER_SEC);
	struct tm tm;

	if (!localtime_r(&sec, &tm)) {
		strbuf_printf(sb, "%" PRIu64, ns);
		return;
	}
	strbuf_printf(sb, "%02d:%02d:%02d.%03u", tm.tm_hour, tm.tm_min,
		      tm.tm_sec, (unsigned)(ns % NSEC_PER_SEC / NSEC_PER_MSEC));
}

void text_word(struct strbuf *sb, const char *s, size_t len)
{
	bool quote = len == 0;

	for (size_t i = 0; i < len && !quote; i++)
		quote = s[i] == ' ' || s[i] == '"' || s[i] == '\\' ||
			s[i] == '\'';
	if (quote)
		strbuf_putc(sb, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			strbuf_printf(sb, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			strbuf_printf(sb, "\\x%02x", c);
		else
			strbuf_putc(sb, (char)c);
	}
	if (quote)
		strbuf_putc(sb, '"');
}

void text_open_flags(struct strbuf *sb, uint64_t flags)
{
	/* Composite flags come before their parts. */
	static const struct {
		uint64_t mask;
		const char *name;
	} names[] = {
		{ O_TMPFILE, "O_TMPFILE" }, { O_SYNC, "O_SYNC" },
		{ O_CREAT, "O_CREAT" }, { O_EXCL, "O_EXCL" },
		{ O_NOCTTY, "O_NOCTTY" }, { O_TRUNC, "O_TRUNC" },
		{ O_APPEND, "O_APPEND" }, { O_NONBLOCK, "O_NONBLOCK" },
		{ O_DSYNC, "O_DSYNC" }, { O_ASYNC, "O_ASYNC" },
		{ O_DIRECT, "O_DIRECT" }, { KERNEL_O_LARGEFILE, "O_LARGEFILE" },
		{ O_DIRECTORY, "O_DIRECTORY" }, { O_NOFOLLOW, "O_NOFOLLOW" },
		{ O_NOATIME, "O_NOATIME" }, { O_CLOEXEC, "O_CLOEXEC" },
		{ O_PATH, "O_PATH" },
	};
	static const char *const acc[] = {
		"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE",
	};

	strbuf_puts(sb, acc[flags & O_ACCMODE]);
	flags &= ~(uint64_t)O_ACCMODE;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (names[i].mask && (flags & names[i].mask) == names[i].mask) {
			strbuf_printf(sb, "|%s", names[i].name);
			flags &= ~names[i].mask;
		}
	}
	if (flags)
		strbuf_printf(sb, "|%#" PRIx64, flags);
}

void text_msgpack(struct strbuf *sb, const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		strbuf_puts(sb, "nil");
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		strbuf_puts(sb, o->via.boolean ? "true" : "false");
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		strbuf_printf(sb, "%" PRIu64, o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		strbuf_printf(sb, "%" PRId64, o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		strbuf_printf(sb, "%g", o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		text_word(sb, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		strbuf_printf(sb, "<%" PRIu32 " bytes>", o->via.bin.size);
		break;
	case MSGPACK_OBJECT_EXT:
		strbuf_printf(sb, "<ext %d, %" PRIu32 " bytes>", o->via.ext.type,
			      o->via.ext.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		strbuf_putc(sb, '[');
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				strbuf_putc(sb, ',');
			text_msgpack(sb, &o->via.array.ptr[i]);
		}
		strbuf_putc(sb, ']');
		break;
	case MSGPACK_OBJECT_MAP:
		strbuf_putc(sb, '{');
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			if (i)
				strbuf_putc(sb, ',');
			text_msgpack(sb, &o->via.map.ptr[i].key);
			strbuf_putc(sb, '=');
			text_msgpack(sb, &o->via.map.ptr[i].val);
		}
		strbuf_putc(sb, '}');
		break;
	default:
		strbuf_puts(sb, "?");
		break;
	}
}

static void text_str_key(struct strbuf *sb, const msgpack_object *ev, const char *key)
{
	struct wire_str s;

	if (wire_map_str(ev, key, &s))
		text_word(sb, s.ptr, s.len);
	else
		strbuf_putc(sb, '?');
}

/* "127.0.0.1:80", "[::1]:80" or a unix path, from an event's keys. */
static void text_sockaddr(struct strbuf *sb, const msgpack_object *ev)
{
	struct wire_str s;
	int64_t port;

	if (wire_map_str(ev, "path", &s)) {
		text_word(sb, s.ptr, s.len);
		return;
	}
	if (!wire_map_str(ev, "addr", &s)) {
		int64_t family;

		if (wire_map_i64(ev, "family", &family))
			strbuf_printf(sb, "family=%" PRId64, family);
		else
			strbuf_putc(sb, '?');
		return;
	}
	if (memchr(s.ptr, ':', s.len)) {
		strbuf_putc(sb, '[');
		text_word(sb, s.ptr, s.len);
		strbuf_putc(sb, ']');
	} else {
		text_word(sb, s.ptr, s.len);
	}
	if (wire_map_i64(ev, "port", &port))
		strbuf_printf(sb, ":%" PRId64, port);
}

static bool is_common_key(const msgpack_object *k)
{
	static const char *const common[] = {
		"ev", "syscall", "ts", "pid", "tid", "ret", "compat",
	};

	if (k->type != MSGPACK_OBJECT_STR)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(common); i++) {
		size_t n = strlen(common[i]);

		if (k->via.str.size == n && memcmp(k->via.str.ptr, common[i], n) == 0)
			return true;
	}
	return false;
}

/* " key=value" for every key that is not one of the common ones. */
static void text_other_keys(struct strbuf *sb, const msgpack_object *ev)
{
	for (uint32_t i = 0; i < ev->via.map.size; i++) {
		const msgpack_object_kv *kv = &ev->via.map.ptr[i];

		if (is_common_key(&kv->key))
			continue;
		strbuf_putc(sb, ' ');
		if (kv->key.type == MSGPACK_OBJECT_STR)
			text_word(sb, kv->key.via.str.ptr, kv->key.via.str.size);
		else
			text_msgpack(sb, &kv->key);
		strbuf_putc(sb, '=');
		text_msgpack(sb, &kv->val);
	}
}

static void text_exit(struct strbuf *sb, const msgpack_object *ev)
{
	int64_t v;
	bool core = false;

	if (wire_map_i64(ev, "code", &v)) {
		strbuf_printf(sb, " code=%" PRId64, v);
	} else if (wire_map_i64(ev, "signal", &v)) {
		const char *abbrev = v > 0 && v < 65 ? sigabbrev_np((int)v) : NULL;

		if (abbrev)
			strbuf_printf(sb, " signal=SIG%s", abbrev);
		else
			strbuf_printf(sb, " signal=%" PRId64, v);
		if (wire_map_bool(ev, "core", &core) && core)
			strbuf_puts(sb, " (core dumped)");
	}
}

void text_event(struct strbuf *sb, const msgpack_object *ev)
{
	const msgpack_object *argv;
	struct wire_str kind = { "?", 1 };
	uint64_t u;
	int64_t ret, v;
	bool b;

	wire_map_str(ev, "ev", &kind);
	if (wire_str_eq(kind, "fork") && wire_map_bool(ev, "thread", &b) && b) {
		strbuf_puts(sb, "thread");
	} else {
		text_word(sb, kind.ptr, kind.len);
	}

	if (wire_str_eq(kind, "exec")) {
		strbuf_putc(sb, ' ');
		text_str_key(sb, ev, "file");
		argv = wire_map_get(ev, "argv");
		if (argv && argv->type == MSGPACK_OBJECT_ARRAY) {
			for (uint32_t i = 0; i < argv->via.array.size; i++) {
				strbuf_putc(sb, ' ');
				text_msgpack(sb, &argv->via.array.ptr[i]);
			}
		}
		if (wire_map_bool(ev, "argv_truncated", &b) && b)
			strbuf_puts(sb, " ...");
		/* The kernel ran another file or argv than was asked for. */
		if (wire_map_bool(ev, "tampered", &b) && b) {
			strbuf_puts(sb, " tampered");
			if (wire_map_get(ev, "requested_file")) {
				strbuf_puts(sb, " requested=");
				text_str_key(sb, ev, "requested_file");
			}
		}
	} else if (wire_str_eq(kind, "open")) {
		strbuf_putc(sb, ' ');
		text_str_key(sb, ev, "path");
		if (wire_map_get(ev, "requested_path")) {
			/* What the name given looked like: a symlink, "..". */
			strbuf_puts(sb, " requested=");
			text_str_key(sb, ev, "requested_path");
		}
		if (wire_map_u64(ev, "flags", &u)) {
			strbuf_putc(sb, ' ');
			text_open_flags(sb, u);
			if ((u & O_CREAT) || (u & O_TMPFILE) == O_TMPFILE) {
				if (wire_map_u64(ev, "mode", &u))
					strbuf_printf(sb, " mode=%#" PRIo64, u);
			}
		}
	} else if (wire_str_eq(kind, "connect") || wire_str_eq(kind, "bind") ||
		   wire_str_eq(kind, "accept")) {
		strbuf_putc(sb, ' ');
		text_sockaddr(sb, ev);
	} else if (wire_str_eq(kind, "fork")) {
		if (wire_map_i64(ev, "child", &v))
			strbuf_printf(sb, " child=%" PRId64, v);
	} else if (wire_str_eq(kind, "exit")) {
		text_exit(sb, ev);
	} else {
		text_other_keys(sb, ev);
	}

	if (wire_map_bool(ev, "compat", &b) && b)
		strbuf_puts(sb, " [compat]");
	if (wire_map_i64(ev, "ret", &ret)) {
		char nb[16];

		if (ret < 0 && ret >= -4095)
			strbuf_printf(sb, " = -%s", errno_name((int)-ret, nb));
		else
			strbuf_printf(sb, " = %" PRId64, ret);
	}
}
