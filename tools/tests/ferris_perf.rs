//! Black-box tests of the `ferris-perf` binary. They must pass on a VM without a PMU and
//! without privileges: where perf events cannot be opened, the `/proc` fallback still lists the
//! command's thread with its CPU time.

use std::process::{Command, Output};

const BUSY_LOOP: &str = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done";

fn ferris_perf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferris-perf"))
        .args(args)
        .output()
        .expect("run ferris-perf")
}

fn json_of(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// The checks common to the perf-event and the `/proc`-only runs of the busy loop.
fn check_busy_loop(report: &serde_json::Value) -> &serde_json::Value {
    assert_eq!(report["ended"], "exited with status 0", "{report:#}");
    let threads = report["threads"].as_array().expect("threads");
    assert_eq!(
        threads.len(),
        1,
        "sh -c with builtins only is one thread: {report:#}"
    );
    let sh = &threads[0];
    assert_eq!(sh["name"], "sh");
    assert_eq!(sh["tid"], report["pid"]);
    let cpu_ms = sh["cpu_ms"].as_f64().expect("cpu_ms");
    assert!(cpu_ms > 0.0, "the busy loop used no CPU? {report:#}");
    assert!(sh["context_switches"].is_u64());
    assert!(sh["page_faults"].is_u64());
    assert!(sh["proc"]["minor_faults"].is_u64());
    // Per-core utilisation of every core.
    let cores = report["cores"].as_array().expect("cores");
    assert!(!cores.is_empty());
    for core in cores {
        let busy = core["busy_pct"].as_f64().expect("busy_pct");
        assert!((0.0..=100.0).contains(&busy), "{core}");
    }
    // Hardware counters: either there, or a reason in the output.
    let hw = &report["hardware_counters"];
    if hw["available"] == false {
        assert!(hw["reason"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(
            report["hardware_line"]
                .as_str()
                .is_some_and(|l| l.starts_with("hardware counters unavailable: "))
        );
        assert!(sh["cycles"].is_null() && sh["ipc"].is_null());
    }
    sh
}

#[test]
fn command_json_lists_its_thread_with_cpu_time_and_counters() {
    let out = ferris_perf(&["--json", "--", "sh", "-c", BUSY_LOOP]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out);
    let sh = check_busy_loop(&report);
    let sw = &report["software_counters"];
    if sw["available"] == true {
        // perf software events: task-clock gives the CPU time, migrations are counted.
        assert_eq!(sh["cpu_ms_source"], "task-clock");
        assert!(sh["cpu_migrations"].is_u64());
    } else {
        // The documented fallback: say why, and use /proc.
        assert!(
            report["software_line"]
                .as_str()
                .is_some_and(|l| l.starts_with("software counters unavailable: ")
                    && l.contains("using /proc instead")),
            "{report:#}"
        );
        assert_eq!(sh["cpu_ms_source"], "proc");
    }
}

#[test]
fn proc_only_fallback_still_reports() {
    let out = ferris_perf(&["--json", "--no-perf", "--", "sh", "-c", BUSY_LOOP]);
    assert_eq!(out.status.code(), Some(0));
    let report = json_of(&out);
    let sh = check_busy_loop(&report);
    assert_eq!(sh["cpu_ms_source"], "proc");
    assert!(sh["cpu_migrations"].is_null());
    assert_eq!(report["software_counters"]["available"], false);
    assert!(
        report["software_line"]
            .as_str()
            .is_some_and(|l| l.contains("using /proc instead"))
    );
}

#[test]
fn table_output_has_the_thread_and_core_tables() {
    let out = ferris_perf(&["--", "sh", "-c", BUSY_LOOP]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("thread"), "{text}");
    assert!(text.contains("cpu-ms") && text.contains("ctx-sw") && text.contains("IPC"));
    assert!(text.contains("\nsh "), "{text}");
    assert!(text.contains("core") && text.contains("busy%") && text.contains("cpu0"));
    assert!(
        text.contains("hardware counters unavailable: ") || text.contains("hardware counters: ")
    );
}

#[test]
fn command_exit_status_is_passed_through() {
    let out = ferris_perf(&["--json", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(json_of(&out)["ended"], "exited with status 3");
}

#[test]
fn attaching_to_a_pid_with_intervals() {
    let mut sleeper = Command::new("sleep").arg("5").spawn().expect("sleep");
    let pid = sleeper.id().to_string();
    let out = ferris_perf(&[
        "--json",
        "--pid",
        &pid,
        "--interval",
        "0.2",
        "--duration",
        "0.5",
    ]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let reports: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert!(reports.len() >= 3, "two intervals and the total: {stdout}");
    let last = reports.last().unwrap();
    assert!(last["interval"].is_null());
    assert_eq!(last["ended"], "--duration reached");
    assert_eq!(reports[0]["interval"], 1);
    assert_eq!(last["threads"][0]["name"], "sleep");
}

#[test]
fn nonexistent_pid_is_a_clear_error() {
    // Above the kernel's pid_max limit (4194304), so it can never exist.
    let out = ferris_perf(&["--pid", "99999999"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no process with pid 99999999"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_target_and_missing_command_are_errors() {
    let out = ferris_perf(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to measure"));

    let out = ferris_perf(&["--", "/nonexistent/ferris-perf-test-command"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot run"), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"));
}
