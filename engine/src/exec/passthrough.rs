//! Pass-through columns: output columns that copy an input payload field unchanged
//! (`SELECT symbol, ...`). When the source and sink formats write such a field with the same
//! bytes (JSON to JSON; plain Avro to Avro where both schemas give the field the same type;
//! singular strings from plain Protobuf to Protobuf), the shard copies the field's bytes from
//! the consumed record into the output record instead of decoding it into a value and encoding
//! it again: the field is copied once, and a string field costs no allocation. A field that is
//! also read by the filter or by a computed column is decoded as well (its value is needed) but
//! still copied as bytes.

use crate::sql::expr::Expr;
use crate::sql::planner::QueryPlan;

/// One output column that copies an input field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopiedColumn {
    /// The output column (an index into the payload columns).
    pub output: usize,
    /// The input slot it copies.
    pub slot: usize,
}

/// The pass-through columns of a stateless plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassThrough {
    /// The copying output columns, in output order.
    pub columns: Vec<CopiedColumn>,
    /// Per input slot: true when only copies read it, so its value is never needed.
    pub copy_only: Vec<bool>,
}

impl PassThrough {
    /// The pass-through columns among the first `payload` output columns of `plan` (none for
    /// an aggregating plan, whose output is computed from state).
    pub fn of(plan: &QueryPlan, payload: usize) -> PassThrough {
        if plan.aggregate.is_some() {
            return PassThrough::default();
        }
        let mut columns = Vec::new();
        let mut read_otherwise = vec![false; plan.input.len()];
        let mut mark = |i: usize| {
            if let Some(r) = read_otherwise.get_mut(i) {
                *r = true;
            }
        };
        if let Some(filter) = &plan.filter {
            filter.for_each_column(&mut mark);
        }
        for (output, column) in plan.projection.iter().enumerate() {
            match &column.expr {
                Expr::Column(slot)
                    if output < payload
                        && plan.input.get(*slot).is_some_and(|f| f.system.is_none()) =>
                {
                    columns.push(CopiedColumn {
                        output,
                        slot: *slot,
                    });
                }
                other => other.for_each_column(&mut mark),
            }
        }
        let mut copy_only = vec![false; plan.input.len()];
        for c in &columns {
            copy_only[c.slot] = !read_otherwise[c.slot];
        }
        PassThrough { columns, copy_only }
    }

    /// True when no column is copied.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Keeps only the copies `keep` accepts (the others are computed and encoded as values,
    /// so the slots they read are no longer copy-only).
    pub fn retain(&mut self, mut keep: impl FnMut(&CopiedColumn) -> bool) {
        let copy_only = &mut self.copy_only;
        self.columns.retain(|c| {
            let kept = keep(c);
            if !kept && let Some(only) = copy_only.get_mut(c.slot) {
                *only = false;
            }
            kept
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parser::parse_statements;
    use crate::sql::planner::{Catalog, StreamColumns, plan};

    struct Open;

    impl Catalog for Open {
        fn stream_columns(&self, _: &str) -> Option<StreamColumns> {
            Some(StreamColumns::Open)
        }
        fn stream_names(&self) -> Vec<String> {
            vec!["t".into()]
        }
    }

    fn of(sql: &str, payload: usize) -> PassThrough {
        let st = parse_statements(sql).unwrap().remove(0);
        PassThrough::of(&plan(&st, &Open).unwrap(), payload)
    }

    #[test]
    fn plain_columns_are_copied_and_columns_read_elsewhere_are_still_decoded() {
        // Input slots in first-use order: price (WHERE), id, symbol, qty, _offset.
        let p = of(
            "SELECT id, symbol, price, qty * 2 AS q2, _offset, symbol AS again FROM t WHERE price > 0",
            6,
        );
        let copied: Vec<(usize, usize)> = p.columns.iter().map(|c| (c.output, c.slot)).collect();
        assert_eq!(copied, vec![(0, 1), (1, 2), (2, 0), (5, 2)]);
        assert_eq!(p.copy_only, vec![false, true, true, false, false]);
    }

    #[test]
    fn a_copy_left_out_makes_its_slot_decoded_again() {
        // Slots: id, symbol; `symbol` is copied twice, `id` once.
        let mut p = of("SELECT id, symbol, symbol AS again FROM t", 3);
        assert_eq!(p.copy_only, vec![true, true]);
        p.retain(|c| c.output != 2);
        let copied: Vec<(usize, usize)> = p.columns.iter().map(|c| (c.output, c.slot)).collect();
        assert_eq!(copied, vec![(0, 0), (1, 1)]);
        // `again` now encodes symbol's value, so symbol must be decoded.
        assert_eq!(p.copy_only, vec![true, false]);
    }

    #[test]
    fn key_columns_and_aggregates_are_not_copied() {
        // `symbol AS _key` is the 3rd column, past the 2 payload columns.
        let p = of("SELECT id, price, symbol AS _key FROM t", 2);
        let copied: Vec<(usize, usize)> = p.columns.iter().map(|c| (c.output, c.slot)).collect();
        assert_eq!(copied, vec![(0, 0), (1, 1)]);
        assert_eq!(p.copy_only, vec![true, true, false]);
        assert!(of("SELECT symbol, COUNT(*) AS n FROM t GROUP BY symbol", 2).is_empty());
    }
}
