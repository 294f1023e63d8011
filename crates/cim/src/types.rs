//! CIM intrinsic types.

use crate::Name;
use std::fmt;

/// The type of one scalar CIM value.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ScalarType {
    /// `boolean`
    Boolean,
    /// `char16`: one UCS-2 code unit.
    Char16,
    /// `string`
    String,
    /// `datetime`: a timestamp or an interval.
    Datetime,
    /// `real32`
    Real32,
    /// `real64`
    Real64,
    /// `uint8`
    Uint8,
    /// `sint8`
    Sint8,
    /// `uint16`
    Uint16,
    /// `sint16`
    Sint16,
    /// `uint32`
    Uint32,
    /// `sint32`
    Sint32,
    /// `uint64`
    Uint64,
    /// `sint64`
    Sint64,
    /// `<Class> REF`: a reference to an instance of the class (any class if `None`).
    Reference(Option<Name>),
    /// `object`: an embedded instance (WMI's `TargetInstance`).
    Object,
}

impl ScalarType {
    /// Looks up an intrinsic type by its MOF keyword (case-insensitive).
    pub fn from_keyword(word: &str) -> Option<ScalarType> {
        let t = match word.to_ascii_lowercase().as_str() {
            "boolean" => ScalarType::Boolean,
            "char16" => ScalarType::Char16,
            "string" => ScalarType::String,
            "datetime" => ScalarType::Datetime,
            "real32" => ScalarType::Real32,
            "real64" => ScalarType::Real64,
            "uint8" => ScalarType::Uint8,
            "sint8" => ScalarType::Sint8,
            "uint16" => ScalarType::Uint16,
            "sint16" => ScalarType::Sint16,
            "uint32" => ScalarType::Uint32,
            "sint32" => ScalarType::Sint32,
            "uint64" => ScalarType::Uint64,
            "sint64" => ScalarType::Sint64,
            "object" => ScalarType::Object,
            _ => return None,
        };
        Some(t)
    }

    /// The MOF keyword (`uint32`, `string`, ...); `ref` for references.
    pub fn keyword(&self) -> &'static str {
        match self {
            ScalarType::Boolean => "boolean",
            ScalarType::Char16 => "char16",
            ScalarType::String => "string",
            ScalarType::Datetime => "datetime",
            ScalarType::Real32 => "real32",
            ScalarType::Real64 => "real64",
            ScalarType::Uint8 => "uint8",
            ScalarType::Sint8 => "sint8",
            ScalarType::Uint16 => "uint16",
            ScalarType::Sint16 => "sint16",
            ScalarType::Uint32 => "uint32",
            ScalarType::Sint32 => "sint32",
            ScalarType::Uint64 => "uint64",
            ScalarType::Sint64 => "sint64",
            ScalarType::Reference(_) => "reference",
            ScalarType::Object => "object",
        }
    }

    /// The inclusive range of an integer type, `None` for other types.
    pub fn integer_range(&self) -> Option<(i128, i128)> {
        let r = match self {
            ScalarType::Uint8 => (0, u8::MAX as i128),
            ScalarType::Sint8 => (i8::MIN as i128, i8::MAX as i128),
            ScalarType::Uint16 => (0, u16::MAX as i128),
            ScalarType::Sint16 => (i16::MIN as i128, i16::MAX as i128),
            ScalarType::Uint32 => (0, u32::MAX as i128),
            ScalarType::Sint32 => (i32::MIN as i128, i32::MAX as i128),
            ScalarType::Uint64 => (0, u64::MAX as i128),
            ScalarType::Sint64 => (i64::MIN as i128, i64::MAX as i128),
            _ => return None,
        };
        Some(r)
    }

    /// Whether this is one of the eight integer types.
    pub fn is_integer(&self) -> bool {
        self.integer_range().is_some()
    }

    /// Whether this is `real32` or `real64`.
    pub fn is_real(&self) -> bool {
        matches!(self, ScalarType::Real32 | ScalarType::Real64)
    }
}

/// A full CIM type: a scalar type, or an array of it.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CimType {
    /// The element type.
    pub scalar: ScalarType,
    /// Whether values are arrays of `scalar`.
    pub array: bool,
}

impl CimType {
    /// A scalar type.
    pub fn scalar(scalar: ScalarType) -> Self {
        CimType {
            scalar,
            array: false,
        }
    }

    /// An array type.
    pub fn array_of(scalar: ScalarType) -> Self {
        CimType {
            scalar,
            array: true,
        }
    }
}

impl fmt::Display for CimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scalar {
            ScalarType::Reference(Some(class)) => write!(f, "{class} ref")?,
            ScalarType::Reference(None) => f.write_str("object ref")?,
            other => f.write_str(other.keyword())?,
        }
        if self.array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}
