//! utmp/wtmp files (any user who can log in influences `ut_host`, `ut_user`, `ut_line`):
//! feeds the bytes to `decode_file` in both record layouts (`Time32`, 384 bytes, and
//! `Time64`, 400 bytes) and runs the liveness filter over the records.
//!
//! Asserts: decoding never panics and accounts for every byte (whole records plus
//! `trailing_bytes`); decode → encode → decode gives the same record (the codec's
//! documented round trip, `round_trip_time32`/`round_trip_time64` in `parse/utmp.rs`);
//! the filter keeps or drops every record, never both and never neither.
#![no_main]

use jiff::{SignedDuration, Timestamp};
use libfuzzer_sys::fuzz_target;
use linmgmt_parse::utmp::{PidState, UtmpLayout, UtmpRecord, decode_file, filter_live};

fuzz_target!(|data: &[u8]| {
    for layout in [UtmpLayout::Time32, UtmpLayout::Time64] {
        let file = decode_file(data, layout);
        assert_eq!(
            file.records.len() * layout.record_size() + file.trailing_bytes,
            data.len()
        );
        assert!(file.trailing_bytes < layout.record_size());
        for record in &file.records {
            let bytes = record.encode(layout);
            assert_eq!(bytes.len(), layout.record_size());
            let again = UtmpRecord::decode(&bytes, layout);
            assert_eq!(&again, record, "decode → encode → decode");
            // What the providers read from a record.
            let _ = (record.time(), record.addr(), record.ut_type.name());
            let _ = (record.user.to_string_lossy(), record.host.to_string_lossy());
        }
        // Pid states drawn from the records themselves: dead, alive with an unknown start,
        // or alive since the record's own `ut_session` seconds (any i64, even absurd ones).
        let states: Vec<(u32, PidState)> = file
            .records
            .iter()
            .map(|r| {
                let state = match r.exit_status.rem_euclid(3) {
                    0 => PidState::Dead,
                    1 => PidState::Alive(None),
                    _ => PidState::Alive(Timestamp::from_second(r.session).ok()),
                };
                (r.pid as u32, state)
            })
            .collect();
        let n = file.records.len();
        let sessions = filter_live(file.records, SignedDuration::from_secs(2), |pid| {
            states
                .iter()
                .find(|(p, _)| *p == pid)
                .map_or(PidState::Dead, |(_, s)| *s)
        });
        assert_eq!(sessions.live.len() + sessions.dropped.len(), n);
        for d in &sessions.dropped {
            let _ = d.reason.to_string();
        }
    }
});
