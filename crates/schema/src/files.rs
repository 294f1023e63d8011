//! The MOF files of `schema/`, embedded: the source of the built-in schema, which the
//! build script compiles (see `build.rs`) and [`crate::Repository::from_files`] can parse
//! again (tests).

macro_rules! schema_files {
    ($($path:literal),* $(,)?) => {
        /// Every MOF file of `schema/`, by its path relative to that directory.
        pub const FILES: &[(&str, &str)] = &[
            $(($path, include_str!(concat!("../../../schema/", $path))),)*
        ];
    };
}

schema_files![
    "qualifiers.mof",
    "cimv2.mof",
    "cimv2/events.mof",
    "cimv2/core.mof",
    "cimv2/session.mof",
    "cimv2/account.mof",
    "cimv2/process.mof",
    "cimv2/serversession.mof",
    "cimv2/associations.mof",
    "interop.mof",
    "interop/core.mof",
    "interop/objectmanager.mof",
];

/// The files of [`FILES`] that are compiled; the others are reached through `#pragma include`.
pub const ROOTS: &[&str] = &["cimv2.mof", "interop.mof"];
