//! Engine errors: a WMI status, a message and, for query text, where the fault is.

use linmgmt_cim::{PathError, Span, WbemStatus};

/// A failed operation, as WMI reports it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct EngineError {
    /// The WMI status.
    pub status: WbemStatus,
    /// What went wrong, for people.
    pub message: String,
    /// Where in the query or path text, when known.
    pub span: Option<Span>,
}

impl EngineError {
    /// An error without a position.
    pub fn new(status: WbemStatus, message: impl Into<String>) -> Self {
        EngineError {
            status,
            message: message.into(),
            span: None,
        }
    }

    /// The same error, pointing at `span` (keeps an existing span).
    pub fn with_span(mut self, span: Span) -> Self {
        if self.span.is_none() && span != Span::default() {
            self.span = Some(span);
        }
        self
    }

    /// From a WQL parse or compile error.
    pub fn from_wql(e: linmgmt_wql::WqlError) -> Self {
        EngineError {
            status: e.status(),
            message: e.message.clone(),
            span: Some(e.span),
        }
    }

    /// From an object-path parse error.
    pub fn from_path(e: PathError) -> Self {
        EngineError {
            status: WbemStatus::InvalidObjectPath,
            message: e.message,
            span: Some(e.span),
        }
    }
}
