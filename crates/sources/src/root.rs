//! [`Root`]: the directory every path is resolved against, with injectable failures for tests.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A directory with the host's shape (`proc/`, `run/`, `etc/`, `dev/` …).
///
/// [`Root::host`] is `/`; fixtures use [`Root::new`] on a temp dir. All reads in this crate go
/// through a `Root` with paths relative to it (`"proc/1/stat"`), never absolute literals.
///
/// A `Root` may carry *denied* paths: any access at or below one fails with
/// `PermissionDenied`. Tests use this to simulate EACCES (for example an fd directory of a
/// process owned by someone else), because tests often run as root and `chmod` does not stop root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    dir: PathBuf,
    denied: Arc<[PathBuf]>,
}

impl Root {
    /// The real host: `/`.
    pub fn host() -> Root {
        Root::new("/")
    }

    /// A root at `dir` (a fixture directory, or a container's root file system).
    pub fn new(dir: impl Into<PathBuf>) -> Root {
        Root {
            dir: dir.into(),
            denied: Arc::from(Vec::new()),
        }
    }

    /// The same root, where every access at or below each of `paths` (relative) fails with
    /// `PermissionDenied`.
    pub fn with_denied<I, P>(mut self, paths: I) -> Root
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        let mut all: Vec<PathBuf> = self.denied.to_vec();
        all.extend(paths.into_iter().map(|p| strip_slash(&p.into())));
        self.denied = Arc::from(all);
        self
    }

    /// Whether this is the real host (`/`, nothing denied): only then are sources that are
    /// not files asked (the system D-Bus, sock_diag netlink, NSS), since they always describe
    /// the running system, never a fixture or another root file system.
    pub fn is_host(&self) -> bool {
        self.dir == Path::new("/") && self.denied.is_empty()
    }

    /// The root directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The absolute path of `rel` under this root (a leading `/` in `rel` is ignored).
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.join(strip_slash(rel.as_ref()))
    }

    fn check(&self, rel: &Path) -> io::Result<()> {
        if self.denied.is_empty() {
            return Ok(());
        }
        let rel = strip_slash(rel);
        if self.denied.iter().any(|d| rel.starts_with(d)) {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        Ok(())
    }

    /// Reads a whole file.
    pub fn read(&self, rel: impl AsRef<Path>) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_into(rel, &mut buf)?;
        Ok(buf)
    }

    /// Reads a whole file into `buf` (cleared first), reusing its allocation.
    ///
    /// Unlike `fs::read` this issues no `statx`/`lseek`: `/proc` files report size 0 anyway,
    /// and the scan reads hundreds of thousands of them, so syscalls per file matter.
    /// A read that returns less than the free buffer space is taken as end of file: procfs
    /// (`seq_file` and the cmdline reader) fill the whole request unless at EOF, and so does
    /// a regular file on a local file system. That saves the final zero-length read.
    pub fn read_into(&self, rel: impl AsRef<Path>, buf: &mut Vec<u8>) -> io::Result<()> {
        let rel = rel.as_ref();
        self.check(rel)?;
        buf.clear();
        let mut file = fs::File::open(self.path(rel))?;
        loop {
            if buf.capacity() - buf.len() < 512 {
                buf.reserve(4096);
            }
            let len = buf.len();
            buf.resize(buf.capacity(), 0);
            match file.read(&mut buf[len..]) {
                Ok(0) => {
                    buf.truncate(len);
                    return Ok(());
                }
                Ok(n) => {
                    let short = len + n < buf.len();
                    buf.truncate(len + n);
                    if short {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(len),
                Err(e) => {
                    buf.truncate(len);
                    return Err(e);
                }
            }
        }
    }

    /// Reads at most `max` bytes from the start of a file (`/proc/<pid>/environ` can be
    /// megabytes; what is wanted is near its start).
    pub fn read_prefix(&self, rel: impl AsRef<Path>, max: usize) -> io::Result<Vec<u8>> {
        let rel = rel.as_ref();
        self.check(rel)?;
        let mut buf = Vec::with_capacity(max.min(16 * 1024));
        fs::File::open(self.path(rel))?
            .take(max as u64)
            .read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// Reads at most the last `max` bytes of a file, starting at a multiple of `align`
    /// bytes (whole records of a binary log such as wtmp; 1 for text).
    pub fn read_tail(&self, rel: impl AsRef<Path>, max: u64, align: u64) -> io::Result<Vec<u8>> {
        use std::io::{Seek, SeekFrom};
        let rel = rel.as_ref();
        self.check(rel)?;
        let mut file = fs::File::open(self.path(rel))?;
        let len = file.metadata()?.len();
        let align = align.max(1);
        let start = len.saturating_sub(max).div_ceil(align) * align;
        let want = len.saturating_sub(start);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity(want as usize);
        file.take(want).read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// Reads a whole file as lossy UTF-8.
    pub fn read_string(&self, rel: impl AsRef<Path>) -> io::Result<String> {
        let bytes = self.read(rel)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// The names of the entries of a directory (lossy UTF-8), unsorted.
    pub fn read_dir_names(&self, rel: impl AsRef<Path>) -> io::Result<Vec<String>> {
        let rel = rel.as_ref();
        self.check(rel)?;
        let mut out = Vec::new();
        for entry in fs::read_dir(self.path(rel))? {
            out.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }

    /// The target of a symbolic link (`/proc/<pid>/exe`, `/proc/<pid>/fd/<n>`).
    pub fn read_link(&self, rel: impl AsRef<Path>) -> io::Result<PathBuf> {
        let rel = rel.as_ref();
        self.check(rel)?;
        fs::read_link(self.path(rel))
    }

    /// Metadata of a path, following links.
    pub fn metadata(&self, rel: impl AsRef<Path>) -> io::Result<fs::Metadata> {
        let rel = rel.as_ref();
        self.check(rel)?;
        fs::metadata(self.path(rel))
    }

    /// Whether a path exists (a denied path counts as existing, as with a real EACCES).
    pub fn exists(&self, rel: impl AsRef<Path>) -> bool {
        let rel = rel.as_ref();
        if self.check(rel).is_err() {
            return true;
        }
        fs::symlink_metadata(self.path(rel)).is_ok()
    }
}

fn strip_slash(p: &Path) -> PathBuf {
    p.strip_prefix("/").unwrap_or(p).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_root() {
        let r = Root::new("/fixture");
        assert_eq!(
            r.path("/proc/1/stat"),
            PathBuf::from("/fixture/proc/1/stat")
        );
        assert_eq!(r.path("proc/1/stat"), PathBuf::from("/fixture/proc/1/stat"));
        assert_eq!(Root::host().path("proc"), PathBuf::from("/proc"));
        assert!(Root::host().is_host());
        assert!(!r.is_host());
        assert!(!Root::host().with_denied(["proc/1/fd"]).is_host());
    }

    #[test]
    fn denied_paths_fail_with_permission_denied() {
        let dir = std::env::temp_dir();
        let r = Root::new(dir).with_denied(["/proc/7/fd"]);
        let err = r.read_dir_names("proc/7/fd").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        let err = r.read_link("proc/7/fd/3").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    }
}
