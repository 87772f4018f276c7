/* SPDX-License-Identifier: Apache-2.0 */
/* Clocks, durations, numbers and addresses. */
#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t now_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

uint64_t now_monotonic_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int parse_duration_ns(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "ms", NSEC_PER_MSEC },
		{ "s", NSEC_PER_SEC }, { "m", 60 * NSEC_PER_SEC },
		{ "h", 3600 * NSEC_PER_SEC }, { "", NSEC_PER_SEC },
	};
	double v;
	char *end;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			double ns = v * (double)units[i].mult;

			if (ns > 1e18)
				return -ERANGE;
			*ret = (uint64_t)ns;
			return 0;
		}
	}
	return -EINVAL;
}

int parse_net_addr(const char *s, struct net_addr *ret)
{
	struct net_addr a;
	char host[256];
	const char *colon;
	uint64_t port;
	size_t hlen;

	memset(&a, 0, sizeof(a));
	if (!s || !*s)
		return -EINVAL;
	if (strncmp(s, "unix:", 5) == 0 || s[0] == '/') {
		const char *p = s[0] == '/' ? s : s + 5;

		if (!*p || strlen(p) >= sizeof(a.path))
			return -ENAMETOOLONG;
		a.is_unix = true;
		strcpy(a.path, p);
		*ret = a;
		return 0;
	}
	colon = strrchr(s, ':');
	if (!colon || parse_u64(colon + 1, 65535, &port) < 0)
		return -EINVAL;
	hlen = (size_t)(colon - s);
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;

		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

		if (strcmp(host, "localhost") == 0 || host[0] == '\0')
			strcpy(host, "127.0.0.1");
		if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)port);
		} else {
			/* A name (a Kubernetes service, a compose service):
			 * resolved once, here, before anything is traced. */
			struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
			struct addrinfo *res = NULL;

			if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
				return -EHOSTUNREACH;
			if (res->ai_addrlen > sizeof(a.ss)) {
				freeaddrinfo(res);
				return -EINVAL;
			}
			memcpy(&a.ss, res->ai_addr, res->ai_addrlen);
			freeaddrinfo(res);
			if (a.ss.ss_family == AF_INET6)
				((struct sockaddr_in6 *)&a.ss)->sin6_port = htons((uint16_t)port);
			else
				((struct sockaddr_in *)&a.ss)->sin_port = htons((uint16_t)port);
		}
	}
	*ret = a;
	return 0;
}

int read_secret_file(const char *path, char *buf, size_t cap)
{
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
	} else if ((st.st_mode & 077) != 0 ||
		   (st.st_uid != geteuid() && st.st_uid != 0)) {
		r = -EPERM;
	} else {
		n = read(fd, buf, cap);
		if (n < 0) {
			r = -errno;
		} else {
			size_t len = (size_t)n;
			char *nl = memchr(buf, '\n', len);

			if (nl)
				len = (size_t)(nl - buf);
			if (len == 0 || len >= cap)
				r = -EINVAL;
			else
				buf[len] = '\0';
		}
	}
	close(fd);
	if (r < 0 && cap)
		buf[0] = '\0';
	return r;
}

const char *net_addr_str(const struct net_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (a->is_unix) {
		snprintf(buf, len, "unix:%s", a->path);
	} else if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(s4->sin_port));
	}
	return buf;
}
