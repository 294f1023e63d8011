//! The pure part of an event watch on a big host: diffing 10,000 logon sessions against
//! the previous scan and filtering the changes, per scan (the host is scanned once, before
//! timing; `bench/sessions` times real scans).

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use linmgmt_cim::{Instance, SystemContext};
use linmgmt_events::Subscription;
use linmgmt_providers::HostProvider;
use linmgmt_schema::Repository;
use linmgmt_sources::ScanOptions;
use linmgmt_test_support::{many_sessions, now};
use linmgmt_wql::CompileOptions;
use std::sync::{Arc, OnceLock};

fn main() {
    divan::main();
}

/// The `Win32_LogonSession` instances of a host with `n` ssh sessions.
fn sessions(n: u32) -> Vec<Instance> {
    let built = many_sessions(n).build();
    let host = HostProvider::new(
        built.root().clone(),
        ScanOptions::default(),
        Box::new(built.runner()),
        TimeZone::UTC,
        now(),
    );
    let repo = Repository::builtin().expect("schema");
    let class = repo
        .namespace("root/cimv2")
        .and_then(|ns| ns.class("Win32_LogonSession"))
        .expect("class")
        .clone();
    let (mut out, mut warnings) = (Vec::new(), Vec::new());
    host.instances_for(
        &class,
        &linmgmt_engine::Wanted::All,
        None,
        &mut out,
        &mut warnings,
    );
    out
}

/// Two scans: before and after.
type Scans = (Arc<[Instance]>, Arc<[Instance]>);

fn ten_thousand() -> &'static Scans {
    static SETS: OnceLock<Scans> = OnceLock::new();
    SETS.get_or_init(|| {
        let all = sessions(10_000);
        // The next scan: the same host with 100 sessions gone.
        let fewer: Arc<[Instance]> = all[100..].into();
        (all.into(), fewer)
    })
}

fn subscription() -> Subscription {
    let repo = Repository::builtin().expect("schema");
    Subscription::compile(
        repo.namespace("root/cimv2").expect("cimv2"),
        "SELECT * FROM __InstanceOperationEvent WITHIN 5 \
         WHERE TargetInstance ISA 'Win32_LogonSession' AND TargetInstance.LogonType = 10",
        &CompileOptions {
            time_zone: TimeZone::UTC,
        },
        SystemContext {
            server: "bench".into(),
        },
    )
    .expect("compiles")
}

/// One scan's diff: 10,000 sessions before, 9,900 after; the remote ones of the 100 gone
/// are deletion events.
#[divan::bench]
fn diff_10k_sessions(bencher: divan::Bencher) {
    let (all, fewer) = ten_thousand();
    let gone_remote = all[..100]
        .iter()
        .filter(|i| i.get("LogonType") == Some(&linmgmt_cim::Value::Uint32(10)))
        .count();
    bencher
        .with_inputs(|| {
            let mut sub = subscription();
            let t: Timestamp = now();
            sub.observe(t, &mut |_| all.clone());
            sub
        })
        .bench_local_values(|mut sub| {
            let t = now() + SignedDuration::from_secs(1);
            let events = sub.observe(t, &mut |_| fewer.clone());
            assert_eq!(events.len(), gone_remote);
            events
        });
}
