//! Sources that are not files, tested for real: sock_diag netlink on this host's loopback,
//! and logind over a private `dbus-daemon` with a mock `org.freedesktop.login1`.
//!
//! Where sock_diag or `dbus-daemon` is missing a test is skipped with a notice; under
//! `CI=true` that fails instead (`linmgmt_test_support::skip`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use linmgmt_sources::parse::net::{TcpState, parse_tcp_table};
use linmgmt_sources::read::logind_bus::{BusError, read_logind_bus};
use linmgmt_sources::read::sock_diag::{dump_tcp, dump_tcp_all_families, dump_tcp_per_family};
use linmgmt_test_support::dbus::{MockSession, PrivateBus, serve_mock_logind};
use linmgmt_test_support::skip;

fn inode_of(fd: i32) -> u64 {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).expect("fd link");
    let link = link.to_string_lossy();
    link.strip_prefix("socket:[")
        .and_then(|l| l.strip_suffix(']'))
        .expect("a socket")
        .parse()
        .expect("inode")
}

#[test]
fn sock_diag_sees_loopback_connections_with_last_receive() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    server.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    client.read_exact(&mut buf).unwrap();
    // The server side has received nothing yet; the client just did.
    std::thread::sleep(Duration::from_millis(300));
    let v6_listener = TcpListener::bind("[::1]:0").ok();
    let v6 = v6_listener.as_ref().map(|l| {
        let c = TcpStream::connect(l.local_addr().unwrap()).expect("connect ::1");
        let (s, _) = l.accept().expect("accept ::1");
        (c, s)
    });

    let sockets = match dump_tcp() {
        Ok(s) => s,
        Err(e) => {
            skip(&format!(
                "sock_diag netlink is not available here: {e} (a kernel without inet_diag and \
                 tcp_diag, `modprobe tcp_diag`, or a sandbox that blocks NETLINK_SOCK_DIAG)"
            ));
            return;
        }
    };
    let find = |inode: u64| {
        sockets
            .iter()
            .find(|s| s.entry.inode == inode)
            .unwrap_or_else(|| panic!("inode {inode} in the dump"))
    };
    let c = find(inode_of(client.as_raw_fd()));
    assert_eq!(c.entry.local, client.local_addr().unwrap());
    assert_eq!(c.entry.remote, client.peer_addr().unwrap());
    assert_eq!(c.entry.state, TcpState::Established);
    let c_idle = c.last_receive.expect("tcp_info");
    assert!(c_idle >= Duration::from_millis(200), "{c_idle:?}");
    assert!(c_idle < Duration::from_secs(30), "{c_idle:?}");
    let s = find(inode_of(server.as_raw_fd()));
    assert_eq!(s.entry.local, server.local_addr().unwrap());
    assert!(s.last_receive.is_some());
    // The listener is in the dump too, as in /proc/net/tcp.
    assert_eq!(
        find(inode_of(listener.as_raw_fd())).entry.state,
        TcpState::Listen
    );
    if let Some((c6, _s6)) = &v6 {
        let e = &find(inode_of(c6.as_raw_fd())).entry;
        assert_eq!(e.remote, c6.peer_addr().unwrap());
        assert!(e.v6_table);
    }

    // Both request forms see the same sockets.
    for (how, dump) in [
        ("TCPDIAG_GETSOCK", dump_tcp_all_families()),
        ("SOCK_DIAG_BY_FAMILY", dump_tcp_per_family()),
    ] {
        let dump = dump.unwrap_or_else(|e| panic!("{how}: {e}"));
        for fd in [client.as_raw_fd(), server.as_raw_fd(), listener.as_raw_fd()]
            .into_iter()
            .chain(v6.as_ref().map(|(c6, _)| c6.as_raw_fd()))
        {
            let inode = inode_of(fd);
            assert!(
                dump.iter().any(|s| s.entry.inode == inode),
                "{how}: inode {inode}"
            );
        }
    }

    // Same rows as the kernel's text table, for the sockets both show.
    let table = std::fs::read("/proc/self/net/tcp").expect("tcp table");
    let (rows, _) = parse_tcp_table(&table, false);
    let row = rows
        .iter()
        .find(|r| r.inode == c.entry.inode)
        .expect("in /proc/net/tcp");
    assert_eq!(row, &c.entry);
}

fn sessions() -> Vec<MockSession> {
    vec![
        MockSession {
            id: "5".into(),
            uid: 1001,
            name: "alice".into(),
            timestamp_us: 1_785_571_200_250_000,
            service: "su-l".into(),
            leader: 3000,
            audit: 5,
            session_type: "unspecified".into(),
            class: "background".into(),
            state: "closing".into(),
            ..MockSession::default()
        },
        MockSession {
            id: "c7".into(),
            uid: 1002,
            name: "bob".into(),
            timestamp_us: 1_785_574_800_000_000,
            tty: "pts/4".into(),
            remote: true,
            remote_host: "10.0.0.9".into(),
            remote_user: "rbob".into(),
            service: "runuser-l".into(),
            leader: 3100,
            session_type: "tty".into(),
            class: "manager".into(),
            state: "active".into(),
            seat: "seat0".into(),
            idle_hint: true,
            idle_since_us: 1_785_578_400_000_000,
            ..MockSession::default()
        },
    ]
}

#[test]
fn logind_over_a_private_bus() {
    let Some(bus) = PrivateBus::start() else {
        return;
    };
    // A bus without logind: no sessions, no error.
    assert!(matches!(
        read_logind_bus(bus.address(), Duration::from_secs(1)),
        Ok(None)
    ));
    serve_mock_logind(bus.address(), sessions());
    let got = read_logind_bus(bus.address(), Duration::from_secs(1))
        .expect("bus answers")
        .expect("logind is on it");
    assert_eq!(got.len(), 2);
    let a = &got[0];
    assert_eq!(a.id, "5");
    assert_eq!((a.uid, a.user.as_deref()), (Some(1001), Some("alice")));
    assert_eq!(a.started.unwrap().as_microsecond(), 1_785_571_200_250_000);
    assert_eq!(a.service.as_deref(), Some("su-l"));
    assert_eq!((a.leader, a.audit), (Some(3000), Some(5)));
    assert_eq!(a.class.as_deref(), Some("background"));
    assert_eq!(a.state.as_deref(), Some("closing"));
    assert_eq!((a.tty.as_deref(), a.seat.as_deref()), (None, None));
    assert_eq!(a.active, Some(false));
    assert_eq!(a.scope.as_deref(), Some("session-5.scope"));
    let b = &got[1];
    assert_eq!(b.id, "c7");
    assert_eq!(b.audit, None);
    assert_eq!(b.tty.as_deref(), Some("pts/4"));
    assert_eq!(b.remote, Some(true));
    assert_eq!(b.remote_host.as_deref(), Some("10.0.0.9"));
    assert_eq!(b.remote_user.as_deref(), Some("rbob"));
    assert_eq!(b.seat.as_deref(), Some("seat0"));
    assert_eq!(b.session_type.as_deref(), Some("tty"));
    assert_eq!(b.idle_hint, Some(true));
    assert_eq!(
        b.idle_since.unwrap().as_microsecond(),
        1_785_578_400_000_000
    );
}

#[test]
fn a_bus_that_never_answers_is_bounded() {
    // A listening socket that accepts and then says nothing: the reader gives up in time.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mute");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let _keep = std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(5));
        drop(held);
    });
    let started = std::time::Instant::now();
    let e = read_logind_bus(
        &format!("unix:path={}", path.display()),
        Duration::from_millis(300),
    )
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "{e:?}");
    assert!(
        matches!(e, BusError::TimedOut(_) | BusError::Failed(_)),
        "{e:?}"
    );
}

/// What a scan takes for granted, on this kernel: a kernel thread (`PF_KTHREAD`) has no
/// audit session, so its `sessionid` is not read.
#[test]
fn kernel_threads_have_no_audit_session() {
    use linmgmt_sources::parse::proc::parse_stat;
    let mut kernel_threads = 0;
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let path = entry.expect("entry").path();
        let (Ok(stat), Ok(session)) = (
            std::fs::read(path.join("stat")),
            std::fs::read_to_string(path.join("sessionid")),
        ) else {
            continue; // not a pid, or gone, or no audit support
        };
        if parse_stat(&stat).is_ok_and(|s| s.is_kernel_thread()) {
            kernel_threads += 1;
            assert_eq!(session.trim(), "4294967295", "{}", path.display());
        }
    }
    assert!(
        kernel_threads > 0,
        "kthreadd and its threads run on every Linux"
    );
}

#[test]
fn nss_look_ups_use_the_hosts_name_service() {
    use linmgmt_sources::read::nss_account;
    // uid 0 is in every NSS configuration; `files` is always among its sources.
    let root = nss_account(0).expect("uid 0 through getpwuid_r");
    assert!(root.from_nss);
    assert_eq!(root.passwd.uid, 0);
    assert_eq!(root.passwd.name, "root");
    assert!(!root.passwd.home.is_empty());
    // A uid nobody has.
    assert_eq!(nss_account(3_999_999_999), None);
}
