//! The hub on a fixture root: a login written to utmp wakes it at once (inotify), long
//! before its `WITHIN` poll; a consumer that does not keep up gets an overflow notice
//! instead of silently missing events; a stream that is dropped unsubscribes.

use jiff::tz::TimeZone;
use linmgmt_cim::{Instance, SystemContext, Value};
use linmgmt_events::{EventStream, Hub, HubSettings, Subscription};
use linmgmt_providers::HostProvider;
use linmgmt_schema::Repository;
use linmgmt_sources::ScanOptions;
use linmgmt_sources::wake::WakeOptions;
use linmgmt_test_support::{FixtureRoot, now, pty_logins};
use linmgmt_wql::CompileOptions;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn hub(root: &FixtureRoot, capacity: usize) -> Hub {
    hub_failing(root, capacity, Arc::new(AtomicBool::new(false)))
}

/// A hub whose scans panic while `fail` is set (a stand-in for any bug in a scan).
fn hub_failing(root: &FixtureRoot, capacity: usize, fail: Arc<AtomicBool>) -> Hub {
    let (dir, runner_root) = (root.root().clone(), root.root().clone());
    Hub::new(HubSettings {
        host: Arc::new(move || {
            assert!(!fail.load(Ordering::SeqCst), "injected scan failure");
            HostProvider::new(
                dir.clone(),
                ScanOptions::default(),
                Box::new(linmgmt_sources::command::FixtureRunner::new(
                    runner_root.clone(),
                )),
                TimeZone::UTC,
                now(),
            )
        }),
        root: root.root().clone(),
        wake: WakeOptions {
            paths: vec!["run/utmp".into()],
            proc_connector: false,
            logind_bus: None,
        },
        capacity,
    })
}

fn compile(query: &str) -> Subscription {
    let repo = Repository::builtin().expect("schema");
    let ns = repo.namespace("root/cimv2").expect("cimv2");
    let opts = CompileOptions {
        time_zone: TimeZone::UTC,
    };
    let ctx = SystemContext {
        server: "fixture".into(),
    };
    Subscription::compile(ns, query, &opts, ctx).expect("compiles")
}

fn subscribe(hub: &Hub, query: &str) -> EventStream {
    hub.subscribe(compile(query), None).expect("subscribes")
}

/// The next event within `timeout`, from a thread so the test cannot hang.
fn next(stream: EventStream, timeout: Duration) -> (Option<Instance>, EventStream) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stream = stream;
        let e = stream.blocking_recv();
        let _ = tx.send((e, stream));
    });
    match rx.recv_timeout(timeout) {
        Ok(got) => got,
        Err(_) => panic!("no event within {timeout:?}"),
    }
}

fn target_id(e: &Instance) -> String {
    match e.get("TargetInstance") {
        Some(Value::Object(t)) => t.get("LogonId").map(|v| v.to_string()).unwrap_or_default(),
        _ => String::new(),
    }
}

#[test]
fn a_utmp_login_wakes_the_hub_long_before_its_poll() {
    let live = pty_logins(0).build();
    let hub = hub(&live, 64);
    let stream = subscribe(
        &hub,
        "SELECT * FROM __InstanceOperationEvent WITHIN 600 WHERE TargetInstance ISA 'Win32_LogonSession'",
    );
    assert!(
        stream.description().contains("/run/utmp"),
        "{}",
        stream.description()
    );
    live.change_to(&pty_logins(1).build());
    // The poll is ten minutes away: an event within 20 s can only come from the inotify wake.
    let (event, stream) = next(stream, Duration::from_secs(20));
    let event = event.expect("an event");
    assert!(event.class_name().is("__InstanceCreationEvent"));
    assert_eq!(target_id(&event), "2");
    drop(stream);
}

#[test]
fn a_slow_consumer_is_told_how_many_events_it_missed() {
    let live = pty_logins(0).build();
    let hub = hub(&live, 1);
    let stream = subscribe(
        &hub,
        "SELECT * FROM __InstanceCreationEvent WITHIN 600 WHERE TargetInstance ISA 'Win32_LogonSession'",
    );
    live.change_to(&pty_logins(5).build());
    // The consumer looks away while the hub scans: one event fits in its queue, the rest
    // are dropped and counted, and the notice comes as soon as there is room. Every event
    // is either delivered or counted.
    std::thread::sleep(Duration::from_millis(500));
    let (mut delivered, mut stream) = (0, stream);
    let notice = loop {
        let (e, s) = next(stream, Duration::from_secs(20));
        stream = s;
        let e = e.expect("an event");
        if e.class_name().is("__InstanceCreationEvent") {
            delivered += 1;
        } else {
            break e;
        }
    };
    assert!(
        notice.class_name().is("__EventQueueOverflowEvent"),
        "{}",
        notice.class_name()
    );
    let Some(Value::Uint32(dropped)) = notice.get("NumberOfEventsDropped") else {
        panic!("NumberOfEventsDropped");
    };
    assert!(delivered >= 1);
    assert_eq!(delivered + dropped, 5);
    match notice.get("Event") {
        Some(Value::Object(e)) => assert!(e.class_name().is("__InstanceCreationEvent")),
        _ => panic!("the first dropped event is in the notice"),
    }
    drop(stream);
}

#[test]
fn several_subscribers_share_the_hub_and_leave_it() {
    let live = pty_logins(0).build();
    let hub = hub(&live, 64);
    let creations = subscribe(
        &hub,
        "SELECT * FROM __InstanceCreationEvent WITHIN 600 WHERE TargetInstance ISA 'Win32_LogonSession'",
    );
    let all = subscribe(
        &hub,
        "SELECT * FROM __InstanceOperationEvent WITHIN 600 WHERE TargetInstance ISA 'Win32_LogonSession'",
    );
    live.change_to(&pty_logins(1).build());
    let (a, creations) = next(creations, Duration::from_secs(20));
    let (b, all) = next(all, Duration::from_secs(20));
    assert_eq!(target_id(&a.expect("event")), "2");
    assert_eq!(target_id(&b.expect("event")), "2");
    drop(creations);
    drop(all);
    // With nobody left the thread ends; a newcomer starts a new one and gets its own baseline.
    let late = subscribe(
        &hub,
        "SELECT * FROM __InstanceDeletionEvent WITHIN 600 WHERE TargetInstance ISA 'Win32_LogonSession'",
    );
    live.change_to(&pty_logins(0).build());
    let (gone, _late) = next(late, Duration::from_secs(20));
    let gone = gone.expect("event");
    assert!(gone.class_name().is("__InstanceDeletionEvent"));
    assert_eq!(target_id(&gone), "2");
}

#[test]
fn a_panicking_scan_resets_the_hub_instead_of_leaving_it_half_alive() {
    const QUERY: &str = "SELECT * FROM __InstanceOperationEvent WITHIN 0.2 WHERE TargetInstance ISA 'Win32_LogonSession'";
    let live = pty_logins(1).build();
    let fail = Arc::new(AtomicBool::new(false));
    let hub = hub_failing(&live, 64, fail.clone());
    let stream = subscribe(&hub, QUERY);
    // The next poll panics: the open stream ends rather than going quiet forever.
    fail.store(true, Ordering::SeqCst);
    let (event, _stream) = next(stream, Duration::from_secs(20));
    assert!(
        event.is_none(),
        "the stream ends when the hub's thread dies"
    );
    // The stream ends while the thread unwinds; the reset is its last step.
    wait_for_resets(&hub, 1);
    // A newcomer while scans still fail gets an error, not a wait that never ends.
    let (tx, rx) = std::sync::mpsc::channel();
    let h = hub.clone();
    std::thread::spawn(move || {
        let _ = tx.send(h.subscribe(compile(QUERY), None).is_err());
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)), Ok(true));
    wait_for_resets(&hub, 2);
    // Once scans work again, the next subscription starts a fresh thread.
    fail.store(false, Ordering::SeqCst);
    let live_again = subscribe(&hub, QUERY);
    live.change_to(&pty_logins(2).build());
    let (event, _) = next(live_again, Duration::from_secs(20));
    assert!(
        event
            .expect("an event")
            .class_name()
            .is("__InstanceCreationEvent")
    );
    assert_eq!(hub.panics(), 2);
}

/// Waits (up to 20 s) until the hub has been reset `n` times, and checks it is exactly `n`.
fn wait_for_resets(hub: &Hub, n: u32) {
    let by = std::time::Instant::now() + Duration::from_secs(20);
    while hub.panics() < n && std::time::Instant::now() < by {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(hub.panics(), n);
}
