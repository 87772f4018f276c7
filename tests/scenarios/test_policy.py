# SPDX-License-Identifier: Apache-2.0
"""The shipped default policy (contrib/policy): it loads without errors or
warnings, has at least 80 rules, every rule has a description, a severity
given explicitly and ATT&CK tactic and technique tags, every rule has an
end-to-end scenario or a unit case, and the unit cases match."""

import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get('SENTRACE_BUILD_DIR', os.path.join(REPO, 'build'))
POLICY = os.environ.get('SENTRACE_POLICY_DIR') or os.path.join(REPO, 'contrib', 'policy')
TOOL = os.environ.get('SENTRACE_POLICY_TOOL') or os.path.join(BUILD, 'tests/scenarios/policy-tool')
CHECK = os.environ.get('SENTRACE_RULES_CHECK') or os.path.join(BUILD, 'src/rules/sentrace-rules-check')
PROBE = os.environ.get('SENTRACE_PROBE') or os.path.join(BUILD, 'src/probe/sentrace-probe')

TACTICS = {
    'TA0001', 'TA0002', 'TA0003', 'TA0004', 'TA0005', 'TA0006', 'TA0007',
    'TA0008', 'TA0009', 'TA0010', 'TA0011', 'TA0040', 'TA0042', 'TA0043',
}


def list_rules():
    out = subprocess.run([TOOL, 'list', POLICY], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise AssertionError('policy-tool list failed:\n' + out.stderr)
    rules = []
    for line in out.stdout.splitlines():
        rid, sev, tactic, technique, types, desc = line.split('\t')
        rules.append(dict(id=rid, severity=sev, tactic=tactic, technique=technique,
                          types=types, description=desc))
    return rules


def raw_rule_entries():
    """(file, id, keys) of every rule entry in the policy files, read as
    text: the YAML of this policy is simple enough (two-space lists)."""
    entries = []
    for name in sorted(os.listdir(POLICY)):
        if not name.endswith('.policy'):
            continue
        in_rules = False
        cur = None
        with open(os.path.join(POLICY, name)) as f:
            for line in f:
                if re.match(r'^\S', line):
                    in_rules = line.startswith('rules:')
                    continue
                if not in_rules:
                    continue
                m = re.match(r'^  - id: (\S+)', line)
                if m:
                    cur = (name, m.group(1), set())
                    entries.append(cur)
                    continue
                m = re.match(r'^    (\w+):', line)
                if m and cur:
                    cur[2].add(m.group(1))
    return entries


class PolicyTest(unittest.TestCase):

    def test_check_rules(self):
        out = subprocess.run([CHECK, POLICY], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stderr, '', 'diagnostics (warnings) from check-rules')
        m = re.search(r'(\d+) rules? loaded, 0 errors, 0 warnings', out.stdout)
        self.assertTrue(m, out.stdout[-500:])
        self.assertGreaterEqual(int(m.group(1)), 80)

    def test_probe_check_rules(self):
        """The probe's own check-rules, once it has one."""
        if not os.access(PROBE, os.X_OK):
            self.skipTest('no sentrace-probe')
        helptext = subprocess.run([PROBE, '--help'], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True).stdout
        if 'check-rules' not in helptext:
            self.skipTest('sentrace-probe has no check-rules command')
        out = subprocess.run([PROBE, 'check-rules', POLICY], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_rules_have_metadata(self):
        rules = list_rules()
        self.assertGreaterEqual(len(rules), 80)
        ids = [r['id'] for r in rules]
        self.assertEqual(len(ids), len(set(ids)), 'duplicate rule ids')
        for r in rules:
            with self.subTest(rule=r['id']):
                self.assertRegex(r['id'], r'^[a-z][a-z0-9_]*$', 'ids are snake_case')
                self.assertIn(r['severity'], ('info', 'low', 'medium', 'high', 'critical'))
                self.assertIn(r['tactic'], TACTICS)
                self.assertRegex(r['technique'], r'^T\d{4}(\.\d{3})?$')
                self.assertTrue(r['description'])
                self.assertTrue(r['types'], 'the rule applies to no event type')

    def test_every_rule_states_its_severity(self):
        """The default severity (medium) is never relied upon silently."""
        entries = raw_rule_entries()
        self.assertGreaterEqual(len(entries), 80)
        for fname, rid, keys in entries:
            with self.subTest(rule=rid, file=fname):
                for key in ('description', 'expression', 'severity', 'tags'):
                    self.assertIn(key, keys)
        loaded = {r['id'] for r in list_rules()}
        self.assertEqual({rid for _, rid, _ in entries}, loaded,
                         'every rule entry loads (none disabled or broken)')

    def test_tactic_spread(self):
        per = {}
        for r in list_rules():
            per.setdefault(r['tactic'], []).append(r['id'])
        for tactic in ('TA0002', 'TA0003', 'TA0004', 'TA0005', 'TA0006', 'TA0007',
                       'TA0011', 'TA0040'):
            self.assertIn(tactic, per)
        print('rules per tactic: ' + ', '.join('%s %d' % (t, len(v))
                                              for t, v in sorted(per.items())),
              file=sys.stderr)

    def test_unit_cases(self):
        out = subprocess.run([TOOL, 'eval', os.path.join(HERE, 'unit_cases.yaml'), POLICY],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_every_rule_is_exercised(self):
        """Each rule appears in an end-to-end scenario (test_scenarios.py)
        or, for those the tests must not perform for real, a unit case."""
        sys.path.insert(0, HERE)
        import scenario_catalog
        covered = set(scenario_catalog.expected_rules())
        with open(os.path.join(HERE, 'unit_cases.yaml')) as f:
            for line in f:
                m = re.match(r'^\s+expect: \[(.*)\]', line)
                if m:
                    covered |= {x.strip() for x in m.group(1).split(',') if x.strip()}
        missing = sorted({r['id'] for r in list_rules()} - covered)
        self.assertEqual(missing, [], 'rules without a scenario or unit case')


if __name__ == '__main__':
    for prog in (TOOL, CHECK):
        if not os.access(prog, os.X_OK):
            print('missing program: ' + prog, file=sys.stderr)
            sys.exit(1)
    unittest.main(verbosity=2)
