//! sock_diag netlink answers (the kernel's, so trusted, but parsed from raw bytes with
//! offsets and lengths taken from the data) and the fixture form of `lastrcv` lines: feeds
//! the bytes to `parse_dump` and the lossy text to `parse_fixture_last_receive`.
//!
//! Asserts: nothing panics; every socket parsed, encoded again with `encode_diag_msg` (the
//! test encoder), parses back to the same socket (the property of
//! `round_trip_v4_v6_and_mapped` in `parse/sock_diag.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_parse::sock_diag::{encode_diag_msg, parse_dump, parse_fixture_last_receive};

fuzz_target!(|data: &[u8]| {
    if let Ok(chunk) = parse_dump(data) {
        for s in &chunk.sockets {
            let msg = encode_diag_msg(s, 1);
            let back = parse_dump(&msg).expect("an encoded socket parses");
            assert_eq!(back.sockets.as_slice(), std::slice::from_ref(s));
        }
    }
    let _ = parse_fixture_last_receive(&String::from_utf8_lossy(data));
});
