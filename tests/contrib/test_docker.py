# SPDX-License-Identifier: Apache-2.0
"""contrib/docker: the Dockerfiles are read, not built (there is no Docker
engine here). Checked: stages and their references, every COPY source
exists in the repository, every -D option passed to meson exists in
meson_options.txt (static_tracer included), the build stage installs only
packages that tools/setup installs too, the probe's runtime stage
installs the packages of every library the built probe links against,
the binaries copied out of the build stage are targets of the build, and
ENTRYPOINT + CMD pass the real CLI."""

import glob
import json
import os
import re
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from contribtest import (BUILD, PROBE, SRC, check, check_argv,  # noqa: E402
                         check_uid_drop_runs, contrib, fail, finish, load_yaml,
                         mentions_capabilities, rel, run)

DOCKER = contrib('docker')


def instructions(path):
    """[(line number, INSTRUCTION, arguments)], continuation lines joined,
    comments dropped."""
    out, cur, start = [], '', 0
    with open(path) as f:
        for n, line in enumerate(f, 1):
            s = line.rstrip('\n')
            if not cur and (not s.strip() or s.lstrip().startswith('#')):
                continue
            if cur and s.lstrip().startswith('#'):
                continue
            if not cur:
                start = n
            if s.endswith('\\'):
                cur += s[:-1] + ' '
                continue
            cur += s
            word, _, args = cur.strip().partition(' ')
            out.append((start, word.upper(), args.strip()))
            cur = ''
    return out


def meson_options():
    with open(os.path.join(SRC, 'meson_options.txt')) as f:
        text = f.read()
    return dict(re.findall(r"option\('(\w+)',\s*type:\s*'(\w+)'", text))


def setup_packages():
    with open(os.path.join(SRC, 'tools', 'setup')) as f:
        text = f.read()
    m = re.search(r'^packages=\((.*?)\)', text, re.S | re.M)
    return set(m.group(1).split()) if m else set()


def apt_packages(args):
    """Package names of every `apt-get install` in a RUN line."""
    pkgs = []
    for part in re.split(r'&&|;|\|\|', args):
        words = shlex.split(part)
        if 'apt-get' in words and 'install' in words:
            pkgs += [w for w in words[words.index('install') + 1:] if not w.startswith('-')]
    return pkgs


def meson_targets():
    """{path of a built file relative to the build dir}: executables named in
    src/*/meson.build."""
    out = set()
    for mb in glob.glob(os.path.join(SRC, 'src', '*', 'meson.build')):
        with open(mb) as f:
            for name in re.findall(r"executable\(\s*'([\w.-]+)'", f.read()):
                out.add(os.path.join(os.path.relpath(os.path.dirname(mb), SRC), name))
    return out


def exec_form(where, args):
    try:
        v = json.loads(args)
    except ValueError:
        fail('%s: %s is not in exec (JSON array) form' % (where, args))
        return None
    check(isinstance(v, list) and all(isinstance(x, str) for x in v),
          '%s: not a list of strings' % where)
    return v


def runtime_library_packages(binary):
    """Debian packages holding the shared libraries that binary loads,
    libc6 excepted (every base image has it)."""
    r = run(['ldd', binary])
    pkgs = set()
    for m in re.finditer(r'=> (/\S+)', r.stdout):
        path = os.path.realpath(m.group(1))
        for candidate in (m.group(1), path, re.sub(r'^/lib', '/usr/lib', m.group(1)),
                          re.sub(r'^/usr/lib', '/lib', m.group(1))):
            q = subprocess.run(['dpkg', '-S', candidate], capture_output=True, text=True)
            if q.returncode == 0:
                pkgs.add(q.stdout.split(':')[0])
                break
        else:
            fail('no Debian package holds %s' % m.group(1))
    pkgs.discard('libc6')
    # A sanitizer build (tools/test --sanitize) links the sanitizer
    # runtimes and the C++ runtime they need: not what the image ships.
    for sanitizer_runtime in ('libasan8', 'libubsan1', 'libstdc++6', 'libgcc-s1'):
        pkgs.discard(sanitizer_runtime)
    return pkgs


def check_dockerfile(name, opts, tools_pkgs, targets):
    path = os.path.join(DOCKER, name)
    where = rel(path)
    with open(path) as f:
        text = f.read()
    mentions_capabilities(where, text)
    ins = instructions(path)
    stages, stage, entry, cmd = {}, None, None, None
    files = {}   # path in the image -> file in the repository (COPY)
    for n, word, args in ins:
        at = '%s:%d' % (where, n)
        if word == 'FROM':
            m = re.match(r'(\S+)(?:\s+AS\s+(\S+))?$', args, re.I)
            if not check(m, '%s: FROM %s' % (at, args)):
                continue
            image, stage = m.group(1), m.group(2)
            check(image in stages or image == 'scratch' or re.match(r'debian:12(-slim)?$', image),
                  '%s: FROM %s: neither an earlier stage nor debian:12' % (at, image))
            stages[stage] = {'from': image, 'apt': [], 'lines': []}
            entry = cmd = None
            continue
        if stage not in stages:
            fail('%s: %s before FROM' % (at, word))
            continue
        st = stages[stage]
        st['lines'].append((n, word, args))
        if word == 'RUN':
            st['apt'] += apt_packages(args)
            for o, v in re.findall(r'-D(\w+)=(\S+)', args):
                check(o in opts or o.startswith('b_'),
                      '%s: meson option %s is not in meson_options.txt' % (at, o))
                if opts.get(o) == 'feature':
                    check(v in ('enabled', 'disabled', 'auto'), '%s: -D%s=%s' % (at, o, v))
        elif word == 'COPY':
            words = shlex.split(args)
            frm = [w.split('=', 1)[1] for w in words if w.startswith('--from=')]
            words = [w for w in words if not w.startswith('--')]
            srcs, dst = words[:-1], words[-1]
            if frm:
                check(frm[0] in stages, '%s: COPY --from=%s: no such stage' % (at, frm[0]))
                for s in srcs:
                    m = re.match(r'/build/(.*)$', s)
                    check(m and m.group(1) in targets,
                          '%s: %s is not a file the meson build makes' % (at, s))
            else:
                for s in srcs:
                    check(os.path.exists(os.path.join(SRC, s)),
                          '%s: COPY %s: not in the repository' % (at, s))
                    if len(srcs) == 1 and not dst.endswith('/'):
                        files[dst] = os.path.join(SRC, s)
        elif word == 'ENTRYPOINT':
            entry = exec_form(at, args)
        elif word == 'CMD':
            cmd = exec_form(at, args)
        st['entry'], st['cmd'] = entry, cmd
    # The build stage: the packages of tools/setup, minus the test tools.
    build = stages.get('build')
    if check(build, '%s: no stage named build' % where):
        check(build['apt'], '%s: the build stage installs nothing' % where)
        extra = set(build['apt']) - tools_pkgs
        check(not extra, '%s: the build stage installs %s, which tools/setup does not'
              % (where, ' '.join(sorted(extra))))
        for dep in ('meson', 'ninja-build', 'libuv1-dev', 'libseccomp-dev', 'libmsgpack-dev',
                    'libyaml-dev'):
            check(dep in build['apt'], '%s: the build stage lacks %s' % (where, dep))
        check(any(w == 'RUN' and 'meson setup' in a and 'ninja' in a for _, w, a in build['lines']),
              '%s: the build stage does not run meson setup and ninja' % where)
    final = list(stages.values())[-1]
    argv = (final.get('entry') or []) + (final.get('cmd') or [])
    check(argv, '%s: the final stage has no ENTRYPOINT/CMD' % where)
    if argv:
        check(check_argv('%s ENTRYPOINT+CMD' % where, argv, files),
              '%s: ENTRYPOINT+CMD does not run sentrace or sentrace-probe' % where)
    return stages


def main():
    opts = meson_options()
    # Being added as a feature option; the images need it.
    check(opts.get('static_tracer') == 'feature',
          'meson_options.txt has no feature option static_tracer')
    tools_pkgs = setup_packages()
    check(tools_pkgs, 'no packages=( ... ) list in tools/setup')
    targets = meson_targets()

    app = check_dockerfile('Dockerfile', opts, tools_pkgs, targets)
    final = list(app.values())[-1]
    check(final.get('entry', [None])[:2] == ['/usr/bin/sentrace', 'trace'] and
          final['entry'][-1:] == ['--'] and final.get('cmd') == ['/usr/bin/myapp'],
          'Dockerfile: ENTRYPOINT sentrace trace ... -- and CMD /usr/bin/myapp expected')
    # sentrace as root, the app under --uid/--gid, with the capabilities
    # compose.yaml gives the app's container.
    users = [a for _, w, a in final['lines'] if w == 'USER']
    check(users and users[-1].split(':')[0] in ('0', 'root'),
          'Dockerfile: the app stage must run sentrace as root (USER 0:0); the app '
          'runs under --uid/--gid')
    svc = load_yaml(contrib('docker', 'compose.yaml'))[0]['services'].get('myapp', {})
    check('ALL' in (svc.get('cap_drop') or []),
          'compose.yaml: myapp should drop every capability but what sentrace needs')
    if final.get('entry'):
        check_uid_drop_runs('Dockerfile ENTRYPOINT', final['entry'] + ['/usr/bin/myapp'],
                            svc.get('cap_add') or [])
    check(any(w == 'COPY' and 'sentrace-static' in a and a.split()[-1] == '/usr/bin/sentrace'
              for _, w, a in final['lines']),
          'Dockerfile: the app stage does not install sentrace-static as /usr/bin/sentrace')
    check(any(w == 'RUN' and '-Dstatic_tracer=enabled' in a
              for _, w, a in app.get('build', {}).get('lines', [])),
          'Dockerfile: the build stage does not pass -Dstatic_tracer=enabled')
    r = run(['sh', '-n', contrib('docker', 'myapp')])
    check(r.returncode == 0, 'contrib/docker/myapp: sh -n: ' + r.stderr.strip())

    probe = check_dockerfile('Dockerfile.probe', opts, tools_pkgs, targets)
    final = list(probe.values())[-1]
    need = runtime_library_packages(PROBE)
    check(need, 'ldd found no libraries in %s' % PROBE)
    missing = need - set(final['apt'])
    check(not missing, 'Dockerfile.probe: the runtime stage lacks %s (the probe links '
          'against their libraries)' % ' '.join(sorted(missing)))

    check_dockerfile('Dockerfile.tracer', opts, tools_pkgs, targets)

    static = os.path.join(BUILD, 'src', 'tracer', 'sentrace-static')
    if os.path.exists(static):
        r = run(['file', '-L', static]) if os.path.exists('/usr/bin/file') else None
        if r and r.returncode == 0:
            check('statically linked' in r.stdout or 'static-pie' in r.stdout,
                  '%s is not statically linked: %s' % (static, r.stdout.strip()))
    print('note: the images are not built here (no Docker engine)')
    finish()


if __name__ == '__main__':
    main()
