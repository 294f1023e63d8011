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
use linmgmt_providers::{LogonFacts, logon_instances, logon_sessions, logon_type};
use linmgmt_schema::Repository;
use linmgmt_sources::{LogindSource, ScanOptions, scan};
use linmgmt_test_support::dbus::{MockSession, PrivateBus, serve_mock_logind};
use linmgmt_test_support::{Fixture, now};

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
