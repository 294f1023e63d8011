//! Scan benchmarks on generated fixtures (`linmgmt_test_support::many_sessions`) and on the
//! real host. Target: 10,000 SSH sessions (30,000 processes) in < 200 ms and < 50 MB.

use std::sync::OnceLock;

use linmgmt_sources::{Root, ScanOptions, SmbStatusMode, scan};
use linmgmt_test_support::{FixtureRoot, many_sessions, now};

static SMALL: OnceLock<FixtureRoot> = OnceLock::new();
static BIG: OnceLock<FixtureRoot> = OnceLock::new();

fn main() {
    divan::main();
    // Statics are never dropped: remove the fixtures (30,000 processes' files) by hand.
    for fixture in [&SMALL, &BIG].into_iter().filter_map(OnceLock::get) {
        let _ = std::fs::remove_dir_all(fixture.root().dir());
    }
}

fn fixture(n: u32) -> &'static FixtureRoot {
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

/// The scan `serve` makes from its live process table on the 10,000-session fixture: the
/// same work as [`sessions`] except reading the 30,000 processes.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn sessions_10k_from_the_live_table(bencher: divan::Bencher) {
    use linmgmt_sources::model::{LiveProcesses, ProcessChanges};
    let fx = fixture(10_000);
    let runner = fx.runner();
    let opts = ScanOptions::default();
    let live = LiveProcesses::fed_by(fx.root(), ProcessChanges::new());
    bencher.bench(|| {
        let mut w = Vec::new();
        let processes = live.processes(&mut w);
        let known = linmgmt_sources::Known {
            processes: Some(processes),
            memos: Some(live.memos()),
        };
        linmgmt_sources::scan_with(fx.root(), &opts, &runner, now(), known)
    });
}

/// One login (an sshd monitor, its child and a shell, as the kernel reports them) applied to
/// the live table of the 10,000-session fixture, then one logout.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn one_login_applied_to_the_live_table(bencher: divan::Bencher) {
    use linmgmt_sources::model::{LiveProcesses, ProcessChanges};
    use linmgmt_sources::wake::ProcEventKind::{Exit, Fork};
    use linmgmt_test_support::Proc;
    let fx = many_sessions(10_000).build();
    let changes = ProcessChanges::new();
    let live = LiveProcesses::fed_by(fx.root(), changes.clone());
    let dir = fx.root().dir().to_path_buf();
    let lines = [
        r#"pid=900001 ppid=1 comm=sshd cmd="sshd: erin [priv]" ses=99999 auid=1001"#,
        r#"pid=900002 ppid=900001 comm=sshd cmd="sshd: erin@pts/9" uid=1001 ses=99999 auid=1001"#,
        r#"pid=900003 ppid=900002 comm=bash cmd=-bash uid=1001 ses=99999 auid=1001 tty=pts/9"#,
    ];
    let procs: Vec<Proc> = lines.iter().map(|l| Proc::parse_line(l)).collect();
    let mut w = Vec::new();
    // Each sample: the login's processes appear (and the kernel says so), then the table
    // takes them in (timed); the logout is undone before the next sample (not timed).
    bencher
        .with_inputs(|| {
            for p in procs.iter().rev() {
                if std::fs::remove_dir_all(dir.join(format!("proc/{}", p.pid))).is_ok() {
                    changes.note(Exit, p.pid, Some(p.ppid));
                }
            }
            live.apply_pending(&mut Vec::new());
            for p in &procs {
                p.write(&dir);
                changes.note(Fork, p.pid, Some(p.ppid));
            }
        })
        .bench_local_values(|()| live.apply_pending(&mut w));
}
