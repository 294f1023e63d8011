//! Reading the per-process counters that `Win32_Process` shows and sessions do not need:
//! `/proc/<pid>/io`, `/proc/<pid>/limits` and the number of open fds. Read on demand, for
//! every process, by whoever asks for processes (the host provider); never by [`crate::scan`].
//!
//! Nothing here warns. `io` and `fd` are readable only by the process's owner (and root):
//! for other users' processes they are `None`, as Windows leaves a process's counters
//! empty without the rights to open it. A process that exits between the listing and the
//! read is churn, not a problem. The files are the kernel's own output, so a parse failure
//! can only mean a kernel that prints something else: the value stays `None`.

use crate::Root;
use crate::parse::proc_counters::{Limits, ProcIo, parse_io, parse_limits};
use crate::read::proc::Process;

/// What [`read_counters`] found about one process; each part `None` when unreadable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessCounters {
    /// `/proc/<pid>/io` (owner or root only; absent without `CONFIG_TASK_IO_ACCOUNTING`).
    pub io: Option<ProcIo>,
    /// `/proc/<pid>/limits` (readable by everyone).
    pub limits: Option<Limits>,
    /// Entries of `/proc/<pid>/fd` (owner or root only).
    pub open_fds: Option<u32>,
}

/// Reads `io`, `limits` and the fd count of `p` into `p.counters`. `buf` is a scratch
/// buffer reused across calls.
pub fn read_counters(root: &Root, p: &mut Process, buf: &mut Vec<u8>) {
    let pid = p.pid();
    let io = root
        .read_into(format!("proc/{pid}/io"), buf)
        .ok()
        .and_then(|()| parse_io(buf).ok());
    let limits = root
        .read_into(format!("proc/{pid}/limits"), buf)
        .ok()
        .and_then(|()| parse_limits(buf).ok());
    // Counted from the kernel's own list when it was read already (sshd, smbd, sessions).
    let open_fds = match &p.fds {
        Some(f) => Some(f.files + f.devices + f.pipes + f.anon + f.other + f.sockets.len() as u32),
        None => root
            .read_dir_names(format!("proc/{pid}/fd"))
            .ok()
            .map(|names| names.iter().filter(|n| n.parse::<u32>().is_ok()).count() as u32),
    };
    p.counters = Some(Box::new(ProcessCounters {
        io,
        limits,
        open_fds,
    }));
}

/// What the host says about its operating system, for `Win32_Process.OSName` and
/// `WindowsVersion`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsInfo {
    /// `PRETTY_NAME` of `/etc/os-release` (else `/usr/lib/os-release`), else `NAME`.
    pub name: Option<String>,
    /// The kernel release, `/proc/sys/kernel/osrelease` (`6.1.0-18-amd64`).
    pub kernel_release: Option<String>,
}

/// Reads [`OsInfo`]; missing files leave their part `None`, without a warning.
pub fn read_os_info(root: &Root) -> OsInfo {
    let name = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|rel| root.read_string(rel).ok())
        .and_then(|text| {
            let fields = crate::parse::os_release::parse_os_release(&text);
            let get = |k: &str| {
                fields
                    .iter()
                    .find(|(key, v)| key == k && !v.is_empty())
                    .map(|(_, v)| v.clone())
            };
            get("PRETTY_NAME").or_else(|| get("NAME"))
        });
    let kernel_release = root
        .read("proc/sys/kernel/osrelease")
        .ok()
        .and_then(|b| crate::parse::proc::parse_line(&b));
    OsInfo {
        name,
        kernel_release,
    }
}
