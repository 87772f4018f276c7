/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check-rules: loads policy files and directories, prints every problem as
 * FILE:LINE:COL: error: MESSAGE with the source line and a caret, then the
 * rules that loaded (id, event types, severity, and what a threshold
 * counts). The probe's `check-rules` command and the standalone
 * sentrace-rules-check both end up here.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rules.h"

static void print_events(FILE *out, uint64_t mask)
{
	bool first = true;

	for (int t = 0; t < RULES_EV__COUNT; t++) {
		if (!(mask & (1ull << t)))
			continue;
		fprintf(out, "%s%s", first ? "" : ",", rules_event_type_name(t));
		first = false;
	}
}

static void print_duration(FILE *out, uint64_t ns)
{
	static const struct {
		uint64_t ns;
		const char *unit;
	} units[] = {
		{ 3600000000000ull, "h" }, { 60000000000ull, "m" }, { 1000000000ull, "s" },
		{ 1000000ull, "ms" }, { 1000ull, "us" },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ns % units[i].ns == 0) {
			fprintf(out, "%llu%s", (unsigned long long)(ns / units[i].ns),
				units[i].unit);
			return;
		}
	fprintf(out, "%lluns", (unsigned long long)ns);
}

static void print_fields(FILE *out, const char *what,
			 const struct rules_field *const *v, size_t n)
{
	if (!n)
		return;
	fprintf(out, " %s ", what);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? "," : "", v[i]->name);
}

/* "\tthreshold 5 within 30s by F distinct F,G counter C (counts only)" */
static void print_threshold(FILE *out, const struct rule_threshold *t)
{
	if (!t)
		return;
	fprintf(out, "\tthreshold %u within ", (unsigned)t->count);
	print_duration(out, t->window_ns);
	print_fields(out, "by", t->by, t->nby);
	print_fields(out, "distinct", t->distinct, t->ndistinct);
	if (t->counter)
		fprintf(out, " counter %s", t->counter);
	if (!t->alert)
		fputs(" (counts only)", out);
}

int rules_check_run(const char *const *paths, size_t n, FILE *out, FILE *err)
{
	struct rules_diag diag;
	struct rule_set *rs;
	int r;

	rules_diag_init(&diag);
	r = rule_set_load(paths, n, &diag, &rs);
	if (r < 0) {
		fprintf(err, "error: %s\n", strerror(-r));
		rules_diag_fini(&diag);
		return 1;
	}
	rules_diag_print(&diag, err);
	for (size_t i = 0; i < rule_set_count(rs); i++) {
		const struct rule *rule = rule_set_at(rs, i);

		fprintf(out, "%s\t", rule_id(rule));
		print_events(out, rule_event_mask(rule));
		fprintf(out, "\t%s", rules_severity_name(rule_severity(rule)));
		print_threshold(out, rule_threshold(rule));
		fputc('\n', out);
	}
	fprintf(out, "%zu rule%s loaded, %zu error%s, %zu warning%s\n",
		rule_set_count(rs), rule_set_count(rs) == 1 ? "" : "s",
		diag.errors, diag.errors == 1 ? "" : "s",
		diag.warnings, diag.warnings == 1 ? "" : "s");
	r = diag.errors ? 1 : 0;
	rule_set_free(rs);
	rules_diag_fini(&diag);
	return r;
}

int rules_check_main(int argc, char **argv)
{
	if (argc < 1) {
		fputs("usage: check-rules FILE|DIR...\n", stderr);
		return 2;
	}
	return rules_check_run((const char *const *)argv, (size_t)argc, stdout, stderr);
}
