//! Pure parsers and encoders: bytes or text in, plain data out, no file system access.
//!
//! Keeping them pure makes them testable from literals, fuzzable, and reusable by other
//! transports: the logind D-Bus path fills the same structs as the session files, and the
//! sock_diag netlink answer the same [`net::TcpEntry`] rows as `/proc/net/tcp`.

pub mod accounts;
pub mod audit;
pub mod environ;
pub mod logind;
pub mod net;
pub mod nfs;
pub mod os_release;
pub mod proc;
pub mod proc_connector;
pub mod proc_counters;
pub mod smb;
pub mod smbconf;
pub mod sock_diag;
pub mod sshd;
pub mod utmp;

/// A file's content did not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {detail}")]
pub struct ParseError {
    /// What was being parsed (`"/proc/<pid>/stat"`, `"utmp record"` …).
    pub what: &'static str,
    /// What was wrong.
    pub detail: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, detail: impl Into<String>) -> ParseError {
        ParseError {
            what,
            detail: detail.into(),
        }
    }
}

/// Lossy UTF-8 without copying when the bytes are valid.
pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
