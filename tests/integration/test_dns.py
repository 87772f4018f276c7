# SPDX-License-Identifier: Apache-2.0
"""DNS questions, asked by real resolvers of a real DNS server.

Each run is in a private network and mount namespace (unshare -n -m): the
loopback interface is brought up, dnsmasq listens on 127.0.0.1 and answers
every name, and /etc/resolv.conf is bind-mounted over with one naming
127.0.0.1. The tracer runs inside (its CMD resolves there); the probe stays
outside, on a unix socket, with the default policy (contrib/policy).

Resolvers: glibc (getent hosts: connect + send, python getaddrinfo:
connect + sendmmsg, TCP: writev), musl (sendto, a static program built
here with musl-gcc), dig and nslookup (libuv's sendmmsg), Go's pure
resolver over UDP and TCP (connect + write, built here with the Debian
toolchain, offline), bash's /dev/udp (connect + write), attach mode. Each asserts the exact dns events; the
attack runs assert the alert naming the rule, the benign runs that no
alert at all is raised; a last test shows that a server's sends (bulk or
connected, to other ports) cost no stop.
"""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys

import harness

POLICY = os.environ.get('SENTRACE_POLICY_DIR') or os.path.join(harness.REPO, 'contrib', 'policy')

NS_SCRIPT = r'''
set -e
ip link set lo up
mount --bind "$DNS_DIR/resolv.conf" /etc/resolv.conf
dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --no-poll --user=root \
	--listen-address=127.0.0.1 --bind-interfaces --port="$DNS_PORT" \
	--pid-file="$DNS_DIR/dnsmasq.pid" --log-queries --log-facility="$DNS_DIR/dnsmasq.log" \
	--address=/example.test/127.1.2.3 --address=/example.test/::1 \
	--address=/#/127.0.0.9 --address=/#/::1 \
	--txt-record=cmd.example.test,"run"
set +e
"$@"
rc=$?
kill "$(cat "$DNS_DIR/dnsmasq.pid")"
exit $rc
'''

GO_PROGRAM = r'''package main

import (
	"context"
	"fmt"
	"net"
	"os"
)

// Resolves each argument with Go's own resolver: no cgo, no libc.
func main() {
	r := &net.Resolver{PreferGo: true}
	for _, n := range os.Args[1:] {
		addrs, err := r.LookupHost(context.Background(), n)
		fmt.Println(n, addrs, err)
	}
}
'''

MUSL_PROGRAM = r'''#include <netdb.h>
#include <stdio.h>
#include <string.h>

/* Resolves each argument with musl's resolver: sendto to the server. */
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		struct addrinfo hints, *res = NULL;
		int r;

		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		r = getaddrinfo(argv[i], "80", &hints, &res);
		printf("%s %d\n", argv[i], r);
		if (res)
			freeaddrinfo(res);
	}
	return 0;
}
'''

# The benign names: what ordinary programs ask (also used for the
# false-positive count of dns_long_or_random_name, contrib/policy/README.md).
BENIGN_NAMES = ['www.example.test', 'deb.debian.org', 'security.debian.org',
                'pypi.org', 'files.pythonhosted.org', 'registry-1.docker.io',
                'github.com', 'objects.githubusercontent.com',
                'ec2-54-123-45-67.compute-1.amazonaws.com', 'kubernetes.default.svc.cluster.local',
                'e1234.dscb.akamaiedge.net', 'safebrowsing.googleapis.com',
                'incoming.telemetry.mozilla.org', '_acme-challenge.www.example.test']


def dns_query(qid, name, qtype):
    """A query as a resolver sends it (RD set, one question, class IN)."""
    q = struct.pack('>HHHHHH', qid, 0x0100, 1, 0, 0, 0)
    for label in name.split('.'):
        q += bytes([len(label)]) + label.encode()
    return q + b'\0' + struct.pack('>HH', qtype, 1)


def printf_escape(data):
    return ''.join('\\x%02x' % b for b in data)


class DnsTest(harness.TracedTestCase):

    @classmethod
    def setUpClass(cls):
        missing = [p for p in ('dnsmasq', 'dig', 'nslookup', 'go', 'musl-gcc', 'unshare', 'ip',
                               'getent', 'bash')
                   if not shutil.which(p)]
        if missing:
            raise AssertionError('missing programs (tools/setup installs them): %s'
                                 % ' '.join(missing))
        cls.work = harness.tempfile.mkdtemp(prefix='sentrace-dns-')
        os.chmod(cls.work, 0o755)
        src = os.path.join(cls.work, 'resolve.go')
        with open(src, 'w') as f:
            f.write(GO_PROGRAM)
        cls.goprog = os.path.join(cls.work, 'goresolve')
        env = dict(os.environ, GOCACHE=os.path.join(cls.work, 'gocache'),
                   GOPATH=os.path.join(cls.work, 'gopath'), GO111MODULE='off',
                   GOPROXY='off', GOFLAGS='', CGO_ENABLED='0', HOME=cls.work)
        out = subprocess.run(['go', 'build', '-o', cls.goprog, src], env=env, cwd=cls.work,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=300)
        if out.returncode != 0:
            raise AssertionError('go build failed:\n' + out.stdout)
        src = os.path.join(cls.work, 'mresolve.c')
        with open(src, 'w') as f:
            f.write(MUSL_PROGRAM)
        cls.muslprog = os.path.join(cls.work, 'mresolve')
        out = subprocess.run(['musl-gcc', '-static', '-O2', '-o', cls.muslprog, src],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=120)
        if out.returncode != 0:
            raise AssertionError('musl-gcc failed:\n' + out.stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def run_ns(self, cmd, tracer_args=(), dns_port=53, options='attempts:2 timeout:2'):
        """CMD under the tracer in a private network namespace with dnsmasq
        on 127.0.0.1:DNS_PORT; returns (Run, alerts)."""
        d = self.subdir('ns%d' % len(self.probes))
        with open(os.path.join(d, 'resolv.conf'), 'w') as f:
            f.write('nameserver 127.0.0.1\noptions %s\n' % options)
        script = os.path.join(d, 'ns.sh')
        with open(script, 'w') as f:
            f.write(NS_SCRIPT)
        pdir = self.subdir('probe%d' % len(self.probes))
        probe = harness.Probe(pdir)
        alerts = os.path.join(pdir, 'alerts.jsonl')
        probe_argv = [harness.PROBE, 'run', '--listen', probe.addr, '--output', probe.out,
                      '--format', 'json', '--alerts', alerts, '--policy', POLICY]
        with open(probe.log, 'wb') as log:
            probe.proc = subprocess.Popen(probe_argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT)
        self.probes.append(probe)
        harness.wait_for(lambda: os.path.exists(probe.sock), what='probe socket')
        argv = (['unshare', '-n', '-m', '--propagation', 'private', 'sh', script,
                 harness.SENTRACE, 'trace', '--probe-addr', probe.addr, '--disable-proc-scan']
                + list(tracer_args) + ['--'] + list(cmd))
        env = dict(os.environ, DNS_DIR=d, DNS_PORT=str(dns_port))
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, cwd=d, timeout=120)
        self.assertEqual(probe.stop(), 0, probe.log_text())
        run = harness.Run(argv, harness.exit_status(proc.returncode),
                          proc.stdout.decode(errors='replace'),
                          proc.stderr.decode(errors='replace'), probe)
        recs = []
        if os.path.exists(alerts):
            with open(alerts) as f:
                recs = [json.loads(line) for line in f if line.strip()]
        return run, recs

    def py(self, code, *args):
        """python running CODE from a file (inline -c code with sockets is a
        rule of its own, python_inline_socket_code)."""
        d = self.subdir('py')
        path = os.path.join(d, 'resolve%d.py' % len(os.listdir(d)))
        with open(path, 'w') as f:
            f.write(code + '\n')
        return [os.path.realpath(sys.executable), path] + list(args)

    def questions(self, run):
        """(syscall, name, type_name, protocol, addr, port) of each dns event."""
        return sorted((e['syscall'], e['name'], e.get('type_name'), e['protocol'],
                       e['addr'], e['port']) for e in run.find(ev='dns'))

    def assertDnsEvents(self, run, expected, pid_of=None):
        got = self.questions(run)
        self.assertEqual(got, sorted(expected), 'dns events:%s%s'
                         % (run.describe(run.find(ev='dns')), run.summary()))
        for e in run.find(ev='dns'):
            self.assertEqual(e['class'], 1, e)
            self.assertEqual(e['count'], 1, e)
            self.assertIsInstance(e['id'], int)
            self.assertEqual(e['family'], 2, e)
            self.assertNotIn('ret', e)
            if pid_of:
                self.assertEqual(os.path.basename(e['_process'].get('file', '')), pid_of,
                                 e['_process'])

    def rule_ids(self, alerts):
        return sorted({a.get('rule_id') for a in alerts})

    # ---- resolvers ----

    def test_glibc_getent(self):
        """getent hosts: glibc connects, then send() (no destination) for
        AAAA and A in turn: seen by watching the connecting thread."""
        run, alerts = self.run_ns(['getent', 'hosts', 'www.example.test'])
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertIn('www.example.test', run.stdout)
        self.assertDnsEvents(run, [
            ('sendto', 'www.example.test', 'AAAA', 'udp', '127.0.0.1', 53),
        ], pid_of='getent')
        self.assertEqual(alerts, [])

    def test_python_getaddrinfo(self):
        """python's getaddrinfo: glibc's connect + sendmmsg, A and AAAA in
        one call (seccomp stop of sendmmsg)."""
        code = "import socket; print(socket.getaddrinfo('py.example.test', 80, type=socket.SOCK_STREAM))"
        run, alerts = self.run_ns(self.py(code))
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertIn('127.1.2.3', run.stdout)
        self.assertDnsEvents(run, [
            ('sendmmsg', 'py.example.test', 'A', 'udp', '127.0.0.1', 53),
            ('sendmmsg', 'py.example.test', 'AAAA', 'udp', '127.0.0.1', 53),
        ])
        self.assertEqual(alerts, [])

    def test_glibc_tcp(self):
        """glibc over TCP (options use-vc): connect + writev of the length
        and the query, seen by the watch."""
        code = ("import socket; print(socket.getaddrinfo('tcp.example.test', 80, "
                "socket.AF_INET, socket.SOCK_STREAM))")
        run, alerts = self.run_ns(['env', 'RES_OPTIONS=use-vc'] + self.py(code))
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertIn('127.1.2.3', run.stdout)
        self.assertDnsEvents(run, [
            ('writev', 'tcp.example.test', 'A', 'tcp', '127.0.0.1', 53),
        ])
        self.assertEqual(alerts, [])

    def test_dig(self):
        """dig: UDP through libuv (sendmmsg or sendmsg on a connected
        socket), then a TXT query over TCP (dig is a DNS tool: no alert)."""
        run, alerts = self.run_ns(['sh', '-c', 'dig @127.0.0.1 +short +tries=1 dig.example.test A; '
                                   'dig @127.0.0.1 +short +tcp +tries=1 TXT cmd.example.test'])
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertIn('127.1.2.3', run.stdout)
        self.assertIn('"run"', run.stdout)
        got = self.questions(run)
        by_name = {g[1]: g for g in got}
        self.assertEqual(sorted(g[1:] for g in got), [
            ('cmd.example.test', 'TXT', 'tcp', '127.0.0.1', 53),
            ('dig.example.test', 'A', 'udp', '127.0.0.1', 53),
        ], run.describe(run.find(ev='dns')) + run.summary())
        self.assertIn(by_name['dig.example.test'][0], ('sendmsg', 'sendmmsg'), got)
        self.assertIn(by_name['cmd.example.test'][0], ('write', 'writev', 'sendmsg', 'sendto'),
                      got)
        self.assertEqual(alerts, [])

    def test_go_pure_resolver(self):
        """Go's resolver: a connected UDP socket per question, write(),
        possibly from two threads at once."""
        run, alerts = self.run_ns([self.goprog, 'go.example.test'])
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertIn('127.1.2.3', run.stdout)
        self.assertDnsEvents(run, [
            ('write', 'go.example.test', 'A', 'udp', '127.0.0.1', 53),
            ('write', 'go.example.test', 'AAAA', 'udp', '127.0.0.1', 53),
        ], pid_of='goresolve')
        self.assertEqual(alerts, [])

    def test_musl(self):
        """musl (Alpine's libc), statically linked: sendto with the
        server as destination on an unconnected socket, A and AAAA."""
        run, alerts = self.run_ns([self.muslprog, 'musl.example.test'])
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertIn('musl.example.test 0', run.stdout)
        self.assertDnsEvents(run, [
            ('sendto', 'musl.example.test', 'A', 'udp', '127.0.0.1', 53),
            ('sendto', 'musl.example.test', 'AAAA', 'udp', '127.0.0.1', 53),
        ], pid_of='mresolve')
        self.assertEqual(alerts, [])

    def test_nslookup(self):
        """nslookup (dnsutils): A and AAAA through libuv."""
        run, alerts = self.run_ns(['nslookup', 'ns.example.test', '127.0.0.1'])
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertIn('127.1.2.3', run.stdout)
        got = self.questions(run)
        self.assertEqual(sorted(g[1:] for g in got), [
            ('ns.example.test', 'A', 'udp', '127.0.0.1', 53),
            ('ns.example.test', 'AAAA', 'udp', '127.0.0.1', 53),
        ], run.describe(run.find(ev='dns')) + run.summary())
        self.assertEqual(alerts, [])

    def test_go_tcp(self):
        """Go over TCP (options use-vc): a non-blocking connect
        (EINPROGRESS), the goroutine parks, and the write of length and
        query comes later, from whichever thread runs it."""
        run, alerts = self.run_ns([self.goprog, 'gotcp.example.test'], options='use-vc')
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertIn('127.1.2.3', run.stdout)
        self.assertDnsEvents(run, [
            ('write', 'gotcp.example.test', 'A', 'tcp', '127.0.0.1', 53),
            ('write', 'gotcp.example.test', 'AAAA', 'tcp', '127.0.0.1', 53),
        ], pid_of='goresolve')
        self.assertEqual(alerts, [])

    def test_configured_port(self):
        """A DNS server on another port counts only when --dns-port names
        it: dig -p 5300, once without and once with the flag."""
        cmd = ['dig', '@127.0.0.1', '-p', '5300', '+short', '+tries=1', 'port.example.test']
        run, _ = self.run_ns(cmd, dns_port=5300)
        self.assertIn('127.1.2.3', run.stdout, run.summary())
        self.assertEqual(run.find(ev='dns'), [], run.describe(run.find(ev='dns')))
        run, _ = self.run_ns(cmd, tracer_args=['--dns-port', '53', '--dns-port', '5300'],
                             dns_port=5300)
        self.assertIn('127.1.2.3', run.stdout, run.summary())
        self.assertEqual([q[1:] for q in self.questions(run)],
                         [('port.example.test', 'A', 'udp', '127.0.0.1', 5300)])

    def test_attach(self):
        """Attach mode, from outside the resolver's network namespace: the
        server's address comes from the tracee's own socket tables. Plain
        attach (every call stops) and --attach-seccomp (the injected
        filter stops sendmmsg)."""
        for extra in ([], ['--attach-seccomp']):
            with self.subTest(flags=extra):
                self.attach_once(extra)

    def attach_once(self, extra):
        d = self.subdir('attach%d' % len(self.probes))
        with open(os.path.join(d, 'resolv.conf'), 'w') as f:
            f.write('nameserver 127.0.0.1\n')
        script = os.path.join(d, 'ns.sh')
        with open(script, 'w') as f:
            f.write(NS_SCRIPT)
        pidfile, stopfile = os.path.join(d, 'pid'), os.path.join(d, 'stop')
        loop = self.py("import os, socket, sys, time\n"
                       "open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid()))\n"
                       "os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
                       "end = time.time() + 60\n"
                       "while time.time() < end and not os.path.exists(sys.argv[2]):\n"
                       "    socket.getaddrinfo('attach.example.test', 80, type=socket.SOCK_STREAM)\n"
                       "    time.sleep(0.05)\n", pidfile, stopfile)
        env = dict(os.environ, DNS_DIR=d, DNS_PORT='53')
        resolver = subprocess.Popen(['unshare', '-n', '-m', '--propagation', 'private', 'sh',
                                     script] + loop, env=env, cwd=d,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
        tracer = None
        try:
            harness.wait_for(lambda: os.path.exists(pidfile), what='resolver pid')
            with open(pidfile) as f:
                pid = int(f.read())
            probe = self.start_probe()
            tracer = subprocess.Popen([harness.SENTRACE, 'trace', '--probe-addr', probe.addr,
                                       '--disable-proc-scan', '--pid', str(pid)] + extra,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, start_new_session=True)

            def seen():
                return any(r.get('type') == 'event' and r['event'].get('ev') == 'dns'
                           for r in probe.records())
            harness.wait_for(seen, timeout=30, what='a dns event from the attached resolver')
        finally:
            open(stopfile, 'w').close()
            try:
                resolver.wait(30)
            except subprocess.TimeoutExpired:
                harness.kill_group(resolver)
                resolver.wait()
            if tracer:
                tracer.send_signal(signal.SIGTERM)
                err = tracer.communicate(timeout=30)[1]
        self.assertEqual(probe.stop(), 0, probe.log_text())
        run = harness.Run(['attach'], 0, '', err.decode(errors='replace'), probe)
        evs = run.find(ev='dns', pid=pid)
        self.assertTrue(evs, run.summary())
        for e in evs:
            self.assertEqual((e['name'], e['protocol'], e['addr'], e['port']),
                             ('attach.example.test', 'udp', '127.0.0.1', 53), e)
        self.assertEqual({e['type_name'] for e in evs}, {'A', 'AAAA'},
                         run.describe(evs))

    # ---- attacks ----

    def test_mining_pool_lookup(self):
        """The issue's "done means": getent hosts of a pool, whether or not
        it resolves (here dnsmasq answers everything)."""
        run, alerts = self.run_ns(['getent', 'hosts', 'xmr.pool.minergate.com'])
        self.assertTrue(run.find(ev='dns', name='xmr.pool.minergate.com'), run.summary())
        self.assertEqual(self.rule_ids(alerts), ['dns_mining_pool_lookup'],
                         json.dumps(alerts)[:3000])
        fields = alerts[0]['output_fields']
        self.assertEqual(fields['dns.question.name'], 'xmr.pool.minergate.com')
        self.assertEqual(fields['network.destination.port'], 53)

    def test_txt_query_from_shell(self):
        """bash sends a TXT query itself through /dev/udp (connect +
        write): a shell has no business asking for TXT records."""
        script = os.path.join(self.subdir('txt'), 'txt.sh')
        query = dns_query(0x4242, 'cmd.example.test', 16)
        with open(script, 'w') as f:
            f.write('exec 3<>/dev/udp/127.0.0.1/53\nprintf \'%s\' >&3\nexec 3>&-\n'
                    % printf_escape(query))
        run, alerts = self.run_ns(['bash', script])
        self.assertEqual(run.returncode, 0, run.summary())
        ev = run.one(ev='dns')
        self.assertEqual((ev['syscall'], ev['name'], ev['type'], ev['id'], ev['protocol']),
                         ('write', 'cmd.example.test', 16, 0x4242, 'udp'), ev)
        self.assertEqual(self.rule_ids(alerts), ['dns_txt_query_unusual_process'],
                         json.dumps(alerts)[:3000])

    def test_long_encoded_label(self):
        """A 52-byte base32 label, as DNS tunnels and exfiltration write
        data into names."""
        label = 'mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpjqwey3emfrg'
        name = label + '.t.example.test'
        code = "import socket; socket.getaddrinfo(%r, 80, socket.AF_INET)" % name
        run, alerts = self.run_ns(self.py(code))
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertTrue(run.find(ev='dns', name=name), run.describe(run.find(ev='dns')))
        self.assertEqual(self.rule_ids(alerts), ['dns_long_or_random_name'],
                         json.dumps(alerts)[:3000])
        self.assertEqual(alerts[0]['output_fields']['dns.question.name.longest_label'], 52)

    # ---- benign ----

    def test_benign_names(self):
        """Ordinary names through glibc, Go and dig: dns events, no alert
        at all (the measure of the tunnelling rule's false positives)."""
        names = ' '.join(BENIGN_NAMES)
        py = self.py("import socket, sys\nfor n in sys.argv[1:]: socket.getaddrinfo(n, 443)")
        run, alerts = self.run_ns(['sh', '-c', '"$0" "$1" %s; "$2" %s; dig @127.0.0.1 +short '
                                   '+tries=1 TXT _acme-challenge.www.example.test'
                                   % (names, names)] + py + [self.goprog])
        self.assertEqual(run.returncode, 0, run.summary())
        asked = {e['name'] for e in run.find(ev='dns')}
        self.assertEqual(asked, set(BENIGN_NAMES), run.summary())
        self.assertEqual(alerts, [], json.dumps(alerts)[:3000])

    # ---- cost ----

    def test_server_sends_do_not_stop(self):
        """2,000 sends of 1,000 bytes to a destination, 2,000 small sends on
        a connected socket (not to a DNS port) and 2,000 writes: no stop
        more than the same program making none of them."""
        code = r'''
import socket, sys
n = int(sys.argv[1])
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 0))
dest = rx.getsockname()
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
cx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
cx.connect(dest)
for i in range(n):
    tx.sendto(b"x" * 1000, dest)
    cx.send(b"y" * 100)
import os
for i in range(n):
    os.write(cx.fileno(), b"w" * 100)
'''
        stops = {}
        for n in (0, 2000):
            run, alerts = self.run_ns(self.py(code, str(n)))
            self.assertEqual(run.returncode, 0, run.summary())
            stats = [r for r in run.records if r.get('type') == 'stats']
            self.assertTrue(stats, run.summary())
            c = stats[-1]['counters']
            stops[n] = c['seccomp_stops'] + c['syscall_stops']
            self.assertEqual(c['dns_queries'], 0, c)
            self.assertEqual(run.find(ev='dns'), [])
        self.assertLess(stops[2000] - stops[0], 50, stops)


if __name__ == '__main__':
    harness.main()
