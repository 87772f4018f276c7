/* SPDX-License-Identifier: Apache-2.0 */
/* sentrace: command line. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "event.h"
#include "log.h"
#include "setup.h"
#include "trace.h"
#include "util.h"

#define DEFAULT_HANDSHAKE_TIMEOUT_NS (30 * NSEC_PER_SEC)
#define DEFAULT_QUEUE_MAX_BYTES      (64u << 20)
#define DEFAULT_QUEUE_MAX_FRAMES     65536u
#define DEFAULT_PROC_SCAN_RATE_NS    (500 * NSEC_PER_MSEC)

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sentrace trace [OPTIONS] -- CMD [ARGS...]     (wrap mode)\n"
"       sentrace trace [OPTIONS] --pid N [--pid M...]  (attach mode)\n"
"       sentrace setup --cws-volume-mount DIR      (copy sentrace into DIR)\n"
"       sentrace version\n"
"\n"
"Runs CMD under ptrace with a seccomp filter, follows every process and\n"
"thread it starts, and streams security events to sentrace-probe. CMD\n"
"starts only once the probe has answered (unless --async). sentrace exits\n"
"with CMD's exit status (128+N when CMD was killed by signal N), 127 when\n"
"CMD is not found, 126 when it cannot be executed, 125 when tracing could\n"
"not start, 122 when the probe refused this tracer at start-up (token,\n"
"protocol version) or could not prove the token. SIGTERM, SIGINT, SIGHUP,\n"
"SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH sent to sentrace are passed on to\n"
"CMD.\n"
"\n"
"Attach mode seizes every thread of running processes and, unless\n"
"--no-descendants, every process descended from them; it follows their\n"
"new children. Without --attach-seccomp every system call of the attached\n"
"processes stops (expect a large slowdown on syscall-heavy servers).\n"
"SIGTERM or SIGINT detaches and exits 0; the processes keep running\n"
"(those given the filter by --attach-seccomp stay traced until they exit).\n"
"\n"
"Options:\n"
"  --probe-addr ADDR         probe address: HOST:PORT, unix:/PATH or /PATH\n"
"                            (default %s; env SENTRACE_PROBE_ADDR)\n"
"  --pid N                   attach to process N (repeatable)\n"
"  --no-descendants          attach only to the listed processes, not to\n"
"                            the processes they already started\n"
"  --attach-seccomp          put the seccomp filter into the attached\n"
"                            processes (all threads), so that they stop only\n"
"                            on monitored calls, as in wrap mode. The price:\n"
"                            a filter cannot be removed, so those processes\n"
"                            stay traced until they exit (SIGTERM detaches\n"
"                            the others only; if sentrace is killed, a\n"
"                            guardian process, sentrace-guard, takes them\n"
"                            over and lets their calls through untraced),\n"
"                            and a process without CAP_SYS_ADMIN gets\n"
"                            no_new_privs (its setuid children no longer\n"
"                            gain privileges)\n"
"  --token-file FILE         prove the secret in FILE (mode 0600) to the probe\n"
"                            and require the probe to prove it (the secret\n"
"                            never crosses the wire); env SENTRACE_TOKEN_FILE\n"
"                            (never on the command line, where any user\n"
"                            could read it)\n"
"  --uid N                   run CMD as user id N (its group: --gid, else the\n"
"                            user's primary group from the passwd database)\n"
"  --gid N                   run CMD as group id N (supplementary groups: N)\n"
"  --keep-env NAMES          report the values of these environment variables\n"
"                            (comma-separated, repeatable; NAME* is a prefix);\n"
"                            every other variable is reported by its name\n"
"                            alone, its value stays in the process. The first\n"
"                            use replaces the default list,\n"
"                            %s;\n"
"                            --keep-env '' reports no value\n"
"  --deny-io-uring           make io_uring_setup fail with ENOSYS, as\n"
"                            container runtimes' default seccomp profiles do:\n"
"                            operations submitted through io_uring are\n"
"                            invisible to system-call tracing\n"
"  --dns-port N              a port whose queries are reported as dns\n"
"                            events (repeatable, at most 8; default 53 only;\n"
"                            giving any replaces 53, so name it too)\n"
"  --disable-seccomp         stop on every system call instead of using a\n"
"                            seccomp filter (slower; for kernels without it)\n"
"  --async                   start CMD at once; connect to the probe meanwhile\n"
"  --handshake-timeout DUR   how long CMD waits for the probe before sentrace\n"
"                            gives up without starting it (default 30s)\n"
"  --queue-max-bytes N       bound of the outbound queue (default 64 MiB);\n"
"                            events over it are dropped and counted\n"
"  --queue-max-frames N      bound on queued frames (default 65536)\n"
"  --proc-scan               scan /proc for processes outside the traced tree\n"
"                            (an operator's exec shell) and report them as\n"
"                            exec and exit events with from_procfs; on by\n"
"                            default inside a container's pid namespace, off\n"
"                            in the host's, where it would report every\n"
"                            process of the machine\n"
"  --proc-scan-rate DUR      scan period (default 500ms); implies --proc-scan\n"
"  --disable-proc-scan       never scan /proc\n"
"  --verbose                 informational messages\n"
"  --debug                   debug messages\n"
"  -h, --help                this text\n"
"\n"
"Environment: SENTRACE_CONTAINER_ID (or DD_CONTAINER_ID) sets the container\n"
"id sent to the probe; otherwise it comes from /proc (docs/containers.md).\n"
"SENTRACE_NO_PIDFD=1 makes kills use kill() instead of pidfds, as on kernels\n"
"before 5.3 (for tests; docs/protocol.md, \"Commands\").\n",
		SENTRACE_DEFAULT_PROBE_ADDR, ENV_KEEP_DEFAULT);
}

enum {
	OPT_PROBE_ADDR = 256, OPT_UID, OPT_GID, OPT_DISABLE_SECCOMP, OPT_ASYNC,
	OPT_HANDSHAKE_TIMEOUT, OPT_QUEUE_BYTES, OPT_QUEUE_FRAMES, OPT_VERBOSE,
	OPT_DEBUG, OPT_PID, OPT_NO_DESCENDANTS, OPT_PROC_SCAN_RATE,
	OPT_DISABLE_PROC_SCAN, OPT_PROC_SCAN, OPT_TOKEN_FILE, OPT_ATTACH_SECCOMP,
	OPT_DENY_IO_URING, OPT_KEEP_ENV, OPT_DNS_PORT,
};

/* --keep-env NAMES: the first replaces the built-in list. */
static int keep_env(const char *list, bool *seen)
{
	int r;

	if (!*seen)
		env_keep_clear(&arg_keep_env);
	*seen = true;
	r = env_keep_add(&arg_keep_env, list);
	if (r < 0)
		log_err("--keep-env takes variable names separated by commas (a "
			"trailing * makes a prefix), at most %d, not '%s'",
			ENV_KEEP_MAX, list);
	return r;
}

static int cmd_trace(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "probe-addr", required_argument, NULL, OPT_PROBE_ADDR },
		{ "uid", required_argument, NULL, OPT_UID },
		{ "gid", required_argument, NULL, OPT_GID },
		{ "disable-seccomp", no_argument, NULL, OPT_DISABLE_SECCOMP },
		{ "async", no_argument, NULL, OPT_ASYNC },
		{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT },
		{ "queue-max-bytes", required_argument, NULL, OPT_QUEUE_BYTES },
		{ "queue-max-frames", required_argument, NULL, OPT_QUEUE_FRAMES },
		{ "verbose", no_argument, NULL, OPT_VERBOSE },
		{ "debug", no_argument, NULL, OPT_DEBUG },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "no-descendants", no_argument, NULL, OPT_NO_DESCENDANTS },
		{ "proc-scan-rate", required_argument, NULL, OPT_PROC_SCAN_RATE },
		{ "disable-proc-scan", no_argument, NULL, OPT_DISABLE_PROC_SCAN },
		{ "proc-scan", no_argument, NULL, OPT_PROC_SCAN },
		{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
		{ "attach-seccomp", no_argument, NULL, OPT_ATTACH_SECCOMP },
		{ "deny-io-uring", no_argument, NULL, OPT_DENY_IO_URING },
		{ "keep-env", required_argument, NULL, OPT_KEEP_ENV },
		{ "dns-port", required_argument, NULL, OPT_DNS_PORT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tracer_opts o = {
		.probe_addr = SENTRACE_DEFAULT_PROBE_ADDR,
		.handshake_timeout_ns = DEFAULT_HANDSHAKE_TIMEOUT_NS,
		.queue_max_bytes = DEFAULT_QUEUE_MAX_BYTES,
		.queue_max_frames = DEFAULT_QUEUE_MAX_FRAMES,
		.proc_scan_period_ns = DEFAULT_PROC_SCAN_RATE_NS,
	};
	const char *env = getenv("SENTRACE_PROBE_ADDR");
	pid_t *pids = NULL;
	size_t npids = 0;
	int level = LOG_LEVEL_WARN, ret;
	bool keep_env_seen = false;
	uint64_t v;
	int c;

	if (env && *env)
		o.probe_addr = env;
	env = getenv("SENTRACE_TOKEN_FILE");
	if (env && *env)
		o.token_file = env;
	/* "+" stops at the first non-option: CMD's own flags stay CMD's. */
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PROBE_ADDR:
			o.probe_addr = optarg;
			break;
		case OPT_KEEP_ENV:
			if (keep_env(optarg, &keep_env_seen) < 0) {
				free(pids);
				return 2;
			}
			break;
		case OPT_UID:
		case OPT_GID:
			if (parse_u64(optarg, 0xfffffffe, &v) < 0) {
				log_err("--%s takes a numeric id, not '%s'",
					c == OPT_UID ? "uid" : "gid", optarg);
				return 2;
			}
			if (c == OPT_UID) {
				o.set_uid = true;
				o.uid = (uid_t)v;
			} else {
				o.set_gid = true;
				o.gid = (gid_t)v;
			}
			break;
		case OPT_PID: {
			pid_t *np;

			if (parse_u64(optarg, INT32_MAX, &v) < 0 || v == 0) {
				log_err("--pid takes a process id, not '%s'", optarg);
				free(pids);
				return 2;
			}
			np = realloc(pids, (npids + 1) * sizeof(*pids));
			if (!np) {
				free(pids);
				return 2;
			}
			pids = np;
			pids[npids++] = (pid_t)v;
			break;
		}
		case OPT_NO_DESCENDANTS:
			o.attach_only_listed = true;
			break;
		case OPT_PROC_SCAN_RATE:
			if (parse_duration_ns(optarg, &o.proc_scan_period_ns) < 0 ||
			    o.proc_scan_period_ns < NSEC_PER_MSEC) {
				log_err("--proc-scan-rate takes a duration of 1ms or more such as 500ms or 2s, not '%s'",
					optarg);
				return 2;
			}
			if (o.proc_scan != PROC_SCAN_OFF)
				o.proc_scan = PROC_SCAN_ON;
			break;
		case OPT_ATTACH_SECCOMP:
			o.attach_seccomp = true;
			break;
		case OPT_DENY_IO_URING:
			o.deny_io_uring = true;
			break;
		case OPT_DNS_PORT:
			if (parse_u64(optarg, 65535, &v) < 0 || v == 0 ||
			    o.n_dns_ports == ARRAY_SIZE(o.dns_ports)) {
				log_err("--dns-port takes a port from 1 to 65535 (at most %zu of them), not '%s'",
					ARRAY_SIZE(o.dns_ports), optarg);
				return 2;
			}
			o.dns_ports[o.n_dns_ports++] = (uint16_t)v;
			break;
		case OPT_TOKEN_FILE:
			o.token_file = optarg;
			break;
		case OPT_PROC_SCAN:
			if (o.proc_scan != PROC_SCAN_OFF)
				o.proc_scan = PROC_SCAN_ON;
			break;
		case OPT_DISABLE_PROC_SCAN:
			o.proc_scan = PROC_SCAN_OFF;
			break;
		case OPT_DISABLE_SECCOMP:
			o.disable_seccomp = true;
			break;
		case OPT_ASYNC:
			o.async = true;
			break;
		case OPT_HANDSHAKE_TIMEOUT:
			if (parse_duration_ns(optarg, &o.handshake_timeout_ns) < 0 ||
			    o.handshake_timeout_ns == 0) {
				log_err("--handshake-timeout takes a duration such as 10s or 500ms, not '%s'",
					optarg);
				return 2;
			}
			break;
		case OPT_QUEUE_BYTES:
		case OPT_QUEUE_FRAMES:
			if (parse_u64(optarg, SIZE_MAX, &v) < 0 || v == 0) {
				log_err("--queue-max-%s takes a positive number, not '%s'",
					c == OPT_QUEUE_BYTES ? "bytes" : "frames", optarg);
				return 2;
			}
			if (c == OPT_QUEUE_BYTES)
				o.queue_max_bytes = (size_t)v;
			else
				o.queue_max_frames = (size_t)v;
			break;
		case OPT_VERBOSE:
			if (level < LOG_LEVEL_INFO)
				level = LOG_LEVEL_INFO;
			break;
		case OPT_DEBUG:
			level = LOG_LEVEL_DEBUG;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	log_level = level;
	if (!keep_env_seen && env_keep_add(&arg_keep_env, ENV_KEEP_DEFAULT) < 0) {
		log_err("out of memory");
		free(pids);
		return 1;
	}
	if (npids > 0 && optind < argc) {
		log_err("give either --pid or a command, not both");
		free(pids);
		return 2;
	}
	if (npids == 0 && o.attach_seccomp) {
		log_err("--attach-seccomp applies to --pid");
		return 2;
	}
	if (npids == 0 && optind >= argc) {
		log_err("no command given: sentrace trace [OPTIONS] -- CMD [ARGS...]");
		return 2;
	}
	if (npids > 0 && (o.set_uid || o.set_gid)) {
		log_err("--uid and --gid apply to a command that sentrace starts, not to --pid");
		free(pids);
		return 2;
	}
	if (o.set_uid && !o.set_gid) {
		/* Never leave CMD in the tracer's group (root's, usually). */
		struct passwd *pw = getpwuid(o.uid);

		if (!pw) {
			log_err("--uid %u has no passwd entry: give its group with --gid",
				(unsigned)o.uid);
			return 2;
		}
		o.set_gid = true;
		o.gid = pw->pw_gid;
	}
	o.argv = argv + optind;
	o.pids = pids;
	o.n_pids = npids;
	ret = trace_run(&o);
	free(pids);
	return ret;
}

int main(int argc, char **argv)
{
	log_init("sentrace", LOG_LEVEL_WARN);
	/*
	 * Not dumpable: a tracee running as our uid can then neither ptrace
	 * us nor open our /proc/PID/mem, fd or environ; no core file holds
	 * the probe token. We still read our own /proc entries (the kernel
	 * lets a process see itself), and CMD is made dumpable again before
	 * its exec (spawn.c).
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_warn("prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	log_nonblocking();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "trace") == 0)
		return cmd_trace(argc - 1, argv + 1);
	if (strcmp(argv[1], "setup") == 0)
		return cmd_setup(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("sentrace %s (wire protocol %d)\n", SENTRACE_VERSION, 1);
		return 0;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	log_err("unknown command '%s'", argv[1]);
	usage(stderr);
	return 2;
}
