//! CIM-XML (DSP0200/DSP0201) for linmgmt.
//!
//! This crate is pure: it turns CIM objects into CIM-XML text, decodes request bodies into
//! typed [`Request`]s and encodes responses. It never touches the network, the file
//! system or the clock.
//!
//! Decoding goes bytes → a bounded element tree ([`Limits`]: depth, element count; DOCTYPE
//! and entity declarations refused) → one hand-written parser per element → [`Request`].
//! Output never uses self-closing tags for elements that may hold content, because
//! sblim-wbemcli's parser rejects them.

mod encode;
mod request;
mod response;
mod status;
mod tree;

pub use encode::{
    ClassOptions, InstanceOptions, class, class_with, escape, instance, instance_name,
    instance_with, named_instance, value,
};
pub use request::{
    AssociationFilter, AssociationKind, Failure, INTRINSIC_METHODS, InstanceFlags, InstanceName,
    KeyText, ObjectName, OpenParams, Operation, PropertyList, ProtocolError, ProtocolErrorKind,
    PullShape, Request, decode,
};
pub use response::{
    class_name, class_path, error_response, instance_path, instance_with_path, ireturnvalue,
    local_namespace_path, named, namespace_path, object_path, object_with_path, param_value,
    pull_params, pull_result, qualifier_declaration, response,
};
pub use status::CimStatus;
pub use tree::{Element, Limits, TreeError, parse as parse_tree};
