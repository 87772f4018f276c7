/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session's life cycle: starting CMD or attaching once the probe has
 * answered, snapshots after every handshake, the procfs scanner, the
 * housekeeping timer (held children, pruning, STATS), and the end: finish
 * (wait for the probe to take the last events) and close_all.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach.h"
#include "log.h"
#include "procsnap.h"
#include "idnames.h"
#include "tracer.h"
#include "util.h"

/* How long the tracer waits, at the end, for the probe to take everything. */
#define FINISH_DEADLINE_NS (5 * NSEC_PER_SEC)
/* Held new children are checked this often; STATS and the check for
 * vanished tracees run every STATS_TICKS of these. */
#define STATS_TICKS     40
#define HELD_MAX_NS     (1 * NSEC_PER_SEC)

/* --- the procfs scanner ------------------------------------------------------------ */

static bool procscan_is_traced(void *data, pid_t tgid)
{
	struct tracer *tr = data;

	/* The guardian is ours, not a stranger's process. */
	return tracee_table_lookup(&tr->tracees, tgid) != NULL ||
	       (tr->guardian.pid > 0 && tgid == tr->guardian.pid);
}

static void procscan_emit(void *data, struct evbuf *e)
{
	tracer_emit(data, e);
}

static const struct procscan_ops procscan_ops = {
	.is_traced = procscan_is_traced,
	.emit = procscan_emit,
};

/*
 * The initial pid namespace has a fixed inode number (PROC_PID_INIT_INO,
 * 0xEFFFFFFC) since Linux 3.8.
 */
static bool in_initial_pidns(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == 0xEFFFFFFCu;
}

/* Once the traced processes are in the table: before that, the scanner
 * would report them (attach mode) as untraced. */
static void start_procscan(struct tracer *tr)
{
	int r;

	if (tr->opts.proc_scan == PROC_SCAN_OFF || tr->procscan)
		return;
	if (tr->opts.proc_scan == PROC_SCAN_AUTO && in_initial_pidns()) {
		log_info("procfs scanner off: this is the host's pid namespace "
			 "(--proc-scan turns it on)");
		return;
	}
	r = procscan_new(tr->loop, tr->opts.proc_scan_period_ns, &procscan_ops,
			 tr, &tr->procscan);
	if (r < 0)
		log_warn("procfs scanner: %s; processes outside the traced tree "
			 "will not be reported", strerror(-r));
}

void tracer_release_cmd(struct tracer *tr)
{
	if (tr->tracing)
		return;
	tr->tracing = true;
	start_procscan(tr);
	uv_timer_stop(&tr->handshake_timer);
	/* CMD sits in the group-stop it put itself in; let it go. */
	kill(tr->main_pid, SIGCONT);
}

/*
 * One PROCESS frame with a snapshot of every traced process, put before
 * anything queued: after a reconnect the probe rebuilds its tree first.
 */
static void send_snapshots(struct tracer *tr)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct evbuf snap;
	uint32_t n = 0;
	size_t start, count_at;
	unsigned char *p;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	evbuf_init(&snap);
	start = frame_begin(&sb);
	msgpack_pack_map(&pk, 2);
	wire_pack_kv_u64(&pk, "type", WIRE_PROCESS);
	wire_pack_str(&pk, "processes");
	count_at = sb.size;
	msgpack_sbuffer_write(&sb, "\xdd\0\0\0\0", 5); /* array32, patched */
	for (size_t i = 0; i < tr->tracees.nbuckets; i++) {
		for (struct tracee *t = tr->tracees.buckets[i]; t; t = t->next) {
			if (t->tid != t->tgid || (t->flags & TRACEE_PREEXEC))
				continue;
			if (procsnap_build(&snap, t->tgid) < 0)
				continue;
			/* A frame has a size limit; a huge tree is cut here. */
			if (sb.size + snap.sb.size > WIRE_FRAME_MAX - 64) {
				tr->stats.snapshots_cut++;
				continue;
			}
			msgpack_sbuffer_write(&sb, snap.sb.data, snap.sb.size);
			n++;
		}
	}
	evbuf_free(&snap);
	if (n > 0) {
		p = (unsigned char *)sb.data + count_at + 1;
		p[0] = (unsigned char)(n >> 24);
		p[1] = (unsigned char)(n >> 16);
		p[2] = (unsigned char)(n >> 8);
		p[3] = (unsigned char)n;
		frame_end(&sb, start);
		client_push_front(&tr->client, &sb);
	}
	msgpack_sbuffer_destroy(&sb);
}

void tracer_start_attach(struct tracer *tr)
{
	if (tr->attached)
		return;
	tr->attached = true;
	tr->tracing = true;
	uv_timer_stop(&tr->handshake_timer);
	if (attach_all(tr) == 0) {
		log_err("no process could be traced");
		tr->exit_status = 1;
		tr->client.state = CLIENT_DONE;
		tracer_close_all(tr);
		return;
	}
	log_info("attached to %zu thread(s)", tr->tracees.count);
	start_procscan(tr);
}

void tracer_on_ready(struct client *c)
{
	struct tracer *tr = c->data;

	if (tr->opts.n_pids > 0)
		tracer_start_attach(tr);
	else
		tracer_release_cmd(tr);
	send_snapshots(tr);
}

/*
 * Entries whose thread is gone without our seeing its exit (it should not
 * happen; if it does, the tracer must not wait for them forever).
 */
void tracer_prune_dead(struct tracer *tr)
{
	for (size_t i = 0; i < tr->tracees.nbuckets; i++) {
		struct tracee *t = tr->tracees.buckets[i];

		while (t) {
			struct tracee *next = t->next;
			char path[64];

			snprintf(path, sizeof(path), "/proc/%d", (int)t->tid);
			if (access(path, F_OK) < 0 && errno == ENOENT) {
				log_warn("tid %d vanished without an exit status", (int)t->tid);
				tr->stats.vanished++;
				if (t->tid == t->tgid)
					guardian_del(&tr->guardian, t->tgid);
				tracee_table_remove(&tr->tracees, t);
			}
			t = next;
		}
	}
	if (tr->tracees.count == 0 && tr->tracing)
		tracer_finish(tr);
}

/* A held child whose parent's fork event never came (the parent was
 * killed in between): it must not wait forever. */
static void release_overdue(struct tracer *tr)
{
	uint64_t now = now_monotonic_ns();

	for (size_t i = 0; i < tr->tracees.nbuckets; i++)
		for (struct tracee *t = tr->tracees.buckets[i]; t; t = t->next)
			if ((t->flags & TRACEE_HELD) &&
			    now - t->held_since > HELD_MAX_NS) {
				tr->stats.held_overdue++;
				/* The probe must see a fork before anything the
				 * child does: ours, if the parent's is late. */
				if (tracer_synthesize_fork(tr, t) < 0)
					t->tgid = tracer_tgid_of(t->tid);
				/* Unknown parent: assume the mode of the session.
				 * Stopping on every call when a filter is there
				 * costs time, never events. */
				if (!tr->opts.disable_seccomp)
					t->flags |= TRACEE_FILTERED;
				/* Its parent died: no descendant scan finds it. */
				if (t->tid == t->tgid)
					guardian_add(&tr->guardian, t->tgid);
				tracer_release_held(tr, t);
			}
}

void tracer_housekeeping_cb(uv_timer_t *h)
{
	struct tracer *tr = h->data;

	if (tr->finishing)
		return;
	release_overdue(tr);
	if (++tr->ticks % STATS_TICKS)
		return;
	tracer_prune_dead(tr);
	if (!tr->finishing)
		client_send_stats(&tr->client);
}

void tracer_close_all(struct tracer *tr)
{
	if (!uv_is_closing((uv_handle_t *)&tr->housekeeping))
		uv_close((uv_handle_t *)&tr->housekeeping, NULL);
	if (!uv_is_closing((uv_handle_t *)&tr->handshake_timer))
		uv_close((uv_handle_t *)&tr->handshake_timer, NULL);
	if (!uv_is_closing((uv_handle_t *)&tr->sig_poll))
		uv_close((uv_handle_t *)&tr->sig_poll, NULL);
	if (!uv_is_closing((uv_handle_t *)&tr->drain_idle))
		uv_close((uv_handle_t *)&tr->drain_idle, NULL);
	tr->procscan = procscan_free(tr->procscan);
	client_close(&tr->client);
}

void tracer_on_done(struct client *c)
{
	struct tracer *tr = c->data;

	if (!tr->tracing) {
		/* The probe refused us before CMD ran: CMD never starts. */
		if (tr->main_pid > 0)
			kill(tr->main_pid, SIGKILL);
		tr->exit_status = c->fatal ? EXIT_PROBE_REFUSED : EXIT_TRACER_FAILURE;
		if (c->fatal)
			log_err("%s (exit status %d)", tr->opts.n_pids ?
				"nothing was attached" : "CMD was not started",
				EXIT_PROBE_REFUSED);
	}
	if (tr->tracees.count == 0 || !tr->tracing)
		tracer_close_all(tr);
}

void tracer_finish(struct tracer *tr)
{
	if (tr->finishing)
		return;
	tr->finishing = true;
	procscan_stop(tr->procscan);
	client_finish(&tr->client, tr->exit_status, FINISH_DEADLINE_NS);
}

void tracer_pack_stats(struct client *c, msgpack_packer *pk)
{
	struct tracer *tr = c->data;
	const struct procscan_stats none = { 0 };
	const struct procscan_stats *ps = tr->procscan ? procscan_stats(tr->procscan) : &none;
	struct idnames_stats idn;

	idnames_stats(&idn);
	const struct {
		const char *name;
		uint64_t value;
	} kv[] = {
		{ "events", c->events_produced },
		{ "events_queued", c->events_queued },
		{ "events_dropped", c->events_dropped },
		{ "events_acked", c->events_acked },
		{ "events_resent", c->events_resent },
		{ "stops", tr->stats.stops },
		{ "seccomp_stops", tr->stats.seccomp_stops },
		{ "syscall_stops", tr->stats.syscall_stops },
		{ "signals_injected", tr->stats.signals_injected },
		{ "decode_errors", tr->stats.decode_errors },
		{ "restarts_skipped", tr->stats.restarts_skipped },
		{ "vanished", tr->stats.vanished },
		{ "held_overdue", tr->stats.held_overdue },
		{ "filters_injected", tr->stats.filters_injected },
		{ "filters_failed", tr->stats.filters_failed },
		{ "snapshots_cut", tr->stats.snapshots_cut },
		{ "seccomp_data_mismatch", tr->stats.seccomp_data_mismatch },
		{ "untraced_clones", tr->stats.untraced_clones },
		{ "hot_waits", tr->stats.hot_waits },
		{ "hot_wait_stops", tr->stats.hot_wait_stops },
		{ "forks_synthesized", tr->stats.forks_synthesized },
		{ "forks_late", tr->stats.forks_late },
		{ "sweeps", tr->stats.sweeps },
		{ "sweep_max", tr->stats.sweep_max },
		{ "dns_queries", tr->stats.dns_queries },
		{ "dns_unparsed", tr->stats.dns_unparsed },
		{ "dns_peer_unknown", tr->stats.dns_peer_unknown },
		{ "dns_watches", tr->stats.dns_watches },
		{ "dns_watch_seen", tr->stats.dns_watch_seen },
		{ "dns_watch_expired", tr->stats.dns_watch_expired },
		{ "tracees", tr->tracees.count },
		{ "tracees_max", tr->stats.tracees_max },
		{ "procscan_execs", ps->execs },
		{ "procscan_exits", ps->exits },
		{ "procscan_untracked", ps->untracked },
		{ "procscan_scan_us", ps->last_scan_ns / 1000 },
		{ "id_names_lookups", idn.lookups },
		{ "id_names_late", idn.timeouts },
		{ "id_names_dropped", idn.dropped },
		{ "commands", c->commands },
		{ "frames_sent", c->frames_sent },
		{ "bytes_sent", c->bytes_sent },
	};

	msgpack_pack_map(pk, ARRAY_SIZE(kv));
	for (size_t i = 0; i < ARRAY_SIZE(kv); i++)
		wire_pack_kv_u64(pk, kv[i].name, kv[i].value);
}


void tracer_handshake_timeout_cb(uv_timer_t *h)
{
	struct tracer *tr = h->data;
	char why[128] = "";

	if (tr->tracing)
		return;
	if (tr->client.last_error)
		snprintf(why, sizeof(why), " (last error: %s)",
			 uv_strerror(tr->client.last_error));
	if (tr->client.fake_probes) {
		/* Something answered, and could not prove the token: a
		 * configuration to fix, not a probe still starting. */
		log_err("the probe at %s could not prove the token within %.1fs "
			"(%llu attempt(s)): its token file holds another secret, "
			"or it is not the probe; %s (exit status %d)",
			tr->client.addr_str,
			(double)tr->opts.handshake_timeout_ns / NSEC_PER_SEC,
			(unsigned long long)tr->client.fake_probes,
			tr->opts.n_pids ? "nothing was attached" : "CMD was not started",
			EXIT_PROBE_REFUSED);
		tr->exit_status = EXIT_PROBE_REFUSED;
	} else {
		log_err("no answer from the probe at %s within %.1fs%s; %s "
			"(use --async to go on without the probe)", tr->client.addr_str,
			(double)tr->opts.handshake_timeout_ns / NSEC_PER_SEC, why,
			tr->opts.n_pids ? "nothing was attached" : "CMD was not started");
		tr->exit_status = EXIT_TRACER_FAILURE;
	}
	if (tr->main_pid > 0)
		kill(tr->main_pid, SIGKILL);
	tr->client.state = CLIENT_DONE;
	tracer_close_all(tr);
}
