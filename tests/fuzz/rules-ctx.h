/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For the rule fuzz targets: evaluates every rule of a set on every event
 * type, against field values that do not depend on the input.
 */
#ifndef SENTRACE_FUZZ_RULES_CTX_H
#define SENTRACE_FUZZ_RULES_CTX_H

#include "rules.h"

/*
 * Runs rule_set_eval() for every event type three times: with a plausible
 * value for every field, with every field absent, and with values of
 * unexpected kinds (arrays through iterators, strings for ints…). Checks
 * that each rule_set_eval() count agrees with rule_eval() on the rules.
 */
void fuzz_rules_eval_all(const struct rule_set *rs);

/* Reads every accessor of every rule, and prints the diagnostics. */
void fuzz_rules_inspect(const struct rule_set *rs, const struct rules_diag *diag);

#endif
