# SPDX-License-Identifier: Apache-2.0
"""The behaviours of the scenario tests: for every rule of the default
policy that can be exercised for real, a shell step that makes it fire.

Steps are grouped; each group becomes one shell script traced by one
`sentrace trace` run (test_scenarios.py). In the scripts:

  $A    the actor program (tests/scenarios/actor.c) for raw system calls
  $S    the scratch directory (/tmp/sentrace-scn-XXXX)
  $B    stand-ins: copies of /bin/true under borrowed names (xmrig, nc,
        shutdown, …) - they do nothing whatever their arguments
  $D    stand-in servers: copies of /bin/sh named nginx, php-fpm8.2, java,
        node, postgres, redis-server, curl, sudo, vim - they run the
        shell code given with -c, so what they start has them as parent
  $X    copies of the actor under borrowed names (ssh)
  $PY   the Python interpreter
  $TOP  a scratch file name at the top level of /tmp ($TOP-drop, …)
  $HID  a hidden directory at the top of /tmp
  $SHM  a scratch directory in /dev/shm

Steps that touch real system paths (cron.d, sudoers.d, ld.so.preload,
/etc/shadow, /usr/bin, …) only create files of their own, named
*sentrace-scn*, or open existing files without writing; test_scenarios.py
removes everything they create (and any directory it had to create) in a
finally block. Steps needing a private mount namespace are marked
needs='mountns' and skipped where unshare(CLONE_NEWNS) is not allowed.
"""


class Step:
    def __init__(self, name, script, expect, needs=None, paths=()):
        self.name = name
        self.script = script
        self.expect = list(expect)
        self.needs = needs
        # Real system paths the step may create; removed afterwards.
        self.paths = list(paths)


# Copies of /bin/true used as stand-ins (B), of /bin/sh (D), of the actor (X).
TRUE_STANDINS = [
    'ruby', 'php', 'pkexec', 'su', 'passwd', 'setenforce', 'auditctl', 'iptables',
    'systemctl', 'sshd', 'cc', 'unshadow', 'curl', 'ip', 'lsmod', 'sudo', 'nmap',
    'linpeas.sh', 'nc', 'socat', 'openssl', 'ngrok', 'nsenter', 'debugfs', 'unshare',
    'xmrig', 'worker', 'dd', 'rm', 'shutdown',
]
SH_STANDINS = ['nginx', 'httpd', 'php-fpm8.2', 'java', 'node', 'postgres',
               'redis-server', 'curl', 'sudo', 'vim']
ACTOR_STANDINS = ['ssh']

# Directories a step may have to create under /etc and elsewhere.
SYSTEM_DIRS = ['/etc/cron.d', '/etc/systemd/system', '/etc/init.d', '/etc/profile.d',
               '/root/.ssh', '/etc/ld.so.conf.d', '/etc/pam.d', '/etc/udev/rules.d',
               '/etc/update-motd.d', '/etc/xdg/autostart', '/etc/modprobe.d', '/boot',
               '/etc/sudoers.d', '/root/.aws', '/root/.config/gcloud', '/root/.azure',
               '/root/.kube', '/root/.docker',
               '/var/run/secrets/kubernetes.io/serviceaccount']

# Credential files read by the credential access steps: created empty when
# absent, removed afterwards; existing ones are only opened for reading.
CREDENTIAL_FILES = ['/root/.ssh/id_sentrace_scn', '/root/.aws/credentials',
                    '/root/.config/gcloud/credentials.db', '/root/.azure/accessTokens.json',
                    '/root/.kube/config', '/root/.docker/config.json',
                    '/var/run/secrets/kubernetes.io/serviceaccount/token']

EXECUTION = [
    Step('shell under a web server', '$D/nginx -c "sh -c true; true"',
         ['web_server_spawned_shell']),
    Step('shell under php-fpm', '$D/php-fpm8.2 -c "sh -c true; true"',
         ['php_fpm_spawned_shell']),
    Step('shell under java', '$D/java -c "sh -c true; true"', ['java_app_spawned_shell']),
    Step('shell under node', '$D/node -c "sh -c true; true"', ['node_app_spawned_shell']),
    Step('shell under postgres and redis',
         '$D/postgres -c "sh -c true; true"; $D/redis-server -c "sh -c true; true"',
         ['database_spawned_shell']),
    Step('interpreter under a web server', '$D/httpd -c "$PY -c pass; true"',
         ['interpreter_spawned_by_server']),
    Step('program run from the top of /tmp (chmod +x first)',
         'cp /bin/true $TOP-drop && chmod 755 $TOP-drop && $TOP-drop',
         ['exec_from_tmp', 'executable_bit_set_in_tmp']),
    Step('program run from /dev/shm', 'cp /bin/true $SHM/run && $SHM/run',
         ['exec_from_dev_shm']),
    Step('fileless execution from a memfd', '$A memfd-exec /bin/true', ['fileless_memfd_execution']),
    Step('execution through /proc/self/fd', 'cp /bin/true $S/fdx && $A fd-exec $S/fdx',
         ['exec_via_proc_fd']),
    Step('python -c with socket code',
         '$PY -c "import socket; socket.socket().close()"', ['python_inline_socket_code']),
    Step('perl -e with socket code',
         'perl -e "use Socket; socket(my \\$s, PF_INET, SOCK_STREAM, 0); close \\$s"',
         ['perl_inline_socket_code']),
    Step('ruby -e with socket code', '$B/ruby -e "TCPSocket.new(\'127.0.0.1\', 1)"',
         ['ruby_inline_socket_code']),
    Step('php -r with fsockopen', '$B/php -r "fsockopen(\'127.0.0.1\', 1);"',
         ['php_inline_socket_code']),
    Step('pkexec with an empty argv', '$A exec-noargv $B/pkexec', ['pkexec_empty_argv']),
]

PERSISTENCE = [
    Step('cron file created and renamed',
         '$A open /etc/cron.d/sentrace-scn.a wc && '
         '$A rename /etc/cron.d/sentrace-scn.a /etc/cron.d/sentrace-scn.b',
         ['cron_job_write', 'cron_job_rename'],
         paths=['/etc/cron.d/sentrace-scn.a', '/etc/cron.d/sentrace-scn.b']),
    Step('systemd unit created and renamed',
         '$A open /etc/systemd/system/sentrace-scn.tmp wc && '
         '$A rename /etc/systemd/system/sentrace-scn.tmp /etc/systemd/system/sentrace-scn.service',
         ['systemd_unit_write', 'systemd_unit_rename'],
         paths=['/etc/systemd/system/sentrace-scn.tmp',
                '/etc/systemd/system/sentrace-scn.service']),
    Step('init script created', '$A open /etc/init.d/sentrace-scn wc', ['rc_script_write'],
         paths=['/etc/init.d/sentrace-scn']),
    Step('profile script created and renamed',
         '$A open /etc/profile.d/sentrace-scn.tmp wc && '
         '$A rename /etc/profile.d/sentrace-scn.tmp /etc/profile.d/sentrace-scn.sh',
         ['shell_profile_write', 'shell_profile_rename'],
         paths=['/etc/profile.d/sentrace-scn.tmp', '/etc/profile.d/sentrace-scn.sh']),
    Step('authorized_keys written and renamed',
         '$A open /root/.ssh/authorized_keys.sentrace-scn wac && '
         '$A open /root/.ssh/sentrace-scn.tmp wc && '
         '$A rename /root/.ssh/sentrace-scn.tmp /root/.ssh/authorized_keys.sentrace-scn2',
         ['authorized_keys_write', 'authorized_keys_rename'],
         paths=['/root/.ssh/authorized_keys.sentrace-scn', '/root/.ssh/sentrace-scn.tmp',
                '/root/.ssh/authorized_keys.sentrace-scn2']),
    # /etc/ld.so.preload: opened O_WRONLY|O_APPEND (created empty when
    # absent, then removed); a rename onto it only when it does not exist
    # (otherwise the rename is tried from a missing source and fails).
    Step('ld.so.preload opened for writing and renamed onto',
         '$A open /etc/ld.so.preload wa$PRELOAD_CREATE && '
         'if [ -n "$PRELOAD_CREATE" ]; then rm -f /etc/ld.so.preload; '
         '$A open /etc/sentrace-scn.preload wc; fi; '
         '$A rename /etc/sentrace-scn.preload /etc/ld.so.preload; '
         'if [ -n "$PRELOAD_CREATE" ]; then rm -f /etc/ld.so.preload; fi',
         ['ld_preload_config_write', 'ld_preload_config_rename'],
         paths=['/etc/sentrace-scn.preload']),
    Step('ld.so.conf.d file created', '$A open /etc/ld.so.conf.d/sentrace-scn.conf wc',
         ['ld_so_conf_write'], paths=['/etc/ld.so.conf.d/sentrace-scn.conf']),
    Step('PAM service file created', '$A open /etc/pam.d/sentrace-scn wc', ['pam_config_write'],
         paths=['/etc/pam.d/sentrace-scn']),
    Step('udev rule created', '$A open /etc/udev/rules.d/99-sentrace-scn.rules wc',
         ['udev_rule_write'], paths=['/etc/udev/rules.d/99-sentrace-scn.rules']),
    Step('motd script created', '$A open /etc/update-motd.d/99-sentrace-scn wc',
         ['motd_script_write'], paths=['/etc/update-motd.d/99-sentrace-scn']),
    Step('XDG autostart entry created', '$A open /etc/xdg/autostart/sentrace-scn.desktop wc',
         ['xdg_autostart_write'], paths=['/etc/xdg/autostart/sentrace-scn.desktop']),
    Step('modprobe.d file created', '$A open /etc/modprobe.d/sentrace-scn.conf wc',
         ['kernel_module_config_write'], paths=['/etc/modprobe.d/sentrace-scn.conf']),
    Step('/etc/passwd opened for appending (nothing written)', '$A open /etc/passwd wa',
         ['account_file_modified']),
    Step('/etc/shadow opened for appending (nothing written)', '$A open /etc/shadow wa',
         ['credential_file_modified', 'shadow_file_opened']),
    Step('web server writes a PHP file', '$D/nginx -c ": > $S/shell.php"', ['web_shell_written']),
    Step('file created in /boot', '$A open /boot/sentrace-scn.tmp wc', ['boot_directory_write'],
         paths=['/boot/sentrace-scn.tmp']),
    Step('hard link into cron.d', 'touch $S/cronsrc; ln $S/cronsrc /etc/cron.d/sentrace-scn.link || true',
         ['persistence_file_hardlinked'], paths=['/etc/cron.d/sentrace-scn.link']),
    Step('symbolic link into cron.d', 'ln -s /dev/null /etc/cron.d/sentrace-scn.sym',
         ['persistence_file_symlinked'], paths=['/etc/cron.d/sentrace-scn.sym']),
    Step('kernel module from a file and from memory (both fail)',
         'echo notamodule > $S/x.ko && $A finit-module $S/x.ko && $A init-module',
         ['kernel_module_load', 'kernel_module_load_from_memory']),
]

PRIVILEGE_ESCALATION = [
    Step('setuid bit set with chmod', 'cp /bin/true $S/suid && chmod u+s $S/suid',
         ['setuid_setgid_bit_set']),
    Step('file created setuid', '$A open $S/suidnew wc 4755', ['setuid_file_created']),
    Step('sudoers.d file created and renamed',
         '$A open /etc/sudoers.d/sentrace.scn wc && $A open /etc/sudoers.d/.sentrace-scn wc && '
         '$A rename /etc/sudoers.d/.sentrace-scn /etc/sudoers.d/sentrace.scn2',
         ['sudoers_write', 'sudoers_rename'],
         paths=['/etc/sudoers.d/sentrace.scn', '/etc/sudoers.d/.sentrace-scn',
                '/etc/sudoers.d/sentrace.scn2']),
    Step('nobody asks for uid 0 and gid 0',
         'cp $A $S/actor-nobody && chmod 755 $S/actor-nobody && '
         'setpriv --reuid=65534 --regid=65534 --clear-groups $S/actor-nobody setuid0',
         ['setuid_root_from_non_root', 'setgid_root_from_non_root']),
    Step('capset with SYS_ADMIN and SYS_PTRACE', '$A capset',
         ['capset_sys_admin', 'capset_dangerous_capability']),
    Step('set-id program with GLIBC_TUNABLES', 'GLIBC_TUNABLES=glibc.malloc.check=0 $B/su',
         ['glibc_tunables_setid_exec']),
    Step('set-id program with LD_LIBRARY_PATH', 'LD_LIBRARY_PATH=/nonexistent $B/passwd',
         ['ld_preload_setid_exec']),
    Step('shell escape from vim under sudo', '$D/sudo -c "$D/vim -c \'sh -c true; true\'; true"',
         ['sudo_shell_escape']),
]

DEFENSE_EVASION = [
    Step('history truncated, truncated again, renamed, deleted, symlinked',
         'touch $S/.bash_history && : > $S/.zsh_history && $A truncate $S/.zsh_history && '
         'mv $S/.zsh_history $S/old-history && rm $S/.bash_history && '
         'ln -s /dev/null $S/.sh_history',
         ['shell_history_truncated', 'shell_history_truncate_call', 'shell_history_renamed',
          'shell_history_deleted', 'shell_history_symlinked']),
    Step('log file of our own truncated, timestomped, removed',
         ': > /var/log/sentrace-scn.log && $A truncate /var/log/sentrace-scn.log && '
         'touch -d 2001-01-01 /var/log/sentrace-scn.log && rm /var/log/sentrace-scn.log',
         ['system_log_truncated', 'system_log_truncate_call', 'timestamp_tampering',
          'system_log_deleted'],
         paths=['/var/log/sentrace-scn.log']),
    Step('wtmp opened for appending (nothing written)', '$A open /var/log/wtmp wa',
         ['login_records_tampering']),
    Step('kernel module unload (fails)', '$A delete-module sentrace_scn', ['kernel_module_unload']),
    Step('ptrace attach, seize and poke', '$A ptrace-attach',
         ['ptrace_attach', 'ptrace_code_injection']),
    Step('ptrace traceme', '$A ptrace-traceme', ['ptrace_anti_debug']),
    Step('thread renamed kworker', '$A prctl-name kworker/0:1', ['prctl_masquerade_daemon_name']),
    Step('thread renamed kworker, then a connection',
         '$A masquerade-connect kworker/2:1 127.0.0.1 $PORT_IRC',
         ['prctl_masquerade_daemon_name', 'masquerading_process_network_activity']),
    Step('argv0 like a kernel thread', '$A exec-argv0 "[kworker/1:0]" /bin/true',
         ['kernel_thread_argv0_masquerade']),
    Step('sshd run from scratch', '$B/sshd', ['daemon_name_from_unusual_path']),
    Step('argv0 sshd for another program', '$A exec-argv0 sshd /bin/true',
         ['comm_differs_from_executable']),
    Step('file created, renamed and removed in /usr/bin',
         '$A open /usr/bin/sentrace-scn-x wc && '
         '$A rename /usr/bin/sentrace-scn-x /usr/bin/sentrace-scn-y && rm /usr/bin/sentrace-scn-y',
         ['system_binary_written', 'system_binary_renamed', 'system_binary_removed'],
         paths=['/usr/bin/sentrace-scn-x', '/usr/bin/sentrace-scn-y']),
    Step('library created in /usr/lib', '$A open /usr/lib/libsentrace-scn.so.1 wc',
         ['system_library_written'], paths=['/usr/lib/libsentrace-scn.so.1']),
    Step('SELinux off', '$B/setenforce 0', ['security_module_disabled']),
    Step('audit rules deleted', '$B/auditctl -D', ['audit_rules_cleared']),
    Step('firewall flushed', '$B/iptables -F', ['firewall_flushed']),
    Step('auditd stopped', '$B/systemctl stop auditd', ['security_service_stopped']),
    Step('program removes itself', 'cp $A $S/dropper && $S/dropper unlink-self',
         ['executable_deleted_itself']),
    Step('BPF program load (fails)', '$A bpf-prog-load', ['bpf_program_load']),
    Step('LD_PRELOAD below a server', '$D/nginx -c "LD_PRELOAD= /bin/true; true"',
         ['ld_preload_env_exec']),
    Step('hidden program run', 'cp /bin/true $S/.hid && $S/.hid', ['hidden_file_executed']),
    Step('program run from a hidden /tmp directory',
         'mkdir $HID && cp /bin/true $HID/run && $HID/run',
         ['hidden_directory_in_tmp', 'exec_from_hidden_tmp_dir']),
    Step('compiler below a server', '$D/nginx -c "$B/cc -o x x.c; true"',
         ['compiler_spawned_by_server']),
    Step('base64 decode below a server', '$D/nginx -c "echo aGk= | base64 -d >/dev/null; true"',
         ['base64_decode_by_server']),
    Step('/dev/mem opened', '$A open /dev/mem r', ['raw_memory_device_access']),
]

CREDENTIAL_ACCESS = [
    Step('/etc/shadow read', '$A open /etc/shadow r', ['shadow_file_opened']),
    Step('SSH private key read', '$A open /root/.ssh/id_sentrace_scn r', ['ssh_private_key_read']),
    Step('grep for private keys', 'grep -r -l "BEGIN OPENSSH PRIVATE" $S/empty || true',
         ['private_key_search']),
    Step('find for AWS credentials', 'find $S/empty -path "*.aws/credentials*"',
         ['cloud_credentials_search']),
    Step('AWS credentials read', '$A open /root/.aws/credentials r', ['aws_credentials_read']),
    Step('gcloud credentials read', '$A open /root/.config/gcloud/credentials.db r',
         ['gcloud_credentials_read']),
    Step('Azure tokens read', '$A open /root/.azure/accessTokens.json r', ['azure_credentials_read']),
    Step('kubeconfig read', '$A open /root/.kube/config r', ['kubeconfig_read']),
    Step('service account token read',
         '$A open /var/run/secrets/kubernetes.io/serviceaccount/token r', ['kubernetes_token_read']),
    Step('docker config read', '$A open /root/.docker/config.json r', ['docker_config_read']),
    Step('memory of the shell opened (not read)', '$A open /proc/$$/mem r', ['proc_mem_access']),
    Step('environment of the shell read', '$A open /proc/$$/environ r', ['proc_environ_read']),
    Step('unshadow run', '$B/unshadow', ['credential_dump_tool']),
    Step('symlink to /etc/shadow', 'ln -s /etc/shadow $S/shadow-link', ['sensitive_file_symlinked']),
    Step('hard link to /etc/shadow (may fail across devices)',
         'ln /etc/shadow $S/shadow-hard 2>/dev/null; rm -f $S/shadow-hard',
         ['sensitive_file_hardlinked']),
    Step('curl to the metadata service (stand-in, no network)',
         '$B/curl http://169.254.169.254/latest/meta-data/', ['cloud_metadata_request_tool']),
]

DISCOVERY = [
    Step('reconnaissance below a web server',
         '$D/nginx -c "whoami; uname -a; ps >/dev/null; $B/ip addr; $B/lsmod; $B/sudo -l; '
         'ss -t >/dev/null; cat /etc/passwd >/dev/null; getent group >/dev/null; true"',
         ['user_discovery', 'system_info_discovery', 'process_discovery',
          'network_config_discovery', 'kernel_module_discovery', 'sudo_privileges_discovery',
          'network_connections_discovery', 'account_discovery', 'group_discovery',
          'discovery_burst']),
    Step('network scanner', '$B/nmap -sS 127.0.0.1', ['network_scanner_execution']),
    Step('search for set-uid programs', 'find $S/empty -perm -4000 -type f',
         ['setuid_binaries_search']),
    Step('linpeas', '$B/linpeas.sh', ['enumeration_script_execution']),
]

# Connections go to 127.0.0.1 only; test-overrides.policy makes loopback
# count as "outbound" for this group.
COMMAND_AND_CONTROL = [
    Step('bash /dev/tcp to a miner port',
         'bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT_MINER; exec 3>&-" 2>/dev/null || true',
         ['reverse_shell_dev_tcp', 'shell_outbound_connection', 'miner_pool_port_connection']),
    Step('bash -i without a terminal', 'bash -i -c true </dev/null 2>/dev/null',
         ['interactive_shell_without_tty']),
    Step('netcat -e', '$B/nc -e /bin/sh 127.0.0.1 4444', ['netcat_remote_exec']),
    Step('netcat listening below a server', '$D/nginx -c "$B/nc -lvp 4444; true"',
         ['netcat_listener_in_context']),
    Step('socat EXEC', '$B/socat TCP:127.0.0.1:4444 EXEC:/bin/sh', ['socat_shell']),
    Step('openssl s_client -quiet', '$B/openssl s_client -quiet -connect 127.0.0.1:4444',
         ['openssl_reverse_shell']),
    Step('python -c connecting out',
         '$PY -c "import socket; s=socket.socket(); s.settimeout(2); '
         's.connect_ex((\'127.0.0.1\', $PORT_MINER)); s.close()"',
         ['interpreter_inline_code_connection', 'python_inline_socket_code',
          'miner_pool_port_connection']),
    Step('IRC connection', '$A connect-tcp 127.0.0.1 $PORT_IRC', ['irc_connection']),
    Step('ssh to a non-standard port below a server',
         '$D/nginx -c "$X/ssh connect-tcp 127.0.0.1 $PORT_SSH; true"',
         ['ssh_non_standard_port_connection']),
    Step('ngrok', '$B/ngrok tcp 22', ['tunnel_tool_execution']),
    Step('curl below a server', '$D/nginx -c "$B/curl -o x http://127.0.0.1/; true"',
         ['remote_file_copy_by_server']),
    Step('curl writes a script to /tmp', '$D/curl -c ": > $S/payload.sh"',
         ['download_tool_writes_executable']),
    Step('curl on docker.sock', '$B/curl --unix-socket /var/run/docker.sock http://x/containers/json',
         ['container_socket_client_args']),
]

IMPACT = [
    Step('xmrig', '$B/xmrig', ['crypto_miner_by_name']),
    Step('stratum arguments', '$B/worker -o stratum+tcp://127.0.0.1:3333 --donate-level 1',
         ['crypto_miner_by_args']),
    Step('pool variables', 'POOL_URL=x $B/worker', ['crypto_miner_by_env']),
    Step('file renamed .locked', 'touch $S/doc.txt && mv $S/doc.txt $S/doc.txt.locked',
         ['ransomware_extension_rename']),
    Step('ransom note', ': > $S/HOW_TO_DECRYPT.txt', ['ransom_note_created']),
    Step('shred of our own file', 'shred $S/doc.txt.locked', ['data_destruction_tool']),
    Step('dd to a disk (stand-in)', '$B/dd if=/dev/zero of=/dev/sdz bs=1M', ['disk_wipe_with_dd']),
    Step('rm --no-preserve-root (stand-in, scratch path)',
         '$B/rm --no-preserve-root $S/nothing', ['rm_no_preserve_root']),
    Step('shutdown below a server (stand-in)', '$D/nginx -c "$B/shutdown -h now; true"',
         ['shutdown_by_server_or_container']),
    Step('sysrq-trigger opened (nothing written)', '$A open /proc/sysrq-trigger w',
         ['sysrq_trigger_write']),
]

CONTAINER_ESCAPE = [
    Step('docker.sock connect and open', '$A connect-unix /var/run/docker.sock; '
         '$A open /var/run/docker.sock r',
         ['container_socket_connect', 'container_socket_open']),
    Step('bind mount of / in a private namespace', '$A mount-ns bind-root $S/mnt',
         ['mount_host_filesystem'], needs='mountns'),
    Step('disk device mount in a private namespace (fails)', '$A mount-ns dev $S/mnt /dev/sdz9',
         ['mount_host_filesystem'], needs='mountns'),
    Step('cgroup2 mount in a private namespace', '$A mount-ns cgroup $S/mnt',
         ['mount_cgroup_filesystem'], needs='mountns'),
    Step('tmpfs over /proc/1 in a private namespace', '$A mount-ns tmpfs /proc/1',
         ['proc_pid_mount_hide'], needs='mountns'),
    Step('release_agent (scratch file)', '$A open $S/release_agent wc', ['release_agent_write']),
    Step('core_pattern opened (nothing written)', '$A open /proc/sys/kernel/core_pattern w',
         ['core_pattern_write']),
    Step('nsenter -t 1 (stand-in)', '$B/nsenter -t 1 -m -u -i -n -p sh', ['nsenter_target_process']),
    Step('file read through /proc/1/root', '$A open /proc/1/root/etc/hostname r',
         ['host_root_access_via_proc']),
    Step('chdir into /proc/1/root', '$A chdir /proc/1/root', ['host_root_chdir_via_proc']),
    Step('chdir through /proc/self/fd', '$A chdir-fd /tmp', ['chdir_via_leaked_fd']),
    Step('/proc/self/exe opened for writing (fails)', '$A open /proc/self/exe w', ['proc_exe_write']),
    Step('runc opened for writing (scratch file)', '$A open $S/runc wc',
         ['container_runtime_binary_write']),
    Step('debugfs (stand-in)', '$B/debugfs /dev/sdz', ['debugfs_execution']),
    Step('unshare -r below a server (stand-in)', '$D/nginx -c "$B/unshare -r true; true"',
         ['unshare_map_root']),
]

GROUPS = [
    ('execution', EXECUTION, False),
    ('persistence', PERSISTENCE, False),
    ('privilege_escalation', PRIVILEGE_ESCALATION, False),
    ('defense_evasion', DEFENSE_EVASION, False),
    ('credential_access', CREDENTIAL_ACCESS, False),
    ('discovery', DISCOVERY, False),
    # True: run with tests/scenarios/test-overrides.policy.
    ('command_and_control', COMMAND_AND_CONTROL, True),
    ('impact', IMPACT, False),
    ('container_escape', CONTAINER_ESCAPE, False),
]


def expected_rules():
    return sorted({rid for _, steps, _ in GROUPS for s in steps for rid in s.expect})
