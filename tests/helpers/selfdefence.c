// SPDX-License-Identifier: Apache-2.0
/*
 * selfdefence: a tracee that turns on its tracer (its parent in wrap mode).
 *
 *   tamper [PID]   ptrace(PTRACE_SEIZE) and PTRACE_INTERRUPT, kill with
 *                  SIGSTOP and SIGKILL, tgkill, rt_sigqueueinfo,
 *                  pidfd_send_signal, pidfd_getfd, process_vm_writev and
 *                  process_vm_readv, all aimed at PID (default: the
 *                  parent), then kill(0, SIGSTOP) for its process group;
 *                  then opens /dev/null (an event after the attack)
 *   seccomp-notif FILE   installs a filter that hands openat to a thread of
 *                  its own (SECCOMP_RET_USER_NOTIF, answered with CONTINUE)
 *                  and opens FILE
 *   seccomp-trace  installs, with prctl(PR_SET_SECCOMP), a filter returning
 *                  SECCOMP_RET_TRACE with foreign data for getppid
 *
 * Prints one JSON line per call, {"call":…,"ret":…,"errno":…}, and exits 0
 * (the test judges the results); 2 on a usage error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static void report(const char *call, long ret)
{
	printf("{\"call\":\"%s\",\"ret\":%ld,\"errno\":%d}\n", call, ret,
	       ret < 0 ? errno : 0);
	fflush(stdout);
}

static int tamper(pid_t pid)
{
	char buf[16] = "overwritten";
	struct iovec local = { buf, sizeof(buf) };
	struct iovec remote = { buf, sizeof(buf) };
	siginfo_t si;
	long fd;

	report("ptrace_seize", ptrace(PTRACE_SEIZE, pid, 0, 0));
	report("ptrace_interrupt", ptrace(PTRACE_INTERRUPT, pid, 0, 0));
	report("kill_sigstop", kill(pid, SIGSTOP));
	report("kill_sigkill", kill(pid, SIGKILL));
	report("tgkill_sigstop", syscall(SYS_tgkill, pid, pid, SIGSTOP));
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGKILL;
	si.si_code = SI_QUEUE;
	report("rt_sigqueueinfo", syscall(SYS_rt_sigqueueinfo, pid, SIGKILL, &si));
	fd = syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0) {
		report("pidfd_send_signal",
		       syscall(SYS_pidfd_send_signal, (int)fd, SIGKILL, NULL, 0));
		/* The tracer's descriptor 0 and up: its probe socket among them. */
		report("pidfd_getfd", syscall(SYS_pidfd_getfd, (int)fd, 0, 0));
		close((int)fd);
	}
	report("process_vm_writev", process_vm_writev(pid, &local, 1, &remote, 1, 0));
	report("process_vm_readv", process_vm_readv(pid, &local, 1, &remote, 1, 0));
	report("kill_group_sigstop", kill(0, SIGSTOP));
	/* Still traced, and the tracer still reports. */
	report("open_after", open("/dev/null", O_RDONLY));
	return 0;
}

/* ---- a filter of our own ---- */

#define LOAD_ARCH BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch))
#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))

#if defined(__x86_64__)
#define OUR_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define OUR_ARCH AUDIT_ARCH_AARCH64
#endif

static int notify_fd = -1;
static int fd_pipe[2];

/* The supervisor: started before the filter, so the filter is not its. */
static void *supervisor(void *arg)
{
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;

	(void)arg;
	if (read(fd_pipe[0], &notify_fd, sizeof(notify_fd)) != sizeof(notify_fd))
		return NULL;
	for (;;) {
		memset(&req, 0, sizeof(req));
		if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
			return NULL;
		memset(&resp, 0, sizeof(resp));
		resp.id = req.id;
		/* Let the call run, with no tracer stop at all. */
		resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	}
}

static int seccomp_notif(const char *file)
{
	struct sock_filter insns[] = {
		LOAD_ARCH,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, OUR_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		LOAD_NR,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(insns) / sizeof(insns[0]), insns };
	pthread_t th;
	long fd;

	if (pipe(fd_pipe) < 0 || pthread_create(&th, NULL, supervisor, NULL) != 0)
		return 1;
	report("no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		     SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	report("seccomp_user_notif", fd);
	if (fd < 0)
		return 0;
	notify_fd = (int)fd;
	if (write(fd_pipe[1], &notify_fd, sizeof(notify_fd)) != sizeof(notify_fd))
		return 1;
	report("open_hidden", syscall(SYS_openat, AT_FDCWD, file, O_RDONLY));
	return 0;
}

static int seccomp_trace(void)
{
	struct sock_filter insns[] = {
		LOAD_ARCH,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, OUR_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		LOAD_NR,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | 0x4242),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(insns) / sizeof(insns[0]), insns };

	report("no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	report("prctl_seccomp_trace", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog));
	report("getppid", syscall(SYS_getppid));
	report("open_after", open("/dev/null", O_RDONLY));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "tamper") == 0)
		return tamper(argc >= 3 ? (pid_t)atoi(argv[2]) : getppid());
	if (argc == 3 && strcmp(argv[1], "seccomp-notif") == 0)
		return seccomp_notif(argv[2]);
	if (argc == 2 && strcmp(argv[1], "seccomp-trace") == 0)
		return seccomp_trace();
	fprintf(stderr, "usage: selfdefence tamper [PID] | seccomp-notif FILE | seccomp-trace\n");
	return 2;
}
