//! How long loading the built-in schema takes: decoding what the build compiled
//! (`builtin`, what every run does), against parsing and resolving the MOF again
//! (`from_files`, what every run did before) and parsing alone (`parse_only`).

use linmgmt_schema::Repository;

fn main() {
    divan::main();
}

#[divan::bench]
fn builtin() -> Repository {
    Repository::builtin().expect("the built-in schema loads")
}

#[divan::bench]
fn from_files() -> Repository {
    Repository::from_files(linmgmt_schema::FILES, linmgmt_schema::ROOTS).expect("the schema loads")
}

#[divan::bench]
fn parse_only() -> usize {
    let lookup = |path: &str| {
        (linmgmt_schema::FILES.iter())
            .find(|(p, _)| *p == path)
            .map(|(_, t)| (*t).to_owned())
    };
    let config = linmgmt_mof::ParseConfig {
        namespace: "root/cimv2",
        include: &lookup,
    };
    linmgmt_schema::ROOTS
        .iter()
        .map(|root| {
            let text = lookup(root).expect("root");
            linmgmt_mof::parse(root, &text, &config)
                .expect("parses")
                .len()
        })
        .sum()
}
