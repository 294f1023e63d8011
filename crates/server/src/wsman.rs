//! The WS-Management front end: `POST /wsman` on the WS-Man listeners (5985/5986 by
//! convention). It authenticates like every request (HTTP Basic, the same users file,
//! roles and throttle), decodes the envelope with `linmgmt-wsman`, runs the operations of
//! [`crate::ops`] within the request's deadline and its user's share of the threads, and
//! encodes the typed results with `linmgmt-wsman`.
//!
//! - Identify is answered without credentials (then without the product version, as
//!   Windows does); nothing else is decoded for a client that has not authenticated, and
//!   an anonymous body is read only up to the size of an Identify.
//! - Enumerations share the contexts (and their per-user limits) of CIM-XML's pull
//!   operations; their items are encoded once, in the enumeration mode asked for, and
//!   paged by count and by the client's MaxEnvelopeSize.
//! - Event subscriptions (WS-Eventing, pull delivery) share the event hub and stream
//!   limits of `GET …/events` ([`crate::subscriptions`]).
//! - Every failure is a SOAP fault with HTTP 500 whose `wsa:RelatesTo` is the request's
//!   MessageID, byte for byte.

use crate::State;
use crate::ops::{self, Found, LooseKey, LooseName, OpError, Source};
use crate::pull::{ContextError, PageSize, Refusal, Shape, new_id};
use crate::request::{
    Auth, LogLine, Reply, authenticate, contains_ignore_case, header, on_engine, read_body, turn,
};
use crate::streams::StreamError;
use crate::subscriptions::Subscription;
use crate::users::Identity;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use linmgmt_cim::{Instance, WbemStatus};
use linmgmt_engine::Engine;
use linmgmt_wsman::{
    AssociationKind, Epr, Fault, Filter, Header, InstanceStyle, Operation, ResourceUri, Selector,
    SelectorValue, Subcode, UriStyle, detail, encode, ns::action,
};
use std::sync::Arc;
use std::time::Instant;

/// The Basic realm WinRM clients expect.
const REALM: &str = "WSMAN";
/// The largest body read from a client without credentials: room for an Identify.
const ANONYMOUS_BODY: usize = 4096;
/// The envelope size when the client names none (pywinrm and pypsrp send 153600).
const DEFAULT_ENVELOPE: usize = 512_000;
/// The namespace when neither the resource URI nor `__cimnamespace` names one.
const DEFAULT_NAMESPACE: &str = "root/cimv2";
/// Bodies up to this size are decoded on the async thread; larger ones on a blocking one.
const INLINE_DECODE: usize = 64 * 1024;

/// Whether a request is for the WS-Management endpoint.
pub(crate) fn is_wsman_path(path: &str) -> bool {
    path.trim_end_matches('/').eq_ignore_ascii_case("/wsman")
}

/// A fresh message id, `uuid:` and a random UUID (version 4 layout).
fn message_id() -> String {
    let hex = new_id().to_uppercase();
    format!(
        "uuid:{}-{}-4{}-A{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// A SOAP answer.
fn soap(status: StatusCode, envelope: String, outcome: &str) -> Reply {
    Reply {
        status,
        headers: vec![("content-type", "application/soap+xml;charset=UTF-8".into())],
        body: Bytes::from(envelope),
        cim: outcome.to_owned(),
        warnings: 0,
    }
}

/// The answer to a fault: HTTP 500, as WinRM clients expect.
fn fault_reply(state: &State, fault: &Fault, relates_to: Option<&str>) -> Reply {
    let machine = &state.snapshots.parts().context.server;
    let envelope = encode::fault(fault, &message_id(), relates_to, machine);
    let outcome = fault.subcode.qname().0;
    soap(StatusCode::INTERNAL_SERVER_ERROR, envelope, outcome)
}

/// A successful answer.
fn answer(action: &str, relates_to: Option<&str>, body: &str) -> Reply {
    soap(
        StatusCode::OK,
        encode::envelope(action, &message_id(), relates_to, body),
        "0",
    )
}

impl From<OpError> for Fault {
    fn from(e: OpError) -> Fault {
        Fault::from_wmi(e.status, e.message)
    }
}

impl From<ContextError> for Fault {
    fn from(e: ContextError) -> Fault {
        match e.kind {
            Refusal::Invalid | Refusal::Shape => {
                Fault::new(Subcode::InvalidEnumerationContext, e.message)
            }
            Refusal::Limits => Fault::new(Subcode::QuotaLimit, e.message)
                .with_detail(detail::MAX_ENUMERATION_CONTEXTS)
                .with_wmi(WbemStatus::QuotaViolation),
            Refusal::Timeout => Fault::new(Subcode::InvalidExpirationTime, e.message),
            Refusal::TooLarge => {
                Fault::new(Subcode::EncodingLimit, e.message).with_detail(detail::MAX_ENVELOPE_SIZE)
            }
        }
    }
}

/// Handles one request to `/wsman`.
pub(crate) async fn respond(
    state: &Arc<State>,
    req: Request<Incoming>,
    log: &mut LogLine,
) -> Reply {
    log.method = "wsman".to_owned();
    if req.method() != Method::POST {
        let mut r = Reply::plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "WS-Management requests are POSTed",
        );
        r.headers.push(("allow", "POST".into()));
        return r;
    }
    if let Some(ct) = header(req.headers(), CONTENT_TYPE.as_str()) {
        let mime = ct.split(';').next().unwrap_or("").trim();
        let ok = ["application/soap+xml", "application/xml", "text/xml"]
            .iter()
            .any(|m| mime.eq_ignore_ascii_case(m));
        if !ok {
            return Reply::plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/soap+xml",
            );
        }
    }
    let identity = if req.headers().contains_key(AUTHORIZATION) {
        match authenticate(state, req.headers(), log.peer).await {
            Auth::Ok(id) => Some(id),
            refused => return Reply::unauthenticated(REALM, refused, false),
        }
    } else {
        None
    };
    let Some(identity) = identity else {
        return anonymous(state, req).await;
    };
    log.user = identity.name.clone();
    let body = match read_body(state, req).await {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let deadline = Instant::now() + state.config.http.request_timeout;
    let limits = state.config.xml;
    let decoded = if body.len() <= INLINE_DECODE {
        linmgmt_wsman::decode(&body, &limits)
    } else {
        // Decoding a large body is work like any other: the user's turn, on a blocking thread.
        let turn = match turn(state, &identity.name, deadline).await {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        let b = body.clone();
        match tokio::task::spawn_blocking(move || {
            let _turn = turn;
            linmgmt_wsman::decode(&b, &limits)
        })
        .await
        {
            Ok(d) => d,
            Err(_) => return Reply::plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        }
    };
    let request = match decoded {
        Ok(r) => r,
        Err(rejected) => {
            return fault_reply(state, &rejected.fault, rejected.message_id.as_deref());
        }
    };
    log.method = operation_name(&request.operation).to_owned();
    let relates = request.header.message_id.clone();
    let deep = contains_ignore_case(&body, b"serversession");
    let result = dispatch(state, &identity, request, deep, deadline, log).await;
    match result {
        Ok(Done::Reply(r)) => r,
        Ok(Done::Body(act, body, warnings)) => {
            let mut r = answer(act, relates.as_deref(), &body);
            r.warnings = warnings;
            r
        }
        Err(Failed::Fault(f)) => fault_reply(state, &f, relates.as_deref()),
        Err(Failed::Http(r)) => r,
    }
}

/// A client without credentials: Identify (without the version), or 401.
async fn anonymous(state: &Arc<State>, req: Request<Incoming>) -> Reply {
    let refused = || Reply::unauthenticated(REALM, Auth::Refused, false);
    let small = header(req.headers(), CONTENT_LENGTH.as_str())
        .and_then(|l| l.parse::<usize>().ok())
        .is_some_and(|l| l <= ANONYMOUS_BODY);
    if !small {
        return refused();
    }
    let Ok(body) = read_body(state, req).await else {
        return refused();
    };
    if body.len() > ANONYMOUS_BODY {
        return refused();
    }
    match linmgmt_wsman::decode(&body, &state.config.xml) {
        Ok(r) if r.operation == Operation::Identify => identify(None),
        _ => refused(),
    }
}

fn identify(version: Option<&str>) -> Reply {
    let body = encode::identify("linmgmt", version);
    soap(
        StatusCode::OK,
        format!(
            r#"<s:Envelope xmlns:s="{}"><s:Header/><s:Body>{body}</s:Body></s:Envelope>"#,
            linmgmt_wsman::ns::SOAP
        ),
        "0",
    )
}

fn operation_name(op: &Operation) -> &'static str {
    match op {
        Operation::Identify => "wsman:Identify",
        Operation::Get => "wsman:Get",
        Operation::Enumerate(_) => "wsman:Enumerate",
        Operation::Pull(_) => "wsman:Pull",
        Operation::Release { .. } => "wsman:Release",
        Operation::Subscribe(_) => "wsman:Subscribe",
        Operation::Renew { .. } => "wsman:Renew",
        Operation::Unsubscribe => "wsman:Unsubscribe",
    }
}

/// What an operation produced.
enum Done {
    /// A response body with its action, and the warnings of partial results.
    Body(&'static str, String, usize),
    /// A whole reply (Identify).
    Reply(Reply),
}

/// How an operation failed.
enum Failed {
    Fault(Fault),
    /// An HTTP-level refusal (busy, out of time).
    Http(Reply),
}

impl From<Fault> for Failed {
    fn from(f: Fault) -> Failed {
        Failed::Fault(f)
    }
}

impl From<ContextError> for Failed {
    fn from(e: ContextError) -> Failed {
        Failed::Fault(e.into())
    }
}

impl From<StreamError> for Failed {
    fn from(e: StreamError) -> Failed {
        Failed::Fault(match e {
            StreamError::NoHub(m) => Fault::new(Subcode::EventSourceUnableToProcess, m)
                .with_wmi(WbemStatus::NotSupported),
            StreamError::Query(e) => Fault::from_wmi(e.status, e.message),
            StreamError::Limit(m) => {
                Fault::new(Subcode::QuotaLimit, m).with_wmi(WbemStatus::QuotaViolation)
            }
            StreamError::Busy(reply) => return Failed::Http(reply),
            StreamError::Baseline(e) => {
                Fault::new(Subcode::EventSourceUnableToProcess, e.message).with_wmi(e.status)
            }
        })
    }
}

/// Where a request points: namespace, class (`None` for `*`), URI family, and the
/// selectors other than `__cimnamespace`.
struct Target {
    namespace: String,
    class: Option<String>,
    style: UriStyle,
    selectors: Vec<Selector>,
}

fn unreachable(uri: &str) -> Fault {
    Fault::new(
        Subcode::DestinationUnreachable,
        format!(
            "resource URI {uri:?}: expected http://schemas.microsoft.com/wbem/wsman/1/wmi/<namespace>/<Class> \
             or http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/<Class>"
        ),
    )
    .with_detail(detail::INVALID_RESOURCE_URI)
    .with_wmi(WbemStatus::InvalidClass)
}

/// The namespace from `__cimnamespace`, and the other selectors.
fn split_namespace(selectors: &[Selector]) -> Result<(Option<String>, Vec<Selector>), Fault> {
    let mut namespace = None;
    let mut rest = Vec::new();
    for s in selectors {
        if s.name.eq_ignore_ascii_case("__cimnamespace") {
            match &s.value {
                SelectorValue::Text(t) => namespace = Some(t.trim().trim_matches('/').to_owned()),
                SelectorValue::Reference(_) => {
                    return Err(Fault::new(
                        Subcode::InvalidSelectors,
                        "__cimnamespace is a namespace name, not a reference",
                    ));
                }
            }
        } else {
            rest.push(s.clone());
        }
    }
    Ok((namespace, rest))
}

fn target(uri: Option<&str>, selectors: &[Selector]) -> Result<Target, Fault> {
    let uri = uri.ok_or_else(|| {
        Fault::new(
            Subcode::DestinationUnreachable,
            "wsman:ResourceURI is required",
        )
        .with_detail(detail::INVALID_RESOURCE_URI)
    })?;
    let parsed = ResourceUri::parse(uri).ok_or_else(|| unreachable(uri))?;
    let (selected, selectors) = split_namespace(selectors)?;
    let namespace = parsed
        .namespace
        .or(selected)
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    Ok(Target {
        namespace,
        class: parsed.class,
        style: parsed.style,
        selectors,
    })
}

/// An instance name from selectors (reference selectors become nested names).
fn loose_name(class: &str, namespace: &str, selectors: &[Selector]) -> Result<LooseName, Fault> {
    let mut keys = Vec::with_capacity(selectors.len());
    for s in selectors {
        let value = match &s.value {
            SelectorValue::Text(t) => LooseKey::Text(t.clone()),
            SelectorValue::Reference(epr) => LooseKey::Reference(epr_name(epr, namespace)?.1),
        };
        keys.push((s.name.clone(), value));
    }
    Ok(LooseName {
        namespace: Some(namespace.to_owned()),
        class: class.to_owned(),
        keys,
    })
}

/// The namespace and instance name an endpoint reference points to.
fn epr_name(epr: &Epr, default_namespace: &str) -> Result<(String, LooseName), Fault> {
    let parsed =
        ResourceUri::parse(&epr.resource_uri).ok_or_else(|| unreachable(&epr.resource_uri))?;
    let class = parsed.class.ok_or_else(|| {
        Fault::new(
            Subcode::InvalidSelectors,
            "an endpoint reference names a class, not *",
        )
    })?;
    let (selected, selectors) = split_namespace(&epr.selectors)?;
    let namespace = parsed
        .namespace
        .or(selected)
        .unwrap_or_else(|| default_namespace.to_owned());
    let name = loose_name(&class, &namespace, &selectors)?;
    Ok((namespace, name))
}

/// Every key of the class has a selector, and every selector is a key.
fn check_selectors(
    engine: &Engine,
    namespace: &str,
    class: &str,
    selectors: &[Selector],
) -> Result<(), Fault> {
    let def = engine.class(namespace, class).map_err(OpError::from)?;
    for s in selectors {
        if !def.keys().any(|k| k.name.is(&s.name)) {
            return Err(Fault::new(
                Subcode::InvalidSelectors,
                format!("{} is not a key of {}", s.name, def.name),
            )
            .with_detail(detail::UNEXPECTED_SELECTORS)
            .with_wmi(WbemStatus::InvalidParameter));
        }
    }
    for k in def.keys() {
        if !selectors.iter().any(|s| k.name.is(&s.name)) {
            return Err(Fault::new(
                Subcode::InvalidSelectors,
                format!("the selector {} (a key of {}) is missing", k.name, def.name),
            )
            .with_detail(detail::INSUFFICIENT_SELECTORS)
            .with_wmi(WbemStatus::InvalidParameter));
        }
    }
    Ok(())
}

/// How many bytes of items fit in one response envelope.
fn item_budget(header: &Header) -> usize {
    let envelope = header
        .max_envelope_size
        .map_or(DEFAULT_ENVELOPE, |s| s as usize);
    // The envelope around the items: headers, a context id, the end-of-sequence marker.
    let frame = encode::envelope(
        action::ENUMERATE_RESPONSE,
        &message_id(),
        header.message_id.as_deref(),
        &encode::enumerate_response(&"0".repeat(32), Some((&[], true))),
    )
    .len()
        + 64;
    envelope.saturating_sub(frame).max(1)
}

async fn dispatch(
    state: &Arc<State>,
    identity: &Identity,
    request: linmgmt_wsman::Request,
    deep: bool,
    deadline: Instant,
    log: &mut LogLine,
) -> Result<Done, Failed> {
    let header = request.header;
    match request.operation {
        Operation::Identify => Ok(Done::Reply(identify(Some(env!("CARGO_PKG_VERSION"))))),
        Operation::Get | Operation::Enumerate(_) => {
            let t = target(header.resource_uri.as_deref(), &header.selectors)?;
            log.namespace = t.namespace.clone();
            // The client's OperationTimeout shortens the server's deadline, never lengthens it.
            let deadline = header
                .operation_timeout
                .map_or(deadline, |d| deadline.min(Instant::now() + d));
            let turn = turn(state, &identity.name, deadline)
                .await
                .map_err(Failed::Http)?;
            let st = state.clone();
            let op = request.operation;
            let outcome = on_engine(
                state,
                identity,
                deep,
                deadline,
                turn,
                &log.method,
                move |engine, who| {
                    let mut warnings = 0;
                    let result = match op {
                        Operation::Enumerate(e) => {
                            enumerate(&st, engine, who, &t, &header, e, &mut warnings)
                        }
                        _ => get(engine, &t, &header, &mut warnings),
                    };
                    result.map(|(act, body)| Done::Body(act, body, warnings))
                },
            )
            .await
            .map_err(Failed::Http)?;
            outcome.map_err(Failed::Fault)
        }
        Operation::Pull(p) => {
            let count = p
                .max_elements
                .unwrap_or(1)
                .min(state.enumerations.limits().max_page) as usize;
            let envelope = item_budget(&header);
            let budget = p
                .max_characters
                .map_or(envelope, |c| (c as usize).min(envelope));
            if let Some(sub) = state.subscriptions.get(&identity.name, &p.context) {
                let wait = p
                    .max_time
                    .or(header.operation_timeout)
                    .unwrap_or(crate::subscriptions::DEFAULT_WAIT);
                let mut stop = state.shutdown.subscribe();
                let items = sub
                    .pull(count, budget, wait, &mut stop)
                    .await
                    .map_err(Failed::Fault)?;
                return Ok(Done::Body(
                    action::PULL_RESPONSE,
                    encode::pull_response(&p.context, &items, false),
                    0,
                ));
            }
            let page = state.enumerations.pull(
                &identity.name,
                &p.context,
                Shape::WsMan,
                PageSize {
                    count,
                    bytes: Some(budget),
                },
            )?;
            Ok(Done::Body(
                action::PULL_RESPONSE,
                encode::pull_response(&page.context, &page.items, page.end_of_sequence),
                0,
            ))
        }
        Operation::Release { context } => {
            state.enumerations.close(&identity.name, &context)?;
            Ok(Done::Body(action::RELEASE_RESPONSE, String::new(), 0))
        }
        Operation::Subscribe(s) => {
            let t = target(header.resource_uri.as_deref(), &header.selectors)?;
            log.namespace = t.namespace.clone();
            let sub = Subscription::open(
                state,
                identity,
                log.peer,
                &t.namespace,
                t.style,
                &s.query,
                s.expires,
            )
            .await?;
            let manager = header
                .to
                .clone()
                .unwrap_or_else(|| linmgmt_wsman::ns::ANONYMOUS.to_owned());
            Ok(Done::Body(
                action::SUBSCRIBE_RESPONSE,
                encode::subscribe_response(&manager, &sub.id, sub.lifetime, &sub.id),
                sub.warnings,
            ))
        }
        Operation::Renew { expires } => {
            let id = subscription_id(&header)?;
            let lifetime = state.subscriptions.renew(&identity.name, id, expires)?;
            Ok(Done::Body(
                action::RENEW_RESPONSE,
                encode::renew_response(lifetime),
                0,
            ))
        }
        Operation::Unsubscribe => {
            let id = subscription_id(&header)?;
            state.subscriptions.close(&identity.name, id)?;
            Ok(Done::Body(action::UNSUBSCRIBE_RESPONSE, String::new(), 0))
        }
    }
}

fn subscription_id(header: &Header) -> Result<&str, Fault> {
    header.identifier.as_deref().ok_or_else(|| {
        Fault::new(
            Subcode::InvalidMessageInformationHeader,
            "wse:Identifier (from the SubscribeResponse's SubscriptionManager) is required",
        )
    })
}

fn get(
    engine: &Engine,
    t: &Target,
    header: &Header,
    warnings: &mut usize,
) -> Result<(&'static str, String), Fault> {
    let class = t.class.as_deref().ok_or_else(|| {
        Fault::new(
            Subcode::DestinationUnreachable,
            "Get needs the resource URI of a class, with selectors for its keys",
        )
        .with_detail(detail::INVALID_RESOURCE_URI)
    })?;
    ops::namespace(engine, &t.namespace)?;
    check_selectors(engine, &t.namespace, class, &t.selectors)?;
    let name = loose_name(class, &t.namespace, &t.selectors)?;
    let path = ops::instance_path(engine, &t.namespace, &name)?;
    let instance = ops::get(engine, &t.namespace, &path, warnings)?;
    let style = InstanceStyle {
        uri: t.style,
        namespace: &instance.class().namespace,
        properties: None,
    };
    let body = encode::instance(&instance, &style);
    let budget = item_budget(header);
    if body.len() > budget {
        return Err(Fault::new(
            Subcode::EncodingLimit,
            format!(
                "the instance takes {} bytes, more than the {budget} the envelope has room for",
                body.len()
            ),
        )
        .with_detail(detail::MAX_ENVELOPE_SIZE));
    }
    Ok((action::GET_RESPONSE, body))
}

/// Whether an instance matches a SelectorFilter: each selector names a property whose
/// value reads the same.
fn matches(instance: &Instance, selectors: &[Selector]) -> bool {
    selectors
        .iter()
        .all(|s| match (&s.value, instance.get(&s.name)) {
            (SelectorValue::Text(t), Some(v)) => v.to_string() == t.trim(),
            _ => false,
        })
}

fn enumerate(
    state: &State,
    engine: &Engine,
    identity: &Identity,
    t: &Target,
    header: &Header,
    e: linmgmt_wsman::Enumerate,
    warnings: &mut usize,
) -> Result<(&'static str, String), Fault> {
    ops::namespace(engine, &t.namespace)?;
    let need_class = |what: &str| {
        t.class.clone().ok_or_else(|| {
            Fault::new(
                Subcode::CannotProcessFilter,
                format!("{what} on a resource URI ending in * needs a WQL or association filter"),
            )
            .with_detail(detail::FILTER_SYNTAX)
        })
    };
    let (instances, properties) = match &e.filter {
        None => {
            let class = need_class("an enumeration")?;
            (
                ops::instances(engine, &t.namespace, &class, None, warnings)?,
                None,
            )
        }
        Some(Filter::Query(wql)) => match ops::query(engine, &t.namespace, wql, warnings)? {
            Found::Instances { instances, columns } => (instances, columns),
            Found::Classes(_) => {
                return Err(Fault::new(
                    Subcode::CannotProcessFilter,
                    "schema queries (meta_class) are answered over CIM-XML, not WS-Management",
                )
                .with_detail(detail::FILTER_SYNTAX)
                .with_wmi(WbemStatus::InvalidQuery));
            }
        },
        Some(Filter::Selectors(selectors)) => {
            let class = need_class("a SelectorFilter")?;
            let all = ops::instances(engine, &t.namespace, &class, None, warnings)?;
            (
                all.into_iter().filter(|i| matches(i, selectors)).collect(),
                None,
            )
        }
        Some(Filter::Association(a)) => {
            let (namespace, name) = epr_name(&a.object, &t.namespace)?;
            let kind = match a.kind {
                AssociationKind::Associators => ops::AssociationKind::Associators,
                AssociationKind::References => ops::AssociationKind::References,
            };
            let filter = ops::AssociationFilter {
                assoc_class: a.association_class.clone(),
                result_class: a.result_class.clone(),
                role: a.role.clone(),
                result_role: a.result_role.clone(),
                names_only: false,
                properties: None,
            };
            let found = ops::association(
                engine,
                &namespace,
                kind,
                &Source::Instance(name),
                &filter,
                warnings,
            )?;
            let Found::Instances { instances, .. } = found else {
                return Err(Fault::new(
                    Subcode::CannotProcessFilter,
                    "an association filter starts from an instance",
                ));
            };
            let wanted =
                (!a.include_result_property.is_empty()).then(|| a.include_result_property.clone());
            (instances, wanted)
        }
    };
    let items: Vec<String> = instances
        .iter()
        .map(|i| {
            let style = InstanceStyle {
                uri: t.style,
                namespace: &i.class().namespace,
                properties: properties.as_deref(),
            };
            encode::item(i, e.mode, &style)
        })
        .collect();
    let enumerations = &state.enumerations;
    let lifetime = enumerations.lifetime(e.expires)?;
    let size = if e.optimize {
        PageSize {
            count: e
                .max_elements
                .unwrap_or(1)
                .min(enumerations.limits().max_page) as usize,
            bytes: Some(item_budget(header)),
        }
    } else {
        PageSize {
            count: 0,
            bytes: None,
        }
    };
    let page = enumerations.open(
        &identity.name,
        Shape::WsMan,
        items,
        lifetime,
        size,
        !e.optimize,
    )?;
    let body = if e.optimize {
        encode::enumerate_response(&page.context, Some((&page.items, page.end_of_sequence)))
    } else {
        encode::enumerate_response(&page.context, None)
    };
    Ok((action::ENUMERATE_RESPONSE, body))
}
