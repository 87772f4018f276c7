/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a process's standard streams are, read from the kernel after the
 * fact at its exec stop: /proc/PID/fd/0..2 name a pipe, a socket, a
 * terminal, /dev/null or a file; a socket's protocol and addresses come
 * from a copy of the descriptor (pidfd_getfd), or before Linux 5.6 from the
 * process's own /proc/PID/net tables, read with a byte budget.
 */
#ifndef SENTRACE_TRACER_STDSTREAMS_H
#define SENTRACE_TRACER_STDSTREAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "event.h"

/* Bytes of one /proc/PID/net table read when looking for a socket. */
#define STDIO_NET_BUDGET (1u << 20)

enum stdio_type {
	STDIO_NONE,      /* the descriptor is closed */
	STDIO_PIPE,      /* pipe:[ino] */
	STDIO_SOCKET,    /* socket:[ino] */
	STDIO_TTY,       /* /dev/pts/N, /dev/ttyX, /dev/console */
	STDIO_NULL,      /* /dev/null */
	STDIO_FILE,      /* any other path (a named FIFO too) */
	STDIO_OTHER,     /* anon_inode:…, a descriptor the kernel cannot name */
};

const char *stdio_type_name(enum stdio_type t);

/*
 * Sorts a readlink() target of /proc/PID/fd/N; *ret_ino gets the inode of
 * a pipe or socket, 0 otherwise. Pure, for the unit tests.
 */
enum stdio_type stdio_classify(const char *target, uint64_t *ret_ino);

/*
 * Finds socket ino in the text of one /proc/net table (tcp, tcp6, udp,
 * udp6 format): local and peer as "ip:port". 0 when found, -ENOENT. Pure.
 */
int stdio_inet_line_find(const char *text, size_t len, uint64_t ino, bool v6,
			 char *local, size_t lcap, char *peer, size_t pcap);

/*
 * Adds the stdin_*, stdout_*, stderr_* keys of pid to an exec event.
 * stopped: pid is a tracee stopped at its exec, whose sockets may be
 * looked at through a copy of the descriptor (see stdstreams.c); any other
 * process's only through the /proc/PID/net tables.
 */
void stdio_enrich(struct evbuf *e, pid_t pid, bool stopped);

#endif
