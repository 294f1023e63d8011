//! Compiles the built-in schema at build time: parses and resolves the MOF of `schema/`
//! with the library's own code (`src/repository.rs`, included here) and stores the result
//! in `OUT_DIR/schema.postcard`, which `Repository::builtin` decodes. A MOF error fails the
//! build with its position.

#[path = "src/files.rs"]
#[allow(dead_code)]
mod files;
#[path = "src/repository.rs"]
#[allow(dead_code)]
mod repository;

fn main() {
    println!("cargo::rerun-if-changed=../../schema");
    println!("cargo::rerun-if-changed=src/files.rs");
    println!("cargo::rerun-if-changed=src/repository.rs");
    let repository = repository::Repository::from_files(files::FILES, files::ROOTS)
        .unwrap_or_else(|e| panic!("the schema in schema/ does not compile: {e}"));
    let compiled = repository
        .to_compiled()
        .expect("the built-in schema declares no static instances");
    let bytes = postcard::to_allocvec(&compiled).expect("the schema encodes");
    let out = std::path::Path::new(&std::env::var_os("OUT_DIR").expect("OUT_DIR"))
        .join("schema.postcard");
    std::fs::write(&out, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
