/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DNS questions from what traced processes send (docs/protocol.md, "dns"):
 * sendto/sendmsg/sendmmsg at their seccomp stops, and write/writev/send on
 * a socket the thread just connected to a DNS port, by watching that
 * thread's next few calls (the only way to see Go's resolver without
 * stopping every write of every process).
 */
#ifndef SENTRACE_DNSCAP_H
#define SENTRACE_DNSCAP_H

#include <stdbool.h>
#include <stdint.h>

#include "arch.h"

struct tracer;
struct tracee;

#define DNS_PORTS_MAX   8
/* Calls of a thread watched after its connect() to a DNS port: Go makes
 * three or four (getsockname, getpeername, epoll_ctl) before its write
 * over UDP, but over TCP its A and AAAA lookups run side by side and a
 * thread may wait on futexes and epoll for dozens of calls first: with 24
 * the A query of test_go_tcp was missed in 2 of 8 runs, with 64 in none of
 * 10. The watch of a socket ends at its query, so most lookups pay less. */
#define DNS_WATCH_CALLS 64
/* Other threads of the process that watch too (interrupted to start). */
#define DNS_WATCH_THREADS 64

/* The send calls, at their seccomp (or entry) stop; a are the call's
 * arguments in its ABI. Each question found is one dns event. */
void dnscap_sendto(struct tracer *tr, struct tracee *t, const uint64_t a[6],
		   bool compat);
void dnscap_sendmsg(struct tracer *tr, struct tracee *t, const uint64_t a[6],
		    bool compat, bool mmsg);

/* connect()'s exit: a socket connected to a DNS port is watched. */
void dnscap_connect_exit(struct tracer *tr, struct tracee *t,
			 const uint64_t a[6], int64_t ret);

/*
 * A new thread of a process whose creator watches DNS sockets watches
 * them too: Go's runtime starts threads while a lookup's goroutine waits,
 * and the query may leave from one of them.
 */
void dnscap_thread_born(const struct tracee *parent, struct tracee *child);

/* A syscall-entry stop of a thread with t->dns_watch set. */
void dnscap_watch_entry(struct tracer *tr, struct tracee *t,
			const struct sc_info *info);

#endif
