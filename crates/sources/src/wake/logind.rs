//! The D-Bus thread: logind's `SessionNew` and `SessionRemoved` signals.
//!
//! zbus on its own runtime (`zbus::block_on` on a thread of ours), as in
//! [`crate::read::logind_bus`]. The match rules name logind's well-known name as the sender, so
//! the bus delivers only signals that logind itself sent (on the system bus anyone may emit a
//! signal with logind's interface name, and each would cost the watcher a scan). The wait
//! for the next signal races the [`Stop`] request, which wakes it, so the thread ends as soon
//! as the [`super::Wakers`] are dropped.

use std::future::{Future, poll_fn};
use std::io;
use std::num::NonZeroUsize;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::task::Poll;
use std::time::Duration;

use futures_core::Stream;
use zbus::message::Type;
use zbus::{Connection, MatchRule, Message, MessageStream, OwnedObjectPath};

use super::{Stop, Wake, send};
use crate::read::logind_bus::{LOGIN1, unix_path};

/// How long connecting and adding the match rules may take before `start` gives up.
const SETUP_TIMEOUT: Duration = Duration::from_secs(2);
/// Signals queued per rule before zbus drops the oldest; a burst of logins beyond that costs
/// nothing, since one wake is enough for one scan.
const QUEUE: NonZeroUsize = NonZeroUsize::new(64).unwrap();

const MANAGER: &str = "org.freedesktop.login1.Manager";
const PATH: &str = "/org/freedesktop/login1";

/// Connects, subscribes and starts the thread; `Err` says why not, for
/// [`super::Wakers::unavailable`].
pub(super) fn start(address: &str, tx: SyncSender<Wake>, stop: Arc<Stop>) -> Result<(), String> {
    if let Some(path) = unix_path(address)
        && !std::path::Path::new(path).exists()
    {
        return Err(format!("no D-Bus daemon at {address}"));
    }
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    let owned = address.to_string();
    std::thread::Builder::new()
        .name("wake-logind".into())
        .spawn(move || zbus::block_on(listen(&owned, &tx, &stop, &ready_tx)))
        .map_err(|e| format!("starting a thread: {e}"))?;
    // Dropping the receiver on a timeout tells a late thread to end instead of listening.
    match ready_rx.recv_timeout(SETUP_TIMEOUT) {
        Ok(answer) => answer,
        Err(RecvTimeoutError::Timeout) => {
            Err(format!("no answer from {address} within {SETUP_TIMEOUT:?}"))
        }
        Err(RecvTimeoutError::Disconnected) => Err("the D-Bus thread ended".to_string()),
    }
}

async fn listen(
    address: &str,
    tx: &SyncSender<Wake>,
    stop: &Stop,
    ready: &SyncSender<Result<(), String>>,
) {
    let (_conn, mut new, mut removed) = match until_stopped(stop, subscribe(address)).await {
        None => return,
        Some(Err(e)) => {
            let _ = ready.send(Err(describe(address, e)));
            return;
        }
        Some(Ok(subscribed)) => subscribed,
    };
    if ready.send(Ok(())).is_err() {
        return;
    }
    let mut new_first = false;
    loop {
        // Alternating which stream is polled first keeps a flood of one from starving the other.
        new_first = !new_first;
        let next = poll_fn(|cx| {
            if stop.poll_requested(cx).is_ready() {
                return Poll::Ready(None);
            }
            for is_new in [new_first, !new_first] {
                let stream = if is_new { &mut new } else { &mut removed };
                if let Poll::Ready(item) = Pin::new(stream).poll_next(cx) {
                    return Poll::Ready(Some((is_new, item)));
                }
            }
            Poll::Pending
        })
        .await;
        let wake = match next {
            None => return,
            Some((is_new, Some(Ok(msg)))) => session_wake(&msg, is_new),
            // The connection closed (the bus went away): signals are lost from now on.
            Some((_, None)) => {
                send(tx, Wake::Overrun);
                return;
            }
            Some((_, Some(Err(_)))) => Wake::Overrun,
        };
        if !send(tx, wake) {
            return;
        }
    }
}

/// `SessionNew`/`SessionRemoved (s id, o path)` as a wake; a body that does not have that shape
/// is still a reason to look.
fn session_wake(msg: &Message, new: bool) -> Wake {
    match msg.body().deserialize::<(String, OwnedObjectPath)>() {
        Ok((id, _)) => Wake::Logind { new, id },
        Err(_) => Wake::Overrun,
    }
}

async fn subscribe(address: &str) -> zbus::Result<(Connection, MessageStream, MessageStream)> {
    let conn = zbus::connection::Builder::address(address)
        .method_timeout(SETUP_TIMEOUT)
        .build()
        .await?;
    let rule = |member: &'static str| {
        MatchRule::builder()
            .msg_type(Type::Signal)
            .sender(LOGIN1)
            .path(PATH)
            .interface(MANAGER)
            .member(member)
            .build()
    };
    let new = MessageStream::for_match_rule(rule("SessionNew")?, &conn, Some(QUEUE)).await?;
    let removed =
        MessageStream::for_match_rule(rule("SessionRemoved")?, &conn, Some(QUEUE)).await?;
    Ok((conn, new, removed))
}

/// Runs `fut` unless a stop is requested first (`None`).
async fn until_stopped<T>(stop: &Stop, fut: impl Future<Output = T>) -> Option<T> {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        stop.poll_requested(cx).map(|()| None)
    })
    .await
}

fn describe(address: &str, e: zbus::Error) -> String {
    if let zbus::Error::InputOutput(io) = &e
        && matches!(
            io.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
        )
    {
        return format!("no D-Bus daemon at {address}");
    }
    e.to_string()
}
