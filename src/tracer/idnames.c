/* SPDX-License-Identifier: Apache-2.0 */
/* User and group names off the tracer's loop: a cache and worker threads. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "idnames.h"
#include "log.h"
#include "mem.h"

#define IDNAMES_SLOTS    256   /* direct-mapped; a power of two */
#define IDNAMES_QUEUE    16    /* lookups waiting for a worker */
#define IDNAMES_THREADS  4     /* one more only while all others are stuck */
#define IDNAMES_NAME_MAX 256

struct idnames_slot {
	uint64_t key;              /* root, file and id hashed; 0: empty */
	uint64_t expires_ms;
	bool known;                /* an answer is here */
	bool pending;              /* a lookup for key is queued or running */
	int result;                /* the name's length or -ENOENT */
	char name[IDNAMES_NAME_MAX];
};

struct idnames_job {
	uint64_t key;
	pid_t pid;
	bool group;
	int64_t id;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	bool init;
	unsigned threads, idle;
	uint64_t busy_since_ms[IDNAMES_THREADS]; /* 0: idle or not started */
	struct idnames_job queue[IDNAMES_QUEUE];
	unsigned head, len;
	struct idnames_slot slots[IDNAMES_SLOTS];
	struct idnames_stats st;
} idn = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/*
 * The process's root as procfs tells it: its mount namespace and the path
 * of its root directory. Reading these links asks the kernel, never the
 * file system behind them. -ESRCH when the process is gone.
 */
static int root_key(pid_t pid, bool group, int64_t id, uint64_t *ret)
{
	char ns[64], root[SENTRACE_PATH_MAX];
	uint64_t h = 0xcbf29ce484222325ull;
	int r;

	r = proc_readlink(pid, "root", root, sizeof(root));
	if (r < 0)
		return -ESRCH;
	h = fnv(h, root, (size_t)r + 1);
	/* No ns/mnt before 3.8: the root's path alone. */
	r = proc_readlink(pid, "ns/mnt", ns, sizeof(ns));
	if (r > 0)
		h = fnv(h, ns, (size_t)r + 1);
	h = fnv(h, &group, sizeof(group));
	h = fnv(h, &id, sizeof(id));
	*ret = h ? h : 1;
	return 0;
}

static struct idnames_slot *slot_of(uint64_t key)
{
	return &idn.slots[key & (IDNAMES_SLOTS - 1)];
}

static void *worker(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	char name[IDNAMES_NAME_MAX];

	pthread_mutex_lock(&idn.lock);
	for (;;) {
		struct idnames_job job;
		struct idnames_slot *s;
		int r;

		while (idn.len == 0)
			pthread_cond_wait(&idn.work, &idn.lock);
		job = idn.queue[idn.head];
		idn.head = (idn.head + 1) % IDNAMES_QUEUE;
		idn.len--;
		idn.idle--;
		idn.busy_since_ms[me] = now_ms();
		pthread_mutex_unlock(&idn.lock);

		/* The one place that touches the tracee's files; it may wait. */
		r = proc_id_name_read(job.pid, job.group ? "group" : "passwd",
				      job.id, name, sizeof(name));

		pthread_mutex_lock(&idn.lock);
		idn.busy_since_ms[me] = 0;
		idn.idle++;
		s = slot_of(job.key);
		/* The slot may have gone to another key meanwhile. */
		if (s->key == job.key) {
			s->pending = false;
			/* A process gone before we read says nothing of its root. */
			if (r != -ESRCH) {
				s->known = true;
				s->result = r >= 0 ? r : -ENOENT;
				snprintf(s->name, sizeof(s->name), "%s", r >= 0 ? name : "");
				s->expires_ms = now_ms() + IDNAMES_TTL_MS;
			}
		}
		pthread_cond_broadcast(&idn.done);
	}
	return NULL;
}

/* Every worker is busy and has been for longer than a caller would wait. */
static bool all_stuck(uint64_t now)
{
	if (idn.idle > 0 || idn.threads == 0)
		return false;
	for (unsigned i = 0; i < idn.threads; i++)
		if (idn.busy_since_ms[i] && now - idn.busy_since_ms[i] < IDNAMES_WAIT_MS)
			return false;
	return true;
}

/* Called with the lock held. 0, or -errno when no thread could start. */
static int start_worker(void)
{
	pthread_attr_t attr;
	pthread_t th;
	sigset_t all, old;
	int r;

	if (!idn.init) {
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&idn.done, &ca);
		pthread_cond_init(&idn.work, NULL);
		pthread_condattr_destroy(&ca);
		idn.init = true;
	}
	if (idn.threads >= IDNAMES_THREADS)
		return -EAGAIN;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10); /* room for sanitizers */
	/* Signals stay with the loop (signalfd): the worker takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&th, &attr, worker, (void *)(uintptr_t)idn.threads);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		log_warn("id names: cannot start a worker thread: %s", strerror(r));
		return -r;
	}
	idn.threads++;
	idn.idle++;
	return 0;
}

/* Called with the lock held. */
static int enqueue(struct idnames_slot *s, uint64_t key, pid_t pid, bool group,
		   int64_t id, uint64_t now)
{
	if (idn.threads == 0 || all_stuck(now)) {
		if (start_worker() < 0 && idn.threads == 0)
			return -EAGAIN;
	}
	if (idn.len >= IDNAMES_QUEUE) {
		idn.st.dropped++;
		return -EAGAIN;
	}
	idn.queue[(idn.head + idn.len) % IDNAMES_QUEUE] =
		(struct idnames_job){ key, pid, group, id };
	idn.len++;
	s->pending = true;
	pthread_cond_signal(&idn.work);
	return 0;
}

static int answer(const struct idnames_slot *s, char *buf, size_t cap)
{
	if (s->result < 0)
		return s->result;
	snprintf(buf, cap, "%s", s->name);
	return (int)strlen(buf);
}

int proc_id_name(pid_t pid, const char *file, int64_t id, char *buf, size_t cap)
{
	bool group = strcmp(file, "group") == 0;
	struct idnames_slot *s;
	struct timespec until;
	uint64_t key, now;
	int r;

	if (id < 0)
		return -ENOENT;
	r = root_key(pid, group, id, &key);
	if (r < 0)
		return r;
	now = now_ms();
	pthread_mutex_lock(&idn.lock);
	idn.st.lookups++;
	s = slot_of(key);
	if (s->key == key && s->known) {
		/* Stale answers serve once more while the worker refreshes. */
		if (now >= s->expires_ms && !s->pending)
			enqueue(s, key, pid, group, id, now);
		idn.st.hits++;
		r = answer(s, buf, cap);
		pthread_mutex_unlock(&idn.lock);
		return r;
	}
	if (s->key != key) {
		memset(s, 0, sizeof(*s));
		s->key = key;
	}
	/*
	 * A lookup already under way has taken longer than an event waits
	 * (a tracee that execs again and again in a root whose file hangs
	 * must not cost the loop a wait each time): no wait then.
	 */
	if (s->pending || enqueue(s, key, pid, group, id, now) < 0) {
		idn.st.timeouts++;
		pthread_mutex_unlock(&idn.lock);
		return -EAGAIN;
	}
	/* A bounded wait for a first answer, unless nobody can give one. */
	if (!all_stuck(now)) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += IDNAMES_WAIT_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (s->key == key && s->pending)
			if (pthread_cond_timedwait(&idn.done, &idn.lock, &until) == ETIMEDOUT)
				break;
	}
	if (s->key == key && s->known) {
		r = answer(s, buf, cap);
	} else {
		idn.st.timeouts++;
		r = -EAGAIN;
	}
	pthread_mutex_unlock(&idn.lock);
	return r;
}

void idnames_stats(struct idnames_stats *ret)
{
	pthread_mutex_lock(&idn.lock);
	*ret = idn.st;
	pthread_mutex_unlock(&idn.lock);
}
