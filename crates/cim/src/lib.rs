//! The CIM object model that every other linmgmt crate speaks.
//!
//! This crate is pure: it never touches the file system, the network or the clock
//! (the current time is always a parameter). It holds
//!
//! * [`Name`], a case-insensitive identifier as CIM and WMI compare them;
//! * [`CimType`] and [`Value`], every CIM intrinsic type with exact range checks;
//! * [`CimDateTime`], DMTF timestamps and intervals with `*` wildcards;
//! * [`ObjectPath`], WMI object paths parsed and printed in canonical form;
//! * [`Class`], [`Property`], [`Qualifier`] as declared in MOF, and [`ClassDef`],
//!   a class resolved against its ancestors;
//! * [`Instance`] and the WMI system properties (`__CLASS`, `__PATH`, ...);
//! * [`WbemStatus`], the WMI error constants every failure maps to, and [`Span`].

mod class;
mod datetime;
mod instance;
mod name;
mod namespace;
mod path;
mod status;
mod types;
mod value;

pub use class::{
    Class, ClassDef, Flavor, Method, Parameter, Property, PropertyDef, Qualifier, QualifierDecl,
    QualifierScope, ResolveError, resolve_class,
};
pub use datetime::{CimDateTime, DateTimeError, Interval, Timestamp, filetime, from_filetime};
pub use instance::{Instance, InstanceError, SYSTEM_PROPERTIES, SystemContext};
pub use name::Name;
pub use namespace::NamespaceName;
pub use path::{KeyBinding, KeyValue, ObjectPath, PathError};
pub use status::{Span, WbemStatus, line_col};
pub use types::{CimType, ScalarType};
pub use value::{Value, ValueError};
