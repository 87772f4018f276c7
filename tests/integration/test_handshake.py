# SPDX-License-Identifier: Apache-2.0
"""The startup handshake: without an answering probe the application does
not start, unless --async."""

import os
import socket
import threading

import harness


class SilentProbe:
    """Accepts connections on a unix socket and never answers."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.conns = []
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.close()


class HandshakeTest(harness.TracedTestCase):

    def no_probe(self, extra):
        target = os.path.join(self.tmp, 'touched')
        run = self.trace(['touch', target],
                         ['--handshake-timeout', '1s'] + extra,
                         probe=False, probe_addr='unix:/nonexistent', timeout=30)
        return run, target

    def test_no_probe_refuses_to_start(self):
        run, target = self.no_probe([])
        self.assertNotEqual(run.returncode, 0, run.summary())
        self.assertFalse(os.path.exists(target), 'the application ran')
        msg = run.stderr.lower()
        self.assertTrue('probe' in msg or '/nonexistent' in msg,
                        'no clear message: %r' % run.stderr)

    def test_no_probe_async_runs(self):
        run, target = self.no_probe(['--async'])
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertTrue(os.path.exists(target), 'the application did not run')

    def test_silent_probe_times_out(self):
        path = os.path.join(self.tmp, 'silent.sock')
        silent = SilentProbe(path)
        self.addCleanup(silent.close)
        target = os.path.join(self.tmp, 'touched')
        run = self.trace(['touch', target], ['--handshake-timeout', '1s'],
                         probe=False, probe_addr='unix:' + path, timeout=30)
        self.assertNotEqual(run.returncode, 0, run.summary())
        self.assertFalse(os.path.exists(target), 'the application ran')
        self.assertTrue(run.stderr.strip(), 'no message')
        self.assertTrue(silent.conns, 'the tracer never connected')

    def test_silent_probe_async_runs(self):
        path = os.path.join(self.tmp, 'silent.sock')
        silent = SilentProbe(path)
        self.addCleanup(silent.close)
        target = os.path.join(self.tmp, 'touched')
        run = self.trace(['touch', target], ['--handshake-timeout', '1s', '--async'],
                         probe=False, probe_addr='unix:' + path, timeout=30)
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertTrue(os.path.exists(target), 'the application did not run')


if __name__ == '__main__':
    harness.main()
