/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tracee that installs a seccomp filter of its own returning
 * SECCOMP_RET_TRACE with data of its choosing for one call, then makes that
 * call. The kernel keeps the newest filter's data when several return TRACE,
 * so the tracer sees this data instead of its own: it must still report the
 * call that was made.
 *
 *   tracedata DATA openat PATH   openat(AT_FDCWD, PATH, O_RDONLY)
 *   tracedata DATA getpid        getpid()
 *
 * DATA is the 16-bit RET_TRACE data (decimal or 0x…). Prints one JSON line
 * with the result.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int install(int nr, unsigned data)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | (data & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(code) / sizeof(code[0]), code };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned data;
	long ret;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: tracedata DATA openat PATH | DATA getpid\n");
		return 2;
	}
	data = (unsigned)strtoul(argv[1], NULL, 0);
	if (strcmp(argv[2], "openat") == 0 && argc == 4) {
		r = install(SYS_openat, data);
		if (r < 0)
			goto fail;
		ret = syscall(SYS_openat, AT_FDCWD, argv[3], O_RDONLY);
	} else if (strcmp(argv[2], "getpid") == 0) {
		r = install(SYS_getpid, data);
		if (r < 0)
			goto fail;
		ret = syscall(SYS_getpid);
	} else {
		fprintf(stderr, "tracedata: unknown call %s\n", argv[2]);
		return 2;
	}
	printf("{\"ret\": %ld, \"errno\": %d}\n", ret, ret < 0 ? errno : 0);
	return 0;
fail:
	fprintf(stderr, "tracedata: cannot install the filter: %s\n", strerror(-r));
	return 1;
}
