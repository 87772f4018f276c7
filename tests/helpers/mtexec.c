// SPDX-License-Identifier: Apache-2.0
/*
 * mtexec: execs from a thread that is not the thread-group leader.
 *
 *   mtexec MARKER          starts two threads; the second one re-executes
 *                          this program as "mtexec --child MARKER" while the
 *                          leader waits in pthread_join and the first
 *                          thread blocks on a pipe.  Prints one JSON line
 *                          {"pid":…,"tid":…} (the exec'ing thread) first.
 *   mtexec --child MARKER  creates MARKER and exits 42.
 */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

static int block_pipe[2];
static char *marker;
static char self[4096];

static void *blocker(void *arg)
{
	char c;

	(void)arg;
	/* Never returns: nobody writes to the pipe. */
	while (read(block_pipe[0], &c, 1) != 0)
		;
	return NULL;
}

static void *execer(void *arg)
{
	char *argv[] = { "mtexec", "--child", marker, NULL };
	extern char **environ;

	(void)arg;
	printf("{\"pid\":%d,\"tid\":%ld}\n", (int)getpid(), (long)syscall(SYS_gettid));
	fflush(stdout);
	execve(self, argv, environ);
	perror("execve");
	exit(3);
}

int main(int argc, char **argv)
{
	pthread_t t1, t2;
	ssize_t n;

	if (argc == 3 && strcmp(argv[1], "--child") == 0) {
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0) {
			perror(argv[2]);
			return 4;
		}
		close(fd);
		return 42;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s MARKER\n", argv[0]);
		return 2;
	}
	marker = argv[1];
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		perror("readlink");
		return 2;
	}
	self[n] = '\0';
	if (pipe(block_pipe) < 0 ||
	    pthread_create(&t1, NULL, blocker, NULL) != 0 ||
	    pthread_create(&t2, NULL, execer, NULL) != 0) {
		perror("setup");
		return 2;
	}
	pthread_join(t2, NULL);
	return 5;
}
