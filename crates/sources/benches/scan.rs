//! Scan benchmarks on generated fixtures (`linmgmt_test_support::many_sessions`) and on the
//! real host. Target: 10,000 SSH sessions (30,000 processes) in < 200 ms and < 50 MB.

use std::sync::OnceLock;

use linmgmt_sources::{Root, ScanOptions, SmbStatusMode, scan};
use linmgmt_test_support::{FixtureRoot, many_sessions, now};

fn main() {
    divan::main();
}

fn fixture(n: u32) -> &'static FixtureRoot {
    static SMALL: OnceLock<FixtureRoot> = OnceLock::new();
    static BIG: OnceLock<FixtureRoot> = OnceLock::new();
    let cell = if n == 10_000 { &BIG } else { &SMALL };
    cell.get_or_init(|| many_sessions(n).build())
}

/// A scan of `n` generated SSH sessions.
#[divan::bench(args = [100, 10_000], sample_count = 10, sample_size = 1)]
fn sessions(bencher: divan::Bencher, n: u32) {
    let fx = fixture(n);
    let runner = fx.runner();
    let opts = ScanOptions::default();
    bencher.bench(|| scan(fx.root(), &opts, &runner, now()));
}

/// The same with every process's fds read (open-file counts).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn sessions_10k_open_files(bencher: divan::Bencher) {
    let fx = fixture(10_000);
    let runner = fx.runner();
    let opts = ScanOptions {
        open_files: true,
        ..ScanOptions::default()
    };
    bencher.bench(|| scan(fx.root(), &opts, &runner, now()));
}

/// The real host (`/`), without smbstatus.
#[divan::bench(sample_count = 50, sample_size = 1)]
fn host(bencher: divan::Bencher) {
    let root = Root::host();
    let runner = linmgmt_sources::command::FixtureRunner::new(root.clone());
    let opts = ScanOptions {
        smbstatus: SmbStatusMode::Never,
        ..ScanOptions::default()
    };
    bencher.bench(|| scan(&root, &opts, &runner, jiff::Timestamp::now()));
}
