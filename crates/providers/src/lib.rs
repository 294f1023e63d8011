//! Linux facts to WMI instances.
//!
//! [`logon_sessions`] and [`server_sessions`] are pure: a [`Snapshot`] in, plain facts out.
//! [`HostProvider`] is the edge: it scans a root once (lazily, on the first query that
//! needs it) and turns the facts into `Win32_LogonSession` and `Win32_ServerSession`
//! instances for the engine.

pub mod diff;
pub mod groups;
mod logon;
pub mod process_counters;
pub mod related;
mod server;
mod viewer;

pub use linmgmt_engine::Wanted;
pub use logon::{LogonFacts, STARTING_AT_MOST, SessionStatus, logon_sessions, logon_type};
pub use server::{ServerFacts, server_sessions, session_type};
pub use viewer::UserView;

use jiff::tz::TimeZone;
use linmgmt_cim::{ClassDef, Instance, KeyValue, Name, Timestamp as CimTimestamp, Value};
use linmgmt_engine::{Ask, Provider, Warning};
use linmgmt_sources::command::CommandRunner;
use linmgmt_sources::model::LiveProcesses;
use linmgmt_sources::parse::accounts::GroupEntry;
use linmgmt_sources::{Collected, Root, ScanOptions, SmbStatusMode, Snapshot};
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

/// The namespace the session classes live in.
const CIMV2: &str = "root/cimv2";

/// `Caption` has `MaxLen(64)` in the schema.
const CAPTION_MAX: usize = 64;

fn caption(s: String) -> String {
    if s.chars().count() <= CAPTION_MAX {
        return s;
    }
    let mut cut: String = s.chars().take(CAPTION_MAX - 1).collect();
    cut.push('…');
    cut
}

/// A point in time as a CIM datetime in the host's zone, as WMI shows local times.
pub fn cim_time(t: jiff::Timestamp, tz: &TimeZone) -> Option<Value> {
    CimTimestamp::from_zoned(&t.to_zoned(tz.clone()))
        .ok()
        .map(|t| Value::datetime(linmgmt_cim::CimDateTime::Timestamp(t)))
}

fn uint32(n: Option<u64>) -> Option<Value> {
    n.map(|n| Value::Uint32(u32::try_from(n).unwrap_or(u32::MAX)))
}

fn string(s: impl Into<String>) -> Option<Value> {
    Some(Value::String(s.into()))
}

/// Sets a property by name. An unknown name means the schema and this code disagree: a
/// warning, never a panic. (Types are checked by `Instance::set_at` in debug builds, so
/// every test checks them; release builds skip the check on this hot path.)
fn put(inst: &mut Instance, name: &str, value: Option<Value>, warnings: &mut Vec<Warning>) {
    match inst.class().property_index(name) {
        Some(index) => inst.set_at(index, value),
        None => warnings.push(Warning {
            message: format!("internal: {} has no property {name}", inst.class_name()),
        }),
    }
}

/// `Win32_LogonSession` instances for the facts.
pub fn logon_instances(
    facts: &[LogonFacts],
    class: &Arc<ClassDef>,
    tz: &TimeZone,
    warnings: &mut Vec<Warning>,
) -> Vec<Instance> {
    facts
        .iter()
        .map(|f| {
            let mut i = Instance::new(class.clone());
            // Caption has MaxLen(64); Name has no limit and keeps the whole text (the
            // security event log reads the user and remote host from it).
            let name = f.caption();
            put(&mut i, "Caption", string(caption(name.clone())), warnings);
            put(&mut i, "Name", string(name), warnings);
            let sources: Vec<&str> = f.sources.iter().copied().collect();
            put(
                &mut i,
                "Description",
                string(format!("from {}", sources.join(", "))),
                warnings,
            );
            put(&mut i, "Status", string(f.status.as_str()), warnings);
            put(
                &mut i,
                "StartTime",
                f.start.and_then(|t| cim_time(t, tz)),
                warnings,
            );
            put(&mut i, "LogonId", string(f.logon_id.clone()), warnings);
            put(
                &mut i,
                "AuthenticationPackage",
                f.authentication_package.clone().map(Value::String),
                warnings,
            );
            put(
                &mut i,
                "LogonType",
                f.logon_type.map(Value::Uint32),
                warnings,
            );
            i
        })
        .collect()
}

/// `Win32_ServerSession` instances for the facts.
pub fn server_instances(
    facts: &[ServerFacts],
    class: &Arc<ClassDef>,
    warnings: &mut Vec<Warning>,
) -> Vec<Instance> {
    facts
        .iter()
        .map(|f| {
            let mut i = Instance::new(class.clone());
            let cap = caption(f.caption());
            put(&mut i, "Caption", string(cap.clone()), warnings);
            put(&mut i, "Name", string(cap), warnings);
            let protocols: Vec<&str> = f.protocols.iter().copied().collect();
            put(
                &mut i,
                "Description",
                string(format!(
                    "{} connection from {}",
                    protocols.join(" and "),
                    f.computer_name
                )),
                warnings,
            );
            put(&mut i, "Status", string("OK"), warnings);
            put(
                &mut i,
                "ComputerName",
                string(f.computer_name.clone()),
                warnings,
            );
            put(&mut i, "UserName", string(f.user_name.clone()), warnings);
            put(&mut i, "ActiveTime", uint32(f.active_time), warnings);
            put(&mut i, "IdleTime", uint32(f.idle_time), warnings);
            put(
                &mut i,
                "ResourcesOpened",
                uint32(f.resources_opened),
                warnings,
            );
            put(
                &mut i,
                "SessionType",
                Some(Value::Uint32(f.session_type)),
                warnings,
            );
            let join = |set: &std::collections::BTreeSet<String>| {
                set.iter().cloned().collect::<Vec<_>>().join(", ")
            };
            put(
                &mut i,
                "ClientType",
                string(join(&f.client_types)),
                warnings,
            );
            put(
                &mut i,
                "TransportName",
                string(join(&f.transports)),
                warnings,
            );
            i
        })
        .collect()
}

/// What users see of a scan's warnings: only what they can act on (permissions, corrupt
/// files, failing tools), never churn (a process that exited while it was read, as `ps`
/// never warns about it), and one line per cause: warnings that differ only in their path
/// (every process whose fds are unreadable without root, say) become one line naming the
/// first path and how many more there are.
pub fn summarize(warnings: &[linmgmt_sources::Warning]) -> Vec<Warning> {
    let mut groups: Vec<(String, &linmgmt_sources::Warning, usize)> = Vec::new();
    for w in warnings.iter().filter(|w| w.is_actionable()) {
        let cause = format!("{:?}: {}", w.kind, w.message);
        match groups.iter_mut().find(|(c, _, _)| *c == cause) {
            Some((_, _, n)) => *n += 1,
            None => groups.push((cause, w, 1)),
        }
    }
    groups
        .into_iter()
        .map(|(_, first, n)| {
            let more = if n > 1 {
                format!(" (and {} more like it)", n - 1)
            } else {
                String::new()
            };
            Warning {
                message: format!("{first}{more}"),
            }
        })
        .collect()
}

/// How much of the host a class needs. Depths form a small lattice: `Bare` is below all,
/// then `Sessions`; `Processes` (every process's details and counters) and `Servers` (Samba
/// and the sessions' open files) are independent; `Everything` is both. A scan serves
/// every depth it [covers](Depth::covers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Depth {
    /// Sessions without their connections (no sshd fds, TCP tables or sshd logs): what a
    /// query of logon sessions that shows no origin needs (`SELECT LogonId, LogonType`).
    Bare,
    /// Audit sessions, utmp, logind, accounts: logon sessions and their users.
    Sessions,
    /// Also every process's command line, executable and counters: `Win32_Process`.
    Processes,
    /// Also open files of session processes and Samba: server sessions and connections.
    Servers,
    /// Processes and servers.
    Everything,
}

impl Depth {
    /// Whether a scan at this depth has what `need` needs.
    pub fn covers(self, need: Depth) -> bool {
        self == need
            || self == Depth::Everything
            || need == Depth::Bare
            || (need == Depth::Sessions && self != Depth::Bare)
    }

    /// The least depth that covers both.
    pub fn union(self, other: Depth) -> Depth {
        if self.covers(other) {
            self
        } else if other.covers(self) {
            other
        } else {
            Depth::Everything
        }
    }

    /// Every depth, deepest first.
    const ALL: [Depth; 5] = [
        Depth::Everything,
        Depth::Servers,
        Depth::Processes,
        Depth::Sessions,
        Depth::Bare,
    ];

    fn reads_every_process(self) -> bool {
        self.covers(Depth::Processes)
    }
}

/// The classes the host provider fills, and the depth each needs.
const CLASSES: &[(&str, Depth)] = &[
    ("Win32_LogonSession", Depth::Sessions),
    ("Win32_UserAccount", Depth::Sessions),
    ("Win32_LoggedOnUser", Depth::Sessions),
    ("Win32_Group", Depth::Sessions),
    ("Win32_GroupUser", Depth::Sessions),
    ("Win32_Process", Depth::Processes),
    ("Win32_SessionProcess", Depth::Processes),
    ("Win32_ServerSession", Depth::Servers),
    ("Win32_ServerConnection", Depth::Servers),
    ("Win32_Share", Depth::Servers),
    ("Win32_SessionConnection", Depth::Servers),
    ("Win32_ConnectionShare", Depth::Servers),
];

/// The properties of `Win32_LogonSession` that tell where a session came from (the
/// client's address, in the caption) or how it authenticated (sshd's method, from its log
/// by the client's address and port): without them, a scan need not join connections.
const NEED_CONNECTIONS: [&str; 3] = ["Caption", "Name", "AuthenticationPackage"];

/// How deep a scan `class` needs, if the host provider fills it.
pub fn depth_of(class: &str) -> Option<Depth> {
    CLASSES
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(class))
        .map(|&(_, d)| d)
}

/// The host seen through a root directory: scanned on first use, at the depth the first
/// class asked for needs, and again only if a later class needs more (logon sessions never
/// pay for `smbstatus`, about 30 ms, or for walking fd directories). Snapshots are kept for
/// the provider's lifetime: one query in the CLI.
pub struct HostProvider {
    root: Root,
    options: ScanOptions,
    runner: Box<dyn CommandRunner>,
    time_zone: TimeZone,
    now: jiff::Timestamp,
    scans: [OnceLock<Scan>; 5],
    /// The live process table, when the process serves several requests (`serve`,
    /// `watch`): session scans take their processes from it instead of reading `/proc`.
    live: Option<Arc<LiveProcesses>>,
}

/// One scan and the session facts derived from it, each computed once however many
/// classes (and, in the server, requests) use it.
struct Scan {
    snapshot: Collected<Snapshot>,
    logons: OnceLock<Vec<LogonFacts>>,
    servers: OnceLock<Vec<ServerFacts>>,
    groups: OnceLock<Vec<GroupEntry>>,
}

impl Scan {
    fn logons(&self) -> &[LogonFacts] {
        self.logons
            .get_or_init(|| logon_sessions(&self.snapshot.items))
    }

    fn servers(&self) -> &[ServerFacts] {
        self.servers
            .get_or_init(|| server_sessions(&self.snapshot.items))
    }

    /// The groups, with NSS's (asked on first need: only the group classes show them).
    fn groups(&self, root: &Root, options: &ScanOptions) -> &[GroupEntry] {
        self.groups.get_or_init(|| {
            let nss = options.accounts && options.nss;
            linmgmt_sources::read::groups::with_nss(&self.snapshot.items, root, nss)
        })
    }
}

impl HostProvider {
    /// A provider for the system under `root`, as of `now`, showing times in `time_zone`.
    pub fn new(
        root: Root,
        options: ScanOptions,
        runner: Box<dyn CommandRunner>,
        time_zone: TimeZone,
        now: jiff::Timestamp,
    ) -> Self {
        HostProvider {
            root,
            options,
            runner,
            time_zone,
            now,
            scans: Default::default(),
            live: None,
        }
    }

    /// Takes the processes of session scans from `live` (kept current from the kernel's
    /// process events) instead of reading every process. `Win32_Process` still reads
    /// `/proc` afresh: its counters change without events.
    pub fn with_live_processes(mut self, live: Arc<LiveProcesses>) -> Self {
        self.live = Some(live);
        self
    }

    /// A snapshot at least as deep as `depth`, scanned on first need.
    pub fn snapshot(&self, depth: Depth) -> &Collected<Snapshot> {
        &self.scan(depth).snapshot
    }

    fn scan(&self, depth: Depth) -> &Scan {
        let deepest_taken = (Depth::ALL.into_iter())
            .filter(|d| d.covers(depth))
            .find_map(|d| self.scans[d as usize].get());
        if let Some(scan) = deepest_taken {
            return scan;
        }
        self.scans[depth as usize].get_or_init(|| {
            let options = match depth {
                Depth::Bare => ScanOptions {
                    smbstatus: SmbStatusMode::Never,
                    terminal_idle: false,
                    connections: false,
                    ..self.options.clone()
                },
                Depth::Sessions => ScanOptions {
                    smbstatus: SmbStatusMode::Never,
                    terminal_idle: false,
                    ..self.options.clone()
                },
                Depth::Processes => ScanOptions {
                    smbstatus: SmbStatusMode::Never,
                    process_details: true,
                    terminal_idle: false,
                    ..self.options.clone()
                },
                Depth::Servers => ScanOptions {
                    session_open_files: true,
                    ..self.options.clone()
                },
                Depth::Everything => ScanOptions {
                    session_open_files: true,
                    process_details: true,
                    ..self.options.clone()
                },
            };
            let mut model_warnings = Vec::new();
            let live = self.live.as_ref().filter(|_| !depth.reads_every_process());
            let processes = live.map(|live| live.processes(&mut model_warnings));
            let mut snap = linmgmt_sources::scan_with(
                &self.root,
                &options,
                self.runner.as_ref(),
                self.now,
                linmgmt_sources::Known {
                    processes,
                    memos: self.live.as_ref().map(|l| l.memos()),
                },
            );
            snap.warnings.extend(model_warnings);
            if depth.reads_every_process() {
                // Win32_Process.ExecutablePath; unreadable links (other users' processes
                // without root, kernel threads) stay NULL, as in WMI without privileges.
                let mut buf = Vec::with_capacity(4096);
                for p in &mut snap.items.processes {
                    if p.exe.is_none() {
                        p.exe = linmgmt_sources::read::proc::read_exe(&self.root, p.pid());
                    }
                    // Win32_Process's I/O counters, rlimits and handle count.
                    linmgmt_sources::read::proc_counters::read_counters(&self.root, p, &mut buf);
                }
            }
            // The join runs now only when its answers are to be recorded (as root);
            // otherwise it waits for a class that needs it, as before.
            let logons = OnceLock::new();
            // A bare scan does not know the sessions' origins: it leaves the record alone.
            if depth != Depth::Bare && linmgmt_sources::state::may_write() {
                let facts = logon_sessions(&snap.items);
                remember(&self.root, &mut snap, &facts, self.now);
                let _ = logons.set(facts);
            }
            Scan {
                snapshot: snap,
                logons,
                servers: OnceLock::new(),
                groups: OnceLock::new(),
            }
        })
    }

    /// The root the host is read from.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The time zone times are shown in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }
}

/// Writes what the join learned about sessions to linmgmt's record (`run/linmgmt` under
/// the root) and drops the records of sessions that ended; a no-op when nothing changed.
/// Problems become the scan's warnings.
fn remember(
    root: &Root,
    snap: &mut Collected<Snapshot>,
    logons: &[LogonFacts],
    scan_started: jiff::Timestamp,
) {
    let items = &snap.items;
    let Some(boot_id) = items.boot_id.as_deref() else {
        return;
    };
    let updates: Vec<_> = logons.iter().filter_map(|f| f.remember.clone()).collect();
    // An empty process list means /proc could not be listed: then nothing is known to have
    // ended.
    let live: Option<std::collections::BTreeSet<u32>> =
        (!items.processes.is_empty()).then(|| items.audit_sessions.iter().map(|s| s.id).collect());
    let ended = live
        .as_ref()
        .is_some_and(|l| items.clues.records.keys().any(|id| !l.contains(id)));
    if updates.is_empty() && !ended {
        return;
    }
    let stored = linmgmt_sources::state::store(
        root,
        boot_id,
        &updates,
        live.as_ref(),
        scan_started,
        jiff::Timestamp::now(),
    );
    snap.warnings.extend(stored.warnings);
}

impl Provider for HostProvider {
    fn serves(&self, namespace: &str, class: &Name) -> bool {
        linmgmt_cim::NamespaceName::new(namespace).is(CIMV2)
            && CLASSES.iter().any(|(c, _)| class.is(c))
    }

    fn instances(
        &self,
        class: &Arc<ClassDef>,
        ask: Ask<'_>,
        out: &mut Vec<Instance>,
        warnings: &mut Vec<Warning>,
    ) {
        self.instances_asked(class, ask, None, out, warnings);
    }
}

impl HostProvider {
    /// The instances of `class`, all of them or (with `viewer`) only those of one Unix
    /// user's sessions: the user's logon and server sessions, account, the processes in
    /// those sessions, and the user's SMB connections and their shares; every group, but
    /// only the user's own group memberships.
    pub fn instances_for(
        &self,
        class: &Arc<ClassDef>,
        wanted: &Wanted,
        viewer: Option<&str>,
        out: &mut Vec<Instance>,
        warnings: &mut Vec<Warning>,
    ) {
        let ask = Ask { wanted, keys: &[] };
        self.instances_asked(class, ask, viewer, out, warnings);
    }

    /// [`HostProvider::instances_for`], for what `ask` is after: a logon session by its
    /// LogonId and a process by its Handle are built alone (on a host with 10,000 sessions,
    /// `GetInstance` built them all); other classes come whole.
    pub fn instances_asked(
        &self,
        class: &Arc<ClassDef>,
        ask: Ask<'_>,
        viewer: Option<&str>,
        out: &mut Vec<Instance>,
        warnings: &mut Vec<Warning>,
    ) {
        let Ask { wanted, keys } = ask;
        let Some(&(name, depth)) = CLASSES.iter().find(|(c, _)| class.name.is(c)) else {
            return;
        };
        // Less than the class's depth when less is shown: a logon session's origin needs
        // its connection; a process's name (its pid) needs none of its details.
        let depth = match name {
            "Win32_LogonSession" if !NEED_CONNECTIONS.iter().any(|p| wanted.includes(p)) => {
                Depth::Bare
            }
            "Win32_Process" if wanted.keys_only(class) => Depth::Bare,
            _ => depth,
        };
        let scan = self.scan(depth);
        warnings.extend(summarize(&scan.snapshot.warnings));
        let snap = &scan.snapshot.items;
        let host = snap.hostname.as_deref().unwrap_or("localhost");
        let ctx = related::Context {
            host,
            time_zone: &self.time_zone,
        };
        // The viewer's own sessions, or the one a key names; everyone's otherwise (no copy
        // then).
        let key = |property: &str| {
            (keys.iter())
                .find(|k| k.name.as_ref().is_some_and(|n| n.is(property)))
                .and_then(|k| match &k.value {
                    KeyValue::String(s) => Some(s.as_str()),
                    _ => None,
                })
        };
        let logon_id = key("LogonId").filter(|_| name == "Win32_LogonSession");
        let logons: Vec<LogonFacts>;
        let logons: &[LogonFacts] = if viewer.is_none() && logon_id.is_none() {
            scan.logons()
        } else {
            logons = (scan.logons().iter())
                .filter(|f| viewer.is_none_or(|v| f.user.as_deref() == Some(v)))
                .filter(|f| logon_id.is_none_or(|id| f.logon_id.eq_ignore_ascii_case(id)))
                .cloned()
                .collect();
            &logons
        };
        let servers = || -> Vec<ServerFacts> {
            (scan.servers().iter())
                .filter(|f| viewer.is_none_or(|v| f.user_name == v))
                .cloned()
                .collect()
        };
        let w = warnings;
        let found = match name {
            "Win32_LogonSession" => logon_instances(logons, class, &self.time_zone, w),
            "Win32_ServerSession" => server_instances(&servers(), class, w),
            "Win32_UserAccount" => related::accounts(snap, viewer, &ctx, class, w),
            "Win32_Process" => {
                let in_sessions: Option<HashSet<u32>> =
                    viewer.map(|_| logons.iter().flat_map(|f| f.pids.iter().copied()).collect());
                // A Handle that is no pid names no process.
                let pids = match key("Handle").map(|h| h.parse::<u32>().ok()) {
                    None => in_sessions,
                    Some(pid) => Some(
                        (pid.into_iter())
                            .filter(|p| in_sessions.as_ref().is_none_or(|s| s.contains(p)))
                            .collect(),
                    ),
                };
                related::processes(snap, pids.as_ref(), wanted.keys_only(class), &ctx, class, w)
            }
            "Win32_ServerConnection" => related::server_connections(snap, viewer, class, w),
            "Win32_Share" => related::shares(snap, viewer, class, w),
            "Win32_LoggedOnUser" => related::logged_on_users(logons, &ctx, class, w),
            "Win32_Group" => groups::groups(scan.groups(&self.root, &self.options), &ctx, class, w),
            "Win32_GroupUser" => {
                let groups = scan.groups(&self.root, &self.options);
                groups::group_users(snap, groups, viewer, &ctx, class, w)
            }
            "Win32_SessionProcess" => related::session_processes(logons, &ctx, class, w),
            "Win32_SessionConnection" => {
                related::session_connections(snap, viewer, &servers(), &ctx, class, w)
            }
            _ => related::connection_shares(snap, viewer, &ctx, class, w),
        };
        out.extend(found);
    }
}

#[cfg(test)]
mod depth_tests {
    use super::Depth::{self, *};

    #[test]
    fn depths_form_a_lattice() {
        let all = [Bare, Sessions, Processes, Servers, Everything];
        for a in all {
            assert!(a.covers(a) && a.covers(Bare) && Everything.covers(a));
            assert_eq!(a.covers(Sessions), a != Bare);
            for b in all {
                let u = a.union(b);
                assert!(u.covers(a) && u.covers(b), "{a:?} ∪ {b:?} = {u:?}");
                assert_eq!(u, b.union(a));
                // The least: nothing smaller covers both.
                let smaller: Vec<Depth> = (all.into_iter())
                    .filter(|&d| d != u && u.covers(d) && d.covers(a) && d.covers(b))
                    .collect();
                assert!(smaller.is_empty(), "{a:?} ∪ {b:?}: {smaller:?}");
            }
        }
        assert!(!Processes.covers(Servers) && !Servers.covers(Processes));
        assert_eq!(Processes.union(Servers), Everything);
    }
}
