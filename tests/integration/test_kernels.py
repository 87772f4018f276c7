# SPDX-License-Identifier: Apache-2.0
"""What the kernel says, not what a tracee's seccomp filter says, and the
paths of older kernels forced on this one.

A tracee's own filter that returns SECCOMP_RET_TRACE wins with its data
(the kernel keeps the newest filter's): the call must still be reported
by its number, and the mismatch as a seccomp_mismatch event that the
default policy flags. An `int $0x80` from 64-bit code is decoded with the
i386 registers, with PTRACE_GET_SYSCALL_INFO and without it (the register
path of kernels before 5.3, forced with SENTRACE_NO_SYSCALL_INFO=1).
"""

import contextlib
import json
import os
import re
import subprocess

import harness

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
TAG, COMPAT = 0x5e00, 0x0100


def catalog_ids():
    """Catalog id of every call: its index in sc_table (src/tracer/syscalls.c)."""
    with open(os.path.join(SOURCE, 'src', 'tracer', 'syscalls.c')) as f:
        text = f.read()
    body = text[text.index('const struct sc_desc sc_table[] = {'):]
    body = body[:body.index('\n};')]
    names = re.findall(r'^\s*(?:SC\(|\{ )"(\w+)"', body, re.M)
    return {name: i for i, name in enumerate(names)}


@contextlib.contextmanager
def register_path(on):
    """The tracer reads registers instead of PTRACE_GET_SYSCALL_INFO."""
    old = os.environ.get('SENTRACE_NO_SYSCALL_INFO')
    if on:
        os.environ['SENTRACE_NO_SYSCALL_INFO'] = '1'
    else:
        os.environ.pop('SENTRACE_NO_SYSCALL_INFO', None)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop('SENTRACE_NO_SYSCALL_INFO', None)
        else:
            os.environ['SENTRACE_NO_SYSCALL_INFO'] = old


PATHS = (('syscall-info', False), ('registers', True))


class KernelsTest(harness.TracedTestCase):

    prefix = ()

    def tracer_argv(self, cmd, tracer_args=(), probe_addr=None):
        return list(self.prefix) + super().tracer_argv(cmd, tracer_args, probe_addr)

    def alerts(self, run, rule):
        """The alerts of RULE, from the probe's standard output."""
        found = []
        for line in run.probe.log_text().splitlines():
            if line.startswith('{') and '"alert"' in line:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get('type') == 'alert' and rec.get('rule') == rule:
                    found.append(rec)
        return found

    def test_foreign_trace_data_cannot_hide_open(self):
        ids = catalog_ids()
        prog = harness.helper('tracedata')
        cases = (('prctl', TAG | ids['prctl']), ('execve', TAG | ids['execve']),
                 ('', 7))
        for path_name, regs in PATHS:
            for claimed, data in cases:
                with self.subTest(path=path_name, data=hex(data)), register_path(regs):
                    run = self.trace([prog, hex(data), 'openat', '/etc/shadow'])
                    self.assertEqual(run.returncode, 0, run.summary())
                    self.assertGreaterEqual(run.stdout_json()[0]['ret'], 0, run.stdout)
                    op = self.assertEvent(run, ev='open', path='/etc/shadow',
                                          syscall='openat')[0]
                    self.assertGreaterEqual(op['ret'], 0, op)
                    self.assertTrue(self.alerts(run, 'shadow_file_opened'),
                                    'no shadow alert' + run.summary())
                    mm = run.one(ev='seccomp_mismatch')
                    self.assertEqual(mm['syscall'], 'openat', mm)
                    self.assertEqual(mm['data'], data, mm)
                    self.assertEqual(mm['claimed'], claimed, mm)
                    self.assertTrue(self.alerts(run, 'seccomp_trace_data_forged'),
                                    'no mismatch alert' + run.summary())
                    # Nothing forged: the one exec is the helper's own.
                    self.assertEqual(len(run.find(ev='exec')), 1,
                                     run.describe(run.find(ev='exec')))
                    stats = run.records_of('stats')
                    self.assertTrue(stats, 'no STATS' + run.summary())
                    self.assertEqual(stats[-1]['counters']['seccomp_data_mismatch'], 1,
                                     stats[-1])

    def test_foreign_trace_data_without_our_filter(self):
        # --disable-seccomp: every call is decoded at its entry stop; the
        # seccomp stop of the tracee's own filter is passed over.
        ids = catalog_ids()
        for path_name, regs in PATHS:
            with self.subTest(path=path_name), register_path(regs):
                run = self.trace([harness.helper('tracedata'), hex(TAG | ids['prctl']),
                                  'openat', '/etc/shadow'],
                                 tracer_args=['--disable-seccomp'])
                self.assertEqual(run.returncode, 0, run.summary())
                self.assertGreaterEqual(run.stdout_json()[0]['ret'], 0, run.stdout)
                op = self.assertEvent(run, ev='open', path='/etc/shadow')[0]
                self.assertGreaterEqual(op['ret'], 0, op)
                self.assertEqual(run.find(ev='seccomp_mismatch'), [])

    def test_foreign_trace_data_cannot_forge_exec(self):
        ids = catalog_ids()
        prog = harness.helper('tracedata')
        data = TAG | ids['execve']
        for path_name, regs in PATHS:
            with self.subTest(path=path_name), register_path(regs):
                run = self.trace([prog, hex(data), 'getpid'])
                self.assertEqual(run.returncode, 0, run.summary())
                execs = run.find(ev='exec')
                self.assertEqual(len(execs), 1, 'a forged exec' + run.describe(execs))
                self.assertEqual(os.path.basename(execs[0]['file']), 'tracedata')
                mm = run.one(ev='seccomp_mismatch')
                self.assertEqual(mm['claimed'], 'execve', mm)
                if regs:
                    # 64-bit registers cannot tell getpid (39) from an
                    # int 0x80 mkdir (i386 39): decoded as the monitored
                    # one, rather than risk hiding it.
                    self.assertEqual((mm.get('syscall'), mm.get('compat')),
                                     ('mkdir', True), mm)
                else:
                    self.assertNotIn('syscall', mm)  # getpid: not in the catalog
                    self.assertFalse(mm.get('compat', False), mm)

    def test_int80_from_64bit_code(self):
        prog = harness.helper('int80')
        target = os.path.join(self.tmp, 'int80-target')
        decoy = os.path.join(self.tmp, 'int80-decoy')
        for p in (target, decoy):
            with open(p, 'w') as f:
                f.write('x')
        for path_name, regs in PATHS:
            with self.subTest(path=path_name), register_path(regs):
                run = self.trace([prog, target, decoy])
                self.assertEqual(run.returncode, 0, run.summary())
                self.assertGreaterEqual(run.stdout_json()[0]['ret'], 0, run.stdout)
                opens = [e for e in run.find(ev='open')
                         if e.get('path') in (target, decoy)]
                self.assertEqual(len(opens), 1, run.describe(opens))
                op = opens[0]
                self.assertEqual(op['path'], target, op)
                self.assertIs(op.get('compat'), True, op)
                self.assertEqual(op['syscall'], 'open', op)
                self.assertGreaterEqual(op['ret'], 0, op)
                self.assertEqual(run.find(ev='seccomp_mismatch'), [])

    def test_seccomp_order_probe(self):
        # On the register path the order is probed at the first seccomp
        # stop; this kernel (4.8+) stops for seccomp after the entry stop.
        # With PTRACE_GET_SYSCALL_INFO nothing is probed: the kernel's op
        # decides.
        target = os.path.join(self.tmp, 'order-target')
        with open(target, 'w') as f:
            f.write('x')
        for path_name, regs in PATHS:
            with self.subTest(path=path_name), register_path(regs):
                run = self.trace(['/bin/cat', target], tracer_args=['--verbose'])
                self.assertEqual(run.returncode, 0, run.summary())
                probed = 'seccomp stop: after the syscall-entry stop' in run.stderr
                self.assertEqual(probed, regs, run.stderr[-2000:])
                self.assertNotIn('seccomp stop: before', run.stderr)
                op = self.assertEvent(run, ev='open', path=target)[0]
                self.assertGreaterEqual(op['ret'], 0, op)

    def test_kernel_without_seccomp_filters(self):
        # Linux 3.4 has no seccomp filters: the tracer must see that at
        # start and trace every call instead (nofilter makes the kernel
        # answer as 3.4 does, EINVAL).
        target = os.path.join(self.tmp, 'nofilter-target')
        with open(target, 'w') as f:
            f.write('x')
        self.prefix = (harness.helper('nofilter'),)
        for path_name, regs in PATHS:
            with self.subTest(path=path_name), register_path(regs):
                run = self.trace(['/bin/sh', '-c', 'cat "$0" >/dev/null', target])
                self.assertEqual(run.returncode, 0, run.summary())
                self.assertIn('no seccomp filters', run.stderr, run.summary())
                op = self.assertEvent(run, ev='open', path=target)[0]
                self.assertGreaterEqual(op['ret'], 0, op)
                self.assertEqual(len(run.find(ev='exec', ret=0)), 2,
                                 run.describe(run.find(ev='exec')))

    def test_attach_to_zombie_leader(self):
        # The leader called pthread_exit: seizing its tid fails (EPERM).
        # The live thread is seized, and its exec, which takes over the
        # leader's tid (no entry), is an exec event, not a held child.
        prog = harness.helper('zleader')
        fifo = os.path.join(self.tmp, 'zleader.fifo')
        marker = os.path.join(self.tmp, 'zleader.marker')
        os.mkfifo(fifo)
        proc = subprocess.Popen([prog, fifo, marker])
        self.addCleanup(proc.kill)

        def leader_zombie():
            with open('/proc/%d/stat' % proc.pid) as f:
                return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
        harness.wait_for(leader_zombie, what='the leader to exit')
        probe = self.start_probe()
        tracer = subprocess.Popen(
            [harness.SENTRACE, 'trace', '--probe-addr', probe.addr, '--pid',
             str(proc.pid)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        self.addCleanup(harness.kill_group, tracer)

        def traced():
            for tid in os.listdir('/proc/%d/task' % proc.pid):
                with open('/proc/%d/task/%s/status' % (proc.pid, tid)) as f:
                    for line in f:
                        if line.startswith('TracerPid:') and int(line.split()[1]) == tracer.pid:
                            return True
            if tracer.poll() is not None:
                raise AssertionError('tracer exited: %s' % tracer.stderr.read().decode())
            return False
        harness.wait_for(traced, what='the live thread to be seized')
        with open(fifo, 'w') as f:
            f.write('x')
        self.assertEqual(proc.wait(timeout=30), 42)
        self.assertTrue(os.path.exists(marker))
        out, err = tracer.communicate(timeout=30)
        probe.stop()
        run = harness.Run(tracer.args, tracer.returncode, out.decode(), err.decode(), probe)
        ex = self.assertEvent(run, ev='exec', pid=proc.pid, ret=0)[0]
        self.assertEqual(ex['argv'], ['zleader', '--child', marker], ex)
        op = self.assertEvent(run, ev='open', pid=proc.pid, path=marker)[0]
        self.assertLess(ex['_line'], op['_line'])
        self.assertEqual(run.one(ev='exit', pid=proc.pid).get('code'), 42)


if __name__ == '__main__':
    harness.main()
