//! The stateless shard path with and without pools: JSON trades decoded, filtered, projected and
//! encoded again as JSON, record by record, the way `JobShard::handle_record` does it
//! (`Decoder::decode`, `Pipeline::process_row_skipping`, `Encoder::encode_copying`).
//!
//! The job is the demo's (examples/big_trades_kafka.sql):
//! `SELECT symbol, side, price, quantity, price * quantity AS notional, account FROM trades
//! WHERE price * quantity > 50000`, over 65,536 distinct trades from `ferris gen trades`'s
//! generator (seed 42; about 30% pass). Two ways of running it:
//!
//! - `pass_through`: as `ferris run` runs it between JSON topics, with zero-copy pass-through
//!   (the five copied columns are written from the input text; only `price` and `quantity`
//!   become values);
//! - `decoded`: every field decoded into values and every column encoded from them (what a job
//!   whose sink is not JSON, or whose columns are computed, does).
//!
//! The same four run over the trades as plain Avro datums to an Avro sink (`avro/...`), where
//! `pass_through` copies the five columns' bytes (the sink schema gives them the source's types)
//! and checks, without building, the copy-only ones.
//!
//! and each with the shard's pools (one decoded row, one result row and one output buffer,
//! reused for every record; the decoder's string pool on) or without them (a new row, result
//! row and output buffer per record, each allocated once at its final size, the output buffer
//! only for records that pass the filter; the string pool off). Before timing, each of the four
//! prints its allocations per record at steady state (a second pass over the records, after
//! a first that fills the pools) and the string pool's hit rate. Criterion reports records per
//! second (one thread).
//!
//! `cargo bench -p ferris-benches --bench pipeline`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;

use ferris_engine::codec::avro::AvroSchema;
use ferris_engine::codec::format::{StreamFormat, ValueFormat};
use ferris_engine::codec::{Decoder, Encoder};
use ferris_engine::exec::Pipeline;
use ferris_engine::exec::passthrough::PassThrough;
use ferris_engine::sql::parse_statements;
use ferris_engine::sql::planner::{InputField, QueryPlan, plan};
use ferris_engine::value::Row;
use ferris_tools::trades::{COLUMNS, TradesCatalog, write_trades};

const RECORDS: usize = 65_536;
const JOB: &str = "SELECT symbol, side, price, quantity, price * quantity AS notional, account \
                   FROM trades WHERE price * quantity > 50000";

/// Counts allocations, so each workload's allocations per record are printed before it is timed.
#[global_allocator]
static ALLOCATOR: ferris_tools::alloc::Counting = ferris_tools::alloc::Counting;

/// The trades' schema for the Avro runs (`ferris gen trades` writes prices with 2 decimals).
const TRADE_AVRO: &str = r#"{"type":"record","name":"Trade","fields":[
  {"name":"symbol","type":"string"},
  {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
  {"name":"quantity","type":"long"},
  {"name":"side","type":"string"},
  {"name":"ts","type":"long"},
  {"name":"account","type":"string"}
]}"#;

/// The job's output schema for the Avro runs: the copied fields with the source's types.
const BIG_TRADE_AVRO: &str = r#"{"type":"record","name":"BigTrade","fields":[
  {"name":"symbol","type":"string"},
  {"name":"side","type":"string"},
  {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
  {"name":"quantity","type":"long"},
  {"name":"notional","type":{"type":"bytes","logicalType":"decimal","precision":20,"scale":2}},
  {"name":"account","type":"string"}
]}"#;

fn avro(schema: &str) -> StreamFormat {
    StreamFormat {
        value: ValueFormat::Avro(Some(Arc::new(
            AvroSchema::parse(schema).expect("a valid schema"),
        ))),
        ..StreamFormat::default()
    }
}

/// The trades as plain Avro datums of [`TRADE_AVRO`] (decoded from JSON by the engine).
fn avro_trades(json: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let fields: Vec<InputField> = COLUMNS
        .iter()
        .map(|c| InputField {
            name: c.to_string(),
            system: None,
        })
        .collect();
    let names: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    let mut decoder = StreamFormat::default()
        .decoder(&fields)
        .expect("a JSON decoder");
    let mut encoder = avro(TRADE_AVRO).encoder(&names).expect("an Avro encoder");
    let mut row = Row::new();
    json.iter()
        .map(|line| {
            decoder.decode(line, &mut row).expect("a trade decodes");
            let mut out = Vec::new();
            encoder.encode(&row, &mut out).expect("a trade encodes");
            out
        })
        .collect()
}

/// The trades as `ferris gen trades --seed 42` writes them, one record per line.
fn trades() -> Vec<Vec<u8>> {
    let mut text = Vec::new();
    write_trades(RECORDS as u64, 42, &mut text).expect("writing to memory");
    text.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// One shard's codecs and operators for the job, set up as `JobShard::new` does.
struct Stages {
    decoder: Decoder,
    encoder: Encoder,
    pipeline: Pipeline,
    copy_skip: Vec<bool>,
    /// Input slots and output columns.
    width: usize,
    columns: usize,
}

/// The stages and the shard's reused buffers (used when `pooled`).
struct Path {
    stages: Stages,
    pooled: bool,
    row: Row,
    result: Row,
    out: Vec<u8>,
}

impl Path {
    fn new(plan: &QueryPlan, avro_path: bool, pass_through: bool, pooled: bool) -> Path {
        let (source, sink) = if avro_path {
            (avro(TRADE_AVRO), avro(BIG_TRADE_AVRO))
        } else {
            (StreamFormat::default(), StreamFormat::default())
        };
        let names: Vec<String> = plan.projection.iter().map(|c| c.name.clone()).collect();
        let mut decoder = source.decoder(&plan.input).expect("a decoder");
        let mut encoder = sink.encoder(&names).expect("an encoder");
        let mut copy_skip = Vec::new();
        if pass_through {
            let copies = PassThrough::of(plan, names.len());
            let mut copied = vec![false; plan.input.len()];
            for c in &copies.columns {
                copied[c.slot] = true;
            }
            assert!(decoder.copy_fields(&copied, &copies.copy_only));
            assert!(encoder.copy_columns(copies.columns.iter().map(|c| (c.output, c.slot))));
            copy_skip = vec![false; names.len()];
            for c in &copies.columns {
                copy_skip[c.output] = true;
            }
        }
        decoder.set_string_pool(pooled);
        Path {
            stages: Stages {
                decoder,
                encoder,
                pipeline: Pipeline::new(plan),
                copy_skip,
                width: plan.input.len(),
                columns: names.len(),
            },
            pooled,
            row: Row::new(),
            result: Row::new(),
            out: Vec::new(),
        }
    }

    /// Runs every record through the path; the output bytes written and, with `hash`, a
    /// checksum of them (0 without: the timed runs do not hash).
    fn run(&mut self, records: &[Vec<u8>], hash: bool) -> (usize, u64) {
        let (mut written, mut sum) = (0, 0u64);
        for record in records {
            let (n, h) = if self.pooled {
                self.stages
                    .one(record, &mut self.row, &mut self.result, &mut self.out, hash)
            } else {
                // Each allocated once, at its final size, and the output buffer only for a
                // record that passes the filter.
                let (mut row, mut result, mut out) = (
                    Row::with_capacity(self.stages.width),
                    Row::with_capacity(self.stages.columns),
                    Vec::new(),
                );
                self.stages
                    .one(record, &mut row, &mut result, &mut out, hash)
            };
            written += n;
            sum = sum.rotate_left(5) ^ h;
        }
        (written, sum)
    }
}

impl Stages {
    /// One record: decode, filter and project, encode (as `handle_record`); the bytes written
    /// and their FNV-1a hash.
    fn one(
        &mut self,
        record: &[u8],
        row: &mut Row,
        result: &mut Row,
        out: &mut Vec<u8>,
        hash: bool,
    ) -> (usize, u64) {
        self.decoder.decode(record, row).expect("a trade decodes");
        if !self
            .pipeline
            .process_row_skipping(row, result, &self.copy_skip)
            .expect("the job evaluates")
        {
            return (0, 0);
        }
        out.clear();
        out.reserve(256);
        self.encoder
            .encode_copying(result, row, record, self.decoder.spans(), out)
            .expect("the result encodes");
        black_box(&out[..]);
        let fnv = if hash {
            out.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        } else {
            0
        };
        (out.len(), fnv)
    }
}

fn pipeline(c: &mut Criterion) {
    let stmts = parse_statements(JOB).expect("the job parses");
    let plan = plan(&stmts[0], &TradesCatalog).expect("the job plans");
    let json = trades();
    let avro = avro_trades(&json);
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(RECORDS as u64));
    for (avro_path, records) in [(false, &json), (true, &avro)] {
        let mut expected = None;
        for pass_through in [true, false] {
            for pooled in [true, false] {
                let name = format!(
                    "{}{}/{}",
                    if avro_path { "avro/" } else { "" },
                    if pass_through {
                        "pass_through"
                    } else {
                        "decoded"
                    },
                    if pooled { "pools" } else { "no_pools" }
                );
                let mut path = Path::new(&plan, avro_path, pass_through, pooled);
                // The first pass fills the pools; the second is the steady state.
                let written = path.run(records, true);
                let before = path.stages.decoder.string_stats();
                let (allocs, bytes) = ferris_tools::alloc::per_item(RECORDS, || {
                    assert_eq!(path.run(records, true), written);
                });
                let after = path.stages.decoder.string_stats();
                let (hits, misses) = (after.hits - before.hits, after.misses - before.misses);
                let strings = if hits + misses == 0 {
                    "no strings decoded".to_string()
                } else {
                    format!(
                        "string pool hit rate {:.1}% of {} strings ({} held)",
                        100.0 * hits as f64 / (hits + misses) as f64,
                        hits + misses,
                        after.held
                    )
                };
                eprintln!(
                    "pipeline/{name}: {allocs:.2} allocations ({bytes:.0} bytes) per record at steady state; {strings}"
                );
                // Every way writes the same output.
                assert_eq!(*expected.get_or_insert(written), written);
                g.bench_function(&name, |b| {
                    b.iter(|| assert_eq!(path.run(black_box(records), false).0, written.0))
                });
            }
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
}

criterion_group! {
    name = benches;
    config = config();
    targets = pipeline
}
criterion_main!(benches);
