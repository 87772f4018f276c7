# SPDX-License-Identifier: Apache-2.0
"""Heavy workloads cannot wedge or exhaust the tracer.

- 1,000 threads and 500 processes alive at once, released together from a
  barrier: every fork, call and exit is reported, and the tracer's peak
  memory (VmHWM, sampled from /proc) stays bounded.
- A fork bomb held by RLIMIT_NPROC (as an unprivileged uid): the tracer
  keeps up, a command run after it is reported normally, and the tracer
  exits once everything is gone.
- The probe SIGKILLed and restarted 10 times under a few thousand events
  per second: the workload never stalls, the restarted probe knows the
  process (snapshot after every reconnect), and every event is received
  exactly once (by `seq`) or counted as dropped.
"""

import os
import resource
import signal
import time

import harness
from test_hostile import Live, last_stats

BOMB_UID = 64102
MEMORY_BOUND_KIB = 64 * 1024


class LoadTest(harness.TracedTestCase):

    def hostile(self):
        prog = harness.helper('hostile')
        if prog is None:
            self.fail('helper hostile was not built')
        return prog

    def scratch(self, name='scratch'):
        d = os.path.realpath(self.subdir(name))
        os.chmod(d, 0o777)
        return d

    def report_memory(self, what, live):
        print('\n%s: tracer VmHWM %d KiB (%.1f MiB)' % (what, live.hwm, live.hwm / 1024.0))
        self.assertGreater(live.hwm, 0, 'VmHWM was never sampled')
        self.assertLess(live.hwm, MEMORY_BOUND_KIB, '%s: the tracer used %d KiB' % (what, live.hwm))

    def test_1000_threads_500_processes(self):
        nthreads, nprocs = 1000, 500
        d = self.scratch()
        live = Live(self, [self.hostile(), 'load', str(nthreads), str(nprocs), d])
        run = live.finish(timeout=120)
        self.assertEqual(run.returncode, 0, run.summary())
        lines = run.stdout_json()
        summary = [x for x in lines if x.get('summary') == 'load']
        self.assertEqual(len(summary), 1, run.stdout[-2000:])
        print('\nload: %r' % summary[0])
        workers = [x for x in lines if x.get('kind') in ('t', 'p')]
        self.assertEqual(len(workers), nthreads + nprocs)
        root = run.one(ev='exec', ret=0)['pid']

        forks = run.find(ev='fork', pid=root)
        self.assertEqual(sum(1 for f in forks if f['thread']), nthreads)
        self.assertEqual(sum(1 for f in forks if not f['thread']), nprocs)
        exits = run.find(ev='exit')
        self.assertEqual(len(exits), nprocs + 1, 'exit events')
        codes = {e['pid']: e.get('code') for e in exits}
        problems = []
        for w in workers:
            made = os.path.join(d, '%s%d' % (w['kind'], w['i']))
            missing = os.path.join(d, 'missing-%s%d' % (w['kind'], w['i']))
            got = [e for e in run.find(tid=w['tid'], pid=w['pid'])
                   if e.get('ev') in ('open', 'unlink')]
            want = [('open', made, True), ('open', missing, False), ('unlink', made, True)]
            seen = [(e['ev'], e.get('path'), e['ret'] >= 0) for e in got]
            if seen != want:
                problems.append('%r: %r' % (w, seen))
            if w['kind'] == 'p' and codes.get(w['pid']) != w['i'] % 100:
                problems.append('%r exit code %r' % (w, codes.get(w['pid'])))
        self.assertEqual(problems[:20], [], '%d workers misreported' % len(problems))
        stats = last_stats(run)
        counters = stats.get('counters', {})
        print('load: %d events, %d stops, tracees_max %d, dropped %r'
              % (counters.get('events', 0), counters.get('stops', 0),
                 counters.get('tracees_max', 0), stats.get('dropped')))
        self.assertGreaterEqual(counters.get('tracees_max', 0), nthreads + nprocs + 1)
        self.assertEqual(counters.get('events_dropped'), 0)
        self.report_memory('1000 threads + 500 processes', live)

    def test_fork_bomb_under_rlimit_nproc(self):
        d = self.scratch()
        bindir = self.subdir('bin')
        prog = os.path.join(bindir, 'hostile')
        with open(self.hostile(), 'rb') as src, open(prog, 'wb') as dst:
            dst.write(src.read())
        os.chmod(prog, 0o755)
        limit = 40

        def limit_nproc():
            # ulimit -u for the tracer and all under it: the tracer is root
            # and not bound by it, the bomb (as BOMB_UID) is.
            resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))

        start = time.monotonic()
        live = Live(self, [prog, 'bomb', '2000', d],
                    ['--uid', str(BOMB_UID), '--gid', str(BOMB_UID)], preexec_fn=limit_nproc)
        run = live.finish(timeout=60)
        elapsed = time.monotonic() - start
        self.assertEqual(run.returncode, 0, run.summary())
        lines = run.stdout_json()
        info = [x for x in lines if x.get('info') == 'bomb'][0]
        self.assertEqual(info['nproc_limit'], limit)
        self.assertEqual(info['uid'], BOMB_UID)
        bombers = [x for x in lines if x.get('bomber')]
        eagain = sum(b['eagain'] for b in bombers)
        print('\nfork bomb: %d processes, %d forks refused with EAGAIN, %.1fs'
              % (len(bombers), eagain, elapsed))
        self.assertGreater(eagain, 0, 'RLIMIT_NPROC never stopped the bomb')
        self.assertLessEqual(len(bombers), limit)
        # Every bomber's exit was seen.
        codes = {e['pid']: e.get('code') for e in run.find(ev='exit')}
        for b in bombers:
            self.assertEqual(codes.get(b['pid']), 0, b)
        # The command after the bomb, reported normally.
        after = [x for x in lines if x.get('after')][0]
        self.assertEqual(after['code'], 0)
        with open(os.path.join(d, 'after-bomb')) as f:
            self.assertEqual(f.read(), 'after-bomb\n')
        ex = run.one(ev='exec', pid=after['pid'], ret=0)
        self.assertEqual(ex['argv'], ['sh', '-c', after['cmd']])
        self.assertEqual(ex['uid'], BOMB_UID)
        self.assertEqual(ex['_process'].get('argv'), ex['argv'])
        self.assertEvent(run, ev='open', pid=after['pid'], path=os.path.join(d, 'after-bomb'))
        self.assertEqual(codes.get(after['pid']), 0)
        counters = last_stats(run).get('counters', {})
        self.assertEqual(counters.get('tracees'), 0, counters)
        self.report_memory('fork bomb', live)

    def test_probe_restarted_10_times(self):
        """The probe is SIGKILLed and restarted 10 times while a traced
        helper opens files at ~3,000 per second for 10 s."""
        d = self.scratch()
        pdir = self.subdir('probes')
        sock = os.path.join(pdir, 'probe.sock')
        probes = []

        def new_probe():
            p = harness.Probe(pdir)
            n = len(probes)
            p.sock, p.addr = sock, 'unix:' + sock
            p.out = os.path.join(pdir, 'probe%d.jsonl' % n)
            p.log = os.path.join(pdir, 'probe%d.log' % n)
            if os.path.exists(sock):
                os.unlink(sock)
            probes.append(p)
            self.probes.append(p)
            return p.start()

        cmd = [self.hostile(), 'openloop', d, '10000', '3000']
        live = Live(self, cmd, probe=new_probe())
        restarts = 0
        deadline = time.monotonic() + 9
        while restarts < 10 and time.monotonic() < deadline and live.proc.poll() is None:
            time.sleep(0.8)
            old = probes[-1]
            old.killed = True
            old.proc.send_signal(signal.SIGKILL)
            old.proc.wait(10)
            old.returncode = 0
            live.probe = new_probe()
            restarts += 1
        run = live.finish(timeout=60)
        self.assertEqual(restarts, 10, 'the workload ended before 10 restarts')
        self.assertEqual(run.returncode, 0, run.summary())
        summary = [x for x in run.stdout_json() if x.get('summary') == 'openloop'][0]
        print('\nprobe restarts: %r' % summary)
        self.assertLess(summary['max_gap_ms'], 500, 'the workload stalled')

        # Every generation's events, as the probe wrote them.
        gens = []
        for p in probes:
            # Every event counts here, the procfs scanner's too.
            gens.append(harness.Run(run.argv, run.returncode, '', '', p,
                                    include_procfs=True))
        events = [e for g in gens for e in g.events]
        without_seq = [e for e in events if 'seq' not in e]
        self.assertEqual(without_seq[:3], [], 'events without seq in the probe output')
        seqs = [e['seq'] for e in events]
        distinct = set(seqs)
        stats = last_stats(gens[-1])
        counters, dropped = stats.get('counters', {}), stats.get('dropped', {})
        produced, queued = counters.get('events'), counters.get('events_queued')
        print('probe restarts: %d events produced, %d distinct received, %d duplicates, '
              '%d dropped %r, %d resent'
              % (produced or -1, len(distinct), len(seqs) - len(distinct),
                 sum(dropped.values()), dropped, counters.get('events_resent', -1)))
        self.assertIsNotNone(produced, 'no final STATS')
        self.assertEqual(len(distinct) + sum(dropped.values()), produced)
        # A dropped event keeps its number (the probe sees the gap): the
        # numbers received are those produced, less the dropped ones.
        self.assertLessEqual(len(distinct), queued)
        self.assertTrue(distinct <= set(range(1, produced + 1)), 'sequence numbers out of range')

        # After each restart the probe knows the helper: file and argv.
        pid = summary['pid']
        for n, g in enumerate(gens[1:], 1):
            mine = [e for e in g.events if e.get('pid') == pid]
            self.assertTrue(mine, 'probe %d saw nothing of the helper' % n)
            for e in mine:
                proc = e['_process']
                self.assertEqual(os.path.realpath(proc.get('file') or ''),
                                 os.path.realpath(self.hostile()),
                                 'probe %d: %r' % (n, proc))
                self.assertEqual(proc.get('argv'), cmd, 'probe %d' % n)
        opens = [e for e in events if e.get('pid') == pid and e.get('ev') == 'open'
                 and os.path.dirname(e.get('path', '')) == d]
        by_seq = {e['seq'] for e in opens}
        if not dropped:
            self.assertEqual(len(by_seq), summary['opens'])
        self.report_memory('10 probe restarts', live)


if __name__ == '__main__':
    harness.main()
