/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the tracer's standard-stream reader: the readlink target
 * classifier, the /proc/net table parser (recorded lines and cut or hostile
 * ones), and the keys of a real process's fds 0-2 (this test's own, set up
 * as a pipe, a TCP socket and /dev/null).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <check.h>
#include <msgpack.h>

#include "event.h"
#include "stdstreams.h"

START_TEST(test_classify)
{
	static const struct {
		const char *target;
		enum stdio_type t;
		uint64_t ino;
	} cases[] = {
		{ "pipe:[4026]", STDIO_PIPE, 4026 },
		{ "socket:[77]", STDIO_SOCKET, 77 },
		{ "/dev/null", STDIO_NULL, 0 },
		{ "/dev/pts/3", STDIO_TTY, 0 },
		{ "/dev/tty1", STDIO_TTY, 0 },
		{ "/dev/console", STDIO_TTY, 0 },
		{ "/tmp/out.log", STDIO_FILE, 0 },
		/* A path is a file whatever it spells. */
		{ "/tmp/pipe:[12]", STDIO_FILE, 0 },
		{ "anon_inode:[eventfd]", STDIO_OTHER, 0 },
		{ "pipe:[12", STDIO_OTHER, 0 },
		{ "pipe:[]", STDIO_OTHER, 0 },
		{ "pipe:[12]x", STDIO_OTHER, 0 },
		{ "socket:[99999999999999999999999]", STDIO_OTHER, 0 },
		{ "", STDIO_OTHER, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ino = 1;
		enum stdio_type t = stdio_classify(cases[i].target, &ino);

		ck_assert_msg(t == cases[i].t, "%s: type %d", cases[i].target, t);
		ck_assert_msg(ino == cases[i].ino, "%s: ino %llu", cases[i].target,
			      (unsigned long long)ino);
	}
}
END_TEST

static const char tcp_table[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5001 1 0000000000000000 100 0 0 10 0\n"
	"   1: 0100007F:D2F0 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 5002 1 0000000000000000 20 4 30 10 -1\n";

static const char tcp6_table[] =
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000000000000000000001000000:0016 00000000000000000000000001000000:A000 01 00000000:00000000 00:00000000 00000000     0        0 6001 1 0000000000000000 100 0 0 10 0\n";

START_TEST(test_inet_table)
{
	char local[64], peer[64];

	ck_assert_int_eq(stdio_inet_line_find(tcp_table, strlen(tcp_table), 5002, false,
					      local, sizeof(local), peer, sizeof(peer)), 0);
	ck_assert_str_eq(local, "127.0.0.1:54000");
	ck_assert_str_eq(peer, "127.0.0.1:8080");
	ck_assert_int_eq(stdio_inet_line_find(tcp_table, strlen(tcp_table), 5001, false,
					      local, sizeof(local), peer, sizeof(peer)), 0);
	ck_assert_str_eq(peer, "0.0.0.0:0");
	ck_assert_int_eq(stdio_inet_line_find(tcp_table, strlen(tcp_table), 5003, false,
					      local, sizeof(local), peer, sizeof(peer)), -ENOENT);
	ck_assert_int_eq(stdio_inet_line_find(tcp6_table, strlen(tcp6_table), 6001, true,
					      local, sizeof(local), peer, sizeof(peer)), 0);
	ck_assert_str_eq(local, "[::1]:22");
	ck_assert_str_eq(peer, "[::1]:40960");
	/* An IPv4 table read as IPv6 (wrong address length) matches nothing. */
	ck_assert_int_eq(stdio_inet_line_find(tcp_table, strlen(tcp_table), 5002, true,
					      local, sizeof(local), peer, sizeof(peer)), -ENOENT);
}
END_TEST

START_TEST(test_inet_table_cut)
{
	static const char *const bad[] = {
		"   1: 0100007F:D2F0 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0",
		"   1: 0100007F 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 0 0 5002\n",
		"   1: 0100007G:D2F0 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 0 0 5002\n",
		"   1: 0100007F:D2F0FFFFF 0100007F:1F90 01 0:0 0:0 0 0 0 5002\n",
		"5002 5002 5002 5002 5002 5002 5002 5002 5002 5002\n",
		"",
		"\n\n\n",
	};
	char local[64], peer[64];

	/* Every prefix of a good table, and broken lines: no match, no overrun. */
	for (size_t n = 0; n < strlen(tcp_table); n++) {
		int r = stdio_inet_line_find(tcp_table, n, 5002, false, local, sizeof(local),
					     peer, sizeof(peer));

		ck_assert(r == 0 || r == -ENOENT);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(stdio_inet_line_find(bad[i], strlen(bad[i]), 5002, false,
						      local, sizeof(local), peer,
						      sizeof(peer)), -ENOENT);
}
END_TEST

/* The value of key in the event map, as text ("" when absent). */
static void key_text(const msgpack_object *map, const char *key, char *out, size_t cap)
{
	out[0] = '\0';
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != strlen(key) ||
		    memcmp(kv->key.via.str.ptr, key, strlen(key)) != 0)
			continue;
		if (kv->val.type == MSGPACK_OBJECT_STR)
			snprintf(out, cap, "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
		else if (kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			snprintf(out, cap, "%llu", (unsigned long long)kv->val.via.u64);
	}
}

/*
 * fds 0-2 a pipe, a TCP socket and /dev/null; with tables (no
 * pidfd_getfd), where only stdin's socket is searched for, the socket
 * is on fd 0 and 1 and the pipe on fd 2.
 */
/* Whether pidfd_getfd can work here (valgrind knows no pidfd_open). */
static bool have_pidfd(void)
{
#ifdef SYS_pidfd_open
	long fd = syscall(SYS_pidfd_open, getpid(), 0);

	if (fd >= 0) {
		close((int)fd);
		return true;
	}
#endif
	return false;
}

static void own_fds(bool tables)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int p[2], lsn, c, nul, saved[3];
	struct stat st;
	struct evbuf e;
	msgpack_unpacked u;
	char v[128], want[64];

	/* Without pidfds the tracer takes the tables path: test that one. */
	if (!tables && !have_pidfd())
		tables = true;
	/* Without fork mode (valgrind) fds 0-2 are the runner's: kept. */
	for (int fd = 0; fd < 3; fd++)
		saved[fd] = dup(fd);

	ck_assert_int_eq(pipe(p), 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lsn = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(lsn, 0);
	ck_assert_int_eq(bind(lsn, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lsn, 1), 0);
	ck_assert_int_eq(getsockname(lsn, (struct sockaddr *)&sa, &sl), 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	nul = open("/dev/null", O_WRONLY);
	/* Fork mode: this process's fds 0-2 are its own to replace. */
	ck_assert_int_eq(dup2(tables ? c : p[0], 0), 0);
	ck_assert_int_eq(dup2(c, 1), 1);
	ck_assert_int_eq(dup2(tables ? p[0] : nul, 2), 2);

	evbuf_init(&e);
	ev_begin_map(&e);
	/* Not stopped, but this process closes nothing meanwhile. */
	stdio_enrich(&e, getpid(), true);
	ev_end(&e);
	msgpack_unpacked_init(&u);
	ck_assert(msgpack_unpack_next(&u, e.sb.data, e.sb.size, NULL) == MSGPACK_UNPACK_SUCCESS);

	key_text(&u.data, tables ? "stderr" : "stdin", v, sizeof(v));
	ck_assert_str_eq(v, "pipe");
	fstat(p[0], &st);
	snprintf(want, sizeof(want), "%llu", (unsigned long long)st.st_ino);
	key_text(&u.data, tables ? "stderr_ino" : "stdin_ino", v, sizeof(v));
	ck_assert_str_eq(v, want);
	if (tables) {
		key_text(&u.data, "stdin_proto", v, sizeof(v));
		ck_assert_str_eq(v, "tcp");
	}
	key_text(&u.data, "stdout", v, sizeof(v));
	ck_assert_str_eq(v, "socket");
	key_text(&u.data, "stdout_proto", v, sizeof(v));
	ck_assert_str_eq(v, "tcp");
	snprintf(want, sizeof(want), "127.0.0.1:%u", ntohs(sa.sin_port));
	key_text(&u.data, "stdout_peer", v, sizeof(v));
	ck_assert_str_eq(v, want);
	if (!tables) {
		key_text(&u.data, "stderr", v, sizeof(v));
		ck_assert_str_eq(v, "null");
	}
	msgpack_unpacked_destroy(&u);
	evbuf_free(&e);
	for (int fd = 0; fd < 3; fd++) {
		dup2(saved[fd], fd);
		close(saved[fd]);
	}
	close(p[0]);
	close(p[1]);
	close(lsn);
	close(c);
	close(nul);
}

START_TEST(test_own_fds)
{
	own_fds(false);
}
END_TEST

/* The same from /proc/PID/net/tcp, as on kernels without pidfd_getfd. */
START_TEST(test_own_fds_tables)
{
	setenv("SENTRACE_NO_PIDFD_GETFD", "1", 1);
	own_fds(true);
}
END_TEST

static Suite *stdstreams_suite(void)
{
	Suite *s = suite_create("stdstreams");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_classify);
	tcase_add_test(tc, test_inet_table);
	tcase_add_test(tc, test_inet_table_cut);
	suite_add_tcase(s, tc);
	tc = tcase_create("kernel");
	tcase_add_test(tc, test_own_fds);
	tcase_add_test(tc, test_own_fds_tables);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stdstreams_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
