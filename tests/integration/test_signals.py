# SPDX-License-Identifier: Apache-2.0
"""Signals: the tracer forwards the signals it receives to the application
and re-injects the ones sent to a tracee directly, realtime ones included."""

import os
import select
import signal
import subprocess
import time

import harness

FORWARDED = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
             signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH]
DIRECT = [signal.SIGRTMIN + 3]


class LineReader:
    """Reads lines from a pipe with a deadline."""

    def __init__(self, f):
        self.fd = f.fileno()
        self.buf = b''
        self.seen = []

    def readline(self, timeout=20):
        deadline = time.monotonic() + timeout
        while b'\n' not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError('no line within %ds; got so far: %r'
                                     % (timeout, self.seen))
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    raise AssertionError('end of output; got so far: %r' % self.seen)
                self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        line = line.decode()
        self.seen.append(line)
        return line


class SignalTest(harness.TracedTestCase):

    def run_sigtest(self, to_tracer, to_tracee):
        """Sends TO_TRACER to the tracer and then TO_TRACEE to the tracee,
        one at a time, each acknowledged by sigtest before the next."""
        probe = self.start_probe()
        argv = self.tracer_argv([harness.helper('sigtest')], probe_addr=probe.addr)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            out = LineReader(proc.stdout)
            line = out.readline()
            self.assertTrue(line.startswith('ready '), line)
            tracee = int(line.split()[1])
            self.assertNotEqual(tracee, proc.pid)
            for sig in to_tracer:
                os.kill(proc.pid, sig)
                self.assertEqual(out.readline(), 'got %d' % sig,
                                 'signal %s sent to the tracer' % signal.Signals(sig).name)
            for sig in to_tracee:
                os.kill(tracee, sig)
                self.assertEqual(out.readline(), 'got %d' % sig,
                                 'signal %d sent to the tracee' % sig)
            proc.stdin.close()
            rc = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                harness.kill_group(proc)
                proc.wait()
            err = proc.stderr.read().decode(errors='replace')
            proc.stdout.close()
            proc.stderr.close()
        self.assertEqual(rc, 255, 'tracer exit status (sigtest bitmask); stderr:\n' + err)
        self.assertEqual(probe.stop(), 0)
        run = harness.Run(argv, rc, '', err, probe)
        ex = run.one(ev='exit', pid=tracee)
        self.assertEqual(ex.get('code'), 255, ex)

    def test_forward_and_reinject(self):
        self.run_sigtest(FORWARDED, DIRECT)

    def test_reinject_all(self):
        self.run_sigtest([], FORWARDED + DIRECT)

    def test_group_stop_and_continue(self):
        # A traced process stopped with SIGSTOP really stops (the tracer
        # listens, it does not resume it) and goes on after SIGCONT.
        ticks = os.path.join(self.tmp, 'ticks')
        code = ('import time\n'
                'while True:\n'
                '    with open(%r, "a") as f: f.write("x")\n'
                '    time.sleep(0.02)\n' % ticks)
        probe = self.start_probe()
        proc = subprocess.Popen(self.tracer_argv(['python3', '-c', code], (), probe.addr),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(harness.kill_group, proc)
        size = lambda: os.path.getsize(ticks) if os.path.exists(ticks) else 0
        harness.wait_for(lambda: size() > 3, what='the workload to tick')
        with open('/proc/%d/task/%d/children' % (proc.pid, proc.pid)) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, signal.SIGSTOP)
        time.sleep(0.3)
        stopped_at = size()
        time.sleep(0.5)
        self.assertEqual(size(), stopped_at, 'the workload kept running after SIGSTOP')
        os.kill(pid, signal.SIGCONT)
        harness.wait_for(lambda: size() > stopped_at + 3, what='ticks after SIGCONT')
        os.kill(pid, signal.SIGKILL)
        self.assertEqual(harness.exit_status(proc.wait(timeout=30)), 128 + signal.SIGKILL)


if __name__ == '__main__':
    harness.main()
