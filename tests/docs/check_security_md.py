# SPDX-License-Identifier: Apache-2.0
"""Every guarantee in docs/security.md names a test that exists and runs.

docs/security.md states each guarantee as a table row "It can | It cannot |
Checked by". A guarantee whose test was renamed, deleted or never written
is a claim nobody checks, so this script reads every table whose last
column is "Checked by" and fails unless each row

- names at least one test file, in backticks (`tests/integration/x.py`),
  that exists and that a meson.build runs;
- names at least one test in backticks after its file
  (`tests/integration/x.py` (`test_name`: what it does)), and every test it
  names is defined in the file named before it: `def test_name(` in Python,
  START_TEST(test_name) and tcase_add_test(..., test_name) in C (a Check
  test that is not added to a case never runs). `test_name*` stands for
  every test with that prefix (at least one); `_suffix` right after
  `test_some_thing` is a sibling, `test_some_suffix`. Script-style tests
  (tests/contrib) name a `check_name` function that the script defines or
  calls from a module beside it.

Elsewhere in the document (prose such as "Checked by `tests/...`"), every
backticked `tests/...` path must exist and every backticked `test_name` must
be defined in some test file.

Usage: check_security_md.py SOURCE_ROOT [DOC]. Before the document, the
checker is run on documents with a missing file, a missing test, an
unregistered Check test and a row naming no test, and must refuse each: a
checker that stopped refusing would pass every document.
"""

import os
import re
import sys

PATH_RE = re.compile(r'^tests/[\w./-]+$')
NAME_RE = re.compile(r'^(test_\w+\*?|check_\w+|_\w+)$')
SPAN_RE = re.compile(r'`([^`]+)`')


def split_row(line):
    """The cells of a markdown table row; `\\|` is not a separator."""
    body = line.strip()
    if body.startswith('|'):
        body = body[1:]
    if body.endswith('|') and not body.endswith('\\|'):
        body = body[:-1]
    return [c.strip() for c in re.split(r'(?<!\\)\|', body)]


def is_separator(line):
    return re.match(r'^\|(\s*:?-{3,}:?\s*\|)+\s*$', line.strip()) is not None


class Tree:
    """What the source tree defines: test files, tests, meson registration."""

    def __init__(self, root):
        self.root = root
        self.cache = {}
        self.meson_text = None

    def exists(self, rel):
        return os.path.exists(os.path.join(self.root, rel.rstrip('/')))

    def registered(self, rel):
        """A file (not a directory) that some meson.build names."""
        if self.meson_text is None:
            parts = []
            for d, dirs, files in os.walk(os.path.join(self.root, 'tests')):
                if 'meson.build' in files:
                    with open(os.path.join(d, 'meson.build')) as f:
                        parts.append(f.read())
            self.meson_text = '\n'.join(parts)
        base = os.path.basename(rel.rstrip('/'))
        if os.path.isdir(os.path.join(self.root, rel)):
            return True
        return re.search(r"['/]%s'" % re.escape(base), self.meson_text) is not None

    def tests_in(self, rel):
        """The names of the tests defined (and, in C, registered) in rel."""
        if rel in self.cache:
            return self.cache[rel]
        path = os.path.join(self.root, rel)
        names = set()
        if os.path.isfile(path):
            with open(path, errors='replace') as f:
                text = f.read()
            if rel.endswith('.py'):
                names = set(re.findall(r'^\s+def (test_\w+)\(', text, re.M))
                # Script-style tests (tests/contrib): a check_* function
                # the script defines, or calls from a module beside it.
                names |= set(re.findall(r'^def (check_\w+)\(', text, re.M))
                here = os.path.dirname(path)
                for called in set(re.findall(r'\b(check_\w+)\(', text)):
                    for mod in os.listdir(here):
                        if mod.endswith('.py') and mod != os.path.basename(path):
                            with open(os.path.join(here, mod), errors='replace') as m:
                                if re.search(r'^def %s\(' % called, m.read(), re.M):
                                    names.add(called)
            elif rel.endswith('.c'):
                defined = set(re.findall(r'START_TEST\((\w+)\)', text))
                added = set(re.findall(r'tcase_add_\w*test\w*\(\s*\w+\s*,\s*(\w+)', text))
                names = defined & added
        self.cache[rel] = names
        return names

    def all_tests(self):
        out = set()
        for d, dirs, files in os.walk(os.path.join(self.root, 'tests')):
            for name in files:
                if name.endswith(('.py', '.c')):
                    rel = os.path.relpath(os.path.join(d, name), self.root)
                    out |= self.tests_in(rel)
        return out


def resolve(name, prev, defined):
    """The tests NAME stands for among DEFINED; PREV is the last full name."""
    if name.endswith('*'):
        return sorted(t for t in defined if t.startswith(name[:-1]))
    if name.startswith('_'):
        if not prev:
            return []
        return sorted(t for t in defined
                      if t.endswith(name) and prev.startswith(t[:-len(name)])
                      and len(t) > len(name) + len('test'))
    return [name] if name in defined else []


def check_cell(cell, tree, where):
    """Errors for one "Checked by" cell."""
    errors = []
    files, tests = [], 0
    current, prev = None, None
    for span in SPAN_RE.findall(cell):
        span = span.strip()
        if PATH_RE.match(span):
            files.append(span)
            if not tree.exists(span):
                errors.append('%s: %s does not exist' % (where, span))
                current = None
            elif not tree.registered(span):
                errors.append('%s: %s exists but no meson.build runs it' % (where, span))
                current = span
            else:
                current = span
            prev = None
        elif NAME_RE.match(span):
            if current is None:
                if not files:
                    errors.append('%s: test %s named before any test file' % (where, span))
                continue
            found = resolve(span, prev, tree.tests_in(current))
            if not found:
                errors.append('%s: %s does not define %s%s' % (
                    where, current, span,
                    ' (as a sibling of %s)' % prev if span.startswith('_') else ''))
            else:
                tests += 1
            if not span.startswith('_') and not span.endswith('*'):
                prev = span
    if not files:
        errors.append('%s: names no test file (every guarantee needs a test)' % where)
    elif tests == 0 and not errors:
        errors.append('%s: names a file but no test in it: add (`test_name`: what it checks)'
                      % where)
    return errors


def check(text, tree, doc='docs/security.md'):
    """(errors, number of guarantee rows checked)."""
    errors = []
    rows = 0
    lines = text.split('\n')
    in_table, checked_col = False, None
    in_code = False
    for i, line in enumerate(lines):
        lineno = i + 1
        if line.startswith('```'):
            in_code = not in_code
        if in_code:
            continue
        if line.lstrip().startswith('|'):
            if not in_table:
                header = split_row(line)
                in_table = True
                checked_col = (len(header) - 1
                               if header and header[-1].lower() == 'checked by' else None)
                continue
            if is_separator(line):
                continue
            if checked_col is None:
                continue
            cells = split_row(line)
            rows += 1
            where = '%s:%d (row "%s")' % (doc, lineno, cells[0][:60])
            errors += check_cell(cells[-1], tree, where)
            continue
        in_table = False
        # Prose: paths and test names must exist too.
        for span in SPAN_RE.findall(line):
            span = span.strip()
            if PATH_RE.match(span) and not tree.exists(span):
                errors.append('%s:%d: %s does not exist' % (doc, lineno, span))
            elif re.match(r'^test_\w+$', span) and span not in tree.all_tests():
                errors.append('%s:%d: no test file defines %s' % (doc, lineno, span))
    return errors, rows


SELF_TESTS = [
    ('a missing file',
     '| a | b | `tests/integration/no_such_file.py` (`test_x`) |'),
    ('a missing test',
     '| a | b | `tests/integration/test_trust.py` (`test_no_such_test_here`) |'),
    ('a missing sibling',
     '| a | b | `tests/integration/test_trust.py` (`test_frame_sizes`, `_no_such`) |'),
    ('no test file',
     '| a | b | — |'),
    ('a file and no test',
     '| a | b | `tests/integration/test_trust.py` |'),
    ('an unregistered Check test',
     '| a | b | `tests/unit/test-wire.c` (`test_no_such_check_test`) |'),
]


def self_test(tree):
    """The checker refuses each broken row and accepts a good one."""
    head = '| It can | It cannot | Checked by |\n|---|---|---|\n'
    bad = []
    for what, row in SELF_TESTS:
        errors, rows = check(head + row + '\n', tree, 'self-test')
        if not errors or rows != 1:
            bad.append('the checker accepted a row with %s' % what)
    good = head + ('| a | b | `tests/integration/test_trust.py` (`test_frame_sizes`: x), '
                   '`tests/unit/test-wire.c` (`test_hmac_sha256_vectors`) |\n')
    errors, rows = check(good, tree, 'self-test')
    if errors or rows != 1:
        bad.append('the checker refused a good row: %s' % errors)
    return bad


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    root = sys.argv[1]
    doc = sys.argv[2] if len(sys.argv) == 3 else os.path.join(root, 'docs', 'security.md')
    tree = Tree(root)
    bad = self_test(tree)
    if bad:
        for b in bad:
            print('self-test: ' + b, file=sys.stderr)
        return 1
    with open(doc) as f:
        errors, rows = check(f.read(), tree, os.path.relpath(doc, root))
    for e in errors:
        print(e, file=sys.stderr)
    if rows == 0:
        print('%s: no "Checked by" table found' % doc, file=sys.stderr)
        return 1
    print('%d guarantee rows checked, %d problems' % (rows, len(errors)))
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
