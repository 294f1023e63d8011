//! `/proc/net/tcp` and `/proc/net/tcp6` (also read from `/proc/<pid>/net/` of other network
//! namespaces, i.e. of containers): feeds the bytes to `parse_tcp_table` as an IPv4 and as
//! an IPv6 table.
//!
//! Asserts: nothing panics; every row is parsed or counted as bad; a parsed row printed by
//! `format_tcp_line` (the fixture writer) parses back to the same row (the property of
//! `format_round_trips` in `parse/net.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_parse::net::{format_tcp_line, parse_tcp_line, parse_tcp_table};

fuzz_target!(|data: &[u8]| {
    let rows = data
        .split(|&b| b == b'\n')
        .skip(1)
        .filter(|l| !l.trim_ascii().is_empty());
    let rows = rows.count();
    for v6 in [false, true] {
        let (entries, bad) = parse_tcp_table(data, v6);
        assert_eq!(entries.len() + bad, rows);
        for e in &entries {
            assert_eq!(e.v6_table, v6);
            let line = format_tcp_line(0, e);
            let back = parse_tcp_line(line.trim_end().as_bytes(), v6)
                .unwrap_or_else(|err| panic!("{line:?} does not parse: {err}"));
            assert_eq!(&back, e, "via {line:?}");
        }
    }
});
