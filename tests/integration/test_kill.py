# SPDX-License-Identifier: Apache-2.0
"""The kill action end to end: a rule's kill reaches the tracer that owns
the process, the tracer kills it with pidfd_send_signal, and the alert
says so; COMMANDs for anything but the tracer's own tracees are refused."""

import json
import os
import socket
import struct
import subprocess
import threading

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


def unpack_results(data):
    """The COMMAND_RESULT maps in a byte stream, as {key: value} for the
    keys we need (the tracer writes fixed shapes)."""
    out = []
    i = 0
    while i + 4 <= len(data):
        n = struct.unpack('>I', data[i:i + 4])[0]
        body = data[i + 4:i + 4 + n]
        i += 4 + n
        if b'\xa4type\x09' not in body:
            continue
        res = {'done': b'\xa4done\xc3' in body}
        j = body.index(b'\xa2id') + 3
        res['id'] = body[j] if body[j] < 0x80 else None
        k = body.find(b'\xa5error')
        if k >= 0:
            ln = body[k + 6] & 0x1f
            res['error'] = body[k + 7:k + 7 + ln].decode()
        out.append(res)
    return out


class KillTest(harness.TracedTestCase):

    def test_rule_kills_through_the_tracer(self):
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
        run = subprocess.run([harness.SENTRACE, 'trace', '--probe-addr', 'unix:' + sock,
                              '--', 'sh', '-c', 'sleep 4242; echo after=$?'],
                             capture_output=True, timeout=60)
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

    def test_commands_only_for_own_tracees(self):
        # A fake probe asks the tracer to kill a process outside its tree,
        # the tracer itself, and a thread id: all refused, nothing killed.
        d = self.subdir('fake')
        path = os.path.join(d, 'fake.sock')
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen(1)
        self.addCleanup(srv.close)
        bystander = subprocess.Popen(['sleep', '60'])
        self.addCleanup(bystander.wait)
        self.addCleanup(bystander.kill)
        received = []

        def fake_probe():
            c, _ = srv.accept()
            c.settimeout(20)
            c.recv(65536)
            c.sendall(frame({'type': 2, 'version': 1, 'probe_version': 'fake',
                             'session': 1, 'error': ''}))
            tracer_pid = tracer.pid
            for i, pid in enumerate((bystander.pid, tracer_pid, os.getpid()), 1):
                c.sendall(frame({'type': 6, 'id': i, 'action': 'kill', 'pid': pid,
                                 'signal': 9, 'rule_id': 'fake'}))
            c.sendall(frame({'type': 6, 'id': 4, 'action': 'explode', 'pid': 1,
                             'signal': 9, 'rule_id': 'fake'}))
            data = b''
            while len(unpack_results(data)) < 4:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
            received.extend(unpack_results(data))
            c.close()

        tracer = subprocess.Popen([harness.SENTRACE, 'trace', '--probe-addr', 'unix:' + path,
                                   '--handshake-timeout', '10s', '--', 'sleep', '2'],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        th = threading.Thread(target=fake_probe)
        th.start()
        th.join(timeout=30)
        out, err = tracer.communicate(timeout=60)
        self.assertEqual(tracer.returncode, 0, err)
        self.assertEqual(len(received), 4, received)
        self.assertFalse(any(r['done'] for r in received), received)
        self.assertEqual(received[3].get('error'), 'unknown action', received)
        self.assertIsNone(bystander.poll(), 'a process outside the tree was killed')


if __name__ == '__main__':
    harness.main()
