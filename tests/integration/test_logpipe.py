# SPDX-License-Identifier: Apache-2.0
"""The tracer never waits on its stderr.

sentrace's stderr is usually a pipe to a log collector, and it is shared
with the workload. Here the workload fills that pipe (nobody reads it),
then the probe goes away, so the tracer has warnings to write. A tracer
that wrote its log with a blocking write would hang in it, and every
tracee would stay stopped at its next monitored call. The workload must
go on, and the lines that did not fit are counted once the pipe drains."""

import fcntl
import os
import signal
import subprocess
import time

import harness

WORKLOAD = r'''
import os, sys
fd = os.open('/proc/self/fd/2', os.O_WRONLY | os.O_NONBLOCK)
n = 0
while True:
    try:
        n += os.write(fd, b'x' * 4096)
    except BlockingIOError:
        break
print('full', n, flush=True)
sys.stdin.readline()
for i in range(200):
    with open('/dev/null') as f:
        pass
print('alive', flush=True)
sys.stdin.readline()
'''


class LogPipeTest(harness.TracedTestCase):

    def test_full_stderr_does_not_freeze_the_workload(self):
        p = self.start_probe()
        r, w = os.pipe()
        argv = self.tracer_argv(['python3', '-c', WORKLOAD], probe_addr=p.addr)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=w, start_new_session=True, cwd=self.tmp)
        os.close(w)
        self.addCleanup(os.close, r)
        self.addCleanup(harness.kill_group, proc)
        line = proc.stdout.readline().decode()
        self.assertTrue(line.startswith('full '), line)
        # The tracer now has something to say: its probe is gone.
        p.proc.send_signal(signal.SIGKILL)
        p.proc.wait()
        time.sleep(1)
        proc.stdin.write(b'go\n')
        proc.stdin.flush()
        # A tracer blocked in its log write never lets the opens through.
        deadline = time.monotonic() + 30
        fcntl.fcntl(proc.stdout, fcntl.F_SETFL, os.O_NONBLOCK)
        got = b''
        while b'alive' not in got and time.monotonic() < deadline:
            try:
                got += proc.stdout.read() or b''
            except (BlockingIOError, TypeError):
                pass
            time.sleep(0.05)
        self.assertIn(b'alive', got, 'the workload froze behind its tracer\'s stderr')
        # Drained, the pipe takes the next line, which counts the lost ones.
        fcntl.fcntl(r, fcntl.F_SETFL, os.O_NONBLOCK)
        err = b''
        while True:
            try:
                chunk = os.read(r, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            err += chunk
        proc.stdin.write(b'done\n')
        proc.stdin.close()
        fcntl.fcntl(r, fcntl.F_SETFL, 0)
        self.assertEqual(proc.wait(timeout=60), 0)
        while True:
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            err += chunk
        text = err.replace(b'x', b'').decode(errors='replace')
        self.assertRegex(text, r'sentrace: warning: \d+ log line\(s\) lost: stderr was full')


if __name__ == '__main__':
    harness.main()
