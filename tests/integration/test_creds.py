# SPDX-License-Identifier: Apache-2.0
"""Credentials: --uid/--gid switch the application's ids and drop its
supplementary groups; setuid binaries still work inside the traced tree."""

import grp
import json
import os
import pwd
import shutil

import harness

NOBODY = 65534


def _has_pw(uid):
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


class CredsTest(harness.TracedTestCase):

    def installed_creds(self, setuid=False):
        """A copy of the creds helper that uid 65534 can run, optionally
        setuid root, in a directory not mounted nosuid."""
        d = self.subdir('bin')
        if setuid and os.statvfs(d).f_flag & os.ST_NOSUID:
            d = os.path.join(harness.BUILD, 'tests', 'integration',
                             'suid-%d' % os.getpid())
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
            self.addCleanup(shutil.rmtree, d, True)
            self.assertFalse(os.statvfs(d).f_flag & os.ST_NOSUID,
                             'no directory without nosuid for the setuid test')
        path = os.path.join(d, 'creds')
        shutil.copy(harness.helper('creds'), path)
        os.chown(path, 0, 0)
        os.chmod(path, 0o4755 if setuid else 0o755)
        return path

    def test_uid_gid(self):
        prog = self.installed_creds()
        run = self.trace([prog], ['--uid', str(NOBODY), '--gid', str(NOBODY)])
        self.assertEqual(run.returncode, 0, run.summary())
        creds = json.loads(run.stdout)
        self.assertEqual(creds, {'uid': NOBODY, 'euid': NOBODY, 'gid': NOBODY,
                                 'egid': NOBODY, 'groups': [NOBODY]})
        ex = run.one(ev='exec', ret=0)
        self.assertEqual(os.path.realpath(ex['file']), os.path.realpath(prog))
        for key in ('uid', 'euid', 'gid', 'egid'):
            self.assertEqual(ex.get(key), NOBODY, '%s of %r' % (key, harness.strip(ex)))
        # The names as the process's own /etc/passwd and /etc/group say,
        # and the probe's process record carries them too.
        self.assertEqual(ex.get('user'), pwd.getpwuid(NOBODY).pw_name, harness.strip(ex))
        self.assertEqual(ex.get('group'), grp.getgrgid(NOBODY).gr_name, harness.strip(ex))
        self.assertEqual(ex['_process'].get('file'), ex['file'])

    def test_uid_alone_takes_the_users_group(self):
        """--uid without --gid: the user's primary group, never the
        tracer's (root's) group 0."""
        prog = self.installed_creds()
        run = self.trace([prog], ['--uid', str(NOBODY)])
        self.assertEqual(run.returncode, 0, run.summary())
        creds = json.loads(run.stdout)
        gid = pwd.getpwuid(NOBODY).pw_gid
        self.assertNotEqual(gid, 0)
        self.assertEqual((creds['uid'], creds['gid'], creds['egid'], creds['groups']),
                         (NOBODY, gid, gid, [gid]))

    def test_uid_without_passwd_entry_needs_gid(self):
        uid = next(u for u in range(4242, 60000) if not _has_pw(u))
        run = self.trace(['true'], ['--uid', str(uid)], probe=False,
                         probe_addr='unix:' + os.path.join(self.tmp, 'none'))
        self.assertEqual(run.returncode, 2, run.summary())
        self.assertIn('--gid', run.stderr)

    def test_setuid_binary(self):
        prog = self.installed_creds(setuid=True)
        run = self.trace([prog], ['--uid', str(NOBODY), '--gid', str(NOBODY)])
        self.assertEqual(run.returncode, 0, run.summary())
        creds = json.loads(run.stdout)
        self.assertEqual(creds['uid'], NOBODY)
        self.assertEqual(creds['euid'], 0, 'setuid bit ignored (no_new_privs?)')
        self.assertEqual(creds['gid'], NOBODY)
        ex = run.one(ev='exec', ret=0)
        self.assertEqual(ex.get('uid'), NOBODY, harness.strip(ex))
        self.assertEqual(ex.get('euid'), 0, harness.strip(ex))

    def test_setuid_binary_in_shell(self):
        """The setuid program is exec'd by a child of the application."""
        prog = self.installed_creds(setuid=True)
        run = self.trace(['sh', '-c', prog + '; exit 0'],
                         ['--uid', str(NOBODY), '--gid', str(NOBODY)])
        self.assertEqual(run.returncode, 0, run.summary())
        creds = json.loads(run.stdout)
        self.assertEqual((creds['uid'], creds['euid']), (NOBODY, 0))


if __name__ == '__main__':
    harness.main()
