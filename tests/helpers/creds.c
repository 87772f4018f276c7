// SPDX-License-Identifier: Apache-2.0
/*
 * creds: prints the credentials it runs with as one JSON line, for the
 * --uid/--gid tests and, copied with the setuid bit, for checking that
 * setuid binaries still work inside a traced tree.
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>
#include <sys/types.h>

int main(void)
{
	gid_t groups[256];
	int n = getgroups(256, groups);

	printf("{\"uid\":%d,\"euid\":%d,\"gid\":%d,\"egid\":%d,\"groups\":[",
	       (int)getuid(), (int)geteuid(), (int)getgid(), (int)getegid());
	for (int i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", (int)groups[i]);
	printf("]}\n");
	return n < 0;
}
