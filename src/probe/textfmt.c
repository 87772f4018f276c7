/* SPDX-License-Identifier: Apache-2.0 */
/* Text view of events, errno and flag names, time stamps. */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "rules.h"
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

static void text_str_key(struct strbuf *sb, const struct event_record *ev, int key)
{
	struct rules_str s;

	if (record_str(ev, key, &s))
		text_word(sb, s.ptr, s.len);
	else
		strbuf_putc(sb, '?');
}

/* "127.0.0.1:80", "[::1]:80" or a unix path, from an event's keys. */
static void text_sockaddr(struct strbuf *sb, const struct event_record *ev)
{
	struct rules_str s;
	int64_t port;

	if (record_str(ev, RK_PATH, &s)) {
		text_word(sb, s.ptr, s.len);
		return;
	}
	if (!record_str(ev, RK_ADDR, &s)) {
		int64_t family;

		if (record_i64(ev, RK_FAMILY, &family))
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
	if (record_i64(ev, RK_PORT, &port))
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

/*
 * " key=value" for every key that is not one of the common ones, in wire
 * order: the pass-through of the raw map, so that a kind this probe does
 * not know, and keys it does not know, are still shown (a repeated key
 * once: the value the rules saw).
 */
static void text_other_keys(struct strbuf *sb, const struct event_record *r)
{
	const msgpack_object *ev = r->raw;

	if (!ev)
		return;
	for (uint32_t i = 0; i < ev->via.map.size; i++) {
		const msgpack_object_kv *kv = &ev->via.map.ptr[i];

		if (is_common_key(&kv->key) || record_is_repeat(r, i))
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

static void text_exit(struct strbuf *sb, const struct event_record *ev)
{
	int64_t v;

	if (record_i64(ev, RK_CODE, &v)) {
		strbuf_printf(sb, " code=%" PRId64, v);
	} else if (record_i64(ev, RK_SIGNAL, &v)) {
		const char *abbrev = v > 0 && v < 65 ? sigabbrev_np((int)v) : NULL;

		if (abbrev)
			strbuf_printf(sb, " signal=SIG%s", abbrev);
		else
			strbuf_printf(sb, " signal=%" PRId64, v);
		if (record_true(ev, RK_CORE))
			strbuf_puts(sb, " (core dumped)");
	}
}

void text_event(struct strbuf *sb, const struct event_record *ev)
{
	const struct rules_str *argv;
	size_t argc;
	uint64_t u;
	int type = ev->type;

	if (type == RULES_EV_FORK && record_true(ev, RK_THREAD))
		strbuf_puts(sb, "thread");
	else if (ev->kind.len || record_has(ev, RK_EV))
		text_word(sb, ev->kind.ptr, ev->kind.len);
	else
		strbuf_putc(sb, '?');

	switch (type) {
	case RULES_EV_EXEC:
		strbuf_putc(sb, ' ');
		text_str_key(sb, ev, RK_FILE);
		if (record_strs(ev, RK_ARGV, &argv, &argc)) {
			for (size_t i = 0; i < argc; i++) {
				strbuf_putc(sb, ' ');
				text_word(sb, argv[i].ptr, argv[i].len);
			}
		}
		if (record_true(ev, RK_ARGV_TRUNCATED))
			strbuf_puts(sb, " ...");
		/* The kernel ran another file or argv than was asked for. */
		if (record_true(ev, RK_TAMPERED)) {
			strbuf_puts(sb, " tampered");
			if (record_has(ev, RK_REQUESTED_FILE)) {
				strbuf_puts(sb, " requested=");
				text_str_key(sb, ev, RK_REQUESTED_FILE);
			}
		}
		break;
	case RULES_EV_OPEN:
		strbuf_putc(sb, ' ');
		text_str_key(sb, ev, RK_PATH);
		if (record_has(ev, RK_REQUESTED_PATH)) {
			/* What the name given looked like: a symlink, "..". */
			strbuf_puts(sb, " requested=");
			text_str_key(sb, ev, RK_REQUESTED_PATH);
		}
		if (record_u64(ev, RK_FLAGS, &u)) {
			strbuf_putc(sb, ' ');
			text_open_flags(sb, u);
			if ((u & O_CREAT) || (u & O_TMPFILE) == O_TMPFILE) {
				if (record_u64(ev, RK_MODE, &u))
					strbuf_printf(sb, " mode=%#" PRIo64, u);
			}
		}
		break;
	case RULES_EV_CONNECT:
	case RULES_EV_BIND:
	case RULES_EV_ACCEPT:
		strbuf_putc(sb, ' ');
		text_sockaddr(sb, ev);
		break;
	case RULES_EV_FORK: {
		int64_t v;

		if (record_i64(ev, RK_CHILD, &v))
			strbuf_printf(sb, " child=%" PRId64, v);
		break;
	}
	case RULES_EV_EXIT:
		text_exit(sb, ev);
		break;
	default:
		text_other_keys(sb, ev);
		break;
	}

	if (record_true(ev, RK_COMPAT))
		strbuf_puts(sb, " [compat]");
	if (ev->has_ret) {
		char nb[16];

		if (ev->ret < 0 && ev->ret >= -4095)
			strbuf_printf(sb, " = -%s", errno_name((int)-ev->ret, nb));
		else
			strbuf_printf(sb, " = %" PRId64, ev->ret);
	}
}
