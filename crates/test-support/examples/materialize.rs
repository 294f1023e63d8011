//! Writes a generated host with N SSH sessions to a directory and prints its path, for
//! benchmarking the `linmgmt` binary with `--root`:
//!
//! ```text
//! cargo run --release -p linmgmt-test-support --example materialize -- 10000
//! ```

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = linmgmt_test_support::many_sessions(n).build().keep();
    println!("{}", dir.display());
}
