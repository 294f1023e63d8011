"""Live checks of issue 11's "sessions that keep their identity", "stable values" and "churn
is not a warning", with the harness's private sshd on loopback.

Called from run_live.py after the session checks (or alone with `--only identity`):

  kept     a pty login `ssh -tt lmalice@::1 'nohup sleep 600 >/dev/null 2>&1 & read -r _'`
           queried while sshd serves it (CLI and CIM-XML: LogonType 10, sshd/publickey,
           StartTime within 2 s of the login; root records it in /run/linmgmt/sessions, 0600
           in a 0700 directory), then its client is killed: sshd hangs up and exits, the
           nohup'ed sleep lives on in the same audit session. LogonType, AuthenticationPackage,
           StartTime, Caption and Description are unchanged, in the CLI and over CIM-XML.
  gone     the literal `ssh lmbob@127.0.0.1 'nohup sleep 600 >/dev/null 2>&1 & exit'`: sshd is
           gone before linmgmt ever sees the session. LogonType 3 and sshd/publickey from the
           environment (SSH_CONNECTION) and sshd's log, StartTime within 2 s of the login;
           every later query (CLI, CIM-XML) gives exactly the first answer.
  unprivileged  `linmgmt query` as lmcarol: exit 0, no warning about linmgmt's state, the
           record untouched.
  stable   the same queries twice, 1.2 s apart, and in two processes at once (and the server):
           every time property (StartTime, CreationDate, ...) of every session and process
           present in all of them is identical.
  churn    15 queries (Win32_Process, Win32_LogonSession, Win32_SessionProcess, the overview)
           while a local shell loop and one inside an ssh session start short processes:
           no `warning:` line on stderr.
  end      the sleeps are killed (by pid): both sessions are gone in the CLI and over CIM-XML,
           and their records are pruned from /run/linmgmt/sessions.

Python 3 standard library only.
"""

import base64
import http.client
import json
import os
import re
import signal
import socket
import stat
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import procfs
import services
from services import note, wait_for
from services import short as _short

STATE_DIR = "/run/linmgmt"
STATE_FILE = "/run/linmgmt/sessions"
ADMIN = ("lmidentity", "identity-pw-1")
ESTABLISH_TIMEOUT = 10.0
GONE_TIMEOUT = 10.0
NOHUP = "nohup sleep 600 >/dev/null 2>&1 &"
IDENTITY = ("LogonType", "AuthenticationPackage", "StartTime", "Caption", "Description")
CHURN_QUERIES = 15


# --- times ----------------------------------------------------------------------------------

_RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
_CIMDT = re.compile(r"^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)\.(\d{6})([+-])(\d{3})$")


def _epoch_us(y, mo, d, h, mi, s, frac_us, offset_min):
    import calendar

    secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) - offset_min * 60
    return secs * 1_000_000 + frac_us


def time_us(v):
    """Microseconds since the epoch of an RFC 3339 (CLI JSON) or CIM datetime (CIM-XML)
    value, exactly (no floats); None when `v` is neither."""
    if not isinstance(v, str):
        return None
    m = _RFC3339.match(v)
    if m:
        y, mo, d, h, mi, s, frac, off = m.groups()
        us = int((frac or "0").ljust(6, "0")[:6])
        om = 0 if off == "Z" else (1 if off[0] == "+" else -1) * (int(off[1:3]) * 60 + int(off[4:6]))
        return _epoch_us(int(y), int(mo), int(d), int(h), int(mi), int(s), us, om)
    m = _CIMDT.match(v)
    if m:
        y, mo, d, h, mi, s, us, sign, om = m.groups()
        om = int(om) * (1 if sign == "+" else -1)
        return _epoch_us(int(y), int(mo), int(d), int(h), int(mi), int(s), int(us), om)
    return None


# --- CIM-XML over http.client ---------------------------------------------------------------


class CimXml:
    """`linmgmt serve` on loopback HTTP, asked with hand-written ExecQuery requests."""

    def __init__(self, live, lm):
        self.live = live
        d = os.path.join(live.workdir, "identity-serve")
        os.mkdir(d, 0o700)
        self.users = os.path.join(d, "users")
        subprocess.run(
            [lm.path, "user", "add", ADMIN[0], "--users", self.users, "--role", "admin"],
            input=ADMIN[1] + "\n", text=True, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        self.port = services.free_port(5990, ["127.0.0.1"])
        self.log_path = os.path.join(d, "serve.log")
        self.proc = live.procs.start(
            "linmgmt serve",
            [lm.path, "serve", "--config", "/dev/null", "--users", self.users, "--listen", "http://127.0.0.1:%d" % self.port, "--max-age", "1"],
            env=lm.env,
            stderr=open(self.log_path, "ab"),
        )
        if not wait_for(self._listening, 20, 0.1):
            raise services.SetupError("linmgmt serve did not listen on %d: %s" % (self.port, self.log_tail()))

    def _listening(self):
        if self.proc.popen.poll() is not None:
            raise services.SetupError("linmgmt serve exited: %s" % self.log_tail())
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def log_tail(self, n=10):
        return services.log_tail(self.log_path, n)

    def query(self, wql):
        """(instances as dicts of property name -> text or None, why-not)."""
        body = (
            '<?xml version="1.0" encoding="utf-8" ?>\n'
            '<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="11" PROTOCOLVERSION="1.0"><SIMPLEREQ>'
            '<IMETHODCALL NAME="ExecQuery"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/>'
            "</LOCALNAMESPACEPATH>"
            '<IPARAMVALUE NAME="QueryLanguage"><VALUE>WQL</VALUE></IPARAMVALUE>'
            '<IPARAMVALUE NAME="Query"><VALUE>%s</VALUE></IPARAMVALUE>'
            "</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"
            % wql.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        ).encode()
        headers = {
            "Content-Type": 'application/xml; charset="utf-8"',
            "CIMOperation": "MethodCall",
            "CIMMethod": "ExecQuery",
            "CIMObject": "root%2Fcimv2",
            "Authorization": "Basic " + base64.b64encode(("%s:%s" % ADMIN).encode()).decode(),
        }
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request("POST", "/cimom", body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
        except OSError as e:
            return None, "CIM-XML: %s" % e
        finally:
            c.close()
        if r.status != 200:
            return None, "HTTP %d: %s" % (r.status, data[:300])
        try:
            doc = ET.fromstring(data)
        except ET.ParseError as e:
            return None, "bad XML (%s): %s" % (e, data[:300])
        err = doc.find(".//ERROR")
        if err is not None:
            return None, "CIM error %s: %s" % (err.get("CODE"), err.get("DESCRIPTION"))
        out = []
        for inst in doc.iter("INSTANCE"):
            props = {}
            for p in inst:
                if p.tag in ("PROPERTY", "PROPERTY.ARRAY", "PROPERTY.REFERENCE"):
                    v = p.find("VALUE")
                    props[p.get("NAME")] = v.text if v is not None else None
            out.append(props)
        return out, None

    def logon(self, sessionid, timeout=5.0):
        """The session's instance. The server answers from a snapshot up to `--max-age` (1 s)
        old, so a session that started a moment ago may not be in it yet: asked again until
        it is (or `timeout`)."""
        state = {}

        def found():
            got, why = self.query("SELECT * FROM Win32_LogonSession WHERE LogonId = '%s'" % sessionid)
            state["got"], state["why"] = got, why
            return bool(got)

        wait_for(found, timeout, 0.25)
        if state["got"] is None:
            return None, state["why"]
        return (state["got"][0] if state["got"] else {}), None


def normal(inst):
    """The identity properties of a CLI (JSON) or CIM-XML instance, comparable: times in
    microseconds, LogonType as a number."""
    out = {}
    for k in IDENTITY:
        v = (inst or {}).get(k)
        if k == "StartTime":
            v = time_us(v)
        elif k == "LogonType" and v is not None:
            v = int(v)
        out[k] = v
    return out


# --- the record -----------------------------------------------------------------------------


def read_records():
    """linmgmt's own record: {audit session id: record}, or None when there is no file."""
    try:
        with open(STATE_FILE) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    out = {}
    for line in lines[1:]:
        try:
            r = json.loads(line)
            out[int(r["id"])] = r
        except (ValueError, KeyError, TypeError):
            pass
    return out


def state_modes():
    try:
        return (stat.S_IMODE(os.stat(STATE_DIR).st_mode), stat.S_IMODE(os.stat(STATE_FILE).st_mode))
    except OSError:
        return None


# --- the run --------------------------------------------------------------------------------


class Orphans:
    """The nohup'ed sleeps: reparented to init, so the harness's stop-by-descendants never
    reaches them; killed here by pid (checked against their start time)."""

    def __init__(self):
        self.procs = []

    def add(self, p):
        self.procs.append(p)

    def kill(self):
        for p in self.procs:
            if procfs.alive(p.pid, p.starttime):
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        wait_for(lambda: not any(procfs.alive(p.pid, p.starttime) for p in self.procs), 5)


def find_sleep(user, after_pids=()):
    """The user's `sleep 600` in an audit session (the nohup'ed one), if one exists."""
    import pwd

    uid = pwd.getpwnam(user).pw_uid
    for p in procfs.snapshot().values():
        if p.comm == "sleep" and p.loginuid == uid and p.sessionid is not None and p.title.startswith("sleep 600"):
            if p.pid not in after_pids and p.state != "Z":
                return p
    return None


def sshd_of(listener_pid, user):
    procs = procfs.snapshot()
    pat = re.compile(r"^sshd(?:-session|-auth)?: %s[ @\[]" % re.escape(user))
    return [procs[p] for p in procfs.descendants(procs, listener_pid) if p in procs and pat.match(procs[p].title)]


def run(live, rep, lm, harness):
    note("identity: sessions that keep their identity, stable values, churn")
    orphans = Orphans()
    try:
        try:
            cim = CimXml(live, lm)
        except (services.SetupError, OSError, subprocess.SubprocessError) as e:
            rep.check(False, "identity: linmgmt serve starts on loopback", str(e))
            return
        note("identity: linmgmt serve pid %d on 127.0.0.1:%d" % (cim.proc.pid, cim.port))
        kept = part_kept(live, rep, lm, cim, harness, orphans)
        gone = part_gone(live, rep, lm, cim, harness, orphans)
        part_unprivileged(live, rep, lm)
        part_stable(live, rep, lm, cim)
        part_churn(live, rep, lm)
        part_end(live, rep, lm, cim, orphans, [s for s in (kept, gone) if s])
    finally:
        orphans.kill()


def part_kept(live, rep, lm, cim, harness, orphans):
    sd = live.sshd
    s = harness.SshSession("identity pty lmalice@::1", "lmalice", "::1", "pty", 10)
    s.out_path = os.path.join(sd.dir, "identity-kept.out")
    out = open(s.out_path, "wb")
    s.login_at = time.time()
    cmd = ["ssh", "-tt", *sd.client_opts(), "-p", str(sd.port), "lmalice@::1", "%s read -r _" % NOHUP]
    s.client = live.procs.start("ssh client identity kept", cmd, stdin=subprocess.PIPE, stdout=out, stderr=out)
    ok = wait_for(lambda: s.client.popen.poll() is not None or s.find(sd.proc.pid), ESTABLISH_TIMEOUT)
    if not ok or s.monitor is None:
        rep.check(False, "identity kept: the pty login with a nohup'ed sleep is established", sd.log_tail())
        return None
    sleep = find_sleep("lmalice")
    if sleep is not None:
        orphans.add(sleep)
    sid = str(s.sessionid)
    rep.check(
        sleep is not None and str(sleep.sessionid) == sid,
        "identity kept: ground truth: the nohup'ed sleep is in the login's audit session %s" % sid,
        sleep,
    )
    got, why = lm.query("SELECT * FROM Win32_LogonSession WHERE LogonId = '%s'" % sid)
    before = (got or [{}])[0] if got else {}
    t = time_us(before.get("StartTime"))
    rep.check(
        before.get("LogonType") == 10
        and before.get("AuthenticationPackage") == "sshd/publickey"
        and t is not None
        and abs(t / 1e6 - s.login_at) <= harness.START_TOLERANCE,
        "identity kept: while sshd serves it: LogonType 10, sshd/publickey, StartTime within %.0f s of the login"
        % harness.START_TOLERANCE,
        why or before,
    )
    server_before, why = cim.logon(sid)
    rep.check(
        server_before is not None and normal(server_before) == normal(before),
        "identity kept: CIM-XML gives the CLI's LogonType, AuthenticationPackage, StartTime, Caption and Description",
        why or {"cli": normal(before), "cim-xml": normal(server_before)},
    )
    records = read_records() or {}
    rec = records.get(int(sid))
    rep.check(
        rec is not None and rec.get("basis") == "live" and rec.get("has_tty") is True,
        "identity kept: root recorded the live session in %s" % STATE_FILE,
        rec or sorted(records),
    )
    rep.check(
        state_modes() == (0o700, 0o600),
        "identity kept: %s is 0700 and %s 0600" % (STATE_DIR, STATE_FILE),
        ["%o" % m for m in state_modes() or ()],
    )

    # The connection drops: sshd hangs up the pty and exits; the nohup'ed sleep lives on.
    live.procs.stop([s.client])
    gone = wait_for(lambda: not sshd_of(sd.proc.pid, "lmalice"), GONE_TIMEOUT, 0.1)
    alive = sleep is not None and procfs.alive(sleep.pid, sleep.starttime)
    rep.check(
        gone and alive and procfs.read_proc(sleep.pid).sessionid == s.sessionid,
        "identity kept: ground truth: sshd is gone, the sleep lives on in audit session %s" % sid,
        {"sshd": [p.title for p in sshd_of(sd.proc.pid, "lmalice")], "sleep alive": alive},
    )
    got, why = lm.query("SELECT * FROM Win32_LogonSession WHERE LogonId = '%s'" % sid)
    after = got[0] if got else {}
    rep.check(
        got is not None and len(got) == 1 and normal(after) == normal(before),
        "identity kept: after sshd is gone the CLI gives the same LogonType, AuthenticationPackage, "
        "StartTime, Caption and Description",
        why or {"before": normal(before), "after": normal(after)},
    )
    server_after, why = cim.logon(sid)
    rep.check(
        server_after is not None and normal(server_after) == normal(before),
        "identity kept: and so does CIM-XML",
        why or {"before": normal(before), "cim-xml after": normal(server_after)},
    )
    note("identity kept: session %s before %s, after %s" % (sid, normal(before), normal(after)))
    return (sid, sleep)


def part_gone(live, rep, lm, cim, harness, orphans):
    sd = live.sshd
    out_path = os.path.join(sd.dir, "identity-gone.out")
    login_at = time.time()
    cmd = ["ssh", "-T", *sd.client_opts(), "-p", str(sd.port), "lmbob@127.0.0.1", "%s exit" % NOHUP]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=open(out_path, "wb"), stderr=subprocess.STDOUT, timeout=30)
    sleep = wait_for(lambda: find_sleep("lmbob"), ESTABLISH_TIMEOUT)
    if sleep is not None:
        orphans.add(sleep)
    gone = wait_for(lambda: not sshd_of(sd.proc.pid, "lmbob"), GONE_TIMEOUT, 0.1)
    ok = rep.check(
        r.returncode == 0 and sleep is not None and gone,
        "identity gone: `ssh lmbob@127.0.0.1 '%s exit'` left its sleep in an audit session, sshd gone" % NOHUP,
        {"exit": r.returncode, "sleep": sleep, "sshd": [p.title for p in sshd_of(sd.proc.pid, "lmbob")]},
    )
    if not ok:
        return None
    sid = str(sleep.sessionid)
    answers = []
    for i in range(3):
        got, why = lm.query("SELECT * FROM Win32_LogonSession WHERE LogonId = '%s'" % sid)
        answers.append(("cli %d" % i, (got or [None])[0], why))
        srv, why = cim.logon(sid)
        answers.append(("cim-xml %d" % i, srv, why))
        time.sleep(0.6)
    first = answers[0][1] or {}
    t = time_us(first.get("StartTime"))
    rep.check(
        first.get("LogonType") == 3
        and first.get("AuthenticationPackage") == "sshd/publickey"
        and t is not None
        and abs(t / 1e6 - login_at) <= harness.START_TOLERANCE,
        "identity gone: never seen with sshd: LogonType 3, sshd/publickey (environment + sshd log), "
        "StartTime within %.0f s of the login" % harness.START_TOLERANCE,
        answers[0][2] or first,
    )
    diff = [(what, normal(a), why) for what, a, why in answers if a is None or normal(a) != normal(first)]
    rep.check(
        not diff,
        "identity gone: every later query (3 CLI, 3 CIM-XML) gives exactly the first answer",
        {"first": normal(first), "different": diff},
    )
    rec = (read_records() or {}).get(int(sid))
    rep.check(
        rec is not None and rec.get("basis") == "environment",
        "identity gone: recorded (basis: environment) so that later queries agree",
        rec,
    )
    return (sid, sleep)


def part_unprivileged(live, rep, lm):
    before = _file_state()
    try:
        r = subprocess.run(
            [lm.path, "query", "SELECT * FROM Win32_LogonSession", "--format", "json"],
            env=lm.env, user="lmcarol", group=live.users["lmcarol"].pw_gid, extra_groups=[],
            cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as e:
        rep.check(False, "identity unprivileged: linmgmt runs as lmcarol", str(e))
        return
    err = r.stderr.decode("utf-8", "replace")
    mentions = [line for line in err.splitlines() if "linmgmt" in line or "run/" in line]
    rep.check(
        r.returncode == 0 and not mentions,
        "identity unprivileged: `linmgmt query` as lmcarol exits 0 without a word about linmgmt's state",
        "exit %d; %s" % (r.returncode, mentions or err.strip()[-300:]),
    )
    rep.check(
        _file_state() == before,
        "identity unprivileged: and leaves %s untouched" % STATE_FILE,
        {"before": before, "after": _file_state()},
    )
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    note("identity unprivileged: warnings as lmcarol: %s" % (warnings or "none"))


def _file_state():
    try:
        st = os.stat(STATE_FILE)
        with open(STATE_FILE, "rb") as f:
            return (st.st_mtime_ns, st.st_ino, f.read())
    except OSError:
        return None


def _times(instances, key):
    """{key value: {property: microseconds}} for every time-valued property."""
    out = {}
    for inst in instances or []:
        k = tuple(str(inst.get(p)) for p in key)
        out[k] = {p: time_us(v) for p, v in inst.items() if time_us(v) is not None}
    return out


STABLE_QUERIES = (
    ("SELECT * FROM Win32_LogonSession", ("LogonId",)),
    ("SELECT ProcessId, Name, CreationDate FROM Win32_Process", ("ProcessId", "Name")),
)


def part_stable(live, rep, lm, cim):
    for wql, key in STABLE_QUERIES:
        runs = []
        got, why = lm.query(wql)
        runs.append(("first", got, why))
        time.sleep(1.2)
        got, why = lm.query(wql)
        runs.append(("1.2 s later", got, why))
        both = [None, None]

        def one(i):
            both[i] = lm.query(wql)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        runs += [("process A", *both[0]), ("process B", *both[1])]
        srv, why = cim.query(wql)
        if "Win32_LogonSession" in wql:
            runs.append(("CIM-XML", srv, why))
        failed = [(what, why) for what, got, why in runs if got is None]
        if failed:
            rep.check(False, "stable: %s runs" % wql, failed)
            continue
        maps = [(what, _times(got, key)) for what, got, _ in runs]
        common = set(maps[0][1])
        for _, m in maps[1:]:
            common &= set(m)
        differ = []
        compared = 0
        for k in sorted(common):
            ref = maps[0][1][k]
            for what, m in maps[1:]:
                compared += len(ref)
                if m[k] != ref:
                    differ.append((k, what, ref, m[k]))
        rep.check(
            common and compared > 0 and not differ,
            "stable: %s: every time property of the %d instances present in all %d runs is identical"
            % (wql, len(common), len(runs)),
            differ[:5] or "no instance in common",
        )


def part_churn(live, rep, lm):
    sd = live.sshd
    body = "/bin/sleep 0.05 & /bin/true; /bin/sleep 0.003"
    local = live.procs.start("churn loop", ["bash", "-c", "while :; do %s; done" % body])
    # Inside an audit session too (whose processes linmgmt reads more of); bounded, and the
    # pty's hangup ends it when the client is stopped.
    remote_out = open(os.path.join(sd.dir, "identity-churn.out"), "wb")
    remote = live.procs.start(
        "ssh client churn",
        ["ssh", "-tt", *sd.client_opts(), "-p", str(sd.port), "lmcarol@127.0.0.1",
         "for i in $(seq 20000); do %s; done" % body],
        stdin=subprocess.PIPE, stdout=remote_out, stderr=remote_out,
    )  # fmt: skip
    time.sleep(1.0)
    queries = [
        ["query", "SELECT * FROM Win32_Process"],
        ["query", "SELECT * FROM Win32_LogonSession"],
        ["query", "SELECT * FROM Win32_SessionProcess"],
        [],
        ["query", "SELECT * FROM Win32_ServerSession"],
    ]
    warnings, failures = [], []
    try:
        for i in range(CHURN_QUERIES):
            args = queries[i % len(queries)]
            rc, _, err = lm.run(args + (["--format", "json"] if args else []))
            if rc != 0:
                failures.append((args, rc, err.strip()[-200:]))
            warnings += [line for line in err.splitlines() if line.startswith("warning:")]
    finally:
        live.procs.stop([local, remote])
    rep.check(
        not failures and not warnings,
        "churn: %d queries while shell loops (local and in an ssh session) start short processes: "
        "no warning lines" % CHURN_QUERIES,
        {"warnings": warnings[:10], "failures": failures[:3]},
    )


def part_end(live, rep, lm, cim, orphans, sessions):
    for sid, sleep in sessions:
        if sleep is not None:
            try:
                os.kill(sleep.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    wait_for(lambda: not any(procfs.alive(s.pid, s.starttime) for _, s in sessions if s), 5)
    ids = {sid for sid, _ in sessions}
    state = {}

    def gone():
        got, why = lm.query("SELECT LogonId FROM Win32_LogonSession")
        srv, why2 = cim.query("SELECT LogonId FROM Win32_LogonSession")
        state["cli"] = None if got is None else sorted(ids & {str(i.get("LogonId")) for i in got})
        state["cim"] = None if srv is None else sorted(ids & {str(i.get("LogonId")) for i in srv})
        state["why"] = why or why2
        return state["cli"] == [] and state["cim"] == []

    wait_for(gone, GONE_TIMEOUT, 0.5)
    rep.check(
        state.get("cli") == [] and state.get("cim") == [],
        "end: with their last process killed the sessions %s are gone (CLI and CIM-XML)" % sorted(ids),
        state,
    )
    lm.query("SELECT LogonId FROM Win32_LogonSession")  # a root scan after the end prunes
    left = sorted(ids & {str(k) for k in (read_records() or {})})
    rep.check(not left, "end: their records are pruned from %s" % STATE_FILE, left)
