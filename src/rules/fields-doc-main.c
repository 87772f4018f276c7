/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sentrace-rules-fields-doc [OUTPUT]: writes docs/fields.md from the field
 * table (to stdout without OUTPUT). `ninja -C build fields-doc` runs it on
 * the source tree.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rules.h"

int main(int argc, char **argv)
{
	FILE *f = argc > 1 ? fopen(argv[1], "w") : stdout;
	int r;

	if (!f) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	r = rules_fields_write_doc(f);
	if (f != stdout && fclose(f) != 0)
		r = -errno;
	if (r < 0) {
		fprintf(stderr, "writing the fields doc: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
