# SPDX-License-Identifier: Apache-2.0
"""Fork storms: the tracer serves every tracee fairly, and no child reaches
the probe before its fork event.

- A bounded fork bomb (2,000 processes at most, for 5 s, as an
  unprivileged uid under RLIMIT_NPROC) next to a canary tracee that opens a
  file every 50 ms: the canary's largest gap stays under CANARY_BOUND_MS
  (docs/security.md; before sweeps and the tracer's priority it froze for
  the whole storm), every process's events come after its fork event (by
  seq) with the executable known, and nothing vanishes.
- Memory per traced thread: the tracer's VmHWM with 2,500 threads that
  each made calls, against 500 (so per extra thread), stays under
  PER_THREAD_BOUND_BYTES (measured 0.7 KiB; 4.4 KiB when every thread kept
  an 8 KiB buffer).
- 100 parents SIGKILLed while their fork event waits for the tracer (the event
  is lost): each child, let go after the hold time, gets a fork event of
  the tracer's own (synthesized) before anything it does.
"""

import os
import resource
import shutil

import harness
from test_hostile import Live, last_stats

BOMB_UID = 64102
STORM_MS = 5000
STORM_MAX = 2000
# Generous for a noisy 2-core machine: measured 0.2 to 0.8 s (0.3 to 0.9 s
# untraced), about the whole storm before the fix.
CANARY_BOUND_MS = 3000
PER_THREAD_BOUND_BYTES = 2048
# AddressSanitizer adds redzones to every allocation (measured 2.3 KiB).
PER_THREAD_BOUND_ASAN_BYTES = 4096


def under_asan():
    with open(harness.SENTRACE, 'rb') as f:
        return b'__asan_init' in f.read()


def nice_of(pid):
    """The nice value of PID from /proc (field 19 of stat), or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return int(f.read().rsplit(')', 1)[1].split()[16])
    except (OSError, IndexError, ValueError):
        return None


class ForkStormTest(harness.TracedTestCase):

    def helper(self):
        prog = harness.helper('forkstorm')
        if prog is None:
            self.fail('helper forkstorm was not built')
        # A copy the unprivileged uid can run.
        bindir = self.subdir('bin')
        copy = os.path.join(bindir, 'forkstorm')
        shutil.copy(prog, copy)
        os.chmod(copy, 0o755)
        return copy

    def scratch(self):
        d = os.path.realpath(self.subdir('scratch'))
        os.chmod(d, 0o777)
        return d

    def check_order(self, run, pids):
        """Every event of each of PIDS comes after a fork event for it."""
        forks = {}
        for e in run.events:
            if e.get('ev') == 'fork' and not e.get('thread'):
                forks.setdefault(e['child'], e)
        problems = []
        for e in run.events:
            if e['pid'] not in pids:
                continue
            f = forks.get(e['pid'])
            if f is None:
                problems.append('no fork event for %d: %r' % (e['pid'], harness.strip(e)))
            elif e['seq'] < f['seq']:
                problems.append('seq %d before its fork event (seq %d): %r'
                                % (e['seq'], f['seq'], harness.strip(e)))
            elif not e['_process'].get('file'):
                problems.append('no executable at the probe: %r %r'
                                % (harness.strip(e), e['_process']))
        self.assertEqual(problems[:10], [], '%d events out of order' % len(problems))
        return forks

    def test_fork_storm_canary(self):
        d = self.scratch()

        def limit_nproc():
            resource.setrlimit(resource.RLIMIT_NPROC, (STORM_MAX + 100, STORM_MAX + 100))

        live = Live(self, [self.helper(), 'storm', str(STORM_MS), str(STORM_MAX), d],
                    ['--uid', str(BOMB_UID), '--gid', str(BOMB_UID)], preexec_fn=limit_nproc)
        # The tracer raises itself to nice -20 (it is root here), and
        # leaves CMD at the nice value it was started with (0).
        tracer_nice = harness.wait_for(lambda: nice_of(live.proc.pid) == -20,
                                       what='the tracer at nice -20')
        run = live.finish(timeout=120)
        self.assertEqual(run.returncode, 0, run.summary())
        lines = run.stdout_json()
        canary = [x for x in lines if x.get('canary')][0]
        storm = [x for x in lines if x.get('storm')][0]
        counters = last_stats(run).get('counters', {})
        print('\nfork storm: %r\ncanary: %r\n%s' % (storm, canary, {
            k: counters.get(k) for k in ('stops', 'events', 'tracees_max', 'held_overdue',
                                         'forks_synthesized', 'forks_late', 'vanished',
                                         'sweeps', 'sweep_max')}))
        self.assertTrue(tracer_nice)
        self.assertEqual(storm['nice'], 0)
        self.assertGreater(storm['made'], STORM_MAX // 2, 'the storm did not storm')
        self.assertLess(canary['max_gap_ms'], CANARY_BOUND_MS,
                        'the canary froze for %d ms' % canary['max_gap_ms'])
        # The canary's opens are all reported.
        opens = run.find(ev='open', pid=canary['pid'], path=os.path.join(d, 'canary'))
        self.assertEqual(len(opens), canary['iterations'])

        root = run.one(ev='exec', ret=0)['pid']
        pids = {e['pid'] for e in run.events} - {root}
        self.check_order(run, pids)
        self.assertEqual(counters.get('held_overdue'), counters.get('forks_synthesized'))
        self.assertEqual(counters.get('vanished'), 0, 'late forks re-created dead entries')
        self.assertEqual(counters.get('tracees'), 0)
        self.assertEqual(counters.get('events_dropped'), 0)

    def test_memory_per_thread(self):
        hostile = harness.helper('hostile')
        self.assertIsNotNone(hostile, 'helper hostile was not built')
        hwm = {}
        # Two runs long enough for the sampler (every 20 ms) to see them.
        for n in (500, 2500):
            d = self.scratch()
            live = Live(self, [hostile, 'load', str(n), '1', d])
            run = live.finish(timeout=60)
            self.assertEqual(run.returncode, 0, run.summary())
            # Every thread made its calls (two opens and an unlink each).
            self.assertEqual(len(run.find(ev='unlink', ret=0)), n + 1)
            hwm[n] = live.hwm
        per_thread = (hwm[2500] - hwm[500]) * 1024.0 / 2000
        print('\nmemory: tracer VmHWM %d KiB with 500 threads, %d KiB with 2,500: '
              '%.0f bytes per thread' % (hwm[500], hwm[2500], per_thread))
        self.assertLess(per_thread, PER_THREAD_BOUND_ASAN_BYTES if under_asan()
                        else PER_THREAD_BOUND_BYTES)

    def test_lost_fork_events_synthesized(self):
        # The tracer loses the race to the killer most of the time (31 to
        # 40 of 50 here, 4 of 50 under ASan); a run in which it never did
        # tests nothing, and is run again (three runs at most).
        for _ in range(3):
            _, synth = self.lost_forks(100)
            if synth:
                break
        self.assertGreater(len(synth), 0, 'no fork event was ever lost: nothing tested')

    def lost_forks(self, n):
        d = self.scratch()
        run = self.trace([self.helper(), 'orphans', str(n), d], timeout=120)
        self.assertEqual(run.returncode, 0, run.summary())
        orphans = [x for x in run.stdout_json() if 'orphan' in x]
        self.assertEqual(len(orphans), n, run.stdout[-2000:])
        pids = {o['pid'] for o in orphans}
        forks = self.check_order(run, pids)
        for o in orphans:
            self.assertEvent(run, ev='open', pid=o['pid'],
                             path=os.path.join(d, 'orphan-%d' % o['orphan']))
        synth = [forks[p] for p in pids if forks[p].get('synthesized')]
        counters = last_stats(run).get('counters', {})
        print('\nlost fork events: %d of %d children got a synthesized fork; %r'
              % (len(synth), n, {k: counters.get(k) for k in
                                 ('held_overdue', 'forks_synthesized', 'forks_late',
                                  'vanished')}))
        for f in synth:
            self.assertIs(f['thread'], False, f)
            # The parent died: the child's parent is now the helper, its
            # subreaper, as the kernel says.
            self.assertEqual(f['ppid'], f['pid'])
            self.assertNotIn('syscall', f)
        self.assertEqual(counters.get('held_overdue'), counters.get('forks_synthesized'))
        self.assertEqual(counters.get('vanished'), 0)
        return run, synth


if __name__ == '__main__':
    harness.main()
