/* SPDX-License-Identifier: Apache-2.0 */
/* Field values for the rule evaluator, from the event map and process table. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "fieldget.h"
#include "pipes.h"

enum attr {
	A_NONE, A_FILE, A_ARGV, A_COMM, A_PID, A_PPID, A_UID, A_GID, A_EUID,
	A_EGID, A_USER, A_GROUP, A_CWD, A_ENVP, A_CONTAINER, A_TTY, A_START,
	A_SERVER, A_PORTS, A_NAMES,
	A_STDIN, A_STDOUT, A_STDERR, A_WRITER_FILE, A_WRITER_COMM, A_WRITER_PID,
	A_UPSTREAM,
};

static enum attr attr_of(const char *key)
{
	static const struct {
		const char *key;
		enum attr a;
	} map[] = {
		{ "file", A_FILE }, { "argv", A_ARGV }, { "comm", A_COMM },
		{ "pid", A_PID }, { "ppid", A_PPID }, { "uid", A_UID },
		{ "gid", A_GID }, { "euid", A_EUID }, { "egid", A_EGID },
		{ "user", A_USER }, { "group", A_GROUP }, { "cwd", A_CWD },
		{ "envp", A_ENVP }, { "container_id", A_CONTAINER },
		{ "tty", A_TTY }, { "start", A_START },
		{ "is_server", A_SERVER }, { "listen_ports", A_PORTS },
		{ "names", A_NAMES },
		{ "stdin", A_STDIN }, { "stdout", A_STDOUT },
		{ "stderr", A_STDERR }, { "stdin_writer_file", A_WRITER_FILE },
		{ "stdin_writer_comm", A_WRITER_COMM },
		{ "stdin_writer_pid", A_WRITER_PID },
		{ "stdin_upstream", A_UPSTREAM },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].key, key) == 0)
			return map[i].a;
	return A_NONE;
}

void field_ctx_init(struct field_ctx *c)
{
	memset(c, 0, sizeof(*c));
	for (unsigned i = 0; i < FIELD_SCRATCH; i++) {
		strbuf_init(&c->str[i]);
		strbuf_init(&c->it[i].buf);
	}
	c->container_id = "";
	for (size_t i = 0; i < FIELD_ID_CACHE; i++)
		c->key[i] = -1;
	for (size_t i = 0; i < rules_field_count(); i++) {
		const struct rules_field *f = rules_field_at(i);

		if (f->id >= 0 && f->id < FIELD_ID_CACHE) {
			c->by_id[f->id] = f;
			c->attr[f->id] = (uint8_t)attr_of(f->key);
			if (f->source == RULES_SRC_EVENT)
				c->key[f->id] = (int16_t)record_key_index(f->key);
		}
	}
}

static const struct rules_field *field_lookup(const struct field_ctx *c, int id)
{
	if (id >= 0 && id < FIELD_ID_CACHE)
		return c->by_id[id];
	return rules_field_by_id(id);
}

static enum attr field_attr(const struct field_ctx *c, const struct rules_field *f)
{
	if (f->id >= 0 && f->id < FIELD_ID_CACHE)
		return (enum attr)c->attr[f->id];
	return attr_of(f->key);
}

void field_ctx_fini(struct field_ctx *c)
{
	for (unsigned i = 0; i < FIELD_SCRATCH; i++) {
		strbuf_fini(&c->str[i]);
		strbuf_fini(&c->it[i].buf);
	}
}

void field_ctx_reset(struct field_ctx *c, const struct event_record *ev,
		     struct proc_table *procs, const struct proc_entry *proc,
		     const char *container_id)
{
	c->ev = ev;
	c->procs = procs;
	c->proc = proc;
	c->pid = ev && ev->has_pid ? ev->pid : 0;
	c->container_id = container_id ? container_id : "";
	c->ts = ev ? ev->ts : 0;
}

static struct strbuf *scratch_str(struct field_ctx *c)
{
	struct strbuf *sb = &c->str[c->str_next++ % FIELD_SCRATCH];

	strbuf_reset(sb);
	return sb;
}

static void set_str(struct rules_value *v, const char *s, size_t len)
{
	v->kind = RULES_V_STR;
	v->s = s;
	v->len = len;
}

static void set_int(struct rules_value *v, int64_t i)
{
	v->kind = RULES_V_INT;
	v->i = i;
}

static void set_basename(struct rules_value *v, const char *s, size_t len)
{
	size_t start = len;

	while (start > 0 && s[start - 1] != '/')
		start--;
	/* "/usr/bin/" has no base name after the slash: keep the whole. */
	if (start == len)
		start = 0;
	set_str(v, s + start, len - start);
}

/* ---- values from a process entry ---- */

static int strv_value(struct field_ctx *c, char *const *argv, uint32_t argc,
		      enum rules_xform xf, struct strbuf *sb, struct rules_value *v)
{
	if (xf == RULES_XFORM_ARGV0) {
		if (argc == 0)
			return -1;
		set_str(v, argv[0], strlen(argv[0]));
		return 0;
	}
	/* RULES_XFORM_ARGS */
	strbuf_reset(sb);
	for (uint32_t i = 1; i < argc; i++) {
		if (i > 1)
			strbuf_putc(sb, ' ');
		strbuf_puts(sb, argv[i]);
	}
	if (strbuf_failed(sb))
		return -1;
	set_str(v, sb->len ? sb->data : "", sb->len);
	return 0;
}

/* One scalar attribute of e (e may be NULL for the event's own process). */
static int proc_scalar(struct field_ctx *c, const struct proc_entry *e,
		       enum attr a, enum rules_xform xf, struct strbuf *sb,
		       struct rules_value *v)
{
	const char *s = NULL;
	int64_t i = -1;

	switch (a) {
	case A_PID:
		i = e ? e->pid : c->pid;
		break;
	case A_CONTAINER:
		/* The process's own (its cgroup), else the tracer's. */
		s = e && e->container_id ? e->container_id : c->container_id;
		break;
	default:
		if (!e)
			return -1;
		break;
	}
	switch (a) {
	case A_FILE: s = e->file; break;
	case A_COMM: s = e->comm[0] ? e->comm : NULL; break;
	case A_CWD: s = e->cwd; break;
	case A_TTY: s = e->tty; break;
	case A_USER: s = e->user; break;
	case A_GROUP: s = e->group; break;
	case A_PPID: /* the kernel's current parent; the creator if unknown */
		i = e->cur_ppid > 0 ? e->cur_ppid : e->ppid > 0 ? e->ppid : -1;
		break;
	case A_UID: i = e->uid; break;
	case A_GID: i = e->gid; break;
	case A_EUID: i = e->euid; break;
	case A_EGID: i = e->egid; break;
	case A_START:
		if (!e->start_ns || c->ts < e->start_ns)
			return -1;
		i = (int64_t)(c->ts - e->start_ns);
		break;
	case A_ARGV:
		return strv_value(c, e->argv, e->argc, xf, sb, v);
	case A_SERVER:
		i = proc_entry_is_server(e);
		break;
	case A_STDIN: case A_STDOUT: case A_STDERR:
		s = pipes_stdio_type_name(e->stdio[a - A_STDIN].type);
		break;
	case A_WRITER_FILE: case A_WRITER_COMM: case A_WRITER_PID: {
		const struct pipe_writer *w = pipes_stdin_writer(c->procs, e);

		if (!w)
			return -1;
		if (a == A_WRITER_FILE)
			s = w->file;
		else if (a == A_WRITER_COMM)
			s = w->comm[0] ? w->comm : NULL;
		else
			i = w->pid;
		break;
	}
	default:
		break;
	}
	if (s) {
		if (xf == RULES_XFORM_BASENAME)
			set_basename(v, s, strlen(s));
		else
			set_str(v, s, strlen(s));
		return 0;
	}
	if (i < 0)
		return -1;
	set_int(v, i);
	return 0;
}

/* ---- iterators ---- */

static bool env_name(struct rules_value *e, const char *s, size_t len)
{
	const char *eq = memchr(s, '=', len);

	set_str(e, s, eq ? (size_t)(eq - s) : len);
	return true;
}

/* The names of an event's "NAME=value" strings (the others need no iterator). */
static bool iter_env_names(void *data, struct rules_value *e)
{
	struct field_iter *it = data;

	if (it->i >= it->n)
		return false;
	memset(e, 0, sizeof(*e));
	env_name(e, it->strs[it->i].ptr, it->strs[it->i].len);
	it->i++;
	return true;
}

/* Arrays that are not argv or envp: process.names, process.listen.ports. */
static bool is_net_multi(enum attr a)
{
	return a == A_PORTS || a == A_NAMES;
}

/*
 * Element *k of p's names or ports, advancing *k past it; false at the
 * end. Names the entry lacks (no file, no argv, no comm) are skipped.
 */
static bool net_multi_next(const struct proc_entry *p, enum attr a, uint32_t *k,
			   struct rules_value *e)
{
	memset(e, 0, sizeof(*e));
	if (a == A_PORTS) {
		if (*k >= p->net.nports)
			return false;
		set_int(e, p->net.ports[(*k)++]);
		return true;
	}
	/* The executable's base name, argv[0]'s and comm, alike: a rule on
	 * names holds whichever of them a process dresses. */
	while (*k < 3) {
		const char *s = *k == 0 ? p->file
			      : *k == 1 ? (p->argc ? p->argv[0] : NULL)
			      : (p->comm[0] ? p->comm : NULL);

		if (s && *s) {
			/* comm is a name, not a path ("kworker/0:1"). */
			if ((*k)++ < 2)
				set_basename(e, s, strlen(s));
			else
				set_str(e, s, strlen(s));
			return true;
		}
		(*k)++;
	}
	return false;
}

/* Over one entry's argv or envp (process and parent arrays), names, ports. */
static bool iter_strv(void *data, struct rules_value *e)
{
	struct field_iter *it = data;
	const struct proc_entry *p = it->anc;
	bool env = field_attr(it->ctx, it->f) == A_ENVP;

	if (is_net_multi(field_attr(it->ctx, it->f)))
		return net_multi_next(p, field_attr(it->ctx, it->f), &it->k, e);
	uint32_t n = env ? p->envc : p->argc;
	char *const *v = env ? p->envp : p->argv;

	if (it->k >= n)
		return false;
	memset(e, 0, sizeof(*e));
	if (it->f->xform == RULES_XFORM_ENV_NAMES)
		env_name(e, v[it->k], strlen(v[it->k]));
	else
		set_str(e, v[it->k], strlen(v[it->k]));
	it->k++;
	return true;
}

/*
 * Over the ancestors, nearest first. Multi-valued attributes (argv, envs)
 * are flattened; an attribute an ancestor lacks is skipped.
 */
static bool iter_ancestors(void *data, struct rules_value *e)
{
	struct field_iter *it = data;
	enum attr a = field_attr(it->ctx, it->f);

	while (it->anc) {
		const struct proc_entry *p = it->anc;
		bool multi = (a == A_ARGV && it->f->xform == RULES_XFORM_NONE) ||
			     a == A_ENVP;

		memset(e, 0, sizeof(*e));
		if (is_net_multi(a)) {
			if (net_multi_next(p, a, &it->k, e))
				return true;
		} else if (multi) {
			uint32_t n = a == A_ENVP ? p->envc : p->argc;
			char *const *v = a == A_ENVP ? p->envp : p->argv;

			if (it->k < n) {
				const char *s = v[it->k++];

				if (it->f->xform == RULES_XFORM_ENV_NAMES)
					return env_name(e, s, strlen(s));
				set_str(e, s, strlen(s));
				return true;
			}
		} else if (it->k == 0) {
			it->k = 1;
			if (proc_scalar(it->ctx, p, a, it->f->xform, &it->buf, e) == 0)
				return true;
		}
		it->k = 0;
		if (++it->depth >= PROC_ANCESTORS_MAX)
			it->anc = NULL;
		else
			it->anc = proc_table_parent(it->ctx->procs, p);
	}
	return false;
}

/* Up a pipeline (pipes_stdin_upstream), the base names of the writers. */
static bool iter_upstream(void *data, struct rules_value *e)
{
	struct field_iter *it = data;
	const struct pipe_writer *w;

	while ((w = pipes_stdin_upstream(it->ctx->procs, it->anc, it->k)) != NULL) {
		it->k++;
		if (!w->file)
			continue;
		memset(e, 0, sizeof(*e));
		set_basename(e, w->file, strlen(w->file));
		return true;
	}
	return false;
}

static struct field_iter *scratch_iter(struct field_ctx *c, const struct rules_field *f)
{
	struct field_iter *it = &c->it[c->it_next++ % FIELD_SCRATCH];

	it->ctx = c;
	it->f = f;
	it->strs = NULL;
	it->n = 0;
	it->i = 0;
	it->anc = NULL;
	it->depth = 0;
	it->k = 0;
	return it;
}

static void set_iter(struct rules_value *v, struct field_iter *it,
		     bool (*next)(void *, struct rules_value *))
{
	v->kind = RULES_V_ITER;
	v->next = next;
	v->it = it;
}

/* ---- sources ---- */
/*
 * The measures of a DNS name the tunnelling and generated-domain rules
 * use. Entropy: -sum(p * log2 p) over the byte frequencies of the name
 * without its dots, in hundredths of a bit (an int, as the language has
 * no floats); at most 255 bytes, so a few hundred steps.
 */
static int64_t str_measure(enum rules_xform xf, const char *s, size_t len)
{
	unsigned counts[256] = { 0 };
	size_t n = 0, run = 0, longest = 0;
	double h = 0;

	if (xf == RULES_XFORM_LENGTH)
		return (int64_t)len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			run = 0;
			continue;
		}
		counts[c]++;
		n++;
		if (++run > longest)
			longest = run;
	}
	if (xf == RULES_XFORM_LONGEST_LABEL)
		return (int64_t)longest;
	for (unsigned c = 0; c < 256 && n; c++) {
		double p;

		if (!counts[c])
			continue;
		p = (double)counts[c] / (double)n;
		h -= p * log2(p);
	}
	return (int64_t)(h * 100.0 + 0.5);
}

static int event_value(struct field_ctx *c, const struct rules_field *f,
		       struct rules_value *v)
{
	const struct record_slot *sl;
	const struct rules_str *strs;
	struct field_iter *it;
	int k;

	if (!c->ev)
		return -1;
	k = f->id >= 0 && f->id < FIELD_ID_CACHE ? c->key[f->id] :
	    record_key_index(f->key);
	sl = record_slot(c->ev, k);
	if (!sl)
		return -1;
	switch (sl->vt) {
	case RECORD_V_STR:
		if (f->xform == RULES_XFORM_LENGTH ||
		    f->xform == RULES_XFORM_ENTROPY ||
		    f->xform == RULES_XFORM_LONGEST_LABEL) {
			set_int(v, str_measure(f->xform, sl->v.s, sl->n));
			return 0;
		}
		if (f->xform == RULES_XFORM_BASENAME)
			set_basename(v, sl->v.s, sl->n);
		else
			set_str(v, sl->v.s, sl->n);
		return 0;
	case RECORD_V_INT:
		set_int(v, sl->big ? (int64_t)sl->v.u : sl->v.i);
		return 0;
	case RECORD_V_BOOL:
		set_int(v, sl->v.b ? 1 : 0);
		return 0;
	case RECORD_V_INTS:
		v->kind = RULES_V_INTS;
		v->ints = c->ev->ints + sl->v.u;
		v->n = sl->n;
		return 0;
	case RECORD_V_STRS:
		break;
	default:
		return -1;
	}
	strs = c->ev->strs + sl->v.u;
	switch (f->xform) {
	case RULES_XFORM_ARGV0:
		if (sl->n == 0)
			return -1;
		set_str(v, strs[0].ptr, strs[0].len);
		return 0;
	case RULES_XFORM_ARGS: {
		struct strbuf *sb = scratch_str(c);

		for (uint32_t i = 1; i < sl->n; i++) {
			if (sb->len)
				strbuf_putc(sb, ' ');
			strbuf_add(sb, strs[i].ptr, strs[i].len);
		}
		if (strbuf_failed(sb))
			return -1;
		set_str(v, sb->len ? sb->data : "", sb->len);
		return 0;
	}
	case RULES_XFORM_ENV_NAMES:
		it = scratch_iter(c, f);
		it->strs = strs;
		it->n = sl->n;
		set_iter(v, it, iter_env_names);
		return 0;
	default:
		v->kind = RULES_V_STRS;
		v->strs = strs;
		v->n = sl->n;
		return 0;
	}
}

static int process_value(struct field_ctx *c, const struct rules_field *f,
			 const struct proc_entry *e, struct rules_value *v)
{
	enum attr a = field_attr(c, f);
	struct field_iter *it;

	if ((a == A_ARGV && f->xform == RULES_XFORM_NONE) || a == A_ENVP ||
	    is_net_multi(a) || a == A_UPSTREAM) {
		if (!e)
			return -1;
		it = scratch_iter(c, f);
		it->anc = e;
		set_iter(v, it, a == A_UPSTREAM ? iter_upstream : iter_strv);
		return 0;
	}
	return proc_scalar(c, e, a, f->xform, scratch_str(c), v);
}

int field_ctx_get(void *data, int field_id, struct rules_value *ret)
{
	struct field_ctx *c = data;
	const struct rules_field *f = field_lookup(c, field_id);
	const struct proc_entry *parent;
	struct field_iter *it;

	if (!f)
		return -1;
	switch (f->source) {
	case RULES_SRC_EVENT:
		return event_value(c, f, ret);
	case RULES_SRC_PROCESS:
		return process_value(c, f, c->proc, ret);
	case RULES_SRC_PARENT:
		parent = c->proc ? proc_table_parent(c->procs, c->proc) : NULL;
		if (!parent)
			return -1;
		return process_value(c, f, parent, ret);
	case RULES_SRC_ANCESTORS:
		parent = c->proc ? proc_table_parent(c->procs, c->proc) : NULL;
		if (!parent)
			return -1;
		it = scratch_iter(c, f);
		it->anc = parent;
		set_iter(ret, it, iter_ancestors);
		return 0;
	case RULES_SRC_BUILTIN:
		if (c->ev && record_has(c->ev, RK_EV)) {
			set_str(ret, c->ev->kind.ptr, c->ev->kind.len);
			return 0;
		}
		return -1;
	}
	return -1;
}
