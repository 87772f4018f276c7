/* SPDX-License-Identifier: Apache-2.0 */
/* Process snapshots read from /proc. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "procsnap.h"
#include "sentrace/wire.h"
#include "util.h"

#define SNAP_ARGV_BYTES (32u * 1024)
#define SNAP_ENVP_BYTES (16u * 1024)

static int read_proc_file(pid_t pid, const char *what, char *buf, size_t cap)
{
	char path[64];
	size_t got = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);

		if (n < 0) {
			int r = -errno;

			close(fd);
			return r;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (int)got;
}

/* A NUL-separated /proc file as an array; cut (and flagged) at cap bytes. */
static void put_nul_list(struct evbuf *e, pid_t pid, const char *what,
			 const char *key, const char *tkey, size_t cap)
{
	char *buf = malloc(cap + 1);
	int n = buf ? read_proc_file(pid, what, buf, cap + 1) : -ENOMEM;
	bool trunc = false;
	uint32_t count = 0;

	if (n < 0) {
		free(buf);
		return;
	}
	if ((size_t)n > cap) {
		/* Keep whole strings only. */
		n = (int)cap;
		while (n > 0 && buf[n - 1] != '\0')
			n--;
		trunc = true;
	}
	/* A process that rewrote its title (redis, postgres) leaves NUL
	 * padding behind: trailing empty strings are not arguments. */
	while (n > 0 && buf[n - 1] == '\0' && (n == 1 || buf[n - 2] == '\0'))
		n--;
	for (int i = 0; i < n; i++)
		count += buf[i] == '\0';
	if (n > 0 && buf[n - 1] != '\0')
		count++;
	ev_key(e, key);
	msgpack_pack_array(&e->pk, count);
	for (int i = 0; i < n; ) {
		size_t len = strnlen(buf + i, (size_t)(n - i));

		wire_pack_strn(&e->pk, buf + i, len);
		i += (int)len + 1;
	}
	ev_bool(e, tkey, trunc);
	free(buf);
}

static uint64_t boot_time_ns(void)
{
	static uint64_t cached;
	char buf[8192];
	char *p;
	int n;

	if (cached)
		return cached;
	n = read_proc_file(1, "../stat", buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nbtime ");
	if (p)
		cached = strtoull(p + 7, NULL, 10) * NSEC_PER_SEC;
	return cached;
}

uint64_t proc_start_time_ns(pid_t pid)
{
	char buf[1024];
	unsigned long long ticks = 0;
	long hz = sysconf(_SC_CLK_TCK);
	char *p;
	int n = read_proc_file(pid, "stat", buf, sizeof(buf) - 1);

	if (n <= 0 || hz <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* state is field 3; starttime is field 22. */
	p += 2;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return 0;
	ticks = strtoull(p, NULL, 10);
	return boot_time_ns() + ticks * NSEC_PER_SEC / (unsigned long long)hz;
}

int procsnap_build(struct evbuf *e, pid_t pid)
{
	struct proc_status st;
	char buf[SENTRACE_PATH_MAX];
	int n;

	if (proc_read_status(pid, &st) < 0)
		return -ESRCH;
	ev_begin_map(e);
	ev_i64(e, "pid", pid);
	ev_i64(e, "ppid", st.ppid);
	if (proc_readlink(pid, "exe", buf, sizeof(buf)) >= 0)
		ev_str(e, "file", buf);
	put_nul_list(e, pid, "cmdline", "argv", "argv_truncated", SNAP_ARGV_BYTES);
	put_nul_list(e, pid, "environ", "envp", "envp_truncated", SNAP_ENVP_BYTES);
	ev_i64(e, "uid", st.uid);
	ev_i64(e, "euid", st.euid);
	ev_i64(e, "gid", st.gid);
	ev_i64(e, "egid", st.egid);
	if (proc_readlink(pid, "cwd", buf, sizeof(buf)) >= 0)
		ev_str(e, "cwd", buf);
	proc_tty(pid, buf, sizeof(buf));
	ev_str(e, "tty", buf);
	n = read_proc_file(pid, "comm", buf, 64);
	if (n > 0) {
		while (n > 0 && buf[n - 1] == '\n')
			n--;
		ev_strn(e, "comm", buf, (size_t)n);
	}
	ev_u64(e, "start_time", proc_start_time_ns(pid));
	ev_end(e);
	return 0;
}
