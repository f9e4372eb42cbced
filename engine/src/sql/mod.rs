//! The FerrisStreams SQL dialect.
//!
//! - [`parser`]: splits a file into statements and parses each with `sqlparser` (tokenizer and
//!   expression grammar as they are), adding the FerrisStreams forms on top:
//!   `CREATE STREAM|TABLE name AS SELECT ... [WINDOW ...] [EMIT CHANGES|FINAL] [WITH (...)]`.
//! - [`planner`]: resolves names to row positions and functions to implementations, producing a
//!   [`planner::QueryPlan`] of compiled [`expr::Expr`]essions.
//! - [`expr`]: compiled expressions, evaluated over positional rows.
//! - [`functions`]: the scalar function registry.
//! - [`aggregate`]: the stateful part of a plan (GROUP BY, aggregates, window, emit).

pub mod aggregate;
pub mod ast;
pub mod expr;
pub mod functions;
pub mod join;
pub mod parser;
pub mod planner;

pub use ast::{EmitMode, StatementKind, StreamingQuery, WindowKind, WindowSpec};
pub use expr::Expr;
pub use parser::parse_statements;
pub use planner::{
    Catalog, InputField, OutputColumn, QueryPlan, StreamColumns, SystemColumn, plan,
};
