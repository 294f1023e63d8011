//! The `interop` namespace's instances: one CIM_ObjectManager (linmgmt itself) and a
//! CIM_Namespace per namespace, which `pywbemcli namespace list` and `server brand` read.

use linmgmt_cim::{Instance, Value};
use linmgmt_engine::MemoryProvider;
use linmgmt_schema::Repository;

/// The namespace that holds the object manager.
const INTEROP: &str = "interop";

fn set(inst: &mut Instance, name: &str, value: &str) {
    // The schema defines these properties; a mismatch would be a schema edit, caught by tests.
    let _ = inst.set(name, Some(Value::String(value.to_owned())));
}

/// A provider for the interop instances of `repository`, served as `host`.
pub fn interop_provider(repository: &Repository, host: &str) -> MemoryProvider {
    let Some(ns) = repository.namespace(INTEROP) else {
        return MemoryProvider::default();
    };
    let mut instances = Vec::new();
    if let Some(class) = ns.class("CIM_ObjectManager") {
        let mut om = Instance::new(class.clone());
        set(&mut om, "SystemCreationClassName", "CIM_ComputerSystem");
        set(&mut om, "SystemName", host);
        set(&mut om, "CreationClassName", "CIM_ObjectManager");
        set(&mut om, "Name", "linmgmt");
        set(&mut om, "ElementName", "linmgmt");
        set(&mut om, "Caption", "linmgmt CIM-XML server");
        set(
            &mut om,
            "Description",
            &format!(
                "linmgmt CIM-XML server version {}",
                env!("CARGO_PKG_VERSION")
            ),
        );
        instances.push(om);
    }
    if let Some(class) = ns.class("CIM_Namespace") {
        for served in repository.namespaces() {
            let mut n = Instance::new(class.clone());
            set(&mut n, "SystemCreationClassName", "CIM_ComputerSystem");
            set(&mut n, "SystemName", host);
            set(
                &mut n,
                "ObjectManagerCreationClassName",
                "CIM_ObjectManager",
            );
            set(&mut n, "ObjectManagerName", "linmgmt");
            set(&mut n, "CreationClassName", "CIM_Namespace");
            set(&mut n, "Name", served.name());
            let _ = n.set("ClassInfo", Some(Value::Uint16(3)));
            instances.push(n);
        }
    }
    MemoryProvider::new(instances)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_object_manager_and_every_namespace() {
        let repo = Repository::builtin().unwrap();
        let p = interop_provider(&repo, "vm");
        let ns = repo.namespace(INTEROP).unwrap();
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        use linmgmt_engine::Provider;
        p.instances(
            ns.class("CIM_ObjectManager").unwrap(),
            linmgmt_engine::Ask::ALL,
            &mut out,
            &mut warnings,
        );
        assert_eq!(out.len(), 1);
        assert!(out[0].path().is_some(), "all keys set");
        out.clear();
        p.instances(
            ns.class("CIM_Namespace").unwrap(),
            linmgmt_engine::Ask::ALL,
            &mut out,
            &mut warnings,
        );
        let names: Vec<String> = out
            .iter()
            .map(|i| i.get("Name").unwrap().to_string())
            .collect();
        assert!(names.contains(&"root/cimv2".to_owned()) && names.contains(&"interop".to_owned()));
        assert!(out.iter().all(|i| i.path().is_some()));
    }
}
