//! The embedded file list matches `schema/` on disk.

use linmgmt_schema::{FILES, ROOTS};
use std::path::Path;

fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("schema directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk(&path, base, out);
        } else if path.extension().is_some_and(|e| e == "mof") {
            let rel = path.strip_prefix(base).expect("under base");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_schema_file_is_embedded_and_current() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema");
    let mut on_disk = Vec::new();
    walk(&base, &base, &mut on_disk);
    on_disk.sort();
    let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
    embedded.sort();
    assert_eq!(
        on_disk, embedded,
        "schema/ and linmgmt_schema::FILES differ"
    );
    for (path, text) in FILES {
        let disk = std::fs::read_to_string(base.join(path)).expect("read");
        assert_eq!(&disk, text, "{path} is stale; rebuild");
    }
    for root in ROOTS {
        assert!(
            FILES.iter().any(|(p, _)| p == root),
            "root {root} is not a file"
        );
    }
    assert!(
        base.join("README.md").is_file(),
        "schema/README.md gives provenance"
    );
}
