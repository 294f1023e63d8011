//! sshd's words about clients: `Accepted … for USER from ADDR port N` log lines (the user
//! name and, through DNS or a proxy, parts of the line come from the client) and the process
//! titles sshd sets (`sshd: USER [priv]`, `sshd: USER@pts/0`), read from
//! `/proc/<pid>/cmdline`. Feeds the input (lossy UTF-8) to `parse_auth_log`, each line and
//! the whole text to `classify_title`, and the raw bytes through `parse_cmdline` joined with
//! spaces, as the scan builds a title.
//!
//! Asserts: nothing panics; every accepted login names a method and a one-word user; a
//! title's user child has a non-empty user without spaces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linmgmt_parse::proc::parse_cmdline;
use linmgmt_parse::sshd::{SshdRole, classify_title, parse_auth_log};

fn check_title(title: &str) {
    if let Some(SshdRole::UserChild { user, .. }) = classify_title(title) {
        assert!(!user.is_empty() && !user.contains(' '), "{title:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for auth in parse_auth_log(&text) {
        assert!(!auth.method.is_empty());
        assert!(!auth.user.is_empty() && !auth.user.contains(char::is_whitespace));
    }
    for line in text.lines() {
        check_title(line);
    }
    check_title(&text);
    check_title(&parse_cmdline(data).join(" "));
});
