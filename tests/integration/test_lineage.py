# SPDX-License-Identifier: Apache-2.0
"""Lineage survives daemonising (issue 10 item 3, review T9).

A program copied as "nginx" double-forks: its child forks the daemon and
exits, the daemon waits until the kernel has re-parented it (to a subreaper,
PID 1 or the tracer) and only then execs a shell.  The exec event names the
new parent; the probe keeps the fork history, so process.ancestors still
holds the exited intermediate and nginx, and the default policy's
web_server_spawned_shell fires."""

import json
import os
import shutil

import harness


def json_or_none(line):
    try:
        return json.loads(line) if line.startswith('{') else None
    except ValueError:
        return None

class LineageTest(harness.TracedTestCase):

    def test_double_fork_then_exec(self):
        daemon = harness.helper('daemon')
        self.assertIsNotNone(daemon, 'tests/helpers/daemon was not built')
        bindir = self.subdir('bin')
        nginx = os.path.join(bindir, 'nginx')
        shutil.copy(daemon, nginx)
        os.chmod(nginx, 0o755)
        sh = shutil.which('sh')
        run = self.trace([nginx, '-e', sh, '-c', 'exit 0'])
        self.assertEqual(run.returncode, 0, run.summary())

        top = run.one(ev='exec', ret=0, file=nginx)['pid']
        mid = run.one(ev='fork', pid=top, thread=False)['child']
        daemon_pid = run.one(ev='fork', pid=mid, thread=False)['child']
        mid_exit = run.one(ev='exit', pid=mid)
        execs = [e for e in run.find(ev='exec', pid=daemon_pid, ret=0)]
        self.assertEqual(len(execs), 1, run.describe())
        ex = execs[0]
        # The attack happened: the intermediate was gone and the kernel had
        # re-parented the daemon before its exec.
        self.assertLess(mid_exit['_line'], ex['_line'])
        self.assertNotIn(ex.get('ppid'), (top, mid), ex)

        # The probe's view of the exec'ing process: the kernel's current
        # parent as ppid, the fork history as ancestors.
        proc = ex['_process']
        self.assertEqual(proc.get('ppid'), ex.get('ppid'), proc)
        # Alerts go to the probe's stdout, its log here.
        alerts = [a for a in map(json_or_none, run.probe.log_text().splitlines())
                  if a and a.get('rule_id') == 'web_server_spawned_shell']
        self.assertEqual(len(alerts), 1, run.summary())
        anc = alerts[0]['process']['ancestors']
        self.assertEqual([a['pid'] for a in anc[:2]], [mid, top], anc)
        self.assertEqual([os.path.basename(a.get('file', '')) for a in anc[:2]],
                         ['nginx', 'nginx'], anc)
        self.assertTrue(anc[0].get('exited'), anc)


if __name__ == '__main__':
    harness.main()
