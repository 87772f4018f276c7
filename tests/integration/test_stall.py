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
being reported without a long gap.

A regular file on FUSE can make any read wait: a small FUSE server (the
raw /dev/fuse protocol, no library) mounted on a root's /etc answers the
lookup of passwd and group only after 10 s.  The tracer reads these files on worker
threads, so the exec event still goes out (without names), other roots
still get their names, and the canary goes on."""

import ctypes
import errno
import os
import select
import shutil
import stat
import struct
import subprocess
import threading
import time

import harness

BUSYBOX = '/bin/busybox'
CANARY_WRITES = 400
HUGE = 50 << 20
# Generous: with the tracer healthy the gaps are milliseconds; a stalled
# tracer shows no canary call at all until the run's timeout.
MAX_GAP_NS = 5 * 10**9
# Longer than MAX_GAP_NS: a tracer that waited for the file would show it.
STALL_S = 10


FUSE_LOOKUP, FUSE_FORGET, FUSE_GETATTR, FUSE_INIT = 1, 2, 3, 26
FUSE_INTERRUPT, FUSE_DESTROY, FUSE_BATCH_FORGET = 36, 38, 42
NO_REPLY = (FUSE_FORGET, FUSE_INTERRUPT, FUSE_BATCH_FORGET)


class StuckFuse:
    """A FUSE file system of one empty directory whose lookups of passwd
    and group are answered only after STALL_S seconds (a file server that
    hangs)."""

    def __init__(self, point):
        self.point = point
        self.stuck = threading.Event()
        self.stopping = threading.Event()
        self.held = []
        self.fd = os.open('/dev/fuse', os.O_RDWR)
        libc = ctypes.CDLL(None, use_errno=True)
        opts = ('fd=%d,rootmode=40000,user_id=0,group_id=0' % self.fd).encode()
        if libc.mount(b'stuckfs', point.encode(), b'fuse', 0, opts) != 0:
            e = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(e, 'mount fuse: ' + os.strerror(e))
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def reply(self, unique, error=0, payload=b''):
        os.write(self.fd, struct.pack('<IiQ', 16 + len(payload), error, unique) + payload)

    def serve(self):
        while not self.stopping.is_set():
            # The hung lookups are answered at last: a thread waiting on
            # FUSE cannot be killed, so the tracer could not exit before.
            while self.held and time.monotonic() - self.held[0][0] > STALL_S:
                try:
                    self.reply(self.held.pop(0)[1], -errno.ENOENT)
                except OSError:
                    pass
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if not ready:
                    continue
                req = os.read(self.fd, 1 << 20)
            except OSError:
                return  # aborted or unmounted
            _, opcode, unique, node = struct.unpack_from('<IIQQ', req)
            body = req[40:]
            try:
                if opcode == FUSE_INIT:
                    # major, minor, readahead, flags, background,
                    # congestion, max_write, time_gran, max_pages, …
                    self.reply(unique, 0, struct.pack('<IIIIHHIIHHI28x', 7, 31, 0, 0,
                                                      16, 12, 1 << 17, 1, 32, 0, 0))
                elif opcode == FUSE_GETATTR and node == 1:
                    attr = struct.pack('<QQQQQQIIIIIIIIII', 1, 0, 0, 0, 0, 0, 0, 0, 0,
                                       stat.S_IFDIR | 0o755, 2, 0, 0, 0, 4096, 0)
                    self.reply(unique, 0, struct.pack('<QII', 1, 0, 0) + attr)
                elif opcode == FUSE_LOOKUP and body.split(b'\0')[0] in (b'passwd', b'group'):
                    self.stuck.set()
                    self.held.append((time.monotonic(), unique))
                elif opcode == FUSE_DESTROY:
                    self.reply(unique)
                elif opcode == FUSE_LOOKUP:
                    self.reply(unique, -errno.ENOENT)
                elif opcode not in NO_REPLY:
                    self.reply(unique, -errno.ENOSYS)
            except OSError:
                pass  # the request was interrupted

    def close(self):
        # Closing the device aborts the connection: every request still
        # waiting fails.
        subprocess.run(['umount', '-l', self.point], stderr=subprocess.DEVNULL)
        self.stopping.set()
        self.thread.join()
        os.close(self.fd)


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
        self.hostile_id_files(fallback=False)

    def test_hostile_id_files_without_openat2(self):
        """Kernels before 5.6: plain openat, still O_PATH first, checked
        and bounded."""
        os.environ['SENTRACE_NO_OPENAT2'] = '1'
        try:
            self.hostile_id_files(fallback=True)
        finally:
            del os.environ['SENTRACE_NO_OPENAT2']

    def hostile_id_files(self, fallback):
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
                if not (fallback and name == 'loop'):
                    self.assertNotIn('group', ev, (name, ev))
        if fallback:
            # Without RESOLVE_IN_ROOT an absolute link leaves the root (to
            # our /etc/group): the documented price of old kernels.
            self.assertIn('group', execs['loop'])

        writes = sorted(e['ts'] for e in run.find(ev='open', path=canary) if e['ret'] >= 0)
        self.assertEqual(len(writes), CANARY_WRITES, run.describe())
        gaps = [b - a for a, b in zip(writes, writes[1:])]
        self.assertLess(max(gaps), MAX_GAP_NS, gaps)

    def test_stuck_fuse_id_files(self):
        self.assertTrue(os.access(BUSYBOX, os.X_OK), BUSYBOX + ' is needed')
        self.assertTrue(os.path.exists('/dev/fuse'), '/dev/fuse is needed')
        sane, etc = self.make_root('sane')
        with open(os.path.join(etc, 'passwd'), 'w') as f:
            f.write('root:x:0:0:root:/root:/bin/sh\n')
        with open(os.path.join(etc, 'group'), 'w') as f:
            f.write('root:x:0:\n')
        stuck, etc = self.make_root('fuse')
        fs = StuckFuse(etc)
        self.addCleanup(fs.close)
        canary = os.path.join(self.tmp, 'canary')
        script = ('i=0; while [ $i -lt %d ]; do echo $i > %s; i=$((i+1)); done &\n'
                  'chroot %s /bin/busybox true fuse\n'
                  'chroot %s /bin/busybox true sane\n'
                  'chroot %s /bin/busybox true fuse2\n'
                  'wait\n' % (CANARY_WRITES, canary, stuck, sane, stuck))
        run = self.trace(['sh', '-c', script], timeout=60)
        self.assertEqual(run.returncode, 0, run.summary())
        # The tracer did go to the file, and the file server hung.
        self.assertTrue(fs.stuck.is_set())
        execs = {}
        for ev in run.find(ev='exec', ret=0):
            argv = ev.get('argv') or []
            if len(argv) == 3 and argv[:2] == ['/bin/busybox', 'true']:
                execs[argv[2]] = ev
        self.assertEqual(sorted(execs), ['fuse', 'fuse2', 'sane'], run.describe())
        for name in ('fuse', 'fuse2'):
            self.assertEqual(execs[name].get('uid'), 0, execs[name])
            self.assertNotIn('user', execs[name], execs[name])
        counters = run.records_of('stats')[-1]['counters']
        self.assertGreaterEqual(counters['id_names_late'], 2, counters)
        # Another root's names do not wait for the stuck one.
        self.assertEqual(execs['sane'].get('user'), 'root', execs['sane'])
        self.assertEqual(execs['sane'].get('group'), 'root', execs['sane'])
        writes = sorted(e['ts'] for e in run.find(ev='open', path=canary) if e['ret'] >= 0)
        self.assertEqual(len(writes), CANARY_WRITES, run.describe())
        gaps = [b - a for a, b in zip(writes, writes[1:])]
        self.assertLess(max(gaps), MAX_GAP_NS, gaps)


if __name__ == '__main__':
    harness.main()
