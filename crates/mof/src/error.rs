//! MOF errors: a kind, a message and the place in the source, shown as `file:line:column`.

use linmgmt_cim::{Span, WbemStatus, line_col};
use std::fmt;
use std::sync::Arc;

/// What went wrong while reading MOF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MofErrorKind {
    /// Text that does not follow the MOF grammar.
    Syntax,
    /// A string or char16 literal without its closing quote.
    UnterminatedString,
    /// A `/*` comment without its `*/`.
    UnterminatedComment,
    /// A malformed or unsupported escape sequence in a string.
    BadEscape,
    /// A number that is not a valid integer or real literal.
    BadNumber,
    /// A type keyword that is not a CIM type.
    UnknownType,
    /// A value that does not fit the declared type.
    TypeMismatch,
    /// An integer outside the range of its type.
    OutOfRange,
    /// A qualifier value that does not fit the qualifier's declared type.
    QualifierType,
    /// A flavor keyword that does not exist.
    UnknownFlavor,
    /// A scope keyword that does not exist.
    UnknownScope,
    /// A property, method or parameter declared twice.
    Duplicate,
    /// A malformed or misused `#pragma`.
    BadPragma,
    /// `#pragma include` of a file the resolver does not know.
    IncludeNotFound,
    /// `#pragma include` that includes itself, directly or not.
    IncludeCycle,
    /// An input beyond a size or nesting limit.
    Limit,
    /// A class that is not defined (superclass, reference target, instance class).
    UnknownClass,
    /// A property that the class does not have.
    UnknownProperty,
    /// A `$alias` that no instance declared.
    UnknownAlias,
    /// A class defined twice in one namespace.
    DuplicateClass,
    /// A class that cannot be resolved against its superclass (overrides, flavors).
    Resolution,
}

impl MofErrorKind {
    /// The WMI status this kind of error maps to.
    pub fn status(self) -> WbemStatus {
        use MofErrorKind::*;
        match self {
            Syntax | UnterminatedString | UnterminatedComment | BadEscape | BadNumber
            | UnknownFlavor | UnknownScope | Duplicate | BadPragma | IncludeCycle
            | UnknownAlias => WbemStatus::InvalidSyntax,
            IncludeNotFound | UnknownProperty => WbemStatus::NotFound,
            UnknownType => WbemStatus::InvalidPropertyType,
            TypeMismatch | OutOfRange => WbemStatus::TypeMismatch,
            QualifierType => WbemStatus::InvalidQualifierType,
            Limit => WbemStatus::QuotaViolation,
            UnknownClass | DuplicateClass | Resolution => WbemStatus::InvalidClass,
        }
    }
}

/// An error in MOF text, with its position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct MofError {
    /// What went wrong.
    pub kind: MofErrorKind,
    /// A sentence for people.
    pub message: String,
    /// Where, as byte offsets into `file`'s text.
    pub span: Span,
    /// The file name as given to the parser (or formed by `#pragma include`).
    pub file: String,
    /// The 1-based line of `span.start`.
    pub line: usize,
    /// The 1-based column (in characters) of `span.start`.
    pub column: usize,
    /// The text of that line, without its newline (shortened when very long).
    pub line_text: String,
}

/// The longest line excerpt kept in an error.
const MAX_LINE_TEXT: usize = 200;

impl MofError {
    /// An error at `span` of `source`, the text of `file`.
    pub fn new(
        kind: MofErrorKind,
        message: impl Into<String>,
        file: &str,
        source: &str,
        span: Span,
    ) -> MofError {
        let start = span.start.min(source.len());
        let (line, column) = line_col(source, start);
        let mut line_start = start;
        while line_start > 0 && !source.is_char_boundary(line_start) {
            line_start -= 1;
        }
        line_start = source[..line_start].rfind('\n').map_or(0, |i| i + 1);
        let rest = &source[line_start..];
        let mut text = rest.split('\n').next().unwrap_or("").trim_end_matches('\r');
        if text.len() > MAX_LINE_TEXT {
            let mut end = MAX_LINE_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text = &text[..end];
        }
        MofError {
            kind,
            message: message.into(),
            span,
            file: file.to_owned(),
            line,
            column,
            line_text: text.to_owned(),
        }
    }

    /// The WMI status for the error (`WBEM_E_INVALID_SYNTAX`, `WBEM_E_TYPE_MISMATCH`, ...).
    pub fn status(&self) -> WbemStatus {
        self.kind.status()
    }

    /// The offending line with a caret line under the span, for terminals.
    pub fn snippet(&self) -> String {
        let width = self.line_text.chars().count();
        let pad = (self.column - 1).min(width);
        let len = self.span.end.saturating_sub(self.span.start).max(1);
        let carets = len.min(width.saturating_sub(pad).max(1));
        format!(
            "{}\n{}{}",
            self.line_text,
            " ".repeat(pad),
            "^".repeat(carets)
        )
    }
}

/// Where an item came from: its file name and that file's text, shared by all its items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file name.
    pub file: Arc<str>,
    /// The file's text.
    pub source: Arc<str>,
}

impl Origin {
    /// An origin for `source`, named `file`.
    pub fn new(file: &str, source: &str) -> Origin {
        Origin {
            file: file.into(),
            source: source.into(),
        }
    }

    /// An error at `span` of this file.
    pub fn error(&self, kind: MofErrorKind, message: impl Into<String>, span: Span) -> MofError {
        MofError::new(kind, message, &self.file, &self.source, span)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)
    }
}
