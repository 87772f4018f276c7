/* SPDX-License-Identifier: Apache-2.0 */
/* Process snapshots read from /proc. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"
#include "idnames.h"
#include "mem.h"
#include "procsnap.h"
#include "stdstreams.h"
#include "sentrace/wire.h"
#include "util.h"

#define SNAP_ARGV_BYTES (32u * 1024)
#define SNAP_ENVP_BYTES (16u * 1024)

/* A NUL-separated /proc file as an array; cut (and flagged) at cap bytes. */
static void put_nul_list(struct evbuf *e, pid_t pid, const char *what,
			 const char *key, const char *tkey, size_t cap, bool env)
{
	char *buf = malloc(cap + 1);
	int n = buf ? proc_read_file(pid, what, buf, cap + 1) : -ENOMEM;
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

		if (env)
			ev_env_item(e, buf + i, len);
		else
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
	n = proc_read_file(1, "../stat", buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nbtime ");
	if (p)
		cached = strtoull(p + 7, NULL, 10) * NSEC_PER_SEC;
	return cached;
}

int proc_stat_parse(const char *buf, struct proc_stat *ret)
{
	struct proc_stat st = { 0 };
	const char *p;
	char *end;

	st.pid = (pid_t)strtol(buf, &end, 10);
	if (end == buf || st.pid <= 0)
		return -EIO;
	/* comm may hold spaces and parentheses: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -EIO;
	/* Field 3 is the state; p walks to the start of each next field. */
	p += 2;
	st.state = *p;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EIO;
		p++;
		if (field + 1 == 4)
			st.ppid = (pid_t)strtol(p, NULL, 10);
		else if (field + 1 == 9)
			st.flags = (unsigned)strtoul(p, NULL, 10);
	}
	st.start_ticks = strtoull(p, NULL, 10);
	*ret = st;
	return 0;
}

uint64_t proc_ticks_to_ns(uint64_t ticks)
{
	static long hz;

	if (hz == 0)
		hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		return 0;
	/* Split so that ticks * 10^9 cannot overflow after years of uptime. */
	return boot_time_ns() + ticks / (uint64_t)hz * NSEC_PER_SEC +
	       ticks % (uint64_t)hz * NSEC_PER_SEC / (uint64_t)hz;
}

uint64_t proc_start_ticks(pid_t pid)
{
	char buf[1024];
	struct proc_stat st;
	int n = proc_read_file(pid, "stat", buf, sizeof(buf) - 1);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (proc_stat_parse(buf, &st) < 0 || st.pid != pid)
		return 0;
	return st.start_ticks;
}

uint64_t proc_start_time_ns(pid_t pid)
{
	uint64_t ticks = proc_start_ticks(pid);

	return ticks ? proc_ticks_to_ns(ticks) : 0;
}

void procsnap_put_image(struct evbuf *e, pid_t pid, const struct proc_status *st)
{
	char buf[SENTRACE_PATH_MAX];

	if (proc_readlink(pid, "exe", buf, sizeof(buf)) >= 0)
		ev_str(e, "file", buf);
	put_nul_list(e, pid, "cmdline", "argv", "argv_truncated", SNAP_ARGV_BYTES,
		     false);
	put_nul_list(e, pid, "environ", "envp", "envp_truncated", SNAP_ENVP_BYTES,
		     true);
	ev_i64(e, "uid", st->uid);
	ev_i64(e, "euid", st->euid);
	ev_i64(e, "gid", st->gid);
	ev_i64(e, "egid", st->egid);
	if (proc_id_name(pid, "passwd", st->uid, buf, sizeof(buf)) > 0)
		ev_str(e, "user", buf);
	if (proc_id_name(pid, "group", st->gid, buf, sizeof(buf)) > 0)
		ev_str(e, "group", buf);
	if (proc_readlink(pid, "cwd", buf, sizeof(buf)) >= 0)
		ev_str(e, "cwd", buf);
	proc_tty(pid, buf, sizeof(buf));
	ev_str(e, "tty", buf);
	if (container_id_for_pid(pid, buf, sizeof(buf)) == 0)
		ev_str(e, "container_id", buf);
}

int procsnap_build(struct evbuf *e, pid_t pid)
{
	struct proc_status st;
	uint64_t ticks;
	char buf[64];
	int n;

	if (proc_read_status(pid, &st) < 0)
		return -ESRCH;
	ev_begin_map(e);
	ev_i64(e, "pid", pid);
	ev_i64(e, "ppid", st.ppid);
	procsnap_put_image(e, pid, &st);
	n = proc_read_file(pid, "comm", buf, sizeof(buf));
	if (n > 0) {
		while (n > 0 && buf[n - 1] == '\n')
			n--;
		ev_strn(e, "comm", buf, (size_t)n);
	}
	ticks = proc_start_ticks(pid);
	ev_u64(e, "start_time", ticks ? proc_ticks_to_ns(ticks) : 0);
	ev_u64(e, "start_ticks", ticks);
	/* Its fds 0-2 now (attach mode: a pipe writer that will not exec
	 * again); the process may run, so sockets come from the tables. */
	stdio_enrich(e, pid, false);
	ev_end(e);
	return 0;
}
