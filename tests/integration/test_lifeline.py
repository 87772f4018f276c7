# SPDX-License-Identifier: Apache-2.0
"""Losses are visible where they matter (issue 11, item 6): a tracer killed
without GOODBYE, or stopped so that it falls silent past the heartbeat
timeout, raises an alert in the alert output naming the workload and the
session; a stopped tracer that resumes says so; a disconnected tracer's
session is forgotten after the idle timeout. Real tracer, real probe,
real SIGKILL and SIGSTOP."""

import json
import os
import threading
import signal
import socket
import subprocess
import time

import harness
import test_delivery
import wireclient as w
from test_security import Probe as ArgProbe, write_secret


class LifelineTest(harness.TracedTestCase):

    def probe(self, *args):
        p = ArgProbe(self.subdir('probe%d' % len(self.probes)),
                     ['--no-policy', '--alerts', os.path.join(self.tmp, 'alerts.json')]
                     + list(args))
        self.probes.append(p)
        return p.start()

    def alerts(self):
        try:
            with open(os.path.join(self.tmp, 'alerts.json')) as f:
                lines = f.read().split('\n')
        except FileNotFoundError:
            return []
        return [json.loads(l) for l in lines[:-1] if l.strip()]

    def wait_alert(self, rule, count=1, timeout=20):
        return harness.wait_for(
            lambda: [a for a in self.alerts() if a.get('rule') == rule][count - 1:],
            timeout, 'alert %s (have %r)' % (rule, [a.get('rule') for a in self.alerts()]))

    def start_tracer(self, probe, marker):
        """A wrapped loop that execs cat every 0.1 s until marker exists."""
        script = ('while [ ! -e %s ]; do cat /proc/self/stat >/dev/null; sleep 0.1; done'
                  % marker)
        argv = self.tracer_argv(['sh', '-c', script, 'lifeline-workload'],
                                probe_addr=probe.addr)
        with open(os.path.join(self.tmp, 'tracer.err'), 'ab') as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True, cwd=self.tmp)
        self.addCleanup(harness.kill_group, proc)
        harness.wait_for(lambda: [r for r in probe.records() if r.get('type') == 'event'],
                         20, 'events from the tracer')
        return proc

    def check_workload(self, alert, proc):
        self.assertEqual(alert['source'], 'sentrace', alert)
        self.assertIn('technique:T1562.001', alert['tags'], alert)
        wl = alert['workload']
        self.assertEqual(wl['hostname'], socket.gethostname(), alert)
        self.assertEqual(wl['mode'], 'wrapped', alert)
        self.assertEqual(wl['tracer_pid'], proc.pid, alert)
        self.assertIn('lifeline-workload', wl['argv'], alert)
        self.assertEqual(alert['session']['tracer_pid'], proc.pid, alert)
        self.assertIn('session %d' % alert['session']['id'], alert['output'], alert)
        self.assertIn('lifeline-workload', alert['output'], alert)

    def test_sigkill_raises_lost_and_session_expires(self):
        p = self.probe('--session-idle-timeout', '3s')
        proc = self.start_tracer(p, os.path.join(self.tmp, 'never'))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(20)
        lost = self.wait_alert('sentrace_tracer_lost')[0]
        self.check_workload(lost, proc)
        self.assertEqual(lost['severity'], 'high', lost)
        self.assertTrue(lost['reason'] == 'eof' or lost['reason'].startswith('error'), lost)
        # Kept for a reconnect that never comes, then forgotten with its tree.
        p.wait_log(r'session %d expired: no tracer for \d+ s; \d+ processes forgotten'
                   % lost['session']['id'], timeout=20)
        self.assertEqual(p.stop(), 0, p.log_text())
        self.assertIn('1 expired idle', p.log_text())

    def test_sigstop_raises_silent_then_resumed(self):
        p = self.probe('--heartbeat-timeout', '2s')
        marker = os.path.join(self.tmp, 'stop')
        proc = self.start_tracer(p, marker)
        stopped = time.monotonic()
        os.kill(proc.pid, signal.SIGSTOP)
        silent = self.wait_alert('sentrace_tracer_silent')[0]
        self.assertGreaterEqual(time.monotonic() - stopped, 1.5)
        self.check_workload(silent, proc)
        self.assertGreaterEqual(silent['silent_ms'], 2000, silent)
        time.sleep(1)
        # Once per silence, not once per sweep.
        self.assertEqual(len([a for a in self.alerts()
                              if a['rule'] == 'sentrace_tracer_silent']), 1)
        os.kill(proc.pid, signal.SIGCONT)
        resumed = self.wait_alert('sentrace_tracer_resumed')[0]
        self.check_workload(resumed, proc)
        self.assertEqual(resumed['severity'], 'info', resumed)
        self.assertGreaterEqual(resumed['silent_ms'], 2000, resumed)
        # A tracer that ends properly raises nothing more.
        open(marker, 'w').close()
        proc.wait(30)
        with open(os.path.join(self.tmp, 'tracer.err')) as f:
            self.assertEqual(proc.returncode, 0, f.read())
        p.wait_log(r'session \d+ ended: goodbye')
        self.assertEqual(p.stop(), 0, p.log_text())
        self.assertEqual([a['rule'] for a in self.alerts()],
                         ['sentrace_tracer_silent', 'sentrace_tracer_resumed'])

    def test_attached_tracer_killed_names_pids(self):
        p = self.probe()
        target = subprocess.Popen(['sh', '-c', 'while :; do sleep 0.2; done'],
                                  start_new_session=True)
        self.addCleanup(target.wait)
        self.addCleanup(harness.kill_group, target)
        argv = [harness.SENTRACE, 'trace', '--probe-addr', p.addr, '--pid', str(target.pid)]
        with open(os.path.join(self.tmp, 'tracer.err'), 'ab') as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, start_new_session=True)
        self.addCleanup(harness.kill_group, proc)
        p.wait_log(r'session \d+ started: host .*, attached, tracer pid %d' % proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(20)
        lost = self.wait_alert('sentrace_tracer_lost')[0]
        self.assertEqual(lost['workload']['mode'], 'attached', lost)
        self.assertEqual(lost['workload']['pids'], [target.pid], lost)
        self.assertIn('pids: %d' % target.pid, lost['output'])
        # Plain attach: the target runs on without its tracer.
        self.assertIsNone(target.poll())

    def test_cut_connection_then_resume(self):
        # The wire as a tracer speaks it: a session whose connection breaks
        # (lost), then the same tracer resuming it with its secret.
        p = self.probe()
        s = p.connect()
        body = w.hello_body('cut-host', 77, 4242, argv=['cut-workload'])
        ack = w.handshake(s, body)
        self.assertEqual(ack['error'], '', ack)
        s.close()
        lost = self.wait_alert('sentrace_tracer_lost')[0]
        self.assertEqual(lost['workload']['argv'], ['cut-workload'], lost)
        time.sleep(0.3)
        s = p.connect()
        ack2 = w.handshake(s, dict(body, resume_session=ack['session'],
                                   resume_secret=ack['secret']))
        self.assertEqual(ack2['session'], ack['session'], ack2)
        resumed = self.wait_alert('sentrace_tracer_resumed')[0]
        self.assertEqual(resumed['session']['id'], ack['session'], resumed)
        self.assertGreaterEqual(resumed['silent_ms'], 300, resumed)
        s.sendall(w.msg(w.GOODBYE, reason='exit', exit_status=0))
        s.close()
        p.wait_log(r'session %d ended: goodbye' % ack['session'])
        self.assertEqual([a['rule'] for a in self.alerts()],
                         ['sentrace_tracer_lost', 'sentrace_tracer_resumed'])

    def test_text_alert_names_workload(self):
        p = self.probe('--format', 'text')
        proc = self.start_tracer_text(p)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(20)
        path = os.path.join(self.tmp, 'alerts.json')

        def lost_lines():
            if not os.path.exists(path):
                return None
            with open(path) as f:
                return [l for l in f.read().split('\n') if 'sentrace_tracer_lost' in l]
        line = harness.wait_for(lost_lines, 20, 'text alert')[0]
        self.assertIn('ALERT high sentrace_tracer_lost: session ', line)
        self.assertIn('ended without GOODBYE', line)
        self.assertIn('tracer_pid=%d' % proc.pid, line)
        self.assertIn('lifeline-workload', line)

    def start_tracer_text(self, probe):
        argv = self.tracer_argv(['sh', '-c', 'while :; do sleep 0.1; done',
                                 'lifeline-workload'], probe_addr=probe.addr)
        with open(os.path.join(self.tmp, 'tracer.err'), 'ab') as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True, cwd=self.tmp)
        self.addCleanup(harness.kill_group, proc)
        probe.wait_log(r'session \d+ started')
        return proc


class StartupRefusalTest(harness.TracedTestCase):
    """A refusal at start-up: one clear message naming the reason and the
    probe's address, exit status 122 (documented), CMD never started."""

    def run_tracer(self, addr, tracer_args=()):
        marker = os.path.join(self.tmp, 'cmd-ran')
        proc = subprocess.run(self.tracer_argv(['touch', marker], list(tracer_args), addr),
                              capture_output=True, timeout=60, cwd=self.tmp)
        self.assertFalse(os.path.exists(marker), 'the command ran')
        return harness.exit_status(proc.returncode), proc.stderr.decode(errors='replace')

    def probe(self, *args):
        p = ArgProbe(self.subdir('probe%d' % len(self.probes)), ['--no-policy'] + list(args))
        self.probes.append(p)
        return p.start()

    def test_missing_token(self):
        good = write_secret(os.path.join(self.tmp, 'good'), 'the probe secret')
        p = self.probe('--token-file', good)
        rc, err = self.run_tracer(p.addr)
        self.assertEqual(rc, 122, err)
        self.assertIn('the probe at %s refused this tracer: authentication failed '
                      '(the probe requires a token' % p.addr, err)
        self.assertIn('CMD was not started (exit status 122)', err)

    def test_wrong_token(self):
        good = write_secret(os.path.join(self.tmp, 'good'), 'the probe secret')
        wrong = write_secret(os.path.join(self.tmp, 'wrong'), 'another secret')
        p = self.probe('--token-file', good)
        rc, err = self.run_tracer(p.addr, ['--token-file', wrong,
                                           '--handshake-timeout', '2s'])
        self.assertEqual(rc, 122, err)
        self.assertIn('the probe at %s could not prove the token' % p.addr, err)
        self.assertIn('CMD was not started (exit status 122)', err)

    def test_token_on_tracer_only(self):
        tok = write_secret(os.path.join(self.tmp, 'tok'), 'only the tracer has it')
        p = self.probe()
        rc, err = self.run_tracer(p.addr, ['--token-file', tok, '--handshake-timeout', '2s'])
        self.assertEqual(rc, 122, err)
        self.assertIn('the probe at %s could not prove the token' % p.addr, err)

    def test_protocol_mismatch(self):
        # A probe of another release: it answers HELLO with the version error.
        path = os.path.join(self.tmp, 'old.sock')
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(4)
        srv.settimeout(30)
        self.addCleanup(srv.close)
        got = []

        def serve():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                got.append(w.read_frame(conn))
                conn.sendall(w.msg(w.HELLO_ACK, version=w.VERSION + 1,
                                   probe_version='9.9', session=0, error=
                                   'unsupported protocol version %d (probe speaks %d)'
                                   % (w.VERSION, w.VERSION + 1)))
                w.read_frame(conn)
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        rc, err = self.run_tracer('unix:' + path)
        t.join(10)
        self.assertEqual(got[0]['type'], w.HELLO, got)
        self.assertEqual(rc, 122, err)
        self.assertIn('the probe at unix:%s refused this tracer: unsupported protocol '
                      'version %d' % (path, w.VERSION), err)
        self.assertIn('protocol mismatch: this tracer speaks version %d' % w.VERSION, err)

    def test_no_probe_is_still_125(self):
        # Nobody at the address: not a refusal, the documented 125.
        rc, err = self.run_tracer('unix:' + os.path.join(self.tmp, 'nobody.sock'),
                                  ['--handshake-timeout', '1s'])
        self.assertEqual(rc, 125, err)
        self.assertIn('no answer from the probe', err)


class DropRangeTest(harness.TracedTestCase):
    """Events the tracer could not keep (a frozen probe, a small queue)
    are reported as ranges: the sequence numbers and the times they cover,
    in the STATS line and in a delivery alert; the probe logs the gap."""

    start = test_delivery.DeliveryTest.start
    ask = test_delivery.DeliveryTest.ask
    finish = test_delivery.DeliveryTest.finish
    events = staticmethod(test_delivery.DeliveryTest.events)
    alerts = LifelineTest.alerts

    def test_frozen_probe_drops_are_ranges(self):
        # A short heartbeat timeout: the probe itself is frozen past it,
        # which is no silence of the tracer's.
        p = ArgProbe(self.subdir('probe'), ['--no-policy', '--heartbeat-timeout', '2s',
                                            '--alerts', os.path.join(self.tmp, 'alerts.json')])
        self.probes.append(p)
        p.start()
        proc = self.start(p, ['--queue-max-bytes', '262144'])
        self.ask(proc, 'opens 200')
        before = time.time_ns()
        p.proc.send_signal(signal.SIGSTOP)
        try:
            self.assertTrue(self.ask(proc, 'opens 20000').startswith('opens done'))
            time.sleep(3)
        finally:
            p.proc.send_signal(signal.SIGCONT)
        self.ask(proc, 'opens 200')
        err = self.finish(proc)
        # Drops go on while the thawed probe catches up.
        after = time.time_ns()
        self.assertEqual(p.stop(), 0, p.log_text())

        stats = [r for r in p.records() if r.get('type') == 'stats']
        dropped = sum(stats[-1]['dropped'].values())
        self.assertGreater(dropped, 0, 'a frozen probe should have cost events\n' + err)
        ranges = [d for st in stats for d in st.get('drops', [])]
        self.assertTrue(ranges, stats)
        # Every dropped event is in exactly one range; no delivered event is.
        self.assertEqual(sum(d['count'] for d in ranges), dropped, ranges)
        seqs = {e['seq'] for e in self.events(p)}
        for d in ranges:
            self.assertLessEqual(d['seq_first'], d['seq_last'], d)
            self.assertEqual(d['count'], d['seq_last'] - d['seq_first'] + 1, d)
            self.assertFalse(seqs & set(range(d['seq_first'], d['seq_last'] + 1)), d)
            self.assertTrue(before <= d['ts_first'] <= d['ts_last'] <= after, (before, d, after))
        # Received + dropped = produced, and the numbers leave no other hole.
        produced = stats[-1]['counters']['events']
        self.assertEqual(len(seqs) + dropped, produced)
        self.assertEqual(max(seqs), produced)

        # One alert per range, naming it; the log names the gaps (fewer
        # than the 20 it logs at once).
        self.assertLessEqual(len(ranges), 20)
        self.assertEqual({a['rule'] for a in self.alerts()}, {'sentrace_events_dropped'})
        alerts = [a for a in self.alerts() if a['rule'] == 'sentrace_events_dropped']
        self.assertEqual(len(alerts), len(ranges), alerts)
        for a, d in zip(alerts, ranges):
            self.assertEqual((a['dropped']['seq_first'], a['dropped']['seq_last'],
                              a['dropped']['count'], a['dropped']['ts_first'],
                              a['dropped']['ts_last']),
                             (d['seq_first'], d['seq_last'], d['count'], d['ts_first'],
                              d['ts_last']))
            self.assertIn('%d events lost, seq %d-%d, from '
                          % (d['count'], d['seq_first'], d['seq_last']), a['output'])
            self.assertEqual(a['workload']['tracer_pid'], proc.pid, a)
        log = p.log_text()
        for d in ranges:
            self.assertIn('events seq %d-%d (%d) never arrived'
                          % (d['seq_first'], d['seq_last'], d['count']), log)
        print('drops: %d events in %d ranges' % (dropped, len(ranges)))
        end = [r for r in p.records() if r.get('type') == 'session_end'][-1]
        self.assertEqual(end['missing'], dropped, end)


if __name__ == '__main__':
    harness.main()
