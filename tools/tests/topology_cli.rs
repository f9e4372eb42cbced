//! Black-box tests of `ferris topology`: exit status, stdout, stderr.

use std::path::PathBuf;
use std::process::Command;

use ferris_topology::Topology;

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ferris(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ferris"))
        .args(args)
        .output()
        .expect("ferris runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// A fresh directory per test, removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("ferris-topology-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        TempDir(dir)
    }

    fn path(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn detect_then_show_round_trip() {
    let dir = TempDir::new("round-trip");
    let file = dir.path("topology.toml");
    let detect = ferris(&["topology", "detect", "--output", &file]);
    assert_eq!(detect.code, 0, "{}", detect.stderr);
    assert!(detect.stdout.is_empty(), "{}", detect.stdout);
    let summary = detect.stderr.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("detected ") && summary.ends_with(&format!("; wrote {file}")),
        "{}",
        detect.stderr
    );

    let t = Topology::load(&file).unwrap();
    let core0 = &t.cores[0];
    let show = ferris(&["topology", "show", &file]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    let shard0 = format!(
        "shard 0 -> cpu {} (core 0, package {}, numa node {})",
        core0.pus[0], core0.package, core0.numa_node
    );
    assert!(
        show.stdout.lines().any(|l| l == shard0),
        "no line {shard0:?} in\n{}",
        show.stdout
    );
    assert!(
        show.stdout.starts_with(&format!("{file}: {}", t.summary())),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout.contains(&format!(
            "{} shards, as written in [[shards]]:\n",
            t.cores.len()
        )),
        "{}",
        show.stdout
    );
}

#[test]
fn detect_writes_to_stdout_without_output() {
    let detect = ferris(&["topology", "detect"]);
    assert_eq!(detect.code, 0, "{}", detect.stderr);
    assert!(detect.stdout.starts_with("# FerrisStreams topology"));
    let t = Topology::parse(&detect.stdout, "stdout").unwrap();
    assert!(!t.cores.is_empty());
    assert!(
        detect.stderr.contains("; wrote stdout"),
        "{}",
        detect.stderr
    );
}

#[test]
fn a_bad_file_exits_2_naming_the_key() {
    let dir = TempDir::new("bad");
    let file = dir.path("bad.toml");
    std::fs::write(
        &file,
        "[machine]\npackages = 1\nnuma_nodes = 1\ncores = 1\npus = 1\n\
         [[cores]]\nid = 0\npus = [0]\n[[shards]]\nid = 0\ncpu = 9\n",
    )
    .unwrap();
    let show = ferris(&["topology", "show", &file]);
    assert_eq!(show.code, 2, "{}", show.stderr);
    assert!(show.stdout.is_empty(), "{}", show.stdout);
    assert_eq!(
        show.stderr,
        format!("error: {file}: shards[0].cpu: CPU 9 is not on this machine (CPUs: 0)\n")
    );

    std::fs::write(&file, "[machine]\ncores = 1\nthreads = 2\n").unwrap();
    let show = ferris(&["topology", "show", &file]);
    assert_eq!(show.code, 2, "{}", show.stderr);
    assert!(
        show.stderr
            .starts_with(&format!("error: {file}: machine.threads: unknown key")),
        "{}",
        show.stderr
    );
}

#[test]
fn a_missing_file_exits_1() {
    let show = ferris(&["topology", "show", "/nonexistent/topology.toml"]);
    assert_eq!(show.code, 1, "{}", show.stderr);
    assert!(
        show.stderr
            .starts_with("error: /nonexistent/topology.toml: cannot read:"),
        "{}",
        show.stderr
    );
}
