/* SPDX-License-Identifier: Apache-2.0 */
/* sentrace-probe: command line, configuration, and the loop's lifetime. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "sentrace/wire.h"
#include "log.h"
#include "util.h"
#include "output.h"
#include "probe-config.h"
#include "server.h"

#define EXIT_USAGE 2

static const char *arg_config;
static const char *arg_listen;
static const char *arg_output;
static const char *arg_format;
static int arg_log_level = LOG_LEVEL_WARN;

static void help(FILE *f)
{
	fprintf(f,
		"Usage: sentrace-probe COMMAND [OPTIONS]\n"
		"\n"
		"Receives events from sentrace tracers and writes them out.\n"
		"\n"
		"Commands:\n"
		"  run              Listen for tracers and write their events\n"
		"  config           Print the effective configuration as YAML\n"
		"  version          Print the version\n"
		"  help, --help     Show this help\n"
		"\n"
		"Options of run and config:\n"
		"  -c, --config FILE    Read settings from a YAML file (optional; built-in\n"
		"                       defaults otherwise). Keys read:\n"
		"                         runtime_security_config.ebpfless.socket  listen address\n"
		"                         output.path    output file, or - for stdout\n"
		"                         output.format  json or text\n"
		"                       Flags override the file.\n"
		"  -l, --listen ADDR    Listen on HOST:PORT, [IPv6]:PORT, unix:/path or /path\n"
		"                       (default %s; port 0 picks a free port,\n"
		"                       logged at info level)\n"
		"  -o, --output FILE    Append lines to FILE, or - for stdout (default -);\n"
		"                       SIGHUP reopens FILE\n"
		"  -f, --format FMT     json (one object per line, default) or text\n"
		"  -v, --verbose        Log at info level\n"
		"  -d, --debug          Log at debug level\n"
		"  -h, --help           Show this help\n"
		"\n"
		"SIGTERM and SIGINT stop the probe cleanly. Exit status: 0 on success,\n"
		"1 on a runtime error, 2 on a usage or configuration error.\n"
		"The output format is described in docs/probe-output.md.\n",
		SENTRACE_DEFAULT_PROBE_ADDR);
}

/* Returns 0, 1 after --help, or -EINVAL. */
static int parse_options(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config",  required_argument, NULL, 'c' },
		{ "listen",  required_argument, NULL, 'l' },
		{ "output",  required_argument, NULL, 'o' },
		{ "format",  required_argument, NULL, 'f' },
		{ "verbose", no_argument,       NULL, 'v' },
		{ "debug",   no_argument,       NULL, 'd' },
		{ "help",    no_argument,       NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:l:o:f:vdh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': arg_config = optarg; break;
		case 'l': arg_listen = optarg; break;
		case 'o': arg_output = optarg; break;
		case 'f': arg_format = optarg; break;
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

/* Defaults, then the file, then the flags. Errors are reported here. */
static int build_config(struct probe_config *cfg, struct net_addr *ret_addr)
{
	char err[512];
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
	if ((arg_listen && probe_config_set(&cfg->listen, arg_listen) < 0) ||
	    (arg_output && probe_config_set(&cfg->output, arg_output) < 0)) {
		log_err("out of memory");
		return -ENOMEM;
	}
	if (arg_format && output_format_parse(arg_format, &cfg->format) < 0) {
		log_err("--format must be json or text, not '%s'", arg_format);
		return -EINVAL;
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
		printf("runtime_security_config:\n"
		       "  ebpfless:\n"
		       "    socket: \"%s\"\n"
		       "output:\n"
		       "  path: \"%s\"\n"
		       "  format: %s\n",
		       cfg.listen, cfg.output, output_format_name(cfg.format));
	probe_config_fini(&cfg);
	return r == 0 ? EXIT_SUCCESS : EXIT_USAGE;
}

static int cmd_run(void)
{
	struct probe_config cfg;
	struct net_addr addr;
	struct output *out = NULL;
	struct probe *p = NULL;
	uv_loop_t loop;
	int r, status = EXIT_SUCCESS;

	r = build_config(&cfg, &addr);
	if (r < 0) {
		probe_config_fini(&cfg);
		return EXIT_USAGE;
	}
	r = output_new(cfg.output, cfg.format, &out);
	if (r < 0) {
		log_err("opening output %s: %s", cfg.output, strerror(-r));
		probe_config_fini(&cfg);
		return EXIT_FAILURE;
	}
	/* A reader that went away must not kill the probe. */
	signal(SIGPIPE, SIG_IGN);

	r = uv_loop_init(&loop);
	if (r < 0) {
		log_err("uv_loop_init: %s", uv_strerror(r));
		output_free(out);
		probe_config_fini(&cfg);
		return EXIT_FAILURE;
	}
	r = probe_new(&loop, &addr, out, &p);
	if (r == 0) {
		r = probe_start(p);
		if (r < 0) {
			status = EXIT_FAILURE;
			probe_stop(p);
		}
		r = uv_run(&loop, UV_RUN_DEFAULT);
		log_info("totals: %" PRIu64 " sessions, %" PRIu64 " events, %" PRIu64
			 " unknown messages, %" PRIu64 " protocol errors",
			 p->totals.sessions, p->totals.events,
			 p->totals.unknown_messages, p->totals.protocol_errors);
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
	if (output_flush(out) < 0)
		status = EXIT_FAILURE;
	output_free(out);
	probe_config_fini(&cfg);
	return status;
}

int main(int argc, char **argv)
{
	const char *cmd;
	int r;

	log_init("sentrace-probe", LOG_LEVEL_WARN);
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
	if (strcmp(cmd, "run") != 0 && strcmp(cmd, "config") != 0) {
		fprintf(stderr, "sentrace-probe: unknown command '%s'; try --help\n", cmd);
		return EXIT_USAGE;
	}
	r = parse_options(argc - 1, argv + 1);
	if (r == 1)
		return EXIT_SUCCESS;
	if (r < 0)
		return EXIT_USAGE;
	log_init("sentrace-probe", arg_log_level);
	return strcmp(cmd, "run") == 0 ? cmd_run() : cmd_config();
}
