# SPDX-License-Identifier: Apache-2.0
"""Delivery guarantees: a probe killed mid-stream or frozen never stalls
the workload, and every event is received or counted as dropped."""

import os
import signal
import subprocess
import sys
import time

import harness

# The traced workload, in Python so that the test drives it over stdin:
# each command line makes it do one thing and answer on stdout.
WORKLOAD = r'''
import os, sys, time
def say(*a):
    print(*a, flush=True)
say("ready")
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == "opens":
        start = time.monotonic()
        for _ in range(int(cmd[1])):
            os.close(os.open("/etc/hostname", os.O_RDONLY))
        say("opens done %.3f" % (time.monotonic() - start))
    elif cmd[0] == "child":
        pid = os.fork()
        if pid == 0:
            os.dup2(os.open("/dev/null", os.O_WRONLY), 1)
            os.execv("/bin/cat", ["cat", "/etc/hostname"])
        os.waitpid(pid, 0)
        say("child done %d" % pid)
    elif cmd[0] == "quit":
        break
'''


class DeliveryTest(harness.TracedTestCase):

    def start(self, probe, extra=()):
        argv = [harness.SENTRACE, 'trace', '--probe-addr', probe.addr] + list(extra) + \
            ['--', sys.executable, '-c', WORKLOAD]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(harness.kill_group, proc)
        self.assertEqual(proc.stdout.readline().strip(), b'ready')
        proc.workload = proc_pid(proc)
        return proc

    def ask(self, proc, line, timeout=60):
        proc.stdin.write(line.encode() + b'\n')
        proc.stdin.flush()
        deadline = time.monotonic() + timeout
        answer = proc.stdout.readline().decode().strip()
        self.assertLess(time.monotonic(), deadline, 'no answer to %r in time' % line)
        return answer

    def finish(self, proc):
        proc.stdin.write(b'quit\n')
        proc.stdin.close()
        err = proc.stderr.read().decode(errors='replace')
        self.assertEqual(proc.wait(timeout=60), 0, err)
        return err

    @staticmethod
    def events(*probes):
        out = []
        for p in probes:
            for rec in p.records():
                if rec.get('type') == 'event':
                    ev = dict(rec['event'])
                    ev['_process'] = rec.get('process') or {}
                    out.append(ev)
        return out

    @staticmethod
    def last_stats(probe):
        stats = [r for r in probe.records() if r.get('type') == 'stats']
        return stats[-1] if stats else None

    def test_probe_killed_mid_stream(self):
        first = self.start_probe()
        proc = self.start(first)
        self.assertTrue(self.ask(proc, 'opens 100').startswith('opens done'))

        # The probe dies; the workload runs on without it.
        first.killed = True
        first.proc.kill()
        first.proc.wait()
        answer = self.ask(proc, 'opens 10000')
        self.assertTrue(answer.startswith('opens done'), answer)
        self.assertIsNone(proc.poll())

        # A new probe on the same address: the tracer reconnects, sends a
        # snapshot, and what followed carries the right process data.
        second = harness.Probe(first.dir + '-restarted')
        os.makedirs(second.dir)
        second.sock = first.sock
        second.addr = first.addr
        os.unlink(first.sock) if os.path.exists(first.sock) else None
        self.probes.append(second)
        second.start()
        harness.wait_for(lambda: [r for r in second.records()
                                  if r.get('type') == 'process'
                                  and r['process'].get('pid') == proc.workload],
                         what='the snapshot after the reconnect')
        child = int(self.ask(proc, 'child').split()[2])
        err = self.finish(proc)
        self.assertEqual(second.stop(), 0, second.log_text())

        evs = self.events(first, second)
        cat_open = [e for e in evs if e['ev'] == 'open' and e['pid'] == child
                    and e.get('path') == '/etc/hostname']
        self.assertTrue(cat_open, 'the child\'s open after the restart')
        p = cat_open[-1]['_process']
        self.assertEqual(p.get('file'), os.path.realpath('/bin/cat'), p)
        self.assertEqual(p.get('argv'), ['cat', '/etc/hostname'], p)
        self.assertEqual(p.get('ppid'), proc.workload, p)

        # Received (distinct sequence numbers) + dropped = produced.
        stats = self.last_stats(second)
        self.assertIsNotNone(stats, 'no STATS after the restart')
        produced = stats['counters']['events']
        dropped = sum(stats.get('dropped', {}).values())
        seqs = {e['seq'] for e in evs if 'seq' in e}
        self.assertEqual(len(seqs) + dropped, produced,
                         'received %d + dropped %d != produced %d\n%s'
                         % (len(seqs), dropped, produced, err))
        self.assertGreaterEqual(produced, 10100)

    def test_frozen_probe_does_not_stall(self):
        probe = self.start_probe()
        proc = self.start(probe, ['--queue-max-bytes', '262144'])
        base = float(self.ask(proc, 'opens 2000').split()[2])
        probe.proc.send_signal(signal.SIGSTOP)
        try:
            # With the probe frozen the queue fills and events are
            # dropped (and counted); the workload does not wait for it.
            took = float(self.ask(proc, 'opens 20000').split()[2])
            self.assertLess(took, max(30.0, base * 10 * 20),
                            'the workload slowed down with the probe frozen')
            self.assertIsNone(proc.poll())
        finally:
            probe.proc.send_signal(signal.SIGCONT)
        err = self.finish(proc)
        self.assertEqual(probe.stop(), 0, probe.log_text())
        stats = self.last_stats(probe)
        self.assertIsNotNone(stats, err)
        dropped = sum(stats.get('dropped', {}).values())
        self.assertGreater(dropped, 0, 'a frozen probe should have cost dropped events')
        self.assertEqual(stats['dropped'].get('open', 0), dropped,
                         'only opens were dropped: lifecycle events are kept')
        seqs = {e['seq'] for e in self.events(probe) if 'seq' in e}
        self.assertEqual(len(seqs) + dropped, stats['counters']['events'], err)


def proc_pid(proc):
    """The traced workload's pid: the tracer's only child."""
    with open('/proc/%d/task/%d/children' % (proc.pid, proc.pid)) as f:
        kids = f.read().split()
    return int(kids[0]) if kids else -1


if __name__ == '__main__':
    harness.main()
