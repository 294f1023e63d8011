//! The kernel NFS server's client files (`/proc/fs/nfsd/clients/<N>/info` and `states`:
//! the client's owner name, implementation strings and file names come from the client)
//! and `/proc/fs/nfs/exports`: feeds the input (lossy UTF-8) to `parse_client_info`,
//! `count_states`, `state_files` and `parse_exports`, and matches each state's file to an
//! export with `export_of`.
//!
//! Asserts: nothing panics; the per-type state counts never exceed the total; every export
//! path is absolute and listed once; a matched export is one of the parsed exports.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_parse::nfs::{
    count_states, export_of, parse_client_info, parse_exports, state_files,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_client_info(&text);
    let n = count_states(&text);
    assert!(n.open + n.lock + n.deleg + n.layout <= n.total);
    let files = state_files(&text);
    let exports = parse_exports(&text);
    for (i, e) in exports.iter().enumerate() {
        assert!(e.path.starts_with('/'));
        assert!(exports[..i].iter().all(|o| o.path != e.path));
    }
    for f in &files {
        assert!(!f.filename.is_empty());
        if let Some(e) = export_of(&exports, f) {
            assert!(exports.iter().any(|o| std::ptr::eq(o, e)));
        }
    }
});
