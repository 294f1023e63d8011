//! Decoding a request envelope into a typed [`Request`].
//!
//! Headers are read by (namespace, local name), never by prefix. A header marked
//! `mustUnderstand` that this server does not know is a `s:MustUnderstand` fault; so is an
//! option marked `MustComply`. Everything a client sends that is a number or a duration is
//! range-checked here, before any work.

use crate::encode::Mode;
use crate::fault::{Fault, Subcode, detail};
use crate::ns::{self, action, dialect};
use crate::xml::{self, Node};
use linmgmt_cimxml::{Limits, TreeError};
use std::time::Duration;

/// The header fields a request may carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// `wsa:Action`.
    pub action: Option<String>,
    /// `wsa:MessageID`, exactly as sent (it comes back as `wsa:RelatesTo`).
    pub message_id: Option<String>,
    /// `wsa:To`.
    pub to: Option<String>,
    /// `wsman:ResourceURI`.
    pub resource_uri: Option<String>,
    /// `wsa:ReplyTo/wsa:Address`.
    pub reply_to: Option<String>,
    /// `wsman:MaxEnvelopeSize`, in bytes.
    pub max_envelope_size: Option<u32>,
    /// `wsman:OperationTimeout`.
    pub operation_timeout: Option<Duration>,
    /// `wsman:SelectorSet`.
    pub selectors: Vec<Selector>,
    /// `wsman:OptionSet`: (name, value).
    pub options: Vec<(String, String)>,
    /// `wse:Identifier` (Renew, Unsubscribe): the subscription.
    pub identifier: Option<String>,
}

/// A decoded request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The headers.
    pub header: Header,
    /// What it asks for.
    pub operation: Operation,
}

/// A request that is answered with a fault before any work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The MessageID, when it could be read (for `wsa:RelatesTo`).
    pub message_id: Option<String>,
    /// The fault.
    pub fault: Fault,
}

/// The operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `wsmid:Identify` (no `wsa:Action`).
    Identify,
    /// WS-Transfer Get of the instance the ResourceURI and SelectorSet name.
    Get,
    /// WS-Enumeration Enumerate.
    Enumerate(Enumerate),
    /// WS-Enumeration Pull (of an enumeration or of a pull-mode subscription).
    Pull(Pull),
    /// WS-Enumeration Release.
    Release {
        /// The enumeration context.
        context: String,
    },
    /// WS-Eventing Subscribe.
    Subscribe(Subscribe),
    /// WS-Eventing Renew of the subscription in [`Header::identifier`].
    Renew {
        /// The new lifetime.
        expires: Option<Duration>,
    },
    /// WS-Eventing Unsubscribe of the subscription in [`Header::identifier`].
    Unsubscribe,
}

/// An Enumerate body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enumerate {
    /// `wsman:OptimizeEnumeration`: the first items in the response.
    pub optimize: bool,
    /// `wsman:MaxElements` (with OptimizeEnumeration).
    pub max_elements: Option<u32>,
    /// `wsman:EnumerationMode`.
    pub mode: Mode,
    /// The filter.
    pub filter: Option<Filter>,
    /// `wsen:Expires` as a duration: how long the context may wait between pulls.
    pub expires: Option<Duration>,
}

/// A Pull body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pull {
    /// `wsen:EnumerationContext`.
    pub context: String,
    /// `wsen:MaxElements` (or `wsman:MaxElements`), at least 1.
    pub max_elements: Option<u32>,
    /// `wsen:MaxTime`: how long to wait for events.
    pub max_time: Option<Duration>,
    /// `wsen:MaxCharacters`.
    pub max_characters: Option<u32>,
}

/// A filter on an enumeration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// A WQL (or CQL) query.
    Query(String),
    /// Selectors the instances must match.
    Selectors(Vec<Selector>),
    /// Associators or references of an instance.
    Association(AssociationFilter),
}

/// `b:AssociatedInstances` or `b:AssociationInstances`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssociationFilter {
    /// Which of the two.
    pub kind: AssociationKind,
    /// `b:Object`: the source instance.
    pub object: Epr,
    /// `b:AssociationClassName`.
    pub association_class: Option<String>,
    /// `b:Role`.
    pub role: Option<String>,
    /// `b:ResultClassName`.
    pub result_class: Option<String>,
    /// `b:ResultRole`.
    pub result_role: Option<String>,
    /// `b:IncludeResultProperty`: the properties wanted (all when empty).
    pub include_result_property: Vec<String>,
}

/// Associators (`AssociatedInstances`) or references (`AssociationInstances`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssociationKind {
    /// The instances at the other end of associations.
    Associators,
    /// The association instances themselves.
    References,
}

/// An endpoint reference: a resource URI and selectors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Epr {
    /// `wsman:ResourceURI`.
    pub resource_uri: String,
    /// `wsman:SelectorSet`.
    pub selectors: Vec<Selector>,
}

/// One `wsman:Selector`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// Its `Name`.
    pub name: String,
    /// Its value.
    pub value: SelectorValue,
}

/// A selector's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectorValue {
    /// Text.
    Text(String),
    /// A nested `wsa:EndpointReference` (a reference key).
    Reference(Box<Epr>),
}

/// A Subscribe body (pull delivery).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe {
    /// The WQL event query.
    pub query: String,
    /// `wse:Expires` as a duration.
    pub expires: Option<Duration>,
}

/// The most bytes of one envelope a client may ask for; larger asks are served at this
/// size (a client's maximum is not a promise to fill it).
pub const MAX_ENVELOPE_SIZE: u32 = 16 * 1024 * 1024;
/// The least a client may ask for (DSP0226 R6.2-2: 8192).
pub const MIN_ENVELOPE_SIZE: u32 = 8192;
/// The longest duration accepted anywhere (timeouts, expiry): one day.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

fn sender(subcode: Subcode, reason: impl Into<String>) -> Fault {
    Fault::new(subcode, reason)
}

fn schema(reason: impl Into<String>) -> Fault {
    sender(Subcode::SchemaValidationError, reason)
}

/// Decodes a request body (UTF-8, or UTF-16 with a byte-order mark).
pub fn decode(body: &[u8], limits: &Limits) -> Result<Request, Rejected> {
    let reject = |fault| Rejected {
        message_id: None,
        fault,
    };
    let utf8;
    let bytes = match body {
        [0xFF, 0xFE, rest @ ..] | [0xFE, 0xFF, rest @ ..] => {
            let little = body[0] == 0xFF;
            if !rest.len().is_multiple_of(2) {
                return Err(reject(schema("UTF-16 body with an odd number of bytes")));
            }
            let units = rest.chunks_exact(2).map(|c| {
                if little {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            });
            utf8 = char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .map_err(|_| reject(schema("the UTF-16 body has an unpaired surrogate")))?;
            utf8.as_bytes()
        }
        _ => body,
    };
    let tree = linmgmt_cimxml::parse_tree(bytes, limits).map_err(|e| {
        reject(match e {
            TreeError::TooLarge(m) => Fault::new(Subcode::EncodingLimit, m),
            other => schema(other.to_string()),
        })
    })?;
    let root = xml::resolve(tree).map_err(|p| {
        reject(schema(format!(
            "namespace prefix {:?} is not declared",
            p.0
        )))
    })?;
    if !root.is(ns::SOAP, "Envelope") {
        return Err(reject(schema(format!(
            "the root element is {{{}}}{}, not a SOAP 1.2 Envelope",
            root.ns, root.local
        ))));
    }
    let head = root.child(ns::SOAP, "Header");
    let message_id = head
        .and_then(|h| h.child(ns::WSA, "MessageID"))
        .map(|m| m.text.clone());
    let with_id = |fault| Rejected {
        message_id: message_id.clone(),
        fault,
    };
    let header = match head {
        Some(h) => header(h).map_err(with_id)?,
        None => Header::default(),
    };
    let body = root
        .child(ns::SOAP, "Body")
        .ok_or_else(|| with_id(schema("the envelope has no Body")))?;
    let operation = operation(&header, body).map_err(with_id)?;
    if !matches!(operation, Operation::Identify) {
        if header.message_id.is_none() {
            return Err(with_id(sender(
                Subcode::MessageInformationHeaderRequired,
                "wsa:MessageID is required",
            )));
        }
        match header.reply_to.as_deref() {
            None => {
                return Err(with_id(sender(
                    Subcode::MessageInformationHeaderRequired,
                    "wsa:ReplyTo is required",
                )));
            }
            Some(a) if a.trim() != ns::ANONYMOUS => {
                return Err(with_id(
                    sender(
                        Subcode::UnsupportedFeature,
                        format!(
                            "replies go back on the connection; wsa:ReplyTo must be {}",
                            ns::ANONYMOUS
                        ),
                    )
                    .with_detail(detail::ADDRESSING_MODE),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(Request { header, operation })
}

/// The headers this server understands (a `mustUnderstand` on any other is a fault).
fn understood(n: &Node) -> bool {
    let known: &[(&str, &[&str])] = &[
        (
            ns::WSA,
            &[
                "Action",
                "To",
                "MessageID",
                "ReplyTo",
                "FaultTo",
                "From",
                "RelatesTo",
            ],
        ),
        (
            ns::WSMAN,
            &[
                "ResourceURI",
                "MaxEnvelopeSize",
                "OperationTimeout",
                "SelectorSet",
                "OptionSet",
                "Locale",
            ],
        ),
        (
            ns::WSMV,
            &["DataLocale", "SessionId", "OperationID", "SequenceId"],
        ),
        (ns::WSE, &["Identifier"]),
    ];
    known
        .iter()
        .any(|(ns, names)| n.ns == *ns && names.contains(&n.local.as_str()))
}

fn truthy(v: &str) -> bool {
    matches!(v.trim(), "true" | "1")
}

fn must_understand(n: &Node) -> bool {
    n.attrs
        .iter()
        .any(|(ns, l, v)| ns == crate::ns::SOAP && l == "mustUnderstand" && truthy(v))
}

fn header(h: &Node) -> Result<Header, Fault> {
    let mut out = Header::default();
    for n in &h.children {
        if !understood(n) {
            if must_understand(n) {
                return Err(Fault::new(
                    Subcode::MustUnderstand,
                    format!("header {{{}}}{} is not understood", n.ns, n.local),
                ));
            }
            continue;
        }
        match (n.ns.as_str(), n.local.as_str()) {
            (ns::WSA, "Action") => out.action = Some(n.trimmed().to_owned()),
            (ns::WSA, "MessageID") => out.message_id = Some(n.text.clone()),
            (ns::WSA, "To") => out.to = Some(n.trimmed().to_owned()),
            (ns::WSA, "ReplyTo") => {
                let address = n.child(ns::WSA, "Address").ok_or_else(|| {
                    sender(
                        Subcode::InvalidMessageInformationHeader,
                        "wsa:ReplyTo has no wsa:Address",
                    )
                })?;
                out.reply_to = Some(address.trimmed().to_owned());
            }
            (ns::WSMAN, "ResourceURI") => out.resource_uri = Some(n.trimmed().to_owned()),
            (ns::WSMAN, "MaxEnvelopeSize") => {
                let size: u64 = n.trimmed().parse().map_err(|_| {
                    sender(
                        Subcode::InvalidMessageInformationHeader,
                        format!("MaxEnvelopeSize {:?} is not a number of bytes", n.trimmed()),
                    )
                })?;
                if size < u64::from(MIN_ENVELOPE_SIZE) {
                    return Err(Fault::new(
                        Subcode::EncodingLimit,
                        format!(
                            "MaxEnvelopeSize {size} is under the minimum of {MIN_ENVELOPE_SIZE}"
                        ),
                    )
                    .with_detail(detail::MAX_ENVELOPE_SIZE));
                }
                out.max_envelope_size = Some(
                    u32::try_from(size)
                        .unwrap_or(u32::MAX)
                        .min(MAX_ENVELOPE_SIZE),
                );
            }
            (ns::WSMAN, "OperationTimeout") => {
                out.operation_timeout =
                    Some(duration(n, "OperationTimeout").map_err(|f| Fault {
                        subcode: Subcode::InvalidMessageInformationHeader,
                        detail: Some(detail::OPERATION_TIMEOUT),
                        ..f
                    })?);
            }
            (ns::WSMAN, "SelectorSet") => out.selectors = selectors(n)?,
            (ns::WSMAN, "OptionSet") => {
                for o in n.children.iter().filter(|c| c.is(ns::WSMAN, "Option")) {
                    let name = o.attr("Name").unwrap_or("").to_owned();
                    let known = KNOWN_OPTIONS.iter().any(|k| k.eq_ignore_ascii_case(&name));
                    if !known && o.attr("MustComply").is_some_and(truthy) {
                        return Err(sender(
                            Subcode::InvalidOptions,
                            format!("option {name:?} is not supported"),
                        )
                        .with_detail(detail::NOT_SUPPORTED));
                    }
                    out.options.push((name, o.trimmed().to_owned()));
                }
            }
            (ns::WSE, "Identifier") => out.identifier = Some(n.trimmed().to_owned()),
            _ => {}
        }
    }
    Ok(out)
}

/// Options a client may insist on: arrays are always precise here, and the CIM cmdlets'
/// options only shape what the server would do anyway.
const KNOWN_OPTIONS: &[&str] = &["UsePreciseArrays", "msftwinrm:UsePreciseArrays"];

fn selectors(set: &Node) -> Result<Vec<Selector>, Fault> {
    let mut out = Vec::new();
    for s in set.children.iter().filter(|c| c.is(ns::WSMAN, "Selector")) {
        let name = s.attr("Name").unwrap_or("").trim().to_owned();
        if name.is_empty() {
            return Err(sender(
                Subcode::InvalidSelectors,
                "a selector without a Name",
            ));
        }
        if out
            .iter()
            .any(|o: &Selector| o.name.eq_ignore_ascii_case(&name))
        {
            return Err(sender(
                Subcode::InvalidSelectors,
                format!("selector {name} is given twice"),
            ));
        }
        let value = match s.child(ns::WSA, "EndpointReference") {
            Some(epr) => SelectorValue::Reference(Box::new(endpoint(epr)?)),
            None => SelectorValue::Text(s.text.clone()),
        };
        out.push(Selector { name, value });
    }
    Ok(out)
}

/// An EPR's resource URI and selectors (`wsa:ReferenceParameters`, or the older
/// `wsa:ReferenceProperties`).
fn endpoint(epr: &Node) -> Result<Epr, Fault> {
    let params = epr
        .child(ns::WSA, "ReferenceParameters")
        .or_else(|| epr.child(ns::WSA, "ReferenceProperties"))
        .ok_or_else(|| {
            sender(
                Subcode::InvalidSelectors,
                "an endpoint reference without ReferenceParameters",
            )
        })?;
    let resource_uri = params
        .child(ns::WSMAN, "ResourceURI")
        .map(|r| r.trimmed().to_owned())
        .unwrap_or_default();
    let selectors = match params.child(ns::WSMAN, "SelectorSet") {
        Some(s) => selectors(s)?,
        None => Vec::new(),
    };
    Ok(Epr {
        resource_uri,
        selectors,
    })
}

fn duration(n: &Node, what: &str) -> Result<Duration, Fault> {
    parse_duration(n.trimmed()).ok_or_else(|| {
        schema(format!(
            "{what} {:?} is not a duration (PnDTnHnMnS) of at most one day",
            n.trimmed()
        ))
    })
}

/// Parses an `xs:duration` without years or months (`PT60S`, `PT60.000S`, `P1DT2H`), up
/// to one day; `None` otherwise.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut nanos: u128 = 0;
    let mut any = false;
    // (text, allowed units with their length in seconds)
    let parts: [(&str, &[(char, u128)]); 2] = [
        (date, &[('D', 86_400)]),
        (time.unwrap_or(""), &[('H', 3600), ('M', 60), ('S', 1)]),
    ];
    if time == Some("") {
        return None;
    }
    for (mut part, units) in parts {
        let mut next_unit = 0;
        while !part.is_empty() {
            let end = part.find(|c: char| !c.is_ascii_digit() && c != '.')?;
            let (number, tail) = part.split_at(end);
            let unit = tail.chars().next()?;
            let at = units[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
            next_unit = at + 1;
            let scale = units[at].1;
            let (whole, fraction) = match number.split_once('.') {
                Some((w, f)) if unit == 'S' && !f.is_empty() && f.len() <= 9 => (w, f),
                Some(_) => return None,
                None => (number, ""),
            };
            if whole.is_empty() || whole.len() > 12 {
                return None;
            }
            let whole: u128 = whole.parse().ok()?;
            let frac: u128 = if fraction.is_empty() {
                0
            } else {
                fraction.parse::<u128>().ok()? * 10u128.pow(9 - fraction.len() as u32)
            };
            nanos += whole * scale * 1_000_000_000 + frac;
            any = true;
            part = &tail[1..];
        }
    }
    let d = Duration::from_nanos(u64::try_from(nanos).ok()?);
    (any && d <= MAX_DURATION).then_some(d)
}

fn number(n: &Node, what: &str) -> Result<u32, Fault> {
    match n.trimmed().parse::<u32>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(schema(format!(
            "{what} {:?} is not a number from 1 to {}",
            n.trimmed(),
            u32::MAX
        ))),
    }
}

fn operation(header: &Header, body: &Node) -> Result<Operation, Fault> {
    let first = body.children.first();
    let Some(act) = header.action.as_deref() else {
        return match first {
            Some(n) if n.is(ns::WSMID, "Identify") => Ok(Operation::Identify),
            _ => Err(sender(
                Subcode::MessageInformationHeaderRequired,
                "wsa:Action is required (only Identify is sent without one)",
            )),
        };
    };
    let element = |ns: &str, local: &str| {
        body.child(ns, local)
            .ok_or_else(|| schema(format!("the Body of {act} must hold {{{ns}}}{local}")))
    };
    match act {
        action::GET => Ok(Operation::Get),
        action::ENUMERATE => enumerate(element(ns::WSEN, "Enumerate")?),
        action::PULL => pull(element(ns::WSEN, "Pull")?),
        action::RELEASE => Ok(Operation::Release {
            context: context(element(ns::WSEN, "Release")?)?,
        }),
        action::SUBSCRIBE => subscribe(element(ns::WSE, "Subscribe")?),
        action::RENEW => {
            let renew = element(ns::WSE, "Renew")?;
            Ok(Operation::Renew {
                expires: expires(
                    renew.child(ns::WSE, "Expires"),
                    Subcode::InvalidExpirationTime,
                )?,
            })
        }
        action::UNSUBSCRIBE => Ok(Operation::Unsubscribe),
        other => Err(sender(
            Subcode::ActionNotSupported,
            format!(
                "{other} is not supported: this endpoint reads (Get, Enumerate, Pull, Release, \
                 Subscribe, Renew, Unsubscribe, Identify); it writes nothing, runs no methods \
                 and has no shells"
            ),
        )),
    }
}

fn context(n: &Node) -> Result<String, Fault> {
    let ctx = n
        .child(ns::WSEN, "EnumerationContext")
        .map(|c| c.trimmed().to_owned())
        .unwrap_or_default();
    if ctx.is_empty() {
        return Err(sender(
            Subcode::InvalidEnumerationContext,
            "no wsen:EnumerationContext",
        ));
    }
    Ok(ctx)
}

fn expires(n: Option<&Node>, bad: Subcode) -> Result<Option<Duration>, Fault> {
    let Some(n) = n else { return Ok(None) };
    if !n.trimmed().starts_with('P') {
        let subcode = if bad == Subcode::InvalidExpirationTime {
            Subcode::UnsupportedExpirationType
        } else {
            bad
        };
        return Err(sender(
            subcode,
            format!(
                "Expires {:?}: only a duration (PnDTnHnMnS) is supported",
                n.trimmed()
            ),
        ));
    }
    let d = parse_duration(n.trimmed())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            sender(
                bad,
                format!(
                    "Expires {:?} is not a duration of more than 0 and at most one day",
                    n.trimmed()
                ),
            )
        })?;
    Ok(Some(d))
}

fn enumerate(e: &Node) -> Result<Operation, Fault> {
    let mut out = Enumerate {
        optimize: false,
        max_elements: None,
        mode: Mode::Object,
        filter: None,
        expires: expires(e.child(ns::WSEN, "Expires"), Subcode::InvalidExpirationTime)?,
    };
    for c in &e.children {
        match (c.ns.as_str(), c.local.as_str()) {
            (ns::WSMAN, "OptimizeEnumeration") => out.optimize = true,
            (ns::WSMAN, "MaxElements") => out.max_elements = Some(number(c, "MaxElements")?),
            (ns::WSMAN, "EnumerationMode") => {
                out.mode = match c.trimmed() {
                    "EnumerateEPR" => Mode::Epr,
                    "EnumerateObjectAndEPR" => Mode::ObjectAndEpr,
                    other => {
                        return Err(sender(
                            Subcode::UnsupportedFeature,
                            format!(
                                "EnumerationMode {other:?}: EnumerateEPR or EnumerateObjectAndEPR"
                            ),
                        ));
                    }
                }
            }
            (ns::WSMAN | ns::WSEN, "Filter") => out.filter = Some(filter(c)?),
            (ns::WSEN, "EndTo") => {
                return Err(
                    sender(Subcode::UnsupportedFeature, "wsen:EndTo is not supported")
                        .with_detail(detail::ADDRESSING_MODE),
                );
            }
            _ => {}
        }
    }
    Ok(Operation::Enumerate(out))
}

fn filter(f: &Node) -> Result<Filter, Fault> {
    // Without a Dialect, a text filter is taken as WQL, the only text dialect here.
    let d = f.attr("Dialect").map(str::trim).unwrap_or(dialect::WQL);
    if d.eq_ignore_ascii_case(dialect::WQL) || d.eq_ignore_ascii_case(dialect::CQL) {
        let text = f.trimmed();
        if text.is_empty() {
            return Err(sender(Subcode::CannotProcessFilter, "the filter is empty")
                .with_detail(detail::FILTER_SYNTAX));
        }
        return Ok(Filter::Query(text.to_owned()));
    }
    if d == dialect::SELECTOR {
        let set = f.child(ns::WSMAN, "SelectorSet").ok_or_else(|| {
            sender(
                Subcode::CannotProcessFilter,
                "a SelectorFilter without a SelectorSet",
            )
        })?;
        return Ok(Filter::Selectors(selectors(set)?));
    }
    if d == dialect::ASSOCIATION {
        let (kind, a) = if let Some(a) = f.child(ns::WSMB, "AssociatedInstances") {
            (AssociationKind::Associators, a)
        } else if let Some(a) = f.child(ns::WSMB, "AssociationInstances") {
            (AssociationKind::References, a)
        } else {
            return Err(sender(
                Subcode::CannotProcessFilter,
                "an association filter holds b:AssociatedInstances or b:AssociationInstances",
            ));
        };
        let object = a.child(ns::WSMB, "Object").ok_or_else(|| {
            sender(
                Subcode::CannotProcessFilter,
                "the association filter has no b:Object",
            )
        })?;
        let text = |name: &str| -> Option<String> {
            a.child(ns::WSMB, name)
                .map(|n| n.trimmed().to_owned())
                .filter(|s| !s.is_empty())
        };
        let include_result_property = a
            .children
            .iter()
            .filter(|c| c.is(ns::WSMB, "IncludeResultProperty"))
            .map(|c| c.trimmed().to_owned())
            .collect();
        return Ok(Filter::Association(AssociationFilter {
            kind,
            object: endpoint(object)?,
            association_class: text("AssociationClassName"),
            role: text("Role"),
            result_class: text("ResultClassName"),
            result_role: text("ResultRole"),
            include_result_property,
        }));
    }
    Err(sender(
        Subcode::FilterDialectRequestedUnavailable,
        format!(
            "filter dialect {d:?}: WQL, CQL, SelectorFilter and associationFilter are supported"
        ),
    ))
}

fn pull(p: &Node) -> Result<Operation, Fault> {
    let max_elements = match p.child_in(&[ns::WSEN, ns::WSMAN], "MaxElements") {
        Some(n) => Some(number(n, "MaxElements")?),
        None => None,
    };
    let max_characters = match p.child(ns::WSEN, "MaxCharacters") {
        Some(n) => Some(number(n, "MaxCharacters")?),
        None => None,
    };
    let max_time = match p.child(ns::WSEN, "MaxTime") {
        Some(n) => Some(duration(n, "MaxTime")?),
        None => None,
    };
    Ok(Operation::Pull(Pull {
        context: context(p)?,
        max_elements,
        max_time,
        max_characters,
    }))
}

fn subscribe(s: &Node) -> Result<Operation, Fault> {
    let delivery = s.child(ns::WSE, "Delivery");
    let mode = delivery.and_then(|d| d.attr("Mode")).map(str::trim);
    const PULL_MODE: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull";
    if mode != Some(PULL_MODE) {
        return Err(sender(
            Subcode::DeliveryModeRequestedUnavailable,
            format!(
                "delivery mode {}: only pull delivery ({PULL_MODE}) is offered; the server \
                 never connects out to a client",
                mode.unwrap_or("(push, the default)")
            ),
        ));
    }
    let f = s.child_in(&[ns::WSMAN, ns::WSE], "Filter").ok_or_else(|| {
        sender(
            Subcode::CannotProcessFilter,
            "Subscribe needs a WQL event filter",
        )
    })?;
    let query = match filter(f)? {
        Filter::Query(q) => q,
        _ => {
            return Err(sender(
                Subcode::FilterDialectRequestedUnavailable,
                "an event subscription's filter is a WQL event query",
            ));
        }
    };
    Ok(Operation::Subscribe(Subscribe {
        query,
        expires: expires(s.child(ns::WSE, "Expires"), Subcode::InvalidExpirationTime)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = [
            ("PT60S", 60_000),
            ("PT60.000S", 60_000),
            ("PT0.5S", 500),
            ("P0DT0H1M40S", 100_000),
            ("PT1H", 3_600_000),
            ("P1D", 86_400_000),
        ];
        for (text, ms) in ok {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for bad in [
            "",
            "P",
            "PT",
            "60",
            "PT60",
            "PTS",
            "P1Y",
            "P1M",
            "PT1S1M",
            "PT1.S",
            "PT.5S",
            "PT1.5M",
            "P2D",
            "PT99999999999999S",
            "PT-1S",
            "PT1.1234567890S",
            "P1DT",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
