// SPDX-License-Identifier: Apache-2.0
/*
 * actor: performs, for the scenario tests, the system calls that shell
 * commands cannot make directly. One action per run:
 *
 *   open PATH FLAGS [MODE]   FLAGS: letters r w a c t x (RDONLY, WRONLY,
 *                            APPEND, CREAT, TRUNC, RDWR); writes nothing
 *   truncate PATH            truncate(PATH, 0)
 *   utimes PATH              utimensat(PATH, now)
 *   chdir PATH               chdir(PATH)
 *   chdir-fd DIR             opens DIR, chdir("/proc/self/fd/N")
 *   connect-unix PATH        connect to a unix stream socket
 *   connect-tcp IP PORT      connect to IP:PORT (IPv4), then close
 *   masquerade-connect NAME IP PORT  prctl(PR_SET_NAME, NAME), then connect-tcp
 *   capset                   capset with the current permitted set plus
 *                            CAP_SYS_ADMIN and CAP_SYS_PTRACE as effective
 *   setuid0                  setuid(0) and setgid(0) (for non-root callers)
 *   ptrace-attach            forks a sleeping child and tries PTRACE_ATTACH,
 *                            PTRACE_SEIZE and PTRACE_POKEDATA on it
 *   ptrace-traceme           PTRACE_TRACEME
 *   prctl-name NAME          prctl(PR_SET_NAME, NAME)
 *   memfd-exec PROG [ARG...] copies PROG into a memfd and runs it with
 *                            execveat(fd, "", AT_EMPTY_PATH)
 *   fd-exec PROG [ARG...]    opens PROG, removes it, and runs /proc/self/fd/N
 *   rename FROM TO           rename(FROM, TO)
 *   exec-argv0 ARGV0 PROG [ARG...]   runs PROG with argv[0] = ARGV0
 *   exec-noargv PROG         runs PROG with an empty argv
 *   finit-module FILE        finit_module on FILE (not a module: fails)
 *   init-module              init_module on a few garbage bytes (fails)
 *   delete-module NAME       delete_module(NAME) (fails for unknown names)
 *   bpf-prog-load            bpf(BPF_PROG_LOAD) with an empty program (fails)
 *   mount-ns KIND TARGET [SRC]   in a private mount namespace, mounts:
 *                            KIND bind-root (bind / on TARGET), dev (SRC as
 *                            ext4 on TARGET), cgroup (cgroup2 on TARGET),
 *                            tmpfs (tmpfs on TARGET)
 *   unlink-self              removes its own executable
 *
 * Exit status 0 whatever the system call returned (failures are expected
 * and still reported by the tracer); 2 on a usage error. Prints one line
 * per call: "NAME = RET (errno text)".
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
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

extern char **environ;

static void report(const char *what, long r)
{
	if (r < 0)
		printf("%s = %ld (%s)\n", what, r, strerror(errno));
	else
		printf("%s = %ld\n", what, r);
	fflush(stdout);
}

static int usage(void)
{
	fprintf(stderr, "actor: bad usage (see the comment at the top of actor.c)\n");
	return 2;
}

static int parse_flags(const char *s)
{
	int acc = O_RDONLY, fl = 0;

	for (; *s; s++)
		switch (*s) {
		case 'r': break;
		case 'w': acc = O_WRONLY; break;
		case 'x': acc = O_RDWR; break;
		case 'a': fl |= O_APPEND; break;
		case 'c': fl |= O_CREAT; break;
		case 't': fl |= O_TRUNC; break;
		}
	return acc | fl;
}

static int act_open(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	mode_t mode = argc > 2 ? (mode_t)strtoul(argv[2], NULL, 8) : 0644;
	int fd = open(argv[0], parse_flags(argv[1]) | O_CLOEXEC, mode);

	report("open", fd);
	if (fd >= 0)
		close(fd);
	return 0;
}

static int act_capset(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0) {
		report("capget", -1);
		return 0;
	}
	data[0].effective = data[0].permitted | (1u << CAP_SYS_ADMIN) | (1u << CAP_SYS_PTRACE);
	data[1].effective = data[1].permitted;
	report("capset", syscall(SYS_capset, &hdr, data));
	return 0;
}

static int act_ptrace_attach(void)
{
	pid_t child = fork();

	if (child < 0) {
		report("fork", -1);
		return 0;
	}
	if (child == 0) {
		for (;;)
			pause();
	}
	report("ptrace(ATTACH)", ptrace(PTRACE_ATTACH, child, 0, 0));
	report("ptrace(SEIZE)", ptrace(PTRACE_SEIZE, child, 0, 0));
	report("ptrace(POKEDATA)", ptrace(PTRACE_POKEDATA, child, (void *)&act_ptrace_attach, 0));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return 0;
}

static int copy_fd(int from, int to)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(from, buf, sizeof(buf))) > 0)
		if (write(to, buf, (size_t)n) != n)
			return -1;
	return n < 0 ? -1 : 0;
}

static int act_memfd_exec(int argc, char **argv)
{
	if (argc < 1)
		return usage();
	int src = open(argv[0], O_RDONLY | O_CLOEXEC);
	int mfd = (int)syscall(SYS_memfd_create, "payload", 0);

	if (src < 0 || mfd < 0 || copy_fd(src, mfd) < 0) {
		report("memfd", -1);
		return 1;
	}
	close(src);
	report("execveat", syscall(SYS_execveat, mfd, "", argv, environ, AT_EMPTY_PATH));
	return 1;
}

static int act_fd_exec(int argc, char **argv)
{
	char path[64];

	if (argc < 1)
		return usage();
	int fd = open(argv[0], O_RDONLY);

	if (fd < 0) {
		report("open", -1);
		return 1;
	}
	report("unlink", unlink(argv[0]));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	report("execve", execve(path, argv, environ));
	return 1;
}

static int act_mount_ns(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *kind = argv[0], *target = argv[1];

	if (unshare(CLONE_NEWNS) < 0) {
		report("unshare(CLONE_NEWNS)", -1);
		return 0;
	}
	/* Nothing of what follows propagates to the parent namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		report("mount(private)", -1);
		return 0;
	}
	if (!strcmp(kind, "bind-root"))
		report("mount(bind /)", mount("/", target, NULL, MS_BIND, NULL));
	else if (!strcmp(kind, "dev") && argc > 2)
		report("mount(dev)", mount(argv[2], target, "ext4", MS_RDONLY, NULL));
	else if (!strcmp(kind, "cgroup"))
		report("mount(cgroup2)", mount("cgroup2", target, "cgroup2", 0, NULL));
	else if (!strcmp(kind, "tmpfs"))
		report("mount(tmpfs)", mount("tmpfs", target, "tmpfs", 0, "size=1m"));
	else
		return usage();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *a = argv[1];
	char **rest = argv + 2;
	int n = argc - 2;

	if (!strcmp(a, "open"))
		return act_open(n, rest);
	if (!strcmp(a, "rename") && n == 2) {
		report("rename", rename(rest[0], rest[1]));
		return 0;
	}
	if (!strcmp(a, "truncate") && n == 1) {
		report("truncate", truncate(rest[0], 0));
		return 0;
	}
	if (!strcmp(a, "utimes") && n == 1) {
		report("utimensat", utimensat(AT_FDCWD, rest[0], NULL, 0));
		return 0;
	}
	if (!strcmp(a, "chdir") && n == 1) {
		report("chdir", chdir(rest[0]));
		return 0;
	}
	if (!strcmp(a, "chdir-fd") && n == 1) {
		char path[64];
		int fd = open(rest[0], O_RDONLY | O_DIRECTORY);

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		report("chdir", chdir(path));
		return 0;
	}
	if (!strcmp(a, "connect-unix") && n == 1) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", rest[0]);
		report("connect", connect(s, (struct sockaddr *)&sa, sizeof(sa)));
		close(s);
		return 0;
	}
	if (!strcmp(a, "masquerade-connect") && n == 3) {
		report("prctl(PR_SET_NAME)", prctl(PR_SET_NAME, rest[0], 0, 0, 0));
		rest++;
		n--;
		a = "connect-tcp";
	}
	if (!strcmp(a, "connect-tcp") && n == 2) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		int s = socket(AF_INET, SOCK_STREAM, 0);

		sin.sin_port = htons((uint16_t)atoi(rest[1]));
		if (inet_pton(AF_INET, rest[0], &sin.sin_addr) != 1)
			return usage();
		report("connect", connect(s, (struct sockaddr *)&sin, sizeof(sin)));
		close(s);
		return 0;
	}
	if (!strcmp(a, "capset"))
		return act_capset();
	if (!strcmp(a, "setuid0")) {
		report("setuid(0)", setuid(0));
		report("setgid(0)", setgid(0));
		return 0;
	}
	if (!strcmp(a, "ptrace-attach"))
		return act_ptrace_attach();
	if (!strcmp(a, "ptrace-traceme")) {
		report("ptrace(TRACEME)", ptrace(PTRACE_TRACEME, 0, 0, 0));
		return 0;
	}
	if (!strcmp(a, "prctl-name") && n == 1) {
		report("prctl(PR_SET_NAME)", prctl(PR_SET_NAME, rest[0], 0, 0, 0));
		return 0;
	}
	if (!strcmp(a, "memfd-exec"))
		return act_memfd_exec(n, rest);
	if (!strcmp(a, "fd-exec"))
		return act_fd_exec(n, rest);
	if (!strcmp(a, "exec-argv0") && n >= 2) {
		char *prog = rest[1];

		rest[1] = rest[0];
		report("execv", execv(prog, rest + 1));
		return 1;
	}
	if (!strcmp(a, "exec-noargv") && n == 1) {
		char *empty[] = { NULL };

		report("execve", execve(rest[0], empty, environ));
		return 1;
	}
	if (!strcmp(a, "finit-module") && n == 1) {
		int fd = open(rest[0], O_RDONLY | O_CLOEXEC);

		report("finit_module", syscall(SYS_finit_module, fd, "", 0));
		return 0;
	}
	if (!strcmp(a, "init-module")) {
		static const char image[64] = "\177ELF-not-a-module";

		report("init_module", syscall(SYS_init_module, image, sizeof(image), ""));
		return 0;
	}
	if (!strcmp(a, "delete-module") && n == 1) {
		report("delete_module", syscall(SYS_delete_module, rest[0], O_NONBLOCK));
		return 0;
	}
	if (!strcmp(a, "bpf-prog-load")) {
		union bpf_attr attr;

		memset(&attr, 0, sizeof(attr));
		attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
		attr.insn_cnt = 0;
		report("bpf(PROG_LOAD)", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr)));
		return 0;
	}
	if (!strcmp(a, "mount-ns"))
		return act_mount_ns(n, rest);
	if (!strcmp(a, "unlink-self")) {
		char self[4096];
		ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (len < 0) {
			report("readlink", -1);
			return 0;
		}
		self[len] = '\0';
		report("unlink", unlink(self));
		return 0;
	}
	return usage();
}
