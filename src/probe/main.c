/* SPDX-License-Identifier: Apache-2.0 */
/* sentrace-probe: command line, configuration, and the loop's lifetime. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "sentrace/wire.h"
#include "log.h"
#include "util.h"
#include "engine.h"
#include "envkeep.h"
#include "output.h"
#include "probe-config.h"
#include "rules.h"
#include "server.h"

#define EXIT_USAGE 2

static const char *arg_config;
static const char *arg_listen;
static const char *arg_output;
static const char *arg_format;
static const char *arg_token_file;
static const char *arg_socket_mode;
static const char *arg_handshake_timeout;
static const char *arg_heartbeat_timeout;
static const char *arg_idle_timeout;
static const char *arg_socket_group;
static struct probe_strlist arg_policies;
static bool arg_no_policy;
static struct probe_strlist arg_alerts;
static int arg_log_level = LOG_LEVEL_WARN;

static void help(FILE *f)
{
	fprintf(f,
		"Usage: sentrace-probe COMMAND [OPTIONS]\n"
		"\n"
		"Receives events from sentrace tracers, resolves their processes,\n"
		"evaluates detection rules, kills what the rules say, and writes alerts\n"
		"and (optionally) the events.\n"
		"\n"
		"Commands:\n"
		"  run                    Listen for tracers\n"
		"  config                 Print the effective configuration as YAML\n"
		"  check-rules FILE|DIR…  Validate policies and list their rules\n"
		"  version                Print the version\n"
		"  help, --help           Show this help\n"
		"\n"
		"Options of run and config:\n"
		"  -c, --config FILE    Read settings from a YAML file (optional; built-in\n"
		"                       defaults otherwise); SENTRACE_* and DD_* variables\n"
		"                       override it and flags override both (docs/config.md)\n"
		"  -l, --listen ADDR    Listen on HOST:PORT, [IPv6]:PORT, unix:/path or /path\n"
		"                       (default %s; port 0 picks a free port,\n"
		"                       logged at info level)\n"
		"  -p, --policy PATH    Load the policy file or directory PATH (repeatable;\n"
		"                       default %s)\n"
		"      --no-policy      Load no policy: no detection\n"
		"  -a, --alerts DEST    Write alerts to DEST: - (stdout, default), a file\n"
		"                       (appended; SIGHUP reopens it), syslog, or none\n"
		"                       (repeatable). Files are made 0600, or 0640 for\n"
		"                       the group of output.file_group (docs/config.md)\n"
		"  -o, --output DEST    Write the event log to DEST: - (stdout), a file, none,\n"
		"                       or auto (default: stdout when no rule is loaded,\n"
		"                       none otherwise). Environment values appear only\n"
		"                       for the names of env_keep (docs/config.md)\n"
		"  -f, --format FMT     json (one object per line, default) or text (one\n"
		"                       readable line per record), for alerts and events\n"
		"      --token-file FILE  Serve only tracers that prove the secret in FILE\n"
		"                       (first line; mode 0600 or stricter, owned by this\n"
		"                       user or root), and prove it to them: it never\n"
		"                       crosses the wire. Never on the command line, where\n"
		"                       any user could read it\n"
		"      --socket-mode OCTAL  Permissions of a unix listen socket (default\n"
		"                       %04o): who may connect needs write permission\n"
		"      --socket-group GROUP  Group (name or gid) of a unix listen socket\n"
		"      --handshake-timeout DUR  Close a connection that has not completed\n"
		"                       its handshake within DUR (default 5s)\n"
		"      --heartbeat-timeout DUR  Alert when a connected tracer sends nothing\n"
		"                       for DUR (default 30s; 0: never)\n"
		"      --session-idle-timeout DUR  Forget a disconnected tracer's session\n"
		"                       and process tree after DUR (default 10m)\n"
		"  -v, --verbose        Log at info level\n"
		"  -d, --debug          Log at debug level\n"
		"  -h, --help           Show this help\n"
		"\n"
		"SIGHUP reloads the policies (keeping the rules in force when the new ones\n"
		"have errors) and reopens output files. SIGTERM and SIGINT stop the probe\n"
		"cleanly. Exit status: 0 on success, 1 on a runtime error, 2 on a usage or\n"
		"configuration error; check-rules: 0 valid, 1 errors, 2 usage.\n"
		"Formats: docs/alerts.md, docs/probe-output.md.\n",
		SENTRACE_DEFAULT_PROBE_ADDR, probe_config_default_policy_dir(),
		PROBE_SOCKET_MODE_DEFAULT);
}

enum {
	OPT_NO_POLICY = 256,
	OPT_TOKEN_FILE,
	OPT_SOCKET_MODE,
	OPT_SOCKET_GROUP,
	OPT_HANDSHAKE_TIMEOUT,
	OPT_HEARTBEAT_TIMEOUT,
	OPT_IDLE_TIMEOUT,
};

/* Returns 0, 1 after --help, or -EINVAL. */
static int parse_options(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config",    required_argument, NULL, 'c' },
		{ "listen",    required_argument, NULL, 'l' },
		{ "policy",    required_argument, NULL, 'p' },
		{ "no-policy", no_argument,       NULL, OPT_NO_POLICY },
		{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
		{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
		{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
		{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT },
		{ "heartbeat-timeout", required_argument, NULL, OPT_HEARTBEAT_TIMEOUT },
		{ "session-idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
		{ "alerts",    required_argument, NULL, 'a' },
		{ "output",    required_argument, NULL, 'o' },
		{ "format",    required_argument, NULL, 'f' },
		{ "verbose",   no_argument,       NULL, 'v' },
		{ "debug",     no_argument,       NULL, 'd' },
		{ "help",      no_argument,       NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:l:p:a:o:f:vdh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': arg_config = optarg; break;
		case 'l': arg_listen = optarg; break;
		case 'o': arg_output = optarg; break;
		case 'f': arg_format = optarg; break;
		case 'p':
			if (probe_strlist_add(&arg_policies, optarg) < 0)
				return -ENOMEM;
			break;
		case OPT_NO_POLICY: arg_no_policy = true; break;
		case OPT_TOKEN_FILE: arg_token_file = optarg; break;
		case OPT_SOCKET_MODE: arg_socket_mode = optarg; break;
		case OPT_SOCKET_GROUP: arg_socket_group = optarg; break;
		case OPT_HANDSHAKE_TIMEOUT: arg_handshake_timeout = optarg; break;
		case OPT_HEARTBEAT_TIMEOUT: arg_heartbeat_timeout = optarg; break;
		case OPT_IDLE_TIMEOUT: arg_idle_timeout = optarg; break;
		case 'a':
			if (probe_strlist_add(&arg_alerts, optarg) < 0)
				return -ENOMEM;
			break;
		case 'v':
			if (arg_log_level < LOG_LEVEL_INFO)
				arg_log_level = LOG_LEVEL_INFO;
			break;
		case 'd': arg_log_level = LOG_LEVEL_DEBUG; break;
		case 'h':
			help(stdout);
			return 1;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sentrace-probe: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static int copy_list(struct probe_strlist *dst, const struct probe_strlist *src)
{
	probe_strlist_clear(dst);
	for (size_t i = 0; i < src->n; i++)
		if (probe_strlist_add(dst, src->v[i]) < 0)
			return -ENOMEM;
	return 0;
}

/* Defaults, the file, the environment, then the flags. Errors are logged. */
static int build_config(struct probe_config *cfg, struct net_addr *ret_addr)
{
	char err[512] = "";
	int r;

	if (probe_config_init(cfg) < 0) {
		log_err("out of memory");
		return -ENOMEM;
	}
	if (arg_config) {
		r = probe_config_load(cfg, arg_config, err, sizeof(err));
		if (r < 0) {
			log_err("config %s", err);
			return r;
		}
	}
	r = probe_config_env(cfg, getenv, err, sizeof(err));
	if (r < 0) {
		log_err("%s", r == -ENOMEM ? "out of memory" : err);
		return r;
	}
	if ((arg_listen && probe_config_set(&cfg->listen, arg_listen) < 0) ||
	    (arg_output && probe_config_set(&cfg->output, arg_output) < 0) ||
	    (arg_policies.n && copy_list(&cfg->policies, &arg_policies) < 0) ||
	    (arg_alerts.n && copy_list(&cfg->alerts, &arg_alerts) < 0)) {
		log_err("out of memory");
		return -ENOMEM;
	}
	if ((arg_token_file && probe_config_set(&cfg->token_file, arg_token_file) < 0) ||
	    (arg_socket_group && probe_config_set(&cfg->socket_group, arg_socket_group) < 0)) {
		log_err("out of memory");
		return -ENOMEM;
	}
	if (arg_socket_mode && probe_config_parse_mode(arg_socket_mode, &cfg->socket_mode) < 0) {
		log_err("--socket-mode must be permission bits in octal (0660), not '%s'",
			arg_socket_mode);
		return -EINVAL;
	}
	if (arg_handshake_timeout &&
	    (parse_duration_ns(arg_handshake_timeout, &cfg->handshake_timeout_ns) < 0 ||
	     cfg->handshake_timeout_ns == 0)) {
		log_err("--handshake-timeout must be a duration (500ms, 5s), not '%s'",
			arg_handshake_timeout);
		return -EINVAL;
	}
	if (arg_heartbeat_timeout &&
	    parse_duration_ns(arg_heartbeat_timeout, &cfg->heartbeat_timeout_ns) < 0) {
		log_err("--heartbeat-timeout must be a duration (30s, 1m), not '%s'",
			arg_heartbeat_timeout);
		return -EINVAL;
	}
	if (arg_idle_timeout &&
	    parse_duration_ns(arg_idle_timeout, &cfg->session_idle_timeout_ns) < 0) {
		log_err("--session-idle-timeout must be a duration (10m, 1h), not '%s'",
			arg_idle_timeout);
		return -EINVAL;
	}
	if (arg_no_policy)
		probe_strlist_clear(&cfg->policies);
	if (arg_format) {
		if (output_format_parse(arg_format, &cfg->format) < 0) {
			log_err("--format must be json or text, not '%s'", arg_format);
			return -EINVAL;
		}
		cfg->alerts_format = cfg->format;
	}
	if (parse_net_addr(cfg->listen, ret_addr) < 0) {
		log_err("invalid listen address '%s'", cfg->listen);
		return -EINVAL;
	}
	return 0;
}

static int cmd_config(void)
{
	struct probe_config cfg;
	struct net_addr addr;
	int r;

	r = build_config(&cfg, &addr);
	if (r == 0)
		probe_config_print(&cfg, stdout);
	probe_config_fini(&cfg);
	return r == 0 ? EXIT_SUCCESS : EXIT_USAGE;
}

struct sinks {
	struct output *v[ENGINE_SINKS_MAX];
	size_t n;
};

static void sinks_free(struct sinks *s)
{
	for (size_t i = 0; i < s->n; i++)
		output_free(s->v[i]);
	s->n = 0;
}

static int parse_group(const char *s, gid_t *ret);

/* output.file_group as a gid; (gid_t)-1 when none is set. */
static int file_group(const struct probe_config *cfg, gid_t *ret)
{
	int r;

	*ret = (gid_t)-1;
	if (!cfg->file_group)
		return 0;
	r = parse_group(cfg->file_group, ret);
	if (r < 0) {
		log_err("output.file_group '%s': %s", cfg->file_group,
			r == -ENOENT ? "no such group" : strerror(-r));
		return -EINVAL;
	}
	return 0;
}

/* Opens the alert outputs and hands them to the engine. */
static int open_alert_sinks(const struct probe_config *cfg, struct engine *en,
			    struct sinks *s)
{
	int facility, r;
	gid_t group;

	if (output_syslog_facility_parse(cfg->syslog_facility, &facility) < 0) {
		log_err("unknown syslog facility '%s'", cfg->syslog_facility);
		return -EINVAL;
	}
	r = file_group(cfg, &group);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cfg->alerts.n; i++) {
		const char *dest = cfg->alerts.v[i];
		struct output *o;

		if (strcmp(dest, "none") == 0)
			continue;
		if (s->n >= ENGINE_SINKS_MAX) {
			log_err("at most %d alert outputs", ENGINE_SINKS_MAX);
			return -E2BIG;
		}
		r = output_new_file(dest, cfg->alerts_format, group, &o);
		if (r < 0) {
			log_err("opening alert output %s: %s", dest, strerror(-r));
			return r;
		}
		o->syslog_facility = facility;
		s->v[s->n++] = o;
		engine_add_sink(en, o);
	}
	if (s->n == 0)
		en->format = cfg->alerts_format;
	return 0;
}

static int make_engine(const struct probe_config *cfg, struct sinks *sinks,
		       struct engine **ret_engine)
{
	struct engine_config ec;
	struct engine *en;
	int r;

	engine_config_defaults(&ec);
	ec.policy_paths = (const char *const *)cfg->policies.v;
	ec.npolicy_paths = cfg->policies.n;
	ec.enabled = cfg->enabled;
	ec.rate = (double)cfg->alert_rate;
	ec.burst = (uint32_t)cfg->alert_burst;
	ec.enforcement = cfg->enforcement;
	ec.disarm_max = (uint32_t)cfg->disarm_max;
	ec.disarm_period_ns = cfg->disarm_period_ns;
	ec.kill_timeout_ns = cfg->kill_timeout_ns;
	r = engine_new(&ec, &en);
	if (r < 0) {
		log_err("out of memory");
		return r;
	}
	r = open_alert_sinks(cfg, en, sinks);
	if (r < 0) {
		engine_free(en);
		return r;
	}
	r = engine_load(en);
	if (r < 0) {
		engine_free(en);
		return r;
	}
	*ret_engine = en;
	return 0;
}

/* A group name or a numeric gid. */
static int parse_group(const char *s, gid_t *ret)
{
	struct group grp, *res = NULL;
	char buf[4096];
	uint64_t v;
	int r;

	if (parse_u64(s, (gid_t)-2, &v) == 0) {
		*ret = (gid_t)v;
		return 0;
	}
	r = getgrnam_r(s, &grp, buf, sizeof(buf), &res);
	if (r != 0)
		return -r;
	if (!res)
		return -ENOENT;
	*ret = res->gr_gid;
	return 0;
}

/*
 * The settings of the listening socket and the token. The token file is
 * read once, before listening: a later change needs a restart.
 */
static int setup_access(const struct probe_config *cfg, const struct net_addr *addr,
			struct probe *p)
{
	/* As the tracer's: 1 to 255 bytes. */
	char token[256];
	gid_t gid = (gid_t)-1;
	int r;

	if (cfg->handshake_timeout_ns)
		p->handshake_timeout_ns = cfg->handshake_timeout_ns;
	p->heartbeat_timeout_ns = cfg->heartbeat_timeout_ns;
	p->idle_timeout_ns = cfg->session_idle_timeout_ns;
	if (!cfg->table_max_entries || !cfg->table_max_bytes ||
	    !cfg->total_max_entries || !cfg->total_max_bytes) {
		log_err("runtime_security_config.ebpfless.process_table bounds must be "
			"above 0");
		return -EINVAL;
	}
	p->tracers.table_max_entries = (size_t)cfg->table_max_entries;
	p->tracers.table_max_bytes = (size_t)cfg->table_max_bytes;
	p->tracers.budget.max_entries = (size_t)cfg->total_max_entries;
	p->tracers.budget.max_bytes = (size_t)cfg->total_max_bytes;
	if (addr->is_unix) {
		p->socket_mode = (uint32_t)cfg->socket_mode;
		if (cfg->socket_group) {
			r = parse_group(cfg->socket_group, &gid);
			if (r < 0) {
				log_err("socket group '%s': %s", cfg->socket_group,
					r == -ENOENT ? "no such group" : strerror(-r));
				return -EINVAL;
			}
			p->socket_gid = gid;
		}
	} else if (cfg->socket_group || cfg->socket_mode != PROBE_SOCKET_MODE_DEFAULT) {
		log_warn("socket mode and group apply to unix sockets only; "
			 "ignored for %s", cfg->listen);
	}
	if (!cfg->token_file) {
		if (!addr->is_unix)
			log_warn("no token for TCP %s: every user (and host) that "
				 "can reach it can feed this probe events; set "
				 "token_file (--token-file), or use a unix socket",
				 cfg->listen);
		return 0;
	}
	r = read_secret_file(cfg->token_file, token, sizeof(token));
	if (r < 0) {
		log_err("token file %s: %s", cfg->token_file,
			r == -EPERM ? "must be a file only its owner can read "
			"(chmod 600), owned by this user or root" :
			r == -EINVAL ? "must be a regular file holding one line of 1 to 255 bytes" :
			strerror(-r));
		return -EINVAL;
	}
	r = probe_set_token(p, token);
	explicit_bzero(token, sizeof(token));
	if (r < 0)
		return r;
	log_info("tracers must prove the token of %s", cfg->token_file);
	return 0;
}

/* The env_keep names, checked. */
static int make_env_keep(const struct probe_config *cfg, struct env_keep *k)
{
	for (size_t i = 0; i < cfg->env_keep.n; i++) {
		int r;

		/* One name per item: a comma is not a name character. */
		if (strchr(cfg->env_keep.v[i], ','))
			r = -EINVAL;
		else
			r = env_keep_add(k, cfg->env_keep.v[i]);
		if (r == -ENOMEM) {
			log_err("out of memory");
			return r;
		}
		if (r < 0) {
			log_err("env_keep: '%s' %s", cfg->env_keep.v[i],
				r == -E2BIG ? "is one name too many (at most 64)" :
				"is not a variable name (letters, digits, '_', "
				"and an optional trailing '*')");
			return -EINVAL;
		}
	}
	return 0;
}

static void log_totals(const struct probe *p, const struct engine *en)
{
	const struct engine_stats *s = &en->stats;

	log_info("totals: %" PRIu64 " sessions, %" PRIu64 " events, %" PRIu64
		 " unknown messages, %" PRIu64 " protocol errors, %" PRIu64 " duplicates, %"
		 PRIu64 " refused for authentication, %" PRIu64 " over the connection limit, %"
		 PRIu64 " unauthenticated evicted, %" PRIu64 " past the handshake deadline",
		 p->totals.sessions, p->totals.events, p->totals.unknown_messages,
		 p->totals.protocol_errors, p->totals.duplicates, p->totals.auth_failures,
		 p->refused_conns, p->evicted_conns, p->handshake_timeouts);
	log_info("sessions: %" PRIu64 " ended without GOODBYE, %" PRIu64
		 " fell silent, %" PRIu64 " expired idle; %" PRIu64
		 " delivery alerts written, %" PRIu64 " suppressed",
		 p->totals.lost_sessions, p->totals.silent_sessions,
		 p->totals.expired_sessions, p->lifealerts.written,
		 p->lifealerts.suppressed_total);
	log_info("process tables: at most %zu entries and %zu bytes held at once "
		 "(bounds %zu, %zu in all), %zu and %zu now; %" PRIu64
		 " evicted for the total bound, %" PRIu64 " idle sessions forgotten for it",
		 p->tracers.budget.peak_count, p->tracers.budget.peak_bytes,
		 p->tracers.budget.max_entries, p->tracers.budget.max_bytes,
		 p->tracers.budget.count, p->tracers.budget.bytes,
		 p->tracers.budget.evicted, p->tracers.reclaimed_idle);
	log_info("invalid event values: %" PRIu64 " of the wrong type, %" PRIu64
		 " arrays too long, %" PRIu64 " repeated keys, %" PRIu64 " out of memory",
		 p->totals.decode.bad_type, p->totals.decode.oversize,
		 p->totals.decode.duplicate_key, p->totals.decode.no_memory);
	log_info("alerts: %" PRIu64 " written, %" PRIu64 " suppressed by the rate limit; "
		 "kills: %" PRIu64 " sent, %" PRIu64 " done, %" PRIu64 " failed, %" PRIu64
		 " timed out, %" PRIu64 " disarmed, %" PRIu64 " disabled",
		 s->alerts, s->suppressed, s->kills_sent, s->kills_done, s->kills_failed,
		 s->kills_timeout, s->kills_disarmed, s->kills_disabled);
	if (en->windows) {
		const struct window_stats *w = window_table_stats(en->windows);

		log_info("thresholds: %" PRIu64 " events counted, %" PRIu64 " reached, %"
			 PRIu64 " without a group value, %" PRIu64 " groups expired, %"
			 PRIu64 " evicted at the cap (%" PRIu64 " entries)",
			 w->counted, w->fired, w->unkeyed, w->groups_expired,
			 w->groups_evicted, w->entries_evicted);
	}
	log_info("pipelines: %" PRIu64 " execs kept for a late writer, %" PRIu64
		 " evaluated again, %" PRIu64 " late alerts, %" PRIu64
		 " dropped at a cap, %" PRIu64 " expired",
		 s->pipes_deferred, s->pipes_replayed, s->pipes_late_alerts,
		 s->pipes_dropped, s->pipes_expired);
}

static int cmd_run(void)
{
	struct probe_config cfg;
	struct net_addr addr;
	struct output *out = NULL;
	struct engine *en = NULL;
	struct sinks sinks = { .n = 0 };
	struct env_keep env_keep = { .n = 0 };
	struct probe *p = NULL;
	const char *out_path;
	uv_loop_t loop;
	int r, status = EXIT_SUCCESS;

	r = build_config(&cfg, &addr);
	if (r < 0) {
		probe_config_fini(&cfg);
		return EXIT_USAGE;
	}
	if (!cfg.ebpfless_enabled) {
		log_err("runtime_security_config.ebpfless.enabled is false: nothing to do");
		probe_config_fini(&cfg);
		return EXIT_USAGE;
	}
	r = make_env_keep(&cfg, &env_keep);
	if (r < 0) {
		env_keep_clear(&env_keep);
		probe_config_fini(&cfg);
		return r == -ENOMEM ? EXIT_FAILURE : EXIT_USAGE;
	}
	r = make_engine(&cfg, &sinks, &en);
	if (r < 0) {
		sinks_free(&sinks);
		env_keep_clear(&env_keep);
		probe_config_fini(&cfg);
		return r == -ENOMEM ? EXIT_FAILURE : EXIT_USAGE;
	}
	/* The event log: on by default only when there is nothing to detect. */
	out_path = cfg.output;
	if (strcmp(out_path, "auto") == 0)
		out_path = engine_rule_count(en) > 0 ? "none" : "-";
	if (strcmp(out_path, "none") != 0) {
		gid_t group;

		/* Checked already by make_engine(). */
		r = file_group(&cfg, &group);
		if (r == 0)
			r = output_new_file(out_path, cfg.format, group, &out);
		if (r < 0) {
			log_err("opening output %s: %s", out_path, strerror(-r));
			engine_free(en);
			sinks_free(&sinks);
			env_keep_clear(&env_keep);
			probe_config_fini(&cfg);
			return EXIT_FAILURE;
		}
	}
	/* A reader that went away must not kill the probe. */
	signal(SIGPIPE, SIG_IGN);

	r = uv_loop_init(&loop);
	if (r < 0) {
		log_err("uv_loop_init: %s", uv_strerror(r));
		engine_free(en);
		sinks_free(&sinks);
		output_free(out);
		env_keep_clear(&env_keep);
		probe_config_fini(&cfg);
		return EXIT_FAILURE;
	}
	r = probe_new(&loop, &addr, out, en, &p);
	if (r == 0) {
		p->env.env_keep = &env_keep;
		r = setup_access(&cfg, &addr, p);
		if (r < 0)
			status = r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;
		else if ((r = probe_start(p)) < 0)
			status = EXIT_FAILURE;
		if (r < 0)
			probe_stop(p);
		uv_run(&loop, UV_RUN_DEFAULT);
		log_totals(p, en);
		p = probe_free(p);
	} else {
		log_err("out of memory");
		status = EXIT_FAILURE;
	}
	r = uv_loop_close(&loop);
	if (r < 0) {
		log_err("uv_loop_close: %s", uv_strerror(r));
		status = EXIT_FAILURE;
	}
	/* Writes the alerts still waiting for a kill result. */
	en = engine_free(en);
	sinks_free(&sinks);
	if (out && output_flush(out) < 0)
		status = EXIT_FAILURE;
	output_free(out);
	env_keep_clear(&env_keep);
	probe_config_fini(&cfg);
	return status;
}

int main(int argc, char **argv)
{
	const char *cmd;
	int r;

	log_init("sentrace-probe", LOG_LEVEL_WARN);
	/* A stalled journal must not stop the probe from taking events. */
	log_nonblocking();
	if (argc < 2) {
		help(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		help(stdout);
		return EXIT_SUCCESS;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("sentrace-probe %s (wire protocol %d)\n", SENTRACE_VERSION,
		       WIRE_PROTOCOL_VERSION);
		return EXIT_SUCCESS;
	}
	if (strcmp(cmd, "check-rules") == 0)
		return rules_check_main(argc - 2, argv + 2);
	if (strcmp(cmd, "run") != 0 && strcmp(cmd, "config") != 0) {
		fprintf(stderr, "sentrace-probe: unknown command '%s'; try --help\n", cmd);
		return EXIT_USAGE;
	}
	r = parse_options(argc - 1, argv + 1);
	if (r == 0) {
		log_init("sentrace-probe", arg_log_level);
		r = strcmp(cmd, "run") == 0 ? cmd_run() : cmd_config();
	} else {
		r = r == 1 ? EXIT_SUCCESS : EXIT_USAGE;
	}
	probe_strlist_clear(&arg_policies);
	probe_strlist_clear(&arg_alerts);
	return r;
}
