//! JSON codec cost per record: [`JsonDecoder`] and [`JsonEncoder`] over two record shapes, 1024
//! distinct records (fixed seed) per iteration.
//!
//! - `bid`: a Nexmark Bid, seven fields, about 190 bytes:
//!   `{"auction":1007,"bidder":2042,"price":4382,"channel":"channel-3","url":"https://www.nexmark.com/...","dateTime":1767225600000,"extra":""}`.
//! - `trade`: the `ferris gen trades` record, six fields, about 100 bytes, with a DECIMAL price:
//!   `{"symbol":"AAPL","price":187.25,"quantity":100,"side":"BUY","ts":1767225600000,"account":"ACC-0042"}`.
//!
//! `decode/*` decodes every field of each record into one reused row (as a shard does);
//! `encode/*` writes each record's row (decoded once, before timing) as a JSON line into one
//! reused buffer. Criterion reports records per second (one thread).
//!
//! `cargo bench -p ferris-benches --bench json`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ferris_benches::Rng;
use ferris_engine::codec::json::{JsonDecoder, JsonEncoder};
use ferris_engine::sql::planner::InputField;
use ferris_engine::value::Row;
use ferris_tools::trades::{START_MS, write_trades};

const RECORDS: usize = 1024;

const BID_FIELDS: [&str; 7] = [
    "auction", "bidder", "price", "channel", "url", "dateTime", "extra",
];
const TRADE_FIELDS: [&str; 6] = ["symbol", "price", "quantity", "side", "ts", "account"];

/// Counts allocations, so each workload's allocations per record are printed before it is timed.
#[global_allocator]
static ALLOCATOR: ferris_tools::alloc::Counting = ferris_tools::alloc::Counting;

/// Nexmark-shaped bids, one JSON object per entry.
fn bids() -> Vec<String> {
    let mut rng = Rng(7);
    (0..RECORDS)
        .map(|i| {
            let auction = 1000 + rng.below(100);
            let bidder = 2000 + rng.below(1000);
            let price = 100 + rng.below(10_000);
            let channel = rng.below(10);
            let query = rng.below(1 << 20);
            format!(
                "{{\"auction\":{auction},\"bidder\":{bidder},\"price\":{price},\
                 \"channel\":\"channel-{channel}\",\
                 \"url\":\"https://www.nexmark.com/hmq/lvmc/qyfl/item.htm?query={query}&channel_id={channel}\",\
                 \"dateTime\":{},\"extra\":\"\"}}",
                START_MS + i as u64
            )
        })
        .collect()
}

/// The trades `ferris gen trades --seed 42` writes, one JSON object per entry.
fn trades() -> Vec<String> {
    let mut text = Vec::new();
    write_trades(RECORDS as u64, 42, &mut text).expect("writing to memory");
    String::from_utf8(text)
        .expect("the trades are UTF-8")
        .lines()
        .map(String::from)
        .collect()
}

fn fields(names: &[&str]) -> Vec<InputField> {
    names
        .iter()
        .map(|n| InputField {
            name: (*n).to_string(),
            system: None,
        })
        .collect()
}

fn codec(c: &mut Criterion) {
    let shapes: [(&str, &[&str], Vec<String>); 2] = [
        ("bid", &BID_FIELDS, bids()),
        ("trade", &TRADE_FIELDS, trades()),
    ];
    let mut decode = c.benchmark_group("decode");
    decode.throughput(Throughput::Elements(RECORDS as u64));
    for (name, names, records) in &shapes {
        let mut decoder = JsonDecoder::new(&fields(names));
        let mut row = Row::new();
        decoder
            .decode(records[0].as_bytes(), &mut row)
            .expect("valid record");
        assert!(
            row.iter().all(|v| !v.is_null()),
            "every field decodes: {row:?}"
        );
        let (allocs, bytes) = ferris_tools::alloc::per_item(records.len(), || {
            for r in records {
                decoder
                    .decode(r.as_bytes(), &mut row)
                    .expect("valid record");
            }
        });
        eprintln!("decode/{name}: {allocs:.2} allocations ({bytes:.0} bytes) per record");
        decode.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                for r in black_box(records) {
                    decoder
                        .decode(r.as_bytes(), &mut row)
                        .expect("valid record");
                }
                black_box(&row);
            })
        });
    }
    decode.finish();

    let mut encode = c.benchmark_group("encode");
    encode.throughput(Throughput::Elements(RECORDS as u64));
    for (name, names, records) in &shapes {
        let mut decoder = JsonDecoder::new(&fields(names));
        let rows: Vec<Row> = records
            .iter()
            .map(|r| {
                let mut row = Row::new();
                decoder
                    .decode(r.as_bytes(), &mut row)
                    .expect("valid record");
                row
            })
            .collect();
        let columns: Vec<String> = names.iter().map(|n| (*n).to_string()).collect();
        let mut encoder = JsonEncoder::new(&columns);
        let mut out = Vec::with_capacity(RECORDS * 256);
        for row in &rows {
            encoder.encode(row, &mut out).expect("encodable row");
            out.push(b'\n');
        }
        let (allocs, bytes) = ferris_tools::alloc::per_item(rows.len(), || {
            out.clear();
            for row in &rows {
                encoder.encode(row, &mut out).expect("encodable row");
                out.push(b'\n');
            }
        });
        eprintln!("encode/{name}: {allocs:.2} allocations ({bytes:.0} bytes) per record");
        let expected = records.iter().map(|r| r.len() + 1).sum::<usize>();
        assert_eq!(out.len(), expected, "encoding gives back the input's bytes");
        encode.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                out.clear();
                for row in black_box(&rows) {
                    encoder.encode(row, &mut out).expect("encodable row");
                    out.push(b'\n');
                }
                black_box(out.len());
            })
        });
    }
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
