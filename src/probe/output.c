/* SPDX-License-Identifier: Apache-2.0 */
/* Output sink: stdout, an append-mode file reopened on request, or syslog. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "output.h"

int output_format_parse(const char *s, enum output_format *ret)
{
	if (strcmp(s, "json") == 0)
		*ret = OUTPUT_JSON;
	else if (strcmp(s, "text") == 0)
		*ret = OUTPUT_TEXT;
	else
		return -EINVAL;
	return 0;
}

const char *output_format_name(enum output_format f)
{
	return f == OUTPUT_TEXT ? "text" : "json";
}

/* Lines beyond this are written before the batch ends. */
#define OUTPUT_BUF_MAX (64u << 10)

/*
 * Event and alert files hold what the workload did (command lines, paths,
 * addresses): readable by the probe's user only, 0600, or 0640 with the
 * group given. A file we create gets exactly that mode, whatever the
 * umask; an existing one is never loosened, and loses the bits beyond
 * it. Devices and FIFOs (/dev/null, a pipe to a shipper) are left alone.
 */
static int output_open_file(const char *path, gid_t group, int *ret_fd)
{
	mode_t want = group != (gid_t)-1 ? 0640 : 0600, mode;
	bool created = false;
	struct stat st;
	int fd = -1;

	/* O_CLOEXEC: the file must not leak into anything we ever exec. */
	for (int tries = 0; fd < 0 && tries < 3; tries++) {
		/* O_EXCL first: whether we made the file decides its mode. */
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC |
			  O_NOCTTY, want);
		created = fd >= 0;
		if (fd < 0 && errno == EEXIST)
			fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 && errno != ENOENT)
			break;
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*ret_fd = fd;
		return 0;
	}
	if (group != (gid_t)-1 && st.st_gid != group && fchown(fd, (uid_t)-1, group) < 0)
		log_warn("%s: cannot give it group %u: %s", path, (unsigned)group,
			 strerror(errno));
	mode = created ? want : (st.st_mode & 07777 & want);
	if ((created || mode != (st.st_mode & 07777)) && fchmod(fd, mode) < 0)
		log_warn("%s: cannot set mode %04o: %s", path, (unsigned)mode,
			 strerror(errno));
	else if (!created && mode != (st.st_mode & 07777))
		log_warn("%s was mode %04o: now %04o, for the probe's user%s only",
			 path, (unsigned)(st.st_mode & 07777), (unsigned)mode,
			 group != (gid_t)-1 ? " and group" : "");
	*ret_fd = fd;
	return 0;
}

int output_new(const char *path, enum output_format format, struct output **ret_out)
{
	return output_new_file(path, format, (gid_t)-1, ret_out);
}

int output_new_file(const char *path, enum output_format format, gid_t group,
		    struct output **ret_out)
{
	struct output *o;
	int r;

	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->format = format;
	o->fd = -1;
	o->group = group;
	strbuf_init(&o->buf);
	if (path && strcmp(path, OUTPUT_SYSLOG) == 0) {
		/* The caller may change the facility before the first line. */
		o->syslog = true;
		o->syslog_facility = LOG_USER;
	} else if (path && strcmp(path, "-") != 0) {
		o->path = strdup(path);
		if (!o->path) {
			free(o);
			return -ENOMEM;
		}
		r = output_open_file(path, group, &o->fd);
		if (r < 0) {
			free(o->path);
			free(o);
			return r;
		}
	} else {
		o->fd = STDOUT_FILENO;
	}
	*ret_out = o;
	return 0;
}

struct output *output_free(struct output *o)
{
	if (!o)
		return NULL;
	if (o->syslog)
		closelog();
	output_flush(o);
	if (o->fd >= 0 && o->fd != STDOUT_FILENO)
		close(o->fd);
	strbuf_fini(&o->buf);
	free(o->path);
	free(o);
	return NULL;
}

int output_reopen(struct output *o)
{
	int nfd = -1, r;

	if (!o->path)
		return 0;
	/* Open the new file first: on failure the old one keeps working. */
	r = output_open_file(o->path, o->group, &nfd);
	if (r < 0)
		return r;
	output_flush(o);
	close(o->fd);
	o->fd = nfd;
	o->error_logged = false;
	return 0;
}

static void output_note_error(struct output *o, int err)
{
	o->write_errors++;
	if (!o->error_logged) {
		log_warn("writing output to %s: %s", o->path ? o->path : "stdout",
			 strerror(err));
		o->error_logged = true;
	}
}

int output_syslog_facility_parse(const char *s, int *ret)
{
	static const struct {
		const char *name;
		int facility;
	} names[] = {
		{ "user", LOG_USER }, { "daemon", LOG_DAEMON }, { "auth", LOG_AUTH },
		{ "authpriv", LOG_AUTHPRIV }, { "local0", LOG_LOCAL0 },
		{ "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
		{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
		{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 },
		{ "local7", LOG_LOCAL7 },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(names[i].name, s) == 0) {
			*ret = names[i].facility;
			return 0;
		}
	}
	return -EINVAL;
}

void output_line_prio(struct output *o, int prio, const char *line, size_t len)
{
	if (o->syslog) {
		/* The length bound keeps a NUL inside the line harmless. */
		syslog(o->syslog_facility | prio, "%.*s",
		       (int)(len > INT32_MAX ? INT32_MAX : len), line);
		o->lines++;
		return;
	}
	output_line(o, line, len);
}

void output_line(struct output *o, const char *line, size_t len)
{
	if (o->syslog) {
		output_line_prio(o, LOG_INFO, line, len);
		return;
	}
	strbuf_add(&o->buf, line, len);
	strbuf_putc(&o->buf, '\n');
	if (strbuf_failed(&o->buf)) {
		/* What was buffered is incomplete: drop it, counted. */
		output_note_error(o, ENOMEM);
		strbuf_fini(&o->buf);
		strbuf_init(&o->buf);
		return;
	}
	o->lines++;
	if (o->buf.len >= OUTPUT_BUF_MAX)
		output_flush(o);
}

int output_flush(struct output *o)
{
	size_t off = 0;
	int r = 0;

	if (o->fd < 0 || o->buf.len == 0)
		return 0;
	/* One write per batch: whole lines reach the file together. */
	while (off < o->buf.len) {
		ssize_t n = write(o->fd, o->buf.data + off, o->buf.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? errno : EIO;
			output_note_error(o, r);
			break;
		}
		off += (size_t)n;
	}
	strbuf_reset(&o->buf);
	if (r)
		return -r;
	o->error_logged = false;
	return 0;
}
