//! Tests of the [`Aggregator`] over hand-built plans.
//!
//! The input row is `[symbol, amount, ts]`; the plan groups by `symbol` and computes
//! `COUNT(*)` and `SUM(amount)`; the projection is the whole group row, so a result reads
//! `symbol,count,sum[,window_start,window_end]`.

use super::*;
use crate::exec::pool::PoolStats;
use crate::sql::aggregate::{AggFunc, AggregateCall, AggregatePlan, StateSettings};
use crate::sql::expr::BinaryOp;
use crate::sql::planner::OutputColumn;

const SYMBOL: usize = 0;
const AMOUNT: usize = 1;
const TS: usize = 2;

fn calls() -> Vec<AggregateCall> {
    vec![
        AggregateCall {
            func: AggFunc::CountStar,
            arg: None,
            distinct: false,
        },
        AggregateCall {
            func: AggFunc::Sum,
            arg: Some(Expr::Column(AMOUNT)),
            distinct: false,
        },
    ]
}

fn plan_with(window: Option<WindowKind>, emit: EmitMode, settings: StateSettings) -> QueryPlan {
    let aggregate = AggregatePlan {
        keys: vec![Expr::Column(SYMBOL)],
        calls: calls(),
        window,
        event_time: window.map(|_| Expr::Column(TS)),
        having: None,
        emit,
        settings,
    };
    let projection = (0..aggregate.group_row_len())
        .map(|i| OutputColumn {
            name: format!("c{i}"),
            expr: Expr::Column(i),
        })
        .collect();
    QueryPlan {
        create: None,
        source: "trades".into(),
        input: vec![],
        filter: None,
        projection,
        aggregate: Some(aggregate),
        join: None,
        window: None,
        emit: Some(emit),
        properties: vec![],
    }
}

fn plan(window: Option<WindowKind>, emit: EmitMode) -> QueryPlan {
    plan_with(window, emit, StateSettings::default())
}

fn agg(window: Option<WindowKind>, emit: EmitMode) -> Aggregator {
    Aggregator::new(&plan(window, emit)).unwrap()
}

const TUMBLE10: Option<WindowKind> = Some(WindowKind::Tumbling { size_ms: 10 });
const SESSION10: Option<WindowKind> = Some(WindowKind::Session { gap_ms: 10 });

fn row(symbol: &str, amount: i64, ts: i64) -> Vec<Value> {
    vec![
        Value::string(symbol),
        Value::BigInt(amount),
        Value::BigInt(ts),
    ]
}

fn dec(s: &str) -> Value {
    Value::Decimal(s.parse().unwrap())
}

fn join(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// `key => row` or `key => error ...`.
fn render(out: &[AggregateOutput]) -> Vec<String> {
    out.iter()
        .map(|o| match &o.result {
            Ok(r) => format!("{} => {}", join(&o.key), join(r)),
            Err(e) => format!("{} => error {e}", join(&o.key)),
        })
        .collect()
}

/// Prepares and applies a row at processing time 0; returns what it emitted.
fn push(a: &mut Aggregator, r: Vec<Value>) -> Vec<String> {
    push_at(a, r, 0).1
}

fn push_at(a: &mut Aggregator, r: Vec<Value>, now: i64) -> (Absorbed, Vec<String>) {
    let p = a.prepare(&r).unwrap();
    let mut out = Vec::new();
    let absorbed = a.apply(p, now, &mut out).unwrap();
    (absorbed, render(&out))
}

fn advance(a: &mut Aggregator, wm: i64) -> Vec<String> {
    let mut out = Vec::new();
    a.advance_watermark(wm, &mut out);
    render(&out)
}

fn close(a: &mut Aggregator) -> Vec<String> {
    let mut out = Vec::new();
    a.close_all(&mut out);
    render(&out)
}

fn none() -> Vec<String> {
    Vec::new()
}

#[test]
fn tumbling_emit_final_two_keys_and_the_watermark() {
    let mut a = agg(TUMBLE10, EmitMode::Final);
    assert_eq!(push(&mut a, row("AAPL", 10, 1)), none());
    assert_eq!(push(&mut a, row("MSFT", 5, 2)), none());
    assert_eq!(push(&mut a, row("AAPL", 20, 5)), none());
    assert_eq!(push(&mut a, row("AAPL", 1, 12)), none());
    assert_eq!(a.groups(), 3);
    assert_eq!(advance(&mut a, 9), none());
    assert_eq!(a.watermark(), Some(9));
    assert_eq!(
        advance(&mut a, 10),
        ["AAPL,0 => AAPL,2,30,0,10", "MSFT,0 => MSFT,1,5,0,10"]
    );
    assert_eq!(a.groups(), 1);
    // A lower watermark is ignored.
    assert_eq!(advance(&mut a, 5), none());
    assert_eq!(a.watermark(), Some(10));
    assert_eq!(close(&mut a), ["AAPL,10 => AAPL,1,1,10,20"]);
    assert_eq!(a.groups(), 0);
    assert_eq!(a.min_open_start(), None);
}

#[test]
fn emit_changes_upserts_every_change() {
    let mut a = agg(TUMBLE10, EmitMode::Changes);
    assert_eq!(
        push(&mut a, row("AAPL", 10, 1)),
        ["AAPL,0 => AAPL,1,10,0,10"]
    );
    assert_eq!(push(&mut a, row("MSFT", 7, 3)), ["MSFT,0 => MSFT,1,7,0,10"]);
    assert_eq!(
        push(&mut a, row("AAPL", 5, 9)),
        ["AAPL,0 => AAPL,2,15,0,10"]
    );
    assert_eq!(
        push(&mut a, row("AAPL", 1, 10)),
        ["AAPL,10 => AAPL,1,1,10,20"]
    );
    // Closing a window emits nothing more under EMIT CHANGES, it only drops the state.
    assert_eq!(advance(&mut a, 10), none());
    assert_eq!(a.groups(), 1);
    assert_eq!(close(&mut a), none());
    assert_eq!(a.groups(), 0);
}

#[test]
fn sliding_windows_put_a_record_in_each_of_its_windows() {
    let sliding = Some(WindowKind::Sliding {
        size_ms: 30,
        advance_ms: 10,
    });
    let mut a = agg(sliding, EmitMode::Changes);
    assert_eq!(
        push(&mut a, row("AAPL", 4, 25)),
        [
            "AAPL,0 => AAPL,1,4,0,30",
            "AAPL,10 => AAPL,1,4,10,40",
            "AAPL,20 => AAPL,1,4,20,50",
        ]
    );
    assert_eq!(a.groups(), 3);
    assert_eq!(a.min_open_start(), Some(0));
    // Watermark 30 closes [0, 30); a record at 29 then goes only into its two open windows.
    assert_eq!(advance(&mut a, 30), none());
    let (absorbed, out) = push_at(&mut a, row("AAPL", 1, 29), 0);
    assert_eq!(absorbed, Absorbed::Updated);
    assert_eq!(
        out,
        ["AAPL,10 => AAPL,2,5,10,40", "AAPL,20 => AAPL,2,5,20,50"]
    );
    assert_eq!(a.min_open_start(), Some(10));

    let mut f = agg(sliding, EmitMode::Final);
    push(&mut f, row("AAPL", 4, 25));
    push(&mut f, row("AAPL", 6, 35));
    assert_eq!(
        advance(&mut f, 40),
        ["AAPL,0 => AAPL,1,4,0,30", "AAPL,10 => AAPL,2,10,10,40"]
    );
    assert_eq!(
        close(&mut f),
        ["AAPL,20 => AAPL,2,10,20,50", "AAPL,30 => AAPL,1,6,30,60"]
    );
}

#[test]
fn sessions_merge_when_an_out_of_order_record_bridges_them() {
    let mut a = agg(SESSION10, EmitMode::Final);
    push(&mut a, row("AAPL", 1, 0));
    push(&mut a, row("AAPL", 2, 15));
    push(&mut a, row("MSFT", 100, 5));
    assert_eq!(
        a.groups(),
        3,
        "[0,10) and [15,25) for AAPL, [5,15) for MSFT"
    );
    assert_eq!(a.min_open_start(), Some(0));
    // 7 is within the gap of both AAPL sessions: one session [0, 25).
    push(&mut a, row("AAPL", 4, 7));
    assert_eq!(a.groups(), 2);
    assert_eq!(advance(&mut a, 14), none());
    assert_eq!(
        advance(&mut a, 25),
        ["MSFT,5 => MSFT,1,100,5,15", "AAPL,0 => AAPL,3,7,0,25"]
    );
    assert_eq!(a.groups(), 0);
}

#[test]
fn sessions_extend_and_emit_changes_under_their_start() {
    let mut a = agg(SESSION10, EmitMode::Changes);
    assert_eq!(
        push(&mut a, row("AAPL", 1, 100)),
        ["AAPL,100 => AAPL,1,1,100,110"]
    );
    assert_eq!(
        push(&mut a, row("AAPL", 2, 105)),
        ["AAPL,100 => AAPL,2,3,100,115"]
    );
    // Exactly the gap after the last record: a new session.
    assert_eq!(
        push(&mut a, row("AAPL", 4, 115)),
        ["AAPL,115 => AAPL,1,4,115,125"]
    );
    // Out of order, before the first session: it grows backwards.
    assert_eq!(
        push(&mut a, row("AAPL", 8, 95)),
        ["AAPL,95 => AAPL,3,11,95,115"]
    );
    // Bridges [95, 115) and [115, 125).
    assert_eq!(
        push(&mut a, row("AAPL", 16, 110)),
        ["AAPL,95 => AAPL,5,31,95,125"]
    );
    assert_eq!(a.groups(), 1);
    assert_eq!(a.min_open_start(), Some(95));
    assert_eq!(advance(&mut a, 125), none());
    assert_eq!(a.groups(), 0);
    assert_eq!(a.min_open_start(), None);
}

#[test]
fn allowed_lateness_keeps_a_window_open() {
    let settings = StateSettings {
        allowed_lateness_ms: 5,
        ..StateSettings::default()
    };
    let mut a = Aggregator::new(&plan_with(TUMBLE10, EmitMode::Final, settings)).unwrap();
    push(&mut a, row("AAPL", 1, 1));
    assert_eq!(advance(&mut a, 12), none());
    let (absorbed, _) = push_at(&mut a, row("AAPL", 2, 3), 0);
    assert_eq!(absorbed, Absorbed::Updated);
    assert_eq!(advance(&mut a, 15), ["AAPL,0 => AAPL,2,3,0,10"]);
    let (absorbed, out) = push_at(&mut a, row("AAPL", 4, 4), 0);
    assert_eq!(
        absorbed,
        Absorbed::Late {
            window_end: 10,
            watermark: 15
        }
    );
    assert_eq!(out, none());
    assert_eq!(a.groups(), 0);
}

#[test]
fn a_late_record_is_not_applied() {
    let mut a = agg(TUMBLE10, EmitMode::Changes);
    // Before any watermark nothing is late.
    push(&mut a, row("AAPL", 1, -1_000));
    advance(&mut a, 20);
    let (absorbed, out) = push_at(&mut a, row("AAPL", 1, 9), 0);
    assert_eq!(
        absorbed,
        Absorbed::Late {
            window_end: 10,
            watermark: 20
        }
    );
    assert_eq!(out, none());
    assert_eq!(a.groups(), 0);
    // The window [20, 30) is still open.
    let (absorbed, _) = push_at(&mut a, row("AAPL", 1, 20), 0);
    assert_eq!(absorbed, Absorbed::Updated);

    let mut s = agg(SESSION10, EmitMode::Final);
    push(&mut s, row("AAPL", 1, 0));
    assert_eq!(advance(&mut s, 100), ["AAPL,0 => AAPL,1,1,0,10"]);
    let (absorbed, _) = push_at(&mut s, row("AAPL", 1, 90), 0);
    assert_eq!(
        absorbed,
        Absorbed::Late {
            window_end: 100,
            watermark: 100
        }
    );
    // A session record that would still be open opens a session, behind the watermark or not.
    let (absorbed, _) = push_at(&mut s, row("AAPL", 1, 91), 0);
    assert_eq!(absorbed, Absorbed::Updated);
    // And one that falls in an open session joins it even though t + gap <= watermark.
    let (absorbed, _) = push_at(&mut s, row("AAPL", 1, 85), 0);
    assert_eq!(absorbed, Absorbed::Updated);
    assert_eq!(close(&mut s), ["AAPL,85 => AAPL,2,2,85,101"]);
}

#[test]
fn having_keeps_only_true_groups() {
    let mut p = plan(None, EmitMode::Final);
    // HAVING COUNT(*) > 1 over the group row [symbol, count, sum].
    p.aggregate.as_mut().unwrap().having = Some(Expr::Binary {
        op: BinaryOp::Gt,
        left: Box::new(Expr::Column(1)),
        right: Box::new(Expr::Literal(Value::BigInt(1))),
    });
    let mut a = Aggregator::new(&p).unwrap();
    push(&mut a, row("AAPL", 1, 0));
    push(&mut a, row("MSFT", 1, 0));
    push(&mut a, row("AAPL", 2, 0));
    assert_eq!(close(&mut a), ["AAPL => AAPL,2,3"]);

    // A HAVING that is NULL emits nothing; one that fails is reported.
    let mut p = plan(None, EmitMode::Changes);
    p.aggregate.as_mut().unwrap().having = Some(Expr::Binary {
        op: BinaryOp::Gt,
        left: Box::new(Expr::Column(2)),
        right: Box::new(Expr::Literal(Value::string("x"))),
    });
    let mut a = Aggregator::new(&p).unwrap();
    let out = push(&mut a, row("AAPL", 1, 0));
    assert_eq!(out.len(), 1);
    assert!(out[0].starts_with("AAPL => error"), "{out:?}");
    let mut r = row("MSFT", 0, 0);
    r[AMOUNT] = Value::Null;
    let mut p = plan(None, EmitMode::Changes);
    p.aggregate.as_mut().unwrap().having = Some(Expr::Binary {
        op: BinaryOp::Gt,
        left: Box::new(Expr::Column(2)),
        right: Box::new(Expr::Literal(Value::BigInt(0))),
    });
    let mut a = Aggregator::new(&p).unwrap();
    assert_eq!(
        push(&mut a, r),
        none(),
        "SUM of only NULL is NULL: HAVING NULL"
    );
}

fn big_row(symbol: &str, amount: &str, ts: i64) -> Vec<Value> {
    vec![Value::string(symbol), dec(amount), Value::BigInt(ts)]
}

const NINES: &str = "99999999999999999999999999999999999999";

#[test]
fn an_overflow_leaves_every_group_as_it_was() {
    let mut a = agg(TUMBLE10, EmitMode::Changes);
    push(&mut a, big_row("AAPL", NINES, 1));
    let p = a.prepare(&big_row("AAPL", "1", 2)).unwrap();
    let mut out = Vec::new();
    let err = a.apply(p, 0, &mut out).unwrap_err();
    assert!(matches!(err, EvalError::Overflow(_)), "{err:?}");
    assert!(out.is_empty());
    // The next record sees the group as it was before the failed one.
    assert_eq!(
        push(&mut a, big_row("AAPL", "0", 3)),
        [format!("AAPL,0 => AAPL,2,{NINES},0,10")]
    );

    // Sliding: the record's first window overflows, its second (new) window must not appear.
    let sliding = Some(WindowKind::Sliding {
        size_ms: 20,
        advance_ms: 10,
    });
    let mut a = agg(sliding, EmitMode::Final);
    push(&mut a, big_row("AAPL", NINES, 5));
    assert_eq!(a.groups(), 2, "[-10, 10) and [0, 20)");
    let p = a.prepare(&big_row("AAPL", "1", 15)).unwrap();
    assert!(a.apply(p, 0, &mut Vec::new()).is_err());
    assert_eq!(a.groups(), 2, "[10, 30) was not created");
    assert_eq!(
        close(&mut a),
        [
            format!("AAPL,-10 => AAPL,1,{NINES},-10,10"),
            format!("AAPL,0 => AAPL,1,{NINES},0,20"),
        ]
    );

    // Sessions: a bridging record whose merge overflows changes nothing.
    let mut s = agg(SESSION10, EmitMode::Final);
    push(&mut s, big_row("AAPL", NINES, 0));
    push(&mut s, big_row("AAPL", NINES, 15));
    let p = s.prepare(&big_row("AAPL", "0", 7)).unwrap();
    assert!(s.apply(p, 0, &mut Vec::new()).is_err());
    assert_eq!(s.groups(), 2);
    assert_eq!(
        close(&mut s),
        [
            format!("AAPL,0 => AAPL,1,{NINES},0,10"),
            format!("AAPL,15 => AAPL,1,{NINES},15,25"),
        ]
    );

    // Unwindowed.
    let mut g = agg(None, EmitMode::Final);
    push(&mut g, big_row("AAPL", NINES, 0));
    let p = g.prepare(&big_row("AAPL", NINES, 0)).unwrap();
    assert!(g.apply(p, 0, &mut Vec::new()).is_err());
    assert_eq!(close(&mut g), [format!("AAPL => AAPL,1,{NINES}")]);
}

#[test]
fn unwindowed_group_by_emits_once_at_the_end_and_expires_by_ttl() {
    let settings = StateSettings {
        state_ttl_ms: Some(1_000),
        ..StateSettings::default()
    };
    let mut a = Aggregator::new(&plan_with(None, EmitMode::Final, settings)).unwrap();
    assert_eq!(a.min_open_start(), None);
    assert_eq!(push_at(&mut a, row("AAPL", 1, 0), 0).1, none());
    push_at(&mut a, row("MSFT", 2, 0), 500);
    push_at(&mut a, row("IBM", 3, 0), 600);
    push_at(&mut a, row("AAPL", 4, 0), 900);
    assert_eq!(a.groups(), 3);
    assert_eq!(a.min_open_start(), Some(i64::MIN));
    // Watermarks close nothing without a window.
    assert_eq!(advance(&mut a, i64::MAX), none());
    assert_eq!(a.expire(1_499), 0);
    assert_eq!(a.expire(1_500), 1, "MSFT, untouched since 500");
    assert_eq!(a.groups(), 2);
    // IBM comes back after expiring: a new group, now after AAPL in first-seen order.
    assert_eq!(a.expire(1_600), 1);
    push_at(&mut a, row("IBM", 5, 0), 1_700);
    push_at(&mut a, row("AAPL", 6, 0), 1_700);
    assert_eq!(close(&mut a), ["AAPL => AAPL,3,11", "IBM => IBM,1,5"]);
    assert_eq!(a.groups(), 0);
    assert_eq!(a.min_open_start(), None);

    // Without a TTL nothing expires; EMIT CHANGES emits per update.
    let mut c = agg(None, EmitMode::Changes);
    assert_eq!(push(&mut c, row("AAPL", 1, 0)), ["AAPL => AAPL,1,1"]);
    assert_eq!(push(&mut c, row("AAPL", 2, 0)), ["AAPL => AAPL,2,3"]);
    assert_eq!(c.expire(i64::MAX), 0);
    assert_eq!(close(&mut c), none());
}

#[test]
fn event_times_bigint_timestamp_and_iso_8601() {
    let a = agg(TUMBLE10, EmitMode::Final);
    let at = |ts: Value| {
        let mut r = row("AAPL", 1, 0);
        r[TS] = ts;
        a.prepare(&r).map(|p| p.time)
    };
    assert_eq!(
        at(Value::BigInt(1_700_000_000_123)),
        Ok(Some(1_700_000_000_123))
    );
    assert_eq!(at(Value::Timestamp(-5)), Ok(Some(-5)));
    assert_eq!(
        at(Value::string("2024-01-02T03:04:05.678Z")),
        Ok(Some(1_704_164_645_678))
    );
    assert_eq!(
        at(Value::string("2024-01-02T05:04:05.678+02:00")),
        Ok(Some(1_704_164_645_678))
    );
    assert_eq!(
        at(Value::string("2024-01-02 03:04:05.678")),
        Ok(Some(1_704_164_645_678))
    );
    assert_eq!(
        at(Value::string("2024-01-02 03:04:05")),
        Ok(Some(1_704_164_645_000))
    );
    assert_eq!(at(Value::string("1969-12-31 23:59:59.999")), Ok(Some(-1)));
    for bad in [
        Value::Null,
        Value::Double(1.5),
        Value::string("yesterday"),
        Value::Boolean(true),
    ] {
        let e = at(bad.clone()).unwrap_err();
        assert!(e.to_string().contains("event time"), "{bad:?}: {e}");
    }
    // Without a window there is no event time at all.
    let g = agg(None, EmitMode::Final);
    let p = g
        .prepare(&[Value::string("AAPL"), Value::BigInt(1), Value::Null])
        .unwrap();
    assert_eq!(
        p,
        Prepared {
            key: vec![Value::string("AAPL")],
            time: None,
            args: vec![Value::Null, Value::BigInt(1)],
        }
    );
    assert_eq!(
        Aggregator::route(&p),
        key::route_hash(&[Value::string("AAPL")])
    );
}

#[test]
fn min_open_start_follows_the_open_windows() {
    let mut a = agg(TUMBLE10, EmitMode::Changes);
    assert_eq!(a.min_open_start(), None);
    push(&mut a, row("AAPL", 1, 15));
    assert_eq!(a.min_open_start(), Some(10));
    push(&mut a, row("MSFT", 1, 3));
    assert_eq!(a.min_open_start(), Some(0));
    advance(&mut a, 10);
    assert_eq!(a.min_open_start(), Some(10));
    advance(&mut a, 20);
    assert_eq!(a.min_open_start(), None);
}

#[test]
fn negative_event_times() {
    let mut a = agg(TUMBLE10, EmitMode::Final);
    push(&mut a, row("AAPL", 1, -1));
    push(&mut a, row("AAPL", 2, -10));
    push(&mut a, row("AAPL", 4, -11));
    assert_eq!(a.min_open_start(), Some(-20));
    assert_eq!(advance(&mut a, -10), ["AAPL,-20 => AAPL,1,4,-20,-10"]);
    assert_eq!(advance(&mut a, -1), none());
    assert_eq!(advance(&mut a, 0), ["AAPL,-10 => AAPL,2,3,-10,0"]);

    let mut s = agg(SESSION10, EmitMode::Final);
    push(&mut s, row("AAPL", 1, -30));
    push(&mut s, row("AAPL", 1, -25));
    assert_eq!(close(&mut s), ["AAPL,-30 => AAPL,2,2,-30,-15"]);
}

#[test]
fn results_come_in_first_seen_order_within_a_window_and_by_end_across_windows() {
    let mut a = agg(TUMBLE10, EmitMode::Final);
    push(&mut a, row("C", 1, 15));
    push(&mut a, row("C", 1, 5));
    push(&mut a, row("A", 1, 6));
    push(&mut a, row("B", 1, 7));
    push(&mut a, row("A", 1, 8));
    push(&mut a, row("B", 1, 11));
    push(&mut a, row("A", 1, 12));
    assert_eq!(
        advance(&mut a, 100),
        [
            "C,0 => C,1,1,0,10",
            "A,0 => A,2,2,0,10",
            "B,0 => B,1,1,0,10",
            "C,10 => C,1,1,10,20",
            "B,10 => B,1,1,10,20",
            "A,10 => A,1,1,10,20",
        ]
    );
}

#[test]
fn equal_numbers_are_one_group_keyed_as_first_seen() {
    let mut a = agg(None, EmitMode::Final);
    push(&mut a, vec![dec("1.50"), Value::BigInt(1), Value::Null]);
    push(&mut a, vec![dec("1.5"), Value::BigInt(2), Value::Null]);
    push(
        &mut a,
        vec![Value::BigInt(2), Value::BigInt(4), Value::Null],
    );
    push(&mut a, vec![dec("2.0"), Value::BigInt(8), Value::Null]);
    push(&mut a, vec![Value::Null, Value::BigInt(16), Value::Null]);
    push(&mut a, vec![Value::Null, Value::BigInt(32), Value::Null]);
    assert_eq!(
        close(&mut a),
        ["1.50 => 1.50,2,3", "2 => 2,2,12", "NULL => NULL,2,48"]
    );
}

#[test]
fn plans_it_cannot_run_are_refused() {
    let mut p = plan(None, EmitMode::Final);
    p.aggregate = None;
    assert!(matches!(Aggregator::new(&p), Err(FerrisError::Internal(_))));
    let p = plan(Some(WindowKind::Tumbling { size_ms: 0 }), EmitMode::Final);
    assert!(Aggregator::new(&p).is_err());
    let mut p = plan(TUMBLE10, EmitMode::Final);
    p.aggregate.as_mut().unwrap().event_time = None;
    assert!(matches!(Aggregator::new(&p), Err(FerrisError::Internal(_))));
}

#[test]
fn state_bytes_grows_with_groups() {
    let mut a = agg(TUMBLE10, EmitMode::Final);
    let empty = a.state_bytes();
    for i in 0..100 {
        push(&mut a, row(&format!("S{i}"), 1, 1));
    }
    assert!(a.state_bytes() > empty + 100 * 32);
    let mut s = agg(SESSION10, EmitMode::Final);
    let empty = s.state_bytes();
    push(&mut s, row("AAPL", 1, 1));
    assert!(s.state_bytes() > empty);
}

/// Throughput smoke test (run with `--release --ignored --nocapture`): tumbling COUNT/SUM over
/// 10,000 keys.
#[test]
#[ignore]
fn throughput_tumbling_10k_keys() {
    let mut a = agg(
        Some(WindowKind::Tumbling { size_ms: 1_000 }),
        EmitMode::Final,
    );
    let symbols: Vec<Value> = (0..10_000)
        .map(|i| Value::string(&format!("K{i}")))
        .collect();
    let n = 5_000_000i64;
    let rows: Vec<Vec<Value>> = (0..n)
        .map(|i| {
            vec![
                symbols[(i * 7_919 % 10_000) as usize].clone(),
                Value::BigInt(i % 100),
                Value::BigInt(i / 2_000),
            ]
        })
        .collect();
    let start = std::time::Instant::now();
    let prepared: Vec<Prepared> = rows.iter().map(|r| a.prepare(r).unwrap()).collect();
    let secs = start.elapsed().as_secs_f64();
    println!("prepare: {:.2} M records/s", n as f64 / secs / 1e6);
    drop(rows);
    let mut out = Vec::new();
    let start = std::time::Instant::now();
    for (i, p) in prepared.into_iter().enumerate() {
        a.apply(p, 0, &mut out).unwrap();
        if i % 10_000 == 0 {
            a.advance_watermark(i as i64 / 2_000 - 1_000, &mut out);
            out.clear();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "apply: {:.2} M records/s ({} groups open)",
        n as f64 / secs / 1e6,
        a.groups()
    );
}

#[test]
fn pooled_key_and_argument_vectors_are_reused_and_never_carry_old_values() {
    for window in [None, TUMBLE10] {
        let mut a = agg(window, EmitMode::Changes);
        // The first record allocates its key and arguments; its group keeps the key.
        assert_eq!(a.pool_stats(), PoolStats::default());
        push(&mut a, row("AAPL", 10, 1));
        assert_eq!(a.pool_stats().misses, 2);
        assert_eq!(a.pool_stats().held, 1, "the arguments came back");
        // An existing group: both vectors come back, and are taken again by the next record.
        let expected = |key: &str, rest: &str| match window {
            None => format!("{key} => {key},{rest}"),
            Some(_) => format!("{key},0 => {key},{rest},0,10"),
        };
        assert_eq!(push(&mut a, row("AAPL", 5, 2)), [expected("AAPL", "2,15")]);
        let s = a.pool_stats();
        assert_eq!((s.hits, s.misses, s.held), (1, 3, 2));
        // A new key from reused vectors: only its own values.
        assert_eq!(push(&mut a, row("MSFT", 7, 3)), [expected("MSFT", "1,7")]);
        assert_eq!(push(&mut a, row("AAPL", 1, 4)), [expected("AAPL", "3,16")]);
        let s = a.pool_stats();
        // MSFT took two (its group keeps the key), the last AAPL one and one allocated.
        assert_eq!((s.hits, s.misses), (4, 4));

        // Without a pool every record allocates both.
        let mut b = agg(window, EmitMode::Changes);
        b.set_pool_max(0);
        for _ in 0..3 {
            push(&mut b, row("AAPL", 1, 1));
        }
        assert_eq!(
            b.pool_stats(),
            PoolStats {
                hits: 0,
                misses: 6,
                held: 0
            }
        );
    }
}
