# SPDX-License-Identifier: Apache-2.0
"""Running a command under the real tracer with the real probe and a policy,
and collecting the alerts. Shared by test_scenarios.py and test_benign.py.

Reuses tests/integration/harness.py for the program paths and the root /
ptrace check; the probe is started here because it needs --policy and
--alerts.
"""

import json
import os
import signal
import stat
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

import harness  # noqa: E402

REPO = harness.REPO
BUILD = harness.BUILD
SENTRACE = harness.SENTRACE
PROBE = harness.PROBE
POLICY = os.environ.get('SENTRACE_POLICY_DIR') or os.path.join(REPO, 'contrib', 'policy')
ACTOR = os.environ.get('SENTRACE_ACTOR') or os.path.join(BUILD, 'tests/scenarios/actor')
OVERRIDES = os.path.join(HERE, 'test-overrides.policy')


def check_programs():
    harness.require_ptrace()
    for prog in (SENTRACE, PROBE, ACTOR):
        if not os.access(prog, os.X_OK):
            print('missing program: ' + prog, file=sys.stderr)
            sys.exit(1)
    out = subprocess.run([PROBE, '--help'], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True).stdout
    if '--policy' not in out or '--alerts' not in out:
        print('skipped: sentrace-probe has no --policy/--alerts yet', file=sys.stderr)
        sys.exit(harness.SKIP)


class PolicyProbe:
    """sentrace-probe run with policies, alerts to a file, no event log."""

    def __init__(self, directory, policies, keep_events=False):
        self.dir = directory
        self.sock = os.path.join(directory, 'probe.sock')
        self.alerts = os.path.join(directory, 'alerts.jsonl')
        self.events = os.path.join(directory, 'events.jsonl')
        self.log = os.path.join(directory, 'probe.log')
        self.addr = 'unix:' + self.sock
        self.policies = list(policies)
        self.keep_events = keep_events
        self.proc = None

    def start(self, timeout=10):
        argv = [PROBE, 'run', '--listen', self.addr, '--alerts', self.alerts,
                '--output', self.events if self.keep_events else 'none']
        for p in self.policies:
            argv += ['--policy', p]
        with open(self.log, 'wb') as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if stat.S_ISSOCK(os.stat(self.sock).st_mode):
                    return self
            except FileNotFoundError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError('probe exited with %d: %s'
                                     % (self.proc.returncode, self.log_text()))
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError('probe did not listen within %ds' % timeout)
            time.sleep(0.01)

    def stop(self, timeout=10):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError('probe did not stop within %ds of SIGTERM' % timeout)

    def log_text(self):
        try:
            with open(self.log, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def alert_records(self):
        recs = []
        try:
            with open(self.alerts) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        recs.append(json.loads(line))
        except FileNotFoundError:
            pass
        return recs


def describe_alert(a):
    ev = a.get('event') or {}
    proc = a.get('process') or {}
    what = ev.get('path') or ev.get('file') or ev.get('dest') or ev.get('target') or ''
    return '%s: %s %s by %s %s' % (a.get('rule_id'), ev.get('ev'), what, proc.get('file'),
                                   ' '.join((proc.get('argv') or [])[:6]))


class TracedRun:
    def __init__(self, returncode, stdout, stderr, alerts, probe):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.alerts = alerts
        self.probe = probe

    def rule_ids(self):
        return {a.get('rule_id') for a in self.alerts}

    def describe(self, limit=60):
        lines = [describe_alert(a) for a in self.alerts[:limit]]
        return '\n  '.join([''] + lines)

    def summary(self):
        return ('\nexit status: %r\nstdout:\n%s\nstderr:\n%s\nprobe log:\n%s'
                % (self.returncode, self.stdout[-3000:], self.stderr[-3000:],
                   self.probe.log_text()[-2000:]))


class Background:
    """A traced command left running (a server): finish() waits for it
    (after the caller stopped it) and returns the TracedRun."""

    def __init__(self, probe, proc, argv, timeout):
        self.probe = probe
        self.proc = proc
        self.argv = argv
        self.timeout = timeout

    def running(self):
        return self.proc.poll() is None

    def finish(self):
        return _finish(self.probe, self.proc, self.argv, self.timeout)


def start(cmd, directory, policies, env=None, cwd=None, timeout=180, keep_events=False,
          tracer_args=()):
    """Starts CMD under sentrace with its own probe loaded with POLICIES."""
    os.makedirs(directory, exist_ok=True)
    # SENTRACE_SCN_KEEP=1: keep the event log and the scratch directories
    # (for debugging a test).
    keep_events = keep_events or os.environ.get('SENTRACE_SCN_KEEP') == '1'
    probe = PolicyProbe(directory, policies, keep_events).start()
    # The procfs scanner is on by default in a pid namespace of its own (a
    # container's), where it would report the processes of the tests that
    # run beside this one: a scenario asks for it when it is about it.
    scan = [] if any(a.startswith('--proc-scan') for a in tracer_args) else ['--disable-proc-scan']
    argv = ([SENTRACE, 'trace', '--probe-addr', probe.addr] + scan + list(tracer_args)
            + ['--'] + list(cmd))
    # Output to files: a server may write more than a pipe holds.
    out = open(os.path.join(directory, 'tracer.out'), 'w+b')
    err = open(os.path.join(directory, 'tracer.err'), 'w+b')
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                            start_new_session=True, cwd=cwd or directory, env=env)
    proc.out_file, proc.err_file = out, err
    return Background(probe, proc, argv, timeout)


def trace(cmd, directory, policies, env=None, cwd=None, timeout=180, keep_events=False,
          tracer_args=()):
    """Runs CMD under sentrace with its own probe loaded with POLICIES;
    returns a TracedRun once the tracer and the probe have finished."""
    return start(cmd, directory, policies, env, cwd, timeout, keep_events, tracer_args).finish()


def _read(f):
    f.flush()
    f.seek(0)
    data = f.read()
    f.close()
    return data


def _finish(probe, proc, argv, timeout):
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        harness.kill_group(proc)
        proc.wait()
        probe.stop()
        raise AssertionError('%s did not finish within %ds\nstderr:\n%s'
                             % (' '.join(argv), timeout,
                                _read(proc.err_file).decode(errors='replace')[-4000:]))
    out, err = _read(proc.out_file), _read(proc.err_file)
    rc = probe.stop()
    if rc != 0:
        raise AssertionError('probe exit status %r: %s' % (rc, probe.log_text()[-3000:]))
    return TracedRun(harness.exit_status(proc.returncode), out.decode(errors='replace'),
                     err.decode(errors='replace'), probe.alert_records(), probe)
