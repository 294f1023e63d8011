"""Live checks of the classes scripts ask about beyond the sessions (issue 11):
Win32_Group and Win32_GroupUser for a real user in a supplementary group, and the
Win32_Process counters of a real root-owned process against its /proc files.

Used by run_live.py (the test user lmalice in the group `lmwheel`, which the harness creates),
and runnable alone as root against any binary, creating the user and group itself:

    python3 tests/live/classes.py --linmgmt target/release/linmgmt

Python 3 standard library only.
"""

import grp
import json
import os
import shutil
import tempfile
import time
import pwd
import resource
import subprocess
import sys

GROUP = "lmwheel"
MEMBER = "lmalice"
RSS_LIMIT = 512 << 20  # bytes: the helper's RLIMIT_RSS, so MaximumWorkingSetSize has a value


def _names(instances):
    return sorted(str(i.get("Name")) for i in instances or [])


def _domain(lm, user):
    accounts, why = lm.query("SELECT Domain FROM Win32_UserAccount WHERE Name = '%s'" % user)
    if not accounts:
        return None, why or "no Win32_UserAccount %s" % user
    return accounts[0].get("Domain"), None


def truth_groups_of(user):
    """The names of `user`'s groups as login sets them: primary and supplementary (NSS)."""
    pw = pwd.getpwnam(user)
    names = set()
    for gid in os.getgrouplist(user, pw.pw_gid):
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            pass
    return names


def truth_members_of(group):
    """The accounts that belong to `group`: listed members with an account, and the users
    whose primary group it is."""
    gr = grp.getgrnam(group)
    users = {u.pw_name for u in pwd.getpwall() if u.pw_gid == gr.gr_gid}
    for m in gr.gr_mem:
        try:
            pwd.getpwnam(m)
            users.add(m)
        except KeyError:
            pass
    return users


def check_groups(rep, lm, group=GROUP, user=MEMBER):
    """Win32_Group, Win32_GroupUser and both directions of ASSOCIATORS OF for `user`, a
    supplementary member of `group`."""
    gr = grp.getgrnam(group)
    pw = pwd.getpwnam(user)
    rep.check(user in gr.gr_mem, "ground truth: %s is a supplementary member of %s" % (user, group), gr.gr_mem)
    domain, why = _domain(lm, user)
    rep.check(domain is not None, "Win32_UserAccount %s has a Domain" % user, why)
    if domain is None:
        return

    found, why = lm.query("SELECT * FROM Win32_Group WHERE Name = '%s'" % group)
    g = (found or [None])[0] or {}
    want = {
        "Domain": domain,
        "Caption": "%s\\%s" % (domain, group),
        "SID": "S-1-22-2-%d" % gr.gr_gid,
        "SIDType": 2,
        "LocalAccount": True,
        "Status": "OK",
    }
    got = {k: g.get(k) for k in want}
    rep.check(
        found is not None and len(found) == 1 and got == want,
        "Win32_Group %s: one instance with the Unix group's SID and the host as Domain" % group,
        why or (found if found is None or len(found) != 1 else got),
    )

    all_groups, why = lm.query("SELECT Name FROM Win32_Group")
    truth = {x.gr_name for x in grp.getgrall()}
    rep.check(
        all_groups is not None and truth <= set(_names(all_groups)),
        "SELECT FROM Win32_Group lists every group of /etc/group (%d)" % len(truth),
        why or sorted(truth - set(_names(all_groups))),
    )

    links, why = lm.query("SELECT * FROM Win32_GroupUser")
    pairs = set()
    for link in links or []:
        gc, pc = str(link.get("GroupComponent")), str(link.get("PartComponent"))
        pairs.add((gc.rpartition(":")[2], pc.rpartition(":")[2]))
    primary = grp.getgrgid(pw.pw_gid).gr_name
    for name, how in ((group, "supplementary"), (primary, "primary")):
        pair = (
            'Win32_Group.Domain="%s",Name="%s"' % (domain, name),
            'Win32_UserAccount.Domain="%s",Name="%s"' % (domain, user),
        )
        rep.check(
            pair in pairs,
            "Win32_GroupUser links %s to its %s group %s" % (user, how, name),
            why or sorted(p for p in pairs if user in p[1]),
        )

    acct = 'Win32_UserAccount.Domain="%s",Name="%s"' % (domain, user)
    mine, why = lm.query("ASSOCIATORS OF {%s} WHERE ResultClass=Win32_Group" % acct)
    truth = truth_groups_of(user)
    rep.check(
        mine is not None and set(_names(mine)) == truth and len(mine) == len(truth),
        "ASSOCIATORS OF {%s} WHERE ResultClass=Win32_Group are the groups `id %s` shows: %s"
        % (acct, user, sorted(truth)),
        why or _names(mine),
    )
    src = 'Win32_Group.Domain="%s",Name="%s"' % (domain, group)
    members, why = lm.query("ASSOCIATORS OF {%s} WHERE ResultClass=Win32_UserAccount" % src)
    truth = truth_members_of(group)
    rep.check(
        members is not None and set(_names(members)) == truth,
        "ASSOCIATORS OF {%s} WHERE ResultClass=Win32_UserAccount are its members %s" % (src, sorted(truth)),
        why or _names(members),
    )
    refs, why = lm.query("REFERENCES OF {%s} WHERE ResultClass=Win32_GroupUser" % acct)
    rep.check(
        refs is not None and len(refs) == len(truth_groups_of(user)),
        "REFERENCES OF {%s} WHERE ResultClass=Win32_GroupUser: one per group" % acct,
        why or len(refs or []),
    )


def _proc_facts(pid):
    """The figures linmgmt should show for `pid`, straight from /proc."""
    facts = {}
    with open("/proc/%d/io" % pid) as f:
        io = dict(line.split(":", 1) for line in f if ":" in line)
    facts["ReadTransferCount"] = int(io["rchar"])
    facts["WriteTransferCount"] = int(io["wchar"])
    facts["ReadOperationCount"] = int(io["syscr"])
    facts["WriteOperationCount"] = int(io["syscw"])
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read().rpartition(")")[2].split()
    facts["PageFaults"] = int(stat[7]) + int(stat[9])
    mem = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if value.strip().endswith(" kB"):
                mem[key] = int(value.split()[0])
    facts["PeakVirtualSize"] = mem["VmPeak"] * 1024
    facts["PeakWorkingSetSize"] = mem["VmHWM"]
    facts["PageFileUsage"] = mem.get("VmSwap", 0)
    facts["PrivatePageCount"] = (mem["RssAnon"] + mem.get("VmSwap", 0)) * 1024
    facts["HandleCount"] = len(os.listdir("/proc/%d/fd" % pid))
    return facts


def check_process_counters(rep, lm):
    """Starts a root-owned process that reads 1 MiB and sleeps (with an RLIMIT_RSS), then
    compares its Win32_Process counters with its /proc files read before and after."""
    if os.geteuid() != 0:
        rep.check(False, "Win32_Process counters: must run as root (a root-owned process)")
        return

    def limit():
        resource.setrlimit(resource.RLIMIT_RSS, (RSS_LIMIT, resource.RLIM_INFINITY))

    helper = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "with open('/dev/zero', 'rb') as f: f.read(1 << 20)\n"
            "sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        preexec_fn=limit,
    )
    try:
        helper.stdout.readline()
        pid = helper.pid
        before = _proc_facts(pid)
        found, why = lm.query("SELECT * FROM Win32_Process WHERE ProcessId = %d" % pid)
        after = _proc_facts(pid)
        p = (found or [None])[0] or {}
        rep.check(found is not None and len(found) == 1, "Win32_Process of a root-owned helper (pid %d)" % pid, why)
        if not p:
            return
        for key in sorted(before):
            lo, hi = sorted((before[key], after[key]))
            v = p.get(key)
            rep.check(
                isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi,
                "Win32_Process.%s of the helper agrees with /proc (%d..%d)" % (key, lo, hi),
                v,
            )
        rep.check(
            before["ReadTransferCount"] >= 1 << 20,
            "ground truth: the helper's rchar counts the 1 MiB it read",
            before["ReadTransferCount"],
        )
        fixed = {
            "MaximumWorkingSetSize": RSS_LIMIT // 1024,
            "SessionId": os.getsid(pid),
            "WindowsVersion": os.uname().release,
            "MinimumWorkingSetSize": None,
            "PeakPageFileUsage": None,
            "OtherOperationCount": None,
            "OtherTransferCount": None,
            "QuotaPagedPoolUsage": None,
            "QuotaPeakPagedPoolUsage": None,
            "QuotaNonPagedPoolUsage": None,
            "QuotaPeakNonPagedPoolUsage": None,
        }
        got = {k: p.get(k) for k in fixed}
        rep.check(got == fixed, "Win32_Process of the helper: limits, session, kernel release, NULLs", got)
        rep.check(
            p.get("ExecutionState") in (3, 4),
            "Win32_Process.ExecutionState of the sleeping helper is Blocked (4) or Running (3)",
            p.get("ExecutionState"),
        )
        rep.check(
            isinstance(p.get("OSName"), str) and p.get("OSName"),
            "Win32_Process.OSName names the distribution",
            p.get("OSName"),
        )
    finally:
        helper.kill()
        helper.wait()


def check_script_queries(rep, lm):
    """The queries real scripts send with a number as a key value, and the "created or
    deleted" event filter, on the live host: each answers, and with what /proc says."""
    root_session, why = lm.query("SELECT LogonId FROM Win32_LogonSession WHERE LogonId = '0'")
    rep.check(bool(root_session), "live: the System session 0 exists", why)
    for wql, want in [
        ("Associators of {Win32_LogonSession.LogonId=0} Where AssocClass=Win32_LoggedOnUser Role=Dependent",
         lambda r: [x.get("Name") for x in r] == ["root"]),
        ("ASSOCIATORS OF {Win32_LogonSession.LogonId=0} WHERE ResultClass = Win32_Process",
         lambda r: 1 in {x.get("Handle") and int(x["Handle"]) for x in r}),
        ("Associators of {Win32_process.Handle=1}",
         lambda r: any(x.get("LogonId") == "0" for x in r)),
        ("ASSOCIATORS OF {CIM_Process.Handle=1} where classdefsonly",
         lambda r: "Win32_LogonSession" in {x.get("__CLASS") or x.get("Name") for x in r}),
        ("REFERENCES OF {Win32_Process=1} WHERE ClassDefsOnly",
         lambda r: "Win32_SessionProcess" in {x.get("__CLASS") or x.get("Name") for x in r}),
    ]:
        got, why = lm.query(wql)
        ok = got is not None and want(got)
        rep.check(ok, "live script query: %s" % wql, why or [
            {k: x.get(k) for k in ("__CLASS", "Name", "Handle", "LogonId") if k in x} for x in got[:5]])
    rc, out, err = lm.run(["get", "Win32_Process=1", "--format", "json"])
    rep.check(rc == 0 and '"ProcessId": 1' in out, "live: linmgmt get Win32_Process=1", err.strip()[-300:])
    # The event's own __CLASS in WHERE: a process started and ended yields exactly a
    # creation and a deletion.
    probe_dir = tempfile.mkdtemp()
    probe = os.path.join(probe_dir, "lmprobe%d" % (os.getpid() % 100000))
    shutil.copy(shutil.which("sleep"), probe)
    watch = subprocess.Popen(
        [lm.path, "watch",
         "SELECT * FROM __InstanceOperationEvent WITHIN 1 WHERE (__Class = '__InstanceCreationEvent' "
         "OR __Class = '__InstanceDeletionEvent') AND TargetInstance ISA 'Win32_Process' "
         "AND TargetInstance.Name = '%s'" % os.path.basename(probe),
         "--format", "json", "--count", "2"],
        env=lm.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    subprocess.run([probe, "0.5"])
    try:
        out, err = watch.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        watch.kill()
        out, err = watch.communicate()
    shutil.rmtree(probe_dir, ignore_errors=True)
    classes = [json.loads(line).get("__CLASS") for line in out.decode().splitlines() if line.strip()]
    rep.check(classes == ["__InstanceCreationEvent", "__InstanceDeletionEvent"],
              "live: an event filter on the event's own __CLASS gives a creation and a deletion",
              classes or err.decode()[-300:])


def main():
    import argparse

    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import run_live  # noqa: E402
    import services  # noqa: E402

    ap = argparse.ArgumentParser(description="Win32_Group/Win32_GroupUser and Win32_Process counters, live")
    ap.add_argument("--linmgmt", required=True)
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("Bail out! must run as root", flush=True)
        return 2
    services.ensure_user(MEMBER, run_live.note)
    services.ensure_group_member(GROUP, MEMBER, run_live.note)
    rep = run_live.Report()
    lm = run_live.Linmgmt(os.path.abspath(args.linmgmt), dict(os.environ), args.verbose)
    check_groups(rep, lm)
    check_process_counters(rep, lm)
    check_script_queries(rep, lm)
    rep.summary(0)
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
