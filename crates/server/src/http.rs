//! CIM-XML over HTTP: `POST` on any path (DSP0200) — authentication, the CIMOperation,
//! CIMMethod and CIMObject header checks, body limits, and dispatch to the operations on a
//! blocking thread within the request's deadline and its user's share of the threads.

use crate::State;
use crate::ops::{OpContext, execute};
use crate::request::{Auth, LogLine, Reply, authenticate, header, percent_decode, turn};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use linmgmt_cimxml::{ProtocolError, ProtocolErrorKind};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bodies up to this size are decoded on the async thread; larger ones on a blocking one.
const INLINE_DECODE: usize = 64 * 1024;

/// How long past the deadline an answer is awaited before giving up on it.
const DEADLINE_GRACE: Duration = Duration::from_secs(1);

impl Reply {
    fn protocol(e: &ProtocolError) -> Reply {
        let mut r = Reply::plain(
            StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            &e.message,
        );
        r.headers.push(("cimerror", e.kind.header().to_owned()));
        r.cim = e.kind.header().to_owned();
        r
    }
}

fn protocol_error(kind: ProtocolErrorKind, message: impl Into<String>) -> Reply {
    Reply::protocol(&ProtocolError {
        kind,
        message: message.into(),
    })
}

/// Namespace names compare without case and without leading or trailing slashes.
fn same_namespace(a: &str, b: &str) -> bool {
    linmgmt_cim::NamespaceName::new(a).is(b)
}

pub(crate) async fn respond(
    state: &Arc<State>,
    req: Request<Incoming>,
    log: &mut LogLine,
) -> Reply {
    let limits = &state.config.http;
    if req.method() != Method::POST {
        let mut r = if req.method().as_str() == "M-POST" {
            Reply::plain(
                StatusCode::NOT_IMPLEMENTED,
                "M-POST is not supported; use POST",
            )
        } else {
            Reply::plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "CIM-XML requests are POSTed",
            )
        };
        r.headers.push(("allow", "POST".into()));
        return r;
    }
    let identity = match authenticate(state, req.headers(), log.peer).await {
        Auth::Ok(id) => id,
        refused => return Reply::unauthenticated(state, refused, false),
    };
    log.user = identity.name.clone();
    let headers = req.headers().clone();
    match header(&headers, "cimoperation") {
        Some(op) if op.trim().eq_ignore_ascii_case("MethodCall") => {}
        _ => {
            return protocol_error(
                ProtocolErrorKind::UnsupportedOperation,
                "CIMOperation: MethodCall is required",
            );
        }
    }
    if let Some(len) = header(&headers, CONTENT_LENGTH.as_str()).and_then(|l| l.parse::<u64>().ok())
        && len > limits.max_body as u64
    {
        let mut r = Reply::plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body limit is {} bytes", limits.max_body),
        );
        r.headers.push(("connection", "close".into()));
        return r;
    }
    if let Some(ct) = header(&headers, CONTENT_TYPE.as_str()) {
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/xml") && !mime.eq_ignore_ascii_case("text/xml") {
            return Reply::plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/xml or text/xml",
            );
        }
    }
    let body = Limited::new(req.into_body(), limits.max_body);
    let body = match tokio::time::timeout(limits.body_timeout, body.collect()).await {
        Err(_) => {
            let mut r = Reply::plain(StatusCode::REQUEST_TIMEOUT, "the body came too slowly");
            r.headers.push(("connection", "close".into()));
            return r;
        }
        Ok(Err(e)) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            let mut r = if too_large {
                Reply::plain(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("the body limit is {} bytes", limits.max_body),
                )
            } else {
                Reply::plain(StatusCode::BAD_REQUEST, "the body could not be read")
            };
            r.headers.push(("connection", "close".into()));
            return r;
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    // From here on the work is the server's: it is done by the deadline, and one user's
    // requests take at most their share of the blocking threads.
    let deadline = Instant::now() + limits.request_timeout;
    let turn = match turn(state, &identity.name, deadline).await {
        Ok(turn) => turn,
        Err(reply) => return reply,
    };
    let xml_limits = state.config.xml;
    let decoded = if body.len() <= INLINE_DECODE {
        linmgmt_cimxml::decode(&body, &xml_limits)
    } else {
        let b = body.clone();
        match tokio::task::spawn_blocking(move || linmgmt_cimxml::decode(&b, &xml_limits)).await {
            Ok(d) => d,
            Err(_) => {
                return Reply::plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        }
    };
    let request = match decoded {
        Ok(r) => r,
        Err(e) => return Reply::protocol(&e),
    };
    log.method = request.method.clone();
    log.namespace = request.namespace.clone();
    match header(&headers, "cimmethod").map(percent_decode) {
        Some(m) if m.trim().eq_ignore_ascii_case(&request.method) => {}
        Some(m) => {
            return protocol_error(
                ProtocolErrorKind::HeaderMismatch,
                format!("CIMMethod {m:?} but the body calls {}", request.method),
            );
        }
        None => {
            return protocol_error(
                ProtocolErrorKind::HeaderMismatch,
                "the CIMMethod header is missing",
            );
        }
    }
    if request.intrinsic
        && let Some(object) = header(&headers, "cimobject").map(percent_decode)
        && !same_namespace(&object, &request.namespace)
    {
        return protocol_error(
            ProtocolErrorKind::HeaderMismatch,
            format!(
                "CIMObject {object:?} but the body names namespace {}",
                request.namespace
            ),
        );
    }
    let deep = contains_ignore_case(&body, b"serversession");
    let Ok(generation) =
        tokio::time::timeout_at(deadline.into(), state.snapshots.fresh(deep)).await
    else {
        return Reply::busy("the host snapshot was not ready before the request deadline");
    };
    let engine = generation
        .engine_for(state.snapshots.parts(), &identity)
        .with_deadline(deadline);
    let state2 = state.clone();
    let work = tokio::task::spawn_blocking(move || {
        // The turn is held while the thread works, even past an abandoned wait below.
        let _turn = turn;
        let ctx = OpContext {
            engine: &engine,
            identity: &identity,
            enumerations: &state2.enumerations,
        };
        execute(&request, &ctx)
    });
    // The engine stops itself at the deadline; this is the backstop for work that does
    // not check it.
    let Ok(outcome) = tokio::time::timeout_at((deadline + DEADLINE_GRACE).into(), work).await
    else {
        state.refusals.refuse(
            "request deadline",
            format_args!("a {} of {} overran the deadline", log.method, log.user),
        );
        return Reply::busy("the request ran out of time");
    };
    match outcome {
        Ok(o) => Reply {
            status: StatusCode::OK,
            headers: vec![
                ("content-type", "application/xml; charset=\"utf-8\"".into()),
                ("cimoperation", "MethodResponse".into()),
            ],
            body: Bytes::from(o.body),
            cim: o.status.to_string(),
            warnings: o.warnings,
        },
        Err(_) => Reply::plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_compare_loosely() {
        assert!(same_namespace("/root/CIMV2", "root/cimv2"));
    }
}
