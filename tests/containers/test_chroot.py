# SPDX-License-Identifier: Apache-2.0
"""sentrace-static in a container-like root: a directory that holds only the
tracer, a static busybox, the files the workload reads, and /proc (which
every container has and the tracer needs).  The tracer runs chrooted into
it and talks to a probe outside over loopback TCP, as a tracer in a
container talks to a sidecar probe.

Also checks `sentrace setup --cws-volume-mount`, the way an init container
puts the tracer into a shared volume, once the binary has the command.

Environment (tests/containers/meson.build): SENTRACE_STATIC (empty when
sentrace-static was not built: skipped), SENTRACE_PROBE.
"""

import json
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
STATIC = os.environ.get('SENTRACE_STATIC', '')
PROBE = os.environ.get('SENTRACE_PROBE', '')
BUSYBOX_CANDIDATES = ('/bin/busybox', '/usr/bin/busybox')

CONTAINER_ID = 'chroot-test-0123'
SCRIPT = ('busybox cat /etc/hostname-copy; busybox echo hi > /tmp/x; exit 7')
O_CREAT = 0o100


def skip(reason):
    print('skipped: ' + reason, file=sys.stderr)
    sys.exit(SKIP)


def can_trace():
    """None when this process may chroot, mount and ptrace; else why not."""
    if os.geteuid() != 0:
        return 'not root'
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('CapEff:') and not int(line.split()[1], 16) & (1 << 19):
                    return 'no CAP_SYS_PTRACE'
    except OSError:
        pass
    try:
        with open('/proc/sys/kernel/yama/ptrace_scope') as f:
            if f.read().strip() == '3':
                return 'kernel.yama.ptrace_scope is 3'
    except OSError:
        pass
    return None


def is_static_elf(path):
    """True when PATH is an ELF file without a program interpreter
    (PT_INTERP), i.e. it runs without a dynamic loader in the root."""
    with open(path, 'rb') as f:
        ident = f.read(16)
        if ident[:4] != b'\x7fELF':
            return False
        is64 = ident[4] == 2
        end = '<' if ident[5] == 1 else '>'
        if is64:
            f.seek(0x20)
            phoff, = struct.unpack(end + 'Q', f.read(8))
            f.seek(0x36)
        else:
            f.seek(0x1c)
            phoff, = struct.unpack(end + 'I', f.read(4))
            f.seek(0x2a)
        phentsize, phnum = struct.unpack(end + 'HH', f.read(4))
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, = struct.unpack(end + 'I', f.read(4))
            if p_type == 3:  # PT_INTERP
                return False
    return True


def find_busybox():
    for path in BUSYBOX_CANDIDATES:
        if os.access(path, os.X_OK) and is_static_elf(path):
            return path
    return None


def has_setup_command():
    """Whether this sentrace build has `setup` (it answers --help with 0)."""
    r = subprocess.run([STATIC, 'setup', '--help'], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return r.returncode == 0


class TcpProbe:
    """sentrace-probe on 127.0.0.1 with a port the kernel picks; the port
    is read from the probe's info-level log line."""

    def __init__(self, directory):
        self.out = os.path.join(directory, 'probe.jsonl')
        self.log = os.path.join(directory, 'probe.log')
        self.proc = None
        self.addr = None

    def start(self, timeout=10):
        with open(self.log, 'wb') as log:
            self.proc = subprocess.Popen(
                [PROBE, 'run', '--listen', '127.0.0.1:0', '--verbose',
                 '--output', self.out, '--format', 'json'],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(r'listening on (127\.0\.0\.1:\d+)', self.log_text())
            if m:
                self.addr = m.group(1)
                return self
            if self.proc.poll() is not None:
                raise AssertionError('probe exited with %d: %s'
                                     % (self.proc.returncode, self.log_text()))
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError('probe did not log its port within %ds: %s'
                                     % (timeout, self.log_text()))
            time.sleep(0.01)

    def stop(self, timeout=10):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError('probe did not stop within %ds of SIGTERM' % timeout)

    def log_text(self):
        try:
            with open(self.log, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def records(self):
        recs = []
        try:
            with open(self.out) as f:
                for line in f:
                    if line.strip():
                        recs.append(json.loads(line))
        except FileNotFoundError:
            pass
        return recs


def make_root(top, busybox):
    """The container's root: /bin/busybox, /etc/hostname-copy, /tmp, /proc."""
    root = os.path.join(top, 'root')
    for d in ('bin', 'etc', 'tmp', 'proc'):
        os.makedirs(os.path.join(root, d))
    os.chmod(os.path.join(root, 'tmp'), 0o1777)
    shutil.copy2(busybox, os.path.join(root, 'bin', 'busybox'))
    with open(os.path.join(root, 'etc', 'hostname-copy'), 'w') as f:
        f.write('in-the-chroot\n')
    return root


def mount_proc(root):
    subprocess.run(['mount', '-t', 'proc', 'proc', os.path.join(root, 'proc')], check=True)


def umount_all(top):
    """Lazily unmounts whatever the test mounted under TOP."""
    with open('/proc/self/mounts') as f:
        points = [line.split()[1] for line in f]
    for point in reversed(points):
        point = point.replace('\\040', ' ')
        if point == top or point.startswith(top + '/'):
            subprocess.run(['umount', '-l', point], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


class ChrootTrace(unittest.TestCase):
    """One traced run in the chroot, examined by several tests."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.top = tempfile.mkdtemp(prefix='sentrace-ct-')
        os.chmod(cls.top, 0o755)
        cls.probe = None
        try:
            cls._run()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _run(cls):
        busybox = find_busybox()
        if not busybox:
            raise AssertionError('no static busybox (%s); install busybox-static '
                                 '(tools/setup does)' % ', '.join(BUSYBOX_CANDIDATES))
        root = make_root(cls.top, busybox)
        cls.root = root
        cls.used_setup = has_setup_command()
        if cls.used_setup:
            # As an init container would: the volume is the root here.
            r = subprocess.run([STATIC, 'setup', '--cws-volume-mount', root],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if r.returncode != 0:
                raise AssertionError('sentrace setup failed (%d): %s'
                                     % (r.returncode, r.stderr.decode(errors='replace')))
        else:
            shutil.copyfile(STATIC, os.path.join(root, 'sentrace'))
            os.chmod(os.path.join(root, 'sentrace'), 0o755)
        mount_proc(root)
        cls.probe = TcpProbe(cls.top).start()

        def enter_root():
            os.chroot(root)
            os.chdir('/')

        cls.argv = ['/sentrace', 'trace', '--probe-addr', cls.probe.addr, '--',
                    '/bin/busybox', 'sh', '-c', SCRIPT]
        try:
            r = subprocess.run(cls.argv, preexec_fn=enter_root, timeout=60,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE,
                               env={'PATH': '/bin', 'SENTRACE_CONTAINER_ID': CONTAINER_ID})
        except subprocess.TimeoutExpired as e:
            raise AssertionError('the traced run did not finish within 60s: %s'
                                 % (e.stderr or b'').decode(errors='replace'))
        cls.returncode = r.returncode
        cls.stdout = r.stdout.decode(errors='replace')
        cls.stderr = r.stderr.decode(errors='replace')
        cls.probe_rc = cls.probe.stop()
        cls.records = cls.probe.records()
        cls.events = [rec['event'] for rec in cls.records
                      if rec.get('type') == 'event' and isinstance(rec.get('event'), dict)]

    @classmethod
    def tearDownClass(cls):
        if cls.probe:
            try:
                cls.probe.stop()
            except AssertionError:
                pass
        umount_all(cls.top)
        shutil.rmtree(cls.top, ignore_errors=True)

    def context(self):
        return ('\ncommand: %s\nexit status: %r\nstderr:\n%s\nprobe log:\n%s\nevents:\n%s'
                % (' '.join(self.argv), self.returncode, self.stderr[-3000:],
                   self.probe.log_text()[-2000:],
                   '\n'.join(json.dumps({k: v for k, v in e.items() if k != 'envp'})
                             for e in self.events[:40])))

    def execs(self):
        return [e for e in self.events if e.get('ev') == 'exec']

    def test_tracer_is_static(self):
        self.assertTrue(is_static_elf(STATIC), STATIC + ' has a program interpreter')
        self.assertTrue(is_static_elf(os.path.join(self.root, 'sentrace')))

    def test_exit_status_and_output(self):
        self.assertEqual(self.returncode, 7, self.context())
        self.assertEqual(self.stdout, 'in-the-chroot\n', self.context())
        with open(os.path.join(self.root, 'tmp', 'x')) as f:
            self.assertEqual(f.read(), 'hi\n')
        self.assertEqual(self.probe_rc, 0, self.probe.log_text())

    def test_session(self):
        starts = [r for r in self.records if r.get('type') == 'session_start']
        self.assertEqual(len(starts), 1, self.context())
        sess = starts[0]['session']
        self.assertEqual(sess.get('mode'), 'wrapped', sess)
        self.assertEqual(sess.get('container_id'), CONTAINER_ID, sess)
        ends = [r for r in self.records if r.get('type') == 'session_end']
        self.assertEqual(len(ends), 1, self.context())
        self.assertEqual(ends[0].get('exit_status'), 7, ends[0])

    def test_exec_of_the_shell(self):
        first = self.execs()[:1]
        self.assertTrue(first, 'no exec event' + self.context())
        self.assertEqual(first[0].get('file'), '/bin/busybox', self.context())
        self.assertEqual(first[0].get('argv'), ['/bin/busybox', 'sh', '-c', SCRIPT],
                         self.context())

    def test_exec_of_the_applets(self):
        argvs = [e.get('argv') for e in self.execs()]
        self.assertIn(['busybox', 'cat', '/etc/hostname-copy'], argvs, self.context())
        self.assertIn(['busybox', 'echo', 'hi'], argvs, self.context())

    def test_exec_file_of_the_applets(self):
        """busybox sh runs its applets by executing /proc/self/exe: the
        tracer must resolve that as the tracee's /proc/self (/bin/busybox),
        not its own (/sentrace)."""
        files = [e.get('file') for e in self.execs()
                 if (e.get('argv') or [''])[0] == 'busybox']
        self.assertTrue(files, self.context())
        self.assertEqual(set(files), {'/bin/busybox'}, self.context())

    def test_opens_with_in_chroot_paths(self):
        reads = [e for e in self.events if e.get('path') == '/etc/hostname-copy']
        self.assertTrue(reads, 'no open of /etc/hostname-copy' + self.context())
        self.assertTrue(any(e.get('ret', -1) >= 0 and not e.get('flags', 0) & 3
                            for e in reads), self.context())
        writes = [e for e in self.events if e.get('path') == '/tmp/x']
        self.assertTrue(writes, 'no open of /tmp/x' + self.context())
        self.assertTrue(any(e.get('ret', -1) >= 0 and e.get('flags', 0) & O_CREAT
                            for e in writes), self.context())
        # Nothing outside the root leaks in: every path is an in-root path.
        top = self.top
        leaked = [e for e in self.events
                  if isinstance(e.get('path'), str) and e['path'].startswith(top)]
        self.assertEqual(leaked, [], self.context())


class Setup(unittest.TestCase):
    """`sentrace setup --cws-volume-mount DIR` and its exit statuses."""

    def setUp(self):
        if not has_setup_command():
            self.skipTest('this sentrace has no setup command yet')
        self.top = tempfile.mkdtemp(prefix='sentrace-setup-')
        os.chmod(self.top, 0o755)

    def tearDown(self):
        umount_all(self.top)
        shutil.rmtree(self.top, ignore_errors=True)

    def setup(self, directory, exe=STATIC, **kw):
        return subprocess.run([exe, 'setup', '--cws-volume-mount', directory],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)

    def test_copy(self):
        vol = os.path.join(self.top, 'vol')
        os.mkdir(vol)
        r = self.setup(vol)
        self.assertEqual(r.returncode, 0, r.stderr)
        dst = os.path.join(vol, 'sentrace')
        st = os.stat(dst)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o755)
        with open(dst, 'rb') as a, open(STATIC, 'rb') as b:
            self.assertTrue(a.read() == b.read(), 'the copy differs')
        # Again: replaced by rename (a new inode), no temporary file left.
        r = self.setup(vol)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotEqual(os.stat(dst).st_ino, st.st_ino)
        self.assertEqual(os.listdir(vol), ['sentrace'])
        # The copy runs.
        r = subprocess.run([dst, 'version'], stdout=subprocess.PIPE)
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith(b'sentrace '), r.stdout)

    def test_missing_dir(self):
        r = self.setup(os.path.join(self.top, 'nope'))
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(b'nope', r.stderr)

    def test_not_a_dir(self):
        path = os.path.join(self.top, 'file')
        open(path, 'w').close()
        r = self.setup(path)
        self.assertEqual(r.returncode, 3, r.stderr)

    def test_usage(self):
        r = subprocess.run([STATIC, 'setup'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_not_writable_as_non_root(self):
        vol = os.path.join(self.top, 'vol')
        os.mkdir(vol)
        os.chmod(vol, 0o755)

        def drop():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)

        # A copy nobody can run: the build tree may sit under a directory
        # only root may enter (a checkout in /root).
        exe = os.path.join(self.top, 'sentrace-static')
        shutil.copy2(STATIC, exe)
        os.chmod(exe, 0o755)
        r = self.setup(vol, exe=exe, preexec_fn=drop)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn(b'uid 0', r.stderr)
        self.assertEqual(os.listdir(vol), [])

    def test_read_only_volume(self):
        vol = os.path.join(self.top, 'ro')
        os.mkdir(vol)
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'ro', 'tmpfs', vol], check=True)
        r = self.setup(vol)
        self.assertEqual(r.returncode, 4, r.stderr)


def main():
    if not STATIC:
        skip('sentrace-static was not built (meson option static_tracer)')
    reason = can_trace()
    if reason:
        skip(reason)
    if not os.access(PROBE, os.X_OK):
        print('missing program: ' + PROBE, file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)


if __name__ == '__main__':
    main()
