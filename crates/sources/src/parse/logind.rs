//! systemd-logind sessions: the `/run/systemd/sessions/<id>` KEY=VALUE files.
//!
//! The files say "private data, do not parse", but sd-login's `sd_session_get_*` reads exactly
//! these, and they are the only logind source without D-Bus. [`LogindSession`] is shaped so the
//! later D-Bus path (`org.freedesktop.login1.Session` properties) can fill the same struct.
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
