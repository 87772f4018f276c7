/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sentrace setup`: puts a copy of the running binary into a volume that
 * an application container mounts, so that it can run
 * `DIR/sentrace trace -- ENTRYPOINT`. The copy is written to a temporary
 * file next to its final name and renamed over it, so that a container
 * starting meanwhile never executes a half-written binary.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "setup.h"

#define SETUP_BIN_NAME "sentrace"

static void setup_usage(FILE *f)
{
	fprintf(f,
"Usage: sentrace setup --cws-volume-mount DIR\n"
"\n"
"Copies this sentrace binary to DIR/" SETUP_BIN_NAME " (mode 0755), for an init\n"
"container that shares DIR with the application container. The copy is\n"
"written to a temporary file in DIR, synced, and renamed into place, so\n"
"DIR/" SETUP_BIN_NAME " is always either the old or the complete new binary.\n"
"The copy is only self-contained when this binary is statically linked\n"
"(sentrace-static); docs/containers.md tells how to build it.\n"
"\n"
"Options:\n"
"  --cws-volume-mount DIR    the shared volume (must exist)\n"
"  --verbose                 say what was copied where\n"
"  -h, --help                this text\n"
"\n"
"Exit status: 0 copied; 1 reading this binary or writing the copy failed;\n"
"2 bad command line; 3 DIR does not exist or is not a directory; 4 DIR is\n"
"not writable (run the init container as uid 0, or give it a writable\n"
"volume).\n");
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int copy_fd(int src, int dst)
{
	char buf[64 * 1024];

	if (lseek(src, 0, SEEK_SET) < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(src, buf, sizeof(buf));
		int r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0;
		r = write_all(dst, buf, (size_t)n);
		if (r < 0)
			return r;
	}
}

int setup_install_copy(int src_fd, const char *dir, const char *name,
		       const char **ret_step)
{
	char tmp[4096], dst[4096];
	int fd, dfd, r;

	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= (int)sizeof(tmp) ||
	    snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst)) {
		*ret_step = "path";
		return -ENAMETOOLONG;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		*ret_step = "create";
		return -errno;
	}
	/* Every step after mkostemp removes the temporary file on failure. */
	r = copy_fd(src_fd, fd);
	if (r < 0) {
		*ret_step = "write";
		goto fail_unlink;
	}
	/* fchmod, not the umask-bound mode of creation: 0755 exactly. */
	if (fchmod(fd, 0755) < 0) {
		r = -errno;
		*ret_step = "chmod";
		goto fail_unlink;
	}
	if (fsync(fd) < 0) {
		r = -errno;
		*ret_step = "fsync";
		goto fail_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		*ret_step = "close";
		goto fail_unlink;
	}
	fd = -1;
	if (rename(tmp, dst) < 0) {
		r = -errno;
		*ret_step = "rename";
		goto fail_unlink;
	}
	/* The rename is durable once the directory is synced. Some volume
	 * types (network and FUSE file systems) cannot sync a directory;
	 * the copy itself is complete by then, so that is only logged. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			log_debug("fsync(%s): %s", dir, strerror(errno));
		close(dfd);
	}
	return 0;

fail_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

static bool is_permission_error(int r)
{
	return r == -EACCES || r == -EPERM || r == -EROFS;
}

int cmd_setup(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cws-volume-mount", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *step = "";
	struct stat st;
	int c, src, r;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			dir = optarg;
			break;
		case 'v':
			if (log_level < LOG_LEVEL_INFO)
				log_level = LOG_LEVEL_INFO;
			break;
		case 'h':
			setup_usage(stdout);
			return SETUP_EXIT_OK;
		default:
			setup_usage(stderr);
			return SETUP_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_err("setup takes no arguments ('%s')", argv[optind]);
		setup_usage(stderr);
		return SETUP_EXIT_USAGE;
	}
	if (!dir || !*dir) {
		log_err("setup needs --cws-volume-mount DIR");
		setup_usage(stderr);
		return SETUP_EXIT_USAGE;
	}
	if (stat(dir, &st) < 0) {
		r = errno;
		if (r == EACCES) {
			log_err("%s: %s; run the setup as uid 0", dir, strerror(r));
			return SETUP_EXIT_NOT_WRITABLE;
		}
		log_err("%s: %s (the volume must be mounted before the setup runs)",
			dir, strerror(r));
		return SETUP_EXIT_NO_DIR;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("%s is not a directory", dir);
		return SETUP_EXIT_NO_DIR;
	}

	src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (src < 0) {
		log_err("cannot open /proc/self/exe: %s (setup needs /proc)", strerror(errno));
		return SETUP_EXIT_FAILED;
	}
	r = setup_install_copy(src, dir, SETUP_BIN_NAME, &step);
	close(src);
	if (r < 0) {
		if (is_permission_error(r) && strcmp(step, "create") == 0) {
			log_err("cannot write to %s: %s; run the setup as uid 0 "
				"(securityContext.runAsUser: 0) or mount the volume read-write",
				dir, strerror(-r));
			return SETUP_EXIT_NOT_WRITABLE;
		}
		log_err("cannot copy sentrace to %s/" SETUP_BIN_NAME " (%s): %s",
			dir, step, strerror(-r));
		return SETUP_EXIT_FAILED;
	}
	log_info("copied sentrace to %s/" SETUP_BIN_NAME, dir);
	return SETUP_EXIT_OK;
}
