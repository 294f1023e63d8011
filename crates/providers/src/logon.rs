//! Logon sessions: the kernel's audit sessions, enriched by logind and utmp, as
//! `Win32_LogonSession` (design.md §3).

use jiff::Timestamp;
use linmgmt_sources::Snapshot;
use linmgmt_sources::parse::audit::{AuditLogin, AuditLoginKind};
use linmgmt_sources::parse::logind::LogindSession;
use linmgmt_sources::parse::utmp::UtmpRecord;
use linmgmt_sources::snapshot::{AuditSession, SshConnection, SshPhase};
use linmgmt_sources::state::{Basis, SessionRecord};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

/// WMI's `LogonType` values that Linux sessions map to.
pub mod logon_type {
    /// The System session: processes without an audit session.
    pub const SYSTEM: u32 = 0;
    /// A local terminal or seat.
    pub const INTERACTIVE: u32 = 2;
    /// Remote without a terminal: `ssh host cmd`, sftp, scp.
    pub const NETWORK: u32 = 3;
    /// cron, at; logind class `background`.
    pub const BATCH: u32 = 4;
    /// A service manager: logind class `manager` (`user@.service`).
    pub const SERVICE: u32 = 5;
    /// Remote with a terminal: ssh with a pty.
    pub const REMOTE_INTERACTIVE: u32 = 10;
}

/// Everything known about one logon session, before it becomes an instance. The
/// overview and the instances are both built from this.
#[derive(Clone, Debug, PartialEq)]
pub struct LogonFacts {
    /// The `LogonId`: audit session id, else logind id, else `utmp:<pid>`; `"0"` for System.
    pub logon_id: String,
    /// The login user, when known.
    pub user: Option<String>,
    /// The login uid, when known.
    pub uid: Option<u32>,
    /// WMI's `LogonType`; `None` (NULL) when the session's origin is unknown.
    pub logon_type: Option<u32>,
    /// The PAM service (`sshd`, `login`, `cron`), with `/method` for ssh when logged.
    pub authentication_package: Option<String>,
    /// When the session started.
    pub start: Option<Timestamp>,
    /// The terminal, e.g. `pts/0`.
    pub tty: Option<String>,
    /// Where the user came from (peer address or utmp/logind remote host).
    pub remote_host: Option<String>,
    /// Which sources contributed: `audit`, `logind`, `utmp`, `sshd`.
    pub sources: BTreeSet<&'static str>,
    /// `Status`: OK, winding down or without its root process (Degraded), or an ssh login
    /// still starting or already stopping.
    pub status: SessionStatus,
    /// The processes in the session.
    pub pids: Vec<u32>,
    /// The leader (session root) pid.
    pub leader: Option<u32>,
    /// What linmgmt should remember about the session (`run/linmgmt`, [`linmgmt_sources::state`]):
    /// set when this scan learned its origin from stronger evidence than any record of it.
    /// The edge ([`crate::HostProvider`]) writes it when running as root.
    pub remember: Option<SessionRecord>,
}

/// A logon session's `Status`, in `CIM_ManagedSystemElement`'s words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    /// Logged on.
    Ok,
    /// logind says it is closing, or its root process is gone.
    Degraded,
    /// sshd has authenticated the user, but the client has not asked for a shell, a
    /// command or a pty yet (at most [`STARTING_AT_MOST`] after the connection).
    Starting,
    /// The session's processes have ended and sshd is closing the connection.
    Stopping,
}

/// How long an ssh login without a session request counts as starting; after that it is a
/// login without a session (`ssh -N` port forwarding).
pub const STARTING_AT_MOST: jiff::SignedDuration = jiff::SignedDuration::from_secs(2);

impl SessionStatus {
    /// The `Status` string.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Ok => "OK",
            SessionStatus::Degraded => "Degraded",
            SessionStatus::Starting => "Starting",
            SessionStatus::Stopping => "Stopping",
        }
    }

    /// Whether the session is between authentication and its first process, or past its
    /// last: event watchers do not count it as logged on (its LogonType is not known yet, or
    /// not any more).
    pub fn is_transitional(self) -> bool {
        matches!(self, SessionStatus::Starting | SessionStatus::Stopping)
    }
}

impl LogonFacts {
    /// `alice on pts/0 from 10.0.0.5 (sshd)`: the Caption and Name.
    pub fn caption(&self) -> String {
        if self.logon_id == "0" {
            return "System".to_owned();
        }
        let mut s = self.user.clone().unwrap_or_else(|| "?".to_owned());
        if let Some(tty) = &self.tty {
            s.push_str(&format!(" on {tty}"));
        }
        if let Some(host) = &self.remote_host {
            s.push_str(&format!(" from {host}"));
        }
        if let Some(service) = self
            .authentication_package
            .as_deref()
            .and_then(|a| a.split('/').next())
        {
            s.push_str(&format!(" ({service})"));
        }
        s
    }
}

/// The PAM service a leader process implies, from its command name.
fn service_of(comm: &str) -> Option<&'static str> {
    let service = match comm {
        "sshd" | "sshd-session" => "sshd",
        "login" => "login",
        "cron" | "crond" | "CRON" | "anacron" => "cron",
        "atd" => "atd",
        "systemd" => "systemd-user",
        "su" => "su-l",
        "gdm-session-wor" => "gdm-password",
        "lightdm" => "lightdm",
        "sddm-helper" => "sddm",
        "xrdp-sesman" => "xrdp-sesman",
        _ => return None,
    };
    Some(service)
}

/// The PAM service of the program that logged an audit record (`/usr/sbin/sshd`): its
/// file name as the kernel's 15-byte `comm` would show it.
fn service_of_exe(exe: &str) -> Option<&'static str> {
    let name = exe.rsplit('/').next().unwrap_or(exe);
    let comm = match name.char_indices().nth(15) {
        Some((i, _)) => &name[..i],
        None => name,
    };
    service_of(comm)
}

/// Local logins that are interactive without a terminal of their own: display managers
/// (the session has a seat, not a tty) and `su -l`.
fn interactive_service(service: &str) -> bool {
    matches!(service, "login" | "su-l" | "runuser-l")
        || ["gdm", "lightdm", "sddm", "xdm", "kdm"]
            .iter()
            .any(|dm| service.starts_with(dm))
}

/// LogonType from the logind class, the PAM service, a terminal and remoteness; `None`
/// when nothing tells how the session was made (docs/mapping.md: an unknown origin is
/// NULL, never a guess).
fn classify(
    class: Option<&str>,
    service: Option<&str>,
    has_tty: bool,
    remote: bool,
) -> Option<u32> {
    use logon_type::*;
    match class {
        Some(c) if c.starts_with("background") => return Some(BATCH),
        Some(c) if c.starts_with("manager") => return Some(SERVICE),
        _ => {}
    }
    let remote_type = if has_tty { REMOTE_INTERACTIVE } else { NETWORK };
    Some(match service {
        Some("cron" | "atd") => BATCH,
        Some("systemd-user") => SERVICE,
        _ if remote => remote_type,
        Some("sshd") => remote_type,
        _ if has_tty => INTERACTIVE,
        Some(s) if interactive_service(s) => INTERACTIVE,
        // No terminal, no seat, not remote and no service that says what it is: the
        // session's opener is gone and left nothing behind.
        _ => return None,
    })
}

fn text(t: &linmgmt_sources::parse::utmp::UtmpText) -> Option<String> {
    let s = t.to_string_lossy();
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// The joins between sources, indexed once per snapshot so that each session costs a few
/// hash look-ups (10,000 sessions must not mean 10,000 × 10,000 comparisons).
struct Joins<'a> {
    logind_by_audit: HashMap<u32, &'a LogindSession>,
    logind_by_leader: HashMap<u32, &'a LogindSession>,
    utmp_by_pid: HashMap<u32, &'a UtmpRecord>,
    ssh_by_session: HashMap<u32, &'a SshConnection>,
    /// The latest `Accepted` line per client address and port.
    method_by_peer: HashMap<SocketAddr, &'a str>,
}

impl<'a> Joins<'a> {
    fn new(snap: &'a Snapshot) -> Self {
        let logind = snap.logind.iter().flatten();
        Joins {
            logind_by_audit: logind
                .clone()
                .filter_map(|l| l.audit.or_else(|| l.id.parse().ok()).map(|a| (a, l)))
                .collect(),
            logind_by_leader: logind.filter_map(|l| l.leader.map(|p| (p, l))).collect(),
            utmp_by_pid: snap
                .utmp
                .iter()
                .flat_map(|u| &u.live)
                .filter_map(|r| u32::try_from(r.pid).ok().map(|pid| (pid, r)))
                .collect(),
            ssh_by_session: {
                // Several connections in one session (a multiplexed master's, one caught
                // mid-fork): the one joined to its socket, else the first.
                let mut by: HashMap<u32, &SshConnection> = HashMap::new();
                for c in &snap.ssh {
                    if let Some(id) = c.sessionid {
                        let best = by.entry(id).or_insert(c);
                        if best.peer.is_none() && c.peer.is_some() {
                            *best = c;
                        }
                    }
                }
                by
            },
            method_by_peer: snap
                .ssh_auth
                .iter()
                .map(|a| (a.peer, a.method.as_str()))
                .collect(),
        }
    }

    fn logind(&self, audit: u32, leader: Option<u32>) -> Option<&'a LogindSession> {
        self.logind_by_audit
            .get(&audit)
            .or_else(|| leader.and_then(|pid| self.logind_by_leader.get(&pid)))
            .copied()
    }

    /// The live utmp record of one of `pids` (the session's monitor, usually).
    fn utmp(&self, pids: &[u32]) -> Option<&'a UtmpRecord> {
        pids.iter()
            .find_map(|pid| self.utmp_by_pid.get(pid).copied())
    }

    fn method(&self, peer: Option<SocketAddr>) -> Option<&'a str> {
        self.method_by_peer.get(&peer?).copied()
    }
}

/// Every logon session of the snapshot, System session first, then by id.
pub fn logon_sessions(snap: &Snapshot) -> Vec<LogonFacts> {
    let joins = Joins::new(snap);
    // One per audit session, and the System session; sessions known only to logind or utmp
    // are few.
    let mut out = Vec::with_capacity(snap.audit_sessions.len() + 1);
    let mut claimed_utmp: BTreeSet<i32> = BTreeSet::new();
    let mut claimed_logind: BTreeSet<&str> = BTreeSet::new();

    // The System session: every process outside an audit session.
    let system_pids: Vec<u32> = snap
        .processes
        .iter()
        .filter(|p| p.sessionid.is_none())
        .map(|p| p.pid())
        .collect();
    out.push(LogonFacts {
        logon_id: "0".to_owned(),
        user: Some("root".to_owned()),
        uid: Some(0),
        logon_type: Some(logon_type::SYSTEM),
        authentication_package: Some("kernel".to_owned()),
        start: snap.boot_time,
        tty: None,
        remote_host: None,
        sources: ["audit"].into_iter().collect(),
        status: SessionStatus::Ok,
        pids: system_pids,
        leader: Some(1),
        remember: None,
    });

    for audit in &snap.audit_sessions {
        let facts = audit_session(snap, &joins, audit);
        if let Some(l) = joins.logind(audit.id, audit.leader) {
            claimed_logind.insert(l.id.as_str());
        }
        if let Some(u) = joins.utmp(&audit.pids) {
            claimed_utmp.insert(u.pid);
        }
        out.push(facts);
    }

    // logind sessions without a visible audit session (no pam_loginuid, or a container).
    for l in snap.logind.iter().flatten() {
        if claimed_logind.contains(l.id.as_str()) {
            continue;
        }
        let has_tty = l.tty.as_deref().is_some_and(|t| !t.is_empty()) || l.seat.is_some();
        let remote =
            l.remote.unwrap_or(false) || l.remote_host.as_deref().is_some_and(|h| !h.is_empty());
        let utmp = l.leader.and_then(|pid| joins.utmp(&[pid]));
        if let Some(u) = utmp {
            claimed_utmp.insert(u.pid);
        }
        out.push(LogonFacts {
            logon_id: l.id.clone(),
            user: l.user.clone(),
            uid: l.uid,
            logon_type: classify(l.class.as_deref(), l.service.as_deref(), has_tty, remote),
            authentication_package: l.service.clone(),
            start: l.started,
            tty: l
                .tty
                .clone()
                .filter(|t| !t.is_empty())
                .or_else(|| utmp.and_then(|u| text(&u.line))),
            remote_host: l.remote_host.clone().filter(|h| !h.is_empty()),
            sources: if utmp.is_some() {
                ["logind", "utmp"].into_iter().collect()
            } else {
                ["logind"].into_iter().collect()
            },
            status: if l.state.as_deref() == Some("closing")
                || l.leader.is_some_and(|pid| snap.process(pid).is_none())
            {
                SessionStatus::Degraded
            } else {
                SessionStatus::Ok
            },
            pids: l.leader.into_iter().collect(),
            leader: l.leader,
            remember: None,
        });
    }

    // utmp records of live processes outside any audit or logind session.
    for u in snap.utmp.iter().flat_map(|u| &u.live) {
        if claimed_utmp.contains(&u.pid) {
            continue;
        }
        let pid = u32::try_from(u.pid).ok();
        let leader = pid.and_then(|p| snap.process(p));
        let service = leader
            .and_then(|p| service_of(&p.stat.comm))
            .map(str::to_owned);
        let remote_host = text(&u.host);
        out.push(LogonFacts {
            logon_id: format!("utmp:{}", u.pid),
            user: text(&u.user),
            uid: text(&u.user)
                .and_then(|n| snap.account_by_name(&n))
                .map(|a| a.passwd.uid),
            logon_type: classify(None, service.as_deref(), true, remote_host.is_some()),
            authentication_package: service,
            start: u.time(),
            tty: text(&u.line),
            remote_host,
            sources: ["utmp"].into_iter().collect(),
            status: SessionStatus::Ok,
            pids: pid.into_iter().collect(),
            leader: pid,
            remember: None,
        });
    }
    out
}

/// The names `Description` may list.
const SOURCE_NAMES: &[&str] = &[
    "audit",
    "audit log",
    "environment",
    "logind",
    "sshd",
    "state",
    "utmp",
];

/// One audit session's facts. Its origin (LogonType, AuthenticationPackage, StartTime,
/// terminal and remote host) comes from the strongest evidence there is, in this order
/// (docs/mapping.md, "Sessions that keep their identity"):
///
/// 1. the process that opened it, alive (the sshd connection, `login`, `cron`), with logind
///    and utmp beside it, as always;
/// 2. linmgmt's own record of the session, when made from evidence at least as strong as
///    what is left (so the answer does not change when sshd exits);
/// 3. logind's session; 4. the audit log's `USER_START`/`USER_LOGIN` (`ses=`), with wtmp;
/// 5. the environment sshd gave the session's processes (`SSH_CONNECTION`, `SSH_TTY`);
/// 6. the processes alone: StartTime from the earliest, an unknown origin otherwise.
///
/// sshd's log gives the authentication method to whichever of these names the client's
/// address and port.
fn audit_session(snap: &Snapshot, joins: &Joins<'_>, audit: &AuditSession) -> LogonFacts {
    let leader = audit.leader.and_then(|pid| snap.process(pid));
    let logind = joins.logind(audit.id, audit.leader);
    let utmp = joins.utmp(&audit.pids);
    let ssh = joins.ssh_by_session.get(&audit.id).copied();
    let clues = &snap.clues;
    let env = clues.ssh_env.get(&audit.id).filter(|e| e.is_ssh());
    let logs: &[AuditLogin] = clues.audit_logins.get(&audit.id).map_or(&[], Vec::as_slice);
    let opened = logs.iter().find(|l| l.kind == AuditLoginKind::SessionOpen);
    let log_tty = (logs.iter())
        .filter(|l| l.kind == AuditLoginKind::Login)
        .find_map(|l| l.terminal.as_deref()?.strip_prefix("/dev/"));
    let leader_service = leader.and_then(|p| service_of(&p.stat.comm));

    let mut sources: BTreeSet<&'static str> = ["audit"].into_iter().collect();
    if logind.is_some() {
        sources.insert("logind");
    }
    if utmp.is_some() {
        sources.insert("utmp");
    }
    if ssh.is_some() {
        sources.insert("sshd");
    }
    if !logs.is_empty() {
        sources.insert("audit log");
    }
    if env.is_some() {
        sources.insert("environment");
    }

    let basis = if ssh.is_some() || leader_service.is_some() {
        Basis::Live
    } else if logind.is_some() {
        Basis::Logind
    } else if !logs.is_empty() {
        Basis::Logs
    } else if env.is_some() {
        Basis::Environment
    } else {
        Basis::Processes
    };
    let uid = audit.loginuid.or(logind.and_then(|l| l.uid));
    let user = logind
        .and_then(|l| l.user.clone())
        .or_else(|| ssh.map(|c| c.user.clone()))
        .or_else(|| {
            uid.and_then(|u| snap.account_by_uid(u))
                .map(|a| a.passwd.name.clone())
        })
        .or_else(|| utmp.and_then(|u| text(&u.user)))
        .or_else(|| opened.and_then(|l| l.acct.clone()))
        .or_else(|| uid.map(|u| u.to_string()));
    let service = logind
        .and_then(|l| l.service.clone())
        .or_else(|| ssh.map(|_| "sshd".to_owned()))
        .or_else(|| leader_service.map(str::to_owned))
        .or_else(|| {
            (logs.iter())
                .find_map(|l| service_of_exe(l.exe.as_deref()?))
                .map(str::to_owned)
        })
        .or_else(|| env.map(|_| "sshd".to_owned()));
    let tty = ssh
        .and_then(|c| c.ttys.first().cloned())
        .or_else(|| utmp.and_then(|u| text(&u.line)))
        .or_else(|| logind.and_then(|l| l.tty.clone()).filter(|t| !t.is_empty()))
        // The login's terminal before one its processes opened later (a tmux pane).
        .or_else(|| log_tty.map(str::to_owned))
        .or_else(|| env.and_then(|e| e.tty.clone()))
        .or_else(|| audit.ttys.first().cloned());
    let log_addr = || {
        logs.iter()
            .find_map(|l| l.addr.map(|a| a.to_string()).or_else(|| l.hostname.clone()))
    };
    let remote_host = ssh
        .and_then(|c| c.peer.map(|p| p.ip().to_string()))
        .or_else(|| {
            logind
                .and_then(|l| l.remote_host.clone())
                .filter(|h| !h.is_empty())
        })
        .or_else(|| utmp.and_then(|u| text(&u.host)))
        .or_else(log_addr)
        .or_else(|| env.and_then(|e| e.client.map(|c| c.ip().to_string())));
    let has_tty = match ssh {
        Some(c) => c.has_pty,
        None => tty.is_some() || logind.is_some_and(|l| l.seat.is_some()),
    };
    let remote = remote_host.is_some() || logind.and_then(|l| l.remote).unwrap_or(false);
    let method = ssh
        .and_then(|c| joins.method(c.peer))
        .or_else(|| env.and_then(|e| joins.method(e.client)))
        .map(str::to_owned);
    // wtmp's login on the terminal the clues name: the latest by this user before the
    // session's first process still running.
    let wtmp_start = || {
        let line = tty.as_deref()?;
        let first = audit.start_time?;
        let latest_ok = first.checked_add(jiff::SignedDuration::from_secs(2)).ok()?;
        (clues.wtmp_logins.iter())
            .filter(|r| text(&r.line).as_deref() == Some(line))
            .filter(|r| user.is_none() || text(&r.user) == user)
            .filter_map(UtmpRecord::time)
            .filter(|t| *t <= latest_ok)
            .max()
    };
    let start = logind
        .and_then(|l| l.started)
        .or(audit.start_time.filter(|_| basis == Basis::Live))
        .or_else(|| opened.or(logs.first()).map(|l| l.time))
        .or_else(wtmp_start)
        .or(audit.start_time)
        .or_else(|| utmp.and_then(UtmpRecord::time));
    let current = SessionRecord {
        id: audit.id,
        loginuid: audit.loginuid,
        basis,
        written: snap.taken_at,
        user,
        service,
        method,
        class: logind.and_then(|l| l.class.clone()),
        remote,
        remote_host,
        has_tty,
        tty,
        start,
        sources: sources.iter().map(|s| (*s).to_owned()).collect(),
    };

    let degraded =
        logind.and_then(|l| l.state.as_deref()) == Some("closing") || audit.leader.is_none();
    let starting = |c: &SshConnection| {
        c.start_time
            .is_some_and(|t| snap.taken_at.duration_since(t) < STARTING_AT_MOST)
    };
    // An sshd login whose connection is not known yet (PAM has given the monitor its audit
    // session, but it still has its pre-auth title) is still being set up: reported once it
    // is whole, or once it is no longer young, whichever comes first. (Titles never go
    // back, so a session once whole never becomes Starting again.)
    let unjoined = leader_service == Some("sshd")
        && ssh.is_none()
        && current.remote_host.is_none()
        && (audit.start_time).is_some_and(|t| snap.taken_at.duration_since(t) < STARTING_AT_MOST);
    let status = match ssh {
        Some(c) if c.phase == SshPhase::Pending && starting(c) => SessionStatus::Starting,
        Some(c) if c.phase == SshPhase::Ending => SessionStatus::Stopping,
        _ if unjoined => SessionStatus::Starting,
        _ if degraded => SessionStatus::Degraded,
        _ => SessionStatus::Ok,
    };

    // The record wins unless this scan has stronger evidence than it was made from; a
    // login still starting (its terminal not known yet) or already stopping is never
    // recorded.
    let record = clues.record(audit.id, audit.loginuid);
    let (origin, remember) = match record {
        Some(r) if r.basis >= basis => {
            // Description names where the facts came from: the record's sources, so that
            // it does not change either when sshd goes, or as later scans skip sources
            // the record makes moot (the environment of its processes); `state` for a
            // record without them.
            let recorded: BTreeSet<&'static str> = (r.sources.iter())
                .filter_map(|s| SOURCE_NAMES.iter().find(|n| **n == s.as_str()).copied())
                .collect();
            if !recorded.is_empty() {
                sources = recorded;
            } else if r.basis > basis {
                sources = ["audit", "state"].into_iter().collect();
            }
            (fill_from(r, &current), None)
        }
        _ => {
            let remember = (!status.is_transitional()).then(|| current.clone());
            (current, remember)
        }
    };
    let logon_type = classify(
        origin.class.as_deref(),
        origin.service.as_deref(),
        origin.has_tty,
        origin.remote,
    );
    let authentication_package = match (origin.service, origin.method) {
        (Some(s), Some(m)) if s == "sshd" => Some(format!("{s}/{m}")),
        (s, _) => s,
    };
    LogonFacts {
        logon_id: audit.id.to_string(),
        user: origin.user,
        uid,
        logon_type,
        authentication_package,
        start: origin.start,
        tty: origin.tty,
        remote_host: origin.remote_host,
        sources,
        status,
        pids: audit.pids.clone(),
        leader: audit.leader,
        remember,
    }
}

/// A record, with what it lacks taken from this scan.
fn fill_from(r: &SessionRecord, current: &SessionRecord) -> SessionRecord {
    let or = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
    SessionRecord {
        user: or(&r.user, &current.user),
        service: or(&r.service, &current.service),
        method: or(&r.method, &current.method),
        class: or(&r.class, &current.class),
        remote_host: or(&r.remote_host, &current.remote_host),
        tty: or(&r.tty, &current.tty),
        start: r.start.or(current.start),
        ..r.clone()
    }
}
