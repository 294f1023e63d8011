//! `linmgmt watch`: an event query's events as they happen, until interrupted — followed
//! here over a hub of this process, or by the running server over its local socket
//! (`local::watch`), with the same [`prepare`] and [`EventLines`].

use crate::args::Cli;
use crate::{AskOptions, HostSettings, fail, print_warnings, terminal_width, time_zone, use_color};
use linmgmt_cim::Instance;
use linmgmt_engine::Engine;
use linmgmt_events::Subscription;
use linmgmt_render::{EventWriter, Format, RenderOptions};
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

/// Subscribes, says on stderr what is watched once the baseline is taken, then writes each
/// event as it comes (flushed, so a pipe sees it at once).
pub(crate) fn watch(cli: &Cli, wql: &str, count: Option<u64>) -> anyhow::Result<ExitCode> {
    if !cli.instances.is_empty() {
        anyhow::bail!("watch follows the host; --instances has nothing that changes");
    }
    // A pipe gets JSON lines: a stream has no end for a `list` reader to wait for.
    let format = cli.format.unwrap_or(if io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let options = AskOptions {
        namespace: cli.namespace.clone(),
        format: Some(format),
        color: use_color(),
        width: terminal_width(),
    };
    if crate::local::may_ask(cli)
        && let Some(code) = crate::local::watch(wql, count, &options, cli)
    {
        return Ok(code);
    }
    let root = cli.root.as_deref().unwrap_or(Path::new("/"));
    let tz = time_zone(root);
    // The engine without the host: only its schema and its namespace errors are needed.
    let engine = crate::build_engine(cli, None, &tz)?;
    let (subscription, mut lines) = prepare(&engine, &options, wql, &tz, root)?;
    let hub = HostSettings::from_cli(cli, root)
        .with_live_model(
            crate::WATCH_RECONCILE,
            linmgmt_sources::memo::SERVER_REFRESH,
        )
        .hub(&tz);
    let mut stream = hub
        .subscribe(subscription, None)
        .map_err(|e| fail(e, wql))?;
    print_warnings(stream.warnings());
    eprintln!("watching: {}", stream.description());
    let stdout = io::stdout();
    let mut seen = 0u64;
    while count.is_none_or(|n| seen < n) {
        let Some(event) = stream.blocking_recv() else {
            anyhow::bail!("the watcher stopped");
        };
        match lines.line(&event)? {
            Line::Out(text) => {
                let mut out = stdout.lock();
                out.write_all(text.as_bytes())?;
                out.flush()?;
                seen += 1;
            }
            Line::Err(text) => eprint!("{text}"),
            Line::Nothing => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The subscription for `wql` and how its events are written.
pub(crate) fn prepare(
    engine: &Engine,
    options: &AskOptions,
    wql: &str,
    tz: &jiff::tz::TimeZone,
    root: &Path,
) -> anyhow::Result<(Subscription, EventLines)> {
    let ns = engine
        .namespace(&options.namespace)
        .map_err(|e| fail(e, ""))?;
    let context = engine.context().clone();
    let compile = linmgmt_wql::CompileOptions {
        time_zone: tz.clone(),
    };
    let subscription =
        Subscription::compile(ns, wql, &compile, context.clone()).map_err(|e| fail(e, wql))?;
    let format = options.format.unwrap_or(Format::Json);
    if let Some(log) = crate::event_log::format_of(format) {
        let lines = crate::event_log::LogLines::new(&subscription, wql, log, root)?;
        return Ok((subscription, EventLines::Log(lines)));
    }
    let columns = subscription.columns().map(<[_]>::to_vec);
    let render = RenderOptions {
        color: options.color,
        width: options.width,
        context,
    };
    let writer =
        EventWriter::new(format, columns, render, tz.clone()).map_err(anyhow::Error::msg)?;
    Ok((subscription, EventLines::Render(writer)))
}

/// How events become text: a WMI event rendered, or a security event log line.
pub(crate) enum EventLines {
    /// `--format table|list|json|csv|mof|xml`.
    Render(EventWriter),
    /// `--format ocsf|ecs`.
    Log(crate::event_log::LogLines),
}

/// What one event gives.
pub(crate) enum Line {
    /// Standard output (one event; counts towards `--count`).
    Out(String),
    /// Standard error (a warning).
    Err(String),
    /// Nothing (an event the log format does not show).
    Nothing,
}

impl EventLines {
    /// The text of `event`.
    pub(crate) fn line(&mut self, event: &Instance) -> anyhow::Result<Line> {
        match self {
            EventLines::Render(writer) => {
                let mut text = Vec::new();
                writer.write(event, &mut text)?;
                Ok(Line::Out(String::from_utf8_lossy(&text).into_owned()))
            }
            EventLines::Log(log) => Ok(log.line(event)),
        }
    }
}
