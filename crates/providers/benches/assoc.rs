//! `ASSOCIATORS OF` a logon session holding 10,000 processes, on a fixture root: the
//! association evaluation (the host snapshot is scanned once, before timing, as the
//! server's shared snapshot would be).

use jiff::tz::TimeZone;
use linmgmt_cim::SystemContext;
use linmgmt_engine::{Engine, QueryOutput};
use linmgmt_providers::HostProvider;
use linmgmt_schema::Repository;
use linmgmt_sources::ScanOptions;
use linmgmt_test_support::{Fixture, FixtureRoot, Proc, now};
use linmgmt_wql::CompileOptions;
use std::sync::{Arc, OnceLock};

static ROOT: OnceLock<FixtureRoot> = OnceLock::new();

fn main() {
    divan::main();
    // Statics are never dropped: remove the fixture (10,500 processes' files) by hand.
    if let Some(fixture) = ROOT.get() {
        let _ = std::fs::remove_dir_all(fixture.root().dir());
    }
}

/// An sshd session (audit session 7) whose shell has 10,000 children, plus 500 daemons.
fn fixture() -> &'static FixtureRoot {
    ROOT.get_or_init(|| {
        let mut f = Fixture::new().process(Proc::new(1, 0, "init").title("/sbin/init"));
        for d in 0..500 {
            f = f.process(Proc::new(2 + d, 1, "daemon"));
        }
        f = f
            .process(
                Proc::new(900, 1, "sshd")
                    .title("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"),
            )
            .process(
                Proc::new(1000, 900, "sshd")
                    .title("sshd: alice [priv]")
                    .session(7, 1001),
            )
            .process(
                Proc::new(1001, 1000, "sshd")
                    .title("sshd: alice@notty")
                    .session(7, 1001)
                    .uid(1001),
            )
            .process(Proc::new(1002, 1001, "bash").session(7, 1001).uid(1001));
        for i in 0..10_000 {
            f = f.process(
                Proc::new(2000 + i, 1002, "worker")
                    .session(7, 1001)
                    .uid(1001),
            );
        }
        f.file(
            "etc/passwd",
            "alice:x:1001:1001:Alice:/home/alice:/bin/bash\n",
        )
        .build()
    })
}

fn engine() -> Engine {
    let root = fixture();
    let host = HostProvider::new(
        root.root().clone(),
        ScanOptions::default(),
        Box::new(root.runner()),
        TimeZone::UTC,
        now(),
    );
    let repo = Arc::new(Repository::builtin().expect("schema"));
    let mut engine = Engine::new(
        repo,
        SystemContext {
            server: "fixture".into(),
        },
        CompileOptions::default(),
    );
    engine.register(Arc::new(host));
    engine
}

fn count(engine: &Engine, query: &str) -> usize {
    match engine.query("root/cimv2", query).expect("query").value {
        QueryOutput::Instances(set) => set.instances.len(),
        QueryOutput::Classes(c) => c.len(),
    }
}

#[divan::bench(sample_count = 20)]
fn associators_of_session(bencher: divan::Bencher) {
    let engine = engine();
    let query = r#"ASSOCIATORS OF {Win32_LogonSession.LogonId="7"}"#;
    // Warm: the first query scans the fixture.
    assert_eq!(
        count(&engine, query),
        10_003 + 1,
        "10,003 processes and the account"
    );
    bencher.bench(|| count(&engine, query));
}

#[divan::bench(sample_count = 20)]
fn references_of_session(bencher: divan::Bencher) {
    let engine = engine();
    let query =
        r#"REFERENCES OF {Win32_LogonSession.LogonId="7"} WHERE ResultClass=Win32_SessionProcess"#;
    assert_eq!(count(&engine, query), 10_003);
    bencher.bench(|| count(&engine, query));
}

/// The names only (CIM-XML AssociatorNames, `linmgmt query --associators`): the far
/// ends are built with their keys alone.
#[divan::bench(sample_count = 20)]
fn associator_names_of_session(bencher: divan::Bencher) {
    let engine = engine();
    let query = r#"ASSOCIATORS OF {Win32_LogonSession.LogonId="7"} WHERE KeysOnly"#;
    assert_eq!(count(&engine, query), 10_003 + 1);
    bencher.bench(|| count(&engine, query));
}
