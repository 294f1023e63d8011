#!/usr/bin/env python3
"""Live integration tests: linmgmt against real SSH and SMB sessions on loopback.

Run as root through `tests/live/run` (which installs the packages). Python 3 stdlib only.

What it sets up (all loopback-only, all stopped by pid at the end):
  - test users lmalice, lmbob, lmcarol (created if absent) logging in with a fresh ed25519 key;
  - a private sshd (own config, host key, log; UsePAM yes) on 127.0.0.1 and ::1, free port >= 2223;
  - ssh sessions:  lmalice@::1        `ssh -tt … 'sleep …'`       pty     -> LogonType 10
                   lmbob@127.0.0.1    `ssh … 'sleep … & read …'`  no pty  -> LogonType 3
                   lmcarol@127.0.0.1  `sftp …`                    sftp    -> LogonType 3
  - a private smbd (own config, lock/state/private dirs) on lo, free port >= 4455, share [share];
  - SMB sessions:  lmalice@127.0.0.1  SMB3 encrypted, holding a.txt open  -> SessionType 2
                   guest (nobody) from ::1                                -> SessionType 0

Server-session keys (ComputerName, UserName) never collide: lmalice's ssh session comes
from ::1 and her SMB session from 127.0.0.1, so they are two instances; merging of
connections under one key is not exercised here.

The no-pty command is `sleep N & read -r _; kill $!` rather than a bare `sleep N`: sshd does
not signal a no-pty command when its connection ends, so a bare sleep would outlive the
logout and keep its audit session (correctly) alive. This one ends when the channel closes.

Ground truth comes from /proc (audit session ids, process titles, sockets) and from
`smbstatus -s <private conf> --json`; linmgmt is run with
  LINMGMT_SMBSTATUS=<dir>/smb/smbstatus   (a wrapper: exec smbstatus -s <conf> "$@")
  LINMGMT_SSHD_LOG=<dir>/ssh/sshd.log     (the private sshd's log, for the auth method)
Only the test users' sessions are looked at: the host may have any other sessions.

Then events.py checks `linmgmt watch` (WMI events for new ssh and SMB logins, a 200-login
burst, GROUP WITHIN) with the same sshd and smbd; `--only events` runs just that (no fixed
sessions), `--skip-events` leaves it out. `--latency N [--latency-out FILE]` runs the watch
latency benchmark (latency.py) instead of the tests.

Output: one line per check, `ok - …` or `not ok - … (got …)`, comments start with `#`,
a summary at the end; exit status 1 when any check failed, 2 when setup failed.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import classes  # noqa: E402
import events  # noqa: E402
import identity  # noqa: E402
import latency  # noqa: E402
import local  # noqa: E402
import procfs  # noqa: E402
import services  # noqa: E402
from services import SetupError, note, wait_for  # noqa: E402
from services import short as _short  # noqa: E402

USERS = ("lmalice", "lmbob", "lmcarol")
SMB_PASSWORD = "Lm-live-7f3e9c"  # only for the private smbd's own passdb in the temp dir
GUEST = "nobody"
START_TOLERANCE = 2.0  # seconds between the login moment and StartTime
GONE_TIMEOUT = 10.0
ESTABLISH_TIMEOUT = 10.0


# --- output --------------------------------------------------------------------------------


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, cond, desc, got=None):
        if cond:
            self.passed += 1
            print("ok - %s" % desc, flush=True)
        else:
            self.failed.append(desc)
            tail = "" if got is None else " (got %s)" % _short(got)
            print("not ok - %s%s" % (desc, tail), flush=True)
        return bool(cond)

    def summary(self, seconds):
        total = self.passed + len(self.failed)
        print("# %d checks: %d passed, %d failed, %.1f s" % (total, self.passed, len(self.failed), seconds))
        for d in self.failed:
            print("#   failed: %s" % d)


# --- times ---------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):?(\d\d))$"
)


def parse_rfc3339(s):
    """Seconds since the epoch, or None when `s` is not an RFC 3339 date-time with offset."""
    if not isinstance(s, str):
        return None
    m = _RFC3339.match(s.strip())
    if not m:
        return None
    y, mo, d, h, mi, sec, frac, z, sign, oh, om = m.groups()
    dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec), tzinfo=timezone.utc)
    t = dt.timestamp() + (float("0." + frac) if frac else 0.0)
    if not z:
        off = (int(oh) * 60 + int(om)) * 60
        t -= off if sign == "+" else -off
    return t


def fmt_time(t):
    return datetime.fromtimestamp(t, timezone.utc).astimezone().isoformat(timespec="milliseconds")


# --- linmgmt -------------------------------------------------------------------------------


class Linmgmt:
    def __init__(self, path, env, verbose):
        self.path = path
        self.env = env
        self.verbose = verbose

    def run(self, args, timeout=60):
        t0 = time.monotonic()
        try:
            r = subprocess.run(
                [self.path, *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return -1, "", str(e)
        out = r.stdout.decode("utf-8", "replace")
        err = r.stderr.decode("utf-8", "replace")
        if self.verbose:
            note("$ linmgmt %s  -> exit %d in %.0f ms" % (" ".join(args), r.returncode, (time.monotonic() - t0) * 1000))
            for line in err.splitlines():
                note("  stderr: %s" % line)
        return r.returncode, out, err

    def json(self, args):
        """(instances or None, why-not)."""
        rc, out, err = self.run([*args, "--format", "json"])
        if rc != 0:
            return None, "exit %d: %s" % (rc, err.strip()[-300:])
        try:
            v = json.loads(out) if out.strip() else []
        except ValueError as e:
            return None, "invalid JSON (%s): %s" % (e, out[:200])
        if isinstance(v, dict):
            v = [v]
        if not isinstance(v, list):
            return None, "not a JSON array: %s" % out[:200]
        if self.verbose:
            note("  %d instance(s)" % len(v))
        return v, None

    def query(self, wql):
        return self.json(["query", wql])


# --- sessions ------------------------------------------------------------------------------

_TITLE_PRIV = r"^sshd(?:-session)?: %s \[priv\]"
_TITLE_CHILD = r"^sshd(?:-session|-auth)?: %s@(pts/\d+|notty|internal-sftp)"


class SshSession:
    def __init__(self, label, user, addr, kind, logon_type):
        self.label = label
        self.user = user
        self.addr = addr
        self.kind = kind  # pty | notty | sftp
        self.logon_type = logon_type
        self.client = None
        self.login_at = None  # wall clock just before the client started
        self.out_path = None
        self.monitor = None  # Proc of `sshd: USER [priv]`
        self.child = None  # Proc of `sshd: USER@…`
        self.sessionid = None
        self.members = []  # Procs with the session's audit id

    def find(self, listener_pid, ignore=()):
        """Looks for the established session below the sshd listener; True when complete.

        `ignore`: pids of `sshd: USER [priv]` monitors of other sessions of the same user.
        """
        procs = procfs.snapshot()
        below = [procs[p] for p in procfs.descendants(procs, listener_pid) if p in procs]
        priv = re.compile(_TITLE_PRIV % re.escape(self.user))
        child = re.compile(_TITLE_CHILD % re.escape(self.user))
        mons = [p for p in below if priv.match(p.title) and p.pid not in ignore]
        if len(mons) != 1:
            return False
        mon = mons[0]
        # the user child is the monitor's child; with internal-sftp it forks once more,
        # titled `sshd: USER@internal-sftp`
        kids = [p for p in below if child.match(p.title) and p.ppid == mon.pid]
        if len(kids) != 1:
            return False
        kid = kids[0]
        # No wait for the audit id: pam_loginuid runs in the monitor before it forks the user
        # child, so once the child exists the id is final (or was never set: reported later).
        work = [procs[p] for p in procfs.descendants(procs, kid.pid) if p in procs]
        if self.kind == "pty" and not any(p.comm == "sleep" for p in work):
            return False
        if self.kind == "notty" and not any(p.comm == "sleep" for p in work):
            return False
        if self.kind == "sftp":
            if not self._sftp_answered():
                return False
        self.monitor, self.child = mon, kid
        self.sessionid = mon.sessionid
        self.members = [procs[p] for p in procfs.audit_members(procs, self.sessionid)]
        return True

    def _sftp_answered(self):
        try:
            with open(self.out_path, errors="replace") as f:
                return "Remote working directory" in f.read()
        except OSError:
            return False


class SmbSession:
    def __init__(self, label, user, addr, guest):
        self.label = label
        self.user = user  # the Samba username expected (nobody for the guest)
        self.addr = addr
        self.guest = guest
        self.client = None
        self.login_at = None
        self.out_path = None
        self.session = None  # smbstatus session
        self.opens = 0  # opens held by its smbd child
        self.open_paths = []

    def find(self, status):
        if not status:
            return False
        prefix = ("ipv6:%s:" if ":" in self.addr else "ipv4:%s:") % self.addr
        mine = [
            s
            for s in (status.get("sessions") or {}).values()
            if s.get("username") == self.user and str(s.get("hostname", "")).startswith(prefix)
        ]
        if len(mine) != 1:
            return False
        sess = mine[0]
        pid = str(sess.get("server_id", {}).get("pid"))
        tcons = [t for t in (status.get("tcons") or {}).values() if str(t.get("session_id")) == str(sess["session_id"])]
        if not tcons:
            return False
        opens, paths = 0, []
        for path, f in (status.get("open_files") or {}).items():
            for o in (f.get("opens") or {}).values():
                if str(o.get("server_id", {}).get("pid")) == pid:
                    opens += 1
                    paths.append(path)
        if not self.guest and opens < 1:
            return False
        self.session, self.opens, self.open_paths = sess, opens, paths
        return True

    @property
    def smbd_pid(self):
        return int(self.session["server_id"]["pid"]) if self.session else None


# --- the run -------------------------------------------------------------------------------


class Live:
    def __init__(self, args):
        self.args = args
        self.procs = services.Processes(self.debug)
        self.workdir = None
        self.sshd = None
        self.smbd = None
        self.ssh_sessions = []
        self.smb_sessions = []
        self.users = {}
        self.lock_file = None
        self.logout_at = None

    def debug(self, msg):
        if self.args.verbose:
            note(msg)

    # setup

    def setup(self, open_sessions=True):
        if os.geteuid() != 0:
            raise SetupError("must run as root")
        for tool in ("ssh", "sftp", "ssh-keygen", "smbclient", "smbstatus", "smbpasswd", "testparm", "useradd"):
            if not shutil.which(tool):
                raise SetupError("%s not found (tests/live/run installs the packages)" % tool)
        for tool in (services.SSHD, services.SMBD):
            if not os.access(tool, os.X_OK):
                raise SetupError("%s not found" % tool)
        if not services.has_ipv6_loopback():
            raise SetupError("no ::1 on the loopback interface: the tests need IPv6 loopback")
        listen = ["127.0.0.1", "::1"]
        self.lock()

        self.workdir = services.make_workdir()
        note("work dir %s" % self.workdir)
        for u in USERS:
            self.users[u] = services.ensure_user(u, note)
        # Issue 11: lmalice in a supplementary group, for Win32_Group and Win32_GroupUser.
        services.ensure_group_member(classes.GROUP, classes.MEMBER, note)
        uids = {pw.pw_uid: u for u, pw in self.users.items()}
        already = [(p.pid, uids[p.loginuid], p.title) for p in procfs.snapshot().values() if p.loginuid in uids]
        if already:
            note("warning: the test users already have sessions (left over from an earlier run?): %s" % already)

        ssh_port = services.free_port(self.args.ssh_port, listen)
        smb_port = services.free_port(self.args.smb_port, listen, avoid={ssh_port})

        self.sshd = services.Sshd(
            self.workdir, ssh_port, listen, USERS, self.procs, self.debug, internal_sftp=self.args.internal_sftp
        )
        for u in USERS:
            services.install_authorized_key(self.users[u], self.sshd.client_pub)
        self.sshd.start()
        note("sshd pid %d on 127.0.0.1 and ::1 port %d (sftp: %s)" % (self.sshd.proc.pid, ssh_port, self.sshd.sftp_server))

        self.smbd = services.Smbd(self.workdir, smb_port, self.procs, self.users["lmalice"])
        self.smbd.add_user("lmalice", SMB_PASSWORD)
        self.smbd.start(listen)
        note("smbd pid %d on 127.0.0.1 and ::1 port %d" % (self.smbd.proc.pid, smb_port))

        if open_sessions:
            self.open_ssh_sessions()
            self.open_smb_sessions()

    LOCK_PATH = "/run/lock/linmgmt-live.lock"

    def lock(self):
        """One run at a time: the test users and their sessions belong to this harness."""
        import fcntl

        os.makedirs(os.path.dirname(self.LOCK_PATH), exist_ok=True)
        self.lock_file = open(self.LOCK_PATH, "a+")
        deadline = time.monotonic() + self.args.lock_wait
        while True:
            try:
                fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SetupError("another live run holds %s" % self.LOCK_PATH)
                time.sleep(0.5)
        self.lock_file.seek(0)
        self.lock_file.truncate()
        self.lock_file.write("%d\n" % os.getpid())
        self.lock_file.flush()

    def _sleep_seconds(self):
        return 86400 if self.args.setup_only else 600

    def open_ssh_sessions(self):
        sd = self.sshd
        n = self._sleep_seconds()
        specs = [
            (SshSession("pty ssh lmalice@::1", "lmalice", "::1", "pty", 10),
             ["ssh", "-tt", *sd.client_opts(), "-p", str(sd.port), "lmalice@::1", "sleep %d" % n]),
            (SshSession("no-pty ssh lmbob@127.0.0.1", "lmbob", "127.0.0.1", "notty", 3),
             ["ssh", "-T", *sd.client_opts(), "-p", str(sd.port), "lmbob@127.0.0.1",
              "sleep %d & read -r _; kill $! 2>/dev/null" % n]),
            (SshSession("sftp lmcarol@127.0.0.1", "lmcarol", "127.0.0.1", "sftp", 3),
             ["sftp", *sd.client_opts(), "-P", str(sd.port), "lmcarol@127.0.0.1"]),
        ]  # fmt: skip
        for s, cmd in specs:
            s.out_path = os.path.join(sd.dir, "client-%s.out" % s.user)
            out = open(s.out_path, "wb")
            s.login_at = time.time()
            s.client = self.procs.start("ssh client " + s.user, cmd, stdin=subprocess.PIPE, stdout=out, stderr=out)
            if s.kind == "sftp":
                s.client.popen.stdin.write(b"pwd\n")
                s.client.popen.stdin.flush()
            if not wait_for(lambda: s.client.popen.poll() is not None or s.find(sd.proc.pid), ESTABLISH_TIMEOUT) or (
                s.monitor is None
            ):
                with open(s.out_path, errors="replace") as f:
                    out_text = f.read().strip()[-400:]
                raise SetupError(
                    "%s not established within %.0f s (client exit %s; client: %r; sshd log: %s)"
                    % (s.label, ESTABLISH_TIMEOUT, s.client.popen.poll(), out_text, sd.log_tail())
                )
            self.ssh_sessions.append(s)
            self.debug("%s established in %.2f s" % (s.label, time.time() - s.login_at))

    def open_smb_sessions(self):
        sm = self.smbd
        auth = os.path.join(sm.dir, "lmalice.auth")
        services.write(auth, "username = lmalice\npassword = %s\n" % SMB_PASSWORD, 0o600)
        guest_addr = "::1"
        specs = [
            (SmbSession("SMB lmalice@127.0.0.1 (encrypted, a.txt open)", "lmalice", "127.0.0.1", False),
             ["smbclient", "//127.0.0.1/share", "-p", str(sm.port), "-A", auth, "-m", "SMB3",
              "--client-protection=encrypt"],
             b"open %s\n" % sm.file_name.encode()),
            (SmbSession("SMB guest from %s" % guest_addr, GUEST, guest_addr, True),
             ["smbclient", "//%s/share" % guest_addr, "-p", str(sm.port), "-N"],
             b"ls\n"),
        ]  # fmt: skip
        for s, cmd, feed in specs:
            s.out_path = os.path.join(sm.dir, "client-%s.out" % ("guest" if s.guest else s.user))
            out = open(s.out_path, "wb")
            s.login_at = time.time()
            s.client = self.procs.start("smbclient " + s.label, cmd, stdin=subprocess.PIPE, stdout=out, stderr=out)
            s.client.popen.stdin.write(feed)
            s.client.popen.stdin.flush()
            if not wait_for(
                lambda: s.client.popen.poll() is not None or s.find(sm.status()), ESTABLISH_TIMEOUT, 0.2
            ) or (s.session is None):
                with open(s.out_path, errors="replace") as f:
                    out_text = f.read().strip()[-400:]
                raise SetupError(
                    "%s not established within %.0f s (client exit %s; client: %r; smbstatus sessions: %s)"
                    % (s.label, ESTABLISH_TIMEOUT, s.client.popen.poll(), out_text,
                       _short(list((sm.status() or {}).get("sessions", {}).values())))
                )  # fmt: skip
            self.smb_sessions.append(s)
            self.debug("%s established in %.2f s" % (s.label, time.time() - s.login_at))

    def linmgmt_env(self):
        env = dict(os.environ)
        env["LINMGMT_SMBSTATUS"] = self.smbd.smbstatus_wrapper
        env["LINMGMT_SSHD_LOG"] = self.sshd.log_path
        # The CLI scans directly here: whichever `serve` of this run is up must not answer
        # for it (local.py tests the socket on purpose).
        env["LINMGMT_SOCKET"] = "/nonexistent/linmgmt-live.sock"
        env.pop("NO_COLOR", None)
        return env

    # ground truth

    def report_ground_truth(self, rep):
        """Checks of the fixture itself (no linmgmt involved): what the host really has."""
        for s in self.ssh_sessions:
            note(
                "%s: audit session %s, loginuid %s, monitor pid %d %r started %s, child pid %d %r"
                % (s.label, s.sessionid, s.monitor.loginuid, s.monitor.pid, s.monitor.title,
                   fmt_time(s.monitor.start_epoch()), s.child.pid, s.child.title)
            )  # fmt: skip
            note("  members: %s" % ", ".join("%d %r ses=%s" % (p.pid, p.title, p.sessionid) for p in s.members))
            uid = self.users[s.user].pw_uid
            rep.check(
                s.sessionid is not None and s.monitor.loginuid == uid,
                "ground truth: %s has an audit session (pam_loginuid) with loginuid %d" % (s.label, uid),
                {"sessionid": s.sessionid, "loginuid": s.monitor.loginuid,
                 "hint": "pam_loginuid missing from /etc/pam.d/sshd, or no CAP_AUDIT_CONTROL (container)?"},
            )  # fmt: skip
            procs = procfs.snapshot()
            inside = {s.monitor.pid} | set(procfs.descendants(procs, s.monitor.pid))
            stray = [p for p in s.members if p.pid not in inside]
            rep.check(
                not stray and s.child.sessionid == s.sessionid,
                "ground truth: audit session %s is exactly the processes of %s's connection" % (s.sessionid, s.user),
                [(p.pid, p.title) for p in stray],
            )
        utmp = procfs.utmp_users()
        if utmp is not None:
            for s in self.ssh_sessions:
                recs = [r for r in utmp if r[0] == s.user]
                note("utmp for %s: %s" % (s.user, recs or "none (sshd writes utmp only for a pty)"))
        ids = [s.sessionid for s in self.ssh_sessions]
        rep.check(len(set(ids)) == len(ids), "ground truth: the three ssh logins have distinct audit sessions", ids)

        for s in self.smb_sessions:
            sess = s.session
            smbd_child = procfs.read_proc(s.smbd_pid)
            note(
                "%s: smbstatus session %s user %s remote_machine %s hostname %s dialect %s encryption %s "
                "signing %s, smbd child %d (ses=%s), opens %d %s"
                % (s.label, sess.get("session_id"), sess.get("username"), sess.get("remote_machine"),
                   sess.get("hostname"), sess.get("session_dialect"), sess.get("encryption"), sess.get("signing"),
                   s.smbd_pid, smbd_child.sessionid if smbd_child else "?", s.opens, s.open_paths)
            )  # fmt: skip
        alice = self.smb_sessions[0]
        rep.check(
            alice.opens >= 1 and any(p.endswith("/" + self.smbd.file_name) for p in alice.open_paths),
            "ground truth: smbstatus shows %s open in lmalice's SMB session" % self.smbd.file_name,
            alice.open_paths,
        )
        rep.check(
            alice.session.get("session_dialect") == "SMB3_11"
            and (alice.session.get("encryption") or {}).get("degree") not in (None, "none"),
            "ground truth: lmalice's SMB session is SMB3_11 and encrypted",
            [alice.session.get("session_dialect"), alice.session.get("encryption")],
        )

        for name, pids, port in (
            ("sshd", [self.sshd.proc.pid], self.sshd.port),
            ("smbd", [self.smbd.proc.pid], self.smbd.port),
        ):
            addrs = procfs.listening_addresses(pids)
            rep.check(
                addrs and all(procfs.is_loopback(ip) for ip, _ in addrs) and {p for _, p in addrs} == {port},
                "ground truth: %s listens only on loopback port %d" % (name, port),
                addrs,
            )

    # the checks against linmgmt

    def check_sessions(self, rep, lm):
        logons, why = lm.query("SELECT * FROM Win32_LogonSession")
        rep.check(logons is not None, "linmgmt query Win32_LogonSession --format json succeeds", why)
        logons = logons or []
        by_id = {}
        for inst in logons:
            by_id.setdefault(str(inst.get("LogonId")), []).append(inst)

        for s in self.ssh_sessions:
            want = str(s.sessionid)
            found = by_id.get(want, [])
            rep.check(
                len(found) == 1,
                "%s: one Win32_LogonSession with LogonId %s (its audit session id)" % (s.label, want),
                "%d instance(s); LogonIds: %s" % (len(found), sorted(by_id)),
            )
            inst = found[0] if found else {}
            rep.check(
                inst.get("LogonType") == s.logon_type,
                "%s: LogonType %d" % (s.label, s.logon_type),
                inst.get("LogonType", "no instance"),
            )
            pkg = inst.get("AuthenticationPackage")
            rep.check(
                isinstance(pkg, str) and pkg.startswith("sshd") and ("/" not in pkg or pkg == "sshd/publickey"),
                "%s: AuthenticationPackage starts with sshd (sshd/publickey when the method is given)" % s.label,
                pkg if inst else "no instance",
            )
            st = inst.get("StartTime")
            t = parse_rfc3339(st)
            rep.check(
                t is not None and abs(t - s.login_at) <= START_TOLERANCE,
                "%s: StartTime within %.0f s of the login at %s" % (s.label, START_TOLERANCE, fmt_time(s.login_at)),
                "%r, %s s off; sshd [priv] started %s" % (st, "%.3f" % (t - s.login_at) if t else "?",
                                                         fmt_time(s.monitor.start_epoch())),
            )  # fmt: skip

            self.debug(
                "%s: LogonSession %s; StartTime - login = %s s, - sshd [priv] start = %s s"
                % (s.label, {k: inst.get(k) for k in ("AuthenticationPackage", "StartTime", "Caption", "Status")},
                   "%.3f" % (t - s.login_at) if t else "?", "%.3f" % (t - s.monitor.start_epoch()) if t else "?")
            )  # fmt: skip
            path = 'Win32_LogonSession.LogonId="%s"' % want
            got, why = lm.json(["get", path])
            rep.check(
                got is not None and len(got) == 1 and str(got[0].get("LogonId")) == want
                and got[0].get("LogonType") == s.logon_type,
                "%s: linmgmt get %s returns it" % (s.label, path),
                why or got,
            )  # fmt: skip

        servers, why = lm.query("SELECT * FROM Win32_ServerSession")
        rep.check(servers is not None, "linmgmt query Win32_ServerSession --format json succeeds", why)
        servers = servers or []

        def find_server(computer, user):
            return [i for i in servers if i.get("ComputerName") == computer and i.get("UserName") == user]

        def check_idle(label, inst, why):
            idle, active = inst.get("IdleTime"), inst.get("ActiveTime")
            rep.check(
                isinstance(idle, int) and isinstance(active, int) and 0 <= idle <= active + 1,
                "%s: IdleTime is set, >= 0 and <= ActiveTime+1 (%s)" % (label, why),
                "IdleTime %r ActiveTime %r" % (idle, active),
            )

        mine = sorted(
            "%s@%s" % (i.get("UserName"), i.get("ComputerName"))
            for i in servers
            if i.get("UserName") in USERS or i.get("UserName") == GUEST
        )
        for s in self.ssh_sessions:
            found = find_server(s.addr, s.user)
            rep.check(
                len(found) == 1,
                "%s: one Win32_ServerSession ComputerName=%s UserName=%s" % (s.label, s.addr, s.user),
                "%d; test users' server sessions: %s" % (len(found), mine),
            )
            inst = found[0] if found else {}
            rep.check(inst.get("SessionType") == 2, "%s: SessionType 2 (ssh)" % s.label, inst.get("SessionType"))
            if s.kind in ("notty", "sftp"):
                check_idle(s.label, inst, "TCP last receive via sock_diag, no pty")
            self.debug(
                "%s: ClientType %r TransportName %r ResourcesOpened %r ActiveTime %r IdleTime %r"
                % (s.label, inst.get("ClientType"), inst.get("TransportName"), inst.get("ResourcesOpened"),
                   inst.get("ActiveTime"), inst.get("IdleTime"))
            )  # fmt: skip

        for s in self.smb_sessions:
            found = find_server(s.addr, s.user)
            rep.check(
                len(found) == 1,
                "%s: one Win32_ServerSession ComputerName=%s UserName=%s" % (s.label, s.addr, s.user),
                "%d; test users' server sessions: %s" % (len(found), mine),
            )
            inst = found[0] if found else {}
            if s.guest:
                rep.check(inst.get("SessionType") == 0, "%s: SessionType 0 (guest)" % s.label, inst.get("SessionType"))
                check_idle(s.label, inst, "TCP last receive of the smbd child's connection")
            else:
                degree = (s.session.get("encryption") or {}).get("degree")
                want = 1 if degree == "none" else 2
                rep.check(
                    inst.get("SessionType") == want,
                    "%s: SessionType %d (encryption %s)" % (s.label, want, degree),
                    inst.get("SessionType"),
                )
                ct = inst.get("ClientType")
                rep.check(
                    isinstance(ct, str) and "SMB3_11" in ct,
                    "%s: ClientType contains the dialect SMB3_11" % s.label,
                    ct,
                )
                ro = inst.get("ResourcesOpened")
                rep.check(
                    isinstance(ro, int) and ro >= 1 and ro >= s.opens,
                    "%s: ResourcesOpened counts the open file (smbstatus: %d open)" % (s.label, s.opens),
                    ro,
                )
                check_idle(s.label, inst, "TCP last receive of the smbd child's connection")
            self.debug(
                "%s: ClientType %r TransportName %r ResourcesOpened %r ActiveTime %r IdleTime %r"
                % (s.label, inst.get("ClientType"), inst.get("TransportName"), inst.get("ResourcesOpened"),
                   inst.get("ActiveTime"), inst.get("IdleTime"))
            )  # fmt: skip

        rc, out, err = lm.run([])
        missing = [u for u in USERS if u not in out]
        rep.check(
            rc == 0 and not missing,
            "linmgmt (overview) exits 0 and mentions %s" % ", ".join(USERS),
            "exit %d, missing %s; stderr %r" % (rc, missing, err.strip()[-200:]),
        )

    def check_associations(self, rep, lm):
        """Issue 5: the sessions' accounts, processes and tree connects, both directions."""

        def assoc(wql):
            got, why = lm.query(wql)
            return (got or []), why

        domain = None
        for s in self.ssh_sessions:
            sid = str(s.sessionid)
            src = 'Win32_LogonSession.LogonId="%s"' % sid
            users, why = assoc("ASSOCIATORS OF {%s} WHERE AssocClass=Win32_LoggedOnUser" % src)
            rep.check(
                len(users) == 1 and users[0].get("Name") == s.user and users[0].get("__CLASS") == "Win32_UserAccount",
                "%s: ASSOCIATORS OF its logon session through Win32_LoggedOnUser is the account %s" % (s.label, s.user),
                why or [(u.get("__CLASS"), u.get("Name")) for u in users],
            )
            if users:
                domain = users[0].get("Domain")
            procs, why = assoc("ASSOCIATORS OF {%s} WHERE ResultClass=Win32_Process" % src)
            got = {int(p.get("ProcessId", -1)) for p in procs}
            truth = set(procfs.audit_members(procfs.snapshot(), s.sessionid))
            rep.check(
                bool(truth) and truth <= got and got <= truth | {p.pid for p in s.members},
                "%s: ASSOCIATORS OF its logon session with ResultClass=Win32_Process are exactly its processes" % s.label,
                why or "linmgmt %s, /proc %s" % (sorted(got), sorted(truth)),
            )
            back, why = assoc('ASSOCIATORS OF {Win32_Process.Handle="%d"} WHERE ResultClass=Win32_LogonSession' % s.monitor.pid)
            rep.check(
                [b.get("LogonId") for b in back] == [sid],
                "%s: from its sshd process back to its logon session" % s.label,
                why or [b.get("LogonId") for b in back],
            )
            if domain:
                acct = 'Win32_UserAccount.Domain="%s",Name="%s"' % (domain, s.user)
                sessions, why = assoc("ASSOCIATORS OF {%s} WHERE ResultClass=Win32_LogonSession" % acct)
                rep.check(
                    sid in [x.get("LogonId") for x in sessions],
                    "%s: from the account %s to its sessions" % (s.label, s.user),
                    why or [x.get("LogonId") for x in sessions],
                )
        shares, why = assoc("SELECT * FROM Win32_Share WHERE Name = 'share'")
        rep.check(
            len(shares) == 1 and str(shares[0].get("Path") or "").endswith("/share"),
            "Win32_Share lists [share] with its path from the private smb.conf",
            why or shares,
        )
        for s in self.smb_sessions:
            if s.guest:
                continue
            src = 'Win32_ServerSession.ComputerName="%s",UserName="%s"' % (s.addr, s.user)
            conns, why = assoc("ASSOCIATORS OF {%s} WHERE ResultClass=Win32_ServerConnection" % src)
            rep.check(
                len(conns) == 1 and conns[0].get("ShareName") == "share" and conns[0].get("NumberOfFiles", 0) >= 1,
                "%s: its server session's tree connect is to [share] with the open file" % s.label,
                why or conns,
            )
            if conns:
                conn = 'Win32_ServerConnection.ComputerName="%s",ShareName="share",UserName="%s"' % (
                    conns[0].get("ComputerName"), s.user)
                shares, why = assoc("ASSOCIATORS OF {%s} WHERE ResultClass=Win32_Share" % conn)
                rep.check(
                    [x.get("Name") for x in shares] == ["share"],
                    "%s: the tree connect's share is [share]" % s.label,
                    why or shares,
                )

    # logout

    def logout(self):
        """Ends the client sessions the way users do: EOF on stdin, then SIGTERM by pid."""
        clients = [s.client for s in self.ssh_sessions + self.smb_sessions if s.client]
        for c in clients:
            try:
                c.popen.stdin.close()
            except OSError:
                pass
        wait_for(lambda: all(c.popen.poll() is not None for c in clients), 1.5)
        self.procs.stop(clients)
        self.logout_at = time.time()

    def ground_truth_gone(self):
        procs = procfs.snapshot()
        left = []
        for s in self.ssh_sessions:
            left += [(s.sessionid, procs[p].pid, procs[p].title) for p in procfs.audit_members(procs, s.sessionid)]
        st = self.smbd.status() or {}
        for s in self.smb_sessions:
            if s.session and s.session.get("session_id") in (st.get("sessions") or {}):
                left.append(("smb", s.session.get("session_id"), s.user))
        return left

    def check_gone(self, rep, lm):
        left = wait_for(lambda: not self.ground_truth_gone(), GONE_TIMEOUT, 0.1)
        rep.check(
            left is not None,
            "ground truth: after logout the sessions' processes and smbstatus sessions are gone",
            self.ground_truth_gone(),
        )
        ids = {str(s.sessionid) for s in self.ssh_sessions}
        keys = {(s.addr, s.user) for s in self.ssh_sessions + self.smb_sessions}

        state = {}

        def linmgmt_gone():
            logons, why1 = lm.query("SELECT * FROM Win32_LogonSession")
            servers, why2 = lm.query("SELECT * FROM Win32_ServerSession")
            state["logons"] = None if logons is None else [i for i in logons if str(i.get("LogonId")) in ids]
            state["servers"] = (
                None
                if servers is None
                else [
                    i
                    for i in servers
                    if (i.get("ComputerName"), i.get("UserName")) in keys or i.get("UserName") in USERS
                ]
            )
            state["why"] = why1 or why2
            done = state["logons"] == [] and state["servers"] == []
            if not done:
                left = [i.get("LogonId") for i in state["logons"] or []]
                left += ["%s@%s" % (i.get("UserName"), i.get("ComputerName")) for i in state["servers"] or []]
                zombies = [
                    (p.pid, p.sessionid, p.comm)
                    for p in procfs.snapshot().values()
                    if p.state == "Z" and str(p.sessionid) in ids
                ]
                self.debug("still reported after %.1f s: %s; zombies of those sessions: %s"
                           % (time.time() - self.logout_at, left, zombies))  # fmt: skip
            return done

        wait_for(linmgmt_gone, GONE_TIMEOUT, 0.5)
        secs = time.time() - self.logout_at
        rep.check(
            state.get("logons") == [],
            "after logout no Win32_LogonSession has the test sessions' LogonIds %s (%.1f s)" % (sorted(ids), secs),
            state.get("why") or [i.get("LogonId") for i in state.get("logons") or []],
        )
        rep.check(
            state.get("servers") == [],
            "after logout no Win32_ServerSession of the test users or the guest remains",
            state.get("why")
            or ["%s@%s" % (i.get("UserName"), i.get("ComputerName")) for i in state.get("servers") or []],
        )

    # cleanup

    def cleanup(self):
        self.procs.stop_all()
        for u, pw in self.users.items():
            if self.sshd:
                services.remove_authorized_key(pw, self.sshd.client_pub)
        if self.workdir:
            services.remove_tree(self.workdir)

    def print_setup_help(self):
        lm = self.args.linmgmt
        print(
            """#
# Sessions are up. Query them with:
#   export LINMGMT_SMBSTATUS={wrap} LINMGMT_SSHD_LOG={log} LINMGMT_LIVE_SSH={ssh}
#   {lm} query "SELECT * FROM Win32_LogonSession" --format json
#   {lm} query "SELECT * FROM Win32_ServerSession" --format json
#   {lm}
#   {wrap} --json        (ground truth for SMB)
# Audit session ids: {ids}
# Stop with Ctrl-C or: kill {me}
#""".format(
                wrap=self.smbd.smbstatus_wrapper,
                log=self.sshd.log_path,
                # How to log in for real (a test user, the harness's key and port), with
                # commas for spaces so that it stays one word of the export line.
                ssh=",".join(["ssh", *self.sshd.client_opts(), "-p", str(self.sshd.port)]),
                lm=lm,
                ids=", ".join("%s=%s" % (s.user, s.sessionid) for s in self.ssh_sessions),
                me=os.getpid(),
            ),
            flush=True,
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--linmgmt", required=True, help="the linmgmt binary under test")
    ap.add_argument("--keep", action="store_true", help="leave sshd, smbd and the work dir after the run")
    ap.add_argument("--setup-only", action="store_true", help="set up the sessions, print how to query them, wait")
    ap.add_argument("--verbose", "-v", action="store_true", help="show linmgmt commands, stderr and extra facts")
    ap.add_argument(
        "--internal-sftp", action="store_true", help="sshd serves sftp in-process (default: the sftp-server program)"
    )
    ap.add_argument("--lock-wait", type=float, default=60, help="seconds to wait for another live run (default 60)")
    ap.add_argument("--ssh-port", type=int, default=2223, help="first port to try for sshd (default 2223)")
    ap.add_argument("--smb-port", type=int, default=4455, help="first port to try for smbd (default 4455)")
    ap.add_argument(
        "--only",
        choices=["events", "identity"],
        help="run only this part (events: the `linmgmt watch` checks; identity: sessions that keep their identity)",
    )
    ap.add_argument("--skip-events", action="store_true", help="leave out the `linmgmt watch` checks")
    ap.add_argument(
        "--events-parts",
        default=",".join(events.PARTS),
        help="which events parts to run, comma-separated (default %s)" % ",".join(events.PARTS),
    )
    ap.add_argument(
        "--latency",
        type=int,
        metavar="N",
        help="instead of the tests: measure `linmgmt watch` latency over N sequential ssh logins",
    )
    ap.add_argument("--latency-out", metavar="FILE", help="with --latency: write the figures as JSON to FILE")
    args = ap.parse_args()
    args.linmgmt = os.path.abspath(args.linmgmt)
    parts = [p for p in args.events_parts.split(",") if p]
    unknown = [p for p in parts if p not in events.PARTS]
    if unknown:
        ap.error("unknown events part(s) %s (known: %s)" % (", ".join(unknown), ", ".join(events.PARTS)))
    if args.only == "events" and args.skip_events:
        ap.error("--only events and --skip-events exclude each other")
    if args.latency is not None and args.latency < 1:
        ap.error("--latency needs N >= 1")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started in the background (SIGINT ignored)

    started = time.monotonic()
    rep = Report()
    live = Live(args)
    if not args.setup_only and not os.access(args.linmgmt, os.X_OK):
        print("Bail out! no executable linmgmt at %s" % args.linmgmt, flush=True)
        return 2
    try:
        servers_only = (args.only in ("events", "identity") or args.latency is not None) and not args.setup_only
        try:
            live.setup(open_sessions=not servers_only)
        except SetupError as e:
            print("Bail out! setup: %s" % e, flush=True)
            return 2
        note("setup done in %.1f s" % (time.monotonic() - started))
        if args.latency is not None and not args.setup_only:
            lm = Linmgmt(args.linmgmt, live.linmgmt_env(), args.verbose)
            return latency.measure(live, lm, sys.modules[__name__], args.latency, args.latency_out)
        if args.only == "identity" and not args.setup_only:
            lm = Linmgmt(args.linmgmt, live.linmgmt_env(), args.verbose)
            identity.run(live, rep, lm, sys.modules[__name__])
            rep.summary(time.monotonic() - started)
            return 1 if rep.failed else 0
        if servers_only:
            lm = Linmgmt(args.linmgmt, live.linmgmt_env(), args.verbose)
            events.run(live, rep, lm, sys.modules[__name__], parts)
            rep.summary(time.monotonic() - started)
            return 1 if rep.failed else 0
        live.report_ground_truth(rep)
        if args.setup_only:
            live.print_setup_help()
            try:
                while True:
                    signal.pause()
            except KeyboardInterrupt:
                note("stopping")
            return 0
        lm = Linmgmt(args.linmgmt, live.linmgmt_env(), args.verbose)
        live.check_sessions(rep, lm)
        live.check_associations(rep, lm)
        local.run(live, rep, lm, sys.modules[__name__])
        classes.check_groups(rep, lm)
        classes.check_process_counters(rep, lm)
        classes.check_script_queries(rep, lm)
        live.logout()
        live.check_gone(rep, lm)
        identity.run(live, rep, lm, sys.modules[__name__])
        if not args.skip_events:
            events.run(live, rep, lm, sys.modules[__name__], parts)
        rep.summary(time.monotonic() - started)
        return 1 if rep.failed else 0
    except KeyboardInterrupt as e:
        print("Bail out! interrupted (%s)" % (e or "SIGINT"), flush=True)
        return 130
    finally:
        # Clean up even when more signals arrive (e.g. a process-group kill from `timeout`).
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        if args.keep:
            note(
                "--keep: left running: %s; work dir %s; stop with: kill %s && rm -rf %s"
                % (", ".join("%s %d" % (s.name, s.pid) for s in live.procs.started), live.workdir,
                   " ".join(str(s.pid) for s in live.procs.started), live.workdir)
            )  # fmt: skip
        else:
            t = time.monotonic()
            live.cleanup()
            note("cleaned up in %.1f s" % (time.monotonic() - t))


if __name__ == "__main__":
    sys.exit(main())
