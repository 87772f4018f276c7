# SPDX-License-Identifier: Apache-2.0
"""A hostile tracee cannot crash, hang or mislead the tracer.

tests/helpers/hostile passes unreadable pointers, strings that run into an
unmapped page, huge argument lists, over-long paths, socket addresses of
every length and calls failing in as many ways as it can provoke; for each
call it prints the ground truth (what the kernel returned, what the tracer
should report, which keys it cannot know).  The tracer must report every
call with the right `ret`, leave out what it could not read, respect its
caps, and exit normally.  The second half kills tracees with SIGKILL at
every kind of stop: the tracer must report the exit and never hang.
"""

import errno
import json
import os
import select
import shutil
import signal
import subprocess
import threading
import time
import unittest

import harness

# Unprivileged ids of our own: RLIMIT_NPROC counts processes per uid, so
# sharing one (65534) with tests that run in parallel would mix counts.
ERRORS_UID = 64101

# The tracer's caps (src/tracer/syscalls.c), as the protocol promises them.
ARGV_MAX, ARGV_BYTES = 1024, 32 * 1024
ENVP_MAX, ENVP_BYTES = 256, 16 * 1024
STRING_MAX = 4095


def proc_state(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def vm_hwm_kib(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class Live:
    """A traced command running in the background: its first stdout lines
    can be read as they come, the tracer's peak memory is sampled, and
    finish() turns it into a harness.Run."""

    def __init__(self, test, cmd, tracer_args=(), probe=None, preexec_fn=None):
        self.test = test
        self.probe = probe or test.start_probe()
        self.argv = test.tracer_argv(cmd, tracer_args, self.probe.addr)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True, cwd=test.tmp,
                                     preexec_fn=preexec_fn)
        self.head = b''
        self.hwm = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self):
        while not self._stop.is_set():
            v = vm_hwm_kib(self.proc.pid)
            if v:
                self.hwm = max(self.hwm, v)
            self._stop.wait(0.02)

    def read_json(self, timeout=20):
        """The next JSON line on the command's stdout."""
        deadline = time.monotonic() + timeout
        while b'\n' not in self.head:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None and not select.select(
                    [self.proc.stdout], [], [], 0)[0]:
                self.kill()
                self.test.fail('no line from %s within %ds (so far %r)'
                               % (' '.join(self.argv), timeout, self.head[-500:]))
            r, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.2))
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    continue
                self.head += chunk
        line, self.head = self.head.split(b'\n', 1)
        self.consumed = getattr(self, 'consumed', b'') + line + b'\n'
        return json.loads(line)

    def kill(self):
        harness.kill_group(self.proc)

    def finish(self, timeout=60):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            out, err = self.proc.communicate()
            self._stop.set()
            self.probe.stop()
            self.test.fail('%s did not finish within %ds\nstderr:\n%s'
                           % (' '.join(self.argv), timeout,
                              err.decode(errors='replace')[-4000:]))
        self._stop.set()
        self._sampler.join()
        rc = self.probe.stop()
        self.test.assertEqual(rc, 0, 'probe exit status: ' + self.probe.log_text())
        out = getattr(self, 'consumed', b'') + self.head + out
        return harness.Run(self.argv, harness.exit_status(self.proc.returncode),
                           out.decode(errors='replace'), err.decode(errors='replace'),
                           self.probe)


def last_stats(run):
    stats = run.records_of('stats')
    return stats[-1] if stats else {}


def errno_name(ret):
    return errno.errorcode.get(-ret, str(ret)) if ret < 0 else 'ok'


def compare(gt, ev):
    """Differences between a ground-truth line and an event."""
    diffs = []
    for key, want in gt.items():
        if key.startswith('_') or key in ('pid', 'absent', 'cut', 'basename'):
            continue
        if key not in ev:
            diffs.append('%s missing (want %s)' % (key, short(want)))
        elif ev[key] != want:
            diffs.append('%s %s != %s' % (key, short(ev[key]), short(want)))
    for key in gt.get('absent', ()):
        if key in ev:
            diffs.append('%s present (%s) though unreadable' % (key, short(ev[key])))
    for key, want in gt.get('cut', {}).items():
        if key in ev and ev[key] != want:
            diffs.append('%s %s is not the readable part %s' % (key, short(ev[key]),
                                                                short(want)))
    if 'basename' in gt:
        path = ev.get('path', '')
        if path != gt['basename'] and not path.endswith('/' + gt['basename']):
            diffs.append('path %s does not name %s' % (short(path), gt['basename']))
    if gt['ret'] < 0 and ev.get('ret') == gt['ret']:
        if harness.errno_value(ev.get('error') or '') != -gt['ret']:
            diffs.append('error %r does not name errno %d' % (ev.get('error'), -gt['ret']))
    return diffs


def short(v, n=120):
    s = json.dumps(v)
    return s if len(s) <= n else '%s…(%d chars)' % (s[:n], len(s))


def match_in_order(run, truth):
    """Every ground-truth line must have an event of the same process, in
    the same order; returns the problems as (line, text) (empty: all
    matched)."""
    by_pid = {}
    for ev in run.events:
        if ev.get('ev') not in ('fork', 'exit'):
            by_pid.setdefault(ev.get('pid'), []).append(ev)
    pos = {}
    problems = []
    for gt in truth:
        evs = by_pid.get(gt['pid'], [])
        start = pos.get(gt['pid'], 0)
        best = None
        # The next event of the same call and result is the one: no
        # skipping over it to a better-looking one further on.
        for i in range(start, len(evs)):
            ev = evs[i]
            if (ev.get('ev'), ev.get('syscall'), ev.get('ret')) != (
                    gt['ev'], gt['syscall'], gt['ret']):
                continue
            pos[gt['pid']] = i + 1
            diffs = compare(gt, ev)
            if diffs:
                best = (ev, diffs)
            break
        if best or pos.get(gt['pid'], 0) == start:
            if best:
                problems.append((gt, '%s\n      event: %s\n      differs: %s'
                                 % (short(gt, 300), short(harness.strip(best[0]), 300),
                                    '; '.join(best[1]))))
            else:
                problems.append((gt, '%s\n      no %s event'
                                 % (short(gt, 300), gt['syscall'])))
    return problems


class HostileTest(harness.TracedTestCase):

    def hostile(self):
        prog = harness.helper('hostile')
        if prog is None:
            self.fail('helper hostile was not built')
        return prog

    def installed(self, owner=0):
        """A copy of the helper that another uid can run (and own)."""
        d = self.subdir('bin')
        path = os.path.join(d, 'hostile')
        if not os.path.exists(path):
            shutil.copy(self.hostile(), path)
        os.chown(path, owner, owner)
        os.chmod(path, 0o755)
        return path

    def scratch(self, name='scratch'):
        d = os.path.realpath(self.subdir(name))
        os.chmod(d, 0o777)
        return d

    def run_truth(self, args, tracer_args=(), prog=None, timeout=60, known=None):
        """Runs the helper; returns the run and its ground truth, without
        the lines of known tracer bugs (_known), or only those of KNOWN."""
        run = self.trace([prog or self.hostile()] + list(args), tracer_args,
                         timeout=timeout)
        self.assertEqual(run.returncode, 0, 'helper failed' + run.summary())
        truth = [t for t in run.stdout_json() if 'syscall' in t]
        self.assertTrue(truth, 'the helper printed nothing' + run.summary())
        if known:
            self.assertTrue([t for t in truth if t.get('_known') == known],
                            'no %s lines' % known)
        return run, truth

    def check_known(self, args, known):
        run, truth = self.run_truth(args, known=known)
        self.check_truth(run, truth, known, known=known)

    def check_truth(self, run, truth, what, known=None):
        """Matches all of TRUTH; reports the problems of the lines of KNOWN
        bugs only, or without those (they have tests of their own,
        test_known_*)."""
        problems = [text for gt, text in match_in_order(run, truth)
                    if gt.get('_known') == known]
        truth = [t for t in truth if t.get('_known') == known]
        if problems:
            self.fail('%s: %d of %d calls not reported as expected:\n  %s%s'
                      % (what, len(problems), len(truth), '\n  '.join(problems),
                         run.summary()))
        self.assertSessionFine(run)

    # --- decoding hostile arguments ----------------------------------------

    def test_efault_every_pointer(self):
        """Unreadable pointers in every pointer argument of the catalog: the
        calls are reported with their ret, without what could not be read."""
        run, truth = self.run_truth(['efault', self.scratch()])
        self.assertGreaterEqual(len(truth), 50)
        self.check_truth(run, truth, 'EFAULT')
        self.assertGreater(last_stats(run).get('counters', {}).get('decode_errors', 0), 0,
                           'decode errors are counted')

    def test_unterminated_strings(self):
        """Strings and arrays that run into a PROT_NONE page: reported cut,
        as far as they could be read, flagged where the protocol has a flag."""
        run, truth = self.run_truth(['unterminated', self.scratch()])
        self.check_truth(run, truth, 'unterminated')
        for ev in run.events:
            for key, val in ev.items():
                if isinstance(val, str):
                    self.assertLessEqual(len(val.encode()), STRING_MAX + 1,
                                         '%s of %s' % (key, short(harness.strip(ev))))

    def check_caps(self, ev, gt):
        argv, envp = ev.get('argv'), ev.get('envp')
        self.assertIsInstance(argv, list, short(harness.strip(ev), 400))
        self.assertIsInstance(envp, list, short(harness.strip(ev), 400))
        self.assertLessEqual(len(argv), ARGV_MAX)
        self.assertLessEqual(sum(len(a.encode()) + 1 for a in argv), ARGV_BYTES)
        self.assertLessEqual(len(envp), ENVP_MAX)
        self.assertLessEqual(sum(len(e.encode()) + 1 for e in envp), ENVP_BYTES)
        want_argv = [gt['argv0'], 'bigexec-child'] + ['%x' % i for i in range(gt['nargs'])]
        if gt['long_len']:
            want_argv.append('L' * gt['long_len'])
        want_envp = ['V%03d=' % i + 'v' * (gt['env_len'] - 6) for i in range(gt['nenv'])]
        # What is kept is the start of the real lists; the last kept
        # string may be cut.
        for got, want, key in ((argv, want_argv, 'argv'), (envp, want_envp, 'envp')):
            self.assertLessEqual(len(got), len(want), key)
            for i, s in enumerate(got):
                if i == len(got) - 1:
                    self.assertTrue(want[i].startswith(s), '%s[%d] %s' % (key, i, short(s)))
                else:
                    self.assertEqual(s, want[i], '%s[%d]' % (key, i))
            complete = got == want
            self.assertEqual(ev.get(key + '_truncated'), not complete,
                             '%s_truncated with %d of %d kept' % (key, len(got), len(want)))

    # Known tracer bugs, one test each so that the rest stays enforced;
    # expected to fail until src/tracer/syscalls.c is fixed.

    def test_known_exec_arrays(self):
        """An argv or envp array that cannot be read, or that runs into an
        unmapped page without its NULL, must not be reported as a complete
        list: either no key or *_truncated true."""
        self.check_known(['efault', self.scratch('a')], 'exec-arrays')
        self.check_known(['unterminated', self.scratch('b')], 'exec-arrays')

    def test_known_inet6_rfc2133_address(self):
        """bind/connect with a 24-byte sockaddr_in6 (RFC 2133, no scope id):
        the kernel accepts it, so the tracer must report addr and port;
        otherwise a program hides where it connects."""
        self.check_known(['sockaddr', self.scratch()], 'inet6-rfc2133')

    def test_known_prctl_name_length(self):
        """PR_SET_NAME with an unterminated name: the kernel keeps 15
        characters, the event must say what the process is now called."""
        self.check_known(['unterminated', self.scratch()], 'comm-length')

    def test_huge_exec(self):
        """execve with 100,000 arguments and 64 KiB of environment (within
        ARG_MAX: it must still run), one 100 KiB argument, and two calls
        over the kernel's limits (E2BIG): the events are cut at the
        tracer's caps and say so. The values are kept (--keep-env and the
        probe's env_keep) so that the cut strings can be compared."""
        os.environ['SENTRACE_RUNTIME_SECURITY_CONFIG_ENV_KEEP'] = 'V*'
        try:
            run, truth = self.run_truth(['bigexec'], ['--keep-env', 'V*'], timeout=90)
        finally:
            del os.environ['SENTRACE_RUNTIME_SECURITY_CONFIG_ENV_KEEP']
        children = {c['pid']: c for c in run.stdout_json() if c.get('child') == 'bigexec'}
        by_case = {gt['case']: gt for gt in truth}
        self.assertEqual(by_case['many']['ret'], 0,
                         '100,000 arguments within ARG_MAX did not run: %r' % run.stdout[:300])
        self.assertEqual(children[by_case['many']['pid']]['argc'], 100002)
        self.assertEqual(children[by_case['many']['pid']]['env_bytes'], 64 * 1024)
        self.assertEqual(by_case['long']['ret'], 0)
        self.assertEqual(by_case['toolong']['ret'], -errno.E2BIG)
        self.assertEqual(by_case['toomany']['ret'], -errno.E2BIG)
        for gt in truth:
            evs = run.find(ev='exec', syscall='execve', pid=gt['pid'])
            self.assertEqual(len(evs), 1, '%s: %s' % (gt['case'], run.describe(evs, 3)))
            ev = evs[0]
            self.assertEqual(ev['ret'], gt['ret'], gt['case'])
            self.assertEqual(os.path.realpath(ev.get('file', '')),
                             os.path.realpath(gt['argv0']), gt['case'])
            self.check_caps(ev, gt)
            if gt['ret'] == 0:
                self.assertEqual(ev['_process'].get('file'), ev.get('file'))
        many = run.one(ev='exec', pid=by_case['many']['pid'])
        self.assertTrue(many['argv_truncated'])
        self.assertTrue(many['envp_truncated'])
        self.assertEqual(len(run.one(ev='exec', pid=by_case['long']['pid'])['argv'][2]),
                         STRING_MAX)

    def test_exec_proc_self(self):
        """execve("/proc/self/exe"): the file is the tracee's, not the
        tracer's own."""
        run, truth = self.run_truth(['procself'])
        self.check_truth(run, truth, '/proc/self/exe')

    def test_long_paths(self):
        """Paths over PATH_MAX (ENAMETOOLONG), 1000 and 1500 "../", symlink
        targets of 4095 and 5000 bytes, and a cwd longer than PATH_MAX."""
        run, truth = self.run_truth(['longpath', self.scratch()])
        self.check_truth(run, truth, 'long paths')

    def test_sockaddr_every_length(self):
        """bind and connect with addresses of every length from 0 to 128
        (and a few beyond) for AF_INET, AF_INET6, AF_UNIX paths, abstract
        names and unterminated sun_path.  The tracer decodes what the
        kernel uses: an AF_INET6 address of 24 bytes (no scope id) is
        accepted by the kernel, so it must be reported too."""
        run, truth = self.run_truth(['sockaddr', self.scratch()])
        self.assertGreater(len(truth), 1000)
        self.check_truth(run, truth, 'socket addresses')

    def prepare_errors_dir(self, uid):
        """The scratch dir for `errors`: a read-only bind mount, a directory
        uid cannot enter, a sticky one with a root file."""
        d = self.scratch('errors')
        for sub in ('rosrc', 'ro', 'secret', 'sticky'):
            os.mkdir(os.path.join(d, sub))
        with open(os.path.join(d, 'rosrc', 'f'), 'w') as f:
            f.write('ro\n')
        os.chmod(os.path.join(d, 'rosrc'), 0o777)
        os.chmod(os.path.join(d, 'secret'), 0o700)
        with open(os.path.join(d, 'secret', 'f'), 'w') as f:
            f.write('secret\n')
        os.chmod(os.path.join(d, 'sticky'), 0o1777)
        with open(os.path.join(d, 'sticky', 'rootfile'), 'w') as f:
            f.write('root\n')
        ro = os.path.join(d, 'ro')
        for cmd in (['mount', '--bind', os.path.join(d, 'rosrc'), ro],
                    ['mount', '-o', 'remount,bind,ro', ro]):
            r = subprocess.run(cmd, capture_output=True)
            if r.returncode != 0:
                self.skipTest('cannot make a read-only bind mount: %s' % r.stderr)
        return d

    def test_errors_as_unprivileged_uid(self):
        """Calls failing with as many distinct errors as an unprivileged
        uid can provoke (EACCES, EPERM, EROFS on a read-only bind mount,
        EXDEV, ECONNREFUSED, EADDRINUSE, EAFNOSUPPORT, …): each is reported
        with the kernel's ret and the probe's error name."""
        d = self.prepare_errors_dir(ERRORS_UID)
        prog = self.installed(owner=ERRORS_UID)
        run, truth = self.run_truth(['errors', d], ['--uid', str(ERRORS_UID),
                                                    '--gid', str(ERRORS_UID)], prog=prog)
        self.check_truth(run, truth, 'errors')
        seen = sorted({errno_name(t['ret']) for t in truth if t['ret'] < 0})
        print('\n%d calls, %d distinct errors: %s' % (len(truth), len(seen), ' '.join(seen)))
        for name in ('EACCES', 'ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ELOOP', 'EBADF',
                     'EINVAL', 'EPERM', 'ENOTEMPTY', 'EXDEV', 'EROFS', 'ECONNREFUSED',
                     'EADDRINUSE', 'EAFNOSUPPORT', 'ENAMETOOLONG', 'EFAULT', 'EMFILE',
                     'ENOTSOCK', 'EAGAIN', 'ENOEXEC', 'E2BIG', 'ESRCH', 'ENXIO', 'EISCONN'):
            self.assertIn(name, seen, 'the helper did not provoke %s' % name)

    # --- SIGKILL at every kind of stop -----------------------------------------

    def assert_killed(self, run, pid, tracer_status=137):
        self.assertEqual(run.returncode, tracer_status, run.summary())
        ex = run.find(ev='exit', pid=pid)
        self.assertEqual(len(ex), 1, 'exit events of %d:%s%s' % (pid, run.describe(ex),
                                                                  run.summary()))
        self.assertEqual(ex[0].get('signal'), 9, harness.strip(ex[0]))
        self.assertNotIn('code', ex[0])
        return ex[0]

    def wait_state(self, pid, states, timeout=10):
        return harness.wait_for(lambda: proc_state(pid) in states, timeout,
                                'pid %d in state %s (is %s)' % (pid, states, proc_state(pid)))

    def test_kill_blocked_in_accept(self):
        """SIGKILL from outside while the tracee sits in a monitored
        blocking call (its entry decoded, its exit never comes)."""
        live = Live(self, [self.hostile(), 'accept-block', self.scratch()])
        pid = live.read_json()['pid']
        self.wait_state(pid, ('S',))
        time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        run = live.finish(timeout=20)
        ex = self.assert_killed(run, pid)
        acc = run.find(ev='accept', pid=pid)
        self.assertEqual(len(acc), 1, run.describe(acc))
        self.assertTrue(acc[0].get('interrupted'), harness.strip(acc[0]))
        self.assertLess(acc[0]['_line'], ex['_line'])

    def test_kill_from_thread_in_accept(self):
        """A thread SIGKILLs its own process once the main thread is in
        accept(2) (as seen in /proc/self/task/TID/syscall)."""
        run = self.trace([self.hostile(), 'accept-selfkill', self.scratch()], timeout=30)
        pid = run.stdout_json()[0]['pid']
        self.assert_killed(run, pid)
        self.assertEqual(len(run.find(ev='accept', pid=pid)), 1, run.describe())

    def test_kill_storm(self):
        """Threads in monitored calls while the process SIGKILLs itself after
        0 to 20 ms: the kill lands at seccomp stops, syscall-exit stops and
        between them."""
        for delay_us in (0, 300, 1000, 3000, 8000, 20000):
            with self.subTest(delay_us=delay_us):
                run = self.trace([self.hostile(), 'storm', '4', str(delay_us)], timeout=30)
                root = run.one(ev='exec', ret=0)['pid']
                self.assert_killed(run, root)

    def test_kill_during_exec(self):
        """Children exec a program with 50,000 arguments (from the main
        thread or another thread, with other threads running) and are
        SIGKILLed at a different moment of it each time."""
        run = self.trace([self.hostile(), 'exec-kill', '12'], timeout=60)
        self.assertEqual(run.returncode, 0, run.summary())
        kills = [k for k in run.stdout_json() if k.get('kind', '').startswith('exec')]
        self.assertEqual(len(kills), 12, run.stdout)
        for k in kills:
            self.assertEqual(k.get('signal'), 9, k)
            self.assert_killed_child(run, k['pid'])

    def assert_killed_child(self, run, pid):
        ex = run.find(ev='exit', pid=pid)
        self.assertEqual(len(ex), 1, 'exit events of %d:%s' % (pid, run.describe(ex)))
        self.assertEqual(ex[0].get('signal'), 9, harness.strip(ex[0]))

    def test_kill_while_forking(self):
        """Processes forking in a loop are SIGKILLed: children whose fork
        event never came must not be held forever."""
        run = self.trace([self.hostile(), 'fork-kill', '8'], timeout=60)
        self.assertEqual(run.returncode, 0, run.summary())
        kills = [k for k in run.stdout_json() if k.get('kind') == 'fork']
        self.assertEqual(len(kills), 8, run.stdout)
        for k in kills:
            self.assertEqual(k.get('signal'), 9, k)
            self.assert_killed_child(run, k['pid'])
        # Every process the probe heard of has exited.
        forked = {f['child'] for f in run.find(ev='fork', thread=False)}
        exited = {e['pid'] for e in run.find(ev='exit')}
        self.assertEqual(forked - exited, set(), 'forked, never exited')
        counters = last_stats(run).get('counters', {})
        print('\nfork-kill: %d forks, held_overdue %s, vanished %s'
              % (len(forked), counters.get('held_overdue'), counters.get('vanished')))

    def test_kill_in_group_stop(self):
        """Children stopped by SIGSTOP or SIGTSTP (single- and
        multi-threaded), then SIGKILLed."""
        run = self.trace([self.hostile(), 'stop-kill'], timeout=60)
        self.assertEqual(run.returncode, 0, run.summary())
        lines = run.stdout_json()
        states = [s['stopped_state'] for s in lines if 'stopped_state' in s]
        self.assertEqual(len(states), 3, run.stdout)
        for s in states:
            self.assertIn(s, ('t', 'T'), 'the child never stopped')
        kills = [k for k in lines if k.get('kind') == 'stop']
        for k in kills:
            self.assertEqual(k.get('signal'), 9, k)
            self.assert_killed_child(run, k['pid'])

    def test_kill_main_in_group_stop(self):
        """The traced command itself, multithreaded, SIGSTOPped from outside
        and then SIGKILLed: the tracer exits with 137."""
        live = Live(self, [self.hostile(), 'spin', '3'])
        pid = live.read_json()['pid']
        time.sleep(0.1)
        os.kill(pid, signal.SIGSTOP)
        self.wait_state(pid, ('t', 'T'))
        time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        run = live.finish(timeout=20)
        self.assert_killed(run, pid)


if __name__ == '__main__':
    harness.main()
