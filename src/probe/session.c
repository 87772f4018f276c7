/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tracer session: handshake, process table upkeep, and one output line per
 * event, snapshot, statistics message and session boundary.
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
#include "log.h"
#include "util.h"
#include "session.h"
#include "textfmt.h"

int session_new(struct output *out, struct probe_totals *totals,
		const char *peer, struct session **ret_session)
{
	struct session *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->out = out;
	s->totals = totals;
	snprintf(s->peer, sizeof(s->peer), "%s", peer ? peer : "?");
	json_init(&s->j);
	strbuf_init(&s->text);
	r = proc_table_new(PROC_TABLE_MAX_ENTRIES, PROC_TABLE_MAX_BYTES, &s->procs);
	if (r < 0) {
		free(s);
		return r;
	}
	*ret_session = s;
	return 0;
}

struct session *session_free(struct session *s)
{
	if (!s)
		return NULL;
	proc_table_free(s->procs);
	json_fini(&s->j);
	strbuf_fini(&s->text);
	free(s->hostname);
	free(s->mode);
	free(s->session_json);
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
	if (strbuf_failed(&s->text)) {
		log_warn("session %" PRIu64 ": out of memory formatting a line", s->id);
		return;
	}
	output_line(s->out, s->text.data, s->text.len);
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
	if (json_failed(&j)) {
		json_fini(&j);
		return -ENOMEM;
	}
	/* The writer's buffer becomes ours. */
	s->session_json = j.sb.data;
	s->session_json_len = j.sb.len;
	return 0;
}

static void session_start_line(struct session *s, const struct wire_hello *h)
{
	uint64_t now = now_realtime_ns();

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
	json_line_end(s);
}

static void queue_hello_ack(msgpack_sbuffer *reply, uint64_t id, const char *error)
{
	struct wire_hello_ack ack = {
		.version = WIRE_PROTOCOL_VERSION,
		.probe_version = wire_str_c(SENTRACE_VERSION),
		.session = id,
		.error = wire_str_c(error),
	};
	msgpack_packer pk;
	size_t start;

	msgpack_packer_init(&pk, reply, msgpack_sbuffer_write);
	start = frame_begin(reply);
	wire_pack_hello_ack(&pk, &ack);
	frame_end(reply, start);
}

static int session_hello(struct session *s, const msgpack_object *root, int type,
			 msgpack_sbuffer *reply)
{
	struct wire_hello h;
	char err[96];
	int r;

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
		log_warn("%s: refusing tracer: %s", s->peer, err);
		snprintf(s->error, sizeof(s->error), "%s", err);
		s->totals->protocol_errors++;
		s->state = SESSION_REFUSED;
		queue_hello_ack(reply, 0, err);
		return SESSION_CLOSE;
	}

	s->id = s->totals->last_session_id + 1;
	s->hostname = wire_strdup(h.hostname);
	s->mode = wire_strdup(h.mode);
	r = s->hostname && s->mode ? session_render(s, &h) : -ENOMEM;
	if (r < 0) {
		s->id = 0;
		session_protocol_error(s, "out of memory");
		return -ENOMEM;
	}
	s->totals->last_session_id = s->id;
	s->totals->sessions++;
	s->state = SESSION_ACTIVE;
	queue_hello_ack(reply, s->id, "");
	log_info("%s: session %" PRIu64 " started: host %s, %s, tracer pid %" PRId64,
		 s->peer, s->id, s->hostname, s->mode, h.tracer_pid);
	session_start_line(s, &h);
	return 0;
}

static void table_set_argv(struct session *s, struct proc_entry *e,
			   const msgpack_object *argv)
{
	proc_entry_clear_argv(s->procs, e);
	for (uint32_t i = 0; i < argv->via.array.size; i++) {
		const msgpack_object *a = &argv->via.array.ptr[i];

		if (a->type != MSGPACK_OBJECT_STR)
			continue;
		if (proc_entry_add_arg(s->procs, e, a->via.str.ptr, a->via.str.size) < 0)
			break;
	}
}

/* Copies file, argv and ppid from an exec event or a process snapshot. */
static void table_set_image(struct session *s, int64_t pid, const msgpack_object *m)
{
	const msgpack_object *argv;
	struct proc_entry *e;
	struct wire_str file;
	int64_t ppid;
	bool trunc;

	e = proc_table_upsert(s->procs, pid);
	if (!e) {
		log_debug("session %" PRIu64 ": process table: out of memory", s->id);
		return;
	}
	if (wire_map_str(m, "file", &file))
		proc_entry_set_file(s->procs, e, file.ptr, file.len);
	argv = wire_map_get(m, "argv");
	if (argv && argv->type == MSGPACK_OBJECT_ARRAY) {
		table_set_argv(s, e, argv);
		if (wire_map_bool(m, "argv_truncated", &trunc) && trunc)
			e->argv_truncated = true;
	}
	if (wire_map_i64(m, "ppid", &ppid) && ppid >= 0)
		e->ppid = ppid;
}

static void table_update(struct session *s, const msgpack_object *ev,
			 struct wire_str kind, int64_t pid, int64_t ret)
{
	struct proc_entry *child, *parent, *e;
	int64_t child_pid;
	bool thread = false;

	if (wire_str_eq(kind, "exec")) {
		/* A failed execve leaves the old image in place. */
		if (ret >= 0)
			table_set_image(s, pid, ev);
	} else if (wire_str_eq(kind, "fork")) {
		wire_map_bool(ev, "thread", &thread);
		if (thread || ret < 0 || !wire_map_i64(ev, "child", &child_pid) ||
		    child_pid <= 0)
			return;
		/* Upsert first: it may evict, and must not evict the parent
		 * after we looked it up. */
		child = proc_table_upsert(s->procs, child_pid);
		if (!child)
			return;
		parent = proc_table_get(s->procs, pid);
		if (parent)
			proc_entry_copy_image(s->procs, child, parent);
		child->ppid = pid;
	} else if (wire_str_eq(kind, "exit")) {
		e = proc_table_get(s->procs, pid);
		if (e)
			e->exited = true;
	}
}

static void json_process(struct json *j, int64_t pid, const struct proc_entry *e)
{
	json_object_begin(j);
	json_kv_int(j, "pid", pid);
	if (e) {
		if (e->ppid > 0)
			json_kv_int(j, "ppid", e->ppid);
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

static void session_event(struct session *s, const msgpack_object *ev)
{
	struct wire_str kind = { "", 0 };
	int64_t pid = 0, tid = 0, ret = 0;
	bool has_pid, has_ret, has_error = false;
	char name[64] = "";
	uint64_t ts;

	has_pid = wire_map_i64(ev, "pid", &pid);
	has_ret = wire_map_i64(ev, "ret", &ret);
	wire_map_str(ev, "ev", &kind);
	if (!wire_map_u64(ev, "ts", &ts))
		ts = now_realtime_ns();

	/* The text view names the process as it was before this event. */
	if (s->out->format == OUTPUT_TEXT && has_pid)
		snprintf(name, sizeof(name), "%s",
			 proc_entry_name(proc_table_get(s->procs, pid)));
	if (has_pid)
		table_update(s, ev, kind, pid, has_ret ? ret : 0);

	if (s->out->format == OUTPUT_TEXT) {
		strbuf_reset(&s->text);
		text_time(&s->text, ts);
		strbuf_putc(&s->text, ' ');
		if (has_pid) {
			text_word(&s->text, name, strlen(name));
			strbuf_printf(&s->text, "[%" PRId64, pid);
			if (wire_map_i64(ev, "tid", &tid) && tid != pid)
				strbuf_printf(&s->text, "/%" PRId64, tid);
			strbuf_puts(&s->text, "] ");
		}
		text_event(&s->text, ev);
		text_line_end(s);
	} else {
		json_line_begin(s, "event", ts);
		json_key(&s->j, "event");
		json_object_begin(&s->j);
		for (uint32_t i = 0; i < ev->via.map.size; i++) {
			const msgpack_object_kv *kv = &ev->via.map.ptr[i];

			if (kv->key.type == MSGPACK_OBJECT_STR &&
			    kv->key.via.str.size == 5 &&
			    memcmp(kv->key.via.str.ptr, "error", 5) == 0)
				has_error = true;
			json_msgpack_key(&s->j, &kv->key);
			json_msgpack(&s->j, &kv->val);
		}
		if (has_ret && ret < 0 && ret >= -4095 && !has_error) {
			char nb[16];

			json_kv_str(&s->j, "error", errno_name((int)-ret, nb));
		}
		json_object_end(&s->j);
		if (has_pid) {
			json_key(&s->j, "process");
			json_process(&s->j, pid, proc_table_get(s->procs, pid));
		}
		json_line_end(s);
	}

	if (has_pid && wire_str_eq(kind, "exit"))
		proc_table_remove(s->procs, pid);
	s->events++;
	s->totals->events++;
}

static int session_events(struct session *s, const msgpack_object *root)
{
	const msgpack_object *evs = wire_map_get(root, "events");

	if (!evs || evs->type != MSGPACK_OBJECT_ARRAY) {
		session_protocol_error(s, "EVENTS without an events array");
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < evs->via.array.size; i++) {
		const msgpack_object *ev = &evs->via.array.ptr[i];

		if (ev->type != MSGPACK_OBJECT_MAP) {
			s->bad_events++;
			log_debug("session %" PRIu64 ": skipping an event that is not a map",
				  s->id);
			continue;
		}
		session_event(s, ev);
	}
	return 0;
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
		int64_t pid;

		if (p->type != MSGPACK_OBJECT_MAP)
			continue;
		if (wire_map_i64(p, "pid", &pid) && pid > 0)
			table_set_image(s, pid, p);
		if (s->out->format == OUTPUT_TEXT) {
			text_line_begin(s, now);
			strbuf_puts(&s->text, "process ");
			text_msgpack(&s->text, p);
			text_line_end(s);
		} else {
			json_line_begin(s, "process", now);
			json_key(&s->j, "process");
			json_msgpack(&s->j, p);
			json_line_end(s);
		}
	}
	return 0;
}

static void session_stats(struct session *s, const msgpack_object *root)
{
	static const char *const keys[] = { "counters", "dropped" };
	uint64_t now = now_realtime_ns();

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
		r = session_hello(s, root, type, reply);
		goto out;
	}
	switch (type) {
	case WIRE_EVENTS:
		r = session_events(s, root);
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

void session_end(struct session *s, const char *reason)
{
	uint64_t now = now_realtime_ns();

	if (s->state != SESSION_ACTIVE)
		return;
	s->state = SESSION_ENDED;
	log_info("session %" PRIu64 " ended: %s, %" PRIu64 " events", s->id, reason,
		 s->events);
	if (s->out->format == OUTPUT_TEXT) {
		text_line_begin(s, now);
		strbuf_puts(&s->text, "end reason=");
		text_word(&s->text, reason, strlen(reason));
		strbuf_printf(&s->text, " events=%" PRIu64 " unknown_messages=%" PRIu64,
			      s->events, s->unknown_messages);
		if (s->goodbye)
			strbuf_printf(&s->text, " exit_status=%" PRId32, s->exit_status);
		text_line_end(s);
		return;
	}
	json_line_begin(s, "session_end", now);
	json_kv_str(&s->j, "reason", reason);
	json_kv_uint(&s->j, "events", s->events);
	json_kv_uint(&s->j, "unknown_messages", s->unknown_messages);
	if (s->goodbye)
		json_kv_int(&s->j, "exit_status", s->exit_status);
	json_line_end(s);
}
