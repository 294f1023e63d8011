//! What the event log has reported: the sessions it said were logged on and not yet logged
//! off, and the sequence number of its next line. Applying events to it drops repeats (a
//! logon of a session already reported, a logoff of one never reported); comparing it with
//! the sessions open now gives the logoffs and logons missed while the writer was stopped.

use crate::session::{Activity, Origin, Session, SessionEvent};
use jiff::Timestamp;
use std::collections::BTreeMap;

/// The version of the state file's format.
const STATE_VERSION: u64 = 1;

/// The sessions reported as logged on, by key, the next sequence number, and the boot they
/// were seen in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reported {
    open: BTreeMap<String, Session>,
    next_sequence: u64,
    boot: Option<String>,
}

/// A state file that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("not a linmgmt event-log state file: {0}")]
pub struct StateError(String);

impl Reported {
    /// Nothing reported yet.
    pub fn new() -> Reported {
        Reported::default()
    }

    /// The sessions reported as logged on.
    pub fn open(&self) -> impl Iterator<Item = &Session> {
        self.open.values()
    }

    /// The sequence number the next event gets.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    fn numbered(&mut self, mut e: SessionEvent) -> SessionEvent {
        e.sequence = Some(self.next_sequence);
        self.next_sequence += 1;
        e
    }

    /// The lines a live event gives, numbered: none for a repeat (a logon of a session
    /// already reported, a logoff of one that was not), its own line otherwise. A logon of a
    /// key reported for another session (a LogonId reused after a reboot, a lost logoff)
    /// first logs that one off. A logoff keeps what the logon knew and the event does not.
    pub fn apply(&mut self, e: SessionEvent) -> Vec<SessionEvent> {
        let key = e.session.key();
        let mut out = Vec::new();
        match e.activity {
            Activity::Logon => {
                if let Some(known) = self.open.get(&key) {
                    if known.same_as(&e.session) {
                        return out;
                    }
                    let old = self.open.remove(&key).expect("present");
                    out.push(self.numbered(SessionEvent {
                        activity: Activity::Logoff,
                        time: e.time,
                        session: old,
                        origin: Origin::Missed,
                        sequence: None,
                    }));
                }
                self.open.insert(key, e.session.clone());
                out.push(self.numbered(e));
            }
            Activity::Logoff => {
                let Some(mut reported) = self.open.remove(&key) else {
                    return out;
                };
                // A session's facts do not change while it lives (design §8): the logoff
                // says what the logon said, plus what was not known then (a remote address
                // learned later). The session's last instance may know less (its sshd gone).
                reported.fill_from(&e.session);
                out.push(self.numbered(SessionEvent {
                    session: reported,
                    ..e
                }));
            }
        }
        out
    }

    /// Compares what was reported with the sessions open `now`: a logoff
    /// ([`Origin::Missed`]) for each reported session that is gone, then a logon
    /// ([`Origin::Open`], at the session's start when known) for each open one not reported;
    /// sessions reported and still open give nothing. Numbered, in key order.
    ///
    /// `boot` is the kernel's boot id, when known: after a reboot no reported session is
    /// open any more, whatever its key (audit session ids start again at 1).
    pub fn reconcile(
        &mut self,
        current: &[Session],
        boot: Option<&str>,
        now: Timestamp,
    ) -> Vec<SessionEvent> {
        let mut out = Vec::new();
        let rebooted = matches!((self.boot.as_deref(), boot), (Some(a), Some(b)) if a != b);
        if boot.is_some() {
            self.boot = boot.map(str::to_owned);
        }
        let gone: Vec<String> = (self.open.iter())
            .filter(|(_, s)| rebooted || !current.iter().any(|c| c.same_as(s)))
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            let session = self.open.remove(&key).expect("present");
            out.push(self.numbered(SessionEvent {
                activity: Activity::Logoff,
                time: now,
                session,
                origin: Origin::Missed,
                sequence: None,
            }));
        }
        let mut fresh: Vec<&Session> = current
            .iter()
            .filter(|c| !self.open.contains_key(&c.key()))
            .collect();
        fresh.sort_by_key(|s| s.key());
        fresh.dedup_by_key(|s| s.key());
        for s in fresh {
            self.open.insert(s.key(), s.clone());
            out.push(self.numbered(SessionEvent {
                activity: Activity::Logon,
                time: s.start.filter(|t| *t <= now).unwrap_or(now),
                session: s.clone(),
                origin: Origin::Open,
                sequence: None,
            }));
        }
        out
    }

    /// The state file's text (JSON).
    pub fn to_json(&self) -> String {
        let sessions: Vec<serde_json::Value> = self.open.values().map(Session::to_json).collect();
        let mut v = serde_json::json!({
            "linmgmt_event_log_state": STATE_VERSION,
            "next_sequence": self.next_sequence,
            "open": sessions,
        });
        if let Some(b) = &self.boot {
            v["boot_id"] = b.clone().into();
        }
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads a state file's text.
    pub fn from_json(text: &str) -> Result<Reported, StateError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| StateError(e.to_string()))?;
        match v.get("linmgmt_event_log_state").and_then(|x| x.as_u64()) {
            Some(STATE_VERSION) => {}
            Some(n) => return Err(StateError(format!("version {n}, expected {STATE_VERSION}"))),
            None => return Err(StateError("no linmgmt_event_log_state".into())),
        }
        let next_sequence = (v.get("next_sequence").and_then(|x| x.as_u64()))
            .ok_or_else(|| StateError("no next_sequence".into()))?;
        let mut open = BTreeMap::new();
        for (i, s) in (v.get("open").and_then(|x| x.as_array()))
            .ok_or_else(|| StateError("no open sessions list".into()))?
            .iter()
            .enumerate()
        {
            let s = Session::from_json(s)
                .ok_or_else(|| StateError(format!("open session {i} is malformed")))?;
            open.insert(s.key(), s);
        }
        let boot = match v.get("boot_id") {
            None => None,
            Some(b) => Some(
                b.as_str()
                    .ok_or_else(|| StateError("boot_id is not a string".into()))?
                    .to_owned(),
            ),
        };
        Ok(Reported {
            open,
            next_sequence,
            boot,
        })
    }
}
