#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Replays a recorded event stream through a real probe, as fast as it can.

    replay.py --probe HOST:PORT --stream FILE [--passes N] [--probe-pid PID]

Sends HELLO, then the EVENTS frames of FILE (as written by record.py)
PASSES times with sequence numbers renumbered so that the probe treats every
pass as new events, then GOODBYE, half-closes, and waits until the probe
closes the connection: at that point the probe has decoded, resolved,
evaluated and formatted every event. Prints one JSON line: events, seconds
from HELLO_ACK to the probe's close, events/s, and with --probe-pid the
probe's CPU seconds (user + system) over the same interval.
"""

import argparse
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import wire  # noqa: E402


def proc_cpu(pid):
    with open('/proc/%d/stat' % pid) as f:
        rest = f.read().rsplit(')', 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf('SC_CLK_TCK')


def load(path):
    """[(number of events, packed events array)] of the EVENTS frames."""
    with open(path, 'rb') as f:
        data = f.read()
    frames = []
    for p in wire.split_frames(data):
        msg = wire.unpack(p)
        if msg.get('type') != wire.EVENTS:
            continue
        evs = msg.get('events') or []
        frames.append((len(evs), bytes(wire.pack(evs))))
    return frames


def build_pass(frames, seq):
    """One pass over the stream as bytes, starting at sequence number seq."""
    parts = []
    for n, body in frames:
        head = wire.pack({'type': wire.EVENTS, 'seq': seq})
        # A 2-entry fixmap header becomes a 3-entry one with "events" last.
        head[0] = 0x83
        head += wire.pack('events')
        payload_len = len(head) + len(body)
        parts += [payload_len.to_bytes(4, 'big'), bytes(head), body]
        seq += n
    return b''.join(parts), seq


def replay(addr, frames, passes, probe_pid=None, tracer_pid=None):
    host, port = addr.rsplit(':', 1)
    s = socket.create_connection((host, int(port)), timeout=300)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    rd = wire.FrameReader(s)
    s.sendall(wire.frame({'type': wire.HELLO, 'version': wire.PROTOCOL_VERSION,
                          'tracer_version': 'bench-replay', 'mode': 'wrapped',
                          'hostname': 'bench-replay', 'container_id': '',
                          'pidns': 0,
                          'tracer_pid': tracer_pid or (os.getpid() << 8 | int(time.time()) & 0xff),
                          'argv': ['replay']}))
    ack = wire.unpack(rd.read())
    if ack.get('type') != wire.HELLO_ACK or ack.get('error'):
        raise RuntimeError('probe refused HELLO: %r' % ack)
    # The passes are built before the clock starts.
    seq, bufs = 1, []
    for _ in range(passes):
        b, seq = build_pass(frames, seq)
        bufs.append(b)
    total = seq - 1
    result = {'last_ack': 0}

    def reader():
        while True:
            p = rd.read()
            if p is None:
                break
            m = wire.unpack(p)
            if m.get('type') == wire.ACK:
                result['last_ack'] = m.get('seq', 0)
        result['t_end'] = time.monotonic()

    c0 = proc_cpu(probe_pid) if probe_pid else None
    t0 = time.monotonic()
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    for b in bufs:
        s.sendall(b)
    s.sendall(wire.frame({'type': wire.GOODBYE, 'reason': 'exit', 'exit_status': 0}))
    s.shutdown(socket.SHUT_WR)
    th.join(600)
    c1 = proc_cpu(probe_pid) if probe_pid else None
    secs = result.get('t_end', time.monotonic()) - t0
    out = {'events': total, 'bytes': sum(len(b) for b in bufs),
           'seconds': secs, 'events_per_s': total / secs if secs > 0 else 0,
           'acked': result['last_ack'] - 1}
    if probe_pid:
        out['probe_cpu_s'] = c1 - c0
        out['events_per_cpu_s'] = total / (c1 - c0) if c1 > c0 else None
    s.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--probe', required=True)
    ap.add_argument('--stream', required=True)
    ap.add_argument('--passes', type=int, default=1)
    ap.add_argument('--probe-pid', type=int)
    a = ap.parse_args()
    frames = load(a.stream)
    print(json.dumps(replay(a.probe, frames, a.passes, a.probe_pid)), flush=True)


if __name__ == '__main__':
    main()
