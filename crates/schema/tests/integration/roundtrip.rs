//! Every class of the schema reads back from `write_class` unchanged.

use linmgmt_mof::{Item, ParseConfig, parse, write_class, write_qualifier_decl};
use linmgmt_schema::Repository;

#[test]
fn every_class_round_trips_through_write_class() {
    let repo = Repository::builtin().unwrap();
    let mut checked = 0;
    for ns in repo.namespaces() {
        // The namespace's qualifier declarations type the written qualifiers as the
        // originals were typed.
        let decls: String = ns
            .qualifier_decls()
            .iter()
            .map(write_qualifier_decl)
            .collect();
        for class in ns.classes() {
            let written = write_class(&class.declared);
            let text = format!("{decls}\n{written}");
            let config = ParseConfig {
                namespace: ns.name(),
                include: &|_| None,
            };
            let entries = parse("written.mof", &text, &config)
                .unwrap_or_else(|e| panic!("{e}\n{}\n{written}", e.snippet()));
            let back = entries
                .iter()
                .find_map(|e| match &e.item {
                    Item::Class(c) => Some(c),
                    _ => None,
                })
                .expect("a class");
            assert_eq!(back, &*class.declared, "{}:\n{written}", class.name);
            checked += 1;
        }
        for (decl, entry) in ns
            .qualifier_decls()
            .iter()
            .zip(linmgmt_mof::parse_str(&decls).unwrap().iter())
        {
            assert_eq!(entry.item, Item::Qualifier(decl.clone()));
        }
    }
    assert!(checked >= 30, "{checked} classes");
}
