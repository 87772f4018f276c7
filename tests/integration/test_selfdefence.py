# SPDX-License-Identifier: Apache-2.0
"""The tracer's integrity against its own tracees (issue 10, items 1, 7, 8).

- tests/helpers/selfdefence `tamper` seizes, interrupts, stops and kills its
  tracer (ptrace, kill, tgkill, rt_sigqueueinfo, pidfd_send_signal,
  pidfd_getfd, process_vm_writev/readv, a SIGSTOP to its process group), as
  root and as nobody: every call must fail with EPERM, the workload must
  finish, the tracer must go on reporting, and the default policy must
  alert. Before
  the defence, the SEIZE froze tracer and workload: the timeouts make that a
  failure, not a hang.
- `seccomp-notif` installs a filter that hands openat to a supervisor
  thread (USER_NOTIF + CONTINUE: no tracer stop), `seccomp-trace` one that
  returns foreign RET_TRACE data: both installations must be reported with
  the filter's actions, and alerted.
- tests/helpers/iouring opens /etc/shadow through io_uring: the setup must
  be reported and alerted; with --deny-io-uring the setup must fail with
  ENOSYS (through our filter, at the stop without it, and in attach mode
  with --attach-seccomp) and the file must not be opened.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import unittest

import harness

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLICY = os.path.join(REPO, 'contrib', 'policy')
# An interpreter that a user other than root can run (sys.executable may
# live under /root).
SYSTEM_PYTHON = '/usr/bin/python3' if os.access('/usr/bin/python3', os.X_OK) \
    else sys.executable
TIMEOUT = 60

# Every call of `selfdefence tamper`, and the tracer_tamper event it must give.
TAMPER_CALLS = {
    'ptrace_seize': 'ptrace',
    'ptrace_interrupt': 'ptrace',
    'kill_sigstop': 'kill',
    'kill_sigkill': 'kill',
    'tgkill_sigstop': 'tgkill',
    'rt_sigqueueinfo': 'rt_sigqueueinfo',
    'pidfd_send_signal': 'pidfd_send_signal',
    'pidfd_getfd': 'pidfd_getfd',
    'process_vm_writev': 'process_vm_writev',
    'process_vm_readv': 'process_vm_readv',
    'kill_group_sigstop': 'kill',
}


class PolicyProbe(harness.Probe):
    """A probe with the default policy, writing alerts to a file of its own."""

    def start(self, timeout=10):
        self.alerts = os.path.join(self.dir, 'alerts.jsonl')
        with open(self.log, 'wb') as log:
            self.proc = subprocess.Popen(
                [harness.PROBE, 'run', '--listen', self.addr, '--output', self.out,
                 '--format', 'json', '--policy', POLICY, '--alerts', self.alerts],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        harness.wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None,
                         timeout=timeout, what='the probe socket')
        if self.proc.poll() is not None:
            raise AssertionError('probe exited: ' + self.log_text())
        return self

    def alert_rules(self):
        try:
            with open(self.alerts) as f:
                return [json.loads(l).get('rule_id') for l in f if l.strip()]
        except FileNotFoundError:
            return []


class SelfDefenceTest(harness.TracedTestCase):

    def policy_probe(self):
        p = PolicyProbe(self.subdir('probe%d' % len(self.probes)))
        self.probes.append(p)
        return p.start()

    def traced(self, cmd, tracer_args=()):
        probe = self.policy_probe()
        run = self.trace(cmd, tracer_args, timeout=TIMEOUT, probe=False,
                         probe_addr=probe.addr)
        self.assertEqual(probe.stop(), 0, probe.log_text())
        run = harness.Run(run.argv, run.returncode, run.stdout, run.stderr, probe)
        run.alerts = probe.alert_rules()
        return run

    def calls(self, run):
        return {c['call']: c for c in run.stdout_json() if 'call' in c}

    def helper(self, name):
        prog = harness.helper(name)
        if not prog:
            self.fail('helper %s was not built' % name)
        return prog

    # ---- item 8: the tracer defends itself ----

    def check_tamper(self, tracer_args):
        run = self.traced([self.helper('selfdefence'), 'tamper'], tracer_args)
        self.assertEqual(run.returncode, 0, run.summary())
        calls = self.calls(run)
        for name in TAMPER_CALLS:
            if name.startswith('pidfd_') and name not in calls:
                continue  # no pidfd_open on this kernel
            self.assertIn(name, calls, run.stdout)
            self.assertEqual((calls[name]['ret'], calls[name]['errno']),
                             (-1, errno.EPERM), '%s was not refused: %r' % (name, calls[name]))
        self.assertGreaterEqual(calls['open_after']['ret'], 0, run.stdout)

        tampers = run.find(ev='tracer_tamper')
        want = sorted(TAMPER_CALLS[c] for c in calls if c in TAMPER_CALLS)
        self.assertEqual(sorted(e['syscall'] for e in tampers), want, run.describe())
        for e in tampers:
            self.assertEqual(e.get('ret'), -errno.EPERM, e)
            self.assertIs(e.get('refused'), True, e)
        seize = [e for e in tampers if e.get('request') == 0x4206]  # PTRACE_SEIZE
        self.assertEqual(len(seize), 1, run.describe(tampers))
        stops = [e for e in tampers if e['syscall'] == 'kill' and e.get('signal') == signal.SIGSTOP]
        tracer_pid = stops[0]['_session'].get('tracer_pid') if stops else None
        self.assertEqual(sorted(e['target'] for e in stops), [0, tracer_pid],
                         run.describe(stops))
        # The tracer kept working: the open after the attack was reported.
        after = [e for e in run.find(ev='open', path='/dev/null')
                 if e['_line'] > max(t['_line'] for t in tampers)]
        self.assertTrue(after, 'no event after the attack' + run.describe())
        self.assertEqual(run.alerts.count('tracer_tampering'), len(tampers), run.alerts)

    def test_tamper_as_root(self):
        self.check_tamper([])

    def test_tamper_as_nobody(self):
        self.check_tamper(['--uid', '65534', '--gid', '65534'])

    def test_tamper_without_filter(self):
        self.check_tamper(['--disable-seccomp'])

    def test_tracer_not_dumpable(self):
        # Run the tracer as nobody: a dumpable process's /proc entries
        # belong to its uid, a non-dumpable one's to root.
        probe = self.policy_probe()
        os.chmod(probe.sock, 0o777)
        proc = subprocess.Popen(
            [harness.SENTRACE, 'trace', '--probe-addr', probe.addr, '--', 'sleep', '30'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            user=65534, group=65534, extra_groups=[])
        self.addCleanup(harness.kill_group, proc)
        harness.wait_for(lambda: any(r.get('type') == 'session_start'
                                     for r in probe.records()) or proc.poll() is not None,
                         what='the session to start')
        self.assertIsNone(proc.poll(), 'the tracer exited')
        with open('/proc/%d/status' % proc.pid) as f:
            uid = [l for l in f if l.startswith('Uid:')][0].split()[1]
        owner = os.stat('/proc/%d/environ' % proc.pid).st_uid
        # Still the live tracer (not a zombie, whose entries are root's too).
        self.assertIsNone(proc.poll(), 'the tracer exited')
        self.assertEqual(uid, '65534')
        self.assertEqual(owner, 0, 'the tracer is dumpable')
        harness.kill_group(proc)
        proc.wait(timeout=30)

    def test_same_uid_tracee_cannot_read_its_tracer(self):
        """A tracee of the tracer's own uid (no capability) opens the
        tracer's /proc/PID/mem and reads its environ: both refused, since
        the tracer is not dumpable (no Yama needed; this machine may have
        none). Its own entries stay readable, so the refusal is the
        tracer's doing, not the test's."""
        probe = self.policy_probe()
        os.chmod(probe.sock, 0o777)
        spy = (
            'import os\n'
            'tracer = [int(l.split()[1]) for l in open("/proc/self/status")\n'
            '          if l.startswith("TracerPid:")][0]\n'
            'assert tracer == os.getppid(), (tracer, os.getppid())\n'
            'def try_read(path, n=1):\n'
            '    try:\n'
            '        with open(path, "rb", buffering=0) as f:\n'
            '            f.read(n)\n'
            '        return "read"\n'
            '    except OSError as e:\n'
            '        return errno.errorcode[e.errno]\n'
            'import errno\n'
            'print(try_read("/proc/self/environ"),\n'
            '      try_read("/proc/%d/mem" % tracer, 0),\n'
            '      try_read("/proc/%d/environ" % tracer), flush=True)\n')
        proc = subprocess.run(
            [harness.SENTRACE, 'trace', '--probe-addr', probe.addr, '--',
             SYSTEM_PYTHON, '-c', spy],
            capture_output=True, timeout=TIMEOUT, start_new_session=True,
            user=65534, group=65534, extra_groups=[])
        err = proc.stderr.decode(errors='replace')
        self.assertEqual(harness.exit_status(proc.returncode), 0, err)
        self.assertEqual(proc.stdout.decode().split(), ['read', 'EACCES', 'EACCES'], err)
        self.assertEqual(probe.stop(), 0, probe.log_text())

    # ---- item 1: seccomp filters of the tracee ----

    def test_seccomp_user_notif_reported(self):
        run = self.traced([self.helper('selfdefence'), 'seccomp-notif', '/etc/shadow'])
        self.assertEqual(run.returncode, 0, run.summary())
        calls = self.calls(run)
        self.assertGreaterEqual(calls['seccomp_user_notif']['ret'], 0, run.stdout)
        ev = run.one(ev='seccomp', syscall='seccomp')
        self.assertEqual(ev.get('operation'), 'filter', ev)
        self.assertIn('user_notif', ev.get('actions', []), ev)
        self.assertIs(ev.get('new_listener'), True, ev)
        self.assertEqual(ev.get('flags', 0) & 8, 8, ev)  # SECCOMP_FILTER_FLAG_NEW_LISTENER
        self.assertEqual(ev.get('instructions'), 7, ev)
        self.assertIn('seccomp_filter_user_notif', run.alerts)
        self.assertEvent(run, ev='prctl', option=38)  # PR_SET_NO_NEW_PRIVS

    def test_seccomp_trace_reported(self):
        run = self.traced([self.helper('selfdefence'), 'seccomp-trace'])
        self.assertEqual(run.returncode, 0, run.summary())
        ev = run.one(ev='seccomp', syscall='prctl')
        self.assertEqual(sorted(ev.get('actions', [])), ['allow', 'trace'], ev)
        self.assertIn('seccomp_filter_trace', run.alerts)
        self.assertEvent(run, ev='open', path='/dev/null')

    # ---- item 7: io_uring ----

    def test_io_uring_reported(self):
        run = self.traced([self.helper('iouring'), '/etc/shadow'])
        self.assertEqual(run.returncode, 0, run.summary())
        out = run.stdout_json()
        self.assertGreaterEqual(out[0]['setup'], 0, run.stdout)
        self.assertGreaterEqual(out[1].get('open', -1), 0, run.stdout)
        setup = run.one(ev='io_uring', syscall='io_uring_setup')
        self.assertEqual(setup.get('entries'), 4, setup)
        self.assertEqual(setup.get('ret'), out[0]['setup'], setup)
        self.assertEvent(run, ev='io_uring', syscall='io_uring_enter', fd=out[0]['setup'],
                         to_submit=1)
        self.assertIn('io_uring_used', run.alerts)

    def check_denied(self, run):
        self.assertEqual(run.returncode, 0, run.summary())
        out = run.stdout_json()
        self.assertEqual(out[0], {'setup': -errno.ENOSYS}, run.stdout)
        self.assertFalse([o for o in out if 'open' in o], run.stdout)
        self.assertNotIn('io_uring_used', run.alerts)

    def test_deny_io_uring_filter(self):
        run = self.traced([self.helper('iouring'), '/etc/shadow'], ['--deny-io-uring'])
        self.check_denied(run)
        # Our filter refuses it before any stop.
        self.assertEqual(run.find(ev='io_uring'), [], run.describe())

    def test_deny_io_uring_at_the_stop(self):
        run = self.traced([self.helper('iouring'), '/etc/shadow'],
                          ['--deny-io-uring', '--disable-seccomp'])
        self.check_denied(run)
        ev = run.one(ev='io_uring', syscall='io_uring_setup')
        self.assertEqual(ev.get('ret'), -errno.ENOSYS, ev)
        self.assertIs(ev.get('refused'), True, ev)

    def test_deny_io_uring_attach_seccomp(self):
        target = subprocess.Popen([self.helper('iouring'), '/etc/shadow', 'wait'],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.addCleanup(target.kill)
        probe = self.policy_probe()
        tracer = subprocess.Popen(
            [harness.SENTRACE, 'trace', '--probe-addr', probe.addr, '--attach-seccomp',
             '--deny-io-uring', '--pid', str(target.pid)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(harness.kill_group, tracer)
        harness.wait_for(lambda: [r for r in probe.records() if r.get('type') == 'process'
                                  and r.get('process', {}).get('pid') == target.pid],
                         what='the snapshot of the attached process')
        out, _ = target.communicate(b'go\n', timeout=TIMEOUT)
        _, err = tracer.communicate(timeout=TIMEOUT)
        self.assertEqual(tracer.returncode, 0, err.decode(errors='replace'))
        lines = [json.loads(l) for l in out.decode().splitlines() if l.startswith('{')]
        self.assertEqual(lines[0], {'setup': -errno.ENOSYS}, lines)
        self.assertFalse([o for o in lines if 'open' in o], lines)


if __name__ == '__main__':
    harness.main()
