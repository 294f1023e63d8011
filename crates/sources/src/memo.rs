//! What the live model's scans remember between refreshes: what was read from files, kept
//! while the files stay as they were (sshd's logs, utmp, the account files, logind's
//! session files), so that a refresh re-reads a file only when it changed; and the file
//! servers' answers (Samba, NFS), kept for a bounded time while the same server processes
//! run ([`ServerMemo`]); and logind's answer over D-Bus, while it announces no session
//! ([`LogindMemo`]).
//!
//! A file is the same when its device, inode, size and change time (`ctime`, which no
//! user can set, unlike `mtime`) are. Change times come from the kernel's coarse clock
//! (a few milliseconds per tick), so a write in the same tick as the read before it
//! leaves the stamp as it was: the "racy file" of git's index. The rule that makes the
//! memory exact is git's too: an answer is kept only if the file had last changed well
//! before it was read ([`SETTLED`]); a file that changed just before its read is read
//! again at the next refresh, until it has been quiet for that long.
//!
//! This needs no thread and no inotify watch (which follows an inode, while these files
//! are replaced, rotated and truncated): one `stat` per file and refresh. `watch`'s inotify
//! wakes stay what they are, a latency matter.

use crate::Root;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// How long before its read a file must have last changed for the answer to be kept:
/// well above any file system's timestamp granularity.
pub const SETTLED: Duration = Duration::from_secs(1);

/// What identifies one state of a file: equal stamps, same content (for a settled file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    ctime: (i64, i64),
}

impl Stamp {
    /// The file's stamp now: `Some(None)` when it is absent (an absent file is a state
    /// too), `None` when it cannot be looked at (nothing is kept then: the read says what
    /// is wrong).
    pub fn of(root: &Root, rel: &Path) -> Option<Option<Stamp>> {
        use std::os::unix::fs::MetadataExt;
        match root.metadata(rel) {
            Ok(m) => Some(Some(Stamp {
                dev: m.dev(),
                ino: m.ino(),
                size: m.size(),
                ctime: (m.ctime(), m.ctime_nsec()),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(None),
            Err(_) => None,
        }
    }

    /// Whether the file had last changed at least [`SETTLED`] before `read_at`.
    fn settled_before(&self, read_at: SystemTime) -> bool {
        let Ok(since_epoch) = read_at.duration_since(SystemTime::UNIX_EPOCH) else {
            return false;
        };
        let changed = Duration::new(
            u64::try_from(self.ctime.0).unwrap_or(u64::MAX),
            u32::try_from(self.ctime.1).unwrap_or(0),
        );
        changed.saturating_add(SETTLED) <= since_epoch
    }
}

/// One answer read from some files, and their stamps when it was read.
#[derive(Debug)]
pub struct FileMemo<T> {
    kept: Mutex<Option<Kept<T>>>,
}

/// The files asked about, their stamps (`None`: absent) and the answer.
type Kept<T> = (Vec<PathBuf>, Vec<Option<Stamp>>, T);

/// The local accounts and groups, each with what went wrong reading them.
type Accounts = (
    crate::Collected<Vec<crate::read::Account>>,
    crate::Collected<Vec<crate::parse::accounts::GroupEntry>>,
);

impl<T> Default for FileMemo<T> {
    fn default() -> Self {
        FileMemo {
            kept: Mutex::new(None),
        }
    }
}

impl<T: Clone> FileMemo<T> {
    /// The answer for `paths` (relative to `root`): the one kept, if every file still has
    /// the stamp it had then (or is still absent); else `read()`'s, kept if every file
    /// could be looked at and had settled.
    pub fn get(&self, root: &Root, paths: &[PathBuf], read: impl FnOnce() -> T) -> T {
        let stamps: Option<Vec<Option<Stamp>>> = paths.iter().map(|p| Stamp::of(root, p)).collect();
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if let (Some(now), Some((was_paths, was, answer))) = (&stamps, kept.as_ref())
            && was_paths == paths
            && was == now
        {
            return answer.clone();
        }
        let read_at = SystemTime::now();
        let answer = read();
        *kept = stamps
            .filter(|s| s.iter().flatten().all(|s| s.settled_before(read_at)))
            .map(|s| (paths.to_vec(), s, answer.clone()));
        answer
    }
}

/// `read()`'s answer for `paths`, through `memo` when there is one (the live model's).
pub fn through<T: Clone>(
    memo: Option<&FileMemo<T>>,
    root: &Root,
    paths: &[PathBuf],
    read: impl FnOnce() -> T,
) -> T {
    match memo {
        Some(memo) => memo.get(root, paths, read),
        None => read(),
    }
}

/// A file server's answer, kept while the same server processes run, for a bounded time.
///
/// Samba's sessions and NFS's clients have no push source for what changes inside them
/// (open files, idle times, an NFS client's arrival), so their answers are asked again
/// after `refresh`; a Samba client that comes or goes is an smbd process that does, which
/// the kernel reports, so it is seen at once.
#[derive(Debug)]
pub struct ServerMemo<T> {
    refresh: Duration,
    kept: Mutex<Option<(Instant, BTreeSet<u32>, T)>>,
}

impl<T: Clone> ServerMemo<T> {
    /// A memo that keeps an answer for at most `refresh` (0: never).
    pub fn new(refresh: Duration) -> Self {
        ServerMemo {
            refresh,
            kept: Mutex::new(None),
        }
    }

    /// The answer kept for exactly these server processes, if younger than the refresh.
    pub fn fresh(&self, servers: &BTreeSet<u32>) -> Option<T> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        (kept.as_ref())
            .filter(|(at, was, _)| was == servers && at.elapsed() < self.refresh)
            .map(|(_, _, answer)| answer.clone())
    }

    /// Keeps `answer`, just asked while `servers` ran.
    pub fn keep(&self, servers: BTreeSet<u32>, answer: T) {
        *self.kept.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), servers, answer));
    }

    /// The answer kept for `servers` if fresh, else `read()`'s, kept.
    pub fn get(&self, servers: BTreeSet<u32>, read: impl FnOnce() -> T) -> T {
        if let Some(answer) = self.fresh(&servers) {
            return answer;
        }
        let answer = read();
        self.keep(servers, answer.clone());
        answer
    }
}

/// How long logind's answer over D-Bus is kept at most while no session came or went: a
/// session's state (`closing`, once its user logged out and processes linger) changes
/// with no signal.
pub const LOGIND_REFRESH: Duration = Duration::from_secs(5);

/// The signal count of a listener that ended.
pub const LISTENER_GONE: u64 = u64::MAX;

/// logind's answer over D-Bus, kept while no session came or went: logind announced none
/// (`SessionNew`, `SessionRemoved`, counted by the live model's listener; a lost signal
/// counts too) and the audit sessions are the same (a login opens one before logind
/// announces it), for at most [`LOGIND_REFRESH`]. Without a listener, or once it ended
/// ([`LISTENER_GONE`]), nothing is kept.
#[derive(Debug, Default)]
pub struct LogindMemo {
    signals: OnceLock<Arc<AtomicU64>>,
    kept: Mutex<Option<LogindSeen>>,
}

/// logind's last answer, and what it was given for.
#[derive(Debug)]
struct LogindSeen {
    at: Instant,
    /// The audit sessions there were.
    audits: BTreeSet<u32>,
    /// The session signals counted before it was asked.
    signals: u64,
    sessions: Vec<crate::parse::logind::LogindSession>,
}

impl LogindMemo {
    /// Counts logind's session signals with `signals`, which the listener raises (and sets
    /// to [`LISTENER_GONE`] when it ends).
    pub fn listen(&self, signals: Arc<AtomicU64>) {
        let _ = self.signals.set(signals);
    }

    /// The signals counted so far, while a listener runs: read before logind is asked, it
    /// is what the answer is kept under.
    pub fn token(&self) -> Option<u64> {
        let count = self.signals.get()?.load(Ordering::Relaxed);
        (count != LISTENER_GONE).then_some(count)
    }

    /// The answer kept, if it still stands under `token` for the audit sessions `audits`.
    pub fn fresh(
        &self,
        token: u64,
        audits: &BTreeSet<u32>,
    ) -> Option<Vec<crate::parse::logind::LogindSession>> {
        let seen = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        (seen.as_ref())
            .filter(|s| s.signals == token && s.audits == *audits)
            .filter(|s| s.at.elapsed() < LOGIND_REFRESH)
            .map(|s| s.sessions.clone())
    }

    /// Keeps `sessions`, asked under `token` while the audit sessions were `audits`.
    pub fn keep(
        &self,
        token: u64,
        audits: BTreeSet<u32>,
        sessions: Vec<crate::parse::logind::LogindSession>,
    ) {
        *self.kept.lock().unwrap_or_else(PoisonError::into_inner) = Some(LogindSeen {
            at: Instant::now(),
            audits,
            signals: token,
            sessions,
        });
    }
}

/// How long a file server's answer is kept at most by default (see [`ServerMemo`]).
pub const SERVER_REFRESH: Duration = Duration::from_secs(5);

/// The kernel NFS server's clients and exports, with what went wrong reading them.
pub type NfsAnswer = (
    crate::Collected<Option<Vec<crate::read::NfsClient>>>,
    crate::Collected<Vec<crate::parse::nfs::NfsExport>>,
);

/// What the live model remembers between its scans, one memo per source.
#[derive(Debug)]
pub struct Memos {
    /// sshd's logs: the authentications in their last MiB.
    pub sshd_logs: FileMemo<crate::Collected<Vec<crate::parse::sshd::SshAuth>>>,
    /// utmp's records, before they are checked against the processes.
    pub utmp: FileMemo<crate::Collected<Option<Vec<crate::parse::utmp::UtmpRecord>>>>,
    /// `/etc/passwd` (with `/etc/shadow`) and `/etc/group`.
    pub accounts: FileMemo<Accounts>,
    /// logind's session files (`/run/systemd/sessions`), when logind is not asked over
    /// D-Bus: the directory (whose change time moves when a file comes, goes or is
    /// replaced, as logind replaces them) and each file.
    pub logind_files: FileMemo<crate::Collected<Option<Vec<crate::parse::logind::LogindSession>>>>,
    /// Samba's answer (`smbstatus`), for the smbd processes running.
    pub samba: ServerMemo<crate::read::SmbState>,
    /// NFS's clients and exports, for the `nfsd` threads running.
    pub nfs: ServerMemo<NfsAnswer>,
    /// logind's answer over D-Bus, while no session came or went.
    pub logind: LogindMemo,
}

impl Memos {
    /// Memos that keep the file servers' answers for at most `server_refresh` (0: never).
    pub fn new(server_refresh: Duration) -> Memos {
        Memos {
            sshd_logs: FileMemo::default(),
            utmp: FileMemo::default(),
            accounts: FileMemo::default(),
            logind_files: FileMemo::default(),
            samba: ServerMemo::new(server_refresh),
            nfs: ServerMemo::new(server_refresh),
            logind: LogindMemo::default(),
        }
    }
}

impl Default for Memos {
    fn default() -> Memos {
        Memos::new(SERVER_REFRESH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// The answer (the file's text) and whether the file was read for it.
    fn check(memo: &FileMemo<String>, root: &Root, rel: &str) -> (String, bool) {
        let read = Cell::new(false);
        let answer = memo.get(root, &[PathBuf::from(rel)], || {
            read.set(true);
            root.read_string(rel).unwrap_or_default()
        });
        (answer, read.get())
    }

    /// Lets the files settle: ctime cannot be set, so this waits.
    fn age() {
        std::thread::sleep(SETTLED + Duration::from_millis(50));
    }

    #[test]
    fn kept_while_the_file_is_the_same_and_settled() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let file = dir.path().join("log");
        std::fs::write(&file, "one").unwrap();
        let memo = FileMemo::default();
        // Just written: read each time until it has been quiet for a while.
        assert_eq!(check(&memo, &root, "log"), ("one".into(), true));
        assert_eq!(check(&memo, &root, "log"), ("one".into(), true));
        age();
        assert_eq!(check(&memo, &root, "log"), ("one".into(), true));
        assert_eq!(check(&memo, &root, "log"), ("one".into(), false));
        // Same size, new content: the change time tells.
        std::fs::write(&file, "two").unwrap();
        assert_eq!(check(&memo, &root, "log"), ("two".into(), true));
        // Replaced by another file (rotation), then gone.
        age();
        assert_eq!(check(&memo, &root, "log"), ("two".into(), true));
        std::fs::write(dir.path().join("new"), "three").unwrap();
        std::fs::rename(dir.path().join("new"), &file).unwrap();
        assert_eq!(check(&memo, &root, "log"), ("three".into(), true));
        // Gone: that is a state too, until the file comes back.
        std::fs::remove_file(&file).unwrap();
        assert_eq!(check(&memo, &root, "log"), (String::new(), true));
        assert_eq!(check(&memo, &root, "log"), (String::new(), false));
        std::fs::write(&file, "four").unwrap();
        assert_eq!(check(&memo, &root, "log"), ("four".into(), true));
    }

    #[test]
    fn other_paths_are_another_question() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        std::fs::write(dir.path().join("a"), "a").unwrap();
        std::fs::write(dir.path().join("b"), "b").unwrap();
        age();
        let memo = FileMemo::default();
        assert_eq!(check(&memo, &root, "a"), ("a".into(), true));
        assert_eq!(check(&memo, &root, "a"), ("a".into(), false));
        assert_eq!(check(&memo, &root, "b"), ("b".into(), true));
    }

    #[test]
    fn server_answers_are_kept_for_the_same_servers_and_a_while() {
        let asked = Cell::new(0);
        let ask = |memo: &ServerMemo<u32>, servers: &[u32]| {
            memo.get(servers.iter().copied().collect(), || {
                asked.set(asked.get() + 1);
                asked.get()
            })
        };
        let long = ServerMemo::new(Duration::from_secs(60));
        assert_eq!(ask(&long, &[10, 11]), 1);
        assert_eq!(ask(&long, &[10, 11]), 1);
        // A server process that comes or goes is a client that did.
        assert_eq!(ask(&long, &[10, 11, 12]), 2);
        assert_eq!(ask(&long, &[10, 12]), 3);
        assert_eq!(ask(&long, &[10, 12]), 3);
        // A refresh of 0 asks every time; past the refresh, asked again.
        let never = ServerMemo::new(Duration::ZERO);
        assert_eq!(ask(&never, &[10, 12]), 4);
        assert_eq!(ask(&never, &[10, 12]), 5);
        let short = ServerMemo::new(Duration::from_millis(10));
        assert_eq!(ask(&short, &[10, 12]), 6);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(ask(&short, &[10, 12]), 7);
    }
}
