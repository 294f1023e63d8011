//! Accounts: `/etc/passwd`, `/etc/shadow` (lock state only) and `/etc/group`.
//!
//! These are the local files only; NSS sources (LDAP, sssd) need the providers' NSS fallback.

/// One `/etc/passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// The whole GECOS field.
    pub gecos: String,
    /// The full name: GECOS up to the first comma.
    pub full_name: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// Parses `/etc/passwd`; malformed lines are counted in the second value.
pub fn parse_passwd(text: &str) -> (Vec<PasswdEntry>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines() {
        if line.trim().is_empty()
            || line.starts_with('#')
            || line.starts_with('+')
            || line.starts_with('-')
        {
            // `+`/`-` are NIS compat lines, not accounts.
            continue;
        }
        let f: Vec<&str> = line.split(':').collect();
        let ids = (
            f.get(2).and_then(|s| s.parse().ok()),
            f.get(3).and_then(|s| s.parse().ok()),
        );
        match (f.len(), ids) {
            (7, (Some(uid), Some(gid))) => out.push(PasswdEntry {
                name: f[0].to_string(),
                uid,
                gid,
                gecos: f[4].to_string(),
                full_name: f[4].split(',').next().unwrap_or("").to_string(),
                home: f[5].to_string(),
                shell: f[6].to_string(),
            }),
            _ => bad += 1,
        }
    }
    (out, bad)
}

/// The lock state of each `/etc/shadow` entry: `(name, locked)`.
///
/// An account is disabled when its password field starts with `!` (locked by `passwd -l`) or
/// `*` (no password login). An empty field means no password is needed, so not locked.
pub fn parse_shadow_locks(text: &str) -> Vec<(String, bool)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?.trim();
            let pw = f.next()?;
            (!name.is_empty() && !name.starts_with('#'))
                .then(|| (name.to_string(), pw.starts_with('!') || pw.starts_with('*')))
        })
        .collect()
}

/// One `/etc/group` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Group id.
    pub gid: u32,
    /// Supplementary members.
    pub members: Vec<String>,
    /// Found through NSS (`getgrgid_r`), not in `/etc/group`: a directory group (LDAP, SSSD).
    pub from_nss: bool,
}

/// Parses `/etc/group`; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() != 4 || l.starts_with('#') {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
                from_nss: false,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd() {
        let (users, bad) = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1001:1001:Alice Liddell,Room 1,,:/home/alice:/bin/bash\nbroken:x:zz:1::/:/bin/sh\n+@nis\n\n",
        );
        assert_eq!(bad, 1);
        assert_eq!(users.len(), 2);
        assert_eq!(users[1].full_name, "Alice Liddell");
        assert_eq!(users[1].uid, 1001);
    }

    #[test]
    fn shadow() {
        let locks = parse_shadow_locks(
            "root:*:19000:0:99999:7:::\nalice:$y$j9T$abc:19000::::::\nbob:!$6$x:1::::::\ncarol::1::::::\n",
        );
        assert_eq!(
            locks,
            vec![
                ("root".into(), true),
                ("alice".into(), false),
                ("bob".into(), true),
                ("carol".into(), false)
            ]
        );
    }

    #[test]
    fn group() {
        let g = parse_group("sudo:x:27:alice,bob\nnogroup:x:65534:\nbad\n");
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].members, vec!["alice", "bob"]);
        assert!(g[1].members.is_empty());
    }
}
