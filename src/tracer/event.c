/* SPDX-License-Identifier: Apache-2.0 */
/* The event builder. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sentrace/wire.h"
#include "event.h"
#include "util.h"

/*
 * Every traced thread has an evbuf, so its size is the tracer's memory per
 * thread. An event starts in EVBUF_INIT bytes, enough for most (an open
 * and its path), not in msgpack's 8 KiB; a buffer grown past
 * EVBUF_KEEP (an exec with its argv and environment) is given back once its
 * event is out. Measured: 4.4 KiB per thread with 8 KiB buffers kept up to
 * 16 KiB, 0.7 KiB now (docs/security.md).
 */
#define EVBUF_INIT 512u
#define EVBUF_KEEP 1024u

static const char *const kind_names[EV_KIND_MAX] = {
	[EV_EXEC] = "exec", [EV_FORK] = "fork", [EV_EXIT] = "exit",
	[EV_OPEN] = "open", [EV_UNLINK] = "unlink", [EV_RMDIR] = "rmdir",
	[EV_RENAME] = "rename", [EV_MKDIR] = "mkdir", [EV_LINK] = "link",
	[EV_SYMLINK] = "symlink", [EV_CHMOD] = "chmod", [EV_CHOWN] = "chown",
	[EV_UTIMES] = "utimes", [EV_TRUNCATE] = "truncate",
	[EV_MOUNT] = "mount", [EV_UMOUNT] = "umount", [EV_SETUID] = "setuid",
	[EV_SETGID] = "setgid", [EV_CAPSET] = "capset",
	[EV_LOAD_MODULE] = "load_module", [EV_UNLOAD_MODULE] = "unload_module",
	[EV_PTRACE] = "ptrace", [EV_MEMFD_CREATE] = "memfd_create",
	[EV_BPF] = "bpf", [EV_PRCTL] = "prctl", [EV_CHDIR] = "chdir",
	[EV_SOCKET] = "socket", [EV_BIND] = "bind", [EV_CONNECT] = "connect",
	[EV_LISTEN] = "listen", [EV_ACCEPT] = "accept",
	[EV_SECCOMP_MISMATCH] = "seccomp_mismatch",
	[EV_SECCOMP] = "seccomp", [EV_IO_URING] = "io_uring",
	[EV_TRACER_TAMPER] = "tracer_tamper",
};

const char *ev_kind_name(enum ev_kind k)
{
	return (unsigned)k < EV_KIND_MAX ? kind_names[k] : "unknown";
}

void evbuf_init(struct evbuf *e)
{
	memset(e, 0, sizeof(*e));
	msgpack_sbuffer_init(&e->sb);
	msgpack_packer_init(&e->pk, &e->sb, msgpack_sbuffer_write);
}

void evbuf_free(struct evbuf *e)
{
	msgpack_sbuffer_destroy(&e->sb);
	memset(e, 0, sizeof(*e));
}

void evbuf_swap(struct evbuf *a, struct evbuf *b)
{
	struct evbuf tmp = *a;

	*a = *b;
	*b = tmp;
	/* Each packer must keep writing into its own evbuf. */
	msgpack_packer_init(&a->pk, &a->sb, msgpack_sbuffer_write);
	msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

void ev_begin_map(struct evbuf *e)
{
	static const char map16[3] = { (char)0xde, 0, 0 };

	/* msgpack_sbuffer_write() would start at 8 KiB and double. */
	if (e->sb.alloc == 0) {
		char *p = malloc(EVBUF_INIT);

		if (p) {
			e->sb.data = p;
			e->sb.alloc = EVBUF_INIT;
		}
	}
	e->sb.size = 0;
	e->nkeys = 0;
	e->kind = EV_KIND_MAX;
	msgpack_sbuffer_write(&e->sb, map16, sizeof(map16));
}

void ev_begin(struct evbuf *e, enum ev_kind kind, const char *syscall,
	      pid_t pid, pid_t tid, bool compat)
{
	ev_begin_map(e);
	e->kind = kind;
	ev_str(e, "ev", ev_kind_name(kind));
	if (syscall)
		ev_str(e, "syscall", syscall);
	ev_u64(e, "ts", now_realtime_ns());
	ev_i64(e, "pid", pid);
	ev_i64(e, "tid", tid);
	if (compat)
		ev_bool(e, "compat", true);
}

void ev_key(struct evbuf *e, const char *key)
{
	wire_pack_str(&e->pk, key);
	e->nkeys++;
}

void ev_str(struct evbuf *e, const char *key, const char *val)
{
	ev_key(e, key);
	wire_pack_str(&e->pk, val);
}

void ev_strn(struct evbuf *e, const char *key, const char *val, size_t len)
{
	ev_key(e, key);
	wire_pack_strn(&e->pk, val, len);
}

void ev_i64(struct evbuf *e, const char *key, int64_t val)
{
	ev_key(e, key);
	msgpack_pack_int64(&e->pk, val);
}

void ev_u64(struct evbuf *e, const char *key, uint64_t val)
{
	ev_key(e, key);
	msgpack_pack_uint64(&e->pk, val);
}

void ev_bool(struct evbuf *e, const char *key, bool val)
{
	ev_key(e, key);
	if (val)
		msgpack_pack_true(&e->pk);
	else
		msgpack_pack_false(&e->pk);
}

void ev_end(struct evbuf *e)
{
	e->sb.data[1] = (char)(e->nkeys >> 8);
	e->sb.data[2] = (char)e->nkeys;
}

void ev_reset(struct evbuf *e)
{
	e->sb.size = 0;
	if (e->sb.alloc > EVBUF_KEEP) {
		msgpack_sbuffer_destroy(&e->sb);
		msgpack_sbuffer_init(&e->sb);
	}
}

struct env_keep arg_keep_env;

void ev_env_item(struct evbuf *e, const char *s, size_t len)
{
	wire_pack_strn(&e->pk, s, env_keep_cut(&arg_keep_env, s, len));
}
