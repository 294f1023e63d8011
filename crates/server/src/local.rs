//! The local socket (`/run/linmgmt/linmgmt.sock`): `linmgmt query`, `get` and the overview
//! on this host ask the running server, which answers from its live snapshots instead of
//! scanning the host again.
//!
//! The server gives the bytes no meaning: one request (read to the client's end of writing,
//! at most [`MAX_REQUEST`] bytes, within the body timeout) in, one answer out, both in the
//! binary's own format ([`LocalService`]). Identity is the peer's credentials from the
//! kernel (`SO_PEERCRED`), never anything the client says. Only root is answered from the
//! snapshots: a plain user's view is, by definition, what a scan with their own
//! permissions reads, so everyone else is told to scan directly
//! ([`LocalService::not_served`]). The socket's directory is root's too (0700), so this is a
//! second wall, not the only one. Limits: the server's connection count, a share of them
//! per uid, the per-user share of the blocking threads and the request deadline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use linmgmt_engine::Engine;
use linmgmt_providers::HostProvider;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::State;
use crate::limits::Quota;

/// The longest request read.
pub const MAX_REQUEST: usize = 64 * 1024;

/// What the binary makes of the bytes.
pub trait LocalService: Send + Sync + 'static {
    /// The answer to a peer the socket does not serve (anyone but root).
    fn not_served(&self, peer: &Peer) -> Vec<u8>;
    /// The answer to one request, on a blocking thread; `host` is the snapshot's host.
    fn answer(
        &self,
        peer: &Peer,
        request: &[u8],
        engine: &Engine,
        host: Option<&HostProvider>,
    ) -> Vec<u8>;
    /// The answer when the server could not do the work (too large, busy, too slow).
    fn failed(&self, why: &str) -> Vec<u8>;
    /// Whether `request` asks for a stream of answers (`watch`): then
    /// [`LocalService::stream`] runs instead of [`LocalService::answer`].
    fn streams(&self, _request: &[u8]) -> bool {
        false
    }
    /// Writes a stream of answers to `out` until it ends, the client goes away or `stop`
    /// turns true (the server shuts down); on a blocking thread held for the stream's life,
    /// within the server's event-stream limits.
    fn stream(
        &self,
        _peer: &Peer,
        _request: &[u8],
        _engine: &Engine,
        _out: std::os::unix::net::UnixStream,
        _stop: watch::Receiver<bool>,
    ) {
    }
}

/// Who is at the other end, as the kernel says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The peer's uid.
    pub uid: u32,
    /// The peer's gid.
    pub gid: u32,
    /// The peer's pid, when the kernel says.
    pub pid: Option<i32>,
}

/// Where the socket is and who answers.
#[derive(Clone)]
pub struct Local {
    /// The socket's path; its directory is made (0700) when missing.
    pub path: PathBuf,
    /// What the bytes mean.
    pub service: Arc<dyn LocalService>,
}

/// Binds the socket: a stale one (no server behind it) is replaced, a live one is an error.
pub(crate) async fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        if UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another server answers on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    // Connecting needs write permission on the socket; the directory decides who reaches it.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(listener)
}

/// Accepts until shutdown, then removes the socket.
pub(crate) async fn accept_loop(
    listener: UnixListener,
    local: Local,
    state: Arc<State>,
    slots: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let per_uid: Arc<Quota<u32>> = Quota::new(state.config.http.max_connections_per_address);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("accept on {}: {e}", local.path.display());
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(cred) = stream.peer_cred() else {
            continue;
        };
        let peer = Peer {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        };
        let Some(own) = per_uid.try_acquire(&peer.uid) else {
            state.refusals.refuse(
                "local connections per uid",
                format_args!("uid {} has {} open", peer.uid, per_uid.per_key()),
            );
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            state
                .refusals
                .refuse("connections", format_args!("local uid {}", peer.uid));
            continue;
        };
        let (state, service) = (state.clone(), local.service.clone());
        tokio::spawn(async move {
            let _permits = (permit, own);
            serve(stream, peer, state, service).await;
        });
    }
    let _ = std::fs::remove_file(&local.path);
}

async fn serve(
    mut stream: UnixStream,
    peer: Peer,
    state: Arc<State>,
    service: Arc<dyn LocalService>,
) {
    let limits = state.config.http;
    let started = std::time::Instant::now();
    let answer = if peer.uid != 0 {
        tracing::info!("local: uid {} is not served (it scans directly)", peer.uid);
        service.not_served(&peer)
    } else {
        match read_request(&mut stream, limits.body_timeout).await {
            Ok(request) if service.streams(&request) => {
                follow(stream, peer, request, &state, service).await;
                return;
            }
            Ok(request) => match work(&state, peer, request, service.clone()).await {
                Ok(answer) => {
                    tracing::info!(
                        "local: uid {} answered, {} bytes in {:.1} ms",
                        peer.uid,
                        answer.len(),
                        started.elapsed().as_secs_f64() * 1000.0
                    );
                    answer
                }
                Err(why) => {
                    tracing::info!("local: uid {}: {why}", peer.uid);
                    service.failed(why)
                }
            },
            Err(why) => {
                tracing::info!("local: uid {}: {why}", peer.uid);
                service.failed(why)
            }
        }
    };
    let write = async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    };
    // A client that does not read its answer does not hold the connection for ever.
    let _ = tokio::time::timeout(limits.body_timeout, write).await;
}

/// The request: everything until the client shuts its side down.
async fn read_request(stream: &mut UnixStream, timeout: Duration) -> Result<Vec<u8>, &'static str> {
    let mut request = Vec::new();
    let mut limited = (&mut *stream).take(MAX_REQUEST as u64 + 1);
    match tokio::time::timeout(timeout, limited.read_to_end(&mut request)).await {
        Err(_) => Err("the request did not arrive in time"),
        Ok(Err(_)) => Err("the request could not be read"),
        Ok(Ok(_)) if request.len() > MAX_REQUEST => Err("the request is too large"),
        Ok(Ok(_)) => Ok(request),
    }
}

async fn work(
    state: &Arc<State>,
    peer: Peer,
    request: Vec<u8>,
    service: Arc<dyn LocalService>,
) -> Result<Vec<u8>, &'static str> {
    let limits = state.config.http;
    let deadline = Instant::now() + limits.request_timeout;
    let key = format!("uid:{}", peer.uid);
    let Ok(turn) = tokio::time::timeout_at(deadline, state.work.acquire(&key)).await else {
        return Err("the server is busy");
    };
    let Ok(generation) = tokio::time::timeout_at(deadline, state.snapshots.fresh(false)).await
    else {
        return Err("the host snapshot was not ready in time");
    };
    let identity = crate::Identity {
        name: "root".into(),
        role: crate::Role::Admin,
    };
    let engine = generation
        .engine_for(state.snapshots.parts(), &identity)
        .with_deadline(deadline.into_std());
    let task = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        service.answer(&peer, &request, &engine, generation.host().map(|h| &**h))
    });
    match tokio::time::timeout_at(deadline + Duration::from_secs(1), task).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(_)) => Err("internal error"),
        Err(_) => Err("the request ran out of time"),
    }
}

/// A stream (`watch`): within the event-stream limits (all, and per uid), on a blocking
/// thread of its own.
async fn follow(
    mut socket: UnixStream,
    peer: Peer,
    request: Vec<u8>,
    state: &Arc<State>,
    service: Arc<dyn LocalService>,
) {
    let key = format!("uid:{}", peer.uid);
    let permits = state
        .streams_per_user
        .try_acquire(&key)
        .zip(state.event_slots.clone().try_acquire_owned().ok());
    let limits = state.config.http;
    let deadline = Instant::now() + limits.request_timeout;
    let generation = match permits {
        Some(_) => tokio::time::timeout_at(deadline, state.snapshots.fresh(false))
            .await
            .ok(),
        None => None,
    };
    let Some((permits, generation)) = permits.zip(generation) else {
        tracing::info!("local: uid {}: no event stream free", peer.uid);
        let answer = service.failed("no event stream free");
        let _ = tokio::time::timeout(limits.body_timeout, socket.write_all(&answer)).await;
        return;
    };
    let identity = crate::Identity {
        name: "root".into(),
        role: crate::Role::Admin,
    };
    let engine = generation.engine_for(state.snapshots.parts(), &identity);
    let Ok(out) = socket.into_std() else {
        return;
    };
    if out.set_nonblocking(false).is_err() {
        return;
    }
    tracing::info!("local: uid {} follows events", peer.uid);
    let stop = state.shutdown.subscribe();
    let _ = tokio::task::spawn_blocking(move || {
        let _permits = permits;
        service.stream(&peer, &request, &engine, out, stop);
    })
    .await;
}
