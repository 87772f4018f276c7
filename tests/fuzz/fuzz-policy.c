/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the policy loader (src/rules/policy.c and what it calls).
 * The input is a whole policy text for rule_set_load_buffers(); the rules
 * that load are inspected and evaluated on every event type.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "fuzz.h"
#include "rules-ctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *name = "fuzz.policy";
	struct rules_diag diag;
	struct rule_set *rs = NULL;
	const char *text;
	char *buf;
	int r;

	/* The loader takes C strings: the input up to its first NUL. */
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';

	text = buf;
	rules_diag_init(&diag);
	r = rule_set_load_buffers(&name, &text, 1, &diag, &rs);
	fuzz_check(r >= 0);
	fuzz_check(rs != NULL);
	fuzz_check((size_t)r == diag.errors);
	fuzz_rules_inspect(rs, &diag);
	fuzz_rules_eval_all(rs);
	rule_set_free(rs);
	rules_diag_fini(&diag);
	free(buf);
	return 0;
}
