//! Differential end-to-end test of a windowed aggregation through `ferris run` against the
//! shared dev broker: the same 1-minute tumbling COUNT/SUM/VWAP per symbol over the same 30,000
//! trades (event times out of order within the allowed bound, plus a sentinel far in the future
//! on every partition) on 1, 2 and 4 shards, each into a sink topic of its own. The three outputs
//! must be the same set of records, and exactly the windows computed here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferris_engine::value::Decimal;
use ferris_tests::kafka::{
    Consumed, FerrisProcess, Outgoing, Trade, broker_or_skip, consume_all, create_topic, produce,
    scratch_dir, trades, unique_name,
};

const PARTITIONS: i32 = 8;
const TRADES: usize = 30_000;
const WINDOW_MS: u64 = 60_000;
/// Event times are moved back by up to this much (deterministically per trade), so records
/// arrive out of order; the job allows 5 s.
const JITTER_MS: u64 = 4_000;
const SHARDS: [usize; 3] = [1, 2, 4];

/// The trade's event time: its generated time moved back by a deterministic jitter.
fn event_time(t: &Trade) -> u64 {
    t.ts - (t.id.wrapping_mul(104_729) % JITTER_MS)
}

fn record(t: &Trade) -> Outgoing {
    let json = format!(
        r#"{{"id":{},"symbol":"{}","price":{},"quantity":{},"account":"{}","event_ts":{}}}"#,
        t.id,
        t.symbol,
        t.price(),
        t.quantity,
        t.key(),
        event_time(t)
    );
    Outgoing {
        partition: t.partition(PARTITIONS),
        key: t.key().into_bytes(),
        payload: json.into_bytes(),
    }
}

/// `(symbol, window start)` -> the expected output record, computed exactly (integer cents,
/// then the engine's decimal division).
fn expected(data: &[Trade]) -> BTreeMap<(String, u64), String> {
    let mut sums: BTreeMap<(String, u64), (u64, u64, u64)> = BTreeMap::new();
    for t in data {
        let start = event_time(t) / WINDOW_MS * WINDOW_MS;
        let e = sums.entry((t.symbol.to_string(), start)).or_default();
        e.0 += t.notional_cents();
        e.1 += t.quantity;
        e.2 += 1;
    }
    sums.into_iter()
        .map(|((symbol, start), (notional, volume, n))| {
            let notional = Decimal::new(i128::from(notional), 2).expect("notional");
            let vwap = notional
                .checked_div(&Decimal::from_i64(volume as i64))
                .expect("vwap");
            let json = format!(
                r#"{{"symbol":"{symbol}","window_start":{start},"window_end":{},"vwap":{vwap},"volume":{volume},"trades":{n}}}"#,
                start + WINDOW_MS
            );
            ((symbol, start), json)
        })
        .collect()
}

fn app(dir: &Path, source: &str, sink: &str) -> PathBuf {
    let sql = format!(
        "CREATE STREAM {sink} AS
         SELECT symbol, _window_start AS window_start, _window_end AS window_end,
                SUM(price * quantity) / SUM(quantity) AS vwap,
                SUM(quantity) AS volume, COUNT(*) AS trades
         FROM {source}
         GROUP BY symbol
         WINDOW TUMBLING(event_ts, INTERVAL '1' MINUTE)
         EMIT FINAL
         WITH ('{source}.type' = 'kafka_source', '{source}.format' = 'json',
               '{sink}.type' = 'kafka_sink', 'watermark.max_out_of_orderness' = '5s',
               'watermark.idle_timeout' = '2m');\n"
    );
    let path = dir.join(format!("{sink}.sql"));
    std::fs::write(&path, sql).expect("write the app");
    path
}

fn ferris_run(name: &str, brokers: &str, app: &Path, shards: usize) -> FerrisProcess {
    let shards = shards.to_string();
    FerrisProcess::spawn(
        name,
        &[
            "run",
            "--brokers",
            brokers,
            "--shards",
            &shards,
            "--batch-size",
            "512",
            "--progress-interval",
            "1",
            "--connect-timeout",
            "10",
            app.to_str().expect("utf-8 path"),
        ],
    )
    .expect("start ferris run")
}

/// The output records by `(symbol, window start)`; every copy of one window must be identical.
fn windows(out: &[Consumed], shards: usize) -> BTreeMap<(String, u64), String> {
    let mut by_key: BTreeMap<(String, u64), String> = BTreeMap::new();
    for c in out {
        let text = c.text();
        let v: serde_json::Value = serde_json::from_str(&text).expect("output is JSON");
        let key = (
            v["symbol"].as_str().expect("symbol").to_string(),
            v["window_start"].as_u64().expect("window_start"),
        );
        if let Some(previous) = by_key.insert(key.clone(), text.clone()) {
            assert_eq!(
                previous, text,
                "{shards} shards: window {key:?} was emitted twice with different contents"
            );
        }
    }
    by_key
}

/// Runs the job on `shards` shards into `sink` until every expected window is out (or a
/// deadline passes), stops it with SIGTERM, and returns the sink's records.
fn run_on(
    brokers: &str,
    source: &str,
    sink: &str,
    shards: usize,
    expected: usize,
) -> Vec<Consumed> {
    create_topic(brokers, sink, PARTITIONS).expect("sink topic");
    let app = app(&scratch_dir().expect("scratch"), source, sink);
    let started = Instant::now();
    let mut ferris = ferris_run(sink, brokers, &app, shards);
    let deadline = started + Duration::from_secs(40);
    let mut out = Vec::new();
    while Instant::now() < deadline {
        out = consume_all(
            brokers,
            sink,
            expected,
            Duration::from_secs(1),
            deadline.saturating_duration_since(Instant::now()),
        )
        .expect("read the sink");
        if windows(&out, shards).len() >= expected {
            break;
        }
        if let Some(status) = ferris.try_status().expect("status") {
            panic!(
                "{shards} shards: ferris exited early ({status}):\n{}",
                ferris.output()
            );
        }
    }
    let windows_done = started.elapsed();
    let status = ferris.terminate(Duration::from_secs(20)).expect("SIGTERM");
    let log = ferris.output();
    assert!(
        status.success(),
        "{shards} shards: exit status {status}:\n{log}"
    );
    assert!(
        windows(&out, shards).len() >= expected,
        "{shards} shards: {} of {expected} windows out after {windows_done:?}:\n{log}",
        windows(&out, shards).len()
    );
    eprintln!(
        "kafka_differential: {shards} shard(s): {} records ({expected} windows) in {windows_done:?}, \
         stopped after {:?}",
        out.len(),
        started.elapsed()
    );
    out
}

#[test]
fn tumbling_vwap_is_the_same_on_1_2_and_4_shards() {
    let Some(brokers) = broker_or_skip("kafka_differential") else {
        return;
    };
    let started = Instant::now();
    // Stream names are SQL identifiers (the topics default to them).
    let source = unique_name("dtrades").replace('-', "_");
    create_topic(&brokers, &source, PARTITIONS).expect("source topic");
    let data = trades(TRADES, 23, 0);
    let expected = expected(&data);
    let mut records: Vec<Outgoing> = data.iter().map(record).collect();
    // One record per partition far in the future moves every partition's watermark past the
    // last real window (its own window never closes, so it is not in the output).
    let last = data.iter().map(|t| t.ts).max().unwrap_or(0);
    for p in 0..PARTITIONS {
        records.push(Outgoing {
            partition: p,
            key: b"END".to_vec(),
            payload: format!(
                r#"{{"id":0,"symbol":"END","price":1.00,"quantity":1,"account":"END","event_ts":{}}}"#,
                last + 10 * WINDOW_MS
            )
            .into_bytes(),
        });
    }
    produce(&brokers, &source, &records).expect("produce trades");
    let wanted: BTreeSet<&String> = expected.values().collect();

    let mut outputs = Vec::new();
    for shards in SHARDS {
        let sink = unique_name(&format!("dvwap{shards}")).replace('-', "_");
        let out = run_on(&brokers, &source, &sink, shards, expected.len());
        let got: BTreeSet<String> = out.iter().map(Consumed::text).collect();
        let missing: Vec<_> = wanted
            .iter()
            .filter(|w| !got.contains(**w))
            .take(3)
            .collect();
        let unexpected: Vec<_> = got.iter().filter(|g| !wanted.contains(g)).take(3).collect();
        assert!(
            missing.is_empty() && unexpected.is_empty(),
            "{shards} shards: {} windows expected, {} distinct records out: missing {missing:?}, \
             unexpected {unexpected:?}",
            wanted.len(),
            got.len()
        );
        outputs.push((shards, got));
    }
    for pair in outputs.windows(2) {
        assert_eq!(
            pair[0].1, pair[1].1,
            "{} and {} shards differ",
            pair[0].0, pair[1].0
        );
    }
    eprintln!(
        "kafka_differential: {} windows identical on {SHARDS:?} shards and as computed, in {:?}",
        expected.len(),
        started.elapsed()
    );
}
