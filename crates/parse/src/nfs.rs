//! NFSv4 server clients: `/proc/fs/nfsd/clients/<N>/info` and `states` (kernel ≥ 5.3).
//!
//! `info` is YAML-like and its fields grew across kernels (`seconds from last renew: N` later
//! became `time since last renew: h:mm:ss`; callback fields came in 5.14, slot counts in 6.x),
//! so every field is optional and unknown keys are ignored.

use std::net::{IpAddr, SocketAddr};

/// The facts of one client's `info` file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NfsClientInfo {
    /// `clientid: 0x…`.
    pub clientid: Option<String>,
    /// `address:` as printed, unquoted (`192.168.1.10:871`, `[fe80::1]:871`).
    pub address: Option<String>,
    /// The parsed peer address.
    pub peer: Option<SocketAddr>,
    /// `status:` confirmed, unconfirmed, courtesy, expirable.
    pub status: Option<String>,
    /// Seconds since the last lease renewal (from either spelling).
    pub seconds_since_renew: Option<u64>,
    /// `name:` the client owner string.
    pub name: Option<String>,
    /// `minor version:`.
    pub minor_version: Option<u32>,
    /// `Implementation domain:`.
    pub implementation_domain: Option<String>,
    /// `Implementation name:`.
    pub implementation_name: Option<String>,
    /// `Implementation time:` as printed.
    pub implementation_time: Option<String>,
    /// `callback state:` UP, UNKNOWN, DOWN, FAULT.
    pub callback_state: Option<String>,
    /// `callback address:`.
    pub callback_address: Option<String>,
}

/// Parses an `info` file.
pub fn parse_client_info(text: &str) -> NfsClientInfo {
    let mut c = NfsClientInfo::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = unquote(value.trim());
        let some = || (!value.is_empty()).then(|| value.clone());
        match key.trim() {
            "clientid" => c.clientid = some(),
            "address" => {
                c.peer = parse_address(&value);
                c.address = some();
            }
            "status" => c.status = some(),
            "seconds from last renew" => c.seconds_since_renew = value.parse().ok(),
            "time since last renew" => c.seconds_since_renew = parse_hms(&value),
            "name" => c.name = some(),
            "minor version" => c.minor_version = value.parse().ok(),
            "Implementation domain" => c.implementation_domain = some(),
            "Implementation name" => c.implementation_name = some(),
            "Implementation time" => c.implementation_time = some(),
            "callback state" => c.callback_state = some(),
            "callback address" => c.callback_address = some(),
            _ => {}
        }
    }
    c
}

/// Counts in a `states` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NfsStateCounts {
    /// `type: open` lines: the client's open files (ResourcesOpened).
    pub open: usize,
    /// `type: lock`.
    pub lock: usize,
    /// `type: deleg`.
    pub deleg: usize,
    /// `type: layout`.
    pub layout: usize,
    /// All state lines.
    pub total: usize,
}

/// Counts the stateids in a `states` file by type.
///
/// Lines look like `- 0x…: { type: open, access: rw, deny: --, superblock: "fd:10:13649", … }`.
pub fn count_states(text: &str) -> NfsStateCounts {
    let mut n = NfsStateCounts::default();
    for line in text.lines() {
        let Some(idx) = line.find("type:") else {
            continue;
        };
        n.total += 1;
        let ty = line[idx + 5..].trim_start();
        let ty = ty
            .split(|c: char| c == ',' || c == '}' || c.is_whitespace())
            .next()
            .unwrap_or("");
        match ty {
            "open" => n.open += 1,
            "lock" => n.lock += 1,
            "deleg" => n.deleg += 1,
            "layout" => n.layout += 1,
            _ => {}
        }
    }
    n
}

/// One state of a `states` file that names a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfsStateFile {
    /// `type:` (`open`, `lock`, `deleg`, `layout`).
    pub kind: String,
    /// `filename:` unquoted, as the kernel prints it.
    pub filename: String,
    /// `superblock: "MAJ:MIN:INO"` (hexadecimal device numbers): the file system the file
    /// is on, which finds its export when the kernel prints only the file's last name.
    pub device: Option<(u32, u32)>,
}

/// The states of a `states` file that carry a `filename:`, in order.
pub fn state_files(text: &str) -> Vec<NfsStateFile> {
    let mut out = Vec::new();
    for line in text.lines() {
        let (Some(kind), Some(filename)) = (field(line, "type:"), field(line, "filename:")) else {
            continue;
        };
        if !filename.is_empty() {
            let device = field(line, "superblock:").and_then(|sb| {
                let mut parts = sb.split(':');
                let major = u32::from_str_radix(parts.next()?, 16).ok()?;
                let minor = u32::from_str_radix(parts.next()?, 16).ok()?;
                Some((major, minor))
            });
            out.push(NfsStateFile {
                kind,
                filename,
                device,
            });
        }
    }
    out
}

/// The value after `key` in a `{ key: value, … }` line: a quoted string (with `\"` and `\\`
/// escapes) or a bare word.
fn field(line: &str, key: &str) -> Option<String> {
    let rest = line[line.find(key)? + key.len()..].trim_start();
    let Some(quoted) = rest.strip_prefix('"') else {
        return Some(
            rest.split(|c: char| c == ',' || c == '}' || c.is_whitespace())
                .next()
                .unwrap_or("")
                .to_owned(),
        );
    };
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    // No closing quote: a truncated line; take what is there.
    Some(out)
}

/// One export of the kernel NFS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfsExport {
    /// The exported directory.
    pub path: String,
    /// Each `client(options)` entry as printed, over all lines of this path.
    pub clients: Vec<String>,
    /// The device (major, minor) of the exported directory, when it could be read.
    pub device: Option<(u32, u32)>,
}

/// Parses `/proc/fs/nfs/exports`: `/path  client(opts,…)  …` lines, `#` comments, paths with
/// octal escapes (`\040` for a space). One entry per path, in first-seen order.
pub fn parse_exports(text: &str) -> Vec<NfsExport> {
    let mut out: Vec<NfsExport> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(path) = words.next().map(unescape_octal) else {
            continue;
        };
        if !path.starts_with('/') {
            continue;
        }
        let clients = words.map(str::to_owned);
        match out.iter_mut().find(|e| e.path == path) {
            Some(e) => e.clients.extend(clients),
            None => out.push(NfsExport {
                path,
                clients: clients.collect(),
                device: None,
            }),
        }
    }
    out
}

/// `\ooo` octal escapes, as the kernel's `seq_escape` writes them; anything else verbatim.
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The export a state's file belongs to: the longest export path that is the file or one
/// of its ancestors. Most kernels print only the file's last name (`%pD`); then the state's
/// file system decides: the one export on that device, else the only export there is.
pub fn export_of<'a>(exports: &'a [NfsExport], state: &NfsStateFile) -> Option<&'a NfsExport> {
    let filename = state.filename.as_str();
    if !filename.starts_with('/') {
        if let Some(dev) = state.device {
            let mut on_device = exports.iter().filter(|e| e.device == Some(dev));
            if let (Some(one), None) = (on_device.next(), on_device.next()) {
                return Some(one);
            }
        }
        return match exports {
            [only] => Some(only),
            _ => None,
        };
    }
    exports
        .iter()
        .filter(|e| {
            let p = e.path.trim_end_matches('/');
            p.is_empty()
                || filename == p
                || filename
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|e| e.path.trim_end_matches('/').len())
}

fn unquote(v: &str) -> String {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
        .to_string()
}

/// `ip:port`, `[ip6]:port`, or a bare `ip6` whose last colon group is the port.
fn parse_address(v: &str) -> Option<SocketAddr> {
    if let Ok(sa) = v.parse::<SocketAddr>() {
        return Some(canonical(sa));
    }
    let (ip, port) = v.rsplit_once(':')?;
    let ip: IpAddr = ip.parse().ok()?;
    Some(canonical(SocketAddr::new(ip, port.parse().ok()?)))
}

fn canonical(sa: SocketAddr) -> SocketAddr {
    SocketAddr::new(sa.ip().to_canonical(), sa.port())
}

/// `h:mm:ss` (hours may exceed 24) or a plain number of seconds.
fn parse_hms(v: &str) -> Option<u64> {
    let mut total = 0u64;
    for part in v.split(':') {
        total = total
            .checked_mul(60)?
            .checked_add(part.trim().parse().ok()?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(filename: &str) -> NfsStateFile {
        NfsStateFile {
            kind: "open".into(),
            filename: filename.into(),
            device: None,
        }
    }

    #[test]
    fn kernel_5_x_info() {
        let c = parse_client_info(
            "clientid: 0x6e6d3d5f6c5b3a01\naddress: \"192.168.1.10:871\"\nstatus: confirmed\nname: \"Linux NFSv4.2 client.example.com\"\nminor version: 2\nImplementation domain: \"kernel.org\"\nImplementation name: \"Linux 6.1.0 #1 SMP x86_64\"\nImplementation time: [0, 0]\nseconds from last renew: 12\n",
        );
        assert_eq!(c.peer, Some("192.168.1.10:871".parse().unwrap()));
        assert_eq!(c.seconds_since_renew, Some(12));
        assert_eq!(c.minor_version, Some(2));
        assert_eq!(c.name.as_deref(), Some("Linux NFSv4.2 client.example.com"));
        assert_eq!(c.implementation_time.as_deref(), Some("[0, 0]"));
    }

    #[test]
    fn kernel_6_x_info_ipv6_and_hms() {
        let c = parse_client_info(
            "clientid: 0x1\naddress: \"[2001:db8::5]:833\"\nstatus: courtesy\ntime since last renew: 1:02:03\ncallback state: UP\ncallback address: [2001:db8::5]:0\nadmin-revoked states: 0\nsession slots: 64\n",
        );
        assert_eq!(c.peer, Some("[2001:db8::5]:833".parse().unwrap()));
        assert_eq!(c.seconds_since_renew, Some(3723));
        assert_eq!(c.callback_state.as_deref(), Some("UP"));
        assert_eq!(c.minor_version, None);
    }

    #[test]
    fn states() {
        let n = count_states(
            "- 0x00000001: { type: open, access: rw, deny: --, superblock: \"fd:10:13649\", filename: \"/srv/a\", owner: \"open id:x\" }\n- 0x2: { type: lock, superblock: \"fd:10:1\" }\n- 0x3: { type: open, access: r }\n- 0x4: { type: deleg, access: r }\n",
        );
        assert_eq!(
            n,
            NfsStateCounts {
                open: 2,
                lock: 1,
                deleg: 1,
                layout: 0,
                total: 4
            }
        );
        assert_eq!(count_states(""), NfsStateCounts::default());
    }

    #[test]
    fn state_filenames() {
        let files = state_files(
            "- 0x1: { type: open, access: rw, deny: --, superblock: \"fd:10:13649\", filename: \"/export/a b\", owner: \"open id:x\" }\n- 0x2: { type: lock, superblock: \"fd:10:1\", filename: \"/export/q\\\"uote\" }\n- 0x3: { type: open, access: r }\n- 0x4: { type: deleg, filename: \"/trunc\n- 0x5: { filename: \"/no/type\" }\nfilename:\ntype:",
        );
        let got: Vec<(&str, &str)> = files
            .iter()
            .map(|f| (f.kind.as_str(), f.filename.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("open", "/export/a b"),
                ("lock", "/export/q\"uote"),
                ("deleg", "/trunc")
            ]
        );
    }

    #[test]
    fn exports() {
        let e = parse_exports(
            "# Version 1.1\n# Path Client(Flags) # IPs\n/export\t*(rw,root_squash,sync,wdelay,no_subtree_check,uuid=1:2:3:4,sec=1)\n/export/a\\040b\t192.168.1.0/24(ro)\n/export\t10.0.0.1(rw)\nnot-a-path(rw)\n\n/x\\0\n/y\\777z\n",
        );
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/export", "/export/a b", "/x\\0", "/y\\777z"]);
        assert_eq!(e[0].clients.len(), 2);
        assert_eq!(
            export_of(&e, &named("/export/a b/f")).map(|e| e.path.as_str()),
            Some("/export/a b")
        );
        assert_eq!(
            export_of(&e, &named("/export/a bc")).map(|e| e.path.as_str()),
            Some("/export")
        );
        assert_eq!(export_of(&e, &named("/exportx/f")), None);
        assert_eq!(export_of(&e, &named("f")), None);
        assert_eq!(
            export_of(&e[..1], &named("f")).map(|e| e.path.as_str()),
            Some("/export")
        );
        let root = parse_exports("/ *(ro)\n");
        assert_eq!(
            export_of(&root, &named("/any/file")).map(|e| e.path.as_str()),
            Some("/")
        );
        assert!(parse_exports("").is_empty());
    }

    #[test]
    fn bare_file_names_find_their_export_by_device() {
        let export = |path: &str, device| NfsExport {
            path: path.into(),
            clients: vec![],
            device,
        };
        let exports = [
            export("/srv/a", Some((0xfd, 0x10))),
            export("/srv/b", Some((0xfd, 0x11))),
            export("/srv/b/sub", Some((0xfd, 0x11))),
        ];
        let states = state_files(
            "- 0x1: { type: open, superblock: \"fd:10:99\", filename: \"x.txt\" }\n\
             - 0x2: { type: open, superblock: \"fd:11:7\", filename: \"y.txt\" }\n\
             - 0x3: { type: open, superblock: \"zz:11:7\", filename: \"z.txt\" }\n\
             - 0x4: { type: open, superblock: \"fd:11:8\", filename: \"/srv/b/sub/w\" }",
        );
        let found: Vec<Option<&str>> = states
            .iter()
            .map(|s| export_of(&exports, s).map(|e| e.path.as_str()))
            .collect();
        // fd:11 holds two exports: a bare name there is ambiguous; a full path is not.
        assert_eq!(found, vec![Some("/srv/a"), None, None, Some("/srv/b/sub")]);
        assert_eq!(states[0].device, Some((0xfd, 0x10)));
        assert_eq!(states[2].device, None);
    }
}
