//! The security event log: `linmgmt serve --event-log FILE|-` and `linmgmt watch --format
//! ocsf|ecs`. Logons, logoffs and server sessions opened and closed, one JSON line each, in
//! OCSF or ECS (the mapping is `linmgmt-seclog`'s).
//!
//! The server's writer is a thread fed by the server's events hub (two subscriptions:
//! creations and deletions of `Win32_LogonSession` and of `Win32_ServerSession`). It keeps
//! a state file (`linmgmt_seclog::Reported`: the sessions it has reported as logged on, and
//! the next sequence number), replaced atomically after each batch of lines, so that a
//! restart neither repeats nor loses an event: on start it compares the state with the
//! sessions open now, writes a logoff for each reported session that ended meanwhile and a
//! logon for each session not reported yet, and from then on drops live events that repeat
//! what it wrote. The same comparison repairs the log after events were lost (a queue
//! overflow, a failed write, a watcher restart). Lines are written and synced before the
//! state: a crash between the two repeats that batch at the next start (at least once),
//! never loses it.
//!
//! SIGHUP reopens the file (log rotation by renaming, as logrotate's `create`); the file is
//! opened for appending, so a rotation by copying and truncating it (`copytruncate`) needs
//! no signal.

use crate::args::ServeArgs;
use anyhow::{Context as _, bail};
use jiff::Timestamp;
use linmgmt_cim::{ClassDef, Instance};
use linmgmt_events::{EventStream, Hub, Subscription};
use linmgmt_render::Format;
use linmgmt_schema::Repository;
use linmgmt_seclog::{Classified, Context, Reported, Session, SessionEvent};
use linmgmt_server::{EngineParts, HostFactory};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often, at most, the host is polled for session changes that nothing announces (an
/// SMB session); logins and logouts usually wake the watcher at once.
const WITHIN: &str = "5";

/// How long a stopping server waits for the writer to finish the batch it is writing.
const STOP_WAIT: Duration = Duration::from_secs(3);

/// How long to wait before trying again after a failed write or a stopped watcher.
const RETRY: Duration = Duration::from_secs(2);

/// The state file for `--event-log -` when `--event-log-state` is not given.
const STDOUT_STATE: &str = "/var/lib/linmgmt/event-log.state";

/// The event-log format a `--format` asks for, if it is one.
pub(crate) fn format_of(format: Format) -> Option<linmgmt_seclog::Format> {
    match format {
        Format::Ocsf => Some(linmgmt_seclog::Format::Ocsf),
        Format::Ecs => Some(linmgmt_seclog::Format::Ecs),
        _ => None,
    }
}

fn context(server: &str) -> Context {
    Context {
        host: server.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// The uids of user names, from `/etc/passwd` under the root (read again when a name is
/// not found, at most every few seconds). Users only NSS knows (LDAP) get no uid.
struct Accounts {
    root: linmgmt_sources::Root,
    uids: HashMap<String, u32>,
    read_at: Option<Instant>,
}

impl Accounts {
    fn new(root: &Path) -> Accounts {
        Accounts {
            root: linmgmt_sources::Root::new(root),
            uids: HashMap::new(),
            read_at: None,
        }
    }

    fn uid(&mut self, name: &str) -> Option<u32> {
        if let Some(uid) = self.uids.get(name) {
            return Some(*uid);
        }
        if self
            .read_at
            .is_some_and(|t| t.elapsed() < Duration::from_secs(5))
        {
            return None;
        }
        self.read_at = Some(Instant::now());
        let text = self.root.read_string("etc/passwd").unwrap_or_default();
        let (entries, _) = linmgmt_sources::parse::accounts::parse_passwd(&text);
        self.uids = entries.into_iter().map(|e| (e.name, e.uid)).collect();
        self.uids.get(name).copied()
    }

    fn fill(&mut self, s: &mut Session) {
        if s.uid.is_none()
            && let Some(name) = s.user.clone()
        {
            s.uid = self.uid(&name);
        }
    }
}

// --- watch --format ocsf|ecs ------------------------------------------------------------

/// Refuses event queries the log formats cannot show: other classes than the session
/// classes, modifications only, `GROUP WITHIN`, a select list without `TargetInstance` or
/// `TIME_CREATED`.
fn check_query(subscription: &Subscription, wql: &str) -> anyhow::Result<()> {
    let sessions =
        |c: &Arc<ClassDef>| c.name.is("Win32_LogonSession") || c.name.is("Win32_ServerSession");
    if !subscription.classes().all(sessions) {
        bail!(
            "--format ocsf and ecs write logons and logoffs: watch Win32_LogonSession or \
             Win32_ServerSession, not {}",
            subscription.target().name
        );
    }
    if let Ok(linmgmt_wql::Statement::Event(q)) = linmgmt_wql::parse(wql) {
        if q.from.name.is("__InstanceModificationEvent") {
            bail!(
                "--format ocsf and ecs write logons and logoffs (creations and deletions); \
                 a modification is neither"
            );
        }
        if q.group.is_some() {
            bail!("--format ocsf and ecs write single events: GROUP WITHIN has no mapping");
        }
        if let linmgmt_wql::SelectList::Properties(props) = &q.properties
            && !["TargetInstance", "TIME_CREATED"]
                .iter()
                .all(|want| props.iter().any(|p| p.name.is(want)))
        {
            bail!(
                "--format ocsf and ecs need TargetInstance and TIME_CREATED in the select list \
                 (or SELECT *)"
            );
        }
    }
    Ok(())
}

/// `linmgmt watch … --format ocsf|ecs`: each creation and deletion of a logon or server
/// session as one line (modifications are not logons or logoffs, and are left out). The
/// sessions open when watch starts are its baseline, as for every format: no lines.
pub(crate) struct LogLines {
    format: linmgmt_seclog::Format,
    ctx: Context,
    accounts: Accounts,
}

impl LogLines {
    /// Lines for the events of `subscription` (refused unless the format can show them).
    pub(crate) fn new(
        subscription: &Subscription,
        wql: &str,
        format: linmgmt_seclog::Format,
        root: &Path,
    ) -> anyhow::Result<LogLines> {
        check_query(subscription, wql)?;
        Ok(LogLines {
            format,
            ctx: context(&crate::host_name(root)),
            accounts: Accounts::new(root),
        })
    }

    /// The line of one event, if it is a logon or a logoff.
    pub(crate) fn line(&mut self, event: &Instance) -> crate::watch::Line {
        use crate::watch::Line;
        match linmgmt_seclog::classify(event) {
            Classified::Session(mut e) => {
                self.accounts.fill(&mut e.session);
                Line::Out(linmgmt_seclog::to_line(self.format, &e, &self.ctx))
            }
            Classified::Ignored | Classified::Unmapped(_) => Line::Nothing,
            Classified::Overflow(n) => Line::Err(format!(
                "warning: {n} events were lost: the consumer did not keep up\n"
            )),
        }
    }
}

// --- serve --event-log ----------------------------------------------------------------

/// Where the lines go.
enum Sink {
    Stdout,
    File { path: PathBuf, file: File },
}

impl Sink {
    fn open_file(path: &Path) -> io::Result<File> {
        use std::os::unix::fs::OpenOptionsExt;
        make_dir_of(path)?;
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)
    }

    fn name(&self) -> String {
        match self {
            Sink::Stdout => "standard output".to_owned(),
            Sink::File { path, .. } => path.display().to_string(),
        }
    }

    /// Writes whole lines and makes them durable before the state says they were written.
    fn write(&mut self, text: &str) -> io::Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()
            }
            Sink::File { file, .. } => {
                file.write_all(text.as_bytes())?;
                file.sync_data()
            }
        }
    }

    /// Opens the file again by its name (after a rotation renamed it).
    fn reopen(&mut self) -> io::Result<()> {
        if let Sink::File { path, file } = self {
            *file = Sink::open_file(path)?;
        }
        Ok(())
    }
}

/// The state file, replaced atomically, and its lock (one writer per state).
struct StateFile {
    path: PathBuf,
    _lock: File,
}

impl StateFile {
    fn open(path: &Path) -> anyhow::Result<(StateFile, Reported)> {
        make_dir_of(path)
            .with_context(|| format!("creating the directory of {}", path.display()))?;
        let lock_path = with_suffix(path, ".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        if lock.try_lock().is_err() {
            bail!(
                "{} is locked: another linmgmt writes the event log that uses it",
                lock_path.display()
            );
        }
        let reported = match std::fs::read_to_string(path) {
            Ok(text) => match Reported::from_json(&text) {
                Ok(r) => r,
                Err(e) => {
                    // Starting afresh reports the open sessions again (at least once);
                    // refusing to start would lose every event until someone looks.
                    tracing::error!(
                        "event log: {}: {e}; starting afresh (open sessions are reported again)",
                        path.display()
                    );
                    Reported::new()
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Reported::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok((
            StateFile {
                path: path.to_owned(),
                _lock: lock,
            },
            reported,
        ))
    }

    fn save(&self, reported: &Reported) -> io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = with_suffix(&self.path, &format!(".tmp{}", std::process::id()));
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(reported.to_json().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

/// Creates the directory a file goes in, if missing (mode 0750: security logs are not for
/// everyone).
fn make_dir_of(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.exists() => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir),
        _ => Ok(()),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The state file next to the log: `DIR/.NAME.state` (hidden, so that a logrotate glob
/// such as `*.log` or `events*` leaves it alone).
fn default_state(log: &Path) -> PathBuf {
    let name = log
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "event-log".to_owned());
    log.with_file_name(format!(".{name}.state"))
}

/// The writer: what it has reported, and where.
struct Writer {
    format: linmgmt_seclog::Format,
    ctx: Context,
    sink: Sink,
    state: StateFile,
    reported: Reported,
    accounts: Accounts,
    host: HostFactory,
    /// The root, for the kernel's boot id.
    root: linmgmt_sources::Root,
    classes: [Arc<ClassDef>; 2],
    /// Set when what is written may lag the host (lost events, a failed write): the next
    /// pause compares the state with a fresh scan.
    resync: bool,
}

impl Writer {
    /// Writes the lines `events` give (repeats dropped), then records them.
    fn commit(&mut self, next: Reported, lines: Vec<SessionEvent>) {
        if lines.is_empty() {
            self.reported = next;
            return;
        }
        let text: String = (lines.iter())
            .map(|e| linmgmt_seclog::to_line(self.format, e, &self.ctx))
            .collect();
        if let Err(e) = self.sink.write(&text) {
            // Not recorded: a resync writes what is still true once the sink works again.
            tracing::error!("event log: writing {}: {e}", self.sink.name());
            self.resync = true;
            return;
        }
        self.reported = next;
        if let Err(e) = self.state.save(&self.reported) {
            tracing::error!(
                "event log: saving {}: {e} (a restart may repeat events)",
                self.state.path.display()
            );
        }
    }

    fn events(&mut self, events: Vec<Instance>) {
        let mut next = self.reported.clone();
        let mut lines = Vec::new();
        for event in events {
            match linmgmt_seclog::classify(&event) {
                Classified::Session(mut e) => {
                    self.accounts.fill(&mut e.session);
                    lines.extend(next.apply(*e));
                }
                Classified::Ignored | Classified::Unmapped(_) => {}
                Classified::Overflow(n) => {
                    tracing::warn!("event log: {n} events were lost; comparing with the host");
                    self.resync = true;
                }
            }
        }
        self.commit(next, lines);
    }

    /// Compares what was reported with the sessions open now and writes the difference.
    fn resync(&mut self) {
        self.resync = false;
        let now = Timestamp::now();
        let host = (self.host)();
        let mut current = Vec::new();
        for class in &self.classes {
            let (mut found, mut warnings) = (Vec::new(), Vec::new());
            host.instances_for(
                class,
                &linmgmt_engine::Wanted::All,
                None,
                &mut found,
                &mut warnings,
            );
            for w in warnings {
                tracing::debug!("event log scan: {w}");
            }
            for i in &found {
                if let Some(mut s) = Session::from_instance(i, now, true) {
                    self.accounts.fill(&mut s);
                    current.push(s);
                }
            }
        }
        let boot = self.root.read_string("proc/sys/kernel/random/boot_id").ok();
        let boot = boot.as_deref().map(str::trim).filter(|b| !b.is_empty());
        let mut next = self.reported.clone();
        let lines = next.reconcile(&current, boot, now);
        let (offs, ons) = (lines.iter()).fold((0, 0), |(off, on), e| match e.activity {
            linmgmt_seclog::Activity::Logoff => (off + 1, on),
            linmgmt_seclog::Activity::Logon => (off, on + 1),
        });
        self.commit(next, lines);
        // Logged once the lines are written: tests (and people) wait for this line.
        tracing::info!(
            "event log: {} sessions open, {ons} not reported yet, {offs} ended unreported",
            current.len()
        );
    }
}

/// The writer thread, seen from the server.
pub(crate) struct EventLog {
    stop: tokio::sync::watch::Sender<bool>,
    done: std::sync::mpsc::Receiver<()>,
}

impl EventLog {
    /// Asks the writer to stop and waits (a little) for the batch it is writing.
    pub(crate) fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.done.recv_timeout(STOP_WAIT);
    }
}

/// Starts the writer of `serve --event-log`, or nothing without the flag. The file, the
/// state and the schema are checked here, so that a mistake stops the server at once.
pub(crate) fn start(
    args: &ServeArgs,
    root: &Path,
    parts: &EngineParts,
) -> anyhow::Result<Option<EventLog>> {
    let Some(target) = &args.event_log else {
        return Ok(None);
    };
    let (Some(hub), Some(host)) = (parts.hub.clone(), parts.host.clone()) else {
        bail!("--event-log needs the host (it cannot follow --instances test data)");
    };
    let sink = if target == Path::new("-") {
        Sink::Stdout
    } else {
        let file =
            Sink::open_file(target).with_context(|| format!("--event-log {}", target.display()))?;
        Sink::File {
            path: target.clone(),
            file,
        }
    };
    let state_path = match (&args.event_log_state, &sink) {
        (Some(p), _) => p.clone(),
        (None, Sink::Stdout) => PathBuf::from(STDOUT_STATE),
        (None, Sink::File { path, .. }) => default_state(path),
    };
    let (state, reported) =
        StateFile::open(&state_path).with_context(|| "--event-log-state".to_owned())?;
    let compile_parts = (parts.compile.clone(), parts.context.clone());
    let subscriptions = compile(&parts.repository, &compile_parts)?;
    let ns = parts
        .repository
        .namespace("root/cimv2")
        .context("root/cimv2")?;
    let class = |name: &str| ns.class(name).cloned().context("schema");
    let classes = [class("Win32_LogonSession")?, class("Win32_ServerSession")?];
    let mut writer = Writer {
        format: args.event_log_format,
        ctx: context(&parts.context.server),
        sink,
        state,
        reported,
        accounts: Accounts::new(root),
        host,
        root: linmgmt_sources::Root::new(root),
        classes,
        resync: true,
    };
    tracing::info!(
        "event log: {} ({}), state in {}",
        writer.sink.name(),
        match args.event_log_format {
            linmgmt_seclog::Format::Ocsf => "OCSF",
            linmgmt_seclog::Format::Ecs => "ECS",
        },
        state_path.display()
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (done_tx, done) = std::sync::mpsc::channel();
    let repository = parts.repository.clone();
    std::thread::Builder::new()
        .name("linmgmt-event-log".into())
        .spawn(move || {
            run(
                &mut writer,
                &hub,
                subscriptions,
                &repository,
                &compile_parts,
                stopped,
            );
            let _ = done_tx.send(());
        })
        .context("starting the event log writer")?;
    Ok(Some(EventLog { stop, done }))
}

type CompileParts = (linmgmt_wql::CompileOptions, linmgmt_cim::SystemContext);

/// The two subscriptions: creations and deletions of logon and of server sessions.
fn compile(
    repository: &Repository,
    (opts, context): &CompileParts,
) -> anyhow::Result<Vec<Subscription>> {
    let ns = repository.namespace("root/cimv2").context("root/cimv2")?;
    ["Win32_LogonSession", "Win32_ServerSession"]
        .iter()
        .map(|class| {
            let wql = format!(
                "SELECT * FROM __InstanceOperationEvent WITHIN {WITHIN} WHERE \
                 (__Class = '__InstanceCreationEvent' OR __Class = '__InstanceDeletionEvent') \
                 AND TargetInstance ISA '{class}'"
            );
            Subscription::compile(ns, &wql, opts, context.clone())
                .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect()
}

/// How the event loop ended.
enum Outcome {
    Stop,
    /// The hub ended the streams (it was reset): subscribe again.
    Resubscribe,
    /// Compare with the host, then go on.
    Resync,
}

/// The writer thread: subscribe, compare with the host, then write events as they come,
/// until the server stops.
fn run(
    writer: &mut Writer,
    hub: &Hub,
    mut subscriptions: Vec<Subscription>,
    repository: &Repository,
    compile_parts: &CompileParts,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("event log: no runtime: {e}; nothing will be written");
            return;
        }
    };
    let mut hangup = {
        let _guard = runtime.enter();
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!("event log: cannot catch SIGHUP ({e}): no reopening");
                None
            }
        }
    };
    loop {
        if *stopped.borrow() {
            return;
        }
        if subscriptions.is_empty() {
            match compile(repository, compile_parts) {
                Ok(s) => subscriptions = s,
                Err(e) => {
                    tracing::error!("event log: {e}");
                    return;
                }
            }
        }
        // Baselines first: what the hub diffs against. Then the comparison with the host,
        // whose scan comes after the baselines, so nothing falls between the two (what both
        // see is dropped as a repeat).
        let mut streams: Vec<EventStream> = Vec::new();
        let mut failed = None;
        for s in subscriptions.drain(..) {
            match hub.subscribe(s, None) {
                Ok(stream) => streams.push(stream),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            tracing::error!("event log: cannot watch the host: {e}; trying again");
            if wait(&runtime, &mut stopped, RETRY) {
                return;
            }
            continue;
        }
        let [logons, servers] = <[EventStream; 2]>::try_from(streams)
            .unwrap_or_else(|_| unreachable!("two subscriptions"));
        let (mut logons, mut servers) = (logons, servers);
        loop {
            if writer.resync {
                writer.resync();
            }
            let outcome = runtime.block_on(next(
                writer,
                &mut logons,
                &mut servers,
                &mut hangup,
                &mut stopped,
            ));
            match outcome {
                Outcome::Stop => return,
                Outcome::Resync => {}
                Outcome::Resubscribe => {
                    tracing::warn!("event log: the watcher stopped; watching again");
                    writer.resync = true;
                    if wait(&runtime, &mut stopped, RETRY) {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

/// Waits `d` or until the server stops (true).
fn wait(
    runtime: &tokio::runtime::Runtime,
    stopped: &mut tokio::sync::watch::Receiver<bool>,
    d: Duration,
) -> bool {
    runtime.block_on(async {
        tokio::select! {
            _ = stopped.changed() => true,
            _ = tokio::time::sleep(d) => *stopped.borrow(),
        }
    })
}

/// Handles events, SIGHUP and the stop until something needs the blocking side.
async fn next(
    writer: &mut Writer,
    logons: &mut EventStream,
    servers: &mut EventStream,
    hangup: &mut Option<tokio::signal::unix::Signal>,
    stopped: &mut tokio::sync::watch::Receiver<bool>,
) -> Outcome {
    loop {
        let resync_due = writer.resync;
        let first = tokio::select! {
            biased;
            _ = stopped.changed() => return Outcome::Stop,
            _ = async {
                match hangup {
                    Some(h) => { h.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {
                match writer.sink.reopen() {
                    Ok(()) => tracing::info!("event log: SIGHUP: reopened {}", writer.sink.name()),
                    Err(e) => {
                        tracing::error!("event log: SIGHUP: reopening {}: {e}", writer.sink.name());
                        writer.resync = true;
                    }
                }
                continue;
            }
            e = logons.recv() => e,
            e = servers.recv() => e,
            _ = tokio::time::sleep(RETRY), if resync_due => return Outcome::Resync,
        };
        let Some(first) = first else {
            return Outcome::Resubscribe;
        };
        // Everything already waiting goes into one batch (one sync of the file and state).
        let mut batch = vec![first];
        while let Some(e) = logons.try_recv() {
            batch.push(e);
        }
        while let Some(e) = servers.try_recv() {
            batch.push(e);
        }
        writer.events(batch);
        if writer.resync && !resync_due {
            // Lost events: compare with the host now rather than after a pause.
            return Outcome::Resync;
        }
    }
}
