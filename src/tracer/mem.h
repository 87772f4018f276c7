/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading a tracee: its memory with process_vm_readv (never more than the
 * caller asks for), and its state from /proc (cwd, fds, credentials).
 * Every read can fail because the tracee lies or dies; callers get -errno.
 */
#ifndef SENTRACE_MEM_H
#define SENTRACE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SENTRACE_PATH_MAX 4096

/* Exactly len bytes or -EFAULT/-ESRCH. */
int mem_read(pid_t tid, uint64_t addr, void *buf, size_t len);

/*
 * A NUL-terminated string of at most cap-1 bytes into buf, read page by
 * page. Returns its length; *ret_trunc (may be NULL) says it was cut.
 */
int mem_read_str(pid_t tid, uint64_t addr, char *buf, size_t cap, bool *ret_trunc);

/* Pointer number i of a NULL-terminated array in the tracee's ABI. */
int mem_read_ptr(pid_t tid, uint64_t array, size_t i, unsigned ptr_size,
		 uint64_t *ret);

/*
 * readlink() of /proc/<tid>/<what>, NUL-terminated; returns length, or
 * -ENAMETOOLONG when the name filled buf (it is there, cut) or the kernel
 * could not name it (buf is ""); on any failure buf is at least "".
 */
int proc_readlink(pid_t tid, const char *what, char *buf, size_t cap);

/* The path behind a descriptor of tid. */
int proc_fd_path(pid_t tid, int fd, char *buf, size_t cap);

struct proc_status {
	pid_t tgid, ppid;
	pid_t tracer_pid;          /* 0 when not traced */
	int64_t uid, euid, suid, fsuid;
	int64_t gid, egid, sgid, fsgid;
	uint64_t cap_eff;          /* effective capability set */
};

/* Up to cap bytes of /proc/<pid>/<what> (not NUL-terminated); the length. */
int proc_read_file(pid_t pid, const char *what, char *buf, size_t cap);

int proc_read_status(pid_t tid, struct proc_status *ret);

/*
 * A regular file at rel (relative, e.g. "etc/passwd") below pid's root,
 * opened O_RDONLY|O_NONBLOCK; symlinks stay inside that root where the
 * kernel has openat2. Anything but a regular file is -EINVAL, and is never
 * opened for reading (a FIFO, a device). Returns the fd or -errno.
 */
int proc_open_in_root(pid_t pid, const char *rel);

/* Tests: take the path of kernels before 5.6 (no openat2). */
void mem_force_no_openat2(void);

/*
 * The name of a user (file "passwd") or group (file "group") id as the
 * process sees it: its own root's /etc/passwd or /etc/group, so a
 * container's names. Returns the length, -ENOENT when there is none, or
 * another -errno (-EINVAL: not a regular file). Reads at most 1 MiB, but a
 * regular file on FUSE or NFS can still make it wait: the tracer's loop
 * calls proc_id_name() (idnames.h), which runs this on a thread of its own.
 */
int proc_id_name_read(pid_t pid, const char *file, int64_t id, char *buf, size_t cap);

/* The controlling terminal, as the basename of /proc/<pid>/fd/0 if a tty. */
int proc_tty(pid_t pid, char *buf, size_t cap);

/*
 * Absolute path for (dirfd, path) as tid sees it: relative paths are joined
 * with its cwd or the directory behind dirfd, then "." and ".." are folded
 * as strings (what was asked for, not what the kernel found). When the base
 * cannot be read the path is kept as it was given and -errno returned;
 * -ENAMETOOLONG when out was too small (it holds the cut path).
 */
int path_resolve(pid_t tid, int dirfd, const char *path, char *out, size_t cap);

/* The same with the base known: base + "/" + path, folded; -ENAMETOOLONG. */
int path_join(const char *base, const char *path, char *out, size_t cap);

/*
 * Rewrites /proc/self/…, /proc/thread-self/…, /dev/fd/… and /dev/std* to
 * /proc/<tid>/…, so that the tracer looks them up as the tracee's.
 */
void proc_self_rewrite(char *path, size_t cap, pid_t tid);

/*
 * Opens (dirfd, path) as tid would look it up, with O_PATH | flags (no data
 * is read, nothing is followed that the flags do not ask for): relative
 * names from its cwd or dirfd, absolute ones inside /proc/<tid>/root with
 * RESOLVE_IN_ROOT. Returns the fd or -errno.
 */
int proc_path_open(pid_t tid, int dirfd, const char *path, int flags);

/*
 * The kernel's absolute name of (dirfd, path) for tid: its directory is
 * looked up as tid would (symlinks and ".." followed by the kernel) and
 * named by /proc/self/fd; the last component is appended as given, or
 * followed too when follow. -errno when the directory cannot be found,
 * -ENAMETOOLONG when the name is longer than cap or the kernel's 4 KiB.
 */
int path_kernel(pid_t tid, int dirfd, const char *path, bool follow,
		char *out, size_t cap);

/* Folds "//", "/./" and "/../" in place; the path must start with '/'. */
void path_normalize(char *path);

#endif
