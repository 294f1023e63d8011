//! What tells a session's origin once sshd is gone (issue 11): `/proc/<pid>/environ` (the
//! user's own bytes: anyone can set `SSH_CONNECTION`), the audit log's `USER_START` and
//! `USER_LOGIN` lines (user names and host names in them come from clients), and linmgmt's
//! own record file `/run/linmgmt/sessions` (root-written, but read after a crash or an edit).
//! Feeds the raw bytes to `parse_ssh_env`, and the input as lossy UTF-8 to `parse_audit_log`
//! and to the record decoder.
//!
//! Asserts: nothing panics; an environment's client address has a port of its own (the join
//! key with sshd's log); a pty name is short and has no `..`; every decoded record has a real
//! audit session id and re-encodes to itself; no string in a record is longer than the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_parse::audit::parse_audit_log;
use linmgmt_parse::environ::parse_ssh_env;
use linmgmt_sources::state::{self, MAX_TEXT};

fuzz_target!(|data: &[u8]| {
    let env = parse_ssh_env(data);
    if let Some(tty) = &env.tty {
        assert!(
            !tty.is_empty() && tty.len() <= 32 && !tty.contains(".."),
            "{tty:?}"
        );
    }
    let text = String::from_utf8_lossy(data);
    for login in parse_audit_log(&text) {
        assert!(login.ses != 0 && login.ses != u32::MAX);
    }
    let (_, records, _) = state::decode(&text);
    assert!(records.len() <= state::MAX_RECORDS);
    for r in records.values() {
        assert!(r.id != 0 && r.id != u32::MAX);
        for s in [
            &r.user,
            &r.service,
            &r.method,
            &r.class,
            &r.remote_host,
            &r.tty,
        ] {
            assert!(
                s.as_ref()
                    .is_none_or(|s| !s.is_empty() && s.len() <= MAX_TEXT)
            );
        }
        assert_eq!(
            state::decode_record(&state::encode_record(r)).as_ref(),
            Some(r)
        );
    }
});
