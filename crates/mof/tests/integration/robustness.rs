//! The parser never panics, and refuses inputs beyond its limits with an error.

use linmgmt_cim::WbemStatus;
use linmgmt_mof::{MAX_SOURCE_LEN, MofErrorKind, ParseConfig, parse, parse_str};
use proptest::prelude::*;

const FRAGMENTS: &[&str] = &[
    "class",
    "instance",
    "of",
    "qualifier",
    "as",
    "$a",
    "ref",
    "REF",
    "Name",
    "uint8",
    "string",
    "object",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ";",
    ",",
    ":",
    "=",
    "-",
    "+",
    "#pragma",
    "namespace",
    "include",
    "\"s\"",
    "'c'",
    "0x1F",
    "101b",
    "017",
    "1.5e3",
    "300",
    "-1",
    "true",
    "null",
    "scope",
    "flavor",
    "Key",
    "Restricted",
    "/*",
    "*/",
    "//",
    "\n",
    " ",
    "\"",
    "\\",
    "\u{e9}",
];

fn never_panics(text: &str) {
    let include = |_: &str| Some("#pragma include(\"x.mof\")".to_owned());
    let config = ParseConfig {
        namespace: "root/cimv2",
        include: &include,
    };
    if let Err(e) = parse("f.mof", text, &config) {
        // Errors must render, and their positions must be inside the text.
        let _ = e.to_string();
        let _ = e.snippet();
        assert!(e.line >= 1 && e.column >= 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text(text in "\\PC{0,200}") {
        never_panics(&text);
    }

    #[test]
    fn token_soup(parts in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..60)) {
        never_panics(&parts.join(" "));
        never_panics(&parts.concat());
    }
}

#[test]
fn oversized_source_is_refused() {
    let big = format!("class A {{ }};{}", " ".repeat(MAX_SOURCE_LEN));
    let err = parse_str(&big).unwrap_err();
    assert_eq!(err.kind, MofErrorKind::Limit);
    assert_eq!(err.status(), WbemStatus::QuotaViolation);
}

#[test]
fn deep_and_long_inputs_do_not_overflow() {
    // Deep brackets fail at the second level instead of recursing.
    let deep = format!("class A {{ uint8 X[] = {}; }};", "{".repeat(100_000));
    assert_eq!(parse_str(&deep).unwrap_err().kind, MofErrorKind::Syntax);
    let quals = format!("class A {{ [{}] string P; }};", "[".repeat(100_000));
    assert!(parse_str(&quals).is_err());
    // A long but valid array and a long string are fine.
    let items: Vec<String> = (0..50_000).map(|i| i.to_string()).collect();
    let long = format!(
        "class A {{ uint32 X[] = {{{}}}; string S = \"{}\"; }};",
        items.join(","),
        "x".repeat(1_000_000)
    );
    assert!(parse_str(&long).is_ok());
}

#[test]
fn include_bombs_stop() {
    // Each file includes the next twice: 2^16 copies without a total limit.
    let include = |path: &str| {
        let n: usize = path
            .trim_start_matches('f')
            .trim_end_matches(".mof")
            .parse()
            .ok()?;
        Some(format!(
            "#pragma include(\"f{0}.mof\")\n#pragma include(\"f{0}.mof\")\nclass C{n} {{ string P = \"{1}\"; }};",
            n + 1,
            "x".repeat(4000)
        ))
    };
    let config = ParseConfig {
        namespace: "root/cimv2",
        include: &include,
    };
    let err = parse("f0.mof", "#pragma include(\"f1.mof\")", &config).unwrap_err();
    assert_eq!(err.kind, MofErrorKind::Limit, "{err}");
}
