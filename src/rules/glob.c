/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Glob matching without allocation. On path fields '*' and '?' stay within
 * one path component and '**' crosses them ('**' followed by '/' may also
 * match no component at all: "/a/" "**" "/b" matches "/a/b"); on other
 * fields '*' matches anything. "[abc]", "[a-z]", "[!x]" and "\x" work as
 * in fnmatch(3). Also the IP network helpers used by the matchers.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rules-int.h"

int glob_init(struct glob *g, const char *pat, size_t len, bool path)
{
	g->pat = malloc(len + 1);
	if (!g->pat)
		return -ENOMEM;
	memcpy(g->pat, pat, len);
	g->pat[len] = '\0';
	g->len = len;
	g->path = path;
	return 0;
}

void glob_fini(struct glob *g)
{
	free(g->pat);
	g->pat = NULL;
}

/*
 * Matches the class at p[*pi] ('[' already seen at p[*pi - 1]) against c;
 * moves *pi past ']'. A class without ']' is a literal '['.
 */
static bool class_match(const char *p, size_t plen, size_t *pi, char c, bool *ok)
{
	size_t i = *pi;
	bool neg = false, hit = false;

	if (i < plen && (p[i] == '!' || p[i] == '^')) {
		neg = true;
		i++;
	}
	size_t first = i;

	for (; i < plen && (p[i] != ']' || i == first); i++) {
		char lo = p[i], hi = lo;

		if (lo == '\\' && i + 1 < plen)
			lo = hi = p[++i];
		if (i + 2 < plen && p[i + 1] == '-' && p[i + 2] != ']') {
			hi = p[i + 2];
			if (hi == '\\' && i + 3 < plen)
				hi = p[++i + 2];
			i += 2;
		}
		if ((unsigned char)c >= (unsigned char)lo &&
		    (unsigned char)c <= (unsigned char)hi)
			hit = true;
	}
	if (i >= plen) {
		*ok = false;  /* no closing ']' */
		return false;
	}
	*ok = true;
	*pi = i + 1;
	return hit != neg;
}

static bool match_from(const struct glob *g, size_t pi, const char *s, size_t len,
		       size_t si)
{
	const char *p = g->pat;
	size_t plen = g->len;
	/* The last single '*': where to resume in pattern and string. */
	size_t star_p = (size_t)-1, star_s = 0;

	for (;;) {
		if (pi < plen && p[pi] == '*') {
			if (pi + 1 < plen && p[pi + 1] == '*' && g->path) {
				/* '**': try every rest of the string. */
				size_t q = pi;

				while (q < plen && p[q] == '*')
					q++;
				if (q == plen)
					return true;
				if (p[q] == '/' && match_from(g, q + 1, s, len, si))
					return true;  /* "**" + '/' matched nothing */
				for (size_t k = si; k <= len; k++)
					if (match_from(g, q, s, len, k))
						return true;
				return false;
			}
			while (pi < plen && p[pi] == '*')
				pi++;
			star_p = pi;
			star_s = si;
			continue;
		}
		if (si == len && pi == plen)
			return true;
		if (si < len && pi < plen) {
			char c = s[si];
			size_t npi = pi + 1;
			bool hit;

			switch (p[pi]) {
			case '?':
				hit = !(g->path && c == '/');
				break;
			case '[': {
				bool ok;

				hit = class_match(p, plen, &npi, c, &ok);
				if (!ok) {
					npi = pi + 1;
					hit = c == '[';
				}
				if (g->path && c == '/')
					hit = false;
				break;
			}
			case '\\':
				if (pi + 1 < plen) {
					hit = c == p[pi + 1];
					npi = pi + 2;
					break;
				}
				/* fall through */
			default:
				hit = c == p[pi];
				break;
			}
			if (hit) {
				pi = npi;
				si++;
				continue;
			}
		}
		/* Mismatch: let the last '*' eat one more character. */
		if (star_p == (size_t)-1 || star_s >= len)
			return false;
		if (g->path && s[star_s] == '/')
			return false;
		star_s++;
		pi = star_p;
		si = star_s;
	}
}

bool glob_match(const struct glob *g, const char *s, size_t len)
{
	return match_from(g, 0, s, len, 0);
}

int ipnet_parse(const char *s, size_t len, bool allow_prefix, struct ipnet *ret)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash;
	struct ipnet n;
	unsigned long prefix = 0;
	bool has_prefix = false;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	slash = strchr(buf, '/');
	if (slash) {
		char *end;

		if (!allow_prefix || !slash[1])
			return -EINVAL;
		prefix = strtoul(slash + 1, &end, 10);
		if (*end || slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		has_prefix = true;
		buf[slash - buf] = '\0';
	}
	memset(&n, 0, sizeof(n));
	if (inet_pton(AF_INET, buf, n.addr) == 1) {
		n.family = AF_INET;
		n.prefix = 32;
	} else if (inet_pton(AF_INET6, buf, n.addr) == 1) {
		static const uint8_t v4mapped[12] = {
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
		};

		n.family = AF_INET6;
		n.prefix = 128;
		if (!memcmp(n.addr, v4mapped, 12)) {
			memmove(n.addr, n.addr + 12, 4);
			memset(n.addr + 4, 0, 12);
			n.family = AF_INET;
			n.prefix = 32;
			if (has_prefix) {
				if (prefix < 96)
					return -EINVAL;
				prefix -= 96;
			}
		}
	} else {
		return -EINVAL;
	}
	if (has_prefix) {
		if (prefix > n.prefix)
			return -EINVAL;
		n.prefix = (unsigned)prefix;
	}
	*ret = n;
	return 0;
}
