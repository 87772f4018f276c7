// SPDX-License-Identifier: Apache-2.0
/*
 * tree: forks a tree of 200 short-lived processes, 10 children with 19
 * grandchildren each, every one exiting with its own code (1 to 200).
 * Each parent prints one JSON line per child it reaped:
 * {"pid":…,"ppid":…,"code":…}.  Exits 0 when every code came back right.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#define CHILDREN 10
#define GRANDCHILDREN 19

static void report(pid_t pid, int code)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "{\"pid\":%d,\"ppid\":%d,\"code\":%d}\n",
			 (int)pid, (int)getpid(), code);

	/* One write per line: lines of different processes never mix. */
	if (write(STDOUT_FILENO, line, (size_t)n) != n)
		_exit(99);
}

/* Forks N children exiting with CODE(i); returns the number that came back
 * with a wrong status. */
static int fork_and_reap(int n, int (*code)(int, int), int arg, void (*work)(int))
{
	pid_t pids[GRANDCHILDREN + 1];
	int bad = 0;

	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fork");
			exit(98);
		}
		if (pids[i] == 0) {
			if (work)
				work(i);
			_exit(code(arg, i));
		}
	}
	for (int i = 0; i < n; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) < 0) {
			perror("waitpid");
			exit(97);
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != code(arg, i))
			bad++;
		report(pids[i], code(arg, i));
	}
	return bad;
}

static int child_code(int unused, int i)
{
	return 1 + i * 20;
}

static int grandchild_code(int parent, int j)
{
	return parent * 20 + j + 2;
}

static void child_work(int i)
{
	if (fork_and_reap(GRANDCHILDREN, grandchild_code, i, NULL) != 0)
		_exit(96);
}

int main(void)
{
	return fork_and_reap(CHILDREN, child_code, 0, child_work) != 0;
}
