#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The kernel's view, not the tracee's word (issue 10, items 2 and 11).

Paths of opens are what the kernel opened (symlinks, "..", magic links);
exec events carry the file and argv that really ran, and a thread that
rewrites them after the call entered is flagged; a script or a relative
exec is not. Strings cut at 4 KiB, and paths under a cwd longer than
4 KiB, say so. Every attack runs for real under the tracer and a probe with
the default policy.
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

KVIEW = harness.helper('kview')


def alerts(run, rule):
    """The alerts of RULE the probe wrote (on its stdout, the log file)."""
    found = []
    for line in run.probe.log_text().splitlines():
        line = line.strip()
        if not line.startswith('{'):
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get('type') == 'alert' and rec.get('rule') == rule:
            found.append(rec)
    return found


class KernelViewTest(harness.TracedTestCase):

    def opens_of(self, run, word):
        return [e for e in run.events
                if e.get('ev') == 'open' and
                (word in e.get('path', '') or word in e.get('requested_path', ''))]

    def assertShadowOpen(self, run):
        """Every open that names a shadow file reports /etc/shadow, which
        it opened, and the default policy's rule fired."""
        opens = self.opens_of(run, 'shadow')
        self.assertTrue(opens, 'no open of a shadow file:%s%s'
                        % (run.describe(), run.summary()))
        for e in opens:
            self.assertEqual(e['path'], '/etc/shadow', run.describe(opens))
            self.assertGreaterEqual(e['ret'], 0, e)
        self.assertTrue(alerts(run, 'shadow_file_opened'),
                        'shadow_file_opened did not fire' + run.summary())
        return opens

    # ---- item 2: paths ----

    def test_dotdot_through_symlink(self):
        # /tmp/l -> /etc/ssh: "l/../shadow" is /etc/shadow, not l's parent.
        d = self.subdir('dotdot')
        os.symlink('/etc/ssh', os.path.join(d, 'l'))
        run = self.trace(['cat', os.path.join(d, 'l/../shadow')])
        self.assertEqual(run.returncode, 0, run.summary())
        e = self.assertShadowOpen(run)[0]
        # The request, folded as a string, stays visible for what it is.
        self.assertEqual(e['requested_path'], os.path.join(d, 'shadow'))

    def test_symlink_to_shadow(self):
        d = self.subdir('link')
        os.symlink('/etc/shadow', os.path.join(d, 'innocent'))
        run = self.trace(['cat', 'innocent'], cwd=d)
        self.assertEqual(run.returncode, 0, run.summary())
        e = self.assertShadowOpen(run)[0]
        self.assertEqual(e['requested_path'], os.path.join(d, 'innocent'))

    def test_magic_links(self):
        for how in ('/proc/self/root/etc/shadow',
                    '/proc/thread-self/root/etc/shadow',
                    '/proc/self/cwd/../../../../../../../etc/shadow'):
            with self.subTest(how=how):
                run = self.trace(['cat', how])
                self.assertEqual(run.returncode, 0, run.summary())
                self.assertShadowOpen(run)
        # Directory descriptors: /dev/fd/N and /proc/self/fd/N.
        for how in ('/dev/fd/3/shadow', '/proc/self/fd/3/shadow'):
            with self.subTest(how=how):
                run = self.trace(['sh', '-c', 'exec 3</etc; cat %s' % how])
                self.assertEqual(run.returncode, 0, run.summary())
                self.assertShadowOpen(run)

    def test_unlink_through_symlink(self):
        # A call that returns no fd: the directory is looked up by the
        # kernel, so "l/../victim" is reported where it really was.
        d = self.subdir('unlink')
        real = self.subdir('unlink/real/sub')
        os.symlink(real, os.path.join(d, 'l'))
        victim = os.path.join(os.path.dirname(real), 'victim')
        open(victim, 'w').close()
        run = self.trace(['rm', os.path.join(d, 'l/../victim')])
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertFalse(os.path.exists(victim))
        ev = [e for e in run.events if e.get('ev') == 'unlink']
        self.assertTrue(ev, run.describe())
        self.assertEqual(ev[-1]['path'], victim, run.describe(ev))
        # And through a directory descriptor's magic link.
        open(victim, 'w').close()
        run = self.trace(['sh', '-c', 'exec 3<%s; rm /dev/fd/3/victim'
                          % os.path.dirname(real)])
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertFalse(os.path.exists(victim))
        ev = [e for e in run.events if e.get('ev') == 'unlink']
        self.assertTrue(ev, run.describe())
        self.assertEqual(ev[-1]['path'], victim, run.describe(ev))
        self.assertEqual(ev[-1]['requested_path'], '/dev/fd/3/victim', ev[-1])

    def test_cwd_renamed_under_the_tracee(self):
        # No cached cwd: the shell opens "f" relative to its cwd, the cwd
        # is renamed by another process (no chdir), the same thread opens
        # "f" again: the second path is under the new name.
        d = self.subdir('cwd')
        a = self.subdir('cwd/a')
        with open(os.path.join(a, 'f'), 'w') as f:
            f.write('x\n')
        run = self.trace(['sh', '-c', 'read x < f; mv ../a ../b; read x < f'],
                         cwd=a)
        self.assertEqual(run.returncode, 0, run.summary())
        paths = [e['path'] for e in run.events
                 if e.get('ev') == 'open' and e['path'].endswith('/f')]
        self.assertEqual(paths, [os.path.join(d, 'a/f'), os.path.join(d, 'b/f')],
                         run.describe())

    def test_cwd_changed_by_a_process_sharing_it(self):
        # clone(CLONE_FS): another process (not the caller's thread group)
        # chdirs for it. The caller's next relative open is under the new
        # cwd.
        d = self.subdir('clonefs')
        a = self.subdir('clonefs/a')
        b = self.subdir('clonefs/b')
        for x in (a, b):
            open(os.path.join(x, 'f'), 'w').close()
        run = self.trace([KVIEW, 'clonefs', b], cwd=a)
        self.assertEqual(run.returncode, 0, run.summary())
        paths = [e['path'] for e in run.events
                 if e.get('ev') == 'open' and e['path'].endswith('/f')]
        self.assertEqual(paths, [os.path.join(a, 'f'), os.path.join(b, 'f')],
                         run.describe())
        del d

    def test_fuse_daemon_not_waited_for(self):
        # A traced FUSE daemon that makes a monitored call before it
        # answers a LOOKUP: were the tracer to look a name up there itself
        # (exec identity, chmod's path), it would wait for the daemon,
        # stopped and waiting for the tracer.
        mnt = self.subdir('fuse')
        run = self.trace([KVIEW, 'fuse', mnt], timeout=30)
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertEqual(run.stdout_json(), [{'exec_errno': 2, 'chmod_errno': 2}],
                         run.summary())
        chmods = [e for e in run.events if e.get('ev') == 'chmod']
        self.assertEqual([e['path'] for e in chmods], [os.path.join(mnt, 'other')],
                         run.describe())

    # ---- item 2: exec ----

    def test_exec_race(self):
        # Two copies of kview with names of the same length: a thread
        # flips the exec path and argv[2] while the other execs.
        d = self.subdir('race')
        a, b = os.path.join(d, 'kvA'), os.path.join(d, 'kvB')
        shutil.copy(KVIEW, a)
        shutil.copy(KVIEW, b)
        won = 0
        for attempt in range(10):
            run = self.trace([KVIEW, 'race', '40', a, b], timeout=120)
            self.assertEqual(run.returncode, 0, run.summary())
            ran = {r['pid']: r for r in run.stdout_json()}
            execs = [e for e in run.events if e.get('ev') == 'exec' and
                     e.get('pid') in ran]
            self.assertEqual(len(execs), len(ran), run.describe())
            self.assertEqual(len(ran), 40, run.stdout)
            for e in execs:
                what = ran[e['pid']]
                # What the event says ran is what ran.
                self.assertEqual(e['file'], what['exe'], e)
                self.assertEqual(e['argv'], ['kview', 'report', what['arg']], e)
                asked_file = e.get('requested_file', e['file'])
                asked_argv = e.get('requested_argv', e['argv'])
                differs = asked_file != e['file'] or asked_argv != e['argv']
                self.assertEqual(e.get('tampered', False), differs, e)
                won += differs
            if won:
                self.assertTrue(alerts(run, 'exec_tampered'),
                                'exec_tampered did not fire' + run.summary())
                break
        self.assertGreater(won, 0, 'the race was never won in 10 x 40 tries')

    def test_script_and_relative_exec_not_flagged(self):
        d = self.subdir('script')
        script = os.path.join(d, 's.sh')
        with open(script, 'w') as f:
            f.write('#!/bin/sh -e\nexit 0\n')
        os.chmod(script, 0o755)
        shutil.copy('/bin/true', os.path.join(d, 'mytrue'))
        run = self.trace(['sh', '-c', '%s a b; ./s.sh c; ./mytrue x; '
                          'env ../script/s.sh d' % script], cwd=d)
        self.assertEqual(run.returncode, 0, run.summary())
        execs = [e for e in run.events if e.get('ev') == 'exec']
        self.assertFalse([e for e in execs if e.get('tampered')], run.describe(execs))
        scripts = [e for e in execs if e.get('requested_file') == script]
        self.assertEqual(len(scripts), 3, run.describe(execs))
        # The kernel ran the interpreter, with the script's name.
        first = scripts[0]
        self.assertEqual(first['file'], os.path.realpath('/bin/sh'), first)
        self.assertEqual(first['argv'], ['/bin/sh', '-e', script, 'a', 'b'], first)
        mytrue = [e for e in execs if e['file'] == os.path.join(d, 'mytrue')]
        self.assertEqual(len(mytrue), 1, run.describe(execs))
        self.assertEqual(mytrue[0]['argv'], ['./mytrue', 'x'])
        self.assertFalse(alerts(run, 'exec_tampered'), run.summary())

    # ---- item 11: truncation ----

    def test_long_path_flagged(self):
        long = '/' + 'p' * 200 + ('/' + 'q' * 200) * 25   # ~5 KiB
        run = self.trace(['cat', long])
        self.assertNotEqual(run.returncode, 0, run.summary())
        opens = [e for e in run.events if e.get('ev') == 'open' and
                 e.get('path', '').startswith('/' + 'p' * 200)]
        self.assertTrue(opens, run.describe())
        for e in opens:
            self.assertTrue(e.get('path_truncated'), e)

    def test_deep_cwd(self):
        d = self.subdir('deep')
        run = self.trace([KVIEW, 'deep', '5000'], cwd=d)
        self.assertEqual(run.returncode, 0, run.summary())
        opens = [e for e in run.events if e.get('ev') == 'open' and
                 e.get('path', '').endswith('evil.php')]
        self.assertEqual(len(opens), 1, run.describe())
        e = opens[0]
        self.assertTrue(e['path'].startswith('/') or e.get('path_truncated'), e)
        ex = [e for e in run.events if e.get('ev') == 'exec' and
              e.get('argv') == ['true']]
        self.assertEqual(len(ex), 1, run.describe())
        self.assertTrue(ex[0].get('cwd_truncated') or
                        (ex[0].get('cwd', '').startswith('/') and
                         len(ex[0]['cwd']) > 5000), ex[0])


if __name__ == '__main__':
    harness.main()
