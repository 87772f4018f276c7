/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sentrace setup --cws-volume-mount DIR`: copies the running tracer binary
 * into a shared volume, for a Kubernetes init container or an ECS
 * dependency container to hand it to the application container.
 */
#ifndef SENTRACE_SETUP_H
#define SENTRACE_SETUP_H

/* Exit statuses of `sentrace setup`, documented in its --help. */
enum setup_exit {
	SETUP_EXIT_OK = 0,          /* DIR/sentrace is in place */
	SETUP_EXIT_FAILED = 1,      /* reading our binary or writing the copy failed */
	SETUP_EXIT_USAGE = 2,       /* bad command line */
	SETUP_EXIT_NO_DIR = 3,      /* DIR does not exist or is not a directory */
	SETUP_EXIT_NOT_WRITABLE = 4, /* DIR is not writable (permissions, read-only) */
};

/* argv[0] is "setup"; returns the exit status. */
int cmd_setup(int argc, char **argv);

/*
 * Copies the file open on src_fd into dir/name atomically: a temporary file
 * in dir, mode 0755, fsync, rename, fsync of dir. Returns 0 or -errno;
 * *ret_step says which step failed ("create", "write", ...).
 */
int setup_install_copy(int src_fd, const char *dir, const char *name,
		       const char **ret_step);

#endif
