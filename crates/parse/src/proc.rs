//! `/proc` file formats: `stat`, `status`, `cmdline`, `loginuid`/`sessionid`, fd link targets,
//! `/proc/stat` btime, `/proc/uptime`, and tty device numbers.

use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};

use super::{ParseError, lossy};
use crate::{AUDIT_UNSET, CLOCK_TICKS_PER_SECOND};

/// The fields of `/proc/<pid>/stat` that sessions need (see proc(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Process id.
    pub pid: u32,
    /// `comm`, the executable name truncated to 15 bytes (lossy UTF-8).
    pub comm: String,
    /// State letter (`R`, `S`, `D`, `Z`, `T`, `I` …).
    pub state: char,
    /// Parent pid (0 for pid 1 and kernel threads' parent).
    pub ppid: u32,
    /// Process group id.
    pub pgrp: i32,
    /// Kernel session id (`setsid`), not the audit session id.
    pub session: i32,
    /// Controlling terminal device number (0 = none); see [`tty_name`].
    pub tty_nr: u32,
    /// The kernel's flags for the process (`PF_*`): see [`Stat::is_kernel_thread`].
    pub flags: u32,
    /// Minor page faults (served without I/O).
    pub minflt: u64,
    /// Major page faults (that needed I/O).
    pub majflt: u64,
    /// User-mode CPU time in clock ticks.
    pub utime: u64,
    /// Kernel-mode CPU time in clock ticks.
    pub stime: u64,
    /// Scheduling priority as the kernel shows it.
    pub priority: i64,
    /// Nice value.
    pub nice: i64,
    /// Number of threads.
    pub num_threads: i64,
    /// Start time after boot, in clock ticks ([`crate::CLOCK_TICKS_PER_SECOND`]).
    pub starttime: u64,
    /// Virtual memory size in bytes.
    pub vsize: u64,
    /// Resident set size in pages.
    pub rss: i64,
}

/// `PF_KTHREAD`: the process is a kernel thread.
pub const PF_KTHREAD: u32 = 0x0020_0000;

impl Stat {
    /// Whether this is a kernel thread: it has no audit session, command line or
    /// executable, and no user can give it one.
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// Parses `/proc/<pid>/stat`.
///
/// `comm` may contain spaces and parentheses, so it spans from the first `(` to the *last* `)`.
pub fn parse_stat(bytes: &[u8]) -> Result<Stat, ParseError> {
    const WHAT: &str = "/proc/<pid>/stat";
    let open = bytes
        .iter()
        .position(|&b| b == b'(')
        .ok_or_else(|| ParseError::new(WHAT, "no '('"))?;
    let close = bytes
        .iter()
        .rposition(|&b| b == b')')
        .ok_or_else(|| ParseError::new(WHAT, "no ')'"))?;
    if close < open {
        return Err(ParseError::new(WHAT, "')' before '('"));
    }
    let pid = parse_num::<u32>(trim_ascii(&bytes[..open]), WHAT, "pid")?;
    let comm = lossy(&bytes[open + 1..close]);
    let rest = std::str::from_utf8(&bytes[close + 1..])
        .map_err(|_| ParseError::new(WHAT, "non-UTF-8 after comm"))?;
    let f: Vec<&str> = rest.split_ascii_whitespace().take(22).collect();
    if f.len() < 22 {
        return Err(ParseError::new(
            WHAT,
            format!("only {} fields after comm", f.len()),
        ));
    }
    let n = |i: usize, name: &'static str| -> Result<i64, ParseError> {
        f[i].parse::<i64>()
            .map_err(|_| ParseError::new(WHAT, format!("bad {name}: {:?}", f[i])))
    };
    let u = |i: usize, name: &'static str| -> Result<u64, ParseError> {
        f[i].parse::<u64>()
            .map_err(|_| ParseError::new(WHAT, format!("bad {name}: {:?}", f[i])))
    };
    Ok(Stat {
        pid,
        comm,
        state: f[0].chars().next().unwrap_or('?'),
        ppid: u(1, "ppid")? as u32,
        pgrp: n(2, "pgrp")? as i32,
        session: n(3, "session")? as i32,
        // tty_nr is printed as a signed int; the device number fits in 32 bits.
        tty_nr: n(4, "tty_nr")? as u32,
        flags: u(6, "flags")? as u32,
        minflt: u(7, "minflt")?,
        majflt: u(9, "majflt")?,
        utime: u(11, "utime")?,
        stime: u(12, "stime")?,
        priority: n(15, "priority")?,
        nice: n(16, "nice")?,
        num_threads: n(17, "num_threads")?,
        starttime: u(19, "starttime")?,
        vsize: u(20, "vsize")?,
        rss: n(21, "rss")?,
    })
}

/// Formats a `/proc/<pid>/stat` line with the given fields and zeros elsewhere (for fixtures).
pub fn format_stat(s: &Stat) -> String {
    format!(
        "{pid} ({comm}) {state} {ppid} {pgrp} {session} {tty} -1 {flags} {minflt} 0 {majflt} 0 {ut} {st} 0 0 {prio} {nice} {thr} 0 {start} {vsize} {rss} 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
        pid = s.pid,
        comm = s.comm,
        state = s.state,
        ppid = s.ppid,
        pgrp = s.pgrp,
        session = s.session,
        tty = s.tty_nr as i32,
        flags = s.flags,
        minflt = s.minflt,
        majflt = s.majflt,
        ut = s.utime,
        st = s.stime,
        prio = s.priority,
        nice = s.nice,
        thr = s.num_threads,
        start = s.starttime,
        vsize = s.vsize,
        rss = s.rss,
    )
}

/// The four ids of a `Uid:` or `Gid:` line of `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    /// Real id.
    pub real: u32,
    /// Effective id.
    pub effective: u32,
    /// Saved set-id.
    pub saved: u32,
    /// File-system id.
    pub fs: u32,
}

/// The parts of `/proc/<pid>/status` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// `Uid:` line.
    pub uid: Option<Ids>,
    /// `Gid:` line.
    pub gid: Option<Ids>,
}

/// Parses the `Uid:`/`Gid:` lines of `/proc/<pid>/status`; other lines are ignored.
pub fn parse_status(text: &[u8]) -> Status {
    let mut out = Status::default();
    for line in text.split(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"Uid:") {
            out.uid = parse_ids(rest);
        } else if let Some(rest) = line.strip_prefix(b"Gid:") {
            out.gid = parse_ids(rest);
            // Gid comes after Uid; nothing later is needed.
            break;
        }
    }
    out
}

fn parse_ids(rest: &[u8]) -> Option<Ids> {
    let s = std::str::from_utf8(rest).ok()?;
    let mut it = s.split_ascii_whitespace().map(|x| x.parse::<u32>().ok());
    Some(Ids {
        real: it.next()??,
        effective: it.next()??,
        saved: it.next()??,
        fs: it.next()??,
    })
}

/// Splits `/proc/<pid>/cmdline` into arguments (lossy UTF-8); empty for kernel threads and zombies.
///
/// A process that rewrote its title (sshd's `setproctitle`) may leave one argument padded with
/// NULs or spaces; trailing empty pieces are dropped.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let mut args: Vec<String> = bytes.split(|&b| b == 0).map(lossy).collect();
    while args.last().is_some_and(|a| a.is_empty()) {
        args.pop();
    }
    args
}

/// Parses `/proc/<pid>/loginuid` or `/proc/<pid>/sessionid`: `None` when unset (4294967295).
pub fn parse_audit_id(bytes: &[u8]) -> Result<Option<u32>, ParseError> {
    let v = parse_num::<u64>(trim_ascii(bytes), "loginuid/sessionid", "value")?;
    // Some kernels print (u32)-1 as -1 when the file is read through a signed format.
    if v == u64::from(AUDIT_UNSET) {
        return Ok(None);
    }
    u32::try_from(v)
        .map(Some)
        .map_err(|_| ParseError::new("loginuid/sessionid", "out of range"))
}

/// The `btime` (boot time, seconds since the epoch) line of `/proc/stat`.
pub fn parse_btime(text: &[u8]) -> Result<i64, ParseError> {
    for line in text.split(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"btime ") {
            return parse_num::<i64>(trim_ascii(rest), "/proc/stat", "btime");
        }
    }
    Err(ParseError::new("/proc/stat", "no btime line"))
}

/// `/proc/uptime`: seconds since boot (first number).
pub fn parse_uptime(text: &[u8]) -> Result<f64, ParseError> {
    let s = std::str::from_utf8(text).map_err(|_| ParseError::new("/proc/uptime", "non-UTF-8"))?;
    let first = s
        .split_ascii_whitespace()
        .next()
        .ok_or_else(|| ParseError::new("/proc/uptime", "empty"))?;
    first
        .parse::<f64>()
        .map_err(|_| ParseError::new("/proc/uptime", format!("bad number {first:?}")))
}

/// A one-line file such as `/proc/sys/kernel/hostname` or `boot_id`, trimmed; `None` if empty.
pub fn parse_line(bytes: &[u8]) -> Option<String> {
    let s = lossy(trim_ascii(bytes));
    (!s.is_empty()).then_some(s)
}

/// The wall-clock start of a process: boot time plus `starttime` ticks.
pub fn start_time(boot_time: Timestamp, starttime_ticks: u64) -> Timestamp {
    let secs = (starttime_ticks / CLOCK_TICKS_PER_SECOND) as i64;
    let nanos = ((starttime_ticks % CLOCK_TICKS_PER_SECOND)
        * (1_000_000_000 / CLOCK_TICKS_PER_SECOND)) as i32;
    boot_time
        .saturating_add(SignedDuration::new(secs, nanos))
        .unwrap_or(boot_time)
}

/// What an fd symlink in `/proc/<pid>/fd` points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdTarget {
    /// `socket:[INODE]`.
    Socket(u64),
    /// `pipe:[INODE]`.
    Pipe(u64),
    /// `anon_inode:[eventfd]`, `anon_inode:inotify` … (the part after the colon).
    AnonInode(String),
    /// A path under `/dev/` (terminals, `/dev/null` …).
    Device(PathBuf),
    /// Any other absolute path: a regular file or directory (possibly `… (deleted)`).
    File(PathBuf),
    /// Anything else (`net:[…]`, `mnt:[…]` …).
    Other(String),
}

/// Classifies an fd link target.
pub fn classify_fd_link(target: &Path) -> FdTarget {
    let s = target.to_string_lossy();
    if let Some(n) = bracket_number(&s, "socket:[") {
        return FdTarget::Socket(n);
    }
    if let Some(n) = bracket_number(&s, "pipe:[") {
        return FdTarget::Pipe(n);
    }
    if let Some(rest) = s.strip_prefix("anon_inode:") {
        return FdTarget::AnonInode(rest.to_string());
    }
    if s.starts_with("/dev/") {
        return FdTarget::Device(target.to_path_buf());
    }
    if s.starts_with('/') {
        return FdTarget::File(target.to_path_buf());
    }
    FdTarget::Other(s.into_owned())
}

fn bracket_number(s: &str, prefix: &str) -> Option<u64> {
    s.strip_prefix(prefix)?.strip_suffix(']')?.parse().ok()
}

/// The name of a terminal from a device number (`tty_nr`), without `/dev/`.
///
/// `None` for 0 (no controlling terminal). Unix98 ptys have majors 136–143; majors 4 and 5
/// are virtual consoles, serial lines and `/dev/console`. Unknown devices read `dev:MAJ:MIN`.
pub fn tty_name(tty_nr: u32) -> Option<String> {
    if tty_nr == 0 {
        return None;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    Some(match major {
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        5 if minor == 1 => "console".to_string(),
        _ => format!("dev:{major}:{minor}"),
    })
}

/// The device number of `/dev/pts/N` (the inverse of [`tty_name`] for ptys, used by fixtures).
///
/// The kernel allocates every pty on major 136 with a 20-bit minor, encoded as
/// `new_encode_dev`: low minor byte, then major, then the high minor bits.
pub fn pts_device(n: u32) -> u32 {
    let major = 136;
    (major << 8) | (n & 0xff) | ((n & !0xff) << 12)
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

fn parse_num<T: std::str::FromStr>(
    b: &[u8],
    what: &'static str,
    field: &str,
) -> Result<T, ParseError> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ParseError::new(what, format!("bad {field}: {:?}", lossy(b))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &[u8] = b"10086 (sshd) S 10050 10086 10086 0 -1 4194560 1001 0 7 0 3 4 0 0 20 0 1 0 123456 15319040 2617 18446744073709551615 1 1 0 0 0 0 0 4096 81925 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(
            (s.pid, s.comm.as_str(), s.state, s.ppid),
            (10086, "sshd", 'S', 10050)
        );
        assert_eq!((s.utime, s.stime, s.priority, s.num_threads), (3, 4, 20, 1));
        assert_eq!((s.minflt, s.majflt), (1001, 7));
        assert_eq!(
            (s.starttime, s.vsize, s.rss, s.tty_nr),
            (123456, 15319040, 2617, 0)
        );
    }

    #[test]
    fn kernel_threads_by_their_flags() {
        assert!(!parse_stat(STAT).unwrap().is_kernel_thread());
        // kworker, as Linux 6.1 shows it: flags 0x04208060.
        let kworker = b"36 (kworker/1:0H-events_highpri) I 2 0 0 0 -1 69238880 0 0 0 0 0 0 0 0 0 -20 1 0 3 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0";
        let s = parse_stat(kworker).unwrap();
        assert!(s.is_kernel_thread(), "{:#x}", s.flags);
    }

    #[test]
    fn stat_comm_with_parens_and_spaces() {
        let line = b"42 (a) b (c)) R 1 42 42 34816 42 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.comm, "a) b (c)");
        assert_eq!(s.tty_nr, 34816);
        assert_eq!(tty_name(s.tty_nr).as_deref(), Some("pts/0"));
    }

    #[test]
    fn stat_round_trips_through_the_fixture_formatter() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(parse_stat(format_stat(&s).as_bytes()).unwrap(), s);
    }

    #[test]
    fn stat_errors_do_not_panic() {
        for bad in [
            &b""[..],
            b"12",
            b"12 (x",
            b"12 (x) S 1",
            b"x (y) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
        ] {
            assert!(
                parse_stat(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn status_ids() {
        let st = parse_status(
            b"Name:\tbash\nUid:\t1001\t1001\t1001\t1001\nGid:\t100\t100\t100\t100\nGroups:\t100\n",
        );
        assert_eq!(st.uid.unwrap().effective, 1001);
        assert_eq!(st.gid.unwrap().real, 100);
        assert_eq!(parse_status(b"garbage"), Status::default());
    }

    #[test]
    fn cmdline_split() {
        assert_eq!(
            parse_cmdline(b"sshd: alice [priv]\0\0\0"),
            vec!["sshd: alice [priv]"]
        );
        assert_eq!(
            parse_cmdline(b"/bin/sleep\x0010\0"),
            vec!["/bin/sleep", "10"]
        );
        assert!(parse_cmdline(b"").is_empty());
    }

    #[test]
    fn audit_ids() {
        assert_eq!(parse_audit_id(b"4294967295"), Ok(None));
        assert_eq!(parse_audit_id(b"3\n"), Ok(Some(3)));
        assert!(parse_audit_id(b"x").is_err());
    }

    #[test]
    fn btime_uptime() {
        assert_eq!(
            parse_btime(b"cpu 1 2\nbtime 1763770000\nprocesses 5\n"),
            Ok(1763770000)
        );
        assert!(parse_btime(b"cpu 1\n").is_err());
        assert_eq!(parse_uptime(b"350.12 600.50\n"), Ok(350.12));
    }

    #[test]
    fn start_time_adds_ticks() {
        let boot = Timestamp::from_second(1_000).unwrap();
        assert_eq!(
            start_time(boot, 12_345),
            Timestamp::new(1_123, 450_000_000).unwrap()
        );
    }

    #[test]
    fn fd_targets() {
        assert_eq!(
            classify_fd_link(Path::new("socket:[18206]")),
            FdTarget::Socket(18206)
        );
        assert_eq!(classify_fd_link(Path::new("pipe:[77]")), FdTarget::Pipe(77));
        assert_eq!(
            classify_fd_link(Path::new("anon_inode:[eventfd]")),
            FdTarget::AnonInode("[eventfd]".into())
        );
        assert!(matches!(
            classify_fd_link(Path::new("/dev/pts/0")),
            FdTarget::Device(_)
        ));
        assert!(matches!(
            classify_fd_link(Path::new("/home/a/x (deleted)")),
            FdTarget::File(_)
        ));
        assert!(matches!(
            classify_fd_link(Path::new("net:[4026531840]")),
            FdTarget::Other(_)
        ));
    }

    #[test]
    fn tty_names() {
        assert_eq!(tty_name(0), None);
        assert_eq!(tty_name(pts_device(3)).as_deref(), Some("pts/3"));
        assert_eq!(tty_name(pts_device(300)).as_deref(), Some("pts/300"));
        assert_eq!(tty_name(pts_device(70000)).as_deref(), Some("pts/70000"));
        assert_eq!(tty_name(0x401).as_deref(), Some("tty1"));
        assert_eq!(tty_name(0x440).as_deref(), Some("ttyS0"));
    }
}
