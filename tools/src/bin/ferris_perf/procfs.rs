//! What `/proc` says about threads and cores. This works everywhere, with or without a PMU or
//! permission to open perf events: it is both the CPU-time source and the fallback for the
//! software counters.

use std::fs;
use std::path::Path;

/// Linux reports `utime`/`stime` and `/proc/stat` in `USER_HZ` ticks, 100 per second on every
/// architecture Rust targets (the kernel converts; `sysconf(_SC_CLK_TCK)` is 100).
pub const TICKS_PER_SECOND: u64 = 100;
/// Nanoseconds per `USER_HZ` tick.
pub const NS_PER_TICK: u64 = 1_000_000_000 / TICKS_PER_SECOND;

/// One thread's cumulative figures from `/proc/PID/task/TID/{stat,status}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadStat {
    /// `utime + stime`, in ticks.
    pub cpu_ticks: u64,
    /// Minor page faults (`minflt`).
    pub minor_faults: u64,
    /// Major page faults (`majflt`).
    pub major_faults: u64,
    /// The CPU the thread last ran on (`processor`).
    pub last_cpu: Option<usize>,
    /// `voluntary_ctxt_switches` from `status`.
    pub voluntary_switches: u64,
    /// `nonvoluntary_ctxt_switches` from `status`.
    pub involuntary_switches: u64,
}

impl ThreadStat {
    /// The figures accumulated since `base` (counters never go down; saturate if they seem to).
    pub fn since(&self, base: &ThreadStat) -> ThreadStat {
        ThreadStat {
            cpu_ticks: self.cpu_ticks.saturating_sub(base.cpu_ticks),
            minor_faults: self.minor_faults.saturating_sub(base.minor_faults),
            major_faults: self.major_faults.saturating_sub(base.major_faults),
            last_cpu: self.last_cpu,
            voluntary_switches: self
                .voluntary_switches
                .saturating_sub(base.voluntary_switches),
            involuntary_switches: self
                .involuntary_switches
                .saturating_sub(base.involuntary_switches),
        }
    }
}

/// Parses the contents of `/proc/PID/task/TID/stat`. The command name (field 2) is in
/// parentheses and may itself contain spaces and parentheses, so fields are counted from the
/// last `)`.
pub fn parse_thread_stat(text: &str) -> Option<ThreadStat> {
    let rest = &text[text.rfind(')')? + 1..];
    // rest starts at field 3 (state): field n is at index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(ThreadStat {
        cpu_ticks: field(14)? + field(15)?,
        minor_faults: field(10)?,
        major_faults: field(12)?,
        last_cpu: field(39).and_then(|c| usize::try_from(c).ok()),
        voluntary_switches: 0,
        involuntary_switches: 0,
    })
}

/// Adds the context-switch counts of `/proc/PID/task/TID/status` to `stat`.
pub fn parse_thread_status(text: &str, stat: &mut ThreadStat) {
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        match key {
            "voluntary_ctxt_switches:" => stat.voluntary_switches = value,
            "nonvoluntary_ctxt_switches:" => stat.involuntary_switches = value,
            _ => {}
        }
    }
}

/// Reads one thread's figures; `None` once the thread has gone.
pub fn read_thread(pid: i32, tid: i32) -> Option<ThreadStat> {
    let dir = format!("/proc/{pid}/task/{tid}");
    let mut stat = parse_thread_stat(&fs::read_to_string(format!("{dir}/stat")).ok()?)?;
    if let Ok(status) = fs::read_to_string(format!("{dir}/status")) {
        parse_thread_status(&status, &mut stat);
    }
    Some(stat)
}

/// The thread's name (`comm`, at most 15 bytes: the runtime names shard threads
/// `ferris-shard-N`).
pub fn thread_name(pid: i32, tid: i32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// The thread ids of process `pid`, ascending; `None` if the process is gone.
pub fn list_threads(pid: i32) -> Option<Vec<i32>> {
    let mut tids: Vec<i32> = fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    Some(tids)
}

/// The process's state letter (`R`, `S`, `T` stopped, `Z` zombie...), `None` if it is gone.
pub fn process_state(pid: i32) -> Option<char> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text[text.rfind(')')? + 1..].trim_start().chars().next()
}

/// Whether `/proc/PID` exists and is not a zombie.
pub fn process_alive(pid: i32) -> bool {
    process_state(pid).is_some_and(|state| state != 'Z' && state != 'X')
}

/// Whether `program` can be run: a path to an executable file, or a name found in `PATH`.
pub fn find_program(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return runnable(Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| runnable(&dir.join(program))))
}

/// The process's command name, for the report header.
pub fn process_name(pid: i32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// CPU time of this process's waited-for children (`cutime + cstime` of `/proc/self/stat`), in
/// ticks: after the measured command has been reaped, its whole CPU time, threads included.
pub fn reaped_children_ticks() -> Option<u64> {
    let text = fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(field(16)? + field(17)?)
}

/// One core's line of `/proc/stat`, in ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

impl CoreTimes {
    pub fn total(&self) -> u64 {
        self.user
            + self.nice
            + self.system
            + self.idle
            + self.iowait
            + self.irq
            + self.softirq
            + self.steal
    }

    pub fn since(&self, base: &CoreTimes) -> CoreTimes {
        CoreTimes {
            user: self.user.saturating_sub(base.user),
            nice: self.nice.saturating_sub(base.nice),
            system: self.system.saturating_sub(base.system),
            idle: self.idle.saturating_sub(base.idle),
            iowait: self.iowait.saturating_sub(base.iowait),
            irq: self.irq.saturating_sub(base.irq),
            softirq: self.softirq.saturating_sub(base.softirq),
            steal: self.steal.saturating_sub(base.steal),
        }
    }
}

/// Per-core times from the contents of `/proc/stat`: `(cpu number, times)` for each `cpuN`
/// line (the aggregate `cpu` line is skipped).
pub fn parse_proc_stat(text: &str) -> Vec<(usize, CoreTimes)> {
    let mut cores = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some(label) = parts.next() else { continue };
        let Some(Ok(cpu)) = label.strip_prefix("cpu").map(str::parse::<usize>) else {
            continue;
        };
        let v: Vec<u64> = parts.map(|p| p.parse().unwrap_or(0)).collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        cores.push((
            cpu,
            CoreTimes {
                user: at(0),
                nice: at(1),
                system: at(2),
                idle: at(3),
                iowait: at(4),
                irq: at(5),
                softirq: at(6),
                steal: at(7),
            },
        ));
    }
    cores
}

/// Reads `/proc/stat`; empty if it cannot be read.
pub fn read_proc_stat() -> Vec<(usize, CoreTimes)> {
    fs::read_to_string("/proc/stat")
        .map(|t| parse_proc_stat(&t))
        .unwrap_or_default()
}

/// `/proc/sys/kernel/perf_event_paranoid`, if readable.
pub fn perf_event_paranoid() -> Option<i64> {
    fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether `/proc/PID` exists at all (zombie or not).
pub fn process_exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_stat_with_odd_name() {
        // A real line, with a name holding a space and a parenthesis.
        let line = "4242 (we(ird name) R 1 4242 4242 0 -1 4194304 120 0 3 0 57 12 0 0 20 0 1 0 \
                    100 5000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let s = parse_thread_stat(line).unwrap();
        assert_eq!(s.cpu_ticks, 69);
        assert_eq!(s.minor_faults, 120);
        assert_eq!(s.major_faults, 3);
        assert_eq!(s.last_cpu, Some(1));
    }

    #[test]
    fn status_switches() {
        let mut s = ThreadStat::default();
        parse_thread_status(
            "Name:\tx\nvoluntary_ctxt_switches:\t7\nnonvoluntary_ctxt_switches:\t3\n",
            &mut s,
        );
        assert_eq!((s.voluntary_switches, s.involuntary_switches), (7, 3));
    }

    #[test]
    fn proc_stat_cores() {
        let text = "cpu  10 0 5 100 1 0 0 0 0 0\ncpu0 4 0 2 50 1 0 0 0 0 0\n\
                    cpu1 6 0 3 50 0 0 0 2 0 0\nintr 1 2 3\n";
        let cores = parse_proc_stat(text);
        assert_eq!(cores.len(), 2);
        assert_eq!(cores[1].0, 1);
        assert_eq!(cores[1].1.steal, 2);
        assert_eq!(cores[1].1.total(), 61);
    }

    #[test]
    fn own_thread_is_readable() {
        let pid = i32::try_from(std::process::id()).unwrap();
        let tids = list_threads(pid).unwrap();
        assert!(tids.contains(&pid));
        assert!(read_thread(pid, pid).is_some());
        assert!(process_alive(pid));
        assert!(process_state(pid).is_some_and(|s| s != 'Z'));
        assert!(find_program("sh"));
        assert!(!find_program("/nonexistent/program"));
    }
}
