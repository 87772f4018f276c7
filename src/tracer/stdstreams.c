/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Standard streams at exec: the kernel's view after the fact. Nothing here
 * opens a file of the tracee: readlink() of /proc/PID/fd/N never touches
 * what the descriptor points at, and the /proc/PID/net tables are made by
 * the kernel (read with a budget, since a busy server's table is long).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem.h"
#include "stdstreams.h"

static const char *const type_names[] = {
	[STDIO_NONE] = "none", [STDIO_PIPE] = "pipe",
	[STDIO_SOCKET] = "socket", [STDIO_TTY] = "tty",
	[STDIO_NULL] = "null", [STDIO_FILE] = "file",
	[STDIO_OTHER] = "other",
};

const char *stdio_type_name(enum stdio_type t)
{
	return (unsigned)t < sizeof(type_names) / sizeof(type_names[0]) ?
	       type_names[t] : "other";
}

/* "pipe:[123]" with prefix "pipe:[": 123. */
static bool bracket_ino(const char *s, const char *prefix, uint64_t *ret)
{
	size_t n = strlen(prefix);
	char *end;
	unsigned long long v;

	if (strncmp(s, prefix, n) != 0)
		return false;
	errno = 0;
	v = strtoull(s + n, &end, 10);
	if (errno || end == s + n || strcmp(end, "]") != 0)
		return false;
	*ret = v;
	return true;
}

enum stdio_type stdio_classify(const char *target, uint64_t *ret_ino)
{
	uint64_t ino = 0;
	enum stdio_type t;

	if (bracket_ino(target, "pipe:[", &ino))
		t = STDIO_PIPE;
	else if (bracket_ino(target, "socket:[", &ino))
		t = STDIO_SOCKET;
	else if (strcmp(target, "/dev/null") == 0)
		t = STDIO_NULL;
	else if (strncmp(target, "/dev/pts/", 9) == 0 ||
		 strncmp(target, "/dev/tty", 8) == 0 ||
		 strcmp(target, "/dev/console") == 0 ||
		 strcmp(target, "/dev/ptmx") == 0)
		t = STDIO_TTY;
	else if (target[0] == '/')
		t = STDIO_FILE;
	else
		t = STDIO_OTHER;
	*ret_ino = ino;
	return t;
}

/* The next whitespace-separated token of [*p, end). */
static bool next_tok(const char **p, const char *end, const char **ret_s,
		     size_t *ret_n)
{
	const char *s = *p;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s >= end)
		return false;
	*ret_s = s;
	while (s < end && *s != ' ' && *s != '\t')
		s++;
	*ret_n = (size_t)(s - *ret_s);
	*p = s;
	return true;
}

static bool hex_u32(const char *s, size_t n, uint32_t *ret)
{
	uint32_t v = 0;

	if (n == 0 || n > 8)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	*ret = v;
	return true;
}

/*
 * "0100007F:1F90" -> "127.0.0.1:8080". The kernel prints each 32-bit word
 * of the address as it sits in memory read as a host integer (%08X of the
 * __be32), so storing the parsed word back gives the address bytes on any
 * byte order; the port is printed in host order.
 */
static bool format_addr(const char *s, size_t n, bool v6, char *out, size_t cap)
{
	const char *colon = memchr(s, ':', n);
	size_t alen = colon ? (size_t)(colon - s) : 0;
	char ip[INET6_ADDRSTRLEN];
	uint32_t port, w;

	if (!colon || alen != (v6 ? 32u : 8u) ||
	    !hex_u32(colon + 1, n - alen - 1, &port))
		return false;
	if (v6) {
		struct in6_addr a;

		for (int i = 0; i < 4; i++) {
			if (!hex_u32(s + 8 * i, 8, &w))
				return false;
			memcpy(&a.s6_addr[4 * i], &w, 4);
		}
		if (!inet_ntop(AF_INET6, &a, ip, sizeof(ip)))
			return false;
		snprintf(out, cap, "[%s]:%u", ip, port);
	} else {
		struct in_addr a;

		if (!hex_u32(s, 8, &w))
			return false;
		a.s_addr = w;
		if (!inet_ntop(AF_INET, &a, ip, sizeof(ip)))
			return false;
		snprintf(out, cap, "%s:%u", ip, port);
	}
	return true;
}

int stdio_inet_line_find(const char *text, size_t len, uint64_t ino, bool v6,
			 char *local, size_t lcap, char *peer, size_t pcap)
{
	const char *end = text + len, *line = text;

	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		const char *p = line, *tok[10];
		size_t tlen[10];
		unsigned n = 0;

		if (!eol)
			eol = end;
		/* sl local rem st tx:rx tr:tm retrnsmt uid timeout inode */
		while (n < 10 && next_tok(&p, eol, &tok[n], &tlen[n]))
			n++;
		if (n == 10) {
			char num[24];
			char *e;
			unsigned long long v;

			if (tlen[9] < sizeof(num)) {
				memcpy(num, tok[9], tlen[9]);
				num[tlen[9]] = '\0';
				v = strtoull(num, &e, 10);
				if (*e == '\0' && v == ino &&
				    format_addr(tok[1], tlen[1], v6, local, lcap) &&
				    format_addr(tok[2], tlen[2], v6, peer, pcap))
					return 0;
			}
		}
		line = eol + 1;
	}
	return -ENOENT;
}

/*
 * Looks for ino in /proc/PID/net/<table>, at most STDIO_NET_BUDGET bytes,
 * whole lines at a time.
 */
static int net_table_find(pid_t pid, const char *table, uint64_t ino, bool v6,
			  char *local, size_t lcap, char *peer, size_t pcap)
{
	static char buf[64 * 1024];
	char path[64];
	size_t have = 0, total = 0;
	int fd, r = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, table);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (total < STDIO_NET_BUDGET) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		char *last;
		size_t whole;

		if (n <= 0)
			break;
		have += (size_t)n;
		total += (size_t)n;
		last = memrchr(buf, '\n', have);
		if (!last) {
			/* A line longer than the buffer: not a table we know. */
			if (have == sizeof(buf))
				break;
			continue;
		}
		whole = (size_t)(last - buf) + 1;
		if (stdio_inet_line_find(buf, whole, ino, v6, local, lcap,
					 peer, pcap) == 0) {
			r = 0;
			break;
		}
		memmove(buf, buf + whole, have - whole);
		have -= whole;
	}
	close(fd);
	return r;
}

static void sockaddr_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	out[0] = '\0';
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		if (inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip)))
			snprintf(out, cap, "%s:%u", ip, ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		if (inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip)))
			snprintf(out, cap, "[%s]:%u", ip, ntohs(a->sin6_port));
	}
}

/*
 * The socket itself, through a copy of the descriptor (pidfd_getfd, Linux
 * 5.6+; the tracer may, as the tracee's ptracer): its domain, type and
 * addresses, without reading any table. None of these calls can block, and
 * closing the copy is not the socket's last close (which may wait, up to
 * SO_LINGER's time): the tracee, stopped at its exec (which unshared its
 * fd table), still holds it. Only a SIGKILL of the tracee in these few
 * microseconds could leave the last reference to the copy. A process that
 * runs could close its own at any time: never copied (stopped false). NULL
 * when the kernel cannot, or for anything but TCP and UDP over IP (unix:
 * "unix").
 */
static const char *socket_by_copy(pid_t pid, int fd, char *local, size_t lcap,
				  char *peer, size_t pcap, bool *ret_tried)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
	static int forced_off = -1;
	struct sockaddr_storage ss;
	socklen_t sl;
	int pidfd, copy, domain = -1, type = -1;
	const char *proto = NULL;

	/* SENTRACE_NO_PIDFD_GETFD=1: the tables, as before Linux 5.6 (tests). */
	if (forced_off < 0)
		forced_off = getenv("SENTRACE_NO_PIDFD_GETFD") != NULL;
	if (forced_off)
		return NULL;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return NULL;
	copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	if (copy < 0)
		return NULL;
	*ret_tried = true;
	sl = sizeof(domain);
	if (getsockopt(copy, SOL_SOCKET, SO_DOMAIN, &domain, &sl) < 0)
		domain = -1;
	sl = sizeof(type);
	if (getsockopt(copy, SOL_SOCKET, SO_TYPE, &type, &sl) < 0)
		type = -1;
	if (domain == AF_UNIX)
		proto = "unix";
	else if ((domain == AF_INET || domain == AF_INET6) && type == SOCK_STREAM)
		proto = domain == AF_INET ? "tcp" : "tcp6";
	else if ((domain == AF_INET || domain == AF_INET6) && type == SOCK_DGRAM)
		proto = domain == AF_INET ? "udp" : "udp6";
	local[0] = peer[0] = '\0';
	if (proto && domain != AF_UNIX) {
		sl = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		if (getsockname(copy, (struct sockaddr *)&ss, &sl) == 0)
			sockaddr_text(&ss, local, lcap);
		sl = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		if (getpeername(copy, (struct sockaddr *)&ss, &sl) == 0)
			sockaddr_text(&ss, peer, pcap);
	}
	close(copy);
	return proto;
#else
	(void)pid, (void)fd, (void)local, (void)lcap, (void)peer, (void)pcap;
	(void)ret_tried;
	return NULL;
#endif
}

/*
 * The protocol and addresses of socket ino (pid's fd) in pid's network
 * namespace: from a copy of the descriptor, else from the /proc/PID/net
 * tables (kernels before 5.6), read with a budget.
 */
static const char *socket_find(pid_t pid, int fd, uint64_t ino, bool stopped,
			       char *local, size_t lcap, char *peer, size_t pcap)
{
	static const struct {
		const char *table;
		bool v6;
	} tables[] = {
		{ "tcp", false }, { "tcp6", true }, { "udp", false }, { "udp6", true },
	};

	bool tried = false;
	const char *proto = stopped ? socket_by_copy(pid, fd, local, lcap, peer,
						     pcap, &tried) : NULL;

	if (tried)
		return proto;
	/*
	 * Only stdin's socket is searched for (stdout and stderr have its
	 * answer when they are the same socket): the services whose stdout
	 * is journald's unix socket would otherwise read every table at
	 * every exec, to find nothing.
	 */
	if (fd != 0)
		return NULL;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (net_table_find(pid, tables[i].table, ino, tables[i].v6,
				   local, lcap, peer, pcap) == 0)
			return tables[i].table;
	return NULL;
}

void stdio_enrich(struct evbuf *e, pid_t pid, bool stopped)
{
	static const char *const names[3] = { "stdin", "stdout", "stderr" };
	char target[SENTRACE_PATH_MAX], key[32];
	char local[INET6_ADDRSTRLEN + 16], peer[INET6_ADDRSTRLEN + 16];
	uint64_t sock_done = 0;
	const char *sock_proto = NULL;

	for (int fd = 0; fd < 3; fd++) {
		enum stdio_type t;
		uint64_t ino;
		int r = proc_fd_path(pid, fd, target, sizeof(target));

		if (r == -ENOENT)
			t = STDIO_NONE, ino = 0;
		else if (r < 0 && !target[0])
			t = STDIO_OTHER, ino = 0;
		else
			t = stdio_classify(target, &ino);
		ev_str(e, names[fd], stdio_type_name(t));
		if (ino) {
			snprintf(key, sizeof(key), "%s_ino", names[fd]);
			ev_u64(e, key, ino);
		}
		if (t == STDIO_FILE || t == STDIO_TTY || t == STDIO_OTHER) {
			snprintf(key, sizeof(key), "%s_path", names[fd]);
			ev_str(e, key, target);
		}
		if (t != STDIO_SOCKET)
			continue;
		/* fds 0-2 are often one socket (dup2 thrice): looked up once. */
		if (ino != sock_done) {
			sock_done = ino;
			sock_proto = socket_find(pid, fd, ino, stopped, local,
						 sizeof(local), peer, sizeof(peer));
		}
		if (!sock_proto)
			continue;
		snprintf(key, sizeof(key), "%s_proto", names[fd]);
		ev_str(e, key, sock_proto);
		/* Unbound or unconnected: no address to give. */
		if (local[0]) {
			snprintf(key, sizeof(key), "%s_local", names[fd]);
			ev_str(e, key, local);
		}
		if (peer[0]) {
			snprintf(key, sizeof(key), "%s_peer", names[fd]);
			ev_str(e, key, peer);
		}
	}
}
