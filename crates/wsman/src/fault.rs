//! SOAP faults (DSP0226 §14, MS-WSMV §4.10): the code, the WS-Management subcode, a
//! reason, an optional fault detail URI, and the WMI error code Windows reports in its
//! `f:WSManFault` and `MSFT_WmiError` details.

use linmgmt_cim::WbemStatus;

/// `s:Code/s:Value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultCode {
    /// The request is at fault.
    Sender,
    /// The server is.
    Receiver,
    /// A header marked `mustUnderstand` is not understood.
    MustUnderstand,
}

/// `s:Code/s:Subcode/s:Value`: the faults of DSP0226 Table 38 that this server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // The names are the spec's.
pub enum Subcode {
    AccessDenied,
    ActionNotSupported,
    CannotProcessFilter,
    DeliveryModeRequestedUnavailable,
    DestinationUnreachable,
    EncodingLimit,
    EventSourceUnableToProcess,
    FilterDialectRequestedUnavailable,
    InternalError,
    InvalidEnumerationContext,
    InvalidExpirationTime,
    InvalidMessageInformationHeader,
    InvalidOptions,
    InvalidSelectors,
    MessageInformationHeaderRequired,
    /// Used with [`FaultCode::MustUnderstand`], which has no subcode on the wire.
    MustUnderstand,
    QuotaLimit,
    SchemaValidationError,
    TimedOut,
    UnableToRenew,
    UnsupportedExpirationType,
    UnsupportedFeature,
}

impl Subcode {
    /// The qualified name on the wire (prefixes as the envelope declares them) and the
    /// fault's `wsa:Action`.
    pub fn qname(self) -> (&'static str, &'static str) {
        use Subcode::*;
        const WSA: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";
        const WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
        const WSEN: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault";
        const WSE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/fault";
        match self {
            AccessDenied => ("wsman:AccessDenied", WSMAN),
            ActionNotSupported => ("wsa:ActionNotSupported", WSA),
            CannotProcessFilter => ("wsen:CannotProcessFilter", WSEN),
            DeliveryModeRequestedUnavailable => ("wse:DeliveryModeRequestedUnavailable", WSE),
            DestinationUnreachable => ("wsa:DestinationUnreachable", WSA),
            EncodingLimit => ("wsman:EncodingLimit", WSMAN),
            EventSourceUnableToProcess => ("wse:EventSourceUnableToProcess", WSE),
            FilterDialectRequestedUnavailable => ("wsen:FilterDialectRequestedUnavailable", WSEN),
            InternalError => ("wsman:InternalError", WSMAN),
            InvalidEnumerationContext => ("wsen:InvalidEnumerationContext", WSEN),
            InvalidExpirationTime => ("wsen:InvalidExpirationTime", WSEN),
            InvalidMessageInformationHeader => ("wsa:InvalidMessageInformationHeader", WSA),
            InvalidOptions => ("wsman:InvalidOptions", WSMAN),
            InvalidSelectors => ("wsman:InvalidSelectors", WSMAN),
            MessageInformationHeaderRequired => ("wsa:MessageInformationHeaderRequired", WSA),
            MustUnderstand => ("s:MustUnderstand", WSA),
            QuotaLimit => ("wsman:QuotaLimit", WSMAN),
            SchemaValidationError => ("wsman:SchemaValidationError", WSMAN),
            TimedOut => ("wsman:TimedOut", WSMAN),
            UnableToRenew => ("wse:UnableToRenew", WSE),
            UnsupportedExpirationType => ("wsen:UnsupportedExpirationType", WSEN),
            UnsupportedFeature => ("wsman:UnsupportedFeature", WSMAN),
        }
    }

    /// Whose fault it is.
    pub fn code(self) -> FaultCode {
        use Subcode::*;
        match self {
            MustUnderstand => FaultCode::MustUnderstand,
            InternalError | TimedOut | EventSourceUnableToProcess | QuotaLimit => {
                FaultCode::Receiver
            }
            _ => FaultCode::Sender,
        }
    }
}

/// A fault to send.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", subcode.qname().0)]
pub struct Fault {
    /// The subcode (and with it the code).
    pub subcode: Subcode,
    /// `s:Reason/s:Text`: what went wrong, for a person.
    pub reason: String,
    /// `s:Detail/wsman:FaultDetail`, a DSP0226 fault detail URI.
    pub detail: Option<&'static str>,
    /// The WMI error (`WBEM_E_*`) behind it, if any.
    pub wmi: Option<WbemStatus>,
}

/// Fault detail URIs (DSP0226 Table 38).
pub mod detail {
    /// The resource URI names no class or instance.
    pub const INVALID_RESOURCE_URI: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidResourceURI";
    /// The resource URI's class has no instance with these selectors.
    pub const RESOURCE_NOT_FOUND: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/ResourceNotFound";
    /// A reply address other than anonymous.
    pub const ADDRESSING_MODE: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/AddressingMode";
    /// MaxEnvelopeSize too small for one item.
    pub const MAX_ENVELOPE_SIZE: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MaxEnvelopeSize";
    /// MaxEnvelopeSize out of range.
    pub const MAX_ENVELOPE_SIZE_EXCEEDED: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MaxEnvelopeSizeExceeded";
    /// An unusable OperationTimeout.
    pub const OPERATION_TIMEOUT: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/OperationTimeout";
    /// A selector that is not a key.
    pub const UNEXPECTED_SELECTORS: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors";
    /// A key that is missing.
    pub const INSUFFICIENT_SELECTORS: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InsufficientSelectors";
    /// A selector value of the wrong type.
    pub const TYPE_MISMATCH: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/TypeMismatch";
    /// A filter with a syntax error.
    pub const FILTER_SYNTAX: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidFilter";
    /// An unsupported option.
    pub const NOT_SUPPORTED: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/NotSupported";
    /// A context over a limit.
    pub const MAX_ENUMERATION_CONTEXTS: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MaxEnumerationContexts";
}

impl Fault {
    /// A fault without detail.
    pub fn new(subcode: Subcode, reason: impl Into<String>) -> Fault {
        Fault {
            subcode,
            reason: reason.into(),
            detail: None,
            wmi: None,
        }
    }

    /// With a fault detail URI.
    pub fn with_detail(mut self, detail: &'static str) -> Fault {
        self.detail = Some(detail);
        self
    }

    /// With the WMI error behind it.
    pub fn with_wmi(mut self, status: WbemStatus) -> Fault {
        self.wmi = Some(status);
        self
    }

    /// The fault for a WMI error, as WinRM maps them: an unknown class or instance is
    /// `wsa:DestinationUnreachable`, a bad query `wsen:CannotProcessFilter`, and so on.
    pub fn from_wmi(status: WbemStatus, reason: impl Into<String>) -> Fault {
        use WbemStatus as W;
        let (subcode, detail) = match status {
            W::InvalidClass | W::InvalidNamespace => (
                Subcode::DestinationUnreachable,
                Some(detail::INVALID_RESOURCE_URI),
            ),
            W::NotFound => (
                Subcode::DestinationUnreachable,
                Some(detail::RESOURCE_NOT_FOUND),
            ),
            W::InvalidQuery
            | W::InvalidQueryType
            | W::InvalidSyntax
            | W::UnparsableQuery
            | W::NotEventClass
            | W::MissingGroupWithin
            | W::MissingAggregationList
            | W::PropertyNotAnObject
            | W::AggregatingByObject
            | W::InvalidOperator
            | W::TypeMismatch
            | W::RegistrationTooBroad
            | W::RegistrationTooPrecise => {
                (Subcode::CannotProcessFilter, Some(detail::FILTER_SYNTAX))
            }
            W::AccessDenied => (Subcode::AccessDenied, None),
            W::InvalidParameter | W::InvalidObjectPath => (Subcode::InvalidSelectors, None),
            W::NotSupported => (Subcode::ActionNotSupported, None),
            W::QuotaViolation => (Subcode::QuotaLimit, None),
            W::TimedOut => (Subcode::TimedOut, None),
            _ => (Subcode::InternalError, None),
        };
        Fault {
            subcode,
            reason: reason.into(),
            detail,
            wmi: Some(status),
        }
    }
}
