//! Planning GROUP BY, aggregates, windows and HAVING.
//!
//! The select list and HAVING of an aggregating query are compiled in *group mode*: an
//! expression written exactly like a GROUP BY term becomes that key's group-row slot, an
//! aggregate call becomes its call's slot (its argument compiled over the input row), and
//! `_window_start`/`_window_end` become the window slots. Any other column reference is an
//! error: it is neither grouped nor aggregated. The window slots come after every call, so
//! group-mode expressions are compiled twice: once to collect the calls, once for real.

use sqlparser::ast::{
    self as sql, DuplicateTreatment, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    SelectItem, Spanned,
};

use super::{OutputColumn, Planner, SystemColumn, pos_of, unsupported};
use crate::error::{FerrisError, Position, Result};
use crate::sql::aggregate::{AggFunc, AggregateCall, AggregatePlan, LatePolicy, StateSettings};
use crate::sql::ast::{EmitMode, StreamingQuery, WindowKind};
use crate::sql::expr::Expr;
use crate::sql::functions;
use crate::sql::parser::{duration_expr_ms, property_duration_ms};

/// What group mode resolves against.
pub(super) struct GroupContext {
    /// The GROUP BY terms as written, with the column they name if they are a plain column.
    terms: Vec<(String, Option<String>)>,
    /// Calls found so far: the call and its identity (function, DISTINCT, argument text).
    calls: Vec<(AggregateCall, String)>,
    /// Whether the query has a window.
    windowed: bool,
    /// The group-row slot of `_window_start`, once known (pass 2).
    window_slot: Option<usize>,
}

/// The statement's state settings keys (bare, or prefixed with the job's name).
pub const STATE_KEYS: &[&str] = &[
    "event.time.field",
    "watermark.max_out_of_orderness",
    "watermark.idle_timeout",
    "window.allowed_lateness",
    "late.records",
    "state.ttl",
    "state.max_bytes",
];

/// True if `select`/`having` need the aggregating planner.
pub(super) fn is_aggregating(select: &sql::Select, query: &StreamingQuery) -> bool {
    let grouped = match &select.group_by {
        GroupByExpr::Expressions(e, m) => !e.is_empty() || !m.is_empty(),
        GroupByExpr::All(_) => true,
    };
    grouped
        || query.window.is_some()
        || select.having.is_some()
        || select.projection.iter().any(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                has_aggregate(e)
            }
            _ => false,
        })
}

/// Whether `e` calls an aggregate function somewhere (in the expression forms a select item
/// can take; an aggregate hidden elsewhere is reported when it is compiled).
fn has_aggregate(e: &sql::Expr) -> bool {
    use sql::Expr as E;
    match e {
        E::Function(f) => {
            let name = f.name.to_string();
            functions::is_aggregate(&name)
                || match &f.args {
                    FunctionArguments::List(list) => list.args.iter().any(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => has_aggregate(x),
                        _ => false,
                    }),
                    _ => false,
                }
        }
        E::BinaryOp { left, right, .. } => has_aggregate(left) || has_aggregate(right),
        E::UnaryOp { expr, .. }
        | E::Nested(expr)
        | E::Cast { expr, .. }
        | E::IsNull(expr)
        | E::IsNotNull(expr)
        | E::IsTrue(expr)
        | E::IsNotTrue(expr)
        | E::IsFalse(expr)
        | E::IsNotFalse(expr)
        | E::Ceil { expr, .. }
        | E::Floor { expr, .. } => has_aggregate(expr),
        E::Between {
            expr, low, high, ..
        } => has_aggregate(expr) || has_aggregate(low) || has_aggregate(high),
        E::In {
            expr,
            target: sql::InTarget::List(list),
            ..
        } => has_aggregate(expr) || list.iter().any(has_aggregate),
        E::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand.as_deref().is_some_and(has_aggregate)
                || conditions
                    .iter()
                    .any(|w| has_aggregate(&w.condition) || has_aggregate(&w.result))
                || else_result.as_deref().is_some_and(has_aggregate)
        }
        _ => false,
    }
}

/// Reads a state setting: `key` bare or as `<job>.<key>`.
pub(super) fn setting<'a>(query: &'a StreamingQuery, key: &str) -> Option<&'a str> {
    let job = query.create.as_ref().map(|(_, n)| n.as_str());
    query
        .properties
        .iter()
        .find(|(k, _)| {
            k.eq_ignore_ascii_case(key)
                || job.is_some_and(|j| {
                    k.len() == j.len() + 1 + key.len()
                        && k[..j.len()].eq_ignore_ascii_case(j)
                        && k[j.len() + 1..].eq_ignore_ascii_case(key)
                })
        })
        .map(|(_, v)| v.as_str())
}

/// The state settings of `query`'s WITH properties.
pub fn state_settings(query: &StreamingQuery) -> Result<StateSettings> {
    let mut s = StateSettings::default();
    let at = Some(query.position);
    let duration = |key: &str| -> Result<Option<i64>> {
        setting(query, key)
            .map(|v| {
                property_duration_ms(v)
                    .map_err(|e| FerrisError::plan(format!("property '{key}' = '{v}': {e}"), at))
            })
            .transpose()
    };
    if let Some(ms) = duration("watermark.max_out_of_orderness")? {
        s.max_out_of_orderness_ms = ms;
    }
    if let Some(ms) = duration("watermark.idle_timeout")? {
        s.idle_timeout_ms = ms;
    }
    if let Some(ms) = duration("window.allowed_lateness")? {
        s.allowed_lateness_ms = ms;
    }
    if let Some(ms) = duration("state.ttl")? {
        if ms == 0 {
            return Err(FerrisError::plan(
                "property 'state.ttl' must be positive",
                at,
            ));
        }
        s.state_ttl_ms = Some(ms);
    }
    if let Some(v) = setting(query, "late.records") {
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
    Ok(s)
}

/// A `GROUP BY TUMBLE(ts, size)` / `HOP(ts, advance, size)` / `SESSION(ts, gap)` term.
fn group_window(e: &sql::Expr) -> Result<Option<(WindowKind, &sql::Expr)>> {
    let sql::Expr::Function(f) = e else {
        return Ok(None);
    };
    let name = f.name.to_string().to_ascii_uppercase();
    let wanted = match name.as_str() {
        "TUMBLE" | "SESSION" => 2,
        "HOP" => 3,
        _ => return Ok(None),
    };
    let at = pos_of(f.name.span());
    let args: Vec<&sql::Expr> = match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if args.len() != wanted {
        return Err(FerrisError::plan(
            format!(
                "{name} takes the event-time column and {} duration(s), e.g. {}",
                wanted - 1,
                match name.as_str() {
                    "TUMBLE" => "TUMBLE(ts, INTERVAL '1' MINUTE)",
                    "HOP" => "HOP(ts, INTERVAL '10' SECOND, INTERVAL '1' MINUTE)",
                    _ => "SESSION(ts, INTERVAL '5' MINUTE)",
                }
            ),
            at,
        ));
    }
    let ms = |x: &sql::Expr| duration_expr_ms(x, pos_of(x.span()));
    let kind = match name.as_str() {
        "TUMBLE" => WindowKind::Tumbling {
            size_ms: ms(args[1])?,
        },
        "HOP" => {
            let (advance_ms, size_ms) = (ms(args[1])?, ms(args[2])?);
            if advance_ms > size_ms {
                return Err(FerrisError::plan(
                    "HOP advance (second argument) must not be larger than its size (third)",
                    at,
                ));
            }
            WindowKind::Sliding {
                size_ms,
                advance_ms,
            }
        }
        _ => WindowKind::Session {
            gap_ms: ms(args[1])?,
        },
    };
    Ok(Some((kind, args[0])))
}

impl Planner {
    /// Plans the aggregation of `select`: returns the aggregate plan and the projection over
    /// the group row.
    pub(super) fn plan_aggregate(
        &mut self,
        select: &sql::Select,
        query: &StreamingQuery,
    ) -> Result<(AggregatePlan, Vec<OutputColumn>)> {
        let exprs = match &select.group_by {
            GroupByExpr::Expressions(e, m) if m.is_empty() => e,
            g => {
                return Err(unsupported(
                    "GROUP BY ALL / ROLLUP / CUBE / GROUPING SETS",
                    pos_of(g.span()),
                ));
            }
        };
        let mut window = query.window.as_ref().map(|w| w.kind);
        let mut time_expr: Option<Expr> =
            match query.window.as_ref().and_then(|w| w.time_column.as_ref()) {
                Some(col) => Some(self.compile(&sql::Expr::Identifier(sql::Ident::new(col)))?),
                None => None,
            };
        let mut keys = Vec::new();
        let mut terms = Vec::new();
        for e in exprs {
            if let Some((kind, time)) = group_window(e)? {
                if window.is_some() {
                    return Err(FerrisError::plan(
                        "a query has one window: a WINDOW clause or a window in GROUP BY, not both",
                        pos_of(e.span()),
                    ));
                }
                window = Some(kind);
                time_expr = Some(self.compile(time)?);
                continue;
            }
            if let sql::Expr::Value(v) = e
                && matches!(v.value, sql::Value::Number(..))
            {
                return Err(FerrisError::plan(
                    "GROUP BY by position is not supported",
                    pos_of(e.span()),
                )
                .with_hint("repeat the expression itself in GROUP BY"));
            }
            keys.push(self.compile(e)?);
            terms.push((e.to_string(), self.column_ref(e)));
        }
        let settings = state_settings(query)?;
        let event_time = match (window, time_expr) {
            (None, _) => None,
            (Some(_), Some(t)) => Some(t),
            (Some(_), None) => Some(match setting(query, "event.time.field") {
                Some(field) => {
                    self.compile(&sql::Expr::Identifier(sql::Ident::with_quote('"', field)))?
                }
                None => Expr::Column(self.slot("_timestamp", Some(SystemColumn::Timestamp))),
            }),
        };

        self.group = Some(GroupContext {
            terms,
            calls: Vec::new(),
            windowed: window.is_some(),
            window_slot: None,
        });
        // Pass 1 finds the calls; pass 2 compiles with the window slots placed after them.
        let _ = self.group_items(select)?;
        if let Some(g) = self.group.as_mut() {
            g.window_slot = window.map(|_| keys.len() + g.calls.len());
        }
        let (projection, having) = self.group_items(select)?;
        let calls = self
            .group
            .take()
            .map(|g| g.calls.into_iter().map(|(c, _)| c).collect())
            .unwrap_or_default();
        let plan = AggregatePlan {
            keys,
            calls,
            window,
            event_time,
            having,
            emit: query.emit.unwrap_or(EmitMode::Changes),
            settings,
        };
        Ok((plan, projection))
    }

    /// Compiles the select list and HAVING in group mode.
    fn group_items(&mut self, select: &sql::Select) -> Result<(Vec<OutputColumn>, Option<Expr>)> {
        let mut projection: Vec<OutputColumn> = Vec::new();
        for item in &select.projection {
            let (name, expr, at) = match item {
                SelectItem::UnnamedExpr(e) => {
                    (self.default_name(e), self.compile(e)?, pos_of(e.span()))
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    (alias.value.clone(), self.compile(expr)?, pos_of(alias.span))
                }
                other => {
                    return Err(FerrisError::plan(
                        format!("{other} cannot be used in an aggregating query"),
                        pos_of(other.span()),
                    )
                    .with_hint("name the GROUP BY columns and aggregates to output"));
                }
            };
            if projection.iter().any(|c| c.name == name) {
                return Err(
                    FerrisError::plan(format!("duplicate output column '{name}'"), at)
                        .with_hint("give one of them another name with AS"),
                );
            }
            projection.push(OutputColumn { name, expr });
        }
        let having = select
            .having
            .as_ref()
            .map(|h| self.compile(h))
            .transpose()?;
        Ok((projection, having))
    }

    /// The column a plain column reference names, resolved (so `t.sym` and `sym` agree).
    fn column_ref(&self, e: &sql::Expr) -> Option<String> {
        let ident = match e {
            sql::Expr::Identifier(i) => i,
            sql::Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [q, col] if self.is_source(&q.value) => col,
                _ => return None,
            },
            _ => return None,
        };
        if SystemColumn::from_name(&ident.value).is_some() {
            return Some(ident.value.to_ascii_lowercase());
        }
        self.column_name(ident).ok()
    }

    /// Group mode: what `e` is in the group row, if it is a key, an aggregate call or a window
    /// bound; `Ok(None)` to compile it structurally.
    pub(super) fn group_slot(&mut self, e: &sql::Expr) -> Result<Option<Expr>> {
        let Some(g) = self.group.as_ref() else {
            return Ok(None);
        };
        let text = e.to_string();
        let col = self.column_ref(e);
        if let Some(i) = g.terms.iter().position(|(t, c)| {
            t.eq_ignore_ascii_case(&text) || (col.is_some() && c.as_ref() == col.as_ref())
        }) {
            return Ok(Some(Expr::Column(i)));
        }
        let nkeys = g.terms.len();
        match e {
            sql::Expr::Function(f) if functions::is_aggregate(&f.name.to_string()) => {
                self.aggregate_call(f, nkeys).map(Some)
            }
            sql::Expr::Identifier(_) | sql::Expr::CompoundIdentifier(_) => {
                let ident = match e {
                    sql::Expr::Identifier(i) => i,
                    sql::Expr::CompoundIdentifier(p) => p.last().unwrap_or_else(|| unreachable!()),
                    _ => unreachable!(),
                };
                let lower = ident.value.to_ascii_lowercase();
                if lower == "_window_start" || lower == "_window_end" {
                    return match g.window_slot {
                        Some(s) => Ok(Some(Expr::Column(s + usize::from(lower == "_window_end")))),
                        // Pass 1 does not know the slot yet; pass 2 does.
                        None if g.windowed => Ok(Some(Expr::Literal(crate::value::Value::Null))),
                        None => Err(FerrisError::plan(
                            format!("{lower} needs a window"),
                            pos_of(ident.span),
                        )
                        .with_hint("add WINDOW TUMBLING(...) or GROUP BY TUMBLE(ts, ...)")),
                    };
                }
                // Resolve it first, so that an unknown column is reported as such.
                let _ = self.compile_input(e)?;
                Err(FerrisError::plan(
                    format!(
                        "column '{}' must appear in GROUP BY or be used in an aggregate function",
                        ident.value
                    ),
                    pos_of(ident.span),
                ))
            }
            _ => Ok(None),
        }
    }

    /// Compiles `e` over the input row even in group mode.
    fn compile_input(&mut self, e: &sql::Expr) -> Result<Expr> {
        let saved = self.group.take();
        let r = self.compile(e);
        self.group = saved;
        r
    }

    fn aggregate_call(&mut self, f: &sql::Function, nkeys: usize) -> Result<Expr> {
        let at: Option<Position> = pos_of(f.name.span());
        let name = f.name.to_string().to_ascii_uppercase();
        let Some(mut func) = AggFunc::from_name(&name) else {
            return Err(FerrisError::plan(format!("unknown aggregate '{name}'"), at));
        };
        if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
            return Err(unsupported("OVER/FILTER/WITHIN GROUP on an aggregate", at));
        }
        let FunctionArguments::List(list) = &f.args else {
            return Err(FerrisError::plan(format!("{name} takes one argument"), at));
        };
        if !list.clauses.is_empty() {
            return Err(unsupported(
                &format!("{name} with ORDER BY/LIMIT arguments"),
                at,
            ));
        }
        let distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct));
        if distinct && !matches!(func, AggFunc::Count | AggFunc::Sum | AggFunc::Avg) {
            return Err(FerrisError::plan(
                format!(
                    "{name}(DISTINCT ...) is not supported; DISTINCT goes with COUNT, SUM and AVG"
                ),
                at,
            ));
        }
        let (arg, text) = match list.args.as_slice() {
            [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)]
                if func == AggFunc::Count && !distinct =>
            {
                func = AggFunc::CountStar;
                (None, "*".to_string())
            }
            [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] => {
                return Err(FerrisError::plan(
                    format!("{name}(*) is not valid; only COUNT(*) is"),
                    at,
                ));
            }
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(x))] => {
                if has_aggregate(x) {
                    return Err(FerrisError::plan(
                        "aggregate functions cannot be nested",
                        pos_of(x.span()),
                    ));
                }
                (Some(self.compile_input(x)?), x.to_string())
            }
            args => {
                return Err(FerrisError::plan(
                    format!("{name} takes one argument, got {}", args.len()),
                    at,
                ));
            }
        };
        let identity = format!("{func:?}|{distinct}|{text}");
        let g = self
            .group
            .as_mut()
            .ok_or_else(|| FerrisError::Internal("aggregate outside group mode".into()))?;
        let index = match g.calls.iter().position(|(_, id)| *id == identity) {
            Some(i) => i,
            None => {
                g.calls.push((
                    AggregateCall {
                        func,
                        arg,
                        distinct,
                    },
                    identity,
                ));
                g.calls.len() - 1
            }
        };
        Ok(Expr::Column(nkeys + index))
    }
}
