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

/// What a request asks a provider for.
#[derive(Clone, Copy, Debug)]
pub struct Ask<'a> {
    /// The properties it reads.
    pub wanted: &'a Wanted,
    /// The keys of the one instance it is after (`GetInstance`, a `WHERE Key = '…'`);
    /// empty for every instance. A provider may give only the instances with these keys,
    /// or more: the engine picks.
    pub keys: &'a [KeyBinding],
}

impl Ask<'static> {
    /// Every property of every instance: enumerations, events.
    pub const ALL: Ask<'static> = Ask {
        wanted: &Wanted::All,
        keys: &[],
    };
}

/// A source of instances for some classes.
pub trait Provider: Send + Sync {
    /// Whether this provider fills `class` (exactly that class, not its subclasses) in `namespace`.
    fn serves(&self, namespace: &str, class: &Name) -> bool;

    /// Appends the instances of `class` that `ask` is after to `out`, and a warning per
    /// cause of missing data; properties not [wanted](Wanted) may be left NULL.
    fn instances(
        &self,
        class: &Arc<ClassDef>,
        ask: Ask<'_>,
        out: &mut Vec<Instance>,
        warnings: &mut Vec<Warning>,
    );
}
