# SPDX-License-Identifier: Apache-2.0
"""Harness for the integration tests: runs the real sentrace under a real
sentrace-probe and hands back what both said.

Every traced run gets its own probe, listening on a unix socket in a fresh
temporary directory and writing JSON lines to a file there.  After the tracer
has exited the probe is stopped with SIGTERM and its output parsed.

Paths of the programs come from the environment (set by
tests/integration/meson.build): SENTRACE, SENTRACE_PROBE and
SENTRACE_HELPER_<NAME> for each test program of tests/helpers.
"""

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get('SENTRACE_BUILD_DIR', os.path.join(REPO, 'build'))

SKIP = 77


def program(var, default):
    return os.environ.get(var) or os.path.join(BUILD, default)


SENTRACE = program('SENTRACE', 'src/tracer/sentrace')
PROBE = program('SENTRACE_PROBE', 'src/probe/sentrace-probe')


def helper(name):
    """Path of a program of tests/helpers, or None when it was not built."""
    path = program('SENTRACE_HELPER_' + name.upper(), 'tests/helpers/' + name)
    return path if os.access(path, os.X_OK) else None


def require_ptrace():
    """Exits with 77 (skipped) when this process cannot trace: not root, no
    CAP_SYS_PTRACE, or Yama forbids ptrace altogether."""
    reason = None
    if os.geteuid() != 0:
        reason = 'not root'
    else:
        try:
            with open('/proc/self/status') as f:
                for line in f:
                    if line.startswith('CapEff:'):
                        if not int(line.split()[1], 16) & (1 << 19):
                            reason = 'no CAP_SYS_PTRACE'
        except OSError:
            pass
        try:
            with open('/proc/sys/kernel/yama/ptrace_scope') as f:
                if f.read().strip() == '3':
                    reason = 'kernel.yama.ptrace_scope is 3'
        except OSError:
            pass
    if reason:
        if os.environ.get('CI') == 'true':
            # In CI a skip is a failure: a suite that traces nothing
            # must not pass.
            print('cannot trace in CI: ' + reason, file=sys.stderr)
            sys.exit(1)
        print('skipped: ' + reason, file=sys.stderr)
        sys.exit(SKIP)


def main():
    """Entry point of every test module."""
    require_ptrace()
    for prog in (SENTRACE, PROBE):
        if not os.access(prog, os.X_OK):
            print('missing program: ' + prog, file=sys.stderr)
            sys.exit(1)
    if os.environ.get('CI') == 'true':
        def skip_fails(self, reason):
            self.fail('skipped in CI: %s' % reason)
        unittest.TestCase.skipTest = skip_fails
    unittest.main(verbosity=2)


def errno_value(name):
    return getattr(errno, name, None)


class Probe:
    """A sentrace-probe listening on a unix socket in DIRECTORY."""

    def __init__(self, directory):
        self.dir = directory
        self.sock = os.path.join(directory, 'probe.sock')
        self.out = os.path.join(directory, 'probe.jsonl')
        self.log = os.path.join(directory, 'probe.log')
        self.addr = 'unix:' + self.sock
        self.proc = None
        self.returncode = None
        # Set by a test that SIGKILLs the probe: its last line may be cut
        # short (never acknowledged, so the tracer sends it again).
        self.killed = False

    def start(self, timeout=10):
        with open(self.log, 'wb') as log:
            self.proc = subprocess.Popen(
                [PROBE, 'run', '--listen', self.addr, '--output', self.out,
                 '--format', 'json'],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if stat.S_ISSOCK(os.stat(self.sock).st_mode):
                    return self
            except FileNotFoundError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError('probe exited with %d before listening: %s'
                                     % (self.proc.returncode, self.log_text()))
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError('probe did not listen within %ds' % timeout)
            time.sleep(0.01)

    def stop(self, timeout=10):
        if self.proc is None or self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError('probe did not stop within %ds of SIGTERM' % timeout)
        return self.returncode

    def log_text(self):
        try:
            with open(self.log, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def records(self):
        """Every JSON line the probe wrote, parsed."""
        recs = []
        try:
            with open(self.out) as f:
                lines = f.read().split('\n')
        except FileNotFoundError:
            return recs
        running = self.proc is not None and self.proc.poll() is None
        if lines[-1] and (self.killed or running):
            lines.pop()  # being written, or the line the SIGKILL interrupted
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if not line:
                continue
            try:
                recs.append(json.loads(line))
            except ValueError as e:
                raise AssertionError('probe output line %d is not JSON (%s): %r'
                                     % (n, e, line[:300]))
        return recs


class Run:
    """What one traced run produced: the tracer's exit status and output,
    the probe's records, and the events among them (each event map with the
    record's process under "_process" and its line number under "_line").

    The procfs scanner's reports (from_procfs) are kept apart, in
    procfs_events, unless INCLUDE_PROCFS, or (by default) ARGV asked for the
    scanner (--proc-scan, --proc-scan-rate): in a pid namespace of its own
    (a container, or `tools/test --pidns`) the scanner is on by default and
    reports the harness's own processes, which are no business of a test
    about the traced tree."""

    def __init__(self, argv, returncode, stdout, stderr, probe, include_procfs=None):
        if include_procfs is None:
            opts = argv[:argv.index('--')] if '--' in argv else argv
            include_procfs = any(str(a).startswith('--proc-scan') for a in opts)
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.probe = probe
        self.records = probe.records() if probe else []
        self.events = []
        self.procfs_events = []
        for i, rec in enumerate(self.records):
            if rec.get('type') == 'event' and isinstance(rec.get('event'), dict):
                ev = dict(rec['event'])
                ev['_process'] = rec.get('process') or {}
                ev['_session'] = rec.get('session') or {}
                ev['_line'] = i
                if ev.get('from_procfs') is True and not include_procfs:
                    self.procfs_events.append(ev)
                else:
                    self.events.append(ev)

    def find(self, **fields):
        """Events whose keys equal all of FIELDS."""
        return [e for e in self.events
                if all(k in e and e[k] == v for k, v in fields.items())]

    def one(self, **fields):
        found = self.find(**fields)
        if len(found) != 1:
            raise AssertionError('expected exactly one event with %r, found %d%s'
                                 % (fields, len(found), self.describe(found)))
        return found[0]

    def records_of(self, rtype):
        return [r for r in self.records if r.get('type') == rtype]

    def stdout_json(self):
        """The JSON lines a helper printed on stdout."""
        out = []
        for line in self.stdout.splitlines():
            line = line.strip()
            if line.startswith('{'):
                out.append(json.loads(line))
        return out

    def describe(self, events=None, limit=40):
        events = self.events if events is None else events
        lines = [strip(e) for e in events[:limit]]
        more = '' if len(events) <= limit else '\n  … %d more' % (len(events) - limit)
        return ''.join('\n  ' + json.dumps(e, sort_keys=True) for e in lines) + more

    def summary(self):
        return ('\ncommand: %s\nexit status: %r\nstderr:\n%s\nprobe log:\n%s'
                % (' '.join(self.argv), self.returncode, self.stderr[-4000:],
                   self.probe.log_text()[-2000:] if self.probe else ''))


def strip(ev):
    return {k: v for k, v in ev.items() if not k.startswith('_')}


def exit_status(returncode):
    """subprocess reports death by signal as -N; a shell would say 128+N."""
    return 128 - returncode if returncode < 0 else returncode


class TracedTestCase(unittest.TestCase):
    """A test case with a temporary directory and helpers to run commands
    under the tracer."""

    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='sentrace-it-')
        os.chmod(self.tmp, 0o755)
        self.probes = []

    def tearDown(self):
        for p in self.probes:
            try:
                p.stop()
            except AssertionError:
                pass
        subprocess.run(['umount', '-R', '-l', self.tmp], stderr=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def subdir(self, name):
        path = os.path.join(self.tmp, name)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o755)
        return path

    def start_probe(self):
        probe = Probe(self.subdir('probe%d' % len(self.probes)))
        self.probes.append(probe)
        return probe.start()

    def tracer_argv(self, cmd, tracer_args=(), probe_addr=None):
        argv = [SENTRACE, 'trace']
        if probe_addr:
            argv += ['--probe-addr', probe_addr]
        return argv + list(tracer_args) + ['--'] + list(cmd)

    def trace(self, cmd, tracer_args=(), timeout=60, stdin=subprocess.DEVNULL,
              probe=True, probe_addr=None, cwd=None):
        """Runs CMD under sentrace (with a probe of its own unless PROBE is
        false), waits for the tracer, stops the probe and returns a Run."""
        p = self.start_probe() if probe else None
        argv = self.tracer_argv(cmd, tracer_args, p.addr if p else probe_addr)
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                cwd=cwd or self.tmp)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, err = proc.communicate()
            if p:
                p.stop()
            self.fail('%s did not finish within %ds\nstderr:\n%s'
                      % (' '.join(argv), timeout, err.decode(errors='replace')[-4000:]))
        if p:
            rc = p.stop()
            self.assertEqual(rc, 0, 'probe exit status after SIGTERM: %s' % p.log_text())
        return Run(argv, exit_status(proc.returncode), out.decode(errors='replace'),
                   err.decode(errors='replace'), p)

    def assertEvent(self, run, msg=None, **fields):
        found = run.find(**fields)
        if not found:
            self.fail('%sno event with %r among:%s%s'
                      % (msg + ': ' if msg else '', fields, run.describe(), run.summary()))
        return found

    def assertSessionFine(self, run, tracer_pid=None):
        """The session lines framing the events are there."""
        starts = run.records_of('session_start')
        self.assertEqual(len(starts), 1, 'session_start lines' + run.summary())
        self.assertTrue(run.records_of('session_end'), 'no session_end line' + run.summary())
        for ev in run.events:
            sess = ev['_session']
            self.assertEqual(sess.get('mode'), 'wrapped', sess)
            if tracer_pid is not None:
                self.assertEqual(sess.get('tracer_pid'), tracer_pid, sess)


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(predicate, timeout=20, what='condition'):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %ds waiting for %s' % (timeout, what))
        time.sleep(0.01)
