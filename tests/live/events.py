"""Live tests of `linmgmt watch`: WMI events for real ssh and SMB logins on loopback.

Called from run_live.py (after its own checks, or alone with `--only events`) with the
harness's sshd and smbd. Every `linmgmt watch` runs as a subprocess with `--format json`;
a reader thread stamps each stdout line with time.time() when it arrives. Logins start only
after watch has printed its `watching:` line on stderr (its baseline is taken).

Parts:
  ssh    one watch on __InstanceOperationEvent for Win32_LogonSession (WITHIN 5); a no-pty
         session opened before the watch (baseline: no creation, one deletion at logout), then a
         pty, a no-pty and an sftp login: one creation each, LogonId = the audit session id from
         /proc, LogonType 10/3/3; one deletion each after logout; nothing duplicated.
  smb    a watch on Win32_ServerSession (WITHIN 1, LINMGMT_SMBSTATUS = the private smbd's
         wrapper) and a second one for deletions of lmalice's server sessions with `--count 1`:
         smbclient connects (creation), opens a.txt (modification, ResourcesOpened rises),
         disconnects (deletion; the `--count 1` watch exits 0 after printing it).
  burst  200 ssh logins and logouts, 20 at a time (`cat /proc/self/sessionid; sleep 0.3`):
         exactly 200 creations and 200 deletions for exactly the printed session ids.
  group  GROUP WITHIN 4 HAVING NumberOfEvents >= 3: 4 simultaneous logins give one
         __AggregateEvent with NumberOfEvents 4; then 2 logins give none.
  seclog the security event log (seclog.py): `serve --event-log` across a restart and a
         rotation, OCSF lines validated against the OCSF schema, `watch --format ecs`.

Events of sessions that are not the harness's (the host may have others) are ignored
wherever they can be told apart; timing figures are printed as `#` notes, never asserted.
"""

import json
import os
import re
import signal
import subprocess
import threading
import time

import procfs
import seclog
from services import note, wait_for
from services import short as _short

WATCH_READY_TIMEOUT = 30.0  # baseline snapshot until `watching:`
ESTABLISH_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0  # SIGTERM until watch has exited
FILETIME_EPOCH_OFFSET = 11644473600  # seconds from 1601-01-01 to 1970-01-01

Q_LOGON_OP = "SELECT * FROM __InstanceOperationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_LogonSession'"
Q_SERVER_OP = "SELECT * FROM __InstanceOperationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_ServerSession'"
Q_SERVER_DEL_LMALICE = (
    "SELECT * FROM __InstanceDeletionEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_ServerSession'"
    " AND TargetInstance.UserName = 'lmalice'"
)
Q_LOGON_CREATE_PTY = (
    "SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_LogonSession'"
    " AND TargetInstance.LogonType = 10"
)
Q_LOGON_CREATE_1 = "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_LogonSession'"
Q_LOGON_CREATE_5 = "SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_LogonSession'"
GROUP_SECONDS = 4
Q_GROUP = (
    "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_LogonSession'"
    " GROUP WITHIN %d HAVING NumberOfEvents >= 3" % GROUP_SECONDS
)

CREATION = "__InstanceCreationEvent"
DELETION = "__InstanceDeletionEvent"
MODIFICATION = "__InstanceModificationEvent"
AGGREGATE = "__AggregateEvent"
OVERFLOW = "__EventQueueOverflowEvent"
EVENT_CLASSES = (CREATION, DELETION, MODIFICATION, AGGREGATE, OVERFLOW)

USERS = ("lmalice", "lmbob", "lmcarol")
ADDRS = ("127.0.0.1", "::1")

BURST_LOGINS = 200
BURST_WORKERS = 20
BURST_ATTEMPTS = 5
BURST_REMOTE = "cat /proc/self/sessionid; sleep 0.3"
# Quick logins use classic curve25519 key exchange: OpenSSH 9.2's default hybrid
# sntrup761x25519 costs enough CPU that 200 logins on 2 cores take 20-25 s instead of 6-8 s.
QUICK_OPTS = ["-o", "KexAlgorithms=curve25519-sha256"]


def filetime_to_epoch(v):
    """TIME_CREATED (100 ns since 1601-01-01 UTC) in seconds since the epoch."""
    return v / 1e7 - FILETIME_EPOCH_OFFSET


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))
    return s[int(k)]


# --- one `linmgmt watch` -------------------------------------------------------------------


class Event:
    """One stdout line of `linmgmt watch --format json`, with its arrival time."""

    __slots__ = ("arrival", "obj", "raw")

    def __init__(self, arrival, obj, raw):
        self.arrival = arrival
        self.obj = obj
        self.raw = raw

    @property
    def cls(self):
        return self.obj.get("__CLASS")

    @property
    def target(self):
        t = self.obj.get("TargetInstance")
        return t if isinstance(t, dict) else {}

    @property
    def previous(self):
        t = self.obj.get("PreviousInstance")
        return t if isinstance(t, dict) else {}

    @property
    def logon_id(self):
        v = self.target.get("LogonId")
        return None if v is None else str(v)

    @property
    def server_key(self):
        return (self.target.get("ComputerName"), self.target.get("UserName"))

    def brief(self):
        t = self.target
        if self.cls == AGGREGATE:
            return "%s(n=%s)" % (self.cls, self.obj.get("NumberOfEvents"))
        if "LogonId" in t:
            return "%s(%s)" % (self.cls, t.get("LogonId"))
        if "UserName" in t:
            return "%s(%s@%s RO=%s)" % (self.cls, t.get("UserName"), t.get("ComputerName"), t.get("ResourcesOpened"))
        return "%s" % self.cls


class Watch:
    """`linmgmt watch WQL --format json [extra]` with reader threads for stdout and stderr."""

    def __init__(self, ctx, label, wql, extra=()):
        self.ctx = ctx
        self.label = label
        self.wql = wql
        self.args = ["watch", wql, "--format", "json", *extra]
        self.events = []
        self.bad_lines = []
        self.stderr = []
        self.ready_at = None
        self.started_at = None
        self.out_eof = False
        self.err_eof = False
        self.cond = threading.Condition()
        self.proc = None
        self.threads = []
        self.exit_code = None
        self.stopped_by_term = None

    def start(self):
        self.started_at = time.time()
        self.proc = self.ctx.procs.start(
            self.label,
            [self.ctx.linmgmt, *self.args],
            env=self.ctx.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for fn in (self._read_out, self._read_err):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def _read_out(self):
        f = self.proc.popen.stdout
        for raw in iter(f.readline, b""):
            t = time.time()
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            with self.cond:
                if isinstance(obj, dict):
                    self.events.append(Event(t, obj, line))
                else:
                    self.bad_lines.append(line)
                self.cond.notify_all()
            if self.ctx.verbose:
                note("  %s: +%.3f s %s" % (self.label, t - self.started_at, _short(line, 200)))
        with self.cond:
            self.out_eof = True
            self.cond.notify_all()

    def _read_err(self):
        f = self.proc.popen.stderr
        for raw in iter(f.readline, b""):
            t = time.time()
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self.cond:
                self.stderr.append(line)
                if self.ready_at is None and line.startswith("watching:"):
                    self.ready_at = t
                self.cond.notify_all()
            if self.ctx.verbose:
                note("  %s stderr: %s" % (self.label, line))
        with self.cond:
            self.err_eof = True
            self.cond.notify_all()

    def wait_ready(self, timeout=WATCH_READY_TIMEOUT):
        with self.cond:
            self.cond.wait_for(lambda: self.ready_at is not None or self.err_eof, timeout)
            ok = self.ready_at is not None
        if ok:
            self.ctx.debug("%s: ready after %.2f s: %s" % (self.label, self.ready_at - self.started_at,
                                                           next(l for l in self.stderr if l.startswith("watching:"))))  # fmt: skip
        return ok

    def wait(self, pred, timeout):
        """Waits until pred(events) is true (returned), watch's stdout ends, or `timeout` s pass."""
        with self.cond:
            self.cond.wait_for(lambda: pred(self.events) or self.out_eof, timeout)
            return pred(self.events)

    def snapshot(self):
        with self.cond:
            return list(self.events)

    def running(self):
        return self.proc is not None and self.proc.popen.poll() is None

    def stderr_tail(self, n=5):
        with self.cond:
            return " | ".join(self.stderr[-n:]) or "(nothing on stderr)"

    def why_not_ready(self):
        rc = self.proc.popen.poll() if self.proc else None
        return "exit %s; stderr: %s" % ("still running" if rc is None else rc, self.stderr_tail())

    def stop(self):
        """SIGTERM by pid; True when watch exited within STOP_TIMEOUT (else it is killed)."""
        if self.proc is None:
            return None
        p = self.proc.popen
        by_term = None
        if p.poll() is None and procfs.alive(self.proc.pid, self.proc.starttime):
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=STOP_TIMEOUT)
                by_term = True
            except subprocess.TimeoutExpired:
                by_term = False
        self.ctx.procs.stop([self.proc])  # anything left (and descendants), by pid
        for t in self.threads:
            t.join(timeout=5)
        self.exit_code = p.returncode
        self.stopped_by_term = by_term
        return by_term


# --- the tests -----------------------------------------------------------------------------


class Ctx:
    def __init__(self, live, lm, harness):
        self.live = live
        self.procs = live.procs
        self.sshd = live.sshd
        self.smbd = live.smbd
        self.linmgmt = lm.path
        self.env = lm.env
        self.verbose = lm.verbose
        self.debug = live.debug
        self.harness = harness
        self._started_lock = threading.Lock()

    # ssh

    def ssh_cmd(self, user, addr, remote, tty=False, extra=()):
        sd = self.sshd
        return ["ssh", "-tt" if tty else "-T", *sd.client_opts(), *extra, "-p", str(sd.port), "%s@%s" % (user, addr),
                remote]  # fmt: skip

    def sftp_cmd(self, user, addr):
        sd = self.sshd
        return ["sftp", *sd.client_opts(), "-P", str(sd.port), "%s@%s" % (user, addr)]

    def quick_login(self, user, addr, remote, timeout=60):
        """Runs `ssh -T user@addr remote` to the end: (exit code, stdout, stderr, start, end)."""
        t0 = time.time()
        s = self.procs.start(
            "ssh %s@%s" % (user, addr),
            self.ssh_cmd(user, addr, remote, extra=QUICK_OPTS),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            out, err = s.popen.communicate(timeout=timeout)
            rc = s.popen.returncode
        except subprocess.TimeoutExpired:
            self.procs.stop([s])
            out, err, rc = b"", b"timeout", -1
        with self._started_lock:
            try:
                self.procs.started.remove(s)
            except ValueError:
                pass
        return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), t0, time.time()

    def open_ssh(self, s, cmd, ignore=(), feed=None):
        """Starts a long ssh session and waits until /proc shows it complete; True when it is."""
        sd = self.sshd
        s.out_path = os.path.join(sd.dir, "events-client-%s-%s.out" % (s.user, s.kind))
        out = open(s.out_path, "wb")
        s.login_at = time.time()
        s.client = self.procs.start("ssh client " + s.label, cmd, stdin=subprocess.PIPE, stdout=out, stderr=out)
        if feed:
            s.client.popen.stdin.write(feed)
            s.client.popen.stdin.flush()
        wait_for(lambda: s.client.popen.poll() is not None or s.find(sd.proc.pid, ignore), ESTABLISH_TIMEOUT)
        s.found_at = time.time()
        if s.monitor is None:
            with open(s.out_path, errors="replace") as f:
                text = f.read().strip()[-300:]
            note("%s: not established (client exit %s; output %r; sshd log: %s)"
                 % (s.label, s.client.popen.poll(), text, sd.log_tail(5)))  # fmt: skip
            return False
        return True

    def logout(self, clients):
        """EOF on stdin, then SIGTERM by pid (as run_live.py logs out); returns when EOF was sent."""
        clients = [c for c in clients if c]
        eof_at = time.time()
        for c in clients:
            try:
                c.popen.stdin.close()
            except (OSError, AttributeError):
                pass
        wait_for(lambda: all(c.popen.poll() is not None for c in clients), 1.5)
        self.procs.stop(clients)
        return eof_at

    def watch(self, label, wql, extra=()):
        return Watch(self, label, wql, extra).start()


def parse_sessionid(out):
    """The audit session id printed by `cat /proc/self/sessionid`, or None."""
    for line in out.splitlines():
        line = line.strip()
        if re.fullmatch(r"\d+", line):
            v = int(line)
            return None if v == procfs.AUDIT_UNSET else str(v)
    return None


def check_lines(rep, w, what):
    """Every stdout line is one JSON event object with a sane TIME_CREATED."""
    evs = w.snapshot()
    bad = list(w.bad_lines)
    for e in evs:
        o = e.obj
        tc = o.get("TIME_CREATED")
        why = None
        if o.get("__CLASS") not in EVENT_CLASSES:
            why = "__CLASS %r" % o.get("__CLASS")
        elif not isinstance(tc, int) or isinstance(tc, bool):
            why = "TIME_CREATED %r is not an integer" % tc
        elif not (e.arrival - 60 <= filetime_to_epoch(tc) <= e.arrival + 2):
            why = "TIME_CREATED %d is %.3f s from its arrival" % (tc, filetime_to_epoch(tc) - e.arrival)
        elif o.get("__CLASS") in (CREATION, DELETION, MODIFICATION):
            t = o.get("TargetInstance")
            if not isinstance(t, dict) or not t.get("__CLASS") or not t.get("__RELPATH"):
                why = "TargetInstance without __CLASS/__RELPATH"
            elif o.get("__CLASS") == MODIFICATION and not isinstance(o.get("PreviousInstance"), dict):
                why = "no PreviousInstance"
        elif o.get("__CLASS") == AGGREGATE:
            if not isinstance(o.get("NumberOfEvents"), int) or not isinstance(o.get("Representative"), dict):
                why = "NumberOfEvents/Representative missing"
        if why:
            bad.append("%s: %s" % (why, e.raw[:200]))
    rep.check(
        not bad,
        "%s: every stdout line is one JSON event object (__CLASS, TIME_CREATED as 100 ns since 1601 "
        "within a minute of its arrival, TargetInstance/PreviousInstance/Representative)" % what,
        bad[:3],
    )
    # modifications: only real changes (IdleTime/ActiveTime ticks do not count)
    changed, empty = {}, []
    for e in evs:
        if e.cls != MODIFICATION:
            continue
        p, t = e.previous, e.target
        diff = sorted(k for k in set(p) | set(t) if p.get(k) != t.get(k) and k not in ("IdleTime", "ActiveTime"))
        if not diff:
            empty.append(e.raw[:300])
        for k in diff:
            changed.setdefault(k, []).append(e.logon_id if e.logon_id is not None else "%s@%s" % e.server_key[::-1])
    rep.check(
        not empty,
        "%s: every __InstanceModificationEvent changes a property other than IdleTime/ActiveTime" % what,
        empty[:2],
    )
    if changed:
        note("%s: modification events changed %s" % (what, _short(
            {k: "%d× (%s)" % (len(v), ", ".join(sorted(set(v))[:8])) for k, v in changed.items()}, 600)))
    overflow = [e.obj for e in evs if e.cls == OVERFLOW]
    if overflow:
        note("%s: %d __EventQueueOverflowEvent(s): %s" % (what, len(overflow), _short(overflow)))


def check_stop(rep, w, what):
    by_term = w.stop()
    rep.check(
        by_term is True,
        "%s: watch exits within %.0f s of SIGTERM" % (what, STOP_TIMEOUT),
        "still running, killed" if by_term is False else "had already exited (%s): %s" % (w.exit_code, w.stderr_tail()),
    )


def events_of(evs, cls, key):
    return [e for e in evs if e.cls == cls and key(e)]


# --- part 1: ssh logon sessions ------------------------------------------------------------


def part_ssh(ctx, rep):
    H = ctx.harness
    SshSession = H.SshSession
    n = 600
    notty_cmd = "cat /proc/self/sessionid; sleep %d & read -r _; kill $! 2>/dev/null" % n

    # a session that exists before the watch: part of the baseline
    before = SshSession("events: no-pty ssh lmbob@::1 opened before watch", "lmbob", "::1", "notty", 3)
    if not ctx.open_ssh(before, ctx.ssh_cmd("lmbob", "::1", notty_cmd)):
        rep.check(False, "events ssh: the session opened before watch is established", before.label)
        ctx.logout([before.client])
        return
    pre_existing = {str(p.sessionid) for p in procfs.snapshot().values() if p.sessionid is not None} | {"0"}

    w = ctx.watch("watch (ssh logons)", Q_LOGON_OP)
    wp = ctx.watch("watch (pty logon creations)", Q_LOGON_CREATE_PTY)
    ready = w.wait_ready()
    rep.check(ready, "events ssh: `linmgmt watch \"%s\"` prints its `watching:` line" % Q_LOGON_OP, w.why_not_ready())
    ready_p = wp.wait_ready()
    rep.check(
        ready_p, "events ssh: `linmgmt watch \"%s\"` prints its `watching:` line" % Q_LOGON_CREATE_PTY, wp.why_not_ready()
    )
    if not (ready and ready_p):
        ctx.logout([before.client])
        w.stop()
        wp.stop()
        return

    sessions = [
        (SshSession("events: pty ssh lmalice@::1", "lmalice", "::1", "pty", 10),
         ctx.ssh_cmd("lmalice", "::1", "sleep %d" % n, tty=True), None),
        (SshSession("events: no-pty ssh lmbob@127.0.0.1", "lmbob", "127.0.0.1", "notty", 3),
         ctx.ssh_cmd("lmbob", "127.0.0.1", notty_cmd), None),
        (SshSession("events: sftp lmcarol@127.0.0.1", "lmcarol", "127.0.0.1", "sftp", 3),
         ctx.sftp_cmd("lmcarol", "127.0.0.1"), b"pwd\n"),
    ]  # fmt: skip
    opened = []
    ignore = {before.monitor.pid}
    for s, cmd, feed in sessions:
        if not ctx.open_ssh(s, cmd, ignore=ignore, feed=feed):
            rep.check(False, "%s: established" % s.label, "see the note above")
            continue
        opened.append(s)
        sid = str(s.sessionid)
        got = w.wait(lambda evs: events_of(evs, CREATION, lambda e: e.logon_id == sid), 10)
        if got:
            note("%s: audit session %s, creation event %.3f s after the login started, %.3f s after /proc showed it"
                 % (s.label, sid, got[0].arrival - s.login_at, got[0].arrival - s.found_at))  # fmt: skip
        else:
            note("%s: audit session %s, no creation event within 10 s" % (s.label, sid))

    ids = [s.sessionid for s in [before] + opened]
    rep.check(
        None not in ids and len(set(ids)) == len(ids),
        "events ssh ground truth: the four logins have distinct audit session ids",
        ids,
    )

    logout_at = ctx.logout([s.client for s in [before] + opened])
    want_gone = [str(s.sessionid) for s in [before] + opened]

    def gone():
        procs = procfs.snapshot()
        return not any(procfs.audit_members(procs, s.sessionid) for s in [before] + opened)

    rep.check(
        wait_for(gone, 10, 0.1) is not None,
        "events ssh ground truth: after logout no process is left in the four audit sessions",
        want_gone,
    )
    w.wait(lambda evs: all(events_of(evs, DELETION, lambda e, i=i: e.logon_id == i) for i in want_gone), 20)
    time.sleep(6)  # one more WITHIN interval: a duplicate would show up now
    check_stop(rep, w, "events ssh")
    wp.stop()
    evs = w.snapshot()
    note("events ssh: %d events: %s" % (len(evs), ", ".join(e.brief() for e in evs)))

    for s in opened:
        sid = str(s.sessionid)
        cre = events_of(evs, CREATION, lambda e: e.logon_id == sid)
        rep.check(
            len(cre) == 1,
            "%s: exactly one __InstanceCreationEvent with TargetInstance.LogonId %s (its audit session id)"
            % (s.label, sid),
            "%d; creation LogonIds: %s" % (len(cre), [e.logon_id for e in evs if e.cls == CREATION]),
        )
        t = cre[0].target if cre else {}
        rep.check(
            t.get("__CLASS") == "Win32_LogonSession" and t.get("LogonType") == s.logon_type,
            "%s: its TargetInstance is a Win32_LogonSession with LogonType %d" % (s.label, s.logon_type),
            {k: t.get(k) for k in ("__CLASS", "LogonType", "AuthenticationPackage")} if cre else "no event",
        )
        dele = events_of(evs, DELETION, lambda e: e.logon_id == sid)
        rep.check(
            len(dele) == 1 and (not cre or dele[0].arrival >= cre[0].arrival),
            "%s: after logout exactly one __InstanceDeletionEvent for LogonId %s, after its creation" % (s.label, sid),
            "%d; deletion LogonIds: %s" % (len(dele), [e.logon_id for e in evs if e.cls == DELETION]),
        )
        if dele:
            note("%s: deletion event %.3f s after logout" % (s.label, dele[0].arrival - logout_at))

    sid = str(before.sessionid)
    cre = events_of(evs, CREATION, lambda e: e.logon_id == sid)
    rep.check(
        not cre,
        "%s: no creation event (it is in watch's baseline)" % before.label,
        [e.raw[:200] for e in cre],
    )
    dele = events_of(evs, DELETION, lambda e: e.logon_id == sid)
    rep.check(
        len(dele) == 1,
        "%s: its logout gives exactly one __InstanceDeletionEvent for LogonId %s" % (before.label, sid),
        "%d; deletion LogonIds: %s" % (len(dele), [e.logon_id for e in evs if e.cls == DELETION]),
    )
    note("events ssh: LogonType in the deletion events (last known state): %s"
         % {e.logon_id: e.target.get("LogonType") for e in evs if e.cls == DELETION})  # fmt: skip
    # a consumer that filters on the session's kind sees the pty login, and only it
    mine = {str(s.sessionid): s for s in opened}
    pevs = [e for e in wp.snapshot() if e.logon_id in mine]
    pty = [str(s.sessionid) for s in opened if s.kind == "pty"]
    rep.check(
        sorted(e.logon_id for e in pevs) == pty and all(e.cls == CREATION for e in pevs),
        "events ssh: `... AND TargetInstance.LogonType = 10` gives exactly one creation event, for the pty login %s"
        % pty,
        [e.brief() for e in pevs],
    )
    check_lines(rep, wp, "events ssh (LogonType = 10)")
    stale = [e.logon_id for e in evs if e.cls == CREATION and e.logon_id in pre_existing]
    rep.check(
        not stale,
        "events ssh: no creation event for any audit session that existed before watch started",
        stale,
    )
    check_lines(rep, w, "events ssh")


# --- part 2: SMB server sessions -----------------------------------------------------------


def smb_state(status, user, addr):
    """(session, tree connects, open count) of `user`'s SMB session from `addr` in smbstatus --json."""
    if not status:
        return None, 0, 0
    prefix = ("ipv6:%s:" if ":" in addr else "ipv4:%s:") % addr
    mine = [
        s
        for s in (status.get("sessions") or {}).values()
        if s.get("username") == user and str(s.get("hostname", "")).startswith(prefix)
    ]
    if len(mine) != 1:
        return None, 0, 0
    sess = mine[0]
    pid = str(sess.get("server_id", {}).get("pid"))
    tcons = [t for t in (status.get("tcons") or {}).values() if str(t.get("session_id")) == str(sess["session_id"])]
    opens = 0
    for f in (status.get("open_files") or {}).values():
        for o in (f.get("opens") or {}).values():
            if str(o.get("server_id", {}).get("pid")) == pid:
                opens += 1
    return sess, len(tcons), opens


def part_smb(ctx, rep):
    H = ctx.harness
    sm = ctx.smbd
    user, addr = "lmalice", "127.0.0.1"
    key = (addr, user)
    label = "events: SMB %s@%s" % (user, addr)
    auth = os.path.join(sm.dir, "events-lmalice.auth")
    H.services.write(auth, "username = %s\npassword = %s\n" % (user, H.SMB_PASSWORD), 0o600)

    w = ctx.watch("watch (smb)", Q_SERVER_OP)
    wd = ctx.watch("watch (smb deletions, --count 1)", Q_SERVER_DEL_LMALICE, ["--count", "1"])
    ready = w.wait_ready()
    rep.check(ready, "events smb: `linmgmt watch \"%s\"` prints its `watching:` line" % Q_SERVER_OP, w.why_not_ready())
    ready_d = wd.wait_ready()
    rep.check(
        ready_d,
        "events smb: `linmgmt watch \"%s\" --count 1` prints its `watching:` line" % Q_SERVER_DEL_LMALICE,
        wd.why_not_ready(),
    )
    if not (ready and ready_d):
        w.stop()
        wd.stop()
        return

    out_path = os.path.join(sm.dir, "events-client-lmalice.out")
    out = open(out_path, "wb")
    login_at = time.time()
    client = ctx.procs.start(
        "smbclient (events)",
        ["smbclient", "//%s/share" % addr, "-p", str(sm.port), "-A", auth, "-m", "SMB3",
         "--client-protection=encrypt"],
        stdin=subprocess.PIPE, stdout=out, stderr=out,
    )  # fmt: skip
    state = {}

    def connected():
        st = sm.status()
        sess, tcons, opens = smb_state(st, user, addr)
        state.update(sess=sess, tcons=tcons, opens=opens)
        return client.popen.poll() is not None or (sess is not None and tcons >= 1)

    wait_for(connected, ESTABLISH_TIMEOUT, 0.2)
    if state.get("sess") is None or not state.get("tcons"):
        with open(out_path, errors="replace") as f:
            text = f.read().strip()[-300:]
        rep.check(False, "%s: smbclient connected (smbstatus shows its session and tree connect)" % label,
                  "client exit %s; output %r" % (client.popen.poll(), text))  # fmt: skip
        ctx.logout([client])
        w.stop()
        wd.stop()
        return
    note("%s: smbstatus session %s, %d open(s) before `open`" % (label, state["sess"].get("session_id"), state["opens"]))

    cre = w.wait(lambda evs: events_of(evs, CREATION, lambda e: e.server_key == key), 10)
    if cre:
        note("%s: creation event %.3f s after smbclient started" % (label, cre[0].arrival - login_at))
    rep.check(
        len(cre) == 1,
        "%s: an __InstanceCreationEvent whose TargetInstance has ComputerName %s and UserName %s" % (label, addr, user),
        "server session creations: %s" % [e.server_key for e in w.snapshot() if e.cls == CREATION],
    )
    before_open = cre[0].target.get("ResourcesOpened") if cre else None

    # open a.txt in that session: ResourcesOpened goes up
    client.popen.stdin.write(b"open %s\n" % sm.file_name.encode())
    client.popen.stdin.flush()
    opened_at = time.time()

    def file_open():
        sess, _t, opens = smb_state(sm.status(), user, addr)
        state.update(opens=opens)
        return sess is not None and opens >= 1

    rep.check(
        wait_for(file_open, ESTABLISH_TIMEOUT, 0.2) is not None,
        "%s ground truth: after `open %s` smbstatus shows the file open in the session" % (label, sm.file_name),
        state.get("opens"),
    )

    def rose(e):
        p, t = e.previous.get("ResourcesOpened"), e.target.get("ResourcesOpened")
        return e.server_key == key and isinstance(p, int) and isinstance(t, int) and p < t

    mod = w.wait(lambda evs: events_of(evs, MODIFICATION, rose), 10)
    if mod:
        note("%s: modification event %.3f s after `open`" % (label, mod[0].arrival - opened_at))
    rep.check(
        len(mod) >= 1,
        "%s: opening %s gives an __InstanceModificationEvent with PreviousInstance.ResourcesOpened < "
        "TargetInstance.ResourcesOpened (creation had %r)" % (label, sm.file_name, before_open),
        "modifications: %s" % [(e.server_key, e.previous.get("ResourcesOpened"), e.target.get("ResourcesOpened"))
                               for e in w.snapshot() if e.cls == MODIFICATION],
    )  # fmt: skip
    rep.check(
        wd.running() and not wd.snapshot(),
        "events smb: the `--count 1` deletion watch is still running, with no output, while the session lasts",
        "exit %s, output %s" % (wd.proc.popen.poll(), [e.brief() for e in wd.snapshot()] + wd.bad_lines),
    )

    logout_at = ctx.logout([client])
    rep.check(
        wait_for(lambda: smb_state(sm.status(), user, addr)[0] is None, 10, 0.2) is not None,
        "%s ground truth: after disconnect smbstatus no longer shows the session" % label,
    )
    dele = w.wait(lambda evs: events_of(evs, DELETION, lambda e: e.server_key == key), 15)
    if dele:
        note("%s: deletion event %.3f s after disconnect" % (label, dele[0].arrival - logout_at))
    # --count 1: exits 0 by itself after the deletion
    try:
        wd.proc.popen.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    wd_rc = wd.proc.popen.poll()
    time.sleep(2)  # one more WITHIN interval: a duplicate would show up now
    check_stop(rep, w, "events smb")
    wd.stop()
    evs = w.snapshot()
    note("events smb: %d events: %s" % (len(evs), ", ".join(e.brief() for e in evs)))

    dele = events_of(evs, DELETION, lambda e: e.server_key == key)
    rep.check(
        len(dele) == 1,
        "%s: disconnecting gives exactly one __InstanceDeletionEvent for it" % label,
        "%d; server session deletions: %s" % (len(dele), [e.server_key for e in evs if e.cls == DELETION]),
    )
    cre = events_of(evs, CREATION, lambda e: e.server_key == key)
    rep.check(len(cre) == 1, "%s: exactly one creation event in all (no duplicate)" % label, len(cre))
    devs = wd.snapshot()
    rep.check(
        wd_rc == 0 and not wd.bad_lines and len(devs) == 1 and devs[0].cls == DELETION and devs[0].server_key == key,
        "events smb: the `--count 1` deletion watch printed exactly that deletion event and exited 0",
        "exit %s; lines %s; stderr %s" % (wd_rc, [e.brief() for e in devs] + wd.bad_lines, wd.stderr_tail(3)),
    )
    check_lines(rep, w, "events smb")


# --- part 3: burst -------------------------------------------------------------------------


def part_burst(ctx, rep, logins=BURST_LOGINS, workers=BURST_WORKERS):
    w = ctx.watch("watch (burst)", Q_LOGON_OP)
    ready = w.wait_ready()
    rep.check(ready, "events burst: watch prints its `watching:` line", w.why_not_ready())
    if not ready:
        w.stop()
        return

    lock = threading.Lock()
    next_index = [0]
    ids = {}  # login index -> session id
    failures = []  # (index, attempt, exit code, stderr)
    stop = threading.Event()

    def worker():
        while not stop.is_set():
            with lock:
                i = next_index[0]
                if i >= logins:
                    return
                next_index[0] += 1
            user = USERS[i % len(USERS)]
            addr = ADDRS[(i // len(USERS)) % len(ADDRS)]
            for attempt in range(BURST_ATTEMPTS):
                if stop.is_set():
                    return
                rc, out, err, _t0, _t1 = ctx.quick_login(user, addr, BURST_REMOTE, timeout=60)
                sid = parse_sessionid(out)
                if sid is not None:
                    with lock:
                        ids[i] = sid
                    break
                with lock:
                    failures.append((i, attempt, rc, err.strip()[-200:]))
                time.sleep(0.2)

    t0 = time.time()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except BaseException:
        stop.set()
        raise
    t1 = time.time()
    wall = t1 - t0
    mine = set(ids.values())
    note("events burst: %d logins and logouts (%d workers, %d failed attempts retried) in %.1f s wall time"
         % (len(ids), workers, len(failures), wall))  # fmt: skip
    for f in failures[:5]:
        note("  failed attempt: login %d try %d exit %s: %s" % f)
    rep.check(
        len(ids) == logins and len(mine) == logins,
        "events burst ground truth: %d ssh logins printed %d distinct audit session ids" % (logins, logins),
        "%d logins succeeded, %d distinct ids, %d failed attempts" % (len(ids), len(mine), len(failures)),
    )

    def complete(evs):
        c = {e.logon_id for e in evs if e.cls == CREATION and e.logon_id in mine}
        d = {e.logon_id for e in evs if e.cls == DELETION and e.logon_id in mine}
        return c == mine and d == mine

    w.wait(complete, 30)
    evs = w.snapshot()
    last = max([e.arrival for e in evs if e.logon_id in mine] or [t1])
    note("events burst: the last of its events arrived %.1f s after the last logout" % (last - t1))
    time.sleep(6)  # one more WITHIN interval: duplicates would show up now
    check_stop(rep, w, "events burst")
    evs = w.snapshot()
    for cls, what in ((CREATION, "creation"), (DELETION, "deletion")):
        got = [e.logon_id for e in evs if e.cls == cls and e.logon_id in mine]
        counts = {}
        for i in got:
            counts[i] = counts.get(i, 0) + 1
        dups = sorted((i for i, c in counts.items() if c > 1), key=int)
        missing = sorted(mine - set(got), key=int)
        rep.check(
            len(got) == len(mine) and not dups and not missing,
            "events burst: exactly %d %s events, one for each of the %d session ids" % (len(mine), what, len(mine)),
            "%d events; missing %d %s; duplicated %s" % (len(got), len(missing), missing[:20], dups[:20]),
        )
    first = {}
    order_bad = []
    for e in evs:
        if e.logon_id in mine:
            if e.cls == CREATION:
                first.setdefault(e.logon_id, e.arrival)
            elif e.cls == DELETION and e.logon_id not in first:
                order_bad.append(e.logon_id)
    rep.check(not order_bad, "events burst: no deletion event before the creation event of its session", order_bad[:20])
    foreign = [e.brief() for e in evs if e.logon_id not in mine]
    mods = sum(1 for e in evs if e.cls == MODIFICATION and e.logon_id in mine)
    note("events burst: %d events in all; %d modifications of these sessions; %d events of other sessions %s"
         % (len(evs), mods, len(foreign), _short(foreign[:10])))  # fmt: skip
    check_lines(rep, w, "events burst")


# --- part 4: GROUP WITHIN ------------------------------------------------------------------


def simultaneous_logins(ctx, n, remote):
    """n ssh logins started together; returns [(user, sid or None, rc, err)]."""
    barrier = threading.Barrier(n)
    res = [None] * n

    def one(i):
        user = USERS[i % len(USERS)]
        addr = ADDRS[i % len(ADDRS)]
        try:
            barrier.wait(10)
        except threading.BrokenBarrierError:
            pass
        rc, out, err, _a, _b = ctx.quick_login(user, addr, remote)
        res[i] = (user, parse_sessionid(out), rc, err.strip()[-200:])

    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(90)
    return [r or (None, None, None, "no result") for r in res]


def part_group(ctx, rep, n=4):
    wg = ctx.watch("watch (GROUP WITHIN)", Q_GROUP)
    wc = ctx.watch("watch (creations, companion)", Q_LOGON_CREATE_1)
    ready = wg.wait_ready()
    rep.check(ready, "events group: `linmgmt watch \"%s\"` prints its `watching:` line" % Q_GROUP, wg.why_not_ready())
    ready_c = wc.wait_ready()
    # Without its witness the group checks cannot run: that is a failure, never a quiet skip.
    rep.check(
        ready_c, "events group: the companion creation watch prints its `watching:` line", wc.why_not_ready()
    )
    if not (ready and ready_c):
        wg.stop()
        wc.stop()
        return

    remote = "cat /proc/self/sessionid; sleep 1"
    res = simultaneous_logins(ctx, n, remote)
    ids = {r[1] for r in res if r[1]}
    rep.check(
        len(ids) == n,
        "events group ground truth: %d simultaneous ssh logins have %d distinct audit session ids" % (n, n),
        res,
    )
    # the companion watch tells when linmgmt saw each creation (and whether others' sessions interfered)
    wc.wait(lambda evs: ids <= {e.logon_id for e in evs if e.cls == CREATION}, 15)
    cevs = [e for e in wc.snapshot() if e.cls == CREATION]
    mine_t = [filetime_to_epoch(e.obj["TIME_CREATED"]) for e in cevs
              if e.logon_id in ids and isinstance(e.obj.get("TIME_CREATED"), int)]  # fmt: skip
    spread = (max(mine_t) - min(mine_t)) if mine_t else None
    foreign = [e.logon_id for e in cevs if e.logon_id not in ids]
    note("events group: creations of the %d logins seen within %s s of each other (companion watch); "
         "creations of other sessions meanwhile: %s" % (n, "%.2f" % spread if spread is not None else "?", foreign))  # fmt: skip

    agg = wg.wait(lambda evs: [e for e in evs if e.cls == AGGREGATE], GROUP_SECONDS + 15)
    if agg and mine_t:
        note("events group: __AggregateEvent arrived %.2f s after the first creation" % (agg[0].arrival - min(mine_t)))
    time.sleep(2)
    aggs = [e for e in wg.snapshot() if e.cls == AGGREGATE]
    if spread is not None and spread <= GROUP_SECONDS - 1:
        want = n + len(foreign)
        rep.check(
            len(aggs) == 1 and aggs[0].obj.get("NumberOfEvents") == want,
            "events group: exactly one __AggregateEvent with NumberOfEvents %d for %d logins within %.1f s"
            % (want, n, spread),
            [e.raw[:300] for e in aggs] or "no aggregate event; lines: %s" % [e.brief() for e in wg.snapshot()],
        )
        rep_ev = aggs[0].obj.get("Representative") if aggs else None
        rep_ev = rep_ev if isinstance(rep_ev, dict) else {}
        t = rep_ev.get("TargetInstance") if isinstance(rep_ev.get("TargetInstance"), dict) else {}
        rep.check(
            rep_ev.get("__CLASS") == CREATION and (str(t.get("LogonId")) in ids or foreign),
            "events group: its Representative is an __InstanceCreationEvent for one of the logins",
            _short(rep_ev) if aggs else "no aggregate event",
        )
    else:
        note("events group: the logins' creations were %s s apart, more than one GROUP WITHIN window allows "
             "for an exact count: the NumberOfEvents check is skipped" % spread)  # fmt: skip

    # below HAVING: two logins give no aggregate event
    seen = len(wg.snapshot())
    seen_c = len(wc.snapshot())
    res2 = simultaneous_logins(ctx, 2, remote)
    ids2 = {r[1] for r in res2 if r[1]}
    wc.wait(lambda evs: ids2 <= {e.logon_id for e in evs if e.cls == CREATION}, 15)
    time.sleep(GROUP_SECONDS + 3)
    new_c = [e for e in wc.snapshot()[seen_c:] if e.cls == CREATION]
    new_g = wg.snapshot()[seen:]
    foreign2 = [e.logon_id for e in new_c if e.logon_id not in ids2]
    if len(ids2) == 2 and not foreign2:
        rep.check(
            not new_g,
            "events group: 2 more logins (fewer than HAVING NumberOfEvents >= 3) give no event",
            [e.raw[:200] for e in new_g],
        )
    else:
        note("events group: the HAVING check is skipped (logins %s, other sessions' creations %s)" % (res2, foreign2))
    check_stop(rep, wg, "events group")
    wc.stop()
    check_lines(rep, wg, "events group")
    check_lines(rep, wc, "events group (companion creation watch)")


# --- entry ---------------------------------------------------------------------------------

PARTS = ("ssh", "smb", "burst", "group", "seclog")


def run(live, rep, lm, harness, parts=PARTS):
    """The events checks; `harness` is the run_live module (SshSession, SMB_PASSWORD, ...)."""
    ctx = Ctx(live, lm, harness)
    note("events: `linmgmt watch` (parts: %s)" % ", ".join(parts))
    for name in parts:
        t = time.monotonic()
        by_name = {"ssh": part_ssh, "smb": part_smb, "burst": part_burst, "group": part_group, "seclog": seclog.part}
        by_name[name](ctx, rep)
        note("events %s: %.1f s" % (name, time.monotonic() - t))
