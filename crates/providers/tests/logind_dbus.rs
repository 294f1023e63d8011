//! Win32_LogonSession from systemd-logind over D-Bus: a private `dbus-daemon` with a mock
//! `org.freedesktop.login1` serving two sessions, against a fixture root whose session files
//! say something else, so the test sees which source won. Without a bus the files serve.
//!
//! Skips (with a notice) when `dbus-daemon` is not installed, which fails under `CI=true`;
//! `.ci/run` installs it.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use linmgmt_cim::Value;
use linmgmt_engine::Warning;
use linmgmt_providers::{
    Depth, HostProvider, LogonFacts, logon_instances, logon_sessions, logon_type,
};
use linmgmt_schema::Repository;
use linmgmt_sources::model::{LiveProcesses, ProcessChanges};
use linmgmt_sources::wake::ProcEventKind;
use linmgmt_sources::{LogindSource, ScanOptions, scan};
use linmgmt_test_support::dbus::{MockLogind, MockSession, PrivateBus, serve_mock_logind};
use linmgmt_test_support::{Fixture, Proc, now};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An audit session 5 (leader `su`, pid 3000) and a process 3100 that logind says leads
/// session `c7`; the session file of 5 disagrees with the bus on purpose.
const FIXTURE: &str = r#"
//- process
pid=1 ppid=0 comm=init cmd=/sbin/init
pid=3000 ppid=1 comm=su cmd="su - alice" ses=5 auid=1001 start=2026-08-01T08:00:03Z
pid=3001 ppid=3000 comm=backup cmd=/usr/local/bin/backup uid=1001 ses=5 auid=1001 start=2026-08-01T08:00:04Z
pid=3100 ppid=1 comm=systemd cmd="/lib/systemd/systemd --user" uid=1002 start=2026-08-01T09:00:00Z
//- /etc/passwd
alice:x:1001:1001:Alice,,,:/home/alice:/bin/bash
bob:x:1002:1002:Bob,,,:/home/bob:/bin/bash
//- /run/systemd/sessions/5
UID=1001
USER=alice
STATE=active
CLASS=user
TYPE=tty
TTY=tty1
SERVICE=files-svc
LEADER=3000
AUDIT=5
REALTIME=1785571205000000
"#;

fn bus_sessions() -> Vec<MockSession> {
    vec![
        MockSession {
            id: "5".into(),
            uid: 1001,
            name: "alice".into(),
            // 2026-08-01T08:00:00.25Z
            timestamp_us: 1_785_571_200_250_000,
            service: "su-l".into(),
            leader: 3000,
            audit: 5,
            session_type: "unspecified".into(),
            class: "background".into(),
            state: "closing".into(),
            ..MockSession::default()
        },
        MockSession {
            id: "c7".into(),
            uid: 1002,
            name: "bob".into(),
            // 2026-08-01T09:00:00Z
            timestamp_us: 1_785_574_800_000_000,
            service: "runuser-l".into(),
            leader: 3100,
            session_type: "unspecified".into(),
            class: "manager".into(),
            state: "active".into(),
            ..MockSession::default()
        },
    ]
}

fn facts(logind: LogindSource) -> (Vec<LogonFacts>, bool) {
    let built = Fixture::parse(FIXTURE).build();
    let options = ScanOptions {
        logind,
        ..ScanOptions::default()
    };
    let snap = scan(built.root(), &options, &built.runner(), now());
    assert!(snap.warnings.is_empty(), "no warnings: {:?}", snap.warnings);
    (logon_sessions(&snap.items), snap.items.logind_from_bus)
}

fn session<'a>(all: &'a [LogonFacts], id: &str) -> &'a LogonFacts {
    all.iter()
        .find(|f| f.logon_id == id)
        .unwrap_or_else(|| panic!("LogonId {id} in {all:#?}"))
}

#[test]
fn logon_sessions_from_logind_over_dbus() {
    let Some(bus) = PrivateBus::start() else {
        return;
    };
    serve_mock_logind(bus.address(), bus_sessions());
    let (all, from_bus) = facts(LogindSource::Bus(bus.address().to_string()));
    assert!(from_bus);

    // Audit session 5, joined to the bus's session 5.
    let five = session(&all, "5");
    assert!(five.sources.contains("logind") && five.sources.contains("audit"));
    assert_eq!(
        five.start,
        Some("2026-08-01T08:00:00.25Z".parse::<Timestamp>().unwrap()),
        "logind's Timestamp, not the leader's start"
    );
    assert_eq!(five.authentication_package.as_deref(), Some("su-l"));
    assert_eq!(five.logon_type, Some(logon_type::BATCH), "class background");
    assert_eq!(
        five.status,
        linmgmt_providers::SessionStatus::Degraded,
        "State closing"
    );
    assert_eq!(five.user.as_deref(), Some("alice"));

    // c7 has no audit session: logind alone.
    let c7 = session(&all, "c7");
    assert_eq!(c7.logon_type, Some(logon_type::SERVICE), "class manager");
    assert_eq!(c7.authentication_package.as_deref(), Some("runuser-l"));
    assert_eq!(
        c7.start,
        Some("2026-08-01T09:00:00Z".parse::<Timestamp>().unwrap())
    );
    assert_eq!(c7.status, linmgmt_providers::SessionStatus::Ok);
    assert_eq!(c7.leader, Some(3100));

    // And as instances.
    let repo = Repository::builtin().expect("schema");
    let class = repo
        .namespace("root/cimv2")
        .and_then(|ns| ns.class("Win32_LogonSession"))
        .expect("class")
        .clone();
    let mut warnings: Vec<Warning> = Vec::new();
    let instances = logon_instances(&all, &class, &TimeZone::UTC, &mut warnings);
    assert!(warnings.is_empty(), "{warnings:?}");
    let five = instances
        .iter()
        .find(|i| i.get("LogonId") == Some(&Value::String("5".into())))
        .expect("instance 5");
    assert_eq!(five.get("Status"), Some(&Value::String("Degraded".into())));
    assert_eq!(five.get("LogonType"), Some(&Value::Uint32(4)));
    assert_eq!(
        five.get("AuthenticationPackage"),
        Some(&Value::String("su-l".into()))
    );
    let start = five.get("StartTime").expect("StartTime").to_string();
    assert!(start.starts_with("20260801080000.250000"), "{start}");
}

#[test]
fn without_a_bus_the_session_files_serve() {
    // No daemon at the address: silently the files, as on a host without D-Bus.
    let (all, from_bus) = facts(LogindSource::Bus(
        "unix:path=/nonexistent/linmgmt-test/system_bus_socket".into(),
    ));
    assert!(!from_bus);
    let five = session(&all, "5");
    assert_eq!(five.authentication_package.as_deref(), Some("files-svc"));
    assert_eq!(
        five.start,
        Some("2026-08-01T08:00:05Z".parse::<Timestamp>().unwrap())
    );
    assert_eq!(
        five.logon_type,
        Some(logon_type::INTERACTIVE),
        "TTY=tty1, class user"
    );
    assert_eq!(five.status, linmgmt_providers::SessionStatus::Ok);
    assert!(all.iter().all(|f| f.logon_id != "c7"));
    // A fixture root never asks the host's bus, whatever the host has.
    let (_, from_bus) = facts(LogindSource::Auto);
    assert!(!from_bus);
}

/// A host provider over a live model (listening to logind's signals on the bus `signals`,
/// if given), its root the fixture, logind the bus at `address`: whether session 5 came
/// from the bus, and its service (`su-l` from the bus, `files-svc` from the session file).
struct Live {
    fx: linmgmt_test_support::FixtureRoot,
    changes: Arc<ProcessChanges>,
    live: Arc<LiveProcesses>,
    address: String,
}

impl Live {
    fn new(address: &str, signals: Option<&str>) -> Live {
        let fx = Fixture::parse(FIXTURE).build();
        let changes = ProcessChanges::new();
        let mut live = LiveProcesses::fed_by(fx.root(), changes.clone());
        if let Some(signals) = signals {
            live.listen_to_logind(signals).expect("listening to logind");
        }
        Live {
            fx,
            changes,
            live: Arc::new(live),
            address: address.to_owned(),
        }
    }

    fn five(&self) -> (bool, Option<String>) {
        let options = ScanOptions {
            logind: LogindSource::Bus(self.address.clone()),
            ..ScanOptions::default()
        };
        let host = HostProvider::new(
            self.fx.root().clone(),
            options,
            Box::new(self.fx.runner()),
            TimeZone::UTC,
            now(),
        )
        .with_live_processes(self.live.clone());
        let snap = &host.snapshot(Depth::Sessions).items;
        let five = (snap.logind.iter().flatten())
            .find(|s| s.id == "5")
            .and_then(|s| s.service.clone());
        (snap.logind_from_bus, five)
    }
}

/// A logind to ask (`asked`, stopped to see whether the next scan asks it: then the session
/// files answer) and another that only announces sessions (`announcer`; a bus that goes
/// away is a doubt too, so the one the model listens to must stay).
fn two_buses() -> Option<(PrivateBus, PrivateBus, MockLogind)> {
    let asked = PrivateBus::start()?;
    serve_mock_logind(asked.address(), bus_sessions());
    let announcer = PrivateBus::start()?;
    let mock = MockLogind::serve(announcer.address(), bus_sessions());
    Some((asked, announcer, mock))
}

/// The live model keeps logind's answer over D-Bus while no session comes or goes, and asks
/// again when logind announces one, when an audit session appears, or without a listener.
#[test]
fn the_live_model_asks_logind_again_only_when_something_changed() {
    let from_bus = (true, Some("su-l".to_owned()));
    let from_files = (false, Some("files-svc".to_owned()));

    // Nothing changed: the answer stands, though that logind is gone.
    let Some((asked, announcer, _mock)) = two_buses() else {
        return;
    };
    let live = Live::new(asked.address(), Some(announcer.address()));
    assert_eq!(live.five(), from_bus);
    drop(asked);
    assert_eq!(live.five(), from_bus, "kept");

    // logind announces a session: asked again.
    let (asked, announcer, mock) = two_buses().expect("buses, as before");
    let live = Live::new(asked.address(), Some(announcer.address()));
    assert_eq!(live.five(), from_bus);
    let signals = || live.live.memos().logind.token();
    let before = signals();
    assert!(before.is_some(), "listening");
    mock.session_new("9");
    let deadline = Instant::now() + Duration::from_secs(3);
    while signals() == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_ne!(signals(), before, "the signal arrived");
    drop(asked);
    assert_eq!(live.five(), from_files, "asked again after SessionNew");

    // An audit session appears (a login, before logind says so): asked again.
    let (asked, announcer, _mock) = two_buses().expect("buses, as before");
    let live = Live::new(asked.address(), Some(announcer.address()));
    assert_eq!(live.five(), from_bus);
    Proc::parse_line("pid=3200 ppid=1 comm=login cmd=login ses=6 auid=1002")
        .write(live.fx.root().dir());
    live.changes.note(ProcEventKind::Fork, 3200, Some(1));
    drop(asked);
    assert_eq!(
        live.five(),
        from_files,
        "asked again for a new audit session"
    );

    // The bus it listens on goes away (no signals to trust any more): asked every time.
    let (asked, announcer, mock) = two_buses().expect("buses, as before");
    let live = Live::new(asked.address(), Some(announcer.address()));
    assert_eq!(live.five(), from_bus);
    drop((mock, announcer));
    let deadline = Instant::now() + Duration::from_secs(3);
    while live.live.memos().logind.token().is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(live.live.memos().logind.token(), None, "the listener ended");
    drop(asked);
    assert_eq!(
        live.five(),
        from_files,
        "asked again once the listener ended"
    );

    // Not listening (no signals to trust): asked every time.
    let (asked, _announcer, _mock) = two_buses().expect("buses, as before");
    let live = Live::new(asked.address(), None);
    assert_eq!(live.five(), from_bus);
    drop(asked);
    assert_eq!(live.five(), from_files, "asked again without a listener");
}
