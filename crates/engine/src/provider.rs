//! The provider interface: who fills which class.

use linmgmt_cim::{ClassDef, Instance, Name};
use std::fmt;
use std::sync::Arc;

/// Something missing from a partial result, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// One line for people, e.g. `cannot read /proc/812/fd: permission denied`.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A source of instances for some classes.
pub trait Provider: Send + Sync {
    /// Whether this provider fills `class` (exactly that class, not its subclasses) in `namespace`.
    fn serves(&self, namespace: &str, class: &Name) -> bool;

    /// Appends the instances of `class` to `out`, and a warning per cause of missing data.
    fn instances(
        &self,
        class: &Arc<ClassDef>,
        out: &mut Vec<Instance>,
        warnings: &mut Vec<Warning>,
    );
}
