/* SPDX-License-Identifier: Apache-2.0 */
/* Process resolver: events and snapshots -> the process table. */
#include "config.h"

#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "rules.h"
#include "pipes.h"
#include "record.h"
#include "resolver.h"

#define SNAPSHOT_START_SLACK_NS 1000000000ull

static void set_strv(struct proc_table *t, struct proc_entry *e,
		     const struct event_record *m, int key, int tkey, bool env)
{
	const struct rules_str *v;
	size_t n;

	if (!record_strs(m, key, &v, &n))
		return;
	if (env)
		proc_entry_clear_envp(t, e);
	else
		proc_entry_clear_argv(t, e);
	for (size_t i = 0; i < n; i++) {
		int r;

		r = env ? proc_entry_add_env(t, e, v[i].ptr, v[i].len)
			: proc_entry_add_arg(t, e, v[i].ptr, v[i].len);
		if (r < 0)
			break;
	}
	if (record_true(m, tkey)) {
		if (env)
			e->envp_truncated = true;
		else
			e->argv_truncated = true;
	}
}

static void set_id(const struct event_record *m, int key, int64_t *field)
{
	int64_t v;

	if (record_i64(m, key, &v) && v >= 0)
		*field = v;
}

static void set_comm_from_file(struct proc_entry *e)
{
	const char *name = proc_entry_name(e);

	if (strcmp(name, "?") != 0)
		proc_entry_set_comm(e, name, strlen(name));
}

/* What exec events and snapshots share. */
static void set_image(struct proc_table *t, struct proc_entry *e,
		      const struct event_record *m)
{
	struct rules_str s;
	int64_t ppid;
	uint64_t ticks;

	if (record_str(m, RK_FILE, &s))
		proc_entry_set_file(t, e, s.ptr, s.len);
	set_strv(t, e, m, RK_ARGV, RK_ARGV_TRUNCATED, false);
	set_strv(t, e, m, RK_ENVP, RK_ENVP_TRUNCATED, true);
	set_id(m, RK_UID, &e->uid);
	set_id(m, RK_EUID, &e->euid);
	set_id(m, RK_GID, &e->gid);
	set_id(m, RK_EGID, &e->egid);
	if (record_str(m, RK_CWD, &s))
		proc_entry_set_cwd(t, e, s.ptr, s.len);
	if (record_str(m, RK_TTY, &s))
		proc_entry_set_tty(t, e, s.ptr, s.len);
	/* Names go with the ids they were read with. */
	if (record_str(m, RK_USER, &s))
		proc_entry_set_name(t, e, &e->user, s.ptr, s.len);
	else
		proc_entry_set_name(t, e, &e->user, NULL, 0);
	if (record_str(m, RK_GROUP, &s))
		proc_entry_set_name(t, e, &e->group, s.ptr, s.len);
	else
		proc_entry_set_name(t, e, &e->group, NULL, 0);
	if (record_str(m, RK_CONTAINER_ID, &s))
		proc_entry_set_name(t, e, &e->container_id, s.ptr, s.len);
	/*
	 * ppid here is the kernel's current parent: after a double fork or a
	 * daemon's exit it is PID 1, a subreaper or the tracer. Lineage comes
	 * from fork events, so the current parent only fills a gap: an entry
	 * that no fork named (attach mode, the procfs scan, a reconnect).
	 */
	if (record_i64(m, RK_PPID, &ppid) && ppid >= 0) {
		e->cur_ppid = ppid;
		if (e->ppid <= 0)
			proc_entry_set_ppid(t, e, ppid);
	}
	if (record_u64(m, RK_START_TICKS, &ticks) && ticks > 0)
		e->start_ticks = ticks;
}

/* fds 0-2 as the exec named them; unknown when it did not. */
static void set_stdio(struct proc_entry *e, const struct event_record *r)
{
	static const int keys[3][2] = {
		{ RK_STDIN, RK_STDIN_INO }, { RK_STDOUT, RK_STDOUT_INO },
		{ RK_STDERR, RK_STDERR_INO },
	};
	struct rules_str s;

	for (int fd = 0; fd < 3; fd++) {
		struct proc_stdio *st = &e->stdio[fd];

		st->type = PROC_STDIO_UNKNOWN;
		st->ino = 0;
		if (record_str(r, keys[fd][0], &s))
			st->type = pipes_stdio_type(s.ptr, s.len);
		if (!record_u64(r, keys[fd][1], &st->ino))
			st->ino = 0;
	}
}

static void apply_exec(struct proc_table *t, const struct event_record *ev,
		       int64_t pid, uint64_t ts)
{
	struct proc_entry *e = proc_table_upsert(t, pid);

	if (!e)
		return;
	set_image(t, e, ev);
	/* execve resets the saved and file-system ids to the effective ones. */
	e->suid = e->fsuid = e->euid;
	e->sgid = e->fsgid = e->egid;
	set_comm_from_file(e);
	proc_entry_net_exec(e);
	/* First seen at its exec: the best bound we have on its start. */
	if (!e->start_ns)
		e->start_ns = ts;
	set_stdio(e, ev);
	pipes_note_exec(t, e, ts);
}

static void apply_fork(struct proc_table *t, const struct event_record *ev,
		       int64_t pid, uint64_t ts)
{
	struct proc_entry *child, *caller;
	int64_t child_pid, ppid = pid;

	if (record_true(ev, RK_THREAD) || !record_i64(ev, RK_CHILD, &child_pid) ||
	    child_pid <= 0 || child_pid == pid)
		return;
	/* The kernel's parent (CLONE_PARENT makes it the caller's parent). */
	if (!record_i64(ev, RK_PPID, &ppid) || ppid <= 0)
		ppid = pid;
	/* Upsert first: it may evict, and must not evict the caller after we
	 * looked it up. */
	child = proc_table_upsert(t, child_pid);
	if (!child)
		return;
	caller = proc_table_get(t, pid);
	if (caller)
		proc_entry_copy_image(t, child, caller);
	/*
	 * Lineage is the creator, the process that forked, whatever the kernel
	 * makes of the parent later (or at once with CLONE_PARENT): it is what
	 * a rule on ancestors means, and what a daemonising child cannot undo.
	 */
	proc_entry_set_ppid(t, child, pid);
	child->cur_ppid = ppid;
	child->start_ns = ts;
	/* Never the caller's: a kill must name the child itself. */
	if (!record_u64(ev, RK_CHILD_START_TICKS, &child->start_ticks))
		child->start_ticks = 0;
}

static bool syscall_is(const struct event_record *ev, const char *name)
{
	struct rules_str s;
	size_t n = strlen(name);

	return record_str(ev, RK_SYSCALL, &s) && s.len == n &&
	       memcmp(s.ptr, name, n) == 0;
}

/*
 * setuid(2) and setreuid(2) change more than they name; setresuid(2) and
 * setfsuid(2) change exactly what they name. The group calls likewise.
 */
static void apply_setid(struct proc_entry *e, const struct event_record *ev,
			bool gid)
{
	int k_r = gid ? RK_GID : RK_UID, k_e = gid ? RK_EGID : RK_EUID;
	int k_s = gid ? RK_SGID : RK_SUID, k_fs = gid ? RK_FSGID : RK_FSUID;
	int64_t *r = gid ? &e->gid : &e->uid, *ef = gid ? &e->egid : &e->euid;
	int64_t *sv = gid ? &e->sgid : &e->suid, *fs = gid ? &e->fsgid : &e->fsuid;
	bool one = syscall_is(ev, gid ? "setgid" : "setuid") ||
		   syscall_is(ev, gid ? "setgid32" : "setuid32");
	bool re = syscall_is(ev, gid ? "setregid" : "setreuid") ||
		  syscall_is(ev, gid ? "setregid32" : "setreuid32");
	int64_t v, nr = -1, ne = -1, old_r = *r;

	if (one) {
		if (!record_i64(ev, k_r, &v) || v < 0)
			return;
		/* Privileged (effective uid 0): all ids; else the effective. */
		if (e->euid == 0)
			*r = *sv = v;
		*ef = *fs = v;
		return;
	}
	if (re) {
		if (record_i64(ev, k_r, &v) && v >= 0)
			nr = v;
		if (record_i64(ev, k_e, &v) && v >= 0)
			ne = v;
		if (nr >= 0)
			*r = nr;
		if (ne >= 0)
			*ef = *fs = ne;
		if (nr >= 0 || (ne >= 0 && ne != old_r))
			*sv = *ef;
		return;
	}
	set_id(ev, k_r, r);
	set_id(ev, k_e, ef);
	set_id(ev, k_s, sv);
	set_id(ev, k_fs, fs);
	if (record_i64(ev, k_e, &v) && v >= 0 && !record_has(ev, k_fs))
		*fs = v;
}

/* Server identity (proc_net): which sockets listen, who accepts. */
static void apply_net(struct proc_entry *e, const struct event_record *ev, int type,
		      int64_t ret)
{
	int64_t fd = -1, family = -1, v;

	record_i64(ev, RK_FD, &fd);
	record_i64(ev, RK_FAMILY, &family);
	switch (type) {
	case RULES_EV_SOCKET:
		if (record_i64(ev, RK_TYPE, &v))
			proc_entry_net_socket(e, ret, (int)family, (int)v);
		break;
	case RULES_EV_BIND:
		if (!record_i64(ev, RK_PORT, &v))
			v = 0;
		proc_entry_net_bind(e, fd, (int)family, v);
		break;
	case RULES_EV_LISTEN:
		proc_entry_net_listen(e, fd);
		break;
	case RULES_EV_ACCEPT:
		/* No family: the call asked for no peer address. */
		if (family < 0 || family == AF_INET || family == AF_INET6)
			proc_entry_net_accept(e, fd, family >= 0);
		break;
	default:
		break;
	}
}

void resolver_apply_event(struct proc_table *t, const struct event_record *ev)
{
	struct proc_entry *e;
	struct rules_str s;
	int64_t v, pid = ev->pid;
	uint64_t ts = ev->ts;
	int type = ev->type;

	if (!ev->has_pid || pid <= 0)
		return;
	/* A failed call changes nothing (a failed execve keeps the image). */
	if (ev->has_ret && ev->ret < 0)
		return;
	switch (type) {
	case RULES_EV_EXEC:
		apply_exec(t, ev, pid, ts);
		return;
	case RULES_EV_FORK:
		apply_fork(t, ev, pid, ts);
		return;
	default:
		break;
	}
	e = proc_table_get(t, pid);
	if (!e)
		return;
	switch (type) {
	case RULES_EV_SETUID: {
		int64_t before = e->uid;

		apply_setid(e, ev, false);
		/* The name belonged to the old id; the next exec names it. */
		if (e->uid != before)
			proc_entry_set_name(t, e, &e->user, NULL, 0);
		break;
	}
	case RULES_EV_SETGID: {
		int64_t before = e->gid;

		apply_setid(e, ev, true);
		if (e->gid != before)
			proc_entry_set_name(t, e, &e->group, NULL, 0);
		break;
	}
	case RULES_EV_CAPSET:
		set_id(ev, RK_EFFECTIVE, &e->cap_effective);
		set_id(ev, RK_PERMITTED, &e->cap_permitted);
		break;
	case RULES_EV_CHDIR:
		if (record_str(ev, RK_PATH, &s))
			proc_entry_set_cwd(t, e, s.ptr, s.len);
		break;
	case RULES_EV_SOCKET:
	case RULES_EV_BIND:
	case RULES_EV_LISTEN:
	case RULES_EV_ACCEPT:
		apply_net(e, ev, type, ev->has_ret ? ev->ret : 0);
		break;
	case RULES_EV_PRCTL:
		if (record_i64(ev, RK_OPTION, &v) && v == PR_SET_NAME &&
		    record_str(ev, RK_NAME, &s))
			proc_entry_set_comm(e, s.ptr, s.len);
		break;
	default:
		break;
	}
}

void resolver_apply_snapshot(struct proc_table *t, const struct event_record *snap)
{
	struct proc_entry *e;
	struct rules_str s;
	int64_t pid = snap->pid;
	uint64_t start;

	if (snap->type != RECORD_KIND_PROCESS || !snap->has_pid || pid <= 0)
		return;
	e = proc_table_upsert(t, pid);
	if (!e)
		return;
	/*
	 * A snapshot keeps the creator that a fork event named, unless the
	 * process started well after the entry did: its pid was reused while
	 * the tracer was away, and the old lineage is not its own. (The
	 * kernel's start time has clock-tick granularity, the fork event's
	 * the tracer's clock: a second of slack tells them apart.)
	 */
	if (record_u64(snap, RK_START_TIME, &start) && start > 0 &&
	    e->start_ns && start > e->start_ns + SNAPSHOT_START_SLACK_NS)
		proc_entry_set_ppid(t, e, 0);
	set_image(t, e, snap);
	if (record_str(snap, RK_COMM, &s))
		proc_entry_set_comm(e, s.ptr, s.len);
	else if (!e->comm[0])
		set_comm_from_file(e);
	if (record_u64(snap, RK_START_TIME, &start) && start > 0)
		e->start_ns = start;
	/* A snapshot without them (an older tracer) keeps what execs said. */
	if (record_has(snap, RK_STDIN)) {
		set_stdio(e, snap);
		pipes_note_exec(t, e, e->start_ns);
	}
}

void resolver_recount(struct proc_table *t)
{
	struct proc_entry *e, *p;

	for (e = t->oldest; e; e = e->newer)
		e->nchildren = 0;
	t->nparents = 0;
	for (e = t->oldest; e; e = e->newer) {
		p = e->ppid > 0 && e->ppid != e->pid ? proc_table_get(t, e->ppid) : NULL;
		if (p && p->nchildren++ == 0)
			t->nparents++;
	}
}
