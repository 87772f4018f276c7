/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tracer's connection to the probe: connect with back-off and jitter,
 * HELLO / HELLO_ACK, a bounded outbound queue that never blocks a tracee,
 * events batched into one EVENTS frame per loop iteration, and an orderly
 * finish (STATS, GOODBYE, half-close, wait for the probe to close).
 */
#ifndef SENTRACE_CLIENT_H
#define SENTRACE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <uv.h>

#include "event.h"
#include "frame.h"
#include "sentrace/wire.h"
#include "util.h"

struct client;
struct client_frame;

enum client_state {
	CLIENT_IDLE,        /* waiting to (re)connect */
	CLIENT_CONNECTING,
	CLIENT_HANDSHAKE,   /* HELLO sent */
	CLIENT_READY,       /* HELLO_ACK received: frames flow */
	CLIENT_DONE,        /* finished, or gave up for good */
};

typedef void (*client_cb)(struct client *c);
typedef void (*client_stats_fn)(struct client *c, msgpack_packer *pk);
typedef void (*client_command_fn)(struct client *c, const struct wire_command *cmd);

/* Runs of dropped events reported per STATS, at most. */
#define CLIENT_DROP_RANGES 16

struct client {
	uv_loop_t *loop;
	struct net_addr addr;
	char addr_str[160];
	enum client_state state;

	uv_stream_t *stream;        /* heap; freed in its close_cb */
	uv_timer_t timer;           /* back-off */
	uv_timer_t finish_timer;    /* bounds the wait for the probe at exit */
	uv_check_t check;           /* writes what is queued, once per iteration */
	uv_timer_t batch_timer;     /* seals the EVENTS batch BATCH_DELAY after
				     * its first event */
	uv_shutdown_t shutdown_req;
	struct frame_reader reader;
	uint64_t backoff_ns;
	int last_error;             /* why the last attempt failed (-errno) */

	/* What HELLO says; strings owned by the caller. */
	struct wire_hello hello;
	/*
	 * The shared token (owned by the caller), or NULL. With one, the
	 * tracer proves it and requires the probe to prove it too before
	 * anything but HELLO is sent (docs/protocol.md, "Handshake").
	 */
	const char *token;
	size_t token_len;
	uint8_t nonce[WIRE_SECRET_LEN];   /* this connection's, in HELLO */
	bool probe_proved;          /* this connection's CHALLENGE was good */
	bool handshake_failed;      /* drop this connection, retry later */
	uint64_t fake_probes;       /* peers that could not prove the token */
	/* The session to resume after a reconnect, and its secret. */
	uint8_t secret[WIRE_SECRET_LEN];
	bool have_secret;

	/*
	 * Outbound. Frames wait in `queue`, are handed to libuv (in flight,
	 * bounded), and EVENTS frames then wait in `unacked` until the probe's
	 * ACK covers them; after a reconnect `unacked` is sent again first.
	 * Everything held counts against max_bytes / max_frames.
	 */
	struct client_list {
		struct client_frame *head, *tail;
		size_t count;
	} queue, unacked;
	size_t held_bytes, held_frames;
	size_t inflight_bytes, inflight_frames;
	size_t max_bytes, max_frames;

	/* The EVENTS frame being filled. */
	msgpack_sbuffer batch;
	uint32_t batch_events;
	uint64_t next_seq;           /* sequence number of the next event */

	/* Counters for STATS and the final report. */
	uint64_t events_produced;    /* every event, kept or dropped */
	uint64_t events_queued;      /* given a sequence number */
	uint64_t events_acked;       /* the probe said it processed them */
	uint64_t events_resent;      /* sent again after a reconnect */
	uint64_t events_dropped;     /* refused by a full queue (per kind below) */
	uint64_t dropped[EV_KIND_MAX];
	/*
	 * The runs of dropped events since the last STATS, which reports and
	 * forgets them ("drops", docs/protocol.md): a dropped event keeps its
	 * sequence number, so a run is a range of numbers the probe never
	 * gets, and the times the first and last were dropped. When the
	 * array is full the last run grows over the events in between.
	 */
	struct client_drop_range {
		uint64_t seq_first, seq_last;
		uint64_t count;
		uint64_t ts_first, ts_last;  /* wall clock, ns */
	} drops[CLIENT_DROP_RANGES];
	unsigned ndrops;
	uint64_t frames_sent, bytes_sent;
	uint64_t connects, unknown_frames, commands;
	uint64_t session;

	bool finishing;
	bool goodbye_queued;
	bool fatal;                 /* the probe refused us: do not retry */
	uint64_t refusals;          /* HELLO_ACK errors after the first handshake */
	client_cb on_ready;         /* every successful handshake */
	client_cb on_done;          /* finish completed or gave up */
	client_stats_fn pack_stats; /* fills the "counters" map of STATS */
	client_command_fn on_command; /* a COMMAND from the probe */
	void *data;
};

int client_init(struct client *c, uv_loop_t *loop, const char *addr,
		size_t max_bytes, size_t max_frames);
void client_start(struct client *c);
/* Appends a finished event; counts it as dropped when the queue is full. */
void client_emit(struct client *c, const struct evbuf *e);
/* Puts a complete frame (header included) at the head of the queue, before
 * the events waiting there: snapshots right after a handshake. Takes sb's data. */
void client_push_front(struct client *c, msgpack_sbuffer *sb);
/* Sends a COMMAND_RESULT ahead of queued events. */
void client_send_command_result(struct client *c, const struct wire_command_result *r);
/* Queues a STATS frame now. */
void client_send_stats(struct client *c);
/*
 * Sends what is queued, then STATS and GOODBYE, half-closes and waits for
 * the probe to close; on_done runs when that happened or deadline passed.
 */
void client_finish(struct client *c, int exit_status, uint64_t deadline_ns);
/* Closes the handles; the loop can end after their close callbacks. */
void client_close(struct client *c);
/* Events not delivered (still queued or dropped). */
uint64_t client_undelivered(const struct client *c);

#endif
