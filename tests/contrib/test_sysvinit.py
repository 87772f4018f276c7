# SPDX-License-Identifier: Apache-2.0
"""contrib/sysvinit/sentrace-probe.

  test_sysvinit.py syntax   sh -n, the LSB header, the actions, the
                            probe's command line against the real CLI
  test_sysvinit.py run      start, status, reload, restart, stop with the
                            real start-stop-daemon and probe, a tracer
                            connecting in between; as root only (it
                            switches to the nobody user), else skipped
"""

import os
import pwd
import re
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from contribtest import (CONTRIB, PROBE, SKIP, TRACER, check, check_probe_argv,  # noqa: E402
                         check_probe_config, contrib, fail, finish, mentions_capabilities,
                         run)

SCRIPT = contrib('sysvinit', 'sentrace-probe')


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


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ('syntax', 'run'):
        print('usage: test_sysvinit.py syntax|run')
        sys.exit(2)
    if sys.argv[1] == 'syntax':
        syntax()
    else:
        live()
    finish()


if __name__ == '__main__':
    main()
