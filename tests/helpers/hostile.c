// SPDX-License-Identifier: Apache-2.0
/*
 * hostile: a tracee that tries to crash, hang or exhaust its tracer.
 *
 *   hostile MODE [ARGS…]
 *
 * Modes that check decoding (efault, unterminated, bigexec, procself,
 * longpath, sockaddr, errors) make their calls through syscall(2) and print
 * one JSON line per call on stdout: "ev", "syscall", "pid", "ret" and the
 * keys the tracer should report with their values; "absent" lists keys
 * the tracer cannot know (their memory is unreadable) and must leave out;
 * "cut" maps a key to the only value it may have when present (a string
 * that ran into unmapped memory, reported as far as it could be read).
 * Keys starting with "_" are comments.
 *
 * The other modes are workloads for the kill, load and probe-restart
 * tests; each documents what it prints.  Every loop is bounded.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/openat2.h>

#define PAGE 4096
#define BAD_FD 1000

static char self_exe[PATH_MAX];

/* --- one JSON line, written with a single write(2) ----------------------- */

static struct {
	char buf[1 << 17];
	size_t len;
	bool first;
} L;

static void die(const char *what)
{
	fprintf(stderr, "hostile: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void l_raw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void l_raw(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(L.buf + L.len, sizeof(L.buf) - L.len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(L.buf) - L.len) {
		fprintf(stderr, "hostile: JSON line too long\n");
		exit(2);
	}
	L.len += (size_t)n;
}

static void l_begin(void)
{
	L.len = 0;
	L.first = true;
	l_raw("{");
}

static void l_key(const char *key)
{
	l_raw("%s\"%s\":", L.first ? "" : ",", key);
	L.first = false;
}

static void l_quoted(const char *s, size_t n)
{
	l_raw("\"");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			l_raw("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			l_raw("\\u%04x", c);
		else
			l_raw("%c", c);
	}
	l_raw("\"");
}

static void l_strn(const char *key, const char *v, size_t n)
{
	l_key(key);
	l_quoted(v, n);
}

static void l_str(const char *key, const char *v)
{
	l_strn(key, v, strlen(v));
}

static void l_int(const char *key, long long v)
{
	l_key(key);
	l_raw("%lld", v);
}

static void l_bool(const char *key, bool v)
{
	l_key(key);
	l_raw("%s", v ? "true" : "false");
}

/* "absent": the keys given, a NULL-terminated list. */
static void l_absent(const char *k, ...)
{
	va_list ap;
	bool first = true;

	l_key("absent");
	l_raw("[");
	va_start(ap, k);
	for (; k; k = va_arg(ap, const char *)) {
		l_raw("%s\"%s\"", first ? "" : ",", k);
		first = false;
	}
	va_end(ap);
	l_raw("]");
}

static void l_end(void)
{
	ssize_t w;

	l_raw("}\n");
	w = write(STDOUT_FILENO, L.buf, L.len);
	if (w != (ssize_t)L.len)
		_exit(99);
}

/* Starts the ground truth of one call. */
static void gt(const char *ev, const char *sc, long ret)
{
	l_begin();
	l_str("ev", ev);
	l_str("syscall", sc);
	l_int("pid", getpid());
	l_int("ret", ret);
}

static long ret_of(long r)
{
	return r < 0 ? -errno : r;
}

#define SC(...) ret_of(syscall(__VA_ARGS__))

static void make_file(const char *name, mode_t mode)
{
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0)
		die(name);
	if (write(fd, "x\n", 2) != 2)
		die("write");
	close(fd);
}

static char *cat(const char *a, const char *b)
{
	static char ring[8][PATH_MAX];
	static unsigned next;
	char *p = ring[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", a, b);
	return p;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A page nobody can read: the unreadable pointer of every test. */
static void *bad_page(void)
{
	void *p = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

/* Two pages, the second PROT_NONE; the first filled with c, no NUL. */
static char *fence(char c)
{
	char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	if (mprotect(p + PAGE, PAGE, PROT_NONE) < 0)
		die("mprotect");
	memset(p, c, PAGE);
	return p;
}

static int unix_listener(const char *path, int backlog)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		die("bind");
	if (backlog >= 0 && listen(fd, backlog) < 0)
		die("listen");
	return fd;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		die("connect");
	return fd;
}

/* Waits for a child; returns its status. */
static int reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	return st;
}

/* --- efault: an unreadable pointer in every pointer argument ---------------- */

static void mode_efault(const char *dir)
{
	char *bad = bad_page();
	char *argv_ok[] = { "hostile", "x", NULL };
	char *envp_ok[] = { "A=1", NULL };
	char *argv_badelem[] = { "hostile", bad, NULL };
	struct open_how how = { .flags = O_RDONLY };
	struct __user_cap_header_struct ch = { _LINUX_CAPABILITY_VERSION_3, 0 };
	long r;
	int s, l;

	if (chdir(dir) < 0)
		die("chdir");
	make_file("exists", 0644);
	make_file("victim", 0644);

	/* exec: the file, the arrays, one element */
	r = SC(SYS_execve, bad, argv_ok, envp_ok);
	gt("exec", "execve", r);
	l_absent("file", NULL);
	l_end();
	r = SC(SYS_execve, "/bin/true", bad, envp_ok);
	gt("exec", "execve", r);
	l_str("_what", "argv array unreadable");
	l_str("_known", "exec-arrays");
	l_absent("argv", NULL);
	l_end();
	r = SC(SYS_execve, "/bin/true", argv_ok, bad);
	gt("exec", "execve", r);
	l_str("_what", "envp array unreadable");
	l_str("_known", "exec-arrays");
	l_absent("envp", NULL);
	l_end();
	r = SC(SYS_execve, "/bin/true", argv_badelem, envp_ok);
	gt("exec", "execve", r);
	l_str("_what", "argv[1] unreadable");
	l_bool("argv_truncated", true);
	l_end();
	r = SC(SYS_execveat, AT_FDCWD, bad, argv_ok, envp_ok, 0);
	gt("exec", "execveat", r);
	l_absent("file", NULL);
	l_end();

	/* files */
#ifdef SYS_open
	r = SC(SYS_open, bad, O_RDONLY, 0);
	gt("open", "open", r);
	l_int("flags", O_RDONLY);
	l_absent("path", NULL);
	l_end();
#endif
	r = SC(SYS_openat, AT_FDCWD, bad, O_RDONLY, 0);
	gt("open", "openat", r);
	l_int("flags", O_RDONLY);
	l_absent("path", NULL);
	l_end();
	r = SC(SYS_openat2, AT_FDCWD, bad, &how, sizeof(how));
	gt("open", "openat2", r);
	l_absent("path", NULL);
	l_end();
	r = SC(SYS_openat2, AT_FDCWD, "exists", bad, sizeof(how));
	gt("open", "openat2", r);
	l_str("path", cat(dir, "exists"));
	l_absent("flags", "mode", NULL);
	l_end();
#ifdef SYS_creat
	r = SC(SYS_creat, bad, 0600);
	gt("open", "creat", r);
	l_int("mode", 0600);
	l_absent("path", NULL);
	l_end();
#endif
#ifdef SYS_unlink
	r = SC(SYS_unlink, bad);
	gt("unlink", "unlink", r);
	l_absent("path", NULL);
	l_end();
#endif
	r = SC(SYS_unlinkat, AT_FDCWD, bad, 0);
	gt("unlink", "unlinkat", r);
	l_absent("path", NULL);
	l_end();
	r = SC(SYS_unlinkat, AT_FDCWD, bad, AT_REMOVEDIR);
	gt("rmdir", "unlinkat", r);
	l_absent("path", NULL);
	l_end();
#ifdef SYS_rmdir
	r = SC(SYS_rmdir, bad);
	gt("rmdir", "rmdir", r);
	l_absent("path", NULL);
	l_end();
#endif
#ifdef SYS_rename
	r = SC(SYS_rename, bad, "dest");
	gt("rename", "rename", r);
	l_str("dest", cat(dir, "dest"));
	l_absent("path", NULL);
	l_end();
	r = SC(SYS_rename, "victim", bad);
	gt("rename", "rename", r);
	l_str("path", cat(dir, "victim"));
	l_absent("dest", NULL);
	l_end();
#endif
	r = SC(SYS_renameat, AT_FDCWD, bad, AT_FDCWD, bad);
	gt("rename", "renameat", r);
	l_absent("path", "dest", NULL);
	l_end();
	r = SC(SYS_renameat2, AT_FDCWD, bad, AT_FDCWD, bad, 0);
	gt("rename", "renameat2", r);
	l_absent("path", "dest", NULL);
	l_end();
#ifdef SYS_mkdir
	r = SC(SYS_mkdir, bad, 0755);
	gt("mkdir", "mkdir", r);
	l_int("mode", 0755);
	l_absent("path", NULL);
	l_end();
#endif
	r = SC(SYS_mkdirat, AT_FDCWD, bad, 0755);
	gt("mkdir", "mkdirat", r);
	l_absent("path", NULL);
	l_end();
#ifdef SYS_link
	r = SC(SYS_link, bad, "newlink");
	gt("link", "link", r);
	l_absent("path", NULL);
	l_end();
	r = SC(SYS_link, "exists", bad);
	gt("link", "link", r);
	l_str("path", cat(dir, "exists"));
	l_absent("dest", NULL);
	l_end();
#endif
	r = SC(SYS_linkat, AT_FDCWD, bad, AT_FDCWD, bad, 0);
	gt("link", "linkat", r);
	l_absent("path", "dest", NULL);
	l_end();
#ifdef SYS_symlink
	r = SC(SYS_symlink, bad, "sym");
	gt("symlink", "symlink", r);
	l_str("path", cat(dir, "sym"));
	l_absent("target", NULL);
	l_end();
	r = SC(SYS_symlink, "target", bad);
	gt("symlink", "symlink", r);
	l_str("target", "target");
	l_absent("path", NULL);
	l_end();
#endif
	r = SC(SYS_symlinkat, bad, AT_FDCWD, bad);
	gt("symlink", "symlinkat", r);
	l_absent("target", "path", NULL);
	l_end();
#ifdef SYS_chmod
	r = SC(SYS_chmod, bad, 0600);
	gt("chmod", "chmod", r);
	l_int("mode", 0600);
	l_absent("path", NULL);
	l_end();
#endif
	r = SC(SYS_fchmodat, AT_FDCWD, bad, 0600);
	gt("chmod", "fchmodat", r);
	l_absent("path", NULL);
	l_end();
#ifdef SYS_chown
	r = SC(SYS_chown, bad, -1, -1);
	gt("chown", "chown", r);
	l_int("uid", -1);
	l_int("gid", -1);
	l_absent("path", NULL);
	l_end();
	r = SC(SYS_lchown, bad, -1, -1);
	gt("chown", "lchown", r);
	l_absent("path", NULL);
	l_end();
#endif
	r = SC(SYS_fchownat, AT_FDCWD, bad, -1, -1, 0);
	gt("chown", "fchownat", r);
	l_absent("path", NULL);
	l_end();
#ifdef SYS_utime
	r = SC(SYS_utime, bad, NULL);
	gt("utimes", "utime", r);
	l_absent("path", NULL);
	l_end();
	r = SC(SYS_utimes, bad, NULL);
	gt("utimes", "utimes", r);
	l_absent("path", NULL);
	l_end();
	r = SC(SYS_futimesat, AT_FDCWD, bad, NULL);
	gt("utimes", "futimesat", r);
	l_absent("path", NULL);
	l_end();
#endif
	r = SC(SYS_utimensat, AT_FDCWD, bad, NULL, 0);
	gt("utimes", "utimensat", r);
	l_absent("path", NULL);
	l_end();
	r = SC(SYS_utimensat, AT_FDCWD, "exists", bad, 0);
	gt("utimes", "utimensat", r);
	l_str("_what", "times unreadable, path fine");
	l_str("path", cat(dir, "exists"));
	l_end();
	r = SC(SYS_truncate, bad, 0);
	gt("truncate", "truncate", r);
	l_int("length", 0);
	l_absent("path", NULL);
	l_end();
	r = SC(SYS_mount, bad, bad, bad, 0, NULL);
	gt("mount", "mount", r);
	l_absent("source", "target", "fstype", NULL);
	l_end();
	r = SC(SYS_mount, "none", bad, "tmpfs", 0, NULL);
	gt("mount", "mount", r);
	l_str("source", "none");
	l_str("fstype", "tmpfs");
	l_absent("target", NULL);
	l_end();
	r = SC(SYS_umount2, bad, 0);
	gt("umount", "umount2", r);
	l_absent("target", NULL);
	l_end();
	r = SC(SYS_chdir, bad);
	gt("chdir", "chdir", r);
	l_absent("path", NULL);
	l_end();
	r = SC(SYS_memfd_create, bad, 0);
	gt("memfd_create", "memfd_create", r);
	l_absent("name", NULL);
	l_end();

	/* capabilities, modules, prctl */
	r = SC(SYS_capset, bad, bad);
	gt("capset", "capset", r);
	l_absent("effective", "permitted", "inheritable", NULL);
	l_end();
	r = SC(SYS_capset, &ch, bad);
	gt("capset", "capset", r);
	l_str("_what", "header fine, data unreadable");
	l_absent("effective", "permitted", "inheritable", NULL);
	l_end();
	r = SC(SYS_init_module, bad, (unsigned long)PAGE, "");
	gt("load_module", "init_module", r);
	l_absent("name", NULL);
	l_end();
	r = SC(SYS_finit_module, -1, bad, 0);
	gt("load_module", "finit_module", r);
	l_absent("args", NULL);
	l_end();
	r = SC(SYS_delete_module, bad, 0);
	gt("unload_module", "delete_module", r);
	l_absent("name", NULL);
	l_end();
	r = SC(SYS_prctl, PR_SET_NAME, bad, 0, 0, 0);
	gt("prctl", "prctl", r);
	l_absent("name", NULL);
	l_end();

	/* network */
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r = SC(SYS_bind, s, bad, sizeof(struct sockaddr_in));
	gt("bind", "bind", r);
	l_int("fd", s);
	l_absent("family", "addr", "port", NULL);
	l_end();
	r = SC(SYS_connect, s, bad, sizeof(struct sockaddr_in));
	gt("connect", "connect", r);
	l_int("fd", s);
	l_absent("family", "addr", "port", NULL);
	l_end();
	r = SC(SYS_connect, s, NULL, sizeof(struct sockaddr_in));
	gt("connect", "connect", r);
	l_str("_what", "NULL address");
	l_absent("family", "addr", "port", NULL);
	l_end();
	close(s);
	l = unix_listener(cat(dir, "acc.sock"), 8);
	close(unix_connect(cat(dir, "acc.sock")));
	close(unix_connect(cat(dir, "acc.sock")));
#ifdef SYS_accept
	r = SC(SYS_accept, l, bad, bad);
	gt("accept", "accept", r);
	l_int("fd", l);
	l_absent("family", "path", NULL);
	l_end();
	if (r >= 0)
		close((int)r);
#endif
	r = SC(SYS_accept4, l, bad, bad, 0);
	gt("accept", "accept4", r);
	l_int("fd", l);
	l_absent("family", "path", NULL);
	l_end();
	if (r >= 0)
		close((int)r);
	close(l);
}

/* --- unterminated: strings that run into an unmapped page --------------------- */

static void mode_unterminated(const char *dir)
{
	char *a = fence('a');
	char *end = a + PAGE;
	char *a100 = end - 100, *a10 = end - 10, *a300 = end - 300;
	char name100[101], name108[109];
	char *argv[] = { "hostile", a100, NULL };
	char *envp[] = { "A=1", a10, NULL };
	char **parr;
	struct sockaddr_un *sun;
	long r;
	int s;

	if (chdir(dir) < 0)
		die("chdir");
	memset(name100, 'a', 100);
	name100[100] = '\0';

	r = SC(SYS_openat, AT_FDCWD, a100, O_RDONLY, 0);
	gt("open", "openat", r);
	l_key("cut");
	l_raw("{");
	l_quoted("path", 4);
	l_raw(":");
	l_quoted(cat(dir, name100), strlen(dir) + 101);
	l_raw("}");
	l_end();
	/* A whole page of 'a': longer than PATH_MAX before it even faults. */
	r = SC(SYS_openat, AT_FDCWD, a, O_RDONLY, 0);
	gt("open", "openat", r);
	l_str("_what", "4096 bytes, no NUL");
	l_end();
	r = SC(SYS_mkdirat, AT_FDCWD, a300, 0700);
	gt("mkdir", "mkdirat", r);
	l_end();
	r = SC(SYS_renameat2, AT_FDCWD, a100, AT_FDCWD, a10, 0);
	gt("rename", "renameat2", r);
	l_end();
	r = SC(SYS_symlinkat, a100, AT_FDCWD, "sym-cut");
	gt("symlink", "symlinkat", r);
	l_str("path", cat(dir, "sym-cut"));
	l_key("cut");
	l_raw("{\"target\":");
	l_quoted(name100, 100);
	l_raw("}");
	l_end();
	r = SC(SYS_execve, "/bin/true", argv, envp);
	gt("exec", "execve", r);
	l_bool("argv_truncated", true);
	l_bool("envp_truncated", true);
	l_end();
	r = SC(SYS_mount, a100, "/nonexistent-hostile-target", a10, 0, NULL);
	gt("mount", "mount", r);
	l_end();
	r = SC(SYS_memfd_create, a100, 0);
	gt("memfd_create", "memfd_create", r);
	l_end();
	if (r >= 0)
		close((int)r);
	r = SC(SYS_memfd_create, a300, 0);
	gt("memfd_create", "memfd_create", r);
	l_end();
	r = SC(SYS_delete_module, a100, 0);
	gt("unload_module", "delete_module", r);
	l_end();
	r = SC(SYS_prctl, PR_SET_NAME, a10, 0, 0, 0);
	gt("prctl", "prctl", r);
	l_end();
	r = SC(SYS_prctl, PR_SET_NAME, end - 20, 0, 0, 0);
	gt("prctl", "prctl", r);
	/* The kernel takes TASK_COMM_LEN - 1 = 15 characters. */
	l_strn("name", a, 15);
	l_str("_known", "comm-length");
	l_end();
	r = SC(SYS_init_module, end - 64, 64UL, a10);
	gt("load_module", "init_module", r);
	l_end();

	/* argv array with no NULL before the unmapped page. */
	parr = (char **)(end - 4 * sizeof(char *));
	for (int i = 0; i < 4; i++)
		parr[i] = "hostile";
	r = SC(SYS_execve, "/bin/true", parr, envp);
	gt("exec", "execve", r);
	l_str("_what", "argv array without a terminating NULL");
	l_str("_known", "exec-arrays");
	l_bool("argv_truncated", true);
	l_end();
	memset(a, 'a', PAGE);

	/* A unix address whose sun_path fills it to the fault, no NUL. */
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sun = (struct sockaddr_un *)(end - sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memset(sun->sun_path, 'u', sizeof(sun->sun_path));
	memset(name108, 'u', 108);
	name108[108] = '\0';
	r = SC(SYS_bind, s, sun, sizeof(*sun));
	gt("bind", "bind", r);
	l_int("fd", s);
	l_int("family", AF_UNIX);
	l_str("path", name108);
	l_end();
	close(s);
	/* The same, claiming 20 bytes more than there are. */
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r = SC(SYS_connect, s, (char *)sun + 20, sizeof(*sun));
	gt("connect", "connect", r);
	l_int("fd", s);
	l_absent("family", "path", NULL);
	l_end();
	close(s);
}

/* --- bigexec: huge argv and environment ----------------------------------------- */

static void bigexec_case(const char *name, size_t nargs, size_t long_len,
			 size_t nenv, size_t env_len)
{
	size_t argc = 2 + nargs + (long_len ? 1 : 0);
	char **argv = calloc(argc + 1, sizeof(char *));
	char **envp = calloc(nenv + 1, sizeof(char *));
	char *longarg = NULL;
	pid_t pid;
	long ret;
	int st;

	if (!argv || !envp)
		die("calloc");
	argv[0] = self_exe;
	argv[1] = "bigexec-child";
	for (size_t i = 0; i < nargs; i++) {
		char tmp[24];

		snprintf(tmp, sizeof(tmp), "%zx", i);
		if (!(argv[2 + i] = strdup(tmp)))
			die("strdup");
	}
	if (long_len) {
		if (!(longarg = malloc(long_len + 1)))
			die("malloc");
		memset(longarg, 'L', long_len);
		longarg[long_len] = '\0';
		argv[2 + nargs] = longarg;
	}
	for (size_t i = 0; i < nenv; i++) {
		if (!(envp[i] = malloc(env_len)))
			die("malloc");
		snprintf(envp[i], env_len, "V%03zu=", i);
		memset(envp[i] + 5, 'v', env_len - 6);
		envp[i][env_len - 1] = '\0';
	}
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		syscall(SYS_execve, self_exe, argv, envp);
		_exit(100 + errno);
	}
	st = reap(pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		ret = 0;
	else if (WIFEXITED(st) && WEXITSTATUS(st) > 100)
		ret = -(WEXITSTATUS(st) - 100);
	else
		ret = -9999;
	l_begin();
	l_str("ev", "exec");
	l_str("syscall", "execve");
	l_int("pid", pid);
	l_int("ret", ret);
	l_str("case", name);
	l_str("argv0", self_exe);
	l_int("argc", (long long)argc);
	l_int("nargs", (long long)nargs);
	l_int("long_len", (long long)long_len);
	l_int("nenv", (long long)nenv);
	l_int("env_len", (long long)env_len);
	l_end();
	for (size_t i = 0; i < nargs; i++)
		free(argv[2 + i]);
	for (size_t i = 0; i < nenv; i++)
		free(envp[i]);
	free(longarg);
	free(argv);
	free(envp);
}

static void mode_bigexec(void)
{
	struct rlimit rl;

	getrlimit(RLIMIT_STACK, &rl);
	l_begin();
	l_str("info", "limits");
	l_int("arg_max", sysconf(_SC_ARG_MAX));
	l_int("stack_cur", rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur);
	l_end();
	/* 100,000 arguments and 64 KiB of environment: within ARG_MAX. */
	bigexec_case("many", 100000, 0, 64, 1024);
	/* One 100 KiB argument (MAX_ARG_STRLEN is 128 KiB). */
	bigexec_case("long", 0, 100 * 1024, 2, 64);
	/* Over the kernel's limits: E2BIG, yet read and cut. */
	bigexec_case("toolong", 0, 200 * 1024, 2, 64);
	bigexec_case("toomany", 400000, 0, 1, 64);
}

static int mode_bigexec_child(int argc, char **argv, char **envp)
{
	size_t env_bytes = 0, envc = 0;

	for (; envp[envc]; envc++)
		env_bytes += strlen(envp[envc]) + 1;
	(void)argv;
	l_begin();
	l_str("child", "bigexec");
	l_int("pid", getpid());
	l_int("argc", argc);
	l_int("envc", (long long)envc);
	l_int("env_bytes", (long long)env_bytes);
	l_end();
	return 0;
}

/* --- procself: exec through /proc/self/exe ----------------------------------------- */

static void mode_procself(void)
{
	char *argv[] = { "hostile", "exit0", NULL };
	char *envp[] = { NULL };
	pid_t pid = fork();
	int st;

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		syscall(SYS_execve, "/proc/self/exe", argv, envp);
		_exit(100 + errno);
	}
	st = reap(pid);
	l_begin();
	l_str("ev", "exec");
	l_str("syscall", "execve");
	l_int("pid", pid);
	l_int("ret", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1);
	l_str("file", self_exe);
	l_end();
}

/* --- longpath: over PATH_MAX, deep "../", a cwd longer than PATH_MAX ------------- */

static void mode_longpath(const char *dir)
{
	size_t big = 5000;
	char *p = malloc(big + 64);
	char comp[101];
	long r;
	int depth = 0;

	if (!p)
		die("malloc");
	if (chdir(dir) < 0)
		die("chdir");

	/* 5000 bytes of "a/a/…": ENAMETOOLONG. */
	for (size_t i = 0; i < big; i += 2)
		memcpy(p + i, "a/", 2);
	p[big] = '\0';
	r = SC(SYS_openat, AT_FDCWD, p, O_RDONLY, 0);
	gt("open", "openat", r);
	l_str("_what", "5000-byte path");
	l_end();

	/* 1000 "../" then etc/passwd: 3010 bytes, resolves to /etc/passwd. */
	p[0] = '\0';
	for (int i = 0; i < 1000; i++)
		strcat(p, "../");
	strcat(p, "etc/passwd");
	r = SC(SYS_openat, AT_FDCWD, p, O_RDONLY, 0);
	gt("open", "openat", r);
	l_str("path", "/etc/passwd");
	l_end();
	if (r >= 0)
		close((int)r);

	/* 1500 "../": 4510 bytes, too long. */
	p[0] = '\0';
	for (int i = 0; i < 1500; i++)
		strcat(p, "../");
	strcat(p, "etc/passwd");
	r = SC(SYS_openat, AT_FDCWD, p, O_RDONLY, 0);
	gt("open", "openat", r);
	l_str("_what", "1500 ../");
	l_end();

	/* A symlink target of 4095 bytes (the most there is) and of 5000. */
	memset(p, 'x', 4095);
	p[4095] = '\0';
	r = SC(SYS_symlinkat, p, AT_FDCWD, "long-target");
	gt("symlink", "symlinkat", r);
	l_str("path", cat(dir, "long-target"));
	l_str("target", p);
	l_end();
	memset(p, 'x', big);
	p[big] = '\0';
	r = SC(SYS_symlinkat, p, AT_FDCWD, "too-long-target");
	gt("symlink", "symlinkat", r);
	l_end();

	/* Descend until the cwd is over 5000 bytes long. */
	memset(comp, 'd', 100);
	comp[100] = '\0';
	for (depth = 0; depth < 50; depth++) {
		if (mkdir(comp, 0755) < 0 || chdir(comp) < 0)
			die("deep mkdir");
	}
	r = SC(SYS_openat, AT_FDCWD, "deep-file", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	gt("open", "openat", r);
	l_str("_what", "relative, in a cwd of 5000+ bytes");
	l_str("basename", "deep-file");
	l_end();
	if (r >= 0)
		close((int)r);
	r = SC(SYS_mkdirat, AT_FDCWD, "../../deep-dir", 0755);
	gt("mkdir", "mkdirat", r);
	l_str("basename", "deep-dir");
	l_end();
	r = SC(SYS_unlinkat, AT_FDCWD, "deep-file", 0);
	gt("unlink", "unlinkat", r);
	l_str("basename", "deep-file");
	l_end();
	free(p);
}

/* --- sockaddr: every length from 0 to 128 for bind and connect --------------------- */

enum { SA_INET, SA_INET6, SA_UNIX, SA_ABSTRACT, SA_UNTERMINATED, SA_KINDS };
static const char *const sa_names[] = { "inet", "inet6", "unix", "abstract",
					"unterminated" };

static void sa_fill(int kind, unsigned char *buf, size_t cap, int port, size_t len)
{
	memset(buf, 'Z', cap);
	switch (kind) {
	case SA_INET: {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		memcpy(buf, &sin, sizeof(sin));
		break;
	}
	case SA_INET6: {
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

		sin6.sin6_addr = in6addr_loopback;
		memcpy(buf, &sin6, sizeof(sin6));
		break;
	}
	case SA_UNIX: {
		sa_family_t f = AF_UNIX;

		memcpy(buf, &f, sizeof(f));
		/* Relative: short lengths cut it, and it must stay in the cwd. */
		snprintf((char *)buf + 2, cap - 2, "s%03zu", len);
		break;
	}
	case SA_ABSTRACT: {
		sa_family_t f = AF_UNIX;

		memcpy(buf, &f, sizeof(f));
		buf[2] = '\0';
		snprintf((char *)buf + 3, cap - 3, "hostile-%d-%zu", (int)getpid(), len);
		buf[3 + strlen((char *)buf + 3)] = 'Z';
		break;
	}
	case SA_UNTERMINATED: {
		sa_family_t f = AF_UNIX;

		memcpy(buf, &f, sizeof(f));
		memset(buf + 2, 'u', 108);
		break;
	}
	}
}

/* What the tracer should make of LEN bytes of BUF (it reads at most 128). */
static void sa_expect(int kind, const unsigned char *buf, size_t len)
{
	size_t n = len < 128 ? len : 128;
	char ip[INET6_ADDRSTRLEN];

	if (n < 2) {
		l_absent("family", "addr", "port", "path", NULL);
		return;
	}
	l_int("family", kind == SA_INET ? AF_INET : kind == SA_INET6 ? AF_INET6 : AF_UNIX);
	if (kind == SA_INET || kind == SA_INET6) {
		/* What the kernel uses: 16 bytes for AF_INET; for AF_INET6, 24
		 * (SIN6_LEN_RFC2133, no scope id) are enough. */
		size_t need = kind == SA_INET ? 16 : 24;

		if (n >= need) {
			uint16_t port;

			memcpy(&port, buf + 2, 2);
			inet_ntop(kind == SA_INET ? AF_INET : AF_INET6,
				  buf + (kind == SA_INET ? 4 : 8), ip, sizeof(ip));
			l_str("addr", ip);
			l_int("port", ntohs(port));
		} else {
			l_absent("addr", "port", "path", NULL);
		}
		return;
	}
	if (n == 2) {
		l_absent("path", "addr", "port", NULL);
		return;
	}
	if (buf[2] == '\0') {
		char name[130];

		name[0] = '@';
		memcpy(name + 1, buf + 3, n - 3);
		l_strn("path", name, n - 2);
	} else {
		l_strn("path", (const char *)buf + 2, strnlen((const char *)buf + 2, n - 2));
	}
}

static int free_port(int family)
{
	unsigned char buf[64];
	socklen_t sl = sizeof(buf);
	int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	if (s < 0)
		return 1;
	sa_fill(family == AF_INET ? SA_INET : SA_INET6, buf, sizeof(buf), 0, 0);
	if (bind(s, (struct sockaddr *)buf, family == AF_INET ? 16 : 28) < 0 ||
	    getsockname(s, (struct sockaddr *)buf, &sl) < 0) {
		close(s);
		return 1;
	}
	port = ntohs(((struct sockaddr_in *)buf)->sin_port);
	close(s);
	return port;
}

static void mode_sockaddr(const char *dir)
{
	static const unsigned long extra[] = { 129, 256, 4096, 0x7fffffffUL, 0xffffffffUL };
	unsigned char buf[512];
	int ports[SA_KINDS] = { 0 };

	if (chdir(dir) < 0)
		die("chdir");
	ports[SA_INET] = free_port(AF_INET);
	ports[SA_INET6] = free_port(AF_INET6);
	for (int kind = 0; kind < SA_KINDS; kind++) {
		int family = kind == SA_INET ? AF_INET : kind == SA_INET6 ? AF_INET6 : AF_UNIX;

		for (size_t i = 0; i < 129 + sizeof(extra) / sizeof(extra[0]); i++) {
			unsigned long len = i < 129 ? i : extra[i - 129];

			for (int op = 0; op < 2; op++) {
				int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
				long r;

				if (s < 0) {
					if (errno == EAFNOSUPPORT)
						break;
					die("socket");
				}
				/* Bind to port 0; connect to a port nobody listens on. */
				sa_fill(kind, buf, sizeof(buf), op ? ports[kind] : 0, (size_t)len);
				r = op ? SC(SYS_connect, s, buf, len) : SC(SYS_bind, s, buf, len);
				gt(op ? "connect" : "bind", op ? "connect" : "bind", r);
				l_str("_kind", sa_names[kind]);
				l_int("_len", (long long)len);
				l_int("fd", s);
				if (kind == SA_INET6 && len >= 24 && len < 28)
					l_str("_known", "inet6-rfc2133");
				sa_expect(kind, buf, (size_t)(uint32_t)len);
				l_end();
				close(s);
			}
		}
	}
}

/* --- errors: as many distinct failures as can be provoked ------------------------- */

static void err_path(const char *ev, const char *sc, long r, const char *path)
{
	gt(ev, sc, r);
	if (path)
		l_str("path", path);
	l_end();
}

static void mode_errors(const char *dir)
{
	char *bad = bad_page();
	char name300[301], *big;
	char *argv[] = { "hostile", NULL, NULL };
	char *envp[] = { NULL };
	struct open_how how = { .flags = O_RDONLY };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct __user_cap_header_struct ch = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct cd[2];
	struct rlimit nofile;
	int s, s2, sp[2], fd, port;
	long r;

	if (chdir(dir) < 0)
		die("chdir");
	make_file("file", 0644);
	if (mkdir("d", 0755) < 0 || mkdir("full", 0755) < 0)
		die("mkdir");
	make_file("full/x", 0644);

	/* ENOENT, EEXIST, ENOTDIR, EISDIR */
	r = SC(SYS_openat, AT_FDCWD, "missing", O_RDONLY, 0);
	err_path("open", "openat", r, cat(dir, "missing"));
	r = SC(SYS_openat, AT_FDCWD, "file", O_WRONLY | O_CREAT | O_EXCL, 0600);
	err_path("open", "openat", r, cat(dir, "file"));
	r = SC(SYS_mkdirat, AT_FDCWD, "d", 0755);
	err_path("mkdir", "mkdirat", r, cat(dir, "d"));
	r = SC(SYS_openat, AT_FDCWD, "file/x", O_RDONLY, 0);
	err_path("open", "openat", r, cat(dir, "file/x"));
	r = SC(SYS_mkdirat, AT_FDCWD, "file/x", 0755);
	err_path("mkdir", "mkdirat", r, cat(dir, "file/x"));
	r = SC(SYS_openat, AT_FDCWD, "d", O_WRONLY, 0);
	err_path("open", "openat", r, cat(dir, "d"));
	r = SC(SYS_unlinkat, AT_FDCWD, "d", 0);
	err_path("unlink", "unlinkat", r, cat(dir, "d"));

	/* ELOOP */
	if (symlink("loop2", "loop1") < 0 || symlink("loop1", "loop2") < 0 ||
	    symlink("file", "flink") < 0)
		die("symlink");
	r = SC(SYS_openat, AT_FDCWD, "loop1", O_RDONLY, 0);
	err_path("open", "openat", r, cat(dir, "loop1"));
	r = SC(SYS_openat, AT_FDCWD, "flink", O_RDONLY | O_NOFOLLOW, 0);
	err_path("open", "openat", r, cat(dir, "flink"));

	/* EBADF */
	r = SC(SYS_openat, BAD_FD, "rel", O_RDONLY, 0);
	err_path("open", "openat", r, NULL);
	r = SC(SYS_fchmod, BAD_FD, 0600);
	err_path("chmod", "fchmod", r, NULL);
	r = SC(SYS_fchdir, BAD_FD);
	err_path("chdir", "fchdir", r, NULL);
	r = SC(SYS_listen, BAD_FD, 5);
	err_path("listen", "listen", r, NULL);

	/* EINVAL */
	r = SC(SYS_openat2, AT_FDCWD, "file", &how, 8);
	err_path("open", "openat2", r, cat(dir, "file"));
	r = SC(SYS_renameat2, AT_FDCWD, "file", AT_FDCWD, "file2",
	       RENAME_EXCHANGE | RENAME_NOREPLACE);
	err_path("rename", "renameat2", r, cat(dir, "file"));
	r = SC(SYS_renameat, AT_FDCWD, "d", AT_FDCWD, "d/sub");
	err_path("rename", "renameat", r, cat(dir, "d"));
	r = SC(SYS_memfd_create, "x", 0xffff0000u);
	err_path("memfd_create", "memfd_create", r, NULL);
	r = SC(SYS_truncate, "file", -1L);
	err_path("truncate", "truncate", r, cat(dir, "file"));

	/* EFBIG, ENAMETOOLONG, EFAULT */
	r = SC(SYS_truncate, "file", 0x7fffffffffffffffL);
	err_path("truncate", "truncate", r, cat(dir, "file"));
	memset(name300, 'n', 300);
	name300[300] = '\0';
	r = SC(SYS_openat, AT_FDCWD, name300, O_RDONLY, 0);
	err_path("open", "openat", r, cat(dir, name300));
	r = SC(SYS_openat, AT_FDCWD, bad, O_RDONLY, 0);
	err_path("open", "openat", r, NULL);

	/* EPERM (unprivileged) */
	r = SC(SYS_fchownat, AT_FDCWD, "file", 0, 0, 0);
	err_path("chown", "fchownat", r, cat(dir, "file"));
	r = SC(SYS_setuid, 0);
	err_path("setuid", "setuid", r, NULL);
	r = SC(SYS_setgid, 0);
	err_path("setgid", "setgid", r, NULL);
	r = SC(SYS_unlinkat, AT_FDCWD, "sticky/rootfile", 0);
	err_path("unlink", "unlinkat", r, cat(dir, "sticky/rootfile"));
	r = SC(SYS_linkat, AT_FDCWD, "sticky/rootfile", AT_FDCWD, "hardlink", 0);
	err_path("link", "linkat", r, cat(dir, "sticky/rootfile"));
	r = SC(SYS_mount, "none", "d", "tmpfs", 0, NULL);
	err_path("mount", "mount", r, NULL);
	r = SC(SYS_umount2, "ro", 0);
	err_path("umount", "umount2", r, NULL);
	r = SC(SYS_delete_module, "hostile_nonexistent", 0);
	err_path("unload_module", "delete_module", r, NULL);
	memset(cd, 0xff, sizeof(cd));
	r = SC(SYS_capset, &ch, cd);
	err_path("capset", "capset", r, NULL);
	r = SC(SYS_ptrace, PTRACE_ATTACH, 1, 0, 0);
	err_path("ptrace", "ptrace", r, NULL);

	/* ESRCH */
	r = SC(SYS_ptrace, PTRACE_ATTACH, 0x3ffffff0, 0, 0);
	err_path("ptrace", "ptrace", r, NULL);

	/* ENOTEMPTY, EBUSY */
	r = SC(SYS_unlinkat, AT_FDCWD, "full", AT_REMOVEDIR);
	err_path("rmdir", "unlinkat", r, cat(dir, "full"));
	r = SC(SYS_unlinkat, AT_FDCWD, "ro", AT_REMOVEDIR);
	err_path("rmdir", "unlinkat", r, cat(dir, "ro"));

	/* EXDEV, EROFS: ro is a read-only bind mount */
	r = SC(SYS_renameat, AT_FDCWD, "file", AT_FDCWD, "ro/moved");
	err_path("rename", "renameat", r, cat(dir, "file"));
	r = SC(SYS_linkat, AT_FDCWD, "file", AT_FDCWD, "ro/linked", 0);
	err_path("link", "linkat", r, cat(dir, "file"));
	r = SC(SYS_mkdirat, AT_FDCWD, "ro/newdir", 0755);
	err_path("mkdir", "mkdirat", r, cat(dir, "ro/newdir"));
	r = SC(SYS_openat, AT_FDCWD, "ro/newfile", O_WRONLY | O_CREAT, 0644);
	err_path("open", "openat", r, cat(dir, "ro/newfile"));
	r = SC(SYS_unlinkat, AT_FDCWD, "ro/f", 0);
	err_path("unlink", "unlinkat", r, cat(dir, "ro/f"));

	/* EACCES */
	r = SC(SYS_openat, AT_FDCWD, "secret/f", O_RDONLY, 0);
	err_path("open", "openat", r, cat(dir, "secret/f"));
	r = SC(SYS_mkdirat, AT_FDCWD, "secret/x", 0755);
	err_path("mkdir", "mkdirat", r, cat(dir, "secret/x"));
	r = SC(SYS_chdir, "secret");
	err_path("chdir", "chdir", r, cat(dir, "secret"));
	argv[1] = NULL;
	r = SC(SYS_execve, "file", argv, envp);
	err_path("exec", "execve", r, NULL);

	/* ENOEXEC, E2BIG */
	fd = open("junk", O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
	if (fd < 0 || write(fd, "\x7f" "ELF junk junk junk junk", 24) != 24)
		die("junk");
	close(fd);
	r = SC(SYS_execve, "junk", argv, envp);
	err_path("exec", "execve", r, NULL);
	big = malloc(200 * 1024 + 1);
	if (!big)
		die("malloc");
	memset(big, 'B', 200 * 1024);
	big[200 * 1024] = '\0';
	argv[1] = big;
	r = SC(SYS_execve, "/bin/true", argv, envp);
	err_path("exec", "execve", r, NULL);
	argv[1] = NULL;
	free(big);

	/* ETXTBSY: our own executable (the test made it ours) */
	r = SC(SYS_openat, AT_FDCWD, self_exe, O_WRONLY, 0);
	err_path("open", "openat", r, self_exe);
	if (r >= 0)
		close((int)r);

	/* EMFILE */
	getrlimit(RLIMIT_NOFILE, &nofile);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		struct rlimit low = { (rlim_t)fd + 1, nofile.rlim_max };

		setrlimit(RLIMIT_NOFILE, &low);
		r = SC(SYS_openat, AT_FDCWD, "file", O_RDONLY, 0);
		err_path("open", "openat", r, cat(dir, "file"));
		r = SC(SYS_socket, AF_INET, SOCK_STREAM, 0);
		err_path("socket", "socket", r, NULL);
		setrlimit(RLIMIT_NOFILE, &nofile);
		close(fd);
	}

	/* ENXIO: open(2) of a socket */
	close(unix_listener(cat(dir, "sockfile"), -1));
	r = SC(SYS_openat, AT_FDCWD, "sockfile", O_RDONLY, 0);
	err_path("open", "openat", r, cat(dir, "sockfile"));

	/* network: ECONNREFUSED, EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT, … */
	port = free_port(AF_INET);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r = SC(SYS_connect, s, &sin, sizeof(sin));
	err_path("connect", "connect", r, NULL);
	close(s);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_port = 0;
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(s, 4) < 0)
		die("bind");
	{
		socklen_t sl = sizeof(sin);

		getsockname(s, (struct sockaddr *)&sin, &sl);
	}
	s2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r = SC(SYS_bind, s2, &sin, sizeof(sin));
	err_path("bind", "bind", r, NULL);
	close(s2);
	/* EAGAIN: nobody is connecting */
	fcntl(s, F_SETFL, O_NONBLOCK);
	r = SC(SYS_accept4, s, NULL, NULL, 0);
	err_path("accept", "accept4", r, NULL);
	close(s);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_port = htons(80);
	r = SC(SYS_bind, s, &sin, sizeof(sin));
	err_path("bind", "bind", r, NULL);
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	sin.sin_port = 0;
	r = SC(SYS_bind, s, &sin, sizeof(sin));
	err_path("bind", "bind", r, NULL);
	sin6.sin6_addr = in6addr_loopback;
	r = SC(SYS_bind, s, &sin6, sizeof(sin6));
	err_path("bind", "bind", r, NULL);
	/* EINVAL: accept on a socket that does not listen */
	r = SC(SYS_accept4, s, NULL, NULL, 0);
	err_path("accept", "accept4", r, NULL);
	close(s);
	r = SC(SYS_socket, 77, SOCK_STREAM, 0);
	err_path("socket", "socket", r, NULL);
	r = SC(SYS_socket, AF_INET, SOCK_STREAM, 99);
	err_path("socket", "socket", r, NULL);
	r = SC(SYS_socket, AF_INET, 77, 0);
	err_path("socket", "socket", r, NULL);
	/* EOPNOTSUPP: listen on a datagram socket */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	r = SC(SYS_listen, s, 5);
	err_path("listen", "listen", r, NULL);
	close(s);
	/* ENOTSOCK */
	fd = open("file", O_RDONLY | O_CLOEXEC);
	r = SC(SYS_bind, fd, &sin, sizeof(sin));
	err_path("bind", "bind", r, NULL);
	r = SC(SYS_accept4, fd, NULL, NULL, 0);
	err_path("accept", "accept4", r, NULL);
	close(fd);
	/* unix: ENOENT, ECONNREFUSED (bound, not listening), EADDRINUSE, EISCONN */
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", cat(dir, "nosuch.sock"));
	r = SC(SYS_connect, s, &sun, sizeof(sun));
	err_path("connect", "connect", r, sun.sun_path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", cat(dir, "sockfile"));
	r = SC(SYS_connect, s, &sun, sizeof(sun));
	err_path("connect", "connect", r, sun.sun_path);
	r = SC(SYS_bind, s, &sun, sizeof(sun));
	err_path("bind", "bind", r, sun.sun_path);
	close(s);
	/* EISCONN: connecting a connected socket to a listening one */
	s = unix_listener(cat(dir, "listening.sock"), 4);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		die("socketpair");
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", cat(dir, "listening.sock"));
	r = SC(SYS_connect, sp[0], &sun, sizeof(sun));
	err_path("connect", "connect", r, sun.sun_path);
	close(sp[0]);
	close(sp[1]);
	close(s);
}

/* --- workloads for the kill tests -------------------------------------------------- */

static void print_pid(const char *what)
{
	l_begin();
	l_str("state", what);
	l_int("pid", getpid());
	l_int("tid", (long long)syscall(SYS_gettid));
	l_end();
}

/* Blocks in accept(2) until killed. */
static int mode_accept_block(const char *dir)
{
	int l = unix_listener(cat(dir, "block.sock"), 1);

	print_pid("accepting");
	syscall(SYS_accept4, l, NULL, NULL, 0);
	return 3;
}

static pid_t main_tid;

static void *selfkill_thread(void *arg)
{
	char path[64], buf[128];

	(void)arg;
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)main_tid);
	for (int i = 0; i < 100000; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

		if (fd >= 0)
			close(fd);
		if (n > 0) {
			long nr;

			buf[n] = '\0';
			nr = strtol(buf, NULL, 10);
			if (nr == SYS_accept4) {
				kill(getpid(), SIGKILL);
				return NULL;
			}
		}
		sleep_us(100);
	}
	_exit(4);
}

/* A thread kills the process while the main thread sits in accept(2). */
static int mode_accept_selfkill(const char *dir)
{
	int l = unix_listener(cat(dir, "selfkill.sock"), 1);
	pthread_t th;

	main_tid = (pid_t)syscall(SYS_gettid);
	print_pid("accepting");
	if (pthread_create(&th, NULL, selfkill_thread, NULL) != 0)
		die("pthread_create");
	syscall(SYS_accept4, l, NULL, NULL, 0);
	return 3;
}

static volatile int spin_stop;

static void *spin_thread(void *arg)
{
	(void)arg;
	for (long i = 0; i < 2000000 && !spin_stop; i++) {
		int fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC, 0);

		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

static void start_spinners(int n)
{
	for (int i = 0; i < n; i++) {
		pthread_t th;
		pthread_attr_t at;

		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 64 * 1024);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &at, spin_thread, NULL) != 0)
			die("pthread_create");
		pthread_attr_destroy(&at);
	}
}

/* Threads in monitored calls, the process SIGKILLs itself after DELAY us. */
static int mode_storm(int nthreads, long delay_us)
{
	start_spinners(nthreads);
	sleep_us(delay_us);
	kill(getpid(), SIGKILL);
	return 3;
}

/* Monitored calls until killed (bounded to 60 s); prints its pid first. */
static int mode_spin(int nthreads)
{
	uint64_t end = now_ns() + 60ull * 1000000000u;

	start_spinners(nthreads);
	print_pid("spinning");
	while (now_ns() < end) {
		int fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC, 0);

		if (fd >= 0)
			close(fd);
		sleep_us(1000);
	}
	return 3;
}

static void report_kill(const char *kind, pid_t pid, int st, long delay_us)
{
	l_begin();
	l_str("kind", kind);
	l_int("pid", pid);
	l_int("delay_us", delay_us);
	if (WIFSIGNALED(st))
		l_int("signal", WTERMSIG(st));
	else
		l_int("code", WEXITSTATUS(st));
	l_end();
}

static char **exec_kill_argv;

static void *exec_thread(void *arg)
{
	(void)arg;
	syscall(SYS_execve, self_exe, exec_kill_argv, (char *[]){ NULL });
	_exit(100 + errno);
}

/*
 * ROUNDS children, each with spinning threads, exec a program with a
 * large argument list (from the main thread or from another one) and are
 * SIGKILLed at a different moment of it.
 */
static int mode_exec_kill(int rounds)
{
	size_t nargs = 50000; /* 1.75 MB with the pointers: under ARG_MAX (2 MiB) */

	exec_kill_argv = calloc(nargs + 3, sizeof(char *));
	if (!exec_kill_argv)
		die("calloc");
	exec_kill_argv[0] = self_exe;
	exec_kill_argv[1] = "sleep";
	for (size_t i = 0; i < nargs; i++)
		exec_kill_argv[2 + i] = "an-argument-of-some-length";
	for (int i = 0; i < rounds; i++) {
		long delay = (long)i * 700;
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			start_spinners(3);
			if (i % 2) {
				pthread_t th;

				if (pthread_create(&th, NULL, exec_thread, NULL) != 0)
					_exit(5);
				pause();
			}
			exec_thread(NULL);
		}
		sleep_us(delay);
		kill(pid, SIGKILL);
		report_kill(i % 2 ? "exec-thread" : "exec", pid, reap(pid), delay);
	}
	return 0;
}

/* ROUNDS children fork in a loop and are SIGKILLed while at it. */
static int mode_fork_kill(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		long delay = 2000 + (long)i * 1500;
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			for (int k = 0; k < 5000; k++) {
				pid_t c = fork();

				if (c == 0)
					_exit(0);
				while (waitpid(-1, NULL, WNOHANG) > 0)
					;
			}
			_exit(6);
		}
		sleep_us(delay);
		kill(pid, SIGKILL);
		report_kill("fork", pid, reap(pid), delay);
	}
	return 0;
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : '?';
}

/* Children in monitored calls are stopped (SIGSTOP or SIGTSTP), then killed. */
static int mode_stop_kill(void)
{
	static const int sigs[] = { SIGSTOP, SIGTSTP, SIGSTOP };
	static const int threads[] = { 0, 0, 4 };

	for (int i = 0; i < 3; i++) {
		pid_t pid = fork();
		char state = '?';

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			signal(SIGTSTP, SIG_DFL);
			_exit(mode_spin(threads[i]) ? 0 : 0);
		}
		sleep_us(50000);
		kill(pid, sigs[i]);
		for (int k = 0; k < 5000; k++) {
			state = proc_state(pid);
			if (state == 'T' || state == 't')
				break;
			sleep_us(1000);
		}
		kill(pid, SIGKILL);
		l_begin();
		l_str("stopped_state", (char[]){ state, 0 });
		l_end();
		report_kill("stop", pid, reap(pid), 0);
	}
	return 0;
}

/* --- load: many threads and processes at once -------------------------------------- */

static const char *load_dir;
static int load_ready[2], load_go[2];

static void load_work(const char *kind, int i)
{
	char path[PATH_MAX], missing[PATH_MAX];
	char c;
	int fd;

	if (write(load_ready[1], "r", 1) != 1)
		_exit(20);
	/* The barrier: everyone waits for the go pipe to close. */
	while (read(load_go[0], &c, 1) < 0 && errno == EINTR)
		;
	snprintf(path, sizeof(path), "%s/%s%d", load_dir, kind, i);
	snprintf(missing, sizeof(missing), "%s/missing-%s%d", load_dir, kind, i);
	fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		_exit(21);
	close(fd);
	if (syscall(SYS_openat, AT_FDCWD, missing, O_RDONLY, 0) >= 0)
		_exit(22);
	if (syscall(SYS_unlinkat, AT_FDCWD, path, 0) < 0)
		_exit(23);
	{
		char line[160];
		int n = snprintf(line, sizeof(line),
				 "{\"kind\":\"%s\",\"i\":%d,\"pid\":%d,\"tid\":%d}\n", kind, i,
				 (int)getpid(), (int)syscall(SYS_gettid));

		if (write(STDOUT_FILENO, line, (size_t)n) != n)
			_exit(24);
	}
}

static void *load_thread(void *arg)
{
	load_work("t", (int)(intptr_t)arg);
	return NULL;
}

static int mode_load(int nthreads, int nprocs, const char *dir)
{
	pthread_t *ths = calloc((size_t)nthreads, sizeof(pthread_t));
	pid_t *pids = calloc((size_t)nprocs, sizeof(pid_t));
	int bad = 0, ready = 0;
	uint64_t t0 = now_ns(), t1;

	load_dir = dir;
	if (!ths || !pids || pipe2(load_ready, O_CLOEXEC) < 0 || pipe2(load_go, O_CLOEXEC) < 0)
		die("setup");
	for (int i = 0; i < nprocs; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0) {
			close(load_go[1]);
			load_work("p", i);
			_exit(i % 100);
		}
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_attr_t at;

		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 64 * 1024);
		if (pthread_create(&ths[i], &at, load_thread, (void *)(intptr_t)i) != 0)
			die("pthread_create");
		pthread_attr_destroy(&at);
	}
	while (ready < nthreads + nprocs) {
		char buf[512];
		ssize_t n = read(load_ready[0], buf, sizeof(buf));

		if (n <= 0)
			die("ready pipe");
		ready += (int)n;
	}
	t1 = now_ns();
	/* Everybody is alive and waiting: let them all go at once. */
	close(load_go[1]);
	for (int i = 0; i < nthreads; i++)
		pthread_join(ths[i], NULL);
	for (int i = 0; i < nprocs; i++) {
		int st = reap(pids[i]);

		if (!WIFEXITED(st) || WEXITSTATUS(st) != i % 100)
			bad++;
	}
	l_begin();
	l_str("summary", "load");
	l_int("threads", nthreads);
	l_int("procs", nprocs);
	l_int("bad", bad);
	l_int("setup_ms", (long long)((t1 - t0) / 1000000));
	l_int("total_ms", (long long)((now_ns() - t0) / 1000000));
	l_end();
	return bad ? 1 : 0;
}

/* --- bomb: a fork bomb bounded by RLIMIT_NPROC, then a normal command ------------- */

static int mode_bomb(long ms, const char *dir)
{
	uint64_t deadline = now_ns() + (uint64_t)ms * 1000000u;
	struct rlimit rl;
	char *sh_argv[] = { "sh", "-c", NULL, NULL };
	char cmd[PATH_MAX + 64];
	pid_t root, after;
	int st;

	getrlimit(RLIMIT_NPROC, &rl);
	l_begin();
	l_str("info", "bomb");
	l_int("nproc_limit", rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur);
	l_int("uid", getuid());
	l_end();
	root = fork();
	if (root < 0)
		die("fork");
	if (root == 0) {
		long forks = 0, eagain = 0, other = 0;

		/* Every process forks until the deadline; children join in. */
		while (now_ns() < deadline) {
			pid_t c = fork();
			int fd;

			if (c == 0) {
				forks = eagain = other = 0;
				continue;
			}
			if (c > 0)
				forks++;
			else if (errno == EAGAIN)
				eagain++;
			else
				other++;
			fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC, 0);
			if (fd >= 0)
				close(fd);
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			if (c < 0)
				sleep_us(2000);
		}
		while (wait(NULL) > 0 || errno == EINTR)
			;
		l_begin();
		l_str("bomber", "done");
		l_int("pid", getpid());
		l_int("forks", forks);
		l_int("eagain", eagain);
		l_int("other", other);
		l_end();
		_exit(0);
	}
	st = reap(root);
	/* The command after the bomb. */
	snprintf(cmd, sizeof(cmd), "echo after-bomb > %s/after-bomb", dir);
	sh_argv[2] = cmd;
	after = fork();
	if (after < 0)
		die("fork after the bomb");
	if (after == 0) {
		execv("/bin/sh", sh_argv);
		_exit(127);
	}
	l_begin();
	l_str("after", "/bin/sh");
	l_int("pid", after);
	l_str("cmd", cmd);
	l_int("root_status", st);
	l_int("code", WEXITSTATUS(reap(after)));
	l_end();
	return 0;
}

/* --- openloop: opens at a steady rate, measuring its own stalls -------------------- */

static int mode_openloop(const char *dir, long ms, long rate)
{
	uint64_t start = now_ns(), end = start + (uint64_t)ms * 1000000u;
	uint64_t last = start, max_gap = 0, n = 0;
	long per_tick = rate / 100 > 0 ? rate / 100 : 1;
	char path[PATH_MAX];

	while (last < end) {
		for (long k = 0; k < per_tick; k++) {
			uint64_t t;
			int fd;

			snprintf(path, sizeof(path), "%s/loop%lu", dir, (unsigned long)(n % 16));
			fd = (int)syscall(SYS_openat, AT_FDCWD, path,
					  O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
			if (fd >= 0)
				close(fd);
			n++;
			t = now_ns();
			if (t - last > max_gap)
				max_gap = t - last;
			last = t;
		}
		sleep_us(10000);
	}
	l_begin();
	l_str("summary", "openloop");
	l_int("pid", getpid());
	l_int("opens", (long long)n);
	l_int("max_gap_ms", (long long)(max_gap / 1000000));
	l_int("max_gap_us", (long long)(max_gap / 1000));
	l_int("elapsed_ms", (long long)((now_ns() - start) / 1000000));
	l_end();
	return 0;
}

/* --- main ------------------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
		"usage: hostile efault|unterminated|longpath|sockaddr|errors DIR\n"
		"       hostile bigexec | procself | stop-kill\n"
		"       hostile accept-block|accept-selfkill DIR\n"
		"       hostile storm NTHREADS DELAY_US | spin NTHREADS\n"
		"       hostile exec-kill ROUNDS | fork-kill ROUNDS\n"
		"       hostile load NTHREADS NPROCS DIR | bomb MS DIR\n"
		"       hostile openloop DIR MS RATE\n");
	exit(2);
}

int main(int argc, char **argv, char **envp)
{
	const char *m = argc > 1 ? argv[1] : "";
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);

	if (n <= 0)
		die("readlink /proc/self/exe");
	self_exe[n] = '\0';
	if (!strcmp(m, "bigexec-child"))
		return mode_bigexec_child(argc, argv, envp);
	if (!strcmp(m, "exit0"))
		return 0;
	if (!strcmp(m, "sleep")) {
		sleep_us(30 * 1000000L);
		return 0;
	}
	if (!strcmp(m, "bigexec")) {
		mode_bigexec();
		return 0;
	}
	if (!strcmp(m, "procself")) {
		mode_procself();
		return 0;
	}
	if (!strcmp(m, "stop-kill"))
		return mode_stop_kill();
	if (argc < 3)
		usage();
	if (!strcmp(m, "efault"))
		mode_efault(argv[2]);
	else if (!strcmp(m, "unterminated"))
		mode_unterminated(argv[2]);
	else if (!strcmp(m, "longpath"))
		mode_longpath(argv[2]);
	else if (!strcmp(m, "sockaddr"))
		mode_sockaddr(argv[2]);
	else if (!strcmp(m, "errors"))
		mode_errors(argv[2]);
	else if (!strcmp(m, "accept-block"))
		return mode_accept_block(argv[2]);
	else if (!strcmp(m, "accept-selfkill"))
		return mode_accept_selfkill(argv[2]);
	else if (!strcmp(m, "spin"))
		return mode_spin(atoi(argv[2]));
	else if (!strcmp(m, "exec-kill"))
		return mode_exec_kill(atoi(argv[2]));
	else if (!strcmp(m, "fork-kill"))
		return mode_fork_kill(atoi(argv[2]));
	else if (!strcmp(m, "storm") && argc > 3)
		return mode_storm(atoi(argv[2]), atol(argv[3]));
	else if (!strcmp(m, "load") && argc > 4)
		return mode_load(atoi(argv[2]), atoi(argv[3]), argv[4]);
	else if (!strcmp(m, "bomb") && argc > 3)
		return mode_bomb(atol(argv[2]), argv[3]);
	else if (!strcmp(m, "openloop") && argc > 4)
		return mode_openloop(argv[2], atol(argv[3]), atol(argv[4]));
	else
		usage();
	return 0;
}
