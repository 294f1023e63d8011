//! The HTTP-level decoders of `linmgmt serve`: the `Authorization: Basic` header
//! (`parse_basic`, which reads bytes from anyone who can connect, before authentication),
//! the percent-decoding of the `CIMMethod` and `CIMObject` headers (`percent_decode`), form
//! decoding of the `/events` query string (`form_decode`, `parse_params`) and its `Accept`
//! header (`wants_sse`). Header values and query strings reach them as `&str`, so the input
//! is used only when it is UTF-8.
//!
//! Asserts: nothing panics; a decoded Basic name has no `:`; `%XX`-encoding every byte of
//! the input and decoding it gives the input back (both `percent_decode` and `form_decode`);
//! text without `%` or `+` form-decodes to itself; parsed event parameters are non-empty.
#![no_main]

use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use linmgmt_server::decode::{form_decode, parse_basic, parse_params, percent_decode, wants_sse};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((name, _password)) = parse_basic(s) {
        assert!(!name.contains(':'));
    }
    let _ = percent_decode(s);
    let form = form_decode(s);
    if !s.contains(['%', '+']) {
        assert_eq!(form.as_deref(), Ok(s));
    }
    let mut encoded = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        write!(encoded, "%{b:02X}").unwrap();
    }
    assert_eq!(percent_decode(&encoded), s);
    assert_eq!(form_decode(&encoded).as_deref(), Ok(s));
    if let Ok(params) = parse_params(Some(s)) {
        assert!(!params.query.trim().is_empty());
        assert!(!params.namespace.trim().is_empty());
    }
    let _ = wants_sse(Some(s));
});
