/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: the level and the program name are the only state. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

int log_level = LOG_LEVEL_WARN;
static const char *log_prog = "sentrace";

void log_init(const char *progname, int level)
{
	if (progname)
		log_prog = progname;
	log_level = level;
}

void log_write(int level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	int saved = errno;
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line so that lines from several processes do not mix. */
	fprintf(stderr, "%s: %s: %s\n", log_prog, names[level], line);
	errno = saved;
}
