//! The request deadline: an engine whose deadline has passed answers `WBEM_E_TIMED_OUT`
//! for data and association queries instead of finishing them; one with time left
//! answers as usual.

use linmgmt_cim::{SystemContext, WbemStatus};
use linmgmt_engine::{Engine, MemoryProvider};
use linmgmt_schema::Repository;
use linmgmt_wql::CompileOptions;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn engine() -> Engine {
    let repo = Arc::new(Repository::builtin().expect("schema loads"));
    let instances = repo
        .instantiate(
            "root/cimv2",
            "instances.mof",
            include_str!("../test_data/instances.mof"),
        )
        .expect("instances load");
    let mut engine = Engine::new(
        repo,
        SystemContext {
            server: "HOST".into(),
        },
        CompileOptions::default(),
    );
    engine.register(Arc::new(MemoryProvider::new(instances)));
    engine
}

fn check(query: &str) {
    let engine = engine();
    let late = engine.with_deadline(Instant::now() - Duration::from_millis(1));
    let err = late.query("root/cimv2", query).expect_err("times out");
    assert_eq!(err.status, WbemStatus::TimedOut, "{query}: {err}");
    assert!(err.message.contains("deadline"), "{}", err.message);
    let in_time = engine.with_deadline(Instant::now() + Duration::from_secs(60));
    assert!(in_time.query("root/cimv2", query).is_ok(), "{query}");
    // Without a deadline (the CLI) nothing changes.
    assert!(engine.query("root/cimv2", query).is_ok(), "{query}");
}

#[test]
fn a_passed_deadline_stops_data_queries() {
    check("SELECT * FROM Win32_LogonSession");
    check("SELECT * FROM CIM_ManagedSystemElement WHERE Name LIKE '%a%'");
}

#[test]
fn a_passed_deadline_stops_association_walks() {
    check("ASSOCIATORS OF {Win32_LogonSession.LogonId=\"3\"}");
    check("REFERENCES OF {Win32_LogonSession.LogonId=\"3\"}");
}
