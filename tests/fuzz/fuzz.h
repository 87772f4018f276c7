/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every fuzz target exports. The same sources link with libFuzzer
 * (-Dfuzzing=libfuzzer) or with replay.c, which runs them over the corpus
 * files so that the normal test suite exercises every input ever found.
 */
#ifndef SENTRACE_FUZZ_H
#define SENTRACE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the target checks does not hold: report it like a crash. */
#define fuzz_check(cond)                                                    \
	do {                                                                \
		if (!(cond))                                                \
			fuzz_fail(__FILE__, __LINE__, #cond);               \
	} while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *what);

#endif
