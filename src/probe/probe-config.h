/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The probe's settings: built-in defaults, then a YAML file laid out like
 * the model's system-probe.yaml, then environment variables, then
 * command-line flags. One table lists every key with its type; the file
 * loader, the environment overrides and `sentrace-probe config` all walk
 * it. Keys and variables: docs/config.md.
 */
#ifndef SENTRACE_PROBE_CONFIG_H
#define SENTRACE_PROBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "output.h"

/* Permissions of a unix listen socket when none are configured. */
#define PROBE_SOCKET_MODE_DEFAULT 0660

/* A list of strings (policy paths, alert outputs). */
struct probe_strlist {
	char **v;
	size_t n;
};

struct probe_config {
	bool enabled;                /* runtime_security_config.enabled */
	bool ebpfless_enabled;
	char *listen;                /* never NULL after probe_config_init */
	char *token_file;            /* shared secret tracers prove; NULL: none */
	uint64_t handshake_timeout_ns; /* a connection's time to authenticate */
	uint64_t heartbeat_timeout_ns; /* silence before the "silent" alert; 0: off */
	uint64_t session_idle_timeout_ns; /* a tracer's state kept without a connection */
	uint64_t table_max_entries;  /* one tracer's process table */
	uint64_t table_max_bytes;
	uint64_t total_max_entries;  /* every tracer's together */
	uint64_t total_max_bytes;
	uint64_t socket_mode;        /* permissions of a unix listen socket */
	char *socket_group;          /* its group (name or gid); NULL: ours */
	struct probe_strlist policies;
	bool enforcement;
	uint64_t disarm_max;
	uint64_t disarm_period_ns;
	uint64_t kill_timeout_ns;
	struct probe_strlist alerts; /* "-", a file, "syslog" or "none" */
	enum output_format alerts_format;
	char *syslog_facility;
	uint64_t alert_rate;         /* alerts per second per rule */
	uint64_t alert_burst;
	char *output;                /* "auto", "-", a file or "none" */
	enum output_format format;
	struct probe_strlist env_keep; /* names whose env values are kept */
	char *file_group;            /* group of the output files; NULL: none */
};

int probe_config_init(struct probe_config *c);
void probe_config_fini(struct probe_config *c);
int probe_config_set(char **field, const char *value);
/* "0660", "660", "0600": octal permission bits, at most 0777. */
int probe_config_parse_mode(const char *s, uint64_t *ret);
void probe_strlist_clear(struct probe_strlist *l);
int probe_strlist_add(struct probe_strlist *l, const char *s);

/*
 * The policy directory used when none is configured: contrib/policy of the
 * source tree when this program runs from its build directory, the
 * installed one (meson option default_rules_dir) otherwise.
 */
const char *probe_config_default_policy_dir(void);

/*
 * Reads path over c. On error returns -EINVAL (or -errno for I/O) and
 * writes a message with the file name and line into err.
 */
int probe_config_load(struct probe_config *c, const char *path, char *err,
		      size_t errlen);
/*
 * Applies SENTRACE_<KEY> and DD_<KEY> variables (KEY: the dotted key in
 * upper case with '_' for '.'); SENTRACE_ wins. getenv_fn is getenv in
 * the program, a fake in tests.
 */
int probe_config_env(struct probe_config *c, char *(*getenv_fn)(const char *),
		     char *err, size_t errlen);
/* The effective configuration as YAML. */
void probe_config_print(const struct probe_config *c, FILE *f);

#endif
