# SPDX-License-Identifier: Apache-2.0
"""A shell pipeline under the tracer, and exit statuses."""

import os
import shutil

import harness


class BasicTest(harness.TracedTestCase):

    def test_sh_cat(self):
        cmd = 'cat /etc/hostname; exit 3'
        run = self.trace(['sh', '-c', cmd])
        self.assertEqual(run.returncode, 3, run.summary())
        with open('/etc/hostname') as f:
            self.assertEqual(run.stdout, f.read())
        self.assertSessionFine(run)

        sh_real = os.path.realpath('/bin/sh')
        cat_real = os.path.realpath(shutil.which('cat'))
        execs = run.find(ev='exec', ret=0)
        sh = [e for e in execs if os.path.realpath(e.get('file', '')) == sh_real]
        cat = [e for e in execs if os.path.realpath(e.get('file', '')) == cat_real]
        self.assertEqual(len(sh), 1, 'exec of sh' + run.describe(execs) + run.summary())
        self.assertEqual(len(cat), 1, 'exec of cat' + run.describe(execs) + run.summary())
        sh, cat = sh[0], cat[0]
        self.assertEqual(sh['argv'], ['sh', '-c', cmd])
        self.assertEqual(sh['syscall'], 'execve')
        self.assertEqual(cat['argv'], ['cat', '/etc/hostname'])
        self.assertEqual(cat['syscall'], 'execve')
        self.assertNotEqual(sh['pid'], cat['pid'])
        self.assertEqual(cat['ppid'], sh['pid'])
        self.assertEqual(cat['uid'], os.getuid())
        self.assertEqual(cat['cwd'], os.path.realpath(self.tmp))
        self.assertFalse(cat.get('compat', False))

        # dash forks cat: the fork event names the child.
        forks = run.find(ev='fork', pid=sh['pid'], child=cat['pid'])
        self.assertEqual(len(forks), 1, run.describe(run.find(ev='fork')))
        self.assertIs(forks[0]['thread'], False)
        self.assertEqual(forks[0]['ppid'], sh['pid'])

        opens = [e for e in run.find(ev='open', pid=cat['pid'], path='/etc/hostname')]
        self.assertEqual(len(opens), 1, run.describe(run.find(pid=cat['pid'])))
        op = opens[0]
        self.assertEqual(op['flags'] & os.O_ACCMODE, os.O_RDONLY)
        self.assertGreaterEqual(op['ret'], 0)
        self.assertNotIn('error', op)
        self.assertEqual(os.path.realpath(op['_process'].get('file', '')), cat_real,
                         op['_process'])
        self.assertEqual(op['_process'].get('argv'), ['cat', '/etc/hostname'])
        self.assertEqual(op['_process'].get('ppid'), sh['pid'])
        self.assertLess(cat['_line'], op['_line'])

        cat_exit = run.one(ev='exit', pid=cat['pid'])
        sh_exit = run.one(ev='exit', pid=sh['pid'])
        self.assertEqual(cat_exit.get('code'), 0, cat_exit)
        self.assertEqual(sh_exit.get('code'), 3, sh_exit)
        self.assertNotIn('signal', sh_exit)
        self.assertNotIn('syscall', sh_exit)
        self.assertLess(op['_line'], cat_exit['_line'])
        self.assertLess(cat_exit['_line'], sh_exit['_line'])

    def test_exit_code(self):
        run = self.trace(['sh', '-c', 'exit 7'])
        self.assertEqual(run.returncode, 7, run.summary())
        sh = run.one(ev='exec', ret=0)
        ex = run.one(ev='exit', pid=sh['pid'])
        self.assertEqual(ex.get('code'), 7, ex)

    def test_killed_by_signal(self):
        run = self.trace(['sh', '-c', 'kill -SEGV $$'])
        self.assertEqual(run.returncode, 128 + 11, run.summary())
        sh = run.one(ev='exec', ret=0)
        ex = run.one(ev='exit', pid=sh['pid'])
        self.assertEqual(ex.get('signal'), 11, ex)
        self.assertIn(ex.get('core'), (True, False), ex)
        self.assertNotIn('code', ex)

    def test_missing_command(self):
        run = self.trace([os.path.join(self.tmp, 'no-such-program')])
        self.assertNotEqual(run.returncode, 0, run.summary())
        self.assertTrue(run.stderr.strip(), 'no message about the failed exec')


if __name__ == '__main__':
    harness.main()
