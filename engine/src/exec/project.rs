//! The `SELECT` list: computes each output column from the input row.

use crate::error::EvalError;
use crate::sql::expr::Expr;
use crate::value::{Row, Value};

/// The projection operator.
#[derive(Debug, Clone)]
pub struct ProjectExec {
    exprs: Vec<Expr>,
}

impl ProjectExec {
    /// A projection computing `exprs` in order.
    pub fn new(exprs: Vec<Expr>) -> ProjectExec {
        ProjectExec { exprs }
    }

    /// The output row for `row`.
    pub fn project(&self, row: &[Value]) -> Result<Row, EvalError> {
        let mut out = Vec::with_capacity(self.exprs.len());
        for e in &self.exprs {
            out.push(e.eval(row)?);
        }
        Ok(out)
    }
}
