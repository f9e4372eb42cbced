//! The stream-table join: a table of the latest right row per join key, and a lookup per
//! left row.
//!
//! The table is keyed by the right-hand sides of the `ON` equalities evaluated on each table
//! row: a later row with the same key replaces the earlier one. A delete (a Kafka tombstone,
//! found by its record key, or a row with `"__deleted": true`) removes the key. A left row
//! is joined with the table as it is when the left row is processed.
//!
//! The table is a [`HashTable`] of key and row, hashed by the key's values in order. A
//! single-column key (the common case) is stored inline in the entry, so a lookup neither
//! allocates a key nor follows a pointer to compare one.

use std::hash::{BuildHasher, Hash, Hasher as _};

use hashbrown::{HashMap, HashTable};

use super::{Shape, combine, eval_key, residual_holds, row_bytes};
use crate::error::EvalError;
use crate::exec::aggregate::key::{GroupKey, KeyValue};
use crate::exec::aggregate::value_bytes;
use crate::sql::expr::Expr;
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

/// A join key without NULLs: one value inline, or several (a composite key). A table's keys
/// all have the plan's number of columns, so the two forms never meet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TableKey {
    One(KeyValue),
    Many(GroupKey),
}

impl TableKey {
    fn values(&self) -> &[KeyValue] {
        match self {
            TableKey::One(v) => std::slice::from_ref(v),
            TableKey::Many(k) => &k.0,
        }
    }

    /// The estimated bytes the key takes.
    fn bytes(&self) -> usize {
        self.values().iter().map(|v| value_bytes(&v.0)).sum()
    }
}

/// The key of a row: `None` if a component is NULL (such a row matches nothing).
fn eval_table_key(keys: &[Expr], row: &[Value]) -> Result<Option<TableKey>, EvalError> {
    if let [k] = keys {
        let v = k.eval(row)?;
        return Ok((!v.is_null()).then_some(TableKey::One(KeyValue(v))));
    }
    Ok(eval_key(keys, row)?.map(TableKey::Many))
}

/// The hash of a key: its values in order, as [`KeyValue`] hashes them (`1` and `1.0` alike).
fn hash_key(hasher: &Hasher, key: &[KeyValue]) -> u64 {
    let mut h = hasher.build_hasher();
    for v in key {
        v.hash(&mut h);
    }
    h.finish()
}

/// One table row and its key.
#[derive(Debug)]
struct Stored {
    key: TableKey,
    row: Row,
}

/// The table side of a stream-table join, and the lookup.
#[derive(Debug)]
pub struct TableJoin {
    shape: Shape,
    kind: JoinKind,
    deleted_slot: Option<usize>,
    hasher: Hasher,
    rows: HashTable<Stored>,
    /// Kafka record key -> join key, to find the row a tombstone deletes.
    by_record_key: HashMap<Box<[u8]>, TableKey, Hasher>,
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
            hasher: Hasher::default(),
            rows: HashTable::new(),
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
        let Some(key) = eval_table_key(&self.shape.right_keys, &row)? else {
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
        let hash = hash_key(&self.hasher, key.values());
        let change = match self.rows.find_mut(hash, |s| s.key == key) {
            Some(old) => {
                self.bytes = self.bytes - row_bytes(&old.row) + new_bytes;
                old.row = row;
                TableChange::Updated
            }
            None => {
                let kb = key.bytes();
                if let Some(limit) = self.limit
                    && (self.bytes + new_bytes + kb) as u64 > limit
                {
                    return Ok(TableChange::StateFull);
                }
                self.bytes += new_bytes + kb;
                let hasher = &self.hasher;
                self.rows.insert_unique(
                    hash,
                    Stored {
                        key: key.clone(),
                        row,
                    },
                    |s| hash_key(hasher, s.key.values()),
                );
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

    fn remove(&mut self, key: &TableKey) {
        let hash = hash_key(&self.hasher, key.values());
        if let Ok(entry) = self.rows.find_entry(hash, |s| s.key == *key) {
            let (old, _) = entry.remove();
            self.bytes -= row_bytes(&old.row) + old.key.bytes();
        }
    }

    /// The row stored under the key that `keys` give on `row`, if any (`None` for a key with
    /// a NULL in it).
    fn lookup(&self, keys: &[Expr], row: &[Value]) -> Result<Option<&Row>, EvalError> {
        let found = match keys {
            [k] => {
                let v = KeyValue(k.eval(row)?);
                if v.0.is_null() {
                    return Ok(None);
                }
                let key = std::slice::from_ref(&v);
                self.rows
                    .find(hash_key(&self.hasher, key), |s| s.key.values() == key)
            }
            _ => {
                let Some(key) = eval_key(keys, row)? else {
                    return Ok(None);
                };
                self.rows.find(hash_key(&self.hasher, &key.0), |s| {
                    *s.key.values() == *key.0
                })
            }
        };
        Ok(found.map(|s| &s.row))
    }

    /// Joins one left row: pushes the combined row onto `out` if it matched (or, for a LEFT
    /// join, with NULLs if it did not). Returns whether it matched.
    pub fn probe(&self, left: &[Value], out: &mut Vec<Row>) -> Result<bool, EvalError> {
        let s = &self.shape;
        let matched = match self.lookup(&s.left_keys, left)? {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::join::tests::row;
    use crate::sql::parse_statements;
    use crate::sql::planner::{Catalog, QueryPlan, StreamColumns, plan};

    /// `orders(id, cust, region, qty)` and `customers(cid, region, name, __deleted)`.
    struct Inputs;

    impl Catalog for Inputs {
        fn stream_columns(&self, name: &str) -> Option<StreamColumns> {
            let cols: &[&str] = match name {
                "orders" => &["id", "cust", "region", "qty"],
                "customers" => &["cid", "region", "name", "__deleted"],
                _ => return None,
            };
            Some(StreamColumns::Known(
                cols.iter().map(|c| c.to_string()).collect(),
            ))
        }

        fn stream_names(&self) -> Vec<String> {
            vec!["orders".into(), "customers".into()]
        }
    }

    fn planned(sql: &str) -> (QueryPlan, TableJoin) {
        let st = &parse_statements(sql).unwrap()[0];
        let p = plan(st, &Inputs).unwrap();
        let join = p.join.clone().unwrap();
        let table = TableJoin::new(&join, p.input.len());
        (p, table)
    }

    fn dec(s: &str) -> Value {
        Value::Decimal(s.parse().unwrap())
    }

    /// The name column of each combined row, through the plan's pipeline.
    fn names(p: &QueryPlan, rows: &[Row]) -> Vec<Value> {
        let pipeline = crate::exec::Pipeline::new(p);
        rows.iter()
            .filter_map(|r| pipeline.process_row(r).unwrap())
            .map(|r| r[1].clone())
            .collect()
    }

    #[test]
    fn keys_match_by_value_and_a_null_key_matches_nothing() {
        let sql = "SELECT o.id, c.name FROM orders o LEFT JOIN customers c ON o.cust = c.cid";
        let (p, mut table) = planned(sql);
        let right = p.join.as_ref().unwrap().right_input.clone();
        let c =
            |cid: Value, name: &str| row(&right, &[("cid", cid), ("name", Value::string(name))]);
        assert_eq!(
            table.apply(c(Value::BigInt(1), "one")).unwrap(),
            TableChange::Inserted
        );
        assert_eq!(
            table.apply(c(dec("2.0"), "two")).unwrap(),
            TableChange::Inserted
        );
        assert_eq!(
            table.apply(c(Value::Null, "none")).unwrap(),
            TableChange::NullKey
        );
        assert_eq!(table.len(), 2);
        let o = |cust: Value| row(&p.input, &[("id", Value::BigInt(9)), ("cust", cust)]);
        let mut out = Vec::new();
        assert!(table.probe(&o(dec("1.00")), &mut out).unwrap());
        assert!(table.probe(&o(Value::BigInt(2)), &mut out).unwrap());
        assert!(!table.probe(&o(Value::Null), &mut out).unwrap());
        assert!(!table.probe(&o(Value::string("1")), &mut out).unwrap());
        assert!(!table.probe(&o(Value::BigInt(3)), &mut out).unwrap());
        assert_eq!(
            names(&p, &out),
            vec![
                Value::string("one"),
                Value::string("two"),
                Value::Null,
                Value::Null,
                Value::Null
            ]
        );
    }

    #[test]
    fn updates_replace_deletes_remove_and_the_bytes_follow() {
        let sql = "SELECT o.id, c.name FROM orders o JOIN customers c ON o.cust = c.cid";
        let (p, mut table) = planned(sql);
        let right = p.join.as_ref().unwrap().right_input.clone();
        let c = |cid: i64, name: &str, deleted: bool| {
            row(
                &right,
                &[
                    ("cid", Value::BigInt(cid)),
                    ("name", Value::string(name)),
                    ("__deleted", Value::Boolean(deleted)),
                ],
            )
        };
        let o = |cust: i64| {
            row(
                &p.input,
                &[("id", Value::BigInt(9)), ("cust", Value::BigInt(cust))],
            )
        };
        let mut out = Vec::new();
        assert_eq!(
            table.apply(c(1, "a", false)).unwrap(),
            TableChange::Inserted
        );
        let one = table.state_bytes();
        assert!(one > 0);
        assert_eq!(
            table.apply(c(1, "a longer name", false)).unwrap(),
            TableChange::Updated
        );
        assert_eq!(table.len(), 1);
        assert_eq!(table.state_bytes(), one + "a longer name".len() - 1);
        assert!(table.probe(&o(1), &mut out).unwrap());
        assert_eq!(names(&p, &out), vec![Value::string("a longer name")]);
        out.clear();
        assert_eq!(table.apply(c(1, "", true)).unwrap(), TableChange::Deleted);
        assert!(table.is_empty());
        assert_eq!(table.state_bytes(), 0);
        assert!(!table.probe(&o(1), &mut out).unwrap());
        assert!(out.is_empty(), "INNER emits nothing unmatched");

        // Record keys: a tombstone deletes the row its key last carried; a record key that
        // moves to another join key supersedes the old row.
        assert_eq!(
            table.apply_keyed(Some(b"k1"), c(1, "a", false)).unwrap(),
            TableChange::Inserted
        );
        assert_eq!(
            table.apply_keyed(Some(b"k2"), c(2, "b", false)).unwrap(),
            TableChange::Inserted
        );
        assert_eq!(
            table.apply_keyed(Some(b"k1"), c(3, "c", false)).unwrap(),
            TableChange::Inserted
        );
        assert_eq!(table.len(), 2);
        assert!(!table.probe(&o(1), &mut out).unwrap());
        assert!(table.probe(&o(3), &mut out).unwrap());
        assert_eq!(table.delete_record_key(b"k2"), TableChange::Deleted);
        assert!(!table.probe(&o(2), &mut out).unwrap());
        assert_eq!(table.delete_record_key(b"nope"), TableChange::Deleted);
        assert_eq!(table.delete_record_key(b"k1"), TableChange::Deleted);
        assert!(table.is_empty());
        assert_eq!(table.state_bytes(), 0);
    }

    #[test]
    fn composite_keys_and_the_residual() {
        let sql = "SELECT o.id, c.name FROM orders o LEFT JOIN customers c \
                   ON o.region = c.region AND o.cust = c.cid AND o.qty > 1";
        let (p, mut table) = planned(sql);
        let right = p.join.as_ref().unwrap().right_input.clone();
        let c = |region: &str, cid: i64, name: &str| {
            row(
                &right,
                &[
                    ("region", Value::string(region)),
                    ("cid", Value::BigInt(cid)),
                    ("name", Value::string(name)),
                ],
            )
        };
        table.apply(c("eu", 1, "eu1")).unwrap();
        table.apply(c("us", 1, "us1")).unwrap();
        assert_eq!(
            table
                .apply(row(&right, &[("region", Value::string("eu"))]))
                .unwrap(),
            TableChange::NullKey
        );
        assert_eq!(table.len(), 2);
        let o = |region: &str, cust: i64, qty: i64| {
            row(
                &p.input,
                &[
                    ("id", Value::BigInt(9)),
                    ("region", Value::string(region)),
                    ("cust", Value::BigInt(cust)),
                    ("qty", Value::BigInt(qty)),
                ],
            )
        };
        let mut out = Vec::new();
        assert!(table.probe(&o("us", 1, 5), &mut out).unwrap());
        assert!(table.probe(&o("eu", 1, 5), &mut out).unwrap());
        assert!(!table.probe(&o("eu", 1, 1), &mut out).unwrap(), "residual");
        assert!(!table.probe(&o("eu", 2, 5), &mut out).unwrap());
        assert_eq!(
            names(&p, &out),
            vec![
                Value::string("us1"),
                Value::string("eu1"),
                Value::Null,
                Value::Null
            ]
        );
    }

    #[test]
    fn the_state_limit_rejects_new_keys_but_applies_updates() {
        let sql = "SELECT o.id, c.name FROM orders o JOIN customers c ON o.cust = c.cid \
                   WITH ('state.max_bytes' = '300')";
        let (p, mut table) = planned(sql);
        let right = p.join.as_ref().unwrap().right_input.clone();
        let c = |cid: i64, name: &str| {
            row(
                &right,
                &[("cid", Value::BigInt(cid)), ("name", Value::string(name))],
            )
        };
        let mut inserted = 0;
        while table.apply(c(inserted, "x")).unwrap() == TableChange::Inserted {
            inserted += 1;
        }
        assert!(inserted > 0);
        assert_eq!(table.len() as i64, inserted);
        assert!(table.state_bytes() <= 300);
        assert_eq!(
            table.apply(c(inserted, "x")).unwrap(),
            TableChange::StateFull
        );
        assert_eq!(table.apply(c(0, "y")).unwrap(), TableChange::Updated);
        let o = row(&p.input, &[("cust", Value::BigInt(0))]);
        let mut out = Vec::new();
        assert!(table.probe(&o, &mut out).unwrap());
        assert_eq!(names(&p, &out), vec![Value::string("y")]);
    }
}
