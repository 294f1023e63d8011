//! What was read from files, kept while the files stay as they were: the live model's
//! memory of sshd's logs, utmp and the account files, so that a refresh re-reads a file
//! only when it changed.
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
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

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

/// The files the live model remembers, one memo per source.
#[derive(Debug, Default)]
pub struct FileMemos {
    /// sshd's logs: the authentications in their last MiB.
    pub sshd_logs: FileMemo<crate::Collected<Vec<crate::parse::sshd::SshAuth>>>,
    /// utmp's records, before they are checked against the processes.
    pub utmp: FileMemo<crate::Collected<Option<Vec<crate::parse::utmp::UtmpRecord>>>>,
    /// `/etc/passwd` (with `/etc/shadow`) and `/etc/group`.
    pub accounts: FileMemo<Accounts>,
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
}
