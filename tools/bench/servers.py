# SPDX-License-Identifier: Apache-2.0
"""The servers under test: PostgreSQL 15 with pgbench, redis-server with
redis-benchmark. Each runs on loopback from a directory under the harness's
temporary directory, which is removed at the end.

A server gives the variants its command line (server_argv), the user to run
it as (run_as: (name, uid, gid) or None), how to tell it is ready, its main
pid once running, and how to stop it; and it lists its workloads: a name,
the client command, the number of transactions it runs, and a parser for
the client's throughput figure."""

import glob
import os
import pwd
import re
import shutil
import signal
import subprocess

from benchlib import free_port, log, wait_for


class Workload:
    def __init__(self, name, argv, count, parse, unit):
        self.name, self.argv, self.count, self.parse, self.unit = name, argv, count, parse, unit


def _pg_bindir():
    for d in sorted(glob.glob('/usr/lib/postgresql/*/bin'), reverse=True):
        if os.path.exists(os.path.join(d, 'postgres')):
            return d
    exe = shutil.which('pg_config')
    if exe:
        return subprocess.run([exe, '--bindir'], capture_output=True, text=True).stdout.strip()
    return None


class Postgres:
    name = 'pg'

    @staticmethod
    def available():
        return _pg_bindir() is not None

    def __init__(self, procs, scale, counts):
        self.procs = procs
        self.bindir = _pg_bindir()
        self.scale = scale
        self.counts = counts  # {'tpcb': per-client txns, 'select': …, 'connect': …}
        self.dir = os.path.join(procs.tmp, 'pg')
        self.data = os.path.join(self.dir, 'data')
        self.port = free_port()
        self.run_as = None
        if os.getuid() == 0:
            pw = pwd.getpwnam('postgres') if _has_user('postgres') else pwd.getpwnam('nobody')
            self.run_as = (pw.pw_name, pw.pw_uid, pw.pw_gid)
        os.makedirs(self.dir)
        if self.run_as:
            os.chown(self.dir, self.run_as[1], self.run_as[2])

    def bin(self, name):
        return os.path.join(self.bindir, name)

    def as_user(self, argv):
        if not self.run_as:
            return argv
        return ['setpriv', '--reuid', str(self.run_as[1]), '--regid', str(self.run_as[2]),
                '--clear-groups', '--'] + argv

    def setup(self):
        r = subprocess.run(self.as_user([self.bin('initdb'), '-D', self.data, '-U', 'bench',
                                         '--auth=trust', '-E', 'UTF8', '--no-sync']),
                           capture_output=True, text=True, timeout=120)
        if r.returncode:
            raise RuntimeError('initdb failed: ' + r.stderr)
        p = self.procs.start(self.as_user(self.server_argv()), stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.dir, 'setup.log'), 'w'))
        try:
            self.wait_ready(p)
            log('pgbench -i -s %d' % self.scale)
            r = subprocess.run(self.client('pgbench') + ['-i', '-q', '-s', str(self.scale), 'postgres'],
                               capture_output=True, text=True, timeout=600)
            if r.returncode:
                raise RuntimeError('pgbench -i failed: ' + r.stderr)
            subprocess.run(self.client('psql') + ['-c', 'CHECKPOINT', 'postgres'],
                           capture_output=True, timeout=120)
        finally:
            self.stop(p)

    def server_argv(self):
        return [self.bin('postgres'), '-D', self.data,
                '-c', 'listen_addresses=127.0.0.1', '-c', 'port=%d' % self.port,
                '-c', 'unix_socket_directories=' + self.dir,
                '-c', 'synchronous_commit=off', '-c', 'max_connections=50',
                '-c', 'logging_collector=off']

    def client(self, prog):
        """The client's command line; the database name goes last."""
        return [self.bin(prog), '-h', '127.0.0.1', '-p', str(self.port), '-U', 'bench']

    def wait_ready(self, p, timeout=60):
        def ready():
            if p.poll() is not None:
                raise RuntimeError('postgres exited with %s' % p.returncode)
            return subprocess.run([self.bin('pg_isready'), '-q', '-h', '127.0.0.1',
                                   '-p', str(self.port), '-U', 'bench',
                                   '-d', 'postgres']).returncode == 0
        wait_for(ready, timeout, 'postgres to accept connections', 0.1)

    def main_pid(self):
        with open(os.path.join(self.data, 'postmaster.pid')) as f:
            return int(f.readline())

    def stop(self, p):
        """Fast shutdown through the postmaster, then waits for p (the
        postmaster or the tracer wrapping it)."""
        try:
            os.kill(self.main_pid(), signal.SIGINT)
        except (OSError, ValueError):
            pass
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            log('postgres did not stop in 60s')
        self.procs.stop(p)

    def workloads(self):
        pg = self.client('pgbench') + ['-n', '-c', '8', '-j', '2']
        c = self.counts
        return [
            Workload('pgbench-tpcb', pg + ['-t', str(c['tpcb']), 'postgres'], 8 * c['tpcb'], _pgbench_tps, 'tps'),
            Workload('pgbench-select', pg + ['-S', '-t', str(c['select']), 'postgres'], 8 * c['select'],
                     _pgbench_tps, 'tps'),
            Workload('pgbench-connect', pg + ['-C', '-t', str(c['connect']), 'postgres'], 8 * c['connect'],
                     _pgbench_tps, 'tps'),
        ]


def _has_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _pgbench_tps(out):
    m = re.search(r'^tps = ([0-9.]+)', out, re.M)
    if not m:
        return None
    done = re.search(r'number of transactions actually processed: (\d+)/(\d+)', out)
    if done and done.group(1) != done.group(2):
        return None
    return float(m.group(1))


class Redis:
    name = 'redis'

    @staticmethod
    def available():
        return shutil.which('redis-server') and shutil.which('redis-benchmark')

    def __init__(self, procs, counts):
        self.procs = procs
        self.counts = counts  # {'p1': requests, 'p16': requests}
        self.dir = os.path.join(procs.tmp, 'redis')
        os.makedirs(self.dir)
        self.port = free_port()
        self.run_as = None

    def setup(self):
        pass

    def as_user(self, argv):
        return argv

    def server_argv(self):
        return [shutil.which('redis-server'), '--port', str(self.port), '--bind', '127.0.0.1',
                '--save', '', '--appendonly', 'no', '--dir', self.dir,
                '--protected-mode', 'no', '--daemonize', 'no', '--loglevel', 'warning']

    def cli(self, *args):
        return subprocess.run([shutil.which('redis-cli'), '-h', '127.0.0.1', '-p', str(self.port)]
                              + list(args), capture_output=True, text=True, timeout=10).stdout

    def wait_ready(self, p, timeout=30):
        def ready():
            if p.poll() is not None:
                raise RuntimeError('redis-server exited with %s' % p.returncode)
            return self.cli('ping').strip() == 'PONG'
        wait_for(ready, timeout, 'redis to answer PING', 0.05)

    def main_pid(self):
        m = re.search(r'^process_id:(\d+)', self.cli('info', 'server'), re.M)
        return int(m.group(1))

    def stop(self, p):
        try:
            os.kill(self.main_pid(), signal.SIGTERM)
        except (OSError, AttributeError, subprocess.TimeoutExpired):
            pass
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            log('redis did not stop in 30s')
        self.procs.stop(p)

    def workloads(self):
        rb = [shutil.which('redis-benchmark'), '-h', '127.0.0.1', '-p', str(self.port),
              '-c', '50', '-r', '100000', '-q', '--csv']
        out = []
        for pipe, n in (('1', self.counts['p1']), ('16', self.counts['p16'])):
            for t in ('set', 'get'):
                out.append(Workload('redis-%s-P%s' % (t, pipe),
                                    rb + ['-t', t, '-n', str(n), '-P', pipe], n, _redis_rps, 'req/s'))
        return out


def _redis_rps(out):
    for line in out.splitlines():
        cells = [c.strip('"') for c in line.split(',')]
        if len(cells) >= 2 and cells[0] in ('SET', 'GET'):
            try:
                return float(cells[1])
            except ValueError:
                return None
    return None
