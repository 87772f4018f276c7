/* SPDX-License-Identifier: Apache-2.0 */
/*
 * End-to-end test of the built sentrace-probe: spawns it on a unix socket
 * (and on TCP port 0) in a temporary directory, speaks the wire protocol
 * over plain sockets, and checks the JSON lines it wrote. Synchronises on
 * the probe's log lines and on connection closes, never on sleeps.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <check.h>
#include <msgpack.h>

#include "sentrace/wire.h"
#include "frame.h"

struct probe_proc {
	pid_t pid;
	FILE *err;          /* the probe's stderr */
	char dir[64];
	char sock[128];
	char out[128];
	char alerts[128];
	char policy[128];
	char listen_line[256];
};

static const char *probe_path(void)
{
	const char *p = getenv("SENTRACE_PROBE");

	if (!p)
		ck_abort_msg("SENTRACE_PROBE is not set");
	return p;
}

/* Reads stderr lines until one contains needle; returns false at EOF. */
static bool wait_log(struct probe_proc *pp, const char *needle, char *line, size_t len)
{
	while (fgets(line, (int)len, pp->err)) {
		if (strstr(line, needle))
			return true;
	}
	return false;
}

/* policy NULL: --no-policy; else alerts go to pp->alerts. */
static void probe_spawn_policy(struct probe_proc *pp, const char *listen,
			       const char *policy)
{
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	pp->pid = fork();
	ck_assert_int_ge(pp->pid, 0);
	if (pp->pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		if (policy)
			execl(probe_path(), "sentrace-probe", "run", "--listen", listen,
			      "--output", pp->out, "--policy", policy, "--alerts",
			      pp->alerts, "--verbose", (char *)NULL);
		else
			execl(probe_path(), "sentrace-probe", "run", "--listen", listen,
			      "--output", pp->out, "--no-policy", "--verbose",
			      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	pp->err = fdopen(fds[0], "r");
	ck_assert_ptr_nonnull(pp->err);
	ck_assert_msg(wait_log(pp, "listening on", pp->listen_line,
			       sizeof(pp->listen_line)),
		      "the probe exited before listening");
}

static void probe_spawn(struct probe_proc *pp, const char *listen)
{
	probe_spawn_policy(pp, listen, NULL);
}

static void probe_setup(struct probe_proc *pp)
{
	memset(pp, 0, sizeof(*pp));
	strcpy(pp->dir, "/tmp/sentrace-e2e-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(pp->dir));
	snprintf(pp->sock, sizeof(pp->sock), "%s/probe.sock", pp->dir);
	snprintf(pp->out, sizeof(pp->out), "%s/out.json", pp->dir);
	snprintf(pp->alerts, sizeof(pp->alerts), "%s/alerts.json", pp->dir);
	snprintf(pp->policy, sizeof(pp->policy), "%s/test.policy", pp->dir);
}

/* SIGTERM, then the exit status; the rest of stderr goes to log. */
static int probe_stop(struct probe_proc *pp, char *log, size_t loglen)
{
	size_t used = 0;
	int st;

	ck_assert_int_eq(kill(pp->pid, SIGTERM), 0);
	while (used + 1 < loglen && fgets(log + used, (int)(loglen - used), pp->err))
		used += strlen(log + used);
	log[used] = '\0';
	ck_assert_int_eq(waitpid(pp->pid, &st, 0), pp->pid);
	fclose(pp->err);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void probe_cleanup(struct probe_proc *pp)
{
	unlink(pp->out);
	unlink(pp->alerts);
	unlink(pp->policy);
	unlink(pp->sock);
	rmdir(pp->dir);
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = 10 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	strcpy(sun.sun_path, path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	set_timeouts(fd);
	return fd;
}

static void send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		ck_assert_int_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Sends sb's content as one frame and empties sb. */
static void send_frame(int fd, msgpack_sbuffer *sb)
{
	uint8_t hdr[WIRE_FRAME_HEADER];

	char *buf = malloc(sizeof(hdr) + sb->size);

	/* One send, as a tracer does: with Nagle's algorithm a separate
	 * header could sit in our kernel while the payload waits. */
	wire_put_len(hdr, (uint32_t)sb->size);
	memcpy(buf, hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), sb->data, sb->size);
	send_all(fd, buf, sizeof(hdr) + sb->size);
	free(buf);
	msgpack_sbuffer_clear(sb);
}

static bool recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads the HELLO_ACK; returns its session id, error in err. */
static uint64_t recv_ack(int fd, char *err, size_t errlen)
{
	uint8_t hdr[WIRE_FRAME_HEADER];
	const msgpack_object *root;
	struct wire_hello_ack ack;
	msgpack_unpacked up;
	uint32_t len;
	char *buf;
	int type;

	ck_assert(recv_all(fd, hdr, sizeof(hdr)));
	len = wire_get_len(hdr);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_lt(len, 4096);
	buf = malloc(len);
	ck_assert(recv_all(fd, buf, len));
	msgpack_unpacked_init(&up);
	ck_assert_int_eq(wire_decode(buf, len, &up, &root, &type), 0);
	ck_assert_int_eq(type, WIRE_HELLO_ACK);
	ck_assert_int_eq(wire_unpack_hello_ack(root, &ack), 0);
	snprintf(err, errlen, "%.*s", (int)ack.error.len, ack.error.ptr);
	msgpack_unpacked_destroy(&up);
	free(buf);
	return ack.session;
}

/* The probe closes the connection: recv sees end of stream. */
static void wait_closed(int fd)
{
	char c;
	ssize_t n;

	do
		n = recv(fd, &c, 1, 0);
	while (n > 0);
	ck_assert_msg(n == 0 || errno == ECONNRESET, "recv: %s", strerror(errno));
}

static void pack_hello(msgpack_packer *pk, uint32_t version, const char *host)
{
	struct wire_hello h = {
		.version = version, .tracer_version = wire_str_c("test"),
		.mode = wire_str_c("wrapped"), .hostname = wire_str_c(host),
		.container_id = wire_str_c(""), .tracer_pid = getpid(), .argc = 2,
		.argv = { wire_str_c("cat"), wire_str_c("/etc/hostname") },
	};

	wire_pack_hello(pk, &h);
}

static char *read_file(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r");

	ck_assert_ptr_nonnull(f);
	if (getdelim(&data, &len, '\0', f) < 0) {
		free(data);
		data = strdup("");
	}
	fclose(f);
	return data;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

START_TEST(test_probe_unix_session)
{
	struct probe_proc pp;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char err[128], log[16384], *out;
	int c1, c2, c3;
	struct stat st;

	probe_setup(&pp);
	{
		char listen[160];

		snprintf(listen, sizeof(listen), "unix:%s", pp.sock);
		probe_spawn(&pp, listen);
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

	/* Connection 1: handshake and a batch of two events. */
	c1 = connect_unix(pp.sock);
	pack_hello(&pk, WIRE_PROTOCOL_VERSION, "host-a");
	send_frame(c1, &sb);
	ck_assert_uint_eq(recv_ack(c1, err, sizeof(err)), 1);
	ck_assert_str_eq(err, "");

	msgpack_pack_map(&pk, 2);
	wire_pack_kv_u64(&pk, "type", WIRE_EVENTS);
	wire_pack_str(&pk, "events");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_map(&pk, 8);
	wire_pack_kv_str(&pk, "ev", "exec");
	wire_pack_kv_str(&pk, "syscall", "execve");
	wire_pack_kv_u64(&pk, "ts", 1795442400123456789ull);
	wire_pack_kv_i64(&pk, "pid", 1234);
	wire_pack_kv_i64(&pk, "tid", 1234);
	wire_pack_kv_i64(&pk, "ret", 0);
	wire_pack_kv_str(&pk, "file", "/usr/bin/cat");
	wire_pack_str(&pk, "argv");
	msgpack_pack_array(&pk, 2);
	wire_pack_str(&pk, "cat");
	wire_pack_str(&pk, "/etc/hostname");
	msgpack_pack_map(&pk, 9);
	wire_pack_kv_str(&pk, "ev", "open");
	wire_pack_kv_str(&pk, "syscall", "openat");
	wire_pack_kv_u64(&pk, "ts", 1795442400223456789ull);
	wire_pack_kv_i64(&pk, "pid", 1234);
	wire_pack_kv_i64(&pk, "tid", 1234);
	wire_pack_kv_i64(&pk, "ret", -13);
	wire_pack_kv_str(&pk, "path", "/etc/shadow");
	wire_pack_kv_u64(&pk, "flags", 0);
	wire_pack_kv_u64(&pk, "mode", 0);
	send_frame(c1, &sb);

	/* Connection 2: a good HELLO, then a lying array header. */
	c2 = connect_unix(pp.sock);
	pack_hello(&pk, WIRE_PROTOCOL_VERSION, "host-b");
	send_frame(c2, &sb);
	ck_assert_uint_eq(recv_ack(c2, err, sizeof(err)), 2);
	msgpack_sbuffer_write(&sb, "\xdd\xff\xff\xff\xff", 5);
	send_frame(c2, &sb);
	wait_closed(c2);
	close(c2);

	/* Connection 3: an oversize frame before anything else. */
	c3 = connect_unix(pp.sock);
	{
		uint8_t hdr[WIRE_FRAME_HEADER];

		wire_put_len(hdr, WIRE_FRAME_MAX + 1);
		send_all(c3, hdr, sizeof(hdr));
	}
	wait_closed(c3);
	close(c3);

	/* Connection 4: another protocol version is refused. */
	c3 = connect_unix(pp.sock);
	pack_hello(&pk, WIRE_PROTOCOL_VERSION + 1, "host-c");
	send_frame(c3, &sb);
	ck_assert_uint_eq(recv_ack(c3, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "unsupported protocol version"));
	wait_closed(c3);
	close(c3);

	/* Connection 1 is still served: exit, an unknown type, stats, goodbye. */
	msgpack_pack_map(&pk, 2);
	wire_pack_kv_u64(&pk, "type", WIRE_EVENTS);
	wire_pack_str(&pk, "events");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 3);
	wire_pack_kv_str(&pk, "ev", "exit");
	wire_pack_kv_i64(&pk, "pid", 1234);
	wire_pack_kv_i64(&pk, "code", 1);
	send_frame(c1, &sb);
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_u64(&pk, "type", 200);
	send_frame(c1, &sb);
	msgpack_pack_map(&pk, 3);
	wire_pack_kv_u64(&pk, "type", WIRE_STATS);
	wire_pack_str(&pk, "counters");
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_u64(&pk, "events_sent", 3);
	wire_pack_str(&pk, "dropped");
	msgpack_pack_map(&pk, 0);
	send_frame(c1, &sb);
	{
		struct wire_goodbye g = { .reason = wire_str_c("exit"), .exit_status = 1 };

		wire_pack_goodbye(&pk, &g);
	}
	send_frame(c1, &sb);
	ck_assert_int_eq(shutdown(c1, SHUT_WR), 0);
	wait_closed(c1);
	close(c1);

	/* Everything the probe processed is on disk before it closed. */
	out = read_file(pp.out);
	ck_assert_msg(count_lines(out, "\n") == 8, "output: %s", out);
	ck_assert_ptr_nonnull(strstr(out,
		"{\"type\":\"session_start\","));
	ck_assert_ptr_nonnull(strstr(out,
		"\"session\":{\"id\":1,\"hostname\":\"host-a\",\"container_id\":\"\","
		"\"mode\":\"wrapped\",\"tracer_pid\":"));
	ck_assert_ptr_nonnull(strstr(out,
		"\"argv\":[\"cat\",\"/etc/hostname\"],\"tracer_version\":\"test\"}\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"{\"type\":\"event\",\"time\":\"2026-11-23T14:00:00.123456789Z\","));
	ck_assert_ptr_nonnull(strstr(out,
		"\"event\":{\"ev\":\"exec\",\"syscall\":\"execve\",\"ts\":1795442400123456789,"
		"\"pid\":1234,\"tid\":1234,\"ret\":0,\"file\":\"/usr/bin/cat\","
		"\"argv\":[\"cat\",\"/etc/hostname\"]},\"process\":{\"pid\":1234,"
		"\"file\":\"/usr/bin/cat\",\"argv\":[\"cat\",\"/etc/hostname\"]}}\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"\"event\":{\"ev\":\"open\",\"syscall\":\"openat\",\"ts\":1795442400223456789,"
		"\"pid\":1234,\"tid\":1234,\"ret\":-13,\"path\":\"/etc/shadow\",\"flags\":0,"
		"\"mode\":0,\"error\":\"EACCES\"},\"process\":{\"pid\":1234,"
		"\"file\":\"/usr/bin/cat\""));
	ck_assert_ptr_nonnull(strstr(out,
		"\"event\":{\"ev\":\"exit\",\"pid\":1234,\"code\":1},\"process\":{\"pid\":1234,"));
	ck_assert_ptr_nonnull(strstr(out,
		"\"type\":\"stats\""));
	ck_assert_ptr_nonnull(strstr(out,
		"\"counters\":{\"events_sent\":3},\"dropped\":{}}\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"\"reason\":\"goodbye\",\"events\":3,\"unknown_messages\":1,"
		"\"exit_status\":1,\"duplicates\":0,"));
	/* Session 2's events were never written; its end names the error. */
	ck_assert_ptr_nonnull(strstr(out, "\"id\":2,\"hostname\":\"host-b\""));
	ck_assert_ptr_nonnull(strstr(out,
		"\"reason\":\"error: malformed payload (5 bytes)\",\"events\":0"));
	free(out);

	ck_assert_int_eq(probe_stop(&pp, log, sizeof(log)), 0);
	ck_assert_msg(strstr(log, "closing connection: malformed payload"), "log: %s", log);
	ck_assert_msg(strstr(log, "closing connection: frame of 4194305 bytes"), "log: %s", log);
	ck_assert_msg(strstr(log, "refusing tracer: unsupported protocol version 3"),
		      "log: %s", log);
	ck_assert_msg(strstr(log, "totals: 2 sessions, 3 events, 1 unknown messages, "
			     "3 protocol errors"), "log: %s", log);
	/* The socket file is gone. */
	ck_assert_int_eq(lstat(pp.sock, &st), -1);
	msgpack_sbuffer_destroy(&sb);
	probe_cleanup(&pp);
}
END_TEST

START_TEST(test_probe_tcp_port0_and_shutdown)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct probe_proc pp;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char err[128], log[8192], *out, *colon;
	int fd;

	probe_setup(&pp);
	probe_spawn(&pp, "127.0.0.1:0");
	colon = strstr(pp.listen_line, "127.0.0.1:");
	ck_assert_ptr_nonnull(colon);
	sin.sin_port = htons((uint16_t)atoi(colon + strlen("127.0.0.1:")));
	ck_assert_uint_ne(sin.sin_port, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	set_timeouts(fd);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_hello(&pk, WIRE_PROTOCOL_VERSION, "tcp-host");
	send_frame(fd, &sb);
	ck_assert_uint_eq(recv_ack(fd, err, sizeof(err)), 1);

	/* A frame in the socket buffer when SIGTERM arrives is processed. */
	msgpack_pack_map(&pk, 2);
	wire_pack_kv_u64(&pk, "type", WIRE_EVENTS);
	wire_pack_str(&pk, "events");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 2);
	wire_pack_kv_str(&pk, "ev", "chdir");
	wire_pack_kv_i64(&pk, "pid", 7);
	send_frame(fd, &sb);

	ck_assert_int_eq(probe_stop(&pp, log, sizeof(log)), 0);
	wait_closed(fd);
	close(fd);
	out = read_file(pp.out);
	ck_assert_msg(strstr(out, "\"event\":{\"ev\":\"chdir\",\"pid\":7},"
				  "\"process\":{\"pid\":7}}\n"), "output: %s", out);
	ck_assert_ptr_nonnull(strstr(out, "\"reason\":\"shutdown\",\"events\":1"));
	free(out);
	msgpack_sbuffer_destroy(&sb);
	probe_cleanup(&pp);
}
END_TEST

/* Reads one frame; returns its type, the decoded root in up. */
static int recv_frame(int fd, msgpack_unpacked *up, const msgpack_object **root,
		      char **ret_buf)
{
	uint8_t hdr[WIRE_FRAME_HEADER];
	uint32_t len;
	char *buf;
	int type;

	ck_assert(recv_all(fd, hdr, sizeof(hdr)));
	len = wire_get_len(hdr);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_lt(len, 65536);
	buf = malloc(len);
	ck_assert(recv_all(fd, buf, len));
	msgpack_unpacked_init(up);
	ck_assert_int_eq(wire_decode(buf, len, up, root, &type), 0);
	*ret_buf = buf;
	return type;
}

static void pack_nc_events(msgpack_packer *pk, uint64_t seq)
{
	msgpack_pack_map(pk, 3);
	wire_pack_kv_u64(pk, "type", WIRE_EVENTS);
	wire_pack_kv_u64(pk, "seq", seq);
	wire_pack_str(pk, "events");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 9);
	wire_pack_kv_str(pk, "ev", "exec");
	wire_pack_kv_str(pk, "syscall", "execve");
	wire_pack_kv_u64(pk, "ts", 1795442400123456789ull);
	wire_pack_kv_i64(pk, "pid", 4321);
	wire_pack_kv_i64(pk, "tid", 4321);
	/* The process's identity, which the COMMAND must carry. */
	wire_pack_kv_u64(pk, "start_ticks", 123456);
	wire_pack_kv_i64(pk, "ret", 0);
	wire_pack_kv_str(pk, "file", "/usr/bin/nc");
	wire_pack_str(pk, "argv");
	msgpack_pack_array(pk, 3);
	wire_pack_str(pk, "nc");
	wire_pack_str(pk, "-l");
	wire_pack_str(pk, "4444");
}

/*
 * A kill rule end to end: the probe sends a COMMAND for the process and an
 * ACK, holds the alert until our COMMAND_RESULT, and drops the batch we send
 * again as duplicates.
 */
START_TEST(test_probe_kill)
{
	struct probe_proc pp;
	struct wire_command cmd;
	struct wire_command_result res;
	struct wire_ack ack;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const msgpack_object *root;
	msgpack_unpacked up;
	char err[128], log[16384], listen[160], *out, *buf;
	bool got_cmd = false;
	FILE *f;
	int fd;

	probe_setup(&pp);
	f = fopen(pp.policy, "w");
	ck_assert_ptr_nonnull(f);
	fputs("rules:\n"
	      "  - id: kill_nc\n"
	      "    description: Netcat listens\n"
	      "    expression: exec.file.name == \"nc\" && exec.args =~ \"*-l*\"\n"
	      "    severity: critical\n"
	      "    tags: [test]\n"
	      "    actions:\n"
	      "      - kill: {signal: SIGKILL}\n", f);
	fclose(f);
	snprintf(listen, sizeof(listen), "unix:%s", pp.sock);
	probe_spawn_policy(&pp, listen, pp.policy);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

	fd = connect_unix(pp.sock);
	pack_hello(&pk, WIRE_PROTOCOL_VERSION, "host-k");
	send_frame(fd, &sb);
	ck_assert_uint_eq(recv_ack(fd, err, sizeof(err)), 1);
	pack_nc_events(&pk, 1);
	send_frame(fd, &sb);

	/* The COMMAND, then the ACK of the batch. */
	for (int i = 0; i < 2; i++) {
		int type = recv_frame(fd, &up, &root, &buf);

		if (type == WIRE_COMMAND) {
			ck_assert_int_eq(wire_unpack_command(root, &cmd), 0);
			ck_assert(wire_str_eq(cmd.action, "kill"));
			ck_assert(wire_str_eq(cmd.rule_id, "kill_nc"));
			ck_assert_int_eq(cmd.pid, 4321);
			ck_assert_uint_eq(cmd.start_ticks, 123456);
			ck_assert_int_eq(cmd.signal, SIGKILL);
			got_cmd = true;
		} else {
			ck_assert_int_eq(type, WIRE_ACK);
			ck_assert_int_eq(wire_unpack_ack(root, &ack), 0);
			ck_assert_uint_eq(ack.seq, 2);
		}
		msgpack_unpacked_destroy(&up);
		free(buf);
	}
	ck_assert(got_cmd);

	res = (struct wire_command_result){ .id = cmd.id, .pid = 4321,
					    .signal = SIGKILL, .done = true,
					    .error = wire_str_c("") };
	wire_pack_command_result(&pk, &res);
	send_frame(fd, &sb);
	/* Sent again (as after a reconnect): a duplicate, acknowledged again. */
	pack_nc_events(&pk, 1);
	send_frame(fd, &sb);
	ck_assert_int_eq(recv_frame(fd, &up, &root, &buf), WIRE_ACK);
	ck_assert_int_eq(wire_unpack_ack(root, &ack), 0);
	ck_assert_uint_eq(ack.seq, 2);
	msgpack_unpacked_destroy(&up);
	free(buf);
	{
		struct wire_goodbye g = { .reason = wire_str_c("done") };

		wire_pack_goodbye(&pk, &g);
		send_frame(fd, &sb);
	}
	shutdown(fd, SHUT_WR);
	wait_closed(fd);
	close(fd);

	ck_assert_int_eq(probe_stop(&pp, log, sizeof(log)), 0);
	out = read_file(pp.alerts);
	ck_assert_int_eq(count_lines(out, "\n"), 1);
	ck_assert_msg(strstr(out, "{\"type\":\"alert\",\"time\":\"2026-11-23T14:00:00.123456789Z\","
			     "\"rule\":\"kill_nc\",\"priority\":\"Critical\",") != NULL,
		      "alerts: %s", out);
	ck_assert_msg(strstr(out, "\"actions\":[{\"kill\":{\"signal\":\"SIGKILL\","
			     "\"scope\":\"process\",\"status\":\"done\"}}]") != NULL,
		      "alerts: %s", out);
	ck_assert_ptr_nonnull(strstr(out, "\"tags\":[\"test\"],\"hostname\":\"host-k\","
				     "\"source\":\"syscall\""));
	free(out);
	out = read_file(pp.out);
	ck_assert_msg(strstr(out, "\"mode\":0,\"seq\":1}") || strstr(out, "\"seq\":1}"),
		      "events: %s", out);
	ck_assert_ptr_nonnull(strstr(out, "\"reason\":\"goodbye\",\"events\":1,"));
	ck_assert_ptr_nonnull(strstr(out, "\"duplicates\":1,\"dropped\":0,\"alerts\":1,"));
	free(out);
	ck_assert_msg(strstr(log, "kills: 1 sent, 1 done"), "log: %s", log);
	msgpack_sbuffer_destroy(&sb);
	probe_cleanup(&pp);
}
END_TEST

START_TEST(test_probe_bad_config)
{
	char dir[] = "/tmp/sentrace-cfg-XXXXXX", path[128], line[512] = "";
	int fds[2], st;
	FILE *f, *err;
	pid_t pid;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/probe.yaml", dir);
	f = fopen(path, "w");
	fputs("runtime_security_config:\n  ebpfless:\n    socket: [oops\n", f);
	fclose(f);
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		execl(probe_path(), "sentrace-probe", "run", "--config", path, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	err = fdopen(fds[0], "r");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), err));
	fclose(err);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 2);
	ck_assert_msg(strstr(line, "probe.yaml:4:") || strstr(line, "probe.yaml:3:"),
		      "no line number: %s", line);
	unlink(path);
	rmdir(dir);
}
END_TEST

static Suite *probe_wire_suite(void)
{
	Suite *s = suite_create("probe-wire");
	TCase *tc;

	tc = tcase_create("unix_session");
	tcase_add_test(tc, test_probe_unix_session);
	suite_add_tcase(s, tc);
	tc = tcase_create("tcp_port0_shutdown");
	tcase_add_test(tc, test_probe_tcp_port0_and_shutdown);
	suite_add_tcase(s, tc);
	tc = tcase_create("bad_config");
	tcase_add_test(tc, test_probe_bad_config);
	tcase_add_test(tc, test_probe_kill);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(probe_wire_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
