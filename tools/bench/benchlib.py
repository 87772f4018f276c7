# SPDX-License-Identifier: Apache-2.0
"""Process bookkeeping for tools/bench: CPU time of process trees, started
processes and their clean-up, probes, readiness polling."""

import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

HZ = os.sysconf('SC_CLK_TCK')


def log(msg):
    print('bench: ' + msg, file=sys.stderr, flush=True)


def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (field 3 is [0])."""
    with open('/proc/%d/stat' % pid) as f:
        return f.read().rsplit(')', 1)[1].split()


def all_ppids():
    """{pid: ppid} of every process."""
    out = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                out[int(d)] = int(stat_fields(int(d))[1])
            except (OSError, IndexError, ValueError):
                pass
    return out


def tree(roots):
    """The pids of roots and all their descendants."""
    pp = all_ppids()
    kids = {}
    for p, q in pp.items():
        kids.setdefault(q, []).append(p)
    seen, todo = set(), [r for r in roots if r in pp]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo += kids.get(p, [])
    return seen


def tree_cpu(roots):
    """CPU seconds (user + system) of roots and their descendants: for each
    live process its own time plus that of its children it has reaped, so
    processes that came and went (forked backends) are counted once, by
    the parent that waited for them."""
    total = 0
    for p in tree(roots):
        try:
            f = stat_fields(p)
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        except (OSError, IndexError, ValueError):
            pass
    return total / HZ


def status_kb(pid, key):
    """A 'kB' line of /proc/PID/status (VmHWM, VmRSS), in KiB."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return None


def tracer_pids(pid):
    """TracerPid of every thread of pid."""
    out = []
    try:
        for t in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/status' % (pid, t)) as f:
                for line in f:
                    if line.startswith('TracerPid:'):
                        out.append(int(line.split()[1]))
    except OSError:
        pass
    return out


def free_port():
    """A free port below the ephemeral range: servers are restarted on the
    same port many times, and a port the kernel can hand out to a client
    connection (or to a probe listening on port 0) could be taken by then."""
    try:
        low = int(open('/proc/sys/net/ipv4/ip_local_port_range').read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(200):
        port = rng.randrange(10000, max(low, 10001))
        s = socket.socket()
        try:
            s.bind(('127.0.0.1', port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, what, interval=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    raise TimeoutError('timed out after %.0fs waiting for %s' % (timeout, what))


class Procs:
    """Every process the harness starts, so that all are ended on exit
    (each by its own pid; never by name)."""

    def __init__(self):
        self.live = []
        self.tmp = tempfile.mkdtemp(prefix='sentrace-bench-')
        os.chmod(self.tmp, 0o755)

    def start(self, argv, **kw):
        kw.setdefault('stdin', subprocess.DEVNULL)
        p = subprocess.Popen(argv, **kw)
        self.live.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=20):
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                log('pid %d did not stop after %s: killing it' % (p.pid, sig))
                p.kill()
                p.wait(10)
        if p in self.live:
            self.live.remove(p)
        return p.returncode

    def cleanup(self):
        for p in list(self.live):
            self.stop(p, timeout=5)
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)


class Probe:
    """A sentrace-probe on a free loopback port. extra: more flags."""

    def __init__(self, procs, exe, name, extra=(), env=None, stdout=None):
        self.log_path = os.path.join(procs.tmp, name + '.log')
        self.alerts = os.path.join(procs.tmp, name + '.alerts')
        self.procs = procs
        argv = [exe, 'run', '--listen', '127.0.0.1:0', '--verbose']
        if not any(str(x).startswith('--alerts') for x in extra):
            argv += ['--alerts', self.alerts]
        argv += list(extra)
        e = dict(os.environ)
        e.update(env or {})
        self.logf = open(self.log_path, 'w')
        self.p = procs.start(argv, stdout=stdout or subprocess.DEVNULL,
                             stderr=self.logf, env=e)
        self.pid = self.p.pid
        self.addr = None

        def listening():
            if self.p.poll() is not None:
                raise RuntimeError('probe exited: ' + open(self.log_path).read())
            m = re.search(r'listening on (127\.0\.0\.1:\d+)', open(self.log_path).read())
            if m:
                self.addr = m.group(1)
            return self.addr
        wait_for(listening, 20, 'the probe to listen')
        log_text = open(self.log_path).read()
        m = re.search(r'(\d+) rules? loaded', log_text)
        self.rules = int(m.group(1)) if m else 0
        if '--no-policy' not in extra and not self.rules:
            self.stop()
            raise RuntimeError('the probe loaded no rule: ' + log_text[-500:])

    def stop(self):
        self.procs.stop(self.p, signal.SIGTERM)
        self.logf.close()

    def alert_count(self):
        try:
            with open(self.alerts) as f:
                return sum(1 for _ in f)
        except OSError:
            return 0


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def percentile(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))
    return xs[k]
