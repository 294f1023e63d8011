//! The CIM-XML server behind `linmgmt serve` (DSP0200 over HTTP/1.1 and HTTPS).
//!
//! The async edge of linmgmt: listeners (plain or rustls), HTTP Basic authentication
//! against an argon2id users file, request limits and timeouts, and dispatch to the
//! synchronous engine on blocking threads. Decoding and encoding live in
//! `linmgmt-cimxml`; the instances come from the engine over a shared host snapshot
//! ([`snapshot`]). Event queries stream from `GET …/events` as JSON lines or Server-Sent
//! Events, fed by one `linmgmt_events::Hub` for all subscribers ([`EventLimits`]).
//!
//! Robustness: a body limit, XML depth and element-count limits, DOCTYPE refused, a
//! header-read timeout that also ends idle keep-alive connections, a body timeout, a TLS
//! handshake timeout, a deadline on every request's work, and graceful shutdown. Every
//! limit a client could exhaust is also held per user or per source address
//! ([`limits`]): connections, concurrent requests, argon2 checks, enumeration contexts
//! (by count and by memory) and event streams, with the global limits as a backstop;
//! password guessing is throttled per address and per user name.

mod cimxml_ops;
mod events;
mod http;
mod interop;
pub mod limits;
pub mod local;
mod metrics;
mod ops;
mod pull;
mod request;
pub mod snapshot;
mod streams;
mod subscriptions;
mod tls;
pub mod users;
mod wsman;

pub use events::EventLimits;

/// The decoders of untrusted bytes at the HTTP level, for the fuzz targets and tests.
pub mod decode {
    pub use crate::events::{form_decode, parse_params, wants_sse};
    pub use crate::request::percent_decode;
    pub use crate::users::parse_basic;
}
pub use interop::interop_provider;
pub use limits::ThrottleLimits;
pub use local::{Local, LocalService, Peer};
pub use metrics::MetricsOptions;
pub use pull::PullLimits;
pub use snapshot::{EngineParts, HostFactory, ProcessTableFigures, Snapshots};
pub use tls::{TlsError, load_tls};
pub use users::{Authenticator, Identity, Role, UserEntry};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use limits::{AuthThrottle, Quota, RefusalLog, WorkSlots};
use pull::Enumerations;
use request::LogLine;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

/// Limits and timeouts of the HTTP layer.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// The largest request body accepted (413 above).
    pub max_body: usize,
    /// How long a client may take to send the request headers; also how long an idle
    /// keep-alive connection is kept open.
    pub header_timeout: Duration,
    /// How long a client may take to send the body.
    pub body_timeout: Duration,
    /// How long a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// How many connections may be open at once; more are refused (503 on plain HTTP).
    pub max_connections: usize,
    /// How many connections one source address (an IPv6 /64) may have open at once,
    /// TLS handshakes included.
    pub max_connections_per_address: usize,
    /// How long the server may work on one request once it has the body: waiting for a
    /// turn, the host snapshot and the query itself. Past it the answer is a timeout
    /// error (`WBEM_E_TIMED_OUT`, CIM_ERR_FAILED on the wire).
    pub request_timeout: Duration,
    /// How many requests may be worked on at once (blocking threads), all users.
    pub max_requests: usize,
    /// How many of them one user may have; more wait their turn, in order.
    pub max_requests_per_user: usize,
    /// How long shutdown waits for requests in progress.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_body: 4 * 1024 * 1024,
            header_timeout: Duration::from_secs(15),
            body_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 512,
            max_connections_per_address: 128,
            request_timeout: Duration::from_secs(10),
            max_requests: 16,
            max_requests_per_user: 4,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Where to listen, and with which certificate.
#[derive(Clone)]
pub struct Listen {
    /// The address.
    pub addr: SocketAddr,
    /// TLS, or plain HTTP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// What the listener speaks.
    pub protocol: Protocol,
}

/// The protocol of a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// CIM-XML (`POST` on any path) and the event endpoint (`GET …/events`); 5988/5989 by
    /// convention.
    CimXml,
    /// WS-Management (`POST /wsman`); 5985/5986 by convention.
    WsMan,
    /// Prometheus metrics (`GET /metrics`), no authentication.
    Metrics,
}

/// Everything the server needs besides the engine.
#[derive(Clone)]
pub struct Config {
    /// The listeners.
    pub listen: Vec<Listen>,
    /// Allow plain HTTP on addresses other than loopback.
    pub insecure: bool,
    /// HTTP limits and timeouts.
    pub http: HttpLimits,
    /// XML limits.
    pub xml: linmgmt_cimxml::Limits,
    /// Enumeration contexts.
    pub pull: PullLimits,
    /// Event streams (`GET …/events`).
    pub events: EventLimits,
    /// Password guessing.
    pub throttle: ThrottleLimits,
    /// The Basic realm.
    pub realm: String,
    /// Prometheus metrics.
    pub metrics: MetricsOptions,
    /// The local socket for `linmgmt query` on this host, if any.
    pub local: Option<Local>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: Vec::new(),
            insecure: false,
            http: HttpLimits::default(),
            xml: linmgmt_cimxml::Limits::default(),
            pull: PullLimits::default(),
            events: EventLimits::default(),
            throttle: ThrottleLimits::default(),
            realm: "linmgmt".to_owned(),
            metrics: MetricsOptions::default(),
            local: None,
        }
    }
}

/// A configuration the server refuses.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Plain HTTP on a non-loopback address without `insecure`.
    #[error(
        "{0}: plain HTTP is only allowed on loopback; give --tls-cert/--tls-key, or --insecure"
    )]
    Insecure(SocketAddr),
    /// No listener.
    #[error("nothing to listen on")]
    NoListener,
    /// Binding failed.
    #[error("listening on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// Shared by every connection.
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) snapshots: Arc<Snapshots>,
    pub(crate) enumerations: Enumerations,
    /// WS-Eventing subscriptions (pull delivery).
    pub(crate) subscriptions: subscriptions::Subscriptions,
    pub(crate) metrics: metrics::Metrics,
    /// Password checks: one at a time per source address, a few at once in all.
    pub(crate) argon2_slots: WorkSlots<IpAddr>,
    pub(crate) throttle: AuthThrottle,
    /// The blocking work of requests, a fair share per user.
    pub(crate) work: WorkSlots<String>,
    /// One permit per open event stream.
    pub(crate) event_slots: Arc<Semaphore>,
    pub(crate) streams_per_user: Arc<Quota<String>>,
    pub(crate) streams_per_address: Arc<Quota<IpAddr>>,
    pub(crate) connections_per_address: Arc<Quota<IpAddr>>,
    pub(crate) refusals: RefusalLog,
    /// Becomes `true` when the server shuts down: connections close gracefully and event
    /// streams end (they would otherwise keep their connections open forever).
    pub(crate) shutdown: watch::Sender<bool>,
}

/// A bound server, ready to run.
pub struct Server {
    state: Arc<State>,
    listeners: Vec<(TcpListener, Option<TlsAcceptor>, Protocol)>,
    local: Option<(tokio::net::UnixListener, Local)>,
}

impl Server {
    /// Checks the configuration and binds every listener.
    pub async fn bind(
        config: Config,
        auth: Arc<Authenticator>,
        snapshots: Arc<Snapshots>,
    ) -> Result<Server, ServeError> {
        if config.listen.is_empty() {
            return Err(ServeError::NoListener);
        }
        for l in &config.listen {
            if l.tls.is_none() && !l.addr.ip().is_loopback() && !config.insecure {
                return Err(ServeError::Insecure(l.addr));
            }
        }
        let mut listeners = Vec::new();
        for l in &config.listen {
            let listener = TcpListener::bind(l.addr)
                .await
                .map_err(|e| ServeError::Bind(l.addr, e))?;
            listeners.push((listener, l.tls.clone().map(TlsAcceptor::from), l.protocol));
        }
        // The local socket is a shortcut for local clients, who scan themselves without
        // it: a server that cannot have it (not root, another server on it) runs anyway.
        let local = match &config.local {
            Some(l) => match local::bind(&l.path).await {
                Ok(listener) => {
                    tracing::info!("local queries on {}", l.path.display());
                    Some((listener, l.clone()))
                }
                Err(e) => {
                    tracing::warn!("no local socket at {}: {e}", l.path.display());
                    None
                }
            },
            None => None,
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let state = Arc::new(State {
            enumerations: Enumerations::new(config.pull),
            subscriptions: subscriptions::Subscriptions::default(),
            metrics: metrics::Metrics::new(config.metrics),
            event_slots: Arc::new(Semaphore::new(config.events.max_streams)),
            streams_per_user: Quota::new(config.events.max_streams_per_user),
            streams_per_address: Quota::new(config.events.max_streams_per_address),
            connections_per_address: Quota::new(config.http.max_connections_per_address),
            work: WorkSlots::new(config.http.max_requests, config.http.max_requests_per_user),
            argon2_slots: WorkSlots::new(cores, 1),
            throttle: AuthThrottle::new(config.throttle),
            refusals: RefusalLog::new(REFUSAL_LOG_INTERVAL),
            shutdown: watch::channel(false).0,
            config,
            auth,
            snapshots,
        });
        state.snapshots.observe_scans(state.metrics.scans.clone());
        Ok(Server {
            state,
            listeners,
            local,
        })
    }

    /// The bound addresses (with the real ports when port 0 was asked for), whether each
    /// is TLS, and what it speaks.
    pub fn local_addrs(&self) -> Vec<(SocketAddr, bool, Protocol)> {
        self.listeners
            .iter()
            .filter_map(|(l, tls, p)| l.local_addr().ok().map(|a| (a, tls.is_some(), *p)))
            .collect()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets requests in progress
    /// finish (up to the grace period) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let stop_rx = self.state.shutdown.subscribe();
        let max = self.state.config.http.max_connections;
        let slots = Arc::new(Semaphore::new(max));
        let mut tasks = Vec::new();
        if self
            .listeners
            .iter()
            .any(|(_, _, p)| *p == Protocol::Metrics)
        {
            metrics::count_events(&self.state);
        }
        if let Some((listener, local)) = self.local {
            tasks.push(tokio::spawn(local::accept_loop(
                listener,
                local,
                self.state.clone(),
                slots.clone(),
                stop_rx.clone(),
            )));
        }
        for (listener, tls, protocol) in self.listeners {
            tasks.push(tokio::spawn(accept_loop(
                listener,
                tls,
                protocol,
                self.state.clone(),
                slots.clone(),
                stop_rx.clone(),
            )));
        }
        let sweeper = {
            let state = self.state.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(15)).await;
                    state.enumerations.sweep();
                    state.subscriptions.sweep();
                }
            })
        };
        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing requests in progress");
        self.state.shutdown.send_replace(true);
        for t in tasks {
            let _ = t.await;
        }
        sweeper.abort();
        let grace = self.state.config.http.shutdown_grace;
        let all = u32::try_from(max).unwrap_or(u32::MAX);
        if tokio::time::timeout(grace, slots.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("shutdown: some connections did not finish within {grace:?}");
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    protocol: Protocol,
    state: Arc<State>,
    slots: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let source = limits::source_key(peer.ip());
        let Some(own) = state.connections_per_address.try_acquire(&source) else {
            state.refusals.refuse(
                "connections per address",
                format_args!(
                    "{source} has {} connections open, its limit",
                    state.connections_per_address.per_key()
                ),
            );
            refuse_connection(tcp, tls.is_some());
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            state.refusals.refuse(
                "connections",
                format_args!(
                    "{} connections are open, the limit (latest from {peer})",
                    state.config.http.max_connections
                ),
            );
            refuse_connection(tcp, tls.is_some());
            continue;
        };
        let state = state.clone();
        let stop = stop.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permits = (permit, own);
            match tls {
                None => serve_connection(tcp, peer, false, protocol, state, stop).await,
                Some(acceptor) => {
                    let timeout = state.config.http.handshake_timeout;
                    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, peer, true, protocol, state, stop).await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Answers a connection over a limit and closes it at once: `503` on plain HTTP (written
/// without waiting: it fits in a fresh socket's buffer, and a refused client must not hold
/// a descriptor), a plain close on TLS.
fn refuse_connection(tcp: tokio::net::TcpStream, tls: bool) {
    if !tls {
        let _ = tcp.try_write(
            b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: 5\r\ncontent-length: 0\r\n\r\n",
        );
    }
}

/// How often each cause of refusal is logged at most.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    tls: bool,
    protocol: Protocol,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = state.config.http;
    let service = service_fn(move |req| handle(state.clone(), req, peer, tls, protocol));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .max_headers(64)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(%peer, "connection: {e}");
            }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits.shutdown_grace, conn.as_mut()).await;
        }
    }
}

/// `GET /metrics` on a metrics listener; anything else is 404 or 405.
async fn metrics_reply(state: &Arc<State>, req: &Request<Incoming>) -> request::Reply {
    if req.uri().path() != "/metrics" {
        return request::Reply::plain(
            hyper::StatusCode::NOT_FOUND,
            "this is a metrics listener: GET /metrics",
        );
    }
    if req.method() != hyper::Method::GET {
        let mut r = request::Reply::plain(
            hyper::StatusCode::METHOD_NOT_ALLOWED,
            "metrics are read with GET",
        );
        r.headers.push(("allow", "GET".into()));
        return r;
    }
    let openmetrics = req
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    metrics::respond(state, openmetrics).await
}

/// Completes on SIGTERM or SIGINT. The handlers are installed when this is called (inside
/// a runtime), not when the future is first polled: a signal that comes before the server
/// runs, even before it says it is ready, still stops it gracefully.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
}

/// Builds a multi-threaded runtime, binds, and serves until SIGTERM or SIGINT. `ready`
/// is called with the bound addresses once the server accepts connections.
pub fn serve_blocking(
    config: Config,
    auth: Arc<Authenticator>,
    snapshots: impl FnOnce() -> Snapshots + Send + 'static,
    ready: impl FnOnce(&[(SocketAddr, bool, Protocol)]),
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(64)
        .thread_name("linmgmt-serve")
        .build()
        .map_err(|e| ServeError::Bind(SocketAddr::from(([0, 0, 0, 0], 0)), e))?;
    runtime.block_on(async move {
        let stop = shutdown_signal();
        let snapshots = tokio::task::spawn_blocking(snapshots).await.map_err(|e| {
            ServeError::Bind(
                SocketAddr::from(([0, 0, 0, 0], 0)),
                std::io::Error::other(e),
            )
        })?;
        let server = Server::bind(config, auth, Arc::new(snapshots)).await?;
        ready(&server.local_addrs());
        server.run(stop).await;
        Ok::<(), ServeError>(())
    })?;
    // Work still running on blocking threads (a query past its deadline, a scan) must
    // not hold the process: SIGTERM ends it within the grace period and this second.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// A response body: a whole CIM-XML (or error) answer, or an event stream.
pub(crate) type ResponseBody = Either<Full<Bytes>, events::EventBody>;

/// Handles one request; never fails (every failure is an HTTP or CIM error answer).
async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
    protocol: Protocol,
) -> Result<Response<ResponseBody>, std::convert::Infallible> {
    let started = Instant::now();
    let mut log = LogLine {
        peer,
        tls,
        user: String::new(),
        method: String::new(),
        namespace: String::new(),
    };
    let (reply, label) = match protocol {
        Protocol::Metrics => return Ok(metrics_reply(&state, &req).await.into_response()),
        Protocol::WsMan if wsman::is_wsman_path(req.uri().path()) => {
            (wsman::respond(&state, req, &mut log).await, "wsman")
        }
        Protocol::WsMan => (
            request::Reply::plain(
                hyper::StatusCode::NOT_FOUND,
                "this is a WS-Management listener: POST /wsman",
            ),
            "wsman",
        ),
        Protocol::CimXml if events::is_events_path(req.uri().path()) => {
            match events::respond(&state, req, &mut log).await {
                // A stream logs its own lines, when it opens and when it ends.
                Ok(stream) => {
                    state
                        .metrics
                        .request("events", "events", 200, "", started.elapsed());
                    return Ok(stream.map(Either::Right));
                }
                Err(reply) => (reply, "events"),
            }
        }
        Protocol::CimXml => (http::respond(&state, req, &mut log).await, "cimxml"),
    };
    let size = reply.body.len();
    let status = reply.status.as_u16();
    state
        .metrics
        .request(label, &log.method, status, &reply.cim, started.elapsed());
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
