//! Proc-connector datagrams from the kernel: parsing any bytes never panics, and every
//! message is either an event or counted as malformed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_parse::proc_connector::parse_datagram;

fuzz_target!(|data: &[u8]| {
    let parsed = parse_datagram(data);
    // At most one event or one malformed count per 16-byte netlink header.
    assert!(parsed.events.len() + parsed.malformed <= data.len() / 16 + 1);
});
