//! The classes around the sessions on fixture roots (issue 11): each
//! `test_data/classes/NAME.fixture` is scanned through the host provider, and its
//! Win32_UserAccount, Win32_Group, Win32_GroupUser and Win32_Process instances (list format,
//! those that exist), then Win32_GroupUser as the user `alice` sees it, must equal
//! `NAME.out`. A missing or different `.out` fails; `UPDATE_EXPECT=1` writes them. Then the
//! group associations through the engine, both ways and for a viewer.

use linmgmt_schema::Repository;
use linmgmt_test_support::golden::{Goldens, cases};
use linmgmt_test_support::{Fixture, FixtureRoot};
use std::path::Path;

mod common;
use common::{engine, host, list, relpaths};

const CLASSES: &[&str] = &[
    "Win32_UserAccount",
    "Win32_Group",
    "Win32_GroupUser",
    "Win32_Process",
];

/// The fixture without its leading `#` description lines.
fn fixture(text: &str) -> FixtureRoot {
    let body: String = text
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    Fixture::parse(&body).build()
}

fn run(root: &FixtureRoot) -> String {
    let repo = Repository::builtin().expect("schema");
    let ns = repo.namespace("root/cimv2").expect("cimv2");
    let host = host(root);
    let mut out = String::new();
    let mut warnings: Vec<String> = Vec::new();
    for (viewer, classes) in [(None, CLASSES), (Some("alice"), &["Win32_GroupUser"][..])] {
        for name in classes {
            let class = ns.class(name).expect("class").clone();
            let mut found = Vec::new();
            let mut w = Vec::new();
            host.instances_for(
                &class,
                &linmgmt_engine::Wanted::All,
                viewer,
                &mut found,
                &mut w,
            );
            assert!(
                w.iter().all(|w| !w.message.starts_with("internal")),
                "{name} fits the schema: {w:?}"
            );
            warnings.extend(w.into_iter().map(|w| w.message));
            if !found.is_empty() {
                let seen_by = viewer.map_or(String::new(), |v| format!(" (seen by {v})"));
                out.push_str(&format!("== {name}{seen_by}\n{}", list(found)));
            }
        }
    }
    warnings.sort();
    warnings.dedup();
    if !warnings.is_empty() {
        out.push_str(&format!("== warnings\n{}\n", warnings.join("\n")));
    }
    out
}

#[test]
fn fixture_goldens() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/classes");
    let mut goldens = Goldens::new();
    for path in cases(&dir, "fixture") {
        let text = std::fs::read_to_string(&path).expect("read");
        goldens.check(&path.with_extension("out"), &run(&fixture(&text)));
    }
    goldens.finish(2);
}

fn groups_root() -> FixtureRoot {
    fixture(include_str!("../test_data/classes/01_groups.fixture"))
}

const ALICE: &str = r#"{Win32_UserAccount.Domain="fixture-host",Name="alice"}"#;

fn group(name: &str) -> String {
    format!(r#"Win32_Group.Domain="fixture-host",Name="{name}""#)
}

fn user(name: &str) -> String {
    format!(r#"Win32_UserAccount.Domain="fixture-host",Name="{name}""#)
}

#[test]
fn account_to_groups_and_back() {
    let root = groups_root();
    let e = engine(&root, None);
    let alice_groups = vec![
        group("alice"),
        group("staff"),
        group("sudo"),
        group("users"),
    ];
    for query in [
        format!("ASSOCIATORS OF {ALICE} WHERE ResultClass=Win32_Group"),
        format!("ASSOCIATORS OF {ALICE} WHERE AssocClass=Win32_GroupUser"),
        format!("ASSOCIATORS OF {ALICE} WHERE ResultRole=GroupComponent"),
        // The base class names the same account.
        r#"ASSOCIATORS OF {Win32_Account.Domain="fixture-host",Name="alice"} WHERE ResultClass=Win32_Group"#.into(),
    ] {
        assert_eq!(relpaths(&e, &query), alice_groups, "{query}");
    }
    assert_eq!(
        relpaths(
            &e,
            &format!("REFERENCES OF {ALICE} WHERE ResultClass=Win32_GroupUser")
        )
        .len(),
        4
    );
    // Primary (bob's gid 100) and supplementary (alice listed) members; ghost has no account.
    assert_eq!(
        relpaths(
            &e,
            r#"ASSOCIATORS OF {Win32_Group.Domain="fixture-host",Name="users"} WHERE ResultClass=Win32_UserAccount"#
        ),
        vec![user("alice"), user("bob")]
    );
    assert_eq!(
        relpaths(
            &e,
            r#"ASSOCIATORS OF {Win32_Group.Domain="fixture-host",Name="sudo"}"#
        ),
        vec![user("alice"), user("bob")]
    );
    assert_eq!(
        relpaths(
            &e,
            r#"ASSOCIATORS OF {Win32_Group.Domain="fixture-host",Name="wheel"}"#
        ),
        Vec::<String>::new()
    );
    // carol's primary gid has no group: no groups, and no error.
    assert_eq!(
        relpaths(
            &e,
            r#"ASSOCIATORS OF {Win32_UserAccount.Domain="fixture-host",Name="carol"} WHERE ResultClass=Win32_Group"#
        ),
        Vec::<String>::new()
    );
    // Win32_Account holds users and groups, as on Windows.
    assert_eq!(relpaths(&e, "SELECT * FROM Win32_Account").len(), 4 + 6);
    assert_eq!(
        relpaths(&e, "SELECT * FROM Win32_Group WHERE SID = 'S-1-22-2-27'"),
        vec![group("sudo")]
    );
}

#[test]
fn a_user_sees_every_group_and_only_their_memberships() {
    let root = groups_root();
    let e = engine(&root, Some("bob"));
    assert_eq!(relpaths(&e, "SELECT * FROM Win32_Group").len(), 6);
    assert_eq!(
        relpaths(
            &e,
            r#"ASSOCIATORS OF {Win32_UserAccount.Domain="fixture-host",Name="bob"} WHERE ResultClass=Win32_Group"#
        ),
        vec![group("staff"), group("sudo"), group("users")]
    );
    // The group's other members are not bob's to see.
    assert_eq!(
        relpaths(
            &e,
            r#"ASSOCIATORS OF {Win32_Group.Domain="fixture-host",Name="users"} WHERE ResultClass=Win32_UserAccount"#
        ),
        vec![user("bob")]
    );
    assert_eq!(relpaths(&e, "SELECT * FROM Win32_GroupUser").len(), 3);
}
