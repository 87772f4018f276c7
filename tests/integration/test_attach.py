# SPDX-License-Identifier: Apache-2.0
"""Attach mode on running processes: a real multithreaded redis-server,
pids that cannot be traced, and a detach that leaves pending signals alone."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import harness


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def resp(port, *args):
    """One Redis command over a fresh connection (RESP), its raw reply."""
    msg = b'*%d\r\n' % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        msg += b'$%d\r\n%s\r\n' % (len(a), a)
    with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
        s.sendall(msg)
        return s.recv(65536)


def tracer_pids(pid):
    """TracerPid of every thread of pid."""
    out = []
    for tid in os.listdir('/proc/%d/task' % pid):
        with open('/proc/%d/task/%s/status' % (pid, tid)) as f:
            for line in f:
                if line.startswith('TracerPid:'):
                    out.append(int(line.split()[1]))
    return out


class AttachTest(harness.TracedTestCase):

    def attach(self, pids, extra=()):
        probe = self.start_probe()
        argv = [harness.SENTRACE, 'trace', '--probe-addr', probe.addr] + list(extra)
        for p in pids:
            argv += ['--pid', str(p)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        self.addCleanup(harness.kill_group, proc)
        return probe, proc

    def wait_snapshot(self, probe, pid):
        return harness.wait_for(
            lambda: [r for r in probe.records() if r.get('type') == 'process'
                     and r.get('process', {}).get('pid') == pid],
            what='the snapshot of pid %d' % pid)

    def detach(self, proc):
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        return proc.returncode, err.decode(errors='replace')

    def test_redis(self):
        server = shutil.which('redis-server')
        self.assertIsNotNone(server, 'redis-server is not installed (tools/setup installs it)')
        port = free_port()
        data = self.subdir('redis')
        saves = self.subdir('saves')
        redis = subprocess.Popen(
            [server, '--bind', '127.0.0.1', '--port', str(port), '--dir', data,
             '--save', '', '--appendonly', 'no', '--io-threads', '2',
             '--enable-protected-configs', 'yes', '--daemonize', 'no'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(redis.wait)
        self.addCleanup(redis.kill)
        harness.wait_for(lambda: self.ping(port), what='redis to answer')
        threads = len(os.listdir('/proc/%d/task' % redis.pid))
        self.assertGreater(threads, 1, 'redis should be multithreaded')

        probe, tracer = self.attach([redis.pid])
        snap = self.wait_snapshot(probe, redis.pid)[0]['process']
        self.assertIn('redis-server', snap['argv'][0], snap)
        self.assertEqual(snap['comm'], 'redis-server', snap)
        self.assertTrue(all(t == tracer.pid for t in tracer_pids(redis.pid)),
                        'every thread is traced')

        self.assertEqual(resp(port, 'SET', 'k', 'v'), b'+OK\r\n')
        self.assertEqual(resp(port, 'CONFIG', 'SET', 'dir', saves), b'+OK\r\n')
        self.assertEqual(resp(port, 'SAVE'), b'+OK\r\n')

        rc, err = self.detach(tracer)
        self.assertEqual(rc, 0, err)
        self.assertEqual(tracer_pids(redis.pid), [0] * len(tracer_pids(redis.pid)))
        # redis keeps serving, with its data.
        self.assertIsNone(redis.poll())
        self.assertEqual(resp(port, 'GET', 'k'), b'$1\r\nv\r\n')
        self.assertEqual(probe.stop(), 0, probe.log_text())

        run = harness.Run(['attach'], rc, '', err, probe)
        accepts = run.find(ev='accept', pid=redis.pid, addr='127.0.0.1')
        self.assertGreaterEqual(len([a for a in accepts if a['ret'] >= 0]), 3,
                                run.describe(run.find(ev='accept')))
        opens = [e for e in run.find(ev='open', pid=redis.pid)
                 if e.get('path', '').startswith(os.path.realpath(saves) + '/')
                 and e['ret'] >= 0 and e['flags'] & os.O_CREAT]
        self.assertTrue(opens, 'the SAVE wrote a file in the new dir' + run.describe())
        renames = run.find(ev='rename', pid=redis.pid,
                           dest=os.path.join(os.path.realpath(saves), 'dump.rdb'))
        self.assertEqual(len(renames), 1, run.describe(run.find(ev='rename')))
        for ev in run.events:
            self.assertEqual(ev['_session'].get('mode'), 'attached')

    def test_descendants(self):
        # A shell with a child running: by default both are attached; with
        # --no-descendants only the shell.
        parent = subprocess.Popen(['sh', '-c', 'sleep 60 & echo $!; wait'],
                                  stdout=subprocess.PIPE, start_new_session=True)
        self.addCleanup(parent.stdout.close)
        self.addCleanup(parent.wait)
        self.addCleanup(harness.kill_group, parent)
        child = int(parent.stdout.readline())
        for extra, want in (((), {parent.pid, child}), (('--no-descendants',), {parent.pid})):
            probe, tracer = self.attach([parent.pid], extra)
            self.wait_snapshot(probe, parent.pid)
            rc, err = self.detach(tracer)
            self.assertEqual(rc, 0, err)
            self.assertEqual(probe.stop(), 0)
            snaps = {r['process']['pid'] for r in probe.records() if r.get('type') == 'process'}
            self.assertEqual(snaps, want, extra)
        self.assertIsNone(parent.poll())

    def test_redis_attach_seccomp(self):
        server = shutil.which('redis-server')
        self.assertIsNotNone(server, 'redis-server is not installed (tools/setup installs it)')
        port = free_port()
        data = self.subdir('redis-seccomp')
        redis = subprocess.Popen(
            [server, '--bind', '127.0.0.1', '--port', str(port), '--dir', data,
             '--save', '', '--appendonly', 'no', '--io-threads', '2',
             '--daemonize', 'no'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(redis.wait)
        self.addCleanup(redis.kill)
        harness.wait_for(lambda: self.ping(port), what='redis to answer')

        probe, tracer = self.attach([redis.pid], ['--attach-seccomp'])
        self.wait_snapshot(probe, redis.pid)
        # The filter goes in at the first system call of any thread.
        self.assertEqual(resp(port, 'SET', 'k', 'v'), b'+OK\r\n')

        def filters():
            with open('/proc/%d/status' % redis.pid) as f:
                for line in f:
                    if line.startswith('Seccomp_filters:'):
                        return int(line.split()[1])
            return 0
        harness.wait_for(lambda: filters() == 1, what='one seccomp filter in redis')
        for _ in range(20):
            self.assertEqual(resp(port, 'GET', 'k'), b'$1\r\nv\r\n')
        self.assertEqual(resp(port, 'SAVE'), b'+OK\r\n')

        # SIGTERM cannot let a filtered process go: the tracer stays, and
        # redis keeps working, until redis exits.
        tracer.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        self.assertIsNone(tracer.poll(), 'the tracer must not leave a filtered process')
        self.assertEqual(resp(port, 'GET', 'k'), b'$1\r\nv\r\n')
        redis.terminate()
        redis.wait(timeout=30)
        out, err = tracer.communicate(timeout=30)
        err = err.decode(errors='replace')
        self.assertEqual(tracer.returncode, 0, err)
        self.assertIn('stay traced until they exit', err)
        self.assertEqual(probe.stop(), 0, probe.log_text())

        run = harness.Run(['attach'], 0, '', err, probe)
        accepts = [a for a in run.find(ev='accept', pid=redis.pid) if a['ret'] >= 0]
        self.assertGreaterEqual(len(accepts), 23, run.describe(run.find(ev='accept')))
        self.assertTrue(run.find(ev='rename', pid=redis.pid,
                                 dest=os.path.join(os.path.realpath(data), 'dump.rdb')))
        stats = [r for r in probe.records() if r.get('type') == 'stats'][-1]['counters']
        self.assertEqual(stats['filters_injected'], 1, stats)
        # With the filter, a GET (read, write, epoll) stops nowhere: far
        # fewer stops than the thousands of calls redis made.
        self.assertGreater(stats['seccomp_stops'], 0, stats)

    def ping(self, port):
        try:
            return resp(port, 'PING') == b'+PONG\r\n'
        except OSError:
            return False

    def test_bad_pids(self):
        unused = next(p for p in range(4000000, 3000000, -1)
                      if not os.path.exists('/proc/%d' % p))
        probe, tracer = self.attach([unused])
        out, err = tracer.communicate(timeout=30)
        err = err.decode(errors='replace')
        self.assertEqual(tracer.returncode, 1, err)
        self.assertIn('pid %d: no such process' % unused, err)
        self.assertIn('no process could be traced', err)

        # One bad pid among good ones: the good one is still traced.
        sleeper = subprocess.Popen(['sleep', '60'])
        self.addCleanup(sleeper.wait)
        self.addCleanup(sleeper.kill)
        probe, tracer = self.attach([unused, sleeper.pid])
        self.wait_snapshot(probe, sleeper.pid)
        rc, err = self.detach(tracer)
        self.assertEqual(rc, 0, err)
        self.assertIn('pid %d: no such process' % unused, err)
        self.assertIsNone(sleeper.poll())

        # A process that another tracer holds is refused, with who holds it.
        probe, first = self.attach([sleeper.pid])
        self.wait_snapshot(probe, sleeper.pid)
        _, second = self.attach([sleeper.pid])
        out, err = second.communicate(timeout=30)
        self.assertEqual(second.returncode, 1)
        self.assertIn('pid %d: already traced by pid %d' % (sleeper.pid, first.pid),
                      err.decode(errors='replace'))
        rc, err = self.detach(first)
        self.assertEqual(rc, 0, err)
        self.assertIsNone(sleeper.poll())

    def test_pending_signal_survives_detach(self):
        # The tracee blocks SIGUSR1, so the signal sent while it is traced
        # stays pending; after the detach it must still be there.
        code = ('import signal, sys\n'
                'signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])\n'
                'print("ready", flush=True)\n'
                'sys.stdin.readline()\n'
                'print("pending", sorted(int(s) for s in signal.sigpending()), flush=True)\n')
        child = subprocess.Popen([sys.executable, '-c', code], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE)
        self.addCleanup(child.kill)
        self.assertEqual(child.stdout.readline().strip(), b'ready')
        probe, tracer = self.attach([child.pid])
        self.wait_snapshot(probe, child.pid)
        os.kill(child.pid, signal.SIGUSR1)
        rc, err = self.detach(tracer)
        self.assertEqual(rc, 0, err)
        self.assertEqual(tracer_pids(child.pid), [0] * len(tracer_pids(child.pid)))
        out, _ = child.communicate(b'go\n', timeout=30)
        self.assertEqual(child.returncode, 0)
        self.assertEqual(out.strip(), ('pending [%d]' % signal.SIGUSR1).encode())


if __name__ == '__main__':
    harness.main()
