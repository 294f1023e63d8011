//! sock_diag (`NETLINK_SOCK_DIAG`, `ss`'s source): the request that dumps a family's TCP
//! sockets with their `tcp_info`, and the parser of the kernel's answer.
//!
//! One dump per address family gives what `/proc/net/tcp{,6}` gives (addresses, state, uid,
//! inode) plus `tcp_info.tcpi_last_data_recv`, the milliseconds since data last arrived, which
//! is the idle time of sessions without a terminal. Layouts are from the kernel's uapi headers
//! (`linux/netlink.h`, `linux/inet_diag.h`, `linux/tcp.h`); host-order fields use the host's
//! byte order (the kernel on this host wrote them), addresses and ports are big-endian.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::ParseError;
use super::net::{TcpEntry, TcpState};

/// `AF_INET`.
pub const AF_INET: u8 = 2;
/// `AF_INET6`.
pub const AF_INET6: u8 = 10;
/// `SOCK_DIAG_BY_FAMILY`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `TCPDIAG_GETSOCK`: the original (compat) request, which dumps both address families in
/// one walk of the kernel's socket hash (`inet_diag_dump_compat` asks for `AF_UNSPEC`).
const TCPDIAG_GETSOCK: u16 = 18;
/// `NLM_F_REQUEST | NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
const REQUEST_DUMP: u16 = 0x1 | 0x300;
/// `NLMSG_ERROR`.
const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
const NLMSG_DONE: u16 = 3;
/// `INET_DIAG_INFO`: the attribute carrying `struct tcp_info`.
const INET_DIAG_INFO: u16 = 2;
/// `IPPROTO_TCP`.
const IPPROTO_TCP: u8 = 6;
/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDR: usize = 16;
/// `sizeof(struct inet_diag_msg)`.
const DIAG_MSG: usize = 72;
/// Offset of `tcpi_last_data_recv` in `struct tcp_info` (8 bytes of u8 fields, then u32s:
/// rto, ato, snd_mss, rcv_mss, unacked, sacked, lost, retrans, fackets, last_data_sent,
/// last_ack_sent, last_data_recv).
const LAST_DATA_RECV: usize = 52;

/// States that can own a socket inode: every state but TIME_WAIT, SYN_RECV and
/// NEW_SYN_RECV (request and timewait mini-sockets have inode 0, so no fd can name them).
pub const STATES_WITH_INODES: u32 = !((1 << 6) | (1 << 3) | (1 << 12));

/// One socket of a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagSocket {
    /// The same row `/proc/net/tcp` would show.
    pub entry: TcpEntry,
    /// `tcpi_last_data_recv`: time since data was last received; `None` without `tcp_info`.
    pub last_receive: Option<Duration>,
}

/// The request for a dump of `family`'s TCP sockets in `states` (a bit mask of
/// `1 << state`), asking for `tcp_info`.
pub fn dump_request(family: u8, states: u32, seq: u32) -> Vec<u8> {
    let len = NLMSG_HDR + 56;
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b.extend_from_slice(&REQUEST_DUMP.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel fills it in
    // struct inet_diag_req_v2
    b.push(family);
    b.push(IPPROTO_TCP);
    b.push(1 << (INET_DIAG_INFO - 1)); // idiag_ext
    b.push(0); // pad
    b.extend_from_slice(&states.to_ne_bytes());
    b.extend_from_slice(&[0u8; 48]); // struct inet_diag_sockid: no filter
    b
}

/// The compat request (`TCPDIAG_GETSOCK`, `struct inet_diag_req`) for every TCP socket of
/// both families in `states`, asking for `tcp_info`.
///
/// Walking the established hash is what a dump costs (about 2 ms for 262,144 buckets on a
/// 24 GiB VM, however few sockets there are), and per-family requests walk it once per
/// family, as reading `/proc/net/tcp` and `tcp6` does; this walks it once.
pub fn dump_request_all_families(states: u32, seq: u32) -> Vec<u8> {
    let len = NLMSG_HDR + 60;
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    b.extend_from_slice(&REQUEST_DUMP.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    // struct inet_diag_req: family, src_len, dst_len, ext, sockid, states, dbs
    b.extend_from_slice(&[0, 0, 0, 1 << (INET_DIAG_INFO - 1)]);
    b.extend_from_slice(&[0u8; 48]);
    b.extend_from_slice(&states.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b
}

/// What one `recv` of a dump held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DumpChunk {
    /// The sockets in it.
    pub sockets: Vec<DiagSocket>,
    /// Whether `NLMSG_DONE` ended the dump.
    pub done: bool,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Parses the netlink messages of one datagram of a dump answer.
///
/// A kernel error (`NLMSG_ERROR`) is an `Err` carrying its errno; truncated messages are
/// errors too (the buffer was too small, which the caller sizes so it never is).
pub fn parse_dump(buf: &[u8]) -> Result<DumpChunk, ParseError> {
    const WHAT: &str = "sock_diag answer";
    let mut out = DumpChunk::default();
    let mut at = 0;
    while at + NLMSG_HDR <= buf.len() {
        let len = u32_at(buf, at) as usize;
        let kind = u16_at(buf, at + 4);
        if len < NLMSG_HDR || at + len > buf.len() {
            return Err(ParseError::new(WHAT, format!("message of {len} bytes")));
        }
        let body = &buf[at + NLMSG_HDR..at + len];
        match kind {
            NLMSG_DONE => {
                out.done = true;
                return Ok(out);
            }
            NLMSG_ERROR => {
                let errno = if body.len() >= 4 {
                    -(u32_at(body, 0) as i32)
                } else {
                    0
                };
                return Err(ParseError::new(WHAT, format!("kernel error {errno}")));
            }
            // Answers carry the request's type.
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => out.sockets.push(parse_diag_msg(body)?),
            _ => {}
        }
        at += align4(len);
    }
    Ok(out)
}

/// Parses one `struct inet_diag_msg` and its attributes.
pub fn parse_diag_msg(b: &[u8]) -> Result<DiagSocket, ParseError> {
    const WHAT: &str = "inet_diag_msg";
    if b.len() < DIAG_MSG {
        return Err(ParseError::new(WHAT, format!("{} bytes", b.len())));
    }
    let family = b[0];
    let state = TcpState::from_code(b[1]);
    // struct inet_diag_sockid at 4: sport, dport (big-endian), src[16], dst[16], if, cookie.
    let sport = u16::from_be_bytes([b[4], b[5]]);
    let dport = u16::from_be_bytes([b[6], b[7]]);
    let ip = |raw: &[u8]| -> Result<IpAddr, ParseError> {
        match family {
            AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))),
            AF_INET6 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&raw[..16]);
                Ok(Ipv6Addr::from(a).to_canonical())
            }
            f => Err(ParseError::new(WHAT, format!("family {f}"))),
        }
    };
    let local = SocketAddr::new(ip(&b[8..24])?, sport);
    let remote = SocketAddr::new(ip(&b[24..40])?, dport);
    // After the sockid (ends at 52): expires, rqueue, wqueue, uid, inode.
    let uid = u32_at(b, 64);
    let inode = u64::from(u32_at(b, 68));
    let mut last_receive = None;
    let mut at = DIAG_MSG;
    while at + 4 <= b.len() {
        let len = usize::from(u16_at(b, at));
        let kind = u16_at(b, at + 2);
        if len < 4 || at + len > b.len() {
            break;
        }
        if kind == INET_DIAG_INFO && len >= 4 + LAST_DATA_RECV + 4 {
            let ms = u32_at(b, at + 4 + LAST_DATA_RECV);
            last_receive = Some(Duration::from_millis(u64::from(ms)));
        }
        at += align4(len);
    }
    Ok(DiagSocket {
        entry: TcpEntry {
            local,
            remote,
            state,
            uid,
            inode,
            v6_table: family == AF_INET6,
        },
        last_receive,
    })
}

/// Encodes one socket as the kernel would (for tests): the message, with `tcp_info` when
/// `last_receive` is given.
pub fn encode_diag_msg(s: &DiagSocket, seq: u32) -> Vec<u8> {
    let family = if s.entry.v6_table { AF_INET6 } else { AF_INET };
    let addr = |a: SocketAddr| -> [u8; 16] {
        let mut raw = [0u8; 16];
        match (a.ip(), family) {
            (IpAddr::V4(v4), AF_INET) => raw[..4].copy_from_slice(&v4.octets()),
            (IpAddr::V4(v4), _) => raw.copy_from_slice(&v4.to_ipv6_mapped().octets()),
            (IpAddr::V6(v6), _) => raw.copy_from_slice(&v6.octets()),
        }
        raw
    };
    let mut body = vec![family, s.entry.state.code(), 0, 0];
    body.extend_from_slice(&s.entry.local.port().to_be_bytes());
    body.extend_from_slice(&s.entry.remote.port().to_be_bytes());
    body.extend_from_slice(&addr(s.entry.local));
    body.extend_from_slice(&addr(s.entry.remote));
    body.extend_from_slice(&[0u8; 12]); // if, cookie
    body.extend_from_slice(&[0u8; 12]); // expires, rqueue, wqueue
    body.extend_from_slice(&s.entry.uid.to_ne_bytes());
    body.extend_from_slice(&(s.entry.inode as u32).to_ne_bytes());
    if let Some(d) = s.last_receive {
        let mut info = vec![0u8; 232];
        info[LAST_DATA_RECV..LAST_DATA_RECV + 4]
            .copy_from_slice(&(d.as_millis() as u32).to_ne_bytes());
        body.extend_from_slice(&((4 + info.len()) as u16).to_ne_bytes());
        body.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
        body.extend_from_slice(&info);
    }
    let mut msg = Vec::with_capacity(NLMSG_HDR + body.len());
    msg.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
    msg.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    msg.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&body);
    msg
}

/// `NLMSG_DONE`, as ending a dump (for tests).
pub fn encode_done(seq: u32) -> Vec<u8> {
    let mut msg = Vec::with_capacity(20);
    msg.extend_from_slice(&20u32.to_ne_bytes());
    msg.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    msg.extend_from_slice(&2u16.to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&0i32.to_ne_bytes());
    msg
}

/// Parses the fixture form of sock_diag answers: one socket per line, `INODE LASTRCV_MS`
/// (blank lines and `#` comments ignored). Fixture roots use it where the real host asks the
/// kernel; see `read::sock_diag`.
pub fn parse_fixture_last_receive(text: &str) -> Vec<(u64, Duration)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_ascii_whitespace();
            let inode = f.next()?.parse().ok()?;
            let ms: u64 = f.next()?.parse().ok()?;
            Some((inode, Duration::from_millis(ms)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(local: &str, remote: &str, v6: bool, ms: Option<u64>) -> DiagSocket {
        DiagSocket {
            entry: TcpEntry {
                local: local.parse().unwrap(),
                remote: remote.parse().unwrap(),
                state: TcpState::Established,
                uid: 1001,
                inode: 18206,
                v6_table: v6,
            },
            last_receive: ms.map(Duration::from_millis),
        }
    }

    #[test]
    fn request_layout() {
        let r = dump_request(AF_INET6, STATES_WITH_INODES, 7);
        assert_eq!(r.len(), 72);
        assert_eq!(u32_at(&r, 0), 72);
        assert_eq!(u16_at(&r, 4), 20);
        assert_eq!(u16_at(&r, 6), 0x301);
        assert_eq!(u32_at(&r, 8), 7);
        assert_eq!(&r[16..20], &[10, 6, 2, 0]);
        let states = u32_at(&r, 20);
        assert_eq!(states & (1 << 1), 1 << 1, "ESTABLISHED");
        assert_eq!(states & (1 << 6), 0, "no TIME_WAIT");
    }

    #[test]
    fn compat_request_layout() {
        let r = dump_request_all_families(STATES_WITH_INODES, 3);
        assert_eq!(r.len(), 76);
        assert_eq!(u32_at(&r, 0), 76);
        assert_eq!(u16_at(&r, 4), 18);
        assert_eq!(&r[16..20], &[0, 0, 0, 2]);
        assert_eq!(u32_at(&r, 68), STATES_WITH_INODES);
        // A compat answer has the request's type.
        let mut msg = encode_diag_msg(&socket("1.2.3.4:1", "5.6.7.8:2", false, Some(9)), 3);
        msg[4..6].copy_from_slice(&18u16.to_ne_bytes());
        assert_eq!(parse_dump(&msg).unwrap().sockets.len(), 1);
    }

    #[test]
    fn round_trip_v4_v6_and_mapped() {
        let all = [
            socket("127.0.0.1:2223", "127.0.0.1:40000", false, Some(61_000)),
            socket("[::1]:2223", "[::1]:40574", true, Some(4)),
            socket("10.0.0.1:22", "192.168.1.20:51000", true, None),
        ];
        let mut buf = Vec::new();
        for s in &all {
            buf.extend(encode_diag_msg(s, 1));
        }
        let chunk = parse_dump(&buf).unwrap();
        assert!(!chunk.done);
        assert_eq!(chunk.sockets, all);
        buf.extend(encode_done(1));
        assert!(parse_dump(&buf).unwrap().done);
    }

    #[test]
    fn errors_and_truncation() {
        let mut err = encode_done(1);
        err[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        err[16..20].copy_from_slice(&(-13i32).to_ne_bytes());
        assert!(
            parse_dump(&err)
                .unwrap_err()
                .to_string()
                .contains("error 13")
        );
        let msg = encode_diag_msg(&socket("1.2.3.4:1", "5.6.7.8:2", false, Some(1)), 1);
        assert!(parse_dump(&msg[..msg.len() - 8]).is_err());
        assert!(parse_diag_msg(&msg[16..40]).is_err());
    }

    #[test]
    fn fixture_form() {
        let rows = parse_fixture_last_receive("# inode ms\n777 61000\n\nbad\n888 4\n");
        assert_eq!(
            rows,
            vec![
                (777, Duration::from_secs(61)),
                (888, Duration::from_millis(4))
            ]
        );
    }
}
