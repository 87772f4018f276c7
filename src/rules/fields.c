/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one table of fields (name, type, event type, where the probe finds the
 * value, stable id), the event type names, the named constants of the
 * language, and the generator of docs/fields.md.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "rules.h"
#include "rules-int.h"

static const char *const event_names[RULES_EV__COUNT] = {
	[RULES_EV_EXEC] = "exec",
	[RULES_EV_FORK] = "fork",
	[RULES_EV_EXIT] = "exit",
	[RULES_EV_OPEN] = "open",
	[RULES_EV_UNLINK] = "unlink",
	[RULES_EV_RMDIR] = "rmdir",
	[RULES_EV_RENAME] = "rename",
	[RULES_EV_MKDIR] = "mkdir",
	[RULES_EV_LINK] = "link",
	[RULES_EV_SYMLINK] = "symlink",
	[RULES_EV_CHMOD] = "chmod",
	[RULES_EV_CHOWN] = "chown",
	[RULES_EV_UTIMES] = "utimes",
	[RULES_EV_TRUNCATE] = "truncate",
	[RULES_EV_MOUNT] = "mount",
	[RULES_EV_UMOUNT] = "umount",
	[RULES_EV_SETUID] = "setuid",
	[RULES_EV_SETGID] = "setgid",
	[RULES_EV_CAPSET] = "capset",
	[RULES_EV_LOAD_MODULE] = "load_module",
	[RULES_EV_UNLOAD_MODULE] = "unload_module",
	[RULES_EV_PTRACE] = "ptrace",
	[RULES_EV_MEMFD_CREATE] = "memfd_create",
	[RULES_EV_BPF] = "bpf",
	[RULES_EV_PRCTL] = "prctl",
	[RULES_EV_CHDIR] = "chdir",
	[RULES_EV_SOCKET] = "socket",
	[RULES_EV_BIND] = "bind",
	[RULES_EV_CONNECT] = "connect",
	[RULES_EV_LISTEN] = "listen",
	[RULES_EV_ACCEPT] = "accept",
	[RULES_EV_SECCOMP_MISMATCH] = "seccomp_mismatch",
	[RULES_EV_SECCOMP] = "seccomp",
	[RULES_EV_IO_URING] = "io_uring",
	[RULES_EV_TRACER_TAMPER] = "tracer_tamper",
};

const char *rules_event_type_name(int type)
{
	if (type < 0 || type >= RULES_EV__COUNT)
		return NULL;
	return event_names[type];
}

int rules_event_type_from_name(const char *name, size_t len)
{
	for (int i = 0; i < RULES_EV__COUNT; i++)
		if (strlen(event_names[i]) == len && !memcmp(event_names[i], name, len))
			return i;
	return -ENOENT;
}

/*
 * The attributes of a process, once for the event's process (ids 100+n),
 * its parent (200+n) and its ancestors (300+n, arrays, nearest first).
 * Columns: n, name, type, type over the ancestors (0: no such field),
 * process attribute, transformation, description.
 */
#define PROCESS_ATTRS(X) \
	X(0, "file.path", STRING, STRING_ARRAY, "file", NONE, \
	  "path of the executable") \
	X(1, "file.name", STRING, STRING_ARRAY, "file", BASENAME, \
	  "base name of the executable") \
	X(2, "argv", STRING_ARRAY, STRING_ARRAY, "argv", NONE, \
	  "arguments, argv[0] included") \
	X(3, "args", STRING, STRING_ARRAY, "argv", ARGS, \
	  "argv[1..] joined with single spaces") \
	X(4, "argv0", STRING, STRING_ARRAY, "argv", ARGV0, "argv[0]") \
	X(5, "comm", STRING, STRING_ARRAY, "comm", NONE, \
	  "thread name (/proc/PID/comm)") \
	X(6, "pid", INT, INT_ARRAY, "pid", NONE, "process id") \
	X(7, "ppid", INT, INT_ARRAY, "ppid", NONE, "the kernel's current parent process id") \
	X(8, "uid", INT, INT_ARRAY, "uid", NONE, "real user id") \
	X(9, "gid", INT, INT_ARRAY, "gid", NONE, "real group id") \
	X(10, "euid", INT, INT_ARRAY, "euid", NONE, "effective user id") \
	X(11, "egid", INT, INT_ARRAY, "egid", NONE, "effective group id") \
	X(12, "user", STRING, STRING_ARRAY, "user", NONE, \
	  "name of the real user") \
	X(13, "group", STRING, STRING_ARRAY, "group", NONE, \
	  "name of the real group") \
	X(14, "cwd", STRING, STRING_ARRAY, "cwd", NONE, \
	  "current working directory") \
	X(15, "envs", STRING_ARRAY, STRING_ARRAY, "envp", ENV_NAMES, \
	  "names of the environment variables") \
	X(16, "container.id", STRING, STRING_ARRAY, "container_id", NONE, \
	  "container id, \"\" on the host") \
	X(17, "tty_name", STRING, STRING_ARRAY, "tty", NONE, \
	  "controlling terminal, \"\" when none") \
	X(18, "created_at", DURATION, NONE, "start", AGE, \
	  "time since the process started (compare with a duration)") \
	X(19, "is_server", BOOL, BOOL, "is_server", NONE, \
	  "listened on a TCP port, bound a UDP port or accepted a TCP " \
	  "connection, or was forked by such a process and has not exec'd " \
	  "since (by behaviour, whatever its name; see docs/rules.md)") \
	X(20, "listen.ports", INT_ARRAY, INT_ARRAY, "listen_ports", NONE, \
	  "ports it listened or accepted on (at most 8; unknown ports of " \
	  "inherited listeners are left out)") \
	X(21, "names", STRING_ARRAY, STRING_ARRAY, "names", NONE, \
	  "its names: base names of the executable and of argv[0], and comm") \
	X(30, "stdin.type", STRING, STRING_ARRAY, "stdin", NONE, \
	  "what fd 0 was at the exec: pipe, socket, tty, file, null, none, other") \
	X(31, "stdout.type", STRING, STRING_ARRAY, "stdout", NONE, \
	  "what fd 1 was at the exec (as stdin.type)") \
	X(32, "stderr.type", STRING, STRING_ARRAY, "stderr", NONE, \
	  "what fd 2 was at the exec (as stdin.type)") \
	X(33, "stdin.writer.file.path", STRING, STRING_ARRAY, \
	  "stdin_writer_file", NONE, "executable of the last exec'd process " \
	  "whose stdout or stderr is the pipe that is this stdin") \
	X(34, "stdin.writer.file.name", STRING, STRING_ARRAY, \
	  "stdin_writer_file", BASENAME, "base name of stdin.writer.file.path") \
	X(35, "stdin.writer.comm", STRING, STRING_ARRAY, "stdin_writer_comm", \
	  NONE, "thread name of the stdin writer") \
	X(36, "stdin.writer.pid", INT, INT_ARRAY, "stdin_writer_pid", NONE, \
	  "process id of the stdin writer") \
	X(37, "stdin.upstream.file.name", STRING_ARRAY, NONE, "stdin_upstream", \
	  BASENAME, "base names of the processes up the pipeline, nearest " \
	  "first: the stdin writer, the writer of its stdin, … (8 at most)")

#define T_NONE ((enum rules_type)-1)
#define T(x) RULES_TYPE_##x
#define X_SELF(n, name, t, at, key, xf, doc) \
	{ 100 + (n), "process." name, T(t), RULES_EV_ANY, RULES_SRC_PROCESS, \
	  key, RULES_XFORM_##xf, doc },
#define X_PARENT(n, name, t, at, key, xf, doc) \
	{ 200 + (n), "process.parent." name, T(t), RULES_EV_ANY, \
	  RULES_SRC_PARENT, key, RULES_XFORM_##xf, "parent: " doc },
#define X_ANC(n, name, t, at, key, xf, doc) \
	{ 300 + (n), "process.ancestors." name, T(at), RULES_EV_ANY, \
	  RULES_SRC_ANCESTORS, key, RULES_XFORM_##xf, "every ancestor: " doc },
#define RULES_TYPE_NONE T_NONE

/* An event field: id, name, type, event, wire key, transformation, doc. */
#define EV(id, name, t, ev, key, xf, doc) \
	{ id, name, T(t), RULES_EV_##ev, RULES_SRC_EVENT, key, \
	  RULES_XFORM_##xf, doc },
#define RETVAL(ev, name) \
	EV(2000 + RULES_EV_##ev, name ".retval", INT, ev, "ret", NONE, \
	   "return value: >= 0 success, -errno failure")

static const struct rules_field fields[] = {
	{ 1, "event.type", T(STRING), RULES_EV_ANY, RULES_SRC_BUILTIN, "ev",
	  RULES_XFORM_NONE, "event kind: \"open\", \"exec\", …" },
	EV(2, "event.retval", INT, ANY, "ret", NONE,
	   "return value of the system call: >= 0 success, -errno failure")
	{ 3, "container.id", T(STRING), RULES_EV_ANY, RULES_SRC_PROCESS,
	  "container_id", RULES_XFORM_NONE,
	  "container id of the event's process, \"\" on the host" },
	PROCESS_ATTRS(X_SELF)
	PROCESS_ATTRS(X_PARENT)
	PROCESS_ATTRS(X_ANC)

	EV(1000, "exec.file.path", STRING, EXEC, "file", NONE,
	   "path of the executed file")
	EV(1001, "exec.file.name", STRING, EXEC, "file", BASENAME,
	   "base name of the executed file")
	EV(1002, "exec.argv", STRING_ARRAY, EXEC, "argv", NONE,
	   "arguments, argv[0] included")
	EV(1003, "exec.args", STRING, EXEC, "argv", ARGS,
	   "argv[1..] joined with single spaces")
	EV(1004, "exec.argv0", STRING, EXEC, "argv", ARGV0, "argv[0]")
	EV(1005, "exec.envs", STRING_ARRAY, EXEC, "envp", ENV_NAMES,
	   "names of the environment variables")
	EV(1006, "exec.uid", INT, EXEC, "uid", NONE, "real user id")
	EV(1007, "exec.euid", INT, EXEC, "euid", NONE, "effective user id")
	EV(1008, "exec.gid", INT, EXEC, "gid", NONE, "real group id")
	EV(1009, "exec.egid", INT, EXEC, "egid", NONE, "effective group id")
	EV(1010, "exec.cwd", STRING, EXEC, "cwd", NONE, "working directory")
	EV(1011, "exec.tty_name", STRING, EXEC, "tty", NONE,
	   "controlling terminal")
	EV(1012, "exec.tampered", BOOL, EXEC, "tampered", NONE,
	   "the kernel ran another file or argv than the call asked for "
	   "(not an interpreter for a script)")
	EV(1013, "exec.requested_file.path", STRING, EXEC, "requested_file",
	   NONE, "path the call asked for, when not the file that ran")
	EV(1014, "exec.requested_argv", STRING_ARRAY, EXEC, "requested_argv",
	   NONE, "argv the call asked for, when not the one that ran")

	EV(1020, "fork.child.pid", INT, FORK, "child", NONE,
	   "id of the new thread or process")
	EV(1021, "fork.thread", BOOL, FORK, "thread", NONE,
	   "true when a thread was created")
	EV(1030, "exit.code", INT, EXIT, "code", NONE,
	   "exit status, when the process exited")
	EV(1031, "exit.signal", INT, EXIT, "signal", NONE,
	   "signal that killed the process, 0 when it exited")
	EV(1032, "exit.core", BOOL, EXIT, "core", NONE, "a core was dumped")

	EV(1040, "open.file.path", STRING, OPEN, "path", NONE, "opened path")
	EV(1041, "open.file.name", STRING, OPEN, "path", BASENAME,
	   "base name of the opened path")
	EV(1042, "open.flags", INT, OPEN, "flags", NONE,
	   "open flags (O_*)")
	EV(1043, "open.file.mode", INT, OPEN, "mode", NONE,
	   "mode given for a created file (S_*)")
	EV(1044, "open.requested_file.path", STRING, OPEN, "requested_path",
	   NONE, "path as the call gave it, when not the file opened")
	EV(1045, "open.file.path_truncated", BOOL, OPEN, "path_truncated",
	   NONE, "the path is cut at 4 KiB or not absolute")

	EV(1050, "unlink.file.path", STRING, UNLINK, "path", NONE,
	   "removed path")
	EV(1051, "unlink.file.name", STRING, UNLINK, "path", BASENAME,
	   "base name of the removed path")
	EV(1052, "unlink.flags", INT, UNLINK, "flags", NONE,
	   "unlinkat flags")
	EV(1060, "rmdir.file.path", STRING, RMDIR, "path", NONE,
	   "removed directory")
	EV(1061, "rmdir.file.name", STRING, RMDIR, "path", BASENAME,
	   "base name of the removed directory")
	EV(1070, "rename.file.path", STRING, RENAME, "path", NONE,
	   "old path")
	EV(1071, "rename.file.name", STRING, RENAME, "path", BASENAME,
	   "base name of the old path")
	EV(1072, "rename.file.destination.path", STRING, RENAME, "dest", NONE,
	   "new path")
	EV(1073, "rename.file.destination.name", STRING, RENAME, "dest",
	   BASENAME, "base name of the new path")
	EV(1080, "mkdir.file.path", STRING, MKDIR, "path", NONE,
	   "created directory")
	EV(1081, "mkdir.file.name", STRING, MKDIR, "path", BASENAME,
	   "base name of the created directory")
	EV(1082, "mkdir.file.mode", INT, MKDIR, "mode", NONE,
	   "mode of the created directory")
	EV(1090, "link.file.path", STRING, LINK, "path", NONE,
	   "existing path")
	EV(1091, "link.file.destination.path", STRING, LINK, "dest", NONE,
	   "new link")
	EV(1100, "symlink.file.path", STRING, SYMLINK, "path", NONE,
	   "the new symbolic link")
	EV(1101, "symlink.file.destination.path", STRING, SYMLINK, "target",
	   NONE, "the link's text (its target, not resolved)")
	EV(1110, "chmod.file.path", STRING, CHMOD, "path", NONE,
	   "path whose mode changes")
	EV(1111, "chmod.file.destination.mode", INT, CHMOD, "mode", NONE,
	   "new mode (S_*)")
	EV(1120, "chown.file.path", STRING, CHOWN, "path", NONE,
	   "path whose owner changes")
	EV(1121, "chown.file.destination.uid", INT, CHOWN, "uid", NONE,
	   "new owner, -1: unchanged")
	EV(1122, "chown.file.destination.gid", INT, CHOWN, "gid", NONE,
	   "new group, -1: unchanged")
	EV(1130, "utimes.file.path", STRING, UTIMES, "path", NONE,
	   "path whose times change")
	EV(1140, "truncate.file.path", STRING, TRUNCATE, "path", NONE,
	   "truncated path")
	EV(1150, "mount.source.path", STRING, MOUNT, "source", NONE,
	   "mounted source")
	EV(1151, "mount.mountpoint.path", STRING, MOUNT, "target", NONE,
	   "mount point")
	EV(1152, "mount.fs_type", STRING, MOUNT, "fstype", NONE,
	   "file system type")
	EV(1153, "mount.flags", INT, MOUNT, "flags", NONE, "mount flags (MS_*)")
	EV(1160, "umount.mountpoint.path", STRING, UMOUNT, "target", NONE,
	   "unmounted mount point")
	EV(1170, "setuid.uid", INT, SETUID, "uid", NONE,
	   "new real user id, -1: unchanged")
	EV(1171, "setuid.euid", INT, SETUID, "euid", NONE,
	   "new effective user id, -1: unchanged")
	EV(1172, "setuid.fsuid", INT, SETUID, "fsuid", NONE,
	   "new file-system user id, -1: unchanged")
	EV(1173, "setuid.suid", INT, SETUID, "suid", NONE,
	   "new saved user id, -1: unchanged")
	EV(1180, "setgid.gid", INT, SETGID, "gid", NONE,
	   "new real group id, -1: unchanged")
	EV(1181, "setgid.egid", INT, SETGID, "egid", NONE,
	   "new effective group id, -1: unchanged")
	EV(1182, "setgid.fsgid", INT, SETGID, "fsgid", NONE,
	   "new file-system group id, -1: unchanged")
	EV(1183, "setgid.sgid", INT, SETGID, "sgid", NONE,
	   "new saved group id, -1: unchanged")
	EV(1190, "capset.cap_effective", INT, CAPSET, "effective", NONE,
	   "effective capability mask (CAP_*)")
	EV(1191, "capset.cap_permitted", INT, CAPSET, "permitted", NONE,
	   "permitted capability mask (CAP_*)")
	EV(1192, "capset.cap_inheritable", INT, CAPSET, "inheritable", NONE,
	   "inheritable capability mask (CAP_*)")
	EV(1200, "load_module.name", STRING, LOAD_MODULE, "name", NONE,
	   "module name")
	EV(1201, "load_module.file.path", STRING, LOAD_MODULE, "path", NONE,
	   "module file (finit_module)")
	EV(1202, "load_module.loaded_from_memory", BOOL, LOAD_MODULE,
	   "from_memory", NONE, "loaded from memory (init_module)")
	EV(1203, "load_module.args", STRING, LOAD_MODULE, "args", NONE,
	   "module parameters")
	EV(1210, "unload_module.name", STRING, UNLOAD_MODULE, "name", NONE,
	   "module name")
	EV(1220, "ptrace.request", INT, PTRACE, "request", NONE,
	   "request (PTRACE_*)")
	EV(1221, "ptrace.tracee.pid", INT, PTRACE, "target", NONE,
	   "traced process id")
	EV(1230, "memfd_create.name", STRING, MEMFD_CREATE, "name", NONE,
	   "name given to the memory file")
	EV(1231, "memfd_create.flags", INT, MEMFD_CREATE, "flags", NONE,
	   "memfd_create flags")
	EV(1240, "bpf.cmd", INT, BPF, "cmd", NONE, "command (BPF_*)")
	EV(1250, "prctl.option", INT, PRCTL, "option", NONE, "option (PR_*)")
	EV(1251, "prctl.new_name", STRING, PRCTL, "name", NONE,
	   "new thread name (PR_SET_NAME)")
	EV(1260, "chdir.file.path", STRING, CHDIR, "path", NONE,
	   "new working directory")
	EV(1261, "chdir.requested_file.path", STRING, CHDIR, "requested_path",
	   NONE, "directory as the call named it, when not the kernel's name")
	EV(1270, "socket.family", INT, SOCKET, "family", NONE,
	   "address family (AF_*)")
	EV(1271, "socket.type", INT, SOCKET, "type", NONE,
	   "socket type (SOCK_*)")
	EV(1272, "socket.protocol", INT, SOCKET, "protocol", NONE, "protocol")
	EV(1280, "bind.addr.ip", IP, BIND, "addr", NONE,
	   "bound IPv4 or IPv6 address")
	EV(1281, "bind.addr.port", INT, BIND, "port", NONE, "bound port")
	EV(1282, "bind.addr.family", INT, BIND, "family", NONE,
	   "address family (AF_*)")
	EV(1283, "bind.addr.path", STRING, BIND, "path", NONE,
	   "unix socket path (abstract names start with @)")
	EV(1290, "connect.addr.ip", IP, CONNECT, "addr", NONE,
	   "peer IPv4 or IPv6 address")
	EV(1291, "connect.addr.port", INT, CONNECT, "port", NONE, "peer port")
	EV(1292, "connect.addr.family", INT, CONNECT, "family", NONE,
	   "address family (AF_*)")
	EV(1293, "connect.addr.path", STRING, CONNECT, "path", NONE,
	   "unix socket path (abstract names start with @)")
	EV(1300, "listen.backlog", INT, LISTEN, "backlog", NONE, "backlog")
	EV(1310, "accept.addr.ip", IP, ACCEPT, "addr", NONE,
	   "peer IPv4 or IPv6 address")
	EV(1311, "accept.addr.port", INT, ACCEPT, "port", NONE, "peer port")
	EV(1312, "accept.addr.family", INT, ACCEPT, "family", NONE,
	   "address family (AF_*)")
	EV(1313, "accept.addr.path", STRING, ACCEPT, "path", NONE,
	   "unix socket path of the peer")
	EV(1320, "seccomp.operation", STRING, SECCOMP, "operation", NONE,
	   "\"strict\", \"filter\" or \"no_new_privs\" (prctl)")
	EV(1321, "seccomp.flags", INT, SECCOMP, "flags", NONE,
	   "SECCOMP_FILTER_FLAG_* of a seccomp(2) filter")
	EV(1322, "seccomp.actions", STRING_ARRAY, SECCOMP, "actions", NONE,
	   "what the filter can return: \"allow\", \"log\", \"trace\", "
	   "\"user_notif\", \"errno\", \"trap\", \"kill_thread\", "
	   "\"kill_process\", \"unknown\" (a computed return)")
	EV(1323, "seccomp.instructions", INT, SECCOMP, "instructions", NONE,
	   "length of the filter program")
	EV(1324, "seccomp.new_listener", BOOL, SECCOMP, "new_listener", NONE,
	   "the filter asks for a user-notification fd")
	EV(1330, "io_uring.syscall", STRING, IO_URING, "syscall", NONE,
	   "io_uring_setup, io_uring_enter or io_uring_register")
	EV(1331, "io_uring.entries", INT, IO_URING, "entries", NONE,
	   "submission queue size asked for (setup)")
	EV(1332, "io_uring.flags", INT, IO_URING, "flags", NONE,
	   "IORING_SETUP_* (setup) or IORING_ENTER_* (enter)")
	EV(1333, "io_uring.fd", INT, IO_URING, "fd", NONE,
	   "the ring's fd (enter, register)")
	EV(1334, "io_uring.to_submit", INT, IO_URING, "to_submit", NONE,
	   "submissions handed to the kernel (enter)")
	EV(1335, "io_uring.opcode", INT, IO_URING, "opcode", NONE,
	   "IORING_REGISTER_* (register)")
	EV(1340, "tracer_tamper.syscall", STRING, TRACER_TAMPER, "syscall", NONE,
	   "the refused call: ptrace, kill, tkill, tgkill, rt_sigqueueinfo, "
	   "rt_tgsigqueueinfo, pidfd_send_signal, pidfd_getfd, "
	   "process_vm_readv, process_vm_writev")
	EV(1341, "tracer_tamper.target.pid", INT, TRACER_TAMPER, "target", NONE,
	   "the pid or tid the call named (the tracer's, or 0/-1 for a group)")
	EV(1342, "tracer_tamper.signal", INT, TRACER_TAMPER, "signal", NONE,
	   "signal sent (kill family)")
	EV(1343, "tracer_tamper.request", INT, TRACER_TAMPER, "request", NONE,
	   "request (ptrace)")
	EV(1344, "tracer_tamper.fd", INT, TRACER_TAMPER, "fd", NONE,
	   "the tracer's descriptor asked for (pidfd_getfd)")

	EV(1900, "seccomp_mismatch.syscall", STRING, SECCOMP_MISMATCH, "syscall",
	   NONE, "the call that stopped, by the kernel's number (absent: not "
	   "in the catalog)")
	EV(1901, "seccomp_mismatch.nr", INT, SECCOMP_MISMATCH, "nr", NONE,
	   "its number in its ABI")
	EV(1902, "seccomp_mismatch.data", INT, SECCOMP_MISMATCH, "data", NONE,
	   "the SECCOMP_RET_TRACE data the stop carried (a tracee's filter's)")
	EV(1903, "seccomp_mismatch.claimed", STRING, SECCOMP_MISMATCH,
	   "claimed", NONE, "the call the data named with our tag, \"\": "
	   "not our tag")

	/* Standard streams at exec (ids 3300-3399). */
	EV(3300, "exec.stdin.type", STRING, EXEC, "stdin", NONE,
	   "what fd 0 is: pipe, socket, tty, file, null, none, other")
	EV(3301, "exec.stdout.type", STRING, EXEC, "stdout", NONE,
	   "what fd 1 is (as exec.stdin.type)")
	EV(3302, "exec.stderr.type", STRING, EXEC, "stderr", NONE,
	   "what fd 2 is (as exec.stdin.type)")
	EV(3303, "exec.stdin.path", STRING, EXEC, "stdin_path", NONE,
	   "path of fd 0 when a file, tty or other")
	EV(3304, "exec.stdout.path", STRING, EXEC, "stdout_path", NONE,
	   "path of fd 1 when a file, tty or other")
	EV(3305, "exec.stdin.socket.protocol", STRING, EXEC, "stdin_proto",
	   NONE, "tcp, tcp6, udp or udp6 when fd 0 is an internet socket")
	EV(3306, "exec.stdin.socket.peer", STRING, EXEC, "stdin_peer", NONE,
	   "peer address of fd 0's socket, \"ip:port\" ([ip]:port for IPv6)")
	EV(3307, "exec.stdin.socket.local", STRING, EXEC, "stdin_local", NONE,
	   "local address of fd 0's socket")
	EV(3308, "exec.stdout.socket.protocol", STRING, EXEC, "stdout_proto",
	   NONE, "as exec.stdin.socket.protocol, for fd 1")
	EV(3309, "exec.stdout.socket.peer", STRING, EXEC, "stdout_peer", NONE,
	   "peer address of fd 1's socket")
	EV(3310, "exec.stderr.socket.protocol", STRING, EXEC, "stderr_proto",
	   NONE, "as exec.stdin.socket.protocol, for fd 2")

	RETVAL(EXEC, "exec") RETVAL(FORK, "fork") RETVAL(OPEN, "open")
	RETVAL(UNLINK, "unlink") RETVAL(RMDIR, "rmdir")
	RETVAL(RENAME, "rename") RETVAL(MKDIR, "mkdir") RETVAL(LINK, "link")
	RETVAL(SYMLINK, "symlink") RETVAL(CHMOD, "chmod")
	RETVAL(CHOWN, "chown") RETVAL(UTIMES, "utimes")
	RETVAL(TRUNCATE, "truncate") RETVAL(MOUNT, "mount")
	RETVAL(UMOUNT, "umount") RETVAL(SETUID, "setuid")
	RETVAL(SETGID, "setgid") RETVAL(CAPSET, "capset")
	RETVAL(LOAD_MODULE, "load_module")
	RETVAL(UNLOAD_MODULE, "unload_module") RETVAL(PTRACE, "ptrace")
	RETVAL(MEMFD_CREATE, "memfd_create") RETVAL(BPF, "bpf")
	RETVAL(PRCTL, "prctl") RETVAL(CHDIR, "chdir")
	RETVAL(SOCKET, "socket") RETVAL(BIND, "bind")
	RETVAL(CONNECT, "connect") RETVAL(LISTEN, "listen")
	RETVAL(ACCEPT, "accept")
	RETVAL(SECCOMP, "seccomp") RETVAL(IO_URING, "io_uring")
	RETVAL(TRACER_TAMPER, "tracer_tamper")
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* Entries whose type is T_NONE (no ancestors' created_at) do not exist. */
static bool field_exists(const struct rules_field *f)
{
	return f->type != T_NONE;
}

size_t rules_field_count(void)
{
	size_t n = 0;

	for (size_t i = 0; i < NFIELDS; i++)
		n += field_exists(&fields[i]);
	return n;
}

const struct rules_field *rules_field_at(size_t i)
{
	for (size_t j = 0; j < NFIELDS; j++) {
		if (!field_exists(&fields[j]))
			continue;
		if (i-- == 0)
			return &fields[j];
	}
	return NULL;
}

const struct rules_field *rules_field_by_id(int id)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].id == id && field_exists(&fields[i]))
			return &fields[i];
	return NULL;
}

const struct rules_field *rules_field_by_name(const char *name, size_t len)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (field_exists(&fields[i]) && strlen(fields[i].name) == len &&
		    !memcmp(fields[i].name, name, len))
			return &fields[i];
	return NULL;
}

const char *rules_type_name(enum rules_type t)
{
	switch (t) {
	case RULES_TYPE_STRING: return "string";
	case RULES_TYPE_INT: return "int";
	case RULES_TYPE_BOOL: return "bool";
	case RULES_TYPE_IP: return "ip";
	case RULES_TYPE_DURATION: return "duration";
	case RULES_TYPE_STRING_ARRAY: return "string array";
	case RULES_TYPE_INT_ARRAY: return "int array";
	}
	return "?";
}

bool rules_field_is_path(const struct rules_field *f)
{
	size_t n = strlen(f->name);

	return (n >= 5 && !strcmp(f->name + n - 5, ".path")) ||
	       (n >= 4 && !strcmp(f->name + n - 4, ".cwd"));
}

static const char *source_doc(const struct rules_field *f, char *buf, size_t len)
{
	static const char *const xf[] = {
		[RULES_XFORM_NONE] = "",
		[RULES_XFORM_BASENAME] = ", base name",
		[RULES_XFORM_ARGS] = ", argv[1..] joined",
		[RULES_XFORM_ARGV0] = ", argv[0]",
		[RULES_XFORM_ENV_NAMES] = ", names",
		[RULES_XFORM_AGE] = ", age at the event",
	};
	const char *where = "";

	switch (f->source) {
	case RULES_SRC_EVENT: where = "event"; break;
	case RULES_SRC_PROCESS: where = "process"; break;
	case RULES_SRC_PARENT: where = "parent"; break;
	case RULES_SRC_ANCESTORS: where = "ancestors"; break;
	case RULES_SRC_BUILTIN: where = "built-in"; break;
	}
	snprintf(buf, len, "%s `%s`%s", where, f->key, xf[f->xform]);
	return buf;
}

int rules_fields_write_doc(FILE *f)
{
	char src[128];

	fputs("# Rule fields\n\n"
	      "<!-- Generated by `sentrace-rules-fields-doc` from the table in\n"
	      "     src/rules/fields.c: do not edit; a test checks it. -->\n\n"
	      "Every field the rule language knows. *Event* is the event type a\n"
	      "field belongs to (`*`: every type; a rule's event type is inferred\n"
	      "from its event fields, see docs/rules.md). *Source* tells the probe\n"
	      "where the value comes from: a key of the event map\n"
	      "(docs/protocol.md), an attribute of the event's process, of its\n"
	      "parent or of every ancestor, and how it is transformed. *Id* is the\n"
	      "stable number the evaluator asks the probe for.\n\n"
	      "Fields whose name ends in `.path` (and `.cwd`) are paths: in their\n"
	      "globs `*` stays within one component.\n\n"
	      "Lineage is the fork history. `process.parent` is the creator, the\n"
	      "process whose fork made this one, and `process.ancestors` are the\n"
	      "creators up the chain, nearest first; exited ones stay as long as a\n"
	      "descendant in the table names them. They do not follow the\n"
	      "kernel's re-parenting: after a double fork the daemon's parent is\n"
	      "still the exited intermediate and its ancestors still hold the\n"
	      "server that started it. `process.ppid` is the kernel's current\n"
	      "parent as the last exec or snapshot reported it (PID 1, a\n"
	      "subreaper or the tracer after re-parenting), so it can differ from\n"
	      "`process.parent.pid`. A process that no fork event named (attach\n"
	      "mode, the procfs scan) takes its current parent as its creator.\n\n"
	      "| Field | Type | Event | Source | Id | Description |\n"
	      "|---|---|---|---|---|---|\n", f);
	for (size_t i = 0; i < rules_field_count(); i++) {
		const struct rules_field *fl = rules_field_at(i);

		fprintf(f, "| `%s` | %s | %s | %s | %d | %s |\n", fl->name,
			rules_type_name(fl->type),
			fl->event < 0 ? "*" : rules_event_type_name(fl->event),
			source_doc(fl, src, sizeof(src)), fl->id, fl->doc);
	}
	fputs("\n## Event types\n\n", f);
	for (int i = 0; i < RULES_EV__COUNT; i++)
		fprintf(f, "%s`%s`", i ? ", " : "", event_names[i]);
	fputs(".\n\n## Constants\n\n"
	      "Named constants usable wherever an integer is: `O_*` open flags,\n"
	      "`S_*` mode bits, `CAP_*` capability masks (`1 << n`, as in capset\n"
	      "masks), `PTRACE_*` requests, `AF_*` families, `SOCK_*` types,\n"
	      "`BPF_*` commands, `SIG*` signals, `PR_*` prctl options, `MS_*`\n"
	      "mount flags. Values are those of the build machine's libc.\n\n", f);
	if (ferror(f))
		return -EIO;
	return 0;
}

/* ---- Named constants ---- */

struct constant {
	const char *name;
	int64_t value;
};

#define C(x) { #x, (int64_t)(x) }
#define CAP(name, n) { "CAP_" #name, (int64_t)1 << (n) }
#define BPFC(name, n) { "BPF_" #name, n }

static const struct constant constants[] = {
	C(O_RDONLY), C(O_WRONLY), C(O_RDWR), C(O_ACCMODE), C(O_CREAT),
	C(O_EXCL), C(O_NOCTTY), C(O_TRUNC), C(O_APPEND), C(O_NONBLOCK),
	C(O_DSYNC), C(O_SYNC), C(O_RSYNC), C(O_DIRECTORY), C(O_NOFOLLOW),
	C(O_CLOEXEC), C(O_ASYNC), C(O_DIRECT), C(O_LARGEFILE), C(O_NOATIME),
	C(O_PATH), C(O_TMPFILE), C(O_NDELAY),

	C(S_IFMT), C(S_IFSOCK), C(S_IFLNK), C(S_IFREG), C(S_IFBLK),
	C(S_IFDIR), C(S_IFCHR), C(S_IFIFO), C(S_ISUID), C(S_ISGID),
	C(S_ISVTX), C(S_IRWXU), C(S_IRUSR), C(S_IWUSR), C(S_IXUSR),
	C(S_IRWXG), C(S_IRGRP), C(S_IWGRP), C(S_IXGRP), C(S_IRWXO),
	C(S_IROTH), C(S_IWOTH), C(S_IXOTH),

	CAP(CHOWN, 0), CAP(DAC_OVERRIDE, 1), CAP(DAC_READ_SEARCH, 2),
	CAP(FOWNER, 3), CAP(FSETID, 4), CAP(KILL, 5), CAP(SETGID, 6),
	CAP(SETUID, 7), CAP(SETPCAP, 8), CAP(LINUX_IMMUTABLE, 9),
	CAP(NET_BIND_SERVICE, 10), CAP(NET_BROADCAST, 11), CAP(NET_ADMIN, 12),
	CAP(NET_RAW, 13), CAP(IPC_LOCK, 14), CAP(IPC_OWNER, 15),
	CAP(SYS_MODULE, 16), CAP(SYS_RAWIO, 17), CAP(SYS_CHROOT, 18),
	CAP(SYS_PTRACE, 19), CAP(SYS_PACCT, 20), CAP(SYS_ADMIN, 21),
	CAP(SYS_BOOT, 22), CAP(SYS_NICE, 23), CAP(SYS_RESOURCE, 24),
	CAP(SYS_TIME, 25), CAP(SYS_TTY_CONFIG, 26), CAP(MKNOD, 27),
	CAP(LEASE, 28), CAP(AUDIT_WRITE, 29), CAP(AUDIT_CONTROL, 30),
	CAP(SETFCAP, 31), CAP(MAC_OVERRIDE, 32), CAP(MAC_ADMIN, 33),
	CAP(SYSLOG, 34), CAP(WAKE_ALARM, 35), CAP(BLOCK_SUSPEND, 36),
	CAP(AUDIT_READ, 37), CAP(PERFMON, 38), CAP(BPF, 39),
	CAP(CHECKPOINT_RESTORE, 40),

	C(PTRACE_TRACEME), C(PTRACE_PEEKTEXT), C(PTRACE_PEEKDATA),
	C(PTRACE_PEEKUSER), C(PTRACE_POKETEXT), C(PTRACE_POKEDATA),
	C(PTRACE_POKEUSER), C(PTRACE_CONT), C(PTRACE_KILL),
	C(PTRACE_SINGLESTEP), C(PTRACE_GETREGS), C(PTRACE_SETREGS),
	C(PTRACE_GETFPREGS), C(PTRACE_SETFPREGS), C(PTRACE_ATTACH),
	C(PTRACE_DETACH), C(PTRACE_SYSCALL), C(PTRACE_SETOPTIONS),
	C(PTRACE_GETEVENTMSG), C(PTRACE_GETSIGINFO), C(PTRACE_SETSIGINFO),
	C(PTRACE_GETREGSET), C(PTRACE_SETREGSET), C(PTRACE_SEIZE),
	C(PTRACE_INTERRUPT), C(PTRACE_LISTEN), C(PTRACE_PEEKSIGINFO),

	C(AF_UNSPEC), C(AF_UNIX), C(AF_LOCAL), C(AF_INET), C(AF_INET6),
	C(AF_NETLINK), C(AF_PACKET), C(AF_VSOCK), C(AF_BLUETOOTH),
	C(AF_ALG), C(AF_CAN),

	C(SOCK_STREAM), C(SOCK_DGRAM), C(SOCK_RAW), C(SOCK_RDM),
	C(SOCK_SEQPACKET), C(SOCK_PACKET), C(SOCK_NONBLOCK), C(SOCK_CLOEXEC),

	/* The kernel's enum bpf_cmd: stable ABI numbers. */
	BPFC(MAP_CREATE, 0), BPFC(MAP_LOOKUP_ELEM, 1), BPFC(MAP_UPDATE_ELEM, 2),
	BPFC(MAP_DELETE_ELEM, 3), BPFC(MAP_GET_NEXT_KEY, 4),
	BPFC(PROG_LOAD, 5), BPFC(OBJ_PIN, 6), BPFC(OBJ_GET, 7),
	BPFC(PROG_ATTACH, 8), BPFC(PROG_DETACH, 9), BPFC(PROG_TEST_RUN, 10),
	BPFC(PROG_GET_NEXT_ID, 11), BPFC(MAP_GET_NEXT_ID, 12),
	BPFC(PROG_GET_FD_BY_ID, 13), BPFC(MAP_GET_FD_BY_ID, 14),
	BPFC(OBJ_GET_INFO_BY_FD, 15), BPFC(PROG_QUERY, 16),
	BPFC(RAW_TRACEPOINT_OPEN, 17), BPFC(BTF_LOAD, 18),
	BPFC(BTF_GET_FD_BY_ID, 19), BPFC(TASK_FD_QUERY, 20),
	BPFC(MAP_LOOKUP_AND_DELETE_ELEM, 21), BPFC(MAP_FREEZE, 22),
	BPFC(BTF_GET_NEXT_ID, 23), BPFC(MAP_LOOKUP_BATCH, 24),
	BPFC(MAP_LOOKUP_AND_DELETE_BATCH, 25), BPFC(MAP_UPDATE_BATCH, 26),
	BPFC(MAP_DELETE_BATCH, 27), BPFC(LINK_CREATE, 28),
	BPFC(LINK_UPDATE, 29), BPFC(LINK_GET_FD_BY_ID, 30),
	BPFC(LINK_GET_NEXT_ID, 31), BPFC(ENABLE_STATS, 32),
	BPFC(ITER_CREATE, 33), BPFC(LINK_DETACH, 34), BPFC(PROG_BIND_MAP, 35),
	BPFC(TOKEN_CREATE, 36),

	C(SIGHUP), C(SIGINT), C(SIGQUIT), C(SIGILL), C(SIGTRAP), C(SIGABRT),
	C(SIGBUS), C(SIGFPE), C(SIGKILL), C(SIGUSR1), C(SIGSEGV), C(SIGUSR2),
	C(SIGPIPE), C(SIGALRM), C(SIGTERM), C(SIGSTKFLT), C(SIGCHLD),
	C(SIGCONT), C(SIGSTOP), C(SIGTSTP), C(SIGTTIN), C(SIGTTOU),
	C(SIGURG), C(SIGXCPU), C(SIGXFSZ), C(SIGVTALRM), C(SIGPROF),
	C(SIGWINCH), C(SIGIO), C(SIGPWR), C(SIGSYS),

	C(PR_SET_PDEATHSIG), C(PR_GET_PDEATHSIG), C(PR_GET_DUMPABLE),
	C(PR_SET_DUMPABLE), C(PR_SET_KEEPCAPS), C(PR_SET_NAME),
	C(PR_GET_NAME), C(PR_SET_SECCOMP), C(PR_CAPBSET_DROP),
	C(PR_SET_SECUREBITS), C(PR_SET_MM), C(PR_SET_PTRACER),
	C(PR_SET_CHILD_SUBREAPER), C(PR_SET_NO_NEW_PRIVS), C(PR_CAP_AMBIENT),

	C(MS_RDONLY), C(MS_NOSUID), C(MS_NODEV), C(MS_NOEXEC),
	C(MS_SYNCHRONOUS), C(MS_REMOUNT), C(MS_MANDLOCK), C(MS_DIRSYNC),
	C(MS_NOATIME), C(MS_NODIRATIME), C(MS_BIND), C(MS_MOVE), C(MS_REC),
	C(MS_SILENT), C(MS_POSIXACL), C(MS_UNBINDABLE), C(MS_PRIVATE),
	C(MS_SLAVE), C(MS_SHARED), C(MS_RELATIME), C(MS_STRICTATIME),
	C(MS_LAZYTIME),
};

int rules_constant_lookup(const char *name, size_t len, int64_t *ret_value)
{
	for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++)
		if (strlen(constants[i].name) == len &&
		    !memcmp(constants[i].name, name, len)) {
			*ret_value = constants[i].value;
			return 0;
		}
	return -ENOENT;
}
