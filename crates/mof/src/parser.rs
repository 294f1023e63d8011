//! The recursive-descent MOF parser: productions, pragmas, includes, qualifier typing.

use crate::error::{MofError, MofErrorKind, Origin};
use crate::lexer::{Lexer, Tok, Token};
use crate::literal::Literal;
use crate::{Entry, InstanceSpec, Item, ParseConfig};
use linmgmt_cim::{
    CimType, Class, Flavor, Method, Name, Parameter, Property, Qualifier, QualifierDecl,
    QualifierScope, ScalarType, Span, ValueError,
};
use std::collections::HashMap;

/// The largest MOF file accepted, in bytes.
pub const MAX_SOURCE_LEN: usize = 16 * 1024 * 1024;
/// The largest total of all files read through `#pragma include`, in bytes.
pub const MAX_TOTAL_LEN: usize = 64 * 1024 * 1024;
/// The deepest `#pragma include` nesting accepted.
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// The most elements in one array literal, and the most qualifiers on one element.
pub const MAX_LIST_LEN: usize = 65_536;

/// State shared by a file and the files it includes.
pub(crate) struct Session<'c> {
    config: &'c ParseConfig<'c>,
    namespace: String,
    /// Qualifier declarations seen so far, per lowercase namespace.
    decls: HashMap<String, HashMap<Name, QualifierDecl>>,
    entries: Vec<Entry>,
    /// The files being read, outermost first.
    stack: Vec<String>,
    total: usize,
}

impl<'c> Session<'c> {
    pub(crate) fn new(config: &'c ParseConfig<'c>) -> Session<'c> {
        Session {
            config,
            namespace: normalize_namespace(config.namespace),
            decls: HashMap::new(),
            entries: Vec::new(),
            stack: Vec::new(),
            total: 0,
        }
    }

    pub(crate) fn finish(self) -> Vec<Entry> {
        self.entries
    }

    /// Parses one file (the root or an included one).
    pub(crate) fn parse_file(&mut self, file: &str, source: &str) -> Result<(), MofError> {
        let origin = Origin::new(file, source);
        if source.len() > MAX_SOURCE_LEN {
            return Err(origin.error(
                MofErrorKind::Limit,
                format!(
                    "the file is {} bytes; at most {MAX_SOURCE_LEN} are accepted",
                    source.len()
                ),
                Span::at(0),
            ));
        }
        self.total += source.len();
        if self.total > MAX_TOTAL_LEN {
            return Err(origin.error(
                MofErrorKind::Limit,
                format!("the included files total more than {MAX_TOTAL_LEN} bytes"),
                Span::at(0),
            ));
        }
        self.stack.push(file.to_owned());
        let mut parser = Parser {
            lexer: Lexer::new(&origin),
            peeked: None,
            origin: &origin,
            session: self,
        };
        let result = parser.productions();
        self.stack.pop();
        result
    }
}

/// `\\.\root\cimv2`, `//./root/cimv2`, `ROOT\cimv2` → `root/cimv2` (case kept, `/`-separated).
pub(crate) fn normalize_namespace(ns: &str) -> String {
    linmgmt_cim::NamespaceName::new(ns).into()
}

/// The include target `name` relative to the directory of `from`, normalised.
fn join_include(from: &str, name: &str) -> String {
    let name = name.replace('\\', "/");
    let mut parts: Vec<&str> = if name.starts_with('/') {
        Vec::new()
    } else {
        let mut dir: Vec<&str> = from.split('/').collect();
        dir.pop();
        dir
    };
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// A qualifier as written, before it is typed against its declaration.
struct RawQualifier {
    name: Name,
    value: Option<(Literal, Span)>,
    flavors: Vec<(String, Span)>,
    span: Span,
}

struct Parser<'s, 'c, 'o> {
    lexer: Lexer<'o>,
    peeked: Option<Token>,
    origin: &'o Origin,
    session: &'s mut Session<'c>,
}

fn is_kw(tok: &Tok, kw: &str) -> bool {
    matches!(tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
}

impl Parser<'_, '_, '_> {
    fn peek(&mut self) -> Result<&Token, MofError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn next(&mut self) -> Result<Token, MofError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    fn err(&self, kind: MofErrorKind, message: impl Into<String>, span: Span) -> MofError {
        self.origin.error(kind, message, span)
    }

    fn unexpected(&self, what: &str, tok: &Token) -> MofError {
        self.err(
            MofErrorKind::Syntax,
            format!("expected {what}, found {}", tok.tok.describe()),
            tok.span,
        )
    }

    /// Consumes the punctuation `c` or fails with "expected `c`".
    fn expect(&mut self, c: char, context: &str) -> Result<Span, MofError> {
        let tok = self.next()?;
        if tok.tok == Tok::Punct(c) {
            Ok(tok.span)
        } else {
            Err(self.unexpected(&format!("'{c}' {context}"), &tok))
        }
    }

    fn eat(&mut self, c: char) -> Result<bool, MofError> {
        if self.peek()?.tok == Tok::Punct(c) {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn eat_kw(&mut self, kw: &str) -> Result<bool, MofError> {
        if is_kw(&self.peek()?.tok, kw) {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn ident(&mut self, what: &str) -> Result<(String, Span), MofError> {
        let tok = self.next()?;
        match tok.tok {
            Tok::Ident(s) => Ok((s, tok.span)),
            _ => Err(self.unexpected(what, &tok)),
        }
    }

    fn productions(&mut self) -> Result<(), MofError> {
        loop {
            let tok = self.peek()?.clone();
            match &tok.tok {
                Tok::Eof => return Ok(()),
                Tok::Punct('#') => self.pragma()?,
                Tok::Punct(';') => {
                    self.next()?;
                }
                Tok::Punct('[') => {
                    let quals = self.qualifier_list()?;
                    let next = self.peek()?.clone();
                    if is_kw(&next.tok, "class") {
                        self.class(quals, tok.span.start)?;
                    } else if is_kw(&next.tok, "instance") {
                        self.instance(tok.span.start)?;
                    } else {
                        return Err(
                            self.unexpected("'class' or 'instance' after qualifiers", &next)
                        );
                    }
                }
                t if is_kw(t, "class") => self.class(Vec::new(), tok.span.start)?,
                t if is_kw(t, "instance") => self.instance(tok.span.start)?,
                t if is_kw(t, "qualifier") => self.qualifier_decl()?,
                _ => {
                    return Err(
                        self.unexpected("'class', 'instance', 'qualifier' or '#pragma'", &tok)
                    );
                }
            }
        }
    }

    fn push(&mut self, item: Item, start: usize, end: usize) {
        let entry = Entry {
            namespace: self.session.namespace.clone(),
            item,
            origin: self.origin.clone(),
            span: Span::new(start, end),
        };
        self.session.entries.push(entry);
    }

    // ----- pragmas -----

    fn pragma(&mut self) -> Result<(), MofError> {
        let hash = self.next()?;
        let tok = self.next()?;
        if !is_kw(&tok.tok, "pragma") {
            return Err(self.err(
                MofErrorKind::BadPragma,
                format!("expected 'pragma' after '#', found {}", tok.tok.describe()),
                hash.span.to(tok.span),
            ));
        }
        let (name, name_span) = match self.next()? {
            Token {
                tok: Tok::Ident(s),
                span,
            } => (s, span),
            t => {
                return Err(self.err(
                    MofErrorKind::BadPragma,
                    format!("expected a pragma name, found {}", t.tok.describe()),
                    t.span,
                ));
            }
        };
        // Arguments: an optional parenthesised list of literals and words.
        let mut args: Vec<(Literal, Span)> = Vec::new();
        let mut end = name_span;
        if self.eat('(')? {
            loop {
                let t = self.peek()?.clone();
                match t.tok {
                    Tok::Punct(')') => {
                        end = self.next()?.span;
                        break;
                    }
                    Tok::Punct(',') => {
                        self.next()?;
                    }
                    Tok::Ident(_)
                        if !is_kw(&t.tok, "null")
                            && !is_kw(&t.tok, "true")
                            && !is_kw(&t.tok, "false") =>
                    {
                        let (word, span) = self.ident("a pragma argument")?;
                        args.push((Literal::String(word), span));
                    }
                    Tok::Eof | Tok::Punct(';' | '{' | '}' | '#') => {
                        return Err(self.err(
                            MofErrorKind::BadPragma,
                            format!("#pragma {name}: expected ')'"),
                            t.span,
                        ));
                    }
                    _ => {
                        let v = self.value()?;
                        args.push(v);
                    }
                }
                if args.len() > MAX_LIST_LEN {
                    return Err(self.err(MofErrorKind::Limit, "too many pragma arguments", t.span));
                }
            }
        }
        let whole = hash.span.to(end);
        let string_arg = |this: &Self| -> Result<String, MofError> {
            match args.as_slice() {
                [(Literal::String(s), _)] => Ok(s.clone()),
                _ => Err(this.err(
                    MofErrorKind::BadPragma,
                    format!("#pragma {name} takes one string, e.g. #pragma {name}(\"...\")"),
                    whole,
                )),
            }
        };
        match name.to_ascii_lowercase().as_str() {
            "namespace" => {
                let ns = string_arg(self)?;
                let ns = normalize_namespace(&ns);
                if ns.is_empty() {
                    return Err(self.err(
                        MofErrorKind::BadPragma,
                        "#pragma namespace: empty namespace",
                        whole,
                    ));
                }
                self.session.namespace = ns;
            }
            "include" => {
                let target = string_arg(self)?;
                self.include(&target, whole)?;
            }
            // Accepted and ignored: they steer mofcomp's repository updates and locales.
            _ => {}
        }
        Ok(())
    }

    fn include(&mut self, target: &str, span: Span) -> Result<(), MofError> {
        let path = join_include(&self.origin.file, target);
        if self.session.stack.contains(&path) {
            let chain = self.session.stack.join(" -> ");
            return Err(self.err(
                MofErrorKind::IncludeCycle,
                format!("include cycle: {chain} -> {path}"),
                span,
            ));
        }
        if self.session.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(self.err(
                MofErrorKind::Limit,
                format!("includes nested more than {MAX_INCLUDE_DEPTH} deep"),
                span,
            ));
        }
        let Some(text) = (self.session.config.include)(&path) else {
            return Err(self.err(
                MofErrorKind::IncludeNotFound,
                format!("cannot include {path}: no such file"),
                span,
            ));
        };
        // A `#pragma namespace` inside the included file ends with it.
        let namespace = self.session.namespace.clone();
        self.session.parse_file(&path, &text)?;
        self.session.namespace = namespace;
        Ok(())
    }

    // ----- values -----

    /// A constant value or array initializer.
    fn value(&mut self) -> Result<(Literal, Span), MofError> {
        if self.peek()?.tok == Tok::Punct('{') {
            let open = self.next()?.span;
            let mut items = Vec::new();
            if self.eat('}')? {
                return Ok((Literal::Array(items), open));
            }
            loop {
                if self.peek()?.tok == Tok::Punct('{') {
                    let t = self.peek()?.clone();
                    return Err(self.err(MofErrorKind::Syntax, "arrays cannot be nested", t.span));
                }
                let (lit, _) = self.scalar_value()?;
                items.push(lit);
                if items.len() > MAX_LIST_LEN {
                    return Err(self.err(
                        MofErrorKind::Limit,
                        format!("an array holds at most {MAX_LIST_LEN} elements"),
                        open,
                    ));
                }
                let t = self.next()?;
                match t.tok {
                    Tok::Punct(',') => {}
                    Tok::Punct('}') => return Ok((Literal::Array(items), open.to(t.span))),
                    _ => return Err(self.unexpected("',' or '}' in the array", &t)),
                }
            }
        }
        self.scalar_value()
    }

    fn scalar_value(&mut self) -> Result<(Literal, Span), MofError> {
        let t = self.next()?;
        let lit = match t.tok {
            Tok::Str(mut s) => {
                let mut span = t.span;
                while let Tok::Str(_) = self.peek()?.tok {
                    let Token {
                        tok: Tok::Str(more),
                        span: s2,
                    } = self.next()?
                    else {
                        unreachable!("peeked a string")
                    };
                    s.push_str(&more);
                    span = span.to(s2);
                }
                return Ok((Literal::String(s), span));
            }
            Tok::Char(c) => Literal::Char16(c),
            Tok::Int(n) => Literal::Integer(n),
            Tok::Real(r) => Literal::Real(r),
            Tok::Alias(a) => Literal::Alias(a),
            Tok::Punct(sign @ ('-' | '+')) => {
                let n = self.next()?;
                let lit = match n.tok {
                    Tok::Int(v) => Literal::Integer(if sign == '-' { -v } else { v }),
                    Tok::Real(r) => Literal::Real(if sign == '-' { format!("-{r}") } else { r }),
                    _ => return Err(self.unexpected(&format!("a number after '{sign}'"), &n)),
                };
                return Ok((lit, t.span.to(n.span)));
            }
            Tok::Ident(ref w) if w.eq_ignore_ascii_case("true") => Literal::Boolean(true),
            Tok::Ident(ref w) if w.eq_ignore_ascii_case("false") => Literal::Boolean(false),
            Tok::Ident(ref w) if w.eq_ignore_ascii_case("null") => Literal::Null,
            Tok::Ident(ref w) if w.eq_ignore_ascii_case("instance") => {
                return Err(self.err(
                    MofErrorKind::Syntax,
                    "embedded instances as values are not supported",
                    t.span,
                ));
            }
            _ => return Err(self.unexpected("a value", &t)),
        };
        Ok((lit, t.span))
    }

    // ----- qualifiers -----

    fn qualifier_list(&mut self) -> Result<Vec<RawQualifier>, MofError> {
        let open = self.expect('[', "to open the qualifier list")?;
        let mut out: Vec<RawQualifier> = Vec::new();
        loop {
            let (name, name_span) = self.ident("a qualifier name")?;
            let name = Name::new(name);
            if out.iter().any(|q| q.name == name) {
                return Err(self.err(
                    MofErrorKind::Duplicate,
                    format!("qualifier {name} is given twice"),
                    name_span,
                ));
            }
            let mut span = name_span;
            let value = match self.peek()?.tok {
                Tok::Punct('(') => {
                    self.next()?;
                    let v = self.value()?;
                    span = span.to(self.expect(')', "to close the qualifier value")?);
                    Some(v)
                }
                Tok::Punct('{') => {
                    let v = self.value()?;
                    span = span.to(v.1);
                    Some(v)
                }
                _ => None,
            };
            let mut flavors = Vec::new();
            if self.eat(':')? {
                while let Tok::Ident(_) = self.peek()?.tok {
                    let (f, fspan) = self.ident("a flavor")?;
                    flavors.push((f, fspan));
                }
                if flavors.is_empty() {
                    let t = self.peek()?.clone();
                    return Err(self.unexpected("a flavor after ':'", &t));
                }
            }
            out.push(RawQualifier {
                name,
                value,
                flavors,
                span,
            });
            if out.len() > MAX_LIST_LEN {
                return Err(self.err(MofErrorKind::Limit, "too many qualifiers", open));
            }
            let t = self.next()?;
            match t.tok {
                Tok::Punct(',') => {}
                Tok::Punct(']') => return Ok(out),
                _ => return Err(self.unexpected("',' or ']' in the qualifier list", &t)),
            }
        }
    }

    fn apply_flavors(
        &self,
        mut flavor: Flavor,
        words: &[(String, Span)],
    ) -> Result<Flavor, MofError> {
        for (w, span) in words {
            match w.to_ascii_lowercase().as_str() {
                "enableoverride" => flavor.overridable = true,
                "disableoverride" => flavor.overridable = false,
                "tosubclass" => flavor.to_subclass = true,
                "restricted" | "nottosubclass" => flavor.to_subclass = false,
                "toinstance" => flavor.to_instance = true,
                "nottoinstance" => flavor.to_instance = false,
                "translatable" => flavor.translatable = true,
                "amended" => flavor.amended = true,
                _ => {
                    return Err(self.err(
                        MofErrorKind::UnknownFlavor,
                        format!(
                            "unknown flavor '{w}'; expected EnableOverride, DisableOverride, ToSubclass, Restricted, ToInstance, Translatable or Amended"
                        ),
                        *span,
                    ));
                }
            }
        }
        Ok(flavor)
    }

    /// Types raw qualifiers against the declarations of the current namespace.
    fn type_qualifiers(&self, raw: Vec<RawQualifier>) -> Result<Vec<Qualifier>, MofError> {
        let decls = self
            .session
            .decls
            .get(&self.session.namespace.to_ascii_lowercase());
        raw.into_iter()
            .map(|q| {
                let decl = decls.and_then(|d| d.get(&q.name));
                let base = decl.map_or_else(Flavor::default, |d| d.flavor);
                let flavor = self.apply_flavors(base, &q.flavors)?;
                let value = match (decl, q.value) {
                    (Some(d), None) => {
                        if d.ty == CimType::scalar(ScalarType::Boolean) {
                            Some(linmgmt_cim::Value::Boolean(true))
                        } else {
                            return Err(self.err(
                                MofErrorKind::QualifierType,
                                format!("qualifier {} needs a {} value", d.name, d.ty),
                                q.span,
                            ));
                        }
                    }
                    (Some(d), Some((lit, span))) => {
                        // A single value for an array qualifier is a one-element array.
                        let lit = match lit {
                            Literal::Array(_) | Literal::Null => lit,
                            l if d.ty.array => Literal::Array(vec![l]),
                            l => l,
                        };
                        lit.to_value(&d.ty).map_err(|e| {
                            self.err(
                                MofErrorKind::QualifierType,
                                format!("qualifier {} is {}: {}", d.name, d.ty, describe(&e)),
                                span,
                            )
                        })?
                    }
                    (None, None) => Some(linmgmt_cim::Value::Boolean(true)),
                    (None, Some((lit, span))) => match lit.inferred_type() {
                        None => None,
                        Some(ty) => lit.to_value(&ty).map_err(|e| {
                            self.err(
                                MofErrorKind::QualifierType,
                                format!("qualifier {}: {}", q.name, describe(&e)),
                                span,
                            )
                        })?,
                    },
                };
                Ok(Qualifier {
                    name: decl.map_or(q.name, |d| d.name.clone()),
                    value,
                    flavor,
                })
            })
            .collect()
    }

    fn qualifier_decl(&mut self) -> Result<(), MofError> {
        let start = self.next()?.span.start;
        let (name, _) = self.ident("a qualifier name")?;
        self.expect(':', "after the qualifier name")?;
        let (ty_word, ty_span) = self.ident("a type")?;
        let scalar = match ScalarType::from_keyword(&ty_word) {
            Some(ScalarType::Object) | None => {
                return Err(self.err(
                    MofErrorKind::UnknownType,
                    format!("'{ty_word}' is not a qualifier type"),
                    ty_span,
                ));
            }
            Some(s) => s,
        };
        let array = self.array_spec()?;
        let ty = CimType { scalar, array };
        let mut default = None;
        if self.eat('=')? {
            let (lit, span) = self.value()?;
            default = lit.to_value(&ty).map_err(|e| {
                self.err(
                    value_error_kind(&e),
                    format!("default of qualifier {name} is {ty}: {}", describe(&e)),
                    span,
                )
            })?;
        }
        let mut scopes = Vec::new();
        let mut flavor = Flavor::default();
        while self.eat(',')? {
            let (word, span) = self.ident("'scope' or 'flavor'")?;
            let lower = word.to_ascii_lowercase();
            if lower != "scope" && lower != "flavor" {
                return Err(self.err(
                    MofErrorKind::Syntax,
                    format!("expected 'scope' or 'flavor', found '{word}'"),
                    span,
                ));
            }
            self.expect('(', &format!("after '{word}'"))?;
            let mut words = Vec::new();
            loop {
                let (w, wspan) = self.ident(if lower == "scope" {
                    "a scope"
                } else {
                    "a flavor"
                })?;
                words.push((w, wspan));
                if words.len() > MAX_LIST_LEN {
                    return Err(self.err(MofErrorKind::Limit, "too many scopes or flavors", span));
                }
                if !self.eat(',')? {
                    break;
                }
            }
            self.expect(')', &format!("to close '{word}'"))?;
            if lower == "scope" {
                for (w, wspan) in words {
                    let scope = QualifierScope::from_keyword(&w).ok_or_else(|| {
                        self.err(
                            MofErrorKind::UnknownScope,
                            format!("unknown scope '{w}'; expected class, association, indication, property, reference, method, parameter, qualifier or any"),
                            wspan,
                        )
                    })?;
                    if !scopes.contains(&scope) {
                        scopes.push(scope);
                    }
                }
            } else {
                flavor = self.apply_flavors(flavor, &words)?;
            }
        }
        if scopes.is_empty() {
            scopes.push(QualifierScope::Any);
        }
        let end = self.expect(';', "after the qualifier declaration")?;
        let decl = QualifierDecl {
            name: Name::new(name),
            ty,
            default,
            scopes,
            flavor,
        };
        self.session
            .decls
            .entry(self.session.namespace.to_ascii_lowercase())
            .or_default()
            .insert(decl.name.clone(), decl.clone());
        self.push(Item::Qualifier(decl), start, end.end);
        Ok(())
    }

    // ----- classes -----

    /// `[]` or `[N]` after a name: whether the element is an array.
    fn array_spec(&mut self) -> Result<bool, MofError> {
        if !self.eat('[')? {
            return Ok(false);
        }
        if let Tok::Int(_) = self.peek()?.tok {
            self.next()?;
        }
        self.expect(']', "to close the array size")?;
        Ok(true)
    }

    /// A data type: a keyword, or `Class REF` / `object REF`.
    fn data_type(&mut self) -> Result<(ScalarType, Span), MofError> {
        let (word, span) = self.ident("a type")?;
        if self.eat_kw("ref")? {
            let class = if word.eq_ignore_ascii_case("object") {
                None
            } else {
                Some(Name::new(word))
            };
            return Ok((ScalarType::Reference(class), span));
        }
        match ScalarType::from_keyword(&word) {
            Some(t) => Ok((t, span)),
            None => Err(self.err(
                MofErrorKind::UnknownType,
                format!("unknown type '{word}' (a class name needs REF to be a reference type)"),
                span,
            )),
        }
    }

    fn class(&mut self, raw: Vec<RawQualifier>, start: usize) -> Result<(), MofError> {
        let qualifiers = self.type_qualifiers(raw)?;
        self.next()?; // `class`
        let (name, _) = self.ident("a class name")?;
        if self.eat_kw("as")? {
            let t = self.next()?;
            if !matches!(t.tok, Tok::Alias(_)) {
                return Err(self.unexpected("an alias ($name) after 'as'", &t));
            }
        }
        let superclass = if self.eat(':')? {
            Some(Name::new(self.ident("a superclass name")?.0))
        } else {
            None
        };
        self.expect('{', "to open the class body")?;
        let mut properties: Vec<Property> = Vec::new();
        let mut methods: Vec<Method> = Vec::new();
        loop {
            if self.eat('}')? {
                break;
            }
            let raw = if self.peek()?.tok == Tok::Punct('[') {
                self.qualifier_list()?
            } else {
                Vec::new()
            };
            let quals = self.type_qualifiers(raw)?;
            let (scalar, _) = self.data_type()?;
            let (fname, fspan) = self.ident("a property or method name")?;
            let fname = Name::new(fname);
            if properties.iter().any(|p| p.name == fname) || methods.iter().any(|m| m.name == fname)
            {
                return Err(self.err(
                    MofErrorKind::Duplicate,
                    format!("class {name}: {fname} is declared twice"),
                    fspan,
                ));
            }
            if self.eat('(')? {
                let parameters = self.parameters(&name, &fname)?;
                self.expect(';', "after the method declaration")?;
                methods.push(Method {
                    name: fname,
                    return_type: CimType::scalar(scalar),
                    parameters,
                    qualifiers: quals,
                });
                continue;
            }
            let array = self.array_spec()?;
            let ty = CimType { scalar, array };
            let mut default = None;
            if self.eat('=')? {
                let (lit, span) = self.value()?;
                default = lit.to_value(&ty).map_err(|e| {
                    self.err(
                        value_error_kind(&e),
                        format!("default of {name}.{fname} ({ty}): {}", describe(&e)),
                        span,
                    )
                })?;
            }
            self.expect(';', &format!("after property {fname}"))?;
            properties.push(Property {
                name: fname,
                ty,
                default,
                qualifiers: quals,
            });
        }
        let end = self.expect(';', "after the class body")?;
        let class = Class {
            name: Name::new(name),
            superclass,
            qualifiers,
            properties,
            methods,
        };
        self.push(Item::Class(class), start, end.end);
        Ok(())
    }

    fn parameters(&mut self, class: &str, method: &Name) -> Result<Vec<Parameter>, MofError> {
        let mut out: Vec<Parameter> = Vec::new();
        if self.eat(')')? {
            return Ok(out);
        }
        loop {
            let raw = if self.peek()?.tok == Tok::Punct('[') {
                self.qualifier_list()?
            } else {
                Vec::new()
            };
            let qualifiers = self.type_qualifiers(raw)?;
            let (scalar, _) = self.data_type()?;
            let (pname, pspan) = self.ident("a parameter name")?;
            let pname = Name::new(pname);
            if out.iter().any(|p| p.name == pname) {
                return Err(self.err(
                    MofErrorKind::Duplicate,
                    format!("method {class}.{method}: parameter {pname} is declared twice"),
                    pspan,
                ));
            }
            let array = self.array_spec()?;
            if self.peek()?.tok == Tok::Punct('=') {
                let t = self.next()?;
                return Err(self.err(
                    MofErrorKind::Syntax,
                    "parameter defaults are not supported",
                    t.span,
                ));
            }
            out.push(Parameter {
                name: pname,
                ty: CimType { scalar, array },
                qualifiers,
            });
            if out.len() > MAX_LIST_LEN {
                return Err(self.err(MofErrorKind::Limit, "too many parameters", pspan));
            }
            let t = self.next()?;
            match t.tok {
                Tok::Punct(',') => {}
                Tok::Punct(')') => return Ok(out),
                _ => return Err(self.unexpected("',' or ')' in the parameter list", &t)),
            }
        }
    }

    // ----- instances -----

    fn instance(&mut self, start: usize) -> Result<(), MofError> {
        self.next()?; // `instance`
        let t = self.next()?;
        if !is_kw(&t.tok, "of") {
            return Err(self.unexpected("'of' after 'instance'", &t));
        }
        let (class, _) = self.ident("a class name")?;
        let alias = if self.eat_kw("as")? {
            let t = self.next()?;
            match t.tok {
                Tok::Alias(a) => Some(a),
                _ => return Err(self.unexpected("an alias ($name) after 'as'", &t)),
            }
        } else {
            None
        };
        self.expect('{', "to open the instance body")?;
        let mut properties: Vec<(Name, Literal, Span)> = Vec::new();
        loop {
            if self.eat('}')? {
                break;
            }
            if self.peek()?.tok == Tok::Punct('[') {
                // Qualifiers on instance properties are accepted and dropped.
                let raw = self.qualifier_list()?;
                self.type_qualifiers(raw)?;
            }
            let (pname, pspan) = self.ident("a property name")?;
            let pname = Name::new(pname);
            if properties.iter().any(|(n, _, _)| *n == pname) {
                return Err(self.err(
                    MofErrorKind::Duplicate,
                    format!("property {pname} is given twice"),
                    pspan,
                ));
            }
            self.expect('=', &format!("after {pname}"))?;
            let (lit, span) = self.value()?;
            self.expect(';', &format!("after the value of {pname}"))?;
            properties.push((pname, lit, span));
        }
        let end = self.expect(';', "after the instance body")?;
        let spec = InstanceSpec {
            class: Name::new(class),
            alias,
            properties,
            origin: self.origin.clone(),
        };
        self.push(Item::Instance(spec), start, end.end);
        Ok(())
    }
}

/// The error kind for a value that does not fit a type.
pub(crate) fn value_error_kind(e: &ValueError) -> MofErrorKind {
    match e {
        ValueError::OutOfRange { .. } => MofErrorKind::OutOfRange,
        _ => MofErrorKind::TypeMismatch,
    }
}

/// The value error as a sentence fragment.
pub(crate) fn describe(e: &ValueError) -> String {
    match e {
        ValueError::Mismatch { expected, found } => {
            let article = if found.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            format!("expected {expected}, found {article} {found}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_normalise() {
        assert_eq!(normalize_namespace(r"\\.\root\cimv2"), "root/cimv2");
        assert_eq!(normalize_namespace("//host/root/cimv2"), "root/cimv2");
        assert_eq!(normalize_namespace(r"ROOT\CIMV2"), "ROOT/CIMV2");
        assert_eq!(normalize_namespace("interop"), "interop");
    }

    #[test]
    fn include_paths_join() {
        assert_eq!(
            join_include("schema/cimv2.mof", "cimv2/a.mof"),
            "schema/cimv2/a.mof"
        );
        assert_eq!(join_include("a.mof", "b.mof"), "b.mof");
        assert_eq!(join_include("x/y/a.mof", "../b.mof"), "x/b.mof");
        assert_eq!(join_include("x/a.mof", r"sub\c.mof"), "x/sub/c.mof");
    }
}
