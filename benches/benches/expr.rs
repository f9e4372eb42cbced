//! Expression evaluation through the real planner and operators: a batch of 1024 decoded trades
//! (`symbol`, `price` DECIMAL(2), `quantity` BIGINT, `side`, `ts`, `account`, drawn from a fixed
//! seed) goes through the [`Pipeline`] of a planned query.
//!
//! - `filter`: `WHERE price * quantity > 400000 AND side = 'BUY'`, [`Pipeline::keep`] per row
//!   (the predicate alone, nothing is projected).
//! - `projection`: `SELECT symbol, price, quantity, price * quantity AS notional, account` (no
//!   `WHERE`): every row is projected into a new row ([`Pipeline::process_batch`]).
//! - `case`: `SELECT symbol, CASE WHEN price * quantity > 400000 THEN 'large' WHEN
//!   price * quantity > 100000 THEN 'medium' ELSE 'small' END AS bucket`.
//! - `filter_project`: the `ferris query` benchmark's query (docs/benchmarks.md), filter then
//!   projection of the rows that pass (about 7.5% of them).
//!
//! Criterion reports rows per second (one thread). The output batch is reused (cleared) between
//! iterations, so what remains per row is the evaluation and the projected row's allocation.
//!
//! `cargo bench -p ferris-benches --bench expr`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferris_engine::exec::Pipeline;
use ferris_engine::sql::parse_statements;
use ferris_engine::sql::planner::{QueryPlan, plan};
use ferris_engine::value::{Batch, Decimal, Row, Value};
use ferris_tools::trades::{START_MS, SYMBOLS, TradeGenerator, TradesCatalog};

const ROWS: usize = 1024;

const FILTER: &str = "SELECT symbol FROM trades WHERE price * quantity > 400000 AND side = 'BUY'";
const PROJECTION: &str =
    "SELECT symbol, price, quantity, price * quantity AS notional, account FROM trades";
const CASE: &str = "SELECT symbol, CASE WHEN price * quantity > 400000 THEN 'large' \
                    WHEN price * quantity > 100000 THEN 'medium' ELSE 'small' END AS bucket \
                    FROM trades";
const FILTER_PROJECT: &str = "SELECT symbol, price, quantity, price * quantity AS notional, \
                              account FROM trades WHERE price * quantity > 400000";

/// Counts allocations, so each workload's allocations per record are printed before it is timed.
#[global_allocator]
static ALLOCATOR: ferris_tools::alloc::Counting = ferris_tools::alloc::Counting;

fn query_plan(sql: &str) -> QueryPlan {
    let stmts = parse_statements(sql).expect("the bench query parses");
    plan(&stmts[0], &TradesCatalog).expect("the bench query plans")
}

/// `ROWS` trades in the plan's input layout (the planner orders the slots by first use).
fn batch(plan: &QueryPlan) -> Batch {
    let symbols: Vec<Arc<str>> = SYMBOLS.iter().map(|(s, _)| Arc::from(*s)).collect();
    let rows = TradeGenerator::new(42, START_MS)
        .take(ROWS)
        .map(|t| {
            let account = format!("ACC-{:04}", t.account);
            plan.input
                .iter()
                .map(|f| match f.name.as_str() {
                    "symbol" => {
                        let s = SYMBOLS.iter().position(|(name, _)| *name == t.symbol);
                        Value::String(Arc::clone(&symbols[s.expect("a known symbol")]))
                    }
                    "price" => Value::Decimal(
                        Decimal::new(i128::from(t.price_cents), 2).expect("price in cents"),
                    ),
                    "quantity" => Value::BigInt(t.quantity as i64),
                    "side" => Value::String(Arc::from(t.side)),
                    "ts" => Value::BigInt(t.ts as i64),
                    "account" => Value::String(Arc::from(account.as_str())),
                    other => panic!("unexpected input field {other}"),
                })
                .collect::<Row>()
        })
        .collect();
    Batch { rows }
}

fn exprs(c: &mut Criterion) {
    let mut g = c.benchmark_group("expr");
    g.throughput(Throughput::Elements(ROWS as u64));

    let filter_plan = query_plan(FILTER);
    let filter = Pipeline::new(&filter_plan);
    let input = batch(&filter_plan);
    let kept = input
        .rows
        .iter()
        .filter(|r| filter.keep(r).expect("the filter evaluates"))
        .count();
    assert!(
        kept > 0 && kept < ROWS,
        "the filter keeps some rows: {kept}"
    );
    g.bench_function("filter", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for row in &black_box(&input).rows {
                n += usize::from(filter.keep(row).expect("the filter evaluates"));
            }
            assert_eq!(n, kept);
        })
    });

    for (name, sql) in [
        ("projection", PROJECTION),
        ("case", CASE),
        ("filter_project", FILTER_PROJECT),
    ] {
        let p = query_plan(sql);
        let pipeline = Pipeline::new(&p);
        let input = batch(&p);
        let mut out = Batch {
            rows: Vec::with_capacity(ROWS),
        };
        let (allocs, bytes) = ferris_tools::alloc::per_item(ROWS, || {
            pipeline.process_batch(&input, &mut out, |i, e| panic!("row {i}: {e}"));
        });
        eprintln!("expr/{name}: {allocs:.2} allocations ({bytes:.0} bytes) per record");
        let expected = out.rows.len();
        g.bench_function(name, |b| {
            b.iter(|| {
                out.rows.clear();
                pipeline.process_batch(black_box(&input), &mut out, |i, e| panic!("row {i}: {e}"));
                assert_eq!(out.rows.len(), expected);
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
}

criterion_group! {
    name = benches;
    config = config();
    targets = exprs
}
criterion_main!(benches);
