/* SPDX-License-Identifier: Apache-2.0 */
/* The probe's settings: one key table for YAML, environment and printing. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "envkeep.h"
#include "util.h"
#include "probe-config.h"
#include "proctable.h"

enum key_type {
	K_BOOL,
	K_STR,
	K_LIST,
	K_UINT,
	K_DURATION,
	K_FORMAT,
	K_ADDR,        /* a string that must parse as a listen address */
	K_OPTSTR,      /* a string; empty: unset (NULL) */
	K_MODE,        /* permission bits in octal, at most 0777 */
};

struct key {
	const char *name;
	enum key_type type;
	size_t off;
};

#define KEY(n, t, field) { n, t, offsetof(struct probe_config, field) }
#define RSC "runtime_security_config."

static const struct key keys[] = {
	KEY(RSC "enabled", K_BOOL, enabled),
	KEY(RSC "ebpfless.enabled", K_BOOL, ebpfless_enabled),
	KEY(RSC "ebpfless.socket", K_ADDR, listen),
	KEY(RSC "ebpfless.socket_mode", K_MODE, socket_mode),
	KEY(RSC "ebpfless.socket_group", K_OPTSTR, socket_group),
	KEY(RSC "ebpfless.token_file", K_OPTSTR, token_file),
	KEY(RSC "ebpfless.handshake_timeout", K_DURATION, handshake_timeout_ns),
	KEY(RSC "ebpfless.heartbeat_timeout", K_DURATION, heartbeat_timeout_ns),
	KEY(RSC "ebpfless.session_idle_timeout", K_DURATION, session_idle_timeout_ns),
	KEY(RSC "ebpfless.process_table.max_entries", K_UINT, table_max_entries),
	KEY(RSC "ebpfless.process_table.max_bytes", K_UINT, table_max_bytes),
	KEY(RSC "ebpfless.process_table.total_max_entries", K_UINT, total_max_entries),
	KEY(RSC "ebpfless.process_table.total_max_bytes", K_UINT, total_max_bytes),
	KEY(RSC "policies.dir", K_LIST, policies),
	KEY(RSC "enforcement.enabled", K_BOOL, enforcement),
	KEY(RSC "enforcement.disarmer.executable.max_allowed", K_UINT, disarm_max),
	KEY(RSC "enforcement.disarmer.executable.period", K_DURATION, disarm_period_ns),
	KEY(RSC "enforcement.kill_timeout", K_DURATION, kill_timeout_ns),
	KEY(RSC "env_keep", K_LIST, env_keep),
	KEY("alerts.outputs", K_LIST, alerts),
	KEY("alerts.format", K_FORMAT, alerts_format),
	KEY("alerts.syslog_facility", K_STR, syslog_facility),
	KEY("alerts.rate", K_UINT, alert_rate),
	KEY("alerts.burst", K_UINT, alert_burst),
	KEY("output.path", K_STR, output),
	KEY("output.format", K_FORMAT, format),
	KEY("output.file_group", K_OPTSTR, file_group),
};

int probe_config_parse_mode(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s || strlen(s) > 4)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '7')
			return -EINVAL;
		v = v * 8 + (uint64_t)(*p - '0');
	}
	if (v > 0777)
		return -EINVAL;
	*ret = v;
	return 0;
}

int probe_config_set(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

void probe_strlist_clear(struct probe_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int probe_strlist_add(struct probe_strlist *l, const char *s)
{
	char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	l->v = nv;
	nv[l->n] = strdup(s);
	if (!nv[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

const char *probe_config_default_policy_dir(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t blen = strlen(SENTRACE_BUILD_ROOT);

	if (n > 0) {
		exe[n] = '\0';
		if (blen > 0 && (size_t)n > blen &&
		    strncmp(exe, SENTRACE_BUILD_ROOT, blen) == 0 && exe[blen] == '/')
			return SENTRACE_SOURCE_POLICY_DIR;
	}
	return SENTRACE_DEFAULT_POLICY_DIR;
}

/* ENV_KEEP_DEFAULT as a list. */
static int env_keep_default_list(struct probe_strlist *l)
{
	const char *p = ENV_KEEP_DEFAULT;

	while (*p) {
		size_t len = strcspn(p, ",");
		char name[64];
		int r;

		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		r = probe_strlist_add(l, name);
		if (r < 0)
			return r;
		p += len + (p[len] == ',');
	}
	return 0;
}

int probe_config_init(struct probe_config *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = true;
	c->ebpfless_enabled = true;
	c->enforcement = true;
	c->disarm_max = 5;
	c->disarm_period_ns = 60 * NSEC_PER_SEC;
	c->kill_timeout_ns = 2 * NSEC_PER_SEC;
	c->handshake_timeout_ns = 5 * NSEC_PER_SEC;
	c->heartbeat_timeout_ns = 30 * NSEC_PER_SEC;
	c->session_idle_timeout_ns = 600 * NSEC_PER_SEC;
	c->table_max_entries = PROC_TABLE_MAX_ENTRIES;
	c->table_max_bytes = PROC_TABLE_MAX_BYTES;
	c->total_max_entries = PROC_TOTAL_MAX_ENTRIES;
	c->total_max_bytes = PROC_TOTAL_MAX_BYTES;
	c->alert_rate = 10;
	c->alert_burst = 50;
	c->socket_mode = PROBE_SOCKET_MODE_DEFAULT;
	c->format = OUTPUT_JSON;
	c->alerts_format = OUTPUT_JSON;
	if (probe_config_set(&c->listen, SENTRACE_DEFAULT_PROBE_ADDR) < 0 ||
	    probe_config_set(&c->output, "auto") < 0 ||
	    probe_config_set(&c->syslog_facility, "user") < 0 ||
	    probe_strlist_add(&c->alerts, "-") < 0 ||
	    env_keep_default_list(&c->env_keep) < 0 ||
	    probe_strlist_add(&c->policies, probe_config_default_policy_dir()) < 0) {
		probe_config_fini(c);
		return -ENOMEM;
	}
	return 0;
}

void probe_config_fini(struct probe_config *c)
{
	free(c->listen);
	free(c->output);
	free(c->syslog_facility);
	free(c->token_file);
	free(c->socket_group);
	c->listen = c->output = c->syslog_facility = NULL;
	c->token_file = c->socket_group = NULL;
	probe_strlist_clear(&c->policies);
	probe_strlist_clear(&c->alerts);
	probe_strlist_clear(&c->env_keep);
	free(c->file_group);
	c->file_group = NULL;
}

static void *field_of(struct probe_config *c, const struct key *k)
{
	return (char *)c + k->off;
}

static const void *cfield_of(const struct probe_config *c, const struct key *k)
{
	return (const char *)c + k->off;
}

/* Parses one scalar text into key k; -EINVAL with *why set on bad input. */
static int set_scalar(struct probe_config *c, const struct key *k, const char *v,
		      const char **why)
{
	void *f = field_of(c, k);
	struct net_addr addr;

	switch (k->type) {
	case K_BOOL:
		if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
			*(bool *)f = true;
		else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
			*(bool *)f = false;
		else
			return *why = "must be true or false", -EINVAL;
		return 0;
	case K_ADDR:
		if (parse_net_addr(v, &addr) < 0)
			return *why = "is not a valid address", -EINVAL;
		return probe_config_set(f, v);
	case K_STR:
		if (!*v)
			return *why = "must not be empty", -EINVAL;
		return probe_config_set(f, v);
	case K_OPTSTR:
		if (!*v) {
			free(*(char **)f);
			*(char **)f = NULL;
			return 0;
		}
		return probe_config_set(f, v);
	case K_MODE:
		if (probe_config_parse_mode(v, f) < 0)
			return *why = "must be permission bits in octal (0660)", -EINVAL;
		return 0;
	case K_UINT:
		if (parse_u64(v, UINT32_MAX, f) < 0)
			return *why = "must be a non-negative integer", -EINVAL;
		return 0;
	case K_DURATION:
		if (parse_duration_ns(v, f) < 0)
			return *why = "must be a duration (500ms, 2s, 1m)", -EINVAL;
		return 0;
	case K_FORMAT:
		if (output_format_parse(v, f) < 0)
			return *why = "must be json or text", -EINVAL;
		return 0;
	case K_LIST:
		/* A single value; the empty string is the empty list. */
		probe_strlist_clear(f);
		return *v ? probe_strlist_add(f, v) : 0;
	}
	return -EINVAL;
}

/* ---- YAML ---- */

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key,
			    size_t len)
{
	yaml_node_pair_t *pair;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);

		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == len &&
		    memcmp(k->data.scalar.value, key, len) == 0)
			return yaml_document_get_node(doc, pair->value);
	}
	return NULL;
}

/* The node at a dotted key, or NULL; *bad: a section is not a mapping. */
static yaml_node_t *node_at(yaml_document_t *doc, yaml_node_t *root, const char *name,
			    yaml_node_t **bad)
{
	yaml_node_t *n = root;
	const char *p = name;

	*bad = NULL;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (n->type != YAML_MAPPING_NODE) {
			/* "section:" with nothing under it is empty. */
			if (!(n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0))
				*bad = n;
			return NULL;
		}
		n = map_get(doc, n, p, len);
		if (!n || !dot)
			return n;
		p = dot + 1;
	}
}

static int apply_node(struct probe_config *c, const struct key *k,
		      yaml_document_t *doc, yaml_node_t *n, const char *path,
		      char *err, size_t errlen)
{
	const char *why = NULL;
	int r;

	if (k->type == K_LIST && n->type == YAML_SEQUENCE_NODE) {
		struct probe_strlist *l = field_of(c, k);
		yaml_node_item_t *it;

		probe_strlist_clear(l);
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
		     it++) {
			yaml_node_t *e = yaml_document_get_node(doc, *it);

			if (!e || e->type != YAML_SCALAR_NODE) {
				snprintf(err, errlen, "%s:%zu: '%s' must be a list of strings",
					 path, n->start_mark.line + 1, k->name);
				return -EINVAL;
			}
			r = probe_strlist_add(l, (const char *)e->data.scalar.value);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (n->type != YAML_SCALAR_NODE) {
		snprintf(err, errlen, "%s:%zu: '%s' must be a scalar", path,
			 n->start_mark.line + 1, k->name);
		return -EINVAL;
	}
	r = set_scalar(c, k, (const char *)n->data.scalar.value, &why);
	if (r == -EINVAL)
		snprintf(err, errlen, "%s:%zu: '%s' %s: '%s'", path,
			 n->start_mark.line + 1, k->name, why ? why : "is invalid",
			 (const char *)n->data.scalar.value);
	return r;
}

static int apply(struct probe_config *c, yaml_document_t *doc, const char *path,
		 char *err, size_t errlen)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);

	if (!root)
		return 0; /* an empty file: defaults */
	if (root->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "%s:%zu: the top level must be a mapping", path,
			 root->start_mark.line + 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		yaml_node_t *bad, *n = node_at(doc, root, keys[i].name, &bad);
		int r;

		if (bad) {
			snprintf(err, errlen, "%s:%zu: a section on the way to '%s' must be a mapping",
				 path, bad->start_mark.line + 1, keys[i].name);
			return -EINVAL;
		}
		if (!n)
			continue;
		r = apply_node(c, &keys[i], doc, n, path, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

int probe_config_load(struct probe_config *c, const char *path, char *err,
		      size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%zu:%zu: %s%s%s", path,
			 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "syntax error",
			 parser.context ? " " : "",
			 parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		fclose(f);
		return -EINVAL;
	}
	r = apply(c, &doc, path, err, errlen);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return r;
}

/* ---- environment ---- */

static void env_name(char *buf, size_t len, const char *prefix, const char *key)
{
	size_t n = (size_t)snprintf(buf, len, "%s", prefix);

	for (const char *p = key; *p && n + 1 < len; p++)
		buf[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
	buf[n] = '\0';
}

int probe_config_env(struct probe_config *c, char *(*getenv_fn)(const char *),
		     char *err, size_t errlen)
{
	static const char *const prefixes[] = { "SENTRACE_", "DD_" };

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];
		char name[128];
		const char *v = NULL, *why = NULL;
		int r;

		for (size_t p = 0; p < ARRAY_SIZE(prefixes) && !v; p++) {
			env_name(name, sizeof(name), prefixes[p], k->name);
			v = getenv_fn(name);
		}
		if (!v)
			continue;
		if (k->type == K_LIST) {
			/* Several values: separated by ':' (or ','), as in PATH. */
			struct probe_strlist *l = field_of(c, k);
			char *copy = strdup(v), *save = NULL, *tok;

			if (!copy)
				return -ENOMEM;
			probe_strlist_clear(l);
			for (tok = strtok_r(copy, ":,", &save); tok;
			     tok = strtok_r(NULL, ":,", &save)) {
				r = probe_strlist_add(l, tok);
				if (r < 0) {
					free(copy);
					return r;
				}
			}
			free(copy);
			continue;
		}
		r = set_scalar(c, k, v, &why);
		if (r == -EINVAL)
			snprintf(err, errlen, "environment variable %s %s: '%s'", name,
				 why ? why : "is invalid", v);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- printing ---- */

static void print_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void print_duration(FILE *f, uint64_t ns)
{
	if (ns % NSEC_PER_SEC == 0)
		fprintf(f, "%" PRIu64 "s", (uint64_t)(ns / NSEC_PER_SEC));
	else if (ns % NSEC_PER_MSEC == 0)
		fprintf(f, "%" PRIu64 "ms", (uint64_t)(ns / NSEC_PER_MSEC));
	else
		fprintf(f, "%" PRIu64 "ns", ns);
}

static void print_value(const struct probe_config *c, const struct key *k, FILE *f)
{
	const void *v = cfield_of(c, k);

	switch (k->type) {
	case K_BOOL:
		fputs(*(const bool *)v ? "true" : "false", f);
		break;
	case K_STR:
	case K_ADDR:
	case K_OPTSTR:
		/* An unset K_OPTSTR prints as "", which reads back as unset. */
		print_quoted(f, *(char *const *)v ? *(char *const *)v : "");
		break;
	case K_MODE:
		fprintf(f, "\"%04" PRIo64 "\"", *(const uint64_t *)v);
		break;
	case K_LIST: {
		const struct probe_strlist *l = v;

		fputc('[', f);
		for (size_t i = 0; i < l->n; i++) {
			if (i)
				fputs(", ", f);
			print_quoted(f, l->v[i]);
		}
		fputc(']', f);
		break;
	}
	case K_UINT:
		fprintf(f, "%" PRIu64, *(const uint64_t *)v);
		break;
	case K_DURATION:
		print_duration(f, *(const uint64_t *)v);
		break;
	case K_FORMAT:
		fputs(output_format_name(*(const enum output_format *)v), f);
		break;
	}
}

/* Number of leading dotted components a and b share. */
static size_t common_depth(const char *a, const char *b)
{
	size_t depth = 0;

	for (;;) {
		const char *da = strchr(a, '.'), *db = strchr(b, '.');
		size_t la = da ? (size_t)(da - a) : strlen(a);
		size_t lb = db ? (size_t)(db - b) : strlen(b);

		if (!da || !db || la != lb || memcmp(a, b, la) != 0)
			return depth;
		depth++;
		a = da + 1;
		b = db + 1;
	}
}

void probe_config_print(const struct probe_config *c, FILE *f)
{
	const char *prev = "";

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *name = keys[i].name, *p = name;
		size_t shared = common_depth(prev, name), depth = 0;

		/* Open the sections this key does not share with the last. */
		for (;;) {
			const char *dot = strchr(p, '.');
			size_t len = dot ? (size_t)(dot - p) : strlen(p);

			if (depth >= shared || !dot) {
				fprintf(f, "%*s%.*s:", (int)(2 * depth), "", (int)len, p);
				if (!dot)
					break;
				fputc('\n', f);
			}
			p = dot + 1;
			depth++;
		}
		fputc(' ', f);
		print_value(c, &keys[i], f);
		fputc('\n', f);
		prev = name;
	}
}
