//! Logon sessions: the kernel's audit sessions, enriched by logind and utmp, as
//! `Win32_LogonSession` (design.md §3).

use jiff::Timestamp;
use linmgmt_sources::Snapshot;
use linmgmt_sources::parse::logind::LogindSession;
use linmgmt_sources::parse::utmp::UtmpRecord;
use linmgmt_sources::snapshot::{SshConnection, SshPhase};
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
    /// WMI's `LogonType`.
    pub logon_type: u32,
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

/// LogonType from the logind class, the PAM service, a terminal and remoteness.
fn classify(class: Option<&str>, service: Option<&str>, has_tty: bool, remote: bool) -> u32 {
    use logon_type::*;
    match class {
        Some(c) if c.starts_with("background") => return BATCH,
        Some(c) if c.starts_with("manager") => return SERVICE,
        _ => {}
    }
    match service {
        Some("cron" | "atd") => BATCH,
        Some("systemd-user") => SERVICE,
        _ if remote => {
            if has_tty {
                REMOTE_INTERACTIVE
            } else {
                NETWORK
            }
        }
        Some("sshd") => {
            if has_tty {
                REMOTE_INTERACTIVE
            } else {
                NETWORK
            }
        }
        // A local session without a terminal (a script under a login session's
        // descendant, a container exec) runs unattended: batch.
        _ if !has_tty => BATCH,
        _ => INTERACTIVE,
    }
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
            ssh_by_session: snap
                .ssh
                .iter()
                .filter_map(|c| c.sessionid.map(|id| (id, c)))
                .collect(),
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
    let mut out = Vec::new();
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
        logon_type: logon_type::SYSTEM,
        authentication_package: Some("kernel".to_owned()),
        start: snap.boot_time,
        tty: None,
        remote_host: None,
        sources: ["audit"].into_iter().collect(),
        status: SessionStatus::Ok,
        pids: system_pids,
        leader: Some(1),
    });

    for audit in &snap.audit_sessions {
        let leader = audit.leader.and_then(|pid| snap.process(pid));
        let logind = joins.logind(audit.id, audit.leader);
        let utmp = joins.utmp(&audit.pids);
        let ssh = joins.ssh_by_session.get(&audit.id).copied();
        let mut sources: BTreeSet<&'static str> = ["audit"].into_iter().collect();
        if let Some(l) = logind {
            sources.insert("logind");
            claimed_logind.insert(l.id.as_str());
        }
        if let Some(u) = utmp {
            sources.insert("utmp");
            claimed_utmp.insert(u.pid);
        }
        if ssh.is_some() {
            sources.insert("sshd");
        }
        let uid = audit.loginuid.or(logind.and_then(|l| l.uid));
        let user = logind
            .and_then(|l| l.user.clone())
            .or_else(|| ssh.map(|c| c.user.clone()))
            .or_else(|| {
                uid.and_then(|u| snap.account_by_uid(u))
                    .map(|a| a.passwd.name.clone())
            })
            .or_else(|| utmp.and_then(|u| text(&u.user)))
            .or_else(|| uid.map(|u| u.to_string()));
        let service = logind
            .and_then(|l| l.service.clone())
            .or_else(|| ssh.map(|_| "sshd".to_owned()))
            .or_else(|| {
                leader
                    .and_then(|p| service_of(&p.stat.comm))
                    .map(str::to_owned)
            });
        let tty = ssh
            .and_then(|c| c.ttys.first().cloned())
            .or_else(|| utmp.and_then(|u| text(&u.line)))
            .or_else(|| logind.and_then(|l| l.tty.clone()).filter(|t| !t.is_empty()))
            .or_else(|| audit.ttys.first().cloned());
        let remote_host = ssh
            .and_then(|c| c.peer.map(|p| p.ip().to_string()))
            .or_else(|| {
                logind
                    .and_then(|l| l.remote_host.clone())
                    .filter(|h| !h.is_empty())
            })
            .or_else(|| utmp.and_then(|u| text(&u.host)));
        let has_tty = ssh.map_or(tty.is_some(), |c| c.has_pty);
        let remote = remote_host.is_some() || logind.and_then(|l| l.remote).unwrap_or(false);
        let logon_type = classify(
            logind.and_then(|l| l.class.as_deref()),
            service.as_deref(),
            has_tty,
            remote,
        );
        let authentication_package = match (service, ssh.and_then(|c| joins.method(c.peer))) {
            (Some(s), Some(m)) if s == "sshd" => Some(format!("{s}/{m}")),
            (s, _) => s,
        };
        let start = logind
            .and_then(|l| l.started)
            .or(audit.start_time)
            .or_else(|| utmp.and_then(UtmpRecord::time));
        let degraded =
            logind.and_then(|l| l.state.as_deref()) == Some("closing") || audit.leader.is_none();
        let starting = |c: &SshConnection| {
            c.start_time
                .is_some_and(|t| snap.taken_at.duration_since(t) < STARTING_AT_MOST)
        };
        let status = match ssh {
            Some(c) if c.phase == SshPhase::Pending && starting(c) => SessionStatus::Starting,
            Some(c) if c.phase == SshPhase::Ending => SessionStatus::Stopping,
            _ if degraded => SessionStatus::Degraded,
            _ => SessionStatus::Ok,
        };
        out.push(LogonFacts {
            logon_id: audit.id.to_string(),
            user,
            uid,
            logon_type,
            authentication_package,
            start,
            tty,
            remote_host,
            sources,
            status,
            pids: audit.pids.clone(),
            leader: audit.leader,
        });
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
        });
    }
    out
}
