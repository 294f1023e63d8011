//! What every request shares, whatever it asks for: the reply it becomes, its log line,
//! authentication (with the password-guessing throttle), reading the body within its
//! limits, the user's turn and the work on the engine within the deadline
//! ([`on_engine`]), and the small decoders of HTTP fields. The CIM-XML handler
//! ([`crate::http`]), the event endpoint ([`crate::events`]) and WS-Management
//! ([`crate::wsman`]) build on it and not on each other.

use crate::ResponseBody;
use crate::State;
use crate::limits::{WorkPermit, source_key};
use crate::users::{Identity, parse_basic};
use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HeaderValue};
use hyper::{HeaderMap, Request, Response, StatusCode};
use linmgmt_cim::WbemStatus;
use linmgmt_engine::Engine;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    pub(crate) fn plain(status: StatusCode, text: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "text/plain; charset=utf-8".into())],
            body: Bytes::from(format!("{text}\n")),
            cim: String::new(),
            warnings: 0,
        }
    }

    pub(crate) fn into_response(self) -> Response<ResponseBody> {
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

/// Whether `needle` (ASCII) occurs in `haystack`, without regard to case.
pub(crate) fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
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

/// A header's value, if it is text.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The JSON body of an error answer.
pub fn error_json(status: WbemStatus, message: &str, offset: Option<usize>) -> String {
    let body = serde_json::json!({
        "error": status.name(),
        "code": status.code(),
        "message": message,
        "offset": offset,
    });
    format!("{body}\n")
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

/// Reads a request's body within the body limit and the body timeout; a `413` (before
/// reading, when Content-Length already says too much), `408` or `400` otherwise, each
/// closing the connection.
pub(crate) async fn read_body(state: &State, req: Request<Incoming>) -> Result<Bytes, Reply> {
    let limits = &state.config.http;
    let too_large = || {
        let mut r = Reply::plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body limit is {} bytes", limits.max_body),
        );
        r.headers.push(("connection", "close".into()));
        r
    };
    if let Some(len) =
        header(req.headers(), CONTENT_LENGTH.as_str()).and_then(|l| l.parse::<u64>().ok())
        && len > limits.max_body as u64
    {
        return Err(too_large());
    }
    let body = Limited::new(req.into_body(), limits.max_body);
    match tokio::time::timeout(limits.body_timeout, body.collect()).await {
        Err(_) => {
            let mut r = Reply::plain(StatusCode::REQUEST_TIMEOUT, "the body came too slowly");
            r.headers.push(("connection", "close".into()));
            Err(r)
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(_)) => {
            let mut r = Reply::plain(StatusCode::BAD_REQUEST, "the body could not be read");
            r.headers.push(("connection", "close".into()));
            Err(r)
        }
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// The request's turn at the blocking threads, within its user's fair share, waited for
/// until `deadline`; a `503` when none comes by then.
pub(crate) async fn turn(
    state: &State,
    user: &str,
    deadline: Instant,
) -> Result<WorkPermit, Reply> {
    match tokio::time::timeout_at(deadline.into(), state.work.acquire(&user.to_owned())).await {
        Ok(turn) => Ok(turn),
        Err(_) => {
            state.refusals.refuse(
                "request deadline",
                format_args!("{user} waited the whole deadline for a turn"),
            );
            Err(Reply::busy(
                "the server is busy: no turn came before the request deadline",
            ))
        }
    }
}

/// How long past the deadline an answer is awaited before giving up on it.
const DEADLINE_GRACE: Duration = Duration::from_secs(1);

/// Runs `work` on a blocking thread with the engine `identity` may use, over a host
/// snapshot fresh enough for the request (`deep`: one that includes server sessions),
/// holding `turn` while it works. The snapshot must come by `deadline`, and the engine
/// stops itself there; a `503` otherwise, or when the work overruns even that (the
/// backstop for work that does not check the deadline).
pub(crate) async fn on_engine<T: Send + 'static>(
    state: &Arc<State>,
    identity: &Identity,
    deep: bool,
    deadline: Instant,
    turn: WorkPermit,
    what: &str,
    work: impl FnOnce(&Engine, &Identity) -> T + Send + 'static,
) -> Result<T, Reply> {
    let Ok(generation) =
        tokio::time::timeout_at(deadline.into(), state.snapshots.fresh(deep)).await
    else {
        return Err(Reply::busy(
            "the host snapshot was not ready before the request deadline",
        ));
    };
    let engine = generation
        .engine_for(state.snapshots.parts(), identity)
        .with_deadline(deadline);
    let who = identity.clone();
    let task = tokio::task::spawn_blocking(move || {
        // The turn is held while the thread works, even past an abandoned wait below.
        let _turn = turn;
        work(&engine, &who)
    });
    match tokio::time::timeout_at((deadline + DEADLINE_GRACE).into(), task).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(_)) => Err(Reply::plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
        )),
        Err(_) => {
            state.refusals.refuse(
                "request deadline",
                format_args!("a {what} of {} overran the deadline", identity.name),
            );
            Err(Reply::busy("the request ran out of time"))
        }
    }
}

impl Reply {
    /// The answer to a request whose authentication failed.
    pub(crate) fn unauthenticated(realm: &str, auth: Auth, json: bool) -> Reply {
        let (status, message) = match auth {
            Auth::Throttled(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins from this address or for this user; retry later",
            ),
            _ => (StatusCode::UNAUTHORIZED, "authentication required"),
        };
        let mut r = if json {
            Reply::json(status, WbemStatus::AccessDenied, message, None)
        } else {
            Reply::plain(status, message)
        };
        match auth {
            Auth::Throttled(wait) => {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                r.headers.push(("retry-after", secs.max(1).to_string()));
            }
            _ => r
                .headers
                .push(("www-authenticate", format!("Basic realm=\"{realm}\""))),
        }
        r
    }

    /// A JSON error answer (the event endpoint's errors): [`error_json`], with the byte of
    /// the query at fault when there is one.
    pub(crate) fn json(
        status: StatusCode,
        wbem: WbemStatus,
        message: &str,
        offset: Option<usize>,
    ) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: Bytes::from(error_json(wbem, message, offset)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("root%2Fcimv2"), "root/cimv2");
        assert_eq!(percent_decode("root%2fcimv2"), "root/cimv2");
        assert_eq!(percent_decode("a%zz%"), "a%zz%");
        assert_eq!(percent_decode("GetClass"), "GetClass");
    }
}
