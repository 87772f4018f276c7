# SPDX-License-Identifier: Apache-2.0
"""The syscall catalog: tests/helpers/syscalls makes every monitored call
once succeeding and once failing and prints what the tracer should report;
every one of those lines must come out of the probe as an event of the same
process with the same keys.

SENTRACE_CATALOG names the helper: "syscalls" (native, the default) or
"syscalls32" (the 32-bit copy: every event must then carry compat: true).
"""

import collections
import os
import re
import sys

import harness

CATALOG = os.environ.get('SENTRACE_CATALOG', 'syscalls')
COMPAT = CATALOG.endswith('32')

O_LARGEFILE = 0o100000

# The 32-bit ABI has 16-bit legacy calls; the helper uses their 32-bit ids
# variants, which the tracer may report by the kernel's name.
ID32 = {'setuid32', 'setgid32', 'setreuid32', 'setregid32', 'setresuid32',
        'setresgid32', 'setfsuid32', 'setfsgid32', 'chown32', 'lchown32',
        'fchown32'}


def norm_syscall(name):
    if name in ID32:
        return name[:-2]
    if isinstance(name, str) and name.endswith('_time64'):
        return name[:-len('_time64')]
    return name


def expected_keys(gt):
    return {k: v for k, v in gt.items()
            if not k.startswith('_') and k not in ('pid', 'syscall', 'compat')}


def compare(gt, ev):
    """The differences between a ground-truth line and an event, as a list
    of strings (empty: they match)."""
    diffs = []
    if ev.get('pid') != gt['pid']:
        diffs.append('pid %r != %r' % (ev.get('pid'), gt['pid']))
    if norm_syscall(ev.get('syscall')) != norm_syscall(gt['syscall']):
        diffs.append('syscall %r != %r' % (ev.get('syscall'), gt['syscall']))
    if bool(ev.get('compat', False)) != bool(gt.get('compat', False)):
        diffs.append('compat %r != %r' % (ev.get('compat'), gt.get('compat', False)))
    for key, want in expected_keys(gt).items():
        if key not in ev:
            diffs.append('%s missing (want %r)' % (key, want))
            continue
        got = ev[key]
        if key == 'file':
            got, want = os.path.realpath(got), os.path.realpath(want)
        elif key == 'flags' and gt['syscall'] == 'creat' and isinstance(got, int):
            # The kernel adds O_LARGEFILE to creat's implied flags.
            got &= ~O_LARGEFILE
        if got != want:
            diffs.append('%s %r != %r' % (key, got, want))
    ret = gt.get('ret', 0)  # dns events have none
    if ret < 0 and ev.get('ret') == ret:
        name = ev.get('error')
        if harness.errno_value(name or '') != -ret:
            diffs.append('error %r does not name errno %d' % (name, -ret))
    return diffs


def match_catalog(test, run, truth):
    """Asserts that every ground-truth line has its own event; returns the
    list of problems so that one failure shows all of them."""
    by_key = collections.defaultdict(list)
    for ev in run.events:
        by_key[(ev.get('pid'), ev.get('ev'))].append(ev)
    used = set()
    problems = []
    for gt in truth:
        candidates = [e for e in by_key[(gt['pid'], gt['ev'])] if id(e) not in used]
        best = None
        for ev in candidates:
            diffs = compare(gt, ev)
            if not diffs:
                used.add(id(ev))
                best = None
                break
            if norm_syscall(ev.get('syscall')) == norm_syscall(gt['syscall']) and (
                    best is None or len(diffs) < len(best[1])):
                best = (ev, diffs)
        else:
            if best:
                problems.append('%s\n      closest event: %s\n      differs: %s'
                                % (harness.json.dumps(gt), harness.json.dumps(
                                    harness.strip(best[0]), sort_keys=True),
                                   '; '.join(best[1])))
            else:
                problems.append('%s\n      no %s event of pid %d from %s'
                                % (harness.json.dumps(gt), gt['ev'], gt['pid'],
                                   gt['syscall']))
    return problems


def shape(ev, scratch):
    """What should not depend on seccomp filtering or on the run: the kind
    of event, the call, its outcome and its paths (scratch dir replaced)."""
    def clean(v):
        if not isinstance(v, str):
            return None
        v = v.replace(scratch, '<S>')
        # Abstract socket names carry the helper's pid.
        return re.sub(r'[0-9]+', 'N', v) if v.startswith('@') else v
    return (ev.get('ev'), norm_syscall(ev.get('syscall')), ev.get('error'),
            clean(ev.get('path')), clean(ev.get('dest')), clean(ev.get('file')),
            clean(ev.get('target')), ev.get('name'), ev.get('family'))


class CatalogTest(harness.TracedTestCase):

    def run_catalog(self, tracer_args=()):
        prog = harness.helper(CATALOG)
        if prog is None:
            self.fail('helper %s was not built' % CATALOG)
        scratch = os.path.realpath(self.subdir('scratch%d' % len(self.probes)))
        run = self.trace([prog, scratch], tracer_args)
        self.assertEqual(run.returncode, 0, 'helper failed' + run.summary())
        truth = run.stdout_json()
        self.assertGreater(len(truth), 100, 'the helper printed too little' + run.summary())
        return run, truth, scratch

    def check_catalog(self, tracer_args=()):
        run, truth, scratch = self.run_catalog(tracer_args)
        problems = match_catalog(self, run, truth)
        if problems:
            self.fail('%d of %d calls not reported as expected (%s):\n  %s%s'
                      % (len(problems), len(truth), ' '.join(tracer_args) or 'seccomp',
                         '\n  '.join(problems), run.summary()))
        if COMPAT:
            pids = {gt['pid'] for gt in truth
                    if not (gt['ev'] == 'exec' and gt['ret'] == 0)}
            native = [e for e in run.events if e.get('pid') in pids
                      and e.get('ev') not in ('fork', 'exit') and not e.get('compat')
                      and not (e.get('ev') == 'exec' and e.get('ret') == 0)]
            self.assertEqual(native, [], 'events of the 32-bit helper without compat')
        return run, scratch

    def test_catalog(self):
        self.check_catalog()

    def test_disable_seccomp_same_events(self):
        filtered, s1 = self.check_catalog()
        unfiltered, s2 = self.check_catalog(['--disable-seccomp'])
        a = collections.Counter(shape(e, s1) for e in filtered.events
                                if e.get('ev') not in ('fork', 'exit'))
        b = collections.Counter(shape(e, s2) for e in unfiltered.events
                                if e.get('ev') not in ('fork', 'exit'))
        only_a = sorted((a - b).elements(), key=repr)
        only_b = sorted((b - a).elements(), key=repr)
        self.assertEqual((only_a, only_b), ([], []),
                         'events only with seccomp (left) / only without (right)')


if __name__ == '__main__':
    harness.main()
