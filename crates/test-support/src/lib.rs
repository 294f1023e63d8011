//! Dev-only fixtures for `linmgmt-sources` and its consumers: a host-shaped [`Root`] in a temp
//! dir, built from one text string (rust-analyzer style `//- ` blocks) or from builders.
//!
//! ```text
//! //- process
//! pid=10086 ppid=900 comm=sshd cmd="sshd: alice [priv]" start=2026-08-01T10:00:00Z ses=2 auid=1001 fds=socket:18206
//! pid=10097 ppid=10086 comm=sshd cmd="sshd: alice@pts/0" uid=1001 ses=2 auid=1001 fds=socket:18206,/dev/ptmx
//! //- tcp
//! inode=18206 local=127.0.0.1:22 remote=10.0.0.5:40000
//! //- utmp
//! USER_PROCESS pid=10086 line=pts/0 id=ts/0 user=alice host=10.0.0.5 time=2026-08-01T10:00:01Z addr=10.0.0.5
//! //- /run/systemd/sessions/2
//! UID=1001
//! //- /proc/10097/fd !denied
//! ```
//!
//! Block kinds:
//! - `//- /path [!flags]`: a file with the following lines as content. Flags: `!escaped`
//!   (decode `\xNN`, `\0`, `\n`, `\\` in the content), `!denied` (every access at or below the
//!   path fails with EACCES; with no content a directory is created), `!dir` (create a
//!   directory), `!symlink` (the content is the link target), `!private` (mode 0600, its
//!   directory 0700, as linmgmt's own state under `run/linmgmt` must be).
//! - `//- process`: one process per line, see [`Proc::parse_line`].
//! - `//- tcp`: one TCP socket per line (`inode= local= remote= state= uid= lastrcv=`),
//!   written to `proc/net/tcp` or `tcp6` (IPv6 when either address is IPv6, or with `v6=1`).
//!   `lastrcv=MS` is the socket's `tcpi_last_data_recv` (milliseconds since data last
//!   arrived), which the real host gets from sock_diag; it goes to `sock_diag.txt`.
//! - `//- utmp` / `//- wtmp`: one record per line, see [`parse_utmp_line`]; encoded by the
//!   crate's own writer into `run/utmp` / `var/log/wtmp`.
//! - `//- host`: `btime= hostname= boot_id= uptime=` overriding the defaults.
//!
//! Values may be double-quoted (`cmd="sshd: alice [priv]"`) and use `\xNN` escapes for
//! non-UTF-8 bytes.
//!
//! Two rules for every test in the workspace live here too: [`golden`] (a missing or
//! different expected file fails unless `UPDATE_EXPECT=1`) and [`skip`] (a skipped test
//! fails under `CI=true`).

pub mod ci;
pub mod dbus;
pub mod golden;

pub use ci::skip;

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use linmgmt_sources::Root;
use linmgmt_sources::command::FixtureRunner;
use linmgmt_sources::parse::net::{TCP_HEADER, TcpEntry, TcpState, format_tcp_line};
use linmgmt_sources::parse::proc::{PF_KTHREAD, Stat, format_stat, pts_device};
use linmgmt_sources::parse::utmp::{UtType, UtmpLayout, UtmpRecord, UtmpText, encode_file};

/// The fixture boot time: 2026-08-01T00:00:00Z.
pub const BOOT_TIME: i64 = 1_785_542_400;

/// The network namespace link every fixture process gets.
pub const NETNS: &str = "net:[4026531840]";

/// A fixed "now" for tests: 2026-08-01T12:00:00Z.
pub fn now() -> Timestamp {
    Timestamp::from_second(BOOT_TIME + 12 * 3600).expect("valid")
}

/// Parses an RFC 3339 time or integer seconds.
pub fn ts(s: &str) -> Timestamp {
    s.parse::<i64>()
        .ok()
        .and_then(|n| Timestamp::from_second(n).ok())
        .or_else(|| s.parse().ok())
        .unwrap_or_else(|| panic!("bad time {s:?}"))
}

/// A process to materialise under `proc/<pid>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    /// pid.
    pub pid: u32,
    /// Parent pid.
    pub ppid: u32,
    /// `comm`.
    pub comm: String,
    /// cmdline arguments (raw bytes); empty for a kernel thread.
    pub argv: Vec<Vec<u8>>,
    /// Start time in ticks after boot.
    pub start_ticks: u64,
    /// Audit session id (`None` = unset).
    pub ses: Option<u32>,
    /// Login uid (`None` = unset).
    pub auid: Option<u32>,
    /// Real/effective uid.
    pub uid: u32,
    /// Real/effective gid.
    pub gid: u32,
    /// Controlling tty number (`pts/N` → device number), 0 for none.
    pub tty_nr: u32,
    /// State letter.
    pub state: char,
    /// fd targets in fd order (`socket:[N]`, `/dev/null` …); `None` = no fd dir.
    pub fds: Option<Vec<String>>,
    /// `exe` link target.
    pub exe: Option<String>,
    /// Leave these files out (to simulate a process that vanished mid-scan).
    pub missing: Vec<String>,
}

impl Proc {
    /// A sleeping process with no session, started 100 s after boot.
    pub fn new(pid: u32, ppid: u32, comm: &str) -> Proc {
        Proc {
            pid,
            ppid,
            comm: comm.to_string(),
            argv: vec![comm.as_bytes().to_vec()],
            start_ticks: 100 * 100,
            ses: None,
            auid: None,
            uid: 0,
            gid: 0,
            tty_nr: 0,
            state: 'S',
            fds: None,
            exe: None,
            missing: Vec::new(),
        }
    }

    /// Sets the cmdline to one argument (a process title such as `sshd: alice [priv]`).
    pub fn title(mut self, t: &str) -> Proc {
        self.argv = vec![t.as_bytes().to_vec()];
        self
    }

    /// Sets the audit session and login uid.
    pub fn session(mut self, ses: u32, auid: u32) -> Proc {
        self.ses = Some(ses);
        self.auid = Some(auid);
        self
    }

    /// Sets the uid and gid.
    pub fn uid(mut self, uid: u32) -> Proc {
        self.uid = uid;
        self.gid = uid;
        self
    }

    /// Sets the start time as a wall-clock time (converted to ticks after [`BOOT_TIME`]).
    pub fn started(mut self, t: Timestamp) -> Proc {
        self.start_ticks = ticks_after_boot(t);
        self
    }

    /// Sets the controlling terminal to `pts/n`.
    pub fn pts(mut self, n: u32) -> Proc {
        self.tty_nr = pts_device(n);
        self
    }

    /// Sets the fd targets.
    pub fn fds(mut self, fds: &[&str]) -> Proc {
        self.fds = Some(fds.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Parses a `//- process` line: `key=value` pairs.
    ///
    /// Keys: `pid` (required), `ppid`, `comm`, `cmd` (one argument, the title), `argv`
    /// (arguments separated by `|`), `start` (ticks, or an RFC 3339 time), `ses`, `auid`,
    /// `uid`, `gid`, `tty` (`pts/N`), `state`, `fds` (comma-separated: `socket:N`, `pipe:N`,
    /// `anon:NAME` or a path), `exe`, `missing` (comma-separated file names to leave out).
    pub fn parse_line(line: &str) -> Proc {
        let kv = parse_kv(line);
        let get = |k: &str| kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let text = |k: &str| get(k).map(|v| String::from_utf8_lossy(&v).into_owned());
        let num =
            |k: &str| text(k).map(|v| v.parse::<u32>().unwrap_or_else(|_| panic!("bad {k}={v}")));
        let pid = num("pid").expect("process line needs pid=");
        let comm = text("comm").unwrap_or_else(|| "proc".into());
        let mut p = Proc::new(pid, num("ppid").unwrap_or(1), &comm);
        if let Some(cmd) = get("cmd") {
            p.argv = vec![cmd];
        }
        if let Some(argv) = get("argv") {
            p.argv = argv.split(|&b| b == b'|').map(<[u8]>::to_vec).collect();
        }
        if let Some(s) = text("start") {
            p.start_ticks = s.parse().unwrap_or_else(|_| ticks_after_boot(ts(&s)));
        }
        p.ses = num("ses");
        p.auid = num("auid");
        if let Some(u) = num("uid") {
            p.uid = u;
            p.gid = u;
        }
        if let Some(g) = num("gid") {
            p.gid = g;
        }
        if let Some(t) = text("tty") {
            let n = t
                .strip_prefix("pts/")
                .and_then(|n| n.parse().ok())
                .expect("tty=pts/N");
            p.tty_nr = pts_device(n);
        }
        if let Some(s) = text("state") {
            p.state = s.chars().next().unwrap_or('S');
        }
        if let Some(f) = text("fds") {
            p.fds = Some(
                f.split(',')
                    .filter(|s| !s.is_empty())
                    .map(fd_target)
                    .collect(),
            );
        }
        p.exe = text("exe");
        if let Some(m) = text("missing") {
            p.missing = m.split(',').map(str::to_string).collect();
        }
        p
    }

    /// Writes the process's files under `dir` (the fixture root).
    pub fn write(&self, dir: &Path) {
        let base = dir.join(format!("proc/{}", self.pid));
        fs::create_dir_all(&base).expect("mkdir");
        let stat = Stat {
            pid: self.pid,
            comm: self.comm.clone(),
            state: self.state,
            ppid: self.ppid,
            pgrp: self.pid as i32,
            session: self.pid as i32,
            tty_nr: self.tty_nr,
            // kthreadd (pid 2) and its children are kernel threads; the rest get the flags
            // a user process has (PF_RANDOMIZE and PF_SUPERPRIV).
            flags: if self.pid == 2 || self.ppid == 2 {
                PF_KTHREAD | 0x40
            } else {
                0x0040_0100
            },
            minflt: 0,
            majflt: 0,
            utime: 1,
            stime: 1,
            priority: 20,
            nice: 0,
            num_threads: 1,
            starttime: self.start_ticks,
            vsize: 10_000_000,
            rss: 1000,
        };
        let mut cmdline = Vec::new();
        for a in &self.argv {
            cmdline.extend_from_slice(a);
            cmdline.push(0);
        }
        let unset = |v: Option<u32>| v.unwrap_or(u32::MAX).to_string();
        let files: [(&str, Vec<u8>); 5] = [
            ("stat", format_stat(&stat).into_bytes()),
            ("cmdline", cmdline),
            (
                "status",
                format!(
                    "Name:\t{}\nState:\t{}\nPPid:\t{}\nUid:\t{u}\t{u}\t{u}\t{u}\nGid:\t{g}\t{g}\t{g}\t{g}\n",
                    self.comm, self.state, self.ppid, u = self.uid, g = self.gid
                )
                .into_bytes(),
            ),
            ("loginuid", unset(self.auid).into_bytes()),
            ("sessionid", unset(self.ses).into_bytes()),
        ];
        for (name, content) in files {
            if !self.missing.iter().any(|m| m == name) {
                fs::write(base.join(name), content).expect("write");
            }
        }
        let ns = base.join("ns");
        fs::create_dir_all(&ns).expect("mkdir ns");
        symlink(NETNS, ns.join("net")).expect("symlink ns");
        if let Some(exe) = &self.exe {
            symlink(exe, base.join("exe")).expect("symlink exe");
        }
        if let Some(fds) = &self.fds {
            let fd = base.join("fd");
            fs::create_dir_all(&fd).expect("mkdir fd");
            for (i, t) in fds.iter().enumerate() {
                symlink(t, fd.join(i.to_string())).expect("symlink fd");
            }
        }
    }
}

fn fd_target(s: &str) -> String {
    if let Some(n) = s.strip_prefix("socket:") {
        format!("socket:[{}]", n.trim_matches(['[', ']']))
    } else if let Some(n) = s.strip_prefix("pipe:") {
        format!("pipe:[{}]", n.trim_matches(['[', ']']))
    } else if let Some(n) = s.strip_prefix("anon:") {
        format!("anon_inode:{n}")
    } else {
        s.to_string()
    }
}

/// Ticks after [`BOOT_TIME`] for a wall-clock time.
pub fn ticks_after_boot(t: Timestamp) -> u64 {
    let d = t.as_millisecond() - BOOT_TIME * 1000;
    assert!(d >= 0, "{t} is before the fixture boot");
    (d / 10) as u64
}

/// Parses a `//- utmp` line: a type name (`USER_PROCESS`, `DEAD_PROCESS`, a number) then
/// `key=value` pairs: `pid line id user host time session exit addr`.
///
/// `time` is RFC 3339 or seconds; `addr` an IP; `exit=TERM:STATUS`. Text values may contain
/// `\xNN` escapes (non-UTF-8).
pub fn parse_utmp_line(line: &str) -> UtmpRecord {
    let line = line.trim();
    let (ty, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let mut r = UtmpRecord {
        ut_type: UtType::from_name(ty).unwrap_or_else(|| panic!("bad utmp type {ty:?}")),
        ..UtmpRecord::default()
    };
    for (k, v) in parse_kv(rest) {
        let s = String::from_utf8_lossy(&v).into_owned();
        match k.as_str() {
            "pid" => r.pid = s.parse().expect("pid"),
            "line" => r.line = UtmpText(v),
            "id" => r.id = UtmpText(v),
            "user" => r.user = UtmpText(v),
            "host" => r.host = UtmpText(v),
            "time" => r.set_time(ts(&s)),
            "session" => r.session = s.parse().expect("session"),
            "addr" => r.set_addr(Some(s.parse::<IpAddr>().expect("addr"))),
            "exit" => {
                let (t, e) = s.split_once(':').expect("exit=TERM:STATUS");
                r.exit_termination = t.parse().expect("term");
                r.exit_status = e.parse().expect("status");
            }
            other => panic!("unknown utmp key {other}"),
        }
    }
    r
}

/// Parses a `//- tcp` line.
pub fn parse_tcp_line(line: &str) -> TcpEntry {
    let kv = parse_kv(line);
    let get = |k: &str| {
        kv.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let local: SocketAddr = get("local").expect("local=").parse().expect("local addr");
    let remote: SocketAddr = get("remote")
        .expect("remote=")
        .parse()
        .expect("remote addr");
    let state = match get("state").as_deref() {
        None | Some("ESTABLISHED") => TcpState::Established,
        Some("LISTEN") => TcpState::Listen,
        Some(n) => TcpState::from_code(n.parse().expect("state")),
    };
    TcpEntry {
        local,
        remote,
        state,
        uid: get("uid").map_or(0, |u| u.parse().expect("uid")),
        inode: get("inode").expect("inode=").parse().expect("inode"),
        v6_table: get("v6").is_some_and(|v| v == "1") || local.is_ipv6() || remote.is_ipv6(),
    }
}

/// The `lastrcv=MS` of a `//- tcp` line, if any.
pub fn parse_tcp_lastrcv(line: &str) -> Option<u64> {
    parse_kv(line)
        .into_iter()
        .find(|(k, _)| k == "lastrcv")
        .map(|(_, v)| {
            String::from_utf8_lossy(&v)
                .parse()
                .expect("lastrcv=MILLISECONDS")
        })
}

/// Splits `k=v k2="v 2"` into pairs, decoding escapes in values.
pub fn parse_kv(s: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        let mut raw = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if chars.peek() == Some(&'"') => {
                            raw.push(chars.next().expect("peeked"))
                        }
                        c => raw.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    raw.push(c);
                    chars.next();
                }
            }
        }
        out.push((key, unescape(&raw)));
    }
    out
}

/// Decodes `\xNN`, `\0`, `\n`, `\t` and `\\` into bytes.
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'x' if i + 3 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap_or("");
                    out.push(
                        u8::from_str_radix(hex, 16)
                            .unwrap_or_else(|_| panic!("bad \\x escape in {s:?}")),
                    );
                    i += 4;
                    continue;
                }
                b'0' => out.push(0),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// A fixture being assembled; [`Fixture::build`] writes it to a temp dir.
#[derive(Debug, Clone, Default)]
pub struct Fixture {
    /// Processes.
    pub procs: Vec<Proc>,
    /// TCP sockets.
    pub tcp: Vec<TcpEntry>,
    /// `tcpi_last_data_recv` in milliseconds by socket inode (`lastrcv=` in `//- tcp`).
    pub last_receive: Vec<(u64, u64)>,
    /// utmp records (`run/utmp`); `None` = no utmp file.
    pub utmp: Option<Vec<UtmpRecord>>,
    /// wtmp records (`var/log/wtmp`).
    pub wtmp: Option<Vec<UtmpRecord>>,
    /// Files: relative path, content, flags.
    pub files: Vec<(PathBuf, Vec<u8>, Vec<String>)>,
    /// Host facts: `btime`, `hostname`, `boot_id`, `uptime`.
    pub host: Vec<(String, String)>,
    /// utmp layout (default native).
    pub layout: Option<UtmpLayout>,
}

impl Fixture {
    /// An empty host (boot time, hostname and boot id only).
    pub fn new() -> Fixture {
        Fixture::default()
    }

    /// Parses the text DSL (see the crate docs).
    pub fn parse(text: &str) -> Fixture {
        let mut f = Fixture::new();
        let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
        for line in text.lines() {
            if let Some(header) = line.trim_start().strip_prefix("//- ") {
                blocks.push((header.trim().to_string(), Vec::new()));
            } else if let Some((_, lines)) = blocks.last_mut() {
                lines.push(line);
            } else if !line.trim().is_empty() {
                panic!("fixture text before the first //- header: {line:?}");
            }
        }
        for (header, lines) in blocks {
            let content_lines = || {
                lines
                    .iter()
                    .map(|l| l.trim())
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
            };
            match header.as_str() {
                "process" => f.procs.extend(content_lines().map(Proc::parse_line)),
                "tcp" => {
                    for line in content_lines() {
                        let e = parse_tcp_line(line);
                        if let Some(ms) = parse_tcp_lastrcv(line) {
                            f.last_receive.push((e.inode, ms));
                        }
                        f.tcp.push(e);
                    }
                }
                "utmp" => f
                    .utmp
                    .get_or_insert_with(Vec::new)
                    .extend(content_lines().map(parse_utmp_line)),
                "wtmp" => f
                    .wtmp
                    .get_or_insert_with(Vec::new)
                    .extend(content_lines().map(parse_utmp_line)),
                "host" => {
                    for l in content_lines() {
                        for (k, v) in parse_kv(l) {
                            f.host.push((k, String::from_utf8_lossy(&v).into_owned()));
                        }
                    }
                }
                path if path.starts_with('/') => {
                    let mut parts = path.split_whitespace();
                    let p = PathBuf::from(parts.next().expect("path").trim_start_matches('/'));
                    let flags: Vec<String> = parts
                        .map(|s| s.trim_start_matches('!').to_string())
                        .collect();
                    let mut content = lines.join("\n");
                    if !lines.is_empty() {
                        content.push('\n');
                    }
                    let content = if flags.iter().any(|f| f == "escaped") {
                        unescape(content.trim_end_matches('\n'))
                    } else {
                        content.into_bytes()
                    };
                    f.files.push((p, content, flags));
                }
                other => panic!("unknown fixture block {other:?}"),
            }
        }
        f
    }

    /// Adds a process.
    pub fn process(mut self, p: Proc) -> Fixture {
        self.procs.push(p);
        self
    }

    /// Adds a file.
    pub fn file(mut self, path: &str, content: impl Into<Vec<u8>>) -> Fixture {
        self.files.push((
            path.trim_start_matches('/').into(),
            content.into(),
            Vec::new(),
        ));
        self
    }

    /// Writes everything into a new temp dir.
    pub fn build(&self) -> FixtureRoot {
        let tmp = tempfile::Builder::new()
            .prefix("linmgmt-fixture")
            .tempdir()
            .expect("tempdir");
        let dir = tmp.path();
        let host = |k: &str, default: &str| {
            self.host
                .iter()
                .rev()
                .find(|(key, _)| key == k)
                .map_or(default.to_string(), |(_, v)| v.clone())
        };
        let btime = host("btime", &BOOT_TIME.to_string());
        write(
            dir,
            "proc/stat",
            format!("cpu  1 2 3 4 5 6 7 0 0 0\nintr 0\nctxt 0\nbtime {btime}\nprocesses 1\n"),
        );
        write(
            dir,
            "proc/sys/kernel/hostname",
            format!("{}\n", host("hostname", "fixture-host")),
        );
        write(
            dir,
            "proc/sys/kernel/random/boot_id",
            format!(
                "{}\n",
                host("boot_id", "7d2c1e4a-0000-4000-8000-000000000001")
            ),
        );
        write(
            dir,
            "proc/uptime",
            format!("{} 100.00\n", host("uptime", "43200.00")),
        );
        // A minimal account database; `//- /etc/passwd` blocks replace it (files are written later).
        write(
            dir,
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        );
        write(dir, "etc/group", "root:x:0:\nnogroup:x:65534:\n");
        for p in &self.procs {
            p.write(dir);
        }
        let (v4, v6): (Vec<&TcpEntry>, Vec<&TcpEntry>) = self.tcp.iter().partition(|e| !e.v6_table);
        for (name, rows) in [("tcp", v4), ("tcp6", v6)] {
            let mut text = String::from(TCP_HEADER);
            for (i, e) in rows.iter().enumerate() {
                text.push_str(&format_tcp_line(i, e));
            }
            write(dir, format!("proc/net/{name}"), text);
        }
        if !self.last_receive.is_empty() {
            let mut text = String::from("# inode tcpi_last_data_recv(ms)\n");
            for (inode, ms) in &self.last_receive {
                text.push_str(&format!("{inode} {ms}\n"));
            }
            write(dir, linmgmt_sources::read::sock_diag::FIXTURE_FILE, text);
        }
        let layout = self.layout.unwrap_or_default();
        if let Some(u) = &self.utmp {
            write(dir, "run/utmp", encode_file(u, layout));
        }
        if let Some(u) = &self.wtmp {
            write(dir, "var/log/wtmp", encode_file(u, layout));
        }
        let mut denied = Vec::new();
        for (path, content, flags) in &self.files {
            let full = dir.join(path);
            let has = |f: &str| flags.iter().any(|x| x == f);
            if has("denied") {
                denied.push(path.clone());
            }
            if has("dir") || (has("denied") && content.is_empty()) {
                fs::create_dir_all(&full).expect("mkdir");
            } else if has("symlink") {
                fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
                let target = String::from_utf8_lossy(content).trim().to_string();
                let _ = fs::remove_file(&full);
                symlink(target, &full).expect("symlink");
            } else {
                write(dir, path, content.clone());
            }
            if has("private") {
                use std::os::unix::fs::PermissionsExt;
                let parent = full.parent().expect("parent");
                fs::set_permissions(parent, fs::Permissions::from_mode(0o700)).expect("chmod");
                fs::set_permissions(&full, fs::Permissions::from_mode(0o600)).expect("chmod");
            }
        }
        let root = Root::new(dir).with_denied(denied);
        FixtureRoot { _tmp: tmp, root }
    }
}

fn write(dir: &Path, rel: impl AsRef<Path>, content: impl AsRef<[u8]>) {
    let full = dir.join(rel);
    fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    fs::write(full, content).expect("write");
}

/// A materialised fixture: the temp dir lives as long as this value.
#[derive(Debug)]
pub struct FixtureRoot {
    _tmp: tempfile::TempDir,
    root: Root,
}

impl FixtureRoot {
    /// The root to scan.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// A command runner answering from `<root>/NAME.json`.
    pub fn runner(&self) -> FixtureRunner {
        FixtureRunner::new(self.root.clone())
    }

    /// Keeps the directory after this value is dropped and returns its path (benchmarks
    /// materialise a fixture once and run the binary on it).
    pub fn keep(self) -> PathBuf {
        self._tmp.keep()
    }

    /// Makes this root's processes and utmp those of `other`, as if its logins and logouts
    /// had happened here (tests of watchers, which keep looking at one root). Processes
    /// come and go first, utmp is written last, as a login writes it once its processes
    /// exist.
    pub fn change_to(&self, other: &FixtureRoot) {
        fn copy_dir(from: &Path, to: &Path) {
            fs::create_dir_all(to).expect("mkdir");
            for entry in fs::read_dir(from).expect("read_dir").flatten() {
                let target = to.join(entry.file_name());
                let kind = entry.file_type().expect("file type");
                if kind.is_dir() {
                    copy_dir(&entry.path(), &target);
                } else if kind.is_symlink() {
                    let _ = fs::remove_file(&target);
                    symlink(fs::read_link(entry.path()).expect("link"), &target).expect("symlink");
                } else {
                    fs::copy(entry.path(), &target).expect("copy");
                }
            }
        }
        let (from, to) = (other.root.dir(), self.root.dir());
        let pids = |dir: &Path| -> Vec<String> {
            fs::read_dir(dir.join("proc"))
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let keep = pids(from);
        for gone in pids(to).into_iter().filter(|p| !keep.contains(p)) {
            fs::remove_dir_all(to.join("proc").join(gone)).expect("remove process");
        }
        for pid in keep {
            copy_dir(&from.join("proc").join(&pid), &to.join("proc").join(&pid));
        }
        let utmp = fs::read(from.join("run/utmp")).unwrap_or_default();
        fs::write(to.join("run/utmp"), utmp).expect("write utmp");
    }

    /// Creates `dev/<tty>` with the given access time (for idle-time tests).
    pub fn touch_tty(&self, tty: &str, atime: Timestamp) {
        let path = self.root.path(format!("dev/{tty}"));
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let f = fs::File::create(&path).expect("create tty");
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(atime.as_second() as u64);
        f.set_times(fs::FileTimes::new().set_accessed(t).set_modified(t))
            .expect("set times");
    }
}

/// A host with an sshd listener, `root` and `alice` (uid 1001), and `n` ssh logins of
/// alice with a pty: audit sessions 2, 3, …, an sshd monitor, its child and a shell each, and a utmp
/// record each (an empty utmp file without logins).
pub fn pty_logins(n: u32) -> Fixture {
    pty_logins_in(&(2..n + 2).collect::<Vec<_>>())
}

/// [`pty_logins`] with the audit sessions given (each at least 2): session `s` is the login
/// on `pts/{s-2}`, so a host can lose one login and gain another between two scans.
pub fn pty_logins_in(sessions: &[u32]) -> Fixture {
    let mut procs = String::new();
    let mut utmp = String::new();
    for &ses in sessions {
        let i = ses - 2;
        let (pid, child, shell) = (10_000 + i * 10, 10_001 + i * 10, 10_002 + i * 10);
        procs.push_str(&format!(
            "pid={pid} ppid=900 comm=sshd cmd=\"sshd: alice [priv]\" ses={ses} auid=1001 start=2026-08-01T10:00:00Z\n\
             pid={child} ppid={pid} comm=sshd cmd=\"sshd: alice@pts/{i}\" uid=1001 ses={ses} auid=1001 start=2026-08-01T10:00:01Z fds=/dev/ptmx\n\
             pid={shell} ppid={child} comm=bash cmd=-bash uid=1001 ses={ses} auid=1001 tty=pts/{i} start=2026-08-01T10:00:01Z\n"
        ));
        utmp.push_str(&format!(
            "USER_PROCESS pid={pid} line=pts/{i} id=ts/{i} user=alice host=10.0.0.5 time=2026-08-01T10:00:01Z addr=10.0.0.5\n"
        ));
    }
    Fixture::parse(&format!(
        "//- process\n\
         pid=1 ppid=0 comm=init cmd=/sbin/init\n\
         pid=900 ppid=1 comm=sshd cmd=\"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups\"\n\
         {procs}//- utmp\n{utmp}//- /etc/passwd\n\
         root:x:0:0:root:/root:/bin/bash\n\
         alice:x:1001:1001:Alice,,,:/home/alice:/bin/bash\n"
    ))
}

/// A host with `n` SSH sessions, for scale tests and benches.
///
/// Per session `i`: an sshd monitor (`user{i%500} [priv]`, root, one socket) and its user child
/// (`@pts/i`, one socket plus `/dev/ptmx`) and a shell on `pts/i`; all in audit session `i+1`.
/// One established TCP row per session, one live utmp record per session, a `dev/pts/i` per
/// session, plus 50 system daemons, a listener, and every 10th utmp record stale.
pub fn many_sessions(n: u32) -> Fixture {
    let mut f = Fixture::new();
    f.procs.push(Proc::new(1, 0, "init").title("/sbin/init"));
    for d in 0..50 {
        f.procs
            .push(Proc::new(10 + d, 1, "daemon").title(&format!("/usr/sbin/daemon{d} -f")));
    }
    f.procs.push(
        Proc::new(900, 1, "sshd")
            .title("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups")
            .fds(&["socket:[1]", "/dev/null"]),
    );
    let mut utmp = Vec::new();
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
    for u in 0..500 {
        passwd.push_str(&format!(
            "user{u}:x:{}:{}:User {u},,,:/home/user{u}:/bin/bash\n",
            1000 + u,
            1000 + u
        ));
    }
    for i in 0..n {
        let monitor = 10_000 + i * 3;
        let user = format!("user{}", i % 500);
        let uid = 1000 + i % 500;
        let ses = i + 1;
        let inode = 100_000 + u64::from(i);
        let start = Timestamp::from_second(BOOT_TIME + 3600 + i64::from(i)).expect("ts");
        f.procs.push(
            Proc::new(monitor, 900, "sshd")
                .title(&format!("sshd: {user} [priv]"))
                .session(ses, uid)
                .started(start)
                .fds(&[&format!("socket:[{inode}]"), "/dev/null", "pipe:[5]"]),
        );
        f.procs.push(
            Proc::new(monitor + 1, monitor, "sshd")
                .title(&format!("sshd: {user}@pts/{i}"))
                .session(ses, uid)
                .uid(uid)
                .started(start)
                .fds(&[&format!("socket:[{inode}]"), "/dev/ptmx"]),
        );
        f.procs.push(
            Proc::new(monitor + 2, monitor + 1, "bash")
                .title("-bash")
                .session(ses, uid)
                .uid(uid)
                .started(start)
                .pts(i),
        );
        let o = (i % 250) as u8;
        f.tcp.push(TcpEntry {
            local: "10.0.0.1:22".parse().expect("addr"),
            remote: SocketAddr::new(
                IpAddr::from([10, 1, (i / 250) as u8, o]),
                40_000 + (i % 20_000) as u16,
            ),
            state: TcpState::Established,
            uid: 0,
            inode,
            v6_table: false,
        });
        let mut r = UtmpRecord {
            ut_type: UtType::UserProcess,
            // Every 10th record names a pid that does not exist: a stale record.
            pid: if i % 10 == 9 {
                (500_000 + i) as i32
            } else {
                monitor as i32
            },
            line: UtmpText(format!("pts/{i}").into_bytes()),
            id: UtmpText(format!("{}", i % 10_000).into_bytes()),
            user: UtmpText(user.clone().into_bytes()),
            host: UtmpText(format!("10.1.{}.{o}", i / 250).into_bytes()),
            ..UtmpRecord::default()
        };
        r.set_time(start);
        utmp.push(r);
        f.files
            .push((format!("dev/pts/{i}").into(), Vec::new(), Vec::new()));
    }
    f.utmp = Some(utmp);
    f.files
        .push(("etc/passwd".into(), passwd.into_bytes(), Vec::new()));
    f
}
