//! End-to-end checks of the performance presets (`'<job>.preset'`, `ferris run --preset`)
//! against a real broker: a job under a preset runs and writes exactly the expected records
//! (under `auto`, also while its memory budget keeps pausing it), and the string pool a shard
//! decodes through, from its metrics.
//!
//! Without a broker these tests fail and say how to start one; `FERRIS_SKIP_KAFKA=1` skips them.

use std::time::{Duration, Instant};

use ferris_tests::kafka::{
    BigTradesJob, Consumed, FerrisProcess, Outgoing, broker_or_skip, committed_offsets,
    consume_all, create_topic, end_offsets, free_port, http_get, metric_sum, multiset,
    multiset_diff, produce, scratch_dir, trades,
};

const PARTITIONS: i32 = 2;
const TRADES: usize = 5_000;

/// Runs `job` with `extra` flags over fresh trades, checks the output and the commits after
/// SIGTERM, and returns the engine's log.
fn run_job(test: &str, brokers: &str, job: &BigTradesJob, extra: &[&str], seed: u64) -> String {
    run_job_scraping(test, brokers, job, extra, seed, None).0
}

/// Where to scrape `/metrics` (the engine's `--metrics-addr`), and when the text is final.
type Scrape<'a> = (&'a str, fn(&str) -> bool);

/// [`run_job`], and with `metrics` the `/metrics` text once every expected output was read and
/// the text is final (at most 10 s later), before SIGTERM.
fn run_job_scraping(
    test: &str,
    brokers: &str,
    job: &BigTradesJob,
    extra: &[&str],
    seed: u64,
    metrics: Option<Scrape<'_>>,
) -> (String, String) {
    create_topic(brokers, &job.source_topic, PARTITIONS).expect("source topic");
    create_topic(brokers, &job.sink_topic, PARTITIONS).expect("sink topic");
    let data = trades(TRADES, seed, 0);
    let records: Vec<Outgoing> = data.iter().map(|t| t.outgoing(PARTITIONS)).collect();
    produce(brokers, &job.source_topic, &records).expect("produce trades");
    let expected: Vec<String> = data.iter().filter_map(|t| job.expected(t)).collect();
    assert!(!expected.is_empty(), "the filter keeps some trades");

    let app = job
        .write_app(&scratch_dir().expect("scratch"))
        .expect("app");
    let app = app.to_str().expect("utf-8 path");
    let mut args = vec![
        "run",
        "--brokers",
        brokers,
        "--shards",
        "1",
        "--progress-interval",
        "0",
        "--connect-timeout",
        "10",
    ];
    args.extend_from_slice(extra);
    if let Some((addr, _)) = metrics {
        args.extend_from_slice(&["--metrics-addr", addr]);
    }
    args.push(app);
    let started = Instant::now();
    let mut ferris = FerrisProcess::spawn(&job.name, &args).expect("start ferris run");
    let out = consume_all(
        brokers,
        &job.sink_topic,
        expected.len(),
        Duration::from_secs(8),
        Duration::from_secs(30),
    )
    .expect("read the output topic");
    eprintln!(
        "{test}: {} outputs of {TRADES} trades in {:.2?}",
        out.len(),
        started.elapsed()
    );
    let want = multiset(expected);
    let got = multiset(out.iter().map(Consumed::text));
    if let Some(diff) = multiset_diff(&want, &got) {
        panic!(
            "{test}: output topic differs: {diff}\nferris output:\n{}",
            ferris.output()
        );
    }
    let scraped = metrics.map_or_else(String::new, |(addr, done)| {
        // A shard stores its counters after each batch: the last one may land just after the
        // last output is read.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text =
                http_get(addr, "/metrics").unwrap_or_else(|e| panic!("{test}: /metrics: {e}"));
            if done(&text) || Instant::now() >= deadline {
                break text;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let status = ferris.terminate(Duration::from_secs(20)).expect("SIGTERM");
    let log = ferris.output();
    assert!(
        status.success(),
        "{test}: exit {status} after SIGTERM:\n{log}"
    );
    let ends = end_offsets(brokers, &job.source_topic, TRADES).expect("end offsets");
    let committed = committed_offsets(brokers, &job.group(), &job.source_topic).expect("committed");
    assert_eq!(committed, ends, "{test}: committed offsets\n{log}");
    (log, scraped)
}

#[test]
fn a_low_latency_job_runs_and_writes_the_expected_records() {
    let Some(brokers) = broker_or_skip("low_latency") else {
        return;
    };
    let mut job = BigTradesJob::new("preset-ll");
    job.extra_properties
        .push((format!("{}.preset", job.name), "low_latency".to_string()));
    // The statement's preset wins over --preset.
    let log = run_job(
        "low_latency",
        &brokers,
        &job,
        &["--preset", "high_throughput"],
        11,
    );
    assert!(
        log.contains(&format!("ferris run: job {}:", job.name))
            && log.contains("preset low_latency"),
        "the job runs under its own preset:\n{log}"
    );
}

#[test]
fn a_high_throughput_run_compresses_with_lz4_and_writes_the_expected_records() {
    let Some(brokers) = broker_or_skip("high_throughput") else {
        return;
    };
    let job = BigTradesJob::new("preset-ht");
    let log = run_job(
        "high_throughput",
        &brokers,
        &job,
        &["--preset", "high_throughput"],
        12,
    );
    assert!(
        log.contains("preset high_throughput"),
        "--preset applies to a job without its own:\n{log}"
    );
}

#[test]
fn an_auto_job_under_a_tiny_memory_budget_pauses_and_still_writes_every_record() {
    let Some(brokers) = broker_or_skip("auto") else {
        return;
    };
    // A 1 KB budget: nearly every window finds more unacknowledged output than that, so the
    // shard stops consuming until the broker catches up, over and over. Nothing may be lost
    // or stuck: the output is exact and every offset is committed.
    let mut job = BigTradesJob::new("preset-auto");
    job.extra_properties
        .push((format!("{}.memory.max_bytes", job.name), "1KB".to_string()));
    let log = run_job("auto", &brokers, &job, &["--preset", "auto"], 13);
    assert!(log.contains("preset auto"), "{log}");
    assert!(
        log.contains("memory budget reached (")
            && log.contains(&format!("'{}.memory.max_bytes' = 1024 bytes", job.name)),
        "the shard says it paused for its budget:\n{log}"
    );
}

#[test]
fn decoded_strings_come_from_the_shards_string_pool() {
    let Some(brokers) = broker_or_skip("string_pool") else {
        return;
    };
    // `side` is decoded for every record (the WHERE reads it); one shard, so one pool: the
    // first BUY and the first SELL are allocated, every other one is reused.
    let mut job = BigTradesJob::new("string-pool");
    job.decode_side = true;
    let addr = format!("127.0.0.1:{}", free_port().expect("port"));
    let decoded_every_side = |text: &str| {
        metric_sum(text, "ferris_string_pool_hits_total")
            + metric_sum(text, "ferris_string_pool_misses_total")
            >= TRADES as f64
    };
    let (log, metrics) = run_job_scraping(
        "string_pool",
        &brokers,
        &job,
        &[],
        17,
        Some((addr.as_str(), decoded_every_side)),
    );
    let hits = metric_sum(&metrics, "ferris_string_pool_hits_total");
    let misses = metric_sum(&metrics, "ferris_string_pool_misses_total");
    let held = metric_sum(&metrics, "ferris_string_pool_held");
    assert_eq!(
        (hits, misses, held),
        (TRADES as f64 - 2.0, 2.0, 2.0),
        "string pool series:\n{metrics}\n{log}"
    );
}
