//! `Win32_Group` and `Win32_GroupUser`: the host's groups (`/etc/group`, plus NSS on the
//! real host) and who belongs to them, by primary group (the passwd entry's gid) or by the
//! group's member list (supplementary). docs/mapping.md, "Groups".

use crate::related::{self, Context, account, s};
use crate::{put, string};
use linmgmt_cim::{ClassDef, Instance, Value};
use linmgmt_engine::Warning;
use linmgmt_sources::Snapshot;
use linmgmt_sources::parse::accounts::GroupEntry;
use std::sync::Arc;

/// How a user belongs to a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// The group is the user's primary group (the passwd entry's gid).
    Primary,
    /// The group lists the user (`/etc/group`'s fourth field, or NSS).
    Supplementary,
}

/// One membership: a group and a member's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member<'a> {
    /// The group.
    pub group: &'a GroupEntry,
    /// The member's login name.
    pub user: &'a str,
    /// Primary when both apply.
    pub how: Membership,
}

/// Every membership, group by group in the groups' order: the accounts whose primary group
/// it is (in passwd order), then the group's listed members not already named. A listed
/// member without an account is kept (a directory user that NSS was not asked about, or a
/// stale entry: the file says so, as Windows keeps members it cannot resolve).
pub fn memberships<'a>(snap: &'a Snapshot, groups: &'a [GroupEntry]) -> Vec<Member<'a>> {
    let mut out = Vec::new();
    for group in groups {
        let first = out.len();
        for a in snap.accounts.iter().filter(|a| a.passwd.gid == group.gid) {
            out.push(Member {
                group,
                user: a.passwd.name.as_str(),
                how: Membership::Primary,
            });
        }
        for m in &group.members {
            if !out[first..].iter().any(|x: &Member<'_>| x.user == m) {
                out.push(Member {
                    group,
                    user: m.as_str(),
                    how: Membership::Supplementary,
                });
            }
        }
    }
    out
}

/// The reference to a group, as Win32_GroupUser's GroupComponent names it.
pub fn group_path(ctx: &Context<'_>, name: &str) -> Value {
    path(ctx, "Win32_Group", name)
}

/// A reference to an account or a group of this host.
fn path(ctx: &Context<'_>, class: &str, name: &str) -> Value {
    related::path(ctx, class, vec![("Domain", s(ctx.host)), ("Name", s(name))])
}

/// `Win32_Group`: every group, SIDs as Samba maps Unix groups (`S-1-22-2-<gid>`). A
/// viewer sees them all too, as `net localgroup` and `getent group` show every group to
/// every user. Groups with the same name as an earlier one (a gid listed twice) are left
/// out: the key is the name.
pub fn groups(
    groups: &[GroupEntry],
    ctx: &Context<'_>,
    class: &Arc<ClassDef>,
    w: &mut Vec<Warning>,
) -> Vec<Instance> {
    let mut seen = std::collections::HashSet::new();
    groups
        .iter()
        .filter(|g| seen.insert(g.name.as_str()))
        .map(|g| {
            // SIDType 2: SidTypeGroup, as Samba types its Unix group SIDs.
            let sid = format!("S-1-22-2-{}", g.gid);
            let mut i = account(class, ctx, &g.name, sid, 2, !g.from_nss, w);
            put(&mut i, "Status", string("OK"), w);
            i
        })
        .collect()
}

/// `Win32_GroupUser`: each membership, GroupComponent the group, PartComponent the user's
/// `Win32_UserAccount` (the concrete class, as WMI writes it). A viewer sees only their own
/// memberships: the accounts of other users are not theirs to see.
pub fn group_users(
    snap: &Snapshot,
    groups: &[GroupEntry],
    viewer: Option<&str>,
    ctx: &Context<'_>,
    class: &Arc<ClassDef>,
    w: &mut Vec<Warning>,
) -> Vec<Instance> {
    let mut seen = std::collections::HashSet::new();
    memberships(snap, groups)
        .into_iter()
        .filter(|m| viewer.is_none_or(|v| v == m.user))
        // One instance per key pair, as for the groups themselves.
        .filter(|m| seen.insert((m.group.name.as_str(), m.user)))
        .map(|m| {
            let mut i = Instance::new(class.clone());
            put(
                &mut i,
                "GroupComponent",
                Some(group_path(ctx, &m.group.name)),
                w,
            );
            put(
                &mut i,
                "PartComponent",
                Some(path(ctx, "Win32_UserAccount", m.user)),
                w,
            );
            i
        })
        .collect()
}
