//! Join throughput on one core, through the real planner, in memory (no Kafka, no files).
//!
//! **Stream-table join** (`table/<rows>`):
//!
//! ```sql
//! SELECT b.auction, b.price, p.name, p.city FROM bids b JOIN persons p ON b.bidder = p.id
//! ```
//!
//! A [`TableJoin`] is loaded (before the timing) with 1,000 or 1,000,000 persons (`id` 0 to
//! rows - 1, BIGINT; `name` and `city` short strings; `email`, `state`, `date_time`). Each
//! iteration probes 262,144 Nexmark bids (already decoded rows, in the plan's input layout)
//! whose `bidder` is drawn uniformly at random (fixed seed) from the table's ids, so every bid
//! matches: [`TableJoin::probe`] builds the combined row, and the plan's [`Pipeline`] (filter +
//! projection) projects it into one reused output row, as `ferris query` does before encoding.
//!
//! **Interval join** (`interval/persons_auctions`), the shape of Nexmark q8 (new persons and
//! the auctions they open soon after):
//!
//! ```sql
//! SELECT p.id, p.name, a.id AS auction, a.reserve FROM persons p JOIN auctions a
//!   ON p.id = a.seller AND a.ts BETWEEN p.ts AND p.ts + INTERVAL '10' SECOND
//! ```
//!
//! Both inputs are generated in event-time order: 10 events per millisecond of event time
//! (10,000 events/s), one person to three auctions (Nexmark's proportions), so 2,500 persons
//! and 7,500 auctions per second of event time. An auction's seller is drawn uniformly from the
//! persons of the last 20 s of event time, so about half the auctions find their seller within
//! the interval. The events are pushed in time order (the left input first on a tie), and
//! [`IntervalJoin::advance`] runs after every push, as `ferris query` does; matches go through
//! the plan's [`Pipeline`]. One iteration pushes 1,048,576 events into a fresh join (the first
//! 10 s of event time, 100,000 events, fill the state) and closes it at the end.
//!
//! Criterion reports records (probed bids; pushed events) per second; the bench is
//! single-threaded. Before the timed runs it prints allocations per record, the table's
//! `state_bytes()` per row, and for the interval join a run of 4,000,000 events with its
//! records/s and the state (`state_bytes()`, `buffered()`) sampled every 100,000 events after
//! the first 10 s of event time (the steady state: the state holds the persons of the last
//! 10 s; an auction leaves it as soon as the watermark passes its time).
//!
//! `cargo bench -p ferris-benches --bench join`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use ferris_benches::{BID_FIELDS, Rng, bid_rows};
use ferris_engine::exec::Pipeline;
use ferris_engine::exec::join::{IntervalJoin, Pushed, Side, TableChange, TableJoin};
use ferris_engine::sql::join::JoinPlan;
use ferris_engine::sql::parse_statements;
use ferris_engine::sql::planner::{Catalog, InputField, QueryPlan, StreamColumns, plan};
use ferris_engine::value::{Decimal, Row, Value};
use ferris_tools::trades::START_MS;

const TABLE_SQL: &str =
    "SELECT b.auction, b.price, p.name, p.city FROM bids b JOIN persons p ON b.bidder = p.id";
const INTERVAL_SQL: &str = "SELECT p.id, p.name, a.id AS auction, a.reserve FROM persons p JOIN auctions a \
     ON p.id = a.seller AND a.ts BETWEEN p.ts AND p.ts + INTERVAL '10' SECOND";

/// Bids probed per iteration of the stream-table join.
const PROBES: usize = 1 << 18;
/// Table sizes.
const TABLE_ROWS: [u64; 2] = [1_000, 1_000_000];
/// Events pushed per iteration of the interval join.
const INTERVAL_EVENTS: usize = 1 << 20;
/// Events in the steady-state run of the interval join.
const STEADY_EVENTS: usize = 4_000_000;
/// Events per millisecond of event time (10,000 events/s).
const EVENTS_PER_MS: usize = 10;
/// The join's interval.
const INTERVAL_MS: i64 = 10_000;
/// An auction's seller is one of the persons of this much event time before it.
const SELLER_WINDOW_MS: i64 = 20_000;

const PERSON_FIELDS: [&str; 6] = ["id", "name", "email", "city", "state", "date_time"];
const AUCTION_FIELDS: [&str; 6] = ["id", "seller", "category", "reserve", "expires", "ts"];
const CITIES: [&str; 10] = [
    "Phoenix", "Portland", "Seattle", "Boise", "Kent", "Bend", "Redmond", "Tacoma", "Yakima",
    "Olympia",
];
const STATES: [&str; 6] = ["AZ", "OR", "WA", "ID", "CA", "NV"];

/// `bids`, `persons` (the table of the stream-table join, the left input of the interval
/// join; its event time is `ts`) and `auctions`.
struct Nexmark;

impl Catalog for Nexmark {
    fn stream_columns(&self, name: &str) -> Option<StreamColumns> {
        let cols: Vec<String> = match name.to_ascii_lowercase().as_str() {
            "bids" => BID_FIELDS.map(String::from).to_vec(),
            "persons" => PERSON_FIELDS
                .iter()
                .chain(&["ts"])
                .map(|s| s.to_string())
                .collect(),
            "auctions" => AUCTION_FIELDS.map(String::from).to_vec(),
            _ => return None,
        };
        Some(StreamColumns::Known(cols))
    }

    fn stream_names(&self) -> Vec<String> {
        vec!["bids".into(), "persons".into(), "auctions".into()]
    }
}

/// Counts allocations, so each workload's allocations per record are printed before it is timed.
#[global_allocator]
static ALLOCATOR: ferris_tools::alloc::Counting = ferris_tools::alloc::Counting;

fn query_plan(sql: &str) -> (QueryPlan, JoinPlan) {
    let stmts = parse_statements(sql).expect("the bench query parses");
    let plan = plan(&stmts[0], &Nexmark).expect("the bench query plans");
    let join = plan.join.clone().expect("a join");
    (plan, join)
}

/// A row in `layout` (the planner's slots, ordered by first use) from named values.
fn layout_row(layout: &[InputField], mut value: impl FnMut(&str) -> Value) -> Row {
    layout.iter().map(|f| value(f.name.as_str())).collect()
}

/// Person `id` as the named column.
fn person_value(id: u64, ts: i64, column: &str) -> Value {
    match column {
        "id" => Value::BigInt(id as i64),
        "name" => Value::string(&format!("Person {id}")),
        "email" => Value::string(&format!("p{id}@nexmark.com")),
        "city" => Value::string(CITIES[(id % 10) as usize]),
        "state" => Value::string(STATES[(id % 6) as usize]),
        "date_time" => Value::Timestamp(ts),
        "ts" => Value::BigInt(ts),
        other => panic!("unexpected person column {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Stream-table join

/// `rows` persons in the table's layout.
fn load_table(join: &JoinPlan, left_len: usize, rows: u64) -> TableJoin {
    let mut table = TableJoin::new(join, left_len);
    for id in 0..rows {
        let row = layout_row(&join.right_input, |c| person_value(id, START_MS as i64, c));
        assert_eq!(table.apply(row).expect("apply"), TableChange::Inserted);
    }
    table
}

/// [`PROBES`] bids in the plan's input layout, bidders uniform over `0..table_rows`.
fn probe_rows(plan: &QueryPlan, table_rows: u64) -> Vec<Row> {
    let mut rng = Rng(42);
    bid_rows(PROBES)
        .into_iter()
        .map(|bid| {
            let bidder = rng.below(table_rows) as i64;
            layout_row(&plan.input, |c| {
                if c == "bidder" {
                    return Value::BigInt(bidder);
                }
                let i = BID_FIELDS
                    .iter()
                    .position(|f| *f == c)
                    .unwrap_or_else(|| panic!("unexpected bid column {c}"));
                bid[i].clone()
            })
        })
        .collect()
}

/// Probes every bid and runs each combined row through the pipeline; returns the rows out.
fn run_probes(
    table: &TableJoin,
    pipeline: &Pipeline,
    bids: &[Row],
    joined: &mut Vec<Row>,
    out: &mut Row,
) -> usize {
    let mut emitted = 0;
    for bid in bids {
        table.probe(bid, joined).expect("probe");
        for row in joined.drain(..) {
            if pipeline.process_row_into(&row, out).expect("pipeline") {
                emitted += 1;
                black_box(&*out);
            }
        }
    }
    emitted
}

fn table_join(c: &mut Criterion) {
    let (plan, join) = query_plan(TABLE_SQL);
    let pipeline = Pipeline::new(&plan);
    let mut g = c.benchmark_group("join");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(PROBES as u64));
    for rows in TABLE_ROWS {
        let start = Instant::now();
        let table = load_table(&join, plan.input.len(), rows);
        let load = start.elapsed();
        eprintln!(
            "join/table/{rows}: state_bytes {} / {} rows = {:.1} bytes per row (loaded in \
             {load:.2?})",
            table.state_bytes(),
            table.len(),
            table.state_bytes() as f64 / table.len() as f64
        );
        let bids = probe_rows(&plan, rows);
        let mut joined = Vec::with_capacity(1);
        let mut out = Row::new();
        let mut expected = 0;
        let (allocs, bytes) = ferris_tools::alloc::per_item(bids.len(), || {
            expected = run_probes(&table, &pipeline, &bids, &mut joined, &mut out)
        });
        assert_eq!(expected, PROBES, "every bid matches");
        eprintln!("join/table/{rows}: {allocs:.2} allocations ({bytes:.0} bytes) per record");
        g.bench_function(BenchmarkId::new("table", rows), |b| {
            b.iter(|| {
                assert_eq!(
                    run_probes(&table, &pipeline, black_box(&bids), &mut joined, &mut out),
                    expected
                )
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// Interval join

/// `n` events in event-time order: a person, then three auctions, repeated, [`EVENTS_PER_MS`]
/// per millisecond.
fn interval_events(plan: &QueryPlan, join: &JoinPlan, n: usize) -> Vec<(Side, Row)> {
    let mut rng = Rng(8);
    let persons_per_ms = EVENTS_PER_MS as f64 / 4.0;
    let seller_window = (SELLER_WINDOW_MS as f64 * persons_per_ms) as u64;
    let mut persons = 0u64;
    let mut auctions = 0u64;
    (0..n)
        .map(|i| {
            let ts = START_MS as i64 + (i / EVENTS_PER_MS) as i64;
            if i % 4 == 0 {
                let id = persons;
                persons += 1;
                (
                    Side::Left,
                    layout_row(&plan.input, |c| person_value(id, ts, c)),
                )
            } else {
                let id = auctions;
                auctions += 1;
                // One of the persons of the last SELLER_WINDOW_MS (fewer at the start).
                let seller = persons - 1 - rng.below(persons.min(seller_window));
                let row = layout_row(&join.right_input, |c| match c {
                    "id" => Value::BigInt(id as i64),
                    "seller" => Value::BigInt(seller as i64),
                    "category" => Value::BigInt(10 + rng.below(5) as i64),
                    "reserve" => Value::Decimal(
                        Decimal::new(i128::from(100 + rng.below(100_000)), 2).expect("reserve"),
                    ),
                    "expires" => Value::Timestamp(ts + 3_600_000),
                    "ts" => Value::BigInt(ts),
                    other => panic!("unexpected auction column {other}"),
                });
                (Side::Right, row)
            }
        })
        .collect()
}

/// What one run of the interval join saw.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct IntervalOutcome {
    emitted: usize,
    stored: usize,
}

/// Pushes every event (in order), advancing the watermark after each as `ferris query` does,
/// runs the matches through the pipeline, and closes the join at the end. `sample` sees the
/// join after every event.
fn run_interval(
    join: &JoinPlan,
    left_len: usize,
    pipeline: &Pipeline,
    events: Vec<(Side, Row)>,
    mut sample: impl FnMut(usize, &IntervalJoin<u64>),
) -> IntervalOutcome {
    let mut state: IntervalJoin<u64> = IntervalJoin::new(join, left_len).expect("interval join");
    state.register(Side::Left, 0);
    state.register(Side::Right, 0);
    let mut emitted = Vec::new();
    let mut released = Vec::new();
    let mut out = Row::new();
    let mut outcome = IntervalOutcome::default();
    let mut drain = |emitted: &mut Vec<(u64, Row)>, outcome: &mut IntervalOutcome| {
        for (_, row) in emitted.drain(..) {
            if pipeline.process_row_into(&row, &mut out).expect("pipeline") {
                outcome.emitted += 1;
                black_box(&out);
            }
        }
    };
    for (i, (side, row)) in events.into_iter().enumerate() {
        match state.push(side, row, i as u64, &mut emitted).expect("push") {
            Pushed::Stored => outcome.stored += 1,
            other => panic!("event {i}: {other:?}"),
        }
        state.advance(&mut emitted, &mut released);
        released.clear();
        drain(&mut emitted, &mut outcome);
        sample(i, &state);
    }
    state.close_all(&mut emitted, &mut released);
    drain(&mut emitted, &mut outcome);
    outcome
}

/// Runs [`STEADY_EVENTS`] events once and prints records/s and the state once it is steady.
fn interval_steady_state(join: &JoinPlan, left_len: usize, pipeline: &Pipeline, plan: &QueryPlan) {
    let events = interval_events(plan, join, STEADY_EVENTS);
    let fill = INTERVAL_MS as usize * EVENTS_PER_MS;
    let mut bytes = Vec::new();
    let mut rows = Vec::new();
    let start = Instant::now();
    let outcome = run_interval(join, left_len, pipeline, events, |i, s| {
        if i >= fill && (i + 1).is_multiple_of(100_000) {
            bytes.push(s.state_bytes());
            rows.push(s.buffered());
        }
    });
    let took = start.elapsed();
    let stat = |v: &[usize]| {
        let min = v.iter().min().copied().unwrap_or(0);
        let max = v.iter().max().copied().unwrap_or(0);
        let mean = v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
        (min, mean, max)
    };
    let (bmin, bmean, bmax) = stat(&bytes);
    let (rmin, rmean, rmax) = stat(&rows);
    eprintln!(
        "join/interval/steady: {STEADY_EVENTS} events ({} ms of event time at {} events/s, \
         interval {INTERVAL_MS} ms) in {took:.2?} = {:.0} records/s; {} joined rows out; \
         state after the first {fill} events, {} samples: state_bytes min {bmin} / mean {bmean:.0} \
         / max {bmax}, buffered rows min {rmin} / mean {rmean:.0} / max {rmax} ({:.1} bytes per \
         buffered row)",
        STEADY_EVENTS / EVENTS_PER_MS,
        EVENTS_PER_MS * 1000,
        STEADY_EVENTS as f64 / took.as_secs_f64(),
        outcome.emitted,
        bytes.len(),
        bmean / rmean,
    );
}

fn interval_join(c: &mut Criterion) {
    let (plan, join) = query_plan(INTERVAL_SQL);
    let pipeline = Pipeline::new(&plan);
    let left_len = plan.input.len();
    // A test run (`cargo test --benches`) skips the long steady-state run.
    if std::env::args().any(|a| a == "--bench") {
        interval_steady_state(&join, left_len, &pipeline, &plan);
    }
    let events = interval_events(&plan, &join, INTERVAL_EVENTS);
    let mut expected = IntervalOutcome::default();
    let copy = events.clone();
    let (allocs, bytes) = ferris_tools::alloc::per_item(events.len(), || {
        expected = run_interval(&join, left_len, &pipeline, copy, |_, _| {})
    });
    eprintln!(
        "join/interval/persons_auctions: {} events, {} joined rows out; {allocs:.2} allocations \
         ({bytes:.0} bytes) per record",
        events.len(),
        expected.emitted
    );
    let mut g = c.benchmark_group("join");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Elements(INTERVAL_EVENTS as u64));
    g.bench_function(BenchmarkId::new("interval", "persons_auctions"), |b| {
        // The rows are owned by the join once pushed: each iteration gets a fresh copy of the
        // decoded input, made outside the timing.
        b.iter_batched(
            || events.clone(),
            |events| {
                assert_eq!(
                    run_interval(&join, left_len, &pipeline, events, |_, _| {}),
                    expected
                )
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, table_join, interval_join);
criterion_main!(benches);
