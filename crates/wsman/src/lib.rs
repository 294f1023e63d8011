//! WS-Management for linmgmt: the protocol WinRM clients speak (DSP0226 WS-Management,
//! DSP0227 WS-CIM binding, DSP0230 WS-CIM mapping, Microsoft's MS-WSMV).
//!
//! This crate is pure: it decodes a SOAP envelope into a typed [`Request`] and encodes
//! typed results (instances, endpoint references, pages, faults) into envelopes. It never
//! touches the network, the clock or randomness; the server passes in message ids.
//!
//! Decoding goes bytes → (UTF-16 transcoded) → the bounded element tree of
//! `linmgmt-cimxml` (depth and element limits, DOCTYPE and entities refused) → a
//! namespace-resolved view ([`xml`]) → one parser per header and body element. What a
//! request gets wrong is a [`Fault`] carrying the request's MessageID when it could be read,
//! so even the fault answers `wsa:RelatesTo` byte for byte.

pub mod encode;
mod fault;
pub mod ns;
mod request;
mod uri;
mod xml;

pub use encode::{InstanceStyle, Mode};
pub use fault::{Fault, FaultCode, Subcode, detail};
pub use request::{
    AssociationFilter, AssociationKind, Enumerate, Epr, Filter, Header, Operation, Pull, Rejected,
    Request, Selector, SelectorValue, Subscribe, decode, parse_duration,
};
pub use uri::{ResourceUri, UriStyle};
