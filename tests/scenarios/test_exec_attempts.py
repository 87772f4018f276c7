# SPDX-License-Identifier: Apache-2.0
"""A failed exec runs nothing, so it raises nothing.

A $PATH search tries each directory in turn: every attempt before the one
that works is an exec event with ENOENT (or EACCES). Before this change
each attempt raised the rule again, and a kill rule fired on each (enough
of them disarm it). Here `nc -e` is found on the fourth try: one alert.
A rule that asks for the return value still sees the failures."""

import os
import shutil
import sys
import tempfile
import unittest

import scenlib

NC = shutil.which('nc.traditional') or shutil.which('nc')

FAILED_RULE = '''
rules:
  - id: test_failed_exec_seen
    description: an exec that failed, for the test
    expression: exec.retval < 0 && exec.file.name == "nc"
    severity: low
    tags: {tactic: TA0002, technique: T1059}
'''


class ExecAttemptTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='sentrace-execs-')
        os.chmod(self.tmp, 0o755)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_path_search_alerts_once(self):
        self.assertTrue(NC, 'netcat-traditional is not installed (tools/setup)')
        bindir = os.path.join(self.tmp, 'bin')
        os.makedirs(bindir)
        os.symlink(os.path.realpath(NC), os.path.join(bindir, 'nc'))
        policy = os.path.join(self.tmp, 'failed.policy')
        with open(policy, 'w') as f:
            f.write(FAILED_RULE)
        path = ':'.join(os.path.join(self.tmp, 'no%d' % i) for i in range(3)) + ':' + bindir
        # Port 1 on loopback refuses at once: nc exits, nothing runs.
        # env searches with execvp(), an exec per directory (dash would
        # stat() its way there and exec once).
        run = scenlib.trace(['/bin/sh', '-c', 'PATH=%s /usr/bin/env nc -w 1 -e /bin/true '
                             '127.0.0.1 1; true' % path], os.path.join(self.tmp, 'run'),
                            [scenlib.POLICY, policy], cwd=self.tmp, timeout=120)
        hits = [a for a in run.alerts if a.get('rule_id') == 'netcat_remote_exec']
        self.assertEqual(len(hits), 1, 'one alert for one nc that ran:%s%s'
                         % (run.describe(), run.summary()))
        failed = [a for a in run.alerts if a.get('rule_id') == 'test_failed_exec_seen']
        self.assertEqual(len(failed), 3, 'the three failed attempts, to a rule that asks:%s%s'
                         % (run.describe(), run.summary()))


if __name__ == '__main__':
    sys.exit(unittest.main())
