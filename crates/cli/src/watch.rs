//! `linmgmt watch`: an event query's events as they happen, until interrupted.

use crate::args::Cli;
use crate::{HostSettings, fail, print_warnings, terminal_width, time_zone, use_color};
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
    let root = cli.root.as_deref().unwrap_or(Path::new("/"));
    let tz = time_zone(root);
    // The engine without the host: only its schema and its namespace errors are needed.
    let engine = crate::build_engine(cli, None, &tz)?;
    let ns = engine.namespace(&cli.namespace).map_err(|e| fail(e, ""))?;
    let context = engine.context().clone();
    let opts = linmgmt_wql::CompileOptions {
        time_zone: tz.clone(),
    };
    let subscription =
        Subscription::compile(ns, wql, &opts, context.clone()).map_err(|e| fail(e, wql))?;
    if let Some(log) = crate::event_log::format_of(format) {
        return crate::event_log::watch(cli, root, &tz, wql, subscription, log, count);
    }
    let columns = subscription.columns().map(<[_]>::to_vec);
    let render = RenderOptions {
        color: use_color(),
        width: terminal_width(),
        context,
    };
    let mut writer =
        EventWriter::new(format, columns, render, tz.clone()).map_err(anyhow::Error::msg)?;
    let hub = HostSettings::from_cli(cli, root)
        .with_live_model(crate::WATCH_RECONCILE)
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
        let mut out = stdout.lock();
        writer.write(&event, &mut out)?;
        out.flush()?;
        seen += 1;
    }
    Ok(ExitCode::SUCCESS)
}
