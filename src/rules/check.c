/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check-rules: loads policy files and directories, prints every problem as
 * FILE:LINE:COL: error: MESSAGE with the source line and a caret, then the
 * rules that loaded. The probe's `check-rules` command and the standalone
 * sentrace-rules-check both end up here.
 */
#include "config.h"

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
		fprintf(out, "\t%s\n", rules_severity_name(rule_severity(rule)));
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
