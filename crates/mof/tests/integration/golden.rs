//! Golden files: `test_data/ok/*.mof` parse to the dump in the `.txt` beside them, and
//! `test_data/err/*.mof` fail with the error in theirs. A missing or different `.txt`
//! fails; `UPDATE_EXPECT=1` writes them (`linmgmt_test_support::golden`).
//!
//! A `.mof` starting with `//- /name.mof` lines holds several files (rust-analyzer style);
//! the first is parsed and the others are what `#pragma include` finds.

use linmgmt_cim::{Flavor, Qualifier, Value};
use linmgmt_mof::{Entry, Item, ParseConfig, parse};
use linmgmt_test_support::golden::{Goldens, cases};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

/// Splits a fixture into files; a plain file is `main.mof`.
fn files(text: &str) -> Vec<(String, String)> {
    if !text.starts_with("//- ") {
        return vec![("main.mof".to_owned(), text.to_owned())];
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("//- ") {
            out.push((
                name.trim().trim_start_matches('/').to_owned(),
                String::new(),
            ));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
        }
    }
    out
}

fn run(text: &str) -> Result<Vec<Entry>, linmgmt_mof::MofError> {
    let files = files(text);
    let map: HashMap<String, String> = files.iter().cloned().collect();
    let include = move |path: &str| map.get(path).cloned();
    let config = ParseConfig {
        namespace: "root/cimv2",
        include: &include,
    };
    parse(&files[0].0, &files[0].1, &config)
}

fn value(v: &Option<Value>) -> String {
    let Some(v) = v else { return "null".into() };
    let scalar = |v: &Value| match v {
        Value::String(s) => format!("{s:?}"),
        Value::Char16(c) => format!("{c:?}"),
        Value::Datetime(d) => format!("\"{d}\""),
        Value::Reference(p) => format!("\"{p}\""),
        Value::Real32(r) => format!("{r:?}"),
        Value::Real64(r) => format!("{r:?}"),
        other => other.to_string(),
    };
    match v {
        Value::Array(items) if items.is_empty() => "{}".to_owned(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(scalar).collect();
            format!("{}[] {{{}}}", v.scalar_type().keyword(), parts.join(", "))
        }
        v => format!("{} {}", v.scalar_type().keyword(), scalar(v)),
    }
}

fn flavor(f: &Flavor) -> String {
    let d = Flavor::default();
    let mut parts = Vec::new();
    if f.overridable != d.overridable {
        parts.push("DisableOverride");
    }
    if f.to_subclass != d.to_subclass {
        parts.push("Restricted");
    }
    if f.to_instance {
        parts.push("ToInstance");
    }
    if f.translatable {
        parts.push("Translatable");
    }
    if f.amended {
        parts.push("Amended");
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" : {}", parts.join(" "))
    }
}

fn qualifiers(out: &mut String, indent: &str, qs: &[Qualifier]) {
    for q in qs {
        let _ = writeln!(
            out,
            "{indent}[{} = {}{}]",
            q.name,
            value(&q.value),
            flavor(&q.flavor)
        );
    }
}

/// A readable dump of parsed items.
fn dump(entries: &[Entry]) -> String {
    let mut out = String::new();
    let mut namespace = String::new();
    for e in entries {
        if e.namespace != namespace {
            namespace = e.namespace.clone();
            let _ = writeln!(out, "namespace {namespace}");
        }
        let (line, col) = linmgmt_cim::line_col(&e.origin.source, e.span.start);
        let at = format!("  @{}:{line}:{col}", e.origin.file);
        match &e.item {
            Item::Qualifier(d) => {
                let scopes: Vec<&str> = d.scopes.iter().map(|s| s.keyword()).collect();
                let _ = writeln!(
                    out,
                    "qualifier {} : {} = {} scope({}){}{at}",
                    d.name,
                    d.ty,
                    value(&d.default),
                    scopes.join(", "),
                    flavor(&d.flavor)
                );
            }
            Item::Class(c) => {
                let sup = c
                    .superclass
                    .as_ref()
                    .map_or(String::new(), |s| format!(" : {s}"));
                let _ = writeln!(out, "class {}{sup}{at}", c.name);
                qualifiers(&mut out, "  ", &c.qualifiers);
                for p in &c.properties {
                    let _ = writeln!(
                        out,
                        "  property {} : {} = {}",
                        p.name,
                        p.ty,
                        value(&p.default)
                    );
                    qualifiers(&mut out, "    ", &p.qualifiers);
                }
                for m in &c.methods {
                    let _ = writeln!(out, "  method {} : {}", m.name, m.return_type);
                    qualifiers(&mut out, "    ", &m.qualifiers);
                    for p in &m.parameters {
                        let _ = writeln!(out, "    param {} : {}", p.name, p.ty);
                        qualifiers(&mut out, "      ", &p.qualifiers);
                    }
                }
            }
            Item::Instance(i) => {
                let alias = i
                    .alias
                    .as_ref()
                    .map_or(String::new(), |a| format!(" as ${a}"));
                let _ = writeln!(out, "instance of {}{alias}{at}", i.class);
                for (name, lit, _) in &i.properties {
                    let _ = writeln!(out, "  {name} = {lit} ({})", lit.kind());
                }
            }
        }
    }
    out
}

fn render(text: &str, expect_ok: bool) -> String {
    match run(text) {
        Ok(entries) if expect_ok => dump(&entries),
        Ok(entries) => format!("UNEXPECTED SUCCESS\n{}", dump(&entries)),
        Err(e) => {
            let body = format!("{}\n{e}\n{}\n", e.status(), e.snippet());
            if expect_ok {
                format!("UNEXPECTED ERROR\n{body}")
            } else {
                body
            }
        }
    }
}

fn check_dir(dir: &str, expect_ok: bool, at_least: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(dir);
    let mut goldens = Goldens::new();
    for case in cases(&root, "mof") {
        let text = std::fs::read_to_string(&case).expect("read case");
        let actual = render(&text, expect_ok);
        if actual.starts_with("UNEXPECTED") {
            goldens.fail(format!("{}: {actual}", case.display()));
            continue;
        }
        goldens.check(&case.with_extension("txt"), &actual);
    }
    goldens.finish(at_least);
}

#[test]
fn ok_cases() {
    check_dir("ok", true, 30);
}

#[test]
fn err_cases() {
    check_dir("err", false, 30);
}
