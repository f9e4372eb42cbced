//! Compiled expressions over positional rows.

use crate::error::EvalError;
use crate::value::Value;

/// A compiled expression: columns are row positions, functions are resolved.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A constant.
    Literal(Value),
    /// The value at a row position.
    Column(usize),
}

impl Expr {
    /// Evaluates the expression on one row.
    pub fn eval(&self, row: &[Value]) -> Result<Value, EvalError> {
        match self {
            Expr::Literal(v) => Ok(v.clone()),
            Expr::Column(i) => Ok(row[*i].clone()),
        }
    }
}
