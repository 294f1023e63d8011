//! The provider interface: who fills which class.

use linmgmt_cim::{ClassDef, Instance, KeyBinding, Name};
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

/// The properties a request reads of a class's instances. A provider may leave the others
/// NULL when that saves work (the engine drops them before anyone sees them); keys are
/// always filled, since paths are made of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Wanted {
    /// Every property: enumerations, `GetInstance`, associations, events.
    #[default]
    All,
    /// Only these: a query's select list and what its WHERE clause reads.
    Only(Vec<Name>),
}

impl Wanted {
    /// Whether the request reads `property`.
    pub fn includes(&self, property: &str) -> bool {
        match self {
            Wanted::All => true,
            Wanted::Only(names) => names.iter().any(|n| n.is(property)),
        }
    }

    /// Whether only `class`'s keys are wanted (the paths of the instances).
    pub fn keys_only(&self, class: &ClassDef) -> bool {
        match self {
            Wanted::All => false,
            Wanted::Only(names) => names
                .iter()
                .all(|n| class.property(n.as_str()).is_some_and(|p| p.is_key())),
        }
    }
}

/// A source of instances for some classes.
pub trait Provider: Send + Sync {
    /// Whether this provider fills `class` (exactly that class, not its subclasses) in `namespace`.
    fn serves(&self, namespace: &str, class: &Name) -> bool;

    /// Appends the instances of `class` to `out`, and a warning per cause of missing data;
    /// properties not [wanted](Wanted) may be left NULL.
    fn instances(
        &self,
        class: &Arc<ClassDef>,
        wanted: &Wanted,
        out: &mut Vec<Instance>,
        warnings: &mut Vec<Warning>,
    );

    /// Appends the instances of `class` that have the keys `keys` (a `GetInstance`): a
    /// provider that can find them without building the others overrides this. Others may
    /// come too: the engine picks the one asked for.
    fn instances_by_keys(
        &self,
        class: &Arc<ClassDef>,
        keys: &[KeyBinding],
        out: &mut Vec<Instance>,
        warnings: &mut Vec<Warning>,
    ) {
        let _ = keys;
        self.instances(class, &Wanted::All, out, warnings);
    }
}
