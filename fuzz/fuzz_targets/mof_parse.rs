//! MOF: parsing never panics, and every class that parses is written back as MOF that
//! parses to the same class.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_mof::{Item, parse_str, write_class};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(entries) = parse_str(text) else { return };
    for entry in entries {
        if let Item::Class(class) = &entry.item {
            let written = write_class(class);
            let back = parse_str(&written).expect("written MOF parses");
            match back.first().map(|e| &e.item) {
                Some(Item::Class(again)) => assert_eq!(again, class, "round trip via {written}"),
                other => panic!("expected a class from {written}, got {other:?}"),
            }
        }
    }
});
