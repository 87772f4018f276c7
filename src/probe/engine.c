/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Detection: policies, evaluation, rate limits, kills and alert lines.
 * Alerts without a kill are written at once. An alert with a kill is
 * rendered at once, with a placeholder where the kill's status goes, and
 * held until the tracer answers the COMMAND or the timeout passes.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "sentrace/wire.h"
#include "frame.h"
#include "log.h"
#include "util.h"
#include "engine.h"
#include "pipes.h"
#include "textfmt.h"

/* The fields every alert's output_fields holds, then the event's own. */
static const int common_fields[] = {
	1,    /* event.type */
	2,    /* event.retval */
	106,  /* process.pid */
	107,  /* process.ppid */
	100,  /* process.file.path */
	103,  /* process.args */
	108,  /* process.uid */
	110,  /* process.euid */
	114,  /* process.cwd */
	200,  /* process.parent.file.path */
	3,    /* container.id */
};

void engine_config_defaults(struct engine_config *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = true;
	c->rate = ENGINE_RATE_DEFAULT;
	c->burst = ENGINE_BURST_DEFAULT;
	c->enforcement = true;
	c->disarm_max = ENGINE_DISARM_MAX;
	c->disarm_period_ns = ENGINE_DISARM_PERIOD_NS;
	c->kill_timeout_ns = ENGINE_KILL_TIMEOUT_NS;
}

const char *engine_priority_name(enum rules_severity s)
{
	switch (s) {
	case RULES_SEV_CRITICAL: return "Critical";
	case RULES_SEV_HIGH: return "Error";
	case RULES_SEV_MEDIUM: return "Warning";
	case RULES_SEV_LOW: return "Notice";
	case RULES_SEV_INFO: return "Informational";
	}
	return "Warning";
}

int engine_syslog_priority(enum rules_severity s)
{
	switch (s) {
	case RULES_SEV_CRITICAL: return LOG_CRIT;
	case RULES_SEV_HIGH: return LOG_ERR;
	case RULES_SEV_MEDIUM: return LOG_WARNING;
	case RULES_SEV_LOW: return LOG_NOTICE;
	case RULES_SEV_INFO: return LOG_INFO;
	}
	return LOG_WARNING;
}

static uint64_t engine_now(const struct engine *en)
{
	return en->fake_now ? en->fake_now : now_monotonic_ns();
}

int engine_new(const struct engine_config *cfg, struct engine **ret_engine)
{
	struct engine *en = calloc(1, sizeof(*en));

	if (!en)
		return -ENOMEM;
	en->cfg = *cfg;
	if (cfg->npolicy_paths) {
		en->paths = calloc(cfg->npolicy_paths, sizeof(*en->paths));
		if (!en->paths) {
			free(en);
			return -ENOMEM;
		}
		for (size_t i = 0; i < cfg->npolicy_paths; i++) {
			en->paths[i] = strdup(cfg->policy_paths[i]);
			if (!en->paths[i]) {
				en->cfg.npolicy_paths = i;
				engine_free(en);
				return -ENOMEM;
			}
		}
	}
	en->cfg.policy_paths = (const char *const *)en->paths;
	if (en->cfg.burst == 0)
		en->cfg.burst = 1;
	if (window_table_new(&en->windows) < 0 || record_init(&en->replay) < 0) {
		engine_free(en);
		return -ENOMEM;
	}
	field_ctx_init(&en->fc);
	json_init(&en->j);
	strbuf_init(&en->text);
	strbuf_init(&en->tmp);
	*ret_engine = en;
	return 0;
}

static void states_free(struct rule_state *st, size_t n)
{
	for (size_t i = 0; st && i < n; i++)
		free(st[i].id);
	free(st);
}

static void pending_complete(struct engine *en, struct pending_alert *p,
			     const char *status);

struct engine *engine_free(struct engine *en)
{
	if (!en)
		return NULL;
	while (en->pending)
		pending_complete(en, en->pending, "unknown: probe stopping");
	engine_flush(en);
	rule_set_free(en->rules);
	states_free(en->states, en->nrules);
	free(en->by_ptr);
	free(en->by_ptr_idx);
	for (size_t i = 0; i < en->cfg.npolicy_paths; i++)
		free(en->paths[i]);
	free(en->paths);
	field_ctx_fini(&en->fc);
	json_fini(&en->j);
	strbuf_fini(&en->text);
	strbuf_fini(&en->tmp);
	window_table_free(en->windows);
	record_fini(&en->replay);
	free(en);
	return NULL;
}

int engine_add_sink(struct engine *en, struct output *o)
{
	if (en->nsinks >= ENGINE_SINKS_MAX)
		return -E2BIG;
	en->sinks[en->nsinks++] = o;
	en->format = o->format;
	return 0;
}

void engine_flush(struct engine *en)
{
	for (size_t i = 0; i < en->nsinks; i++)
		output_flush(en->sinks[i]);
}

size_t engine_rule_count(const struct engine *en)
{
	return en->rules ? rule_set_count(en->rules) : 0;
}

/* ---- loading ---- */

static void log_diag(const struct rules_diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct rules_diag_entry *e = &d->v[i];
		char where[64] = "";

		if (e->line)
			snprintf(where, sizeof(where), ":%u:%u", e->line, e->col);
		if (e->warning)
			log_warn("policy %s%s: %s", e->file, where, e->msg);
		else
			log_err("policy %s%s: %s", e->file, where, e->msg);
	}
}

struct ptr_idx {
	const struct rule *r;
	size_t i;
};

static int ptr_cmp(const void *a, const void *b)
{
	const struct ptr_idx *x = a, *y = b;

	return x->r < y->r ? -1 : x->r > y->r;
}

/* Per-rule state for rs, carried over by id from the current rules. */
static int build_states(struct engine *en, const struct rule_set *rs,
			struct rule_state **ret_states, const struct rule ***ret_ptrs,
			size_t **ret_idx)
{
	size_t n = rs ? rule_set_count(rs) : 0;
	struct rule_state *st = calloc(n ? n : 1, sizeof(*st));
	struct ptr_idx *pi = calloc(n ? n : 1, sizeof(*pi));
	const struct rule **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));

	if (!st || !pi || !ptrs || !idx)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = rule_set_at(rs, i);
		uint64_t every = rule_every_ns(r);

		st[i].id = strdup(rule_id(r));
		if (!st[i].id)
			goto fail;
		if (every) {
			st[i].rate = 1e9 / (double)every;
			st[i].burst = 1;
		} else {
			st[i].rate = en->cfg.rate;
			st[i].burst = en->cfg.burst;
		}
		st[i].tokens = st[i].burst;
		/* A reload keeps what the limiter knew, and what it held back. */
		for (size_t k = 0; k < en->nrules; k++) {
			if (strcmp(en->states[k].id, st[i].id) == 0) {
				st[i].tokens = en->states[k].tokens;
				if (st[i].tokens > st[i].burst)
					st[i].tokens = st[i].burst;
				st[i].refill_ns = en->states[k].refill_ns;
				st[i].suppressed = en->states[k].suppressed;
				break;
			}
		}
		pi[i].r = r;
		pi[i].i = i;
	}
	qsort(pi, n, sizeof(*pi), ptr_cmp);
	for (size_t i = 0; i < n; i++) {
		ptrs[i] = pi[i].r;
		idx[i] = pi[i].i;
	}
	free(pi);
	*ret_states = st;
	*ret_ptrs = ptrs;
	*ret_idx = idx;
	return 0;
fail:
	states_free(st, n);
	free(pi);
	free(ptrs);
	free(idx);
	return -ENOMEM;
}

/* The policy paths that exist; the others are logged. */
static size_t existing_paths(struct engine *en, const char **v)
{
	size_t n = 0;
	struct stat st;

	for (size_t i = 0; i < en->cfg.npolicy_paths; i++) {
		if (stat(en->paths[i], &st) < 0) {
			log_warn("policy %s: %s", en->paths[i], strerror(errno));
			continue;
		}
		v[n++] = en->paths[i];
	}
	return n;
}

/* Loads into *ret_rs (NULL when there is nothing to load). */
static int load_rules(struct engine *en, struct rule_set **ret_rs)
{
	const char **paths = calloc(en->cfg.npolicy_paths + 1, sizeof(*paths));
	struct rules_diag diag;
	size_t n;
	int r;

	*ret_rs = NULL;
	if (!paths)
		return -ENOMEM;
	n = existing_paths(en, paths);
	if (n == 0) {
		free(paths);
		return 0;
	}
	rules_diag_init(&diag);
	r = rule_set_load(paths, n, &diag, ret_rs);
	log_diag(&diag);
	rules_diag_fini(&diag);
	free(paths);
	return r;
}

static void install(struct engine *en, struct rule_set *rs, struct rule_state *st,
		    const struct rule **ptrs, size_t *idx)
{
	rule_set_free(en->rules);
	states_free(en->states, en->nrules);
	free(en->by_ptr);
	free(en->by_ptr_idx);
	en->rules = rs;
	en->states = st;
	en->by_ptr = ptrs;
	en->by_ptr_idx = idx;
	en->nrules = rs ? rule_set_count(rs) : 0;
	/* New rules may count differently: every count starts again. */
	window_table_clear(en->windows);
}

static void log_loaded(struct engine *en)
{
	if (!en->rules || rule_set_count(en->rules) == 0) {
		if (en->cfg.npolicy_paths == 0)
			log_warn("no policy configured: running without rules");
		else
			log_warn("no rule found in the policies: running without rules");
		return;
	}
	log_info("%zu rules loaded", rule_set_count(en->rules));
}

int engine_load(struct engine *en)
{
	struct rule_set *rs;
	struct rule_state *st;
	const struct rule **ptrs;
	size_t *idx;
	int r, errors;

	if (!en->cfg.enabled) {
		log_info("runtime security is disabled: no rules are evaluated");
		return 0;
	}
	errors = load_rules(en, &rs);
	if (errors < 0) {
		log_err("loading policies: %s", strerror(-errors));
		return errors;
	}
	if (errors > 0)
		log_err("%d errors in the policies: the rules that loaded are active",
			errors);
	r = build_states(en, rs, &st, &ptrs, &idx);
	if (r < 0) {
		rule_set_free(rs);
		return r;
	}
	install(en, rs, st, ptrs, idx);
	log_loaded(en);
	return errors;
}

int engine_reload(struct engine *en)
{
	struct rule_set *rs;
	struct rule_state *st;
	const struct rule **ptrs;
	size_t *idx;
	int r, errors;

	if (!en->cfg.enabled)
		return 0;
	en->stats.reloads++;
	errors = load_rules(en, &rs);
	if (errors != 0) {
		rule_set_free(rs);
		en->stats.reload_failures++;
		if (errors < 0)
			log_err("reloading policies: %s; keeping the %zu rules loaded before",
				strerror(-errors), engine_rule_count(en));
		else
			log_err("reloading policies: %d errors; keeping the %zu rules loaded before",
				errors, engine_rule_count(en));
		return errors;
	}
	r = build_states(en, rs, &st, &ptrs, &idx);
	if (r < 0) {
		rule_set_free(rs);
		en->stats.reload_failures++;
		log_err("reloading policies: %s", strerror(-r));
		return r;
	}
	install(en, rs, st, ptrs, idx);
	log_warn("policies reloaded: %zu rules", engine_rule_count(en));
	return 0;
}

static struct rule_state *state_of(struct engine *en, const struct rule *r)
{
	size_t lo = 0, hi = en->nrules;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (en->by_ptr[mid] == r)
			return &en->states[en->by_ptr_idx[mid]];
		if ((uintptr_t)en->by_ptr[mid] < (uintptr_t)r)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- limiter and disarmer ---- */

static bool limiter_take(struct rule_state *st, uint64_t now)
{
	if (st->refill_ns == 0) {
		st->refill_ns = now;
	} else if (now > st->refill_ns) {
		st->tokens += (double)(now - st->refill_ns) * st->rate / 1e9;
		if (st->tokens > st->burst)
			st->tokens = st->burst;
		st->refill_ns = now;
	}
	if (st->tokens >= 1.0) {
		st->tokens -= 1.0;
		return true;
	}
	return false;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/*
 * true: the kill may go; false: the rule is disarmed for this executable
 * in this session. Per session: events forged in a session of one's own
 * (anyone who may connect can open one) must not disarm a rule for the
 * real tracers.
 */
static bool disarm_allow(struct engine *en, const char *rule, const char *exe,
			 uint64_t session, uint64_t now)
{
	uint64_t key = fnv1a(fnv1a(0xcbf29ce484222325ull, rule) ^ 0x5bd1e995ull, exe) ^
		       session * 0x9e3779b97f4a7c15ull;
	struct disarm_slot *slot = NULL, *oldest = NULL, *free_slot = NULL;
	size_t h;

	if (en->cfg.disarm_max == 0)
		return true;
	if (key == 0)
		key = 1;
	h = (size_t)(key % ENGINE_DISARM_SLOTS);
	/* Eight slots from h: ours, else a free one, else the oldest. */
	for (size_t i = 0; i < 8; i++) {
		struct disarm_slot *s = &en->disarm[(h + i) % ENGINE_DISARM_SLOTS];

		if (s->key == key) {
			slot = s;
			break;
		}
		if (s->key == 0) {
			if (!free_slot)
				free_slot = s;
		} else if (!oldest || s->window_start < oldest->window_start) {
			oldest = s;
		}
	}
	if (!slot) {
		slot = free_slot ? free_slot : oldest;
		memset(slot, 0, sizeof(*slot));
		slot->key = key;
		slot->window_start = now;
	}
	if (now - slot->window_start >= en->cfg.disarm_period_ns) {
		slot->window_start = now;
		slot->count = 0;
		slot->warned = false;
	}
	if (slot->count >= en->cfg.disarm_max) {
		if (!slot->warned) {
			log_warn("rule %s disarmed for %s in session %" PRIu64 ": %u "
				 "kills within %" PRIu64 " s", rule, exe && *exe ? exe : "?",
				 session, slot->count,
				 (uint64_t)(en->cfg.disarm_period_ns / NSEC_PER_SEC));
			slot->warned = true;
		}
		return false;
	}
	slot->count++;
	return true;
}

/* ---- rendering ---- */

static const char *signal_name(int sig, char buf[16])
{
	const char *abbrev = sig > 0 && sig < 65 ? sigabbrev_np(sig) : NULL;

	if (abbrev)
		snprintf(buf, 16, "SIG%s", abbrev);
	else
		snprintf(buf, 16, "%d", sig);
	return buf;
}

static void json_value(struct json *j, const struct rules_field *f,
		       const struct rules_value *v)
{
	struct rules_value e;

	switch (v->kind) {
	case RULES_V_STR:
		json_strn(j, v->s ? v->s : "", v->len);
		return;
	case RULES_V_INT:
		if (f->type == RULES_TYPE_BOOL)
			json_bool(j, v->i != 0);
		else
			json_int(j, v->i);
		return;
	case RULES_V_ITER:
		json_array_begin(j);
		while (v->next && v->next(v->it, &e)) {
			if (e.kind == RULES_V_STR)
				json_strn(j, e.s ? e.s : "", e.len);
			else if (e.kind == RULES_V_INT)
				json_int(j, e.i);
		}
		json_array_end(j);
		return;
	case RULES_V_STRS:
		json_array_begin(j);
		for (size_t i = 0; i < v->n; i++)
			json_strn(j, v->strs[i].ptr ? v->strs[i].ptr : "", v->strs[i].len);
		json_array_end(j);
		return;
	case RULES_V_INTS:
		json_array_begin(j);
		for (size_t i = 0; i < v->n; i++)
			json_int(j, v->ints[i]);
		json_array_end(j);
		return;
	case RULES_V_NONE:
		break;
	}
	json_null(j);
}

static void json_field(struct engine *en, const struct rules_field *f)
{
	struct rules_value v;

	memset(&v, 0, sizeof(v));
	json_key(&en->j, f->name);
	if (field_ctx_get(&en->fc, f->id, &v) < 0)
		v.kind = RULES_V_NONE;
	json_value(&en->j, f, &v);
}

static void json_output_fields(struct engine *en, int type)
{
	json_key(&en->j, "output_fields");
	json_object_begin(&en->j);
	for (size_t i = 0; i < ARRAY_SIZE(common_fields); i++) {
		const struct rules_field *f = rules_field_by_id(common_fields[i]);

		if (f)
			json_field(en, f);
	}
	for (size_t i = 0; i < rules_field_count(); i++) {
		const struct rules_field *f = rules_field_at(i);

		/* The event's own fields; <type>.retval repeats event.retval. */
		if (f->source == RULES_SRC_EVENT && f->event == type &&
		    f->event != RULES_EV_ANY &&
		    (f->id < 2000 || f->id >= 2000 + RULES_EV__COUNT))
			json_field(en, f);
	}
	json_object_end(&en->j);
}

static void json_strv(struct json *j, const char *key, char *const *v, uint32_t n)
{
	json_key(j, key);
	json_array_begin(j);
	for (uint32_t i = 0; i < n; i++)
		json_str(j, v[i]);
	json_array_end(j);
}

static void json_id(struct json *j, const char *key, int64_t v)
{
	if (v >= 0)
		json_kv_int(j, key, v);
}

/* Server identity (process.is_server): who in the lineage serves a port. */
static void json_server(struct json *j, const struct proc_entry *e)
{
	if (!proc_entry_is_server(e))
		return;
	json_kv_bool(j, "is_server", true);
	json_key(j, "listen_ports");
	json_array_begin(j);
	for (unsigned i = 0; i < e->net.nports; i++)
		json_int(j, e->net.ports[i]);
	json_array_end(j);
}

static void json_process(struct engine *en, const struct proc_entry *e, int64_t pid)
{
	struct json *j = &en->j;
	const struct proc_entry *a;
	unsigned depth = 0;

	json_key(j, "process");
	json_object_begin(j);
	json_kv_int(j, "pid", e ? e->pid : pid);
	if (e) {
		/* The kernel's current parent; ancestors are the creators. */
		if (e->cur_ppid > 0 || e->ppid > 0)
			json_kv_int(j, "ppid", e->cur_ppid > 0 ? e->cur_ppid : e->ppid);
		if (e->file)
			json_kv_str(j, "file", e->file);
		json_strv(j, "argv", e->argv, e->argc);
		if (e->argv_truncated)
			json_kv_bool(j, "argv_truncated", true);
		if (e->comm[0])
			json_kv_str(j, "comm", e->comm);
		json_id(j, "uid", e->uid);
		json_id(j, "euid", e->euid);
		json_id(j, "gid", e->gid);
		json_id(j, "egid", e->egid);
		if (e->cwd)
			json_kv_str(j, "cwd", e->cwd);
		if (e->tty)
			json_kv_str(j, "tty", e->tty);
		if (e->user)
			json_kv_str(j, "user", e->user);
		if (e->group)
			json_kv_str(j, "group", e->group);
		json_server(j, e);
	}
	json_key(j, "ancestors");
	json_array_begin(j);
	for (a = e ? proc_table_parent(en->fc.procs, e) : NULL;
	     a && depth < PROC_ANCESTORS_MAX;
	     a = proc_table_parent(en->fc.procs, a), depth++) {
		json_object_begin(j);
		json_kv_int(j, "pid", a->pid);
		if (a->file)
			json_kv_str(j, "file", a->file);
		json_strv(j, "argv", a->argv, a->argc);
		if (a->exited)
			json_kv_bool(j, "exited", true);
		json_server(j, a);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

/* The first kill action of r, or NULL. */
static const struct rule_action *kill_action(const struct rule *r)
{
	for (size_t i = 0; i < rule_action_count(r); i++) {
		const struct rule_action *a = rule_action_at(r, i);

		if (strcmp(a->kind, "kill") == 0)
			return a;
	}
	return NULL;
}

struct alert {
	const struct engine_source *src;
	const struct rule *r;
	const struct event_record *ev;
	int type;
	const struct proc_entry *proc;
	int64_t pid;
	uint64_t ts;
	uint64_t suppressed;
	const struct rule_action *kill;
	const char *kill_status;
	size_t split, split_end;        /* where kill_status went */
};

/* Falco's "output": the description, the event, who did it. */
static void output_text(struct engine *en, const struct alert *al, struct strbuf *sb)
{
	const struct proc_entry *p = al->proc, *pp;
	const char *desc = rule_description(al->r);

	strbuf_reset(sb);
	strbuf_puts(sb, desc && *desc ? desc : rule_id(al->r));
	strbuf_puts(sb, " (");
	text_event(sb, al->ev);
	strbuf_printf(sb, " process=%s pid=%" PRId64, p && p->file ? p->file : "?",
		      al->pid);
	pp = p ? proc_table_parent(en->fc.procs, p) : NULL;
	if (pp)
		strbuf_printf(sb, " parent=%s ppid=%" PRId64,
			      pp->file ? pp->file : "?", pp->pid);
	if (p && p->uid >= 0)
		strbuf_printf(sb, " uid=%" PRId64, p->uid);
	strbuf_printf(sb, " container=%s rule=%s)",
		      *en->fc.container_id ? en->fc.container_id : "host",
		      rule_id(al->r));
}

static void render_json(struct engine *en, struct alert *al)
{
	struct json *j = &en->j;
	const struct rule *r = al->r;
	char tbuf[48], sbuf[16];

	json_reset(j);
	json_object_begin(j);
	json_kv_str(j, "type", "alert");
	json_kv_str(j, "time", time_iso8601(al->ts, tbuf, sizeof(tbuf)));
	json_kv_str(j, "rule", rule_id(r));
	json_kv_str(j, "priority", engine_priority_name(rule_severity(r)));
	output_text(en, al, &en->tmp);
	json_kv_strn(j, "output", en->tmp.len ? en->tmp.data : "", en->tmp.len);
	json_output_fields(en, al->type);
	json_key(j, "tags");
	json_array_begin(j);
	for (size_t i = 0; i < rule_tag_count(r); i++) {
		const struct rule_tag *t = rule_tag_at(r, i);

		strbuf_reset(&en->tmp);
		strbuf_puts(&en->tmp, t->key);
		if (t->value && *t->value)
			strbuf_printf(&en->tmp, ":%s", t->value);
		json_strn(j, en->tmp.len ? en->tmp.data : "", en->tmp.len);
	}
	json_array_end(j);
	json_kv_str(j, "hostname", al->src->hostname ? al->src->hostname : "");
	json_kv_str(j, "source", "syscall");
	json_kv_str(j, "rule_id", rule_id(r));
	json_kv_str(j, "severity", rules_severity_name(rule_severity(r)));
	json_kv_str(j, "description", rule_description(r) ? rule_description(r) : "");
	json_key(j, "actions");
	json_array_begin(j);
	for (size_t i = 0; i < rule_action_count(r); i++) {
		const struct rule_action *a = rule_action_at(r, i);

		json_object_begin(j);
		json_key(j, a->kind);
		json_object_begin(j);
		if (a == al->kill) {
			json_kv_str(j, "signal", signal_name(a->signal, sbuf));
			json_kv_str(j, "scope", a->scope ? a->scope : "process");
			json_key(j, "status");
			al->split = json_len(j);
			json_str(j, al->kill_status);
			al->split_end = json_len(j);
		} else if (strcmp(a->kind, "kill") == 0) {
			json_kv_str(j, "status", "skipped: one kill per alert");
		} else {
			json_kv_str(j, "status", "unsupported");
		}
		json_object_end(j);
		json_object_end(j);
	}
	json_array_end(j);
	json_process(en, al->proc, al->pid);
	json_key(j, "container");
	json_object_begin(j);
	json_kv_str(j, "id", al->proc && al->proc->container_id ?
		    al->proc->container_id : en->fc.container_id);
	json_object_end(j);
	json_kv_uint(j, "suppressed", al->suppressed);
	if (rule_threshold(r)) {
		/* What was counted: the event below is the one that reached it. */
		json_key(j, "threshold");
		json_object_begin(j);
		json_kv_uint(j, "count", rule_threshold(r)->count);
		json_kv_uint(j, "window_ns", rule_threshold(r)->window_ns);
		json_object_end(j);
	}
	if (al->src->session_json) {
		json_key(j, "session");
		json_raw(j, al->src->session_json, al->src->session_json_len);
	}
	/* Every key the tracer sent, in its order (the raw map's pass-through),
	 * a repeated one once: the value the rule saw. */
	json_key(j, "event");
	json_object_begin(j);
	for (uint32_t i = 0; al->ev->raw && i < al->ev->raw->via.map.size; i++) {
		const msgpack_object_kv *kv = &al->ev->raw->via.map.ptr[i];

		if (record_is_repeat(al->ev, i))
			continue;
		json_msgpack_key(j, &kv->key);
		json_msgpack(j, &kv->val);
	}
	json_object_end(j);
	json_object_end(j);
}

static void render_text(struct engine *en, struct alert *al)
{
	struct strbuf *sb = &en->text;
	const struct proc_entry *a;
	const char *desc = rule_description(al->r);
	const char *name = proc_entry_name(al->proc);
	unsigned depth = 0;
	char sbuf[16];

	strbuf_reset(sb);
	text_time(sb, al->ts);
	strbuf_printf(sb, " ALERT %s %s: ", rules_severity_name(rule_severity(al->r)),
		      rule_id(al->r));
	text_word(sb, name, strlen(name));
	strbuf_printf(sb, "[%" PRId64 "] ", al->pid);
	text_event(sb, al->ev);
	if (desc && *desc) {
		strbuf_puts(sb, " | ");
		strbuf_puts(sb, desc);
	}
	a = al->proc ? proc_table_parent(en->fc.procs, al->proc) : NULL;
	if (a)
		strbuf_puts(sb, " | ancestors:");
	for (; a && depth < PROC_ANCESTORS_MAX;
	     a = proc_table_parent(en->fc.procs, a), depth++) {
		const char *an = proc_entry_name(a);

		strbuf_puts(sb, depth ? " < " : " ");
		text_word(sb, an, strlen(an));
		strbuf_printf(sb, "[%" PRId64 "]", a->pid);
	}
	if (*en->fc.container_id) {
		strbuf_puts(sb, " | container ");
		text_word(sb, en->fc.container_id, strlen(en->fc.container_id));
	}
	if (al->kill) {
		strbuf_printf(sb, " | kill %s: ", signal_name(al->kill->signal, sbuf));
		al->split = sb->len;
		strbuf_puts(sb, al->kill_status);
		al->split_end = sb->len;
	}
	if (rule_threshold(al->r))
		strbuf_printf(sb, " | threshold %" PRIu32 " within %" PRIu64 " ms",
			      rule_threshold(al->r)->count,
			      rule_threshold(al->r)->window_ns / 1000000);
	if (al->suppressed)
		strbuf_printf(sb, " | %" PRIu64 " earlier alerts suppressed", al->suppressed);
}

static void sinks_write(struct engine *en, int prio, const char *line, size_t len)
{
	for (size_t i = 0; i < en->nsinks; i++)
		output_line_prio(en->sinks[i], prio, line, len);
}

/* ---- held alerts ---- */

static void pending_unlink(struct engine *en, struct pending_alert *p)
{
	struct pending_alert **pp = &en->pending, *prev = NULL;

	while (*pp && *pp != p) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = p->next;
	if (en->pending_tail == p)
		en->pending_tail = prev;
	en->npending--;
}

static void pending_complete(struct engine *en, struct pending_alert *p,
			     const char *status)
{
	struct strbuf *sb = &en->tmp;

	pending_unlink(en, p);
	if (p->line) {
		strbuf_reset(sb);
		strbuf_add(sb, p->line, p->split);
		if (en->format == OUTPUT_JSON) {
			strbuf_putc(sb, '"');
			json_escape(sb, status, strlen(status));
			strbuf_putc(sb, '"');
		} else {
			/* Escaped as text words are, without the quotes. */
			for (const char *c = status; *c; c++) {
				unsigned char u = (unsigned char)*c;

				if (u < 0x20 || u >= 0x7f)
					strbuf_printf(sb, "\\x%02x", u);
				else
					strbuf_putc(sb, (char)u);
			}
		}
		strbuf_add(sb, p->line + p->split_end, p->len - p->split_end);
		if (!strbuf_failed(sb))
			sinks_write(en, p->prio, sb->data, sb->len);
		else
			log_warn("out of memory writing an alert");
		free(p->line);
	}
	free(p);
}

static struct pending_alert *pending_find(struct engine *en, uint64_t id)
{
	for (struct pending_alert *p = en->pending; p; p = p->next)
		if (p->cmd_id == id)
			return p;
	return NULL;
}

static void pending_add(struct engine *en, struct tracer_state *owner,
			uint64_t cmd_id, const char *line, size_t len,
			size_t split, size_t split_end, int prio)
{
	struct pending_alert *p;

	if (en->npending >= ENGINE_PENDING_MAX) {
		en->stats.kills_timeout++;
		pending_complete(en, en->pending, "timeout");
	}
	p = calloc(1, sizeof(*p));
	if (p && line) {
		p->line = malloc(len);
		if (p->line) {
			memcpy(p->line, line, len);
		} else {
			free(p);
			p = NULL;
		}
	}
	if (!p) {
		/* Cannot hold it: write it now, saying so. */
		log_warn("out of memory holding an alert for its kill result");
		if (line)
			sinks_write(en, prio, line, len);
		return;
	}
	p->cmd_id = cmd_id;
	p->owner = owner;
	p->len = len;
	p->split = split;
	p->split_end = split_end;
	p->prio = prio;
	p->deadline = engine_now(en) + en->cfg.kill_timeout_ns;
	if (en->pending_tail)
		en->pending_tail->next = p;
	else
		en->pending = p;
	en->pending_tail = p;
	en->npending++;
}

void engine_command_result(struct engine *en, struct tracer_state *ts,
			   const struct wire_command_result *res)
{
	struct pending_alert *p = pending_find(en, res->id);
	char status[160];

	if (!p || p->owner != ts) {
		en->stats.stray_results++;
		log_debug("COMMAND_RESULT %" PRIu64 " matches no kill in flight", res->id);
		return;
	}
	if (res->done) {
		en->stats.kills_done++;
		/* The container scope says how many it reached. */
		if (res->count > 1)
			snprintf(status, sizeof(status), "done: %" PRIu32 " processes",
				 res->count);
		else
			snprintf(status, sizeof(status), "done");
	} else {
		en->stats.kills_failed++;
		snprintf(status, sizeof(status), "failed: %.*s",
			 (int)(res->error.len > 120 ? 120 : res->error.len),
			 res->error.ptr ? res->error.ptr : "");
		log_warn("kill of pid %" PRId64 " failed: %.*s", res->pid,
			 (int)res->error.len, res->error.ptr ? res->error.ptr : "");
	}
	pending_complete(en, p, status);
}

size_t engine_tick(struct engine *en)
{
	uint64_t now = engine_now(en);

	while (en->pending && en->pending->deadline <= now) {
		en->stats.kills_timeout++;
		pending_complete(en, en->pending, "timeout");
	}
	return en->npending;
}

uint64_t engine_next_deadline(const struct engine *en)
{
	return en->pending ? en->pending->deadline : 0;
}

void engine_forget(struct engine *en, struct tracer_state *ts, const char *why)
{
	struct pending_alert *p = en->pending, *next;

	for (; p; p = next) {
		next = p->next;
		if (p->owner == ts)
			pending_complete(en, p, why);
	}
}

/* ---- evaluation ---- */

struct match {
	struct engine *en;
	const struct engine_source *src;
	const struct event_record *ev;
	int type;
	const struct proc_entry *proc;
	int64_t pid;
	uint64_t ts;
	uint64_t now;
	const struct rules_ctx *rctx;
	const struct rule *fired[PIPES_FIRED_MAX]; /* for pipes_after_exec */
	size_t nfired;
};

/* Sends the COMMAND; returns its id, or 0 with *status set. */
static uint64_t send_kill(struct engine *en, const struct match *m,
			  const struct rule *r, const struct rule_action *a,
			  const char **status)
{
	struct wire_command cmd;
	msgpack_packer pk;
	const char *cid = NULL;
	bool container;
	size_t start;

	if (!en->cfg.enforcement) {
		en->stats.kills_disabled++;
		*status = "disabled";
		return 0;
	}
	if (a->scope && strcmp(a->scope, "process") != 0 &&
	    strcmp(a->scope, "container") != 0) {
		en->stats.kills_failed++;
		*status = "failed: only the process and container scopes are supported";
		return 0;
	}
	container = a->scope && strcmp(a->scope, "container") == 0;
	if (m->pid <= 0 || m->pid > INT32_MAX) {
		en->stats.kills_failed++;
		*status = "failed: the event has no pid";
		return 0;
	}
	/* Without its start time the tracer could not tell the process from
	 * another that got its pid since: it would refuse, so say it here. */
	if (!m->proc || !m->proc->start_ticks) {
		en->stats.kills_failed++;
		*status = "failed: the process's start time is unknown";
		return 0;
	}
	if (container) {
		/* A process without its own id is in the session's container,
		 * as the alert's container.id says. */
		cid = m->proc->container_id ? m->proc->container_id :
		      m->src->ts && m->src->ts->container_id ? m->src->ts->container_id : "";
		if (!*cid) {
			en->stats.kills_failed++;
			*status = "failed: the process is in no container";
			return 0;
		}
	}
	if (!disarm_allow(en, rule_id(r), m->proc && m->proc->file ? m->proc->file : "",
			  m->src->ts ? m->src->ts->id : 0, m->now)) {
		en->stats.kills_disarmed++;
		*status = "disarmed";
		return 0;
	}
	if (!m->src->reply) {
		en->stats.kills_failed++;
		*status = "failed: no connection to the tracer";
		return 0;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.id = ++en->next_cmd_id;
	cmd.action = wire_str_c("kill");
	cmd.pid = m->pid;
	cmd.signal = a->signal;
	cmd.rule_id = wire_str_c(rule_id(r));
	cmd.start_ticks = m->proc->start_ticks;
	if (container) {
		cmd.scope = wire_str_c("container");
		cmd.container_id = wire_str_c(cid);
	}
	msgpack_packer_init(&pk, m->src->reply, msgpack_sbuffer_write);
	start = frame_begin(m->src->reply);
	wire_pack_command(&pk, &cmd);
	frame_end(m->src->reply, start);
	en->stats.kills_sent++;
	log_info("rule %s: sending SIG%s to pid %" PRId64, rule_id(r),
		 sigabbrev_np(a->signal) ? sigabbrev_np(a->signal) : "?", m->pid);
	*status = "timeout";
	return cmd.id;
}

static void on_match(const struct rule *r, void *data)
{
	struct match *m = data;
	struct engine *en = m->en;
	struct rule_state *st = state_of(en, r);
	const struct rule_action *kill = kill_action(r);
	struct alert al;
	const char *status = NULL;
	uint64_t cmd_id = 0;
	bool allowed;
	int prio = engine_syslog_priority(rule_severity(r));
	const struct rule_threshold *th = rule_threshold(r);

	if (m->nfired < PIPES_FIRED_MAX)
		m->fired[m->nfired++] = r;
	/*
	 * A rule with a threshold alerts once its count is reached; a late
	 * alert from a pipeline (engine_alert, no field context) is not
	 * counted again.
	 */
	if (th && (!m->rctx || !window_match(en->windows, rule_id(r), th, m->rctx,
					     m->src->ts ? m->src->ts->id : 0, m->ts)))
		return;
	allowed = !st || limiter_take(st, m->now);
	if (kill)
		cmd_id = send_kill(en, m, r, kill, &status);
	if (!allowed) {
		st->suppressed++;
		en->stats.suppressed++;
		if (m->src->ts)
			m->src->ts->suppressed++;
		/* Still learn how the kill went, for the statistics. */
		if (cmd_id)
			pending_add(en, m->src->ts, cmd_id, NULL, 0, 0, 0, prio);
		return;
	}
	memset(&al, 0, sizeof(al));
	al.src = m->src;
	al.r = r;
	al.ev = m->ev;
	al.type = m->type;
	al.proc = m->proc;
	al.pid = m->pid;
	al.ts = m->ts;
	al.suppressed = st ? st->suppressed : 0;
	al.kill = kill;
	al.kill_status = status;
	if (en->format == OUTPUT_TEXT)
		render_text(en, &al);
	else
		render_json(en, &al);
	if (st)
		st->suppressed = 0;
	en->stats.alerts++;
	if (m->src->ts)
		m->src->ts->alerts++;
	{
		const char *line = en->format == OUTPUT_TEXT ? en->text.data : json_data(&en->j);
		size_t len = en->format == OUTPUT_TEXT ? en->text.len : json_len(&en->j);
		bool failed = en->format == OUTPUT_TEXT ? strbuf_failed(&en->text)
							: json_failed(&en->j);

		if (failed) {
			log_warn("rule %s: out of memory formatting an alert", rule_id(r));
			return;
		}
		if (cmd_id)
			pending_add(en, m->src->ts, cmd_id, line, len, al.split,
				    al.split_end, prio);
		else
			sinks_write(en, prio, line, len);
	}
}

void engine_eval(struct engine *en, const struct engine_source *src,
		 const struct event_record *ev, const struct proc_entry *proc)
{
	struct rules_ctx rctx;
	struct match m;
	int type = ev->type;

	if (!en->rules || type < 0 || type >= RULES_EV__COUNT ||
	    rule_set_count_for(en->rules, type) == 0)
		return;
	field_ctx_reset(&en->fc, ev, src->ts ? src->ts->procs : NULL, proc,
			src->ts ? src->ts->container_id : "");
	rctx = field_ctx_rules(&en->fc);
	m = (struct match){
		.en = en, .src = src, .ev = ev, .type = type, .proc = proc,
		.pid = ev->has_pid ? ev->pid : 0, .ts = ev->ts, .now = engine_now(en),
		.rctx = &rctx,
	};
	rule_set_eval(en->rules, type, &rctx, on_match, &m);
	if (type == RULES_EV_EXEC)
		pipes_after_exec(en, src, ev, proc, ev->ts, m.fired, m.nfired);
}

void engine_alert(struct engine *en, const struct engine_source *src,
		  const struct rule *r, const struct event_record *ev,
		  const struct proc_entry *proc)
{
	struct match m = {
		.en = en, .src = src, .ev = ev, .type = ev->type, .proc = proc,
		.pid = ev->has_pid ? ev->pid : 0, .ts = ev->ts, .now = engine_now(en),
	};

	on_match(r, &m);
}

void engine_write_line(struct engine *en, int prio, const char *line, size_t len)
{
	sinks_write(en, prio, line, len);
	en->stats.alerts++;
}
