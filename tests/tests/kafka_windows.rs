//! End-to-end test of a windowed aggregation through `ferris run` against the real broker: a
//! 1-minute tumbling VWAP per symbol over 200,000 trades whose event times arrive out of order,
//! on 2 shards (so symbols are repartitioned between them through the exchange rings), killed
//! with SIGKILL halfway and restarted. The output topic must hold exactly the expected windows;
//! duplicates are allowed only as identical copies of a whole window (docs/sql.md, "Crash
//! safety").

use std::path::Path;
use std::time::{Duration, Instant};

use ferris_tests::kafka::{
    Consumed, FerrisProcess, Outgoing, OwnBroker, broker_or_skip, committed_offsets, consume_all,
    create_topic, produce, scratch_dir, trades, unique_name,
};
use ferris_tests::vwap::{Jitter, sentinels, windows, write_app};

const PARTITIONS: i32 = 8;
const TRADES: usize = 200_000;
/// Event times are moved back by up to 3 s (deterministically per trade), so records arrive
/// out of order; the job allows 5 s.
const JITTER: Jitter = Jitter {
    max_ms: 3_000,
    multiplier: 7_919,
};

fn ferris_run(name: &str, brokers: &str, app: &Path) -> FerrisProcess {
    FerrisProcess::spawn(
        name,
        &[
            "run",
            "--brokers",
            brokers,
            "--shards",
            "2",
            "--batch-size",
            "256",
            "--progress-interval",
            "0.2",
            "--connect-timeout",
            "10",
            app.to_str().expect("utf-8 path"),
        ],
    )
    .expect("start ferris run")
}

/// The records out over all shards, from the last progress line of a `ferris run` log.
fn outputs_reported(log: &str) -> u64 {
    let Some(line) = log.lines().rev().find(|l| l.contains(" rec/s |")) else {
        return 0;
    };
    line.split(" out ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn read_sink(brokers: &str, topic: &str, expected: usize) -> Vec<Consumed> {
    consume_all(
        brokers,
        topic,
        expected,
        Duration::from_secs(3),
        Duration::from_secs(60),
    )
    .expect("read the output topic")
}

#[test]
fn tumbling_vwap_is_exact_across_shards_and_a_kill_9() {
    let Some(_) = broker_or_skip("tumbling_vwap") else {
        return;
    };
    // SQLite storage: the restart resumes from offsets inside record batches (see kafka_e2e).
    let dir = scratch_dir().expect("scratch").join("broker-windows");
    let _ = std::fs::remove_dir_all(&dir);
    let broker = OwnBroker::start(dir).expect("start a broker of our own");
    let brokers = broker.addr();
    // Stream names are SQL identifiers (the topics default to them).
    let source = unique_name("wtrades").replace('-', "_");
    let sink = unique_name("vwap").replace('-', "_");
    create_topic(&brokers, &source, PARTITIONS).expect("source topic");
    create_topic(&brokers, &sink, PARTITIONS).expect("sink topic");

    let data = trades(TRADES, 11, 0);
    let expected = JITTER.expected(&data);
    let records: Vec<Outgoing> = data.iter().map(|t| JITTER.record(t, PARTITIONS)).collect();
    let (first_half, second_half) = records.split_at(records.len() / 2);
    let sentinels = sentinels(&data, PARTITIONS);
    produce(&brokers, &source, first_half).expect("produce the first half");
    let app = write_app(&scratch_dir().expect("scratch"), &source, &sink);

    // First run, over the first half: once windows have gone out and offsets of their records
    // are committed, the second half arrives, and the engine is killed with SIGKILL while it
    // works through it. The last windows cannot close before the sentinels, which come only
    // after the kill, so the kill always lands halfway.
    let mut ferris = ferris_run(&format!("{sink}-1"), &brokers, &app);
    let group = format!("ferris-{sink}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline
        && !(outputs_reported(&ferris.output()) > 0
            && committed_offsets(&brokers, &group, &source)
                .is_ok_and(|c| c.values().sum::<i64>() > 0))
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let out_before = outputs_reported(&ferris.output());
    produce(&brokers, &source, second_half).expect("produce the second half");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && outputs_reported(&ferris.output()) <= out_before {
        std::thread::sleep(Duration::from_millis(20));
    }
    ferris.signal("KILL").expect("kill -9");
    ferris
        .wait_timeout(Duration::from_secs(10))
        .expect("wait")
        .expect("exited after SIGKILL");
    produce(&brokers, &source, &sentinels).expect("produce the sentinels");
    let first_log = ferris.output();
    let first = read_sink(&brokers, &sink, 0);
    assert!(
        !first.is_empty() && first.len() < expected.len(),
        "the kill must land halfway: {} of {} windows out\n{first_log}",
        first.len(),
        expected.len()
    );
    let committed = committed_offsets(&brokers, &group, &source).expect("committed offsets");
    eprintln!(
        "tumbling_vwap: killed with {} of {} windows written, {} offsets committed",
        first.len(),
        expected.len(),
        committed.values().sum::<i64>()
    );

    // Second run: resumes from the committed offsets and completes every window.
    let mut ferris = ferris_run(&format!("{sink}-2"), &brokers, &app);
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline
        && windows(&read_sink(&brokers, &sink, expected.len()), "").len() < expected.len()
    {
        std::thread::sleep(Duration::from_secs(1));
    }
    let status = ferris.terminate(Duration::from_secs(30)).expect("SIGTERM");
    let log = ferris.output();
    assert!(status.success(), "exit status {status}:\n{log}");
    let out = read_sink(&brokers, &sink, expected.len());
    let got = windows(&out, "");
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !got.contains_key(*k))
        .take(5)
        .collect();
    let unexpected: Vec<_> = got
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{} windows expected, {} distinct out: missing {missing:?}, unexpected {unexpected:?}\n\
         first run:\n{first_log}\nsecond run:\n{log}",
        expected.len(),
        got.len()
    );
    for (key, want) in &expected {
        assert_eq!(&got[key], want, "window {key:?}");
    }
    eprintln!(
        "tumbling_vwap: {} windows exact; {} records in the output topic ({} identical duplicates)",
        expected.len(),
        out.len(),
        out.len() - expected.len()
    );
}
