/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The probe's server: one listening socket (TCP or unix), one connection
 * per tracer, signal handling, and the output they share. Everything runs on
 * the caller's libuv loop; no threads.
 */
#ifndef SENTRACE_PROBE_SERVER_H
#define SENTRACE_PROBE_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#include <uv.h>

#include "util.h"
#include "engine.h"
#include "lifealert.h"
#include "output.h"
#include "session.h"
#include "tracers.h"

/*
 * Connections served at once. Past a bound, a new connection takes the slot
 * of the oldest one that has not completed its handshake (it is evicted,
 * and logged); only when every slot is an authenticated tracer is the new
 * one closed at once. So a flood of idle or slow connections, which never
 * authenticate, cannot keep a real tracer out.
 */
#define PROBE_MAX_CONNS 1024
/* Connections not yet authenticated, in total and per peer (the uid of a
 * unix peer, the address of a TCP one). */
#define PROBE_MAX_PREAUTH 512
#define PROBE_MAX_PREAUTH_PER_PEER 256
/*
 * Without a token a HELLO is all it takes to be "authenticated", so one
 * peer (a unix uid, a TCP address) may hold at most half of the slots:
 * a local user or a tracee under --uid that opens sessions by the
 * thousand leaves the other half to the tracers of other uids.
 */
#define PROBE_MAX_SESSIONS_PER_PEER (PROBE_MAX_CONNS / 2)
/* Default time a connection has to complete its handshake. */
#define PROBE_HANDSHAKE_TIMEOUT_NS (5 * NSEC_PER_SEC)
/*
 * Default time an authenticated tracer may send nothing before the
 * "silent" delivery alert: three of the tracer's 10 s STATS periods.
 */
#define PROBE_HEARTBEAT_TIMEOUT_NS (30 * NSEC_PER_SEC)
/* On shutdown, bytes read per connection from what the kernel buffered. */
#define PROBE_DRAIN_MAX (64u << 20)

struct conn;

struct probe {
	uv_loop_t *loop;
	struct net_addr addr;
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} listener;
	bool listener_open;         /* initialized and not yet closed */
	bool unix_bound;            /* we created addr.path */
	uint32_t socket_mode;       /* permissions of addr.path */
	gid_t socket_gid;           /* its group; (gid_t)-1: ours */
	ino_t unix_ino;             /* its inode, to remove only our own */
	uv_signal_t sig_term, sig_int, sig_hup;
	bool signals_open;
	uv_timer_t timer;           /* held alerts' kill timeouts */
	bool timer_open;
	uv_timer_t sweep;           /* closes connections past their handshake deadline */
	bool sweep_open;
	uint64_t handshake_timeout_ns;
	uint64_t heartbeat_timeout_ns; /* 0: no heartbeat check */
	uint64_t idle_timeout_ns;   /* a disconnected tracer's state is kept */
	struct lifealert lifealerts;
	struct output *out;         /* the event log, borrowed; NULL: off */
	struct engine *engine;      /* borrowed; NULL: no detection */
	struct probe_totals totals;
	struct tracer_registry tracers;
	struct session_env env;
	char token[SESSION_TOKEN_MAX + 1]; /* see probe_set_token() */
	struct conn *conns;
	size_t nconns;
	uint64_t refused_conns;     /* closed at once: too many connections */
	uint64_t evicted_conns;     /* unauthenticated, closed for a newer one */
	uint64_t handshake_timeouts; /* closed: no handshake in time */
	bool stopping;
};

/* out (the event log) and engine may be NULL; both are borrowed. */
int probe_new(uv_loop_t *loop, const struct net_addr *addr, struct output *out,
	      struct engine *engine, struct probe **ret_probe);
/*
 * Requires every HELLO to carry this token (1 to SESSION_TOKEN_MAX bytes,
 * copied); NULL: no token is required.
 */
int probe_set_token(struct probe *p, const char *token);
/*
 * Binds, listens and installs the signal handlers. On failure the caller
 * still runs probe_stop() and the loop to close what was opened.
 */
int probe_start(struct probe *p);
/*
 * Stops listening, processes what the kernel already buffered for every
 * connection, writes their session_end lines and closes everything, so that
 * uv_run() returns. Idempotent; also called on SIGTERM and SIGINT.
 */
void probe_stop(struct probe *p);
/* Only after the loop has run to the end; before the engine is freed. */
struct probe *probe_free(struct probe *p);

#endif
