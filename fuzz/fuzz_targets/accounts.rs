//! Account files (`/etc/passwd` GECOS fields are set by users with `chfn`; NSS-fed copies
//! and `/etc/group`, `/etc/shadow` go through the same parsers): feeds the input (lossy
//! UTF-8) to `parse_passwd`, `parse_group` and `parse_shadow_locks`.
//!
//! Asserts: nothing panics; every line is an entry, a counted bad line or skipped (never
//! more entries than lines); the full name is the start of the GECOS field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_parse::accounts::{parse_group, parse_passwd, parse_shadow_locks};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    let (users, bad) = parse_passwd(&text);
    assert!(users.len() + bad <= lines);
    for u in &users {
        assert!(u.gecos.starts_with(&u.full_name));
        assert!(!u.name.contains(':'));
    }
    assert!(parse_group(&text).len() <= lines);
    for (name, _) in parse_shadow_locks(&text) {
        assert!(!name.is_empty());
    }
});
