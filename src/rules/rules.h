/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rule language library: the field table, policy loading (YAML), the
 * compiler of SECL-like expressions and the evaluator. It knows nothing of
 * msgpack or of the probe's process tree: the caller hands field values to
 * the evaluator through a callback. Language reference: docs/rules.md;
 * fields: docs/fields.md (generated from the table in fields.c).
 */
#ifndef SENTRACE_RULES_H
#define SENTRACE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- Event types: the `ev` names of docs/protocol.md ---- */

enum rules_event_type {
	RULES_EV_EXEC,
	RULES_EV_FORK,
	RULES_EV_EXIT,
	RULES_EV_OPEN,
	RULES_EV_UNLINK,
	RULES_EV_RMDIR,
	RULES_EV_RENAME,
	RULES_EV_MKDIR,
	RULES_EV_LINK,
	RULES_EV_SYMLINK,
	RULES_EV_CHMOD,
	RULES_EV_CHOWN,
	RULES_EV_UTIMES,
	RULES_EV_TRUNCATE,
	RULES_EV_MOUNT,
	RULES_EV_UMOUNT,
	RULES_EV_SETUID,
	RULES_EV_SETGID,
	RULES_EV_CAPSET,
	RULES_EV_LOAD_MODULE,
	RULES_EV_UNLOAD_MODULE,
	RULES_EV_PTRACE,
	RULES_EV_MEMFD_CREATE,
	RULES_EV_BPF,
	RULES_EV_PRCTL,
	RULES_EV_CHDIR,
	RULES_EV_SOCKET,
	RULES_EV_BIND,
	RULES_EV_CONNECT,
	RULES_EV_LISTEN,
	RULES_EV_ACCEPT,
	RULES_EV_SECCOMP_MISMATCH,
	RULES_EV_SECCOMP,
	RULES_EV_IO_URING,
	RULES_EV_TRACER_TAMPER,
	RULES_EV__COUNT,
	RULES_EV_ANY = -1,        /* in the field table: every event type */
};

const char *rules_event_type_name(int type);
/* The type named by the first len bytes of name; -ENOENT when unknown. */
int rules_event_type_from_name(const char *name, size_t len);

/* ---- The field table ---- */

enum rules_type {
	RULES_TYPE_STRING,
	RULES_TYPE_INT,
	RULES_TYPE_BOOL,
	RULES_TYPE_IP,            /* the value is an address in text form */
	RULES_TYPE_DURATION,      /* nanoseconds, an int */
	RULES_TYPE_STRING_ARRAY,
	RULES_TYPE_INT_ARRAY,
};

/* Where the probe finds a field's value. */
enum rules_source {
	RULES_SRC_EVENT,          /* key `key` of the event map */
	RULES_SRC_PROCESS,        /* attribute `key` of the event's process */
	RULES_SRC_PARENT,         /* attribute `key` of its parent */
	RULES_SRC_ANCESTORS,      /* attribute `key` of every ancestor, nearest first */
	RULES_SRC_BUILTIN,        /* answered by the evaluator (event.type) */
};

/* How the raw value becomes the field's value. */
enum rules_xform {
	RULES_XFORM_NONE,
	RULES_XFORM_BASENAME,     /* the part after the last '/' */
	RULES_XFORM_ARGS,         /* argv[1..] joined with single spaces */
	RULES_XFORM_ARGV0,        /* argv[0] */
	RULES_XFORM_ENV_NAMES,    /* "NAME=value" strings -> the names */
	RULES_XFORM_AGE,          /* a start time (ns) -> event ts minus it */
};

struct rules_field {
	int id;                   /* stable: never renumbered */
	const char *name;
	enum rules_type type;
	int event;                /* enum rules_event_type, or RULES_EV_ANY */
	enum rules_source source;
	const char *key;          /* wire key or process attribute */
	enum rules_xform xform;
	const char *doc;
};

size_t rules_field_count(void);
const struct rules_field *rules_field_at(size_t i);
const struct rules_field *rules_field_by_id(int id);
const struct rules_field *rules_field_by_name(const char *name, size_t len);
const char *rules_type_name(enum rules_type t);

/* Writes docs/fields.md. */
int rules_fields_write_doc(FILE *f);

/* A named constant (O_CREAT, SIGKILL, CAP_SYS_ADMIN…); -ENOENT if unknown. */
int rules_constant_lookup(const char *name, size_t len, int64_t *ret_value);

/* ---- Diagnostics ---- */

struct rules_diag_entry {
	char *file;               /* "" when not about a file */
	unsigned line, col;       /* 1-based; 0 when unknown */
	bool warning;             /* false: an error */
	char *msg;
	char *excerpt;            /* the source line, or NULL */
};

struct rules_diag {
	struct rules_diag_entry *v;
	size_t n, cap;
	size_t errors, warnings;
};

void rules_diag_init(struct rules_diag *d);
void rules_diag_fini(struct rules_diag *d);
/* "FILE:LINE:COL: error: MESSAGE", the source line and a caret under COL. */
void rules_diag_print(const struct rules_diag *d, FILE *f);

/* ---- Rules and rule sets ---- */

enum rules_severity {
	RULES_SEV_INFO,
	RULES_SEV_LOW,
	RULES_SEV_MEDIUM,         /* the default */
	RULES_SEV_HIGH,
	RULES_SEV_CRITICAL,
};

const char *rules_severity_name(enum rules_severity s);

struct rule_tag {
	char *key;
	char *value;
};

struct rule_param {
	char *key;
	char *value;              /* scalars only; "" for other nodes */
};

struct rule_action {
	char *kind;               /* "kill", "log", "hash", "set", … */
	struct rule_param *params; /* the action's map, scalars as text */
	size_t nparams;
	int signal;               /* kill: signal number (default SIGKILL) */
	char *scope;              /* kill: "process" (default), "container", … */
};

struct rule;
struct rule_set;

const char *rule_id(const struct rule *r);
const char *rule_description(const struct rule *r);
enum rules_severity rule_severity(const struct rule *r);
size_t rule_tag_count(const struct rule *r);
const struct rule_tag *rule_tag_at(const struct rule *r, size_t i);
/* The value of tag key, or NULL. */
const char *rule_tag_get(const struct rule *r, const char *key);
size_t rule_action_count(const struct rule *r);
const struct rule_action *rule_action_at(const struct rule *r, size_t i);
/* The rate limit override from `every:`, in ns; 0 when not set. */
uint64_t rule_every_ns(const struct rule *r);
/* Bit n set: the rule applies to event type n. */
uint64_t rule_event_mask(const struct rule *r);
const char *rule_expression(const struct rule *r);
/* Where the rule's final definition is. */
const char *rule_file(const struct rule *r);
unsigned rule_line(const struct rule *r);

/*
 * `threshold:` (docs/rules.md, "Thresholds and windows"): the rule raises an
 * alert only when count events that match it (or count distinct values of
 * the distinct fields) fall within window, in one group of events with the
 * same values of the by fields. The rules library checks the definition;
 * the probe keeps the counts (src/probe/window.c).
 */
#define RULES_THRESHOLD_COUNT_MAX   1000
#define RULES_THRESHOLD_WINDOW_MAX  (24ull * 3600 * 1000000000ull)
#define RULES_THRESHOLD_FIELDS_MAX  4

struct rule_threshold {
	uint32_t count;           /* 1..RULES_THRESHOLD_COUNT_MAX */
	uint64_t window_ns;       /* 1 ns..RULES_THRESHOLD_WINDOW_MAX */
	/* Scalar fields that apply to every event type of the rule. */
	const struct rules_field *by[RULES_THRESHOLD_FIELDS_MAX];
	size_t nby;               /* 0: one group for the whole rule */
	const struct rules_field *distinct[RULES_THRESHOLD_FIELDS_MAX];
	size_t ndistinct;         /* 0: count events, not values */
	/*
	 * `counter: NAME`: the rules with the same name share their groups
	 * (and must agree on count, window, by and distinct); NULL: the
	 * rule's own. `alert: false`: the rule's events only count, and only
	 * the other rules of the counter alert (a sequence: read, then
	 * connect).
	 */
	const char *counter;
	bool alert;
};

/* The rule's threshold, or NULL when every match is an alert. */
const struct rule_threshold *rule_threshold(const struct rule *r);

/*
 * Loads policy files and directories (every *.policy, *.yaml and *.yml in a
 * directory, sorted by name), in order: a later definition with the same id
 * overrides an earlier one. Every problem goes to diag (may be NULL); a broken
 * rule is skipped and the others load. Returns the number of errors (0: all
 * good) and the set, or -ENOMEM.
 */
int rule_set_load(const char *const *paths, size_t n, struct rules_diag *diag,
		  struct rule_set **ret_set);
/* The same from policy texts in memory; names[i] is used in messages. */
int rule_set_load_buffers(const char *const *names, const char *const *texts,
			  size_t n, struct rules_diag *diag, struct rule_set **ret_set);
struct rule_set *rule_set_free(struct rule_set *rs);

/* Loaded (valid, enabled) rules, in definition order. */
size_t rule_set_count(const struct rule_set *rs);
const struct rule *rule_set_at(const struct rule_set *rs, size_t i);
const struct rule *rule_set_find(const struct rule_set *rs, const char *id);
/* How many rules apply to an event type. */
size_t rule_set_count_for(const struct rule_set *rs, int event_type);

/* ---- Evaluation ---- */

enum rules_value_kind {
	RULES_V_NONE,             /* absent: "", 0, false or an empty array */
	RULES_V_STR,              /* s, len (also IP fields, in text form) */
	RULES_V_INT,              /* i (ints, durations in ns, bools 0/1) */
	RULES_V_STRS,             /* strs[0..n) */
	RULES_V_INTS,             /* ints[0..n) */
	RULES_V_ITER,             /* next(it, &elem) until it returns false */
};

struct rules_str {
	const char *ptr;
	size_t len;
};

struct rules_value {
	enum rules_value_kind kind;
	const char *s;
	size_t len;
	int64_t i;
	const struct rules_str *strs;
	const int64_t *ints;
	size_t n;
	/* Fills elem with a RULES_V_STR or RULES_V_INT element. */
	bool (*next)(void *it, struct rules_value *elem);
	void *it;
};

struct rules_ctx {
	/*
	 * Writes the value of field_id for the current event into *ret
	 * (pre-set to RULES_V_NONE). Returned pointers must stay valid until
	 * the evaluation returns. A negative return means "absent".
	 */
	int (*get)(void *data, int field_id, struct rules_value *ret);
	void *data;
};

typedef void (*rules_match_cb)(const struct rule *r, void *data);

/*
 * Evaluates the rules of event_type and calls on_match for each one that
 * matches, in definition order. Allocates nothing (regexes excepted: libc's
 * regexec may). Returns the number of matches, or -EINVAL.
 */
int rule_set_eval(const struct rule_set *rs, int event_type,
		  const struct rules_ctx *ctx, rules_match_cb on_match, void *data);
/* One rule: 1 matched, 0 did not, -EINVAL when it does not apply. */
int rule_eval(const struct rule *r, int event_type, const struct rules_ctx *ctx);

/* ---- check-rules ---- */

/* Validates paths, prints diagnostics to err and the rules to out: 0 or 1. */
int rules_check_run(const char *const *paths, size_t n, FILE *out, FILE *err);
/* argv holds the FILE/DIR list only. 0: all good, 1: errors, 2: usage. */
int rules_check_main(int argc, char **argv);

#endif
