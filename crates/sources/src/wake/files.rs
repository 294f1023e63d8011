//! The inotify thread: watches files and directories under the root and re-arms them.
//!
//! An inotify watch follows an inode, not a name, while the files we care about are replaced
//! under their names (utmp writers and logind write a temporary file and rename it over the
//! old one; logrotate moves wtmp away), and some appear only later (nfsd's client directory
//! when the server starts). So once a second, and after any event that says a watched inode
//! went away, each path is looked up again: a path whose inode is no longer the watched one
//! is re-watched, a path that appeared is watched, and both count as a change. Comparing
//! inodes also covers an old file that is still open somewhere, whose `DELETE_SELF` the
//! kernel sends only once the last descriptor closes.
//!
//! rustix's inotify (a non-blocking descriptor read through its `Reader`) and `poll` with a
//! one-second timeout, which is also how often the stop flag is looked at.

use std::collections::BTreeSet;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fd::OwnedFd;
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;

use super::{Stop, Wake, display_path, send};
use crate::Root;

/// How often paths are looked up again, and the poll timeout.
const TICK: Duration = Duration::from_secs(1);
/// How long to let events gather once one arrived: a login writes utmp, wtmp and logind's
/// files in a burst of several writes, which read together make one wake per path.
const GATHER: Duration = Duration::from_millis(20);

/// Content changes of a file, entries of a directory, and the watched inode itself going away.
/// Attribute changes are left out: utmp readers do not care about them.
const FLAGS: WatchFlags = WatchFlags::MODIFY
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::CREATE)
    .union(WatchFlags::DELETE)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF);

/// Events after which the watched inode no longer stands for its path.
const GONE: ReadFlags = ReadFlags::DELETE_SELF
    .union(ReadFlags::MOVE_SELF)
    .union(ReadFlags::IGNORED)
    .union(ReadFlags::UNMOUNT);

/// What [`start`] set up.
pub(super) struct Started {
    /// Display paths watched from the start.
    pub watched: Vec<String>,
    /// Paths that exist but could not be watched, with why (retried every tick).
    pub failed: Vec<String>,
}

/// Adds the watches of the paths that exist and starts the thread; the paths that do not exist
/// yet are looked for every tick.
pub(super) fn start(
    root: &Root,
    paths: &[PathBuf],
    tx: SyncSender<Wake>,
    stop: Arc<Stop>,
) -> io::Result<Started> {
    let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
    let mut watcher = Watcher {
        fd,
        root: root.clone(),
        watches: paths
            .iter()
            .map(|p| Watch {
                given: p.clone(),
                wd: None,
                inode: None,
            })
            .collect(),
        tx,
        buf: vec![MaybeUninit::uninit(); 16 * 1024],
    };
    let mut started = Started {
        watched: Vec::new(),
        failed: Vec::new(),
    };
    for i in 0..watcher.watches.len() {
        let shown = display_path(&watcher.watches[i].given);
        match watcher.add(i) {
            Ok(true) => started.watched.push(shown),
            Ok(false) => {}
            Err(e) => started.failed.push(format!("{shown}: {e}")),
        }
    }
    std::thread::Builder::new()
        .name("wake-files".into())
        .spawn(move || watcher.run(&stop))?;
    Ok(started)
}

struct Watch {
    /// The path as the caller gave it, which is what a [`Wake::File`] carries.
    given: PathBuf,
    wd: Option<i32>,
    /// `(dev, ino)` of the watched inode, as looked up just before adding the watch.
    inode: Option<(u64, u64)>,
}

struct Watcher {
    fd: OwnedFd,
    root: Root,
    watches: Vec<Watch>,
    tx: SyncSender<Wake>,
    buf: Vec<MaybeUninit<u8>>,
}

impl Watcher {
    /// The inode the path names now; `None` when it does not exist (or is denied).
    fn inode(&self, i: usize) -> Option<(u64, u64)> {
        let m = self.root.metadata(&self.watches[i].given).ok()?;
        Some((m.dev(), m.ino()))
    }

    /// Watches path `i` if it exists: `Ok(true)` when it is watched now, `Ok(false)` when it
    /// does not exist.
    fn add(&mut self, i: usize) -> io::Result<bool> {
        // Looked up before adding, so that a replacement in between makes the two differ and
        // the next tick re-arms, rather than the other way round, which would miss it.
        let Some(inode) = self.inode(i) else {
            return Ok(false);
        };
        let path = self.root.path(&self.watches[i].given);
        match inotify::add_watch(&self.fd, &path, FLAGS) {
            Ok(wd) => {
                self.watches[i].wd = Some(wd);
                self.watches[i].inode = Some(inode);
                Ok(true)
            }
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Forgets watch `wd` for every path that shares it (hard links, a path given twice: the
    /// kernel hands out one watch per inode).
    fn forget(&mut self, wd: i32) {
        for w in &mut self.watches {
            if w.wd == Some(wd) {
                w.wd = None;
                w.inode = None;
            }
        }
    }

    /// Re-arms paths whose inode changed and watches paths that appeared; both are changes.
    fn refresh(&mut self, changed: &mut BTreeSet<usize>) {
        for i in 0..self.watches.len() {
            let Some(wd) = self.watches[i].wd else {
                continue;
            };
            if self.inode(i) != self.watches[i].inode {
                // Fails when the kernel dropped the watch already (the inode is gone).
                let _ = inotify::remove_watch(&self.fd, wd);
                self.forget(wd);
                changed.insert(i);
            }
        }
        for i in 0..self.watches.len() {
            // A path that cannot be watched (no permission, the watch limit) is tried again
            // next time; the poll interval covers it meanwhile.
            if self.watches[i].wd.is_none() && matches!(self.add(i), Ok(true)) {
                changed.insert(i);
            }
        }
    }

    /// Reads every queued event: the paths they concern go into `changed`. Returns whether a
    /// watched inode went away (then paths must be looked up again) and whether the queue
    /// overflowed.
    fn read_events(&mut self, changed: &mut BTreeSet<usize>) -> io::Result<(bool, bool)> {
        let (mut gone, mut overflow) = (false, false);
        let mut dropped = Vec::new();
        let mut reader = inotify::Reader::new(&self.fd, &mut self.buf);
        loop {
            let (wd, flags) = match reader.next() {
                Ok(e) => (e.wd(), e.events()),
                Err(Errno::WOULDBLOCK) => break,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            };
            if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                overflow = true;
                continue;
            }
            for (i, w) in self.watches.iter().enumerate() {
                if w.wd == Some(wd) {
                    changed.insert(i);
                }
            }
            if flags.intersects(GONE) {
                gone = true;
            }
            if flags.contains(ReadFlags::IGNORED) {
                dropped.push(wd);
            }
        }
        // The kernel removed these watches itself (inode deleted, file system unmounted).
        for wd in dropped {
            self.forget(wd);
        }
        Ok((gone, overflow))
    }

    fn run(mut self, stop: &Stop) {
        let timeout = Timespec {
            tv_sec: TICK.as_secs() as i64,
            tv_nsec: 0,
        };
        let mut last_refresh = Instant::now();
        while !stop.requested() {
            let ready = {
                let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
                match rustix::event::poll(&mut fds, Some(&timeout)) {
                    Ok(n) => n > 0,
                    Err(Errno::INTR) => false,
                    Err(_) => {
                        send(&self.tx, Wake::Overrun);
                        return;
                    }
                }
            };
            let mut changed = BTreeSet::new();
            let (mut gone, mut overflow) = (false, false);
            if ready {
                std::thread::sleep(GATHER);
                match self.read_events(&mut changed) {
                    Ok(r) => (gone, overflow) = r,
                    // An inotify descriptor that cannot be read any more will not recover.
                    Err(_) => {
                        send(&self.tx, Wake::Overrun);
                        return;
                    }
                }
            }
            // Busy files (utmp on a host with many logins) may never let the poll time out,
            // so the tick is measured, not inferred from timeouts.
            if gone || overflow || !ready || last_refresh.elapsed() >= TICK {
                self.refresh(&mut changed);
                last_refresh = Instant::now();
            }
            if overflow && !send(&self.tx, Wake::Overrun) {
                return;
            }
            for i in changed {
                if !send(&self.tx, Wake::File(self.watches[i].given.clone())) {
                    return;
                }
            }
        }
    }
}
