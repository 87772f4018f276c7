/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DNS question capture. The bytes of a send are the tracee's, and so is
 * the socket: every read is bounded (DNS_QUERY_READ_MAX, a few iovecs, a
 * few messages), nothing is taken from them but what the parser in
 * src/common/dns.c accepts, and the server's address comes from the call's
 * own destination or, for a connected socket, from the kernel's socket
 * tables (/proc/TID/net/udp and friends), never from the payload.
 *
 * Which calls stop at all is the filter's business (syscalls.c): sendto
 * with a destination and at most 512 bytes, sendmsg and sendmmsg. A write
 * cannot be filtered by the kind of its descriptor, so write, writev and
 * send without a destination are seen only on a thread that connected a
 * socket to a DNS port, for its next DNS_WATCH_CALLS calls.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "dns.h"
#include "dnscap.h"
#include "log.h"
#include "mem.h"
#include "tracee.h"
#include "tracer.h"
#include "util.h"

/* iovecs gathered per message, messages per sendmmsg: glibc sends two
 * messages of one iovec (UDP) or one of two (TCP: length, query). */
#define IOV_MAX_READ  8
#define MMSG_MAX_READ 4
/* /proc/TID/net/{udp,tcp}{,6}: a line per socket, ~150 bytes. Read only
 * for a payload that parses as a query; cut at this size (a busy server's
 * TCP table), in which case the socket may not be found and is counted. */
#define NET_TABLE_MAX (256u * 1024)

struct peer {
	int family;             /* AF_INET, AF_INET6, 0: unknown */
	uint8_t addr[16];
	uint16_t port;
	int proto;              /* IPPROTO_UDP or IPPROTO_TCP */
};

/* One decode at a time: the tracer is single-threaded. */
static uint8_t payload[DNS_QUERY_READ_MAX + 2];
static char table[NET_TABLE_MAX];

static bool is_dns_port(const struct tracer *tr, uint16_t port)
{
	if (tr->opts.n_dns_ports == 0)
		return port == 53;
	for (size_t i = 0; i < tr->opts.n_dns_ports; i++)
		if (tr->opts.dns_ports[i] == port)
			return true;
	return false;
}

/* A sockaddr of the tracee's into p (family, address, port). */
static bool read_sockaddr(pid_t tid, uint64_t addr, uint64_t len, struct peer *p)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	uint16_t family;

	if (addr == 0 || len < sizeof(family))
		return false;
	if (mem_read(tid, addr, &family, sizeof(family)) < 0)
		return false;
	if (family == AF_INET && len >= sizeof(sin) &&
	    mem_read(tid, addr, &sin, sizeof(sin)) == 0) {
		p->family = AF_INET;
		memcpy(p->addr, &sin.sin_addr, 4);
		p->port = ntohs(sin.sin_port);
		return true;
	}
	/* 24 bytes is the old form without a scope id; the port and address
	 * sit in both forms at the same place. */
	if (family == AF_INET6 && len >= 24 && mem_read(tid, addr, &sin6, 24) == 0) {
		p->family = AF_INET6;
		memcpy(p->addr, &sin6.sin6_addr, 16);
		p->port = ntohs(sin6.sin6_port);
		return true;
	}
	return false;
}

/* The inode of the socket behind fd of tid, or 0. */
static uint64_t sock_inode(pid_t tid, int fd)
{
	char link[64];
	unsigned long long ino;

	if (fd < 0 || proc_fd_path(tid, fd, link, sizeof(link)) < 0)
		return 0;
	if (sscanf(link, "socket:[%llu]", &ino) != 1)
		return 0;
	return ino;
}

/*
 * Finds socket ino in one of the kernel's tables of tid's network
 * namespace and takes its remote address: "sl local rem st tx:rx tr:tm
 * retr uid timeout inode ...", addresses as hex words in host order.
 */
static bool table_lookup(pid_t tid, const char *what, int family, uint64_t ino,
			 struct peer *p)
{
	int n = proc_read_file(tid, what, table, sizeof(table) - 1);
	char *line, *save = NULL;

	if (n <= 0)
		return false;
	table[n] = '\0';
	for (line = strtok_r(table, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char rem[64];
		unsigned port;
		unsigned long long inode;
		size_t hexlen;

		if (sscanf(line, " %*s %*s %63[0-9A-Fa-f]:%x %*s %*s %*s %*s %*s %*s %llu",
			   rem, &port, &inode) != 3 || inode != ino)
			continue;
		hexlen = strlen(rem);
		if (hexlen != (family == AF_INET ? 8u : 32u))
			return false;
		for (size_t w = 0; w < hexlen / 8; w++) {
			char word[9];
			uint32_t v;

			memcpy(word, rem + 8 * w, 8);
			word[8] = '\0';
			v = (uint32_t)strtoul(word, NULL, 16);
			memcpy(p->addr + 4 * w, &v, 4);
		}
		p->family = family;
		p->port = (uint16_t)port;
		/* An IPv4 peer of a v6 socket: ::ffff:a.b.c.d, shown as v4. */
		if (family == AF_INET6 && memcmp(p->addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
			memmove(p->addr, p->addr + 12, 4);
			p->family = AF_INET;
		}
		return true;
	}
	return false;
}

/* The protocol and remote end of a connected socket, from the kernel. */
static bool sock_peer(pid_t tid, int fd, struct peer *p)
{
	static const struct {
		const char *file;
		int family, proto;
	} tables[] = {
		{ "net/udp", AF_INET, IPPROTO_UDP },
		{ "net/udp6", AF_INET6, IPPROTO_UDP },
		{ "net/tcp", AF_INET, IPPROTO_TCP },
		{ "net/tcp6", AF_INET6, IPPROTO_TCP },
	};
	uint64_t ino = sock_inode(tid, fd);

	if (ino == 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		if (table_lookup(tid, tables[i].file, tables[i].family, ino, p)) {
			p->proto = tables[i].proto;
			return true;
		}
	return false;
}

/* The protocol of a socket, when a destination was given with the call:
 * UDP unless the kernel lists it as TCP (a connected TCP socket ignores
 * the destination). */
static int dest_proto(pid_t tid, int fd)
{
	struct peer p = { 0 };

	if (sock_peer(tid, fd, &p) && p.proto == IPPROTO_TCP)
		return IPPROTO_TCP;
	return IPPROTO_UDP;
}

static void watch_done(struct tracer *tr, struct tracee *t, int fd);

static void emit(struct tracer *tr, struct tracee *t, const char *syscall,
		 bool compat, int fd, const uint8_t *buf, size_t len,
		 const struct peer *given)
{
	struct dns_query q;
	struct peer p = { 0 };
	char ip[INET6_ADDRSTRLEN];
	int r;

	if (len < DNS_HEADER_LEN)
		return;
	if (given && given->family) {
		/* The destination tells whether this is DNS at all; then
		 * the payload, before the kernel's tables are read. */
		if (!is_dns_port(tr, given->port))
			return;
		if (dns_parse_query(buf, len, &q) < 0 &&
		    dns_parse_query_tcp(buf, len, &q) < 0) {
			tr->stats.dns_unparsed++;
			return;
		}
		p = *given;
		p.proto = dest_proto(t->tid, fd);
	} else {
		/* Connected: only a payload that parses is worth the
		 * lookup of its socket in the kernel's tables. */
		if (dns_parse_query(buf, len, &q) < 0 &&
		    dns_parse_query_tcp(buf, len, &q) < 0)
			return;
		if (!sock_peer(t->tid, fd, &p)) {
			tr->stats.dns_peer_unknown++;
			return;
		}
		if (!is_dns_port(tr, p.port))
			return;
	}
	r = p.proto == IPPROTO_TCP ? dns_parse_query_tcp(buf, len, &q)
				   : dns_parse_query(buf, len, &q);
	if (r < 0) {
		tr->stats.dns_unparsed++;
		return;
	}
	inet_ntop(p.family, p.addr, ip, sizeof(ip));
	for (unsigned i = 0; i < q.nq; i++) {
		struct evbuf *e = &tr->scratch;
		const char *tname = dns_type_name(q.q[i].type);

		ev_begin(e, EV_DNS, syscall, t->tgid, t->tid, compat);
		ev_i64(e, "fd", fd);
		ev_i64(e, "id", q.id);
		ev_strn(e, "name", q.q[i].name, q.q[i].name_len);
		ev_i64(e, "type", q.q[i].type);
		if (tname)
			ev_str(e, "type_name", tname);
		ev_i64(e, "class", q.q[i].class);
		ev_i64(e, "count", q.qdcount);
		ev_str(e, "protocol", p.proto == IPPROTO_TCP ? "tcp" : "udp");
		ev_i64(e, "family", p.family);
		ev_str(e, "addr", ip);
		ev_i64(e, "port", p.port);
		ev_end(e);
		tracer_emit(tr, e);
		tr->stats.dns_queries++;
	}
	watch_done(tr, t, fd);
}

/* Up to DNS_QUERY_READ_MAX + 2 bytes of a flat buffer. */
static size_t read_flat(pid_t tid, uint64_t addr, uint64_t len)
{
	size_t n = len < sizeof(payload) ? (size_t)len : sizeof(payload);

	if (addr == 0 || n == 0 || mem_read(tid, addr, payload, n) < 0)
		return 0;
	return n;
}

/* Gathers an iovec array (in the tracee's ABI) into payload. */
static size_t read_iov(pid_t tid, uint64_t iov, uint64_t iovcnt, bool compat)
{
	size_t got = 0, n = iovcnt < IOV_MAX_READ ? (size_t)iovcnt : IOV_MAX_READ;

	for (size_t i = 0; i < n && got < sizeof(payload); i++) {
		uint64_t base, len;

		if (compat) {
			uint32_t v[2];

			if (mem_read(tid, iov + i * sizeof(v), v, sizeof(v)) < 0)
				break;
			base = v[0];
			len = v[1];
		} else {
			struct iovec v;

			if (mem_read(tid, iov + i * sizeof(v), &v, sizeof(v)) < 0)
				break;
			base = (uint64_t)(uintptr_t)v.iov_base;
			len = v.iov_len;
		}
		if (len > sizeof(payload) - got)
			len = sizeof(payload) - got;
		if (len && mem_read(tid, base, payload + got, (size_t)len) < 0)
			break;
		got += (size_t)len;
	}
	return got;
}

void dnscap_sendto(struct tracer *tr, struct tracee *t, const uint64_t a[6],
		   bool compat)
{
	struct peer dest = { 0 };
	size_t n;

	/*
	 * What the filter lets through (a destination, DNS-sized) always
	 * stops here; without the filter (attach, --disable-seccomp) and on
	 * i386 every sendto does, and only a query can be worth reading: a
	 * send() without destination is one only on a socket being watched
	 * (the 32-bit ABI's are not watched, so they are read).
	 */
	if (a[2] > sizeof(payload) || (!a[4] && !compat && t->dns_nsock == 0))
		return;
	n = read_flat(t->tid, a[1], a[2]);
	if (n == 0)
		return;
	if (a[4] && !read_sockaddr(t->tid, a[4], (uint32_t)a[5], &dest))
		return;
	emit(tr, t, "sendto", compat, (int)(int32_t)a[0], payload, n, &dest);
}

/* One msghdr at addr: its destination and its gathered bytes. */
static void one_msg(struct tracer *tr, struct tracee *t, const char *syscall,
		    bool compat, int fd, uint64_t addr)
{
	uint64_t name, namelen, iov, iovlen;
	struct peer dest = { 0 };
	size_t n;

	if (compat) {
		uint32_t m[7];

		if (mem_read(t->tid, addr, m, sizeof(m)) < 0)
			return;
		name = m[0];
		namelen = m[1];
		iov = m[2];
		iovlen = m[3];
	} else {
		struct msghdr m;

		if (mem_read(t->tid, addr, &m, sizeof(m)) < 0)
			return;
		name = (uint64_t)(uintptr_t)m.msg_name;
		namelen = m.msg_namelen;
		iov = (uint64_t)(uintptr_t)m.msg_iov;
		iovlen = m.msg_iovlen;
	}
	if (name && namelen && !read_sockaddr(t->tid, name, namelen, &dest))
		return;
	n = read_iov(t->tid, iov, iovlen, compat);
	emit(tr, t, syscall, compat, fd, payload, n, &dest);
}

void dnscap_sendmsg(struct tracer *tr, struct tracee *t, const uint64_t a[6],
		    bool compat, bool mmsg)
{
	/* struct mmsghdr: a msghdr and an unsigned int, padded. */
	size_t stride = compat ? 32 : sizeof(struct mmsghdr);
	uint64_t vlen = (uint32_t)a[2];
	int fd = (int)(int32_t)a[0];

	if (!mmsg) {
		one_msg(tr, t, "sendmsg", compat, fd, a[1]);
		return;
	}
	for (uint64_t i = 0; i < vlen && i < MMSG_MAX_READ; i++)
		one_msg(tr, t, "sendmmsg", compat, fd, a[1] + i * stride);
}

/* Adds the socket to t's watch (the oldest goes when four are watched). */
static void watch_add(struct tracee *t, int fd, uint64_t ino)
{
	unsigned i;

	for (i = 0; i < t->dns_nsock; i++)
		if (t->dns_fd[i] == fd && t->dns_ino[i] == ino)
			break;
	if (i == t->dns_nsock) {
		if (t->dns_nsock == ARRAY_SIZE(t->dns_fd)) {
			memmove(t->dns_fd, t->dns_fd + 1, sizeof(t->dns_fd) - sizeof(int));
			memmove(t->dns_ino, t->dns_ino + 1, sizeof(t->dns_ino) - sizeof(uint64_t));
			t->dns_nsock--;
		}
		t->dns_fd[t->dns_nsock] = fd;
		t->dns_ino[t->dns_nsock++] = ino;
	}
	t->dns_watch = DNS_WATCH_CALLS;
}

static void watch_del(struct tracee *t, unsigned i)
{
	t->dns_nsock--;
	memmove(t->dns_fd + i, t->dns_fd + i + 1, (t->dns_nsock - i) * sizeof(int));
	memmove(t->dns_ino + i, t->dns_ino + i + 1, (t->dns_nsock - i) * sizeof(uint64_t));
	if (t->dns_nsock == 0)
		t->dns_watch = 0;
}

/*
 * The query on this socket was seen (glibc's sendmmsg right after its
 * connect, Go's write): no thread of the process needs to watch for it
 * any longer. A thread whose watch ends so stops no more.
 */
static void watch_done(struct tracer *tr, struct tracee *t, int fd)
{
	uint64_t ino;

	if (t->dns_nsock == 0)
		return;
	ino = sock_inode(t->tid, fd);
	for (size_t b = 0; b < tr->tracees.nbuckets; b++)
		for (struct tracee *x = tr->tracees.buckets[b]; x; x = x->next) {
			if (x->tgid != t->tgid)
				continue;
			for (unsigned i = 0; i < x->dns_nsock; i++)
				if (ino ? x->dns_ino[i] == ino : x->dns_fd[i] == fd) {
					watch_del(x, i);
					break;
				}
		}
}

void dnscap_connect_exit(struct tracer *tr, struct tracee *t,
			 const uint64_t a[6], int64_t ret)
{
	struct peer p = { 0 };
	int fd = (int)(int32_t)a[0];
	uint64_t ino;

	/* A UDP connect succeeds at once; a non-blocking TCP one is still
	 * on its way. */
	if (ret != 0 && ret != -EINPROGRESS)
		return;
	if (!read_sockaddr(t->tid, a[1], (uint32_t)a[2], &p) || !is_dns_port(tr, p.port))
		return;
	/*
	 * With the filter, the thread is resumed with PTRACE_SYSCALL for a
	 * while: only the kernel's PTRACE_GET_SYSCALL_INFO tells those
	 * entry stops from exit stops without the filter's help.
	 */
	if ((t->flags & TRACEE_FILTERED) && !arch_probe_syscall_info(t->tid))
		return;
	ino = sock_inode(t->tid, fd);
	tr->stats.dns_watches++;
	watch_add(t, fd, ino);
	/*
	 * The query may leave from another thread: Go's runtime gives the
	 * goroutine to another thread when this one was slow to come back
	 * from connect (and being stopped makes it slow). Every thread of
	 * the process watches its next calls too; those waiting in a call
	 * are interrupted (the call restarts) so that they stop at the
	 * next one. At most DNS_WATCH_THREADS of them: a process with
	 * more (a JVM) resolves through glibc, whose query the connecting
	 * thread sends itself (then every watch of the socket ends).
	 * Threads in the middle of an injection or a detach are left alone.
	 */
	if (tr->detaching)
		return;
	for (size_t i = 0, n = 0; i < tr->tracees.nbuckets && n < DNS_WATCH_THREADS; i++)
		for (struct tracee *x = tr->tracees.buckets[i]; x && n < DNS_WATCH_THREADS;
		     x = x->next) {
			if (x == t || x->tgid != t->tgid ||
			    (x->flags & (TRACEE_HELD | TRACEE_INJECT)) || x->inject)
				continue;
			n++;
			watch_add(x, fd, ino);
			if (ptrace(PTRACE_INTERRUPT, x->tid, 0, 0) < 0)
				log_debug("ptrace(INTERRUPT, %d): %s", (int)x->tid,
					  strerror(errno));
		}
}

void dnscap_thread_born(const struct tracee *parent, struct tracee *child)
{
	if (!parent->dns_nsock || !parent->dns_watch)
		return;
	memcpy(child->dns_fd, parent->dns_fd, sizeof(child->dns_fd));
	memcpy(child->dns_ino, parent->dns_ino, sizeof(child->dns_ino));
	child->dns_nsock = parent->dns_nsock;
	child->dns_watch = DNS_WATCH_CALLS;
}

void dnscap_watch_entry(struct tracer *tr, struct tracee *t,
			const struct sc_info *info)
{
	bool filtered = t->flags & TRACEE_FILTERED;
	int fd = (int)(int32_t)info->args[0];
	size_t n = 0;
	const char *name = NULL;
	bool sends = info->nr == SYS_write || info->nr == SYS_writev ||
		     info->nr == SYS_sendto;
	unsigned i;
	uint64_t ino = 0;

	/*
	 * The socket, under its own number or another: a shell's `>&3`
	 * makes it fd 1 before printf writes (only a call that sends pays
	 * for the readlink). The 32-bit ABI's calls are not watched
	 * (docs/protocol.md).
	 */
	for (i = 0; !info->compat && i < t->dns_nsock; i++)
		if (t->dns_fd[i] == fd)
			break;
	if (!info->compat && i == t->dns_nsock && sends && (ino = sock_inode(t->tid, fd)))
		for (i = 0; i < t->dns_nsock; i++)
			if (t->dns_ino[i] == ino)
				break;
	if (info->compat || i == t->dns_nsock) {
		if (--t->dns_watch == 0) {
			t->dns_nsock = 0;
			tr->stats.dns_watch_expired++;
		}
		return;
	}
	switch (info->nr) {
	case SYS_write:
		name = "write";
		n = read_flat(t->tid, info->args[1], info->args[2]);
		break;
	case SYS_writev:
		name = "writev";
		n = read_iov(t->tid, info->args[1], info->args[2], false);
		break;
	case SYS_sendto:
		/* With the filter, a sendto with a destination stops at its
		 * seccomp stop and is decoded there; without it, always. */
		if (!filtered || (info->args[4] && info->args[2] <= DNS_QUERY_READ_MAX))
			return;
		name = "sendto";
		n = read_flat(t->tid, info->args[1], info->args[2]);
		break;
	case SYS_close:
		/* Closed under its own number: that is the end of it. */
		if (t->dns_fd[i] == fd)
			watch_del(t, i);
		return;
	default:
		if (--t->dns_watch == 0) {
			t->dns_nsock = 0;
			tr->stats.dns_watch_expired++;
		}
		return;
	}
	/*
	 * One query per socket (Go, glibc's TCP): after its first write the
	 * socket is no longer watched on this thread, whatever the bytes
	 * were; a query ends its watch on every thread (emit).
	 */
	{
		int wfd = t->dns_fd[i];
		uint64_t wino = t->dns_ino[i];

		tr->stats.dns_watch_seen++;
		if (n)
			emit(tr, t, name, false, fd, payload, n, NULL);
		for (i = 0; i < t->dns_nsock; i++)
			if (t->dns_fd[i] == wfd && t->dns_ino[i] == wino) {
				watch_del(t, i);
				break;
			}
	}
}
