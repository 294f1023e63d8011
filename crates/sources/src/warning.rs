//! Partial results: [`Collected`] and the [`Warning`]s that explain what is missing.

use std::fmt;
use std::path::PathBuf;

/// A result that may be partial: everything that could be read, plus why the rest could not.
///
/// A scan never fails as a whole because one pid vanished or one file was unreadable;
/// those become warnings next to the items that were read.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected<T> {
    /// What was read.
    pub items: T,
    /// What went wrong on the way, in the order it happened.
    pub warnings: Vec<Warning>,
}

impl<T> Collected<T> {
    /// A result with no warnings.
    pub fn ok(items: T) -> Collected<T> {
        Collected {
            items,
            warnings: Vec::new(),
        }
    }

    /// Moves the warnings into `sink` and returns the items.
    pub fn into_items(self, sink: &mut Vec<Warning>) -> T {
        sink.extend(self.warnings);
        self.items
    }
}

/// Why something could not be read completely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarningKind {
    /// A process disappeared between listing `/proc` and reading its files (normal churn,
    /// as `ps` sees it: kept for tests and debugging, never shown to users; see
    /// [`Warning::is_actionable`]).
    Vanished,
    /// EACCES/EPERM: not allowed to read (for example another user's fd directory).
    PermissionDenied,
    /// Another I/O error.
    Io,
    /// The content did not parse; the item was skipped or read partially.
    Parse,
    /// A binary file ended in the middle of a record.
    Truncated,
    /// An external command failed, timed out or printed something unexpected.
    Command,
    /// A record was dropped as stale (for example a utmp entry of a dead pid).
    Stale,
}

/// One problem met while collecting, with the path it concerns when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The kind of problem.
    pub kind: WarningKind,
    /// The path relative to the root (`proc/123/fd`), when the problem concerns a file.
    pub path: Option<PathBuf>,
    /// A human-readable explanation.
    pub message: String,
}

impl Warning {
    /// A warning about `path`.
    pub fn new(kind: WarningKind, path: impl Into<PathBuf>, message: impl Into<String>) -> Warning {
        Warning {
            kind,
            path: Some(path.into()),
            message: message.into(),
        }
    }

    /// A warning that concerns no particular file.
    pub fn general(kind: WarningKind, message: impl Into<String>) -> Warning {
        Warning {
            kind,
            path: None,
            message: message.into(),
        }
    }

    /// A warning from an I/O error, classifying EACCES and ENOENT.
    pub fn io(path: impl Into<PathBuf>, err: &std::io::Error) -> Warning {
        // ESRCH: a `/proc/<pid>` file opened just before its process was reaped.
        const ESRCH: i32 = 3;
        let kind = match err.kind() {
            std::io::ErrorKind::PermissionDenied => WarningKind::PermissionDenied,
            std::io::ErrorKind::NotFound => WarningKind::Vanished,
            _ if err.raw_os_error() == Some(ESRCH) => WarningKind::Vanished,
            _ => WarningKind::Io,
        };
        Warning::new(kind, path, err.to_string())
    }
}

impl Warning {
    /// Whether a user can do something about it (read as root, repair or remove a file,
    /// install a tool): everything but churn. A process that exits while it is being read
    /// is normal on a busy host, and `ps` does not warn about it either.
    pub fn is_actionable(&self) -> bool {
        !matches!(self.kind, WarningKind::Vanished | WarningKind::Stale)
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{:?}: {}: {}", self.kind, p.display(), self.message),
            None => write!(f, "{:?}: {}", self.kind, self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_is_not_actionable() {
        let gone = std::io::Error::from(std::io::ErrorKind::NotFound);
        let reaped = std::io::Error::from_raw_os_error(3); // ESRCH
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let w = |e: &std::io::Error| Warning::io("proc/7/cmdline", e);
        assert_eq!(w(&gone).kind, WarningKind::Vanished);
        assert_eq!(w(&reaped).kind, WarningKind::Vanished);
        assert!(!w(&gone).is_actionable() && !w(&reaped).is_actionable());
        assert!(w(&denied).is_actionable());
        let corrupt = Warning::new(WarningKind::Parse, "run/utmp", "bad");
        assert!(corrupt.is_actionable());
    }
}
