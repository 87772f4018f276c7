/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the probe's side of one connection, without sockets. The
 * input is
 *
 *   byte 0      bit 0: the event log in text (else JSON); bit 1: no
 *               detection engine; bit 2: the probe requires a token (the
 *               CHALLENGE/AUTH handshake; no input can prove it); bit 3:
 *               no environment value is kept (else the default keep list
 *               and a prefix, LC_*)
 *   the rest    the bytes a tracer sends: frames (docs/protocol.md)
 *
 * The bytes go through a frame_reader with the probe's limits (64 KiB
 * until the handshake is done), each payload
 * to session_handle_frame() as the server hands it over, with an ACK
 * flush after the batch, until the session fails or asks to close; then
 * the session ends as on EOF. Replies (HELLO_ACK, ACK, COMMAND) must be
 * well-formed frames. The engine runs the rules of contrib/policy and of
 * session.policy (kill actions); it lives across inputs, with a clock that
 * moves an hour per input so that its rate limits refill.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "envkeep.h"
#include "frame.h"
#include "log.h"
#include "output.h"
#include "session.h"
#include "tracers.h"
#include "sentrace/wire.h"
#include "fuzz.h"

#ifndef FUZZ_SOURCE_ROOT
#error "FUZZ_SOURCE_ROOT: the source tree, for the policies"
#endif

static struct output *outs[2];      /* JSON, text; both to /dev/null */
static struct engine *engine;

static struct lifealert lifealerts;
static struct env_keep keep;

static void setup(void)
{
	static const char *const paths[] = {
		FUZZ_SOURCE_ROOT "/contrib/policy",
		FUZZ_SOURCE_ROOT "/tests/fuzz/session.policy",
	};
	struct engine_config ec;

	log_level = LOG_LEVEL_ERR;
	fuzz_check(output_new("/dev/null", OUTPUT_JSON, &outs[0]) == 0);
	fuzz_check(output_new("/dev/null", OUTPUT_TEXT, &outs[1]) == 0);
	engine_config_defaults(&ec);
	ec.policy_paths = paths;
	ec.npolicy_paths = 2;
	fuzz_check(engine_new(&ec, &engine) == 0);
	fuzz_check(engine_add_sink(engine, outs[0]) == 0);
	fuzz_check(engine_load(engine) == 0);
	fuzz_check(engine_rule_count(engine) > 0);
	engine->fake_now = 1;
	lifealert_init(&lifealerts, engine);
	fuzz_check(env_keep_add(&keep, ENV_KEEP_DEFAULT ",LC_*") == 0);
}

static void on_tracer_free(void *data, struct tracer_state *ts)
{
	struct engine *en = data;

	if (en)
		engine_forget(en, ts, "unknown: connection closed");
}

/* Every reply is whole frames of messages the tracer can decode. */
static void check_replies(const msgpack_sbuffer *reply)
{
	size_t off = 0;

	while (off < reply->size) {
		const msgpack_object *root;
		msgpack_unpacked up;
		uint32_t len;
		int type;

		fuzz_check(reply->size - off >= WIRE_FRAME_HEADER);
		len = wire_get_len((const uint8_t *)reply->data + off);
		off += WIRE_FRAME_HEADER;
		fuzz_check(len > 0 && len <= reply->size - off);
		msgpack_unpacked_init(&up);
		fuzz_check(wire_decode(reply->data + off, len, &up, &root, &type) == 0);
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "reply %s\n", wire_type_name(type));
		switch (type) {
		case WIRE_HELLO_ACK: {
			struct wire_hello_ack m;

			fuzz_check(wire_unpack_hello_ack(root, &m) == 0);
			break;
		}
		case WIRE_CHALLENGE: {
			struct wire_challenge m;

			fuzz_check(wire_unpack_challenge(root, &m) == 0);
			fuzz_check(m.proof.len == WIRE_SECRET_LEN);
			break;
		}
		case WIRE_ACK: {
			struct wire_ack m;

			fuzz_check(wire_unpack_ack(root, &m) == 0);
			break;
		}
		case WIRE_COMMAND: {
			struct wire_command m;

			fuzz_check(wire_unpack_command(root, &m) == 0);
			break;
		}
		default:
			fuzz_check(!"a reply of an unexpected type");
		}
		msgpack_unpacked_destroy(&up);
		off += len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_totals totals = { 0 };
	struct tracer_registry tracers;
	struct session_env env = { 0 };
	struct frame_reader fr;
	msgpack_sbuffer reply;
	struct session *s;
	const char *reason = "eof";
	size_t room;
	char *p;
	int r;

	if (!engine)
		setup();
	if (size < 1)
		return 0;
	engine->fake_now += 3600ull * 1000000000;

	tracer_registry_init(&tracers, TRACERS_IDLE_MAX);
	tracers.on_free = on_tracer_free;
	tracers.on_free_data = data[0] & 2 ? NULL : engine;
	env.out = outs[data[0] & 1];
	env.totals = &totals;
	env.tracers = &tracers;
	env.engine = data[0] & 2 ? NULL : engine;
	/* Delivery alerts: a lost session, drop ranges from STATS. */
	env.lifealerts = &lifealerts;
	env.env_keep = data[0] & 8 ? NULL : &keep;
	if (data[0] & 4) {
		env.token = "fuzz-token";
		env.token_len = strlen(env.token);
	}
	fuzz_check(session_new(&env, "fuzz", &s) == 0);
	msgpack_sbuffer_init(&reply);

	frame_reader_init(&fr, WIRE_FRAME_MAX_HANDSHAKE);
	fuzz_check(frame_reader_reserve(&fr, &p, &room) == 0);
	/* The reader offers 64 KiB at a time; the rest of a longer input goes. */
	if (room > size - 1)
		room = size - 1;
	memcpy(p, data + 1, room);
	frame_reader_commit(&fr, room);
	for (;;) {
		const char *payload;
		uint32_t plen;

		r = frame_reader_next(&fr, &payload, &plen);
		if (r < 0) {
			session_protocol_error(s, "bad frame: %s", strerror(-r));
			reason = "error";
			break;
		}
		if (r == 0)
			break;
		r = session_handle_frame(s, payload, plen, &reply);
		/* As the server does: full-size frames once authenticated. */
		if (s->state == SESSION_ACTIVE)
			fr.max = WIRE_FRAME_MAX;
		if (r < 0) {
			reason = "error";
			break;
		}
		if (r == SESSION_CLOSE)
			break;
	}
	session_flush(s, &reply);
	check_replies(&reply);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "session %s: %s\n", reason, s->error);
	session_end(s, reason);
	session_free(s);
	tracer_registry_fini(&tracers);
	engine_tick(engine);
	engine_flush(engine);
	frame_reader_free(&fr);
	msgpack_sbuffer_destroy(&reply);
	return 0;
}
