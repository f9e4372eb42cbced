//! Operators, one per file. Each takes a [`Batch`] and produces a [`Batch`]; a row whose
//! evaluation fails is handed to the caller's error sink with its index in the input batch and
//! processing continues.

pub mod aggregate;
mod filter;
pub mod join;
pub mod passthrough;
pub mod pool;
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

    /// Runs one input row through the chain into `out` (reused: no allocation once it has
    /// grown): `Ok(false)` if the filter dropped it.
    pub fn process_row_into(&self, row: &Row, out: &mut Row) -> Result<bool, EvalError> {
        if !self.keep(row)? {
            return Ok(false);
        }
        self.project.project_into(row, out)?;
        Ok(true)
    }

    /// [`Pipeline::process_row_into`] without computing the output columns marked in `skip`
    /// (left `NULL`): columns whose value the encoder takes from elsewhere.
    pub fn process_row_skipping(
        &self,
        row: &Row,
        out: &mut Row,
        skip: &[bool],
    ) -> Result<bool, EvalError> {
        if !self.keep(row)? {
            return Ok(false);
        }
        self.project.project_into_skipping(row, out, skip)?;
        Ok(true)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parse_statements;
    use crate::sql::planner::{Catalog, StreamColumns, plan};
    use crate::value::Value;

    struct T;

    impl Catalog for T {
        fn stream_columns(&self, _: &str) -> Option<StreamColumns> {
            Some(StreamColumns::Known(vec!["a".into(), "b".into()]))
        }
        fn stream_names(&self) -> Vec<String> {
            vec!["t".into()]
        }
    }

    #[test]
    fn process_row_into_reuses_the_output_row_and_agrees_with_process_row() {
        let st = &parse_statements("SELECT a * 2 AS x, b FROM t WHERE a > 1").unwrap()[0];
        let p = plan(st, &T).unwrap();
        let pipeline = Pipeline::new(&p);
        let mut out = Vec::with_capacity(8);
        let capacity = out.capacity();
        for a in [1, 2, 3] {
            let row = vec![Value::BigInt(a), Value::string("s")];
            let kept = pipeline.process_row_into(&row, &mut out).unwrap();
            assert_eq!(kept, a > 1);
            if kept {
                assert_eq!(Some(out.clone()), pipeline.process_row(&row).unwrap());
                assert_eq!(out, vec![Value::BigInt(2 * a), Value::string("s")]);
            }
        }
        assert_eq!(
            out.capacity(),
            capacity,
            "the output row was reused, not replaced"
        );
        let bad = vec![Value::BigInt(i64::MAX), Value::Null];
        assert!(pipeline.process_row_into(&bad, &mut out).is_err());
    }

    #[test]
    fn skipped_columns_are_null_and_computed_ones_are_rewritten_in_place() {
        let st = &parse_statements("SELECT a * 2 AS x, b FROM t WHERE a > 1").unwrap()[0];
        let p = plan(st, &T).unwrap();
        let pipeline = Pipeline::new(&p);
        // A row left over from elsewhere: the wrong width, then a stale value in a skipped
        // column.
        let mut out = vec![Value::string("stale")];
        for (a, stale) in [(2, false), (3, true)] {
            if stale {
                out[1] = Value::string("stale");
            }
            let row = vec![Value::BigInt(a), Value::string("s")];
            assert!(
                pipeline
                    .process_row_skipping(&row, &mut out, &[false, true])
                    .unwrap()
            );
            assert_eq!(out, vec![Value::BigInt(2 * a), Value::Null]);
        }
        let dropped = vec![Value::BigInt(1), Value::string("s")];
        assert!(
            !pipeline
                .process_row_skipping(&dropped, &mut out, &[false, true])
                .unwrap()
        );
    }
}
