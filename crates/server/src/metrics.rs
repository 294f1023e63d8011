//! Prometheus metrics (`GET /metrics` on `--metrics-listen` listeners), with the
//! well-kept `prometheus-client` crate.
//!
//! - **The host, from the same live data as queries**: logon sessions by `logon_type` and
//!   `authentication_package`; server sessions by `protocol`, `session_type` and
//!   `client_type` (and, only with `--metrics-detailed`, `user` and `address`); server
//!   connections; open resources; processes in user sessions. Computed at scrape time from
//!   the shared snapshot (at most `--max-age` old), so scraping never costs more than one
//!   host scan per `max-age`, however often or by how many it is scraped.
//! - **Counters from the event engine**, not derived from gauges: logons and logoffs by
//!   `logon_type`, server sessions opened and closed by `protocol` (each a hub subscription
//!   that counts creations and deletions; `rate()` shows login storms).
//! - **The service**: requests by `protocol`, `operation` and `result`, a latency histogram
//!   by protocol, host scan durations, events dropped for slow subscribers, open
//!   enumeration contexts, event streams and subscriptions, build info.
//!
//! Label values are bounded: operations are the known method names (others are `other`),
//! results a handful of words. Per-user and per-address labels are opt-in.
//!
//! The text is OpenMetrics when the scraper asks for it (`Accept:
//! application/openmetrics-text`, as Prometheus does) and the classic text format 0.0.4
//! otherwise (`promtool check metrics`, curl).

use crate::State;
use crate::ops::{self, Found};
use crate::request::{Reply, turn};
use crate::users::{Identity, Role};
use bytes::Bytes;
use hyper::StatusCode;
use linmgmt_cim::{Instance, Value};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    protocol: &'static str,
    operation: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabels {
    protocol: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LogonLabels {
    logon_type: String,
    authentication_package: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LogonTypeLabels {
    logon_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    protocol: String,
    session_type: String,
    client_type: String,
    user: Option<String>,
    address: Option<String>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Settings of the metrics endpoint.
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricsOptions {
    /// Label server sessions with their user and client address (only for small hosts: one
    /// time series per user and address).
    pub detailed: bool,
}

/// Every metric, and the registry that writes them.
pub(crate) struct Metrics {
    registry: Registry,
    options: MetricsOptions,
    requests: Family<RequestLabels, Counter>,
    latency: Family<ProtocolLabels, Histogram>,
    pub(crate) scans: Histogram,
    logon_sessions: Family<LogonLabels, Gauge>,
    server_sessions: Family<ServerLabels, Gauge>,
    server_connections: Gauge,
    open_resources: Gauge,
    session_processes: Gauge,
    logons: Family<LogonTypeLabels, Counter>,
    logoffs: Family<LogonTypeLabels, Counter>,
    server_opened: Family<ProtocolLabels, Counter>,
    server_closed: Family<ProtocolLabels, Counter>,
    dropped: Counter,
    dropped_seen: AtomicU64,
    contexts: Gauge,
    streams: Gauge,
    subscriptions: Gauge,
    reconciliations: Counter,
    corrections: Counter,
    table_seen: std::sync::Mutex<(u64, u64)>,
    /// One scrape at a time computes the gauges; the others wait and read the same values.
    scrape: tokio::sync::Mutex<()>,
}

fn latency_buckets() -> Histogram {
    // 0.5 ms … 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub(crate) fn new(options: MetricsOptions) -> Metrics {
        let mut registry = Registry::with_prefix("linmgmt");
        let m = Metrics {
            options,
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_buckets),
            scans: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            logon_sessions: Family::default(),
            server_sessions: Family::default(),
            server_connections: Gauge::default(),
            open_resources: Gauge::default(),
            session_processes: Gauge::default(),
            logons: Family::default(),
            logoffs: Family::default(),
            server_opened: Family::default(),
            server_closed: Family::default(),
            dropped: Counter::default(),
            dropped_seen: AtomicU64::new(0),
            contexts: Gauge::default(),
            streams: Gauge::default(),
            subscriptions: Gauge::default(),
            reconciliations: Counter::default(),
            corrections: Counter::default(),
            table_seen: std::sync::Mutex::new((0, 0)),
            scrape: tokio::sync::Mutex::new(()),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "logon_sessions",
            "Logon sessions (Win32_LogonSession) by LogonType and AuthenticationPackage",
            m.logon_sessions.clone(),
        );
        r.register(
            "server_sessions",
            "Server sessions (Win32_ServerSession) by protocol (ssh, smb, nfs), SessionType and ClientType",
            m.server_sessions.clone(),
        );
        r.register(
            "server_connections",
            "Server connections (Win32_ServerConnection): a session's use of a share or export",
            m.server_connections.clone(),
        );
        r.register(
            "open_resources",
            "Files and resources the server sessions hold open (sum of ResourcesOpened)",
            m.open_resources.clone(),
        );
        r.register(
            "session_processes",
            "Processes in user logon sessions (Win32_SessionProcess, LogonId other than 0)",
            m.session_processes.clone(),
        );
        r.register(
            "logons",
            "Logon sessions that began, by LogonType (__InstanceCreationEvent of Win32_LogonSession)",
            m.logons.clone(),
        );
        r.register(
            "logoffs",
            "Logon sessions that ended, by LogonType (__InstanceDeletionEvent of Win32_LogonSession)",
            m.logoffs.clone(),
        );
        r.register(
            "server_sessions_opened",
            "Server sessions that began, by protocol (__InstanceCreationEvent of Win32_ServerSession)",
            m.server_opened.clone(),
        );
        r.register(
            "server_sessions_closed",
            "Server sessions that ended, by protocol (__InstanceDeletionEvent of Win32_ServerSession)",
            m.server_closed.clone(),
        );
        r.register(
            "requests",
            "Requests answered, by protocol (cimxml, wsman, events), operation and result",
            m.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from a request's headers to its answer, by protocol",
            m.latency.clone(),
        );
        r.register(
            "scan_duration_seconds",
            "Time of each full scan of the host for the shared snapshot",
            m.scans.clone(),
        );
        r.register(
            "event_queue_dropped_events",
            "Events dropped for event subscribers that fell behind (each run is reported to its subscriber)",
            m.dropped.clone(),
        );
        r.register(
            "enumeration_contexts",
            "Open enumeration contexts (CIM-XML pulls and WS-Enumeration)",
            m.contexts.clone(),
        );
        r.register(
            "event_streams",
            "Open event streams (GET /events and WS-Eventing subscriptions)",
            m.streams.clone(),
        );
        r.register(
            "event_subscriptions",
            "Open WS-Eventing subscriptions",
            m.subscriptions.clone(),
        );
        r.register(
            "process_table_reconciliations",
            "Full reads of /proc compared with the live process table (none without one: not root, a container)",
            m.reconciliations.clone(),
        );
        r.register(
            "process_table_corrections",
            "Differences those comparisons found; each is a bug in keeping the table live (expect 0)",
            m.corrections.clone(),
        );
        r.register(
            "build",
            "The running linmgmt",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        // Counters that exist before their first event, so that `rate()` and `increase()`
        // see the first one: the usual remote logon types and every protocol.
        for t in ["2", "3", "10"] {
            let labels = LogonTypeLabels {
                logon_type: t.to_owned(),
            };
            let _ = m.logons.get_or_create(&labels);
            let _ = m.logoffs.get_or_create(&labels);
        }
        for p in ["ssh", "smb", "nfs"] {
            let labels = ProtocolLabels {
                protocol: p.to_owned(),
            };
            let _ = m.server_opened.get_or_create(&labels);
            let _ = m.server_closed.get_or_create(&labels);
        }
        Metrics { registry, ..m }
    }

    /// Counts one answered request.
    pub(crate) fn request(
        &self,
        protocol: &'static str,
        method: &str,
        http: u16,
        cim: &str,
        elapsed: Duration,
    ) {
        let operation = operation(protocol, method);
        let result = result(http, cim);
        self.requests
            .get_or_create(&RequestLabels {
                protocol,
                operation,
                result,
            })
            .inc();
        self.latency
            .get_or_create(&ProtocolLabels {
                protocol: protocol.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// The operation label: a known method name, or `other` (method names come from clients).
fn operation(protocol: &str, method: &str) -> String {
    let known = match protocol {
        "cimxml" => linmgmt_cimxml::INTRINSIC_METHODS
            .iter()
            .find(|m| m.eq_ignore_ascii_case(method))
            .copied(),
        "wsman" => method.strip_prefix("wsman:").filter(|m| {
            [
                "Identify",
                "Get",
                "Enumerate",
                "Pull",
                "Release",
                "Subscribe",
                "Renew",
                "Unsubscribe",
            ]
            .contains(m)
        }),
        "events" => Some("events"),
        _ => None,
    };
    match (known, method) {
        (Some(m), _) => m.to_owned(),
        // Refused before the method was known (authentication, HTTP limits).
        (None, "" | "wsman") => "none".to_owned(),
        (None, _) => "other".to_owned(),
    }
}

/// The result label.
fn result(http: u16, cim: &str) -> &'static str {
    match http {
        200 if cim.is_empty() || cim == "0" => "ok",
        200 | 500 => "error",
        401 => "unauthenticated",
        429 => "throttled",
        503 => "busy",
        _ => "rejected",
    }
}

fn text(i: &Instance, name: &str) -> String {
    match i.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

fn number(i: &Instance, name: &str) -> i64 {
    i.get(name)
        .and_then(Value::as_integer)
        .and_then(|n| i64::try_from(n).ok())
        .unwrap_or(0)
}

/// `ssh` of `ssh/tcp 10.0.0.1:22`.
fn protocol(transport: &str) -> String {
    transport.split(['/', ' ']).next().unwrap_or("").to_owned()
}

/// The protocol label of a Win32_ServerSession.
pub(crate) fn session_protocol(i: &Instance) -> String {
    protocol(&text(i, "TransportName"))
}

/// The session_type label: Win32_ServerSession.SessionType by its schema name (`Guest`,
/// `NoEncryption`, `Other`), so alerts read as what they mean.
fn session_type(i: &Instance) -> String {
    match number(i, "SessionType") {
        0 => "Guest".to_owned(),
        1 => "NoEncryption".to_owned(),
        2 => "Other".to_owned(),
        n => n.to_string(),
    }
}

/// What the gauges say: computed from one snapshot, on a blocking thread.
struct HostFigures {
    logon: Vec<(LogonLabels, i64)>,
    server: Vec<(ServerLabels, i64)>,
    connections: i64,
    resources: i64,
    processes: i64,
}

fn instances(engine: &linmgmt_engine::Engine, wql: &str) -> Result<Vec<Instance>, ops::OpError> {
    let mut warnings = 0;
    match ops::query(engine, "root/cimv2", wql, &mut warnings)? {
        Found::Instances { instances, .. } => Ok(instances),
        Found::Classes(_) => Ok(Vec::new()),
    }
}

fn count<L: Clone + Eq + std::hash::Hash>(labels: impl Iterator<Item = L>) -> Vec<(L, i64)> {
    let mut out: Vec<(L, i64)> = Vec::new();
    for l in labels {
        match out.iter_mut().find(|(k, _)| *k == l) {
            Some((_, n)) => *n += 1,
            None => out.push((l, 1)),
        }
    }
    out
}

fn host_figures(
    engine: &linmgmt_engine::Engine,
    detailed: bool,
) -> Result<HostFigures, ops::OpError> {
    let logons = instances(
        engine,
        "SELECT LogonType, AuthenticationPackage FROM Win32_LogonSession",
    )?;
    let servers = instances(engine, "SELECT * FROM Win32_ServerSession")?;
    let connections = instances(engine, "SELECT * FROM Win32_ServerConnection")?;
    let processes = instances(engine, "SELECT Antecedent FROM Win32_SessionProcess")?;
    Ok(HostFigures {
        logon: count(logons.iter().map(|i| LogonLabels {
            logon_type: text(i, "LogonType"),
            authentication_package: text(i, "AuthenticationPackage"),
        })),
        server: count(servers.iter().map(|i| ServerLabels {
            protocol: session_protocol(i),
            session_type: session_type(i),
            client_type: text(i, "ClientType"),
            user: detailed.then(|| text(i, "UserName")),
            address: detailed.then(|| text(i, "ComputerName")),
        })),
        connections: connections.len() as i64,
        resources: servers.iter().map(|i| number(i, "ResourcesOpened")).sum(),
        processes: processes
            .iter()
            .filter(|i| !text(i, "Antecedent").ends_with("LogonId=\"0\""))
            .count() as i64,
    })
}

/// The identity scrapes work as: an admin of its own, so they take their own fair share
/// of the blocking threads and never a user's.
fn scraper() -> Identity {
    Identity {
        name: "(metrics)".to_owned(),
        role: Role::Admin,
    }
}

/// Answers `GET /metrics`.
pub(crate) async fn respond(state: &Arc<State>, openmetrics: bool) -> Reply {
    let m = &state.metrics;
    let _one_at_a_time = m.scrape.lock().await;
    let deadline = Instant::now() + state.config.http.request_timeout;
    let who = scraper();
    let detailed = m.options.detailed;
    let figures = match turn(state, &who.name, deadline).await {
        Ok(t) => {
            crate::request::on_engine(state, &who, true, deadline, t, "scrape", move |e, _| {
                host_figures(e, detailed)
            })
            .await
        }
        Err(reply) => Err(reply),
    };
    match figures {
        Ok(Ok(f)) => {
            m.logon_sessions.clear();
            for (l, n) in f.logon {
                m.logon_sessions.get_or_create(&l).set(n);
            }
            m.server_sessions.clear();
            for (l, n) in f.server {
                m.server_sessions.get_or_create(&l).set(n);
            }
            m.server_connections.set(f.connections);
            m.open_resources.set(f.resources);
            m.session_processes.set(f.processes);
        }
        Ok(Err(e)) => tracing::warn!("metrics: the host figures failed: {}", e.message),
        Err(_) => tracing::warn!("metrics: no host figures before the deadline"),
    }
    if let Some(hub) = &state.snapshots.parts().hub {
        let now = hub.dropped();
        let before = m.dropped_seen.swap(now, Ordering::Relaxed);
        m.dropped.inc_by(now.saturating_sub(before));
    }
    if let Some(figures) = &state.snapshots.parts().process_table {
        let (rounds, corrections) = figures();
        let mut seen = m.table_seen.lock().unwrap_or_else(|e| e.into_inner());
        m.reconciliations.inc_by(rounds.saturating_sub(seen.0));
        m.corrections.inc_by(corrections.saturating_sub(seen.1));
        *seen = (rounds.max(seen.0), corrections.max(seen.1));
    }
    m.contexts.set(state.enumerations.sweep() as i64);
    m.subscriptions.set(state.subscriptions.sweep() as i64);
    let max = state.config.events.max_streams;
    m.streams
        .set(max.saturating_sub(state.event_slots.available_permits()) as i64);
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &m.registry) {
        tracing::warn!("metrics: encoding failed: {e}");
        return Reply::plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
    }
    let (body, content_type) = if openmetrics {
        (
            out,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    } else {
        (
            classic_text(&out),
            "text/plain; version=0.0.4; charset=utf-8",
        )
    };
    Reply {
        status: StatusCode::OK,
        headers: vec![("content-type", content_type.to_owned())],
        body: Bytes::from(body),
        cim: String::new(),
        warnings: 0,
    }
}

/// OpenMetrics text as the classic Prometheus text format 0.0.4: counters are named with
/// their `_total` suffix in HELP and TYPE, `_created` samples and `# EOF` are dropped,
/// and info metrics become gauges named `_info`.
pub(crate) fn classic_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut counters: Vec<String> = Vec::new();
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            match kind {
                "counter" => {
                    counters.push(name.to_owned());
                    out.push_str(&format!("# TYPE {name}_total counter\n"));
                }
                "info" => out.push_str(&format!("# TYPE {name}_info gauge\n")),
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let next_is = |kind: &str| {
                openmetrics
                    .lines()
                    .any(|l| l == format!("# TYPE {name} {kind}"))
            };
            let shown = if next_is("counter") {
                format!("{name}_total")
            } else if next_is("info") {
                format!("{name}_info")
            } else {
                name.to_owned()
            };
            out.push_str(&format!("# HELP {shown} {help}\n"));
            continue;
        }
        let sample = line.split(['{', ' ']).next().unwrap_or("");
        if counters.iter().any(|c| sample == format!("{c}_created")) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The event queries behind the counters, and what each event adds.
const COUNTED: [(&str, &str); 2] = [
    (
        "SELECT * FROM __InstanceOperationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_LogonSession'",
        "logon",
    ),
    (
        "SELECT * FROM __InstanceOperationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_ServerSession'",
        "server",
    ),
];

/// Starts the threads that count logons, logoffs and server sessions from the events hub
/// (one subscription each, for the life of the process; a stopped hub is subscribed to
/// again).
pub(crate) fn count_events(state: &Arc<State>) {
    let parts = state.snapshots.parts().clone();
    let Some(hub) = parts.hub.clone() else {
        return;
    };
    for (query, kind) in COUNTED {
        let hub = hub.clone();
        let parts = parts.clone();
        let state = state.clone();
        let spawned = std::thread::Builder::new()
            .name("linmgmt-metrics".into())
            .spawn(move || {
                loop {
                    let subscribed = parts
                        .repository
                        .namespace("root/cimv2")
                        .ok_or_else(|| "no root/cimv2".to_owned())
                        .and_then(|ns| {
                            linmgmt_events::Subscription::compile(
                                ns,
                                query,
                                &parts.compile,
                                parts.context.clone(),
                            )
                            .map_err(|e| e.message)
                        })
                        .and_then(|s| hub.subscribe(s, None).map_err(|e| e.message));
                    match subscribed {
                        Ok(mut stream) => {
                            while let Some(event) = stream.blocking_recv() {
                                count(&state.metrics, kind, &event);
                            }
                        }
                        Err(e) => tracing::warn!("metrics: cannot count {kind} events: {e}"),
                    }
                    std::thread::sleep(Duration::from_secs(5));
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("metrics: cannot start the event counter: {e}");
        }
    }

    fn count(m: &Metrics, kind: &str, event: &Instance) {
        let created = event.class().is_a("__InstanceCreationEvent");
        let deleted = event.class().is_a("__InstanceDeletionEvent");
        let Some(Value::Object(target)) = event.get("TargetInstance") else {
            return;
        };
        match (kind, created, deleted) {
            ("logon", true, _) | ("logon", _, true) => {
                let labels = LogonTypeLabels {
                    logon_type: text(target, "LogonType"),
                };
                let family = if created { &m.logons } else { &m.logoffs };
                family.get_or_create(&labels).inc();
            }
            ("server", true, _) | ("server", _, true) => {
                let labels = ProtocolLabels {
                    protocol: session_protocol(target),
                };
                let family = if created {
                    &m.server_opened
                } else {
                    &m.server_closed
                };
                family.get_or_create(&labels).inc();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_bounded() {
        assert_eq!(
            operation("cimxml", "enumerateinstances"),
            "EnumerateInstances"
        );
        assert_eq!(operation("cimxml", "x".repeat(100).as_str()), "other");
        assert_eq!(operation("cimxml", ""), "none");
        assert_eq!(operation("wsman", "wsman:Pull"), "Pull");
        assert_eq!(operation("wsman", "wsman"), "none");
        assert_eq!(result(200, "0"), "ok");
        assert_eq!(result(200, "6"), "error");
        assert_eq!(result(500, "wsa:DestinationUnreachable"), "error");
        assert_eq!(result(401, ""), "unauthenticated");
        assert_eq!(result(413, ""), "rejected");
        assert_eq!(protocol("ssh/tcp 10.0.0.1:22"), "ssh");
        assert_eq!(protocol("nfs/tcp"), "nfs");
    }

    #[test]
    fn classic_text_names_counters_with_total() {
        let m = Metrics::new(MetricsOptions::default());
        m.request("cimxml", "ExecQuery", 200, "0", Duration::from_millis(3));
        m.logons
            .get_or_create(&LogonTypeLabels {
                logon_type: "10".into(),
            })
            .inc();
        let mut om = String::new();
        prometheus_client::encoding::text::encode(&mut om, &m.registry).unwrap();
        assert!(om.ends_with("# EOF\n"), "{om}");
        let text = classic_text(&om);
        assert!(!text.contains("# EOF"));
        assert!(
            text.contains("# TYPE linmgmt_logons_total counter\n"),
            "{text}"
        );
        assert!(text.contains("# HELP linmgmt_logons_total "), "{text}");
        assert!(
            text.contains("linmgmt_logons_total{logon_type=\"10\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "linmgmt_requests_total{protocol=\"cimxml\",operation=\"ExecQuery\",result=\"ok\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE linmgmt_build_info gauge\n"), "{text}");
        assert!(text.contains("linmgmt_build_info{version="), "{text}");
        assert!(
            text.contains("linmgmt_request_duration_seconds_bucket{"),
            "{text}"
        );
        assert!(!text.contains("_created"), "{text}");
    }
}
