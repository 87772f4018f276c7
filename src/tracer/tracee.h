/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tracee table: one entry per traced thread, found by tid in a hash
 * table that grows with the workload. An entry holds the event being built
 * between a call's entry and exit stops.
 */
#ifndef SENTRACE_TRACEE_H
#define SENTRACE_TRACEE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "event.h"

enum tracee_flag {
	TRACEE_IN_SYSCALL = 1u << 0, /* an event waits for the exit stop */
	TRACEE_PREEXEC    = 1u << 1, /* CMD before its exec: not reported */
	TRACEE_INSYS_ANY  = 1u << 2, /* between entry and exit (no seccomp) */
	TRACEE_HELD       = 1u << 5, /* new child kept stopped until its
					* parent's fork event is handled */
	TRACEE_FILTERED   = 1u << 7, /* has the seccomp filter: stops only on
					* monitored calls */
	TRACEE_INJECT     = 1u << 8, /* attach: its process wants the filter */
	TRACEE_AWAIT_ENTRY = 1u << 13, /* seccomp stop seen, its entry stop
					* comes next (kernels < 4.8) */
	TRACEE_FORK_SYNTH = 1u << 12, /* let go overdue with a fork event of
					* ours: the real one is not sent */
};

struct tracee {
	pid_t tid;
	pid_t tgid;
	uint32_t flags;
	int sc_id;                  /* catalog id of the pending call */
	bool compat;
	int refused;                /* errno the pending call is refused
				     * with at its exit stop, or 0 */
	int held_sig;               /* signal to deliver when let go */
	uint64_t held_since;        /* monotonic ns */
	struct inject *inject;      /* filter injection under way, or NULL */
	char *hold;                 /* what the entry stop read, for the exit
					* or exec stop to check against the
					* kernel's view (syscalls.c), or NULL */
	uint64_t args[6];           /* entry arguments of the pending call */
	/* Sockets of its process connected to a DNS port (dnscap.c): fd
	 * and inode (a dup, a shell's >&3, is the same socket). */
	int dns_fd[4];
	uint64_t dns_ino[4];
	uint8_t dns_nsock;
	uint16_t dns_watch;         /* calls left to watch for their queries;
				     * while not 0 the thread stops at every
				     * call */
	struct evbuf ev;            /* the pending event */
	struct tracee *next;        /* hash chain */
};

struct tracee_table {
	struct tracee **buckets;
	size_t nbuckets;            /* a power of two */
	size_t count;
};

int tracee_table_init(struct tracee_table *tab);
void tracee_table_free(struct tracee_table *tab);
struct tracee *tracee_table_lookup(struct tracee_table *tab, pid_t tid);
/* Adds a new entry; -EEXIST if tid is known, -ENOMEM. */
int tracee_table_add(struct tracee_table *tab, pid_t tid, pid_t tgid,
		     struct tracee **ret);
void tracee_table_remove(struct tracee_table *tab, struct tracee *t);
/* Calls fn for every entry; fn must not add or remove. */
void tracee_table_foreach(struct tracee_table *tab,
			  void (*fn)(struct tracee *t, void *data), void *data);

#endif
