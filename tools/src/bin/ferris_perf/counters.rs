//! Per-thread perf counters through the `perf-event` crate: software events (task-clock,
//! context switches, CPU migrations, page faults) and, where the machine has a PMU and the
//! kernel lets us, hardware events (cycles, instructions, cache and branch misses).
//!
//! Every open is allowed to fail. The first failure of a class (hardware or software) is kept
//! as the reason that class is unavailable, printed once; the caller then falls back to what
//! `/proc` says.

use std::io;
use std::path::Path;

use perf_event::events::{Event, Hardware, Software};
use perf_event::{Builder, Counter};

/// One counted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    TaskClock,
    ContextSwitches,
    CpuMigrations,
    PageFaults,
    Cycles,
    Instructions,
    CacheReferences,
    CacheMisses,
    BranchInstructions,
    BranchMisses,
}

/// How many metrics there are (the length of [`Values`]).
pub const METRICS: usize = 10;

/// Cumulative counts per metric, indexed by `Metric as usize`; `None` where not counted.
pub type Values = [Option<u64>; METRICS];

impl Metric {
    pub const SOFTWARE: [Metric; 4] = [
        Metric::TaskClock,
        Metric::ContextSwitches,
        Metric::CpuMigrations,
        Metric::PageFaults,
    ];
    pub const HARDWARE: [Metric; 6] = [
        Metric::Cycles,
        Metric::Instructions,
        Metric::CacheReferences,
        Metric::CacheMisses,
        Metric::BranchInstructions,
        Metric::BranchMisses,
    ];

    fn event(self) -> Event {
        match self {
            Metric::TaskClock => Software::TASK_CLOCK.into(),
            Metric::ContextSwitches => Software::CONTEXT_SWITCHES.into(),
            Metric::CpuMigrations => Software::CPU_MIGRATIONS.into(),
            Metric::PageFaults => Software::PAGE_FAULTS.into(),
            Metric::Cycles => Hardware::CPU_CYCLES.into(),
            Metric::Instructions => Hardware::INSTRUCTIONS.into(),
            Metric::CacheReferences => Hardware::CACHE_REFERENCES.into(),
            Metric::CacheMisses => Hardware::CACHE_MISSES.into(),
            Metric::BranchInstructions => Hardware::BRANCH_INSTRUCTIONS.into(),
            Metric::BranchMisses => Hardware::BRANCH_MISSES.into(),
        }
    }

    /// The perf name of the event.
    pub fn name(self) -> &'static str {
        match self {
            Metric::TaskClock => "task-clock",
            Metric::ContextSwitches => "context-switches",
            Metric::CpuMigrations => "cpu-migrations",
            Metric::PageFaults => "page-faults",
            Metric::Cycles => "cycles",
            Metric::Instructions => "instructions",
            Metric::CacheReferences => "cache-references",
            Metric::CacheMisses => "cache-misses",
            Metric::BranchInstructions => "branches",
            Metric::BranchMisses => "branch-misses",
        }
    }
}

/// Linux errno values (the workspace does not depend on `libc`).
mod errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const EACCES: i32 = 13;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const ENOSYS: i32 = 38;
    pub const EOPNOTSUPP: i32 = 95;
}

/// Whether a class of counters could be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Not tried yet (no thread seen).
    Unknown,
    /// Opened; `kernel` says whether kernel-mode events are counted too (they are not when
    /// `perf_event_paranoid` forbids it).
    Available { kernel: bool },
    /// Could not be opened, and why.
    Unavailable(String),
}

/// Opens counters for threads, remembering what this machine allows.
#[derive(Debug)]
pub struct Opener {
    pub hardware: Availability,
    pub software: Availability,
    /// Things said once (a single metric that would not open, user-only counting).
    pub notes: Vec<String>,
    paranoid: Option<i64>,
    /// Metrics that failed to open on their own while the rest of their class opened.
    broken: Vec<Metric>,
}

/// The counters of one thread.
#[derive(Debug, Default)]
pub struct ThreadCounters {
    counters: Vec<(Metric, Counter)>,
}

impl ThreadCounters {
    /// Reads every counter: cumulative counts since the counter was opened, scaled up by
    /// `time_enabled / time_running` where the kernel had to multiplex hardware counters.
    /// A counter stays readable after its thread has exited.
    pub fn read(&mut self) -> Values {
        let mut values: Values = [None; METRICS];
        for (metric, counter) in &mut self.counters {
            if let Ok(ct) = counter.read_count_and_time() {
                let count = if ct.time_running == 0 || ct.time_running >= ct.time_enabled {
                    ct.count
                } else {
                    let scaled = u128::from(ct.count) * u128::from(ct.time_enabled)
                        / u128::from(ct.time_running);
                    u64::try_from(scaled).unwrap_or(u64::MAX)
                };
                values[*metric as usize] = Some(count);
            }
        }
        values
    }

    pub fn is_empty(&self) -> bool {
        self.counters.is_empty()
    }
}

impl Opener {
    pub fn new(paranoid: Option<i64>) -> Self {
        Opener {
            hardware: Availability::Unknown,
            software: Availability::Unknown,
            notes: Vec::new(),
            paranoid,
            broken: Vec::new(),
        }
    }

    /// An opener that opens nothing, saying why (`--no-perf`).
    pub fn disabled(paranoid: Option<i64>, why: &str) -> Self {
        let mut opener = Opener::new(paranoid);
        opener.hardware = Availability::Unavailable(why.to_string());
        opener.software = Availability::Unavailable(why.to_string());
        opener
    }

    /// Opens (and enables) every counter this machine allows on thread `tid`. Returns an
    /// empty set if none could be opened, or if the thread has already gone.
    pub fn open(&mut self, tid: i32) -> ThreadCounters {
        let mut out = ThreadCounters::default();
        let mut software = std::mem::replace(&mut self.software, Availability::Unknown);
        self.open_class(tid, &Metric::SOFTWARE, &mut software, &mut out);
        self.software = software;
        let mut hardware = std::mem::replace(&mut self.hardware, Availability::Unknown);
        self.open_class(tid, &Metric::HARDWARE, &mut hardware, &mut out);
        self.hardware = hardware;
        out
    }

    fn open_class(
        &mut self,
        tid: i32,
        metrics: &[Metric],
        state: &mut Availability,
        out: &mut ThreadCounters,
    ) {
        let (kernel, rest) = match state {
            Availability::Unavailable(_) => return,
            Availability::Available { kernel } => (*kernel, metrics),
            Availability::Unknown => {
                let Some((&first, rest)) = metrics.split_first() else {
                    return;
                };
                // Kernel mode too if allowed, else user mode only.
                let opened = match open_one(first, tid, true) {
                    Ok(c) => Ok((c, true)),
                    Err(e) if is_permission(&e) => open_one(first, tid, false).map(|c| (c, false)),
                    Err(e) => Err(e),
                };
                match opened {
                    Ok((counter, kernel)) => {
                        if !kernel {
                            self.notes.push(format!(
                                "{} counters count user mode only (kernel mode not permitted; \
                                 perf_event_paranoid = {})",
                                class_name(metrics),
                                self.paranoid.map_or("?".to_string(), |p| p.to_string())
                            ));
                        }
                        *state = Availability::Available { kernel };
                        out.counters.push((first, counter));
                        (kernel, rest)
                    }
                    Err(e) if e.raw_os_error() == Some(errno::ESRCH) => return,
                    Err(e) => {
                        *state = Availability::Unavailable(self.reason(&e, metrics));
                        return;
                    }
                }
            }
        };
        for &metric in rest {
            self.open_metric(metric, tid, kernel, out);
        }
    }

    fn open_metric(&mut self, metric: Metric, tid: i32, kernel: bool, out: &mut ThreadCounters) {
        if self.broken.contains(&metric) {
            return;
        }
        match open_one(metric, tid, kernel) {
            Ok(counter) => out.counters.push((metric, counter)),
            Err(e) if e.raw_os_error() == Some(errno::ESRCH) => {}
            Err(e) => {
                self.broken.push(metric);
                self.notes
                    .push(format!("{} unavailable: {}", metric.name(), errno_text(&e)));
            }
        }
    }

    /// Why a class of counters could not be opened, in words.
    fn reason(&self, e: &io::Error, metrics: &[Metric]) -> String {
        let paranoid = self
            .paranoid
            .map_or("unreadable".to_string(), |p| p.to_string());
        let hardware = metrics
            .first()
            .is_some_and(|m| Metric::HARDWARE.contains(m));
        let pmu = if hardware && !has_cpu_pmu() {
            "; /sys/bus/event_source/devices has no CPU PMU"
        } else {
            ""
        };
        match e.raw_os_error() {
            Some(errno::ENOENT) | Some(errno::ENODEV) | Some(errno::EOPNOTSUPP) if hardware => {
                format!(
                    "no PMU: the kernel offers no hardware events on this CPU ({}, usual in a \
                     VM without a virtual PMU{pmu})",
                    errno_text(e)
                )
            }
            Some(errno::EACCES) | Some(errno::EPERM) => format!(
                "permission denied ({}; perf_event_paranoid = {paranoid}: 3 or more forbids \
                 perf events without CAP_PERFMON, and another user's process needs \
                 CAP_SYS_PTRACE)",
                errno_text(e)
            ),
            Some(errno::ENOSYS) => format!(
                "perf_event_open is not available ({}: a kernel without perf events, or a \
                 seccomp filter, as in many containers)",
                errno_text(e)
            ),
            _ => format!("{}{pmu}", errno_text(e)),
        }
    }
}

fn class_name(metrics: &[Metric]) -> &'static str {
    if metrics
        .first()
        .is_some_and(|m| Metric::HARDWARE.contains(m))
    {
        "hardware"
    } else {
        "software"
    }
}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(errno::EACCES) | Some(errno::EPERM))
}

/// `EACCES (Permission denied)`-style text for an OS error.
fn errno_text(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(errno::EPERM) => "EPERM",
        Some(errno::ENOENT) => "ENOENT",
        Some(errno::ESRCH) => "ESRCH",
        Some(errno::EACCES) => "EACCES",
        Some(errno::ENODEV) => "ENODEV",
        Some(errno::EINVAL) => "EINVAL",
        Some(errno::ENOSYS) => "ENOSYS",
        Some(errno::EOPNOTSUPP) => "EOPNOTSUPP",
        _ => return e.to_string(),
    };
    format!("{name}: {e}")
}

/// Whether the kernel registered a core PMU (`cpu` on x86, `cpu_core`/`cpu_atom` on hybrid
/// Intel, `armv8_*` on Arm).
fn has_cpu_pmu() -> bool {
    let dir = Path::new("/sys/bus/event_source/devices");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name == "cpu" || name.starts_with("cpu_") || name.starts_with("armv")
    })
}

fn open_one(metric: Metric, tid: i32, kernel: bool) -> io::Result<Counter> {
    let mut builder = Builder::new()
        .kind(metric.event())
        .observe_pid(tid)
        .any_cpu();
    if kernel {
        builder.include_kernel();
    }
    let mut counter = builder.build()?;
    counter.enable()?;
    Ok(counter)
}
