//! CIM-XML over HTTP: `POST` on any path (DSP0200) — authentication, the CIMOperation,
//! CIMMethod and CIMObject header checks, body limits, and dispatch to the operations on a
//! blocking thread within the request's deadline and its user's share of the threads.

use crate::State;
use crate::cimxml_ops::{OpContext, execute};
use crate::request::{
    Auth, LogLine, Reply, authenticate, contains_ignore_case, header, on_engine, percent_decode,
    read_body, turn,
};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, StatusCode};
use linmgmt_cimxml::{ProtocolError, ProtocolErrorKind};
use std::sync::Arc;
use std::time::Instant;

/// Bodies up to this size are decoded on the async thread; larger ones on a blocking one.
const INLINE_DECODE: usize = 64 * 1024;

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
        refused => return Reply::unauthenticated(&state.config.realm, refused, false),
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
    if let Some(ct) = header(&headers, CONTENT_TYPE.as_str()) {
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/xml") && !mime.eq_ignore_ascii_case("text/xml") {
            return Reply::plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/xml or text/xml",
            );
        }
    }
    let body = match read_body(state, req).await {
        Ok(body) => body,
        Err(reply) => return reply,
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
    let enumerations = state.clone();
    let outcome = on_engine(
        state,
        &identity,
        deep,
        deadline,
        turn,
        &log.method,
        move |engine, identity| {
            let ctx = OpContext {
                engine,
                identity,
                enumerations: &enumerations.enumerations,
            };
            execute(&request, &ctx)
        },
    )
    .await;
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
        Err(reply) => reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_compare_loosely() {
        assert!(same_namespace("/root/CIMV2", "root/cimv2"));
    }
}
