//! Data-driven tests of linmgmt-wsman: request envelopes as real clients write them
//! (the CIM cmdlets, pypsrp, pywinrm, wsl, hostile ones) decoded to golden files; responses
//! written for fixture instances compared with golden envelopes and read back; and a
//! round trip of selectors through an endpoint reference.

use linmgmt_cim::{CimDateTime, Instance, Interval, KeyValue, ObjectPath, Timestamp, Value};
use linmgmt_cimxml::Limits;
use linmgmt_schema::Repository;
use linmgmt_test_support::golden::{Goldens, cases};
use linmgmt_wsman::{
    Fault, InstanceStyle, Mode, Operation, Subcode, UriStyle, decode, encode, ns::action,
};
use proptest::prelude::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn dir(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

/// Each `requests/*.xml` decodes to what `requests/*.decoded` holds (the typed request,
/// or the fault with the MessageID it answers).
#[test]
fn requests() {
    let mut goldens = Goldens::new();
    for case in cases(&dir("requests"), "xml") {
        let bytes = std::fs::read(&case).unwrap();
        let decoded = decode(&bytes, &Limits::default());
        goldens.check(&case.with_extension("decoded"), &format!("{decoded:#?}\n"));
    }
    goldens.finish(30);
}

fn repository() -> Repository {
    Repository::builtin().expect("the built-in schema")
}

fn instance(repo: &Repository, class: &str, values: Vec<(&str, Option<Value>)>) -> Instance {
    let def = repo
        .namespace("root/cimv2")
        .and_then(|n| n.class(class))
        .unwrap_or_else(|| panic!("class {class}"));
    let mut i = Instance::new(Arc::clone(def));
    for (name, v) in values {
        i.set(name, v)
            .unwrap_or_else(|e| panic!("{class}.{name}: {e}"));
    }
    i
}

fn s(text: &str) -> Option<Value> {
    Some(Value::String(text.to_owned()))
}

fn at(secs: i64, micros: u32, offset: i16) -> Option<Value> {
    Some(Value::datetime(CimDateTime::Timestamp(
        Timestamp::from_unix(secs, micros, offset).unwrap(),
    )))
}

/// Fixture instances that use every kind of value the encoder writes.
fn fixtures(repo: &Repository) -> Vec<(&'static str, Instance)> {
    let session = instance(
        repo,
        "Win32_LogonSession",
        vec![
            ("LogonId", s("42")),
            ("LogonType", Some(Value::Uint32(10))),
            ("AuthenticationPackage", s("sshd")),
            ("StartTime", at(1_705_311_012, 123_456, 0)),
            ("Caption", None),
            ("Name", s("tab\there, bell\u{7}, <&\"'>")),
        ],
    );
    let server = instance(
        repo,
        "Win32_ServerSession",
        vec![
            ("ComputerName", s("10.0.0.5")),
            ("UserName", s("alice")),
            ("ActiveTime", Some(Value::Uint32(3600))),
            ("InstallDate", at(1_705_311_012, 0, 60)),
            ("ClientType", s("OpenSSH_9.2p1 Debian-2+deb12u3")),
        ],
    );
    let account = ObjectPath::instance(
        "Win32_UserAccount",
        vec![
            ("Domain".into(), KeyValue::String("vm".into())),
            ("Name".into(), KeyValue::String("alice".into())),
        ],
    );
    let logged_on = instance(
        repo,
        "Win32_LoggedOnUser",
        vec![
            ("Antecedent", Some(Value::reference(account))),
            (
                "Dependent",
                Some(Value::reference(ObjectPath::instance(
                    "Win32_LogonSession",
                    vec![("LogonId".into(), KeyValue::String("42".into()))],
                ))),
            ),
        ],
    );
    let mut lapse = session.clone();
    lapse
        .set(
            "StartTime",
            Some(Value::datetime(CimDateTime::Interval(
                Interval::from_micros(90_061_500_000).unwrap(),
            ))),
        )
        .unwrap();
    let event = instance(
        repo,
        "__InstanceCreationEvent",
        vec![
            (
                "TargetInstance",
                Some(Value::Object(Box::new(session.clone()))),
            ),
            ("TIME_CREATED", Some(Value::Uint64(133_500_000_000_000_000))),
            (
                "SECURITY_DESCRIPTOR",
                Some(Value::Array(vec![Value::Uint8(1), Value::Uint8(0)])),
            ),
        ],
    );
    vec![
        ("logon-session", session),
        ("server-session", server),
        ("logged-on-user", logged_on),
        ("interval", lapse),
        ("creation-event", event),
    ]
}

const REQUEST_ID: &str = "uuid:5D2A4B8E-7C1F-4C55-9F35-0E1C2B7A9D01";
const RESPONSE_ID: &str = "uuid:0A8E31C2-52B4-4E7E-8D0B-7F6A7C1B2E33";

/// The envelopes of every response shape, for fixture instances, against golden files;
/// each is well-formed and answers the request's MessageID.
#[test]
fn responses() {
    let repo = repository();
    let mut goldens = Goldens::new();
    let wmi = |properties| InstanceStyle {
        uri: UriStyle::Wmi,
        namespace: "root/cimv2",
        properties,
    };
    let cim = InstanceStyle {
        uri: UriStyle::Cim,
        ..wmi(None)
    };
    let mut cases: Vec<(String, String)> = Vec::new();
    for (name, i) in fixtures(&repo) {
        cases.push((
            format!("get-{name}"),
            encode::envelope(
                action::GET_RESPONSE,
                RESPONSE_ID,
                Some(REQUEST_ID),
                &encode::instance(&i, &wmi(None)),
            ),
        ));
    }
    let sessions: Vec<Instance> = fixtures(&repo)
        .into_iter()
        .filter(|(n, _)| n.ends_with("-session"))
        .map(|(_, i)| i)
        .collect();
    for (mode, label) in [
        (Mode::Object, "object"),
        (Mode::Epr, "epr"),
        (Mode::ObjectAndEpr, "objepr"),
    ] {
        let items: Vec<String> = sessions
            .iter()
            .map(|i| encode::item(i, mode, &cim))
            .collect();
        cases.push((
            format!("enumerate-optimized-{label}-cim"),
            encode::envelope(
                action::ENUMERATE_RESPONSE,
                RESPONSE_ID,
                Some(REQUEST_ID),
                &encode::enumerate_response("ctx", Some((&items, true))),
            ),
        ));
    }
    let projected = ["LogonType".to_owned()];
    let first = vec![encode::instance(&sessions[0], &wmi(Some(&projected)))];
    cases.push((
        "pull-projected-more".into(),
        encode::envelope(
            action::PULL_RESPONSE,
            RESPONSE_ID,
            Some(REQUEST_ID),
            &encode::pull_response("0f1e2d3c", &first, false),
        ),
    ));
    cases.push((
        "pull-end".into(),
        encode::envelope(
            action::PULL_RESPONSE,
            RESPONSE_ID,
            Some(REQUEST_ID),
            &encode::pull_response("0f1e2d3c", &[], true),
        ),
    ));
    cases.push((
        "enumerate-plain".into(),
        encode::envelope(
            action::ENUMERATE_RESPONSE,
            RESPONSE_ID,
            Some(REQUEST_ID),
            &encode::enumerate_response("0f1e2d3c", None),
        ),
    ));
    cases.push((
        "subscribe".into(),
        encode::envelope(
            action::SUBSCRIBE_RESPONSE,
            RESPONSE_ID,
            Some(REQUEST_ID),
            &encode::subscribe_response(
                "http://127.0.0.1:5985/wsman",
                "abc123",
                Duration::from_secs(600),
                "abc123",
            ),
        ),
    ));
    cases.push((
        "identify-anonymous".into(),
        encode::identify("linmgmt", None),
    ));
    let unknown_class = Fault::from_wmi(
        linmgmt_cim::WbemStatus::InvalidClass,
        "no class Win32_Nope in root/cimv2",
    );
    let timed_out = Fault::new(Subcode::TimedOut, "no event arrived");
    let must = Fault::new(Subcode::MustUnderstand, "header {urn:x}T is not understood");
    for (name, f) in [
        ("fault-unknown-class", unknown_class),
        ("fault-timed-out", timed_out),
        ("fault-must-understand", must),
    ] {
        cases.push((
            name.into(),
            encode::fault(&f, RESPONSE_ID, Some(REQUEST_ID), "vm"),
        ));
    }
    for (name, xml) in &cases {
        let parsed = linmgmt_cimxml::parse_tree(xml.as_bytes(), &Limits::default());
        if let Err(e) = parsed {
            goldens.fail(format!("{name}: the response is not well-formed: {e}"));
            continue;
        }
        if name != "identify-anonymous"
            && !xml.contains(&format!("<wsa:RelatesTo>{REQUEST_ID}</wsa:RelatesTo>"))
        {
            goldens.fail(format!("{name}: no RelatesTo for the request"));
        }
        goldens.check(
            &dir("responses").join(format!("{name}.xml")),
            &format!("{xml}\n"),
        );
    }
    goldens.finish(16);
}

/// A request naming this instance by endpoint reference (an association filter's
/// Object) decodes to the instance's keys, exactly.
fn epr_round_trip(i: &Instance) -> Vec<(String, String)> {
    let style = InstanceStyle {
        uri: UriStyle::Wmi,
        namespace: "root/cimv2",
        properties: None,
    };
    let epr = encode::epr(i, &style);
    let object = epr
        .replace("<wsa:EndpointReference>", "<b:Object>")
        .replace("</wsa:EndpointReference>", "</b:Object>");
    let request = format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsen="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><wsa:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</wsa:Action><wsa:MessageID>uuid:1</wsa:MessageID><wsa:ReplyTo><wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo></s:Header><s:Body><wsen:Enumerate><wsman:Filter Dialect="http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter"><b:AssociatedInstances xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd">{object}</b:AssociatedInstances></wsman:Filter></wsen:Enumerate></s:Body></s:Envelope>"#
    );
    let decoded = decode(request.as_bytes(), &Limits::default()).expect("decodes");
    let Operation::Enumerate(e) = decoded.operation else {
        panic!("not an Enumerate");
    };
    let Some(linmgmt_wsman::Filter::Association(a)) = e.filter else {
        panic!("no association filter");
    };
    a.object
        .selectors
        .into_iter()
        .map(|s| match s.value {
            linmgmt_wsman::SelectorValue::Text(t) => (s.name, t),
            linmgmt_wsman::SelectorValue::Reference(_) => (s.name, "<reference>".into()),
        })
        .collect()
}

proptest! {
    #[test]
    fn selectors_survive_an_endpoint_reference(
        domain in "[^\u{0}-\u{1f}]{0,40}",
        name in "[a-zA-Z0-9 &<>\"'._-]{1,30}",
    ) {
        let repo = repository();
        let account = instance(&repo, "Win32_UserAccount", vec![("Domain", s(&domain)), ("Name", s(&name))]);
        let mut got = epr_round_trip(&account);
        got.sort();
        prop_assert_eq!(got, vec![("Domain".to_owned(), domain), ("Name".to_owned(), name)]);
    }

    /// Any bytes: a request or a fault, never a panic.
    #[test]
    fn any_bytes_decode_or_fault(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode(&bytes, &Limits::default());
    }
}
