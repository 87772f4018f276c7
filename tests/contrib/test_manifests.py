# SPDX-License-Identifier: Apache-2.0
"""contrib/kubernetes, contrib/docker/compose.yaml and the probe's example
configurations: every YAML file parses (libyaml, through yaml2json); the
probe configurations are accepted by `sentrace-probe config`; the
Deployments have the shape docs/deploy.md describes (init container with
sentrace setup, shared emptyDir, wrapped or attaching tracer, probe sidecar,
shared pid namespace, capabilities); every sentrace and sentrace-probe
command line in them passes the real CLI. Nothing is applied to a cluster:
there is none here."""

import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from contribtest import (SRC, UID_DROP_CAPS, check, check_argv,  # noqa: E402
                         check_probe_config, check_uid_drop_runs, contrib, fail, finish,
                         load_yaml, mentions_capabilities, rel)

K8S = contrib('kubernetes')


def load(path):
    try:
        return load_yaml(path)
    except ValueError as e:
        fail(str(e))
        return []


def probe_configs():
    check_probe_config('contrib/probe.yaml', contrib('probe.yaml'),
                       '127.0.0.1:5678', '/var/log/sentrace/events.json')
    check_probe_config('contrib/docker/probe.yaml', contrib('docker', 'probe.yaml'),
                       '127.0.0.1:5678', '-')
    for path in (contrib('probe.yaml'), contrib('docker', 'probe.yaml')):
        docs = load(path)
        check(len(docs) == 1 and isinstance(docs[0], dict)
              and isinstance(docs[0].get('runtime_security_config'), dict),
              '%s: runtime_security_config expected' % rel(path))


def configmap_files(objs, tmp):
    """{ConfigMap name: {key: path of a scratch copy}}."""
    out = {}
    for o in objs:
        if o.get('kind') != 'ConfigMap':
            continue
        name = o['metadata']['name']
        out[name] = {}
        for key, text in (o.get('data') or {}).items():
            path = os.path.join(tmp, '%s-%s' % (name, key))
            with open(path, 'w') as f:
                f.write(text)
            out[name][key] = path
    return out


def mounted_files(pod, container, cms):
    """{path in the container: scratch copy} for ConfigMap volumes."""
    vols = {v['name']: v for v in pod.get('volumes') or []}
    out = {}
    for m in container.get('volumeMounts') or []:
        v = vols.get(m['name'])
        if v and 'configMap' in v:
            for key, path in cms.get(v['configMap']['name'], {}).items():
                out[m['mountPath'].rstrip('/') + '/' + key] = path
    return out


def caps(c):
    sc = c.get('securityContext') or {}
    cap = sc.get('capabilities') or {}
    return sc, set(cap.get('add') or []), set(cap.get('drop') or [])


def check_deployment(where, dep, cms):
    pod = dep['spec']['template']['spec']
    check(dep['spec']['selector']['matchLabels'].items()
          <= dep['spec']['template']['metadata']['labels'].items(),
          '%s: the selector does not match the pod labels' % where)
    check(pod.get('shareProcessNamespace') is True, '%s: shareProcessNamespace: true expected' % where)
    vols = {v['name']: v for v in pod.get('volumes') or []}
    inits = pod.get('initContainers') or []
    containers = pod.get('containers') or []
    for c in inits + containers:
        argv = (c.get('command') or []) + (c.get('args') or [])
        check(argv, '%s: container %s has no command' % (where, c['name']))
        if argv:
            check_argv('%s container %s' % (where, c['name']), argv,
                       mounted_files(pod, c, cms))
    # The init container fills an emptyDir with the tracer.
    setup = [c for c in inits if c.get('command', [None])[1:2] == ['setup']]
    if not check(len(setup) == 1, '%s: one init container running sentrace setup expected' % where):
        return None
    setup = setup[0]
    vol_dir = setup['command'][setup['command'].index('--cws-volume-mount') + 1]
    mounts = {m['mountPath']: m['name'] for m in setup.get('volumeMounts') or []}
    vol = mounts.get(vol_dir)
    check(vol and 'emptyDir' in vols.get(vol, {}),
          '%s: sentrace setup does not write into an emptyDir mounted at %s' % (where, vol_dir))
    sc, add, drop = caps(setup)
    check(not add and 'ALL' in drop, '%s: the init container needs no capability' % where)
    # The probe sidecar: no capabilities, its configuration from the ConfigMap.
    probe = [c for c in containers if os.path.basename((c.get('command') or [''])[0]) == 'sentrace-probe']
    if check(len(probe) == 1, '%s: one sentrace-probe sidecar expected' % where):
        sc, add, drop = caps(probe[0])
        check(not add and 'ALL' in drop and sc.get('runAsNonRoot') is True,
              '%s: the probe runs as non-root without capabilities' % where)
    # The tracer runs from the shared volume, mounted read-only.
    users = [c for c in containers
             if any(m['name'] == vol for m in c.get('volumeMounts') or [])]
    check(users, '%s: no container mounts the tracer volume' % where)
    for c in users:
        m = [m for m in c['volumeMounts'] if m['name'] == vol][0]
        check(m.get('readOnly') is True, '%s: %s mounts the tracer volume writable' % (where, c['name']))
    return pod, vol_dir, containers


def kubernetes():
    objs = []
    for path in sorted(glob.glob(os.path.join(K8S, '*.yaml'))):
        with open(path) as f:
            mentions_capabilities(rel(path), f.read())
        for o in load(path):
            if o is None:
                continue
            check(isinstance(o, dict) and 'apiVersion' in o and 'kind' in o
                  and 'name' in (o.get('metadata') or {}),
                  '%s: a document without apiVersion, kind and metadata.name' % rel(path))
            o['_file'] = rel(path)
            objs.append(o)
    with tempfile.TemporaryDirectory(prefix='sentrace-k8s-') as tmp:
        cms = configmap_files(objs, tmp)
        if check('sentrace-probe-config' in cms and 'probe.yaml' in cms['sentrace-probe-config'],
                 'no ConfigMap sentrace-probe-config with probe.yaml'):
            check_probe_config('ConfigMap sentrace-probe-config',
                               cms['sentrace-probe-config']['probe.yaml'], '127.0.0.1:5678', '-')
        deps = {o['metadata']['name']: o for o in objs if o.get('kind') == 'Deployment'}
        for o in deps.values():
            for v in o['spec']['template']['spec'].get('volumes') or []:
                if 'configMap' in v:
                    check(v['configMap']['name'] in cms, '%s: ConfigMap %s not in contrib/kubernetes'
                          % (o['_file'], v['configMap']['name']))

        # Wrap mode: the app's entrypoint behind the tracer from the volume.
        wrap = deps.get('myapp')
        if check(wrap, 'no Deployment myapp (wrap mode)'):
            r = check_deployment('%s' % wrap['_file'], wrap, cms)
            if r:
                pod, vol_dir, containers = r
                app = [c for c in containers if c['name'] == 'myapp']
                if check(app, 'wrap: no container myapp'):
                    cmd = app[0]['command']
                    check(cmd[:2] == [vol_dir + '/sentrace', 'trace'] and '--' in cmd,
                          'wrap: myapp does not start through %s/sentrace trace -- ...' % vol_dir)
                    check(cmd[cmd.index('--') + 1:] == ['/app/start'],
                          'wrap: the wrapped entrypoint is not /app/start')
                    sc, add, drop = caps(app[0])
                    check(add == UID_DROP_CAPS and 'ALL' in drop and sc.get('runAsUser') == 0,
                          'wrap: myapp should run sentrace as uid 0 with %s only, all '
                          'else dropped, and the app under --uid/--gid'
                          % ' '.join(sorted(UID_DROP_CAPS)))
                    check_uid_drop_runs('%s myapp command' % wrap['_file'], cmd, add)

        # Attach mode: the app untouched, a sidecar attaching by pid.
        att = deps.get('myapp-attached')
        if check(att, 'no Deployment myapp-attached (attach mode)'):
            r = check_deployment(att['_file'], att, cms)
            if r:
                pod, vol_dir, containers = r
                app = [c for c in containers if c['name'] == 'myapp']
                check(app and '/sentrace' not in ' '.join(app[0]['command'])
                      and not caps(app[0])[1],
                      'attach: myapp must run unchanged and without capabilities')
                side = [c for c in containers if c['name'] == 'sentrace-attach']
                if check(side, 'attach: no sentrace-attach sidecar'):
                    script = side[0]['command'][-1]
                    check(vol_dir + '/sentrace trace --probe-addr 127.0.0.1:5678' in script
                          and '--pid' in script, 'attach: the sidecar does not run sentrace --pid')
                    sc, add, drop = caps(side[0])
                    check('SYS_PTRACE' in add and 'ALL' in drop and sc.get('runAsUser') == 0,
                          'attach: the sidecar needs SYS_PTRACE as uid 0, all else dropped')
                    env = {e['name']: e.get('value') for e in side[0].get('env') or []}
                    check(env.get('APP_CMD') == app[0]['command'][0] if app else False,
                          'attach: APP_CMD does not name the app\'s command')


def compose():
    path = contrib('docker', 'compose.yaml')
    with open(path) as f:
        mentions_capabilities(rel(path), f.read())
    docs = load(path)
    if not check(len(docs) == 1 and 'services' in docs[0], '%s: no services' % rel(path)):
        return
    svcs = docs[0]['services']
    base = os.path.dirname(path)
    for name, s in svcs.items():
        b = s.get('build') or {}
        ctx = os.path.normpath(os.path.join(base, b.get('context', '.')))
        check(ctx == os.path.normpath(SRC), '%s: %s builds from %s, not the repository'
              % (rel(path), name, ctx))
        df = os.path.join(ctx, b.get('dockerfile', 'Dockerfile'))
        check(os.path.isfile(df), '%s: %s: no %s' % (rel(path), name, rel(df)))
    check(svcs.get('myapp', {}).get('network_mode') == 'service:sentrace-probe',
          '%s: myapp must share the probe\'s network namespace (127.0.0.1:5678)' % rel(path))


def main():
    probe_configs()
    kubernetes()
    compose()
    finish()


if __name__ == '__main__':
    main()
