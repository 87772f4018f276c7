/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The main of the fuzz targets in builds without libFuzzer: runs the target
 * once on every file named, and on every regular file of every directory
 * named (sorted, dot files skipped), the way libFuzzer replays a corpus.
 * A crash is the test's failure; an empty corpus is one too, since it
 * means the seeds went missing.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Exactly the file's bytes, so that ASan and valgrind see a read past them. */
static int read_file(const char *path, uint8_t **ret_buf, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	struct stat st;
	int r = 0;

	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) < 0) {
		r = -errno;
		goto out;
	}
	if (st.st_size > 0) {
		buf = malloc((size_t)st.st_size);
		if (!buf) {
			r = -ENOMEM;
			goto out;
		}
		if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
			free(buf);
			r = -EIO;
			goto out;
		}
	}
	*ret_buf = buf;
	*ret_len = (size_t)st.st_size;
out:
	fclose(f);
	return r;
}

static int run_file(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = read_file(path, &buf, &len);

	if (r < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		return r;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* The number of inputs run, or -errno. */
static long run_dir(const char *dir)
{
	struct dirent **names;
	long count = 0;
	int n = scandir(dir, &names, skip_dot, cmp_names);

	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		size_t plen = strlen(dir) + strlen(names[i]->d_name) + 2;
		char *path = malloc(plen);
		struct stat st;

		if (!path) {
			count = -ENOMEM;
			break;
		}
		snprintf(path, plen, "%s/%s", dir, names[i]->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(path) < 0)
				count = -EIO;
			else if (count >= 0)
				count++;
		}
		free(path);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return count;
}

int main(int argc, char **argv)
{
	long total = 0;
	int status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long n;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			status = 1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			n = run_dir(argv[i]);
		} else {
			n = run_file(argv[i]) < 0 ? -1 : 1;
		}
		if (n < 0) {
			status = 1;
			continue;
		}
		if (n == 0) {
			fprintf(stderr, "%s: no inputs\n", argv[i]);
			status = 1;
		}
		total += n;
	}
	printf("%s: %ld inputs replayed\n", argv[0], total);
	return status;
}
