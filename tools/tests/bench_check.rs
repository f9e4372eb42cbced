//! `ferris bench check`, the regression gate: it passes against a baseline it has just written,
//! fails (naming the workload) against one doctored 20% lower, refuses to compare with a
//! baseline of another compiler, and without valgrind says loudly that it skipped.
//!
//! The runs use the test (debug) build and a small record count: the gate's figures are only
//! compared with a baseline of the same profile and record count, which is what is tested.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const RECORDS: &str = "300";

fn ferris_check(args: &[&str], valgrind: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferris"));
    cmd.args(["bench", "check", "--records", RECORDS])
        .args(args);
    if let Some(v) = valgrind {
        cmd.env("FERRIS_VALGRIND", v);
    }
    cmd.output().expect("ferris runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ferris-bench-check-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the temp dir");
    dir
}

fn valgrind_present() -> bool {
    let program = std::env::var("FERRIS_VALGRIND").unwrap_or_else(|_| "valgrind".into());
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Rewrites the baseline at `path` with `edit` applied to its JSON.
fn doctor(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let text = std::fs::read_to_string(path).expect("read the baseline");
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("baseline JSON");
    edit(&mut doc);
    let text = serde_json::to_string_pretty(&doc).expect("JSON");
    std::fs::write(path, text).expect("write the baseline");
}

fn workload<'a>(doc: &'a mut serde_json::Value, name: &str) -> &'a mut serde_json::Value {
    doc["workloads"]
        .as_array_mut()
        .expect("a workloads array")
        .iter_mut()
        .find(|w| w["name"] == name)
        .expect("the workload is in the baseline")
}

fn lower_by_a_fifth(v: &mut serde_json::Value) {
    *v = serde_json::json!(v.as_u64().expect("a count") * 4 / 5);
}

#[test]
fn passes_against_its_own_baseline_and_fails_against_a_lower_one() {
    if !valgrind_present() {
        eprintln!("valgrind is not installed: checking the documented skip instead");
        let dir = temp_dir("novalgrind");
        let path = dir.join("baseline.json");
        let p = path.to_str().unwrap();
        let o = ferris_check(&["--update", "--baseline", p], None);
        assert!(!o.status.success(), "--update without valgrind fails");
        assert!(text(&o).1.contains("needs valgrind"), "{:?}", text(&o));
        let o = ferris_check(&["--baseline", p], None);
        assert!(o.status.success(), "{:?}", text(&o));
        assert!(text(&o).1.contains("SKIPPED"), "{:?}", text(&o));
        return;
    }
    let dir = temp_dir("gate");
    let path = dir.join("baseline.json");
    let p = path.to_str().unwrap();

    let o = ferris_check(&["--update", "--baseline", p], None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("baseline written"), "{out}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["records"], 300);
    assert_eq!(doc["workloads"].as_array().unwrap().len(), 5);
    for w in doc["workloads"].as_array().unwrap() {
        assert!(w["instructions"].as_u64().unwrap() > 0, "{w}");
    }

    let o = ferris_check(&["--baseline", p], None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("bench check: passed"), "{out}");
    assert!(!out.contains("REGRESSION"), "{out}");

    // 20% lower: the same run is 25% above it.
    doctor(&path, |doc| {
        lower_by_a_fifth(&mut workload(doc, "json_decode")["instructions"]);
        lower_by_a_fifth(&mut workload(doc, "group_by_tumbling")["allocations"]);
    });
    let o = ferris_check(&["--baseline", p], None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(err.contains("regression beyond 5%"), "{err}");
    assert!(err.contains("json_decode instructions +25."), "{err}");
    assert!(err.contains("group_by_tumbling allocations +25."), "{err}");
    assert!(!err.contains("json_encode"), "{err}");
    assert_eq!(out.matches("REGRESSION").count(), 2, "{out}");
    // A looser tolerance lets it pass.
    let o = ferris_check(&["--baseline", p, "--tolerance", "30"], None);
    assert!(o.status.success(), "{:?}", text(&o));

    // Another compiler's baseline is not compared.
    doctor(&path, |doc| {
        doc["rustc"] = "rustc 1.0.0 (a 2015-05-15)".into()
    });
    let o = ferris_check(&["--baseline", p], None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(err.contains("NOT COMPARED"), "{err}");
    assert!(err.contains("rustc 1.0.0"), "{err}");

    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn without_valgrind_it_skips_loudly() {
    let dir = temp_dir("skip");
    let path = dir.join("baseline.json");
    let p = path.to_str().unwrap();
    let missing = Some("/nonexistent/valgrind");
    let o = ferris_check(&["--baseline", p], missing);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(err.contains("SKIPPED"), "{err}");
    assert!(err.contains("valgrind was not found"), "{err}");
    // Wall-clock figures are still reported.
    assert!(out.contains("wall clock"), "{out}");
    let o = ferris_check(&["--update", "--baseline", p], missing);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert!(text(&o).1.contains("needs valgrind"), "{:?}", text(&o));
    assert!(!path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
