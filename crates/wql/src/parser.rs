//! The WQL parser: recursive descent for statements, precedence climbing for WHERE.
//!
//! The parser never panics and never recurses without bound: nesting (parentheses and NOT)
//! is counted against [`MAX_DEPTH`], so 10,000 opening parentheses are a quota error, not
//! a stack overflow.

use crate::ast::*;
use crate::error::{ErrorKind, WqlError};
use crate::lexer::{Tok, Token, describe, tokenize};
use linmgmt_cim::{Name, ObjectPath, Span};

/// The longest `WITHIN` and `GROUP WITHIN` interval, in seconds (30 days). Intervals come
/// from clients; every later computation with them (deadlines, windows) stays in range.
pub const MAX_INTERVAL: u32 = 30 * 24 * 3600;

/// The longest query accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 64 * 1024;
/// The deepest nesting of parentheses and NOT accepted.
pub const MAX_DEPTH: usize = 128;
/// The most predicates a WHERE (or HAVING) clause may join with AND/OR.
pub const MAX_TERMS: usize = 1024;

/// Words that can never be a class or property name. Contextual words (`Role`,
/// `KeysOnly`, `meta_class`...) are not reserved.
pub const RESERVED: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "LIKE",
    "ISA",
    "OF",
    "WITHIN",
    "GROUP",
    "BY",
    "HAVING",
    "ASSOCIATORS",
    "REFERENCES",
];

/// Intrinsic and system event classes: a SELECT from one of them is an event query even
/// without WITHIN or GROUP. The engine re-checks FROM against the schema.
pub const EVENT_CLASSES: &[&str] = &[
    "__Event",
    "__ExtrinsicEvent",
    "__IntrinsicEvent",
    "__TimerEvent",
    "__SystemEvent",
    "__AggregateEvent",
    "__InstanceOperationEvent",
    "__InstanceCreationEvent",
    "__InstanceDeletionEvent",
    "__InstanceModificationEvent",
    "__ClassOperationEvent",
    "__ClassCreationEvent",
    "__ClassDeletionEvent",
    "__ClassModificationEvent",
    "__NamespaceOperationEvent",
    "__NamespaceCreationEvent",
    "__NamespaceDeletionEvent",
    "__NamespaceModificationEvent",
    "__MethodInvocationEvent",
    "__ConsumerFailureEvent",
    "__EventDroppedEvent",
    "__EventQueueOverflowEvent",
    "__QOSFailureEvent",
];

/// Whether `word` is reserved (see [`RESERVED`]).
pub fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

/// Whether `class` is one of the intrinsic/system event classes in [`EVENT_CLASSES`].
pub fn is_event_class(class: &str) -> bool {
    EVENT_CLASSES.iter().any(|c| c.eq_ignore_ascii_case(class))
}

/// Parses one WQL statement.
pub fn parse(src: &str) -> Result<Statement, WqlError> {
    if src.len() > MAX_QUERY_LEN {
        return Err(WqlError::quota(
            Span::new(MAX_QUERY_LEN, src.len()),
            format!("the query is longer than {MAX_QUERY_LEN} bytes"),
        ));
    }
    let tokens = tokenize(src)?;
    let mut p = Parser {
        src,
        tokens,
        pos: 0,
        depth: 0,
        terms: 0,
    };
    let stmt = p.statement()?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        return Err(p.unexpected_trailing());
    }
    Ok(stmt)
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    /// Current nesting of parentheses and NOT.
    depth: usize,
    /// Predicates seen in the current clause.
    terms: usize,
}

/// Where an expression is being parsed; decides what "the next clause" is in messages.
#[derive(Clone, Copy, PartialEq)]
enum Clause {
    Where,
    Having,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof and `pos` never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, n: usize) -> &Token {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn text(&self, t: &Token) -> &'a str {
        t.text(self.src)
    }

    /// Whether the next token is the keyword `kw` (case-insensitive).
    fn at_kw(&self, kw: &str) -> bool {
        let t = self.peek();
        t.tok == Tok::Word && self.text(t).eq_ignore_ascii_case(kw)
    }

    fn at_kw_n(&self, n: usize, kw: &str) -> bool {
        let t = self.peek_at(n);
        t.tok == Tok::Word && self.text(t).eq_ignore_ascii_case(kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.at_kw(kw) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str, context: &str) -> Result<Token, WqlError> {
        if self.at_kw(kw) {
            Ok(self.bump())
        } else {
            Err(self.expected(&format!("{kw} {context}")))
        }
    }

    /// "expected X, found Y" at the next token.
    fn expected(&self, what: &str) -> WqlError {
        let t = self.peek();
        WqlError::syntax(
            t.span,
            format!("expected {what}, found {}", describe(t, self.src)),
        )
    }

    fn unexpected_trailing(&self) -> WqlError {
        let t = self.peek();
        WqlError::syntax(
            t.span,
            format!(
                "unexpected {} after the end of the query",
                describe(t, self.src)
            ),
        )
    }

    /// An identifier that is not a reserved word.
    fn ident(&mut self, what: &str) -> Result<Ident, WqlError> {
        let t = self.peek().clone();
        if t.tok != Tok::Word {
            return Err(self.expected(what));
        }
        let text = self.text(&t);
        if is_reserved(text) {
            return Err(WqlError::syntax(
                t.span,
                format!(
                    "expected {what}, found the keyword {}",
                    text.to_ascii_uppercase()
                ),
            ));
        }
        self.bump();
        Ok(Ident {
            name: Name::new(text),
            span: t.span,
        })
    }

    fn statement(&mut self) -> Result<Statement, WqlError> {
        if self.at_kw("SELECT") {
            self.select()
        } else if self.at_kw("ASSOCIATORS") {
            self.bump();
            Ok(Statement::Associators(self.assoc(true)?))
        } else if self.at_kw("REFERENCES") {
            self.bump();
            Ok(Statement::References(self.assoc(false)?))
        } else {
            Err(self.expected("SELECT, ASSOCIATORS OF or REFERENCES OF"))
        }
    }

    // ---- SELECT -------------------------------------------------------------------------

    fn select(&mut self) -> Result<Statement, WqlError> {
        self.bump(); // SELECT
        let properties = self.select_list()?;
        if !self.at_kw("FROM") {
            return Err(self.expected("FROM after the select list"));
        }
        self.bump();
        let from = self.ident("a class name after FROM")?;
        if self.peek().tok == Tok::Comma {
            return Err(WqlError::syntax(
                self.peek().span,
                "FROM takes exactly one class; WQL has no joins",
            ));
        }
        let within = self.within_clause()?;
        let mut where_clause = None;
        if self.eat_kw("WHERE") {
            where_clause = Some(self.where_expr(Clause::Where)?);
        }
        let group = self.group_clause()?;
        let is_event = within.is_some() || group.is_some() || is_event_class(from.name.as_str());
        if !is_event {
            if let Some(w) = &where_clause {
                let mut dotted = None;
                w.for_each_property(&mut |p| {
                    if p.is_dotted() && dotted.is_none() {
                        dotted = Some(p.span());
                    }
                });
                if let Some(span) = dotted {
                    return Err(WqlError::query(
                        span,
                        "dotted property names are only valid in event queries",
                    ));
                }
            }
            let q = SelectQuery {
                properties,
                from,
                where_clause,
            };
            if q.is_meta_class() && q.properties != SelectList::All {
                return Err(WqlError::query(
                    select_list_span(&q.properties),
                    "a meta_class query can only select *",
                ));
            }
            return Ok(Statement::Select(q));
        }
        if from.name.is("meta_class") {
            return Err(WqlError::query(
                from.span,
                "meta_class cannot be used in an event query",
            ));
        }
        Ok(Statement::Event(EventQuery {
            properties,
            from,
            within,
            where_clause,
            group,
        }))
    }

    fn select_list(&mut self) -> Result<SelectList, WqlError> {
        if self.peek().tok == Tok::Star {
            self.bump();
            if self.peek().tok == Tok::Comma {
                return Err(WqlError::syntax(
                    self.peek().span,
                    "* cannot be combined with property names",
                ));
            }
            return Ok(SelectList::All);
        }
        let mut props = vec![self.ident("a property name or * after SELECT")?];
        while self.peek().tok == Tok::Comma {
            self.bump();
            props.push(self.ident("a property name after ','")?);
        }
        if self.peek().tok == Tok::Dot {
            return Err(WqlError::syntax(
                self.peek().span,
                "dotted property names are not allowed in the select list",
            ));
        }
        Ok(SelectList::Properties(props))
    }

    /// `WITHIN n` after FROM: a positive number of seconds.
    fn within_clause(&mut self) -> Result<Option<f64>, WqlError> {
        if !self.at_kw("WITHIN") {
            return Ok(None);
        }
        self.bump();
        let t = self.peek().clone();
        let n = match t.tok {
            Tok::Int(n) => n as f64,
            Tok::Real(r) => r,
            _ => return Err(self.expected("a number of seconds after WITHIN")),
        };
        self.bump();
        if n <= 0.0 || !n.is_finite() {
            return Err(WqlError::query(
                t.span,
                "the WITHIN interval must be a positive number of seconds",
            ));
        }
        if n > f64::from(MAX_INTERVAL) {
            return Err(WqlError::query(
                t.span,
                format!("the WITHIN interval is at most {MAX_INTERVAL} seconds (30 days)"),
            ));
        }
        Ok(Some(n))
    }

    /// `GROUP WITHIN n [BY …] [HAVING …]`; BY or HAVING alone is `MissingGroupWithin`.
    fn group_clause(&mut self) -> Result<Option<GroupClause>, WqlError> {
        if self.at_kw("BY") || self.at_kw("HAVING") {
            let t = self.peek();
            return Err(WqlError::new(
                ErrorKind::MissingGroupWithin,
                t.span,
                format!(
                    "{} requires GROUP WITHIN",
                    self.text(t).to_ascii_uppercase()
                ),
            ));
        }
        if !self.at_kw("GROUP") {
            return Ok(None);
        }
        let group_tok = self.bump();
        if !self.at_kw("WITHIN") {
            let span = group_tok.span.to(self.peek().span);
            return Err(WqlError::new(
                ErrorKind::MissingGroupWithin,
                span,
                "GROUP must be followed by WITHIN",
            ));
        }
        self.bump();
        let t = self.peek().clone();
        let within = match t.tok {
            Tok::Int(n) if n > 0 && n <= i128::from(MAX_INTERVAL) => {
                self.bump();
                n as u32
            }
            Tok::Int(_) | Tok::Real(_) => {
                return Err(WqlError::query(
                    t.span,
                    format!(
                        "the GROUP WITHIN interval must be a whole number of seconds from 1 to \
                         {MAX_INTERVAL} (30 days)"
                    ),
                ));
            }
            _ => return Err(self.expected("a number of seconds after GROUP WITHIN")),
        };
        let mut by = Vec::new();
        if self.eat_kw("BY") {
            by.push(self.property_ref("a property name after BY")?);
            while self.peek().tok == Tok::Comma {
                self.bump();
                by.push(self.property_ref("a property name after ','")?);
            }
        }
        let mut having = None;
        if self.eat_kw("HAVING") {
            self.terms = 0;
            let h = self.where_expr(Clause::Having)?;
            let mut bad = None;
            h.for_each_property(&mut |p| {
                if bad.is_none() && !(p.parts.len() == 1 && p.parts[0].name.is("NumberOfEvents")) {
                    bad = Some(p.span());
                }
            });
            if let Some(span) = bad {
                return Err(WqlError::query(span, "HAVING can only test NumberOfEvents"));
            }
            having = Some(h);
        }
        if self.at_kw("BY") {
            return Err(WqlError::syntax(
                self.peek().span,
                "BY must come before HAVING",
            ));
        }
        Ok(Some(GroupClause { within, by, having }))
    }

    // ---- WHERE --------------------------------------------------------------------------

    fn where_expr(&mut self, clause: Clause) -> Result<Expr, WqlError> {
        if self.peek().tok == Tok::Eof {
            let what = if clause == Clause::Where {
                "WHERE"
            } else {
                "HAVING"
            };
            return Err(self.expected(&format!("a condition after {what}")));
        }
        self.subexpr(0)
    }

    /// Precedence climbing over the binary operators OR (1) and AND (2). Operands of the
    /// same operator are collected into one n-ary node; a parenthesised operand is a
    /// separate node, which keeps print→parse exact.
    fn subexpr(&mut self, min_prec: u8) -> Result<Expr, WqlError> {
        let mut lhs = self.prefix()?;
        let mut built: Option<u8> = None;
        loop {
            let prec = if self.at_kw("OR") {
                1
            } else if self.at_kw("AND") {
                2
            } else {
                break;
            };
            if prec <= min_prec {
                break;
            }
            let op = self.bump();
            if self.peek().tok == Tok::Eof {
                return Err(WqlError::syntax(
                    op.span.to(self.peek().span),
                    format!(
                        "expected a condition after {}",
                        self.text(&op).to_ascii_uppercase()
                    ),
                ));
            }
            let rhs = self.subexpr(prec)?;
            lhs = match (lhs, built == Some(prec)) {
                (Expr::And(mut v), true) if prec == 2 => {
                    v.push(rhs);
                    Expr::And(v)
                }
                (Expr::Or(mut v), true) if prec == 1 => {
                    v.push(rhs);
                    Expr::Or(v)
                }
                (l, _) if prec == 2 => Expr::And(vec![l, rhs]),
                (l, _) => Expr::Or(vec![l, rhs]),
            };
            built = Some(prec);
        }
        Ok(lhs)
    }

    /// Runs `f` one nesting level deeper, refusing to go past [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        at: Span,
        f: impl FnOnce(&mut Self) -> Result<T, WqlError>,
    ) -> Result<T, WqlError> {
        if self.depth >= MAX_DEPTH {
            return Err(WqlError::quota(
                at,
                format!("the WHERE clause is nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn prefix(&mut self) -> Result<Expr, WqlError> {
        let t = self.peek().clone();
        if t.tok == Tok::LParen {
            self.bump();
            return self.nested(t.span, |p| {
                let e = p.subexpr(0)?;
                if p.peek().tok != Tok::RParen {
                    return Err(p.expected("')' to close '('"));
                }
                p.bump();
                Ok(e)
            });
        }
        if self.at_kw("NOT") {
            self.bump();
            return self.nested(t.span, |p| Ok(Expr::Not(Box::new(p.prefix()?))));
        }
        let e = self.predicate()?;
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(WqlError::quota(
                t.span,
                format!("the condition has more than {MAX_TERMS} terms"),
            ));
        }
        // `1 - 2` lexes as two numbers; `a = 1 + 2` has an operator: both are arithmetic.
        let n = self.peek();
        if matches!(n.tok, Tok::Arith | Tok::Star)
            || matches!(n.tok, Tok::Int(x) if x < 0)
            || matches!(n.tok, Tok::Real(x) if x < 0.0)
        {
            return Err(WqlError::query(
                n.span,
                "arithmetic is not supported in WQL",
            ));
        }
        Ok(e)
    }

    /// A dotted property reference: `Name`, `TargetInstance.Prop`.
    fn property_ref(&mut self, what: &str) -> Result<PropertyRef, WqlError> {
        let mut parts = vec![self.ident(what)?];
        while self.peek().tok == Tok::Dot {
            self.bump();
            parts.push(self.ident("a property name after '.'")?);
        }
        Ok(PropertyRef { parts })
    }

    fn operand(&mut self) -> Result<Operand, WqlError> {
        let t = self.peek().clone();
        let lit = match &t.tok {
            Tok::Str(s) => Literal::String(s.clone()),
            Tok::Int(n) => Literal::Integer(*n),
            Tok::Real(r) => Literal::Real(*r),
            Tok::Word => {
                let w = self.text(&t);
                if w.eq_ignore_ascii_case("TRUE") {
                    Literal::Boolean(true)
                } else if w.eq_ignore_ascii_case("FALSE") {
                    Literal::Boolean(false)
                } else if w.eq_ignore_ascii_case("NULL") {
                    self.bump();
                    return Ok(Operand::Null(t.span));
                } else {
                    return Ok(Operand::Property(
                        self.property_ref("a property name or a constant")?,
                    ));
                }
            }
            Tok::Path(_) => {
                return Err(WqlError::syntax(
                    t.span,
                    "object paths in braces are only used after ASSOCIATORS OF and REFERENCES OF; quote the path as a string",
                ));
            }
            _ => return Err(self.expected("a property name or a constant")),
        };
        self.bump();
        Ok(Operand::Literal(Spanned {
            node: lit,
            span: t.span,
        }))
    }

    fn compare_op(&self) -> Option<CompareOp> {
        Some(match self.peek().tok {
            Tok::Eq => CompareOp::Eq,
            Tok::Ne => CompareOp::Ne,
            Tok::Lt => CompareOp::Lt,
            Tok::Le => CompareOp::Le,
            Tok::Gt => CompareOp::Gt,
            Tok::Ge => CompareOp::Ge,
            _ => return None,
        })
    }

    fn predicate(&mut self) -> Result<Expr, WqlError> {
        let left = self.operand()?;
        // Forms that need a property on the left.
        if self.at_kw("IS") {
            let property = self.need_property(left, "IS")?;
            self.bump();
            let negated = self.eat_kw("NOT");
            if !self.at_kw("NULL") {
                return Err(self.expected("NULL after IS (IS is only used with NULL)"));
            }
            self.bump();
            return Ok(Expr::IsNull { property, negated });
        }
        if self.at_kw("LIKE") || (self.at_kw("NOT") && self.at_kw_n(1, "LIKE")) {
            let property = self.need_property(left, "LIKE")?;
            let negated = self.eat_kw("NOT");
            self.bump();
            let t = self.peek().clone();
            let Tok::Str(pattern) = t.tok else {
                return Err(self.expected("a string pattern after LIKE"));
            };
            self.bump();
            let like = Expr::Like {
                property,
                pattern: Spanned {
                    node: pattern,
                    span: t.span,
                },
            };
            return Ok(if negated {
                Expr::Not(Box::new(like))
            } else {
                like
            });
        }
        if self.at_kw("ISA") {
            let property = self.need_property(left, "ISA")?;
            self.bump();
            let t = self.peek().clone();
            let class = match &t.tok {
                Tok::Str(s) if !s.is_empty() => Ident {
                    name: Name::new(s.as_str()),
                    span: t.span,
                },
                Tok::Word => self.ident("a class name after ISA")?,
                _ => return Err(self.expected("a class name after ISA")),
            };
            if matches!(t.tok, Tok::Str(_)) {
                self.bump();
            }
            return Ok(Expr::Isa { property, class });
        }
        let Some(op) = self.compare_op() else {
            return Err(match &left {
                Operand::Property(p) => self.expected(&format!(
                    "an operator (=, <>, <, >, <=, >=, LIKE, ISA, IS) after {p}"
                )),
                _ => self.expected("a comparison operator"),
            });
        };
        let op_tok = self.bump();
        let op = Spanned {
            node: op,
            span: op_tok.span,
        };
        if self.peek().tok == Tok::Eof {
            return Err(self.expected(&format!("a constant after {}", op.node)));
        }
        let right = self.operand()?;
        match (left, right) {
            (Operand::Property(property), Operand::Literal(value)) => Ok(Expr::Compare {
                property,
                op,
                value,
            }),
            (Operand::Literal(value), Operand::Property(property)) => Ok(Expr::Compare {
                property,
                op: Spanned {
                    node: op.node.flip(),
                    span: op.span,
                },
                value,
            }),
            (Operand::Property(property), Operand::Null(span))
            | (Operand::Null(span), Operand::Property(property)) => match op.node {
                CompareOp::Eq => Ok(Expr::IsNull {
                    property,
                    negated: false,
                }),
                CompareOp::Ne => Ok(Expr::IsNull {
                    property,
                    negated: true,
                }),
                _ => Err(WqlError::syntax(
                    op.span.to(span),
                    "NULL can only be tested with IS [NOT] NULL, = or <>",
                )),
            },
            (Operand::Property(a), Operand::Property(b)) => Err(WqlError::query(
                a.span().to(b.span()),
                "comparing two properties is not supported; compare a property with a constant",
            )),
            (a, b) => Err(WqlError::query(
                a.span().to(b.span()),
                "a comparison needs a property on one side",
            )),
        }
    }

    fn need_property(&self, left: Operand, op: &str) -> Result<PropertyRef, WqlError> {
        match left {
            Operand::Property(p) => Ok(p),
            other => Err(WqlError::syntax(
                other.span(),
                format!("expected a property name before {op}"),
            )),
        }
    }

    // ---- ASSOCIATORS OF / REFERENCES OF ----------------------------------------------------

    fn assoc(&mut self, associators: bool) -> Result<AssocQuery, WqlError> {
        let keyword = if associators {
            "ASSOCIATORS"
        } else {
            "REFERENCES"
        };
        self.expect_kw("OF", &format!("after {keyword}"))?;
        let t = self.peek().clone();
        let Tok::Path(text) = &t.tok else {
            return Err(self.expected("an object path in braces, like {Class.Key=\"value\"}"));
        };
        self.bump();
        let path: ObjectPath = text.parse().map_err(|e: linmgmt_cim::PathError| {
            // Map the path's own span into the query: the path starts after '{'.
            let base = t.span.start + 1;
            WqlError::new(
                ErrorKind::InvalidObjectPath,
                Span::new(base + e.span.start, base + e.span.end),
                e.to_string(),
            )
        })?;
        let mut q = AssocQuery::new(path);
        q.path.span = t.span;
        if !self.eat_kw("WHERE") {
            return Ok(q);
        }
        if self.peek().tok == Tok::Eof {
            return Err(self.expected(&format!("a subclause after WHERE in {keyword} OF")));
        }
        let mut seen: Vec<&'static str> = Vec::new();
        let mut result_class_span = None;
        let mut class_defs_span = None;
        let mut schema_only_span = None;
        while self.peek().tok != Tok::Eof {
            let t = self.peek().clone();
            let word = self.text(&t);
            if t.tok == Tok::Comma
                || (t.tok == Tok::Word
                    && (word.eq_ignore_ascii_case("AND") || word.eq_ignore_ascii_case("OR")))
            {
                return Err(WqlError::syntax(
                    t.span,
                    format!(
                        "{keyword} OF subclauses are separated by spaces, not {}",
                        if t.tok == Tok::Comma {
                            "commas".to_owned()
                        } else {
                            word.to_ascii_uppercase()
                        }
                    ),
                ));
            }
            if t.tok != Tok::Word {
                return Err(self.expected(&format!("a {keyword} OF subclause")));
            }
            let Some(&(canon, valued, assoc_only)) = SUBCLAUSES
                .iter()
                .find(|(w, _, _)| w.eq_ignore_ascii_case(word))
            else {
                return Err(WqlError::syntax(
                    t.span,
                    format!("unknown {keyword} OF subclause '{word}'"),
                ));
            };
            if assoc_only && !associators {
                return Err(WqlError::syntax(
                    t.span,
                    format!("{canon} is not allowed in REFERENCES OF"),
                ));
            }
            if seen.contains(&canon) {
                return Err(WqlError::syntax(
                    t.span,
                    format!("{canon} is given more than once"),
                ));
            }
            seen.push(canon);
            self.bump();
            if !valued {
                if self.compare_op().is_some() {
                    return Err(WqlError::syntax(
                        self.peek().span,
                        format!("{canon} takes no value"),
                    ));
                }
                match canon {
                    "ClassDefsOnly" => {
                        q.class_defs_only = true;
                        class_defs_span = Some(t.span);
                    }
                    "KeysOnly" => q.keys_only = true,
                    _ => {
                        q.schema_only = true;
                        schema_only_span = Some(t.span);
                    }
                }
                continue;
            }
            match self.compare_op() {
                Some(CompareOp::Eq) => {
                    self.bump();
                }
                Some(_) => {
                    return Err(WqlError::syntax(
                        self.peek().span,
                        format!("only '=' is allowed in {keyword} OF subclauses"),
                    ));
                }
                None => return Err(self.expected(&format!("'=' after {canon}"))),
            }
            let vt = self.peek().clone();
            if matches!(vt.tok, Tok::Str(_)) {
                return Err(WqlError::syntax(
                    vt.span,
                    format!("the value of {canon} is a bare name, not a quoted string"),
                ));
            }
            let value = self.ident(&format!("a name after {canon} ="))?;
            if self.peek().tok == Tok::Dot {
                return Err(WqlError::syntax(
                    self.peek().span,
                    format!("the value of {canon} is a single name"),
                ));
            }
            let slot = match canon {
                "AssocClass" => &mut q.assoc_class,
                "RequiredAssocQualifier" => &mut q.required_assoc_qualifier,
                "RequiredQualifier" => &mut q.required_qualifier,
                "ResultClass" => {
                    result_class_span = Some(value.span);
                    &mut q.result_class
                }
                "ResultRole" => &mut q.result_role,
                _ => &mut q.role,
            };
            *slot = Some(value);
        }
        if let (Some(a), Some(b)) = (class_defs_span, result_class_span) {
            return Err(WqlError::query(
                a.to(b),
                "ClassDefsOnly cannot be combined with ResultClass",
            ));
        }
        if let Some(s) = schema_only_span {
            if let Some(c) = class_defs_span {
                return Err(WqlError::query(
                    c.to(s),
                    "ClassDefsOnly cannot be combined with SchemaOnly",
                ));
            }
            if !q.path.node.is_class_path() {
                return Err(WqlError::query(
                    s,
                    "SchemaOnly needs a class path, like {Win32_LogonSession}",
                ));
            }
        }
        Ok(q)
    }
}

/// The subclauses of ASSOCIATORS OF / REFERENCES OF: canonical spelling, whether it takes
/// `= value`, whether it is only valid in ASSOCIATORS OF.
const SUBCLAUSES: &[(&str, bool, bool)] = &[
    ("AssocClass", true, true),
    ("ClassDefsOnly", false, false),
    ("RequiredAssocQualifier", true, true),
    ("RequiredQualifier", true, false),
    ("ResultClass", true, false),
    ("ResultRole", true, true),
    ("Role", true, false),
    ("KeysOnly", false, false),
    ("SchemaOnly", false, false),
];

enum Operand {
    Property(PropertyRef),
    Literal(Spanned<Literal>),
    Null(Span),
}

impl Operand {
    fn span(&self) -> Span {
        match self {
            Operand::Property(p) => p.span(),
            Operand::Literal(l) => l.span,
            Operand::Null(s) => *s,
        }
    }
}

fn select_list_span(list: &SelectList) -> Span {
    match list {
        SelectList::All => Span::default(),
        SelectList::Properties(ps) => ps[0].span.to(ps[ps.len() - 1].span),
    }
}
