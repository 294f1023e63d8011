//! CIM status codes (DSP0200 §5.3.1) and how WMI's statuses map to them.

use linmgmt_cim::WbemStatus;

/// A CIM status code as carried in `<ERROR CODE="..">`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum CimStatus {
    Failed = 1,
    AccessDenied = 2,
    InvalidNamespace = 3,
    InvalidParameter = 4,
    InvalidClass = 5,
    NotFound = 6,
    NotSupported = 7,
    NoSuchProperty = 12,
    TypeMismatch = 13,
    QueryLanguageNotSupported = 14,
    InvalidQuery = 15,
    MethodNotFound = 17,
    InvalidEnumerationContext = 21,
    InvalidOperationTimeout = 22,
    FilteredEnumerationNotSupported = 25,
    ContinuationOnErrorNotSupported = 26,
    ServerLimitsExceeded = 27,
    ServerIsShuttingDown = 28,
}

impl CimStatus {
    /// The numeric code.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The DSP0200 name, e.g. `CIM_ERR_NOT_SUPPORTED`.
    pub fn name(self) -> &'static str {
        match self {
            CimStatus::Failed => "CIM_ERR_FAILED",
            CimStatus::AccessDenied => "CIM_ERR_ACCESS_DENIED",
            CimStatus::InvalidNamespace => "CIM_ERR_INVALID_NAMESPACE",
            CimStatus::InvalidParameter => "CIM_ERR_INVALID_PARAMETER",
            CimStatus::InvalidClass => "CIM_ERR_INVALID_CLASS",
            CimStatus::NotFound => "CIM_ERR_NOT_FOUND",
            CimStatus::NotSupported => "CIM_ERR_NOT_SUPPORTED",
            CimStatus::NoSuchProperty => "CIM_ERR_NO_SUCH_PROPERTY",
            CimStatus::TypeMismatch => "CIM_ERR_TYPE_MISMATCH",
            CimStatus::QueryLanguageNotSupported => "CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED",
            CimStatus::InvalidQuery => "CIM_ERR_INVALID_QUERY",
            CimStatus::MethodNotFound => "CIM_ERR_METHOD_NOT_FOUND",
            CimStatus::InvalidEnumerationContext => "CIM_ERR_INVALID_ENUMERATION_CONTEXT",
            CimStatus::InvalidOperationTimeout => "CIM_ERR_INVALID_OPERATION_TIMEOUT",
            CimStatus::FilteredEnumerationNotSupported => {
                "CIM_ERR_FILTERED_ENUMERATION_NOT_SUPPORTED"
            }
            CimStatus::ContinuationOnErrorNotSupported => {
                "CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED"
            }
            CimStatus::ServerLimitsExceeded => "CIM_ERR_SERVER_LIMITS_EXCEEDED",
            CimStatus::ServerIsShuttingDown => "CIM_ERR_SERVER_IS_SHUTTING_DOWN",
        }
    }

    /// The CIM status for a WMI status.
    pub fn from_wbem(status: WbemStatus) -> CimStatus {
        match status {
            WbemStatus::AccessDenied => CimStatus::AccessDenied,
            WbemStatus::InvalidNamespace => CimStatus::InvalidNamespace,
            WbemStatus::InvalidParameter | WbemStatus::InvalidObjectPath => {
                CimStatus::InvalidParameter
            }
            WbemStatus::InvalidClass | WbemStatus::InvalidSuperclass => CimStatus::InvalidClass,
            WbemStatus::NotFound => CimStatus::NotFound,
            WbemStatus::NotSupported | WbemStatus::ProviderNotCapable => CimStatus::NotSupported,
            WbemStatus::TypeMismatch
            | WbemStatus::InvalidPropertyType
            | WbemStatus::InvalidQualifierType => CimStatus::TypeMismatch,
            WbemStatus::InvalidQuery
            | WbemStatus::InvalidQueryType
            | WbemStatus::InvalidSyntax
            | WbemStatus::UnparsableQuery
            | WbemStatus::InvalidOperator
            | WbemStatus::NotEventClass
            | WbemStatus::MissingGroupWithin
            | WbemStatus::MissingAggregationList
            | WbemStatus::PropertyNotAnObject
            | WbemStatus::AggregatingByObject
            | WbemStatus::RegistrationTooPrecise => CimStatus::InvalidQuery,
            WbemStatus::QuotaViolation | WbemStatus::OutOfMemory => CimStatus::ServerLimitsExceeded,
            _ => CimStatus::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wmi_errors_map_to_cim_codes() {
        assert_eq!(CimStatus::from_wbem(WbemStatus::InvalidNamespace).code(), 3);
        assert_eq!(CimStatus::from_wbem(WbemStatus::InvalidClass).code(), 5);
        assert_eq!(CimStatus::from_wbem(WbemStatus::NotFound).code(), 6);
        assert_eq!(CimStatus::from_wbem(WbemStatus::NotSupported).code(), 7);
        assert_eq!(CimStatus::from_wbem(WbemStatus::InvalidQuery).code(), 15);
        assert_eq!(CimStatus::from_wbem(WbemStatus::InvalidSyntax).code(), 15);
        assert_eq!(
            CimStatus::from_wbem(WbemStatus::InvalidObjectPath).code(),
            4
        );
        assert_eq!(CimStatus::from_wbem(WbemStatus::Failed).code(), 1);
        for s in WbemStatus::ALL {
            assert!(CimStatus::from_wbem(*s).code() >= 1);
        }
    }
}
