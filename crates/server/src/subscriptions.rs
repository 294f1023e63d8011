//! WS-Eventing subscriptions with pull delivery (DSP0226 §10, `wsman:Pull`): the way a
//! WinRM client receives `__InstanceCreationEvent`s. A Subscribe opens an event stream on
//! the shared hub — the same compile, baseline and guarantees as `GET …/events` and
//! `linmgmt watch`, under the same per-user, per-address and global stream limits — and
//! keeps it under a random id; Pulls with that id as the enumeration context wait for the
//! next events.
//!
//! A subscription belongs to the user who opened it. It ends on Unsubscribe, when its
//! lifetime passes (the client's `wse:Expires`, renewable; without one, ten minutes after
//! the last Pull), when the hub stops, or with the server.

use crate::State;
use crate::pull::new_id;
use crate::streams::{StreamError, StreamPermits, open_stream};
use crate::users::Identity;
use linmgmt_events::EventStream;
use linmgmt_wsman::{Fault, InstanceStyle, Subcode, UriStyle, encode};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a Pull waits for an event when the client names no time.
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(60);
/// The longest a Pull waits (a client's longer OperationTimeout is cut to this).
const MAX_WAIT: Duration = Duration::from_secs(120);
/// A subscription's lifetime when the client names none, renewed by every Pull.
const IDLE_LIFETIME: Duration = Duration::from_secs(600);

/// The open subscriptions.
#[derive(Default)]
pub(crate) struct Subscriptions {
    open: Mutex<HashMap<String, Arc<Subscription>>>,
}

/// One subscription.
pub(crate) struct Subscription {
    /// Its identifier, also the enumeration context its events are pulled with.
    pub(crate) id: String,
    owner: String,
    /// The lifetime it was given.
    pub(crate) lifetime: Duration,
    /// Warnings of the baseline scan.
    pub(crate) warnings: usize,
    /// Whether each Pull extends the lifetime (no `wse:Expires` was given).
    extended_by_pulls: bool,
    style: UriStyle,
    columns: Option<Vec<String>>,
    expires: Mutex<Instant>,
    /// One Pull at a time takes events.
    events: tokio::sync::Mutex<Queue>,
    _permits: StreamPermits,
}

struct Queue {
    stream: EventStream,
    /// Encoded events that did not fit in the last response.
    waiting: VecDeque<String>,
}

fn unknown(id: &str, subcode: Subcode) -> Fault {
    Fault::new(
        subcode,
        format!("no subscription {id:?} of yours (unsubscribed, expired or another user's)"),
    )
}

impl Subscriptions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Subscription>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `owner`'s live subscription `id`.
    pub(crate) fn get(&self, owner: &str, id: &str) -> Option<Arc<Subscription>> {
        let mut open = self.lock();
        let sub = open.get(id)?;
        if sub.expired(Instant::now()) {
            open.remove(id);
            return None;
        }
        (sub.owner == owner).then(|| sub.clone())
    }

    /// Gives `owner`'s subscription a new lifetime; returns it.
    pub(crate) fn renew(
        &self,
        owner: &str,
        id: &str,
        expires: Option<Duration>,
    ) -> Result<Duration, Fault> {
        let sub = self
            .get(owner, id)
            .ok_or_else(|| unknown(id, Subcode::UnableToRenew))?;
        let lifetime = expires.unwrap_or(sub.lifetime);
        *sub.expires.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now() + lifetime;
        Ok(lifetime)
    }

    /// Ends `owner`'s subscription.
    pub(crate) fn close(&self, owner: &str, id: &str) -> Result<(), Fault> {
        let mut open = self.lock();
        match open.get(id) {
            Some(sub) if sub.owner == owner => {
                open.remove(id);
                Ok(())
            }
            _ => Err(unknown(id, Subcode::DestinationUnreachable)),
        }
    }

    /// Drops expired subscriptions; returns how many are still open.
    pub(crate) fn sweep(&self) -> usize {
        let now = Instant::now();
        let mut open = self.lock();
        open.retain(|_, s| !s.expired(now));
        open.len()
    }
}

impl Subscription {
    fn expired(&self, now: Instant) -> bool {
        *self.expires.lock().unwrap_or_else(|e| e.into_inner()) <= now
    }

    /// Opens a subscription for `identity` to the WQL event query `query`.
    pub(crate) async fn open(
        state: &Arc<State>,
        identity: &Identity,
        peer: SocketAddr,
        namespace: &str,
        style: UriStyle,
        query: &str,
        expires: Option<Duration>,
    ) -> Result<Arc<Subscription>, StreamError> {
        let (stream, permits) = open_stream(state, identity, namespace, query, peer).await?;
        let lifetime = expires.unwrap_or(IDLE_LIFETIME);
        let sub = Arc::new(Subscription {
            id: new_id(),
            owner: identity.name.clone(),
            lifetime,
            warnings: stream.warnings().len(),
            extended_by_pulls: expires.is_none(),
            style,
            columns: stream
                .columns()
                .map(|c| c.iter().map(ToString::to_string).collect()),
            expires: Mutex::new(Instant::now() + lifetime),
            events: tokio::sync::Mutex::new(Queue {
                stream,
                waiting: VecDeque::new(),
            }),
            _permits: permits,
        });
        tracing::info!(target: "linmgmt::events", peer = %peer, user = %identity.name,
            namespace, query, "WS-Eventing subscription opened");
        state
            .subscriptions
            .lock()
            .insert(sub.id.clone(), sub.clone());
        Ok(sub)
    }

    /// The next events, up to `count` and `budget` bytes, waiting up to `wait` for the
    /// first. Nothing within the wait is `wsman:TimedOut` (WinRM clients pull again).
    pub(crate) async fn pull(
        &self,
        count: usize,
        budget: usize,
        wait: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Vec<String>, Fault> {
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        let mut queue = tokio::time::timeout_at(deadline, self.events.lock())
            .await
            .map_err(|_| timed_out())?;
        if self.extended_by_pulls {
            *self.expires.lock().unwrap_or_else(|e| e.into_inner()) =
                Instant::now() + self.lifetime;
        }
        let mut out: Vec<String> = Vec::new();
        let mut used = 0;
        while out.len() < count.max(1) {
            let next = match queue.waiting.pop_front() {
                Some(encoded) => encoded,
                None => {
                    let event = if out.is_empty() {
                        tokio::select! {
                            e = tokio::time::timeout_at(deadline, queue.stream.recv()) => match e {
                                Ok(Some(e)) => e,
                                Ok(None) => return Err(Fault::new(
                                    Subcode::EventSourceUnableToProcess,
                                    "the event source stopped; subscribe again",
                                )),
                                Err(_) => return Err(timed_out()),
                            },
                            _ = stop.wait_for(|s| *s) => return Err(Fault::new(
                                Subcode::EventSourceUnableToProcess,
                                "the server is shutting down",
                            )),
                        }
                    } else {
                        match queue.stream.try_recv() {
                            Some(e) => e,
                            None => break,
                        }
                    };
                    let style = InstanceStyle {
                        uri: self.style,
                        namespace: &event.class().namespace,
                        properties: self.columns.as_deref(),
                    };
                    encode::instance(&event, &style)
                }
            };
            if used + next.len() > budget {
                if out.is_empty() {
                    return Err(Fault::new(
                        Subcode::EncodingLimit,
                        format!(
                            "an event takes {} bytes, more than the {budget} the envelope has room for; it is dropped",
                            next.len()
                        ),
                    ));
                }
                queue.waiting.push_front(next);
                break;
            }
            used += next.len();
            out.push(next);
        }
        Ok(out)
    }
}

fn timed_out() -> Fault {
    Fault::new(
        Subcode::TimedOut,
        "no event arrived within the operation timeout; pull again",
    )
}
