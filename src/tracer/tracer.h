/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tracer's state: one loop, the tracee table, the probe client, and the
 * counters that travel in STATS. Passed explicitly to every module.
 */
#ifndef SENTRACE_TRACER_H
#define SENTRACE_TRACER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <uv.h>

#include "client.h"
#include "container.h"
#include "event.h"
#include "guardian.h"
#include "procscan.h"
#include "tracee.h"

struct tracer_opts {
	const char *probe_addr;
	bool set_uid, set_gid;
	uid_t uid;
	gid_t gid;
	bool disable_seccomp;
	bool async;
	uint64_t handshake_timeout_ns;
	size_t queue_max_bytes;
	size_t queue_max_frames;
	char **argv;               /* the command, NULL-terminated */
	const char *token_file;    /* shared secret for the probe, or NULL */
	pid_t *pids;               /* attach mode: --pid values */
	size_t n_pids;
	bool attach_only_listed;   /* not their descendants */
	bool attach_seccomp;       /* put the filter into attached processes */
	bool deny_io_uring;        /* io_uring_setup fails with ENOSYS */
	int proc_scan;             /* PROC_SCAN_AUTO, _ON or _OFF */
	uint64_t proc_scan_period_ns;
	uint16_t dns_ports[8];     /* --dns-port; none given: 53 */
	size_t n_dns_ports;
};

/*
 * The procfs scanner reports processes outside the traced tree. In a
 * container's pid namespace that is an operator's `kubectl exec` shell; in
 * the host's it is every process of the machine, so "auto" scans only
 * inside a pid namespace of its own.
 */
enum { PROC_SCAN_AUTO = 0, PROC_SCAN_ON, PROC_SCAN_OFF };

struct tracer_stats {
	uint64_t stops;            /* every waitpid status handled */
	uint64_t seccomp_stops;
	uint64_t syscall_stops;
	uint64_t signals_injected;
	uint64_t decode_errors;    /* an argument could not be read */
	uint64_t tracees_max;
	uint64_t restarts_skipped; /* -ERESTART* results, not reported */
	uint64_t held_overdue;     /* new children let go without a fork event */
	uint64_t filters_injected; /* attach: processes given the filter */
	uint64_t filters_failed;
	uint64_t vanished;         /* entries pruned without an exit status */
	uint64_t untraced_clones;  /* CLONE_UNTRACED taken out of a clone */
	uint64_t hot_waits;        /* waits in waitpid() for the next stop */
	uint64_t hot_wait_stops;   /* ... that a stop ended (not the timer) */
	uint64_t snapshots_cut;    /* processes left out of a full PROCESS frame */
	uint64_t seccomp_data_mismatch; /* RET_TRACE data not ours or not the
					 * call that stopped: decoded by number */
	uint64_t forks_synthesized; /* fork events of ours, for held_overdue */
	uint64_t forks_late;       /* real fork events after ours: not sent */
	uint64_t sweeps;           /* drains that took every waiting status */
	uint64_t sweep_max;        /* ... the most statuses one of them took */
	uint64_t dns_queries;      /* dns events (one per question) */
	uint64_t dns_unparsed;     /* to a DNS port, but not a query */
	uint64_t dns_peer_unknown; /* a connected socket not in the kernel's
				    * tables we read: no event */
	uint64_t dns_watches;      /* threads watched after a DNS connect */
	uint64_t dns_watch_seen;   /* ... that wrote on the socket meanwhile */
	uint64_t dns_watch_expired; /* ... that did not within the budget */
};

/* A status taken by a sweep of the drain, not handled yet (loop.c). */
struct tracer_status {
	pid_t tid;
	int status;
};

struct tracer {
	uv_loop_t *loop;
	struct tracer_opts opts;

	int sigfd;
	uv_poll_t sig_poll;
	uv_idle_t drain_idle;      /* continues a drain that ran out of budget */
	timer_t hot_timer;         /* ends a wait for the next stop (SIGALRM) */
	bool hot_timer_ok;
	struct tracer_status *sweep; /* the last sweep's statuses, */
	size_t sweep_i, sweep_cap;   /* sweep[sweep_i - 1] down to [0] to go */
	unsigned sweep_skip;         /* stops to take one by one before the next */
	bool tracing;              /* tracees may run: handshake done or --async */
	uv_timer_t handshake_timer;
	uv_timer_t housekeeping;   /* held children, periodic STATS, pruning */
	uint64_t ticks;

	struct tracee_table tracees;
	pid_t main_pid;            /* CMD */
	bool main_exited;
	int exit_status;           /* CMD's, as the shell reports it */

	struct client client;
	char container_id[CONTAINER_ID_MAX]; /* HELLO's; "" when none */
	char token[256];           /* HELLO's; "" when none */
	void *bpf;                 /* the filter, for --attach-seccomp */
	size_t bpf_len;
	struct evbuf scratch;      /* events emitted at once (fork, exit) */
	/* The last 256 children given a synthesized fork event, for when
	 * the real one comes after they are gone: it is not sent again. */
	pid_t synth_ring[256];
	unsigned synth_next;
	struct procscan *procscan; /* NULL until tracing starts, or disabled */
	struct tracer_stats stats;
	struct guardian guardian;  /* --attach-seccomp: takes over if we die */
	bool finishing;
	bool detaching;            /* attach mode: letting every tracee go */
	bool attached;             /* attach mode: attach_all() ran */
	int seccomp_order;         /* 1: the seccomp stop comes before the
				    * syscall-entry stop (kernels < 4.8), 0:
				    * after, -1: not probed yet (see
				    * tracer_seccomp_before_entry) */
};

/* The exit status of the tracer when it gives up (CMD not started, or lost). */
#define EXIT_TRACER_FAILURE 125
/*
 * At start-up the probe refused this tracer (wrong or missing token,
 * protocol mismatch, ...), or nobody at the address could prove the
 * token: CMD was not started. Distinct from 125 so that a supervisor can
 * tell a configuration to fix from a probe that is merely not up yet.
 */
#define EXIT_PROBE_REFUSED 122
/* The housekeeping timer's period (control.c). */
#define HOUSEKEEPING_MS 250

/* stops.c: every waitpid status, and the tracee table. */
/* Resumes t, injecting sig, in the mode its state needs. */
int tracer_resume(struct tracer *tr, struct tracee *t, int sig);
/* Queues the finished event in e on the wire (or counts it dropped). */
void tracer_emit(struct tracer *tr, struct evbuf *e);
/* Handles one status from waitpid(). */
void tracer_on_status(struct tracer *tr, pid_t tid, int status);
/* The entry of tid, created (with tgid, or read from /proc when 0) if new. */
struct tracee *tracer_tracee_get(struct tracer *tr, pid_t tid, pid_t tgid);
/* The thread group of tid from /proc, tid itself when unreadable. */
pid_t tracer_tgid_of(pid_t tid);
/* Lets a held new child run, with the signal it was stopped with. */
void tracer_release_held(struct tracer *tr, struct tracee *t);
/* Does the seccomp stop come before the entry stop? Probed when first
 * needed, at a stop of tid. */
bool tracer_seccomp_before_entry(struct tracer *tr, pid_t tid);
/* Emits a fork event for a held child whose parent's never came (its
 * parent from /proc); -ESRCH when the child is gone. */
int tracer_synthesize_fork(struct tracer *tr, struct tracee *t);

/* loop.c: the signalfd, the waitpid drain and forwarded signals. */
int tracer_setup_signals(struct tracer *tr);
/* Starts polling the signalfd (after tracer_setup_signals). */
void tracer_loop_start(struct tracer *tr);
/* Handles pending statuses, within a budget; continues from an idle handle. */
void tracer_drain(struct tracer *tr);

/* control.c: the session's life cycle. */
void tracer_release_cmd(struct tracer *tr);
void tracer_start_attach(struct tracer *tr);
void tracer_prune_dead(struct tracer *tr);
/* The last tracee is gone: hand the last events to the probe, then stop. */
void tracer_finish(struct tracer *tr);
/* Closes every handle: uv_run() returns once they are closed. */
void tracer_close_all(struct tracer *tr);
void tracer_on_ready(struct client *c);
void tracer_on_done(struct client *c);
void tracer_pack_stats(struct client *c, msgpack_packer *pk);
void tracer_housekeeping_cb(uv_timer_t *h);
void tracer_handshake_timeout_cb(uv_timer_t *h);

/* commands.c: COMMAND frames from the probe. */
void tracer_on_command(struct client *c, const struct wire_command *cmd);

/* spawn.c: wrap mode's CMD. */
/* The path CMD's name resolves to in PATH, as execvp would find it. */
int tracer_find_in_path(const char *name, char *out, size_t cap);
/* Forks CMD, stopped before its exec, and seizes it. */
int tracer_spawn_cmd(struct tracer *tr, const char *path, const void *bpf, size_t bpf_len);

#endif
