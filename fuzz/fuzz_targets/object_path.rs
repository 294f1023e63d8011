//! Object paths: parsing never panics, and whatever parses prints to text that parses
//! back to the same path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_cim::ObjectPath;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(path) = text.parse::<ObjectPath>() {
        let printed = path.to_string();
        let back: ObjectPath = printed.parse().expect("a printed path parses");
        assert_eq!(back, path, "round trip of {text:?} via {printed:?}");
    }
});
