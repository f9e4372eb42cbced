//! `ferris bench kafka` end to end against the local broker: a short paced run of the default
//! job, checked through its `--json` report. Skipped with a message when FERRIS_SKIP_KAFKA=1;
//! fails (saying how to start one) when no broker answers, like the other Kafka tests.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::Command;
use std::time::Duration;

use ferris_tools::trades::{START_MS, TradeGenerator};

fn broker_or_skip(test: &str) -> Option<String> {
    if std::env::var("FERRIS_SKIP_KAFKA").is_ok_and(|v| v == "1") {
        eprintln!("{test}: skipped (FERRIS_SKIP_KAFKA=1)");
        return None;
    }
    let brokers = std::env::var("FERRIS_BROKERS")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "127.0.0.1:9092".to_string());
    let first = brokers
        .split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let reachable = first.to_socket_addrs().is_ok_and(|mut addrs| {
        addrs.any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
    });
    assert!(
        reachable,
        "{test}: no Kafka broker at {first} ($FERRIS_BROKERS). Start the local one with \
         `tools/dev-broker.sh start` (or set FERRIS_SKIP_KAFKA=1 to skip the Kafka tests)"
    );
    Some(brokers)
}

/// What the default job (`price * quantity > 50000`) outputs for the first `n` trades of seed 42.
fn expected_outputs(n: usize) -> u64 {
    TradeGenerator::new(42, START_MS)
        .take(n)
        .filter(|t| t.price_cents * t.quantity > 5_000_000)
        .count() as u64
}

#[test]
fn bench_kafka_reports_latency_throughput_cpu_and_lag() {
    let Some(brokers) = broker_or_skip("bench_kafka") else {
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_ferris"))
        .args([
            "bench",
            "kafka",
            "--records",
            "5000",
            "--rate",
            "2000",
            "--floor-records",
            "2000",
            "--settle",
            "1",
            "--brokers",
            &brokers,
            "--json",
        ])
        .output()
        .expect("ferris runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ferris bench kafka failed:\n{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object: {e}\n{stderr}"));
    let num = |k: &str| {
        v[k].as_f64()
            .unwrap_or_else(|| panic!("'{k}' is not a number in {v}"))
    };

    let expected = expected_outputs(5000);
    assert_eq!(v["records"], 5000);
    assert_eq!(v["records_in"], 5000, "{v}");
    assert_eq!(v["expected_out"], expected);
    assert_eq!(v["records_out"], expected, "{v}");
    assert_eq!(v["engine_records_out"], expected);
    assert_eq!(v["dead_letters"], 0);
    assert_eq!(v["unstamped_out"], 0);

    let (p50, p95, p99, max) = (num("p50_ms"), num("p95_ms"), num("p99_ms"), num("max_ms"));
    assert!(p50 > 0.0 && p50 <= p95 && p95 <= p99 && p99 <= max, "{v}");
    assert!(num("records_per_sec") > 0.0);
    assert!(num("cpu_seconds") > 0.0);
    let floor = &v["floor"];
    assert_eq!(floor["records"], 2000);
    assert_eq!(floor["outputs"], 2000);
    let f = |k: &str| floor[k].as_f64().expect("a floor number");
    assert!(f("p50_ms") > 0.0 && f("p50_ms") <= f("p95_ms") && f("p95_ms") <= f("p99_ms"));

    let lag = v["lag"].as_array().expect("lag samples");
    assert!(lag.len() >= 2, "{v}");
    let last = lag.last().expect("a sample");
    for k in [
        "t_s",
        "produced",
        "engine_in",
        "received",
        "lag_records",
        "rss_kib",
    ] {
        assert!(last.get(k).is_some(), "sample without {k}: {last}");
    }
    assert!(
        v["threads"]
            .as_array()
            .expect("threads")
            .iter()
            .any(|t| t["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("ferris-shard"))),
        "{v}"
    );
    assert!(v["rss_kib_max"].as_u64().is_some_and(|r| r > 0));
}

#[test]
fn a_job_that_does_not_select_sent_us_is_refused() {
    let dir = std::env::temp_dir().join(format!("ferris-bench-kafka-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let job = dir.join("job.sql");
    std::fs::write(&job, "CREATE STREAM o AS SELECT symbol FROM trades;").expect("write job");
    let out = Command::new(env!("CARGO_BIN_EXE_ferris"))
        .args(["bench", "kafka", "--records", "10", "--job"])
        .arg(&job)
        .output()
        .expect("ferris runs");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("sent_us"), "{stderr}");
}
