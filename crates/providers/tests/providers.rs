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
        host.instances_for(
            &class,
            &linmgmt_engine::Wanted::All,
            None,
            &mut found,
            &mut w,
        );
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
        goldens.check(&path.with_extension("out"), &run(&fixture(&text)));
    }
    goldens.finish(6);
}

/// A fixture file's DSL: leading `#` lines describe the fixture, the DSL starts at the
/// first `//-`.
fn fixture(text: &str) -> Fixture {
    let body: String = text
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    Fixture::parse(&body)
}

/// Every fixture, by file name.
fn fixtures() -> Vec<(String, Fixture)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data");
    let found: Vec<_> = cases(&dir, "fixture")
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read");
            (path.display().to_string(), fixture(&text))
        })
        .collect();
    assert!(found.len() >= 11, "the fixtures are there");
    found
}

/// A query's rows as `__RELPATH` and the named columns' values, sorted.
fn rows(engine: &linmgmt_engine::Engine, query: &str, columns: &[&str]) -> Vec<String> {
    let answer = engine.query("root/cimv2", query).expect(query);
    let linmgmt_engine::QueryOutput::Instances(set) = answer.value else {
        panic!("{query}: instances")
    };
    let mut rows: Vec<String> = (set.instances.iter())
        .map(|i| {
            let values: Vec<String> = (columns.iter())
                .map(|c| format!("{c}={:?}", i.get(c)))
                .collect();
            format!("{:?} {}", i.path(), values.join(" "))
        })
        .collect();
    rows.sort();
    rows
}

/// A query that shows only some properties of logon sessions answers exactly what
/// `SELECT *` answers for them, on every fixture, though it scans less when it shows no
/// origin (each query gets its own provider and root, so that no deeper scan answers for it).
#[test]
fn projected_logon_queries_answer_as_select_star_does() {
    let cases: [(&[&str], &str); 9] = [
        (&["LogonId", "LogonType"], ""),
        (
            &[
                "LogonId",
                "StartTime",
                "Status",
                "Description",
                "InstallDate",
            ],
            "",
        ),
        (
            &["LogonId", "LogonType"],
            "WHERE LogonType = 10 OR LogonType = 3",
        ),
        (&["LogonId"], "WHERE AuthenticationPackage LIKE 'sshd/%'"),
        (
            &["Caption", "AuthenticationPackage"],
            "WHERE Status <> 'Degraded'",
        ),
        (&["LogonId", "Caption"], ""),
        (&["Name"], "WHERE LogonType = 3"),
        // Asked by key, with only what the query reads (where a fixture has no such
        // session, both answers are empty).
        (&["LogonId", "LogonType"], "WHERE LogonId = '2'"),
        (&["Caption"], "WHERE LogonType > 0 AND LogonId = '3'"),
    ];
    let mut compared = 0;
    for (name, fixture) in fixtures() {
        let whole = fixture.build();
        for (columns, clause) in cases {
            let star = format!("SELECT * FROM Win32_LogonSession {clause}");
            let some = format!(
                "SELECT {} FROM Win32_LogonSession {clause}",
                columns.join(", ")
            );
            // A root of its own for each projection: a full scan as root records what it
            // learned of the sessions there, which a later bare scan would find.
            let expected = rows(&common::engine(&whole, None), &star, columns);
            let got = rows(&common::engine(&fixture.build(), None), &some, columns);
            assert_eq!(got, expected, "{name}: {some}");
            compared += expected.len();
        }
    }
    assert!(compared > 50, "sessions compared: {compared}");
}

/// What a bare scan leaves out: sshd's sockets, addresses and log; a sessions scan of the
/// same host has them.
#[test]
fn a_bare_scan_joins_no_connections() {
    let (_, fixture) = (fixtures().into_iter())
        .find(|(name, _)| name.ends_with("01_ssh_pty.fixture"))
        .expect("the ssh fixture");
    let built = fixture.build();
    let bare = common::host(&built);
    let bare = &bare.snapshot(linmgmt_providers::Depth::Bare).items;
    let full = common::host(&built);
    let full = &full.snapshot(linmgmt_providers::Depth::Sessions).items;
    assert!(!full.ssh.is_empty() && full.ssh.iter().all(|c| c.peer.is_some()));
    assert!(!full.ssh_auth.is_empty() && !full.tcp_by_pid.is_empty());
    assert_eq!(bare.ssh.len(), full.ssh.len(), "the same connections");
    assert!(
        bare.ssh
            .iter()
            .all(|c| c.peer.is_none() && c.socket_inode.is_none())
    );
    assert!(bare.ssh_auth.is_empty() && bare.tcp_by_pid.is_empty());
    assert!(bare.processes.iter().all(|p| p.fds.is_none()), "no fd read");
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

/// `GetInstance` of a logon session or a process, and a query that names one by its key,
/// which build only that instance, give what `SELECT *` gives for it, on every fixture
/// (each on a provider of its own, so that nothing built for one answers the other); and a
/// key that names nothing is not found.
#[test]
fn get_builds_one_instance_as_select_star_builds_it() {
    let mut compared = 0;
    for (name, fixture) in fixtures() {
        let built = fixture.build();
        for (class, most) in [("Win32_LogonSession", usize::MAX), ("Win32_Process", 8)] {
            let answer = common::engine(&built, None)
                .query("root/cimv2", &format!("SELECT * FROM {class}"))
                .expect("select");
            let linmgmt_engine::QueryOutput::Instances(set) = answer.value else {
                panic!("instances")
            };
            for whole in set.instances.into_iter().take(most) {
                let path = whole.path().expect("a path").to_string();
                let got = common::engine(&built, None)
                    .get("root/cimv2", &path)
                    .unwrap_or_else(|e| panic!("{name}: get {path}: {e}"));
                assert_eq!(
                    list(vec![got.value]),
                    list(vec![whole.clone()]),
                    "{name}: {path}"
                );
                // And a query that names it by its key (the key's value, as the path has it).
                let key = if class == "Win32_LogonSession" {
                    "LogonId"
                } else {
                    "Handle"
                };
                let value = whole.get(key).expect("the key").to_string();
                let query =
                    format!("SELECT * FROM {class} WHERE {key} = '{value}' AND {key} <> ''");
                let answer = common::engine(&built, None)
                    .query("root/cimv2", &query)
                    .expect("the query");
                let linmgmt_engine::QueryOutput::Instances(found) = answer.value else {
                    panic!("instances")
                };
                assert_eq!(list(found.instances), list(vec![whole]), "{name}: {query}");
                compared += 1;
            }
        }
        for missing in [
            r#"Win32_LogonSession.LogonId="424242""#,
            r#"Win32_Process.Handle="424242""#,
            r#"Win32_Process.Handle="not a pid""#,
        ] {
            let e = common::engine(&built, None).get("root/cimv2", missing);
            assert!(e.is_err(), "{name}: {missing} is not found");
        }
    }
    assert!(compared > 60, "instances compared: {compared}");
}

/// Process names (their keys: EnumerateInstanceNames, names-only associations) need no
/// process's details: no `status`, command line or counters is read for them, where the
/// whole enumeration reads every one (here a `status` that may not be read warns).
#[test]
fn process_names_read_no_details() {
    use linmgmt_engine::{Engine, Wanted};
    let built = Fixture::parse(
        "//- process\n\
         pid=1 ppid=0 comm=init cmd=/sbin/init\n\
         pid=700 ppid=1 comm=cron cmd=/usr/sbin/cron\n",
    )
    .build();
    let host = linmgmt_providers::HostProvider::new(
        built.root().clone().with_denied(["proc/700/status"]),
        ScanOptions::default(),
        Box::new(built.runner()),
        TimeZone::UTC,
        now(),
    );
    let repo = Arc::new(Repository::builtin().expect("schema"));
    let context = linmgmt_cim::SystemContext {
        server: "fixture-host".into(),
    };
    let mut engine = Engine::new(repo, context, Default::default());
    engine.register(Arc::new(host));
    let enumerate = |wanted: &Wanted| {
        let answer = engine
            .instances_with("root/cimv2", "Win32_Process", true, wanted)
            .expect("processes");
        let mut handles: Vec<String> = (answer.value.iter())
            .filter_map(|i| i.get("Handle").map(|h| h.to_string()))
            .collect();
        handles.sort();
        let warned = (answer.warnings.iter()).any(|w| w.message.contains("proc/700/status"));
        (handles, warned)
    };
    let (names, warned) = enumerate(&Wanted::Only(Vec::new()));
    assert!(!warned, "names read no status");
    let (all, warned) = enumerate(&Wanted::All);
    assert!(warned, "the whole enumeration reads every status");
    assert_eq!(names, all);
    assert_eq!(names.len(), 2);
}
