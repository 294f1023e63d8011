"""Live tests of the security event log (issue 14): `linmgmt serve --event-log` and
`linmgmt watch --format ecs` with real ssh logins and logouts on loopback.

Called from events.py as the part `seclog` (`--only events --events-parts seclog` runs it
alone), with the harness's sshd. The server writes OCSF lines to a file in the work dir and
its state next to it; an ECS watch runs beside it.

  1. serve starts; a pty login (lmalice@::1) and a no-pty login (lmbob@127.0.0.1) are
     logged on (a logon session and a server session each), then lmalice logs out.
  2. serve is stopped with SIGTERM; while it is down lmbob logs out and lmcarol logs in.
  3. serve starts again: exactly one logoff (lmbob) and one logon (lmcarol) are added per
     class, and nothing is repeated.
  4. the file is renamed and serve gets SIGHUP; lmcarol logs out: the logoff goes to a new
     file, the renamed one is left as it was.
  5. every line: one logon and one logoff per session and class, sequence numbers without
     gap or repeat, the values of the real sessions (audit id, user, uid, LogonType,
     address, method); every line validates against the OCSF schema (the class of its
     `class_uid`, the version of its `metadata.version`, and 1.1.0 too) with
     ocsf-json-schema and jsonschema from the venv tests/live/run makes
     (`LINMGMT_LIVE_PYTHON`).
  6. the ECS watch's lines carry ECS's required fields and the ones a SIEM's rules use, each
     of its ECS type, categorization values from ECS's allowed lists.
"""

import ipaddress
import json
import os
import re
import signal
import subprocess
import threading
import time

import events
import procfs
from services import note, wait_for
from services import short as _short

SERVE_READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
LINE_TIMEOUT = 20.0
OCSF_ALSO = "1.1.0"  # validated too: the release Amazon Security Lake ingests
NOTTY = "cat /proc/self/sessionid; sleep 600 & read -r _; kill $! 2>/dev/null"
LOGON_CLASS = "Win32_LogonSession"
SERVER_CLASS = "Win32_ServerSession"

Q_ECS_LOGONS = "SELECT * FROM __InstanceOperationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_LogonSession'"

# The ECS 9.4.0 fields the log writes, with their ECS types ("[]": an array of them), from
# the ECS field reference; `linmgmt.*` are linmgmt's own, as ECS asks of custom fields.
ECS_FIELDS = {
    "@timestamp": "date",
    "ecs.version": "keyword",
    "message": "text",
    "event.kind": "keyword",
    "event.category": "keyword[]",
    "event.type": "keyword[]",
    "event.action": "keyword",
    "event.outcome": "keyword",
    "event.module": "keyword",
    "event.dataset": "keyword",
    "event.provider": "keyword",
    "event.start": "date",
    "event.end": "date",
    "event.duration": "long",
    "event.sequence": "long",
    "event.reason": "keyword",
    "user.name": "keyword",
    "user.id": "keyword",
    "source.ip": "ip",
    "source.address": "keyword",
    "source.domain": "keyword",
    "destination.ip": "ip",
    "destination.port": "long",
    "destination.address": "keyword",
    "network.protocol": "keyword",
    "network.transport": "keyword",
    "host.name": "keyword",
    "host.hostname": "keyword",
    "service.name": "keyword",
    "agent.type": "keyword",
    "agent.version": "keyword",
    "related.user": "keyword[]",
    "related.ip": "ip[]",
    "related.hosts": "keyword[]",
}
# ECS's required fields, and the categorization fields' allowed values (ECS 9.4.0).
ECS_REQUIRED = ("@timestamp", "ecs.version")
ECS_ALLOWED = {
    "event.kind": {"alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error", "signal"},
    "event.category": {"api", "authentication", "configuration", "database", "driver", "email", "file", "host",
                       "iam", "intrusion_detection", "library", "malware", "network", "package", "process",
                       "registry", "session", "threat", "vulnerability", "web"},
    "event.type": {"access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied",
                   "device", "end", "error", "group", "indicator", "info", "installation", "protocol", "start",
                   "user"},
    "event.outcome": {"failure", "success", "unknown"},
}  # fmt: skip
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def flatten(obj, prefix=""):
    """{'a': {'b': 1}} -> {'a.b': 1} (arrays are values)."""
    out = {}
    for k, v in obj.items():
        name = prefix + k
        if isinstance(v, dict):
            out.update(flatten(v, name + "."))
        else:
            out[name] = v
    return out


def ecs_problems(doc):
    """What is wrong with one ECS document, as a list of strings."""
    flat = flatten(doc)
    bad = ["missing %s" % f for f in ECS_REQUIRED if f not in flat]

    def typed(kind, v):
        if kind in ("keyword", "text"):
            return isinstance(v, str)
        if kind == "long":
            return isinstance(v, int) and not isinstance(v, bool)
        if kind == "date":
            return isinstance(v, str) and bool(_RFC3339.match(v))
        if kind == "ip":
            try:
                ipaddress.ip_address(v)
                return True
            except (TypeError, ValueError):
                return False
        return False

    for name, v in flat.items():
        if name.startswith("linmgmt."):
            continue
        kind = ECS_FIELDS.get(name)
        if kind is None:
            bad.append("%s is not an ECS field linmgmt writes" % name)
            continue
        values = v if kind.endswith("[]") else [v]
        if kind.endswith("[]") and not isinstance(v, list):
            bad.append("%s is not an array" % name)
            continue
        for x in values:
            if not typed(kind.rstrip("[]"), x):
                bad.append("%s=%r is not a %s" % (name, x, kind))
            allowed = ECS_ALLOWED.get(name)
            if allowed is not None and x not in allowed:
                bad.append("%s=%r is not an allowed value" % (name, x))
    return bad


# --- the server ----------------------------------------------------------------------------


class Serve:
    """`linmgmt serve --event-log FILE --event-log-state STATE` with a reader of its log."""

    def __init__(self, ctx, dirpath, users):
        self.ctx = ctx
        self.dir = dirpath
        self.users = users
        self.log_path = os.path.join(dirpath, "events.ocsf.json")
        self.state_path = os.path.join(dirpath, "events.state")
        self.proc = None
        self.stderr = []
        self.cond = threading.Condition()
        self.thread = None

    def start(self):
        cmd = [self.ctx.linmgmt, "serve", "--config", "/dev/null", "--listen", "127.0.0.1:0", "--users", self.users,
               "--event-log", self.log_path, "--event-log-state", self.state_path]  # fmt: skip
        self.stderr = []
        self.proc = self.ctx.procs.start("linmgmt serve --event-log", cmd, env=self.ctx.env, stderr=subprocess.PIPE)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self.wait_log("sessions open", SERVE_READY_TIMEOUT)

    def _read(self):
        for raw in iter(self.proc.popen.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.stderr.append(line)
                self.cond.notify_all()
            if self.ctx.verbose:
                note("  serve: %s" % line)

    def wait_log(self, needle, timeout=LINE_TIMEOUT):
        with self.cond:
            self.cond.wait_for(lambda: any(needle in l for l in self.stderr) or self.proc.popen.poll() is not None,
                               timeout)  # fmt: skip
            return next((l for l in self.stderr if needle in l), None)

    def tail(self):
        with self.cond:
            return " | ".join(self.stderr[-5:]) or "(nothing on stderr)"

    def signal(self, sig):
        if self.proc.popen.poll() is None and procfs.alive(self.proc.pid, self.proc.starttime):
            os.kill(self.proc.pid, sig)

    def stop(self):
        """SIGTERM by pid; the exit code, or None when it had to be killed."""
        self.signal(signal.SIGTERM)
        try:
            code = self.proc.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            code = None
        self.ctx.procs.stop([self.proc])
        if self.thread:
            self.thread.join(timeout=5)
        return code


def read_lines(*paths):
    out = []
    for p in paths:
        try:
            with open(p, encoding="utf-8") as f:
                out.extend(json.loads(l) for l in f if l.strip())
        except FileNotFoundError:
            pass
    return out


def key(o):
    """(class, session uid, activity) of an OCSF line."""
    return (o.get("unmapped", {}).get("wmi", {}).get("class"), o.get("session", {}).get("uid"), o.get("activity_id"))


def server_uid(addr, user):
    return 'Win32_ServerSession.ComputerName="%s",UserName="%s"' % (addr, user)


def monitors(user):
    pat = re.compile(r"^sshd(?:-session)?: %s \[priv\]" % re.escape(user))
    return {p.pid for p in procfs.snapshot().values() if pat.match(p.title)}


# --- the part ------------------------------------------------------------------------------


def part(ctx, rep):
    H = ctx.harness
    d = os.path.join(ctx.live.workdir, "seclog")
    os.makedirs(d, exist_ok=True)
    users = os.path.join(d, "users")
    add = subprocess.run([ctx.linmgmt, "user", "add", "seclog", "--role", "admin", "--users", users],
                         input=b"Seclog-live-4d1a\n", env=ctx.env, capture_output=True)  # fmt: skip
    if not rep.check(add.returncode == 0, "seclog: `linmgmt user add` writes the users file", add.stderr[-300:]):
        return
    srv = Serve(ctx, d, users)
    ready = srv.start()
    if not rep.check(ready is not None, "seclog: `linmgmt serve --event-log` compares its state with the host",
                     srv.tail()):  # fmt: skip
        srv.stop()
        return
    note("seclog: %s" % ready)
    ecs = events.Watch(ctx, "watch --format ecs", Q_ECS_LOGONS)
    ecs.args = ["watch", Q_ECS_LOGONS, "--format", "ecs"]
    ecs.start()
    ecs_ready = ecs.wait_ready()
    rep.check(ecs_ready, "seclog: `linmgmt watch … --format ecs` prints its `watching:` line", ecs.why_not_ready())

    def has(*keys, paths=None):
        paths = paths or (srv.log_path,)
        return lambda: all(k in {key(o) for o in read_lines(*paths)} for k in keys)

    def login(label, user, addr, kind, logon_type, cmd):
        s = H.SshSession(label, user, addr, kind, logon_type)
        if not ctx.open_ssh(s, cmd, ignore=monitors(user)):
            rep.check(False, "%s: established" % label, "see the note above")
            return None
        return s

    alice = login("seclog: pty ssh lmalice@::1", "lmalice", "::1", "pty", 10,
                  ctx.ssh_cmd("lmalice", "::1", "sleep 600", tty=True))  # fmt: skip
    bob = login("seclog: no-pty ssh lmbob@127.0.0.1", "lmbob", "127.0.0.1", "notty", 3,
                ctx.ssh_cmd("lmbob", "127.0.0.1", NOTTY))  # fmt: skip
    if not (alice and bob):
        ctx.logout([s.client for s in (alice, bob) if s])
        srv.stop()
        ecs.stop()
        return
    a_id, b_id = str(alice.sessionid), str(bob.sessionid)
    got = wait_for(has((LOGON_CLASS, a_id, 1), (LOGON_CLASS, b_id, 1), (SERVER_CLASS, server_uid("::1", "lmalice"), 1),
                       (SERVER_CLASS, server_uid("127.0.0.1", "lmbob"), 1)), LINE_TIMEOUT)  # fmt: skip
    rep.check(got, "seclog: two ssh logins give a logon line each for the logon session (LogonId = audit id %s, %s) "
              "and the server session" % (a_id, b_id), [key(o) for o in read_lines(srv.log_path)])  # fmt: skip
    ctx.logout([alice.client])
    got = wait_for(has((LOGON_CLASS, a_id, 2), (SERVER_CLASS, server_uid("::1", "lmalice"), 2)), LINE_TIMEOUT)
    rep.check(got, "seclog: lmalice's logout gives a logoff line for both", [key(o) for o in read_lines(srv.log_path)])

    # Stopped: bob logs out, carol logs in.
    code = srv.stop()
    rep.check(code == 0, "seclog: serve exits 0 within %.0f s of SIGTERM" % STOP_TIMEOUT, code)
    before = read_lines(srv.log_path)
    ctx.logout([bob.client])
    gone = wait_for(lambda: not procfs.audit_members(procfs.snapshot(), bob.sessionid), 10, 0.1)
    rep.check(gone is not None, "seclog ground truth: lmbob's audit session %s ended while serve was down" % b_id)
    carol = login("seclog: no-pty ssh lmcarol@127.0.0.1", "lmcarol", "127.0.0.1", "notty", 3,
                  ctx.ssh_cmd("lmcarol", "127.0.0.1", NOTTY))  # fmt: skip
    if not carol:
        ecs.stop()
        return
    c_id = str(carol.sessionid)
    ready = srv.start()
    rep.check(ready is not None, "seclog: serve starts again", srv.tail())
    note("seclog: restart: %s" % ready)
    after = read_lines(srv.log_path)
    added = after[len(before):]
    rep.check(after[: len(before)] == before, "seclog: the restart leaves the lines already written as they were")
    ours = {a_id, b_id, c_id, server_uid("::1", "lmalice"), server_uid("127.0.0.1", "lmbob"),
            server_uid("127.0.0.1", "lmcarol")}  # fmt: skip
    mine = sorted((key(o), o.get("unmapped", {}).get("origin")) for o in added if key(o)[1] in ours)
    want = sorted([
        ((LOGON_CLASS, b_id, 2), "missed"), ((SERVER_CLASS, server_uid("127.0.0.1", "lmbob"), 2), "missed"),
        ((LOGON_CLASS, c_id, 1), "open"), ((SERVER_CLASS, server_uid("127.0.0.1", "lmcarol"), 1), "open"),
    ])  # fmt: skip
    rep.check(mine == want, "seclog: the restart adds exactly lmbob's logoff and lmcarol's logon (logon and server "
              "session each), nothing repeated", mine)  # fmt: skip
    others = [key(o) for o in added if key(o)[1] not in ours]
    if others:
        note("seclog: the restart also reported other sessions of this host: %s" % _short(others))

    # Rotation: rename, SIGHUP, the next line goes to a new file.
    rotated = srv.log_path + ".1"
    os.rename(srv.log_path, rotated)
    srv.signal(signal.SIGHUP)
    reopened = srv.wait_log("reopened")
    rep.check(reopened is not None, "seclog: SIGHUP reopens the log file", srv.tail())
    ctx.logout([carol.client])
    got = wait_for(has((LOGON_CLASS, c_id, 2), (SERVER_CLASS, server_uid("127.0.0.1", "lmcarol"), 2)), LINE_TIMEOUT)
    rep.check(got, "seclog: after the rotation lmcarol's logoff goes to the new file", read_lines(srv.log_path))
    rep.check(read_lines(rotated) == after, "seclog: the rotated file is left as it was")
    time.sleep(1)
    code = srv.stop()
    rep.check(code == 0, "seclog: serve exits 0 on SIGTERM after the rotation", code)
    ecs.stop()

    # Every line, in order, across the rotation.
    lines = read_lines(rotated, srv.log_path)
    seqs = [o.get("metadata", {}).get("sequence") for o in lines]
    rep.check(seqs == list(range(len(lines))), "seclog: sequence numbers 0..%d without gap or repeat" % (len(lines) - 1),
              seqs)  # fmt: skip
    count = {}
    for o in lines:
        count[key(o)] = count.get(key(o), 0) + 1
    for sid, user in ((a_id, "lmalice"), (b_id, "lmbob"), (c_id, "lmcarol")):
        for cls, uid in ((LOGON_CLASS, sid), (SERVER_CLASS, server_uid("::1" if user == "lmalice" else "127.0.0.1", user))):
            n = (count.get((cls, uid, 1), 0), count.get((cls, uid, 2), 0))
            rep.check(n == (1, 1), "seclog: %s %s %s: exactly one logon and one logoff" % (user, cls, uid), n)
    pw = ctx.live.users
    for s, sid in ((alice, a_id), (bob, b_id), (carol, c_id)):
        o = next((o for o in lines if key(o) == (LOGON_CLASS, sid, 1)), {})
        got = (o.get("user", {}).get("name"), o.get("user", {}).get("uid"), o.get("logon_type_id"),
               o.get("src_endpoint", {}).get("ip"), o.get("service", {}).get("name"), o.get("is_remote"))  # fmt: skip
        want = (s.user, str(pw[s.user].pw_uid), s.logon_type, s.addr, "sshd", True)
        rep.check(got == want, "seclog: %s's logon line: user, uid, logon_type_id, src_endpoint.ip, service, is_remote "
                  "%s" % (s.user, want), got)  # fmt: skip
        note("seclog: %s: auth_protocol %s (%s)" % (s.user, o.get("auth_protocol"), o.get("auth_protocol_id")))
    ssh_lines = [(key(o), o.get("unmapped", {}).get("origin"), o.get("auth_protocol")) for o in lines
                 if key(o)[1] in (a_id, b_id, c_id)]  # fmt: skip
    rep.check({m for _, _, m in ssh_lines} == {"publickey"}, "seclog: the ssh logins' auth_protocol is publickey "
              "(from sshd's log), logoffs included", ssh_lines)  # fmt: skip

    # The OCSF schema.
    py = os.environ.get("LINMGMT_LIVE_PYTHON")
    validator = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ocsf_validate.py")
    if not rep.check(py and os.access(py, os.X_OK), "seclog: a python with the OCSF validator (tests/live/run makes "
                     ".venv/live with ocsf-json-schema and jsonschema)", py):  # fmt: skip
        return
    r = subprocess.run([py, validator, rotated, srv.log_path, "--also", OCSF_ALSO], capture_output=True, timeout=300)
    try:
        res = json.loads(r.stdout.decode())
    except ValueError:
        res = {"events": 0, "checked": {}, "errors": [r.stderr.decode()[-500:] or "no output"]}
    rep.check(
        r.returncode == 0 and res["events"] == len(lines) and not res["errors"],
        "seclog: all %d OCSF lines validate against the OCSF schema (%s; ocsf-json-schema + jsonschema, offline)"
        % (len(lines), ", ".join("%s: %d" % kv for kv in sorted(res.get("checked", {}).items()))),
        res["errors"][:5],
    )

    # The ECS watch.
    docs = [e.obj for e in ecs.snapshot()]
    mine = [o for o in docs if o.get("linmgmt", {}).get("logon_id") in (a_id, b_id, c_id)]
    kinds = sorted((o["linmgmt"]["logon_id"], tuple(o.get("event", {}).get("type", []))) for o in mine)
    want = sorted([(a_id, ("start",)), (a_id, ("end",)), (b_id, ("start",)), (b_id, ("end",)), (c_id, ("start",)),
                   (c_id, ("end",))])  # fmt: skip
    rep.check(kinds == want, "seclog: the ECS watch has a start and an end for each of the three logins", kinds)
    problems = [(o.get("linmgmt", {}).get("logon_id"), p) for o in docs for p in ecs_problems(o)]
    rep.check(not problems and docs, "seclog: every ECS line (%d) has @timestamp and ecs.version, and only ECS fields "
              "of their ECS types with allowed categorization values" % len(docs), problems[:5])  # fmt: skip
    for o in mine:
        flat = flatten(o)
        need = {"event.kind": "event", "event.category": ["authentication", "session"], "event.outcome": "success"}
        wrong = {k: flat.get(k) for k, v in need.items() if flat.get(k) != v}
        for f in ("event.action", "user.name", "source.ip", "related.user", "service.name", "host.name"):
            if f not in flat:
                wrong[f] = "missing"
        if flat.get("user.name") not in (flat.get("related.user") or []):
            wrong["related.user"] = flat.get("related.user")
        rep.check(not wrong, "seclog: ECS %s %s: event.kind/category/type/action/outcome, user.name, source.ip, "
                  "related.user, service.name, host.name" % (o["linmgmt"]["logon_id"], o["event"]["type"]), wrong)  # fmt: skip
