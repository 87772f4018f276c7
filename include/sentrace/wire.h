/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire between tracer and probe: frame layout, message types, and the
 * codec both programs link. docs/protocol.md is the prose version of this
 * file; keep them in step.
 *
 * A frame is a 4-byte big-endian payload length followed by exactly one
 * msgpack map. Every map has a "type" key (enum wire_type). Keys a reader
 * does not know are skipped; types it does not know are skipped and counted.
 */
#ifndef SENTRACE_WIRE_H
#define SENTRACE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* 2: the token is proven by challenge-response, never sent (CHALLENGE, AUTH);
 * sessions are resumed with a probe-issued secret. */
#define WIRE_PROTOCOL_VERSION 2
#define WIRE_FRAME_HEADER     4
/* Largest payload either side accepts; a longer frame is a protocol error. */
#define WIRE_FRAME_MAX        (4u << 20)
/* Largest frame the probe reads before the handshake is done: a HELLO or an
 * AUTH is small, and an unauthenticated client must not make it buffer (or
 * decode) megabytes. */
#define WIRE_FRAME_MAX_HANDSHAKE (64u << 10)
/* Bytes of a nonce, a proof (HMAC-SHA256) and a session's resume secret. */
#define WIRE_SECRET_LEN       32

enum wire_type {
	WIRE_HELLO     = 1, /* tracer -> probe, first frame of a connection */
	WIRE_HELLO_ACK = 2, /* probe -> tracer, answer to HELLO */
	WIRE_EVENTS    = 3, /* tracer -> probe, a batch of events */
	WIRE_PROCESS   = 4, /* tracer -> probe, process snapshots */
	WIRE_STATS     = 5, /* tracer -> probe, counters */
	WIRE_COMMAND   = 6, /* probe -> tracer, e.g. kill a process */
	WIRE_GOODBYE   = 7, /* tracer -> probe, everything was sent */
	WIRE_ACK       = 8, /* probe -> tracer, events processed so far */
	WIRE_COMMAND_RESULT = 9, /* tracer -> probe, what a COMMAND did */
	WIRE_CHALLENGE = 10, /* probe -> tracer, its nonce and token proof */
	WIRE_AUTH      = 11, /* tracer -> probe, its token proof */
	WIRE_TYPE_MAX,
};

const char *wire_type_name(int type);

/* A string inside a decoded message: points into the msgpack zone. */
struct wire_str {
	const char *ptr;
	uint32_t len;
};

struct wire_hello {
	uint32_t version;           /* WIRE_PROTOCOL_VERSION of the sender */
	struct wire_str tracer_version;
	struct wire_str mode;       /* "wrapped" or "attached" */
	struct wire_str hostname;
	struct wire_str container_id;
	uint64_t pidns;             /* inode of the tracer's /proc/self/ns/pid */
	int64_t tracer_pid;
	struct wire_str nonce;      /* WIRE_SECRET_LEN bytes when the tracer has a
				     * token (it then expects a CHALLENGE); empty
				     * when it has none */
	uint64_t resume_session;    /* session to resume; 0: a new one */
	struct wire_str resume_secret; /* that session's secret (HELLO_ACK) */
	uint32_t argc;              /* entry point argv, at most WIRE_HELLO_ARGV */
	struct wire_str argv[16];
	uint32_t npids;             /* attach mode: the --pid values, at most
				     * WIRE_HELLO_PIDS (sent only when some) */
	int64_t pids[16];
};
#define WIRE_HELLO_ARGV 16
#define WIRE_HELLO_PIDS 16

struct wire_hello_ack {
	uint32_t version;
	struct wire_str probe_version;
	uint64_t session;           /* probe-assigned session id */
	struct wire_str error;      /* empty on success; else the probe closes */
	struct wire_str secret;     /* resumes this session after a reconnect */
};

/* The probe's half of the mutual authentication (docs/protocol.md). */
struct wire_challenge {
	struct wire_str nonce;      /* the probe's, WIRE_SECRET_LEN bytes */
	struct wire_str proof;      /* wire_auth_proof(WIRE_ROLE_PROBE, …) */
};

/* The tracer's half. */
struct wire_auth {
	struct wire_str proof;      /* wire_auth_proof(WIRE_ROLE_TRACER, …) */
};

enum wire_role {
	WIRE_ROLE_PROBE,
	WIRE_ROLE_TRACER,
};

/*
 * HMAC-SHA256 keyed with the token over the role, both nonces and the
 * tracer's identity (hostname, pid namespace, pid, from HELLO): what each
 * side sends to prove that it holds the token without sending it. A proof
 * is good for one connection (the nonces) and one direction (the role).
 */
void wire_auth_proof(const char *token, size_t token_len, enum wire_role role,
		     const struct wire_hello *h, struct wire_str probe_nonce,
		     uint8_t out[WIRE_SECRET_LEN]);

struct wire_command {
	uint64_t id;
	struct wire_str action;     /* "kill" */
	int64_t pid;                /* 1 .. INT32_MAX */
	int32_t signal;
	struct wire_str rule_id;
	uint64_t start_ticks;       /* pid's /proc/PID/stat starttime; 0: absent,
				     * and the tracer refuses the kill */
	struct wire_str scope;      /* "process" (or empty) or "container" */
	struct wire_str container_id; /* the container scope's container */
};

struct wire_ack {
	uint64_t seq;               /* every event with a lower seq was processed */
};

struct wire_command_result {
	uint64_t id;                /* the COMMAND's id */
	int64_t pid;
	int32_t signal;
	bool done;                  /* the signal was sent */
	struct wire_str error;      /* why not, when !done */
	uint32_t count;             /* processes signalled (container scope) */
};

struct wire_goodbye {
	struct wire_str reason;
	int32_t exit_status;        /* the tracer's own exit status */
};

static inline struct wire_str wire_str_c(const char *s)
{
	struct wire_str w = { s ? s : "", 0 };

	while (w.ptr[w.len])
		w.len++;
	return w;
}

bool wire_str_eq(struct wire_str s, const char *c);

/* Frame header helpers. */
void wire_put_len(uint8_t out[WIRE_FRAME_HEADER], uint32_t len);
uint32_t wire_get_len(const uint8_t in[WIRE_FRAME_HEADER]);

/*
 * Validates that buf holds exactly one well-formed msgpack value whose
 * containers never claim more elements than bytes remain and whose nesting
 * stays under a fixed depth. Runs before msgpack-c sees hostile input, so a
 * 5-byte "array of 4 billion" cannot make the unpacker allocate gigabytes.
 * Returns 0 or -EBADMSG.
 */
int wire_validate(const char *buf, size_t len);

/*
 * Decodes one payload (without the 4-byte header). On success *ret_root is
 * the top-level map, *ret_type its "type", and the memory belongs to *up
 * (msgpack_unpacked_destroy() it). Returns 0, or -EBADMSG for anything that
 * is not a map with an unsigned "type".
 */
int wire_decode(const char *buf, size_t len, msgpack_unpacked *up,
		const msgpack_object **ret_root, int *ret_type);

/* Map access; NULL or false when absent or of another type. */
const msgpack_object *wire_map_get(const msgpack_object *map, const char *key);
bool wire_map_str(const msgpack_object *map, const char *key, struct wire_str *ret);
bool wire_map_i64(const msgpack_object *map, const char *key, int64_t *ret);
bool wire_map_u64(const msgpack_object *map, const char *key, uint64_t *ret);
bool wire_map_bool(const msgpack_object *map, const char *key, bool *ret);
/* A msgpack bin value (nonces, proofs, secrets). */
bool wire_map_bin(const msgpack_object *map, const char *key, struct wire_str *ret);

/* Packing helpers for maps with string keys. */
void wire_pack_str(msgpack_packer *pk, const char *s);
void wire_pack_strn(msgpack_packer *pk, const char *s, size_t len);
void wire_pack_kv_str(msgpack_packer *pk, const char *key, const char *val);
void wire_pack_kv_strn(msgpack_packer *pk, const char *key, const char *val, size_t len);
void wire_pack_kv_i64(msgpack_packer *pk, const char *key, int64_t val);
void wire_pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t val);
void wire_pack_kv_bool(msgpack_packer *pk, const char *key, bool val);
void wire_pack_kv_bin(msgpack_packer *pk, const char *key, const void *val, size_t len);

/*
 * Typed messages. pack_* writes one complete payload (no header) into pk;
 * unpack_* reads a decoded root map and returns 0 or -EBADMSG when a
 * required key is missing or of the wrong type.
 */
void wire_pack_hello(msgpack_packer *pk, const struct wire_hello *m);
int wire_unpack_hello(const msgpack_object *root, struct wire_hello *ret);
void wire_pack_hello_ack(msgpack_packer *pk, const struct wire_hello_ack *m);
int wire_unpack_hello_ack(const msgpack_object *root, struct wire_hello_ack *ret);
void wire_pack_challenge(msgpack_packer *pk, const struct wire_challenge *m);
int wire_unpack_challenge(const msgpack_object *root, struct wire_challenge *ret);
void wire_pack_auth(msgpack_packer *pk, const struct wire_auth *m);
int wire_unpack_auth(const msgpack_object *root, struct wire_auth *ret);
void wire_pack_command(msgpack_packer *pk, const struct wire_command *m);
int wire_unpack_command(const msgpack_object *root, struct wire_command *ret);
void wire_pack_ack(msgpack_packer *pk, const struct wire_ack *m);
int wire_unpack_ack(const msgpack_object *root, struct wire_ack *ret);
void wire_pack_command_result(msgpack_packer *pk, const struct wire_command_result *m);
int wire_unpack_command_result(const msgpack_object *root,
			       struct wire_command_result *ret);
void wire_pack_goodbye(msgpack_packer *pk, const struct wire_goodbye *m);
int wire_unpack_goodbye(const msgpack_object *root, struct wire_goodbye *ret);

/*
 * EVENTS and STATS have open bodies: EVENTS is {"type":3, "seq":N,
 * "events":[map…]} where N is the sequence number of the first event,
 * STATS is {"type":5, "counters":{name: uint…}, "dropped":{event: uint…}}.
 * The tracer packs them with the kv helpers above.
 */

#endif
