//! The proc connector thread: a netlink socket bound to the process-events group, each
//! event filtered through the watcher's [`Interest`], or every event noted in the live
//! model's [`ProcessChanges`].
//!
//! Only the real host root: the kernel reports pids of the initial PID namespace, and answers
//! subscriptions only from the initial PID and user namespaces, with `CAP_NET_ADMIN` (binding
//! to the group needs it too). The subscription is therefore confirmed before the source is
//! called active: the kernel acknowledges it with an event whose `ack` is our token plus one,
//! and a subscription it ignored (a container) would otherwise look like a quiet host.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::sockopt::{self, Timeout};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use super::{Interest, ProcEvent, ProcEventKind, Stop, Wake, send};
use crate::Root;
use crate::model::ProcessChanges;
use crate::parse::proc::parse_audit_id;
use crate::parse::proc_connector::{
    CN_IDX_PROC, CnEvent, Datagram, ignore_message, listen_message, parse_datagram,
};

/// How often the thread looks at the stop flag.
const RECV_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the kernel's acknowledgement may take (it is queued before `send` returns, so
/// this only matters when it never comes).
const ACK_WAIT: Duration = Duration::from_secs(1);
/// Receive timeout while waiting for the acknowledgement.
const ACK_RECV_TIMEOUT: Duration = Duration::from_millis(200);
/// The socket's receive buffer: a fork storm of tens of thousands of events fits before the
/// kernel reports an overrun.
const RECV_BUFFER: usize = 4 << 20;

/// Distinguishes the subscriptions of several `Wakers` of one process in the acknowledgements,
/// which every listener on the host receives.
static NEXT_TOKEN: AtomicU32 = AtomicU32::new(1);

/// Where the events go.
pub(super) enum Sink {
    /// A watcher's wakes: only the events its interest wants.
    Wakes {
        /// What the watcher cares about.
        interest: Arc<RwLock<Interest>>,
        /// The watcher's channel.
        tx: SyncSender<Wake>,
    },
    /// The live model: every event.
    Changes(Arc<ProcessChanges>),
}

impl Sink {
    /// Events may have been lost; `false` once the watcher is gone.
    fn overrun(&self) -> bool {
        match self {
            Sink::Wakes { tx, .. } => send(tx, Wake::Overrun),
            Sink::Changes(changes) => {
                changes.overrun();
                true
            }
        }
    }
}

/// Subscribes and starts the thread.
pub(super) fn start(root: &Root, sink: Sink, stop: Arc<Stop>) -> io::Result<()> {
    let listener = Listener::open(root, sink)?;
    std::thread::Builder::new()
        .name("wake-proc".into())
        .spawn(move || listener.run(&stop))?;
    Ok(())
}

/// Tells the live model when the thread ends for any reason but a stop (an error, a
/// panic): from then on its table cannot trust the absence of events.
struct Farewell(Option<Arc<ProcessChanges>>);

impl Drop for Farewell {
    fn drop(&mut self) {
        if let Some(changes) = &self.0 {
            changes.listener_gone();
        }
    }
}

struct Listener {
    fd: OwnedFd,
    token: u32,
    root: Root,
    sink: Sink,
    buf: Vec<u8>,
    file: Vec<u8>,
}

impl Listener {
    fn open(root: &Root, sink: Sink) -> io::Result<Listener> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            Some(netlink::CONNECTOR),
        )?;
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, CN_IDX_PROC))?;
        // Forcing the size past rmem_max needs CAP_NET_ADMIN, which binding just proved; the
        // plain request is the fallback, and a small buffer only means earlier overruns.
        if sockopt::set_socket_recv_buffer_size_force(&fd, RECV_BUFFER).is_err() {
            let _ = sockopt::set_socket_recv_buffer_size(&fd, RECV_BUFFER);
        }
        sockopt::set_socket_timeout(&fd, Timeout::Recv, Some(ACK_RECV_TIMEOUT))?;
        // Other processes' tokens are small counters or 0; this one is unlikely to collide.
        let token = std::process::id().rotate_left(16) ^ NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        rustix::net::send(&fd, &listen_message(token), SendFlags::empty())?;
        let mut listener = Listener {
            fd,
            token,
            root: root.clone(),
            sink,
            buf: vec![0u8; 64 * 1024],
            file: Vec::with_capacity(32),
        };
        listener.await_ack()?;
        sockopt::set_socket_timeout(&listener.fd, Timeout::Recv, Some(RECV_TIMEOUT))?;
        Ok(listener)
    }

    /// Waits for the kernel's answer to our subscription. Events that arrive meanwhile are
    /// handled as usual: they happened after `start` was called.
    fn await_ack(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + ACK_WAIT;
        while Instant::now() < deadline {
            let datagram = match self.receive() {
                Ok(d) => d,
                Err(Errno::AGAIN | Errno::INTR) => continue,
                Err(Errno::NOBUFS) => {
                    self.sink.overrun();
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let answer = datagram.events.iter().find_map(|e| match *e {
                CnEvent::Ack { ack, err, .. } if ack == self.token.wrapping_add(1) => Some(err),
                _ => None,
            });
            self.handle(&datagram);
            match answer {
                Some(0) => return Ok(()),
                Some(err) => return Err(io::Error::from_raw_os_error(err as i32)),
                None => {}
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the kernel did not acknowledge the subscription (it answers only processes in the \
             initial PID and user namespaces)",
        ))
    }

    fn receive(&mut self) -> Result<Datagram, Errno> {
        let (n, _) = rustix::net::recv(&self.fd, &mut self.buf[..], RecvFlags::empty())?;
        Ok(parse_datagram(&self.buf[..n.min(self.buf.len())]))
    }

    fn run(mut self, stop: &Stop) {
        let mut farewell = Farewell(match &self.sink {
            Sink::Changes(changes) => Some(changes.clone()),
            Sink::Wakes { .. } => None,
        });
        while !stop.requested() {
            let keep_going = match self.receive() {
                Ok(datagram) => self.handle(&datagram),
                // The receive timeout: time to look at the stop flag.
                Err(Errno::AGAIN | Errno::INTR) => true,
                // The socket buffer overflowed: events were lost.
                Err(Errno::NOBUFS) => self.sink.overrun(),
                // Nothing else is expected from a bound netlink socket; rather than spin on a
                // persistent error, say that events may be missed from now on and end.
                Err(_) => {
                    self.sink.overrun();
                    false
                }
            };
            if !keep_going {
                break;
            }
        }
        if stop.requested() {
            farewell.0 = None;
        }
        // Since Linux 6.6 closing the socket unsubscribes; before, only this does, and a
        // forgotten subscription keeps the kernel building events for nobody.
        let _ = rustix::net::send(&self.fd, &ignore_message(self.token), SendFlags::empty());
    }

    /// Forwards the wanted events of one datagram; `false` once the watcher is gone.
    fn handle(&mut self, datagram: &Datagram) -> bool {
        if datagram.malformed > 0 && !self.sink.overrun() {
            return false;
        }
        for &event in &datagram.events {
            if let Sink::Changes(changes) = &self.sink {
                // The model reads what it needs itself, later and once per batch.
                if let Some((kind, pid, parent)) = kind_of(event) {
                    changes.note(kind, pid, parent);
                }
                continue;
            }
            let Some(event) = self.event(event) else {
                continue;
            };
            let Sink::Wakes { interest, tx } = &self.sink else {
                continue;
            };
            let wanted = {
                let interest = interest.read().unwrap_or_else(PoisonError::into_inner);
                interest.wants(&event)
            };
            if wanted && !send(tx, Wake::Process(event)) {
                return false;
            }
        }
        true
    }

    fn event(&mut self, event: CnEvent) -> Option<ProcEvent> {
        let (kind, pid, parent) = kind_of(event)?;
        let session = match kind {
            ProcEventKind::Exit => None,
            _ => self.session_of(pid),
        };
        Some(ProcEvent {
            kind,
            pid,
            parent,
            session,
        })
    }

    /// `/proc/<pid>/sessionid` now: a short-lived process may be gone already (`None`).
    fn session_of(&mut self, pid: u32) -> Option<u32> {
        self.root
            .read_into(format!("proc/{pid}/sessionid"), &mut self.file)
            .ok()?;
        parse_audit_id(&self.file).ok().flatten()
    }
}

/// A process event's kind, process and parent (Fork: the parent; Exit: the parent, from
/// Linux 4.18); `None` for what is not about one process.
fn kind_of(event: CnEvent) -> Option<(ProcEventKind, u32, Option<u32>)> {
    Some(match event {
        CnEvent::Fork {
            parent_tgid,
            child_tgid,
        } => (ProcEventKind::Fork, child_tgid, Some(parent_tgid)),
        CnEvent::Exec { tgid } => (ProcEventKind::Exec, tgid, None),
        CnEvent::Uid { tgid, .. } => (ProcEventKind::Uid, tgid, None),
        CnEvent::Gid { tgid } => (ProcEventKind::Gid, tgid, None),
        CnEvent::Comm { tgid } => (ProcEventKind::Comm, tgid, None),
        CnEvent::Sid { tgid } => (ProcEventKind::Sid, tgid, None),
        CnEvent::Exit {
            tgid, parent_tgid, ..
        } => (ProcEventKind::Exit, tgid, parent_tgid),
        CnEvent::Ack { .. } | CnEvent::Other { .. } => return None,
    })
}
