//! systemd-logind over D-Bus: `org.freedesktop.login1.Manager.ListSessions`, then each
//! session's `org.freedesktop.login1.Session` properties, into [`LogindSession`].
//!
//! This is the primary logind source on the real host when the system bus is there and the
//! name `org.freedesktop.login1` has an owner; otherwise the scan reads the
//! `/run/systemd/sessions/*` files. Every step is bounded: the whole exchange runs on its own
//! thread with zbus's method timeout, and the caller waits at most `timeout` for it, so a hung
//! bus never hangs a query (the thread ends by itself when its calls time out).

use std::collections::HashMap;
use std::io;
use std::sync::mpsc;
use std::time::Duration;

use zbus::{OwnedObjectPath, OwnedVariant, Variant};

use crate::parse::logind::{LogindSession, PropValue, session_from_properties};

/// The bus name of systemd-logind.
pub const LOGIN1: &str = "org.freedesktop.login1";

/// The system bus when `DBUS_SYSTEM_BUS_ADDRESS` is not set.
pub const DEFAULT_SYSTEM_BUS: &str = "unix:path=/run/dbus/system_bus_socket";

/// Why the bus gave no sessions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// There is no bus at that address (no socket, or nobody listening): fall back silently.
    #[error("no D-Bus daemon at {0}")]
    NoBus(String),
    /// The bus or logind answered with an error, or the exchange failed.
    #[error("{0}")]
    Failed(String),
    /// Nothing came back in time.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
}

/// The system bus address: `DBUS_SYSTEM_BUS_ADDRESS`, else [`DEFAULT_SYSTEM_BUS`].
pub fn system_bus_address() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SYSTEM_BUS.to_string())
}

/// The socket path of a `unix:path=…` address (the first of a `;`-separated list), if that is
/// its form.
pub fn unix_path(address: &str) -> Option<&str> {
    let first = address.split(';').next()?;
    let params = first.strip_prefix("unix:")?;
    params.split(',').find_map(|kv| kv.strip_prefix("path="))
}

/// Reads logind's sessions from the bus at `address`, within `timeout` in all.
///
/// `Ok(None)`: the bus is there but nobody owns `org.freedesktop.login1` (no logind).
/// A session that ends between the listing and the reading of its properties is left out.
pub fn read_logind_bus(
    address: &str,
    timeout: Duration,
) -> Result<Option<Vec<LogindSession>>, BusError> {
    if let Some(path) = unix_path(address)
        && !std::path::Path::new(path).exists()
    {
        return Err(BusError::NoBus(address.to_string()));
    }
    let (tx, rx) = mpsc::channel();
    let owned = address.to_string();
    std::thread::Builder::new()
        .name("logind-dbus".into())
        .spawn(move || {
            // The receiver may have given up already; then the answer is dropped.
            let _ = tx.send(zbus::block_on(exchange(&owned, timeout)));
        })
        .map_err(|e| BusError::Failed(format!("starting the D-Bus thread: {e}")))?;
    match rx.recv_timeout(timeout) {
        Ok(answer) => answer.map_err(|e| classify(address, e)),
        Err(_) => Err(BusError::TimedOut(timeout)),
    }
}

fn classify(address: &str, e: zbus::Error) -> BusError {
    if let zbus::Error::InputOutput(io) = &e
        && matches!(
            io.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
        )
    {
        return BusError::NoBus(address.to_string());
    }
    if let zbus::Error::InputOutput(io) = &e
        && io.kind() == io::ErrorKind::TimedOut
    {
        return BusError::Failed(format!("D-Bus call timed out: {io}"));
    }
    BusError::Failed(e.to_string())
}

async fn exchange(address: &str, timeout: Duration) -> zbus::Result<Option<Vec<LogindSession>>> {
    let conn = zbus::connection::Builder::address(address)
        .method_timeout(timeout)
        .build()
        .await?;
    let reply = conn
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "NameHasOwner",
            &(LOGIN1,),
        )
        .await?;
    let has_owner: bool = reply.body().deserialize()?;
    if !has_owner {
        return Ok(None);
    }
    let reply = conn
        .call_method(
            Some(LOGIN1),
            "/org/freedesktop/login1",
            Some("org.freedesktop.login1.Manager"),
            "ListSessions",
            &(),
        )
        .await?;
    let listed: Vec<(String, u32, String, String, OwnedObjectPath)> = reply.body().deserialize()?;
    let mut out = Vec::with_capacity(listed.len());
    for (id, _uid, _user, _seat, path) in listed {
        let reply = conn
            .call_method(
                Some(LOGIN1),
                path.as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "GetAll",
                &("org.freedesktop.login1.Session",),
            )
            .await;
        let reply = match reply {
            Ok(r) => r,
            // Ended since the listing (UnknownObject and friends): not a session any more.
            Err(zbus::Error::MethodError(..)) => continue,
            Err(e) => return Err(e),
        };
        let props: HashMap<String, OwnedVariant> = reply.body().deserialize()?;
        let mut props: Vec<(String, PropValue)> = props
            .into_iter()
            .map(|(k, v)| (k, prop_value(&v)))
            .collect();
        props.sort_by(|a, b| a.0.cmp(&b.0));
        out.push(session_from_properties(&id, &props));
    }
    Ok(Some(out))
}

fn prop_value(v: &Variant<'_>) -> PropValue {
    match v {
        Variant::Str(s) => PropValue::Str(s.to_string()),
        Variant::ObjectPath(p) => PropValue::Str(p.as_str().to_string()),
        Variant::Bool(b) => PropValue::Bool(*b),
        Variant::U32(n) => PropValue::U32(*n),
        Variant::I32(n) => PropValue::U32(*n as u32),
        Variant::U16(n) => PropValue::U32(u32::from(*n)),
        Variant::U8(n) => PropValue::U32(u32::from(*n)),
        Variant::U64(n) => PropValue::U64(*n),
        Variant::I64(n) => PropValue::U64(*n as u64),
        Variant::Variant(inner) => prop_value(inner),
        Variant::Structure(s) => PropValue::Struct(s.fields().iter().map(prop_value).collect()),
        _ => PropValue::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_paths() {
        assert_eq!(
            unix_path(DEFAULT_SYSTEM_BUS),
            Some("/run/dbus/system_bus_socket")
        );
        assert_eq!(
            unix_path("unix:guid=x,path=/tmp/b;tcp:host=h"),
            Some("/tmp/b")
        );
        assert_eq!(unix_path("unix:abstract=/tmp/dbus-x"), None);
        assert_eq!(unix_path("tcp:host=127.0.0.1,port=1"), None);
    }

    #[test]
    fn missing_socket_is_no_bus() {
        let e = read_logind_bus("unix:path=/nonexistent/linmgmt/bus", Duration::from_secs(1))
            .unwrap_err();
        assert!(matches!(e, BusError::NoBus(_)), "{e:?}");
    }
}
