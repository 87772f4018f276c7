/* SPDX-License-Identifier: Apache-2.0 */
/* Output sink: stdout, an append-mode file reopened on request, or syslog. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

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

static int output_open_file(const char *path, FILE **ret_f)
{
	FILE *f;

	/* "e": the file must not leak into anything we ever exec. */
	f = fopen(path, "ae");
	if (!f)
		return -errno;
	*ret_f = f;
	return 0;
}

int output_new(const char *path, enum output_format format, struct output **ret_out)
{
	struct output *o;
	int r;

	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->format = format;
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
		r = output_open_file(path, &o->f);
		if (r < 0) {
			free(o->path);
			free(o);
			return r;
		}
	} else {
		o->f = stdout;
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
	if (o->f) {
		fflush(o->f);
		if (o->f != stdout)
			fclose(o->f);
	}
	free(o->path);
	free(o);
	return NULL;
}

int output_reopen(struct output *o)
{
	FILE *nf = NULL;
	int r;

	if (!o->path)
		return 0;
	/* Open the new file first: on failure the old one keeps working. */
	r = output_open_file(o->path, &nf);
	if (r < 0)
		return r;
	fflush(o->f);
	fclose(o->f);
	o->f = nf;
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
	clearerr(o->f);
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
	if (fwrite(line, 1, len, o->f) != len || putc('\n', o->f) == EOF) {
		output_note_error(o, errno ? errno : EIO);
		return;
	}
	o->lines++;
}

int output_flush(struct output *o)
{
	if (!o->f)
		return 0;
	if (fflush(o->f) == EOF) {
		int r = errno ? errno : EIO;

		output_note_error(o, r);
		return -r;
	}
	o->error_logged = false;
	return 0;
}
