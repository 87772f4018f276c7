// SPDX-License-Identifier: Apache-2.0
/*
 * syscalls: the ground truth for the tracer's decoders.  Makes every system
 * call of the catalog in docs/protocol.md once succeeding and once failing,
 * inside the scratch directory given as argv[1], and prints one JSON line
 * per call on stdout with the keys the tracer should report for it.
 *
 * Calls go through syscall(2) wherever libc would substitute another call
 * (open() is openat, chmod() is fchmodat, fork() is clone, …), so that each
 * catalog name really reaches the kernel by that name.  Keys starting with
 * "_" are comments for humans and are not compared by the tests.  Built
 * twice: natively and with -m32, where the uid calls are the *32 variants
 * and accept goes through socketcall(2).
 */
#include "config.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/net.h>
#include <linux/openat2.h>

#if defined(__i386__)
#define COMPAT 1
#define NR_ID(name) SYS_##name##32
#define ID_NAME(name) #name "32"
#else
#define COMPAT 0
#define NR_ID(name) SYS_##name
#define ID_NAME(name) #name
#endif

#if defined(__x86_64__) || defined(__i386__)
#define MODULE_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define MODULE_MACHINE EM_AARCH64
#else
#define MODULE_MACHINE EM_NONE
#endif

#define BAD_FD 1000

static char scratch[PATH_MAX];
static int scratch_fd = -1;
static int sub_fd = -1;

/* One JSON object under construction; written with a single write(2) so
 * that lines of forked children never interleave with the parent's. */
static struct {
	char buf[16384];
	size_t len;
	bool first;
} rec;

static void rec_append(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void rec_append(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(rec.buf + rec.len, sizeof(rec.buf) - rec.len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rec.buf) - rec.len) {
		fprintf(stderr, "syscalls: record too long\n");
		exit(2);
	}
	rec.len += (size_t)n;
}

static void rec_key(const char *key)
{
	rec_append("%s\"%s\":", rec.first ? "" : ",", key);
	rec.first = false;
}

static void rec_quoted(const char *s)
{
	rec_append("\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			rec_append("\\%c", *p);
		else if (*p < 0x20)
			rec_append("\\u%04x", *p);
		else
			rec_append("%c", *p);
	}
	rec_append("\"");
}

static void rec_str(const char *key, const char *value)
{
	rec_key(key);
	rec_quoted(value);
}

static void rec_int(const char *key, long long value)
{
	rec_key(key);
	rec_append("%lld", value);
}

static void rec_uint(const char *key, unsigned long long value)
{
	rec_key(key);
	rec_append("%llu", value);
}

static void rec_bool(const char *key, bool value)
{
	rec_key(key);
	rec_append("%s", value ? "true" : "false");
}

static void rec_strv(const char *key, char *const *v)
{
	rec_key(key);
	rec_append("[");
	for (size_t i = 0; v[i]; i++) {
		if (i)
			rec_append(",");
		rec_quoted(v[i]);
	}
	rec_append("]");
}

static void rec_begin(const char *syscall_name, const char *ev, long ret)
{
	rec.len = 0;
	rec.first = true;
	rec_append("{");
	rec_str("syscall", syscall_name);
	rec_str("ev", ev);
	rec_int("ret", ret);
	rec_int("pid", getpid());
	if (COMPAT)
		rec_bool("compat", true);
}

static void rec_end(void)
{
	size_t off = 0;

	rec_append("}\n");
	while (off < rec.len) {
		ssize_t n = write(STDOUT_FILENO, rec.buf + off, rec.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			exit(2);
		off += (size_t)n;
	}
}

/* syscall(2) reports failure as -1 and errno; the wire reports -errno. */
static long ret_of(long r)
{
	return r == -1 ? -errno : r;
}

#define SC(...) ret_of(syscall(__VA_ARGS__))

/* Absolute path of NAME inside the scratch directory, from a small ring of
 * buffers so that a record can use several at once. */
static const char *in_scratch(const char *name)
{
	static char ring[8][PATH_MAX];
	static unsigned next;
	char *p = ring[next++ % 8];

	if (snprintf(p, PATH_MAX, "%s/%s", scratch, name) >= PATH_MAX) {
		fprintf(stderr, "syscalls: path too long\n");
		exit(2);
	}
	return p;
}

static void die(const char *what)
{
	fprintf(stderr, "syscalls: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void make_file(const char *name)
{
	int fd = openat(scratch_fd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		die(name);
	close(fd);
}

static void do_chdir(void)
{
	long r;
	int fd;

	make_file("f_plain");
	r = SC(SYS_chdir, scratch);
	rec_begin("chdir", "chdir", r);
	rec_str("path", scratch);
	rec_end();
	if (r < 0)
		die("chdir");

	r = SC(SYS_chdir, "nodir");
	rec_begin("chdir", "chdir", r);
	rec_str("path", in_scratch("nodir"));
	rec_end();

	r = SC(SYS_fchdir, scratch_fd);
	rec_begin("fchdir", "chdir", r);
	rec_str("path", scratch);
	rec_end();

	fd = open("f_plain", O_RDONLY);
	r = SC(SYS_fchdir, fd);
	rec_begin("fchdir", "chdir", r);
	rec_str("path", in_scratch("f_plain"));
	rec_str("_comment", "fchdir to a regular file: ENOTDIR");
	rec_end();
	close(fd);
}

static void rec_open(const char *name, long r, const char *path, long flags, long mode)
{
	rec_begin(name, "open", r);
	rec_str("path", path);
	rec_int("flags", flags);
	rec_int("mode", mode);
}

static void do_open(void)
{
	struct open_how how;
	long r;

#ifdef SYS_open
	r = SC(SYS_open, "f_open", O_WRONLY | O_CREAT | O_TRUNC, 0640);
	rec_open("open", r, in_scratch("f_open"), O_WRONLY | O_CREAT | O_TRUNC, 0640);
	rec_end();
	if (r >= 0)
		close((int)r);
	r = SC(SYS_open, "nodir/f", O_RDONLY, 0);
	rec_open("open", r, in_scratch("nodir/f"), O_RDONLY, 0);
	rec_end();
#endif

	/* "sub/../f_openat" checks that the path is folded lexically. */
	r = SC(SYS_openat, scratch_fd, "sub/../f_openat", O_RDWR | O_CREAT | O_EXCL, 0600);
	rec_open("openat", r, in_scratch("f_openat"), O_RDWR | O_CREAT | O_EXCL, 0600);
	rec_end();
	if (r >= 0)
		close((int)r);
	r = SC(SYS_openat, scratch_fd, "f_openat", O_RDWR | O_CREAT | O_EXCL, 0600);
	rec_open("openat", r, in_scratch("f_openat"), O_RDWR | O_CREAT | O_EXCL, 0600);
	rec_end();

	memset(&how, 0, sizeof(how));
	how.flags = O_RDWR | O_CREAT;
	how.mode = 0600;
	r = SC(SYS_openat2, sub_fd, "f_openat2", &how, sizeof(how));
	rec_open("openat2", r, in_scratch("sub/f_openat2"), O_RDWR | O_CREAT, 0600);
	rec_end();
	if (r >= 0)
		close((int)r);
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY;
	how.resolve = RESOLVE_BENEATH;
	r = SC(SYS_openat2, sub_fd, "../../outside", &how, sizeof(how));
	{
		char outside[PATH_MAX];
		char *slash;

		snprintf(outside, sizeof(outside), "%s", scratch);
		slash = strrchr(outside, '/');
		if (slash == outside)
			slash[1] = '\0';
		else
			*slash = '\0';
		snprintf(outside + strlen(outside), sizeof(outside) - strlen(outside),
			 "%soutside", outside[strlen(outside) - 1] == '/' ? "" : "/");
		rec_open("openat2", r, outside, O_RDONLY, 0);
		rec_str("_comment", "RESOLVE_BENEATH escape: EXDEV");
		rec_end();
	}

#ifdef SYS_creat
	r = SC(SYS_creat, "f_creat", 0644);
	rec_open("creat", r, in_scratch("f_creat"), O_CREAT | O_WRONLY | O_TRUNC, 0644);
	rec_str("_comment", "creat implies O_CREAT|O_WRONLY|O_TRUNC");
	rec_end();
	if (r >= 0)
		close((int)r);
	r = SC(SYS_creat, "nodir/f_creat", 0644);
	rec_open("creat", r, in_scratch("nodir/f_creat"), O_CREAT | O_WRONLY | O_TRUNC, 0644);
	rec_end();
#endif
}

static void do_unlink(void)
{
	long r;

#ifdef SYS_unlink
	for (int i = 0; i < 2; i++) {
		r = SC(SYS_unlink, "f_open");
		rec_begin("unlink", "unlink", r);
		rec_str("path", in_scratch("f_open"));
		rec_end();
	}
#endif
	for (int i = 0; i < 2; i++) {
		r = SC(SYS_unlinkat, scratch_fd, "f_openat", 0);
		rec_begin("unlinkat", "unlink", r);
		rec_str("path", in_scratch("f_openat"));
		rec_int("flags", 0);
		rec_end();
	}
#ifdef SYS_rmdir
	if (mkdir("d_rm", 0755) < 0)
		die("mkdir d_rm");
	for (int i = 0; i < 2; i++) {
		r = SC(SYS_rmdir, "d_rm");
		rec_begin("rmdir", "rmdir", r);
		rec_str("path", in_scratch("d_rm"));
		rec_end();
	}
#endif
	if (mkdir("sub/d_rm2", 0755) < 0)
		die("mkdir d_rm2");
	for (int i = 0; i < 2; i++) {
		r = SC(SYS_unlinkat, sub_fd, "d_rm2", AT_REMOVEDIR);
		rec_begin("unlinkat", "rmdir", r);
		rec_str("path", in_scratch("sub/d_rm2"));
		rec_end();
	}
}

static void rec_rename(const char *name, long r, const char *from, const char *to)
{
	rec_begin(name, "rename", r);
	rec_str("path", in_scratch(from));
	rec_str("dest", in_scratch(to));
}

static void do_rename(void)
{
	long r;

	make_file("f_ren");
#ifdef SYS_rename
	for (int i = 0; i < 2; i++) {
		r = SC(SYS_rename, "f_ren", "f_ren2");
		rec_rename("rename", r, "f_ren", "f_ren2");
		rec_end();
	}
#endif
	make_file("f_ren2");
	for (int i = 0; i < 2; i++) {
		r = SC(SYS_renameat, scratch_fd, "f_ren2", sub_fd, "f_ren3");
		rec_rename("renameat", r, "f_ren2", "sub/f_ren3");
		rec_end();
	}
	make_file("f_exist");
	r = SC(SYS_renameat2, sub_fd, "f_ren3", scratch_fd, "f_ren4", RENAME_NOREPLACE);
	rec_rename("renameat2", r, "sub/f_ren3", "f_ren4");
	rec_int("flags", RENAME_NOREPLACE);
	rec_end();
	r = SC(SYS_renameat2, scratch_fd, "f_ren4", AT_FDCWD, "f_exist", RENAME_NOREPLACE);
	rec_rename("renameat2", r, "f_ren4", "f_exist");
	rec_int("flags", RENAME_NOREPLACE);
	rec_end();
}

static void do_mkdir(void)
{
	long r;

#ifdef SYS_mkdir
	for (int i = 0; i < 2; i++) {
		r = SC(SYS_mkdir, "d_mk", 0750);
		rec_begin("mkdir", "mkdir", r);
		rec_str("path", in_scratch("d_mk"));
		rec_int("mode", 0750);
		rec_end();
	}
#endif
	for (int i = 0; i < 2; i++) {
		r = SC(SYS_mkdirat, sub_fd, "d_mkat", 0700);
		rec_begin("mkdirat", "mkdir", r);
		rec_str("path", in_scratch("sub/d_mkat"));
		rec_int("mode", 0700);
		rec_end();
	}
}

static void do_link(void)
{
	long r;

#ifdef SYS_link
	for (int i = 0; i < 2; i++) {
		r = SC(SYS_link, "f_exist", "f_link");
		rec_begin("link", "link", r);
		rec_str("path", in_scratch("f_exist"));
		rec_str("dest", in_scratch("f_link"));
		rec_end();
	}
#endif
	r = SC(SYS_linkat, scratch_fd, "f_exist", sub_fd, "f_linkat", 0);
	rec_begin("linkat", "link", r);
	rec_str("path", in_scratch("f_exist"));
	rec_str("dest", in_scratch("sub/f_linkat"));
	rec_int("flags", 0);
	rec_end();
	r = SC(SYS_linkat, scratch_fd, "missing", scratch_fd, "f_linkat2", AT_SYMLINK_FOLLOW);
	rec_begin("linkat", "link", r);
	rec_str("path", in_scratch("missing"));
	rec_str("dest", in_scratch("f_linkat2"));
	rec_int("flags", AT_SYMLINK_FOLLOW);
	rec_end();

#ifdef SYS_symlink
	for (int i = 0; i < 2; i++) {
		r = SC(SYS_symlink, "f_exist", "s_link");
		rec_begin("symlink", "symlink", r);
		rec_str("target", "f_exist");
		rec_str("path", in_scratch("s_link"));
		rec_end();
	}
#else
	symlink("f_exist", "s_link");
#endif
	r = SC(SYS_symlinkat, "../elsewhere", sub_fd, "s_at");
	rec_begin("symlinkat", "symlink", r);
	rec_str("target", "../elsewhere");
	rec_str("path", in_scratch("sub/s_at"));
	rec_str("_comment", "the target is the link's text, never resolved");
	rec_end();
	r = SC(SYS_symlinkat, "x", scratch_fd, "nodir/s");
	rec_begin("symlinkat", "symlink", r);
	rec_str("target", "x");
	rec_str("path", in_scratch("nodir/s"));
	rec_end();
}

static void do_chmod(void)
{
	long r;
	int fd;

#ifdef SYS_chmod
	r = SC(SYS_chmod, "f_exist", 0600);
	rec_begin("chmod", "chmod", r);
	rec_str("path", in_scratch("f_exist"));
	rec_int("mode", 0600);
	rec_end();
	r = SC(SYS_chmod, "missing", 0600);
	rec_begin("chmod", "chmod", r);
	rec_str("path", in_scratch("missing"));
	rec_int("mode", 0600);
	rec_end();
#endif
	fd = open("f_exist", O_RDONLY);
	r = SC(SYS_fchmod, fd, 0640);
	rec_begin("fchmod", "chmod", r);
	rec_int("fd", fd);
	rec_int("mode", 0640);
	rec_end();
	r = SC(SYS_fchmod, BAD_FD, 0640);
	rec_begin("fchmod", "chmod", r);
	rec_int("fd", BAD_FD);
	rec_int("mode", 0640);
	rec_end();
	close(fd);
	r = SC(SYS_fchmodat, scratch_fd, "f_exist", 0644);
	rec_begin("fchmodat", "chmod", r);
	rec_str("path", in_scratch("f_exist"));
	rec_int("mode", 0644);
	rec_end();
	r = SC(SYS_fchmodat, sub_fd, "missing", 0644);
	rec_begin("fchmodat", "chmod", r);
	rec_str("path", in_scratch("sub/missing"));
	rec_int("mode", 0644);
	rec_end();
}

static void rec_chown(const char *name, long r, long long uid, long long gid)
{
	rec_begin(name, "chown", r);
	rec_int("uid", uid);
	rec_int("gid", gid);
}

static void do_chown(void)
{
	long long u = getuid(), g = getgid();
	long r;
	int fd;

#if defined(SYS_chown) || defined(SYS_chown32)
	r = SC(NR_ID(chown), "f_exist", (uid_t)u, (gid_t)-1);
	rec_chown(ID_NAME(chown), r, u, -1);
	rec_str("path", in_scratch("f_exist"));
	rec_end();
	r = SC(NR_ID(chown), "missing", (uid_t)u, (gid_t)g);
	rec_chown(ID_NAME(chown), r, u, g);
	rec_str("path", in_scratch("missing"));
	rec_end();
	r = SC(NR_ID(lchown), "s_link", (uid_t)u, (gid_t)g);
	rec_chown(ID_NAME(lchown), r, u, g);
	rec_str("path", in_scratch("s_link"));
	rec_end();
	r = SC(NR_ID(lchown), "missing", (uid_t)u, (gid_t)g);
	rec_chown(ID_NAME(lchown), r, u, g);
	rec_str("path", in_scratch("missing"));
	rec_end();
#endif
	fd = open("f_exist", O_RDONLY);
	r = SC(NR_ID(fchown), fd, (uid_t)-1, (gid_t)g);
	rec_chown(ID_NAME(fchown), r, -1, g);
	rec_int("fd", fd);
	rec_end();
	close(fd);
	r = SC(NR_ID(fchown), BAD_FD, (uid_t)u, (gid_t)g);
	rec_chown(ID_NAME(fchown), r, u, g);
	rec_int("fd", BAD_FD);
	rec_end();
	r = SC(SYS_fchownat, scratch_fd, "s_link", (uid_t)u, (gid_t)g, AT_SYMLINK_NOFOLLOW);
	rec_chown("fchownat", r, u, g);
	rec_str("path", in_scratch("s_link"));
	rec_end();
	r = SC(SYS_fchownat, scratch_fd, "missing", (uid_t)u, (gid_t)g, 0);
	rec_chown("fchownat", r, u, g);
	rec_str("path", in_scratch("missing"));
	rec_end();
}

static void do_utimes(void)
{
	long r;
	int fd;

#ifdef SYS_utime
	r = SC(SYS_utime, "f_exist", NULL);
	rec_begin("utime", "utimes", r);
	rec_str("path", in_scratch("f_exist"));
	rec_end();
	r = SC(SYS_utime, "missing", NULL);
	rec_begin("utime", "utimes", r);
	rec_str("path", in_scratch("missing"));
	rec_end();
#endif
#ifdef SYS_utimes
	r = SC(SYS_utimes, "f_exist", NULL);
	rec_begin("utimes", "utimes", r);
	rec_str("path", in_scratch("f_exist"));
	rec_end();
	r = SC(SYS_utimes, "missing", NULL);
	rec_begin("utimes", "utimes", r);
	rec_str("path", in_scratch("missing"));
	rec_end();
#endif
	r = SC(SYS_utimensat, sub_fd, "../f_exist", NULL, 0);
	rec_begin("utimensat", "utimes", r);
	rec_str("path", in_scratch("f_exist"));
	rec_end();
	r = SC(SYS_utimensat, scratch_fd, "missing", NULL, 0);
	rec_begin("utimensat", "utimes", r);
	rec_str("path", in_scratch("missing"));
	rec_end();
	fd = open("f_exist", O_RDONLY);
	r = SC(SYS_utimensat, fd, NULL, NULL, 0);
	rec_begin("utimensat", "utimes", r);
	rec_int("fd", fd);
	rec_str("_comment", "utimensat on an fd with a NULL path");
	rec_end();
	close(fd);
#ifdef SYS_futimesat
	r = SC(SYS_futimesat, scratch_fd, "f_exist", NULL);
	rec_begin("futimesat", "utimes", r);
	rec_str("path", in_scratch("f_exist"));
	rec_end();
	r = SC(SYS_futimesat, scratch_fd, "missing", NULL);
	rec_begin("futimesat", "utimes", r);
	rec_str("path", in_scratch("missing"));
	rec_end();
#endif
}

static void do_truncate(void)
{
	long r;

	r = SC(SYS_truncate, "f_exist", 100L);
	rec_begin("truncate", "truncate", r);
	rec_str("path", in_scratch("f_exist"));
	rec_int("length", 100);
	rec_end();
	r = SC(SYS_truncate, "missing", 5L);
	rec_begin("truncate", "truncate", r);
	rec_str("path", in_scratch("missing"));
	rec_int("length", 5);
	rec_end();
}

static void do_mount(void)
{
	unsigned long flags = MS_NOSUID | MS_NODEV;
	long r;

	if (mkdir("mnt", 0755) < 0)
		die("mkdir mnt");
	r = SC(SYS_mount, "sentrace", "mnt", "tmpfs", flags, "size=1m");
	rec_begin("mount", "mount", r);
	rec_str("source", "sentrace");
	rec_str("target", in_scratch("mnt"));
	rec_str("fstype", "tmpfs");
	rec_int("flags", (long long)flags);
	rec_end();
	r = SC(SYS_mount, "sentrace", "nodir", "tmpfs", 0UL, NULL);
	rec_begin("mount", "mount", r);
	rec_str("source", "sentrace");
	rec_str("target", in_scratch("nodir"));
	rec_str("fstype", "tmpfs");
	rec_int("flags", 0);
	rec_end();

	r = SC(SYS_umount2, "mnt", 0);
	rec_begin("umount2", "umount", r);
	rec_str("target", in_scratch("mnt"));
	rec_int("flags", 0);
	rec_end();
	r = SC(SYS_umount2, "mnt", MNT_DETACH);
	rec_begin("umount2", "umount", r);
	rec_str("target", in_scratch("mnt"));
	rec_int("flags", MNT_DETACH);
	rec_str("_comment", "no longer a mount point: EINVAL");
	rec_end();
}

/* The set*id calls of one process; IDS are the values passed. */
static void rec_uid(const char *name, long r, const char *keys[], const long long ids[])
{
	bool gid = strstr(name, "gid") != NULL;

	rec_begin(name, gid ? "setgid" : "setuid", r);
	for (size_t i = 0; keys[i]; i++)
		rec_int(keys[i], ids[i]);
}

static void setid_calls(long long u, long long g, const char *comment)
{
	static const char *k_uid[] = { "uid", NULL }, *k_gid[] = { "gid", NULL };
	static const char *k_reuid[] = { "uid", "euid", NULL };
	static const char *k_regid[] = { "gid", "egid", NULL };
	static const char *k_resuid[] = { "uid", "euid", "suid", NULL };
	static const char *k_resgid[] = { "gid", "egid", "sgid", NULL };
	static const char *k_fsuid[] = { "fsuid", NULL }, *k_fsgid[] = { "fsgid", NULL };
	long long v[3] = { u, u, u }, w[3] = { g, g, g };
	long r;

	r = SC(NR_ID(setuid), (uid_t)u);
	rec_uid(ID_NAME(setuid), r, k_uid, v);
	rec_str("_comment", comment);
	rec_end();
	r = SC(NR_ID(setgid), (gid_t)g);
	rec_uid(ID_NAME(setgid), r, k_gid, w);
	rec_end();
	r = SC(NR_ID(setreuid), (uid_t)u, (uid_t)u);
	rec_uid(ID_NAME(setreuid), r, k_reuid, v);
	rec_end();
	r = SC(NR_ID(setregid), (gid_t)g, (gid_t)g);
	rec_uid(ID_NAME(setregid), r, k_regid, w);
	rec_end();
	r = SC(NR_ID(setresuid), (uid_t)u, (uid_t)u, (uid_t)u);
	rec_uid(ID_NAME(setresuid), r, k_resuid, v);
	rec_end();
	r = SC(NR_ID(setresgid), (gid_t)g, (gid_t)g, (gid_t)g);
	rec_uid(ID_NAME(setresgid), r, k_resgid, w);
	rec_end();
	r = SC(NR_ID(setfsuid), (uid_t)u);
	rec_uid(ID_NAME(setfsuid), r, k_fsuid, v);
	rec_str("_comment", "setfsuid never fails: it returns the previous fsuid");
	rec_end();
	r = SC(NR_ID(setfsgid), (gid_t)g);
	rec_uid(ID_NAME(setfsgid), r, k_fsgid, w);
	rec_end();
}

static void do_setid(void)
{
	static const char *k_uid[] = { "uid", NULL }, *k_gid[] = { "gid", NULL };
	static const char *k_resuid[] = { "uid", "euid", "suid", NULL };
	static const char *k_resgid[] = { "gid", "egid", "sgid", NULL };
	static const long long invalid[] = { -1 }, nobody[] = { 65534, 65534, 65534 };
	long long u = getuid(), g = getgid();
	pid_t child;
	long r;
	int st;

	/* Setting the ids we already have succeeds for anyone. */
	setid_calls(u, g, "set to the current ids");

	/* -1 is not a valid id for setuid/setgid: EINVAL. */
	r = SC(NR_ID(setuid), (uid_t)-1);
	rec_uid(ID_NAME(setuid), r, k_uid, invalid);
	rec_end();
	r = SC(NR_ID(setgid), (gid_t)-1);
	rec_uid(ID_NAME(setgid), r, k_gid, invalid);
	rec_end();

	/* An unprivileged child fails to take root back: EPERM. */
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		r = SC(SYS_setgroups, 0, NULL);
		r = SC(NR_ID(setresgid), 65534, 65534, 65534);
		rec_uid(ID_NAME(setresgid), r, k_resgid, nobody);
		rec_end();
		r = SC(NR_ID(setresuid), 65534, 65534, 65534);
		rec_uid(ID_NAME(setresuid), r, k_resuid, nobody);
		rec_end();
		setid_calls(0, 0, "unprivileged child asking for root");
		_exit(0);
	}
	if (waitpid(child, &st, 0) < 0)
		die("waitpid");
}

static void do_capset(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	uint64_t eff, perm, inh;
	long r;

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		die("capget");
	eff = data[0].effective | (uint64_t)data[1].effective << 32;
	perm = data[0].permitted | (uint64_t)data[1].permitted << 32;
	inh = data[0].inheritable | (uint64_t)data[1].inheritable << 32;

	r = SC(SYS_capset, &hdr, data);
	rec_begin("capset", "capset", r);
	rec_uint("effective", eff);
	rec_uint("permitted", perm);
	rec_uint("inheritable", inh);
	rec_str("_comment", "capget, then capset of the same sets");
	rec_end();

	r = SC(SYS_capset, &hdr, NULL);
	rec_begin("capset", "capset", r);
	rec_str("_comment", "NULL data pointer: EFAULT");
	rec_end();

	hdr.version = 0x12345678;
	r = SC(SYS_capset, &hdr, data);
	rec_begin("capset", "capset", r);
	rec_str("_comment", "invalid header version: EINVAL");
	rec_end();
}

/* A relocatable ELF image with a .modinfo section naming the module but no
 * .gnu.linkonce.this_module: the kernel parses the name, then refuses it. */
static size_t fake_module(unsigned char *buf, size_t size)
{
	static const char modinfo[] = "license=GPL\0name=sentrace_fake\0";
	static const char shstrtab[] = "\0.modinfo\0.shstrtab\0";
	Elf64_Ehdr eh;
	Elf64_Shdr sh[3];
	size_t off_info = sizeof(eh);
	size_t off_str = off_info + sizeof(modinfo);
	size_t off_sh = (off_str + sizeof(shstrtab) + 7) & ~(size_t)7;
	size_t total = off_sh + sizeof(sh);

	if (total > size)
		return 0;
	memset(buf, 0, total);
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_REL;
	eh.e_machine = MODULE_MACHINE;
	eh.e_version = EV_CURRENT;
	eh.e_shoff = off_sh;
	eh.e_ehsize = sizeof(eh);
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = 3;
	eh.e_shstrndx = 2;
	memset(sh, 0, sizeof(sh));
	sh[1].sh_name = 1;
	sh[1].sh_type = SHT_PROGBITS;
	sh[1].sh_flags = SHF_ALLOC;
	sh[1].sh_offset = off_info;
	sh[1].sh_size = sizeof(modinfo);
	sh[1].sh_addralign = 1;
	sh[2].sh_name = 10;
	sh[2].sh_type = SHT_STRTAB;
	sh[2].sh_offset = off_str;
	sh[2].sh_size = sizeof(shstrtab);
	sh[2].sh_addralign = 1;
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + off_info, modinfo, sizeof(modinfo));
	memcpy(buf + off_str, shstrtab, sizeof(shstrtab));
	memcpy(buf + off_sh, sh, sizeof(sh));
	return total;
}

static void do_modules(void)
{
	unsigned char image[512];
	size_t len = fake_module(image, sizeof(image));
	long r;
	int fd;

	r = SC(SYS_init_module, image, (unsigned long)len, "sentrace=1");
	rec_begin("init_module", "load_module", r);
	rec_str("name", "sentrace_fake");
	rec_str("args", "sentrace=1");
	rec_bool("from_memory", true);
	rec_str("_comment", "an image without a module structure; cannot succeed safely");
	rec_end();

	fd = open("f_exist", O_RDONLY);
	r = SC(SYS_finit_module, fd, "", 0);
	rec_begin("finit_module", "load_module", r);
	rec_str("path", in_scratch("f_exist"));
	rec_str("args", "");
	rec_bool("from_memory", false);
	rec_str("_comment", "a regular file that is no module");
	rec_end();
	close(fd);

	r = SC(SYS_delete_module, "sentrace_nonexistent", O_NONBLOCK);
	rec_begin("delete_module", "unload_module", r);
	rec_str("name", "sentrace_nonexistent");
	rec_int("flags", O_NONBLOCK);
	rec_end();
}

static long peek_target = 0x5e17ace;

static void do_ptrace(void)
{
	long word = 0, r;
	pid_t child;
	int p[2], st;
	char c = 0;

	/*
	 * Every child of a tracee is traced by sentrace, so it cannot be
	 * attached by us, except one cloned with CLONE_UNTRACED.  That child
	 * only reads a pipe and exits, neither of which the tracer stops on.
	 */
	if (pipe(p) < 0)
		die("pipe");
	child = (pid_t)syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
	if (child < 0)
		die("clone");
	if (child == 0) {
		syscall(SYS_read, p[0], &c, 1);
		syscall(SYS_exit_group, 0);
	}
	r = SC(SYS_ptrace, PTRACE_ATTACH, child, 0, 0);
	rec_begin("ptrace", "ptrace", r);
	rec_int("request", PTRACE_ATTACH);
	rec_int("target", child);
	rec_str("_comment", "child cloned with CLONE_UNTRACED");
	rec_end();
	if (r == 0) {
		waitpid(child, &st, __WALL);
		r = SC(SYS_ptrace, PTRACE_PEEKDATA, child, &peek_target, &word);
		rec_begin("ptrace", "ptrace", r);
		rec_int("request", PTRACE_PEEKDATA);
		rec_int("target", child);
		rec_end();
		r = SC(SYS_ptrace, PTRACE_DETACH, child, 0, 0);
		rec_begin("ptrace", "ptrace", r);
		rec_int("request", PTRACE_DETACH);
		rec_int("target", child);
		rec_end();
	}
	if (write(p[1], &c, 1) != 1)
		die("write");
	waitpid(child, &st, __WALL);
	close(p[0]);
	close(p[1]);

	/* Our parent is the tracer: the tracer refuses it (EPERM) and reports
	 * a tracer_tamper (docs/security.md). */
	r = SC(SYS_ptrace, PTRACE_PEEKDATA, getppid(), &peek_target, &word);
	rec_begin("ptrace", "tracer_tamper", r);
	rec_int("request", PTRACE_PEEKDATA);
	rec_int("target", getppid());
	rec_end();

	/* We are traced already: EPERM. */
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		r = SC(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
		rec_begin("ptrace", "ptrace", r);
		rec_int("request", PTRACE_TRACEME);
		rec_str("_comment", "the caller is already traced");
		rec_end();
		_exit(0);
	}
	waitpid(child, &st, 0);
}

static void do_misc(void)
{
	union bpf_attr attr;
	long r;

	r = SC(SYS_memfd_create, "sentrace-memfd", MFD_CLOEXEC);
	rec_begin("memfd_create", "memfd_create", r);
	rec_str("name", "sentrace-memfd");
	rec_int("flags", MFD_CLOEXEC);
	rec_end();
	if (r >= 0)
		close((int)r);
	r = SC(SYS_memfd_create, "sentrace-bad", 0x100);
	rec_begin("memfd_create", "memfd_create", r);
	rec_str("name", "sentrace-bad");
	rec_int("flags", 0x100);
	rec_end();

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	r = SC(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	rec_begin("bpf", "bpf", r);
	rec_int("cmd", BPF_MAP_CREATE);
	rec_end();
	if (r >= 0)
		close((int)r);
	r = SC(SYS_bpf, 9999, &attr, sizeof(attr));
	rec_begin("bpf", "bpf", r);
	rec_int("cmd", 9999);
	rec_end();

	r = SC(SYS_prctl, PR_SET_NAME, "sentrace-pr", 0, 0, 0);
	rec_begin("prctl", "prctl", r);
	rec_int("option", PR_SET_NAME);
	rec_str("name", "sentrace-pr");
	rec_end();
	r = SC(SYS_prctl, PR_SET_NAME, (char *)8, 0, 0, 0);
	rec_begin("prctl", "prctl", r);
	rec_int("option", PR_SET_NAME);
	rec_str("_comment", "unreadable name: EFAULT");
	rec_end();
}

/* Socket calls.  On i386 there is no accept(2) syscall: it only exists
 * inside socketcall(2), which the tracer decodes into "accept". */
static long socketcall_or(long nr, int call, unsigned long a0, unsigned long a1,
			  unsigned long a2, bool via_socketcall)
{
#ifdef SYS_socketcall
	if (via_socketcall || nr < 0) {
		unsigned long args[3] = { a0, a1, a2 };

		return SC(SYS_socketcall, call, args);
	}
#endif
	(void)call;
	(void)via_socketcall;
	return SC(nr, a0, a1, a2);
}

#ifdef SYS_accept
#define NR_ACCEPT SYS_accept
#else
#define NR_ACCEPT (-1L)
#endif

static long sock_bind(int fd, const void *sa, socklen_t len, bool via)
{
	return socketcall_or(SYS_bind, SYS_BIND, fd, (unsigned long)sa, len, via);
}

static long sock_connect(int fd, const void *sa, socklen_t len, bool via)
{
	return socketcall_or(SYS_connect, SYS_CONNECT, fd, (unsigned long)sa, len, via);
}

static long sock_accept(int fd, void *sa, socklen_t *len)
{
	return socketcall_or(NR_ACCEPT, SYS_ACCEPT, fd, (unsigned long)sa,
			     (unsigned long)len, false);
}

static struct sockaddr_in inet4(uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sin;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		die("getsockname");
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void rec_inet(const char *name, const char *ev, long r, int fd, int family,
		     const char *addr, uint16_t port)
{
	rec_begin(name, ev, r);
	rec_int("fd", fd);
	rec_int("family", family);
	rec_str("addr", addr);
	rec_int("port", port);
}

static int new_socket(int family, int type)
{
	long r = SC(SYS_socket, family, type, 0);

	rec_begin("socket", "socket", r);
	rec_int("family", family);
	rec_int("type", type);
	rec_int("protocol", 0);
	rec_end();
	if (r < 0)
		die("socket");
	return (int)r;
}

static void do_sockets(void)
{
	struct sockaddr_in sin, peer;
	struct sockaddr_in6 sin6;
	struct sockaddr_un sun;
	socklen_t len;
	uint16_t port, closed_port, cport;
	int lfd, cfd, bfd, tfd, ufd, ucfd, afd, s6, c6;
	long r;

	lfd = new_socket(AF_INET, SOCK_STREAM);
	r = SC(SYS_socket, 200, SOCK_STREAM, 0);
	rec_begin("socket", "socket", r);
	rec_int("family", 200);
	rec_int("type", SOCK_STREAM);
	rec_int("protocol", 0);
	rec_end();

	sin = inet4(0);
	r = sock_bind(lfd, &sin, sizeof(sin), false);
	rec_inet("bind", "bind", r, lfd, AF_INET, "127.0.0.1", 0);
	rec_str("_comment", "port 0 as asked, not the one the kernel picked");
	rec_end();
	port = local_port(lfd);

	r = SC(SYS_listen, lfd, 16);
	rec_begin("listen", "listen", r);
	rec_int("fd", lfd);
	rec_int("backlog", 16);
	rec_end();
	r = SC(SYS_listen, BAD_FD, 5);
	rec_begin("listen", "listen", r);
	rec_int("fd", BAD_FD);
	rec_int("backlog", 5);
	rec_end();

	bfd = new_socket(AF_INET, SOCK_STREAM);
	sin = inet4(port);
	r = sock_bind(bfd, &sin, sizeof(sin), false);
	rec_inet("bind", "bind", r, bfd, AF_INET, "127.0.0.1", port);
	rec_str("_comment", "port of the listener: EADDRINUSE");
	rec_end();

	cfd = new_socket(AF_INET, SOCK_STREAM);
	r = sock_connect(cfd, &sin, sizeof(sin), false);
	rec_inet("connect", "connect", r, cfd, AF_INET, "127.0.0.1", port);
	rec_end();
	cport = local_port(cfd);

	len = sizeof(peer);
	r = sock_accept(lfd, &peer, &len);
	rec_inet("accept", "accept", r, lfd, AF_INET, "127.0.0.1", cport);
	rec_end();
	if (r >= 0)
		close((int)r);
	close(cfd);

	cfd = new_socket(AF_INET, SOCK_STREAM);
	r = sock_connect(cfd, &sin, sizeof(sin), false);
	rec_inet("connect", "connect", r, cfd, AF_INET, "127.0.0.1", port);
	rec_end();
	cport = local_port(cfd);
	len = sizeof(peer);
	r = SC(SYS_accept4, lfd, &peer, &len, SOCK_CLOEXEC);
	rec_inet("accept4", "accept", r, lfd, AF_INET, "127.0.0.1", cport);
	rec_end();
	if (r >= 0)
		close((int)r);
	close(cfd);

	len = sizeof(peer);
	r = sock_accept(bfd, &peer, &len);
	rec_begin("accept", "accept", r);
	rec_int("fd", bfd);
	rec_str("_comment", "not a listening socket: EINVAL");
	rec_end();
	len = sizeof(peer);
	r = SC(SYS_accept4, BAD_FD, &peer, &len, 0);
	rec_begin("accept4", "accept", r);
	rec_int("fd", BAD_FD);
	rec_end();

	/* A port that nobody listens on: bound once, then released. */
	tfd = socket(AF_INET, SOCK_STREAM, 0);
	sin = inet4(0);
	if (tfd < 0 || bind(tfd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("bind");
	closed_port = local_port(tfd);
	close(tfd);
	cfd = new_socket(AF_INET, SOCK_STREAM);
	sin = inet4(closed_port);
	r = sock_connect(cfd, &sin, sizeof(sin), false);
	rec_inet("connect", "connect", r, cfd, AF_INET, "127.0.0.1", closed_port);
	rec_str("_comment", "closed port: ECONNREFUSED");
	rec_end();
	close(cfd);
	close(bfd);

	/* AF_UNIX: a path in the scratch directory and an abstract name. */
	ufd = new_socket(AF_UNIX, SOCK_STREAM);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", in_scratch("u.sock"));
	r = sock_bind(ufd, &sun, sizeof(sun), false);
	rec_begin("bind", "bind", r);
	rec_int("fd", ufd);
	rec_int("family", AF_UNIX);
	rec_str("path", sun.sun_path);
	rec_end();
	if (listen(ufd, 4) < 0)
		die("listen");
	ucfd = new_socket(AF_UNIX, SOCK_STREAM);
	r = sock_connect(ucfd, &sun, sizeof(sun), COMPAT);
	rec_begin("connect", "connect", r);
	rec_int("fd", ucfd);
	rec_int("family", AF_UNIX);
	rec_str("path", sun.sun_path);
	if (COMPAT)
		rec_str("_via", "socketcall");
	rec_end();
	len = sizeof(sun);
	afd = (int)sock_accept(ufd, &sun, &len);
	rec_begin("accept", "accept", afd);
	rec_int("fd", ufd);
	rec_int("family", AF_UNIX);
	rec_end();
	close(afd);
	close(ucfd);
	close(ufd);

	ufd = new_socket(AF_UNIX, SOCK_STREAM);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	len = (socklen_t)snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
				  "sentrace-abstract-%d", (int)getpid());
	len += offsetof(struct sockaddr_un, sun_path) + 1;
	r = sock_bind(ufd, &sun, len, COMPAT);
	rec_begin("bind", "bind", r);
	rec_int("fd", ufd);
	rec_int("family", AF_UNIX);
	{
		char name[sizeof(sun.sun_path) + 1];

		snprintf(name, sizeof(name), "@%s", sun.sun_path + 1);
		rec_str("path", name);
	}
	if (COMPAT)
		rec_str("_via", "socketcall");
	rec_end();
	close(ufd);

	/* AF_INET6 on ::1. */
	s6 = new_socket(AF_INET6, SOCK_STREAM);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	r = sock_bind(s6, &sin6, sizeof(sin6), false);
	rec_inet("bind", "bind", r, s6, AF_INET6, "::1", 0);
	rec_end();
	if (r == 0 && listen(s6, 4) == 0) {
		sin6.sin6_port = htons(local_port(s6));
		c6 = new_socket(AF_INET6, SOCK_STREAM);
		r = sock_connect(c6, &sin6, sizeof(sin6), false);
		rec_inet("connect", "connect", r, c6, AF_INET6, "::1", ntohs(sin6.sin6_port));
		rec_end();
		close(c6);
	}
	close(s6);
	close(lfd);
}

static void do_exec(void)
{
	char *argv_ok[] = { "true", "sentrace-arg", NULL };
	char *argv_bad[] = { "prog", "x", NULL };
	char *envp[] = { "SENTRACE_TEST=1", NULL };
	pid_t child;
	long r;
	int st;

	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		syscall(SYS_execve, "/bin/true", argv_ok, envp);
		_exit(127);
	}
	if (waitpid(child, &st, 0) < 0)
		die("waitpid");
	rec.len = 0;
	rec.first = true;
	rec_append("{");
	rec_str("syscall", "execve");
	rec_str("ev", "exec");
	rec_int("ret", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1);
	rec_int("pid", child);
	if (COMPAT)
		rec_bool("compat", true);
	rec_str("file", "/bin/true");
	rec_strv("argv", argv_ok);
	/* Its value is not reported: the variable is on no keep list. */
	rec_strv("envp", (char *[]){ "SENTRACE_TEST", NULL });
	rec_int("uid", getuid());
	rec_int("euid", geteuid());
	rec_int("gid", getgid());
	rec_int("egid", getegid());
	rec_str("cwd", scratch);
	rec_int("ppid", getpid());
	rec_str("_comment", "in a forked child; ret from its exit status");
	rec_end();

	r = SC(SYS_execve, "nodir/prog", argv_bad, envp);
	rec_begin("execve", "exec", r);
	rec_str("file", in_scratch("nodir/prog"));
	rec_strv("argv", argv_bad);
	rec_end();
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
		return 2;
	}
	if (!realpath(argv[1], scratch))
		die(argv[1]);
	scratch_fd = open(scratch, O_RDONLY | O_DIRECTORY);
	if (scratch_fd < 0)
		die(scratch);
	if (mkdirat(scratch_fd, "sub", 0755) < 0)
		die("mkdir sub");
	sub_fd = openat(scratch_fd, "sub", O_RDONLY | O_DIRECTORY);
	if (sub_fd < 0)
		die("open sub");

	do_chdir();
	do_open();
	do_unlink();
	do_rename();
	do_mkdir();
	do_link();
	do_chmod();
	do_chown();
	do_utimes();
	do_truncate();
	do_mount();
	do_setid();
	do_capset();
	do_modules();
	do_ptrace();
	do_misc();
	do_sockets();
	do_exec();
	return 0;
}
