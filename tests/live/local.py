"""Live checks of the local socket and the live model (issue 13), with the harness's real ssh,
sftp and Samba sessions up. Called from run_live.py after the association checks.

  equal     `linmgmt serve --socket <dir>/linmgmt.sock --reconcile-interval 1` (root, on /);
            the same queries (logon and server sessions, an association walk, a GET) through
            the socket and with `--direct` give the same output, byte for byte, and the
            server's log shows it answered each through the socket.
  watch     `linmgmt watch` through the socket and `--direct`, over six real ssh logins of lmbob:
            both print the creations of exactly those six sessions.
  plain     as lmcarol (the socket's directory is 0755 here, so she reaches it): the server
            does not answer her ("uid N is not served"), and what she gets equals her own
            `--direct` scan.
  churn     20 ssh logins and logouts and 3,000 short processes while the server reconciles
            its live process table every second: every reconciliation reports 0 corrections.
  end       SIGTERM: exit 0, the socket is removed.

Everything else in the live run uses LINMGMT_SOCKET pointing nowhere, so its CLI queries are
direct scans.
"""

import json
import os
import signal
import subprocess
import time

import services
from services import note, wait_for

ADMIN = ("lmlocal", "local-pw-1")
RETRIES = 3
QUERIES = (
    ["query", "SELECT LogonId, LogonType, AuthenticationPackage, StartTime, Name, Caption, Status "
     "FROM Win32_LogonSession", "--format", "json"],
    ["query", "SELECT ComputerName, UserName, ClientType, SessionType, TransportName, ResourcesOpened "
     "FROM Win32_ServerSession", "--format", "csv"],
)  # fmt: skip


class LocalServe:
    def __init__(self, live, lm):
        d = os.path.join(live.workdir, "local")
        os.mkdir(d, 0o755)
        self.dir = d
        self.socket = os.path.join(d, "linmgmt.sock")
        users = os.path.join(d, "users")
        subprocess.run(
            [lm.path, "user", "add", ADMIN[0], "--users", users, "--role", "admin"],
            input=ADMIN[1] + "\n", text=True, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        port = services.free_port(5995, ["127.0.0.1"])
        self.log_path = os.path.join(d, "serve.log")
        self.proc = live.procs.start(
            "linmgmt serve (local socket)",
            [lm.path, "serve", "--config", "/dev/null", "--users", users, "--listen", "http://127.0.0.1:%d" % port,
             "--socket", self.socket, "--reconcile-interval", "1"],
            env=lm.env, stderr=open(self.log_path, "ab"),
        )  # fmt: skip

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []

    def count(self, text):
        return sum(1 for line in self.log() if text in line)


def run_cli(lm, args, socket, user=None, uid_gid=None):
    env = dict(lm.env, LINMGMT_SOCKET=socket)
    kw = {}
    if user:
        kw = dict(user=user, group=uid_gid, extra_groups=[], cwd="/")
    r = subprocess.run([lm.path, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, **kw)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def same(lm, args, socket, user=None, uid_gid=None):
    """(equal, via the socket, direct): retried, as sessions elsewhere on the host may move."""
    for _ in range(RETRIES):
        a = run_cli(lm, args, socket, user, uid_gid)
        b = run_cli(lm, [*args, "--direct"], socket, user, uid_gid)
        if a == b:
            return True, a, b
        time.sleep(0.5)
    return False, a, b


WATCH_LOGINS = 6
WATCH_QUERY = ("SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_LogonSession' "
               "AND TargetInstance.Name LIKE 'lmbob from %'")  # fmt: skip


def part_watch(live, rep, lm, srv):
    """`linmgmt watch` through the socket and `--direct`, side by side, over six real ssh
    logins: each sees exactly their six creations."""
    followers = srv.count("local: uid 0 follows events")
    watchers = {}
    for name, extra in (("socket", []), ("direct", ["--direct"])):
        err_path = os.path.join(srv.dir, "watch-%s.err" % name)
        watchers[name] = (live.procs.start(
            "linmgmt watch (%s)" % name,
            [lm.path, "watch", WATCH_QUERY, "--count", str(WATCH_LOGINS), "--format", "json", *extra],
            env=dict(lm.env, LINMGMT_SOCKET=srv.socket), stdout=subprocess.PIPE, stderr=open(err_path, "wb"),
        ), err_path)  # fmt: skip

    def ready(err_path):
        with open(err_path, errors="replace") as f:
            return "watching:" in f.read()

    up = wait_for(lambda: all(ready(e) for _, e in watchers.values()), 30, 0.1)
    rep.check(up, "local watch: both watchers print their `watching:` line",
              {n: services.log_tail(e) for n, (_, e) in watchers.items()})  # fmt: skip
    rep.check(srv.count("local: uid 0 follows events") > followers,
              "local watch: the socket's watcher is one of the server's event streams", services.log_tail(srv.log_path))
    sd = live.sshd
    ids = set()
    for _ in range(WATCH_LOGINS):
        r = subprocess.run(
            ["ssh", "-T", *sd.client_opts(), "-p", str(sd.port), "lmbob@127.0.0.1", "cat /proc/self/sessionid; sleep 0.5"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60,
        )  # fmt: skip
        ids.add(r.stdout.decode().strip())
    seen = {}
    for name, (proc, _) in watchers.items():
        try:
            out, _ = proc.popen.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            out, _ = proc.popen.communicate()
        seen[name] = sorted(json.loads(line)["TargetInstance"]["LogonId"] for line in out.decode().splitlines() if line)
        rep.check(proc.popen.returncode == 0, "local watch: the %s watcher ends after %d events" % (name, WATCH_LOGINS),
                  proc.popen.returncode)  # fmt: skip
    rep.check(seen["socket"] == seen["direct"] == sorted(ids),
              "local watch: through the socket and --direct, the creations of exactly the %d logins" % WATCH_LOGINS,
              {"logins": sorted(ids), **seen})  # fmt: skip


PROJECTED = ["LogonId", "LogonType", "StartTime", "Status", "Description"]


def part_projection(live, rep, lm, srv):
    """A query that shows no origin scans less (no sshd fds, sock_diag or sshd log) and
    answers, on the real sessions, what `SELECT *` answers for its columns; the names of
    what is linked to a session (`--associators`, keys only) are those of the whole answer."""
    some = "SELECT %s FROM Win32_LogonSession" % ", ".join(PROJECTED)
    for _ in range(RETRIES):
        a = run_cli(lm, ["query", some, "--format", "json", "--direct"], srv.socket)
        b = run_cli(lm, ["query", "SELECT * FROM Win32_LogonSession", "--format", "json", "--direct"], srv.socket)
        try:
            got, whole = [sorted(json.dumps({k: row.get(k) for k in ["__RELPATH", *PROJECTED]}, sort_keys=True)
                                 for row in json.loads(out[1])) for out in (a, b)]  # fmt: skip
        except ValueError:
            got, whole = a, b
        if got == whole:
            break
        time.sleep(0.5)
    ids = {s.user: str(s.sessionid) for s in live.ssh_sessions}
    listed = all('"%s"' % i in "".join(got) for i in ids.values()) if isinstance(got, list) else False
    rep.check(got == whole and listed, "local projection: `%s` = those columns of `SELECT *`, every ssh login listed"
              % some, {"projected": got, "whole": whole})  # fmt: skip
    session = 'Win32_LogonSession.LogonId="%s"' % ids["lmbob"]
    for _ in range(RETRIES):
        names = run_cli(lm, ["query", "ASSOCIATORS OF {%s} WHERE KeysOnly" % session, "--format", "json",
                             "--direct"], srv.socket)  # fmt: skip
        whole = run_cli(lm, ["query", "ASSOCIATORS OF {%s}" % session, "--format", "json", "--direct"], srv.socket)
        try:
            paths = sorted(o["__RELPATH"] for o in json.loads(names[1]))
            expected = sorted(o["__RELPATH"] for o in json.loads(whole[1]))
        except (ValueError, KeyError, TypeError):
            paths, expected = names, whole
        if paths == expected:
            break
        time.sleep(0.5)
    rep.check(paths == expected and any("Win32_Process" in p for p in paths),
              "local projection: ASSOCIATORS OF lmbob's session WHERE KeysOnly names what the whole answer has",
              {"names": paths, "whole": expected})  # fmt: skip


def run(live, rep, lm, harness):
    srv = LocalServe(live, lm)
    ready = wait_for(lambda: srv.count("local queries on") > 0 or srv.proc.popen.poll() is not None, 20, 0.1)
    if not rep.check(ready and srv.proc.popen.poll() is None, "local: serve listens on its socket",
                     services.log_tail(srv.log_path)):  # fmt: skip
        return
    ids = {s.user: s.sessionid for s in live.ssh_sessions}
    queries = list(QUERIES)
    queries.append(["query", 'ASSOCIATORS OF {Win32_LogonSession.LogonId="%s"} WHERE ResultClass = Win32_UserAccount'
                    % ids["lmbob"], "--format", "json"])  # fmt: skip
    queries.append(["get", 'Win32_LogonSession.LogonId="%s"' % ids["lmalice"]])

    # equal
    for args in queries:
        before = srv.count("local: uid 0 answered")
        ok, a, b = same(lm, args, srv.socket)
        rep.check(ok and a[0] == 0, "local equal: `linmgmt %s` through the socket = `--direct`" % " ".join(args[:2]),
                  {"socket": a, "direct": b})  # fmt: skip
        rep.check(srv.count("local: uid 0 answered") > before, "local equal: ... answered by the server's live model",
                  services.log_tail(srv.log_path))  # fmt: skip
    _, out, _ = run_cli(lm, queries[0], srv.socket)
    shown = [str(i) for i in ids.values() if '"%s"' % i in out]
    rep.check(len(shown) == len(ids), "local equal: the socket's answer lists the three ssh logins", out[-300:])
    _, out, _ = run_cli(lm, queries[1], srv.socket)
    rep.check("lmalice" in out and "smb" in out.lower(), "local equal: ... and the Samba session", out[-300:])

    part_projection(live, rep, lm, srv)

    # plain
    carol = live.users["lmcarol"]
    not_served = "local: uid %d is not served" % carol.pw_uid
    before = srv.count(not_served)
    ok, a, b = same(lm, QUERIES[0], srv.socket, "lmcarol", carol.pw_gid)
    rep.check(ok and a[0] == 0, "local plain: lmcarol's answer with the socket there = her `--direct` scan",
              {"socket": a, "direct": b})  # fmt: skip
    rep.check(srv.count(not_served) > before, "local plain: the server did not answer her (%s)" % not_served,
              services.log_tail(srv.log_path))  # fmt: skip

    # watch
    part_watch(live, rep, lm, srv)

    # churn
    rounds = srv.count("reconciled the process table")
    t0 = time.time()
    sd = live.sshd
    logins = []
    for i in range(20):
        user = ("lmalice", "lmbob")[i % 2]
        logins.append(live.procs.start(
            "ssh churn %d" % i,
            ["ssh", "-T", *sd.client_opts(), "-p", str(sd.port), "%s@127.0.0.1" % user, "cat /proc/self/sessionid"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
    subprocess.run(["sh", "-c", "i=0; while [ $i -lt 3000 ]; do /bin/true; i=$((i+1)); done"], check=True, timeout=300)
    done = wait_for(lambda: all(p.popen.poll() is not None for p in logins), 60, 0.1)
    rep.check(done and all(p.popen.returncode == 0 for p in logins), "local churn: 20 ssh logins and logouts ran",
              [p.popen.returncode for p in logins])  # fmt: skip
    note("local churn: 20 logins and 3,000 processes in %.1f s" % (time.time() - t0))
    more = wait_for(lambda: srv.count("reconciled the process table") >= rounds + 3, 20, 0.2)
    rep.check(more, "local churn: the server reconciled its process table every second meanwhile",
              services.log_tail(srv.log_path))  # fmt: skip
    lines = [line for line in srv.log() if "reconciled the process table" in line or "table correction:" in line]
    bad = [line for line in lines if "table correction:" in line or " 0 corrections" not in line]
    rep.check(lines and not bad, "local churn: %d reconciliations, all with 0 corrections" % len(lines), bad[:10])

    # end
    srv.proc.popen.send_signal(signal.SIGTERM)
    try:
        code = srv.proc.popen.wait(timeout=20)
    except subprocess.TimeoutExpired:
        code = None
    rep.check(code == 0, "local end: serve exits 0 on SIGTERM", code)
    rep.check(not os.path.exists(srv.socket), "local end: and removes its socket")
