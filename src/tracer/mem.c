/* SPDX-License-Identifier: Apache-2.0 */
/* Tracee memory and /proc readers. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mem.h"

#define PAGE 4096u

int mem_read(pid_t tid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	ssize_t n;

	if (len == 0)
		return 0;
	if (addr == 0)
		return -EFAULT;
	n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

int mem_read_str(pid_t tid, uint64_t addr, char *buf, size_t cap, bool *ret_trunc)
{
	size_t got = 0;

	if (ret_trunc)
		*ret_trunc = false;
	if (cap == 0)
		return -EINVAL;
	if (addr == 0)
		return -EFAULT;
	/*
	 * Read up to the end of the current page first: the next page may not
	 * be mapped, and a string that ends before it must still be readable.
	 */
	while (got < cap - 1) {
		size_t chunk = PAGE - ((addr + got) & (PAGE - 1));
		struct iovec local, remote;
		ssize_t n;
		char *nul;

		if (chunk > cap - 1 - got)
			chunk = cap - 1 - got;
		local = (struct iovec){ buf + got, chunk };
		remote = (struct iovec){ (void *)(uintptr_t)(addr + got), chunk };
		n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
		if (n <= 0) {
			if (got > 0)
				break; /* unterminated at an unmapped page */
			return n < 0 ? -errno : -EFAULT;
		}
		nul = memchr(buf + got, '\0', (size_t)n);
		if (nul)
			return (int)(nul - buf);
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (ret_trunc)
		*ret_trunc = true;
	return (int)got;
}

int mem_read_ptr(pid_t tid, uint64_t array, size_t i, unsigned ptr_size,
		 uint64_t *ret)
{
	uint64_t v = 0;
	int r;

	if (ptr_size == 4) {
		uint32_t v32;

		r = mem_read(tid, array + i * 4, &v32, 4);
		v = v32;
	} else {
		r = mem_read(tid, array + i * 8, &v, 8);
	}
	if (r < 0)
		return r;
	*ret = v;
	return 0;
}

int proc_readlink(pid_t tid, const char *what, char *buf, size_t cap)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/%s", (int)tid, what);
	n = readlink(link, buf, cap - 1);
	if (n < 0) {
		/* ENAMETOOLONG too, above the kernel's 4 KiB: no name at all. */
		buf[0] = '\0';
		return -errno;
	}
	buf[n] = '\0';
	/* readlink cuts silently: a full buffer may be a cut name. */
	return (size_t)n == cap - 1 ? -ENAMETOOLONG : (int)n;
}

int proc_fd_path(pid_t tid, int fd, char *buf, size_t cap)
{
	char what[32];

	if (fd < 0)
		return -EBADF;
	snprintf(what, sizeof(what), "fd/%d", fd);
	return proc_readlink(tid, what, buf, cap);
}

int proc_read_file(pid_t pid, const char *what, char *buf, size_t cap)
{
	char path[64];
	size_t got = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);

		if (n < 0) {
			int r = -errno;

			close(fd);
			return r;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (int)got;
}

static void parse_ids(const char *line, int64_t out[4])
{
	for (int i = 0; i < 4; i++) {
		char *end;

		out[i] = strtoll(line, &end, 10);
		line = end;
	}
}

int proc_read_status(pid_t tid, struct proc_status *ret)
{
	char buf[4096];
	struct proc_status st = { 0 };
	int64_t ids[4];
	char *p;
	int r;

	r = proc_read_file(tid, "status", buf, sizeof(buf) - 1);
	if (r < 0)
		return r;
	buf[r] = '\0';
	if ((p = strstr(buf, "\nTgid:")))
		st.tgid = (pid_t)strtol(p + 6, NULL, 10);
	if ((p = strstr(buf, "\nPPid:")))
		st.ppid = (pid_t)strtol(p + 6, NULL, 10);
	if ((p = strstr(buf, "\nTracerPid:")))
		st.tracer_pid = (pid_t)strtol(p + 11, NULL, 10);
	if ((p = strstr(buf, "\nCapEff:")))
		st.cap_eff = strtoull(p + 8, NULL, 16);
	if ((p = strstr(buf, "\nUid:"))) {
		parse_ids(p + 5, ids);
		st.uid = ids[0], st.euid = ids[1], st.suid = ids[2], st.fsuid = ids[3];
	}
	if ((p = strstr(buf, "\nGid:"))) {
		parse_ids(p + 5, ids);
		st.gid = ids[0], st.egid = ids[1], st.sgid = ids[2], st.fsgid = ids[3];
	}
	if (st.tgid == 0)
		return -EIO;
	*ret = st;
	return 0;
}

/*
 * A tracee's /etc/passwd is the tracee's: it may be a FIFO (open blocks), a
 * device or a symlink to /dev/zero (reads never end, and opening a device
 * can have effects), a huge sparse file, or a symlink loop. So the file is
 * looked up with O_PATH, which opens nothing, below the tracee's root
 * (openat2 RESOLVE_IN_ROOT: absolute symlinks stay inside it; no magic
 * links), must be a regular file by fstat, and only then is it opened for
 * reading through /proc/self/fd, non-blocking, and read up to a cap.
 */
#define ID_FILE_MAX (1u << 20)

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

struct id_open_how {
	uint64_t flags, mode, resolve;
};

#define ID_RESOLVE_NO_MAGICLINKS 0x02
#define ID_RESOLVE_IN_ROOT       0x10

/* Set once at start (SENTRACE_NO_OPENAT2), before any worker runs. */
static bool no_openat2;

void mem_force_no_openat2(void)
{
	no_openat2 = true;
}

static int path_in_root(int root, const char *rel)
{
	struct id_open_how how = {
		.flags = O_PATH | O_CLOEXEC, /* openat2 refuses more with O_PATH */
		.resolve = ID_RESOLVE_IN_ROOT | ID_RESOLVE_NO_MAGICLINKS,
	};
	long fd = no_openat2 ? (errno = ENOSYS, -1) :
		  syscall(SYS_openat2, root, rel, &how, sizeof(how));

	if (fd >= 0)
		return (int)fd;
	if (errno != ENOSYS && errno != EPERM && errno != E2BIG)
		return -errno;
	/*
	 * Before 5.6 (or where a seccomp profile refuses openat2): absolute
	 * symlinks then resolve from our own root, not the tracee's, so the
	 * name may come from another file; it is still a regular file, read
	 * with a bound, and loops end in ELOOP.
	 */
	fd = openat(root, rel, O_PATH | O_CLOEXEC);
	return fd >= 0 ? (int)fd : -errno;
}

int proc_open_in_root(pid_t pid, const char *rel)
{
	char path[64];
	struct stat sb;
	int root, fd, rfd;

	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return errno == ENOENT ? -ESRCH : -errno; /* the process is gone */
	fd = path_in_root(root, rel);
	close(root);
	if (fd < 0)
		return fd;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (rfd < 0)
		rfd = -errno;
	close(fd);
	return rfd;
}

/* name:password:id:… with this id: the name into out, its length. */
static int id_line_match(char *line, int64_t id, char *out, size_t cap)
{
	char *c1 = strchr(line, ':'), *c2, *end;
	long long v;

	if (!c1 || !(c2 = strchr(c1 + 1, ':')))
		return -ENOENT;
	errno = 0;
	v = strtoll(c2 + 1, &end, 10);
	if (end == c2 + 1 || *end != ':' || v != id || errno)
		return -ENOENT;
	*c1 = '\0';
	snprintf(out, cap, "%s", line);
	return (int)strlen(out);
}

/*
 * The first line with this id wins, as in NSS. At most ID_FILE_MAX bytes
 * are read; a line longer than the buffer is skipped.
 */
static int id_name_scan(int fd, int64_t id, char *out, size_t cap)
{
	char buf[8192];
	size_t have = 0, total = 0;
	bool skipping = false, eof = false;

	while (!eof && total < ID_FILE_MAX) {
		size_t want = sizeof(buf) - 1 - have, rest;
		char *line = buf, *nl;
		ssize_t n;

		if (want > ID_FILE_MAX - total)
			want = ID_FILE_MAX - total;
		n = read(fd, buf + have, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		eof = n == 0 || total + (size_t)n >= ID_FILE_MAX;
		total += (size_t)n;
		have += (size_t)n;
		buf[have] = '\0';
		while (line < buf + have) {
			nl = memchr(line, '\n', (size_t)(buf + have - line));
			if (!nl && !eof)
				break;
			if (nl)
				*nl = '\0';
			if (!skipping) {
				int r = id_line_match(line, id, out, cap);

				if (r >= 0)
					return r;
			}
			skipping = false;
			line = nl ? nl + 1 : buf + have;
		}
		rest = (size_t)(buf + have - line);
		if (rest == sizeof(buf) - 1) {
			/* No newline in a full buffer: drop to the next one. */
			skipping = true;
			rest = 0;
		}
		memmove(buf, line, rest);
		have = rest;
	}
	return -ENOENT;
}

int proc_id_name_read(pid_t pid, const char *file, int64_t id, char *buf, size_t cap)
{
	char rel[32];
	int fd, r;

	if (id < 0)
		return -ENOENT;
	snprintf(rel, sizeof(rel), "etc/%s", file);
	fd = proc_open_in_root(pid, rel);
	if (fd < 0)
		return fd;
	r = id_name_scan(fd, id, buf, cap);
	close(fd);
	return r;
}

int proc_tty(pid_t pid, char *buf, size_t cap)
{
	char target[SENTRACE_PATH_MAX];
	const char *name;
	int r = proc_fd_path(pid, 0, target, sizeof(target));

	buf[0] = '\0';
	if (r < 0)
		return r;
	if (strncmp(target, "/dev/pts/", 9) == 0)
		snprintf(buf, cap, "pts%s", target + 9);
	else if (strncmp(target, "/dev/tty", 8) == 0 ||
		 strncmp(target, "/dev/console", 12) == 0) {
		name = strrchr(target, '/') + 1;
		snprintf(buf, cap, "%s", name);
	}
	return (int)strlen(buf);
}

void path_normalize(char *path)
{
	char *out = path, *in = path;

	/* out always ends without a trailing slash except for the root. */
	while (*in) {
		char *seg;
		size_t len;

		while (*in == '/')
			in++;
		if (!*in)
			break;
		seg = in;
		while (*in && *in != '/')
			in++;
		len = (size_t)(in - seg);
		if (len == 1 && seg[0] == '.')
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out > path && *--out != '/')
				;
			continue;
		}
		*out++ = '/';
		memmove(out, seg, len);
		out += len;
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
}

int path_join(const char *base, const char *path, char *out, size_t cap)
{
	int n;

	if (path[0])
		n = snprintf(out, cap, "%s/%s", base, path);
	else
		n = snprintf(out, cap, "%s", base);
	path_normalize(out);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int path_resolve(pid_t tid, int dirfd, const char *path, char *out, size_t cap)
{
	char base[SENTRACE_PATH_MAX];
	int r;

	if (path[0] == '/') {
		snprintf(out, cap, "%s", path);
		path_normalize(out);
		return 0;
	}
	if (dirfd == AT_FDCWD)
		r = proc_readlink(tid, "cwd", base, sizeof(base));
	else
		r = proc_fd_path(tid, dirfd, base, sizeof(base));
	if (r < 0 || base[0] != '/') {
		/*
		 * No base to join with (gone, longer than 4 KiB, or a pipe or
		 * socket): keep it as given, and say so.
		 */
		snprintf(out, cap, "%s", path);
		return r < 0 ? r : -ENOTDIR;
	}
	return path_join(base, path, out, cap);
}

void proc_self_rewrite(char *path, size_t cap, pid_t tid)
{
	/*
	 * These name the tracee's own /proc entry, which the tracer must not
	 * resolve as its own: /dev/fd is a symlink to /proc/self/fd.
	 */
	static const struct {
		const char *from, *to;
	} map[] = {
		{ "/proc/self/", "" }, { "/proc/thread-self/", "" },
		{ "/dev/fd/", "fd/" }, { "/dev/stdin", "fd/0" },
		{ "/dev/stdout", "fd/1" }, { "/dev/stderr", "fd/2" },
	};
	char tmp[SENTRACE_PATH_MAX];

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		size_t n = strlen(map[i].from);
		const char *rest = path + n;

		if (strncmp(path, map[i].from, n) != 0)
			continue;
		if (map[i].from[n - 1] != '/' && *rest && *rest != '/')
			continue; /* /dev/stdinx is not /dev/stdin */
		snprintf(tmp, sizeof(tmp), "/proc/%d/%s%s", (int)tid, map[i].to, rest);
		snprintf(path, cap, "%s", tmp);
		return;
	}
}

/* Set when openat2(2) is missing (before Linux 5.6), or RESOLVE_CACHED
 * (before 5.12). */
static bool no_openat2, no_cached;

/* /proc/<tid>/mountinfo, read to look for FUSE mounts. */
static char mountinfo[256 * 1024];

/*
 * Whether a FUSE file system is mounted where tid looks names up. A lookup
 * there can wait for the file system's daemon, which may be a tracee
 * stopped until we resume it: the tracer would wait for ever. A
 * mountinfo too large to read whole counts as one.
 */
static bool has_fuse(pid_t tid)
{
	int n = proc_read_file(tid, "mountinfo", mountinfo, sizeof(mountinfo) - 1);

	if (n < 0 || (size_t)n == sizeof(mountinfo) - 1)
		return true;
	mountinfo[n] = '\0';
	/* "… - fuse.sshfs …", "… - fuseblk …" */
	return strstr(mountinfo, " - fuse") != NULL;
}

/*
 * An O_PATH lookup of path from base (absolute names inside base when
 * in_root) that never waits on a file system: first from the dentry cache
 * alone (RESOLVE_CACHED), then, only where no FUSE file system is mounted,
 * the full lookup. O_PATH reads no data and opens no device or FIFO.
 */
static int lookup(pid_t tid, int base, const char *path, bool in_root,
		  int flags)
{
	uint64_t resolve = in_root ? RESOLVE_IN_ROOT : 0;
	int fd;

	flags |= O_PATH | O_CLOEXEC;
	if (!no_openat2) {
		struct open_how how = {
			.flags = (uint64_t)flags,
			.resolve = resolve | (no_cached ? 0 : RESOLVE_CACHED),
		};

		fd = (int)syscall(SYS_openat2, base, path, &how, sizeof(how));
		if (fd >= 0)
			return fd;
		if (errno == EINVAL && !no_cached) {
			/* Perhaps only RESOLVE_CACHED is unknown: retry once. */
			how.resolve = resolve;
			fd = (int)syscall(SYS_openat2, base, path, &how, sizeof(how));
			if (fd >= 0 || errno != EINVAL)
				no_cached = true;
			if (fd >= 0)
				return fd;
		}
		if (errno == ENOSYS)
			no_openat2 = true;
		else if (errno != EAGAIN && errno != EINVAL)
			return -errno;
	}
	/* Not in the cache (or no openat2): a real lookup, where safe. */
	if (has_fuse(tid))
		return -EWOULDBLOCK;
	if (!no_openat2) {
		struct open_how how = { .flags = (uint64_t)flags, .resolve = resolve };

		fd = (int)syscall(SYS_openat2, base, path, &how, sizeof(how));
		return fd < 0 ? -errno : fd;
	}
	/*
	 * Without openat2 an absolute name is walked from the tracee's root,
	 * but an absolute symlink on the way resolves in the tracer's root:
	 * the same one unless the tracee is chrooted (docs/security.md).
	 */
	while (in_root && *path == '/')
		path++;
	fd = openat(base, *path ? path : ".", flags);
	return fd < 0 ? -errno : fd;
}

/* The directory a lookup of (dirfd, path) by tid starts from. */
static int open_start(pid_t tid, int dirfd, bool absolute)
{
	char link[64];
	int fd;

	if (absolute)
		snprintf(link, sizeof(link), "/proc/%d/root", (int)tid);
	else if (dirfd == AT_FDCWD)
		snprintf(link, sizeof(link), "/proc/%d/cwd", (int)tid);
	else
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)tid, dirfd);
	/* Opening the magic link gives the directory itself, whatever its
	 * name, in the tracee's mount namespace. */
	fd = open(link, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Whether tid's root directory is ours (not chrooted, same mounts). */
static bool same_root(pid_t tid)
{
	static struct stat ours;
	static bool have_ours;
	char link[64];
	struct stat st;

	if (!have_ours) {
		if (stat("/", &ours) < 0)
			return false;
		have_ours = true;
	}
	snprintf(link, sizeof(link), "/proc/%d/root", (int)tid);
	return stat(link, &st) == 0 && st.st_dev == ours.st_dev &&
	       st.st_ino == ours.st_ino;
}

int proc_path_open(pid_t tid, int dirfd, const char *path, int flags)
{
	char buf[SENTRACE_PATH_MAX];
	int base, fd;

	snprintf(buf, sizeof(buf), "%s", path);
	proc_self_rewrite(buf, sizeof(buf), tid);
	if (buf[0] == '/' && same_root(tid)) {
		/*
		 * The common case: our root is the tracee's, and a plain
		 * lookup follows magic links (/proc/TID/fd/N/…), which
		 * RESOLVE_IN_ROOT refuses.
		 */
		return lookup(tid, AT_FDCWD, buf, false, flags);
	}
	base = open_start(tid, dirfd, buf[0] == '/');
	if (base < 0)
		return base;
	fd = lookup(tid, base, buf, buf[0] == '/', flags);
	close(base);
	return fd;
}

int path_kernel(pid_t tid, int dirfd, const char *path, bool follow,
		char *out, size_t cap)
{
	char buf[SENTRACE_PATH_MAX], dir[SENTRACE_PATH_MAX];
	char self[64];
	const char *parent, *last;
	char *slash;
	size_t len;
	int fd, r, n;

	n = snprintf(buf, sizeof(buf), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	proc_self_rewrite(buf, sizeof(buf), tid);
	len = strlen(buf);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0';
	/* Only the directory is looked up: the last component is what the
	 * call acts on, and may not exist yet (mkdir) or any more. */
	slash = strrchr(buf, '/');
	if (!slash) {
		parent = "";
		last = buf;
	} else if (slash == buf) {
		parent = "/";
		last = buf + 1;
	} else {
		*slash = '\0';
		parent = buf;
		last = slash + 1;
	}
	if (!*last || strcmp(last, ".") == 0 || strcmp(last, "..") == 0) {
		/* rmdir("a/..") and the like: look the whole name up. */
		if (slash && slash != buf)
			*slash = '/';
		parent = buf;
		last = NULL;
	}
	fd = proc_path_open(tid, dirfd, *parent ? parent : ".",
			    last ? O_DIRECTORY : 0);
	if (fd < 0)
		return fd;
	if (last && follow) {
		/* chmod, chown, truncate…: a symlink is followed. */
		int lfd = lookup(tid, fd, last, false, 0);

		if (lfd >= 0) {
			close(fd);
			fd = lfd;
			last = NULL;
		}
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	n = (int)readlink(self, dir, sizeof(dir) - 1);
	r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	if ((size_t)n >= sizeof(dir) - 1)
		return -ENAMETOOLONG;
	dir[n] = '\0';
	if (!last)
		n = snprintf(out, cap, "%s", dir);
	else
		n = snprintf(out, cap, "%s/%s", strcmp(dir, "/") ? dir : "", last);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}
