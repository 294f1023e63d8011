//! OCSF 1.8.0: every session event is an Authentication event (class 3002, category 3,
//! Identity & Access Management), activity Logon (1) or Logoff (2). The mapping table is in
//! docs/events.md.
//!
//! Server sessions (SSH, SMB, NFS connections) are Authentication events too, with logon
//! type Network (3), rather than Network Activity (4001): a `Win32_ServerSession` is a user
//! authenticated from a computer, not a TCP connection (one session may hold several
//! connections, and a connection is not a session until it has authenticated), and Windows
//! records the same thing, an SMB session, as a network logon (events 4624/4634 with logon
//! type 3). One class keeps a SIEM's logon rules in one place.

use crate::session::{Activity, Kind, Remote, Session, SessionEvent, logon_type_name, message};
use crate::{Context, millis};
use serde_json::{Map, Value, json};

/// The OCSF version the events follow (`metadata.version`).
pub const VERSION: &str = "1.8.0";

/// OCSF's `logon_type_id` for a WMI `LogonType`, and its caption. OCSF's enum mirrors
/// Windows' logon types except at 0: WMI's 0 is the System session, OCSF's 0 is Unknown
/// and its System is 1; WMI's Proxy (6) has no OCSF value (Other, 99). NULL is Unknown.
pub fn logon_type(t: Option<u32>) -> (u32, &'static str) {
    match t {
        None => (0, "Unknown"),
        Some(0) => (1, "System"),
        Some(2) => (2, "Interactive"),
        Some(3) => (3, "Network"),
        Some(4) => (4, "Batch"),
        Some(5) => (5, "OS Service"),
        Some(7) => (7, "Unlock"),
        Some(8) => (8, "Network Cleartext"),
        Some(9) => (9, "New Credentials"),
        Some(10) => (10, "Remote Interactive"),
        Some(11) => (11, "Cached Interactive"),
        Some(12) => (12, "Cached Remote Interactive"),
        Some(13) => (13, "Cached Unlock"),
        Some(_) => (99, "Other"),
    }
}

/// OCSF's `auth_protocol_id` and `auth_protocol` for an sshd method: GSSAPI is Kerberos
/// (2); the others (publickey, password, keyboard-interactive, hostbased) have no OCSF
/// value and are Other (99) with the method as the protocol; no method is Unknown (0).
pub fn auth_protocol(method: Option<&str>) -> (u32, String) {
    match method {
        None => (0, "Unknown".to_owned()),
        Some(m) if m.starts_with("gssapi") => (2, "Kerberos".to_owned()),
        Some(m) => (99, m.to_owned()),
    }
}

fn user(s: &Session) -> Value {
    let mut u = Map::new();
    u.insert("name".into(), s.user.clone().unwrap_or_default().into());
    if let Some(uid) = s.uid {
        u.insert("uid".into(), uid.to_string().into());
    }
    let (id, caption) = match (&s.user, s.uid) {
        (None, _) => (0, "Unknown"),
        (Some(_), Some(0)) => (2, "Admin"),
        (Some(name), None) if name == "root" => (2, "Admin"),
        (Some(_), _) => (1, "User"),
    };
    u.insert("type_id".into(), id.into());
    u.insert("type".into(), caption.into());
    u.into()
}

/// The event as an OCSF Authentication event.
pub fn to_json(e: &SessionEvent, ctx: &Context) -> Value {
    let s = &e.session;
    let (activity_id, activity_name) = match e.activity {
        Activity::Logon => (1, "Logon"),
        Activity::Logoff => (2, "Logoff"),
    };
    let mut o = Map::new();
    o.insert("activity_id".into(), activity_id.into());
    o.insert("activity_name".into(), activity_name.into());
    o.insert("category_uid".into(), 3.into());
    o.insert(
        "category_name".into(),
        "Identity & Access Management".into(),
    );
    o.insert("class_uid".into(), 3002.into());
    o.insert("class_name".into(), "Authentication".into());
    o.insert("type_uid".into(), (300_200 + activity_id).into());
    o.insert(
        "type_name".into(),
        format!("Authentication: {activity_name}").into(),
    );
    o.insert("severity_id".into(), 1.into());
    o.insert("severity".into(), "Informational".into());
    o.insert("status_id".into(), 1.into());
    o.insert("status".into(), "Success".into());
    o.insert("time".into(), millis(e.time).into());
    o.insert("message".into(), message(e).into());
    let mut metadata = json!({
        "version": VERSION,
        "product": {
            "name": "linmgmt",
            "vendor_name": "linmgmt",
            "version": ctx.version,
        },
        "profiles": ["host"],
        "log_name": "linmgmt",
    });
    if let Some(n) = e.sequence {
        metadata["sequence"] = n.into();
    }
    o.insert("metadata".into(), metadata);
    o.insert("user".into(), user(s));
    let (logon_type_id, logon_type_caption) = match s.kind {
        Kind::Logon => logon_type(s.logon_type),
        Kind::Server => logon_type(Some(3)),
    };
    o.insert("logon_type_id".into(), logon_type_id.into());
    o.insert("logon_type".into(), logon_type_caption.into());
    if s.kind == Kind::Logon && s.logon_type == Some(6) {
        o.insert("logon_type".into(), "Proxy".into());
    }
    let (auth_id, auth) = auth_protocol(s.auth_method());
    o.insert("auth_protocol_id".into(), auth_id.into());
    o.insert("auth_protocol".into(), auth.into());
    o.insert("is_remote".into(), s.is_remote().into());
    let mut session = Map::new();
    session.insert("uid".into(), s.id.clone().into());
    if let Some(t) = s.start {
        session.insert("created_time".into(), millis(t).into());
    }
    session.insert("is_remote".into(), s.is_remote().into());
    if let Some(t) = &s.terminal {
        session.insert("terminal".into(), t.clone().into());
    }
    o.insert("session".into(), session.into());
    match s.remote_endpoint() {
        Some(Remote::Ip(ip)) => {
            o.insert("src_endpoint".into(), json!({ "ip": ip.to_string() }));
        }
        Some(Remote::Host(name)) => {
            o.insert("src_endpoint".into(), json!({ "hostname": name }));
        }
        None => {}
    }
    let mut dst = json!({ "hostname": ctx.host });
    if let Some((ip, port)) = s.local_endpoint() {
        dst["ip"] = ip.to_string().into();
        dst["port"] = port.into();
    }
    o.insert("dst_endpoint".into(), dst);
    if let Some(service) = s.service() {
        o.insert("service".into(), json!({ "name": service }));
    }
    o.insert(
        "device".into(),
        json!({ "hostname": ctx.host, "type_id": 0, "type": "Unknown" }),
    );
    // What OCSF has no place for: WMI's own view, and how linmgmt learned of the event.
    let mut wmi = Map::new();
    wmi.insert("class".into(), s.kind.class().into());
    wmi.insert("path".into(), s.path.clone().into());
    if let Some(t) = s.logon_type {
        wmi.insert("LogonType".into(), t.into());
        if let Some(name) = logon_type_name(t) {
            wmi.insert("LogonTypeName".into(), name.into());
        }
    }
    if let Some(a) = &s.authentication_package {
        wmi.insert("AuthenticationPackage".into(), a.clone().into());
    }
    if let Some(c) = &s.client_type {
        wmi.insert("ClientType".into(), c.clone().into());
    }
    if let Some(t) = &s.transport {
        wmi.insert("TransportName".into(), t.clone().into());
    }
    if let Some(t) = s.session_type {
        wmi.insert("SessionType".into(), t.into());
    }
    o.insert(
        "unmapped".into(),
        json!({ "wmi": wmi, "origin": e.origin.as_str() }),
    );
    o.into()
}
