//! The WQL lexer: source text to spanned tokens.
//!
//! Keywords are not recognised here: every word is a [`Tok::Word`] and the parser compares
//! it case-insensitively, because most WQL keywords (`Role`, `ResultClass`, `KeysOnly`)
//! are keywords only in one clause.

use crate::error::WqlError;
use linmgmt_cim::Span;

/// One token kind, with its decoded payload.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// An identifier or keyword: `[A-Za-z_][A-Za-z0-9_]*` (also non-ASCII letters).
    Word,
    /// A string literal, unescaped.
    Str(String),
    /// An integer literal (decimal or `0x` hex, maybe negative).
    Int(i128),
    /// A real literal (`1.5`, `-2e3`, `.5`).
    Real(f64),
    /// `=`
    Eq,
    /// `<>` or `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `,`
    Comma,
    /// `*`
    Star,
    /// `.`
    Dot,
    /// `+`, `-` or `/`: lexed only so the parser can say "arithmetic is not supported".
    Arith,
    /// `{...}`: the raw text between the braces (an object path).
    Path(String),
    /// End of input.
    Eof,
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

impl Token {
    /// The token's text in `src`.
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.span.start..self.span.end]
    }
}

/// A short description of a token for messages ("keyword FROM", "'abc'", "end of query").
pub(crate) fn describe(t: &Token, src: &str) -> String {
    match &t.tok {
        Tok::Eof => "the end of the query".to_owned(),
        Tok::Word => format!("'{}'", t.text(src)),
        Tok::Str(_) => "a string".to_owned(),
        Tok::Int(_) | Tok::Real(_) => format!("the number {}", t.text(src)),
        Tok::Path(_) => "an object path".to_owned(),
        _ => format!("'{}'", t.text(src)),
    }
}

fn is_word_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, WqlError> {
    let mut out = Vec::new();
    let bytes = src.as_bytes();
    let mut chars = src.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let next = |i: usize| src[i..].chars().next();
        let (tok, end) = match c {
            '=' => (Tok::Eq, start + 1),
            '(' => (Tok::LParen, start + 1),
            ')' => (Tok::RParen, start + 1),
            ',' => (Tok::Comma, start + 1),
            '*' => (Tok::Star, start + 1),
            '+' | '/' => (Tok::Arith, start + 1),
            '<' => match next(start + 1) {
                Some('>') => (Tok::Ne, start + 2),
                Some('=') => (Tok::Le, start + 2),
                _ => (Tok::Lt, start + 1),
            },
            '>' => match next(start + 1) {
                Some('=') => (Tok::Ge, start + 2),
                _ => (Tok::Gt, start + 1),
            },
            '!' => match next(start + 1) {
                Some('=') => (Tok::Ne, start + 2),
                _ => {
                    return Err(WqlError::syntax(
                        Span::new(start, start + 1),
                        "unexpected '!'; did you mean '!='?",
                    ));
                }
            },
            '\'' | '"' => lex_string(src, start, c)?,
            '{' => lex_path(src, start)?,
            '}' => {
                return Err(WqlError::syntax(
                    Span::new(start, start + 1),
                    "unexpected '}' without a matching '{'",
                ));
            }
            '-' if next(start + 1).is_some_and(|d| d.is_ascii_digit() || d == '.') => {
                lex_number(src, start)?
            }
            '-' => (Tok::Arith, start + 1),
            '.' if next(start + 1).is_some_and(|d| d.is_ascii_digit()) => lex_number(src, start)?,
            '.' => (Tok::Dot, start + 1),
            d if d.is_ascii_digit() => lex_number(src, start)?,
            w if is_word_start(w) => {
                let len = src[start..]
                    .char_indices()
                    .find(|&(_, c)| !is_word_char(c))
                    .map_or(src.len() - start, |(i, _)| i);
                (Tok::Word, start + len)
            }
            other => {
                return Err(WqlError::syntax(
                    Span::new(start, start + other.len_utf8()),
                    format!("unexpected character '{}'", other.escape_debug()),
                ));
            }
        };
        debug_assert!(end <= bytes.len());
        out.push(Token {
            tok,
            span: Span::new(start, end),
        });
        while chars.peek().is_some_and(|&(i, _)| i < end) {
            chars.next();
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        span: Span::at(src.len()),
    });
    Ok(out)
}

/// A string in `'…'` or `"…"`. The escapes are `\\`, `\'` and `\"`; any other backslash
/// sequence is an error, so a Windows path written with single backslashes is reported
/// instead of being silently changed.
fn lex_string(src: &str, start: usize, quote: char) -> Result<(Tok, usize), WqlError> {
    let mut value = String::new();
    let mut it = src[start + 1..].char_indices();
    while let Some((i, c)) = it.next() {
        let at = start + 1 + i;
        match c {
            '\\' => match it.next() {
                Some((_, e @ ('\\' | '\'' | '"'))) => value.push(e),
                Some((_, e)) => {
                    return Err(WqlError::syntax(
                        Span::new(at, at + 1 + e.len_utf8()),
                        format!(
                            "unknown escape '\\{}' in a string; write '\\\\' for a backslash",
                            e.escape_debug()
                        ),
                    ));
                }
                None => break,
            },
            c if c == quote => return Ok((Tok::Str(value), at + 1)),
            c => value.push(c),
        }
    }
    Err(WqlError::syntax(
        Span::new(start, src.len()),
        "unterminated string",
    ))
}

/// `{path}`: the raw text up to the matching `}`, skipping over quoted key values (which may
/// hold `}` and, unlike the rest of the path, spaces).
fn lex_path(src: &str, start: usize) -> Result<(Tok, usize), WqlError> {
    let body = start + 1;
    let mut quote: Option<char> = None;
    let mut it = src[body..].char_indices();
    while let Some((i, c)) = it.next() {
        let at = body + i;
        match (quote, c) {
            (Some(_), '\\') => {
                it.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '}') => return Ok((Tok::Path(src[body..at].to_owned()), at + 1)),
            (None, c) if c.is_whitespace() => {
                return Err(WqlError::new(
                    crate::ErrorKind::InvalidObjectPath,
                    Span::new(at, at + c.len_utf8()),
                    "whitespace is not allowed inside an object path",
                ));
            }
            (None, _) => {}
        }
    }
    Err(WqlError::syntax(
        Span::new(start, src.len()),
        "unterminated object path: missing '}'",
    ))
}

/// Decimal and hex integers, reals with a fraction and/or exponent; `-` allowed in front.
fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), WqlError> {
    let b = src.as_bytes();
    let mut i = start;
    let negative = b[i] == b'-';
    if negative {
        i += 1;
    }
    let digits_end = |mut j: usize, hex: bool| {
        while j < b.len() && (b[j].is_ascii_digit() || (hex && b[j].is_ascii_hexdigit())) {
            j += 1;
        }
        j
    };
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        let hs = i + 2;
        let he = digits_end(hs, true);
        let end = word_end(src, he);
        if he == hs || end != he {
            return Err(WqlError::syntax(
                Span::new(start, end),
                "malformed hexadecimal number",
            ));
        }
        let n = i128::from_str_radix(&src[hs..he], 16).map_err(|_| out_of_range(start, he))?;
        return Ok((Tok::Int(if negative { -n } else { n }), he));
    }
    let int_end = digits_end(i, false);
    let mut end = int_end;
    let mut real = false;
    if b.get(end) == Some(&b'.') {
        let frac_end = digits_end(end + 1, false);
        // "1." is fine as a real, but "1.x" is not a number followed by a dotted name.
        real = true;
        end = frac_end;
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let mut j = end + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_end = digits_end(j, false);
        if exp_end > j {
            real = true;
            end = exp_end;
        }
    }
    let word = word_end(src, end);
    if word != end {
        return Err(WqlError::syntax(
            Span::new(start, word),
            format!("malformed number '{}'", &src[start..word]),
        ));
    }
    let text = &src[start..end];
    if real {
        let r: f64 = text.parse().map_err(|_| out_of_range(start, end))?;
        if !r.is_finite() {
            return Err(out_of_range(start, end));
        }
        Ok((Tok::Real(r), end))
    } else {
        let n: i128 = text.parse().map_err(|_| out_of_range(start, end))?;
        Ok((Tok::Int(n), end))
    }
}

/// The end of the word characters (letters, digits, `_`) starting at `i`.
fn word_end(src: &str, i: usize) -> usize {
    src[i..]
        .char_indices()
        .find(|&(_, c)| !is_word_char(c))
        .map_or(src.len(), |(j, _)| i + j)
}

fn out_of_range(start: usize, end: usize) -> WqlError {
    WqlError::syntax(Span::new(start, end), "number out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers() {
        assert_eq!(
            kinds("1 -2 0x1F 1.5 -.5 2e3 1."),
            vec![
                Tok::Int(1),
                Tok::Int(-2),
                Tok::Int(31),
                Tok::Real(1.5),
                Tok::Real(-0.5),
                Tok::Real(2000.0),
                Tok::Real(1.0),
                Tok::Eof
            ]
        );
        assert!(tokenize("12abc").is_err());
        assert!(tokenize("0x").is_err());
        assert!(tokenize("99999999999999999999999999999999999999999999").is_err());
    }

    #[test]
    fn strings_and_paths() {
        assert_eq!(
            kinds(r#"'a\'b' "c\"d\\" {X.K="a b}"}"#),
            vec![
                Tok::Str("a'b".into()),
                Tok::Str("c\"d\\".into()),
                Tok::Path(r#"X.K="a b}""#.into()),
                Tok::Eof
            ]
        );
        assert!(tokenize(r"'C:\Windows'").is_err());
        assert!(tokenize("'abc").is_err());
        assert!(tokenize("{X.K=1").is_err());
        assert!(tokenize("{X.K = 1}").is_err());
    }
}
