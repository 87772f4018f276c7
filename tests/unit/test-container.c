/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the container id resolution: /proc/PID/cgroup and
 * /proc/PID/mountinfo text as each runtime writes it, ECS metadata URIs,
 * and the environment overrides with their precedence.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "container.h"

#define ID_A "f58d16d2cb241c5dc5ecf9361ec18e724cb110cf7e8af75eed6d33594ca8726a"
#define ID_B "859cfac18074672af1f01245bb117fb5896e28dc6a4d57c014b40e62ec2a0c18"
#define ID_C "cfccb8584cb676ccbd9686d722e96a287891d0a681f951accd26194be83508e8"
#define ID_D "444d9f97501ff5bebe6ed1cbc05870b2fe07ee94a3726d844de0ebb627494e86"
#define ID_E "c953e99cc6c2f64a50d923238daa66c3afebfa2c8a66070bc7bd1aafd52d0bde"
#define ID_F "f4df580edb62eb62b28281b14b992bba1db674220be7c3f15752988a6280d672"
#define ECS_TASK "161ba969a1a93cf18176ec5b241bac12"
#define POD_UID "8b7e2f2a-1c1d-4d2e-9f6f-0a1b2c3d4e5f"
#define POD_UID_SD "8b7e2f2a_1c1d_4d2e_9f6f_0a1b2c3d4e5f"

struct cgroup_case {
	const char *name;
	const char *text;
	const char *want; /* NULL: -ENOENT */
};

static const struct cgroup_case cgroup_cases[] = {
	{ "docker cgroupfs v1",
	  "12:perf_event:/docker/" ID_A "\n"
	  "11:memory:/docker/" ID_A "\n"
	  "10:cpuset:/docker/" ID_A "\n"
	  "9:pids:/docker/" ID_A "\n"
	  "8:blkio:/docker/" ID_A "\n"
	  "7:net_cls,net_prio:/docker/" ID_A "\n"
	  "6:freezer:/docker/" ID_A "\n"
	  "5:devices:/docker/" ID_A "\n"
	  "4:cpu,cpuacct:/docker/" ID_A "\n"
	  "3:hugetlb:/docker/" ID_A "\n"
	  "2:rdma:/\n"
	  "1:name=systemd:/docker/" ID_A "\n"
	  "0::/system.slice/containerd.service\n",
	  ID_A },
	{ "docker systemd v1",
	  "11:devices:/system.slice/docker-" ID_B ".scope\n"
	  "1:name=systemd:/system.slice/docker-" ID_B ".scope\n",
	  ID_B },
	{ "docker systemd v2 (cgroupns=host)",
	  "0::/system.slice/docker-" ID_B ".scope\n",
	  ID_B },
	{ "docker rootless systemd v2",
	  "0::/user.slice/user-1000.slice/user@1000.service/user.slice/docker-" ID_B ".scope\n",
	  ID_B },
	{ "docker-in-docker: the inner container",
	  "0::/docker/" ID_A "/docker/" ID_B "\n",
	  ID_B },
	{ "k8s containerd v1 cgroupfs",
	  "12:hugetlb:/kubepods/besteffort/pod" POD_UID "/" ID_C "\n"
	  "11:memory:/kubepods/besteffort/pod" POD_UID "/" ID_C "\n"
	  "2:cpu,cpuacct:/kubepods/besteffort/pod" POD_UID "/" ID_C "\n"
	  "1:name=systemd:/kubepods/besteffort/pod" POD_UID "/" ID_C "\n",
	  ID_C },
	{ "k8s containerd v1 systemd",
	  "10:memory:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
	  POD_UID_SD ".slice/cri-containerd-" ID_C ".scope\n"
	  "1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
	  POD_UID_SD ".slice/cri-containerd-" ID_C ".scope\n",
	  ID_C },
	{ "k8s containerd v2 systemd",
	  "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
	  POD_UID_SD ".slice/cri-containerd-" ID_C ".scope\n",
	  ID_C },
	{ "k8s containerd v2 cgroupfs (guaranteed QoS)",
	  "0::/kubepods/pod" POD_UID "/" ID_C "\n",
	  ID_C },
	{ "k8s CRI-O v2 systemd",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
	  POD_UID_SD ".slice/crio-" ID_D ".scope\n",
	  ID_D },
	{ "k8s CRI-O v1 systemd",
	  "11:pids:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
	  POD_UID_SD ".slice/crio-" ID_D ".scope\n"
	  "1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
	  POD_UID_SD ".slice/crio-" ID_D ".scope\n",
	  ID_D },
	{ "CRI-O conmon is not the container",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
	  POD_UID_SD ".slice/crio-conmon-" ID_D ".scope\n",
	  NULL },
	{ "podman rootful v2",
	  "0::/machine.slice/libpod-" ID_E ".scope/container\n",
	  ID_E },
	{ "podman rootful v1",
	  "12:pids:/machine.slice/libpod-" ID_E ".scope\n"
	  "1:name=systemd:/machine.slice/libpod-" ID_E ".scope\n",
	  ID_E },
	{ "podman rootless v2",
	  "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-"
	  ID_E ".scope/container\n",
	  ID_E },
	{ "podman conmon is not the container",
	  "0::/machine.slice/libpod-conmon-" ID_E ".scope\n",
	  NULL },
	{ "nerdctl systemd",
	  "0::/system.slice/nerdctl-" ID_F ".scope\n",
	  ID_F },
	{ "ECS on EC2, v1",
	  "9:perf_event:/ecs/" ECS_TASK "/" ID_F "\n"
	  "8:memory:/ecs/" ECS_TASK "/" ID_F "\n"
	  "1:name=systemd:/ecs/" ECS_TASK "/" ID_F "\n",
	  ID_F },
	{ "ECS on Fargate",
	  "11:hugetlb:/ecs/" ECS_TASK "/" ECS_TASK "-2495160603\n"
	  "1:name=systemd:/ecs/" ECS_TASK "/" ECS_TASK "-2495160603\n",
	  ECS_TASK "-2495160603" },
	{ "host, cgroup v2",
	  "0::/user.slice/user-1000.slice/session-3.scope\n",
	  NULL },
	{ "host, the docker daemon itself",
	  "0::/system.slice/docker.service\n",
	  NULL },
	{ "host, cgroup v1",
	  "12:pids:/user.slice/user-1000.slice/session-2.scope\n"
	  "4:memory:/user.slice\n"
	  "1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n"
	  "0::/user.slice/user-1000.slice/session-2.scope\n",
	  NULL },
	{ "private cgroup namespace", "0::/\n", NULL },
	{ "init", "0::/init.scope\n", NULL },
	{ "empty file", "", NULL },
	{ "no trailing newline", "0::/docker/" ID_A, ID_A },
	{ "garbage lines are skipped",
	  "not a cgroup line\n::\n0::/docker/" ID_A "\n",
	  ID_A },
	{ "uppercase hex is no id", "0::/docker/F58D16D2CB241C5DC5ECF9361EC18E724CB110CF"
	  "7E8AF75EED6D33594CA8726A\n", NULL },
	{ "63 hex digits are no id",
	  "0::/docker/58d16d2cb241c5dc5ecf9361ec18e724cb110cf7e8af75eed6d33594ca8726a\n",
	  NULL },
	{ "65 hex digits are no id", "0::/docker/" ID_A "0\n", NULL },
	{ "32 hex digits alone are no id", "4:memory:/process_api/" ECS_TASK "\n", NULL },
	{ "a scope with junk after the id", "0::/system.slice/docker-" ID_A "x.scope\n", NULL },
};

START_TEST(test_cgroup_cases)
{
	const struct cgroup_case *c = &cgroup_cases[_i];
	char buf[CONTAINER_ID_MAX];
	int r;

	memset(buf, 'X', sizeof(buf));
	r = container_id_from_cgroup(c->text, buf, sizeof(buf));
	if (c->want) {
		ck_assert_msg(r == 0, "%s: returned %d", c->name, r);
		ck_assert_msg(strcmp(buf, c->want) == 0, "%s: got %s", c->name, buf);
	} else {
		ck_assert_msg(r == -ENOENT, "%s: returned %d (%.*s)", c->name, r,
			      CONTAINER_ID_MAX - 1, buf);
	}
}
END_TEST

START_TEST(test_cgroup_small_buffer)
{
	char buf[CONTAINER_ID_MAX];

	ck_assert_int_eq(container_id_from_cgroup("0::/docker/" ID_A "\n", buf, 64), -ENOBUFS);
	ck_assert_int_eq(container_id_from_cgroup("0::/docker/" ID_A "\n", buf, 65), 0);
	ck_assert_str_eq(buf, ID_A);
	ck_assert_int_eq(container_id_from_cgroup(NULL, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(container_id_from_cgroup("", NULL, 0), -EINVAL);
}
END_TEST

struct mountinfo_case {
	const char *name;
	const char *text;
	const char *want;
};

static const struct mountinfo_case mountinfo_cases[] = {
	{ "docker, private cgroup namespace",
	  "1230 1107 0:128 / / rw,relatime master:580 - overlay overlay rw,"
	  "lowerdir=/var/lib/docker/overlay2/l/ABC:/var/lib/docker/overlay2/l/DEF,"
	  "upperdir=/var/lib/docker/overlay2/0f3e/diff,workdir=/var/lib/docker/overlay2/0f3e/work\n"
	  "1231 1230 0:131 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
	  "1232 1230 0:132 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n"
	  "1241 1230 259:2 /var/lib/docker/containers/" ID_A "/resolv.conf /etc/resolv.conf "
	  "rw,relatime - ext4 /dev/nvme0n1p2 rw\n"
	  "1242 1230 259:2 /var/lib/docker/containers/" ID_A "/hostname /etc/hostname "
	  "rw,relatime - ext4 /dev/nvme0n1p2 rw\n"
	  "1243 1230 259:2 /var/lib/docker/containers/" ID_A "/hosts /etc/hosts "
	  "rw,relatime - ext4 /dev/nvme0n1p2 rw\n",
	  ID_A },
	{ "docker, /var/lib/docker on its own file system",
	  "1242 1230 8:17 /containers/" ID_B "/hostname /etc/hostname rw,relatime - xfs /dev/sdb1 rw\n",
	  ID_B },
	{ "podman rootless",
	  "800 790 0:45 /home/alice/.local/share/containers/storage/overlay-containers/" ID_E
	  "/userdata/hostname /etc/hostname rw,nosuid,nodev,relatime - btrfs /dev/sda3 rw\n",
	  ID_E },
	{ "host: the shm mounts of containers do not count",
	  "29 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
	  "345 29 0:60 / /var/lib/docker/containers/" ID_A "/mounts/shm "
	  "rw,nosuid,nodev,noexec,relatime shared:200 - tmpfs shm rw,size=65536k\n",
	  NULL },
	{ "k8s containerd: the pod sandbox's hostname is no container id",
	  "2780 2770 259:1 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/" ID_C
	  "/hostname /etc/hostname rw,nosuid,nodev,relatime - ext4 /dev/root rw\n"
	  "2781 2770 259:1 /var/lib/kubelet/pods/" POD_UID "/etc-hosts /etc/hosts "
	  "rw,nosuid,nodev,relatime - ext4 /dev/root rw\n",
	  NULL },
	{ "empty", "", NULL },
	{ "short lines", "1 2\n3 4 5 6\n", NULL },
};

START_TEST(test_mountinfo_cases)
{
	const struct mountinfo_case *c = &mountinfo_cases[_i];
	char buf[CONTAINER_ID_MAX];
	int r;

	r = container_id_from_mountinfo(c->text, buf, sizeof(buf));
	if (c->want) {
		ck_assert_msg(r == 0, "%s: returned %d", c->name, r);
		ck_assert_msg(strcmp(buf, c->want) == 0, "%s: got %s", c->name, buf);
	} else {
		ck_assert_msg(r == -ENOENT, "%s: returned %d", c->name, r);
	}
}
END_TEST

START_TEST(test_ecs_uri)
{
	char buf[CONTAINER_ID_MAX];

	/* Fargate (platform 1.4+): the segment is the container's DockerId. */
	ck_assert_int_eq(container_id_from_ecs_uri(
		"http://169.254.170.2/v4/" ECS_TASK "-2495160603", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, ECS_TASK "-2495160603");
	ck_assert_int_eq(container_id_from_ecs_uri(
		"http://169.254.170.2/v4/" ECS_TASK "-2495160603/", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, ECS_TASK "-2495160603");
	ck_assert_int_eq(container_id_from_ecs_uri(
		"http://169.254.170.2/v3/" ID_F, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, ID_F);
	/* EC2: a random endpoint UUID, which names no container. */
	ck_assert_int_eq(container_id_from_ecs_uri(
		"http://169.254.170.2/v4/3f5d8a0e-6b4c-4e62-9d61-7a0b3c2e1f44", buf, sizeof(buf)),
		-ENOENT);
	ck_assert_int_eq(container_id_from_ecs_uri("http://169.254.170.2/v4/", buf, sizeof(buf)),
			 -ENOENT);
	ck_assert_int_eq(container_id_from_ecs_uri("", buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(container_id_from_ecs_uri(ECS_TASK "-", buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(container_id_from_ecs_uri(ECS_TASK "-12x", buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(container_id_from_ecs_uri(
		"http://169.254.170.2/v4/" ECS_TASK "-2495160603", buf, 20), -ENOBUFS);
}
END_TEST

static void clear_env(void)
{
	unsetenv("SENTRACE_CONTAINER_ID");
	unsetenv("DD_CONTAINER_ID");
	unsetenv("ECS_CONTAINER_METADATA_URI_V4");
	unsetenv("ECS_CONTAINER_METADATA_URI");
}

START_TEST(test_env_override)
{
	char buf[CONTAINER_ID_MAX];

	clear_env();
	setenv("SENTRACE_CONTAINER_ID", "my-app", 1);
	setenv("DD_CONTAINER_ID", "dd-id", 1);
	setenv("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/" ECS_TASK "-1", 1);
	ck_assert_int_eq(container_id_resolve(buf, sizeof(buf)), CONTAINER_SOURCE_ENV);
	ck_assert_str_eq(buf, "my-app");

	unsetenv("SENTRACE_CONTAINER_ID");
	ck_assert_int_eq(container_id_resolve(buf, sizeof(buf)), CONTAINER_SOURCE_ENV);
	ck_assert_str_eq(buf, "dd-id");

	/* Set but empty counts as unset. */
	setenv("SENTRACE_CONTAINER_ID", "", 1);
	ck_assert_int_eq(container_id_resolve(buf, sizeof(buf)), CONTAINER_SOURCE_ENV);
	ck_assert_str_eq(buf, "dd-id");

	setenv("SENTRACE_CONTAINER_ID", ID_A "-too-long", 1);
	ck_assert_int_eq(container_id_resolve(buf, sizeof(buf)), -ENOBUFS);
	ck_assert_int_eq(container_id_resolve(NULL, 10), -EINVAL);
	ck_assert_str_eq(container_id_source_name(CONTAINER_SOURCE_ENV), "env");
	ck_assert_str_eq(container_id_source_name(CONTAINER_SOURCE_ECS), "ecs");
}
END_TEST

/* What this machine's own /proc says decides what the fallbacks return. */
START_TEST(test_resolve_without_env)
{
	char own[CONTAINER_ID_MAX], buf[CONTAINER_ID_MAX];
	int own_r, r;

	clear_env();
	own_r = container_id_for_pid(0, own, sizeof(own));
	ck_assert_msg(own_r == 0 || own_r == -ENOENT, "for_pid(0): %d", own_r);

	r = container_id_resolve(buf, sizeof(buf));
	if (own_r == 0) {
		ck_assert(r == CONTAINER_SOURCE_CGROUP || r == CONTAINER_SOURCE_MOUNTINFO);
		ck_assert_str_eq(buf, own);
	} else {
		ck_assert_int_eq(r, CONTAINER_SOURCE_NONE);
		ck_assert_str_eq(buf, "");
	}

	setenv("ECS_CONTAINER_METADATA_URI", "http://169.254.170.2/v3/" ECS_TASK "-7", 1);
	setenv("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/" ECS_TASK "-9", 1);
	r = container_id_resolve(buf, sizeof(buf));
	if (own_r == 0) {
		ck_assert_str_eq(buf, own);
	} else {
		ck_assert_int_eq(r, CONTAINER_SOURCE_ECS);
		ck_assert_str_eq(buf, ECS_TASK "-9");
		/* An EC2-style V4 URI names nothing: the older URI is next. */
		setenv("ECS_CONTAINER_METADATA_URI_V4",
		       "http://169.254.170.2/v4/3f5d8a0e-6b4c-4e62-9d61-7a0b3c2e1f44", 1);
		ck_assert_int_eq(container_id_resolve(buf, sizeof(buf)), CONTAINER_SOURCE_ECS);
		ck_assert_str_eq(buf, ECS_TASK "-7");
	}
}
END_TEST

START_TEST(test_for_pid)
{
	char self[CONTAINER_ID_MAX], mine[CONTAINER_ID_MAX];
	int r_self, r_mine;

	/* pid 0 and our own pid read the same files. */
	r_self = container_id_for_pid(0, self, sizeof(self));
	r_mine = container_id_for_pid(getpid(), mine, sizeof(mine));
	ck_assert_int_eq(r_self, r_mine);
	if (r_self == 0)
		ck_assert_str_eq(self, mine);
	/* Above pid_max (at most 2^22): no such process. */
	ck_assert_int_eq(container_id_for_pid(1 << 30, self, sizeof(self)), -ESRCH);
	ck_assert_int_eq(container_id_for_pid(-1, self, sizeof(self)), -EINVAL);
}
END_TEST

static Suite *container_suite(void)
{
	Suite *s = suite_create("container");
	TCase *tc;

	tc = tcase_create("cgroup");
	tcase_add_loop_test(tc, test_cgroup_cases, 0,
			    (int)(sizeof(cgroup_cases) / sizeof(cgroup_cases[0])));
	tcase_add_test(tc, test_cgroup_small_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("mountinfo");
	tcase_add_loop_test(tc, test_mountinfo_cases, 0,
			    (int)(sizeof(mountinfo_cases) / sizeof(mountinfo_cases[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("ecs");
	tcase_add_test(tc, test_ecs_uri);
	suite_add_tcase(s, tc);

	tc = tcase_create("resolve");
	tcase_add_test(tc, test_env_override);
	tcase_add_test(tc, test_resolve_without_env);
	tcase_add_test(tc, test_for_pid);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(container_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
