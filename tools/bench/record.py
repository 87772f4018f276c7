#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A fake probe that records a tracer's event stream.

    record.py --listen HOST:PORT --out FILE [--max-events N]

Accepts tracer connections one at a time, answers HELLO with HELLO_ACK and
every EVENTS frame with an ACK (docs/protocol.md), and appends the raw
EVENTS and PROCESS frames (length prefix included) to FILE until N events
are saved; later frames are acknowledged but not saved. Prints
"listening on HOST:PORT" first (port 0 picks a free one), then, when the
first session ends (GOODBYE and EOF) or on SIGTERM, one JSON line: events
seen and saved, frames, bytes, and the counters of the last STATS message.
"""

import argparse
import json
import signal
import socket
import sys

sys.path.insert(0, __import__('os').path.dirname(__file__))
import wire  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--listen', default='127.0.0.1:0')
    ap.add_argument('--out', required=True)
    ap.add_argument('--max-events', type=int, default=50000)
    a = ap.parse_args()

    host, port = a.listen.rsplit(':', 1)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(4)
    print('listening on %s:%d' % srv.getsockname(), flush=True)

    summary = {'events_seen': 0, 'events_saved': 0, 'frames_saved': 0,
               'bytes_saved': 0, 'stats': {}, 'dropped': {}, 'hello': {}}

    def finish(*_):
        print(json.dumps(summary), flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, finish)
    out = open(a.out, 'wb')
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rd = wire.FrameReader(conn)
    while True:
        p = rd.read()
        if p is None:
            break
        msg = wire.unpack(p)
        t = msg.get('type')
        if t == wire.HELLO:
            summary['hello'] = {k: msg.get(k) for k in ('mode', 'argv', 'tracer_version')}
            conn.sendall(wire.frame({'type': wire.HELLO_ACK,
                                     'version': wire.PROTOCOL_VERSION,
                                     'probe_version': 'bench-recorder',
                                     'session': 1, 'error': ''}))
        elif t in (wire.EVENTS, wire.PROCESS):
            n = len(msg.get('events') or [])
            summary['events_seen'] += n
            if summary['events_saved'] < a.max_events:
                raw = len(p).to_bytes(4, 'big') + p
                out.write(raw)
                summary['events_saved'] += n
                summary['frames_saved'] += 1
                summary['bytes_saved'] += len(raw)
            if t == wire.EVENTS:
                conn.sendall(wire.frame({'type': wire.ACK,
                                         'seq': msg['seq'] + n}))
        elif t == wire.STATS:
            summary['stats'] = msg.get('counters') or {}
            summary['dropped'] = msg.get('dropped') or {}
        elif t == wire.GOODBYE:
            conn.shutdown(socket.SHUT_WR)
    conn.close()
    out.close()
    finish()


if __name__ == '__main__':
    main()
