//! CIM-XML request bodies, the most exposed parser of `linmgmt serve`: every POST body of an
//! authenticated client goes through `linmgmt_cimxml::decode` (the bounded element tree,
//! then the typed request). Feeds the bytes as a body with the default limits, and again
//! with tight ones (depth 4, 16 elements) so the limit paths are exercised too.
//!
//! Asserts: decoding never panics; a protocol error maps to HTTP 400 or 501 with a
//! `CIMError` header value; a decoded request names a non-empty namespace, and an extrinsic
//! method call is always "not supported".
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_cimxml::{Limits, Operation, decode};

fn check(data: &[u8], limits: &Limits) {
    match decode(data, limits) {
        Ok(request) => {
            assert!(!request.namespace.is_empty());
            if !request.intrinsic {
                assert_eq!(request.operation, Ok(Operation::NotSupported));
            }
        }
        Err(e) => {
            assert!(matches!(e.kind.http_status(), 400 | 501));
            assert!(!e.kind.header().is_empty());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, &Limits::default());
    check(
        data,
        &Limits {
            max_depth: 4,
            max_elements: 16,
        },
    );
});
