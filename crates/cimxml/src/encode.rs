//! Writing CIM objects as CIM-XML elements.

use linmgmt_cim::{Instance, ObjectPath, PropertyDef, ScalarType, Value};
use std::fmt::Write;

/// Escapes text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters even as references;
            // a tab, newline and carriage return are the exceptions.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                let _ = write!(out, "&#xFFFD;");
            }
            c => out.push(c),
        }
    }
    out
}

/// The text of a scalar value inside `<VALUE>`.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::Object(inner) => instance(inner),
        other => other.to_string(),
    }
}

/// A `<VALUE>` or `<VALUE.ARRAY>` element for a non-reference value.
pub fn value(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let mut out = String::from("<VALUE.ARRAY>");
            for item in items {
                let _ = write!(out, "<VALUE>{}</VALUE>", escape(&scalar_text(item)));
            }
            out.push_str("</VALUE.ARRAY>");
            out
        }
        Value::Reference(path) => value_reference(path),
        other => format!("<VALUE>{}</VALUE>", escape(&scalar_text(other))),
    }
}

/// The `VALUETYPE` of a key value.
fn value_type(ty: &ScalarType) -> &'static str {
    match ty {
        ScalarType::Boolean => "boolean",
        t if t.is_integer() || t.is_real() => "numeric",
        _ => "string",
    }
}

/// `<INSTANCENAME>` for a path whose key types are unknown: quoted keys are strings.
fn path_instance_name(path: &ObjectPath) -> String {
    let mut out = format!(
        r#"<INSTANCENAME CLASSNAME="{}">"#,
        escape(path.class.as_str())
    );
    for key in &path.keys {
        let name = key.name.as_ref().map_or("", |n| n.as_str());
        let (vt, ty, text) = match &key.value {
            linmgmt_cim::KeyValue::String(s) => ("string", "string", s.clone()),
            linmgmt_cim::KeyValue::Integer(n) => (
                "numeric",
                if *n < 0 { "sint64" } else { "uint64" },
                n.to_string(),
            ),
            linmgmt_cim::KeyValue::Boolean(b) => (
                "boolean",
                "boolean",
                if *b { "TRUE" } else { "FALSE" }.to_owned(),
            ),
        };
        let _ = write!(
            out,
            r#"<KEYBINDING NAME="{}"><KEYVALUE VALUETYPE="{vt}" TYPE="{ty}">{}</KEYVALUE></KEYBINDING>"#,
            escape(name),
            escape(&text)
        );
    }
    out.push_str("</INSTANCENAME>");
    out
}

/// `<VALUE.REFERENCE>` for a path, with as much location as the path has.
fn value_reference(path: &ObjectPath) -> String {
    let name = path_instance_name(path);
    let namespace = |ns: &str| {
        let mut s = String::from("<LOCALNAMESPACEPATH>");
        for part in ns.split('/') {
            let _ = write!(s, r#"<NAMESPACE NAME="{}"></NAMESPACE>"#, escape(part));
        }
        s.push_str("</LOCALNAMESPACEPATH>");
        s
    };
    let inner = match (&path.server, &path.namespace) {
        (Some(host), Some(ns)) => format!(
            "<INSTANCEPATH><NAMESPACEPATH><HOST>{}</HOST>{}</NAMESPACEPATH>{name}</INSTANCEPATH>",
            escape(host),
            namespace(ns)
        ),
        (None, Some(ns)) => format!(
            "<LOCALINSTANCEPATH>{}{name}</LOCALINSTANCEPATH>",
            namespace(ns)
        ),
        _ => name,
    };
    format!("<VALUE.REFERENCE>{inner}</VALUE.REFERENCE>")
}

/// `<INSTANCENAME>` of an instance, typed by its class's key properties.
pub fn instance_name(inst: &Instance) -> String {
    let class = inst.class();
    let mut out = format!(
        r#"<INSTANCENAME CLASSNAME="{}">"#,
        escape(class.name.as_str())
    );
    for (i, prop) in class.properties.iter().enumerate() {
        if !prop.is_key() {
            continue;
        }
        let _ = write!(out, r#"<KEYBINDING NAME="{}">"#, escape(prop.name.as_str()));
        match inst.get_at(i) {
            Some(Value::Reference(path)) => out.push_str(&value_reference(path)),
            Some(v) => {
                let _ = write!(
                    out,
                    r#"<KEYVALUE VALUETYPE="{}" TYPE="{}">{}</KEYVALUE>"#,
                    value_type(&prop.ty.scalar),
                    prop.ty.scalar.keyword(),
                    escape(&v.to_string())
                );
            }
            None => {
                let _ = write!(
                    out,
                    r#"<KEYVALUE VALUETYPE="{}"></KEYVALUE>"#,
                    value_type(&prop.ty.scalar)
                );
            }
        }
        out.push_str("</KEYBINDING>");
    }
    out.push_str("</INSTANCENAME>");
    out
}

fn property(out: &mut String, prop: &PropertyDef, v: Option<&Value>, class_origin: bool) {
    let name = escape(prop.name.as_str());
    let origin = if class_origin {
        format!(r#" CLASSORIGIN="{}""#, escape(prop.class_origin.as_str()))
    } else {
        String::new()
    };
    match &prop.ty.scalar {
        ScalarType::Reference(class) => {
            let class = class
                .as_ref()
                .map(|c| format!(r#" REFERENCECLASS="{}""#, escape(c.as_str())))
                .unwrap_or_default();
            let _ = write!(out, r#"<PROPERTY.REFERENCE NAME="{name}"{class}{origin}>"#);
            if let Some(Value::Reference(p)) = v {
                out.push_str(&value_reference(p));
            }
            out.push_str("</PROPERTY.REFERENCE>");
        }
        scalar => {
            // Embedded objects travel as escaped INSTANCE text in a string (DSP0201 3.1.6).
            let (ty, embedded) = match scalar {
                ScalarType::Object => ("string", r#" EmbeddedObject="instance""#),
                other => (other.keyword(), ""),
            };
            let element = if prop.ty.array {
                "PROPERTY.ARRAY"
            } else {
                "PROPERTY"
            };
            let _ = write!(
                out,
                r#"<{element} NAME="{name}" TYPE="{ty}"{embedded}{origin}>"#
            );
            if let Some(v) = v {
                out.push_str(&value(v));
            }
            let _ = write!(out, "</{element}>");
        }
    }
}

/// `<INSTANCE>` with every property (NULL ones without a value) and their class origins.
pub fn instance(inst: &Instance) -> String {
    instance_with(
        inst,
        &InstanceOptions {
            class_origin: true,
            properties: None,
        },
    )
}

/// How much of an instance to write.
#[derive(Clone, Copy, Debug, Default)]
pub struct InstanceOptions<'a> {
    /// Write `CLASSORIGIN` on each property.
    pub class_origin: bool,
    /// Only these properties (names compare without case; unknown names are ignored);
    /// `None` for all.
    pub properties: Option<&'a [String]>,
}

/// Whether `name` is in an optional property list.
pub(crate) fn selected(list: Option<&[String]>, name: &str) -> bool {
    list.is_none_or(|l| l.iter().any(|p| p.eq_ignore_ascii_case(name)))
}

/// `<INSTANCE>` with the properties and attributes `options` asks for.
pub fn instance_with(inst: &Instance, options: &InstanceOptions<'_>) -> String {
    let class = inst.class();
    let mut out = format!(r#"<INSTANCE CLASSNAME="{}">"#, escape(class.name.as_str()));
    for (i, prop) in class.properties.iter().enumerate() {
        if selected(options.properties, prop.name.as_str()) {
            property(&mut out, prop, inst.get_at(i), options.class_origin);
        }
    }
    out.push_str("</INSTANCE>");
    out
}

/// `<VALUE.NAMEDINSTANCE>`: the instance name followed by the instance.
pub fn named_instance(inst: &Instance) -> String {
    format!(
        "<VALUE.NAMEDINSTANCE>{}{}</VALUE.NAMEDINSTANCE>",
        instance_name(inst),
        instance(inst)
    )
}

fn qualifiers(out: &mut String, qualifiers: &[linmgmt_cim::Qualifier]) {
    for q in qualifiers {
        let Some(v) = &q.value else { continue };
        let ty = v.scalar_type();
        let flavor = &q.flavor;
        let _ = write!(
            out,
            r#"<QUALIFIER NAME="{}" TYPE="{}" OVERRIDABLE="{}" TOSUBCLASS="{}" TRANSLATABLE="{}">{}</QUALIFIER>"#,
            escape(q.name.as_str()),
            ty.keyword(),
            bool_attr(flavor.overridable),
            bool_attr(flavor.to_subclass),
            bool_attr(flavor.translatable),
            value(v)
        );
    }
}

fn bool_attr(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// `<CLASS>` for a resolved class, with qualifiers, every property (inherited ones marked
/// `PROPAGATED`) and methods.
pub fn class(def: &linmgmt_cim::ClassDef) -> String {
    class_with(
        def,
        &ClassOptions {
            local_only: false,
            qualifiers: true,
            class_origin: true,
            properties: None,
        },
    )
}

/// How much of a class to write (GetClass and EnumerateClasses flags).
#[derive(Clone, Copy, Debug, Default)]
pub struct ClassOptions<'a> {
    /// Leave out inherited properties and methods.
    pub local_only: bool,
    /// Write qualifiers.
    pub qualifiers: bool,
    /// Write `CLASSORIGIN` (and `PROPAGATED`).
    pub class_origin: bool,
    /// Only these properties; `None` for all.
    pub properties: Option<&'a [String]>,
}

/// `<CLASS>` with what `options` asks for.
pub fn class_with(def: &linmgmt_cim::ClassDef, options: &ClassOptions<'_>) -> String {
    let quals = |out: &mut String, q: &[linmgmt_cim::Qualifier]| {
        if options.qualifiers {
            qualifiers(out, q);
        }
    };
    let superclass = def
        .superclass
        .as_ref()
        .map(|s| format!(r#" SUPERCLASS="{}""#, escape(s.as_str())))
        .unwrap_or_default();
    let mut out = format!(
        r#"<CLASS NAME="{}"{superclass}>"#,
        escape(def.name.as_str())
    );
    quals(&mut out, &def.qualifiers);
    for prop in &def.properties {
        if (options.local_only && prop.propagated)
            || !selected(options.properties, prop.name.as_str())
        {
            continue;
        }
        let name = escape(prop.name.as_str());
        let origin = if options.class_origin {
            format!(
                r#" CLASSORIGIN="{}" PROPAGATED="{}""#,
                escape(prop.class_origin.as_str()),
                bool_attr(prop.propagated)
            )
        } else {
            String::new()
        };
        let (element, type_attr) = match (&prop.ty.scalar, prop.ty.array) {
            (ScalarType::Reference(c), _) => (
                "PROPERTY.REFERENCE",
                c.as_ref()
                    .map(|c| format!(r#" REFERENCECLASS="{}""#, escape(c.as_str())))
                    .unwrap_or_default(),
            ),
            (ScalarType::Object, array) => (
                if array { "PROPERTY.ARRAY" } else { "PROPERTY" },
                r#" TYPE="string" EmbeddedObject="object""#.to_owned(),
            ),
            (s, true) => ("PROPERTY.ARRAY", format!(r#" TYPE="{}""#, s.keyword())),
            (s, false) => ("PROPERTY", format!(r#" TYPE="{}""#, s.keyword())),
        };
        let _ = write!(out, r#"<{element} NAME="{name}"{type_attr}{origin}>"#);
        quals(&mut out, &prop.qualifiers);
        if let Some(v) = &prop.default {
            out.push_str(&value(v));
        }
        let _ = write!(out, "</{element}>");
    }
    for m in &def.methods {
        if options.local_only && !def.declared.methods.iter().any(|d| d.name == m.name) {
            continue;
        }
        let _ = write!(
            out,
            r#"<METHOD NAME="{}" TYPE="{}">"#,
            escape(m.name.as_str()),
            m.return_type.scalar.keyword()
        );
        quals(&mut out, &m.qualifiers);
        for p in &m.parameters {
            let (element, attr) = match (&p.ty.scalar, p.ty.array) {
                (ScalarType::Reference(c), array) => (
                    if array {
                        "PARAMETER.REFARRAY"
                    } else {
                        "PARAMETER.REFERENCE"
                    },
                    c.as_ref()
                        .map(|c| format!(r#" REFERENCECLASS="{}""#, escape(c.as_str())))
                        .unwrap_or_default(),
                ),
                (s, true) => ("PARAMETER.ARRAY", format!(r#" TYPE="{}""#, s.keyword())),
                (s, false) => ("PARAMETER", format!(r#" TYPE="{}""#, s.keyword())),
            };
            let _ = write!(
                out,
                r#"<{element} NAME="{}"{attr}>"#,
                escape(p.name.as_str())
            );
            quals(&mut out, &p.qualifiers);
            let _ = write!(out, "</{element}>");
        }
        out.push_str("</METHOD>");
    }
    out.push_str("</CLASS>");
    out
}
