//! `Win32_Process`'s counters and the properties around them, from `/proc/<pid>/stat`,
//! `status`, `io`, `limits` and `fd` (docs/mapping.md, "Win32_Process properties").
//!
//! Windows' units are kept: `PageFileUsage`, `PeakPageFileUsage`, `PeakWorkingSetSize`
//! and the working-set limits in kilobytes, the rest in bytes or counts. What Linux has
//! no equivalent of (the pool quotas, "other" I/O, a minimum working set, a peak of swap
//! use) stays NULL, as does whatever the caller may not read (`io` and `fd` of other
//! users' processes without root).

use crate::put;
use linmgmt_cim::{Instance, Value};
use linmgmt_engine::Warning;
use linmgmt_sources::read::proc::Process;
use linmgmt_sources::read::proc_counters::OsInfo;

/// `CIM_Process.ExecutionState` values (its ValueMap).
pub mod execution_state {
    /// Unknown.
    pub const UNKNOWN: u16 = 0;
    /// Running (Linux `R`: running or runnable).
    pub const RUNNING: u16 = 3;
    /// Blocked (Linux `S`, `D`, `I`: sleeping, waiting for an event or I/O).
    pub const BLOCKED: u16 = 4;
    /// Terminated (Linux `Z`, `X`: ended, not yet reaped).
    pub const TERMINATED: u16 = 7;
    /// Stopped (Linux `T`, `t`: stopped by a signal or a tracer).
    pub const STOPPED: u16 = 8;
}

/// The `ExecutionState` of a Linux scheduler state letter (`/proc/<pid>/stat` field 3).
pub fn execution_state(state: char) -> u16 {
    use execution_state::*;
    match state {
        'R' => RUNNING,
        'S' | 'D' | 'I' | 'W' | 'P' => BLOCKED,
        'Z' | 'X' | 'x' => TERMINATED,
        'T' | 't' => STOPPED,
        _ => UNKNOWN,
    }
}

fn u32_saturating(n: u64) -> Value {
    Value::Uint32(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Sets the counter properties of one `Win32_Process` instance.
pub(crate) fn put_counters(i: &mut Instance, p: &Process, os: &OsInfo, w: &mut Vec<Warning>) {
    let memory = p.memory.as_deref().copied().unwrap_or_default();
    let counters = p.counters.as_ref();
    let io = counters.and_then(|c| c.io);
    put(
        i,
        "ExecutionState",
        Some(Value::Uint16(execution_state(p.stat.state))),
        w,
    );
    // The POSIX session (setsid): the terminal session, as Windows' SessionId is the
    // Terminal Services session (the logon session is Win32_SessionProcess's).
    put(
        i,
        "SessionId",
        u32::try_from(p.stat.session).ok().map(Value::Uint32),
        w,
    );
    put(
        i,
        "HandleCount",
        counters.and_then(|c| c.open_fds).map(Value::Uint32),
        w,
    );
    put(
        i,
        "PageFaults",
        Some(u32_saturating(p.stat.minflt.saturating_add(p.stat.majflt))),
        w,
    );
    put(
        i,
        "PeakVirtualSize",
        memory
            .vm_peak_kib
            .map(|k| Value::Uint64(k.saturating_mul(1024))),
        w,
    );
    put(
        i,
        "PeakWorkingSetSize",
        memory.vm_hwm_kib.map(u32_saturating),
        w,
    );
    put(
        i,
        "PageFileUsage",
        memory.vm_swap_kib.map(u32_saturating),
        w,
    );
    put(
        i,
        "PrivatePageCount",
        memory.rss_anon_kib.map(|anon| {
            let kib = anon.saturating_add(memory.vm_swap_kib.unwrap_or(0));
            Value::Uint64(kib.saturating_mul(1024))
        }),
        w,
    );
    // /proc/PID/io: every read and write, as Windows counts them (not only storage).
    for (name, value) in [
        ("ReadOperationCount", io.map(|io| io.syscr)),
        ("WriteOperationCount", io.map(|io| io.syscw)),
        ("ReadTransferCount", io.map(|io| io.rchar)),
        ("WriteTransferCount", io.map(|io| io.wchar)),
    ] {
        put(i, name, value.map(Value::Uint64), w);
    }
    // RLIMIT_RSS, in kilobytes; unlimited (the default) has no number to show.
    put(
        i,
        "MaximumWorkingSetSize",
        counters
            .and_then(|c| c.limits.as_ref())
            .and_then(|l| l.resident_set())
            .and_then(|r| r.soft.value())
            .map(|bytes| u32_saturating(bytes / 1024)),
        w,
    );
    put(i, "OSName", os.name.clone().map(Value::String), w);
    put(
        i,
        "WindowsVersion",
        os.kernel_release.clone().map(Value::String),
        w,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_states() {
        for (state, want) in [
            ('R', 3),
            ('S', 4),
            ('D', 4),
            ('I', 4),
            ('Z', 7),
            ('X', 7),
            ('T', 8),
            ('t', 8),
            ('?', 0),
        ] {
            assert_eq!(execution_state(state), want, "{state}");
        }
    }
}
