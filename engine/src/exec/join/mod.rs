//! Join operators: [`TableJoin`] (a stream looked up in a keyed table) and [`IntervalJoin`]
//! (two streams matched within a time bound), both over the plan's [`JoinPlan`].
//!
//! Both produce *combined rows*: the left row followed by the right row, with NULLs for the
//! side an outer join did not match. The caller runs the plan's WHERE and SELECT list (a
//! [`crate::exec::Pipeline`]) over them. Keys compare as GROUP BY keys do (`1` = `1.0`), except
//! that a key with a NULL in it never matches (SQL's `NULL = NULL` is not true).

mod interval;
mod table;

pub use interval::{IntervalJoin, Pushed, Side};
pub use table::{TableChange, TableJoin};

use crate::error::EvalError;
use crate::exec::aggregate::key::GroupKey;
use crate::exec::aggregate::value_bytes;
use crate::sql::expr::{Expr, truth_of};
use crate::sql::join::JoinPlan;
use crate::value::{Row, Value};

/// The key of a row: `None` if a component is NULL (such a row matches nothing).
fn eval_key(keys: &[Expr], row: &[Value]) -> Result<Option<GroupKey>, EvalError> {
    let mut values = Vec::with_capacity(keys.len());
    for k in keys {
        let v = k.eval(row)?;
        if v.is_null() {
            return Ok(None);
        }
        values.push(v);
    }
    Ok(Some(GroupKey::new(values)))
}

/// The estimated bytes a stored row takes.
fn row_bytes(row: &[Value]) -> usize {
    std::mem::size_of::<Row>() + row.iter().map(value_bytes).sum::<usize>()
}

/// The estimated bytes a stored key takes.
fn key_bytes(key: &GroupKey) -> usize {
    key.values().map(value_bytes).sum()
}

/// `left ++ right`, NULLs for an absent side.
fn combine(
    left: Option<&[Value]>,
    left_len: usize,
    right: Option<&[Value]>,
    right_len: usize,
) -> Row {
    let mut row = Vec::with_capacity(left_len + right_len);
    match left {
        Some(l) => row.extend_from_slice(l),
        None => row.resize(left_len, Value::Null),
    }
    match right {
        Some(r) => row.extend_from_slice(r),
        None => row.resize(left_len + right_len, Value::Null),
    }
    row
}

/// Whether the `ON` residual holds for a combined row (TRUE only; NULL and FALSE do not).
fn residual_holds(residual: Option<&Expr>, row: &[Value]) -> Result<bool, EvalError> {
    match residual {
        None => Ok(true),
        Some(e) => truth_of(&e.eval(row)?, "ON"),
    }
}

/// Why a row was not stored: the job's state limit.
pub fn state_full_reason(limit: u64) -> String {
    format!(
        "join state limit reached: 'state.max_bytes' = {limit} bytes; the record was not joined"
    )
}

/// Why an interval-join row was late.
pub fn late_join_reason(time: i64, watermark: i64) -> String {
    format!(
        "late record: event time {time} is behind the join's watermark {watermark}; its \
         interval has closed"
    )
}

/// The plan parts both operators need.
#[derive(Debug, Clone)]
struct Shape {
    left_len: usize,
    right_len: usize,
    left_keys: Vec<Expr>,
    right_keys: Vec<Expr>,
    residual: Option<Expr>,
}

impl Shape {
    fn new(plan: &JoinPlan, left_len: usize) -> Shape {
        Shape {
            left_len,
            right_len: plan.right_input.len(),
            left_keys: plan.left_keys.clone(),
            right_keys: plan.right_keys.clone(),
            residual: plan.residual.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
