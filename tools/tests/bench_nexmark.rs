//! `ferris bench nexmark`: the JSON report, exact results against a direct computation over the
//! generated events (`--verify`), and the refusal of queries the engine cannot run yet.

use std::process::Command;

fn ferris(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ferris"))
        .args(args)
        .output()
        .expect("ferris runs")
}

fn json_report(args: &[&str]) -> serde_json::Value {
    let out = ferris(args);
    assert!(
        out.status.success(),
        "ferris {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let line = stdout.trim();
    assert_eq!(line.lines().count(), 1, "one JSON object: {stdout}");
    serde_json::from_str(line).expect("valid JSON")
}

#[test]
fn q1_json_report_has_the_fields() {
    let v = json_report(&[
        "bench", "nexmark", "--query", "q1", "--events", "20000", "--json",
    ]);
    assert_eq!(v["query"], "q1");
    assert_eq!(v["events"], 20000);
    assert_eq!(v["shards"], 1);
    for field in [
        "seconds",
        "events_per_sec",
        "p50_us",
        "p95_us",
        "p99_us",
        "allocs_per_event",
        "peak_rss_bytes",
    ] {
        let x = v[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} is a number in {v}"));
        assert!(x > 0.0, "{field} = {x}");
    }
    assert!(v["p50_us"].as_f64() <= v["p99_us"].as_f64());
    // 1 person : 3 auctions : 46 bids in every 50 events.
    assert_eq!(v["bids"], 18400);
    // q1 keeps every bid.
    assert_eq!(v["output_rows"], 18400);
    assert_eq!(v["errors"], 0);
}

#[test]
fn q1_and_q2_results_match_a_direct_computation() {
    // --verify compares every result line with one computed from the event itself: q1's
    // price * 0.908 as an exact decimal (integer price * 908, three fractional digits), q2's
    // auction % 123 = 0 filter. A difference fails the run.
    for shards in ["1", "2"] {
        let q1 = json_report(&[
            "bench", "nexmark", "--query", "q1", "--events", "20000", "--shards", shards,
            "--verify", "--json",
        ]);
        assert_eq!(q1["events"], 20000);
        assert_eq!(q1["verified_rows"], 18400, "{q1}");
        let q2 = json_report(&[
            "bench", "nexmark", "--query", "q2", "--events", "20000", "--shards", shards,
            "--verify", "--json",
        ]);
        assert_eq!(q2["verified_rows"], q2["output_rows"], "{q2}");
        assert!(q2["output_rows"].as_u64().expect("count") > 0, "{q2}");
    }
}

#[test]
fn windowed_and_pooled_variants_verify() {
    for args in [
        &["--query", "q0", "--date-time", "bigint"][..],
        &[
            "--query",
            "q1",
            "--date-time",
            "bigint",
            "--fresh-output-rows",
        ][..],
        &["--query", "q5"][..],
        &["--query", "q7"][..],
    ] {
        let mut all = vec![
            "bench", "nexmark", "--events", "30000", "--verify", "--json",
        ];
        all.extend_from_slice(args);
        let v = json_report(&all);
        assert_eq!(v["verified_rows"], v["output_rows"], "{args:?}: {v}");
        assert!(
            v["output_rows"].as_u64().expect("count") > 0,
            "{args:?}: {v}"
        );
    }
}

#[test]
fn q1_allocates_at_most_once_per_event() {
    // The Nexmark default: TIMESTAMP date_time, one reused output row per shard.
    let v = json_report(&[
        "bench", "nexmark", "--query", "q1", "--events", "50000", "--json",
    ]);
    let allocs = v["allocs_per_event"].as_f64().expect("number");
    assert!(allocs <= 1.0, "allocs per event {allocs}");
}

#[test]
fn joins_are_refused_clearly() {
    for q in ["q3", "q4", "q8"] {
        let out = ferris(&["bench", "nexmark", "--query", q, "--events", "1000"]);
        assert!(!out.status.success(), "{q} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{q} (")) && err.contains("not supported yet (joins)"),
            "{q}: {err}"
        );
    }
    let out = ferris(&["bench", "nexmark", "--query", "q99"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown Nexmark query"));
    let out = ferris(&["bench", "nexmark", "--query", "q5", "--shards", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("one shard only"));
}
