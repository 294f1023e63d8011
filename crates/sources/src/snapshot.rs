//! [`scan`]: every session fact of a host in one pass, as a [`Snapshot`].
//!
//! Cost model: `/proc` is listed once; each pid's `stat` and `sessionid` are read once
//! (kernel threads have no `sessionid`), and `cmdline` and `loginuid` only for session
//! roots, sshd and smbd (`status` too, for every process, only with
//! [`ScanOptions::process_details`]); fd directories are read only for sshd and smbd
//! processes (whose sockets are joined to TCP rows) unless [`ScanOptions::open_files`] asks
//! for all; TCP tables are read once per network namespace. `smbstatus` (about 25 ms) runs
//! only when an smbd process exists, unless told otherwise.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::command::CommandRunner;
use crate::memo;
use crate::parse::accounts::GroupEntry;
use crate::parse::logind::LogindSession;
use crate::parse::net::TcpEntry;
use crate::parse::sshd::SshdRole;
use crate::parse::utmp::{PidState, UtmpLayout, UtmpSessions, filter_live};
use crate::read::proc::{
    FdSummary, NetTables, Process, list_pids, read_boot_time, read_exe, read_fds, read_line_file,
    read_process_core, read_process_details, read_process_status, read_uptime,
};
use crate::read::{
    Account, NfsClient, SmbState, read_accounts, read_groups, read_logind_sessions,
    read_nfs_clients, read_nfs_exports, read_smb_shares, read_smbstatus, read_utmp, tty_atime,
};
use crate::{Collected, Root, Warning};

/// When to run `smbstatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmbStatusMode {
    /// Never (Samba sessions are not wanted).
    Never,
    /// Only when a process named `smbd` exists: saves ~30 ms and a failure on hosts without Samba.
    IfSmbdRunning,
    /// Always.
    Always,
}

/// Where logind's sessions come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LogindSource {
    /// The system bus on the real host (`DBUS_SYSTEM_BUS_ADDRESS`, else
    /// `unix:path=/run/dbus/system_bus_socket`) when `org.freedesktop.login1` has an owner,
    /// else the files; always the files under any other root.
    #[default]
    Auto,
    /// Only `/run/systemd/sessions/*`.
    Files,
    /// The bus at this address (whatever the root), falling back to the files.
    Bus(String),
}

/// What [`scan`] reads and how.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanOptions {
    /// Read every process's fd directory (for open-file counts per session). Costly: off by default.
    pub open_files: bool,
    /// The utmp record layout.
    pub utmp_layout: UtmpLayout,
    /// Candidate utmp paths, relative to the root; the first that exists is read.
    pub utmp_paths: Vec<PathBuf>,
    /// When to run `smbstatus`.
    pub smbstatus: SmbStatusMode,
    /// The `smbstatus` program (a bare name is looked up in `PATH`).
    pub smbstatus_program: PathBuf,
    /// How long `smbstatus` may run before it is killed.
    pub smbstatus_timeout: Duration,
    /// Slack when checking a utmp record's pid for reuse (btime has 1 s resolution).
    pub reuse_tolerance: SignedDuration,
    /// Read `cmdline`, `loginuid` and `status` of every process (`Win32_Process`). Off by
    /// default: then `cmdline` and `loginuid` are read only for audit session roots,
    /// sshd-family and smbd processes, which is all that sessions need, and `status` for none.
    pub process_details: bool,
    /// Read `/etc/passwd`, `/etc/shadow` and `/etc/group`.
    pub accounts: bool,
    /// Read the fd directories of every process in an audit session (for the open-file counts
    /// of logon and SSH sessions) without reading those of daemons.
    pub session_open_files: bool,
    /// sshd logs to search for the authentication method of each connection (relative to the
    /// root; absolute paths are taken under the root too). Only the last 1 MiB is read.
    pub sshd_logs: Vec<PathBuf>,
    /// Read the `exe` link of session leaders and sshd connection processes (one readlink
    /// each; `read::proc::read_exe` reads one on demand).
    pub exe_links: bool,
    /// Where logind's sessions come from.
    pub logind: LogindSource,
    /// The most a D-Bus exchange with logind may take, connecting included.
    pub bus_timeout: Duration,
    /// On the real host, ask the kernel for TCP sockets over sock_diag netlink (one dump, with
    /// last-receive times) instead of reading `/proc/net/tcp{,6}` for the scanner's own network
    /// namespace. Other namespaces and other roots always use the files.
    pub sock_diag: bool,
    /// On the real host, look up uids missing from `/etc/passwd` through NSS (`getpwuid_r`:
    /// LDAP, SSSD, systemd-homed users).
    pub nss: bool,
    /// Read the access times of the sessions' terminals (a `stat` each: idle times of
    /// server sessions and the overview; logon sessions have none).
    pub terminal_idle: bool,
    /// Join sshd's (and smbd's) processes to their TCP connections — their fd directories,
    /// the TCP table or sock_diag dump — and read sshd's logs for the authentication
    /// methods. Off, SSH connections have no addresses and no method: for queries that show
    /// neither (`SELECT LogonId, LogonType`).
    pub connections: bool,
}

impl Default for ScanOptions {
    fn default() -> ScanOptions {
        ScanOptions {
            open_files: false,
            utmp_layout: UtmpLayout::native(),
            utmp_paths: vec!["run/utmp".into(), "var/run/utmp".into()],
            smbstatus: SmbStatusMode::IfSmbdRunning,
            smbstatus_program: "smbstatus".into(),
            smbstatus_timeout: Duration::from_secs(5),
            reuse_tolerance: SignedDuration::from_secs(2),
            process_details: false,
            accounts: true,
            exe_links: false,
            session_open_files: false,
            sshd_logs: vec!["var/log/auth.log".into(), "var/log/secure".into()],
            logind: LogindSource::Auto,
            bus_timeout: Duration::from_secs(1),
            sock_diag: true,
            nss: true,
            terminal_idle: true,
            connections: true,
        }
    }
}

/// One kernel audit session: the processes sharing a `/proc/<pid>/sessionid`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSession {
    /// The audit session id (== logind `Audit`, and logind `Id` in decimal).
    pub id: u32,
    /// The login uid of the session root (or of the first member when there is no root).
    pub loginuid: Option<u32>,
    /// Every member pid, ascending.
    pub pids: Vec<u32>,
    /// Members whose parent is not in the session: the processes pam_loginuid ran in (sshd
    /// `[priv]`, `login`, `cron`), or orphans reparented to init after their root exited.
    pub roots: Vec<u32>,
    /// The earliest-started root: the session leader.
    pub leader: Option<u32>,
    /// The leader's start time: the session start.
    pub start_time: Option<Timestamp>,
    /// Distinct controlling terminals of the members, sorted.
    pub ttys: Vec<String>,
    /// Summed fd counts of the members, when fds were read for all of them.
    pub open_files: Option<FdSummary>,
}

/// Where an SSH connection's session is, from its processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshPhase {
    /// The monitor's child has authenticated but not started a session: it is titled
    /// `sshd: USER` until the client asks for a shell, a command or a pty (then
    /// `USER@pts/N` or `USER@notty`), so whether the login gets a terminal is not known yet.
    /// Connections that never open a session (`ssh -N`) stay here.
    Pending,
    /// The user child runs the session.
    Running,
    /// A monitor without a child: the session's processes have ended and sshd is closing
    /// the connection (or, for a few milliseconds at login, has not forked the child yet).
    Ending,
}

/// One SSH connection: an sshd monitor (`USER [priv]`) or a user child without one.
#[derive(Debug, Clone, PartialEq)]
pub struct SshConnection {
    /// The monitor's pid (`ut_pid`, logind Leader); the child's own pid when there is no monitor.
    pub pid: u32,
    /// The user child (`USER@pts/N`, `USER@notty`), when it exists yet.
    pub child_pid: Option<u32>,
    /// The program family from the title: `sshd`, `sshd-session`.
    pub program: String,
    /// The login user from the title.
    pub user: String,
    /// The user child's ttys (`pts/0`); empty for `notty` or before the child exists.
    pub ttys: Vec<String>,
    /// Whether the session has a pty.
    pub has_pty: bool,
    /// Where the connection's session is.
    pub phase: SshPhase,
    /// The audit session of the monitor (or child).
    pub sessionid: Option<u32>,
    /// The login uid.
    pub loginuid: Option<u32>,
    /// When the monitor started: the connection's start as far as `/proc` knows.
    pub start_time: Option<Timestamp>,
    /// The socket inode joined to the TCP table.
    pub socket_inode: Option<u64>,
    /// Local address of the connection.
    pub local: Option<SocketAddr>,
    /// Peer address of the connection; IPv4-mapped peers are IPv4.
    pub peer: Option<SocketAddr>,
    /// Time since data was last received (`tcpi_last_data_recv`), for idle time without a pty.
    ///
    /// From sock_diag on the real host (sockets in the scanner's network namespace), from
    /// `sock_diag.txt` in a fixture root; else `None`.
    pub last_receive: Option<Duration>,
}

/// Everything one scan found.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The `now` the scan was given.
    pub taken_at: Timestamp,
    /// `/proc/sys/kernel/hostname`.
    pub hostname: Option<String>,
    /// `/proc/sys/kernel/random/boot_id`: with an audit session id, a cross-boot unique key.
    pub boot_id: Option<String>,
    /// `/proc/stat` btime.
    pub boot_time: Option<Timestamp>,
    /// `/proc/uptime`, seconds.
    pub uptime_seconds: Option<f64>,
    /// Every process read, ascending by pid.
    pub processes: Vec<Process>,
    /// Audit sessions, ascending by id. Processes without one form the "system" session.
    pub audit_sessions: Vec<AuditSession>,
    /// SSH connections, ascending by pid.
    pub ssh: Vec<SshConnection>,
    /// Successful sshd authentications found in its logs, oldest first.
    pub ssh_auth: Vec<crate::parse::sshd::SshAuth>,
    /// TCP rows owned by each process whose fds were read (sshd, smbd, or all with `open_files`).
    pub tcp_by_pid: BTreeMap<u32, Vec<TcpEntry>>,
    /// Time since data was last received on each TCP socket that has the figure, by inode
    /// (sock_diag `tcpi_last_data_recv`).
    pub tcp_last_receive: BTreeMap<u64, Duration>,
    /// utmp: live records and dropped ones with reasons; `None` when no utmp file exists.
    pub utmp: Option<UtmpSessions>,
    /// logind's sessions, from D-Bus or its files; `None` when neither exists.
    pub logind: Option<Vec<LogindSession>>,
    /// Whether `logind` came from D-Bus (else from `/run/systemd/sessions`).
    pub logind_from_bus: bool,
    /// Samba.
    pub smb: SmbState,
    /// NFSv4 clients; `None` when the kernel server is absent.
    pub nfs: Option<Vec<NfsClient>>,
    /// Samba's file shares from its configuration (the `smb_conf` smbstatus names, else
    /// `etc/samba/smb.conf`); empty when Samba is not running (or not asked about).
    pub smb_shares: Vec<crate::parse::smbconf::SmbShareConf>,
    /// The kernel NFS server's exports (`/proc/fs/nfs/exports`).
    pub nfs_exports: Vec<crate::parse::nfs::NfsExport>,
    /// Accounts: `/etc/passwd`, plus NSS entries for session uids missing there (real host only).
    pub accounts: Vec<Account>,
    /// Groups: `/etc/group`. NSS's entries for the session users' groups and the accounts'
    /// primary groups missing there are added by [`crate::read::groups::with_nss`].
    pub groups: Vec<GroupEntry>,
    /// The operating system's name and kernel release.
    pub os: crate::read::proc_counters::OsInfo,
    /// Access times of the terminals that sessions use (`pts/0` → atime), for idle time.
    pub tty_atimes: BTreeMap<String, Timestamp>,
    /// What tells the origin of sessions whose opener (sshd, cron) is gone, and linmgmt's
    /// own record of this boot's sessions.
    pub clues: crate::identity::SessionClues,
}

impl Snapshot {
    /// The users of the sessions: their login uids (audit, sshd) and logind's.
    pub fn session_uids(&self) -> BTreeSet<u32> {
        session_uids(&self.audit_sessions, &self.ssh, self.logind.as_deref())
    }

    /// The process with this pid.
    pub fn process(&self, pid: u32) -> Option<&Process> {
        self.processes
            .binary_search_by_key(&pid, Process::pid)
            .ok()
            .map(|i| &self.processes[i])
    }

    /// The audit session with this id.
    pub fn audit_session(&self, id: u32) -> Option<&AuditSession> {
        self.audit_sessions
            .binary_search_by_key(&id, |s| s.id)
            .ok()
            .map(|i| &self.audit_sessions[i])
    }

    /// Time since data was last received on the TCP socket with this inode.
    pub fn last_receive(&self, inode: u64) -> Option<Duration> {
        self.tcp_last_receive.get(&inode).copied()
    }

    /// The account with this uid (local, or found through NSS on the real host).
    pub fn account_by_uid(&self, uid: u32) -> Option<&Account> {
        self.accounts.iter().find(|a| a.passwd.uid == uid)
    }

    /// The local account with this name.
    pub fn account_by_name(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.passwd.name == name)
    }

    /// How long a terminal has been idle at `taken_at`, from its atime.
    pub fn tty_idle(&self, tty: &str) -> Option<SignedDuration> {
        self.tty_atimes
            .get(tty)
            .map(|a| self.taken_at.duration_since(*a).max(SignedDuration::ZERO))
    }
}

/// Scans `root` once and gathers every session source.
///
/// Never fails: whatever could not be read is a warning next to what could.
pub fn scan(
    root: &Root,
    opts: &ScanOptions,
    runner: &dyn CommandRunner,
    now: Timestamp,
) -> Collected<Snapshot> {
    scan_with(root, opts, runner, now, Known::default())
}

/// What the caller of [`scan_with`] already knows, so that it is not read again.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The processes: the live model's table, kept current from the kernel's process
    /// events, instead of listing and reading `/proc`.
    pub processes: Option<Vec<Process>>,
    /// What the live model remembers (see [`crate::memo`]): files, each read again only
    /// when it changed; the file servers' answers (Samba, NFS), asked again after a while
    /// or when their server processes changed; logind's over D-Bus, asked again when a
    /// session came or went. The last two only with `processes`, which tell which server
    /// processes and audit sessions there are.
    pub memos: Option<std::sync::Arc<memo::Memos>>,
}

/// [`scan`], without reading again what is [`Known`].
pub fn scan_with(
    root: &Root,
    opts: &ScanOptions,
    runner: &dyn CommandRunner,
    now: Timestamp,
    known: Known,
) -> Collected<Snapshot> {
    let Known { processes, memos } = known;
    let memos = memos.as_deref();
    // The server processes running, when the processes are known before they are read:
    // the file servers' answers kept for them are still good.
    let servers_named = |name: &str| -> Option<BTreeSet<u32>> {
        let named = processes.as_deref()?.iter().filter(|p| p.stat.comm == name);
        Some(named.map(Process::pid).collect())
    };
    let (smbd, nfsd) = (servers_named("smbd"), servers_named("nfsd"));
    // sshd's roles, once, when the processes are known up front (whether any socket is to
    // be joined depends on them).
    let known_roles = processes.as_deref().map(crate::joins::sshd_roles);
    // The audit sessions, when logind's answer over D-Bus may be kept for them.
    let audits: Option<BTreeSet<u32>> = (processes.as_deref())
        .filter(|_| memos.is_some_and(|m| m.logind.token().is_some()))
        .map(|ps| ps.iter().filter_map(|p| p.sessionid).collect());
    let samba = memos
        .zip(smbd.as_ref())
        .and_then(|(m, smbd)| m.samba.fresh(smbd));
    let mut w: Vec<Warning> = Vec::new();
    let boot_time = read_boot_time(root).into_items(&mut w);
    let hostname = read_line_file(root, "proc/sys/kernel/hostname").into_items(&mut w);
    let boot_id = read_line_file(root, "proc/sys/kernel/random/boot_id").into_items(&mut w);
    let uptime_seconds = read_uptime(root).into_items(&mut w);
    // Every time derived from `/proc` is boot time + ticks, so the boot time must be the
    // same in every scan and every process: the kernel's `btime`, never `now - uptime`
    // (which moves with the moment it is read; see docs/mapping.md, "Stable values").

    // smbstatus takes ~30 ms, mostly loading Samba's configuration and libraries: run it
    // while /proc is read, and drop its answer if no smbd turns out to be running.
    // logind over D-Bus (up to a round trip per session) and, on the real host, the
    // sock_diag dump (~2 ms in the kernel, walking its socket hash) also run beside it; the
    // dump is used only if some process's sockets are to be joined.
    let (mut processes, samba_wanted, smb, (logind, logind_from_bus, logind_warnings), mut diag) =
        std::thread::scope(|scope| {
            let smb_job = (opts.smbstatus != SmbStatusMode::Never && samba.is_none()).then(|| {
                scope.spawn(|| {
                    read_smbstatus(runner, &opts.smbstatus_program, opts.smbstatus_timeout)
                })
            });
            // The dump (the kernel walks its whole socket hash: 1–2 ms) only when some
            // socket will be joined; known up front when the processes are.
            let joins_sockets = opts.connections
                && known_roles
                    .as_ref()
                    .zip(processes.as_deref())
                    .is_none_or(|(roles, processes)| has_connections(processes, roles));
            let diag_job = (root.is_host() && opts.sock_diag && joins_sockets)
                .then(|| scope.spawn(crate::read::sock_diag::dump_tcp_collected));
            let logind_job = scope.spawn(|| {
                let mut w = Vec::new();
                let (sessions, from_bus) = read_logind(root, opts, memos, audits, &mut w);
                (sessions, from_bus, w)
            });
            let processes = match processes {
                Some(known) => known,
                None => read_processes(root, boot_time, opts.process_details, &mut w),
            };
            let smbd_running = processes.iter().any(|p| p.stat.comm == "smbd");
            let wanted = match opts.smbstatus {
                SmbStatusMode::Always => true,
                SmbStatusMode::IfSmbdRunning => smbd_running,
                SmbStatusMode::Never => false,
            };
            let answer =
                smb_job.map(|job| job.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            let smb = match (samba, answer) {
                (Some(known), _) if wanted => known,
                (None, Some(answer)) if wanted => {
                    let state = answer.into_items(&mut w);
                    if let (Some(m), Some(smbd)) = (memos, &smbd) {
                        m.samba.keep(smbd.clone(), state.clone());
                    }
                    state
                }
                _ => SmbState::NotRun,
            };
            let logind = logind_job
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            let diag = diag_job.map(|j| j.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            (processes, wanted, smb, logind, diag)
        });
    w.extend(logind_warnings);

    // Samba before fds: its pids decide which smbd fds to read.
    let smb_pids: BTreeSet<u32> = smb
        .status()
        .map(|s| s.sessions.iter().filter_map(|x| x.pid).collect())
        .unwrap_or_default();

    let roles = known_roles.unwrap_or_else(|| crate::joins::sshd_roles(&processes));

    // Fds: sshd monitors (or user children without one) and smbd children always, every
    // process when asked. A monitor and its child hold the same socket, so the child's fds are
    // read only when the monitor's gave no TCP row (for example EACCES on the monitor).
    let mut net = NetTables::new();
    let mut tcp_by_pid: BTreeMap<u32, Vec<TcpEntry>> = BTreeMap::new();
    // Last-receive times: the real host asks the kernel (once, on the first socket to join);
    // a fixture root may give them in a file.
    let mut tcp_last_receive: BTreeMap<u64, Duration> = if root.is_host() {
        BTreeMap::new()
    } else {
        crate::read::sock_diag::read_fixture_last_receive(root).into_items(&mut w)
    };
    let ppid_of: HashMap<u32, u32> = processes.iter().map(|p| (p.pid(), p.ppid())).collect();
    let is_monitor = |pid: &u32| matches!(roles.get(pid), Some((SshdRole::Monitor { .. }, _)));
    let is_child = |pid: &u32| matches!(roles.get(pid), Some((SshdRole::UserChild { .. }, _)));
    let monitored_child = |pid: &u32| is_child(pid) && ppid_of.get(pid).is_some_and(is_monitor);
    // Whose sockets are joined to TCP rows: sshd's connections, Samba's clients.
    let joined = |pid: &u32| {
        smb_pids.contains(pid)
            || (opts.connections && is_monitor(pid))
            || (opts.connections && is_child(pid) && !monitored_child(pid))
    };
    let in_session =
        |p: &Process| opts.session_open_files && p.sessionid.is_some() && p.stat.state != 'Z';
    // Their fds (and, when asked, everyone's), read up front: on a jump host that is a
    // directory and a readlink per fd for thousands of connections, so in parallel.
    let mut fds_to_read: Vec<&mut Process> = (processes.iter_mut())
        .filter(|p| p.fds.is_none() && (opts.open_files || in_session(p) || joined(&p.pid())))
        .collect();
    let threads = scan_threads().filter(|_| fds_to_read.len() >= FDS_PARALLEL_THRESHOLD);
    let fd_warnings = in_chunks_mut(&mut fds_to_read, threads, |procs| {
        let mut warnings = Vec::new();
        for p in procs.iter_mut() {
            read_fds_into(root, p, &mut warnings);
        }
        warnings
    });
    w.extend(fd_warnings.into_iter().flatten());
    let mut reloaded = false;
    let mut join =
        |p: &Process, w: &mut Vec<Warning>, tcp_by_pid: &mut BTreeMap<u32, Vec<TcpEntry>>| {
            let pid = p.pid();
            let Some(fds) = p.fds.as_ref().filter(|f| !f.sockets.is_empty()) else {
                return;
            };
            if let Some(dump) = diag.take() {
                let sockets = dump.into_items(w);
                own_namespace_by_sock_diag(root, sockets, &mut net, &mut tcp_last_receive);
            }
            let mut rows = net.rows_for(root, pid, &fds.sockets, w);
            // sshd and smbd always hold a TCP socket: none found means a connection newer
            // than the table (once per scan, so a host full of them costs one more read).
            if rows.is_empty() && !reloaded {
                reloaded = true;
                net.reload_for(root, pid, w);
                rows = net.rows_for(root, pid, &fds.sockets, w);
            }
            if !rows.is_empty() {
                tcp_by_pid.insert(pid, rows);
            }
        };
    for p in processes.iter().filter(|p| joined(&p.pid())) {
        join(p, &mut w, &mut tcp_by_pid);
    }
    for p in processes.iter_mut() {
        let pid = p.pid();
        if opts.connections && monitored_child(&pid) && !tcp_by_pid.contains_key(&p.ppid()) {
            if p.fds.is_none() {
                read_fds_into(root, p, &mut w);
            }
            join(p, &mut w, &mut tcp_by_pid);
        }
    }

    let index: HashMap<u32, usize> = processes
        .iter()
        .enumerate()
        .map(|(i, p)| (p.pid(), i))
        .collect();
    let mut ssh = crate::joins::ssh_connections(&processes, &index, &roles, &tcp_by_pid);
    for c in &mut ssh {
        c.last_receive = c
            .socket_inode
            .and_then(|i| tcp_last_receive.get(&i).copied());
    }
    let audit_sessions = crate::joins::audit_sessions(
        &processes,
        &index,
        opts.open_files || opts.session_open_files,
    );

    // exe links, when asked, only where they tell something: session leaders and sshd
    // connections. No session class shows them (Win32_Process reads every process's link
    // itself), so by default none is read: a readlink per session on a large host.
    if opts.exe_links {
        let exe_pids: BTreeSet<u32> = (audit_sessions.iter())
            .filter_map(|s| s.leader)
            .chain(ssh.iter().map(|c| c.pid))
            .collect();
        for pid in exe_pids {
            if let Some(&i) = index.get(&pid) {
                processes[i].exe = read_exe(root, pid);
            }
        }
    }

    let clues = crate::identity::gather(
        root,
        boot_id.as_deref(),
        opts.utmp_layout,
        &processes,
        &audit_sessions,
        &ssh,
        &mut w,
    );
    let utmp = read_utmp_sessions(root, opts, memos, &processes, &index, &mut w);
    // The method of each connection, and of logins whose sshd is gone (by the client port
    // their environment names).
    let ssh_auth = if !opts.connections || (ssh.is_empty() && clues.ssh_env.is_empty()) {
        Vec::new()
    } else {
        let read = || crate::read::read_sshd_logs(root, &opts.sshd_logs);
        memo::through(memos.map(|m| &m.sshd_logs), root, &opts.sshd_logs, read).into_items(&mut w)
    };
    let read_nfs = || (read_nfs_clients(root), read_nfs_exports(root));
    let (nfs, nfs_exports) = match (memos, nfsd) {
        (Some(m), Some(nfsd)) => m.nfs.get(nfsd, read_nfs),
        _ => read_nfs(),
    };
    let (nfs, nfs_exports) = (nfs.into_items(&mut w), nfs_exports.into_items(&mut w));
    // The shares Samba serves: only while it runs (or when told to ask it regardless).
    let smb_shares = if samba_wanted {
        let conf = (smb.status())
            .and_then(|s| s.smb_conf.clone())
            .unwrap_or_else(|| "etc/samba/smb.conf".to_owned());
        read_smb_shares(root, &conf).into_items(&mut w)
    } else {
        Vec::new()
    };
    let (mut accounts, groups) = if opts.accounts {
        let read = || (read_accounts(root), read_groups(root));
        let paths = ACCOUNT_FILES.map(PathBuf::from);
        let (accounts, groups) = memo::through(memos.map(|m| &m.accounts), root, &paths, read);
        (accounts.into_items(&mut w), groups.into_items(&mut w))
    } else {
        (Vec::new(), Vec::new())
    };
    // The session users' names, when `/etc/passwd` lacks them. (Their groups in NSS are
    // asked only for the classes that show groups: `read::groups::with_nss`.)
    if opts.accounts && opts.nss && root.is_host() {
        let uids = session_uids(&audit_sessions, &ssh, logind.as_deref());
        let known: BTreeSet<u32> = accounts.iter().map(|a| a.passwd.uid).collect();
        for uid in uids.difference(&known) {
            accounts.extend(crate::read::nss_account(*uid));
        }
    }

    // Terminals' access times, for idle times: only where they are shown.
    let mut ttys: BTreeSet<String> = BTreeSet::new();
    if opts.terminal_idle {
        ttys.extend(audit_sessions.iter().flat_map(|s| s.ttys.iter().cloned()));
        ttys.extend(ssh.iter().flat_map(|c| c.ttys.iter().cloned()));
        if let Some(u) = &utmp {
            ttys.extend(u.live.iter().map(|r| r.line.to_string_lossy().into_owned()));
        }
        if let Some(l) = &logind {
            ttys.extend(l.iter().filter_map(|s| s.tty.clone()));
        }
    }
    let tty_atimes = ttys
        .into_iter()
        .filter_map(|t| tty_atime(root, &t).ok().map(|a| (t, a)))
        .collect();

    Collected {
        items: Snapshot {
            taken_at: now,
            hostname,
            boot_id,
            boot_time,
            uptime_seconds,
            processes,
            audit_sessions,
            ssh,
            ssh_auth,
            tcp_by_pid,
            tcp_last_receive,
            utmp,
            logind,
            logind_from_bus,
            smb,
            nfs,
            smb_shares,
            nfs_exports,
            accounts,
            groups,
            os: crate::read::proc_counters::read_os_info(root),
            tty_atimes,
            clues,
        },
        warnings: w,
    }
}

/// Reads `p`'s fd directory into `p.fds`, or says why it could not.
fn read_fds_into(root: &Root, p: &mut Process, warnings: &mut Vec<Warning>) {
    match read_fds(root, p.pid()) {
        Ok(fds) => p.fds = Some(fds),
        Err(warning) => warnings.push(warning),
    }
}

/// The users of the sessions: their login uids (audit, sshd) and logind's.
fn session_uids(
    audit_sessions: &[AuditSession],
    ssh: &[SshConnection],
    logind: Option<&[LogindSession]>,
) -> BTreeSet<u32> {
    (audit_sessions.iter().filter_map(|s| s.loginuid))
        .chain(ssh.iter().filter_map(|c| c.loginuid))
        .chain(logind.into_iter().flatten().filter_map(|l| l.uid))
        .filter(|&u| u != crate::AUDIT_UNSET)
        .collect()
}

/// logind's sessions: over D-Bus when [`ScanOptions::logind`] says so and the bus has logind,
/// else from the files. No bus, or no logind on it, falls back silently; a bus that fails
/// (timeout, error reply) falls back with a warning.
fn read_logind(
    root: &Root,
    opts: &ScanOptions,
    memos: Option<&memo::Memos>,
    audits: Option<BTreeSet<u32>>,
    w: &mut Vec<Warning>,
) -> (Option<Vec<LogindSession>>, bool) {
    use crate::read::logind_bus::{BusError, read_logind_bus, system_bus_address};
    let address = match &opts.logind {
        LogindSource::Files => None,
        LogindSource::Bus(a) => Some(a.clone()),
        LogindSource::Auto if root.is_host() => Some(system_bus_address()),
        LogindSource::Auto => None,
    };
    if let Some(address) = address {
        // Kept while no session came or went: the signals counted before asking.
        let kept = memos.zip(audits).and_then(|(m, audits)| {
            let token = m.logind.token()?;
            Some((&m.logind, token, audits))
        });
        if let Some((memo, token, audits)) = &kept
            && let Some(sessions) = memo.fresh(*token, audits)
        {
            return (Some(sessions), true);
        }
        match read_logind_bus(&address, opts.bus_timeout) {
            Ok(Some(sessions)) => {
                if let Some((memo, token, audits)) = kept {
                    memo.keep(token, audits, sessions.clone());
                }
                return (Some(sessions), true);
            }
            Ok(None) | Err(BusError::NoBus(_)) => {}
            Err(e) => w.push(Warning::general(
                crate::WarningKind::Io,
                format!("logind over D-Bus ({address}): {e}; reading /run/systemd/sessions"),
            )),
        }
    }
    let Some(memo) = memos.map(|m| &m.logind_files) else {
        return (read_logind_sessions(root).into_items(w), false);
    };
    // The directory and each file in it: logind replaces a file to change it, which moves
    // the directory's change time; a file written in place moves its own.
    const DIR: &str = "run/systemd/sessions";
    let mut paths = vec![PathBuf::from(DIR)];
    if let Ok(mut names) = root.read_dir_names(DIR) {
        names.sort();
        paths.extend(
            names
                .into_iter()
                .map(|n| PathBuf::from(format!("{DIR}/{n}"))),
        );
    }
    let sessions = memo.get(root, &paths, || read_logind_sessions(root));
    (sessions.into_items(w), false)
}

/// Loads the scanner's own network namespace's TCP table from sock_diag into `net` (so its
/// `/proc/<pid>/net/tcp*` files are never read) with the last-receive times; on failure the
/// files serve as before.
fn own_namespace_by_sock_diag(
    root: &Root,
    sockets: Option<Vec<crate::parse::sock_diag::DiagSocket>>,
    net: &mut NetTables,
    last_receive: &mut BTreeMap<u64, Duration>,
) {
    let Ok(ns) = root.read_link("proc/self/ns/net") else {
        return;
    };
    let Some(sockets) = sockets else {
        return;
    };
    let mut table = crate::read::proc::TcpByInode::with_capacity(sockets.len());
    for s in sockets {
        if let Some(d) = s.last_receive {
            last_receive.insert(s.entry.inode, d);
        }
        table.insert(s.entry.inode, s.entry);
    }
    net.insert_namespace(ns.to_string_lossy().into_owned(), table);
}

/// Lists `/proc` and reads every pid (core files), then the details of the processes that
/// matter; vanished pids become warnings.
///
/// Large hosts are read on up to 4 threads, each taking a contiguous pid range, so the result
/// and the warning order stay deterministic. The work is syscall-bound, so threads help;
/// small hosts stay on one thread (spawning costs more than it saves).
pub(crate) fn read_processes(
    root: &Root,
    boot_time: Option<Timestamp>,
    all_details: bool,
    w: &mut Vec<Warning>,
) -> Vec<Process> {
    let mut pids = match list_pids(root) {
        Ok(p) => p,
        Err(e) => {
            w.push(Warning::io("proc", &e));
            return Vec::new();
        }
    };
    let threads = scan_threads().filter(|_| pids.len() >= PARALLEL_THRESHOLD);
    let core = |pids: &mut [u32]| {
        let mut buf = Vec::with_capacity(4096);
        let mut out = Vec::with_capacity(pids.len());
        let mut warnings = Vec::new();
        for &mut pid in pids {
            match read_process_core(root, pid, boot_time, &mut buf, &mut warnings) {
                Ok(p) => out.push(p),
                Err(warning) => warnings.push(warning),
            }
        }
        (out, warnings)
    };
    let mut processes = Vec::with_capacity(pids.len());
    for (procs, warnings) in in_chunks_mut(&mut pids, threads, core) {
        processes.extend(procs);
        w.extend(warnings);
    }

    let ses_of: HashMap<u32, Option<u32>> =
        processes.iter().map(|p| (p.pid(), p.sessionid)).collect();
    let wants =
        |p: &Process| all_details || details_wanted(p, ses_of.get(&p.ppid()).copied().flatten());
    let details = |procs: &mut [Process]| {
        let mut buf = Vec::with_capacity(4096);
        let mut warnings = Vec::new();
        for p in procs.iter_mut().filter(|p| wants(p)) {
            read_process_details(root, p, &mut buf, &mut warnings);
            if all_details {
                read_process_status(root, p, &mut buf, &mut warnings);
            }
        }
        warnings
    };
    let warnings = in_chunks_mut(&mut processes, threads, details);
    w.extend(warnings.into_iter().flatten());
    processes
}

/// Whether some of `processes` hold connections whose sockets a scan joins to TCP rows:
/// sshd's per-connection processes, or smbd's.
fn has_connections(processes: &[Process], roles: &HashMap<u32, (SshdRole, String)>) -> bool {
    processes.iter().any(|p| p.stat.comm == "smbd")
        || (roles.values())
            .any(|(role, _)| matches!(role, SshdRole::Monitor { .. } | SshdRole::UserChild { .. }))
}

/// Whether sessions need `p`'s details (`cmdline`, `status`, `loginuid`): sshd and smbd
/// processes, and the roots of audit sessions (whose parent, in `parent_session`, is in
/// another one).
pub(crate) fn details_wanted(p: &Process, parent_session: Option<u32>) -> bool {
    p.stat.comm.starts_with("sshd")
        || p.stat.comm == "smbd"
        || (p.sessionid.is_some() && parent_session != p.sessionid)
}

/// Runs `f` over contiguous chunks of `items`, on `threads` scoped threads when given, and
/// returns the results in chunk order (so output and warnings stay deterministic).
fn in_chunks_mut<T: Send, R: Send>(
    items: &mut [T],
    threads: Option<usize>,
    f: impl Fn(&mut [T]) -> R + Sync,
) -> Vec<R> {
    match threads {
        None => vec![f(items)],
        Some(n) => {
            let chunk = items.len().div_ceil(n).max(1);
            std::thread::scope(|s| {
                let f = &f;
                let handles: Vec<_> = (items.chunks_mut(chunk))
                    .map(|c| s.spawn(move || f(c)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect()
            })
        }
    }
}

/// How many threads read a large host: up to 4, `None` on one core.
fn scan_threads() -> Option<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores > 1).then_some(cores.min(4))
}

/// Below this many pids one thread is faster than several.
const PARALLEL_THRESHOLD: usize = 1024;

/// Below this many fd directories one thread is faster than several (each is a directory
/// listing and a readlink per fd).
const FDS_PARALLEL_THRESHOLD: usize = 128;

/// The files [`read_accounts`] and [`read_groups`] read.
const ACCOUNT_FILES: [&str; 3] = ["etc/passwd", "etc/shadow", "etc/group"];

fn read_utmp_sessions(
    root: &Root,
    opts: &ScanOptions,
    memos: Option<&memo::Memos>,
    processes: &[Process],
    index: &HashMap<u32, usize>,
    w: &mut Vec<Warning>,
) -> Option<UtmpSessions> {
    for rel in &opts.utmp_paths {
        if !root.exists(rel) {
            continue;
        }
        let read = || read_utmp(root, rel, opts.utmp_layout);
        let paths = std::slice::from_ref(rel);
        let records = memo::through(memos.map(|m| &m.utmp), root, paths, read).into_items(w)?;
        let sessions = filter_live(records, opts.reuse_tolerance, |pid| match index.get(&pid) {
            Some(&i) => PidState::Alive(processes[i].start_time),
            // Not in our listing: it may have started after the listing, so ask once more.
            None if root.exists(format!("proc/{pid}/stat")) => PidState::Alive(None),
            None => PidState::Dead,
        });
        return Some(sessions);
    }
    None
}
