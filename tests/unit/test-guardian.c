/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the guardian's shared set (src/tracer/guardian.c): the
 * tracer adds and removes process ids, the guardian reads every slot. The
 * deletion shifts entries back, so these check against a plain model that
 * no live pid is ever lost and no removed one stays, through collisions,
 * wrap-around at the end of the table and long churn.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "guardian.h"

#define MODEL_MAX (1 << 22) /* pid_max on 64-bit */

static struct guardian g;
static unsigned char *model;

static void setup(void)
{
	ck_assert_int_eq(guardian_set_init(&g), 0);
	model = calloc(MODEL_MAX, 1);
	ck_assert_ptr_nonnull(model);
}

static void teardown(void)
{
	guardian_end(&g, true);
	free(model);
}

/* The set holds exactly the model's pids, each once, and its count. */
static void check_model(void)
{
	static pid_t got[1 << 16];
	size_t n = guardian_set_list(&g, got, 1 << 16), live = 0;
	unsigned char *seen = calloc(MODEL_MAX, 1);

	ck_assert_ptr_nonnull(seen);
	/* Plain ifs: each ck_assert records its place, a write per check. */
	for (size_t i = 0; i < n; i++) {
		if (!model[got[i]])
			ck_abort_msg("pid %d in the set, removed", (int)got[i]);
		if (seen[got[i]])
			ck_abort_msg("pid %d in the set twice", (int)got[i]);
		seen[got[i]] = 1;
	}
	for (size_t i = 0; i < MODEL_MAX; i++) {
		if (seen[i] != model[i])
			ck_abort_msg("pid %zu lost from the set", i);
		live += model[i];
	}
	ck_assert_uint_eq(n, live);
	ck_assert_uint_eq(g.count, live);
	free(seen);
}

START_TEST(test_add_del)
{
	pid_t pids[] = { 1, 2, 300, 4194303, 65536, 131072 };

	for (size_t i = 0; i < 6; i++) {
		guardian_add(&g, pids[i]);
		guardian_add(&g, pids[i]); /* twice: once in the set */
		model[pids[i]] = 1;
	}
	check_model();
	guardian_del(&g, 300);
	model[300] = 0;
	guardian_del(&g, 777); /* never added: nothing happens */
	check_model();
	for (size_t i = 0; i < 6; i++) {
		guardian_del(&g, pids[i]);
		model[pids[i]] = 0;
	}
	check_model();
	guardian_add(&g, 0);
	guardian_add(&g, -5);
	ck_assert_uint_eq(g.count, 0);
}
END_TEST

/* Random churn over a pid range, dense like a busy machine's, with the
 * table a quarter to seven eighths full: long probe runs that wrap. */
START_TEST(test_churn)
{
	enum { RANGE = 60000, OPS = 400000 };
	static pid_t pids[RANGE];
	uint32_t x = 12345u + (uint32_t)_i;

	for (size_t i = 0; i < RANGE; i++)
		pids[i] = (pid_t)(1 + i * (_i == 0 ? 1 : 65536 % (MODEL_MAX / RANGE) + 1));
	for (int op = 0; op < OPS; op++) {
		pid_t p;

		x = x * 1103515245u + 12345u;
		p = pids[(x >> 8) % RANGE];
		if (((x >> 4) & 3) != 0 && g.count < 50000) {
			guardian_add(&g, p);
			model[p] = 1;
		} else {
			guardian_del(&g, p);
			model[p] = 0;
		}
		if (op % 20000 == 0)
			check_model();
	}
	check_model();
}
END_TEST

static Suite *guardian_suite(void)
{
	Suite *s = suite_create("guardian");
	TCase *tc = tcase_create("set");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_add_del);
	tcase_add_loop_test(tc, test_churn, 0, 2);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(guardian_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
