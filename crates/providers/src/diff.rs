//! What changed between two snapshots of a class's instances: the pure heart of event
//! queries (`__InstanceCreationEvent` and friends).
//!
//! Instances are matched by object path (their keys), so a session that keeps its
//! `LogonId` is the same session however its other properties move. Some properties tick
//! by themselves (`IdleTime`, a process's CPU time): [`volatile_properties`] names them,
//! and the caller decides, per query, whether their changes count.

use linmgmt_cim::Instance;
use std::collections::HashMap;

/// One difference between the previous and the current instances of a class.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change<'a> {
    /// In the current snapshot only.
    Created(&'a Instance),
    /// In the previous snapshot only; the instance as last seen.
    Deleted(&'a Instance),
    /// In both, with some property (not ignored) different.
    Modified {
        /// As it was.
        previous: &'a Instance,
        /// As it is.
        current: &'a Instance,
    },
}

/// Properties of the host's classes that change without anything happening: clocks and
/// counters. A modification event for every tick would drown the real ones, so they count
/// only when a query names them.
pub fn volatile_properties(class: &str) -> &'static [&'static str] {
    const SERVER_SESSION: &[&str] = &["ActiveTime", "IdleTime"];
    const SERVER_CONNECTION: &[&str] = &["ActiveTime"];
    const PROCESS: &[&str] = &[
        "KernelModeTime",
        "UserModeTime",
        "WorkingSetSize",
        "PeakWorkingSetSize",
        "VirtualSize",
        "PeakVirtualSize",
        "PageFaults",
        "PageFileUsage",
        "PeakPageFileUsage",
        "PrivatePageCount",
        "ThreadCount",
        "HandleCount",
        "ReadOperationCount",
        "ReadTransferCount",
        "WriteOperationCount",
        "WriteTransferCount",
        "OtherOperationCount",
        "OtherTransferCount",
        "QuotaNonPagedPoolUsage",
        "QuotaPagedPoolUsage",
        "QuotaPeakNonPagedPoolUsage",
        "QuotaPeakPagedPoolUsage",
        // Running or sleeping flips many times a second.
        "ExecutionState",
    ];
    match class {
        c if c.eq_ignore_ascii_case("Win32_ServerSession") => SERVER_SESSION,
        c if c.eq_ignore_ascii_case("Win32_ServerConnection") => SERVER_CONNECTION,
        c if c.eq_ignore_ascii_case("Win32_Process") => PROCESS,
        _ => &[],
    }
}

/// The identity of an instance across snapshots: its path, keys in canonical order.
fn identity(instance: &Instance) -> Option<String> {
    instance.path().map(|p| p.to_string().to_lowercase())
}

/// The changes from `previous` to `current`: deletions in the order they were, then
/// creations and modifications in the current order. `ignored(index)` says which property
/// indices do not count as a change. Instances without keys cannot be followed and are
/// skipped; a repeated key counts once (the first).
pub fn diff<'a>(
    previous: &'a [Instance],
    current: &'a [Instance],
    ignored: &dyn Fn(usize) -> bool,
) -> Vec<Change<'a>> {
    let mut before: HashMap<String, &Instance> = HashMap::with_capacity(previous.len());
    let mut order = Vec::with_capacity(previous.len());
    for p in previous {
        if let Some(id) = identity(p)
            && !before.contains_key(&id)
        {
            before.insert(id.clone(), p);
            order.push(id);
        }
    }
    let mut changes = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(current.len());
    let mut after = Vec::with_capacity(current.len());
    for c in current {
        let Some(id) = identity(c) else { continue };
        if !seen.insert(id.clone()) {
            continue;
        }
        match before.get(&id) {
            None => after.push(Change::Created(c)),
            Some(p) if differs(p, c, ignored) => after.push(Change::Modified {
                previous: p,
                current: c,
            }),
            Some(_) => {}
        }
    }
    for id in order {
        if !seen.contains(&id) {
            changes.push(Change::Deleted(before[&id]));
        }
    }
    changes.extend(after);
    changes
}

fn differs(a: &Instance, b: &Instance, ignored: &dyn Fn(usize) -> bool) -> bool {
    if !a.class_name().is(b.class_name().as_str()) {
        return true;
    }
    let (va, vb) = (a.values(), b.values());
    va.len() != vb.len()
        || va
            .iter()
            .zip(vb)
            .enumerate()
            .any(|(i, (x, y))| x != y && !ignored(i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use linmgmt_cim::{ClassDef, Value};
    use std::sync::Arc;

    fn class() -> Arc<ClassDef> {
        let repo = linmgmt_schema::Repository::builtin().unwrap();
        repo.namespace("root/cimv2")
            .unwrap()
            .class("Win32_ServerSession")
            .unwrap()
            .clone()
    }

    fn session(class: &Arc<ClassDef>, host: &str, user: &str, opened: u32, idle: u32) -> Instance {
        let mut i = Instance::new(class.clone());
        i.set("ComputerName", Some(Value::String(host.into())))
            .unwrap();
        i.set("UserName", Some(Value::String(user.into()))).unwrap();
        i.set("ResourcesOpened", Some(Value::Uint32(opened)))
            .unwrap();
        i.set("IdleTime", Some(Value::Uint32(idle))).unwrap();
        i
    }

    /// `(kind, user)` for each change, to compare with the expectation.
    fn summary(changes: &[Change]) -> Vec<(&'static str, String)> {
        let user = |i: &Instance| match i.get("UserName") {
            Some(Value::String(s)) => s.clone(),
            _ => "?".into(),
        };
        changes
            .iter()
            .map(|c| match c {
                Change::Created(i) => ("created", user(i)),
                Change::Deleted(i) => ("deleted", user(i)),
                Change::Modified { current, .. } => ("modified", user(current)),
            })
            .collect()
    }

    fn check(before: &[Instance], after: &[Instance], ignore_idle: bool, expect: &[(&str, &str)]) {
        let class = class();
        let idle = class.property_index("IdleTime").unwrap();
        let ignored = |i: usize| ignore_idle && i == idle;
        let got = summary(&diff(before, after, &ignored));
        let expect: Vec<(&str, String)> = expect.iter().map(|(k, u)| (*k, u.to_string())).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn creations_deletions_and_modifications() {
        let c = class();
        let a = session(&c, "10.0.0.1", "alice", 0, 5);
        let b = session(&c, "10.0.0.2", "bob", 1, 5);
        let b_opened = session(&c, "10.0.0.2", "bob", 2, 5);
        let carol = session(&c, "10.0.0.3", "carol", 0, 0);
        check(&[], &[], false, &[]);
        check(
            &[],
            std::slice::from_ref(&a),
            false,
            &[("created", "alice")],
        );
        check(
            std::slice::from_ref(&a),
            &[],
            false,
            &[("deleted", "alice")],
        );
        check(
            &[a.clone(), b.clone()],
            &[b_opened.clone(), carol.clone()],
            false,
            &[
                ("deleted", "alice"),
                ("modified", "bob"),
                ("created", "carol"),
            ],
        );
        // Same state: nothing, whatever the order.
        check(&[a.clone(), b.clone()], &[b.clone(), a.clone()], false, &[]);
    }

    #[test]
    fn ignored_properties_are_not_changes() {
        let c = class();
        let idle5 = session(&c, "10.0.0.1", "alice", 0, 5);
        let idle9 = session(&c, "10.0.0.1", "alice", 0, 9);
        let idle9_opened = session(&c, "10.0.0.1", "alice", 1, 9);
        check(
            std::slice::from_ref(&idle5),
            std::slice::from_ref(&idle9),
            true,
            &[],
        );
        check(
            std::slice::from_ref(&idle5),
            std::slice::from_ref(&idle9),
            false,
            &[("modified", "alice")],
        );
        check(
            std::slice::from_ref(&idle5),
            std::slice::from_ref(&idle9_opened),
            true,
            &[("modified", "alice")],
        );
    }

    #[test]
    fn keys_match_without_case_and_repeats_count_once() {
        let c = class();
        let lower = session(&c, "host", "alice", 0, 0);
        let upper = session(&c, "HOST", "ALICE", 0, 0);
        // The key values differ only in case: the same session, but a changed property.
        check(
            std::slice::from_ref(&lower),
            std::slice::from_ref(&upper),
            false,
            &[("modified", "ALICE")],
        );
        check(
            &[],
            &[lower.clone(), lower.clone()],
            false,
            &[("created", "alice")],
        );
        let keyless = Instance::new(c.clone());
        check(&[], &[keyless], false, &[]);
    }
}
