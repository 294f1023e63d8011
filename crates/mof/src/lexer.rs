//! The MOF lexer: identifiers, literals and punctuation with byte spans; comments skipped.

use crate::error::{MofError, MofErrorKind, Origin};
use linmgmt_cim::Span;

/// One token's kind and decoded payload.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// An identifier or keyword (keywords are recognised by the parser, case-insensitively).
    Ident(String),
    /// `$name`.
    Alias(String),
    /// A string literal, escapes decoded.
    Str(String),
    /// A char16 literal.
    Char(char),
    /// An unsigned integer literal (decimal, hex, octal or binary).
    Int(i128),
    /// A real literal, as written.
    Real(String),
    /// One of `{ } [ ] ( ) ; , : = + - #`.
    Punct(char),
    /// The end of the input.
    Eof,
}

impl Tok {
    /// A short description for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Alias(s) => format!("'${s}'"),
            Tok::Str(_) => "a string".into(),
            Tok::Char(_) => "a char16 literal".into(),
            Tok::Int(_) | Tok::Real(_) => "a number".into(),
            Tok::Punct(c) => format!("'{c}'"),
            Tok::Eof => "the end of the file".into(),
        }
    }
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// Turns MOF text into tokens on demand.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    origin: &'a Origin,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || (!c.is_ascii() && c.is_alphabetic())
}

fn is_ident_continue(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || (!c.is_ascii() && c.is_alphanumeric())
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(origin: &'a Origin) -> Lexer<'a> {
        Lexer {
            src: &origin.source,
            pos: 0,
            origin,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.src[self.pos..].chars();
        it.next();
        it.next()
    }

    fn err(&self, kind: MofErrorKind, message: impl Into<String>, start: usize) -> MofError {
        let end = (self.pos.max(start + 1)).min(self.src.len().max(start));
        self.origin.error(kind, message, Span::new(start, end))
    }

    /// Skips whitespace and comments.
    fn skip_trivia(&mut self) -> Result<(), MofError> {
        loop {
            let rest = &self.src[self.pos..];
            if let Some(c) = rest.chars().next()
                && (c.is_whitespace() || c == '\u{feff}')
            {
                self.pos += c.len_utf8();
            } else if rest.starts_with("//") {
                self.pos += rest.find('\n').unwrap_or(rest.len());
            } else if let Some(body) = rest.strip_prefix("/*") {
                match body.find("*/") {
                    Some(end) => self.pos += end + 4,
                    None => {
                        let start = self.pos;
                        self.pos = start + 2;
                        return Err(self.err(
                            MofErrorKind::UnterminatedComment,
                            "unterminated comment: no closing */",
                            start,
                        ));
                    }
                }
            } else {
                return Ok(());
            }
        }
    }

    /// The next token.
    pub(crate) fn next_token(&mut self) -> Result<Token, MofError> {
        self.skip_trivia()?;
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token {
                tok: Tok::Eof,
                span: Span::at(start),
            });
        };
        let tok = if is_ident_start(c) {
            Tok::Ident(self.ident().to_owned())
        } else if c == '$' {
            self.pos += 1;
            match self.peek() {
                Some(c) if is_ident_start(c) => Tok::Alias(self.ident().to_owned()),
                _ => {
                    return Err(self.err(
                        MofErrorKind::Syntax,
                        "expected an alias name after '$'",
                        start,
                    ));
                }
            }
        } else if c == '"' {
            self.pos += 1;
            Tok::Str(self.quoted('"', start)?)
        } else if c == '\'' {
            self.pos += 1;
            let text = self.quoted('\'', start)?;
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if (c as u32) <= 0xFFFF => Tok::Char(c),
                _ => {
                    return Err(self.err(
                        MofErrorKind::Syntax,
                        "a char16 literal holds exactly one UCS-2 character",
                        start,
                    ));
                }
            }
        } else if c.is_ascii_digit()
            || (c == '.' && self.peek2().is_some_and(|d| d.is_ascii_digit()))
        {
            self.number(start)?
        } else if "{}[]();,:=+-#".contains(c) {
            self.pos += 1;
            Tok::Punct(c)
        } else {
            self.pos += c.len_utf8();
            return Err(self.err(
                MofErrorKind::Syntax,
                format!("unexpected character {c:?}"),
                start,
            ));
        };
        Ok(Token {
            tok,
            span: Span::new(start, self.pos),
        })
    }

    fn ident(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !is_ident_continue(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.src[start..self.pos]
    }

    /// The body of a quoted literal; the opening quote is already consumed.
    fn quoted(&mut self, quote: char, start: usize) -> Result<String, MofError> {
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err(
                    MofErrorKind::UnterminatedString,
                    "unterminated string: no closing quote before the end of the file",
                    start,
                ));
            };
            if c == '\n' || c == '\r' {
                let end = self.pos;
                self.pos = start + 1;
                let mut e = self.err(
                    MofErrorKind::UnterminatedString,
                    "unterminated string: no closing quote before the end of the line",
                    start,
                );
                e.span = Span::new(start, end);
                return Err(e);
            }
            self.pos += c.len_utf8();
            if c == quote {
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let esc_start = self.pos - 1;
            let Some(e) = self.peek() else { continue };
            self.pos += e.len_utf8();
            let decoded = match e {
                'b' => '\u{8}',
                't' => '\t',
                'n' => '\n',
                'f' => '\u{c}',
                'r' => '\r',
                '"' => '"',
                '\'' => '\'',
                '\\' => '\\',
                'x' | 'X' => {
                    let digits_start = self.pos;
                    while self.pos - digits_start < 4
                        && self.peek().is_some_and(|d| d.is_ascii_hexdigit())
                    {
                        self.pos += 1;
                    }
                    let digits = &self.src[digits_start..self.pos];
                    let code = u32::from_str_radix(digits, 16).ok();
                    match code.and_then(char::from_u32) {
                        Some(ch) => ch,
                        None => {
                            return Err(self.err(
                                MofErrorKind::BadEscape,
                                format!("invalid escape \\{e}{digits}: expected 1 to 4 hex digits of a non-surrogate character"),
                                esc_start,
                            ));
                        }
                    }
                }
                other => {
                    return Err(self.err(
                        MofErrorKind::BadEscape,
                        format!("unknown escape sequence \\{other}"),
                        esc_start,
                    ));
                }
            };
            out.push(decoded);
        }
    }

    /// A numeric literal: the run of word characters (and an exponent sign) is classified.
    fn number(&mut self, start: usize) -> Result<Tok, MofError> {
        let hex = self.src[self.pos..].starts_with("0x") || self.src[self.pos..].starts_with("0X");
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                self.pos += 1;
                if !hex
                    && (c == 'e' || c == 'E')
                    && matches!(self.peek(), Some('+' | '-'))
                    && self.src[start..self.pos - 1]
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.')
                {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
        let text = &self.src[start..self.pos];
        let bad = |this: &Self, why: &str| {
            this.err(
                MofErrorKind::BadNumber,
                format!("invalid number '{}': {why}", shorten(text)),
                start,
            )
        };
        let too_big = |this: &Self| bad(this, "too large");
        if hex {
            let digits = &text[2..];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(self, "expected hex digits after 0x"));
            }
            return i128::from_str_radix(digits, 16)
                .map(Tok::Int)
                .map_err(|_| too_big(self));
        }
        if text.contains(['.', 'e', 'E'])
            && !text.ends_with(['b', 'B'])
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || b".eE+-".contains(&b))
        {
            let valid = text.parse::<f64>().is_ok_and(f64::is_finite);
            if !valid || text.ends_with('.') {
                return Err(bad(self, "not a real number"));
            }
            return Ok(Tok::Real(text.to_owned()));
        }
        if let Some(bits) = text.strip_suffix(['b', 'B'])
            && !bits.is_empty()
            && bits.bytes().all(|b| b.is_ascii_digit())
        {
            if bits.bytes().all(|b| b == b'0' || b == b'1') {
                return i128::from_str_radix(bits, 2)
                    .map(Tok::Int)
                    .map_err(|_| too_big(self));
            }
            return Err(bad(self, "a binary literal has only 0 and 1 before the b"));
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(self, "unexpected characters"));
        }
        if text.len() > 1 && text.starts_with('0') {
            if !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return Err(bad(self, "an octal literal has only digits 0 to 7"));
            }
            return i128::from_str_radix(&text[1..], 8)
                .map(Tok::Int)
                .map_err(|_| too_big(self));
        }
        text.parse::<i128>()
            .map(Tok::Int)
            .map_err(|_| too_big(self))
    }
}

fn shorten(text: &str) -> &str {
    let mut end = text.len().min(40);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
