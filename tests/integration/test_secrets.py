# SPDX-License-Identifier: Apache-2.0
"""Secrets stay out of the log (issue #11, item 4).

A workload runs with secrets in its environment under the real tracer and
probe: no value but the kept ones reaches the probe's event log, its alert
file, its log or the tracer's own output, while the names do and the rules
on names (the default policy's and one of our own) still fire. A raw client
that sends values, as an older tracer would, is cut by the probe itself.
The files the probe creates are 0600 (0640 with output.file_group) even
under umask 000, and an existing file is tightened, never loosened.
"""

import grp
import json
import os
import signal
import socket
import stat
import subprocess
import threading

import harness
import wireclient as w

SECRET = 'hunter2'
KEPT = 'keptvalue4711'

POLICY = '''
rules:
  - id: test_secret_env_name
    description: A program run with SECRET_TOKEN in its environment
    severity: low
    tags: {tactic: TA0006, technique: T1552.007}
    expression: exec.envs in ["SECRET_TOKEN"] && exec.file.name == "true"
'''

CONFIG = '''
runtime_security_config:
  env_keep: [KEEP_ME_VAR, PATH]
'''


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class SecretsTest(harness.TracedTestCase):

    def start_probe(self, extra=(), config=CONFIG, policy=True, env=None, d=None):
        if d is None:
            self.nprobes = getattr(self, 'nprobes', 0) + 1
            d = self.subdir('probe%d' % self.nprobes)
        self.sock = os.path.join(d, 'probe.sock')
        self.events = os.path.join(d, 'events.jsonl')
        self.alerts = os.path.join(d, 'alerts.jsonl')
        self.plog = os.path.join(d, 'probe.log')
        argv = [harness.PROBE, 'run', '-d', '--listen', 'unix:' + self.sock,
                '--output', self.events, '--alerts', self.alerts, '--format', 'json']
        if config is not None:
            cfg = os.path.join(d, 'probe.yaml')
            with open(cfg, 'w') as f:
                f.write(config)
            argv += ['--config', cfg]
        if policy:
            pol = os.path.join(d, 'secret.policy')
            with open(pol, 'w') as f:
                f.write(POLICY)
            argv += ['--policy', os.path.join(harness.REPO, 'contrib', 'policy'),
                     '--policy', pol]
        else:
            argv += ['--no-policy']
        with open(self.plog, 'wb') as log:
            # umask 000: the modes must not come from the umask.
            self.proc = subprocess.Popen(argv + list(extra), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=lambda: os.umask(0),
                                         env=dict(os.environ, **(env or {})))
        self.addCleanup(self.proc.kill)
        harness.wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None,
                         what='the probe socket')
        self.assertIsNone(self.proc.poll(), self.read(self.plog))
        return d

    def stop_probe(self):
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(20), 0, self.read(self.plog))

    @staticmethod
    def read(path):
        with open(path, errors='replace') as f:
            return f.read()

    def files_text(self, d):
        """Every file the probe wrote, by name."""
        return {n: self.read(os.path.join(d, n)) for n in os.listdir(d)
                if os.path.isfile(os.path.join(d, n))}

    def test_env_values_stay_out(self):
        """SECRET_TOKEN=hunter2 (and POOL_PASSWORD=hunter2, a variable the
        default policy names) in a workload's environment: hunter2 is in no
        output file, log or the tracer's output; the names are there, the
        rules on names fire, and the allow-listed variable keeps its value."""
        d = self.start_probe()
        env = dict(os.environ, SECRET_TOKEN=SECRET, POOL_PASSWORD=SECRET,
                   KEEP_ME_VAR=KEPT)
        tracer = subprocess.run(
            [harness.SENTRACE, 'trace', '--debug', '--probe-addr', 'unix:' + self.sock,
             '--keep-env', 'KEEP_ME_VAR', '--keep-env', 'PATH', '--',
             'sh', '-c', '/bin/true; cat /proc/self/environ > /dev/null; /bin/true'],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, cwd=self.tmp, timeout=60)
        self.assertEqual(tracer.returncode, 0, tracer.stderr.decode(errors='replace'))
        self.stop_probe()
        texts = self.files_text(d)
        for name in ('events.jsonl', 'alerts.jsonl', 'probe.log'):
            self.assertIn(name, texts)
        for name, text in texts.items():
            self.assertNotIn(SECRET, text, name)
        self.assertNotIn(SECRET.encode(), tracer.stdout + tracer.stderr, 'tracer output')

        evs = [r['event'] for r in harness_lines(texts['events.jsonl'])
               if r.get('type') == 'event' and r['event'].get('ev') == 'exec']
        trues = [e for e in evs if os.path.basename(e.get('file', '')) == 'true']
        self.assertTrue(trues, texts['events.jsonl'][:2000])
        for e in trues:
            self.assertIn('SECRET_TOKEN', e['envp'])
            self.assertIn('POOL_PASSWORD', e['envp'])
            self.assertIn('KEEP_ME_VAR=' + KEPT, e['envp'])
            self.assertIn('PATH=' + os.environ['PATH'], e['envp'])
        alerts = harness_lines(texts['alerts.jsonl'])
        rules = {a.get('rule_id') for a in alerts}
        self.assertIn('test_secret_env_name', rules, texts['alerts.jsonl'][:2000])
        self.assertIn('crypto_miner_by_env', rules, texts['alerts.jsonl'][:2000])
        self.assertIn('SECRET_TOKEN', texts['alerts.jsonl'])
        self.assertIn('KEEP_ME_VAR=' + KEPT, texts['alerts.jsonl'])
        # umask 000 and still only the owner.
        self.assertEqual(mode(os.path.join(d, 'events.jsonl')), 0o600)
        self.assertEqual(mode(os.path.join(d, 'alerts.jsonl')), 0o600)

    def test_probe_cuts_values_of_any_tracer(self):
        """A client that sends values (an older tracer, or one whose
        --keep-env keeps more): the probe's own env_keep decides what is
        written, for events and process snapshots alike."""
        d = self.start_probe()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock)
        ack = w.handshake(s, w.hello_body('old-tracer', 1, 4242))
        self.assertEqual((ack['type'], ack['error']), (w.HELLO_ACK, ''))
        envp = ['SECRET_TOKEN=' + SECRET, 'KEEP_ME_VAR=' + KEPT, 'EMPTY=', 'NOEQUALS']
        s.sendall(w.msg(w.PROCESS, processes=[dict(
            pid=4300, ppid=1, file='/usr/bin/old', argv=['old'], envp=envp)]))
        s.sendall(w.msg(w.EVENTS, seq=1, events=[dict(
            ev='exec', syscall='execve', ts=1, pid=4301, tid=4301, ret=0,
            file='/usr/bin/true', argv=['true'], envp=envp)]))
        self.assertEqual(w.read_frame(s)['type'], w.ACK)
        s.close()
        self.stop_probe()
        texts = self.files_text(d)
        for name, text in texts.items():
            self.assertNotIn(SECRET, text, name)
        recs = harness_lines(texts['events.jsonl'])
        want = ['SECRET_TOKEN', 'KEEP_ME_VAR=' + KEPT, 'EMPTY', 'NOEQUALS']
        snap = [r['process'] for r in recs if r.get('type') == 'process']
        ex = [r['event'] for r in recs if r.get('type') == 'event']
        self.assertEqual([p['envp'] for p in snap], [want], recs)
        self.assertEqual([e['envp'] for e in ex], [want], recs)
        self.assertIn('test_secret_env_name',
                      {a.get('rule_id') for a in harness_lines(texts['alerts.jsonl'])})

    def test_no_value_kept(self):
        """--keep-env '' and env_keep: []: not even the defaults' values."""
        d = self.start_probe(config='runtime_security_config:\n  env_keep: []\n',
                             policy=False)
        env = dict(os.environ, SECRET_TOKEN=SECRET, GLIBC_TUNABLES='glibc.malloc.check=0')
        tracer = subprocess.run(
            [harness.SENTRACE, 'trace', '--probe-addr', 'unix:' + self.sock,
             '--keep-env', '', '--', 'true'],
            stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=60)
        self.assertEqual(tracer.returncode, 0, tracer.stderr.decode(errors='replace'))
        self.stop_probe()
        text = self.read(os.path.join(d, 'events.jsonl'))
        self.assertIn('"GLIBC_TUNABLES"', text)
        self.assertNotIn('GLIBC_TUNABLES=', text)
        self.assertNotIn(SECRET, text)
        self.assertNotIn('PATH=', text)

    def test_values_do_not_cross_the_wire(self):
        """The tracer cuts the values itself: a peer posing as the probe
        gets the names of an attached process's environment (its snapshot
        from /proc/PID/environ) and of an exec, never hunter2."""
        sock_path = os.path.join(self.tmp, 'fake.sock')
        fake = Recorder(sock_path)
        self.addCleanup(fake.close)
        env = dict(os.environ, SECRET_TOKEN=SECRET)
        target = subprocess.Popen(['sh', '-c', 'read x; /bin/true; read y'],
                                  stdin=subprocess.PIPE, env=env)
        self.addCleanup(target.wait)
        self.addCleanup(target.kill)
        tracer = subprocess.Popen([harness.SENTRACE, 'trace', '--probe-addr',
                                   'unix:' + sock_path, '--pid', str(target.pid)],
                                  stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(tracer.kill)
        harness.wait_for(lambda: any(f.get('type') == w.PROCESS for f in fake.frames()),
                         what='the snapshot of the attached process')
        target.stdin.write(b'go\n')
        target.stdin.flush()
        harness.wait_for(lambda: any(e.get('ev') == 'exec' for f in fake.frames()
                                     if f.get('type') == w.EVENTS for e in f['events']),
                         what='the exec of /bin/true')
        tracer.send_signal(signal.SIGTERM)
        err = tracer.communicate(timeout=30)[1]
        snaps = [p for f in fake.frames() if f.get('type') == w.PROCESS
                 for p in f['processes'] if p.get('pid') == target.pid]
        self.assertTrue(snaps)
        self.assertIn('SECRET_TOKEN', snaps[0]['envp'])
        execs = [e for f in fake.frames() if f.get('type') == w.EVENTS
                 for e in f['events'] if e.get('ev') == 'exec']
        self.assertIn('SECRET_TOKEN', execs[0]['envp'])
        self.assertNotIn(SECRET.encode(), fake.data() + err)

    def test_bad_keep_names_refused(self):
        """A keep list with something that is not a name is a usage error."""
        r = subprocess.run([harness.SENTRACE, 'trace', '--keep-env', 'A=B', '--', 'true'],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(b'--keep-env', r.stderr)
        cfg = os.path.join(self.tmp, 'bad.yaml')
        with open(cfg, 'w') as f:
            f.write('runtime_security_config:\n  env_keep: ["SECRET TOKEN"]\n')
        r = subprocess.run([harness.PROBE, 'run', '--config', cfg, '--listen',
                            'unix:' + os.path.join(self.tmp, 'x.sock'), '--no-policy'],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(b'env_keep', r.stderr)

    def test_file_modes(self):
        """Under umask 000: new files 0600; with output.file_group 0640 and
        that group; an existing 0644 file is tightened to 0600, an existing
        0600 one is not loosened to 0640; a file made again after rotation
        (SIGHUP) is 0600 too."""
        d = self.start_probe(policy=False)
        self.assertEqual(mode(self.events), 0o600)
        self.assertEqual(mode(self.alerts), 0o600)
        os.rename(self.events, self.events + '.1')
        os.rename(self.alerts, self.alerts + '.1')
        self.proc.send_signal(signal.SIGHUP)
        harness.wait_for(lambda: os.path.exists(self.events) and os.path.exists(self.alerts),
                         what='the files made again after SIGHUP')
        self.assertEqual(mode(self.events), 0o600)
        self.assertEqual(mode(self.alerts), 0o600)
        self.stop_probe()

        group = other_group()
        d = self.subdir('existing')
        old_loose = os.path.join(d, 'events.jsonl')
        old_tight = os.path.join(d, 'alerts.jsonl')
        for path, m in ((old_loose, 0o644), (old_tight, 0o600)):
            with open(path, 'w'):
                pass
            os.chmod(path, m)
        self.start_probe(policy=False, env={'SENTRACE_OUTPUT_FILE_GROUP': group.gr_name}, d=d)
        self.assertEqual(mode(old_loose), 0o640)
        self.assertEqual(os.stat(old_loose).st_gid, group.gr_gid)
        self.assertEqual(mode(old_tight), 0o600, 'an existing file was loosened')
        self.stop_probe()
        self.assertIn('was mode 0644', self.read(self.plog))

        d = self.start_probe(policy=False, env={'SENTRACE_OUTPUT_FILE_GROUP': str(group.gr_gid)})
        self.assertEqual(mode(self.events), 0o640)
        self.assertEqual(os.stat(self.events).st_gid, group.gr_gid)
        self.assertEqual(mode(self.alerts), 0o640)
        self.stop_probe()


class Recorder:
    """A peer on PATH that accepts one tracer as a probe would (no token)
    and keeps every byte it is sent."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.buf = b''
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        try:
            conn, _ = self.sock.accept()
            conn.recv(65536)  # the HELLO
            conn.sendall(w.msg(w.HELLO_ACK, version=w.VERSION, probe_version='recorder',
                               session=1, error=''))
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                with self.lock:
                    self.buf += chunk
        except OSError:
            pass

    def data(self):
        with self.lock:
            return self.buf

    def frames(self):
        data, out, i = self.data(), [], 0
        while i + 4 <= len(data):
            n = int.from_bytes(data[i:i + 4], 'big')
            if i + 4 + n > len(data):
                break
            out.append(w.unpack(data[i + 4:i + 4 + n])[0])
            i += 4 + n
        return out

    def close(self):
        self.sock.close()


def other_group():
    """A group that is not ours, so that the change of group shows."""
    for name in ('daemon', 'adm', 'nogroup', 'users'):
        try:
            g = grp.getgrnam(name)
        except KeyError:
            continue
        if g.gr_gid != os.getgid():
            return g
    raise AssertionError('no group other than our own to test with')


def harness_lines(text):
    return [json.loads(line) for line in text.split('\n') if line.strip()]


if __name__ == '__main__':
    harness.main()
