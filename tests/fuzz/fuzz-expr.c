/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the rule-expression compiler (src/rules). The input is the
 * expression of one rule, placed in a small policy as a YAML block scalar
 * so that no character of it needs quoting; the policy also defines a
 * list and two macros the expression may name (fz_list, fz_names,
 * fz_open). A rule that compiles is evaluated on every event type
 * (rules-ctx.c).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "fuzz.h"
#include "rules-ctx.h"

static const char head[] =
	"lists:\n"
	"  - id: fz_list\n"
	"    values: [bash, \"22\", 10.0.0.0/8, O_RDWR]\n"
	"macros:\n"
	"  - id: fz_names\n"
	"    expression: '[\"sh\", ~\"py*\", r\"[a-z]+sh\"]'\n"
	"  - id: fz_open\n"
	"    expression: open.flags & O_CREAT > 0\n"
	"rules:\n"
	"  - id: fz\n"
	"    expression: |2-\n";
/* The block scalar's lines start here: 4 (the map) + 2 (the indicator). */
static const char indent[] = "      ";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *name = "fuzz.policy";
	struct rules_diag diag;
	struct rule_set *rs = NULL;
	const char *text;
	size_t lines = 1, n = 0;
	char *buf;
	int r;

	for (size_t i = 0; i < size; i++)
		if (data[i] == '\n')
			lines++;
	buf = malloc(sizeof(head) + size + lines * (sizeof(indent) - 1) + 2);
	if (!buf)
		return 0;
	memcpy(buf, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	memcpy(buf + n, indent, sizeof(indent) - 1);
	n += sizeof(indent) - 1;
	for (size_t i = 0; i < size; i++) {
		/* A NUL would end the text early: the policy would differ. */
		buf[n++] = data[i] ? (char)data[i] : ' ';
		if (data[i] == '\n') {
			memcpy(buf + n, indent, sizeof(indent) - 1);
			n += sizeof(indent) - 1;
		}
	}
	buf[n++] = '\n';
	buf[n] = '\0';

	text = buf;
	rules_diag_init(&diag);
	r = rule_set_load_buffers(&name, &text, 1, &diag, &rs);
	fuzz_check(r >= 0);
	fuzz_check(rs != NULL);
	/* Errors and loaded rules go together: fz loads or is reported. */
	fuzz_check(rule_set_count(rs) <= 1);
	fuzz_check((size_t)r == diag.errors);
	if (rule_set_count(rs) == 1)
		fuzz_check(strcmp(rule_id(rule_set_at(rs, 0)), "fz") == 0);
	fuzz_rules_inspect(rs, &diag);
	fuzz_rules_eval_all(rs);
	rule_set_free(rs);
	rules_diag_fini(&diag);
	free(buf);
	return 0;
}
