//! Operators, one per file. Each takes a [`Batch`] and produces a [`Batch`]; a row whose
//! evaluation fails is handed to the caller's error sink with its index in the input batch and
//! processing continues.

pub mod aggregate;
mod filter;
mod project;

pub use filter::FilterExec;
pub use project::ProjectExec;

use crate::error::EvalError;
use crate::sql::planner::QueryPlan;
use crate::value::{Batch, Row};

/// The stateless operator chain of a plan: filter, then projection.
#[derive(Debug, Clone)]
pub struct Pipeline {
    filter: Option<FilterExec>,
    project: ProjectExec,
}

impl Pipeline {
    /// Builds the operators of `plan`.
    pub fn new(plan: &QueryPlan) -> Pipeline {
        Pipeline {
            filter: plan.filter.clone().map(FilterExec::new),
            project: ProjectExec::new(plan.projection.iter().map(|c| c.expr.clone()).collect()),
        }
    }

    /// Whether the filter keeps `row` (always, without a WHERE).
    pub fn keep(&self, row: &Row) -> Result<bool, EvalError> {
        match &self.filter {
            Some(f) => f.keep(row),
            None => Ok(true),
        }
    }

    /// Runs one input row through the chain: `Ok(None)` if the filter dropped it.
    pub fn process_row(&self, row: &Row) -> Result<Option<Row>, EvalError> {
        if let Some(f) = &self.filter
            && !f.keep(row)?
        {
            return Ok(None);
        }
        self.project.project(row).map(Some)
    }

    /// Runs a batch; results are appended to `out` in input order, failures go to `on_error`
    /// with the failing row's index in `input`.
    pub fn process_batch(
        &self,
        input: &Batch,
        out: &mut Batch,
        mut on_error: impl FnMut(usize, EvalError),
    ) {
        for (i, row) in input.rows.iter().enumerate() {
            match self.process_row(row) {
                Ok(Some(r)) => out.rows.push(r),
                Ok(None) => {}
                Err(e) => on_error(i, e),
            }
        }
    }
}
