//! The linmgmt class repository: the MOF schema of `schema/`, parsed with [`linmgmt_mof`]
//! and resolved per namespace with [`linmgmt_cim::resolve_class`] — when linmgmt is built:
//! the build script stores the resolved classes in a compact encoding that
//! [`Repository::builtin`] decodes (about a third of the time parsing takes, and no MOF
//! error can surface at run time).
//!
//! This crate is pure: the schema is compiled in, and [`Repository::from_files`] parses
//! other text from the caller (tests).
//!
//! ```
//! use linmgmt_schema::Repository;
//! let repo = Repository::builtin().unwrap();
//! let cimv2 = repo.namespace(r"ROOT\cimv2").unwrap();
//! let session = cimv2.class("win32_logonsession").unwrap();
//! assert_eq!(session.properties.len(), 9);
//! assert!(cimv2.is_a("Win32_LogonSession", "CIM_ManagedSystemElement"));
//! ```

mod files;
mod repository;

pub use files::{FILES, ROOTS};
pub use repository::{Namespace, Repository, SchemaError};

impl Repository {
    /// The schema compiled into the binary: [`FILES`], starting from [`ROOTS`], parsed and
    /// resolved when linmgmt was built (`build.rs`), so that no run parses MOF.
    pub fn builtin() -> Result<Repository, SchemaError> {
        static COMPILED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/schema.postcard"));
        let compiled: repository::Compiled =
            postcard::from_bytes(COMPILED).map_err(|e| SchemaError::Compiled(e.to_string()))?;
        Ok(Repository::from_compiled(compiled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the build compiled is what parsing the same files now gives.
    #[test]
    fn the_compiled_schema_is_the_parsed_one() {
        let parsed = Repository::from_files(FILES, ROOTS).expect("the schema parses");
        let built = Repository::builtin().expect("the compiled schema decodes");
        let compiled = built.to_compiled().expect("no instances");
        assert_eq!(Some(compiled), parsed.to_compiled());
        let names = |r: &Repository| -> Vec<String> {
            r.namespaces()
                .flat_map(|ns| ns.classes().map(|c| format!("{}:{}", ns.name(), c.name)))
                .collect()
        };
        assert_eq!(names(&built), names(&parsed));
        let cimv2 = built.namespace("root/cimv2").expect("cimv2");
        assert!(
            cimv2.class("WIN32_LOGONSESSION").is_some(),
            "the index is rebuilt"
        );
        assert!(cimv2.is_a("Win32_LogonSession", "CIM_ManagedSystemElement"));
    }
}
