//! `/proc/<pid>/net/tcp` and `tcp6`: the kernel's TCP socket tables.
//!
//! Addresses are hex in *kernel memory order*: each 32-bit word is printed with `%08X` of its
//! in-memory value, so on a little-endian host IPv4 `0100007F` is 127.0.0.1 and IPv6 is four
//! such words. Ports are plain big-endian hex. We decode with the host's native byte order,
//! which is what the kernel of that host printed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::ParseError;

/// A TCP state from `include/net/tcp_states.h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    /// 1
    Established,
    /// 2
    SynSent,
    /// 3
    SynRecv,
    /// 4
    FinWait1,
    /// 5
    FinWait2,
    /// 6
    TimeWait,
    /// 7
    Close,
    /// 8
    CloseWait,
    /// 9
    LastAck,
    /// 10
    Listen,
    /// 11
    Closing,
    /// 12
    NewSynRecv,
    /// Any other value.
    Unknown(u8),
}

impl TcpState {
    /// From the kernel's numeric state.
    pub fn from_code(code: u8) -> TcpState {
        use TcpState::*;
        match code {
            1 => Established,
            2 => SynSent,
            3 => SynRecv,
            4 => FinWait1,
            5 => FinWait2,
            6 => TimeWait,
            7 => Close,
            8 => CloseWait,
            9 => LastAck,
            10 => Listen,
            11 => Closing,
            12 => NewSynRecv,
            n => Unknown(n),
        }
    }

    /// The kernel's numeric state.
    pub fn code(self) -> u8 {
        use TcpState::*;
        match self {
            Established => 1,
            SynSent => 2,
            SynRecv => 3,
            FinWait1 => 4,
            FinWait2 => 5,
            TimeWait => 6,
            Close => 7,
            CloseWait => 8,
            LastAck => 9,
            Listen => 10,
            Closing => 11,
            NewSynRecv => 12,
            Unknown(n) => n,
        }
    }
}

/// One row of a TCP table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpEntry {
    /// Local address; IPv4-mapped IPv6 addresses are shown as IPv4.
    pub local: SocketAddr,
    /// Peer address; IPv4-mapped IPv6 addresses are shown as IPv4.
    pub remote: SocketAddr,
    /// Connection state.
    pub state: TcpState,
    /// Owner uid of the socket.
    pub uid: u32,
    /// Socket inode, the key matched against `socket:[INODE]` fd links (0 for TIME_WAIT).
    pub inode: u64,
    /// Whether the row came from `tcp6`.
    pub v6_table: bool,
}

/// Parses a whole table; malformed rows are counted, not fatal.
///
/// Returns the rows and the number of rows that did not parse.
pub fn parse_tcp_table(text: &[u8], v6_table: bool) -> (Vec<TcpEntry>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    // The first line is the header.
    for line in text.split(|&b| b == b'\n').skip(1) {
        if line.trim_ascii().is_empty() {
            continue;
        }
        match parse_tcp_line(line, v6_table) {
            Ok(e) => out.push(e),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

/// Parses one row: `sl local rem st tx:rx tr:when retrnsmt uid timeout inode …`.
pub fn parse_tcp_line(line: &[u8], v6_table: bool) -> Result<TcpEntry, ParseError> {
    const WHAT: &str = "/proc/net/tcp row";
    let s = std::str::from_utf8(line).map_err(|_| ParseError::new(WHAT, "non-UTF-8"))?;
    let f: Vec<&str> = s.split_ascii_whitespace().take(10).collect();
    if f.len() < 10 {
        return Err(ParseError::new(WHAT, format!("{} fields", f.len())));
    }
    let state = u8::from_str_radix(f[3], 16).map_err(|_| ParseError::new(WHAT, "bad state"))?;
    Ok(TcpEntry {
        local: parse_hex_socket(f[1])?,
        remote: parse_hex_socket(f[2])?,
        state: TcpState::from_code(state),
        uid: f[7].parse().map_err(|_| ParseError::new(WHAT, "bad uid"))?,
        inode: f[9]
            .parse()
            .map_err(|_| ParseError::new(WHAT, "bad inode"))?,
        v6_table,
    })
}

/// Parses `ADDR:PORT` in the table's hex form (8 hex digits for IPv4, 32 for IPv6).
pub fn parse_hex_socket(s: &str) -> Result<SocketAddr, ParseError> {
    const WHAT: &str = "hex socket address";
    let (addr, port) = s
        .split_once(':')
        .ok_or_else(|| ParseError::new(WHAT, format!("no ':' in {s:?}")))?;
    let port = u16::from_str_radix(port, 16)
        .map_err(|_| ParseError::new(WHAT, format!("bad port {port:?}")))?;
    // Only hex digits: the IPv6 form is sliced at byte offsets below.
    if !addr.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ParseError::new(WHAT, format!("bad hex {addr:?}")));
    }
    let word = |h: &str| {
        u32::from_str_radix(h, 16).map_err(|_| ParseError::new(WHAT, format!("bad hex {h:?}")))
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(addr)?.to_ne_bytes())),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                let w = word(&addr[i * 8..i * 8 + 8])?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            Ipv6Addr::from(bytes).to_canonical()
        }
        n => return Err(ParseError::new(WHAT, format!("address of {n} hex digits"))),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Formats an address the way the kernel prints it: IPv4 as 8 hex digits, anything in a
/// `tcp6` table as 32 (an IPv4 address there becomes IPv4-mapped).
pub fn format_hex_socket(addr: SocketAddr, v6_table: bool) -> String {
    let bytes: Vec<u8> = match (addr.ip(), v6_table) {
        (IpAddr::V4(v4), false) => v4.octets().to_vec(),
        (IpAddr::V4(v4), true) => v4.to_ipv6_mapped().octets().to_vec(),
        (IpAddr::V6(v6), _) => v6.octets().to_vec(),
    };
    let mut out = String::new();
    for chunk in bytes.chunks(4) {
        let w = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        out.push_str(&format!("{w:08X}"));
    }
    format!("{out}:{:04X}", addr.port())
}

/// The header line of `/proc/net/tcp`.
pub const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// Formats one row as the kernel does (for fixtures).
pub fn format_tcp_line(sl: usize, e: &TcpEntry) -> String {
    format!(
        "{sl:4}: {} {} {:02X} 00000000:00000000 00:00000000 00000000 {:5} 0 {} 1 0000000000000000 20 4 30 10 -1\n",
        format_hex_socket(e.local, e.v6_table),
        format_hex_socket(e.remote, e.v6_table),
        e.state.code(),
        e.uid,
        e.inode
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_example_from_the_spec() {
        let a = parse_hex_socket("0100007F:08AF").unwrap();
        assert_eq!(a, "127.0.0.1:2223".parse().unwrap());
    }

    #[test]
    fn ipv6_loopback_and_mapped() {
        let a = parse_hex_socket("00000000000000000000000001000000:08AF").unwrap();
        assert_eq!(a, "[::1]:2223".parse().unwrap());
        let m = parse_hex_socket("0000000000000000FFFF00000500000A:9C40").unwrap();
        assert_eq!(m, "10.0.0.5:40000".parse().unwrap());
    }

    #[test]
    fn non_hex_addresses_are_errors() {
        // Found by the `net_tcp` fuzz target: 32 bytes with a two-byte character across the
        // boundary of an 8-digit word panicked when sliced.
        assert!(parse_hex_socket("074407370955323\u{579}FFF00000A00000A:9C40").is_err());
        assert!(parse_hex_socket("+100007F:08AF").is_err());
        let table = "header\n   0: 0000000000000000FFFF00000500000A:0016 074407370955323\u{579}FFF00000A00000A:9C40 01 00000000:00000000 00:00000000 00000000     0        0 61021 1\n";
        assert_eq!(parse_tcp_table(table.as_bytes(), true), (Vec::new(), 1));
    }

    #[test]
    fn real_rows() {
        let table = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:08AF 0100007F:9286 01 00000000:00000000 02:0009FB57 00000000     0        0 18206 2 0000000000000000 20 4 29 10 -1\n   1: garbage\n";
        let (rows, bad) = parse_tcp_table(table, false);
        assert_eq!(bad, 1);
        assert_eq!(rows[0].inode, 18206);
        assert_eq!(rows[0].state, TcpState::Established);
        assert_eq!(rows[0].remote, "127.0.0.1:37510".parse().unwrap());
    }

    #[test]
    fn format_round_trips() {
        for (a, v6) in [
            ("10.1.2.3:22", false),
            ("[2001:db8::7]:2223", true),
            ("192.168.0.9:445", true),
        ] {
            let e = TcpEntry {
                local: a.parse().unwrap(),
                remote: "[::1]:5".parse().unwrap(),
                state: TcpState::Established,
                uid: 7,
                inode: 99,
                v6_table: true,
            };
            let e = TcpEntry {
                v6_table: v6,
                remote: if v6 {
                    e.remote
                } else {
                    "1.2.3.4:5".parse().unwrap()
                },
                ..e
            };
            let line = format_tcp_line(0, &e);
            assert_eq!(parse_tcp_line(line.as_bytes(), v6).unwrap(), e, "{line}");
        }
    }
}
