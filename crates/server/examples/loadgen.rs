//! A bounded load generator for loopback tests: N keep-alive connections send a fixed total
//! of CIM-XML EnumerateInstances requests (or, with `wsman`, WS-Management optimized
//! Enumerates of the class, which answer every instance in one response), then it prints
//! requests/s, latency percentiles and the error count as one JSON line.
//!
//! ```text
//! cargo run --release -p linmgmt-server --example loadgen -- \
//!     127.0.0.1:5988 USER PASSWORD [CONNECTIONS=64] [REQUESTS=20000] [CLASS=Win32_LogonSession] [cimxml|wsman]
//! ```
//!
//! Only loopback addresses are accepted, and the run ends after the request count or
//! 120 seconds, whichever comes first.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn request(addr: SocketAddr, auth: &str, class: &str) -> Vec<u8> {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8" ?>
<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1001" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="EnumerateInstances"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH><IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="{class}"/></IPARAMVALUE><IPARAMVALUE NAME="DeepInheritance"><VALUE>TRUE</VALUE></IPARAMVALUE><IPARAMVALUE NAME="LocalOnly"><VALUE>FALSE</VALUE></IPARAMVALUE></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"#
    );
    format!(
        "POST /cimom HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/xml; charset=\"utf-8\"\r\nAuthorization: Basic {auth}\r\nCIMOperation: MethodCall\r\nCIMMethod: EnumerateInstances\r\nCIMObject: root%2Fcimv2\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn wsman_request(addr: SocketAddr, auth: &str, class: &str) -> Vec<u8> {
    let body = format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsen="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><wsa:To>http://{addr}/wsman</wsa:To><wsman:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/{class}</wsman:ResourceURI><wsa:ReplyTo><wsa:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo><wsa:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</wsa:Action><wsman:MaxEnvelopeSize s:mustUnderstand="true">512000</wsman:MaxEnvelopeSize><wsa:MessageID>uuid:5D2A4B8E-7C1F-4C55-9F35-0E1C2B7A9D01</wsa:MessageID><wsman:OperationTimeout>PT60S</wsman:OperationTimeout></s:Header><s:Body><wsen:Enumerate><wsman:OptimizeEnumeration/><wsman:MaxElements>32000</wsman:MaxElements></wsen:Enumerate></s:Body></s:Envelope>"#
    );
    format!(
        "POST /wsman HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nAuthorization: Basic {auth}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one response; returns whether it was a 200 without a CIM error or SOAP fault.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    buf.clear();
    let mut chunk = [0u8; 16384];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let ok = head.starts_with("http/1.1 200");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other("no content-length"))?;
    while buf.len() < header_end + len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = &buf[header_end..header_end + len];
    let error =
        body.windows(7).any(|w| w == b"<ERROR ") || body.windows(8).any(|w| w == b"<s:Fault");
    Ok(ok && !error)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!(
            "usage: loadgen ADDR:PORT USER PASSWORD [CONNECTIONS] [REQUESTS] [CLASS] [cimxml|wsman]"
        );
        std::process::exit(2);
    }
    let addr: SocketAddr = args[0].parse().expect("ADDR:PORT");
    assert!(addr.ip().is_loopback(), "loopback targets only");
    let auth = base64(format!("{}:{}", args[1], args[2]).as_bytes());
    let connections: usize = args.get(3).map_or(64, |s| s.parse().expect("CONNECTIONS"));
    let total: usize = args.get(4).map_or(20_000, |s| s.parse().expect("REQUESTS"));
    let class = args
        .get(5)
        .cloned()
        .unwrap_or_else(|| "Win32_LogonSession".into());
    let req = Arc::new(match args.get(6).map(String::as_str) {
        None | Some("cimxml") => request(addr, &auth, &class),
        Some("wsman") => wsman_request(addr, &auth, &class),
        Some(other) => panic!("protocol {other}: cimxml or wsman"),
    });
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(120);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let req = req.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut stream: Option<TcpStream> = None;
            let mut buf = Vec::with_capacity(65536);
            while next.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < deadline {
                let t = Instant::now();
                if stream.is_none() {
                    match TcpStream::connect(addr).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            stream = Some(s);
                        }
                        Err(_) => {
                            errors += 1;
                            continue;
                        }
                    }
                }
                let s = stream.as_mut().expect("connected");
                let result = match s.write_all(&req).await {
                    Ok(()) => read_response(s, &mut buf).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(true) => latencies.push(t.elapsed()),
                    Ok(false) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        stream = None;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("client task");
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        r#"{{"requests": {}, "errors": {errors}, "connections": {connections}, "seconds": {elapsed:.3}, "rps": {:.0}, "p50_ms": {:.2}, "p99_ms": {:.2}, "max_ms": {:.2}}}"#,
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
}
