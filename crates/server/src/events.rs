//! `GET …/events?query=<event WQL>`: event subscriptions streamed over HTTP, behind the same
//! Basic auth as CIM-XML.
//!
//! The answer is newline-delimited JSON (`application/x-ndjson`, one event per line, the
//! lines `linmgmt watch --format json` prints), or Server-Sent Events when the `Accept`
//! header asks for `text/event-stream` (`event: <class>` and `data: <json>` per event).
//! While nothing happens the server sends a keep-alive every [`EventLimits::keep_alive`]:
//! an empty line in NDJSON (readers skip blank lines), a `: keep-alive` comment in SSE. It
//! keeps proxies from closing an idle connection, and it is how a vanished client is
//! noticed: the write fails.
//!
//! The hub takes the baseline scan before the `200` is sent, so a client that has the
//! headers knows every later change is reported. `X-Linmgmt-Watching` says what is watched
//! and what wakes the watcher. Errors before streaming are JSON:
//! `{"error": "WBEM_E_…", "code": 2147749911, "message": "…", "offset": 12}`, `offset`
//! being the byte in the query where the fault is (or `null`).
//!
//! Each stream is a task that owns the hub's [`EventStream`] and feeds a small channel the
//! response body reads from. It ends when the client goes (the body is dropped), when a
//! client stops reading for [`EventLimits::stall_timeout`], on server shutdown, or when the
//! hub stops; dropping the `EventStream` unsubscribes.

use crate::State;
use crate::request::{Auth, LogLine, Reply, authenticate, hex};
use crate::streams::{StreamError, StreamPermits, open_stream};
use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::header::{ACCEPT, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use linmgmt_cim::{Instance, WbemStatus};
use linmgmt_engine::EngineError;
use linmgmt_events::EventStream;
use linmgmt_render::{EventWriter, Format, RenderOptions};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Limits of the event endpoint.
#[derive(Clone, Copy, Debug)]
pub struct EventLimits {
    /// How many event streams may be open at once; more get 503.
    pub max_streams: usize,
    /// How many of them one user may have open.
    pub max_streams_per_user: usize,
    /// How many of them one source address may have open.
    pub max_streams_per_address: usize,
    /// How long a stream may be silent before a keep-alive is sent.
    pub keep_alive: Duration,
    /// The longest query string (`query=…&namespace=…`, still encoded); longer gets 414.
    pub max_query: usize,
    /// How long a client may leave an event unread (its connection's buffers full) before
    /// the stream is ended.
    pub stall_timeout: Duration,
}

impl Default for EventLimits {
    fn default() -> Self {
        EventLimits {
            max_streams: 64,
            max_streams_per_user: 8,
            max_streams_per_address: 16,
            keep_alive: Duration::from_secs(15),
            max_query: 8 * 1024,
            stall_timeout: Duration::from_secs(60),
        }
    }
}

/// Frames waiting between a stream's task and its response body. Small: the hub's own
/// per-subscriber queue is where a slow reader's backlog belongs (it counts what it drops).
const BODY_QUEUE: usize = 4;

/// The most of the description `X-Linmgmt-Watching` carries.
const MAX_WATCHING: usize = 1024;

/// Whether `path` is the event endpoint: any path ending in `/events`.
pub(crate) fn is_events_path(path: &str) -> bool {
    path.ends_with("/events")
}

/// The parameters of an event request.
#[derive(Debug, PartialEq, Eq)]
pub struct EventParams {
    /// The event query.
    pub query: String,
    /// The namespace (`root/cimv2` unless given).
    pub namespace: String,
}

/// Parses the query string of an event request (`query=…&namespace=…`, form-encoded: `+`
/// is a space). Unknown parameters are ignored (cache busters); a missing, empty or
/// repeated `query` or `namespace`, or one that is not UTF-8 once decoded, is an error.
pub fn parse_params(raw: Option<&str>) -> Result<EventParams, String> {
    let mut query = None;
    let mut namespace = None;
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = form_decode(key)?;
        let slot = match key.as_str() {
            "query" => &mut query,
            "namespace" => &mut namespace,
            _ => continue,
        };
        if slot.is_some() {
            return Err(format!("the {key} parameter is given twice"));
        }
        *slot = Some(form_decode(value)?);
    }
    let query = query
        .filter(|q| !q.trim().is_empty())
        .ok_or("the query parameter is missing: GET /events?query=<event WQL, URL-encoded>")?;
    let namespace = match namespace {
        Some(ns) if ns.trim().is_empty() => return Err("the namespace parameter is empty".into()),
        Some(ns) => ns,
        None => linmgmt_engine::DEFAULT_NAMESPACE.to_owned(),
    };
    Ok(EventParams { query, namespace })
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; the bytes
/// must be UTF-8. A `%` without two hex digits is refused rather than guessed at.
pub fn form_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let digits = bytes.get(i + 1..i + 3);
                let Some((h, l)) = digits.and_then(|d| Some((hex(d[0])?, hex(d[1])?))) else {
                    return Err(format!("bad percent-encoding at byte {i} of a parameter"));
                };
                out.push((h << 4) | l);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "the decoded parameters are not UTF-8".to_owned())
}

/// Whether an `Accept` header asks for Server-Sent Events: it lists `text/event-stream`
/// without `q=0`.
pub fn wants_sse(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let mime = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("q") && v.trim().parse::<f32>() == Ok(0.0)
                })
            });
            mime.eq_ignore_ascii_case("text/event-stream") && !refused
        })
    })
}

/// One Server-Sent Event: `event: NAME`, one `data:` line per line of `data`, a blank line.
pub fn sse_frame(event: &str, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + event.len() + 16);
    // A line break in the name would end the field early; class names have none.
    let event: String = event.chars().filter(|c| !c.is_control()).collect();
    out.push_str("event: ");
    out.push_str(&event);
    out.push('\n');
    for line in data.trim_end_matches(['\n', '\r']).split('\n') {
        out.push_str("data: ");
        out.push_str(line.trim_end_matches('\r'));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// The keep-alive of each framing.
fn keep_alive_frame(sse: bool) -> Bytes {
    Bytes::from_static(if sse { b": keep-alive\n\n" } else { b"\n" })
}

/// `text` as a header value: control characters removed, other non-ASCII replaced by `?`
/// (header values are ASCII by convention), at most [`MAX_WATCHING`] characters.
pub fn header_safe(text: &str) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c.is_ascii() { c } else { '?' })
        .take(MAX_WATCHING)
        .collect();
    out.truncate(out.trim_end().len());
    out
}

fn engine_reply(http: StatusCode, e: &EngineError) -> Reply {
    Reply::json(http, e.status, &e.message, e.span.map(|s| s.start))
}

/// The response body of an event stream: the frames its task sends.
pub(crate) struct EventBody {
    frames: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut()
            .frames
            .poll_recv(cx)
            .map(|f| f.map(|b| Ok(Frame::data(b))))
    }
}

/// Answers an event request: the streaming response, or an error reply (logged by the
/// caller like any other request).
pub(crate) async fn respond(
    state: &Arc<State>,
    req: Request<Incoming>,
    log: &mut LogLine,
) -> Result<Response<EventBody>, Reply> {
    log.method = "events".to_owned();
    if req.method() != Method::GET {
        let mut r = Reply::json(
            StatusCode::METHOD_NOT_ALLOWED,
            WbemStatus::NotSupported,
            "event subscriptions are opened with GET",
            None,
        );
        r.headers.push(("allow", "GET".into()));
        return Err(r);
    }
    let identity = match authenticate(state, req.headers(), log.peer).await {
        Auth::Ok(id) => id,
        refused => return Err(Reply::unauthenticated(&state.config.realm, refused, true)),
    };
    log.user = identity.name.clone();
    let limits = state.config.events;
    let raw = req.uri().query();
    if raw.is_some_and(|q| q.len() > limits.max_query) {
        return Err(Reply::json(
            StatusCode::URI_TOO_LONG,
            WbemStatus::QuotaViolation,
            &format!("the query string is limited to {} bytes", limits.max_query),
            None,
        ));
    }
    let params = parse_params(raw).map_err(|m| {
        Reply::json(
            StatusCode::BAD_REQUEST,
            WbemStatus::InvalidParameter,
            &m,
            None,
        )
    })?;
    log.namespace = params.namespace.clone();
    let parts = state.snapshots.parts();
    let (stream, permits) =
        open_stream(state, &identity, &params.namespace, &params.query, log.peer)
            .await
            .map_err(|e| match e {
                StreamError::NoHub(m) => Reply::json(
                    StatusCode::NOT_IMPLEMENTED,
                    WbemStatus::NotSupported,
                    &m,
                    None,
                ),
                StreamError::Query(e) => engine_reply(StatusCode::BAD_REQUEST, &e),
                StreamError::Limit(m) => {
                    let mut r = Reply::json(
                        StatusCode::SERVICE_UNAVAILABLE,
                        WbemStatus::QuotaViolation,
                        &m,
                        None,
                    );
                    r.headers.push(("retry-after", "5".into()));
                    r
                }
                StreamError::Busy(r) => r,
                StreamError::Baseline(e) => engine_reply(StatusCode::INTERNAL_SERVER_ERROR, &e),
            })?;
    let sse = wants_sse(req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()));
    let columns = stream.columns().map(<[_]>::to_vec);
    let render = RenderOptions {
        color: false,
        width: None,
        context: parts.context.clone(),
    };
    let writer = EventWriter::new(
        Format::Json,
        columns,
        render,
        parts.compile.time_zone.clone(),
    )
    .map_err(|m| {
        Reply::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            WbemStatus::Failed,
            &m,
            None,
        )
    })?;
    let watching = header_safe(stream.description());
    tracing::info!(
        target: "linmgmt::events",
        peer = %log.peer,
        tls = log.tls,
        user = %identity.name,
        namespace = %params.namespace,
        query = ?params.query,
        sse,
        warnings = stream.warnings().len(),
        watching = %watching,
        "event stream opened"
    );
    for w in stream.warnings() {
        tracing::debug!(target: "linmgmt::events", user = %identity.name, "baseline: {w}");
    }
    let (tx, rx) = mpsc::channel(BODY_QUEUE);
    let pump = Pump {
        stream,
        writer,
        sse,
        frames: tx,
        stop: state.shutdown.subscribe(),
        limits,
        peer: log.peer,
        user: identity.name,
        query: params.query,
        _permits: permits,
    };
    tokio::spawn(pump.run());
    let content_type = if sse {
        "text/event-stream; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .header("cache-control", "no-cache")
        // nginx and friends buffer responses unless told not to.
        .header("x-accel-buffering", "no");
    if let Ok(v) = HeaderValue::from_str(&watching) {
        builder = builder.header("x-linmgmt-watching", v);
    }
    builder.body(EventBody { frames: rx }).map_err(|_| {
        Reply::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            WbemStatus::Failed,
            "internal error",
            None,
        )
    })
}

/// Why a stream ended, for its log line.
#[derive(Clone, Copy, Debug)]
enum End {
    ClientGone,
    Stalled,
    Shutdown,
    HubStopped,
}

impl End {
    fn as_str(self) -> &'static str {
        match self {
            End::ClientGone => "client gone",
            End::Stalled => "client stopped reading",
            End::Shutdown => "server shutdown",
            End::HubStopped => "watcher stopped",
        }
    }
}

/// One stream's task: events and keep-alives into the body's channel.
struct Pump {
    stream: EventStream,
    writer: EventWriter,
    sse: bool,
    frames: mpsc::Sender<Bytes>,
    stop: watch::Receiver<bool>,
    limits: EventLimits,
    peer: std::net::SocketAddr,
    user: String,
    query: String,
    /// Held for the stream's life: the stream's share of the global, per-user and
    /// per-address limits.
    _permits: StreamPermits,
}

/// Completes when the server shuts down (or is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Sends one frame, unless the client is gone, stalls, or the server shuts down.
async fn send(
    frames: &mpsc::Sender<Bytes>,
    stop: &mut watch::Receiver<bool>,
    stall: Duration,
    frame: Bytes,
) -> Result<(), End> {
    tokio::select! {
        sent = tokio::time::timeout(stall, frames.send(frame)) => match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::ClientGone),
            Err(_) => Err(End::Stalled),
        },
        () = stopped(stop) => Err(End::Shutdown),
    }
}

impl Pump {
    fn frame(&mut self, event: &Instance) -> Bytes {
        let mut json = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.writer.write(event, &mut json);
        if self.sse {
            let json = String::from_utf8_lossy(&json);
            Bytes::from(sse_frame(event.class_name().as_str(), &json))
        } else {
            Bytes::from(json)
        }
    }

    async fn run(mut self) {
        let started = Instant::now();
        let mut sent = 0u64;
        let keep_alive = self.limits.keep_alive;
        let stall = self.limits.stall_timeout;
        let idle = tokio::time::sleep(keep_alive);
        tokio::pin!(idle);
        let end = loop {
            let frame = tokio::select! {
                () = stopped(&mut self.stop) => break End::Shutdown,
                () = self.frames.closed() => break End::ClientGone,
                event = self.stream.recv() => match event {
                    Some(e) => {
                        sent += 1;
                        self.frame(&e)
                    }
                    None => break End::HubStopped,
                },
                () = &mut idle => keep_alive_frame(self.sse),
            };
            if let Err(end) = send(&self.frames, &mut self.stop, stall, frame).await {
                break end;
            }
            idle.as_mut()
                .reset(tokio::time::Instant::now() + keep_alive);
        };
        let secs = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
        if matches!(end, End::HubStopped) {
            tracing::warn!(target: "linmgmt::events", peer = %self.peer, user = %self.user,
                query = ?self.query, events = sent, secs, reason = end.as_str(),
                "event stream closed");
        } else {
            tracing::info!(target: "linmgmt::events", peer = %self.peer, user = %self.user,
                query = ?self.query, events = sent, secs, reason = end.as_str(),
                "event stream closed");
        }
        // Dropping the stream (with `self`) unsubscribes from the hub.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::error_json;

    #[test]
    fn params_are_form_decoded() {
        let p = parse_params(Some(
            "query=SELECT+*+FROM+__InstanceCreationEvent%20WITHIN%205&x=1",
        ))
        .unwrap();
        assert_eq!(p.query, "SELECT * FROM __InstanceCreationEvent WITHIN 5");
        assert_eq!(p.namespace, "root/cimv2");
        let p = parse_params(Some("namespace=root%2Finterop&query=a%2Bb%27%C3%A9%27")).unwrap();
        assert_eq!(p.query, "a+b'é'");
        assert_eq!(p.namespace, "root/interop");
        // A key may be encoded too; a bare key is an empty value.
        assert_eq!(parse_params(Some("%71uery=x")).unwrap().query, "x");
        assert!(parse_params(Some("query")).is_err());
    }

    #[test]
    fn bad_params_are_refused() {
        for raw in [
            None,
            Some(""),
            Some("namespace=root"),
            Some("query="),
            Some("query=+++"),
            Some("query=a&query=b"),
            Some("query=a&namespace="),
            Some("query=a%zz"),
            Some("query=a%2"),
            Some("query=%C3"),
            Some("query=%+1"),
        ] {
            assert!(parse_params(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn accept_negotiation() {
        assert!(!wants_sse(None));
        assert!(!wants_sse(Some("*/*")));
        assert!(!wants_sse(Some("application/x-ndjson")));
        assert!(wants_sse(Some("text/event-stream")));
        assert!(wants_sse(Some("application/json, Text/Event-Stream;q=0.5")));
        assert!(!wants_sse(Some("text/event-stream;q=0")));
        assert!(!wants_sse(Some(
            "text/event-stream; q=0.0, application/json"
        )));
    }

    #[test]
    fn sse_framing() {
        assert_eq!(
            sse_frame("__InstanceCreationEvent", "{\"a\":1}\n"),
            "event: __InstanceCreationEvent\ndata: {\"a\":1}\n\n"
        );
        // Every line of a multi-line payload is its own data field.
        assert_eq!(
            sse_frame("e\n", "x\r\ny\n"),
            "event: e\ndata: x\ndata: y\n\n"
        );
        assert_eq!(
            keep_alive_frame(true),
            Bytes::from_static(b": keep-alive\n\n")
        );
        assert_eq!(keep_alive_frame(false), Bytes::from_static(b"\n"));
    }

    #[test]
    fn watching_header_is_safe() {
        assert_eq!(
            header_safe("Win32_Process; wakes on\r\n /run/utmp\x1b[1m é \t"),
            "Win32_Process; wakes on /run/utmp[1m ?"
        );
        assert_eq!(header_safe(&"x".repeat(5000)).len(), MAX_WATCHING);
        assert!(HeaderValue::from_str(&header_safe("a\u{7f}b\u{0}c\u{2028}")).is_ok());
    }

    #[test]
    fn errors_are_json() {
        let body = error_json(WbemStatus::InvalidQuery, "unknown \"x\"", Some(12));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "WBEM_E_INVALID_QUERY");
        assert_eq!(v["code"], 0x8004_1017u32);
        assert_eq!(v["message"], "unknown \"x\"");
        assert_eq!(v["offset"], 12);
        let v: serde_json::Value =
            serde_json::from_str(&error_json(WbemStatus::Failed, "", None)).unwrap();
        assert!(v["offset"].is_null());
    }

    #[test]
    fn event_paths() {
        assert!(is_events_path("/events"));
        assert!(is_events_path("/linmgmt/events"));
        assert!(!is_events_path("/cimom"));
        assert!(!is_events_path("/events/"));
        assert!(!is_events_path("/myevents"));
        assert!(!is_events_path("/events?query=x"));
    }
}
