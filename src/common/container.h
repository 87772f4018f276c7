/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which container a process runs in: the container id found in its cgroup
 * path (Docker, containerd and Kubernetes, CRI-O, Podman, ECS), in the
 * sources of its /etc/hostname-like bind mounts, or given by the
 * environment. docs/containers.md lists every source and their precedence.
 */
#ifndef SENTRACE_CONTAINER_H
#define SENTRACE_CONTAINER_H

#include <stddef.h>
#include <sys/types.h>

/* Room for the longest id we return (64 hex digits) and its NUL. */
#define CONTAINER_ID_MAX 65

/*
 * Where container_id_resolve() found the id. container_id_source_name()
 * gives the names used in logs and docs ("env", "cgroup", ...).
 */
enum container_id_source {
	CONTAINER_SOURCE_NONE = 0,   /* not found: not in a container */
	CONTAINER_SOURCE_ENV,        /* SENTRACE_CONTAINER_ID / DD_CONTAINER_ID */
	CONTAINER_SOURCE_CGROUP,     /* /proc/self/cgroup */
	CONTAINER_SOURCE_MOUNTINFO,  /* /proc/self/mountinfo */
	CONTAINER_SOURCE_ECS,        /* ECS_CONTAINER_METADATA_URI(_V4) */
};

/*
 * The text of a /proc/PID/cgroup file (v1: many "N:controllers:/path"
 * lines; v2: one "0::/path" line) → the container id in its paths. Returns
 * 0 and writes buf (NUL-terminated), -ENOENT when no path names a
 * container, -ENOBUFS when cap is too small for the id, -EINVAL for NULLs.
 */
int container_id_from_cgroup(const char *cgroup_file_text, char *buf, size_t cap);

/*
 * The text of a /proc/PID/mountinfo file → the container id in the source
 * of the bind mount on /etc/hostname, /etc/hosts or /etc/resolv.conf
 * (".../containers/<64 hex>/..."), which Docker and Podman set up. This
 * finds the id when a private cgroup namespace hides it ("0::/").
 * Same return values as container_id_from_cgroup().
 */
int container_id_from_mountinfo(const char *mountinfo_text, char *buf, size_t cap);

/*
 * The last path segment of an ECS task metadata URI when it has the shape
 * of a container id: on Fargate, "<32 hex>-<digits>", which is the
 * container's DockerId; a 64-hex id is accepted too. On EC2 the segment is
 * a random endpoint UUID that names no container: -ENOENT.
 */
int container_id_from_ecs_uri(const char *uri, char *buf, size_t cap);

/*
 * The container of process pid (0: this process) from /proc/PID/cgroup,
 * then /proc/PID/mountinfo. Returns 0, -ENOENT (no container found),
 * -ESRCH (no such process), or another -errno from reading /proc.
 */
int container_id_for_pid(pid_t pid, char *buf, size_t cap);

/*
 * The container of the tracer itself, in this order: $SENTRACE_CONTAINER_ID,
 * $DD_CONTAINER_ID (the model's name), /proc/self/cgroup,
 * /proc/self/mountinfo, $ECS_CONTAINER_METADATA_URI_V4, then
 * $ECS_CONTAINER_METADATA_URI. Returns the source (> 0) and writes buf,
 * or CONTAINER_SOURCE_NONE (0) with buf set to "" when nothing names a
 * container; -ENOBUFS / -EINVAL as above. A set but empty variable counts
 * as unset; an override longer than cap - 1 bytes gives -ENOBUFS.
 */
int container_id_resolve(char *buf, size_t cap);

const char *container_id_source_name(int source);

#endif
