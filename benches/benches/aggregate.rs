//! Stateful SQL throughput on one core: a tumbling one-minute GROUP BY,
//!
//! ```sql
//! SELECT k, SUM(amount), COUNT(*) FROM t GROUP BY k WINDOW TUMBLING(ts, 1m) EMIT FINAL
//! ```
//!
//! over 262,144 in-memory records whose key `k` (a STRING such as `K0004711`) is drawn uniformly
//! at random (fixed seed) from 10, 10,000 or 1,000,000 distinct values. `amount` is a DECIMAL
//! with scale 2 (`0.01` to `999.99`), `ts` starts on a minute boundary and rises by 1 ms per
//! record (so a window holds 60,000 records and the input spans about 4.4 windows). One
//! iteration builds a fresh [`Aggregator`], and for every record runs `prepare` and `apply`;
//! every 1,024 records it advances the watermark to the largest event time seen (as a shard does
//! once per batch), which closes and emits the finished windows, and drops the emitted results.
//! At the end `close_all` emits the last window, so every record's window is emitted within the
//! timing.
//!
//! - `rows/<keys>`: the input is already decoded rows in the plan's input layout.
//! - `json/<keys>`: the input is JSON lines in one buffer
//!   (`{"k":"K0004711","amount":123.45,"ts":1767225600000}`), decoded by the plan's
//!   [`JsonDecoder`] into one reused row before `prepare`: the end-to-end in-memory figure.
//!
//! Criterion reports records per second (one core: the bench is single-threaded).
//!
//! Before the timed runs, the bench prints the state bytes per key ([`Aggregator::state_bytes`]
//! divided by [`Aggregator::groups`]) after loading 10,000 and 1,000,000 distinct keys (one
//! record each) into one open window.
//!
//! `cargo bench -p ferris-benches --bench aggregate`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use ferris_benches::Rng;
use ferris_engine::codec::json::JsonDecoder;
use ferris_engine::exec::aggregate::{AggregateOutput, Aggregator};
use ferris_engine::sql::parse_statements;
use ferris_engine::sql::planner::{Catalog, QueryPlan, StreamColumns, plan};
use ferris_engine::value::{Decimal, Row, Value};

const SQL: &str =
    "SELECT k, SUM(amount), COUNT(*) FROM t GROUP BY k WINDOW TUMBLING(ts, 1m) EMIT FINAL";
/// Records per iteration.
const RECORDS: usize = 1 << 18;
/// Records between watermark advances (the engine's batch size).
const WATERMARK_EVERY: usize = 1024;
/// 2026-01-01T00:00:00Z, a minute boundary.
const T0: i64 = 1_767_225_600_000;
const KEY_COUNTS: [u64; 3] = [10, 10_000, 1_000_000];

/// The one stream, `t(k, amount, ts)`.
struct Stream;

impl Catalog for Stream {
    fn stream_columns(&self, name: &str) -> Option<StreamColumns> {
        name.eq_ignore_ascii_case("t")
            .then(|| StreamColumns::Known(["k", "amount", "ts"].map(String::from).to_vec()))
    }

    fn stream_names(&self) -> Vec<String> {
        vec!["t".into()]
    }
}

/// Counts allocations, so each workload's allocations per record are printed before it is timed.
#[global_allocator]
static ALLOCATOR: ferris_tools::alloc::Counting = ferris_tools::alloc::Counting;

fn query_plan() -> QueryPlan {
    let stmts = parse_statements(SQL).expect("the bench query parses");
    plan(&stmts[0], &Stream).expect("the bench query plans")
}

/// One record's fields: key number, amount in cents, event time.
fn records(keys: u64, n: usize, seed: u64) -> Vec<(u64, i64, i64)> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let key = rng.next_u64() % keys;
            let cents = (rng.next_u64() % 99_999) as i64 + 1;
            (key, cents, T0 + i as i64)
        })
        .collect()
}

fn key_text(key: u64) -> String {
    format!("K{key:07}")
}

/// Rows in the plan's input layout (the planner orders the slots by first use).
fn rows(plan: &QueryPlan, recs: &[(u64, i64, i64)]) -> Vec<Row> {
    recs.iter()
        .map(|&(key, cents, ts)| {
            plan.input
                .iter()
                .map(|f| match f.name.as_str() {
                    "k" => Value::String(Arc::from(key_text(key))),
                    "amount" => Value::Decimal(Decimal::new(i128::from(cents), 2).expect("cents")),
                    "ts" => Value::BigInt(ts),
                    other => panic!("unexpected input field {other}"),
                })
                .collect()
        })
        .collect()
}

/// JSON lines in one buffer, and where each line ends.
fn json_lines(recs: &[(u64, i64, i64)]) -> (Vec<u8>, Vec<usize>) {
    let mut buf = Vec::with_capacity(recs.len() * 56);
    let mut ends = Vec::with_capacity(recs.len());
    for &(key, cents, ts) in recs {
        let line = format!(
            "{{\"k\":\"{}\",\"amount\":{}.{:02},\"ts\":{ts}}}",
            key_text(key),
            cents / 100,
            cents % 100
        );
        buf.extend_from_slice(line.as_bytes());
        ends.push(buf.len());
    }
    (buf, ends)
}

/// The per-record work after decoding: prepare, apply, and every [`WATERMARK_EVERY`] records
/// the watermark (emitted results are dropped there).
struct Run {
    agg: Aggregator,
    out: Vec<AggregateOutput>,
    max_time: i64,
    seen: usize,
    emitted: usize,
}

impl Run {
    fn new(plan: &QueryPlan) -> Run {
        Run {
            agg: Aggregator::new(plan).expect("aggregator"),
            out: Vec::with_capacity(1 << 16),
            max_time: i64::MIN,
            seen: 0,
            emitted: 0,
        }
    }

    fn record(&mut self, row: &[Value], now_ms: i64) {
        let p = self.agg.prepare(row).expect("prepare");
        if let Some(t) = p.time {
            self.max_time = self.max_time.max(t);
        }
        self.agg.apply(p, now_ms, &mut self.out).expect("apply");
        self.seen += 1;
        if self.seen.is_multiple_of(WATERMARK_EVERY) {
            self.agg.advance_watermark(self.max_time, &mut self.out);
            self.drain();
        }
    }

    fn drain(&mut self) {
        self.emitted += self.out.len();
        for o in self.out.drain(..) {
            black_box(o);
        }
    }

    fn finish(mut self) -> usize {
        self.agg.close_all(&mut self.out);
        self.drain();
        self.emitted
    }
}

/// Allocations per record, and the pool's hit rate, with the aggregator's key and argument pool and
/// without it (a pool that keeps nothing).
fn allocations_with_and_without_pool(plan: &QueryPlan, rows: &[Row], keys: u64) {
    for pooled in [true, false] {
        let mut hit_rate = 0.0;
        let (allocs, bytes) = ferris_tools::alloc::per_item(rows.len(), || {
            let mut run = Run::new(plan);
            if !pooled {
                run.agg.set_pool_max(0);
            }
            for row in rows {
                run.record(row, 0);
            }
            hit_rate = run.agg.pool_stats().hit_rate();
            run.finish();
        });
        eprintln!(
            "tumbling_sum_count/rows/{keys}: {allocs:.2} allocations ({bytes:.0} bytes) per record {}",
            if pooled {
                format!(
                    "with the key and argument pool (hit rate {:.1}%)",
                    hit_rate * 100.0
                )
            } else {
                "without the pool".to_string()
            }
        );
    }
}

fn run_rows(plan: &QueryPlan, rows: &[Row]) -> usize {
    let mut run = Run::new(plan);
    for row in rows {
        run.record(row, 0);
    }
    run.finish()
}

fn run_json(plan: &QueryPlan, decoder: &mut JsonDecoder, buf: &[u8], ends: &[usize]) -> usize {
    let mut run = Run::new(plan);
    let mut row = Row::new();
    let mut start = 0;
    for &end in ends {
        decoder
            .decode(&buf[start..end], &mut row)
            .expect("valid JSON");
        start = end;
        run.record(&row, 0);
    }
    run.finish()
}

fn tumbling(c: &mut Criterion) {
    let plan = query_plan();
    let mut g = c.benchmark_group("tumbling_sum_count");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(RECORDS as u64));
    for keys in KEY_COUNTS {
        let recs = records(keys, RECORDS, 42);
        let input = rows(&plan, &recs);
        let (buf, ends) = json_lines(&recs);
        drop(recs);
        let expected = run_rows(&plan, &input);
        allocations_with_and_without_pool(&plan, &input, keys);
        g.bench_function(BenchmarkId::new("rows", keys), |b| {
            b.iter(|| assert_eq!(run_rows(&plan, black_box(&input)), expected))
        });
        let mut decoder = JsonDecoder::new(&plan.input);
        assert_eq!(run_json(&plan, &mut decoder, &buf, &ends), expected);
        g.bench_function(BenchmarkId::new("json", keys), |b| {
            b.iter(|| {
                assert_eq!(
                    run_json(&plan, &mut decoder, black_box(&buf), &ends),
                    expected
                )
            })
        });
    }
    g.finish();
}

/// Resident set size in bytes (Linux `/proc/self/statm`, 4 KiB pages), if known.
fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Loads `keys` distinct keys (one record each, rows built one at a time and dropped, so the key
/// text lives only in the state) into one open window and prints the state bytes per key, next
/// to the growth of the resident set (which also counts allocator overhead).
fn state_bytes_for(plan: &QueryPlan, keys: u64) {
    let mut agg = Aggregator::new(plan).expect("aggregator");
    let mut out = Vec::new();
    let rss_before = rss_bytes();
    let start = Instant::now();
    for k in 0..keys {
        let row = rows(plan, &[(k, 12_345, T0 + (k % 60_000) as i64)]).remove(0);
        let p = agg.prepare(&row).expect("prepare");
        agg.apply(p, 0, &mut out).expect("apply");
    }
    let load = start.elapsed();
    assert!(
        out.is_empty(),
        "EMIT FINAL emits nothing while the window is open"
    );
    let groups = agg.groups();
    assert_eq!(groups as u64, keys);
    let bytes = agg.state_bytes();
    let rss = match (rss_before, rss_bytes()) {
        (Some(a), Some(b)) => format!("{:.1}", b.saturating_sub(a) as f64 / groups as f64),
        _ => "n/a".into(),
    };
    eprintln!(
        "state bytes per key: {keys} keys in one window: state_bytes {bytes} / groups {groups} \
         = {:.1} bytes per key; resident set growth {rss} bytes per key (loaded in {load:.2?})",
        bytes as f64 / groups as f64
    );
    black_box(agg);
}

fn state_bytes(_: &mut Criterion) {
    let plan = query_plan();
    state_bytes_for(&plan, 10_000);
    // A test run (`cargo test --benches`) skips the large one.
    if std::env::args().any(|a| a == "--bench") {
        state_bytes_for(&plan, 1_000_000);
    }
}

criterion_group!(benches, state_bytes, tumbling);
criterion_main!(benches);
