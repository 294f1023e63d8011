//! Pure parsers and encoders of Linux session facts: bytes or text in, plain data out, no
//! file system access, no sockets, no threads (dependencies: `jiff`, `serde_json`,
//! `thiserror`). This is the crate the fuzz targets link.
//!
//! Keeping them pure makes them testable from literals, fuzzable, and reusable by other
//! transports and by both the full scan and the live model in `linmgmt-sources`: the logind D-Bus path fills the same structs as the session files, and the
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

/// Kernel clock ticks per second (`USER_HZ`, `sysconf(_SC_CLK_TCK)`).
///
/// The kernel exports `/proc/<pid>/stat` times in `USER_HZ`, which is fixed at 100 on every
/// architecture we target (x86_64, aarch64, s390x, ppc64le, riscv64) regardless of `CONFIG_HZ`.
/// Using the constant keeps the crate free of `sysconf` FFI and makes fixtures host-independent.
pub const CLOCK_TICKS_PER_SECOND: u64 = 100;

/// The value `/proc/<pid>/loginuid` and `/proc/<pid>/sessionid` hold when unset (`(u32)-1`).
pub const AUDIT_UNSET: u32 = u32::MAX;

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
