//! Provider tests on fixture roots: each `test_data/NAME.fixture` (the test-support DSL) is
//! scanned at the fixed test time and its Win32_LogonSession and Win32_ServerSession
//! instances, in list format, must equal `NAME.out`. A missing or different `.out` fails;
//! `UPDATE_EXPECT=1` writes them (`linmgmt_test_support::golden`).

use jiff::tz::TimeZone;
use linmgmt_cim::ClassDef;
use linmgmt_engine::Warning;
use linmgmt_providers::{logon_instances, logon_sessions, server_instances, server_sessions};
use linmgmt_schema::Repository;
use linmgmt_sources::{ScanOptions, scan};
use linmgmt_test_support::golden::{Goldens, cases};
use linmgmt_test_support::{Fixture, many_sessions, now};
use std::path::Path;
use std::sync::Arc;

mod common;
use common::list;

fn classes() -> (Arc<ClassDef>, Arc<ClassDef>) {
    let repo = Repository::builtin().expect("schema");
    let ns = repo.namespace("root/cimv2").expect("cimv2");
    (
        ns.class("Win32_LogonSession").expect("class").clone(),
        ns.class("Win32_ServerSession").expect("class").clone(),
    )
}

fn options() -> ScanOptions {
    ScanOptions {
        session_open_files: true,
        ..ScanOptions::default()
    }
}

/// Scans a fixture and renders both classes plus the scan's warnings.
fn run(fixture: &Fixture) -> String {
    let built = fixture.build();
    let snap = scan(built.root(), &options(), &built.runner(), now());
    let (logon, server) = classes();
    let mut warnings: Vec<Warning> = Vec::new();
    let logons = logon_instances(
        &logon_sessions(&snap.items),
        &logon,
        &TimeZone::UTC,
        &mut warnings,
    );
    let servers = server_instances(&server_sessions(&snap.items), &server, &mut warnings);
    assert!(
        warnings.is_empty(),
        "instances fit the schema: {warnings:?}"
    );
    let mut out = format!("== Win32_LogonSession\n{}", list(logons));
    out.push_str(&format!("== Win32_ServerSession\n{}", list(servers)));
    // The classes around the server sessions, when the fixture has any.
    let host = linmgmt_providers::HostProvider::new(
        built.root().clone(),
        options(),
        Box::new(built.runner()),
        TimeZone::UTC,
        now(),
    );
    let repo = Repository::builtin().expect("schema");
    let ns = repo.namespace("root/cimv2").expect("cimv2");
    for name in [
        "Win32_Share",
        "Win32_ServerConnection",
        "Win32_SessionConnection",
        "Win32_ConnectionShare",
    ] {
        let class = ns.class(name).expect("class").clone();
        let mut found = Vec::new();
        let mut w = Vec::new();
        host.instances_for(&class, None, &mut found, &mut w);
        assert!(
            w.iter().all(|w| !w.message.starts_with("internal")),
            "{name} fits the schema: {w:?}"
        );
        if !found.is_empty() {
            out.push_str(&format!("== {name}\n{}", list(found)));
        }
    }
    let mut scan_warnings: Vec<String> = linmgmt_providers::summarize(&snap.warnings)
        .iter()
        .map(|w| w.message.clone())
        .collect();
    scan_warnings.sort();
    if !scan_warnings.is_empty() {
        out.push_str(&format!("== warnings\n{}\n", scan_warnings.join("\n")));
    }
    out
}

#[test]
fn fixture_goldens() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data");
    let mut goldens = Goldens::new();
    for path in cases(&dir, "fixture") {
        let text = std::fs::read_to_string(&path).expect("read");
        // Leading `#` lines describe the fixture; the DSL starts at the first `//-`.
        let body: String = text
            .lines()
            .skip_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        goldens.check(&path.with_extension("out"), &run(&Fixture::parse(&body)));
    }
    goldens.finish(6);
}

#[test]
fn ten_thousand_sessions() {
    let built = many_sessions(10_000).build();
    let snap = scan(built.root(), &options(), &built.runner(), now());
    let logons = logon_sessions(&snap.items);
    assert_eq!(
        logons.len(),
        10_001,
        "every audit session plus the System session"
    );
    assert!(
        logons[1..]
            .iter()
            .all(|f| f.logon_type == Some(linmgmt_providers::logon_type::REMOTE_INTERACTIVE))
    );
    let servers = server_sessions(&snap.items);
    // Sessions come from peers keyed by (address, user); the generator reuses 500 users.
    assert!(!servers.is_empty());
    let total: u64 = servers.iter().filter_map(|s| s.resources_opened).sum();
    assert!(total > 0);
}
