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

    /// Computes the output row for `row` into `out` (cleared first), reusing its allocation.
    /// On an error `out` holds the columns computed so far.
    pub fn project_into(&self, row: &[Value], out: &mut Row) -> Result<(), EvalError> {
        out.clear();
        for e in &self.exprs {
            out.push(e.eval(row)?);
        }
        Ok(())
    }

    /// Computes the output row for `row` into `out`, except that the columns with `skip[i]`
    /// are not computed (they are `NULL` in `out`): their values are written by other means
    /// (copied text). Only the computed columns are written, in place; on an error the
    /// contents of `out` are unspecified.
    pub fn project_into_skipping(
        &self,
        row: &[Value],
        out: &mut Row,
        skip: &[bool],
    ) -> Result<(), EvalError> {
        // Skipped columns stay NULL from one row to the next: only the computed ones are
        // written (no per-row clear of the whole row).
        if out.len() != self.exprs.len() {
            out.clear();
            out.resize(self.exprs.len(), Value::Null);
        }
        for (i, (e, slot)) in self.exprs.iter().zip(out.iter_mut()).enumerate() {
            if skip.get(i).copied().unwrap_or(false) {
                if !matches!(slot, Value::Null) {
                    *slot = Value::Null;
                }
            } else {
                *slot = e.eval(row)?;
            }
        }
        Ok(())
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
