//! Running one workload under callgrind and reading its counts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

use super::suite::{MEASURED_FUNCTION, Workload};

/// The environment variable naming the valgrind program (default `valgrind`, found on `PATH`).
pub const VALGRIND_ENV: &str = "FERRIS_VALGRIND";

/// What callgrind counted inside the measured function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Instructions executed (callgrind's `Ir`).
    pub instructions: u64,
    /// Calls to the C allocator's allocating functions (`malloc`, `calloc`, `realloc`,
    /// `posix_memalign`, `aligned_alloc`, `memalign`).
    pub allocations: u64,
}

/// The functions whose calls count as allocations.
const ALLOC_FUNCTIONS: [&str; 6] = [
    "malloc",
    "calloc",
    "realloc",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
];

/// The valgrind program to run.
pub fn valgrind_program() -> String {
    std::env::var(VALGRIND_ENV).unwrap_or_else(|_| "valgrind".into())
}

/// `valgrind --version` (`valgrind-3.19.0`), or `None` if it cannot be run.
pub fn valgrind_version() -> Option<String> {
    let out = Command::new(valgrind_program())
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!v.is_empty()).then_some(v)
}

/// A workload running under callgrind.
#[derive(Debug)]
pub struct Run {
    /// The workload.
    pub workload: Workload,
    child: Child,
    out_file: PathBuf,
}

/// Starts `exe bench check --suite-inner NAME --records N` under callgrind, counting only
/// the measured function (and what it calls); the counts go to a file in `dir`.
pub fn start(exe: &Path, workload: Workload, records: usize, dir: &Path) -> anyhow::Result<Run> {
    let out_file = dir.join(format!("{}.callgrind", workload.name()));
    let child = Command::new(valgrind_program())
        .arg("--tool=callgrind")
        .arg("--quiet")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect=*{MEASURED_FUNCTION}*"))
        .arg("--compress-strings=no")
        .arg("--compress-pos=no")
        .arg(exe)
        .args(["bench", "check", "--suite-inner", workload.name()])
        .arg("--records")
        .arg(records.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", valgrind_program()))?;
    Ok(Run {
        workload,
        child,
        out_file,
    })
}

impl Run {
    /// Waits for the run and reads its counts.
    pub fn finish(self) -> anyhow::Result<Counts> {
        let name = self.workload.name();
        let out = self
            .child
            .wait_with_output()
            .with_context(|| format!("waiting for the callgrind run of {name}"))?;
        if !out.status.success() {
            bail!(
                "the callgrind run of {name} failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
        let text = std::fs::read_to_string(&self.out_file)
            .with_context(|| format!("cannot read {}", self.out_file.display()))?;
        let _ = std::fs::remove_file(&self.out_file);
        let counts = parse(&text).with_context(|| format!("callgrind output of {name}"))?;
        if counts.instructions == 0 {
            bail!(
                "callgrind counted no instructions in {MEASURED_FUNCTION} for {name}: was the \
                 function inlined or renamed?"
            );
        }
        Ok(counts)
    }
}

/// Reads the total instructions (`totals:`, else `summary:`) and the calls to allocating
/// functions from a callgrind output file written with `--compress-strings=no`.
pub fn parse(text: &str) -> anyhow::Result<Counts> {
    let mut events: Option<Vec<&str>> = None;
    let mut totals: Option<u64> = None;
    let mut summary: Option<u64> = None;
    let mut allocations = 0u64;
    let mut callee_allocates = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("events:") {
            events = Some(rest.split_whitespace().collect());
        } else if let Some(rest) = line.strip_prefix("totals:") {
            totals = Some(first_ir(rest, events.as_deref())?);
        } else if let Some(rest) = line.strip_prefix("summary:") {
            summary = Some(first_ir(rest, events.as_deref())?);
        } else if let Some(name) = line.strip_prefix("cfn=") {
            callee_allocates = is_alloc_function(name);
        } else if let Some(rest) = line.strip_prefix("calls=") {
            if callee_allocates {
                let n = rest.split_whitespace().next().unwrap_or_default();
                allocations += n
                    .parse::<u64>()
                    .with_context(|| format!("bad calls line {line:?}"))?;
            }
        } else if line.starts_with("fn=") {
            callee_allocates = false;
        }
    }
    let Some(instructions) = totals.or(summary) else {
        bail!("no totals: or summary: line");
    };
    Ok(Counts {
        instructions,
        allocations,
    })
}

/// The `Ir` figure of a totals or summary line.
fn first_ir(rest: &str, events: Option<&[&str]>) -> anyhow::Result<u64> {
    let at = events
        .and_then(|e| e.iter().position(|&n| n == "Ir"))
        .unwrap_or(0);
    let Some(v) = rest.split_whitespace().nth(at) else {
        bail!("no Ir figure in {rest:?}");
    };
    v.parse().with_context(|| format!("bad Ir figure {v:?}"))
}

/// Whether a callgrind function name (`malloc`, `__libc_malloc`, `malloc'2`, possibly with
/// an object file suffix) is an allocating function.
fn is_alloc_function(name: &str) -> bool {
    let name = name.trim();
    // `(id) name` appears only with compressed strings; accept it anyway.
    let name = match name.strip_prefix('(') {
        Some(rest) => rest.split_once(") ").map_or(rest, |(_, n)| n),
        None => name,
    };
    let name = name.split(['\'', ' ']).next().unwrap_or_default();
    let name = name.strip_prefix("__libc_").unwrap_or(name);
    ALLOC_FUNCTIONS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
version: 1
creator: callgrind-3.19.0
events: Ir
fl=???
fn=ferris::bench::check::suite::bench_check_measured
0 100
cfn=malloc
calls=3 0
0 300
cfn=ferris_engine::codec::json::JsonDecoder::decode
calls=10 0
0 5000
cfn=__libc_realloc
calls=2 0
0 80
fn=malloc
0 300
cfn=_int_malloc
calls=3 0
0 200
totals: 5480
";

    #[test]
    fn reads_totals_and_allocation_calls() {
        let c = parse(SAMPLE).unwrap();
        assert_eq!(
            c,
            Counts {
                instructions: 5480,
                allocations: 5
            }
        );
    }

    #[test]
    fn summary_is_used_without_totals() {
        let c = parse("events: Ir\nsummary: 42\n").unwrap();
        assert_eq!(c.instructions, 42);
        assert!(parse("events: Ir\n").is_err());
    }

    #[test]
    fn allocating_names() {
        for n in [
            "malloc",
            "__libc_malloc",
            "realloc'2",
            "(12) calloc",
            "posix_memalign",
        ] {
            assert!(is_alloc_function(n), "{n}");
        }
        for n in ["_int_malloc", "free", "malloc_consolidate", "__rust_alloc"] {
            assert!(!is_alloc_function(n), "{n}");
        }
    }
}
