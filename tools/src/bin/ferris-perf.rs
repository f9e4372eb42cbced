//! `ferris-perf`: per-thread perf counters and per-core utilisation for a running engine
//! (`--pid PID`) or a command (`-- COMMAND ARGS...`).
//!
//! Per thread of the target (named from `/proc/PID/task/TID/comm`, so shard threads show as
//! `ferris-shard-N`): CPU time, context switches, CPU migrations and page faults from perf
//! software events, and cycles, instructions, IPC, cache and branch misses from hardware events
//! where the machine has a PMU. Per core: busy/user/system/iowait/steal/idle from `/proc/stat`
//! deltas over the same window. Where perf events cannot be opened (no PMU in a VM,
//! `perf_event_paranoid`, a seccomp filter) it says why once and falls back, down to `/proc`
//! figures only; it never needs privileges to run.
//!
//! A command is started behind a gate (`sh -c 'kill -STOP $$ && exec "$@"'`): its counters
//! are attached while it is stopped, before the exec, so it is counted from its first
//! instruction. Threads are found by polling `/proc/PID/task` every `--poll-ms` on the main
//! thread (the workspace keeps threads to the shard runtime); a thread created later gets its
//! counters when it is first seen, so its first milliseconds are missed by perf (not by the
//! `/proc` CPU time, which counts from the thread's birth). Child processes of the target are
//! not followed.

#[path = "ferris_perf/counters.rs"]
mod counters;
#[path = "ferris_perf/procfs.rs"]
mod procfs;
#[path = "ferris_perf/report.rs"]
mod report;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitCode, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};

use counters::{METRICS, Opener, ThreadCounters, Values};
use procfs::{CoreTimes, NS_PER_TICK, ThreadStat};
use report::{Report, ThreadRow};

const EXAMPLES: &str = "\
Examples:
  ferris-perf -- target/release/ferris query --input trades=/tmp/t.jsonl --output /dev/null \\
      \"SELECT symbol, price FROM trades WHERE price > 400\"
  ferris-perf --pid $(pgrep -f 'ferris run') --duration 10
  ferris-perf --pid 1234 --interval 1 --json

Exit status: with a command, the command's own status (128 + signal if it was killed);
with --pid, 0; 2 when the target cannot be measured (no such pid, command not found).";

/// Per-core and per-thread perf counters for a running engine or a command.
#[derive(Debug, Parser)]
#[command(name = "ferris-perf", version, after_help = EXAMPLES)]
struct Cli {
    /// Attach to the threads of this running process.
    #[arg(long, value_name = "PID", conflicts_with = "command")]
    pid: Option<i32>,
    /// Stop measuring after this many seconds (with a command: the command is killed then).
    /// Default: until the process exits or Ctrl-C.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Also print a report every SECONDS, of that interval alone; the final report covers
    /// the whole run.
    #[arg(long, value_name = "SECONDS")]
    interval: Option<f64>,
    /// Print JSON (one object per report, one per line) instead of tables.
    #[arg(long)]
    json: bool,
    /// How often to look for new threads and read /proc, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    poll_ms: u64,
    /// Open no perf events: /proc figures only (what happens where perf_event_open is denied).
    #[arg(long)]
    no_perf: bool,
    /// The command to run and measure, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ferris-perf: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// One thread being watched.
#[derive(Debug)]
struct Tracked {
    name: String,
    counters: ThreadCounters,
    /// `/proc` figures at the start of the run, of the current interval, and the latest.
    proc_start: ThreadStat,
    proc_mark: ThreadStat,
    proc_last: ThreadStat,
    /// perf counts at the start of the current interval, and the latest.
    perf_mark: Values,
    perf_last: Values,
    alive: bool,
}

/// The target's threads, found by polling `/proc/PID/task`.
#[derive(Debug)]
struct Tracker {
    pid: i32,
    threads: BTreeMap<i32, Tracked>,
    opener: Opener,
    polls: u64,
}

impl Tracker {
    /// Looks for new threads (opening their counters) and reads every live thread's `/proc`
    /// figures. Threads already there at the first poll of an attach (`--pid`) count from
    /// now; every other thread was born during the run and counts from its birth.
    fn poll(&mut self, count_from_birth: bool) {
        let first = self.polls == 0;
        self.polls += 1;
        let tids = procfs::list_threads(self.pid).unwrap_or_default();
        for &tid in &tids {
            if self.threads.contains_key(&tid) {
                continue;
            }
            let counters = self.opener.open(tid);
            let Some(now) = procfs::read_thread(self.pid, tid) else {
                continue; // gone already
            };
            let start = if count_from_birth || !first {
                ThreadStat::default()
            } else {
                now
            };
            self.threads.insert(
                tid,
                Tracked {
                    name: procfs::thread_name(self.pid, tid).unwrap_or_else(|| "?".to_string()),
                    counters,
                    proc_start: start,
                    proc_mark: start,
                    proc_last: now,
                    perf_mark: [None; METRICS],
                    perf_last: [None; METRICS],
                    alive: true,
                },
            );
        }
        for (tid, t) in &mut self.threads {
            if !t.alive {
                continue;
            }
            match tids
                .binary_search(tid)
                .ok()
                .and_then(|_| procfs::read_thread(self.pid, *tid))
            {
                Some(now) => {
                    t.proc_last = now;
                    // A thread may name itself, or exec, after it was first seen.
                    if let Some(name) = procfs::thread_name(self.pid, *tid) {
                        t.name = name;
                    }
                }
                None => t.alive = false,
            }
        }
    }

    /// Reads every perf counter (they stay readable after their thread exits).
    fn read(&mut self) {
        for t in self.threads.values_mut() {
            if !t.counters.is_empty() {
                t.perf_last = t.counters.read();
            }
        }
    }

    /// Starts a new interval.
    fn mark(&mut self) {
        for t in self.threads.values_mut() {
            t.proc_mark = t.proc_last;
            t.perf_mark = t.perf_last;
        }
    }

    /// Rows over the whole run (`whole`) or the current interval.
    fn rows(&self, whole: bool) -> Vec<ThreadRow> {
        self.threads
            .iter()
            .map(|(&tid, t)| {
                let (proc_base, perf_base) = if whole {
                    (&t.proc_start, &[None; METRICS])
                } else {
                    (&t.proc_mark, &t.perf_mark)
                };
                let mut perf = [None; METRICS];
                for (i, slot) in perf.iter_mut().enumerate() {
                    *slot = t.perf_last[i].map(|v| v.saturating_sub(perf_base[i].unwrap_or(0)));
                }
                ThreadRow {
                    tid,
                    name: t.name.clone(),
                    alive: t.alive,
                    perf,
                    proc: t.proc_last.since(proc_base),
                }
            })
            .collect()
    }
}

fn core_deltas(now: &[(usize, CoreTimes)], base: &[(usize, CoreTimes)]) -> Vec<(usize, CoreTimes)> {
    now.iter()
        .map(|(cpu, t)| {
            let b = base
                .iter()
                .find(|(c, _)| c == cpu)
                .map(|(_, b)| *b)
                .unwrap_or_default();
            (*cpu, t.since(&b))
        })
        .collect()
}

/// Starts `command` behind a gate: `sh` stops itself (`kill -STOP $$`) and, once continued,
/// `exec`s the command in the same process. Counters attached while it is stopped survive the
/// exec, so the command is counted from its first instruction, however short it is. (Without
/// `unsafe` there is no `fork`-wait-`exec` in Rust's `Command`; this is the same thing with the
/// shell doing the waiting.)
fn spawn_gated(command: &[String]) -> Result<Child> {
    Command::new("sh")
        .arg("-c")
        .arg("kill -STOP $$ && exec \"$@\"")
        .arg("ferris-perf")
        .args(command)
        .spawn()
        .with_context(|| format!("cannot run `{}` through sh", command.join(" ")))
}

/// Waits (up to 5 s) until `pid` has stopped itself, or ended.
fn wait_until_stopped(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match procfs::process_state(pid) {
            Some('T') | Some('t') | Some('Z') | Some('X') | None => return,
            _ => std::thread::sleep(Duration::from_micros(200)),
        }
    }
}

fn seconds(s: f64, what: &str) -> Result<Duration> {
    if !s.is_finite() || s <= 0.0 {
        bail!("{what} must be a positive number of seconds, not {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

fn describe_exit(status: ExitStatus) -> (String, u8) {
    if let Some(code) = status.code() {
        (
            format!("exited with status {code}"),
            u8::try_from(code & 0xff).unwrap_or(1),
        )
    } else if let Some(signal) = status.signal() {
        (
            format!("killed by signal {signal}"),
            u8::try_from((128 + signal) & 0xff).unwrap_or(1),
        )
    } else {
        ("ended".to_string(), 1)
    }
}

fn run(cli: &Cli) -> Result<ExitCode> {
    let duration = cli.duration.map(|s| seconds(s, "--duration")).transpose()?;
    let interval = cli.interval.map(|s| seconds(s, "--interval")).transpose()?;
    let poll = Duration::from_millis(cli.poll_ms.max(1));

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the signal handler")?;
    }

    let paranoid = procfs::perf_event_paranoid();
    let reaped_before = procfs::reaped_children_ticks();
    let (pid, mut child, target): (i32, Option<Child>, String) = match (cli.pid, &cli.command[..]) {
        (Some(pid), []) => {
            if pid <= 0 || !procfs::process_exists(pid) {
                bail!("no process with pid {pid} (/proc/{pid} does not exist)");
            }
            let name = procfs::process_name(pid).unwrap_or_else(|| "?".to_string());
            (pid, None, format!("pid {pid} ({name})"))
        }
        (None, [program, ..]) => {
            if !procfs::find_program(program) {
                bail!("cannot run `{program}`: not found or not executable");
            }
            let child = spawn_gated(&cli.command)?;
            let pid = i32::try_from(child.id()).context("child pid out of range")?;
            (
                pid,
                Some(child),
                format!("pid {pid} `{}`", cli.command.join(" ")),
            )
        }
        (Some(_), [_, ..]) => bail!("give either --pid PID or -- COMMAND, not both"),
        (None, []) => bail!("nothing to measure: give --pid PID or -- COMMAND ARGS..."),
    };
    let command_mode = child.is_some();

    let mut tracker = Tracker {
        pid,
        threads: BTreeMap::new(),
        opener: if cli.no_perf {
            Opener::disabled(paranoid, "not opened (--no-perf)")
        } else {
            Opener::new(paranoid)
        },
        polls: 0,
    };

    let cores_start = procfs::read_proc_stat();
    let start = Instant::now();
    if command_mode {
        // The command waits, stopped, before its exec: attach, then let it go.
        wait_until_stopped(pid);
        tracker.poll(true);
        // What the kernel will call it after the exec (`comm`: the file name, 15 bytes), in
        // case it ends before the next poll reads the name.
        if let (Some(t), Some(program)) = (tracker.threads.get_mut(&pid), cli.command.first()) {
            let file = program.rsplit('/').next().unwrap_or(program);
            t.name = file.chars().take(15).collect();
        }
        let _ = Command::new("kill")
            .args(["-CONT", &pid.to_string()])
            .status();
    }
    let mut mark_time = start;
    let mut mark_cores = cores_start.clone();
    let mut interval_no = 0u64;
    let ended: Option<String>;
    let mut exit_code = 0u8;
    let mut stop_asked_at: Option<Instant> = None;

    let out = std::io::stdout();
    let emit = |report: &Report| -> Result<()> {
        let mut out = out.lock();
        if cli.json {
            writeln!(out, "{}", report.json())?;
        } else {
            writeln!(out, "{}", report.table())?;
        }
        out.flush()?;
        Ok(())
    };
    let make_report = |tracker: &Tracker,
                       whole: bool,
                       interval: Option<u64>,
                       wall: Duration,
                       cores: Vec<(usize, CoreTimes)>,
                       ended: Option<String>,
                       reaped_cpu_ns: Option<u64>| {
        Report {
            target: target.clone(),
            pid,
            command: command_mode.then(|| cli.command.clone()),
            ended,
            interval,
            wall,
            hardware: tracker.opener.hardware.clone(),
            software: tracker.opener.software.clone(),
            paranoid,
            notes: tracker.opener.notes.clone(),
            threads: tracker.rows(whole),
            cores,
            reaped_cpu_ns,
        }
    };

    loop {
        tracker.poll(command_mode);
        let now = Instant::now();
        if let Some(c) = child.as_mut() {
            if let Some(status) = c.try_wait().context("waiting for the command")? {
                let (text, code) = describe_exit(status);
                ended = Some(text);
                exit_code = code;
                break;
            }
        } else if !procfs::process_alive(pid) {
            ended = Some("the process exited".to_string());
            break;
        }
        if stop.load(Ordering::Relaxed) {
            match (child.as_mut(), stop_asked_at) {
                // Ctrl-C reaches the command too; give it a moment to finish on its own.
                (Some(_), None) => stop_asked_at = Some(now),
                (Some(c), Some(at)) if now.duration_since(at) > Duration::from_secs(2) => {
                    let _ = c.kill();
                }
                (Some(_), Some(_)) => {}
                (None, _) => {
                    ended = Some("stopped by signal".to_string());
                    break;
                }
            }
        }
        if let Some(d) = duration
            && now.duration_since(start) >= d
        {
            if let Some(c) = child.as_mut() {
                let _ = c.kill();
                let status = c.wait().context("waiting for the command")?;
                let (text, code) = describe_exit(status);
                ended = Some(format!(
                    "--duration reached; the command was killed ({text})"
                ));
                exit_code = code;
            } else {
                ended = Some("--duration reached".to_string());
            }
            break;
        }
        if let Some(every) = interval
            && now.duration_since(mark_time) >= every
        {
            tracker.read();
            interval_no += 1;
            let cores = procfs::read_proc_stat();
            let report = make_report(
                &tracker,
                false,
                Some(interval_no),
                now.duration_since(mark_time),
                core_deltas(&cores, &mark_cores),
                None,
                None,
            );
            emit(&report)?;
            tracker.mark();
            mark_cores = cores;
            mark_time = now;
        }
        // Poll fast at first, so a short command's end is seen soon after it happens.
        let warmup = Duration::from_millis(1u64 << tracker.polls.min(16));
        let mut sleep = poll.min(warmup);
        if let Some(d) = duration {
            sleep = sleep.min(d.saturating_sub(now.duration_since(start)));
        }
        if let Some(every) = interval {
            sleep = sleep.min(every.saturating_sub(now.duration_since(mark_time)));
        }
        std::thread::sleep(sleep.max(Duration::from_millis(1)));
    }

    let wall = start.elapsed();
    tracker.read();
    let cores = core_deltas(&procfs::read_proc_stat(), &cores_start);
    let reaped_cpu_ns = if command_mode {
        match (procfs::reaped_children_ticks(), reaped_before) {
            (Some(after), Some(before)) => Some(after.saturating_sub(before) * NS_PER_TICK),
            _ => None,
        }
    } else {
        None
    };
    let report = make_report(&tracker, true, None, wall, cores, ended, reaped_cpu_ns);
    emit(&report)?;
    Ok(ExitCode::from(exit_code))
}
