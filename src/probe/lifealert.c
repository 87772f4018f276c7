/* SPDX-License-Identifier: Apache-2.0 */
/* Delivery alerts: see lifealert.h. */
#include "config.h"

#include <inttypes.h>
#include <string.h>
#include <syslog.h>

#include "engine.h"
#include "lifealert.h"
#include "log.h"
#include "textfmt.h"
#include "util.h"

struct kind_desc {
	const char *rule;
	enum rules_severity severity;
	const char *description;
};

static const struct kind_desc kinds[] = {
	[LIFEALERT_LOST] = { "sentrace_tracer_lost", RULES_SEV_HIGH,
		"A tracer's session ended without GOODBYE: the tracer was killed or "
		"its connection cut, and its workload may run unwatched" },
	[LIFEALERT_SILENT] = { "sentrace_tracer_silent", RULES_SEV_HIGH,
		"A connected tracer sent nothing for longer than the heartbeat "
		"timeout: stopped or wedged, its workload unwatched meanwhile" },
	[LIFEALERT_RESUMED] = { "sentrace_tracer_resumed", RULES_SEV_INFO,
		"A tracer that had fallen silent speaks again" },
	[LIFEALERT_DROPPED] = { "sentrace_events_dropped", RULES_SEV_MEDIUM,
		"The tracer could not deliver some events: this window is missing" },
};

/* Impair Defenses: Disable or Modify Tools, for every kind. */
static const char *const tags[] = { "tactic:TA0005", "technique:T1562.001" };

const char *lifealert_rule(enum lifealert_kind kind)
{
	return kinds[kind].rule;
}

void lifealert_init(struct lifealert *la, struct engine *engine)
{
	memset(la, 0, sizeof(*la));
	la->engine = engine;
	la->tokens = LIFEALERT_BURST;
	json_init(&la->j);
	strbuf_init(&la->text);
}

void lifealert_fini(struct lifealert *la)
{
	json_fini(&la->j);
	strbuf_fini(&la->text);
}

static bool take(struct lifealert *la, uint64_t now)
{
	if (la->refill_ns && now > la->refill_ns) {
		la->tokens += (double)(now - la->refill_ns) * LIFEALERT_RATE / 1e9;
		if (la->tokens > LIFEALERT_BURST)
			la->tokens = LIFEALERT_BURST;
	}
	la->refill_ns = now;
	if (la->tokens < 1.0)
		return false;
	la->tokens -= 1.0;
	return true;
}

/* The sentence both formats carry: what happened, to what. */
static void summary(struct strbuf *sb, const struct lifealert_info *in)
{
	char t1[48], t2[48];

	switch (in->kind) {
	case LIFEALERT_LOST:
		strbuf_printf(sb, "session %" PRIu64 " ended without GOODBYE (%s)",
			      in->session, in->reason ? in->reason : "?");
		break;
	case LIFEALERT_SILENT:
		strbuf_printf(sb, "session %" PRIu64 ": no frame from the tracer for %"
			      PRIu64 " ms", in->session, (uint64_t)(in->silent_ns / NSEC_PER_MSEC));
		break;
	case LIFEALERT_RESUMED:
		strbuf_printf(sb, "session %" PRIu64 " resumed after %" PRIu64
			      " ms of silence", in->session, (uint64_t)(in->silent_ns / NSEC_PER_MSEC));
		break;
	case LIFEALERT_DROPPED:
		strbuf_printf(sb, "session %" PRIu64 ": %" PRIu64 " events lost",
			      in->session, in->count);
		if (in->seq_first)
			strbuf_printf(sb, ", seq %" PRIu64 "-%" PRIu64, in->seq_first,
				      in->seq_last);
		if (in->ts_first)
			strbuf_printf(sb, ", from %s to %s",
				      time_iso8601(in->ts_first, t1, sizeof(t1)),
				      time_iso8601(in->ts_last, t2, sizeof(t2)));
		break;
	}
}

static void render_json(struct lifealert *la, const struct lifealert_info *in,
			const struct kind_desc *k, uint64_t now)
{
	struct json *j = &la->j;
	struct strbuf sb;
	char tbuf[48];

	strbuf_init(&sb);
	summary(&sb, in);
	strbuf_puts(&sb, ": ");
	if (in->workload_text)
		strbuf_puts(&sb, in->workload_text);
	json_reset(j);
	json_object_begin(j);
	json_kv_str(j, "type", "alert");
	json_kv_str(j, "time", time_iso8601(now, tbuf, sizeof(tbuf)));
	json_kv_str(j, "rule", k->rule);
	json_kv_str(j, "priority", engine_priority_name(k->severity));
	json_kv_strn(j, "output", sb.len ? sb.data : "", sb.len);
	strbuf_fini(&sb);
	json_key(j, "tags");
	json_array_begin(j);
	for (size_t i = 0; i < ARRAY_SIZE(tags); i++)
		json_str(j, tags[i]);
	json_array_end(j);
	json_kv_str(j, "hostname", in->hostname ? in->hostname : "");
	json_kv_str(j, "source", "sentrace");
	json_kv_str(j, "rule_id", k->rule);
	json_kv_str(j, "severity", rules_severity_name(k->severity));
	json_kv_str(j, "description", k->description);
	if (in->workload_json) {
		json_key(j, "workload");
		json_raw(j, in->workload_json, in->workload_json_len);
	}
	if (in->session_json) {
		json_key(j, "session");
		json_raw(j, in->session_json, in->session_json_len);
	}
	switch (in->kind) {
	case LIFEALERT_LOST:
		json_kv_str(j, "reason", in->reason ? in->reason : "");
		break;
	case LIFEALERT_SILENT:
	case LIFEALERT_RESUMED:
		json_kv_uint(j, "silent_ms", (uint64_t)(in->silent_ns / NSEC_PER_MSEC));
		break;
	case LIFEALERT_DROPPED:
		json_key(j, "dropped");
		json_object_begin(j);
		json_kv_uint(j, "count", in->count);
		if (in->seq_first) {
			json_kv_uint(j, "seq_first", in->seq_first);
			json_kv_uint(j, "seq_last", in->seq_last);
		}
		if (in->ts_first) {
			json_kv_str(j, "time_first", time_iso8601(in->ts_first, tbuf,
								  sizeof(tbuf)));
			json_kv_str(j, "time_last", time_iso8601(in->ts_last, tbuf,
								 sizeof(tbuf)));
			json_kv_uint(j, "ts_first", in->ts_first);
			json_kv_uint(j, "ts_last", in->ts_last);
		}
		json_object_end(j);
		break;
	}
	json_kv_uint(j, "suppressed", la->suppressed);
	json_object_end(j);
}

static void render_text(struct lifealert *la, const struct lifealert_info *in,
			const struct kind_desc *k, uint64_t now)
{
	struct strbuf *sb = &la->text;

	strbuf_reset(sb);
	text_time(sb, now);
	strbuf_printf(sb, " ALERT %s %s: ", rules_severity_name(k->severity), k->rule);
	summary(sb, in);
	if (in->workload_text) {
		strbuf_puts(sb, " | ");
		strbuf_puts(sb, in->workload_text);
	}
	if (la->suppressed)
		strbuf_printf(sb, " | %" PRIu64 " earlier delivery alerts suppressed",
			      la->suppressed);
}

void lifealert_raise(struct lifealert *la, const struct lifealert_info *in)
{
	const struct kind_desc *k = &kinds[in->kind];
	uint64_t now = now_realtime_ns();
	struct strbuf sb;
	bool text;

	/* The engine's clock: tests (and the fuzzer) may drive it. The limit
	 * holds the log line back too: STATS drops come from the client. */
	if (!take(la, la->engine && la->engine->fake_now ? la->engine->fake_now
							  : now_monotonic_ns())) {
		la->suppressed++;
		la->suppressed_total++;
		return;
	}
	strbuf_init(&sb);
	summary(&sb, in);
	log_warn("%s: %s", k->rule, strbuf_failed(&sb) ? "?" : sb.data);
	strbuf_fini(&sb);
	if (!la->engine || la->engine->nsinks == 0) {
		la->suppressed = 0;
		return;
	}
	text = la->engine->format == OUTPUT_TEXT;
	if (text)
		render_text(la, in, k, now);
	else
		render_json(la, in, k, now);
	if (text ? strbuf_failed(&la->text) : json_failed(&la->j)) {
		log_warn("%s: out of memory formatting an alert", k->rule);
		return;
	}
	engine_write_line(la->engine, engine_syslog_priority(k->severity),
			  text ? la->text.data : json_data(&la->j),
			  text ? la->text.len : json_len(&la->j));
	la->suppressed = 0;
	la->written++;
}
