/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which environment values may be reported. An exec's envp and a process
 * snapshot's environ carry "NAME=value" strings, and values are where
 * secrets live (tokens, passwords, keys). Both programs reduce every
 * string to its NAME unless the name is on a keep list: the tracer before
 * the string leaves the tracee (--keep-env), the probe again where a frame
 * enters it (env_keep), so that neither a value on the wire nor one from an
 * older or differently configured tracer reaches the probe's files. Rules
 * see names only (exec.envs, process.envs), so they are not affected.
 */
#ifndef SENTRACE_ENVKEEP_H
#define SENTRACE_ENVKEEP_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The names whose values are kept when none are configured: the loader
 * variables that the default policy's rules name (an analyst wants the
 * library that was preloaded, the tunables an exploit set) and PATH. None
 * of them holds a secret in any sane deployment.
 */
#define ENV_KEEP_DEFAULT "LD_PRELOAD,LD_AUDIT,LD_LIBRARY_PATH,GLIBC_TUNABLES,PATH"

/* At most this many names: a list is checked for every string of an exec. */
#define ENV_KEEP_MAX 64

struct env_keep {
	char *names[ENV_KEEP_MAX];  /* exact names, or a prefix ending in '*' */
	size_t n;
};

/* Drops every name. */
void env_keep_clear(struct env_keep *k);

/*
 * Adds the comma-separated names in list (empty items are skipped, so ""
 * adds none). A name is letters, digits and '_', optionally followed by
 * one '*' that makes it a prefix ("LC_*"; "*" keeps every value).
 * Returns 0, -EINVAL for a malformed name, -E2BIG past ENV_KEEP_MAX, or
 * -ENOMEM.
 */
int env_keep_add(struct env_keep *k, const char *list);

/* True when the value of the variable called name (len bytes) is kept. */
bool env_keep_has(const struct env_keep *k, const char *name, size_t len);

/*
 * How many bytes of the environment string s (len bytes, "NAME=value")
 * to report: len when its name is kept or it has no '=', the length of
 * NAME otherwise (the '=' and the value are left out).
 */
size_t env_keep_cut(const struct env_keep *k, const char *s, size_t len);

#endif
