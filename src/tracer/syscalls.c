/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The monitored system calls and their decoders. A decoder runs at the
 * seccomp (or entry) stop and reads what the tracee passed, because pointers
 * may be reused by the time the call returns; the exit stop adds the result
 * and what the kernel wrote back (accept's peer address).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/net.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "arch.h"
#include "log.h"
#include "container.h"
#include "idnames.h"
#include "mem.h"
#include "procsnap.h"
#include "stdstreams.h"
#include "syscalls.h"
#include "tracee.h"
#include "tracer.h"
#include "util.h"

/* Caps on what an exec event carries; more is cut and flagged. */
#define EXEC_ARGV_MAX       1024
#define EXEC_ARGV_BYTES     (32u * 1024)
#define EXEC_ENVP_MAX       256
#define EXEC_ENVP_BYTES     (16u * 1024)
#define SOCKADDR_MAX        128
#define SIN6_LEN_RFC2133    24
#define MODULE_SCAN_MAX     (4u << 20)

/* Scratch for one decode at a time: the tracer is single-threaded. */
static char path_a[SENTRACE_PATH_MAX], path_b[SENTRACE_PATH_MAX];
static char raw[SENTRACE_PATH_MAX];

static int arg_int(const struct sc_ctx *c, int pos)
{
	return (int)(int32_t)c->a[pos];
}

/* A uid/gid argument as the probe should see it: -1 means "unchanged". */
static int64_t arg_id(const struct sc_ctx *c, int pos)
{
	if ((c->d->flags & SC_UID16) && c->compat) {
		uint16_t v = (uint16_t)c->a[pos];

		return v == 0xffff ? -1 : v;
	}
	return (int32_t)(uint32_t)c->a[pos];
}

static void note_decode_error(struct sc_ctx *c, const char *what, int r)
{
	c->tr->stats.decode_errors++;
	log_debug("tid %d %s: cannot read %s: %s", (int)c->t->tid, c->d->name,
		  what, strerror(-r));
}

/* key, and key_truncated when the value is not all of it. */
static void put_str_cut_e(struct evbuf *e, const char *key, const char *val,
			  bool cut)
{
	char tkey[64];

	ev_str(e, key, val);
	if (cut) {
		snprintf(tkey, sizeof(tkey), "%s_truncated", key);
		ev_bool(e, tkey, true);
	}
}

static void put_str_cut(struct sc_ctx *c, const char *key, const char *val,
			bool cut)
{
	put_str_cut_e(c->e, key, val, cut);
}

/* The string at argument pos into raw; *cut when longer than 4 KiB. */
static int read_raw(struct sc_ctx *c, int pos, bool *cut)
{
	int r = mem_read_str(c->t->tid, c->a[pos], raw, sizeof(raw), cut);

	if (r < 0)
		note_decode_error(c, "path", r);
	return r;
}

/*
 * The name of raw (relative to dirfd) as the kernel finds it: the
 * directory looked up through the kernel, never folded as a string, so a
 * symlink followed by ".." lands where the kernel lands. Only when that
 * fails (the directory does not exist, a 4 KiB limit) is the name folded
 * as given; *cut then says when it is not a whole absolute path (a cwd
 * longer than 4 KiB leaves it relative).
 */
static void resolve_raw(struct sc_ctx *c, int dirfd, bool follow, char *out,
			size_t cap, bool *cut)
{
	int r = path_kernel(c->t->tid, dirfd, raw, follow, out, cap);

	if (r == 0)
		return;
	if (path_resolve(c->t->tid, dirfd, raw, out, cap) < 0 || out[0] != '/')
		*cut = true;
}

/*
 * Reads the path at argument ppos (relative to the fd at dpos, or the cwd
 * when dpos < 0) into out, resolved by the kernel; follow when the call
 * follows a symlink in the last component.
 */
static int read_path(struct sc_ctx *c, int dpos, int ppos, bool follow,
		     char *out, size_t cap, bool *cut)
{
	int dirfd = dpos < 0 ? AT_FDCWD : arg_int(c, dpos);
	int r = read_raw(c, ppos, cut);

	if (r < 0)
		return r;
	resolve_raw(c, dirfd, follow, out, cap, cut);
	return 0;
}

static void put_path_f(struct sc_ctx *c, const char *key, int dpos, int ppos,
		       bool follow)
{
	int dirfd = dpos < 0 ? AT_FDCWD : arg_int(c, dpos);
	char rkey[40];
	bool cut = false;
	int r;

	if (read_path(c, dpos, ppos, follow, path_a, sizeof(path_a), &cut) < 0)
		return;
	put_str_cut(c, key, path_a, cut);
	/* What was asked for, when the kernel's name differs (a magic
	 * link, a symlink): rules on /proc/self/fd/… need it. */
	r = path_resolve(c->t->tid, dirfd, raw, path_b, sizeof(path_b));
	if (strcmp(path_a, path_b) != 0) {
		snprintf(rkey, sizeof(rkey), "requested_%s", key);
		put_str_cut(c, rkey, path_b, cut || r < 0 || path_b[0] != '/');
	}
}

/* Calls that act on the name itself (unlink, mkdir, rename…). */
static void put_path(struct sc_ctx *c, const char *key, int dpos, int ppos)
{
	put_path_f(c, key, dpos, ppos, false);
}

static void put_fd_path(struct sc_ctx *c, const char *key, int fd)
{
	int r = proc_fd_path(c->t->tid, fd, path_a, sizeof(path_a));

	if (r > 0 || (r == -ENAMETOOLONG && path_a[0]))
		put_str_cut(c, key, path_a, r < 0);
}

/* --- files ------------------------------------------------------------- */

/*
 * Opens: the entry keeps the name as given; the exit reports the file the
 * kernel opened, /proc/TID/fd/<ret>, which no symlink, "..", magic link or
 * thread rewriting the string can disguise. What was asked for stays as
 * requested_path when it differs.
 */
struct open_hold {
	int dirfd;
	int flags;
	bool cut;
	char raw[];
};

static void hold_open(struct sc_ctx *c, int dirfd, int ppos, int flags)
{
	struct open_hold *h;
	bool cut = false;
	int r = read_raw(c, ppos, &cut);

	if (r < 0)
		return;
	c->t->hold = malloc(sizeof(*h) + (size_t)r + 1);
	if (!c->t->hold)
		return;
	h = (struct open_hold *)c->t->hold;
	h->dirfd = dirfd;
	h->flags = flags;
	h->cut = cut;
	memcpy(h->raw, raw, (size_t)r + 1);
}

static void exit_open(struct sc_ctx *c, int64_t ret)
{
	struct open_hold *h = (struct open_hold *)c->t->hold;
	bool cut, have = false;
	int r;

	if (!h)
		return;
	cut = h->cut;
	snprintf(raw, sizeof(raw), "%s", h->raw);
	if (ret >= 0 && ret <= INT32_MAX) {
		/* Above 4 KiB the kernel cannot name it either: then below. */
		r = proc_fd_path(c->t->tid, (int)ret, path_a, sizeof(path_a));
		have = r > 0;
	}
	if (!have)
		resolve_raw(c, h->dirfd,
			    !(h->flags & O_NOFOLLOW) &&
			    (h->flags & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL),
			    path_a, sizeof(path_a), &cut);
	else
		cut = false;
	put_str_cut(c, "path", path_a, cut);
	r = path_resolve(c->t->tid, h->dirfd, raw, path_b, sizeof(path_b));
	if (strcmp(path_a, path_b) != 0)
		put_str_cut(c, "requested_path", path_b,
			    h->cut || r < 0 || path_b[0] != '/');
	free(c->t->hold);
	c->t->hold = NULL;
}

/* p: dirfd, path, flags, mode */
static int dec_open(struct sc_ctx *c)
{
	const int8_t *p = c->d->p;

	hold_open(c, p[0] < 0 ? AT_FDCWD : arg_int(c, p[0]), p[1],
		  arg_int(c, p[2]));
	ev_i64(c->e, "flags", arg_int(c, p[2]));
	ev_u64(c->e, "mode", (uint32_t)c->a[p[3]]);
	return 0;
}

static int dec_creat(struct sc_ctx *c)
{
	hold_open(c, AT_FDCWD, 0, O_CREAT | O_WRONLY | O_TRUNC);
	ev_i64(c->e, "flags", O_CREAT | O_WRONLY | O_TRUNC);
	ev_u64(c->e, "mode", (uint32_t)c->a[1]);
	return 0;
}

static int dec_openat2(struct sc_ctx *c)
{
	uint64_t how[3] = { 0, 0, 0 }; /* flags, mode, resolve */
	size_t size = c->a[3] < sizeof(how) ? c->a[3] : sizeof(how);
	int r;

	r = mem_read(c->t->tid, c->a[2], how, size);
	hold_open(c, arg_int(c, 0), 1, (int)how[0]);
	if (r < 0) {
		note_decode_error(c, "open_how", r);
		return 0;
	}
	ev_i64(c->e, "flags", (int64_t)how[0]);
	ev_u64(c->e, "mode", how[1]);
	return 0;
}

/* p: dirfd, path; any further position is "flags" */
static int dec_path(struct sc_ctx *c)
{
	const int8_t *p = c->d->p;

	if (c->d->kind == EV_UTIMES && p[0] >= 0 && c->a[p[1]] == 0) {
		/* utimensat(fd, NULL, …) changes the file behind fd. */
		ev_i64(c->e, "fd", arg_int(c, p[0]));
		put_fd_path(c, "path", arg_int(c, p[0]));
		return 0;
	}
	/* utime(s) follow a symlink, utimensat unless told not to. */
	put_path_f(c, "path", p[0], p[1], c->d->kind == EV_UTIMES &&
		   !(p[2] >= 0 && (arg_int(c, p[2]) & AT_SYMLINK_NOFOLLOW)));
	if (p[2] >= 0)
		ev_i64(c->e, "flags", arg_int(c, p[2]));
	return 0;
}

static int dec_unlinkat(struct sc_ctx *c)
{
	int flags = arg_int(c, 2);

	if (flags & AT_REMOVEDIR) {
		/* Reported as rmdir: same thing for a rule writer. */
		ev_begin(c->e, EV_RMDIR, c->d->name, c->t->tgid, c->t->tid,
			 c->compat);
	}
	put_path(c, "path", 0, 1);
	ev_i64(c->e, "flags", flags);
	return 0;
}

/* p: olddirfd, old, newdirfd, new, flags */
static int dec_two_paths(struct sc_ctx *c)
{
	const int8_t *p = c->d->p;

	put_path(c, "path", p[0], p[1]);
	put_path(c, "dest", p[2], p[3]);
	ev_i64(c->e, "flags", p[4] >= 0 ? arg_int(c, p[4]) : 0);
	return 0;
}

/* p: target, newdirfd, linkpath */
static int dec_symlink(struct sc_ctx *c)
{
	const int8_t *p = c->d->p;
	bool cut = false;
	int r = mem_read_str(c->t->tid, c->a[p[0]], path_b, sizeof(path_b), &cut);

	/* The target is a string the kernel stores, not a lookup. */
	if (r >= 0)
		put_str_cut(c, "target", path_b, cut);
	else
		note_decode_error(c, "target", r);
	put_path(c, "path", p[1], p[2]);
	return 0;
}

/* p: dirfd, path, mode */
static int dec_path_mode(struct sc_ctx *c)
{
	const int8_t *p = c->d->p;

	put_path_f(c, "path", p[0], p[1], c->d->kind == EV_CHMOD);
	ev_u64(c->e, "mode", (uint32_t)c->a[p[2]]);
	return 0;
}

static int dec_fchmod(struct sc_ctx *c)
{
	ev_i64(c->e, "fd", arg_int(c, 0));
	put_fd_path(c, "path", arg_int(c, 0));
	ev_u64(c->e, "mode", (uint32_t)c->a[1]);
	return 0;
}

/* p: dirfd, path, uid, gid, flags */
static int dec_chown(struct sc_ctx *c)
{
	const int8_t *p = c->d->p;
	int flags = p[4] >= 0 ? arg_int(c, p[4]) : 0;

	if (p[1] < 0) {
		/* fchown(fd, …) */
		ev_i64(c->e, "fd", arg_int(c, p[0]));
		put_fd_path(c, "path", arg_int(c, p[0]));
	} else {
		put_path_f(c, "path", p[0], p[1], strcmp(c->d->name, "lchown") &&
			   strcmp(c->d->name, "lchown32") &&
			   !(flags & AT_SYMLINK_NOFOLLOW));
	}
	ev_i64(c->e, "uid", arg_id(c, p[2]));
	ev_i64(c->e, "gid", arg_id(c, p[3]));
	if (p[4] >= 0)
		ev_i64(c->e, "flags", flags);
	return 0;
}

static int dec_truncate(struct sc_ctx *c)
{
	int64_t len;

	if (!c->compat)
		len = (int64_t)c->a[1];
	else if (strcmp(c->d->name, "truncate64") == 0)
		/* The 32-bit ABI splits a 64-bit length over two registers. */
		len = (int64_t)(c->a[1] | c->a[2] << 32);
	else
		len = (int32_t)c->a[1];
	put_path_f(c, "path", -1, 0, true);
	ev_i64(c->e, "length", len);
	return 0;
}

static int dec_mount(struct sc_ctx *c)
{
	int r;

	/* The source is not always a path ("tmpfs", "proc"): kept verbatim. */
	if (c->a[0]) {
		bool cut = false;

		r = mem_read_str(c->t->tid, c->a[0], path_b, sizeof(path_b), &cut);
		if (r >= 0)
			put_str_cut(c, "source", path_b, cut);
	}
	put_path_f(c, "target", -1, 1, true);
	if (c->a[2]) {
		r = mem_read_str(c->t->tid, c->a[2], raw, sizeof(raw), NULL);
		if (r >= 0)
			ev_str(c->e, "fstype", raw);
	}
	ev_u64(c->e, "flags", c->compat ? (uint32_t)c->a[3] : c->a[3]);
	return 0;
}

static int dec_umount(struct sc_ctx *c)
{
	put_path_f(c, "target", -1, 0, true);
	ev_i64(c->e, "flags", c->d->p[1] >= 0 ? arg_int(c, c->d->p[1]) : 0);
	return 0;
}

static int dec_chdir(struct sc_ctx *c)
{
	put_path_f(c, "path", -1, 0, true);
	return 0;
}

static int dec_fchdir(struct sc_ctx *c)
{
	ev_i64(c->e, "fd", arg_int(c, 0));
	put_fd_path(c, "path", arg_int(c, 0));
	return 0;
}

static int dec_memfd(struct sc_ctx *c)
{
	int r = mem_read_str(c->t->tid, c->a[0], raw, 256, NULL);

	if (r >= 0)
		ev_str(c->e, "name", raw);
	else
		note_decode_error(c, "name", r);
	ev_u64(c->e, "flags", (uint32_t)c->a[1]);
	return 0;
}

/* --- credentials, capabilities, modules, misc ---------------------------- */

static int dec_setid(struct sc_ctx *c)
{
	for (int i = 0; i < 4 && c->d->keys[i]; i++)
		ev_i64(c->e, c->d->keys[i], arg_id(c, i));
	return 0;
}

static int dec_capset(struct sc_ctx *c)
{
	struct { uint32_t version; int32_t pid; } hdr;
	struct { uint32_t eff, perm, inh; } data[2];
	unsigned n;

	memset(data, 0, sizeof(data));
	if (mem_read(c->t->tid, c->a[0], &hdr, sizeof(hdr)) < 0) {
		note_decode_error(c, "cap header", -EFAULT);
		return 0;
	}
	ev_u64(c->e, "version", hdr.version);
	ev_i64(c->e, "target", hdr.pid);
	/* Version 1 has one 32-bit set; versions 2 and 3 have two. */
	n = hdr.version == 0x19980330 ? 1 : 2;
	if (mem_read(c->t->tid, c->a[1], data, n * sizeof(data[0])) < 0) {
		note_decode_error(c, "cap data", -EFAULT);
		return 0;
	}
	ev_u64(c->e, "effective", data[0].eff | (uint64_t)data[1].eff << 32);
	ev_u64(c->e, "permitted", data[0].perm | (uint64_t)data[1].perm << 32);
	ev_u64(c->e, "inheritable", data[0].inh | (uint64_t)data[1].inh << 32);
	return 0;
}

/* The module name from the image's .modinfo ("name=…" after a NUL). */
static void module_name_from_image(struct sc_ctx *c, uint64_t addr, uint64_t len)
{
	size_t n = len < MODULE_SCAN_MAX ? (size_t)len : MODULE_SCAN_MAX;
	char *img, *p, *end;

	if (n < 8 || !(img = malloc(n + 1)))
		return;
	if (mem_read(c->t->tid, addr, img, n) == 0) {
		img[n] = '\0';
		end = img + n;
		for (p = img; p + 6 < end; p++) {
			p = memchr(p, 'n', (size_t)(end - p));
			if (!p || p + 5 >= end)
				break;
			if (p > img && p[-1] == '\0' && memcmp(p, "name=", 5) == 0 &&
			    p[5] != '\0') {
				ev_strn(c->e, "name", p + 5, strnlen(p + 5,
					(size_t)(end - p - 5)));
				break;
			}
		}
	}
	free(img);
}

static int dec_init_module(struct sc_ctx *c)
{
	bool cut = false;
	int r;

	module_name_from_image(c, c->a[0], c->a[1]);
	ev_u64(c->e, "size", c->a[1]);

	r = mem_read_str(c->t->tid, c->a[2], raw, sizeof(raw), &cut);
	if (r >= 0)
		put_str_cut(c, "args", raw, cut);
	ev_bool(c->e, "from_memory", true);
	return 0;
}

static int dec_finit_module(struct sc_ctx *c)
{
	bool cut = false;
	int r;

	ev_i64(c->e, "fd", arg_int(c, 0));
	put_fd_path(c, "path", arg_int(c, 0));
	r = mem_read_str(c->t->tid, c->a[1], raw, sizeof(raw), &cut);
	if (r >= 0)
		put_str_cut(c, "args", raw, cut);
	ev_i64(c->e, "flags", arg_int(c, 2));
	ev_bool(c->e, "from_memory", false);
	return 0;
}

static int dec_delete_module(struct sc_ctx *c)
{
	int r = mem_read_str(c->t->tid, c->a[0], raw, 256, NULL);

	if (r >= 0)
		ev_str(c->e, "name", raw);
	else
		note_decode_error(c, "name", r);
	ev_i64(c->e, "flags", arg_int(c, 1));
	return 0;
}

static int dec_bpf(struct sc_ctx *c)
{
	ev_i64(c->e, "cmd", arg_int(c, 0));
	return 0;
}

static int dec_seccomp_filter(struct sc_ctx *c, uint64_t fprog, unsigned flags);

static int dec_prctl(struct sc_ctx *c)
{
	char name[16]; /* TASK_COMM_LEN: the kernel keeps 15 bytes */
	int option = arg_int(c, 0);
	int r;

	/* Only these are filtered; --disable-seccomp sees them all. */
	if (option == PR_SET_SECCOMP) {
		ev_begin(c->e, EV_SECCOMP, c->d->name, c->t->tgid, c->t->tid,
			 c->compat);
		if (arg_int(c, 1) == SECCOMP_MODE_STRICT) {
			ev_str(c->e, "operation", "strict");
			return 0;
		}
		return dec_seccomp_filter(c, c->a[2], 0);
	}
	if (option == PR_SET_NO_NEW_PRIVS) {
		ev_i64(c->e, "option", option);
		ev_i64(c->e, "value", (int64_t)c->a[1]);
		return 0;
	}
	if (option != PR_SET_NAME)
		return SC_SKIP;
	ev_i64(c->e, "option", PR_SET_NAME);
	r = mem_read_str(c->t->tid, c->a[1], name, sizeof(name), NULL);
	if (r >= 0)
		ev_str(c->e, "name", name);
	return 0;
}

/* --- seccomp filters of the tracee --------------------------------------- */

#define FILTER_INSNS_MAX 4096 /* BPF_MAXINSNS: the kernel refuses more */

/* The action names of the seccomp_ret values, in the order reported. */
static const struct {
	uint32_t action;
	const char *name;
} filter_actions[] = {
	{ SECCOMP_RET_ALLOW, "allow" },
	{ SECCOMP_RET_LOG, "log" },
	{ SECCOMP_RET_TRACE, "trace" },
	{ SECCOMP_RET_USER_NOTIF, "user_notif" },
	{ SECCOMP_RET_ERRNO, "errno" },
	{ SECCOMP_RET_TRAP, "trap" },
	{ SECCOMP_RET_KILL_THREAD, "kill_thread" },
	{ SECCOMP_RET_KILL_PROCESS, "kill_process" },
};

/*
 * The set of actions the tracee's filter can return, from its RET
 * instructions: a filter returning TRACE or USER_NOTIF can take calls away
 * from our stops (docs/security.md). A RET of the accumulator can return
 * anything: "unknown". The program is read as it is at the stop; a thread
 * that rewrites it before the kernel copies it wins (docs/security.md).
 */
static int dec_seccomp_filter(struct sc_ctx *c, uint64_t fprog, unsigned flags)
{
	static struct sock_filter insns[FILTER_INSNS_MAX];
	uint64_t prog_ptr;
	uint16_t len;
	uint32_t seen = 0;
	bool unknown = false;
	unsigned n = 0;
	int r;

	ev_str(c->e, "operation", "filter");
	ev_i64(c->e, "flags", flags);
#ifdef SECCOMP_FILTER_FLAG_NEW_LISTENER
	ev_bool(c->e, "new_listener", (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) != 0);
#endif
	/* struct sock_fprog: u16 len, then the pointer at the ABI's alignment. */
	if (c->compat) {
		uint32_t f[2];

		r = mem_read(c->t->tid, fprog, f, sizeof(f));
		len = (uint16_t)f[0];
		prog_ptr = f[1];
	} else {
		uint64_t f[2];

		r = mem_read(c->t->tid, fprog, f, sizeof(f));
		len = (uint16_t)f[0];
		prog_ptr = f[1];
	}
	if (r < 0) {
		note_decode_error(c, "sock_fprog", r);
		return 0;
	}
	ev_i64(c->e, "instructions", len);
	if (len == 0 || len > FILTER_INSNS_MAX)
		return 0; /* the kernel refuses it: EINVAL */
	r = mem_read(c->t->tid, prog_ptr, insns, len * sizeof(insns[0]));
	if (r < 0) {
		note_decode_error(c, "filter", r);
		return 0;
	}
	for (unsigned i = 0; i < len; i++) {
		uint32_t act;

		if (BPF_CLASS(insns[i].code) != BPF_RET)
			continue;
		if (BPF_RVAL(insns[i].code) != BPF_K) {
			unknown = true;
			continue;
		}
		act = insns[i].k & SECCOMP_RET_ACTION_FULL;
		for (n = 0; n < ARRAY_SIZE(filter_actions); n++)
			if (filter_actions[n].action == act)
				break;
		/* The kernel kills the process on an action it does not know:
		 * that counts as kill_process, the last entry. */
		if (n == ARRAY_SIZE(filter_actions))
			n--;
		seen |= 1u << n;
	}
	n = (unsigned)__builtin_popcount(seen) + unknown;
	ev_key(c->e, "actions");
	msgpack_pack_array(&c->e->pk, n);
	for (unsigned i = 0; i < ARRAY_SIZE(filter_actions); i++)
		if (seen & (1u << i))
			wire_pack_strn(&c->e->pk, filter_actions[i].name,
				       strlen(filter_actions[i].name));
	if (unknown)
		wire_pack_strn(&c->e->pk, "unknown", 7);
	return 0;
}

/* seccomp(op, flags, args): the operations that install something. */
static int dec_seccomp(struct sc_ctx *c)
{
	switch ((uint32_t)c->a[0]) {
	case SECCOMP_SET_MODE_STRICT:
		ev_str(c->e, "operation", "strict");
		return 0;
	case SECCOMP_SET_MODE_FILTER:
		return dec_seccomp_filter(c, c->a[2], (uint32_t)c->a[1]);
	default:
		return SC_SKIP; /* queries: GET_ACTION_AVAIL, GET_NOTIF_SIZES */
	}
}

/* --- refusing a call -------------------------------------------------------- */

/*
 * Refuses the call at its stop with err: the kernel skips it, and the exit
 * stop sets the result again (stops.c). The event says so.
 */
static int refuse(struct sc_ctx *c, int err)
{
	int r = arch_refuse_syscall(c->t->tid, -err);

	if (r < 0) {
		log_warn("tid %d: cannot refuse %s: %s", (int)c->t->tid,
			 c->d->name, strerror(-r));
		return r;
	}
	c->t->refused = err;
	ev_bool(c->e, "refused", true);
	return 0;
}

/* --- io_uring ------------------------------------------------------------ */

static int dec_io_uring_setup(struct sc_ctx *c)
{
	uint32_t params[3]; /* sq_entries, cq_entries, flags */

	ev_i64(c->e, "entries", (uint32_t)c->a[0]);
	if (mem_read(c->t->tid, c->a[1], params, sizeof(params)) == 0)
		ev_i64(c->e, "flags", params[2]);
	else
		note_decode_error(c, "io_uring_params", -EFAULT);
	/* With the filter, --deny-io-uring never lets the call stop. */
	if (c->tr->opts.deny_io_uring)
		refuse(c, ENOSYS);
	return 0;
}

static int dec_io_uring_enter(struct sc_ctx *c)
{
	ev_i64(c->e, "fd", arg_int(c, 0));
	ev_i64(c->e, "to_submit", (uint32_t)c->a[1]);
	ev_i64(c->e, "flags", (uint32_t)c->a[3]);
	return 0;
}

static int dec_io_uring_register(struct sc_ctx *c)
{
	ev_i64(c->e, "fd", arg_int(c, 0));
	ev_i64(c->e, "opcode", (uint32_t)c->a[1]);
	return 0;
}

/* --- calls aimed at the tracer --------------------------------------------- */

/* Is tid the tracer or one of its threads, as the tracee names it? */
static bool is_tracer_tid(const struct sc_ctx *c, pid_t tid)
{
	char path[64];
	struct stat a, b;

	if (tid <= 0)
		return false;
	if (tid != getpid()) {
		snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tid);
		if (stat(path, &b) < 0)
			return false;
	}
	/* A tracee in a pid namespace of its own cannot name us: the same
	 * number is one of its own processes there. */
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)c->t->tid);
	if (stat(path, &a) < 0 || stat("/proc/self/ns/pid", &b) < 0)
		return true;
	return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/*
 * Would sig stop or end the tracer? SIGKILL and SIGSTOP always; the signals
 * it blocks (read from the signalfd, forwarded to CMD), ignores or handles
 * do not, and neither do those whose default is to be ignored.
 */
static bool signal_harms_tracer(int sig)
{
	struct sigaction sa;
	sigset_t mask;

	if (sig == SIGKILL || sig == SIGSTOP)
		return true;
	if (sig <= 0 || sig >= NSIG || sig == SIGCHLD || sig == SIGCONT ||
	    sig == SIGURG || sig == SIGWINCH)
		return false;
	if (sigprocmask(SIG_BLOCK, NULL, &mask) == 0 && sigismember(&mask, sig) == 1)
		return false;
	if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL)
		return false;
	return true;
}

/* Turns the pending event into a tracer_tamper and refuses the call. */
static int tamper(struct sc_ctx *c, int64_t target)
{
	ev_begin(c->e, EV_TRACER_TAMPER, c->d->name, c->t->tgid, c->t->tid,
		 c->compat);
	ev_i64(c->e, "target", target);
	if (refuse(c, EPERM) < 0)
		return SC_SKIP; /* the call goes through: nothing refused */
	return 0;
}

static int dec_ptrace(struct sc_ctx *c)
{
	int request = arg_int(c, 0);

	/* PTRACE_TRACEME names no process: our tracee's fails anyway. */
	if (request != PTRACE_TRACEME && is_tracer_tid(c, arg_int(c, 1))) {
		int r = tamper(c, arg_int(c, 1));

		ev_i64(c->e, "request", request);
		return r;
	}
	ev_i64(c->e, "request", request);
	ev_i64(c->e, "target", arg_int(c, 1));
	return 0;
}

/*
 * kill(pid, sig): a signal to our pid is refused whatever it is (0 only
 * asks whether we exist); one to a group we are in (0, -pgrp, -1) only when
 * it would stop or kill us, since a script's `kill 0` is ordinary.
 */
static int dec_kill(struct sc_ctx *c)
{
	pid_t pid = arg_int(c, 0);
	int sig = arg_int(c, 1);
	bool hit = false;
	int r;

	if (sig == 0)
		return SC_SKIP;
	if (pid > 0) {
		/* kill() of any of our tids signals the whole tracer. */
		hit = is_tracer_tid(c, pid);
	} else if (signal_harms_tracer(sig)) {
		if (pid == 0)
			hit = getpgid(c->t->tgid) == getpgrp();
		else if (pid == -1)
			hit = getpid() != 1 && is_tracer_tid(c, getpid());
		else if (pid != INT_MIN) /* the kernel says ESRCH to that one */
			hit = -pid == getpgrp() && is_tracer_tid(c, getpid());
	}
	if (!hit)
		return SC_SKIP;
	r = tamper(c, pid);
	ev_i64(c->e, "signal", sig);
	return r;
}

/* p: tgid (or N), tid, sig: tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo */
static int dec_tkill(struct sc_ctx *c)
{
	const int8_t *p = c->d->p;
	pid_t tid = arg_int(c, p[1]);
	int sig = arg_int(c, p[2]);
	int r;

	if (sig == 0 || !is_tracer_tid(c, tid))
		return SC_SKIP;
	r = tamper(c, tid);
	ev_i64(c->e, "signal", sig);
	return r;
}

/* The pid behind a pidfd of tid, from its fdinfo's "Pid:" line; 0 if none. */
static pid_t pidfd_pid(pid_t tid, int fd)
{
	char what[48], buf[1024];
	const char *p;
	int n;

	snprintf(what, sizeof(what), "fdinfo/%d", fd);
	n = proc_read_file(tid, what, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nPid:");
	return p ? (pid_t)strtol(p + 5, NULL, 10) : 0;
}

/*
 * pidfd_send_signal(pidfd, sig, …) and pidfd_getfd(pidfd, fd, …) on a pidfd
 * of ours: a signal, or a copy of one of our descriptors (the probe's
 * socket, to forge events with).
 */
static int dec_pidfd(struct sc_ctx *c)
{
	bool is_signal = c->d->p[0] == 1;
	pid_t pid = pidfd_pid(c->t->tid, arg_int(c, 0));
	char path[64];
	struct stat st;
	int r;

	/* fdinfo shows the pid in our own namespace: no translation. */
	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)pid);
	if ((is_signal && arg_int(c, 1) == 0) || pid <= 0 ||
	    (pid != getpid() && stat(path, &st) < 0))
		return SC_SKIP;
	r = tamper(c, pid);
	ev_i64(c->e, is_signal ? "signal" : "fd", arg_int(c, 1));
	return r;
}

/* process_vm_readv/writev(pid, …): our memory is not the tracee's to touch. */
static int dec_process_vm(struct sc_ctx *c)
{
	pid_t pid = arg_int(c, 0);

	if (!is_tracer_tid(c, pid))
		return SC_SKIP;
	return tamper(c, pid);
}

/* --- network -------------------------------------------------------------- */

static void put_sockaddr(struct sc_ctx *c, uint64_t addr, uint64_t len)
{
	unsigned char buf[SOCKADDR_MAX];
	char ip[INET6_ADDRSTRLEN];
	uint16_t family;
	size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);

	if (addr == 0 || n < sizeof(family))
		return;
	if (mem_read(c->t->tid, addr, buf, n) < 0) {
		note_decode_error(c, "sockaddr", -EFAULT);
		return;
	}
	memcpy(&family, buf, sizeof(family));
	ev_i64(c->e, "family", family);
	if (family == AF_INET && n >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;

		memcpy(&sin, buf, sizeof(sin));
		inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof(ip));
		ev_str(c->e, "addr", ip);
		ev_i64(c->e, "port", ntohs(sin.sin_port));
	} else if (family == AF_INET6 && n >= SIN6_LEN_RFC2133) {
		struct sockaddr_in6 sin6;

		/* The kernel takes the old 24-byte form without a scope id. */
		memset(&sin6, 0, sizeof(sin6));
		memcpy(&sin6, buf, n < sizeof(sin6) ? n : sizeof(sin6));
		inet_ntop(AF_INET6, &sin6.sin6_addr, ip, sizeof(ip));
		ev_str(c->e, "addr", ip);
		ev_i64(c->e, "port", ntohs(sin6.sin6_port));
	} else if (family == AF_UNIX && n > sizeof(family)) {
		const char *sun = (const char *)buf + sizeof(family);
		size_t plen = n - sizeof(family);

		if (sun[0] == '\0') {
			/* Abstract: every byte of the given length counts. */
			char name[SOCKADDR_MAX + 1];

			name[0] = '@';
			memcpy(name + 1, sun + 1, plen - 1);
			ev_strn(c->e, "path", name, plen);
		} else {
			ev_strn(c->e, "path", sun, strnlen(sun, plen));
		}
	}
}

static int dec_socket(struct sc_ctx *c)
{
	ev_i64(c->e, "family", arg_int(c, 0));
	ev_i64(c->e, "type", arg_int(c, 1));
	ev_i64(c->e, "protocol", arg_int(c, 2));
	return 0;
}

static int dec_bind_connect(struct sc_ctx *c)
{
	ev_i64(c->e, "fd", arg_int(c, 0));
	put_sockaddr(c, c->a[1], (uint32_t)c->a[2]);
	return 0;
}

static int dec_listen(struct sc_ctx *c)
{
	ev_i64(c->e, "fd", arg_int(c, 0));
	ev_i64(c->e, "backlog", arg_int(c, 1));
	return 0;
}

static int dec_accept(struct sc_ctx *c)
{
	ev_i64(c->e, "fd", arg_int(c, 0));
	return 0;
}

static void exit_accept(struct sc_ctx *c, int64_t ret)
{
	uint32_t len = 0;

	/* The kernel wrote the peer's address; it exists only on success. */
	if (ret < 0 || c->a[1] == 0 || c->a[2] == 0)
		return;
	if (mem_read(c->t->tid, c->a[2], &len, sizeof(len)) < 0)
		return;
	put_sockaddr(c, c->a[1], len);
}

/* socketcall(2) is only in the 32-bit catalog; see sc_decode_entry(). */
static int dec_socketcall(struct sc_ctx *c)
{
	return SC_SKIP;
}

/* --- exec ------------------------------------------------------------------ */

struct strv_caps {
	size_t max_entries;
	size_t max_bytes;
	bool env;                   /* "NAME=value" strings: values cut */
};

/* The strings strv_read() found, until the next call. */
static char pool[EXEC_ARGV_BYTES];
static uint32_t offs[EXEC_ARGV_MAX + 1], lens[EXEC_ARGV_MAX + 1];

/*
 * Reads a NULL-terminated string array, cut at caps, into pool; returns
 * how many strings were kept, -EFAULT when the array is unreadable.
 */
static int strv_read(struct sc_ctx *c, const char *key, uint64_t array,
		     const struct strv_caps *caps, bool *ret_trunc)
{
	static uint64_t ptrs[EXEC_ARGV_MAX + 1];
	unsigned psz = arch_ptr_size(c->compat);
	size_t n = 0, used = 0, kept = 0;
	bool trunc = false;

	*ret_trunc = false;
	if (array == 0)
		return 0;
	for (n = 0; n <= caps->max_entries; n++) {
		if (mem_read_ptr(c->t->tid, array, n, psz, &ptrs[n]) < 0) {
			note_decode_error(c, key, -EFAULT);
			/* An unreadable array is left out like any unreadable
			 * field; one cut short is flagged. */
			if (n == 0)
				return -EFAULT;
			trunc = true;
			break;
		}
		if (ptrs[n] == 0)
			break;
	}
	if (n > caps->max_entries) {
		n = caps->max_entries;
		trunc = true;
	}
	for (size_t i = 0; i < n; i++) {
		size_t room = caps->max_bytes - used;
		bool cut = false;
		int r;

		if (room < 2) {
			trunc = true;
			break;
		}
		r = mem_read_str(c->t->tid, ptrs[i], pool + used,
				 room < SENTRACE_PATH_MAX ? room : SENTRACE_PATH_MAX, &cut);
		if (r < 0) {
			note_decode_error(c, key, r);
			trunc = true;
			break;
		}
		offs[kept] = (uint32_t)used;
		lens[kept] = (uint32_t)r;
		kept++;
		used += (size_t)r + 1;
		if (cut) {
			trunc = true;
			break;
		}
	}
	*ret_trunc = trunc;
	return (int)kept;
}

/* Packs strings of a NUL-separated pool as an array under key. */
static void pack_strv(struct evbuf *e, const char *key, const char *s,
		      uint32_t n)
{
	ev_key(e, key);
	msgpack_pack_array(&e->pk, n);
	for (uint32_t i = 0; i < n; i++) {
		size_t len = strlen(s);

		wire_pack_strn(&e->pk, s, len);
		s += len + 1;
	}
}

/* Packs a NULL-terminated string array, cut at caps, as key and key_truncated. */
static void put_strv(struct sc_ctx *c, const char *key, const char *tkey,
		     uint64_t array, const struct strv_caps *caps)
{
	bool trunc;
	int n = strv_read(c, key, array, caps, &trunc);

	if (n < 0)
		return;
	ev_key(c->e, key);
	msgpack_pack_array(&c->e->pk, (uint32_t)n);
	for (int i = 0; i < n; i++) {
		if (caps->env)
			ev_env_item(c->e, pool + offs[i], lens[i]);
		else
			wire_pack_strn(&c->e->pk, pool + offs[i], lens[i]);
	}
	ev_bool(c->e, tkey, trunc);
}

/*
 * An exec's entry reads what was asked for; the other threads of the
 * tracee run meanwhile and can rewrite it before the kernel copies it. So
 * the entry only keeps it here, with the identity of the file the name
 * led to then, and the exec stop reports what the kernel ran.
 */
struct exec_hold {
	bool have_id;               /* dev and ino of the requested file */
	dev_t dev;
	ino_t ino;
	bool file_cut, argv_cut, have_argv;
	bool empty_path;            /* execveat(fd, "", AT_EMPTY_PATH) */
	uint32_t argc;
	size_t raw_off, argv_off;   /* file \0 raw \0 argv[0] \0 … */
	char data[];
};

/* p: dirfd, path, argv, envp, flags */
static int dec_exec(struct sc_ctx *c)
{
	static const struct strv_caps argv_caps = { EXEC_ARGV_MAX, EXEC_ARGV_BYTES, false };
	static const struct strv_caps envp_caps = { EXEC_ENVP_MAX, EXEC_ENVP_BYTES, true };
	const int8_t *p = c->d->p;
	int flags = p[4] >= 0 ? arg_int(c, p[4]) : 0;
	int dirfd = p[0] < 0 ? AT_FDCWD : arg_int(c, p[0]);
	struct exec_hold *h;
	bool file_cut = false, argv_cut = false, have_file;
	size_t flen = 0, rlen = 0, alen = 0;
	struct stat st;
	int argc, fd;

	have_file = read_raw(c, p[1], &file_cut) >= 0;
	if (have_file) {
		/* execveat(fd, "", …, AT_EMPTY_PATH) runs the file behind fd. */
		if (raw[0] == '\0' && (flags & AT_EMPTY_PATH)) {
			if (proc_fd_path(c->t->tid, dirfd, path_a, sizeof(path_a)) < 0)
				path_a[0] = '\0';
		} else {
			/* What was asked for, as a string: no symlink is
			 * resolved here (not in our root, and not now). */
			if (path_resolve(c->t->tid, dirfd, raw, path_a, sizeof(path_a)) < 0 ||
			    path_a[0] != '/')
				file_cut = true;
		}
		flen = strlen(path_a);
		rlen = strlen(raw);
	}
	argc = strv_read(c, "argv", c->a[p[2]], &argv_caps, &argv_cut);
	for (int i = 0; i < argc; i++)
		alen += lens[i] + 1;
	h = malloc(sizeof(*h) + flen + 1 + rlen + 1 + alen);
	if (h) {
		memset(h, 0, sizeof(*h));
		memcpy(h->data, have_file ? path_a : "", flen + 1);
		h->raw_off = flen + 1;
		memcpy(h->data + h->raw_off, have_file ? raw : "", rlen + 1);
		h->argv_off = h->raw_off + rlen + 1;
		for (int i = 0, off = 0; i < argc; i++) {
			memcpy(h->data + h->argv_off + off, pool + offs[i], lens[i] + 1);
			off += (int)lens[i] + 1;
		}
		h->argc = argc > 0 ? (uint32_t)argc : 0;
		h->have_argv = argc >= 0;
		h->argv_cut = argv_cut;
		h->file_cut = file_cut;
		h->empty_path = have_file && raw[0] == '\0' && (flags & AT_EMPTY_PATH);
		/* The file this name leads to now, looked up as the tracee
		 * would: the exec stop compares it with the one that ran. */
		if (have_file) {
			fd = h->empty_path ? -1 : proc_path_open(c->t->tid, dirfd, raw, 0);
			if (h->empty_path) {
				char link[48];

				snprintf(link, sizeof(link), "/proc/%d/fd/%d",
					 (int)c->t->tid, dirfd);
				if (stat(link, &st) == 0)
					h->have_id = true;
			} else if (fd >= 0 && fstat(fd, &st) == 0) {
				h->have_id = true;
			}
			if (fd >= 0)
				close(fd);
			if (h->have_id) {
				h->dev = st.st_dev;
				h->ino = st.st_ino;
			}
		}
		c->t->hold = (char *)h;
	}
	put_strv(c, "envp", "envp_truncated", c->a[p[3]], &envp_caps);
	return 0;
}

/* What was asked for, as the event's file and argv (a failed exec). */
static void put_requested(struct evbuf *e, const struct exec_hold *h,
			  const char *fkey, const char *akey, bool flags)
{
	if (h->data[0]) {
		ev_str(e, fkey, h->data);
		if (flags && h->file_cut)
			ev_bool(e, "file_truncated", true);
	}
	if (h->have_argv) {
		pack_strv(e, akey, h->data + h->argv_off, h->argc);
		if (flags)
			ev_bool(e, "argv_truncated", h->argv_cut);
	}
}

static void exec_enrich(struct evbuf *e, pid_t pid, bool at_exec);

static void exit_exec(struct sc_ctx *c, int64_t ret)
{
	if (c->t->hold)
		put_requested(c->e, (struct exec_hold *)c->t->hold, "file", "argv", true);
	free(c->t->hold);
	c->t->hold = NULL;
	exec_enrich(c->e, c->t->tgid, false);
}

/* cmdline as the kernel wrote it into the new image: NUL-separated. */
static char cmdline[EXEC_ARGV_BYTES];

/*
 * Cuts cmdline (len bytes, every string NUL-terminated) at EXEC_ARGV_MAX
 * strings of at most 4095 bytes each, like the entry's reads; in place.
 * Returns the new length; *ret_n strings, *cut when anything was cut.
 */
static int cmdline_compact(int len, uint32_t *ret_n, bool *cut)
{
	int in = 0, out = 0;
	uint32_t n = 0;

	while (in < len && n < EXEC_ARGV_MAX) {
		size_t sl = strlen(cmdline + in);
		size_t keep = sl < SENTRACE_PATH_MAX - 1 ? sl : SENTRACE_PATH_MAX - 1;

		if (keep < sl)
			*cut = true;
		memmove(cmdline + out, cmdline + in, keep);
		cmdline[out + (int)keep] = '\0';
		out += (int)keep + 1;
		in += (int)sl + 1;
		n++;
	}
	if (in < len)
		*cut = true;
	*ret_n = n;
	return out;
}

/* The i-th string of a NUL-separated pool of n strings. */
static const char *nth(const char *s, uint32_t i)
{
	while (i--)
		s += strlen(s) + 1;
	return s;
}

/*
 * Whether cmdline k (m strings) is argv a (n strings), the first cmp of
 * them exactly (all when neither was cut).
 */
static bool same_strv(const char *k, uint32_t m, const char *a, uint32_t n,
		      uint32_t from_k, uint32_t from_a, bool cut)
{
	uint32_t cmp;

	if (!cut && m - from_k != n - from_a)
		return false;
	cmp = m - from_k < n - from_a ? m - from_k : n - from_a;
	/* A cut list's last kept string may itself be cut. */
	if (cut && cmp > 0)
		cmp--;
	for (uint32_t i = 0; i < cmp; i++)
		if (strcmp(nth(k, from_k + i), nth(a, from_a + i)) != 0)
			return false;
	return true;
}

/*
 * An interpreter run for a script (#!, or binfmt_misc): the kernel runs
 * interp [arg] filename argv[1..], with filename the name as passed (or
 * /dev/fd/N for execveat of an fd). Nested interpreters add more in front.
 */
static bool is_script_run(const struct exec_hold *h, const char *k, uint32_t m,
			  bool cut)
{
	const char *rawname = h->data + h->raw_off;
	const char *a = h->data + h->argv_off;
	uint32_t n = h->argc;

	for (uint32_t at = 1; at < m && at <= 8; at++) {
		const char *f = nth(k, at);

		if (strcmp(f, rawname) != 0 &&
		    !((h->empty_path || rawname[0] != '/') && strncmp(f, "/dev/fd/", 8) == 0))
			continue;
		if (n == 0 || same_strv(k, m, a, n, at + 1, 1, cut))
			return true;
	}
	return false;
}

static void exec_finish(struct tracee *t)
{
	const struct exec_hold *h = (const struct exec_hold *)t->hold;
	char exe[SENTRACE_PATH_MAX], link[48];
	bool exe_cut = false, k_cut = false, tampered = false, h_argv_empty = false;
	uint32_t m = 0;
	struct stat st;
	int r, len;

	r = proc_readlink(t->tgid, "exe", exe, sizeof(exe));
	if (r >= 0 || (r == -ENAMETOOLONG && exe[0])) {
		exe_cut = r < 0;
		ev_str(&t->ev, "file", exe);
		if (exe_cut)
			ev_bool(&t->ev, "file_truncated", true);
	} else {
		exe[0] = '\0';
	}
	len = proc_read_file(t->tgid, "cmdline", cmdline, sizeof(cmdline) - 1);
	if (len >= 0) {
		if ((size_t)len == sizeof(cmdline) - 1)
			k_cut = true;
		/* Every string ends in NUL, unless the read cut the last. */
		if (len > 0 && cmdline[len - 1] != '\0')
			cmdline[len++] = '\0';
		len = cmdline_compact(len, &m, &k_cut);
		pack_strv(&t->ev, "argv", cmdline, m);
		ev_bool(&t->ev, "argv_truncated", k_cut);
	}
	if (!h)
		return;
	if (len < 0 && h->have_argv) {
		/* No cmdline (the process is gone): what was asked for. */
		pack_strv(&t->ev, "argv", h->data + h->argv_off, h->argc);
		ev_bool(&t->ev, "argv_truncated", h->argv_cut);
	}
	if (h->data[0] && strcmp(exe, h->data) != 0)
		put_str_cut_e(&t->ev, "requested_file", h->data, h->file_cut);
	if (len >= 0 && h->have_argv &&
	    !same_strv(cmdline, m, h->data + h->argv_off, h->argc, 0, 0, false))
		pack_strv(&t->ev, "requested_argv", h->data + h->argv_off, h->argc);
	if (len < 0 || !exe[0])
		return; /* nothing of the kernel's to compare with */

	if (h->have_argv && h->argc == 0 && m == 1 && !cmdline[0])
		/* An empty argv gets "" as argv[0] from the kernel (5.18+). */
		h_argv_empty = true;
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)t->tgid);
	if (h->have_id && stat(link, &st) == 0 && st.st_dev == h->dev &&
	    st.st_ino == h->ino) {
		/* The file asked for ran: its arguments must be the ones. */
		tampered = h->have_argv && !h_argv_empty &&
			   !same_strv(cmdline, m, h->data + h->argv_off, h->argc,
				      0, 0, k_cut || h->argv_cut);
	} else if (!h->have_id && strcmp(exe, h->data) == 0) {
		tampered = h->have_argv && !h_argv_empty &&
			   !same_strv(cmdline, m, h->data + h->argv_off, h->argc,
				      0, 0, k_cut || h->argv_cut);
	} else {
		/* Another file ran: only an interpreter for the one asked
		 * for explains it. */
		tampered = !is_script_run(h, cmdline, m, k_cut || h->argv_cut);
	}
	if (tampered)
		ev_bool(&t->ev, "tampered", true);
}

void sc_exec_finish(struct tracee *t)
{
	exec_finish(t);
	free(t->hold);
	t->hold = NULL;
}

/*
 * at_exec: pid is stopped at its exec, with an fd table of its own; a
 * failed exec's exit stop is not (other threads may share and close its
 * fds): stdstreams.c looks at sockets accordingly.
 */
static void exec_enrich(struct evbuf *e, pid_t pid, bool at_exec)
{
	struct proc_status st;
	char buf[SENTRACE_PATH_MAX];
	int r;

	if (proc_read_status(pid, &st) == 0) {
		ev_i64(e, "uid", st.uid);
		ev_i64(e, "euid", st.euid);
		ev_i64(e, "gid", st.gid);
		ev_i64(e, "egid", st.egid);
		ev_i64(e, "ppid", st.ppid);
		if (proc_id_name(pid, "passwd", st.uid, buf, sizeof(buf)) > 0)
			ev_str(e, "user", buf);
		if (proc_id_name(pid, "group", st.gid, buf, sizeof(buf)) > 0)
			ev_str(e, "group", buf);
	}
	r = proc_readlink(pid, "cwd", buf, sizeof(buf));
	if (r >= 0) {
		ev_str(e, "cwd", buf);
	} else if (r == -ENAMETOOLONG) {
		/* Deeper than the kernel names (4 KiB): say so, no guess. */
		if (buf[0])
			ev_str(e, "cwd", buf);
		ev_bool(e, "cwd_truncated", true);
	}
	proc_tty(pid, buf, sizeof(buf));
	ev_str(e, "tty", buf);
	if (container_id_for_pid(pid, buf, sizeof(buf)) == 0)
		ev_str(e, "container_id", buf);
	/* Exec keeps the start time; sent so that attached processes get it. */
	ev_u64(e, "start_ticks", proc_start_ticks(pid));
	stdio_enrich(e, pid, at_exec);
}

void sc_exec_enrich(struct evbuf *e, pid_t pid)
{
	exec_enrich(e, pid, true);
}

/* --- clone(CLONE_UNTRACED) ------------------------------------------------ */

#ifndef CLONE_UNTRACED
#define CLONE_UNTRACED 0x00800000
#endif

/*
 * CLONE_UNTRACED would make a child that no tracer follows: the flag is
 * taken out, so the child is traced like any other. These calls report no
 * event of their own: the fork event follows from ptrace.
 */
static int dec_clone(struct sc_ctx *c)
{
	if (c->a[0] & CLONE_UNTRACED) {
		if (arch_set_arg0(c->t->tid, c->a[0] & ~(uint64_t)CLONE_UNTRACED) == 0)
			c->tr->stats.untraced_clones++;
	}
	return SC_SKIP;
}

static int dec_clone3(struct sc_ctx *c)
{
	uint64_t flags;
	struct iovec local = { &flags, sizeof(flags) };
	struct iovec remote = { (void *)(uintptr_t)c->a[0], sizeof(flags) };

	/* struct clone_args starts with the 64-bit flags. */
	if (mem_read(c->t->tid, c->a[0], &flags, sizeof(flags)) < 0 ||
	    !(flags & CLONE_UNTRACED))
		return SC_SKIP;
	flags &= ~(uint64_t)CLONE_UNTRACED;
	if (process_vm_writev(c->t->tid, &local, 1, &remote, 1, 0) == sizeof(flags))
		c->tr->stats.untraced_clones++;
	return SC_SKIP;
}

/* --- the table ------------------------------------------------------------- */

#define N -1
#define SC(nm, k, fn, ...) { .name = nm, .kind = k, .entry = fn, .p = { __VA_ARGS__ } }

const struct sc_desc sc_table[] = {
	/* exec */
	{ "execve", EV_EXEC, dec_exec, exit_exec, { N, 0, 1, 2, N }, 0, { 0 } },
	{ "execveat", EV_EXEC, dec_exec, exit_exec, { 0, 1, 2, 3, 4 }, 0, { 0 } },
	/* files */
	{ "open", EV_OPEN, dec_open, exit_open, { N, 0, 1, 2, N }, 0, { 0 } },
	{ "openat", EV_OPEN, dec_open, exit_open, { 0, 1, 2, 3, N }, 0, { 0 } },
	{ "openat2", EV_OPEN, dec_openat2, exit_open, { N }, 0, { 0 } },
	{ "creat", EV_OPEN, dec_creat, exit_open, { N }, 0, { 0 } },
	SC("unlink", EV_UNLINK, dec_path, N, 0, N, N, N),
	SC("unlinkat", EV_UNLINK, dec_unlinkat, N, N, N, N, N),
	SC("rmdir", EV_RMDIR, dec_path, N, 0, N, N, N),
	SC("rename", EV_RENAME, dec_two_paths, N, 0, N, 1, N),
	SC("renameat", EV_RENAME, dec_two_paths, 0, 1, 2, 3, N),
	SC("renameat2", EV_RENAME, dec_two_paths, 0, 1, 2, 3, 4),
	SC("mkdir", EV_MKDIR, dec_path_mode, N, 0, 1, N, N),
	SC("mkdirat", EV_MKDIR, dec_path_mode, 0, 1, 2, N, N),
	SC("link", EV_LINK, dec_two_paths, N, 0, N, 1, N),
	SC("linkat", EV_LINK, dec_two_paths, 0, 1, 2, 3, 4),
	SC("symlink", EV_SYMLINK, dec_symlink, 0, N, 1, N, N),
	SC("symlinkat", EV_SYMLINK, dec_symlink, 0, 1, 2, N, N),
	SC("chmod", EV_CHMOD, dec_path_mode, N, 0, 1, N, N),
	SC("fchmod", EV_CHMOD, dec_fchmod, N, N, N, N, N),
	SC("fchmodat", EV_CHMOD, dec_path_mode, 0, 1, 2, N, N),
	{ "chown", EV_CHOWN, dec_chown, NULL, { N, 0, 1, 2, N }, SC_UID16, { 0 } },
	{ "lchown", EV_CHOWN, dec_chown, NULL, { N, 0, 1, 2, N }, SC_UID16, { 0 } },
	{ "fchown", EV_CHOWN, dec_chown, NULL, { 0, N, 1, 2, N }, SC_UID16, { 0 } },
	SC("fchownat", EV_CHOWN, dec_chown, 0, 1, 2, 3, 4),
	SC("utime", EV_UTIMES, dec_path, N, 0, N, N, N),
	SC("utimes", EV_UTIMES, dec_path, N, 0, N, N, N),
	SC("utimensat", EV_UTIMES, dec_path, 0, 1, 3, N, N),
	SC("futimesat", EV_UTIMES, dec_path, 0, 1, N, N, N),
	SC("truncate", EV_TRUNCATE, dec_truncate, N, N, N, N, N),
	SC("mount", EV_MOUNT, dec_mount, N, N, N, N, N),
	SC("umount2", EV_UMOUNT, dec_umount, 0, 1, N, N, N),
	SC("chdir", EV_CHDIR, dec_chdir, N, N, N, N, N),
	SC("fchdir", EV_CHDIR, dec_fchdir, N, N, N, N, N),
	SC("memfd_create", EV_MEMFD_CREATE, dec_memfd, N, N, N, N, N),
	/* credentials */
	{ "setuid", EV_SETUID, dec_setid, NULL, { N }, SC_UID16, { "uid" } },
	{ "setreuid", EV_SETUID, dec_setid, NULL, { N }, SC_UID16, { "uid", "euid" } },
	{ "setresuid", EV_SETUID, dec_setid, NULL, { N }, SC_UID16, { "uid", "euid", "suid" } },
	{ "setfsuid", EV_SETUID, dec_setid, NULL, { N }, SC_UID16, { "fsuid" } },
	{ "setgid", EV_SETGID, dec_setid, NULL, { N }, SC_UID16, { "gid" } },
	{ "setregid", EV_SETGID, dec_setid, NULL, { N }, SC_UID16, { "gid", "egid" } },
	{ "setresgid", EV_SETGID, dec_setid, NULL, { N }, SC_UID16, { "gid", "egid", "sgid" } },
	{ "setfsgid", EV_SETGID, dec_setid, NULL, { N }, SC_UID16, { "fsgid" } },
	SC("capset", EV_CAPSET, dec_capset, N, N, N, N, N),
	/* kernel modules, ptrace, bpf, prctl */
	SC("init_module", EV_LOAD_MODULE, dec_init_module, N, N, N, N, N),
	SC("finit_module", EV_LOAD_MODULE, dec_finit_module, N, N, N, N, N),
	SC("delete_module", EV_UNLOAD_MODULE, dec_delete_module, N, N, N, N, N),
	SC("ptrace", EV_PTRACE, dec_ptrace, N, N, N, N, N),
	SC("bpf", EV_BPF, dec_bpf, N, N, N, N, N),
	SC("prctl", EV_PRCTL, dec_prctl, N, N, N, N, N),
	/* network */
	SC("socket", EV_SOCKET, dec_socket, N, N, N, N, N),
	SC("bind", EV_BIND, dec_bind_connect, N, N, N, N, N),
	SC("connect", EV_CONNECT, dec_bind_connect, N, N, N, N, N),
	SC("listen", EV_LISTEN, dec_listen, N, N, N, N, N),
	{ "accept", EV_ACCEPT, dec_accept, exit_accept, { N }, 0, { 0 } },
	{ "accept4", EV_ACCEPT, dec_accept, exit_accept, { N }, 0, { 0 } },
	/* not events: CLONE_UNTRACED is taken out */
	SC("clone", EV_FORK, dec_clone, N, N, N, N, N),
	SC("clone3", EV_FORK, dec_clone3, N, N, N, N, N),
	/* the 32-bit ABI's own names */
	SC("socketcall", EV_SOCKET, dec_socketcall, N, N, N, N, N),
	SC("truncate64", EV_TRUNCATE, dec_truncate, N, N, N, N, N),
	SC("umount", EV_UMOUNT, dec_umount, 0, N, N, N, N),
	SC("utimensat_time64", EV_UTIMES, dec_path, 0, 1, 3, N, N),
	SC("chown32", EV_CHOWN, dec_chown, N, 0, 1, 2, N),
	SC("lchown32", EV_CHOWN, dec_chown, N, 0, 1, 2, N),
	SC("fchown32", EV_CHOWN, dec_chown, 0, N, 1, 2, N),
	{ "setuid32", EV_SETUID, dec_setid, NULL, { N }, 0, { "uid" } },
	{ "setreuid32", EV_SETUID, dec_setid, NULL, { N }, 0, { "uid", "euid" } },
	{ "setresuid32", EV_SETUID, dec_setid, NULL, { N }, 0, { "uid", "euid", "suid" } },
	{ "setfsuid32", EV_SETUID, dec_setid, NULL, { N }, 0, { "fsuid" } },
	{ "setgid32", EV_SETGID, dec_setid, NULL, { N }, 0, { "gid" } },
	{ "setregid32", EV_SETGID, dec_setid, NULL, { N }, 0, { "gid", "egid" } },
	{ "setresgid32", EV_SETGID, dec_setid, NULL, { N }, 0, { "gid", "egid", "sgid" } },
	{ "setfsgid32", EV_SETGID, dec_setid, NULL, { N }, 0, { "fsgid" } },
	/* seccomp filters, io_uring, calls aimed at the tracer */
	SC("seccomp", EV_SECCOMP, dec_seccomp, N, N, N, N, N),
	SC("io_uring_setup", EV_IO_URING, dec_io_uring_setup, N, N, N, N, N),
	SC("io_uring_enter", EV_IO_URING, dec_io_uring_enter, N, N, N, N, N),
	SC("io_uring_register", EV_IO_URING, dec_io_uring_register, N, N, N, N, N),
	SC("kill", EV_TRACER_TAMPER, dec_kill, N, N, N, N, N),
	SC("tkill", EV_TRACER_TAMPER, dec_tkill, N, 0, 1, N, N),
	SC("tgkill", EV_TRACER_TAMPER, dec_tkill, 0, 1, 2, N, N),
	SC("rt_sigqueueinfo", EV_TRACER_TAMPER, dec_tkill, N, 0, 1, N, N),
	SC("rt_tgsigqueueinfo", EV_TRACER_TAMPER, dec_tkill, 0, 1, 2, N, N),
	/* p[0]: 1 when the second argument is a signal */
	SC("pidfd_send_signal", EV_TRACER_TAMPER, dec_pidfd, 1, N, N, N, N),
	SC("pidfd_getfd", EV_TRACER_TAMPER, dec_pidfd, 0, N, N, N, N),
	SC("process_vm_readv", EV_TRACER_TAMPER, dec_process_vm, N, N, N, N, N),
	SC("process_vm_writev", EV_TRACER_TAMPER, dec_process_vm, N, N, N, N, N),
};
#undef SC
#undef N

const size_t sc_table_len = sizeof(sc_table) / sizeof(sc_table[0]);

static int sc_find(const char *name)
{
	for (size_t i = 0; i < sc_table_len; i++)
		if (strcmp(sc_table[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* socketcall(2) sub-calls we monitor, and how many arguments each has. */
static const struct {
	int call;
	const char *name;
	unsigned nargs;
} socketcalls[] = {
	{ SYS_SOCKET, "socket", 3 },  { SYS_BIND, "bind", 3 },
	{ SYS_CONNECT, "connect", 3 }, { SYS_LISTEN, "listen", 2 },
	{ SYS_ACCEPT, "accept", 3 },  { SYS_ACCEPT4, "accept4", 4 },
};

_Static_assert(sizeof(sc_table) / sizeof(sc_table[0]) <= SC_DATA_ID + 1,
	       "catalog ids must fit the RET_TRACE data");

/*
 * The signal calls and process_vm_* stop only when their first argument
 * names us (or, for kill, a group: 0 or negative): a Go program's tgkill
 * preemption signals then cost nothing. The kernel reads these arguments
 * as 32-bit ints, so only the low half is compared. The tracer has no
 * threads, so its pid is its only tid; tgkill's tgid must name us for its
 * tid to be ours. The decoders check what the filter lets through.
 */
static int add_aimed_at_us(scmp_filter_ctx ctx, uint32_t action, int nr, bool groups)
{
	const scmp_datum_t low = 0xffffffffu;
	int r = seccomp_rule_add(ctx, action, nr, 1,
				 SCMP_A0(SCMP_CMP_MASKED_EQ, low, (scmp_datum_t)getpid()));

	if (r == 0 && groups)
		r = seccomp_rule_add(ctx, action, nr, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, low, 0));
	if (r == 0 && groups)
		r = seccomp_rule_add(ctx, action, nr, 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, 0x80000000u, 0x80000000u));
	return r;
}

static bool is_aimed_call(const struct sc_desc *d)
{
	return d->entry == dec_kill || d->entry == dec_tkill || d->entry == dec_process_vm;
}

/* The rules of one ABI, each returning the tagged data of its call. */
static void add_rules(scmp_filter_ctx ctx, bool compat, bool deny_io_uring)
{
	for (size_t id = 0; id < sc_table_len; id++) {
		const char *name = sc_table[id].name;
		uint32_t act = SCMP_ACT_TRACE(sc_trace_data((int)id, compat));
		int nr = seccomp_syscall_resolve_name(name);
		int r;

		if (nr == __NR_SCMP_ERROR)
			continue;
		if (strcmp(name, "clone") == 0) {
			/* Only the calls that ask not to be traced. */
			r = seccomp_rule_add(ctx, act, nr, 1,
					     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_UNTRACED,
						     CLONE_UNTRACED));
		} else if (strcmp(name, "prctl") == 0) {
			static const int options[] = {
				PR_SET_NAME, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS,
			};

			r = 0;
			for (size_t i = 0; i < ARRAY_SIZE(options) && r == 0; i++)
				r = seccomp_rule_add(ctx, act, nr, 1,
						     SCMP_A0(SCMP_CMP_EQ, options[i]));
		} else if (is_aimed_call(&sc_table[id])) {
			r = add_aimed_at_us(ctx, act, nr,
					    sc_table[id].entry == dec_kill);
		} else if (strcmp(name, "io_uring_setup") == 0 && deny_io_uring) {
			/* As container runtimes' default profiles do. */
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
		} else if (strcmp(name, "socketcall") == 0) {
			r = 0;
			for (size_t i = 0; i < ARRAY_SIZE(socketcalls) && r == 0; i++)
				r = seccomp_rule_add(ctx, act, nr, 1,
					SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)socketcalls[i].call));
		} else {
			r = seccomp_rule_add(ctx, act, nr, 0);
		}
		/* A call the ABI lacks (socketcall on x86_64) is no error. */
		if (r < 0)
			log_debug("seccomp: %s%s not added: %s", name,
				  compat ? " (i386)" : "", strerror(-r));
	}
}

static scmp_filter_ctx new_ctx(bool no_new_privs)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	if (!ctx)
		return NULL;
	/* Unknown ABIs (x32) get ENOSYS rather than a killed thread. */
	seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS));
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, no_new_privs);
	/* A binary tree keeps untraced calls at a few BPF instructions. */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	return ctx;
}

/* Reads what fd holds, from where it is, into a malloc'd buffer. */
static int read_all(int fd, char **ret_buf, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *p = realloc(buf, cap ? cap * 2 : 4096);

			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
			cap = cap ? cap * 2 : 4096;
		}
		n = read(fd, buf + len, cap - len);
		if (n > 0) {
			len += (size_t)n;
		} else if (n == 0 || errno == EAGAIN) {
			break;
		} else if (errno != EINTR) {
			int r = -errno;

			free(buf);
			return r;
		}
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

/*
 * Exports the program as classic BPF. Through a pipe, not memfd_create
 * (3.17+): the design promises 3.4. One thread writes, then reads, so the
 * pipe is made big enough first (BPF_MAXINSNS is 4096 instructions of 8
 * bytes, 32 KiB); where it cannot grow and the program does not fit, an
 * unlinked temporary file takes it.
 */
static int export_bpf(scmp_filter_ctx ctx, void **ret_prog, size_t *ret_len)
{
	char *prog = NULL;
	size_t len = 0;
	int fds[2], r;
	FILE *tmp;

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	fcntl(fds[1], F_SETPIPE_SZ, 64 * 1024);
	r = seccomp_export_bpf(ctx, fds[1]);
	close(fds[1]);
	if (r == 0)
		r = read_all(fds[0], &prog, &len);
	close(fds[0]);
	if (r < 0) {
		tmp = tmpfile();
		if (!tmp)
			return -errno;
		r = seccomp_export_bpf(ctx, fileno(tmp));
		if (r == 0 && lseek(fileno(tmp), 0, SEEK_SET) < 0)
			r = -errno;
		if (r == 0)
			r = read_all(fileno(tmp), &prog, &len);
		fclose(tmp);
		if (r < 0)
			return r;
	}
	if (len == 0 || len % sizeof(struct sock_filter)) {
		free(prog);
		return -EIO;
	}
	*ret_prog = prog;
	*ret_len = len;
	return 0;
}

int sc_build_filter(bool no_new_privs, bool deny_io_uring, void **ret_prog,
		    size_t *ret_len)
{
	scmp_filter_ctx ctx = new_ctx(no_new_privs);
	int r;

	if (!ctx)
		return -ENOMEM;
	add_rules(ctx, false, deny_io_uring);
#if defined(__x86_64__)
	/*
	 * The i386 rules in a filter of their own, merged: their data says
	 * "i386", so that the ABI of an `int 0x80` from 64-bit code is known
	 * where only registers are (the regset says 64-bit then).
	 */
	{
		scmp_filter_ctx c32 = new_ctx(no_new_privs);

		if (!c32 || seccomp_arch_add(c32, SCMP_ARCH_X86) < 0 ||
		    seccomp_arch_remove(c32, SCMP_ARCH_NATIVE) < 0) {
			log_warn("seccomp: cannot add the 32-bit ABI");
			if (c32)
				seccomp_release(c32);
		} else {
			add_rules(c32, true, deny_io_uring);
			r = seccomp_merge(ctx, c32);
			if (r < 0) {
				log_warn("seccomp: cannot add the 32-bit ABI: %s",
					 strerror(-r));
				seccomp_release(c32);
			}
		}
	}
#endif
	r = export_bpf(ctx, ret_prog, ret_len);
	seccomp_release(ctx);
	return r;
}

/* nr → catalog id for each ABI, for --disable-seccomp. */
#define NR_MAX 1024
static int16_t nr_native[NR_MAX], nr_compat[NR_MAX];
static int socketcall_nr = -1;

#if defined(__x86_64__)
/*
 * libseccomp resolves the i386 socket calls to socketcall(2) pseudo numbers;
 * since Linux 4.3 they also exist as direct calls, which glibc may use.
 */
static int i386_direct_socket_nr(const char *name)
{
	static const struct {
		const char *name;
		int nr;
	} direct[] = {
		{ "socket", 359 }, { "bind", 361 }, { "connect", 362 },
		{ "listen", 363 }, { "accept4", 364 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(direct); i++)
		if (strcmp(direct[i].name, name) == 0)
			return direct[i].nr;
	return -1;
}
#endif

int sc_tables_init(void)
{
	uint32_t native = seccomp_arch_native();

	for (int i = 0; i < NR_MAX; i++)
		nr_native[i] = nr_compat[i] = -1;
	for (size_t id = 0; id < sc_table_len; id++) {
		int nr = seccomp_syscall_resolve_name_arch(native, sc_table[id].name);

		if (nr >= 0 && nr < NR_MAX)
			nr_native[nr] = (int16_t)id;
#if defined(__x86_64__)
		nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86, sc_table[id].name);
		if (sc_table[id].entry == dec_socketcall)
			socketcall_nr = nr;
		if (nr < 0)
			nr = i386_direct_socket_nr(sc_table[id].name);
		if (nr >= 0 && nr < NR_MAX)
			nr_compat[nr] = (int16_t)id;
#endif
	}
	return 0;
}

int sc_lookup_nr(bool compat, int nr)
{
	if (nr < 0 || nr >= NR_MAX)
		return -1;
	return compat ? nr_compat[nr] : nr_native[nr];
}

/* Is nr, in that ABI, one of the numbers of catalog entry id? */
static bool id_has_nr(int id, bool compat, int nr)
{
	if (sc_lookup_nr(compat, nr) == id)
		return true;
	/* libseccomp puts the i386 socket calls on socketcall(2) too, with
	 * the inner call's id. */
	if (compat && nr == socketcall_nr) {
		for (size_t i = 0; i < ARRAY_SIZE(socketcalls); i++)
			if (strcmp(sc_table[id].name, socketcalls[i].name) == 0)
				return true;
		return sc_table[id].entry == dec_socketcall;
	}
	return false;
}

int sc_seccomp_id(struct sc_info *info, int *ret_claimed, bool *ret_mismatch)
{
	uint32_t d = info->ret_data;
	bool ours = (d & SC_DATA_TAG_MASK) == SC_DATA_TAG &&
		    (d & SC_DATA_ID) < sc_table_len;
	bool compat = d & SC_DATA_COMPAT;
	int id = (int)(d & SC_DATA_ID);

	*ret_claimed = ours ? id : -1;
	*ret_mismatch = false;
	/*
	 * Registers of a 64-bit task, data of an i386 rule: an int 0x80 from
	 * 64-bit code, if the number fits. A tracee's filter can claim i386
	 * for a 64-bit call too; then the number must still be one of the
	 * claimed call's (docs/security.md says what remains).
	 */
	if (ours && compat && !info->compat && !info->abi_sure &&
	    info->has_compat_view && id_has_nr(id, true, info->nr)) {
		int native = sc_lookup_nr(false, info->nr);

		arch_use_compat_view(info);
		/*
		 * A number that is a monitored call in both ABIs (x86_64:
		 * 83 mkdir / i386 symlink, 92 chown / truncate, 94 lchown /
		 * fchmod): a tracee's filter could pass off the 64-bit call
		 * as the i386 one. Nothing tells which it is, so it is
		 * decoded as the data says and reported as a mismatch.
		 */
		if (native >= 0 && native != id)
			*ret_mismatch = true;
		return id;
	}
	if (ours && compat == info->compat && id_has_nr(id, info->compat, info->nr))
		return id;
	*ret_mismatch = true;
	id = sc_lookup_nr(info->compat, info->nr);
	if (id < 0 && !info->abi_sure && info->has_compat_view &&
	    sc_lookup_nr(true, info->nr) >= 0) {
		/*
		 * Foreign data and 64-bit registers: an int 0x80 of a
		 * monitored i386 call, or a 64-bit call we do not monitor.
		 * Rather a possibly forged event (flagged with the mismatch)
		 * than a hidden one.
		 */
		arch_use_compat_view(info);
		id = sc_lookup_nr(true, info->nr);
	}
	return id;
}

int sc_decode_entry(struct tracer *tr, struct tracee *t, int id,
		    const struct sc_info *info)
{
	struct sc_ctx c = {
		.tr = tr, .t = t, .d = &sc_table[id], .a = info->args,
		.compat = info->compat, .e = &t->ev,
	};
	uint64_t inner[6] = { 0 };
	int r;

	/* libseccomp adds socketcall(SYS_x) rules of its own for the direct
	 * calls, with their ids: recognise the multiplexer by its number. */
	if (info->compat && info->nr == socketcall_nr) {
		/* Undo the multiplexer: fetch the real arguments, then decode
		 * as the call it stands for. */
		uint32_t a32[6] = { 0 };
		size_t i;

		for (i = 0; i < ARRAY_SIZE(socketcalls); i++)
			if (socketcalls[i].call == (int)info->args[0])
				break;
		if (i == ARRAY_SIZE(socketcalls))
			return SC_SKIP;
		if (mem_read(t->tid, info->args[1], a32,
			     socketcalls[i].nargs * sizeof(uint32_t)) < 0) {
			tr->stats.decode_errors++;
		}
		for (size_t k = 0; k < 6; k++)
			inner[k] = a32[k];
		id = sc_find(socketcalls[i].name);
		if (id < 0)
			return SC_SKIP;
		c.d = &sc_table[id];
		c.a = inner;
	}
	memcpy(t->args, c.a, sizeof(t->args));
	/* What an earlier call held (a restarted one) is not this call's. */
	free(t->hold);
	t->hold = NULL;
	t->sc_id = id;
	t->compat = info->compat;
	ev_begin(&t->ev, c.d->kind, c.d->name, t->tgid, t->tid, info->compat);
	r = c.d->entry(&c);
	if (r == SC_SKIP) {
		ev_reset(&t->ev);
		t->sc_id = -1;
	}
	return r;
}

void sc_decode_exit(struct tracer *tr, struct tracee *t, int64_t ret)
{
	const struct sc_desc *d = &sc_table[t->sc_id];
	struct sc_ctx c = {
		.tr = tr, .t = t, .d = d, .a = t->args, .compat = t->compat,
		.e = &t->ev,
	};

	if (d->exit)
		d->exit(&c, ret);
	ev_i64(&t->ev, "ret", ret);
	ev_end(&t->ev);
	tracer_emit(tr, &t->ev);
	ev_reset(&t->ev);
	t->sc_id = -1;
}
