//! HTTP: one handler for `POST` on any path (CIM-XML) and `GET …/events` ([`crate::events`]),
//! authentication, header checks, and the log line of each request.

use crate::State;
use crate::events::{self, EventBody};
use crate::limits::source_key;
use crate::ops::{OpContext, execute};
use crate::users::{Identity, parse_basic};
use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use linmgmt_cim::WbemStatus;
use linmgmt_cimxml::{ProtocolError, ProtocolErrorKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bodies up to this size are decoded on the async thread; larger ones on a blocking one.
const INLINE_DECODE: usize = 64 * 1024;

/// How long past the deadline an answer is awaited before giving up on it.
const DEADLINE_GRACE: Duration = Duration::from_secs(1);

/// A response body: a whole CIM-XML (or error) answer, or an event stream.
pub type ResponseBody = Either<Full<Bytes>, EventBody>;

/// What a response is made of, before it becomes one.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Bytes,
    /// For the log: CIM status (0 = success), or the protocol error.
    pub(crate) cim: String,
    /// For the log: warnings about partial results.
    pub(crate) warnings: usize,
}

impl Reply {
    fn plain(status: StatusCode, text: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "text/plain; charset=utf-8".into())],
            body: Bytes::from(format!("{text}\n")),
            cim: String::new(),
            warnings: 0,
        }
    }

    fn protocol(e: &ProtocolError) -> Reply {
        let mut r = Reply::plain(
            StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            &e.message,
        );
        r.headers.push(("cimerror", e.kind.header().to_owned()));
        r.cim = e.kind.header().to_owned();
        r
    }

    fn into_response(self) -> Response<ResponseBody> {
        let mut builder = Response::builder().status(self.status);
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                builder = builder.header(name, v);
            }
        }
        builder
            .body(Either::Left(Full::new(self.body)))
            .unwrap_or_else(|_| Response::new(Either::Left(Full::new(Bytes::new()))))
    }
}

fn protocol_error(kind: ProtocolErrorKind, message: impl Into<String>) -> Reply {
    Reply::protocol(&ProtocolError {
        kind,
        message: message.into(),
    })
}

/// `%2F` → `/`; invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(&[h, l]) = bytes.get(i + 1..i + 3)
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            out.push((h << 4) | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of an ASCII hex digit.
pub(crate) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Namespace names compare without case and without leading or trailing slashes.
fn same_namespace(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.replace('\\', "/").trim_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

/// Handles one request; never fails (every failure is an HTTP or CIM error answer).
pub async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
) -> Result<Response<ResponseBody>, std::convert::Infallible> {
    let started = Instant::now();
    let mut log = LogLine {
        peer,
        tls,
        user: String::new(),
        method: String::new(),
        namespace: String::new(),
    };
    let reply = if events::is_events_path(req.uri().path()) {
        match events::respond(&state, req, &mut log).await {
            // A stream logs its own lines, when it opens and when it ends.
            Ok(stream) => return Ok(stream.map(Either::Right)),
            Err(reply) => reply,
        }
    } else {
        respond(&state, req, &mut log).await
    };
    let size = reply.body.len();
    let status = reply.status.as_u16();
    tracing::info!(
        target: "linmgmt::request",
        peer = %log.peer,
        tls = log.tls,
        user = %log.user,
        method = %log.method,
        namespace = %log.namespace,
        http = status,
        cim = %reply.cim,
        bytes = size,
        warnings = reply.warnings,
        ms = format_args!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
        "request"
    );
    Ok(reply.into_response())
}

/// The fields of a request's log line, filled in as the request is understood.
pub(crate) struct LogLine {
    pub(crate) peer: SocketAddr,
    pub(crate) tls: bool,
    pub(crate) user: String,
    pub(crate) method: String,
    pub(crate) namespace: String,
}

/// What the `Authorization` header proves.
pub(crate) enum Auth {
    /// A user.
    Ok(Identity),
    /// No credentials, or wrong ones: 401.
    Refused,
    /// Too many failures from this address or for this user name: 429 with `Retry-After`,
    /// without a password check.
    Throttled(Duration),
}

/// Checks the `Authorization` header. Remembered credentials are cheap; the argon2 check
/// runs one at a time per source address and a few at once in all, so an address that
/// guesses waits behind its own guesses, not in front of everyone else's logins.
pub(crate) async fn authenticate(
    state: &Arc<State>,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Auth {
    let Some((name, password)) = header(headers, "authorization").and_then(parse_basic) else {
        return Auth::Refused;
    };
    let source = source_key(peer.ip());
    if let Err(t) = state.throttle.check(source, &name, Instant::now()) {
        state.refusals.refuse(
            "password guessing",
            format_args!("{t:?} for {source} as {name:?}"),
        );
        return Auth::Throttled(t.retry_after());
    }
    if let Some(id) = state.auth.check_remembered(&name, &password) {
        return Auth::Ok(id);
    }
    let _turn = state.argon2_slots.acquire(&source).await;
    // Another request of this client may have verified the same credentials meanwhile.
    if let Some(id) = state.auth.check_remembered(&name, &password) {
        return Auth::Ok(id);
    }
    let auth = state.auth.clone();
    let user = name.clone();
    let verified = tokio::task::spawn_blocking(move || auth.verify(&user, &password))
        .await
        .ok()
        .flatten();
    match verified {
        Some(id) => {
            state.throttle.succeeded(source, &name, Instant::now());
            Auth::Ok(id)
        }
        None => {
            state.throttle.failed(source, &name, Instant::now());
            Auth::Refused
        }
    }
}

impl Reply {
    /// The answer to a request whose authentication failed.
    pub(crate) fn unauthenticated(state: &State, auth: Auth, json: bool) -> Reply {
        let (status, message) = match auth {
            Auth::Throttled(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins from this address or for this user; retry later",
            ),
            _ => (StatusCode::UNAUTHORIZED, "authentication required"),
        };
        let mut r = if json {
            Reply::json(status, WbemStatus::AccessDenied, message)
        } else {
            Reply::plain(status, message)
        };
        match auth {
            Auth::Throttled(wait) => {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                r.headers.push(("retry-after", secs.max(1).to_string()));
            }
            _ => r.headers.push((
                "www-authenticate",
                format!("Basic realm=\"{}\"", state.config.realm),
            )),
        }
        r
    }

    /// A JSON error answer (the event endpoint's errors).
    pub(crate) fn json(status: StatusCode, wbem: WbemStatus, message: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: Bytes::from(crate::events::error_json(wbem, message, None)),
            cim: wbem.name().to_owned(),
            warnings: 0,
        }
    }

    /// `503` with `Retry-After`: the server is busy or the request ran out of time.
    pub(crate) fn busy(message: &str) -> Reply {
        let mut r = Reply::plain(StatusCode::SERVICE_UNAVAILABLE, message);
        r.headers.push(("retry-after", "1".into()));
        r
    }
}

async fn respond(state: &Arc<State>, req: Request<Incoming>, log: &mut LogLine) -> Reply {
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
    let Ok(turn) =
        tokio::time::timeout_at(deadline.into(), state.work.acquire(&identity.name)).await
    else {
        state.refusals.refuse(
            "request deadline",
            format_args!("{} waited the whole deadline for a turn", identity.name),
        );
        return Reply::busy("the server is busy: no turn came before the request deadline");
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
    fn percent_decoding() {
        assert_eq!(percent_decode("root%2Fcimv2"), "root/cimv2");
        assert_eq!(percent_decode("root%2fcimv2"), "root/cimv2");
        assert_eq!(percent_decode("a%zz%"), "a%zz%");
        assert_eq!(percent_decode("GetClass"), "GetClass");
        assert!(same_namespace("/root/CIMV2", "root/cimv2"));
    }
}
