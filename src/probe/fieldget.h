/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rule evaluator's view of one event: answers field ids of the table in
 * src/rules/fields.c from the decoded event record and the process table,
 * honouring each field's source (event key, process, parent, ancestors) and
 * transformation (base name, joined args, argv0, env names, age). Scratch
 * space is reused from event to event: no allocation once warmed up.
 */
#ifndef SENTRACE_PROBE_FIELDGET_H
#define SENTRACE_PROBE_FIELDGET_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"
#include "proctable.h"
#include "record.h"
#include "strbuf.h"

/* Values alive at once: one comparison holds at most two. */
#define FIELD_SCRATCH 8
/* Field ids below this are looked up in a table, the rest by a search. */
#define FIELD_ID_CACHE 4096

struct field_iter {
	struct field_ctx *ctx;
	const struct rules_field *f;
	/* Over a string array of the record, or over ancestors. */
	const struct rules_str *strs;
	size_t n, i;
	const struct proc_entry *anc;  /* current ancestor */
	unsigned depth;
	uint32_t k;                    /* index inside a multi-valued attribute */
	struct strbuf buf;             /* joined args of one ancestor */
};

struct field_ctx {
	const struct event_record *ev; /* the decoded event */
	struct proc_table *procs;
	const struct proc_entry *proc; /* the event's process, or NULL */
	int64_t pid;                   /* the event's pid, 0 when absent */
	const char *container_id;      /* the session's, "" on the host */
	uint64_t ts;                   /* the event's time, ns */

	const struct rules_field *by_id[FIELD_ID_CACHE];
	uint8_t attr[FIELD_ID_CACHE];  /* process attribute of each field */

	/* The record's key index of each event field (-1: none). */
	int16_t key[FIELD_ID_CACHE];

	struct strbuf str[FIELD_SCRATCH];
	unsigned str_next;
	struct field_iter it[FIELD_SCRATCH];
	unsigned it_next;
};

void field_ctx_init(struct field_ctx *c);
void field_ctx_fini(struct field_ctx *c);
/*
 * Points the context at a new event (its pid and ts are the record's; ev
 * stays borrowed until the next reset); keeps the scratch space.
 */
void field_ctx_reset(struct field_ctx *c, const struct event_record *ev,
		     struct proc_table *procs, const struct proc_entry *proc,
		     const char *container_id);

/* The getter of struct rules_ctx; data is a struct field_ctx. */
int field_ctx_get(void *data, int field_id, struct rules_value *ret);

static inline struct rules_ctx field_ctx_rules(struct field_ctx *c)
{
	struct rules_ctx r = { .get = field_ctx_get, .data = c };

	return r;
}

#endif
