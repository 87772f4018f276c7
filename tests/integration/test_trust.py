# SPDX-License-Identifier: Apache-2.0
"""Whom the probe and the tracer trust (docs/security.md): a session belongs
to its tracer, the token is proven both ways and never sent, and neither a
tracee, a local user nor a fake probe can blind, join or rob a real tracer.

Every attack runs for real against the real tracer and probe; the attacker
speaks the wire with tests/integration/wireclient.py.
"""

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import harness
import wireclient as w
from test_security import Probe as ArgProbe, write_secret

# An interpreter that a user other than root can run (sys.executable may
# live under /root).
SYSTEM_PYTHON = '/usr/bin/python3' if os.access('/usr/bin/python3', os.X_OK) \
    else sys.executable
HERE = os.path.dirname(os.path.abspath(__file__))

# A traced workload that opens the files named on stdin, one per line, and
# answers each line; "quit" ends it. Distinct names make every event
# recognisable in the probe's output.
OPENER = r'''
import os, sys
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == "quit":
        break
    if cmd[0] == "open":
        for path in cmd[1:]:
            os.close(os.open(path, os.O_RDONLY))
        print("done", flush=True)
'''

# A compromised tracee: it knows its tracer's identity (hostname, pid
# namespace, TracerPid) and replays it in a HELLO of its own, then sends an
# EVENTS frame whose seq is far beyond anything the tracer sent, and tries
# to resume low session ids with guessed secrets. Then it carries on, and
# every later event of the real tracer must still be seen.
HIJACKER = r'''
import os, socket, sys
sys.path.insert(0, sys.argv[1])
import wireclient as w
sock_path, marks = sys.argv[2], sys.argv[3]
def touch(name):
    os.close(os.open(os.path.join(marks, name), os.O_RDONLY))
for i in range(10):
    touch("before-%d" % i)
with open("/proc/self/status") as f:
    tracer = [int(l.split()[1]) for l in f if l.startswith("TracerPid:")][0]
assert tracer == os.getppid(), (tracer, os.getppid())
ident = (socket.gethostname(), os.stat("/proc/self/ns/pid").st_ino, tracer)
sessions = []
for resume in [None] + [(n, os.urandom(32)) for n in range(1, 6)]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    ack = w.handshake(s, w.hello_body(*ident, resume=resume))
    assert ack["type"] == w.HELLO_ACK and ack["error"] == "", ack
    sessions.append(ack["session"])
    s.sendall(w.msg(w.EVENTS, seq=2**62 - 1, events=[dict(
        ev="open", syscall="openat", ts=1, pid=os.getpid(), tid=os.getpid(),
        ret=3, path="/forged", flags=0, mode=0)]))
    f = w.read_frame(s)
    assert f["type"] == w.ACK and f["seq"] == 2**62, f
    s.close()
print("hijacked", " ".join(map(str, sessions)), flush=True)
for i in range(50):
    touch("after-%d" % i)
'''


def descendant(pid, comm):
    """The first process named COMM below PID (breadth first)."""
    todo = [pid]
    while todo:
        p = todo.pop(0)
        try:
            with open('/proc/%d/comm' % p) as f:
                if f.read().strip() == comm and p != pid:
                    return p
            with open('/proc/%d/task/%d/children' % (p, p)) as f:
                todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    raise AssertionError('no %s below pid %d' % (comm, pid))


def json_lines(run):
    return '\n'.join(harness.json.dumps(r) for r in run.records if r.get('type') != 'event')


def events_of(probe):
    return [r for r in probe.records() if r.get('type') == 'event']


def paths_by_session(probe, prefix):
    out = {}
    for r in events_of(probe):
        path = r['event'].get('path', '')
        if path.startswith(prefix):
            out.setdefault(r['session']['id'], set()).add(path)
    return out


class TrustTest(harness.TracedTestCase):

    def arg_probe(self, args=(), sock=None):
        p = ArgProbe(self.subdir('probe%d' % len(self.probes)), args)
        if sock:
            p.sock, p.addr = sock, 'unix:' + sock
        self.probes.append(p)
        return p.start()

    def start_opener(self, addr, extra=(), wrap=()):
        argv = list(wrap) + [harness.SENTRACE, 'trace', '--probe-addr', addr] + \
            list(extra) + ['--', sys.executable, '-c', OPENER]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(harness.kill_group, proc)
        self.assertEqual(proc.stdout.readline().strip(), b'ready',
                         'the workload did not start')
        return proc

    def ask(self, proc, line):
        proc.stdin.write(line.encode() + b'\n')
        proc.stdin.flush()
        return proc.stdout.readline().decode().strip()

    def finish(self, proc):
        proc.stdin.write(b'quit\n')
        proc.stdin.close()
        err = proc.stderr.read().decode(errors='replace')
        self.assertEqual(proc.wait(timeout=60), 0, err)
        return err

    def markers(self, name, n):
        d = self.subdir(name)
        paths = []
        for i in range(n):
            path = os.path.join(d, '%s-%d' % (name, i))
            with open(path, 'w') as f:
                f.write('x\n')
            paths.append(path)
        return d, paths

    # ---- item 1: sessions belong to their tracer ----

    def test_tracee_cannot_blind_its_tracer(self):
        marks = self.subdir('marks')
        for name in ['before-%d' % i for i in range(10)] + ['after-%d' % i for i in range(50)]:
            with open(os.path.join(marks, name), 'w') as f:
                f.write('x\n')
        probe = self.start_probe()
        argv = self.tracer_argv([sys.executable, '-c', HIJACKER, HERE, probe.sock, marks],
                                probe_addr=probe.addr)
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=60, start_new_session=True)
        self.assertEqual(probe.stop(), 0, probe.log_text())
        run = harness.Run(argv, harness.exit_status(proc.returncode),
                          proc.stdout.decode(errors='replace'),
                          proc.stderr.decode(errors='replace'), probe)
        self.assertEqual(run.returncode, 0, run.summary())
        hijacked = [int(x) for x in run.stdout.split('hijacked')[1].split()]
        before = run.find(path=os.path.join(marks, 'before-0'))
        self.assertEqual(len(before), 1, run.summary())
        real = before[0]['_session']['id']
        # Every HELLO of the tracee, with or without a guessed secret, got a
        # session of its own: never the tracer's.
        self.assertNotIn(real, hijacked, run.summary() + json_lines(run))
        self.assertEqual(len(set(hijacked)), len(hijacked), hijacked)
        # After the seq jump, every real event still arrives, in the
        # tracer's session.
        got = {e['path'] for e in run.events
               if e['_session']['id'] == real and '/after-' in e.get('path', '')}
        want = {os.path.join(marks, 'after-%d' % i) for i in range(50)}
        self.assertEqual(want - got, set(), run.summary())
        # The forged event stayed in the forger's sessions.
        for e in run.find(path='/forged'):
            self.assertIn(e['_session']['id'], hijacked)
        ends = [r for r in run.records_of('session_end') if r['session']['id'] == real]
        self.assertEqual([e['duplicates'] for e in ends], [0], ends)

    def test_restarted_tracer_loses_nothing(self):
        """Two tracers with the same hostname, pid namespace and pid, one
        after the other: the first is SIGKILLed (no GOODBYE, so the probe
        keeps its state), the second must not have its first events taken
        for the first one's duplicates."""
        holder = subprocess.Popen(['unshare', '--pid', '--fork', '--mount-proc',
                                   'sleep', '1000'], start_new_session=True)
        self.addCleanup(harness.kill_group, holder)
        def children():
            with open('/proc/%d/task/%d/children' % (holder.pid, holder.pid)) as f:
                return f.read().split()
        init = harness.wait_for(children, what='the pid namespace\'s init')[0]
        probe = self.start_probe()
        # The tracer is pid 4242 in that namespace both times: the shell
        # sets the namespace's last pid, then forks it.
        wrap = ['nsenter', '-t', init, '-p', '-m', 'sh', '-c',
                'echo 4241 > /proc/sys/kernel/ns_last_pid && "$@"; exit $?', 'sh']
        _, first = self.markers('first', 20)
        _, second = self.markers('second', 20)

        proc = self.start_opener(probe.addr, wrap=wrap)
        self.assertEqual(self.ask(proc, 'open ' + ' '.join(first)), 'done')
        harness.wait_for(lambda: set(first) <= {r['event'].get('path')
                                                for r in events_of(probe)},
                         what='the first tracer\'s events')
        # SIGKILLed from outside: a tracee's own kill of its tracer is
        # refused (and the tracer_tampering rule then kills the workload,
        # which ends the session with a GOODBYE: not this test's case).
        os.kill(descendant(proc.pid, 'sentrace'), signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdin.close()
        ends = harness.wait_for(lambda: [r for r in probe.records()
                                         if r.get('type') == 'session_end'],
                                what='the first session\'s end')
        # No GOODBYE: the probe keeps that session's state, which the
        # second tracer must not inherit.
        self.assertNotEqual(ends[0]['reason'], 'goodbye', ends)

        proc = self.start_opener(probe.addr, wrap=wrap)
        self.assertEqual(self.ask(proc, 'open ' + ' '.join(second)), 'done')
        self.finish(proc)
        self.assertEqual(probe.stop(), 0, probe.log_text())

        starts = [r for r in probe.records() if r.get('type') == 'session_start']
        self.assertEqual(len(starts), 2, starts)
        self.assertEqual({s['session']['tracer_pid'] for s in starts}, {4242}, starts)
        self.assertEqual(len({s['session']['hostname'] for s in starts}), 1)
        by = paths_by_session(probe, self.tmp)
        ids = [s['session']['id'] for s in starts]
        self.assertEqual(set(first) - by.get(ids[0], set()), set())
        self.assertEqual(set(second) - by.get(ids[1], set()), set(), probe.log_text())
        self.assertFalse(any(s.get('resumed') for s in starts), starts)
        ends = [r for r in probe.records() if r.get('type') == 'session_end']
        self.assertEqual([e['duplicates'] for e in ends], [0, 0], ends)

    # ---- item 2: mutual authentication ----

    def test_fake_probe_learns_nothing(self):
        token = 'correct horse battery staple 4711'
        tfile = write_secret(os.path.join(self.tmp, 'token'), token)
        real = self.arg_probe(['--no-policy', '--token-file', tfile])
        sock = real.sock
        _, early = self.markers('early', 10)
        _, unacked = self.markers('unacked', 10)
        _, during = self.markers('during', 30)
        _, late = self.markers('late', 10)
        proc = self.start_opener(real.addr, ['--token-file', tfile])
        self.assertEqual(self.ask(proc, 'open ' + ' '.join(early)), 'done')
        harness.wait_for(lambda: set(early) <= {r['event'].get('path')
                                                for r in events_of(real)},
                         what='the events before the restart')
        # Events sent and never acknowledged: the probe is stopped when they
        # go out, and dies before it reads them. The tracer keeps them for
        # the next probe that passes the handshake, and for no other.
        real.proc.send_signal(signal.SIGSTOP)
        self.assertEqual(self.ask(proc, 'open ' + ' '.join(unacked)), 'done')
        time.sleep(1)

        # The probe dies; a local user binds its address first.
        real.killed = True
        real.proc.kill()
        real.proc.wait()
        os.unlink(sock)
        # The fake also knows the workload (pid and start time, as a fake
        # without a token would from the events) and, before any answer,
        # acknowledges everything and asks for its kill.
        with open('/proc/%d/task/%d/children' % (proc.pid, proc.pid)) as f:
            workload = int(f.read().split()[0])
        fake = FakeProbe(sock, modes=(4, 0, 1, 2), target=(workload, start_ticks(workload)))
        self.addCleanup(fake.close)
        self.assertEqual(self.ask(proc, 'open ' + ' '.join(during)), 'done')
        harness.wait_for(lambda: len(fake.conns) >= 5, timeout=40,
                         what='the tracer to try the fake probe five times')
        fake.close()
        os.unlink(sock)

        back = self.arg_probe(['--no-policy', '--token-file', tfile], sock=sock)
        self.assertEqual(self.ask(proc, 'open ' + ' '.join(late)), 'done')
        err = self.finish(proc)
        self.assertEqual(back.stop(), 0, back.log_text())

        # What the fake received: HELLOs only, and no trace of the token.
        received = b''.join(fake.received)
        self.assertNotIn(token.encode(), received)
        self.assertNotIn(b'correct horse', received)
        types = [f.get('type') for f in fake.frames()]
        self.assertTrue(types, 'the fake probe got nothing at all')
        self.assertEqual(set(types), {w.HELLO}, types)
        self.assertIn('cannot prove the token', err)
        self.assertIn('accepted us without proving the token', err)
        # The real probe, back, got everything that happened meanwhile.
        got = {r['event'].get('path') for r in events_of(back)}
        self.assertEqual((set(unacked) | set(during) | set(late)) - got, set(), err)

    def test_tcp_without_token_warns(self):
        p = ArgProbe(self.subdir('tcp'), ['--no-policy'], tcp=True)
        self.probes.append(p)
        p.start()
        p.wait_log(r'warning: no token for TCP 127\.0\.0\.1:0: every user')
        self.assertEqual(p.stop(), 0)
        tfile = write_secret(os.path.join(self.tmp, 'token'), 'tcp-token')
        p = ArgProbe(self.subdir('tcp2'), ['--no-policy', '--token-file', tfile], tcp=True)
        self.probes.append(p)
        p.start()
        self.assertEqual(p.stop(), 0)
        self.assertNotIn('no token', p.log_text())

    def test_proofs_are_standard_hmac(self):
        """A client that computes the proofs with Python's hmac module is
        accepted (so the C HMAC-SHA256 is the standard one), and the probe's
        own proof, reflected back as the tracer's, is refused."""
        token = 'interop token'
        tfile = write_secret(os.path.join(self.tmp, 'token'), token)
        p = self.arg_probe(['--no-policy', '--token-file', tfile])
        s = p.connect()
        ack = w.handshake(s, w.hello_body('interop', 1, 4711), token=token)
        self.assertEqual((ack['type'], ack['error']), (w.HELLO_ACK, ''))
        self.assertEqual(len(ack['secret']), 32)
        s.close()
        s = p.connect()
        body = w.hello_body('reflect', 1, 4712, nonce=os.urandom(32))
        s.sendall(w.frame(w.pack(body)))
        ch = w.read_frame(s)
        s.sendall(w.msg(w.AUTH, proof=ch['proof']))
        ack = w.read_frame(s)
        self.assertEqual((ack['type'], ack['error']), (w.HELLO_ACK, 'authentication failed'))
        s.close()
        self.assertEqual(p.stop(), 0, p.log_text())

    # ---- item 3: the probe cannot be starved ----

    def test_flood_does_not_keep_a_tracer_out(self):
        # The tracers wait at most 5 s for their handshake, less than the
        # probe gives the flood (10 s): they get in because the flood is
        # evicted for them, not because it timed out.
        p = self.arg_probe(['--no-policy', '--handshake-timeout', '10s'])
        idle, stop = [], threading.Event()

        def connect():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(p.sock)
            return s
        # More idle connections than the probe has slots for …
        for _ in range(1100):
            idle.append(connect())
        # … slow ones that dribble a HELLO a byte a second …
        hello = w.frame(w.pack(w.hello_body('slow', 1, 1)))
        slow = [connect() for _ in range(20)]

        def dribble():
            for i in range(len(hello)):
                if stop.wait(1):
                    return
                for s in slow:
                    try:
                        s.send(hello[i:i + 1])
                    except OSError:
                        pass
        # … and a flood that goes on while the tracer starts.
        def flood():
            while not stop.is_set() and len(idle) < 3000:
                try:
                    idle.append(connect())
                except OSError:
                    time.sleep(0.01)
        threads = [threading.Thread(target=dribble), threading.Thread(target=flood)]
        for t in threads:
            t.start()
        try:
            for i in range(3):
                rc, out, err = self.run_tracer(p, ['/bin/echo', 'served %d' % i],
                                               ['--handshake-timeout', '5s'])
                self.assertEqual(rc, 0, err + p.log_text()[-3000:])
                self.assertIn('served %d' % i, out)
            # The slow ones never finish a HELLO: the deadline closes them.
            p.wait_log(r'closing connection: no handshake within 10000 ms', 20, timeout=40)
            p.wait_log(r'closing connection: evicted: too many unauthenticated '
                       r'connections from this peer', 100)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
            for s in idle + slow:
                s.close()
        self.assertIsNone(p.proc.poll(), 'the probe died')
        self.assertEqual(p.stop(), 0, p.log_text()[-3000:])
        starts = [r for r in p.records() if r.get('type') == 'session_start']
        self.assertEqual(len(starts), 3, starts)

    def run_tracer(self, probe, cmd, extra=()):
        argv = self.tracer_argv(cmd, list(extra), probe.addr)
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=60, start_new_session=True)
        return (harness.exit_status(proc.returncode), proc.stdout.decode(errors='replace'),
                proc.stderr.decode(errors='replace'))

    def test_frame_sizes(self):
        """Before the handshake frames up to 64 KiB are read and a larger
        one closes the connection (its bytes are never buffered); after it
        every size up to 4 MiB is accepted (each power of two from 256
        bytes and its neighbours, on both sides)."""
        p = self.arg_probe(['--no-policy'])
        pre_limit, limit = 64 << 10, 4 << 20

        def sized(body, size):
            base = len(w.pack(dict(body, pad='x' * 32))) - 32
            self.assertGreaterEqual(size - base, 32)
            payload = w.pack(dict(body, pad='x' * (size - base)))
            self.assertEqual(len(payload), size)
            return w.frame(payload)

        # Every power of two from 256 bytes, one byte either side of it, up
        # to the limit: the msgpack header sizes (str 8/16/32) and the
        # reader's buffer growth all change at such sizes.
        def around(top):
            return sorted({(1 << k) + d for k in range(8, top.bit_length())
                           for d in (-1, 0, 1)} | {top - 1, top})
        pre_sizes = [x for x in around(pre_limit) if x <= pre_limit]
        for n, size in enumerate(pre_sizes):
            s = p.connect()
            s.sendall(sized(w.hello_body('size-%d' % n, 1, 5000 + n), size))
            ack = w.read_frame(s)
            self.assertEqual((ack['type'], ack['error']), (w.HELLO_ACK, ''), size)
            s.close()
        for n, size in enumerate([pre_limit + 1, limit]):
            s = p.connect()
            # Only the header: the probe refuses the length, not the bytes.
            s.sendall(sized(w.hello_body('big-%d' % n, 1, 6000 + n), size)[:4096])
            self.assertIsNone(w.read_frame(s), size)
            s.close()
            p.wait_log(r'closing connection: frame of %d bytes is over the limit of %d '
                       r'before the handshake is done' % (size, pre_limit))

        s = p.connect()
        ack = w.handshake(s, w.hello_body('after', 1, 7000))
        self.assertEqual(ack['error'], '')
        seq = 1
        for size in [x for x in around(limit) if x <= limit]:
            ev = dict(ev='open', syscall='openat', ts=1, pid=7001, tid=7001, ret=3,
                      path='/size/%d' % size, flags=0, mode=0)
            s.sendall(sized(dict(type=w.EVENTS, seq=seq, events=[ev]), size))
            seq += 1
            f = w.read_frame(s)
            self.assertEqual((f['type'], f['seq']), (w.ACK, seq), size)
        s.sendall(sized(dict(type=w.EVENTS, seq=seq, events=[]), limit + 1)[:4096])
        self.assertIsNone(w.read_frame(s))
        s.close()
        p.wait_log(r'closing connection: frame of %d bytes is over the limit of %d\n'
                   % (limit + 1, limit))
        self.assertEqual(p.stop(), 0, p.log_text()[-3000:])

    def test_frame_sizes_with_token(self):
        """With a token the connection stays unauthenticated until the AUTH
        is proven: a CHALLENGEd connection still reads 64 KiB frames at
        most (the AUTH included), and a HELLO_ACK opens the full 4 MiB."""
        token = 'frame size token'
        tfile = write_secret(os.path.join(self.tmp, 'token'), token)
        p = self.arg_probe(['--no-policy', '--token-file', tfile])
        pre_limit, limit = 64 << 10, 4 << 20

        def sized(body, size):
            base = len(w.pack(dict(body, pad='x' * 32))) - 32
            payload = w.pack(dict(body, pad='x' * (size - base)))
            self.assertEqual(len(payload), size)
            return w.frame(payload)

        def challenged(n, hello_size):
            s = p.connect()
            body = w.hello_body('tok-%d' % n, 1, 8000 + n, nonce=os.urandom(32))
            s.sendall(sized(body, hello_size))
            ch = w.read_frame(s)
            self.assertEqual(ch['type'], w.CHALLENGE, hello_size)
            return s, body, ch

        for n, size in enumerate([256, pre_limit - 1, pre_limit]):
            s, body, ch = challenged(n, size)
            s.sendall(sized(dict(type=w.AUTH, proof=w.proof(token, 'tracer', body,
                                                            ch['nonce'])), size))
            ack = w.read_frame(s)
            self.assertEqual((ack['type'], ack['error']), (w.HELLO_ACK, ''), size)
            s.close()
        # Challenged, not yet proven: an AUTH over 64 KiB is not read.
        s, body, ch = challenged(10, pre_limit)
        s.sendall(sized(dict(type=w.AUTH, proof=w.proof(token, 'tracer', body,
                                                        ch['nonce'])), pre_limit + 1)[:4096])
        self.assertIsNone(w.read_frame(s))
        s.close()
        p.wait_log(r'closing connection: frame of %d bytes is over the limit of %d '
                   r'before the handshake is done' % (pre_limit + 1, pre_limit))
        # Proven: every size up to 4 MiB.
        s = p.connect()
        ack = w.handshake(s, w.hello_body('tok-after', 1, 8100), token=token)
        self.assertEqual((ack['type'], ack['error']), (w.HELLO_ACK, ''))
        seq = 1
        for size in [pre_limit + 1, limit]:
            ev = dict(ev='open', syscall='openat', ts=1, pid=8101, tid=8101, ret=3,
                      path='/tok/%d' % size, flags=0, mode=0)
            s.sendall(sized(dict(type=w.EVENTS, seq=seq, events=[ev]), size))
            seq += 1
            f = w.read_frame(s)
            self.assertEqual((f['type'], f['seq']), (w.ACK, seq), size)
        s.close()
        self.assertEqual(p.stop(), 0, p.log_text()[-3000:])

    # ---- who may connect (docs/security.md "Trust model") ----

    def connect_as(self, path, uid, gid, groups=()):
        """Connects to PATH from a process that setpriv(1) made UID:GID
        with only GROUPS (no capability left, checked), sends a HELLO and
        returns ('ok', the HELLO_ACK's error) or ('refused', errno name)."""
        hello = w.frame(w.pack(w.hello_body('as-%d' % uid, 1, 9000 + uid % 1000)))
        child = (
            'import errno, socket, struct, sys\n'
            'cap = [l for l in open("/proc/self/status") if l.startswith("CapEff:")]\n'
            'assert int(cap[0].split()[1], 16) == 0, cap\n'
            's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n'
            'try:\n'
            '    s.connect(sys.argv[1])\n'
            'except OSError as e:\n'
            '    print("refused", errno.errorcode[e.errno]); sys.exit(0)\n'
            's.sendall(bytes.fromhex(sys.argv[2]))\n'
            'head = s.recv(4, socket.MSG_WAITALL)\n'
            'body = s.recv(struct.unpack(">I", head)[0], socket.MSG_WAITALL)\n'
            'print("ok", body.hex())\n')
        argv = ['setpriv', '--reuid=%d' % uid, '--regid=%d' % gid]
        argv += ['--groups=' + ','.join(map(str, groups))] if groups else ['--clear-groups']
        argv += [SYSTEM_PYTHON, '-c', child, path, hello.hex()]
        proc = subprocess.run(argv, capture_output=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode(errors='replace'))
        what, arg = proc.stdout.decode().split()
        if what == 'refused':
            return what, arg
        return what, w.unpack(bytes.fromhex(arg))[0]['error']

    def test_unprivileged_user_and_the_socket(self):
        """A real unprivileged user (nobody, no capabilities) is refused by
        the kernel where the socket's mode and group leave it out, and
        served where they let it in."""
        nobody, nogroup, other = 65534, 65534, 65533
        os.chmod(self.tmp, 0o755)
        # The default: 0660, the probe's own group (root).
        p = self.arg_probe(['--no-policy'])
        self.assertEqual(self.connect_as(p.sock, nobody, nogroup), ('refused', 'EACCES'))
        self.assertEqual(stat.S_IMODE(os.stat(p.sock).st_mode), 0o660)
        self.assertEqual(p.stop(), 0, p.log_text())
        self.assertNotIn('uid %d' % nobody, p.log_text())

        # 0660 with its group: a member (primary or supplementary group) is
        # served; anyone else is refused.
        p = self.arg_probe(['--no-policy', '--socket-group', str(nogroup)])
        self.assertEqual(self.connect_as(p.sock, nobody, nogroup), ('ok', ''))
        self.assertEqual(self.connect_as(p.sock, other, other, [nogroup]), ('ok', ''))
        self.assertEqual(self.connect_as(p.sock, other, other), ('refused', 'EACCES'))
        p.wait_log(r'unix peer pid \d+ uid %d: session \d+ started' % nobody)
        p.wait_log(r'unix peer pid \d+ uid %d: session \d+ started' % other)
        self.assertEqual(p.stop(), 0, p.log_text())

        # 0600: the group no longer counts.
        p = self.arg_probe(['--no-policy', '--socket-mode', '0600',
                            '--socket-group', str(nogroup)])
        self.assertEqual(self.connect_as(p.sock, nobody, nogroup), ('refused', 'EACCES'))
        self.assertEqual(p.stop(), 0, p.log_text())

        # 0666: every local user, as documented.
        p = self.arg_probe(['--no-policy', '--socket-mode', '0666'])
        self.assertEqual(self.connect_as(p.sock, other, other), ('ok', ''))
        self.assertEqual(p.stop(), 0, p.log_text())

    def test_token_not_on_the_command_line(self):
        """Neither program takes a token from argv (which every local user
        reads in /proc/PID/cmdline): what follows --token is a file name."""
        secret = 'a-secret-%d' % os.getpid()
        sock = os.path.join(self.tmp, 'argv.sock')
        probe = subprocess.run([harness.PROBE, 'run', '--listen', 'unix:' + sock,
                                '--no-policy', '--output', 'none', '--token', secret],
                               capture_output=True, timeout=30, cwd=self.tmp)
        self.assertEqual(probe.returncode, 2, probe.stderr)
        self.assertIn(b'token file %s: No such file' % secret.encode(), probe.stderr)
        self.assertFalse(os.path.exists(sock))
        tracer = subprocess.run([harness.SENTRACE, 'trace', '--probe-addr', 'unix:' + sock,
                                 '--token', secret, '--', '/bin/echo', 'ran'],
                                capture_output=True, timeout=30, cwd=self.tmp)
        self.assertEqual(harness.exit_status(tracer.returncode), 125, tracer.stderr)
        self.assertNotIn(b'ran', tracer.stdout)
        self.assertIn(b'token file %s: No such file' % secret.encode(), tracer.stderr)

    def test_resume_needs_the_secret(self):
        """Resuming a session takes its id, its identity and the 32-byte
        secret of its HELLO_ACK, and no other connection on it: a wrong
        secret of the right length, or the right one while the session is
        held, gets a new session, and the real one is untouched."""
        p = self.arg_probe(['--no-policy'])
        ident = ('resume-host', 77, 4711)

        def events(s, seq, path):
            ev = dict(ev='open', syscall='openat', ts=1, pid=4712, tid=4712, ret=3,
                      path=path, flags=0, mode=0)
            s.sendall(w.msg(w.EVENTS, seq=seq, events=[ev]))
            f = w.read_frame(s)
            self.assertEqual(f['type'], w.ACK, f)
            return f['seq']

        a = p.connect()
        ack = w.handshake(a, w.hello_body(*ident))
        self.assertEqual(ack['error'], '')
        sid, secret = ack['session'], ack['secret']
        self.assertEqual(len(secret), 32)
        self.assertEqual(events(a, 1, '/resume/a-1'), 2)
        # While A holds it, not even the right secret resumes it.
        b = p.connect()
        ack = w.handshake(b, w.hello_body(*ident, resume=(sid, secret)))
        self.assertEqual(ack['error'], '')
        self.assertNotEqual(ack['session'], sid)
        b.close()
        a.close()      # no GOODBYE: the session stays, idle
        harness.wait_for(lambda: [r for r in p.records() if r.get('type') == 'session_end'
                                  and r['session']['id'] == sid],
                         what='the end of the first connection')
        # A wrong secret of the right length, a secret one byte short, the
        # secret of another session: new sessions, and seq 2^62 in them
        # changes nothing for the real one.
        other = ack['secret']
        for bad in (bytes(32), bytes(b ^ 1 for b in secret), secret[:31], other):
            c = p.connect()
            ack = w.handshake(c, w.hello_body(*ident, resume=(sid, bad)))
            self.assertEqual(ack['error'], '')
            self.assertNotEqual(ack['session'], sid, bad)
            self.assertEqual(events(c, 2**62 - 1, '/resume/forged'), 2**62)
            c.close()
        # The tracer itself, with its secret: resumed, its sequence intact.
        a = p.connect()
        ack = w.handshake(a, w.hello_body(*ident, resume=(sid, secret)))
        self.assertEqual((ack['error'], ack['session']), ('', sid))
        self.assertEqual(events(a, 2, '/resume/a-2'), 3)
        a.sendall(w.msg(w.GOODBYE, reason='exit', exit_status=0))
        a.shutdown(socket.SHUT_WR)
        self.assertIsNone(w.read_frame(a))
        a.close()
        self.assertEqual(p.stop(), 0, p.log_text())
        self.assertEqual(len(re.findall(r'not resuming session %d' % sid, p.log_text())), 5,
                         p.log_text())
        by = paths_by_session(p, '/resume/')
        self.assertEqual(by.get(sid), {'/resume/a-1', '/resume/a-2'}, by)
        resumed = [r for r in p.records() if r.get('type') == 'session_start'
                   and r.get('resumed')]
        self.assertEqual([r['session']['id'] for r in resumed], [sid])

    # ---- item 6: a refusal on a reconnect does not end delivery ----

    def test_refused_reconnect_is_retried(self):
        first = self.start_probe()
        sock = first.sock
        _, early = self.markers('early', 5)
        _, during = self.markers('during', 20)
        _, late = self.markers('late', 5)
        proc = self.start_opener(first.addr)
        self.assertEqual(self.ask(proc, 'open ' + ' '.join(early)), 'done')
        harness.wait_for(lambda: set(early) <= {r['event'].get('path')
                                                for r in events_of(first)},
                         what='the events before the restart')
        first.killed = True
        first.proc.kill()
        first.proc.wait()
        os.unlink(sock)
        # Whoever answers meanwhile refuses every HELLO.
        fake = FakeProbe(sock, modes=(2,))
        self.addCleanup(fake.close)
        self.assertEqual(self.ask(proc, 'open ' + ' '.join(during)), 'done')
        harness.wait_for(lambda: len(fake.conns) >= 3, timeout=30,
                         what='three refused reconnects')
        fake.close()
        os.unlink(sock)
        second = harness.Probe(self.subdir('second'))
        second.sock, second.addr = sock, 'unix:' + sock
        self.probes.append(second)
        second.start()
        self.assertEqual(self.ask(proc, 'open ' + ' '.join(late)), 'done')
        err = self.finish(proc)
        self.assertEqual(second.stop(), 0, second.log_text())
        self.assertIn('refused the reconnect: maintenance; retrying with back-off', err)
        got = {r['event'].get('path') for r in events_of(second)}
        self.assertEqual((set(during) | set(late)) - got, set(), err)

    def test_silent_peer_does_not_hold_the_tracer(self):
        """A fake probe that accepts the reconnect and never answers (and
        never closes) must not keep the tracer from the real probe."""
        first = self.start_probe()
        sock = first.sock
        _, early = self.markers('early', 5)
        _, late = self.markers('late', 5)
        proc = self.start_opener(first.addr)
        self.assertEqual(self.ask(proc, 'open ' + ' '.join(early)), 'done')
        harness.wait_for(lambda: set(early) <= {r['event'].get('path')
                                                for r in events_of(first)},
                         what='the events before the restart')
        first.killed = True
        first.proc.kill()
        first.proc.wait()
        os.unlink(sock)
        fake = FakeProbe(sock, modes=(3,))
        self.addCleanup(fake.close)
        harness.wait_for(lambda: fake.conns, what='the reconnect to the silent peer')
        fake.stop_listening()
        os.unlink(sock)
        second = harness.Probe(self.subdir('second'))
        second.sock, second.addr = sock, 'unix:' + sock
        self.probes.append(second)
        second.start()
        self.assertEqual(self.ask(proc, 'open ' + ' '.join(late)), 'done')
        # The silent connection is still open: the tracer gave up on it.
        harness.wait_for(lambda: set(late) <= {r['event'].get('path')
                                               for r in events_of(second)},
                         timeout=30, what='the events at the real probe')
        err = self.finish(proc)
        self.assertEqual(second.stop(), 0, second.log_text())
        self.assertIn('no handshake with unix:%s within 5000 ms; trying again' % sock, err)


def start_ticks(pid):
    """Field 22 of /proc/PID/stat: what a COMMAND names a process by."""
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[19])


class FakeProbe:
    """Listens on PATH and plays fake probes in turn (MODES): 0 sends a
    CHALLENGE it cannot prove, 1 accepts every HELLO at once (and
    acknowledges everything, and asks for the kill of TARGET, a pid and its
    start time), 2 refuses, 3 says nothing, 4 acknowledges everything and
    asks for the kill before any answer. Keeps every byte it was sent."""

    def __init__(self, path, modes=(0, 1, 2), target=(1, 0)):
        self.modes = modes
        self.target = target
        self.closed = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.conns = []
        self.received = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            mode = self.modes[len(self.conns) % len(self.modes)]
            self.conns.append(conn)
            threading.Thread(target=self.serve, args=(conn, mode), daemon=True).start()

    def serve(self, conn, mode):
        conn.settimeout(10)
        buf = b''
        try:
            buf = conn.recv(65536)
            if mode == 0:
                conn.sendall(w.msg(w.CHALLENGE, nonce=os.urandom(32), proof=os.urandom(32)))
            elif mode == 1:
                conn.sendall(w.msg(w.HELLO_ACK, version=w.VERSION, probe_version='fake',
                                   session=1, error='')
                             + w.msg(w.ACK, seq=2**63)
                             + self.kill())
            elif mode == 4:
                # Before any answer: an ACK of everything and a kill; then
                # end of stream.
                conn.sendall(w.msg(w.ACK, seq=2**63) + self.kill())
                conn.shutdown(socket.SHUT_WR)
            elif mode == 2:
                conn.sendall(w.msg(w.HELLO_ACK, version=w.VERSION, probe_version='fake',
                                   session=0, error='maintenance'))
            # mode 3: says nothing, and keeps the connection open
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
        with self.lock:
            self.received.append(buf)

    def kill(self):
        pid, ticks = self.target
        return w.msg(w.COMMAND, id=1, action='kill', pid=pid, start_ticks=ticks,
                     signal=9, rule_id='fake')

    def frames(self):
        out = []
        with self.lock:
            blobs = list(self.received)
        for data in blobs:
            i = 0
            while i + 4 <= len(data):
                n = int.from_bytes(data[i:i + 4], 'big')
                if i + 4 + n > len(data):
                    break
                out.append(w.unpack(data[i + 4:i + 4 + n])[0])
                i += 4 + n
        return out

    def stop_listening(self):
        """Closes the listening socket only: accepted connections stay."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def close(self):
        if self.closed:
            return
        self.closed = True
        # shutdown() wakes the thread blocked in accept(); close() alone
        # would leave the socket listening until then.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        time.sleep(0.1)


if __name__ == '__main__':
    harness.main()
