//! systemd-logind sessions: the `/run/systemd/sessions/<id>` KEY=VALUE files.
//!
//! The files say "private data, do not parse", but sd-login's `sd_session_get_*` reads exactly
//! these, and they are the only logind source without D-Bus. [`LogindSession`] is filled the
//! same way from the D-Bus `org.freedesktop.login1.Session` properties
//! ([`session_from_properties`], used by `read::logind_bus`).
//! Parsing is lenient: unknown keys are kept in `extra`, bad values become `None`.

use jiff::Timestamp;

/// One logind session, from its file or from D-Bus properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogindSession {
    /// Session id: the audit session id in decimal when valid, else `c<N>` (file name / `Id`).
    pub id: String,
    /// `UID` / `User`.
    pub uid: Option<u32>,
    /// `USER` / `Name`.
    pub user: Option<String>,
    /// `ACTIVE` / `Active`.
    pub active: Option<bool>,
    /// `STATE` / `State`: opening, online, active, closing.
    pub state: Option<String>,
    /// `REMOTE` / `Remote`.
    pub remote: Option<bool>,
    /// `TYPE` / `Type`: unspecified, tty, x11, wayland, mir, web.
    pub session_type: Option<String>,
    /// `CLASS` / `Class`: user, greeter, lock-screen, background, manager …
    pub class: Option<String>,
    /// `SCOPE` / `Scope`: the systemd scope unit.
    pub scope: Option<String>,
    /// `SEAT` / `Seat`.
    pub seat: Option<String>,
    /// `TTY` / `TTY` (empty for ssh: pam_systemd clears it).
    pub tty: Option<String>,
    /// `DISPLAY` / `Display`.
    pub display: Option<String>,
    /// `REMOTE_HOST` / `RemoteHost` (PAM_RHOST).
    pub remote_host: Option<String>,
    /// `REMOTE_USER` / `RemoteUser` (PAM_RUSER).
    pub remote_user: Option<String>,
    /// `SERVICE` / `Service`: the PAM service (`sshd`, `login`, `cron` …).
    pub service: Option<String>,
    /// `DESKTOP` / `Desktop`.
    pub desktop: Option<String>,
    /// `VTNR` / `VTNr`.
    pub vtnr: Option<u32>,
    /// `LEADER` / `Leader`: the pid that registered the session (sshd `[priv]` for ssh).
    pub leader: Option<u32>,
    /// `AUDIT` / `Audit`: the audit session id.
    pub audit: Option<u32>,
    /// `REALTIME` / `Timestamp`: when the session started.
    pub started: Option<Timestamp>,
    /// `IdleHint` (D-Bus only; the files carry no idle data).
    pub idle_hint: Option<bool>,
    /// `IdleSinceHint` (D-Bus only).
    pub idle_since: Option<Timestamp>,
    /// Keys this struct has no field for, in file order.
    pub extra: Vec<(String, String)>,
}

/// Parses a session file; `id` is the file name.
pub fn parse_session_file(id: &str, text: &str) -> LogindSession {
    let mut s = LogindSession {
        id: id.to_string(),
        ..LogindSession::default()
    };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        let text = || (!value.is_empty()).then(|| value.clone());
        match key.trim() {
            "UID" => s.uid = value.parse().ok(),
            "USER" => s.user = text(),
            "ACTIVE" => s.active = parse_bool(&value),
            "STATE" => s.state = text(),
            "REMOTE" => s.remote = parse_bool(&value),
            "TYPE" => s.session_type = text(),
            "CLASS" => s.class = text(),
            "SCOPE" => s.scope = text(),
            "SEAT" => s.seat = text(),
            "TTY" => s.tty = text(),
            "DISPLAY" => s.display = text(),
            "REMOTE_HOST" => s.remote_host = text(),
            "REMOTE_USER" => s.remote_user = text(),
            "SERVICE" => s.service = text(),
            "DESKTOP" => s.desktop = text(),
            "VTNR" => s.vtnr = value.parse().ok(),
            "LEADER" => s.leader = value.parse().ok(),
            "AUDIT" => {
                s.audit = value
                    .parse()
                    .ok()
                    .filter(|&a: &u32| a != 0 && a != crate::AUDIT_UNSET)
            }
            "REALTIME" => {
                s.started = value
                    .parse::<i64>()
                    .ok()
                    .and_then(|us| Timestamp::from_microsecond(us).ok())
            }
            k => s.extra.push((k.to_string(), value)),
        }
    }
    s
}

/// A D-Bus property value, reduced to the shapes `org.freedesktop.login1.Session` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropValue {
    /// `s` or `o`.
    Str(String),
    /// `b`.
    Bool(bool),
    /// `u` (and the other 32-bit integers).
    U32(u32),
    /// `t`.
    U64(u64),
    /// A structure, such as `User (uo)` or `Seat (so)`.
    Struct(Vec<PropValue>),
    /// Anything else (arrays, dictionaries …): not used.
    Other,
}

/// Fills a session from its `org.freedesktop.login1.Session` properties (`GetAll`).
///
/// Zero means "unset" for the numeric properties (`Leader`, `Audit`, `VTNr`, the
/// timestamps), and an empty string for the text ones, as in the files; unknown properties are
/// kept in `extra` as text when they are simple.
pub fn session_from_properties(id: &str, props: &[(String, PropValue)]) -> LogindSession {
    let mut s = LogindSession {
        id: id.to_string(),
        ..LogindSession::default()
    };
    let text = |v: &PropValue| match v {
        PropValue::Str(t) if !t.is_empty() => Some(t.clone()),
        _ => None,
    };
    let boolean = |v: &PropValue| match v {
        PropValue::Bool(b) => Some(*b),
        _ => None,
    };
    let nonzero = |v: &PropValue| match v {
        PropValue::U32(n) if *n != 0 => Some(*n),
        _ => None,
    };
    let time = |v: &PropValue| match v {
        PropValue::U64(us) if *us != 0 => i64::try_from(*us)
            .ok()
            .and_then(|us| Timestamp::from_microsecond(us).ok()),
        _ => None,
    };
    for (name, v) in props {
        match name.as_str() {
            "Id" => {
                if let Some(t) = text(v) {
                    s.id = t;
                }
            }
            "User" => {
                s.uid = match v {
                    PropValue::Struct(f) => match f.first() {
                        Some(PropValue::U32(uid)) => Some(*uid),
                        _ => None,
                    },
                    _ => None,
                }
            }
            "Name" => s.user = text(v),
            "Active" => s.active = boolean(v),
            "State" => s.state = text(v),
            "Remote" => s.remote = boolean(v),
            "Type" => s.session_type = text(v),
            "Class" => s.class = text(v),
            "Scope" => s.scope = text(v),
            "Seat" => {
                s.seat = match v {
                    PropValue::Struct(f) => f.first().and_then(text),
                    _ => None,
                }
            }
            "TTY" => s.tty = text(v),
            "Display" => s.display = text(v),
            "RemoteHost" => s.remote_host = text(v),
            "RemoteUser" => s.remote_user = text(v),
            "Service" => s.service = text(v),
            "Desktop" => s.desktop = text(v),
            "VTNr" => s.vtnr = nonzero(v),
            "Leader" => s.leader = nonzero(v),
            "Audit" => s.audit = nonzero(v).filter(|&a| a != crate::AUDIT_UNSET),
            "Timestamp" => s.started = time(v),
            "IdleHint" => s.idle_hint = boolean(v),
            "IdleSinceHint" => s.idle_since = time(v),
            _ => {
                let shown = match v {
                    PropValue::Str(t) => Some(t.clone()),
                    PropValue::Bool(b) => Some(b.to_string()),
                    PropValue::U32(n) => Some(n.to_string()),
                    PropValue::U64(n) => Some(n.to_string()),
                    _ => None,
                };
                if let Some(shown) = shown {
                    s.extra.push((name.clone(), shown));
                }
            }
        }
    }
    s
}

/// systemd's `parse_boolean`.
fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

/// Env-file quoting: `"…"` or `'…'` with backslash escapes; bare values are kept as they are.
fn unquote(v: &str) -> String {
    let bytes = v.as_bytes();
    if bytes.len() >= 2
        && (bytes[0] == b'"' || bytes[0] == b'\'')
        && bytes[bytes.len() - 1] == bytes[0]
    {
        let inner = &v[1..v.len() - 1];
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_session_file() {
        let text = "# This is private data. Do not parse.\nUID=1001\nUSER=alice\nACTIVE=1\nIS_DISPLAY=0\nSTATE=active\nREMOTE=1\nTYPE=tty\nORIGINAL_TYPE=tty\nCLASS=user\nSCOPE=session-2.scope\nREMOTE_HOST=10.0.0.5\nSERVICE=sshd\nLEADER=10086\nAUDIT=2\nREALTIME=1763775000123456\nMONOTONIC=350000000\n";
        let s = parse_session_file("2", text);
        assert_eq!(s.uid, Some(1001));
        assert_eq!(s.user.as_deref(), Some("alice"));
        assert_eq!((s.active, s.remote), (Some(true), Some(true)));
        assert_eq!(s.leader, Some(10086));
        assert_eq!(s.audit, Some(2));
        assert_eq!(s.tty, None);
        assert_eq!(
            s.started,
            Some(Timestamp::from_microsecond(1_763_775_000_123_456).unwrap())
        );
        assert!(
            s.extra
                .iter()
                .any(|(k, v)| k == "MONOTONIC" && v == "350000000")
        );
    }

    #[test]
    fn from_dbus_properties() {
        let p = |n: &str, v: PropValue| (n.to_string(), v);
        let s = session_from_properties(
            "/org/freedesktop/login1/session/_32",
            &[
                p("Id", PropValue::Str("2".into())),
                p(
                    "User",
                    PropValue::Struct(vec![
                        PropValue::U32(1001),
                        PropValue::Str("/org/freedesktop/login1/user/_1001".into()),
                    ]),
                ),
                p("Name", PropValue::Str("alice".into())),
                p("Timestamp", PropValue::U64(1_763_775_000_123_456)),
                p("TTY", PropValue::Str(String::new())),
                p("Remote", PropValue::Bool(true)),
                p("RemoteHost", PropValue::Str("10.0.0.5".into())),
                p("Service", PropValue::Str("sshd".into())),
                p("Leader", PropValue::U32(10086)),
                p("Audit", PropValue::U32(2)),
                p("VTNr", PropValue::U32(0)),
                p(
                    "Seat",
                    PropValue::Struct(vec![
                        PropValue::Str(String::new()),
                        PropValue::Str("/".into()),
                    ]),
                ),
                p("IdleHint", PropValue::Bool(false)),
                p("IdleSinceHint", PropValue::U64(0)),
                p("LockedHint", PropValue::Bool(false)),
                p("Devices", PropValue::Other),
            ],
        );
        assert_eq!(s.id, "2");
        assert_eq!((s.uid, s.user.as_deref()), (Some(1001), Some("alice")));
        assert_eq!((s.leader, s.audit, s.vtnr), (Some(10086), Some(2), None));
        assert_eq!((s.tty, s.seat), (None, None));
        assert_eq!(
            (s.remote, s.idle_hint, s.idle_since),
            (Some(true), Some(false), None)
        );
        assert_eq!(
            s.started,
            Some(Timestamp::from_microsecond(1_763_775_000_123_456).unwrap())
        );
        assert_eq!(
            s.extra,
            vec![("LockedHint".to_string(), "false".to_string())]
        );
    }

    #[test]
    fn lenient_with_garbage_and_quotes() {
        let s = parse_session_file(
            "c3",
            "junk line\nUID=x\nREMOTE_HOST=\"host \\\"q\\\"\"\nACTIVE=maybe\n",
        );
        assert_eq!(s.id, "c3");
        assert_eq!(s.uid, None);
        assert_eq!(s.active, None);
        assert_eq!(s.remote_host.as_deref(), Some("host \"q\""));
    }
}
