// SPDX-License-Identifier: Apache-2.0
/*
 * iouring: opens FILE (argv[1]) through io_uring, with raw system calls
 * (no liburing): io_uring_setup, the rings mapped, one IORING_OP_OPENAT
 * submitted with io_uring_enter. The open is no system call of ours, so no
 * tracer sees it. With "wait" as argv[2] it first reads a line from stdin
 * (attach mode: the tracer attaches meanwhile).
 *
 * Prints {"setup":FD or -errno} and, when the ring exists,
 * {"open":RES} (the fd, or -errno, that the kernel completed with), then
 * {"done":true}. Exits 0 (the test judges the results); 2 on usage errors.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_io_uring_enter
#define SYS_io_uring_enter 426
#endif

int main(int argc, char **argv)
{
	struct io_uring_params p;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqe;
	unsigned char *sq, *cq;
	unsigned *tail, *array, mask;
	unsigned *chead, *ctail;
	char line[64];
	long fd, r;

	if (argc < 2 || argc > 3)
		return 2;
	if (argc == 3 && strcmp(argv[2], "wait") == 0 && !fgets(line, sizeof(line), stdin))
		return 2;
	memset(&p, 0, sizeof(p));
	fd = syscall(SYS_io_uring_setup, 4, &p);
	printf("{\"setup\":%ld}\n", fd < 0 ? -(long)errno : fd);
	fflush(stdout);
	if (fd < 0)
		goto done;
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)fd,
		  IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)fd,
		  IORING_OFF_CQ_RING);
	sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
		    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)fd,
		    IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
		return 1;
	tail = (unsigned *)(sq + p.sq_off.tail);
	array = (unsigned *)(sq + p.sq_off.array);
	mask = *(unsigned *)(sq + p.sq_off.ring_mask);

	memset(&sqes[0], 0, sizeof(sqes[0]));
	sqes[0].opcode = IORING_OP_OPENAT;
	sqes[0].fd = AT_FDCWD;
	sqes[0].addr = (uint64_t)(uintptr_t)argv[1];
	sqes[0].open_flags = O_RDONLY;
	array[*tail & mask] = 0;
	__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);

	r = syscall(SYS_io_uring_enter, (int)fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
	if (r < 0)
		return 1;
	chead = (unsigned *)(cq + p.cq_off.head);
	ctail = (unsigned *)(cq + p.cq_off.tail);
	if (*chead == __atomic_load_n(ctail, __ATOMIC_ACQUIRE))
		return 1;
	cqe = (struct io_uring_cqe *)(cq + p.cq_off.cqes) +
	      (*chead & *(unsigned *)(cq + p.cq_off.ring_mask));
	printf("{\"open\":%d}\n", cqe->res);
	__atomic_store_n(chead, *chead + 1, __ATOMIC_RELEASE);
done:
	printf("{\"done\":true}\n");
	fflush(stdout);
	return 0;
}
