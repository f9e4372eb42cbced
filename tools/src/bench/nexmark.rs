//! `ferris bench nexmark`: Nexmark queries written in FerrisStreams SQL, run by the engine's own
//! operators over events generated in memory, on N shards (docs/benchmarks.md, "Nexmark").
//!
//! Per shard (one thread each, through [`spawn_shard`]):
//!
//! 1. the `nexmark` crate's [`EventGenerator`] produces this shard's share of the event stream
//!    (offset = shard id, step = shards, so generation runs in parallel), a batch at a time;
//! 2. every bid becomes a row in the plan's input layout (reused `Vec<Value>`s; prices are exact
//!    `DECIMAL`s, times `TIMESTAMP`s, strings `Arc<str>`); persons and auctions count as events
//!    but no query here reads them;
//! 3. stateless queries run [`Pipeline::process_row`]; windowed ones run
//!    [`Aggregator::prepare`]/[`Aggregator::apply`] per row and
//!    [`Aggregator::advance_watermark`] once per batch to the batch's largest event time;
//! 4. each result is encoded by [`JsonEncoder`] into a reused buffer whose bytes are counted.
//!
//! Steps 2 to 4 are the "engine" part: its time per batch goes into an hdrhistogram and its
//! allocations are counted apart from the generator's (the counting allocator in
//! `ferris_tools::alloc`).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use ferris_engine::codec::json::JsonEncoder;
use ferris_engine::exec::Pipeline;
use ferris_engine::exec::aggregate::{AggregateOutput, Aggregator};
use ferris_engine::shard::runtime::spawn_shard;
use ferris_engine::sql::parse_statements;
use ferris_engine::sql::planner::{Catalog, QueryPlan, StreamColumns, plan};
use ferris_engine::value::{Decimal, Row, Value, format_timestamp};
use hdrhistogram::Histogram;
use nexmark::EventGenerator;
use nexmark::config::NexmarkConfig;
use nexmark::event::{Bid, Event};

use ferris_tools::alloc::{self, AllocCount};

/// 2026-01-01T00:00:00Z: the first event's time (fixed, so runs are reproducible).
const BASE_TIME_MS: u64 = 1_767_225_600_000;

/// Arguments of `ferris bench nexmark`.
#[derive(Debug, Args)]
pub struct NexmarkArgs {
    /// The query: q0, q1, q2, q5, q7 run; q3, q4, q8 need joins and are refused.
    #[arg(long)]
    query: String,
    /// Nexmark events to generate in all (persons, auctions and bids, 1:3:46).
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Shards (threads, one per CPU); each generates and processes its share of the events.
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 1024)]
    batch: usize,
    /// Pin shard i to CPU i (modulo the CPUs available).
    #[arg(long)]
    pin: bool,
    /// The type of `date_time`: `timestamp` (as in Nexmark; JSON output as ISO-8601 text) or
    /// `bigint` (epoch milliseconds; JSON output as a number).
    #[arg(long, value_enum, default_value_t = TimeType::Timestamp)]
    date_time: TimeType,
    /// Stateless queries: a new output row per result (`Pipeline::process_row`) instead of one
    /// reused row (`Pipeline::process_row_into`, what the Kafka shards do; the default).
    #[arg(long)]
    fresh_output_rows: bool,
    /// Check every result against a direct computation over the generated events (slower).
    #[arg(long)]
    verify: bool,
    /// One JSON object on stdout instead of the human summary.
    #[arg(long)]
    json: bool,
}

/// How `date_time` is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TimeType {
    /// `TIMESTAMP` (epoch ms inside; ISO-8601 text in JSON).
    Timestamp,
    /// `BIGINT` epoch milliseconds.
    Bigint,
}

/// A Nexmark query as this benchmark knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueryId {
    Q0,
    Q1,
    Q2,
    Q5,
    Q7,
}

/// What `--query` names.
#[derive(Debug)]
enum Known {
    Runs(QueryId, &'static str, &'static str),
    Unsupported(&'static str, &'static str, &'static str),
}

const Q0: &str = "SELECT auction, bidder, price, date_time, extra FROM bid";
const Q1: &str = "SELECT auction, bidder, price * 0.908 AS price, date_time, extra FROM bid";
const Q2: &str = "SELECT auction, price FROM bid WHERE auction % 123 = 0";
const Q5: &str = "SELECT auction, COUNT(*) AS num, _window_start AS starttime, \
                  _window_end AS endtime FROM bid GROUP BY auction \
                  WINDOW SLIDING(date_time, INTERVAL '10' SECOND, INTERVAL '2' SECOND) EMIT FINAL";
const Q7: &str = "SELECT MAX(price) AS maxprice, _window_start AS starttime, \
                  _window_end AS endtime FROM bid \
                  WINDOW TUMBLING(date_time, INTERVAL '10' SECOND) EMIT FINAL";
const Q3: &str = "SELECT p.name, p.city, p.state, a.id FROM auction AS a \
                  JOIN person AS p ON a.seller = p.id \
                  WHERE a.category = 10 AND (p.state = 'or' OR p.state = 'id' OR p.state = 'ca')";
const Q4: &str = "SELECT a.category, MAX(b.price) AS final FROM auction AS a \
                  JOIN bid AS b ON a.id = b.auction GROUP BY a.id, a.category";
const Q8: &str = "SELECT p.id, p.name, _window_start AS starttime FROM person AS p \
                  JOIN auction AS a ON p.id = a.seller GROUP BY p.id, p.name \
                  WINDOW TUMBLING(p.date_time, INTERVAL '10' SECOND)";

fn known(name: &str) -> Option<Known> {
    Some(match name.to_ascii_lowercase().as_str() {
        "q0" => Known::Runs(QueryId::Q0, Q0, "pass-through"),
        "q1" => Known::Runs(QueryId::Q1, Q1, "currency conversion, exact decimal"),
        "q2" => Known::Runs(QueryId::Q2, Q2, "filter (auction % 123 = 0)"),
        "q5" => Known::Runs(
            QueryId::Q5,
            Q5,
            "bids per auction over a 10 s window sliding by 2 s (first stage of 'hot items'; \
             the top auction per window needs a second stage, not run)",
        ),
        "q7" => Known::Runs(
            QueryId::Q7,
            Q7,
            "highest price per 10 s tumbling window (MAX(price); the original also joins back \
             to the winning bid's row, not run)",
        ),
        "q3" => Known::Unsupported("q3", Q3, "auction-person join"),
        "q4" => Known::Unsupported("q4", Q4, "join of auctions with their bids"),
        "q8" => Known::Unsupported("q8", Q8, "windowed person-auction join"),
        _ => return None,
    })
}

/// The Nexmark streams, with the `nexmark` crate's field names.
#[derive(Debug)]
struct NexmarkCatalog;

const BID_COLUMNS: [&str; 7] = [
    "auction",
    "bidder",
    "price",
    "channel",
    "url",
    "date_time",
    "extra",
];
const PERSON_COLUMNS: [&str; 8] = [
    "id",
    "name",
    "email_address",
    "credit_card",
    "city",
    "state",
    "date_time",
    "extra",
];
const AUCTION_COLUMNS: [&str; 10] = [
    "id",
    "item_name",
    "description",
    "initial_bid",
    "reserve",
    "date_time",
    "expires",
    "seller",
    "category",
    "extra",
];

impl Catalog for NexmarkCatalog {
    fn stream_columns(&self, name: &str) -> Option<StreamColumns> {
        let cols: &[&str] = match name.to_ascii_lowercase().as_str() {
            "bid" => &BID_COLUMNS,
            "person" => &PERSON_COLUMNS,
            "auction" => &AUCTION_COLUMNS,
            _ => return None,
        };
        Some(StreamColumns::Known(
            cols.iter().map(|c| (*c).to_string()).collect(),
        ))
    }

    fn stream_names(&self) -> Vec<String> {
        vec!["bid".into(), "person".into(), "auction".into()]
    }
}

/// Where a slot of the plan's input row comes from.
#[derive(Debug, Clone, Copy)]
enum BidField {
    Auction,
    Bidder,
    Price,
    Channel,
    Url,
    DateTime,
    Extra,
    /// A system column (`_offset`, ...): NULL here.
    Null,
}

fn bid_fields(plan: &QueryPlan) -> Vec<BidField> {
    plan.input
        .iter()
        .map(|f| {
            if f.system.is_some() {
                return BidField::Null;
            }
            match f.name.to_ascii_lowercase().as_str() {
                "auction" => BidField::Auction,
                "bidder" => BidField::Bidder,
                "price" => BidField::Price,
                "channel" => BidField::Channel,
                "url" => BidField::Url,
                "date_time" => BidField::DateTime,
                "extra" => BidField::Extra,
                _ => BidField::Null,
            }
        })
        .collect()
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn usize_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Fills `row` (cleared first) with `bid`'s values in the plan's input layout.
fn fill_row(fields: &[BidField], time: TimeType, bid: &Bid, row: &mut Row) {
    row.clear();
    for f in fields {
        row.push(match f {
            BidField::Auction => Value::BigInt(usize_i64(bid.auction)),
            BidField::Bidder => Value::BigInt(usize_i64(bid.bidder)),
            BidField::Price => Value::Decimal(Decimal::from_i64(usize_i64(bid.price))),
            BidField::Channel => Value::String(Arc::from(bid.channel.as_str())),
            BidField::Url => Value::String(Arc::from(bid.url.as_str())),
            BidField::DateTime => match time {
                TimeType::Timestamp => Value::Timestamp(to_i64(bid.date_time)),
                TimeType::Bigint => Value::BigInt(to_i64(bid.date_time)),
            },
            BidField::Extra => Value::String(Arc::from(bid.extra.as_str())),
            BidField::Null => Value::Null,
        });
    }
}

fn nexmark_config() -> NexmarkConfig {
    NexmarkConfig {
        base_time: BASE_TIME_MS,
        ..NexmarkConfig::default()
    }
}

/// What each shard is given.
#[derive(Debug, Clone)]
struct ShardJob {
    id: usize,
    shards: usize,
    events: u64,
    batch: usize,
    query: QueryId,
    plan: QueryPlan,
    verify: bool,
    progress: bool,
    time: TimeType,
    reuse_output_rows: bool,
}

/// What each shard reports.
#[derive(Debug)]
struct ShardReport {
    id: usize,
    events: u64,
    bids: u64,
    out_rows: u64,
    out_bytes: u64,
    errors: u64,
    first_error: Option<String>,
    generation: Duration,
    engine: Duration,
    wall: Duration,
    gen_allocs: AllocCount,
    engine_allocs: AllocCount,
    /// Per-batch engine time, nanoseconds.
    hist: Histogram<u64>,
    verified: u64,
    mismatch: Option<String>,
    /// `--verify` on a windowed query: the engine's result lines, for the final comparison.
    window_lines: Vec<String>,
}

/// The operator a shard runs.
enum Operator {
    Stateless(Pipeline),
    Windowed(Box<Aggregator>),
}

/// The expected result line of a stateless query for `bid` (`None`: filtered out), computed
/// directly from the event, without the engine.
fn expected_line(query: QueryId, time: TimeType, bid: &Bid) -> Option<String> {
    let ts = match time {
        TimeType::Timestamp => format!("\"{}\"", format_timestamp(to_i64(bid.date_time))),
        TimeType::Bigint => bid.date_time.to_string(),
    };
    match query {
        QueryId::Q0 => Some(format!(
            "{{\"auction\":{},\"bidder\":{},\"price\":{},\"date_time\":{ts},\"extra\":\"{}\"}}",
            bid.auction, bid.bidder, bid.price, bid.extra
        )),
        QueryId::Q1 => {
            // price * 0.908 exactly: an integer times 908, with three fractional digits.
            let milli = u128::try_from(bid.price).unwrap_or(u128::MAX) * 908;
            Some(format!(
                "{{\"auction\":{},\"bidder\":{},\"price\":{}.{:03},\"date_time\":{ts},\"extra\":\"{}\"}}",
                bid.auction,
                bid.bidder,
                milli / 1000,
                milli % 1000,
                bid.extra
            ))
        }
        QueryId::Q2 => bid
            .auction
            .is_multiple_of(123)
            .then(|| format!("{{\"auction\":{},\"price\":{}}}", bid.auction, bid.price)),
        QueryId::Q5 | QueryId::Q7 => None,
    }
}

/// The reference results of a windowed query, in the engine's emission order (windows by end,
/// then start; groups in first-seen order), built from the bids directly.
#[derive(Debug, Default)]
struct WindowReference {
    /// window start -> (auction -> (first-seen index, count)); for q7 the key is 0 and the
    /// count is the highest price.
    windows: std::collections::BTreeMap<i64, std::collections::BTreeMap<usize, (usize, u64)>>,
    seen: usize,
}

impl WindowReference {
    fn add(&mut self, query: QueryId, bid: &Bid) {
        let t = to_i64(bid.date_time);
        match query {
            QueryId::Q5 => {
                // Starts s: multiples of 2 s with s <= t < s + 10 s.
                let mut s = t.div_euclid(2_000) * 2_000;
                while s > t - 10_000 {
                    let w = self.windows.entry(s).or_default();
                    let seen = self.seen;
                    let e = w.entry(bid.auction).or_insert((seen, 0));
                    e.1 += 1;
                    self.seen += 1;
                    s -= 2_000;
                }
            }
            QueryId::Q7 => {
                let s = t.div_euclid(10_000) * 10_000;
                let w = self.windows.entry(s).or_default();
                let e = w.entry(0).or_insert((0, 0));
                e.1 = e.1.max(bid.price as u64);
            }
            _ => {}
        }
    }

    fn lines(&self, query: QueryId) -> Vec<String> {
        let mut out = Vec::new();
        // All windows have the same size, so order by end = order by start.
        for (start, groups) in &self.windows {
            let mut g: Vec<(&usize, &(usize, u64))> = groups.iter().collect();
            g.sort_by_key(|(_, (seen, _))| *seen);
            for (key, (_, v)) in g {
                out.push(match query {
                    QueryId::Q5 => format!(
                        "{{\"auction\":{key},\"num\":{v},\"starttime\":{start},\"endtime\":{}}}",
                        start + 10_000
                    ),
                    _ => format!(
                        "{{\"maxprice\":{v},\"starttime\":{start},\"endtime\":{}}}",
                        start + 10_000
                    ),
                });
            }
        }
        out
    }
}

/// Runs one shard's share to the end.
fn run_shard(job: ShardJob) -> anyhow::Result<ShardReport> {
    let fields = bid_fields(&job.plan);
    let names: Vec<String> = job.plan.projection.iter().map(|c| c.name.clone()).collect();
    let mut encoder = JsonEncoder::new(&names);
    let mut op = if job.plan.aggregate.is_some() {
        Operator::Windowed(Box::new(Aggregator::new(&job.plan)?))
    } else {
        Operator::Stateless(Pipeline::new(&job.plan))
    };
    let shards = job.shards as u64;
    let id = job.id as u64;
    let mine = job.events / shards + u64::from(id < job.events % shards);

    // Warm the generator's lazily built tables (channel URLs) outside the measurement.
    let _ = EventGenerator::new(nexmark_config()).take(64).count();
    let mut generator = EventGenerator::new(nexmark_config())
        .with_offset(id)
        .with_step(shards);

    let batch = job.batch.max(1);
    let mut events: Vec<Event> = Vec::with_capacity(batch);
    let mut rows: Vec<Row> = (0..batch)
        .map(|_| Vec::with_capacity(fields.len()))
        .collect();
    let mut outs: Vec<AggregateOutput> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut hist = latency_histogram()?;
    let mut out_row: Row = Vec::with_capacity(job.plan.projection.len());
    let mut verify_time = Duration::ZERO;

    let mut report = ShardReport {
        id: job.id,
        events: 0,
        bids: 0,
        out_rows: 0,
        out_bytes: 0,
        errors: 0,
        first_error: None,
        generation: Duration::ZERO,
        engine: Duration::ZERO,
        wall: Duration::ZERO,
        gen_allocs: AllocCount::default(),
        engine_allocs: AllocCount::default(),
        hist: latency_histogram()?,
        verified: 0,
        mismatch: None,
        window_lines: Vec::new(),
    };
    let mut reference = WindowReference::default();
    // `--verify`: where each result line sits in `buf` (reused; read after the timed part).
    let mut line_ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut got_lines: Vec<String> = Vec::new();
    let mut next_progress = Instant::now() + Duration::from_secs(2);

    let start = Instant::now();
    while report.events < mine {
        let take = (mine - report.events).min(batch as u64) as usize;

        // Generation (the source): not the engine's work.
        let t0 = Instant::now();
        let a0 = alloc::snapshot();
        events.clear();
        events.extend(generator.by_ref().take(take));
        let t1 = Instant::now();
        let a1 = alloc::snapshot();

        // The engine: rows in, JSON out.
        let mut n = 0;
        let mut max_time = i64::MIN;
        for ev in &events {
            if let Event::Bid(bid) = ev {
                fill_row(&fields, job.time, bid, &mut rows[n]);
                max_time = max_time.max(to_i64(bid.date_time));
                n += 1;
            }
        }
        match &mut op {
            Operator::Stateless(pipeline) => {
                for row in &rows[..n] {
                    let result = if job.reuse_output_rows {
                        pipeline
                            .process_row_into(row, &mut out_row)
                            .map(|kept| kept.then_some(()))
                    } else {
                        pipeline.process_row(row).map(|r| {
                            r.map(|r| {
                                out_row = r;
                            })
                        })
                    };
                    let out = &out_row;
                    match result {
                        Ok(Some(())) => {
                            let at = buf.len();
                            if let Err(e) = encoder.encode(out, &mut buf) {
                                note_error(&mut report, e.to_string());
                            } else {
                                report.out_rows += 1;
                            }
                            if job.verify {
                                line_ranges.push(at..buf.len());
                            }
                            buf.push(b'\n');
                        }
                        Ok(None) => {}
                        Err(e) => note_error(&mut report, e.to_string()),
                    }
                }
            }
            Operator::Windowed(agg) => {
                for row in &rows[..n] {
                    let applied = agg
                        .prepare(row)
                        .and_then(|p| agg.apply(p, 0, &mut outs).map(|_| ()));
                    if let Err(e) = applied {
                        note_error(&mut report, e.to_string());
                    }
                }
                if n > 0 {
                    agg.advance_watermark(max_time, &mut outs);
                }
                if report.events + take as u64 >= mine {
                    agg.close_all(&mut outs);
                }
                encode_outputs(
                    &mut encoder,
                    &mut outs,
                    &mut buf,
                    &mut report,
                    job.verify.then_some(&mut line_ranges),
                );
            }
        }
        report.out_bytes += buf.len() as u64;
        let t2 = Instant::now();
        let a2 = alloc::snapshot();

        let engine = t2 - t1;
        report.generation += t1 - t0;
        report.engine += engine;
        let ga = a1.since(a0);
        let ea = a2.since(a1);
        report.gen_allocs.allocs += ga.allocs;
        report.gen_allocs.bytes += ga.bytes;
        report.engine_allocs.allocs += ea.allocs;
        report.engine_allocs.bytes += ea.bytes;
        hist.saturating_record(u64::try_from(engine.as_nanos()).unwrap_or(u64::MAX).max(1));
        report.events += take as u64;
        report.bids += n as u64;

        if job.verify {
            // Outside the timed part: compare with the direct computation.
            let v0 = Instant::now();
            got_lines.extend(
                line_ranges
                    .drain(..)
                    .map(|r| String::from_utf8_lossy(&buf[r]).into_owned()),
            );
            if matches!(job.query, QueryId::Q5 | QueryId::Q7) {
                for ev in &events {
                    if let Event::Bid(bid) = ev {
                        reference.add(job.query, bid);
                    }
                }
                report.window_lines.append(&mut got_lines);
            } else {
                check_stateless(job.query, job.time, &events, &got_lines, &mut report);
                got_lines.clear();
            }
            verify_time += v0.elapsed();
        }
        buf.clear();

        if job.progress && Instant::now() >= next_progress {
            eprintln!(
                "shard {}: {} / {} events ({:.1} s)",
                job.id,
                report.events,
                mine,
                start.elapsed().as_secs_f64()
            );
            next_progress += Duration::from_secs(2);
        }
    }
    report.wall = start.elapsed().saturating_sub(verify_time);
    report.hist = hist;

    if job.verify && matches!(job.query, QueryId::Q5 | QueryId::Q7) {
        let want = reference.lines(job.query);
        let have = std::mem::take(&mut report.window_lines);
        if want.len() != have.len() && report.mismatch.is_none() {
            report.mismatch = Some(format!(
                "expected {} window results, got {}",
                want.len(),
                have.len()
            ));
        }
        for (w, h) in want.iter().zip(&have) {
            if w == h {
                report.verified += 1;
            } else if report.mismatch.is_none() {
                report.mismatch = Some(format!("expected {w}, got {h}"));
            }
        }
    }
    Ok(report)
}

/// `--verify`, stateless queries: the batch's result lines against [`expected_line`] per bid.
fn check_stateless(
    query: QueryId,
    time: TimeType,
    events: &[Event],
    got: &[String],
    report: &mut ShardReport,
) {
    let mut got = got.iter();
    for ev in events {
        let Event::Bid(bid) = ev else { continue };
        let Some(want) = expected_line(query, time, bid) else {
            continue;
        };
        let have = got.next();
        if have.map(String::as_str) == Some(want.as_str()) {
            report.verified += 1;
        } else if report.mismatch.is_none() {
            report.mismatch = Some(format!("expected {want}, got {have:?}"));
        }
    }
    if let Some(extra) = got.next()
        && report.mismatch.is_none()
    {
        report.mismatch = Some(format!("unexpected result {extra}"));
    }
}

/// Per-batch latencies in nanoseconds, 1 ns to 1 hour, 3 significant digits.
fn latency_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).context("latency histogram")
}

fn note_error(report: &mut ShardReport, message: String) {
    report.errors += 1;
    if report.first_error.is_none() {
        report.first_error = Some(message);
    }
}

/// Encodes the aggregator's results into `buf` (one line each) and clears `outs`.
fn encode_outputs(
    encoder: &mut JsonEncoder,
    outs: &mut Vec<AggregateOutput>,
    buf: &mut Vec<u8>,
    report: &mut ShardReport,
    mut lines: Option<&mut Vec<std::ops::Range<usize>>>,
) {
    for out in outs.drain(..) {
        match out.result {
            Ok(row) => {
                let at = buf.len();
                match encoder.encode(&row, buf) {
                    Ok(()) => report.out_rows += 1,
                    Err(e) => note_error(report, e.to_string()),
                }
                if let Some(lines) = lines.as_deref_mut() {
                    lines.push(at..buf.len());
                }
                buf.push(b'\n');
            }
            Err(e) => note_error(report, e.to_string()),
        }
    }
}

/// Peak resident set (`VmHWM` of /proc/self/status), bytes.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Tries to plan an unsupported query's SQL, for the planner's own words.
fn planner_says(sql: &str) -> String {
    match parse_statements(sql).and_then(|stmts| match stmts.first() {
        Some(q) => plan(q, &NexmarkCatalog).map(|_| ()),
        None => Ok(()),
    }) {
        Ok(()) => "it plans, but this benchmark does not run it yet".into(),
        Err(e) => format!("the planner says: {e}"),
    }
}

fn percentile_us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// Runs `ferris bench nexmark`.
pub fn run(args: NexmarkArgs) -> anyhow::Result<()> {
    let Some(which) = known(&args.query) else {
        bail!(
            "unknown Nexmark query '{}': this benchmark knows q0, q1, q2, q5, q7 (run) and \
             q3, q4, q8 (not supported yet: joins)",
            args.query
        );
    };
    let (query, sql, note) = match which {
        Known::Runs(q, sql, note) => (q, sql, note),
        Known::Unsupported(name, sql, what) => bail!(
            "{name} ({what}): not supported yet (joins): FerrisStreams has no joins; {}",
            planner_says(sql)
        ),
    };
    if args.shards == 0 {
        bail!("--shards must be at least 1");
    }
    if args.events == 0 {
        bail!("--events must be at least 1");
    }
    let windowed = matches!(query, QueryId::Q5 | QueryId::Q7);
    if windowed && args.shards > 1 {
        bail!(
            "{} runs on one shard only (--shards 1): its per-key window results would need the \
             bids routed by key between shards, which this benchmark does not do yet",
            args.query
        );
    }
    let stmts = parse_statements(sql)?;
    let Some(stmt) = stmts.first() else {
        bail!("no statement in {sql}");
    };
    let plan = plan(stmt, &NexmarkCatalog)?;

    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let mut handles = Vec::with_capacity(args.shards);
    for id in 0..args.shards {
        let job = ShardJob {
            id,
            shards: args.shards,
            events: args.events,
            batch: args.batch,
            query,
            plan: plan.clone(),
            verify: args.verify,
            progress: id == 0,
            time: args.date_time,
            reuse_output_rows: !args.fresh_output_rows,
        };
        let cpu = args.pin.then_some(id % cpus);
        handles.push(spawn_shard(id, cpu, move || async move { run_shard(job) })?);
    }
    let mut reports = Vec::with_capacity(args.shards);
    for h in handles {
        reports.push(h.join()??);
    }
    summarise(&args, sql, note, reports)
}

fn summarise(
    args: &NexmarkArgs,
    sql: &str,
    note: &str,
    reports: Vec<ShardReport>,
) -> anyhow::Result<()> {
    let mut hist = latency_histogram()?;
    for r in &reports {
        hist.add(&r.hist).context("merging histograms")?;
    }
    let events: u64 = reports.iter().map(|r| r.events).sum();
    let bids: u64 = reports.iter().map(|r| r.bids).sum();
    let out_rows: u64 = reports.iter().map(|r| r.out_rows).sum();
    let out_bytes: u64 = reports.iter().map(|r| r.out_bytes).sum();
    let errors: u64 = reports.iter().map(|r| r.errors).sum();
    let verified: u64 = reports.iter().map(|r| r.verified).sum();
    let engine_allocs: u64 = reports.iter().map(|r| r.engine_allocs.allocs).sum();
    let engine_alloc_bytes: u64 = reports.iter().map(|r| r.engine_allocs.bytes).sum();
    let gen_allocs: u64 = reports.iter().map(|r| r.gen_allocs.allocs).sum();
    // The run lasts as long as its slowest shard.
    let seconds = reports
        .iter()
        .map(|r| r.wall.as_secs_f64())
        .fold(0.0, f64::max);
    let engine_seconds = reports
        .iter()
        .map(|r| r.engine.as_secs_f64())
        .fold(0.0, f64::max);
    let gen_seconds = reports
        .iter()
        .map(|r| r.generation.as_secs_f64())
        .fold(0.0, f64::max);
    let per_event = |x: u64| x as f64 / events.max(1) as f64;
    let rate = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    let per_shard: Vec<f64> = reports
        .iter()
        .map(|r| rate(r.events, r.wall.as_secs_f64()))
        .collect();
    let engine_per_shard: Vec<f64> = reports
        .iter()
        .map(|r| rate(r.events, r.engine.as_secs_f64()))
        .collect();
    let peak_rss = peak_rss_bytes().unwrap_or(0);
    let (p50, p95, p99) = (
        percentile_us(&hist, 0.50),
        percentile_us(&hist, 0.95),
        percentile_us(&hist, 0.99),
    );
    let name = args.query.to_ascii_lowercase();

    if args.json {
        let v = serde_json::json!({
            "query": name,
            "sql": sql,
            "note": note,
            "events": events,
            "bids": bids,
            "shards": reports.len(),
            "batch": args.batch,
            "date_time": format!("{:?}", args.date_time).to_lowercase(),
            "reuse_output_rows": !args.fresh_output_rows,
            "seconds": seconds,
            "events_per_sec": rate(events, seconds),
            "events_per_sec_per_shard": per_shard,
            "engine_seconds": engine_seconds,
            "engine_events_per_sec_per_shard": engine_per_shard,
            "generator_seconds": gen_seconds,
            "p50_us": p50,
            "p95_us": p95,
            "p99_us": p99,
            "max_us": hist.max() as f64 / 1000.0,
            "allocs_per_event": per_event(engine_allocs),
            "alloc_bytes_per_event": per_event(engine_alloc_bytes),
            "generator_allocs_per_event": per_event(gen_allocs),
            "peak_rss_bytes": peak_rss,
            "output_rows": out_rows,
            "output_bytes": out_bytes,
            "errors": errors,
            "verified": args.verify,
            "verified_rows": verified,
        });
        println!("{v}");
    } else {
        let mut s = String::new();
        let _ = writeln!(s, "nexmark {name}: {sql}");
        let _ = writeln!(s, "  ({note})");
        let _ = writeln!(
            s,
            "  {events} events ({bids} bids) on {} shard(s) in {seconds:.3} s: {:.0} events/s \
             ({:.0} per shard; engine alone {:.0} per shard, generator {gen_seconds:.3} s)",
            reports.len(),
            rate(events, seconds),
            mean(&per_shard),
            mean(&engine_per_shard),
        );
        for (r, (w, e)) in reports.iter().zip(per_shard.iter().zip(&engine_per_shard)) {
            let _ = writeln!(
                s,
                "  shard {}: {} events, {w:.0} events/s ({e:.0} engine alone)",
                r.id, r.events
            );
        }
        let _ = writeln!(
            s,
            "  per-batch engine latency ({} events/batch): p50 {p50:.1} us, p95 {p95:.1} us, \
             p99 {p99:.1} us",
            args.batch
        );
        let _ = writeln!(
            s,
            "  allocations: {:.3} per event in the engine ({:.1} bytes), {:.3} in the nexmark \
             generator; peak RSS {:.1} MiB",
            per_event(engine_allocs),
            per_event(engine_alloc_bytes),
            per_event(gen_allocs),
            peak_rss as f64 / (1024.0 * 1024.0)
        );
        let _ = write!(
            s,
            "  output: {out_rows} rows, {out_bytes} bytes of JSON (not written); {errors} errors"
        );
        if args.verify {
            let _ = write!(s, "; verified {verified} results");
        }
        println!("{s}");
    }
    if let Some(e) = reports.iter().find_map(|r| r.first_error.as_ref()) {
        eprintln!("first error: {e}");
    }
    if let Some(m) = reports.iter().find_map(|r| r.mismatch.as_ref()) {
        bail!("--verify: results differ from the direct computation: {m}");
    }
    Ok(())
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}
