//! One measurement window, as an aligned table or as one JSON object.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::counters::{Availability, METRICS, Metric, Values};
use super::procfs::{CoreTimes, NS_PER_TICK, ThreadStat};

/// One thread's figures over the window.
#[derive(Debug, Clone)]
pub struct ThreadRow {
    pub tid: i32,
    pub name: String,
    pub alive: bool,
    /// perf counts over the window (`None`: not counted for this thread).
    pub perf: Values,
    /// `/proc` figures over the window.
    pub proc: ThreadStat,
}

impl ThreadRow {
    fn metric(&self, m: Metric) -> Option<u64> {
        self.perf[m as usize]
    }

    /// CPU time in nanoseconds: task-clock where counted, else `/proc` utime+stime.
    pub fn cpu_ns(&self) -> (u64, &'static str) {
        match self.metric(Metric::TaskClock) {
            Some(ns) => (ns, "task-clock"),
            None => (self.proc.cpu_ticks * NS_PER_TICK, "proc"),
        }
    }

    pub fn context_switches(&self) -> (u64, &'static str) {
        match self.metric(Metric::ContextSwitches) {
            Some(n) => (n, "perf"),
            None => (
                self.proc.voluntary_switches + self.proc.involuntary_switches,
                "proc",
            ),
        }
    }

    pub fn page_faults(&self) -> (u64, &'static str) {
        match self.metric(Metric::PageFaults) {
            Some(n) => (n, "perf"),
            None => (self.proc.minor_faults + self.proc.major_faults, "proc"),
        }
    }

    pub fn migrations(&self) -> Option<u64> {
        self.metric(Metric::CpuMigrations)
    }

    pub fn ipc(&self) -> Option<f64> {
        let cycles = self.metric(Metric::Cycles)?;
        let instructions = self.metric(Metric::Instructions)?;
        (cycles > 0).then(|| instructions as f64 / cycles as f64)
    }
}

/// Everything one report prints.
#[derive(Debug, Clone)]
pub struct Report {
    /// `pid 123 (ferris)` or the command line.
    pub target: String,
    pub pid: i32,
    pub command: Option<Vec<String>>,
    /// How the target ended, if it did (`exited with status 0`).
    pub ended: Option<String>,
    /// `Some(n)` for the n-th `--interval` report (from 1); `None` for the whole run.
    pub interval: Option<u64>,
    pub wall: Duration,
    pub hardware: Availability,
    pub software: Availability,
    pub paranoid: Option<i64>,
    pub notes: Vec<String>,
    pub threads: Vec<ThreadRow>,
    /// Per-core `/proc/stat` deltas over the window.
    pub cores: Vec<(usize, CoreTimes)>,
    /// With a command, after it was reaped: its whole CPU time (`cutime + cstime`), in ns.
    pub reaped_cpu_ns: Option<u64>,
}

fn availability_json(a: &Availability) -> Value {
    match a {
        Availability::Unknown => {
            json!({"available": false, "reason": "not opened: no live thread to attach to"})
        }
        Availability::Available { kernel } => json!({"available": true, "kernel_mode": kernel}),
        Availability::Unavailable(reason) => json!({"available": false, "reason": reason}),
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// Rounds to `digits` decimals for printing in JSON.
fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn opt(n: Option<u64>) -> String {
    n.map_or("-".to_string(), group_digits)
}

impl Report {
    fn wall_ns(&self) -> u64 {
        u64::try_from(self.wall.as_nanos()).unwrap_or(u64::MAX)
    }

    /// The counters' source, in words.
    fn software_line(&self) -> String {
        match &self.software {
            Availability::Available { kernel } => format!(
                "software counters: perf_event ({}){}",
                Metric::SOFTWARE.map(Metric::name).join(", "),
                if *kernel { "" } else { ", user mode only" }
            ),
            Availability::Unavailable(reason) => format!(
                "software counters unavailable: {reason}; using /proc instead (cpu-ms from \
                 utime+stime in 10 ms ticks, ctx-sw from voluntary+nonvoluntary_ctxt_switches, \
                 faults from minflt+majflt, no migrations)"
            ),
            Availability::Unknown => {
                "software counters: not opened (no live thread to attach to); /proc figures only"
                    .to_string()
            }
        }
    }

    fn hardware_line(&self) -> String {
        match &self.hardware {
            Availability::Available { kernel } => format!(
                "hardware counters: perf_event ({}){}",
                Metric::HARDWARE.map(Metric::name).join(", "),
                if *kernel { "" } else { ", user mode only" }
            ),
            Availability::Unavailable(reason) => {
                format!("hardware counters unavailable: {reason}")
            }
            Availability::Unknown => {
                "hardware counters unavailable: not opened (no live thread to attach to)"
                    .to_string()
            }
        }
    }

    /// The aligned text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let wall_ns = self.wall_ns();
        let window = match self.interval {
            Some(n) => format!("interval {n}, {:.3} s", self.wall.as_secs_f64()),
            None => format!("{:.3} s", self.wall.as_secs_f64()),
        };
        let _ = writeln!(
            out,
            "ferris-perf: {} — {window}, {} thread{} seen{}",
            self.target,
            self.threads.len(),
            if self.threads.len() == 1 { "" } else { "s" },
            self.ended
                .as_ref()
                .map(|e| format!(", {e}"))
                .unwrap_or_default()
        );
        let _ = writeln!(out, "{}", self.hardware_line());
        let _ = writeln!(out, "{}", self.software_line());
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out.push('\n');

        let headers = [
            "thread",
            "tid",
            "state",
            "cpu",
            "cpu-ms",
            "cpu%",
            "ctx-sw",
            "migrations",
            "page-faults",
            "cycles",
            "instructions",
            "IPC",
            "cache-misses",
            "branch-misses",
        ];
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut total = ThreadRow {
            tid: 0,
            name: "total".to_string(),
            alive: true,
            perf: [None; METRICS],
            proc: ThreadStat::default(),
        };
        for t in &self.threads {
            rows.push(self.row_cells(t, wall_ns));
            for i in 0..METRICS {
                total.perf[i] = match (total.perf[i], t.perf[i]) {
                    (a, None) => a,
                    (None, Some(b)) => Some(b),
                    (Some(a), Some(b)) => Some(a + b),
                };
            }
            total.proc = ThreadStat {
                cpu_ticks: total.proc.cpu_ticks + t.proc.cpu_ticks,
                minor_faults: total.proc.minor_faults + t.proc.minor_faults,
                major_faults: total.proc.major_faults + t.proc.major_faults,
                last_cpu: None,
                voluntary_switches: total.proc.voluntary_switches + t.proc.voluntary_switches,
                involuntary_switches: total.proc.involuntary_switches + t.proc.involuntary_switches,
            };
        }
        if self.threads.len() > 1 {
            let mut cells = self.row_cells(&total, wall_ns);
            cells[1] = String::new();
            cells[2] = String::new();
            cells[3] = String::new();
            rows.push(cells);
        }
        write_table(&mut out, &headers, &rows, 1);
        let _ = writeln!(
            out,
            "(state: exited if the thread ended before the process or the window did; cpu: the \
             core it last ran on; cpu%: CPU time over the window, 100 = one core; cpu-ms from \
             {})",
            self.threads
                .first()
                .map_or("task-clock or /proc", |t| t.cpu_ns().1),
        );
        if let Some(ns) = self.reaped_cpu_ns {
            let _ = writeln!(
                out,
                "command's CPU time after exit (utime+stime of the reaped process, all its threads \
                 and waited-for children): {:.1} ms",
                ns as f64 / 1e6
            );
        }
        out.push('\n');

        let core_headers = [
            "core", "busy%", "user%", "system%", "iowait%", "steal%", "idle%", "threads",
        ];
        let mut core_rows = Vec::new();
        for (cpu, t) in &self.cores {
            let total = t.total();
            let here: Vec<&str> = self
                .threads
                .iter()
                .filter(|r| r.proc.last_cpu == Some(*cpu))
                .map(|r| r.name.as_str())
                .collect();
            core_rows.push(vec![
                format!("cpu{cpu}"),
                format!("{:.1}", pct(busy(t), total)),
                format!("{:.1}", pct(t.user + t.nice, total)),
                format!("{:.1}", pct(t.system + t.irq + t.softirq, total)),
                format!("{:.1}", pct(t.iowait, total)),
                format!("{:.1}", pct(t.steal, total)),
                format!("{:.1}", pct(t.idle, total)),
                here.join(" "),
            ]);
        }
        write_table(&mut out, &core_headers, &core_rows, 1);
        let _ = writeln!(
            out,
            "(per-core utilisation of the whole machine from /proc/stat over the window; \
             threads: the target's threads that last ran on that core)"
        );
        out
    }

    fn row_cells(&self, t: &ThreadRow, wall_ns: u64) -> Vec<String> {
        let (cpu_ns, _) = t.cpu_ns();
        vec![
            t.name.clone(),
            t.tid.to_string(),
            if t.alive { "live" } else { "exited" }.to_string(),
            t.proc.last_cpu.map_or("-".to_string(), |c| c.to_string()),
            format!("{:.1}", cpu_ns as f64 / 1e6),
            format!("{:.1}", pct(cpu_ns, wall_ns)),
            group_digits(t.context_switches().0),
            opt(t.migrations()),
            group_digits(t.page_faults().0),
            opt(t.metric(Metric::Cycles)),
            opt(t.metric(Metric::Instructions)),
            t.ipc().map_or("-".to_string(), |x| format!("{x:.2}")),
            opt(t.metric(Metric::CacheMisses)),
            opt(t.metric(Metric::BranchMisses)),
        ]
    }

    /// The same data as one JSON object.
    pub fn json(&self) -> Value {
        let wall_ns = self.wall_ns();
        let threads: Vec<Value> = self
            .threads
            .iter()
            .map(|t| {
                let (cpu_ns, cpu_source) = t.cpu_ns();
                let (switches, switches_source) = t.context_switches();
                let (faults, faults_source) = t.page_faults();
                json!({
                    "tid": t.tid,
                    "name": t.name,
                    "alive": t.alive,
                    "last_cpu": t.proc.last_cpu,
                    "cpu_ms": round(cpu_ns as f64 / 1e6, 3),
                    "cpu_ms_source": cpu_source,
                    "cpu_pct": round(pct(cpu_ns, wall_ns), 2),
                    "context_switches": switches,
                    "context_switches_source": switches_source,
                    "cpu_migrations": t.migrations(),
                    "page_faults": faults,
                    "page_faults_source": faults_source,
                    "cycles": t.metric(Metric::Cycles),
                    "instructions": t.metric(Metric::Instructions),
                    "ipc": t.ipc().map(|x| round(x, 3)),
                    "cache_references": t.metric(Metric::CacheReferences),
                    "cache_misses": t.metric(Metric::CacheMisses),
                    "branches": t.metric(Metric::BranchInstructions),
                    "branch_misses": t.metric(Metric::BranchMisses),
                    "proc": {
                        "cpu_ms": t.proc.cpu_ticks * NS_PER_TICK / 1_000_000,
                        "voluntary_switches": t.proc.voluntary_switches,
                        "involuntary_switches": t.proc.involuntary_switches,
                        "minor_faults": t.proc.minor_faults,
                        "major_faults": t.proc.major_faults,
                    },
                })
            })
            .collect();
        let cores: Vec<Value> = self
            .cores
            .iter()
            .map(|(cpu, t)| {
                let total = t.total();
                json!({
                    "cpu": cpu,
                    "busy_pct": round(pct(busy(t), total), 2),
                    "user_pct": round(pct(t.user + t.nice, total), 2),
                    "system_pct": round(pct(t.system + t.irq + t.softirq, total), 2),
                    "iowait_pct": round(pct(t.iowait, total), 2),
                    "steal_pct": round(pct(t.steal, total), 2),
                    "idle_pct": round(pct(t.idle, total), 2),
                    "ticks": total,
                })
            })
            .collect();
        json!({
            "target": self.target,
            "pid": self.pid,
            "command": self.command,
            "ended": self.ended,
            "interval": self.interval,
            "wall_seconds": round(self.wall.as_secs_f64(), 6),
            "perf_event_paranoid": self.paranoid,
            "hardware_counters": availability_json(&self.hardware),
            "software_counters": availability_json(&self.software),
            "hardware_line": self.hardware_line(),
            "software_line": self.software_line(),
            "notes": self.notes,
            "threads": threads,
            "reaped_cpu_ms": self.reaped_cpu_ns.map(|ns| round(ns as f64 / 1e6, 3)),
            "cores": cores,
        })
    }
}

fn busy(t: &CoreTimes) -> u64 {
    t.user + t.nice + t.system + t.irq + t.softirq
}

/// Writes `rows` under `headers`, columns padded; the first `left` columns left-aligned, the
/// rest right-aligned, and the last column left-aligned if it is text (the core table's
/// thread names).
fn write_table(out: &mut String, headers: &[&str], rows: &[Vec<String>], left: usize) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let last = headers.len().saturating_sub(1);
    let text_last = headers.get(last) == Some(&"threads");
    let line = |out: &mut String, cells: &[&str]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = w.saturating_sub(cell.chars().count());
            if i < left || (text_last && i == last) {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(out, headers);
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(out, &cells);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(1234567), "1,234,567");
    }

    #[test]
    fn table_without_counters_uses_proc() {
        let report = Report {
            target: "pid 1 (x)".to_string(),
            pid: 1,
            command: None,
            ended: None,
            interval: None,
            wall: Duration::from_secs(1),
            hardware: Availability::Unavailable("no PMU".to_string()),
            software: Availability::Unavailable("EACCES".to_string()),
            paranoid: Some(3),
            notes: Vec::new(),
            threads: vec![ThreadRow {
                tid: 7,
                name: "ferris-shard-0".to_string(),
                alive: true,
                perf: [None; METRICS],
                proc: ThreadStat {
                    cpu_ticks: 50,
                    last_cpu: Some(0),
                    ..ThreadStat::default()
                },
            }],
            cores: vec![(
                0,
                CoreTimes {
                    user: 50,
                    idle: 50,
                    ..CoreTimes::default()
                },
            )],
            reaped_cpu_ns: None,
        };
        let table = report.table();
        assert!(table.contains("hardware counters unavailable: no PMU"));
        assert!(table.contains("software counters unavailable: EACCES"));
        assert!(table.contains("ferris-shard-0"));
        assert!(table.contains("500.0"));
        let json = report.json();
        assert_eq!(json["threads"][0]["cpu_ms"], 500.0);
        assert_eq!(json["threads"][0]["cpu_ms_source"], "proc");
        assert_eq!(json["cores"][0]["busy_pct"], 50.0);
    }
}
