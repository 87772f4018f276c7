/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One tracer session, independent of the socket it arrives on: the HELLO
 * handshake, the process table, and the output lines for every message.
 * The server feeds it frame payloads; tests can do the same without sockets.
 */
#ifndef SENTRACE_PROBE_SESSION_H
#define SENTRACE_PROBE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "json.h"
#include "output.h"
#include "proctable.h"
#include "strbuf.h"

/* Counters over the probe's whole life, shared by all sessions. */
struct probe_totals {
	uint64_t last_session_id;
	uint64_t sessions;          /* HELLOs accepted */
	uint64_t events;
	uint64_t unknown_messages;
	uint64_t protocol_errors;   /* connections closed for a protocol error */
};

enum session_state {
	SESSION_NEW,       /* waiting for HELLO */
	SESSION_ACTIVE,    /* HELLO accepted */
	SESSION_REFUSED,   /* HELLO answered with an error */
	SESSION_ENDED,     /* session_end written */
};

/* session_handle_frame(): send the reply, then close the connection. */
#define SESSION_CLOSE 1

struct session {
	enum session_state state;
	uint64_t id;                /* 0 until HELLO is accepted */
	struct output *out;
	struct probe_totals *totals;
	char peer[128];

	char *hostname;
	char *mode;
	char *session_json;         /* the "session" object, rendered once */
	size_t session_json_len;

	uint64_t events;
	uint64_t unknown_messages;
	uint64_t bad_events;        /* EVENTS entries that were not maps */
	bool goodbye;
	int32_t exit_status;

	struct proc_table *procs;
	struct json j;              /* scratch for one JSON line */
	struct strbuf text;         /* scratch for one text line */
	char error[160];            /* why the session failed */
};

int session_new(struct output *out, struct probe_totals *totals,
		const char *peer, struct session **ret_session);
struct session *session_free(struct session *s);

/*
 * Handles one frame payload (without its header). Reply frames, headers
 * included, are appended to reply. Returns 0, SESSION_CLOSE, or -EBADMSG
 * for a protocol error (s->error says why; the caller closes).
 */
int session_handle_frame(struct session *s, const char *payload, size_t len,
			 msgpack_sbuffer *reply);

/*
 * Records a protocol error found outside the payload (framing): counted in
 * the totals, and s->error set from the format.
 */
void session_protocol_error(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Writes the session_end line once, when the session had started; reason is
 * "goodbye", "eof", "shutdown" or "error: …".
 */
void session_end(struct session *s, const char *reason);

#endif
