# SPDX-License-Identifier: Apache-2.0
"""The attach-mode sidecar's script (contrib/kubernetes/deployment-attach.yaml)
run for real, outside Kubernetes: /sentrace/sentrace is replaced by the
built tracer and the probe's address by a scratch unix socket. It must find
a process by its argv[0] (APP_CMD), attach to it, see what it does, attach
again after the "app" has restarted, and on SIGTERM detach and exit 0 with
the app still running. Skipped (77) when this process cannot trace (not
root: attaching to a non-descendant needs CAP_SYS_PTRACE under Yama)."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from contribtest import (PROBE, SKIP, TRACER, check, contrib, fail, finish,  # noqa: E402
                         load_yaml)


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def main():
    if os.geteuid() != 0:
        print('skipped: not root')
        sys.exit(SKIP)
    dep = [o for o in load_yaml(contrib('kubernetes', 'deployment-attach.yaml'))
           if o and o.get('kind') == 'Deployment'][0]
    side = [c for c in dep['spec']['template']['spec']['containers']
            if c['name'] == 'sentrace-attach'][0]
    script = side['command'][-1]
    check(side['command'][:2] == ['/bin/sh', '-c'], 'the sidecar is not a /bin/sh -c script')
    d = tempfile.mkdtemp(prefix='sentrace-attach-')
    sock = os.path.join(d, 'probe.sock')
    out = os.path.join(d, 'events.json')
    script = script.replace('/sentrace/sentrace', TRACER)
    check('127.0.0.1:5678' in script, 'the script does not use 127.0.0.1:5678')
    script = script.replace('127.0.0.1:5678', 'unix:' + sock)
    app_cmd = '/app/start-%d' % os.getpid()
    procs = []

    def app():
        # argv[0] is APP_CMD, as for the pod's app; it runs cat now and then.
        p = subprocess.Popen([app_cmd, '-c', 'while :; do cat /dev/null; sleep 0.2; done'],
                             executable='/bin/sh')
        procs.append(p)
        return p

    def text():
        try:
            with open(out) as f:
                return f.read()
        except OSError:
            return ''
    probe = subprocess.Popen([PROBE, 'run', '--listen', 'unix:' + sock, '--output', out])
    procs.append(probe)
    try:
        if not check(wait_for(lambda: os.path.exists(sock)), 'the probe did not start'):
            return
        a1 = app()
        side_p = subprocess.Popen(['/bin/sh', '-c', script],
                                  env=dict(os.environ, APP_CMD=app_cmd))
        procs.append(side_p)
        check(wait_for(lambda: '"mode":"attached"' in text() and '/cat' in text()),
              'no attached session with the app\'s cat execs:\n' + text()[-2000:])
        # The app restarts: the sidecar attaches to the new one.
        a1.kill()
        a1.wait()
        n = text().count('"type":"session_start"')
        a2 = app()
        check(wait_for(lambda: text().count('"type":"session_start"') > n),
              'no new session after the app restarted')
        # SIGTERM: sentrace detaches, the sidecar exits 0, the app lives on.
        time.sleep(0.5)
        side_p.send_signal(signal.SIGTERM)
        try:
            rc = side_p.wait(timeout=15)
            check(rc == 0, 'the sidecar exited %d on SIGTERM' % rc)
        except subprocess.TimeoutExpired:
            fail('the sidecar did not stop on SIGTERM')
        check(a2.poll() is None, 'the app died with the sidecar')
        check(wait_for(lambda: text().count('"type":"session_end"') >= 2),
              'the second session did not end')
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    main()
    finish()
