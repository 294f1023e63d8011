//! `parse(write_class(c)) == c` over generated classes, and the writers' exact output.

use linmgmt_cim::{
    CimType, Class, Flavor, Method, Name, Parameter, Property, Qualifier, QualifierDecl,
    QualifierScope, ScalarType, Value,
};
use linmgmt_mof::{Item, parse_str, write_class, write_qualifier_decl};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = Name> {
    "[A-Z_][A-Za-z0-9_]{1,8}"
        .prop_filter("not a keyword", |s| {
            !["ref", "object"].iter().any(|k| s.eq_ignore_ascii_case(k))
        })
        .prop_map(Name::new)
}

fn scalar_type() -> impl Strategy<Value = ScalarType> {
    prop_oneof![
        Just(ScalarType::Boolean),
        Just(ScalarType::Char16),
        Just(ScalarType::String),
        Just(ScalarType::Datetime),
        Just(ScalarType::Real32),
        Just(ScalarType::Real64),
        Just(ScalarType::Uint8),
        Just(ScalarType::Sint8),
        Just(ScalarType::Uint16),
        Just(ScalarType::Sint16),
        Just(ScalarType::Uint32),
        Just(ScalarType::Sint32),
        Just(ScalarType::Uint64),
        Just(ScalarType::Sint64),
        Just(ScalarType::Object),
        Just(ScalarType::Reference(None)),
        name().prop_map(|n| ScalarType::Reference(Some(n))),
    ]
}

fn char16() -> impl Strategy<Value = char> {
    any::<char>().prop_filter("UCS-2", |c| (*c as u32) <= 0xFFFF)
}

/// A value of `ty`, or `None` when MOF cannot write a default of that type.
fn scalar_value(ty: &ScalarType) -> BoxedStrategy<Value> {
    match ty {
        ScalarType::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
        ScalarType::Char16 => char16().prop_map(Value::Char16).boxed(),
        ScalarType::String => any::<String>().prop_map(Value::String).boxed(),
        ScalarType::Datetime => prop::sample::select(vec![
            "20110328152159.578125-420",
            "00000001120032.000000:000",
            "19980416******.000000+***",
            "20260101000000.000000+000",
        ])
        .prop_map(|s| Value::datetime(s.parse().unwrap()))
        .boxed(),
        ScalarType::Real32 => any::<f32>()
            .prop_filter("finite", |r| r.is_finite())
            .prop_map(Value::Real32)
            .boxed(),
        ScalarType::Real64 => any::<f64>()
            .prop_filter("finite", |r| r.is_finite())
            .prop_map(Value::Real64)
            .boxed(),
        ScalarType::Uint8 => any::<u8>().prop_map(Value::Uint8).boxed(),
        ScalarType::Sint8 => any::<i8>().prop_map(Value::Sint8).boxed(),
        ScalarType::Uint16 => any::<u16>().prop_map(Value::Uint16).boxed(),
        ScalarType::Sint16 => any::<i16>().prop_map(Value::Sint16).boxed(),
        ScalarType::Uint32 => any::<u32>().prop_map(Value::Uint32).boxed(),
        ScalarType::Sint32 => any::<i32>().prop_map(Value::Sint32).boxed(),
        ScalarType::Uint64 => any::<u64>().prop_map(Value::Uint64).boxed(),
        ScalarType::Sint64 => any::<i64>().prop_map(Value::Sint64).boxed(),
        ScalarType::Reference(_) => prop::sample::select(vec![
            r#"Win32_LogonSession.LogonId="999""#,
            r#"\\.\root\cimv2:Win32_Account.Domain="HOST",Name="SYSTEM""#,
            r#"Win32_Process.Handle="1\"2""#,
        ])
        .prop_map(|s| Value::reference(s.parse().unwrap()))
        .boxed(),
        ScalarType::Object => Just(Value::Boolean(false)).boxed(),
    }
}

fn property() -> impl Strategy<Value = Property> {
    (scalar_type(), any::<bool>(), qualifiers(), name())
        .prop_flat_map(|(scalar, array, qualifiers, name)| {
            let ty = CimType { scalar, array };
            let default: BoxedStrategy<Option<Value>> = if ty.scalar == ScalarType::Object {
                Just(None).boxed()
            } else if array {
                prop::option::of(
                    prop::collection::vec(scalar_value(&ty.scalar), 0..4).prop_map(Value::Array),
                )
                .boxed()
            } else {
                prop::option::of(scalar_value(&ty.scalar)).boxed()
            };
            (Just(name), Just(ty), default, Just(qualifiers))
        })
        .prop_map(|(name, ty, default, qualifiers)| Property {
            name,
            ty,
            default,
            qualifiers,
        })
}

/// Qualifier values whose type MOF infers back exactly when no declaration is in scope.
fn qualifier_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        any::<bool>().prop_map(|b| Some(Value::Boolean(b))),
        any::<i32>().prop_map(|n| Some(Value::Sint32(n))),
        any::<i64>()
            .prop_filter("beyond sint32", |n| i32::try_from(*n).is_err())
            .prop_map(|n| Some(Value::Sint64(n))),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(|n| Some(Value::Uint64(n))),
        any::<f64>()
            .prop_filter("finite", |r| r.is_finite())
            .prop_map(|r| Some(Value::Real64(r))),
        any::<String>().prop_map(|s| Some(Value::String(s))),
        char16().prop_map(|c| Some(Value::Char16(c))),
        prop::collection::vec(any::<String>().prop_map(Value::String), 1..4)
            .prop_map(|v| Some(Value::Array(v))),
        prop::collection::vec(any::<i32>().prop_map(Value::Sint32), 1..4)
            .prop_map(|v| Some(Value::Array(v))),
    ]
}

fn flavor() -> impl Strategy<Value = Flavor> {
    any::<[bool; 5]>().prop_map(|b| Flavor {
        overridable: b[0],
        to_subclass: b[1],
        to_instance: b[2],
        translatable: b[3],
        amended: b[4],
    })
}

fn qualifiers() -> impl Strategy<Value = Vec<Qualifier>> {
    prop::collection::vec((name(), qualifier_value(), flavor()), 0..4).prop_map(|qs| {
        let mut out: Vec<Qualifier> = Vec::new();
        for (name, value, flavor) in qs {
            if !out.iter().any(|q| q.name == name) {
                out.push(Qualifier {
                    name,
                    value,
                    flavor,
                });
            }
        }
        out
    })
}

fn parameter() -> impl Strategy<Value = Parameter> {
    (name(), scalar_type(), any::<bool>(), qualifiers()).prop_map(
        |(name, scalar, array, qualifiers)| Parameter {
            name,
            ty: CimType { scalar, array },
            qualifiers,
        },
    )
}

fn method() -> impl Strategy<Value = Method> {
    (
        name(),
        scalar_type(),
        prop::collection::vec(parameter(), 0..4),
        qualifiers(),
    )
        .prop_map(|(name, ret, params, qualifiers)| {
            let mut parameters: Vec<Parameter> = Vec::new();
            for p in params {
                if !parameters.iter().any(|q| q.name == p.name) {
                    parameters.push(p);
                }
            }
            Method {
                name,
                return_type: CimType::scalar(ret),
                parameters,
                qualifiers,
            }
        })
}

fn class() -> impl Strategy<Value = Class> {
    (
        name(),
        prop::option::of(name()),
        qualifiers(),
        prop::collection::vec(property(), 0..6),
        prop::collection::vec(method(), 0..3),
    )
        .prop_map(|(name, superclass, qualifiers, props, meths)| {
            let mut seen: Vec<Name> = Vec::new();
            let mut properties = Vec::new();
            for p in props {
                if !seen.contains(&p.name) {
                    seen.push(p.name.clone());
                    properties.push(p);
                }
            }
            let mut methods = Vec::new();
            for m in meths {
                if !seen.contains(&m.name) {
                    seen.push(m.name.clone());
                    methods.push(m);
                }
            }
            Class {
                name,
                superclass,
                qualifiers,
                properties,
                methods,
            }
        })
}

fn reparse(text: &str) -> Class {
    let entries = parse_str(text).unwrap_or_else(|e| panic!("{e}\n{}\n---\n{text}", e.snippet()));
    assert_eq!(entries.len(), 1, "{text}");
    match &entries[0].item {
        Item::Class(c) => c.clone(),
        other => panic!("not a class: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn classes_round_trip(c in class()) {
        let text = write_class(&c);
        let back = reparse(&text);
        prop_assert_eq!(&back, &c, "\n{}", text);
    }
}

#[test]
fn class_text_is_readable() {
    let text = r#"
qualifier Key : boolean = false, scope(property, reference), flavor(DisableOverride);
qualifier MaxLen : uint32 = null, scope(property);
[Dynamic, Provider("CIMWin32"), UUID("{9083C21E-7D58-4e0e-BC30-0BC8922AFB8B}"), Amendment : Amended]
class Win32_LogonSession : Win32_Session
{
    [Key, MaxLen(256)] string LogonId;
    string AuthenticationPackage;
    [ValueMap{"0", "2"}] uint32 LogonType = 2;
    string Names[];
    Win32_Account REF Owner;
    uint32 Terminate([In] uint32 Reason, [In] string Why[]);
    uint32 Ping();
};
"#;
    let entries = parse_str(text).unwrap();
    let Item::Class(c) = &entries[2].item else {
        panic!()
    };
    assert_eq!(
        write_class(c),
        r#"[Dynamic, Provider("CIMWin32"), UUID("{9083C21E-7D58-4e0e-BC30-0BC8922AFB8B}"), Amendment : Amended]
class Win32_LogonSession : Win32_Session
{
    [Key : DisableOverride, MaxLen(256)]
    string LogonId;
    string AuthenticationPackage;

    [ValueMap{"0", "2"}]
    uint32 LogonType = 2;
    string Names[];
    Win32_Account ref Owner;

    uint32 Terminate(
        [In] uint32 Reason,
        [In] string Why[]);

    uint32 Ping();
};
"#
    );
    let Item::Qualifier(d) = &entries[0].item else {
        panic!()
    };
    assert_eq!(
        write_qualifier_decl(d),
        "qualifier Key : boolean = FALSE,\n    scope(property, reference),\n    flavor(DisableOverride);\n"
    );
}

#[test]
fn qualifier_decls_round_trip() {
    let decls = [
        QualifierDecl {
            name: Name::new("ValueMap"),
            ty: CimType::array_of(ScalarType::String),
            default: None,
            scopes: vec![QualifierScope::Property, QualifierScope::Method],
            flavor: Flavor::default(),
        },
        QualifierDecl {
            name: Name::new("Abstract"),
            ty: CimType::scalar(ScalarType::Boolean),
            default: Some(Value::Boolean(false)),
            scopes: vec![
                QualifierScope::Class,
                QualifierScope::Association,
                QualifierScope::Indication,
            ],
            flavor: Flavor {
                to_subclass: false,
                ..Flavor::default()
            },
        },
        QualifierDecl {
            name: Name::new("Odd"),
            ty: CimType::array_of(ScalarType::Sint64),
            default: Some(Value::Array(vec![Value::Sint64(-1), Value::Sint64(7)])),
            scopes: vec![QualifierScope::Any],
            flavor: Flavor {
                overridable: false,
                to_subclass: false,
                to_instance: true,
                translatable: true,
                amended: true,
            },
        },
    ];
    for d in decls {
        let text = write_qualifier_decl(&d);
        let entries = parse_str(&text).unwrap();
        assert_eq!(entries[0].item, Item::Qualifier(d), "{text}");
    }
}
