//! WS-Management request envelopes, what every authenticated POST to `/wsman` goes through
//! (and, for a client without credentials, bodies up to the size of an Identify): the
//! bounded element tree, namespace resolution, the header and body parsers. Feeds the bytes
//! with the default limits and with tight ones (depth 4, 16 elements).
//!
//! Asserts: decoding never panics; a decoded request other than Identify has a MessageID
//! and the anonymous ReplyTo; every answer the server would write for it — a fault that
//! relates to the request's MessageID (whatever bytes it holds), or a rejection — is
//! well-formed XML; the resource URI parses or is refused without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_cimxml::{Limits, parse_tree};
use linmgmt_wsman::{Fault, Operation, ResourceUri, Subcode, decode, encode, ns};

fn well_formed(xml: &str) {
    parse_tree(xml.as_bytes(), &Limits::default()).expect("a response is well-formed XML");
}

fn check(data: &[u8], limits: &Limits) {
    match decode(data, limits) {
        Ok(request) => {
            let h = &request.header;
            if request.operation != Operation::Identify {
                assert!(h.message_id.is_some());
                assert_eq!(h.reply_to.as_deref().map(str::trim), Some(ns::ANONYMOUS));
            }
            if let Some(uri) = &h.resource_uri {
                let _ = ResourceUri::parse(uri);
            }
            let fault = Fault::new(Subcode::InternalError, "x");
            well_formed(&encode::fault(&fault, "uuid:1", h.message_id.as_deref(), "host"));
        }
        Err(rejected) => {
            well_formed(&encode::fault(
                &rejected.fault,
                "uuid:1",
                rejected.message_id.as_deref(),
                "host",
            ));
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
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = linmgmt_wsman::parse_duration(text);
    }
});
