//! The host provider over a live model: session scans take their processes from the live
//! table, and Samba's answer is reused while the same smbd processes run (a few seconds at
//! most), then asked again — at once when an smbd starts or ends.

use jiff::tz::TimeZone;
use linmgmt_providers::{Depth, HostProvider};
use linmgmt_sources::model::{LiveProcesses, ProcessChanges};
use linmgmt_sources::wake::ProcEventKind;
use linmgmt_sources::{ScanOptions, SmbStatusMode};
use linmgmt_test_support::{Fixture, FixtureRoot, Proc, now};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const EMPTY_SMBSTATUS: &str = r#"{"timestamp": "2026-11-22T01:47:00.000000+0000", "version": "4.17.12-Debian", "smb_conf": "/etc/samba/smb.conf", "sessions": {}, "tcons": {}, "open_files": {}}"#;

fn samba_fixture() -> FixtureRoot {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/05_samba.fixture");
    let text = std::fs::read_to_string(path).expect("fixture");
    let body: String = (text.lines())
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    Fixture::parse(&body).build()
}

fn smb_sessions(fx: &FixtureRoot, live: &Arc<LiveProcesses>) -> usize {
    let host = HostProvider::new(
        fx.root().clone(),
        ScanOptions {
            smbstatus: SmbStatusMode::IfSmbdRunning,
            ..ScanOptions::default()
        },
        Box::new(fx.runner()),
        TimeZone::UTC,
        now(),
    )
    .with_live_processes(live.clone());
    let snap = host.snapshot(Depth::Servers);
    snap.items.smb.status().map_or(0, |s| s.sessions.len())
}

#[test]
fn samba_is_asked_again_when_an_smbd_starts_or_the_answer_is_old() {
    let fx = samba_fixture();
    let changes = ProcessChanges::new();
    let live = Arc::new(LiveProcesses::fed_by(fx.root(), changes.clone()));
    assert_eq!(smb_sessions(&fx, &live), 3, "the fixture's three sessions");
    // Samba's answer changes, and no smbd did: the answer of a moment ago stands.
    std::fs::write(fx.root().dir().join("smbstatus.json"), EMPTY_SMBSTATUS).unwrap();
    assert_eq!(
        smb_sessions(&fx, &live),
        3,
        "reused while the same smbd run"
    );
    // A new client: a new smbd child, and the kernel says so.
    Proc::parse_line("pid=11095 ppid=11000 comm=smbd argv=/usr/sbin/smbd|--foreground")
        .write(fx.root().dir());
    changes.note(ProcEventKind::Fork, 11095, Some(11000));
    assert_eq!(smb_sessions(&fx, &live), 0, "asked again");
    // And an answer older than the refresh interval is never reused.
    let fresh = Arc::new(
        LiveProcesses::fed_by(fx.root(), ProcessChanges::new()).with_server_refresh(Duration::ZERO),
    );
    assert_eq!(smb_sessions(&fx, &fresh), 0);
    std::fs::write(
        fx.root().dir().join("smbstatus.json"),
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/05_samba.fixture"),
        )
        .unwrap()
        .lines()
        .skip_while(|l| !l.starts_with("//- /smbstatus.json"))
        .nth(1)
        .unwrap(),
    )
    .unwrap();
    assert_eq!(smb_sessions(&fx, &fresh), 3, "asked every time");
}
