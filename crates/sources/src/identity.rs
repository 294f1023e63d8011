//! What tells a logon session's origin once the process that opened it is gone: an ssh
//! login whose sshd has exited while a `nohup`ed process, a tmux or a screen server lives
//! on, a cron job that daemonised.
//!
//! [`gather`] reads, for the audit sessions that have no sshd connection and no record in
//! linmgmt's own state ([`crate::state`]) — and only for those —
//! - the environment of the session's root processes (`SSH_CONNECTION`, `SSH_TTY`;
//!   readable as root or as the session's user),
//! - the audit log's `USER_START`/`USER_LOGIN` records of those sessions (`ses=`),
//! - wtmp's login records of the terminals found there.
//!
//! The providers decide what to believe (docs/mapping.md, "Sessions that keep their identity").

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::parse::audit::{AuditLogin, parse_audit_log};
use crate::parse::environ::{SshEnv, parse_ssh_env};
use crate::parse::utmp::{UtType, UtmpLayout, UtmpRecord, decode_file};
use crate::read::proc::Process;
use crate::snapshot::{AuditSession, SshConnection};
use crate::state::{self, Records};
use crate::{Root, Warning};

/// The audit log, relative to the root.
pub const AUDIT_LOG: &str = "var/log/audit/audit.log";
/// wtmp, relative to the root.
pub const WTMP: &str = "var/log/wtmp";
/// How much of the end of the audit log and of wtmp is read.
const LOG_TAIL: u64 = 1 << 20;
/// How much of a process's environment is read.
const ENVIRON_MAX: usize = 64 * 1024;
/// How many root processes of one session have their environment read.
const ROOTS_READ: usize = 4;

/// The clues to the origin of sessions whose opener is gone.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionClues {
    /// linmgmt's own records of this boot's sessions, by audit session id (empty when not
    /// readable: not root, or no boot id).
    pub records: Records,
    /// sshd's variables from the environment of a root process, by audit session id.
    pub ssh_env: BTreeMap<u32, SshEnv>,
    /// The audit log's logins, by audit session id, oldest first.
    pub audit_logins: BTreeMap<u32, Vec<AuditLogin>>,
    /// wtmp's `USER_PROCESS` records of the terminals named by `ssh_env` and
    /// `audit_logins`, oldest first.
    pub wtmp_logins: Vec<UtmpRecord>,
}

impl SessionClues {
    /// The record of session `id`, if it was made for a session with this login uid.
    pub fn record(&self, id: u32, loginuid: Option<u32>) -> Option<&state::SessionRecord> {
        self.records.get(&id).filter(|r| r.loginuid == loginuid)
    }
}

/// Reads the clues (see the module documentation).
pub(crate) fn gather(
    root: &Root,
    boot_id: Option<&str>,
    utmp_layout: UtmpLayout,
    processes: &[Process],
    audit_sessions: &[AuditSession],
    ssh: &[SshConnection],
    w: &mut Vec<Warning>,
) -> SessionClues {
    let mut clues = SessionClues {
        records: boot_id.map_or_else(Records::new, |b| state::load(root, b).into_items(w)),
        ..SessionClues::default()
    };
    let with_sshd: BTreeSet<u32> = ssh.iter().filter_map(|c| c.sessionid).collect();
    let wanted: Vec<&AuditSession> = audit_sessions
        .iter()
        .filter(|s| !with_sshd.contains(&s.id) && clues.record(s.id, s.loginuid).is_none())
        .collect();
    if wanted.is_empty() {
        return clues;
    }

    let index: HashMap<u32, &Process> = processes.iter().map(|p| (p.pid(), p)).collect();
    for s in &wanted {
        let mut roots: Vec<&Process> = (s.roots.iter())
            .filter_map(|pid| index.get(pid).copied())
            .filter(|p| !p.is_exiting())
            .collect();
        roots.sort_by_key(|p| (p.stat.starttime, p.pid()));
        for p in roots.into_iter().take(ROOTS_READ) {
            let rel = format!("proc/{}/environ", p.pid());
            match root.read_prefix(&rel, ENVIRON_MAX) {
                Ok(bytes) => {
                    let env = parse_ssh_env(&bytes);
                    if env.is_ssh() {
                        clues.ssh_env.insert(s.id, env);
                        break;
                    }
                }
                Err(e) if unavailable(&e) => {}
                Err(e) => {
                    // Gone since the listing (churn) is not news either.
                    let warning = Warning::io(rel, &e);
                    if warning.is_actionable() {
                        w.push(warning);
                    }
                }
            }
        }
    }

    let ids: BTreeSet<u32> = wanted.iter().map(|s| s.id).collect();
    match root.read_tail(AUDIT_LOG, LOG_TAIL, 1) {
        Ok(bytes) => {
            for login in parse_audit_log(&String::from_utf8_lossy(&bytes)) {
                if ids.contains(&login.ses) {
                    clues.audit_logins.entry(login.ses).or_default().push(login);
                }
            }
        }
        Err(e) if unavailable(&e) => {}
        Err(e) => w.push(Warning::io(AUDIT_LOG, &e)),
    }

    let ttys: BTreeSet<String> = (clues.ssh_env.values())
        .filter_map(|e| e.tty.clone())
        .chain(
            (clues.audit_logins.values().flatten())
                .filter_map(|l| l.terminal.as_deref()?.strip_prefix("/dev/"))
                .map(str::to_owned),
        )
        .collect();
    if !ttys.is_empty() {
        let size = utmp_layout.record_size() as u64;
        match root.read_tail(WTMP, LOG_TAIL, size) {
            Ok(bytes) => {
                clues.wtmp_logins = decode_file(&bytes, utmp_layout)
                    .records
                    .into_iter()
                    .filter(|r| r.ut_type == UtType::UserProcess)
                    .filter(|r| ttys.contains(r.line.to_string_lossy().as_ref()))
                    .collect();
            }
            Err(e) if unavailable(&e) => {}
            Err(e) => w.push(Warning::io(WTMP, &e)),
        }
    }
    clues
}

/// Clues that are missing, or that only root may read (other users' environments, the
/// audit log, the auth log): the answer rests on the other sources, and a user without root could do
/// nothing about the warning, on every query.
pub(crate) fn unavailable(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
    )
}
