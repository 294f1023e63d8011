//! Benchmarks: parse alone, and parse + compile + evaluate a 3-term WHERE over 100,000
//! in-memory instances of a 9-property class (the shape of Win32_LogonSession).

use linmgmt_cim::{
    CimType, Class, ClassDef, Instance, Property, Qualifier, ScalarType, SystemContext, Timestamp,
    Value, resolve_class,
};
use linmgmt_wql::{CompileOptions, Filter, Statement, parse};
use std::sync::Arc;

const QUERY: &str = "SELECT * FROM Win32_LogonSession WHERE LogonType = 10 \
    AND AuthenticationPackage LIKE 'sshd%' AND StartTime > '20260101000000.000000+000'";

fn main() {
    divan::main();
}

fn class() -> Arc<ClassDef> {
    let p = |name: &str, scalar: ScalarType, key: bool| Property {
        name: name.into(),
        ty: CimType::scalar(scalar),
        default: None,
        qualifiers: if key {
            vec![Qualifier::flag("Key")]
        } else {
            vec![]
        },
    };
    let class = Class {
        name: "Win32_LogonSession".into(),
        superclass: None,
        qualifiers: vec![],
        properties: vec![
            p("Caption", ScalarType::String, false),
            p("Description", ScalarType::String, false),
            p("InstallDate", ScalarType::Datetime, false),
            p("Name", ScalarType::String, false),
            p("Status", ScalarType::String, false),
            p("StartTime", ScalarType::Datetime, false),
            p("LogonId", ScalarType::String, true),
            p("AuthenticationPackage", ScalarType::String, false),
            p("LogonType", ScalarType::Uint32, false),
        ],
        methods: vec![],
    };
    Arc::new(resolve_class(Arc::new(class), None, "root/cimv2").unwrap())
}

fn instances(class: &Arc<ClassDef>, n: usize) -> Vec<Instance> {
    let packages = ["sshd:pam", "Negotiate", "NTLM", "Kerberos", "sshd"];
    (0..n)
        .map(|i| {
            let mut inst = Instance::new(class.clone());
            let start = Timestamp::from_unix(1_760_000_000 + (i as i64) * 97, 0, 0).unwrap();
            inst.set("LogonId", Some(Value::String(i.to_string())))
                .unwrap();
            inst.set(
                "AuthenticationPackage",
                Some(Value::String(packages[i % 5].into())),
            )
            .unwrap();
            inst.set("LogonType", Some(Value::Uint32([2, 3, 5, 10][i % 4])))
                .unwrap();
            inst.set(
                "StartTime",
                Some(Value::datetime(linmgmt_cim::CimDateTime::Timestamp(start))),
            )
            .unwrap();
            inst
        })
        .collect()
}

#[divan::bench]
fn parse_only(bencher: divan::Bencher) {
    bencher.bench(|| parse(divan::black_box(QUERY)).unwrap());
}

#[divan::bench(sample_count = 20)]
fn filter_100k(bencher: divan::Bencher) {
    let class = class();
    let rows = instances(&class, 100_000);
    let ctx = SystemContext::default();
    bencher.bench(|| {
        let Statement::Select(q) = parse(divan::black_box(QUERY)).unwrap() else {
            unreachable!()
        };
        let f =
            Filter::compile(q.where_clause.as_ref(), &class, &CompileOptions::default()).unwrap();
        rows.iter().filter(|r| f.matches(r, &ctx)).count()
    });
}
