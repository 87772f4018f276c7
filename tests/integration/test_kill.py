# SPDX-License-Identifier: Apache-2.0
"""The kill action end to end: a rule's kill reaches the tracer that owns
the process, the tracer kills it (pidfd_send_signal, or kill() without
pidfds), and the alert says so. A COMMAND names the process by pid and
start time: COMMANDs for anything but the process named (another process,
a thread, the tracer, a pid that was reused) are refused."""

import json
import os
import socket
import struct
import subprocess
import sys

import harness

POLICY = '''
rules:
  - id: test_kill_marked_sleep
    description: A sleep with the marker argument
    severity: high
    tags: {tactic: TA0002, technique: T1059}
    expression: exec.file.name == "sleep" && exec.argv in ["4242"]
    actions:
      - kill: {signal: SIGKILL}
'''


def pack(o):
    """Just enough msgpack for the probe side of the handshake."""
    if isinstance(o, bool):
        return b'\xc3' if o else b'\xc2'
    if isinstance(o, int):
        return b'\xd3' + struct.pack('>q', o)
    if isinstance(o, str):
        b = o.encode()
        return b'\xdb' + struct.pack('>I', len(b)) + b
    if isinstance(o, dict):
        return b'\xdf' + struct.pack('>I', len(o)) + b''.join(
            pack(k) + pack(v) for k, v in o.items())
    raise TypeError(o)


def frame(o):
    p = pack(o)
    return struct.pack('>I', len(p)) + p


def unpack(b, i=0):
    """One msgpack value of b at i: (value, next index). The types the
    tracer writes: maps, strings, ints, bools, nil, arrays."""
    t = b[i]
    if t <= 0x7f:
        return t, i + 1
    if t >= 0xe0:
        return t - 0x100, i + 1
    if 0x80 <= t <= 0x8f or t in (0xde, 0xdf):
        if t <= 0x8f:
            n, i = t & 0x0f, i + 1
        elif t == 0xde:
            n, i = struct.unpack('>H', b[i + 1:i + 3])[0], i + 3
        else:
            n, i = struct.unpack('>I', b[i + 1:i + 5])[0], i + 5
        m = {}
        for _ in range(n):
            k, i = unpack(b, i)
            v, i = unpack(b, i)
            m[k] = v
        return m, i
    if 0x90 <= t <= 0x9f or t in (0xdc, 0xdd):
        if t <= 0x9f:
            n, i = t & 0x0f, i + 1
        elif t == 0xdc:
            n, i = struct.unpack('>H', b[i + 1:i + 3])[0], i + 3
        else:
            n, i = struct.unpack('>I', b[i + 1:i + 5])[0], i + 5
        out = []
        for _ in range(n):
            v, i = unpack(b, i)
            out.append(v)
        return out, i
    if 0xa0 <= t <= 0xbf or t in (0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6):
        if 0xa0 <= t <= 0xbf:
            n, i = t & 0x1f, i + 1
        elif t in (0xd9, 0xc4):
            n, i = b[i + 1], i + 2
        elif t in (0xda, 0xc5):
            n, i = struct.unpack('>H', b[i + 1:i + 3])[0], i + 3
        else:
            n, i = struct.unpack('>I', b[i + 1:i + 5])[0], i + 5
        raw = b[i:i + n]
        return (raw.decode(errors='replace') if t >= 0xa0 and t != 0xc4 and t != 0xc5
                and t != 0xc6 else raw), i + n
    if t == 0xc0:
        return None, i + 1
    if t in (0xc2, 0xc3):
        return t == 0xc3, i + 1
    fmt = {0xcc: '>B', 0xcd: '>H', 0xce: '>I', 0xcf: '>Q',
           0xd0: '>b', 0xd1: '>h', 0xd2: '>i', 0xd3: '>q',
           0xca: '>f', 0xcb: '>d'}[t]
    n = struct.calcsize(fmt)
    return struct.unpack(fmt, b[i + 1:i + 1 + n])[0], i + 1 + n


def unpack_frames(data):
    """The complete frames of a byte stream, decoded."""
    out = []
    i = 0
    while i + 4 <= len(data):
        n = struct.unpack('>I', data[i:i + 4])[0]
        if i + 4 + n > len(data):
            break
        out.append(unpack(data[i + 4:i + 4 + n])[0])
        i += 4 + n
    return out


def unpack_results(data):
    """The COMMAND_RESULT maps (type 9) in a byte stream."""
    return [f for f in unpack_frames(data) if isinstance(f, dict) and f.get('type') == 9]


def start_ticks(pid, tid=None):
    """Field 22 of /proc/PID/stat (of a thread with TID)."""
    path = '/proc/%d/task/%d/stat' % (pid, tid) if tid else '/proc/%d/stat' % pid
    with open(path) as f:
        return int(f.read().rsplit(')', 1)[1].split()[19])


class FakeProbe:
    """A unix socket speaking the probe's side of the handshake: a test
    sends COMMANDs with send() and reads COMMAND_RESULTs with results()."""

    def __init__(self, test, directory):
        self.path = os.path.join(directory, 'fake.sock')
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(self.path)
        self.srv.listen(1)
        self.srv.settimeout(30)
        test.addCleanup(self.srv.close)
        self.conn = None
        self.data = b''
        self.next_id = 1

    def accept(self):
        self.conn, _ = self.srv.accept()
        self.conn.settimeout(30)
        self.conn.recv(65536)
        self.conn.sendall(frame({'type': 2, 'version': 1, 'probe_version': 'fake',
                                 'session': 1, 'error': ''}))

    def send(self, **cmd):
        """Sends one COMMAND (type 6) and returns its id."""
        cid = self.next_id
        self.next_id += 1
        body = {'type': 6, 'id': cid, 'action': 'kill', 'signal': 9, 'rule_id': 'fake'}
        body.update(cmd)
        self.conn.sendall(frame(body))
        return cid

    def result(self, cid):
        """The COMMAND_RESULT for id cid, waiting for it."""
        while True:
            for r in unpack_results(self.data):
                if r.get('id') == cid:
                    return r
            chunk = self.conn.recv(65536)
            if not chunk:
                raise AssertionError('the tracer closed before answering COMMAND %d' % cid)
            self.data += chunk

    def close(self):
        if self.conn:
            self.conn.close()


def alive(pid):
    """pid exists and is not a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


THREADED = r"""
import os, sys, threading
ready = threading.Event()
def run():
    with open(sys.argv[1] + '.tmp', 'w') as f:
        f.write('%d %d\n' % (os.getpid(), threading.get_native_id()))
    os.rename(sys.argv[1] + '.tmp', sys.argv[1])
    ready.wait(60)
t = threading.Thread(target=run)
t.start()
sys.stdin.read()
ready.set()
t.join()
"""

# In a pid namespace of its own, the traced shell makes a pid be reused for
# real: child A writes its pid and start time and exits; ns_last_pid then
# makes the next fork, B, get A's pid. Nothing else forks in the namespace.
# The sleep puts B's start at least 5 clock ticks (USER_HZ is 100) after
# A's: a start time in ticks cannot tell apart two processes that started
# within the same 10 ms (docs/security.md says so).
REUSE = r"""
sh -c 'echo $$ > a.pid; cut -d" " -f22 /proc/$$/stat > a.ticks' || exit 1
read -r A < a.pid
sleep 0.05
echo $((A - 1)) > /proc/sys/kernel/ns_last_pid
sleep 60 &
echo $! > b.pid.tmp && mv b.pid.tmp b.pid
read -r go
kill $!
"""


def read_when_there(path, what):
    harness.wait_for(lambda: os.path.exists(path), what=what)
    with open(path) as f:
        return f.read().split()


class KillTest(harness.TracedTestCase):

    def rule_kills(self, env):
        """The real probe's rule kills a traced sleep; returns the tracer's
        stderr."""
        pol = os.path.join(self.subdir('policy'), 'kill.policy')
        with open(pol, 'w') as f:
            f.write(POLICY)
        d = self.subdir('probe')
        sock = os.path.join(d, 'probe.sock')
        alerts = os.path.join(d, 'alerts.jsonl')
        events = os.path.join(d, 'events.jsonl')
        probe = subprocess.Popen([harness.PROBE, 'run', '--listen', 'unix:' + sock,
                                  '--policy', pol, '--alerts', alerts,
                                  '--output', events],
                                 stderr=subprocess.DEVNULL)
        self.addCleanup(probe.kill)
        harness.wait_for(lambda: os.path.exists(sock), what='the probe socket')
        run = subprocess.run([harness.SENTRACE, 'trace', '--verbose',
                              '--probe-addr', 'unix:' + sock,
                              '--', 'sh', '-c', 'sleep 4242; echo after=$?'],
                             capture_output=True, timeout=60,
                             env=dict(os.environ, **env))
        probe.terminate()
        probe.wait(timeout=30)
        self.assertEqual(run.returncode, 0, run.stderr)
        # sh went on after its sleep was killed (128 + SIGKILL).
        self.assertEqual(run.stdout.strip(), b'after=137')
        with open(alerts) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        hits = [a for a in lines if a.get('rule_id') == 'test_kill_marked_sleep']
        self.assertEqual(len(hits), 1, lines)
        kill = hits[0]['actions']['kill'] if isinstance(hits[0]['actions'], dict) \
            else [a['kill'] for a in hits[0]['actions'] if 'kill' in a][0]
        self.assertEqual(kill['status'], 'done', hits[0])
        return run.stderr.decode(errors='replace')

    def test_rule_kills_through_the_tracer(self):
        err = self.rule_kills({})
        self.assertIn('done (pidfd)', err)

    def test_rule_kills_without_pidfd(self):
        # As on kernels before 5.3: pidfd_open is not used, kill() is.
        err = self.rule_kills({'SENTRACE_NO_PIDFD': '1'})
        self.assertIn('done (kill())', err)
        self.assertNotIn('(pidfd)', err)

    def refusals(self, env):
        """A fake probe sends COMMANDs that must all be refused: for a
        process outside the tree, the tracer, the test runner, a thread of
        a tracee, a tracee without a start time, with a wrong start time
        (its pid reused, as far as the tracer can tell), and with its pid
        plus 2^32 (which would wrap to it as a pid_t). Nothing is killed;
        then a right COMMAND kills the tracee."""
        d = self.subdir('fake')
        fp = FakeProbe(self, d)
        bystander = subprocess.Popen(['sleep', '60'])
        self.addCleanup(bystander.wait)
        self.addCleanup(bystander.kill)
        idfile = os.path.join(d, 'ids')
        tracer = subprocess.Popen([harness.SENTRACE, 'trace', '--probe-addr',
                                   'unix:' + fp.path, '--handshake-timeout', '10s',
                                   '--', sys.executable, '-c', THREADED, idfile],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True,
                                  env=dict(os.environ, **env))
        self.addCleanup(harness.kill_group, tracer)
        fp.accept()
        self.addCleanup(fp.close)
        pid, tid = (int(x) for x in read_when_there(idfile, 'the tracee\'s ids'))
        ticks = start_ticks(pid)
        errors = {}
        for name, cmd in (
                ('outside', {'pid': bystander.pid, 'start_ticks': start_ticks(bystander.pid)}),
                ('tracer', {'pid': tracer.pid, 'start_ticks': start_ticks(tracer.pid)}),
                ('runner', {'pid': os.getpid(), 'start_ticks': start_ticks(os.getpid())}),
                ('thread', {'pid': tid, 'start_ticks': start_ticks(pid, tid)}),
                ('no start', {'pid': pid}),
                ('reused', {'pid': pid, 'start_ticks': ticks + 1}),
                ('explode', {'pid': pid, 'start_ticks': ticks, 'action': 'explode'})):
            res = fp.result(fp.send(**cmd))
            self.assertFalse(res['done'], (name, res))
            errors[name] = res['error']
        # Dropped as malformed, no result: the next COMMAND's comes first.
        wrapped = fp.send(pid=pid + (1 << 32), start_ticks=ticks)
        fp.result(fp.send(pid=pid, start_ticks=ticks + 2))
        self.assertNotIn(wrapped, [r['id'] for r in unpack_results(fp.data)])
        self.assertTrue(alive(pid), 'a refused COMMAND killed the tracee')
        self.assertIsNone(bystander.poll(), 'a process outside the tree was killed')
        self.assertEqual(errors['outside'],
                         'not a tracee of this tracer, nor found by its procfs scanner')
        self.assertEqual(errors['tracer'], 'not a tracee of this tracer')
        self.assertEqual(errors['runner'],
                         'not a tracee of this tracer, nor found by its procfs scanner')
        self.assertEqual(errors['thread'], 'a thread, not a process')
        self.assertEqual(errors['no start'],
                         'no start time: refused, the pid may name another process')
        self.assertEqual(errors['reused'], 'pid reused: its start time is not the one named')
        self.assertEqual(errors['explode'], 'unknown action')
        res = fp.result(fp.send(pid=pid, start_ticks=ticks))
        self.assertTrue(res['done'], res)
        self.assertEqual(res.get('count'), 1, res)
        out, err = tracer.communicate(timeout=60)
        self.assertEqual(tracer.returncode, 128 + 9, err)

    def test_commands_only_for_the_named_tracee(self):
        self.refusals({})

    def test_commands_only_for_the_named_tracee_without_pidfd(self):
        self.refusals({'SENTRACE_NO_PIDFD': '1'})

    def reuse(self, env):
        d = self.subdir('reuse')
        fp = FakeProbe(self, d)
        tracer = subprocess.Popen(
            ['unshare', '--pid', '--fork', '--mount-proc',
             harness.SENTRACE, 'trace', '--disable-proc-scan',
             '--probe-addr', 'unix:' + fp.path, '--handshake-timeout', '10s',
             '--', 'sh', '-c', REUSE],
            cwd=d, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, env=dict(os.environ, **env))
        self.addCleanup(harness.kill_group, tracer)
        fp.accept()
        self.addCleanup(fp.close)
        b = int(read_when_there(os.path.join(d, 'b.pid'), 'the second process')[0])
        a = int(read_when_there(os.path.join(d, 'a.pid'), 'the first process')[0])
        a_ticks = int(read_when_there(os.path.join(d, 'a.ticks'), 'its start')[0])
        self.assertEqual(a, b, 'the pid was not reused; the test proves nothing')
        # The COMMAND names A, which exited; B has its pid and is traced.
        res = fp.result(fp.send(pid=a, start_ticks=a_ticks))
        self.assertFalse(res['done'], res)
        self.assertEqual(res['error'], 'pid reused: its start time is not the one named')
        # B lives on: the traced shell's `kill $!` ends it, and the shell
        # says how it went through its exit status.
        out, err = tracer.communicate(b'go\n', timeout=60)
        self.assertEqual(tracer.returncode, 0, err)

    def test_recycled_pid_survives(self):
        self.reuse({})

    def test_recycled_pid_survives_without_pidfd(self):
        self.reuse({'SENTRACE_NO_PIDFD': '1'})


if __name__ == '__main__':
    harness.main()
