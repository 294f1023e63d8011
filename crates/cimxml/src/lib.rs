//! CIM-XML (DSP0201) for linmgmt.
//!
//! This crate is pure: it turns CIM objects into CIM-XML text (and, with the server,
//! requests back into operations). Output never uses self-closing tags for elements
//! that may hold content, because sblim-wbemcli's parser rejects them.

mod encode;

pub use encode::{class, escape, instance, instance_name, named_instance, value};
