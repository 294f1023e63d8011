//! The audit log (`/var/log/audit/audit.log`, written by auditd): the `USER_START` and
//! `USER_LOGIN` records of logins, which carry the audit session id (`ses=`) and so outlive
//! every process of the session:
//!
//! ```text
//! type=USER_START msg=audit(1785578400.123:456): pid=1234 uid=0 auid=1001 ses=12 subj=unconfined msg='op=PAM:session_open grantors=pam_loginuid,pam_unix acct="alice" exe="/usr/sbin/sshd" hostname=10.0.0.5 addr=10.0.0.5 terminal=ssh res=success'
//! type=USER_LOGIN msg=audit(1785578400.456:460): pid=1234 uid=0 auid=1001 ses=12 subj=unconfined msg='op=login id=1001 exe="/usr/sbin/sshd" hostname=? addr=10.0.0.5 terminal=/dev/pts/1 res=success'
//! ```
//!
//! `USER_START` is written by PAM when the session opens (after pam_loginuid gave it its
//! id); sshd adds a `USER_LOGIN` for a login with a pty, naming the pty. The enriched log
//! format appends `\x1d`-separated translations (`UID="root"`), which are ignored.

use std::net::IpAddr;

use jiff::Timestamp;

use crate::AUDIT_UNSET;

/// Which record a login came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditLoginKind {
    /// `USER_START`: PAM opened the session.
    SessionOpen,
    /// `USER_LOGIN`: a login on a terminal (sshd writes it for a pty).
    Login,
}

/// One successful `USER_START` or `USER_LOGIN` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLogin {
    /// The audit session id.
    pub ses: u32,
    /// The record type.
    pub kind: AuditLoginKind,
    /// The record's time (`msg=audit(SECONDS.MILLIS:SERIAL)`).
    pub time: Timestamp,
    /// The login uid.
    pub auid: Option<u32>,
    /// The account (`acct=`), for `USER_START`.
    pub acct: Option<String>,
    /// The program that logged the record (`/usr/sbin/sshd`, `/usr/sbin/cron`).
    pub exe: Option<String>,
    /// The remote address; `None` for `?` (a local login).
    pub addr: Option<IpAddr>,
    /// The remote host name when known (`?` is `None`).
    pub hostname: Option<String>,
    /// `ssh`, `cron`, `/dev/pts/1`, `tty1`; `None` for `?`.
    pub terminal: Option<String>,
}

/// The successful logins of an audit log; other lines (and failed logins) are skipped.
pub fn parse_audit_log(text: &str) -> Vec<AuditLogin> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<AuditLogin> {
    let kind = if line.starts_with("type=USER_START ") {
        AuditLoginKind::SessionOpen
    } else if line.starts_with("type=USER_LOGIN ") {
        AuditLoginKind::Login
    } else {
        return None;
    };
    // The enriched format's translations follow a group separator.
    let line = line.split('\x1d').next().unwrap_or(line);
    let stamp = &line[line.find("msg=audit(")? + "msg=audit(".len()..];
    let stamp = &stamp[..stamp.find(':')?];
    let time = parse_stamp(stamp)?;
    let mut login = AuditLogin {
        ses: 0,
        kind,
        time,
        auid: None,
        acct: None,
        exe: None,
        addr: None,
        hostname: None,
        terminal: None,
    };
    let mut ses = None;
    let mut success = false;
    for (key, value, quoted) in fields(line) {
        let text = || (value != "?" && !value.is_empty()).then(|| value.to_owned());
        match key {
            "ses" => {
                ses = value
                    .parse::<u32>()
                    .ok()
                    .filter(|&s| s != AUDIT_UNSET && s != 0)
            }
            "auid" => login.auid = value.parse::<u32>().ok().filter(|&a| a != AUDIT_UNSET),
            "acct" => login.acct = text().map(|v| unhex(&v, quoted)),
            "exe" => login.exe = text().map(|v| unhex(&v, quoted)),
            "hostname" => login.hostname = text(),
            "addr" => login.addr = value.parse().ok(),
            "terminal" => login.terminal = text(),
            "res" => success = value == "success",
            _ => {}
        }
    }
    login.ses = ses?;
    success.then_some(login)
}

/// `1785578400.123` → a timestamp.
fn parse_stamp(s: &str) -> Option<Timestamp> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let secs: i64 = secs.parse().ok()?;
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i32 = format!("{frac:0<9}").parse().ok()?;
    Timestamp::new(secs, nanos).ok()
}

/// `key=value` and `key="quoted value"` pairs, the nested `msg='…'` included.
fn fields(line: &str) -> impl Iterator<Item = (&str, &str, bool)> {
    let mut rest = line;
    std::iter::from_fn(move || {
        loop {
            rest = rest.trim_start_matches([' ', '\'']);
            if rest.is_empty() {
                return None;
            }
            let end = rest.find([' ', '=']).unwrap_or(rest.len());
            let key = &rest[..end];
            if !rest[end..].starts_with('=') {
                rest = &rest[end..];
                continue;
            }
            let after = &rest[end + 1..];
            let (value, quoted, next) = if let Some(q) = after.strip_prefix('"') {
                let close = q.find('"').unwrap_or(q.len());
                (&q[..close], true, &q[(close + 1).min(q.len())..])
            } else if let Some(inner) = after.strip_prefix('\'') {
                // `msg='op=…`: the pairs inside are read as pairs of their own.
                rest = inner;
                continue;
            } else {
                let close = after.find([' ', '\'']).unwrap_or(after.len());
                (&after[..close], false, &after[close..])
            };
            rest = next;
            return Some((key, value, quoted));
        }
    })
}

/// auditd writes a string that holds spaces or quotes as unquoted hex.
fn unhex(v: &str, quoted: bool) -> String {
    if quoted || !v.len().is_multiple_of(2) || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return v.to_owned();
    }
    let bytes: Option<Vec<u8>> = (0..v.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v[i..i + 2], 16).ok())
        .collect();
    bytes.map_or_else(
        || v.to_owned(),
        |b| String::from_utf8_lossy(&b).into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
type=CRED_ACQ msg=audit(1785578400.100:455): pid=1234 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='op=PAM:setcred grantors=pam_permit acct=\"alice\" exe=\"/usr/sbin/sshd\" hostname=10.0.0.5 addr=10.0.0.5 terminal=ssh res=success'
type=USER_START msg=audit(1785578400.123:456): pid=1234 uid=0 auid=1001 ses=12 subj=unconfined msg='op=PAM:session_open grantors=pam_loginuid,pam_unix acct=\"alice\" exe=\"/usr/sbin/sshd\" hostname=10.0.0.5 addr=10.0.0.5 terminal=ssh res=success'\x1dUID=\"root\" AUID=\"alice\"
type=USER_LOGIN msg=audit(1785578400.456:460): pid=1234 uid=0 auid=1001 ses=12 subj=unconfined msg='op=login id=1001 exe=\"/usr/sbin/sshd\" hostname=? addr=10.0.0.5 terminal=/dev/pts/1 res=success'
type=USER_START msg=audit(1785578460.000:470): pid=2000 uid=0 auid=0 ses=13 msg='op=PAM:session_open grantors=pam_loginuid acct=\"root\" exe=\"/usr/sbin/cron\" hostname=? addr=? terminal=cron res=success'
type=USER_START msg=audit(1785578470.5:471): pid=2001 uid=0 auid=1002 ses=14 msg='op=PAM:session_open acct=626F62206A72 exe=\"/usr/sbin/sshd\" hostname=::1 addr=::1 terminal=ssh res=failed'
type=USER_LOGIN msg=audit(1785578480.000:472): pid=2002 uid=0 auid=1003 ses=15 msg='op=login acct=636172206F6C exe=2F7573722F7362696E2F6C6F67696E hostname=? addr=? terminal=tty1 res=success'
garbage
type=USER_START msg=audit(nonsense): ses=16 res=success
";

    #[test]
    fn logins() {
        let got = parse_audit_log(LOG);
        assert_eq!(got.len(), 4, "{got:#?}");
        let open = &got[0];
        assert_eq!((open.ses, open.kind), (12, AuditLoginKind::SessionOpen));
        assert_eq!(
            open.time,
            Timestamp::new(1_785_578_400, 123_000_000).unwrap()
        );
        assert_eq!(open.acct.as_deref(), Some("alice"));
        assert_eq!(open.exe.as_deref(), Some("/usr/sbin/sshd"));
        assert_eq!(open.addr, Some("10.0.0.5".parse().unwrap()));
        assert_eq!(open.terminal.as_deref(), Some("ssh"));
        assert_eq!(open.auid, Some(1001));
        let login = &got[1];
        assert_eq!((login.ses, login.kind), (12, AuditLoginKind::Login));
        assert_eq!(login.terminal.as_deref(), Some("/dev/pts/1"));
        assert_eq!(login.hostname, None);
        let cron = &got[2];
        assert_eq!(
            (cron.ses, cron.addr, cron.terminal.as_deref()),
            (13, None, Some("cron"))
        );
        let hex = &got[3];
        assert_eq!(hex.acct.as_deref(), Some("car ol"));
        assert_eq!(hex.exe.as_deref(), Some("/usr/sbin/login"));
    }

    #[test]
    fn never_panics_on_cut_lines() {
        for line in LOG.lines() {
            for i in 0..line.len() {
                if line.is_char_boundary(i) {
                    let _ = parse_audit_log(&line[..i]);
                }
            }
        }
    }
}
