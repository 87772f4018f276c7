/* SPDX-License-Identifier: Apache-2.0 */
/* Tracee memory and /proc readers. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
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
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
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

void path_join(const char *base, const char *path, char *out, size_t cap)
{
	if (path[0])
		snprintf(out, cap, "%s/%s", base, path);
	else
		snprintf(out, cap, "%s", base);
	path_normalize(out);
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
		/* No base to join with (gone, or a pipe/socket): keep it as given. */
		snprintf(out, cap, "%s", path);
		return r < 0 ? r : -ENOTDIR;
	}
	path_join(base, path, out, cap);
	return 0;
}
