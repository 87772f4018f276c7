/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process table: chained hash on pid plus an age list for eviction, and
 * children counts so that exited parents stay exactly as long as needed.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pipes.h"
#include "proctable.h"

#define PROC_TABLE_MIN_BUCKETS 256
/* Rough per-entry overhead counted against max_bytes. */
#define PROC_ENTRY_OVERHEAD    (sizeof(struct proc_entry) + 16)

static size_t pid_hash(const struct proc_table *t, int64_t pid)
{
	uint64_t h = (uint64_t)pid * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (t->nbuckets - 1);
}

int proc_table_new(size_t max_entries, size_t max_bytes, struct proc_table **ret_table)
{
	struct proc_table *t;

	if (max_entries == 0 || max_bytes == 0)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->nbuckets = PROC_TABLE_MIN_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return -ENOMEM;
	}
	t->max_entries = max_entries;
	t->max_bytes = max_bytes;
	*ret_table = t;
	return 0;
}

/* The table's bytes, and the budget's it draws on. */
static void table_bytes(struct proc_table *t, size_t add, size_t sub)
{
	t->bytes = t->bytes + add - sub;
	if (t->budget) {
		t->budget->bytes = t->budget->bytes + add - sub;
		if (t->budget->bytes > t->budget->peak_bytes)
			t->budget->peak_bytes = t->budget->bytes;
	}
}

static void table_count(struct proc_table *t, bool add)
{
	if (add)
		t->count++;
	else
		t->count--;
	if (t->budget) {
		if (add)
			t->budget->count++;
		else
			t->budget->count--;
		if (t->budget->count > t->budget->peak_count)
			t->budget->peak_count = t->budget->count;
	}
}

static void account(struct proc_table *t, struct proc_entry *e, size_t add, size_t sub)
{
	e->bytes = e->bytes + add - sub;
	table_bytes(t, add, sub);
}

static void str_free(struct proc_table *t, struct proc_entry *e, char **s)
{
	if (*s) {
		account(t, e, 0, strlen(*s) + 1);
		free(*s);
		*s = NULL;
	}
}

static void strv_clear(struct proc_table *t, struct proc_entry *e, char ***v,
		       uint32_t *n, uint32_t *bytes, bool *truncated)
{
	account(t, e, 0, *bytes + (size_t)*n * sizeof(char *));
	for (uint32_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
	*bytes = 0;
	*truncated = false;
}

static void entry_free_strings(struct proc_table *t, struct proc_entry *e)
{
	str_free(t, e, &e->file);
	str_free(t, e, &e->cwd);
	str_free(t, e, &e->tty);
	str_free(t, e, &e->user);
	str_free(t, e, &e->group);
	str_free(t, e, &e->container_id);
	strv_clear(t, e, &e->argv, &e->argc, &e->argv_bytes, &e->argv_truncated);
	strv_clear(t, e, &e->envp, &e->envc, &e->envp_bytes, &e->envp_truncated);
	table_bytes(t, 0, e->bytes);
	e->bytes = 0;
}

void proc_table_set_budget(struct proc_table *t, struct proc_budget *b)
{
	/* Only on an empty table: what it holds is not on b's books. */
	if (t->count == 0 && t->bytes == 0)
		t->budget = b;
}

struct proc_table *proc_table_free(struct proc_table *t)
{
	struct proc_entry *e, *next;

	if (!t)
		return NULL;
	for (e = t->oldest; e; e = next) {
		next = e->newer;
		entry_free_strings(t, e);
		table_bytes(t, 0, PROC_ENTRY_OVERHEAD);
		table_count(t, false);
		free(e);
	}
	free(t->buckets);
	pipe_index_free(t->pipes);
	free(t);
	return NULL;
}

struct proc_entry *proc_table_get(struct proc_table *t, int64_t pid)
{
	struct proc_entry *e;

	for (e = t->buckets[pid_hash(t, pid)]; e; e = e->hnext)
		if (e->pid == pid)
			return e;
	return NULL;
}

static void age_unlink(struct proc_table *t, struct proc_entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = NULL;
}

static void age_append(struct proc_table *t, struct proc_entry *e)
{
	e->older = t->newest;
	e->newer = NULL;
	if (t->newest)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

static void entry_destroy(struct proc_table *t, struct proc_entry *e);

/* An exited entry that nobody names as parent any more goes, and so on up. */
static void prune_exited(struct proc_table *t, struct proc_entry *e)
{
	for (int depth = 0; e && depth < PROC_ANCESTORS_MAX; depth++) {
		struct proc_entry *up;

		if (!e->exited || e->nchildren > 0 || e == t->pinned)
			return;
		up = e->ppid > 0 ? proc_table_get(t, e->ppid) : NULL;
		/* entry_destroy() decrements up's count. */
		entry_destroy(t, e);
		e = up;
	}
}

static void child_gone(struct proc_table *t, int64_t ppid, bool prune)
{
	struct proc_entry *p;

	if (ppid <= 0)
		return;
	p = proc_table_get(t, ppid);
	if (!p)
		return;
	if (p->nchildren > 0 && --p->nchildren == 0)
		t->nparents--;
	if (prune)
		prune_exited(t, p);
}

static void entry_unhash(struct proc_table *t, struct proc_entry *e)
{
	struct proc_entry **pp = &t->buckets[pid_hash(t, e->pid)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
}

/* Removes e; its parent's count drops, but the parent is not pruned here. */
static void entry_destroy(struct proc_table *t, struct proc_entry *e)
{
	entry_unhash(t, e);
	age_unlink(t, e);
	if (e->exited)
		t->exited--;
	if (e->nchildren > 0)
		t->nparents--;
	child_gone(t, e->ppid, false);
	entry_free_strings(t, e);
	table_bytes(t, 0, PROC_ENTRY_OVERHEAD);
	table_count(t, false);
	free(e);
}

void proc_table_remove(struct proc_table *t, int64_t pid)
{
	struct proc_entry *e = proc_table_get(t, pid);
	int64_t ppid;

	if (!e)
		return;
	ppid = e->ppid;
	entry_destroy(t, e);
	if (ppid > 0)
		prune_exited(t, proc_table_get(t, ppid));
}

void proc_table_exit(struct proc_table *t, int64_t pid)
{
	struct proc_entry *e = proc_table_get(t, pid);

	if (!e || e->exited)
		return;
	if (e->nchildren == 0) {
		proc_table_remove(t, pid);
		return;
	}
	e->exited = true;
	t->exited++;
}

void proc_entry_set_ppid(struct proc_table *t, struct proc_entry *e, int64_t ppid)
{
	struct proc_entry *p;
	int64_t old = e->ppid;

	if (ppid == old || ppid == e->pid || ppid < 0)
		return;
	e->ppid = ppid;
	if (old > 0) {
		/* The old parent may be an exited entry kept for e. */
		t->pinned = e;
		child_gone(t, old, true);
		t->pinned = NULL;
	}
	p = ppid > 0 ? proc_table_get(t, ppid) : NULL;
	if (p && p->nchildren++ == 0)
		t->nparents++;
}

struct proc_entry *proc_table_parent(struct proc_table *t, const struct proc_entry *e)
{
	struct proc_entry *p;

	if (!e || e->ppid <= 0 || e->ppid == e->pid)
		return NULL;
	p = proc_table_get(t, e->ppid);
	if (!p)
		return NULL;
	/* A parent cannot start after its child: its pid was reused. */
	if (p->start_ns && e->start_ns && p->start_ns > e->start_ns)
		return NULL;
	return p;
}

/* Doubles the bucket array; on failure the table keeps working, slower. */
static void proc_table_rehash(struct proc_table *t)
{
	size_t n = t->nbuckets * 2;
	struct proc_entry **nb = calloc(n, sizeof(*nb));
	struct proc_entry *e;

	if (!nb)
		return;
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
	for (e = t->oldest; e; e = e->newer) {
		size_t h = pid_hash(t, e->pid);

		e->hnext = nb[h];
		nb[h] = e;
	}
}

/*
 * Evicts the oldest entries, except keep and the pinned one, until one more
 * entry (when slots is 1) and want more bytes fit.
 *
 * The entry updated longest ago is most often the master process (nginx,
 * postmaster) whose children are the rest of the table: evicting it first
 * would erase the lineage that ancestor rules look at. An entry with
 * children in the table goes to the newest end instead: while the table
 * holds a leaf that may go (more entries than parents, keep and the pinned
 * one), as often as it takes, so no ancestor goes before a leaf; in a
 * table of nothing but ancestors (a fork chain) at most PROC_EVICT_SKIPS
 * times per call, then the oldest goes whatever it is, so that the scan
 * stays bounded. Each skip moves an ancestor behind every leaf, so skips
 * are rare while leaves remain.
 */
#define PROC_EVICT_SKIPS 64

/*
 * Evicts up to n entries by that order; returns how many went. When the
 * bound is the budget's (shared by every table), budget says so, and the
 * evictions count there too.
 */
static size_t evict(struct proc_table *t, size_t n, size_t slots, size_t want,
		    const struct proc_entry *keep, bool budget)
{
	struct proc_entry *victim = t->oldest;
	size_t skips = 0, done = 0;

	while (victim && done < n &&
	       (budget || (t->count + slots > t->max_entries ||
			   t->bytes + want > t->max_bytes))) {
		struct proc_entry *next = victim->newer;

		/* A leaf that may go: beyond the parents, keep and pinned. */
		bool leaves = t->count > t->nparents + 2;

		if (victim->nchildren > 0 && victim != t->newest &&
		    (leaves ? skips < t->count : skips < PROC_EVICT_SKIPS)) {
			skips++;
			age_unlink(t, victim);
			age_append(t, victim);
		} else if (victim != keep && victim != t->pinned) {
			/* next may be the victim's exited parent, which
			 * entry_destroy() does not prune: it stays valid. */
			entry_destroy(t, victim);
			t->evicted++;
			if (budget && t->budget)
				t->budget->evicted++;
			done++;
		}
		victim = next;
	}
	return done;
}

size_t proc_table_evict(struct proc_table *t, size_t n, const struct proc_entry *keep)
{
	return evict(t, n, 0, 0, keep, true);
}

static bool budget_over(const struct proc_budget *b, size_t slots, size_t want)
{
	return b->count + slots > b->max_entries || b->bytes + want > b->max_bytes;
}

static void proc_table_make_room(struct proc_table *t, size_t slots, size_t want,
				 const struct proc_entry *keep)
{
	struct proc_budget *b = t->budget;

	evict(t, SIZE_MAX, slots, want, keep, false);
	/* The total bound: the budget's owner picks whom to take from. */
	for (unsigned i = 0; b && b->reclaim && i < 64 && budget_over(b, slots, want); i++) {
		size_t count = b->count, bytes = b->bytes;

		b->reclaim(b->data, t, keep);
		if (b->count == count && b->bytes == bytes)
			break;
	}
}

static void entry_init(struct proc_entry *e, int64_t pid)
{
	e->pid = pid;
	e->uid = e->euid = e->gid = e->egid = -1;
	e->suid = e->fsuid = e->sgid = e->fsgid = -1;
	e->cap_effective = e->cap_permitted = -1;
	for (unsigned i = 0; i < PROC_SOCKS_MAX; i++)
		e->net.socks[i].fd = -1;
}

struct proc_entry *proc_table_upsert(struct proc_table *t, int64_t pid)
{
	struct proc_entry *e = proc_table_get(t, pid);
	uint32_t children = 0;
	size_t h;

	if (e && !e->exited) {
		age_unlink(t, e);
		age_append(t, e);
		return e;
	}
	if (e) {
		/* The pid was reused: the old process's children keep their
		 * ppid, and proc_table_parent() tells them apart by age. */
		children = e->nchildren;
		entry_destroy(t, e);
	}
	proc_table_make_room(t, 1, PROC_ENTRY_OVERHEAD, NULL);
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	entry_init(e, pid);
	e->nchildren = children;
	if (children)
		t->nparents++;
	if (t->count >= t->nbuckets)
		proc_table_rehash(t);
	h = pid_hash(t, pid);
	e->hnext = t->buckets[h];
	t->buckets[h] = e;
	age_append(t, e);
	table_count(t, true);
	table_bytes(t, PROC_ENTRY_OVERHEAD, 0);
	return e;
}

static int str_set(struct proc_table *t, struct proc_entry *e, char **field,
		   const char *s, size_t len, size_t max)
{
	char *copy;

	if (len > max)
		len = max;
	proc_table_make_room(t, 0, len + 1, e);
	copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	str_free(t, e, field);
	*field = copy;
	/* strndup stops at an embedded NUL: count what was kept. */
	account(t, e, strlen(copy) + 1, 0);
	return 0;
}

int proc_entry_set_file(struct proc_table *t, struct proc_entry *e,
			const char *file, size_t len)
{
	return str_set(t, e, &e->file, file, len, PROC_FILE_MAX);
}

int proc_entry_set_cwd(struct proc_table *t, struct proc_entry *e,
		       const char *cwd, size_t len)
{
	return str_set(t, e, &e->cwd, cwd, len, PROC_FILE_MAX);
}

int proc_entry_set_name(struct proc_table *t, struct proc_entry *e, char **field,
			const char *s, size_t len)
{
	if (!s) {
		str_free(t, e, field);
		return 0;
	}
	return str_set(t, e, field, s, len, 256);
}

int proc_entry_set_tty(struct proc_table *t, struct proc_entry *e,
		       const char *tty, size_t len)
{
	return str_set(t, e, &e->tty, tty, len, 256);
}

void proc_entry_set_comm(struct proc_entry *e, const char *comm, size_t len)
{
	if (len >= sizeof(e->comm))
		len = sizeof(e->comm) - 1;
	memcpy(e->comm, comm, len);
	e->comm[len] = '\0';
	/* An embedded NUL ends it, as in the kernel. */
}

/* bytes: what the n strings hold, NULs included (no strlen of them all). */
static int strv_add(struct proc_table *t, struct proc_entry *e, char ***v,
		    uint32_t *n, uint32_t *bytes, bool *truncated, const char *s,
		    size_t len, uint32_t max_n, size_t max_bytes)
{
	size_t used = *bytes, clen;
	char **nv, *copy;

	if (*n >= max_n || used >= max_bytes) {
		*truncated = true;
		return 0;
	}
	if (len > max_bytes - used) {
		len = max_bytes - used;
		*truncated = true;
	}
	proc_table_make_room(t, 0, len + 1 + sizeof(char *), e);
	copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv) {
		free(copy);
		return -ENOMEM;
	}
	*v = nv;
	nv[(*n)++] = copy;
	clen = strlen(copy) + 1;
	*bytes += (uint32_t)clen;
	account(t, e, clen + sizeof(char *), 0);
	return 0;
}

void proc_entry_clear_argv(struct proc_table *t, struct proc_entry *e)
{
	strv_clear(t, e, &e->argv, &e->argc, &e->argv_bytes, &e->argv_truncated);
}

int proc_entry_add_arg(struct proc_table *t, struct proc_entry *e,
		       const char *arg, size_t len)
{
	return strv_add(t, e, &e->argv, &e->argc, &e->argv_bytes, &e->argv_truncated,
			arg, len, PROC_ARGV_MAX, PROC_ARGV_BYTES);
}

void proc_entry_clear_envp(struct proc_table *t, struct proc_entry *e)
{
	strv_clear(t, e, &e->envp, &e->envc, &e->envp_bytes, &e->envp_truncated);
}

int proc_entry_add_env(struct proc_table *t, struct proc_entry *e,
		       const char *env, size_t len)
{
	return strv_add(t, e, &e->envp, &e->envc, &e->envp_bytes, &e->envp_truncated,
			env, len, PROC_ENVP_MAX, PROC_ENVP_BYTES);
}

static int str_copy(struct proc_table *t, struct proc_entry *dst, char **field,
		    const char *src, size_t max)
{
	if (!src) {
		str_free(t, dst, field);
		return 0;
	}
	return str_set(t, dst, field, src, strlen(src), max);
}

int proc_entry_copy_image(struct proc_table *t, struct proc_entry *dst,
			  const struct proc_entry *src)
{
	int r;

	if (dst == src)
		return 0;
	/* Making room for dst must not evict the entry being copied. */
	t->pinned = src;
	proc_entry_clear_argv(t, dst);
	proc_entry_clear_envp(t, dst);
	r = str_copy(t, dst, &dst->file, src->file, PROC_FILE_MAX);
	if (r == 0)
		r = str_copy(t, dst, &dst->cwd, src->cwd, PROC_FILE_MAX);
	if (r == 0)
		r = str_copy(t, dst, &dst->tty, src->tty, 256);
	if (r == 0)
		r = str_copy(t, dst, &dst->user, src->user, 256);
	if (r == 0)
		r = str_copy(t, dst, &dst->group, src->group, 256);
	if (r == 0)
		r = str_copy(t, dst, &dst->container_id, src->container_id, 256);
	for (uint32_t i = 0; r == 0 && i < src->argc; i++)
		r = proc_entry_add_arg(t, dst, src->argv[i], strlen(src->argv[i]));
	for (uint32_t i = 0; r == 0 && i < src->envc; i++)
		r = proc_entry_add_env(t, dst, src->envp[i], strlen(src->envp[i]));
	if (r == 0) {
		dst->argv_truncated = src->argv_truncated;
		dst->envp_truncated = src->envp_truncated;
	}
	memcpy(dst->comm, src->comm, sizeof(dst->comm));
	/* A child inherits its parent's descriptors. */
	memcpy(dst->stdio, src->stdio, sizeof(dst->stdio));
	dst->uid = src->uid;
	dst->euid = src->euid;
	dst->gid = src->gid;
	dst->egid = src->egid;
	dst->suid = src->suid;
	dst->fsuid = src->fsuid;
	dst->sgid = src->sgid;
	dst->fsgid = src->fsgid;
	dst->cap_effective = src->cap_effective;
	dst->cap_permitted = src->cap_permitted;
	/* The child inherits the fds, and is a server's fork until it execs
	 * (proc_net); its own server bit comes from its own calls. */
	memcpy(dst->net.socks, src->net.socks, sizeof(dst->net.socks));
	dst->net.next = src->net.next;
	dst->net.forked = proc_entry_is_server(src);
	if (dst->net.forked) {
		memcpy(dst->net.ports, src->net.ports, sizeof(dst->net.ports));
		dst->net.nports = src->net.nports;
		dst->net.ports_dropped = src->net.ports_dropped;
	}
	t->pinned = NULL;
	return r;
}

/* ---- sockets and server identity ---- */

static bool family_inet(int family)
{
	return family == AF_INET || family == AF_INET6;
}

static struct proc_sock *sock_find(struct proc_entry *e, int64_t fd)
{
	for (unsigned i = 0; i < PROC_SOCKS_MAX; i++)
		if (e->net.socks[i].fd == fd)
			return &e->net.socks[i];
	return NULL;
}

/* The slot of fd, else a free one, else the next in turn (bounded). */
static struct proc_sock *sock_slot(struct proc_entry *e, int64_t fd)
{
	struct proc_sock *s = sock_find(e, fd);

	if (!s)
		s = sock_find(e, -1);
	if (!s) {
		s = &e->net.socks[e->net.next];
		e->net.next = (uint8_t)((e->net.next + 1) % PROC_SOCKS_MAX);
	}
	memset(s, 0, sizeof(*s));
	s->fd = (int32_t)fd;
	return s;
}

static void sock_forget(struct proc_entry *e, int64_t fd)
{
	struct proc_sock *s = sock_find(e, fd);

	if (s) {
		memset(s, 0, sizeof(*s));
		s->fd = -1;
	}
}

static void net_serves(struct proc_entry *e, uint16_t port)
{
	e->net.server = true;
	if (port == 0)
		return;
	for (unsigned i = 0; i < e->net.nports; i++)
		if (e->net.ports[i] == port)
			return;
	if (e->net.nports < PROC_PORTS_MAX)
		e->net.ports[e->net.nports++] = port;
	else
		e->net.ports_dropped = true;
}

void proc_entry_net_socket(struct proc_entry *e, int64_t fd, int family, int type)
{
	struct proc_sock *s;

	if (fd < 0 || fd > INT32_MAX)
		return;
	if (!family_inet(family)) {
		sock_forget(e, fd);
		return;
	}
	s = sock_slot(e, fd);
	/* SOCK_NONBLOCK and SOCK_CLOEXEC ride in the high bits. */
	type &= 0xf;
	s->type = type == SOCK_STREAM || type == SOCK_DGRAM ? (uint8_t)type : 0;
}

void proc_entry_net_bind(struct proc_entry *e, int64_t fd, int family, int64_t port)
{
	struct proc_sock *s;

	if (fd < 0 || fd > INT32_MAX)
		return;
	if (!family_inet(family)) {
		sock_forget(e, fd);
		return;
	}
	s = sock_find(e, fd);
	if (!s) {
		/* A socket we did not see made (before the trace began). */
		s = sock_slot(e, fd);
	}
	s->port = port > 0 && port <= UINT16_MAX ? (uint16_t)port : 0;
	/*
	 * A UDP socket bound to a port is a UDP server (clients take an
	 * ephemeral port by binding to 0 or not binding at all). TCP waits
	 * for its listen.
	 */
	if (s->type == SOCK_DGRAM && s->port)
		net_serves(e, s->port);
}

void proc_entry_net_listen(struct proc_entry *e, int64_t fd)
{
	struct proc_sock *s = sock_find(e, fd);

	/*
	 * Only a socket we know to be TCP/UDP: listen on an unknown fd may be
	 * a unix socket's, which is not a port.
	 */
	if (fd < 0 || !s)
		return;
	s->listening = true;
	net_serves(e, s->port);
}

void proc_entry_net_exec(struct proc_entry *e)
{
	if (!e->net.forked)
		return;
	e->net.forked = false;
	if (!e->net.server) {
		e->net.nports = 0;
		e->net.ports_dropped = false;
	}
}

void proc_entry_net_accept(struct proc_entry *e, int64_t fd, bool inet_peer)
{
	struct proc_sock *s = fd >= 0 ? sock_find(e, fd) : NULL;

	/*
	 * The peer's family said TCP: a server, even on an fd we never saw
	 * made (a listener inherited from an untraced parent). Without a
	 * peer address (accept(fd, NULL, NULL)) the fd must be a TCP/UDP
	 * socket we know.
	 */
	if (inet_peer || s)
		net_serves(e, s ? s->port : 0);
}

const char *proc_entry_name(const struct proc_entry *e)
{
	const char *slash;

	if (!e || !e->file || !*e->file)
		return "?";
	slash = strrchr(e->file, '/');
	return slash && slash[1] ? slash + 1 : e->file;
}
