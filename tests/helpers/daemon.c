// SPDX-License-Identifier: Apache-2.0
/*
 * daemon: double-forks a daemon that outlives its parent and grandparent.
 *
 * The top process forks an intermediate, which starts a session, forks the
 * daemon and exits at once; the top process reaps it and exits 0.  The
 * daemon waits until the top process is gone (its end of a pipe closed, and
 * then reaped by its own parent, the tracer), creates MARKER holding its
 * pid, and exits 5.  Nothing here depends on timing: the one poll has a
 * deadline and fails loudly.
 *
 * daemon -e CMD [ARG...]: the lineage attack. The top process (copied under
 * a server's name by the test) stays; the intermediate forks the daemon and
 * exits; the daemon waits until it has been re-parented (to a subreaper,
 * PID 1 or the tracer) and then execs CMD, which keeps the top process
 * waiting (a pipe's write end) until it and its children are done.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

static int run_daemon(const char *marker, pid_t top, int rfd)
{
	struct timespec tick = { 0, 5 * 1000 * 1000 };
	char c, line[32];
	int fd, n;

	/* EOF once the top process, the last writer, has exited. */
	while (read(rfd, &c, 1) > 0)
		;
	/* Then wait for it to be reaped, i.e. seen by the tracer. */
	for (int i = 0; kill(top, 0) == 0 || errno != ESRCH; i++) {
		if (i == 2000)
			return 6;
		nanosleep(&tick, NULL);
	}
	fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 7;
	n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (write(fd, line, (size_t)n) != n)
		return 8;
	close(fd);
	return 5;
}

/* The intermediate has exited and the kernel re-parented us. */
static int wait_reparented(pid_t mid)
{
	struct timespec tick = { 0, 5 * 1000 * 1000 };

	for (int i = 0; getppid() == mid; i++) {
		if (i == 2000)
			return -1;
		nanosleep(&tick, NULL);
	}
	return 0;
}

static int exec_mode(char **cmd)
{
	pid_t mid;
	int p[2], st;
	char c;

	if (pipe(p) < 0) {
		perror("pipe");
		return 2;
	}
	mid = fork();
	if (mid < 0) {
		perror("fork");
		return 2;
	}
	if (mid == 0) {
		pid_t d, self = getpid();

		close(p[0]);
		d = fork();
		if (d < 0)
			_exit(2);
		if (d == 0) {
			if (wait_reparented(self) < 0)
				_exit(6);
			execvp(cmd[0], cmd);
			_exit(127);
		}
		_exit(0);
	}
	close(p[1]);
	if (waitpid(mid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 3;
	/* EOF: the daemon's command and everything it started are done. */
	while (read(p[0], &c, 1) > 0)
		;
	return 0;
}

int main(int argc, char **argv)
{
	pid_t top = getpid(), mid;
	int p[2], st;

	if (argc >= 3 && strcmp(argv[1], "-e") == 0)
		return exec_mode(argv + 2);
	if (argc != 2) {
		fprintf(stderr, "usage: %s MARKER\n", argv[0]);
		return 2;
	}
	if (pipe(p) < 0) {
		perror("pipe");
		return 2;
	}
	mid = fork();
	if (mid < 0) {
		perror("fork");
		return 2;
	}
	if (mid == 0) {
		pid_t d;

		setsid();
		d = fork();
		if (d < 0)
			_exit(2);
		if (d == 0) {
			close(p[1]);
			_exit(run_daemon(argv[1], top, p[0]));
		}
		_exit(0);
	}
	close(p[0]);
	if (waitpid(mid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 3;
	return 0;
}
