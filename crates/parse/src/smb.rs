//! Samba: `smbstatus --json` (Samba 4.16+).
//!
//! Samba prints ids as strings (`"pid": "11091"`) and some numbers as numbers (`"uid": 1001`);
//! we accept both, and a missing field is `None`, never an error, because the JSON grew over
//! releases. Only invalid JSON or a non-object top level fails.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::ParseError;

/// A cipher and how much traffic it protects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmbProtection {
    /// `AES-128-GCM`, `AES-128-GMAC`, or `-` for none.
    pub cipher: Option<String>,
    /// `none`, `partial` or `full`.
    pub degree: Option<String>,
}

impl SmbProtection {
    /// True when the degree is `none` (or missing).
    pub fn is_none(&self) -> bool {
        self.degree.as_deref().is_none_or(|d| d == "none")
    }
}

/// One SMB session (`sessions.<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmbSession {
    /// `session_id`.
    pub session_id: String,
    /// `server_id.pid`: the smbd child serving this client's one TCP connection.
    pub pid: Option<u32>,
    /// `uid`.
    pub uid: Option<u32>,
    /// `gid`.
    pub gid: Option<u32>,
    /// `username` (`nobody` for a guest).
    pub username: Option<String>,
    /// `groupname`.
    pub groupname: Option<String>,
    /// `remote_machine`: an IP or NetBIOS name.
    pub remote_machine: Option<String>,
    /// `hostname` as printed (`ipv4:127.0.0.1:59456`).
    pub hostname: Option<String>,
    /// The peer address parsed from `hostname`.
    pub peer: Option<SocketAddr>,
    /// `session_dialect` (`SMB3_11`).
    pub dialect: Option<String>,
    /// `encryption`.
    pub encryption: SmbProtection,
    /// `signing`.
    pub signing: SmbProtection,
}

/// One tree connect (`tcons.<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmbTcon {
    /// `tcon_id`.
    pub tcon_id: String,
    /// `service`: the share name.
    pub service: Option<String>,
    /// `session_id`.
    pub session_id: Option<String>,
    /// `server_id.pid`.
    pub pid: Option<u32>,
    /// `machine`.
    pub machine: Option<String>,
    /// `connected_at`.
    pub connected_at: Option<Timestamp>,
    /// `encryption`.
    pub encryption: SmbProtection,
    /// `signing`.
    pub signing: SmbProtection,
}

/// One open of a file (`open_files.<path>.opens.<pid/share_file_id>`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmbOpen {
    /// The file's key in `open_files` (its full path).
    pub path: String,
    /// `service_path`: the share's directory.
    pub service_path: Option<String>,
    /// `server_id.pid` (opens carry no session id; join on pid).
    pub pid: Option<u32>,
    /// `uid`.
    pub uid: Option<u32>,
    /// `opened_at`.
    pub opened_at: Option<Timestamp>,
}

/// The parsed output of `smbstatus --json`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmbStatus {
    /// `version`.
    pub version: Option<String>,
    /// `timestamp`.
    pub timestamp: Option<String>,
    /// `smb_conf`: the configuration file smbd and smbstatus read.
    pub smb_conf: Option<String>,
    /// Sessions, ordered by session id.
    pub sessions: Vec<SmbSession>,
    /// Tree connects, ordered by tcon id.
    pub tcons: Vec<SmbTcon>,
    /// Opens, ordered by path then key.
    pub opens: Vec<SmbOpen>,
}

impl SmbStatus {
    /// The number of opens per smbd pid: a session's ResourcesOpened.
    pub fn opens_by_pid(&self) -> BTreeMap<u32, usize> {
        let mut m = BTreeMap::new();
        for o in &self.opens {
            if let Some(pid) = o.pid {
                *m.entry(pid).or_insert(0) += 1;
            }
        }
        m
    }

    /// The number of opens per share directory (`service_path`).
    pub fn opens_by_share(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for o in &self.opens {
            *m.entry(o.service_path.clone().unwrap_or_default())
                .or_insert(0) += 1;
        }
        m
    }

    /// The earliest tree connect of a session: a usable session start time.
    pub fn first_connect(&self, session_id: &str) -> Option<Timestamp> {
        self.tcons
            .iter()
            .filter(|t| t.session_id.as_deref() == Some(session_id))
            .filter_map(|t| t.connected_at)
            .min()
    }
}

/// Parses `smbstatus --json` output.
pub fn parse_smbstatus_json(bytes: &[u8]) -> Result<SmbStatus, ParseError> {
    const WHAT: &str = "smbstatus --json";
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| ParseError::new(WHAT, e.to_string()))?;
    let top = v
        .as_object()
        .ok_or_else(|| ParseError::new(WHAT, "top level is not an object"))?;
    let mut out = SmbStatus {
        version: string(top, "version"),
        timestamp: string(top, "timestamp"),
        smb_conf: string(top, "smb_conf"),
        ..SmbStatus::default()
    };
    for (key, s) in objects(top, "sessions") {
        out.sessions.push(SmbSession {
            session_id: string(s, "session_id").unwrap_or_else(|| key.clone()),
            pid: server_pid(s),
            uid: number(s, "uid"),
            gid: number(s, "gid"),
            username: string(s, "username"),
            groupname: string(s, "groupname"),
            remote_machine: string(s, "remote_machine"),
            peer: string(s, "hostname")
                .as_deref()
                .and_then(parse_tsocket_address),
            hostname: string(s, "hostname"),
            dialect: string(s, "session_dialect"),
            encryption: protection(s, "encryption"),
            signing: protection(s, "signing"),
        });
    }
    for (key, t) in objects(top, "tcons") {
        out.tcons.push(SmbTcon {
            tcon_id: string(t, "tcon_id").unwrap_or_else(|| key.clone()),
            service: string(t, "service"),
            session_id: string(t, "session_id"),
            pid: server_pid(t),
            machine: string(t, "machine"),
            connected_at: string(t, "connected_at").and_then(|s| parse_time(&s)),
            encryption: protection(t, "encryption"),
            signing: protection(t, "signing"),
        });
    }
    for (path, f) in objects(top, "open_files") {
        for (_, o) in objects(f, "opens") {
            out.opens.push(SmbOpen {
                path: path.clone(),
                service_path: string(f, "service_path"),
                pid: server_pid(o),
                uid: number(o, "uid"),
                opened_at: string(o, "opened_at").and_then(|s| parse_time(&s)),
            });
        }
    }
    out.sessions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    out.tcons.sort_by(|a, b| a.tcon_id.cmp(&b.tcon_id));
    Ok(out)
}

/// Parses Samba's tsocket address form: `ipv4:127.0.0.1:59456`, `ipv6:::1:57516`.
///
/// The port is after the last colon; IPv4-mapped IPv6 peers become IPv4.
pub fn parse_tsocket_address(s: &str) -> Option<SocketAddr> {
    let rest = s
        .strip_prefix("ipv4:")
        .or_else(|| s.strip_prefix("ipv6:"))?;
    let (ip, port) = rest.rsplit_once(':')?;
    let ip: IpAddr = ip
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_canonical(),
        v4 => v4,
    };
    Some(SocketAddr::new(ip, port.parse().ok()?))
}

/// Samba prints `2026-11-22T01:46:54.609438+00:00`; older builds used `+0000`.
fn parse_time(s: &str) -> Option<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", s)
        .ok()?
        .to_timestamp()
        .ok()
}

fn objects<'a>(
    m: &'a Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = (&'a String, &'a Map<String, Value>)> {
    m.get(key)
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|o| o.iter())
        .filter_map(|(k, v)| Some((k, v.as_object()?)))
}

fn string(m: &Map<String, Value>, key: &str) -> Option<String> {
    match m.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number<T: std::str::FromStr>(m: &Map<String, Value>, key: &str) -> Option<T> {
    match m.get(key)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

fn server_pid(m: &Map<String, Value>) -> Option<u32> {
    number(m.get("server_id")?.as_object()?, "pid")
}

fn protection(m: &Map<String, Value>, key: &str) -> SmbProtection {
    match m.get(key).and_then(Value::as_object) {
        Some(p) => SmbProtection {
            cipher: string(p, "cipher"),
            degree: string(p, "degree"),
        },
        None => SmbProtection::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsocket_addresses() {
        assert_eq!(
            parse_tsocket_address("ipv4:127.0.0.1:59456"),
            Some("127.0.0.1:59456".parse().unwrap())
        );
        assert_eq!(
            parse_tsocket_address("ipv6:::1:57516"),
            Some("[::1]:57516".parse().unwrap())
        );
        assert_eq!(
            parse_tsocket_address("ipv6:::ffff:10.0.0.5:445"),
            Some("10.0.0.5:445".parse().unwrap())
        );
        assert_eq!(parse_tsocket_address("unix:/tmp/x"), None);
        assert_eq!(parse_tsocket_address("ipv4:nonsense"), None);
    }

    #[test]
    fn times() {
        assert!(parse_time("2026-11-22T01:46:54.609438+00:00").is_some());
        assert!(parse_time("2026-11-22T01:46:58.611378+0000").is_some());
    }

    #[test]
    fn lenient_shapes() {
        let s = parse_smbstatus_json(br#"{"sessions": {"1": {"server_id": {"pid": 42}, "uid": "7"}, "2": 5}, "tcons": [], "open_files": {}}"#).unwrap();
        assert_eq!(s.sessions.len(), 1);
        assert_eq!(s.smb_conf, None);
        assert_eq!(s.sessions[0].session_id, "1");
        assert_eq!((s.sessions[0].pid, s.sessions[0].uid), (Some(42), Some(7)));
        assert!(s.sessions[0].encryption.is_none());
        assert!(parse_smbstatus_json(b"Failed to open").is_err());
        assert!(parse_smbstatus_json(b"[]").is_err());
        assert_eq!(parse_smbstatus_json(b"{}").unwrap(), SmbStatus::default());
        let s = parse_smbstatus_json(br#"{"smb_conf": "/run/t/smb.conf"}"#).unwrap();
        assert_eq!(s.smb_conf.as_deref(), Some("/run/t/smb.conf"));
    }
}
