# SPDX-License-Identifier: Apache-2.0
"""Process lifecycle: exec from a non-leader thread, a tree of 200
processes, a daemon that outlives its parent."""

import os

import harness


class ProcessTest(harness.TracedTestCase):

    def test_exec_from_thread(self):
        prog = harness.helper('mtexec')
        marker = os.path.join(self.tmp, 'mtexec.marker')
        run = self.trace([prog, marker])
        self.assertEqual(run.returncode, 42, run.summary())
        self.assertTrue(os.path.exists(marker))
        info = run.stdout_json()
        self.assertEqual(len(info), 1, run.stdout)
        pid, tid = info[0]['pid'], info[0]['tid']
        self.assertNotEqual(pid, tid)

        execs = run.find(ev='exec', ret=0, pid=pid)
        self.assertEqual(len(execs), 2, 'the first exec and the thread\'s'
                         + run.describe(run.find(ev='exec')) + run.summary())
        ex = execs[1]
        self.assertEqual(os.path.realpath(ex['file']), os.path.realpath(prog))
        self.assertEqual(ex['argv'], ['mtexec', '--child', marker])
        self.assertEqual(ex['pid'], pid)

        # The new image runs as the thread-group leader.
        op = self.assertEvent(run, ev='open', pid=pid, path=marker)[0]
        self.assertGreaterEqual(op['ret'], 0)
        self.assertEqual(op['tid'], pid)
        self.assertLess(ex['_line'], op['_line'])
        ex_exit = run.one(ev='exit', pid=pid)
        self.assertEqual(ex_exit.get('code'), 42, ex_exit)
        self.assertLess(op['_line'], ex_exit['_line'])
        threads = run.find(ev='fork', pid=pid, thread=True)
        self.assertEqual(len(threads), 2, run.describe(run.find(ev='fork')))
        self.assertIn(tid, [t['child'] for t in threads])

    def test_tree_of_200(self):
        run = self.trace([harness.helper('tree')], timeout=90)
        self.assertEqual(run.returncode, 0, run.summary())
        truth = run.stdout_json()
        self.assertEqual(len(truth), 200, run.stdout[-2000:])
        root = run.one(ev='exec', ret=0)['pid']

        forks = run.find(ev='fork')
        self.assertEqual(len(forks), 200, run.describe(forks))
        self.assertTrue(all(f['thread'] is False for f in forks), run.describe(forks))
        self.assertEqual(sorted((f['child'], f['pid']) for f in forks),
                         sorted((t['pid'], t['ppid']) for t in truth))
        self.assertTrue(all(f['ppid'] == f['pid'] for f in forks), run.describe(forks))

        exits = run.find(ev='exit')
        self.assertEqual(len(exits), 201, run.describe(exits))
        got = {e['pid']: e.get('code') for e in exits}
        want = {t['pid']: t['code'] for t in truth}
        want[root] = 0
        self.assertEqual(got, want)
        # The 200 children exit with 200 different codes.
        self.assertEqual(len({t['code'] for t in truth}), 200)
        # Every child exits after it was forked.
        fork_line = {f['child']: f['_line'] for f in forks}
        for e in exits:
            if e['pid'] != root:
                self.assertLess(fork_line[e['pid']], e['_line'], e)
        self.assertEqual(max(e['_line'] for e in exits),
                         run.one(ev='exit', pid=root)['_line'])

    def test_untraced_clone_is_traced(self):
        # CLONE_UNTRACED is taken out: the children are traced (their open
        # is seen) and run normally, with the filter and without it.
        target = os.path.join(self.tmp, 'target')
        with open(target, 'w') as f:
            f.write('x')
        for extra in ((), ('--disable-seccomp',)):
            run = self.trace([harness.helper('untraced'), target], tracer_args=extra)
            self.assertEqual(run.returncode, 0, run.summary())
            kids = run.stdout_json()
            self.assertEqual([k['via'] for k in kids], ['clone', 'clone3'])
            for k in kids:
                self.assertEqual(k['code'], 0, k)
                opens = run.find(ev='open', pid=k['pid'], path=os.path.realpath(target))
                self.assertEqual(len(opens), 1, (extra, k, run.describe()))
            stats = run.records_of('stats')[-1]['counters']
            self.assertEqual(stats['untraced_clones'], 2, stats)

    def test_daemon_outlives_parent(self):
        marker = os.path.join(self.tmp, 'daemon.marker')
        run = self.trace([harness.helper('daemon'), marker])
        self.assertEqual(run.returncode, 0, run.summary())
        # The tracer waited for the daemon: the marker is complete.
        with open(marker) as f:
            daemon = int(f.read())
        top = run.one(ev='exec', ret=0)['pid']
        mid = run.one(ev='fork', pid=top, thread=False)['child']
        self.assertEqual(run.one(ev='fork', pid=mid, thread=False)['child'], daemon)

        top_exit = run.one(ev='exit', pid=top)
        mid_exit = run.one(ev='exit', pid=mid)
        op = self.assertEvent(run, ev='open', pid=daemon, path=marker)
        self.assertEqual(len(op), 1)
        op = op[0]
        d_exit = run.one(ev='exit', pid=daemon)
        self.assertEqual(top_exit.get('code'), 0)
        self.assertEqual(mid_exit.get('code'), 0)
        self.assertEqual(d_exit.get('code'), 5)
        self.assertGreaterEqual(op['ret'], 0)
        self.assertLess(mid_exit['_line'], top_exit['_line'])
        self.assertLess(top_exit['_line'], op['_line'])
        self.assertLess(op['_line'], d_exit['_line'])


if __name__ == '__main__':
    harness.main()
