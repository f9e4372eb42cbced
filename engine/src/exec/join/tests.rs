//! Unit tests of the join operators driven directly (no file merging): eviction order and the
//! released tags, the watermark, idle sources, the state limit, Kafka tombstones, and the state
//! bytes going back to 0.

use super::*;
use crate::exec::Pipeline;
use crate::sql::parse_statements;
use crate::sql::planner::{Catalog, InputField, QueryPlan, StreamColumns, plan};

/// `orders(id, ts, note)`, `shipments(oid, ts, tag)` and `customers(cid, name, __deleted)`.
struct Inputs;

impl Catalog for Inputs {
    fn stream_columns(&self, name: &str) -> Option<StreamColumns> {
        let cols: &[&str] = match name {
            "orders" => &["id", "ts", "note"],
            "shipments" => &["oid", "ts", "tag"],
            "customers" => &["cid", "name", "__deleted"],
            _ => return None,
        };
        Some(StreamColumns::Known(
            cols.iter().map(|c| c.to_string()).collect(),
        ))
    }

    fn stream_names(&self) -> Vec<String> {
        vec!["orders".into(), "shipments".into(), "customers".into()]
    }
}

fn planned(sql: &str) -> QueryPlan {
    let st = &parse_statements(sql).unwrap()[0];
    plan(st, &Inputs).unwrap()
}

/// A row in `layout` from `(column, value)` pairs (NULL for the others). Also used by the
/// table's own tests.
pub(super) fn row(layout: &[InputField], values: &[(&str, Value)]) -> Row {
    layout
        .iter()
        .map(|f| {
            values
                .iter()
                .find(|(n, _)| *n == f.name)
                .map_or(Value::Null, |(_, v)| v.clone())
        })
        .collect()
}

fn big(v: i64) -> Value {
    Value::BigInt(v)
}

/// The select list of each combined row, through the plan's WHERE and SELECT.
fn selected(p: &QueryPlan, rows: &[Row]) -> Vec<Vec<Value>> {
    let pipeline = Pipeline::new(p);
    rows.iter()
        .filter_map(|r| pipeline.process_row(r).unwrap())
        .collect()
}

/// The estimated bytes an interval join holds for a row with this key.
fn buffered_bytes(row: &[Value], key: Value) -> usize {
    row_bytes(row) + key_bytes(&GroupKey::new(vec![key])) + 48
}

/// An interval join of orders and shipments (`s.ts - o.ts` within `[0, 1s]`) with its rows.
struct Interval {
    plan: QueryPlan,
    state: IntervalJoin<&'static str>,
    out: Vec<(&'static str, Row)>,
    released: Vec<&'static str>,
}

impl Interval {
    fn new(kind: &str, with: &str) -> Interval {
        let plan = planned(&format!(
            "SELECT o.id, s.oid FROM orders o {kind} JOIN shipments s \
             ON o.id = s.oid AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '1' SECOND {with}"
        ));
        Interval::of(plan)
    }

    fn of(plan: QueryPlan) -> Interval {
        let join = plan.join.clone().unwrap();
        let mut state = IntervalJoin::new(&join, plan.input.len()).unwrap();
        state.register(Side::Left, 0);
        state.register(Side::Right, 0);
        Interval {
            plan,
            state,
            out: Vec::new(),
            released: Vec::new(),
        }
    }

    fn order(&self, id: Option<i64>, ts: i64) -> Row {
        let id = id.map_or(Value::Null, big);
        row(&self.plan.input, &[("id", id), ("ts", big(ts))])
    }

    fn shipment(&self, oid: i64, ts: i64) -> Row {
        let right = &self.plan.join.as_ref().unwrap().right_input;
        row(right, &[("oid", big(oid)), ("ts", big(ts))])
    }

    /// Pushes a left row and advances.
    fn left(&mut self, tag: &'static str, id: i64, ts: i64) -> Pushed {
        let r = self.order(Some(id), ts);
        let pushed = self.state.push(Side::Left, r, tag, &mut self.out).unwrap();
        self.state.advance(&mut self.out, &mut self.released);
        pushed
    }

    /// Pushes a right row and advances.
    fn right(&mut self, tag: &'static str, oid: i64, ts: i64) -> Pushed {
        let r = self.shipment(oid, ts);
        let pushed = self.state.push(Side::Right, r, tag, &mut self.out).unwrap();
        self.state.advance(&mut self.out, &mut self.released);
        pushed
    }

    /// What came out since the last call: `(tag, id, oid)`, NULL as `None`.
    fn take_out(&mut self) -> Vec<(&'static str, Option<i64>, Option<i64>)> {
        let (tags, rows): (Vec<_>, Vec<_>) = std::mem::take(&mut self.out).into_iter().unzip();
        let num = |v: &Value| match v {
            Value::BigInt(i) => Some(*i),
            Value::Null => None,
            other => panic!("not a BIGINT: {other:?}"),
        };
        tags.into_iter()
            .zip(selected(&self.plan, &rows))
            .map(|(t, r)| (t, num(&r[0]), num(&r[1])))
            .collect()
    }

    fn take_released(&mut self) -> Vec<&'static str> {
        std::mem::take(&mut self.released)
    }
}

#[test]
fn a_full_interval_join_evicts_in_order_and_releases_every_tag_once() {
    let mut j = Interval::new("FULL", "");
    assert_eq!(j.left("o1", 1, 1000), Pushed::Stored);
    // The right side has a registered source without a record: no watermark yet.
    assert_eq!(j.state.watermark(), None);
    assert_eq!(j.right("s1", 1, 1500), Pushed::Stored);
    assert_eq!(j.take_out(), vec![("s1", Some(1), Some(1))]);
    assert_eq!(j.state.watermark(), Some(1000));
    assert_eq!(j.left("o2", 2, 2000), Pushed::Stored);
    // W = min(2000, 1500): s1 may still match a left row at 1500 (u - lower = 1500 is not
    // below W), so nothing is evicted.
    assert_eq!(j.state.watermark(), Some(1500));
    assert!(j.take_released().is_empty());
    assert_eq!(j.state.buffered(), 3);

    assert_eq!(j.right("s3", 3, 2600), Pushed::Stored);
    assert_eq!(j.state.watermark(), Some(2000));
    // o1 (t + upper = 2000) is not below 2000 yet; s1 (1500) is, and it matched.
    assert_eq!(j.take_released(), vec!["s1"]);
    assert!(j.take_out().is_empty());

    assert_eq!(j.left("o4", 4, 3000), Pushed::Stored);
    assert_eq!(j.state.watermark(), Some(2600));
    assert_eq!(j.take_released(), vec!["o1"]);
    assert!(j.take_out().is_empty(), "o1 matched: not emitted again");

    assert_eq!(j.right("s5", 5, 5000), Pushed::Stored);
    assert_eq!(j.state.watermark(), Some(3000));
    assert_eq!(j.take_out(), vec![("s3", None, Some(3))]);
    assert_eq!(j.take_released(), vec!["s3"]);

    assert_eq!(j.left("o6", 6, 6000), Pushed::Stored);
    assert_eq!(j.state.watermark(), Some(5000));
    // Left evictions in eviction-time order (o2 at 3000, o4 at 4000); s5 (5000) stays.
    assert_eq!(
        j.take_out(),
        vec![("o2", Some(2), None), ("o4", Some(4), None)]
    );
    assert_eq!(j.take_released(), vec!["o2", "o4"]);
    assert_eq!(j.state.buffered(), 2);

    j.state.close_all(&mut j.out, &mut j.released);
    assert_eq!(
        j.take_out(),
        vec![("o6", Some(6), None), ("s5", None, Some(5))]
    );
    assert_eq!(j.take_released(), vec!["o6", "s5"]);
    assert_eq!(j.state.buffered(), 0);
    assert_eq!(j.state.state_bytes(), 0);
}

#[test]
fn an_inner_interval_join_emits_matches_in_partner_arrival_order_and_no_unmatched_rows() {
    let mut j = Interval::new("INNER", "");
    j.right("s1", 1, 1500);
    j.right("s2", 1, 1200);
    j.right("s3", 1, 2500);
    assert_eq!(j.state.watermark(), None);
    // The left row arrives last: its matches follow the partners' arrival order, with its tag.
    j.left("o1", 1, 1000);
    let right = &j.plan.join.as_ref().unwrap().right_input;
    let ts = j.plan.input.len() + right.iter().position(|f| f.name == "ts").unwrap();
    let times: Vec<Value> = j.out.iter().map(|(_, r)| r[ts].clone()).collect();
    assert_eq!(times, vec![big(1500), big(1200)]);
    assert_eq!(
        j.take_out(),
        vec![("o1", Some(1), Some(1)), ("o1", Some(1), Some(1))]
    );
    assert_eq!(j.state.watermark(), Some(1000));
    j.state.close_all(&mut j.out, &mut j.released);
    assert!(j.take_out().is_empty());
    // Left evictions first, then the right side in eviction-time order (u - lower).
    assert_eq!(j.take_released(), vec!["o1", "s2", "s1", "s3"]);
    assert_eq!(j.state.state_bytes(), 0);
}

#[test]
fn the_watermark_never_goes_back() {
    let mut j = Interval::new("INNER", "WITH ('watermark.max_out_of_orderness' = '1s')");
    j.left("o1", 1, 10_000);
    j.right("s1", 1, 2000);
    assert_eq!(j.state.watermark(), Some(1000));
    // The right side goes idle: the left side alone moves the watermark.
    j.state.set_idle(Side::Right, 0);
    j.state.advance(&mut j.out, &mut j.released);
    assert_eq!(j.state.watermark(), Some(9000));
    assert_eq!(j.take_released(), vec!["s1"]);
    // A right row at 9500 is on time; it wakes the right side, whose mark (9500) would put
    // the watermark back to 8500: it stays at 9000.
    assert_eq!(j.right("s2", 1, 9500), Pushed::Stored);
    assert_eq!(j.state.watermark(), Some(9000));
    assert_eq!(
        j.right("s3", 1, 8800),
        Pushed::Late {
            time: 8800,
            watermark: 9000
        }
    );
    let late_left = j.order(Some(1), 8999);
    assert_eq!(
        j.state
            .push(Side::Left, late_left, "o2", &mut j.out)
            .unwrap(),
        Pushed::Late {
            time: 8999,
            watermark: 9000
        }
    );
    assert!(j.take_out().is_empty(), "late rows are not joined");
    assert_eq!(j.state.buffered(), 2);
    // Later rows move it on from there.
    j.right("s4", 2, 12_000);
    assert_eq!(j.state.watermark(), Some(9000), "min(10000, 12000) - 1000");
    j.left("o3", 3, 11_500);
    assert_eq!(j.state.watermark(), Some(10_500));
}

#[test]
fn an_idle_side_stops_holding_the_watermark_back_until_its_next_row() {
    let mut j = Interval::new("LEFT", "");
    j.left("o1", 1, 1000);
    j.left("o2", 2, 5000);
    assert_eq!(j.state.watermark(), None, "the right side has no row yet");
    assert_eq!(j.state.buffered(), 2);
    j.state.set_idle(Side::Right, 0);
    j.state.advance(&mut j.out, &mut j.released);
    assert_eq!(j.state.watermark(), Some(5000));
    assert_eq!(j.take_out(), vec![("o1", Some(1), None)]);
    assert_eq!(j.take_released(), vec!["o1"]);
    // The right side's next row wakes it: it holds the watermark back again.
    j.right("s2", 2, 5500);
    assert_eq!(j.take_out(), vec![("s2", Some(2), Some(2))]);
    assert_eq!(j.state.watermark(), Some(5000));
    j.left("o3", 3, 9000);
    assert_eq!(j.state.watermark(), Some(5500), "min(9000, 5500)");
    assert!(j.take_out().is_empty());
}

#[test]
fn every_active_source_of_a_side_holds_it_back() {
    let mut j = Interval::new("INNER", "");
    j.state.register(Side::Right, 1);
    j.left("o1", 1, 4000);
    let s = j.shipment(9, 3000);
    j.state
        .push_from(Side::Right, 0, s, "s0", &mut j.out)
        .unwrap();
    j.state.advance(&mut j.out, &mut j.released);
    assert_eq!(
        j.state.watermark(),
        None,
        "right source 1 has no record yet"
    );
    let s = j.shipment(9, 2000);
    j.state
        .push_from(Side::Right, 1, s, "s1", &mut j.out)
        .unwrap();
    j.state.advance(&mut j.out, &mut j.released);
    assert_eq!(j.state.watermark(), Some(2000), "the smallest source mark");
    j.state.set_idle(Side::Right, 1);
    j.state.advance(&mut j.out, &mut j.released);
    assert_eq!(j.state.watermark(), Some(3000));
    assert_eq!(j.take_released(), vec!["s1"]);
    j.state.forget(Side::Right, 0);
    j.state.forget(Side::Right, 1);
    j.state.advance(&mut j.out, &mut j.released);
    assert_eq!(
        j.state.watermark(),
        Some(4000),
        "no right source: the left side alone"
    );
}

#[test]
fn null_keys_are_emitted_at_once_by_their_outer_side_and_never_stored() {
    let mut j = Interval::new("FULL", "");
    let o = j.order(None, 1000);
    assert_eq!(
        j.state.push(Side::Left, o, "o0", &mut j.out).unwrap(),
        Pushed::NullKey
    );
    assert_eq!(j.take_out(), vec![("o0", None, None)]);
    assert_eq!(j.state.buffered(), 0);
    assert_eq!(j.state.state_bytes(), 0);

    let mut inner = Interval::new("INNER", "");
    let o = inner.order(None, 1000);
    assert_eq!(
        inner
            .state
            .push(Side::Left, o, "o0", &mut inner.out)
            .unwrap(),
        Pushed::NullKey
    );
    assert!(inner.take_out().is_empty());
}

#[test]
fn the_state_limit_rejects_rows_without_joining_them_and_eviction_makes_room() {
    let mut p = planned(
        "SELECT o.id, s.oid FROM orders o LEFT JOIN shipments s \
         ON o.id = s.oid AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '1' SECOND",
    );
    let mut probe = Interval::of(p.clone());
    let one_left = buffered_bytes(&probe.order(Some(1), 1000), big(1));
    let one_right = buffered_bytes(&probe.shipment(1, 1000), big(1));
    assert_eq!(probe.left("o1", 1, 1000), Pushed::Stored);
    assert_eq!(probe.state.state_bytes(), one_left);

    // Room for exactly two buffered rows.
    p.join.as_mut().unwrap().settings.state_max_bytes = Some((one_left + one_right) as u64);
    let mut j = Interval::of(p);
    assert_eq!(j.left("o1", 1, 1000), Pushed::Stored);
    assert_eq!(j.right("s2", 2, 1500), Pushed::Stored);
    assert_eq!(j.state.watermark(), Some(1000));
    assert_eq!(j.state.state_bytes(), one_left + one_right);
    // o2 would match s2 and s1 would match o1: rejected rows are not joined.
    assert_eq!(j.left("o2", 2, 1200), Pushed::StateFull);
    assert_eq!(j.right("s1", 1, 1600), Pushed::StateFull);
    assert!(j.take_out().is_empty());
    assert_eq!(j.state.buffered(), 2);
    assert_eq!(j.state.state_bytes(), one_left + one_right);
    assert_eq!(
        j.state.watermark(),
        Some(1000),
        "a rejected row does not move it"
    );

    // Evicting makes room again (LEFT: o1 comes out unmatched).
    j.state.close_all(&mut j.out, &mut j.released);
    assert_eq!(j.take_out(), vec![("o1", Some(1), None)]);
    assert_eq!(j.take_released(), vec!["o1", "s2"]);
    assert_eq!(j.state.state_bytes(), 0);
    assert_eq!(j.left("o7", 7, 3000), Pushed::Stored);
    assert_eq!(j.right("s7", 7, 3100), Pushed::Stored);
    assert_eq!(j.take_out(), vec![("s7", Some(7), Some(7))]);
}

#[test]
fn a_residual_decides_what_matches() {
    let p = planned(
        "SELECT o.id, s.oid FROM orders o LEFT JOIN shipments s \
         ON o.id = s.oid AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '1' SECOND AND s.tag = 'ok'",
    );
    let mut j = Interval::of(p);
    let right = j.plan.join.as_ref().unwrap().right_input.clone();
    j.left("o1", 1, 1000);
    let bad = row(
        &right,
        &[
            ("oid", big(1)),
            ("ts", big(1500)),
            ("tag", Value::string("no")),
        ],
    );
    j.state.push(Side::Right, bad, "s1", &mut j.out).unwrap();
    let null_tag = row(&right, &[("oid", big(1)), ("ts", big(1600))]);
    j.state
        .push(Side::Right, null_tag, "s2", &mut j.out)
        .unwrap();
    assert!(j.take_out().is_empty(), "FALSE and NULL do not match");
    let ok = row(
        &right,
        &[
            ("oid", big(1)),
            ("ts", big(1700)),
            ("tag", Value::string("ok")),
        ],
    );
    j.state.push(Side::Right, ok, "s3", &mut j.out).unwrap();
    assert_eq!(j.take_out(), vec![("s3", Some(1), Some(1))]);
    j.state.close_all(&mut j.out, &mut j.released);
    assert!(j.take_out().is_empty(), "o1 matched s3");
}

// ---------------------------------------------------------------------------------------------
// The table of a stream-table join.

struct Table {
    plan: QueryPlan,
    table: TableJoin,
}

impl Table {
    fn new(limit: Option<u64>) -> Table {
        let mut plan =
            planned("SELECT o.id, c.name FROM orders o LEFT JOIN customers c ON o.id = c.cid");
        let join = plan.join.as_mut().unwrap();
        join.settings.state_max_bytes = limit;
        let table = TableJoin::new(join, plan.input.len());
        Table { plan, table }
    }

    fn customer(&self, cid: i64, name: &str) -> Row {
        let right = &self.plan.join.as_ref().unwrap().right_input;
        row(right, &[("cid", big(cid)), ("name", Value::string(name))])
    }

    fn deleted(&self, cid: i64) -> Row {
        let right = &self.plan.join.as_ref().unwrap().right_input;
        row(
            right,
            &[("cid", big(cid)), ("__deleted", Value::Boolean(true))],
        )
    }

    /// The bytes the table holds for this row.
    fn bytes(row: &[Value], cid: i64) -> usize {
        row_bytes(row) + crate::exec::aggregate::value_bytes(&big(cid))
    }

    /// The name an order for `cid` sees (NULL when it does not match).
    fn name_for(&self, cid: i64) -> Value {
        let o = row(&self.plan.input, &[("id", big(cid))]);
        let mut out = Vec::new();
        let matched = self.table.probe(&o, &mut out).unwrap();
        let rows = selected(&self.plan, &out);
        assert_eq!(rows.len(), 1, "a LEFT join emits one row per order");
        assert_eq!(matched, !rows[0][1].is_null());
        rows[0][1].clone()
    }
}

#[test]
fn a_tombstone_deletes_the_row_its_record_key_carried() {
    let mut t = Table::new(None);
    let a = t.customer(1, "ann");
    let a_bytes = Table::bytes(&a, 1);
    assert_eq!(
        t.table.apply_keyed(Some(b"k1"), a).unwrap(),
        TableChange::Inserted
    );
    let b = t.customer(2, "bob");
    let b_bytes = Table::bytes(&b, 2);
    assert_eq!(
        t.table.apply_keyed(Some(b"k2"), b).unwrap(),
        TableChange::Inserted
    );
    assert_eq!(t.table.state_bytes(), a_bytes + b_bytes);
    assert_eq!(t.name_for(1), Value::string("ann"));

    assert_eq!(t.table.delete_record_key(b"k1"), TableChange::Deleted);
    assert_eq!(t.name_for(1), Value::Null);
    assert_eq!(t.name_for(2), Value::string("bob"));
    assert_eq!(t.table.len(), 1);
    assert_eq!(t.table.state_bytes(), b_bytes);
    // A tombstone of an unknown (or already deleted) record key changes nothing.
    assert_eq!(t.table.delete_record_key(b"k1"), TableChange::Deleted);
    assert_eq!(t.table.delete_record_key(b"nope"), TableChange::Deleted);
    assert_eq!(t.table.len(), 1);
    assert_eq!(t.table.delete_record_key(b"k2"), TableChange::Deleted);
    assert!(t.table.is_empty());
    assert_eq!(t.table.state_bytes(), 0);
}

#[test]
fn a_record_key_that_moves_to_another_join_key_supersedes_its_old_row() {
    let mut t = Table::new(None);
    let a = t.customer(1, "ann");
    t.table.apply_keyed(Some(b"k1"), a).unwrap();
    let moved = t.customer(2, "ann moved");
    let moved_bytes = Table::bytes(&moved, 2);
    assert_eq!(
        t.table.apply_keyed(Some(b"k1"), moved).unwrap(),
        TableChange::Inserted
    );
    assert_eq!(t.table.len(), 1);
    assert_eq!(t.name_for(1), Value::Null);
    assert_eq!(t.name_for(2), Value::string("ann moved"));
    assert_eq!(t.table.state_bytes(), moved_bytes);
    // The same record key and join key again: an update.
    let again = t.customer(2, "ann again");
    let again_bytes = Table::bytes(&again, 2);
    assert_eq!(
        t.table.apply_keyed(Some(b"k1"), again).unwrap(),
        TableChange::Updated
    );
    assert_eq!(t.table.state_bytes(), again_bytes);
    // The tombstone deletes the row under its latest join key.
    t.table.delete_record_key(b"k1");
    assert!(t.table.is_empty());
    assert_eq!(t.table.state_bytes(), 0);
    assert_eq!(t.name_for(2), Value::Null);
}

#[test]
fn a_deleted_row_deletes_its_join_key_whatever_record_key_it_has() {
    let mut t = Table::new(None);
    let a = t.customer(1, "ann");
    t.table.apply_keyed(Some(b"k1"), a).unwrap();
    let b = t.customer(2, "bob");
    t.table.apply(b).unwrap();
    let del = t.deleted(1);
    assert_eq!(
        t.table.apply_keyed(Some(b"k1"), del).unwrap(),
        TableChange::Deleted
    );
    let del = t.deleted(2);
    assert_eq!(t.table.apply(del).unwrap(), TableChange::Deleted);
    assert!(t.table.is_empty());
    assert_eq!(t.table.state_bytes(), 0);
    // A later tombstone of k1 finds nothing to delete; a new row of key 1 is stored.
    t.table.delete_record_key(b"k1");
    let c = t.customer(1, "cy");
    assert_eq!(t.table.apply(c).unwrap(), TableChange::Inserted);
    assert_eq!(t.name_for(1), Value::string("cy"));
}

#[test]
fn the_table_state_limit_rejects_new_keys_and_applies_updates() {
    let probe = Table::new(None);
    let one = Table::bytes(&probe.customer(1, "ann"), 1);
    let mut t = Table::new(Some(one as u64));
    let a = t.customer(1, "ann");
    assert_eq!(t.table.apply(a).unwrap(), TableChange::Inserted);
    let b = t.customer(2, "bob");
    assert_eq!(t.table.apply(b).unwrap(), TableChange::StateFull);
    assert_eq!(t.name_for(2), Value::Null);
    assert_eq!(t.table.state_bytes(), one);
    // An update of a stored key is applied even past the limit.
    let longer = t.customer(1, "ann with a much longer name");
    let longer_bytes = Table::bytes(&longer, 1);
    assert_eq!(t.table.apply(longer).unwrap(), TableChange::Updated);
    assert_eq!(t.name_for(1), Value::string("ann with a much longer name"));
    assert_eq!(t.table.state_bytes(), longer_bytes);
    assert!(longer_bytes > one);
    let b = t.customer(2, "bob");
    assert_eq!(
        t.table.apply_keyed(Some(b"k2"), b).unwrap(),
        TableChange::StateFull
    );
    // Deleting makes room again.
    let del = t.deleted(1);
    t.table.apply(del).unwrap();
    assert_eq!(t.table.state_bytes(), 0);
    t.table.delete_record_key(b"k2");
    let c = t.customer(3, "cy");
    assert_eq!(t.table.apply(c).unwrap(), TableChange::Inserted);
    assert_eq!(t.name_for(3), Value::string("cy"));
    assert_eq!(t.table.len(), 1);
}

#[test]
fn a_null_table_key_is_not_stored() {
    let mut t = Table::new(None);
    let right = t.plan.join.as_ref().unwrap().right_input.clone();
    let r = row(&right, &[("name", Value::string("nobody"))]);
    assert_eq!(t.table.apply(r).unwrap(), TableChange::NullKey);
    assert!(t.table.is_empty());
    assert_eq!(t.table.state_bytes(), 0);
}
