//! A broken schema is refused with the file, line and column of the fault.

use linmgmt_cim::WbemStatus;
use linmgmt_schema::{FILES, ROOTS, Repository, SchemaError};

fn files_with(path: &str, text: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = FILES
        .iter()
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
        .collect();
    match files.iter_mut().find(|(p, _)| p == path) {
        Some(f) => f.1 = text.to_owned(),
        None => files.push((path.to_owned(), text.to_owned())),
    }
    files
}

fn load(files: &[(String, String)], roots: &[&str]) -> SchemaError {
    Repository::from_files(files, roots).expect_err("the schema is broken")
}

#[test]
fn syntax_errors_point_into_the_included_file() {
    let broken = FILES
        .iter()
        .find(|(p, _)| *p == "cimv2/session.mof")
        .unwrap()
        .1
        .replace("uint32 LogonType;", "uint32 LogonType = 4294967296;");
    let err = load(&files_with("cimv2/session.mof", &broken), ROOTS);
    let text = err.to_string();
    assert!(text.starts_with("cimv2/session.mof:"), "{text}");
    let line = broken
        .lines()
        .position(|l| l.contains("4294967296"))
        .unwrap()
        + 1;
    assert!(text.contains(&format!(":{line}:")), "{text}");
    assert!(text.contains("out of range"), "{text}");
    assert_eq!(err.status(), WbemStatus::TypeMismatch);
}

#[test]
fn unknown_superclass_is_an_invalid_class() {
    let files = files_with("extra.mof", "class A { };\n\nclass B : Missing\n{\n};\n");
    let err = load(&files, &["extra.mof"]);
    assert_eq!(
        err.to_string(),
        "extra.mof:3:1: class B: superclass Missing is not defined in root/cimv2 (define it first)"
    );
    assert_eq!(err.status(), WbemStatus::InvalidClass);
}

#[test]
fn resolution_and_reference_errors() {
    let dup = files_with("x.mof", "class A { };\nclass a { };\n");
    let err = load(&dup, &["x.mof"]);
    assert_eq!(
        err.to_string(),
        "x.mof:2:1: class a is already defined in root/cimv2"
    );

    let bad_ref = files_with("x.mof", "class A { Nowhere REF R; };\n");
    let err = load(&bad_ref, &["x.mof"]);
    assert!(err.to_string().contains("refers to class Nowhere"), "{err}");
    assert_eq!(err.status(), WbemStatus::InvalidClass);

    let retype = files_with(
        "x.mof",
        "class A { uint32 P; };\nclass B : A { [Override(\"P\")] string P; };\n",
    );
    let err = load(&retype, &["x.mof"]);
    assert!(err.to_string().starts_with("x.mof:2:1: "), "{err}");

    let missing = load(&dup, &["nope.mof"]);
    assert_eq!(missing, SchemaError::MissingFile("nope.mof".into()));
}

#[test]
fn static_instances_load() {
    let files = files_with(
        "x.mof",
        "#pragma include(\"qualifiers.mof\")\n\
         class Thing { [Key] string Id; uint8 N; };\n\
         instance of Thing as $t { Id = \"a\"; N = 3; };\n\
         class Link { [Key] Thing REF To; };\n\
         instance of Link { To = $t; };\n",
    );
    let repo = Repository::from_files(&files, &["x.mof"]).unwrap();
    let ns = repo.namespace("root/cimv2").unwrap();
    assert_eq!(ns.instances().len(), 2);
    assert_eq!(
        ns.instances()[1].path().unwrap().to_string(),
        r#"Link.To="Thing.Id=\"a\"""#
    );
    let bad = files_with(
        "x.mof",
        "class Thing { uint8 N; };\ninstance of Thing { N = 300; };\n",
    );
    let err = load(&bad, &["x.mof"]);
    assert!(err.to_string().starts_with("x.mof:2:25: "), "{err}");
}
