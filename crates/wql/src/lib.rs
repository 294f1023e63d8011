//! WQL, the WMI Query Language: lexer, parser, canonical printer and a pure evaluator.
//!
//! ```
//! use linmgmt_wql::{parse, Statement};
//! let stmt = parse("select * from Win32_LogonSession where 10 = logontype").unwrap();
//! assert_eq!(
//!     stmt.to_string(),
//!     "SELECT * FROM Win32_LogonSession WHERE logontype = 10"
//! );
//! assert!(matches!(stmt, Statement::Select(_)));
//! ```
//!
//! * [`parse`] turns text into a [`Statement`]; its `Display` is canonical WQL, and
//!   parsing the printed text gives the same tree.
//! * [`Filter::compile`] checks a WHERE clause against a class (unknown properties, type
//!   mismatches, operators invalid for a type), resolves property names to indices and
//!   coerces constants once; [`Filter::matches`] then tests instances cheaply.
//! * [`MetaFilter`] does the same for `SELECT * FROM meta_class` over class definitions.
//! * [`Projection`] resolves a select list.
//! * Every failure is a [`WqlError`] with a span and a WMI status; [`caret`] draws it.
//!
//! Nothing here does I/O or reads the clock; time zones for date literals come in through
//! [`CompileOptions`].

#![deny(missing_docs)]

mod ast;
mod dates;
mod error;
mod eval;
mod lexer;
mod like;
mod parser;

pub use ast::{
    AssocQuery, CompareOp, EventQuery, Expr, GroupClause, Ident, Literal, PropertyRef, SelectList,
    SelectQuery, Spanned, Statement,
};
pub use error::{ErrorKind, WqlError, caret};
pub use eval::{Column, CompileOptions, EventFilter, Filter, MetaFilter, Projection};
pub use like::{LikeError, LikePattern};
pub use parser::{
    EVENT_CLASSES, MAX_DEPTH, MAX_INTERVAL, MAX_QUERY_LEN, MAX_TERMS, RESERVED, is_event_class,
    is_reserved, parse,
};
