/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The probe's settings: built-in defaults, then a YAML file laid out like
 * the model's system-probe.yaml, then command-line flags.
 *
 *   runtime_security_config:
 *     ebpfless:
 *       socket: 127.0.0.1:5678     # or unix:/path, or /path
 *   output:
 *     path: -                      # "-" is stdout; a file is appended to
 *     format: json                 # json or text
 */
#ifndef SENTRACE_PROBE_CONFIG_H
#define SENTRACE_PROBE_CONFIG_H

#include <stddef.h>

#include "output.h"

struct probe_config {
	char *listen;                /* never NULL after probe_config_init */
	char *output;                /* "-" for stdout */
	enum output_format format;
};

int probe_config_init(struct probe_config *c);
void probe_config_fini(struct probe_config *c);
int probe_config_set(char **field, const char *value);

/*
 * Reads path over c. On error returns -EINVAL (or -errno for I/O) and
 * writes a message with the file name and line into err.
 */
int probe_config_load(struct probe_config *c, const char *path, char *err,
		      size_t errlen);

#endif
