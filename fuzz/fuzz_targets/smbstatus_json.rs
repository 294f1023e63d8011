//! `smbstatus --json` output (Samba prints what clients send: user names, machine names,
//! share and file paths): feeds the bytes to `parse_smbstatus_json` and uses the result the
//! way the providers do.
//!
//! Asserts: parsing never panics; a parsed status has its sessions and tree connects
//! sorted by id, as documented; the per-pid and per-share open counts add up to the opens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_parse::smb::{parse_smbstatus_json, parse_tsocket_address};

fuzz_target!(|data: &[u8]| {
    let Ok(status) = parse_smbstatus_json(data) else {
        return;
    };
    assert!(
        status
            .sessions
            .is_sorted_by(|a, b| a.session_id <= b.session_id)
    );
    assert!(status.tcons.is_sorted_by(|a, b| a.tcon_id <= b.tcon_id));
    let by_share: usize = status.opens_by_share().values().sum();
    assert_eq!(by_share, status.opens.len());
    let by_pid: usize = status.opens_by_pid().values().sum();
    assert_eq!(
        by_pid,
        status.opens.iter().filter(|o| o.pid.is_some()).count()
    );
    for s in &status.sessions {
        let _ = status.first_connect(&s.session_id);
        let _ = (s.encryption.is_none(), s.signing.is_none());
        if let Some(h) = &s.hostname {
            assert_eq!(parse_tsocket_address(h), s.peer);
        }
    }
});
