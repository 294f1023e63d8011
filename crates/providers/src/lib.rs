//! Linux facts to WMI instances.
//!
//! [`logon_sessions`] and [`server_sessions`] are pure: a [`Snapshot`] in, plain facts out.
//! [`HostProvider`] is the edge: it scans a root once (lazily, on the first query that
//! needs it) and turns the facts into `Win32_LogonSession` and `Win32_ServerSession`
//! instances for the engine.

mod logon;
mod server;

pub use logon::{LogonFacts, logon_sessions, logon_type};
pub use server::{ServerFacts, server_sessions, session_type};

use jiff::tz::TimeZone;
use linmgmt_cim::{ClassDef, Instance, Name, Timestamp as CimTimestamp, Value};
use linmgmt_engine::{Provider, Warning};
use linmgmt_sources::command::CommandRunner;
use linmgmt_sources::{Collected, Root, ScanOptions, SmbStatusMode, Snapshot};
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
        .map(|t| Value::Datetime(linmgmt_cim::CimDateTime::Timestamp(t)))
}

fn uint32(n: Option<u64>) -> Option<Value> {
    n.map(|n| Value::Uint32(u32::try_from(n).unwrap_or(u32::MAX)))
}

fn string(s: impl Into<String>) -> Option<Value> {
    Some(Value::String(s.into()))
}

/// Sets a property; a failure means the schema and this code disagree, reported as a warning.
fn put(inst: &mut Instance, name: &str, value: Option<Value>, warnings: &mut Vec<Warning>) {
    if let Err(e) = inst.set(name, value) {
        warnings.push(Warning {
            message: format!("internal: {e}"),
        });
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
            let cap = caption(f.caption());
            put(&mut i, "Caption", string(cap.clone()), warnings);
            put(&mut i, "Name", string(cap), warnings);
            let sources: Vec<&str> = f.sources.iter().copied().collect();
            put(
                &mut i,
                "Description",
                string(format!("from {}", sources.join(", "))),
                warnings,
            );
            put(
                &mut i,
                "Status",
                string(if f.degraded { "Degraded" } else { "OK" }),
                warnings,
            );
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
                Some(Value::Uint32(f.logon_type)),
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

/// One warning per cause: scan warnings that differ only in their path (every process
/// whose fds are unreadable without root, say) become one line naming the first path and
/// how many more there are.
pub fn summarize(warnings: &[linmgmt_sources::Warning]) -> Vec<Warning> {
    let mut groups: Vec<(String, &linmgmt_sources::Warning, usize)> = Vec::new();
    for w in warnings {
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

/// The host seen through a root directory: scanned once, on first use.
///
/// Two depths of scan: logon sessions need only `/proc`, utmp and logind; server sessions
/// also need the fds of session processes and `smbstatus` (about 30 ms alone). A query
/// that asks only for logon sessions never pays for the deeper scan.
pub struct HostProvider {
    root: Root,
    options: ScanOptions,
    runner: Box<dyn CommandRunner>,
    time_zone: TimeZone,
    now: jiff::Timestamp,
    shallow: OnceLock<Collected<Snapshot>>,
    deep: OnceLock<Collected<Snapshot>>,
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
            shallow: OnceLock::new(),
            deep: OnceLock::new(),
        }
    }

    /// The snapshot, scanned on first call; `deep` adds open files and Samba. A deep scan
    /// already taken also serves shallow requests.
    pub fn snapshot(&self, deep: bool) -> &Collected<Snapshot> {
        if let Some(snap) = self.deep.get() {
            return snap;
        }
        let scan = |options: &ScanOptions| {
            linmgmt_sources::scan(&self.root, options, self.runner.as_ref(), self.now)
        };
        if deep {
            self.deep.get_or_init(|| {
                let options = ScanOptions {
                    session_open_files: true,
                    ..self.options.clone()
                };
                scan(&options)
            })
        } else {
            self.shallow.get_or_init(|| {
                let options = ScanOptions {
                    smbstatus: SmbStatusMode::Never,
                    ..self.options.clone()
                };
                scan(&options)
            })
        }
    }

    /// The time zone times are shown in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }
}

impl Provider for HostProvider {
    fn serves(&self, namespace: &str, class: &Name) -> bool {
        namespace.replace('\\', "/").eq_ignore_ascii_case(CIMV2)
            && (class.is("Win32_LogonSession") || class.is("Win32_ServerSession"))
    }

    fn instances(
        &self,
        class: &Arc<ClassDef>,
        out: &mut Vec<Instance>,
        warnings: &mut Vec<Warning>,
    ) {
        let deep = class.name.is("Win32_ServerSession");
        let snap = self.snapshot(deep);
        warnings.extend(summarize(&snap.warnings));
        if deep {
            out.extend(server_instances(
                &server_sessions(&snap.items),
                class,
                warnings,
            ));
        } else {
            out.extend(logon_instances(
                &logon_sessions(&snap.items),
                class,
                &self.time_zone,
                warnings,
            ));
        }
    }
}
