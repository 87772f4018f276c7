/* SPDX-License-Identifier: Apache-2.0 */
/* The probe client; see client.h for the lifecycle. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "hmac.h"
#include "log.h"

#define BACKOFF_MIN_NS   (50 * NSEC_PER_MSEC)
#define BACKOFF_MAX_NS   (2 * NSEC_PER_SEC)
/* One attempt (connect, HELLO, the answers) gets this long: a peer that
 * accepts and says nothing (a fake probe, a wedged one) must not hold the
 * tracer away from the real probe for good. */
#define ATTEMPT_TIMEOUT_MS 5000
/* An EVENTS frame is sealed when it grows past this, or BATCH_DELAY_MS
 * after its first event: one write per batch, not per event, and still
 * well inside the probe's latency budget. */
#define BATCH_SEAL_BYTES (256u * 1024)
#define BATCH_DELAY_MS   2
/* Lifecycle events may use the queue up to this multiple of its limit. */
#define LIFECYCLE_SLACK  2

/*
 * fixmap(3) "type" 3 "seq" uint64(seq) "events" array32(n): the prefix of
 * every EVENTS frame, with fixed-width seq and count patched at sealing.
 */
static const unsigned char events_prefix[] = {
	0x83, 0xa4, 't', 'y', 'p', 'e', WIRE_EVENTS,
	0xa3, 's', 'e', 'q', 0xcf, 0, 0, 0, 0, 0, 0, 0, 0,
	0xa6, 'e', 'v', 'e', 'n', 't', 's', 0xdd, 0, 0, 0, 0,
};
#define EVENTS_HDR (WIRE_FRAME_HEADER + sizeof(events_prefix))
#define SEQ_AT     (WIRE_FRAME_HEADER + 12)
/* Bytes handed to libuv at once: a probe that stops reading must not make
 * libuv's own write queue grow without bound. */
#define INFLIGHT_MAX (1u << 20)

enum frame_kind {
	FRAME_EVENTS,       /* kept until acknowledged */
	FRAME_CONTROL,      /* STATS, GOODBYE: sent again if the write failed */
	FRAME_PROCESS,      /* HELLO, snapshots: a new one follows every handshake */
};

struct client_frame {
	struct client_frame *next;
	uv_write_t req;
	struct client *c;
	enum frame_kind kind;
	uint64_t seq;                /* of the first event (EVENTS) */
	uint32_t events;
	size_t len;
	char *data;
};

struct conn {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	uv_connect_t req;
	struct client *c;
};

static void client_connect(struct client *c);
static void flush(struct client *c);

static void frame_free(struct client *c, struct client_frame *f)
{
	c->held_bytes -= f->len;
	c->held_frames--;
	free(f->data);
	free(f);
}

static struct client_frame *frame_from_sbuffer(struct client *c, msgpack_sbuffer *sb,
					       enum frame_kind kind)
{
	struct client_frame *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->c = c;
	f->kind = kind;
	f->len = sb->size;
	f->data = msgpack_sbuffer_release(sb);
	c->held_bytes += f->len;
	c->held_frames++;
	return f;
}

/* One control frame: build_begin gives the packer, build_end the frame. */
struct frame_build {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t start;
};

static msgpack_packer *build_begin(struct frame_build *b)
{
	msgpack_sbuffer_init(&b->sb);
	msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
	b->start = frame_begin(&b->sb);
	return &b->pk;
}

static struct client_frame *build_end(struct client *c, struct frame_build *b,
				      enum frame_kind kind)
{
	struct client_frame *f;

	frame_end(&b->sb, b->start);
	f = frame_from_sbuffer(c, &b->sb, kind);
	msgpack_sbuffer_destroy(&b->sb);
	return f;
}

static void list_push_tail(struct client_list *l, struct client_frame *f)
{
	f->next = NULL;
	if (l->tail)
		l->tail->next = f;
	else
		l->head = f;
	l->tail = f;
	l->count++;
}

static void list_push_front(struct client_list *l, struct client_frame *f)
{
	f->next = l->head;
	l->head = f;
	if (!l->tail)
		l->tail = f;
	l->count++;
}

static struct client_frame *list_pop(struct client_list *l)
{
	struct client_frame *f = l->head;

	if (f) {
		l->head = f->next;
		if (!l->head)
			l->tail = NULL;
		l->count--;
		f->next = NULL;
	}
	return f;
}

/* Keeps `unacked` in sequence order: failed writes come back out of order. */
static void list_insert_by_seq(struct client_list *l, struct client_frame *f)
{
	struct client_frame **pp = &l->head;

	while (*pp && (*pp)->seq < f->seq)
		pp = &(*pp)->next;
	f->next = *pp;
	*pp = f;
	if (!f->next)
		l->tail = f;
	l->count++;
}

static void batch_begin(struct client *c)
{
	static const char zero[WIRE_FRAME_HEADER];

	msgpack_sbuffer_write(&c->batch, zero, sizeof(zero));
	msgpack_sbuffer_write(&c->batch, (const char *)events_prefix,
			      sizeof(events_prefix));
	c->batch_events = 0;
}

static void put_be(unsigned char *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
}

/* Events seq_first .. seq_first + n - 1 were dropped just now. */
static void record_drop(struct client *c, uint64_t seq_first, uint64_t n)
{
	struct client_drop_range *d = c->ndrops ? &c->drops[c->ndrops - 1] : NULL;
	uint64_t now = now_realtime_ns();

	if (!d || (d->seq_last + 1 != seq_first && c->ndrops < CLIENT_DROP_RANGES)) {
		d = &c->drops[c->ndrops++];
		d->seq_first = seq_first;
		d->count = 0;
		d->ts_first = now;
	}
	d->seq_last = seq_first + n - 1;
	d->count += n;
	d->ts_last = now;
}

static void seal_batch(struct client *c)
{
	struct client_frame *f;
	uint64_t first;

	if (c->batch_events == 0)
		return;
	uv_timer_stop(&c->batch_timer);
	first = c->next_seq - c->batch_events;
	put_be((unsigned char *)c->batch.data + SEQ_AT, first, 8);
	put_be((unsigned char *)c->batch.data + EVENTS_HDR - 4, c->batch_events, 4);
	frame_end(&c->batch, 0);
	f = frame_from_sbuffer(c, &c->batch, FRAME_EVENTS);
	if (!f) {
		/* Out of memory: these events are gone, and counted. */
		c->events_dropped += c->batch_events;
		record_drop(c, first, c->batch_events);
		c->batch.size = 0;
	} else {
		f->seq = first;
		f->events = c->batch_events;
		list_push_tail(&c->queue, f);
	}
	batch_begin(c);
}

static void batch_timer_cb(uv_timer_t *t)
{
	struct client *c = t->data;

	seal_batch(c);
	flush(c);
}

void client_emit(struct client *c, const struct evbuf *e)
{
	size_t limit = c->max_bytes, flimit = c->max_frames;
	size_t used = c->held_bytes + c->batch.size;

	c->events_produced++;
	if (ev_kind_is_lifecycle(e->kind)) {
		limit *= LIFECYCLE_SLACK;
		flimit *= LIFECYCLE_SLACK;
	}
	if (used + e->sb.size > limit || c->held_frames >= flimit ||
	    c->state == CLIENT_DONE) {
		/*
		 * The event keeps its sequence number, so the probe sees the
		 * gap; a frame's events are consecutive, so the batch so far
		 * goes out first.
		 */
		if (c->batch_events) {
			seal_batch(c);
			flush(c);
		}
		record_drop(c, c->next_seq++, 1);
		c->events_dropped++;
		c->dropped[e->kind]++;
		return;
	}
	msgpack_sbuffer_write(&c->batch, e->sb.data, e->sb.size);
	if (c->batch_events++ == 0)
		uv_timer_start(&c->batch_timer, batch_timer_cb, BATCH_DELAY_MS, 0);
	c->events_queued++;
	c->next_seq++;
	if (c->batch.size >= BATCH_SEAL_BYTES)
		seal_batch(c);
}

static void queue_stats(struct client *c)
{
	struct frame_build b;
	msgpack_packer *pk = build_begin(&b);
	struct client_frame *f;
	uint32_t ndropped = 0;

	msgpack_pack_map(pk, c->ndrops ? 4 : 3);
	wire_pack_kv_u64(pk, "type", WIRE_STATS);
	wire_pack_str(pk, "counters");
	if (c->pack_stats)
		c->pack_stats(c, pk);
	else
		msgpack_pack_map(pk, 0);
	for (int k = 0; k < EV_KIND_MAX; k++)
		ndropped += c->dropped[k] != 0;
	wire_pack_str(pk, "dropped");
	msgpack_pack_map(pk, ndropped);
	for (int k = 0; k < EV_KIND_MAX; k++)
		if (c->dropped[k])
			wire_pack_kv_u64(pk, ev_kind_name(k), c->dropped[k]);
	if (c->ndrops) {
		wire_pack_str(pk, "drops");
		msgpack_pack_array(pk, c->ndrops);
		for (unsigned i = 0; i < c->ndrops; i++) {
			const struct client_drop_range *d = &c->drops[i];

			msgpack_pack_map(pk, 5);
			wire_pack_kv_u64(pk, "seq_first", d->seq_first);
			wire_pack_kv_u64(pk, "seq_last", d->seq_last);
			wire_pack_kv_u64(pk, "count", d->count);
			wire_pack_kv_u64(pk, "ts_first", d->ts_first);
			wire_pack_kv_u64(pk, "ts_last", d->ts_last);
		}
		/* Reported: a STATS frame is sent again if its write fails. */
		c->ndrops = 0;
	}
	f = build_end(c, &b, FRAME_CONTROL);
	if (f)
		list_push_tail(&c->queue, f);
}

void client_push_front(struct client *c, msgpack_sbuffer *sb)
{
	struct client_frame *f = frame_from_sbuffer(c, sb, FRAME_PROCESS);

	if (f)
		list_push_front(&c->queue, f);
}

void client_send_command_result(struct client *c, const struct wire_command_result *r)
{
	struct frame_build b;
	struct client_frame *f;

	wire_pack_command_result(build_begin(&b), r);
	f = build_end(c, &b, FRAME_PROCESS);
	if (f)
		list_push_front(&c->queue, f);
	flush(c);
}

void client_send_stats(struct client *c)
{
	seal_batch(c);
	queue_stats(c);
	flush(c);
}

static void conn_close_cb(uv_handle_t *h)
{
	free(h->data);
}

static void drop_stream(struct client *c)
{
	if (c->stream) {
		uv_read_stop(c->stream);
		if (!uv_is_closing((uv_handle_t *)c->stream))
			uv_close((uv_handle_t *)c->stream, conn_close_cb);
		c->stream = NULL;
	}
	frame_reader_free(&c->reader);
}

static void finish_done(struct client *c)
{
	uint64_t lost = client_undelivered(c);

	drop_stream(c);
	uv_timer_stop(&c->timer);
	if (c->finish_timer.loop)
		uv_timer_stop(&c->finish_timer);
	c->state = CLIENT_DONE;
	log_info("events: %llu produced, %llu dropped, %llu acknowledged, "
		 "%llu sent again after a reconnect; %llu connection(s)",
		 (unsigned long long)c->events_produced,
		 (unsigned long long)c->events_dropped,
		 (unsigned long long)c->events_acked,
		 (unsigned long long)c->events_resent,
		 (unsigned long long)c->connects);
	if (c->fake_probes || c->refusals)
		log_warn("%llu peer(s) at %s could not prove the token, %llu "
			 "reconnect(s) were refused", (unsigned long long)c->fake_probes,
			 c->addr_str, (unsigned long long)c->refusals);
	if (lost)
		log_warn("%llu event(s) were not delivered to the probe at %s "
			 "(%llu dropped because the queue was full, the rest "
			 "not acknowledged)", (unsigned long long)lost,
			 c->addr_str, (unsigned long long)c->events_dropped);
	if (c->on_done)
		c->on_done(c);
}

static void retry_cb(uv_timer_t *t)
{
	struct client *c = t->data;

	if (c->finishing && c->state != CLIENT_IDLE)
		return;
	if (c->state == CLIENT_IDLE)
		client_connect(c);
}

static void connection_lost(struct client *c, int err);

static void attempt_timeout_cb(uv_timer_t *t)
{
	struct client *c = t->data;

	if (c->state != CLIENT_CONNECTING && c->state != CLIENT_HANDSHAKE)
		return;
	log_warn("no handshake with %s within %d ms; trying again", c->addr_str,
		 ATTEMPT_TIMEOUT_MS);
	connection_lost(c, UV_ETIMEDOUT);
}

static void schedule_retry(struct client *c)
{
	uint64_t delay = c->backoff_ns;
	/* ±25% jitter so that many tracers do not reconnect in step. */
	uint64_t jitter = delay / 2 ? (uint64_t)rand() % (delay / 2) : 0;

	delay = delay - delay / 4 + jitter;
	c->backoff_ns = c->backoff_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS
							  : c->backoff_ns * 2;
	c->state = CLIENT_IDLE;
	uv_timer_start(&c->timer, retry_cb, delay / NSEC_PER_MSEC + 1, 0);
}

static void connection_lost(struct client *c, int err)
{
	bool was_ready = c->state == CLIENT_READY;

	c->last_error = err;
	drop_stream(c);
	if (c->fatal) {
		finish_done(c);
		return;
	}
	if (was_ready)
		log_warn("connection to the probe at %s lost: %s; reconnecting",
			 c->addr_str, uv_strerror(err));
	else
		log_debug("probe at %s: %s", c->addr_str, uv_strerror(err));
	schedule_retry(c);
}

static void write_cb(uv_write_t *req, int status)
{
	struct client_frame *f = req->data;
	struct client *c = f->c;

	c->inflight_frames--;
	c->inflight_bytes -= f->len;
	if (status == 0) {
		c->frames_sent++;
		c->bytes_sent += f->len;
	}
	if (f->kind == FRAME_EVENTS) {
		/* Kept until acknowledged, sent or not: a failed write is
		 * sent again, in order, after the next handshake. */
		if (status == 0)
			list_push_tail(&c->unacked, f);
		else
			list_insert_by_seq(&c->unacked, f);
	} else if (status < 0 && f->kind == FRAME_CONTROL) {
		list_push_tail(&c->queue, f);
	} else {
		frame_free(c, f);
	}
	if (status == 0)
		flush(c);
}

static int write_frame(struct client *c, struct client_frame *f)
{
	uv_buf_t buf = uv_buf_init(f->data, (unsigned)f->len);
	int r;

	/* f (and so buf) lives until write_cb. */
	f->req.data = f;
	r = uv_write(&f->req, c->stream, &buf, 1, write_cb);
	if (r < 0) {
		list_push_front(&c->queue, f);
		return r;
	}
	c->inflight_frames++;
	c->inflight_bytes += f->len;
	return 0;
}

/* Everything the probe acknowledged is done with. */
static void on_ack(struct client *c, uint64_t seq)
{
	while (c->unacked.head &&
	       c->unacked.head->seq + c->unacked.head->events <= seq) {
		struct client_frame *f = list_pop(&c->unacked);

		c->events_acked += f->events;
		frame_free(c, f);
	}
}

/* After a handshake: what the last connection did not get acknowledged
 * goes first, ahead of newer frames. */
static void requeue_unacked(struct client *c)
{
	struct client_list tmp = c->unacked;

	if (!tmp.head)
		return;
	for (struct client_frame *f = tmp.head; f; f = f->next)
		c->events_resent += f->events;
	tmp.tail->next = c->queue.head;
	c->queue.head = tmp.head;
	if (!c->queue.tail)
		c->queue.tail = tmp.tail;
	c->queue.count += tmp.count;
	memset(&c->unacked, 0, sizeof(c->unacked));
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	/* The probe closes once it has processed everything: see read_cb. */
}

static void flush(struct client *c)
{
	if (c->state != CLIENT_READY || !c->stream)
		return;
	while (c->queue.head && c->inflight_bytes < INFLIGHT_MAX) {
		struct client_frame *f = list_pop(&c->queue);

		if (write_frame(c, f) < 0) {
			connection_lost(c, UV_EPIPE);
			return;
		}
	}
	if (c->finishing && c->goodbye_queued && !c->queue.head &&
	    c->inflight_frames == 0 && c->shutdown_req.handle == NULL) {
		c->shutdown_req.data = c;
		if (uv_shutdown(&c->shutdown_req, c->stream, shutdown_cb) < 0)
			finish_done(c);
	}
}

static void check_cb(uv_check_t *h)
{
	struct client *c = h->data;

	/* Lifecycle and control frames wait for no timer. */
	if (c->queue.head)
		flush(c);
}

/* The connection's peer is not (or no longer) the probe we want: try again. */
static void handshake_failed(struct client *c, int err)
{
	c->handshake_failed = true;
	c->last_error = err;
}

static void send_auth(struct client *c, const struct wire_challenge *ch)
{
	uint8_t proof[WIRE_SECRET_LEN];
	struct wire_auth auth = { { (const char *)proof, sizeof(proof) } };
	struct frame_build b;
	struct client_frame *f;

	wire_auth_proof(c->token, c->token_len, WIRE_ROLE_TRACER, &c->hello,
			ch->nonce, proof);
	wire_pack_auth(build_begin(&b), &auth);
	explicit_bzero(proof, sizeof(proof));
	f = build_end(c, &b, FRAME_PROCESS);
	if (!f) {
		handshake_failed(c, UV_ENOMEM);
	} else if (write_frame(c, f) < 0) {
		frame_free(c, list_pop(&c->queue));
		handshake_failed(c, UV_EPIPE);
	}
}

/*
 * The probe's half of the mutual authentication. Whoever cannot prove the
 * token gets nothing more than the HELLO it already has: no AUTH, no event.
 */
static void on_challenge(struct client *c, const msgpack_object *root)
{
	uint8_t want[WIRE_SECRET_LEN];
	struct wire_challenge ch;
	bool ok;

	if (wire_unpack_challenge(root, &ch) < 0) {
		log_warn("malformed CHALLENGE from %s", c->addr_str);
		handshake_failed(c, UV_EPROTO);
		return;
	}
	if (!c->token) {
		if (c->connects == 0) {
			log_err("the probe at %s requires a token: see --token-file",
				c->addr_str);
			c->fatal = true;
		} else {
			log_warn("the probe at %s now requires a token: retrying "
				 "with back-off", c->addr_str);
			handshake_failed(c, UV_EACCES);
		}
		return;
	}
	wire_auth_proof(c->token, c->token_len, WIRE_ROLE_PROBE, &c->hello,
			ch.nonce, want);
	ok = ch.proof.len == sizeof(want) &&
	     mem_equal_ct(want, ch.proof.ptr, sizeof(want));
	explicit_bzero(want, sizeof(want));
	if (!ok) {
		log_warn("whoever answers at %s cannot prove the token (a fake "
			 "probe, or its token file differs from ours): nothing "
			 "sent, trying again", c->addr_str);
		c->fake_probes++;
		handshake_failed(c, UV_EACCES);
		return;
	}
	c->probe_proved = true;
	send_auth(c, &ch);
}

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

static bool wire_str_starts(struct wire_str w, const char *prefix)
{
	size_t n = strlen(prefix);

	return w.len >= n && memcmp(w.ptr, prefix, n) == 0;
}

/* What to do about a refusal at start-up, for the one message the user sees. */
static const char *refusal_hint(const struct client *c, struct wire_str err)
{
	if (wire_str_starts(err, "authentication failed"))
		return c->token ? " (the probe did not accept this tracer's proof: "
				  "its token file holds another secret)"
				: " (the probe requires a token: give this tracer "
				  "the probe's with --token-file)";
	if (wire_str_starts(err, "this probe has no token"))
		return " (this tracer was given --token-file; the probe has none: "
		       "give the probe the same token_file, or drop --token-file)";
	if (wire_str_starts(err, "unsupported protocol version"))
		return " (protocol mismatch: this tracer speaks version "
		       STRINGIFY(WIRE_PROTOCOL_VERSION) "; run a tracer and a probe "
		       "of the same release)";
	return "";
}

static void on_hello_ack(struct client *c, const msgpack_object *root)
{
	struct wire_hello_ack ack;

	if (wire_unpack_hello_ack(root, &ack) < 0) {
		log_warn("malformed HELLO_ACK from %s", c->addr_str);
		c->unknown_frames++;
		handshake_failed(c, UV_EPROTO);
		return;
	}
	if (c->token && !c->probe_proved) {
		log_warn("whoever answers at %s accepted us without proving the "
			 "token (a fake probe, or a probe without a token): "
			 "nothing sent, trying again", c->addr_str);
		c->fake_probes++;
		handshake_failed(c, UV_EACCES);
		return;
	}
	if (ack.error.len > 0) {
		if (c->connects == 0) {
			/* At start-up a refusal is final: the command does
			 * not start (docs/protocol.md). */
			log_err("the probe at %s refused this tracer: %.*s%s",
				c->addr_str, (int)ack.error.len, ack.error.ptr,
				refusal_hint(c, ack.error));
			c->fatal = true;
			return;
		}
		/* Later, one refusal (whoever gave it) must not end delivery
		 * for the tracer's life: keep the events, back off, retry. */
		c->refusals++;
		log_warn("the probe at %s refused the reconnect: %.*s; "
			 "retrying with back-off (%llu refusal(s) so far)",
			 c->addr_str, (int)ack.error.len, ack.error.ptr,
			 (unsigned long long)c->refusals);
		handshake_failed(c, UV_ECONNREFUSED);
		return;
	}
	if (ack.secret.len == WIRE_SECRET_LEN) {
		memcpy(c->secret, ack.secret.ptr, WIRE_SECRET_LEN);
		c->have_secret = true;
	} else {
		c->have_secret = false;
	}
	c->state = CLIENT_READY;
	uv_timer_stop(&c->timer);
	c->session = ack.session;
	c->backoff_ns = BACKOFF_MIN_NS;
	c->connects++;
	requeue_unacked(c);
	log_info("connected to the probe at %s (session %llu)",
		 c->addr_str, (unsigned long long)c->session);
	if (c->on_ready)
		c->on_ready(c);
	flush(c);
}

static void handle_frame(struct client *c, const char *payload, uint32_t len)
{
	msgpack_unpacked up;
	const msgpack_object *root;
	int type;

	msgpack_unpacked_init(&up);
	if (wire_decode(payload, len, &up, &root, &type) < 0) {
		log_warn("malformed frame from the probe at %s; ignored", c->addr_str);
		c->unknown_frames++;
		goto out;
	}
	if (type == WIRE_CHALLENGE && c->state == CLIENT_HANDSHAKE) {
		on_challenge(c, root);
	} else if (type == WIRE_HELLO_ACK && c->state == CLIENT_HANDSHAKE) {
		on_hello_ack(c, root);
	} else if (type == WIRE_ACK && c->state == CLIENT_READY) {
		/* Only from the probe that passed the handshake: an ACK lets
		 * events go that were never delivered. */
		struct wire_ack ack;

		if (wire_unpack_ack(root, &ack) == 0)
			on_ack(c, ack.seq);
	} else if (type == WIRE_COMMAND && c->state == CLIENT_READY) {
		struct wire_command cmd;

		c->commands++;
		if (wire_unpack_command(root, &cmd) < 0) {
			log_warn("malformed COMMAND from the probe at %s; ignored",
				 c->addr_str);
			c->unknown_frames++;
		} else if (c->on_command) {
			c->on_command(c, &cmd);
		}
	} else {
		c->unknown_frames++;
		log_debug("frame type %d from the probe skipped", type);
	}
out:
	msgpack_unpacked_destroy(&up);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct client *c = ((struct conn *)h->data)->c;
	char *p;
	size_t len;

	if (frame_reader_reserve(&c->reader, &p, &len) < 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init(p, (unsigned)len);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct client *c = ((struct conn *)s->data)->c;
	const char *payload;
	uint32_t len;
	int r;

	if (nread < 0) {
		if (c->finishing && c->shutdown_req.handle) {
			/* The probe closed after our half-close: it processed
			 * everything we sent. */
			on_ack(c, UINT64_MAX);
			finish_done(c);
			return;
		}
		connection_lost(c, (int)nread);
		return;
	}
	frame_reader_commit(&c->reader, (size_t)nread);
	while ((r = frame_reader_next(&c->reader, &payload, &len)) > 0) {
		handle_frame(c, payload, len);
		if (c->fatal) {
			connection_lost(c, UV_ECONNREFUSED);
			return;
		}
		if (c->handshake_failed) {
			connection_lost(c, c->last_error);
			return;
		}
	}
	if (r < 0) {
		log_warn("bad frame from the probe at %s: %s", c->addr_str,
			 strerror(-r));
		connection_lost(c, UV_EPROTO);
	}
}

static void send_hello(struct client *c)
{
	struct frame_build b;
	struct client_frame *f;

	c->probe_proved = false;
	c->handshake_failed = false;
	c->hello.nonce = (struct wire_str){ "", 0 };
	if (c->token) {
		if (random_bytes(c->nonce, sizeof(c->nonce)) < 0) {
			connection_lost(c, UV_EIO);
			return;
		}
		c->hello.nonce = (struct wire_str){ (const char *)c->nonce,
						    sizeof(c->nonce) };
	}
	/* The secret resumes our session; without it the probe starts a new
	 * one, and a restarted tracer of the same identity loses nothing. */
	c->hello.resume_session = c->have_secret ? c->session : 0;
	c->hello.resume_secret = c->have_secret ?
		(struct wire_str){ (const char *)c->secret, sizeof(c->secret) } :
		(struct wire_str){ "", 0 };
	wire_pack_hello(build_begin(&b), &c->hello);
	f = build_end(c, &b, FRAME_PROCESS);
	/* HELLO goes out at once, ahead of everything queued. */
	if (!f) {
		connection_lost(c, UV_ENOMEM);
	} else if (write_frame(c, f) < 0) {
		frame_free(c, list_pop(&c->queue));
		connection_lost(c, UV_EPIPE);
	}
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct conn *conn = req->data;
	struct client *c = conn->c;
	int r;

	if (c->stream != &conn->h.stream)
		return; /* a stale attempt; its handle is already closing */
	if (status < 0) {
		connection_lost(c, status);
		return;
	}
	c->state = CLIENT_HANDSHAKE;
	frame_reader_init(&c->reader, WIRE_FRAME_MAX);
	memset(&c->shutdown_req, 0, sizeof(c->shutdown_req));
	r = uv_read_start(c->stream, alloc_cb, read_cb);
	if (r < 0) {
		connection_lost(c, r);
		return;
	}
	send_hello(c);
}

static void client_connect(struct client *c)
{
	struct conn *conn = calloc(1, sizeof(*conn));
	int r;

	if (!conn) {
		schedule_retry(c);
		return;
	}
	conn->c = c;
	conn->req.data = conn;
	/* The back-off timer is idle until this attempt fails. */
	uv_timer_start(&c->timer, attempt_timeout_cb, ATTEMPT_TIMEOUT_MS, 0);
	if (c->addr.is_unix) {
		uv_pipe_init(c->loop, &conn->h.pipe, 0);
		conn->h.handle.data = conn;
		c->stream = &conn->h.stream;
		c->state = CLIENT_CONNECTING;
		uv_pipe_connect(&conn->req, &conn->h.pipe, c->addr.path, connect_cb);
		return;
	}
	uv_tcp_init(c->loop, &conn->h.tcp);
	conn->h.handle.data = conn;
	uv_tcp_nodelay(&conn->h.tcp, 1);
	c->stream = &conn->h.stream;
	c->state = CLIENT_CONNECTING;
	r = uv_tcp_connect(&conn->req, &conn->h.tcp,
			   (const struct sockaddr *)&c->addr.ss, connect_cb);
	if (r < 0)
		connection_lost(c, r);
}

int client_init(struct client *c, uv_loop_t *loop, const char *addr,
		size_t max_bytes, size_t max_frames)
{
	int r;

	memset(c, 0, sizeof(*c));
	r = parse_net_addr(addr, &c->addr);
	if (r < 0)
		return r;
	net_addr_str(&c->addr, c->addr_str, sizeof(c->addr_str));
	c->loop = loop;
	c->max_bytes = max_bytes;
	c->max_frames = max_frames;
	c->backoff_ns = BACKOFF_MIN_NS;
	c->state = CLIENT_IDLE;
	c->next_seq = 1;
	msgpack_sbuffer_init(&c->batch);
	batch_begin(c);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	uv_timer_init(loop, &c->batch_timer);
	c->batch_timer.data = c;
	uv_check_init(loop, &c->check);
	c->check.data = c;
	uv_check_start(&c->check, check_cb);
	srand((unsigned)getpid() ^ (unsigned)now_monotonic_ns());
	return 0;
}

void client_start(struct client *c)
{
	if (c->state == CLIENT_IDLE)
		client_connect(c);
}

static void finish_deadline_cb(uv_timer_t *t)
{
	struct client *c = t->data;

	if (c->state != CLIENT_DONE) {
		log_warn("the probe at %s did not take the last events in time",
			 c->addr_str);
		finish_done(c);
	}
}

void client_finish(struct client *c, int exit_status, uint64_t deadline_ns)
{
	struct wire_goodbye bye = { wire_str_c("exit"), exit_status };
	struct frame_build b;
	struct client_frame *f;

	if (c->finishing)
		return;
	c->finishing = true;
	if (c->state == CLIENT_DONE) {
		finish_done(c);
		return;
	}
	seal_batch(c);
	queue_stats(c);
	wire_pack_goodbye(build_begin(&b), &bye);
	f = build_end(c, &b, FRAME_CONTROL);
	if (f)
		list_push_tail(&c->queue, f);
	c->goodbye_queued = true;
	uv_timer_init(c->loop, &c->finish_timer);
	c->finish_timer.data = c;
	uv_timer_start(&c->finish_timer, finish_deadline_cb,
		       deadline_ns / NSEC_PER_MSEC + 1, 0);
	flush(c);
}

void client_close(struct client *c)
{
	drop_stream(c);
	for (struct client_frame *f; (f = list_pop(&c->queue)); )
		frame_free(c, f);
	for (struct client_frame *f; (f = list_pop(&c->unacked)); )
		frame_free(c, f);
	msgpack_sbuffer_destroy(&c->batch);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, NULL);
	if (!uv_is_closing((uv_handle_t *)&c->check))
		uv_close((uv_handle_t *)&c->check, NULL);
	if (!uv_is_closing((uv_handle_t *)&c->batch_timer))
		uv_close((uv_handle_t *)&c->batch_timer, NULL);
	if (c->finish_timer.loop && !uv_is_closing((uv_handle_t *)&c->finish_timer))
		uv_close((uv_handle_t *)&c->finish_timer, NULL);
}

uint64_t client_undelivered(const struct client *c)
{
	return c->events_dropped + (c->events_queued - c->events_acked);
}
