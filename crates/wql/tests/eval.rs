//! Evaluator tests over in-memory instances: every operator, NULL logic, every coercion,
//! polymorphism with `__CLASS`, meta_class and event filters.

use crate::common::{event_classes, instance, schema};
use linmgmt_cim::{CimDateTime, ClassDef, Instance, ObjectPath, SystemContext, Value};
use linmgmt_wql::{
    Column, CompileOptions, EventFilter, Filter, MetaFilter, Projection, Statement, parse,
};
use std::sync::Arc;

fn ctx() -> SystemContext {
    SystemContext {
        server: "HOST".into(),
    }
}

fn where_of(q: &str) -> (linmgmt_wql::SelectQuery, String) {
    match parse(q).unwrap_or_else(|e| panic!("{q}: {e}")) {
        Statement::Select(s) => {
            let from = s.from.name.to_string();
            (s, from)
        }
        other => panic!("not a select: {other}"),
    }
}

/// Which of `rows` match the WHERE clause `cond` compiled on `class`.
fn matching(
    class: &Arc<ClassDef>,
    rows: &[Instance],
    cond: &str,
    opts: &CompileOptions,
) -> Vec<usize> {
    let (q, _) = where_of(&format!("SELECT * FROM {} WHERE {cond}", class.name));
    let f = Filter::compile(q.where_clause.as_ref(), class, opts)
        .unwrap_or_else(|e| panic!("{cond}: {e}"));
    rows.iter()
        .enumerate()
        .filter(|(_, r)| f.matches(r, &ctx()))
        .map(|(i, _)| i)
        .collect()
}

fn dt(s: &str) -> Option<Value> {
    Some(Value::datetime(s.parse::<CimDateTime>().unwrap()))
}

fn sessions() -> (Arc<ClassDef>, Vec<Instance>) {
    let s = schema();
    let c = s.get("Win32_LogonSession").unwrap();
    let str_ = |x: &str| Some(Value::String(x.into()));
    let rows = vec![
        instance(
            &c,
            &[
                ("LogonId", str_("999")),
                ("AuthenticationPackage", str_("Negotiate")),
                ("LogonType", Some(Value::Uint32(0))),
                ("StartTime", dt("20110328152159.578125-420")),
            ],
        ),
        instance(
            &c,
            &[
                ("LogonId", str_("1001")),
                ("AuthenticationPackage", str_("sshd:pam")),
                ("LogonType", Some(Value::Uint32(10))),
                ("StartTime", dt("20260101120000.000000+000")),
                ("Caption", str_("alice")),
            ],
        ),
        instance(
            &c,
            &[
                ("LogonId", str_("1002")),
                ("AuthenticationPackage", str_("NTLM")),
                ("LogonType", Some(Value::Uint32(3))),
            ],
        ),
    ];
    (c, rows)
}

#[test]
fn comparison_operators() {
    let (c, rows) = sessions();
    let o = CompileOptions::default();
    assert_eq!(matching(&c, &rows, "LogonType = 10", &o), [1]);
    assert_eq!(matching(&c, &rows, "LogonType <> 10", &o), [0, 2]);
    assert_eq!(matching(&c, &rows, "LogonType != 10", &o), [0, 2]);
    assert_eq!(matching(&c, &rows, "LogonType < 3", &o), [0]);
    assert_eq!(matching(&c, &rows, "LogonType <= 3", &o), [0, 2]);
    assert_eq!(matching(&c, &rows, "LogonType > 3", &o), [1]);
    assert_eq!(matching(&c, &rows, "LogonType >= 3", &o), [1, 2]);
    assert_eq!(
        matching(&c, &rows, "3 > LogonType", &o),
        [0],
        "constant on the left flips"
    );
    assert_eq!(matching(&c, &rows, "LogonType = 0xA", &o), [1]);
    assert_eq!(
        matching(&c, &rows, "LogonType > -1", &o),
        [0, 1, 2],
        "out-of-range constants compare as numbers"
    );
    assert_eq!(
        matching(&c, &rows, "LogonType < 3.5", &o),
        [0, 2],
        "integer property vs real"
    );
}

#[test]
fn strings_are_case_insensitive() {
    let (c, rows) = sessions();
    let o = CompileOptions::default();
    assert_eq!(
        matching(&c, &rows, "AuthenticationPackage = 'ntlm'", &o),
        [2]
    );
    assert_eq!(
        matching(&c, &rows, "AuthenticationPackage = \"NEGOTIATE\"", &o),
        [0]
    );
    assert_eq!(
        matching(&c, &rows, "AuthenticationPackage < 'o'", &o),
        [0, 2],
        "N.. < o, ignoring case"
    );
    assert_eq!(
        matching(&c, &rows, "AuthenticationPackage >= 'SSHD'", &o),
        [1]
    );
    assert_eq!(
        matching(&c, &rows, "LogonId = 999", &o),
        [0],
        "numbers vs strings compare as text"
    );
    assert_eq!(
        matching(&c, &rows, "LogonId > 1001", &o),
        [0, 2],
        "as text: '999' and '1002' > '1001'"
    );
}

#[test]
fn like() {
    let (c, rows) = sessions();
    let o = CompileOptions::default();
    assert_eq!(
        matching(&c, &rows, "AuthenticationPackage LIKE 'SSHD%'", &o),
        [1]
    );
    assert_eq!(
        matching(&c, &rows, "AuthenticationPackage LIKE '[n-o]%'", &o),
        [0, 2]
    );
    assert_eq!(
        matching(&c, &rows, "AuthenticationPackage LIKE '[^n]%'", &o),
        [1]
    );
    assert_eq!(
        matching(&c, &rows, "AuthenticationPackage LIKE 'ntl_'", &o),
        [2]
    );
    assert_eq!(
        matching(&c, &rows, "NOT AuthenticationPackage LIKE '%m'", &o),
        [0]
    );
    assert_eq!(
        matching(&c, &rows, "AuthenticationPackage NOT LIKE '%m'", &o),
        [0]
    );
    assert_eq!(
        matching(&c, &rows, "Caption LIKE '%'", &o),
        [1],
        "LIKE on NULL is unknown"
    );
}

#[test]
fn null_three_valued_logic() {
    let (c, rows) = sessions();
    let o = CompileOptions::default();
    assert_eq!(matching(&c, &rows, "Caption IS NULL", &o), [0, 2]);
    assert_eq!(matching(&c, &rows, "Caption IS NOT NULL", &o), [1]);
    assert_eq!(matching(&c, &rows, "Caption = NULL", &o), [0, 2]);
    assert_eq!(matching(&c, &rows, "Caption <> NULL", &o), [1]);
    assert_eq!(matching(&c, &rows, "Caption = 'alice'", &o), [1]);
    // UNKNOWN is not TRUE, and NOT UNKNOWN is still UNKNOWN.
    assert_eq!(
        matching(&c, &rows, "Caption <> 'alice'", &o),
        Vec::<usize>::new()
    );
    assert_eq!(
        matching(&c, &rows, "NOT Caption = 'alice'", &o),
        Vec::<usize>::new()
    );
    // FALSE AND UNKNOWN = FALSE, so NOT of it is TRUE; TRUE OR UNKNOWN = TRUE.
    assert_eq!(
        matching(&c, &rows, "NOT (LogonType = 3 AND Caption = 'x')", &o),
        [0, 1]
    );
    assert_eq!(
        matching(&c, &rows, "LogonType = 3 OR Caption = 'x'", &o),
        [2]
    );
    assert_eq!(
        matching(
            &c,
            &rows,
            "StartTime > '2000-01-01' OR Caption = 'alice'",
            &o
        ),
        [0, 1]
    );
}

#[test]
fn precedence() {
    let (c, rows) = sessions();
    let o = CompileOptions::default();
    // NOT > AND > OR.
    assert_eq!(
        matching(
            &c,
            &rows,
            "LogonType = 0 OR LogonType = 10 AND AuthenticationPackage = 'NTLM'",
            &o
        ),
        [0]
    );
    assert_eq!(
        matching(
            &c,
            &rows,
            "(LogonType = 0 OR LogonType = 3) AND AuthenticationPackage = 'NTLM'",
            &o
        ),
        [2]
    );
    assert_eq!(
        matching(&c, &rows, "NOT LogonType = 0 AND NOT LogonType = 3", &o),
        [1]
    );
}

#[test]
fn datetimes_compare_in_utc() {
    let (c, rows) = sessions();
    let o = CompileOptions::default();
    // 2011-03-28 15:21:59 at -07:00 is 22:21:59 UTC.
    assert_eq!(
        matching(&c, &rows, "StartTime > '20110328222158.000000+000'", &o),
        [0, 1]
    );
    assert_eq!(
        matching(&c, &rows, "StartTime > '20110328222200.000000+000'", &o),
        [1]
    );
    assert_eq!(
        matching(&c, &rows, "StartTime = '20110328222159.578125+000'", &o),
        [0]
    );
    assert_eq!(
        matching(&c, &rows, "StartTime >= '2026-01-01 12:00'", &o),
        [1]
    );
    assert_eq!(matching(&c, &rows, "StartTime > '01/01/2026'", &o), [1]);
    assert_eq!(matching(&c, &rows, "StartTime < 20120101", &o), [0]);
    // Civil dates are read in the configured zone: 12:00 UTC is 13:00 at +01:00.
    let plus1 = CompileOptions {
        time_zone: jiff::tz::TimeZone::fixed(jiff::tz::offset(1)),
    };
    assert_eq!(
        matching(&c, &rows, "StartTime = '2026-01-01 13:00'", &plus1),
        [1]
    );
    assert_eq!(
        matching(&c, &rows, "StartTime = '2026-01-01 13:00'", &o),
        Vec::<usize>::new()
    );
}

fn typed_rows() -> (Arc<ClassDef>, Vec<Instance>, Arc<ClassDef>) {
    let s = schema();
    let t = s.get("Test_Types").unwrap();
    let child = s.get("Test_Child").unwrap();
    let session = s.get("Win32_LogonSession").unwrap();
    let emb = instance(&session, &[("LogonId", Some(Value::String("7".into())))]);
    let owner: ObjectPath = r#"\\HOST\root\cimv2:Win32_LogonSession.LogonId="7""#
        .parse()
        .unwrap();
    let rows = vec![
        instance(
            &t,
            &[
                ("Id", Some(Value::String("a".into()))),
                ("Flag", Some(Value::Boolean(true))),
                ("Letter", Some(Value::Char16('x'))),
                ("Ratio", Some(Value::Real64(1.5))),
                ("Small", Some(Value::Sint8(-3))),
                ("Big", Some(Value::Uint64(u64::MAX))),
                ("Owner", Some(Value::reference(owner))),
                ("Embedded", Some(Value::Object(Box::new(emb)))),
                ("Tags", Some(Value::Array(vec![Value::String("t".into())]))),
            ],
        ),
        instance(
            &child,
            &[
                ("Id", Some(Value::String("b".into()))),
                ("Flag", Some(Value::Boolean(false))),
                ("Letter", Some(Value::Char16('Y'))),
                ("Ratio", Some(Value::Real64(-2.0))),
                ("Small", Some(Value::Sint8(100))),
                ("Big", Some(Value::Uint64(5))),
                ("Extra", Some(Value::String("child".into()))),
            ],
        ),
    ];
    (t, rows, child)
}

#[test]
fn coercions() {
    let (t, rows, _) = typed_rows();
    let o = CompileOptions::default();
    let m = |cond: &str| matching(&t, &rows, cond, &o);
    assert_eq!(m("Flag = TRUE"), [0]);
    assert_eq!(m("Flag = 'true'"), [0]);
    assert_eq!(m("Flag = 'FALSE'"), [1]);
    assert_eq!(m("Flag = 1"), [0]);
    assert_eq!(m("Flag = 0"), [1]);
    assert_eq!(m("Flag <> TRUE"), [1]);
    assert_eq!(m("Letter = 'X'"), [0], "char16 is case-insensitive");
    assert_eq!(m("Letter = 89"), [1], "char16 vs a code");
    assert_eq!(m("Letter > 'x'"), [1]);
    assert_eq!(m("Ratio = 1.5"), [0]);
    assert_eq!(m("Ratio < 0"), [1], "real vs integer");
    assert_eq!(m("Ratio = '1.5'"), [0], "real vs numeric string");
    assert_eq!(m("Small = '-3'"), [0], "integer vs numeric string");
    assert_eq!(m("Small >= '0x10'"), [1]);
    assert_eq!(m("Big = 18446744073709551615"), [0]);
    assert_eq!(m("Big > 4294967296"), [0]);
    assert_eq!(
        m(r#"Owner = 'Win32_LogonSession.LogonId="7"'"#),
        [0],
        "relative path matches any location"
    );
    assert_eq!(m(r#"Owner = 'win32_logonsession.logonid="7"'"#), [0]);
    assert_eq!(m(r#"Owner <> 'Win32_LogonSession.LogonId="8"'"#), [0]);
    assert_eq!(m("Embedded ISA 'Win32_Session'"), [0]);
    assert_eq!(m("Embedded ISA 'CIM_ManagedSystemElement'"), [0]);
    assert_eq!(m("Embedded ISA 'Test_Types'"), Vec::<usize>::new());
    assert_eq!(m("Embedded IS NULL"), [1]);
    assert_eq!(m("Tags IS NOT NULL"), [0], "arrays may be tested for NULL");
}

#[test]
fn polymorphism_and_system_properties() {
    let (t, rows, child) = typed_rows();
    let o = CompileOptions::default();
    let m = |cond: &str| matching(&t, &rows, cond, &o);
    // A filter compiled on the base class runs on subclass instances, and __CLASS reads the
    // instance's real class.
    assert_eq!(m("__CLASS = 'Test_Types'"), [0]);
    assert_eq!(m("__CLASS = 'test_child'"), [1]);
    assert_eq!(m("__CLASS LIKE 'Test[_]%'"), [0, 1]);
    assert_eq!(m("__SUPERCLASS = 'Test_Types'"), [1]);
    assert_eq!(m("__SUPERCLASS IS NULL"), [0]);
    assert_eq!(m("__DYNASTY = 'Test_Types'"), [0, 1]);
    assert_eq!(m("__PROPERTY_COUNT = 11"), [1]);
    assert_eq!(m("__GENUS = 2"), [0, 1]);
    assert_eq!(m("__SERVER = 'host'"), [0, 1]);
    assert_eq!(m("__RELPATH = 'Test_Child.Id=\"b\"'"), [1]);
    assert_eq!(m(r#"__PATH LIKE '\\\\HOST\\root\\cimv2:%'"#), [0, 1]);
    // Subclass-only properties are unknown on the base class.
    let (q, _) = where_of("SELECT * FROM Test_Types WHERE Extra = 'child'");
    let e = Filter::compile(q.where_clause.as_ref(), &t, &o).unwrap_err();
    assert_eq!(e.status().name(), "WBEM_E_INVALID_QUERY");
    assert_eq!(matching(&child, &rows[1..], "Extra = 'CHILD'", &o), [0]);
    // No WHERE: everything matches.
    assert!(
        Filter::compile(None, &t, &o)
            .unwrap()
            .matches(&rows[0], &ctx())
    );
}

#[test]
fn projection() {
    let s = schema();
    let c = s.get("Win32_LogonSession").unwrap();
    let (q, _) = where_of("SELECT logontype, __CLASS, LogonId, LOGONTYPE FROM Win32_LogonSession");
    let p = Projection::compile(&q, &c).unwrap();
    assert!(!p.all);
    let idx = c.property_index("LogonType").unwrap();
    assert_eq!(
        p.columns,
        vec![
            Column::Property {
                index: idx,
                name: "LogonType".into()
            },
            Column::System("__CLASS".into()),
            Column::Property {
                index: c.property_index("LogonId").unwrap(),
                name: "LogonId".into()
            },
        ]
    );
    let (q, _) = where_of("SELECT * FROM Win32_LogonSession");
    let p = Projection::compile(&q, &c).unwrap();
    assert!(p.all);
    assert_eq!(p.columns.len(), 9);
}

#[test]
fn meta_class() {
    let s = schema();
    let o = CompileOptions::default();
    let names = |cond: &str| -> Vec<String> {
        let (q, _) = where_of(&format!("SELECT * FROM meta_class WHERE {cond}"));
        assert!(q.is_meta_class());
        let f = MetaFilter::compile(q.where_clause.as_ref(), &o).unwrap();
        s.classes
            .iter()
            .filter(|c| f.matches_class(c, &ctx()))
            .map(|c| c.name.to_string())
            .collect()
    };
    assert_eq!(
        names("__this ISA 'Win32_Session'"),
        ["Win32_Session", "Win32_LogonSession"]
    );
    assert_eq!(names("__CLASS = 'win32_session'"), ["Win32_Session"]);
    assert_eq!(names("__SUPERCLASS = 'Test_Types'"), ["Test_Child"]);
    assert_eq!(
        names("__SUPERCLASS IS NULL"),
        [
            "CIM_ManagedSystemElement",
            "Test_Types",
            "Win32_LoggedOnUser"
        ]
    );
    assert_eq!(
        names("__DYNASTY = 'Test_Types' AND NOT __CLASS = 'Test_Types'"),
        ["Test_Child"]
    );
    assert_eq!(
        names("__GENUS = 1 AND __CLASS LIKE '%Logon%'"),
        ["Win32_LogonSession"]
    );
    let all = MetaFilter::compile(None, &o).unwrap();
    assert!(s.classes.iter().all(|c| all.matches_class(c, &ctx())));
}

fn event_class(name: &str) -> Arc<ClassDef> {
    event_classes()
        .into_iter()
        .find(|c| c.name.is(name))
        .unwrap()
}

/// An event of class `class` at `time` about `target` (and `previous`).
fn event(class: &str, time: u64, target: Instance, previous: Option<Instance>) -> Instance {
    let mut e = Instance::new(event_class(class));
    e.set("TIME_CREATED", Some(Value::Uint64(time))).unwrap();
    e.set("TargetInstance", Some(Value::Object(Box::new(target))))
        .unwrap();
    if let Some(p) = previous {
        e.set("PreviousInstance", Some(Value::Object(Box::new(p))))
            .unwrap();
    }
    e
}

fn event_query(text: &str) -> linmgmt_wql::EventQuery {
    match parse(text).unwrap_or_else(|e| panic!("{text}: {e}")) {
        Statement::Event(q) => q,
        other => panic!("{other}"),
    }
}

#[test]
fn event_filter() {
    let s = schema();
    let session = s.get("Win32_LogonSession").unwrap();
    let q = event_query(
        "SELECT * FROM __InstanceModificationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_Session' AND TargetInstance.LogonType = 10 AND PreviousInstance.LogonType <> 10",
    );
    assert_eq!(q.target_class().unwrap().name.as_str(), "Win32_Session");
    assert_eq!(q.within, Some(5.0));
    let from = event_class("__InstanceModificationEvent");
    let f = EventFilter::compile(&q, &from, &session, &CompileOptions::default()).unwrap();
    let mk = |t: u32| instance(&session, &[("LogonType", Some(Value::Uint32(t)))]);
    let modified = |now: u32, before: Option<u32>| {
        event("__InstanceModificationEvent", 1, mk(now), before.map(&mk))
    };
    assert!(f.matches(&modified(10, Some(2)), &ctx()));
    assert!(!f.matches(&modified(10, Some(10)), &ctx()));
    assert!(!f.matches(&modified(3, Some(2)), &ctx()));
    assert!(
        !f.matches(&modified(10, None), &ctx()),
        "no previous instance: UNKNOWN"
    );
}

/// The event's own properties: `__CLASS` tells creations, deletions and modifications of
/// an `__InstanceOperationEvent` query apart; `TIME_CREATED` and the other system
/// properties are the event's, not the target's.
#[test]
fn event_filter_tests_the_event_itself() {
    let s = schema();
    let session = s.get("Win32_LogonSession").unwrap();
    let op = event_class("__InstanceOperationEvent");
    let target = || instance(&session, &[("LogonType", Some(Value::Uint32(10)))]);
    let all = [
        event("__InstanceCreationEvent", 100, target(), None),
        event("__InstanceDeletionEvent", 200, target(), None),
        event("__InstanceModificationEvent", 300, target(), Some(target())),
    ];
    let kinds = |clause: &str| -> Vec<String> {
        let text = format!(
            "SELECT * FROM __InstanceOperationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_LogonSession' AND ({clause})"
        );
        let f = EventFilter::compile(&event_query(&text), &op, &session, &Default::default())
            .unwrap_or_else(|e| panic!("{clause}: {e}"));
        all.iter()
            .filter(|e| f.matches(e, &ctx()))
            .map(|e| e.class_name().to_string())
            .collect()
    };
    let (c, d, m) = (
        "__InstanceCreationEvent",
        "__InstanceDeletionEvent",
        "__InstanceModificationEvent",
    );
    assert_eq!(kinds("__Class = '__InstanceCreationEvent'"), [c]);
    assert_eq!(
        kinds("__Class = '__InstanceCreationEvent' OR __CLASS = \"__instancedeletionevent\""),
        [c, d]
    );
    assert_eq!(kinds("NOT __CLASS = '__InstanceModificationEvent'"), [c, d]);
    assert_eq!(kinds("__CLASS LIKE '%Deletion%'"), [d]);
    assert_eq!(
        kinds("__SUPERCLASS = '__InstanceOperationEvent'"),
        [c, d, m]
    );
    assert_eq!(kinds("__DYNASTY = '__Event' AND __GENUS = 2"), [c, d, m]);
    assert_eq!(kinds("__PATH IS NULL AND __RELPATH IS NULL"), [c, d, m]);
    assert_eq!(kinds("__PROPERTY_COUNT = 4"), [m]);
    assert_eq!(kinds("TIME_CREATED >= 200"), [d, m]);
    assert_eq!(kinds("TIME_CREATED = '100'"), [c]);
    assert_eq!(kinds("SECURITY_DESCRIPTOR IS NULL"), [c, d, m]);
    assert_eq!(
        kinds("TargetInstance.__CLASS = 'Win32_LogonSession'"),
        [c, d, m]
    );
    assert_eq!(kinds("PreviousInstance IS NOT NULL"), [m]);

    let refused = |clause: &str| {
        let text = format!(
            "SELECT * FROM __InstanceOperationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_LogonSession' AND {clause}"
        );
        EventFilter::compile(&event_query(&text), &op, &session, &Default::default())
            .expect_err(clause)
            .to_string()
    };
    assert!(
        refused("LogonType = 10")
            .contains("unknown property LogonType of __InstanceOperationEvent"),
        "a target property needs TargetInstance."
    );
    assert!(refused("__CLASS.x = 1").contains("only TargetInstance and PreviousInstance"));
    assert!(refused("SECURITY_DESCRIPTOR = 1").contains("array"));
    assert!(refused("__DERIVATION = '__Event'").contains("array"));
    assert!(refused("TIME_CREATED = 'soon'").contains("type mismatch"));
    assert!(refused("__this ISA '__Event'").contains("meta_class"));
}
