# SPDX-License-Identifier: Apache-2.0
"""What a kill reaches beyond the traced tree: a shell that the procfs
scanner found (an operator's `kubectl exec`) is killed by a rule like a
tracee, and the container scope kills every process of the container that
the tracer can reach, traced or scanned, and nothing outside it. Each runs
with pidfds and without (SENTRACE_NO_PIDFD=1, as before Linux 5.3)."""

import json
import os
import secrets
import shutil
import subprocess
import time

import harness

RATE = '50ms'

POLICY = '''
rules:
  - id: test_kill_scanned_shell
    description: The marked untraced shell
    severity: high
    tags: {tactic: TA0002, technique: T1059}
    expression: exec.file.name in ["sh", "dash", "bash"] && exec.argv in ["sleep 30; true marker4244"]
    actions:
      - kill: {signal: SIGKILL}
  - id: test_kill_container
    description: The marked sleep takes its container down
    severity: high
    tags: {tactic: TA0002, technique: T1059}
    expression: exec.file.name == "sleep" && exec.argv in ["4245"]
    actions:
      - kill: {signal: SIGKILL, scope: container}
'''


def cgroup_root():
    """A hierarchy to make cgroups in: cgroup v1's memory, else v2."""
    for root in ('/sys/fs/cgroup/memory', '/sys/fs/cgroup'):
        if os.path.exists(os.path.join(root, 'cgroup.procs')):
            return root
    raise AssertionError('no cgroup hierarchy to put processes in a container')


def in_cgroup(cg, argv):
    """argv run by a shell that first moves itself into cgroup cg."""
    return ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg] + list(argv)


class KillReachTest(harness.TracedTestCase):

    def start_probe_with_policy(self):
        pol = os.path.join(self.subdir('policy'), 'kill.policy')
        with open(pol, 'w') as f:
            f.write(POLICY)
        d = self.subdir('probe')
        self.sock = os.path.join(d, 'probe.sock')
        self.alerts = os.path.join(d, 'alerts.jsonl')
        self.events = os.path.join(d, 'events.jsonl')
        probe = subprocess.Popen([harness.PROBE, 'run', '--listen', 'unix:' + self.sock,
                                  '--policy', pol, '--alerts', self.alerts,
                                  '--output', self.events, '--format', 'json'],
                                 stderr=subprocess.DEVNULL)
        self.addCleanup(probe.kill)
        harness.wait_for(lambda: os.path.exists(self.sock), what='the probe socket')
        return probe

    def lines(self, path):
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            return []
        out = []
        for line in text.split('\n')[:-1]:  # the last one may be half written
            if line.strip():
                out.append(json.loads(line))
        return out

    def scanned(self, pid):
        """The probe has the procfs scanner's exec event of pid."""
        return any(r.get('type') == 'event' and isinstance(r.get('event'), dict)
                   and r['event'].get('from_procfs') is True
                   and r['event'].get('ev') == 'exec' and r['event'].get('pid') == pid
                   for r in self.lines(self.events))

    def kill_status(self, rule):
        hits = [a for a in self.lines(self.alerts) if a.get('rule_id') == rule]
        if not hits:
            return None
        acts = hits[0]['actions']
        kill = acts['kill'] if isinstance(acts, dict) else \
            [a['kill'] for a in acts if 'kill' in a][0]
        return kill['status']

    def start_tracer(self, cmd, env, argv_prefix=()):
        argv = list(argv_prefix) + [harness.SENTRACE, 'trace', '--verbose',
                                    '--proc-scan-rate', RATE,
                                    '--probe-addr', 'unix:' + self.sock, '--'] + cmd
        # stderr to a file: a pipe nobody reads until the end could fill
        # up and stop the tracer.
        self.tracer_log = os.path.join(self.tmp, 'tracer.log')
        with open(self.tracer_log, 'wb') as log:
            tracer = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=log, start_new_session=True,
                                      cwd=self.tmp, env=dict(os.environ, **env))
        self.addCleanup(harness.kill_group, tracer)
        line = tracer.stdout.readline()
        self.assertEqual(line, b'ready\n', 'the traced command did not start')
        return tracer

    def tracer_err(self):
        with open(self.tracer_log, errors='replace') as f:
            return f.read()

    def spawn(self, argv):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        return p

    # --- a shell the procfs scanner found ---------------------------------

    def scanned_shell(self, env):
        probe = self.start_probe_with_policy()
        tracer = self.start_tracer(['sh', '-c', 'echo ready; exec cat'], env)
        target = self.spawn(['sh', '-c', 'sleep 30; true marker4244'])
        bystander = self.spawn(['sh', '-c', 'sleep 30; true bystander4244'])
        try:
            rc = target.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rc = None
        harness.wait_for(lambda: self.kill_status('test_kill_scanned_shell') not in
                         (None, 'timeout'), what='the kill result in the alert')
        status = self.kill_status('test_kill_scanned_shell')
        tracer.communicate(b'', timeout=30)
        err = self.tracer_err()
        self.assertEqual(rc, -9, 'the scanned shell was not killed: %s\n%s'
                         % (status, err[-3000:]))
        self.assertEqual(status, 'done')
        self.assertTrue(self.scanned(target.pid))
        self.assertIsNone(bystander.poll(), 'the bystander was killed')
        self.assertEqual(tracer.returncode, 0, err[-3000:])
        probe.terminate()
        probe.wait(timeout=30)
        return err

    def test_scanned_shell_killed(self):
        err = self.scanned_shell({})
        self.assertIn('done (pidfd)', err)

    def test_scanned_shell_killed_without_pidfd(self):
        err = self.scanned_shell({'SENTRACE_NO_PIDFD': '1'})
        self.assertIn('done (kill())', err)

    # --- the container scope ---------------------------------------------

    def make_cgroups(self):
        base = os.path.join(cgroup_root(), 'sentrace-kill-%d-%s'
                            % (os.getpid(), secrets.token_hex(4)))
        os.mkdir(base)
        a = os.path.join(base, secrets.token_hex(32))
        b = os.path.join(base, secrets.token_hex(32))
        os.mkdir(a)
        os.mkdir(b)

        def remove():
            # The processes are dead by now; their exit may lag a little.
            deadline = time.monotonic() + 20
            for d in (a, b, base):
                while True:
                    try:
                        os.rmdir(d)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
        self.addCleanup(remove)
        return a, b

    def container(self, env):
        cg_a, cg_b = self.make_cgroups()
        probe = self.start_probe_with_policy()
        # The whole traced tree is in container A (the tracer too, which
        # never kills itself), with a second traced process beside CMD.
        tracer = self.start_tracer(
            ['sh', '-c', 'sleep 300 & echo ready; read -r go; exec /bin/sleep 4245'], env,
            argv_prefix=in_cgroup(cg_a, []))
        same = self.spawn(in_cgroup(cg_a, ['sleep', '301']))
        other = self.spawn(in_cgroup(cg_b, ['sleep', '302']))
        plain = self.spawn(['sleep', '303'])
        for p in (same, other, plain):
            harness.wait_for(lambda: self.scanned(p.pid), what='the scanner to report %d' % p.pid)
        tracer.stdin.write(b'go\n')
        tracer.stdin.flush()
        try:
            tracer.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            harness.kill_group(tracer)
            tracer.communicate()
            self.fail('the traced tree outlived its container kill (%s):\n%s'
                      % (self.kill_status('test_kill_container'), self.tracer_err()[-3000:]))
        err = self.tracer_err()
        # CMD (now sleep 4245) died of SIGKILL, and sentrace exited once
        # the other traced process had died too.
        self.assertEqual(tracer.returncode, 128 + 9, err[-3000:])
        self.assertEqual(same.wait(timeout=30), -9, 'the scanned process of the container lived')
        self.assertIsNone(other.poll(), 'a process of another container was killed')
        self.assertIsNone(plain.poll(), 'a process in no container was killed')
        harness.wait_for(lambda: self.kill_status('test_kill_container') not in
                         (None, 'timeout'), what='the kill result in the alert')
        self.assertEqual(self.kill_status('test_kill_container'), 'done: 3 processes')
        probe.terminate()
        probe.wait(timeout=30)
        return err

    def test_container_scope(self):
        err = self.container({})
        self.assertIn('done (pidfd), 3 signalled', err)

    def test_container_scope_without_pidfd(self):
        err = self.container({'SENTRACE_NO_PIDFD': '1'})
        self.assertIn('done (kill()), 3 signalled', err)


if __name__ == '__main__':
    harness.main()
