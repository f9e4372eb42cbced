//! `ferris bench check`: the performance regression gate (docs/benchmarks.md, "Micro-benchmarks
//! and the regression gate").
//!
//! A fixed, deterministic suite ([`suite::WORKLOADS`]) is measured in what is stable on a noisy
//! shared machine: the instructions executed and the allocation calls made, counted by
//! valgrind's callgrind. Each workload runs in its own process (this binary again, with the
//! hidden `--suite-inner NAME`), and callgrind counts only the measured function
//! ([`suite::bench_check_measured`]), so process start and input preparation do not count. The
//! figures are compared with a committed baseline (`benches/baseline.json`); a figure more than
//! the tolerance (5%) above its baseline fails the gate. Wall-clock times are measured too, in
//! this process without valgrind, and reported, never gated.
//!
//! Instruction counts depend on the compiler and the build profile, so the baseline records
//! both (and the record count); when they differ from this binary's, the gate says so and does
//! not compare (exit 0). Without valgrind the gate says loudly that it skipped the comparison
//! and exits 0 (`--update` fails instead).

mod callgrind;
mod suite;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value as Json, json};

use callgrind::Counts;
use suite::{WORKLOADS, Workload};

/// The committed baseline, relative to the workspace root.
const DEFAULT_BASELINE: &str = "benches/baseline.json";
/// Trades per workload in the committed baseline.
const DEFAULT_RECORDS: usize = 20_000;
/// Timed runs per workload for the wall-clock report (the median is shown).
const WALL_RUNS: usize = 5;

/// Arguments of `ferris bench check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Write this run's figures to the baseline file instead of comparing with it.
    #[arg(long)]
    update: bool,
    /// The baseline file [default: benches/baseline.json of this checkout].
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// How far (percent) a figure may rise above its baseline before the gate fails.
    #[arg(long, default_value_t = 5)]
    tolerance: u32,
    /// Trades per workload (a baseline is only compared with runs of its own record count).
    #[arg(long, default_value_t = DEFAULT_RECORDS)]
    records: usize,
    /// Internal: run one workload of the suite once (what callgrind measures).
    #[arg(long, hide = true, value_name = "NAME")]
    suite_inner: Option<String>,
}

/// The figures of one run of the suite, or of a baseline.
#[derive(Debug, Clone, PartialEq)]
struct Figures {
    rustc: String,
    profile: String,
    records: usize,
    valgrind: String,
    cpu: String,
    counts: Vec<(String, Counts)>,
}

/// Runs `ferris bench check`.
pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    if let Some(name) = &args.suite_inner {
        return run_inner(name, args.records);
    }
    let start = Instant::now();
    let baseline_path = args.baseline.clone().unwrap_or_else(default_baseline);
    let exe = std::env::current_exe().context("cannot find this program's path")?;

    let wall = wall_clock(args.records)?;

    let Some(valgrind) = callgrind::valgrind_version() else {
        print_wall(&wall, args.records);
        let msg = format!(
            "valgrind was not found (`{}` does not run; set {} to its path, or install the \
             `valgrind` package: tools/setup.sh does)",
            callgrind::valgrind_program(),
            callgrind::VALGRIND_ENV
        );
        if args.update {
            bail!("bench check --update needs valgrind: {msg}");
        }
        eprintln!();
        eprintln!("************************************************************************");
        eprintln!("bench check: SKIPPED, nothing was compared: {msg}.");
        eprintln!("************************************************************************");
        return Ok(());
    };

    let counts = measure(&exe, args.records)?;
    let now = Figures {
        rustc: rustc_of(&exe),
        profile: profile().into(),
        records: args.records,
        valgrind,
        cpu: cpu_model(),
        counts,
    };

    if args.update {
        print_table(&now, None, args.tolerance);
        print_wall(&wall, args.records);
        write_baseline(&baseline_path, &now)?;
        println!(
            "bench check: baseline written to {} ({:.1} s)",
            baseline_path.display(),
            start.elapsed().as_secs_f64()
        );
        return Ok(());
    }

    let base = read_baseline(&baseline_path)?;
    let mismatch = [
        ("compiler", &base.rustc, &now.rustc),
        ("build profile", &base.profile, &now.profile),
        // Code paths chosen at run time (e.g. SIMD string search) depend on the CPU.
        ("CPU", &base.cpu, &now.cpu),
        ("valgrind", &base.valgrind, &now.valgrind),
    ]
    .into_iter()
    .filter(|(_, b, n)| b != n)
    .map(|(what, b, n)| format!("{what}: baseline {b}, this binary {n}"))
    .chain((base.records != now.records).then(|| {
        format!(
            "records: baseline {}, this run {}",
            base.records, now.records
        )
    }))
    .collect::<Vec<_>>();
    if !mismatch.is_empty() {
        print_table(&now, None, args.tolerance);
        print_wall(&wall, args.records);
        eprintln!(
            "bench check: NOT COMPARED: {} was recorded under other conditions ({}); \
             instruction counts are only comparable with the same compiler, profile, CPU, \
             valgrind and records. Re-record it with `ferris bench check --update` if this is the new normal.",
            baseline_path.display(),
            mismatch.join("; ")
        );
        return Ok(());
    }

    let regressions = print_table(&now, Some(&base), args.tolerance);
    print_wall(&wall, args.records);
    let elapsed = start.elapsed().as_secs_f64();
    if !regressions.is_empty() {
        bail!(
            "bench check: regression beyond {}% against {}: {} (run time {elapsed:.1} s)",
            args.tolerance,
            baseline_path.display(),
            regressions.join(", ")
        );
    }
    println!(
        "bench check: passed, every figure within {}% of {} ({elapsed:.1} s)",
        args.tolerance,
        baseline_path.display()
    );
    Ok(())
}

/// `benches/baseline.json` of the checkout this binary was built from.
fn default_baseline() -> PathBuf {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR"));
    tools.parent().unwrap_or(tools).join(DEFAULT_BASELINE)
}

/// `--suite-inner NAME`: prepares the workload and runs the measured part once.
fn run_inner(name: &str, records: usize) -> anyhow::Result<()> {
    let w = Workload::from_name(name)?;
    let prepared = suite::prepare(w, records)?;
    let checksum = suite::bench_check_measured(&prepared)?;
    println!("{name} {checksum}");
    Ok(())
}

/// Every workload under callgrind, as many at a time as there are CPUs (the counts do not
/// depend on it).
fn measure(exe: &Path, records: usize) -> anyhow::Result<Vec<(String, Counts)>> {
    let dir = std::env::temp_dir().join(format!("ferris-bench-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = measure_in(exe, records, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure_in(exe: &Path, records: usize, dir: &Path) -> anyhow::Result<Vec<(String, Counts)>> {
    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    let mut pending = WORKLOADS.iter().copied();
    let mut running = std::collections::VecDeque::new();
    let mut done = Vec::new();
    loop {
        while running.len() < jobs {
            match pending.next() {
                Some(w) => running.push_back(callgrind::start(exe, w, records, dir)?),
                None => break,
            }
        }
        let Some(run) = running.pop_front() else {
            break;
        };
        let name = run.workload.name().to_string();
        done.push((name, run.finish()?));
    }
    Ok(done)
}

/// The median wall-clock time of each workload's measured part, run in this process.
fn wall_clock(records: usize) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    WORKLOADS
        .iter()
        .map(|&w| {
            let p = suite::prepare(w, records)?;
            suite::bench_check_measured(&p)?;
            let mut times = (0..WALL_RUNS)
                .map(|_| {
                    let t = Instant::now();
                    suite::bench_check_measured(&p).map(|_| t.elapsed())
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            times.sort();
            Ok((w.name(), times[times.len() / 2]))
        })
        .collect()
}

fn print_wall(wall: &[(&str, Duration)], records: usize) {
    println!();
    println!(
        "wall clock ({} build, median of {WALL_RUNS} runs, reported, not gated):",
        profile()
    );
    println!("{:<20} {:>12} {:>14}", "workload", "time", "per record");
    for (name, t) in wall {
        println!(
            "{name:<20} {:>9.2} ms {:>11.1} ns",
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() * 1e9 / records.max(1) as f64
        );
    }
}

/// Prints the comparison table and returns the regressions (`workload metric +x%`).
fn print_table(now: &Figures, base: Option<&Figures>, tolerance: u32) -> Vec<String> {
    let mut regressions = Vec::new();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "bench check: {} trades per workload; {}, {} build, {}",
        now.records, now.rustc, now.profile, now.valgrind
    );
    let _ = writeln!(
        out,
        "{:<20} {:<13} {:>15} {:>15} {:>9}",
        "workload", "metric", "baseline", "now", "change"
    );
    for (name, c) in &now.counts {
        let b = base.and_then(|b| b.counts.iter().find(|(n, _)| n == name).map(|(_, c)| *c));
        for (metric, value, was) in [
            ("instructions", c.instructions, b.map(|b| b.instructions)),
            ("allocations", c.allocations, b.map(|b| b.allocations)),
        ] {
            let (was_text, change) = match was {
                Some(was) => {
                    let change = if was == 0 {
                        if value == 0 {
                            "+0.0%".into()
                        } else {
                            "new".into()
                        }
                    } else {
                        format!("{:+.1}%", (value as f64 - was as f64) * 100.0 / was as f64)
                    };
                    // value > was * (1 + tolerance%), in integers.
                    let over =
                        u128::from(value) * 100 > u128::from(was) * (100 + u128::from(tolerance));
                    let flag = if over {
                        regressions.push(format!("{name} {metric} {change}"));
                        "  REGRESSION"
                    } else {
                        ""
                    };
                    (group(was), format!("{change}{flag}"))
                }
                None if base.is_some() => ("-".into(), "not in the baseline".into()),
                None => ("-".into(), String::new()),
            };
            let _ = writeln!(
                out,
                "{name:<20} {metric:<13} {was_text:>15} {:>15} {change:>9}",
                group(value)
            );
        }
    }
    print!("{out}");
    regressions
}

/// `12345678` as `12,345,678`.
fn group(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// The compiler that built `exe`, from its ELF `.comment` section (`rustc version 1.95.0
/// (59807616e 2026-04-14)` there, written `rustc 1.95.0 (59807616e 2026-04-14)` here), or
/// `unknown`.
fn rustc_of(exe: &Path) -> String {
    std::fs::read(exe)
        .ok()
        .and_then(|bytes| elf_section(&bytes, ".comment").and_then(rustc_in_comment))
        .unwrap_or_else(|| "unknown".into())
}

fn rustc_in_comment(comment: &[u8]) -> Option<String> {
    comment
        .split(|&b| b == 0)
        .filter_map(|s| std::str::from_utf8(s).ok())
        .find_map(|s| s.strip_prefix("rustc version "))
        .map(|v| format!("rustc {}", v.trim()))
}

/// The contents of the section `name` of a 64-bit little-endian ELF file.
fn elf_section<'a>(elf: &'a [u8], name: &str) -> Option<&'a [u8]> {
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| -> Option<usize> {
        Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?).into())
    };
    let u32_at = |at: usize| -> Option<usize> {
        usize::try_from(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?)).ok()
    };
    let u64_at = |at: usize| -> Option<usize> {
        usize::try_from(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?)).ok()
    };
    let shoff = u64_at(0x28)?;
    let shentsize = u16_at(0x3a)?;
    let shnum = u16_at(0x3c)?;
    let shstrndx = u16_at(0x3e)?;
    let header = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    let strtab = u64_at(header(shstrndx)? + 0x18)?;
    (0..shnum).find_map(|i| {
        let h = header(i)?;
        let name_at = strtab.checked_add(u32_at(h)?)?;
        let rest = elf.get(name_at..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        if &rest[..end] != name.as_bytes() {
            return None;
        }
        let (off, size) = (u64_at(h + 0x18)?, u64_at(h + 0x20)?);
        elf.get(off..off.checked_add(size)?)
    })
}

/// The CPU model as /proc/cpuinfo names it (for the record; not compared).
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn write_baseline(path: &Path, f: &Figures) -> anyhow::Result<()> {
    let workloads: Vec<Json> = f
        .counts
        .iter()
        .map(|(name, c)| {
            json!({
                "name": name,
                "instructions": c.instructions,
                "allocations": c.allocations,
            })
        })
        .collect();
    let doc = json!({
        "about": "Baseline of `ferris bench check` (docs/benchmarks.md): instructions and \
                  allocation calls per workload under callgrind. Rewrite with \
                  `cargo build --release -p ferris-tools && target/release/ferris bench check --update`.",
        "rustc": f.rustc,
        "profile": f.profile,
        "records": f.records,
        "valgrind": f.valgrind,
        "cpu": f.cpu,
        "workloads": workloads,
    });
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn read_baseline(path: &Path) -> anyhow::Result<Figures> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the baseline {} (write one with `ferris bench check --update`)",
            path.display()
        )
    })?;
    let doc: Json = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    parse_baseline(&doc)
        .with_context(|| format!("{} is not a bench check baseline", path.display()))
}

fn parse_baseline(doc: &Json) -> anyhow::Result<Figures> {
    let text = |key: &str| -> anyhow::Result<String> {
        doc.get(key)
            .and_then(Json::as_str)
            .map(String::from)
            .with_context(|| format!("no string {key:?}"))
    };
    let number = |v: &Json, key: &str| -> anyhow::Result<u64> {
        v.get(key)
            .and_then(Json::as_u64)
            .with_context(|| format!("no number {key:?}"))
    };
    let counts = doc
        .get("workloads")
        .and_then(Json::as_array)
        .context("no \"workloads\" array")?
        .iter()
        .map(|w| {
            let name = w
                .get("name")
                .and_then(Json::as_str)
                .context("a workload without a name")?;
            Ok((
                name.to_string(),
                Counts {
                    instructions: number(w, "instructions")?,
                    allocations: number(w, "allocations")?,
                },
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Figures {
        rustc: text("rustc")?,
        profile: text("profile")?,
        records: usize::try_from(number(doc, "records")?)?,
        valgrind: text("valgrind").unwrap_or_default(),
        cpu: text("cpu").unwrap_or_default(),
        counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(instructions: u64) -> Figures {
        Figures {
            rustc: "rustc 1.95.0 (59807616e 2026-04-14)".into(),
            profile: "release".into(),
            records: 20_000,
            valgrind: "valgrind-3.19.0".into(),
            cpu: "AMD EPYC".into(),
            counts: vec![(
                "json_decode".into(),
                Counts {
                    instructions,
                    allocations: 100,
                },
            )],
        }
    }

    #[test]
    fn baseline_round_trips() {
        let dir = std::env::temp_dir().join(format!("ferris-check-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.json");
        let f = figures(1_000_000);
        write_baseline(&path, &f).unwrap();
        assert_eq!(read_baseline(&path).unwrap(), f);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tolerance_is_exclusive_of_the_limit() {
        let base = figures(1000);
        assert!(print_table(&figures(1050), Some(&base), 5).is_empty());
        let r = print_table(&figures(1051), Some(&base), 5);
        assert_eq!(r, ["json_decode instructions +5.1%"]);
        assert!(print_table(&figures(500), Some(&base), 5).is_empty());
    }

    #[test]
    fn groups_digits() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(123_456_789), "123,456,789");
    }

    #[test]
    fn finds_the_compiler_of_this_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let rustc = rustc_of(&exe);
        assert!(rustc.starts_with("rustc 1."), "{rustc}");
        assert_eq!(
            rustc_in_comment(b"clang LLVM (rustc version 1.95.0 (x))\0rustc version 1.95.0 (x)\0")
                .unwrap(),
            "rustc 1.95.0 (x)"
        );
    }
}
