//! `WHERE`: keeps the rows whose predicate is TRUE (NULL and FALSE drop the row).

use crate::error::EvalError;
use crate::sql::expr::Expr;
use crate::value::Value;

/// The filter operator.
#[derive(Debug, Clone)]
pub struct FilterExec {
    predicate: Expr,
}

impl FilterExec {
    /// A filter on `predicate`.
    pub fn new(predicate: Expr) -> FilterExec {
        FilterExec { predicate }
    }

    /// True if the row passes. A non-boolean predicate result is a type error.
    pub fn keep(&self, row: &[Value]) -> Result<bool, EvalError> {
        match self.predicate.eval(row)? {
            Value::Boolean(b) => Ok(b),
            Value::Null => Ok(false),
            other => Err(EvalError::Type(format!(
                "WHERE needs a BOOLEAN, got {} ({other})",
                other.data_type()
            ))),
        }
    }
}
