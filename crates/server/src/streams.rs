//! Event streams, whoever asks for them (`GET …/events`, WS-Eventing subscriptions): the
//! query compiled in its namespace, a place under the stream limits (per user, per source
//! address, in all), and a subscription to the one event hub whose baseline scan runs as
//! the user's work, within the request deadline.

use crate::State;
use crate::limits::{QuotaGuard, source_key};
use crate::request::{Reply, turn};
use linmgmt_cim::WbemStatus;
use linmgmt_engine::EngineError;
use linmgmt_events::{EventStream, Subscription};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;

/// Why an event stream could not be opened.
pub(crate) enum StreamError {
    /// The server does not follow the host.
    NoHub(String),
    /// The namespace or the query is wrong (WBEM_E_INVALID_QUERY and friends).
    Query(EngineError),
    /// A stream limit (per user, per address, or all).
    Limit(String),
    /// No turn or no baseline before the deadline.
    Busy(Reply),
    /// The baseline scan failed.
    Baseline(EngineError),
}

/// Compiles `query` in `namespace`, takes a place under the stream limits and subscribes
/// to the hub, whose baseline scan runs as work of `identity` (its share of the blocking
/// threads, the request deadline).
pub(crate) async fn open_stream(
    state: &Arc<State>,
    identity: &crate::Identity,
    namespace: &str,
    query: &str,
    peer: std::net::SocketAddr,
) -> Result<(EventStream, StreamPermits), StreamError> {
    let parts = state.snapshots.parts();
    let Some(hub) = parts.hub.clone() else {
        return Err(StreamError::NoHub(
            "this server does not follow the host (it serves test data), so it has no events"
                .to_owned(),
        ));
    };
    let ns = parts.repository.namespace(namespace).ok_or_else(|| {
        StreamError::Query(EngineError::new(
            WbemStatus::InvalidNamespace,
            format!("no namespace {namespace}"),
        ))
    })?;
    let subscription = Subscription::compile(ns, query, &parts.compile, parts.context.clone())
        .map_err(StreamError::Query)?;
    let permits = stream_permits(state, &identity.name, peer).map_err(|message| {
        state.refusals.refuse(
            "event streams",
            format_args!("{message} ({})", identity.name),
        );
        StreamError::Limit(message)
    })?;
    let viewer = match identity.role {
        crate::Role::Admin => None,
        crate::Role::User => Some(identity.name.clone()),
    };
    // The baseline scan: until it is done, changes are not news. It is work like any
    // request's: within the user's share of the blocking threads, and the deadline.
    let deadline = Instant::now() + state.config.http.request_timeout;
    let turn = turn(state, &identity.name, deadline)
        .await
        .map_err(StreamError::Busy)?;
    let subscribed = tokio::time::timeout_at(
        deadline.into(),
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            hub.subscribe(subscription, viewer)
        }),
    )
    .await
    .map_err(|_| {
        StreamError::Busy(Reply::busy(
            "the baseline scan did not finish before the request deadline",
        ))
    })?;
    match subscribed {
        Ok(Ok(stream)) => Ok((stream, permits)),
        Ok(Err(e)) => Err(StreamError::Baseline(e)),
        Err(_) => Err(StreamError::Baseline(EngineError::new(
            WbemStatus::Failed,
            "internal error",
        ))),
    }
}

/// One stream's place under each of the stream limits.
pub(crate) type StreamPermits = (
    OwnedSemaphorePermit,
    QuotaGuard<String>,
    QuotaGuard<std::net::IpAddr>,
);

/// A place for one more stream of `user` from `peer`, or why not.
fn stream_permits(
    state: &State,
    user: &str,
    peer: std::net::SocketAddr,
) -> Result<StreamPermits, String> {
    let limits = state.config.events;
    let own = state
        .streams_per_user
        .try_acquire(&user.to_owned())
        .ok_or_else(|| {
            format!(
                "at most {} event streams per user may be open at once",
                limits.max_streams_per_user
            )
        })?;
    let source = source_key(peer.ip());
    let from = state
        .streams_per_address
        .try_acquire(&source)
        .ok_or_else(|| {
            format!(
                "at most {} event streams per address may be open at once",
                limits.max_streams_per_address
            )
        })?;
    let all = state.event_slots.clone().try_acquire_owned().map_err(|_| {
        format!(
            "at most {} event streams may be open at once",
            limits.max_streams
        )
    })?;
    Ok((all, own, from))
}
