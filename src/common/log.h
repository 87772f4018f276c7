/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging for both programs: one global level, printf-checked macros that
 * test the level before evaluating their arguments, lines on stderr with the
 * program name in front.
 */
#ifndef SENTRACE_LOG_H
#define SENTRACE_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

extern int log_level;

void log_init(const char *progname, int level);
/* Never block on stderr again: full pipes lose lines, counted (tracer). */
void log_nonblocking(void);
void log_write(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...)                                                \
	do {                                                            \
		if ((lvl) <= log_level)                                 \
			log_write((lvl), __VA_ARGS__);                  \
	} while (0)

#define log_err(...)   log_at(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
