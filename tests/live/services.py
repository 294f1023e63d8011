"""The live fixtures: test users, a private sshd and smbd on loopback, and client sessions.

Every process is started here with subprocess and recorded; `Processes.stop_all` stops
them, and everything they forked, by pid (SIGTERM, then SIGKILL). Nothing is ever killed
by name, and nothing that was not started here is touched.
"""

import errno
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import procfs

SSHD = "/usr/sbin/sshd"  # sshd re-executes itself and needs an absolute path
SMBD = "/usr/sbin/smbd"
SFTP_SERVER_CANDIDATES = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server")


class SetupError(Exception):
    """The fixture could not be set up: the run bails out."""


def run(cmd, **kw):
    """Runs a command to completion; raises SetupError with its output when it fails."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.STDOUT)
    kw.setdefault("timeout", 60)
    r = subprocess.run(cmd, **kw)
    if r.returncode != 0:
        out = r.stdout.decode("utf-8", "replace") if isinstance(r.stdout, bytes) else (r.stdout or "")
        raise SetupError("%s failed (exit %d): %s" % (" ".join(cmd), r.returncode, out.strip()[-800:]))
    return r


def note(msg):
    """One `# …` line of the test report."""
    print("# %s" % msg, flush=True)


def short(v, limit=300):
    """`v` (text, or anything as JSON) cut to `limit` characters for a report line."""
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def log_tail(path, n=10):
    """The last `n` lines of a log file, on one line."""
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().splitlines()[-n:])
    except OSError:
        return "(no log)"


def wait_for(predicate, timeout, interval=0.05):
    """Polls `predicate` until it returns a true value (returned) or `timeout` seconds pass (None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


# --- processes -----------------------------------------------------------------------------


class Started:
    """A process this harness started."""

    def __init__(self, name, popen, starttime):
        self.name = name
        self.popen = popen
        self.pid = popen.pid
        self.starttime = starttime  # from /proc, guards against pid reuse when signalling


class Processes:
    """The registry of started processes."""

    def __init__(self, log):
        self.started = []
        self.log = log

    def start(self, name, cmd, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        try:
            popen = subprocess.Popen(cmd, **kw)
        finally:
            for key in ("stdout", "stderr"):  # the child has its own copy of log files
                if hasattr(kw[key], "close"):
                    kw[key].close()
        p = procfs.read_proc(popen.pid)
        s = Started(name, popen, p.starttime if p else None)
        self.started.append(s)
        self.log("started %s: pid %d: %s" % (name, popen.pid, " ".join(cmd)))
        return s

    def stop(self, items, grace=3.0):
        """Stops the given started processes and all their descendants, by pid."""
        procs = procfs.snapshot()
        kids = procfs.children_map(procs)
        targets = []  # (pid, starttime, name)
        for s in items:
            if s.popen.poll() is None and procfs.alive(s.pid, s.starttime):
                targets.append((s.pid, s.starttime, s.name))
            for d in procfs.descendants(procs, s.pid, kids):
                targets.append((d, procs[d].starttime, "%s child %r" % (s.name, procs[d].title)))
        for s in items:
            if s.popen.stdin and not s.popen.stdin.closed:
                try:
                    s.popen.stdin.close()
                except OSError:
                    pass
        self._signal(targets, signal.SIGTERM)
        live = lambda: [t for t in targets if procfs.alive(t[0], t[1])]
        deadline = time.monotonic() + grace
        while live() and time.monotonic() < deadline:
            self._reap(items)
            time.sleep(0.05)
        rest = live()
        if rest:
            self.log("SIGKILL %s" % ", ".join("%s (%d)" % (t[2], t[0]) for t in rest))
            self._signal(rest, signal.SIGKILL)
            wait_for(lambda: not live() or self._reap(items), 3)
        for s in items:
            try:
                s.popen.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.log("%s (pid %d) did not exit" % (s.name, s.pid))
            if s in self.started:
                self.started.remove(s)

    @staticmethod
    def _reap(items):
        for s in items:
            s.popen.poll()
        return False

    @staticmethod
    def _signal(targets, sig):
        for pid, starttime, _name in targets:
            if procfs.alive(pid, starttime):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass

    def stop_all(self):
        """Stops everything, latest first (clients before servers)."""
        for s in reversed(list(self.started)):
            self.stop([s])


# --- ports and directories -----------------------------------------------------------------


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def port_free(port, addrs):
    for addr in addrs:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            # as sshd and smbd do: TIME_WAIT leftovers of the last run do not block the port
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                s.bind((addr, port))
            except OSError as e:
                if e.errno in (errno.EADDRINUSE, errno.EACCES):
                    return False
                raise
    # also not taken on the wildcard address by someone else
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            with socket.socket(fam, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((addr, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
    return True


def free_port(start, addrs, avoid=()):
    for port in range(start, start + 500):
        if port not in avoid and port_free(port, addrs):
            return port
    raise SetupError("no free port in %d..%d" % (start, start + 499))


def make_workdir():
    """A private temp dir on an exec-allowed file system (it holds the smbstatus wrapper)."""
    for base in ("/tmp", "/var/tmp", "/run"):
        try:
            st = os.statvfs(base)
        except OSError:
            continue
        if st.f_flag & getattr(os, "ST_NOEXEC", 8):
            continue
        d = tempfile.mkdtemp(prefix="linmgmt-live-", dir=base)
        # traversable by the test users: smbd serves the share as them
        os.chmod(d, 0o711)
        return d
    raise SetupError("no temp dir without noexec")


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


# --- users ---------------------------------------------------------------------------------


def ensure_user(name, log):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment", "linmgmt live test", name])
    log("created user %s" % name)
    return pwd.getpwnam(name)


def ensure_group_member(group, user, log):
    """Makes `user` a supplementary member of `group`, creating the group when absent
    (`groupadd`, `usermod -a -G`); returns the group entry."""
    try:
        gr = grp.getgrnam(group)
    except KeyError:
        run(["groupadd", group])
        log("created group %s" % group)
        gr = grp.getgrnam(group)
    if user not in gr.gr_mem:
        run(["usermod", "--append", "--groups", group, user])
        log("added %s to group %s" % (user, group))
        gr = grp.getgrnam(group)
    return gr


def install_authorized_key(pw, pubkey):
    """Makes `pubkey` the only authorized key of the test user (they exist only for these tests)."""
    ssh_dir = os.path.join(pw.pw_dir, ".ssh")
    os.makedirs(ssh_dir, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    os.chown(ssh_dir, pw.pw_uid, pw.pw_gid)
    path = os.path.join(ssh_dir, "authorized_keys")
    write(path, pubkey if pubkey.endswith("\n") else pubkey + "\n", 0o600)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def remove_authorized_key(pw, pubkey):
    path = os.path.join(pw.pw_dir, ".ssh", "authorized_keys")
    try:
        with open(path) as f:
            lines = f.readlines()
        keep = [l for l in lines if l.strip() != pubkey.strip()]
        with open(path, "w") as f:
            f.writelines(keep)
    except OSError:
        pass


# --- sshd ----------------------------------------------------------------------------------


class Sshd:
    def __init__(self, workdir, port, listen, users, procs, log, internal_sftp=False):
        self.dir = os.path.join(workdir, "ssh")
        os.mkdir(self.dir, 0o700)
        self.port = port
        self.listen = listen
        self.procs = procs
        self.log_path = os.path.join(self.dir, "sshd.log")
        self.conf = os.path.join(self.dir, "sshd_config")
        self.host_key = os.path.join(self.dir, "ssh_host_ed25519_key")
        self.client_key = os.path.join(self.dir, "id_ed25519")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "linmgmt-live-host", "-f", self.host_key])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "linmgmt-live-client", "-f", self.client_key])
        with open(self.client_key + ".pub") as f:
            self.client_pub = f.read().strip()
        sftp = "internal-sftp"
        if not internal_sftp:
            sftp = next((p for p in SFTP_SERVER_CANDIDATES if os.access(p, os.X_OK)), sftp)
        self.sftp_server = sftp
        lines = [
            "# linmgmt live tests: a private sshd on loopback only",
            "Port %d" % port,
            *("ListenAddress %s" % a for a in listen),
            "HostKey %s" % self.host_key,
            "PidFile %s" % os.path.join(self.dir, "sshd.pid"),
            "UsePAM yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "AllowUsers %s" % " ".join(users),
            "PermitRootLogin no",
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "LogLevel VERBOSE",
            "LoginGraceTime 30",
            # the events burst (tests/live/events.py) logs in 20 at a time: the default
            # MaxStartups 10:30:100 would refuse some of the unauthenticated connections
            "MaxStartups 200",
            "MaxSessions 50",
            "Subsystem sftp %s" % sftp,
        ]
        write(self.conf, "\n".join(lines) + "\n", 0o600)
        run([SSHD, "-t", "-f", self.conf])
        self.proc = None

    def start(self):
        self.proc = self.procs.start(
            "sshd",
            [SSHD, "-D", "-f", self.conf, "-E", self.log_path],
            stderr=open(self.log_path, "ab"),
            start_new_session=True,  # see Smbd.start
        )
        want = {(a, self.port) for a in self.listen}
        ok = wait_for(lambda: want <= set(procfs.listening_addresses([self.proc.pid])), 10)
        if not ok:
            raise SetupError("sshd did not listen on %s; log: %s" % (sorted(want), self.log_tail()))

    def log_tail(self, n=15):
        return log_tail(self.log_path, n)

    def client_opts(self):
        return [
            "-F", "/dev/null",
            "-i", self.client_key,
            "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=10",
            "-o", "LogLevel=ERROR",
        ]  # fmt: skip


# --- smbd ----------------------------------------------------------------------------------


class Smbd:
    def __init__(self, workdir, port, procs, owner):
        self.dir = os.path.join(workdir, "smb")
        os.mkdir(self.dir, 0o711)
        self.port = port
        self.procs = procs
        sub = {}
        for name, mode in (
            ("private", 0o700),
            ("lock", 0o755),
            ("state", 0o755),
            ("cache", 0o755),
            ("pid", 0o755),
            ("ncalrpc", 0o755),
            ("binddns", 0o700),
            ("log", 0o755),
            ("share", 0o777),
        ):
            sub[name] = os.path.join(self.dir, name)
            os.mkdir(sub[name])
            os.chmod(sub[name], mode)
        self.share = sub["share"]
        self.log_dir = sub["log"]
        self.file_name = "a.txt"
        path = os.path.join(self.share, self.file_name)
        write(path, "linmgmt live test file\n", 0o664)
        os.chown(path, owner.pw_uid, owner.pw_gid)
        self.conf = os.path.join(self.dir, "smb.conf")
        text = """# linmgmt live tests: a private smbd on loopback only
[global]
    server role = standalone server
    netbios name = LINMGMTLIVE
    workgroup = LINMGMT
    security = user
    passdb backend = tdbsam
    smb ports = {port}
    interfaces = lo
    bind interfaces only = yes
    disable netbios = yes
    lock directory = {lock}
    state directory = {state}
    cache directory = {cache}
    private dir = {private}
    pid directory = {pid}
    ncalrpc dir = {ncalrpc}
    binddns dir = {binddns}
    log file = {log}/log.%m
    max log size = 0
    log level = 1
    map to guest = Bad User
    guest account = nobody
    server min protocol = SMB2
    disable spoolss = yes
    load printers = no
    printing = bsd
    printcap name = /dev/null
    rpc start on demand helpers = no
    usershare max shares = 0
    registry shares = no
    include system krb5 conf = no

[share]
    path = {share}
    read only = no
    guest ok = yes
""".format(port=port, **sub)
        write(self.conf, text, 0o644)
        self.smbstatus_wrapper = os.path.join(self.dir, "smbstatus")
        write(
            self.smbstatus_wrapper,
            '#!/bin/sh\n# smbstatus for the private smbd of the linmgmt live tests\nexec smbstatus -s %s "$@"\n'
            % self.conf,
            0o755,
        )
        run(["testparm", "-s", "--suppress-prompt", self.conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.proc = None

    def add_user(self, name, password):
        run(["smbpasswd", "-c", self.conf, "-a", "-s", name], input=("%s\n%s\n" % (password, password)).encode())

    def start(self, listen):
        out = open(os.path.join(self.log_dir, "smbd.out"), "ab")
        # Its own session and process group: on SIGTERM the smbd parent (4.17) signals its whole
        # process group, --no-process-group or not, which would otherwise take down this harness
        # and whatever ran it (.ci/run).
        self.proc = self.procs.start(
            "smbd",
            [SMBD, "--foreground", "--no-process-group", "-s", self.conf],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
        want = {(a, self.port) for a in listen}
        ok = wait_for(lambda: want <= set(procfs.listening_addresses([self.proc.pid])), 15)
        if not ok:
            raise SetupError("smbd did not listen on %s; see %s" % (sorted(want), self.log_dir))

    def status(self):
        """smbstatus --json for this smbd, parsed (None on failure)."""
        r = subprocess.run(
            [self.smbstatus_wrapper, "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=20
        )
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def listen_pids(self):
        """The smbd parent (listener) pid."""
        return [self.proc.pid] if self.proc else []


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
