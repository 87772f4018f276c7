// SPDX-License-Identifier: Apache-2.0
/*
 * untraced: starts children that ask not to be traced, with clone() and
 * clone3() and CLONE_UNTRACED; each opens FILE (argv[1]) and exits 0 when
 * it could. Prints {"via":…,"pid":…,"code":…} per child; exits 0 when
 * every child succeeded.
 */
#include "config.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *file;
static char stack[1 << 16];

static int child(void *arg)
{
	int fd = open(file, O_RDONLY);

	return fd < 0 ? 1 : 0;
}

static int report(const char *via, pid_t pid)
{
	int st = 0;

	if (pid < 0 || waitpid(pid, &st, __WALL) < 0)
		return 1;
	printf("{\"via\":\"%s\",\"pid\":%d,\"code\":%d}\n", via, (int)pid,
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	fflush(stdout);
	return !WIFEXITED(st) || WEXITSTATUS(st) != 0;
}

int main(int argc, char **argv)
{
	struct clone_args ca;
	int bad = 0;
	long pid;

	if (argc < 2)
		return 2;
	file = argv[1];
	bad |= report("clone", clone(child, stack + sizeof(stack),
				     CLONE_UNTRACED | SIGCHLD, NULL));
	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_UNTRACED;
	ca.exit_signal = SIGCHLD;
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0)
		_exit(child(NULL));
	bad |= report("clone3", (pid_t)pid);
	return bad;
}
