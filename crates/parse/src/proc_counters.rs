//! The per-process counters `Win32_Process` shows beyond what sessions need:
//! `/proc/<pid>/io` (I/O counts), the memory lines of `/proc/<pid>/status`, and
//! `/proc/<pid>/limits` (resource limits). See proc(5).

use super::ParseError;

/// `/proc/<pid>/io`: the task's I/O accounting (summed over its threads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcIo {
    /// `rchar`: bytes handed to `read(2)` and friends (files, pipes, sockets, terminals),
    /// whether or not storage was touched.
    pub rchar: u64,
    /// `wchar`: bytes handed to `write(2)` and friends.
    pub wchar: u64,
    /// `syscr`: read system calls (`read`, `pread`, `readv`, `sendfile` …).
    pub syscr: u64,
    /// `syscw`: write system calls.
    pub syscw: u64,
    /// `read_bytes`: bytes the task caused to be fetched from storage.
    pub read_bytes: Option<u64>,
    /// `write_bytes`: bytes the task caused to be sent to storage.
    pub write_bytes: Option<u64>,
    /// `cancelled_write_bytes`: written bytes that never reached storage (truncation).
    pub cancelled_write_bytes: Option<u64>,
}

/// Parses `/proc/<pid>/io`. The four character and system-call counters are required
/// (every kernel with `CONFIG_TASK_IO_ACCOUNTING` prints them); the storage counters are
/// optional. Unknown lines are ignored.
pub fn parse_io(bytes: &[u8]) -> Result<ProcIo, ParseError> {
    const WHAT: &str = "/proc/<pid>/io";
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new(WHAT, "non-UTF-8"))?;
    let (mut rchar, mut wchar, mut syscr, mut syscw) = (None, None, None, None);
    let mut io = ProcIo::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let n = || {
            value
                .parse::<u64>()
                .map_err(|_| ParseError::new(WHAT, format!("bad {key}: {:?}", value)))
        };
        match key.trim() {
            "rchar" => rchar = Some(n()?),
            "wchar" => wchar = Some(n()?),
            "syscr" => syscr = Some(n()?),
            "syscw" => syscw = Some(n()?),
            "read_bytes" => io.read_bytes = Some(n()?),
            "write_bytes" => io.write_bytes = Some(n()?),
            "cancelled_write_bytes" => io.cancelled_write_bytes = Some(n()?),
            _ => {}
        }
    }
    let missing = |name: &str| ParseError::new(WHAT, format!("no {name} line"));
    io.rchar = rchar.ok_or_else(|| missing("rchar"))?;
    io.wchar = wchar.ok_or_else(|| missing("wchar"))?;
    io.syscr = syscr.ok_or_else(|| missing("syscr"))?;
    io.syscw = syscw.ok_or_else(|| missing("syscw"))?;
    Ok(io)
}

/// The memory lines of `/proc/<pid>/status`, in KiB as the kernel prints them (`kB`).
/// Kernel threads have none of them; each is `None` when its line is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryStatus {
    /// `VmPeak`: the largest virtual size so far.
    pub vm_peak_kib: Option<u64>,
    /// `VmSize`: the virtual size.
    pub vm_size_kib: Option<u64>,
    /// `VmHWM`: the largest resident set so far ("high water mark").
    pub vm_hwm_kib: Option<u64>,
    /// `VmRSS`: the resident set.
    pub vm_rss_kib: Option<u64>,
    /// `RssAnon`: resident anonymous memory (private to the process or shared only with
    /// its forks; not file-backed).
    pub rss_anon_kib: Option<u64>,
    /// `VmSwap`: anonymous memory swapped out.
    pub vm_swap_kib: Option<u64>,
}

/// Parses the memory lines of `/proc/<pid>/status`; other lines are ignored.
pub fn parse_status_memory(bytes: &[u8]) -> MemoryStatus {
    let mut m = MemoryStatus::default();
    for line in bytes.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let slot = match &line[..colon] {
            b"VmPeak" => &mut m.vm_peak_kib,
            b"VmSize" => &mut m.vm_size_kib,
            b"VmHWM" => &mut m.vm_hwm_kib,
            b"VmRSS" => &mut m.vm_rss_kib,
            b"RssAnon" => &mut m.rss_anon_kib,
            b"VmSwap" => &mut m.vm_swap_kib,
            _ => continue,
        };
        *slot = kib(&line[colon + 1..]);
    }
    m
}

/// `   1234 kB` → 1234.
fn kib(value: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(value).ok()?;
    let mut words = s.split_ascii_whitespace();
    let n = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(n),
        Some(_) => None,
    }
}

/// One limit's value: a number, or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitValue {
    /// `unlimited` (`RLIM_INFINITY`).
    Unlimited,
    /// A number in the row's units.
    Value(u64),
}

impl LimitValue {
    /// The number, `None` when unlimited.
    pub fn value(self) -> Option<u64> {
        match self {
            LimitValue::Unlimited => None,
            LimitValue::Value(n) => Some(n),
        }
    }
}

/// One row of `/proc/<pid>/limits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitRow {
    /// The limit's name as the kernel prints it (`Max resident set`).
    pub name: String,
    /// The soft limit (what the kernel enforces).
    pub soft: LimitValue,
    /// The hard limit (the ceiling for the soft one).
    pub hard: LimitValue,
    /// The units (`bytes`, `seconds` …); `None` for unit-less rows (`Max nice priority`).
    pub units: Option<String>,
}

/// `/proc/<pid>/limits`: the process's resource limits (getrlimit(2)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limits {
    /// Every row, in the kernel's order.
    pub rows: Vec<LimitRow>,
}

impl Limits {
    /// The row named `name` (`Max resident set`).
    pub fn get(&self, name: &str) -> Option<&LimitRow> {
        self.rows.iter().find(|r| r.name == name)
    }

    /// `RLIMIT_RSS` (`Max resident set`), in bytes.
    pub fn resident_set(&self) -> Option<&LimitRow> {
        self.get("Max resident set")
    }
}

/// Parses `/proc/<pid>/limits`: a header line, then one row per limit:
/// `NAME SOFT HARD [UNITS]`, where the name has spaces and the values do not.
pub fn parse_limits(bytes: &[u8]) -> Result<Limits, ParseError> {
    const WHAT: &str = "/proc/<pid>/limits";
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new(WHAT, "non-UTF-8"))?;
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.starts_with("Limit") => {}
        Some(h) => return Err(ParseError::new(WHAT, format!("bad header {h:?}"))),
        None => return Err(ParseError::new(WHAT, "empty")),
    }
    let value = |w: &str| match w {
        "unlimited" => Some(LimitValue::Unlimited),
        _ => w.parse().ok().map(LimitValue::Value),
    };
    let mut rows = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let mut words: Vec<&str> = line.split_ascii_whitespace().collect();
        let units = match words.last() {
            Some(w) if value(w).is_none() => words.pop().map(str::to_owned),
            _ => None,
        };
        let bad = || ParseError::new(WHAT, format!("bad row {line:?}"));
        if words.len() < 3 {
            return Err(bad());
        }
        let hard = value(words.pop().ok_or_else(bad)?).ok_or_else(bad)?;
        let soft = value(words.pop().ok_or_else(bad)?).ok_or_else(bad)?;
        rows.push(LimitRow {
            name: words.join(" "),
            soft,
            hard,
            units,
        });
    }
    Ok(Limits { rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IO: &[u8] = b"rchar: 323934931\nwchar: 323929600\nsyscr: 632687\nsyscw: 632675\nread_bytes: 4096\nwrite_bytes: 323932160\ncancelled_write_bytes: 12288\n";

    #[test]
    fn io_counters() {
        let io = parse_io(IO).unwrap();
        assert_eq!(
            (io.rchar, io.wchar, io.syscr, io.syscw),
            (323934931, 323929600, 632687, 632675)
        );
        assert_eq!(io.read_bytes, Some(4096));
        assert_eq!(io.write_bytes, Some(323932160));
        assert_eq!(io.cancelled_write_bytes, Some(12288));
    }

    #[test]
    fn io_storage_counters_are_optional() {
        let io = parse_io(b"rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\n").unwrap();
        assert_eq!((io.read_bytes, io.write_bytes), (None, None));
    }

    #[test]
    fn io_errors_do_not_panic() {
        for bad in [
            &b""[..],
            b"rchar: 1\n",
            b"rchar: x\nwchar: 2\nsyscr: 3\nsyscw: 4\n",
            b"rchar: -1\nwchar: 2\nsyscr: 3\nsyscw: 4\n",
            b"\xff\xfe",
        ] {
            assert!(parse_io(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn status_memory_lines() {
        let m = parse_status_memory(
            b"Name:\tbash\nUid:\t0\t0\t0\t0\nVmPeak:\t   10884 kB\nVmSize:\t   10820 kB\nVmLck:\t       0 kB\nVmHWM:\t    5248 kB\nVmRSS:\t    5120 kB\nRssAnon:\t    1792 kB\nRssFile:\t    3328 kB\nVmSwap:\t      16 kB\nThreads:\t1\n",
        );
        assert_eq!(
            m,
            MemoryStatus {
                vm_peak_kib: Some(10884),
                vm_size_kib: Some(10820),
                vm_hwm_kib: Some(5248),
                vm_rss_kib: Some(5120),
                rss_anon_kib: Some(1792),
                vm_swap_kib: Some(16),
            }
        );
    }

    #[test]
    fn kernel_threads_have_no_memory_lines() {
        let m = parse_status_memory(
            b"Name:\tkthreadd\nUmask:\t0000\nState:\tS (sleeping)\nThreads:\t1\n",
        );
        assert_eq!(m, MemoryStatus::default());
        assert_eq!(
            parse_status_memory(b"VmSwap:\t garbage kB\nVmRSS: 12 MB\n"),
            MemoryStatus::default()
        );
    }

    const LIMITS: &[u8] =
        b"Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max stack size            8388608              unlimited            bytes     \n\
Max resident set          unlimited            unlimited            bytes     \n\
Max open files            1024                 524288               files     \n\
Max nice priority         0                    0                    \n\
Max realtime timeout      unlimited            unlimited            us        \n";

    #[test]
    fn limits_rows() {
        let l = parse_limits(LIMITS).unwrap();
        assert_eq!(l.rows.len(), 6);
        let rss = l.resident_set().unwrap();
        assert_eq!(
            (rss.soft, rss.hard, rss.units.as_deref()),
            (LimitValue::Unlimited, LimitValue::Unlimited, Some("bytes"))
        );
        let files = l.get("Max open files").unwrap();
        assert_eq!(
            (files.soft.value(), files.hard.value()),
            (Some(1024), Some(524288))
        );
        let nice = l.get("Max nice priority").unwrap();
        assert_eq!(
            (nice.soft, nice.units.as_deref()),
            (LimitValue::Value(0), None)
        );
        assert_eq!(
            l.get("Max stack size").unwrap().soft,
            LimitValue::Value(8388608)
        );
    }

    #[test]
    fn limits_errors_do_not_panic() {
        for bad in [
            &b""[..],
            b"garbage\n",
            b"Limit Soft Hard Units\nMax cpu time unlimited\n",
            b"Limit Soft Hard Units\nMax cpu time x y seconds\n",
            b"Limit Soft Hard Units\n\xff\n",
        ] {
            assert!(
                parse_limits(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
