// SPDX-License-Identifier: Apache-2.0
/*
 * sigtest: catches SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
 * SIGWINCH and SIGRTMIN+3.  Prints "ready PID" once the handlers are in
 * place, then "got N" for each signal number N as it arrives.  Exits when
 * all eight have arrived or stdin reaches end of file, with a status whose
 * bit i says that the i-th signal above arrived (255: all of them).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NSIG_TESTED 8

static int tested[NSIG_TESTED];
static volatile sig_atomic_t pending[NSIG_TESTED];

static void on_signal(int sig)
{
	for (int i = 0; i < NSIG_TESTED; i++)
		if (tested[i] == sig)
			pending[i] = 1;
}

int main(void)
{
	struct sigaction sa;
	sigset_t block, empty;
	unsigned seen = 0;
	int eof = 0;

	tested[0] = SIGTERM;
	tested[1] = SIGINT;
	tested[2] = SIGHUP;
	tested[3] = SIGQUIT;
	tested[4] = SIGUSR1;
	tested[5] = SIGUSR2;
	tested[6] = SIGWINCH;
	tested[7] = SIGRTMIN + 3;

	/* Signals are blocked except inside ppoll: none can slip between the
	 * check of pending[] and going to sleep. */
	sigemptyset(&block);
	sigemptyset(&empty);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	for (int i = 0; i < NSIG_TESTED; i++) {
		sigaddset(&block, tested[i]);
		if (sigaction(tested[i], &sa, NULL) < 0) {
			perror("sigaction");
			return 1;
		}
	}
	sigprocmask(SIG_BLOCK, &block, NULL);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);

	while (seen != (1u << NSIG_TESTED) - 1 && !eof) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int r = ppoll(&pfd, 1, NULL, &empty);

		if (r > 0) {
			char buf[64];

			if (read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
				eof = 1;
		} else if (r < 0 && errno != EINTR) {
			perror("ppoll");
			return 1;
		}
		for (int i = 0; i < NSIG_TESTED; i++) {
			if (!pending[i])
				continue;
			pending[i] = 0;
			seen |= 1u << i;
			printf("got %d\n", tested[i]);
			fflush(stdout);
		}
	}
	return (int)seen;
}
