//! Avro codec cost per record: [`AvroDecoder`] and [`AvroEncoder`] over a Nexmark Bid, 1024
//! distinct records (fixed seed, the rows of `ferris_benches::bid_rows`, shared with the
//! Protobuf bench) per iteration.
//!
//! The schema: `auction` and `bidder` longs, `price` a `decimal(18,2)` on bytes, `channel`,
//! `url` (about 70 characters, as the JSON bench's) and `extra` (0 to 30 characters)
//! strings, and `date_time` a `timestamp-millis`; about 114 bytes per datum.
//!
//! `decode/bid` decodes all seven fields of each datum into one reused row (as a shard does);
//! `encode/bid` writes each record's row (built once, before timing) into one reused buffer.
//! Criterion reports records per second (one thread).
//!
//! `cargo bench -p ferris-benches --bench avro`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ferris_benches::{BID_FIELDS, bid_rows};
use ferris_engine::codec::avro::{AvroDecoder, AvroEncoder, AvroSchema};
use ferris_engine::sql::planner::InputField;
use ferris_engine::value::Row;

const RECORDS: usize = 1024;

const BID_SCHEMA: &str = r#"{"type":"record","name":"Bid","fields":[{"name":"auction","type":"long"},{"name":"bidder","type":"long"},{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":2}},{"name":"channel","type":"string"},{"name":"url","type":"string"},{"name":"date_time","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"extra","type":"string"}]}"#;

/// Counts allocations, so each workload's allocations per record are printed before it is timed.
#[global_allocator]
static ALLOCATOR: ferris_tools::alloc::Counting = ferris_tools::alloc::Counting;

fn codec(c: &mut Criterion) {
    let schema = AvroSchema::parse(BID_SCHEMA).expect("valid schema");
    let names: Vec<String> = BID_FIELDS.iter().map(|n| (*n).to_string()).collect();
    let fields: Vec<InputField> = names
        .iter()
        .map(|n| InputField {
            name: n.clone(),
            system: None,
        })
        .collect();
    let rows = bid_rows(RECORDS);
    let mut encoder = AvroEncoder::new(&schema, &names).expect("encoder");
    let datums: Vec<Vec<u8>> = rows
        .iter()
        .map(|row| {
            let mut out = Vec::new();
            encoder.encode(row, &mut out).expect("encodable row");
            out
        })
        .collect();
    let bytes: usize = datums.iter().map(Vec::len).sum();
    eprintln!("bid: {:.1} bytes per datum", bytes as f64 / RECORDS as f64);

    let mut decoder = AvroDecoder::new(&schema, &fields).expect("decoder");
    let mut row = Row::new();
    for (datum, expected) in datums.iter().zip(&rows) {
        decoder.decode(datum, &mut row).expect("valid datum");
        assert_eq!(&row, expected, "decoding gives back the row");
    }
    let mut decode = c.benchmark_group("decode");
    decode.throughput(Throughput::Elements(RECORDS as u64));
    let (allocs, bytes) = ferris_tools::alloc::per_item(datums.len(), || {
        for d in &datums {
            decoder.decode(d, &mut row).expect("valid datum");
        }
    });
    eprintln!("decode/bid: {allocs:.2} allocations ({bytes:.0} bytes) per record");
    decode.bench_function(BenchmarkId::from_parameter("bid"), |b| {
        b.iter(|| {
            for d in black_box(&datums) {
                decoder.decode(d, &mut row).expect("valid datum");
            }
            black_box(&row);
        })
    });
    decode.finish();

    let mut encode = c.benchmark_group("encode");
    encode.throughput(Throughput::Elements(RECORDS as u64));
    let mut out = Vec::with_capacity(RECORDS * 128);
    let (allocs, bytes) = ferris_tools::alloc::per_item(rows.len(), || {
        out.clear();
        for row in &rows {
            encoder.encode(row, &mut out).expect("encodable row");
        }
    });
    eprintln!("encode/bid: {allocs:.2} allocations ({bytes:.0} bytes) per record");
    assert_eq!(out, datums.concat(), "encoding gives back the datums");
    encode.bench_function(BenchmarkId::from_parameter("bid"), |b| {
        b.iter(|| {
            out.clear();
            for row in black_box(&rows) {
                encoder.encode(row, &mut out).expect("encodable row");
            }
            black_box(out.len());
        })
    });
    encode.finish();
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
    targets = codec
}
criterion_main!(benches);
