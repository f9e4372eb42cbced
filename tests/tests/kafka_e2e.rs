//! End-to-end tests of `ferris run` against a real Kafka-compatible broker (tansu, started with
//! `tools/dev-broker.sh start`; address from `$FERRIS_BROKERS`, default 127.0.0.1:9092).
//!
//! Without a broker these tests fail and say how to start one; `FERRIS_SKIP_KAFKA=1` skips them.
//! Every test uses topics and groups of its own. The data-heavy tests take a shared lock, so that
//! on a small machine they do not compete for the cores and the broker (their timing assertions
//! stay meaningful); the start-up error tests run beside them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use ferris_tests::kafka::{
    BigTradesJob, Consumed, FerrisProcess, Outgoing, OwnBroker, Trade, broker_or_skip,
    committed_offsets, consume_all, create_topic, end_offsets, ends_of, free_port, http_get, id_of,
    metric_sum, multiset, multiset_diff, produce, scratch_dir, trades,
};

/// Serializes the tests that move a lot of data.
#[expect(
    clippy::disallowed_types,
    reason = "a test-only lock between test threads, not on the data path"
)]
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

const PARTITIONS: i32 = 8;

fn ferris_run(name: &str, brokers: &str, app: &Path, extra: &[&str]) -> FerrisProcess {
    let app = app.to_str().expect("utf-8 path");
    let mut args = vec![
        "run",
        "--brokers",
        brokers,
        "--progress-interval",
        "1",
        "--connect-timeout",
        "10",
    ];
    args.extend_from_slice(extra);
    args.push(app);
    FerrisProcess::spawn(name, &args).expect("start ferris run")
}

/// A fresh data directory for a broker of a test's own.
fn own_broker_dir(name: &str) -> std::path::PathBuf {
    let dir = scratch_dir()
        .expect("scratch")
        .join(format!("broker-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Polls `done` every 50 ms for at most `timeout`; true when it held.
fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn total(offsets: &BTreeMap<i32, i64>) -> i64 {
    offsets.values().sum()
}

/// The expected outputs of `data` under `job`, by trade id.
fn expected_by_id(job: &BigTradesJob, data: &[Trade]) -> BTreeMap<u64, String> {
    data.iter()
        .filter_map(|t| job.expected(t).map(|e| (t.id, e)))
        .collect()
}

/// Every expected output is in `out` (duplicates allowed) and nothing else is.
fn assert_all_present(expected: &BTreeMap<u64, String>, out: &[Consumed], ferris: &str) {
    let got: BTreeSet<String> = out.iter().map(Consumed::text).collect();
    let wanted: BTreeSet<String> = expected.values().cloned().collect();
    let missing: Vec<_> = wanted.difference(&got).take(5).collect();
    let unexpected: Vec<_> = got.difference(&wanted).take(5).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{} expected outputs, {} records read ({} distinct): {} missing (e.g. {missing:?}), \
         {} unexpected (e.g. {unexpected:?})\nferris output:\n{ferris}",
        wanted.len(),
        out.len(),
        got.len(),
        wanted.difference(&got).count(),
        got.difference(&wanted).count(),
    );
}

/// Trade ids by (partition, offset).
type IdsByOffset = BTreeMap<(i32, i64), Option<u64>>;

/// Reads the input topic back: the trade id by (partition, offset), and the end offsets.
fn read_inputs(brokers: &str, topic: &str, count: usize) -> (IdsByOffset, BTreeMap<i32, i64>) {
    let records = consume_all(
        brokers,
        topic,
        count,
        Duration::from_secs(10),
        Duration::from_secs(60),
    )
    .expect("read the input topic");
    assert_eq!(records.len(), count, "records in {topic}");
    let ends = ends_of(&records, PARTITIONS as usize);
    let ids = records
        .into_iter()
        .map(|c| ((c.partition, c.offset), id_of(&c.text())))
        .collect();
    (ids, ends)
}

#[test]
fn end_to_end_filter_projection_two_shards_keeps_key_order_and_commits_everything() {
    let Some(brokers) = broker_or_skip("end_to_end") else {
        return;
    };
    let _heavy = heavy();
    let job = BigTradesJob::new("e2e");
    create_topic(&brokers, &job.source_topic, PARTITIONS).expect("source topic");
    create_topic(&brokers, &job.sink_topic, PARTITIONS).expect("sink topic");
    let data = trades(100_000, 1, 0);
    let records: Vec<Outgoing> = data.iter().map(|t| t.outgoing(PARTITIONS)).collect();
    produce(&brokers, &job.source_topic, &records).expect("produce trades");
    let expected = expected_by_id(&job, &data);
    assert!(
        expected.len() > 20_000 && expected.len() < 80_000,
        "the filter should keep a good part of the trades, keeps {}",
        expected.len()
    );

    let app = job
        .write_app(&scratch_dir().expect("scratch"))
        .expect("app");
    let started = Instant::now();
    let mut ferris = ferris_run(&job.name, &brokers, &app, &["--shards", "2"]);
    let out = consume_all(
        &brokers,
        &job.sink_topic,
        expected.len(),
        Duration::from_secs(30),
        Duration::from_secs(120),
    )
    .expect("read the output topic");
    eprintln!(
        "end_to_end: {} outputs of 100000 trades in {:.2?}",
        out.len(),
        started.elapsed()
    );

    // Exactly the expected records, as a multiset of JSON strings (decimal digits included).
    let want = multiset(expected.values().cloned());
    let got = multiset(out.iter().map(Consumed::text));
    if let Some(diff) = multiset_diff(&want, &got) {
        panic!(
            "output topic differs: {diff}\nferris output:\n{}",
            ferris.output()
        );
    }

    // Output records keep the input key, and each key's outputs keep the input order.
    let mut by_key: BTreeMap<String, (BTreeSet<i32>, Vec<u64>)> = BTreeMap::new();
    for c in &out {
        let id = id_of(&c.text()).expect("id in output");
        let entry = by_key.entry(c.key_text()).or_default();
        entry.0.insert(c.partition);
        entry.1.push(id);
    }
    let mut want_by_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for t in data.iter().filter(|t| job.passes(t)) {
        want_by_key.entry(t.key()).or_default().push(t.id);
    }
    assert_eq!(
        by_key.keys().collect::<Vec<_>>(),
        want_by_key.keys().collect::<Vec<_>>(),
        "output keys are the input keys"
    );
    for (key, (partitions, ids)) in &by_key {
        assert_eq!(
            partitions.len(),
            1,
            "key {key} went to several output partitions: {partitions:?}"
        );
        assert!(
            ids == &want_by_key[key],
            "key {key}: outputs are not in input order (first 10 got {:?}, want {:?})",
            &ids[..ids.len().min(10)],
            &want_by_key[key][..want_by_key[key].len().min(10)]
        );
    }

    // SIGTERM: drain, commit, exit 0; the group's offsets are the end of every partition.
    let status = ferris.terminate(Duration::from_secs(30)).expect("SIGTERM");
    let output = ferris.output();
    assert!(
        status.success(),
        "ferris run exited with {status} after SIGTERM:\n{output}"
    );
    let ends = end_offsets(&brokers, &job.source_topic, data.len()).expect("end offsets");
    let committed =
        committed_offsets(&brokers, &job.group(), &job.source_topic).expect("committed");
    assert_eq!(
        committed,
        ends,
        "committed offsets of {} after SIGTERM vs end offsets\nferris output:\n{output}",
        job.group()
    );
}

#[test]
fn kill_9_never_loses_output_and_a_restart_completes_the_job() {
    let Some(_) = broker_or_skip("kill_9") else {
        return;
    };
    let _heavy = heavy();
    // A broker of this test's own with SQLite storage: tansu 0.6.0's memory storage cannot
    // resume a consumer from an offset inside a record batch (a fetch at offset X returns the
    // batches that *start* at X or later, so the rest of X's batch is never delivered), and the
    // restart below resumes from committed offsets that are mostly inside batches.
    let broker = OwnBroker::start(own_broker_dir("crash")).expect("start a broker of our own");
    let brokers = broker.addr();
    let job = BigTradesJob::new("crash");
    create_topic(&brokers, &job.source_topic, PARTITIONS).expect("source topic");
    create_topic(&brokers, &job.sink_topic, PARTITIONS).expect("sink topic");
    let data = trades(100_000, 2, 0);
    let records: Vec<Outgoing> = data.iter().map(|t| t.outgoing(PARTITIONS)).collect();
    produce(&brokers, &job.source_topic, &records).expect("produce trades");
    let expected = expected_by_id(&job, &data);
    let app = job
        .write_app(&scratch_dir().expect("scratch"))
        .expect("app");

    // Small batches so that the kill lands in the middle of the work: at the first commit.
    let mut ferris = ferris_run(
        &format!("{}-1", job.name),
        &brokers,
        &app,
        &["--shards", "2", "--batch-size", "64"],
    );
    let some_output = wait_for(Duration::from_secs(60), || {
        committed_offsets(&brokers, &job.group(), &job.source_topic).is_ok_and(|c| total(&c) > 0)
    });
    assert!(some_output, "no commits within 60 s:\n{}", ferris.output());
    ferris.signal("KILL").expect("kill -9");
    let status = ferris
        .wait_timeout(Duration::from_secs(10))
        .expect("wait")
        .expect("exited after SIGKILL");
    let first_output = ferris.output();

    // Committed offsets never run ahead of delivered output.
    let committed =
        committed_offsets(&brokers, &job.group(), &job.source_topic).expect("committed");
    let (inputs, ends) = read_inputs(&brokers, &job.source_topic, data.len());
    let out = consume_all(
        &brokers,
        &job.sink_topic,
        expected.len(),
        Duration::from_secs(3),
        Duration::from_secs(60),
    )
    .expect("read the output topic");
    eprintln!(
        "kill_9: killed ({status}) with {} of {} outputs written",
        out.len(),
        expected.len()
    );
    assert!(
        out.len() < expected.len(),
        "the job finished before the kill; the crash test needs a slower job"
    );
    let delivered: BTreeSet<u64> = out.iter().filter_map(|c| id_of(&c.text())).collect();
    let mut covered = 0;
    for ((partition, offset), id) in &inputs {
        let id = id.expect("every input has an id");
        if *offset < committed.get(partition).copied().unwrap_or(0) && expected.contains_key(&id) {
            covered += 1;
            assert!(
                delivered.contains(&id),
                "partition {partition} is committed up to {} but the output of offset {offset} \
                 (trade {id}) is not in the output topic\nferris output:\n{first_output}",
                committed[partition]
            );
        }
    }
    eprintln!(
        "kill_9: committed {} of {} input offsets; {covered} committed outputs all present",
        total(&committed),
        data.len()
    );

    // A restart resumes from the committed offsets and completes the job.
    let mut ferris = ferris_run(
        &format!("{}-2", job.name),
        &brokers,
        &app,
        &["--shards", "2"],
    );
    let caught_up = wait_for(Duration::from_secs(90), || {
        committed_offsets(&brokers, &job.group(), &job.source_topic).is_ok_and(|c| c == ends)
    });
    assert!(
        caught_up,
        "the restarted job did not commit every input within 90 s:\n{}",
        ferris.output()
    );
    let status = ferris.terminate(Duration::from_secs(30)).expect("SIGTERM");
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        ferris.output()
    );
    let out = consume_all(
        &brokers,
        &job.sink_topic,
        expected.len(),
        Duration::from_secs(5),
        Duration::from_secs(60),
    )
    .expect("read the output topic");
    assert_all_present(&expected, &out, &ferris.output());
    eprintln!(
        "kill_9: {} outputs after the restart for {} expected ({} duplicates)",
        out.len(),
        expected.len(),
        out.len() - expected.len()
    );
}

#[test]
fn broker_restart_mid_run_recovers_without_losing_output() {
    let Some(_) = broker_or_skip("broker_restart") else {
        return;
    };
    let _heavy = heavy();
    // A broker of this test's own, with SQLite storage so that its data survives the restart.
    let broker = OwnBroker::start(own_broker_dir("restart")).expect("start a broker of our own");
    let brokers = broker.addr();
    let job = BigTradesJob::new("restart");
    create_topic(&brokers, &job.source_topic, 4).expect("source topic");
    create_topic(&brokers, &job.sink_topic, 4).expect("sink topic");
    // Enough that the broker goes down in the middle of the first part.
    let first = trades(50_000, 3, 0);
    let second = trades(10_000, 4, 50_000);
    let records: Vec<Outgoing> = first.iter().map(|t| t.outgoing(4)).collect();
    produce(&brokers, &job.source_topic, &records).expect("produce the first trades");
    let app = job
        .write_app(&scratch_dir().expect("scratch"))
        .expect("app");
    // Small batches so that the broker goes down in the middle of the work; the engine's own
    // metrics tell when it is there (the broker's listed offsets lag, see listed_end_offsets).
    let metrics = format!("127.0.0.1:{}", free_port().expect("port"));
    let mut ferris = ferris_run(
        &job.name,
        &brokers,
        &app,
        &[
            "--shards",
            "2",
            "--batch-size",
            "64",
            "--metrics-addr",
            &metrics,
        ],
    );
    let mut sent = 0.0;
    let some_output = wait_for(Duration::from_secs(60), || {
        sent = http_get(&metrics, "/metrics")
            .map_or(0.0, |m| metric_sum(&m, "ferris_records_out_total"));
        sent >= 5000.0
    });
    assert!(some_output, "no output within 60 s:\n{}", ferris.output());

    // A crash (SIGKILL), not SIGTERM: tansu 0.6.0 with SQLite storage, on SIGTERM, stops its
    // storage first and keeps answering requests with errors (Produce: a non-retriable
    // UNKNOWN_SERVER_ERROR) before it hangs; that tests tansu's shutdown, not our recovery.
    broker.script("kill").expect("kill the broker");
    eprintln!(
        "broker_restart: broker killed after {sent} of {} outputs were sent",
        expected_by_id(&job, &first).len()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        ferris.try_status().expect("status").is_none(),
        "ferris run exited while the broker was down:\n{}",
        ferris.output()
    );
    broker.script("start").expect("start the broker again");
    let kept = consume_all(
        &brokers,
        &job.source_topic,
        first.len(),
        Duration::from_secs(5),
        Duration::from_secs(60),
    )
    .map_or(0, |r| r.len());
    assert_eq!(
        kept,
        first.len(),
        "the broker lost records across its restart\nbroker log:\n{}",
        broker.log()
    );
    let records: Vec<Outgoing> = second.iter().map(|t| t.outgoing(4)).collect();
    produce(&brokers, &job.source_topic, &records).expect("produce the second trades");

    let mut expected = expected_by_id(&job, &first);
    expected.extend(expected_by_id(&job, &second));
    let ends =
        end_offsets(&brokers, &job.source_topic, first.len() + second.len()).expect("end offsets");
    let caught_up = wait_for(Duration::from_secs(90), || {
        committed_offsets(&brokers, &job.group(), &job.source_topic).is_ok_and(|c| c == ends)
    });
    let out = consume_all(
        &brokers,
        &job.sink_topic,
        expected.len(),
        Duration::from_secs(5),
        Duration::from_secs(60),
    )
    .expect("read the output topic");
    assert_all_present(&expected, &out, &ferris.output());
    assert!(
        caught_up,
        "all output is there but the job did not commit every input within 90 s:\n{}",
        ferris.output()
    );
    let status = ferris.terminate(Duration::from_secs(30)).expect("SIGTERM");
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        ferris.output()
    );
    eprintln!(
        "broker_restart: {} outputs for {} expected",
        out.len(),
        expected.len()
    );
}

#[test]
fn malformed_and_failing_records_go_to_the_dead_letter_topic_with_reasons() {
    let Some(brokers) = broker_or_skip("dead_letters") else {
        return;
    };
    let _heavy = heavy();
    let job = BigTradesJob::new("dlq");
    create_topic(&brokers, &job.source_topic, PARTITIONS).expect("source topic");
    create_topic(&brokers, &job.sink_topic, PARTITIONS).expect("sink topic");
    create_topic(&brokers, &job.dlq_topic(), 1).expect("dead-letter topic");
    let data = trades(20_000, 5, 0);
    // 1% bad: every 200th trade is cut short (malformed JSON), every 200th (shifted by 100) has
    // its price as a string (a type error in `price * quantity`).
    let mut records = Vec::with_capacity(data.len());
    let mut bad: BTreeMap<Vec<u8>, &str> = BTreeMap::new();
    let mut expected = BTreeMap::new();
    for t in &data {
        let mut record = t.outgoing(PARTITIONS);
        match t.id % 200 {
            37 => {
                let json = t.json();
                record.payload = json.as_bytes()[..json.len() - 12].to_vec();
                bad.insert(record.payload.clone(), "malformed JSON");
            }
            137 => {
                record.payload = t
                    .json()
                    .replace(
                        &format!("\"price\":{}", t.price()),
                        &format!("\"price\":\"{}\"", t.price()),
                    )
                    .into_bytes();
                bad.insert(record.payload.clone(), "type error");
            }
            _ => {
                if let Some(e) = job.expected(t) {
                    expected.insert(t.id, e);
                }
            }
        }
        records.push(record);
    }
    assert_eq!(bad.len(), 200);
    produce(&brokers, &job.source_topic, &records).expect("produce trades");
    // Where each record landed, to check the dead letters' source headers.
    let landed: BTreeMap<Vec<u8>, (i32, i64, Vec<u8>)> = consume_all(
        &brokers,
        &job.source_topic,
        records.len(),
        Duration::from_secs(10),
        Duration::from_secs(60),
    )
    .expect("read the input topic")
    .into_iter()
    .map(|c| {
        (
            c.payload.clone().unwrap_or_default(),
            (c.partition, c.offset, c.key.clone().unwrap_or_default()),
        )
    })
    .collect();

    let app = job
        .write_app(&scratch_dir().expect("scratch"))
        .expect("app");
    let mut ferris = ferris_run(&job.name, &brokers, &app, &["--shards", "2"]);
    let out = consume_all(
        &brokers,
        &job.sink_topic,
        expected.len(),
        Duration::from_secs(30),
        Duration::from_secs(120),
    )
    .expect("read the output topic");
    let dead = consume_all(
        &brokers,
        &job.dlq_topic(),
        bad.len(),
        Duration::from_secs(10),
        Duration::from_secs(60),
    )
    .expect("read the dead-letter topic");
    let status = ferris.terminate(Duration::from_secs(30)).expect("SIGTERM");
    let output = ferris.output();
    assert!(status.success(), "exit status {status}:\n{output}");

    let want = multiset(expected.values().cloned());
    let got = multiset(out.iter().map(Consumed::text));
    if let Some(diff) = multiset_diff(&want, &got) {
        panic!("output topic differs: {diff}\nferris output:\n{output}");
    }

    let dead_payloads = multiset(dead.iter().map(Consumed::text));
    let bad_payloads = multiset(bad.keys().map(|p| String::from_utf8_lossy(p).into_owned()));
    if let Some(diff) = multiset_diff(&bad_payloads, &dead_payloads) {
        panic!("dead-letter topic differs: {diff}\nferris output:\n{output}");
    }
    for d in &dead {
        let payload = d.payload.clone().unwrap_or_default();
        let reason = bad[&payload];
        let (partition, offset, key) = &landed[&payload];
        let error = d.header("ferris.error").unwrap_or_default();
        assert!(
            error.contains(reason),
            "dead letter {} has ferris.error {error:?}, which does not say {reason:?}",
            d.text()
        );
        assert_eq!(
            d.key.as_deref(),
            Some(&key[..]),
            "dead letter {} keeps its key",
            d.text()
        );
        assert_eq!(d.header("ferris.job").as_deref(), Some(job.name.as_str()));
        assert_eq!(
            d.header("ferris.source.topic").as_deref(),
            Some(job.source_topic.as_str())
        );
        assert_eq!(
            d.header("ferris.source.partition"),
            Some(partition.to_string()),
            "partition header of {}",
            d.text()
        );
        assert_eq!(
            d.header("ferris.source.offset"),
            Some(offset.to_string()),
            "offset header of {}",
            d.text()
        );
    }
    let ends = end_offsets(&brokers, &job.source_topic, records.len()).expect("end offsets");
    let committed =
        committed_offsets(&brokers, &job.group(), &job.source_topic).expect("committed");
    assert_eq!(committed, ends, "dead letters are committed too\n{output}");
}

#[test]
fn two_processes_in_one_group_share_the_work() {
    let Some(brokers) = broker_or_skip("scale_out") else {
        return;
    };
    let _heavy = heavy();
    let mut job = BigTradesJob::new("group");
    job.extra_properties
        .push(("trades.session.timeout.ms".into(), "6000".into()));
    create_topic(&brokers, &job.source_topic, PARTITIONS).expect("source topic");
    create_topic(&brokers, &job.sink_topic, PARTITIONS).expect("sink topic");
    let app = job
        .write_app(&scratch_dir().expect("scratch"))
        .expect("app");
    let group = format!("{}-g", job.name);
    let metrics: Vec<String> = (0..2)
        .map(|_| format!("127.0.0.1:{}", free_port().expect("port")))
        .collect();
    let mut processes: Vec<FerrisProcess> = metrics
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            ferris_run(
                &format!("{}-{i}", job.name),
                &brokers,
                &app,
                &["--group", &group, "--shards", "1", "--metrics-addr", addr],
            )
        })
        .collect();
    let up = wait_for(Duration::from_secs(20), || {
        metrics.iter().all(|m| http_get(m, "/health").is_ok())
    });
    assert!(
        up,
        "metrics endpoints did not come up:\n{}\n{}",
        processes[0].output(),
        processes[1].output()
    );
    // Tansu's group join takes about half of session.timeout.ms; let both members settle.
    std::thread::sleep(Duration::from_secs(10));

    let data = trades(20_000, 6, 0);
    let records: Vec<Outgoing> = data.iter().map(|t| t.outgoing(PARTITIONS)).collect();
    produce(&brokers, &job.source_topic, &records).expect("produce trades");
    let expected = expected_by_id(&job, &data);
    let out = consume_all(
        &brokers,
        &job.sink_topic,
        expected.len(),
        Duration::from_secs(30),
        Duration::from_secs(120),
    )
    .expect("read the output topic");
    let records_in: Vec<f64> = metrics
        .iter()
        .map(|m| {
            metric_sum(
                &http_get(m, "/metrics").expect("metrics"),
                "ferris_records_in_total",
            )
        })
        .collect();
    let outputs: Vec<String> = processes.iter().map(FerrisProcess::output).collect();
    for p in &mut processes {
        let status = p.terminate(Duration::from_secs(30)).expect("SIGTERM");
        assert!(status.success(), "exit status {status}:\n{}", p.output());
    }
    eprintln!("scale_out: records in per process {records_in:?}");

    let want = multiset(expected.values().cloned());
    let got = multiset(out.iter().map(Consumed::text));
    if let Some(diff) = multiset_diff(&want, &got) {
        panic!(
            "output topic differs: {diff}\nfirst process:\n{}\nsecond process:\n{}",
            outputs[0], outputs[1]
        );
    }
    assert_eq!(
        records_in.iter().sum::<f64>(),
        data.len() as f64,
        "records in across both processes"
    );
    assert!(
        records_in.iter().all(|n| *n > 0.0),
        "each process should have processed some records: {records_in:?}\n{}\n{}",
        outputs[0],
        outputs[1]
    );
}

#[test]
fn unreachable_broker_fails_fast_with_a_clear_message() {
    if std::env::var("FERRIS_SKIP_KAFKA").is_ok_and(|v| v == "1") {
        eprintln!("unreachable_broker: skipped (FERRIS_SKIP_KAFKA=1)");
        return;
    }
    let job = BigTradesJob::new("nobroker");
    let app = job
        .write_app(&scratch_dir().expect("scratch"))
        .expect("app");
    let started = Instant::now();
    let mut ferris = FerrisProcess::spawn(
        &job.name,
        &[
            "run",
            "--brokers",
            "127.0.0.1:1",
            "--connect-timeout",
            "2",
            app.to_str().expect("utf-8"),
        ],
    )
    .expect("spawn");
    let status = ferris
        .wait_timeout(Duration::from_secs(10))
        .expect("wait")
        .unwrap_or_else(|| panic!("still running after 10 s:\n{}", ferris.output()));
    let output = ferris.output();
    assert_eq!(status.code(), Some(1), "exit status:\n{output}");
    assert!(
        output.contains("error: configuration error: cannot reach Kafka at 127.0.0.1:1"),
        "message:\n{output}"
    );
    eprintln!("unreachable_broker: exit 1 after {:.2?}", started.elapsed());
}

#[test]
fn missing_source_topic_fails_naming_it() {
    let Some(brokers) = broker_or_skip("missing_topic") else {
        return;
    };
    let job = BigTradesJob::new("notopic");
    let app = job
        .write_app(&scratch_dir().expect("scratch"))
        .expect("app");
    let mut ferris = ferris_run(&job.name, &brokers, &app, &["--shards", "1"]);
    let status = ferris
        .wait_timeout(Duration::from_secs(20))
        .expect("wait")
        .unwrap_or_else(|| panic!("still running after 20 s:\n{}", ferris.output()));
    let output = ferris.output();
    assert_eq!(status.code(), Some(1), "exit status:\n{output}");
    assert!(
        output.contains("error:") && output.contains(&job.source_topic),
        "the error should name the topic {}:\n{output}",
        job.source_topic
    );
}
