//! systemd-logind session files (`/run/systemd/sessions/<id>`: `REMOTE_HOST`,
//! `REMOTE_USER`, `TTY`, `DISPLAY` come from PAM items a client can influence): feeds the
//! input (lossy UTF-8, as the reader's `read_to_string` fallback gives it) to
//! `parse_session_file`.
//!
//! Asserts: parsing never panics; the id is the file name; an `AUDIT` id is never 0 or
//! unset (4294967295), as documented.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_parse::AUDIT_UNSET;
use linmgmt_parse::logind::parse_session_file;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let s = parse_session_file("c7", &text);
    assert_eq!(s.id, "c7");
    assert!(s.audit.is_none_or(|a| a != 0 && a != AUDIT_UNSET));
    for text in [&s.user, &s.tty, &s.remote_host, &s.remote_user, &s.service] {
        assert!(text.as_deref().is_none_or(|t| !t.is_empty()));
    }
});
