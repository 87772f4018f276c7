/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zleader: a process whose leader has called pthread_exit (a zombie while
 * its other thread lives), as attach mode meets it.
 *
 *   zleader FIFO MARKER     the leader exits; its thread opens FIFO, reads
 *                           one byte, then re-executes this program as
 *                           "zleader --child MARKER" (taking the leader's
 *                           tid).
 *   zleader --child MARKER  creates MARKER and exits 42.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char *fifo, *marker;
static char self[4096];

static void *waiter(void *arg)
{
	char *argv[] = { "zleader", "--child", marker, NULL };
	extern char **environ;
	char c;
	int fd;

	(void)arg;
	fd = open(fifo, O_RDONLY);
	if (fd < 0 || read(fd, &c, 1) != 1)
		_exit(3);
	execve(self, argv, environ);
	_exit(4);
}

int main(int argc, char **argv)
{
	pthread_t t;
	ssize_t n;

	if (argc == 3 && strcmp(argv[1], "--child") == 0) {
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);

		return fd < 0 ? 5 : 42;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: zleader FIFO MARKER\n");
		return 2;
	}
	fifo = argv[1];
	marker = argv[2];
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 2;
	self[n] = '\0';
	if (pthread_create(&t, NULL, waiter, NULL) != 0)
		return 2;
	pthread_exit(NULL);
}
