//! The stateful part of a plan: GROUP BY keys, aggregate calls, the time window, HAVING, the
//! emit mode, and the event-time and watermark settings.
//!
//! Expressions live in two layouts. `keys`, `calls[i].arg` and `event_time` are compiled over
//! the *input row* (the decoder's layout, like a stateless plan's filter). `having` and the
//! plan's projection are compiled over the *group row*:
//!
//! ```text
//! [ key 0, .., key k-1, call 0, .., call a-1, _window_start, _window_end ]
//! ```
//!
//! where the two window slots exist only when the plan has a window (epoch milliseconds, as
//! BIGINT).

use crate::sql::ast::{EmitMode, WindowKind};
use crate::sql::expr::Expr;

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggFunc {
    /// `COUNT(*)`: rows.
    CountStar,
    /// `COUNT(x)`: rows where `x` is not NULL (with `distinct`: distinct non-NULL values).
    Count,
    /// `SUM(x)`: exact for BIGINT and DECIMAL (overflow is an error), DOUBLE for doubles.
    Sum,
    /// `AVG(x)`: exact DECIMAL for BIGINT and DECIMAL input, DOUBLE for doubles.
    Avg,
    /// `MIN(x)`: numbers, strings, timestamps, booleans.
    Min,
    /// `MAX(x)`
    Max,
    /// `FIRST_VALUE(x)`: the value of the first row of the group, in arrival order.
    FirstValue,
    /// `LAST_VALUE(x)`: the value of the last row of the group, in arrival order.
    LastValue,
    /// `STDDEV(x)` / `STDDEV_SAMP(x)`: sample standard deviation.
    StddevSamp,
    /// `STDDEV_POP(x)`: population standard deviation.
    StddevPop,
    /// `VARIANCE(x)` / `VAR_SAMP(x)`: sample variance.
    VarSamp,
    /// `VAR_POP(x)`: population variance.
    VarPop,
}

impl AggFunc {
    /// The aggregate called `name` (case-insensitive), if any. `COUNT` maps to [`AggFunc::Count`];
    /// the planner turns `COUNT(*)` into [`AggFunc::CountStar`].
    pub fn from_name(name: &str) -> Option<AggFunc> {
        Some(match name.to_ascii_uppercase().as_str() {
            "COUNT" => AggFunc::Count,
            "SUM" => AggFunc::Sum,
            "AVG" => AggFunc::Avg,
            "MIN" => AggFunc::Min,
            "MAX" => AggFunc::Max,
            "FIRST_VALUE" => AggFunc::FirstValue,
            "LAST_VALUE" => AggFunc::LastValue,
            "STDDEV" | "STDDEV_SAMP" => AggFunc::StddevSamp,
            "STDDEV_POP" => AggFunc::StddevPop,
            "VARIANCE" | "VAR_SAMP" => AggFunc::VarSamp,
            "VAR_POP" => AggFunc::VarPop,
            _ => return None,
        })
    }

    /// The SQL name.
    pub fn name(self) -> &'static str {
        match self {
            AggFunc::CountStar | AggFunc::Count => "COUNT",
            AggFunc::Sum => "SUM",
            AggFunc::Avg => "AVG",
            AggFunc::Min => "MIN",
            AggFunc::Max => "MAX",
            AggFunc::FirstValue => "FIRST_VALUE",
            AggFunc::LastValue => "LAST_VALUE",
            AggFunc::StddevSamp => "STDDEV",
            AggFunc::StddevPop => "STDDEV_POP",
            AggFunc::VarSamp => "VARIANCE",
            AggFunc::VarPop => "VAR_POP",
        }
    }
}

/// One aggregate call of the query, e.g. `SUM(price * quantity)`.
#[derive(Debug, Clone)]
pub struct AggregateCall {
    /// The function.
    pub func: AggFunc,
    /// The argument over the input row; `None` for `COUNT(*)`.
    pub arg: Option<Expr>,
    /// `DISTINCT` (only COUNT, SUM and AVG take it).
    pub distinct: bool,
}

/// What happens to a record that arrives after every window it belongs to has closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatePolicy {
    /// To the dead-letter topic (for `ferris query`: reported like a bad record). Default.
    DeadLetter,
    /// Dropped, and counted.
    Drop,
}

/// Event-time and state settings, from the statement's `WITH` properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSettings {
    /// `'watermark.max_out_of_orderness'`: how far behind the largest event time seen a record
    /// may be without being late. Default 0.
    pub max_out_of_orderness_ms: i64,
    /// `'watermark.idle_timeout'`: a source partition that has had no record for this long no
    /// longer holds the watermark back. Default 10 s.
    pub idle_timeout_ms: i64,
    /// `'window.allowed_lateness'`: windows stay open this long after the watermark passes
    /// their end. Default 0.
    pub allowed_lateness_ms: i64,
    /// `'late.records'` = `dlq` (default) or `drop`.
    pub late_policy: LatePolicy,
    /// `'state.ttl'`: a group of a GROUP BY without a window that has not been updated for this
    /// long (processing time) is forgotten. Default: never.
    pub state_ttl_ms: Option<i64>,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            max_out_of_orderness_ms: 0,
            idle_timeout_ms: 10_000,
            allowed_lateness_ms: 0,
            late_policy: LatePolicy::DeadLetter,
            state_ttl_ms: None,
        }
    }
}

/// The planned aggregation of a query.
#[derive(Debug, Clone)]
pub struct AggregatePlan {
    /// GROUP BY expressions over the input row (a window's TUMBLE(...) term is not among them).
    pub keys: Vec<Expr>,
    /// The aggregate calls, each computed once however often the query mentions it.
    pub calls: Vec<AggregateCall>,
    /// The time window, if any.
    pub window: Option<WindowKind>,
    /// The event time over the input row: the window's time column, `'event.time.field'`, or
    /// `_timestamp`. BIGINT epoch ms, TIMESTAMP, or ISO-8601 text. `None` without a window.
    pub event_time: Option<Expr>,
    /// HAVING over the group row.
    pub having: Option<Expr>,
    /// When results are emitted (default [`EmitMode::Changes`]).
    pub emit: EmitMode,
    /// Event-time and state settings.
    pub settings: StateSettings,
}

impl AggregatePlan {
    /// Slots in the group row: keys, calls, and the two window bounds if windowed.
    pub fn group_row_len(&self) -> usize {
        self.keys.len() + self.calls.len() + if self.window.is_some() { 2 } else { 0 }
    }

    /// The group-row slot of `_window_start` (`_window_end` is the next one).
    pub fn window_start_slot(&self) -> Option<usize> {
        self.window.map(|_| self.keys.len() + self.calls.len())
    }
}
