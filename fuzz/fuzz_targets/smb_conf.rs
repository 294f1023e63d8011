//! Samba's configuration (`smb.conf` and the files it includes; `include = %U`-style
//! per-user files can be written by users): feeds the input (lossy UTF-8) to
//! `parse_smb_conf`, with every `include` answered by the input itself (one level deep, as
//! documented), then to `file_shares`.
//!
//! Asserts: nothing panics; sections with the same name (any case) are merged; no file share
//! is `[global]`, `[printers]` or unnamed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_parse::smbconf::{file_shares, parse_bool, parse_smb_conf};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let sections = parse_smb_conf(&text, &mut |_name| Some(text.to_string()));
    for (i, s) in sections.iter().enumerate() {
        assert!(
            sections[..i]
                .iter()
                .all(|o| !o.name.eq_ignore_ascii_case(&s.name)),
            "section [{}] twice",
            s.name
        );
        for (_, v) in &s.params {
            let _ = parse_bool(v);
        }
    }
    for share in file_shares(&sections) {
        assert!(!share.name.is_empty());
        assert!(!share.name.eq_ignore_ascii_case("global"));
        assert!(!share.name.eq_ignore_ascii_case("printers"));
    }
});
