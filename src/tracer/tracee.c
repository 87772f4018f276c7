/* SPDX-License-Identifier: Apache-2.0 */
/* The tracee table: chained hash on tid, doubled at load factor 1. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "tracee.h"

static size_t slot(const struct tracee_table *tab, pid_t tid)
{
	return ((uint32_t)tid * 2654435761u) & (tab->nbuckets - 1);
}

int tracee_table_init(struct tracee_table *tab)
{
	tab->nbuckets = 64;
	tab->count = 0;
	tab->buckets = calloc(tab->nbuckets, sizeof(*tab->buckets));
	return tab->buckets ? 0 : -ENOMEM;
}

void tracee_table_free(struct tracee_table *tab)
{
	for (size_t i = 0; i < tab->nbuckets; i++) {
		struct tracee *t = tab->buckets[i];

		while (t) {
			struct tracee *next = t->next;

			evbuf_free(&t->ev);
			free(t->inject);
			free(t->hold);
			free(t);
			t = next;
		}
	}
	free(tab->buckets);
	tab->buckets = NULL;
	tab->nbuckets = tab->count = 0;
}

struct tracee *tracee_table_lookup(struct tracee_table *tab, pid_t tid)
{
	struct tracee *t = tab->buckets[slot(tab, tid)];

	while (t && t->tid != tid)
		t = t->next;
	return t;
}

static void grow(struct tracee_table *tab)
{
	size_t old_n = tab->nbuckets;
	struct tracee **old = tab->buckets;
	struct tracee **nb = calloc(old_n * 2, sizeof(*nb));

	if (!nb)
		return; /* chains just get longer */
	tab->buckets = nb;
	tab->nbuckets = old_n * 2;
	for (size_t i = 0; i < old_n; i++) {
		struct tracee *t = old[i];

		while (t) {
			struct tracee *next = t->next;
			size_t s = slot(tab, t->tid);

			t->next = nb[s];
			nb[s] = t;
			t = next;
		}
	}
	free(old);
}

int tracee_table_add(struct tracee_table *tab, pid_t tid, pid_t tgid,
		     struct tracee **ret)
{
	struct tracee *t;
	size_t s;

	if (tracee_table_lookup(tab, tid))
		return -EEXIST;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->tid = tid;
	t->tgid = tgid;
	t->sc_id = -1;
	evbuf_init(&t->ev);
	if (tab->count >= tab->nbuckets)
		grow(tab);
	s = slot(tab, tid);
	t->next = tab->buckets[s];
	tab->buckets[s] = t;
	tab->count++;
	*ret = t;
	return 0;
}

void tracee_table_remove(struct tracee_table *tab, struct tracee *t)
{
	struct tracee **pp = &tab->buckets[slot(tab, t->tid)];

	while (*pp && *pp != t)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = t->next;
		tab->count--;
	}
	evbuf_free(&t->ev);
	free(t->inject);
	free(t->hold);
	free(t);
}

void tracee_table_foreach(struct tracee_table *tab,
			  void (*fn)(struct tracee *t, void *data), void *data)
{
	for (size_t i = 0; i < tab->nbuckets; i++)
		for (struct tracee *t = tab->buckets[i]; t; t = t->next)
			fn(t, data);
}
