//! Sessions that keep their identity (docs/mapping.md): a session seen while sshd lived
//! keeps its LogonType, AuthenticationPackage, StartTime and origin after sshd is gone,
//! through linmgmt's own record; the record is written atomically, only where the join asks,
//! pruned when the session ends; and every time derived from `/proc` is the same from scan
//! to scan, whatever the moment of the scan.

use jiff::{SignedDuration, Timestamp};
use linmgmt_providers::{LogonFacts, logon_sessions, logon_type};
use linmgmt_sources::state::{self, Basis, SESSIONS_FILE, STATE_DIR};
use linmgmt_sources::{Collected, Root, ScanOptions, Snapshot, scan};
use linmgmt_test_support::{Fixture, FixtureRoot, now};
use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

/// alice's no-pty ssh login (ses 30, sshd monitor 6000 and child 6001) that started a
/// `nohup sleep` (6003); bob's pty login (ses 31) with utmp. No logind, no environment:
/// once sshd is gone only linmgmt's record can tell what these were.
const LIVE: &str = r#"
//- process
pid=1 ppid=0 comm=init cmd=/sbin/init
pid=900 ppid=1 comm=sshd cmd="sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"
pid=6000 ppid=900 comm=sshd cmd="sshd: alice [priv]" ses=30 auid=1001 start=2026-08-01T10:00:00.37Z fds=socket:[7000]
pid=6001 ppid=6000 comm=sshd cmd="sshd: alice@notty" uid=1001 ses=30 auid=1001 start=2026-08-01T10:00:00.52Z fds=socket:[7000]
pid=6002 ppid=6001 comm=bash cmd="bash -c nohup sleep 600" uid=1001 ses=30 auid=1001 start=2026-08-01T10:00:00.55Z
pid=6003 ppid=6002 comm=sleep cmd="sleep 600" uid=1001 ses=30 auid=1001 start=2026-08-01T10:00:00.56Z
pid=6100 ppid=900 comm=sshd cmd="sshd: bob [priv]" ses=31 auid=1002 start=2026-08-01T11:00:00.11Z fds=socket:[7100]
pid=6101 ppid=6100 comm=sshd cmd="sshd: bob@pts/2" uid=1002 ses=31 auid=1002 start=2026-08-01T11:00:00.42Z fds=socket:[7100],/dev/ptmx
pid=6102 ppid=6101 comm=tmux cmd="tmux" uid=1002 ses=31 auid=1002 tty=pts/2 start=2026-08-01T11:00:01Z
pid=6103 ppid=1 comm="tmux: server" cmd="tmux" uid=1002 ses=31 auid=1002 start=2026-08-01T11:00:01.5Z
//- tcp
inode=7000 local=10.0.0.1:22 remote=10.0.0.5:40001
inode=7100 local=10.0.0.1:22 remote=192.0.2.9:50100
//- utmp
USER_PROCESS pid=6100 line=pts/2 id=ts/2 user=bob host=192.0.2.9 time=2026-08-01T11:00:00.8Z addr=192.0.2.9
//- /var/log/auth.log
Aug  1 10:00:00 host sshd[6000]: Accepted publickey for alice from 10.0.0.5 port 40001 ssh2: ED25519 SHA256:abc
Aug  1 11:00:00 host sshd[6100]: Accepted password for bob from 192.0.2.9 port 50100 ssh2
//- /etc/passwd
root:x:0:0:root:/root:/bin/bash
alice:x:1001:1001:Alice,,,:/home/alice:/bin/bash
bob:x:1002:1002:Bob,,,:/home/bob:/bin/bash
"#;

fn scan_at(root: &Root, at: Timestamp) -> Collected<Snapshot> {
    let runner = linmgmt_sources::command::FixtureRunner::new(root.clone());
    scan(root, &ScanOptions::default(), &runner, at)
}

/// What the edge does after a scan when running as root (done here by any user).
fn remember(root: &Root, snap: &Snapshot, facts: &[LogonFacts], started: Timestamp) {
    let updates: Vec<_> = facts.iter().filter_map(|f| f.remember.clone()).collect();
    let live: BTreeSet<u32> = snap.audit_sessions.iter().map(|s| s.id).collect();
    let boot = snap.boot_id.as_deref().expect("boot id");
    let stored = state::store(root, boot, &updates, Some(&live), started, started);
    assert!(stored.warnings.is_empty(), "{:?}", stored.warnings);
}

/// The properties that make a session's identity.
fn identity(f: &LogonFacts) -> (Option<u32>, Option<String>, Option<Timestamp>, String) {
    (
        f.logon_type,
        f.authentication_package.clone(),
        f.start,
        f.caption(),
    )
}

fn session<'a>(facts: &'a [LogonFacts], id: &str) -> &'a LogonFacts {
    facts
        .iter()
        .find(|f| f.logon_id == id)
        .unwrap_or_else(|| panic!("no session {id}: {facts:#?}"))
}

fn remove_process(built: &FixtureRoot, pid: u32) {
    std::fs::remove_dir_all(built.root().path(format!("proc/{pid}"))).expect("remove process");
}

#[test]
fn sessions_keep_their_identity_when_sshd_is_gone() {
    let built = Fixture::parse(LIVE).build();
    let root = built.root();
    let t0 = now();
    let first = scan_at(root, t0);
    let before = logon_sessions(&first.items);
    let alice = session(&before, "30");
    let bob = session(&before, "31");
    assert_eq!(
        identity(alice),
        (
            Some(logon_type::NETWORK),
            Some("sshd/publickey".into()),
            Some("2026-08-01T10:00:00.37Z".parse().unwrap()),
            "alice from 10.0.0.5 (sshd)".into()
        )
    );
    assert_eq!(bob.logon_type, Some(logon_type::REMOTE_INTERACTIVE));
    assert_eq!(bob.caption(), "bob on pts/2 from 192.0.2.9 (sshd)");
    let asked: Vec<&str> = (before.iter())
        .filter(|f| f.remember.is_some())
        .map(|f| f.logon_id.as_str())
        .collect();
    assert_eq!(
        asked,
        ["30", "31"],
        "the live sessions are to be remembered"
    );
    assert_eq!(alice.remember.as_ref().map(|r| r.basis), Some(Basis::Live));
    remember(root, &first.items, &before, t0);

    // Root only: the directory 0700, the file 0600.
    let mode = |rel: &str| {
        std::fs::metadata(root.path(rel))
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!((mode(STATE_DIR), mode(SESSIONS_FILE)), (0o700, 0o600));

    // A second scan with the record changes nothing and asks to write nothing.
    let again = logon_sessions(&scan_at(root, t0 + SignedDuration::from_secs(1)).items);
    assert!(again.iter().all(|f| f.remember.is_none()), "{again:#?}");

    // sshd goes: the monitors and children exit, the `nohup sleep` and the tmux server live on.
    for pid in [6000, 6001, 6002, 6100, 6101, 6102] {
        remove_process(&built, pid);
    }
    let t1 = t0 + SignedDuration::from_secs(60);
    let after_scan = scan_at(root, t1);
    let after = logon_sessions(&after_scan.items);
    for id in ["30", "31"] {
        let (was, is) = (session(&before, id), session(&after, id));
        assert_eq!(
            identity(was),
            identity(is),
            "session {id} kept its identity"
        );
        assert_ne!(was.pids, is.pids);
        assert_eq!(
            was.sources, is.sources,
            "Description does not change either"
        );
        assert!(was.sources.contains("sshd"));
        assert!(is.remember.is_none());
    }

    // Without the record (a scan that may not read it), only the processes are left: the
    // origin is unknown, never Batch, and StartTime is the earliest process's.
    std::fs::remove_file(root.path(SESSIONS_FILE)).expect("rm");
    let bare = logon_sessions(&scan_at(root, t1).items);
    let alice = session(&bare, "30");
    assert_eq!(alice.logon_type, None);
    assert_eq!(alice.authentication_package, None);
    assert_eq!(
        alice.start,
        Some("2026-08-01T10:00:00.56Z".parse().unwrap())
    );
}

#[test]
fn the_record_is_pruned_when_the_session_ends() {
    let built = Fixture::parse(LIVE).build();
    let root = built.root();
    let t0 = now();
    let snap = scan_at(root, t0);
    remember(root, &snap.items, &logon_sessions(&snap.items), t0);
    let boot = snap.items.boot_id.clone().expect("boot id");
    assert_eq!(
        state::load(root, &boot)
            .items
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [30, 31]
    );

    // alice's last process ends: her session is gone, and so is its record.
    for pid in [6000, 6001, 6002, 6003] {
        remove_process(&built, pid);
    }
    let t1 = t0 + SignedDuration::from_secs(5);
    let snap = scan_at(root, t1);
    let facts = logon_sessions(&snap.items);
    assert!(facts.iter().all(|f| f.logon_id != "30"));
    remember(root, &snap.items, &facts, t1);
    assert_eq!(
        state::load(root, &boot)
            .items
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [31]
    );

    // A record written after a scan began survives that scan's pruning (its session may
    // have started after the scan listed /proc).
    let mut late = state::load(root, &boot).items[&31].clone();
    late.id = 77;
    let live = BTreeSet::from([31]);
    let t2 = t1 + SignedDuration::from_secs(5);
    state::store(root, &boot, &[late], Some(&live), t2, t2);
    let stored = state::store(root, &boot, &[], Some(&live), t1, t2);
    assert_eq!(stored.items.pruned, 0);
    assert!(state::load(root, &boot).items.contains_key(&77));

    // Another boot's record is never used, and the next write replaces it.
    assert!(state::load(root, "another-boot").items.is_empty());
    let stored = state::store(root, "another-boot", &[], Some(&live), t2, t2);
    assert_eq!(stored.items.pruned, 2);
}

#[test]
fn equal_evidence_never_replaces_a_record_and_stronger_does() {
    let built = Fixture::parse(LIVE).build();
    let root = built.root();
    let snap = scan_at(root, now());
    let facts = logon_sessions(&snap.items);
    let boot = snap.items.boot_id.clone().expect("boot id");
    let mut weak = session(&facts, "30").remember.clone().expect("record");
    weak.basis = Basis::Environment;
    weak.start = None;
    let t = now();
    state::store(root, &boot, std::slice::from_ref(&weak), None, t, t);
    let mut other = weak.clone();
    other.remote_host = Some("192.0.2.200".into());
    let stored = state::store(root, &boot, &[other], None, t, t);
    assert_eq!(
        stored.items.written, 0,
        "the first answer from equal evidence stays"
    );
    // The live scan is stronger than the environment: it replaces the record.
    let facts = logon_sessions(&scan_at(root, t).items);
    let live = session(&facts, "30")
        .remember
        .clone()
        .expect("stronger evidence is remembered");
    let stored = state::store(root, &boot, &[live], None, t, t);
    assert_eq!(stored.items.written, 1);
    assert_eq!(state::load(root, &boot).items[&30].basis, Basis::Live);
}

#[test]
fn a_state_directory_others_can_write_is_not_trusted() {
    let built = Fixture::parse(LIVE).build();
    let root = built.root();
    let snap = scan_at(root, now());
    let boot = snap.items.boot_id.clone().expect("boot id");
    remember(root, &snap.items, &logon_sessions(&snap.items), now());
    std::fs::set_permissions(root.path(STATE_DIR), std::fs::Permissions::from_mode(0o777))
        .expect("chmod");
    let loaded = state::load(root, &boot);
    assert!(loaded.items.is_empty());
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].message.contains("mode 0700"));
    let stored = state::store(root, &boot, &[], None, now(), now());
    assert_eq!(stored.warnings.len(), 1);
}

#[test]
fn the_host_provider_writes_the_record_only_as_root() {
    let built = Fixture::parse(LIVE).build();
    let host = linmgmt_providers::HostProvider::new(
        built.root().clone(),
        ScanOptions::default(),
        Box::new(built.runner()),
        jiff::tz::TimeZone::UTC,
        now(),
    );
    let snap = host.snapshot(linmgmt_providers::Depth::Sessions);
    assert!(
        snap.warnings.iter().all(|w| !w.message.contains("linmgmt")),
        "{:?}",
        snap.warnings
    );
    // Whether this test runs as root, asked of the kernel, not of the code under test.
    let root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    assert_eq!(
        built.root().exists(SESSIONS_FILE),
        root,
        "root writes, others do not (silently)"
    );
}

/// Two scans at different moments (and `/proc/uptime` read a few milliseconds apart, as
/// on a real host) give exactly the same times: boot time is the kernel's btime, never
/// `now - uptime`.
#[test]
fn times_are_the_same_whenever_the_scan_runs() {
    let built = Fixture::parse(LIVE).build();
    let root = built.root();
    let first = scan_at(root, now());
    std::fs::write(root.path("proc/uptime"), "43261.37 100.00\n").expect("uptime");
    let later = now() + SignedDuration::from_millis(61_373);
    let second = scan_at(root, later);
    assert_eq!(first.items.boot_time, second.items.boot_time);
    let starts = |s: &Collected<Snapshot>| -> Vec<(u32, Option<Timestamp>)> {
        s.items
            .processes
            .iter()
            .map(|p| (p.pid(), p.start_time))
            .collect()
    };
    assert_eq!(starts(&first), starts(&second));
    let times = |s: &Collected<Snapshot>| -> Vec<(String, Option<Timestamp>)> {
        logon_sessions(&s.items)
            .into_iter()
            .map(|f| (f.logon_id, f.start))
            .collect()
    };
    assert_eq!(times(&first), times(&second));
}
