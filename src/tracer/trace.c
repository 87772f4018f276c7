/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trace_run(): one session from options to exit status. It builds the
 * filter, sets up the signals (loop.c), the probe client, CMD (spawn.c) or
 * the attach (control.c), and runs the loop until the last tracee is gone
 * and the probe has taken the last events. The concerns live beside it:
 * stops.c (every waitpid status), loop.c (signalfd, drain, hot wait,
 * forwarded signals), control.c (life cycle, snapshots, housekeeping,
 * STATS), commands.c (kill), spawn.c (CMD). docs/internals.md maps them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "attach.h"
#include "inject.h"
#include "container.h"
#include "log.h"
#include "mem.h"
#include "procsnap.h"
#include "stopseq.h"
#include "syscalls.h"
#include "trace.h"
#include "util.h"

static void fill_hello(struct tracer *tr, char *hostname, size_t hcap)
{
	struct wire_hello *h = &tr->client.hello;
	struct stat st;
	int src;

	if (gethostname(hostname, hcap) < 0)
		hostname[0] = '\0';
	hostname[hcap - 1] = '\0';
	h->version = WIRE_PROTOCOL_VERSION;
	h->tracer_version = wire_str_c(SENTRACE_VERSION);
	h->mode = wire_str_c("wrapped");
	h->hostname = wire_str_c(hostname);
	src = container_id_resolve(tr->container_id, sizeof(tr->container_id));
	if (src < 0)
		log_warn("container id: %s", strerror(-src));
	else if (src > 0)
		log_info("container id %s (from %s)", tr->container_id,
			 container_id_source_name(src));
	h->container_id = wire_str_c(tr->container_id);
	/* Never sent: proven to the probe, and asked of it (client.c). */
	tr->client.token = tr->token[0] ? tr->token : NULL;
	tr->client.token_len = strlen(tr->token);
	h->pidns = stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
	h->tracer_pid = getpid();
	for (h->argc = 0; tr->opts.argv[h->argc] && h->argc < WIRE_HELLO_ARGV; h->argc++)
		h->argv[h->argc] = wire_str_c(tr->opts.argv[h->argc]);
	/* Attach mode has no command: the pids name the workload. */
	for (h->npids = 0; h->npids < tr->opts.n_pids && h->npids < WIRE_HELLO_PIDS;
	     h->npids++)
		h->pids[h->npids] = tr->opts.pids[h->npids];
}

/*
 * Before 4.8 the seccomp stop comes before the syscall-entry stop: probed
 * at the first seccomp stop that needs it (tracer_seccomp_before_entry).
 * SENTRACE_SECCOMP_ORDER=before|after overrides it (tests: the stop
 * handling mends a wrong guess, see stopseq_classify()).
 */
static void seccomp_order_from_env(struct tracer *tr)
{
	const char *force = getenv("SENTRACE_SECCOMP_ORDER");

	tr->seccomp_order = -1;
	if (force && (strcmp(force, "before") == 0 || strcmp(force, "after") == 0)) {
		tr->seccomp_order = strcmp(force, "before") == 0;
		log_info("seccomp stop order forced: %s the syscall-entry stop", force);
	}
}

/*
 * The tracer at nice -20, where it may (CAP_SYS_NICE, or RLIMIT_NICE).
 * Every stopped tracee waits for it, so under a fork storm it must win the
 * CPU against the storm, its own tracees: at nice 0 it is one runnable
 * process among thousands and serves a few stops a second (measured: an
 * unrelated tracee frozen for the whole storm; tests/integration/
 * test_forkstorm.py). It only runs when a tracee stopped, so the priority
 * takes from nobody more than the tracees' own calls cost. Not SCHED_FIFO:
 * a bug would then take a CPU from everything on the machine.
 */
#define TRACER_NICE (-20)

static void raise_priority(void)
{
	int cur;

	errno = 0;
	cur = getpriority(PRIO_PROCESS, 0);
	if (errno || cur <= TRACER_NICE)
		return;
	if (setpriority(PRIO_PROCESS, 0, TRACER_NICE) < 0)
		log_info("cannot raise the tracer's priority (%s): under a fork storm "
			 "its tracees will compete with it for the CPU", strerror(errno));
}

int trace_run(const struct tracer_opts *opts)
{
	struct tracer tr;
	char path[SENTRACE_PATH_MAX], hostname[256];
	char *pid_argv[WIRE_HELLO_ARGV + 1] = { NULL };
	char pid_strs[WIRE_HELLO_ARGV][16];
	bool attach = opts->n_pids > 0;
	void *bpf = NULL;
	size_t bpf_len = 0;
	int r;

	memset(&tr, 0, sizeof(tr));
	tr.opts = *opts;
	tr.exit_status = attach ? 0 : EXIT_TRACER_FAILURE;
	tr.sigfd = -1;

	if (attach) {
		/* A filter cannot be put into a running process (yet): every
		 * system call of the attached processes stops. */
		tr.opts.disable_seccomp = true;
		for (size_t i = 0; i < opts->n_pids && i < WIRE_HELLO_ARGV; i++) {
			snprintf(pid_strs[i], sizeof(pid_strs[i]), "%d", (int)opts->pids[i]);
			pid_argv[i] = pid_strs[i];
		}
		tr.opts.argv = pid_argv;
	} else if (tracer_find_in_path(opts->argv[0], path, sizeof(path)) < 0) {
		log_err("%s: command not found", opts->argv[0]);
		return 127;
	}
	if (opts->token_file) {
		r = read_secret_file(opts->token_file, tr.token, sizeof(tr.token));
		if (r < 0) {
			log_err("token file %s: %s", opts->token_file,
				r == -EPERM ? "must be a file only its owner can read "
				"(chmod 600), owned by this user or root" :
				r == -EINVAL ? "must hold one line of 1 to 255 bytes" :
				strerror(-r));
			return EXIT_TRACER_FAILURE;
		}
	}
	if (getenv("SENTRACE_NO_SYSCALL_INFO"))
		arch_force_registers();
	if (getenv("SENTRACE_NO_OPENAT2"))
		mem_force_no_openat2();
	sc_tables_init();
	if (!tr.opts.disable_seccomp || tr.opts.attach_seccomp) {
		r = sc_build_filter(false, tr.opts.deny_io_uring, &bpf, &bpf_len);
		if (r < 0) {
			log_err("cannot build the seccomp filter: %s", strerror(-r));
			return EXIT_TRACER_FAILURE;
		}
		seccomp_order_from_env(&tr);
		if (!stopseq_kernel_has_filters()) {
			/* Linux 3.4 (filters came with 3.5): every call stops. */
			log_warn("this kernel has no seccomp filters: tracing every "
				 "system call (as --disable-seccomp)");
			free(bpf);
			bpf = NULL;
			tr.opts.disable_seccomp = true;
			tr.opts.attach_seccomp = false;
		}
	}
	if (attach && tr.opts.attach_seccomp) {
		/* Kept for the processes it will be put into. */
		tr.bpf = bpf;
		tr.bpf_len = bpf_len;
		bpf = NULL;
		/* Forked now, before anything is seized or opened. The
		 * variable is for tests that show what happens without it. */
		if (!getenv("SENTRACE_NO_GUARDIAN")) {
			r = guardian_start(&tr.guardian, opts->pids, opts->n_pids);
			if (r < 0)
				log_warn("cannot start the guardian (%s): if sentrace "
					 "dies, the filtered processes' monitored "
					 "calls fail with ENOSYS", strerror(-r));
		}
	}
	r = tracer_setup_signals(&tr);
	if (r < 0) {
		log_err("signalfd: %s", strerror(-r));
		free(bpf);
		return EXIT_TRACER_FAILURE;
	}
	tr.loop = uv_default_loop();
	tracee_table_init(&tr.tracees);
	evbuf_init(&tr.scratch);
	r = client_init(&tr.client, tr.loop, opts->probe_addr,
			opts->queue_max_bytes, opts->queue_max_frames);
	if (r < 0) {
		log_err("bad probe address '%s': %s", opts->probe_addr, strerror(-r));
		free(bpf);
		return EXIT_TRACER_FAILURE;
	}
	tr.client.data = &tr;
	tr.client.on_ready = tracer_on_ready;
	tr.client.on_done = tracer_on_done;
	tr.client.pack_stats = tracer_pack_stats;
	tr.client.on_command = tracer_on_command;
	fill_hello(&tr, hostname, sizeof(hostname));
	if (attach)
		tr.client.hello.mode = wire_str_c("attached");

	if (!attach) {
		r = tracer_spawn_cmd(&tr, path, bpf, bpf_len);
		free(bpf);
		if (r < 0) {
			client_close(&tr.client);
			uv_run(tr.loop, UV_RUN_DEFAULT);
			return EXIT_TRACER_FAILURE;
		}
	}

	/* After CMD's fork: CMD keeps the nice value it was started with. */
	raise_priority();
	tracer_loop_start(&tr);
	uv_timer_init(tr.loop, &tr.handshake_timer);
	tr.handshake_timer.data = &tr;
	uv_timer_init(tr.loop, &tr.housekeeping);
	tr.housekeeping.data = &tr;
	uv_timer_start(&tr.housekeeping, tracer_housekeeping_cb, HOUSEKEEPING_MS,
		       HOUSEKEEPING_MS);

	client_start(&tr.client);
	if (!opts->async)
		uv_timer_start(&tr.handshake_timer, tracer_handshake_timeout_cb,
			       opts->handshake_timeout_ns / NSEC_PER_MSEC, 0);
	else if (attach)
		tracer_start_attach(&tr);
	else
		tracer_release_cmd(&tr);
	/* Statuses that arrived before the poll started. */
	tracer_drain(&tr);

	uv_run(tr.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(tr.loop) != 0)
		log_debug("loop closed with handles still open");

	/* If we gave up early, CMD was killed: reap it, whatever it was. */
	while (!attach && tr.tracees.count > 0 && waitpid(-1, NULL, __WALL) > 0)
		;
	close(tr.sigfd);
	guardian_end(&tr.guardian, tr.tracees.count == 0);
	free(tr.sweep);
	free(tr.bpf);
	evbuf_free(&tr.scratch);
	tracee_table_free(&tr.tracees);
	return tr.exit_status;
}

