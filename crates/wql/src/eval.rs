//! Compiling WHERE clauses and select lists against a class, and evaluating them.
//!
//! Compilation does all the checking and all the work that does not depend on the
//! instance: property names become indices (valid in every subclass, see
//! [`ClassDef`]), constants are coerced to the property's type, LIKE patterns are
//! compiled. Evaluation is then a walk over a small tree with no allocation for plain
//! properties.
//!
//! Semantics (WMI's, where WMI documents them):
//!
//! * Three-valued logic: a comparison, LIKE or ISA on a NULL property is UNKNOWN;
//!   `NOT UNKNOWN` is UNKNOWN; `FALSE AND UNKNOWN` is FALSE, `TRUE OR UNKNOWN` is TRUE;
//!   only TRUE matches. So `NOT Caption = 'x'` does not match a NULL Caption; use
//!   `IS NULL` for that.
//! * Strings compare case-insensitively, for `<`/`>` too (simple Unicode case folding).
//! * Coercions: see [`Filter::compile`].

use crate::ast::{CompareOp, EventQuery, Expr, Literal, PropertyRef, SelectList, SelectQuery};
use crate::dates::parse_datetime;
use crate::error::{ErrorKind, WqlError};
use crate::like::{LikePattern, fold};
use linmgmt_cim::{
    CimDateTime, CimType, ClassDef, Instance, Name, ObjectPath, ScalarType, Span, SystemContext,
    Value,
};
use std::cmp::Ordering;

/// Settings for compiling a filter.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// The zone civil date literals (`'2026-11-22 10:00'`) are read in; UTC by default.
    /// CIM datetime literals carry their own offset and ignore it.
    pub time_zone: jiff::tz::TimeZone,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            time_zone: jiff::tz::TimeZone::UTC,
        }
    }
}

/// A WHERE clause compiled for one class; it tests instances of the class and of its
/// subclasses.
#[derive(Clone, Debug)]
pub struct Filter {
    root: Option<Node>,
}

/// A WHERE clause of a `meta_class` schema query, compiled; it tests class definitions.
#[derive(Clone, Debug)]
pub struct MetaFilter {
    root: Option<Node>,
}

/// The WHERE clause of an event query compiled against the event class (the FROM class) and
/// the target class (the class named by `TargetInstance ISA`); it tests an event: its own
/// properties (`__CLASS`, `TIME_CREATED`, …), its target instance and, for modification
/// events, the previous one.
#[derive(Clone, Debug)]
pub struct EventFilter {
    root: Option<Node>,
}

/// One output column of a select list.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    /// A class property, by index (valid in subclasses too) and declared name.
    Property {
        /// Index into [`ClassDef::properties`].
        index: usize,
        /// The property's name as declared.
        name: Name,
    },
    /// A system property (`__CLASS`, `__PATH`, …), by its canonical upper-case name.
    System(Name),
}

/// A select list resolved against a class: the properties to output. WMI also returns
/// every system property with each object; the renderer decides whether to show them.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    /// Whether the query selected `*`.
    pub all: bool,
    /// The columns, in select-list order (class order for `*`), without duplicates.
    pub columns: Vec<Column>,
}

impl Projection {
    /// Resolves the select list of `query` against `class`; an unknown property is
    /// `WBEM_E_INVALID_QUERY` pointing at it.
    pub fn compile(query: &SelectQuery, class: &ClassDef) -> Result<Projection, WqlError> {
        Projection::compile_list(&query.properties, class)
    }

    /// Resolves a select list against `class`.
    pub fn compile_list(list: &SelectList, class: &ClassDef) -> Result<Projection, WqlError> {
        let SelectList::Properties(names) = list else {
            let columns = class
                .properties
                .iter()
                .enumerate()
                .map(|(index, p)| Column::Property {
                    index,
                    name: p.name.clone(),
                })
                .collect();
            return Ok(Projection { all: true, columns });
        };
        let mut columns: Vec<Column> = Vec::new();
        for ident in names {
            let col = if let Some(sys) = system_property(ident.name.as_str()) {
                Column::System(Name::new(sys.name))
            } else if let Some(index) = class.property_index(ident.name.as_str()) {
                Column::Property {
                    index,
                    name: class.properties[index].name.clone(),
                }
            } else {
                return Err(unknown_property(ident.span, ident.name.as_str(), class));
            };
            if !columns.contains(&col) {
                columns.push(col);
            }
        }
        Ok(Projection {
            all: false,
            columns,
        })
    }
}

fn unknown_property(span: Span, name: &str, class: &ClassDef) -> WqlError {
    WqlError::query(span, format!("unknown property {name} of {}", class.name))
}

// ---- system properties ------------------------------------------------------------------

struct SysProp {
    name: &'static str,
    ty: ScalarType,
    array: bool,
}

const SYS: &[SysProp] = &[
    sys("__GENUS", ScalarType::Sint32),
    sys("__CLASS", ScalarType::String),
    sys("__SUPERCLASS", ScalarType::String),
    sys("__DYNASTY", ScalarType::String),
    sys("__RELPATH", ScalarType::String),
    sys("__PROPERTY_COUNT", ScalarType::Sint32),
    SysProp {
        name: "__DERIVATION",
        ty: ScalarType::String,
        array: true,
    },
    sys("__SERVER", ScalarType::String),
    sys("__NAMESPACE", ScalarType::String),
    sys("__PATH", ScalarType::String),
];

const fn sys(name: &'static str, ty: ScalarType) -> SysProp {
    SysProp {
        name,
        ty,
        array: false,
    }
}

fn system_property(name: &str) -> Option<&'static SysProp> {
    SYS.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

// ---- compiled tree ----------------------------------------------------------------------

/// Which object a slot reads.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Src {
    /// The instance or class being filtered (in an event query, the event itself).
    Row,
    /// `TargetInstance` of an event.
    Target,
    /// `PreviousInstance` of a modification event.
    Previous,
}

#[derive(Clone, Debug, PartialEq)]
enum Key {
    Prop(usize),
    Sys(&'static str),
    /// The object itself: `__this` (meta_class) or `TargetInstance` (events).
    This,
}

#[derive(Clone, Debug)]
struct Slot {
    src: Src,
    key: Key,
}

#[derive(Clone, Debug)]
enum Const {
    Int(i128),
    Real(f64),
    /// A string, case-folded once here.
    Str(String),
    Bool(bool),
    Date(CimDateTime),
    Char(char),
    Path(ObjectPath),
}

#[derive(Clone, Debug)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Cmp { slot: Slot, op: CompareOp, k: Const },
    IsNull { slot: Slot, negated: bool },
    Like { slot: Slot, pattern: LikePattern },
    Isa { slot: Slot, class: Name },
}

/// What a compiled property reference is, for type checks.
struct Resolved {
    slot: Slot,
    ty: CimType,
    /// The name to show in messages.
    label: String,
}

/// How property references are resolved.
enum Mode<'a> {
    Data(&'a ClassDef),
    Meta,
    Event {
        /// The FROM class: the event's own properties (`TIME_CREATED`) and system
        /// properties (`__CLASS`) are resolved on it.
        event: &'a ClassDef,
        target: &'a ClassDef,
        has_previous: bool,
    },
}

const THIS_TY: CimType = CimType {
    scalar: ScalarType::Object,
    array: false,
};

impl Mode<'_> {
    fn resolve(&self, p: &PropertyRef) -> Result<Resolved, WqlError> {
        let span = p.span();
        let first = &p.parts[0];
        let label = p.to_string();
        let sys_slot = |src: Src, name: &str| {
            system_property(name).map(|s| Resolved {
                slot: Slot {
                    src,
                    key: Key::Sys(s.name),
                },
                ty: CimType {
                    scalar: s.ty.clone(),
                    array: s.array,
                },
                label: label.clone(),
            })
        };
        let prop_slot = |src: Src, class: &ClassDef, name: &crate::Ident| {
            if let Some(r) = sys_slot(src, name.name.as_str()) {
                return Ok(r);
            }
            let index = class
                .property_index(name.name.as_str())
                .ok_or_else(|| unknown_property(name.span, name.name.as_str(), class))?;
            Ok(Resolved {
                slot: Slot {
                    src,
                    key: Key::Prop(index),
                },
                ty: class.properties[index].ty.clone(),
                label: label.clone(),
            })
        };
        match self {
            Mode::Data(class) => {
                if p.is_dotted() {
                    return Err(WqlError::query(
                        span,
                        "dotted property names are only valid in event queries",
                    ));
                }
                if first.name.is("__this") {
                    return Err(WqlError::query(
                        span,
                        "__this is only valid in meta_class queries",
                    ));
                }
                prop_slot(Src::Row, class, first)
            }
            Mode::Meta => {
                if p.is_dotted() {
                    return Err(WqlError::query(
                        span,
                        "dotted property names are only valid in event queries",
                    ));
                }
                if first.name.is("__this") {
                    return Ok(Resolved {
                        slot: Slot {
                            src: Src::Row,
                            key: Key::This,
                        },
                        ty: THIS_TY,
                        label,
                    });
                }
                sys_slot(Src::Row, first.name.as_str()).ok_or_else(|| {
                    WqlError::query(
                        span,
                        format!(
                            "meta_class queries can only test system properties such as __CLASS, not {label}"
                        ),
                    )
                })
            }
            Mode::Event {
                event,
                target,
                has_previous,
            } => {
                let src = if first.name.is("TargetInstance") {
                    Src::Target
                } else if first.name.is("PreviousInstance") {
                    if !has_previous {
                        return Err(WqlError::query(
                            first.span,
                            "PreviousInstance exists only in modification events",
                        ));
                    }
                    Src::Previous
                } else if p.is_dotted() {
                    return Err(WqlError::query(
                        span,
                        format!(
                            "only TargetInstance and PreviousInstance have properties to test, not {}",
                            first.name
                        ),
                    ));
                } else if first.name.is("__this") {
                    return Err(WqlError::query(
                        span,
                        "__this is only valid in meta_class queries",
                    ));
                } else {
                    // A property of the event itself: a system property such as __CLASS
                    // (which event: creation, deletion, modification) or TIME_CREATED.
                    return prop_slot(Src::Row, event, first).map_err(|mut e| {
                        if target.property_index(first.name.as_str()).is_some() {
                            e.message = format!(
                                "{}; the target's is TargetInstance.{}",
                                e.message, first.name
                            );
                        }
                        e
                    });
                };
                match &p.parts[1..] {
                    [] => Ok(Resolved {
                        slot: Slot {
                            src,
                            key: Key::This,
                        },
                        ty: THIS_TY,
                        label,
                    }),
                    [prop] => prop_slot(src, target, prop),
                    [_, extra, ..] => Err(WqlError::query(
                        extra.span,
                        "properties of nested embedded objects cannot be tested",
                    )),
                }
            }
        }
    }
}

fn compile_node(e: &Expr, mode: &Mode<'_>, opts: &CompileOptions) -> Result<Node, WqlError> {
    Ok(match e {
        Expr::And(v) => Node::And(
            v.iter()
                .map(|e| compile_node(e, mode, opts))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Or(v) => Node::Or(
            v.iter()
                .map(|e| compile_node(e, mode, opts))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Not(e) => Node::Not(Box::new(compile_node(e, mode, opts)?)),
        Expr::IsNull { property, negated } => {
            let r = mode.resolve(property)?;
            Node::IsNull {
                slot: r.slot,
                negated: *negated,
            }
        }
        Expr::Isa { property, class } => {
            let r = mode.resolve(property)?;
            if r.ty.scalar != ScalarType::Object || r.ty.array {
                return Err(WqlError::operator(
                    property.span().to(class.span),
                    format!("ISA needs an embedded object, and {} is {}", r.label, r.ty),
                ));
            }
            Node::Isa {
                slot: r.slot,
                class: class.name.clone(),
            }
        }
        Expr::Like { property, pattern } => {
            let r = mode.resolve(property)?;
            no_array(&r, property.span())?;
            if !matches!(r.ty.scalar, ScalarType::String | ScalarType::Char16) {
                return Err(WqlError::operator(
                    property.span().to(pattern.span),
                    format!("LIKE applies to strings, and {} is {}", r.label, r.ty),
                ));
            }
            let compiled = LikePattern::new(&pattern.node).map_err(|e| {
                // +1 skips the opening quote; exact unless the pattern has escapes.
                let at = (pattern.span.start + 1 + e.offset).min(pattern.span.end);
                WqlError::query(Span::new(at, at + 1), e.message)
            })?;
            Node::Like {
                slot: r.slot,
                pattern: compiled,
            }
        }
        Expr::Compare {
            property,
            op,
            value,
        } => {
            let r = mode.resolve(property)?;
            no_array(&r, property.span())?;
            let op_err = |what: &str| {
                WqlError::operator(
                    op.span,
                    format!(
                        "operator {} cannot be applied to {} property {}",
                        op.node, what, r.label
                    ),
                )
            };
            let ordered = !matches!(op.node, CompareOp::Eq | CompareOp::Ne);
            let mismatch = |why: &str| {
                WqlError::query(
                    value.span,
                    format!(
                        "type mismatch: {} {why} for {} property {}",
                        value.node, r.ty, r.label
                    ),
                )
            };
            let k = match &r.ty.scalar {
                ScalarType::Object => return Err(op_err("embedded object")),
                ScalarType::Boolean => {
                    if ordered {
                        return Err(op_err("boolean"));
                    }
                    Const::Bool(match &value.node {
                        Literal::Boolean(b) => *b,
                        Literal::Integer(0) => false,
                        Literal::Integer(1 | -1) => true,
                        Literal::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                            "true" | "1" | "-1" => true,
                            "false" | "0" => false,
                            _ => return Err(mismatch("is not TRUE or FALSE")),
                        },
                        _ => return Err(mismatch("is not TRUE or FALSE")),
                    })
                }
                ScalarType::Reference(_) => {
                    if ordered {
                        return Err(op_err("reference"));
                    }
                    let Literal::String(s) = &value.node else {
                        return Err(mismatch("is not an object path"));
                    };
                    let path: ObjectPath = s.parse().map_err(|e: linmgmt_cim::PathError| {
                        WqlError::new(
                            ErrorKind::InvalidObjectPath,
                            value.span,
                            format!("{e} in the constant for {}", r.label),
                        )
                    })?;
                    Const::Path(path)
                }
                ScalarType::String => Const::Str(match &value.node {
                    Literal::String(s) => s.chars().map(fold).collect(),
                    // Numbers and booleans compare with strings as their text.
                    other => other.to_string().to_ascii_lowercase(),
                }),
                ScalarType::Char16 => match &value.node {
                    Literal::String(s) if s.chars().count() == 1 => {
                        Const::Char(s.chars().next().unwrap_or_default())
                    }
                    Literal::Integer(n) => match u32::try_from(*n).ok().and_then(char::from_u32) {
                        Some(c) if (c as u32) <= 0xFFFF => Const::Char(c),
                        _ => return Err(mismatch("is not a char16 code")),
                    },
                    _ => return Err(mismatch("is not a single character")),
                },
                ScalarType::Datetime => {
                    let text = match &value.node {
                        Literal::String(s) => s.clone(),
                        Literal::Integer(n) => n.to_string(),
                        _ => return Err(mismatch("is not a date")),
                    };
                    Const::Date(parse_datetime(&text, &opts.time_zone).map_err(&mismatch)?)
                }
                t if t.is_integer() || t.is_real() => match &value.node {
                    Literal::Integer(n) => Const::Int(*n),
                    Literal::Real(x) => Const::Real(*x),
                    Literal::String(s) => {
                        numeric_text(s.trim()).ok_or_else(|| mismatch("is not a number"))?
                    }
                    Literal::Boolean(_) => return Err(mismatch("is not a number")),
                },
                _ => return Err(mismatch("cannot be compared")),
            };
            Node::Cmp {
                slot: r.slot,
                op: op.node,
                k,
            }
        }
    })
}

fn no_array(r: &Resolved, span: Span) -> Result<(), WqlError> {
    if r.ty.array {
        return Err(WqlError::query(
            span,
            format!("array property {} cannot be queried", r.label),
        ));
    }
    Ok(())
}

/// A number written as a string (`'10'`, `'0x1F'`, `'-2.5'`).
fn numeric_text(s: &str) -> Option<Const> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let n = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i128::from_str_radix(hex, 16).ok()
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i128>().ok()
    } else {
        None
    };
    if let Some(n) = n {
        return Some(Const::Int(if neg { -n } else { n }));
    }
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    let r: f64 = s.parse().ok()?;
    (has_digit && r.is_finite()).then_some(Const::Real(r))
}

// ---- evaluation -------------------------------------------------------------------------

/// A value read from a row: borrowed when it is a stored property, owned when computed.
enum Got<'a> {
    Null,
    Ref(&'a Value),
    Owned(Value),
}

impl Got<'_> {
    fn value(&self) -> Option<&Value> {
        match self {
            Got::Null => None,
            Got::Ref(v) => Some(v),
            Got::Owned(v) => Some(v),
        }
    }
}

/// What a filter can read: one instance, one class, or an event's instances.
trait Row {
    fn instance(&self, src: Src) -> Option<&Instance>;
    fn class(&self, src: Src) -> Option<&ClassDef>;

    fn get(&self, slot: &Slot, ctx: &SystemContext) -> Got<'_> {
        match &slot.key {
            Key::Prop(i) => match self.instance(slot.src).and_then(|inst| inst.get_at(*i)) {
                Some(v) => Got::Ref(v),
                None => Got::Null,
            },
            Key::Sys(name) => {
                let v = match self.instance(slot.src) {
                    Some(inst) => inst.system_property(name, ctx),
                    None => self
                        .class(slot.src)
                        .and_then(|c| c.system_property(name, ctx)),
                };
                v.map_or(Got::Null, Got::Owned)
            }
            Key::This => Got::Null,
        }
    }
}

impl Row for Instance {
    fn instance(&self, _: Src) -> Option<&Instance> {
        Some(self)
    }
    fn class(&self, _: Src) -> Option<&ClassDef> {
        Some(self.class())
    }
}

impl Row for ClassDef {
    fn instance(&self, _: Src) -> Option<&Instance> {
        None
    }
    fn class(&self, _: Src) -> Option<&ClassDef> {
        Some(self)
    }
}

struct EventRow<'a> {
    event: &'a Instance,
    target: Option<&'a Instance>,
    previous: Option<&'a Instance>,
}

impl Row for EventRow<'_> {
    fn instance(&self, src: Src) -> Option<&Instance> {
        match src {
            Src::Row => Some(self.event),
            Src::Target => self.target,
            Src::Previous => self.previous,
        }
    }
    fn class(&self, src: Src) -> Option<&ClassDef> {
        self.instance(src).map(|i| &**i.class())
    }
}

/// Case-insensitive comparison of `a` with an already folded `b`.
fn cmp_folded(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        let (x, y) = (a.as_bytes(), b.as_bytes());
        for (p, q) in x.iter().zip(y) {
            match p.to_ascii_lowercase().cmp(q) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        return x.len().cmp(&y.len());
    }
    a.chars().map(fold).cmp(b.chars())
}

fn compare(v: &Value, k: &Const) -> Option<Ordering> {
    match k {
        Const::Int(n) => match v.as_integer() {
            Some(x) => Some(x.cmp(n)),
            None => v.as_f64()?.partial_cmp(&(*n as f64)),
        },
        Const::Real(r) => v.as_f64()?.partial_cmp(r),
        Const::Str(s) => match v {
            Value::String(x) => Some(cmp_folded(x, s)),
            Value::Array(_) | Value::Object(_) => None,
            other => Some(cmp_folded(&other.to_string(), s)),
        },
        Const::Bool(b) => match v {
            Value::Boolean(x) => Some(x.cmp(b)),
            _ => None,
        },
        Const::Date(d) => match v {
            Value::Datetime(x) => (**x).partial_cmp(d),
            _ => None,
        },
        Const::Char(c) => match v {
            Value::Char16(x) => Some(fold(*x).cmp(&fold(*c))),
            _ => None,
        },
        Const::Path(p) => match v {
            Value::Reference(x) if x.same_object(p) => Some(Ordering::Equal),
            Value::Reference(_) => Some(Ordering::Less),
            _ => None,
        },
    }
}

/// Three-valued evaluation: `None` is UNKNOWN.
fn eval(n: &Node, row: &dyn Row, ctx: &SystemContext) -> Option<bool> {
    match n {
        Node::And(v) => {
            let mut unknown = false;
            for e in v {
                match eval(e, row, ctx) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            if unknown { None } else { Some(true) }
        }
        Node::Or(v) => {
            let mut unknown = false;
            for e in v {
                match eval(e, row, ctx) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            if unknown { None } else { Some(false) }
        }
        Node::Not(e) => eval(e, row, ctx).map(|b| !b),
        Node::IsNull { slot, negated } => {
            let null = match slot.key {
                Key::This => row.class(slot.src).is_none(),
                _ => row.get(slot, ctx).value().is_none(),
            };
            Some(null != *negated)
        }
        Node::Cmp { slot, op, k } => {
            let got = row.get(slot, ctx);
            compare(got.value()?, k).map(|o| op.test(o))
        }
        Node::Like { slot, pattern } => match row.get(slot, ctx).value()? {
            Value::String(s) => Some(pattern.matches(s)),
            Value::Char16(c) => Some(pattern.matches(c.encode_utf8(&mut [0; 4]))),
            _ => None,
        },
        Node::Isa { slot, class } => match slot.key {
            Key::This => row.class(slot.src).map(|c| c.is_a(class.as_str())),
            _ => match row.get(slot, ctx).value()? {
                Value::Object(inst) => Some(inst.class().is_a(class.as_str())),
                _ => None,
            },
        },
    }
}

impl Filter {
    /// Compiles a WHERE clause (`None`: no WHERE, everything matches) for instances of
    /// `class` and its subclasses.
    ///
    /// Checks, each failing with a span: unknown property → `InvalidQuery`; dotted names
    /// or `__this` → `InvalidQuery`; arrays → `InvalidQuery`; an operator the type does
    /// not support (`<` on booleans, references, objects; LIKE on non-strings; ISA on
    /// non-objects) → `InvalidOperator`; a constant that does not fit → `InvalidQuery`.
    ///
    /// Coercions: integer properties take integers, reals (compared as reals) and numeric
    /// strings (`'10'`, `'0x1F'`); real properties the same; booleans take TRUE/FALSE,
    /// 1/0/-1 and the strings `'true'`/`'false'`/`'1'`/`'0'`; strings take any constant,
    /// numbers compared as their decimal text; char16 takes a one-character string or a
    /// code; datetimes take CIM datetimes or civil dates (see the crate docs) read in
    /// [`CompileOptions::time_zone`]; references take object-path strings, compared with
    /// [`ObjectPath::same_object`]. System properties (`__CLASS`, …) read the instance's
    /// real class, so `__CLASS = 'Base'` excludes subclass instances.
    pub fn compile(
        expr: Option<&Expr>,
        class: &ClassDef,
        opts: &CompileOptions,
    ) -> Result<Filter, WqlError> {
        let root = expr
            .map(|e| compile_node(e, &Mode::Data(class), opts))
            .transpose()?;
        Ok(Filter { root })
    }

    /// Whether `instance` (of the compiled class or a subclass) satisfies the clause.
    /// UNKNOWN (e.g. a comparison with NULL) does not match.
    pub fn matches(&self, instance: &Instance, ctx: &SystemContext) -> bool {
        self.root
            .as_ref()
            .is_none_or(|n| eval(n, instance, ctx) == Some(true))
    }
}

impl MetaFilter {
    /// Compiles the WHERE clause of a `meta_class` query. Only system properties
    /// (`__CLASS`, `__SUPERCLASS`, `__DYNASTY`, …) and `__this ISA 'X'` may be used.
    pub fn compile(expr: Option<&Expr>, opts: &CompileOptions) -> Result<MetaFilter, WqlError> {
        let root = expr
            .map(|e| compile_node(e, &Mode::Meta, opts))
            .transpose()?;
        Ok(MetaFilter { root })
    }

    /// Whether `class` satisfies the clause. `__this ISA 'X'` is true when the class is X
    /// or derives from it.
    pub fn matches_class(&self, class: &ClassDef, ctx: &SystemContext) -> bool {
        self.root
            .as_ref()
            .is_none_or(|n| eval(n, class, ctx) == Some(true))
    }
}

impl EventQuery {
    /// The class named by a top-level `TargetInstance ISA 'X'` in the WHERE clause (alone
    /// or as one operand of the top-level AND): the class whose instances are watched.
    pub fn target_class(&self) -> Option<&crate::Ident> {
        fn pick(e: &Expr) -> Option<&crate::Ident> {
            match e {
                Expr::Isa { property, class }
                    if property.parts.len() == 1 && property.parts[0].name.is("TargetInstance") =>
                {
                    Some(class)
                }
                _ => None,
            }
        }
        match self.where_clause.as_ref()? {
            Expr::And(v) => v.iter().find_map(pick),
            e => pick(e),
        }
    }
}

impl EventFilter {
    /// Compiles the WHERE clause of an event query against `event`, the FROM class, and
    /// `target`, the class of `TargetInstance`. It may test `TargetInstance[.Prop]`,
    /// `PreviousInstance[.Prop]` (not in creation or deletion events), and the event's own
    /// properties: system properties (`__CLASS = '__InstanceCreationEvent'` keeps the
    /// creations of an `__InstanceOperationEvent` query) and those of the event class
    /// (`TIME_CREATED`). `TargetInstance ISA 'X'` tests the target's class.
    pub fn compile(
        query: &EventQuery,
        event: &ClassDef,
        target: &ClassDef,
        opts: &CompileOptions,
    ) -> Result<EventFilter, WqlError> {
        let has_previous =
            !event.is_a("__InstanceCreationEvent") && !event.is_a("__InstanceDeletionEvent");
        let mode = Mode::Event {
            event,
            target,
            has_previous,
        };
        let root = query
            .where_clause
            .as_ref()
            .map(|e| compile_node(e, &mode, opts))
            .transpose()?;
        Ok(EventFilter { root })
    }

    /// Whether `event` (an instance of the compiled event class or of a subclass, with its
    /// `TargetInstance` and, for modifications, `PreviousInstance`) satisfies the clause.
    /// Its system properties are its real class's: `__CLASS` of a creation event is
    /// `__InstanceCreationEvent` whatever the FROM class.
    pub fn matches(&self, event: &Instance, ctx: &SystemContext) -> bool {
        let object = |name: &str| match event.get(name) {
            Some(Value::Object(i)) => Some(&**i),
            _ => None,
        };
        let row = EventRow {
            event,
            target: object("TargetInstance"),
            previous: object("PreviousInstance"),
        };
        self.root
            .as_ref()
            .is_none_or(|n| eval(n, &row, ctx) == Some(true))
    }
}
