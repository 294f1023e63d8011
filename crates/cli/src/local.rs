//! The local socket, both ends: `linmgmt`, `query` and `get` ask the running `serve`
//! (`/run/linmgmt/linmgmt.sock`, or `LINMGMT_SOCKET`), which answers from its live model
//! with the same code a direct scan runs ([`crate::answer`]); `--direct` forces the scan.
//!
//! Any doubt means a direct scan, silently: no socket, a stale one, a server that does not
//! answer in time or answers something else, a server that scans with other settings
//! (another smbstatus or sshd log), a caller the server does not serve (anyone but root, see
//! `linmgmt_server::local`), a time zone of the caller's own (`TZ`). So the answer is the
//! same either way; only the cost differs.
//!
//! The exchange is one JSON document each way: the request (the command, namespace,
//! format, colour, width, and the scan settings it assumes), then the answer (standard
//! output and error as text, the exit status), or `{"direct": true}`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use linmgmt_engine::Engine;
use linmgmt_providers::HostProvider;
use linmgmt_render::Format;
use linmgmt_server::{LocalService, Peer};
use serde_json::{Value, json};

use crate::args::Cli;
use crate::{Ask, AskOptions};

/// Where `serve` listens by default.
pub(crate) const DEFAULT_SOCKET: &str = "/run/linmgmt/linmgmt.sock";

/// The version of the exchange; a server that speaks another is not asked.
const VERSION: u64 = 1;

/// How long a client waits for the whole answer before scanning itself.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer read (a query over a huge host is a few megabytes).
const MAX_ANSWER: u64 = 256 << 20;

/// The socket clients try: `LINMGMT_SOCKET`, else [`DEFAULT_SOCKET`].
fn socket_path() -> PathBuf {
    std::env::var_os("LINMGMT_SOCKET")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_SOCKET), PathBuf::from)
}

/// Whether this command line may be answered by the server: the real host, no test data,
/// no `--direct`, and the server's time zone (no `TZ` of the caller's own).
pub(crate) fn may_ask(cli: &Cli) -> bool {
    !cli.direct
        && cli.root.as_deref().is_none_or(|r| r == Path::new("/"))
        && cli.instances.is_empty()
        && std::env::var_os("TZ").is_none_or(|t| t.is_empty())
}

/// The settings a scan depends on, as the client would scan.
fn scan_settings(cli: &Cli) -> Value {
    json!({
        "smbstatus": cli.smbstatus.to_string_lossy(),
        "sshd_logs": cli.sshd_logs.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>(),
    })
}

fn format_name(f: Format) -> String {
    format!("{f:?}").to_ascii_lowercase()
}

/// The request for `ask`.
fn request(ask: &Ask, options: &AskOptions, cli: &Cli) -> Value {
    let command = match ask {
        Ask::Overview => json!({"overview": {}}),
        Ask::Query { wql, associators } => {
            json!({"query": {"wql": wql, "associators": associators}})
        }
        Ask::Get { path } => json!({"get": {"path": path}}),
    };
    json!({
        "linmgmt_local": VERSION,
        "command": command,
        "namespace": options.namespace,
        "format": options.format.map(format_name),
        "color": options.color,
        "width": options.width,
        "scan": scan_settings(cli),
    })
}

/// Reads a request back: its command's name and arguments, the options and the scan
/// settings; `None` for anything that is not one.
fn parse_envelope(bytes: &[u8]) -> Option<(String, Value, AskOptions, Value)> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    if v.get("linmgmt_local")?.as_u64()? != VERSION {
        return None;
    }
    let (name, args) = v.get("command")?.as_object()?.iter().next()?;
    let format = match v.get("format")? {
        Value::Null => None,
        f => Some(f.as_str()?.parse().ok()?),
    };
    let width = match v.get("width")? {
        Value::Null => None,
        w => Some(u16::try_from(w.as_u64()?).ok()?),
    };
    let options = AskOptions {
        namespace: v.get("namespace")?.as_str()?.to_owned(),
        format,
        color: v.get("color")?.as_bool()?,
        width,
    };
    Some((name.clone(), args.clone(), options, v.get("scan")?.clone()))
}

/// Reads a request for an answer (not a stream) back.
fn parse_request(bytes: &[u8]) -> Option<(Ask, AskOptions, Value)> {
    let (name, args, options, scan) = parse_envelope(bytes)?;
    let text = |k: &str| Some(args.get(k)?.as_str()?.to_owned());
    let ask = match name.as_str() {
        "overview" => Ask::Overview,
        "query" => Ask::Query {
            wql: text("wql")?,
            associators: args.get("associators")?.as_bool()?,
        },
        "get" => Ask::Get {
            path: text("path")?,
        },
        _ => return None,
    };
    Some((ask, options, scan))
}

/// Asks the server; `Some(exit status)` once its answer is written out, `None` when the
/// caller should scan itself.
pub(crate) fn ask(ask: &Ask, options: &AskOptions, cli: &Cli) -> Option<ExitCode> {
    let mut stream = UnixStream::connect(socket_path()).ok()?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(ANSWER_TIMEOUT)).ok()?;
    let body = serde_json::to_vec(&request(ask, options, cli)).ok()?;
    stream.write_all(&body).ok()?;
    stream.shutdown(std::net::Shutdown::Write).ok()?;
    let mut bytes = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut bytes).ok()?;
    let answer: Value = serde_json::from_slice(&bytes).ok()?;
    if answer.get("linmgmt_local")?.as_u64()? != VERSION || answer.get("direct")?.as_bool()? {
        return None;
    }
    let stdout = answer.get("stdout")?.as_str()?;
    let stderr = answer.get("stderr")?.as_str()?;
    let code = u8::try_from(answer.get("code")?.as_u64()?).ok()?;
    // The answer is complete before anything is written: a half-read one means a scan.
    let _ = std::io::stderr().write_all(stderr.as_bytes());
    let mut out = std::io::stdout().lock();
    match out.write_all(stdout.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            Some(ExitCode::from(2))
        }
        _ => Some(ExitCode::from(code)),
    }
}

/// The server's end: answers requests made with the same scan settings as its own.
pub(crate) struct Service {
    /// The scan settings of the server, as a client would send them.
    scan: Value,
    /// The server's events hub, for `watch`.
    hub: Option<linmgmt_events::Hub>,
    /// The server's time zone.
    tz: jiff::tz::TimeZone,
}

impl Service {
    pub(crate) fn new(
        cli: &Cli,
        hub: Option<linmgmt_events::Hub>,
        tz: jiff::tz::TimeZone,
    ) -> Service {
        Service {
            scan: scan_settings(cli),
            hub,
            tz,
        }
    }
}

/// How long a stream stays silent at most: an empty line then tells a client that the
/// server is there, and the server that the client still is.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The request for `watch`: the envelope of [`request`] around another command.
fn watch_request(wql: &str, count: Option<u64>, options: &AskOptions, cli: &Cli) -> Value {
    let mut v = request(&Ask::Overview, options, cli);
    v["command"] = json!({"watch": {"wql": wql, "count": count}});
    v
}

/// Reads a `watch` request back: the query and the count.
fn parse_watch(bytes: &[u8]) -> Option<(String, Option<u64>, AskOptions, Value)> {
    let (name, args, options, scan) = parse_envelope(bytes)?;
    if name != "watch" {
        return None;
    }
    let count = match args.get("count")? {
        Value::Null => None,
        n => Some(n.as_u64()?),
    };
    Some((args.get("wql")?.as_str()?.to_owned(), count, options, scan))
}

/// Follows `wql` on the server; `Some(exit status)` once the stream ended, `None` when the
/// caller should watch itself (nothing was written then).
pub(crate) fn watch(
    wql: &str,
    count: Option<u64>,
    options: &AskOptions,
    cli: &Cli,
) -> Option<ExitCode> {
    use std::io::BufRead;
    let mut stream = UnixStream::connect(socket_path()).ok()?;
    stream.set_write_timeout(Some(ANSWER_TIMEOUT)).ok()?;
    // Keep-alives come every 15 s; four missed mean the server is gone.
    stream.set_read_timeout(Some(KEEP_ALIVE * 4)).ok()?;
    let body = serde_json::to_vec(&watch_request(wql, count, options, cli)).ok()?;
    stream.write_all(&body).ok()?;
    stream.shutdown(std::net::Shutdown::Write).ok()?;
    let mut lines = std::io::BufReader::new(stream.take(MAX_ANSWER)).lines();
    let mut started = false;
    loop {
        let Some(Ok(line)) = lines.next() else {
            if !started {
                return None;
            }
            let _ = writeln!(
                std::io::stderr(),
                "error: the server stopped following events"
            );
            return Some(ExitCode::from(2));
        };
        if line.is_empty() {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            if !started {
                return None;
            }
            continue;
        };
        if !started && v.get("direct").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        started = true;
        if let Some(text) = v.get("stderr").and_then(Value::as_str) {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
        if let Some(text) = v.get("stdout").and_then(Value::as_str) {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                // A closed pipe (`watch | head`) is not an error.
                return Some(ExitCode::SUCCESS);
            }
        }
        if let Some(code) = v.get("code").and_then(Value::as_u64) {
            return Some(ExitCode::from(u8::try_from(code).unwrap_or(2)));
        }
    }
}

/// One line of a stream.
fn send(out: &mut UnixStream, v: &Value) -> std::io::Result<()> {
    let mut line = v.to_string();
    line.push('\n');
    out.write_all(line.as_bytes())
}

/// The end of a stream that failed with `e`.
fn send_failure(out: &mut UnixStream, e: &anyhow::Error) {
    let mut err = Vec::new();
    let code = crate::exit_code(e, &mut err);
    let _ = send(out, &json!({"stderr": String::from_utf8_lossy(&err)}));
    let _ = send(out, &json!({"code": code}));
}

fn direct() -> Vec<u8> {
    json!({"linmgmt_local": VERSION, "direct": true})
        .to_string()
        .into_bytes()
}

impl LocalService for Service {
    fn not_served(&self, _peer: &Peer) -> Vec<u8> {
        direct()
    }

    fn answer(
        &self,
        _peer: &Peer,
        request: &[u8],
        engine: &Engine,
        host: Option<&HostProvider>,
    ) -> Vec<u8> {
        let Some((ask, options, scan)) = parse_request(request) else {
            return direct();
        };
        if scan != self.scan {
            return direct();
        }
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = match crate::answer(&ask, &options, engine, host, &mut out, &mut err) {
            Ok(()) => 0,
            Err(e) => crate::exit_code(&e, &mut err),
        };
        json!({
            "linmgmt_local": VERSION,
            "direct": false,
            "stdout": String::from_utf8_lossy(&out),
            "stderr": String::from_utf8_lossy(&err),
            "code": code,
        })
        .to_string()
        .into_bytes()
    }

    fn failed(&self, why: &str) -> Vec<u8> {
        tracing::debug!("local socket: {why}; the client scans itself");
        direct()
    }

    fn streams(&self, request: &[u8]) -> bool {
        parse_watch(request).is_some()
    }

    fn stream(
        &self,
        _peer: &Peer,
        request: &[u8],
        engine: &Engine,
        mut out: UnixStream,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let _ = out.set_write_timeout(Some(ANSWER_TIMEOUT));
        let (Some((wql, count, options, scan)), Some(hub)) = (parse_watch(request), &self.hub)
        else {
            let _ = out.write_all(&direct());
            return;
        };
        if scan != self.scan {
            let _ = out.write_all(&direct());
            return;
        }
        let prepared = crate::watch::prepare(engine, &options, &wql, &self.tz, Path::new("/"));
        let (subscription, mut lines) = match prepared {
            Ok(p) => p,
            Err(e) => return send_failure(&mut out, &e),
        };
        let mut events = match hub.subscribe(subscription, None) {
            Ok(s) => s,
            Err(e) => return send_failure(&mut out, &crate::fail(e, &wql)),
        };
        let mut head = Vec::new();
        crate::write_warnings(events.warnings(), &mut head);
        let _ = writeln!(head, "watching: {}", events.description());
        if send(&mut out, &json!({"stderr": String::from_utf8_lossy(&head)})).is_err() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        else {
            return send_failure(&mut out, &anyhow::anyhow!("no runtime for the stream"));
        };
        runtime.block_on(async {
            let mut seen = 0u64;
            while count.is_none_or(|n| seen < n) {
                let event = tokio::select! {
                    e = events.recv() => e,
                    () = tokio::time::sleep(KEEP_ALIVE) => {
                        if out.write_all(b"\n").is_err() {
                            return;
                        }
                        continue;
                    }
                    _ = stop.changed() => return,
                };
                let Some(event) = event else {
                    return send_failure(&mut out, &anyhow::anyhow!("the watcher stopped"));
                };
                let sent = match lines.line(&event) {
                    Ok(crate::watch::Line::Out(text)) => {
                        seen += 1;
                        send(&mut out, &json!({"stdout": text}))
                    }
                    Ok(crate::watch::Line::Err(text)) => send(&mut out, &json!({"stderr": text})),
                    Ok(crate::watch::Line::Nothing) => Ok(()),
                    Err(e) => return send_failure(&mut out, &e),
                };
                if sent.is_err() {
                    return;
                }
            }
            let _ = send(&mut out, &json!({"code": 0}));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn requests_round_trip() {
        let cli = Cli::parse_from(["linmgmt", "query", "SELECT * FROM Win32_LogonSession"]);
        let cases = [
            (Ask::Overview, None, true, Some(120)),
            (
                Ask::Query {
                    wql: "SELECT LogonId FROM Win32_LogonSession WHERE Name LIKE '%ü%'".into(),
                    associators: true,
                },
                Some(Format::Json),
                false,
                None,
            ),
            (
                Ask::Get {
                    path: "Win32_LogonSession.LogonId=\"3\"".into(),
                },
                Some(Format::Xml),
                false,
                Some(80),
            ),
        ];
        for (ask, format, color, width) in cases {
            let options = AskOptions {
                namespace: "root/cimv2".into(),
                format,
                color,
                width,
            };
            let bytes = serde_json::to_vec(&request(&ask, &options, &cli)).unwrap();
            let (back, back_options, scan) = parse_request(&bytes).expect("parses");
            assert_eq!((back, back_options), (ask, options));
            assert_eq!(scan, scan_settings(&cli));
        }
    }

    #[test]
    fn watch_requests_round_trip() {
        let cli = Cli::parse_from(["linmgmt", "watch", "SELECT * FROM __InstanceOperationEvent"]);
        let options = AskOptions {
            namespace: "root/cimv2".into(),
            format: Some(Format::Ecs),
            color: false,
            width: None,
        };
        for count in [None, Some(3)] {
            let bytes =
                serde_json::to_vec(&watch_request("SELECT 1", count, &options, &cli)).unwrap();
            let (wql, back_count, back, _) = parse_watch(&bytes).expect("parses");
            assert_eq!(
                (wql.as_str(), back_count, back),
                ("SELECT 1", count, options.clone())
            );
            assert!(parse_request(&bytes).is_none(), "a stream is not an answer");
        }
        let query = request(&Ask::Overview, &options, &cli).to_string();
        assert!(parse_watch(query.as_bytes()).is_none());
    }

    #[test]
    fn anything_else_is_not_a_request() {
        for bad in [
            &b""[..],
            b"{}",
            b"[1]",
            br#"{"linmgmt_local": 2, "command": {"overview": {}}}"#,
            br#"{"linmgmt_local": 1, "command": {"reboot": {}}, "namespace": "root/cimv2", "format": null, "color": false, "width": null, "scan": {}}"#,
            br#"{"linmgmt_local": 1, "command": {"get": {}}, "namespace": "root/cimv2", "format": null, "color": false, "width": null, "scan": {}}"#,
            br#"{"linmgmt_local": 1, "command": {"overview": {}}, "namespace": "root/cimv2", "format": "nope", "color": false, "width": null, "scan": {}}"#,
            br#"{"linmgmt_local": 1, "command": {"overview": {}}, "namespace": "root/cimv2", "format": null, "color": false, "width": 70000, "scan": {}}"#,
        ] {
            assert!(parse_request(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
