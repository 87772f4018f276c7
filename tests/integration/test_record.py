#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The probe's event decoder (src/probe/record.c) against the real tracer
and against a hostile client: every kind the real tracer sends decodes
without an invalid value (the schema built from the field table matches
the wire), and values of the wrong type or size are counted in session_end,
absent for the rules alike, while the event log keeps the map as sent."""

import os
import socket

import harness
import wireclient as w
from test_security import Probe as ArgProbe


class RecordTest(harness.TracedTestCase):

    def test_catalog_decodes_cleanly(self):
        """Every monitored call of the catalog, made for real under the
        tracer: the probe decodes each event with no invalid value."""
        prog = harness.helper('syscalls')
        if prog is None:
            self.fail('helper syscalls was not built')
        scratch = os.path.realpath(self.subdir('scratch'))
        run = self.trace([prog, scratch])
        self.assertEqual(run.returncode, 0, 'helper failed' + run.summary())
        kinds = {e.get('ev') for e in run.events}
        self.assertGreaterEqual(len(kinds), 25, 'too few kinds: %s' % sorted(kinds))
        ends = run.records_of('session_end')
        self.assertTrue(ends, 'no session_end line' + run.summary())
        for end in ends:
            self.assertNotIn('invalid_values', end,
                             'the decoder refused values of the real tracer: %r' % end)

    def test_hostile_values_are_counted(self):
        """A client sends values of the wrong type, an oversize argv and a
        repeated key: each is counted, the rules see none of them, the good
        keys still count, and the event log shows what was sent (a repeated
        key once, as the rules saw it)."""
        p = ArgProbe(self.subdir('probe'), [])
        self.probes.append(p)
        p.start()
        s = p.connect()
        ack = w.handshake(s, w.hello_body('record-test', 1, 4242))
        self.assertEqual((ack['type'], ack['error']), (w.HELLO_ACK, ''))
        common = dict(syscall='openat', tid=4243, pid=4243, ret=3, mode=0)
        events = [
            # The path is a number: no rule can see it.
            dict(ev='open', ts=1, path=12345, flags=0, **common),
            # The flags are text: the path is still good, the rule fires.
            dict(ev='open', ts=2, path='/etc/shadow', flags='O_RDONLY', **common),
            # An argv of more than 4,096 strings.
            dict(ev='exec', syscall='execve', ts=3, pid=4244, tid=4244, ret=0,
                 file='/bin/sh', argv=['sh'] + ['x'] * 5000),
        ]
        # The path twice (a dict cannot say it): the rules read the first,
        # and the log must show that one, not a second for its reader to
        # take instead.
        items = [('ev', 'open'), ('ts', 4)] + list(common.items()) + \
            [('path', '/tmp/harmless'), ('flags', 0), ('path', '/etc/shadow')]
        twice = bytes([0x80 | len(items)]) + b''.join(w.pack(k) + w.pack(v)
                                                      for k, v in items)
        frame2 = bytes([0x83]) + w.pack('type') + w.pack(w.EVENTS) + w.pack('seq') + \
            w.pack(4) + w.pack('events') + bytes([0x91]) + twice
        s.sendall(w.msg(w.EVENTS, seq=1, events=events) + w.frame(frame2) +
                  w.msg(w.GOODBYE, reason='exit', exit_status=0))
        s.shutdown(socket.SHUT_WR)
        while w.read_frame(s) is not None:
            pass
        s.close()
        self.assertEqual(p.stop(), 0, p.log_text())
        recs = p.records()
        ends = [r for r in recs if r.get('type') == 'session_end']
        self.assertEqual(len(ends), 1, recs)
        self.assertEqual(ends[0].get('invalid_values'), 4, ends[0])
        logged = [r['event'] for r in recs if r.get('type') == 'event']
        self.assertEqual([e.get('path') for e in logged[:2]], [12345, '/etc/shadow'])
        self.assertEqual(logged[1].get('flags'), 'O_RDONLY')
        self.assertEqual(len(logged[2].get('argv')), 5001)
        self.assertEqual(logged[3].get('path'), '/tmp/harmless')
        lines = [line for line in open(p.out) if '"/tmp/harmless"' in line]
        self.assertEqual(len(lines), 1)
        self.assertNotIn('/etc/shadow', lines[0])
        log = p.log_text()
        self.assertEqual(log.count('"rule":"shadow_file_opened"'), 1, log[-3000:])
        self.assertIn('invalid event values: 2 of the wrong type, 1 arrays too long, '
                      '1 repeated keys', log)


if __name__ == '__main__':
    harness.main()
