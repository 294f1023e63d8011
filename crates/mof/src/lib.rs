//! MOF, the Managed Object Format of DMTF DSP0004 and WMI's `mofcomp`, read and written
//! over the [`linmgmt_cim`] model.
//!
//! This crate is pure: `#pragma include` goes through a resolver the caller hands in, so
//! the parser never touches the file system.
//!
//! * [`parse`] turns MOF text into [`Entry`] items (qualifier declarations, classes and
//!   instances), each with the namespace `#pragma namespace` put it in;
//! * [`instantiate`] types an [`InstanceSpec`] against its resolved class;
//! * [`write_class`], [`write_qualifier_decl`] and [`write_instance`] print MOF that
//!   [`parse`] reads back to the same model.
//!
//! ```
//! use linmgmt_mof::{Item, parse_str};
//! let entries = parse_str("class Demo { [Key] string Id; uint8 Level = 3; };").unwrap();
//! let Item::Class(class) = &entries[0].item else { panic!() };
//! assert_eq!(class.properties.len(), 2);
//! assert!(parse_str("class Demo { uint8 Level = 300; };").is_err());
//! ```

mod error;
mod lexer;
mod literal;
mod parser;
mod writer;

pub use error::{MofError, MofErrorKind, Origin};
pub use literal::Literal;
pub use parser::{MAX_INCLUDE_DEPTH, MAX_LIST_LEN, MAX_SOURCE_LEN, MAX_TOTAL_LEN};
pub use writer::{write_class, write_instance, write_qualifier_decl};

use linmgmt_cim::{Class, ClassDef, Instance, Name, ObjectPath, QualifierDecl, Span};
use std::collections::HashMap;
use std::sync::Arc;

/// One top-level MOF production.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `qualifier Name : type ..., scope(...), flavor(...);`
    Qualifier(QualifierDecl),
    /// `class Name : Super { ... };`, as declared (only its own features).
    Class(Class),
    /// `instance of Class { ... };`, with untyped values.
    Instance(InstanceSpec),
}

/// An item with the namespace it belongs to and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The namespace, `/`-separated, as the last `#pragma namespace` set it.
    pub namespace: String,
    /// The item.
    pub item: Item,
    /// The file it is in.
    pub origin: Origin,
    /// Its place in that file.
    pub span: Span,
}

impl Entry {
    /// An error about this item, pointing at its first line.
    pub fn error(&self, kind: MofErrorKind, message: impl Into<String>) -> MofError {
        let start = Span::new(self.span.start, self.span.start + 1);
        self.origin.error(kind, message, start)
    }
}

/// An `instance of` declaration. Its values stay untyped literals until the class is
/// resolved: see [`instantiate`].
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceSpec {
    /// The class named after `instance of`.
    pub class: Name,
    /// The alias given with `as $alias`, without the `$`.
    pub alias: Option<String>,
    /// The property values in the order written, each with the span of its value.
    pub properties: Vec<(Name, Literal, Span)>,
    /// The file it is in.
    pub origin: Origin,
}

/// How to parse: the starting namespace and the `#pragma include` resolver.
pub struct ParseConfig<'a> {
    /// The namespace before any `#pragma namespace`, e.g. `root/cimv2`.
    pub namespace: &'a str,
    /// Returns the text of an included file, by its path relative to the including file's
    /// directory (`/`-separated, `.` and `..` folded), or `None` if there is none.
    pub include: &'a dyn Fn(&str) -> Option<String>,
}

/// Parses the MOF text `source` of the file named `file`.
pub fn parse(file: &str, source: &str, config: &ParseConfig<'_>) -> Result<Vec<Entry>, MofError> {
    let mut session = parser::Session::new(config);
    session.parse_file(file, source)?;
    Ok(session.finish())
}

/// Parses MOF text without includes, starting in `root/cimv2`; the file is named `<input>`.
pub fn parse_str(source: &str) -> Result<Vec<Entry>, MofError> {
    let config = ParseConfig {
        namespace: "root/cimv2",
        include: &|_| None,
    };
    parse("<input>", source, &config)
}

/// Types an instance declaration against its resolved class: every literal is converted to
/// its property's type with exact range checks; `$alias` references are looked up in
/// `aliases` (the paths of instances declared earlier).
pub fn instantiate(
    spec: &InstanceSpec,
    class: Arc<ClassDef>,
    aliases: &HashMap<Name, ObjectPath>,
) -> Result<Instance, MofError> {
    let mut instance = Instance::new(class.clone());
    for (name, lit, span) in &spec.properties {
        let Some(prop) = class.property(name.as_str()) else {
            return Err(spec.origin.error(
                MofErrorKind::UnknownProperty,
                format!("class {} has no property {name}", class.name),
                *span,
            ));
        };
        let lookup = |a: &str| aliases.get(&Name::new(a)).cloned();
        let value = lit.to_value_with(&prop.ty, &lookup).map_err(|e| {
            let kind = if matches!(lit, Literal::Alias(_)) {
                MofErrorKind::UnknownAlias
            } else {
                parser::value_error_kind(&e)
            };
            spec.origin.error(
                kind,
                format!(
                    "{}.{} ({}): {}",
                    class.name,
                    prop.name,
                    prop.ty,
                    parser::describe(&e)
                ),
                *span,
            )
        })?;
        instance.set(name.as_str(), value).map_err(|e| {
            spec.origin
                .error(MofErrorKind::TypeMismatch, e.to_string(), *span)
        })?;
    }
    Ok(instance)
}
