/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the probe's lines go: stdout, a file opened for appending, or
 * syslog (alerts), in JSON or text. Lines are gathered in a buffer and
 * written once per batch (or when 64 KiB are waiting), always as whole
 * lines: a reader of a live file, or of the file of a probe that was
 * killed, never sees half a line.
 */
#ifndef SENTRACE_PROBE_OUTPUT_H
#define SENTRACE_PROBE_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "strbuf.h"

enum output_format {
	OUTPUT_JSON,
	OUTPUT_TEXT,
};

/* The name that selects syslog as an output. */
#define OUTPUT_SYSLOG "syslog"

struct output {
	char *path;               /* NULL for stdout and syslog */
	int fd;                   /* -1 for syslog */
	struct strbuf buf;        /* whole lines not yet written */
	bool syslog;
	int syslog_facility;      /* LOG_USER, LOG_DAEMON, LOG_LOCAL0… */
	enum output_format format;
	uint64_t lines;
	uint64_t write_errors;
	bool error_logged;        /* one warning per error streak */
	gid_t group;              /* a file's group; (gid_t)-1: mode 0600 */
};

int output_format_parse(const char *s, enum output_format *ret);
const char *output_format_name(enum output_format f);

/* path NULL or "-" is stdout, "syslog" is syslog (LOG_USER). */
int output_new(const char *path, enum output_format format, struct output **ret_out);
/*
 * The same, with the group that may read a file output: a file is made
 * (and reopened) 0640 and given that group; (gid_t)-1: 0600. An existing
 * file keeps at most those bits. See output.c.
 */
int output_new_file(const char *path, enum output_format format, gid_t group,
		    struct output **ret_out);
/* "user", "daemon", "local0".."local7", "auth", "authpriv"; -EINVAL else. */
int output_syslog_facility_parse(const char *s, int *ret);
struct output *output_free(struct output *o);
/* Reopens a file output (log rotation); stdout is left alone. */
int output_reopen(struct output *o);
/* Writes one line; the newline is added here. */
void output_line(struct output *o, const char *line, size_t len);
/* The same with a syslog priority (LOG_WARNING…), used by syslog outputs. */
void output_line_prio(struct output *o, int prio, const char *line, size_t len);
int output_flush(struct output *o);

#endif
