// SPDX-License-Identifier: Apache-2.0
/*
 * srvtitle: a TCP server that hides its name, for the server-identity
 * tests. It listens on 127.0.0.1:PORT, renames its thread with
 * prctl(PR_SET_NAME, TITLE), writes "ready\n" to READY (a file the test
 * polls), accepts one connection and reads one line from it.
 *
 *   srvtitle PORT TITLE READY exec   the line is a shell command: a forked
 *                                    child runs it with /bin/sh -c, and
 *                                    its output goes back to the client
 *   srvtitle PORT TITLE READY echo   the line is sent back (benign)
 *
 * Then it exits 0. Nothing here sleeps; accept has no deadline of its
 * own (the test's timeout bounds the run).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

static int read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		ssize_t r = read(fd, buf + n, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return (int)n;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char line[512];
	int one = 1, s, c, fd, status;
	pid_t pid;

	if (argc != 5 || (strcmp(argv[4], "exec") && strcmp(argv[4], "echo"))) {
		fprintf(stderr, "usage: srvtitle PORT TITLE READY exec|echo\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 4) < 0) {
		perror("srvtitle: listen");
		return 1;
	}
	/* The title a rule on names would see: comm, not the file. */
	if (prctl(PR_SET_NAME, argv[2], 0, 0, 0) < 0) {
		perror("srvtitle: prctl");
		return 1;
	}
	fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "ready\n", 6) != 6 || close(fd) < 0) {
		perror("srvtitle: ready file");
		return 1;
	}
	c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0) {
		perror("srvtitle: accept");
		return 1;
	}
	read_line(c, line, sizeof(line));
	if (strcmp(argv[4], "echo") == 0) {
		size_t n = strlen(line);

		line[n] = '\n';
		return write(c, line, n + 1) == (ssize_t)(n + 1) ? 0 : 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("srvtitle: fork");
		return 1;
	}
	if (pid == 0) {
		dup2(c, 1);
		dup2(c, 2);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return 1;
	close(c);
	return 0;
}
