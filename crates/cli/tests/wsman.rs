//! WS-Management request/response pairs through the whole server: `linmgmt serve
//! --wsman-listen` over the engine's instance fixture, each `tests/wsman/*.xml` POSTed to
//! `/wsman` in name order, the answer (HTTP status and envelope) compared with
//! `tests/wsman/*.response`. The shapes are those of Windows' CIM cmdlets (an optimized
//! Enumerate of `wscim/1/*` with a WQL filter, `__cimnamespace`, UsePreciseArrays and
//! MaxEnvelopeSize 512000; a class enumeration; Get-CimAssociatedInstance's association
//! filter), plain enumerations with their pulls, Get by selectors and every fault.
//!
//! Files named `anonymous-*` are sent without credentials. `{CONTEXT}` in a request is
//! the last enumeration context a response carried. In the golden files, fresh message ids
//! and context ids are replaced by placeholders; everything else is byte for byte.

mod common;

use common::{TempDir, add_user, linmgmt};
use linmgmt_test_support::golden::{Goldens, cases};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

const ADMIN: (&str, &str) = ("lmadmin", "admin-pw-1");

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                T[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// A `linmgmt serve` on loopback, stopped when dropped.
struct Server {
    child: Child,
    wsman: SocketAddr,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let dir = TempDir::new("wsman");
    let users = dir.0.join("users");
    add_user(&users, ADMIN.0, ADMIN.1, "admin");
    let mut child = linmgmt()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--wsman-listen",
            "127.0.0.1:0",
            "--users",
        ])
        .arg(&users)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut wsman = None;
    let mut line = String::new();
    while wsman.is_none() {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve ended before listening"
        );
        if let Some(rest) = line.split("WS-Management on http://").nth(1) {
            wsman = rest.trim().trim_end_matches("/wsman").parse().ok();
        }
    }
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr.lines() {});
    Server {
        child,
        wsman: wsman.unwrap(),
        _dir: dir,
    }
}

/// POSTs `body` to `/wsman`; returns the status line's code with a `WWW-Authenticate`
/// header if there is one, and the body.
fn post(addr: SocketAddr, body: &[u8], auth: bool) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "POST /wsman HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if auth {
        head.push_str(&format!(
            "Authorization: Basic {}\r\n",
            base64(format!("{}:{}", ADMIN.0, ADMIN.1).as_bytes())
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut status = head.split(' ').nth(1).unwrap().to_owned();
    for line in head.lines() {
        if line.to_ascii_lowercase().starts_with("www-authenticate:") {
            status = format!("{status}\n{line}");
        }
    }
    (status, body.to_owned())
}

/// The text of the first `<wsen:EnumerationContext>` with content.
fn context(body: &str) -> Option<String> {
    let start = body.find("<wsen:EnumerationContext>")? + "<wsen:EnumerationContext>".len();
    let end = start + body[start..].find('<')?;
    (end > start).then(|| body[start..end].to_owned())
}

/// Replaces what differs from run to run and host to host: the response's own MessageID,
/// context ids, and the host name in fault details.
fn normalize(body: &str, ctx: Option<&str>) -> String {
    let mut out = body.to_owned();
    if let Some(start) = out.find(" Machine=\"") {
        let from = start + " Machine=\"".len();
        if let Some(len) = out[from..].find('"') {
            out.replace_range(from..from + len, "HOST");
        }
    }
    if let Some(start) = out.find("<wsa:MessageID>uuid:") {
        let from = start + "<wsa:MessageID>".len();
        if let Some(len) = out[from..].find('<') {
            out.replace_range(from..from + len, "uuid:RESPONSE");
        }
    }
    if let Some(c) = ctx {
        out = out.replace(c, "CONTEXT");
    }
    out
}

#[test]
fn request_response_pairs() {
    let server = start();
    let mut goldens = Goldens::new();
    let mut last_context: Option<String> = None;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wsman");
    for case in cases(&dir, "xml") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let mut request = std::fs::read_to_string(&case).unwrap();
        if let Some(c) = &last_context {
            request = request.replace("{CONTEXT}", c);
        }
        let (status, body) = post(
            server.wsman,
            request.as_bytes(),
            !name.starts_with("anonymous-"),
        );
        if let Some(c) = context(&body) {
            last_context = Some(c);
        }
        let shown = normalize(&body, last_context.as_deref());
        if (status == "200" || status == "500")
            && let Err(e) = linmgmt_cimxml::parse_tree(body.as_bytes(), &Default::default())
        {
            goldens.fail(format!("{name}: the response is not well-formed: {e}"));
        }
        goldens.check(
            &case.with_extension("response"),
            &format!("HTTP {status}\n{shown}\n"),
        );
    }
    goldens.finish(26);
}

/// A body that is not one envelope is a fault, and the server goes on answering.
#[test]
fn hostile_bodies_are_faults() {
    let server = start();
    let identify =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wsman/01-identify.xml"))
            .unwrap();
    let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&b;</s:Body></s:Envelope>"#;
    let bodies: [&[u8]; 5] = [
        b"\xff\xfe\x00",
        deep.as_bytes(),
        bomb.as_bytes(),
        b"not xml at all",
        b"",
    ];
    for body in bodies {
        let (status, answer) = post(server.wsman, body, true);
        assert_eq!(status, "500", "{answer}");
        assert!(answer.contains("<s:Fault>"), "{answer}");
        let (status, _) = post(server.wsman, &identify, true);
        assert_eq!(status, "200");
    }
}
