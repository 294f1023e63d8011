//! An in-memory provider: fixed instances, for tests and for static data such as the
//! interop namespace's object manager.

use crate::{Provider, Warning};
use linmgmt_cim::{ClassDef, Instance, Name};
use std::sync::Arc;

/// Serves a fixed list of instances, each under its own class.
#[derive(Clone, Debug, Default)]
pub struct MemoryProvider {
    namespace: String,
    instances: Vec<Instance>,
}

impl MemoryProvider {
    /// A provider for `instances` in `namespace`.
    pub fn new(namespace: impl Into<String>, instances: Vec<Instance>) -> Self {
        MemoryProvider {
            namespace: namespace.into().replace('\\', "/"),
            instances,
        }
    }
}

impl Provider for MemoryProvider {
    fn serves(&self, namespace: &str, class: &Name) -> bool {
        namespace
            .replace('\\', "/")
            .eq_ignore_ascii_case(&self.namespace)
            && self.instances.iter().any(|i| i.class_name() == class)
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
                .filter(|i| i.class_name() == &class.name)
                .cloned(),
        );
    }
}
