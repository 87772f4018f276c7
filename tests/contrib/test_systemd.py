# SPDX-License-Identifier: Apache-2.0
"""contrib/systemd: `systemd-analyze verify` on the units (alone and with
the setuid drop-in), their command lines against the real CLI, and the
sandbox settings that sentrace depends on. Fails (does not skip) when
systemd-analyze is missing: install the systemd package (a running systemd
is not needed)."""

import os
import re
import shlex
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from contribtest import (CONTRIB, PROBE, TRACER, check, check_argv,  # noqa: E402
                         check_uid_drop_runs, contrib, fail, finish, mentions_capabilities,
                         rel, run)

SD = contrib('systemd')
UNITS = ['sentrace-probe.service', 'myapp-traced.service']
DROPIN = 'myapp-traced-setuid.conf'
# Paths in the units that stand for files of this build.
BINARIES = {'/usr/bin/sentrace-probe': PROBE, '/usr/bin/sentrace': TRACER}
CONFIGS = {'/etc/sentrace/probe.yaml': os.path.join(CONTRIB, 'probe.yaml')}


def parse_unit(path):
    """[(section, key, value)] of a unit file (continuation lines joined)."""
    out, section, pending = [], None, ''
    with open(path) as f:
        for line in f:
            line = line.rstrip('\n')
            if pending:
                line, pending = pending + line, ''
            if line.endswith('\\'):
                pending = line[:-1] + ' '
                continue
            s = line.strip()
            if not s or s[0] in '#;':
                continue
            if s.startswith('['):
                section = s.strip('[]')
                continue
            k, _, v = s.partition('=')
            out.append((section, k.strip(), v.strip()))
    return out


def values(settings, key):
    return [v for _, k, v in settings if k == key]


def localise(text):
    """The unit's text with the installed binaries' paths replaced by the
    build's, since verify insists that ExecStart= programs exist."""
    for inst, built in BINARIES.items():
        text = re.sub(r'(?<=[=\s])%s(?=\s|$)' % re.escape(inst), built, text, flags=re.M)
    return text


def verify(units_dir, names, what):
    r = run(['systemd-analyze', 'verify', '--man=no', '--generators=no']
            + [os.path.join(units_dir, n) for n in names])
    out = (r.stdout + r.stderr).strip()
    # verify reports unknown keys and bad values as warnings with exit 0:
    # any message about our units counts as a failure.
    ours = [ln for ln in out.splitlines()
            if any(n.split('.')[0] in ln for n in names) or units_dir in ln]
    check(r.returncode == 0 and not ours,
          'systemd-analyze verify (%s): exit %d:\n%s' % (what, r.returncode, out))
    if out and not ours:
        print('systemd-analyze verify (%s) said (not about our units):\n%s' % (what, out))


def check_exec(where, settings):
    for key in ('ExecStart', 'ExecReload'):
        for v in values(settings, key):
            if not v:
                continue  # an empty ExecStart= resets the list (drop-ins)
            argv = shlex.split(v.lstrip('-@:+!'))
            if check_argv('%s %s=' % (where, key), argv, CONFIGS):
                print('%s %s= checked: %s' % (where, key, v))


def allowed_syscalls(filters):
    """The system calls allowed by a list of SystemCallFilter= values
    (allow-lists, then ~deny-lists), expanded by systemd-analyze."""
    groups = {}
    r = run(['systemd-analyze', 'syscall-filter'])
    group = None
    for line in r.stdout.splitlines():
        if line.startswith('@'):
            group = line.split()[0]
            groups[group] = set()
        elif group and line.startswith('    ') and not line.strip().startswith('#'):
            groups[group].add(line.split()[0])

    def expand(names, seen=()):
        out = set()
        for n in names:
            if n.startswith('@'):
                if n not in seen:
                    out |= expand(groups.get(n, ()), seen + (n,))
            else:
                out.add(n)
        return out
    allowed = None
    for f in filters:
        deny = f.startswith('~')
        names = expand(f.lstrip('~').split())
        if deny:
            allowed = (allowed or set()) - names
        else:
            allowed = names if allowed is None else allowed | names
    return allowed


def main():
    if not shutil.which('systemd-analyze'):
        fail('systemd-analyze not found: install the systemd package '
             '(add it to tools/setup); a running systemd is not needed')
        finish()

    with tempfile.TemporaryDirectory(prefix='sentrace-units-') as d:
        for n in UNITS:
            with open(os.path.join(SD, n)) as f:
                text = f.read()
            with open(os.path.join(d, n), 'w') as f:
                f.write(localise(text))
        verify(d, UNITS, 'units')
        # The same with the drop-in, as installed in myapp-traced.service.d/.
        dd = os.path.join(d, 'myapp-traced.service.d')
        os.mkdir(dd)
        with open(os.path.join(SD, DROPIN)) as f:
            text = f.read()
        with open(os.path.join(dd, 'setuid.conf'), 'w') as f:
            f.write(localise(text))
        verify(d, UNITS, 'units with ' + DROPIN)

    for n in UNITS + [DROPIN]:
        path = os.path.join(SD, n)
        with open(path) as f:
            mentions_capabilities(rel(path), f.read())
        check_exec(rel(path), parse_unit(path))

    # The probe: no capabilities, strict file system, these families only.
    probe = parse_unit(os.path.join(SD, 'sentrace-probe.service'))
    check(values(probe, 'CapabilityBoundingSet') == [''],
          'sentrace-probe.service: CapabilityBoundingSet= must be empty')
    check(values(probe, 'ProtectSystem') == ['strict'],
          'sentrace-probe.service: ProtectSystem=strict expected')
    check(values(probe, 'NoNewPrivileges') == ['yes'],
          'sentrace-probe.service: NoNewPrivileges=yes expected')
    check(values(probe, 'PrivateTmp') == ['yes'], 'sentrace-probe.service: PrivateTmp=yes expected')
    check(sorted(' '.join(values(probe, 'RestrictAddressFamilies')).split())
          == ['AF_INET', 'AF_INET6', 'AF_UNIX'],
          'sentrace-probe.service: RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX expected')
    rw = ' '.join(values(probe, 'ReadWritePaths')).split()
    check(any(p.lstrip('-') == '/var/log/sentrace' for p in rw),
          'sentrace-probe.service: /var/log/sentrace not in ReadWritePaths=')
    # ... and output.path of contrib/probe.yaml lies in a writable directory.
    r = run([PROBE, 'config', '--config', os.path.join(CONTRIB, 'probe.yaml')])
    m = re.search(r'^\s+path: "?([^"\n]+)"?$', r.stdout, re.M)
    check(m and any(os.path.dirname(m.group(1)).startswith(p.lstrip('-')) for p in rw),
          'contrib/probe.yaml: output.path %s is not under ReadWritePaths= %s'
          % (m.group(1) if m else '?', rw))

    # The traced app: SIGTERM to sentrace only, and a system call filter
    # that lets sentrace work.
    app = parse_unit(os.path.join(SD, 'myapp-traced.service'))
    check(values(app, 'KillMode') == ['mixed'], 'myapp-traced.service: KillMode=mixed expected')
    check('sentrace-probe.service' in ' '.join(values(app, 'After')).split()
          and 'sentrace-probe.service' in ' '.join(values(app, 'Wants')).split(),
          'myapp-traced.service: After= and Wants=sentrace-probe.service expected')
    allowed = allowed_syscalls(values(app, 'SystemCallFilter'))
    if allowed is not None:
        for sc in ('ptrace', 'process_vm_readv', 'seccomp', 'prctl', 'pidfd_open',
                   'pidfd_send_signal', 'wait4', 'waitid', 'kill', 'tgkill', 'socket',
                   'connect', 'execve', 'clone'):
            check(sc in allowed, 'myapp-traced.service: SystemCallFilter= blocks %s, '
                  'which sentrace needs' % sc)
    check(not values(app, 'SystemCallArchitectures'),
          'myapp-traced.service: SystemCallArchitectures= would stop 32-bit tracees')
    # The app runs as its own user, dropped by sentrace (root), so that it
    # cannot read the tracer's token file or signal and trace it.
    check(values(app, 'User') in ([], ['root']),
          'myapp-traced.service: sentrace must run as root (User=root or none), '
          'the app under --uid/--gid')
    starts = [shlex.split(v) for v in values(app, 'ExecStart') if v]
    if check(len(starts) == 1, 'myapp-traced.service: one ExecStart= expected'):
        caps = [c[len('CAP_'):] for c in ' '.join(values(app, 'CapabilityBoundingSet')).split()]
        check_uid_drop_runs('myapp-traced.service ExecStart=', starts[0], caps)
    dropin = parse_unit(os.path.join(SD, DROPIN))
    caps = ' '.join(values(dropin, 'CapabilityBoundingSet')).split()
    for c in ('CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SETUID', 'CAP_SETGID', 'CAP_KILL'):
        check(c in caps, '%s: %s missing from CapabilityBoundingSet=' % (DROPIN, c))
    check(values(dropin, 'NoNewPrivileges') == ['no'], '%s: NoNewPrivileges=no expected' % DROPIN)
    finish()


if __name__ == '__main__':
    main()
