//! Untyped MOF literals and their conversion to typed CIM values.

use linmgmt_cim::{CimDateTime, CimType, ObjectPath, ScalarType, Value, ValueError};
use std::fmt;

/// A literal as written in MOF, before its type is known.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// `null`
    Null,
    /// `true` or `false`
    Boolean(bool),
    /// An integer (decimal, hex, octal or binary), sign applied.
    Integer(i128),
    /// A real number, as written (so `real32` values are parsed exactly once).
    Real(String),
    /// A string, escapes decoded and adjacent strings joined.
    String(String),
    /// A char16 literal, `'c'`.
    Char16(char),
    /// `$alias`: a reference to an instance declared with `as $alias`.
    Alias(String),
    /// `{a, b, ...}`; elements are never arrays.
    Array(Vec<Literal>),
}

impl Literal {
    /// What kind of literal this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Literal::Null => "null",
            Literal::Boolean(_) => "boolean",
            Literal::Integer(_) => "integer",
            Literal::Real(_) => "real",
            Literal::String(_) => "string",
            Literal::Char16(_) => "char16",
            Literal::Alias(_) => "alias",
            Literal::Array(_) => "array",
        }
    }

    /// The value of this literal as type `ty`, with exact range checks; `None` for `null`.
    /// Aliases are refused (see [`Literal::to_value_with`]).
    pub fn to_value(&self, ty: &CimType) -> Result<Option<Value>, ValueError> {
        self.to_value_with(ty, &|_| None)
    }

    /// Like [`Literal::to_value`], resolving `$alias` references with `alias`.
    pub fn to_value_with(
        &self,
        ty: &CimType,
        alias: &dyn Fn(&str) -> Option<ObjectPath>,
    ) -> Result<Option<Value>, ValueError> {
        match (self, ty.array) {
            (Literal::Null, _) => Ok(None),
            (Literal::Array(items), true) => items
                .iter()
                .map(|item| match item {
                    Literal::Null => Err(ValueError::Invalid {
                        text: "null".into(),
                        ty: ty.scalar.keyword(),
                    }),
                    item => scalar(item, &ty.scalar, alias),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|v| Some(Value::Array(v))),
            (Literal::Array(_), false) => Err(ValueError::Mismatch {
                expected: ty.scalar.keyword(),
                found: "array",
            }),
            (_, true) => Err(ValueError::Mismatch {
                expected: "array",
                found: self.kind(),
            }),
            (lit, false) => scalar(lit, &ty.scalar, alias).map(Some),
        }
    }

    /// The type WMI gives an undeclared qualifier with this value: `boolean`, `string`,
    /// `sint32` (or `sint64`/`uint64` when too large), `real64`, `char16`, or arrays of them.
    /// `None` for `null`.
    pub fn inferred_type(&self) -> Option<CimType> {
        let scalar = |lit: &Literal| -> Option<ScalarType> {
            Some(match lit {
                Literal::Null | Literal::Array(_) => return None,
                Literal::Boolean(_) => ScalarType::Boolean,
                Literal::Integer(n) => {
                    if i32::try_from(*n).is_ok() {
                        ScalarType::Sint32
                    } else if i64::try_from(*n).is_ok() {
                        ScalarType::Sint64
                    } else {
                        ScalarType::Uint64
                    }
                }
                Literal::Real(_) => ScalarType::Real64,
                Literal::String(_) => ScalarType::String,
                Literal::Char16(_) => ScalarType::Char16,
                Literal::Alias(_) => ScalarType::Reference(None),
            })
        };
        match self {
            Literal::Array(items) => {
                // The widest integer type wins, so `{1, 5000000000}` is sint64[].
                let mut best: Option<ScalarType> = None;
                for item in items {
                    let t = scalar(item)?;
                    best = Some(match (best, t) {
                        (None, t) => t,
                        (
                            Some(ScalarType::Sint32),
                            t @ (ScalarType::Sint64 | ScalarType::Uint64),
                        ) => t,
                        (Some(ScalarType::Sint64), ScalarType::Uint64) => ScalarType::Uint64,
                        (Some(b), _) => b,
                    });
                }
                Some(CimType::array_of(best.unwrap_or(ScalarType::String)))
            }
            lit => scalar(lit).map(CimType::scalar),
        }
    }
}

fn scalar(
    lit: &Literal,
    ty: &ScalarType,
    alias: &dyn Fn(&str) -> Option<ObjectPath>,
) -> Result<Value, ValueError> {
    let mismatch = || ValueError::Mismatch {
        expected: ty.keyword(),
        found: lit.kind(),
    };
    match (lit, ty) {
        (Literal::Boolean(b), ScalarType::Boolean) => Ok(Value::Boolean(*b)),
        (Literal::Integer(n), t) if t.is_integer() => Value::integer(*n, t),
        (Literal::Integer(n), ScalarType::Real32) => Ok(Value::Real32(*n as f32)),
        (Literal::Integer(n), ScalarType::Real64) => Ok(Value::Real64(*n as f64)),
        (Literal::Real(text), ScalarType::Real32 | ScalarType::Real64) => Value::parse(text, ty),
        (Literal::String(s), ScalarType::String) => Ok(Value::String(s.clone())),
        (Literal::Char16(c), ScalarType::Char16) => Ok(Value::Char16(*c)),
        (Literal::String(s), ScalarType::Char16) => Value::parse(s, ty),
        (Literal::String(s), ScalarType::Datetime) => s
            .parse::<CimDateTime>()
            .map(Value::datetime)
            .map_err(|_| ValueError::Invalid {
                text: s.chars().take(64).collect(),
                ty: "datetime",
            }),
        (Literal::String(s), ScalarType::Reference(_)) => Value::parse(s, ty),
        (Literal::Alias(a), ScalarType::Reference(_)) => {
            alias(a)
                .map(Value::reference)
                .ok_or_else(|| ValueError::Invalid {
                    text: format!("${a}"),
                    ty: "reference (no instance has this alias)",
                })
        }
        _ => Err(mismatch()),
    }
}

impl fmt::Display for Literal {
    /// The literal in MOF syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Boolean(true) => f.write_str("true"),
            Literal::Boolean(false) => f.write_str("false"),
            Literal::Integer(n) => write!(f, "{n}"),
            Literal::Real(text) => f.write_str(text),
            Literal::String(s) => f.write_str(&crate::writer::quote(s, '"')),
            Literal::Char16(c) => f.write_str(&crate::writer::quote(&c.to_string(), '\'')),
            Literal::Alias(a) => write!(f, "${a}"),
            Literal::Array(items) => {
                f.write_str("{")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("}")
            }
        }
    }
}
