# SPDX-License-Identifier: Apache-2.0
"""contrib/sysvinit/sentrace-probe and contrib/sysvinit/myapp-traced.

  test_sysvinit.py syntax   sh -n, the LSB header, the actions, the
                            probe's command line against the real CLI;
                            myapp-traced's app under its own uid and gid
  test_sysvinit.py run      start, status, reload, restart, stop with the
                            real start-stop-daemon and probe, a tracer
                            connecting in between; then myapp-traced
                            started and stopped for real against a probe
                            with a token: the app runs as APP_UID, cannot
                            read the token, and gets SIGTERM on stop; as
                            root only (it switches users), else skipped
"""

import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from contribtest import (CONTRIB, PROBE, SKIP, TRACER, UID_DROP_CAPS, check,  # noqa: E402
                         check_probe_argv, check_probe_config, contrib, fail, finish,
                         mentions_capabilities, run, workload_ids)

SCRIPT = contrib('sysvinit', 'sentrace-probe')
APP_SCRIPT = contrib('sysvinit', 'myapp-traced')


def lsb_and_actions(path, text, actions):
    m = re.search(r'^### BEGIN INIT INFO\n(.*?)^### END INIT INFO$', text, re.S | re.M)
    if check(m, '%s: no LSB header' % path):
        header = m.group(1)
        for k in ('Provides', 'Required-Start', 'Required-Stop', 'Default-Start',
                  'Default-Stop', 'Short-Description'):
            check(re.search(r'^# %s:\s+\S' % k, header, re.M), '%s: LSB header lacks %s'
                  % (path, k))
    for action in actions:
        check(re.search(r'^\s*(\w+\|)*%s(\|[\w-]+)*\)' % action, text, re.M),
              '%s: no %s action' % (path, action))


def app_syntax():
    """myapp-traced: the app is dropped to its own user by sentrace (root),
    within a bounding set of what sentrace needs for that."""
    where = 'contrib/sysvinit/myapp-traced'
    r = run(['sh', '-n', APP_SCRIPT])
    check(r.returncode == 0, '%s: sh -n: %s' % (where, r.stderr.strip()))
    check(os.access(APP_SCRIPT, os.X_OK), '%s is not executable' % where)
    with open(APP_SCRIPT) as f:
        text = f.read()
    mentions_capabilities(where, text)
    lsb_and_actions(where, text, ('start', 'stop', 'status', 'restart'))
    check(re.search(r'^# Required-Start:.*\bsentrace-probe\b', text, re.M),
          '%s: Required-Start: should name sentrace-probe' % where)
    defaults = dict(re.findall(r'^([A-Z_]+)=(\S*)$', text, re.M))
    workload_ids(where, ['sentrace', 'trace', '--uid', defaults.get('APP_UID', ''),
                         '--gid', defaults.get('APP_GID', ''), '--', 'x'])
    caps = {c[1:].upper() for c in defaults.get('CAPS', '').split(',') if c.startswith('+')}
    check(defaults.get('CAPS', '').startswith('-all,') and caps == UID_DROP_CAPS,
          '%s: CAPS= should be -all plus %s' % (where, ' '.join(sorted(UID_DROP_CAPS))))
    check('--uid "$APP_UID" --gid "$APP_GID"' in text and '--bounding-set "$CAPS"' in text,
          '%s: sentrace must run under setpriv --bounding-set with --uid/--gid' % where)
    if shutil.which('shellcheck'):
        r = run(['shellcheck', '-s', 'sh', APP_SCRIPT])
        check(r.returncode == 0, '%s: shellcheck:\n%s' % (where, r.stdout))


def syntax():
    r = run(['sh', '-n', SCRIPT])
    check(r.returncode == 0, 'sh -n: %s' % r.stderr.strip())
    with open(SCRIPT) as f:
        text = f.read()
    check(os.access(SCRIPT, os.X_OK), 'the script is not executable')
    m = re.search(r'^### BEGIN INIT INFO\n(.*?)^### END INIT INFO$', text, re.S | re.M)
    if check(m, 'no LSB header'):
        header = m.group(1)
        for k in ('Provides', 'Required-Start', 'Required-Stop', 'Default-Start',
                  'Default-Stop', 'Short-Description'):
            check(re.search(r'^# %s:\s+\S' % k, header, re.M), 'LSB header lacks %s' % k)
    for action in ('start', 'stop', 'status', 'restart', 'reload'):
        check(re.search(r'^\s*(\w+\|)*%s(\|[\w-]+)*\)' % action, text, re.M),
              'no %s action' % action)
    check('start-stop-daemon' in text and '--pidfile' in text,
          'start-stop-daemon with a pidfile expected')
    mentions_capabilities('contrib/sysvinit/sentrace-probe', text)
    # The probe's command line, with the script's defaults.
    daemon = re.search(r'^DAEMON=(\S+)$', text, re.M).group(1)
    config = re.search(r'^CONFIG=(\S+)$', text, re.M).group(1)
    check(os.path.basename(daemon) == 'sentrace-probe', 'DAEMON= is not sentrace-probe')
    check_probe_argv('sysvinit DAEMON', [daemon, 'run', '--config', config],
                     {config: os.path.join(CONTRIB, 'probe.yaml')})
    if shutil.which('shellcheck'):
        r = run(['shellcheck', '-s', 'sh', SCRIPT])
        check(r.returncode == 0, 'shellcheck:\n' + r.stdout)
    app_syntax()


def wait_for(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def alive(pid):
    """Running, not a zombie (the reaper here may be slow)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def live():
    if os.geteuid() != 0:
        print('skipped: not root (the script switches users)')
        sys.exit(SKIP)
    if not shutil.which('start-stop-daemon') or not os.path.exists('/lib/lsb/init-functions'):
        print('skipped: no start-stop-daemon or /lib/lsb/init-functions')
        sys.exit(SKIP)
    d = tempfile.mkdtemp(prefix='sentrace-sysv-')
    os.chmod(d, 0o755)
    # The probe runs as nobody: give it a copy it can reach even when the
    # build tree sits under a directory only root may enter (/root).
    probe = os.path.join(d, 'sentrace-probe')
    shutil.copy2(PROBE, probe)
    os.chmod(probe, 0o755)
    log = os.path.join(d, 'log')
    sock = os.path.join(log, 'probe.sock')
    pidfile = os.path.join(d, 'probe.pid')
    events = os.path.join(log, 'events.json')
    with open(os.path.join(d, 'probe.yaml'), 'w') as f:
        f.write('runtime_security_config:\n  ebpfless:\n    socket: unix:%s\n'
                'output:\n  path: %s\n  format: json\n' % (sock, events))
    check_probe_config('test config', os.path.join(d, 'probe.yaml'), 'unix:' + sock, events)
    with open(os.path.join(d, 'defaults'), 'w') as f:
        f.write('DAEMON=%s\nCONFIG=%s/probe.yaml\nDAEMON_USER=nobody\nDAEMON_GROUP=nogroup\n'
                'PIDFILE=%s\nLOGDIR=%s\nLOGFILE=%s/probe.log\nSTOP_TIMEOUT=5\n'
                % (probe, d, pidfile, log, log))
    env = dict(os.environ, SENTRACE_PROBE_DEFAULTS=os.path.join(d, 'defaults'))

    def action(a):
        r = run([SCRIPT, a], env=env)
        print('%s: exit %d %s' % (a, r.returncode, (r.stdout + r.stderr).strip()))
        return r.returncode

    def pid():
        try:
            with open(pidfile) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None
    try:
        check(action('status') == 3, 'status before start: 3 (not running) expected')
        check(action('start') == 0, 'start failed')
        p1 = pid()
        if not check(p1 and alive(p1), 'no running probe after start'):
            return
        with open('/proc/%d/status' % p1) as f:
            uid = re.search(r'^Uid:\s+(\d+)', f.read(), re.M).group(1)
        check(uid == str(pwd.getpwnam('nobody').pw_uid),
              'the probe runs as uid %s, not nobody' % uid)
        check(wait_for(lambda: os.path.exists(sock)), 'the probe made no socket')
        check(action('status') == 0, 'status while running: 0 expected')
        check(action('start') == 0 and pid() == p1, 'a second start must leave the probe alone')
        r = run([TRACER, 'trace', '--probe-addr', 'unix:' + sock, '--', '/bin/true'])
        check(r.returncode == 0, 'sentrace through the socket: exit %d: %s'
              % (r.returncode, r.stderr.strip()))
        check(wait_for(lambda: os.path.exists(events) and os.path.getsize(events) > 0),
              'no events in %s' % events)
        os.rename(events, events + '.1')
        check(action('reload') == 0, 'reload failed')
        check(wait_for(lambda: os.path.exists(events)), 'reload (SIGHUP) did not reopen the output')
        check(action('restart') == 0, 'restart failed')
        p2 = pid()
        check(p2 and p2 != p1 and alive(p2) and not alive(p1), 'restart did not replace the probe')
        check(action('stop') == 0, 'stop failed')
        check(p2 and wait_for(lambda: not alive(p2)), 'the probe survived stop')
        check(not os.path.exists(pidfile), 'stop left the pidfile')
        check(action('status') == 3, 'status after stop: 3 expected')
        check(action('stop') == 0, 'stop when stopped must succeed')
        with open(os.path.join(d, 'probe.yaml'), 'w') as f:
            f.write('output:\n  format: yaml\n')
        check(action('start') != 0, 'start with a bad configuration must fail')
        check(pid() is None, 'a bad configuration left a pidfile')
    finally:
        p = pid()
        if p and alive(p):
            os.kill(p, signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)


def app_live():
    """myapp-traced for real: started against a probe that requires a
    token, the app runs as APP_UID:APP_GID under sentrace (the pidfile's
    process), cannot read the token, is traced, and gets SIGTERM on stop."""
    d = tempfile.mkdtemp(prefix='sentrace-sysv-app-')
    os.chmod(d, 0o755)
    out = os.path.join(d, 'out')
    os.mkdir(out)
    os.chmod(out, 0o777)
    token = os.path.join(d, 'token')
    with open(token, 'w') as f:
        f.write('sysv-token-4711\n')
    os.chmod(token, 0o600)
    app = os.path.join(d, 'app')
    with open(app, 'w') as f:
        f.write('#!/bin/sh\n'
                'cat %(t)s && echo READ\n'
                'id -u > %(o)s/uid\n'
                "trap 'echo term > %(o)s/term; exit 0' TERM\n"
                'echo started > %(o)s/started\n'
                'while :; do sleep 1 & wait $!; done\n' % {'t': token, 'o': out})
    os.chmod(app, 0o755)
    sock = os.path.join(d, 'probe.sock')
    events = os.path.join(d, 'events.jsonl')
    pidfile = os.path.join(d, 'app.pid')
    log = os.path.join(d, 'app.log')
    probe = subprocess.Popen([PROBE, 'run', '--listen', 'unix:' + sock, '--no-policy',
                              '--token-file', token, '--output', events],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    nobody = pwd.getpwnam('nobody')
    with open(os.path.join(d, 'defaults'), 'w') as f:
        f.write('TRACER=%s\nAPP=%s\nAPP_UID=%d\nAPP_GID=%d\nPROBE_ADDR=unix:%s\n'
                'TOKEN_FILE=%s\nPIDFILE=%s\nLOGFILE=%s\nSTOP_TIMEOUT=10\n'
                % (TRACER, app, nobody.pw_uid, nobody.pw_gid, sock, token, pidfile, log))
    env = dict(os.environ, MYAPP_TRACED_DEFAULTS=os.path.join(d, 'defaults'))

    def action(a):
        r = run([APP_SCRIPT, a], env=env)
        print('myapp-traced %s: exit %d %s' % (a, r.returncode, (r.stdout + r.stderr).strip()))
        return r.returncode

    def logtext():
        try:
            with open(log, errors='replace') as f:
                return f.read()
        except OSError:
            return ''
    p = None
    try:
        check(wait_for(lambda: os.path.exists(sock)), 'the probe made no socket')
        check(action('status') == 3, 'myapp-traced status before start: 3 expected')
        check(action('start') == 0, 'myapp-traced start failed: ' + logtext())
        check(wait_for(lambda: os.path.exists(os.path.join(out, 'started'))),
              'the app did not start: ' + logtext())
        with open(pidfile) as f:
            p = int(f.read())
        check(os.path.realpath('/proc/%d/exe' % p) == os.path.realpath(TRACER),
              'the pidfile does not name sentrace')
        with open(os.path.join(out, 'uid')) as f:
            check(f.read().strip() == str(nobody.pw_uid), 'the app does not run as APP_UID')
        check('READ' not in logtext() and 'sysv-token' not in logtext(),
              'the app read the tracer\'s token: ' + logtext())
        check(stat.S_IMODE(os.stat(log).st_mode) == 0o600, 'LOGFILE is not 0600')
        check(action('status') == 0, 'myapp-traced status while running: 0 expected')
        check(action('stop') == 0, 'myapp-traced stop failed')
        check(os.path.exists(os.path.join(out, 'term')), 'SIGTERM did not reach the app')
        check(wait_for(lambda: not alive(p)), 'sentrace survived stop')
        check(action('status') == 3, 'myapp-traced status after stop: 3 expected')
    finally:
        if p and alive(p):
            os.kill(p, signal.SIGKILL)
        probe.terminate()
        probe.wait(10)
    execs = []
    with open(events) as f:
        for line in f:
            r = json.loads(line)
            if r.get('type') == 'event' and r['event'].get('ev') == 'exec':
                execs.append(r['event'])
    # A script: the kernel ran its interpreter (file), for the app (argv).
    check([e for e in execs if app in e.get('argv', []) and e.get('file') and e.get('cwd')],
          'no whole exec event of the app: %r' % execs[:3])
    shutil.rmtree(d, ignore_errors=True)


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ('syntax', 'run'):
        print('usage: test_sysvinit.py syntax|run')
        sys.exit(2)
    if sys.argv[1] == 'syntax':
        syntax()
    else:
        live()
        app_live()
    finish()


if __name__ == '__main__':
    main()
