/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The evaluator: walks a compiled tree for one event, asking the caller for
 * field values. It allocates nothing: values are views into the caller's
 * memory, IP addresses are parsed into stack buffers, and globs, regexes
 * and networks were compiled when the policy loaded. An array field matches
 * when any element does; negated operators (!=, !~, not in) negate that.
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>

#include "rules-int.h"

void rules_get_value(const struct rules_ctx *ctx, int event_type,
		     const struct rules_field *f, struct rules_value *v)
{
	memset(v, 0, sizeof(*v));
	v->kind = RULES_V_NONE;
	if (f->source == RULES_SRC_BUILTIN) {
		const char *name = rules_event_type_name(event_type);

		v->kind = RULES_V_STR;
		v->s = name ? name : "";
		v->len = strlen(v->s);
		return;
	}
	if (ctx->get(ctx->data, f->id, v) < 0) {
		memset(v, 0, sizeof(*v));
		v->kind = RULES_V_NONE;
	}
}

static bool is_array(const struct rules_field *f)
{
	return f->type == RULES_TYPE_STRING_ARRAY || f->type == RULES_TYPE_INT_ARRAY;
}

static bool is_string(const struct rules_field *f)
{
	return f->type == RULES_TYPE_STRING || f->type == RULES_TYPE_STRING_ARRAY ||
	       f->type == RULES_TYPE_IP;
}

/* Walks the elements of a value: scalars are one element. */
struct cursor {
	const struct rules_value *v;
	const struct rules_field *f;
	size_t i;
};

static bool cursor_next(struct cursor *c, struct rules_value *e)
{
	const struct rules_value *v = c->v;
	bool str = is_string(c->f);

	memset(e, 0, sizeof(*e));
	switch (v->kind) {
	case RULES_V_NONE:
		/* An absent scalar is "" or 0; an absent array is empty. */
		if (c->i++ > 0 || is_array(c->f))
			return false;
		e->kind = str ? RULES_V_STR : RULES_V_INT;
		e->s = "";
		return true;
	case RULES_V_STR:
		if (c->i++ > 0 || !str)
			return false;
		*e = *v;
		if (!e->s)
			e->s = "";
		return true;
	case RULES_V_INT:
		if (c->i++ > 0 || str)
			return false;
		*e = *v;
		return true;
	case RULES_V_STRS:
		if (c->i >= v->n || !str)
			return false;
		e->kind = RULES_V_STR;
		e->s = v->strs[c->i].ptr ? v->strs[c->i].ptr : "";
		e->len = v->strs[c->i].len;
		c->i++;
		return true;
	case RULES_V_INTS:
		if (c->i >= v->n || str)
			return false;
		e->kind = RULES_V_INT;
		e->i = v->ints[c->i++];
		return true;
	case RULES_V_ITER:
		for (;;) {
			if (!v->next || !v->next(v->it, e))
				return false;
			if (e->kind == (str ? RULES_V_STR : RULES_V_INT))
				break;
		}
		if (str && !e->s)
			e->s = "";
		return true;
	}
	return false;
}

static int64_t int_eval(const struct node *n, int event_type, const struct rules_ctx *ctx)
{
	struct rules_value v, e;
	struct cursor c;
	int64_t a, b;

	switch (n->kind) {
	case N_INT:
		return n->i;
	case N_FIELD:
		rules_get_value(ctx, event_type, n->field, &v);
		c = (struct cursor){ .v = &v, .f = n->field };
		return cursor_next(&c, &e) ? e.i : 0;
	case N_BITOP:
		a = int_eval(n->a, event_type, ctx);
		b = int_eval(n->b, event_type, ctx);
		return n->bitop == '&' ? (a & b) : n->bitop == '|' ? (a | b) : (a ^ b);
	default:
		return 0;
	}
}

static bool int_cmp(enum cmp_op op, int64_t a, int64_t b)
{
	switch (op) {
	case OP_EQ: return a == b;
	case OP_LT: return a < b;
	case OP_LE: return a <= b;
	case OP_GT: return a > b;
	case OP_GE: return a >= b;
	}
	return false;
}

static bool match_int(const struct match *m, int64_t v, int event_type,
		      const struct rules_ctx *ctx)
{
	switch (m->kind) {
	case M_INT:
		return int_cmp(m->op, v, m->other ? int_eval(m->other, event_type, ctx)
						  : m->i);
	case M_ANY:
		for (size_t i = 0; i < m->nitems; i++)
			if (match_int(&m->items[i], v, event_type, ctx))
				return true;
		return false;
	default:
		return false;
	}
}

static bool match_str(const struct match *m, const char *s, size_t len,
		      int event_type, const struct rules_ctx *ctx)
{
	switch (m->kind) {
	case M_STR:
		return m->len == len && !memcmp(m->s, s, len);
	case M_GLOB:
		return glob_match(&m->glob, s, len);
	case M_REGEX: {
		regmatch_t pm[1] = { { .rm_so = 0, .rm_eo = (regoff_t)len } };

		/* REG_STARTEND: the value need not end with a NUL. */
		return regexec(&m->re, s, 1, pm, REG_STARTEND) == 0;
	}
	case M_FIELD: {
		struct rules_value v, e;
		struct cursor c;

		rules_get_value(ctx, event_type, m->other->field, &v);
		c = (struct cursor){ .v = &v, .f = m->other->field };
		while (cursor_next(&c, &e))
			if (e.len == len && !memcmp(e.s, s, len))
				return true;
		return false;
	}
	case M_ANY:
		for (size_t i = 0; i < m->nitems; i++)
			if (match_str(&m->items[i], s, len, event_type, ctx))
				return true;
		return false;
	default:
		return false;
	}
}

static bool net_contains(const struct ipnet *net, const struct ipnet *a)
{
	unsigned full = net->prefix / 8, rest = net->prefix % 8;

	if (net->family != a->family)
		return false;
	if (memcmp(net->addr, a->addr, full))
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		return (net->addr[full] & mask) == (a->addr[full] & mask);
	}
	return true;
}

static bool match_ip(const struct match *m, const struct ipnet *a)
{
	switch (m->kind) {
	case M_CIDR:
		return net_contains(&m->net, a);
	case M_ANY:
		for (size_t i = 0; i < m->nitems; i++)
			if (match_ip(&m->items[i], a))
				return true;
		return false;
	default:
		return false;
	}
}

static bool cmp_eval(const struct node *n, int event_type, const struct rules_ctx *ctx)
{
	const struct node *l = n->a;
	struct rules_value v, e;
	struct cursor c;
	bool any = false;

	if (l->kind != N_FIELD)
		return match_int(&n->m, int_eval(l, event_type, ctx), event_type,
				 ctx) != n->neg;
	rules_get_value(ctx, event_type, l->field, &v);
	c = (struct cursor){ .v = &v, .f = l->field };
	if (l->field->type == RULES_TYPE_IP) {
		struct ipnet a;

		/* No address (a unix socket, a failed call): false, even negated. */
		if (!cursor_next(&c, &e) || ipnet_parse(e.s, e.len, false, &a) < 0)
			return false;
		return match_ip(&n->m, &a) != n->neg;
	}
	while (!any && cursor_next(&c, &e)) {
		if (is_string(l->field))
			any = match_str(&n->m, e.s, e.len, event_type, ctx);
		else
			any = match_int(&n->m, e.i, event_type, ctx);
	}
	return any != n->neg;
}

bool node_eval(const struct node *n, int event_type, const struct rules_ctx *ctx)
{
	struct rules_value v, e;
	struct cursor c;

	switch (n->kind) {
	case N_AND:
		return node_eval(n->a, event_type, ctx) && node_eval(n->b, event_type, ctx);
	case N_OR:
		return node_eval(n->a, event_type, ctx) || node_eval(n->b, event_type, ctx);
	case N_NOT:
		return !node_eval(n->a, event_type, ctx);
	case N_CONST_BOOL:
		return n->b_val;
	case N_BOOL_FIELD:
		rules_get_value(ctx, event_type, n->field, &v);
		c = (struct cursor){ .v = &v, .f = n->field };
		/* A multi-valued boolean (process.ancestors.is_server) holds
		 * when any element does, as an array compared with ==. */
		while (cursor_next(&c, &e))
			if (e.i != 0)
				return true;
		return false;
	case N_CMP:
		return cmp_eval(n, event_type, ctx);
	default:
		return false;
	}
}
