/* SPDX-License-Identifier: Apache-2.0 */
/* Field values for the rule fuzz targets, and the walk over a rule set. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rules-ctx.h"

enum ctx_mode {
	CTX_TYPED,      /* a value of the field's type */
	CTX_ABSENT,     /* the get callback says "absent" */
	CTX_ODD,        /* the other kinds, iterators included */
	CTX__COUNT,
};

static const struct rules_str strs[] = {
	{ "/bin/bash", 9 }, { "-c", 2 }, { "curl http://x | sh", 18 },
	{ "LD_PRELOAD", 10 }, { "", 0 },
};
static const int64_t ints[] = { 1, 0, -1, 4242, INT64_MIN, INT64_MAX };

struct iter {
	size_t i;
};

/* Alternates ints and strings, so the evaluator must skip the wrong kind. */
static bool iter_next(void *it, struct rules_value *elem)
{
	struct iter *p = it;
	size_t i = p->i++;

	if (i >= 6)
		return false;
	memset(elem, 0, sizeof(*elem));
	if (i % 2) {
		elem->kind = RULES_V_INT;
		elem->i = ints[i / 2];
	} else {
		elem->kind = RULES_V_STR;
		elem->s = strs[i / 2].ptr;
		elem->len = strs[i / 2].len;
	}
	return true;
}

struct ctx_data {
	enum ctx_mode mode;
	struct iter iters[8];     /* one per field read, reused round robin */
	unsigned next_iter;
};

static int ctx_get(void *data, int field_id, struct rules_value *ret)
{
	struct ctx_data *d = data;
	const struct rules_field *f = rules_field_by_id(field_id);

	fuzz_check(f != NULL);
	fuzz_check(ret->kind == RULES_V_NONE);
	switch (d->mode) {
	case CTX_ABSENT:
		return -1;
	case CTX_TYPED:
		switch (f->type) {
		case RULES_TYPE_STRING:
			ret->kind = RULES_V_STR;
			ret->s = strs[field_id % 3].ptr;
			ret->len = strs[field_id % 3].len;
			break;
		case RULES_TYPE_IP:
			ret->kind = RULES_V_STR;
			ret->s = field_id % 2 ? "10.1.2.3" : "::ffff:192.168.1.1";
			ret->len = strlen(ret->s);
			break;
		case RULES_TYPE_INT:
		case RULES_TYPE_BOOL:
			ret->kind = RULES_V_INT;
			ret->i = f->type == RULES_TYPE_BOOL ? 1 : 0x241;
			break;
		case RULES_TYPE_DURATION:
			ret->kind = RULES_V_INT;
			ret->i = 3000000000;
			break;
		case RULES_TYPE_STRING_ARRAY:
			ret->kind = RULES_V_STRS;
			ret->strs = strs;
			ret->n = sizeof(strs) / sizeof(strs[0]);
			break;
		case RULES_TYPE_INT_ARRAY:
			ret->kind = RULES_V_INTS;
			ret->ints = ints;
			ret->n = sizeof(ints) / sizeof(ints[0]);
			break;
		}
		return 0;
	case CTX_ODD:
		if (f->type == RULES_TYPE_STRING_ARRAY || f->type == RULES_TYPE_INT_ARRAY ||
		    f->source == RULES_SRC_ANCESTORS) {
			struct iter *it = &d->iters[d->next_iter++ % 8];

			it->i = 0;
			ret->kind = RULES_V_ITER;
			ret->next = iter_next;
			ret->it = it;
		} else if (f->type == RULES_TYPE_STRING || f->type == RULES_TYPE_IP) {
			ret->kind = RULES_V_INT;
			ret->i = 7;
		} else {
			ret->kind = RULES_V_STR;
			ret->s = NULL;
			ret->len = 0;
		}
		return 0;
	default:
		return -1;
	}
}

static void on_match(const struct rule *r, void *data)
{
	size_t *n = data;

	fuzz_check(rule_id(r) != NULL);
	(*n)++;
}

void fuzz_rules_eval_all(const struct rule_set *rs)
{
	struct ctx_data d = { 0 };
	struct rules_ctx ctx = { .get = ctx_get, .data = &d };

	for (int mode = 0; mode < CTX__COUNT; mode++) {
		d.mode = (enum ctx_mode)mode;
		for (int t = 0; t < RULES_EV__COUNT; t++) {
			size_t matched = 0;
			int direct = 0;
			int n = rule_set_eval(rs, t, &ctx, on_match, &matched);

			fuzz_check(n >= 0 && (size_t)n == matched);
			for (size_t i = 0; i < rule_set_count(rs); i++) {
				int r = rule_eval(rule_set_at(rs, i), t, &ctx);

				fuzz_check(r == 0 || r == 1 || r == -EINVAL);
				if (r == 1)
					direct++;
			}
			fuzz_check(direct == n);
		}
	}
}

void fuzz_rules_inspect(const struct rule_set *rs, const struct rules_diag *diag)
{
	static FILE *devnull;
	size_t per_type = 0;

	/* FUZZ_VERBOSE=1: what the loader said, to see what a corpus reaches. */
	if (getenv("FUZZ_VERBOSE")) {
		if (diag)
			rules_diag_print(diag, stderr);
		fprintf(stderr, "%zu rules loaded\n", rs ? rule_set_count(rs) : 0);
	} else {
		if (!devnull)
			devnull = fopen("/dev/null", "w");
		if (devnull && diag)
			rules_diag_print(diag, devnull);
	}
	if (!rs)
		return;
	for (size_t i = 0; i < rule_set_count(rs); i++) {
		const struct rule *r = rule_set_at(rs, i);

		fuzz_check(rule_set_find(rs, rule_id(r)) != NULL);
		fuzz_check(rule_event_mask(r) != 0);
		(void)rule_description(r);
		(void)rules_severity_name(rule_severity(r));
		for (size_t k = 0; k < rule_tag_count(r); k++)
			(void)rule_tag_get(r, rule_tag_at(r, k)->key);
		for (size_t k = 0; k < rule_action_count(r); k++) {
			const struct rule_action *a = rule_action_at(r, k);

			fuzz_check(a->kind != NULL);
			for (size_t p = 0; p < a->nparams; p++)
				fuzz_check(a->params[p].key && a->params[p].value);
		}
		(void)rule_every_ns(r);
		fuzz_check(rule_expression(r) != NULL);
		(void)rule_file(r);
		(void)rule_line(r);
	}
	for (int t = 0; t < RULES_EV__COUNT; t++)
		per_type += rule_set_count_for(rs, t);
	/* Each loaded rule applies to at least one event type. */
	fuzz_check(per_type >= rule_set_count(rs));
}
