//! Sessions as the security event log sees them: who, from where, how and since when, read
//! from a `Win32_LogonSession` or `Win32_ServerSession` instance; and the events about them.

use jiff::{SignedDuration, Timestamp};
use linmgmt_cim::{Instance, Value, from_filetime};
use std::net::IpAddr;

/// Which class a session comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Win32_LogonSession`: a user's security context (an audit session on Linux).
    Logon,
    /// `Win32_ServerSession`: a user on a remote computer connected over SSH, SMB or NFS.
    Server,
}

impl Kind {
    /// The WMI class name.
    pub fn class(self) -> &'static str {
        match self {
            Kind::Logon => "Win32_LogonSession",
            Kind::Server => "Win32_ServerSession",
        }
    }
}

/// What the event log knows about one session.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// The class it comes from.
    pub kind: Kind,
    /// Its identifier: the `LogonId` of a logon session, the `__RELPATH` of a server session.
    pub id: String,
    /// Its `__RELPATH`, e.g. `Win32_LogonSession.LogonId="12"`.
    pub path: String,
    /// The user name, when known.
    pub user: Option<String>,
    /// The user's uid, when known (filled in by the caller from the accounts it can read).
    pub uid: Option<u32>,
    /// WMI's `LogonType` (server sessions: none).
    pub logon_type: Option<u32>,
    /// `AuthenticationPackage`: the PAM service and, for ssh, `/method` (`sshd/publickey`).
    pub authentication_package: Option<String>,
    /// The terminal, e.g. `pts/0`.
    pub terminal: Option<String>,
    /// Where the user came from: an address or a host name.
    pub remote: Option<String>,
    /// When the session started.
    pub start: Option<Timestamp>,
    /// Server sessions: the protocols (`ssh`, `smb`, `nfs`), from `TransportName`.
    pub protocols: Vec<String>,
    /// Server sessions: `ClientType` (`SSH-2.0`, `SMB3_11`, …).
    pub client_type: Option<String>,
    /// Server sessions: `TransportName` (`ssh/tcp 127.0.0.1:22`, several joined by `, `).
    pub transport: Option<String>,
    /// Server sessions: `SessionType` (0 guest, 1 unencrypted, 2 encrypted).
    pub session_type: Option<u32>,
}

/// Where a session came from, as a network endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remote {
    /// An IP address.
    Ip(IpAddr),
    /// A DNS host name.
    Host(String),
}

/// Logon or logoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// The session started.
    Logon,
    /// The session ended.
    Logoff,
}

/// How the event was learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Seen as it happened (an event of the hub).
    Live,
    /// A logon found open when the writer started (or resynchronised), not reported before.
    /// Its time is the session's start when known.
    Open,
    /// A logoff of a session reported as logged on that was gone when the writer started
    /// (or resynchronised): it ended while nobody was watching. Its time is when that was
    /// noticed.
    Missed,
}

impl Origin {
    /// The name used in the output (`live`, `open`, `missed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Live => "live",
            Origin::Open => "open",
            Origin::Missed => "missed",
        }
    }
}

/// One line of the security event log, before it is given a format.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionEvent {
    /// Logon or logoff.
    pub activity: Activity,
    /// When it happened (or, for [`Origin::Missed`], when it was noticed).
    pub time: Timestamp,
    /// The session.
    pub session: Session,
    /// How it was learned.
    pub origin: Origin,
    /// Its place in the log (`serve --event-log`); `None` for `watch`.
    pub sequence: Option<u64>,
}

/// What a WMI event is to the security event log.
#[derive(Debug)]
pub enum Classified {
    /// A logon or logoff.
    Session(Box<SessionEvent>),
    /// A change of a session that neither starts nor ends it (`__InstanceModificationEvent`),
    /// or a creation or deletion of the System session: not written.
    Ignored,
    /// `__EventQueueOverflowEvent`: this many events were lost.
    Overflow(u32),
    /// An event the log has no mapping for (another class, `__AggregateEvent`).
    Unmapped(String),
}

/// Classifies one event of a `__InstanceOperationEvent` subscription.
pub fn classify(event: &Instance) -> Classified {
    let class = event.class_name();
    if class.is("__EventQueueOverflowEvent") {
        let n = match event.get("NumberOfEventsDropped") {
            Some(Value::Uint32(n)) => *n,
            _ => 0,
        };
        return Classified::Overflow(n);
    }
    if class.is("__InstanceModificationEvent") {
        return Classified::Ignored;
    }
    let activity = if class.is("__InstanceCreationEvent") {
        Activity::Logon
    } else if class.is("__InstanceDeletionEvent") {
        Activity::Logoff
    } else {
        return Classified::Unmapped(class.to_string());
    };
    let Some(Value::Object(target)) = event.get("TargetInstance") else {
        return Classified::Unmapped(format!("{class} without TargetInstance"));
    };
    let time = match event.get("TIME_CREATED") {
        Some(Value::Uint64(t)) => from_filetime(*t),
        _ => None,
    };
    let Some(time) = time else {
        return Classified::Unmapped(format!("{class} without TIME_CREATED"));
    };
    match Session::from_instance(target, time, activity == Activity::Logon) {
        Some(session) => Classified::Session(Box::new(SessionEvent {
            activity,
            time,
            session,
            origin: Origin::Live,
            sequence: None,
        })),
        None if is_session(target) => Classified::Ignored,
        None => Classified::Unmapped(target.class_name().to_string()),
    }
}

/// Whether the instance is a logon or server session.
fn is_session(i: &Instance) -> bool {
    let c = i.class_name();
    c.is("Win32_LogonSession") || c.is("Win32_ServerSession")
}

fn string(i: &Instance, name: &str) -> Option<String> {
    match i.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn uint32(i: &Instance, name: &str) -> Option<u32> {
    match i.get(name) {
        Some(Value::Uint32(n)) => Some(*n),
        _ => None,
    }
}

/// The parts of a logon session's `Name`: `alice on pts/0 from 10.0.0.5 (sshd)`.
#[derive(Debug, Default, PartialEq)]
struct NameParts {
    user: Option<String>,
    terminal: Option<String>,
    remote: Option<String>,
}

/// Reads `USER[ on TTY][ from HOST][ (SERVICE)]`, linmgmt's own `Name` of a logon session
/// (user names and terminals have no spaces; `?` is an unknown user).
fn parse_name(name: &str) -> NameParts {
    let (user, mut rest) = name.split_at(name.find(' ').unwrap_or(name.len()));
    let mut parts = NameParts {
        user: (!user.is_empty() && user != "?").then(|| user.to_owned()),
        ..NameParts::default()
    };
    // The service suffix is the AuthenticationPackage's: read from there, dropped here.
    if rest.ends_with(')')
        && let Some((before, _)) = rest.rsplit_once(" (")
    {
        rest = before;
    }
    if let Some(after) = rest.strip_prefix(" on ") {
        let (tty, more) = after.split_once(' ').unwrap_or((after, ""));
        parts.terminal = Some(tty.to_owned()).filter(|t| !t.is_empty());
        rest = if more.is_empty() {
            ""
        } else {
            &after[tty.len()..]
        };
    }
    if let Some(host) = rest.strip_prefix(" from ") {
        parts.remote = Some(host.to_owned()).filter(|h| !h.is_empty());
    }
    parts
}

/// The time a CIM datetime stands for.
fn datetime(i: &Instance, name: &str) -> Option<Timestamp> {
    match i.get(name) {
        Some(Value::Datetime(d)) => d.timestamp().and_then(|t| t.to_jiff()),
        _ => None,
    }
}

impl Session {
    /// The session an instance describes, as of `time`; `None` for other classes, the System
    /// session (LogonId 0, the processes outside any login), and a session that is starting
    /// or stopping (event watchers do not count those as there). `created` says whether
    /// `time` is when the instance was seen (a server session's start is then `time` less
    /// its `ActiveTime`); for a deletion it is later, so the start is left unknown.
    pub fn from_instance(i: &Instance, time: Timestamp, created: bool) -> Option<Session> {
        if matches!(i.get("Status"), Some(Value::String(s)) if s == "Starting" || s == "Stopping") {
            return None;
        }
        let path = i.path().map(|p| p.to_string()).unwrap_or_default();
        let class = i.class_name();
        if class.is("Win32_LogonSession") {
            let id = string(i, "LogonId")?;
            if id == "0" {
                return None;
            }
            let name = string(i, "Name").or_else(|| string(i, "Caption"));
            let parts = name.as_deref().map(parse_name).unwrap_or_default();
            Some(Session {
                kind: Kind::Logon,
                id,
                path,
                user: parts.user,
                uid: None,
                logon_type: uint32(i, "LogonType"),
                authentication_package: string(i, "AuthenticationPackage"),
                terminal: parts.terminal,
                remote: parts.remote,
                start: datetime(i, "StartTime"),
                protocols: Vec::new(),
                client_type: None,
                transport: None,
                session_type: None,
            })
        } else if class.is("Win32_ServerSession") {
            let transport = string(i, "TransportName");
            let mut protocols: Vec<String> = Vec::new();
            for t in transport.as_deref().unwrap_or("").split(", ") {
                if let Some((p, _)) = t.split_once('/')
                    && !protocols.iter().any(|q| q == p)
                {
                    protocols.push(p.to_owned());
                }
            }
            let start = match uint32(i, "ActiveTime") {
                Some(secs) if created => time
                    .checked_sub(SignedDuration::from_secs(i64::from(secs)))
                    .ok(),
                _ => None,
            };
            Some(Session {
                kind: Kind::Server,
                id: path.clone(),
                path,
                user: string(i, "UserName"),
                uid: None,
                logon_type: None,
                authentication_package: None,
                terminal: None,
                remote: string(i, "ComputerName"),
                start,
                protocols,
                client_type: string(i, "ClientType"),
                transport,
                session_type: uint32(i, "SessionType"),
            })
        } else {
            None
        }
    }

    /// The key sessions are matched by: the object path, without case (as WMI matches keys).
    pub fn key(&self) -> String {
        self.path.to_lowercase()
    }

    /// Whether two records are the same session: the same key and, when both are known,
    /// start times less than 2 s apart (a server session's start is derived from whole
    /// seconds of `ActiveTime`). A LogonId reused after a reboot is another session.
    pub fn same_as(&self, other: &Session) -> bool {
        if self.key() != other.key() {
            return false;
        }
        match (self.start, other.start) {
            (Some(a), Some(b)) => a.duration_since(b).abs() < SignedDuration::from_secs(2),
            _ => true,
        }
    }

    /// Fills what this record does not know from another record of the same session.
    pub fn fill_from(&mut self, other: &Session) {
        macro_rules! fill {
            ($($f:ident),*) => {$(
                if self.$f.is_none() {
                    self.$f = other.$f.clone();
                }
            )*};
        }
        fill!(
            user,
            uid,
            logon_type,
            authentication_package,
            terminal,
            remote,
            start,
            client_type,
            transport,
            session_type
        );
        if self.protocols.is_empty() {
            self.protocols = other.protocols.clone();
        }
    }

    /// The PAM service (`sshd`, `login`, `cron`) or, for server sessions, the daemons
    /// (`sshd`, `smbd`, `nfsd`).
    pub fn service(&self) -> Option<String> {
        match self.kind {
            Kind::Logon => self
                .authentication_package
                .as_deref()
                .and_then(|a| a.split('/').next())
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            Kind::Server => {
                let daemons: Vec<String> = (self.protocols.iter())
                    .map(|p| match p.as_str() {
                        "ssh" => "sshd".to_owned(),
                        "smb" => "smbd".to_owned(),
                        "nfs" => "nfsd".to_owned(),
                        other => other.to_owned(),
                    })
                    .collect();
                (!daemons.is_empty()).then(|| daemons.join(", "))
            }
        }
    }

    /// The authentication method after the service (`publickey` of `sshd/publickey`).
    pub fn auth_method(&self) -> Option<&str> {
        (self.authentication_package.as_deref())
            .and_then(|a| a.split_once('/'))
            .map(|(_, m)| m)
            .filter(|m| !m.is_empty())
    }

    /// The remote address, when [`Session::remote`] is one.
    pub fn remote_ip(&self) -> Option<IpAddr> {
        let r = self.remote.as_deref()?;
        r.trim_start_matches('[').trim_end_matches(']').parse().ok()
    }

    /// The remote end as a network endpoint: an address, or a DNS host name; `None` when
    /// the remote host is neither (utmp's `tmux(1234).%0`, an X display `:0`).
    pub fn remote_endpoint(&self) -> Option<Remote> {
        if let Some(ip) = self.remote_ip() {
            return Some(Remote::Ip(ip));
        }
        let r = self.remote.as_deref()?;
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        (r.len() <= 253 && r.split('.').all(label_ok)).then(|| Remote::Host(r.to_owned()))
    }

    /// Whether the user came over the network: a network or remote-interactive logon, a
    /// remote address or host name, or any server session.
    pub fn is_remote(&self) -> bool {
        match self.kind {
            Kind::Server => true,
            Kind::Logon => {
                matches!(self.logon_type, Some(3 | 8 | 10 | 12)) || self.remote_endpoint().is_some()
            }
        }
    }

    /// The local end of the first transport of a server session (`ssh/tcp 127.0.0.1:22`).
    pub fn local_endpoint(&self) -> Option<(IpAddr, u16)> {
        let first = self.transport.as_deref()?.split(", ").next()?;
        let (_, addr) = first.split_once(' ')?;
        let (ip, port) = addr.rsplit_once(':')?;
        Some((ip.parse().ok()?, port.parse().ok()?))
    }

    /// The state file's record of the session.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert(
            "kind".into(),
            match self.kind {
                Kind::Logon => "logon",
                Kind::Server => "server",
            }
            .into(),
        );
        m.insert("id".into(), self.id.clone().into());
        m.insert("path".into(), self.path.clone().into());
        let mut opt = |k: &str, v: Option<serde_json::Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        opt("user", self.user.clone().map(Into::into));
        opt("uid", self.uid.map(Into::into));
        opt("logon_type", self.logon_type.map(Into::into));
        opt(
            "authentication_package",
            self.authentication_package.clone().map(Into::into),
        );
        opt("terminal", self.terminal.clone().map(Into::into));
        opt("remote", self.remote.clone().map(Into::into));
        opt("start", self.start.map(|t| t.to_string().into()));
        opt(
            "protocols",
            (!self.protocols.is_empty()).then(|| self.protocols.clone().into()),
        );
        opt("client_type", self.client_type.clone().map(Into::into));
        opt("transport", self.transport.clone().map(Into::into));
        opt("session_type", self.session_type.map(Into::into));
        m.into()
    }

    /// A record written by [`Session::to_json`]; `None` when it is not one.
    pub fn from_json(v: &serde_json::Value) -> Option<Session> {
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let n = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_u64())
                .and_then(|x| u32::try_from(x).ok())
        };
        let kind = match v.get("kind")?.as_str()? {
            "logon" => Kind::Logon,
            "server" => Kind::Server,
            _ => return None,
        };
        Some(Session {
            kind,
            id: s("id")?,
            path: s("path")?,
            user: s("user"),
            uid: n("uid"),
            logon_type: n("logon_type"),
            authentication_package: s("authentication_package"),
            terminal: s("terminal"),
            remote: s("remote"),
            start: match v.get("start") {
                Some(t) => Some(t.as_str()?.parse().ok()?),
                None => None,
            },
            protocols: match v.get("protocols") {
                Some(p) => (p.as_array()?.iter())
                    .map(|x| x.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()?,
                None => Vec::new(),
            },
            client_type: s("client_type"),
            transport: s("transport"),
            session_type: n("session_type"),
        })
    }
}

/// WMI's name of a `LogonType` value (the schema's `Values`).
pub fn logon_type_name(t: u32) -> Option<&'static str> {
    Some(match t {
        0 => "System",
        2 => "Interactive",
        3 => "Network",
        4 => "Batch",
        5 => "Service",
        6 => "Proxy",
        7 => "Unlock",
        8 => "NetworkCleartext",
        9 => "NewCredentials",
        10 => "RemoteInteractive",
        11 => "CachedInteractive",
        12 => "CachedRemoteInteractive",
        13 => "CachedUnlock",
        _ => return None,
    })
}

/// A sentence for people: `alice logged on on pts/0 from 10.0.0.5 (sshd/publickey,
/// RemoteInteractive)`.
pub fn message(e: &SessionEvent) -> String {
    let s = &e.session;
    let user = s.user.as_deref().unwrap_or("an unknown user");
    let mut m = match (s.kind, e.activity) {
        (Kind::Logon, Activity::Logon) => format!("{user} logged on"),
        (Kind::Logon, Activity::Logoff) => format!("{user} logged off"),
        (Kind::Server, Activity::Logon) => format!("{user} opened a server session"),
        (Kind::Server, Activity::Logoff) => format!("{user} closed a server session"),
    };
    if let Some(t) = &s.terminal {
        m.push_str(&format!(" at {t}"));
    }
    if let Some(r) = &s.remote {
        m.push_str(&format!(" from {r}"));
    }
    let mut how: Vec<String> = Vec::new();
    match s.kind {
        Kind::Logon => {
            how.extend(s.authentication_package.clone());
            how.extend(s.logon_type.and_then(logon_type_name).map(str::to_owned));
        }
        Kind::Server => {
            how.extend(s.service());
            how.extend(s.client_type.clone());
        }
    }
    if !how.is_empty() {
        m.push_str(&format!(" ({})", how.join(", ")));
    }
    match e.origin {
        Origin::Live => {}
        Origin::Open => m.push_str("; already open when the event log started"),
        Origin::Missed => {
            m.push_str("; ended while the event log was not running (time is when it was noticed)")
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_their_parts() {
        let p = parse_name("alice on pts/0 from 10.0.0.5 (sshd)");
        assert_eq!(p.user.as_deref(), Some("alice"));
        assert_eq!(p.terminal.as_deref(), Some("pts/0"));
        assert_eq!(p.remote.as_deref(), Some("10.0.0.5"));
        let p = parse_name("bob from 2001:db8::1 (sshd)");
        assert_eq!(
            (p.user.as_deref(), p.terminal, p.remote.as_deref()),
            (Some("bob"), None, Some("2001:db8::1"))
        );
        let p = parse_name("carol on tty1 (login)");
        assert_eq!(
            (p.user.as_deref(), p.terminal.as_deref(), p.remote),
            (Some("carol"), Some("tty1"), None)
        );
        let p = parse_name("dave on pts/3 from tmux(1234).%0");
        assert_eq!(p.remote.as_deref(), Some("tmux(1234).%0"));
        assert_eq!(parse_name("? (cron)"), NameParts::default());
        assert_eq!(parse_name("erin").user.as_deref(), Some("erin"));
    }
}
