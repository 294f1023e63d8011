//! The class facts the project's WMI reference requires.

use linmgmt_cim::{ClassDef, ScalarType, SystemContext, Value};
use linmgmt_schema::{Namespace, Repository};
use std::sync::Arc;

fn repo() -> Repository {
    Repository::builtin().unwrap_or_else(|e| panic!("{e}"))
}

fn cimv2(repo: &Repository) -> &Namespace {
    repo.namespace("root/cimv2").expect("root/cimv2")
}

fn class<'a>(ns: &'a Namespace, name: &str) -> &'a Arc<ClassDef> {
    ns.class(name).unwrap_or_else(|| panic!("no class {name}"))
}

fn sys(c: &ClassDef, name: &str) -> Option<Value> {
    c.system_property(name, &SystemContext::default())
}

fn strings(v: Option<Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().map(|i| i.to_string()).collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn string_qualifier(c: &ClassDef, prop: &str, q: &str) -> Vec<String> {
    let p = c.property(prop).unwrap_or_else(|| panic!("no {prop}"));
    strings(p.qualifier(q).and_then(|q| q.value.clone()))
}

/// Class, __PROPERTY_COUNT, __SUPERCLASS, __DYNASTY, __DERIVATION.
type SystemCase<'a> = (&'a str, i32, Option<&'a str>, &'a str, &'a [&'a str]);

#[test]
fn system_properties_match_wmi() {
    let repo = repo();
    let ns = cimv2(&repo);
    let cases: &[SystemCase] = &[
        (
            "Win32_LogonSession",
            9,
            Some("Win32_Session"),
            "CIM_ManagedSystemElement",
            &[
                "Win32_Session",
                "CIM_LogicalElement",
                "CIM_ManagedSystemElement",
            ],
        ),
        (
            "Win32_ServerSession",
            13,
            Some("CIM_LogicalElement"),
            "CIM_ManagedSystemElement",
            &["CIM_LogicalElement", "CIM_ManagedSystemElement"],
        ),
        (
            "Win32_LoggedOnUser",
            2,
            Some("CIM_Dependency"),
            "CIM_Dependency",
            &["CIM_Dependency"],
        ),
        // Every property Windows documents (45, as its __PROPERTY_COUNT says).
        (
            "Win32_Process",
            45,
            Some("CIM_Process"),
            "CIM_ManagedSystemElement",
            &[
                "CIM_Process",
                "CIM_LogicalElement",
                "CIM_ManagedSystemElement",
            ],
        ),
        (
            "Win32_Group",
            9,
            Some("Win32_Account"),
            "CIM_ManagedSystemElement",
            &[
                "Win32_Account",
                "CIM_LogicalElement",
                "CIM_ManagedSystemElement",
            ],
        ),
        (
            "Win32_GroupUser",
            2,
            Some("CIM_Component"),
            "CIM_Component",
            &["CIM_Component"],
        ),
        (
            "Win32_SessionProcess",
            2,
            Some("Win32_SessionResource"),
            "CIM_Dependency",
            &["Win32_SessionResource", "CIM_Dependency"],
        ),
        (
            "CIM_ManagedSystemElement",
            5,
            None,
            "CIM_ManagedSystemElement",
            &[],
        ),
    ];
    for (name, count, superclass, dynasty, derivation) in cases {
        let c = class(ns, name);
        assert_eq!(sys(c, "__CLASS"), Some(Value::String((*name).into())));
        assert_eq!(
            sys(c, "__PROPERTY_COUNT"),
            Some(Value::Sint32(*count)),
            "{name}"
        );
        assert_eq!(
            sys(c, "__SUPERCLASS"),
            superclass.map(|s| Value::String(s.into())),
            "{name}"
        );
        assert_eq!(
            sys(c, "__DYNASTY"),
            Some(Value::String((*dynasty).into())),
            "{name}"
        );
        assert_eq!(strings(sys(c, "__DERIVATION")), *derivation, "{name}");
    }
}

#[test]
fn keys_of_every_class() {
    let repo = repo();
    let expected: &[(&str, &[&str])] = &[
        ("CIM_ManagedSystemElement", &[]),
        ("CIM_LogicalElement", &[]),
        ("CIM_Dependency", &[]),
        ("CIM_Component", &[]),
        ("Win32_Session", &[]),
        ("Win32_LogonSession", &["LogonId"]),
        ("Win32_Account", &["Name", "Domain"]),
        ("Win32_UserAccount", &["Name", "Domain"]),
        ("Win32_SystemAccount", &["Name", "Domain"]),
        ("Win32_Group", &["Name", "Domain"]),
        ("CIM_Process", &["Handle"]),
        ("Win32_Process", &["Handle"]),
        ("Win32_ServerSession", &["ComputerName", "UserName"]),
        (
            "Win32_ServerConnection",
            &["ComputerName", "ShareName", "UserName"],
        ),
        ("Win32_Share", &["Name"]),
        ("Win32_LoggedOnUser", &["Antecedent", "Dependent"]),
        ("Win32_SessionResource", &[]),
        ("Win32_SessionProcess", &["Antecedent", "Dependent"]),
        ("Win32_SessionConnection", &["Antecedent", "Dependent"]),
        ("Win32_ConnectionShare", &["Antecedent", "Dependent"]),
        ("Win32_GroupUser", &["GroupComponent", "PartComponent"]),
        ("__Event", &[]),
        ("__InstanceOperationEvent", &[]),
        ("__InstanceCreationEvent", &[]),
        ("__InstanceDeletionEvent", &[]),
        ("__InstanceModificationEvent", &[]),
        ("__AggregateEvent", &[]),
        ("__EventDroppedEvent", &[]),
        ("__EventQueueOverflowEvent", &[]),
    ];
    let ns = cimv2(&repo);
    assert_eq!(
        ns.classes().len(),
        expected.len(),
        "every root/cimv2 class is listed here"
    );
    for (name, keys) in expected {
        let c = class(ns, name);
        let got: Vec<&str> = c.keys().map(|p| p.name.as_str()).collect();
        assert_eq!(got, *keys, "{name}");
    }
    let interop = repo.namespace("interop").expect("interop");
    // Name is inherited from CIM_ManagedSystemElement, so it keeps its earlier slot.
    let om_keys = [
        "Name",
        "SystemCreationClassName",
        "SystemName",
        "CreationClassName",
    ];
    let om = class(interop, "CIM_ObjectManager");
    assert_eq!(
        om.keys().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        om_keys
    );
    assert!(om.property("ElementName").is_some());
    let ns_keys = [
        "SystemCreationClassName",
        "SystemName",
        "ObjectManagerCreationClassName",
        "ObjectManagerName",
        "CreationClassName",
        "Name",
    ];
    let cim_ns = class(interop, "CIM_Namespace");
    assert_eq!(
        cim_ns.keys().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ns_keys
    );
    assert_eq!(
        om.derivation.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
        [
            "CIM_WBEMService",
            "CIM_Service",
            "CIM_EnabledLogicalElement",
            "CIM_LogicalElement",
            "CIM_ManagedSystemElement",
            "CIM_ManagedElement"
        ]
    );
}

#[test]
fn value_maps() {
    let repo = repo();
    let ns = cimv2(&repo);
    let logon = class(ns, "Win32_LogonSession");
    let map = string_qualifier(logon, "LogonType", "ValueMap");
    let values = string_qualifier(logon, "LogonType", "Values");
    let expected = [
        ("0", "System"),
        ("2", "Interactive"),
        ("3", "Network"),
        ("4", "Batch"),
        ("5", "Service"),
        ("6", "Proxy"),
        ("7", "Unlock"),
        ("8", "NetworkCleartext"),
        ("9", "NewCredentials"),
        ("10", "RemoteInteractive"),
        ("11", "CachedInteractive"),
        ("12", "CachedRemoteInteractive"),
        ("13", "CachedUnlock"),
    ];
    let got: Vec<(&str, &str)> = map
        .iter()
        .map(String::as_str)
        .zip(values.iter().map(String::as_str))
        .collect();
    assert_eq!(map.len(), values.len());
    assert_eq!(got, expected);
    let server = class(ns, "Win32_ServerSession");
    assert_eq!(
        string_qualifier(server, "SessionType", "ValueMap"),
        ["0", "1", "2"]
    );
    assert_eq!(
        string_qualifier(server, "SessionType", "Values"),
        ["Guest", "NoEncryption", "Other"]
    );
    let units = server
        .property("ActiveTime")
        .unwrap()
        .qualifier("Units")
        .unwrap();
    assert_eq!(units.value, Some(Value::String("seconds".into())));
    let account = class(ns, "Win32_Account");
    assert_eq!(
        string_qualifier(account, "SIDType", "ValueMap"),
        ["1", "2", "3", "4", "5", "6", "7", "8", "9"]
    );
    assert_eq!(
        account.property("SIDType").unwrap().ty.scalar,
        ScalarType::Uint8
    );
    let status = string_qualifier(logon, "Status", "ValueMap");
    assert_eq!(status.len(), 12);
    let caption = logon
        .property("Caption")
        .unwrap()
        .qualifier("MaxLen")
        .unwrap();
    assert_eq!(
        caption.value,
        Some(Value::Uint32(64)),
        "typed by the declaration"
    );
}

#[test]
fn association_roles() {
    let repo = repo();
    let ns = cimv2(&repo);
    let role = |class_name: &str, prop: &str| {
        let c = class(ns, class_name);
        let p = c.property(prop).unwrap();
        let ScalarType::Reference(Some(target)) = &p.ty.scalar else {
            panic!("{class_name}.{prop} is not a reference")
        };
        (target.to_string(), p.is_key(), p.class_origin.to_string())
    };
    let yes = |t: &str, c: &str| (t.to_owned(), true, c.to_owned());
    assert_eq!(
        role("Win32_SessionProcess", "Antecedent"),
        yes("Win32_LogonSession", "Win32_SessionProcess")
    );
    assert_eq!(
        role("Win32_SessionProcess", "Dependent"),
        yes("Win32_Process", "Win32_SessionProcess")
    );
    assert_eq!(
        role("Win32_SessionResource", "Antecedent"),
        (
            "CIM_LogicalElement".to_owned(),
            false,
            "Win32_SessionResource".to_owned()
        )
    );
    assert_eq!(
        role("Win32_LoggedOnUser", "Antecedent"),
        yes("Win32_Account", "Win32_LoggedOnUser")
    );
    assert_eq!(
        role("Win32_LoggedOnUser", "Dependent"),
        yes("Win32_LogonSession", "Win32_LoggedOnUser")
    );
    assert_eq!(
        role("Win32_SessionConnection", "Antecedent"),
        yes("Win32_ServerSession", "Win32_SessionConnection")
    );
    assert_eq!(
        role("Win32_ConnectionShare", "Antecedent"),
        yes("Win32_Share", "Win32_ConnectionShare")
    );
    assert_eq!(
        role("Win32_GroupUser", "GroupComponent"),
        yes("Win32_Group", "Win32_GroupUser")
    );
    assert_eq!(
        role("Win32_GroupUser", "PartComponent"),
        yes("Win32_Account", "Win32_GroupUser")
    );
    for name in [
        "Win32_LoggedOnUser",
        "Win32_SessionProcess",
        "Win32_SessionConnection",
        "Win32_ConnectionShare",
        "Win32_GroupUser",
    ] {
        let c = class(ns, name);
        assert!(c.is_association(), "{name}");
        assert!(!c.has_flag("Abstract"), "{name}: Abstract is restricted");
        for p in c.references() {
            let over = p.qualifier("Override").and_then(|q| q.value.clone());
            assert_eq!(
                over,
                Some(Value::String(p.name.to_string())),
                "{name}.{}",
                p.name
            );
        }
    }
}

#[test]
fn hierarchy_queries() {
    let repo = repo();
    let ns = repo.namespace(r"\\.\ROOT\CIMV2").expect("any spelling");
    assert!(repo.namespace("root\\cimv2").is_some());
    assert!(repo.namespace("interop").is_some());
    assert!(repo.namespace("root/nothing").is_none());
    assert_eq!(repo.namespaces().len(), 2);
    assert_eq!(ns.name(), "root/cimv2");
    let direct: Vec<&str> = ns
        .subclasses("Win32_Session", false)
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        direct,
        ["Win32_LogonSession"],
        "Win32_ServerSession is no Win32_Session"
    );
    let deep: Vec<&str> = ns
        .subclasses("cim_logicalelement", true)
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert!(deep.contains(&"Win32_ServerSession") && deep.contains(&"Win32_UserAccount"));
    assert!(!deep.contains(&"CIM_LogicalElement"));
    let events: Vec<&str> = ns
        .subclasses("__InstanceOperationEvent", true)
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        events,
        [
            "__InstanceCreationEvent",
            "__InstanceDeletionEvent",
            "__InstanceModificationEvent"
        ]
    );
    assert!(ns.is_a("Win32_UserAccount", "win32_account"));
    assert!(!ns.is_a("Win32_ServerSession", "Win32_Session"));
    assert!(!ns.is_a("Nope", "Nope"));
    assert!(class(ns, "__Event").has_flag("Indication"));
    assert!(
        class(ns, "__InstanceCreationEvent").has_flag("Indication"),
        "Indication propagates"
    );
    let target = class(ns, "__InstanceCreationEvent")
        .property("TargetInstance")
        .unwrap();
    assert_eq!(target.ty.scalar, ScalarType::Object);
    // Classes come parents first.
    let names: Vec<&str> = ns.classes().map(|c| c.name.as_str()).collect();
    for c in ns.classes() {
        let at = names.iter().position(|n| *n == c.name.as_str()).unwrap();
        if let Some(s) = &c.superclass {
            assert!(
                names[..at].contains(&s.as_str()),
                "{} before its parent",
                c.name
            );
        }
    }
    let key = ns.qualifier_decl("KEY").expect("Key declared");
    assert!(!key.flavor.overridable);
    assert!(ns.qualifier_decls().len() >= 20);
    assert!(ns.instances().is_empty());
    let process = class(ns, "Win32_Process");
    let handle = process.property("Handle").unwrap();
    assert_eq!(
        handle.qualifier("MaxLen").unwrap().value,
        Some(Value::Uint32(256))
    );
    assert!(
        process
            .property("CSName")
            .unwrap()
            .qualifier("CIM_Key")
            .is_some()
    );
    assert!(!process.property("CSName").unwrap().is_key());
}
