//! The security event log: logons, logoffs and server sessions opened and closed, one JSON
//! object per line, in the two schemas SIEMs ingest.
//!
//! * [`classify`] reads a WMI event (`__InstanceCreationEvent` / `__InstanceDeletionEvent`
//!   of a `Win32_LogonSession` or `Win32_ServerSession`) into a [`SessionEvent`];
//!   modifications are not session events, and other classes have no mapping.
//! * [`ocsf::to_json`] writes an OCSF 1.8.0 Authentication event (class 3002), and
//!   [`ecs::to_json`] an ECS 9.4.0 document (`event.category: [authentication, session]`).
//! * [`Reported`] is what a log has said: the sessions it reported as logged on and its next
//!   sequence number. Applied to live events it drops repeats; compared with the sessions
//!   open now (after a restart, or after events were lost) it gives the missing logoffs and
//!   logons. Its JSON is the state file of `linmgmt serve --event-log`.
//!
//! The crate is pure: the caller reads the host, the clock, the state file and the
//! accounts (for uids), and writes the lines.

#![deny(missing_docs)]

pub mod ecs;
pub mod ocsf;
mod session;
mod state;

pub use session::{
    Activity, Classified, Kind, Origin, Remote, Session, SessionEvent, classify, logon_type_name,
    message,
};
pub use state::{Reported, StateError};

use jiff::Timestamp;
use std::str::FromStr;

/// The schema of the lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OCSF Authentication events.
    Ocsf,
    /// Elastic Common Schema documents.
    Ecs,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "ocsf" => Ok(Format::Ocsf),
            "ecs" => Ok(Format::Ecs),
            _ => Err(format!(
                "unknown event log format '{s}' (expected ocsf or ecs)"
            )),
        }
    }
}

/// What every line says about where it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// The host's name (`device.hostname`, `host.name`).
    pub host: String,
    /// linmgmt's version (`metadata.product.version`, `agent.version`).
    pub version: String,
}

/// One event in a format, as a JSON value.
pub fn to_json(format: Format, e: &SessionEvent, ctx: &Context) -> serde_json::Value {
    match format {
        Format::Ocsf => ocsf::to_json(e, ctx),
        Format::Ecs => ecs::to_json(e, ctx),
    }
}

/// One event in a format, as a line (with its newline).
pub fn to_line(format: Format, e: &SessionEvent, ctx: &Context) -> String {
    let mut line = to_json(format, e, ctx).to_string();
    line.push('\n');
    line
}

/// Milliseconds since the epoch (OCSF's timestamps).
fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// RFC 3339 in UTC with milliseconds (ECS dates): `2026-08-01T10:00:02.000Z`.
fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
