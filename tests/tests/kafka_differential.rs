//! Differential end-to-end test of a windowed aggregation through `ferris run` against the
//! shared dev broker: the same 1-minute tumbling COUNT/SUM/VWAP per symbol over the same 30,000
//! trades (event times out of order within the allowed bound, plus a sentinel far in the future
//! on every partition) on 1, 2 and 4 shards, each into a sink topic of its own. The three outputs
//! must be the same set of records, and exactly the windows computed here.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use ferris_tests::kafka::{
    Consumed, FerrisProcess, Outgoing, broker_or_skip, consume_all, create_topic, produce,
    scratch_dir, trades, unique_name,
};
use ferris_tests::vwap::{Jitter, sentinels, windows, write_app};

const PARTITIONS: i32 = 8;
const TRADES: usize = 30_000;
/// Event times are moved back by up to 4 s (deterministically per trade), so records arrive
/// out of order; the job allows 5 s.
const JITTER: Jitter = Jitter {
    max_ms: 4_000,
    multiplier: 104_729,
};
const SHARDS: [usize; 3] = [1, 2, 4];

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
    let app = write_app(&scratch_dir().expect("scratch"), source, sink);
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
        if windows(&out, &format!("{shards} shards: ")).len() >= expected {
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
        windows(&out, &format!("{shards} shards: ")).len() >= expected,
        "{shards} shards: {} of {expected} windows out after {windows_done:?}:\n{log}",
        windows(&out, &format!("{shards} shards: ")).len()
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
    let expected = JITTER.expected(&data);
    let mut records: Vec<Outgoing> = data.iter().map(|t| JITTER.record(t, PARTITIONS)).collect();
    records.extend(sentinels(&data, PARTITIONS));
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
