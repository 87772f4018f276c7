/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The typed event record: one event map (or PROCESS snapshot) decoded and
 * validated once, where it enters the probe, and then read by the resolver,
 * the rule engine's field getters and the writers. Which keys a kind has and
 * of which type comes from the field table (src/rules/fields.c) plus the few
 * keys the probe itself reads (RECORD_KEYS below): a new event kind's fields
 * need table entries only, no decoder code. A value of the wrong type, an
 * array longer than RECORD_ARRAY_MAX or a key given twice is an error that is
 * counted (and the value treated as absent), never a silent miss.
 *
 * The record owns no copy of the strings: they point into the frame, which
 * outlives the record's use. raw keeps the map for the writers' pass-through
 * of every key in wire order (unknown keys included); nothing else reads it.
 */
#ifndef SENTRACE_PROBE_RECORD_H
#define SENTRACE_PROBE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "rules.h"

/* Places of a map whose key the decoder predicts (see record.c). */
#define RECORD_PRED 24

/* Elements of one array value: the tracer sends at most 1,024 (argv). */
#define RECORD_ARRAY_MAX 4096
/* Elements of all the arrays of one event (an exec: argv, envp, the
 * requested argv): what the decoder's scratch may grow to. */
#define RECORD_ELEMS_MAX 8192

/*
 * The keys the probe reads itself, beyond the rule fields: their index in
 * the record is fixed (RK_*). The field table's other keys get the indices
 * after these, at start-up. Append only.
 */
#define RECORD_KEYS(X) \
	X(EV, "ev") X(SYSCALL, "syscall") X(TS, "ts") X(PID, "pid") \
	X(TID, "tid") X(RET, "ret") X(COMPAT, "compat") X(ERROR, "error") \
	X(FILE, "file") X(ARGV, "argv") X(ENVP, "envp") \
	X(ARGV_TRUNCATED, "argv_truncated") X(ENVP_TRUNCATED, "envp_truncated") \
	X(UID, "uid") X(EUID, "euid") X(SUID, "suid") X(FSUID, "fsuid") \
	X(GID, "gid") X(EGID, "egid") X(SGID, "sgid") X(FSGID, "fsgid") \
	X(CWD, "cwd") X(TTY, "tty") X(USER, "user") X(GROUP, "group") \
	X(CONTAINER_ID, "container_id") X(PPID, "ppid") \
	X(START_TICKS, "start_ticks") X(START_TIME, "start_time") \
	X(COMM, "comm") X(THREAD, "thread") X(CHILD, "child") \
	X(CHILD_START_TICKS, "child_start_ticks") X(EFFECTIVE, "effective") \
	X(PERMITTED, "permitted") X(PATH, "path") X(OPTION, "option") \
	X(NAME, "name") X(TAMPERED, "tampered") \
	X(REQUESTED_FILE, "requested_file") X(REQUESTED_PATH, "requested_path") \
	X(FLAGS, "flags") X(MODE, "mode") X(ADDR, "addr") X(PORT, "port") \
	X(FAMILY, "family") X(CODE, "code") X(SIGNAL, "signal") X(CORE, "core") \
	X(STDIN, "stdin") X(STDIN_INO, "stdin_ino") X(STDOUT, "stdout") \
	X(STDOUT_INO, "stdout_ino") X(STDERR, "stderr") X(STDERR_INO, "stderr_ino") \
	X(FD, "fd") X(TYPE, "type")

enum record_key {
#define RECORD_KEY_ENUM(id, s) RK_##id,
	RECORD_KEYS(RECORD_KEY_ENUM)
#undef RECORD_KEY_ENUM
	RK__BUILTIN,
};

/* The kind of a PROCESS snapshot, after the event kinds. */
#define RECORD_KIND_PROCESS RULES_EV__COUNT

enum record_vtype {
	RECORD_V_NONE,            /* absent (or invalid) */
	RECORD_V_STR,
	RECORD_V_INT,             /* u holds a positive value above INT64_MAX */
	RECORD_V_BOOL,
	RECORD_V_STRS,
	RECORD_V_INTS,
};

struct record_slot {
	uint32_t gen;             /* valid while it is the record's gen */
	uint8_t vt;               /* enum record_vtype */
	bool big;                 /* INT: above INT64_MAX, in u */
	uint32_t n;               /* STR: length; STRS, INTS: elements */
	union {
		const char *s;
		int64_t i;
		uint64_t u;
		bool b;
		/* STRS, INTS: u is the first element's offset in the
		 * record's scratch (r->strs, r->ints). */
	} v;
};

struct event_record {
	const msgpack_object *raw;  /* the map, for the writers' pass-through */
	int type;                   /* enum rules_event_type, -1: unknown */
	struct rules_str kind;      /* the "ev" text ("" when absent) */
	bool has_pid, has_tid, has_ret, has_ts;
	int64_t pid, tid, ret;
	uint64_t ts;                /* 0 when absent */
	unsigned errors;            /* invalid values in this event */

	/* Slots by key index; scratch for arrays, reused event to event. */
	struct record_slot *slot;
	size_t nslots;
	uint32_t gen;
	/* Per kind, the key index met at each place of the last map (-1). */
	int16_t pred[RECORD_KIND_PROCESS + 2][RECORD_PRED];
	struct rules_str *strs;
	size_t nstrs, strs_cap;
	int64_t *ints;
	size_t nints, ints_cap;
	/* Places of raw that repeat a key read before (bit i: place i). */
	uint64_t *repeat;
	size_t repeat_words;
	bool has_repeats;
};

/* Decoder counters over the probe's life (added to by record_decode). */
struct record_stats {
	uint64_t bad_type;          /* a value of the wrong type */
	uint64_t oversize;          /* an array longer than RECORD_ARRAY_MAX */
	uint64_t duplicate_key;     /* a key given twice (the first one counts) */
	uint64_t no_memory;         /* an array the scratch could not hold */
};

/* 0 or -ENOMEM (the key index, built once, or the slots). */
int record_init(struct event_record *r);
void record_fini(struct event_record *r);

/*
 * Decodes one event map into r (the previous event's values are gone).
 * Returns the number of invalid values (also in r->errors, and counted in
 * st when not NULL), or -EBADMSG when ev is not a map.
 */
int record_decode(struct event_record *r, const msgpack_object *ev,
		  struct record_stats *st);
/* The same for one PROCESS snapshot map (kind RECORD_KIND_PROCESS). */
int record_decode_snapshot(struct event_record *r, const msgpack_object *snap,
			   struct record_stats *st);

/* The index of a wire key; -ENOENT when no kind has it. */
int record_key_index(const char *key);
/* The number of key indices (RK__BUILTIN and the table's keys). */
size_t record_key_count(void);
/* The value type of key k in events of kind type (NONE: not one of its keys). */
enum record_vtype record_key_type(int type, int k);

static inline const struct record_slot *record_slot(const struct event_record *r, int k)
{
	if (k < 0 || (size_t)k >= r->nslots || r->slot[k].gen != r->gen)
		return NULL;
	return &r->slot[k];
}

bool record_str(const struct event_record *r, int k, struct rules_str *ret);
bool record_i64(const struct event_record *r, int k, int64_t *ret);
bool record_u64(const struct event_record *r, int k, uint64_t *ret);
bool record_bool(const struct event_record *r, int k, bool *ret);
/* A string array; *ret_v stays valid until the next decode. */
bool record_strs(const struct event_record *r, int k,
		 const struct rules_str **ret_v, size_t *ret_n);
bool record_ints(const struct event_record *r, int k,
		 const int64_t **ret_v, size_t *ret_n);
bool record_has(const struct event_record *r, int k);
/* True when the key is present and true. */
static inline bool record_true(const struct event_record *r, int k)
{
	bool b = false;

	return record_bool(r, k, &b) && b;
}

/*
 * Place i of the raw map repeats a key the decoder read before: the writers
 * skip it, so that the log shows the value the rules saw, not a second one.
 */
static inline bool record_is_repeat(const struct event_record *r, uint32_t i)
{
	return r->has_repeats && i / 64 < r->repeat_words &&
	       (r->repeat[i / 64] >> (i % 64) & 1);
}

/* Keys typed two ways in one kind by the tables (0: the tables agree). */
unsigned record_schema_conflicts(void);
/* "bad_type" and the others, for log lines and tests. */
uint64_t record_stats_total(const struct record_stats *st);

#endif
