/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Workloads for tools/bench (compiled by the harness with `cc -O2`):
 *
 *   helper opens N PATH      N times openat(PATH) + close; prints
 *                            "ns_per_iter NS" (CLOCK_MONOTONIC)
 *   helper getpid N          N times getpid(); prints "ns_per_iter NS"
 *                            (a call the seccomp filter lets through)
 *   helper forks N FIFO      forks N children that block reading a pipe,
 *                            writes "ready\n" to FIFO once all live, waits
 *                            for a line on stdin, then releases and reaps
 *                            them
 *   helper shadow N GAP_US PATH
 *                            N times: note CLOCK_REALTIME, openat(PATH),
 *                            close, print "T_NS", sleep GAP_US
 *   helper sends N KIND      N sends of a UDP server to a loopback port
 *                            (not DNS): KIND "sendto" 1,000 bytes with a
 *                            destination, "send" 100 bytes on a connected
 *                            socket, "write" 100 bytes on it; prints
 *                            "ns_per_iter NS"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int do_opens(long n, const char *path)
{
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);

	for (long i = 0; i < n; i++) {
		int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			perror(path);
			return 1;
		}
		close(fd);
	}
	printf("ns_per_iter %.1f\n",
	       (double)(now_ns(CLOCK_MONOTONIC) - t0) / (double)n);
	return 0;
}

static int do_getpid(long n)
{
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);

	for (long i = 0; i < n; i++)
		syscall(SYS_getpid);
	printf("ns_per_iter %.1f\n",
	       (double)(now_ns(CLOCK_MONOTONIC) - t0) / (double)n);
	return 0;
}

static int do_forks(long n, const char *fifo)
{
	int p[2];
	char c;
	long made = 0;
	FILE *f;

	if (pipe(p) < 0)
		return 1;
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			break;
		}
		if (pid == 0) {
			close(p[1]);
			/* Blocks until the parent closes the write end. */
			while (read(p[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		made++;
	}
	close(p[0]);
	f = fopen(fifo, "w");
	if (f) {
		fprintf(f, "ready %ld\n", made);
		fclose(f);
	}
	while (read(0, &c, 1) < 0 && errno == EINTR)
		;
	close(p[1]);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return made == n ? 0 : 1;
}

static int do_shadow(long n, long gap_us, const char *path)
{
	for (long i = 0; i < n; i++) {
		uint64_t t = now_ns(CLOCK_REALTIME);
		int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0)
			close(fd);
		printf("%llu\n", (unsigned long long)t);
		fflush(stdout);
		usleep((useconds_t)gap_us);
	}
	return 0;
}

static int do_sends(long n, const char *kind)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	static char buf[1000];
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	uint64_t t0;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (rx < 0 || tx < 0 || bind(rx, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(rx, (struct sockaddr *)&sin, &len) < 0) {
		perror("socket");
		return 1;
	}
	/* The receiver drops what does not fit: nobody reads it. */
	if (strcmp(kind, "sendto") != 0 && connect(tx, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("connect");
		return 1;
	}
	memset(buf, 'x', sizeof(buf));
	t0 = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) {
		ssize_t r;

		if (strcmp(kind, "sendto") == 0)
			r = sendto(tx, buf, sizeof(buf), 0, (struct sockaddr *)&sin, sizeof(sin));
		else if (strcmp(kind, "send") == 0)
			r = send(tx, buf, 100, 0);
		else
			r = write(tx, buf, 100);
		if (r < 0 && errno != ENOBUFS && errno != EAGAIN) {
			perror(kind);
			return 1;
		}
	}
	printf("ns_per_iter %.1f\n",
	       (double)(now_ns(CLOCK_MONOTONIC) - t0) / (double)n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "opens") == 0)
		return do_opens(atol(argv[2]), argv[3]);
	if (argc >= 3 && strcmp(argv[1], "getpid") == 0)
		return do_getpid(atol(argv[2]));
	if (argc >= 4 && strcmp(argv[1], "forks") == 0)
		return do_forks(atol(argv[2]), argv[3]);
	if (argc >= 5 && strcmp(argv[1], "shadow") == 0)
		return do_shadow(atol(argv[2]), atol(argv[3]), argv[4]);
	if (argc >= 4 && strcmp(argv[1], "sends") == 0)
		return do_sends(atol(argv[2]), argv[3]);
	fprintf(stderr, "usage: helper opens N PATH | getpid N | forks N FIFO | "
		"shadow N GAP_US PATH | sends N sendto|send|write\n");
	return 2;
}
