//! Turns a parsed [`StreamingQuery`] into a [`QueryPlan`]: names become row positions, functions
//! are looked up once, and every expression is compiled.

use sqlparser::ast::{
    self as sql, CastKind, CeilFloorKind, DateTimeField, ExactNumberInfo, FunctionArg,
    FunctionArgExpr, FunctionArguments, Ident, SelectItem, SelectItemQualifiedWildcardKind,
    SetExpr, Spanned, TableFactor, TrimWhereField, UnaryOperator,
};

use crate::codec::json::JsonPath;
use crate::error::{FerrisError, Position, Result};
use crate::sql::aggregate::AggregatePlan;
use crate::sql::ast::{EmitMode, StatementKind, StreamingQuery, WindowSpec};
use crate::sql::expr::{BinaryOp, CastTarget, Expr, LikeOperand, LikePattern};
use crate::sql::functions;
use crate::sql::join::JoinPlan;
use crate::value::{Decimal, Value};

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
    /// `_headers`: the record's headers as a JSON object of strings (`{"trace":"abc"}`; a
    /// header without a value is `null`, bytes that are not UTF-8 are replaced); NULL for files.
    /// `HEADER('name')` reads one of them.
    Headers,
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
            "_headers" => Some(SystemColumn::Headers),
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
    /// The `SELECT` list: over the input row for a stateless plan, over the group row (see
    /// [`AggregatePlan`]) when `aggregate` is set.
    pub projection: Vec<OutputColumn>,
    /// GROUP BY, aggregates and window, if the query has any.
    pub aggregate: Option<AggregatePlan>,
    /// The join, if `FROM` joins two inputs: then `input` is the left input's row, and
    /// `filter` and `projection` are over the combined row (left row, then right row).
    pub join: Option<JoinPlan>,
    /// The `WINDOW` clause (planned only once windows are supported).
    pub window: Option<WindowSpec>,
    /// The `EMIT` mode.
    pub emit: Option<EmitMode>,
    /// The `WITH` properties.
    pub properties: Vec<(String, String)>,
}

/// Plans one statement against `catalog`.
pub fn plan(query: &StreamingQuery, catalog: &dyn Catalog) -> Result<QueryPlan> {
    let q = &query.query;
    let select = match q.body.as_ref() {
        SetExpr::Select(s) => s,
        SetExpr::Query(_) => {
            return Err(unsupported("a parenthesised query", pos_of(q.body.span())));
        }
        other => {
            return Err(unsupported(
                &format!("{} as a statement body", body_kind(other)),
                pos_of(other.span()),
            ));
        }
    };
    if let Some(with) = &q.with {
        return Err(unsupported(
            "WITH (common table expressions)",
            pos_of(with.span()),
        ));
    }
    if let Some(o) = &q.order_by {
        return Err(unsupported("ORDER BY on a stream", pos_of(o.span())));
    }
    if let Some(l) = &q.limit_clause {
        return Err(unsupported("LIMIT", pos_of(l.span())));
    }
    if select.distinct.is_some() {
        return Err(unsupported(
            "SELECT DISTINCT",
            pos_of(select.select_token.0.span),
        ));
    }
    let aggregating = aggregate::is_aggregating(select, query);
    if !aggregating && query.emit == Some(EmitMode::Final) {
        return Err(FerrisError::plan(
            "EMIT FINAL needs an aggregation (GROUP BY, an aggregate function or a WINDOW)",
            Some(query.position),
        ));
    }
    if !select.named_window.is_empty() || select.qualify.is_some() {
        return Err(unsupported(
            "named windows and QUALIFY",
            pos_of(select.span()),
        ));
    }

    let (source, alias, join) = source_of(select)?;
    if aggregating && let Some(j) = join {
        return Err(unsupported("aggregating over a JOIN", pos_of(j.span())).with_hint(
            "write the join as its own CREATE STREAM and aggregate that stream in the next statement",
        ));
    }
    let columns = catalog.stream_columns(&source.value).ok_or_else(|| {
        let mut known = catalog.stream_names();
        known.sort();
        FerrisError::plan(
            format!("unknown stream '{}'", source.value),
            pos_of(source.span),
        )
        .with_hint(if known.is_empty() {
            "no input streams are defined".to_string()
        } else {
            format!("known streams: {}", known.join(", "))
        })
    })?;
    let mut planner = Planner {
        source: source.value.clone(),
        alias: alias.map(|a| a.value.clone()),
        columns,
        input: Vec::new(),
        group: None,
        right: None,
    };
    let join = join.map(|j| planner.start_join(j, catalog)).transpose()?;

    let filter = select
        .selection
        .as_ref()
        .map(|e| planner.compile(e))
        .transpose()?;
    if aggregating {
        let (aggregate, projection) = planner.plan_aggregate(select, query)?;
        return Ok(QueryPlan {
            create: query.create.clone(),
            source: planner.source,
            input: planner.input,
            filter,
            projection,
            aggregate: Some(aggregate),
            join: None,
            window: query.window.clone(),
            emit: query.emit,
            properties: query.properties.clone(),
        });
    }
    let mut projection: Vec<OutputColumn> = Vec::new();
    let push =
        |projection: &mut Vec<OutputColumn>, name: String, expr: Expr, at: Option<Position>| {
            if projection.iter().any(|c| c.name == name) {
                return Err(
                    FerrisError::plan(format!("duplicate output column '{name}'"), at)
                        .with_hint("give one of them another name with AS"),
                );
            }
            projection.push(OutputColumn { name, expr });
            Ok(())
        };
    for item in &select.projection {
        match item {
            SelectItem::Wildcard(_) => {
                for (name, expr) in planner.wildcard() {
                    push(&mut projection, name, expr, pos_of(item.span()))?;
                }
            }
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), _) => {
                let q = n.0.last().and_then(|p| p.as_ident());
                match q {
                    Some(q) if planner.is_source(&q.value) => {
                        for (name, expr) in planner.left_wildcard() {
                            push(&mut projection, name, expr, pos_of(item.span()))?;
                        }
                    }
                    Some(q) if planner.is_right(&q.value) => {
                        for (name, expr) in planner.right_wildcard() {
                            push(&mut projection, name, expr, pos_of(item.span()))?;
                        }
                    }
                    _ => {
                        return Err(FerrisError::plan(
                            format!("unknown stream '{n}'"),
                            pos_of(n.span()),
                        ));
                    }
                }
            }
            SelectItem::UnnamedExpr(e) => {
                let expr = planner.compile(e)?;
                let name = planner.default_name(e);
                push(&mut projection, name, expr, pos_of(e.span()))?;
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let compiled = planner.compile(expr)?;
                push(
                    &mut projection,
                    alias.value.clone(),
                    compiled,
                    pos_of(alias.span),
                )?;
            }
            other => {
                return Err(unsupported(
                    &format!("select item {other}"),
                    pos_of(other.span()),
                ));
            }
        }
    }

    let mut filter = filter;
    let join = match join {
        Some(j) => Some(planner.finish_join(j, query, &mut filter, &mut projection)?),
        None => {
            if let Some((_, at)) = query.join_within {
                return Err(FerrisError::plan(
                    "WITHIN bounds an interval join: it needs FROM a JOIN b WITHIN ... ON ...",
                    Some(at),
                ));
            }
            None
        }
    };
    Ok(QueryPlan {
        create: query.create.clone(),
        source: planner.source,
        input: planner.input,
        filter,
        projection,
        aggregate: None,
        join,
        window: query.window.clone(),
        emit: query.emit,
        properties: query.properties.clone(),
    })
}

fn body_kind(body: &SetExpr) -> &'static str {
    match body {
        SetExpr::SetOperation { .. } => "UNION/INTERSECT/EXCEPT",
        SetExpr::Values(_) => "VALUES",
        _ => "this statement",
    }
}

/// The source stream of the `FROM` clause, its alias, and the one join if there is one.
fn source_of(select: &sql::Select) -> Result<(&Ident, Option<&Ident>, Option<&sql::Join>)> {
    let from = match select.from.as_slice() {
        [one] => one,
        [] => {
            return Err(FerrisError::plan(
                "a streaming query needs FROM <stream>",
                pos_of(select.select_token.0.span),
            ));
        }
        [_, second, ..] => {
            return Err(unsupported(
                "several comma-separated FROM streams",
                pos_of(second.span()),
            )
            .with_hint("join them with FROM a JOIN b ON ..."));
        }
    };
    if let Some(j) = from.joins.get(1) {
        return Err(
            unsupported("more than one JOIN in a statement", pos_of(j.span()))
                .with_hint("write the first join as its own CREATE STREAM and join that stream"),
        );
    }
    let (ident, alias) = table_name(&from.relation)?;
    Ok((ident, alias, from.joins.first()))
}

/// The name and alias of a `FROM` item that names a stream.
fn table_name(relation: &TableFactor) -> Result<(&Ident, Option<&Ident>)> {
    match relation {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => {
            let Some(ident) = name.0.last().and_then(|p| p.as_ident()) else {
                return Err(FerrisError::plan(
                    format!("bad stream name {name}"),
                    pos_of(name.span()),
                ));
            };
            Ok((ident, alias.as_ref().map(|a| &a.name)))
        }
        other => Err(unsupported(&format!("FROM {other}"), pos_of(other.span()))),
    }
}

fn pos_of(span: sqlparser::tokenizer::Span) -> Option<Position> {
    (span.start.line > 0).then_some(Position {
        line: span.start.line,
        column: span.start.column,
    })
}

fn unsupported(what: &str, position: Option<Position>) -> FerrisError {
    FerrisError::plan(format!("{what} is not supported"), position)
}

struct Planner {
    source: String,
    alias: Option<String>,
    columns: StreamColumns,
    input: Vec<InputField>,
    /// Set while compiling the select list and HAVING of an aggregating query.
    group: Option<aggregate::GroupContext>,
    /// The right input of a join: its columns compile to [`join::RIGHT_BASE`] + slot until
    /// the plan is finished.
    right: Option<join::Side>,
}

impl Planner {
    fn is_source(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(&self.source)
            || self
                .alias
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(name))
    }

    /// The input slot of `name`, added on first use.
    fn slot(&mut self, name: &str, system: Option<SystemColumn>) -> usize {
        if let Some(i) = self
            .input
            .iter()
            .position(|f| f.name == name && f.system == system)
        {
            return i;
        }
        self.input.push(InputField {
            name: name.to_string(),
            system,
        });
        self.input.len() - 1
    }

    /// `SELECT *`: every known payload column, by name (of a join: the left's, then the
    /// right's).
    fn wildcard(&mut self) -> Vec<(String, Expr)> {
        let mut all = self.left_wildcard();
        if self.right.is_some() {
            all.extend(self.right_wildcard());
        }
        all
    }

    /// `left.*`.
    fn left_wildcard(&mut self) -> Vec<(String, Expr)> {
        let names = match &self.columns {
            StreamColumns::Known(c) => c.clone(),
            StreamColumns::Open => Vec::new(),
        };
        names
            .into_iter()
            .map(|n| {
                let slot = self.slot(&n, None);
                (n, Expr::Column(slot))
            })
            .collect()
    }

    /// The real name of the column `ident` refers to.
    fn column_name(&self, ident: &Ident) -> Result<String> {
        let name = &ident.value;
        let StreamColumns::Known(cols) = &self.columns else {
            return Ok(name.clone());
        };
        if cols.iter().any(|c| c == name) {
            return Ok(name.clone());
        }
        if ident.quote_style.is_none() {
            let matches: Vec<&String> = cols
                .iter()
                .filter(|c| c.eq_ignore_ascii_case(name))
                .collect();
            match matches.as_slice() {
                [one] => return Ok((*one).clone()),
                [] => {}
                many => {
                    let list: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
                    return Err(FerrisError::plan(
                        format!("ambiguous column '{name}'"),
                        pos_of(ident.span),
                    )
                    .with_hint(format!("quote the exact name, one of: {}", list.join(", "))));
                }
            }
        }
        let shown: Vec<&str> = cols.iter().take(20).map(String::as_str).collect();
        let more = if cols.len() > 20 { ", ..." } else { "" };
        Err(
            FerrisError::plan(format!("unknown column '{name}'"), pos_of(ident.span)).with_hint(
                format!(
                    "stream '{}' has columns: {}{more}",
                    self.source,
                    shown.join(", ")
                ),
            ),
        )
    }

    fn column(&mut self, ident: &Ident) -> Result<Expr> {
        if let Some(sys) = SystemColumn::from_name(&ident.value) {
            let name = ident.value.to_ascii_lowercase();
            return Ok(Expr::Column(self.slot(&name, Some(sys))));
        }
        if self.right.is_some() {
            return self.join_column(ident);
        }
        let name = self.column_name(ident)?;
        Ok(Expr::Column(self.slot(&name, None)))
    }

    /// The output name of an unaliased select item.
    fn default_name(&self, e: &sql::Expr) -> String {
        let ident = match e {
            sql::Expr::Identifier(i) => Some(i),
            sql::Expr::CompoundIdentifier(parts) => parts.last(),
            _ => None,
        };
        match ident {
            Some(i) if SystemColumn::from_name(&i.value).is_some() => i.value.to_ascii_lowercase(),
            Some(i) if self.right.is_some() => self.join_column_name(e, i),
            Some(i) => self.column_name(i).unwrap_or_else(|_| i.value.clone()),
            None => e.to_string(),
        }
    }

    fn compile_box(&mut self, e: &sql::Expr) -> Result<Box<Expr>> {
        self.compile(e).map(Box::new)
    }

    fn compile(&mut self, e: &sql::Expr) -> Result<Expr> {
        use sql::Expr as E;
        if self.group.is_some()
            && let Some(slot) = self.group_slot(e)?
        {
            return Ok(slot);
        }
        Ok(match e {
            E::Identifier(ident) => self.column(ident)?,
            E::CompoundIdentifier(parts) => match parts.as_slice() {
                [q, col] if self.is_source(&q.value) => self.left_column(col)?,
                [q, col] if self.is_right(&q.value) => self.right_column(col)?,
                [q, _] => {
                    return Err(FerrisError::plan(
                        format!("unknown stream '{}'", q.value),
                        pos_of(q.span),
                    )
                    .with_hint(match &self.right {
                        Some(r) => format!("the query reads '{}' and '{}'", self.source, r.name),
                        None => format!("the query reads '{}'", self.source),
                    }));
                }
                _ => {
                    return Err(unsupported(
                        &format!("nested field reference {e}"),
                        pos_of(e.span()),
                    )
                    .with_hint("use JSON_VALUE(column, '$.a.b') for nested fields"));
                }
            },
            E::Value(v) => Expr::Literal(literal(&v.value, None, pos_of(v.span))?),
            E::TypedString(ts) => {
                let target = cast_target(&ts.data_type, pos_of(e.span()))?;
                let text = match &ts.value.value {
                    sql::Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                };
                let v = target.cast(Value::string(&text)).map_err(|err| {
                    FerrisError::plan(format!("bad {} literal: {err}", target), pos_of(e.span()))
                })?;
                Expr::Literal(v)
            }
            E::Nested(inner) => self.compile(inner)?,
            E::UnaryOp { op, expr } => match op {
                UnaryOperator::Minus => match expr.as_ref() {
                    E::Value(v) => Expr::Literal(literal(&v.value, Some('-'), pos_of(v.span))?),
                    other => Expr::Negate(self.compile_box(other)?),
                },
                UnaryOperator::Plus => self.compile(expr)?,
                UnaryOperator::Not => Expr::Not(self.compile_box(expr)?),
                other => return Err(unsupported(&format!("operator {other}"), pos_of(e.span()))),
            },
            E::BinaryOp { left, op, right } => {
                use sql::BinaryOperator as B;
                let l = self.compile_box(left)?;
                let r = self.compile_box(right)?;
                let op = match op {
                    B::And => return Ok(Expr::And(l, r)),
                    B::Or => return Ok(Expr::Or(l, r)),
                    B::Plus => BinaryOp::Add,
                    B::Minus => BinaryOp::Sub,
                    B::Multiply => BinaryOp::Mul,
                    B::Divide => BinaryOp::Div,
                    B::Modulo => BinaryOp::Mod,
                    B::Eq => BinaryOp::Eq,
                    B::NotEq => BinaryOp::NotEq,
                    B::Lt => BinaryOp::Lt,
                    B::LtEq => BinaryOp::LtEq,
                    B::Gt => BinaryOp::Gt,
                    B::GtEq => BinaryOp::GtEq,
                    B::StringConcat => BinaryOp::Concat,
                    other => {
                        return Err(unsupported(&format!("operator {other}"), pos_of(e.span())));
                    }
                };
                Expr::Binary {
                    op,
                    left: l,
                    right: r,
                }
            }
            E::IsNull(x) => Expr::IsNull {
                expr: self.compile_box(x)?,
                negated: false,
            },
            E::IsNotNull(x) => Expr::IsNull {
                expr: self.compile_box(x)?,
                negated: true,
            },
            E::IsTrue(x) => Expr::IsBool {
                expr: self.compile_box(x)?,
                value: true,
                negated: false,
            },
            E::IsNotTrue(x) => Expr::IsBool {
                expr: self.compile_box(x)?,
                value: true,
                negated: true,
            },
            E::IsFalse(x) => Expr::IsBool {
                expr: self.compile_box(x)?,
                value: false,
                negated: false,
            },
            E::IsNotFalse(x) => Expr::IsBool {
                expr: self.compile_box(x)?,
                value: false,
                negated: true,
            },
            E::In {
                expr,
                target: sql::InTarget::List(list),
                negated,
                ..
            } => Expr::InList {
                expr: self.compile_box(expr)?,
                list: list
                    .iter()
                    .map(|x| self.compile(x))
                    .collect::<Result<_>>()?,
                negated: *negated,
            },
            E::Between {
                expr,
                negated,
                low,
                high,
            } => Expr::Between {
                expr: self.compile_box(expr)?,
                low: self.compile_box(low)?,
                high: self.compile_box(high)?,
                negated: *negated,
            },
            E::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char,
            } => self.like(expr, pattern, escape_char.as_deref(), *negated, false)?,
            E::ILike {
                negated,
                any: false,
                expr,
                pattern,
                escape_char,
            } => self.like(expr, pattern, escape_char.as_deref(), *negated, true)?,
            E::Case {
                operand,
                conditions,
                else_result,
                ..
            } => Expr::Case {
                operand: operand
                    .as_deref()
                    .map(|o| self.compile_box(o))
                    .transpose()?,
                branches: conditions
                    .iter()
                    .map(|c| Ok((self.compile(&c.condition)?, self.compile(&c.result)?)))
                    .collect::<Result<_>>()?,
                otherwise: else_result
                    .as_deref()
                    .map(|o| self.compile_box(o))
                    .transpose()?,
            },
            E::Cast {
                kind: CastKind::Cast | CastKind::DoubleColon,
                expr,
                data_type,
                format: None,
            } => Expr::Cast {
                expr: self.compile_box(expr)?,
                target: cast_target(data_type, pos_of(e.span()))?,
            },
            E::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.compile(expr)?];
                args.push(match substring_from {
                    Some(f) => self.compile(f)?,
                    None => Expr::Literal(Value::BigInt(1)),
                });
                if let Some(n) = substring_for {
                    args.push(self.compile(n)?);
                }
                self.call("SUBSTRING", args, pos_of(e.span()))?
            }
            E::Trim {
                trim_where,
                trim_what,
                expr,
                trim_characters,
            } => {
                let name = match trim_where {
                    None | Some(TrimWhereField::Both) => "TRIM",
                    Some(TrimWhereField::Leading) => "LTRIM",
                    Some(TrimWhereField::Trailing) => "RTRIM",
                };
                let mut args = vec![self.compile(expr)?];
                match (trim_what, trim_characters.as_deref()) {
                    (Some(w), _) => args.push(self.compile(w)?),
                    (None, Some([c])) => args.push(self.compile(c)?),
                    (None, None) => {}
                    (None, Some(_)) => {
                        return Err(FerrisError::plan(
                            "TRIM takes one set of characters",
                            pos_of(e.span()),
                        ));
                    }
                }
                self.call(name, args, pos_of(e.span()))?
            }
            E::Ceil { expr, field } | E::Floor { expr, field } => {
                let name = if matches!(e, E::Ceil { .. }) {
                    "CEIL"
                } else {
                    "FLOOR"
                };
                match field {
                    CeilFloorKind::DateTimeField(DateTimeField::NoDateTime) => {}
                    _ => {
                        return Err(unsupported(
                            &format!("{name} with a unit or scale"),
                            pos_of(e.span()),
                        ));
                    }
                }
                let arg = self.compile(expr)?;
                self.call(name, vec![arg], pos_of(e.span()))?
            }
            E::Function(f) => self.function(f)?,
            E::Interval(_) => {
                return Err(unsupported(
                    "INTERVAL outside a WINDOW clause",
                    pos_of(e.span()),
                ));
            }
            E::Subquery(_) | E::Exists { .. } | E::In { .. } => {
                return Err(unsupported("subqueries", pos_of(e.span())));
            }
            other => {
                return Err(unsupported(
                    &format!("the expression {other}"),
                    pos_of(other.span()),
                ));
            }
        })
    }

    fn like(
        &mut self,
        expr: &sql::Expr,
        pattern: &sql::Expr,
        escape: Option<&sql::Expr>,
        negated: bool,
        case_insensitive: bool,
    ) -> Result<Expr> {
        let escape = match escape {
            None => None,
            Some(sql::Expr::Value(v)) => match &v.value {
                sql::Value::SingleQuotedString(s) if s.chars().count() == 1 => s.chars().next(),
                _ => {
                    return Err(FerrisError::plan(
                        "ESCAPE takes a single character",
                        pos_of(v.span),
                    ));
                }
            },
            Some(other) => {
                return Err(FerrisError::plan(
                    "ESCAPE takes a single character",
                    pos_of(other.span()),
                ));
            }
        };
        let compiled = self.compile(pattern)?;
        let pattern = match compiled {
            Expr::Literal(Value::String(p)) => LikeOperand::Compiled(
                LikePattern::new(&p, escape, case_insensitive)
                    .map_err(|err| FerrisError::plan(err.to_string(), pos_of(pattern.span())))?,
            ),
            other => LikeOperand::Dynamic {
                pattern: Box::new(other),
                escape,
                case_insensitive,
            },
        };
        Ok(Expr::Like {
            expr: self.compile_box(expr)?,
            pattern,
            negated,
        })
    }

    fn call(&mut self, name: &str, args: Vec<Expr>, at: Option<Position>) -> Result<Expr> {
        let Some(function) = functions::lookup(name) else {
            return Err(FerrisError::plan(format!("unknown function '{name}'"), at));
        };
        if !function.accepts(args.len()) {
            return Err(FerrisError::plan(
                format!(
                    "function {} takes {} argument(s), got {}",
                    function.name,
                    function.arity(),
                    args.len()
                ),
                at,
            ));
        }
        Ok(Expr::Call { function, args })
    }

    fn function(&mut self, f: &sql::Function) -> Result<Expr> {
        let at = pos_of(f.name.span());
        let written = match f.name.0.as_slice() {
            [part] => part.as_ident().map(|i| i.value.clone()),
            _ => None,
        };
        let Some(written) = written else {
            return Err(FerrisError::plan(
                format!("unknown function '{}'", f.name),
                at,
            ));
        };
        let name = written.to_ascii_uppercase();
        if functions::is_aggregate(&name) {
            return Err(FerrisError::plan(
                format!("aggregate function {name} is not allowed here"),
                at,
            )
            .with_hint("aggregates belong in the SELECT list or HAVING of an aggregating query"));
        }
        if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
            return Err(unsupported("OVER/FILTER/WITHIN GROUP", at));
        }
        let raw_args: Vec<&sql::Expr> = match &f.args {
            FunctionArguments::None => Vec::new(),
            FunctionArguments::List(list) => {
                if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                    return Err(unsupported(
                        &format!("{name} with DISTINCT/ORDER BY arguments"),
                        at,
                    ));
                }
                let mut v = Vec::with_capacity(list.args.len());
                for a in &list.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => v.push(x),
                        other => {
                            return Err(unsupported(
                                &format!("argument {other} of {name}"),
                                pos_of(other.span()),
                            ));
                        }
                    }
                }
                v
            }
            FunctionArguments::Subquery(_) => return Err(unsupported("subqueries", at)),
        };
        let arity = |n: usize, ok: bool| -> Result<()> {
            if ok {
                Ok(())
            } else {
                Err(FerrisError::plan(
                    format!(
                        "function {name} takes {n} argument(s), got {}",
                        raw_args.len()
                    ),
                    at,
                ))
            }
        };
        match name.as_str() {
            "COALESCE" => {
                if raw_args.is_empty() {
                    return Err(FerrisError::plan(
                        "function COALESCE takes at least 1 argument(s), got 0",
                        at,
                    ));
                }
                Ok(Expr::Coalesce(
                    raw_args
                        .iter()
                        .map(|a| self.compile(a))
                        .collect::<Result<_>>()?,
                ))
            }
            "NULLIF" => {
                arity(2, raw_args.len() == 2)?;
                Ok(Expr::NullIf(
                    self.compile_box(raw_args[0])?,
                    self.compile_box(raw_args[1])?,
                ))
            }
            "HEADER" => {
                arity(1, raw_args.len() == 1)?;
                let name_at = pos_of(raw_args[0].span());
                let Expr::Literal(Value::String(header)) = self.compile(raw_args[0])? else {
                    return Err(FerrisError::plan(
                        "HEADER needs a literal header name such as HEADER('trace-id')",
                        name_at,
                    ));
                };
                // `_headers` is a JSON object of the record's headers: one header is a key
                // lookup in it (the last value of a repeated header, like a repeated JSON key).
                let escaped = header.replace('\\', "\\\\").replace('\'', "\\'");
                let path = JsonPath::parse(&format!("$['{escaped}']")).map_err(|err| {
                    FerrisError::Internal(format!("HEADER('{header}') path: {err}"))
                })?;
                let slot = self.slot("_headers", Some(SystemColumn::Headers));
                Ok(Expr::JsonValue {
                    expr: Box::new(Expr::Column(slot)),
                    path,
                })
            }
            "JSON_VALUE" => {
                arity(2, raw_args.len() == 2)?;
                let path_at = pos_of(raw_args[1].span());
                let path = match self.compile(raw_args[1])? {
                    Expr::Literal(Value::String(p)) => JsonPath::parse(&p).map_err(|err| {
                        FerrisError::plan(format!("bad JSON path '{p}': {err}"), path_at)
                    })?,
                    _ => {
                        return Err(FerrisError::plan(
                            "JSON_VALUE needs a literal path such as '$.a.b'",
                            path_at,
                        ));
                    }
                };
                Ok(Expr::JsonValue {
                    expr: self.compile_box(raw_args[0])?,
                    path,
                })
            }
            _ if functions::lookup(&name).is_none() => Err(FerrisError::plan(
                format!("unknown function '{written}'"),
                at,
            )),
            _ => {
                let args = raw_args
                    .iter()
                    .map(|a| self.compile(a))
                    .collect::<Result<Vec<_>>>()?;
                self.call(&name, args, at)
            }
        }
    }
}

/// A literal value; `sign` is `Some('-')` for a negated number literal.
fn literal(v: &sql::Value, sign: Option<char>, at: Option<Position>) -> Result<Value> {
    Ok(match v {
        sql::Value::Number(text, _) => {
            let text = match sign {
                Some(s) => format!("{s}{text}"),
                None => text.clone(),
            };
            if !text.contains(['.', 'e', 'E'])
                && let Ok(i) = text.parse::<i64>()
            {
                return Ok(Value::BigInt(i));
            }
            Value::Decimal(
                text.parse::<Decimal>().map_err(|e| {
                    FerrisError::plan(format!("bad number literal {text}: {e}"), at)
                })?,
            )
        }
        _ if sign.is_some() => return Err(FerrisError::plan(format!("cannot negate {v}"), at)),
        sql::Value::SingleQuotedString(s) => Value::string(s),
        sql::Value::Boolean(b) => Value::Boolean(*b),
        sql::Value::Null => Value::Null,
        other => return Err(unsupported(&format!("the literal {other}"), at)),
    })
}

fn cast_target(t: &sql::DataType, at: Option<Position>) -> Result<CastTarget> {
    use sql::DataType as D;
    Ok(match t {
        D::BigInt(_) | D::Int(_) | D::Integer(_) | D::SmallInt(_) | D::Int8(_) | D::Int64 => {
            CastTarget::BigInt
        }
        D::Double(_) | D::DoublePrecision | D::Float(_) | D::Real | D::Float8 | D::Float64 => {
            CastTarget::Double
        }
        D::Decimal(info) | D::Numeric(info) | D::Dec(info) => CastTarget::Decimal {
            precision_scale: match info {
                ExactNumberInfo::None => None,
                ExactNumberInfo::Precision(p) => Some((decimal_bound(*p, 1, at)?, 0)),
                ExactNumberInfo::PrecisionAndScale(p, s) => {
                    let p = decimal_bound(*p, 1, at)?;
                    let s = u64::try_from(*s)
                        .map_err(|_| FerrisError::plan("DECIMAL scale must not be negative", at))?;
                    let s = decimal_bound(s, 0, at)?;
                    if s > p {
                        return Err(FerrisError::plan(
                            format!("DECIMAL({p},{s}): scale larger than precision"),
                            at,
                        ));
                    }
                    Some((p, s))
                }
            },
        },
        D::String(_) | D::Varchar(_) | D::Text | D::Char(_) => CastTarget::String,
        D::Boolean | D::Bool => CastTarget::Boolean,
        D::Timestamp(_, _) => CastTarget::Timestamp,
        other => return Err(unsupported(&format!("CAST to {other}"), at)),
    })
}

fn decimal_bound(v: u64, min: u8, at: Option<Position>) -> Result<u8> {
    match u8::try_from(v) {
        Ok(b) if (min..=38).contains(&b) => Ok(b),
        _ => Err(FerrisError::plan(
            format!("DECIMAL precision/scale {v} out of range {min}..38"),
            at,
        )),
    }
}

mod aggregate;
mod join;

pub use aggregate::{STATE_KEYS, state_settings};
pub use join::parse_bytes;

#[cfg(test)]
mod tests;
