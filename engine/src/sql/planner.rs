//! Turns a parsed [`StreamingQuery`] into a [`QueryPlan`]: names become row positions, functions
//! are looked up once, and every expression is compiled.

use crate::error::Result;
use crate::sql::ast::{EmitMode, StatementKind, StreamingQuery, WindowSpec};
use crate::sql::expr::Expr;

/// What the planner knows about a source stream's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamColumns {
    /// The payload columns, in order (`SELECT *` expands to these). Referencing any other
    /// payload column is a plan error.
    Known(Vec<String>),
    /// Nothing is known (e.g. an empty input file): any column name is accepted and `*` expands
    /// to no columns.
    Open,
}

/// Where the planner looks up source streams.
pub trait Catalog {
    /// The columns of stream `name`, or `None` if there is no such stream.
    fn stream_columns(&self, name: &str) -> Option<StreamColumns>;
    /// The names of every stream, for error messages.
    fn stream_names(&self) -> Vec<String>;
}

/// Metadata columns every source provides next to the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemColumn {
    /// `_timestamp`: the record's timestamp (epoch ms); NULL for files.
    Timestamp,
    /// `_offset`: the record's offset; for files the 1-based line number.
    Offset,
    /// `_partition`: the source partition; 0 for files.
    Partition,
    /// `_key`: the record key; NULL for files.
    Key,
    /// `_topic`: the source topic; for files the stream name.
    Topic,
}

impl SystemColumn {
    /// The system column called `name` (`_offset`, ...), if any.
    pub fn from_name(name: &str) -> Option<SystemColumn> {
        match name.to_ascii_lowercase().as_str() {
            "_timestamp" => Some(SystemColumn::Timestamp),
            "_offset" => Some(SystemColumn::Offset),
            "_partition" => Some(SystemColumn::Partition),
            "_key" => Some(SystemColumn::Key),
            "_topic" => Some(SystemColumn::Topic),
            _ => None,
        }
    }
}

/// One slot of the input row the decoder builds for this plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputField {
    /// The payload field name (for a JSON source, the object key), or the system column's name.
    pub name: String,
    /// `Some` if the slot is filled by the connector rather than the decoder.
    pub system: Option<SystemColumn>,
}

/// One column of the result.
#[derive(Debug, Clone)]
pub struct OutputColumn {
    /// The output name (alias, column name, or the expression's text).
    pub name: String,
    /// How to compute it from the input row.
    pub expr: Expr,
}

/// A planned stateless query: decode `input` slots, keep rows where `filter` is true, compute
/// `projection`.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    /// `Some((kind, name))` for a `CREATE` statement.
    pub create: Option<(StatementKind, String)>,
    /// The source stream's name as written in `FROM`.
    pub source: String,
    /// The input row layout: only the columns the query uses, in first-use order.
    pub input: Vec<InputField>,
    /// The `WHERE` predicate.
    pub filter: Option<Expr>,
    /// The `SELECT` list.
    pub projection: Vec<OutputColumn>,
    /// The `WINDOW` clause (planned only once windows are supported).
    pub window: Option<WindowSpec>,
    /// The `EMIT` mode.
    pub emit: Option<EmitMode>,
    /// The `WITH` properties.
    pub properties: Vec<(String, String)>,
}

/// Plans one statement against `catalog`.
pub fn plan(query: &StreamingQuery, catalog: &dyn Catalog) -> Result<QueryPlan> {
    let _ = (query, catalog);
    Err(crate::FerrisError::Internal("planner not built yet".into()))
}
