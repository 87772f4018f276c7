# SPDX-License-Identifier: Apache-2.0
"""A tracee cannot stall the tracer through the files it reads on the
tracee's behalf (issue 10 item 4, review T7).

At every exec the tracer names the uid and gid from the process's own
/etc/passwd and /etc/group.  Here a tracee chroots into roots whose
/etc/passwd and /etc/group are a FIFO (open blocks forever), a symlink to a
/dev/zero node and a device node itself (reads never end), a symlink loop,
and a 50 MiB sparse file whose only matching line lies past the 1 MiB the
tracer reads, while a canary tracee keeps writing a file.  The run must
end, every exec event must arrive (without names where the file is
hostile, with them in a sane chroot), and the canary's calls must keep
being reported without a long gap."""

import os
import shutil
import stat

import harness

BUSYBOX = '/bin/busybox'
CANARY_WRITES = 400
HUGE = 50 << 20
# Generous: with the tracer healthy the gaps are milliseconds; a stalled
# tracer shows no canary call at all until the run's timeout.
MAX_GAP_NS = 5 * 10**9


class StallTest(harness.TracedTestCase):

    def make_root(self, name):
        root = self.subdir(name)
        for d in ('bin', 'etc', 'dev'):
            os.makedirs(os.path.join(root, d))
        shutil.copy2(BUSYBOX, os.path.join(root, 'bin', 'busybox'))
        return root, os.path.join(root, 'etc')

    def roots(self):
        roots = {}
        root, etc = self.make_root('sane')
        with open(os.path.join(etc, 'passwd'), 'w') as f:
            f.write('root:x:0:0:root:/root:/bin/sh\n')
        with open(os.path.join(etc, 'group'), 'w') as f:
            f.write('root:x:0:\n')
        roots['sane'] = root

        root, etc = self.make_root('fifo')
        os.mkfifo(os.path.join(etc, 'passwd'))
        os.mkfifo(os.path.join(etc, 'group'))
        roots['fifo'] = root

        # /dev/zero inside the root (RESOLVE_IN_ROOT keeps the absolute
        # link there) and on the host (where a kernel without openat2
        # would resolve it): either way a device.
        root, etc = self.make_root('zero')
        os.mknod(os.path.join(root, 'dev', 'zero'), 0o666 | stat.S_IFCHR,
                 os.makedev(1, 5))
        os.symlink('/dev/zero', os.path.join(etc, 'passwd'))
        os.mknod(os.path.join(etc, 'group'), 0o666 | stat.S_IFCHR, os.makedev(1, 5))
        roots['zero'] = root

        root, etc = self.make_root('loop')
        os.symlink('passwd2', os.path.join(etc, 'passwd'))
        os.symlink('passwd', os.path.join(etc, 'passwd2'))
        os.symlink('/etc/group', os.path.join(etc, 'group'))
        roots['loop'] = root

        root, etc = self.make_root('huge')
        for name, line in (('passwd', b'root:x:0:0:root:/root:/bin/sh\n'),
                           ('group', b'root:x:0:\n')):
            with open(os.path.join(etc, name), 'wb') as f:
                f.truncate(HUGE)
                f.seek(HUGE)
                f.write(line)
        roots['huge'] = root
        return roots

    def test_hostile_id_files(self):
        self.assertTrue(os.access(BUSYBOX, os.X_OK), BUSYBOX + ' is needed')
        roots = self.roots()
        canary = os.path.join(self.tmp, 'canary')
        script = ('i=0; while [ $i -lt %d ]; do echo $i > %s; i=$((i+1)); done &\n'
                  % (CANARY_WRITES, canary))
        for name, root in roots.items():
            script += 'chroot %s /bin/busybox true %s || echo chroot-failed %s\n' % (
                root, name, name)
        script += 'wait\n'
        run = self.trace(['sh', '-c', script], timeout=60)
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertNotIn('chroot-failed', run.stdout)

        execs = {}
        for ev in run.find(ev='exec', ret=0):
            argv = ev.get('argv') or []
            if len(argv) == 3 and argv[:2] == ['/bin/busybox', 'true']:
                execs[argv[2]] = ev
        self.assertEqual(sorted(execs), sorted(roots), run.describe())
        for name, ev in execs.items():
            self.assertEqual(ev.get('uid'), 0, ev)
            self.assertEqual(ev.get('gid'), 0, ev)
            if name == 'sane':
                self.assertEqual(ev.get('user'), 'root', ev)
                self.assertEqual(ev.get('group'), 'root', ev)
            else:
                # The huge file's line lies past the bytes read.
                self.assertNotIn('user', ev, (name, ev))
                self.assertNotIn('group', ev, (name, ev))

        writes = sorted(e['ts'] for e in run.find(ev='open', path=canary) if e['ret'] >= 0)
        self.assertEqual(len(writes), CANARY_WRITES, run.describe())
        gaps = [b - a for a, b in zip(writes, writes[1:])]
        self.assertLess(max(gaps), MAX_GAP_NS, gaps)


if __name__ == '__main__':
    harness.main()
