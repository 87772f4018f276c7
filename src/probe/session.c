/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tracer connection: handshake, the tracer's state, process resolution,
 * detection, and one event log line per event, snapshot, statistics message
 * and session boundary.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sentrace/wire.h"
#include "frame.h"
#include "hmac.h"
#include "log.h"
#include "util.h"
#include "redact.h"
#include "resolver.h"
#include "rules.h"
#include "lifealert.h"
#include "session.h"
#include "textfmt.h"

/* Delivery alerts (lifealert.h), with this session's workload. */
static void session_lifealert(struct session *s, struct lifealert_info *in);

int session_new(const struct session_env *env, const char *peer,
		struct session **ret_session)
{
	struct session *s;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->env = env;
	s->out = env->out;
	s->totals = env->totals;
	snprintf(s->peer, sizeof(s->peer), "%s", peer ? peer : "?");
	if (record_init(&s->rec) < 0) {
		free(s);
		return -ENOMEM;
	}
	json_init(&s->j);
	strbuf_init(&s->text);
	*ret_session = s;
	return 0;
}

static void session_detach(struct session *s)
{
	if (!s->ts)
		return;
	tracer_registry_detach(s->env->tracers, s->ts, s->goodbye);
	s->ts = NULL;
	s->procs = NULL;
}

struct session *session_free(struct session *s)
{
	if (!s)
		return NULL;
	session_detach(s);
	json_fini(&s->j);
	strbuf_fini(&s->text);
	record_fini(&s->rec);
	free(s->hostname);
	free(s->mode);
	free(s->session_json);
	free(s->workload_json);
	free(s->workload_text);
	free(s->hello_buf);
	explicit_bzero(s->nonce, sizeof(s->nonce));
	free(s);
	return NULL;
}

void session_protocol_error(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	s->totals->protocol_errors++;
}

static char *wire_strdup(struct wire_str w)
{
	return strndup(w.ptr ? w.ptr : "", w.ptr ? w.len : 0);
}

/* Starts a JSON line: {"type":…,"time":…,"session":{…} */
static void json_line_begin(struct session *s, const char *type, uint64_t ns)
{
	char tbuf[48];

	json_reset(&s->j);
	json_object_begin(&s->j);
	json_kv_str(&s->j, "type", type);
	json_kv_str(&s->j, "time", time_iso8601(ns, tbuf, sizeof(tbuf)));
	json_key(&s->j, "session");
	json_raw(&s->j, s->session_json, s->session_json_len);
}

static void json_line_end(struct session *s)
{
	json_object_end(&s->j);
	if (!s->out)
		return;
	if (json_failed(&s->j)) {
		log_warn("session %" PRIu64 ": out of memory formatting a line", s->id);
		return;
	}
	output_line(s->out, json_data(&s->j), json_len(&s->j));
}

/* Starts a text line: "TIME session N ". */
static void text_line_begin(struct session *s, uint64_t ns)
{
	strbuf_reset(&s->text);
	text_time(&s->text, ns);
	strbuf_printf(&s->text, " session %" PRIu64 " ", s->id);
}

static void text_line_end(struct session *s)
{
	if (!s->out)
		return;
	if (strbuf_failed(&s->text)) {
		log_warn("session %" PRIu64 ": out of memory formatting a line", s->id);
		return;
	}
	output_line(s->out, s->text.data, s->text.len);
}

/*
 * What the HELLO says about the workload, for the delivery alerts: they
 * must name it after the tracer is gone (lifealert.h).
 */
static int session_render_workload(struct session *s, const struct wire_hello *h)
{
	struct strbuf sb;
	struct json j;

	json_init(&j);
	json_object_begin(&j);
	json_kv_strn(&j, "hostname", h->hostname.ptr, h->hostname.len);
	json_kv_strn(&j, "container_id", h->container_id.ptr, h->container_id.len);
	json_kv_strn(&j, "mode", h->mode.ptr, h->mode.len);
	json_kv_int(&j, "tracer_pid", h->tracer_pid);
	json_key(&j, "argv");
	json_array_begin(&j);
	for (uint32_t i = 0; i < h->argc; i++)
		json_strn(&j, h->argv[i].ptr, h->argv[i].len);
	json_array_end(&j);
	if (h->npids) {
		json_key(&j, "pids");
		json_array_begin(&j);
		for (uint32_t i = 0; i < h->npids; i++)
			json_int(&j, h->pids[i]);
		json_array_end(&j);
	}
	json_object_end(&j);
	strbuf_init(&sb);
	strbuf_puts(&sb, "host=");
	text_word(&sb, h->hostname.ptr, h->hostname.len);
	strbuf_puts(&sb, " mode=");
	text_word(&sb, h->mode.ptr, h->mode.len);
	strbuf_printf(&sb, " tracer_pid=%" PRId64, h->tracer_pid);
	if (h->container_id.len) {
		strbuf_puts(&sb, " container_id=");
		text_word(&sb, h->container_id.ptr, h->container_id.len);
	}
	if (h->npids) {
		strbuf_puts(&sb, " pids:");
		for (uint32_t i = 0; i < h->npids; i++)
			strbuf_printf(&sb, " %" PRId64, h->pids[i]);
	}
	strbuf_puts(&sb, " argv:");
	for (uint32_t i = 0; i < h->argc; i++) {
		strbuf_putc(&sb, ' ');
		text_word(&sb, h->argv[i].ptr, h->argv[i].len);
	}
	free(s->workload_json);
	free(s->workload_text);
	s->workload_json = NULL;
	s->workload_text = NULL;
	if (json_failed(&j) || strbuf_failed(&sb)) {
		json_fini(&j);
		strbuf_fini(&sb);
		return -ENOMEM;
	}
	s->workload_json = j.sb.data;
	s->workload_json_len = j.sb.len;
	s->workload_text = sb.data;
	return 0;
}

static int session_render(struct session *s, const struct wire_hello *h)
{
	struct json j;

	json_init(&j);
	json_object_begin(&j);
	json_kv_uint(&j, "id", s->id);
	json_kv_strn(&j, "hostname", h->hostname.ptr, h->hostname.len);
	json_kv_strn(&j, "container_id", h->container_id.ptr, h->container_id.len);
	json_kv_strn(&j, "mode", h->mode.ptr, h->mode.len);
	json_kv_int(&j, "tracer_pid", h->tracer_pid);
	json_object_end(&j);
	free(s->session_json);
	if (json_failed(&j)) {
		json_fini(&j);
		return -ENOMEM;
	}
	/* The writer's buffer becomes ours. */
	s->session_json = j.sb.data;
	s->session_json_len = j.sb.len;
	return session_render_workload(s, h);
}

static void session_start_line(struct session *s, const struct wire_hello *h)
{
	uint64_t now = now_realtime_ns();

	if (!s->out)
		return;
	if (s->out->format == OUTPUT_TEXT) {
		text_line_begin(s, now);
		strbuf_puts(&s->text, "start hostname=");
		text_word(&s->text, h->hostname.ptr, h->hostname.len);
		strbuf_puts(&s->text, " mode=");
		text_word(&s->text, h->mode.ptr, h->mode.len);
		strbuf_printf(&s->text, " tracer_pid=%" PRId64 " tracer_version=",
			      h->tracer_pid);
		text_word(&s->text, h->tracer_version.ptr, h->tracer_version.len);
		if (h->container_id.len) {
			strbuf_puts(&s->text, " container_id=");
			text_word(&s->text, h->container_id.ptr, h->container_id.len);
		}
		strbuf_puts(&s->text, " argv:");
		for (uint32_t i = 0; i < h->argc; i++) {
			strbuf_putc(&s->text, ' ');
			text_word(&s->text, h->argv[i].ptr, h->argv[i].len);
		}
		if (s->resumed)
			strbuf_puts(&s->text, " (resumed)");
		text_line_end(s);
		return;
	}
	json_line_begin(s, "session_start", now);
	json_key(&s->j, "argv");
	json_array_begin(&s->j);
	for (uint32_t i = 0; i < h->argc; i++)
		json_strn(&s->j, h->argv[i].ptr, h->argv[i].len);
	json_array_end(&s->j);
	json_kv_strn(&s->j, "tracer_version", h->tracer_version.ptr,
		     h->tracer_version.len);
	if (s->resumed)
		json_kv_bool(&s->j, "resumed", true);
	json_line_end(s);
}

static void queue_hello_ack(msgpack_sbuffer *reply, uint64_t id, const char *error,
			    const uint8_t *secret)
{
	struct wire_hello_ack ack = {
		.version = WIRE_PROTOCOL_VERSION,
		.probe_version = wire_str_c(SENTRACE_VERSION),
		.session = id,
		.error = wire_str_c(error),
		.secret = { (const char *)secret, secret ? WIRE_SECRET_LEN : 0 },
	};
	msgpack_packer pk;
	size_t start;

	msgpack_packer_init(&pk, reply, msgpack_sbuffer_write);
	start = frame_begin(reply);
	wire_pack_hello_ack(&pk, &ack);
	frame_end(reply, start);
}

bool session_token_equal(const char *want, size_t want_len, const char *got,
			 size_t got_len)
{
	/* volatile: the compiler must not stop at the first difference. */
	volatile unsigned char diff = 0;

	if (want_len > SESSION_TOKEN_MAX)
		return false;
	diff |= (unsigned char)(want_len != got_len);
	for (size_t i = 0; i < SESSION_TOKEN_MAX; i++) {
		unsigned char a = i < want_len ? (unsigned char)want[i] : 0;
		unsigned char b = i < got_len ? (unsigned char)got[i] : 0;

		diff |= a ^ b;
	}
	return diff == 0;
}

/* Refuses a HELLO: an ACK with the error, counted, logged; then close. */
static int session_refuse(struct session *s, const char *err, const char *detail,
			  msgpack_sbuffer *reply)
{
	log_warn("%s: refusing tracer: %s%s%s", s->peer, err, detail ? ": " : "",
		 detail ? detail : "");
	snprintf(s->error, sizeof(s->error), "%s", err);
	s->state = SESSION_REFUSED;
	queue_hello_ack(reply, 0, err, NULL);
	return SESSION_CLOSE;
}

/* The HELLO passed (and its token, when one is required): the session. */
static int session_accept(struct session *s, const struct wire_hello *h,
			  msgpack_sbuffer *reply)
{
	int r;

	s->hostname = wire_strdup(h->hostname);
	s->mode = wire_strdup(h->mode);
	r = s->hostname && s->mode ? 0 : -ENOMEM;
	if (r == 0)
		r = tracer_registry_attach(s->env->tracers, h,
					   &s->totals->last_session_id, &s->ts,
					   &s->resumed);
	if (r == 0) {
		s->id = s->ts->id;
		s->procs = s->ts->procs;
		r = session_render(s, h);
	}
	if (r < 0) {
		session_detach(s);
		s->id = 0;
		session_protocol_error(s, "out of memory");
		return -ENOMEM;
	}
	s->totals->sessions++;
	s->state = SESSION_ACTIVE;
	queue_hello_ack(reply, s->id, "", s->ts->secret);
	if (h->resume_session && !s->resumed)
		log_info("%s: not resuming session %" PRIu64 ": unknown here, in use, "
			 "or not proven by its secret", s->peer, h->resume_session);
	log_info("%s: session %" PRIu64 " %s: host %s, %s, tracer pid %" PRId64,
		 s->peer, s->id, s->resumed ? "resumed" : "started", s->hostname,
		 s->mode, h->tracer_pid);
	session_start_line(s, h);
	if (s->resumed && s->ts->lost_ns) {
		struct lifealert_info in = {
			.kind = LIFEALERT_RESUMED,
			.silent_ns = now_monotonic_ns() - s->ts->lost_ns,
		};

		s->ts->lost_ns = 0;
		session_lifealert(s, &in);
	}
	return 0;
}

/*
 * With a token: the probe proves it first (CHALLENGE), then waits for the
 * tracer's proof (AUTH). The HELLO is kept as it came (at most
 * WIRE_FRAME_MAX_HANDSHAKE bytes) and decoded again then.
 */
static int session_challenge(struct session *s, const struct wire_hello *h,
			     const char *payload, size_t len, msgpack_sbuffer *reply)
{
	uint8_t proof[WIRE_SECRET_LEN];
	struct wire_challenge ch = {
		.nonce = { (const char *)s->nonce, sizeof(s->nonce) },
		.proof = { (const char *)proof, sizeof(proof) },
	};
	msgpack_packer pk;
	size_t start;
	int r;

	r = random_bytes(s->nonce, sizeof(s->nonce));
	s->hello_buf = r == 0 ? malloc(len) : NULL;
	if (!s->hello_buf) {
		session_protocol_error(s, "cannot make a challenge: %s",
				       strerror(r < 0 ? -r : ENOMEM));
		return r < 0 ? r : -ENOMEM;
	}
	memcpy(s->hello_buf, payload, len);
	s->hello_len = len;
	wire_auth_proof(s->env->token, s->env->token_len, WIRE_ROLE_PROBE, h,
			ch.nonce, proof);
	msgpack_packer_init(&pk, reply, msgpack_sbuffer_write);
	start = frame_begin(reply);
	wire_pack_challenge(&pk, &ch);
	frame_end(reply, start);
	explicit_bzero(proof, sizeof(proof));
	s->state = SESSION_CHALLENGED;
	return 0;
}

static int session_hello(struct session *s, const msgpack_object *root, int type,
			 const char *payload, size_t len, msgpack_sbuffer *reply)
{
	struct wire_hello h;
	char err[96];

	if (type != WIRE_HELLO) {
		session_protocol_error(s, "first frame is %s (type %d), not HELLO",
				       wire_type_name(type), type);
		return -EBADMSG;
	}
	if (wire_unpack_hello(root, &h) < 0) {
		session_protocol_error(s, "malformed HELLO");
		return -EBADMSG;
	}
	if (h.version != WIRE_PROTOCOL_VERSION) {
		snprintf(err, sizeof(err),
			 "unsupported protocol version %" PRIu32 " (probe speaks %d)",
			 h.version, WIRE_PROTOCOL_VERSION);
		s->totals->protocol_errors++;
		return session_refuse(s, err, NULL, reply);
	}
	if (s->env->token) {
		if (h.nonce.len != WIRE_SECRET_LEN) {
			s->totals->auth_failures++;
			return session_refuse(s, "authentication failed", "no token",
					      reply);
		}
		return session_challenge(s, &h, payload, len, reply);
	}
	if (h.nonce.len)
		return session_refuse(s, "this probe has no token",
				      "the tracer has one and wants it proven", reply);
	return session_accept(s, &h, reply);
}

/* The tracer's proof: the HELLO kept by session_challenge() is accepted. */
static int session_auth(struct session *s, const msgpack_object *root, int type,
			msgpack_sbuffer *reply)
{
	uint8_t want[WIRE_SECRET_LEN];
	const msgpack_object *hroot;
	struct wire_auth auth;
	struct wire_hello h;
	msgpack_unpacked up;
	int htype, r;
	bool ok;

	if (type != WIRE_AUTH || wire_unpack_auth(root, &auth) < 0) {
		session_protocol_error(s, "%s (type %d) where AUTH was due",
				       wire_type_name(type), type);
		return -EBADMSG;
	}
	msgpack_unpacked_init(&up);
	if (wire_decode(s->hello_buf, s->hello_len, &up, &hroot, &htype) < 0 ||
	    wire_unpack_hello(hroot, &h) < 0) {
		msgpack_unpacked_destroy(&up);
		session_protocol_error(s, "HELLO lost");
		return -EBADMSG;
	}
	wire_auth_proof(s->env->token, s->env->token_len, WIRE_ROLE_TRACER, &h,
			(struct wire_str){ (const char *)s->nonce, sizeof(s->nonce) },
			want);
	ok = auth.proof.len == sizeof(want) &&
	     mem_equal_ct(want, auth.proof.ptr, sizeof(want));
	explicit_bzero(want, sizeof(want));
	if (!ok) {
		msgpack_unpacked_destroy(&up);
		s->totals->auth_failures++;
		return session_refuse(s, "authentication failed", "wrong token", reply);
	}
	r = session_accept(s, &h, reply);
	msgpack_unpacked_destroy(&up);
	free(s->hello_buf);
	s->hello_buf = NULL;
	return r;
}

static void json_process(struct json *j, int64_t pid, const struct proc_entry *e)
{
	json_object_begin(j);
	json_kv_int(j, "pid", pid);
	if (e) {
		/* The kernel's current parent; ancestors are the creators. */
		if (e->cur_ppid > 0 || e->ppid > 0)
			json_kv_int(j, "ppid", e->cur_ppid > 0 ? e->cur_ppid : e->ppid);
		if (e->file)
			json_kv_str(j, "file", e->file);
		json_key(j, "argv");
		json_array_begin(j);
		for (uint32_t i = 0; i < e->argc; i++)
			json_str(j, e->argv[i]);
		json_array_end(j);
		if (e->argv_truncated)
			json_kv_bool(j, "argv_truncated", true);
	}
	json_object_end(j);
}

/*
 * The event as the tracer sent it, every key in wire order (the raw map's
 * pass-through: keys this probe does not know are kept; a second copy of a
 * key it read is not), then what the
 * probe adds: the errno name, the sequence number and the process.
 */
static void event_json_line(struct session *s, const struct event_record *ev,
			    uint64_t seq)
{
	const msgpack_object *m = ev->raw;
	bool has_error = false;

	json_line_begin(s, "event", ev->ts);
	json_key(&s->j, "event");
	json_object_begin(&s->j);
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object_kv *kv = &m->via.map.ptr[i];

		/* A repeated key: the log shows what the rules saw. */
		if (record_is_repeat(ev, i))
			continue;
		/* Any "error" key, whatever its type: never two in one object. */
		if (kv->key.type == MSGPACK_OBJECT_STR &&
		    kv->key.via.str.size == 5 &&
		    memcmp(kv->key.via.str.ptr, "error", 5) == 0)
			has_error = true;
		json_msgpack_key(&s->j, &kv->key);
		json_msgpack(&s->j, &kv->val);
	}
	if (ev->has_ret && ev->ret < 0 && ev->ret >= -4095 && !has_error) {
		char nb[16];

		json_kv_str(&s->j, "error", errno_name((int)-ev->ret, nb));
	}
	if (seq)
		json_kv_uint(&s->j, "seq", seq);
	json_object_end(&s->j);
	if (ev->has_pid) {
		json_key(&s->j, "process");
		json_process(&s->j, ev->pid, proc_table_get(s->procs, ev->pid));
	}
	json_line_end(s);
}

static void stats_add(struct record_stats *to, const struct record_stats *d)
{
	to->bad_type += d->bad_type;
	to->oversize += d->oversize;
	to->duplicate_key += d->duplicate_key;
	to->no_memory += d->no_memory;
}

/* Decodes one map into s->rec, counting its invalid values; < 0: not a map. */
static int session_decode(struct session *s, const msgpack_object *m, bool snapshot)
{
	struct record_stats d = { 0 };
	int n;

	n = snapshot ? record_decode_snapshot(&s->rec, m, &d)
		     : record_decode(&s->rec, m, &d);
	if (n > 0) {
		stats_add(&s->decode, &d);
		stats_add(&s->totals->decode, &d);
		log_debug("session %" PRIu64 ": %d invalid values in %s", s->id, n,
			  snapshot ? "a snapshot" : "an event");
	}
	return n;
}

/*
 * One event: decoded once into s->rec, which everything after reads: the
 * resolver, the event log line, detection, then exit pruning.
 */
static void session_event(struct session *s, const msgpack_object *m,
			  uint64_t seq, msgpack_sbuffer *reply)
{
	struct event_record *ev = &s->rec;
	char name[64] = "";

	if (session_decode(s, m, false) < 0)
		return;
	if (!ev->has_ts)
		ev->ts = now_realtime_ns();

	/* The text view names the process as it was before this event. */
	if (s->out && s->out->format == OUTPUT_TEXT && ev->has_pid)
		snprintf(name, sizeof(name), "%s",
			 proc_entry_name(proc_table_get(s->procs, ev->pid)));
	if (ev->has_pid)
		resolver_apply_event(s->procs, ev);

	if (s->out && s->out->format == OUTPUT_TEXT) {
		strbuf_reset(&s->text);
		text_time(&s->text, ev->ts);
		strbuf_putc(&s->text, ' ');
		if (ev->has_pid) {
			text_word(&s->text, name, strlen(name));
			strbuf_printf(&s->text, "[%" PRId64, ev->pid);
			if (ev->has_tid && ev->tid != ev->pid)
				strbuf_printf(&s->text, "/%" PRId64, ev->tid);
			strbuf_puts(&s->text, "] ");
		}
		text_event(&s->text, ev);
		text_line_end(s);
	} else if (s->out) {
		event_json_line(s, ev, seq);
	}

	if (s->env->engine) {
		struct engine_source src = {
			.ts = s->ts,
			.session_json = s->session_json,
			.session_json_len = s->session_json_len,
			.hostname = s->hostname,
			.reply = reply,
		};

		engine_eval(s->env->engine, &src, ev,
			    ev->has_pid ? proc_table_get(s->procs, ev->pid) : NULL);
	}

	if (ev->has_pid && ev->type == RULES_EV_EXIT)
		proc_table_exit(s->procs, ev->pid);
	s->events++;
	s->ts->events++;
	s->totals->events++;
}

/*
 * Sequence numbers first .. last never arrived: the tracer dropped them
 * (its STATS "drops" says when, see session_drops()), or something lost
 * them on the way. Counted and logged either way.
 */
static void session_gap(struct session *s, uint64_t first, uint64_t last)
{
	struct tracer_state *ts = s->ts;
	uint64_t now = now_monotonic_ns();

	ts->missing += last - first + 1;
	/* A tracer under pressure (or a hostile client) may gap every frame:
	 * at most SESSION_GAP_LOG_BURST lines a second; the next says when
	 * some were left out (the count of missing events is always whole). */
	if (ts->gap_log_ns && now - ts->gap_log_ns >= NSEC_PER_SEC)
		ts->gap_log_tokens = SESSION_GAP_LOG_BURST;
	if (!ts->gap_log_ns)
		ts->gap_log_tokens = SESSION_GAP_LOG_BURST;
	if (ts->gap_log_tokens == 0) {
		ts->gaps_unlogged++;
		return;
	}
	ts->gap_log_tokens--;
	ts->gap_log_ns = now;
	log_warn("session %" PRIu64 ": events seq %" PRIu64 "-%" PRIu64
		 " (%" PRIu64 ") never arrived (%" PRIu64 " missing in all%s)", s->id,
		 first, last, last - first + 1, ts->missing,
		 ts->gaps_unlogged ? "; some gaps were not logged" : "");
	ts->gaps_unlogged = 0;
}

static int session_events(struct session *s, const msgpack_object *root,
			  msgpack_sbuffer *reply)
{
	const msgpack_object *evs = wire_map_get(root, "events");
	uint64_t seq = 0;
	bool has_seq;

	if (!evs || evs->type != MSGPACK_OBJECT_ARRAY) {
		session_protocol_error(s, "EVENTS without an events array");
		return -EBADMSG;
	}
	has_seq = wire_map_u64(root, "seq", &seq) && seq > 0;
	if (has_seq)
		s->ack_due = true;
	for (uint32_t i = 0; i < evs->via.array.size; i++) {
		const msgpack_object *ev = &evs->via.array.ptr[i];
		uint64_t n = has_seq ? seq + i : 0;

		/* Sent again after a reconnect: processed already. */
		if (has_seq && n <= s->ts->last_seq) {
			s->duplicates++;
			s->ts->duplicates++;
			s->totals->duplicates++;
			continue;
		}
		if (has_seq && s->ts->last_seq && n > s->ts->last_seq + 1)
			session_gap(s, s->ts->last_seq + 1, n - 1);
		if (has_seq)
			s->ts->last_seq = n;
		if (ev->type != MSGPACK_OBJECT_MAP) {
			s->bad_events++;
			log_debug("session %" PRIu64 ": skipping an event that is not a map",
				  s->id);
			continue;
		}
		session_event(s, ev, n, reply);
	}
	return 0;
}

void session_flush(struct session *s, msgpack_sbuffer *reply)
{
	struct wire_ack ack;
	msgpack_packer pk;
	size_t start;

	if (!s->ack_due || !s->ts || s->state != SESSION_ACTIVE)
		return;
	s->ack_due = false;
	ack.seq = s->ts->last_seq + 1;
	msgpack_packer_init(&pk, reply, msgpack_sbuffer_write);
	start = frame_begin(reply);
	wire_pack_ack(&pk, &ack);
	frame_end(reply, start);
}

/*
 * A snapshot as sent, in wire order, each key the decoder read once (the
 * value the resolver used): s->rec holds the snapshot's decode.
 */
static void snapshot_json(struct session *s, const msgpack_object *p)
{
	json_object_begin(&s->j);
	for (uint32_t i = 0; i < p->via.map.size; i++) {
		if (record_is_repeat(&s->rec, i))
			continue;
		json_msgpack_key(&s->j, &p->via.map.ptr[i].key);
		json_msgpack(&s->j, &p->via.map.ptr[i].val);
	}
	json_object_end(&s->j);
}

static void snapshot_text(struct session *s, const msgpack_object *p)
{
	bool first = true;

	for (uint32_t i = 0; i < p->via.map.size; i++) {
		if (record_is_repeat(&s->rec, i))
			continue;
		if (!first)
			strbuf_putc(&s->text, ',');
		first = false;
		text_msgpack(&s->text, &p->via.map.ptr[i].key);
		strbuf_putc(&s->text, '=');
		text_msgpack(&s->text, &p->via.map.ptr[i].val);
	}
}

static int session_processes(struct session *s, const msgpack_object *root)
{
	const msgpack_object *ps = wire_map_get(root, "processes");
	uint64_t now = now_realtime_ns();

	if (!ps || ps->type != MSGPACK_OBJECT_ARRAY) {
		session_protocol_error(s, "PROCESS without a processes array");
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < ps->via.array.size; i++) {
		const msgpack_object *p = &ps->via.array.ptr[i];

		if (session_decode(s, p, true) < 0)
			continue;
		resolver_apply_snapshot(s->procs, &s->rec);
		if (!s->out)
			continue;
		if (s->out->format == OUTPUT_TEXT) {
			text_line_begin(s, now);
			strbuf_puts(&s->text, "process {");
			snapshot_text(s, p);
			strbuf_putc(&s->text, '}');
			text_line_end(s);
		} else {
			json_line_begin(s, "process", now);
			json_key(&s->j, "process");
			snapshot_json(s, p);
			json_line_end(s);
		}
	}
	/* Snapshots list children before parents as often as not. */
	resolver_recount(s->procs);
	return 0;
}

static void session_command_result(struct session *s, const msgpack_object *root)
{
	struct wire_command_result res;

	if (wire_unpack_command_result(root, &res) < 0) {
		log_warn("session %" PRIu64 ": malformed COMMAND_RESULT", s->id);
		return;
	}
	log_debug("session %" PRIu64 ": COMMAND_RESULT %" PRIu64 " pid %" PRId64
		  " %s", s->id, res.id, res.pid, res.done ? "done" : "failed");
	if (s->env->engine)
		engine_command_result(s->env->engine, s->ts, &res);
}

/*
 * STATS "drops": each run of events the tracer dropped, with its sequence
 * and time range, becomes a delivery alert, so that an analyst knows which
 * window is missing. Bounded by the tracer (16 per STATS); checked here.
 */
static void session_drops(struct session *s, const msgpack_object *drops)
{
	if (!drops || drops->type != MSGPACK_OBJECT_ARRAY)
		return;
	for (uint32_t i = 0; i < drops->via.array.size && i < SESSION_DROPS_MAX; i++) {
		const msgpack_object *d = &drops->via.array.ptr[i];
		struct lifealert_info in = { .kind = LIFEALERT_DROPPED };

		if (d->type != MSGPACK_OBJECT_MAP ||
		    !wire_map_u64(d, "count", &in.count) || in.count == 0)
			continue;
		if (!wire_map_u64(d, "seq_first", &in.seq_first) ||
		    !wire_map_u64(d, "seq_last", &in.seq_last) ||
		    in.seq_last < in.seq_first)
			in.seq_first = in.seq_last = 0;
		if (!wire_map_u64(d, "ts_first", &in.ts_first) ||
		    !wire_map_u64(d, "ts_last", &in.ts_last) || in.ts_last < in.ts_first)
			in.ts_first = in.ts_last = 0;
		s->ts->drop_ranges++;
		session_lifealert(s, &in);
	}
}

static void session_stats(struct session *s, const msgpack_object *root)
{
	static const char *const keys[] = { "counters", "dropped" };
	const msgpack_object *dropped = wire_map_get(root, "dropped"), *drops;
	uint64_t now = now_realtime_ns();

	/* The tracer's counts are over its life: keep the latest sum. */
	if (dropped && dropped->type == MSGPACK_OBJECT_MAP) {
		uint64_t sum = 0;

		for (uint32_t i = 0; i < dropped->via.map.size; i++)
			if (dropped->via.map.ptr[i].val.type ==
			    MSGPACK_OBJECT_POSITIVE_INTEGER)
				sum += dropped->via.map.ptr[i].val.via.u64;
		s->ts->dropped = sum;
	}
	session_drops(s, wire_map_get(root, "drops"));
	if (!s->out)
		return;
	if (s->out->format == OUTPUT_TEXT) {
		text_line_begin(s, now);
		strbuf_puts(&s->text, "stats");
	} else {
		json_line_begin(s, "stats", now);
	}
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const msgpack_object *m = wire_map_get(root, keys[i]);

		if (s->out->format == OUTPUT_TEXT) {
			strbuf_printf(&s->text, " %s=", keys[i]);
			if (m)
				text_msgpack(&s->text, m);
			else
				strbuf_puts(&s->text, "{}");
			continue;
		}
		json_key(&s->j, keys[i]);
		if (m && m->type == MSGPACK_OBJECT_MAP) {
			json_msgpack(&s->j, m);
		} else {
			json_object_begin(&s->j);
			json_object_end(&s->j);
		}
	}
	drops = wire_map_get(root, "drops");
	if (drops && drops->type == MSGPACK_OBJECT_ARRAY) {
		if (s->out->format == OUTPUT_TEXT) {
			strbuf_puts(&s->text, " drops=");
			text_msgpack(&s->text, drops);
		} else {
			json_key(&s->j, "drops");
			json_msgpack(&s->j, drops);
		}
	}
	if (s->out->format == OUTPUT_TEXT)
		text_line_end(s);
	else
		json_line_end(s);
}

int session_handle_frame(struct session *s, const char *payload, size_t len,
			 msgpack_sbuffer *reply)
{
	const msgpack_object *root;
	struct wire_goodbye bye;
	msgpack_unpacked up;
	int type, r = 0;

	if (s->state == SESSION_REFUSED || s->state == SESSION_ENDED)
		return 0;
	msgpack_unpacked_init(&up);
	if (wire_decode(payload, len, &up, &root, &type) < 0) {
		session_protocol_error(s, "malformed payload (%zu bytes)", len);
		r = -EBADMSG;
		goto out;
	}
	if (s->state == SESSION_NEW) {
		r = session_hello(s, root, type, payload, len, reply);
		goto out;
	}
	if (s->state == SESSION_CHALLENGED) {
		r = session_auth(s, root, type, reply);
		goto out;
	}
	/* Values out before anything reads the frame (redact.h). */
	redact_frame_env(s->env->env_keep, root, type);
	switch (type) {
	case WIRE_EVENTS:
		r = session_events(s, root, reply);
		break;
	case WIRE_COMMAND_RESULT:
		session_command_result(s, root);
		break;
	case WIRE_PROCESS:
		r = session_processes(s, root);
		break;
	case WIRE_STATS:
		session_stats(s, root);
		break;
	case WIRE_GOODBYE:
		wire_unpack_goodbye(root, &bye);
		s->goodbye = true;
		s->exit_status = bye.exit_status;
		log_info("session %" PRIu64 ": goodbye (%.*s), exit status %" PRId32,
			 s->id, (int)bye.reason.len, bye.reason.ptr, bye.exit_status);
		break;
	case WIRE_HELLO:
		session_protocol_error(s, "second HELLO");
		r = -EBADMSG;
		break;
	default:
		/* Newer tracers may send types we do not know; so may broken
		 * ones send probe-to-tracer types. Neither ends the session. */
		s->unknown_messages++;
		s->totals->unknown_messages++;
		log_debug("session %" PRIu64 ": skipping message type %d", s->id, type);
		break;
	}
out:
	msgpack_unpacked_destroy(&up);
	return r;
}

static void session_lifealert(struct session *s, struct lifealert_info *in)
{
	if (!s->env->lifealerts)
		return;
	in->session = s->id;
	in->session_json = s->session_json;
	in->session_json_len = s->session_json_len;
	in->workload_json = s->workload_json;
	in->workload_json_len = s->workload_json_len;
	in->workload_text = s->workload_text;
	in->hostname = s->hostname;
	lifealert_raise(s->env->lifealerts, in);
}

void session_silent(struct session *s, uint64_t silent_ns)
{
	struct lifealert_info in = { .kind = LIFEALERT_SILENT, .silent_ns = silent_ns };

	if (s->state != SESSION_ACTIVE || s->silent)
		return;
	s->silent = true;
	s->totals->silent_sessions++;
	session_lifealert(s, &in);
}

void session_heard(struct session *s, uint64_t silent_ns)
{
	struct lifealert_info in = { .kind = LIFEALERT_RESUMED, .silent_ns = silent_ns };

	if (!s->silent)
		return;
	s->silent = false;
	session_lifealert(s, &in);
}

void session_end(struct session *s, const char *reason)
{
	struct tracer_state *ts = s->ts;
	uint64_t now = now_realtime_ns();

	if (s->state != SESSION_ACTIVE)
		return;
	s->state = SESSION_ENDED;
	log_info("session %" PRIu64 " ended: %s, %" PRIu64 " events, %" PRIu64
		 " duplicates", s->id, reason, s->events, s->duplicates);
	/* The probe stopping is no news about the tracer. */
	if (!s->goodbye && strcmp(reason, "shutdown") != 0) {
		struct lifealert_info in = { .kind = LIFEALERT_LOST, .reason = reason };

		s->totals->lost_sessions++;
		session_lifealert(s, &in);
		/* Closed by a "resumed" if this tracer comes back. */
		if (ts)
			ts->lost_ns = now_monotonic_ns();
	}
	if (!s->out) {
		session_detach(s);
		return;
	}
	if (s->out->format == OUTPUT_TEXT) {
		text_line_begin(s, now);
		strbuf_puts(&s->text, "end reason=");
		text_word(&s->text, reason, strlen(reason));
		strbuf_printf(&s->text, " events=%" PRIu64 " unknown_messages=%" PRIu64,
			      ts->events, s->unknown_messages);
		if (s->goodbye)
			strbuf_printf(&s->text, " exit_status=%" PRId32, s->exit_status);
		strbuf_printf(&s->text, " duplicates=%" PRIu64 " dropped=%" PRIu64
			      " alerts=%" PRIu64 " alerts_suppressed=%" PRIu64,
			      ts->duplicates, ts->dropped, ts->alerts, ts->suppressed);
		if (ts->missing)
			strbuf_printf(&s->text, " missing=%" PRIu64, ts->missing);
		if (ts->procs->evicted)
			strbuf_printf(&s->text, " processes_evicted=%" PRIu64,
				      ts->procs->evicted);
		if (record_stats_total(&s->decode))
			strbuf_printf(&s->text, " invalid_values=%" PRIu64,
				      record_stats_total(&s->decode));
		text_line_end(s);
		session_detach(s);
		return;
	}
	json_line_begin(s, "session_end", now);
	json_kv_str(&s->j, "reason", reason);
	json_kv_uint(&s->j, "events", ts->events);
	json_kv_uint(&s->j, "unknown_messages", s->unknown_messages);
	if (s->goodbye)
		json_kv_int(&s->j, "exit_status", s->exit_status);
	json_kv_uint(&s->j, "duplicates", ts->duplicates);
	json_kv_uint(&s->j, "dropped", ts->dropped);
	json_kv_uint(&s->j, "alerts", ts->alerts);
	json_kv_uint(&s->j, "alerts_suppressed", ts->suppressed);
	json_kv_uint(&s->j, "connections", ts->connects);
	if (ts->missing)
		json_kv_uint(&s->j, "missing", ts->missing);
	if (ts->procs->evicted)
		json_kv_uint(&s->j, "processes_evicted", ts->procs->evicted);
	if (record_stats_total(&s->decode))
		json_kv_uint(&s->j, "invalid_values", record_stats_total(&s->decode));
	json_line_end(s);
	session_detach(s);
}
