//! The pure joins of a scan: facts that come from relating processes to each other and to
//! sockets, not from any one file. The full scan and the live model both call them, so a
//! session found by one is found the same way by the other.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::parse::net::TcpEntry;
use crate::parse::sshd::{SshdRole, classify_title};
use crate::read::proc::{FdSummary, Process};
use crate::snapshot::{AuditSession, SshConnection, SshPhase};

/// The role of each sshd-family process, by its title, with the program name (`sshd`,
/// `sshd-session`). Exiting processes have none.
pub fn sshd_roles<'a>(
    processes: impl IntoIterator<Item = &'a Process>,
) -> HashMap<u32, (SshdRole, String)> {
    processes
        .into_iter()
        .filter(|p| p.stat.comm.starts_with("sshd") && !p.is_exiting())
        .filter_map(|p| {
            let title = p.title();
            let program = title
                .split(':')
                .next()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string();
            classify_title(&title).map(|r| (p.pid(), (r, program)))
        })
        .collect()
}

/// The SSH connections the sshd-family processes make: a monitor (`USER [priv]`) with its
/// user child, or a user child without one, joined to the TCP row of their socket.
pub fn ssh_connections(
    processes: &[Process],
    index: &HashMap<u32, usize>,
    roles: &HashMap<u32, (SshdRole, String)>,
    tcp_by_pid: &BTreeMap<u32, Vec<TcpEntry>>,
) -> Vec<SshConnection> {
    // Children by parent, for monitor → user child.
    let mut child_of: HashMap<u32, u32> = HashMap::new();
    for (pid, (role, _)) in roles {
        if matches!(role, SshdRole::UserChild { .. })
            && !is_unsettled_fork(processes, index, &processes[index[pid]])
        {
            let ppid = processes[index[pid]].ppid();
            child_of
                .entry(ppid)
                .and_modify(|c| *c = (*c).min(*pid))
                .or_insert(*pid);
        }
    }
    // Monitors whose child is still titled `sshd: USER` (authenticated, no session yet).
    let pending: HashSet<u32> = (roles.iter())
        .filter(|(_, (role, _))| matches!(role, SshdRole::Other(_)))
        .map(|(pid, _)| processes[index[pid]].ppid())
        .collect();
    let mut out = Vec::new();
    for (&pid, (role, program)) in roles {
        let p = &processes[index[&pid]];
        if is_unsettled_fork(processes, index, p) {
            continue;
        }
        let child_pid = match role {
            SshdRole::Monitor { .. } => child_of.get(&pid).copied(),
            // A user child under a monitor is reported with the monitor.
            SshdRole::UserChild { .. }
                if matches!(roles.get(&p.ppid()), Some((SshdRole::Monitor { .. }, _))) =>
            {
                continue;
            }
            SshdRole::UserChild { .. } => Some(pid),
            _ => continue,
        };
        let user = match role {
            SshdRole::Monitor { user } | SshdRole::UserChild { user, .. } => user.clone(),
            _ => unreachable!("filtered above"),
        };
        let child = child_pid
            .and_then(|c| index.get(&c))
            .map(|&i| &processes[i]);
        let mut ttys = match child_pid.and_then(|c| roles.get(&c)) {
            Some((SshdRole::UserChild { ttys, .. }, _)) => ttys.clone(),
            _ => Vec::new(),
        };
        if ttys.is_empty() {
            ttys.extend(
                child
                    .and_then(|c| c.tty())
                    .filter(|t| t.starts_with("pts/")),
            );
        }
        // The monitor and the child hold the same socket; prefer an established TCP row.
        let rows = tcp_by_pid
            .get(&pid)
            .or_else(|| child_pid.and_then(|c| tcp_by_pid.get(&c)));
        let row = rows.and_then(|r| {
            r.iter()
                .find(|e| e.state == crate::parse::net::TcpState::Established)
                .or_else(|| r.first())
        });
        out.push(SshConnection {
            pid,
            child_pid: child_pid.filter(|&c| c != pid),
            program: program.clone(),
            user,
            has_pty: !ttys.is_empty(),
            phase: match (role, child_pid) {
                (SshdRole::Monitor { .. }, None) if pending.contains(&pid) => SshPhase::Pending,
                (SshdRole::Monitor { .. }, None) => SshPhase::Ending,
                _ => SshPhase::Running,
            },
            ttys,
            sessionid: p.sessionid.or_else(|| child.and_then(|c| c.sessionid)),
            loginuid: p.loginuid.or_else(|| child.and_then(|c| c.loginuid)),
            start_time: p.start_time,
            socket_inode: row.map(|r| r.inode),
            local: row.map(|r| r.local),
            peer: row.map(|r| r.remote),
            last_receive: None,
        });
    }
    out.sort_by_key(|c| c.pid);
    out
}

/// The audit sessions: processes grouped by `/proc/<pid>/sessionid` (zombies and exiting
/// processes keep none alive), with their roots, leader, start and terminals.
pub fn audit_sessions(
    processes: &[Process],
    index: &HashMap<u32, usize>,
    open_files: bool,
) -> Vec<AuditSession> {
    let mut by_id: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, p) in processes.iter().enumerate() {
        // A zombie keeps its sessionid until reaped, which can take a while when PID 1 is
        // slow; it runs nothing, so it keeps no session alive (nor does a process that is
        // exiting).
        if let Some(id) = p.sessionid.filter(|_| !p.is_exiting()) {
            by_id.entry(id).or_default().push(i);
        }
    }
    by_id
        .into_iter()
        .map(|(id, members)| {
            let roots: Vec<u32> = members
                .iter()
                .map(|&i| &processes[i])
                .filter(|p| {
                    index
                        .get(&p.ppid())
                        .is_none_or(|&pi| processes[pi].sessionid != Some(id))
                })
                .map(Process::pid)
                .collect();
            let leader = roots
                .iter()
                .map(|pid| &processes[index[pid]])
                .min_by_key(|p| (p.stat.starttime, p.pid()))
                .map(Process::pid);
            let leader_proc = leader.map(|l| &processes[index[&l]]);
            let ttys: BTreeSet<String> =
                members.iter().filter_map(|&i| processes[i].tty()).collect();
            let open_files = open_files.then(|| {
                let mut sum = FdSummary::default();
                for &i in &members {
                    if let Some(f) = &processes[i].fds {
                        sum.add(f);
                    }
                }
                sum
            });
            AuditSession {
                id,
                loginuid: leader_proc
                    .or_else(|| members.first().map(|&i| &processes[i]))
                    .and_then(|p| p.loginuid),
                pids: members.iter().map(|&i| processes[i].pid()).collect(),
                roots,
                leader,
                start_time: leader_proc.and_then(|p| p.start_time),
                ttys: ttys.into_iter().collect(),
                open_files,
            }
        })
        .collect()
}

/// Whether `p` is a fork that still has its parent's title: the user child born as
/// `USER [priv]`, or a session's command between `fork` and `exec` (titled `USER@notty`
/// like its parent). It is neither a connection nor the child of one, only a moment.
pub fn is_unsettled_fork(processes: &[Process], index: &HashMap<u32, usize>, p: &Process) -> bool {
    (index.get(&p.ppid())).is_some_and(|&i| inherits_title(p, &processes[i]))
}

/// Whether `p` has the title of `parent` (both read with their details).
pub fn inherits_title(p: &Process, parent: &Process) -> bool {
    p.details && parent.details && !p.cmdline.is_empty() && p.cmdline == parent.cmdline
}
