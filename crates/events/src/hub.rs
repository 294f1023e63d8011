//! The hub: one thread that re-scans the host when something may have changed, and hands
//! every subscription its events.
//!
//! It wakes on whatever [`Wakers`] report (kernel process events, utmp/wtmp and logind
//! changes), at the shortest `WITHIN` of its subscriptions (the safety net for what nothing
//! announces, such as a file opened in an SMB session), shortly after a listener forks (a
//! new SMB or ssh connection is authenticated a few round trips later), and when a `GROUP
//! WITHIN` window closes. Wakes that arrive during a scan are folded into the next one, so
//! a burst of logins costs back-to-back scans, not one per process event.
//!
//! Delivery never blocks the hub: each subscriber has a bounded queue, and when it is
//! full the events are dropped and counted, and the subscriber gets one
//! `__EventQueueOverflowEvent` saying how many as soon as there is room again.
//!
//! The thread starts with the first subscription and ends (stopping the wakers) when the
//! last one is gone.

use crate::subscription::Subscription;
use jiff::Timestamp;
use linmgmt_cim::{ClassDef, Instance, Name};
use linmgmt_engine::{EngineError, Warning};
use linmgmt_providers::{Depth, HostProvider};
use linmgmt_sources::Root;
use linmgmt_sources::snapshot::SshPhase;
use linmgmt_sources::wake::{Interest, ProcEventKind, Wake, WakeOptions, Wakers};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc as queue;

/// Makes a provider for the host as it is now.
pub type HostFactory = Arc<dyn Fn() -> HostProvider + Send + Sync>;

/// How many events a subscriber may have waiting before they are dropped.
pub const DEFAULT_CAPACITY: usize = 1024;

/// The least time between the starts of two scans: wakes within it share one scan.
const MIN_GAP: Duration = Duration::from_millis(10);

/// When to look again after a listener (sshd, smbd) forks: the new connection becomes a
/// session only once it has authenticated, which no process event announces for SMB.
const FOLLOW_UPS: [Duration; 2] = [Duration::from_millis(250), Duration::from_millis(1000)];

/// How soon to look again while an ssh login has authenticated but not asked for its
/// session (its terminal, hence its LogonType, is decided then).
const PENDING_LOGIN: Duration = Duration::from_millis(50);

/// How often to retry an overflow notice that did not fit.
const NOTICE_RETRY: Duration = Duration::from_millis(100);

/// Wakes queued between two scans; more are dropped (a scan is due anyway).
const WAKE_QUEUE: usize = 4096;

/// What the hub scans and listens to.
pub struct HubSettings {
    /// A provider for the host as it is now (one per scan).
    pub host: HostFactory,
    /// The root the wakers watch.
    pub root: Root,
    /// What wakes the hub besides its polls.
    pub wake: WakeOptions,
    /// How many events each subscriber may have waiting.
    pub capacity: usize,
}

/// Shared by the hub's handle and its thread.
struct Shared {
    settings: HubSettings,
    state: Mutex<State>,
    /// Events dropped for subscribers that fell behind, in all (each run is also reported
    /// to its subscriber as an `__EventQueueOverflowEvent`).
    dropped: Arc<AtomicU64>,
}

#[derive(Default)]
struct State {
    pending: Vec<Pending>,
    /// The running thread's wake channel (to nudge it), or `None` when no thread runs.
    nudge: Option<SyncSender<Wake>>,
    /// How many times the thread has panicked (and been reset).
    panics: u32,
}

/// A subscription waiting for its baseline scan.
struct Pending {
    subscription: Subscription,
    viewer: Option<String>,
    events: queue::Sender<Instance>,
    ready: mpsc::Sender<Ready>,
    dropped: Arc<AtomicU64>,
}

struct Ready {
    description: String,
    warnings: Vec<Warning>,
}

/// Re-scans the host for its subscribers; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

/// The events of one subscription, in order. Dropping it unsubscribes.
pub struct EventStream {
    events: queue::Receiver<Instance>,
    description: String,
    warnings: Vec<Warning>,
    columns: Option<Vec<Name>>,
}

impl EventStream {
    /// What is watched and what wakes the watcher, e.g. `Win32_LogonSession; wakes on
    /// process events, /run/utmp; polls every 5 s`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Warnings of the baseline scan (unreadable files and the like).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The event properties the select list names; `None` for `SELECT *`.
    pub fn columns(&self) -> Option<&[Name]> {
        self.columns.as_deref()
    }

    /// The next event, waiting for it; `None` when the hub has stopped. Not for async
    /// contexts (use [`EventStream::recv`] there).
    pub fn blocking_recv(&mut self) -> Option<Instance> {
        self.events.blocking_recv()
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<Instance> {
        self.events.try_recv().ok()
    }

    /// The next event; `None` when the hub has stopped.
    pub async fn recv(&mut self) -> Option<Instance> {
        self.events.recv().await
    }
}

impl Hub {
    /// How many times the hub's thread has panicked; each time the hub was reset and its
    /// streams ended.
    pub fn panics(&self) -> u32 {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .panics
    }

    /// How many events were dropped, in all, for subscribers that fell behind.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// A hub; its thread starts with the first subscription.
    pub fn new(settings: HubSettings) -> Hub {
        Hub {
            shared: Arc::new(Shared {
                settings,
                state: Mutex::new(State::default()),
                dropped: Arc::new(AtomicU64::new(0)),
            }),
        }
    }

    /// Subscribes, waiting until the baseline is scanned: from then on every change is
    /// an event. `viewer` limits the instances to one Unix user's (the server's role
    /// `user`). Blocks for one scan; call it from a blocking context.
    pub fn subscribe(
        &self,
        subscription: Subscription,
        viewer: Option<String>,
    ) -> Result<EventStream, EngineError> {
        let (events_tx, events_rx) = queue::channel(self.shared.settings.capacity.max(1));
        let (ready_tx, ready_rx) = mpsc::channel();
        let columns = subscription.columns().map(<[Name]>::to_vec);
        {
            let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            state.pending.push(Pending {
                subscription,
                viewer,
                events: events_tx,
                ready: ready_tx,
                dropped: self.shared.dropped.clone(),
            });
            match &state.nudge {
                // Full: the thread has wakes to handle and will see the newcomer then.
                Some(nudge) => {
                    let _ = nudge.try_send(Wake::Overrun);
                }
                None => {
                    let (tx, rx) = mpsc::sync_channel(WAKE_QUEUE);
                    state.nudge = Some(tx.clone());
                    let shared = self.shared.clone();
                    let spawned = std::thread::Builder::new()
                        .name("linmgmt-events".into())
                        .spawn(move || run(shared, tx, rx));
                    if let Err(e) = spawned {
                        state.nudge = None;
                        state.pending.clear();
                        return Err(stopped(&format!("cannot start the watcher thread: {e}")));
                    }
                }
            }
        }
        let ready = ready_rx
            .recv()
            .map_err(|_| stopped("the watcher stopped before its first scan"))?;
        Ok(EventStream {
            events: events_rx,
            description: ready.description,
            warnings: ready.warnings,
            columns,
        })
    }
}

fn stopped(message: &str) -> EngineError {
    EngineError::new(linmgmt_cim::WbemStatus::Failed, message)
}

/// A primed subscription and its queue.
struct Subscriber {
    subscription: Subscription,
    viewer: Option<String>,
    events: queue::Sender<Instance>,
    dropped: u32,
    first_dropped: Option<Instance>,
    /// The hub's count of dropped events.
    dropped_in_all: Arc<AtomicU64>,
}

impl Subscriber {
    fn deliver(&mut self, events: Vec<Instance>, now: Timestamp) {
        for e in events {
            self.flush_notice(now);
            if self.dropped > 0 {
                // Still no room: keep counting, so the notice covers the whole run.
                self.dropped = self.dropped.saturating_add(1);
                self.dropped_in_all.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if let Err(queue::error::TrySendError::Full(e)) = self.events.try_send(e) {
                self.dropped = 1;
                self.first_dropped = Some(e);
            }
            if self.dropped > 0 {
                self.dropped_in_all.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sends the overflow notice for the events dropped so far, if there is room now.
    fn flush_notice(&mut self, now: Timestamp) {
        if self.dropped == 0 {
            return;
        }
        let notice =
            self.subscription
                .overflow_notice(self.dropped, self.first_dropped.as_ref(), now);
        if self.events.try_send(notice).is_ok() {
            self.dropped = 0;
            self.first_dropped = None;
        }
    }
}

/// What the last scan says the proc-connector should care about.
fn interest(snapshot: &linmgmt_sources::Snapshot, all_processes: bool) -> Interest {
    let mut i = Interest {
        all_processes,
        ..Interest::default()
    };
    // A login that has not started its session yet stays news: the fork of its shell is
    // what says it is complete.
    let pending: HashSet<u32> = (snapshot.ssh.iter())
        .filter(|c| c.phase == SshPhase::Pending)
        .filter_map(|c| c.sessionid)
        .collect();
    for s in &snapshot.audit_sessions {
        if !pending.contains(&s.id) {
            i.session_ids.insert(s.id);
        }
        i.pids.extend(s.pids.iter().copied());
    }
    for c in &snapshot.ssh {
        i.pids.insert(c.pid);
        i.pids.extend(c.child_pid);
    }
    for p in &snapshot.processes {
        if matches!(p.stat.comm.as_str(), "sshd" | "smbd" | "sshd-session") {
            i.parents.insert(p.pid());
            i.pids.insert(p.pid());
        }
    }
    i
}

/// Whether a wake is about a process this program started (and remembers its forks, so
/// their execs and exits are recognised too).
fn own_child(w: &Wake, own: &mut HashSet<u32>) -> bool {
    let Wake::Process(e) = w else {
        return false;
    };
    match e.kind {
        ProcEventKind::Fork if e.parent == Some(std::process::id()) => {
            if own.len() > 4096 {
                // Exits missed (the kernel dropped events): forget, rather than grow.
                own.clear();
            }
            own.insert(e.pid);
            true
        }
        ProcEventKind::Exit => own.remove(&e.pid),
        _ => own.contains(&e.pid),
    }
}

/// Classes whose instances change with every process: their watchers want every fork,
/// exec and exit.
fn follows_processes(class: &ClassDef) -> bool {
    class.name.is("Win32_Process") || class.name.is("Win32_SessionProcess")
}

fn describe(sub: &Subscription, wakers: &Wakers) -> String {
    let classes: Vec<String> = sub.classes().map(|c| c.name.to_string()).collect();
    let mut s = classes.join(", ");
    if wakers.active().is_empty() {
        s.push_str("; no push sources");
    } else {
        s.push_str(&format!("; wakes on {}", wakers.active().join(", ")));
    }
    s.push_str(&format!(
        "; polls every {} s",
        trim_float(sub.within().as_secs_f64())
    ));
    for u in wakers.unavailable() {
        s.push_str(&format!("; without {u}"));
    }
    s
}

fn trim_float(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Resets the hub when its thread unwinds: waiting subscribers get an error instead of a
/// baseline that never comes, open streams end (their senders drop with the thread), and
/// the next subscription starts a fresh thread. A panic is a bug, but it must not leave
/// the hub half-alive.
struct Restart<'a>(&'a Shared);

impl Drop for Restart<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
            state.nudge = None;
            state.pending.clear();
            state.panics = state.panics.saturating_add(1);
        }
    }
}

/// The hub's thread.
fn run(shared: Arc<Shared>, nudge: SyncSender<Wake>, wakes: mpsc::Receiver<Wake>) {
    let _restart = Restart(&shared);
    let settings = &shared.settings;
    let interest = Arc::new(RwLock::new(Interest::default()));
    let wakers = Wakers::start(&settings.root, &settings.wake, interest.clone(), nudge);
    let mut subscribers: Vec<Subscriber> = Vec::new();
    let mut last_scan: Option<Instant> = None;
    let mut follow_ups: Vec<Instant> = Vec::new();
    let mut own_children: HashSet<u32> = HashSet::new();
    loop {
        let pending = {
            let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            subscribers.retain(|s| !s.events.is_closed());
            if subscribers.is_empty() && state.pending.is_empty() {
                // Decided under the lock, so a newcomer either is seen here or starts a
                // new thread.
                state.nudge = None;
                return;
            }
            std::mem::take(&mut state.pending)
        };
        let mut due = !pending.is_empty();
        if !due {
            let within = (subscribers.iter())
                .map(|s| s.subscription.within())
                .min()
                .unwrap_or(Duration::from_secs(1));
            let now = Instant::now();
            let mut deadline = last_scan.map_or(now, |t| t + within);
            if let Some(f) = follow_ups.iter().min() {
                deadline = deadline.min(*f);
            }
            if subscribers.iter().any(|s| s.dropped > 0) {
                // A notice is waiting for room in a slow consumer's queue.
                deadline = deadline.min(now + NOTICE_RETRY);
            }
            let wall = Timestamp::now();
            for s in &subscribers {
                if let Some(t) = s.subscription.next_due() {
                    // Negative (already due) does not convert: no wait.
                    let wait = Duration::try_from(wall.duration_until(t)).unwrap_or_default();
                    deadline = deadline.min(now + wait);
                }
            }
            let mut woke = Vec::new();
            match wakes.recv_timeout(deadline.saturating_duration_since(now)) {
                Ok(w) => woke.push(w),
                Err(RecvTimeoutError::Timeout) => {}
                // The wakers hold senders too; all gone means something broke: poll on.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(within),
            }
            if let Some(t) = last_scan {
                let gap = (t + MIN_GAP).saturating_duration_since(Instant::now());
                if !woke.is_empty() && !gap.is_zero() {
                    std::thread::sleep(gap);
                }
            }
            woke.extend(wakes.try_iter());
            let now = Instant::now();
            let parents = interest
                .read()
                .map(|i| i.parents.clone())
                .unwrap_or_default();
            for w in &woke {
                if let Wake::Process(e) = w
                    && e.kind == ProcEventKind::Fork
                    && e.parent.is_some_and(|p| parents.contains(&p))
                {
                    follow_ups.extend(FOLLOW_UPS.iter().map(|d| now + *d));
                }
            }
            // Our own children (smbstatus, run by scans) are not news.
            woke.retain(|w| !own_child(w, &mut own_children));
            let follow_up_due = follow_ups.iter().any(|f| *f <= now);
            follow_ups.retain(|f| *f > now);
            let poll_due = last_scan.is_none_or(|t| t + within <= now);
            due = !woke.is_empty() || follow_up_due || poll_due;
        }
        if due {
            let started = Instant::now();
            last_scan = Some(started);
            if scan(settings, &wakers, &interest, &mut subscribers, pending) {
                follow_ups.push(started + PENDING_LOGIN);
            }
        }
        let now = Timestamp::now();
        for s in &mut subscribers {
            let aggregates = s.subscription.due(now);
            s.deliver(aggregates, now);
            s.flush_notice(now);
        }
    }
}

/// The instances of one class for one viewer, and the warnings of getting them.
type Found = (Arc<[Instance]>, Vec<Warning>);

/// One scan: every subscriber's events, and the baseline of the newcomers. Returns whether
/// an ssh login is between authentication and its session request (nothing announces when
/// that ends for sftp or `ssh -N`, so the hub looks again soon).
fn scan(
    settings: &HubSettings,
    wakers: &Wakers,
    interest: &RwLock<Interest>,
    subscribers: &mut Vec<Subscriber>,
    pending: Vec<Pending>,
) -> bool {
    let now = Timestamp::now();
    let host = (settings.host)();
    let watched = || {
        (subscribers.iter().map(|s| &s.subscription)).chain(pending.iter().map(|p| &p.subscription))
    };
    let depth = watched()
        .map(Subscription::depth)
        .fold(Depth::Sessions, Depth::union);
    let all_processes = watched().any(|s| s.classes().any(|c| follows_processes(c)));
    let snapshot = host.snapshot(depth);
    if let Ok(mut i) = interest.write() {
        *i = self::interest(&snapshot.items, all_processes);
    }
    let login_pending = (snapshot.items.ssh.iter()).any(|c| c.phase == SshPhase::Pending);
    // Subscribers watching the same class as the same viewer share its instances.
    let mut cache: HashMap<(String, Option<String>), Found> = HashMap::new();
    let mut instances = |class: &Arc<ClassDef>, viewer: Option<&str>| {
        let key = (
            class.name.as_str().to_ascii_lowercase(),
            viewer.map(str::to_owned),
        );
        cache
            .entry(key)
            .or_insert_with(|| {
                let (mut out, mut warnings) = (Vec::new(), Vec::new());
                host.instances_for(
                    class,
                    &linmgmt_engine::Wanted::All,
                    viewer,
                    &mut out,
                    &mut warnings,
                );
                (out.into(), warnings)
            })
            .clone()
    };
    for s in subscribers.iter_mut() {
        let viewer = s.viewer.clone();
        let events = s
            .subscription
            .observe(now, &mut |c| instances(c, viewer.as_deref()).0);
        s.deliver(events, now);
    }
    for p in pending {
        let mut warnings = Vec::new();
        let mut subscription = p.subscription;
        let viewer = p.viewer;
        subscription.observe(now, &mut |c| {
            let (found, w) = instances(c, viewer.as_deref());
            warnings.extend(w);
            found
        });
        let description = describe(&subscription, wakers);
        let mut seen = std::collections::HashSet::new();
        warnings.retain(|w| seen.insert(w.message.clone()));
        if p.ready
            .send(Ready {
                description,
                warnings,
            })
            .is_ok()
        {
            subscribers.push(Subscriber {
                subscription,
                viewer,
                events: p.events,
                dropped: 0,
                first_dropped: None,
                dropped_in_all: p.dropped,
            });
        }
    }
    login_pending
}
