//! The live process table against the truth: after every step of a story (logins, logouts,
//! orphans, execs, title changes without events, lost events), the table must equal a full
//! read of the same root, and a scan from the table must equal a full scan.
//!
//! The fixture tests play the kernel: they change a fixture root as a process would and note
//! what the proc connector would report (nothing for `setproctitle` or `pam_loginuid`). The
//! last test runs the real proc connector on this host (root only; skipped otherwise, which
//! fails under `CI=true`).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use linmgmt_sources::model::{LiveProcesses, ProcessChanges, ProcessTable, corrections};
use linmgmt_sources::wake::ProcEventKind::{self, Exec, Exit, Fork};
use linmgmt_sources::{Known, Root, ScanOptions, scan, scan_with};
use linmgmt_test_support::{Fixture, FixtureRoot, Proc, now};

const BASE: &str = r#"
//- process
pid=1 ppid=0 comm=init cmd=/sbin/init
pid=500 ppid=1 comm=sshd cmd="sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups" fds=socket:500
pid=600 ppid=500 comm=sshd cmd="sshd: alice [priv]" ses=3 auid=1001 fds=socket:600
pid=601 ppid=600 comm=sshd cmd="sshd: alice@pts/0" uid=1001 ses=3 auid=1001 fds=socket:600
pid=602 ppid=601 comm=bash cmd=-bash uid=1001 ses=3 auid=1001 tty=pts/0
pid=800 ppid=1 comm=cron cmd=/usr/sbin/cron
//- tcp
inode=500 local=0.0.0.0:22 remote=0.0.0.0:0 state=LISTEN
inode=600 local=10.0.0.1:22 remote=10.0.0.5:40574
inode=700 local=10.0.0.1:22 remote=10.0.0.6:50000
//- /etc/passwd
root:x:0:0:root:/root:/bin/bash
alice:x:1001:1001::/home/alice:/bin/bash
bob:x:1002:1002::/home/bob:/bin/bash
"#;

/// A fixture host with a model over it; each step changes the root, notes events, and checks.
struct Story {
    fx: FixtureRoot,
    changes: Arc<ProcessChanges>,
    model: LiveProcesses,
    steps: usize,
}

impl Story {
    fn new(text: &str) -> Story {
        let fx = Fixture::parse(text).build();
        let changes = ProcessChanges::new();
        let model = LiveProcesses::fed_by(fx.root(), changes.clone());
        let story = Story {
            fx,
            changes,
            model,
            steps: 0,
        };
        story.check("start");
        story
    }

    fn root(&self) -> &Root {
        self.fx.root()
    }

    fn dir(&self) -> &Path {
        self.root().dir()
    }

    /// Writes a process (new, or changed) without telling anyone.
    fn put(&self, line: &str) {
        let p = Proc::parse_line(line);
        let dir = self.dir().join(format!("proc/{}", p.pid));
        let _ = std::fs::remove_dir_all(&dir);
        p.write(self.dir());
    }

    /// Removes a process (it exited and was reaped) without telling anyone.
    fn remove(&self, pid: u32) {
        std::fs::remove_dir_all(self.dir().join(format!("proc/{pid}"))).expect("process dir");
    }

    fn note(&self, kind: ProcEventKind, pid: u32, parent: Option<u32>) {
        self.changes.note(kind, pid, parent);
    }

    /// The invariant: the table equals a full read, and a scan from it equals a full scan.
    fn check(&self, what: &str) {
        let mut warnings = Vec::new();
        let table = self.model.processes(&mut warnings);
        let fresh = ProcessTable::read(self.root(), &mut warnings);
        let model = ProcessTable::from_processes(table.clone());
        let found = corrections(&model, &fresh, &BTreeSet::new());
        assert!(
            found.is_empty(),
            "{what}: the table differs from /proc: {found:#?}"
        );

        let opts = ScanOptions::default();
        let runner = self.fx.runner();
        let full = scan(self.root(), &opts, &runner, now()).items;
        let known = Known {
            processes: Some(table),
            memos: Some(self.model.memos()),
        };
        let from_model = scan_with(self.root(), &opts, &runner, now(), known).items;
        assert_eq!(
            from_model.audit_sessions, full.audit_sessions,
            "{what}: audit sessions"
        );
        assert_eq!(from_model.ssh, full.ssh, "{what}: ssh connections");
        assert_eq!(from_model.utmp, full.utmp, "{what}: utmp");
        assert_eq!(from_model.ssh_auth, full.ssh_auth, "{what}: sshd's log");
        assert_eq!(from_model.accounts, full.accounts, "{what}: accounts");
        assert_eq!(from_model.logind, full.logind, "{what}: logind's files");
        assert_eq!(from_model.nfs, full.nfs, "{what}: NFS clients");
    }

    fn step(&mut self, what: &str, change: impl FnOnce(&Story)) {
        change(self);
        self.steps += 1;
        self.check(what);
    }
}

#[test]
fn a_login_and_a_logout_as_sshd_makes_them() {
    let mut s = Story::new(BASE);
    s.step("sshd accepts a connection", |s| {
        s.put(r#"pid=700 ppid=500 comm=sshd cmd="sshd: [accepted]" fds=socket:700"#);
        s.note(Fork, 700, Some(500));
    });
    s.step("the listener counts the login in progress (no event)", |s| {
        s.put(r#"pid=500 ppid=1 comm=sshd cmd="sshd: /usr/sbin/sshd -D [listener] 1 of 10-100 startups" fds=socket:500"#);
    });
    s.step("the pre-auth child", |s| {
        s.put(r#"pid=701 ppid=700 comm=sshd cmd="sshd: bob [net]" uid=105"#);
        s.note(Fork, 701, Some(700));
    });
    s.step("the monitor retitles itself (no event)", |s| {
        s.put(r#"pid=700 ppid=500 comm=sshd cmd="sshd: bob [preauth]" fds=socket:700"#);
    });
    s.step("authenticated: the pre-auth child ends", |s| {
        s.remove(701);
        s.note(Exit, 701, Some(700));
    });
    s.step("PAM sets the audit session and the title (no event)", |s| {
        s.put(
            r#"pid=700 ppid=500 comm=sshd cmd="sshd: bob [priv]" ses=4 auid=1002 fds=socket:700"#,
        );
    });
    s.step("the user child, forked with the monitor's title", |s| {
        s.put(
            r#"pid=702 ppid=700 comm=sshd cmd="sshd: bob [priv]" ses=4 auid=1002 fds=socket:700"#,
        );
        s.note(Fork, 702, Some(700));
    });
    s.step("the child drops privileges (uid event) and retitles itself (none)", |s| {
        s.put(r#"pid=702 ppid=700 comm=sshd cmd="sshd: bob" uid=1002 ses=4 auid=1002 fds=socket:700"#);
        s.note(ProcEventKind::Uid, 702, None);
    });
    s.step(
        "a second child of the monitor, forked with its title",
        |s| {
            s.put(r#"pid=705 ppid=700 comm=sshd cmd="sshd: bob [priv]" ses=4 auid=1002"#);
            s.note(Fork, 705, Some(700));
        },
    );
    s.step("it retitles itself, with no event", |s| {
        s.put(r#"pid=705 ppid=700 comm=sshd cmd="sshd: bob [net]" ses=4 auid=1002"#);
    });
    s.step("and is gone", |s| {
        s.remove(705);
        s.note(Exit, 705, Some(700));
    });
    s.step("the child takes its title (no event)", |s| {
        s.put(r#"pid=702 ppid=700 comm=sshd cmd="sshd: bob@notty" uid=1002 ses=4 auid=1002 fds=socket:700"#);
    });
    s.step("the command forks and execs", |s| {
        s.put(r#"pid=703 ppid=702 comm=sshd cmd="sshd: bob@notty" uid=1002 ses=4 auid=1002"#);
        s.note(Fork, 703, Some(702));
        s.put(r#"pid=703 ppid=702 comm=sleep argv=sleep|100 uid=1002 ses=4 auid=1002"#);
        s.note(Exec, 703, None);
    });
    let mut w = Vec::new();
    let titles: Vec<String> = (s.model.processes(&mut w).iter())
        .filter(|p| p.sessionid == Some(4))
        .map(|p| p.title())
        .collect();
    assert_eq!(titles, ["sshd: bob [priv]", "sshd: bob@notty", "[sleep]"]);
    s.step("logout: the command ends, a zombie first", |s| {
        s.put(r#"pid=703 ppid=702 comm=sleep state=Z uid=1002 ses=4 auid=1002"#);
        s.note(Exit, 703, Some(702));
    });
    s.step("reaped, then the child and the monitor end", |s| {
        s.remove(703);
        s.remove(702);
        s.note(Exit, 702, Some(700));
        s.remove(700);
        s.note(Exit, 700, Some(500));
    });
    let gone = s
        .model
        .processes(&mut w)
        .iter()
        .all(|p| p.sessionid != Some(4));
    assert!(gone, "bob's session is gone from the table");
    assert_eq!(s.model.reconcile().corrections, Vec::<String>::new());
}

/// Files the model remembers (utmp, sshd's log, the account files, logind's session files)
/// change in place, the same size, just after a refresh read them, and again once they
/// have settled: each change is seen at the next check, as a full scan sees it. So are
/// logind's files that come, go and are replaced, as logind writes them.
#[test]
fn files_changed_in_place_are_read_again() {
    use linmgmt_sources::parse::utmp::{UtmpLayout, encode_file};
    use linmgmt_test_support::parse_utmp_line;
    let mut s = Story::new(&format!(
        "{BASE}//- /var/log/auth.log\n\
         Dec  5 01:00:00 host sshd[600]: Accepted publickey for alice from 10.0.0.5 port 40574 ssh2: ED25519 SHA256:x\n"
    ));
    let utmp = |user: &str| {
        let line = format!(
            "USER_PROCESS pid=601 line=pts/0 id=ts/0 user={user} host=10.0.0.5 time=2026-08-01T10:00:00Z"
        );
        encode_file(&[parse_utmp_line(&line)], UtmpLayout::native())
    };
    let write = |s: &Story, rel: &str, bytes: &[u8]| {
        std::fs::create_dir_all(s.dir().join(rel).parent().unwrap()).unwrap();
        std::fs::write(s.dir().join(rel), bytes).unwrap();
    };
    // Swaps two words of the same length in a file (utmp is bytes).
    let swap = |s: &Story, rel: &str, a: &str, b: &str| {
        let mut bytes = std::fs::read(s.dir().join(rel)).unwrap();
        let at = |w: &str| bytes.windows(w.len()).position(|x| x == w.as_bytes());
        let (i, to) = match at(a) {
            Some(i) => (i, b),
            None => (at(b).expect("one of the words"), a),
        };
        bytes[i..i + to.len()].copy_from_slice(to.as_bytes());
        write(s, rel, &bytes);
    };
    s.step("a utmp record", |s| write(s, "run/utmp", &utmp("alice")));
    let logind = |id: u32, leader: u32, state: &str| {
        format!(
            "UID=1001\nUSER=alice\nACTIVE=1\nSTATE={state}\nREMOTE=1\nTYPE=tty\nCLASS=user\nSERVICE=sshd\nLEADER={leader}\nAUDIT={id}\n"
        )
    };
    s.step("logind's file of session 3", |s| {
        write(
            s,
            "run/systemd/sessions/3",
            logind(3, 600, "active").as_bytes(),
        )
    });
    // What changes: in which file, one word for another of the same length.
    let changes = [
        ("the record's user", "run/utmp", "alice", "carol"),
        (
            "the method in sshd's log",
            "var/log/auth.log",
            "publickey",
            "password ",
        ),
        ("an account's name", "etc/passwd", "bob:", "ann:"),
        (
            "a session's state in logind's file",
            "run/systemd/sessions/3",
            "active",
            "online",
        ),
    ];
    // Each change twice: at once (perhaps in the clock tick of the read before), and after
    // the files settled and were kept.
    for settled in [false, true] {
        for (what, rel, a, b) in changes {
            if settled {
                std::thread::sleep(linmgmt_sources::memo::SETTLED + Duration::from_millis(50));
                s.step("the files are read and kept", |_| {});
            }
            let what = format!("{what}, the same size (settled: {settled})");
            s.step(&what, |s| swap(s, rel, a, b));
        }
    }
    // logind writes a file aside and renames it over the old one.
    let replace = |s: &Story, rel: &str, text: String| {
        write(s, "run/systemd/sessions/.new", text.as_bytes());
        std::fs::rename(s.dir().join("run/systemd/sessions/.new"), s.dir().join(rel)).unwrap();
    };
    std::thread::sleep(linmgmt_sources::memo::SETTLED + Duration::from_millis(50));
    s.step("logind's files are read and kept", |_| {});
    s.step("logind replaces a session's file", |s| {
        replace(s, "run/systemd/sessions/3", logind(3, 600, "closing"))
    });
    std::thread::sleep(linmgmt_sources::memo::SETTLED + Duration::from_millis(50));
    s.step("logind's files are read and kept", |_| {});
    s.step("a session's file comes", |s| {
        replace(s, "run/systemd/sessions/4", logind(4, 700, "active"))
    });
    std::thread::sleep(linmgmt_sources::memo::SETTLED + Duration::from_millis(50));
    s.step("logind's files are read and kept", |_| {});
    s.step("a session's file goes", |s| {
        std::fs::remove_file(s.dir().join("run/systemd/sessions/3")).unwrap()
    });
}

/// NFS clients come and go with no process event: the model asks again once its refresh
/// has passed, or at once when the nfsd threads change; in between it keeps its answer.
#[test]
fn nfs_clients_are_asked_again_after_the_refresh_or_when_nfsd_changes() {
    let text = format!(
        "{BASE}//- process\npid=90 ppid=2 comm=nfsd\n//- /proc/fs/nfsd/clients/3/info\n\
         clientid: 0x1\naddress: \"10.0.0.7:871\"\nstatus: confirmed\nminor version: 2\n"
    );
    let fx = Fixture::parse(&text).build();
    let changes = ProcessChanges::new();
    let refresh = Duration::from_millis(300);
    let model = LiveProcesses::fed_by(fx.root(), changes.clone()).with_server_refresh(refresh);
    let runner = fx.runner();
    let opts = ScanOptions::default();
    let clients = || {
        let mut w = Vec::new();
        let known = Known {
            processes: Some(model.processes(&mut w)),
            memos: Some(model.memos()),
        };
        let snap = scan_with(fx.root(), &opts, &runner, now(), known).items;
        let dirs = snap.nfs.unwrap_or_default().into_iter().map(|c| c.dir);
        dirs.collect::<Vec<_>>()
    };
    let add_client = |dir: &str| {
        let path = fx.root().dir().join(format!("proc/fs/nfsd/clients/{dir}"));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(
            path.join("info"),
            "clientid: 0x2\naddress: \"10.0.0.8:700\"\n",
        )
        .unwrap();
    };
    let started = std::time::Instant::now();
    assert_eq!(clients(), ["3"]);
    add_client("4");
    // Within the refresh the kept answer stands (what the refresh bounds); timing decides
    // only whether this one is checked, never the outcome of the ones below.
    if started.elapsed() < refresh / 2 {
        assert_eq!(clients(), ["3"], "kept within the refresh");
    }
    std::thread::sleep(refresh);
    assert_eq!(clients(), ["3", "4"], "asked again after the refresh");
    // A new nfsd thread (the server restarted): asked again at once.
    add_client("5");
    let thread = fx.root().dir().join("proc/91");
    Proc::parse_line("pid=91 ppid=2 comm=nfsd").write(fx.root().dir());
    assert!(thread.exists());
    changes.note(Fork, 91, Some(2));
    assert_eq!(clients(), ["3", "4", "5"], "asked again when nfsd changed");
}

#[test]
fn orphans_reparented_execs_and_renames() {
    let mut s = Story::new(BASE);
    s.step("alice starts a job with nohup", |s| {
        s.put("pid=610 ppid=602 comm=bash uid=1001 ses=3 auid=1001 tty=pts/0");
        s.note(Fork, 610, Some(602));
        s.put("pid=610 ppid=602 comm=sleep argv=sleep|1000 uid=1001 ses=3 auid=1001");
        s.note(Exec, 610, None);
    });
    s.step(
        "alice logs out; the job is reparented to init (no event for it)",
        |s| {
            for (pid, parent) in [(602, 601), (601, 600), (600, 500)] {
                s.remove(pid);
                s.note(Exit, pid, Some(parent));
            }
            s.put("pid=610 ppid=1 comm=sleep argv=sleep|1000 uid=1001 ses=3 auid=1001");
        },
    );
    let mut w = Vec::new();
    let full = scan(s.root(), &ScanOptions::default(), &s.fx.runner(), now()).items;
    let session = full.audit_session(3).expect("the orphan keeps session 3");
    assert_eq!(session.roots, [610], "the orphan is the session's root now");
    assert!(
        s.model
            .processes(&mut w)
            .iter()
            .any(|p| p.pid() == 610 && p.details)
    );
    s.step("the orphan renames itself", |s| {
        s.put("pid=610 ppid=1 comm=worker argv=sleep|1000 uid=1001 ses=3 auid=1001");
        s.note(ProcEventKind::Comm, 610, None);
    });
    s.step("a daemon changes uid and gid", |s| {
        s.put("pid=800 ppid=1 comm=cron cmd=/usr/sbin/cron uid=33");
        s.note(ProcEventKind::Uid, 800, None);
        s.note(ProcEventKind::Gid, 800, None);
    });
    s.step(
        "cron's job: PAM sets its session, then it forks and execs",
        |s| {
            s.put("pid=810 ppid=800 comm=cron cmd=/usr/sbin/cron");
            s.note(Fork, 810, Some(800));
            s.put("pid=810 ppid=800 comm=cron cmd=/usr/sbin/cron ses=9 auid=1001 uid=1001");
            s.put("pid=811 ppid=810 comm=sh argv=/bin/sh|-c|backup ses=9 auid=1001 uid=1001");
            s.note(Fork, 811, Some(810));
        },
    );
    let full = scan(s.root(), &ScanOptions::default(), &s.fx.runner(), now()).items;
    assert_eq!(full.audit_session(9).expect("cron job").roots, [810]);
    assert!(s.steps >= 5);
}

#[test]
fn lost_events_mean_a_full_read() {
    let mut s = Story::new(BASE);
    s.step("a burst the kernel could not deliver", |s| {
        for pid in 2000..2100 {
            s.put(&format!(
                "pid={pid} ppid=602 comm=make uid=1001 ses=3 auid=1001"
            ));
        }
        s.changes.overrun();
    });
    s.step("then events again", |s| {
        for pid in 2000..2050 {
            s.remove(pid);
            s.note(Exit, pid, Some(602));
        }
    });
}

/// When the listener ends (an error, a panic), nothing is trusted to be unchanged any more:
/// every refresh reads everything, and the table stays equal to /proc without events.
#[test]
fn a_listener_gone_means_full_reads() {
    let mut s = Story::new(BASE);
    s.changes.listener_gone();
    s.step("a process appears, and nobody says so", |s| {
        s.put("pid=950 ppid=1 comm=rsyslogd cmd=/usr/sbin/rsyslogd");
    });
    s.step("another, later", |s| {
        s.put("pid=951 ppid=1 comm=atd cmd=/usr/sbin/atd");
        s.remove(950);
    });
    assert!(s.changes.is_gone());
}

/// The check can fail: a change no rule covers is a correction, reported and then repaired.
#[test]
fn reconciliation_counts_what_the_rules_missed() {
    let s = Story::new(BASE);
    assert_eq!(s.model.reconcile().corrections, Vec::<String>::new());
    // cron joins an audit session and a new process appears, and nobody says so.
    s.put("pid=800 ppid=1 comm=cron cmd=/usr/sbin/cron ses=12 auid=0");
    s.put("pid=900 ppid=1 comm=rsyslogd cmd=/usr/sbin/rsyslogd");
    let mut w = Vec::new();
    let before: Vec<_> = s.model.processes(&mut w);
    assert!(
        !before.iter().any(|p| p.pid() == 900),
        "not known without an event"
    );
    let found = s.model.reconcile();
    assert_eq!(
        found.corrections,
        [
            "pid 800 (cron): audit session, details differ",
            "pid 900 (rsyslogd): running, not listed"
        ]
    );
    assert_eq!(found.compared, 7);
    assert_eq!(s.model.corrections(), 2);
    // Repaired: the table is the full read now.
    s.check("after the reconciliation");
    assert_eq!(s.model.reconcile().corrections, Vec::<String>::new());
    assert_eq!(s.model.corrections(), 2);
}

/// 1,000 sessions of three processes; 200 logins and 200 logouts and 2,000 short commands,
/// checked after every batch.
#[test]
fn churn_on_a_thousand_sessions() {
    let mut text = String::from(BASE);
    text.push_str("//- process\n");
    for i in 0..1000u32 {
        let (m, c, sh) = (10_000 + 3 * i, 10_001 + 3 * i, 10_002 + 3 * i);
        let ses = 100 + i;
        text.push_str(&format!(
            "pid={m} ppid=500 comm=sshd cmd=\"sshd: alice [priv]\" ses={ses} auid=1001\n\
             pid={c} ppid={m} comm=sshd cmd=\"sshd: alice@notty\" uid=1001 ses={ses} auid=1001\n\
             pid={sh} ppid={c} comm=sleep argv=sleep|1000 uid=1001 ses={ses} auid=1001\n"
        ));
    }
    let mut s = Story::new(&text);
    for batch in 0..10u32 {
        s.step(&format!("batch {batch}"), |s| {
            for i in 0..20u32 {
                let n = batch * 20 + i;
                // A login: monitor, child, command.
                let (m, c, sh) = (50_000 + 3 * n, 50_001 + 3 * n, 50_002 + 3 * n);
                let ses = 5000 + n;
                s.put(&format!(r#"pid={m} ppid=500 comm=sshd cmd="sshd: bob [priv]" ses={ses} auid=1002"#));
                s.note(Fork, m, Some(500));
                s.put(&format!(r#"pid={c} ppid={m} comm=sshd cmd="sshd: bob@notty" uid=1002 ses={ses} auid=1002"#));
                s.note(Fork, c, Some(m));
                s.put(&format!("pid={sh} ppid={c} comm=true uid=1002 ses={ses} auid=1002"));
                s.note(Fork, sh, Some(c));
                // A logout of one of the first thousand.
                let (om, oc, osh) = (10_000 + 3 * n, 10_001 + 3 * n, 10_002 + 3 * n);
                for (pid, parent) in [(osh, oc), (oc, om), (om, 500)] {
                    s.remove(pid);
                    s.note(Exit, pid, Some(parent));
                }
            }
            // Short commands in a session that stays: fork, exec, exit, never seen alive.
            for k in 0..200u32 {
                let pid = 90_000 + batch * 200 + k;
                s.note(Fork, pid, Some(602));
                s.note(Exec, pid, None);
                s.note(Exit, pid, Some(602));
            }
        });
    }
    assert_eq!(s.model.reconcile().corrections, Vec::<String>::new());
}

/// The real proc connector: short and long processes started after the model, then ended;
/// the table follows them and a reconciliation finds nothing to correct.
#[test]
fn the_real_kernel() {
    if !rustix::process::geteuid().is_root() {
        linmgmt_test_support::skip("the proc connector needs root");
        return;
    }
    let root = Root::host();
    let model = match LiveProcesses::start(&root) {
        Ok(m) => m,
        Err(e) => {
            linmgmt_test_support::skip(&format!("no live model here: {e}"));
            return;
        }
    };
    assert!(model.is_listening());
    let mut w = Vec::new();
    let mut children: Vec<std::process::Child> = (0..5)
        .map(|_| {
            std::process::Command::new("sleep")
                .arg("60")
                .spawn()
                .expect("sleep")
        })
        .collect();
    for _ in 0..200 {
        std::process::Command::new("true").status().expect("true");
    }
    let pids: BTreeSet<u32> = children.iter().map(|c| c.id()).collect();
    // The events arrive asynchronously: wait (bounded) until the table has the sleeps.
    let has_all = |model: &LiveProcesses, w: &mut Vec<_>| {
        let listed: BTreeSet<u32> = model.processes(w).iter().map(|p| p.pid()).collect();
        pids.is_subset(&listed)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !has_all(&model, &mut w) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(has_all(&model, &mut w), "the table lists the new processes");
    let sleep = model
        .processes(&mut w)
        .into_iter()
        .find(|p| pids.contains(&p.pid()))
        .expect("a sleep");
    assert_eq!(sleep.stat.comm, "sleep");
    for c in &mut children {
        c.kill().expect("kill");
        c.wait().expect("reap");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let none_left = |model: &LiveProcesses, w: &mut Vec<_>| {
        !model.processes(w).iter().any(|p| pids.contains(&p.pid()))
    };
    while !none_left(&model, &mut w) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(none_left(&model, &mut w), "ended processes leave the table");
    let found = model.reconcile();
    assert!(found.compared > 10, "{found:?}");
    assert_eq!(found.corrections, Vec::<String>::new());
}
