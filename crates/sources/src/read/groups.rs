//! Groups beyond `/etc/group`: NSS (`/etc/nsswitch.conf`: LDAP, SSSD, systemd-userdb) on
//! the real host only, for the users whose membership matters.
//!
//! NSS cannot be enumerated safely or cheaply (a directory may hold 100,000 groups), so it
//! is asked per user, the way `login` itself sets a process's groups: `getgrouplist` (what
//! `initgroups` uses) for each session user, then `getgrgid_r` for every group id that
//! `/etc/group` does not have (those groups and the primary groups of all accounts).

use std::collections::BTreeSet;
use std::ffi::CString;

use nix::unistd::{Gid, Group, getgrouplist};

use crate::parse::accounts::GroupEntry;
use crate::read::Account;
use crate::{Root, Snapshot};

/// The snapshot's groups (`/etc/group`), with what NSS knows of the session users' groups
/// on the real host (`nss`; see [`add_nss_groups`]). Asked only by the classes that show
/// groups: `getgrouplist` through NSS (sssd, LDAP, systemd-userdb) costs more than a whole
/// session scan of a small host.
pub fn with_nss(snap: &Snapshot, root: &Root, nss: bool) -> Vec<GroupEntry> {
    let mut groups = snap.groups.clone();
    if nss && root.is_host() {
        add_nss_groups(&mut groups, &snap.accounts, &snap.session_uids());
    }
    groups
}

/// Adds what NSS knows about the groups of the accounts whose uid is in `users` (the
/// session users) to `groups`: their memberships in groups `/etc/group` lists without
/// them, and the directory groups `/etc/group` does not list at all. Also looks up the
/// primary group of every account when `/etc/group` lacks it. Only for the real host.
pub fn add_nss_groups(groups: &mut Vec<GroupEntry>, accounts: &[Account], users: &BTreeSet<u32>) {
    for account in accounts.iter().filter(|a| users.contains(&a.passwd.uid)) {
        let p = &account.passwd;
        let Ok(name) = CString::new(p.name.as_str()) else {
            continue;
        };
        let Ok(gids) = getgrouplist(&name, Gid::from_raw(p.gid)) else {
            continue;
        };
        for gid in gids.into_iter().map(Gid::as_raw) {
            let Some(i) = find_or_look_up(groups, gid) else {
                continue;
            };
            // The primary group's membership comes from the passwd entry.
            let g = &mut groups[i];
            if gid != p.gid && !g.members.iter().any(|m| m == &p.name) {
                g.members.push(p.name.clone());
            }
        }
    }
    let primary: BTreeSet<u32> = accounts.iter().map(|a| a.passwd.gid).collect();
    for gid in primary {
        find_or_look_up(groups, gid);
    }
}

/// The index of group `gid` in `groups`, looked up through NSS (`getgrgid_r`) and added
/// when missing; `None` when NSS does not know it either.
fn find_or_look_up(groups: &mut Vec<GroupEntry>, gid: u32) -> Option<usize> {
    if let Some(i) = groups.iter().position(|g| g.gid == gid) {
        return Some(i);
    }
    let group = Group::from_gid(Gid::from_raw(gid)).ok()??;
    groups.push(GroupEntry {
        name: group.name,
        gid,
        members: group.mem,
        from_nss: true,
    });
    Some(groups.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::accounts::PasswdEntry;

    fn account(name: &str, uid: u32, gid: u32) -> Account {
        Account {
            passwd: PasswdEntry {
                name: name.into(),
                uid,
                gid,
                gecos: String::new(),
                full_name: String::new(),
                home: "/".into(),
                shell: "/bin/sh".into(),
            },
            locked: None,
            from_nss: false,
        }
    }

    /// On any host, the running user's groups as NSS gives them include their primary
    /// group, which is never repeated as a supplementary membership.
    #[test]
    fn own_groups_through_nss() {
        let uid = nix::unistd::getuid().as_raw();
        let Some(me) = crate::read::nss_account(uid) else {
            return; // A uid without a passwd entry (some containers): nothing to ask.
        };
        let mut groups = Vec::new();
        add_nss_groups(
            &mut groups,
            std::slice::from_ref(&me),
            &BTreeSet::from([uid]),
        );
        // The running user's primary group has a name on any host that names the user.
        let primary = groups
            .iter()
            .find(|g| g.gid == me.passwd.gid)
            .expect("the primary group, through NSS");
        assert!(primary.from_nss);
        assert!(!primary.members.contains(&me.passwd.name));
    }

    /// A primary group `/etc/group` already has is neither looked up again nor given
    /// members (the account is outside the set of users asked about).
    #[test]
    fn a_known_primary_group_is_kept_as_it_is() {
        let mut groups = vec![GroupEntry {
            name: "staff".into(),
            gid: 4_000_000_001,
            members: vec![],
            from_nss: false,
        }];
        add_nss_groups(
            &mut groups,
            &[account("nobody-here", 4_000_000_000, 4_000_000_001)],
            &BTreeSet::new(),
        );
        assert_eq!(groups.len(), 1);
        assert!(groups[0].members.is_empty());
    }
}
