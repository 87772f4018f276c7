# SPDX-License-Identifier: Apache-2.0
"""The ways a server is run: untraced, wrapped by sentrace, attached to by
sentrace, under strace. A variant starts a server and returns a Running:
the process to wait for, the roots of the process trees whose CPU time
counts (server, tracer, probe), and how to stop it all.

To add a variant (an attach flag that injects a seccomp filter, say), write
a class with `name`, `about` and `start(server)`, and add it to VARIANTS."""

import os
import re
import shutil
import signal
import subprocess

from benchlib import Probe, log, tracer_pids, tree, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def monitored_syscalls():
    """The system calls sentrace's seccomp filter stops on (its table in
    src/tracer/syscalls.c), plus the clone family that sentrace follows
    through ptrace events; names unknown on this architecture are marked
    with '?' so that strace skips them."""
    names = []
    try:
        with open(os.path.join(ROOT, 'src/tracer/syscalls.c')) as f:
            for m in re.finditer(r'^\s*(?:SC\(|\{ )"([a-z0-9_]+)", EV_', f.read(), re.M):
                names.append(m.group(1))
    except OSError:
        pass
    if not names:  # docs/protocol.md, by hand
        names = ('execve execveat open openat openat2 creat unlink unlinkat rmdir rename '
                 'renameat renameat2 mkdir mkdirat link linkat symlink symlinkat chmod fchmod '
                 'fchmodat chown lchown fchown fchownat utime utimes utimensat futimesat '
                 'truncate mount umount2 chdir fchdir memfd_create setuid setreuid setresuid '
                 'setfsuid setgid setregid setresgid setfsgid capset init_module finit_module '
                 'delete_module ptrace bpf prctl socket bind connect listen accept '
                 'accept4').split()
    names += ['fork', 'vfork', 'clone', 'clone3']
    seen, out = set(), []
    for n in names:
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out


class Running:
    def __init__(self, server, p, roots, stop_extra=(), probe=None, tracer=None):
        self.server, self.p, self.roots = server, p, roots
        self.stop_extra, self.probe, self.tracer = list(stop_extra), probe, tracer

    def stop(self):
        self.server.stop(self.p)
        for fn in self.stop_extra:
            fn()


class Untraced:
    name = 'untraced'
    about = 'the server alone'

    def __init__(self, ctx):
        self.ctx = ctx

    def start(self, server):
        p = self.ctx.procs.start(server.as_user(server.server_argv()),
                                 stdout=self.ctx.server_log(server), stderr=self.ctx.server_log(server))
        try:
            server.wait_ready(p)
        except Exception:
            server.stop(p)
            raise
        return Running(server, p, [p.pid])


class UntracedB(Untraced):
    name = 'untraced-b'
    about = 'the server alone again: the noise floor'


class Wrapped:
    name = 'sentrace'
    about = 'sentrace trace -- SERVER, default policy loaded in a running probe'

    def __init__(self, ctx):
        self.ctx = ctx

    def tracer_flags(self):
        return []

    def start(self, server):
        ctx = self.ctx
        probe = Probe(ctx.procs, ctx.probe_exe, 'probe-%s-%s' % (server.name, self.name),
                      extra=ctx.probe_flags)
        argv = [ctx.sentrace_exe, 'trace', '--probe-addr', probe.addr] + self.tracer_flags()
        if server.run_as:
            argv += ['--uid', str(server.run_as[1]), '--gid', str(server.run_as[2])]
        p = ctx.procs.start(argv + ['--'] + server.server_argv(),
                            stdout=ctx.server_log(server), stderr=ctx.server_log(server))
        try:
            server.wait_ready(p)
        except Exception:
            server.stop(p)
            probe.stop()
            raise
        return Running(server, p, [p.pid, probe.pid], [probe.stop], probe, p.pid)


class Attached:
    name = 'attach'
    about = 'sentrace trace --pid (every thread and descendant; no seccomp filter)'

    def __init__(self, ctx):
        self.ctx = ctx

    def tracer_flags(self):
        return []

    def start(self, server):
        ctx = self.ctx
        probe = Probe(ctx.procs, ctx.probe_exe, 'probe-%s-%s' % (server.name, self.name),
                      extra=ctx.probe_flags)
        p = ctx.procs.start(server.as_user(server.server_argv()),
                            stdout=ctx.server_log(server), stderr=ctx.server_log(server))
        try:
            server.wait_ready(p)
            main = server.main_pid()
        except Exception:
            server.stop(p)
            probe.stop()
            raise
        t = ctx.procs.start([ctx.sentrace_exe, 'trace', '--probe-addr', probe.addr]
                            + self.tracer_flags() + ['--pid', str(main)],
                            stdout=ctx.server_log(server), stderr=ctx.server_log(server))

        def attached():
            if t.poll() is not None:
                raise RuntimeError('sentrace --pid exited with %s' % t.returncode)
            pids = tree([main])
            return pids and all(tracer_pids(q) and all(x == t.pid for x in tracer_pids(q))
                                for q in pids)
        try:
            wait_for(attached, 30, 'sentrace to attach to every thread')
        except Exception:
            ctx.procs.stop(t, signal.SIGKILL)
            server.stop(p)
            probe.stop()
            raise

        def stop_tracer():
            ctx.procs.stop(t, signal.SIGTERM)
        # The tracer detaches (SIGTERM) before the server stops, so that
        # server shutdown is not traced; it is not part of any workload.
        r = Running(server, p, [main, t.pid, probe.pid], [probe.stop], probe, t.pid)
        r.stop = lambda: (stop_tracer(), server.stop(p), probe.stop())
        return r


class Strace:
    name = 'strace'
    about = 'strace -f --seccomp-bpf -e trace=(the same system calls) -o FILE'

    def __init__(self, ctx):
        self.ctx = ctx

    @staticmethod
    def available():
        return shutil.which('strace') is not None

    def start(self, server):
        ctx = self.ctx
        out = os.path.join(ctx.procs.tmp, 'strace-%s.out' % server.name)
        argv = ['strace', '-f', '--seccomp-bpf', '-qq', '-o', out,
                '-e', 'trace=' + ','.join('?' + n for n in monitored_syscalls())]
        if server.run_as:
            argv += ['-u', server.run_as[0]]
        p = ctx.procs.start(argv + ['--'] + server.server_argv(),
                            stdout=ctx.server_log(server), stderr=ctx.server_log(server))
        try:
            server.wait_ready(p)
        except Exception:
            server.stop(p)
            raise

        def rm():
            try:
                os.unlink(out)
            except OSError:
                pass
        return Running(server, p, [p.pid], [rm])


class AttachedSeccomp(Attached):
    name = 'attach-seccomp'
    about = ('sentrace trace --attach-seccomp --pid: the seccomp filter put into the '
             'attached processes, so that they stop only on monitored calls')

    def tracer_flags(self):
        return ['--attach-seccomp']

    @staticmethod
    def available(sentrace_exe):
        r = subprocess.run([sentrace_exe, 'trace', '--help'], capture_output=True, text=True)
        return '--attach-seccomp' in r.stdout + r.stderr

    def start(self, server):
        r = super().start(server)
        tracer = [p for p in self.ctx.procs.live if p.pid == r.tracer][0]

        # Processes given the filter stay traced until they exit (their
        # monitored calls would fail with ENOSYS without the tracer): the
        # server stops first, then the tracer.
        def stop():
            server.stop(r.p)
            try:
                tracer.wait(10)
            except subprocess.TimeoutExpired:
                pass
            self.ctx.procs.stop(tracer, signal.SIGTERM)
            r.probe.stop()
        r.stop = stop
        return r


VARIANTS = {v.name: v for v in (Untraced, UntracedB, Wrapped, Attached, AttachedSeccomp, Strace)}
# attach-seccomp joins when the tracer has the flag (see run).
DEFAULT_ORDER = ['untraced', 'untraced-b', 'sentrace', 'attach', 'strace']


def log_variants(names):
    for n in names:
        log('variant %-10s %s' % (n, VARIANTS[n].about))
