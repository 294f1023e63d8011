//! The classes around the sessions and the associations that link them (design.md §5):
//! `Win32_UserAccount`, `Win32_Process`, `Win32_ServerConnection`, `Win32_Share`, and
//! `Win32_LoggedOnUser`, `Win32_SessionProcess`, `Win32_SessionConnection`,
//! `Win32_ConnectionShare`.

use crate::{LogonFacts, ServerFacts, cim_time, put, string};
use jiff::tz::TimeZone;
use linmgmt_cim::{ClassDef, Instance, KeyValue, Name, ObjectPath, Value};
use linmgmt_engine::Warning;
use linmgmt_sources::Snapshot;
use linmgmt_sources::parse::nfs::export_of;
use linmgmt_sources::parse::smb::SmbTcon;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// The namespace of every path built here.
const CIMV2: &str = "root/cimv2";

/// Where references point: the host, as WMI writes `\\HOST\root\cimv2:…` in references.
pub struct Context<'a> {
    /// The host name (`__SERVER`, and the `Domain` of local accounts).
    pub host: &'a str,
    /// The time zone for datetimes.
    pub time_zone: &'a TimeZone,
}

/// A reference to an instance of this host's `root/cimv2`.
pub(crate) fn path(ctx: &Context<'_>, class: &str, keys: Vec<(&str, KeyValue)>) -> Value {
    let keys = keys.into_iter().map(|(k, v)| (Name::new(k), v)).collect();
    Value::reference(ObjectPath::instance(class, keys).with_location(ctx.host, CIMV2))
}

/// A string key value.
pub(crate) fn s(v: &str) -> KeyValue {
    KeyValue::String(v.to_owned())
}

/// The Samba user behind each SMB tree connect.
fn tcon_user<'a>(snap: &'a Snapshot, tcon: &SmbTcon) -> Option<&'a str> {
    let smb = snap.smb.status()?;
    let session = smb
        .sessions
        .iter()
        .find(|s| s.session_id.as_str() == tcon.session_id.as_deref().unwrap_or_default())?;
    session.username.as_deref()
}

/// The `Win32_Account` part of an account or group instance: `Domain` is this host, the
/// SID `S-1-22-<1 user|2 group>-<id>` (Samba's Unix SIDs), and `LocalAccount` false for
/// what only NSS (a directory) knows.
pub(crate) fn account(
    class: &Arc<ClassDef>,
    ctx: &Context<'_>,
    name: &str,
    sid: String,
    sid_type: u8,
    local: bool,
    w: &mut Vec<Warning>,
) -> Instance {
    let mut i = Instance::new(class.clone());
    put(&mut i, "Domain", string(ctx.host), w);
    put(&mut i, "Name", string(name), w);
    put(
        &mut i,
        "Caption",
        string(format!("{}\\{name}", ctx.host)),
        w,
    );
    put(&mut i, "SID", string(sid), w);
    put(&mut i, "SIDType", Some(Value::Uint8(sid_type)), w);
    put(&mut i, "LocalAccount", Some(Value::Boolean(local)), w);
    i
}

/// `Win32_UserAccount`: local accounts from `/etc/passwd`, SIDs as Samba maps Unix users.
pub fn accounts(
    snap: &Snapshot,
    viewer: Option<&str>,
    ctx: &Context<'_>,
    class: &Arc<ClassDef>,
    w: &mut Vec<Warning>,
) -> Vec<Instance> {
    snap.accounts
        .iter()
        .filter(|a| viewer.is_none_or(|v| v == a.passwd.name))
        .map(|a| {
            let p = &a.passwd;
            let mut i = account(
                class,
                ctx,
                &p.name,
                format!("S-1-22-1-{}", p.uid),
                1,
                !a.from_nss,
                w,
            );
            put(&mut i, "Description", string(p.gecos.clone()), w);
            put(&mut i, "FullName", string(p.full_name.clone()), w);
            // 512: UF_NORMAL_ACCOUNT.
            put(&mut i, "AccountType", Some(Value::Uint32(512)), w);
            put(&mut i, "Disabled", a.locked.map(Value::Boolean), w);
            put(
                &mut i,
                "Status",
                string(if a.locked == Some(true) {
                    "Degraded"
                } else {
                    "OK"
                }),
                w,
            );
            i
        })
        .collect()
}

/// A kernel worker thread's name without the work queue it is running right now
/// (`kworker/1:0-events` → `kworker/1:0`): the kernel renames idle and busy workers all the
/// time, and a process whose name changes by the second is noise to a watcher.
fn kernel_worker_name(comm: &str) -> &str {
    match comm.strip_prefix("kworker/") {
        Some(rest) => match rest.find(['-', '+']) {
            Some(cut) => &comm[..("kworker/".len() + cut)],
            None => comm,
        },
        None => comm,
    }
}

/// `Win32_Process`: every process (or only `pids`), with what `/proc` tells truthfully; only
/// their keys (`Handle`) when `keys_only`.
pub fn processes(
    snap: &Snapshot,
    pids: Option<&HashSet<u32>>,
    keys_only: bool,
    ctx: &Context<'_>,
    class: &Arc<ClassDef>,
    w: &mut Vec<Warning>,
) -> Vec<Instance> {
    // Times in /proc are clock ticks (100 per second); WMI counts 100 ns units.
    const TICK_IN_100NS: u64 = 100_000;
    let page_size: u64 = 4096;
    snap.processes
        .iter()
        .filter(|p| pids.is_none_or(|set| set.contains(&p.pid())))
        .map(|p| {
            let mut i = Instance::new(class.clone());
            put(&mut i, "Handle", string(p.pid().to_string()), w);
            if keys_only {
                return i;
            }
            let name = p
                .exe
                .as_ref()
                .and_then(|e| e.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| kernel_worker_name(&p.stat.comm).to_owned());
            put(&mut i, "ProcessId", Some(Value::Uint32(p.pid())), w);
            put(&mut i, "ParentProcessId", Some(Value::Uint32(p.ppid())), w);
            put(&mut i, "Name", string(name.clone()), w);
            put(&mut i, "Caption", string(name), w);
            if p.details && !p.cmdline.is_empty() {
                put(&mut i, "CommandLine", string(p.cmdline.join(" ")), w);
            }
            put(
                &mut i,
                "ExecutablePath",
                p.exe
                    .as_ref()
                    .map(|e| Value::String(e.display().to_string())),
                w,
            );
            put(
                &mut i,
                "CreationDate",
                p.start_time.and_then(|t| cim_time(t, ctx.time_zone)),
                w,
            );
            put(
                &mut i,
                "KernelModeTime",
                Some(Value::Uint64(p.stat.stime * TICK_IN_100NS)),
                w,
            );
            put(
                &mut i,
                "UserModeTime",
                Some(Value::Uint64(p.stat.utime * TICK_IN_100NS)),
                w,
            );
            put(
                &mut i,
                "Priority",
                Some(Value::Uint32(
                    u32::try_from(p.stat.priority.max(0)).unwrap_or(0),
                )),
                w,
            );
            put(
                &mut i,
                "ThreadCount",
                Some(Value::Uint32(
                    u32::try_from(p.stat.num_threads.max(0)).unwrap_or(0),
                )),
                w,
            );
            put(&mut i, "VirtualSize", Some(Value::Uint64(p.stat.vsize)), w);
            put(
                &mut i,
                "WorkingSetSize",
                Some(Value::Uint64(
                    u64::try_from(p.stat.rss.max(0)).unwrap_or(0) * page_size,
                )),
                w,
            );
            crate::process_counters::put_counters(&mut i, p, &snap.os, w);
            put(&mut i, "CSName", string(ctx.host), w);
            put(&mut i, "CreationClassName", string("Win32_Process"), w);
            put(
                &mut i,
                "CSCreationClassName",
                string("Win32_ComputerSystem"),
                w,
            );
            put(
                &mut i,
                "OSCreationClassName",
                string("Win32_OperatingSystem"),
                w,
            );
            put(
                &mut i,
                "Status",
                string(if p.stat.state == 'Z' {
                    "Degraded"
                } else {
                    "OK"
                }),
                w,
            );
            i
        })
        .collect()
}

/// What a `Win32_ServerConnection` stands for.
enum Link<'a> {
    /// An SMB tree connect.
    Smb(&'a SmbTcon),
    /// An NFSv4 client's state under one export, with its open states there.
    Nfs { open: usize },
}

/// One SMB tree connect or NFS export in use, as `Win32_ServerConnection` sees it.
struct Connection<'a> {
    link: Link<'a>,
    /// Empty for NFS (the client authenticates machines, not users).
    user: &'a str,
    share: &'a str,
    machine: String,
}

/// The SMB tree connects, of one user when `viewer` is given, then the NFS exports in use by
/// each client address (none for a viewer: NFS connections belong to no user).
fn connections<'a>(snap: &'a Snapshot, viewer: Option<&str>) -> Vec<Connection<'a>> {
    let mut out: Vec<Connection<'a>> = snap
        .smb
        .status()
        .into_iter()
        .flat_map(|smb| smb.tcons.iter())
        .filter_map(|t| {
            Some(Connection {
                link: Link::Smb(t),
                user: tcon_user(snap, t)?,
                share: t.service.as_deref()?,
                machine: t.machine.clone()?,
            })
        })
        .filter(|c| viewer.is_none_or(|v| v == c.user))
        .collect();
    if viewer.is_some() {
        return out;
    }
    // (address, export) → open states; clients from one address merge, as their server
    // sessions do.
    let mut nfs: BTreeMap<(String, &'a str), usize> = BTreeMap::new();
    for client in snap.nfs.iter().flatten() {
        let Some(machine) = crate::server::nfs_computer_name(&client.info) else {
            continue;
        };
        for f in &client.state_files {
            let Some(export) = export_of(&snap.nfs_exports, f) else {
                continue;
            };
            *nfs.entry((machine.clone(), export.path.as_str()))
                .or_insert(0) += usize::from(f.kind == "open");
        }
    }
    out.extend(nfs.into_iter().map(|((machine, share), open)| Connection {
        link: Link::Nfs { open },
        user: "",
        share,
        machine,
    }));
    out
}

/// `Win32_ServerConnection`: one per SMB tree connect and per NFS export in use.
pub fn server_connections(
    snap: &Snapshot,
    viewer: Option<&str>,
    class: &Arc<ClassDef>,
    w: &mut Vec<Warning>,
) -> Vec<Instance> {
    let smb = snap.smb.status();
    let tcons_per_pid: BTreeMap<Option<u32>, usize> =
        smb.iter()
            .flat_map(|s| s.tcons.iter())
            .fold(BTreeMap::new(), |mut m, t| {
                *m.entry(t.pid).or_insert(0) += 1;
                m
            });
    connections(snap, viewer)
        .into_iter()
        .map(|c| {
            let mut i = Instance::new(class.clone());
            let (files, caption, active, id) = match c.link {
                Link::Smb(tcon) => {
                    // Opens carry the serving process and the share's directory, not the
                    // tree connect: with one tree connect per process every open is its;
                    // otherwise the opens under a directory named like the share.
                    let files = smb
                        .iter()
                        .flat_map(|s| s.opens.iter())
                        .filter(|o| o.pid.is_some() && o.pid == tcon.pid)
                        .filter(|o| {
                            tcons_per_pid.get(&tcon.pid) == Some(&1)
                                || o.service_path
                                    .as_deref()
                                    .is_some_and(|p| p.rsplit('/').next() == Some(c.share))
                        })
                        .count();
                    let active = tcon.connected_at.map(|t| {
                        snap.taken_at
                            .as_second()
                            .saturating_sub(t.as_second())
                            .max(0)
                    });
                    (
                        files,
                        format!("{} on {} from {}", c.user, c.share, c.machine),
                        active,
                        tcon.tcon_id.parse().ok(),
                    )
                }
                Link::Nfs { open } => (
                    open,
                    format!("{} from {} (nfs)", c.share, c.machine),
                    None,
                    None,
                ),
            };
            put(&mut i, "ComputerName", string(c.machine.clone()), w);
            put(&mut i, "ShareName", string(c.share), w);
            put(&mut i, "UserName", string(c.user), w);
            put(&mut i, "Caption", string(caption), w);
            put(&mut i, "Name", string(c.share), w);
            put(&mut i, "Status", string("OK"), w);
            put(
                &mut i,
                "ActiveTime",
                active.map(|a| Value::Uint32(u32::try_from(a).unwrap_or(u32::MAX))),
                w,
            );
            put(&mut i, "ConnectionID", id.map(Value::Uint32), w);
            put(
                &mut i,
                "NumberOfFiles",
                Some(Value::Uint32(u32::try_from(files).unwrap_or(u32::MAX))),
                w,
            );
            put(&mut i, "NumberOfUsers", Some(Value::Uint32(1)), w);
            i
        })
        .collect()
}

/// A share as `Win32_Share` shows it.
struct ShareRow<'a> {
    name: &'a str,
    path: Option<&'a str>,
    comment: Option<&'a str>,
    /// `max connections`; 0 is unlimited.
    max: u32,
}

/// `Win32_Share`: Samba's file shares from its configuration (plus any share with a tree
/// connect that the configuration did not name) and the NFS exports. A viewer sees only the
/// Samba shares they are connected to.
pub fn shares(
    snap: &Snapshot,
    viewer: Option<&str>,
    class: &Arc<ClassDef>,
    w: &mut Vec<Warning>,
) -> Vec<Instance> {
    let connected: Vec<&str> = connections(snap, viewer)
        .into_iter()
        .filter(|c| matches!(c.link, Link::Smb(_)))
        .map(|c| c.share)
        .collect();
    let mut rows: Vec<ShareRow<'_>> = snap
        .smb_shares
        .iter()
        .filter(|s| viewer.is_none() || connected.iter().any(|c| c.eq_ignore_ascii_case(&s.name)))
        .map(|s| ShareRow {
            name: &s.name,
            path: s.path.as_deref(),
            comment: s.comment.as_deref(),
            max: s.max_connections,
        })
        .collect();
    // Shares in use that the configuration did not give (unreadable, or a registry share):
    // their directory when Samba reports open files under them.
    for name in connected {
        if rows.iter().any(|r| r.name.eq_ignore_ascii_case(name)) {
            continue;
        }
        let dir = snap
            .smb
            .status()
            .into_iter()
            .flat_map(|s| s.opens.iter())
            .filter_map(|o| o.service_path.as_deref())
            .find(|p| p.rsplit('/').next() == Some(name));
        rows.push(ShareRow {
            name,
            path: dir,
            comment: None,
            max: 0,
        });
    }
    if viewer.is_none() {
        rows.extend(snap.nfs_exports.iter().map(|e| ShareRow {
            name: &e.path,
            path: Some(&e.path),
            comment: None,
            max: 0,
        }));
    }
    rows.into_iter()
        .map(|r| {
            let mut i = Instance::new(class.clone());
            put(&mut i, "Name", string(r.name), w);
            put(&mut i, "Caption", string(r.comment.unwrap_or(r.name)), w);
            put(&mut i, "Description", r.comment.and_then(string), w);
            put(&mut i, "Path", r.path.and_then(string), w);
            // 0: disk drive.
            put(&mut i, "Type", Some(Value::Uint32(0)), w);
            put(&mut i, "AllowMaximum", Some(Value::Boolean(r.max == 0)), w);
            put(
                &mut i,
                "MaximumAllowed",
                (r.max > 0).then_some(Value::Uint32(r.max)),
                w,
            );
            put(&mut i, "Status", string("OK"), w);
            i
        })
        .collect()
}

/// `Win32_LoggedOnUser`: each logon session's account. Windows names the abstract
/// `Win32_Account` in this reference, which is unambiguous there (a user and a group cannot
/// share a name); on Linux every user usually has a group of its own name, so the
/// reference names `Win32_UserAccount`, the class of the instance it resolves to anyway.
pub fn logged_on_users(
    logons: &[LogonFacts],
    ctx: &Context<'_>,
    class: &Arc<ClassDef>,
    w: &mut Vec<Warning>,
) -> Vec<Instance> {
    logons
        .iter()
        .filter_map(|f| {
            let user = f.user.as_deref()?;
            let mut i = Instance::new(class.clone());
            put(
                &mut i,
                "Antecedent",
                Some(path(
                    ctx,
                    "Win32_UserAccount",
                    vec![("Domain", s(ctx.host)), ("Name", s(user))],
                )),
                w,
            );
            put(
                &mut i,
                "Dependent",
                Some(path(
                    ctx,
                    "Win32_LogonSession",
                    vec![("LogonId", s(&f.logon_id))],
                )),
                w,
            );
            Some(i)
        })
        .collect()
}

/// `Win32_SessionProcess`: each process in its logon session; the System session `"0"`
/// holds every process without an audit session.
pub fn session_processes(
    logons: &[LogonFacts],
    ctx: &Context<'_>,
    class: &Arc<ClassDef>,
    w: &mut Vec<Warning>,
) -> Vec<Instance> {
    let mut out = Vec::new();
    for f in logons {
        let session = path(ctx, "Win32_LogonSession", vec![("LogonId", s(&f.logon_id))]);
        for pid in &f.pids {
            let mut i = Instance::new(class.clone());
            put(&mut i, "Antecedent", Some(session.clone()), w);
            put(
                &mut i,
                "Dependent",
                Some(path(
                    ctx,
                    "Win32_Process",
                    vec![("Handle", s(&pid.to_string()))],
                )),
                w,
            );
            out.push(i);
        }
    }
    out
}

/// `Win32_SessionConnection`: each server session's tree connects and NFS exports in use
/// (joined on ComputerName and UserName; an NFS client's UserName is empty on both).
pub fn session_connections(
    snap: &Snapshot,
    viewer: Option<&str>,
    servers: &[ServerFacts],
    ctx: &Context<'_>,
    class: &Arc<ClassDef>,
    w: &mut Vec<Warning>,
) -> Vec<Instance> {
    let mut out = Vec::new();
    for c in connections(snap, viewer) {
        let Some(session) = servers.iter().find(|s| {
            s.computer_name.eq_ignore_ascii_case(&c.machine)
                && s.user_name.eq_ignore_ascii_case(c.user)
        }) else {
            continue;
        };
        let mut i = Instance::new(class.clone());
        let session_keys = vec![
            ("ComputerName", s(&session.computer_name)),
            ("UserName", s(&session.user_name)),
        ];
        put(
            &mut i,
            "Antecedent",
            Some(path(ctx, "Win32_ServerSession", session_keys)),
            w,
        );
        put(&mut i, "Dependent", Some(connection_path(ctx, &c)), w);
        out.push(i);
    }
    out
}

fn connection_path(ctx: &Context<'_>, c: &Connection<'_>) -> Value {
    path(
        ctx,
        "Win32_ServerConnection",
        vec![
            ("ComputerName", s(&c.machine)),
            ("ShareName", s(c.share)),
            ("UserName", s(c.user)),
        ],
    )
}

/// `Win32_ConnectionShare`: each tree connect's share, each NFS connection's export.
pub fn connection_shares(
    snap: &Snapshot,
    viewer: Option<&str>,
    ctx: &Context<'_>,
    class: &Arc<ClassDef>,
    w: &mut Vec<Warning>,
) -> Vec<Instance> {
    connections(snap, viewer)
        .iter()
        .map(|c| {
            let mut i = Instance::new(class.clone());
            put(
                &mut i,
                "Antecedent",
                Some(path(ctx, "Win32_Share", vec![("Name", s(c.share))])),
                w,
            );
            put(&mut i, "Dependent", Some(connection_path(ctx, c)), w);
            i
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn kernel_workers_keep_their_name() {
        for (comm, name) in [
            ("kworker/1:0-events", "kworker/1:0"),
            ("kworker/u8:0+flush-254:0", "kworker/u8:0"),
            ("kworker/0:1H", "kworker/0:1H"),
            ("kworker-x", "kworker-x"),
            ("sshd", "sshd"),
        ] {
            assert_eq!(super::kernel_worker_name(comm), name);
        }
    }
}
