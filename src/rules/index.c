/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rule index: which rules of an event type can match this event at all.
 *
 * Most events match no rule, and most rules start by asking for a string
 * field in a list of literals or globs (`open.file.path in shadow_paths`,
 * `exec.file.name in shell_binaries`). When the policy loads, each rule's
 * expression is searched for such a necessary condition (an "approver", as
 * Datadog's agent calls it): a comparison that must hold whenever the rule
 * does. The approvers' literal prefixes go into one byte trie per event type
 * and field. For an event, one walk along the field's value collects every
 * rule whose approver could hold; only those rules are evaluated, in
 * definition order. Rules without an approver are always evaluated.
 *
 * An approver only ever admits too much, never too little: a glob's prefix
 * stops at its first special character ('*', '?', '[', '\'), exact strings
 * need the walk to end on their last byte, and a value that is not a plain
 * string admits every rule of the field. tests/unit/test-rules.c checks
 * indexed and unindexed evaluation agree over the default policy.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rules-int.h"

/* One string field's possible values: literal strings and glob prefixes. */
struct approver {
	const struct rules_field *field;
	const struct match **items;   /* M_STR or M_GLOB */
	size_t n;
};

struct trie_node {
	unsigned char c;
	struct trie_node *child;      /* first child */
	struct trie_node *next;       /* next sibling */
	uint64_t *prefix;             /* rules admitted when the walk passes here */
	uint64_t *exact;              /* rules admitted when the value ends here */
};

struct field_index {
	const struct rules_field *field;
	struct trie_node root;
	uint64_t *all;                /* every rule indexed on this field */
};

struct rules_index {
	size_t nwords;
	uint64_t *always;             /* rules without an approver */
	struct field_index *fields;
	size_t nfields;
};

static void approver_fini(struct approver *a)
{
	free(a->items);
	*a = (struct approver){ 0 };
}

/*
 * A string field, or a string array (process.names): a comparison that is
 * not negated holds on an array when one of its elements matches, so each
 * element's walk admits the rule.
 */
static bool is_string_field(const struct node *n)
{
	return n && n->kind == N_FIELD && n->field &&
	       (n->field->type == RULES_TYPE_STRING ||
		n->field->type == RULES_TYPE_STRING_ARRAY);
}

/* Appends the string items of m; false if m holds anything else. */
static bool add_items(struct approver *a, const struct match *m)
{
	switch (m->kind) {
	case M_STR:
	case M_GLOB: {
		const struct match **v = realloc(a->items, (a->n + 1) * sizeof(*v));

		if (!v)
			return false;
		v[a->n++] = m;
		a->items = v;
		return true;
	}
	case M_ANY:
		for (size_t i = 0; i < m->nitems; i++)
			if (!add_items(a, &m->items[i]))
				return false;
		return true;
	default:
		return false;
	}
}

/* The literal bytes every matching value starts with; *exact when the item
 * matches that string only. */
static size_t literal_prefix(const struct match *m, bool *exact)
{
	if (m->kind == M_STR) {
		*exact = true;
		return m->len;
	}
	for (size_t i = 0; i < m->glob.len; i++) {
		char c = m->glob.pat[i];

		if (c == '*' || c == '?' || c == '[' || c == '\\') {
			*exact = false;
			return i;
		}
	}
	*exact = true;
	return m->glob.len;
}

static const char *item_text(const struct match *m)
{
	return m->kind == M_STR ? m->s : m->glob.pat;
}

/* Larger is more selective: the shortest prefix over the items. */
static size_t approver_quality(const struct approver *a)
{
	size_t q = SIZE_MAX;

	for (size_t i = 0; i < a->n; i++) {
		bool exact;
		size_t len = literal_prefix(a->items[i], &exact);

		/* An exact "" still says a lot; a glob's empty prefix nothing. */
		len = exact ? len + 2 : len;
		if (len < q)
			q = len;
	}
	return q;
}

/*
 * Finds a necessary condition of n: true with *ret filled, or false when
 * there is none (or memory ran out, which only loses the optimisation).
 */
static bool find_approver(const struct node *n, struct approver *ret)
{
	struct approver a = { 0 }, b = { 0 };

	switch (n->kind) {
	case N_CMP:
		if (n->neg || !is_string_field(n->a))
			return false;
		a.field = n->a->field;
		if (!add_items(&a, &n->m)) {
			approver_fini(&a);
			return false;
		}
		*ret = a;
		return true;
	case N_AND: {
		bool ha = find_approver(n->a, &a), hb = find_approver(n->b, &b);

		if (ha && hb) {
			if (approver_quality(&b) > approver_quality(&a)) {
				approver_fini(&a);
				*ret = b;
			} else {
				approver_fini(&b);
				*ret = a;
			}
			return true;
		}
		if (ha)
			*ret = a;
		if (hb)
			*ret = b;
		return ha || hb;
	}
	case N_OR:
		if (!find_approver(n->a, &a))
			return false;
		if (!find_approver(n->b, &b) || a.field != b.field) {
			approver_fini(&a);
			approver_fini(&b);
			return false;
		}
		for (size_t i = 0; i < b.n; i++) {
			if (!add_items(&a, b.items[i])) {
				approver_fini(&a);
				approver_fini(&b);
				return false;
			}
		}
		approver_fini(&b);
		*ret = a;
		return true;
	default:
		return false;
	}
}

static void bit_set(uint64_t *w, size_t i)
{
	w[i / 64] |= 1ull << (i % 64);
}

static uint64_t *bits_new(size_t nwords)
{
	return calloc(nwords, sizeof(uint64_t));
}

static void trie_free(struct trie_node *t)
{
	struct trie_node *c = t->child;

	while (c) {
		struct trie_node *next = c->next;

		trie_free(c);
		free(c);
		c = next;
	}
	free(t->prefix);
	free(t->exact);
}

static int trie_add(struct trie_node *root, size_t nwords, const char *s, size_t len,
		    bool exact, size_t rule)
{
	struct trie_node *t = root;
	uint64_t **bits;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		struct trie_node **pp = &t->child;

		/* Children sorted by byte. */
		while (*pp && (*pp)->c < c)
			pp = &(*pp)->next;
		if (!*pp || (*pp)->c != c) {
			struct trie_node *n = calloc(1, sizeof(*n));

			if (!n)
				return -ENOMEM;
			n->c = c;
			n->next = *pp;
			*pp = n;
		}
		t = *pp;
	}
	bits = exact ? &t->exact : &t->prefix;
	if (!*bits && !(*bits = bits_new(nwords)))
		return -ENOMEM;
	bit_set(*bits, rule);
	return 0;
}

void rules_index_free(struct rules_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->nfields; i++) {
		trie_free(&ix->fields[i].root);
		free(ix->fields[i].all);
	}
	free(ix->fields);
	free(ix->always);
	free(ix);
}

static struct field_index *field_index_get(struct rules_index *ix,
					   const struct rules_field *f)
{
	struct field_index *v;

	for (size_t i = 0; i < ix->nfields; i++)
		if (ix->fields[i].field == f)
			return &ix->fields[i];
	v = realloc(ix->fields, (ix->nfields + 1) * sizeof(*v));
	if (!v)
		return NULL;
	ix->fields = v;
	v = &ix->fields[ix->nfields];
	*v = (struct field_index){ .field = f };
	if (!(v->all = bits_new(ix->nwords)))
		return NULL;
	ix->nfields++;
	return v;
}

int rules_index_build(struct node *const *roots, size_t n, struct rules_index **ret)
{
	struct rules_index *ix;

	*ret = NULL;
	if (n == 0 || n > RULES_INDEX_MAX_WORDS * 64)
		return 0;  /* nothing to index, or evaluate them all */
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	ix->nwords = (n + 63) / 64;
	if (!(ix->always = bits_new(ix->nwords)))
		goto nomem;
	for (size_t r = 0; r < n; r++) {
		struct approver a;
		struct field_index *fx;

		if (!find_approver(roots[r], &a)) {
			bit_set(ix->always, r);
			continue;
		}
		fx = field_index_get(ix, a.field);
		if (!fx) {
			approver_fini(&a);
			goto nomem;
		}
		bit_set(fx->all, r);
		for (size_t i = 0; i < a.n; i++) {
			bool exact;
			size_t len = literal_prefix(a.items[i], &exact);

			if (trie_add(&fx->root, ix->nwords, item_text(a.items[i]), len,
				     exact, r) < 0) {
				approver_fini(&a);
				goto nomem;
			}
		}
		approver_fini(&a);
	}
	*ret = ix;
	return 0;
nomem:
	rules_index_free(ix);
	return -ENOMEM;
}

static void bits_or(uint64_t *dst, const uint64_t *src, size_t nwords)
{
	if (src)
		for (size_t i = 0; i < nwords; i++)
			dst[i] |= src[i];
}

/* Admits the rules whose approvers on one field could hold for s. */
static void walk(const struct field_index *fx, size_t nwords, const char *s,
		 size_t len, uint64_t *ret)
{
	const struct trie_node *t = &fx->root;
	size_t i;

	bits_or(ret, t->prefix, nwords);
	for (i = 0; i < len; i++) {
		const struct trie_node *c = t->child;
		unsigned char b = (unsigned char)s[i];

		while (c && c->c < b)
			c = c->next;
		if (!c || c->c != b)
			break;
		t = c;
		bits_or(ret, t->prefix, nwords);
	}
	if (i == len)
		bits_or(ret, t->exact, nwords);
}

size_t rules_index_candidates(const struct rules_index *ix, int event_type,
			      const struct rules_ctx *ctx, uint64_t *ret)
{
	memcpy(ret, ix->always, ix->nwords * sizeof(*ret));
	for (size_t f = 0; f < ix->nfields; f++) {
		const struct field_index *fx = &ix->fields[f];
		struct rules_value v, e;

		rules_get_value(ctx, event_type, fx->field, &v);
		switch (v.kind) {
		case RULES_V_NONE:
			walk(fx, ix->nwords, "", 0, ret);
			break;
		case RULES_V_STR:
			walk(fx, ix->nwords, v.s ? v.s : "", v.s ? v.len : 0, ret);
			break;
		case RULES_V_STRS:
			/* As the evaluator reads an array: any element. */
			for (size_t k = 0; k < v.n; k++)
				walk(fx, ix->nwords, v.strs[k].ptr ? v.strs[k].ptr : "",
				     v.strs[k].ptr ? v.strs[k].len : 0, ret);
			break;
		case RULES_V_ITER:
			/* The evaluator asks again and gets a fresh iterator. */
			while (v.next && v.next(v.it, &e))
				if (e.kind == RULES_V_STR)
					walk(fx, ix->nwords, e.s ? e.s : "",
					     e.s ? e.len : 0, ret);
			break;
		default:
			/* Not what the evaluator reads as strings: admit all. */
			bits_or(ret, fx->all, ix->nwords);
			break;
		}
	}
	return ix->nwords;
}
