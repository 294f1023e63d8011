//! Elastic Common Schema 9.4.0: `event.kind: event`, `event.category: [authentication,
//! session]`, `event.type: [start]` or `[end]`, with the user, the source address and the
//! host. What ECS has no field for (LogonId, LogonType, the WMI path) goes under `linmgmt`,
//! as ECS asks of custom fields. The mapping table is in docs/events.md.

use crate::session::{Activity, Kind, Remote, SessionEvent, logon_type_name, message};
use crate::{Context, rfc3339};
use serde_json::{Map, Value, json};

/// The ECS version the events follow (`ecs.version`).
pub const VERSION: &str = "9.4.0";

/// The event as an ECS document.
pub fn to_json(e: &SessionEvent, ctx: &Context) -> Value {
    let s = &e.session;
    let (kind_of_type, action) = match (s.kind, e.activity) {
        (Kind::Logon, Activity::Logon) => ("start", "logged-in"),
        (Kind::Logon, Activity::Logoff) => ("end", "logged-out"),
        (Kind::Server, Activity::Logon) => ("start", "server-session-opened"),
        (Kind::Server, Activity::Logoff) => ("end", "server-session-closed"),
    };
    let mut o = Map::new();
    o.insert("@timestamp".into(), rfc3339(e.time).into());
    o.insert("ecs".into(), json!({ "version": VERSION }));
    o.insert("message".into(), message(e).into());
    let mut event = json!({
        "kind": "event",
        "category": ["authentication", "session"],
        "type": [kind_of_type],
        "action": action,
        "outcome": "success",
        "module": "linmgmt",
        "dataset": "linmgmt.sessions",
        "provider": s.kind.class(),
    });
    if let Some(start) = s.start {
        event["start"] = rfc3339(start).into();
    }
    if e.activity == Activity::Logoff {
        event["end"] = rfc3339(e.time).into();
        if let Some(start) = s.start
            && start <= e.time
        {
            let nanos = e.time.duration_since(start).as_nanos();
            event["duration"] = i64::try_from(nanos).unwrap_or(i64::MAX).into();
        }
    }
    if let Some(n) = e.sequence {
        event["sequence"] = n.into();
    }
    match e.origin {
        crate::Origin::Live => {}
        crate::Origin::Open => {
            event["reason"] = "already open when the event log started".into();
        }
        crate::Origin::Missed => {
            event["reason"] = "ended while the event log was not running".into();
        }
    }
    o.insert("event".into(), event);
    let mut user = Map::new();
    if let Some(name) = &s.user {
        user.insert("name".into(), name.clone().into());
    }
    if let Some(uid) = s.uid {
        user.insert("id".into(), uid.to_string().into());
    }
    if !user.is_empty() {
        o.insert("user".into(), user.into());
    }
    let remote = s.remote_endpoint();
    match &remote {
        Some(Remote::Ip(ip)) => {
            o.insert(
                "source".into(),
                json!({ "ip": ip.to_string(), "address": ip.to_string() }),
            );
        }
        Some(Remote::Host(name)) => {
            o.insert("source".into(), json!({ "domain": name, "address": name }));
        }
        None => {}
    }
    if let Some((ip, port)) = s.local_endpoint() {
        o.insert(
            "destination".into(),
            json!({ "ip": ip.to_string(), "port": port, "address": ip.to_string() }),
        );
    }
    if s.kind == Kind::Server && !s.protocols.is_empty() {
        o.insert(
            "network".into(),
            json!({ "protocol": s.protocols.join(", "), "transport": "tcp" }),
        );
    }
    o.insert(
        "host".into(),
        json!({ "name": ctx.host, "hostname": ctx.host }),
    );
    if let Some(service) = s.service() {
        o.insert("service".into(), json!({ "name": service }));
    }
    o.insert(
        "agent".into(),
        json!({ "type": "linmgmt", "version": ctx.version }),
    );
    let mut related = Map::new();
    if let Some(name) = &s.user {
        related.insert("user".into(), json!([name]));
    }
    match &remote {
        Some(Remote::Ip(ip)) => {
            related.insert("ip".into(), json!([ip.to_string()]));
        }
        Some(Remote::Host(name)) => {
            related.insert("hosts".into(), json!([name]));
        }
        None => {}
    }
    if !related.is_empty() {
        o.insert("related".into(), related.into());
    }
    let mut own = Map::new();
    match s.kind {
        Kind::Logon => {
            own.insert("logon_id".into(), s.id.clone().into());
        }
        Kind::Server => {}
    }
    if let Some(t) = s.logon_type {
        own.insert("logon_type".into(), t.into());
        if let Some(name) = logon_type_name(t) {
            own.insert("logon_type_name".into(), name.into());
        }
    }
    if let Some(a) = &s.authentication_package {
        own.insert("authentication_package".into(), a.clone().into());
    }
    if let Some(t) = &s.terminal {
        own.insert("terminal".into(), t.clone().into());
    }
    if let Some(c) = &s.client_type {
        own.insert("client_type".into(), c.clone().into());
    }
    if let Some(t) = &s.transport {
        own.insert("transport".into(), t.clone().into());
    }
    if let Some(t) = s.session_type {
        own.insert("session_type".into(), t.into());
    }
    if let (None, Some(r)) = (&remote, &s.remote) {
        // Not an address or a host name (`tmux(1234).%0`): kept as utmp says it.
        own.insert("remote_host".into(), r.clone().into());
    }
    own.insert("wmi_path".into(), s.path.clone().into());
    own.insert("origin".into(), e.origin.as_str().into());
    o.insert("linmgmt".into(), own.into());
    o.into()
}
