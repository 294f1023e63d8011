"""Ground truth from /proc: processes, audit sessions, listening sockets.

Everything here reads the live host directly (never through linmgmt), so the harness can
compare linmgmt's answers with what the kernel says.
"""

import os
import socket
import struct
import time

AUDIT_UNSET = 4294967295  # (uid_t)-1 / AUDIT_SID_UNSET in /proc/PID/{loginuid,sessionid}

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def boot_time():
    """The boot time in seconds since the epoch (`btime` in /proc/stat)."""
    for line in _read("/proc/stat").splitlines():
        if line.startswith("btime "):
            return int(line.split()[1])
    raise RuntimeError("no btime in /proc/stat")


def boot_time_precise():
    """The boot time to the millisecond: /proc/stat's btime is truncated to whole seconds.

    The kernel counts process start times from boot on CLOCK_BOOTTIME (since 5.3), so
    realtime - boottime is the boot moment those ticks are relative to.
    """
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


_BTIME = None


class Proc:
    """One process, read once."""

    __slots__ = ("pid", "ppid", "state", "starttime", "comm", "title", "sessionid", "loginuid", "uid")

    def __init__(self, pid, ppid, state, starttime, comm, title, sessionid, loginuid, uid):
        self.pid = pid
        self.ppid = ppid
        self.state = state
        self.starttime = starttime  # clock ticks after boot (field 22 of stat)
        self.comm = comm
        self.title = title  # cmdline with NULs as spaces: the process title sshd sets
        self.sessionid = sessionid  # None when unset
        self.loginuid = loginuid  # None when unset
        self.uid = uid

    def start_epoch(self):
        """The start time in seconds since the epoch (to the clock tick)."""
        global _BTIME
        if _BTIME is None:
            _BTIME = boot_time_precise()
        return _BTIME + self.starttime / CLK_TCK

    def __repr__(self):
        return "Proc(%d %r ses=%s)" % (self.pid, self.title, self.sessionid)


def _audit_value(path):
    try:
        v = int(_read(path).strip())
    except (OSError, ValueError):
        return None
    return None if v == AUDIT_UNSET else v


def read_proc(pid):
    """Reads one process, or None when it is gone (or a zombie with nothing left to read)."""
    base = "/proc/%d" % pid
    try:
        stat = _read(base + "/stat")
        raw = _read(base + "/cmdline", "rb")
        status = _read(base + "/status")
    except OSError:
        return None
    # comm is in parentheses and may itself contain ") ": split at the last one.
    lpar, rpar = stat.index("("), stat.rindex(")")
    comm = stat[lpar + 1 : rpar]
    rest = stat[rpar + 2 :].split()
    state, ppid, starttime = rest[0], int(rest[1]), int(rest[19])
    title = raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()
    uid = None
    for line in status.splitlines():
        if line.startswith("Uid:"):
            uid = int(line.split()[1])
            break
    return Proc(
        pid,
        ppid,
        state,
        starttime,
        comm,
        title,
        _audit_value(base + "/sessionid"),
        _audit_value(base + "/loginuid"),
        uid,
    )


def snapshot():
    """All processes now: {pid: Proc}."""
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            p = read_proc(int(name))
            if p is not None:
                procs[p.pid] = p
    return procs


def children_map(procs):
    kids = {}
    for p in procs.values():
        kids.setdefault(p.ppid, []).append(p.pid)
    for v in kids.values():
        v.sort()
    return kids


def descendants(procs, pid, kids=None):
    """The pids below `pid` (not including it), parents before children."""
    kids = kids if kids is not None else children_map(procs)
    out, todo = [], list(kids.get(pid, []))
    while todo:
        q = todo.pop(0)
        out.append(q)
        todo.extend(kids.get(q, []))
    return out


def alive(pid, starttime=None):
    """True when `pid` exists, is not a zombie and (if given) started at `starttime`."""
    p = read_proc(pid)
    if p is None or p.state in ("Z", "X"):
        return False
    return starttime is None or p.starttime == starttime


def audit_members(procs, sessionid):
    """The live pids whose /proc/PID/sessionid is `sessionid` (a zombie still shows its id)."""
    return sorted(
        p.pid for p in procs.values() if sessionid is not None and p.sessionid == sessionid and p.state != "Z"
    )


# --- sockets -------------------------------------------------------------------------------


def socket_inodes(pid):
    """The inodes of the sockets `pid` holds (root sees every process)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for fd in names:
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _decode_addr(hexaddr):
    ip_hex, port_hex = hexaddr.split(":")
    port = int(port_hex, 16)
    raw = bytes.fromhex(ip_hex)
    if len(raw) == 4:
        ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:
        # four 32-bit words, each in host (little-endian) order
        words = struct.unpack("<4I", raw)
        ip = socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))
        if ip.startswith("::ffff:") and "." in ip:
            ip = ip[7:]
    return ip, port


def tcp_table(pid="self"):
    """TCP sockets of the network namespace of `pid`: list of dicts (local, remote, state, inode)."""
    rows = []
    for name in ("tcp", "tcp6"):
        try:
            lines = _read("/proc/%s/net/%s" % (pid, name)).splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            rows.append(
                {
                    "local": _decode_addr(f[1]),
                    "remote": _decode_addr(f[2]),
                    "state": int(f[3], 16),
                    "inode": int(f[9]),
                }
            )
    return rows


TCP_LISTEN = 0x0A
TCP_ESTABLISHED = 0x01


def listening_addresses(pids):
    """(ip, port) of every listening TCP socket held by any of `pids`."""
    inodes = set()
    for pid in pids:
        inodes |= socket_inodes(pid)
    table = tcp_table(pids[0] if pids else "self")
    return sorted({r["local"] for r in table if r["state"] == TCP_LISTEN and r["inode"] in inodes})


def is_loopback(ip):
    return ip == "::1" or ip.startswith("127.")


# --- utmp ----------------------------------------------------------------------------------

UTMP_RECORD = 384  # glibc x86_64 (and other 32-bit-time-compat layouts)
USER_PROCESS = 7


def utmp_users(path="/run/utmp"):
    """USER_PROCESS records of utmp as (user, line, host, pid); None when not parseable here."""
    import platform

    if platform.machine() not in ("x86_64", "i686", "i386"):
        return None
    try:
        data = _read(path, "rb")
    except OSError:
        return None
    out = []
    for off in range(0, len(data) - UTMP_RECORD + 1, UTMP_RECORD):
        rec = data[off : off + UTMP_RECORD]
        ut_type, ut_pid = struct.unpack_from("<hxxi", rec, 0)
        if ut_type != USER_PROCESS:
            continue
        text = lambda a, b: rec[a:b].split(b"\0", 1)[0].decode("utf-8", "replace")
        out.append((text(44, 76), text(8, 40), text(76, 332), ut_pid))
    return out
