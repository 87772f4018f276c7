/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The procfs scanner. Each tick lists /proc once and reads only
 * /proc/PID/stat of every process (pid, ppid, state, flags, start time are
 * all there). That list, sorted by pid, is merged with the sorted table of
 * processes reported earlier: a pid that is gone, or whose start time
 * changed (the pid was reused), gets an exit event; a pid not in the table
 * is a candidate, and only candidates that pass the filters cost a full
 * snapshot. The scanner owns its timer, both arrays and its event buffer.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "log.h"
#include "mem.h"
#include "procscan.h"
#include "procsnap.h"
#include "stdstreams.h"
#include "util.h"

/* PF_KTHREAD of include/linux/sched.h: stable since 2.6.27. */
#define PF_KTHREAD_FLAG 0x00200000u
/* Longest ancestry walked before giving up (a loop in a racy read). */
#define ANCESTRY_MAX    4096

/* What a pass learnt about one entry of the list (mark[]). */
enum seen_mark {
	MARK_UNKNOWN = 0,          /* not looked at yet */
	MARK_FREE,                 /* no traced process in its ancestry */
	MARK_TRACED,               /* it or an ancestor is traced */
	MARK_CANDIDATE,            /* new, passed the filters: to report */
	MARK_DONE,                 /* reported (or given up) in this pass */
};

/* A new pid of this pass, with what it is sorted by. */
struct fresh {
	uint64_t start_ticks;
	pid_t pid;
	uint32_t idx;              /* in seen[] */
};

/* A process reported by an exec event and not yet by an exit event. */
struct known {
	pid_t pid;
	uint64_t start_ticks;
};

struct procscan {
	uv_timer_t timer;
	struct procscan_ops ops;
	void *data;
	pid_t self;

	struct known *known;       /* sorted by pid */
	size_t nknown;
	struct known *next;        /* the table being built by a pass */
	size_t nnext, known_cap;   /* capacity of both */

	struct proc_stat *seen;    /* this pass's list, sorted by pid */
	uint8_t *mark;             /* enum seen_mark, per seen entry */
	struct fresh *order;       /* candidates, in the order reported */
	size_t *chain;             /* scratch: an ancestry being walked */
	size_t nseen, seen_cap;

	struct evbuf ev;
	struct procscan_stats stats;
};

/* --- the two arrays ---------------------------------------------------------- */

static int grow_seen(struct procscan *ps)
{
	size_t cap = ps->seen_cap ? ps->seen_cap * 2 : 512;
	struct proc_stat *seen;
	uint8_t *mark;
	struct fresh *order;
	size_t *chain;

	if (cap > PROCSCAN_MAX_KNOWN)
		cap = PROCSCAN_MAX_KNOWN;
	if (cap <= ps->seen_cap)
		return -ENOSPC;
	seen = realloc(ps->seen, cap * sizeof(*seen));
	if (!seen)
		return -ENOMEM;
	ps->seen = seen;
	mark = realloc(ps->mark, cap * sizeof(*mark));
	if (!mark)
		return -ENOMEM;
	ps->mark = mark;
	order = realloc(ps->order, cap * sizeof(*order));
	if (!order)
		return -ENOMEM;
	ps->order = order;
	chain = realloc(ps->chain, cap * sizeof(*chain));
	if (!chain)
		return -ENOMEM;
	ps->chain = chain;
	ps->seen_cap = cap;
	return 0;
}

static int grow_known(struct procscan *ps)
{
	size_t cap = ps->known_cap ? ps->known_cap * 2 : 256;
	struct known *k;

	if (cap > PROCSCAN_MAX_KNOWN)
		cap = PROCSCAN_MAX_KNOWN;
	if (cap <= ps->known_cap)
		return -ENOSPC;
	k = realloc(ps->known, cap * sizeof(*k));
	if (!k)
		return -ENOMEM;
	ps->known = k;
	k = realloc(ps->next, cap * sizeof(*k));
	if (!k)
		return -ENOMEM;
	ps->next = k;
	ps->known_cap = cap;
	return 0;
}

/* Adds to the table being built; false (and counted) when it is full. */
static bool next_add(struct procscan *ps, pid_t pid, uint64_t start_ticks)
{
	if (ps->nnext == ps->known_cap && grow_known(ps) < 0) {
		ps->stats.untracked++;
		return false;
	}
	ps->next[ps->nnext].pid = pid;
	ps->next[ps->nnext].start_ticks = start_ticks;
	ps->nnext++;
	return true;
}

static int cmp_stat_pid(const void *a, const void *b)
{
	const struct proc_stat *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static int cmp_known_pid(const void *a, const void *b)
{
	const struct known *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Index of pid in seen[], or -1. */
static ssize_t seen_find(const struct procscan *ps, pid_t pid)
{
	size_t lo = 0, hi = ps->nseen;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ps->seen[mid].pid == pid)
			return (ssize_t)mid;
		if (ps->seen[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* --- listing /proc ------------------------------------------------------------- */

static bool is_pid_name(const char *s, pid_t *ret)
{
	long v = 0;

	if (*s < '1' || *s > '9')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > INT32_MAX / 10)
			return false;
		v = v * 10 + (*s - '0');
	}
	*ret = (pid_t)v;
	return v <= INT32_MAX;
}

static int read_stat_at(int dfd, const char *name, struct proc_stat *ret)
{
	char path[32], buf[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/stat", name);
	fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* One read: the kernel fills the whole (short) line at once. */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	return proc_stat_parse(buf, ret);
}

/*
 * Fills seen[] with every process of the namespace, sorted by pid.
 * Returns true when the list is complete, false when it was cut (table
 * full, out of memory): then nothing may be concluded from an absence.
 */
static bool list_processes(struct procscan *ps)
{
	bool complete = true, sorted = true;
	struct dirent *d;
	DIR *dir;

	ps->nseen = 0;
	dir = opendir("/proc");
	if (!dir) {
		ps->stats.scan_errors++;
		log_debug("opendir(/proc): %s", strerror(errno));
		return false;
	}
	while ((d = readdir(dir))) {
		struct proc_stat st;
		pid_t pid;

		if (!is_pid_name(d->d_name, &pid))
			continue;
		/* Gone since readdir: it was never there for us. */
		if (read_stat_at(dirfd(dir), d->d_name, &st) < 0 || st.pid != pid)
			continue;
		if (ps->nseen == ps->seen_cap && grow_seen(ps) < 0) {
			ps->stats.untracked++;
			complete = false;
			continue;
		}
		if (ps->nseen > 0 && ps->seen[ps->nseen - 1].pid > pid)
			sorted = false;
		ps->seen[ps->nseen++] = st;
	}
	closedir(dir);
	/* procfs lists tgids in increasing order; do not count on it. */
	if (!sorted)
		qsort(ps->seen, ps->nseen, sizeof(*ps->seen), cmp_stat_pid);
	return complete;
}

/* --- events ---------------------------------------------------------------------- */

/* ev_begin() with a timestamp of our choosing: an exec happened when the
 * process started, not when we noticed it. */
static void begin_at(struct evbuf *e, enum ev_kind kind, uint64_t ts, pid_t pid)
{
	ev_begin_map(e);
	e->kind = kind;
	ev_str(e, "ev", ev_kind_name(kind));
	ev_u64(e, "ts", ts);
	ev_i64(e, "pid", pid);
	ev_i64(e, "tid", pid);
	ev_bool(e, "from_procfs", true);
}

static void emit_exit(struct procscan *ps, pid_t pid)
{
	begin_at(&ps->ev, EV_EXIT, now_realtime_ns(), pid);
	ev_end(&ps->ev);
	ps->ops.emit(ps->data, &ps->ev);
	ev_reset(&ps->ev);
	ps->stats.exits++;
}

static pid_t tracer_pid_of(pid_t pid)
{
	struct proc_status st;

	return proc_read_status(pid, &st) == 0 ? st.tracer_pid : -1;
}

/* A process with neither an executable nor a command line: a kernel
 * thread that escaped the flag test, or a process half torn down. */
static bool has_no_image(pid_t pid)
{
	char buf[SENTRACE_PATH_MAX];

	if (proc_readlink(pid, "exe", buf, sizeof(buf)) >= 0)
		return false;
	return proc_read_file(pid, "cmdline", buf, 1) <= 0;
}

/*
 * Reports seen[i] as an exec event and puts it in the table. Nothing is
 * reported when the process is gone by now, or traced after all (a new
 * child of a tracee whose fork event the tracer has not handled yet).
 */
static void emit_exec(struct procscan *ps, size_t i)
{
	const struct proc_stat *s = &ps->seen[i];
	struct proc_status st;
	struct evbuf *e = &ps->ev;

	if (tracer_pid_of(s->pid) == ps->self || has_no_image(s->pid))
		return;
	if (proc_read_status(s->pid, &st) < 0)
		return;
	/* Room first: an exec whose exit could never follow, or that the
	 * next pass would report again, must not go out. */
	if (!next_add(ps, s->pid, s->start_ticks))
		return;
	begin_at(e, EV_EXEC, proc_ticks_to_ns(s->start_ticks), s->pid);
	ev_i64(e, "ppid", st.ppid);
	ev_u64(e, "start_ticks", s->start_ticks);
	procsnap_put_image(e, s->pid, &st);
	/* Its fds 0-2 as they are now: a shell started on a socket by an
	 * untraced process (docker exec, a backdoor) still shows as one. */
	stdio_enrich(e, s->pid, false);
	ev_i64(e, "ret", 0);
	ev_end(e);
	ps->ops.emit(ps->data, e);
	ev_reset(e);
	ps->stats.execs++;
}

/* --- filters ------------------------------------------------------------------------ */

static bool is_kernel_thread(const struct proc_stat *s)
{
	return s->pid == 2 || s->ppid == 2 || (s->flags & PF_KTHREAD_FLAG);
}

/*
 * Whether seen[i] or one of its ancestors is traced: those are ptrace's
 * (a tracee's new child may not be in the tracer's table yet). Results are
 * kept in mark[] so that each entry is looked at once per pass.
 */
static bool in_traced_tree(struct procscan *ps, size_t i)
{
	size_t n = 0;
	enum seen_mark verdict = MARK_FREE;
	ssize_t cur = (ssize_t)i;

	while (cur >= 0 && n < ANCESTRY_MAX && n < ps->nseen) {
		const struct proc_stat *s = &ps->seen[cur];

		if (ps->mark[cur] != MARK_UNKNOWN) {
			/* Candidates passed this test already. */
			verdict = ps->mark[cur] == MARK_TRACED ? MARK_TRACED : MARK_FREE;
			break;
		}
		if (ps->ops.is_traced(ps->data, s->pid)) {
			verdict = MARK_TRACED;
			ps->mark[cur] = MARK_TRACED;
			break;
		}
		ps->chain[n++] = (size_t)cur;
		/* ppid 0: the parent is outside the namespace. */
		if (s->ppid <= 0 || s->ppid == s->pid)
			break;
		cur = seen_find(ps, s->ppid);
	}
	for (size_t k = 0; k < n; k++)
		if (ps->mark[ps->chain[k]] == MARK_UNKNOWN)
			ps->mark[ps->chain[k]] = verdict;
	return verdict == MARK_TRACED;
}

static bool wanted(struct procscan *ps, size_t i)
{
	const struct proc_stat *s = &ps->seen[i];

	if (s->pid == ps->self || is_kernel_thread(s))
		return false;
	/* A zombie has exited already; a dead one is being reaped. */
	if (s->state == 'Z' || s->state == 'X' || s->state == 'x')
		return false;
	return !in_traced_tree(ps, i);
}

/* --- one pass --------------------------------------------------------------------- */

static int cmp_start(const void *a, const void *b)
{
	const struct fresh *x = a, *y = b;

	if (x->start_ticks != y->start_ticks)
		return x->start_ticks < y->start_ticks ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Reports candidate i, after its candidate ancestors (a pid that wrapped
 * around can start in the same tick as its parent with a lower pid). */
static void emit_with_parents(struct procscan *ps, size_t i)
{
	size_t n = 0;
	ssize_t cur = (ssize_t)i;

	while (cur >= 0 && ps->mark[cur] == MARK_CANDIDATE && n < ps->nseen) {
		ps->chain[n++] = (size_t)cur;
		ps->mark[cur] = MARK_DONE;
		cur = seen_find(ps, ps->seen[cur].ppid);
	}
	while (n > 0)
		emit_exec(ps, ps->chain[--n]);
}

/* Of the new pids in order[0 .. n), keeps those to report; returns how
 * many. */
static size_t keep_wanted(struct procscan *ps, size_t n)
{
	size_t kept = 0;

	for (size_t c = 0; c < n; c++) {
		size_t i = ps->order[c].idx;

		if (wanted(ps, i)) {
			ps->mark[i] = MARK_CANDIDATE;
			ps->order[kept++] = ps->order[c];
		}
	}
	return kept;
}

void procscan_scan(struct procscan *ps)
{
	uint64_t t0 = now_monotonic_ns();
	size_t ncand = 0, k = 0;
	struct known *swap;
	bool complete;

	complete = list_processes(ps);
	if (ps->nseen == 0 && !complete)
		goto out;
	memset(ps->mark, 0, ps->nseen * sizeof(*ps->mark));
	ps->nnext = 0;

	/* Merge the table with the list; both are sorted by pid. */
	for (size_t i = 0; i < ps->nseen || k < ps->nknown; ) {
		const struct known *old = k < ps->nknown ? &ps->known[k] : NULL;
		const struct proc_stat *s = i < ps->nseen ? &ps->seen[i] : NULL;

		if (old && (!s || old->pid < s->pid)) {
			/* Not listed: gone, unless the list was cut. */
			if (complete)
				emit_exit(ps, old->pid);
			else
				next_add(ps, old->pid, old->start_ticks);
			k++;
			continue;
		}
		if (old && old->pid == s->pid) {
			k++;
			if (old->start_ticks == s->start_ticks) {
				next_add(ps, old->pid, old->start_ticks);
				i++;
				continue;
			}
			/* Same pid, another process: the old one exited. */
			emit_exit(ps, old->pid);
		}
		ps->order[ncand].start_ticks = s->start_ticks;
		ps->order[ncand].pid = s->pid;
		ps->order[ncand++].idx = (uint32_t)i++;
	}

	ncand = keep_wanted(ps, ncand);

	/* Parents before children: start time, then pid. */
	qsort(ps->order, ncand, sizeof(*ps->order), cmp_start);
	for (size_t c = 0; c < ncand; c++)
		if (ps->mark[ps->order[c].idx] == MARK_CANDIDATE)
			emit_with_parents(ps, ps->order[c].idx);

	qsort(ps->next, ps->nnext, sizeof(*ps->next), cmp_known_pid);
	swap = ps->known;
	ps->known = ps->next;
	ps->next = swap;
	ps->nknown = ps->nnext;
	ps->nnext = 0;
out:
	ps->stats.last_listed = ps->nseen;
	ps->stats.scans++;
	ps->stats.last_scan_ns = now_monotonic_ns() - t0;
}

/* --- life cycle -------------------------------------------------------------------- */

static void timer_cb(uv_timer_t *h)
{
	procscan_scan(h->data);
}

int procscan_new(uv_loop_t *loop, uint64_t period_ns,
		 const struct procscan_ops *ops, void *data,
		 struct procscan **ret_ps)
{
	uint64_t ms = period_ns / NSEC_PER_MSEC;
	struct procscan *ps;
	int r;

	if (!loop || !ops || !ops->is_traced || !ops->emit || !ret_ps)
		return -EINVAL;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->ops = *ops;
	ps->data = data;
	ps->self = getpid();
	evbuf_init(&ps->ev);
	if (grow_seen(ps) < 0 || grow_known(ps) < 0) {
		r = -ENOMEM;
		goto fail_mem;
	}
	r = uv_timer_init(loop, &ps->timer);
	if (r < 0)
		goto fail_mem;
	ps->timer.data = ps;
	if (ms == 0)
		ms = 1;
	/* The first pass one period from now: the traced tree's own events
	 * come first, so its processes are in the tracer's table by then. */
	r = uv_timer_start(&ps->timer, timer_cb, ms, ms);
	if (r < 0) {
		procscan_free(ps);
		return r;
	}
	*ret_ps = ps;
	return 0;

fail_mem:
	free(ps->seen);
	free(ps->mark);
	free(ps->order);
	free(ps->chain);
	free(ps->known);
	free(ps->next);
	evbuf_free(&ps->ev);
	free(ps);
	return r;
}

const struct procscan_stats *procscan_stats(const struct procscan *ps)
{
	return &ps->stats;
}

size_t procscan_count(const struct procscan *ps)
{
	return ps->nknown;
}

static struct known *known_find(const struct procscan *ps, pid_t pid)
{
	struct known key = { .pid = pid };

	return bsearch(&key, ps->known, ps->nknown, sizeof(key), cmp_known_pid);
}

bool procscan_knows(const struct procscan *ps, pid_t pid)
{
	return known_find(ps, pid) != NULL;
}

bool procscan_lookup(const struct procscan *ps, pid_t pid, uint64_t *ret_start_ticks)
{
	const struct known *k = known_find(ps, pid);

	if (!k)
		return false;
	if (ret_start_ticks)
		*ret_start_ticks = k->start_ticks;
	return true;
}

void procscan_foreach(const struct procscan *ps,
		      void (*fn)(pid_t pid, uint64_t start_ticks, void *data),
		      void *data)
{
	for (size_t i = 0; i < ps->nknown; i++)
		fn(ps->known[i].pid, ps->known[i].start_ticks, data);
}

void procscan_stop(struct procscan *ps)
{
	if (ps)
		uv_timer_stop(&ps->timer);
}

int procscan_set_start(struct procscan *ps, pid_t pid, uint64_t start_ticks)
{
	struct known *k = known_find(ps, pid);

	if (!k)
		return -ENOENT;
	k->start_ticks = start_ticks;
	return 0;
}

static void close_cb(uv_handle_t *h)
{
	struct procscan *ps = h->data;

	free(ps->seen);
	free(ps->mark);
	free(ps->order);
	free(ps->chain);
	free(ps->known);
	free(ps->next);
	evbuf_free(&ps->ev);
	free(ps);
}

struct procscan *procscan_free(struct procscan *ps)
{
	if (!ps)
		return NULL;
	uv_timer_stop(&ps->timer);
	if (!uv_is_closing((uv_handle_t *)&ps->timer))
		uv_close((uv_handle_t *)&ps->timer, close_cb);
	return NULL;
}
