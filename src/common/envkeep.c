/* SPDX-License-Identifier: Apache-2.0 */
/* Keep lists of environment variable names (envkeep.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "envkeep.h"

void env_keep_clear(struct env_keep *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->names[i]);
	k->n = 0;
}

static bool name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

static int add_one(struct env_keep *k, const char *s, size_t len)
{
	char *copy;

	for (size_t i = 0; i < len; i++)
		if (!name_char(s[i]) && !(s[i] == '*' && i == len - 1))
			return -EINVAL;
	for (size_t i = 0; i < k->n; i++)
		if (strlen(k->names[i]) == len && memcmp(k->names[i], s, len) == 0)
			return 0;
	if (k->n >= ENV_KEEP_MAX)
		return -E2BIG;
	copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	k->names[k->n++] = copy;
	return 0;
}

int env_keep_add(struct env_keep *k, const char *list)
{
	const char *p = list;

	while (*p) {
		size_t len = strcspn(p, ",");
		int r = len ? add_one(k, p, len) : 0;

		if (r < 0)
			return r;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

bool env_keep_has(const struct env_keep *k, const char *name, size_t len)
{
	for (size_t i = 0; i < k->n; i++) {
		const char *n = k->names[i];
		size_t nl = strlen(n);

		if (nl > 0 && n[nl - 1] == '*') {
			if (len >= nl - 1 && memcmp(n, name, nl - 1) == 0)
				return true;
		} else if (nl == len && memcmp(n, name, len) == 0) {
			return true;
		}
	}
	return false;
}

size_t env_keep_cut(const struct env_keep *k, const char *s, size_t len)
{
	const char *eq = memchr(s, '=', len);

	if (!eq || env_keep_has(k, s, (size_t)(eq - s)))
		return len;
	return (size_t)(eq - s);
}
