//! Query errors: a kind that maps to a WMI status, a span into the query, and a short message.

use linmgmt_cim::{Span, WbemStatus};

/// What kind of failure a [`WqlError`] is; each kind maps to one WMI status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not WQL (`WBEM_E_INVALID_SYNTAX`).
    InvalidSyntax,
    /// The query is well formed but meaningless: unknown property, type mismatch,
    /// ClassDefsOnly with ResultClass... (`WBEM_E_INVALID_QUERY`).
    InvalidQuery,
    /// The class does not exist (`WBEM_E_INVALID_CLASS`); raised by callers that know the schema.
    InvalidClass,
    /// The object path of ASSOCIATORS OF / REFERENCES OF, or a reference constant, is bad
    /// (`WBEM_E_INVALID_OBJECT_PATH`).
    InvalidObjectPath,
    /// The operator does not apply to the property's type, e.g. `BoolProp >= 0`
    /// (`WBEM_E_INVALID_OPERATOR`).
    InvalidOperator,
    /// The query exceeds a size limit: length, nesting depth or number of terms
    /// (`WBEM_E_QUOTA_VIOLATION`).
    QuotaViolation,
    /// `BY` or `HAVING` without `GROUP WITHIN` (`WBEM_E_MISSING_GROUP_WITHIN`).
    MissingGroupWithin,
    /// An event filter that cannot be used (`WBEM_E_UNPARSABLE_QUERY`).
    UnparsableQuery,
    /// The FROM class of an event query is not an event class (`WBEM_E_NOT_EVENT_CLASS`);
    /// raised by callers that know the schema.
    NotEventClass,
}

impl ErrorKind {
    /// The WMI status this kind is reported as.
    pub fn status(self) -> WbemStatus {
        match self {
            ErrorKind::InvalidSyntax => WbemStatus::InvalidSyntax,
            ErrorKind::InvalidQuery => WbemStatus::InvalidQuery,
            ErrorKind::InvalidClass => WbemStatus::InvalidClass,
            ErrorKind::InvalidObjectPath => WbemStatus::InvalidObjectPath,
            ErrorKind::InvalidOperator => WbemStatus::InvalidOperator,
            ErrorKind::QuotaViolation => WbemStatus::QuotaViolation,
            ErrorKind::MissingGroupWithin => WbemStatus::MissingGroupWithin,
            ErrorKind::UnparsableQuery => WbemStatus::UnparsableQuery,
            ErrorKind::NotEventClass => WbemStatus::NotEventClass,
        }
    }
}

/// Why a query was refused: what ([`ErrorKind`]), where (a byte [`Span`] into the query
/// text) and a short human message. Draw it with [`crate::caret`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WqlError {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// Where in the query text.
    pub span: Span,
    /// What is wrong, e.g. "expected FROM after the select list".
    pub message: String,
}

impl WqlError {
    /// A new error.
    pub fn new(kind: ErrorKind, span: Span, message: impl Into<String>) -> Self {
        WqlError {
            kind,
            span,
            message: message.into(),
        }
    }

    /// The WMI status to report, e.g. `WBEM_E_INVALID_SYNTAX` for parse errors.
    pub fn status(&self) -> WbemStatus {
        self.kind.status()
    }

    pub(crate) fn syntax(span: Span, message: impl Into<String>) -> Self {
        WqlError::new(ErrorKind::InvalidSyntax, span, message)
    }

    pub(crate) fn query(span: Span, message: impl Into<String>) -> Self {
        WqlError::new(ErrorKind::InvalidQuery, span, message)
    }

    pub(crate) fn operator(span: Span, message: impl Into<String>) -> Self {
        WqlError::new(ErrorKind::InvalidOperator, span, message)
    }

    pub(crate) fn quota(span: Span, message: impl Into<String>) -> Self {
        WqlError::new(ErrorKind::QuotaViolation, span, message)
    }
}

/// The line(s) of `source` holding `span`, with a line of `^` under the span, for printing
/// under an error message. Long lines are cut to a window around the span; an empty span
/// (e.g. at the end of the text) gets one caret.
pub fn caret(source: &str, span: Span) -> String {
    const BEFORE: usize = 40;
    const AFTER: usize = 80;
    let start = floor_boundary(source, span.start.min(source.len()));
    let end = floor_boundary(source, span.end.clamp(start, source.len()));
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let line = &source[line_start..line_end];
    let line = line.strip_suffix('\r').unwrap_or(line);
    // Column of the span in characters, and the caret width (clipped to this line).
    let col = source[line_start..start].chars().count();
    let width = source[start..end.min(line_start + line.len()).max(start)]
        .chars()
        .count()
        .clamp(1, AFTER);
    // Cut a window so a 64 KiB one-line query does not flood the terminal.
    let chars: Vec<char> = line.chars().collect();
    let from = col.saturating_sub(BEFORE);
    let to = (col + width.max(1) + AFTER).min(chars.len());
    let mut out = String::new();
    let mut pad = String::new();
    if from > 0 {
        out.push_str("...");
        pad.push_str("   ");
    }
    out.extend(&chars[from..to.max(from)]);
    if to < chars.len() {
        out.push_str("...");
    }
    for &c in &chars[from..col.min(chars.len())] {
        // Keep tabs so the carets line up in a terminal.
        pad.push(if c == '\t' { '\t' } else { ' ' });
    }
    let shown = width.min(to.saturating_sub(col).max(1));
    out.push('\n');
    out.push_str(&pad);
    out.push_str(&"^".repeat(shown));
    out
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
