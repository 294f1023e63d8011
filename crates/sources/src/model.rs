//! The live process table: `/proc` read once, then kept current from the kernel's process
//! events by re-reading only the pids they name.
//!
//! Reading every process is most of a scan's cost (30,000 processes: five files each), and
//! almost none of them change between two requests. [`LiveProcesses`] subscribes to the
//! proc connector *before* its first full read (so no event falls between the two), notes
//! the pids of every event in [`ProcessChanges`] on the connector thread, and re-reads those
//! pids when someone next asks for the processes: cost proportional to change.
//!
//! What changes a process's session facts, and how each change reaches the table:
//! - a fork: the child, and its parent (sshd's monitor retitles itself, and PAM sets its
//!   audit session, before it forks the user's child; `login` and `cron` likewise);
//! - an exit: the pid (gone, or a zombie: zombies keep no session alive, so the table drops
//!   them), its parent (sshd's monitor retitles itself when the pre-auth child ends) and
//!   its children (reparented, so perhaps the new roots of their audit session);
//! - exec, uid, gid, comm and sid changes: the pid;
//! - what changes with no event at all — `setproctitle` and `pam_loginuid` in sshd before it
//!   forks, a fork's own title after it was born with its parent's, the listener's count of
//!   logins in progress, smbd's titles — is covered by re-reading, at every refresh, the sshd
//!   processes that are not settled yet (the listener, pre-auth titles, a title still the
//!   parent's, a child not yet titled `USER@TTY`, a monitor without an audit session), as
//!   many as logins in progress, and smbd's, one per client.
//!
//! Counters that change all the time (CPU times, memory, threads, the process group) and
//! kernel threads' names are not kept current: the table serves the session classes; `Win32_Process` reads `/proc`
//! afresh. [`LiveProcesses::reconcile`] compares the table with a full read of the fields
//! it does keep and counts every difference as a correction: a correction is a bug in the
//! rules above, and the tests expect none under churn.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;

use crate::parse::sshd::SshdRole;
use crate::read::proc::{Process, read_boot_time, read_process_core, read_process_details};
use crate::snapshot::{details_wanted, read_processes};
use crate::wake::{ProcEventKind, Wakers};
use crate::{Root, Warning};

/// The kernel's thread creator: its children are kernel threads.
const KTHREADD: u32 = 2;

/// More pending pids than this and the table is read again in full: a fork storm costs no
/// more than a scan, and memory stays bounded.
const MAX_PENDING: usize = 1 << 16;

/// The pids the kernel named since the table was last brought up to date. Shared between
/// the connector thread, which notes, and the table, which takes.
#[derive(Debug, Default)]
pub struct ProcessChanges {
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    /// Pids to read again.
    pids: BTreeSet<u32>,
    /// Pids that exited (their children are read again too).
    exited: BTreeSet<u32>,
    /// Events were lost (a netlink overrun, too many pending): read everything again.
    overrun: bool,
    /// The source of events is gone for good (its thread ended): every refresh reads
    /// everything, as a scan without a model would.
    gone: bool,
}

impl ProcessChanges {
    /// An empty set of changes.
    pub fn new() -> Arc<ProcessChanges> {
        Arc::new(ProcessChanges::default())
    }

    /// Notes one kernel event.
    pub fn note(&self, kind: ProcEventKind, pid: u32, parent: Option<u32>) {
        let mut p = self.lock();
        if p.overrun {
            return;
        }
        p.pids.insert(pid);
        match kind {
            ProcEventKind::Fork => p.pids.extend(parent),
            ProcEventKind::Exit => {
                p.exited.insert(pid);
                p.pids.extend(parent);
            }
            _ => {}
        }
        if p.pids.len() + p.exited.len() > MAX_PENDING {
            *p = Pending {
                overrun: true,
                ..Pending::default()
            };
        }
    }

    /// Events may have been lost.
    pub fn overrun(&self) {
        let mut p = self.lock();
        *p = Pending {
            overrun: true,
            gone: p.gone,
            ..Pending::default()
        };
    }

    /// No event will come any more (the listener ended): from now on every refresh is a
    /// full read.
    pub fn listener_gone(&self) {
        let mut p = self.lock();
        p.gone = true;
        p.overrun = true;
    }

    /// Whether the listener ended ([`ProcessChanges::listener_gone`]).
    pub fn is_gone(&self) -> bool {
        self.lock().gone
    }

    fn take(&self) -> Pending {
        let mut p = self.lock();
        if p.gone {
            // Nothing was noted (`overrun` stays set): every take is a full read.
            return Pending {
                overrun: true,
                ..Pending::default()
            };
        }
        std::mem::take(&mut *p)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The processes of a host by pid, without zombies, with the details sessions need and
/// the fds of sshd's processes (whose sockets are joined to TCP rows: the same socket for
/// the connection's whole life). Two indexes keep an update proportional to its pids: the
/// children of each process (for the orphans of an exit) and the unsettled processes.
#[derive(Debug, Clone, Default)]
pub struct ProcessTable {
    processes: BTreeMap<u32, Process>,
    children: HashMap<u32, BTreeSet<u32>>,
    unsettled: BTreeSet<u32>,
    boot_time: Option<Timestamp>,
}

impl ProcessTable {
    /// Reads every process under `root`, as [`crate::scan`] does.
    pub fn read(root: &Root, warnings: &mut Vec<Warning>) -> ProcessTable {
        let boot_time = read_boot_time(root).into_items(warnings);
        let mut table =
            ProcessTable::from_processes(read_processes(root, boot_time, false, warnings));
        table.boot_time = boot_time;
        let sshd: Vec<u32> = (table.processes.values())
            .filter(|p| p.stat.comm.starts_with("sshd"))
            .map(Process::pid)
            .collect();
        for pid in sshd {
            table.read_fds(root, pid);
        }
        table
    }

    /// A table of these processes (zombies left out), with no boot time of its own.
    pub fn from_processes(processes: Vec<Process>) -> ProcessTable {
        let mut table = ProcessTable::default();
        for p in processes.into_iter().filter(|p| !p.is_exiting()) {
            table.insert(p);
        }
        let pids: Vec<u32> = table.processes.keys().copied().collect();
        for pid in pids {
            table.settle(pid);
        }
        table
    }

    /// The processes, ascending by pid.
    pub fn processes(&self) -> Vec<Process> {
        self.processes.values().cloned().collect()
    }

    /// How many processes the table holds.
    pub fn len(&self) -> usize {
        self.processes.len()
    }

    /// Whether the table holds no process.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    fn insert(&mut self, p: Process) {
        let (pid, ppid) = (p.pid(), p.ppid());
        if let Some(old) = self.processes.insert(pid, p)
            && old.ppid() != ppid
        {
            self.unlink(pid, old.ppid());
        }
        self.children.entry(ppid).or_default().insert(pid);
    }

    fn remove(&mut self, pid: u32) {
        if let Some(old) = self.processes.remove(&pid) {
            self.unlink(pid, old.ppid());
        }
        self.unsettled.remove(&pid);
    }

    fn unlink(&mut self, pid: u32, ppid: u32) {
        if let Some(kids) = self.children.get_mut(&ppid) {
            kids.remove(&pid);
            if kids.is_empty() {
                self.children.remove(&ppid);
            }
        }
    }

    /// Records whether `pid` may still change without an event: sshd's processes not yet
    /// settled, and smbd's (which retitle themselves for each client).
    fn settle(&mut self, pid: u32) {
        let Some(p) = self.processes.get(&pid) else {
            self.unsettled.remove(&pid);
            return;
        };
        // A fork starts with its parent's title (the user child is born `USER [priv]`)
        // and takes its own with no event.
        let inherited = (self.processes.get(&p.ppid()))
            .is_some_and(|parent| crate::joins::inherits_title(p, parent));
        let unsettled = p.stat.comm == "smbd"
            || (p.stat.comm.starts_with("sshd")
                && (inherited
                    || match crate::parse::sshd::classify_title(&p.title()) {
                        Some(SshdRole::Monitor { .. }) => p.sessionid.is_none(),
                        // The user child is settled. The listener is not: its title counts
                        // the logins in progress (`[listener] 1 of 10-100 startups`) and
                        // changes as each one authenticates, with no event. Everything else
                        // is on its way somewhere.
                        Some(SshdRole::UserChild { .. }) => false,
                        _ => true,
                    }));
        if unsettled {
            self.unsettled.insert(pid);
        } else {
            self.unsettled.remove(&pid);
        }
    }

    fn read_fds(&mut self, root: &Root, pid: u32) {
        if let Some(p) = self.processes.get_mut(&pid) {
            p.fds = crate::read::proc::read_fds(root, pid).ok();
        }
    }

    /// Re-reads `pids`, the children of `exited` and the unsettled processes; returns how
    /// many pids were read.
    fn update(
        &mut self,
        root: &Root,
        mut pids: BTreeSet<u32>,
        exited: &BTreeSet<u32>,
        warnings: &mut Vec<Warning>,
    ) -> usize {
        pids.extend(exited);
        for pid in exited {
            pids.extend(self.children.get(pid).into_iter().flatten());
        }
        pids.extend(self.unsettled.iter().copied());
        let mut buf = Vec::with_capacity(4096);
        for &pid in &pids {
            // A process that is gone or unreadable now is simply not there: churn, not news.
            let mut ignored = Vec::new();
            match read_process_core(root, pid, self.boot_time, &mut buf, &mut ignored) {
                Ok(p) if !p.is_exiting() => self.insert(p),
                _ => self.remove(pid),
            }
        }
        // Details after every core is read: whether a process is a session root depends on
        // its parent's session, which may have been read in the same batch.
        for &pid in &pids {
            let parent_session = (self.processes.get(&pid))
                .and_then(|p| self.processes.get(&p.ppid()))
                .and_then(|parent| parent.sessionid);
            let Some(p) = self.processes.get_mut(&pid) else {
                continue;
            };
            if details_wanted(p, parent_session) {
                read_process_details(root, p, &mut buf, warnings);
                if p.is_exiting() {
                    self.remove(pid);
                    continue;
                }
            }
            if p.stat.comm.starts_with("sshd") {
                self.read_fds(root, pid);
            }
        }
        for &pid in &pids {
            self.settle(pid);
        }
        pids.len()
    }

    /// The unsettled processes, ascending.
    fn unsettled(&self) -> impl Iterator<Item = u32> + '_ {
        self.unsettled.iter().copied()
    }
}

/// How the table's `model` of a process and a full read's `fresh` one differ in what the
/// table keeps, if they do. Details are compared only where the full read has them, and
/// missing ones are a difference.
fn difference(model: &Process, fresh: &Process) -> Option<String> {
    let mut what = Vec::new();
    let (m, f) = (&model.stat, &fresh.stat);
    let mut field = |name: &str, differs: bool| {
        if differs {
            what.push(name.to_owned());
        }
    };
    // Kernel threads (kthreadd's children) rename themselves with no event (a kworker
    // takes the name of its current work queue); they are never in a session.
    let kernel_thread = f.ppid == KTHREADD || f.pid == KTHREADD;
    field("comm", m.comm != f.comm && !kernel_thread);
    field("ppid", m.ppid != f.ppid);
    field("kernel session", m.session != f.session);
    field("tty", m.tty_nr != f.tty_nr);
    field("start", m.starttime != f.starttime);
    field("audit session", model.sessionid != fresh.sessionid);
    if fresh.details {
        field("details", !model.details);
        if model.details {
            field("cmdline", model.cmdline != fresh.cmdline);
            field("uid", model.uid != fresh.uid);
            field("gid", model.gid != fresh.gid);
            field("loginuid", model.loginuid != fresh.loginuid);
        }
    }
    (!what.is_empty()).then(|| {
        format!(
            "pid {} ({}): {} differ",
            fresh.pid(),
            fresh.stat.comm,
            what.join(", ")
        )
    })
}

/// Every difference between the table and a full read, except for `skip` (pids the kernel
/// named while the full read was under way: either answer may be the newer).
pub fn corrections(
    model: &ProcessTable,
    fresh: &ProcessTable,
    skip: &BTreeSet<u32>,
) -> Vec<String> {
    let mut out = Vec::new();
    let pids: BTreeSet<u32> = (model.processes.keys())
        .chain(fresh.processes.keys())
        .copied()
        .filter(|pid| !skip.contains(pid))
        .collect();
    for pid in pids {
        match (model.processes.get(&pid), fresh.processes.get(&pid)) {
            (Some(m), Some(f)) => out.extend(difference(m, f)),
            (Some(m), None) => out.push(format!("pid {pid} ({}): gone, still listed", m.stat.comm)),
            (None, Some(f)) => {
                out.push(format!("pid {pid} ({}): running, not listed", f.stat.comm))
            }
            (None, None) => {}
        }
    }
    out
}

/// What one reconciliation found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Processes compared.
    pub compared: usize,
    /// The differences, one line each (the table now has the full read's answer).
    pub corrections: Vec<String>,
}

/// logind's `SessionNew` and `SessionRemoved` signals, counted (a lost one counts too);
/// [`crate::memo::LISTENER_GONE`] once the listener ended (the bus went away): then
/// nothing is kept.
struct LogindSignals {
    count: Arc<AtomicU64>,
    /// The D-Bus thread, stopped when the model is dropped.
    _listener: Wakers,
}

/// A [`ProcessTable`] kept current from [`ProcessChanges`].
pub struct LiveProcesses {
    root: Root,
    table: Mutex<ProcessTable>,
    changes: Arc<ProcessChanges>,
    corrections: AtomicU64,
    reconciliations: AtomicU64,
    /// What the model's scans remember: files, and the file servers' answers.
    memos: Arc<crate::memo::Memos>,
    logind_signals: Option<LogindSignals>,
    /// The connector thread, stopped when the model is dropped (`None` when the caller
    /// notes the changes: tests).
    listener: Option<Wakers>,
}

impl LiveProcesses {
    /// On the real host (as root): subscribes to the kernel's process events, then reads
    /// `/proc`. `Err` says why the model cannot run (not root, a container, another root).
    pub fn start(root: &Root) -> Result<LiveProcesses, String> {
        let changes = ProcessChanges::new();
        // Subscribed before the first read: no change falls between the two.
        let listener = Wakers::record_processes(root, changes.clone())?;
        Ok(LiveProcesses::new(root, changes, Some(listener)))
    }

    /// A model whose changes the caller notes (the tests, which play the kernel).
    pub fn fed_by(root: &Root, changes: Arc<ProcessChanges>) -> LiveProcesses {
        LiveProcesses::new(root, changes, None)
    }

    fn new(root: &Root, changes: Arc<ProcessChanges>, listener: Option<Wakers>) -> Self {
        let mut ignored = Vec::new();
        let table = ProcessTable::read(root, &mut ignored);
        LiveProcesses {
            root: root.clone(),
            table: Mutex::new(table),
            changes,
            corrections: AtomicU64::new(0),
            reconciliations: AtomicU64::new(0),
            memos: Arc::default(),
            logind_signals: None,
            listener,
        }
    }

    /// Listens to logind's session signals on the D-Bus `address`, so that its answer can
    /// be reused until a session comes or goes ([`crate::memo::LogindMemo`]). `Err` says
    /// why not; then every scan asks logind, as before.
    pub fn listen_to_logind(&mut self, address: &str) -> Result<(), String> {
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        let options = crate::wake::WakeOptions {
            logind_bus: Some(address.to_owned()),
            ..Default::default()
        };
        let listener = Wakers::start(&self.root, &options, Arc::default(), tx);
        if listener.active().is_empty() {
            return Err(listener.unavailable().join("; "));
        }
        let count = Arc::new(AtomicU64::new(0));
        let counted = count.clone();
        // Every wake is a session that came or went, or signals that may have been lost.
        // The loop ends when the listener ends (the bus went away, or the model is dropped)
        // and its sender with it: from then on, logind is asked at every scan.
        let spawned = std::thread::Builder::new()
            .name("linmgmt-logind".into())
            .spawn(move || {
                for _ in rx {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
                counted.store(crate::memo::LISTENER_GONE, Ordering::Relaxed);
            });
        spawned.map_err(|e| format!("logind signals: {e}"))?;
        self.memos.logind.listen(count.clone());
        self.logind_signals = Some(LogindSignals {
            count,
            _listener: listener,
        });
        Ok(())
    }

    /// What the model's scans remember: sshd's logs, utmp, the account files and logind's
    /// session files, each read again only once it changed, the file servers' answers, and
    /// logind's over D-Bus (see [`crate::memo`]).
    pub fn memos(&self) -> Arc<crate::memo::Memos> {
        self.memos.clone()
    }

    /// Keeps Samba's and NFS's answers for at most `refresh` (default
    /// [`crate::memo::SERVER_REFRESH`]) while the same server processes run.
    pub fn with_server_refresh(mut self, refresh: Duration) -> Self {
        let memos = crate::memo::Memos::new(refresh);
        if let Some(signals) = &self.logind_signals {
            memos.logind.listen(signals.count.clone());
        }
        self.memos = Arc::new(memos);
        self
    }

    /// Whether the kernel's events feed this model (not when its caller does, nor once the
    /// listener ended: then every refresh reads everything).
    pub fn is_listening(&self) -> bool {
        self.listener.is_some() && !self.changes.is_gone()
    }

    /// The processes as they are now: the pending changes applied, then a copy.
    pub fn processes(&self, warnings: &mut Vec<Warning>) -> Vec<Process> {
        let mut table = self.lock();
        self.apply(&mut table, warnings);
        table.processes()
    }

    /// Applies the pending changes without copying the table; returns how many pids were
    /// read (for benchmarks and tests of the cost).
    pub fn apply_pending(&self, warnings: &mut Vec<Warning>) -> usize {
        let mut table = self.lock();
        self.apply(&mut table, warnings)
    }

    /// Brings the table up to date (a lost event means a full read); returns how many
    /// pids were read.
    fn apply(&self, table: &mut ProcessTable, warnings: &mut Vec<Warning>) -> usize {
        let pending = self.changes.take();
        if pending.overrun {
            *table = ProcessTable::read(&self.root, warnings);
            return table.len();
        }
        table.update(&self.root, pending.pids, &pending.exited, warnings)
    }

    /// Reads `/proc` in full, compares it with the table and keeps the full read: every
    /// difference is counted (see [`LiveProcesses::corrections`]) and returned.
    pub fn reconcile(&self) -> Reconciled {
        let mut table = self.lock();
        let mut ignored = Vec::new();
        self.apply(&mut table, &mut ignored);
        let fresh = ProcessTable::read(&self.root, &mut ignored);
        // What the kernel named during the full read may differ either way; bring those
        // pids (and the unsettled) up to date in both and compare the rest.
        let pending = self.changes.take();
        self.reconciliations.fetch_add(1, Ordering::Relaxed);
        if pending.overrun {
            *table = fresh;
            return Reconciled::default();
        }
        let mut skip: BTreeSet<u32> = pending.pids.union(&pending.exited).copied().collect();
        skip.extend(table.unsettled());
        let found = corrections(&table, &fresh, &skip);
        self.corrections
            .fetch_add(found.len() as u64, Ordering::Relaxed);
        let compared = fresh.len();
        *table = fresh;
        table.update(&self.root, pending.pids, &pending.exited, &mut ignored);
        Reconciled {
            compared,
            corrections: found,
        }
    }

    /// Reconciliations so far.
    pub fn reconciliations(&self) -> u64 {
        self.reconciliations.load(Ordering::Relaxed)
    }

    /// Corrections found by every reconciliation so far.
    pub fn corrections(&self) -> u64 {
        self.corrections.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProcessTable> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
