//! I/O over a [`Root`]: each function reads one source and returns [`Collected`] results.
//!
//! These are thin: they find the files, hand the bytes to [`crate::parse`], and turn I/O
//! errors into warnings. A source that does not exist on this host (no nfsd, no logind, no
//! Samba) is an empty result without a warning; a source that exists but fails warns.

pub mod groups;
pub mod logind_bus;
pub mod proc;
pub mod proc_counters;
pub mod sock_diag;

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;

use crate::command::{CommandError, CommandRunner, CommandSpec};
use crate::parse::accounts::{
    GroupEntry, PasswdEntry, parse_group, parse_passwd, parse_shadow_locks,
};
use crate::parse::logind::{LogindSession, parse_session_file};
use crate::parse::nfs::{
    NfsClientInfo, NfsExport, NfsStateCounts, NfsStateFile, count_states, parse_client_info,
    parse_exports, state_files,
};
use crate::parse::smb::{SmbStatus, parse_smbstatus_json};
use crate::parse::smbconf::{SmbShareConf, file_shares, parse_smb_conf};
use crate::parse::utmp::{UtmpLayout, UtmpRecord, decode_file};
use crate::{Collected, Root, Warning, WarningKind};

/// Reads an optional text file: `Ok(None)` when it does not exist (the source is absent,
/// which is not a problem), a warning naming the file for any other failure.
fn read_optional(root: &Root, rel: &str) -> Result<Option<String>, Warning> {
    match root.read_string(rel) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Warning::io(rel.trim_start_matches('/'), &e)),
    }
}

/// An optional file parsed by `parse`: empty when missing, empty plus a warning when
/// unreadable.
fn read_optional_with<T: Default>(
    root: &Root,
    rel: &str,
    parse: impl FnOnce(&str) -> T,
) -> Collected<T> {
    match read_optional(root, rel) {
        Ok(text) => Collected::ok(text.as_deref().map(parse).unwrap_or_default()),
        Err(w) => Collected {
            items: T::default(),
            warnings: vec![w],
        },
    }
}

/// Reads a utmp or wtmp file. A missing file is `None` (utmp is optional: systemd ≥ 254 and
/// wtmpdb distributions may not write it); a truncated last record is a warning.
pub fn read_utmp(
    root: &Root,
    rel: &Path,
    layout: UtmpLayout,
) -> Collected<Option<Vec<UtmpRecord>>> {
    let bytes = match root.read(rel) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Collected::ok(None),
        Err(e) => {
            return Collected {
                items: None,
                warnings: vec![Warning::io(rel, &e)],
            };
        }
    };
    let file = decode_file(&bytes, layout);
    let mut warnings = Vec::new();
    if file.trailing_bytes != 0 {
        warnings.push(Warning::new(
            WarningKind::Truncated,
            rel,
            format!(
                "{} trailing bytes do not make a {}-byte record",
                file.trailing_bytes,
                layout.record_size()
            ),
        ));
    }
    Collected {
        items: Some(file.records),
        warnings,
    }
}

/// Reads `/run/systemd/sessions/*`. `None` when the directory does not exist (no logind).
///
/// Files whose names start with `.` are logind's temporary files mid-write and are skipped.
pub fn read_logind_sessions(root: &Root) -> Collected<Option<Vec<LogindSession>>> {
    const DIR: &str = "run/systemd/sessions";
    let names = match root.read_dir_names(DIR) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Collected::ok(None),
        Err(e) => {
            return Collected {
                items: None,
                warnings: vec![Warning::io(DIR, &e)],
            };
        }
    };
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|n| !n.starts_with('.') && !n.ends_with(".ref"))
        .collect();
    names.sort_by(|a, b| natural_key(a).cmp(&natural_key(b)));
    for name in names {
        let rel = format!("{DIR}/{name}");
        match root.read_string(&rel) {
            Ok(text) => out.push(parse_session_file(&name, &text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // A `.ref` FIFO or a sub-directory is not a session.
            Err(e) if e.kind() == io::ErrorKind::IsADirectory => {}
            Err(e) => warnings.push(Warning::io(rel, &e)),
        }
    }
    Collected {
        items: Some(out),
        warnings,
    }
}

/// Sorts `2 < 10 < c1 < c2`: numeric ids first by value, then the rest.
fn natural_key(s: &str) -> (u8, u64, &str) {
    match s.parse::<u64>() {
        Ok(n) => (0, n, s),
        Err(_) => (1, 0, s),
    }
}

/// The outcome of asking Samba.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SmbState {
    /// `smbstatus` was not run (disabled, or no smbd process).
    #[default]
    NotRun,
    /// `smbstatus` is not installed: no Samba on this host.
    NotInstalled,
    /// It ran but failed (exit code, timeout, unparsable output); no sessions known.
    Failed(String),
    /// Its parsed output.
    Ok(SmbStatus),
}

impl SmbState {
    /// The status when it was read.
    pub fn status(&self) -> Option<&SmbStatus> {
        match self {
            SmbState::Ok(s) => Some(s),
            _ => None,
        }
    }
}

/// Runs `smbstatus --json` through `runner`.
///
/// Not installed → [`SmbState::NotInstalled`] and no warning. Any other failure (non-zero
/// exit, for example when smbd is not running; a timeout; bad JSON) → [`SmbState::Failed`] and
/// a [`WarningKind::Command`] warning.
pub fn read_smbstatus(
    runner: &dyn CommandRunner,
    program: &Path,
    timeout: Duration,
) -> Collected<SmbState> {
    let spec = CommandSpec {
        program: program.to_path_buf(),
        args: vec!["--json".into()],
        timeout,
    };
    let failed = |msg: String| Collected {
        items: SmbState::Failed(msg.clone()),
        warnings: vec![Warning::general(WarningKind::Command, msg)],
    };
    match runner.run(&spec) {
        Err(CommandError::NotFound(_)) => Collected::ok(SmbState::NotInstalled),
        Err(e) => failed(e.to_string()),
        Ok(out) if !out.success() => {
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err
                .lines()
                .chain(std::str::from_utf8(&out.stdout).unwrap_or("").lines())
                .find(|l| !l.trim().is_empty());
            failed(format!(
                "{}: exit {:?}: {}",
                program.display(),
                out.status,
                first.unwrap_or("").trim()
            ))
        }
        Ok(out) => match parse_smbstatus_json(&out.stdout) {
            Ok(s) => Collected::ok(SmbState::Ok(s)),
            Err(e) => failed(format!("{}: {e}", program.display())),
        },
    }
}

/// One NFSv4 client of the kernel server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfsClient {
    /// The directory name under `/proc/fs/nfsd/clients`.
    pub dir: String,
    /// The `info` file.
    pub info: NfsClientInfo,
    /// The `states` counts; `None` when unreadable.
    pub states: Option<NfsStateCounts>,
    /// The states that name a file (which export the client uses).
    pub state_files: Vec<NfsStateFile>,
}

impl NfsClient {
    /// The client's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.info.peer
    }
}

/// Reads `/proc/fs/nfsd/clients/*`. `None` when the directory is missing (no nfsd, or
/// kernel < 5.3): that is not a warning.
pub fn read_nfs_clients(root: &Root) -> Collected<Option<Vec<NfsClient>>> {
    const DIR: &str = "proc/fs/nfsd/clients";
    let mut names = match root.read_dir_names(DIR) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Collected::ok(None),
        Err(e) => {
            return Collected {
                items: None,
                warnings: vec![Warning::io(DIR, &e)],
            };
        }
    };
    names.sort_by(|a, b| natural_key(a).cmp(&natural_key(b)));
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for name in names {
        let info_path = format!("{DIR}/{name}/info");
        let info = match root.read_string(&info_path) {
            Ok(t) => parse_client_info(&t),
            // The client expired between listing and reading.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                warnings.push(Warning::io(info_path, &e));
                continue;
            }
        };
        let states_path = format!("{DIR}/{name}/states");
        let (states, files) = match root.read_string(&states_path) {
            Ok(t) => (Some(count_states(&t)), state_files(&t)),
            Err(e) => {
                warnings.push(Warning::io(states_path, &e));
                (None, Vec::new())
            }
        };
        out.push(NfsClient {
            dir: name,
            info,
            states,
            state_files: files,
        });
    }
    Collected {
        items: Some(out),
        warnings,
    }
}

/// Linux's encoding of a device number into (major, minor), as `major(3)`/`minor(3)`.
fn dev_numbers(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// Reads `/proc/fs/nfs/exports`: the kernel NFS server's exports. A missing file (no nfsd)
/// is no exports and no warning.
pub fn read_nfs_exports(root: &Root) -> Collected<Vec<NfsExport>> {
    const PATH: &str = "proc/fs/nfs/exports";
    read_optional_with(root, PATH, |t| {
        let mut exports = parse_exports(t);
        for e in &mut exports {
            e.device = root
                .metadata(e.path.trim_start_matches('/'))
                .ok()
                .map(|m| dev_numbers(m.dev()));
        }
        exports
    })
}

/// Reads Samba's file shares from `path` (under the root; `include`d files one level deep).
/// A missing file is no shares and no warning; an unreadable one warns.
pub fn read_smb_shares(root: &Root, path: &str) -> Collected<Vec<SmbShareConf>> {
    let text = match read_optional(root, path) {
        Ok(Some(t)) => t,
        Ok(None) => return Collected::ok(Vec::new()),
        Err(w) => {
            return Collected {
                items: Vec::new(),
                warnings: vec![w],
            };
        }
    };
    let mut warnings = Vec::new();
    let sections = parse_smb_conf(&text, &mut |file| match read_optional(root, file) {
        Ok(t) => t,
        Err(w) => {
            warnings.push(w);
            None
        }
    });
    Collected {
        items: file_shares(&sections),
        warnings,
    }
}

/// A local account: its `/etc/passwd` entry and, when `/etc/shadow` was readable, its lock state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The passwd entry.
    pub passwd: PasswdEntry,
    /// `Some(true)` when the shadow password starts with `!` or `*`; `None` when shadow was
    /// not readable (not root) or has no entry.
    pub locked: Option<bool>,
    /// Found through NSS (`getpwuid_r`), not in `/etc/passwd`: a directory user (LDAP, SSSD).
    pub from_nss: bool,
}

/// The NSS entry of `uid` on the running host (`getpwuid_r` through nix: whatever
/// `/etc/nsswitch.conf` configures). Only for the real host root; `None` when unknown.
pub fn nss_account(uid: u32) -> Option<Account> {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)).ok()??;
    let gecos = user.gecos.to_string_lossy().into_owned();
    Some(Account {
        passwd: PasswdEntry {
            name: user.name,
            uid,
            gid: user.gid.as_raw(),
            full_name: gecos.split(',').next().unwrap_or("").to_string(),
            gecos,
            home: user.dir.to_string_lossy().into_owned(),
            shell: user.shell.to_string_lossy().into_owned(),
        },
        locked: None,
        from_nss: true,
    })
}

/// Reads `/etc/passwd` and, if readable, `/etc/shadow`. An unreadable shadow is silent (only
/// root can read it); a missing or unreadable passwd warns.
pub fn read_accounts(root: &Root) -> Collected<Vec<Account>> {
    let mut warnings = Vec::new();
    let text = match root.read_string("etc/passwd") {
        Ok(t) => t,
        Err(e) => {
            return Collected {
                items: Vec::new(),
                warnings: vec![Warning::io("etc/passwd", &e)],
            };
        }
    };
    let (entries, bad) = parse_passwd(&text);
    if bad > 0 {
        warnings.push(Warning::new(
            WarningKind::Parse,
            "etc/passwd",
            format!("{bad} malformed lines skipped"),
        ));
    }
    let locks: std::collections::HashMap<String, bool> = root
        .read_string("etc/shadow")
        .map(|t| parse_shadow_locks(&t).into_iter().collect())
        .unwrap_or_default();
    let items = entries
        .into_iter()
        .map(|passwd| Account {
            locked: locks.get(&passwd.name).copied(),
            passwd,
            from_nss: false,
        })
        .collect();
    Collected { items, warnings }
}

/// Reads `/etc/group`; missing is empty without a warning (it is optional for sessions).
pub fn read_groups(root: &Root) -> Collected<Vec<GroupEntry>> {
    read_optional_with(root, "etc/group", parse_group)
}

/// The access time of a terminal (`pts/0` → `<root>/dev/pts/0`), for idle time as `w` computes it.
///
/// The kernel updates tty atime only when it moved past an 8-second boundary, so idle times
/// have 8 s granularity by design.
pub fn tty_atime(root: &Root, line: &str) -> io::Result<Timestamp> {
    if line.is_empty() || line.contains("..") {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let m = root.metadata(format!("dev/{line}"))?;
    Timestamp::new(m.atime(), m.atime_nsec() as i32).map_err(io::Error::other)
}

/// The `Accepted …` lines of the sshd logs that exist, oldest first. Only the last 1 MiB of
/// each file is read: recent logins are at the end, and logs can be large.
pub fn read_sshd_logs(
    root: &Root,
    paths: &[PathBuf],
) -> Collected<Vec<crate::parse::sshd::SshAuth>> {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 1 << 20;
    let mut out = Collected::ok(Vec::new());
    for rel in paths {
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        let path = root.path(rel);
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            // Missing, or root's to read: a clue that is not there, not a fault to warn about
            // on every query (the rule of crate::identity for every such clue).
            Err(e) if crate::identity::unavailable(&e) => continue,
            Err(e) => {
                out.warnings.push(Warning::io(rel, &e));
                continue;
            }
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut bytes = Vec::new();
        let read = file
            .seek(SeekFrom::Start(len.saturating_sub(TAIL)))
            .and_then(|_| file.read_to_end(&mut bytes));
        if let Err(e) = read {
            out.warnings.push(Warning::io(rel, &e));
            continue;
        }
        out.items.extend(crate::parse::sshd::parse_auth_log(
            &String::from_utf8_lossy(&bytes),
        ));
    }
    out
}
