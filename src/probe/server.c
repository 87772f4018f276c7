/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listening socket, tracer connections and signals. A connection owns a
 * frame reader and a session; it is freed in its handle's close callback.
 * Payloads are handled synchronously in read_cb, so a connection only dies
 * between frames: after a protocol error or end of stream it stops reading,
 * waits for its pending writes (the HELLO_ACK), then closes.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <uv.h>

#include "sentrace/wire.h"
#include "frame.h"
#include "log.h"
#include "probe-config.h"
#include "server.h"

struct conn {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	struct probe *p;
	struct conn *prev, *next;
	struct frame_reader fr;
	struct session *sess;
	unsigned writes_pending;
	bool finishing;             /* no more reads; close after the writes */
	bool closing;               /* uv_close() was called */
	bool authed;                /* the handshake is done (session active) */
	bool drained;               /* read once before an eviction: still no HELLO */
	uint64_t accepted_ns;       /* monotonic; for the handshake deadline */
	uint64_t heard_ns;          /* monotonic; bytes last arrived (heartbeat) */
	char peer[96];
	char peer_key[64];          /* "uid N" or the TCP address, for the bounds */
};

/* A reply in flight: the buffer lives until write_cb. */
struct conn_write {
	uv_write_t req;
	msgpack_sbuffer sb;
	struct conn *c;
};

static void on_tracer_free(void *data, struct tracer_state *ts)
{
	struct probe *p = data;

	if (p->engine)
		engine_forget(p->engine, ts, "unknown: connection closed");
}

int probe_new(uv_loop_t *loop, const struct net_addr *addr, struct output *out,
	      struct engine *engine, struct probe **ret_probe)
{
	struct probe *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->loop = loop;
	p->addr = *addr;
	p->out = out;
	p->engine = engine;
	tracer_registry_init(&p->tracers, TRACERS_IDLE_MAX);
	p->tracers.on_free = on_tracer_free;
	p->tracers.on_free_data = p;
	p->env.out = out;
	p->env.totals = &p->totals;
	p->env.tracers = &p->tracers;
	p->env.engine = engine;
	p->socket_mode = PROBE_SOCKET_MODE_DEFAULT;
	p->handshake_timeout_ns = PROBE_HANDSHAKE_TIMEOUT_NS;
	p->heartbeat_timeout_ns = PROBE_HEARTBEAT_TIMEOUT_NS;
	p->idle_timeout_ns = TRACERS_IDLE_TIMEOUT_NS;
	lifealert_init(&p->lifealerts, engine);
	p->env.lifealerts = &p->lifealerts;
	p->socket_gid = (gid_t)-1;
	*ret_probe = p;
	return 0;
}

int probe_set_token(struct probe *p, const char *token)
{
	size_t len = token ? strlen(token) : 0;

	if (!token) {
		explicit_bzero(p->token, sizeof(p->token));
		p->env.token = NULL;
		p->env.token_len = 0;
		return 0;
	}
	if (len == 0 || len > SESSION_TOKEN_MAX)
		return -EINVAL;
	memcpy(p->token, token, len + 1);
	p->env.token = p->token;
	p->env.token_len = len;
	return 0;
}

/* Flushes the event log and the alert outputs. */
static void probe_flush(struct probe *p)
{
	if (p->out)
		output_flush(p->out);
	if (p->engine)
		engine_flush(p->engine);
}

struct probe *probe_free(struct probe *p)
{
	if (!p)
		return NULL;
	assert(!p->conns && !p->listener_open && !p->signals_open && !p->timer_open &&
	       !p->sweep_open);
	tracer_registry_fini(&p->tracers);
	lifealert_fini(&p->lifealerts);
	explicit_bzero(p->token, sizeof(p->token));
	free(p);
	return NULL;
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct probe *p = c->p;

	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->nconns--;
	frame_reader_free(&c->fr);
	session_free(c->sess);
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->finishing = true;
	uv_read_stop(&c->h.stream);
	/*
	 * uv_close() closes the socket at once, and the tracer takes the close
	 * as "everything was processed": the lines must be out before it.
	 */
	probe_flush(c->p);
	/* Pending writes are cancelled; their callbacks run before ours. */
	uv_close(&c->h.handle, on_conn_closed);
}

/* Stops reading; closes now, or once the pending writes are done. */
static void conn_finish(struct conn *c, const char *reason)
{
	if (c->finishing)
		return;
	if (reason)
		session_end(c->sess, reason);
	c->finishing = true;
	uv_read_stop(&c->h.stream);
	if (c->writes_pending == 0)
		conn_close(c);
}

static bool conn_live(const struct conn *c);
static size_t conn_sessions_of(const struct probe *p, const struct conn *except,
			       const char *key);

static void conn_fail(struct conn *c, const char *why)
{
	char reason[200];

	log_warn("%s: closing connection: %s", c->peer, why);
	snprintf(reason, sizeof(reason), "error: %s", why);
	conn_finish(c, reason);
}

static void on_write(uv_write_t *req, int status)
{
	struct conn_write *w = req->data;
	struct conn *c = w->c;

	if (status < 0 && status != UV_ECANCELED)
		log_debug("%s: write: %s", c->peer, uv_strerror(status));
	msgpack_sbuffer_destroy(&w->sb);
	free(w);
	c->writes_pending--;
	if (c->finishing && c->writes_pending == 0)
		conn_close(c);
}

/* Sends and takes over sb's buffer (sb is left empty). */
static void conn_send(struct conn *c, msgpack_sbuffer *sb)
{
	struct conn_write *w;
	uv_buf_t buf;
	int r;

	if (c->closing) {
		msgpack_sbuffer_clear(sb);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		msgpack_sbuffer_clear(sb);
		return;
	}
	w->sb = *sb;
	msgpack_sbuffer_init(sb);
	w->c = c;
	w->req.data = w;
	buf = uv_buf_init(w->sb.data, (unsigned)w->sb.size);
	/* w->sb stays alive until on_write frees it. */
	r = uv_write(&w->req, &c->h.stream, &buf, 1, on_write);
	if (r < 0) {
		log_debug("%s: write: %s", c->peer, uv_strerror(r));
		msgpack_sbuffer_destroy(&w->sb);
		free(w);
		return;
	}
	c->writes_pending++;
}

/* Handles every whole frame buffered; stops at the first error. */
static void conn_process(struct conn *c)
{
	msgpack_sbuffer reply;
	const char *payload;
	uint32_t plen;
	int r;

	msgpack_sbuffer_init(&reply);
	while (!c->finishing) {
		r = frame_reader_next(&c->fr, &payload, &plen);
		if (r == 0)
			break;
		if (r == -EMSGSIZE) {
			session_protocol_error(c->sess,
					       "frame of %" PRIu32 " bytes is over the limit of %" PRIu32 "%s",
					       wire_get_len((const uint8_t *)c->fr.buf + c->fr.off),
					       c->fr.max, c->authed ? "" :
					       " before the handshake is done");
			conn_fail(c, c->sess->error);
			break;
		}
		if (r < 0) {
			session_protocol_error(c->sess, "empty frame");
			conn_fail(c, c->sess->error);
			break;
		}
		r = session_handle_frame(c->sess, payload, plen, &reply);
		if (!c->authed && c->sess->state == SESSION_ACTIVE &&
		    !c->p->env.token &&
		    conn_sessions_of(c->p, c, c->peer_key) >= PROBE_MAX_SESSIONS_PER_PEER) {
			char why[96];

			/* The HELLO_ACK is not sent: the session ends here. */
			msgpack_sbuffer_clear(&reply);
			c->p->refused_conns++;
			snprintf(why, sizeof(why), "too many sessions from this peer "
				 "(no token: at most %d)", PROBE_MAX_SESSIONS_PER_PEER);
			conn_fail(c, why);
			break;
		}
		if (!c->authed && c->sess->state == SESSION_ACTIVE) {
			/* Authenticated: full-size frames from now on. */
			c->authed = true;
			c->fr.max = WIRE_FRAME_MAX;
		}
		/* Before a close, so that the tracer learns what was done;
		 * written out first, so that nothing is acknowledged unwritten. */
		if (r != 0) {
			probe_flush(c->p);
			session_flush(c->sess, &reply);
		}
		if (reply.size > 0)
			conn_send(c, &reply);
		if (r == SESSION_CLOSE) {
			conn_finish(c, NULL);
			break;
		}
		if (r < 0) {
			conn_fail(c, c->sess->error);
			break;
		}
	}
	/*
	 * The ACK goes out only after the lines it covers were written: a
	 * probe killed in between would otherwise lose events that the
	 * tracer has already let go.
	 */
	probe_flush(c->p);
	session_flush(c->sess, &reply);
	if (reply.size > 0)
		conn_send(c, &reply);
	msgpack_sbuffer_destroy(&reply);
}

static void probe_arm_timer(struct probe *p);


static void on_timer(uv_timer_t *t)
{
	struct probe *p = t->data;

	engine_tick(p->engine);
	engine_flush(p->engine);
	probe_arm_timer(p);
}

/* Wakes up for the first held alert's timeout. */
static void probe_arm_timer(struct probe *p)
{
	uint64_t next, now;

	if (!p->engine || !p->timer_open)
		return;
	next = engine_next_deadline(p->engine);
	if (!next) {
		uv_timer_stop(&p->timer);
		return;
	}
	now = p->engine->fake_now ? p->engine->fake_now : now_monotonic_ns();
	uv_timer_start(&p->timer, on_timer,
		       next > now ? (next - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC : 0, 0);
}

/* End of stream: everything whole was processed; say goodbye. */
static void conn_eof(struct conn *c)
{
	size_t left = c->fr.len - c->fr.off;

	if (left > 0) {
		session_protocol_error(c->sess, "stream ended inside a frame (%zu bytes left)",
				       left);
		conn_fail(c, c->sess->error);
		return;
	}
	log_debug("%s: end of stream", c->peer);
	conn_finish(c, c->sess->goodbye ? "goodbye" : "eof");
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	char *ptr;
	size_t len;

	if (frame_reader_reserve(&c->fr, &ptr, &len) < 0) {
		/* read_cb gets UV_ENOBUFS. */
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init(ptr, (unsigned)(len > UINT32_MAX ? UINT32_MAX : len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (nread > 0) {
		uint64_t now = now_monotonic_ns();

		/* A silent tracer that speaks again is news too. */
		if (c->sess->silent)
			session_heard(c->sess, now - c->heard_ns);
		c->heard_ns = now;
		frame_reader_commit(&c->fr, (size_t)nread);
		conn_process(c);
	} else if (nread == UV_EOF) {
		conn_eof(c);
	} else if (nread < 0) {
		conn_fail(c, uv_strerror((int)nread));
	}
	probe_arm_timer(c->p);
	probe_flush(c->p);
}

static void conn_peer_name(struct conn *c)
{
	struct sockaddr_storage ss;
	char ip[INET6_ADDRSTRLEN] = "?";
	int len = sizeof(ss);
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	uv_os_fd_t fd;

	if (c->p->addr.is_unix) {
		if (uv_fileno(&c->h.handle, &fd) == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
			snprintf(c->peer, sizeof(c->peer), "unix peer pid %d uid %u",
				 (int)cred.pid, (unsigned)cred.uid);
			snprintf(c->peer_key, sizeof(c->peer_key), "uid %u",
				 (unsigned)cred.uid);
		} else {
			snprintf(c->peer, sizeof(c->peer), "unix peer");
			snprintf(c->peer_key, sizeof(c->peer_key), "uid ?");
		}
		return;
	}
	if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) < 0) {
		snprintf(c->peer, sizeof(c->peer), "tcp peer");
		snprintf(c->peer_key, sizeof(c->peer_key), "tcp ?");
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", ip, ntohs(s6->sin6_port));
		snprintf(c->peer_key, sizeof(c->peer_key), "%s", ip);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, ntohs(s4->sin_port));
		snprintf(c->peer_key, sizeof(c->peer_key), "%s", ip);
	}
}

static void conn_drain(struct conn *c);

/* Still counted: not yet on its way out. */
static bool conn_live(const struct conn *c)
{
	return !c->finishing && !c->closing;
}

/* Authenticated live connections of peer key, c excepted. */
static size_t conn_sessions_of(const struct probe *p, const struct conn *except,
			       const char *key)
{
	size_t n = 0;

	for (const struct conn *c = p->conns; c; c = c->next)
		if (c != except && conn_live(c) && c->authed &&
		    strcmp(c->peer_key, key) == 0)
			n++;
	return n;
}

/*
 * The oldest live connection that has not completed its handshake (of
 * peer key, when given), after reading what it already sent: one whose
 * HELLO is waiting in the kernel is a tracer about to authenticate, not a
 * candidate. The list is newest first, so the last match is the oldest.
 */
static struct conn *oldest_preauth(struct probe *p, const char *key,
				   const struct conn *except)
{
	for (;;) {
		struct conn *c, *found = NULL;

		for (c = p->conns; c; c = c->next)
			if (c != except && conn_live(c) && !c->authed &&
			    (!key || strcmp(c->peer_key, key) == 0))
				found = c;
		if (!found)
			return NULL;
		if (found->drained)
			return found;
		found->drained = true;
		conn_drain(found);
		if (conn_live(found) && !found->authed)
			return found;
	}
}

static void conn_evict(struct conn *c, const char *why)
{
	c->p->evicted_conns++;
	log_warn("%s: closing connection: %s", c->peer, why);
	conn_finish(c, NULL);
}

/* Counts the live connections: all, not authenticated, not authenticated of key. */
static void conn_counts(const struct probe *p, const char *key, size_t *ret_all,
			size_t *ret_pre, size_t *ret_peer)
{
	*ret_all = *ret_pre = *ret_peer = 0;
	for (const struct conn *c = p->conns; c; c = c->next) {
		if (!conn_live(c))
			continue;
		(*ret_all)++;
		if (c->authed)
			continue;
		(*ret_pre)++;
		if (strcmp(c->peer_key, key) == 0)
			(*ret_peer)++;
	}
}

/*
 * Makes room for c (counted already) within the bounds; false when every
 * slot is an authenticated tracer and c must go.
 */
static bool conn_make_room(struct probe *p, struct conn *c)
{
	size_t all, pre, peer;
	struct conn *old;

	for (;;) {
		conn_counts(p, c->peer_key, &all, &pre, &peer);
		if (all <= PROBE_MAX_CONNS && pre <= PROBE_MAX_PREAUTH &&
		    peer <= PROBE_MAX_PREAUTH_PER_PEER)
			return true;
		old = oldest_preauth(p, peer > PROBE_MAX_PREAUTH_PER_PEER ? c->peer_key
									  : NULL, c);
		if (!old)
			return all <= PROBE_MAX_CONNS;
		if (!conn_live(old) || old->authed)
			continue;
		conn_evict(old, peer > PROBE_MAX_PREAUTH_PER_PEER ?
			   "evicted: too many unauthenticated connections from this peer" :
			   "evicted: too many unauthenticated connections");
	}
}

static void on_sweep(uv_timer_t *t)
{
	struct probe *p = t->data;
	uint64_t now = now_monotonic_ns();
	struct conn *c, *next;
	char why[96];

	for (c = p->conns; c; c = next) {
		next = c->next;
		if (conn_live(c) && c->authed && p->heartbeat_timeout_ns &&
		    !c->sess->silent && now - c->heard_ns >= p->heartbeat_timeout_ns) {
			/* The probe itself may have been stopped: what the
			 * kernel holds for us is not silence. */
			conn_drain(c);
			if (conn_live(c) && c->heard_ns <= now &&
			    now - c->heard_ns >= p->heartbeat_timeout_ns)
				session_silent(c->sess, now - c->heard_ns);
		}
		if (!conn_live(c) || c->authed ||
		    now - c->accepted_ns < p->handshake_timeout_ns)
			continue;
		p->handshake_timeouts++;
		snprintf(why, sizeof(why), "no handshake within %" PRIu64 " ms",
			 (uint64_t)(p->handshake_timeout_ns / NSEC_PER_MSEC));
		conn_fail(c, why);
	}
	p->totals.expired_sessions += tracer_registry_expire(&p->tracers, now,
							     p->idle_timeout_ns);
	/* A "silent" alert must not wait for the next frame to be read. */
	probe_flush(p);
}

/* Often enough for the shortest of the deadlines the sweep watches. */
static uint64_t sweep_period_ms(const struct probe *p)
{
	uint64_t t = p->handshake_timeout_ns;

	if (p->heartbeat_timeout_ns && p->heartbeat_timeout_ns < t)
		t = p->heartbeat_timeout_ns;
	if (p->idle_timeout_ns && p->idle_timeout_ns < t)
		t = p->idle_timeout_ns;
	return t / 4 / NSEC_PER_MSEC + 1;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct probe *p = server->data;
	struct conn *c;
	int r;

	if (status < 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_warn("accept: out of memory");
		return;
	}
	c->p = p;
	c->accepted_ns = c->heard_ns = now_monotonic_ns();
	/* Nothing big is read before the handshake is done. */
	frame_reader_init(&c->fr, WIRE_FRAME_MAX_HANDSHAKE);
	if (p->addr.is_unix)
		r = uv_pipe_init(p->loop, &c->h.pipe, 0);
	else
		r = uv_tcp_init(p->loop, &c->h.tcp);
	if (r < 0) {
		log_warn("accept: %s", uv_strerror(r));
		free(c);
		return;
	}
	c->h.handle.data = c;
	c->next = p->conns;
	if (p->conns)
		p->conns->prev = c;
	p->conns = c;
	p->nconns++;

	r = uv_accept(server, &c->h.stream);
	if (r < 0) {
		log_warn("accept: %s", uv_strerror(r));
		conn_close(c);
		return;
	}
	conn_peer_name(c);
	if (!conn_make_room(p, c)) {
		p->refused_conns++;
		log_warn("%s: refusing connection: %u authenticated connections already",
			 c->peer, PROBE_MAX_CONNS);
		conn_close(c);
		return;
	}
	if (!p->addr.is_unix)
		uv_tcp_nodelay(&c->h.tcp, 1);
	r = session_new(&p->env, c->peer, &c->sess);
	if (r == 0)
		r = uv_read_start(&c->h.stream, on_alloc, on_read);
	if (r < 0) {
		log_warn("%s: %s", c->peer, strerror(-r));
		conn_close(c);
		return;
	}
	log_debug("%s: connected", c->peer);
}

/*
 * A socket file left by a probe that died is removed; a live one (something
 * accepts connections) or a file that is not a socket is left alone.
 */
static int unix_remove_stale(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket; not removing it", path);
		return -EEXIST;
	}
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (r == 0) {
		log_err("%s: another process is listening there", path);
		return -EADDRINUSE;
	}
	log_info("removing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/*
 * Gives the socket we just bound at `path` its group, then its mode. The
 * path is opened with O_PATH | O_NOFOLLOW and checked to be our socket, so
 * that a file swapped in meanwhile is never changed.
 */
static int unix_set_perms(struct probe *p, const char *path)
{
	char fdpath[64];
	struct stat st;
	int fd, r = 0;

	fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISSOCK(st.st_mode) || st.st_ino != p->unix_ino) {
		r = -EEXIST;
		goto out;
	}
	if (p->socket_gid != (gid_t)-1 &&
	    fchownat(fd, "", (uid_t)-1, p->socket_gid, AT_EMPTY_PATH) < 0) {
		r = -errno;
		log_err("%s: setting group %u: %s", p->addr.path,
			(unsigned)p->socket_gid, strerror(-r));
		goto out;
	}
	/* fchmod() refuses O_PATH descriptors; their /proc link does not. */
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	if (chmod(fdpath, p->socket_mode) < 0) {
		r = -errno;
		log_err("%s: setting mode %04o: %s", p->addr.path,
			(unsigned)p->socket_mode, strerror(-r));
		goto out;
	}
	log_info("%s: mode %04o, uid %u, gid %u", p->addr.path,
		 (unsigned)p->socket_mode, (unsigned)st.st_uid,
		 (unsigned)(p->socket_gid != (gid_t)-1 ? p->socket_gid : st.st_gid));
out:
	close(fd);
	return r;
}

/*
 * Puts the listening socket bound at `tmp` in its place at addr.path. It
 * is renamed only once it listens, so that whoever sees the file can
 * connect: a tracer (or a test) that finds the path never gets
 * ECONNREFUSED from a socket that is bound but not listening yet. A file
 * that appeared at the path meanwhile is not replaced.
 */
static int unix_publish(struct probe *p, const char *tmp)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, p->addr.path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST) {
		log_err("%s: another process created it while we started", p->addr.path);
		return -EADDRINUSE;
	}
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* A file system without RENAME_NOREPLACE: checked, then replaced. */
	if (access(p->addr.path, F_OK) == 0) {
		log_err("%s: another process created it while we started", p->addr.path);
		return -EADDRINUSE;
	}
	return rename(tmp, p->addr.path) < 0 ? -errno : 0;
}

static int unix_listen(struct probe *p)
{
	char tmp[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *where = p->addr.path;
	struct stat st;
	mode_t old_mask;
	int n, r;

	r = uv_pipe_init(p->loop, &p->listener.pipe, 0);
	if (r < 0)
		return r;
	p->listener_open = true;
	p->listener.handle.data = p;
	r = unix_remove_stale(p->addr.path);
	if (r < 0)
		return r;
	/* Where the name with a suffix does not fit, bound in place. */
	n = snprintf(tmp, sizeof(tmp), "%s.%ld.new", p->addr.path, (long)getpid());
	if (n > 0 && (size_t)n < sizeof(tmp)) {
		where = tmp;
		/* Left by a probe that died with our pid: only a socket goes. */
		if (lstat(tmp, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			log_err("%s exists and is not a socket; not removing it", tmp);
			return -EEXIST;
		}
		if (unlink(tmp) < 0 && errno != ENOENT)
			return -errno;
	}
	/*
	 * Born 0600 (a process-wide umask: we have no other thread creating
	 * files yet), so nobody else can connect before unix_set_perms() has
	 * set the group and the mode.
	 */
	old_mask = umask(0177);
	r = uv_pipe_bind(&p->listener.pipe, where);
	umask(old_mask);
	if (r < 0)
		return r;
	if (where == p->addr.path)
		p->unix_bound = true;
	if (lstat(where, &st) == 0)
		p->unix_ino = st.st_ino;
	r = unix_set_perms(p, where);
	if (r == 0)
		r = uv_listen(&p->listener.stream, 128, on_connection);
	if (r == 0 && where != p->addr.path) {
		r = unix_publish(p, tmp);
		if (r == 0)
			p->unix_bound = true;
	}
	if (r < 0 && where != p->addr.path)
		unlink(tmp);
	return r;
}

static int probe_listen(struct probe *p)
{
	struct sockaddr_storage ss;
	char buf[160];
	int len = sizeof(ss), r;
	struct net_addr bound;

	if (p->addr.is_unix) {
		r = unix_listen(p);
		if (r < 0)
			return r;
		bound = p->addr;
	} else {
		r = uv_tcp_init(p->loop, &p->listener.tcp);
		if (r < 0)
			return r;
		p->listener_open = true;
		p->listener.handle.data = p;
		r = uv_tcp_bind(&p->listener.tcp, (const struct sockaddr *)&p->addr.ss, 0);
		if (r < 0)
			return r;
		r = uv_listen(&p->listener.stream, 128, on_connection);
		if (r < 0)
			return r;
		/* With port 0 the kernel picked one: report the real one. */
		memset(&bound, 0, sizeof(bound));
		r = uv_tcp_getsockname(&p->listener.tcp, (struct sockaddr *)&ss, &len);
		if (r < 0)
			return r;
		memcpy(&bound.ss, &ss, sizeof(ss));
	}
	log_info("listening on %s", net_addr_str(&bound, buf, sizeof(buf)));
	return 0;
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct probe *p = h->data;
	int r;

	if (signum == SIGHUP) {
		r = p->out ? output_reopen(p->out) : 0;
		if (r < 0)
			log_err("reopening output: %s", strerror(-r));
		else
			log_info("output reopened");
		for (size_t i = 0; p->engine && i < p->engine->nsinks; i++) {
			r = output_reopen(p->engine->sinks[i]);
			if (r < 0)
				log_err("reopening alert output: %s", strerror(-r));
		}
		if (p->engine)
			engine_reload(p->engine);
		return;
	}
	log_info("%s: shutting down", strsignal(signum));
	probe_stop(p);
}

int probe_start(struct probe *p)
{
	uv_signal_t *sigs[] = { &p->sig_term, &p->sig_int, &p->sig_hup };
	int signums[] = { SIGTERM, SIGINT, SIGHUP };
	char buf[160];
	int r;

	r = probe_listen(p);
	if (r < 0) {
		log_err("listening on %s: %s", net_addr_str(&p->addr, buf, sizeof(buf)),
			uv_strerror(r));
		return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		uv_signal_init(p->loop, sigs[i]);
	p->signals_open = true;
	uv_timer_init(p->loop, &p->timer);
	p->timer.data = p;
	p->timer_open = true;
	uv_timer_init(p->loop, &p->sweep);
	p->sweep.data = p;
	p->sweep_open = true;
	/* A few times per deadline: a connection lives at most ~1.25 of it. */
	uv_timer_start(&p->sweep, on_sweep, sweep_period_ms(p), sweep_period_ms(p));
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		sigs[i]->data = p;
		r = uv_signal_start(sigs[i], on_signal, signums[i]);
		if (r < 0) {
			log_err("signal handler: %s", uv_strerror(r));
			return r;
		}
	}
	return 0;
}

/* Reads what the kernel already holds for c, without waiting for more. */
static void conn_drain(struct conn *c)
{
	size_t total = 0;
	uv_os_fd_t fd;

	if (uv_fileno(&c->h.handle, &fd) < 0)
		return;
	while (!c->finishing && total < PROBE_DRAIN_MAX) {
		char *ptr;
		size_t len;
		ssize_t n;

		if (frame_reader_reserve(&c->fr, &ptr, &len) < 0)
			break;
		n = recv(fd, ptr, len, MSG_DONTWAIT);
		if (n > 0) {
			c->heard_ns = now_monotonic_ns();
			frame_reader_commit(&c->fr, (size_t)n);
			total += (size_t)n;
			conn_process(c);
		} else if (n == 0) {
			conn_eof(c);
		} else if (errno != EINTR) {
			break;
		}
	}
}

static void on_handle_closed(uv_handle_t *h)
{
}

void probe_stop(struct probe *p)
{
	struct conn *c, *next;
	struct stat st;

	if (p->stopping)
		return;
	p->stopping = true;
	if (p->listener_open) {
		uv_close(&p->listener.handle, on_handle_closed);
		p->listener_open = false;
	}
	if (p->unix_bound) {
		/* Only our own file: another probe may have replaced it. */
		if (lstat(p->addr.path, &st) == 0 && st.st_ino == p->unix_ino)
			unlink(p->addr.path);
		p->unix_bound = false;
	}
	for (c = p->conns; c; c = next) {
		next = c->next;
		if (c->closing)
			continue;
		if (!c->finishing)
			conn_drain(c);
		if (!c->finishing)
			session_end(c->sess, "shutdown");
		conn_close(c);
	}
	if (p->signals_open) {
		uv_close((uv_handle_t *)&p->sig_term, on_handle_closed);
		uv_close((uv_handle_t *)&p->sig_int, on_handle_closed);
		uv_close((uv_handle_t *)&p->sig_hup, on_handle_closed);
		p->signals_open = false;
	}
	if (p->timer_open) {
		uv_close((uv_handle_t *)&p->timer, on_handle_closed);
		p->timer_open = false;
	}
	if (p->sweep_open) {
		uv_close((uv_handle_t *)&p->sweep, on_handle_closed);
		p->sweep_open = false;
	}
	probe_flush(p);
}
