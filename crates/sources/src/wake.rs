//! What wakes an event watcher at once: kernel process events, file changes and logind's
//! session signals, each on a thread of its own, sent as [`Wake`]s into one channel.
//!
//! A watcher (`linmgmt watch`) re-scans the host and diffs snapshots. It polls at the
//! query's `WITHIN` interval as a safety net; these sources only make it re-scan sooner. A
//! wake therefore never carries facts the watcher must trust: it says "look now", and losing
//! one costs latency, not correctness. That is why a full channel drops wakes silently (the
//! watcher has a wake queued, so a scan after the dropped event is coming anyway) and why every
//! doubt (a netlink overrun, an inotify queue overflow, a datagram that does not parse, a bus
//! that went away) becomes [`Wake::Overrun`].
//!
//! Sources:
//! - the proc connector (netlink, root only, real host only): forks, execs, uid and sid changes
//!   and exits, filtered by the watcher's [`Interest`] on the connector thread so the watcher
//!   is not woken by every process on a busy host;
//! - inotify on files and directories under the [`Root`] (utmp, wtmp, logind's session
//!   directory, nfsd's clients), re-armed when a file is replaced or appears later;
//! - logind's `SessionNew`/`SessionRemoved` signals on a D-Bus address.
//!
//! [`Wakers::start`] never fails: what cannot start is listed in [`Wakers::unavailable`]. The
//! threads are detached; dropping the [`Wakers`] asks them to stop, and they notice within
//! about a second (their receive and poll timeouts) or, for D-Bus, at once.

mod files;
mod logind;
mod proc_events;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll, Waker};

use crate::Root;

/// Why the watcher should re-scan now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// A kernel process event that the current Interest says matters.
    Process(ProcEvent),
    /// A watched path changed: the path as given in WakeOptions::paths (relative to the root).
    File(PathBuf),
    /// logind announced a session (SessionNew: new = true; SessionRemoved: false).
    Logind {
        /// `SessionNew` (true) or `SessionRemoved` (false).
        new: bool,
        /// The logind session id (`"3"`, `"c7"`).
        id: String,
    },
    /// Events may have been lost (netlink ENOBUFS overrun, queue full…): re-scan.
    Overrun,
}

/// The kind of a [`ProcEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcEventKind {
    /// A new process (new threads are not reported).
    Fork,
    /// A process ran `execve`.
    Exec,
    /// A process changed its real or effective uid.
    Uid,
    /// A process changed its real or effective gid.
    Gid,
    /// A process renamed itself (its `comm`).
    Comm,
    /// A process called `setsid`.
    Sid,
    /// A process ended (threads ending are not reported).
    Exit,
}

/// One process event from the kernel, as the watcher sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcEvent {
    /// What happened.
    pub kind: ProcEventKind,
    /// The process (thread-group id); for Fork the child.
    pub pid: u32,
    /// Fork: the parent's tgid. Exit: the parent's tgid. Otherwise None.
    pub parent: Option<u32>,
    /// The audit session (`/proc/<pid>/sessionid`), read the moment the event arrives, for
    /// Fork/Exec/Uid/Sid; None when unset (4294967295), unreadable, or the process is gone.
    pub session: Option<u32>,
}

/// What the watcher cares about. The proc-connector thread consults it (read lock) for every
/// kernel event so only relevant events wake the watcher; the watcher replaces it after each scan.
#[derive(Clone, Debug, Default)]
pub struct Interest {
    /// Audit sessions already known: a process in an unknown (set) session is news.
    pub session_ids: HashSet<u32>,
    /// Processes whose exit matters (members of known sessions, sshd/smbd connection processes).
    pub pids: HashSet<u32>,
    /// Processes whose forks matter (smbd and sshd listeners: a fork = a new connection).
    pub parents: HashSet<u32>,
    /// Every process fork/exec/exit matters (Win32_Process watches).
    pub all_processes: bool,
}

impl Interest {
    /// Whether `e` should wake the watcher.
    ///
    /// With [`Interest::all_processes`] every event does. Otherwise: a fork whose parent is in
    /// [`Interest::parents`] or whose child is in an unknown (set) session; an exec, uid or sid
    /// change of a process in an unknown (set) session; the exit of a process in
    /// [`Interest::pids`].
    pub fn wants(&self, e: &ProcEvent) -> bool {
        if self.all_processes {
            return true;
        }
        let unknown_session = e.session.is_some_and(|s| !self.session_ids.contains(&s));
        match e.kind {
            ProcEventKind::Fork => {
                e.parent.is_some_and(|p| self.parents.contains(&p)) || unknown_session
            }
            ProcEventKind::Exec
            | ProcEventKind::Uid
            | ProcEventKind::Gid
            | ProcEventKind::Comm
            | ProcEventKind::Sid => unknown_session,
            ProcEventKind::Exit => self.pids.contains(&e.pid),
        }
    }
}

/// Which sources to start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WakeOptions {
    /// Files or directories (relative to the root) watched with inotify when they exist,
    /// e.g. run/utmp, var/log/wtmp, run/systemd/sessions, proc/fs/nfsd/clients.
    pub paths: Vec<PathBuf>,
    /// Listen to the kernel's proc connector (only honoured when root.is_host()).
    pub proc_connector: bool,
    /// Listen for logind's SessionNew/SessionRemoved on this D-Bus address.
    pub logind_bus: Option<String>,
}

/// The running wake sources. Dropping it stops them (see the module documentation).
#[derive(Debug)]
pub struct Wakers {
    stop: Arc<Stop>,
    active: Vec<String>,
    unavailable: Vec<String>,
}

impl Wakers {
    /// Starts one thread per source. Never fails: a source that cannot start is listed in unavailable().
    ///
    /// Each source is set up before this returns (the proc connector's subscription
    /// acknowledged by the kernel, the inotify watches added, the D-Bus match rules accepted by
    /// the bus), so a change made after `start` returns is seen. That takes up to about a
    /// second per source when one does not answer (a hung bus, a kernel that ignores the
    /// subscription).
    pub fn start(
        root: &Root,
        options: &WakeOptions,
        interest: Arc<RwLock<Interest>>,
        tx: SyncSender<Wake>,
    ) -> Wakers {
        let mut wakers = Wakers {
            stop: Arc::new(Stop::default()),
            active: Vec::new(),
            unavailable: Vec::new(),
        };
        if options.proc_connector {
            const WHAT: &str = "process events";
            if !root.is_host() {
                wakers.unavailable.push(format!(
                    "{WHAT}: only for the real host (the root is {})",
                    root.dir().display()
                ));
            } else {
                let sink = proc_events::Sink::Wakes {
                    interest,
                    tx: tx.clone(),
                };
                match proc_events::start(root, sink, wakers.stop.clone()) {
                    Ok(()) => wakers.active.push(WHAT.to_string()),
                    Err(e) => wakers.unavailable.push(format!("{WHAT}: {e}")),
                }
            }
        }
        if !options.paths.is_empty() {
            match files::start(root, &options.paths, tx.clone(), wakers.stop.clone()) {
                Ok(started) => {
                    wakers.active.extend(started.watched);
                    wakers.unavailable.extend(started.failed);
                }
                Err(e) => wakers.unavailable.push(format!("file changes: {e}")),
            }
        }
        if let Some(address) = &options.logind_bus {
            const WHAT: &str = "logind signals";
            match logind::start(address, tx, wakers.stop.clone()) {
                Ok(()) => wakers.active.push(WHAT.to_string()),
                Err(e) => wakers.unavailable.push(format!("{WHAT}: {e}")),
            }
        }
        wakers
    }

    /// Notes every kernel process event in `changes` (the live model's source), on a thread
    /// of its own, until the returned [`Wakers`] is dropped. Only for the real host, as root.
    pub fn record_processes(
        root: &Root,
        changes: Arc<crate::model::ProcessChanges>,
    ) -> Result<Wakers, String> {
        if !root.is_host() {
            return Err(format!(
                "process events: only for the real host (the root is {})",
                root.dir().display()
            ));
        }
        let stop = Arc::new(Stop::default());
        let sink = proc_events::Sink::Changes(changes);
        match proc_events::start(root, sink, stop.clone()) {
            Ok(()) => Ok(Wakers {
                stop,
                active: vec!["process events".into()],
                unavailable: Vec::new(),
            }),
            Err(e) => Err(format!("process events: {e}")),
        }
    }

    /// Human descriptions of what is listened to, e.g. "process events", "/run/utmp", "logind signals".
    pub fn active(&self) -> &[String] {
        &self.active
    }

    /// Sources that could not start and why, e.g. "process events: Operation not permitted".
    pub fn unavailable(&self) -> &[String] {
        &self.unavailable
    }
}

impl Drop for Wakers {
    /// Asks every thread to stop and returns at once: the threads are detached, and one may be
    /// inside a receive that ends only at its timeout.
    fn drop(&mut self) {
        self.stop.request();
    }
}

/// The stop request shared by the threads of one [`Wakers`]. The blocking threads poll the
/// flag between timeouts; the D-Bus thread, which waits in an executor, also registers its
/// waker so that a stop ends its wait at once instead of at the next signal.
#[derive(Debug, Default)]
struct Stop {
    requested: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Stop {
    fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Ready once a stop was requested; otherwise remembers `cx`'s waker (only one task waits).
    fn poll_requested(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.requested() {
            return Poll::Ready(());
        }
        *self.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
        // A request between the check and the registration found no waker to wake.
        if self.requested() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// Sends without blocking: a full channel drops the wake (the watcher has one queued, and the
/// scan it triggers comes after this event). `false` when the watcher is gone.
fn send(tx: &SyncSender<Wake>, wake: Wake) -> bool {
    !matches!(tx.try_send(wake), Err(TrySendError::Disconnected(_)))
}

/// `/run/utmp` for `run/utmp` (or `/run/utmp`).
fn display_path(rel: &Path) -> String {
    format!("/{}", rel.strip_prefix("/").unwrap_or(rel).display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: ProcEventKind, pid: u32, parent: Option<u32>, session: Option<u32>) -> ProcEvent {
        ProcEvent {
            kind,
            pid,
            parent,
            session,
        }
    }

    #[test]
    fn wants() {
        use ProcEventKind::*;
        let interest = Interest {
            session_ids: [5, 7].into_iter().collect(),
            pids: [100, 101].into_iter().collect(),
            parents: [900].into_iter().collect(),
            all_processes: false,
        };
        let all = Interest {
            all_processes: true,
            ..Interest::default()
        };
        let check = |interest: &Interest, e: ProcEvent, expected: bool| {
            assert_eq!(interest.wants(&e), expected, "{e:?} with {interest:?}");
        };
        let table = [
            // Forks: a listener's fork is a new connection, whatever its session.
            (ev(Fork, 1000, Some(900), None), true),
            (ev(Fork, 1000, Some(900), Some(5)), true),
            // A fork in a known session, or without one, is not news.
            (ev(Fork, 1000, Some(1), Some(5)), false),
            (ev(Fork, 1000, Some(1), None), false),
            (ev(Fork, 1000, None, None), false),
            // A fork into an unknown session is.
            (ev(Fork, 1000, Some(1), Some(6)), true),
            // Exec, uid and sid changes: only in unknown (set) sessions.
            (ev(Exec, 100, None, Some(6)), true),
            (ev(Exec, 100, None, Some(5)), false),
            (ev(Exec, 100, None, None), false),
            (ev(Uid, 100, None, Some(8)), true),
            (ev(Uid, 100, None, Some(7)), false),
            (ev(Sid, 100, None, Some(9)), true),
            (ev(Sid, 100, None, None), false),
            // Exits: only of processes that matter, whatever their session.
            (ev(Exit, 100, Some(1), None), true),
            (ev(Exit, 101, None, Some(6)), true),
            (ev(Exit, 102, Some(900), Some(6)), false),
            (ev(Exit, 900, Some(1), None), false),
        ];
        for (e, expected) in table {
            check(&interest, e.clone(), expected);
            check(&all, e, true);
        }
        // Nothing is wanted by an empty interest, except exits of nothing.
        for kind in [Fork, Exec, Uid, Gid, Comm, Sid, Exit] {
            check(&Interest::default(), ev(kind, 1, Some(1), None), false);
            // An unknown session is news to an interest that knows no session at all.
            check(
                &Interest::default(),
                ev(kind, 1, Some(1), Some(3)),
                kind != Exit,
            );
        }
    }

    #[test]
    fn display_paths() {
        assert_eq!(display_path(Path::new("run/utmp")), "/run/utmp");
        assert_eq!(display_path(Path::new("/run/utmp")), "/run/utmp");
    }

    #[test]
    fn stop_wakes_the_registered_waker() {
        use std::sync::atomic::AtomicUsize;
        use std::task::Wake as TaskWake;
        struct Count(AtomicUsize);
        impl TaskWake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let stop = Stop::default();
        assert!(stop.poll_requested(&mut cx).is_pending());
        stop.request();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(stop.poll_requested(&mut cx).is_ready());
    }

    #[test]
    fn full_channel_drops_closed_channel_stops() {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        assert!(send(&tx, Wake::Overrun));
        assert!(send(&tx, Wake::Overrun), "full: dropped, keep going");
        assert_eq!(rx.try_recv(), Ok(Wake::Overrun));
        assert!(rx.try_recv().is_err());
        drop(rx);
        assert!(!send(&tx, Wake::Overrun));
    }
}
