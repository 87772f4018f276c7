# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the contrib tests: where things are, YAML loading
through yaml2json (libyaml, as in the probe), and checks of command lines
found in contrib/ against the real sentrace and sentrace-probe."""

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

SRC = os.environ.get('SENTRACE_SOURCE_ROOT') or os.path.abspath(
    os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.environ.get('SENTRACE_BUILD_DIR') or os.path.join(SRC, 'build')
TRACER = os.environ.get('SENTRACE') or os.path.join(BUILD, 'src/tracer/sentrace')
PROBE = os.environ.get('SENTRACE_PROBE') or os.path.join(BUILD, 'src/probe/sentrace-probe')
YAML2JSON = os.environ.get('SENTRACE_YAML2JSON') or os.path.join(BUILD, 'tests/contrib/yaml2json')
CONTRIB = os.path.join(SRC, 'contrib')

SKIP = 77

_failures = []


def fail(msg):
    """Records a failure; the test goes on and exits 1 at the end."""
    _failures.append(msg)
    print('FAIL: ' + msg, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def finish():
    if _failures:
        print('%d failure(s)' % len(_failures))
        sys.exit(1)
    print('ok')
    sys.exit(0)


def contrib(*parts):
    return os.path.join(CONTRIB, *parts)


def rel(path):
    return os.path.relpath(path, SRC)


def load_yaml(path):
    """Every document of a YAML file, as Python values."""
    r = subprocess.run([YAML2JSON, path], capture_output=True, text=True)
    if r.returncode != 0:
        raise ValueError('%s does not parse: %s' % (rel(path), r.stderr.strip()))
    return json.loads(r.stdout)


def first_line(text):
    return (text.strip().splitlines() or [''])[0]


def run(argv, **kw):
    kw.setdefault('capture_output', True)
    kw.setdefault('text', True)
    kw.setdefault('timeout', 60)
    return subprocess.run(argv, **kw)


# --- command-line checks --------------------------------------------------

_help_cache = {}


def help_flags(argv):
    """{flag: takes_argument} from a --help text: lines such as
    '  --probe-addr ADDR   ...' or '  -c, --config FILE  ...'."""
    key = tuple(argv)
    if key not in _help_cache:
        r = run(argv)
        text = r.stdout + r.stderr
        flags = {}
        for line in text.splitlines():
            m = re.match(r'^\s+(?:(-\w), )?(--[\w-]+)(?: ([A-Z][A-Z_]*))?(?:\s|$)', line)
            if m:
                takes = m.group(3) is not None
                flags[m.group(2)] = takes
                if m.group(1):
                    flags[m.group(1)] = takes
        _help_cache[key] = flags
    return _help_cache[key]


def _check_flags(where, opts, flags):
    """Static check: every option is known and has its argument. Returns the
    options as (flag, value) pairs, or None."""
    pairs = []
    i = 0
    while i < len(opts):
        o = opts[i]
        name, eq, val = o.partition('=')
        if not o.startswith('-') or name not in flags:
            fail('%s: unknown option %r (not in --help)' % (where, o))
            return None
        if flags[name]:
            if not eq:
                if i + 1 >= len(opts):
                    fail('%s: option %s needs an argument' % (where, name))
                    return None
                i += 1
                val = opts[i]
            pairs.append((name, val))
        else:
            if eq:
                fail('%s: option %s takes no argument' % (where, name))
                return None
            pairs.append((name, None))
        i += 1
    return pairs


def check_tracer_argv(where, argv):
    """argv: a sentrace command line from contrib/ (argv[0] is the binary's
    path there). Checks it against `sentrace trace --help` and runs the real
    tracer with the same options (the command replaced by /bin/true, a
    1 ms handshake timeout) to see them accepted; for `setup`, runs it into
    a scratch directory."""
    if len(argv) < 2:
        fail('%s: %r has no subcommand' % (where, argv))
        return
    sub = argv[1]
    if sub == 'setup':
        check_setup_argv(where, argv)
        return
    if not check(sub == 'trace', '%s: unknown sentrace subcommand %r' % (where, sub)):
        return
    rest = argv[2:]
    if '--' in rest:
        i = rest.index('--')
        opts, cmd = rest[:i], rest[i + 1:]
    else:
        opts, cmd = rest, []
    pairs = _check_flags(where, opts, help_flags([TRACER, 'trace', '--help']))
    if pairs is None:
        return
    if any(n == '--pid' for n, _ in pairs):
        fail('%s: --pid with literal values cannot be checked here' % where)
        return
    if not check(cmd, '%s: wrap mode without a command after --' % where):
        return
    for n, v in pairs:
        if n == '--probe-addr':
            check(not re.match(r'^[A-Za-z]', v) or v.startswith('unix:')
                  or v.startswith('localhost:'),
                  '%s: --probe-addr %s: sentrace takes IP addresses, localhost '
                  'and unix sockets, not host names' % (where, v))
    live = opts + ['--handshake-timeout', '1ms', '--', '/bin/true']
    r = run([TRACER, 'trace'] + live)
    # 125 "no answer from the probe" means the options were accepted and
    # sentrace went as far as the handshake; 0 means a probe answered.
    check(r.returncode == 0 or 'no answer from the probe' in r.stderr,
          '%s: sentrace trace %s: exit %d: %s'
          % (where, ' '.join(map(shlex.quote, opts)), r.returncode, first_line(r.stderr)))


def check_setup_argv(where, argv):
    """`sentrace setup --cws-volume-mount DIR`: runs it with DIR replaced by a
    scratch directory and checks that DIR/sentrace is an executable copy."""
    opts = argv[2:]
    if not check(len(opts) == 2 and opts[0] == '--cws-volume-mount',
                 '%s: expected setup --cws-volume-mount DIR, got %r' % (where, argv)):
        return
    with tempfile.TemporaryDirectory(prefix='sentrace-setup-') as d:
        r = run([TRACER, 'setup', '--cws-volume-mount', d])
        if not check(r.returncode == 0, '%s: sentrace setup --cws-volume-mount DIR: exit %d: %s'
                     % (where, r.returncode, first_line(r.stderr or r.stdout))):
            return
        copy = os.path.join(d, 'sentrace')
        if not check(os.path.isfile(copy), '%s: setup left no DIR/sentrace' % where):
            return
        check(os.stat(copy).st_mode & 0o777 == 0o755,
              '%s: DIR/sentrace has mode %o, not 755' % (where, os.stat(copy).st_mode & 0o777))
        r = run([copy, 'version'])
        check(r.returncode == 0, '%s: DIR/sentrace version: exit %d' % (where, r.returncode))


def check_probe_argv(where, argv, files=None):
    """argv: a sentrace-probe command line. Checks it against
    `sentrace-probe --help` and runs `sentrace-probe config` with the same
    options, mapping the paths of configuration files found in contrib/
    (files: {path in the deployment: path here})."""
    files = files or {}
    if not check(len(argv) >= 2 and argv[1] == 'run',
                 '%s: expected sentrace-probe run ..., got %r' % (where, argv)):
        return
    pairs = _check_flags(where, argv[2:], help_flags([PROBE, '--help']))
    if pairs is None:
        return
    live = []
    for n, v in pairs:
        if n in ('-c', '--config'):
            if not check(v in files, '%s: no file in contrib/ stands for %s' % (where, v)):
                return
            v = files[v]
        if n in ('-o', '--output'):
            continue  # would be created by `run` only
        live += [n] if v is None else [n, v]
    r = run([PROBE, 'config'] + live)
    check(r.returncode == 0, '%s: sentrace-probe config %s: exit %d: %s'
          % (where, ' '.join(map(shlex.quote, live)), r.returncode, first_line(r.stderr)))


def check_probe_config(where, path, expect_socket=None, expect_output=None):
    """The file is accepted by `sentrace-probe config --config`, and the
    effective configuration has the expected listen address and output."""
    r = run([PROBE, 'config', '--config', path])
    if not check(r.returncode == 0, '%s: sentrace-probe config --config: exit %d: %s'
                 % (where, r.returncode, r.stderr.strip())):
        return
    if expect_socket is not None:
        check(re.search(r'^\s+socket: "?%s"?$' % re.escape(expect_socket), r.stdout, re.M),
              '%s: effective socket is not %s:\n%s' % (where, expect_socket, r.stdout))
    if expect_output is not None:
        check(re.search(r'^\s+path: "?%s"?$' % re.escape(expect_output), r.stdout, re.M),
              '%s: effective output.path is not %s:\n%s' % (where, expect_output, r.stdout))


def check_argv(where, argv, files=None):
    """Dispatches on the program's name; other programs are not checked."""
    prog = os.path.basename(argv[0]) if argv else ''
    if prog in ('sentrace', 'sentrace-static'):
        check_tracer_argv(where, argv)
        return True
    if prog == 'sentrace-probe':
        check_probe_argv(where, argv, files)
        return True
    return False


def mentions_capabilities(where, text):
    check(re.search(r'^\s*#.*\bCapabilities\b', text, re.M),
          '%s: no "Capabilities" comment saying what it needs and why' % where)
