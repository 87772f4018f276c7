# SPDX-License-Identifier: Apache-2.0
"""Every rule of the default policy fires on a real behaviour.

Each group of scenario_catalog.py becomes one shell script, run under the
real tracer with the real probe loaded with contrib/policy (plus
test-overrides.policy for the command-and-control group). The test asserts
that the alerts hold every expected rule id and nothing else: no rule
fires that the group did not ask for.
"""

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

import scenlib
import scenario_catalog as catalog

# Rules that fire as a side effect of how the steps are staged, per group.
SIDE_EFFECTS = {
}


def listen_on(ports):
    """A loopback listener on the first free port of PORTS (accepting and
    closing connections in a thread); (port, socket) or (PORTS[0], None)."""
    for port in ports:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            s.close()
            continue
        s.listen(16)

        def serve(sock=s):
            while True:
                try:
                    c, _ = sock.accept()
                except OSError:
                    return
                c.close()
        threading.Thread(target=serve, daemon=True).start()
        return port, s
    return ports[0], None


def mount_namespace_usable(actor, scratch):
    target = os.path.join(scratch, 'mnt-probe')
    os.makedirs(target, exist_ok=True)
    out = subprocess.run([actor, 'mount-ns', 'tmpfs', target], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True).stdout
    return 'mount(tmpfs) = 0' in out


class ScenarioTest(unittest.TestCase):

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.created_dirs = []
        cls.created_files = []
        tag = 'sentrace-scn-%d-%06d' % (os.getpid(), random.randrange(10 ** 6))
        cls.S = tempfile.mkdtemp(prefix='sentrace-scn-')
        os.chmod(cls.S, 0o755)
        cls.top = '/tmp/' + tag
        cls.hid = '/tmp/.' + tag
        cls.shm = tempfile.mkdtemp(prefix='sentrace-scn-', dir='/dev/shm') \
            if os.path.isdir('/dev/shm') else os.path.join(cls.S, 'shm')
        os.makedirs(cls.shm, exist_ok=True)
        for d in ('b', 'd', 'x', 'empty', 'mnt'):
            os.makedirs(os.path.join(cls.S, d))
        true_bin = shutil.which('true') or '/bin/true'
        sh_bin = os.path.realpath('/bin/sh')
        for name in catalog.TRUE_STANDINS:
            dst = os.path.join(cls.S, 'b', name)
            shutil.copy2(true_bin, dst)
            # A stand-in must be /bin/true: dd, rm and shutdown are among them.
            with open(true_bin, 'rb') as a, open(dst, 'rb') as b:
                assert a.read() == b.read(), dst
        for name in catalog.SH_STANDINS:
            shutil.copy2(sh_bin, os.path.join(cls.S, 'd', name))
        for name in catalog.ACTOR_STANDINS:
            shutil.copy2(scenlib.ACTOR, os.path.join(cls.S, 'x', name))
        for d in catalog.SYSTEM_DIRS:
            cls.ensure_dir(d)
        for f in catalog.CREDENTIAL_FILES:
            if not os.path.exists(f):
                with open(f, 'w'):
                    pass
                cls.created_files.append(f)
        cls.preload_existed = os.path.exists('/etc/ld.so.preload')
        cls.mountns = mount_namespace_usable(scenlib.ACTOR, cls.S)
        cls.listeners = []
        cls.port_miner, s1 = listen_on([4444, 3333, 5555, 7777, 14444, 45700])
        cls.port_irc, s2 = listen_on([6667, 6697, 6665])
        cls.port_ssh, s3 = listen_on([2222, 2200, 8022])
        cls.listeners = [s for s in (s1, s2, s3) if s]

    @classmethod
    def ensure_dir(cls, path):
        missing = []
        p = path
        while not os.path.exists(p):
            missing.append(p)
            p = os.path.dirname(p)
        for d in reversed(missing):
            os.mkdir(d, 0o755)
            cls.created_dirs.append(d)

    @classmethod
    def tearDownClass(cls):
        for s in cls.listeners:
            s.close()
        errors = []
        paths = [p for _, steps, _ in catalog.GROUPS for st in steps for p in st.paths]
        if not cls.preload_existed:
            paths.append('/etc/ld.so.preload')
        for p in paths + cls.created_files:
            try:
                if os.path.lexists(p):
                    os.unlink(p)
            except OSError as e:
                errors.append('%s: %s' % (p, e))
        for d in reversed(cls.created_dirs):
            try:
                os.rmdir(d)
            except OSError as e:
                errors.append('%s: %s' % (d, e))
        for p in (cls.top + '-drop',):
            if os.path.lexists(p):
                os.unlink(p)
        subprocess.run(['umount', '-R', '-l', cls.S], stderr=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(cls.hid, ignore_errors=True)
        shutil.rmtree(cls.shm, ignore_errors=True)
        shutil.rmtree(cls.S, ignore_errors=True)
        if errors:
            print('cleanup problems:\n  ' + '\n  '.join(errors), file=sys.stderr)

    def env(self):
        env = dict(os.environ)
        env.update({
            'A': scenlib.ACTOR, 'S': self.S, 'B': os.path.join(self.S, 'b'),
            'D': os.path.join(self.S, 'd'), 'X': os.path.join(self.S, 'x'),
            'PY': os.path.realpath(sys.executable), 'TOP': self.top, 'HID': self.hid,
            'SHM': self.shm, 'PORT_MINER': str(self.port_miner),
            'PORT_IRC': str(self.port_irc), 'PORT_SSH': str(self.port_ssh),
            'PRELOAD_CREATE': '' if self.preload_existed else 'c',
        })
        return env

    def run_group(self, name, steps, overrides):
        runnable = [s for s in steps if s.needs != 'mountns' or self.mountns]
        skipped = [s.name for s in steps if s not in runnable]
        if skipped:
            print('%s: skipped (no private mount namespace here): %s'
                  % (name, '; '.join(skipped)), file=sys.stderr)
        lines = ['# scenario group ' + name]
        for s in runnable:
            lines.append('echo "== %s"' % s.name.replace('"', ''))
            lines.append('{ %s\n} || echo "step failed: %s"' % (s.script, s.name.replace('"', '')))
        script = os.path.join(self.S, name + '.sh')
        with open(script, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        policies = [scenlib.POLICY] + ([scenlib.OVERRIDES] if overrides else [])
        run = scenlib.trace(['/bin/sh', script], os.path.join(self.S, 'run-' + name),
                            policies, env=self.env(), cwd=self.S)
        expected = {rid for s in runnable for rid in s.expect}
        expected |= set(SIDE_EFFECTS.get(name, ()))
        got = run.rule_ids()
        missing = sorted(expected - got)
        unexpected = sorted(got - expected)
        self.assertEqual(missing, [], '%s: expected rules did not fire; alerts:%s%s'
                         % (name, run.describe(), run.summary()))
        self.assertEqual(unexpected, [], '%s: rules fired that no step asked for:%s%s'
                         % (name, run.describe(), run.summary()))
        self.assertNotIn('step failed', run.stdout, run.summary())
        return run

    def test_execution(self):
        self.run_group(*catalog.GROUPS[0])

    def test_persistence(self):
        self.run_group(*catalog.GROUPS[1])

    def test_privilege_escalation(self):
        self.run_group(*catalog.GROUPS[2])

    def test_defense_evasion(self):
        self.run_group(*catalog.GROUPS[3])

    def test_credential_access(self):
        self.run_group(*catalog.GROUPS[4])

    def test_discovery(self):
        self.run_group(*catalog.GROUPS[5])

    def test_command_and_control(self):
        self.run_group(*catalog.GROUPS[6])

    def test_impact(self):
        self.run_group(*catalog.GROUPS[7])

    def test_container_escape(self):
        self.run_group(*catalog.GROUPS[8])

    def test_groups_are_all_tested(self):
        names = [g[0] for g in catalog.GROUPS]
        self.assertEqual(names, ['execution', 'persistence', 'privilege_escalation',
                                 'defense_evasion', 'credential_access', 'discovery',
                                 'command_and_control', 'impact', 'container_escape'])


if __name__ == '__main__':
    scenlib.check_programs()
    unittest.main(verbosity=2)
