#!/usr/bin/env python3
"""A stand-in for linmgmt that answers from /proc and smbstatus directly: the harness's self-test.

    python3 tests/live/run_live.py --linmgmt tests/live/oracle.py

It implements just enough of the command-line contract (design.md §2–§4) for the live
checks: `query "SELECT * FROM Win32_LogonSession|Win32_ServerSession" --format json`,
`get 'Win32_LogonSession.LogonId="N"' --format json`, the bare overview, and `watch "<event
WQL>" --format json [--count N]` (polling every 0.1 s; the event kinds, `TargetInstance ISA`,
one `TargetInstance.P = 'v'` condition and `GROUP WITHIN n HAVING NumberOfEvents >= k`). When the
harness passes with it, a failure with the real linmgmt is linmgmt's, not the harness's.
It is deliberately simple (no WHERE, no merging beyond the key, sshd titles of OpenSSH 9.2).
"""

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import procfs  # noqa: E402

PRIV = re.compile(r"^sshd(?:-session)?: (\S+) \[priv\]")
CHILD = re.compile(r"^sshd(?:-session)?: (\S+)@(\S+)")


def rfc3339(t):
    return datetime.fromtimestamp(t, timezone.utc).astimezone().isoformat(timespec="microseconds")


def auth_methods():
    """{(ip, port): method} from the sshd log's `Accepted METHOD for USER from IP port N`."""
    out = {}
    path = os.environ.get("LINMGMT_SSHD_LOG")
    if not path:
        return out
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = re.search(r"Accepted (\S+) for \S+ from (\S+) port (\d+)", line)
                if m:
                    out[(m.group(2), int(m.group(3)))] = m.group(1)
    except OSError:
        pass
    return out


def peer_of(pid):
    inodes = procfs.socket_inodes(pid)
    for row in procfs.tcp_table(pid):
        if row["inode"] in inodes and row["state"] == procfs.TCP_ESTABLISHED:
            return row["remote"]
    return None


def logon_sessions(procs):
    groups = {}
    for p in procs.values():
        if p.sessionid is not None:
            groups.setdefault(p.sessionid, []).append(p)
    methods = auth_methods()
    out = []
    for sid, members in sorted(groups.items()):
        roots = [p for p in members if procs.get(p.ppid) is None or procs[p.ppid].sessionid != sid]
        leader = min(roots or members, key=lambda p: p.starttime)
        m = PRIV.match(leader.title)
        if m:
            ttys = [CHILD.match(p.title).group(2) for p in members if CHILD.match(p.title)]
            logon_type = 10 if any(t.startswith("pts/") for t in ttys) else 3
            pkg = "sshd"
            peer = peer_of(leader.pid)
            if peer and peer in methods:
                pkg += "/" + methods[peer]
        else:
            logon_type, pkg = 2, leader.comm
        out.append(
            {
                "__CLASS": "Win32_LogonSession",
                "LogonId": str(sid),
                "LogonType": logon_type,
                "AuthenticationPackage": pkg,
                "StartTime": rfc3339(leader.start_epoch()),
                "Status": "OK",
            }
        )
    return out


def server_sessions(procs):
    out = {}
    for p in procs.values():
        m = PRIV.match(p.title)
        if not m:
            continue
        peer = peer_of(p.pid)
        if peer:
            key = (peer[0], m.group(1))
            out[key] = {"ComputerName": peer[0], "UserName": m.group(1), "SessionType": 2, "ClientType": "SSH-2.0"}
    prog = os.environ.get("LINMGMT_SMBSTATUS", "smbstatus")
    try:
        r = subprocess.run([prog, "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10)
        st = json.loads(r.stdout) if r.returncode == 0 else {}
    except (OSError, ValueError, subprocess.TimeoutExpired):
        st = {}
    for s in (st.get("sessions") or {}).values():
        pid = s["server_id"]["pid"]
        opens = sum(
            1
            for f in (st.get("open_files") or {}).values()
            for o in (f.get("opens") or {}).values()
            if o["server_id"]["pid"] == pid
        )
        degree = (s.get("encryption") or {}).get("degree")
        stype = 0 if s.get("uid") == 65534 else 1 if degree == "none" else 2
        key = (s["remote_machine"], s["username"])
        out[key] = {
            "ComputerName": s["remote_machine"],
            "UserName": s["username"],
            "SessionType": stype,
            "ClientType": s.get("session_dialect"),
            "ResourcesOpened": opens,
        }
    return [dict({"__CLASS": "Win32_ServerSession"}, **v) for v in out.values()]


FILETIME_EPOCH_OFFSET = 11644473600


def _relpath(inst):
    if inst["__CLASS"] == "Win32_LogonSession":
        return 'Win32_LogonSession.LogonId="%s"' % inst["LogonId"]
    return 'Win32_ServerSession.ComputerName="%s",UserName="%s"' % (inst["ComputerName"], inst["UserName"])


def watch(wql, count):
    """Polls, diffs and prints WMI intrinsic events as JSON lines (a sketch of the contract)."""
    import signal
    import time

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    m = re.search(r"FROM\s+(__Instance\w+Event)", wql, re.I)
    kind = m.group(1) if m else "__InstanceOperationEvent"
    target = re.search(r"TargetInstance\s+ISA\s+'(\w+)'", wql, re.I).group(1)
    cond = re.search(r"TargetInstance\.(\w+)\s*=\s*(?:'([^']*)'|(\d+))", wql, re.I)
    group = re.search(r"GROUP\s+WITHIN\s+(\d+)(?:\s+HAVING\s+NumberOfEvents\s*>=\s*(\d+))?", wql, re.I)
    kinds = {
        "__InstanceOperationEvent": ("__InstanceCreationEvent", "__InstanceDeletionEvent", "__InstanceModificationEvent"),
    }.get(kind, (kind,))

    def instances():
        procs = procfs.snapshot()
        if target == "Win32_LogonSession":
            got = {i["LogonId"]: i for i in logon_sessions(procs)}
        else:
            got = {(i["ComputerName"], i["UserName"]): i for i in server_sessions(procs)}
        for i in got.values():
            i["__RELPATH"] = _relpath(i)
            i["__PATH"] = "\\\\oracle\\root\\cimv2:" + i["__RELPATH"]
        if cond:
            want = cond.group(2) if cond.group(2) is not None else cond.group(3)
            got = {k: v for k, v in got.items() if str(v.get(cond.group(1))) == want}
        return got

    def now_filetime():
        return int((time.time() + FILETIME_EPOCH_OFFSET) * 1e7)

    printed = [0]

    def emit(ev):
        print(json.dumps(ev), flush=True)
        printed[0] += 1
        if count and printed[0] >= count:
            sys.exit(0)

    before = instances()
    print("watching: %s; oracle polls every 0.1 s" % target, file=sys.stderr, flush=True)
    window = []  # (group) events of the current window
    window_end = None
    while True:
        time.sleep(0.1)
        now = instances()
        evs = []
        for k, v in now.items():
            if k not in before:
                evs.append({"__CLASS": "__InstanceCreationEvent", "TargetInstance": v})
            elif v != before[k]:
                evs.append({"__CLASS": "__InstanceModificationEvent", "TargetInstance": v, "PreviousInstance": before[k]})
        for k, v in before.items():
            if k not in now:
                evs.append({"__CLASS": "__InstanceDeletionEvent", "TargetInstance": v})
        before = now
        for ev in evs:
            if ev["__CLASS"] not in kinds:
                continue
            ev = dict({"__CLASS": ev["__CLASS"], "__PATH": None, "__RELPATH": None, "SECURITY_DESCRIPTOR": None,
                       "TIME_CREATED": now_filetime()}, **{k: v for k, v in ev.items() if k != "__CLASS"})
            if group:
                if not window:
                    window_end = time.time() + int(group.group(1))
                window.append(ev)
            else:
                emit(ev)
        if group and window and time.time() >= window_end:
            if len(window) >= int(group.group(2) or 1):
                emit({"__CLASS": "__AggregateEvent", "TIME_CREATED": now_filetime(), "NumberOfEvents": len(window),
                      "Representative": window[0]})
            window = []


def main(argv):
    args = [a for a in argv if a not in ("--format", "json")]
    if args and args[0] == "watch":
        count = int(args[args.index("--count") + 1]) if "--count" in args else 0
        return watch(args[1], count)
    procs = procfs.snapshot()
    if not args:
        for s in server_sessions(procs):
            print("%s from %s" % (s["UserName"], s["ComputerName"]))
        return 0
    if args[0] == "query" and "Win32_LogonSession" in args[1]:
        print(json.dumps(logon_sessions(procs)))
        return 0
    if args[0] == "query" and "Win32_ServerSession" in args[1]:
        print(json.dumps(server_sessions(procs)))
        return 0
    if args[0] == "get":
        want = re.search(r'LogonId="([^"]*)"', args[1]).group(1)
        found = [i for i in logon_sessions(procs) if i["LogonId"] == want]
        if not found:
            print("error: WBEM_E_NOT_FOUND (0x80041002): no instance %s" % args[1], file=sys.stderr)
            return 1
        print(json.dumps(found[0]))
        return 0
    print("oracle: unsupported: %s" % argv, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
