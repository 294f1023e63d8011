//! The security event log's mapping and its record of what was reported.
//!
//! * Fixture goldens: each `test_data/NAME.events` is a host at successive moments (`//= +N`
//!   seconds, then a fixture in the test-support DSL; the first moment is the baseline), as
//!   in `crates/events`. The logon and server sessions are watched as `linmgmt serve
//!   --event-log` watches them; every event is classified and mapped, and the OCSF and ECS
//!   documents, pretty-printed, must equal `NAME.ocsf` and `NAME.ecs`.
//! * `test_data/cases.*`: hand-made instances for what fixtures do not reach (every
//!   LogonType, host names as remote hosts, merged server sessions, the origins and
//!   sequence numbers of `serve --event-log`).
//! * The restart logic ([`Reported`]) on plain sessions.
//!
//! A missing or different golden fails; `UPDATE_EXPECT=1` writes them.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use linmgmt_cim::{Instance, SystemContext, Value};
use linmgmt_events::Subscription;
use linmgmt_providers::HostProvider;
use linmgmt_schema::Repository;
use linmgmt_seclog::{
    Activity, Classified, Context, Format, Kind, Origin, Reported, Session, SessionEvent, classify,
};
use linmgmt_sources::ScanOptions;
use linmgmt_test_support::golden::assert_golden;
use linmgmt_test_support::{Fixture, now};
use linmgmt_wql::CompileOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const QUERIES: [&str; 2] = [
    "SELECT * FROM __InstanceOperationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_LogonSession'",
    "SELECT * FROM __InstanceOperationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_ServerSession'",
];

fn context() -> Context {
    Context {
        host: "fixture-host".into(),
        version: "0.0.0-test".into(),
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(name)
}

fn steps(text: &str) -> Vec<(i64, Fixture)> {
    let mut steps: Vec<(i64, String)> = Vec::new();
    for line in text.lines() {
        if let Some(at) = line.strip_prefix("//= +") {
            steps.push((at.trim().parse().expect("//= +SECONDS"), String::new()));
        } else if let Some((_, fixture)) = steps.last_mut() {
            fixture.push_str(line);
            fixture.push('\n');
        }
    }
    steps
        .into_iter()
        .map(|(at, text)| (at, Fixture::parse(&text)))
        .collect()
}

/// The uids of the fixture's `/etc/passwd`, as the CLI fills them in.
fn fill_uid(s: &mut Session, root: &linmgmt_sources::Root) {
    let text = root.read_string("etc/passwd").unwrap_or_default();
    let (accounts, _) = linmgmt_sources::parse::accounts::parse_passwd(&text);
    if let Some(user) = &s.user {
        s.uid = accounts.iter().find(|a| &a.name == user).map(|a| a.uid);
    }
}

/// Every session event of the case, in order.
fn session_events(name: &str) -> Vec<SessionEvent> {
    let text = std::fs::read_to_string(data(&format!("{name}.events"))).expect("case");
    let repo = Repository::builtin().expect("schema");
    let ns = repo.namespace("root/cimv2").expect("cimv2");
    let opts = CompileOptions {
        time_zone: TimeZone::UTC,
    };
    let ctx = SystemContext {
        server: "fixture-host".into(),
    };
    let mut subs: Vec<Subscription> = QUERIES
        .iter()
        .map(|q| Subscription::compile(ns, q, &opts, ctx.clone()).expect("compiles"))
        .collect();
    let mut out = Vec::new();
    for (i, (at, fixture)) in steps(&text).iter().enumerate() {
        let t = now() + SignedDuration::from_secs(*at);
        let built = fixture.build();
        let host = HostProvider::new(
            built.root().clone(),
            ScanOptions::default(),
            Box::new(built.runner()),
            TimeZone::UTC,
            t,
        );
        for sub in &mut subs {
            let events = sub.observe(t, &mut |class| {
                let (mut found, mut warnings) = (Vec::new(), Vec::new());
                host.instances_for(
                    class,
                    &linmgmt_providers::Wanted::All,
                    None,
                    &mut found,
                    &mut warnings,
                );
                found.into()
            });
            if i == 0 {
                assert!(events.is_empty(), "the baseline is not news");
            }
            for e in &events {
                match classify(e) {
                    Classified::Session(mut s) => {
                        fill_uid(&mut s.session, built.root());
                        out.push(*s);
                    }
                    Classified::Ignored => {}
                    other => panic!("{name} +{at}: unexpected {other:?}"),
                }
            }
        }
    }
    out
}

fn render(format: Format, events: &[SessionEvent]) -> String {
    let mut text = String::new();
    for e in events {
        let v = linmgmt_seclog::to_json(format, e, &context());
        text.push_str(&serde_json::to_string_pretty(&v).expect("json"));
        text.push('\n');
        // The line form is the same document.
        let line = linmgmt_seclog::to_line(format, e, &context());
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&line).expect("line"),
            v
        );
    }
    text
}

fn check(name: &str) -> Vec<SessionEvent> {
    let events = session_events(name);
    assert_golden(
        &data(&format!("{name}.ocsf")),
        &render(Format::Ocsf, &events),
    );
    assert_golden(&data(&format!("{name}.ecs")), &render(Format::Ecs, &events));
    events
}

#[test]
fn ssh_logons_and_server_sessions() {
    let events = check("01_ssh");
    let logons = |kind: Kind, activity: Activity| {
        events
            .iter()
            .filter(|e| e.session.kind == kind && e.activity == activity)
            .count()
    };
    assert_eq!(logons(Kind::Logon, Activity::Logon), 3);
    assert_eq!(logons(Kind::Logon, Activity::Logoff), 3);
    assert_eq!(logons(Kind::Server, Activity::Logon), 3);
    assert_eq!(logons(Kind::Server, Activity::Logoff), 3);
}

#[test]
fn smb_nfs_and_console() {
    let events = check("02_smb_nfs_console");
    assert_eq!(events.len(), 6, "{events:#?}");
}

// --- hand-made instances ---------------------------------------------------------------

struct Schema {
    repo: Repository,
}

impl Schema {
    fn new() -> Schema {
        Schema {
            repo: Repository::builtin().expect("schema"),
        }
    }

    fn instance(&self, class: &str, props: &[(&str, Value)]) -> Instance {
        let ns = self.repo.namespace("root/cimv2").expect("cimv2");
        let class: Arc<_> = ns.class(class).expect("class").clone();
        let mut i = Instance::new(class);
        for (k, v) in props {
            i.set(k, Some(v.clone())).expect("property");
        }
        i
    }

    fn event(&self, class: &str, time: Timestamp, target: Instance) -> Instance {
        self.instance(
            class,
            &[
                ("TIME_CREATED", Value::Uint64(linmgmt_cim::filetime(time))),
                ("TargetInstance", Value::Object(Box::new(target))),
            ],
        )
    }
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn start_time(t: Timestamp) -> Value {
    let zoned = t.to_zoned(TimeZone::UTC);
    Value::datetime(linmgmt_cim::CimDateTime::Timestamp(
        linmgmt_cim::Timestamp::from_zoned(&zoned).expect("time"),
    ))
}

fn logon(schema: &Schema, id: &str, name: &str, logon_type: Option<u32>, auth: &str) -> Instance {
    let mut props = vec![
        ("LogonId", text(id)),
        ("Name", text(name)),
        ("Caption", text(name)),
        ("Status", text("OK")),
        ("AuthenticationPackage", text(auth)),
        (
            "StartTime",
            start_time(now() - SignedDuration::from_mins(5)),
        ),
    ];
    if let Some(t) = logon_type {
        props.push(("LogonType", Value::Uint32(t)));
    }
    schema.instance("Win32_LogonSession", &props)
}

fn session_of(e: &Instance) -> SessionEvent {
    match classify(e) {
        Classified::Session(s) => *s,
        other => panic!("not a session event: {other:?}"),
    }
}

#[test]
fn every_logon_type_origin_and_remote_form() {
    let schema = Schema::new();
    let t = now();
    let mut events = Vec::new();
    let cases: [(&str, &str, Option<u32>, &str); 8] = [
        ("5", "carol on tty1 (login)", Some(2), "login"),
        ("6", "? (cron)", Some(4), "cron"),
        ("7", "dave (systemd-user)", Some(5), "systemd-user"),
        (
            "8",
            "erin from gateway.example.net (sshd)",
            Some(6),
            "sshd/keyboard-interactive",
        ),
        (
            "9",
            "frank on pts/4 from 2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff (sshd)",
            Some(10),
            "sshd/hostbased",
        ),
        (
            "10",
            "grace from 10.1.2.3 (sshd)",
            Some(3),
            "sshd/gssapi-keyex",
        ),
        ("11", "heidi on pts/7 from tmux(4242).%0", None, "sshd"),
        (
            "12",
            "root on pts/1 from 192.0.2.7 (sshd)",
            Some(10),
            "sshd/password",
        ),
    ];
    for (id, name, logon_type, auth) in cases {
        let target = logon(&schema, id, name, logon_type, auth);
        events.push(session_of(&schema.event(
            "__InstanceCreationEvent",
            t,
            target,
        )));
    }
    // A server session with two protocols (one user from one computer over ssh and SMB).
    let merged = schema.instance(
        "Win32_ServerSession",
        &[
            ("ComputerName", text("::1")),
            ("UserName", text("lmalice")),
            ("ActiveTime", Value::Uint32(90)),
            ("SessionType", Value::Uint32(1)),
            ("ClientType", text("SMB3_11, SSH-2.0")),
            ("TransportName", text("smb/tcp ::1:445, ssh/tcp ::1:22")),
            ("Status", text("OK")),
        ],
    );
    events.push(session_of(&schema.event(
        "__InstanceCreationEvent",
        t,
        merged.clone(),
    )));
    events.push(session_of(&schema.event(
        "__InstanceDeletionEvent",
        t + SignedDuration::from_mins(1),
        merged,
    )));
    // What `serve --event-log` adds: sequence numbers, and the events a restart finds.
    let mut reported = Reported::new();
    let open = events[0].session.clone();
    let gone = events[4].session.clone();
    let mut lines = reported.apply(events[4].clone());
    lines.extend(reported.reconcile(&[open], None, t + SignedDuration::from_hours(1)));
    assert_eq!(
        lines.iter().map(|e| e.origin).collect::<Vec<_>>(),
        [Origin::Live, Origin::Missed, Origin::Open]
    );
    assert_eq!(lines[1].session.key(), gone.key());
    events.extend(lines);
    assert_golden(&data("cases.ocsf"), &render(Format::Ocsf, &events));
    assert_golden(&data("cases.ecs"), &render(Format::Ecs, &events));
}

#[test]
fn what_is_not_a_session_event() {
    let schema = Schema::new();
    let t = now();
    let system = logon(&schema, "0", "System", Some(0), "");
    assert!(matches!(
        classify(&schema.event("__InstanceCreationEvent", t, system)),
        Classified::Ignored
    ));
    let alice = logon(
        &schema,
        "2",
        "alice on pts/0 from ::1 (sshd)",
        Some(10),
        "sshd",
    );
    let mut starting = alice.clone();
    starting.set("Status", Some(text("Starting"))).unwrap();
    assert!(matches!(
        classify(&schema.event("__InstanceCreationEvent", t, starting)),
        Classified::Ignored
    ));
    let modified = schema.instance(
        "__InstanceModificationEvent",
        &[
            ("TIME_CREATED", Value::Uint64(linmgmt_cim::filetime(t))),
            ("TargetInstance", Value::Object(Box::new(alice.clone()))),
            ("PreviousInstance", Value::Object(Box::new(alice))),
        ],
    );
    assert!(matches!(classify(&modified), Classified::Ignored));
    let process = schema.instance("Win32_Process", &[("Handle", text("1"))]);
    assert!(matches!(
        classify(&schema.event("__InstanceCreationEvent", t, process)),
        Classified::Unmapped(c) if c == "Win32_Process"
    ));
    let overflow = schema.instance(
        "__EventQueueOverflowEvent",
        &[
            ("TIME_CREATED", Value::Uint64(linmgmt_cim::filetime(t))),
            ("NumberOfEventsDropped", Value::Uint32(7)),
        ],
    );
    assert!(matches!(classify(&overflow), Classified::Overflow(7)));
}

// --- what was reported -----------------------------------------------------------------

fn session(id: &str, user: &str, start: Timestamp) -> Session {
    Session {
        kind: Kind::Logon,
        id: id.to_owned(),
        path: format!("Win32_LogonSession.LogonId=\"{id}\""),
        user: Some(user.to_owned()),
        uid: Some(1001),
        logon_type: Some(10),
        authentication_package: Some("sshd/publickey".into()),
        terminal: Some("pts/0".into()),
        remote: Some("10.0.0.5".into()),
        start: Some(start),
        protocols: Vec::new(),
        client_type: None,
        transport: None,
        session_type: None,
    }
}

fn live(activity: Activity, s: &Session, time: Timestamp) -> SessionEvent {
    SessionEvent {
        activity,
        time,
        session: s.clone(),
        origin: Origin::Live,
        sequence: None,
    }
}

fn brief(events: &[SessionEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {:?} {} {}",
                e.sequence.expect("numbered"),
                e.activity,
                e.session.id,
                e.origin.as_str()
            )
        })
        .collect()
}

#[test]
fn repeats_are_dropped_and_lines_numbered() {
    let t = now();
    let a = session("2", "alice", t);
    let mut r = Reported::new();
    assert_eq!(
        brief(&r.apply(live(Activity::Logon, &a, t))),
        ["0 Logon 2 live"]
    );
    assert!(r.apply(live(Activity::Logon, &a, t)).is_empty(), "repeat");
    let b = session("3", "bob", t);
    assert!(
        r.apply(live(Activity::Logoff, &b, t)).is_empty(),
        "never reported"
    );
    // The logoff keeps what the logon knew and the deletion does not (sshd, gone before
    // the last processes, took the method with it).
    let mut last_known = a.clone();
    last_known.uid = None;
    last_known.start = None;
    last_known.authentication_package = Some("sshd".into());
    let off = r.apply(live(Activity::Logoff, &last_known, t));
    assert_eq!(brief(&off), ["1 Logoff 2 live"]);
    assert_eq!(off[0].session.uid, Some(1001));
    assert_eq!(off[0].session.start, Some(t));
    assert_eq!(off[0].session.auth_method(), Some("publickey"));
    assert!(r.apply(live(Activity::Logoff, &a, t)).is_empty(), "repeat");
    assert_eq!(r.next_sequence(), 2);
}

/// What the logon did not know yet, the logoff learns from the session's last instance; what
/// it knew stays, whatever the last instance says.
#[test]
fn a_logoff_adds_to_the_logon_and_changes_nothing() {
    let t = now();
    let mut early = session("5", "erin", t);
    early.remote = None;
    let mut r = Reported::new();
    r.apply(live(Activity::Logon, &early, t));
    let mut last = session("5", "erin", t);
    last.logon_type = Some(3);
    last.terminal = None;
    let off = r.apply(live(Activity::Logoff, &last, t));
    assert_eq!(off[0].session.remote.as_deref(), Some("10.0.0.5"));
    assert_eq!(off[0].session.logon_type, Some(10));
    assert_eq!(off[0].session.terminal.as_deref(), Some("pts/0"));
}

#[test]
fn a_reused_logon_id_is_another_session() {
    let t = now();
    let before_reboot = session("2", "alice", t);
    let after_reboot = session("2", "bob", t + SignedDuration::from_hours(2));
    let mut r = Reported::new();
    r.apply(live(Activity::Logon, &before_reboot, t));
    let lines = r.apply(live(
        Activity::Logon,
        &after_reboot,
        t + SignedDuration::from_hours(2),
    ));
    assert_eq!(brief(&lines), ["1 Logoff 2 missed", "2 Logon 2 live"]);
    assert_eq!(lines[0].session.user.as_deref(), Some("alice"));
    // On restart too.
    let mut r = Reported::new();
    r.apply(live(Activity::Logon, &before_reboot, t));
    let lines = r.reconcile(
        std::slice::from_ref(&after_reboot),
        None,
        t + SignedDuration::from_hours(3),
    );
    assert_eq!(brief(&lines), ["1 Logoff 2 missed", "2 Logon 2 open"]);
    // A server session's start, derived from whole seconds of ActiveTime, may move by one.
    let mut jitter = before_reboot.clone();
    jitter.start = Some(t + SignedDuration::from_secs(1));
    let mut r = Reported::new();
    r.apply(live(Activity::Logon, &before_reboot, t));
    assert!(r.apply(live(Activity::Logon, &jitter, t)).is_empty());
}

/// Start, a login, stop; while stopped the session ends and another starts; start again:
/// exactly one logoff and one logon, and nothing repeated. The state survives as JSON.
#[test]
fn restart_reports_what_happened_while_stopped() {
    let t = now();
    let a = session("2", "alice", t);
    let b = session("3", "bob", t + SignedDuration::from_mins(1));
    let c = session("4", "carol", t - SignedDuration::from_hours(1));
    let mut first = Reported::new();
    // At the first start c is already there: one logon, at its start.
    let lines = first.reconcile(std::slice::from_ref(&c), Some("boot-1"), t);
    assert_eq!(brief(&lines), ["0 Logon 4 open"]);
    assert_eq!(lines[0].time, c.start.unwrap());
    first.apply(live(Activity::Logon, &a, t));
    let saved = first.to_json();
    // Stopped: a logs out, b logs in. Started again:
    let mut second = Reported::from_json(&saved).expect("state");
    assert_eq!(second, first);
    let later = t + SignedDuration::from_mins(2);
    let lines = second.reconcile(&[c.clone(), b.clone()], Some("boot-1"), later);
    assert_eq!(brief(&lines), ["2 Logoff 2 missed", "3 Logon 3 open"]);
    assert_eq!(lines[0].time, later);
    assert_eq!(lines[1].time, b.start.unwrap());
    // The live events that overlap the restart's scan are repeats.
    assert!(second.apply(live(Activity::Logon, &b, later)).is_empty());
    assert!(second.apply(live(Activity::Logoff, &a, later)).is_empty());
    // And a second restart with nothing changed adds nothing.
    let mut third = Reported::from_json(&second.to_json()).expect("state");
    assert!(
        third
            .reconcile(&[c.clone(), b], Some("boot-1"), later)
            .is_empty()
    );
    assert_eq!(third.next_sequence(), 4);
    // Without a boot id (a fixture root), the sessions are compared alone.
    assert!(third.reconcile(std::slice::from_ref(&c), None, later).len() == 1);
}

/// After a reboot nothing reported is open any more, even a session with the same LogonId
/// whose start is close (audit session ids start again at 1).
#[test]
fn a_reboot_ends_every_reported_session() {
    let t = now();
    let old = session("3", "alice", t);
    let mut r = Reported::new();
    assert_eq!(
        r.reconcile(std::slice::from_ref(&old), Some("boot-1"), t)
            .len(),
        1
    );
    let new = session("3", "alice", t + SignedDuration::from_secs(1));
    let later = t + SignedDuration::from_secs(50);
    let lines = r.reconcile(std::slice::from_ref(&new), Some("boot-2"), later);
    assert_eq!(brief(&lines), ["1 Logoff 3 missed", "2 Logon 3 open"]);
    let again = Reported::from_json(&r.to_json()).expect("state");
    assert_eq!(again, r);
}

#[test]
fn state_files_that_are_not_ours() {
    for bad in [
        "",
        "[]",
        "{}",
        r#"{"linmgmt_event_log_state": 2, "next_sequence": 0, "open": []}"#,
        r#"{"linmgmt_event_log_state": 1, "open": []}"#,
        r#"{"linmgmt_event_log_state": 1, "next_sequence": 0, "open": [{"kind": "x"}]}"#,
    ] {
        assert!(Reported::from_json(bad).is_err(), "{bad:?}");
    }
    let empty =
        Reported::from_json(r#"{"linmgmt_event_log_state": 1, "next_sequence": 5, "open": []}"#)
            .expect("state");
    assert_eq!(empty.next_sequence(), 5);
}
