/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yaml2json FILE: prints the YAML documents of FILE as one JSON array (one
 * element per document), so that the contrib tests can read Kubernetes
 * manifests and configuration files with Python's standard library only.
 * Parsing is libyaml's, as in sentrace-probe. Plain scalars that YAML 1.1
 * reads as null, booleans or integers become JSON null, true/false and
 * numbers; everything else is a string. Aliases are refused (exit 1), as
 * is any syntax error, reported with its line and column on stderr.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

static void put_string(const unsigned char *s, size_t len)
{
	size_t i;

	putchar('"');
	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c); /* UTF-8 passes through */
	}
	putchar('"');
}

static bool is_int(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	while (isdigit((unsigned char)*s))
		s++;
	return *s == '\0';
}

static void put_scalar(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	if (ev->data.scalar.plain_implicit && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (len == 0 || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
		    !strcmp(v, "NULL")) {
			fputs("null", stdout);
			return;
		}
		if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE") ||
		    !strcmp(v, "yes") || !strcmp(v, "on")) {
			fputs("true", stdout);
			return;
		}
		if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE") ||
		    !strcmp(v, "no") || !strcmp(v, "off")) {
			fputs("false", stdout);
			return;
		}
		if (is_int(v) && len < 19) {
			printf("%lld", strtoll(v, NULL, 10));
			return;
		}
	}
	put_string(ev->data.scalar.value, len);
}

int main(int argc, char **argv)
{
	/* Per nesting level: is it a mapping, and how many items so far. */
	struct { bool map; unsigned long n; } stack[256];
	int depth = 0, docs = 0, ret = 1;
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: yaml2json FILE\n");
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	if (!yaml_parser_initialize(&parser)) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	yaml_parser_set_input_file(&parser, f);
	putchar('[');
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			fprintf(stderr, "%s:%zu:%zu: %s%s%s\n", argv[1],
				parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				parser.problem ? parser.problem : "syntax error",
				parser.context ? " " : "", parser.context ? parser.context : "");
			goto out;
		}
		/* A separator before a value or key: "," between items, ":" after a key. */
		if (ev.type == YAML_SCALAR_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
		    ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_ALIAS_EVENT) {
			if (depth > 0) {
				unsigned long n = stack[depth - 1].n++;

				if (stack[depth - 1].map)
					fputs(n == 0 ? "" : n % 2 ? ":" : ",", stdout);
				else if (n > 0)
					putchar(',');
			} else if (docs++ > 0) {
				putchar(',');
			}
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_ALIAS_EVENT:
			fprintf(stderr, "%s:%zu: aliases are not supported\n", argv[1],
				ev.start_mark.line + 1);
			yaml_event_delete(&ev);
			goto out;
		case YAML_SCALAR_EVENT:
			if (depth > 0 && stack[depth - 1].map && stack[depth - 1].n % 2 == 1)
				put_string(ev.data.scalar.value, ev.data.scalar.length); /* a key */
			else
				put_scalar(&ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (depth == (int)(sizeof(stack) / sizeof(stack[0]))) {
				fprintf(stderr, "%s: nested too deeply\n", argv[1]);
				yaml_event_delete(&ev);
				goto out;
			}
			stack[depth].map = ev.type == YAML_MAPPING_START_EVENT;
			stack[depth].n = 0;
			depth++;
			putchar(ev.type == YAML_MAPPING_START_EVENT ? '{' : '[');
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			putchar(ev.type == YAML_MAPPING_END_EVENT ? '}' : ']');
			break;
		case YAML_DOCUMENT_END_EVENT:
			/* An empty document ("---" alone) is null. */
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	puts("]");
	ret = 0;
out:
	yaml_parser_delete(&parser);
	fclose(f);
	return ret;
}
