/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The expression compiler: a recursive-descent parser that type-checks as
 * it builds the tree, expands macros and named lists, precompiles globs,
 * regexes and networks, folds constant bit operations, and infers the
 * event types a rule applies to. The first error stops the expression and
 * is reported with its position in the policy file.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rules-int.h"

#define MACRO_DEPTH_MAX 16
#define NEST_MAX 200               /* parentheses and negations: the stack */

/* State shared by a rule's parser and the parsers of its macros. */
struct cstate {
	const struct compile_names *names;
	struct rules_diag *diag;
	const struct expr_src *root;  /* the rule or macro being compiled */
	bool failed;
	int ev_type;                  /* from event fields; -1: none yet */
	size_t ev_off;                /* where that type came from */
	uint64_t ev_types;            /* from event.type == / in */
	int not_depth;
	const char *stack[MACRO_DEPTH_MAX];  /* macros being expanded */
	size_t stack_len[MACRO_DEPTH_MAX];
	size_t use_off[MACRO_DEPTH_MAX];     /* where in the root */
	int depth;
	const char *self;             /* the macro being validated */
	int nest;
};

struct parser {
	struct cstate *st;
	const struct expr_src *src;
	struct lexer lx;
	struct token tok;
};

static void perr(struct parser *p, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void perr(struct parser *p, size_t off, const char *fmt, ...)
{
	struct cstate *st = p->st;
	struct src_pos pos = { .file = st->root->file };
	char msg[512];
	int n = 0;
	va_list ap;

	if (st->failed)
		return;
	st->failed = true;
	/* Inside a macro: point at its use in the rule, and name it. */
	if (st->depth > 0) {
		n = snprintf(msg, sizeof(msg), "in macro '%.*s': ",
			     (int)st->stack_len[0], st->stack[0]);
		off = st->use_off[0];
	}
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (st->root->locate)
		st->root->locate(st->root, off, &pos);
	rules_diag_add(st->diag, false, &pos, "%s", msg);
}

static void tok_clear(struct token *t)
{
	free(t->s);
	t->s = NULL;
}

static bool advance(struct parser *p)
{
	int r;

	tok_clear(&p->tok);
	r = lexer_next(&p->lx, &p->tok);
	if (r == -ENOMEM) {
		perr(p, p->lx.pos, "out of memory");
		p->tok.kind = TOK_EOF;
		return false;
	}
	if (r < 0) {
		perr(p, p->lx.err_off, "%s", p->lx.err);
		p->tok.kind = TOK_EOF;
		return false;
	}
	return true;
}

static void unexpected(struct parser *p, const char *wanted)
{
	if (p->tok.kind == TOK_IDENT)
		perr(p, p->tok.off, "expected %s, got '%.*s'", wanted,
		     (int)p->tok.len, p->tok.text);
	else
		perr(p, p->tok.off, "expected %s, got %s", wanted,
		     tok_kind_name(p->tok.kind));
}

static struct node *node_new(enum node_kind kind, enum vtype type, size_t off)
{
	struct node *n = calloc(1, sizeof(*n));

	if (n) {
		n->kind = kind;
		n->type = type;
		n->off = off;
	}
	return n;
}

static void match_fini(struct match *m)
{
	free(m->s);
	if (m->kind == M_GLOB)
		glob_fini(&m->glob);
	if (m->re_ok)
		regfree(&m->re);
	node_free(m->other);
	for (size_t i = 0; i < m->nitems; i++)
		match_fini(&m->items[i]);
	free(m->items);
	memset(m, 0, sizeof(*m));
}

struct node *node_free(struct node *n)
{
	if (!n)
		return NULL;
	node_free(n->a);
	node_free(n->b);
	free(n->s);
	for (size_t i = 0; i < n->nitems; i++)
		node_free(n->items[i]);
	free(n->items);
	if (n->kind == N_CMP)
		match_fini(&n->m);
	free(n);
	return NULL;
}

static struct node *oom(struct parser *p, size_t off)
{
	perr(p, off, "out of memory");
	return NULL;
}

static const char *vtype_name(enum vtype t)
{
	switch (t) {
	case V_PRED: return "a condition";
	case V_STR: return "a string field";
	case V_INT: return "an integer";
	case V_BOOL: return "a boolean field";
	case V_IP: return "an IP field";
	case V_DUR: return "a duration";
	case V_STRS: return "a string array field";
	case V_INTS: return "an integer array field";
	case V_LIT_STR: return "a string";
	case V_LIT_GLOB: return "a glob";
	case V_LIT_REGEX: return "a regex";
	case V_LIT_LIST: return "a list";
	case V_LIT_BOOL: return "a boolean";
	}
	return "?";
}

static enum vtype vtype_of_field(const struct rules_field *f)
{
	switch (f->type) {
	case RULES_TYPE_STRING: return V_STR;
	case RULES_TYPE_INT: return V_INT;
	case RULES_TYPE_BOOL: return V_BOOL;
	case RULES_TYPE_IP: return V_IP;
	case RULES_TYPE_DURATION: return V_DUR;
	case RULES_TYPE_STRING_ARRAY: return V_STRS;
	case RULES_TYPE_INT_ARRAY: return V_INTS;
	}
	return V_STR;
}

/* A bool field or literal used as a condition becomes a predicate. */
static struct node *to_pred(struct parser *p, struct node *n)
{
	if (!n || n->type == V_PRED)
		return n;
	if (n->type == V_BOOL && n->kind == N_FIELD) {
		n->kind = N_BOOL_FIELD;
		n->type = V_PRED;
		return n;
	}
	if (n->type == V_LIT_BOOL) {
		n->type = V_PRED;
		return n;
	}
	perr(p, n->off, "expected a condition, got %s", vtype_name(n->type));
	return node_free(n);
}

static struct node *parse_or(struct parser *p);
static struct node *parse_bits(struct parser *p);

static struct node *parse_macro(struct parser *p, const struct expr_src *msrc,
				const char *name, size_t len, size_t off)
{
	struct cstate *st = p->st;
	struct parser sub = { .st = st, .src = msrc };
	struct node *n;

	bool loop = st->self && strlen(st->self) == len &&
		    !memcmp(st->self, name, len);

	for (int i = 0; i < st->depth; i++)
		loop |= st->stack_len[i] == len && !memcmp(st->stack[i], name, len);
	if (loop) {
		perr(p, off, "macro '%.*s' is used in its own definition",
		     (int)len, name);
		return NULL;
	}
	if (st->depth == MACRO_DEPTH_MAX) {
		perr(p, off, "macros nested too deeply");
		return NULL;
	}
	st->stack[st->depth] = name;
	st->stack_len[st->depth] = len;
	st->use_off[st->depth] = off;
	st->depth++;
	lexer_init(&sub.lx, msrc->text, msrc->len);
	n = NULL;
	if (advance(&sub)) {
		n = parse_or(&sub);
		if (n && sub.tok.kind != TOK_EOF) {
			unexpected(&sub, "an operator or the end");
			n = node_free(n);
		}
	}
	tok_clear(&sub.tok);
	st->depth--;
	return n;
}

/* Errors about a macro's pieces point at the macro's use. */
static void set_off(struct node *n, size_t off)
{
	if (!n)
		return;
	n->off = off;
	set_off(n->a, off);
	set_off(n->b, off);
	set_off(n->m.other, off);
	for (size_t i = 0; i < n->nitems; i++)
		set_off(n->items[i], off);
}

static struct node *parse_ident(struct parser *p)
{
	struct cstate *st = p->st;
	const char *name = p->tok.text;
	size_t len = p->tok.len, off = p->tok.off;
	const struct rules_field *f = rules_field_by_name(name, len);
	struct node *n;
	int64_t v;

	if (f) {
		if (f->event >= 0) {
			if (st->ev_type < 0) {
				st->ev_type = f->event;
				st->ev_off = off;
			} else if (st->ev_type != f->event) {
				perr(p, off, "field '%s' is about %s events, but "
				     "this rule already uses %s fields", f->name,
				     rules_event_type_name(f->event),
				     rules_event_type_name(st->ev_type));
				return NULL;
			}
		}
		n = node_new(N_FIELD, vtype_of_field(f), off);
		if (!n)
			return oom(p, off);
		n->field = f;
		advance(p);
		return n;
	}
	if (rules_constant_lookup(name, len, &v) == 0) {
		n = node_new(N_INT, V_INT, off);
		if (!n)
			return oom(p, off);
		n->i = v;
		advance(p);
		return n;
	}
	if (st->names) {
		const struct compile_names *nm = st->names;
		const struct expr_src *msrc;

		if (nm->broken && nm->broken(nm->data, name, len)) {
			perr(p, off, "'%.*s' has errors", (int)len, name);
			return NULL;
		}
		msrc = nm->macro ? nm->macro(nm->data, name, len) : NULL;
		if (msrc) {
			n = parse_macro(p, msrc, name, len, off);
			if (n) {
				set_off(n, off);
				advance(p);
			}
			return n;
		}
		n = nm->list ? nm->list(nm->data, name, len, off) : NULL;
		if (n) {
			set_off(n, off);
			advance(p);
			return n;
		}
	}
	perr(p, off, "unknown field, constant, macro or list '%.*s'", (int)len, name);
	return NULL;
}

static struct node *parse_literal(struct parser *p)
{
	struct node *n;
	size_t off = p->tok.off;

	switch (p->tok.kind) {
	case TOK_INT:
	case TOK_DURATION:
		n = node_new(N_INT, p->tok.kind == TOK_INT ? V_INT : V_DUR, off);
		if (!n)
			return oom(p, off);
		n->i = p->tok.i;
		break;
	case TOK_STRING:
	case TOK_GLOB:
	case TOK_REGEX:
	case TOK_IP:
		n = node_new(N_STR, p->tok.kind == TOK_GLOB ? V_LIT_GLOB :
			     p->tok.kind == TOK_REGEX ? V_LIT_REGEX : V_LIT_STR, off);
		if (!n)
			return oom(p, off);
		n->lit = p->tok.kind;
		if (p->tok.kind == TOK_IP) {
			n->s = strndup(p->tok.text, p->tok.len);
			n->slen = p->tok.len;
			if (!n->s) {
				node_free(n);
				return oom(p, off);
			}
		} else {
			n->s = p->tok.s;
			n->slen = p->tok.slen;
			p->tok.s = NULL;
		}
		break;
	case TOK_TRUE:
	case TOK_FALSE:
		n = node_new(N_CONST_BOOL, V_LIT_BOOL, off);
		if (!n)
			return oom(p, off);
		n->b_val = p->tok.kind == TOK_TRUE;
		break;
	default:
		unexpected(p, "a field, a value or '('");
		return NULL;
	}
	advance(p);
	return n;
}

static struct node *parse_list(struct parser *p)
{
	struct node *list = node_new(N_LIST, V_LIT_LIST, p->tok.off);

	if (!list)
		return oom(p, p->tok.off);
	if (!advance(p))
		return node_free(list);
	while (p->tok.kind != TOK_RBRACK) {
		struct node *item;
		struct node **items;

		if (p->tok.kind == TOK_IDENT) {
			int64_t v;

			if (rules_constant_lookup(p->tok.text, p->tok.len, &v) < 0) {
				perr(p, p->tok.off, "list items are values: "
				     "'%.*s' is not a constant", (int)p->tok.len,
				     p->tok.text);
				return node_free(list);
			}
			item = node_new(N_INT, V_INT, p->tok.off);
			if (!item) {
				node_free(list);
				return oom(p, p->tok.off);
			}
			item->i = v;
			advance(p);
		} else {
			item = parse_literal(p);
			if (!item)
				return node_free(list);
			if (item->type == V_LIT_BOOL) {
				perr(p, item->off, "booleans cannot be list items");
				node_free(item);
				return node_free(list);
			}
		}
		items = realloc(list->items, (list->nitems + 1) * sizeof(*items));
		if (!items) {
			node_free(item);
			node_free(list);
			return oom(p, p->tok.off);
		}
		list->items = items;
		list->items[list->nitems++] = item;
		if (p->st->failed)
			return node_free(list);
		if (p->tok.kind == TOK_COMMA) {
			if (!advance(p))
				return node_free(list);
			continue;
		}
		if (p->tok.kind != TOK_RBRACK) {
			unexpected(p, "',' or ']'");
			return node_free(list);
		}
	}
	advance(p);
	return list;
}

static struct node *parse_primary(struct parser *p)
{
	struct node *n;
	size_t off = p->tok.off;

	switch (p->tok.kind) {
	case TOK_IDENT:
		return parse_ident(p);
	case TOK_LPAREN:
		if (++p->st->nest > NEST_MAX) {
			perr(p, off, "expression nested too deeply");
			return NULL;
		}
		if (!advance(p))
			return NULL;
		n = parse_or(p);
		p->st->nest--;
		if (!n)
			return NULL;
		if (p->tok.kind != TOK_RPAREN) {
			unexpected(p, "')'");
			return node_free(n);
		}
		advance(p);
		n->off = off;
		return n;
	case TOK_LBRACK:
		return parse_list(p);
	default:
		return parse_literal(p);
	}
}

static bool is_int_operand(const struct node *n)
{
	return n->type == V_INT && (n->kind == N_FIELD || n->kind == N_INT ||
				    n->kind == N_BITOP);
}

static struct node *parse_bitop(struct parser *p, int level)
{
	static const enum tok_kind ops[] = { TOK_BOR, TOK_BXOR, TOK_BAND };
	static const char chars[] = { '|', '^', '&' };
	struct node *l = level < 2 ? parse_bitop(p, level + 1) : parse_primary(p);

	while (l && p->tok.kind == ops[level]) {
		size_t off = p->tok.off;
		struct node *r, *n;

		if (!advance(p))
			return node_free(l);
		r = level < 2 ? parse_bitop(p, level + 1) : parse_primary(p);
		if (!r)
			return node_free(l);
		if (!is_int_operand(l) || !is_int_operand(r)) {
			const struct node *bad = is_int_operand(l) ? r : l;

			perr(p, bad->off, "'%c' needs integers, got %s",
			     chars[level], vtype_name(bad->type));
			node_free(r);
			return node_free(l);
		}
		if (l->kind == N_INT && r->kind == N_INT) {
			/* Fold constants: (O_WRONLY|O_RDWR) is one number. */
			l->i = chars[level] == '|' ? (l->i | r->i) :
			       chars[level] == '^' ? (l->i ^ r->i) : (l->i & r->i);
			node_free(r);
			continue;
		}
		n = node_new(N_BITOP, V_INT, l->off);
		if (!n) {
			node_free(r);
			node_free(l);
			return oom(p, off);
		}
		n->bitop = chars[level];
		n->a = l;
		n->b = r;
		l = n;
	}
	return l;
}

static struct node *parse_bits(struct parser *p)
{
	return parse_bitop(p, 0);
}

static bool is_field_operand(const struct node *n)
{
	return n->kind == N_FIELD || n->kind == N_BITOP;
}

static int compile_regex(struct parser *p, struct match *m, const struct node *lit)
{
	size_t n = lit->slen + 5;
	char *pat = malloc(n);
	int r;

	if (!pat) {
		oom(p, lit->off);
		return -ENOMEM;
	}
	if (memchr(lit->s, '\0', lit->slen)) {
		free(pat);
		perr(p, lit->off, "regex contains a NUL byte");
		return -EINVAL;
	}
	/* Full match: anchor the whole alternation. */
	snprintf(pat, n, "^(%s)$", lit->s);
	r = regcomp(&m->re, pat, REG_EXTENDED | REG_NOSUB);
	free(pat);
	if (r != 0) {
		char err[128];

		regerror(r, &m->re, err, sizeof(err));
		perr(p, lit->off, "invalid regex: %s", err);
		return -EINVAL;
	}
	m->re_ok = true;
	m->kind = M_REGEX;
	return 0;
}

/* A string-ish literal matched against a string field (glob: for =~). */
static int compile_str_item(struct parser *p, struct match *m, const struct node *lit,
			    const struct node *field, bool as_glob)
{
	bool path = field->kind == N_FIELD && rules_field_is_path(field->field);

	if (lit->kind != N_STR) {
		perr(p, lit->off, "%s compares with strings, not %s",
		     field->field->name, vtype_name(lit->type));
		return -EINVAL;
	}
	if (lit->type == V_LIT_REGEX)
		return compile_regex(p, m, lit);
	if (lit->type == V_LIT_GLOB || as_glob) {
		m->kind = M_GLOB;
		if (glob_init(&m->glob, lit->s, lit->slen, path) < 0) {
			oom(p, lit->off);
			return -ENOMEM;
		}
		return 0;
	}
	if (lit->type != V_LIT_STR) {
		perr(p, lit->off, "%s compares with strings, not %s",
		     field->field->name, vtype_name(lit->type));
		return -EINVAL;
	}
	m->kind = M_STR;
	m->s = malloc(lit->slen + 1);
	if (!m->s) {
		oom(p, lit->off);
		return -ENOMEM;
	}
	memcpy(m->s, lit->s, lit->slen + 1);
	m->len = lit->slen;
	return 0;
}

static int compile_ip_item(struct parser *p, struct match *m, const struct node *lit)
{
	if (lit->type != V_LIT_STR) {
		perr(p, lit->off, "an IP field compares with addresses or "
		     "networks, not %s", vtype_name(lit->type));
		return -EINVAL;
	}
	m->kind = M_CIDR;
	if (ipnet_parse(lit->s, lit->slen, true, &m->net) < 0) {
		perr(p, lit->off, "'%.*s' is not an IP address or network",
		     (int)lit->slen, lit->s);
		return -EINVAL;
	}
	return 0;
}

static int compile_int_item(struct parser *p, struct match *m, const struct node *lit,
			    enum vtype want, enum cmp_op op)
{
	m->kind = M_INT;
	m->op = op;
	if ((lit->kind == N_INT && lit->type == want) ||
	    (lit->kind == N_STR && lit->has_int && want == V_INT)) {
		m->i = lit->i;
		return 0;
	}
	if (lit->kind == N_CONST_BOOL && want == V_BOOL) {
		m->i = lit->b_val;
		return 0;
	}
	if (want == V_DUR) {
		perr(p, lit->off, "expected a duration such as 5s, got %s",
		     vtype_name(lit->type));
		return -EINVAL;
	}
	if (want == V_BOOL) {
		perr(p, lit->off, "expected true or false, got %s",
		     vtype_name(lit->type));
		return -EINVAL;
	}
	perr(p, lit->off, "expected an integer, got %s", vtype_name(lit->type));
	return -EINVAL;
}

/* The scalar type an operand's elements have. */
static enum vtype elem_type(const struct node *n)
{
	switch (n->type) {
	case V_STRS: return V_STR;
	case V_INTS: return V_INT;
	default: return n->type;
	}
}

static int compile_item(struct parser *p, struct match *m, const struct node *left,
			const struct node *lit, bool as_glob)
{
	switch (elem_type(left)) {
	case V_STR:
		return compile_str_item(p, m, lit, left, as_glob);
	case V_IP:
		return compile_ip_item(p, m, lit);
	default:
		return compile_int_item(p, m, lit, elem_type(left), OP_EQ);
	}
}

/* event.type == "x" / in [...]: validate the names, record the types. */
static int note_event_types(struct parser *p, const struct node *left,
			    const struct node *right, bool positive)
{
	const struct node *const *items = &right;
	size_t n = 1;
	uint64_t mask = 0;

	if (left->kind != N_FIELD || left->field->source != RULES_SRC_BUILTIN)
		return 0;
	if (right->kind == N_LIST) {
		items = (const struct node *const *)right->items;
		n = right->nitems;
	}
	for (size_t i = 0; i < n; i++) {
		const struct node *it = items[i];
		int t;

		if (it->type != V_LIT_STR)
			continue;  /* globs and regexes: no inference */
		t = rules_event_type_from_name(it->s, it->slen);
		if (t < 0) {
			perr(p, it->off, "unknown event type '%.*s'",
			     (int)it->slen, it->s);
			return -EINVAL;
		}
		mask |= 1ull << t;
	}
	if (positive && p->st->not_depth == 0)
		p->st->ev_types |= mask;
	return 0;
}

static enum cmp_op flip(enum cmp_op op)
{
	switch (op) {
	case OP_LT: return OP_GT;
	case OP_LE: return OP_GE;
	case OP_GT: return OP_LT;
	case OP_GE: return OP_LE;
	default: return op;
	}
}

static struct node *make_cmp(struct parser *p, enum tok_kind op, size_t op_off,
			     struct node *l, struct node *r)
{
	struct node *n = NULL;
	enum cmp_op cop = OP_EQ;
	bool neg = op == TOK_NE || op == TOK_NMATCH;
	bool ordering = op == TOK_LT || op == TOK_LE || op == TOK_GT || op == TOK_GE;

	switch (op) {
	case TOK_LT: cop = OP_LT; break;
	case TOK_LE: cop = OP_LE; break;
	case TOK_GT: cop = OP_GT; break;
	case TOK_GE: cop = OP_GE; break;
	default: break;
	}
	/* Keep the field on the left: 0 < open.flags is open.flags > 0. */
	if (!is_field_operand(l) && is_field_operand(r)) {
		struct node *t = l;

		l = r;
		r = t;
		cop = flip(cop);
	}
	if (!is_field_operand(l)) {
		perr(p, l->off, "a comparison needs a field on one side");
		goto fail;
	}
	if (l->type == V_PRED || r->type == V_PRED) {
		perr(p, op_off, "cannot compare conditions (use && or ||)");
		goto fail;
	}
	if (note_event_types(p, l, r, op == TOK_EQ) < 0)
		goto fail;
	n = node_new(N_CMP, V_PRED, l->off);
	if (!n) {
		oom(p, op_off);
		goto fail;
	}
	n->neg = neg;
	switch (elem_type(l)) {
	case V_STR:
		if (ordering) {
			perr(p, op_off, "%s compares with ==, !=, =~, !~ or in, "
			     "not %s", l->field->name, tok_kind_name(op));
			goto fail;
		}
		if (r->kind == N_FIELD && (r->type == V_STR || r->type == V_STRS) &&
		    op != TOK_MATCH && op != TOK_NMATCH) {
			n->m.kind = M_FIELD;
			n->m.other = r;
			r = NULL;
			break;
		}
		if (compile_str_item(p, &n->m, r, l,
				     op == TOK_MATCH || op == TOK_NMATCH) < 0)
			goto fail;
		break;
	case V_IP:
		if (op != TOK_EQ && op != TOK_NE) {
			perr(p, op_off, "%s compares with ==, != or in, not %s",
			     l->field->name, tok_kind_name(op));
			goto fail;
		}
		if (compile_ip_item(p, &n->m, r) < 0)
			goto fail;
		break;
	case V_INT:
	case V_DUR:
	case V_BOOL:
		if (op == TOK_MATCH || op == TOK_NMATCH) {
			perr(p, op_off, "=~ and !~ match strings, not %s",
			     vtype_name(l->type));
			goto fail;
		}
		if (elem_type(l) == V_BOOL && ordering) {
			perr(p, op_off, "booleans compare with == or !=");
			goto fail;
		}
		if (elem_type(l) == V_INT && is_field_operand(r) &&
		    elem_type(r) == V_INT && r->type != V_INTS) {
			n->m.kind = M_INT;
			n->m.op = cop;
			n->m.other = r;
			r = NULL;
			break;
		}
		if (compile_int_item(p, &n->m, r, elem_type(l), cop) < 0)
			goto fail;
		break;
	default:
		perr(p, l->off, "cannot compare %s", vtype_name(l->type));
		goto fail;
	}
	n->a = l;
	node_free(r);
	return n;
fail:
	node_free(n);
	node_free(l);
	node_free(r);
	return NULL;
}

static struct node *make_in(struct parser *p, size_t op_off, bool neg,
			    struct node *l, struct node *r)
{
	struct node *n = NULL;

	if (!is_field_operand(l)) {
		perr(p, l->off, "'in' needs a field on its left, got %s",
		     vtype_name(l->type));
		goto fail;
	}
	if (r->kind != N_LIST) {
		perr(p, r->off, "'in' needs a list on its right, got %s",
		     vtype_name(r->type));
		goto fail;
	}
	if (note_event_types(p, l, r, !neg) < 0)
		goto fail;
	n = node_new(N_CMP, V_PRED, l->off);
	if (!n) {
		oom(p, op_off);
		goto fail;
	}
	n->neg = neg;
	n->m.kind = M_ANY;
	if (r->nitems) {
		n->m.items = calloc(r->nitems, sizeof(*n->m.items));
		if (!n->m.items) {
			oom(p, op_off);
			goto fail;
		}
	}
	for (size_t i = 0; i < r->nitems; i++) {
		n->m.nitems++;
		if (compile_item(p, &n->m.items[i], l, r->items[i], false) < 0)
			goto fail;
	}
	n->a = l;
	node_free(r);
	return n;
fail:
	node_free(n);
	node_free(l);
	node_free(r);
	return NULL;
}

/* Is the token after the current one 'in'? (for "not in") */
static bool peek_is_in(struct parser *p)
{
	struct lexer copy = p->lx;
	struct token t;
	bool in;

	if (lexer_next(&copy, &t) < 0)
		return false;
	in = t.kind == TOK_IN;
	free(t.s);
	return in;
}

static struct node *parse_cmp(struct parser *p)
{
	struct node *l = parse_bits(p), *r;
	enum tok_kind op;
	size_t off;

	if (!l)
		return NULL;
	op = p->tok.kind;
	off = p->tok.off;
	switch (op) {
	case TOK_EQ: case TOK_NE: case TOK_LT: case TOK_LE:
	case TOK_GT: case TOK_GE: case TOK_MATCH: case TOK_NMATCH:
		if (!advance(p))
			return node_free(l);
		r = parse_bits(p);
		if (!r)
			return node_free(l);
		return make_cmp(p, op, off, l, r);
	case TOK_IN:
		if (!advance(p))
			return node_free(l);
		r = parse_bits(p);
		if (!r)
			return node_free(l);
		return make_in(p, off, false, l, r);
	case TOK_NOT:
		if (!peek_is_in(p))
			break;
		advance(p);
		if (!advance(p))
			return node_free(l);
		r = parse_bits(p);
		if (!r)
			return node_free(l);
		return make_in(p, off, true, l, r);
	default:
		break;
	}
	return l;
}

static struct node *parse_not(struct parser *p)
{
	if (p->tok.kind == TOK_NOT) {
		size_t off = p->tok.off;
		struct node *a, *n;

		if (++p->st->nest > NEST_MAX) {
			perr(p, off, "expression nested too deeply");
			return NULL;
		}
		if (!advance(p))
			return NULL;
		p->st->not_depth++;
		a = to_pred(p, parse_not(p));
		p->st->not_depth--;
		p->st->nest--;
		if (!a)
			return NULL;
		n = node_new(N_NOT, V_PRED, off);
		if (!n) {
			node_free(a);
			return oom(p, off);
		}
		n->a = a;
		return n;
	}
	return parse_cmp(p);
}

static struct node *parse_binary(struct parser *p, enum tok_kind op,
				 enum node_kind kind,
				 struct node *(*sub)(struct parser *))
{
	struct node *l = sub(p);

	while (l && p->tok.kind == op) {
		size_t off = p->tok.off;
		struct node *r, *n;

		if (!to_pred(p, l))
			return NULL;
		if (!advance(p))
			return node_free(l);
		r = to_pred(p, sub(p));
		if (!r)
			return node_free(l);
		n = node_new(kind, V_PRED, l->off);
		if (!n) {
			node_free(l);
			node_free(r);
			return oom(p, off);
		}
		n->a = l;
		n->b = r;
		l = n;
	}
	return l;
}

static struct node *parse_and(struct parser *p)
{
	return parse_binary(p, TOK_AND, N_AND, parse_not);
}

static struct node *parse_or(struct parser *p)
{
	return parse_binary(p, TOK_OR, N_OR, parse_and);
}

int rules_compile(const struct expr_src *src, const struct compile_names *names,
		  const char *self, struct rules_diag *diag, struct compile_result *ret)
{
	bool as_rule = !self;
	struct cstate st = {
		.names = names, .diag = diag, .root = src, .ev_type = -1,
		.self = self,
	};
	struct parser p = { .st = &st, .src = src };
	struct node *root = NULL;
	uint64_t mask = 0;

	lexer_init(&p.lx, src->text, src->len);
	if (advance(&p)) {
		if (p.tok.kind == TOK_EOF)
			perr(&p, 0, "empty expression");
		else
			root = parse_or(&p);
	}
	if (root && p.tok.kind != TOK_EOF) {
		unexpected(&p, "an operator or the end");
		root = node_free(root);
	}
	tok_clear(&p.tok);
	if (root && as_rule)
		root = to_pred(&p, root);
	if (root && as_rule) {
		if (st.ev_type >= 0) {
			mask = 1ull << st.ev_type;
			if (st.ev_types && !(st.ev_types & mask)) {
				perr(&p, st.ev_off, "this rule uses %s fields, "
				     "but event.type excludes %s events",
				     rules_event_type_name(st.ev_type),
				     rules_event_type_name(st.ev_type));
				root = node_free(root);
			}
		} else if (st.ev_types) {
			mask = st.ev_types;
		} else {
			perr(&p, 0, "cannot tell which events this rule is about: "
			     "use an event field (such as open.file.path) or "
			     "event.type == \"...\"");
			root = node_free(root);
		}
	}
	if (root && st.failed)
		root = node_free(root);  /* an error the parser recovered from */
	if (!root)
		return -EINVAL;
	ret->root = root;
	ret->event_mask = mask;
	return 0;
}
