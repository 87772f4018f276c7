/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policies: reads YAML files and directories (libyaml's document API),
 * collects macro, list and rule definitions in order (a later definition
 * with the same id overrides the earlier one), then compiles the final
 * definitions into a rule set indexed by event type. Every problem is a
 * diagnostic with the file, line and column; a broken rule is skipped.
 * Owns the rule set, its rules and the diagnostics list.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "rules.h"
#include "rules-int.h"

/* ---- Diagnostics ---- */

void rules_diag_init(struct rules_diag *d)
{
	memset(d, 0, sizeof(*d));
}

void rules_diag_fini(struct rules_diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
		free(d->v[i].excerpt);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

int rules_diag_add(struct rules_diag *d, bool warning, const struct src_pos *pos,
		   const char *fmt, ...)
{
	struct rules_diag_entry *e;
	char msg[1024];
	va_list ap;

	if (!d)
		return 0;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct rules_diag_entry *v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e = &d->v[d->n];
	memset(e, 0, sizeof(*e));
	e->file = strdup(pos && pos->file ? pos->file : "");
	e->msg = strdup(msg);
	if (pos && pos->ltext)
		e->excerpt = strndup(pos->ltext, pos->llen);
	if (!e->file || !e->msg || (pos && pos->ltext && !e->excerpt)) {
		free(e->file);
		free(e->msg);
		free(e->excerpt);
		return -ENOMEM;
	}
	e->line = pos ? pos->line : 0;
	e->col = pos ? pos->col : 0;
	e->warning = warning;
	d->n++;
	if (warning)
		d->warnings++;
	else
		d->errors++;
	return 0;
}

void rules_diag_print(const struct rules_diag *d, FILE *f)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct rules_diag_entry *e = &d->v[i];
		const char *kind = e->warning ? "warning" : "error";

		if (e->line)
			fprintf(f, "%s:%u:%u: %s: %s\n", e->file, e->line, e->col,
				kind, e->msg);
		else if (e->file[0])
			fprintf(f, "%s: %s: %s\n", e->file, kind, e->msg);
		else
			fprintf(f, "%s: %s\n", kind, e->msg);
		if (e->excerpt && e->col) {
			unsigned col = 1;

			fprintf(f, "  %s\n  ", e->excerpt);
			/* Tabs stay tabs so that the caret lines up. */
			for (const char *p = e->excerpt; *p && col < e->col; p++) {
				if (((unsigned char)*p & 0xc0) == 0x80)
					continue;
				fputc(*p == '\t' ? '\t' : ' ', f);
				col++;
			}
			fputs("^\n", f);
		}
	}
}

/* ---- Source files and positions ---- */

struct src_file {
	char *name;
	char *text;
	size_t len;
	yaml_document_t doc;
	bool doc_ok;
};

/* Byte offset of a libyaml mark (line, column in characters). */
static size_t mark_offset(const struct src_file *f, yaml_mark_t m)
{
	size_t i = 0, line = 0, col = 0;

	while (i < f->len && line < m.line) {
		if (f->text[i++] == '\n')
			line++;
	}
	while (i < f->len && col < m.column && f->text[i] != '\n') {
		i++;
		while (i < f->len && ((unsigned char)f->text[i] & 0xc0) == 0x80)
			i++;
		col++;
	}
	return i;
}

/* Line, column and the line's text at a byte offset. */
static void pos_at_offset(const struct src_file *f, size_t off, struct src_pos *ret)
{
	size_t ls = 0, line = 1, col = 1, le;

	if (off > f->len)
		off = f->len;
	for (size_t i = 0; i < off; i++)
		if (f->text[i] == '\n') {
			line++;
			ls = i + 1;
		}
	for (size_t i = ls; i < off; i++)
		if (((unsigned char)f->text[i] & 0xc0) != 0x80)
			col++;
	for (le = ls; le < f->len && f->text[le] != '\n'; le++)
		;
	if (le > ls && f->text[le - 1] == '\r')
		le--;
	ret->file = f->name;
	ret->line = (unsigned)line;
	ret->col = (unsigned)col;
	ret->ltext = f->text + ls;
	ret->llen = le - ls;
}

static void pos_at_mark(const struct src_file *f, yaml_mark_t m, struct src_pos *ret)
{
	pos_at_offset(f, mark_offset(f, m), ret);
}

/* An expression scalar: maps offsets in its value back to the file. */
struct def_expr {
	struct expr_src src;
	const struct src_file *file;
	yaml_mark_t mark;
	yaml_scalar_style_t style;
};

static void expr_locate(const struct expr_src *e, size_t off, struct src_pos *ret)
{
	const struct def_expr *d = e->priv;
	const struct src_file *f = d->file;
	const char *t = f->text, *v = e->text;
	size_t si = mark_offset(f, d->mark), vi = 0;
	bool dq = d->style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	bool sq = d->style == YAML_SINGLE_QUOTED_SCALAR_STYLE;

	if (d->style == YAML_LITERAL_SCALAR_STYLE ||
	    d->style == YAML_FOLDED_SCALAR_STYLE) {
		while (si < f->len && t[si] != '\n')
			si++;
	} else if (dq || sq) {
		si++;
	}
	/*
	 * Walk value and source together: equal bytes advance both, a
	 * whitespace run in the value matches a run of blanks, line breaks
	 * and indentation in the source, and quoting escapes take more
	 * source bytes than value bytes. Stop where they disagree.
	 */
	while (vi < off && vi < e->len && si < f->len) {
		char vc = v[vi], sc = t[si];

		if (dq && sc == '\\') {
			if (si + 1 < f->len && t[si + 1] == '\n') {
				si += 2;
				continue;
			}
			si += si + 1 < f->len && t[si + 1] == 'x' ? 4 :
			      si + 1 < f->len && t[si + 1] == 'u' ? 6 : 2;
			vi++;
		} else if (sq && sc == '\'' && si + 1 < f->len && t[si + 1] == '\'') {
			si += 2;
			vi++;
		} else if (vc == sc && !isspace((unsigned char)vc)) {
			si++;
			vi++;
		} else if (isspace((unsigned char)vc)) {
			vi++;
			while (si < f->len && isspace((unsigned char)t[si]))
				si++;
		} else if (isspace((unsigned char)sc)) {
			si++;
		} else {
			break;
		}
	}
	pos_at_offset(f, si, ret);
}

static int read_file(const char *path, char **ret_text, size_t *ret_len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!fp)
		return -errno;
	for (;;) {
		if (cap - len < 4096) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				fclose(fp);
				return -ENOMEM;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, fp);

		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		int r = -EIO;

		free(buf);
		fclose(fp);
		return r;
	}
	fclose(fp);
	buf[len] = '\0';
	*ret_text = buf;
	*ret_len = len;
	return 0;
}

/* ---- Definitions ---- */

struct macro_def {
	const char *id;
	struct src_file *file;
	yaml_node_t *node;
	struct def_expr expr;     /* expression form */
	yaml_node_t *values;      /* values form: a named list */
	bool broken;
};

enum rule_key {
	RK_EXPRESSION, RK_DESCRIPTION, RK_SEVERITY, RK_TAGS, RK_DISABLED,
	RK_ACTIONS, RK_EVERY, RK_THRESHOLD, RK__COUNT,
};

static const char *const rule_keys[RK__COUNT] = {
	[RK_EXPRESSION] = "expression",
	[RK_DESCRIPTION] = "description",
	[RK_SEVERITY] = "severity",
	[RK_TAGS] = "tags",
	[RK_DISABLED] = "disabled",
	[RK_ACTIONS] = "actions",
	[RK_EVERY] = "every",
	[RK_THRESHOLD] = "threshold",
};

/* Keys of other engines, accepted and ignored without a warning. */
static const char *const ignored_rule_keys[] = {
	"id", "version", "agent_version", "filters", "product_tags",
	"group_id", "silent", "limiter_token",
};

struct rule_def {
	const char *id;
	/* Each attribute from the definition that set it last. */
	yaml_node_t *attr[RK__COUNT];
	struct src_file *attr_file[RK__COUNT];
	struct src_file *file;    /* the last definition */
	yaml_node_t *node;
};

struct loader {
	struct rules_diag *diag;
	struct src_file **files;
	size_t nfiles;
	struct macro_def *macros;
	size_t nmacros;
	struct macro_def *lists;  /* `lists:` entries, values form */
	size_t nlists;
	struct rule_def *rules;
	size_t nrules;
	bool nomem;
};

static void lerr(struct loader *L, bool warning, const struct src_file *f,
		 const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void lerr(struct loader *L, bool warning, const struct src_file *f,
		 const yaml_node_t *n, const char *fmt, ...)
{
	struct src_pos pos = { .file = f ? f->name : NULL };
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (f && n)
		pos_at_mark(f, n->start_mark, &pos);
	if (rules_diag_add(L->diag, warning, &pos, "%s", msg) < 0)
		L->nomem = true;
}

static yaml_node_t *node_get(struct src_file *f, int i)
{
	return yaml_document_get_node(&f->doc, i);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
						 : NULL;
}

/* A plain "~" or "null" or an empty plain scalar. */
static bool is_null(const yaml_node_t *n)
{
	const char *s = scalar(n);

	return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*s || !strcmp(s, "~") || !strcmp(s, "null"));
}

#define FOR_PAIRS(f, map, k, v) \
	for (yaml_node_pair_t *p_ = (map)->data.mapping.pairs.start; \
	     p_ < (map)->data.mapping.pairs.top && \
	     ((k) = node_get(f, p_->key), (v) = node_get(f, p_->value), 1); p_++)

#define FOR_ITEMS(f, seq, it) \
	for (yaml_node_item_t *i_ = (seq)->data.sequence.items.start; \
	     i_ < (seq)->data.sequence.items.top && ((it) = node_get(f, *i_), 1); i_++)

static yaml_node_t *map_get(struct src_file *f, yaml_node_t *map, const char *key)
{
	yaml_node_t *k, *v;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	FOR_PAIRS(f, map, k, v) {
		const char *s = scalar(k);

		if (s && !strcmp(s, key))
			return v;
	}
	return NULL;
}

static bool valid_id(const char *id)
{
	if (!*id)
		return false;
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
			return false;
	return true;
}

/* The id of a macro/list/rule entry, or NULL (reported). */
static const char *entry_id(struct loader *L, struct src_file *f, yaml_node_t *n,
			    const char *what)
{
	yaml_node_t *idn;
	const char *id;

	if (n->type != YAML_MAPPING_NODE) {
		lerr(L, false, f, n, "a %s must be a mapping", what);
		return NULL;
	}
	idn = map_get(f, n, "id");
	id = scalar(idn);
	if (!idn) {
		lerr(L, false, f, n, "%s without an id", what);
		return NULL;
	}
	if (!id || !valid_id(id)) {
		lerr(L, false, f, idn, "invalid %s id (use letters, digits, "
		     "'_', '-' and '.')", what);
		return NULL;
	}
	/* A macro or list name must be usable as an identifier. */
	if (strcmp(what, "rule") && (strchr(id, '-') || isdigit((unsigned char)*id))) {
		lerr(L, false, f, idn, "invalid %s id '%s' (use letters, digits "
		     "and '_')", what, id);
		return NULL;
	}
	return id;
}

static int grow(void **v, size_t n, size_t size)
{
	void *nv;

	/* Powers of two: grow when n is 0 or a power of two. */
	if (n & (n - 1))
		return 0;
	nv = realloc(*v, (n ? n * 2 : 8) * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	return 0;
}

static struct macro_def *find_def(struct macro_def *v, size_t n, const char *id,
				  size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(v[i].id) == len && !memcmp(v[i].id, id, len))
			return &v[i];
	return NULL;
}

static void add_macro(struct loader *L, struct src_file *f, yaml_node_t *n, bool is_list)
{
	const char *what = is_list ? "list" : "macro";
	const char *id = entry_id(L, f, n, what);
	yaml_node_t *expr, *values;
	struct macro_def d = { .id = id, .file = f, .node = n };
	struct macro_def **v = is_list ? &L->lists : &L->macros;
	size_t *nv = is_list ? &L->nlists : &L->nmacros;
	struct macro_def *old;

	if (!id)
		return;
	if (rules_field_by_name(id, strlen(id))) {
		lerr(L, false, f, map_get(f, n, "id"), "%s '%s' has the name of a "
		     "field", what, id);
		return;
	}
	expr = is_list ? NULL : map_get(f, n, "expression");
	values = map_get(f, n, "values");
	if (!expr && !values) {
		lerr(L, false, f, n, "%s '%s' needs %s", what, id,
		     is_list ? "values" : "an expression or values");
		return;
	}
	if (expr && values) {
		lerr(L, false, f, values, "macro '%s' has both an expression "
		     "and values", id);
		return;
	}
	if (expr) {
		if (!scalar(expr)) {
			lerr(L, false, f, expr, "the expression must be a string");
			return;
		}
		d.expr.src.file = f->name;
		d.expr.src.text = scalar(expr);
		d.expr.src.len = expr->data.scalar.length;
		d.expr.src.locate = expr_locate;
		d.expr.file = f;
		d.expr.mark = expr->start_mark;
		d.expr.style = expr->data.scalar.style;
	} else {
		yaml_node_t *it;

		if (values->type != YAML_SEQUENCE_NODE) {
			lerr(L, false, f, values, "values must be a list");
			return;
		}
		FOR_ITEMS(f, values, it)
			if (!scalar(it)) {
				lerr(L, false, f, it, "list values must be scalars");
				return;
			}
		d.values = values;
	}
	old = find_def(*v, *nv, id, strlen(id));
	if (old) {
		*old = d;
	} else {
		if (grow((void **)v, *nv, sizeof(**v)) < 0) {
			L->nomem = true;
			return;
		}
		(*v)[(*nv)++] = d;
	}
}

static void add_rule(struct loader *L, struct src_file *f, yaml_node_t *n)
{
	const char *id = entry_id(L, f, n, "rule");
	struct rule_def *d = NULL;
	yaml_node_t *k, *v;

	if (!id)
		return;
	FOR_PAIRS(f, n, k, v) {
		const char *key = scalar(k);
		bool known = false;

		for (int i = 0; key && i < RK__COUNT; i++)
			known |= !strcmp(key, rule_keys[i]);
		for (size_t i = 0; key && i < sizeof(ignored_rule_keys) /
					     sizeof(ignored_rule_keys[0]); i++)
			known |= !strcmp(key, ignored_rule_keys[i]);
		(void)v;
		if (!known)
			lerr(L, true, f, k, "rule '%s': unknown key '%s' ignored",
			     id, key ? key : "?");
	}
	for (size_t i = 0; i < L->nrules; i++)
		if (!strcmp(L->rules[i].id, id))
			d = &L->rules[i];
	if (!d) {
		if (grow((void **)&L->rules, L->nrules, sizeof(*L->rules)) < 0) {
			L->nomem = true;
			return;
		}
		d = &L->rules[L->nrules++];
		memset(d, 0, sizeof(*d));
		d->id = id;
	} else if (map_get(f, n, "expression")) {
		/* A full definition replaces the earlier one. */
		memset(d->attr, 0, sizeof(d->attr));
	}
	/* Without an expression: overrides only the attributes it has. */
	for (int i = 0; i < RK__COUNT; i++) {
		yaml_node_t *a = map_get(f, n, rule_keys[i]);

		if (a) {
			d->attr[i] = a;
			d->attr_file[i] = f;
		}
	}
	d->file = f;
	d->node = n;
}

static void load_doc(struct loader *L, struct src_file *f)
{
	yaml_node_t *root = yaml_document_get_root_node(&f->doc), *k, *v, *it;

	if (!root || is_null(root))
		return;  /* an empty policy */
	if (root->type != YAML_MAPPING_NODE) {
		lerr(L, false, f, root, "a policy must be a mapping with "
		     "macros, lists and rules");
		return;
	}
	FOR_PAIRS(f, root, k, v) {
		const char *key = scalar(k);
		int kind;

		if (!key)
			key = "";
		if (!strcmp(key, "version") || !strcmp(key, "type"))
			continue;
		kind = !strcmp(key, "macros") ? 0 : !strcmp(key, "lists") ? 1 :
		       !strcmp(key, "rules") ? 2 : -1;
		if (kind < 0) {
			lerr(L, true, f, k, "unknown key '%s' ignored", key);
			continue;
		}
		if (is_null(v))
			continue;
		if (v->type != YAML_SEQUENCE_NODE) {
			lerr(L, false, f, v, "'%s' must be a list", key);
			continue;
		}
		FOR_ITEMS(f, v, it) {
			if (kind == 2)
				add_rule(L, f, it);
			else
				add_macro(L, f, it, kind == 1);
		}
	}
}

static int add_source(struct loader *L, const char *name, char *text, size_t len)
{
	struct src_file *f = calloc(1, sizeof(*f));
	yaml_parser_t parser;

	if (!f || grow((void **)&L->files, L->nfiles, sizeof(*L->files)) < 0) {
		free(f);
		free(text);
		return -ENOMEM;
	}
	L->files[L->nfiles++] = f;
	f->text = text;
	f->len = len;
	f->name = strdup(name);
	if (!f->name)
		return -ENOMEM;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &f->doc)) {
		struct src_pos pos = { .file = f->name };

		if (parser.error == YAML_MEMORY_ERROR) {
			yaml_parser_delete(&parser);
			return -ENOMEM;
		}
		pos_at_mark(f, parser.problem_mark, &pos);
		rules_diag_add(L->diag, false, &pos, "YAML: %s%s%s",
			       parser.problem ? parser.problem : "syntax error",
			       parser.context ? " " : "",
			       parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return 0;
	}
	yaml_parser_delete(&parser);
	f->doc_ok = true;
	load_doc(L, f);
	return L->nomem ? -ENOMEM : 0;
}

static bool policy_name(const char *name)
{
	static const char *const exts[] = { ".policy", ".yaml", ".yml" };
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		size_t e = strlen(exts[i]);

		if (n > e && !strcmp(name + n - e, exts[i]))
			return true;
	}
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_path(struct loader *L, const char *path);

static int add_dir(struct loader *L, const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	int r = 0;

	if (!dir) {
		struct src_pos pos = { .file = path };

		rules_diag_add(L->diag, false, &pos, "cannot open: %s", strerror(errno));
		return 0;
	}
	while ((de = readdir(dir))) {
		char *full;

		if (!policy_name(de->d_name))
			continue;
		if (asprintf(&full, "%s/%s", path, de->d_name) < 0 ||
		    grow((void **)&names, n, sizeof(*names)) < 0) {
			r = -ENOMEM;
			break;
		}
		names[n++] = full;
	}
	closedir(dir);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (r == 0)
			r = add_path(L, names[i]);
		free(names[i]);
	}
	free(names);
	return r;
}

static int add_path(struct loader *L, const char *path)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int r;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return add_dir(L, path);
	r = read_file(path, &text, &len);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		struct src_pos pos = { .file = path };

		rules_diag_add(L->diag, false, &pos, "cannot read: %s", strerror(-r));
		return 0;
	}
	return add_source(L, path, text, len);
}

/* ---- Names for the compiler ---- */

static const struct expr_src *names_macro(void *data, const char *name, size_t len)
{
	struct loader *L = data;
	struct macro_def *m = find_def(L->macros, L->nmacros, name, len);

	if (!m || m->values)
		return NULL;
	m->expr.src.priv = &m->expr;
	return &m->expr.src;
}

static bool parse_int(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	if (!*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || *end)
		return rules_constant_lookup(s, strlen(s), ret) == 0;
	*ret = v;
	return true;
}

static struct node *names_list(void *data, const char *name, size_t len, size_t off)
{
	struct loader *L = data;
	struct macro_def *m = find_def(L->lists, L->nlists, name, len);
	struct node *list;
	yaml_node_t *it;

	if (!m)
		m = find_def(L->macros, L->nmacros, name, len);
	if (!m || !m->values)
		return NULL;
	list = calloc(1, sizeof(*list));
	if (!list)
		return NULL;
	list->kind = N_LIST;
	list->type = V_LIT_LIST;
	list->off = off;
	size_t n = (size_t)(m->values->data.sequence.items.top -
			    m->values->data.sequence.items.start);

	list->items = calloc(n ? n : 1, sizeof(*list->items));
	if (!list->items)
		return node_free(list);
	FOR_ITEMS(m->file, m->values, it) {
		struct node *item = calloc(1, sizeof(*item));

		if (!item)
			return node_free(list);
		list->items[list->nitems++] = item;
		item->kind = N_STR;
		item->type = V_LIT_STR;
		item->lit = TOK_STRING;
		item->off = off;
		item->s = strdup(scalar(it));
		if (!item->s)
			return node_free(list);
		item->slen = it->data.scalar.length;
		/* Used with an int field, "22" is 22 too. */
		item->has_int = parse_int(item->s, &item->i);
	}
	return list;
}

static bool names_broken(void *data, const char *name, size_t len)
{
	struct loader *L = data;
	struct macro_def *m = find_def(L->macros, L->nmacros, name, len);

	return m && m->broken;
}

/* ---- Rules ---- */

struct rule {
	char *id;
	char *description;
	char *expression;
	char *file;
	unsigned line;
	enum rules_severity severity;
	struct rule_tag *tags;
	size_t ntags;
	struct rule_action *actions;
	size_t nactions;
	uint64_t every_ns;
	uint64_t event_mask;
	struct node *root;
	bool has_threshold;
	struct rule_threshold threshold;
	char *counter;
	bool asks_retval;           /* names event.retval or exec.retval */
};

struct rule_set {
	struct rule **rules;
	size_t n;
	struct rule **by_type[RULES_EV__COUNT];
	size_t nby_type[RULES_EV__COUNT];
	struct rules_index *index[RULES_EV__COUNT];  /* NULL: evaluate all */
};

/* Whether an expression reads a return value (event.retval, X.retval). */
static bool node_asks_retval(const struct node *n)
{
	if (!n)
		return false;
	if (n->field && n->field->source == RULES_SRC_EVENT &&
	    strcmp(n->field->key, "ret") == 0)
		return true;
	if (node_asks_retval(n->a) || node_asks_retval(n->b))
		return true;
	for (size_t i = 0; i < n->nitems; i++)
		if (node_asks_retval(n->items[i]))
			return true;
	return false;
}

static struct rule *rule_free(struct rule *r)
{
	if (!r)
		return NULL;
	free(r->id);
	free(r->description);
	free(r->expression);
	free(r->file);
	for (size_t i = 0; i < r->ntags; i++) {
		free(r->tags[i].key);
		free(r->tags[i].value);
	}
	free(r->tags);
	for (size_t i = 0; i < r->nactions; i++) {
		struct rule_action *a = &r->actions[i];

		free(a->kind);
		free(a->scope);
		for (size_t j = 0; j < a->nparams; j++) {
			free(a->params[j].key);
			free(a->params[j].value);
		}
		free(a->params);
	}
	free(r->actions);
	node_free(r->root);
	free(r->counter);
	free(r);
	return NULL;
}

static const char *const severity_names[] = {
	[RULES_SEV_INFO] = "info",
	[RULES_SEV_LOW] = "low",
	[RULES_SEV_MEDIUM] = "medium",
	[RULES_SEV_HIGH] = "high",
	[RULES_SEV_CRITICAL] = "critical",
};

const char *rules_severity_name(enum rules_severity s)
{
	if ((unsigned)s >= sizeof(severity_names) / sizeof(severity_names[0]))
		return "?";
	return severity_names[s];
}

static int parse_severity(const char *s, enum rules_severity *ret)
{
	/* Our names, then Falco's priorities. */
	static const struct {
		const char *name;
		enum rules_severity sev;
	} names[] = {
		{ "info", RULES_SEV_INFO }, { "low", RULES_SEV_LOW },
		{ "medium", RULES_SEV_MEDIUM }, { "high", RULES_SEV_HIGH },
		{ "critical", RULES_SEV_CRITICAL },
		{ "debug", RULES_SEV_INFO }, { "informational", RULES_SEV_INFO },
		{ "notice", RULES_SEV_LOW }, { "warning", RULES_SEV_MEDIUM },
		{ "error", RULES_SEV_HIGH }, { "alert", RULES_SEV_CRITICAL },
		{ "emergency", RULES_SEV_CRITICAL },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i].name)) {
			*ret = names[i].sev;
			return 0;
		}
	return -EINVAL;
}

static int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i])) {
			*ret = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_every(const char *s, uint64_t *ret)
{
	struct lexer lx;
	struct token t;

	lexer_init(&lx, s, strlen(s));
	int64_t v;

	if (lexer_next(&lx, &t) < 0 || t.kind != TOK_DURATION || t.i <= 0) {
		free(t.s);
		return -EINVAL;
	}
	v = t.i;
	if (lexer_next(&lx, &t) < 0 || t.kind != TOK_EOF) {
		free(t.s);
		return -EINVAL;
	}
	*ret = (uint64_t)v;
	return 0;
}

static int parse_signal(const char *s, int *ret)
{
	int64_t v;
	char name[32];

	if (parse_int(s, &v) && v > 0 && v < 65 && strncmp(s, "SIG", 3) != 0) {
		*ret = (int)v;
		return 0;
	}
	/* "SIGKILL" or "KILL". */
	snprintf(name, sizeof(name), "%s%s", strncmp(s, "SIG", 3) ? "SIG" : "", s);
	if (!strncmp(name, "SIG", 3) && rules_constant_lookup(name, strlen(name), &v) == 0) {
		*ret = (int)v;
		return 0;
	}
	return -EINVAL;
}

static int parse_tags(struct loader *L, struct src_file *f, yaml_node_t *n,
		      struct rule *r)
{
	yaml_node_t *k, *v;
	size_t cap = n->type == YAML_MAPPING_NODE ?
		(size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start) :
		n->type == YAML_SEQUENCE_NODE ?
		(size_t)(n->data.sequence.items.top - n->data.sequence.items.start) : 0;

	if (n->type != YAML_MAPPING_NODE && n->type != YAML_SEQUENCE_NODE) {
		lerr(L, false, f, n, "tags must be a mapping (or a list)");
		return -EINVAL;
	}
	r->tags = calloc(cap ? cap : 1, sizeof(*r->tags));
	if (!r->tags)
		return -ENOMEM;
	if (n->type == YAML_SEQUENCE_NODE) {
		FOR_ITEMS(f, n, v) {
			if (!scalar(v)) {
				lerr(L, false, f, v, "a tag must be a string");
				return -EINVAL;
			}
			struct rule_tag *t = &r->tags[r->ntags++];

			t->key = strdup(scalar(v));
			t->value = strdup("");
			if (!t->key || !t->value)
				return -ENOMEM;
		}
		return 0;
	}
	FOR_PAIRS(f, n, k, v) {
		if (!scalar(k) || !scalar(v)) {
			lerr(L, false, f, scalar(k) ? v : k,
			     "tag names and values must be strings");
			return -EINVAL;
		}
		struct rule_tag *t = &r->tags[r->ntags++];

		t->key = strdup(scalar(k));
		t->value = strdup(scalar(v));
		if (!t->key || !t->value)
			return -ENOMEM;
	}
	return 0;
}

static int parse_action(struct loader *L, struct src_file *f, yaml_node_t *n,
			struct rule_action *a)
{
	yaml_node_t *k, *v, *pk, *pv;
	size_t np;

	if (n->type != YAML_MAPPING_NODE ||
	    n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1) {
		lerr(L, false, f, n, "an action is a mapping with one key, "
		     "such as kill: {signal: SIGKILL}");
		return -EINVAL;
	}
	k = node_get(f, n->data.mapping.pairs.start->key);
	v = node_get(f, n->data.mapping.pairs.start->value);
	if (!scalar(k)) {
		lerr(L, false, f, k, "an action's kind must be a string");
		return -EINVAL;
	}
	a->kind = strdup(scalar(k));
	if (!a->kind)
		return -ENOMEM;
	if (v->type != YAML_MAPPING_NODE && !is_null(v)) {
		lerr(L, false, f, v, "the parameters of action '%s' must be a "
		     "mapping", a->kind);
		return -EINVAL;
	}
	np = v->type == YAML_MAPPING_NODE ?
		(size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start) : 0;
	a->params = calloc(np ? np : 1, sizeof(*a->params));
	if (!a->params)
		return -ENOMEM;
	if (v->type == YAML_MAPPING_NODE) {
		FOR_PAIRS(f, v, pk, pv) {
			struct rule_param *p = &a->params[a->nparams++];

			p->key = strdup(scalar(pk) ? scalar(pk) : "");
			p->value = strdup(scalar(pv) ? scalar(pv) : "");
			if (!p->key || !p->value)
				return -ENOMEM;
		}
	}
	if (strcmp(a->kind, "kill"))
		return 0;
	a->signal = SIGKILL;
	yaml_node_t *sig = map_get(f, v, "signal"), *scope = map_get(f, v, "scope");

	if (sig && (!scalar(sig) || parse_signal(scalar(sig), &a->signal) < 0)) {
		lerr(L, false, f, sig, "unknown signal '%s'",
		     scalar(sig) ? scalar(sig) : "?");
		return -EINVAL;
	}
	a->scope = strdup(scope && scalar(scope) ? scalar(scope) : "process");
	if (!a->scope)
		return -ENOMEM;
	if (strcmp(a->scope, "process") && strcmp(a->scope, "container") &&
	    strcmp(a->scope, "cgroup")) {
		lerr(L, false, f, scope, "kill scope must be process, container "
		     "or cgroup, not '%s'", a->scope);
		return -EINVAL;
	}
	return 0;
}

static int parse_actions(struct loader *L, struct src_file *f, yaml_node_t *n,
			 struct rule *r)
{
	yaml_node_t *it;
	size_t cap;
	int ret;

	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE) {
		lerr(L, false, f, n, "actions must be a list");
		return -EINVAL;
	}
	cap = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	r->actions = calloc(cap ? cap : 1, sizeof(*r->actions));
	if (!r->actions)
		return -ENOMEM;
	FOR_ITEMS(f, n, it) {
		ret = parse_action(L, f, it, &r->actions[r->nactions++]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * One field of a threshold's `by` or `distinct`: a scalar (a string, an
 * integer, a boolean, an address or a duration) that every event of the
 * rule has, so that events of one group are comparable.
 */
static int threshold_field(struct loader *L, struct src_file *f, yaml_node_t *n,
			   const char *key, uint64_t mask,
			   const struct rules_field **ret)
{
	const char *name = scalar(n);
	const struct rules_field *fd;

	if (!name || !*name) {
		lerr(L, false, f, n, "threshold %s: a field name is expected", key);
		return -EINVAL;
	}
	fd = rules_field_by_name(name, strlen(name));
	if (!fd) {
		lerr(L, false, f, n, "threshold %s: unknown field '%s'", key, name);
		return -EINVAL;
	}
	if (fd->type == RULES_TYPE_STRING_ARRAY || fd->type == RULES_TYPE_INT_ARRAY) {
		lerr(L, false, f, n, "threshold %s: '%s' is an array; a group needs "
		     "one value per event", key, name);
		return -EINVAL;
	}
	if (fd->event != RULES_EV_ANY && mask != (1ull << fd->event)) {
		lerr(L, false, f, n, "threshold %s: '%s' is a field of %s events, "
		     "and the rule applies to other event types too", key, name,
		     rules_event_type_name(fd->event));
		return -EINVAL;
	}
	*ret = fd;
	return 0;
}

/* `by:` or `distinct:`: one field name, or a list of up to four. */
static int threshold_fields(struct loader *L, struct src_file *f, yaml_node_t *n,
			    const char *key, uint64_t mask,
			    const struct rules_field **v, size_t *nv)
{
	yaml_node_t *it;
	int r;

	if (n->type == YAML_SCALAR_NODE) {
		r = threshold_field(L, f, n, key, mask, &v[0]);
		if (r == 0)
			*nv = 1;
		return r;
	}
	if (n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.top == n->data.sequence.items.start) {
		lerr(L, false, f, n, "threshold %s: a field name or a list of "
		     "field names is expected", key);
		return -EINVAL;
	}
	FOR_ITEMS(f, n, it) {
		if (*nv == RULES_THRESHOLD_FIELDS_MAX) {
			lerr(L, false, f, it, "threshold %s: at most %d fields", key,
			     RULES_THRESHOLD_FIELDS_MAX);
			return -EINVAL;
		}
		r = threshold_field(L, f, it, key, mask, &v[*nv]);
		if (r < 0)
			return r;
		(*nv)++;
	}
	return 0;
}

/*
 * threshold: {count: 5, window: 30s, by: process.parent.pid,
 *             distinct: exec.file.name}
 * Checked after the expression compiled: the fields must fit its events.
 */
static int parse_threshold(struct loader *L, struct src_file *f, yaml_node_t *n,
			   struct rule *r)
{
	struct rule_threshold *t = &r->threshold;
	yaml_node_t *k, *v, *count = NULL, *window = NULL;
	int64_t c;
	int ret;
	bool alert = true;

	if (n->type != YAML_MAPPING_NODE) {
		lerr(L, false, f, n, "threshold must be a mapping such as "
		     "{count: 5, window: 30s, by: process.pid}");
		return -EINVAL;
	}
	memset(t, 0, sizeof(*t));
	FOR_PAIRS(f, n, k, v) {
		const char *key = scalar(k) ? scalar(k) : "";

		if (!strcmp(key, "count")) {
			count = v;
		} else if (!strcmp(key, "window")) {
			window = v;
		} else if (!strcmp(key, "by")) {
			ret = threshold_fields(L, f, v, key, r->event_mask, t->by, &t->nby);
			if (ret < 0)
				return ret;
		} else if (!strcmp(key, "distinct")) {
			ret = threshold_fields(L, f, v, key, r->event_mask, t->distinct,
					       &t->ndistinct);
			if (ret < 0)
				return ret;
		} else if (!strcmp(key, "counter")) {
			if (!scalar(v) || !*scalar(v)) {
				lerr(L, false, f, v, "threshold counter must be a name");
				return -EINVAL;
			}
			free(r->counter);
			r->counter = strdup(scalar(v));
			if (!r->counter)
				return -ENOMEM;
		} else if (!strcmp(key, "alert")) {
			if (!scalar(v) || parse_bool(scalar(v), &alert) < 0) {
				lerr(L, false, f, v, "threshold alert must be true or false");
				return -EINVAL;
			}
		} else {
			lerr(L, false, f, k, "threshold: unknown key '%s' (count, window, "
			     "by, distinct, counter, alert)", key);
			return -EINVAL;
		}
	}
	if (!count || !scalar(count) || !parse_int(scalar(count), &c) || c < 1 ||
	    c > RULES_THRESHOLD_COUNT_MAX) {
		lerr(L, false, f, count ? count : n, "threshold count must be an "
		     "integer from 1 to %d", RULES_THRESHOLD_COUNT_MAX);
		return -EINVAL;
	}
	t->count = (uint32_t)c;
	if (!window || !scalar(window) || parse_every(scalar(window), &t->window_ns) < 0 ||
	    t->window_ns > RULES_THRESHOLD_WINDOW_MAX) {
		lerr(L, false, f, window ? window : n, "threshold window must be a "
		     "positive duration of at most 24h, such as 30s or 10m");
		return -EINVAL;
	}
	if (!alert && !r->counter) {
		lerr(L, false, f, n, "threshold alert: false needs a counter shared "
		     "with a rule that alerts");
		return -EINVAL;
	}
	t->counter = r->counter;
	t->alert = alert;
	r->has_threshold = true;
	return 0;
}

static bool same_fields(const struct rules_field *const *a, size_t na,
			const struct rules_field *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i]->type != b[i]->type)
			return false;
	return true;
}

/*
 * The rules of one counter count into the same groups: they must agree on
 * what a group and a value are, and on the count and window. The first
 * rule of a counter sets them; a later one that differs is an error.
 */
static int check_counter(struct loader *L, const struct rule_set *rs,
			 struct rule_def *d, const struct rule *r)
{
	const struct rule_threshold *t = &r->threshold, *o;

	if (!r->has_threshold || !r->counter)
		return 0;
	for (size_t i = 0; i < rs->n; i++) {
		if (!rs->rules[i]->has_threshold || !rs->rules[i]->counter ||
		    strcmp(rs->rules[i]->counter, r->counter))
			continue;
		o = &rs->rules[i]->threshold;
		if (o->count != t->count || o->window_ns != t->window_ns ||
		    !same_fields(o->by, o->nby, t->by, t->nby) ||
		    !same_fields(o->distinct, o->ndistinct, t->distinct, t->ndistinct)) {
			lerr(L, false, d->attr_file[RK_THRESHOLD], d->attr[RK_THRESHOLD],
			     "threshold counter '%s': count, window, by and distinct "
			     "must be those of rule '%s'", r->counter, rs->rules[i]->id);
			return -EINVAL;
		}
		return 0;
	}
	return 0;
}

/* Compiles a final definition: 0, -EINVAL (reported) or -ENOMEM. */
static int build_rule(struct loader *L, struct rule_def *d, struct rule **ret_rule)
{
	struct compile_names names = {
		.macro = names_macro, .list = names_list, .broken = names_broken,
		.data = L,
	};
	struct compile_result cr;
	struct rule *r = calloc(1, sizeof(*r));
	yaml_node_t **at = d->attr;
	struct src_file **af = d->attr_file;
	struct src_pos pos;
	struct def_expr expr;
	bool disabled = false;
	int ret = -EINVAL;

	if (!r)
		return -ENOMEM;
	r->severity = RULES_SEV_MEDIUM;
	r->id = strdup(d->id);
	pos_at_mark(d->file, d->node->start_mark, &pos);
	r->file = strdup(d->file->name);
	r->line = pos.line;
	if (!r->id || !r->file)
		goto nomem;
	if (at[RK_DISABLED]) {
		const char *s = scalar(at[RK_DISABLED]);

		if (!s || parse_bool(s, &disabled) < 0) {
			lerr(L, false, af[RK_DISABLED], at[RK_DISABLED],
			     "disabled must be true or false");
			goto fail;
		}
		if (disabled) {
			ret = 1;
			goto fail;
		}
	}
	if (!at[RK_EXPRESSION]) {
		lerr(L, false, d->file, d->node, "rule '%s' has no expression",
		     d->id);
		goto fail;
	}
	if (!scalar(at[RK_EXPRESSION])) {
		lerr(L, false, af[RK_EXPRESSION], at[RK_EXPRESSION],
		     "the expression must be a string");
		goto fail;
	}
	if (at[RK_DESCRIPTION] && !scalar(at[RK_DESCRIPTION])) {
		lerr(L, false, af[RK_DESCRIPTION], at[RK_DESCRIPTION],
		     "the description must be a string");
		goto fail;
	}
	r->description = strdup(at[RK_DESCRIPTION] ? scalar(at[RK_DESCRIPTION]) : "");
	r->expression = strdup(scalar(at[RK_EXPRESSION]));
	if (!r->description || !r->expression)
		goto nomem;
	if (at[RK_SEVERITY] && (!scalar(at[RK_SEVERITY]) ||
				parse_severity(scalar(at[RK_SEVERITY]), &r->severity) < 0)) {
		lerr(L, false, af[RK_SEVERITY], at[RK_SEVERITY], "severity must "
		     "be info, low, medium, high or critical");
		goto fail;
	}
	if (at[RK_EVERY] && (!scalar(at[RK_EVERY]) ||
			     parse_every(scalar(at[RK_EVERY]), &r->every_ns) < 0)) {
		lerr(L, false, af[RK_EVERY], at[RK_EVERY], "every must be a "
		     "positive duration such as 500ms, 10s, 5m or 1h");
		goto fail;
	}
	if (at[RK_TAGS]) {
		ret = parse_tags(L, af[RK_TAGS], at[RK_TAGS], r);
		if (ret < 0)
			goto fail;
	}
	if (at[RK_ACTIONS]) {
		ret = parse_actions(L, af[RK_ACTIONS], at[RK_ACTIONS], r);
		if (ret < 0)
			goto fail;
	}
	memset(&expr, 0, sizeof(expr));
	expr.src.file = af[RK_EXPRESSION]->name;
	expr.src.text = scalar(at[RK_EXPRESSION]);
	expr.src.len = at[RK_EXPRESSION]->data.scalar.length;
	expr.src.locate = expr_locate;
	expr.src.priv = &expr;
	expr.file = af[RK_EXPRESSION];
	expr.mark = at[RK_EXPRESSION]->start_mark;
	expr.style = at[RK_EXPRESSION]->data.scalar.style;
	ret = rules_compile(&expr.src, &names, NULL, L->diag, &cr);
	if (ret < 0)
		goto fail;
	r->root = cr.root;
	r->event_mask = cr.event_mask;
	r->asks_retval = node_asks_retval(r->root);
	if (at[RK_THRESHOLD]) {
		ret = parse_threshold(L, af[RK_THRESHOLD], at[RK_THRESHOLD], r);
		if (ret < 0)
			goto fail;
	}
	*ret_rule = r;
	return 0;
nomem:
	ret = -ENOMEM;
fail:
	rule_free(r);
	return ret;
}

static void loader_fini(struct loader *L)
{
	for (size_t i = 0; i < L->nfiles; i++) {
		struct src_file *f = L->files[i];

		if (f->doc_ok)
			yaml_document_delete(&f->doc);
		free(f->name);
		free(f->text);
		free(f);
	}
	free(L->files);
	free(L->macros);
	free(L->lists);
	free(L->rules);
}

static void validate_macros(struct loader *L)
{
	struct compile_names names = {
		.macro = names_macro, .list = names_list, .broken = names_broken,
		.data = L,
	};

	for (size_t i = 0; i < L->nmacros; i++) {
		struct macro_def *m = &L->macros[i];
		struct compile_result cr;

		if (m->values)
			continue;
		m->expr.src.priv = &m->expr;
		if (rules_compile(&m->expr.src, &names, m->id, L->diag, &cr) < 0)
			m->broken = true;
		else
			node_free(cr.root);
	}
}

static int set_add(struct rule_set *rs, struct rule *r)
{
	if (grow((void **)&rs->rules, rs->n, sizeof(*rs->rules)) < 0)
		return -ENOMEM;
	rs->rules[rs->n++] = r;
	for (int t = 0; t < RULES_EV__COUNT; t++) {
		if (!(r->event_mask & (1ull << t)))
			continue;
		if (grow((void **)&rs->by_type[t], rs->nby_type[t],
			 sizeof(*rs->by_type[t])) < 0)
			return -ENOMEM;
		rs->by_type[t][rs->nby_type[t]++] = r;
	}
	return 0;
}

struct rule_set *rule_set_free(struct rule_set *rs)
{
	if (!rs)
		return NULL;
	for (size_t i = 0; i < rs->n; i++)
		rule_free(rs->rules[i]);
	free(rs->rules);
	for (int t = 0; t < RULES_EV__COUNT; t++) {
		free(rs->by_type[t]);
		rules_index_free(rs->index[t]);
	}
	free(rs);
	return NULL;
}

static int index_type(struct rule_set *rs, int t)
{
	struct node **roots;
	size_t n = rs->nby_type[t];
	int r;

	if (n == 0)
		return 0;
	roots = malloc(n * sizeof(*roots));
	if (!roots)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		roots[i] = rs->by_type[t][i]->root;
	r = rules_index_build(roots, n, &rs->index[t]);
	free(roots);
	return r;
}

static int load(const char *const *names, const char *const *texts,
		const char *const *paths, size_t n, struct rules_diag *diag,
		struct rule_set **ret_set)
{
	struct rules_diag local;
	struct loader L = { .diag = diag ? diag : &local };
	struct rule_set *rs = calloc(1, sizeof(*rs));
	size_t errors0;
	int r = 0;

	if (!diag)
		rules_diag_init(&local);
	errors0 = L.diag->errors;
	if (!rs) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		if (paths) {
			r = add_path(&L, paths[i]);
		} else {
			char *copy = strdup(texts[i]);

			r = copy ? add_source(&L, names[i], copy, strlen(copy)) : -ENOMEM;
		}
	}
	if (r == 0)
		validate_macros(&L);
	for (size_t i = 0; i < L.nrules && r == 0; i++) {
		struct rule *rule;
		int b = build_rule(&L, &L.rules[i], &rule);

		if (b == 0 && check_counter(&L, rs, &L.rules[i], rule) < 0) {
			rule_free(rule);
			continue;
		}
		if (b == -ENOMEM)
			r = b;
		else if (b == 0 && set_add(rs, rule) < 0) {
			rule_free(rule);
			r = -ENOMEM;
		}
	}
	if (r == 0 && L.nomem)
		r = -ENOMEM;
	for (int t = 0; t < RULES_EV__COUNT && r == 0; t++)
		r = index_type(rs, t);
out:
	loader_fini(&L);
	if (r < 0) {
		rule_set_free(rs);
	} else {
		r = (int)(L.diag->errors - errors0);
		*ret_set = rs;
	}
	if (!diag)
		rules_diag_fini(&local);
	return r;
}

int rule_set_load(const char *const *paths, size_t n, struct rules_diag *diag,
		  struct rule_set **ret_set)
{
	return load(NULL, NULL, paths, n, diag, ret_set);
}

int rule_set_load_buffers(const char *const *names, const char *const *texts,
			  size_t n, struct rules_diag *diag, struct rule_set **ret_set)
{
	return load(names, texts, NULL, n, diag, ret_set);
}

/* ---- Accessors and evaluation ---- */

size_t rule_set_count(const struct rule_set *rs)
{
	return rs->n;
}

const struct rule *rule_set_at(const struct rule_set *rs, size_t i)
{
	return i < rs->n ? rs->rules[i] : NULL;
}

const struct rule *rule_set_find(const struct rule_set *rs, const char *id)
{
	for (size_t i = 0; i < rs->n; i++)
		if (!strcmp(rs->rules[i]->id, id))
			return rs->rules[i];
	return NULL;
}

size_t rule_set_count_for(const struct rule_set *rs, int event_type)
{
	if (event_type < 0 || event_type >= RULES_EV__COUNT)
		return 0;
	return rs->nby_type[event_type];
}

const char *rule_id(const struct rule *r) { return r->id; }
const char *rule_description(const struct rule *r) { return r->description; }
enum rules_severity rule_severity(const struct rule *r) { return r->severity; }
size_t rule_tag_count(const struct rule *r) { return r->ntags; }
size_t rule_action_count(const struct rule *r) { return r->nactions; }
uint64_t rule_every_ns(const struct rule *r) { return r->every_ns; }
uint64_t rule_event_mask(const struct rule *r) { return r->event_mask; }
const char *rule_expression(const struct rule *r) { return r->expression; }
const char *rule_file(const struct rule *r) { return r->file; }
unsigned rule_line(const struct rule *r) { return r->line; }

const struct rule_threshold *rule_threshold(const struct rule *r)
{
	return r->has_threshold ? &r->threshold : NULL;
}

const struct rule_tag *rule_tag_at(const struct rule *r, size_t i)
{
	return i < r->ntags ? &r->tags[i] : NULL;
}

const char *rule_tag_get(const struct rule *r, const char *key)
{
	for (size_t i = 0; i < r->ntags; i++)
		if (!strcmp(r->tags[i].key, key))
			return r->tags[i].value;
	return NULL;
}

const struct rule_action *rule_action_at(const struct rule *r, size_t i)
{
	return i < r->nactions ? &r->actions[i] : NULL;
}

int rule_eval(const struct rule *r, int event_type, const struct rules_ctx *ctx)
{
	if (event_type < 0 || event_type >= RULES_EV__COUNT ||
	    !(r->event_mask & (1ull << event_type)))
		return -EINVAL;
	return node_eval(r->root, event_type, ctx);
}

/* 1 when r matches (on_match called), 0 otherwise. */
static int eval_one(const struct rule *r, int event_type, const struct rules_ctx *ctx,
		    rules_match_cb on_match, void *data)
{
	if (!node_eval(r->root, event_type, ctx))
		return 0;
	if (on_match)
		on_match(r, data);
	return 1;
}

/*
 * A failed exec (a $PATH search tries each directory in turn, ENOENT,
 * EACCES) ran nothing: it reaches only the rules that ask for a return
 * value, so that the attempts before the one that works neither alert
 * nor kill (and disarm a kill rule by repeating it).
 */
static bool exec_failed(int event_type, const struct rules_ctx *ctx)
{
	struct rules_value v = { .kind = RULES_V_NONE };

	if (event_type != RULES_EV_EXEC)
		return false;
	if (ctx->get(ctx->data, 2 /* event.retval */, &v) < 0)
		return false;
	return v.kind == RULES_V_INT && v.i < 0;
}

int rule_set_eval_unindexed(const struct rule_set *rs, int event_type,
			    const struct rules_ctx *ctx, rules_match_cb on_match,
			    void *data)
{
	int matches = 0;
	bool failed;

	if (event_type < 0 || event_type >= RULES_EV__COUNT)
		return -EINVAL;
	failed = exec_failed(event_type, ctx);
	for (size_t i = 0; i < rs->nby_type[event_type]; i++) {
		if (failed && !rs->by_type[event_type][i]->asks_retval)
			continue;
		matches += eval_one(rs->by_type[event_type][i], event_type, ctx,
				    on_match, data);
	}
	return matches;
}

size_t rule_set_candidate_count(const struct rule_set *rs, int event_type,
				const struct rules_ctx *ctx)
{
	uint64_t cand[RULES_INDEX_MAX_WORDS];
	size_t nwords, n = 0;

	if (event_type < 0 || event_type >= RULES_EV__COUNT)
		return 0;
	if (!rs->index[event_type])
		return rs->nby_type[event_type];
	nwords = rules_index_candidates(rs->index[event_type], event_type, ctx, cand);
	for (size_t w = 0; w < nwords; w++)
		n += (size_t)__builtin_popcountll(cand[w]);
	return n;
}

int rule_set_eval(const struct rule_set *rs, int event_type,
		  const struct rules_ctx *ctx, rules_match_cb on_match, void *data)
{
	uint64_t cand[RULES_INDEX_MAX_WORDS];
	const struct rules_index *ix;
	size_t nwords;
	int matches = 0;
	bool failed;

	if (event_type < 0 || event_type >= RULES_EV__COUNT)
		return -EINVAL;
	ix = rs->index[event_type];
	if (!ix)
		return rule_set_eval_unindexed(rs, event_type, ctx, on_match, data);
	failed = exec_failed(event_type, ctx);
	/* Candidates in definition order: word by word, lowest bit first. */
	nwords = rules_index_candidates(ix, event_type, ctx, cand);
	for (size_t w = 0; w < nwords; w++) {
		for (uint64_t bits = cand[w]; bits; bits &= bits - 1) {
			size_t i = w * 64 + (size_t)__builtin_ctzll(bits);

			if (failed && !rs->by_type[event_type][i]->asks_retval)
				continue;
			matches += eval_one(rs->by_type[event_type][i], event_type, ctx,
					    on_match, data);
		}
	}
	return matches;
}
