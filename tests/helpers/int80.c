/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A 64-bit program that opens a file through the i386 ABI: `int $0x80`
 * with eax = 5 (i386 open), ebx = the path. The path lives below 4 GiB
 * (MAP_32BIT), as the 32-bit registers can only name such an address. The
 * 64-bit argument registers hold a decoy path, which is what a decoder
 * that reads this call as a 64-bit one would report.
 *
 *   int80 PATH DECOY   prints {"ret": N} with open's result (fd or -errno)
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
#if defined(__x86_64__)
	char *low;
	long ret;

	if (argc != 3 || strlen(argv[1]) >= 4096) {
		fprintf(stderr, "usage: int80 PATH DECOY\n");
		return 2;
	}
	low = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (low == MAP_FAILED) {
		perror("mmap(MAP_32BIT)");
		return 1;
	}
	strcpy(low, argv[1]);
	/* The kernel's compat entry clears r8-r11 on the way back. */
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(5L), "b"((long)(unsigned long)low), "c"((long)O_RDONLY),
			   "d"(0L), "D"(argv[2]), "S"((long)O_RDONLY)
			 : "memory", "r8", "r9", "r10", "r11");
	printf("{\"ret\": %ld}\n", ret);
	fflush(stdout);
	if (ret >= 0)
		close((int)ret);
	return ret >= 0 ? 0 : 1;
#else
	(void)argc;
	(void)argv;
	fprintf(stderr, "int80: x86_64 only\n");
	return 2;
#endif
}
