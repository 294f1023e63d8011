//! WMI status codes and source spans shared by every parser.

use std::fmt;

/// A byte range into some source text (a query, a MOF file, an object path).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// An empty span at `at`.
    pub fn at(at: usize) -> Self {
        Span { start: at, end: at }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `source`.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let mut line = 1;
    let mut col = 1;
    for (i, c) in source.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

macro_rules! statuses {
    ($($variant:ident = $code:literal, $name:literal;)*) => {
        /// A WMI status: the `WBEM_E_*` constants with their HRESULT codes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum WbemStatus {
            $(
                #[doc = $name]
                $variant,
            )*
        }

        impl WbemStatus {
            /// The HRESULT, e.g. `0x80041010` for [`WbemStatus::InvalidClass`].
            pub fn code(self) -> u32 {
                match self { $(WbemStatus::$variant => $code,)* }
            }

            /// The constant's name, e.g. `WBEM_E_INVALID_CLASS`.
            pub fn name(self) -> &'static str {
                match self { $(WbemStatus::$variant => $name,)* }
            }

            /// Every status this crate knows.
            pub const ALL: &'static [WbemStatus] = &[$(WbemStatus::$variant,)*];
        }
    };
}

statuses! {
    Failed = 0x8004_1001, "WBEM_E_FAILED";
    NotFound = 0x8004_1002, "WBEM_E_NOT_FOUND";
    AccessDenied = 0x8004_1003, "WBEM_E_ACCESS_DENIED";
    TypeMismatch = 0x8004_1005, "WBEM_E_TYPE_MISMATCH";
    OutOfMemory = 0x8004_1006, "WBEM_E_OUT_OF_MEMORY";
    InvalidParameter = 0x8004_1008, "WBEM_E_INVALID_PARAMETER";
    NotSupported = 0x8004_100C, "WBEM_E_NOT_SUPPORTED";
    InvalidNamespace = 0x8004_100E, "WBEM_E_INVALID_NAMESPACE";
    InvalidObject = 0x8004_100F, "WBEM_E_INVALID_OBJECT";
    InvalidClass = 0x8004_1010, "WBEM_E_INVALID_CLASS";
    InvalidQuery = 0x8004_1017, "WBEM_E_INVALID_QUERY";
    InvalidQueryType = 0x8004_1018, "WBEM_E_INVALID_QUERY_TYPE";
    InvalidSyntax = 0x8004_1021, "WBEM_E_INVALID_SYNTAX";
    ProviderNotCapable = 0x8004_1024, "WBEM_E_PROVIDER_NOT_CAPABLE";
    IllegalNull = 0x8004_1028, "WBEM_E_ILLEGAL_NULL";
    InvalidQualifierType = 0x8004_1029, "WBEM_E_INVALID_QUALIFIER_TYPE";
    InvalidPropertyType = 0x8004_102A, "WBEM_E_INVALID_PROPERTY_TYPE";
    InvalidSuperclass = 0x8004_100D, "WBEM_E_INVALID_SUPERCLASS";
    InvalidObjectPath = 0x8004_103A, "WBEM_E_INVALID_OBJECT_PATH";
    UnparsableQuery = 0x8004_1058, "WBEM_E_UNPARSABLE_QUERY";
    NotEventClass = 0x8004_1059, "WBEM_E_NOT_EVENT_CLASS";
    MissingGroupWithin = 0x8004_105A, "WBEM_E_MISSING_GROUP_WITHIN";
    MissingAggregationList = 0x8004_105B, "WBEM_E_MISSING_AGGREGATION_LIST";
    PropertyNotAnObject = 0x8004_105C, "WBEM_E_PROPERTY_NOT_AN_OBJECT";
    AggregatingByObject = 0x8004_105D, "WBEM_E_AGGREGATING_BY_OBJECT";
    InvalidOperator = 0x8004_1063, "WBEM_E_INVALID_OPERATOR";
    QuotaViolation = 0x8004_106C, "WBEM_E_QUOTA_VIOLATION";
    RegistrationTooBroad = 0x8004_2001, "WBEMESS_E_REGISTRATION_TOO_BROAD";
    RegistrationTooPrecise = 0x8004_2002, "WBEMESS_E_REGISTRATION_TOO_PRECISE";
    TimedOut = 0x8004_3001, "WBEM_E_TIMED_OUT";
}

impl fmt::Display for WbemStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:08X})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!(WbemStatus::InvalidSyntax.code(), 0x80041021);
        assert_eq!(WbemStatus::InvalidQuery.code(), 0x80041017);
        assert_eq!(WbemStatus::InvalidClass.code(), 0x80041010);
        assert_eq!(WbemStatus::NotFound.code(), 0x80041002);
        assert_eq!(WbemStatus::InvalidObjectPath.code(), 0x8004103A);
        assert_eq!(WbemStatus::InvalidOperator.code(), 0x80041063);
        assert_eq!(
            WbemStatus::InvalidClass.to_string(),
            "WBEM_E_INVALID_CLASS (0x80041010)"
        );
        let mut codes: Vec<u32> = WbemStatus::ALL.iter().map(|s| s.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), WbemStatus::ALL.len(), "codes are distinct");
    }

    #[test]
    fn line_and_column() {
        let src = "ab\ncd\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 4), (2, 2));
        assert_eq!(line_col(src, 99), (3, 1));
    }
}
