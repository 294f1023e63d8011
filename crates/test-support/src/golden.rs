//! Golden files: the one rule every harness in the workspace follows.
//!
//! An expected file that is missing or differs from what the code produces is a **failure**,
//! unless `UPDATE_EXPECT=1` is set in the environment: then the file is (re)written and the
//! check passes. A new case therefore fails until someone looks at its output and accepts it
//! with `UPDATE_EXPECT=1`; a deleted or misnamed expectation can never pass silently.
//!
//! [`check_golden_with`] takes the update decision as a parameter (tests of this module use
//! it; they must not race on the environment); [`check_golden`] reads it from the
//! environment. [`Goldens`] collects the results of a whole directory of cases and fails
//! once, listing every mismatch; [`cases`] lists a directory's inputs in a stable order.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The environment variable that accepts the actual output as the new expectation.
pub const UPDATE_VAR: &str = "UPDATE_EXPECT";

/// How many changed lines of each side a mismatch report shows.
const SHOWN_LINES: usize = 12;

/// Whether `UPDATE_EXPECT` asks for expected files to be written: `1` or `true` (any case).
/// Anything else, including unset, empty or `0`, means compare.
pub fn update_requested() -> bool {
    crate::ci::env_flag(UPDATE_VAR)
}

/// Compares `actual` with the file at `expected_path`, writing it instead when
/// `UPDATE_EXPECT=1` is set. See [`check_golden_with`].
pub fn check_golden(expected_path: &Path, actual: &str) -> Result<(), String> {
    check_golden_with(expected_path, actual, update_requested())
}

/// [`check_golden`] that panics with the mismatch report: for harnesses with one case per test.
#[track_caller]
pub fn assert_golden(expected_path: &Path, actual: &str) {
    if let Err(report) = check_golden(expected_path, actual) {
        panic!("{report}");
    }
}

/// Compares `actual` with the file at `expected_path`.
///
/// With `update` false: `Ok` only when the file exists and equals `actual` byte for byte; a
/// missing, unreadable or different file is an `Err` with a readable report (the first
/// differing lines of both sides). With `update` true: the file is written when it is
/// missing or differs (parent directories created) and the result is `Ok`, unless the write
/// fails.
pub fn check_golden_with(expected_path: &Path, actual: &str, update: bool) -> Result<(), String> {
    let shown = expected_path.display();
    let existing = std::fs::read_to_string(expected_path);
    if update {
        if existing.as_deref().ok() == Some(actual) {
            return Ok(());
        }
        if let Some(parent) = expected_path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("{shown}: cannot create its directory: {e}"))?;
        }
        return std::fs::write(expected_path, actual)
            .map_err(|e| format!("{shown}: cannot write the expected file: {e}"));
    }
    match existing {
        Ok(expected) if expected == actual => Ok(()),
        Ok(expected) => Err(format!(
            "{shown}: the output differs from the expected file \
             (run with {UPDATE_VAR}=1 to accept it)\n{}",
            diff(&expected, actual)
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "{shown}: the expected file is missing (run with {UPDATE_VAR}=1 to write it, \
             then review and commit it); the actual output is:\n{}",
            excerpt(actual)
        )),
        Err(e) => Err(format!("{shown}: cannot read the expected file: {e}")),
    }
}

/// A readable difference: the common leading and trailing lines are left out, the changed
/// region is shown as `-` (expected) and `+` (actual) lines with its line number, each side
/// cut after [`SHOWN_LINES`] lines.
pub fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.split_inclusive('\n').collect();
    let a: Vec<&str> = actual.split_inclusive('\n').collect();
    let prefix = e.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let suffix = e[prefix..]
        .iter()
        .rev()
        .zip(a[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let e_mid = &e[prefix..e.len() - suffix];
    let a_mid = &a[prefix..a.len() - suffix];
    let mut out = format!(
        "@@ line {}: {} expected line(s) -, {} actual line(s) + ({} and {} lines in all)\n",
        prefix + 1,
        e_mid.len(),
        a_mid.len(),
        e.len(),
        a.len()
    );
    for (sign, lines) in [('-', e_mid), ('+', a_mid)] {
        for line in lines.iter().take(SHOWN_LINES) {
            let text = line.strip_suffix('\n');
            let _ = match text {
                Some(t) => writeln!(out, "{sign}{t}"),
                None => writeln!(out, "{sign}{line}    (no newline at the end)"),
            };
        }
        if lines.len() > SHOWN_LINES {
            let _ = writeln!(out, "{sign}… {} more line(s)", lines.len() - SHOWN_LINES);
        }
    }
    out
}

/// The first [`SHOWN_LINES`] × 4 lines of `text`, for a missing file's report.
fn excerpt(text: &str) -> String {
    let limit = SHOWN_LINES * 4;
    let lines: Vec<&str> = text.lines().collect();
    let mut out: String = lines.iter().take(limit).map(|l| format!("{l}\n")).collect();
    if lines.len() > limit {
        let _ = writeln!(out, "… {} more line(s)", lines.len() - limit);
    }
    out
}

/// The files in `dir` whose name ends in `.{ext}`, sorted. Panics when the directory cannot
/// be read: a harness with no cases must not pass.
pub fn cases(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the test case directory {}: {e}", dir.display()));
    let mut out: Vec<PathBuf> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

/// The failures of a directory of golden cases, reported together.
///
/// ```no_run
/// # use linmgmt_test_support::golden::{Goldens, cases};
/// # use std::path::Path;
/// let mut goldens = Goldens::new();
/// for case in cases(Path::new("test_data"), "wql") {
///     let actual = String::from("...");
///     goldens.check(&case.with_extension("out"), &actual);
/// }
/// goldens.finish(20); // panics on any mismatch, or with fewer than 20 cases checked
/// ```
#[derive(Debug, Default)]
pub struct Goldens {
    update: bool,
    checked: usize,
    failures: Vec<String>,
}

impl Goldens {
    /// A collector that writes expected files when `UPDATE_EXPECT=1` is set.
    pub fn new() -> Goldens {
        Goldens::with_update(update_requested())
    }

    /// A collector with an explicit update decision.
    pub fn with_update(update: bool) -> Goldens {
        Goldens {
            update,
            ..Goldens::default()
        }
    }

    /// Checks one case with [`check_golden_with`]; a mismatch is remembered.
    pub fn check(&mut self, expected_path: &Path, actual: &str) {
        self.checked += 1;
        if let Err(report) = check_golden_with(expected_path, actual, self.update) {
            self.failures.push(report);
        }
    }

    /// Records a case that failed before it got to its golden file (e.g. a parse that
    /// should have succeeded).
    pub fn fail(&mut self, report: impl Into<String>) {
        self.checked += 1;
        self.failures.push(report.into());
    }

    /// The reports so far.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// How many cases were checked or failed.
    pub fn checked(&self) -> usize {
        self.checked
    }

    /// Panics when any case failed, or when fewer than `at_least` cases were seen (a harness
    /// that finds no cases must not pass).
    #[track_caller]
    pub fn finish(self, at_least: usize) {
        assert!(
            self.checked >= at_least,
            "only {} golden case(s), want at least {at_least}",
            self.checked
        );
        assert!(
            self.failures.is_empty(),
            "{} of {} golden case(s) failed:\n\n{}",
            self.failures.len(),
            self.checked,
            self.failures.join("\n\n")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_expected_file_fails_and_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("case.out");
        let err = check_golden_with(&path, "hello\n", false).unwrap_err();
        assert!(err.contains("the expected file is missing"), "{err}");
        assert!(err.contains("UPDATE_EXPECT=1"), "{err}");
        assert!(err.contains("hello"), "the report shows the output: {err}");
        assert!(!path.exists(), "a check without update never writes");
    }

    #[test]
    fn update_writes_a_missing_file_and_then_it_passes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/case.out");
        check_golden_with(&path, "hello\n", true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello\n");
        check_golden_with(&path, "hello\n", false).unwrap();
    }

    #[test]
    fn a_different_file_fails_with_the_first_differing_lines_and_update_rewrites_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("case.out");
        std::fs::write(&path, "a\nb\nc\nd\n").unwrap();
        let err = check_golden_with(&path, "a\nB\nc\nd\n", false).unwrap_err();
        assert!(err.contains("differs"), "{err}");
        assert!(
            err.contains("@@ line 2: 1 expected line(s) -, 1 actual line(s) +"),
            "{err}"
        );
        assert!(err.contains("\n-b\n+B\n"), "{err}");
        assert!(!err.contains("\n-a\n"), "common lines are left out: {err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\nc\nd\n");
        check_golden_with(&path, "a\nB\nc\nd\n", true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nB\nc\nd\n");
    }

    #[test]
    fn a_missing_final_newline_is_a_difference_and_is_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("case.out");
        std::fs::write(&path, "x\ny\n").unwrap();
        let err = check_golden_with(&path, "x\ny", false).unwrap_err();
        assert!(err.contains("+y    (no newline at the end)"), "{err}");
    }

    #[test]
    fn long_changes_are_cut() {
        let expected: String = (0..100).map(|i| format!("{i}\n")).collect();
        let actual: String = (0..100).map(|i| format!("x{i}\n")).collect();
        let d = diff(&expected, &actual);
        assert!(d.contains("-… 88 more line(s)"), "{d}");
        assert!(d.contains("+… 88 more line(s)"), "{d}");
        assert!(d.lines().count() < 30, "{d}");
    }

    #[test]
    fn goldens_collects_and_fails_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.out"), "one\n").unwrap();
        let mut g = Goldens::with_update(false);
        g.check(&dir.path().join("1.out"), "one\n");
        g.check(&dir.path().join("2.out"), "two\n");
        g.fail("3: parsed when it should not");
        assert_eq!(g.checked(), 3);
        assert_eq!(g.failures().len(), 2);
        let panic = std::panic::catch_unwind(|| g.finish(1)).unwrap_err();
        let msg = panic.downcast_ref::<String>().unwrap();
        assert!(msg.starts_with("2 of 3 golden case(s) failed"), "{msg}");
        assert!(!dir.path().join("2.out").exists());
    }

    #[test]
    fn goldens_with_too_few_cases_fail() {
        let g = Goldens::with_update(true);
        assert!(std::panic::catch_unwind(|| g.finish(1)).is_err());
    }

    #[test]
    fn cases_are_sorted_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.wql", "a.wql", "a.out", "c.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let got: Vec<_> = cases(dir.path(), "wql")
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, ["a.wql", "b.wql"]);
    }
}
