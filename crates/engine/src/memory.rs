//! An in-memory provider: fixed instances, for tests and for static data such as the
//! interop namespace's object manager.

use crate::{Ask, Provider, Warning};
use linmgmt_cim::{ClassDef, Instance, Name};
use std::sync::Arc;

/// Serves a fixed list of instances, each under its own class and that class's namespace.
#[derive(Clone, Debug, Default)]
pub struct MemoryProvider {
    instances: Vec<Instance>,
}

impl MemoryProvider {
    /// A provider for `instances`.
    pub fn new(instances: Vec<Instance>) -> Self {
        MemoryProvider { instances }
    }
}

/// Both names are already in `NamespaceName`'s normal form (the engine passes the
/// repository's, and instances carry their class's), so no allocation per instance.
fn same_namespace(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl Provider for MemoryProvider {
    fn serves(&self, namespace: &str, class: &Name) -> bool {
        self.instances
            .iter()
            .any(|i| i.class_name() == class && same_namespace(&i.class().namespace, namespace))
    }

    fn instances(
        &self,
        class: &Arc<ClassDef>,
        _ask: Ask<'_>,
        out: &mut Vec<Instance>,
        _warnings: &mut Vec<Warning>,
    ) {
        out.extend(
            self.instances
                .iter()
                .filter(|i| {
                    i.class_name() == &class.name
                        && same_namespace(&i.class().namespace, &class.namespace)
                })
                .cloned(),
        );
    }
}
