//! WQL: parsing never panics, and whatever parses prints to canonical text that parses
//! back to the same statement.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(statement) = linmgmt_wql::parse(text) {
        let printed = statement.to_string();
        let back = linmgmt_wql::parse(&printed).expect("canonical WQL parses");
        assert_eq!(back, statement, "round trip of {text:?} via {printed:?}");
    }
});
