//! `linmgmt`: WMI's session classes for Linux, on the command line.
//!
//! This crate is glue: it parses arguments, builds the engine for a root directory, runs
//! one command and prints the answer. Decisions about terminals (colour, width, default
//! format) are made here and nowhere else.

mod args;
mod config;
mod event_log;
mod generate;
mod local;
mod overview;
mod schema_view;
mod serve;
mod watch;

use anyhow::Context;
use args::{Cli, Command};
use jiff::tz::TimeZone;
use linmgmt_cim::{SystemContext, line_col};
use linmgmt_engine::{Engine, EngineError, MemoryProvider, QueryOutput, Warning};
use linmgmt_providers::HostProvider;
use linmgmt_render::{Format, RenderOptions, ResultSet, render, render_classes};
use linmgmt_schema::Repository;
use linmgmt_sources::command::{CommandRunner, FixtureRunner, SystemRunner};
use linmgmt_sources::model::LiveProcesses;
use linmgmt_sources::{Root, ScanOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

fn main() -> ExitCode {
    // `linmgmt generate …` (for packagers) is not part of the command line it describes.
    if let Some(code) = generate::main() {
        return code;
    }
    // `serve` takes its settings from the config file too (flags override it).
    let cli = match config::parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(&cli) {
        Ok(code) => code,
        Err(e) => ExitCode::from(exit_code(&e, &mut io::stderr())),
    }
}

/// The exit status of a failed command, after saying why on `err`: 1 for a WMI error (with
/// a caret under the part of the query it is about), 2 for anything else, 0 for a closed
/// pipe (`linmgmt query ... | head` is not an error).
fn exit_code(e: &anyhow::Error, err: &mut dyn Write) -> u8 {
    if e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    {
        return 0;
    }
    if let Some(wmi) = e.downcast_ref::<Failure>() {
        let _ = report_failure(wmi, err);
        return 1;
    }
    let _ = writeln!(err, "error: {e:#}");
    2
}

/// A WMI error together with the text it points into.
#[derive(Debug)]
struct Failure {
    error: EngineError,
    source: Option<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)
    }
}

impl std::error::Error for Failure {}

fn fail(error: EngineError, source: &str) -> anyhow::Error {
    anyhow::Error::new(Failure {
        error,
        source: Some(source.to_owned()),
    })
}

fn report_failure(f: &Failure, err: &mut dyn Write) -> io::Result<()> {
    writeln!(err, "error: {}", f.error)?;
    if let (Some(source), Some(span)) = (&f.source, f.error.span) {
        // Multi-line input gets its line number; one-line input just the caret.
        if source.contains('\n') {
            let (line, col) = line_col(source, span.start);
            writeln!(err, "  at line {line}, column {col}:")?;
        }
        let caret = linmgmt_wql::caret(source, span);
        writeln!(err, "{}", caret.trim_end_matches('\n'))?;
    }
    Ok(())
}

/// One line per distinct warning (several classes may report the same scan problem).
fn print_warnings(warnings: &[Warning]) {
    write_warnings(warnings, &mut io::stderr());
}

fn write_warnings(warnings: &[Warning], err: &mut dyn Write) {
    let mut seen = std::collections::HashSet::new();
    for w in warnings {
        if seen.insert(&w.message) {
            let _ = writeln!(err, "warning: {w}");
        }
    }
}

/// Whether stdout wants colour: a terminal, and `NO_COLOR` unset or empty.
fn use_color() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The format asked for, else a table on a terminal and `list` in a pipe (one
/// `Name=Value` per line is the easiest shape for grep and for scripts).
fn format_for(cli: &Cli) -> Format {
    cli.format.unwrap_or(if io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::List
    })
}

fn terminal_width() -> Option<u16> {
    if !io::stdout().is_terminal() {
        return None;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or(Some(120))
}

/// The host name of the system under `root`, as WMI's `__SERVER` shows it.
fn host_name(root: &Path) -> String {
    std::fs::read_to_string(root.join("proc/sys/kernel/hostname"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The time zone of the system under `root`: `TZ` (on the host), else its
/// `/etc/localtime`, else UTC. A fixture root without `/etc/localtime` shows UTC, so tests
/// do not depend on the host. (`TimeZone::system()` would also find the zone's name by
/// walking all of /usr/share/zoneinfo, which costs more than the whole query.)
fn time_zone(root: &Path) -> TimeZone {
    if root == Path::new("/")
        && let Some(tz) = std::env::var("TZ").ok().filter(|t| !t.is_empty())
        && let Ok(zone) = TimeZone::get(tz.trim_start_matches(':'))
    {
        return zone;
    }
    std::fs::read(root.join("etc/localtime"))
        .ok()
        .and_then(|data| TimeZone::tzif("localtime", &data).ok())
        .unwrap_or(TimeZone::UTC)
}

/// How to scan the host: the root and the scan options the command line asks for. Cheap to
/// clone, so the server can make a fresh provider for each snapshot.
#[derive(Clone)]
pub(crate) struct HostSettings {
    root: PathBuf,
    options: ScanOptions,
    /// The live process table, for commands that scan more than once (`serve`, `watch`).
    live: Option<Arc<LiveProcesses>>,
}

impl HostSettings {
    /// The live table's reconciliations and corrections so far, for the metrics.
    pub(crate) fn process_table_figures(&self) -> Option<linmgmt_server::ProcessTableFigures> {
        let live = self.live.clone()?;
        Some(Arc::new(move || {
            (live.reconciliations(), live.corrections())
        }))
    }
}

impl HostSettings {
    pub(crate) fn from_cli(cli: &Cli, root: &Path) -> Self {
        let mut options = ScanOptions {
            smbstatus_program: cli.smbstatus.clone(),
            ..ScanOptions::default()
        };
        if !cli.sshd_logs.is_empty() {
            options.sshd_logs = cli.sshd_logs.clone();
        }
        HostSettings {
            root: root.to_path_buf(),
            options,
            live: None,
        }
    }

    /// Keeps a live process table (as root, on the real host), reconciled with a full read
    /// of `/proc` every `reconcile` on a thread of its own; where that cannot be, says why
    /// once and leaves every scan reading `/proc` in full.
    pub(crate) fn with_live_model(mut self, reconcile: Duration, server_refresh: Duration) -> Self {
        if !self.on_host() {
            return self;
        }
        match LiveProcesses::start(&self.sources_root()) {
            Ok(mut live) => {
                // logind's answer is kept while no session comes or goes; without its
                // signals (no system bus, no logind) every refresh asks, as a scan does.
                if let Some(address) = self.logind_bus() {
                    match live.listen_to_logind(&address) {
                        Ok(()) => {
                            tracing::info!("logind: asked again when a session comes or goes")
                        }
                        Err(e) => tracing::info!("logind: asked at every refresh ({e})"),
                    }
                }
                let live = Arc::new(live.with_server_refresh(server_refresh));
                tracing::info!(
                    "live process table: kept from the kernel's process events, reconciled every {} s",
                    reconcile.as_secs_f64()
                );
                reconcile_every(Arc::downgrade(&live), reconcile);
                self.live = Some(live);
            }
            Err(e) => tracing::info!("no live process table ({e}): every refresh reads /proc"),
        }
        self
    }

    /// The D-Bus address logind is asked on, if it is asked over D-Bus at all.
    fn logind_bus(&self) -> Option<String> {
        use linmgmt_sources::LogindSource;
        match &self.options.logind {
            LogindSource::Bus(address) => Some(address.clone()),
            LogindSource::Auto if self.on_host() => {
                Some(linmgmt_sources::read::logind_bus::system_bus_address())
            }
            _ => None,
        }
    }

    fn on_host(&self) -> bool {
        self.root == Path::new("/")
    }

    fn sources_root(&self) -> Root {
        if self.on_host() {
            Root::host()
        } else {
            Root::new(&self.root)
        }
    }

    /// A provider for the host as it is now.
    pub(crate) fn provider(&self, tz: &TimeZone) -> HostProvider {
        let on_host = self.on_host();
        let sources_root = self.sources_root();
        // A fixture root answers for smbstatus from its own files, never from the host.
        let runner: Box<dyn CommandRunner> = if on_host {
            Box::new(SystemRunner)
        } else {
            Box::new(FixtureRunner::new(sources_root.clone()))
        };
        let provider = HostProvider::new(
            sources_root,
            self.options.clone(),
            runner,
            tz.clone(),
            jiff::Timestamp::now(),
        );
        match &self.live {
            Some(live) => provider.with_live_processes(live.clone()),
            None => provider,
        }
    }
}

/// How often `watch` reconciles its live process table (`serve` has
/// `--reconcile-interval`).
pub(crate) const WATCH_RECONCILE: Duration = Duration::from_secs(60);

/// Reconciles the table every `interval` until it is dropped. A panic in one round is
/// logged and the next round starts from a full read, so the table never stays broken.
fn reconcile_every(live: std::sync::Weak<LiveProcesses>, interval: Duration) {
    let spawned = std::thread::Builder::new()
        .name("reconcile".into())
        .spawn(move || {
            let mut listening = true;
            loop {
                std::thread::sleep(interval);
                let Some(live) = live.upgrade() else { return };
                if listening && !live.is_listening() {
                    listening = false;
                    tracing::warn!(
                        "the kernel's process events stopped: every refresh reads /proc in full"
                    );
                }
                let started = std::time::Instant::now();
                let round = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    live.reconcile()
                }));
                match round {
                    Ok(r) if r.corrections.is_empty() => tracing::info!(
                        "reconciled the process table: {} processes, 0 corrections, {:.1} ms",
                        r.compared,
                        started.elapsed().as_secs_f64() * 1000.0
                    ),
                    Ok(r) => {
                        for c in &r.corrections {
                            tracing::warn!("process table correction: {c}");
                        }
                        tracing::warn!(
                            "reconciled the process table: {} processes, {} corrections ({} in all)",
                            r.compared,
                            r.corrections.len(),
                            live.corrections()
                        );
                    }
                    Err(_) => tracing::error!("reconciling the process table panicked"),
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("no reconciliation of the process table: {e}");
    }
}

impl HostSettings {
    /// The hub that re-scans this host for event subscriptions (`watch`, the server's
    /// `/events`): woken by the kernel's process events (on `/`), by changes of utmp, wtmp,
    /// logind's session files and the NFS server's client list, and by logind's signals.
    pub(crate) fn hub(&self, tz: &TimeZone) -> linmgmt_events::Hub {
        let logind_bus = self.logind_bus();
        let root = self.sources_root();
        // The utmp that is read (var/run is often a link to run).
        let utmp = (self.options.utmp_paths.iter()).find(|p| root.exists(p));
        let mut paths: Vec<PathBuf> = utmp.into_iter().cloned().collect();
        paths.extend(
            [
                "var/log/wtmp",
                "run/systemd/sessions",
                "proc/fs/nfsd/clients",
            ]
            .map(PathBuf::from),
        );
        let wake = linmgmt_sources::wake::WakeOptions {
            paths,
            proc_connector: true,
            logind_bus,
        };
        let (settings, tz) = (self.clone(), tz.clone());
        linmgmt_events::Hub::new(linmgmt_events::HubSettings {
            host: Arc::new(move || settings.provider(&tz)),
            root,
            wake,
            capacity: linmgmt_events::DEFAULT_CAPACITY,
        })
    }
}

/// The instances of the `--instances` MOF files (tests of the engine and the server).
pub(crate) fn test_instances(
    cli: &Cli,
    repository: &Repository,
) -> anyhow::Result<Vec<Arc<MemoryProvider>>> {
    let mut providers = Vec::new();
    for file in &cli.instances {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        // `#pragma namespace` in the file may switch away from the default.
        let instances = repository
            .instantiate(
                linmgmt_engine::DEFAULT_NAMESPACE,
                &file.display().to_string(),
                &text,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        providers.push(Arc::new(MemoryProvider::new(instances)));
    }
    Ok(providers)
}

fn build_engine(
    cli: &Cli,
    host: Option<Arc<HostProvider>>,
    tz: &TimeZone,
) -> anyhow::Result<Engine> {
    let repository = Arc::new(Repository::builtin().context("loading the built-in schema")?);
    let root = cli.root.as_deref().unwrap_or(Path::new("/"));
    let context = SystemContext {
        server: host_name(root),
    };
    let compile = linmgmt_wql::CompileOptions {
        time_zone: tz.clone(),
    };
    let mut engine = Engine::new(repository.clone(), context, compile);
    if let Some(host) = host {
        engine.register(host);
    }
    for provider in test_instances(cli, &repository)? {
        engine.register(provider);
    }
    Ok(engine)
}

/// Each instance as JSON plus `__ASSOCIATORS`: for every class linked to it through an
/// association, how many objects and their relative paths.
fn with_associators(
    engine: &Engine,
    ns: &str,
    set: &ResultSet,
    err: &mut dyn Write,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let ctx = engine.context();
    let mut items = Vec::new();
    for inst in &set.instances {
        let names: Vec<&linmgmt_cim::Name> = if set.all_properties {
            inst.class().properties.iter().map(|p| &p.name).collect()
        } else {
            set.columns.iter().collect()
        };
        let mut item = linmgmt_render::instance_to_json(inst, &names, ctx);
        let mut linked: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
        if let Some(path) = inst.path() {
            // Counts and names: only the linked objects' keys are built.
            let mut query = linmgmt_wql::AssocQuery::new(path);
            query.keys_only = true;
            let answer = engine.associators(ns, &query).map_err(|e| fail(e, ""))?;
            write_warnings(&answer.warnings, err);
            if let linmgmt_engine::AssocOutput::Instances(found) = answer.value {
                for f in found {
                    let entry = linked
                        .entry(f.class_name().to_string())
                        .or_insert_with(|| serde_json::json!({"count": 0, "__RELPATH": []}));
                    entry["count"] = (entry["count"].as_u64().unwrap_or(0) + 1).into();
                    if let (Some(list), Some(p)) = (entry["__RELPATH"].as_array_mut(), f.path()) {
                        list.push(p.to_string().into());
                    }
                }
            }
        }
        if let Some(obj) = item.as_object_mut() {
            obj.insert("__ASSOCIATORS".to_owned(), linked.into());
        }
        items.push(item);
    }
    Ok(items)
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let ask = match &cli.command {
        Some(Command::Serve(args)) => return serve::serve(cli, args),
        Some(Command::User { command }) => return serve::user(command),
        Some(Command::Watch { wql, count }) => return watch::watch(cli, wql, *count),
        Some(Command::Classes { .. } | Command::Class { .. }) => None,
        None => Some(Ask::Overview),
        Some(Command::Query { wql, associators }) => Some(Ask::Query {
            wql: wql.clone(),
            associators: *associators,
        }),
        Some(Command::Get { path }) => Some(Ask::Get { path: path.clone() }),
    };
    let options = AskOptions {
        namespace: cli.namespace.clone(),
        format: match &cli.command {
            Some(Command::Get { .. }) => Some(cli.format.unwrap_or(Format::List)),
            Some(Command::Query { .. }) => Some(format_for(cli)),
            _ => cli.format,
        },
        color: use_color(),
        width: terminal_width(),
    };
    // The running server's live model answers on this host, unless told otherwise.
    if let Some(ask) = &ask
        && local::may_ask(cli)
        && let Some(code) = local::ask(ask, &options, cli)
    {
        return Ok(code);
    }
    let root = cli.root.as_deref().unwrap_or(Path::new("/"));
    let tz = time_zone(root);
    // `--instances` replaces the host with in-memory data (engine tests).
    let host = cli
        .instances
        .is_empty()
        .then(|| Arc::new(HostSettings::from_cli(cli, root).provider(&tz)));
    let engine = build_engine(cli, host.clone(), &tz)?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if let Some(ask) = &ask {
        answer(
            ask,
            &options,
            &engine,
            host.as_deref(),
            &mut out,
            &mut io::stderr(),
        )?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let opts = RenderOptions {
        color: options.color,
        width: options.width,
        context: engine.context().clone(),
    };
    let ns = cli.namespace.as_str();
    match &cli.command {
        Some(Command::Classes { tree }) => {
            let ns = engine.namespace(ns).map_err(|e| fail(e, ns))?;
            if *tree {
                schema_view::write_tree(ns, &mut out)?;
            } else if let Some(format) = cli.format {
                let classes: Vec<_> = ns.classes().cloned().collect();
                render_classes(format, &classes, &opts, &mut out)?;
            } else {
                for class in ns.classes() {
                    writeln!(out, "{}", class.name)?;
                }
            }
        }
        Some(Command::Class { name, mof }) => {
            let class = engine.class(ns, name).map_err(|e| fail(e, name))?;
            match (mof, cli.format) {
                (true, _) | (false, Some(Format::Mof)) => {
                    writeln!(out, "{}", linmgmt_mof::write_class(&class.declared))?
                }
                (false, Some(format)) => {
                    render_classes(format, std::slice::from_ref(class), &opts, &mut out)?
                }
                (false, None) => schema_view::write_class(class, &mut out)?,
            }
        }
        _ => unreachable!("answered above"),
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// What the overview, `query` and `get` ask: answered here over a fresh scan, or by the
/// running server over its live model (`local`), the same way.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ask {
    /// `linmgmt` alone: the overview of the current sessions.
    Overview,
    /// `linmgmt query`.
    Query { wql: String, associators: bool },
    /// `linmgmt get`.
    Get { path: String },
}

/// How the answer is written; decided by the client (its terminal), not by who answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AskOptions {
    pub(crate) namespace: String,
    /// The format (already the default for the command, when it has one).
    pub(crate) format: Option<Format>,
    pub(crate) color: bool,
    pub(crate) width: Option<u16>,
}

/// Writes the answer to `ask` on `out`, warnings on `err`.
pub(crate) fn answer(
    ask: &Ask,
    options: &AskOptions,
    engine: &Engine,
    host: Option<&HostProvider>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let opts = RenderOptions {
        color: options.color,
        width: options.width,
        context: engine.context().clone(),
    };
    let ns = options.namespace.as_str();
    match ask {
        Ask::Overview => {
            let host = host.context("the overview needs the host, not --instances")?;
            let snapshot = host.snapshot(linmgmt_providers::Depth::Servers);
            write_warnings(&linmgmt_providers::summarize(&snapshot.warnings), err);
            overview::write(
                &snapshot.items,
                host.root(),
                host.time_zone(),
                opts.color,
                out,
            )?;
        }
        Ask::Query { wql, associators } => {
            let format = options.format.unwrap_or(Format::List);
            if *associators && format != Format::Json {
                anyhow::bail!("--associators needs --format json");
            }
            if *associators && let Some(host) = host {
                // The associations need the sessions whole: one scan for the query and them
                // (a query that shows no origin would otherwise scan bare first).
                host.snapshot(linmgmt_providers::Depth::Sessions);
            }
            let answer = engine.query(ns, wql).map_err(|e| fail(e, wql))?;
            write_warnings(&answer.warnings, err);
            match answer.value {
                QueryOutput::Instances(set) if *associators => {
                    let items = with_associators(engine, ns, &set, err)?;
                    serde_json::to_writer_pretty(&mut *out, &items)?;
                    writeln!(out)?;
                }
                QueryOutput::Instances(set) => render(format, &set, &opts, out)?,
                QueryOutput::Classes(classes) => render_classes(format, &classes, &opts, out)?,
            }
        }
        Ask::Get { path } => {
            let answer = engine.get(ns, path).map_err(|e| fail(e, path))?;
            write_warnings(&answer.warnings, err);
            let inst = answer.value;
            let set = ResultSet {
                columns: inst
                    .class()
                    .properties
                    .iter()
                    .map(|p| p.name.clone())
                    .collect(),
                all_properties: true,
                instances: vec![inst],
            };
            render(options.format.unwrap_or(Format::List), &set, &opts, out)?;
        }
    }
    Ok(())
}
