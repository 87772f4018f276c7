/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One tracer connection, independent of the socket it arrives on: the HELLO
 * handshake, the tracer's state (process table, sequence numbers; it
 * survives reconnects, see tracers.h), the event log lines for every
 * message, detection for every event, and the ACK and COMMAND frames back.
 * The server feeds it frame payloads; tests can do the same without sockets.
 */
#ifndef SENTRACE_PROBE_SESSION_H
#define SENTRACE_PROBE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "engine.h"
#include "json.h"
#include "lifealert.h"
#include "output.h"
#include "proctable.h"
#include "record.h"
#include "strbuf.h"
#include "tracers.h"

struct env_keep;

/* Counters over the probe's whole life, shared by all sessions. */
struct probe_totals {
	uint64_t last_session_id;
	uint64_t sessions;          /* HELLOs accepted */
	uint64_t events;
	uint64_t unknown_messages;
	uint64_t protocol_errors;   /* connections closed for a protocol error */
	uint64_t duplicates;        /* re-sent events dropped */
	uint64_t auth_failures;     /* HELLOs refused for a missing or wrong token */
	uint64_t lost_sessions;     /* ended without GOODBYE */
	uint64_t silent_sessions;   /* fell silent past the heartbeat timeout */
	uint64_t expired_sessions;  /* idle tracer states freed */
	struct record_stats decode; /* invalid values in events and snapshots */
};

/* What every session shares; borrowed, outlives the sessions. */
struct session_env {
	struct output *out;         /* the event log; NULL: off */
	struct probe_totals *totals;
	struct tracer_registry *tracers;
	struct engine *engine;      /* NULL: no detection */
	const char *token;          /* the secret tracers must prove; NULL: none */
	size_t token_len;
	struct lifealert *lifealerts; /* delivery alerts; NULL: none */
	const struct env_keep *env_keep; /* values kept (redact.h); NULL: none */
};

/* Longest token compared; a longer one never matches. */
#define SESSION_TOKEN_MAX 256

/*
 * Whether got equals want (want_len bytes, at most SESSION_TOKEN_MAX), in
 * a time that depends on neither's content nor on got's length.
 */
bool session_token_equal(const char *want, size_t want_len, const char *got,
			 size_t got_len);

enum session_state {
	SESSION_NEW,       /* waiting for HELLO */
	SESSION_CHALLENGED, /* CHALLENGE sent, waiting for AUTH */
	SESSION_ACTIVE,    /* HELLO accepted */
	SESSION_REFUSED,   /* HELLO answered with an error */
	SESSION_ENDED,     /* session_end written */
};

/* Drop ranges of one STATS turned into alerts, at most. */
#define SESSION_DROPS_MAX 64
/* Gap warnings logged per tracer and second, at most. */
#define SESSION_GAP_LOG_BURST 20

/* session_handle_frame(): send the reply, then close the connection. */
#define SESSION_CLOSE 1

struct session {
	enum session_state state;
	uint64_t id;                /* 0 until HELLO is accepted */
	const struct session_env *env;
	struct output *out;         /* env->out */
	struct probe_totals *totals;
	struct tracer_state *ts;    /* attached while the session is active */
	bool resumed;               /* the tracer had connected before */
	bool ack_due;               /* EVENTS were read since the last ACK */
	char peer[128];

	char *hostname;
	char *mode;
	char *session_json;         /* the "session" object, rendered once */
	size_t session_json_len;

	uint64_t events;            /* distinct events of this connection */
	uint64_t duplicates;
	uint64_t unknown_messages;
	uint64_t bad_events;        /* EVENTS entries that were not maps */
	struct record_stats decode; /* invalid values of this connection's */
	bool goodbye;
	int32_t exit_status;

	struct proc_table *procs;   /* ts->procs */
	struct json j;              /* scratch for one JSON line */
	struct strbuf text;         /* scratch for one text line */
	struct event_record rec;    /* the event being handled, decoded */
	char error[160];            /* why the session failed */
	uint8_t nonce[WIRE_SECRET_LEN]; /* the CHALLENGE's */
	char *hello_buf;            /* the HELLO, until AUTH proves it */
	size_t hello_len;
	char *workload_json;        /* what HELLO says of the workload */
	size_t workload_json_len;
	char *workload_text;
	bool silent;                /* past the heartbeat timeout, alerted */
};

int session_new(const struct session_env *env, const char *peer,
		struct session **ret_session);
struct session *session_free(struct session *s);

/*
 * Handles one frame payload (without its header). Reply frames, headers
 * included, are appended to reply. Returns 0, SESSION_CLOSE, or -EBADMSG
 * for a protocol error (s->error says why; the caller closes).
 */
int session_handle_frame(struct session *s, const char *payload, size_t len,
			 msgpack_sbuffer *reply);

/*
 * After the frames of one read: appends an ACK {seq: last processed + 1}
 * to reply when EVENTS were read since the last one.
 */
void session_flush(struct session *s, msgpack_sbuffer *reply);

/*
 * Records a protocol error found outside the payload (framing): counted in
 * the totals, and s->error set from the format.
 */
void session_protocol_error(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Writes the session_end line once, when the session had started, and
 * detaches from the tracer's state; reason is "goodbye", "eof", "shutdown"
 * or "error: …".
 */
void session_end(struct session *s, const char *reason);

/*
 * The connected tracer sent nothing for silent_ns, past the heartbeat
 * timeout: a delivery alert, once until it speaks again.
 */
void session_silent(struct session *s, uint64_t silent_ns);
/* A frame arrived after silent_ns of silence: "resumed" when it was silent. */
void session_heard(struct session *s, uint64_t silent_ns);

#endif
