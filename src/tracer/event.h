/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Building one event map. The map header is a map16 whose count is patched
 * when the event ends, so decoders can add keys as they find them without
 * counting first. An evbuf is reused event after event: no allocation on
 * the per-stop path once it has grown to its working size.
 */
#ifndef SENTRACE_EVENT_H
#define SENTRACE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <msgpack.h>

#include "envkeep.h"

/* Event kinds: the "ev" strings, and the unit of drop accounting. */
enum ev_kind {
	EV_EXEC, EV_FORK, EV_EXIT, EV_OPEN, EV_UNLINK, EV_RMDIR, EV_RENAME,
	EV_MKDIR, EV_LINK, EV_SYMLINK, EV_CHMOD, EV_CHOWN, EV_UTIMES,
	EV_TRUNCATE, EV_MOUNT, EV_UMOUNT, EV_SETUID, EV_SETGID, EV_CAPSET,
	EV_LOAD_MODULE, EV_UNLOAD_MODULE, EV_PTRACE, EV_MEMFD_CREATE, EV_BPF,
	EV_PRCTL, EV_CHDIR, EV_SOCKET, EV_BIND, EV_CONNECT, EV_LISTEN,
	EV_ACCEPT,
	EV_SECCOMP_MISMATCH,  /* RET_TRACE data that is not the call's */
	EV_SECCOMP, EV_IO_URING, EV_TRACER_TAMPER,
	EV_KIND_MAX,
};

const char *ev_kind_name(enum ev_kind k);
/* exec, fork and exit keep the probe's process tree right: kept first. */
static inline bool ev_kind_is_lifecycle(enum ev_kind k)
{
	return k == EV_EXEC || k == EV_FORK || k == EV_EXIT;
}

struct evbuf {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint32_t nkeys;
	enum ev_kind kind;
};

void evbuf_init(struct evbuf *e);
void evbuf_free(struct evbuf *e);
/* Exchanges two evbufs (an exec moving to the leader's tid). */
void evbuf_swap(struct evbuf *a, struct evbuf *b);

/* Starts an empty map (process snapshots use the same builder). */
void ev_begin_map(struct evbuf *e);
/* Starts a map with ev, syscall (may be NULL), ts, pid, tid [, compat]. */
void ev_begin(struct evbuf *e, enum ev_kind kind, const char *syscall,
	      pid_t pid, pid_t tid, bool compat);
void ev_str(struct evbuf *e, const char *key, const char *val);
void ev_strn(struct evbuf *e, const char *key, const char *val, size_t len);
void ev_i64(struct evbuf *e, const char *key, int64_t val);
void ev_u64(struct evbuf *e, const char *key, uint64_t val);
void ev_bool(struct evbuf *e, const char *key, bool val);
/* A key whose value the caller packs with e->pk itself (arrays). */
void ev_key(struct evbuf *e, const char *key);
/* Patches the key count; the bytes are e->sb.data[0 .. e->sb.size). */
void ev_end(struct evbuf *e);
/* Forgets the event and, if it grew large (exec), gives memory back. */
void ev_reset(struct evbuf *e);

/*
 * The names whose environment values the tracer reports (--keep-env; the
 * built-in ENV_KEEP_DEFAULT otherwise). Every other "NAME=value" goes out
 * as NAME alone: values stay in the tracee.
 */
extern struct env_keep arg_keep_env;
/* Packs one environment string (an array item) as arg_keep_env allows. */
void ev_env_item(struct evbuf *e, const char *s, size_t len);

#endif
