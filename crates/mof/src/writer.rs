//! The MOF writer: declared classes, qualifier declarations and instances as MOF text that
//! this crate's parser reads back to the same model.

use linmgmt_cim::{
    CimType, Class, Flavor, Instance, Method, Parameter, Property, Qualifier, QualifierDecl,
    ScalarType, Value,
};
use std::fmt::Write as _;

const INDENT: &str = "    ";

/// `s` as a MOF string (`quote = '"'`) or char16 (`quote = '\''`) literal, escaped.
pub(crate) fn quote(s: &str, quote: char) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\x{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A real number that reads back as a real (never as an integer) with the same value.
fn real(text: String) -> String {
    if text.contains(['.', 'e', 'E']) {
        text
    } else {
        format!("{text}.0")
    }
}

/// A value in MOF syntax, at indentation `depth` (for embedded instances).
fn value(v: &Value, depth: usize) -> String {
    match v {
        Value::Boolean(true) => "TRUE".into(),
        Value::Boolean(false) => "FALSE".into(),
        Value::Char16(c) => quote(&c.to_string(), '\''),
        Value::String(s) => quote(s, '"'),
        Value::Datetime(d) => quote(&d.to_string(), '"'),
        Value::Real32(r) => real(format!("{r:?}")),
        Value::Real64(r) => real(format!("{r:?}")),
        Value::Reference(p) => quote(&p.to_string(), '"'),
        Value::Object(inst) => instance_body(inst, depth),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(|i| value(i, depth)).collect();
            format!("{{{}}}", parts.join(", "))
        }
        int => int.as_integer().unwrap_or_default().to_string(),
    }
}

/// The flavor keywords that differ from DSP0004's default (EnableOverride, ToSubclass).
fn flavor_keywords(f: &Flavor) -> Vec<&'static str> {
    let mut out = Vec::new();
    if !f.overridable {
        out.push("DisableOverride");
    }
    if !f.to_subclass {
        out.push("Restricted");
    }
    if f.to_instance {
        out.push("ToInstance");
    }
    if f.translatable {
        out.push("Translatable");
    }
    if f.amended {
        out.push("Amended");
    }
    out
}

fn qualifier(q: &Qualifier) -> String {
    let mut out = q.name.to_string();
    match &q.value {
        Some(Value::Boolean(true)) => {}
        Some(Value::Array(items)) => {
            let parts: Vec<String> = items.iter().map(|i| value(i, 0)).collect();
            let _ = write!(out, "{{{}}}", parts.join(", "));
        }
        Some(v) => {
            let _ = write!(out, "({})", value(v, 0));
        }
        None => out.push_str("(null)"),
    }
    let flavors = flavor_keywords(&q.flavor);
    if !flavors.is_empty() {
        let _ = write!(out, " : {}", flavors.join(" "));
    }
    out
}

/// `[A, B(1)]` followed by `sep`, or nothing when there are no qualifiers.
fn qualifier_list(qs: &[Qualifier], sep: &str) -> String {
    if qs.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = qs.iter().map(qualifier).collect();
    format!("[{}]{sep}", parts.join(", "))
}

/// `type name[]` for a property or parameter.
fn typed_name(ty: &CimType, name: &str) -> String {
    let ty_text = match &ty.scalar {
        ScalarType::Reference(Some(class)) => format!("{class} ref"),
        ScalarType::Reference(None) => "object ref".to_owned(),
        other => other.keyword().to_owned(),
    };
    format!("{ty_text} {name}{}", if ty.array { "[]" } else { "" })
}

fn property(out: &mut String, p: &Property) {
    out.push_str(INDENT);
    out.push_str(&qualifier_list(&p.qualifiers, &format!("\n{INDENT}")));
    out.push_str(&typed_name(&p.ty, p.name.as_str()));
    if let Some(d) = &p.default {
        let _ = write!(out, " = {}", value(d, 1));
    }
    out.push_str(";\n");
}

fn parameter(p: &Parameter) -> String {
    format!(
        "{}{}",
        qualifier_list(&p.qualifiers, " "),
        typed_name(&p.ty, p.name.as_str())
    )
}

fn method(out: &mut String, m: &Method) {
    out.push_str(INDENT);
    out.push_str(&qualifier_list(&m.qualifiers, &format!("\n{INDENT}")));
    let params: Vec<String> = m.parameters.iter().map(parameter).collect();
    let ret = typed_name(&m.return_type, m.name.as_str());
    if params.is_empty() {
        let _ = writeln!(out, "{ret}();");
    } else {
        let sep = format!(",\n{INDENT}{INDENT}");
        let _ = writeln!(out, "{ret}(\n{INDENT}{INDENT}{});", params.join(&sep));
    }
}

/// A declared class as MOF: class qualifiers, properties (with their defaults and
/// qualifiers, flavors shown where they differ from the default) and methods.
pub fn write_class(class: &Class) -> String {
    let mut out = qualifier_list(&class.qualifiers, "\n");
    let _ = write!(out, "class {}", class.name);
    if let Some(s) = &class.superclass {
        let _ = write!(out, " : {s}");
    }
    out.push_str("\n{\n");
    for (i, p) in class.properties.iter().enumerate() {
        if i > 0 && !p.qualifiers.is_empty() {
            out.push('\n');
        }
        property(&mut out, p);
    }
    for m in &class.methods {
        out.push('\n');
        method(&mut out, m);
    }
    out.push_str("};\n");
    out
}

/// A qualifier type declaration as MOF: `qualifier Key : boolean = false, scope(property, reference), flavor(DisableOverride);`.
pub fn write_qualifier_decl(decl: &QualifierDecl) -> String {
    let mut out = format!("qualifier {} : ", decl.name);
    let ty = match &decl.ty.scalar {
        ScalarType::Reference(_) => "string".to_owned(),
        other => other.keyword().to_owned(),
    };
    out.push_str(&ty);
    if decl.ty.array {
        out.push_str("[]");
    }
    if let Some(d) = &decl.default {
        let _ = write!(out, " = {}", value(d, 0));
    }
    let scopes: Vec<&str> = decl.scopes.iter().map(|s| s.keyword()).collect();
    let _ = write!(out, ",\n{INDENT}scope({})", scopes.join(", "));
    let flavors = flavor_keywords(&decl.flavor);
    if !flavors.is_empty() {
        let _ = write!(out, ",\n{INDENT}flavor({})", flavors.join(", "));
    }
    out.push_str(";\n");
    out
}

fn instance_body(inst: &Instance, depth: usize) -> String {
    let pad = INDENT.repeat(depth);
    let mut out = format!("instance of {}\n{pad}{{\n", inst.class_name());
    for (p, v) in inst.class().properties.iter().zip(inst.values()) {
        if let Some(v) = v {
            let _ = writeln!(out, "{pad}{INDENT}{} = {};", p.name, value(v, depth + 1));
        }
    }
    out.push_str(&pad);
    out.push('}');
    out
}

/// An instance as MOF, as WMI's `GetObjectText` shows it: one `Name = value;` line per
/// non-NULL property, in class order; datetimes and references as quoted strings.
pub fn write_instance(inst: &Instance) -> String {
    let mut out = instance_body(inst, 0);
    out.push_str(";\n");
    out
}
