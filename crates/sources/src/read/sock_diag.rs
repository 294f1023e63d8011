//! TCP sockets from the kernel over sock_diag netlink, as `ss` reads them.
//!
//! Two reasons to ask the kernel instead of reading `/proc/net/tcp{,6}`:
//! - it gives `tcpi_last_data_recv` (idle time of ssh sessions without a pty and of Samba);
//! - it is cheaper: the two files cost ~4 ms per query because the kernel walks its whole
//!   socket hash for each, and the dump filters states in the kernel.
//!
//! A netlink socket sees only the network namespace of the process that opened it, so the
//! dump answers for the scanner's own namespace only (`NetTables` keeps reading
//! `/proc/<pid>/net/tcp*` for other namespaces). Used only on the real host root; a fixture
//! root may hold `sock_diag.txt` (`INODE LASTRCV_MS` lines) to stand in for the kernel's
//! last-receive times, as `smbstatus.json` stands in for smbstatus.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType, netlink};

use crate::parse::sock_diag::{
    AF_INET, AF_INET6, DiagSocket, STATES_WITH_INODES, dump_request, dump_request_all_families,
    parse_dump, parse_fixture_last_receive,
};
use crate::{Collected, Root, Warning, WarningKind};

/// The fixture stand-in for the kernel's last-receive times, at the top of a fixture root.
pub const FIXTURE_FILE: &str = "sock_diag.txt";

/// How long one dump may take before it is abandoned (and `/proc/net/tcp*` read instead).
const TIMEOUT: Duration = Duration::from_secs(1);

/// Dumps every TCP socket (IPv4 and IPv6) of the calling process's network namespace whose
/// state can own an inode, with its last-receive time: one walk of the kernel's socket hash
/// for both families, else (kernels without the compat request, which has been there since
/// 2.6 but is legacy) one request per family.
pub fn dump_tcp() -> io::Result<Vec<DiagSocket>> {
    dump_tcp_all_families().or_else(|_| dump_tcp_per_family())
}

/// [`dump_tcp`] with the compat `TCPDIAG_GETSOCK` request only.
pub fn dump_tcp_all_families() -> io::Result<Vec<DiagSocket>> {
    let (fd, mut buf) = open()?;
    let mut out = Vec::new();
    let request = dump_request_all_families(STATES_WITH_INODES, 1);
    dump_into(&fd, &request, &mut buf, &mut out)?;
    Ok(out)
}

/// [`dump_tcp`] with one `SOCK_DIAG_BY_FAMILY` request per family only.
pub fn dump_tcp_per_family() -> io::Result<Vec<DiagSocket>> {
    let (fd, mut buf) = open()?;
    let mut out = Vec::new();
    for (seq, family) in [(1, AF_INET), (2, AF_INET6)] {
        let request = dump_request(family, STATES_WITH_INODES, seq);
        dump_into(&fd, &request, &mut buf, &mut out)?;
    }
    Ok(out)
}

/// A sock_diag socket with a receive timeout, and a buffer large enough for any datagram
/// the kernel sends for a dump (about a page of messages each, up to 32 KiB).
fn open() -> io::Result<(rustix::fd::OwnedFd, Vec<u8>)> {
    let fd = rustix::net::socket(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        Some(netlink::SOCK_DIAG),
    )?;
    rustix::net::sockopt::set_socket_timeout(
        &fd,
        rustix::net::sockopt::Timeout::Recv,
        Some(TIMEOUT),
    )?;
    Ok((fd, vec![0u8; 64 * 1024]))
}

/// Sends one dump request and collects its answer.
fn dump_into(
    fd: &rustix::fd::OwnedFd,
    request: &[u8],
    buf: &mut [u8],
    out: &mut Vec<DiagSocket>,
) -> io::Result<()> {
    rustix::net::send(fd, request, SendFlags::empty())?;
    loop {
        let (n, _) = rustix::net::recv(fd, &mut *buf, RecvFlags::empty())?;
        if n == 0 {
            return Ok(());
        }
        let chunk = parse_dump(&buf[..n.min(buf.len())])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        out.extend(chunk.sockets.into_iter().filter(|s| s.entry.inode != 0));
        if chunk.done {
            return Ok(());
        }
    }
}

/// Last-receive times by socket inode for a fixture root: `<root>/sock_diag.txt` when it
/// exists, else none.
pub fn read_fixture_last_receive(root: &Root) -> Collected<BTreeMap<u64, Duration>> {
    match root.read_string(FIXTURE_FILE) {
        Ok(text) => Collected::ok(parse_fixture_last_receive(&text).into_iter().collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Collected::ok(BTreeMap::new()),
        Err(e) => Collected {
            items: BTreeMap::new(),
            warnings: vec![Warning::io(FIXTURE_FILE, &e)],
        },
    }
}

/// The dump as a warning on failure: sock_diag may be missing (`CONFIG_INET_DIAG=n`) or
/// forbidden by a seccomp filter; then the caller reads `/proc/net/tcp*`.
pub fn dump_tcp_collected() -> Collected<Option<Vec<DiagSocket>>> {
    match dump_tcp() {
        Ok(s) => Collected::ok(Some(s)),
        // No sock_diag in this kernel: not a problem, the files serve.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc_errno::EPROTONOSUPPORT | libc_errno::EAFNOSUPPORT)
            ) =>
        {
            Collected::ok(None)
        }
        Err(e) => Collected {
            items: None,
            warnings: vec![Warning::general(
                WarningKind::Io,
                format!("sock_diag netlink: {e}; reading /proc/net/tcp instead"),
            )],
        },
    }
}

/// The errnos that mean "no sock_diag here" (asm-generic values, the same on every Linux
/// architecture we target).
mod libc_errno {
    pub const EPROTONOSUPPORT: i32 = 93;
    pub const EAFNOSUPPORT: i32 = 97;
}
