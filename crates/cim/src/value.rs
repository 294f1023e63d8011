//! CIM values with exact range checks.

use crate::{CimDateTime, ObjectPath, ScalarType};
use std::fmt;

/// One CIM value. NULL is represented outside the value, as `Option<Value>`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Value {
    /// `boolean`
    Boolean(bool),
    /// `char16`; always a single UCS-2 code unit (no surrogates).
    Char16(char),
    /// `string`
    String(String),
    /// `datetime` (boxed, as references are: they would make every value, NULLs included,
    /// three times its size).
    Datetime(#[cfg_attr(feature = "serde", serde(with = "as_text"))] Box<CimDateTime>),
    /// `real32`
    Real32(f32),
    /// `real64`
    Real64(f64),
    /// `uint8`
    Uint8(u8),
    /// `sint8`
    Sint8(i8),
    /// `uint16`
    Uint16(u16),
    /// `sint16`
    Sint16(i16),
    /// `uint32`
    Uint32(u32),
    /// `sint32`
    Sint32(i32),
    /// `uint64`
    Uint64(u64),
    /// `sint64`
    Sint64(i64),
    /// A reference to an instance.
    Reference(#[cfg_attr(feature = "serde", serde(with = "as_text"))] Box<ObjectPath>),
    /// An array; every element has the property's scalar type. Elements may not be NULL
    /// in our data, which keeps the model simple; CIM-XML's `VALUE.NULL` in arrays is
    /// refused on input.
    Array(Vec<Value>),
    /// An embedded instance. Never serialized (no schema declares a default one); last,
    /// so that skipping it leaves the other variants' numbers alone.
    #[cfg_attr(feature = "serde", serde(skip))]
    Object(Box<crate::Instance>),
}

/// Datetimes and object paths serialized as their CIM text, which parses back exactly.
#[cfg(feature = "serde")]
mod as_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::fmt::Display;
    use std::str::FromStr;

    pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Box<T>, D::Error>
    where
        T: FromStr<Err: Display>,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        text.parse().map(Box::new).map_err(D::Error::custom)
    }
}

/// Why a value does not fit a type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// An integer outside the range of its type.
    #[error("{value} is out of range for {ty} ({min}..={max})")]
    OutOfRange {
        /// The value given.
        value: i128,
        /// The type's keyword.
        ty: &'static str,
        /// Smallest allowed.
        min: i128,
        /// Largest allowed.
        max: i128,
    },
    /// Text that is not a value of the type.
    #[error("'{text}' is not a valid {ty}")]
    Invalid {
        /// The text given (shortened).
        text: String,
        /// The type's keyword.
        ty: &'static str,
    },
    /// A value of one type where another was needed.
    #[error("a {found} value where {expected} was expected")]
    Mismatch {
        /// The type's keyword.
        expected: &'static str,
        /// The value's type keyword.
        found: &'static str,
    },
}

fn shorten(text: &str) -> String {
    const MAX: usize = 64;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

impl Value {
    /// A `datetime` value.
    pub fn datetime(value: CimDateTime) -> Value {
        Value::Datetime(Box::new(value))
    }

    /// A reference value.
    pub fn reference(path: ObjectPath) -> Value {
        Value::Reference(Box::new(path))
    }

    /// The scalar type of this value; for arrays, of the first element (string if empty).
    pub fn scalar_type(&self) -> ScalarType {
        match self {
            Value::Boolean(_) => ScalarType::Boolean,
            Value::Char16(_) => ScalarType::Char16,
            Value::String(_) => ScalarType::String,
            Value::Datetime(_) => ScalarType::Datetime,
            Value::Real32(_) => ScalarType::Real32,
            Value::Real64(_) => ScalarType::Real64,
            Value::Uint8(_) => ScalarType::Uint8,
            Value::Sint8(_) => ScalarType::Sint8,
            Value::Uint16(_) => ScalarType::Uint16,
            Value::Sint16(_) => ScalarType::Sint16,
            Value::Uint32(_) => ScalarType::Uint32,
            Value::Sint32(_) => ScalarType::Sint32,
            Value::Uint64(_) => ScalarType::Uint64,
            Value::Sint64(_) => ScalarType::Sint64,
            Value::Reference(p) => ScalarType::Reference(Some(p.class.clone())),
            Value::Object(_) => ScalarType::Object,
            Value::Array(items) => items.first().map_or(ScalarType::String, Value::scalar_type),
        }
    }

    /// An integer of type `ty`, refused if out of range or `ty` is not an integer type.
    pub fn integer(n: i128, ty: &ScalarType) -> Result<Value, ValueError> {
        let Some((min, max)) = ty.integer_range() else {
            return Err(ValueError::Mismatch {
                expected: ty.keyword(),
                found: "integer",
            });
        };
        if n < min || n > max {
            return Err(ValueError::OutOfRange {
                value: n,
                ty: ty.keyword(),
                min,
                max,
            });
        }
        // The range check above makes every cast exact.
        Ok(match ty {
            ScalarType::Uint8 => Value::Uint8(n as u8),
            ScalarType::Sint8 => Value::Sint8(n as i8),
            ScalarType::Uint16 => Value::Uint16(n as u16),
            ScalarType::Sint16 => Value::Sint16(n as i16),
            ScalarType::Uint32 => Value::Uint32(n as u32),
            ScalarType::Sint32 => Value::Sint32(n as i32),
            ScalarType::Uint64 => Value::Uint64(n as u64),
            _ => Value::Sint64(n as i64),
        })
    }

    /// The value as an integer, for the eight integer types.
    pub fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            Value::Uint8(n) => n.into(),
            Value::Sint8(n) => n.into(),
            Value::Uint16(n) => n.into(),
            Value::Sint16(n) => n.into(),
            Value::Uint32(n) => n.into(),
            Value::Sint32(n) => n.into(),
            Value::Uint64(n) => n.into(),
            Value::Sint64(n) => n.into(),
            _ => return None,
        })
    }

    /// The value as a real number, for integer and real types.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Real32(r) => Some(r.into()),
            Value::Real64(r) => Some(r),
            _ => self.as_integer().map(|n| n as f64),
        }
    }

    /// The string, for `string` values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Parses the plain text form of a value of type `ty`, as CIM-XML `<VALUE>` and
    /// object-path keys carry it: decimal or `0x` hex integers, `TRUE`/`FALSE`,
    /// DMTF datetimes, object paths for references.
    pub fn parse(text: &str, ty: &ScalarType) -> Result<Value, ValueError> {
        let invalid = || ValueError::Invalid {
            text: shorten(text),
            ty: ty.keyword(),
        };
        match ty {
            ScalarType::String => Ok(Value::String(text.to_owned())),
            ScalarType::Boolean => {
                let t = text.trim();
                if t.eq_ignore_ascii_case("true") {
                    Ok(Value::Boolean(true))
                } else if t.eq_ignore_ascii_case("false") {
                    Ok(Value::Boolean(false))
                } else {
                    Err(invalid())
                }
            }
            ScalarType::Char16 => {
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if (c as u32) <= 0xFFFF => Ok(Value::Char16(c)),
                    _ => Err(invalid()),
                }
            }
            ScalarType::Datetime => text
                .trim()
                .parse::<CimDateTime>()
                .map(Value::datetime)
                .map_err(|_| invalid()),
            ScalarType::Real32 => {
                let r: f32 = text.trim().parse().map_err(|_| invalid())?;
                if r.is_finite() {
                    Ok(Value::Real32(r))
                } else {
                    Err(invalid())
                }
            }
            ScalarType::Real64 => {
                let r: f64 = text.trim().parse().map_err(|_| invalid())?;
                if r.is_finite() {
                    Ok(Value::Real64(r))
                } else {
                    Err(invalid())
                }
            }
            ScalarType::Reference(_) => text
                .trim()
                .parse::<ObjectPath>()
                .map(Value::reference)
                .map_err(|_| invalid()),
            ScalarType::Object => Err(invalid()),
            int => {
                let n = parse_integer(text.trim()).ok_or_else(invalid)?;
                Value::integer(n, int)
            }
        }
    }
}

/// Parses a decimal, `0x` hexadecimal or `0b`/`...b` binary integer literal with an optional sign.
fn parse_integer(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        i128::from_str_radix(hex, 16).ok()?
    } else {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<i128>().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

impl fmt::Display for Value {
    /// The plain text form: what `wmic /format:list` and CIM-XML `<VALUE>` show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Boolean(true) => f.write_str("TRUE"),
            Value::Boolean(false) => f.write_str("FALSE"),
            Value::Char16(c) => write!(f, "{c}"),
            Value::String(s) => f.write_str(s),
            Value::Datetime(d) => write!(f, "{d}"),
            Value::Real32(r) => write!(f, "{r}"),
            Value::Real64(r) => write!(f, "{r}"),
            Value::Reference(p) => write!(f, "{p}"),
            Value::Object(i) => write!(f, "instance of {}", i.class_name()),
            Value::Array(items) => {
                f.write_str("{")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("}")
            }
            int => write!(f, "{}", int.as_integer().unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, ty: ScalarType, expect: Result<&str, &str>) {
        let got = Value::parse(text, &ty)
            .map(|v| v.to_string())
            .map_err(|e| e.to_string());
        assert_eq!(
            got.as_deref(),
            expect.map_err(str::to_owned).as_deref(),
            "{text} as {ty:?}"
        );
    }

    #[test]
    fn integer_ranges_are_exact() {
        check("255", ScalarType::Uint8, Ok("255"));
        check(
            "256",
            ScalarType::Uint8,
            Err("256 is out of range for uint8 (0..=255)"),
        );
        check(
            "-1",
            ScalarType::Uint32,
            Err("-1 is out of range for uint32 (0..=4294967295)"),
        );
        check("-128", ScalarType::Sint8, Ok("-128"));
        check(
            "-129",
            ScalarType::Sint8,
            Err("-129 is out of range for sint8 (-128..=127)"),
        );
        check(
            "18446744073709551615",
            ScalarType::Uint64,
            Ok("18446744073709551615"),
        );
        check(
            "18446744073709551616",
            ScalarType::Uint64,
            Err("18446744073709551616 is out of range for uint64 (0..=18446744073709551615)"),
        );
        check(
            "-9223372036854775808",
            ScalarType::Sint64,
            Ok("-9223372036854775808"),
        );
        check("0x10", ScalarType::Uint16, Ok("16"));
        check(
            "12a",
            ScalarType::Uint16,
            Err("'12a' is not a valid uint16"),
        );
        check("", ScalarType::Sint32, Err("'' is not a valid sint32"));
        check(
            "99999999999999999999999999999999999999999",
            ScalarType::Sint64,
            Err("'99999999999999999999999999999999999999999' is not a valid sint64"),
        );
    }

    #[test]
    fn other_types() {
        check("true", ScalarType::Boolean, Ok("TRUE"));
        check("FALSE", ScalarType::Boolean, Ok("FALSE"));
        check(
            "yes",
            ScalarType::Boolean,
            Err("'yes' is not a valid boolean"),
        );
        check("x", ScalarType::Char16, Ok("x"));
        check("xy", ScalarType::Char16, Err("'xy' is not a valid char16"));
        check("1.5", ScalarType::Real64, Ok("1.5"));
        check(
            "inf",
            ScalarType::Real32,
            Err("'inf' is not a valid real32"),
        );
        check(
            "20110328152159.578125-420",
            ScalarType::Datetime,
            Ok("20110328152159.578125-420"),
        );
        check(
            r#"Win32_LogonSession.LogonId="3""#,
            ScalarType::Reference(None),
            Ok(r#"Win32_LogonSession.LogonId="3""#),
        );
    }
}
