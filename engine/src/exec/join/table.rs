//! The stream-table join: a table of the latest right row per join key, and a lookup per
//! left row.
//!
//! The table is keyed by the right-hand sides of the `ON` equalities evaluated on each table
//! row: a later row with the same key replaces the earlier one. A delete (a Kafka tombstone,
//! found by its record key, or a row with `"__deleted": true`) removes the key. A left row
//! is joined with the table as it is when the left row is processed.

use hashbrown::HashMap;

use super::{Shape, combine, eval_key, key_bytes, residual_holds, row_bytes};
use crate::error::EvalError;
use crate::exec::aggregate::key::GroupKey;
use crate::sql::join::{JoinKind, JoinPlan};
use crate::value::{Row, Value};

type Hasher = foldhash::fast::RandomState;

/// What a table row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableChange {
    /// A new key.
    Inserted,
    /// A key's row was replaced.
    Updated,
    /// A key was deleted (or a delete named a key the table does not have).
    Deleted,
    /// The row's key has a NULL in it: it is not stored (it could never match).
    NullKey,
    /// A new key would take the table past the state limit: not stored.
    StateFull,
}

/// The table side of a stream-table join, and the lookup.
#[derive(Debug)]
pub struct TableJoin {
    shape: Shape,
    kind: JoinKind,
    deleted_slot: Option<usize>,
    rows: HashMap<GroupKey, Row, Hasher>,
    /// Kafka record key -> join key, to find the row a tombstone deletes.
    by_record_key: HashMap<Box<[u8]>, GroupKey, Hasher>,
    bytes: usize,
    limit: Option<u64>,
}

impl TableJoin {
    /// An empty table for `plan`, whose left row has `left_len` slots.
    pub fn new(plan: &JoinPlan, left_len: usize) -> TableJoin {
        TableJoin {
            shape: Shape::new(plan, left_len),
            kind: plan.kind,
            deleted_slot: plan.deleted_slot,
            rows: HashMap::with_hasher(Hasher::default()),
            by_record_key: HashMap::with_hasher(Hasher::default()),
            bytes: 0,
            limit: plan.settings.state_max_bytes,
        }
    }

    /// Applies one table row (a delete if its `__deleted` column is TRUE).
    pub fn apply(&mut self, row: Row) -> Result<TableChange, EvalError> {
        self.apply_keyed(None, row)
    }

    /// Applies one table row that came with a Kafka record key, remembered so that a
    /// tombstone of that record key ([`TableJoin::delete_record_key`]) finds the row.
    pub fn apply_keyed(
        &mut self,
        record_key: Option<&[u8]>,
        row: Row,
    ) -> Result<TableChange, EvalError> {
        let Some(key) = eval_key(&self.shape.right_keys, &row)? else {
            return Ok(TableChange::NullKey);
        };
        let deleted = self
            .deleted_slot
            .is_some_and(|s| matches!(row.get(s), Some(Value::Boolean(true))));
        if deleted {
            self.remove(&key);
            if let Some(rk) = record_key {
                self.by_record_key.remove(rk);
            }
            return Ok(TableChange::Deleted);
        }
        let new_bytes = row_bytes(&row);
        let change = match self.rows.get_mut(&key) {
            Some(old) => {
                self.bytes = self.bytes - row_bytes(old) + new_bytes;
                *old = row;
                TableChange::Updated
            }
            None => {
                let kb = key_bytes(&key);
                if let Some(limit) = self.limit
                    && (self.bytes + new_bytes + kb) as u64 > limit
                {
                    return Ok(TableChange::StateFull);
                }
                self.bytes += new_bytes + kb;
                self.rows.insert(key.clone(), row);
                TableChange::Inserted
            }
        };
        if let Some(rk) = record_key {
            match self.by_record_key.get_mut(rk) {
                // The record key now names another join key: the old row is superseded.
                Some(old) if *old != key => {
                    let old = std::mem::replace(old, key);
                    self.remove(&old);
                }
                Some(_) => {}
                None => {
                    self.by_record_key.insert(rk.into(), key);
                }
            }
        }
        Ok(change)
    }

    /// A tombstone (a record with this key and no value): deletes the row it last carried.
    pub fn delete_record_key(&mut self, record_key: &[u8]) -> TableChange {
        if let Some(key) = self.by_record_key.remove(record_key) {
            self.remove(&key);
        }
        TableChange::Deleted
    }

    fn remove(&mut self, key: &GroupKey) {
        if let Some(old) = self.rows.remove(key) {
            let kb = key_bytes(key);
            self.bytes -= row_bytes(&old) + kb;
        }
    }

    /// Joins one left row: pushes the combined row onto `out` if it matched (or, for a LEFT
    /// join, with NULLs if it did not). Returns whether it matched.
    pub fn probe(&self, left: &[Value], out: &mut Vec<Row>) -> Result<bool, EvalError> {
        let s = &self.shape;
        let matched = match eval_key(&s.left_keys, left)? {
            Some(key) => match self.rows.get(&key) {
                Some(right) => {
                    let row = combine(Some(left), s.left_len, Some(right), s.right_len);
                    if residual_holds(s.residual.as_ref(), &row)? {
                        out.push(row);
                        true
                    } else {
                        false
                    }
                }
                None => false,
            },
            None => false,
        };
        if !matched && self.kind == JoinKind::Left {
            out.push(combine(Some(left), s.left_len, None, s.right_len));
        }
        Ok(matched)
    }

    /// Rows in the table.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Estimated bytes of the stored rows and keys.
    pub fn state_bytes(&self) -> usize {
        self.bytes
    }
}
