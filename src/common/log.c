/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: the level and the program name are the only state. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "log.h"

int log_level = LOG_LEVEL_WARN;
static const char *log_prog = "sentrace";
static int log_fd = STDERR_FILENO;
static bool log_is_socket;
static unsigned long log_lost;    /* lines a full stderr did not take */

void log_init(const char *progname, int level)
{
	if (progname)
		log_prog = progname;
	log_level = level;
}

/*
 * The tracer must never wait on its stderr: a pipe that nobody drains (a
 * stalled log collector, a pager, or the workload itself filling the pipe
 * it shares with us) would freeze every tracee at its next stop. stderr's
 * open file description is shared with the workload, so O_NONBLOCK cannot
 * be set on it; we open the same pipe, FIFO or terminal again through
 * /proc/self/fd/2, which gives a description of our own, and sockets get
 * MSG_DONTWAIT. Lines that do not fit are counted and reported with the
 * next line that does. Regular files are written as before.
 */
void log_nonblocking(void)
{
	struct stat st;
	int fd;

	/* Again after the caller closed fds (the guardian): from scratch. */
	log_fd = STDERR_FILENO;
	log_is_socket = false;
	if (fstat(STDERR_FILENO, &st) < 0 || S_ISREG(st.st_mode))
		return;
	if (S_ISSOCK(st.st_mode)) {
		log_is_socket = true;
		return;
	}
	fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0)
		log_fd = fd;
}

static bool log_put(const char *buf, size_t len)
{
	ssize_t n;

	do {
		if (log_is_socket)
			n = send(log_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			n = write(log_fd, buf, len);
	} while (n < 0 && errno == EINTR);
	return n >= 0;
}

void log_write(int level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	int saved = errno, n, m;
	char line[2048], lost[128];
	unsigned long nlost;
	va_list ap;

	n = snprintf(line, sizeof(line), "%s: %s: ", log_prog, names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	line[n] = '\0';
	nlost = __atomic_load_n(&log_lost, __ATOMIC_RELAXED);
	if (nlost) {
		m = snprintf(lost, sizeof(lost), "%s: warning: %lu log line(s) lost: "
			     "stderr was full\n", log_prog, nlost);
		if (m > 0 && log_put(lost, (size_t)m))
			__atomic_fetch_sub(&log_lost, nlost, __ATOMIC_RELAXED);
	}
	/* One write per line so that lines from several processes do not mix. */
	if (!log_put(line, (size_t)n))
		__atomic_fetch_add(&log_lost, 1, __ATOMIC_RELAXED);
	errno = saved;
}
