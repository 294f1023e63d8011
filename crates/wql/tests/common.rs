//! Shared test fixtures: a small schema shaped like root\cimv2, instance builders, and a
//! readable AST dump for the golden files.

use linmgmt_cim::{
    CimType, Class, ClassDef, Instance, Property, Qualifier, ScalarType, Value, resolve_class,
};
use linmgmt_wql::{AssocQuery, Expr, Ident, PropertyRef, SelectList, Statement};
use std::fmt::Write;
use std::sync::Arc;

fn prop(name: &str, scalar: ScalarType, array: bool, key: bool) -> Property {
    Property {
        name: name.into(),
        ty: CimType { scalar, array },
        default: None,
        qualifiers: if key {
            vec![Qualifier::flag("Key")]
        } else {
            vec![]
        },
    }
}

/// The test schema: every class resolved, parents first.
pub struct Schema {
    pub classes: Vec<Arc<ClassDef>>,
}

impl Schema {
    pub fn get(&self, name: &str) -> Option<Arc<ClassDef>> {
        self.classes.iter().find(|c| c.name.is(name)).cloned()
    }
}

pub fn schema() -> Schema {
    use ScalarType as T;
    let decls: Vec<(&str, Option<&str>, Vec<Property>, bool)> = vec![
        (
            "CIM_ManagedSystemElement",
            None,
            vec![
                prop("Caption", T::String, false, false),
                prop("Description", T::String, false, false),
                prop("InstallDate", T::Datetime, false, false),
                prop("Name", T::String, false, false),
                prop("Status", T::String, false, false),
            ],
            false,
        ),
        (
            "CIM_LogicalElement",
            Some("CIM_ManagedSystemElement"),
            vec![],
            false,
        ),
        (
            "Win32_Session",
            Some("CIM_LogicalElement"),
            vec![prop("StartTime", T::Datetime, false, false)],
            false,
        ),
        (
            "Win32_LogonSession",
            Some("Win32_Session"),
            vec![
                prop("LogonId", T::String, false, true),
                prop("AuthenticationPackage", T::String, false, false),
                prop("LogonType", T::Uint32, false, false),
            ],
            false,
        ),
        (
            "Test_Types",
            None,
            vec![
                prop("Id", T::String, false, true),
                prop("Flag", T::Boolean, false, false),
                prop("Letter", T::Char16, false, false),
                prop("Ratio", T::Real64, false, false),
                prop("Small", T::Sint8, false, false),
                prop("Big", T::Uint64, false, false),
                prop("Tags", T::String, true, false),
                prop(
                    "Owner",
                    T::Reference(Some("Win32_LogonSession".into())),
                    false,
                    false,
                ),
                prop("Embedded", T::Object, false, false),
                prop("When", T::Datetime, false, false),
            ],
            false,
        ),
        (
            "Test_Child",
            Some("Test_Types"),
            vec![prop("Extra", T::String, false, false)],
            false,
        ),
        (
            "Win32_LoggedOnUser",
            None,
            vec![
                prop("Antecedent", T::Reference(None), false, true),
                prop(
                    "Dependent",
                    T::Reference(Some("Win32_LogonSession".into())),
                    false,
                    true,
                ),
            ],
            true,
        ),
    ];
    let mut classes: Vec<Arc<ClassDef>> = Vec::new();
    for (name, sup, properties, assoc) in decls {
        let class = Class {
            name: name.into(),
            superclass: sup.map(Into::into),
            qualifiers: if assoc {
                vec![Qualifier::flag("Association")]
            } else {
                vec![]
            },
            properties,
            methods: vec![],
        };
        let parent = sup.and_then(|s| classes.iter().find(|c| c.name.is(s)).cloned());
        let def = resolve_class(Arc::new(class), parent.as_deref(), "root/cimv2").unwrap();
        classes.push(Arc::new(def));
    }
    Schema { classes }
}

/// `__Event` → `__InstanceOperationEvent` → its three subclasses, as in events.mof.
pub fn event_classes() -> Vec<Arc<ClassDef>> {
    let prop = |name: &str, scalar: ScalarType, array: bool| Property {
        name: name.into(),
        ty: CimType { scalar, array },
        default: None,
        qualifiers: vec![],
    };
    let decls: Vec<(&str, Option<&str>, Vec<Property>)> = vec![
        (
            "__Event",
            None,
            vec![
                prop("TIME_CREATED", ScalarType::Uint64, false),
                prop("SECURITY_DESCRIPTOR", ScalarType::Uint8, true),
            ],
        ),
        (
            "__InstanceOperationEvent",
            Some("__Event"),
            vec![prop("TargetInstance", ScalarType::Object, false)],
        ),
        (
            "__InstanceCreationEvent",
            Some("__InstanceOperationEvent"),
            vec![],
        ),
        (
            "__InstanceDeletionEvent",
            Some("__InstanceOperationEvent"),
            vec![],
        ),
        (
            "__InstanceModificationEvent",
            Some("__InstanceOperationEvent"),
            vec![prop("PreviousInstance", ScalarType::Object, false)],
        ),
    ];
    let mut out: Vec<Arc<ClassDef>> = Vec::new();
    for (name, sup, properties) in decls {
        let class = Class {
            name: name.into(),
            superclass: sup.map(Into::into),
            qualifiers: vec![],
            properties,
            methods: vec![],
        };
        let parent = sup.and_then(|s| out.iter().find(|c| c.name.is(s)).cloned());
        let def = resolve_class(Arc::new(class), parent.as_deref(), "root/cimv2").unwrap();
        out.push(Arc::new(def));
    }
    out
}

/// An instance of `class` with the given values.
pub fn instance(class: &Arc<ClassDef>, values: &[(&str, Option<Value>)]) -> Instance {
    let mut i = Instance::new(class.clone());
    for (name, v) in values {
        i.set(name, v.clone()).unwrap();
    }
    i
}

// ---- AST dump ------------------------------------------------------------------------------

fn ident(i: &Ident) -> String {
    format!("{} @{}..{}", i.name, i.span.start, i.span.end)
}

fn prop_ref(p: &PropertyRef) -> String {
    let s = p.span();
    format!("{p} @{}..{}", s.start, s.end)
}

fn list(l: &SelectList) -> String {
    match l {
        SelectList::All => "*".into(),
        SelectList::Properties(ps) => ps.iter().map(ident).collect::<Vec<_>>().join(", "),
    }
}

fn expr(out: &mut String, e: &Expr, depth: usize) {
    let pad = "  ".repeat(depth);
    match e {
        Expr::And(v) | Expr::Or(v) => {
            let _ = writeln!(
                out,
                "{pad}{}",
                if matches!(e, Expr::And(_)) {
                    "And"
                } else {
                    "Or"
                }
            );
            for c in v {
                expr(out, c, depth + 1);
            }
        }
        Expr::Not(c) => {
            let _ = writeln!(out, "{pad}Not");
            expr(out, c, depth + 1);
        }
        Expr::Compare {
            property,
            op,
            value,
        } => {
            let _ = writeln!(
                out,
                "{pad}Compare {} {:?} {:?} @{}..{}",
                prop_ref(property),
                op.node,
                value.node,
                value.span.start,
                value.span.end
            );
        }
        Expr::IsNull { property, negated } => {
            let _ = writeln!(
                out,
                "{pad}Is{}Null {}",
                if *negated { "Not" } else { "" },
                prop_ref(property)
            );
        }
        Expr::Like { property, pattern } => {
            let _ = writeln!(out, "{pad}Like {} {:?}", prop_ref(property), pattern.node);
        }
        Expr::Isa { property, class } => {
            let _ = writeln!(out, "{pad}Isa {} {}", prop_ref(property), ident(class));
        }
    }
}

fn assoc(out: &mut String, kind: &str, q: &AssocQuery) {
    let _ = writeln!(out, "{kind}");
    let _ = writeln!(
        out,
        "  path: {:?} @{}..{}",
        q.path.node.to_string(),
        q.path.span.start,
        q.path.span.end
    );
    let opt = |o: &Option<Ident>| o.as_ref().map(ident);
    for (k, v) in [
        ("assoc_class", opt(&q.assoc_class)),
        ("required_assoc_qualifier", opt(&q.required_assoc_qualifier)),
        ("required_qualifier", opt(&q.required_qualifier)),
        ("result_class", opt(&q.result_class)),
        ("result_role", opt(&q.result_role)),
        ("role", opt(&q.role)),
    ] {
        if let Some(v) = v {
            let _ = writeln!(out, "  {k}: {v}");
        }
    }
    for (k, v) in [
        ("class_defs_only", q.class_defs_only),
        ("keys_only", q.keys_only),
        ("schema_only", q.schema_only),
    ] {
        if v {
            let _ = writeln!(out, "  {k}");
        }
    }
}

pub fn dump(s: &Statement) -> String {
    let mut out = String::new();
    match s {
        Statement::Select(q) => {
            let _ = writeln!(
                out,
                "Select{}",
                if q.is_meta_class() {
                    " (meta_class)"
                } else {
                    ""
                }
            );
            let _ = writeln!(out, "  properties: {}", list(&q.properties));
            let _ = writeln!(out, "  from: {}", ident(&q.from));
            if let Some(w) = &q.where_clause {
                let _ = writeln!(out, "  where:");
                expr(&mut out, w, 2);
            }
        }
        Statement::Event(q) => {
            let _ = writeln!(out, "Event");
            let _ = writeln!(out, "  properties: {}", list(&q.properties));
            let _ = writeln!(out, "  from: {}", ident(&q.from));
            if let Some(w) = q.within {
                let _ = writeln!(out, "  within: {w:?}");
            }
            if let Some(w) = &q.where_clause {
                let _ = writeln!(out, "  where:");
                expr(&mut out, w, 2);
            }
            if let Some(t) = q.target_class() {
                let _ = writeln!(out, "  target_class: {}", ident(t));
            }
            if let Some(g) = &q.group {
                let _ = writeln!(out, "  group within: {}", g.within);
                for b in &g.by {
                    let _ = writeln!(out, "  by: {}", prop_ref(b));
                }
                if let Some(h) = &g.having {
                    let _ = writeln!(out, "  having:");
                    expr(&mut out, h, 2);
                }
            }
        }
        Statement::Associators(q) => assoc(&mut out, "Associators", q),
        Statement::References(q) => assoc(&mut out, "References", q),
    }
    out
}
