//! CIM-XML responses: the envelope, errors, paths and the wrappers each operation returns.
//!
//! Every element that may hold content is written with an end tag, never self-closed
//! (sblim-wbemcli rejects `<IRETURNVALUE/>`); EMPTY-by-DTD elements (`NAMESPACE`,
//! `CLASSNAME`) are self-closed.

use crate::encode::{escape, instance_name};
use crate::status::CimStatus;
use linmgmt_cim::{Flavor, Instance, QualifierDecl};
use std::fmt::Write;

/// The parts of a response after the envelope's opening.
fn open(out: &mut String, message_id: &str, method: &str, intrinsic: bool) {
    let element = if intrinsic {
        "IMETHODRESPONSE"
    } else {
        "METHODRESPONSE"
    };
    let _ = write!(
        out,
        r#"<?xml version="1.0" encoding="utf-8" ?>
<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="{}" PROTOCOLVERSION="1.0"><SIMPLERSP><{element} NAME="{}">"#,
        escape(message_id),
        escape(method)
    );
}

fn close(out: &mut String, intrinsic: bool) {
    out.push_str(if intrinsic {
        "</IMETHODRESPONSE></SIMPLERSP></MESSAGE></CIM>\n"
    } else {
        "</METHODRESPONSE></SIMPLERSP></MESSAGE></CIM>\n"
    });
}

/// A response whose `IMETHODRESPONSE` holds `body` (an `IRETURNVALUE` and/or `PARAMVALUE`s,
/// or nothing).
pub fn response(message_id: &str, method: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 256);
    open(&mut out, message_id, method, true);
    out.push_str(body);
    close(&mut out, true);
    out
}

/// `<IRETURNVALUE>` around `items` (written with an end tag even when empty).
pub fn ireturnvalue(items: &str) -> String {
    format!("<IRETURNVALUE>{items}</IRETURNVALUE>")
}

/// An error response for an intrinsic (`IMETHODRESPONSE`) or extrinsic method.
pub fn error_response(
    message_id: &str,
    method: &str,
    intrinsic: bool,
    status: CimStatus,
    description: &str,
) -> String {
    let mut out = String::with_capacity(512);
    open(&mut out, message_id, method, intrinsic);
    let _ = write!(
        out,
        r#"<ERROR CODE="{}" DESCRIPTION="{}"></ERROR>"#,
        status.code(),
        escape(description)
    );
    close(&mut out, intrinsic);
    out
}

/// `<LOCALNAMESPACEPATH>` for `root/cimv2`.
pub fn local_namespace_path(namespace: &str) -> String {
    let mut out = String::from("<LOCALNAMESPACEPATH>");
    for part in namespace.split('/').filter(|p| !p.is_empty()) {
        let _ = write!(out, r#"<NAMESPACE NAME="{}"/>"#, escape(part));
    }
    out.push_str("</LOCALNAMESPACEPATH>");
    out
}

/// `<NAMESPACEPATH>`: host and namespace.
pub fn namespace_path(host: &str, namespace: &str) -> String {
    format!(
        "<NAMESPACEPATH><HOST>{}</HOST>{}</NAMESPACEPATH>",
        escape(host),
        local_namespace_path(namespace)
    )
}

/// `<INSTANCEPATH>` of an instance on `host`, in its class's namespace.
pub fn instance_path(inst: &Instance, host: &str) -> String {
    format!(
        "<INSTANCEPATH>{}{}</INSTANCEPATH>",
        namespace_path(host, &inst.class().namespace),
        instance_name(inst)
    )
}

/// `<CLASSNAME NAME=".."/>`.
pub fn class_name(name: &str) -> String {
    format!(r#"<CLASSNAME NAME="{}"/>"#, escape(name))
}

/// `<CLASSPATH>`: host, namespace and class name.
pub fn class_path(host: &str, namespace: &str, class: &str) -> String {
    format!(
        "<CLASSPATH>{}{}</CLASSPATH>",
        namespace_path(host, namespace),
        class_name(class)
    )
}

/// A `PARAMVALUE` with a typed scalar value (`None`: no `VALUE`, i.e. NULL).
pub fn param_value(name: &str, param_type: &str, value: Option<&str>) -> String {
    match value {
        Some(v) => format!(
            r#"<PARAMVALUE NAME="{}" PARAMTYPE="{param_type}"><VALUE>{}</VALUE></PARAMVALUE>"#,
            escape(name),
            escape(v)
        ),
        None => format!(
            r#"<PARAMVALUE NAME="{}" PARAMTYPE="{param_type}"></PARAMVALUE>"#,
            escape(name)
        ),
    }
}

/// The two `PARAMVALUE`s that follow every Open/Pull result (DSP0200 §5.3.2.x).
pub fn pull_params(end_of_sequence: bool, context: &str) -> String {
    let eos = if end_of_sequence { "TRUE" } else { "FALSE" };
    format!(
        "{}{}",
        param_value("EndOfSequence", "boolean", Some(eos)),
        param_value("EnumerationContext", "string", Some(context))
    )
}

fn flavor_attrs(flavor: &Flavor) -> String {
    let b = |v: bool| if v { "true" } else { "false" };
    format!(
        r#" OVERRIDABLE="{}" TOSUBCLASS="{}" TOINSTANCE="{}" TRANSLATABLE="{}""#,
        b(flavor.overridable),
        b(flavor.to_subclass),
        b(flavor.to_instance),
        b(flavor.translatable)
    )
}

/// `<QUALIFIER.DECLARATION>` with its scopes and default value.
pub fn qualifier_declaration(decl: &QualifierDecl) -> String {
    use linmgmt_cim::QualifierScope as S;
    let mut out = format!(
        r#"<QUALIFIER.DECLARATION NAME="{}" TYPE="{}" ISARRAY="{}"{}>"#,
        escape(decl.name.as_str()),
        decl.ty.scalar.keyword(),
        if decl.ty.array { "true" } else { "false" },
        flavor_attrs(&decl.flavor)
    );
    let any = decl.scopes.contains(&S::Any);
    let scope = |s: S| any || decl.scopes.contains(&s);
    let mut attrs = String::new();
    for (s, attr) in [
        (S::Class, "CLASS"),
        (S::Association, "ASSOCIATION"),
        (S::Reference, "REFERENCE"),
        (S::Property, "PROPERTY"),
        (S::Method, "METHOD"),
        (S::Parameter, "PARAMETER"),
        (S::Indication, "INDICATION"),
    ] {
        if scope(s) {
            let _ = write!(attrs, r#" {attr}="true""#);
        }
    }
    let _ = write!(out, "<SCOPE{attrs}></SCOPE>");
    if let Some(v) = &decl.default {
        out.push_str(&crate::encode::value(v));
    }
    out.push_str("</QUALIFIER.DECLARATION>");
    out
}

/// `<VALUE.NAMEDINSTANCE>` of an already encoded instance name and instance.
pub fn named(name: &str, instance: &str) -> String {
    format!("<VALUE.NAMEDINSTANCE>{name}{instance}</VALUE.NAMEDINSTANCE>")
}

/// `<VALUE.OBJECTWITHPATH>` of an already encoded path and object.
pub fn object_with_path(path: &str, object: &str) -> String {
    format!("<VALUE.OBJECTWITHPATH>{path}{object}</VALUE.OBJECTWITHPATH>")
}

/// `<VALUE.INSTANCEWITHPATH>` of an already encoded path and instance.
pub fn instance_with_path(path: &str, instance: &str) -> String {
    format!("<VALUE.INSTANCEWITHPATH>{path}{instance}</VALUE.INSTANCEWITHPATH>")
}

/// `<OBJECTPATH>` around an encoded instance or class path.
pub fn object_path(path: &str) -> String {
    format!("<OBJECTPATH>{path}</OBJECTPATH>")
}

/// The result of an Open or Pull operation: `IRETURNVALUE` with the encoded items, then
/// `EndOfSequence` and `EnumerationContext`.
pub fn pull_result(items: &[String], end_of_sequence: bool, context: &str) -> String {
    let mut out = String::from("<IRETURNVALUE>");
    for item in items {
        out.push_str(item);
    }
    out.push_str("</IRETURNVALUE>");
    out.push_str(&pull_params(end_of_sequence, context));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_never_self_close_content() {
        let ok = response("7", "EnumerateInstances", &ireturnvalue(""));
        assert!(ok.contains(r#"<MESSAGE ID="7" PROTOCOLVERSION="1.0">"#));
        assert!(ok.contains(
            r#"<IMETHODRESPONSE NAME="EnumerateInstances"><IRETURNVALUE></IRETURNVALUE></IMETHODRESPONSE>"#
        ));
        let err = error_response("8", "X<", true, CimStatus::NotSupported, "no & no");
        assert!(err.contains(
            r#"<IMETHODRESPONSE NAME="X&lt;"><ERROR CODE="7" DESCRIPTION="no &amp; no"></ERROR>"#
        ));
        assert_eq!(
            local_namespace_path("root/cimv2"),
            r#"<LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH>"#
        );
        assert!(pull_params(true, "").contains(
            r#"<PARAMVALUE NAME="EnumerationContext" PARAMTYPE="string"><VALUE></VALUE></PARAMVALUE>"#
        ));
    }
}
