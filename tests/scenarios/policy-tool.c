// SPDX-License-Identifier: Apache-2.0
/*
 * policy-tool: looks into a policy with the rule library, for the tests of
 * the default policy (tests/scenarios).
 *
 *   policy-tool list PATH...
 *       Loads the policy (files and directories) and prints one line per
 *       rule: id, severity, tactic tag, technique tag, event types
 *       (comma-separated), tab-separated. Exit 1 when the policy has errors.
 *
 *   policy-tool eval CASES.yaml PATH...
 *       Evaluates hand-written events against the policy. CASES.yaml is a
 *       sequence of mappings:
 *         - name: shell connects to a public address
 *           event: connect
 *           fields: {process.file.name: bash, connect.addr.ip: 203.0.113.7,
 *                    connect.addr.port: 4444, connect.addr.family: 2,
 *                    process.argv: [bash, -c, "x"]}
 *           expect: [shell_outbound_connection, miner_pool_port_connection]
 *       Field values are given by field name (docs/fields.md): scalars for
 *       strings, ints, bools (true/false) and durations (ns), sequences for
 *       arrays. `expect` is the exact set of rules that must match.
 *       Rules with a `threshold:` alert on a count of events, which one
 *       event cannot show: they are left out, unless the case says
 *       `threshold: true`; then they are in when the event counts toward
 *       them (their expression matches).
 *       Prints one line per case and exits 1 when any case differs.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "rules.h"

#define MAX_FIELDS 64
#define MAX_ELEMS 64
#define MAX_MATCHES 256

struct fval {
	int id;
	struct rules_value v;
	struct rules_str strs[MAX_ELEMS];
	int64_t ints[MAX_ELEMS];
};

struct event_ctx {
	struct fval f[MAX_FIELDS];
	size_t n;
};

struct matches {
	const char *ids[MAX_MATCHES];
	size_t n;
	bool thresholds;          /* threshold rules are reported too */
};

static int get_field(void *data, int field_id, struct rules_value *ret)
{
	struct event_ctx *ev = data;

	for (size_t i = 0; i < ev->n; i++)
		if (ev->f[i].id == field_id) {
			*ret = ev->f[i].v;
			return 0;
		}
	return -ENOENT;
}

static void on_match(const struct rule *r, void *data)
{
	struct matches *m = data;

	if (rule_threshold(r) && !m->thresholds)
		return;
	if (m->n < MAX_MATCHES)
		m->ids[m->n++] = rule_id(r);
}

static const char *severity_text(const struct rule *r)
{
	return rules_severity_name(rule_severity(r));
}

static struct rule_set *load(char **paths, int n)
{
	struct rules_diag diag;
	struct rule_set *rs = NULL;
	int r;

	rules_diag_init(&diag);
	r = rule_set_load((const char *const *)paths, (size_t)n, &diag, &rs);
	rules_diag_print(&diag, stderr);
	rules_diag_fini(&diag);
	if (r != 0) {
		fprintf(stderr, "policy-tool: the policy has errors (%d)\n", r);
		rule_set_free(rs);
		return NULL;
	}
	return rs;
}

static int cmd_list(char **paths, int n)
{
	struct rule_set *rs = load(paths, n);

	if (!rs)
		return 1;
	for (size_t i = 0; i < rule_set_count(rs); i++) {
		const struct rule *r = rule_set_at(rs, i);
		const char *tactic = rule_tag_get(r, "tactic");
		const char *technique = rule_tag_get(r, "technique");
		uint64_t mask = rule_event_mask(r);
		bool first = true;

		printf("%s\t%s\t%s\t%s\t", rule_id(r), severity_text(r),
		       tactic ? tactic : "", technique ? technique : "");
		for (int t = 0; t < RULES_EV__COUNT; t++)
			if (mask & ((uint64_t)1 << t)) {
				printf("%s%s", first ? "" : ",", rules_event_type_name(t));
				first = false;
			}
		printf("\t%s\n", rule_description(r));
	}
	rule_set_free(rs);
	return 0;
}

/* ---- eval ---- */

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int parse_int(const char *s, int64_t *out)
{
	char *end;

	if (!s)
		return -EINVAL;
	if (!strcmp(s, "true")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(s, "false")) {
		*out = 0;
		return 0;
	}
	errno = 0;
	*out = strtoll(s, &end, 0);
	return errno || *end || end == s ? -EINVAL : 0;
}

static int set_field(struct event_ctx *ev, yaml_document_t *doc, const char *name,
		     yaml_node_t *val, const char *cname)
{
	const struct rules_field *f = rules_field_by_name(name, strlen(name));
	struct fval *fv;

	if (!f) {
		fprintf(stderr, "%s: unknown field %s\n", cname, name);
		return -1;
	}
	if (ev->n == MAX_FIELDS)
		return -1;
	fv = &ev->f[ev->n++];
	memset(fv, 0, sizeof(*fv));
	fv->id = f->id;
	switch (f->type) {
	case RULES_TYPE_STRING:
	case RULES_TYPE_IP:
		if (!scalar(val))
			goto bad;
		fv->v.kind = RULES_V_STR;
		fv->v.s = scalar(val);
		fv->v.len = strlen(fv->v.s);
		return 0;
	case RULES_TYPE_INT:
	case RULES_TYPE_BOOL:
	case RULES_TYPE_DURATION:
		fv->v.kind = RULES_V_INT;
		if (parse_int(scalar(val), &fv->v.i) < 0)
			goto bad;
		return 0;
	case RULES_TYPE_STRING_ARRAY:
	case RULES_TYPE_INT_ARRAY:
		if (!val || val->type != YAML_SEQUENCE_NODE)
			goto bad;
		for (yaml_node_item_t *it = val->data.sequence.items.start;
		     it < val->data.sequence.items.top; it++) {
			const char *s = scalar(yaml_document_get_node(doc, *it));

			if (!s || fv->v.n == MAX_ELEMS)
				goto bad;
			if (f->type == RULES_TYPE_STRING_ARRAY) {
				fv->strs[fv->v.n].ptr = s;
				fv->strs[fv->v.n].len = strlen(s);
			} else if (parse_int(s, &fv->ints[fv->v.n]) < 0) {
				goto bad;
			}
			fv->v.n++;
		}
		if (f->type == RULES_TYPE_STRING_ARRAY) {
			fv->v.kind = RULES_V_STRS;
			fv->v.strs = fv->strs;
		} else {
			fv->v.kind = RULES_V_INTS;
			fv->v.ints = fv->ints;
		}
		return 0;
	}
bad:
	fprintf(stderr, "%s: bad value for %s\n", cname, name);
	return -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int eval_case(struct rule_set *rs, yaml_document_t *doc, yaml_node_t *c, size_t idx)
{
	struct event_ctx ev = { .n = 0 };
	struct matches m = { .n = 0 };
	const char *expect[MAX_MATCHES];
	size_t nexpect = 0;
	const char *name = scalar(map_get(doc, c, "name"));
	const char *type = scalar(map_get(doc, c, "event"));
	yaml_node_t *fields = map_get(doc, c, "fields");
	yaml_node_t *exp = map_get(doc, c, "expect");
	char cname[512];
	int t, ok;

	snprintf(cname, sizeof(cname), "case %zu (%s)", idx, name ? name : "?");
	t = type ? rules_event_type_from_name(type, strlen(type)) : -ENOENT;
	if (t < 0 || !fields || fields->type != YAML_MAPPING_NODE ||
	    !exp || exp->type != YAML_SEQUENCE_NODE) {
		fprintf(stderr, "%s: needs event (a known type), fields and expect\n", cname);
		return -1;
	}
	for (yaml_node_pair_t *p = fields->data.mapping.pairs.start;
	     p < fields->data.mapping.pairs.top; p++) {
		const char *k = scalar(yaml_document_get_node(doc, p->key));

		if (!k || set_field(&ev, doc, k, yaml_document_get_node(doc, p->value), cname) < 0)
			return -1;
	}
	for (yaml_node_item_t *it = exp->data.sequence.items.start;
	     it < exp->data.sequence.items.top && nexpect < MAX_MATCHES; it++) {
		const char *s = scalar(yaml_document_get_node(doc, *it));

		if (!s) {
			fprintf(stderr, "%s: expect holds a non-scalar\n", cname);
			return -1;
		}
		if (!rule_set_find(rs, s)) {
			fprintf(stderr, "%s: expects %s, which the policy does not have\n", cname, s);
			return -1;
		}
		expect[nexpect++] = s;
	}
	struct rules_ctx ctx = { .get = get_field, .data = &ev };
	const char *th = scalar(map_get(doc, c, "threshold"));

	m.thresholds = th && !strcmp(th, "true");
	if (rule_set_eval(rs, t, &ctx, on_match, &m) < 0) {
		fprintf(stderr, "%s: evaluation failed\n", cname);
		return -1;
	}
	qsort(m.ids, m.n, sizeof(m.ids[0]), cmp_str);
	qsort(expect, nexpect, sizeof(expect[0]), cmp_str);
	ok = m.n == nexpect;
	for (size_t i = 0; ok && i < m.n; i++)
		ok = strcmp(m.ids[i], expect[i]) == 0;
	printf("%s %s: matched [", ok ? "ok  " : "FAIL", cname);
	for (size_t i = 0; i < m.n; i++)
		printf("%s%s", i ? ", " : "", m.ids[i]);
	printf("]");
	if (!ok) {
		printf(", expected [");
		for (size_t i = 0; i < nexpect; i++)
			printf("%s%s", i ? ", " : "", expect[i]);
		printf("]");
	}
	printf("\n");
	return ok ? 0 : 1;
}

static int cmd_eval(const char *cases, char **paths, int n)
{
	struct rule_set *rs = load(paths, n);
	yaml_parser_t parser;
	yaml_document_t doc;
	FILE *f;
	int failed = 0, errors = 0;

	if (!rs)
		return 1;
	f = fopen(cases, "rb");
	if (!f) {
		perror(cases);
		rule_set_free(rs);
		return 1;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		fprintf(stderr, "%s:%zu: YAML error: %s\n", cases, parser.problem_mark.line + 1,
			parser.problem ? parser.problem : "?");
		yaml_parser_delete(&parser);
		fclose(f);
		rule_set_free(rs);
		return 1;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root || root->type != YAML_SEQUENCE_NODE) {
		fprintf(stderr, "%s: expected a sequence of cases\n", cases);
		errors++;
	} else {
		size_t idx = 0;

		for (yaml_node_item_t *it = root->data.sequence.items.start;
		     it < root->data.sequence.items.top; it++) {
			int r = eval_case(rs, &doc, yaml_document_get_node(&doc, *it), ++idx);

			if (r < 0)
				errors++;
			else if (r > 0)
				failed++;
		}
		printf("%zu cases, %d failed, %d malformed\n", idx, failed, errors);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	rule_set_free(rs);
	return failed || errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "list"))
		return cmd_list(argv + 2, argc - 2);
	if (argc >= 4 && !strcmp(argv[1], "eval"))
		return cmd_eval(argv[2], argv + 3, argc - 3);
	fprintf(stderr, "usage: policy-tool list PATH...\n"
			"       policy-tool eval CASES.yaml PATH...\n");
	return 2;
}
