/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The catalog of monitored system calls: one table, indexed by the id that
 * the seccomp filter returns in SCMP_ACT_TRACE(id), with each call's decoder.
 * Numbers differ per ABI; names and ids do not, so decoding never looks at
 * a syscall number except to undo socketcall(2).
 */
#ifndef SENTRACE_SYSCALLS_H
#define SENTRACE_SYSCALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "event.h"

struct tracer;
struct tracee;

/* Returned by an entry decoder when there is nothing to report. */
#define SC_SKIP 1

struct sc_ctx {
	struct tracer *tr;
	struct tracee *t;
	const struct sc_desc *d;
	const uint64_t *a;       /* the arguments (socketcall: the inner ones) */
	bool compat;
	struct evbuf *e;
};

typedef int (*sc_entry_fn)(struct sc_ctx *c);
typedef void (*sc_exit_fn)(struct sc_ctx *c, int64_t ret);

struct sc_desc {
	const char *name;
	enum ev_kind kind;
	sc_entry_fn entry;
	sc_exit_fn exit;         /* extra decoding at the exit stop, or NULL */
	int8_t p[5];             /* argument positions, meaning per decoder */
	uint8_t flags;
	const char *keys[4];     /* key names, for the set*id family */
};

enum sc_flag {
	SC_UID16 = 1u << 0,      /* 16-bit ids on the 32-bit ABI */
};

extern const struct sc_desc sc_table[];
extern const size_t sc_table_len;

/*
 * The 16-bit SECCOMP_RET_TRACE data of our filter: a tag in the high seven
 * bits, the ABI of the rule (the filter sees seccomp_data.arch, which
 * registers cannot tell for an `int 0x80` from 64-bit code), and the
 * catalog id. A tracee's own filter that also returns TRACE wins with its
 * data (the kernel keeps the newest filter's): data without the tag, or
 * naming a call whose number is not the one that stopped, is not trusted.
 */
#define SC_DATA_TAG      0x5e00u
#define SC_DATA_TAG_MASK 0xfe00u
#define SC_DATA_COMPAT   0x0100u
#define SC_DATA_ID       0x00ffu

static inline uint16_t sc_trace_data(int id, bool compat)
{
	return (uint16_t)(SC_DATA_TAG | (compat ? SC_DATA_COMPAT : 0) |
			  ((unsigned)id & SC_DATA_ID));
}

/*
 * The catalog id of the call at a seccomp stop, -1 when none: the data's
 * id where it is ours and names the call that stopped, the id of (ABI, nr)
 * otherwise. Switches info to the i386 view of the registers where the
 * data says the call entered as i386 and the registers cannot tell.
 * *ret_claimed is the id the data named (-1: not our tag); *ret_mismatch
 * says the data did not fit the call.
 */
int sc_seccomp_id(struct sc_info *info, int *ret_claimed, bool *ret_mismatch);

/*
 * Builds the filter and exports it as classic BPF (malloc'd). With
 * deny_io_uring, io_uring_setup fails with ENOSYS without a stop.
 */
int sc_build_filter(bool no_new_privs, bool deny_io_uring, void **ret_prog,
		    size_t *ret_len);

/* For --disable-seccomp: the catalog id of (ABI, nr), or -1. */
int sc_lookup_nr(bool compat, int nr);
int sc_tables_init(void);

/* Decodes the entry of call id for t into t->ev (pending). */
int sc_decode_entry(struct tracer *tr, struct tracee *t, int id,
		    const struct sc_info *info);
/* Finishes the pending event with the result. */
void sc_decode_exit(struct tracer *tr, struct tracee *t, int64_t ret);

/*
 * At the exec stop: adds file (/proc/PID/exe) and argv (/proc/PID/cmdline),
 * what the kernel ran, to t's pending exec event; with what the entry asked
 * for as requested_file / requested_argv when it differs, and tampered when
 * the difference is not an interpreter run for a script. Frees t->hold.
 */
void sc_exec_finish(struct tracee *t);

/* Adds cwd, credentials, ppid, tty and fds 0-2 of pid (stopped at its
 * exec) to an exec event. */
void sc_exec_enrich(struct evbuf *e, pid_t pid);

#endif
