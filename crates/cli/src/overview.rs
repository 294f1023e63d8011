//! `linmgmt` without a command: who is logged on, like `w`, but with every kind of session
//! (ssh without a terminal, sftp, SMB, NFS) and WMI's logon ids and types.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use linmgmt_providers::{LogonFacts, ServerFacts, logon_sessions, server_sessions};
use linmgmt_sources::read::proc::read_title;
use linmgmt_sources::{Root, Snapshot};
use std::io::{self, Write};

/// `4s`, `12m03s`, `3h05m`, `2d04h`, as `w` abbreviates.
pub fn short_duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, s / 60 % 60),
        s => format!("{}d{:02}h", s / 86_400, s / 3600 % 24),
    }
}

fn since(t: Option<Timestamp>, now: Timestamp, tz: &TimeZone) -> String {
    let Some(t) = t else { return "-".to_owned() };
    let local = t.to_zoned(tz.clone());
    if local.date() == now.to_zoned(tz.clone()).date() {
        format!("{:02}:{:02}", local.hour(), local.minute())
    } else {
        format!(
            "{}-{:02}-{:02} {:02}:{:02}",
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute()
        )
    }
}

/// What the session is running: the newest process that is not sshd itself. Its title is
/// read now when the scan did not read it (a scan reads command lines only where sessions
/// need them), else `[comm]` as `ps` shows a process without one.
fn what(snap: &Snapshot, root: &Root, facts: &LogonFacts) -> String {
    let newest = facts
        .pids
        .iter()
        .filter_map(|&pid| snap.process(pid))
        .filter(|p| !p.stat.comm.starts_with("sshd"))
        .max_by_key(|p| (p.stat.starttime, p.pid()));
    match newest {
        None => "-".to_owned(),
        Some(p) if p.details => p.title(),
        Some(p) => read_title(root, p.pid()).unwrap_or_else(|| p.title()),
    }
}

/// Idle time as `w` gives it (the terminal's last use); for an ssh session without a
/// terminal, the time since its connection last received data.
fn idle(snap: &Snapshot, facts: &LogonFacts) -> String {
    let tty = facts
        .tty
        .as_deref()
        .and_then(|t| snap.tty_idle(t))
        .map(|d| d.as_secs().max(0) as u64);
    let tcp = || {
        let id: u32 = facts.logon_id.parse().ok()?;
        snap.ssh
            .iter()
            .find(|c| c.sessionid == Some(id))?
            .last_receive
            .map(|d| d.as_secs())
    };
    tty.or_else(tcp)
        .map_or_else(|| "-".to_owned(), short_duration)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

/// Writes the overview table: logon sessions (without the System session), then server
/// sessions that have no logon session here (SMB, NFS).
pub fn write(
    snap: &Snapshot,
    root: &Root,
    tz: &TimeZone,
    color: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let now = snap.taken_at;
    let logons: Vec<LogonFacts> = logon_sessions(snap)
        .into_iter()
        .filter(|f| f.logon_id != "0")
        .collect();
    let servers: Vec<ServerFacts> = server_sessions(snap)
        .into_iter()
        .filter(|s| s.protocols.iter().any(|p| *p != "ssh"))
        .collect();
    let mut rows: Vec<[String; 8]> = Vec::new();
    for f in &logons {
        rows.push([
            f.user.clone().unwrap_or_else(|| "?".to_owned()),
            f.logon_id.clone(),
            f.logon_type
                .and_then(linmgmt_seclog::logon_type_name)
                .unwrap_or("Unknown")
                .to_owned(),
            match (&f.remote_host, &f.tty) {
                (Some(h), Some(t)) => format!("{h} ({t})"),
                (Some(h), None) => h.clone(),
                (None, Some(t)) => t.clone(),
                (None, None) => "-".to_owned(),
            },
            since(f.start, now, tz),
            idle(snap, f),
            // The session's Win32_SessionProcess associations, counted.
            f.pids.len().to_string(),
            truncate(&what(snap, root, f), 48),
        ]);
    }
    for s in &servers {
        let protocols: Vec<&str> = s.protocols.iter().copied().collect();
        let client: Vec<&str> = s.client_types.iter().map(String::as_str).collect();
        let start = s.active_time.and_then(|a| {
            now.checked_sub(jiff::SignedDuration::from_secs(a as i64))
                .ok()
        });
        rows.push([
            if s.user_name.is_empty() {
                "?".to_owned()
            } else {
                s.user_name.clone()
            },
            "-".to_owned(),
            format!("{} {}", protocols.join("+"), client.join(",")),
            s.computer_name.clone(),
            since(start, now, tz),
            s.idle_time.map_or_else(|| "-".to_owned(), short_duration),
            "-".to_owned(),
            s.resources_opened
                .map_or_else(|| "-".to_owned(), |n| format!("{n} open")),
        ]);
    }
    let header = [
        "USER", "LOGON ID", "TYPE", "FROM", "SINCE", "IDLE", "PROCS", "WHAT",
    ];
    let server_count = servers.len();
    writeln!(
        out,
        "{} logon session{}, {} other server session{} on {}",
        logons.len(),
        if logons.len() == 1 { "" } else { "s" },
        server_count,
        if server_count == 1 { "" } else { "s" },
        snap.hostname.as_deref().unwrap_or("this host"),
    )?;
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_owned()
    };
    let head = line(&header.map(str::to_owned));
    if color {
        writeln!(out, "\x1b[1m{head}\x1b[0m")?;
    } else {
        writeln!(out, "{head}")?;
    }
    for row in &rows {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(short_duration(4), "4s");
        assert_eq!(short_duration(723), "12m03s");
        assert_eq!(short_duration(3 * 3600 + 5 * 60), "3h05m");
        assert_eq!(short_duration(2 * 86_400 + 4 * 3600), "2d04h");
    }
}
