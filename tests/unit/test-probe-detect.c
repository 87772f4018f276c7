/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The probe's detection pipeline without sockets: the process resolver, the
 * field getter, the rate limiter, the disarmer, alert lines (checked with a
 * small JSON parser), kill COMMANDs and their results, policy reloads,
 * configuration from the environment, and sequence numbers with ACKs.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <msgpack.h>

#include "sentrace/wire.h"
#include "engine.h"
#include "fieldget.h"
#include "probe-config.h"
#include "proctable.h"
#include "resolver.h"
#include "rules.h"
#include "session.h"
#include "tracers.h"

#define T0 1795442400000000000ull
#define SEC 1000000000ull

/* ---- msgpack helpers ---- */

struct mp {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	bool unpacked;
	struct event_record rec;
};

static void mp_init(struct mp *m)
{
	msgpack_sbuffer_init(&m->sb);
	msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
	m->unpacked = false;
	ck_assert_int_eq(record_init(&m->rec), 0);
}

static void mp_fini(struct mp *m)
{
	if (m->unpacked)
		msgpack_unpacked_destroy(&m->up);
	msgpack_sbuffer_destroy(&m->sb);
	record_fini(&m->rec);
}

/* The object packed into m so far. */
static const msgpack_object *mp_obj(struct mp *m)
{
	size_t off = 0;

	if (m->unpacked)
		msgpack_unpacked_destroy(&m->up);
	msgpack_unpacked_init(&m->up);
	m->unpacked = true;
	ck_assert_int_eq(msgpack_unpack_next(&m->up, m->sb.data, m->sb.size, &off),
			 MSGPACK_UNPACK_SUCCESS);
	return &m->up.data;
}

/* The event packed into m, decoded as a session does (no invalid value). */
static const struct event_record *mp_rec(struct mp *m)
{
	ck_assert_int_eq(record_decode(&m->rec, mp_obj(m), NULL), 0);
	return &m->rec;
}

/* The PROCESS snapshot packed into m, decoded. */
static const struct event_record *mp_snap(struct mp *m)
{
	ck_assert_int_eq(record_decode_snapshot(&m->rec, mp_obj(m), NULL), 0);
	return &m->rec;
}

static void pack_strs(msgpack_packer *pk, const char *key, const char *const *v)
{
	size_t n = 0;

	while (v[n])
		n++;
	wire_pack_str(pk, key);
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		wire_pack_str(pk, v[i]);
}

static void pack_exec(msgpack_packer *pk, int64_t pid, int64_t ppid, const char *file,
		      const char *const *argv, uint64_t ts)
{
	static const char *const envp[] = { "PATH=/bin", "HOME=/root", "X", NULL };

	msgpack_pack_map(pk, 15);
	wire_pack_kv_str(pk, "ev", "exec");
	wire_pack_kv_str(pk, "syscall", "execve");
	wire_pack_kv_u64(pk, "ts", ts);
	wire_pack_kv_i64(pk, "pid", pid);
	wire_pack_kv_i64(pk, "tid", pid);
	wire_pack_kv_i64(pk, "ret", 0);
	wire_pack_kv_str(pk, "file", file);
	pack_strs(pk, "argv", argv);
	pack_strs(pk, "envp", envp);
	wire_pack_kv_i64(pk, "uid", 1000);
	wire_pack_kv_i64(pk, "euid", 1000);
	wire_pack_kv_str(pk, "cwd", "/home/u");
	wire_pack_kv_i64(pk, "ppid", ppid);
	wire_pack_kv_str(pk, "tty", "/dev/pts/0");
	/* A start time per pid, which kill COMMANDs must carry. */
	wire_pack_kv_u64(pk, "start_ticks", 1000 + (uint64_t)pid);
}

static void pack_fork(msgpack_packer *pk, int64_t pid, int64_t child, uint64_t ts)
{
	msgpack_pack_map(pk, 8);
	wire_pack_kv_str(pk, "ev", "fork");
	wire_pack_kv_str(pk, "syscall", "clone");
	wire_pack_kv_u64(pk, "ts", ts);
	wire_pack_kv_i64(pk, "pid", pid);
	wire_pack_kv_i64(pk, "ret", child);
	wire_pack_kv_i64(pk, "child", child);
	wire_pack_kv_i64(pk, "ppid", pid);
	wire_pack_kv_bool(pk, "thread", false);
}

static void pack_exit(msgpack_packer *pk, int64_t pid, uint64_t ts)
{
	msgpack_pack_map(pk, 4);
	wire_pack_kv_str(pk, "ev", "exit");
	wire_pack_kv_u64(pk, "ts", ts);
	wire_pack_kv_i64(pk, "pid", pid);
	wire_pack_kv_i64(pk, "code", 0);
}

static void pack_open(msgpack_packer *pk, int64_t pid, const char *path, uint64_t ts)
{
	msgpack_pack_map(pk, 7);
	wire_pack_kv_str(pk, "ev", "open");
	wire_pack_kv_str(pk, "syscall", "openat");
	wire_pack_kv_u64(pk, "ts", ts);
	wire_pack_kv_i64(pk, "pid", pid);
	wire_pack_kv_i64(pk, "ret", 3);
	wire_pack_kv_str(pk, "path", path);
	wire_pack_kv_u64(pk, "flags", O_RDONLY);
}

/* Applies the one event packed in m, as a session does. */
static void apply(struct proc_table *t, struct mp *m)
{
	const struct event_record *ev = mp_rec(m);

	ck_assert(record_has(ev, RK_EV));
	resolver_apply_event(t, ev);
	if (ev->type == RULES_EV_EXIT)
		proc_table_exit(t, ev->pid);
	msgpack_sbuffer_clear(&m->sb);
}

/* ---- resolver ---- */

START_TEST(test_resolver_tree)
{
	static const char *const sh[] = { "sh", "-c", "x", NULL };
	static const char *const cat[] = { "cat", "/etc/passwd", NULL };
	struct proc_table *t;
	struct proc_entry *e, *p;
	struct mp m;

	mp_init(&m);
	ck_assert_int_eq(proc_table_new(1000, 1 << 20, &t), 0);
	pack_exec(&m.pk, 10, 1, "/bin/sh", sh, T0);
	apply(t, &m);
	pack_fork(&m.pk, 10, 11, T0 + 1);
	apply(t, &m);
	e = proc_table_get(t, 11);
	ck_assert_ptr_nonnull(e);
	/* The fork copies the parent's image, credentials and environment. */
	ck_assert_str_eq(e->file, "/bin/sh");
	ck_assert_int_eq(e->ppid, 10);
	ck_assert_int_eq(e->uid, 1000);
	ck_assert_uint_eq(e->envc, 3);
	ck_assert_str_eq(e->cwd, "/home/u");
	ck_assert_uint_eq(e->start_ns, T0 + 1);
	pack_exec(&m.pk, 11, 10, "/bin/cat", cat, T0 + 2);
	apply(t, &m);
	ck_assert_str_eq(e->file, "/bin/cat");
	ck_assert_str_eq(e->comm, "cat");
	ck_assert_str_eq(e->argv[1], "/etc/passwd");
	ck_assert_str_eq(e->tty, "/dev/pts/0");
	p = proc_table_parent(t, e);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(p->pid, 10);

	/* setuid(0) by an unprivileged process changes the effective id only. */
	msgpack_pack_map(&m.pk, 5);
	wire_pack_kv_str(&m.pk, "ev", "setuid");
	wire_pack_kv_str(&m.pk, "syscall", "setresuid");
	wire_pack_kv_i64(&m.pk, "pid", 11);
	wire_pack_kv_i64(&m.pk, "ret", 0);
	wire_pack_kv_i64(&m.pk, "euid", 0);
	apply(t, &m);
	ck_assert_int_eq(e->euid, 0);
	ck_assert_int_eq(e->uid, 1000);
	msgpack_pack_map(&m.pk, 5);
	wire_pack_kv_str(&m.pk, "ev", "setgid");
	wire_pack_kv_str(&m.pk, "syscall", "setgid");
	wire_pack_kv_i64(&m.pk, "pid", 11);
	wire_pack_kv_i64(&m.pk, "ret", 0);
	wire_pack_kv_i64(&m.pk, "gid", 5);
	apply(t, &m);
	ck_assert_int_eq(e->egid, 5);
	msgpack_pack_map(&m.pk, 5);
	wire_pack_kv_str(&m.pk, "ev", "capset");
	wire_pack_kv_i64(&m.pk, "pid", 11);
	wire_pack_kv_i64(&m.pk, "ret", 0);
	wire_pack_kv_i64(&m.pk, "effective", 0x20);
	wire_pack_kv_i64(&m.pk, "permitted", 0x30);
	apply(t, &m);
	ck_assert_int_eq(e->cap_effective, 0x20);

	/* The parent exits first: it stays for its child's ancestry. */
	pack_exit(&m.pk, 10, T0 + 3);
	apply(t, &m);
	p = proc_table_get(t, 10);
	ck_assert_ptr_nonnull(p);
	ck_assert(p->exited);
	ck_assert_ptr_eq(proc_table_parent(t, e), p);
	/* The child's exit takes both. */
	pack_exit(&m.pk, 11, T0 + 4);
	apply(t, &m);
	ck_assert_ptr_null(proc_table_get(t, 11));
	ck_assert_ptr_null(proc_table_get(t, 10));
	ck_assert_uint_eq(t->count, 0);
	ck_assert_uint_eq(t->exited, 0);
	proc_table_free(t);
	mp_fini(&m);
}
END_TEST

START_TEST(test_resolver_snapshot)
{
	static const char *const nginx[] = { "nginx", "-g", "daemon off;", NULL };
	struct proc_table *t;
	struct proc_entry *e;
	struct mp m;

	mp_init(&m);
	ck_assert_int_eq(proc_table_new(1000, 1 << 20, &t), 0);
	/* The child comes before its parent: counts are fixed afterwards. */
	for (int i = 0; i < 2; i++) {
		int64_t pid = i == 0 ? 21 : 20, ppid = i == 0 ? 20 : 1;

		msgpack_pack_map(&m.pk, 7);
		wire_pack_kv_i64(&m.pk, "pid", pid);
		wire_pack_kv_i64(&m.pk, "ppid", ppid);
		wire_pack_kv_str(&m.pk, "file", "/usr/sbin/nginx");
		pack_strs(&m.pk, "argv", nginx);
		wire_pack_kv_i64(&m.pk, "uid", 33);
		wire_pack_kv_str(&m.pk, "comm", "nginx");
		wire_pack_kv_u64(&m.pk, "start_time", T0 - 100 * SEC + (uint64_t)i);
		resolver_apply_snapshot(t, mp_snap(&m));
		msgpack_sbuffer_clear(&m.sb);
	}
	resolver_recount(t);
	e = proc_table_get(t, 20);
	ck_assert_uint_eq(e->nchildren, 1);
	ck_assert_int_eq(e->uid, 33);
	ck_assert_str_eq(e->comm, "nginx");
	/* 20 "started" after 21: the pid of 21's parent was reused. */
	ck_assert_ptr_null(proc_table_parent(t, proc_table_get(t, 21)));
	e->start_ns = T0 - 200 * SEC;
	ck_assert_ptr_eq(proc_table_parent(t, proc_table_get(t, 21)), e);
	proc_table_free(t);
	mp_fini(&m);
}
END_TEST

START_TEST(test_resolver_prune_bound)
{
	static const char *const sh[] = { "sh", NULL };
	struct proc_table *t;
	size_t count;
	struct mp m;

	mp_init(&m);
	ck_assert_int_eq(proc_table_new(500, 1 << 20, &t), 0);
	pack_exec(&m.pk, 1, 0, "/bin/sh", sh, T0);
	apply(t, &m);
	/* A long chain: each process forks and exits, its child lives on. */
	for (int64_t pid = 2; pid < 20000; pid++) {
		pack_fork(&m.pk, pid - 1, pid, T0 + (uint64_t)pid);
		apply(t, &m);
		if (pid > 2) {
			pack_exit(&m.pk, pid - 1, T0 + (uint64_t)pid);
			apply(t, &m);
		}
		ck_assert_uint_le(t->count, 500);
		ck_assert_uint_le(t->bytes, 1 << 20);
	}
	/* Short-lived children of one parent leave nothing behind (pid 1,
	 * never updated, was evicted long ago: it comes back). */
	pack_exec(&m.pk, 1, 0, "/bin/sh", sh, T0);
	apply(t, &m);
	count = t->count;
	for (int64_t pid = 30000; pid < 40000; pid++) {
		pack_fork(&m.pk, 1, pid, T0);
		apply(t, &m);
		pack_exit(&m.pk, pid, T0);
		apply(t, &m);
	}
	ck_assert_uint_le(t->count, count);
	for (int64_t pid = 30000; pid < 40000; pid++)
		ck_assert_ptr_null(proc_table_get(t, pid));
	ck_assert_uint_eq(proc_table_get(t, 1)->nchildren, 0);
	proc_table_free(t);
	mp_fini(&m);
}
END_TEST

/* The names of e's ancestors, nearest first, joined with '>'. */
static void ancestry(struct proc_table *t, const struct proc_entry *e, char *buf,
		     size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (e = proc_table_parent(t, e); e && n + 1 < size; e = proc_table_parent(t, e))
		n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ">" : "",
				      proc_entry_name(e));
}

static void pack_snapshot(msgpack_packer *pk, int64_t pid, int64_t ppid,
			  const char *file, uint64_t start)
{
	msgpack_pack_map(pk, 4);
	wire_pack_kv_i64(pk, "pid", pid);
	wire_pack_kv_i64(pk, "ppid", ppid);
	wire_pack_kv_str(pk, "file", file);
	wire_pack_kv_u64(pk, "start_time", start);
}

/*
 * T9: nginx -> php-fpm -> (fork; fork; exit) -> exec sh. The grandchild's
 * exec reports PID 1 as its parent; its ancestry stays the fork history,
 * the exited intermediate included, and a snapshot after a reconnect does
 * not overwrite it. process.ppid is the kernel's current parent.
 */
START_TEST(test_resolver_daemon)
{
	static const char *const nginx[] = { "nginx", NULL };
	static const char *const fpm[] = { "php-fpm", NULL };
	static const char *const sh[] = { "sh", "-c", "id", NULL };
	struct proc_table *t;
	struct proc_entry *e;
	char buf[256];
	struct mp m;

	mp_init(&m);
	ck_assert_int_eq(proc_table_new(1000, 1 << 20, &t), 0);
	pack_exec(&m.pk, 100, 1, "/usr/sbin/nginx", nginx, T0);
	apply(t, &m);
	pack_fork(&m.pk, 100, 101, T0 + 1);
	apply(t, &m);
	pack_exec(&m.pk, 101, 100, "/usr/sbin/php-fpm", fpm, T0 + 2);
	apply(t, &m);
	pack_fork(&m.pk, 101, 102, T0 + 3);
	apply(t, &m);
	pack_fork(&m.pk, 102, 103, T0 + 4);
	apply(t, &m);
	pack_exit(&m.pk, 102, T0 + 5);
	apply(t, &m);
	/* Re-parented to PID 1 (or a subreaper, or the tracer) by now. */
	pack_exec(&m.pk, 103, 1, "/bin/sh", sh, T0 + 6);
	apply(t, &m);
	e = proc_table_get(t, 103);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->ppid, 102);
	ck_assert_int_eq(e->cur_ppid, 1);
	ancestry(t, e, buf, sizeof(buf));
	/* 102 exited as a copy of php-fpm: it stays while 103 names it. */
	ck_assert_str_eq(buf, "php-fpm>php-fpm>nginx");
	ck_assert(proc_table_get(t, 102)->exited);

	/* A reconnect's snapshot reports the current parent: it is kept as
	 * that, the creator stays. */
	pack_snapshot(&m.pk, 103, 7, "/bin/sh", T0 + 4);
	resolver_apply_snapshot(t, mp_snap(&m));
	msgpack_sbuffer_clear(&m.sb);
	resolver_recount(t);
	ck_assert_int_eq(e->ppid, 102);
	ck_assert_int_eq(e->cur_ppid, 7);
	ancestry(t, e, buf, sizeof(buf));
	ck_assert_str_eq(buf, "php-fpm>php-fpm>nginx");

	/* A fork with CLONE_PARENT: the creator is still the caller. */
	msgpack_pack_map(&m.pk, 8);
	wire_pack_kv_str(&m.pk, "ev", "fork");
	wire_pack_kv_str(&m.pk, "syscall", "clone");
	wire_pack_kv_u64(&m.pk, "ts", T0 + 7);
	wire_pack_kv_i64(&m.pk, "pid", 103);
	wire_pack_kv_i64(&m.pk, "ret", 104);
	wire_pack_kv_i64(&m.pk, "child", 104);
	wire_pack_kv_i64(&m.pk, "ppid", 7);
	wire_pack_kv_bool(&m.pk, "thread", false);
	apply(t, &m);
	ck_assert_int_eq(proc_table_get(t, 104)->ppid, 103);
	ck_assert_int_eq(proc_table_get(t, 104)->cur_ppid, 7);

	/* The sh exits: the exited intermediate goes with it, not before. */
	pack_exit(&m.pk, 104, T0 + 8);
	apply(t, &m);
	pack_exit(&m.pk, 103, T0 + 8);
	apply(t, &m);
	ck_assert_ptr_null(proc_table_get(t, 102));
	ck_assert_ptr_nonnull(proc_table_get(t, 101));

	/* pid 103 reused while the tracer was away: the snapshot says it
	 * started long after, so its parent is the snapshot's. */
	pack_fork(&m.pk, 101, 103, T0 + 9);
	apply(t, &m);
	pack_snapshot(&m.pk, 103, 100, "/bin/true", T0 + 9 + 5 * SEC);
	resolver_apply_snapshot(t, mp_snap(&m));
	msgpack_sbuffer_clear(&m.sb);
	ck_assert_int_eq(proc_table_get(t, 103)->ppid, 100);
	proc_table_free(t);
	mp_fini(&m);
}
END_TEST

/*
 * P5: the master process is the entry updated longest ago. Children that
 * come and go with large environments fill the table; the master and the
 * ancestry of its live children survive, leaves go first.
 */
START_TEST(test_resolver_evict_leaves_first)
{
	static const char *const nginx[] = { "nginx", NULL };
	static const char *const sh[] = { "sh", NULL };
	struct proc_table *t;
	char buf[256];
	struct mp m;

	mp_init(&m);
	ck_assert_int_eq(proc_table_new(50, 1 << 20, &t), 0);
	pack_exec(&m.pk, 100, 1, "/usr/sbin/nginx", nginx, T0);
	apply(t, &m);
	/* Unrelated processes that never exit (lost exits, or simply many),
	 * and now and then a new worker of nginx's. */
	for (int64_t pid = 1000; pid < 3000; pid++) {
		pack_exec(&m.pk, pid, 1, "/bin/sh", sh, T0 + 2);
		apply(t, &m);
		if (pid % 10 == 0) {
			pack_fork(&m.pk, 100, pid + 100000, T0 + 3);
			apply(t, &m);
		}
		ck_assert_uint_le(t->count, 50);
	}
	ck_assert_ptr_nonnull(proc_table_get(t, 102990));
	ancestry(t, proc_table_get(t, 102990), buf, sizeof(buf));
	ck_assert_str_eq(buf, "nginx");
	ck_assert_ptr_null(proc_table_get(t, 1000));
	proc_table_free(t);
	mp_fini(&m);
}
END_TEST

/*
 * Ancestors never go before a leaf, however many of them are the oldest:
 * a chain of 100 live processes (each the parent of the next: 99
 * ancestors, more than the 64 skips of a table made only of ancestors),
 * then 2,000 unrelated processes through a table of 150. The chain may
 * lose its end (a leaf, the least recently seen), and then the next one,
 * but never a member above one that stays: what is left is always the
 * chain from its top.
 */
START_TEST(test_resolver_evict_long_chain_last)
{
	static const char *const sh[] = { "sh", NULL };
	struct proc_table *t;
	struct mp m;

	mp_init(&m);
	ck_assert_int_eq(proc_table_new(150, 1 << 20, &t), 0);
	pack_exec(&m.pk, 10, 1, "/bin/sh", sh, T0);
	apply(t, &m);
	for (int64_t pid = 10; pid < 109; pid++) {
		pack_fork(&m.pk, pid, pid + 1, T0 + 1);
		apply(t, &m);
	}
	ck_assert_uint_eq(t->nparents, 99);
	for (int64_t pid = 1000; pid < 3000; pid++) {
		bool gone = false;

		pack_exec(&m.pk, pid, 1, "/bin/sh", sh, T0 + 2);
		apply(t, &m);
		ck_assert_uint_le(t->count, 150);
		for (int64_t c = 10; c < 110; c++) {
			bool here = proc_table_get(t, c) != NULL;

			ck_assert_msg(!(gone && here), "at %d: %d kept below an evicted ancestor",
				      (int)pid, (int)c);
			gone |= !here;
		}
	}
	ck_assert_ptr_nonnull(proc_table_get(t, 10));
	proc_table_free(t);
	mp_fini(&m);
}
END_TEST

START_TEST(test_registry_reconnect)
{
	struct tracer_registry reg;
	struct wire_hello h = {
		.hostname = wire_str_c("box"), .pidns = 7, .tracer_pid = 99,
		.container_id = wire_str_c(""),
	};
	struct tracer_state *a, *b, *c;
	uint64_t last = 0;
	bool resumed;

	tracer_registry_init(&reg, 2);
	ck_assert_int_eq(tracer_registry_attach(&reg, &h, &last, &a, &resumed), 0);
	ck_assert(!resumed);
	a->last_seq = 42;
	proc_table_upsert(a->procs, 5);
	tracer_registry_detach(&reg, a, false);
	/* The same identity without the secret: a new state, the old one
	 * untouched (a restarted tracer, or someone who read the identity). */
	ck_assert_int_eq(tracer_registry_attach(&reg, &h, &last, &b, &resumed), 0);
	ck_assert(!resumed);
	ck_assert_ptr_ne(a, b);
	ck_assert_uint_eq(b->last_seq, 0);
	tracer_registry_detach(&reg, b, true);
	h.resume_session = a->id;
	h.resume_secret = (struct wire_str){ (const char *)a->secret, WIRE_SECRET_LEN - 1 };
	ck_assert_int_eq(tracer_registry_attach(&reg, &h, &last, &b, &resumed), 0);
	ck_assert(!resumed);
	tracer_registry_detach(&reg, b, true);
	/* Of the right length, one bit off: every byte counts. */
	{
		char wrong[WIRE_SECRET_LEN];

		memcpy(wrong, a->secret, sizeof(wrong));
		wrong[WIRE_SECRET_LEN - 1] ^= 1;
		h.resume_secret = (struct wire_str){ wrong, WIRE_SECRET_LEN };
		ck_assert_int_eq(tracer_registry_attach(&reg, &h, &last, &b, &resumed), 0);
		ck_assert(!resumed);
		tracer_registry_detach(&reg, b, true);
	}
	h.resume_secret = (struct wire_str){ (const char *)a->secret, WIRE_SECRET_LEN - 1 };
	/* With it: resumed, but by one connection at a time. */
	h.resume_secret.len = WIRE_SECRET_LEN;
	ck_assert_int_eq(tracer_registry_attach(&reg, &h, &last, &b, &resumed), 0);
	ck_assert(resumed);
	ck_assert_ptr_eq(a, b);
	ck_assert_int_eq(tracer_registry_attach(&reg, &h, &last, &c, &resumed), 0);
	ck_assert(!resumed);
	ck_assert_ptr_ne(c, a);
	ck_assert_uint_eq(c->last_seq, 0);
	tracer_registry_detach(&reg, c, true);
	ck_assert_uint_eq(b->id, 1);
	ck_assert_uint_eq(b->last_seq, 42);
	ck_assert_ptr_nonnull(proc_table_get(b->procs, 5));
	/* Another pid namespace is another tracer, secret or not. */
	h.pidns = 8;
	ck_assert_int_eq(tracer_registry_attach(&reg, &h, &last, &c, &resumed), 0);
	ck_assert(!resumed);
	ck_assert_uint_eq(c->id, 6);
	/* GOODBYE then close: forgotten. */
	tracer_registry_detach(&reg, c, true);
	ck_assert_uint_eq(reg.count, 1);
	/* Idle ones are bounded. */
	tracer_registry_detach(&reg, b, false);
	for (int i = 0; i < 5; i++) {
		h.pidns = 100 + (uint64_t)i;
		ck_assert_int_eq(tracer_registry_attach(&reg, &h, &last, &c, &resumed), 0);
		tracer_registry_detach(&reg, c, false);
		ck_assert_uint_le(reg.idle, 2);
	}
	tracer_registry_fini(&reg);
}
END_TEST

/* ---- getter ---- */

static const char *get_str(struct field_ctx *c, const char *name, char *buf, size_t len)
{
	const struct rules_field *f = rules_field_by_name(name, strlen(name));
	struct rules_value v, e;
	size_t used = 0;

	ck_assert_msg(f != NULL, "no field %s", name);
	memset(&v, 0, sizeof(v));
	if (field_ctx_get(c, f->id, &v) < 0)
		return NULL;
	if (v.kind == RULES_V_STR) {
		snprintf(buf, len, "%.*s", (int)v.len, v.s);
		return buf;
	}
	if (v.kind == RULES_V_INT) {
		snprintf(buf, len, "%lld", (long long)v.i);
		return buf;
	}
	ck_assert_int_eq(v.kind, RULES_V_ITER);
	buf[0] = '\0';
	while (v.next(v.it, &e)) {
		if (e.kind == RULES_V_STR)
			used += (size_t)snprintf(buf + used, len - used, "%s%.*s",
						 used ? "," : "", (int)e.len, e.s);
		else
			used += (size_t)snprintf(buf + used, len - used, "%s%lld",
						 used ? "," : "", (long long)e.i);
	}
	return buf;
}

START_TEST(test_getter)
{
	static const char *const nginx[] = { "nginx", NULL };
	static const char *const sh[] = { "/bin/sh", "-c", "id; uname", NULL };
	struct proc_table *t;
	struct field_ctx *c = malloc(sizeof(*c));
	struct mp m;
	char buf[512];

	ck_assert_ptr_nonnull(c);
	mp_init(&m);
	ck_assert_int_eq(proc_table_new(1000, 1 << 20, &t), 0);
	pack_exec(&m.pk, 1, 0, "/sbin/init", nginx, T0 - 10 * SEC);
	apply(t, &m);
	pack_fork(&m.pk, 1, 2, T0 - 5 * SEC);
	apply(t, &m);
	pack_exec(&m.pk, 2, 1, "/usr/sbin/nginx", nginx, T0 - 5 * SEC);
	apply(t, &m);
	pack_fork(&m.pk, 2, 3, T0 - 2 * SEC);
	apply(t, &m);
	pack_exec(&m.pk, 3, 2, "/bin/dash", sh, T0);
	field_ctx_init(c);
	field_ctx_reset(c, mp_rec(&m), t, NULL, "c0ffee");
	resolver_apply_event(t, &m.rec);
	field_ctx_reset(c, &m.rec, t, proc_table_get(t, 3), "c0ffee");

	ck_assert_str_eq(get_str(c, "event.type", buf, sizeof(buf)), "exec");
	ck_assert_str_eq(get_str(c, "exec.file.name", buf, sizeof(buf)), "dash");
	ck_assert_str_eq(get_str(c, "exec.args", buf, sizeof(buf)), "-c id; uname");
	ck_assert_str_eq(get_str(c, "exec.argv0", buf, sizeof(buf)), "/bin/sh");
	ck_assert_str_eq(get_str(c, "exec.envs", buf, sizeof(buf)), "PATH,HOME,X");
	ck_assert_str_eq(get_str(c, "exec.uid", buf, sizeof(buf)), "1000");
	ck_assert_str_eq(get_str(c, "process.file.path", buf, sizeof(buf)), "/bin/dash");
	ck_assert_str_eq(get_str(c, "process.args", buf, sizeof(buf)), "-c id; uname");
	ck_assert_str_eq(get_str(c, "process.argv", buf, sizeof(buf)), "/bin/sh,-c,id; uname");
	ck_assert_str_eq(get_str(c, "process.envs", buf, sizeof(buf)), "PATH,HOME,X");
	ck_assert_str_eq(get_str(c, "process.comm", buf, sizeof(buf)), "dash");
	ck_assert_str_eq(get_str(c, "process.tty_name", buf, sizeof(buf)), "/dev/pts/0");
	ck_assert_str_eq(get_str(c, "container.id", buf, sizeof(buf)), "c0ffee");
	/* Age: forked 2 s before the event. */
	ck_assert_str_eq(get_str(c, "process.created_at", buf, sizeof(buf)), "2000000000");
	ck_assert_str_eq(get_str(c, "process.parent.file.name", buf, sizeof(buf)), "nginx");
	ck_assert_str_eq(get_str(c, "process.parent.pid", buf, sizeof(buf)), "2");
	ck_assert_str_eq(get_str(c, "process.parent.created_at", buf, sizeof(buf)),
			 "5000000000");
	ck_assert_str_eq(get_str(c, "process.ancestors.file.name", buf, sizeof(buf)),
			 "nginx,init");
	ck_assert_str_eq(get_str(c, "process.ancestors.pid", buf, sizeof(buf)), "2,1");
	ck_assert_str_eq(get_str(c, "process.ancestors.argv", buf, sizeof(buf)),
			 "nginx,nginx");
	ck_assert_str_eq(get_str(c, "process.ancestors.argv0", buf, sizeof(buf)), "nginx,nginx");
	ck_assert_ptr_null(get_str(c, "process.user", buf, sizeof(buf)));
	ck_assert_ptr_null(get_str(c, "open.file.path", buf, sizeof(buf)));

	/* An open: base name of the event's path. */
	msgpack_sbuffer_clear(&m.sb);
	pack_open(&m.pk, 3, "/etc/shadow", T0 + 1);
	field_ctx_reset(c, mp_rec(&m), t, proc_table_get(t, 3), "");
	ck_assert_str_eq(get_str(c, "open.file.name", buf, sizeof(buf)), "shadow");
	ck_assert_str_eq(get_str(c, "open.flags", buf, sizeof(buf)), "0");
	ck_assert_str_eq(get_str(c, "event.retval", buf, sizeof(buf)), "3");

	field_ctx_fini(c);
	free(c);
	proc_table_free(t);
	mp_fini(&m);
}
END_TEST

/* ---- the event decoder ---- */

START_TEST(test_record_schema)
{
	/* The field table and the probe's own keys agree on every type. */
	ck_assert_uint_eq(record_schema_conflicts(), 0);
	ck_assert_int_eq(record_key_index("ev"), RK_EV);
	ck_assert_int_eq(record_key_index("core"), RK_CORE);
	ck_assert_int_lt(record_key_index("no such key"), 0);
	/* Every event field's key is typed for its kind, as its type says. */
	for (size_t i = 0; i < rules_field_count(); i++) {
		const struct rules_field *f = rules_field_at(i);
		int k, type;

		if (f->source != RULES_SRC_EVENT)
			continue;
		k = record_key_index(f->key);
		ck_assert_msg(k >= 0, "no index for %s", f->name);
		type = f->event == RULES_EV_ANY ? RULES_EV_OPEN : f->event;
		ck_assert_msg(record_key_type(type, k) != RECORD_V_NONE,
			      "%s is not typed", f->name);
		/* A measure of a string (dns.question.name.length) is an
		 * int read from a string. */
		if (f->type == RULES_TYPE_INT && f->xform != RULES_XFORM_LENGTH &&
		    f->xform != RULES_XFORM_ENTROPY && f->xform != RULES_XFORM_LONGEST_LABEL)
			ck_assert_int_eq(record_key_type(type, k), RECORD_V_INT);
		if (f->type == RULES_TYPE_STRING_ARRAY)
			ck_assert_int_eq(record_key_type(type, k), RECORD_V_STRS);
	}
	/* The same key, typed by kind: mount's target is a path, ptrace's a pid. */
	ck_assert_int_eq(record_key_type(RULES_EV_MOUNT, record_key_index("target")),
			 RECORD_V_STR);
	ck_assert_int_eq(record_key_type(RULES_EV_PTRACE, record_key_index("target")),
			 RECORD_V_INT);
	ck_assert_int_eq(record_key_type(RULES_EV_EXEC, record_key_index("target")),
			 RECORD_V_NONE);
}
END_TEST

START_TEST(test_record_types)
{
	struct record_stats st = { 0 };
	struct event_record *r;
	struct rules_str str;
	struct mp m;
	int64_t i;
	uint64_t u;

	mp_init(&m);
	r = &m.rec;
	/* An open whose path is a number and whose flags are text. */
	msgpack_pack_map(&m.pk, 6);
	wire_pack_kv_str(&m.pk, "ev", "open");
	wire_pack_kv_u64(&m.pk, "ts", T0);
	wire_pack_kv_i64(&m.pk, "pid", 7);
	wire_pack_kv_u64(&m.pk, "path", 42);
	wire_pack_kv_str(&m.pk, "flags", "O_RDONLY");
	wire_pack_kv_i64(&m.pk, "ret", -2);
	ck_assert_int_eq(record_decode(r, mp_obj(&m), &st), 2);
	ck_assert_uint_eq(st.bad_type, 2);
	ck_assert_uint_eq(r->errors, 2);
	ck_assert_int_eq(r->type, RULES_EV_OPEN);
	ck_assert(r->has_pid && r->pid == 7 && r->has_ts && r->ts == T0);
	ck_assert(r->has_ret && r->ret == -2);
	ck_assert(!record_str(r, RK_PATH, &str));
	ck_assert(!record_has(r, RK_FLAGS));
	/* The raw map still has every key, for the writers. */
	ck_assert_uint_eq(r->raw->via.map.size, 6);
	msgpack_sbuffer_clear(&m.sb);

	/* The next event starts clean: nothing of the last one is left. */
	pack_open(&m.pk, 8, "/etc/hosts", T0);
	ck_assert_int_eq(record_decode(r, mp_obj(&m), &st), 0);
	ck_assert(record_str(r, RK_PATH, &str) && str.len == 10);
	ck_assert(record_u64(r, RK_FLAGS, &u) && u == 0);
	ck_assert(r->pid == 8 && r->ret == 3);
	msgpack_sbuffer_clear(&m.sb);

	/* A pid above INT64_MAX is no pid; "ev" of the wrong type is no kind. */
	msgpack_pack_map(&m.pk, 3);
	wire_pack_kv_i64(&m.pk, "ev", 1);
	wire_pack_kv_u64(&m.pk, "pid", UINT64_MAX);
	wire_pack_kv_bool(&m.pk, "ret", true);
	ck_assert_int_eq(record_decode(r, mp_obj(&m), &st), 2);
	ck_assert_int_eq(r->type, -1);
	ck_assert(!r->has_pid && !r->has_ret && !r->has_ts);
	ck_assert(!record_i64(r, RK_PID, &i));
	ck_assert(record_u64(r, RK_PID, &u) && u == UINT64_MAX);
	ck_assert_uint_eq(st.bad_type, 4);
	msgpack_sbuffer_clear(&m.sb);

	/* Not a map. */
	msgpack_pack_array(&m.pk, 0);
	ck_assert_int_eq(record_decode(r, mp_obj(&m), &st), -EBADMSG);
	mp_fini(&m);
}
END_TEST

START_TEST(test_record_arrays)
{
	struct record_stats st = { 0 };
	const struct rules_str *v;
	struct event_record *r;
	size_t n;
	struct mp m;

	mp_init(&m);
	r = &m.rec;
	/* RECORD_ARRAY_MAX strings are an argv; one more is too many. */
	for (uint32_t len = RECORD_ARRAY_MAX; len <= RECORD_ARRAY_MAX + 1; len++) {
		msgpack_pack_map(&m.pk, 3);
		wire_pack_kv_str(&m.pk, "ev", "exec");
		wire_pack_kv_i64(&m.pk, "pid", 9);
		wire_pack_str(&m.pk, "argv");
		msgpack_pack_array(&m.pk, len);
		for (uint32_t i = 0; i < len; i++)
			wire_pack_str(&m.pk, i ? "x" : "/bin/true");
		if (len == RECORD_ARRAY_MAX) {
			ck_assert_int_eq(record_decode(r, mp_obj(&m), &st), 0);
			ck_assert(record_strs(r, RK_ARGV, &v, &n));
			ck_assert_uint_eq(n, RECORD_ARRAY_MAX);
			ck_assert_uint_eq(v[0].len, 9);
		} else {
			ck_assert_int_eq(record_decode(r, mp_obj(&m), &st), 1);
			ck_assert_uint_eq(st.oversize, 1);
			ck_assert(!record_strs(r, RK_ARGV, &v, &n));
			ck_assert(r->has_pid);
		}
		msgpack_sbuffer_clear(&m.sb);
	}

	/* A number among the strings: the whole array is invalid. Two arrays
	 * in one event: the second must not move the first. */
	msgpack_pack_map(&m.pk, 4);
	wire_pack_kv_str(&m.pk, "ev", "exec");
	wire_pack_str(&m.pk, "envp");
	msgpack_pack_array(&m.pk, 200);
	for (int i = 0; i < 200; i++)
		wire_pack_str(&m.pk, "A=1");
	wire_pack_str(&m.pk, "argv");
	msgpack_pack_array(&m.pk, 2);
	wire_pack_str(&m.pk, "sh");
	msgpack_pack_int(&m.pk, 5);
	wire_pack_str(&m.pk, "requested_argv");
	msgpack_pack_array(&m.pk, 300);
	for (int i = 0; i < 300; i++)
		wire_pack_str(&m.pk, "B");
	ck_assert_int_eq(record_decode(r, mp_obj(&m), &st), 1);
	ck_assert_uint_eq(st.bad_type, 1);
	ck_assert(!record_strs(r, RK_ARGV, &v, &n));
	ck_assert(record_strs(r, RK_ENVP, &v, &n));
	ck_assert_uint_eq(n, 200);
	ck_assert(v[199].len == 3 && memcmp(v[199].ptr, "A=1", 3) == 0);
	ck_assert(record_strs(r, record_key_index("requested_argv"), &v, &n));
	ck_assert(n == 300 && v[299].len == 1 && v[299].ptr[0] == 'B');
	msgpack_sbuffer_clear(&m.sb);

	/* All the arrays of one event hold RECORD_ELEMS_MAX elements at most. */
	msgpack_pack_map(&m.pk, 4);
	wire_pack_kv_str(&m.pk, "ev", "exec");
	for (int k = 0; k < 3; k++) {
		wire_pack_str(&m.pk, k == 0 ? "argv" : k == 1 ? "envp" : "requested_argv");
		msgpack_pack_array(&m.pk, RECORD_ELEMS_MAX / 2 - 1);
		for (int i = 0; i < RECORD_ELEMS_MAX / 2 - 1; i++)
			wire_pack_str(&m.pk, "A=1");
	}
	st.oversize = 0;
	ck_assert_int_eq(record_decode(r, mp_obj(&m), &st), 1);
	ck_assert_uint_eq(st.oversize, 1);
	ck_assert(record_strs(r, RK_ARGV, &v, &n) && n == RECORD_ELEMS_MAX / 2 - 1);
	ck_assert(record_strs(r, RK_ENVP, &v, &n) && n == RECORD_ELEMS_MAX / 2 - 1);
	ck_assert(!record_strs(r, record_key_index("requested_argv"), &v, &n));
	/* The next, small event gives the grown scratch back. */
	msgpack_sbuffer_clear(&m.sb);
	pack_open(&m.pk, 8, "/etc/hosts", T0);
	ck_assert_int_eq(record_decode(r, mp_obj(&m), &st), 0);
	ck_assert_uint_le(r->strs_cap, 4096);
	mp_fini(&m);
}
END_TEST

START_TEST(test_record_missing_and_repeated)
{
	struct record_stats st = { 0 };
	struct event_record *r;
	struct rules_str str;
	struct field_ctx *c = malloc(sizeof(*c));
	struct proc_table *t;
	char buf[64];
	struct mp m;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(proc_table_new(100, 1 << 20, &t), 0);
	field_ctx_init(c);
	mp_init(&m);
	r = &m.rec;
	/* No kind at all: the common keys still count, nothing else does. */
	msgpack_pack_map(&m.pk, 2);
	wire_pack_kv_i64(&m.pk, "pid", 3);
	wire_pack_kv_str(&m.pk, "path", "/x");
	ck_assert_int_eq(record_decode(r, mp_obj(&m), &st), 0);
	ck_assert_int_eq(r->type, -1);
	ck_assert_uint_eq(r->kind.len, 0);
	ck_assert(r->has_pid && !r->has_ts && !r->has_ret);
	ck_assert(!record_has(r, RK_EV) && !record_has(r, RK_PATH));
	field_ctx_reset(c, r, t, NULL, "");
	ck_assert_ptr_null(get_str(c, "event.type", buf, sizeof(buf)));
	msgpack_sbuffer_clear(&m.sb);

	/* A kind without its keys: every field of it is absent. */
	msgpack_pack_map(&m.pk, 1);
	wire_pack_kv_str(&m.pk, "ev", "connect");
	ck_assert_int_eq(record_decode(r, mp_obj(&m), &st), 0);
	field_ctx_reset(c, r, t, NULL, "");
	ck_assert_str_eq(get_str(c, "event.type", buf, sizeof(buf)), "connect");
	ck_assert_ptr_null(get_str(c, "connect.addr.ip", buf, sizeof(buf)));
	ck_assert_ptr_null(get_str(c, "connect.addr.port", buf, sizeof(buf)));
	ck_assert_ptr_null(get_str(c, "event.retval", buf, sizeof(buf)));
	msgpack_sbuffer_clear(&m.sb);

	/* A key given twice: the first counts for every reader, the second is
	 * an error; a second "ev" cannot change the kind. */
	msgpack_pack_map(&m.pk, 5);
	wire_pack_kv_str(&m.pk, "ev", "open");
	wire_pack_kv_str(&m.pk, "path", "/tmp/a");
	wire_pack_kv_str(&m.pk, "path", "/etc/shadow");
	wire_pack_kv_str(&m.pk, "ev", "exec");
	wire_pack_kv_i64(&m.pk, "pid", 3);
	ck_assert_int_eq(record_decode(r, mp_obj(&m), &st), 2);
	ck_assert_uint_eq(st.duplicate_key, 2);
	ck_assert_int_eq(r->type, RULES_EV_OPEN);
	ck_assert(record_str(r, RK_PATH, &str));
	ck_assert(str.len == 6 && memcmp(str.ptr, "/tmp/a", 6) == 0);
	field_ctx_reset(c, r, t, NULL, "");
	ck_assert_str_eq(get_str(c, "open.file.path", buf, sizeof(buf)), "/tmp/a");
	ck_assert_str_eq(get_str(c, "event.type", buf, sizeof(buf)), "open");
	/* The writers skip the repeats: the log shows what the rules saw. */
	ck_assert(!record_is_repeat(r, 0) && !record_is_repeat(r, 1));
	ck_assert(record_is_repeat(r, 2) && record_is_repeat(r, 3));
	ck_assert(!record_is_repeat(r, 4));
	msgpack_sbuffer_clear(&m.sb);
	pack_open(&m.pk, 8, "/etc/hosts", T0);
	ck_assert_int_eq(record_decode(r, mp_obj(&m), &st), 0);
	ck_assert(!record_is_repeat(r, 2) && !record_is_repeat(r, 3));

	field_ctx_fini(c);
	free(c);
	proc_table_free(t);
	mp_fini(&m);
}
END_TEST

/* ---- a small JSON checker ---- */

struct jp {
	const char *s;
	size_t i, n;
	char keys[64][32];     /* keys of the top-level object */
	size_t nkeys;
};

static bool jp_value(struct jp *p, int depth);

static void jp_ws(struct jp *p)
{
	while (p->i < p->n && strchr(" \t\r\n", p->s[p->i]))
		p->i++;
}

static bool jp_string(struct jp *p, char *out, size_t outlen)
{
	size_t o = 0;

	if (p->i >= p->n || p->s[p->i] != '"')
		return false;
	for (p->i++; p->i < p->n; p->i++) {
		char ch = p->s[p->i];

		if (ch == '"') {
			p->i++;
			if (out)
				out[o] = '\0';
			return true;
		}
		if ((unsigned char)ch < 0x20)
			return false;
		if (ch == '\\') {
			p->i++;
			if (p->i >= p->n || !strchr("\"\\/bfnrtu", p->s[p->i]))
				return false;
			if (p->s[p->i] == 'u')
				p->i += 4;
			continue;
		}
		if (out && o + 1 < outlen)
			out[o++] = ch;
	}
	return false;
}

static bool jp_value(struct jp *p, int depth)
{
	char key[32];

	jp_ws(p);
	if (p->i >= p->n)
		return false;
	switch (p->s[p->i]) {
	case '{':
		p->i++;
		jp_ws(p);
		if (p->s[p->i] == '}')
			return p->i++, true;
		for (;;) {
			jp_ws(p);
			if (!jp_string(p, key, sizeof(key)))
				return false;
			if (depth == 0 && p->nkeys < 64)
				strcpy(p->keys[p->nkeys++], key);
			jp_ws(p);
			if (p->s[p->i++] != ':' || !jp_value(p, depth + 1))
				return false;
			jp_ws(p);
			if (p->s[p->i] == ',') {
				p->i++;
				continue;
			}
			return p->s[p->i++] == '}';
		}
	case '[':
		p->i++;
		jp_ws(p);
		if (p->s[p->i] == ']')
			return p->i++, true;
		for (;;) {
			if (!jp_value(p, depth + 1))
				return false;
			jp_ws(p);
			if (p->s[p->i] == ',') {
				p->i++;
				continue;
			}
			return p->s[p->i++] == ']';
		}
	case '"':
		return jp_string(p, NULL, 0);
	default:
		if (!strncmp(p->s + p->i, "true", 4))
			return p->i += 4, true;
		if (!strncmp(p->s + p->i, "false", 5))
			return p->i += 5, true;
		if (!strncmp(p->s + p->i, "null", 4))
			return p->i += 4, true;
		if (!strchr("-0123456789", p->s[p->i]))
			return false;
		p->i++;
		while (p->i < p->n && strchr("0123456789.eE+-", p->s[p->i]))
			p->i++;
		return true;
	}
}

/* Parses one line; true when it is one valid JSON object. */
static bool json_check(const char *line, size_t len, struct jp *p)
{
	memset(p, 0, sizeof(*p));
	p->s = line;
	p->n = len;
	if (!jp_value(p, 0))
		return false;
	jp_ws(p);
	return p->i == p->n && line[0] == '{';
}

static bool jp_has(const struct jp *p, const char *key)
{
	for (size_t i = 0; i < p->nkeys; i++)
		if (strcmp(p->keys[i], key) == 0)
			return true;
	return false;
}

/* ---- an engine and a session, fed frame by frame ---- */

#define POLICY \
	"rules:\n" \
	"  - id: shadow_read\n" \
	"    description: Shadow read\n" \
	"    expression: open.file.path == \"/etc/shadow\"\n" \
	"    severity: high\n" \
	"    tags: {tactic: TA0006, technique: T1003.008}\n" \
	"  - id: kill_nc\n" \
	"    description: Netcat started\n" \
	"    expression: exec.file.name == \"nc\"\n" \
	"    severity: critical\n" \
	"    actions:\n" \
	"      - kill: {signal: SIGKILL}\n" \
	"  - id: shell_under_nginx\n" \
	"    expression: exec.file.name == \"dash\" && process.ancestors.file.name == \"nginx\"\n" \
	"    severity: low\n" \
	"    every: 10s\n"

struct fx {
	char dir[64];
	char policy[96];
	char alerts[96];
	struct output *out;           /* the alert output */
	struct engine *en;
	struct probe_totals totals;
	struct tracer_registry tracers;
	struct session_env env;
	struct session *s;
	msgpack_sbuffer reply;
	struct mp m;
	uint64_t seq;
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void on_free(void *data, struct tracer_state *ts)
{
	engine_forget(data, ts, "unknown: connection closed");
}

static void fx_init(struct fx *fx, const char *policy, enum output_format fmt,
		    uint32_t disarm_max)
{
	struct engine_config ec;
	const char *paths[1];

	memset(fx, 0, sizeof(*fx));
	strcpy(fx->dir, "/tmp/sentrace-detect-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fx->dir));
	snprintf(fx->policy, sizeof(fx->policy), "%s/test.policy", fx->dir);
	snprintf(fx->alerts, sizeof(fx->alerts), "%s/alerts", fx->dir);
	write_file(fx->policy, policy);
	paths[0] = fx->policy;
	engine_config_defaults(&ec);
	ec.policy_paths = paths;
	ec.npolicy_paths = 1;
	ec.disarm_max = disarm_max;
	ck_assert_int_eq(engine_new(&ec, &fx->en), 0);
	fx->en->fake_now = 1000 * SEC;
	ck_assert_int_eq(output_new(fx->alerts, fmt, &fx->out), 0);
	ck_assert_int_eq(engine_add_sink(fx->en, fx->out), 0);
	ck_assert_int_eq(engine_load(fx->en), 0);
	tracer_registry_init(&fx->tracers, TRACERS_IDLE_MAX);
	fx->tracers.on_free = on_free;
	fx->tracers.on_free_data = fx->en;
	fx->env.totals = &fx->totals;
	fx->env.tracers = &fx->tracers;
	fx->env.engine = fx->en;
	msgpack_sbuffer_init(&fx->reply);
	mp_init(&fx->m);
	fx->seq = 1;
}

static void fx_fini(struct fx *fx)
{
	session_free(fx->s);
	tracer_registry_fini(&fx->tracers);
	engine_free(fx->en);
	output_free(fx->out);
	msgpack_sbuffer_destroy(&fx->reply);
	mp_fini(&fx->m);
	unlink(fx->policy);
	unlink(fx->alerts);
	rmdir(fx->dir);
}

static int fx_send(struct fx *fx)
{
	int r = session_handle_frame(fx->s, fx->m.sb.data, fx->m.sb.size, &fx->reply);

	msgpack_sbuffer_clear(&fx->m.sb);
	return r;
}

static void fx_connect_resume(struct fx *fx, uint64_t id, const uint8_t *secret)
{
	struct wire_hello h = {
		.version = WIRE_PROTOCOL_VERSION, .tracer_version = wire_str_c("0.1.0"),
		.mode = wire_str_c("wrapped"), .hostname = wire_str_c("box"),
		.container_id = wire_str_c(""), .pidns = 4026531836ull,
		.tracer_pid = 99, .argc = 1, .argv = { wire_str_c("sh") },
		.resume_session = id,
		.resume_secret = { (const char *)secret, secret ? WIRE_SECRET_LEN : 0 },
	};

	ck_assert_int_eq(session_new(&fx->env, "test", &fx->s), 0);
	wire_pack_hello(&fx->m.pk, &h);
	ck_assert_int_eq(fx_send(fx), 0);
	msgpack_sbuffer_clear(&fx->reply);
}

static void fx_connect(struct fx *fx)
{
	fx_connect_resume(fx, 0, NULL);
}

static void fx_disconnect(struct fx *fx, const char *reason)
{
	session_end(fx->s, reason);
	fx->s = session_free(fx->s);
}

/* Starts an EVENTS frame of n events with sequence number seq. */
static void events_begin(struct fx *fx, uint64_t seq, uint32_t n)
{
	msgpack_pack_map(&fx->m.pk, 3);
	wire_pack_kv_u64(&fx->m.pk, "type", WIRE_EVENTS);
	wire_pack_kv_u64(&fx->m.pk, "seq", seq);
	wire_pack_str(&fx->m.pk, "events");
	msgpack_pack_array(&fx->m.pk, n);
}

/* Sends one event frame built by pack, with the next sequence number. */
static void send_one(struct fx *fx, void (*pack)(struct fx *fx, void *arg), void *arg)
{
	events_begin(fx, fx->seq++, 1);
	pack(fx, arg);
	ck_assert_int_eq(fx_send(fx), 0);
}

static void pk_open_shadow(struct fx *fx, void *arg)
{
	pack_open(&fx->m.pk, 50, "/etc/shadow", T0);
}

static void pk_exec_nc(struct fx *fx, void *arg)
{
	static const char *const nc[] = { "nc", "-l", "4444", NULL };

	pack_exec(&fx->m.pk, *(int64_t *)arg, 1, arg ? "/usr/bin/nc" : "/bin/nc", nc, T0);
}

/* Every line of the alert output. */
static size_t read_lines(struct fx *fx, char lines[][8192], size_t max)
{
	FILE *f;
	size_t n = 0;

	engine_flush(fx->en);
	f = fopen(fx->alerts, "r");
	ck_assert_ptr_nonnull(f);
	while (n < max && fgets(lines[n], 8192, f))
		lines[n][strcspn(lines[n], "\n")] = '\0', n++;
	fclose(f);
	return n;
}

static char (*lines_buf(void))[8192]
{
	static char lines[128][8192];

	return lines;
}

/* Decodes the frames in reply; returns how many have type want. */
static size_t count_frames(msgpack_sbuffer *reply, int want,
			   struct wire_command *ret_cmd, uint64_t *ret_ack)
{
	size_t off = 0, n = 0;

	while (off + WIRE_FRAME_HEADER <= reply->size) {
		uint32_t len = wire_get_len((const uint8_t *)reply->data + off);
		const msgpack_object *root;
		msgpack_unpacked up;
		int type;

		msgpack_unpacked_init(&up);
		ck_assert_int_eq(wire_decode(reply->data + off + WIRE_FRAME_HEADER, len,
					     &up, &root, &type), 0);
		if (type == want) {
			n++;
			if (type == WIRE_COMMAND && ret_cmd) {
				struct wire_command c;

				ck_assert_int_eq(wire_unpack_command(root, &c), 0);
				*ret_cmd = c;
				/* The strings point into up: keep what we check. */
				ret_cmd->action = wire_str_c(wire_str_eq(c.action, "kill") ?
							     "kill" : "?");
				ret_cmd->rule_id = wire_str_c(wire_str_eq(c.rule_id, "kill_nc") ?
							      "kill_nc" : "?");
			}
			if (type == WIRE_ACK && ret_ack) {
				struct wire_ack a;

				ck_assert_int_eq(wire_unpack_ack(root, &a), 0);
				*ret_ack = a.seq;
			}
		}
		msgpack_unpacked_destroy(&up);
		off += WIRE_FRAME_HEADER + len;
	}
	return n;
}

START_TEST(test_alert_json)
{
	char (*lines)[8192] = lines_buf();
	struct fx fx;
	struct jp p;
	size_t n;
	static const char *const keys[] = {
		"type", "time", "rule", "priority", "output", "output_fields", "tags",
		"hostname", "source", "rule_id", "severity", "actions", "process",
		"container", "suppressed", "session", "event",
	};

	fx_init(&fx, POLICY, OUTPUT_JSON, 5);
	fx_connect(&fx);
	send_one(&fx, pk_open_shadow, NULL);
	n = read_lines(&fx, lines, 128);
	ck_assert_uint_eq(n, 1);
	ck_assert_msg(json_check(lines[0], strlen(lines[0]), &p), "not JSON: %s", lines[0]);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_msg(jp_has(&p, keys[i]), "no key %s in %s", keys[i], lines[0]);
	ck_assert_ptr_nonnull(strstr(lines[0], "\"rule\":\"shadow_read\",\"priority\":\"Error\""));
	ck_assert_ptr_nonnull(strstr(lines[0], "\"source\":\"syscall\""));
	ck_assert_ptr_nonnull(strstr(lines[0], "\"hostname\":\"box\""));
	ck_assert_ptr_nonnull(strstr(lines[0], "\"tags\":[\"tactic:TA0006\",\"technique:T1003.008\"]"));
	ck_assert_ptr_nonnull(strstr(lines[0], "\"open.file.path\":\"/etc/shadow\""));
	ck_assert_ptr_nonnull(strstr(lines[0], "\"time\":\"2026-11-23T14:00:00.000000000Z\""));
	ck_assert_uint_eq(fx.s->ts->alerts, 1);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_alert_text)
{
	static const char *const nginx[] = { "nginx", NULL };
	static const char *const sh[] = { "sh", "-c", "id", NULL };
	char (*lines)[8192] = lines_buf();
	struct fx fx;

	fx_init(&fx, POLICY, OUTPUT_TEXT, 5);
	fx_connect(&fx);
	events_begin(&fx, fx.seq, 4);
	fx.seq += 4;
	pack_exec(&fx.m.pk, 2, 1, "/usr/sbin/nginx", nginx, T0);
	pack_fork(&fx.m.pk, 2, 3, T0 + 1);
	pack_exec(&fx.m.pk, 3, 2, "/bin/dash", sh, T0 + 2);
	pack_exec(&fx.m.pk, 3, 2, "/bin/dash", sh, T0 + 3);
	ck_assert_int_eq(fx_send(&fx), 0);
	/* every: 10s lets the first through only. */
	ck_assert_uint_eq(read_lines(&fx, lines, 128), 1);
	ck_assert_msg(strstr(lines[0], " ALERT low shell_under_nginx: dash[3] exec /bin/dash sh -c id = 0"
			     " | ancestors: nginx[2]") != NULL, "got %s", lines[0]);
	ck_assert_uint_eq(fx.en->stats.suppressed, 1);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_limiter)
{
	char (*lines)[8192] = lines_buf();
	struct fx fx;
	size_t n;

	fx_init(&fx, POLICY, OUTPUT_JSON, 5);
	fx_connect(&fx);
	/* 60 at once: the burst (50) passes, 10 are held back and counted. */
	for (int i = 0; i < 60; i++)
		send_one(&fx, pk_open_shadow, NULL);
	ck_assert_uint_eq(read_lines(&fx, lines, 128), 50);
	ck_assert_uint_eq(fx.en->stats.suppressed, 10);
	ck_assert_uint_eq(fx.s->ts->suppressed, 10);
	/* 0.1 s later one token is back: the next alert reports the 10. */
	fx.en->fake_now += SEC / 10;
	send_one(&fx, pk_open_shadow, NULL);
	send_one(&fx, pk_open_shadow, NULL);
	n = read_lines(&fx, lines, 128);
	ck_assert_uint_eq(n, 51);
	ck_assert_ptr_nonnull(strstr(lines[50], "\"suppressed\":10,"));
	ck_assert_ptr_nonnull(strstr(lines[0], "\"suppressed\":0,"));
	ck_assert_uint_eq(fx.en->stats.suppressed, 11);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_kill_result)
{
	char (*lines)[8192] = lines_buf();
	struct wire_command cmd;
	struct wire_command_result res;
	int64_t pid = 70;
	struct fx fx;

	fx_init(&fx, POLICY, OUTPUT_JSON, 5);
	fx_connect(&fx);
	send_one(&fx, pk_exec_nc, &pid);
	ck_assert_uint_eq(count_frames(&fx.reply, WIRE_COMMAND, &cmd, NULL), 1);
	ck_assert_int_eq(cmd.pid, 70);
	ck_assert_uint_eq(cmd.start_ticks, 1070);
	ck_assert_int_eq(cmd.signal, SIGKILL);
	ck_assert(wire_str_eq(cmd.action, "kill"));
	ck_assert(wire_str_eq(cmd.rule_id, "kill_nc"));
	/* Held until the result. */
	ck_assert_uint_eq(read_lines(&fx, lines, 128), 0);
	msgpack_sbuffer_clear(&fx.reply);

	res = (struct wire_command_result){ .id = cmd.id, .pid = 70, .signal = SIGKILL,
					    .done = true, .error = wire_str_c("") };
	wire_pack_command_result(&fx.m.pk, &res);
	ck_assert_int_eq(fx_send(&fx), 0);
	ck_assert_uint_eq(read_lines(&fx, lines, 128), 1);
	ck_assert_msg(strstr(lines[0], "\"actions\":[{\"kill\":{\"signal\":\"SIGKILL\","
			     "\"scope\":\"process\",\"status\":\"done\"}}]") != NULL,
		      "got %s", lines[0]);

	/* A failure carries the tracer's reason. */
	pid = 71;
	send_one(&fx, pk_exec_nc, &pid);
	ck_assert_uint_eq(count_frames(&fx.reply, WIRE_COMMAND, &cmd, NULL), 1);
	msgpack_sbuffer_clear(&fx.reply);
	res = (struct wire_command_result){ .id = cmd.id, .pid = 71, .signal = SIGKILL,
					    .error = wire_str_c("ESRCH") };
	wire_pack_command_result(&fx.m.pk, &res);
	ck_assert_int_eq(fx_send(&fx), 0);
	ck_assert_uint_eq(read_lines(&fx, lines, 128), 2);
	ck_assert_ptr_nonnull(strstr(lines[1], "\"status\":\"failed: ESRCH\""));

	/* No answer: the line goes out after the timeout. */
	pid = 72;
	send_one(&fx, pk_exec_nc, &pid);
	fx.en->fake_now += SEC;
	ck_assert_uint_eq(engine_tick(fx.en), 1);
	ck_assert_uint_eq(read_lines(&fx, lines, 128), 2);
	fx.en->fake_now += SEC;
	ck_assert_uint_eq(engine_tick(fx.en), 0);
	ck_assert_uint_eq(read_lines(&fx, lines, 128), 3);
	ck_assert_ptr_nonnull(strstr(lines[2], "\"status\":\"timeout\""));
	ck_assert_uint_eq(fx.en->stats.kills_done, 1);
	ck_assert_uint_eq(fx.en->stats.kills_failed, 1);
	ck_assert_uint_eq(fx.en->stats.kills_timeout, 1);

	/* A tracer that says goodbye takes its held alerts with it. */
	pid = 73;
	send_one(&fx, pk_exec_nc, &pid);
	{
		struct wire_goodbye g = { .reason = wire_str_c("done") };

		wire_pack_goodbye(&fx.m.pk, &g);
		ck_assert_int_eq(fx_send(&fx), 0);
	}
	fx_disconnect(&fx, "goodbye");
	ck_assert_uint_eq(read_lines(&fx, lines, 128), 4);
	ck_assert_ptr_nonnull(strstr(lines[3], "\"status\":\"unknown: connection closed\""));
	fx_fini(&fx);
}
END_TEST

START_TEST(test_disarmer)
{
	char (*lines)[8192] = lines_buf();
	int64_t pid;
	struct fx fx;

	fx_init(&fx, POLICY, OUTPUT_TEXT, 2);
	fx_connect(&fx);
	for (pid = 100; pid < 103; pid++)
		send_one(&fx, pk_exec_nc, &pid);
	/* Two kills per executable per minute: the third is not sent. */
	ck_assert_uint_eq(count_frames(&fx.reply, WIRE_COMMAND, NULL, NULL), 2);
	ck_assert_uint_eq(fx.en->stats.kills_disarmed, 1);
	ck_assert_uint_eq(read_lines(&fx, lines, 128), 1);
	ck_assert_msg(strstr(lines[0], " | kill SIGKILL: disarmed") != NULL, "got %s", lines[0]);
	/* Disarmed for that session only: another tracer's kills still go,
	 * so forged events in a session of one's own disarm nobody else. */
	msgpack_sbuffer_clear(&fx.reply);
	fx_disconnect(&fx, "eof");
	fx_connect(&fx);
	ck_assert(!fx.s->resumed);
	send_one(&fx, pk_exec_nc, &pid);
	ck_assert_uint_eq(count_frames(&fx.reply, WIRE_COMMAND, NULL, NULL), 1);
	ck_assert_uint_eq(fx.en->stats.kills_disarmed, 1);
	/* A minute later it is armed again. */
	msgpack_sbuffer_clear(&fx.reply);
	fx.en->fake_now += 61 * SEC;
	send_one(&fx, pk_exec_nc, &pid);
	ck_assert_uint_eq(count_frames(&fx.reply, WIRE_COMMAND, NULL, NULL), 1);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_reload)
{
	char (*lines)[8192] = lines_buf();
	struct fx fx;

	fx_init(&fx, POLICY, OUTPUT_JSON, 5);
	ck_assert_uint_eq(engine_rule_count(fx.en), 3);
	/* A broken policy: the rules in force stay. */
	write_file(fx.policy, "rules:\n  - id: x\n    expression: open.file.pth == \"a\"\n");
	ck_assert_int_gt(engine_reload(fx.en), 0);
	ck_assert_uint_eq(engine_rule_count(fx.en), 3);
	ck_assert_uint_eq(fx.en->stats.reload_failures, 1);
	fx_connect(&fx);
	send_one(&fx, pk_open_shadow, NULL);
	ck_assert_uint_eq(read_lines(&fx, lines, 128), 1);
	/* A good one replaces them. */
	write_file(fx.policy, "rules:\n  - id: only\n    expression: open.file.path == \"/x\"\n");
	ck_assert_int_eq(engine_reload(fx.en), 0);
	ck_assert_uint_eq(engine_rule_count(fx.en), 1);
	send_one(&fx, pk_open_shadow, NULL);
	ck_assert_uint_eq(read_lines(&fx, lines, 128), 1);
	fx_fini(&fx);
}
END_TEST

START_TEST(test_ack_duplicates)
{
	struct fx fx;
	uint64_t ack = 0;

	fx_init(&fx, POLICY, OUTPUT_JSON, 5);
	fx_connect(&fx);
	events_begin(&fx, 1, 3);
	for (int i = 0; i < 3; i++)
		pack_open(&fx.m.pk, 50, "/tmp/a", T0);
	ck_assert_int_eq(fx_send(&fx), 0);
	session_flush(fx.s, &fx.reply);
	ck_assert_uint_eq(count_frames(&fx.reply, WIRE_ACK, NULL, &ack), 1);
	ck_assert_uint_eq(ack, 4);
	msgpack_sbuffer_clear(&fx.reply);
	/* No EVENTS since: no ACK. */
	session_flush(fx.s, &fx.reply);
	ck_assert_uint_eq(fx.reply.size, 0);

	/* The tracer reconnects and sends 2..4 again: 2 and 3 are duplicates. */
	uint8_t secret[WIRE_SECRET_LEN];

	memcpy(secret, fx.s->ts->secret, sizeof(secret));
	fx_disconnect(&fx, "eof");
	/* Someone with the same identity but not the secret (a restarted
	 * tracer, a tracee): a session of its own, none of its events lost. */
	fx_connect(&fx);
	ck_assert(!fx.s->resumed);
	ck_assert_uint_eq(fx.s->id, 2);
	events_begin(&fx, 1, 3);
	for (int i = 0; i < 3; i++)
		pack_open(&fx.m.pk, 50, "/tmp/a", T0);
	ck_assert_int_eq(fx_send(&fx), 0);
	ck_assert_uint_eq(fx.s->duplicates, 0);
	ck_assert_uint_eq(fx.s->events, 3);
	fx_disconnect(&fx, "eof");
	msgpack_sbuffer_clear(&fx.reply);
	fx_connect_resume(&fx, 1, secret);
	ck_assert(fx.s->resumed);
	ck_assert_uint_eq(fx.s->id, 1);
	events_begin(&fx, 2, 3);
	for (int i = 0; i < 3; i++)
		pack_open(&fx.m.pk, 50, "/tmp/a", T0);
	ck_assert_int_eq(fx_send(&fx), 0);
	ck_assert_uint_eq(fx.s->duplicates, 2);
	ck_assert_uint_eq(fx.s->events, 1);
	ck_assert_uint_eq(fx.s->ts->events, 4);
	ck_assert_uint_eq(fx.totals.duplicates, 2);
	session_flush(fx.s, &fx.reply);
	ck_assert_uint_eq(count_frames(&fx.reply, WIRE_ACK, NULL, &ack), 1);
	ck_assert_uint_eq(ack, 5);
	fx_fini(&fx);
}
END_TEST

/* An open whose path comes twice, the first time as a number. */
static void pk_open_shadow_bad(struct fx *fx, void *arg)
{
	msgpack_pack_map(&fx->m.pk, 6);
	wire_pack_kv_str(&fx->m.pk, "ev", "open");
	wire_pack_kv_u64(&fx->m.pk, "ts", T0);
	wire_pack_kv_i64(&fx->m.pk, "pid", 50);
	wire_pack_kv_i64(&fx->m.pk, "ret", 3);
	if (arg) {
		wire_pack_kv_u64(&fx->m.pk, "path", 1);
		wire_pack_kv_str(&fx->m.pk, "path", "/etc/shadow");
	} else {
		wire_pack_kv_str(&fx->m.pk, "path", "/etc/shadow");
		wire_pack_kv_str(&fx->m.pk, "flags", "0");
	}
}

START_TEST(test_session_invalid_values)
{
	char (*lines)[8192] = lines_buf();
	struct fx fx;

	fx_init(&fx, POLICY, OUTPUT_JSON, 5);
	fx_connect(&fx);
	/* The bad first path is what every reader sees: no alert, counted. */
	send_one(&fx, pk_open_shadow_bad, &fx);
	ck_assert_uint_eq(read_lines(&fx, lines, 128), 0);
	ck_assert_uint_eq(fx.totals.decode.bad_type, 1);
	ck_assert_uint_eq(fx.totals.decode.duplicate_key, 1);
	/* A bad flags value does not hide the good path. */
	send_one(&fx, pk_open_shadow_bad, NULL);
	ck_assert_uint_eq(read_lines(&fx, lines, 128), 1);
	ck_assert_ptr_nonnull(strstr(lines[0], "\"rule\":\"shadow_read\""));
	/* The alert's event is the map as sent, the bad key included. */
	ck_assert_ptr_nonnull(strstr(lines[0], "\"flags\":\"0\""));
	ck_assert_uint_eq(fx.totals.decode.bad_type, 2);
	ck_assert_uint_eq(record_stats_total(&fx.s->decode), 3);
	ck_assert_uint_eq(fx.s->events, 2);
	fx_fini(&fx);
}
END_TEST

/* ---- configuration from the environment ---- */

static const char *const fake_env[][2] = {
	{ "SENTRACE_RUNTIME_SECURITY_CONFIG_EBPFLESS_SOCKET", "unix:/run/s.sock" },
	{ "DD_RUNTIME_SECURITY_CONFIG_EBPFLESS_SOCKET", "127.0.0.1:1" },
	{ "DD_RUNTIME_SECURITY_CONFIG_POLICIES_DIR", "/a:/b" },
	{ "DD_RUNTIME_SECURITY_CONFIG_ENFORCEMENT_DISARMER_EXECUTABLE_MAX_ALLOWED", "9" },
	{ "SENTRACE_ALERTS_OUTPUTS", "syslog,-" },
	{ "SENTRACE_OUTPUT_FORMAT", "text" },
	{ "SENTRACE_RUNTIME_SECURITY_CONFIG_ENABLED", "false" },
	{ "SENTRACE_RUNTIME_SECURITY_CONFIG_ENFORCEMENT_KILL_TIMEOUT", "500ms" },
};
static bool fake_env_bad;

static char *fake_getenv(const char *name)
{
	if (fake_env_bad && strcmp(name, "SENTRACE_ALERTS_RATE") == 0)
		return (char *)"fast";
	for (size_t i = 0; i < sizeof(fake_env) / sizeof(fake_env[0]); i++)
		if (strcmp(fake_env[i][0], name) == 0)
			return (char *)fake_env[i][1];
	return NULL;
}

START_TEST(test_config_env)
{
	struct probe_config c;
	char err[256] = "";
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	ck_assert_int_eq(probe_config_init(&c), 0);
	fake_env_bad = false;
	ck_assert_int_eq(probe_config_env(&c, fake_getenv, err, sizeof(err)), 0);
	/* SENTRACE_ wins over DD_. */
	ck_assert_str_eq(c.listen, "unix:/run/s.sock");
	ck_assert_uint_eq(c.policies.n, 2);
	ck_assert_str_eq(c.policies.v[1], "/b");
	ck_assert_uint_eq(c.disarm_max, 9);
	ck_assert_uint_eq(c.alerts.n, 2);
	ck_assert_str_eq(c.alerts.v[0], "syslog");
	ck_assert_int_eq(c.format, OUTPUT_TEXT);
	ck_assert(!c.enabled);
	ck_assert_uint_eq(c.kill_timeout_ns, 500000000ull);

	f = open_memstream(&text, &len);
	probe_config_print(&c, f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "runtime_security_config:\n  enabled: false\n"
				     "  ebpfless:\n    enabled: true\n"
				     "    socket: \"unix:/run/s.sock\"\n"
				     "    socket_mode: \"0660\"\n"
				     "    socket_group: \"\"\n"
				     "    token_file: \"\"\n"
				     "    handshake_timeout: 5s\n"
				     "    heartbeat_timeout: 30s\n"
				     "    session_idle_timeout: 600s\n"
				     "    process_table:\n"
				     "      max_entries: 65536\n"
				     "      max_bytes: 67108864\n"
				     "      total_max_entries: 262144\n"
				     "      total_max_bytes: 268435456\n"
				     "  policies:\n    dir: [\"/a\", \"/b\"]\n"));
	ck_assert_ptr_nonnull(strstr(text, "        max_allowed: 9\n        period: 60s\n"
				     "    kill_timeout: 500ms\n"
				     "  env_keep: [\"LD_PRELOAD\", \"LD_AUDIT\", \"LD_LIBRARY_PATH\", "
				     "\"GLIBC_TUNABLES\", \"PATH\"]\nalerts:\n"
				     "  outputs: [\"syslog\", \"-\"]\n"));
	free(text);

	fake_env_bad = true;
	ck_assert_int_eq(probe_config_env(&c, fake_getenv, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "SENTRACE_ALERTS_RATE") != NULL, "got %s", err);
	probe_config_fini(&c);
}
END_TEST

/* ---- server identity ---- */

static void pack_net(msgpack_packer *pk, const char *kind, int64_t pid, int64_t ret,
		     int64_t fd, int64_t family, int64_t type, int64_t port)
{
	msgpack_pack_map(pk, 8);
	wire_pack_kv_str(pk, "ev", kind);
	wire_pack_kv_u64(pk, "ts", T0);
	wire_pack_kv_i64(pk, "pid", pid);
	wire_pack_kv_i64(pk, "ret", ret);
	wire_pack_kv_i64(pk, "fd", fd);
	wire_pack_kv_i64(pk, "family", family);
	wire_pack_kv_i64(pk, "type", type);
	wire_pack_kv_i64(pk, "port", port);
}

static void net(struct proc_table *t, struct mp *m, const char *kind, int64_t pid,
		int64_t ret, int64_t fd, int64_t family, int64_t type, int64_t port)
{
	pack_net(&m->pk, kind, pid, ret, fd, family, type, port);
	apply(t, m);
}

/* The field of pid's entry, as a rule sees it. */
static const char *pid_field(struct proc_table *t, struct field_ctx *c, int64_t pid,
			     const char *name, char *buf, size_t len)
{
	field_ctx_reset(c, NULL, t, proc_table_get(t, pid), "");
	return get_str(c, name, buf, len);
}

START_TEST(test_server_identity)
{
	static const char *const srv[] = { "/tmp/x/worker", "-m", "http.server", NULL };
	static const char *const sh[] = { "sh", "-c", "id", NULL };
	struct field_ctx *c = malloc(sizeof(*c));
	struct proc_table *t;
	struct mp m;
	char buf[256];

	ck_assert_ptr_nonnull(c);
	mp_init(&m);
	field_ctx_init(c);
	ck_assert_int_eq(proc_table_new(1000, 1 << 20, &t), 0);
	pack_exec(&m.pk, 10, 1, "/tmp/x/worker", srv, T0);
	apply(t, &m);
	ck_assert_str_eq(pid_field(t, c, 10, "process.is_server", buf, sizeof(buf)), "0");
	ck_assert_str_eq(pid_field(t, c, 10, "process.names", buf, sizeof(buf)),
			 "worker,worker,worker");

	/* A unix listener is not a port; a TCP client is not a server. */
	net(t, &m, "socket", 10, 3, -1, AF_UNIX, SOCK_STREAM, 0);
	net(t, &m, "bind", 10, 0, 3, AF_UNIX, 0, 0);
	net(t, &m, "listen", 10, 0, 3, 0, 0, 0);
	net(t, &m, "socket", 10, 4, -1, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	net(t, &m, "connect", 10, 0, 4, AF_INET, 0, 80);
	/* A UDP socket bound to an ephemeral port (a resolver) neither. */
	net(t, &m, "socket", 10, 5, -1, AF_INET, SOCK_DGRAM, 0);
	net(t, &m, "bind", 10, 0, 5, AF_INET, 0, 0);
	ck_assert_str_eq(pid_field(t, c, 10, "process.is_server", buf, sizeof(buf)), "0");
	/* A failed listen changes nothing. */
	net(t, &m, "socket", 10, 6, -1, AF_INET6, SOCK_STREAM, 0);
	net(t, &m, "bind", 10, 0, 6, AF_INET6, 0, 8080);
	net(t, &m, "listen", 10, -98, 6, 0, 0, 0);
	ck_assert_str_eq(pid_field(t, c, 10, "process.is_server", buf, sizeof(buf)), "0");
	net(t, &m, "listen", 10, 0, 6, 0, 0, 0);
	ck_assert_str_eq(pid_field(t, c, 10, "process.is_server", buf, sizeof(buf)), "1");
	ck_assert_str_eq(pid_field(t, c, 10, "process.listen.ports", buf, sizeof(buf)),
			 "8080");
	net(t, &m, "socket", 10, 7, -1, AF_INET, SOCK_DGRAM, 0);
	net(t, &m, "bind", 10, 0, 7, AF_INET, 0, 5353);
	ck_assert_str_eq(pid_field(t, c, 10, "process.listen.ports", buf, sizeof(buf)),
			 "8080,5353");

	/* A pre-forked worker inherits the listener and, until it execs, the
	 * identity; its accept makes it a server of its own. */
	pack_fork(&m.pk, 10, 11, T0);
	apply(t, &m);
	ck_assert_str_eq(pid_field(t, c, 11, "process.is_server", buf, sizeof(buf)), "1");
	ck_assert(!proc_table_get(t, 11)->net.server);
	ck_assert_str_eq(pid_field(t, c, 11, "process.parent.is_server", buf, sizeof(buf)),
			 "1");
	net(t, &m, "accept", 11, 9, 6, AF_INET6, 0, 40000);
	ck_assert(proc_table_get(t, 11)->net.server);
	ck_assert_str_eq(pid_field(t, c, 11, "process.listen.ports", buf, sizeof(buf)),
			 "8080,5353");
	/* A fork of a server that execs something else is not a server. */
	pack_fork(&m.pk, 10, 13, T0);
	apply(t, &m);
	pack_exec(&m.pk, 13, 10, "/usr/bin/logger", sh, T0);
	apply(t, &m);
	ck_assert_str_eq(pid_field(t, c, 13, "process.is_server", buf, sizeof(buf)), "0");
	ck_assert_str_eq(pid_field(t, c, 13, "process.listen.ports", buf, sizeof(buf)), "");

	/* Its child renames itself and execs a shell: every name counts, the
	 * server is its parent and among its ancestors. */
	pack_fork(&m.pk, 11, 12, T0);
	apply(t, &m);
	pack_exec(&m.pk, 12, 11, "/bin/dash", sh, T0);
	apply(t, &m);
	proc_entry_set_comm(proc_table_get(t, 12), "kworker/0:1", 11);
	ck_assert_str_eq(pid_field(t, c, 12, "process.names", buf, sizeof(buf)),
			 "dash,sh,kworker/0:1");
	ck_assert_str_eq(pid_field(t, c, 12, "process.is_server", buf, sizeof(buf)), "0");
	ck_assert_str_eq(pid_field(t, c, 12, "process.parent.is_server", buf, sizeof(buf)),
			 "1");
	ck_assert_str_eq(pid_field(t, c, 12, "process.ancestors.is_server", buf, sizeof(buf)),
			 "1,1");
	ck_assert_str_eq(pid_field(t, c, 12, "process.ancestors.listen.ports", buf,
				   sizeof(buf)), "8080,5353,8080,5353");
	ck_assert_str_eq(pid_field(t, c, 12, "process.parent.names", buf, sizeof(buf)),
			 "worker,worker,worker");

	/* accept(fd, NULL, NULL) has no peer family: an fd we know counts,
	 * an unknown one (a unix listener, maybe) does not. */
	pack_fork(&m.pk, 10, 14, T0);
	apply(t, &m);
	pack_exec(&m.pk, 14, 10, "/usr/sbin/worker", sh, T0);
	apply(t, &m);
	pack_net(&m.pk, "accept", 14, 30, 77, -1, 0, 0);
	apply(t, &m);
	ck_assert_str_eq(pid_field(t, c, 14, "process.is_server", buf, sizeof(buf)), "0");
	pack_net(&m.pk, "accept", 14, 31, 6, -1, 0, 0);
	apply(t, &m);
	ck_assert_str_eq(pid_field(t, c, 14, "process.is_server", buf, sizeof(buf)), "1");
	ck_assert_str_eq(pid_field(t, c, 14, "process.listen.ports", buf, sizeof(buf)), "8080");

	/* A bind shell: the process that accepted execs the shell itself. */
	net(t, &m, "accept", 12, 4, 99, AF_INET, 0, 1234);
	pack_exec(&m.pk, 12, 11, "/bin/bash", sh, T0);
	apply(t, &m);
	ck_assert_str_eq(pid_field(t, c, 12, "process.is_server", buf, sizeof(buf)), "1");
	ck_assert_str_eq(pid_field(t, c, 12, "process.listen.ports", buf, sizeof(buf)), "");

	/* Bounded: at most PROC_PORTS_MAX ports. */
	for (int i = 0; i < 3 * PROC_PORTS_MAX; i++) {
		net(t, &m, "socket", 10, 20 + i, -1, AF_INET, SOCK_STREAM, 0);
		net(t, &m, "bind", 10, 0, 20 + i, AF_INET, 0, 9000 + i);
		net(t, &m, "listen", 10, 0, 20 + i, 0, 0, 0);
	}
	ck_assert_uint_eq(proc_table_get(t, 10)->net.nports, PROC_PORTS_MAX);
	ck_assert(proc_table_get(t, 10)->net.ports_dropped);

	field_ctx_fini(c);
	free(c);
	proc_table_free(t);
	mp_fini(&m);
}
END_TEST

static Suite *detect_suite(void)
{
	Suite *s = suite_create("probe-detect");
	TCase *tc;

	tc = tcase_create("resolver");
	tcase_add_test(tc, test_resolver_tree);
	tcase_add_test(tc, test_resolver_snapshot);
	tcase_add_test(tc, test_resolver_prune_bound);
	tcase_add_test(tc, test_resolver_daemon);
	tcase_add_test(tc, test_resolver_evict_leaves_first);
	tcase_add_test(tc, test_resolver_evict_long_chain_last);
	tcase_add_test(tc, test_registry_reconnect);
	suite_add_tcase(s, tc);
	tc = tcase_create("getter");
	tcase_add_test(tc, test_getter);
	tcase_add_test(tc, test_server_identity);
	tcase_add_test(tc, test_record_schema);
	tcase_add_test(tc, test_record_types);
	tcase_add_test(tc, test_record_arrays);
	tcase_add_test(tc, test_record_missing_and_repeated);
	suite_add_tcase(s, tc);
	tc = tcase_create("alerts");
	tcase_add_test(tc, test_alert_json);
	tcase_add_test(tc, test_alert_text);
	tcase_add_test(tc, test_limiter);
	suite_add_tcase(s, tc);
	tc = tcase_create("kill");
	tcase_add_test(tc, test_kill_result);
	tcase_add_test(tc, test_disarmer);
	suite_add_tcase(s, tc);
	tc = tcase_create("reload");
	tcase_add_test(tc, test_reload);
	suite_add_tcase(s, tc);
	tc = tcase_create("delivery");
	tcase_add_test(tc, test_ack_duplicates);
	tcase_add_test(tc, test_session_invalid_values);
	suite_add_tcase(s, tc);
	tc = tcase_create("config_env");
	tcase_add_test(tc, test_config_env);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(detect_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
