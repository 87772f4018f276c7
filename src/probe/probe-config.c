/* SPDX-License-Identifier: Apache-2.0 */
/* Loading the probe's YAML configuration with libyaml's document API. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "util.h"
#include "probe-config.h"

int probe_config_set(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

int probe_config_init(struct probe_config *c)
{
	memset(c, 0, sizeof(*c));
	c->format = OUTPUT_JSON;
	if (probe_config_set(&c->listen, SENTRACE_DEFAULT_PROBE_ADDR) < 0 ||
	    probe_config_set(&c->output, "-") < 0) {
		probe_config_fini(c);
		return -ENOMEM;
	}
	return 0;
}

void probe_config_fini(struct probe_config *c)
{
	free(c->listen);
	free(c->output);
	c->listen = c->output = NULL;
}

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *pair;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(doc, pair->value);
	}
	return NULL;
}

/* A section that must be a mapping when present; NULL when absent. */
static int get_section(yaml_document_t *doc, yaml_node_t *parent, const char *key,
		       const char *path, yaml_node_t **ret, char *err, size_t errlen)
{
	yaml_node_t *n = map_get(doc, parent, key);

	*ret = NULL;
	if (!n)
		return 0;
	/* "key:" with nothing under it is an empty section. */
	if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0)
		return 0;
	if (n->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "%s:%zu: '%s' must be a mapping", path,
			 n->start_mark.line + 1, key);
		return -EINVAL;
	}
	*ret = n;
	return 0;
}

/* A scalar value; *ret stays NULL when absent. */
static int get_scalar(yaml_document_t *doc, yaml_node_t *parent, const char *key,
		      const char *path, yaml_node_t **ret, char *err, size_t errlen)
{
	yaml_node_t *n = map_get(doc, parent, key);

	*ret = NULL;
	if (!n)
		return 0;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.length == 0) {
		snprintf(err, errlen, "%s:%zu: '%s' must be a non-empty string", path,
			 n->start_mark.line + 1, key);
		return -EINVAL;
	}
	*ret = n;
	return 0;
}

static int apply(struct probe_config *c, yaml_document_t *doc, const char *path,
		 char *err, size_t errlen)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	yaml_node_t *rsc = NULL, *ebpfless = NULL, *out = NULL, *n = NULL;
	struct net_addr addr;
	const char *v;
	int r;

	if (!root)
		return 0; /* an empty file: defaults */
	if (root->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "%s:%zu: the top level must be a mapping", path,
			 root->start_mark.line + 1);
		return -EINVAL;
	}
	r = get_section(doc, root, "runtime_security_config", path, &rsc, err, errlen);
	if (r == 0)
		r = get_section(doc, rsc, "ebpfless", path, &ebpfless, err, errlen);
	if (r == 0)
		r = get_scalar(doc, ebpfless, "socket", path, &n, err, errlen);
	if (r < 0)
		return r;
	if (n) {
		v = (const char *)n->data.scalar.value;
		if (parse_net_addr(v, &addr) < 0) {
			snprintf(err, errlen, "%s:%zu: invalid socket address '%s'",
				 path, n->start_mark.line + 1, v);
			return -EINVAL;
		}
		if (probe_config_set(&c->listen, v) < 0)
			return -ENOMEM;
	}

	r = get_section(doc, root, "output", path, &out, err, errlen);
	if (r == 0)
		r = get_scalar(doc, out, "path", path, &n, err, errlen);
	if (r < 0)
		return r;
	if (n && probe_config_set(&c->output, (const char *)n->data.scalar.value) < 0)
		return -ENOMEM;
	r = get_scalar(doc, out, "format", path, &n, err, errlen);
	if (r < 0)
		return r;
	if (n && output_format_parse((const char *)n->data.scalar.value, &c->format) < 0) {
		snprintf(err, errlen, "%s:%zu: output format must be json or text",
			 path, n->start_mark.line + 1);
		return -EINVAL;
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
