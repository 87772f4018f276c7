# SPDX-License-Identifier: Apache-2.0
"""Lineage survives daemonising (issue 10 item 3, review T9).

A program copied as "nginx" double-forks: its child forks the daemon and
exits, the daemon waits until the kernel has re-parented it (to a subreaper,
PID 1 or the tracer) and only then execs a shell.  The exec event names the
new parent; the probe keeps the fork history, so process.ancestors still
holds the exited intermediate and nginx, and the default policy's
web_server_spawned_shell fires; also with sentrace as PID 1 of a pid
namespace, where the daemon is re-parented to the tracer itself."""

import json
import os
import shutil
import subprocess

import harness


def json_or_none(line):
    try:
        return json.loads(line) if line.startswith('{') else None
    except ValueError:
        return None

class LineageTest(harness.TracedTestCase):

    def nginx(self):
        daemon = harness.helper('daemon')
        self.assertIsNotNone(daemon, 'tests/helpers/daemon was not built')
        nginx = os.path.join(self.subdir('bin'), 'nginx')
        shutil.copy(daemon, nginx)
        os.chmod(nginx, 0o755)
        return nginx

    def check(self, run, nginx, reparented_to=None):
        top = run.one(ev='exec', ret=0, file=nginx)['pid']
        mid = run.one(ev='fork', pid=top, thread=False)['child']
        daemon_pid = run.one(ev='fork', pid=mid, thread=False)['child']
        mid_exit = run.one(ev='exit', pid=mid)
        execs = run.find(ev='exec', pid=daemon_pid, ret=0)
        self.assertEqual(len(execs), 1, run.describe())
        ex = execs[0]
        # The attack happened: the intermediate was gone and the kernel had
        # re-parented the daemon before its exec.
        self.assertLess(mid_exit['_line'], ex['_line'])
        self.assertNotIn(ex.get('ppid'), (top, mid), ex)
        if reparented_to is not None:
            self.assertEqual(ex.get('ppid'), reparented_to, ex)

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

    def test_double_fork_then_exec(self):
        nginx = self.nginx()
        run = self.trace([nginx, '-e', shutil.which('sh'), '-c', 'exit 0'])
        self.assertEqual(run.returncode, 0, run.summary())
        self.check(run, nginx)

    def test_reparented_to_sentrace_as_pid1(self):
        """In a container sentrace is PID 1: the daemon becomes its child,
        and the tracer is not in the process table."""
        unshare = shutil.which('unshare')
        self.assertIsNotNone(unshare, 'unshare (util-linux) is missing')
        nginx = self.nginx()
        probe = self.start_probe()
        argv = [unshare, '--fork', '--pid', '--mount-proc',
                harness.SENTRACE, 'trace', '--probe-addr', probe.addr,
                '--', nginx, '-e', shutil.which('sh'), '-c', 'exit 0']
        proc = subprocess.run(argv, capture_output=True, timeout=60)
        self.assertEqual(probe.stop(), 0, probe.log_text())
        run = harness.Run(argv, proc.returncode, proc.stdout.decode(),
                          proc.stderr.decode(errors='replace'), probe)
        self.assertEqual(proc.returncode, 0, run.summary())
        self.check(run, nginx, reparented_to=1)

if __name__ == '__main__':
    harness.main()
