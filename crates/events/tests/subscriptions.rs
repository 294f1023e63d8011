//! Event subscriptions on fixture roots. Each `test_data/NAME.events` holds event queries
//! (`//? WQL`, one per line) and the host at successive moments (`//= +N` seconds, then a
//! fixture in the test-support DSL; the first moment is the baseline). For every query,
//! the events it gets at each moment, one summary line each, must equal `NAME.out`.
//! A missing or different `.out` fails; `UPDATE_EXPECT=1` writes them
//! (`linmgmt_test_support::golden`).

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use linmgmt_cim::{Instance, SystemContext, Value};
use linmgmt_events::Subscription;
use linmgmt_providers::HostProvider;
use linmgmt_schema::Repository;
use linmgmt_sources::ScanOptions;
use linmgmt_test_support::golden::assert_golden;
use linmgmt_test_support::{Fixture, many_sessions, now};
use linmgmt_wql::CompileOptions;
use std::fmt::Write as _;
use std::path::Path;

fn context() -> SystemContext {
    SystemContext {
        server: "fixture".into(),
    }
}

fn compile(repo: &Repository, query: &str) -> Result<Subscription, linmgmt_engine::EngineError> {
    let ns = repo.namespace("root/cimv2").expect("cimv2");
    let opts = CompileOptions {
        time_zone: TimeZone::UTC,
    };
    Subscription::compile(ns, query, &opts, context())
}

/// The host of `fixture` at `t`, as the hub would scan it.
fn observe(sub: &mut Subscription, fixture: &Fixture, t: Timestamp) -> Vec<Instance> {
    let built = fixture.build();
    let host = HostProvider::new(
        built.root().clone(),
        ScanOptions::default(),
        Box::new(built.runner()),
        TimeZone::UTC,
        t,
    );
    let mut events = sub.observe(t, &mut |class| {
        let (mut out, mut warnings) = (Vec::new(), Vec::new());
        host.instances_for(
            class,
            &linmgmt_engine::Wanted::All,
            None,
            &mut out,
            &mut warnings,
        );
        out.into()
    });
    events.extend(sub.due(t));
    for e in &events {
        if let Some(Value::Uint64(created)) = e.get("TIME_CREATED") {
            assert_eq!(
                *created,
                linmgmt_cim::filetime(t),
                "TIME_CREATED is the scan's time"
            );
        }
    }
    events
}

fn object(e: &Instance, name: &str) -> Option<Instance> {
    match e.get(name) {
        Some(Value::Object(i)) => Some((**i).clone()),
        _ => None,
    }
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "NULL".to_owned(), |v| v.to_string())
}

/// One line per event: what happened to which instance, and for modifications what changed.
fn summary(e: &Instance) -> String {
    let relpath = |i: &Instance| i.path().map_or_else(|| "?".into(), |p| p.to_string());
    let class = e.class_name().to_string();
    let Some(target) = object(e, "TargetInstance") else {
        if let Some(rep) = object(e, "Representative") {
            return format!(
                "{class} NumberOfEvents={} Representative: {}",
                show(e.get("NumberOfEvents")),
                summary(&rep)
            );
        }
        return class;
    };
    let mut line = format!("{class} {}", relpath(&target));
    match object(e, "PreviousInstance") {
        Some(previous) => {
            for (i, p) in target.class().properties.iter().enumerate() {
                let (old, new) = (previous.get_at(i), target.get_at(i));
                if old != new {
                    let _ = write!(line, " {}: {} -> {}", p.name, show(old), show(new));
                }
            }
        }
        None => {
            let _ = write!(line, " ({})", show(target.get("Caption")));
        }
    }
    line
}

struct Case {
    queries: Vec<String>,
    steps: Vec<(i64, Fixture)>,
}

fn parse_case(text: &str) -> Case {
    let mut queries = Vec::new();
    let mut steps: Vec<(i64, String)> = Vec::new();
    for line in text.lines() {
        if let Some(q) = line.strip_prefix("//? ") {
            queries.push(q.trim().to_owned());
        } else if let Some(at) = line.strip_prefix("//= +") {
            let secs = at.trim().parse().expect("//= +SECONDS");
            steps.push((secs, String::new()));
        } else if let Some((_, fixture)) = steps.last_mut() {
            fixture.push_str(line);
            fixture.push('\n');
        }
    }
    Case {
        queries,
        steps: steps
            .into_iter()
            .map(|(at, text)| (at, Fixture::parse(&text)))
            .collect(),
    }
}

fn run(case: &Case) -> String {
    let repo = Repository::builtin().expect("schema");
    let mut out = String::new();
    for query in &case.queries {
        let _ = writeln!(out, "== {query}");
        let mut sub = match compile(&repo, query) {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(out, "error: {e}");
                continue;
            }
        };
        for (i, (at, fixture)) in case.steps.iter().enumerate() {
            let t = now() + SignedDuration::from_secs(*at);
            let events = observe(&mut sub, fixture, t);
            if i == 0 {
                assert!(events.is_empty(), "the baseline is not news: {events:?}");
                continue;
            }
            let _ = writeln!(out, "-- +{at}s");
            for e in &events {
                let _ = writeln!(out, "{}", summary(e));
            }
        }
    }
    out
}

fn check(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data");
    let input = std::fs::read_to_string(dir.join(format!("{name}.events"))).expect("case");
    let got = run(&parse_case(&input));
    assert_golden(&dir.join(format!("{name}.out")), &got);
}

#[test]
fn ssh_logins_and_logouts() {
    check("01_ssh");
}

#[test]
fn smb_sessions_files_and_idle_ticks() {
    check("02_smb");
}

#[test]
fn group_within_by_having() {
    check("03_group");
}

#[test]
fn nfs_logind_and_associations() {
    check("04_nfs_logind_assoc");
}

#[test]
fn ssh_logins_count_once_their_session_has_started() {
    check("06_ssh_phases");
}

#[test]
fn the_event_itself_in_where() {
    check("07_event_own_properties");
}

/// WHERE sees the whole event, the consumer only what the select list names.
#[test]
fn where_tests_event_properties_the_select_list_leaves_out() {
    let repo = Repository::builtin().expect("schema");
    let mut sub = compile(
        &repo,
        "SELECT TargetInstance FROM __InstanceOperationEvent WITHIN 1 \
         WHERE __CLASS = '__InstanceCreationEvent' AND TIME_CREATED > 0 \
         AND TargetInstance ISA 'Win32_Process'",
    )
    .expect("compiles");
    let host = |pids: &[u32]| {
        let mut text = String::from("//- process\npid=1 ppid=0 comm=init cmd=/sbin/init\n");
        for pid in pids {
            text.push_str(&format!("pid={pid} ppid=1 comm=sleep argv=sleep|60\n"));
        }
        Fixture::parse(&text)
    };
    let t0 = now();
    assert!(observe(&mut sub, &host(&[500]), t0).is_empty());
    let events = observe(&mut sub, &host(&[700]), t0 + SignedDuration::from_secs(1));
    assert_eq!(
        events.len(),
        1,
        "the creation, not the deletion: {events:?}"
    );
    let e = &events[0];
    assert!(e.class_name().is("__InstanceCreationEvent"));
    assert_eq!(e.get("TIME_CREATED"), None, "not selected");
    let target = object(e, "TargetInstance").expect("selected");
    assert_eq!(show(target.get("Handle")), "700");
}

#[test]
fn query_errors() {
    check("05_errors");
}

/// A thousand sessions appearing between two scans are a thousand creation events, each
/// once, and a thousand deletions when they go.
#[test]
fn a_thousand_sessions_come_and_go() {
    let repo = Repository::builtin().expect("schema");
    let mut sub = compile(
        &repo,
        "SELECT * FROM __InstanceOperationEvent WITHIN 1 \
         WHERE TargetInstance ISA 'Win32_LogonSession' AND TargetInstance.LogonType = 10",
    )
    .expect("compiles");
    let empty = Fixture::parse("//- process\npid=1 ppid=0 comm=init cmd=/sbin/init\n");
    let t0 = now();
    assert!(observe(&mut sub, &empty, t0).is_empty());
    let busy = many_sessions(1000);
    let created = observe(&mut sub, &busy, t0 + SignedDuration::from_secs(1));
    let ids = |events: &[Instance], class: &str| {
        let mut ids: Vec<String> = events
            .iter()
            .filter(|e| e.class_name().is(class))
            .filter_map(|e| object(e, "TargetInstance"))
            .map(|t| show(t.get("LogonId")))
            .collect();
        ids.sort();
        ids
    };
    let mut expected: Vec<String> = (1..=1000).map(|i| i.to_string()).collect();
    expected.sort();
    assert_eq!(created.len(), 1000);
    assert_eq!(ids(&created, "__InstanceCreationEvent"), expected);
    // Nothing changed: nothing to say.
    assert!(observe(&mut sub, &busy, t0 + SignedDuration::from_secs(2)).is_empty());
    let gone = observe(&mut sub, &empty, t0 + SignedDuration::from_secs(3));
    assert_eq!(gone.len(), 1000);
    assert_eq!(ids(&gone, "__InstanceDeletionEvent"), expected);
}

/// The JSON shape `watch --format json` prints: the event's properties with the target
/// nested, and the select list honoured.
#[test]
fn events_as_json() {
    let repo = Repository::builtin().expect("schema");
    let fixture = |with_session: bool| {
        let mut text = String::from(
            "//- process\npid=1 ppid=0 comm=init cmd=/sbin/init\n\
             //- /etc/passwd\nalice:x:1001:1001:Alice,,,:/home/alice:/bin/bash\n",
        );
        if with_session {
            text.insert_str(
                text.find("//- /etc").expect("passwd"),
                "pid=3000 ppid=1 comm=su cmd=\"su - alice\" ses=5 auid=1001 \
                 start=2026-08-01T08:00:03Z\n",
            );
        }
        Fixture::parse(&text)
    };
    let ctx = context();
    for (query, keys) in [
        (
            "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_LogonSession'",
            vec![
                "__CLASS",
                "__PATH",
                "__RELPATH",
                "TIME_CREATED",
                "SECURITY_DESCRIPTOR",
                "TargetInstance",
            ],
        ),
        (
            "SELECT TargetInstance FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_LogonSession'",
            vec!["__CLASS", "__PATH", "__RELPATH", "TargetInstance"],
        ),
    ] {
        let mut sub = compile(&repo, query).expect("compiles");
        observe(&mut sub, &fixture(false), now());
        let events = observe(
            &mut sub,
            &fixture(true),
            now() + SignedDuration::from_secs(1),
        );
        assert_eq!(events.len(), 1, "{query}");
        let names: Vec<linmgmt_cim::Name> = match sub.columns() {
            Some(c) => c.to_vec(),
            None => events[0]
                .class()
                .properties
                .iter()
                .map(|p| p.name.clone())
                .collect(),
        };
        let refs: Vec<&linmgmt_cim::Name> = names.iter().collect();
        let json = linmgmt_render::instance_to_json(&events[0], &refs, &ctx);
        let obj = json.as_object().expect("object");
        let got: Vec<&str> = obj.keys().map(String::as_str).collect();
        let (mut got_sorted, mut keys_sorted) = (got.clone(), keys.clone());
        got_sorted.sort();
        keys_sorted.sort();
        assert_eq!(got_sorted, keys_sorted, "{query}");
        assert_eq!(obj["__CLASS"], "__InstanceCreationEvent");
        assert_eq!(obj["__PATH"], serde_json::Value::Null);
        let target = &obj["TargetInstance"];
        assert_eq!(target["__CLASS"], "Win32_LogonSession");
        assert_eq!(target["LogonId"], "5");
        assert_eq!(target["StartTime"], "2026-08-01T08:00:03.000000+00:00");
    }
}
