//! `/proc` files whose content a process controls (`comm` and `cmdline` are set by the
//! process itself, any user's) and the small system files next to them: feeds the same
//! bytes to `parse_stat`, `parse_status`, `parse_cmdline`, `parse_audit_id`, `parse_btime`,
//! `parse_uptime` and `parse_line`, and to the Win32_Process counter parsers (`/proc/PID/io`,
//! the memory lines of `status`, `limits`) and `/etc/os-release`.
//!
//! Asserts: nothing panics; `cmdline` never ends with an empty argument; `comm` is the
//! text between the first `(` and the last `)`; an audit id is never the unset value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_parse::AUDIT_UNSET;
use linmgmt_parse::os_release::parse_os_release;
use linmgmt_parse::proc::{
    parse_audit_id, parse_btime, parse_cmdline, parse_line, parse_stat, parse_status, parse_uptime,
    start_time, tty_name,
};
use linmgmt_parse::proc_counters::{parse_io, parse_limits, parse_status_memory};

fuzz_target!(|data: &[u8]| {
    if let Ok(stat) = parse_stat(data) {
        let open = data.iter().position(|&b| b == b'(').unwrap();
        let close = data.iter().rposition(|&b| b == b')').unwrap();
        assert_eq!(stat.comm, String::from_utf8_lossy(&data[open + 1..close]));
        let _ = tty_name(stat.tty_nr);
        let _ = start_time(jiff::Timestamp::UNIX_EPOCH, stat.starttime);
        let _ = start_time(jiff::Timestamp::MAX, stat.starttime);
    }
    let _ = parse_status(data);
    let args = parse_cmdline(data);
    assert!(args.last().is_none_or(|a| !a.is_empty()));
    if let Ok(Some(id)) = parse_audit_id(data) {
        assert_ne!(id, AUDIT_UNSET);
    }
    let _ = parse_btime(data);
    let _ = parse_uptime(data);
    if let Some(line) = parse_line(data) {
        assert!(!line.is_empty());
    }
    let _ = parse_io(data);
    let _ = parse_status_memory(data);
    let _ = parse_limits(data);
    if let Ok(text) = std::str::from_utf8(data) {
        for (key, _) in parse_os_release(text) {
            assert!(!key.is_empty());
        }
    }
});
