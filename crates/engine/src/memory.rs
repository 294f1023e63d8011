//! An in-memory provider: fixed instances, for tests and for static data such as the
//! interop namespace's object manager.

use crate::{Provider, Warning};
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

/// Namespace names compare without regard to case or slash direction.
fn same_namespace(a: &str, b: &str) -> bool {
    linmgmt_cim::NamespaceName::new(a).is(b)
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
