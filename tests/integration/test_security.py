# SPDX-License-Identifier: Apache-2.0
"""Security of the probe: the shared token, the permissions of its unix
socket, hostile input from many connections while well-behaved tracers are
served, and broken policy files on reload.

Raw-protocol clients speak the wire of docs/protocol.md with the small
msgpack codec below; the real tracer is used where its behaviour matters.
"""

import os
import random
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import unittest

import harness
import wireclient

HELLO, HELLO_ACK, EVENTS, PROCESS, STATS, COMMAND, GOODBYE, ACK = 1, 2, 3, 4, 5, 6, 7, 8
FRAME_MAX = 4 << 20


# ---- a tiny msgpack codec (just what the wire uses) ----

def pack(v):
    if v is None:
        return b'\xc0'
    if v is True:
        return b'\xc3'
    if v is False:
        return b'\xc2'
    if isinstance(v, int):
        if 0 <= v < 0x80:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack('b', v)
        if v >= 0:
            return b'\xcf' + struct.pack('>Q', v)
        return b'\xd3' + struct.pack('>q', v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xa0 | len(b)]) + b
        return b'\xdb' + struct.pack('>I', len(b)) + b
    if isinstance(v, bytes):
        return b'\xc6' + struct.pack('>I', len(v)) + v
    if isinstance(v, (list, tuple)):
        return b'\xdd' + struct.pack('>I', len(v)) + b''.join(pack(x) for x in v)
    if isinstance(v, dict):
        return (b'\xdf' + struct.pack('>I', len(v))
                + b''.join(pack(k) + pack(x) for k, x in v.items()))
    raise TypeError(type(v))


def unpack(buf, i=0):
    """Decodes one value at buf[i:]; returns (value, next index)."""
    b = buf[i]
    i += 1
    if b < 0x80:
        return b, i
    if b >= 0xe0:
        return b - 0x100, i
    if 0xa0 <= b <= 0xbf:
        n = b & 0x1f
        return buf[i:i + n].decode(errors='replace'), i + n
    if 0x90 <= b <= 0x9f or 0x80 <= b <= 0x8f:
        n = b & 0x0f
        return unpack_items(buf, i, n, b < 0x90)
    simple = {0xc0: None, 0xc2: False, 0xc3: True}
    if b in simple:
        return simple[b], i
    ints = {0xcc: '>B', 0xcd: '>H', 0xce: '>I', 0xcf: '>Q',
            0xd0: '>b', 0xd1: '>h', 0xd2: '>i', 0xd3: '>q'}
    if b in ints:
        size = struct.calcsize(ints[b])
        return struct.unpack(ints[b], buf[i:i + size])[0], i + size
    strs = {0xd9: '>B', 0xda: '>H', 0xdb: '>I', 0xc4: '>B', 0xc5: '>H', 0xc6: '>I'}
    if b in strs:
        size = struct.calcsize(strs[b])
        n = struct.unpack(strs[b], buf[i:i + size])[0]
        i += size
        raw = buf[i:i + n]
        return (raw.decode(errors='replace') if b >= 0xd9 else raw), i + n
    conts = {0xdc: ('>H', False), 0xdd: ('>I', False), 0xde: ('>H', True),
             0xdf: ('>I', True)}
    if b in conts:
        fmt, is_map = conts[b]
        size = struct.calcsize(fmt)
        n = struct.unpack(fmt, buf[i:i + size])[0]
        return unpack_items(buf, i + size, n, is_map)
    raise ValueError('msgpack byte 0x%02x not supported' % b)


def unpack_items(buf, i, n, is_map):
    if is_map:
        out = {}
        for _ in range(n):
            k, i = unpack(buf, i)
            out[k], i = unpack(buf, i)
        return out, i
    out = []
    for _ in range(n):
        v, i = unpack(buf, i)
        out.append(v)
    return out, i


def frame(payload):
    return struct.pack('>I', len(payload)) + payload


def msg(mtype, **body):
    return frame(pack(dict(type=mtype, **body)))


def hello(hostname, tracer_pid, token=None, version=2):
    body = dict(version=version, tracer_version='test', mode='wrapped',
                hostname=hostname, container_id='', pidns=1,
                tracer_pid=tracer_pid, argv=['raw-client'])
    if token is not None:
        body['token'] = token
    return msg(HELLO, **body)


def open_event(pid, path, ts):
    return dict(ev='open', syscall='openat', ts=ts, pid=pid, tid=pid, ret=3,
                path=path, flags=0, mode=0)


def recv_exact(sock, n):
    data = b''
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(sock):
    """The next frame as a dict, or None at end of stream."""
    head = recv_exact(sock, 4)
    if head is None:
        return None
    n = struct.unpack('>I', head)[0]
    payload = recv_exact(sock, n)
    if payload is None:
        return None
    value, _ = unpack(payload)
    return value


def read_until_close(sock):
    """Every frame until the probe closes; a reset counts as a close."""
    frames = []
    try:
        while True:
            f = read_frame(sock)
            if f is None:
                return frames
            frames.append(f)
    except (ConnectionResetError, BrokenPipeError):
        return frames


# ---- a probe started with our own arguments ----

class Probe(harness.Probe):
    """harness.Probe with extra arguments, and a TCP listener when asked."""

    def __init__(self, directory, args=(), tcp=False, output=True):
        super().__init__(directory)
        self.args = list(args)
        self.tcp = tcp
        self.output = output
        if tcp:
            self.addr = '127.0.0.1:0'
        self.port = None

    def start(self, timeout=10):
        argv = [harness.PROBE, 'run', '-v', '--listen', self.addr, '--format', 'json']
        if self.output:
            argv += ['--output', self.out]
        with open(self.log, 'wb') as log:
            self.proc = subprocess.Popen(argv + self.args, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.tcp:
                m = re.search(r'listening on 127\.0\.0\.1:(\d+)', self.log_text())
                if m:
                    self.port = int(m.group(1))
                    self.addr = '127.0.0.1:%d' % self.port
                    return self
            elif os.path.exists(self.sock) and stat.S_ISSOCK(os.stat(self.sock).st_mode):
                return self
            if self.proc.poll() is not None:
                raise AssertionError('probe exited with %d before listening: %s'
                                     % (self.proc.returncode, self.log_text()))
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError('probe did not listen within %ds' % timeout)
            time.sleep(0.01)

    def connect(self):
        if self.tcp:
            s = socket.create_connection(('127.0.0.1', self.port), timeout=30)
        else:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(self.sock)
        return s

    def wait_log(self, pattern, count=1, timeout=20):
        return harness.wait_for(
            lambda: len(re.findall(pattern, self.log_text())) >= count,
            timeout, 'probe log to show %r %d times:\n%s'
            % (pattern, count, self.log_text()[-3000:]))


def write_secret(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w') as f:
        f.write(text + '\n')
    os.chmod(path, mode)
    return path


def alerts_of(path, rule):
    recs = []
    try:
        with open(path) as f:
            for line in f:
                if line.strip():
                    rec = harness.json.loads(line)
                    if rec.get('type') == 'alert' and rec.get('rule') == rule:
                        recs.append(rec)
    except FileNotFoundError:
        pass
    return recs


class SecurityTest(harness.TracedTestCase):

    def probe(self, args=(), tcp=False, output=True):
        p = Probe(self.subdir('probe%d' % len(self.probes)), args, tcp, output)
        self.probes.append(p)
        return p.start()

    def run_tracer(self, probe, cmd, tracer_args=(), timeout=60):
        argv = self.tracer_argv(cmd, tracer_args, probe.addr)
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, cwd=self.tmp, start_new_session=True)
        return (harness.exit_status(proc.returncode), proc.stdout.decode(errors='replace'),
                proc.stderr.decode(errors='replace'))

    # ---- the shared token ----

    def test_token(self):
        good = write_secret(os.path.join(self.tmp, 'token'), 'correct horse battery')
        wrong = write_secret(os.path.join(self.tmp, 'wrong'), 'correct horse battery!')
        policy = os.path.join(self.tmp, 'kill.policy')
        marker = os.path.join(self.tmp, 'marker')
        with open(marker, 'w') as f:
            f.write('x\n')
        with open(policy, 'w') as f:
            f.write('version: 1\nrules:\n  - id: kill_marker\n'
                    '    expression: open.file.path == "%s"\n'
                    '    actions:\n      - kill: {signal: SIGKILL}\n' % marker)
        p = self.probe(['--token-file', good, '--policy', policy])

        rc, out, err = self.run_tracer(p, ['/bin/echo', 'served'], ['--token-file', good])
        self.assertEqual(rc, 0, err + p.log_text())
        self.assertIn('served', out)
        p.wait_log(r'unix peer pid \d+ uid 0: session \d+ started')

        # Without a token the probe refuses the tracer. With the wrong one
        # neither can prove it to the other: the tracer takes the probe for
        # a fake, sends nothing but HELLO, and gives up at its handshake
        # timeout.
        rc, out, err = self.run_tracer(p, ['/bin/echo', 'refused'], [])
        self.assertEqual(rc, 122, err)
        self.assertNotIn('refused', out, 'the command ran')
        self.assertIn('refused this tracer: authentication failed', err)
        p.wait_log(r'warning: unix peer pid \d+ uid 0: refusing tracer: '
                   r'authentication failed: no token')
        rc, out, err = self.run_tracer(p, ['/bin/echo', 'refused'],
                                       ['--token-file', wrong, '--handshake-timeout', '2s'])
        self.assertEqual(rc, 122, err)
        self.assertNotIn('refused', out, 'the command ran')
        self.assertIn('cannot prove the token', err)

        # A raw client with the wrong token: only the challenge and the
        # refusal come back; its events (which would make the probe send a
        # kill) are never read.
        s = p.connect()
        body = wireclient.hello_body('raw-refused', 1, 4242, nonce=os.urandom(32))
        s.sendall(wireclient.frame(wireclient.pack(body)))
        ch = read_frame(s)
        self.assertEqual(ch['type'], wireclient.CHALLENGE)
        self.assertNotIn(b'correct horse', repr(ch).encode())
        s.sendall(msg(wireclient.AUTH, proof=wireclient.proof('nope', 'tracer', body,
                                                              ch['nonce']))
                  + msg(EVENTS, seq=1, events=[open_event(4243, marker, 1)])
                  + msg(GOODBYE, reason='exit', exit_status=0))
        s.shutdown(socket.SHUT_WR)
        frames = read_until_close(s)
        s.close()
        self.assertEqual(len(frames), 1, frames)
        self.assertEqual((frames[0]['type'], frames[0]['session'], frames[0]['error']),
                         (HELLO_ACK, 0, 'authentication failed'))
        p.wait_log(r'refusing tracer: authentication failed: wrong token')

        self.assertEqual(p.stop(), 0, p.log_text())
        log = p.log_text()
        self.assertRegex(log, r'totals: 1 sessions, .* 2 refused for authentication')
        sessions = {r['session']['tracer_pid'] for r in p.records()}
        self.assertEqual(len(sessions), 1, p.records())
        for rec in p.records():
            self.assertNotEqual(rec['session'].get('hostname'), 'raw-refused')
        self.assertTrue([r for r in p.records() if r.get('type') == 'event'])

    def test_token_file_mode(self):
        loose = write_secret(os.path.join(self.tmp, 'loose'), 'secret', 0o644)
        sock = os.path.join(self.tmp, 'p.sock')
        proc = subprocess.run([harness.PROBE, 'run', '--listen', 'unix:' + sock,
                               '--no-policy', '--output', 'none', '--token-file', loose],
                              capture_output=True, timeout=30)
        self.assertEqual(proc.returncode, 2)
        self.assertIn(b'token file %s: must be a file only its owner can read'
                      % loose.encode(), proc.stderr)
        self.assertFalse(os.path.exists(sock))

        env = dict(os.environ, SENTRACE_RUNTIME_SECURITY_CONFIG_EBPFLESS_TOKEN_FILE=loose)
        proc = subprocess.run([harness.PROBE, 'run', '--listen', 'unix:' + sock,
                               '--no-policy', '--output', 'none'],
                              capture_output=True, timeout=30, env=env)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn(b'must be a file only its owner can read', proc.stderr)

        proc = subprocess.run(self.tracer_argv(['/bin/echo', 'ran'], ['--token-file', loose],
                                               'unix:' + sock),
                              capture_output=True, timeout=30)
        self.assertEqual(harness.exit_status(proc.returncode), 125)
        self.assertNotIn(b'ran', proc.stdout)
        self.assertIn(b'token file %s: must be a file only its owner can read'
                      % loose.encode(), proc.stderr)

    # ---- the unix socket's permissions ----

    def connect_as(self, path, uid, gid):
        """Connects to PATH from a child running as UID:GID; the errno or 0."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(r)
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(path)
                except OSError as e:
                    code = e.errno
                os.write(w, str(code).encode())
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            result = f.read()
        os.waitpid(pid, 0)
        return int(result)

    def test_socket_mode(self):
        p = self.probe(['--no-policy'])
        st = os.stat(p.sock)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual((st.st_uid, st.st_gid), (0, 0))
        self.assertEqual(self.connect_as(p.sock, 65534, 65534), errno_of('EACCES'))
        self.assertEqual(self.connect_as(p.sock, 0, 0), 0)
        p.wait_log(r'mode 0660, uid 0, gid 0')
        p.stop()

        p = self.probe(['--no-policy', '--socket-mode', '0600'])
        self.assertEqual(stat.S_IMODE(os.stat(p.sock).st_mode), 0o600)
        p.stop()

        # Group access: a member of the socket's group may connect.
        p = self.probe(['--no-policy', '--socket-mode', '660', '--socket-group', '65534'])
        st = os.stat(p.sock)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_gid), (0o660, 65534))
        self.assertEqual(self.connect_as(p.sock, 65534, 65534), 0)
        self.assertEqual(self.connect_as(p.sock, 65533, 65533), errno_of('EACCES'))
        p.stop()

        for bad in (['--socket-mode', '0888'], ['--socket-group', 'no-such-group-here']):
            sock = os.path.join(self.tmp, 'bad.sock')
            proc = subprocess.run([harness.PROBE, 'run', '--listen', 'unix:' + sock,
                                   '--no-policy', '--output', 'none'] + bad,
                                  capture_output=True, timeout=30)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertFalse(os.path.exists(sock))

    # ---- hostile input beside well-behaved clients ----

    def bad_inputs(self):
        """(name, bytes, half-close) for every hostile connection."""
        cases = [
            ('empty frame', struct.pack('>I', 0), True),
            ('oversize frame', struct.pack('>I', FRAME_MAX + 1) + b'x' * 1024, True),
            ('huge frame', b'\xff\xff\xff\xff' + b'y' * 64, True),
            ('truncated header', b'\x00\x00', True),
            ('truncated payload', struct.pack('>I', 100) + pack({'type': 1})[:5], True),
            ('not msgpack', frame(b'\xc1\xc1\xc1'), True),
            ('not a map', frame(pack([1, 2, 3])), True),
            ('no type', frame(pack({'version': 1})), True),
            ('trailing bytes', frame(pack({'type': 1, 'version': 1}) + b'\x00'), True),
            ('array of 4 billion', frame(b'\xdd\xff\xff\xff\xff'), True),
            ('deep nesting', frame(b'\x91' * 100 + b'\x00'), True),
            ('events before hello', msg(EVENTS, seq=1, events=[]), True),
            ('wrong version', hello('bad-version', 7, version=99), True),
            ('second hello', hello('double', 8) + hello('double', 8), True),
            ('events not an array', hello('notarray', 9) + msg(EVENTS, events=5), True),
            ('garbage after hello', hello('garbage', 10) + frame(b'\xdd\xff\xff\xff\xff'),
             True),
            ('hello then truncated', hello('trunc', 11) + b'\x00\x00\x10', True),
        ]
        rng = random.Random(20261123)
        for i in range(300):
            kind = i % 3
            if kind == 0:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
            elif kind == 1:
                body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
                data = frame(body)
            else:
                body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
                data = frame(bytes([0x80 | rng.randrange(16)]) + body)
            cases.append(('random %d' % i, data, True))
        return cases

    def good_client(self, p, i, barrier, errors):
        host = 'good-%d' % i
        try:
            s = p.connect()
            s.sendall(hello(host, 100000 + i))
            ack = read_frame(s)
            if not ack or ack.get('type') != HELLO_ACK or ack.get('error'):
                raise AssertionError('%s: HELLO_ACK %r' % (host, ack))
            barrier.wait(60)
            seq = 1
            for batch in range(3):
                evs = [open_event(200000 + i, '/good/%d/%d/%d' % (i, batch, k),
                                  1795442400000000000 + seq + k) for k in range(4)]
                s.sendall(msg(EVENTS, seq=seq, events=evs))
                seq += len(evs)
                f = read_frame(s)
                if not f or f.get('type') != ACK or f.get('seq') != seq:
                    raise AssertionError('%s: expected ACK %d, got %r' % (host, seq, f))
            s.sendall(msg(STATS, counters={'events': seq - 1}, dropped={})
                      + msg(GOODBYE, reason='exit', exit_status=0))
            s.shutdown(socket.SHUT_WR)
            rest = read_until_close(s)
            s.close()
            if any(f.get('type') not in (ACK,) for f in rest):
                raise AssertionError('%s: unexpected frames %r' % (host, rest))
        except Exception as e:  # reported by the main thread
            errors.append('%s: %r' % (host, e))
            try:
                barrier.abort()
            except threading.BrokenBarrierError:
                pass

    def bad_client(self, p, cases, ports, errors):
        for name, data, half_close in cases:
            try:
                s = p.connect()
                ports[name] = s.getsockname()[1]
                try:
                    s.sendall(data)
                    if half_close:
                        s.shutdown(socket.SHUT_WR)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                frames = read_until_close(s)
                s.close()
                for f in frames:
                    if not isinstance(f, dict) or f.get('type') not in (HELLO_ACK, ACK):
                        errors.append('%s: unexpected frame %r' % (name, f))
            except Exception as e:
                errors.append('%s: %r' % (name, e))

    def test_hostile_input(self):
        p = self.probe(['--no-policy'], tcp=True)
        cases = self.bad_inputs()
        ngood = 100
        barrier = threading.Barrier(ngood + 1)
        errors, ports = [], {}
        goods = [threading.Thread(target=self.good_client, args=(p, i, barrier, errors))
                 for i in range(ngood)]
        for t in goods:
            t.start()
        try:
            barrier.wait(60)
        except threading.BrokenBarrierError:
            pass
        # Two hostile senders while the good clients stream.
        bads = [threading.Thread(target=self.bad_client,
                                 args=(p, cases[k::2], ports, errors)) for k in range(2)]
        for t in bads:
            t.start()
        for t in goods + bads:
            t.join(120)
            self.assertFalse(t.is_alive(), 'a client is stuck')
        self.assertEqual(errors, [], p.log_text()[-3000:])

        # Still alive, and still answering.
        self.assertIsNone(p.proc.poll(), p.log_text()[-3000:])
        s = p.connect()
        s.sendall(hello('last', 99999))
        ack = read_frame(s)
        self.assertEqual((ack['type'], ack['error']), (HELLO_ACK, ''))
        s.close()

        # Every bad connection was closed with a reason, logged with its peer.
        log = p.log_text()
        for name, port in ports.items():
            self.assertRegex(log, r'warning: 127\.0\.0\.1:%d: (closing connection|'
                             r'refusing tracer): \S' % port,
                             'no reason logged for %s' % name)
        self.assertEqual(p.stop(), 0, log[-3000:])

        paths = {r['event']['path'] for r in p.records()
                 if r.get('type') == 'event' and r['session']['hostname'].startswith('good-')}
        want = {'/good/%d/%d/%d' % (i, b, k)
                for i in range(ngood) for b in range(3) for k in range(4)}
        self.assertEqual(want - paths, set())
        ends = [r for r in p.records() if r.get('type') == 'session_end'
                and r['session']['hostname'].startswith('good-')]
        self.assertEqual(len(ends), ngood)
        self.assertTrue(all(e['reason'] == 'goodbye' and e['events'] == 12 for e in ends),
                        ends[:3])

    # ---- broken policy files on reload ----

    def test_policy_reload(self):
        pdir = self.subdir('policy')
        policy = os.path.join(pdir, 'test.policy')
        marker_a = os.path.join(self.tmp, 'marker-a')
        marker_b = os.path.join(self.tmp, 'marker-b')
        for m in (marker_a, marker_b):
            with open(m, 'w') as f:
                f.write('x\n')
        rule_a = ('version: 1\nrules:\n'
                  '  - id: touch_a\n'
                  '    expression: open.file.path == "%s"\n'
                  '    severity: high\n' % marker_a)
        rule_b = ('  - id: touch_b\n'
                  '    expression: open.file.path == "%s"\n' % marker_b)
        with open(policy, 'w') as f:
            f.write(rule_a)
        alerts = os.path.join(self.tmp, 'alerts.jsonl')
        p = self.probe(['--policy', pdir, '--alerts', alerts], output=False)
        cat = ['/bin/cat', marker_a, marker_b]

        def trace_and_count():
            rc, out, err = self.run_tracer(p, cat)
            self.assertEqual(rc, 0, err)
            return len(alerts_of(alerts, 'touch_a')), len(alerts_of(alerts, 'touch_b'))

        self.assertEqual(trace_and_count(), (1, 0))

        broken = [
            ('syntax error', rule_a + '  - id: [broken\n', r':7:1: YAML: '),
            ('unknown field', rule_a + '  - id: touch_b\n'
             '    expression: open.file.nope == "x"\n', r':7:\d+: unknown field'),
            ('type error', rule_a + '  - id: touch_b\n'
             '    expression: open.flags == "abc"\n', r':7:\d+: expected an integer'),
            ('bad severity', rule_a + rule_b + '    severity: [1]\n', r':8:\d+: severity'),
        ]
        failures = 0
        for n, (what, text, where) in enumerate(broken, 1):
            with open(policy, 'w') as f:
                f.write(text)
            p.proc.send_signal(signal.SIGHUP)
            failures += 1
            p.wait_log(r'keeping the 1 rules loaded before', failures)
            self.assertRegex(p.log_text(), r'error: policy %s%s'
                             % (re.escape(policy), where), what)
            self.assertEqual(trace_and_count(), (1 + n, 0), what)

        with open(policy, 'w') as f:
            f.write(rule_a + rule_b)
        p.proc.send_signal(signal.SIGHUP)
        p.wait_log(r'policies reloaded: 2 rules')
        self.assertEqual(trace_and_count(), (2 + len(broken), 1))
        self.assertIsNone(p.proc.poll())
        self.assertEqual(p.stop(), 0, p.log_text())


def errno_of(name):
    return harness.errno_value(name)


if __name__ == '__main__':
    harness.main()
