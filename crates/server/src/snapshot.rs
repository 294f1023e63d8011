//! Shared host snapshots: at most `max_age` old, built once for all clients, never seen
//! half-built.
//!
//! A *generation* is an [`Engine`] over a fresh [`HostProvider`]. When a request finds the
//! current generation too old, one task builds the next one (scanning the host on a
//! blocking thread) while the others wait for it; then an `Arc` is swapped. Requests that
//! already hold the old generation finish on it. The scan is taken before the swap, so no
//! request ever waits on a scan that another generation started.

use crate::users::{Identity, Role};
use linmgmt_cim::SystemContext;
use linmgmt_engine::{Engine, Provider};
use linmgmt_providers::{HostProvider, UserView};
use linmgmt_schema::Repository;
use linmgmt_wql::CompileOptions;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// Makes a provider for the host as it is now.
pub type HostFactory = Arc<dyn Fn() -> HostProvider + Send + Sync>;

/// What every engine is built from.
#[derive(Clone)]
pub struct EngineParts {
    /// The class repository.
    pub repository: Arc<Repository>,
    /// The host name for paths.
    pub context: SystemContext,
    /// Query compile options (time zone).
    pub compile: CompileOptions,
    /// Providers that do not depend on the host snapshot (the interop namespace, test data).
    pub static_providers: Vec<Arc<dyn Provider>>,
    /// The host, when served (`None` for test data only).
    pub host: Option<HostFactory>,
    /// The hub that re-scans the host for event subscriptions (`GET …/events`), shared by
    /// all of them; `None` when the host is not served.
    pub hub: Option<linmgmt_events::Hub>,
    /// The live process table's reconciliation counts, for the metrics; `None` without one.
    pub process_table: Option<ProcessTableFigures>,
}

/// How many times the live process table was reconciled with a full read, and how many
/// corrections those found.
pub type ProcessTableFigures = Arc<dyn Fn() -> (u64, u64) + Send + Sync>;

/// One generation: the host as scanned at `taken`, and the engine that sees all of it.
pub struct Generation {
    host: Option<Arc<HostProvider>>,
    admin: Arc<Engine>,
    taken: Instant,
    /// How long its scan took.
    scan: Duration,
}

impl Generation {
    fn build(parts: &EngineParts, deep: bool) -> Generation {
        let taken = Instant::now();
        let host = parts.host.as_ref().map(|f| Arc::new(f()));
        if let Some(h) = &host {
            // Scan now, before anyone can see this generation.
            h.snapshot(if deep {
                linmgmt_providers::Depth::Servers
            } else {
                linmgmt_providers::Depth::Sessions
            });
        }
        let mut engine = base_engine(parts);
        if let Some(h) = &host {
            engine.register(h.clone());
        }
        Generation {
            host,
            admin: Arc::new(engine),
            taken,
            scan: taken.elapsed(),
        }
    }

    /// The engine `who` may use: everything for admins; for role `user`, only the
    /// sessions of the Unix user of the same name.
    pub fn engine_for(&self, parts: &EngineParts, who: &Identity) -> Arc<Engine> {
        match who.role {
            Role::Admin => self.admin.clone(),
            Role::User => {
                let mut engine = base_engine(parts);
                if let Some(h) = &self.host {
                    engine.register(Arc::new(UserView::new(h.clone(), who.name.clone())));
                }
                Arc::new(engine)
            }
        }
    }

    /// The host this generation scanned (`None` when serving test data only).
    pub fn host(&self) -> Option<&Arc<HostProvider>> {
        self.host.as_ref()
    }

    /// How old the snapshot is.
    pub fn age(&self) -> Duration {
        self.taken.elapsed()
    }
}

fn base_engine(parts: &EngineParts) -> Engine {
    let mut engine = Engine::new(
        parts.repository.clone(),
        parts.context.clone(),
        parts.compile.clone(),
    );
    for p in &parts.static_providers {
        engine.register(p.clone());
    }
    engine
}

/// The current generation and how to make the next.
pub struct Snapshots {
    parts: EngineParts,
    max_age: Duration,
    current: RwLock<Arc<Generation>>,
    refresh: tokio::sync::Mutex<()>,
    /// Whether some request needed server sessions (the deep scan) lately: the next
    /// generation then scans deep up front.
    deep_wanted: AtomicBool,
    /// Where scan durations go (the metrics' histogram), once there are metrics.
    scan_durations: OnceLock<Histogram>,
}

impl Snapshots {
    /// Builds the first generation (scanning the host now) on the calling thread.
    pub fn new(parts: EngineParts, max_age: Duration) -> Snapshots {
        let first = Generation::build(&parts, false);
        Snapshots {
            parts,
            max_age,
            current: RwLock::new(Arc::new(first)),
            refresh: tokio::sync::Mutex::new(()),
            deep_wanted: AtomicBool::new(false),
            scan_durations: OnceLock::new(),
        }
    }

    /// Records the duration of every later scan in `histogram`.
    pub(crate) fn observe_scans(&self, histogram: Histogram) {
        let _ = self.scan_durations.set(histogram);
    }

    /// What engines are built from.
    pub fn parts(&self) -> &EngineParts {
        &self.parts
    }

    fn load(&self) -> Arc<Generation> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A generation at most `max_age` old. `deep` says the caller needs server sessions.
    pub async fn fresh(&self, deep: bool) -> Arc<Generation> {
        if deep {
            self.deep_wanted.store(true, Ordering::Relaxed);
        }
        let g = self.load();
        if g.age() <= self.max_age || self.parts.host.is_none() {
            return g;
        }
        let _only_one_builder = self.refresh.lock().await;
        let g = self.load();
        if g.age() <= self.max_age {
            return g;
        }
        let parts = self.parts.clone();
        let deep = self.deep_wanted.swap(false, Ordering::Relaxed);
        let built = tokio::task::spawn_blocking(move || Generation::build(&parts, deep)).await;
        match built {
            Ok(next) => {
                if let Some(h) = self.scan_durations.get() {
                    h.observe(next.scan.as_secs_f64());
                }
                let next = Arc::new(next);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = next.clone();
                next
            }
            // A panicking scan: keep serving the old generation.
            Err(_) => g,
        }
    }
}
