//! The planned join of a query: `FROM left [kind] JOIN right [WITHIN d] ON ...`.
//!
//! A join has two inputs. Each is decoded into its own row (the left one is the plan's
//! [`QueryPlan::input`](crate::sql::planner::QueryPlan::input), the right one
//! [`JoinPlan::right_input`]); a joined row is the left row followed by the right row (NULLs for
//! the side an outer join did not match), and the plan's WHERE and SELECT list are compiled
//! over that combined row.
//!
//! - **Stream-table join** (no time bound in the condition): the right side is a table, the
//!   latest row per join key; each left row is looked up as it is processed. INNER or LEFT.
//! - **Interval join** (a `BETWEEN` on the two sides' times, or `WITHIN d`): both sides are
//!   buffered by key until the watermark passes the end of the interval a row can still match
//!   in, then evicted (unmatched outer rows are emitted then). INNER, LEFT, RIGHT, FULL.

use crate::sql::aggregate::LatePolicy;
use crate::sql::expr::Expr;
use crate::sql::planner::InputField;

/// INNER, LEFT, RIGHT or FULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Only matched pairs.
    Inner,
    /// Matched pairs, and every unmatched left row with NULLs on the right.
    Left,
    /// Matched pairs, and every unmatched right row with NULLs on the left.
    Right,
    /// Matched pairs and every unmatched row of either side.
    Full,
}

impl JoinKind {
    /// Whether an unmatched left row is emitted.
    pub fn keeps_left(self) -> bool {
        matches!(self, JoinKind::Left | JoinKind::Full)
    }

    /// Whether an unmatched right row is emitted.
    pub fn keeps_right(self) -> bool {
        matches!(self, JoinKind::Right | JoinKind::Full)
    }

    /// The SQL name (`LEFT`, ...).
    pub fn name(self) -> &'static str {
        match self {
            JoinKind::Inner => "INNER",
            JoinKind::Left => "LEFT",
            JoinKind::Right => "RIGHT",
            JoinKind::Full => "FULL",
        }
    }
}

/// The time bound of an interval join: a pair matches when
/// `lower_ms <= right time - left time <= upper_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalBounds {
    /// The smallest allowed `right time - left time`.
    pub lower_ms: i64,
    /// The largest allowed `right time - left time`.
    pub upper_ms: i64,
}

/// Event-time and state settings of a join, from the statement's `WITH` properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinSettings {
    /// `'watermark.max_out_of_orderness'`: each side's watermark is the largest time seen on
    /// it minus this. Default 0.
    pub max_out_of_orderness_ms: i64,
    /// `'late.records'`: what happens to an interval-join row that arrives after the
    /// watermark has passed the end of its interval.
    pub late_policy: LatePolicy,
    /// `'watermark.idle_timeout'`: over Kafka, a side with no record for this long stops
    /// holding the watermark back. Default 10 s.
    pub idle_timeout_ms: i64,
    /// `'state.max_bytes'` (bare or `'<job>.state.max_bytes'`): the most join state (table
    /// rows, buffered interval rows) the job keeps per shard; `None` is no limit.
    pub state_max_bytes: Option<u64>,
}

impl Default for JoinSettings {
    fn default() -> Self {
        JoinSettings {
            max_out_of_orderness_ms: 0,
            late_policy: LatePolicy::DeadLetter,
            idle_timeout_ms: 10_000,
            state_max_bytes: None,
        }
    }
}

/// The planned join.
#[derive(Debug, Clone)]
pub struct JoinPlan {
    /// INNER, LEFT, RIGHT or FULL.
    pub kind: JoinKind,
    /// The right input's name as written in `FROM ... JOIN <name>`.
    pub right: String,
    /// The right input row layout: only the columns the query uses.
    pub right_input: Vec<InputField>,
    /// The equality keys over the left row, pairwise with [`JoinPlan::right_keys`].
    pub left_keys: Vec<Expr>,
    /// The equality keys over the right row.
    pub right_keys: Vec<Expr>,
    /// The other conditions of `ON`, over the combined row: a pair matches only where this
    /// is TRUE.
    pub residual: Option<Expr>,
    /// `Some` for an interval join.
    pub interval: Option<IntervalBounds>,
    /// The left side's event time over the left row: the interval join's time column, or
    /// `'<left>.event.time.field'`.
    pub left_time: Option<Expr>,
    /// The right side's event time over the right row.
    pub right_time: Option<Expr>,
    /// For a table: the right-row slot of the `__deleted` column, if the input may have one
    /// (a row with `"__deleted": true` deletes its key, the convention of Debezium's
    /// change-event flattening).
    pub deleted_slot: Option<usize>,
    /// Watermark, lateness and state limit.
    pub settings: JoinSettings,
}

impl JoinPlan {
    /// Whether the right side is a table (a stream-table join).
    pub fn is_table_join(&self) -> bool {
        self.interval.is_none()
    }
}
