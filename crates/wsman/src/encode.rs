//! Writing responses: envelopes, instances as Windows writes them (DSP0230, MS-WSMV
//! 3.1.4.1.26), endpoint references, enumeration pages, subscriptions and faults.
//!
//! Instances: the element is the instance's own class in its resource-URI namespace, with
//! `xsi:type="p:<Class>_Type"`; properties in class order; NULL as `xsi:nil="true"`;
//! arrays repeat their element (a NULL array is one nil element); datetimes as
//! `cim:Datetime` / `cim:Interval` (or `cim:CIM_DateTime` when a field is starred);
//! references as endpoint references; embedded instances as a nested class element.
//! Control characters other than TAB, LF and CR are written as `?`, as Windows does.

use crate::fault::{Fault, FaultCode};
use crate::ns;
use crate::uri::{ResourceUri, UriStyle};
use linmgmt_cim::{CimDateTime, Instance, KeyValue, ObjectPath, Value};
use linmgmt_cimxml::CimStatus;
use std::fmt::Write;
use std::time::Duration;

/// What each enumerated item is (`wsman:EnumerationMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// The instance (the default).
    #[default]
    Object,
    /// Its endpoint reference (`EnumerateEPR`).
    Epr,
    /// Both, in a `wsman:Item` (`EnumerateObjectAndEPR`).
    ObjectAndEpr,
}

/// How instances are written.
#[derive(Clone, Copy, Debug)]
pub struct InstanceStyle<'a> {
    /// The resource-URI family the client used.
    pub uri: UriStyle,
    /// The CIM namespace of the instances (`root/cimv2`).
    pub namespace: &'a str,
    /// Only these properties (by name, any case); all when `None`.
    pub properties: Option<&'a [String]>,
}

/// Escapes text for XML, writing control characters XML 1.0 cannot carry as `?`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn interval_text(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if frac == 0 {
        format!("P{d}DT{h}H{m}M{s}S")
    } else {
        format!("P{d}DT{h}H{m}M{s}.{frac:06}S")
    }
}

fn real(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "INF" } else { "-INF" }.to_owned()
    } else {
        v.to_string()
    }
}

/// The content of one property element for a scalar value.
fn scalar(out: &mut String, v: &Value, style: &InstanceStyle<'_>) {
    match v {
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => out.push_str(&escape(s)),
        Value::Char16(c) => out.push_str(&escape(&c.to_string())),
        Value::Datetime(d) => match &**d {
            CimDateTime::Timestamp(t) => match t.to_rfc3339() {
                Some(text) => {
                    let text = match text.strip_suffix("+00:00") {
                        Some(utc) => format!("{utc}Z"),
                        None => text,
                    };
                    let _ = write!(out, "<cim:Datetime>{text}</cim:Datetime>");
                }
                None => {
                    let _ = write!(out, "<cim:CIM_DateTime>{t}</cim:CIM_DateTime>");
                }
            },
            CimDateTime::Interval(i) => {
                let _ = write!(
                    out,
                    "<cim:Interval>{}</cim:Interval>",
                    interval_text(i.as_micros())
                );
            }
        },
        Value::Real32(r) => out.push_str(&real(f64::from(*r))),
        Value::Real64(r) => out.push_str(&real(*r)),
        Value::Reference(path) => epr_parts(out, path, style),
        Value::Object(inner) => out.push_str(&instance(
            inner,
            &InstanceStyle {
                properties: None,
                ..*style
            },
        )),
        Value::Array(_) => {}
        other => out.push_str(&other.to_string()),
    }
}

/// The instance element.
pub fn instance(inst: &Instance, style: &InstanceStyle<'_>) -> String {
    let class = inst.class_name().as_str();
    let uri = ResourceUri::for_class(style.uri, style.namespace, class);
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        r#"<p:{class} xmlns:p="{uri}" xmlns:cim="{}" xmlns:xsi="{}" xsi:type="p:{class}_Type">"#,
        ns::CIM,
        ns::XSI,
        uri = escape(&uri)
    );
    for (prop, value) in inst.class().properties.iter().zip(inst.values()) {
        let name = prop.name.as_str();
        if let Some(list) = style.properties
            && !prop.is_key()
            && !list.iter().any(|l| l.eq_ignore_ascii_case(name))
        {
            continue;
        }
        match value {
            None => {
                let _ = write!(out, r#"<p:{name} xsi:nil="true"/>"#);
            }
            Some(Value::Array(items)) if items.is_empty() => {
                let _ = write!(out, r#"<p:{name} xsi:nil="true"/>"#);
            }
            Some(Value::Array(items)) => {
                for item in items {
                    let _ = write!(out, "<p:{name}>");
                    scalar(&mut out, item, style);
                    let _ = write!(out, "</p:{name}>");
                }
            }
            Some(v) => {
                let _ = write!(out, "<p:{name}>");
                scalar(&mut out, v, style);
                let _ = write!(out, "</p:{name}>");
            }
        }
    }
    let _ = write!(out, "</p:{class}>");
    out
}

fn key_text(v: &KeyValue) -> String {
    match v {
        KeyValue::String(s) => s.clone(),
        KeyValue::Integer(n) => n.to_string(),
        KeyValue::Boolean(b) => b.to_string(),
    }
}

/// `wsa:Address` and `wsa:ReferenceParameters` of a path (the content of an EPR).
fn epr_parts(out: &mut String, path: &ObjectPath, style: &InstanceStyle<'_>) {
    let namespace = path.namespace.as_deref().unwrap_or(style.namespace);
    let uri = ResourceUri::for_class(style.uri, namespace, path.class.as_str());
    let _ = write!(
        out,
        "<wsa:Address>{}</wsa:Address><wsa:ReferenceParameters><wsman:ResourceURI>{}</wsman:ResourceURI><wsman:SelectorSet>",
        ns::ANONYMOUS,
        escape(&uri)
    );
    for key in &path.keys {
        let name = key.name.as_ref().map_or("", |n| n.as_str());
        let _ = write!(
            out,
            r#"<wsman:Selector Name="{}">{}</wsman:Selector>"#,
            escape(name),
            escape(&key_text(&key.value))
        );
    }
    if style.uri == UriStyle::Cim {
        let _ = write!(
            out,
            r#"<wsman:Selector Name="__cimnamespace">{}</wsman:Selector>"#,
            escape(namespace)
        );
    }
    out.push_str("</wsman:SelectorSet></wsa:ReferenceParameters>");
}

/// The instance's endpoint reference: its class's resource URI and its keys as selectors
/// (a reference key as a nested endpoint reference).
pub fn epr(inst: &Instance, style: &InstanceStyle<'_>) -> String {
    let class = inst.class_name().as_str();
    let uri = ResourceUri::for_class(style.uri, style.namespace, class);
    let mut out = format!(
        "<wsa:EndpointReference><wsa:Address>{}</wsa:Address><wsa:ReferenceParameters><wsman:ResourceURI>{}</wsman:ResourceURI><wsman:SelectorSet>",
        ns::ANONYMOUS,
        escape(&uri)
    );
    for (prop, value) in inst.class().properties.iter().zip(inst.values()) {
        if !prop.is_key() {
            continue;
        }
        let _ = write!(out, r#"<wsman:Selector Name="{}">"#, prop.name);
        match value {
            Some(Value::Reference(path)) => {
                out.push_str("<wsa:EndpointReference>");
                epr_parts(&mut out, path, style);
                out.push_str("</wsa:EndpointReference>");
            }
            Some(v) => {
                let mut text = String::new();
                scalar(&mut text, v, style);
                out.push_str(&text);
            }
            None => {}
        }
        out.push_str("</wsman:Selector>");
    }
    if style.uri == UriStyle::Cim {
        let _ = write!(
            out,
            r#"<wsman:Selector Name="__cimnamespace">{}</wsman:Selector>"#,
            escape(style.namespace)
        );
    }
    out.push_str("</wsman:SelectorSet></wsa:ReferenceParameters></wsa:EndpointReference>");
    out
}

/// One enumerated item in `mode`.
pub fn item(inst: &Instance, mode: Mode, style: &InstanceStyle<'_>) -> String {
    match mode {
        Mode::Object => instance(inst, style),
        Mode::Epr => epr(inst, style),
        Mode::ObjectAndEpr => format!(
            "<wsman:Item>{}{}</wsman:Item>",
            instance(inst, style),
            epr(inst, style)
        ),
    }
}

/// A whole envelope: the response headers (`wsa:RelatesTo` is the request's MessageID,
/// unchanged) and `body` inside `s:Body`.
pub fn envelope(action: &str, message_id: &str, relates_to: Option<&str>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 1024);
    let _ = write!(
        out,
        r#"<s:Envelope xmlns:s="{}" xmlns:wsa="{}" xmlns:wsen="{}" xmlns:wsman="{}" xmlns:wse="{}" xml:lang="en-US"><s:Header><wsa:Action>{}</wsa:Action><wsa:MessageID>{}</wsa:MessageID><wsa:To>{}</wsa:To>"#,
        ns::SOAP,
        ns::WSA,
        ns::WSEN,
        ns::WSMAN,
        ns::WSE,
        escape(action),
        escape(message_id),
        ns::ANONYMOUS
    );
    if let Some(r) = relates_to {
        let _ = write!(out, "<wsa:RelatesTo>{}</wsa:RelatesTo>", escape(r));
    }
    let _ = write!(out, "</s:Header><s:Body>{body}</s:Body></s:Envelope>");
    out
}

/// The envelope of a fault. `machine` names this host in the `f:WSManFault` detail.
pub fn fault(fault: &Fault, message_id: &str, relates_to: Option<&str>, machine: &str) -> String {
    let (subcode, action) = fault.subcode.qname();
    let reason = escape(&fault.reason);
    let mut body = String::new();
    let code = match fault.subcode.code() {
        FaultCode::Sender => "s:Sender",
        FaultCode::Receiver => "s:Receiver",
        FaultCode::MustUnderstand => "s:MustUnderstand",
    };
    let _ = write!(body, "<s:Fault><s:Code><s:Value>{code}</s:Value>");
    if fault.subcode.code() != FaultCode::MustUnderstand {
        let _ = write!(body, "<s:Subcode><s:Value>{subcode}</s:Value></s:Subcode>");
    }
    let _ = write!(
        body,
        r#"</s:Code><s:Reason><s:Text xml:lang="en-US">{reason}</s:Text></s:Reason><s:Detail>"#
    );
    if let Some(d) = fault.detail {
        let _ = write!(body, "<wsman:FaultDetail>{d}</wsman:FaultDetail>");
    }
    // Microsoft's detail, as Windows writes it: pywinrm reads `WSManFault/@Code` (a
    // decimal number) and `MSFT_WmiError/error_Code`, pypsrp the Code and Machine. The Code
    // is WinRM's: ERROR_WSMAN_OPERATION_TIMEDOUT for timeouts (what WinRM clients retry on),
    // otherwise 0x80338000, with the WMI error in MSFT_WmiError.
    let code_attr = if fault.subcode == crate::Subcode::TimedOut {
        2_150_858_793u32
    } else {
        2_150_858_752
    };
    let _ = write!(
        body,
        r#"<f:WSManFault xmlns:f="{}" Code="{code_attr}" Machine="{}"><f:Message>{reason}</f:Message></f:WSManFault>"#,
        ns::WSMANFAULT,
        escape(machine)
    );
    if let Some(w) = fault.wmi {
        let _ = write!(
            body,
            r#"<p:MSFT_WmiError xmlns:p="{uri}" xmlns:xsi="{xsi}" xsi:type="p:MSFT_WmiError_Type"><p:CIMStatusCode>{cim}</p:CIMStatusCode><p:Message>{reason}</p:Message><p:error_Code>{code}</p:error_Code><p:error_Type>HRESULT</p:error_Type><p:error_WindowsErrorMessage>{name}</p:error_WindowsErrorMessage></p:MSFT_WmiError>"#,
            uri = ns::WMI_ERROR,
            xsi = ns::XSI,
            cim = CimStatus::from_wbem(w).code(),
            code = w.code(),
            name = w.name(),
        );
    }
    body.push_str("</s:Detail></s:Fault>");
    envelope(action, message_id, relates_to, &body)
}

/// The body of an IdentifyResponse; `version` is left out for a client without
/// credentials, as Windows does.
pub fn identify(vendor: &str, version: Option<&str>) -> String {
    let mut out = format!(
        r#"<wsmid:IdentifyResponse xmlns:wsmid="{}"><wsmid:ProtocolVersion>{}</wsmid:ProtocolVersion><wsmid:ProductVendor>{}</wsmid:ProductVendor>"#,
        ns::WSMID,
        ns::WSMAN,
        escape(vendor)
    );
    if let Some(v) = version {
        let _ = write!(
            out,
            "<wsmid:ProductVersion>{}</wsmid:ProductVersion>",
            escape(v)
        );
    }
    let _ = write!(
        out,
        "<wsmid:SecurityProfiles><wsmid:SecurityProfileName>http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic</wsmid:SecurityProfileName><wsmid:SecurityProfileName>http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/basic</wsmid:SecurityProfileName></wsmid:SecurityProfiles></wsmid:IdentifyResponse>"
    );
    out
}

/// An EnumerateResponse. `items` is `Some` for an optimized enumeration: its items and
/// whether they are the last. With the end of the sequence the context is left empty.
pub fn enumerate_response(context: &str, items: Option<(&[String], bool)>) -> String {
    let mut out = String::from("<wsen:EnumerateResponse>");
    match items {
        None => {
            let _ = write!(
                out,
                "<wsen:EnumerationContext>{}</wsen:EnumerationContext>",
                escape(context)
            );
        }
        Some((items, end)) => {
            let ctx = if end { "" } else { context };
            let _ = write!(
                out,
                "<wsen:EnumerationContext>{}</wsen:EnumerationContext><wsman:Items>",
                escape(ctx)
            );
            for i in items {
                out.push_str(i);
            }
            out.push_str("</wsman:Items>");
            if end {
                out.push_str("<wsman:EndOfSequence/>");
            }
        }
    }
    out.push_str("</wsen:EnumerateResponse>");
    out
}

/// A PullResponse; the context is left out at the end of the sequence (MS-WSMV 4.1.2.6).
pub fn pull_response(context: &str, items: &[String], end: bool) -> String {
    let mut out = String::from("<wsen:PullResponse>");
    if !end {
        let _ = write!(
            out,
            "<wsen:EnumerationContext>{}</wsen:EnumerationContext>",
            escape(context)
        );
    }
    out.push_str("<wsen:Items>");
    for i in items {
        out.push_str(i);
    }
    out.push_str("</wsen:Items>");
    if end {
        out.push_str("<wsen:EndOfSequence/>");
    }
    out.push_str("</wsen:PullResponse>");
    out
}

fn xs_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("PT{}S", ms / 1000)
    } else {
        format!("PT{}.{:03}S", ms / 1000, ms % 1000)
    }
}

/// A SubscribeResponse for pull delivery: the subscription manager (this endpoint, with
/// the subscription's identifier), its lifetime, and the context to pull events with.
pub fn subscribe_response(
    manager: &str,
    identifier: &str,
    expires: Duration,
    context: &str,
) -> String {
    format!(
        "<wse:SubscribeResponse><wse:SubscriptionManager><wsa:Address>{}</wsa:Address><wsa:ReferenceParameters><wse:Identifier>{}</wse:Identifier></wsa:ReferenceParameters></wse:SubscriptionManager><wse:Expires>{}</wse:Expires><wsen:EnumerationContext>{}</wsen:EnumerationContext></wse:SubscribeResponse>",
        escape(manager),
        escape(identifier),
        xs_duration(expires),
        escape(context)
    )
}

/// A RenewResponse with the new lifetime.
pub fn renew_response(expires: Duration) -> String {
    format!(
        "<wse:RenewResponse><wse:Expires>{}</wse:Expires></wse:RenewResponse>",
        xs_duration(expires)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_escapes() {
        assert_eq!(interval_text(100_000_000), "P0DT0H1M40S");
        assert_eq!(interval_text(90_061_500_000), "P1DT1H1M1.500000S");
        assert_eq!(escape("a\u{1}b<&\t"), "a?b&lt;&amp;\t");
        assert_eq!(xs_duration(Duration::from_millis(1500)), "PT1.500S");
    }
}
