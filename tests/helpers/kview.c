// SPDX-License-Identifier: Apache-2.0
/*
 * kview: tracees that try to make the tracer report another file or path
 * than the kernel used (tests/integration/test_kernelview.py).
 *
 *   kview race N A B     N times: fork a child whose second thread flips
 *                        the exec path between A and B (same length) and
 *                        argv[2] between "x" and "y" in a loop, while the
 *                        first thread execs "A report x". Waits for each.
 *   kview report ARG     what ran: prints {"pid":…,"exe":…,"arg":ARG}.
 *   kview deep BYTES     chdir into nested directories until the cwd is
 *                        longer than BYTES, then creates "evil.php" there
 *                        with a relative open; prints {"fd":…}; then
 *                        execs /bin/true from there.
 *   kview fuse MNT       mounts a FUSE file system on MNT, served by a
 *                        child that makes a monitored call (openat) before
 *                        it answers each LOOKUP; another child then execs
 *                        and chmods names on it (ENOENT). The tracer must
 *                        not look names up there itself: it would wait for
 *                        the daemon, stopped at its openat, waiting for
 *                        the tracer. Prints {"exec_errno":…,"chmod_errno":…}.
 *   kview clonefs DIR    opens "f" (relative), then a child made with
 *                        clone(CLONE_FS), another process sharing the cwd,
 *                        chdirs to DIR and exits; opens "f" again.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fuse.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[4096];
static const char *path_a, *path_b;
static char arg[2] = "x";

static void *flipper(void *unused)
{
	size_t n = strlen(path_a);

	(void)unused;
	/* Never stops: the exec in the other thread ends it. */
	for (unsigned i = 0;; i++) {
		memcpy(path, (i & 1) ? path_b : path_a, n);
		arg[0] = (i & 2) ? 'y' : 'x';
		atomic_signal_fence(memory_order_seq_cst);
	}
	return NULL;
}

static int race(int n)
{
	extern char **environ;

	if (strlen(path_a) != strlen(path_b) || strlen(path_a) >= sizeof(path)) {
		fprintf(stderr, "kview: A and B must have the same length\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		int st;

		if (pid < 0)
			return 1;
		if (pid == 0) {
			char *argv[] = { "kview", "report", arg, NULL };
			pthread_t th;

			memcpy(path, path_a, strlen(path_a) + 1);
			if (pthread_create(&th, NULL, flipper, NULL) != 0)
				_exit(3);
			execve(path, argv, environ);
			_exit(4);
		}
		if (waitpid(pid, &st, 0) < 0)
			return 1;
	}
	return 0;
}

static int report(const char *a)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return 1;
	exe[n] = '\0';
	printf("{\"pid\":%d,\"exe\":\"%s\",\"arg\":\"%s\"}\n", (int)getpid(), exe, a);
	return 0;
}

static int deep(size_t bytes)
{
	char name[201];
	size_t depth = 0;
	int fd;

	memset(name, 'd', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	/* Relative steps: the whole path is never passed to the kernel. */
	while (depth <= bytes) {
		if (mkdir(name, 0755) < 0 && errno != EEXIST)
			return 1;
		if (chdir(name) < 0)
			return 1;
		depth += sizeof(name);
	}
	fd = open("evil.php", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	printf("{\"fd\":%d}\n", fd);
	fflush(stdout);
	if (fd < 0)
		return 1;
	/* An exec from there: its event's cwd cannot be named either. */
	execl("/bin/true", "true", (char *)NULL);
	return 1;
}

static void fuse_reply(int fd, uint64_t unique, int error, const void *out,
		       size_t len)
{
	struct {
		struct fuse_out_header h;
		char body[256];
	} r;

	memset(&r, 0, sizeof(r));
	r.h.len = (uint32_t)(sizeof(r.h) + len);
	r.h.error = error;
	r.h.unique = unique;
	if (len)
		memcpy(r.body, out, len);
	if (write(fd, &r, r.h.len) < 0 && errno != ENOENT)
		_exit(5);
}

/* The smallest FUSE daemon: an empty root directory. */
static void fuse_serve(int fd)
{
	static char buf[256 * 1024];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		struct fuse_in_header *in = (struct fuse_in_header *)buf;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < (ssize_t)sizeof(*in))
			_exit(0); /* unmounted */
		switch (in->opcode) {
		case FUSE_INIT: {
			struct fuse_init_in *ii = (struct fuse_init_in *)(in + 1);
			struct fuse_init_out o;

			memset(&o, 0, sizeof(o));
			o.major = FUSE_KERNEL_VERSION;
			o.minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ?
				  ii->minor : FUSE_KERNEL_MINOR_VERSION;
			o.max_write = 4096;
			o.max_background = 1;
			fuse_reply(fd, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_GETATTR: {
			struct fuse_attr_out o;

			memset(&o, 0, sizeof(o));
			o.attr_valid = 3600;
			o.attr.ino = 1;
			o.attr.mode = S_IFDIR | 0755;
			o.attr.nlink = 2;
			fuse_reply(fd, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_LOOKUP: {
			/* A monitored call first: a stop the tracer serves. */
			int f = open("/etc/hostname", O_RDONLY | O_CLOEXEC);

			if (f >= 0)
				close(f);
			fuse_reply(fd, in->unique, -ENOENT, NULL, 0);
			break;
		}
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
			break;
		case FUSE_DESTROY:
			_exit(0);
		default:
			fuse_reply(fd, in->unique, -ENOSYS, NULL, 0);
		}
	}
}

static int fuse(const char *mnt)
{
	char opts[128], file[4096];
	int fd, st, exec_errno = 0, chmod_errno = 0;
	pid_t daemon, pid;

	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 1;
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", fd);
	if (mount("kview", mnt, "fuse.kview", MS_NOSUID | MS_NODEV, opts) < 0)
		return 1;
	daemon = fork();
	if (daemon == 0)
		fuse_serve(fd);
	snprintf(file, sizeof(file), "%s/prog", mnt);
	pid = fork();
	if (pid == 0) {
		char *argv[] = { "prog", NULL };

		execv(file, argv);
		_exit(errno);
	}
	waitpid(pid, &st, 0);
	exec_errno = WEXITSTATUS(st);
	snprintf(file, sizeof(file), "%s/other", mnt);
	if (chmod(file, 0600) < 0)
		chmod_errno = errno;
	umount2(mnt, MNT_DETACH);
	kill(daemon, SIGKILL);
	waitpid(daemon, &st, 0);
	printf("{\"exec_errno\":%d,\"chmod_errno\":%d}\n", exec_errno, chmod_errno);
	return 0;
}

static int chdir_child(void *dir)
{
	return chdir(dir) < 0;
}

static int clonefs(char *dir)
{
	static char stack[64 * 1024];
	int fd, st;
	pid_t pid;

	fd = open("f", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	close(fd);
	pid = clone(chdir_child, stack + sizeof(stack), CLONE_FS | SIGCHLD, dir);
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || st != 0)
		return 1;
	fd = open("f", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "race") == 0) {
		path_a = argv[3];
		path_b = argv[4];
		return race(atoi(argv[2]));
	}
	if (argc == 3 && strcmp(argv[1], "report") == 0)
		return report(argv[2]);
	if (argc == 3 && strcmp(argv[1], "deep") == 0)
		return deep((size_t)atol(argv[2]));
	if (argc == 3 && strcmp(argv[1], "fuse") == 0)
		return fuse(argv[2]);
	if (argc == 3 && strcmp(argv[1], "clonefs") == 0)
		return clonefs(argv[2]);
	fprintf(stderr, "usage: kview race N A B | report ARG | deep BYTES | fuse MNT | clonefs DIR\n");
	return 2;
}
