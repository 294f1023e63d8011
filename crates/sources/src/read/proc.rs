//! Reading `/proc`: the pid list, one process's files, fd directories, TCP tables, and the
//! host facts (boot time, hostname, boot id, uptime).

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;

use crate::parse::net::{TcpEntry, parse_tcp_table};
use crate::parse::proc::{self as p, FdTarget, Ids, Stat};
use crate::parse::proc_counters::{MemoryStatus, parse_status_memory};
pub use crate::read::proc_counters::ProcessCounters;
use crate::{Collected, Root, Warning, WarningKind};

/// Everything read about one process.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    /// `/proc/<pid>/stat`.
    pub stat: Stat,
    /// Wall-clock start: boot time + `stat.starttime` ticks (`None` without a boot time).
    pub start_time: Option<Timestamp>,
    /// Whether `cmdline` and `loginuid` were read. [`crate::scan`] reads them only for
    /// session roots, sshd and smbd processes unless `ScanOptions::process_details`.
    pub details: bool,
    /// `/proc/<pid>/cmdline` split at NULs (empty for kernel threads, zombies, unreadable,
    /// or not read: see `details`).
    pub cmdline: Vec<String>,
    /// `Uid:` of `/proc/<pid>/status`, read only with `ScanOptions::process_details`.
    pub uid: Option<Ids>,
    /// `Gid:` of `/proc/<pid>/status`, read only with `ScanOptions::process_details`.
    pub gid: Option<Ids>,
    /// `/proc/<pid>/loginuid`, `None` when unset.
    pub loginuid: Option<u32>,
    /// `/proc/<pid>/sessionid` (the audit session), `None` when unset.
    pub sessionid: Option<u32>,
    /// `/proc/<pid>/exe`, read only with `ScanOptions::exe_links`, and then only for session
    /// leaders and sshd connections (a readlink per process is measurable at 30,000 processes).
    pub exe: Option<PathBuf>,
    /// Open file descriptors, read only when asked (see `ScanOptions::open_files`) and for
    /// the processes whose sockets are joined (sshd, smbd).
    pub fds: Option<FdSummary>,
    /// The memory lines of `status`, read with `uid` (all `None` for kernel threads).
    /// Boxed, as the counters: most processes have neither, and a large host keeps tens
    /// of thousands of processes.
    pub memory: Option<Box<MemoryStatus>>,
    /// `Win32_Process`'s counters (`io`, `limits`, the fd count), read only on demand by
    /// [`crate::read::proc_counters::read_counters`].
    pub counters: Option<Box<ProcessCounters>>,
}

impl Process {
    /// The pid.
    pub fn pid(&self) -> u32 {
        self.stat.pid
    }

    /// The parent pid.
    pub fn ppid(&self) -> u32 {
        self.stat.ppid
    }

    /// Whether the process has ended: a zombie, or on its way to being one (its memory is
    /// released before its exit is complete, which empties `cmdline` of a process that is
    /// not a kernel thread). It runs nothing any more, so it keeps no session alive, and
    /// its half-gone state (no title, no ids) must not stand for the session's.
    pub fn is_exiting(&self) -> bool {
        matches!(self.stat.state, 'Z' | 'X' | 'x')
            || (self.details && self.cmdline.is_empty() && self.sessionid.is_some())
    }

    /// The controlling terminal's name (`pts/0`), if any.
    pub fn tty(&self) -> Option<String> {
        p::tty_name(self.stat.tty_nr)
    }

    /// The title as `ps` shows it: the cmdline joined by spaces, or `[comm]` when empty.
    pub fn title(&self) -> String {
        if self.cmdline.is_empty() {
            return format!("[{}]", self.stat.comm);
        }
        self.cmdline.join(" ").trim_end().to_string()
    }

    /// Real uid (from `status`).
    pub fn uid(&self) -> Option<u32> {
        self.uid.map(|i| i.real)
    }
}

/// Counts of what a process's fds point at, plus its socket inodes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FdSummary {
    /// Regular files and directories.
    pub files: u32,
    /// Paths under `/dev` (terminals, `/dev/null` …).
    pub devices: u32,
    /// Pipes.
    pub pipes: u32,
    /// `anon_inode:` fds (eventfd, epoll, inotify …).
    pub anon: u32,
    /// Anything else (namespaces …).
    pub other: u32,
    /// Socket inodes, in fd order.
    pub sockets: Vec<u64>,
}

impl FdSummary {
    /// Files, devices and pipes: what design §4 counts as ResourcesOpened for SSH.
    pub fn resources(&self) -> u32 {
        self.files + self.devices + self.pipes
    }

    /// Adds another summary's counts (sockets included).
    pub fn add(&mut self, o: &FdSummary) {
        self.files += o.files;
        self.devices += o.devices;
        self.pipes += o.pipes;
        self.anon += o.anon;
        self.other += o.other;
        self.sockets.extend_from_slice(&o.sockets);
    }
}

/// The numeric entries of `/proc`, ascending.
pub fn list_pids(root: &Root) -> io::Result<Vec<u32>> {
    let mut pids: Vec<u32> = root
        .read_dir_names("proc")?
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// A process's title as `ps` shows it (its command line joined by spaces), read now; `None`
/// when it is gone, unreadable or a kernel thread (an empty command line).
pub fn read_title(root: &Root, pid: u32) -> Option<String> {
    let bytes = root.read(format!("proc/{pid}/cmdline")).ok()?;
    let title = p::parse_cmdline(&bytes).join(" ");
    let title = title.trim_end();
    (!title.is_empty()).then(|| title.to_owned())
}

/// Reads one process's `stat`, `sessionid`, its details (`cmdline`, `loginuid`) and `status`.
///
/// Returns `Err` only when `stat` cannot be read or parsed (the process is gone or unusable);
/// other files that are missing or bad leave their fields empty and add a warning. Missing
/// `loginuid`/`sessionid` files are silent: kernels without `CONFIG_AUDIT` have none.
/// `buf` is a scratch buffer reused across calls.
pub fn read_process(
    root: &Root,
    pid: u32,
    boot_time: Option<Timestamp>,
    buf: &mut Vec<u8>,
    warnings: &mut Vec<Warning>,
) -> Result<Process, Warning> {
    let mut p = read_process_core(root, pid, boot_time, buf, warnings)?;
    read_process_details(root, &mut p, buf, warnings);
    read_process_status(root, &mut p, buf, warnings);
    Ok(p)
}

/// Reads only `stat` and `sessionid`: what grouping by audit session needs.
///
/// Opening a `/proc` file costs microseconds, so the scan reads two files for every process
/// and the details ([`read_process_details`]) only for the processes that matter.
pub fn read_process_core(
    root: &Root,
    pid: u32,
    boot_time: Option<Timestamp>,
    buf: &mut Vec<u8>,
    warnings: &mut Vec<Warning>,
) -> Result<Process, Warning> {
    let stat_path = format!("proc/{pid}/stat");
    root.read_into(&stat_path, buf)
        .map_err(|e| Warning::io(&stat_path, &e))?;
    let stat = p::parse_stat(buf)
        .map_err(|e| Warning::new(WarningKind::Parse, &stat_path, e.to_string()))?;
    let start_time = boot_time.map(|b| p::start_time(b, stat.starttime));
    // A kernel thread has no audit session (on a typical host, half the pids): one file
    // less to read.
    let sessionid = match stat.is_kernel_thread() {
        true => None,
        false => read_audit_file(root, pid, "sessionid", buf, warnings),
    };
    Ok(Process {
        stat,
        start_time,
        details: false,
        cmdline: Vec::new(),
        uid: None,
        gid: None,
        loginuid: None,
        sessionid,
        exe: None,
        fds: None,
        memory: None,
        counters: None,
    })
}

/// Fills `cmdline` and `loginuid`, and sets `details`.
pub fn read_process_details(
    root: &Root,
    p: &mut Process,
    buf: &mut Vec<u8>,
    warnings: &mut Vec<Warning>,
) {
    let pid = p.pid();
    let path = |f: &str| format!("proc/{pid}/{f}");
    p.cmdline = match root.read_into(path("cmdline"), buf) {
        Ok(()) => p::parse_cmdline(buf),
        Err(e) => {
            warnings.push(Warning::io(path("cmdline"), &e));
            Vec::new()
        }
    };
    p.loginuid = read_audit_file(root, pid, "loginuid", buf, warnings);
    p.details = true;
}

/// Fills `uid`/`gid` and `memory` from `status`: `Win32_Process`'s, which no session class
/// needs, so a session scan reads no `status` file.
pub fn read_process_status(
    root: &Root,
    p: &mut Process,
    buf: &mut Vec<u8>,
    warnings: &mut Vec<Warning>,
) {
    let path = format!("proc/{}/status", p.pid());
    let status = match root.read_into(&path, buf) {
        Ok(()) => {
            p.memory = Some(Box::new(parse_status_memory(buf)));
            p::parse_status(buf)
        }
        Err(e) => {
            warnings.push(Warning::io(path, &e));
            p::Status::default()
        }
    };
    p.uid = status.uid;
    p.gid = status.gid;
}

fn read_audit_file(
    root: &Root,
    pid: u32,
    file: &str,
    buf: &mut Vec<u8>,
    warnings: &mut Vec<Warning>,
) -> Option<u32> {
    let path = format!("proc/{pid}/{file}");
    match root.read_into(&path, buf) {
        Ok(()) => p::parse_audit_id(buf)
            .map_err(|e| warnings.push(Warning::new(WarningKind::Parse, &path, e.to_string())))
            .ok()
            .flatten(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            warnings.push(Warning::io(path, &e));
            None
        }
    }
}

/// Reads `/proc/<pid>/exe`; `None` for kernel threads or when not allowed.
pub fn read_exe(root: &Root, pid: u32) -> Option<PathBuf> {
    root.read_link(format!("proc/{pid}/exe")).ok()
}

/// Reads and classifies `/proc/<pid>/fd/*`.
///
/// EACCES on the directory (another user's process, when not root) is a
/// [`WarningKind::PermissionDenied`] warning; an fd closed between listing and `readlink` is
/// skipped silently.
pub fn read_fds(root: &Root, pid: u32) -> Result<FdSummary, Warning> {
    let dir = format!("proc/{pid}/fd");
    let names = root
        .read_dir_names(&dir)
        .map_err(|e| Warning::io(&dir, &e))?;
    let mut fds: Vec<(u32, FdTarget)> = Vec::with_capacity(names.len());
    for name in names {
        let Ok(n) = name.parse::<u32>() else { continue };
        match root.read_link(format!("{dir}/{name}")) {
            Ok(target) => fds.push((n, p::classify_fd_link(&target))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Warning::io(format!("{dir}/{name}"), &e)),
        }
    }
    fds.sort_by_key(|(n, _)| *n);
    let mut s = FdSummary::default();
    for (_, t) in fds {
        match t {
            FdTarget::Socket(i) => s.sockets.push(i),
            FdTarget::Pipe(_) => s.pipes += 1,
            FdTarget::AnonInode(_) => s.anon += 1,
            FdTarget::Device(_) => s.devices += 1,
            FdTarget::File(_) => s.files += 1,
            FdTarget::Other(_) => s.other += 1,
        }
    }
    Ok(s)
}

/// TCP sockets by inode for one network namespace.
pub type TcpByInode = HashMap<u64, TcpEntry>;

/// A cache of TCP tables per network namespace, so 10,000 sshd processes in one namespace
/// cost one read of `tcp` and `tcp6`, not 10,000.
///
/// Each process's own `/proc/<pid>/net/tcp{,6}` is read (not `/proc/net`), so sessions in other
/// network namespaces (containers) resolve too; the namespace is identified by the
/// `/proc/<pid>/ns/net` link.
#[derive(Debug, Default)]
pub struct NetTables {
    by_ns: HashMap<String, Arc<TcpByInode>>,
}

impl NetTables {
    /// An empty cache.
    pub fn new() -> NetTables {
        NetTables::default()
    }

    /// Uses `table` for the network namespace whose `/proc/<pid>/ns/net` link reads `ns`
    /// (the scanner's own, answered by sock_diag), so its files are never read.
    pub fn insert_namespace(&mut self, ns: String, table: TcpByInode) {
        self.by_ns.insert(ns, Arc::new(table));
    }

    /// The TCP rows of `inodes` (a process's sockets), in the order given.
    ///
    /// Socket inodes are unique system-wide (one sockfs), so tables already loaded are tried
    /// first; only when an inode is not found is the pid's namespace looked up (one readlink)
    /// and, if new, its table read. Unix sockets are never found, which costs that readlink.
    pub fn rows_for(
        &mut self,
        root: &Root,
        pid: u32,
        inodes: &[u64],
        warnings: &mut Vec<Warning>,
    ) -> Vec<TcpEntry> {
        let find = |tables: &HashMap<String, Arc<TcpByInode>>, i: &u64| {
            tables.values().find_map(|t| t.get(i).cloned())
        };
        if inodes
            .iter()
            .all(|i| self.by_ns.values().any(|t| t.contains_key(i)))
        {
            return inodes.iter().filter_map(|i| find(&self.by_ns, i)).collect();
        }
        self.for_pid(root, pid, warnings);
        inodes.iter().filter_map(|i| find(&self.by_ns, i)).collect()
    }

    /// Reads the TCP table visible to `pid` again, from its files: for a socket newer than
    /// the table (sock_diag's dump starts with the scan, a connection may be accepted after).
    pub fn reload_for(&mut self, root: &Root, pid: u32, warnings: &mut Vec<Warning>) {
        if let Ok(ns) = root.read_link(format!("proc/{pid}/ns/net")) {
            self.by_ns.remove(ns.to_string_lossy().as_ref());
        }
        self.for_pid(root, pid, warnings);
    }

    /// The TCP table visible to `pid`.
    pub fn for_pid(
        &mut self,
        root: &Root,
        pid: u32,
        warnings: &mut Vec<Warning>,
    ) -> Arc<TcpByInode> {
        let ns = root
            .read_link(format!("proc/{pid}/ns/net"))
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_else(|_| format!("pid:{pid}"));
        if let Some(t) = self.by_ns.get(&ns) {
            return Arc::clone(t);
        }
        let table = Arc::new(read_tcp(root, &format!("proc/{pid}/net"), warnings));
        self.by_ns.insert(ns, Arc::clone(&table));
        table
    }
}

/// Reads `tcp` and `tcp6` under `dir` (`proc/<pid>/net`), falling back to `proc/net` when the
/// pid's own directory is gone (it vanished; the host table is the best remaining view).
fn read_tcp(root: &Root, dir: &str, warnings: &mut Vec<Warning>) -> TcpByInode {
    let mut out = TcpByInode::new();
    let mut found_any = false;
    for (file, v6) in [("tcp", false), ("tcp6", true)] {
        let mut path = format!("{dir}/{file}");
        let mut data = root.read(&path);
        if matches!(&data, Err(e) if e.kind() == io::ErrorKind::NotFound) {
            path = format!("proc/net/{file}");
            data = root.read(&path);
        }
        match data {
            Ok(bytes) => {
                found_any = true;
                let (rows, bad) = parse_tcp_table(&bytes, v6);
                if bad > 0 {
                    warnings.push(Warning::new(
                        WarningKind::Parse,
                        &path,
                        format!("{bad} malformed rows skipped"),
                    ));
                }
                for r in rows {
                    // TIME_WAIT rows have inode 0 and belong to no fd.
                    if r.inode != 0 {
                        out.insert(r.inode, r);
                    }
                }
            }
            // No IPv6 (or no IPv4) in this kernel: not a problem on its own.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => warnings.push(Warning::io(&path, &e)),
        }
    }
    if !found_any {
        warnings.push(Warning::new(WarningKind::Io, dir, "no tcp or tcp6 table"));
    }
    out
}

/// Boot time from `/proc/stat` `btime`.
pub fn read_boot_time(root: &Root) -> Collected<Option<Timestamp>> {
    match root.read("proc/stat") {
        Ok(b) => match p::parse_btime(&b)
            .ok()
            .and_then(|s| Timestamp::from_second(s).ok())
        {
            Some(t) => Collected::ok(Some(t)),
            None => Collected {
                items: None,
                warnings: vec![Warning::new(
                    WarningKind::Parse,
                    "proc/stat",
                    "no valid btime",
                )],
            },
        },
        Err(e) => Collected {
            items: None,
            warnings: vec![Warning::io("proc/stat", &e)],
        },
    }
}

/// A one-line file (`proc/sys/kernel/hostname`, `proc/sys/kernel/random/boot_id`), trimmed.
pub fn read_line_file(root: &Root, rel: &str) -> Collected<Option<String>> {
    match root.read(rel) {
        Ok(b) => Collected::ok(p::parse_line(&b)),
        Err(e) => Collected {
            items: None,
            warnings: vec![Warning::io(rel, &e)],
        },
    }
}

/// Seconds since boot from `/proc/uptime`.
pub fn read_uptime(root: &Root) -> Collected<Option<f64>> {
    match root
        .read("proc/uptime")
        .map_err(|e| Warning::io("proc/uptime", &e))
        .and_then(|b| {
            p::parse_uptime(&b)
                .map_err(|e| Warning::new(WarningKind::Parse, "proc/uptime", e.to_string()))
        }) {
        Ok(u) => Collected::ok(Some(u)),
        Err(w) => Collected {
            items: None,
            warnings: vec![w],
        },
    }
}

/// Whether `pid` still runs the process that started at `starttime_ticks`.
///
/// A pid is reused when its current holder started at a different time; callers that cached a
/// pid (a utmp record, a previous snapshot) use this before trusting it.
pub fn same_process(root: &Root, pid: u32, starttime_ticks: u64) -> bool {
    match root.read(format!("proc/{pid}/stat")) {
        Ok(b) => p::parse_stat(&b).is_ok_and(|s| s.starttime == starttime_ticks),
        Err(_) => false,
    }
}
