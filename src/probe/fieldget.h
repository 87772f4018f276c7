/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rule evaluator's view of one event: answers field ids of the table in
 * src/rules/fields.c from the event's msgpack map and the process table,
 * honouring each field's source (event key, process, parent, ancestors) and
 * transformation (base name, joined args, argv0, env names, age). Scratch
 * space is reused from event to event: no allocation once warmed up.
 */
#ifndef SENTRACE_PROBE_FIELDGET_H
#define SENTRACE_PROBE_FIELDGET_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "rules.h"
#include "proctable.h"
#include "strbuf.h"

/* Values alive at once: one comparison holds at most two. */
#define FIELD_SCRATCH 8
/* Field ids below this are looked up in a table, the rest by a search. */
#define FIELD_ID_CACHE 2200

struct field_iter {
	struct field_ctx *ctx;
	const struct rules_field *f;
	/* Over a msgpack array, or over ancestors. */
	const msgpack_object *arr;
	uint32_t i;
	const struct proc_entry *anc;  /* current ancestor */
	unsigned depth;
	uint32_t k;                    /* index inside a multi-valued attribute */
	struct strbuf buf;             /* joined args of one ancestor */
};

struct field_ctx {
	const msgpack_object *ev;      /* the event map */
	struct proc_table *procs;
	const struct proc_entry *proc; /* the event's process, or NULL */
	int64_t pid;                   /* the event's pid, 0 when absent */
	const char *container_id;      /* the session's, "" on the host */
	uint64_t ts;                   /* the event's time, ns */

	const struct rules_field *by_id[FIELD_ID_CACHE];
	uint8_t attr[FIELD_ID_CACHE];  /* process attribute of each field */

	/*
	 * Where each event field's key sits in the current event map (NULL:
	 * absent), valid while key_gen[id] == gen: every rule of an event
	 * type asks for the same few keys, and each lookup is a scan.
	 */
	const msgpack_object *key_obj[FIELD_ID_CACHE];
	uint32_t key_gen[FIELD_ID_CACHE];
	uint32_t gen;

	struct strbuf str[FIELD_SCRATCH];
	unsigned str_next;
	struct field_iter it[FIELD_SCRATCH];
	unsigned it_next;
};

void field_ctx_init(struct field_ctx *c);
void field_ctx_fini(struct field_ctx *c);
/* Points the context at a new event; keeps the scratch space. */
void field_ctx_reset(struct field_ctx *c, const msgpack_object *ev,
		     struct proc_table *procs, const struct proc_entry *proc,
		     int64_t pid, const char *container_id, uint64_t ts);

/* The getter of struct rules_ctx; data is a struct field_ctx. */
int field_ctx_get(void *data, int field_id, struct rules_value *ret);

static inline struct rules_ctx field_ctx_rules(struct field_ctx *c)
{
	struct rules_ctx r = { .get = field_ctx_get, .data = c };

	return r;
}

#endif
