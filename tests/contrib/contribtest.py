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
import time

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


# The capabilities a tracer running as root needs to drop its workload to
# another user and still do its job (docs/deploy.md, "Capabilities"):
# SETUID/SETGID for --uid/--gid, SYS_PTRACE to read the memory and /proc
# of a process of another user, KILL to pass signals on to it and carry
# out kill rules.
UID_DROP_CAPS = {'SETUID', 'SETGID', 'SYS_PTRACE', 'KILL'}


def workload_ids(where, argv):
    """(uid, gid) that a wrap-mode sentrace command line runs CMD as, or
    None (a failure) when it does not drop CMD to a non-root user."""
    opts = argv[2:argv.index('--')] if '--' in argv else argv[2:]
    ids = {}
    for i, o in enumerate(opts):
        for name in ('--uid', '--gid'):
            if o == name and i + 1 < len(opts):
                ids[name] = opts[i + 1]
            elif o.startswith(name + '='):
                ids[name] = o.split('=', 1)[1]
    ok = check(set(ids) == {'--uid', '--gid'} and all(v.isdigit() for v in ids.values()),
               '%s: the workload must run under --uid N --gid N (numeric), so that it '
               'cannot read the tracer\'s token file nor signal or trace it: %r'
               % (where, argv))
    if not ok:
        return None
    uid, gid = int(ids['--uid']), int(ids['--gid'])
    if not check(uid > 0 and gid > 0, '%s: --uid/--gid 0 leaves the workload root' % where):
        return None
    return uid, gid


def check_uid_drop_runs(where, argv, caps, no_new_privs=True):
    """Runs a deployment's wrap-mode command line for real, as root with
    CAPS (names without CAP_) as its capability bounding set, against a
    probe with a token (the command after -- replaced by a probe of its
    own), with no_new_privs as every deployment sets it: the workload
    runs as the --uid/--gid given, cannot read the token file (0600,
    root), its exec events are complete, and SIGTERM to sentrace reaches
    it."""
    ids = workload_ids(where, argv)
    if ids is None:
        return
    missing = UID_DROP_CAPS - set(caps)
    check(not missing, '%s: with --uid, sentrace (root) needs %s as well'
          % (where, ' '.join('CAP_' + c for c in sorted(missing))))
    if os.geteuid() != 0:
        fail('%s: the --uid run needs root' % where)
        return
    setpriv = '/usr/bin/setpriv'
    if not check(os.access(setpriv, os.X_OK), 'setpriv (util-linux) not found'):
        return
    opts = argv[2:argv.index('--')]
    # Our own probe's address instead of the deployment's.
    for i, o in enumerate(list(opts)):
        if o == '--probe-addr':
            del opts[i:i + 2]
            break
    with tempfile.TemporaryDirectory(prefix='sentrace-uid-') as d:
        os.chmod(d, 0o755)
        token = os.path.join(d, 'token')
        with open(token, 'w') as f:
            f.write('uid-drop-token-4711\n')
        os.chmod(token, 0o600)
        sock = os.path.join(d, 'probe.sock')
        events = os.path.join(d, 'events.jsonl')
        probe = subprocess.Popen([PROBE, 'run', '--listen', 'unix:' + sock, '--no-policy',
                                  '--token-file', token, '--output', events],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            for _ in range(500):
                if os.path.exists(sock):
                    break
                time.sleep(0.01)
            script = ('if cat %s; then echo READ; fi; id -u; id -g; /bin/true; '
                      'echo ready; exec sleep 30' % token)
            bset = ','.join(['-all'] + ['+' + c.lower() for c in sorted(caps)])
            nnp = ['--no-new-privs'] if no_new_privs else []
            tracer = subprocess.Popen(
                [setpriv] + nnp + ['--bounding-set', bset, '--', TRACER, 'trace'] + opts
                + ['--probe-addr', 'unix:' + sock, '--token-file', token, '--',
                   '/bin/sh', '-c', script],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd='/', text=True)
            out = []
            for line in tracer.stdout:
                out.append(line)
                if line == 'ready\n':
                    break
            tracer.terminate()
            try:
                rc = tracer.wait(10)
            except subprocess.TimeoutExpired:
                tracer.kill()
                rc = None
            err = tracer.stderr.read()
            text = ''.join(out)
            check(out[-1:] == ['ready\n'], '%s: the workload did not start: %s %s'
                  % (where, text, err))
            check('READ' not in text and 'uid-drop-token' not in text,
                  '%s: the workload read the tracer\'s token file' % where)
            check(text.split()[:2] == [str(ids[0]), str(ids[1])],
                  '%s: the workload ran as %s, not %d:%d' % (where, text.split()[:2], *ids))
            check(rc == 128 + 15, '%s: SIGTERM to sentrace did not reach the workload '
                  '(exit %s; CAP_KILL?): %s' % (where, rc, err))
        finally:
            probe.terminate()
            probe.wait(10)
        execs = []
        with open(events) as f:
            for line in f:
                r = json.loads(line)
                if r.get('type') == 'event' and r['event'].get('ev') == 'exec':
                    execs.append(r['event'])
        true = [e for e in execs if e.get('argv') == ['/bin/true']]
        check(true and 'file' in true[0] and 'cwd' in true[0],
              '%s: the exec of /bin/true lacks file or cwd (CAP_SYS_PTRACE?): %r'
              % (where, true))
        print('%s: --uid %d --gid %d checked with %s' % (where, ids[0], ids[1], bset))
