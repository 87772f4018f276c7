# SPDX-License-Identifier: Apache-2.0
"""Ordinary workloads under the tracer with the default policy raise no
alert at all: a C program compiled with gcc and run, git init/add/commit,
tar create/extract, sed -i, dpkg -l and apt-cache policy; a PostgreSQL
server (wrapped by sentrace) under pgbench, a Redis server (wrapped by
sentrace) under redis-benchmark. The servers' tests skip, saying so, when
PostgreSQL or Redis is not installed.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import scenlib


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(0.1)


def postgres_bindir():
    dirs = sorted(glob.glob('/usr/lib/postgresql/*/bin'),
                  key=lambda d: [int(x) if x.isdigit() else x
                                 for x in d.split('/')[-2].split('.')])
    for d in reversed(dirs):
        if all(os.access(os.path.join(d, p), os.X_OK) for p in ('initdb', 'postgres', 'pg_ctl')):
            return d
    pg = shutil.which('postgres')
    return os.path.dirname(pg) if pg and shutil.which('initdb') else None


class BenignTest(unittest.TestCase):

    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='sentrace-benign-')
        os.chmod(self.tmp, 0o755)

    def tearDown(self):
        if os.environ.get('SENTRACE_SCN_KEEP') == '1':
            print('kept ' + self.tmp, file=sys.stderr)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assertNoAlerts(self, run, what):
        self.assertEqual(run.alerts, [], '%s raised alerts:%s%s'
                         % (what, run.describe(), run.summary()))

    def test_developer_tools(self):
        """gcc, git, tar, sed -i, dpkg -l, apt-cache policy."""
        work = os.path.join(self.tmp, 'work')
        os.makedirs(work)
        with open(os.path.join(work, 'hello.c'), 'w') as f:
            f.write('#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n')
        steps = [
            'gcc -O2 -Wall -o hello hello.c && ./hello',
            'git init -q repo && cd repo && git config user.email t@example.invalid && '
            'git config user.name test && echo one > file && git add file && '
            'git commit -q -m first && echo two >> file && git commit -q -am second && '
            'git log --oneline >/dev/null && cd ..',
            'tar czf repo.tgz repo hello.c && mkdir extracted && tar xzf repo.tgz -C extracted',
            'sed -i s/one/uno/ extracted/repo/file && grep -q uno extracted/repo/file',
        ]
        if shutil.which('dpkg'):
            steps.append('dpkg -l >/dev/null')
        if shutil.which('apt-cache'):
            steps.append('apt-cache policy >/dev/null')
        script = os.path.join(self.tmp, 'dev.sh')
        with open(script, 'w') as f:
            f.write('set -e\n' + '\n'.join(steps) + '\necho all-done\n')
        env = dict(os.environ, HOME=work, GIT_CONFIG_NOSYSTEM='1', PAGER='cat')
        run = scenlib.trace(['/bin/sh', script], os.path.join(self.tmp, 'run-dev'),
                            [scenlib.POLICY], env=env, cwd=work)
        self.assertEqual(run.returncode, 0, run.summary())
        self.assertIn('hello', run.stdout)
        self.assertIn('all-done', run.stdout)
        self.assertNoAlerts(run, 'gcc/git/tar/sed/dpkg/apt-cache')

    def test_postgres_pgbench(self):
        bindir = postgres_bindir()
        pgbench = shutil.which('pgbench') or (bindir and os.path.join(bindir, 'pgbench'))
        if not bindir or not pgbench or not os.access(pgbench, os.X_OK):
            self.fail('PostgreSQL (initdb, postgres, pg_ctl, pgbench) is not installed: tools/setup installs it')
        try:
            pw = pwd.getpwnam('postgres')
        except KeyError:
            self.fail('no postgres user: the postgresql package creates it')
        data = os.path.join(self.tmp, 'pgdata')
        sockdir = os.path.join(self.tmp, 'pgsock')
        for d in (data, sockdir):
            os.makedirs(d)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        as_pg = ['setpriv', '--reuid=%d' % pw.pw_uid, '--regid=%d' % pw.pw_gid, '--init-groups']
        port = free_port()
        out = subprocess.run(as_pg + [os.path.join(bindir, 'initdb'), '-D', data, '-A', 'trust',
                                      '-U', 'postgres', '--no-sync'],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             cwd=self.tmp)
        self.assertEqual(out.returncode, 0, out.stdout)
        server = scenlib.start(
            as_pg + [os.path.join(bindir, 'postgres'), '-D', data, '-k', sockdir,
                     '-c', 'listen_addresses=127.0.0.1', '-p', str(port),
                     '-c', 'fsync=off', '-c', 'logging_collector=off'],
            os.path.join(self.tmp, 'run-postgres'), [scenlib.POLICY], cwd=self.tmp)
        stopped = False
        try:
            def ready():
                if not server.running():
                    raise AssertionError('postgres exited early')
                return subprocess.run([shutil.which('pg_isready') or os.path.join(bindir, 'pg_isready'),
                                       '-h', '127.0.0.1', '-p', str(port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                                      ).returncode == 0
            wait_until(ready, 60, 'postgres to accept connections')
            bench = [pgbench, '-h', '127.0.0.1', '-p', str(port), '-U', 'postgres']
            for args in (['-i', '-s', '1', '-q', 'postgres'],
                         ['-c', '4', '-j', '2', '-T', '5', 'postgres']):
                out = subprocess.run(bench + args, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, timeout=120)
                self.assertEqual(out.returncode, 0, out.stdout[-3000:])
            self.assertIn('tps', out.stdout)
            subprocess.run(as_pg + [os.path.join(bindir, 'pg_ctl'), 'stop', '-D', data, '-m', 'fast',
                                    '-w'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=60, cwd=self.tmp)
            run = server.finish()
            stopped = True
        finally:
            if not stopped:
                subprocess.run(as_pg + [os.path.join(bindir, 'pg_ctl'), 'stop', '-D', data,
                                        '-m', 'immediate'], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=self.tmp)
                try:
                    server.finish()
                except AssertionError:
                    pass
        self.assertNoAlerts(run, 'postgres under pgbench')

    def test_redis_benchmark(self):
        server_bin = shutil.which('redis-server')
        bench = shutil.which('redis-benchmark')
        cli = shutil.which('redis-cli')
        if not (server_bin and bench and cli):
            self.fail('Redis (redis-server, redis-benchmark, redis-cli) is not installed: tools/setup installs it')
        data = os.path.join(self.tmp, 'redis')
        os.makedirs(data)
        port = free_port()
        server = scenlib.start(
            [server_bin, '--port', str(port), '--bind', '127.0.0.1', '--dir', data,
             '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', ''],
            os.path.join(self.tmp, 'run-redis'), [scenlib.POLICY], cwd=data)
        stopped = False
        try:
            def ready():
                if not server.running():
                    raise AssertionError('redis-server exited early')
                return subprocess.run([cli, '-p', str(port), 'ping'], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True).stdout.strip() == 'PONG'
            wait_until(ready, 30, 'redis to answer PING')
            out = subprocess.run([bench, '-p', str(port), '-q', '-n', '20000', '-c', '10',
                                  '-t', 'set,get,incr,lpush,lpop'],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 timeout=120)
            self.assertEqual(out.returncode, 0, out.stdout[-3000:])
            subprocess.run([cli, '-p', str(port), 'shutdown', 'nosave'], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
            run = server.finish()
            stopped = True
        finally:
            if not stopped:
                harness_kill(server)
        self.assertNoAlerts(run, 'redis-server under redis-benchmark')


def harness_kill(server):
    scenlib.harness.kill_group(server.proc)
    try:
        server.finish()
    except AssertionError:
        pass


if __name__ == '__main__':
    scenlib.check_programs()
    unittest.main(verbosity=2)
