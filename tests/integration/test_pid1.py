# SPDX-License-Identifier: Apache-2.0
"""The tracer as PID 1 of a container's pid namespace: an orphaned
grandchild is reparented to it, stays traced, and is reaped."""

import shutil
import subprocess

import harness


class Pid1Test(harness.TracedTestCase):

    def test_orphan_reaped_as_pid1(self):
        unshare = shutil.which('unshare')
        self.assertIsNotNone(unshare, 'unshare (util-linux) is missing')
        probe = self.start_probe()
        # The middle shell exits at once; its child becomes an orphan of
        # PID 1 (the tracer) and must still be traced until it exits.
        cmd = '(sleep 0.3; cat /etc/hostname > /dev/null; exit 9) & exit 2'
        argv = [unshare, '--fork', '--pid', '--mount-proc',
                harness.SENTRACE, 'trace', '--probe-addr', probe.addr,
                '--', 'sh', '-c', cmd]
        proc = subprocess.run(argv, capture_output=True, timeout=60)
        self.assertEqual(probe.stop(), 0, probe.log_text())
        run = harness.Run(argv, proc.returncode, proc.stdout.decode(),
                          proc.stderr.decode(errors='replace'), probe)
        self.assertEqual(proc.returncode, 2, run.summary())
        sh = run.one(ev='exec', ret=0, argv=['sh', '-c', cmd])
        self.assertEqual(sh['ppid'], 1, 'the tracer is PID 1')
        self.assertEqual(sh['pid'], 2)
        self.assertEqual(run.one(ev='exit', pid=sh['pid'])['code'], 2)
        orphan = run.one(ev='fork', pid=sh['pid'])['child']
        self.assertEqual(run.one(ev='exit', pid=orphan)['code'], 9)
        self.assertTrue(run.find(ev='open', path='/etc/hostname'),
                        'the orphan\'s descendants stay traced' + run.describe())
        # The orphan's exit is the last exit: the tracer waited for it.
        exits = run.find(ev='exit')
        self.assertEqual(exits[-1]['pid'], orphan)


if __name__ == '__main__':
    harness.main()
