//! The FerrisStreams statement forms, around `sqlparser`'s query AST.

use crate::error::Position;

/// `CREATE STREAM` (an append-only result) or `CREATE TABLE` (a keyed, updating result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// `CREATE STREAM name AS ...`
    Stream,
    /// `CREATE TABLE name AS ...`
    Table,
}

/// When results are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitMode {
    /// `EMIT CHANGES`: every change as it happens.
    Changes,
    /// `EMIT FINAL`: a window's result once, when it closes.
    Final,
}

/// The shape of a time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// `TUMBLING(size)`
    Tumbling {
        /// Window length in milliseconds.
        size_ms: i64,
    },
    /// `SLIDING(size, advance)`
    Sliding {
        /// Window length in milliseconds.
        size_ms: i64,
        /// Distance between window starts in milliseconds.
        advance_ms: i64,
    },
    /// `SESSION(gap)`
    Session {
        /// Inactivity gap in milliseconds that closes a session.
        gap_ms: i64,
    },
}

/// A `WINDOW` clause: its kind and the event-time column if one is named first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    /// Tumbling, sliding or session.
    pub kind: WindowKind,
    /// The event-time column (`WINDOW TUMBLING(ts, 1m)`), if named.
    pub time_column: Option<String>,
}

/// One statement of an application file: a plain `SELECT` or a `CREATE STREAM|TABLE ... AS SELECT`.
#[derive(Debug, Clone)]
pub struct StreamingQuery {
    /// `Some((kind, name))` for `CREATE STREAM|TABLE name AS ...`, `None` for a bare `SELECT`.
    pub create: Option<(StatementKind, String)>,
    /// The `SELECT`, as `sqlparser` parsed it.
    pub query: Box<sqlparser::ast::Query>,
    /// The `WINDOW` clause.
    pub window: Option<WindowSpec>,
    /// The `EMIT` clause.
    pub emit: Option<EmitMode>,
    /// The `WITH ('key' = 'value', ...)` properties, in written order.
    pub properties: Vec<(String, String)>,
    /// `JOIN s WITHIN <duration> ON ...`: the interval join's bound in milliseconds (both
    /// sides' event times at most this far apart), cut out of the `FROM` clause by the parser.
    pub join_within: Option<(i64, Position)>,
    /// Where the statement starts.
    pub position: Position,
}

impl StreamingQuery {
    /// The stream named by the first `FROM` item, if the statement is a simple `SELECT`.
    pub fn source_name(&self) -> Option<String> {
        let sqlparser::ast::SetExpr::Select(select) = self.query.body.as_ref() else {
            return None;
        };
        let sqlparser::ast::TableFactor::Table { name, .. } = &select.from.first()?.relation else {
            return None;
        };
        name.0.last()?.as_ident().map(|ident| ident.value.clone())
    }
}
