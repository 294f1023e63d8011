//! `instantiate` and `write_instance`: instance literals typed against resolved classes.

use linmgmt_cim::{Name, ObjectPath, Value, WbemStatus, resolve_class};
use linmgmt_mof::{Item, instantiate, parse_str, write_instance};
use std::collections::HashMap;
use std::sync::Arc;

const CLASSES: &str = r#"
qualifier Key : boolean = false, scope(property, reference), flavor(DisableOverride);
class Win32_LogonSession
{
    [Key] string LogonId;
    string AuthenticationPackage;
    uint32 LogonType;
    datetime StartTime;
    uint8 Small;
    string Tags[];
    real64 Ratio;
    char16 Letter;
};
class Win32_LoggedOnUser
{
    [Key] Win32_LogonSession REF Dependent;
};
"#;

fn setup(instances: &str) -> Result<Vec<linmgmt_cim::Instance>, linmgmt_mof::MofError> {
    let entries = parse_str(&format!("{CLASSES}{instances}")).expect("classes parse");
    let mut classes = HashMap::new();
    let mut aliases: HashMap<Name, ObjectPath> = HashMap::new();
    let mut out = Vec::new();
    for e in &entries {
        match &e.item {
            Item::Class(c) => {
                let def = resolve_class(Arc::new(c.clone()), None, "root/cimv2").unwrap();
                classes.insert(c.name.clone(), Arc::new(def));
            }
            Item::Instance(spec) => {
                let class = classes[&spec.class].clone();
                let inst = instantiate(spec, class, &aliases)?;
                if let Some(a) = &spec.alias {
                    aliases.insert(Name::new(a.as_str()), inst.path().unwrap());
                }
                out.push(inst);
            }
            Item::Qualifier(_) => {}
        }
    }
    Ok(out)
}

#[test]
fn literals_are_typed_against_the_class() {
    let insts = setup(
        r#"
instance of Win32_LogonSession as $s
{
    LogonId = "999";
    AuthenticationPackage = "NTLM";
    LogonType = 0;
    StartTime = "20110328152159.578125-420";
    Small = 0xff;
    Tags = {"a", "b\"c"};
    Ratio = 1;
    Letter = 'x';
};
instance of Win32_LoggedOnUser { Dependent = $S; };
"#,
    )
    .unwrap();
    assert_eq!(insts[0].get("LogonType"), Some(&Value::Uint32(0)));
    assert_eq!(insts[0].get("Small"), Some(&Value::Uint8(255)));
    assert_eq!(insts[0].get("Ratio"), Some(&Value::Real64(1.0)));
    let Some(Value::Reference(p)) = insts[1].get("Dependent") else {
        panic!("a reference")
    };
    assert_eq!(p.to_string(), r#"Win32_LogonSession.LogonId="999""#);
    let text = write_instance(&insts[0]);
    assert_eq!(
        text,
        r#"instance of Win32_LogonSession
{
    LogonId = "999";
    AuthenticationPackage = "NTLM";
    LogonType = 0;
    StartTime = "20110328152159.578125-420";
    Small = 255;
    Tags = {"a", "b\"c"};
    Ratio = 1.0;
    Letter = 'x';
};
"#
    );
    assert_eq!(
        write_instance(&insts[1]),
        "instance of Win32_LoggedOnUser\n{\n    Dependent = \"Win32_LogonSession.LogonId=\\\"999\\\"\";\n};\n"
    );
}

#[test]
fn written_instances_read_back() {
    let insts = setup(
        r#"instance of Win32_LogonSession { LogonId = "3"; AuthenticationPackage = "sshd/publickey\n\\"; Tags = {}; };"#,
    )
    .unwrap();
    let text = write_instance(&insts[0]);
    assert!(!text.contains("LogonType"), "NULL properties are omitted");
    let again = setup(&text).unwrap();
    assert_eq!(again[0], insts[0]);
}

#[test]
fn instance_errors_have_positions() {
    let err = setup("instance of Win32_LogonSession { Small = 256; };").unwrap_err();
    assert_eq!(err.status(), WbemStatus::TypeMismatch);
    assert!(err.to_string().starts_with("<input>:18:42: "), "{err}");
    assert!(err.message.contains("out of range"), "{err}");

    let err = setup("instance of Win32_LogonSession { Nope = 1; };").unwrap_err();
    assert_eq!(err.status(), WbemStatus::NotFound);

    let err = setup("instance of Win32_LogonSession { LogonType = \"x\"; };").unwrap_err();
    assert_eq!(err.status(), WbemStatus::TypeMismatch);

    let err = setup("instance of Win32_LoggedOnUser { Dependent = $nobody; };").unwrap_err();
    assert_eq!(err.status(), WbemStatus::InvalidSyntax);
    assert!(err.message.contains("$nobody"), "{err}");
}

#[test]
fn embedded_instances_are_written_inline() {
    let entries = parse_str(
        "class Ev { object TargetInstance; uint64 TIME_CREATED; };\nclass S { string Id; };",
    )
    .unwrap();
    let defs: Vec<Arc<linmgmt_cim::ClassDef>> = entries
        .iter()
        .map(|e| match &e.item {
            Item::Class(c) => {
                Arc::new(resolve_class(Arc::new(c.clone()), None, "root/cimv2").unwrap())
            }
            _ => panic!("classes only"),
        })
        .collect();
    let mut inner = linmgmt_cim::Instance::new(defs[1].clone());
    inner.set("Id", Some(Value::String("3".into()))).unwrap();
    let mut ev = linmgmt_cim::Instance::new(defs[0].clone());
    ev.set("TargetInstance", Some(Value::Object(Box::new(inner))))
        .unwrap();
    ev.set("TIME_CREATED", Some(Value::Uint64(7))).unwrap();
    assert_eq!(
        write_instance(&ev),
        "instance of Ev\n{\n    TargetInstance = instance of S\n    {\n        Id = \"3\";\n    };\n    TIME_CREATED = 7;\n};\n"
    );
}
