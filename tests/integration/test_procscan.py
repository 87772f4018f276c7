# SPDX-License-Identifier: Apache-2.0
"""The procfs scanner: a process started outside the traced tree is
reported as an exec event with from_procfs, and as an exit event once it is
gone; the traced processes never are."""

import os
import subprocess

import harness

RATE = '50ms'


class ProcScanTest(harness.TracedTestCase):

    def start_traced(self, tracer_args):
        """Starts `sh -c 'echo ready; exec cat'` under sentrace with a
        probe; returns once the traced shell runs. Closing the tracer's
        stdin ends the traced tree."""
        probe = self.start_probe()
        cmd = ['sh', '-c', 'echo ready; exec cat']
        argv = self.tracer_argv(cmd, tracer_args, probe.addr)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                cwd=self.tmp)
        self.addCleanup(harness.kill_group, proc)
        line = proc.stdout.readline()
        if line != b'ready\n':
            harness.kill_group(proc)
            _, err = proc.communicate()
            self.fail('the traced command did not start: %r\nstderr:\n%s'
                      % (line, err.decode(errors='replace')[-4000:]))
        return probe, proc, argv

    def finish(self, probe, proc, argv):
        try:
            # Writing nothing, then closing cat's input, ends the tree.
            out, err = proc.communicate(b'', timeout=30)
        except subprocess.TimeoutExpired:
            harness.kill_group(proc)
            out, err = proc.communicate()
            self.fail('sentrace did not finish\nstderr:\n%s'
                      % err.decode(errors='replace')[-4000:])
        self.assertEqual(probe.stop(), 0, probe.log_text())
        return harness.Run(argv, harness.exit_status(proc.returncode),
                           out.decode(errors='replace'), err.decode(errors='replace'),
                           probe, include_procfs=True)

    def procfs_events(self, probe, **fields):
        return [r['event'] for r in probe.records()
                if r.get('type') == 'event' and isinstance(r.get('event'), dict)
                and r['event'].get('from_procfs') is True
                and all(r['event'].get(k) == v for k, v in fields.items())]

    def test_outside_process_reported(self):
        probe, tracer, argv = self.start_traced(['--proc-scan-rate', RATE])
        # Popen returns once sleep has exec'd: no pass can see it as python.
        outside = subprocess.Popen(['sleep', '1.25'])
        harness.wait_for(lambda: self.procfs_events(probe, ev='exec', pid=outside.pid),
                         what='the exec event of the outside process')
        self.assertEqual(outside.wait(), 0)
        harness.wait_for(lambda: self.procfs_events(probe, ev='exit', pid=outside.pid),
                         what='the exit event of the outside process')
        run = self.finish(probe, tracer, argv)
        self.assertEqual(run.returncode, 0, run.summary())

        ex = run.one(ev='exec', pid=outside.pid)
        self.assertIs(ex.get('from_procfs'), True, ex)
        self.assertNotIn('syscall', ex)
        self.assertEqual(ex['argv'], ['sleep', '1.25'])
        self.assertEqual(ex['ppid'], os.getpid())
        self.assertEqual(ex['tid'], outside.pid)
        self.assertEqual(ex['ret'], 0)
        self.assertEqual(os.path.basename(ex['file']), 'sleep')
        for key in ('uid', 'euid', 'gid', 'egid', 'cwd', 'tty', 'envp'):
            self.assertIn(key, ex)
        exit_ev = run.one(ev='exit', pid=outside.pid)
        self.assertIs(exit_ev.get('from_procfs'), True, exit_ev)
        self.assertNotIn('code', exit_ev)
        self.assertNotIn('signal', exit_ev)
        self.assertLess(ex['_line'], exit_ev['_line'])

        # The traced tree is ptrace's alone, and the tracer is not reported.
        traced = {e['pid'] for e in run.events if not e.get('from_procfs')}
        traced |= {e['child'] for e in run.find(ev='fork')}
        self.assertTrue(traced, run.summary())
        procfs = [e for e in run.events if e.get('from_procfs')]
        self.assertEqual([e for e in procfs if e['pid'] in traced], [],
                         run.describe(procfs))
        self.assertEqual([e for e in procfs if e['pid'] == tracer.pid], [],
                         run.describe(procfs))
        # The traced shell's exec is ptrace's.
        shell = run.find(ev='exec', ret=0)
        self.assertTrue([e for e in shell if not e.get('from_procfs')
                         and e['argv'][:2] == ['sh', '-c']], run.describe(shell))

    def test_disabled(self):
        probe, tracer, argv = self.start_traced(['--proc-scan-rate', RATE,
                                                 '--disable-proc-scan'])
        outside = subprocess.Popen(['sleep', '0.3'])
        self.assertEqual(outside.wait(), 0)
        run = self.finish(probe, tracer, argv)
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertEqual([e for e in run.events if e.get('from_procfs')], [],
                         run.describe())


if __name__ == '__main__':
    harness.main()
