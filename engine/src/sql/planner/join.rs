//! Planning `FROM left JOIN right ON ...`.
//!
//! While a join query is compiled, a right-side column compiles to [`RIGHT_BASE`] + its slot
//! in the right row (the left row's length is not known until every expression is compiled).
//! Once the whole statement is compiled, [`Planner::finish_join`] splits the `ON` condition into
//! equality keys, the time bound and a residual, and renumbers: the right keys and time to the
//! right row, everything over the combined row to `left length + slot`.

use sqlparser::ast::{self as sql, BinaryOperator, JoinConstraint, JoinOperator, Spanned};

use super::{InputField, OutputColumn, Planner, StreamColumns, SystemColumn, pos_of, unsupported};
use crate::error::{FerrisError, Position, Result};
use crate::sql::aggregate::LatePolicy;
use crate::sql::ast::StreamingQuery;
use crate::sql::expr::Expr;
use crate::sql::join::{IntervalBounds, JoinKind, JoinPlan, JoinSettings};
use crate::sql::parser::{duration_expr_ms, property_duration_ms};

use super::Catalog;

/// Where right-side columns are numbered while the statement is compiled.
pub(super) const RIGHT_BASE: usize = 1 << 30;

/// The right input of a join, as the planner sees it.
pub(super) struct Side {
    /// The name written in `JOIN <name>`.
    pub name: String,
    pub alias: Option<String>,
    pub columns: StreamColumns,
    pub input: Vec<InputField>,
}

/// A join whose `ON` condition is not compiled yet.
pub(super) struct JoinStart<'a> {
    kind: JoinKind,
    on: &'a sql::Expr,
    at: Option<Position>,
}

/// A `BETWEEN` time bound: the bounds of `right time - left time`, the left and right time
/// columns, and where it was written.
type TimeBound = (IntervalBounds, Expr, Expr, Option<Position>);

/// Which inputs an expression reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    Nothing,
    Left,
    Right,
    Both,
}

fn reads(e: &Expr) -> Reads {
    let (mut left, mut right) = (false, false);
    e.for_each_column(&mut |c| {
        if c >= RIGHT_BASE {
            right = true;
        } else {
            left = true;
        }
    });
    match (left, right) {
        (false, false) => Reads::Nothing,
        (true, false) => Reads::Left,
        (false, true) => Reads::Right,
        (true, true) => Reads::Both,
    }
}

/// The `AND`ed terms of `e`.
fn conjuncts<'a>(e: &'a sql::Expr, out: &mut Vec<&'a sql::Expr>) {
    match e {
        sql::Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        sql::Expr::Nested(inner) => conjuncts(inner, out),
        other => out.push(other),
    }
}

/// A bound of a `BETWEEN` time condition: a column, optionally `+`/`-` a duration.
fn time_offset(e: &sql::Expr) -> Option<(&sql::Expr, Option<(bool, &sql::Expr)>)> {
    match e {
        sql::Expr::Nested(inner) => time_offset(inner),
        sql::Expr::Identifier(_) | sql::Expr::CompoundIdentifier(_) => Some((e, None)),
        sql::Expr::BinaryOp {
            left,
            op: op @ (BinaryOperator::Plus | BinaryOperator::Minus),
            right,
        } if matches!(
            left.as_ref(),
            sql::Expr::Identifier(_) | sql::Expr::CompoundIdentifier(_)
        ) =>
        {
            Some((left, Some((*op == BinaryOperator::Minus, right))))
        }
        _ => None,
    }
}

impl Planner {
    /// Whether `name` is the join's right input or its alias.
    pub(super) fn is_right(&self, name: &str) -> bool {
        self.right.as_ref().is_some_and(|r| {
            name.eq_ignore_ascii_case(&r.name)
                || r.alias
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// Resolves the right input and the join kind; the condition is compiled later.
    pub(super) fn start_join<'a>(
        &mut self,
        join: &'a sql::Join,
        catalog: &dyn Catalog,
    ) -> Result<JoinStart<'a>> {
        let at = pos_of(join.span());
        let (kind, constraint) = match &join.join_operator {
            JoinOperator::Join(c) | JoinOperator::Inner(c) => (JoinKind::Inner, c),
            JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (JoinKind::Left, c),
            JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (JoinKind::Right, c),
            JoinOperator::FullOuter(c) => (JoinKind::Full, c),
            other => {
                return Err(
                    unsupported(&format!("this join ({})", join_name(other)), at)
                        .with_hint("use [INNER | LEFT | RIGHT | FULL] JOIN ... ON ..."),
                );
            }
        };
        let on = match constraint {
            JoinConstraint::On(e) => e,
            _ => {
                return Err(FerrisError::plan("a JOIN needs an ON condition", at)
                    .with_hint("e.g. JOIN customers c ON o.customer_id = c.id"));
            }
        };
        let (ident, alias) = super::table_name(&join.relation)?;
        let columns = catalog.stream_columns(&ident.value).ok_or_else(|| {
            let mut known = catalog.stream_names();
            known.sort();
            FerrisError::plan(
                format!("unknown stream or table '{}'", ident.value),
                pos_of(ident.span),
            )
            .with_hint(format!("known inputs: {}", known.join(", ")))
        })?;
        let name = ident.value.clone();
        let alias = alias.map(|a| a.value.clone());
        if name.eq_ignore_ascii_case(&self.source) {
            return Err(
                unsupported("joining a stream with itself", pos_of(ident.span)).with_hint(
                    "copy one side into its own stream first (CREATE STREAM t2 AS SELECT * FROM t) \
                     and join that",
                ),
            );
        }
        let clash = |n: &str| self.is_source(n);
        if clash(&name) || alias.as_deref().is_some_and(clash) {
            let called = alias.as_deref().unwrap_or(&name);
            return Err(FerrisError::plan(
                format!("both sides of the join are called '{called}'"),
                pos_of(ident.span),
            )
            .with_hint("give the two sides different aliases: FROM a x JOIN b y ON ..."));
        }
        self.right = Some(Side {
            name,
            alias,
            columns,
            input: Vec::new(),
        });
        Ok(JoinStart { kind, on, at })
    }

    /// The right-row slot of `name`, added on first use (numbered from [`RIGHT_BASE`]).
    fn right_slot(&mut self, name: &str, system: Option<SystemColumn>) -> usize {
        let Some(right) = self.right.as_mut() else {
            return RIGHT_BASE;
        };
        if let Some(i) = right
            .input
            .iter()
            .position(|f| f.name == name && f.system == system)
        {
            return RIGHT_BASE + i;
        }
        right.input.push(InputField {
            name: name.to_string(),
            system,
        });
        RIGHT_BASE + right.input.len() - 1
    }

    /// `right.*`.
    pub(super) fn right_wildcard(&mut self) -> Vec<(String, Expr)> {
        let names = match self.right.as_ref().map(|r| &r.columns) {
            Some(StreamColumns::Known(c)) => c.clone(),
            _ => Vec::new(),
        };
        names
            .into_iter()
            .map(|n| {
                let slot = self.right_slot(&n, None);
                (n, Expr::Column(slot))
            })
            .collect()
    }

    /// `left.col`.
    pub(super) fn left_column(&mut self, ident: &sql::Ident) -> Result<Expr> {
        if let Some(sys) = SystemColumn::from_name(&ident.value) {
            let name = ident.value.to_ascii_lowercase();
            return Ok(Expr::Column(self.slot(&name, Some(sys))));
        }
        let name = self.column_name(ident)?;
        Ok(Expr::Column(self.slot(&name, None)))
    }

    /// `right.col`.
    pub(super) fn right_column(&mut self, ident: &sql::Ident) -> Result<Expr> {
        if let Some(sys) = SystemColumn::from_name(&ident.value) {
            let name = ident.value.to_ascii_lowercase();
            return Ok(Expr::Column(self.right_slot(&name, Some(sys))));
        }
        let Some(right) = self.right.as_ref() else {
            return Err(FerrisError::Internal("right column without a join".into()));
        };
        let name = match find(&right.columns, ident)? {
            Some(name) => name,
            None => {
                return Err(FerrisError::plan(
                    format!("unknown column '{}'", ident.value),
                    pos_of(ident.span),
                )
                .with_hint(format!(
                    "'{}' has columns: {}",
                    right.name,
                    known(&right.columns)
                )));
            }
        };
        Ok(Expr::Column(self.right_slot(&name, None)))
    }

    /// An unqualified column of a join query: the side whose columns have it (an error if
    /// both do); a side whose columns are unknown takes names neither side knows, the left
    /// first.
    pub(super) fn join_column(&mut self, ident: &sql::Ident) -> Result<Expr> {
        match self.resolve(ident)? {
            (false, name) => Ok(Expr::Column(self.slot(&name, None))),
            (true, name) => Ok(Expr::Column(self.right_slot(&name, None))),
        }
    }

    /// `(is right, real name)` of an unqualified column.
    fn resolve(&self, ident: &sql::Ident) -> Result<(bool, String)> {
        let Some(right) = self.right.as_ref() else {
            return Ok((false, self.column_name(ident)?));
        };
        let in_left = match &self.columns {
            StreamColumns::Known(_) => find(&self.columns, ident)?,
            StreamColumns::Open => None,
        };
        let in_right = match &right.columns {
            StreamColumns::Known(_) => find(&right.columns, ident)?,
            StreamColumns::Open => None,
        };
        match (in_left, in_right) {
            (Some(_), Some(_)) => Err(FerrisError::plan(
                format!("ambiguous column '{}'", ident.value),
                pos_of(ident.span),
            )
            .with_hint(format!(
                "both '{}' and '{}' have it: write {}.{} or {}.{}",
                self.source,
                right.name,
                self.alias.as_deref().unwrap_or(&self.source),
                ident.value,
                right.alias.as_deref().unwrap_or(&right.name),
                ident.value
            ))),
            (Some(name), None) => Ok((false, name)),
            (None, Some(name)) => Ok((true, name)),
            (None, None) => match (&self.columns, &right.columns) {
                (StreamColumns::Open, _) => Ok((false, ident.value.clone())),
                (_, StreamColumns::Open) => Ok((true, ident.value.clone())),
                _ => Err(FerrisError::plan(
                    format!("unknown column '{}'", ident.value),
                    pos_of(ident.span),
                )
                .with_hint(format!(
                    "'{}' has columns: {}; '{}' has columns: {}",
                    self.source,
                    known(&self.columns),
                    right.name,
                    known(&right.columns)
                ))),
            },
        }
    }

    /// The output name of an unaliased column of a join query.
    pub(super) fn join_column_name(&self, e: &sql::Expr, ident: &sql::Ident) -> String {
        let found = match e {
            sql::Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [q, _] if self.is_right(&q.value) => self
                    .right
                    .as_ref()
                    .and_then(|r| find(&r.columns, ident).ok().flatten()),
                _ => find(&self.columns, ident).ok().flatten(),
            },
            _ => self.resolve(ident).ok().map(|(_, n)| n),
        };
        found.unwrap_or_else(|| ident.value.clone())
    }

    /// Compiles the `ON` condition and renumbers every expression of the statement.
    pub(super) fn finish_join(
        &mut self,
        start: JoinStart<'_>,
        query: &StreamingQuery,
        filter: &mut Option<Expr>,
        projection: &mut [OutputColumn],
    ) -> Result<JoinPlan> {
        let JoinStart { kind, on, at } = start;
        let mut terms = Vec::new();
        conjuncts(on, &mut terms);
        let mut left_keys = Vec::new();
        let mut right_keys = Vec::new();
        let mut residual: Option<Expr> = None;
        // (right time - left time) bounds, and the two time columns.
        let mut between: Option<TimeBound> = None;
        for term in terms {
            let term_at = pos_of(term.span());
            if let sql::Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } = term
            {
                let l = self.compile(left)?;
                let r = self.compile(right)?;
                match (reads(&l), reads(&r)) {
                    (Reads::Left, Reads::Right) => {
                        left_keys.push(l);
                        right_keys.push(r);
                        continue;
                    }
                    (Reads::Right, Reads::Left) => {
                        left_keys.push(r);
                        right_keys.push(l);
                        continue;
                    }
                    _ => {}
                }
            }
            if let Some(bound) = self.time_between(term)? {
                if between.is_some() {
                    return Err(FerrisError::plan(
                        "an interval join has one time bound",
                        term_at,
                    ));
                }
                between = Some(bound);
                continue;
            }
            let compiled = self.compile(term)?;
            residual = Some(match residual {
                None => compiled,
                Some(prev) => Expr::And(Box::new(prev), Box::new(compiled)),
            });
        }
        if left_keys.is_empty() {
            return Err(FerrisError::plan(
                "a join needs at least one equality between the two sides in ON",
                at,
            )
            .with_hint("e.g. ON o.customer_id = c.id (NULL keys never match)"));
        }
        let right_name = self
            .right
            .as_ref()
            .map(|r| r.name.clone())
            .unwrap_or_default();
        let (interval, left_time, mut right_time) = match (between, query.join_within) {
            (Some(_), Some((_, w_at))) => {
                return Err(FerrisError::plan(
                    "an interval join has one time bound: WITHIN or a BETWEEN in ON, not both",
                    Some(w_at),
                ));
            }
            (Some((bounds, lt, rt, _)), None) => (Some(bounds), Some(lt), Some(rt)),
            (None, Some((ms, _))) => {
                let lt = self.side_time(query, false)?;
                let rt = self.side_time(query, true)?;
                (
                    Some(IntervalBounds {
                        lower_ms: -ms,
                        upper_ms: ms,
                    }),
                    Some(lt),
                    Some(rt),
                )
            }
            (None, None) => {
                // A stream-table join: the event times only order file inputs.
                let lt = self.property_time(query, false)?;
                let rt = self.property_time(query, true)?;
                (None, lt, rt)
            }
        };
        if interval.is_none() && matches!(kind, JoinKind::Right | JoinKind::Full) {
            return Err(FerrisError::plan(
                format!(
                    "a stream-table join is INNER or LEFT, not {}: the table side has no rows \
                     of its own to emit",
                    kind.name()
                ),
                at,
            )
            .with_hint(
                "for a join of two streams, bound it in time: WITHIN INTERVAL '5' MINUTE or \
                 AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '1' HOUR",
            ));
        }
        let deleted_slot = if interval.is_none() {
            let has_deleted = match self.right.as_ref().map(|r| &r.columns) {
                Some(StreamColumns::Known(c)) => c.iter().any(|c| c == "__deleted"),
                _ => true,
            };
            has_deleted.then(|| self.right_slot("__deleted", None) - RIGHT_BASE)
        } else {
            None
        };

        // Renumber: the left row keeps its slots, the right row follows it.
        let left_len = self.input.len();
        let combined = |e: &mut Expr| {
            e.map_columns(&mut |c| {
                if c >= RIGHT_BASE {
                    c - RIGHT_BASE + left_len
                } else {
                    c
                }
            })
        };
        let right_only = |e: &mut Expr| e.map_columns(&mut |c| c.saturating_sub(RIGHT_BASE));
        if let Some(f) = filter.as_mut() {
            combined(f);
        }
        for c in projection.iter_mut() {
            combined(&mut c.expr);
        }
        if let Some(r) = residual.as_mut() {
            combined(r);
        }
        for k in &mut right_keys {
            right_only(k);
        }
        if let Some(t) = right_time.as_mut() {
            right_only(t);
        }
        if let Some(t) = left_time.as_ref()
            && reads(t) == Reads::Right
        {
            return Err(FerrisError::Internal(
                "left time reads the right row".into(),
            ));
        }
        let right_input = self
            .right
            .as_ref()
            .map(|r| r.input.clone())
            .unwrap_or_default();
        Ok(JoinPlan {
            kind,
            right: right_name,
            right_input,
            left_keys,
            right_keys,
            residual,
            interval,
            left_time,
            right_time,
            deleted_slot,
            settings: join_settings(query)?,
        })
    }

    /// `a.ts BETWEEN b.ts [+|- d] AND b.ts [+|- d]` with `a` and `b` the two sides: the
    /// bounds of `right time - left time`, and the two time columns.
    fn time_between(&mut self, term: &sql::Expr) -> Result<Option<TimeBound>> {
        let sql::Expr::Between {
            expr,
            negated: false,
            low,
            high,
        } = term
        else {
            return Ok(None);
        };
        let (Some((low_col, low_off)), Some((high_col, high_off))) =
            (time_offset(low), time_offset(high))
        else {
            return Ok(None);
        };
        let at = pos_of(term.span());
        let tested = self.compile(expr)?;
        let low_c = self.compile(low_col)?;
        let high_c = self.compile(high_col)?;
        let (Expr::Column(t), Expr::Column(lc), Expr::Column(hc)) = (&tested, &low_c, &high_c)
        else {
            return Ok(None);
        };
        let tested_right = *t >= RIGHT_BASE;
        if lc != hc || (*lc >= RIGHT_BASE) == tested_right {
            return Ok(None);
        }
        let offset = |o: Option<(bool, &sql::Expr)>| -> Result<i64> {
            match o {
                None => Ok(0),
                Some((minus, d)) => {
                    let ms = duration_expr_ms(d, pos_of(d.span()))?;
                    Ok(if minus { -ms } else { ms })
                }
            }
        };
        let (lo, hi) = (offset(low_off)?, offset(high_off)?);
        if lo > hi {
            return Err(FerrisError::plan(
                "the BETWEEN time bound is empty: its low end is after its high end",
                at,
            ));
        }
        // tested - other in [lo, hi]
        let (bounds, left_time, right_time) = if tested_right {
            (
                IntervalBounds {
                    lower_ms: lo,
                    upper_ms: hi,
                },
                low_c,
                tested,
            )
        } else {
            (
                IntervalBounds {
                    lower_ms: -hi,
                    upper_ms: -lo,
                },
                tested,
                low_c,
            )
        };
        Ok(Some((bounds, left_time, right_time, at)))
    }

    /// The event time of one side for `WITHIN`: `'<input>.event.time.field'`, else
    /// `'event.time.field'`, else `_timestamp`.
    fn side_time(&mut self, query: &StreamingQuery, right: bool) -> Result<Expr> {
        if let Some(t) = self.property_time(query, right)? {
            return Ok(t);
        }
        let column = super::aggregate::setting(query, "event.time.field").map(str::to_string);
        let ident = sql::Ident::new(column.unwrap_or_else(|| "_timestamp".to_string()));
        if right {
            self.right_column(&ident)
        } else {
            self.left_column(&ident)
        }
    }

    /// `'<input>.event.time.field'` of one side, compiled over that side's row.
    fn property_time(&mut self, query: &StreamingQuery, right: bool) -> Result<Option<Expr>> {
        let names: Vec<String> = if right {
            let r = self
                .right
                .as_ref()
                .ok_or_else(|| FerrisError::Internal("no right input".into()))?;
            std::iter::once(r.name.clone())
                .chain(r.alias.clone())
                .collect()
        } else {
            std::iter::once(self.source.clone())
                .chain(self.alias.clone())
                .collect()
        };
        let found = query.properties.iter().find(|(k, _)| {
            names.iter().any(|n| {
                k.len() == n.len() + ".event.time.field".len()
                    && k[..n.len()].eq_ignore_ascii_case(n)
                    && k[n.len()..].eq_ignore_ascii_case(".event.time.field")
            })
        });
        let Some((_, column)) = found else {
            return Ok(None);
        };
        let ident = sql::Ident::new(column.clone());
        if right {
            self.right_column(&ident).map(Some)
        } else {
            self.left_column(&ident).map(Some)
        }
    }
}

/// The join's settings from the statement's properties.
fn join_settings(query: &StreamingQuery) -> Result<JoinSettings> {
    let mut s = JoinSettings::default();
    let at = Some(query.position);
    if let Some(v) = super::aggregate::setting(query, "watermark.max_out_of_orderness") {
        s.max_out_of_orderness_ms = property_duration_ms(v).map_err(|e| {
            FerrisError::plan(
                format!("property 'watermark.max_out_of_orderness' = '{v}': {e}"),
                at,
            )
        })?;
    }
    if let Some(v) = super::aggregate::setting(query, "watermark.idle_timeout") {
        s.idle_timeout_ms = property_duration_ms(v).map_err(|e| {
            FerrisError::plan(
                format!("property 'watermark.idle_timeout' = '{v}': {e}"),
                at,
            )
        })?;
    }
    if let Some(v) = super::aggregate::setting(query, "late.records") {
        s.late_policy = match v.to_ascii_lowercase().as_str() {
            "dlq" | "dead_letter" => LatePolicy::DeadLetter,
            "drop" => LatePolicy::Drop,
            other => {
                return Err(FerrisError::plan(
                    format!("property 'late.records' = '{other}': expected 'dlq' or 'drop'"),
                    at,
                ));
            }
        };
    }
    if let Some(v) = super::aggregate::setting(query, "state.max_bytes") {
        s.state_max_bytes = Some(parse_bytes(v).map_err(|e| {
            FerrisError::plan(format!("property 'state.max_bytes' = '{v}': {e}"), at)
        })?);
    }
    Ok(s)
}

/// `1048576`, `64KB`, `512MB`, `2GB` (powers of 1024; `KiB`, `MiB`, `GiB` too).
pub fn parse_bytes(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| "expected a number of bytes such as 1048576, 64MB or 2GB".to_string())?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        other => return Err(format!("unknown unit '{other}' (use B, KB, MB or GB)")),
    };
    let bytes = n.checked_mul(mult).ok_or_else(|| "too large".to_string())?;
    if bytes == 0 {
        return Err("must be positive".into());
    }
    Ok(bytes)
}

/// The column named `ident` among `columns` (exact, else the one case-insensitive match):
/// `Ok(None)` if there is none; any name for unknown columns.
fn find(columns: &StreamColumns, ident: &sql::Ident) -> Result<Option<String>> {
    let StreamColumns::Known(cols) = columns else {
        return Ok(Some(ident.value.clone()));
    };
    if cols.contains(&ident.value) {
        return Ok(Some(ident.value.clone()));
    }
    if ident.quote_style.is_some() {
        return Ok(None);
    }
    let matches: Vec<&String> = cols
        .iter()
        .filter(|c| c.eq_ignore_ascii_case(&ident.value))
        .collect();
    match matches.as_slice() {
        [one] => Ok(Some((*one).clone())),
        [] => Ok(None),
        many => {
            let list: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
            Err(FerrisError::plan(
                format!("ambiguous column '{}'", ident.value),
                pos_of(ident.span),
            )
            .with_hint(format!("quote the exact name, one of: {}", list.join(", "))))
        }
    }
}

fn known(columns: &StreamColumns) -> String {
    match columns {
        StreamColumns::Known(c) => {
            let shown: Vec<&str> = c.iter().take(20).map(String::as_str).collect();
            let more = if c.len() > 20 { ", ..." } else { "" };
            format!("{}{more}", shown.join(", "))
        }
        StreamColumns::Open => "(not known)".into(),
    }
}

fn join_name(op: &JoinOperator) -> &'static str {
    match op {
        JoinOperator::CrossJoin(_) => "CROSS JOIN",
        JoinOperator::Semi(_) | JoinOperator::LeftSemi(_) | JoinOperator::RightSemi(_) => {
            "SEMI JOIN"
        }
        JoinOperator::Anti(_) | JoinOperator::LeftAnti(_) | JoinOperator::RightAnti(_) => {
            "ANTI JOIN"
        }
        JoinOperator::AsOf { .. } => "ASOF JOIN",
        JoinOperator::CrossApply | JoinOperator::OuterApply => "APPLY",
        _ => "this join form",
    }
}
