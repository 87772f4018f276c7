# SPDX-License-Identifier: Apache-2.0
"""Fail open when the tracer dies (issue 10, item 9): a redis-server given
the seccomp filter by --attach-seccomp, under a redis-benchmark load, and
a SIGKILL of the tracer. The guardian must take redis over, so that it
still accepts new connections, saves, logs and does not spin. Without the
guardian (SENTRACE_NO_GUARDIAN) the same kill leaves redis deaf to new
connections: accept fails with ENOSYS, as adversarial run 6B found."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import harness
from test_attach import free_port, resp, tracer_pids

CLK_TCK = os.sysconf('SC_CLK_TCK')


def cpu_seconds(pid):
    """utime + stime of the whole process, in seconds."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_field(pid, name):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(name + ':'):
                return line.split(':', 1)[1].strip()
    return None


def info(port, section):
    raw = resp(port, 'INFO', section).decode(errors='replace')
    return dict(line.split(':', 1) for line in raw.splitlines() if ':' in line)


def ping(port, timeout=2):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
            s.sendall(b'*1\r\n$4\r\nPING\r\n')
            return s.recv(64) == b'+PONG\r\n'
    except OSError:
        return False


class FailOpenTest(harness.TracedTestCase):

    def start_redis(self, name):
        server = shutil.which('redis-server')
        self.assertIsNotNone(server, 'redis-server is not installed (tools/setup installs it)')
        self.bench = shutil.which('redis-benchmark')
        self.assertIsNotNone(self.bench, 'redis-benchmark is not installed (redis-tools)')
        port = free_port()
        data = self.subdir(name)
        log = os.path.join(data, 'redis.log')
        redis = subprocess.Popen(
            [server, '--bind', '127.0.0.1', '--port', str(port), '--dir', data,
             '--save', '', '--appendonly', 'no', '--io-threads', '2',
             '--logfile', log, '--daemonize', 'no'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(redis.wait)
        self.addCleanup(redis.kill)
        harness.wait_for(lambda: ping(port), what='redis to answer')
        return redis, port, data, log

    def attach_and_load(self, redis, port, env=None):
        """sentrace --attach-seccomp on redis, the filter in, and a
        redis-benchmark running against it. Returns (tracer, bench)."""
        probe = self.start_probe()
        tracer = subprocess.Popen(
            [harness.SENTRACE, 'trace', '--probe-addr', probe.addr, '--attach-seccomp',
             '--pid', str(redis.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
            env=dict(os.environ, **(env or {})))
        self.addCleanup(tracer.stderr.close)
        self.addCleanup(harness.kill_group, tracer)
        harness.wait_for(lambda: all(t == tracer.pid for t in tracer_pids(redis.pid)),
                         what='every redis thread traced')
        # The filter goes in at the first system call of a thread.
        self.assertEqual(resp(port, 'SET', 'k', 'v'), b'+OK\r\n')
        harness.wait_for(lambda: status_field(redis.pid, 'Seccomp') == '2',
                         what='the seccomp filter in redis')
        done = int(info(port, 'stats')['total_commands_processed'])
        bench = subprocess.Popen(
            [self.bench, '-p', str(port), '-n', '100000', '-c', '8', '-t', 'set,get', '-q'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(bench.wait)
        self.addCleanup(bench.kill)
        # Mid-run: the benchmark has made some thousands of requests.
        harness.wait_for(
            lambda: int(info(port, 'stats')['total_commands_processed']) > done + 2000,
            what='the benchmark to be running')
        self.assertIsNone(bench.poll(), 'the benchmark ended before the kill')
        return tracer, bench

    def test_sigkill_tracer_attach_seccomp(self):
        redis, port, data, log = self.start_redis('redis')
        tracer, bench = self.attach_and_load(redis, port)

        tracer.kill()
        tracer.wait(timeout=30)
        killed_at = time.monotonic()

        # A fresh connection is accepted within a few seconds (today: ms).
        harness.wait_for(lambda: ping(port, timeout=1), timeout=10,
                         what='PING on a new connection after the SIGKILL')
        took = time.monotonic() - killed_at
        # The guardian holds every thread now: not the tracer, not nobody.
        guards = set(tracer_pids(redis.pid))
        self.assertEqual(len(guards), 1, guards)
        guard = guards.pop()
        self.assertNotIn(guard, (0, tracer.pid))
        with open('/proc/%d/comm' % guard) as f:
            self.assertEqual(f.read().strip(), 'sentrace-guard')

        # The load goes on to its end; the benchmark's connections are fine.
        self.assertEqual(bench.wait(timeout=200), 0)
        # Not spinning: with a new connection open and idle, redis uses
        # almost no CPU (a spinning redis burns all of the 2 s).
        with socket.create_connection(('127.0.0.1', port), timeout=10) as idle:
            before = cpu_seconds(redis.pid)
            time.sleep(2)
            spent = cpu_seconds(redis.pid) - before
            self.assertLess(spent, 0.5, 'redis used %.2f s of CPU in 2 s idle' % spent)
            idle.sendall(b'*1\r\n$4\r\nPING\r\n')
            self.assertEqual(idle.recv(64), b'+PONG\r\n')

        # It saves (a new connection, open, rename), in the foreground and
        # in a forked child, and it can write its log (reopened per line).
        self.assertEqual(resp(port, 'SAVE'), b'+OK\r\n')
        self.assertTrue(os.path.exists(os.path.join(data, 'dump.rdb')))
        self.assertEqual(resp(port, 'BGSAVE'), b'+Background saving started\r\n')
        harness.wait_for(lambda: info(port, 'persistence').get('rdb_bgsave_in_progress') == '0',
                         what='the BGSAVE to finish')
        self.assertEqual(info(port, 'persistence')['rdb_last_bgsave_status'], 'ok')
        with open(log, errors='replace') as f:
            lines = f.read()
        self.assertIn('DB saved on disk', lines)
        self.assertIn('Background saving terminated with success', lines)
        self.assertEqual(resp(port, 'GET', 'k'), b'$1\r\nv\r\n')

        # The guardian leaves with redis, and says what it did.
        redis.terminate()
        self.assertEqual(redis.wait(timeout=30), 0)
        err = tracer.stderr.read().decode(errors='replace')
        self.assertIn('took over', err)
        self.assertIn('the last guarded process has exited', err)
        harness.wait_for(lambda: not os.path.exists('/proc/%d' % guard) or
                         status_field(guard, 'State').startswith('Z'),
                         what='the guardian to exit')
        said = [l for l in err.splitlines() if 'took over' in l]
        print('new connection accepted %.3f s after the SIGKILL; %s' % (took, said[0]))

    def test_sigkill_tracer_without_guardian(self):
        # What the guardian is for: the same kill without it leaves every
        # new connection unanswered (accept fails with ENOSYS).
        redis, port, data, log = self.start_redis('redis-noguard')
        tracer, bench = self.attach_and_load(redis, port, {'SENTRACE_NO_GUARDIAN': '1'})
        tracer.kill()
        tracer.wait(timeout=30)
        harness.wait_for(lambda: tracer_pids(redis.pid) == [0] * len(tracer_pids(redis.pid)),
                         what='redis let go by the dead tracer')
        self.assertEqual(status_field(redis.pid, 'Seccomp'), '2')
        self.assertFalse(ping(port, timeout=2), 'a new connection was served')
        bench.kill()
        redis.kill()


    # A process that carries the filter and whose parent is gone: no scan
    # of the attached process's descendants finds it, only the set the
    # tracer kept of the processes it saw forked.
    ORPHAN = (
        'import os, sys\n'
        'def answer(s): sys.stdout.write(s + "\\n"); sys.stdout.flush()\n'
        'def try_open():\n'
        '    try:\n'
        '        os.close(os.open("/etc/hostname", os.O_RDONLY)); return "ok"\n'
        '    except OSError as e:\n'
        '        return "errno %d" % e.errno\n'
        'for line in sys.stdin:\n'
        '    if line.strip() == "fork":\n'
        '        if os.fork():\n'
        '            os._exit(0)\n'
        '        answer("child %d" % os.getpid())\n'
        '    else:\n'
        '        answer(try_open())\n')

    def test_sigkill_tracer_orphan(self):
        parent = subprocess.Popen([sys.executable, '-c', self.ORPHAN], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        self.addCleanup(parent.stdout.close)
        self.addCleanup(parent.stdin.close)
        probe = self.start_probe()
        tracer = subprocess.Popen(
            [harness.SENTRACE, 'trace', '--probe-addr', probe.addr, '--attach-seccomp',
             '--pid', str(parent.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(tracer.stderr.close)
        self.addCleanup(harness.kill_group, tracer)
        harness.wait_for(lambda: tracer_pids(parent.pid) == [tracer.pid],
                         what='the parent traced')

        def ask(what):
            parent.stdin.write(what + '\n')
            return parent.stdout.readline().strip()
        # Its first call takes the filter in; then it forks and exits.
        self.assertEqual(ask('open'), 'ok')
        self.assertEqual(status_field(parent.pid, 'Seccomp'), '2')
        child = int(ask('fork').split()[1])
        self.addCleanup(lambda: os.path.exists('/proc/%d' % child) and os.kill(child, 9))
        self.assertEqual(parent.wait(timeout=30), 0)
        harness.wait_for(lambda: status_field(child, 'PPid') != str(parent.pid),
                         what='the child orphaned')
        self.assertEqual(status_field(child, 'Seccomp'), '2')
        self.assertEqual(tracer_pids(child), [tracer.pid])
        self.assertEqual(ask('open'), 'ok')

        tracer.kill()
        tracer.wait(timeout=30)
        harness.wait_for(lambda: tracer_pids(child)[0] not in (0, tracer.pid),
                         what='the orphan taken over')
        # Its monitored open works (without the guardian: errno 38, ENOSYS).
        self.assertEqual(ask('open'), 'ok')
        parent.stdin.close()
        harness.wait_for(lambda: not os.path.exists('/proc/%d' % child) or
                         status_field(child, 'State').startswith('Z'),
                         what='the orphan to exit')
        self.assertIn('took over 1 thread(s) of 1 process(es)',
                      tracer.stderr.read().decode(errors='replace'))


if __name__ == '__main__':
    harness.main()
