/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the fuzz targets, whichever main they link with. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

_Noreturn void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	/* abort() is what libFuzzer and the sanitizers report as a crash. */
	abort();
}
