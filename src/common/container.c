/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container ids from cgroup paths, mount sources, ECS metadata URIs and the
 * environment. The parsers work on text so that the unit tests can feed
 * them files as they appear in the wild; the readers only fetch that text
 * from /proc. Nothing here allocates beyond the file buffer it frees.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"
#include "log.h"

#define ID_HEX_LEN       64
#define ECS_TASK_HEX_LEN 32
#define ECS_MAX_DIGITS   20
#define PROC_FILE_MAX    (4u << 20)

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool all_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_lower_hex(s[i]))
			return false;
	return true;
}

/*
 * A container id: 64 lowercase hex digits (Docker, containerd, CRI-O,
 * Podman), or "<32 hex>-<digits>", which is how Fargate names the
 * containers of a task (the task id, a dash, a number).
 */
static bool is_id_shape(const char *s, size_t len)
{
	if (len == ID_HEX_LEN)
		return all_hex(s, len);
	if (len < ECS_TASK_HEX_LEN + 2 || len > ECS_TASK_HEX_LEN + 1 + ECS_MAX_DIGITS)
		return false;
	if (!all_hex(s, ECS_TASK_HEX_LEN) || s[ECS_TASK_HEX_LEN] != '-')
		return false;
	for (size_t i = ECS_TASK_HEX_LEN + 1; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int copy_id(const char *s, size_t len, char *buf, size_t cap)
{
	if (len + 1 > cap)
		return -ENOBUFS;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

static bool has_prefix(const char *s, size_t len, const char *prefix, size_t *plen)
{
	size_t n = strlen(prefix);

	if (len < n || memcmp(s, prefix, n) != 0)
		return false;
	*plen = n;
	return true;
}

/*
 * Prefixes of the systemd scope units that runtimes put a container into:
 * "docker-<id>.scope" (Docker with the systemd cgroup driver),
 * "cri-containerd-<id>.scope" (containerd's CRI plugin), "crio-<id>.scope"
 * (CRI-O), "libpod-<id>.scope" (Podman), "nerdctl-<id>.scope" (nerdctl).
 * The runtimes' monitor scopes ("crio-conmon-<id>.scope",
 * "libpod-conmon-<id>.scope") hold conmon, not the container, and do not
 * match because "conmon-<id>" is not an id.
 */
static const char *const scope_prefixes[] = {
	"docker-", "cri-containerd-", "crio-", "libpod-", "nerdctl-",
};

/* One component of a cgroup path → the id it names, if any. */
static bool component_id(const char *s, size_t len, const char **ret_id, size_t *ret_len)
{
	static const char scope[] = ".scope";
	const size_t slen = sizeof(scope) - 1;

	if (len > slen && memcmp(s + len - slen, scope, slen) == 0) {
		len -= slen;
		for (size_t i = 0; i < sizeof(scope_prefixes) / sizeof(scope_prefixes[0]); i++) {
			size_t plen;

			if (has_prefix(s, len, scope_prefixes[i], &plen) &&
			    len - plen == ID_HEX_LEN && all_hex(s + plen, ID_HEX_LEN)) {
				*ret_id = s + plen;
				*ret_len = ID_HEX_LEN;
				return true;
			}
		}
		return false;
	}
	/* cgroupfs drivers name the directory after the id itself:
	 * /docker/<id>, /kubepods/<qos>/pod<uid>/<id>, /ecs/<task>/<id>. */
	if (is_id_shape(s, len)) {
		*ret_id = s;
		*ret_len = len;
		return true;
	}
	return false;
}

/*
 * The deepest component of one cgroup path that names a container: with
 * nested containers (/docker/<outer>/docker/<inner>) the process belongs to
 * the inner one, and Podman may put it in a child cgroup of its scope
 * (libpod-<id>.scope/container).
 */
static bool path_id(const char *path, size_t len, const char **ret_id, size_t *ret_len)
{
	const char *end = path + len;
	bool found = false;

	while (path < end) {
		const char *slash = memchr(path, '/', (size_t)(end - path));
		const char *cend = slash ? slash : end;

		if (component_id(path, (size_t)(cend - path), ret_id, ret_len))
			found = true;
		path = slash ? slash + 1 : end;
	}
	return found;
}

int container_id_from_cgroup(const char *text, char *buf, size_t cap)
{
	if (!text || !buf)
		return -EINVAL;
	/* Lines are "hierarchy-id:controller-list:path"; the path is all that
	 * follows the second colon (it may hold colons itself). The first
	 * line that names a container wins: under cgroup v1 every hierarchy
	 * shows the same container, and hybrid hosts add a "0::" line that
	 * agrees with them. */
	while (*text) {
		const char *nl = strchr(text, '\n');
		const char *lend = nl ? nl : text + strlen(text);
		const char *c1 = memchr(text, ':', (size_t)(lend - text));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(lend - c1 - 1)) : NULL;
		const char *id;
		size_t idlen;

		if (c2 && path_id(c2 + 1, (size_t)(lend - c2 - 1), &id, &idlen))
			return copy_id(id, idlen, buf, cap);
		text = nl ? nl + 1 : lend;
	}
	return -ENOENT;
}

/* Field n (0-based) of a space-separated line, or false. */
static bool line_field(const char *line, const char *lend, unsigned n,
		       const char **ret, size_t *ret_len)
{
	const char *p = line;

	for (unsigned i = 0;; i++) {
		const char *sp;

		while (p < lend && *p == ' ')
			p++;
		if (p >= lend)
			return false;
		sp = memchr(p, ' ', (size_t)(lend - p));
		if (!sp)
			sp = lend;
		if (i == n) {
			*ret = p;
			*ret_len = (size_t)(sp - p);
			return true;
		}
		p = sp;
	}
}

static bool is_etc_mount_point(const char *s, size_t len)
{
	static const char *const points[] = {
		"/etc/hostname", "/etc/hosts", "/etc/resolv.conf",
	};

	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		if (strlen(points[i]) == len && memcmp(s, points[i], len) == 0)
			return true;
	return false;
}

int container_id_from_mountinfo(const char *text, char *buf, size_t cap)
{
	static const char key[] = "containers/";
	const size_t klen = sizeof(key) - 1;

	if (!text || !buf)
		return -EINVAL;
	/*
	 * "36 35 98:0 /root /mount-point options ... - fstype source opts":
	 * field 3 is the root of the mount within its file system, field 4
	 * where it is mounted. Docker bind-mounts
	 * /var/lib/docker/containers/<id>/hostname on /etc/hostname, Podman
	 * .../overlay-containers/<id>/userdata/hostname. Only those mount
	 * points are looked at: the host's own mountinfo lists mounts *under*
	 * /var/lib/docker/containers/<id>/ of every container (their shm),
	 * which must not make a host process look containerised.
	 */
	while (*text) {
		const char *nl = strchr(text, '\n');
		const char *lend = nl ? nl : text + strlen(text);
		const char *root, *point;
		size_t rlen, plen;

		if (line_field(text, lend, 3, &root, &rlen) &&
		    line_field(text, lend, 4, &point, &plen) &&
		    is_etc_mount_point(point, plen)) {
			const char *rend = root + rlen;

			for (const char *p = root; (size_t)(rend - p) >= klen + ID_HEX_LEN + 1; p++) {
				const char *id = p + klen;

				if (memcmp(p, key, klen) == 0 && all_hex(id, ID_HEX_LEN) &&
				    id[ID_HEX_LEN] == '/')
					return copy_id(id, ID_HEX_LEN, buf, cap);
			}
		}
		text = nl ? nl + 1 : lend;
	}
	return -ENOENT;
}

int container_id_from_ecs_uri(const char *uri, char *buf, size_t cap)
{
	const char *end, *seg;

	if (!uri || !buf)
		return -EINVAL;
	end = uri + strlen(uri);
	while (end > uri && end[-1] == '/')
		end--;
	seg = end;
	while (seg > uri && seg[-1] != '/')
		seg--;
	if (!is_id_shape(seg, (size_t)(end - seg)))
		return -ENOENT;
	return copy_id(seg, (size_t)(end - seg), buf, cap);
}

/* The whole of a /proc file (their st_size is 0), at most PROC_FILE_MAX
 * bytes, NUL-terminated. */
static int read_proc_file(const char *path, char **ret)
{
	size_t len = 0, size = 4096;
	char *data = malloc(size);
	int fd, r = 0;

	if (!data)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		free(data);
		return r;
	}
	for (;;) {
		ssize_t n;

		if (size - len < 2) {
			char *nd;

			if (size >= PROC_FILE_MAX)
				break;
			nd = realloc(data, size * 2);
			if (!nd) {
				r = -ENOMEM;
				break;
			}
			data = nd;
			size *= 2;
		}
		n = read(fd, data + len, size - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (r < 0) {
		free(data);
		return r;
	}
	data[len] = '\0';
	*ret = data;
	return 0;
}

static int id_from_proc(pid_t pid, const char *file,
			int (*parse)(const char *, char *, size_t),
			char *buf, size_t cap)
{
	char path[64], *text = NULL;
	int r;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	else
		snprintf(path, sizeof(path), "/proc/self/%s", file);
	r = read_proc_file(path, &text);
	if (r < 0) {
		log_debug("%s: %s", path, strerror(-r));
		/* -ENOENT is kept for "no container here"; a missing file of
		 * another process means that it has exited. */
		return r == -ENOENT && pid > 0 ? -ESRCH : r;
	}
	r = parse(text, buf, cap);
	free(text);
	return r;
}

int container_id_for_pid(pid_t pid, char *buf, size_t cap)
{
	int r;

	if (!buf || pid < 0)
		return -EINVAL;
	r = id_from_proc(pid, "cgroup", container_id_from_cgroup, buf, cap);
	if (r != -ENOENT)
		return r;
	return id_from_proc(pid, "mountinfo", container_id_from_mountinfo, buf, cap);
}

/* A set, non-empty environment variable copied into buf. */
static int id_from_env(const char *name, char *buf, size_t cap)
{
	const char *v = getenv(name);

	if (!v || !*v)
		return -ENOENT;
	return copy_id(v, strlen(v), buf, cap);
}

int container_id_resolve(char *buf, size_t cap)
{
	static const char *const env_names[] = {
		"SENTRACE_CONTAINER_ID", "DD_CONTAINER_ID",
	};
	static const char *const ecs_names[] = {
		"ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI",
	};
	int r;

	if (!buf || cap == 0)
		return -EINVAL;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
		r = id_from_env(env_names[i], buf, cap);
		if (r == 0)
			return CONTAINER_SOURCE_ENV;
		if (r != -ENOENT)
			return r;
	}
	/* Errors reading /proc (no /proc in a bare chroot) only mean that
	 * this source has nothing to say. */
	r = id_from_proc(0, "cgroup", container_id_from_cgroup, buf, cap);
	if (r == 0)
		return CONTAINER_SOURCE_CGROUP;
	if (r == -ENOBUFS)
		return r;
	r = id_from_proc(0, "mountinfo", container_id_from_mountinfo, buf, cap);
	if (r == 0)
		return CONTAINER_SOURCE_MOUNTINFO;
	if (r == -ENOBUFS)
		return r;
	for (size_t i = 0; i < sizeof(ecs_names) / sizeof(ecs_names[0]); i++) {
		const char *uri = getenv(ecs_names[i]);

		if (!uri || !*uri)
			continue;
		r = container_id_from_ecs_uri(uri, buf, cap);
		if (r == 0)
			return CONTAINER_SOURCE_ECS;
		if (r == -ENOBUFS)
			return r;
	}
	buf[0] = '\0';
	return CONTAINER_SOURCE_NONE;
}

const char *container_id_source_name(int source)
{
	switch (source) {
	case CONTAINER_SOURCE_NONE:
		return "none";
	case CONTAINER_SOURCE_ENV:
		return "env";
	case CONTAINER_SOURCE_CGROUP:
		return "cgroup";
	case CONTAINER_SOURCE_MOUNTINFO:
		return "mountinfo";
	case CONTAINER_SOURCE_ECS:
		return "ecs";
	}
	return "unknown";
}
