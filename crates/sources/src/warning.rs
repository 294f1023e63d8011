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
    /// A process disappeared between listing `/proc` and reading its files (normal churn).
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
        let kind = match err.kind() {
            std::io::ErrorKind::PermissionDenied => WarningKind::PermissionDenied,
            std::io::ErrorKind::NotFound => WarningKind::Vanished,
            _ => WarningKind::Io,
        };
        Warning::new(kind, path, err.to_string())
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
