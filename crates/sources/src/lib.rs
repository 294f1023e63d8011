//! Linux session facts, read from a [`Root`] and returned as plain data.
//!
//! This crate knows nothing of CIM: it answers "what does Linux say about sessions right now"
//! (processes and their audit sessions, sshd connections, utmp, systemd-logind, Samba,
//! NFSv4 clients, accounts), and the providers layer turns that into instances.
//!
//! Layout:
//! - [`parse`]: the pure parsers and encoders over `&[u8]`/`&str` (the `linmgmt-parse` crate,
//!   re-exported); they never touch the file system.
//! - [`read`]: thin I/O over a [`Root`]; every collector returns [`Collected`] partial results,
//!   because a pid vanishing mid-scan or an unreadable file is normal, not a failure.
//! - [`command`]: running external tools (`smbstatus`) behind the [`command::CommandRunner`] trait.
//! - [`snapshot`]: [`snapshot::scan`] gathers everything in one pass over `/proc`.
//! - [`identity`]: what tells a session's origin once its opener (sshd, cron) is gone, and
//!   [`state`]: linmgmt's own record of what it learned about live sessions (`run/linmgmt`).
//! - [`wake`]: what tells an event watcher to scan again at once (kernel process events,
//!   inotify on files under the root, logind's session signals), each on a thread of its own.
//!
//! **Architecture invariant:** nothing reads a literal `/proc` or `/run` path; every path is
//! relative to a [`Root`], so every test runs on a fixture directory and the same code serves `/`.
//! The sources that are not files — logind over D-Bus ([`read::logind_bus`]), sock_diag
//! netlink ([`read::sock_diag`]) and NSS ([`read::nss_account`]) — are asked only when
//! [`Root::is_host`], each bounded in time and with the files as the fallback. The kernel's
//! process events ([`wake`]) are likewise only for the host; logind's signals go to whatever
//! bus address the caller names, as [`LogindSource::Bus`] does.

pub mod command;
pub mod identity;
pub mod joins;
pub mod memo;
pub mod model;
pub mod read;
mod root;
pub mod snapshot;
pub mod state;
pub mod wake;
mod warning;

/// The pure parsers, in their own crate (`linmgmt-parse`).
pub use linmgmt_parse as parse;
pub use root::Root;
pub use snapshot::{Known, LogindSource, ScanOptions, SmbStatusMode, Snapshot, scan, scan_with};
pub use warning::{Collected, Warning, WarningKind};

pub use linmgmt_parse::{AUDIT_UNSET, CLOCK_TICKS_PER_SECOND};
