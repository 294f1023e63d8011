//! The WQL syntax tree and its canonical printer.
//!
//! `Display` prints canonical WQL: upper-case keywords, single-quoted strings, `<>` for
//! inequality, `IS [NOT] NULL`, comparisons with the property on the left, and only the
//! parentheses the tree needs. Parsing the printed text gives an equal tree (spans aside:
//! they never take part in equality, so a parsed tree equals a hand-built one).

use linmgmt_cim::{Name, ObjectPath, Span};
use std::fmt;

/// A parsed WQL statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// A data query (`SELECT … FROM Class`) or a schema query (`SELECT * FROM meta_class`).
    Select(SelectQuery),
    /// `ASSOCIATORS OF {path} …`
    Associators(AssocQuery),
    /// `REFERENCES OF {path} …`
    References(AssocQuery),
    /// An event query: `SELECT … FROM __InstanceCreationEvent WITHIN 5 WHERE …`.
    Event(EventQuery),
}

/// An identifier with the span it was written at. Equality ignores the span and case.
#[derive(Clone, Debug)]
pub struct Ident {
    /// The name as written.
    pub name: Name,
    /// Where it was written (empty for hand-built trees).
    pub span: Span,
}

impl Ident {
    /// An identifier without a source position.
    pub fn new(name: impl Into<Name>) -> Self {
        Ident {
            name: name.into(),
            span: Span::default(),
        }
    }
}

impl PartialEq for Ident {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name.as_str())
    }
}

/// A node with a span that takes no part in equality.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    /// The node.
    pub node: T,
    /// Where it was written (empty for hand-built trees).
    pub span: Span,
}

impl<T> Spanned<T> {
    /// A node without a source position.
    pub fn new(node: T) -> Self {
        Spanned {
            node,
            span: Span::default(),
        }
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node
    }
}

/// The select list.
#[derive(Clone, Debug, PartialEq)]
pub enum SelectList {
    /// `*`
    All,
    /// `p1, p2, …`: property names, system properties allowed. Never empty.
    Properties(Vec<Ident>),
}

/// `SELECT list FROM class [WHERE expr]`: a data query, or a schema query when `from` is
/// `meta_class`.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectQuery {
    /// The select list.
    pub properties: SelectList,
    /// The class after FROM.
    pub from: Ident,
    /// The WHERE clause.
    pub where_clause: Option<Expr>,
}

impl SelectQuery {
    /// Whether this is a schema query (`SELECT * FROM meta_class`), which returns classes.
    pub fn is_meta_class(&self) -> bool {
        self.from.name.is("meta_class")
    }
}

/// `ASSOCIATORS OF {path} [WHERE …]` or `REFERENCES OF {path} [WHERE …]`. Which one is
/// given by the [`Statement`] variant; REFERENCES OF never sets `assoc_class`,
/// `required_assoc_qualifier` or `result_role`.
#[derive(Clone, Debug, PartialEq)]
pub struct AssocQuery {
    /// The source object (an instance path, or a class path for the schema form).
    pub path: Spanned<ObjectPath>,
    /// `AssocClass=C`: only through associations of class C (or subclasses).
    pub assoc_class: Option<Ident>,
    /// `ClassDefsOnly`: return class definitions instead of instances.
    pub class_defs_only: bool,
    /// `RequiredAssocQualifier=Q`: the association class must carry qualifier Q.
    pub required_assoc_qualifier: Option<Ident>,
    /// `RequiredQualifier=Q`: the result class must carry qualifier Q.
    pub required_qualifier: Option<Ident>,
    /// `ResultClass=C`: only results of class C (or subclasses).
    pub result_class: Option<Ident>,
    /// `ResultRole=P`: the result is referenced by property P of the association.
    pub result_role: Option<Ident>,
    /// `Role=P`: the source is referenced by property P of the association.
    pub role: Option<Ident>,
    /// `KeysOnly`: return results with only their key properties.
    pub keys_only: bool,
    /// `SchemaOnly`: the schema form over class paths.
    pub schema_only: bool,
}

impl AssocQuery {
    /// A query with no WHERE subclauses.
    pub fn new(path: ObjectPath) -> Self {
        AssocQuery {
            path: Spanned::new(path),
            assoc_class: None,
            class_defs_only: false,
            required_assoc_qualifier: None,
            required_qualifier: None,
            result_class: None,
            result_role: None,
            role: None,
            keys_only: false,
            schema_only: false,
        }
    }

    fn has_where(&self) -> bool {
        self.assoc_class.is_some()
            || self.class_defs_only
            || self.required_assoc_qualifier.is_some()
            || self.required_qualifier.is_some()
            || self.result_class.is_some()
            || self.result_role.is_some()
            || self.role.is_some()
            || self.keys_only
            || self.schema_only
    }

    fn fmt_with(&self, f: &mut fmt::Formatter<'_>, keyword: &str) -> fmt::Result {
        write!(f, "{keyword} OF {{{}}}", self.path.node)?;
        if !self.has_where() {
            return Ok(());
        }
        f.write_str(" WHERE")?;
        let valued = [
            ("AssocClass", &self.assoc_class),
            ("RequiredAssocQualifier", &self.required_assoc_qualifier),
            ("RequiredQualifier", &self.required_qualifier),
            ("ResultClass", &self.result_class),
            ("ResultRole", &self.result_role),
            ("Role", &self.role),
        ];
        if let Some(c) = &self.assoc_class {
            write!(f, " AssocClass = {c}")?;
        }
        if self.class_defs_only {
            f.write_str(" ClassDefsOnly")?;
        }
        for (word, value) in &valued[1..] {
            if let Some(v) = value {
                write!(f, " {word} = {v}")?;
            }
        }
        if self.keys_only {
            f.write_str(" KeysOnly")?;
        }
        if self.schema_only {
            f.write_str(" SchemaOnly")?;
        }
        Ok(())
    }
}

/// An event query (MS-WMI §2.2.1.2).
#[derive(Clone, Debug, PartialEq)]
pub struct EventQuery {
    /// The select list (properties of the event class).
    pub properties: SelectList,
    /// The event class after FROM.
    pub from: Ident,
    /// `WITHIN n`: the polling interval in seconds (always positive).
    pub within: Option<f64>,
    /// The WHERE clause; may use `TargetInstance.Prop` and `PreviousInstance.Prop`.
    pub where_clause: Option<Expr>,
    /// `GROUP WITHIN n [BY …] [HAVING …]`.
    pub group: Option<GroupClause>,
}

/// `GROUP WITHIN n [BY props] [HAVING expr]`: aggregate events into `__AggregateEvent`.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupClause {
    /// The aggregation window in seconds (positive).
    pub within: u32,
    /// `BY [TargetInstance.]prop, …`: one group per distinct value; may be empty.
    pub by: Vec<PropertyRef>,
    /// `HAVING NumberOfEvents op k`; only `NumberOfEvents` may be tested.
    pub having: Option<Expr>,
}

/// A property reference: `Name`, `__CLASS`, or dotted `TargetInstance.LogonType`.
#[derive(Clone, Debug, PartialEq)]
pub struct PropertyRef {
    /// The path segments; never empty. More than one only in event queries.
    pub parts: Vec<Ident>,
}

impl PropertyRef {
    /// A one-segment reference.
    pub fn new(name: impl Into<Name>) -> Self {
        PropertyRef {
            parts: vec![Ident::new(name)],
        }
    }

    /// A dotted reference, e.g. `["TargetInstance", "LogonType"]`.
    pub fn dotted<N: Into<Name>>(parts: impl IntoIterator<Item = N>) -> Self {
        PropertyRef {
            parts: parts.into_iter().map(Ident::new).collect(),
        }
    }

    /// The span from the first to the last segment.
    pub fn span(&self) -> Span {
        let first = self.parts.first().map_or(Span::default(), |p| p.span);
        let last = self.parts.last().map_or(first, |p| p.span);
        first.to(last)
    }

    /// Whether it has more than one segment.
    pub fn is_dotted(&self) -> bool {
        self.parts.len() > 1
    }
}

impl fmt::Display for PropertyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A constant in a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// `'text'` or `"text"`.
    String(String),
    /// `42`, `-1`, `0x1F`.
    Integer(i128),
    /// `1.5`, `2e3`.
    Real(f64),
    /// `TRUE` or `FALSE`.
    Boolean(bool),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => {
                f.write_str("'")?;
                for c in s.chars() {
                    if c == '\\' || c == '\'' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("'")
            }
            Literal::Integer(n) => write!(f, "{n}"),
            // Debug keeps a '.' or an exponent, so the text lexes as a real again.
            Literal::Real(r) => write!(f, "{r:?}"),
            Literal::Boolean(true) => f.write_str("TRUE"),
            Literal::Boolean(false) => f.write_str("FALSE"),
        }
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `<>` or `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CompareOp {
    /// The operator with its operands swapped: `5 < P` is `P > 5`.
    pub fn flip(self) -> CompareOp {
        match self {
            CompareOp::Lt => CompareOp::Gt,
            CompareOp::Le => CompareOp::Ge,
            CompareOp::Gt => CompareOp::Lt,
            CompareOp::Ge => CompareOp::Le,
            other => other,
        }
    }

    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// Whether `ordering` (value compared with constant) satisfies the operator.
    pub fn test(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CompareOp::Eq => ordering == Equal,
            CompareOp::Ne => ordering != Equal,
            CompareOp::Lt => ordering == Less,
            CompareOp::Le => ordering != Greater,
            CompareOp::Gt => ordering == Greater,
            CompareOp::Ge => ordering != Less,
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WHERE expression. `And`/`Or` are n-ary: the parser flattens `a AND b AND c` into one
/// node with three operands; explicit parentheses keep a nested node.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// Every operand is true (at least two operands).
    And(Vec<Expr>),
    /// Some operand is true (at least two operands).
    Or(Vec<Expr>),
    /// `NOT e`
    Not(Box<Expr>),
    /// `Prop op constant`, normalised so the property is on the left.
    Compare {
        /// The property.
        property: PropertyRef,
        /// The operator (flipped if the constant was written first).
        op: Spanned<CompareOp>,
        /// The constant.
        value: Spanned<Literal>,
    },
    /// `Prop IS [NOT] NULL` (also written `Prop = NULL` / `Prop <> NULL`).
    IsNull {
        /// The property.
        property: PropertyRef,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `Prop LIKE 'pattern'` (`NOT Prop LIKE …` is `Not(Like)`).
    Like {
        /// The property.
        property: PropertyRef,
        /// The pattern, unescaped.
        pattern: Spanned<String>,
    },
    /// `Prop ISA 'Class'`: the embedded object (or, in `meta_class` queries, `__this`) is
    /// of the class or a subclass.
    Isa {
        /// The property (`TargetInstance`, `__this`, an embedded-object property).
        property: PropertyRef,
        /// The class.
        class: Ident,
    },
}

impl Expr {
    /// Binding strength for printing: OR < AND < NOT/predicates.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Or(_) => 1,
            Expr::And(_) => 2,
            _ => 3,
        }
    }

    /// Calls `f` on every property reference in the expression.
    pub fn for_each_property<'a>(&'a self, f: &mut impl FnMut(&'a PropertyRef)) {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.for_each_property(f)),
            Expr::Not(e) => e.for_each_property(f),
            Expr::Compare { property, .. }
            | Expr::IsNull { property, .. }
            | Expr::Like { property, .. }
            | Expr::Isa { property, .. } => f(property),
        }
    }
}

/// Prints `e`, in parentheses when it binds no tighter than its parent (`min`).
fn operand(f: &mut fmt::Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if e.precedence() <= min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(v) | Expr::Or(v) => {
                let (word, prec) = match self {
                    Expr::And(_) => (" AND ", 2),
                    _ => (" OR ", 1),
                };
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(word)?;
                    }
                    // A nested node of the same kind came from parentheses: keep them.
                    operand(f, e, prec)?;
                }
                Ok(())
            }
            Expr::Not(e) => {
                f.write_str("NOT ")?;
                operand(f, e, 2)
            }
            Expr::Compare {
                property,
                op,
                value,
            } => write!(f, "{property} {} {}", op.node, value.node),
            Expr::IsNull { property, negated } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{property} IS {not}NULL")
            }
            Expr::Like { property, pattern } => write!(
                f,
                "{property} LIKE {}",
                Literal::String(pattern.node.clone())
            ),
            Expr::Isa { property, class } => write!(
                f,
                "{property} ISA {}",
                Literal::String(class.name.to_string())
            ),
        }
    }
}

impl fmt::Display for SelectList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectList::All => f.write_str("*"),
            SelectList::Properties(ps) => {
                for (i, p) in ps.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for SelectQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SELECT {} FROM {}", self.properties, self.from)?;
        if let Some(w) = &self.where_clause {
            write!(f, " WHERE {w}")?;
        }
        Ok(())
    }
}

impl fmt::Display for EventQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SELECT {} FROM {}", self.properties, self.from)?;
        if let Some(w) = self.within {
            write!(f, " WITHIN {w:?}")?;
        }
        if let Some(w) = &self.where_clause {
            write!(f, " WHERE {w}")?;
        }
        if let Some(g) = &self.group {
            write!(f, " GROUP WITHIN {}", g.within)?;
            for (i, p) in g.by.iter().enumerate() {
                f.write_str(if i == 0 { " BY " } else { ", " })?;
                write!(f, "{p}")?;
            }
            if let Some(h) = &g.having {
                write!(f, " HAVING {h}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Select(q) => q.fmt(f),
            Statement::Associators(q) => q.fmt_with(f, "ASSOCIATORS"),
            Statement::References(q) => q.fmt_with(f, "REFERENCES"),
            Statement::Event(q) => q.fmt(f),
        }
    }
}
