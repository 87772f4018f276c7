/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers both programs share: clocks, durations, addresses. */
#ifndef SENTRACE_UTIL_H
#define SENTRACE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NSEC_PER_MSEC 1000000ull
#define NSEC_PER_SEC  1000000000ull

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

uint64_t now_realtime_ns(void);
uint64_t now_monotonic_ns(void);

/* "250ms", "2s", "1m", "1h", "1500us"; a bare number is seconds. */
int parse_duration_ns(const char *s, uint64_t *ret);

/* A strictly parsed non-negative decimal (no sign, no junk). */
int parse_u64(const char *s, uint64_t max, uint64_t *ret);

/*
 * Endpoint of the wire: "HOST:PORT" (IPv4, "[IPv6]", or a name, resolved
 * once with getaddrinfo()),
 * "unix:/path" or a path starting with '/'.
 */
struct net_addr {
	bool is_unix;
	char path[108];
	struct sockaddr_storage ss; /* for TCP */
};

int parse_net_addr(const char *s, struct net_addr *ret);
/*
 * Reads a shared secret from path: a regular file that only its owner may
 * read or write (no group or other bits), owned by us or by root; the
 * first line without its newline, 1 to cap-1 bytes. -EPERM for loose
 * permissions, -EINVAL for an empty or oversize secret.
 */
int read_secret_file(const char *path, char *buf, size_t cap);

/* Writes "host:port" or "unix:/path" into buf. */
const char *net_addr_str(const struct net_addr *a, char *buf, size_t len);

#endif
