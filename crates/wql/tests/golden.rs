//! Golden tests, rust-analyzer style: `test_data/ok/NNNN_name.wql` must parse (and compile
//! against the test schema when its class is known); `NNNN_name.txt` holds the canonical
//! text and an AST dump. `test_data/err/*.wql` must fail; the `.txt` holds status, code,
//! span, message and a caret drawing. A missing or different `.txt` fails; `UPDATE_EXPECT=1`
//! writes them (`linmgmt_test_support::golden`).

use crate::common::{Schema, dump, event_classes, schema};
use linmgmt_test_support::golden::{Goldens, cases as files};
use linmgmt_wql::{
    CompileOptions, EventFilter, Filter, MetaFilter, Projection, Statement, WqlError, caret, parse,
};
use std::path::{Path, PathBuf};

/// Parses `src` and compiles it against the test schema, as the engine would.
pub fn run(src: &str, schema: &Schema) -> Result<Statement, WqlError> {
    let stmt = parse(src)?;
    let opts = CompileOptions::default();
    match &stmt {
        Statement::Select(q) if q.is_meta_class() => {
            MetaFilter::compile(q.where_clause.as_ref(), &opts)?;
        }
        Statement::Select(q) => {
            if let Some(class) = schema.get(q.from.name.as_str()) {
                Projection::compile(q, &class)?;
                Filter::compile(q.where_clause.as_ref(), &class, &opts)?;
            }
        }
        Statement::Event(q) => {
            let target = q
                .target_class()
                .and_then(|t| schema.get(t.name.as_str()))
                .or_else(|| schema.get("Win32_LogonSession"))
                .unwrap();
            // FROM an event class the test schema lacks: compiled as the common base.
            let events = event_classes();
            let from = (events.iter().find(|c| c.name.is(q.from.name.as_str())))
                .or_else(|| {
                    events
                        .iter()
                        .find(|c| c.name.is("__InstanceOperationEvent"))
                })
                .unwrap();
            EventFilter::compile(q, from, &target, &opts)?;
        }
        Statement::Associators(_) | Statement::References(_) => {}
    }
    Ok(stmt)
}

pub fn render_error(src: &str, e: &WqlError) -> String {
    let st = e.status();
    format!(
        "{} 0x{:08X} @{}..{}\n{}\n{}\n",
        st.name(),
        st.code(),
        e.span.start,
        e.span.end,
        e.message,
        caret(src, e.span)
    )
}

fn cases(dir: &str) -> Vec<PathBuf> {
    files(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("test_data")
            .join(dir),
        "wql",
    )
}

fn source(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap();
    s.strip_suffix('\n').unwrap_or(&s).to_owned()
}

#[test]
fn ok_cases() {
    let schema = schema();
    let mut goldens = Goldens::new();
    for path in cases("ok") {
        let src = source(&path);
        let stmt = match run(&src, &schema) {
            Ok(s) => s,
            Err(e) => {
                goldens.fail(format!("{}: {}", path.display(), render_error(&src, &e)));
                continue;
            }
        };
        let canonical = stmt.to_string();
        // Round trip: the canonical text parses to the same tree and prints the same.
        let again = parse(&canonical).unwrap_or_else(|e| panic!("{canonical}: {e}"));
        assert_eq!(again, stmt, "{}: round trip", path.display());
        assert_eq!(
            again.to_string(),
            canonical,
            "{}: fixed point",
            path.display()
        );
        goldens.check(
            &path.with_extension("txt"),
            &format!("{canonical}\n\n{}", dump(&stmt)),
        );
    }
    goldens.finish(40);
}

#[test]
fn err_cases() {
    let schema = schema();
    let mut goldens = Goldens::new();
    for path in cases("err") {
        let src = source(&path);
        match run(&src, &schema) {
            Ok(s) => goldens.fail(format!("{}: parsed as {s}", path.display())),
            Err(e) => goldens.check(&path.with_extension("txt"), &render_error(&src, &e)),
        }
    }
    goldens.finish(40);
}

/// Limits checked on generated text too big for a golden file.
#[test]
fn limits() {
    let schema = schema();
    let status = |src: &str| run(src, &schema).map(|_| ()).map_err(|e| e.status().name());

    let huge = format!(
        "SELECT * FROM Win32_LogonSession WHERE Name = '{}'",
        "x".repeat(70_000)
    );
    assert_eq!(status(&huge), Err("WBEM_E_QUOTA_VIOLATION"));
    let e = parse(&huge).unwrap_err();
    assert_eq!(e.span.start, 65536);
    assert!(caret(&huge, e.span).len() < 400, "caret output is windowed");

    let deep = format!(
        "SELECT * FROM Win32_LogonSession WHERE {}LogonType = 1{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert_eq!(status(&deep), Err("WBEM_E_QUOTA_VIOLATION"));
    let nots = format!(
        "SELECT * FROM Win32_LogonSession WHERE {}LogonType = 1",
        "NOT ".repeat(10_000)
    );
    assert_eq!(status(&nots), Err("WBEM_E_QUOTA_VIOLATION"));
    let ok_deep = format!(
        "SELECT * FROM Win32_LogonSession WHERE {}LogonType = 1{}",
        "(".repeat(128),
        ")".repeat(128)
    );
    assert_eq!(status(&ok_deep), Ok(()));

    let terms = |n: usize| {
        let t: Vec<String> = (0..n).map(|i| format!("LogonType = {i}")).collect();
        format!("SELECT * FROM Win32_LogonSession WHERE {}", t.join(" OR "))
    };
    assert_eq!(status(&terms(1024)), Ok(()));
    assert_eq!(status(&terms(1025)), Err("WBEM_E_QUOTA_VIOLATION"));
    // 10,000 unclosed parentheses and random junk never panic either.
    assert!(parse(&"(".repeat(10_000)).is_err());
    assert!(parse(&"SELECT * FROM A WHERE ".repeat(3000)).is_err());
}
