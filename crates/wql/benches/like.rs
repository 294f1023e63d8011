//! Benchmarks of the LIKE matcher on its worst cases (issue 10, finding 5): a 1.44 MB text
//! of `a`s, as a command line on the host can be, against patterns that made the old greedy
//! two-pointer matcher retry from every position (O(text × pattern)), and a few everyday
//! patterns on short texts so that the common case is watched too.
//!
//! `%` + `a`×N + `b` is the query of the issue: its last segment is anchored at the end of
//! the text. `%` + `a`×N + `b%` needs a search for a literal segment, `%` + `a`×(N-1) + `_b%`
//! a search for a segment with a wildcard (bit-parallel), and `%` + `[a]`×N + `b%` one with a
//! character set per element (also on a text of `é`, outside ASCII).

use linmgmt_wql::LikePattern;

/// 1.44 MB, the command line of the issue.
const TEXT_LEN: usize = 1_440_000;

fn main() {
    divan::main();
}

fn run(bencher: divan::Bencher, pattern: &str, text: &str, expect: bool) {
    let p = LikePattern::new(pattern).unwrap();
    assert_eq!(p.matches(text), expect);
    bencher.bench(|| p.matches(divan::black_box(text)));
}

fn long_text() -> String {
    "a".repeat(TEXT_LEN)
}

/// `%aaa…b`: the pattern of the issue.
#[divan::bench(args = [1_000, 10_000], sample_count = 10)]
fn suffix_anchored(bencher: divan::Bencher, n: usize) {
    let pattern = format!("%{}b", "a".repeat(n));
    run(bencher, &pattern, &long_text(), false);
}

/// `%aaa…b%`: a literal segment searched through the whole text.
#[divan::bench(args = [1_000, 10_000], sample_count = 10)]
fn literal_search(bencher: divan::Bencher, n: usize) {
    let pattern = format!("%{}b%", "a".repeat(n));
    run(bencher, &pattern, &long_text(), false);
}

/// `%aa…a_b%`: a segment with `_`, searched bit-parallel.
#[divan::bench(args = [1_000, 10_000], sample_count = 10)]
fn wildcard_search(bencher: divan::Bencher, n: usize) {
    let pattern = format!("%{}_b%", "a".repeat(n - 1));
    run(bencher, &pattern, &long_text(), false);
}

/// `%[a][a]…[a]b%`: a segment of character sets, searched bit-parallel.
#[divan::bench(args = [1_000, 10_000], sample_count = 10)]
fn set_search(bencher: divan::Bencher, n: usize) {
    let pattern = format!("%{}b%", "[a]".repeat(n));
    run(bencher, &pattern, &long_text(), false);
}

/// `%[é][é]…[é]b%` on 1.44 MB of `é`: characters outside ASCII take the general path (case
/// mappings and range look-ups instead of a table); N = 1 shows its cost per character.
#[divan::bench(args = [1, 1_000, 10_000], sample_count = 10)]
fn set_search_non_ascii(bencher: divan::Bencher, n: usize) {
    let pattern = format!("%{}b%", "[é]".repeat(n));
    run(bencher, &pattern, &"é".repeat(TEXT_LEN / 2), false);
}

/// Everyday patterns on a short command line.
#[divan::bench(args = ["sshd%", "%sshd%", "%[0-9]%", "%ssh_:%pts%", "sshd: %@%"])]
fn everyday(bencher: divan::Bencher, pattern: &str) {
    run(bencher, pattern, "sshd: alice@pts/3", true);
}
