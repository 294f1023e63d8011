//! Integration tests: fixture roots built with `linmgmt-test-support`, scanned end to end.

use jiff::{SignedDuration, Timestamp};
use linmgmt_sources::command::FixtureRunner;
use linmgmt_sources::parse::utmp::{DropReason, UtType};
use linmgmt_sources::read::SmbState;
use linmgmt_sources::read::proc::{list_pids, same_process};
use linmgmt_sources::{Collected, Root, ScanOptions, SmbStatusMode, Snapshot, WarningKind, scan};
use linmgmt_test_support::{Fixture, FixtureRoot, now, ts};

fn check(text: &str) -> (FixtureRoot, Collected<Snapshot>) {
    check_with(text, &ScanOptions::default())
}

fn check_with(text: &str, opts: &ScanOptions) -> (FixtureRoot, Collected<Snapshot>) {
    let fx = Fixture::parse(text).build();
    let got = scan(fx.root(), opts, &fx.runner(), now());
    (fx, got)
}

const SSH_PTY: &str = r#"
//- process
pid=1 ppid=0 comm=init cmd=/sbin/init
pid=900 ppid=1 comm=sshd cmd="sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups" fds=socket:500
pid=10086 ppid=900 comm=sshd cmd="sshd: alice [priv]" start=2026-08-01T10:00:00Z ses=2 auid=1001 fds=socket:18206,/dev/null,pipe:9
pid=10097 ppid=10086 comm=sshd cmd="sshd: alice@pts/0" start=2026-08-01T10:00:01Z uid=1001 ses=2 auid=1001 fds=socket:18206,/dev/ptmx
pid=10098 ppid=10097 comm=bash cmd=-bash start=2026-08-01T10:00:01Z uid=1001 ses=2 auid=1001 tty=pts/0
pid=10200 ppid=10098 comm=sleep argv=sleep|100 start=2026-08-01T11:00:00Z uid=1001 ses=2 auid=1001 tty=pts/0
//- tcp
inode=500 local=0.0.0.0:22 remote=0.0.0.0:0 state=LISTEN
inode=18206 local=10.0.0.1:22 remote=10.0.0.5:40574
//- utmp
USER_PROCESS pid=10086 line=pts/0 id=ts/0 user=alice host=10.0.0.5 time=2026-08-01T10:00:01Z addr=10.0.0.5
//- /etc/passwd
root:x:0:0:root:/root:/bin/bash
alice:x:1001:1001:Alice Liddell,,,:/home/alice:/bin/bash
//- /etc/shadow
root:*:1::::::
alice:!$y$x:1::::::
"#;

#[test]
fn ssh_pty_session_end_to_end() {
    let (fx, got) = check(SSH_PTY);
    assert_eq!(got.warnings, vec![], "no warnings on a clean fixture");
    let s = got.items;
    assert_eq!(s.hostname.as_deref(), Some("fixture-host"));
    assert_eq!(s.boot_time, Some(ts("2026-08-01T00:00:00Z")));
    assert_eq!(s.processes.len(), 6);

    // One SSH connection, joined to its socket.
    assert_eq!(s.ssh.len(), 1);
    let c = &s.ssh[0];
    assert_eq!(
        (c.pid, c.child_pid, c.user.as_str(), c.program.as_str()),
        (10086, Some(10097), "alice", "sshd")
    );
    assert_eq!(c.ttys, vec!["pts/0"]);
    assert!(c.has_pty);
    assert_eq!(c.peer, Some("10.0.0.5:40574".parse().unwrap()));
    assert_eq!(c.local, Some("10.0.0.1:22".parse().unwrap()));
    assert_eq!(c.sessionid, Some(2));
    assert_eq!(c.start_time, Some(ts("2026-08-01T10:00:00Z")));
    assert_eq!(c.last_receive, None);

    // One audit session rooted at the monitor.
    assert_eq!(s.audit_sessions.len(), 1);
    let a = &s.audit_sessions[0];
    assert_eq!((a.id, a.loginuid, a.leader), (2, Some(1001), Some(10086)));
    assert_eq!(a.roots, vec![10086]);
    assert_eq!(a.pids, vec![10086, 10097, 10098, 10200]);
    assert_eq!(a.ttys, vec!["pts/0"]);
    assert_eq!(a.start_time, Some(ts("2026-08-01T10:00:00Z")));
    assert_eq!(
        a.open_files, None,
        "fds of all processes are not read by default"
    );

    // utmp record is live; the listener has no session.
    let u = s.utmp.as_ref().unwrap();
    assert_eq!(u.live.len(), 1);
    assert_eq!(u.live[0].addr(), Some("10.0.0.5".parse().unwrap()));
    assert!(s.process(900).unwrap().sessionid.is_none());
    // Details are read for roots and sshd only, unless asked for every process.
    let sleep = s.process(10200).unwrap();
    assert!(!sleep.details && sleep.cmdline.is_empty() && sleep.loginuid.is_none());
    assert!(s.process(10086).unwrap().details);
    let all = ScanOptions {
        process_details: true,
        ..ScanOptions::default()
    };
    let full = scan(fx.root(), &all, &fx.runner(), now()).items;
    assert_eq!(full.process(10200).unwrap().cmdline, vec!["sleep", "100"]);
    assert_eq!(full.process(10200).unwrap().uid(), Some(1001));

    // Accounts with shadow lock state; no logind, NFS or Samba on this host, silently.
    assert_eq!(
        s.account_by_uid(1001).unwrap().passwd.full_name,
        "Alice Liddell"
    );
    assert_eq!(s.account_by_name("alice").unwrap().locked, Some(true));
    assert_eq!(s.logind, None);
    assert_eq!(s.nfs, None);
    assert_eq!(s.smb, SmbState::NotRun);
    drop(fx);
}

#[test]
fn no_pty_session_and_open_files() {
    let text = r#"
//- process
pid=900 ppid=1 comm=sshd cmd="sshd: /usr/sbin/sshd -D"
pid=20000 ppid=900 comm=sshd cmd="sshd: bob [priv]" ses=3 auid=1002 fds=socket:777
pid=20001 ppid=20000 comm=sshd cmd="sshd: bob@notty" uid=1002 ses=3 auid=1002 fds=socket:777,pipe:1,pipe:2
pid=20002 ppid=20001 comm=sftp-server cmd=/usr/lib/openssh/sftp-server uid=1002 ses=3 auid=1002 fds=pipe:1,pipe:2,/home/bob/a.txt,/home/bob/b.txt,anon:[eventfd]
//- tcp
inode=777 local=[::1]:22 remote=[::1]:51000
"#;
    let opts = ScanOptions {
        open_files: true,
        ..ScanOptions::default()
    };
    let (_fx, got) = check_with(text, &opts);
    let s = got.items;
    let c = &s.ssh[0];
    assert!(!c.has_pty);
    assert!(c.ttys.is_empty());
    assert_eq!(c.peer, Some("[::1]:51000".parse().unwrap()));
    let a = s.audit_session(3).unwrap();
    let open = a.open_files.as_ref().unwrap();
    assert_eq!(
        (open.files, open.pipes, open.anon, open.sockets.len()),
        (2, 4, 1, 2)
    );
    assert_eq!(open.resources(), 6);
    // pid 900 has no fd dir in the fixture: with open_files that is a warning, not a failure.
    assert!(
        got.warnings
            .iter()
            .any(|w| w.path.as_deref() == Some("proc/900/fd".as_ref()))
    );
}

#[test]
fn ipv4_mapped_peer_shows_as_ipv4() {
    let text = r#"
//- process
pid=30000 ppid=1 comm=sshd-session cmd="sshd-session: carol [priv]" ses=7 auid=1003 fds=socket:42
pid=30001 ppid=30000 comm=sshd-session cmd="sshd-session: carol@pts/4" uid=1003 ses=7 auid=1003 fds=socket:42 tty=pts/4
//- tcp
inode=42 local=[::ffff:192.168.1.2]:22 remote=[::ffff:192.168.1.50]:61000 v6=1
"#;
    let (_fx, got) = check(text);
    let c = &got.items.ssh[0];
    assert_eq!(c.program, "sshd-session");
    assert_eq!(c.peer, Some("192.168.1.50:61000".parse().unwrap()));
    assert_eq!(c.local, Some("192.168.1.2:22".parse().unwrap()));
    assert_eq!(c.ttys, vec!["pts/4"]);
}

#[test]
fn stale_dead_and_reused_utmp_records_are_dropped() {
    let text = r#"
//- process
pid=10086 ppid=1 comm=sshd cmd="sshd: alice [priv]" start=2026-08-01T10:00:00Z ses=2 auid=1001
pid=4242 ppid=1 comm=cron cmd=/usr/sbin/cron start=2026-08-01T11:30:00Z
//- utmp
BOOT_TIME line=~ user=reboot time=2026-08-01T00:00:05Z
USER_PROCESS pid=10086 line=pts/0 id=ts/0 user=alice host=10.0.0.5 time=2026-08-01T10:00:01Z
DEAD_PROCESS pid=10050 line=pts/1 id=ts/1 time=2026-08-01T09:00:00Z
USER_PROCESS pid=31337 line=pts/2 id=ts/2 user=mallory host=10.9.9.9 time=2026-08-01T08:00:00Z
USER_PROCESS pid=4242 line=pts/3 id=ts/3 user=dave host=10.0.0.7 time=2026-08-01T09:00:00Z
"#;
    let (_fx, got) = check(text);
    let u = got.items.utmp.unwrap();
    assert_eq!(u.live.len(), 1);
    assert_eq!(u.live[0].user.to_string_lossy(), "alice");
    let reasons: Vec<_> = u
        .dropped
        .iter()
        .map(|d| (d.record.pid, d.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (0, DropReason::NotUserProcess(UtType::BootTime)),
            (10050, DropReason::NotUserProcess(UtType::DeadProcess)),
            (31337, DropReason::PidDead),
            (
                4242,
                DropReason::PidReused {
                    pid_start: ts("2026-08-01T11:30:00Z"),
                    record_time: ts("2026-08-01T09:00:00Z")
                }
            ),
        ]
    );
    assert_eq!(
        u.dropped[3].reason.to_string().split(':').next(),
        Some("pid reused")
    );
}

#[test]
fn non_utf8_fields_are_lossy_with_raw_bytes_kept() {
    let text = r#"
//- process
pid=5000 ppid=1 comm=sshd cmd="sshd: j\xe9r\xf4me [priv]" ses=9 auid=1005
//- utmp
USER_PROCESS pid=5000 line=pts/9 user=j\xe9r\xf4me host="h\xffst name" time=2026-08-01T10:00:00Z
"#;
    let (_fx, got) = check(text);
    let s = got.items;
    let r = &s.utmp.as_ref().unwrap().live[0];
    assert_eq!(r.user.as_bytes(), b"j\xe9r\xf4me");
    assert_eq!(r.user.to_string_lossy(), "j\u{fffd}r\u{fffd}me");
    assert_eq!(r.host.as_bytes(), b"h\xffst name");
    assert_eq!(s.ssh[0].user, "j\u{fffd}r\u{fffd}me");
}

#[test]
fn corrupt_and_truncated_utmp_warn_but_keep_whole_records() {
    let mut f = Fixture::parse(
        r#"
//- process
pid=10086 ppid=1 comm=sshd cmd="sshd: alice [priv]" ses=2 auid=1001
//- utmp
USER_PROCESS pid=10086 line=pts/0 user=alice time=2026-08-01T10:00:01Z
77 pid=10086 line=pts/5 user=garbage
"#,
    );
    // Append half a record: a writer interrupted mid-record.
    let layout = linmgmt_sources::parse::utmp::UtmpLayout::native();
    let mut bytes = linmgmt_sources::parse::utmp::encode_file(f.utmp.as_ref().unwrap(), layout);
    bytes.extend_from_slice(&[0x07, 0, 0, 0, 1, 2, 3]);
    f.utmp = None;
    let fx = f.file("/run/utmp", bytes).build();
    let got = scan(fx.root(), &ScanOptions::default(), &fx.runner(), now());
    let u = got.items.utmp.unwrap();
    assert_eq!(u.live.len(), 1);
    assert_eq!(
        u.dropped[0].reason,
        DropReason::NotUserProcess(UtType::Unknown(77))
    );
    assert!(
        got.warnings
            .iter()
            .any(|w| w.kind == WarningKind::Truncated && w.message.starts_with("7 trailing bytes"))
    );
}

#[test]
fn missing_utmp_is_none_without_warning() {
    let (_fx, got) = check("//- process\npid=1 ppid=0 comm=init\n");
    assert_eq!(got.items.utmp, None);
    assert_eq!(got.warnings, vec![]);
}

#[test]
fn logind_session_files() {
    let text = r#"
//- process
pid=10086 ppid=1 comm=sshd cmd="sshd: alice [priv]" ses=2 auid=1001
//- /run/systemd/sessions/2
# This is private data. Do not parse.
UID=1001
USER=alice
ACTIVE=1
STATE=active
REMOTE=1
TYPE=tty
CLASS=user
SCOPE=session-2.scope
REMOTE_HOST=10.0.0.5
SERVICE=sshd
LEADER=10086
AUDIT=2
REALTIME=1785578400000000
//- /run/systemd/sessions/c1
UID=0
USER=root
CLASS=background
SERVICE=cron
LEADER=4242
//- /run/systemd/sessions/.#2abc
UID=partial write
"#;
    let (_fx, got) = check(text);
    let l = got.items.logind.unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!(l[0].id, "2");
    assert_eq!(
        (l[0].leader, l[0].audit, l[0].service.as_deref()),
        (Some(10086), Some(2), Some("sshd"))
    );
    assert_eq!(l[0].started, Some(ts("2026-08-01T10:00:00Z")));
    assert_eq!(
        (l[1].id.as_str(), l[1].class.as_deref(), l[1].audit),
        ("c1", Some("background"), None)
    );
}

#[test]
fn logind_dir_present_but_empty_is_some_empty() {
    let (_fx, got) = check("//- /run/systemd/sessions !dir\n");
    assert_eq!(got.items.logind, Some(vec![]));
}

fn smb_fixture(extra: &str) -> String {
    let sample = include_str!("../test_data/smbstatus-4.17.json");
    format!(
        r#"
//- process
pid=11000 ppid=1 comm=smbd cmd="/usr/sbin/smbd --foreground"
pid=11020 ppid=11000 comm=smbd cmd="/usr/sbin/smbd --foreground" fds=socket:61020,/srv/samba/share
pid=11021 ppid=11000 comm=smbd cmd="/usr/sbin/smbd --foreground" fds=socket:61021
pid=11091 ppid=11000 comm=smbd cmd="/usr/sbin/smbd --foreground" fds=socket:61091,/srv/samba/share/a.txt
//- tcp
inode=61020 local=[::1]:4455 remote=[::1]:57516
inode=61021 local=127.0.0.1:4455 remote=127.0.0.1:36026
inode=61091 local=127.0.0.1:4455 remote=127.0.0.1:59456
//- /smbstatus.json
{sample}
{extra}"#
    )
}

#[test]
fn samba_real_sample() {
    let (_fx, got) = check(&smb_fixture(""));
    assert_eq!(got.warnings, vec![]);
    let s = got.items;
    let smb = s.smb.status().expect("smbstatus ran because smbd runs");
    assert_eq!(smb.version.as_deref(), Some("4.17.12-Debian"));
    assert_eq!(smb.sessions.len(), 3);
    let by_pid = |pid| smb.sessions.iter().find(|x| x.pid == Some(pid)).unwrap();

    let guest = by_pid(11021);
    assert_eq!(
        (
            guest.username.as_deref(),
            guest.uid,
            guest.dialect.as_deref()
        ),
        (Some("nobody"), Some(65534), Some("SMB2_10"))
    );
    assert!(guest.encryption.is_none() && guest.signing.is_none());

    let plain = by_pid(11020);
    assert_eq!(plain.peer, Some("[::1]:57516".parse().unwrap()));
    assert!(plain.encryption.is_none());
    assert_eq!(plain.signing.cipher.as_deref(), Some("AES-128-GMAC"));

    let enc = by_pid(11091);
    assert_eq!(enc.session_id, "3445008351");
    assert_eq!(enc.peer, Some("127.0.0.1:59456".parse().unwrap()));
    assert_eq!(
        (
            enc.encryption.cipher.as_deref(),
            enc.encryption.degree.as_deref()
        ),
        (Some("AES-128-GCM"), Some("partial"))
    );
    assert_eq!(enc.remote_machine.as_deref(), Some("127.0.0.1"));

    // The one open file belongs to pid 11091.
    let opens = smb.opens_by_pid();
    assert_eq!(opens.get(&11091), Some(&1));
    assert_eq!(opens.get(&11020), None);
    assert_eq!(smb.opens_by_share().get("/srv/samba/share"), Some(&1));
    assert_eq!(
        smb.first_connect("3445008351"),
        Some(ts("2026-11-22T01:46:54.609438Z"))
    );
    let tcon = smb
        .tcons
        .iter()
        .find(|t| t.session_id.as_deref() == Some("3445008351"))
        .unwrap();
    assert_eq!(
        (tcon.service.as_deref(), tcon.encryption.degree.as_deref()),
        (Some("share"), Some("full"))
    );

    // smbd children's sockets are joined, giving the local port (TransportName).
    assert_eq!(
        s.tcp_by_pid[&11091][0].local,
        "127.0.0.1:4455".parse().unwrap()
    );
    assert_eq!(
        s.tcp_by_pid[&11020][0].remote,
        "[::1]:57516".parse().unwrap()
    );
}

#[test]
fn samba_not_installed_is_silent_and_failure_warns() {
    let opts = ScanOptions {
        smbstatus: SmbStatusMode::Always,
        ..ScanOptions::default()
    };
    let (_fx, got) = check_with("//- process\npid=1 ppid=0 comm=init\n", &opts);
    assert_eq!(got.items.smb, SmbState::NotInstalled);
    assert_eq!(got.warnings, vec![]);

    let (_fx, got) = check_with(
        "//- /smbstatus.err\nFailed to open /var/lib/samba/lock/smbXsrv_session_global.tdb\n",
        &opts,
    );
    assert!(
        matches!(got.items.smb, SmbState::Failed(ref m) if m.contains("smbXsrv_session_global"))
    );
    assert_eq!(got.warnings.len(), 1);
    assert_eq!(got.warnings[0].kind, WarningKind::Command);

    let (_fx, got) = check_with("//- /smbstatus.json\nnot json\n", &opts);
    assert!(matches!(got.items.smb, SmbState::Failed(_)));
    assert_eq!(got.warnings[0].kind, WarningKind::Command);

    // Without smbd and in the default mode, smbstatus is not even run.
    let (_fx, got) = check(&smb_fixture("").replace("comm=smbd", "comm=other"));
    assert_eq!(got.items.smb, SmbState::NotRun);
}

#[test]
fn nfs_clients() {
    let text = r#"
//- /proc/fs/nfsd/clients/3/info
clientid: 0x6e6d3d5f6c5b3a01
address: "192.168.1.10:871"
status: confirmed
seconds from last renew: 12
name: "Linux NFSv4.2 client-a"
minor version: 2
Implementation domain: "kernel.org"
Implementation name: "Linux 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC x86_64"
Implementation time: [0, 0]
callback state: UP
callback address: 192.168.1.10:0
//- /proc/fs/nfsd/clients/3/states
- 0x00000001: { type: open, access: rw, deny: --, superblock: "fd:10:13649", filename: "/srv/a", owner: "open id:x" }
- 0x00000002: { type: open, access: r, deny: --, superblock: "fd:10:13649", filename: "/srv/b", owner: "open id:y" }
- 0x00000003: { type: lock, superblock: "fd:10:13649", filename: "/srv/a", owner: "lock id:z" }
//- /proc/fs/nfsd/clients/12/info
clientid: 0xabc
address: "[2001:db8::5]:833"
status: courtesy
time since last renew: 0:01:40
minor version: 0
name: "0.0.0.0/2001:db8::5 tcp UNIX 0"
admin-revoked states: 0
//- /proc/fs/nfsd/clients/12/states
//- /proc/fs/nfsd/clients/20/info
clientid: 0xdef
address: 10.0.0.9:700
status: unconfirmed
"#;
    let (_fx, got) = check(text);
    let nfs = got.items.nfs.unwrap();
    assert_eq!(
        nfs.iter().map(|c| c.dir.as_str()).collect::<Vec<_>>(),
        vec!["3", "12", "20"]
    );
    assert_eq!(nfs[0].peer(), Some("192.168.1.10:871".parse().unwrap()));
    assert_eq!(nfs[0].states.unwrap().open, 2);
    assert_eq!(nfs[0].info.seconds_since_renew, Some(12));
    assert_eq!(
        nfs[0].info.implementation_name.as_deref(),
        Some("Linux 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC x86_64")
    );
    assert_eq!(nfs[1].peer(), Some("[2001:db8::5]:833".parse().unwrap()));
    assert_eq!(nfs[1].info.seconds_since_renew, Some(100));
    assert_eq!(nfs[1].states.unwrap().open, 0);
    assert_eq!(nfs[2].peer(), Some("10.0.0.9:700".parse().unwrap()));
    assert_eq!(nfs[2].states, None);
    // Client 20 has no states file: one warning.
    assert_eq!(got.warnings.len(), 1);
    assert_eq!(
        got.warnings[0].path.as_deref(),
        Some("proc/fs/nfsd/clients/20/states".as_ref())
    );
}

#[test]
fn unreadable_fd_dir_is_a_warning_not_a_failure() {
    let text = format!("{SSH_PTY}\n//- /proc/10086/fd !denied\n");
    let (_fx, got) = check(&text);
    let denied: Vec<_> = got
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::PermissionDenied)
        .collect();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].path.as_deref(), Some("proc/10086/fd".as_ref()));
    // The child's fds still give the connection its peer.
    assert_eq!(
        got.items.ssh[0].peer,
        Some("10.0.0.5:40574".parse().unwrap())
    );
}

#[test]
fn processes_vanishing_mid_scan() {
    let text = r#"
//- process
pid=1 ppid=0 comm=init
pid=600 ppid=1 comm=gone missing=stat,cmdline,status,loginuid,sessionid
pid=601 ppid=1 comm=half missing=cmdline,status ses=4 auid=0
//- /proc/602/stat
602 (broken
"#;
    let (_fx, got) = check(text);
    let pids: Vec<u32> = got.items.processes.iter().map(|p| p.pid()).collect();
    assert_eq!(pids, vec![1, 601]);
    let half = got.items.process(601).unwrap();
    assert!(half.cmdline.is_empty() && half.uid.is_none());
    assert_eq!(half.sessionid, Some(4));
    let kinds: Vec<(WarningKind, String)> = got
        .warnings
        .iter()
        .map(|w| (w.kind, w.path.as_ref().unwrap().display().to_string()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (WarningKind::Vanished, "proc/600/stat".into()),
            (WarningKind::Parse, "proc/602/stat".into()),
            // 601 is a session root, so its details are read in the second pass (not its
            // `status`: only `Win32_Process` needs that).
            (WarningKind::Vanished, "proc/601/cmdline".into()),
        ]
    );
}

#[test]
fn session_roots_and_orphans() {
    // ses 5: the root exited, two children were reparented to init: both are roots and the
    // earlier one leads. pid 3000 has no audit session (system).
    let text = r#"
//- process
pid=1 ppid=0 comm=init
pid=3000 ppid=1 comm=cron
pid=3101 ppid=1 comm=a start=500 ses=5 auid=1001
pid=3102 ppid=1 comm=b start=400 ses=5 auid=1001
pid=3103 ppid=3101 comm=c start=600 ses=5 auid=1001
pid=3200 ppid=3000 comm=cronjob start=700 ses=6 auid=0
"#;
    let (_fx, got) = check(text);
    let s = &got.items;
    let five = s.audit_session(5).unwrap();
    assert_eq!(five.roots, vec![3101, 3102]);
    assert_eq!(five.leader, Some(3102));
    assert_eq!(s.audit_session(6).unwrap().roots, vec![3200]);
    assert_eq!(s.audit_sessions.len(), 2);
}

#[test]
fn tty_idle_from_atime() {
    let fx = Fixture::parse(SSH_PTY).build();
    fx.touch_tty("pts/0", ts("2026-08-01T11:58:00Z"));
    let got = scan(fx.root(), &ScanOptions::default(), &fx.runner(), now());
    assert_eq!(
        got.items.tty_idle("pts/0"),
        Some(SignedDuration::from_secs(120))
    );
    assert_eq!(got.items.tty_idle("pts/9"), None);
    // Not read when not asked for (logon sessions show no idle time).
    let opts = ScanOptions {
        terminal_idle: false,
        ..ScanOptions::default()
    };
    let got = scan(fx.root(), &opts, &fx.runner(), now());
    assert!(got.items.tty_atimes.is_empty());
    assert_eq!(got.items.ssh.len(), 1);
}

#[test]
fn pid_reuse_helper() {
    let fx = Fixture::parse(SSH_PTY).build();
    let ticks = linmgmt_test_support::ticks_after_boot(ts("2026-08-01T10:00:00Z"));
    assert!(same_process(fx.root(), 10086, ticks));
    assert!(!same_process(fx.root(), 10086, ticks + 1));
    assert!(!same_process(fx.root(), 424242, ticks));
}

#[test]
fn thousand_sessions() {
    let fx = linmgmt_test_support::many_sessions(1000).build();
    let t = std::time::Instant::now();
    let got = scan(fx.root(), &ScanOptions::default(), &fx.runner(), now());
    let elapsed = t.elapsed();
    assert_eq!(got.warnings, vec![]);
    let s = got.items;
    assert_eq!(s.processes.len(), 3000 + 52);
    assert_eq!(s.audit_sessions.len(), 1000);
    assert_eq!(s.ssh.len(), 1000);
    assert!(s.ssh.iter().all(|c| c.peer.is_some() && c.has_pty));
    let u = s.utmp.unwrap();
    assert_eq!((u.live.len(), u.dropped.len()), (900, 100));
    assert_eq!(s.tty_atimes.len(), 1000);
    eprintln!("1000 sessions scanned in {elapsed:?}");
}

/// The real host: only facts that hold whoever is logged in.
#[test]
fn live_host_smoke() {
    let root = Root::host();
    let got = scan(
        &root,
        &ScanOptions {
            smbstatus: SmbStatusMode::Never,
            ..ScanOptions::default()
        },
        &FixtureRunner::new(root.clone()),
        Timestamp::now(),
    );
    let s = got.items;
    let me = s.process(std::process::id()).expect("own pid is listed");
    let real_ppid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("PPid:")
                .map(|v| v.trim().parse::<u32>().unwrap())
        })
        .unwrap();
    assert_eq!(me.ppid(), real_ppid);
    assert!(me.start_time.unwrap() <= Timestamp::now());
    assert!(!s.hostname.unwrap_or_default().is_empty());
    assert!(s.boot_time.unwrap() < Timestamp::now());
    assert!(s.boot_id.is_some());
    assert!(list_pids(&root).unwrap().contains(&1));
}

/// Every module of the crate starts with a `//!` doc comment.
#[test]
fn tidy_module_docs() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    let mut missing = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && !std::fs::read_to_string(&p).unwrap().starts_with("//!")
            {
                missing.push(p);
            }
        }
    }
    assert!(missing.is_empty(), "modules without //! docs: {missing:?}");
}

/// A fork caught before it execs or retitles has its parent's title: the user child born
/// `USER [priv]`, a command still titled `USER@pts/0`. Neither is a connection of its own.
#[test]
fn forks_with_their_parents_title_are_not_connections() {
    let extra = r#"
pid=10300 ppid=10097 comm=sshd cmd="sshd: alice@pts/0" start=2026-08-01T11:00:00Z uid=1001 ses=2 auid=1001
pid=10301 ppid=10086 comm=sshd cmd="sshd: alice [priv]" start=2026-08-01T11:00:00Z ses=2 auid=1001
"#;
    let text = SSH_PTY.replacen("//- tcp", &format!("{}//- tcp", extra.trim_start()), 1);
    let (_fx, got) = check(&text);
    let s = got.items;
    assert_eq!(s.processes.len(), 8);
    let conns: Vec<_> = s.ssh.iter().map(|c| (c.pid, c.child_pid, c.peer)).collect();
    assert_eq!(
        conns,
        [(10086, Some(10097), Some("10.0.0.5:40574".parse().unwrap()))]
    );
}
