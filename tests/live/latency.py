"""How fast `linmgmt watch` reports an ssh login: a benchmark, not a test.

    bash tests/live/run --latency 50 --latency-out /tmp/watch-latency.json

(run_live.py sets up the private sshd, then calls `measure`.) One watch runs
    SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_LogonSession'
with --format json; a reader thread stamps each event line with time.time() when it arrives.
N ssh logins without a pty follow one after another (each after the previous one has ended
and its creation event arrived or 10 s passed); the remote command is
    date +%s.%N; cat /proc/self/sessionid; sleep 0.5
so each login reports when its command started (same host, same clock) and its audit session
id. Per login:
    arrival - command start       (can be < 0: linmgmt may see the session before the shell
                                   has run `date`)
    arrival - TargetInstance.StartTime   (StartTime is when the session's root process, the
                                   sshd monitor, started: this includes the ssh handshake)
    command start - ssh client start     (the login itself, for scale)
p50/p95/max/min of each are printed and, with --latency-out, written as JSON.
"""

import json
import os
import platform
from datetime import datetime, timezone

import events

Q = events.Q_LOGON_CREATE_5
REMOTE = "date +%s.%N; cat /proc/self/sessionid; sleep 0.5"


def stats(values):
    if not values:
        return None
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "p50_ms": round(events.percentile(ms, 50), 1),
        "p95_ms": round(events.percentile(ms, 95), 1),
        "max_ms": round(max(ms), 1),
        "min_ms": round(min(ms), 1),
        "mean_ms": round(sum(ms) / len(ms), 1),
    }


def _fmt(name, s):
    if not s:
        return "%s: no samples" % name
    return "%s: p50 %.1f ms, p95 %.1f ms, max %.1f ms (min %.1f, mean %.1f, n %d)" % (
        name, s["p50_ms"], s["p95_ms"], s["max_ms"], s["min_ms"], s["mean_ms"], s["n"])  # fmt: skip


def measure(live, lm, harness, n, out_path=None):
    """Returns 0 when every login's creation event was measured, 1 otherwise."""
    note = events.note
    ctx = events.Ctx(live, lm, harness)
    w = ctx.watch("watch (latency)", Q)
    if not w.wait_ready():
        note("latency: watch did not start: %s" % w.why_not_ready())
        w.stop()
        return 1
    note("latency: %d sequential ssh logins (no pty) against `linmgmt watch \"%s\"`" % (n, Q))
    samples, missed, failed = [], [], []
    try:
        for i in range(n):
            user = events.USERS[i % len(events.USERS)]
            rc, out, err, t_client, _t_end = ctx.quick_login(user, "127.0.0.1", REMOTE, timeout=60)
            lines = [l.strip() for l in out.splitlines() if l.strip()]
            try:
                t_cmd = float(lines[0])
                sid = events.parse_sessionid("\n".join(lines[1:]))
            except (IndexError, ValueError):
                t_cmd, sid = None, None
            if t_cmd is None or sid is None:
                failed.append({"login": i, "exit": rc, "stdout": out[-200:], "stderr": err.strip()[-200:]})
                note("latency: login %d failed (exit %s): %r %r" % (i, rc, out[-100:], err.strip()[-100:]))
                continue
            got = w.wait(lambda evs: events.events_of(evs, events.CREATION, lambda e: e.logon_id == sid), 10)
            if not got:
                missed.append(sid)
                note("latency: login %d (session %s): no creation event within 10 s" % (i, sid))
                continue
            e = got[0]
            st = harness.parse_rfc3339(e.target.get("StartTime"))
            samples.append({
                "LogonId": sid,
                "client_start": round(t_client, 6),
                "command_start": round(t_cmd, 6),
                "arrival": round(e.arrival, 6),
                "StartTime": e.target.get("StartTime"),
                "arrival_minus_command_start_s": round(e.arrival - t_cmd, 6),
                "arrival_minus_StartTime_s": round(e.arrival - st, 6) if st is not None else None,
                "command_start_minus_client_start_s": round(t_cmd - t_client, 6),
            })  # fmt: skip
            if ctx.verbose:
                note("latency: %d %s: arrival - command start %.1f ms" % (i, sid, (e.arrival - t_cmd) * 1000))
    finally:
        w.stop()

    a = stats([s["arrival_minus_command_start_s"] for s in samples])
    b = stats([s["arrival_minus_StartTime_s"] for s in samples if s["arrival_minus_StartTime_s"] is not None])
    c = stats([s["command_start_minus_client_start_s"] for s in samples])
    note("latency: %d logins, %d measured, %d without event, %d failed logins" % (n, len(samples), len(missed), len(failed)))
    note("latency: " + _fmt("event arrival - remote command start", a))
    note("latency: " + _fmt("event arrival - TargetInstance.StartTime", b))
    note("latency: " + _fmt("(for scale) remote command start - ssh client start", c))
    result = {
        "what": "linmgmt watch: creation event latency for ssh logins without a pty",
        "query": Q,
        "remote_command": REMOTE,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "linmgmt": lm.path,
        "logins": n,
        "measured": len(samples),
        "missed_events": missed,
        "failed_logins": failed,
        "arrival_minus_command_start": a,
        "arrival_minus_StartTime": b,
        "command_start_minus_client_start": c,
        "samples": samples,
    }
    if out_path:
        with open(out_path, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        note("latency: written to %s" % out_path)
    return 0 if samples and not missed and not failed else 1
