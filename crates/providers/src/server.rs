//! Server sessions: what remote computers hold open on this host — SSH connections,
//! Samba sessions and NFSv4 clients — as `Win32_ServerSession` (design.md §4).

use jiff::Timestamp;
use linmgmt_sources::Snapshot;
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};

/// WMI's `SessionType` values.
pub mod session_type {
    /// A guest session.
    pub const GUEST: u32 = 0;
    /// A session without encryption.
    pub const NO_ENCRYPTION: u32 = 1;
    /// Anything else (encrypted).
    pub const OTHER: u32 = 2;
}

/// One server session after merging connections with the same keys.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerFacts {
    /// Key: the peer's address (IPv4-mapped addresses shown as IPv4) or SMB machine name.
    pub computer_name: String,
    /// Key: the user; empty when unknown (NFS).
    pub user_name: String,
    /// Seconds since the (earliest) connection began.
    pub active_time: Option<u64>,
    /// Seconds since the (most recent) activity.
    pub idle_time: Option<u64>,
    /// Files, devices and pipes held open.
    pub resources_opened: Option<u64>,
    /// 0 guest, 1 no encryption, 2 other; the lowest of the merged connections.
    pub session_type: u32,
    /// Distinct client types, e.g. `SSH-2.0`, `SMB3_11`.
    pub client_types: BTreeSet<String>,
    /// Distinct transports, e.g. `ssh/tcp 127.0.0.1:22`.
    pub transports: BTreeSet<String>,
    /// The protocols merged here: `ssh`, `smb`, `nfs`.
    pub protocols: BTreeSet<&'static str>,
}

/// Samba's default `guest account`; smbstatus shows guest sessions under it.
const SMB_GUEST_ACCOUNT: &str = "nobody";

fn show_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        v4 => v4.to_string(),
    }
}

/// An NFS client's ComputerName: its address without the port, else the address as printed.
pub(crate) fn nfs_computer_name(
    info: &linmgmt_sources::parse::nfs::NfsClientInfo,
) -> Option<String> {
    info.peer
        .map(|p| show_ip(p.ip()))
        .or_else(|| info.address.clone())
}

fn transport(proto: &str, local: Option<SocketAddr>) -> String {
    match local {
        Some(a) => format!("{proto}/tcp {}:{}", show_ip(a.ip()), a.port()),
        None => format!("{proto}/tcp"),
    }
}

fn secs_between(earlier: Timestamp, later: Timestamp) -> u64 {
    u64::try_from(later.as_second().saturating_sub(earlier.as_second())).unwrap_or(0)
}

/// A connection cannot have been idle longer than it has existed (the TCP connection is set
/// up a moment before the process serving it starts).
fn within(idle: Option<u64>, active: Option<u64>) -> Option<u64> {
    match (idle, active) {
        (Some(i), Some(a)) => Some(i.min(a)),
        (i, _) => i,
    }
}

fn merge(into: &mut ServerFacts, c: ServerFacts) {
    into.active_time = into.active_time.max(c.active_time);
    into.idle_time = match (into.idle_time, c.idle_time) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    into.resources_opened = match (into.resources_opened, c.resources_opened) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    into.session_type = into.session_type.min(c.session_type);
    into.client_types.extend(c.client_types);
    into.transports.extend(c.transports);
    into.protocols.extend(c.protocols);
}

/// Every server session of the snapshot, merged by (ComputerName, UserName), sorted by keys.
pub fn server_sessions(snap: &Snapshot) -> Vec<ServerFacts> {
    let now = snap.taken_at;
    // One entry per connection, merged by keys at the end.
    let mut connections: Vec<ServerFacts> = Vec::new();

    for ssh in &snap.ssh {
        let Some(peer) = ssh.peer else { continue };
        let session = ssh.sessionid.and_then(|id| snap.audit_session(id));
        // With a pty, the terminal's atime (what `w` shows); without one, or when the
        // terminal cannot be read, the TCP connection's last receive (sock_diag).
        let pty_idle = ssh
            .ttys
            .first()
            .filter(|_| ssh.has_pty)
            .and_then(|t| snap.tty_atimes.get(t))
            .map(|atime| secs_between(*atime, now));
        let active = ssh.start_time.map(|t| secs_between(t, now));
        let idle = within(pty_idle.or(ssh.last_receive.map(|d| d.as_secs())), active);
        let resources = session
            .and_then(|s| s.open_files.as_ref())
            .map(|f| u64::from(f.resources()));
        connections.push(ServerFacts {
            computer_name: show_ip(peer.ip()),
            user_name: ssh.user.clone(),
            active_time: active,
            idle_time: idle,
            resources_opened: resources,
            session_type: session_type::OTHER,
            // sshd logs the client's version only at DEBUG level; the protocol is certain.
            client_types: ["SSH-2.0".to_owned()].into(),
            transports: [transport("ssh", ssh.local)].into(),
            protocols: ["ssh"].into(),
        });
    }

    if let Some(smb) = snap.smb.status() {
        for s in &smb.sessions {
            let guest_uid = snap
                .account_by_name(SMB_GUEST_ACCOUNT)
                .map(|a| a.passwd.uid);
            let guest = s.username.as_deref() == Some(SMB_GUEST_ACCOUNT)
                || (s.uid.is_some() && s.uid == guest_uid);
            let session_type = if guest {
                session_type::GUEST
            } else if s.encryption.degree.as_deref().is_none_or(|d| d == "none") {
                session_type::NO_ENCRYPTION
            } else {
                session_type::OTHER
            };
            let server_process = s.pid.and_then(|pid| snap.process(pid));
            let row = s
                .pid
                .and_then(|pid| snap.tcp_by_pid.get(&pid))
                .and_then(|rows| rows.iter().find(|r| s.peer.is_none_or(|p| r.remote == p)));
            let local = row.map(|r| r.local);
            // Samba keeps its idle time in memory only; the TCP connection's last receive is
            // the proxy (clients send keep-alives, so it is a weak measure of idleness).
            let idle = row.and_then(|r| snap.last_receive(r.inode));
            let active = server_process
                .and_then(|p| p.start_time)
                .map(|t| secs_between(t, now));
            let opens = smb
                .opens
                .iter()
                .filter(|o| o.pid.is_some() && o.pid == s.pid)
                .count();
            let Some(computer) = s
                .remote_machine
                .clone()
                .or_else(|| s.peer.map(|p| show_ip(p.ip())))
            else {
                continue;
            };
            connections.push(ServerFacts {
                computer_name: computer,
                user_name: s.username.clone().unwrap_or_default(),
                active_time: active,
                idle_time: within(idle.map(|d| d.as_secs()), active),
                resources_opened: Some(opens as u64),
                session_type,
                client_types: s.dialect.iter().cloned().collect(),
                transports: [transport("smb", local)].into(),
                protocols: ["smb"].into(),
            });
        }
    }

    for client in snap.nfs.iter().flatten() {
        let info = &client.info;
        let Some(computer) = nfs_computer_name(info) else {
            continue;
        };
        let mut client_type = format!("NFSv4.{}", info.minor_version.unwrap_or(0));
        if let Some(name) = &info.implementation_name {
            client_type.push_str(&format!(" ({name})"));
        }
        connections.push(ServerFacts {
            computer_name: computer,
            user_name: String::new(),
            active_time: None,
            idle_time: info.seconds_since_renew,
            resources_opened: client.states.as_ref().map(|s| s.open as u64),
            session_type: session_type::NO_ENCRYPTION,
            client_types: [client_type].into(),
            transports: ["nfs/tcp".to_owned()].into(),
            protocols: ["nfs"].into(),
        });
    }

    // Keys compare without case, as WMI compares them.
    let mut merged: Vec<ServerFacts> = Vec::new();
    let mut by_key: HashMap<(String, String), usize> = HashMap::new();
    for c in connections {
        let key = (c.computer_name.to_lowercase(), c.user_name.to_lowercase());
        match by_key.get(&key) {
            Some(&i) => merge(&mut merged[i], c),
            None => {
                by_key.insert(key, merged.len());
                merged.push(c);
            }
        }
    }
    merged.sort_by_key(|f| (f.computer_name.to_lowercase(), f.user_name.to_lowercase()));
    merged
}

impl ServerFacts {
    /// `alice from 127.0.0.1 (ssh, smb)`: the Caption and Name.
    pub fn caption(&self) -> String {
        let protocols: Vec<&str> = self.protocols.iter().copied().collect();
        let user = if self.user_name.is_empty() {
            "?"
        } else {
            &self.user_name
        };
        format!(
            "{user} from {} ({})",
            self.computer_name,
            protocols.join(", ")
        )
    }
}
