//! linmgmt's own record of what it learned about live logon sessions, so that a later
//! query gives the same answer after the evidence is gone (sshd exits while a `nohup`ed
//! process or a tmux server keeps the session alive).
//!
//! One file, `run/linmgmt/sessions` under the [`Root`] (`/run` is a tmpfs: the record goes
//! at reboot). Its first line names the boot (`/proc/sys/kernel/random/boot_id`); then one
//! JSON object per audit session. Audit session ids are unique within a boot, so (boot id,
//! audit session id) is the key; the login uid is kept to check it.
//!
//! - **Root only.** The directory is `0700` and the file `0600`; a directory that is a
//!   symbolic link, is not owned by root (or, for a fixture, by the current user) or is
//!   writable by others is not used (a warning). Only root writes ([`may_write`]): an
//!   unprivileged query reads nothing (`EACCES`, silently) and writes nothing.
//! - **Atomic.** Writers hold an advisory lock (`run/linmgmt/lock`), re-read the file,
//!   merge, write a temporary file and rename it over the old one, so readers (who take no
//!   lock) see the old or the new file, never half of one, and two writers lose nothing.
//! - **Bounded.** At most [`MAX_RECORDS`] records and [`MAX_FILE_BYTES`] bytes; strings are
//!   cut to [`MAX_TEXT`] bytes. A session that does not fit is not recorded (it is answered
//!   from live evidence only). A larger file is not read (a warning; the next write replaces it).
//! - **Pruned.** Each write drops the records of sessions that have ended (not in the
//!   writer's scan and written before that scan began) and of other boots.
//!
//! Facts here are Linux's (PAM service, logind class, terminal), never WMI values: the
//! providers classify them as they classify live evidence.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::{Collected, Root, Warning, WarningKind};

/// The directory, relative to the root.
pub const STATE_DIR: &str = "run/linmgmt";
/// The session record file, relative to the root.
pub const SESSIONS_FILE: &str = "run/linmgmt/sessions";
/// The writers' lock file, relative to the root.
pub const LOCK_FILE: &str = "run/linmgmt/lock";
/// The most records the file holds.
pub const MAX_RECORDS: usize = 4096;
/// The largest file read or written.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// The longest string kept in a record (user names, remote host names, services).
pub const MAX_TEXT: usize = 256;
/// The most source names kept in a record.
const MAX_SOURCES: usize = 16;
/// How long a writer waits for the lock before it gives up (the next scan writes instead).
const LOCK_WAIT: Duration = Duration::from_millis(500);

/// The first line of the file: format version and boot id.
const MAGIC: &str = "linmgmt-sessions 1";

/// What a record's facts were learned from, weakest first. A record is replaced only by
/// facts from stronger evidence; equal or weaker evidence leaves it as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Basis {
    /// Only the session's own processes (their start times and terminals).
    Processes,
    /// The environment sshd gave the session's processes (`SSH_CONNECTION`, `SSH_TTY`).
    Environment,
    /// Logs that name the session: the audit log (`ses=`), helped by wtmp and sshd's log.
    Logs,
    /// systemd-logind's record of the session.
    Logind,
    /// The process that opened the session, alive: the sshd connection, `login`, `cron`.
    Live,
}

impl Basis {
    fn as_str(self) -> &'static str {
        match self {
            Basis::Processes => "processes",
            Basis::Environment => "environment",
            Basis::Logs => "logs",
            Basis::Logind => "logind",
            Basis::Live => "live",
        }
    }

    fn parse(s: &str) -> Option<Basis> {
        Some(match s {
            "processes" => Basis::Processes,
            "environment" => Basis::Environment,
            "logs" => Basis::Logs,
            "logind" => Basis::Logind,
            "live" => Basis::Live,
            _ => return None,
        })
    }
}

/// What is known about one logon session: its origin as first learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The audit session id.
    pub id: u32,
    /// The session's login uid (the record is used only for a session with the same one).
    pub loginuid: Option<u32>,
    /// What the facts were learned from.
    pub basis: Basis,
    /// When the record was written (a record written after a scan began is never pruned by
    /// that scan: its session may have started after the scan listed `/proc`).
    pub written: Timestamp,
    /// The login user's name.
    pub user: Option<String>,
    /// The PAM service (`sshd`, `login`, `cron`).
    pub service: Option<String>,
    /// The ssh authentication method (`publickey`), from sshd's log.
    pub method: Option<String>,
    /// logind's session class (`user`, `background`).
    pub class: Option<String>,
    /// Whether the login came over the network.
    pub remote: bool,
    /// Where from: the peer address or logind's remote host.
    pub remote_host: Option<String>,
    /// Whether the login had a terminal (ssh: a pty).
    pub has_tty: bool,
    /// The terminal, e.g. `pts/0`.
    pub tty: Option<String>,
    /// When the session started.
    pub start: Option<Timestamp>,
    /// The names of the sources the facts came from (shown in `Description`, so that it
    /// does not change when the facts come from the record instead).
    pub sources: Vec<String>,
}

/// The records of one boot, by audit session id.
pub type Records = BTreeMap<u32, SessionRecord>;

/// Whether this process may write the record: only root does. An unprivileged `linmgmt`
/// neither writes nor complains.
pub fn may_write() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The records of boot `boot_id`, or none: no file, a file of another boot, or a directory
/// this user may not read (silently); a directory or file that is not safe to trust, an
/// oversized file or records that do not parse are warnings (the rest is used).
pub fn load(root: &Root, boot_id: &str) -> Collected<Records> {
    let mut w = Vec::new();
    let records = match read_file(root, &mut w) {
        Some(text) => {
            let (boot, records, bad) = decode(&text);
            if bad > 0 {
                w.push(Warning::new(
                    WarningKind::Parse,
                    SESSIONS_FILE,
                    format!("{bad} malformed lines skipped (the next write drops them)"),
                ));
            }
            if boot.as_deref() == Some(boot_id) {
                records
            } else {
                Records::new()
            }
        }
        None => Records::new(),
    };
    Collected {
        items: records,
        warnings: w,
    }
}

/// Missing, or not ours to read: nothing is recorded, and there is nothing to warn about.
fn absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
    )
}

/// The file's text when it is there, readable and trustworthy.
fn read_file(root: &Root, w: &mut Vec<Warning>) -> Option<String> {
    match root.metadata(STATE_DIR) {
        Ok(_) => {}
        Err(e) if absent(&e) => return None,
        Err(e) => {
            w.push(Warning::io(STATE_DIR, &e));
            return None;
        }
    }
    if let Err(why) = check_dir(root) {
        w.push(why);
        return None;
    }
    let meta = match fs::symlink_metadata(root.path(SESSIONS_FILE)) {
        Ok(m) => m,
        Err(e) if absent(&e) => return None,
        Err(e) => {
            w.push(Warning::io(SESSIONS_FILE, &e));
            return None;
        }
    };
    if !meta.is_file() || !trusted_owner(meta.uid()) || meta.mode() & 0o022 != 0 {
        w.push(Warning::new(
            WarningKind::PermissionDenied,
            SESSIONS_FILE,
            "not a regular file owned by root and writable only by it: not used",
        ));
        return None;
    }
    if meta.len() > MAX_FILE_BYTES as u64 {
        w.push(Warning::new(
            WarningKind::Parse,
            SESSIONS_FILE,
            format!("larger than {MAX_FILE_BYTES} bytes: not read (the next write replaces it)"),
        ));
        return None;
    }
    match root.read_string(SESSIONS_FILE) {
        Ok(t) => Some(t),
        Err(e) if absent(&e) => None,
        Err(e) => {
            w.push(Warning::io(SESSIONS_FILE, &e));
            None
        }
    }
}

/// Root, or (for fixture roots and tests) the user running linmgmt.
fn trusted_owner(uid: u32) -> bool {
    uid == 0 || uid == nix::unistd::geteuid().as_raw()
}

/// The state directory is a real directory, owned by root (or the current user) and closed
/// to others.
fn check_dir(root: &Root) -> Result<(), Warning> {
    let meta =
        fs::symlink_metadata(root.path(STATE_DIR)).map_err(|e| Warning::io(STATE_DIR, &e))?;
    if meta.is_dir() && trusted_owner(meta.uid()) && meta.mode() & 0o077 == 0 {
        Ok(())
    } else {
        Err(Warning::new(
            WarningKind::PermissionDenied,
            STATE_DIR,
            format!(
                "not a directory owned by root with mode 0700 (uid {}, mode {:o}): linmgmt's session record is not used",
                meta.uid(),
                meta.mode() & 0o7777
            ),
        ))
    }
}

/// What [`store`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stored {
    /// Records added or replaced.
    pub written: usize,
    /// Records dropped because their session ended (or their boot is over).
    pub pruned: usize,
    /// Records not kept because the file was full.
    pub refused: usize,
}

/// Merges `updates` into the record of boot `boot_id` and prunes it.
///
/// An update replaces a record of the same session only when its [`Basis`] is stronger
/// (the first answer from equal evidence stays, whoever wrote it). With `live`, the ids
/// of every audit session the caller's scan saw, records of other sessions written before
/// `scan_started` are dropped; `None` prunes nothing (the scan could not list `/proc`).
/// `now` stamps the records written.
///
/// Call only when [`may_write`] (the caller decides; tests write as any user). Never fails:
/// problems are warnings, and a lock held too long skips the write.
pub fn store(
    root: &Root,
    boot_id: &str,
    updates: &[SessionRecord],
    live: Option<&BTreeSet<u32>>,
    scan_started: Timestamp,
    now: Timestamp,
) -> Collected<Stored> {
    let mut w = Vec::new();
    let stored = match store_inner(root, boot_id, updates, live, scan_started, now, &mut w) {
        Ok(s) => s,
        Err(e) => {
            w.push(e);
            Stored::default()
        }
    };
    Collected {
        items: stored,
        warnings: w,
    }
}

fn store_inner(
    root: &Root,
    boot_id: &str,
    updates: &[SessionRecord],
    live: Option<&BTreeSet<u32>>,
    scan_started: Timestamp,
    now: Timestamp,
    w: &mut Vec<Warning>,
) -> Result<Stored, Warning> {
    let dir = root.path(STATE_DIR);
    match fs::symlink_metadata(&dir) {
        Ok(_) => check_dir(root)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                fs::create_dir_all(parent).map_err(|e| Warning::io("run", &e))?;
            }
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => check_dir(root)?,
                Err(e) => return Err(Warning::io(STATE_DIR, &e)),
            }
        }
        Err(e) => return Err(Warning::io(STATE_DIR, &e)),
    }
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(root.path(LOCK_FILE))
        .map_err(|e| Warning::io(LOCK_FILE, &e))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            // Another writer is slow: this scan's facts are written by the next one.
            Err(fs::TryLockError::WouldBlock) => return Ok(Stored::default()),
            Err(fs::TryLockError::Error(e)) => return Err(Warning::io(LOCK_FILE, &e)),
        }
    }

    // Under the lock: the file as it is now, whatever this scan read earlier.
    let mut ignored = Vec::new();
    let (boot, mut records, bad) = match read_file(root, &mut ignored) {
        Some(text) => decode(&text),
        None => (None, Records::new(), 0),
    };
    let mut stored = Stored::default();
    if boot.as_deref() != Some(boot_id) {
        stored.pruned += records.len();
        records.clear();
    }
    if let Some(live) = live {
        let before = records.len();
        records.retain(|id, r| live.contains(id) || r.written >= scan_started);
        stored.pruned += before - records.len();
    }
    for u in updates {
        // A record of another login uid is not this session's (it cannot be, within a
        // boot; a hand-edited file could say so): replaced.
        let stronger =
            (records.get(&u.id)).is_none_or(|r| u.basis > r.basis || u.loginuid != r.loginuid);
        if !stronger {
            continue;
        }
        if !records.contains_key(&u.id) && records.len() >= MAX_RECORDS {
            stored.refused += 1;
            continue;
        }
        let mut r = u.clone();
        r.written = now;
        records.insert(r.id, r);
        stored.written += 1;
    }
    if stored.written == 0 && stored.pruned == 0 && bad == 0 && boot.is_some() {
        return Ok(stored);
    }
    let mut text = format!("{MAGIC} boot={boot_id}\n");
    for r in records.values() {
        let line = encode_record(r);
        if text.len() + line.len() + 1 > MAX_FILE_BYTES {
            stored.refused += 1;
            continue;
        }
        text.push_str(&line);
        text.push('\n');
    }
    if stored.refused > 0 {
        w.push(Warning::general(
            WarningKind::Io,
            format!(
                "{SESSIONS_FILE}: full ({MAX_RECORDS} records or {MAX_FILE_BYTES} bytes); {} sessions not recorded",
                stored.refused
            ),
        ));
    }
    let tmp_rel = format!("{STATE_DIR}/.sessions.{}.tmp", std::process::id());
    let tmp = root.path(&tmp_rel);
    let _ = fs::remove_file(&tmp);
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.flush()?;
        fs::rename(&tmp, root.path(SESSIONS_FILE))
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(Warning::io(SESSIONS_FILE, &e));
    }
    drop(lock);
    Ok(stored)
}

/// One record as a JSON line.
pub fn encode_record(r: &SessionRecord) -> String {
    let mut m = Map::new();
    m.insert("id".into(), r.id.into());
    if let Some(u) = r.loginuid {
        m.insert("loginuid".into(), u.into());
    }
    m.insert("basis".into(), r.basis.as_str().into());
    m.insert("written".into(), r.written.to_string().into());
    let mut text = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.into(), cut(v).into());
        }
    };
    text("user", &r.user);
    text("service", &r.service);
    text("method", &r.method);
    text("class", &r.class);
    text("remote_host", &r.remote_host);
    text("tty", &r.tty);
    m.insert("remote".into(), r.remote.into());
    m.insert("has_tty".into(), r.has_tty.into());
    if let Some(s) = r.start {
        m.insert("start".into(), s.to_string().into());
    }
    if !r.sources.is_empty() {
        let names: Vec<Value> = (r.sources.iter().take(MAX_SOURCES))
            .map(|s| cut(s).into())
            .collect();
        m.insert("sources".into(), names.into());
    }
    Value::Object(m).to_string()
}

fn cut(s: &str) -> &str {
    if s.len() <= MAX_TEXT {
        return s;
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One JSON line as a record; `None` when it is not one.
pub fn decode_record(line: &str) -> Option<SessionRecord> {
    // Six strings and the source names of MAX_TEXT bytes, each at most six times longer as
    // JSON (`\u0001`).
    if line.len() > (6 + MAX_SOURCES) * 6 * MAX_TEXT + 1024 {
        return None;
    }
    let v: Value = serde_json::from_str(line).ok()?;
    let m = v.as_object()?;
    let uint = |k: &str| -> Option<u32> { m.get(k)?.as_u64().and_then(|n| u32::try_from(n).ok()) };
    let text = |k: &str| -> Option<String> {
        m.get(k)?
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= MAX_TEXT)
            .map(str::to_owned)
    };
    let time = |k: &str| -> Option<Timestamp> { m.get(k)?.as_str()?.parse().ok() };
    let flag = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
    Some(SessionRecord {
        id: uint("id").filter(|&id| id != 0 && id != crate::AUDIT_UNSET)?,
        loginuid: uint("loginuid"),
        basis: Basis::parse(m.get("basis")?.as_str()?)?,
        written: time("written")?,
        user: text("user"),
        service: text("service"),
        method: text("method"),
        class: text("class"),
        remote: flag("remote"),
        remote_host: text("remote_host"),
        has_tty: flag("has_tty"),
        tty: text("tty"),
        start: time("start"),
        sources: (m
            .get("sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten())
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= MAX_TEXT)
        .take(MAX_SOURCES)
        .map(str::to_owned)
        .collect(),
    })
}

/// The whole file: its boot id (`None` when the first line is not ours), the records (the
/// first of each id, at most [`MAX_RECORDS`]) and the number of lines that were not records.
pub fn decode(text: &str) -> (Option<String>, Records, usize) {
    let mut lines = text.lines();
    let boot = lines
        .next()
        .and_then(|l| l.strip_prefix(MAGIC))
        .and_then(|rest| rest.trim().strip_prefix("boot="))
        .filter(|b| !b.is_empty() && b.len() <= 64)
        .map(str::to_owned);
    let Some(boot) = boot else {
        return (None, Records::new(), text.lines().count().min(1));
    };
    let mut records = Records::new();
    let mut bad = 0;
    for line in lines {
        match decode_record(line) {
            Some(r) if records.len() < MAX_RECORDS => {
                records.entry(r.id).or_insert(r);
            }
            Some(_) => {}
            None => bad += 1,
        }
    }
    (Some(boot), records, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u32, basis: Basis) -> SessionRecord {
        SessionRecord {
            id,
            loginuid: Some(1001),
            basis,
            written: Timestamp::from_second(1_785_578_400).unwrap(),
            user: Some("alice".into()),
            service: Some("sshd".into()),
            method: Some("publickey".into()),
            class: None,
            remote: true,
            remote_host: Some("10.0.0.5".into()),
            has_tty: false,
            tty: None,
            start: Some(Timestamp::new(1_785_578_000, 350_000_000).unwrap()),
            sources: vec!["audit".into(), "sshd".into()],
        }
    }

    #[test]
    fn records_round_trip() {
        let r = rec(12, Basis::Live);
        assert_eq!(decode_record(&encode_record(&r)), Some(r.clone()));
        let text = format!(
            "{MAGIC} boot=b1\n{}\nnot json\n{{\"id\":0}}\n",
            encode_record(&r)
        );
        let (boot, records, bad) = decode(&text);
        assert_eq!(boot.as_deref(), Some("b1"));
        assert_eq!(records.get(&12), Some(&r));
        assert_eq!(bad, 2);
        assert_eq!(decode("something else\n").0, None);
    }

    #[test]
    fn long_strings_are_cut() {
        let mut r = rec(5, Basis::Logind);
        r.remote_host = Some("h".repeat(1000));
        let back = decode_record(&encode_record(&r)).unwrap();
        assert_eq!(back.remote_host.map(|h| h.len()), Some(MAX_TEXT));
    }
}
