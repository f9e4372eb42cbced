//! Protobuf codec cost per record: [`ProtobufDecoder`] and [`ProtobufEncoder`] over a Nexmark
//! Bid, 1024 distinct records (fixed seed, the rows of `ferris_benches::bid_rows`, shared with
//! the Avro bench) per iteration, about 133 bytes each:
//!
//! ```proto
//! message Bid {
//!   int64 auction = 1; int64 bidder = 2; google.type.Decimal price = 3; string channel = 4;
//!   string url = 5; google.protobuf.Timestamp date_time = 6; string extra = 7;
//! }
//! ```
//!
//! with a two-decimal price (`43.82`), a URL of about 70 characters and an `extra` of 0 to 30
//! characters. `decode/bid` decodes all seven fields of each record into one reused row (as a
//! shard does); `encode/bid` writes each record's row (decoded once, before timing) into one
//! reused buffer. Criterion reports records per second (one thread).
//!
//! `cargo bench -p ferris-benches --bench protobuf`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ferris_benches::{BID_FIELDS, bid_rows};
use ferris_engine::codec::protobuf::{MessageRef, ProtoSchema, ProtobufDecoder, ProtobufEncoder};
use ferris_engine::sql::planner::InputField;
use ferris_engine::value::Row;

const RECORDS: usize = 1024;

const BID_PROTO: &str = r#"syntax = "proto3";
package nexmark;

import "google/type/decimal.proto";
import "google/protobuf/timestamp.proto";

message Bid {
  int64 auction = 1;
  int64 bidder = 2;
  google.type.Decimal price = 3;
  string channel = 4;
  string url = 5;
  google.protobuf.Timestamp date_time = 6;
  string extra = 7;
}
"#;

/// Counts allocations, so each workload's allocations per record are printed before it is timed.
#[global_allocator]
static ALLOCATOR: ferris_tools::alloc::Counting = ferris_tools::alloc::Counting;

fn codec(c: &mut Criterion) {
    let schema = ProtoSchema::from_source("bid.proto", BID_PROTO, MessageRef::Name("Bid"))
        .expect("the Bid schema compiles");
    let fields: Vec<InputField> = BID_FIELDS
        .iter()
        .map(|n| InputField {
            name: (*n).to_string(),
            system: None,
        })
        .collect();
    let columns: Vec<String> = BID_FIELDS.iter().map(|n| (*n).to_string()).collect();
    let rows = bid_rows(RECORDS);
    let mut encoder = ProtobufEncoder::new(&schema, &columns).expect("encoder");
    let records: Vec<Vec<u8>> = rows
        .iter()
        .map(|row| {
            let mut out = Vec::new();
            encoder.encode(row, &mut out).expect("encodable row");
            out
        })
        .collect();
    let mean = records.iter().map(Vec::len).sum::<usize>() as f64 / RECORDS as f64;
    eprintln!("bid: {mean:.0} bytes per record");

    let mut decoder = ProtobufDecoder::new(&schema, &fields).expect("decoder");
    let mut row = Row::new();
    for (record, expected) in records.iter().zip(&rows) {
        decoder.decode(record, &mut row).expect("valid record");
        assert_eq!(&row, expected, "decoding gives back the encoded row");
    }
    let (allocs, bytes) = ferris_tools::alloc::per_item(records.len(), || {
        for r in &records {
            decoder.decode(r, &mut row).expect("valid record");
        }
    });
    eprintln!("decode/bid: {allocs:.2} allocations ({bytes:.0} bytes) per record");
    let mut decode = c.benchmark_group("decode");
    decode.throughput(Throughput::Elements(RECORDS as u64));
    decode.bench_function(BenchmarkId::from_parameter("bid"), |b| {
        b.iter(|| {
            for r in black_box(&records) {
                decoder.decode(r, &mut row).expect("valid record");
            }
            black_box(&row);
        })
    });
    decode.finish();

    let mut out = Vec::with_capacity(RECORDS * 160);
    let (allocs, bytes) = ferris_tools::alloc::per_item(rows.len(), || {
        out.clear();
        for row in &rows {
            encoder.encode(row, &mut out).expect("encodable row");
        }
    });
    eprintln!("encode/bid: {allocs:.2} allocations ({bytes:.0} bytes) per record");
    let expected = records.iter().map(Vec::len).sum::<usize>();
    assert_eq!(out.len(), expected, "encoding gives back the same bytes");
    let mut encode = c.benchmark_group("encode");
    encode.throughput(Throughput::Elements(RECORDS as u64));
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
