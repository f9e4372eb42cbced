//! What the bench samples from outside the engine: `/proc` (CPU seconds of the process and of
//! each thread, resident memory, machine-wide busy time per CPU) and the engine's `/metrics`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Clock ticks per second of the times in `/proc/*/stat` (`getconf CLK_TCK`, else 100).
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|t| *t > 0)
        .map_or(100.0, f64::from)
}

/// `(name, utime + stime in ticks)` from the text of a `/proc/.../stat` file.
fn parse_stat(text: &str) -> Option<(String, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the name: state is field 3 of the man page, utime 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// CPU seconds (user + system) of process `pid`, all its threads included (also ended ones).
pub fn process_cpu_seconds(pid: u32, ticks: f64) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let (_, t) = parse_stat(&text).with_context(|| format!("cannot parse {path}"))?;
    Ok(t as f64 / ticks)
}

/// One thread's CPU time.
#[derive(Debug, Clone)]
pub struct ThreadCpu {
    /// Thread id.
    pub tid: u32,
    /// Its name (`ferris-shard-N` for a shard, `rdk:...` for librdkafka's threads).
    pub name: String,
    /// User + system seconds.
    pub cpu_seconds: f64,
}

/// CPU seconds of every live thread of `pid`, most first.
pub fn thread_cpu(pid: u32, ticks: f64) -> Vec<ThreadCpu> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((name, t)) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| parse_stat(&s))
        {
            out.push(ThreadCpu {
                tid,
                name,
                cpu_seconds: t as f64 / ticks,
            });
        }
    }
    out.sort_by(|a, b| b.cpu_seconds.total_cmp(&a.cpu_seconds));
    out
}

/// Resident set of `pid` in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Machine-wide time per CPU from /proc/stat: `(busy, total)` ticks for `cpu0`, `cpu1`, ...
pub fn cpu_times() -> Vec<(u64, u64)> {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .take(8)
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            let total: u64 = v.iter().sum();
            // idle and iowait are fields 4 and 5.
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle.min(total), total)
        })
        .collect()
}

/// Busy percentage per CPU between two [`cpu_times`] readings.
pub fn busy_percent(before: &[(u64, u64)], after: &[(u64, u64)]) -> Vec<f64> {
    before
        .iter()
        .zip(after)
        .map(|((b0, t0), (b1, t1))| {
            let total = t1.saturating_sub(*t0);
            if total == 0 {
                0.0
            } else {
                100.0 * b1.saturating_sub(*b0) as f64 / total as f64
            }
        })
        .collect()
}

/// What the bench reads from the engine's `/metrics`, summed over shards (lag: per shard).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineMetrics {
    /// `ferris_records_in_total`.
    pub records_in: u64,
    /// `ferris_records_out_total` (handed to the producer).
    pub records_out: u64,
    /// `ferris_dlq_records_total`.
    pub dead_letters: u64,
    /// `ferris_in_flight_records`: outputs not yet acknowledged.
    pub in_flight: u64,
    /// `ferris_consumer_lag_records` per shard (-1: unknown yet).
    pub consumer_lag: Vec<i64>,
    /// `ferris_batches_total`.
    pub batches: u64,
    /// `ferris_batch_limit_records` per shard.
    pub batch_limit: Vec<u64>,
    /// `ferris_batch_linger_microseconds` per shard.
    pub linger_us: Vec<u64>,
    /// `ferris_batch_latency_seconds`, summed over shards: (upper bound in seconds, `+Inf` as
    /// infinity; cumulative count of batches), in bucket order.
    pub batch_latency: Vec<(f64, u64)>,
}

impl EngineMetrics {
    /// The consumer lag summed over the shards that know theirs (`None`: none does yet).
    pub fn known_lag(&self) -> Option<i64> {
        let known: Vec<i64> = self
            .consumer_lag
            .iter()
            .copied()
            .filter(|l| *l >= 0)
            .collect();
        (!known.is_empty()).then(|| known.iter().sum())
    }

    /// The upper bound (seconds) of the histogram bucket that holds the `q` quantile of the
    /// engine's batch latency (poll to producer hand-off), and the number of batches; `None`
    /// without batches. A bucket bound, not an interpolation: "p95 <= 1 ms".
    pub fn batch_latency_quantile(&self, q: f64) -> Option<(f64, u64)> {
        let total = self.batch_latency.last()?.1;
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil() as u64;
        self.batch_latency
            .iter()
            .find(|(_, count)| *count >= rank)
            .map(|(le, _)| (*le, total))
    }
}

impl EngineMetrics {
    /// The batch latency histogram of the batches since `before` (cumulative counts, as
    /// [`EngineMetrics::batch_latency`]).
    pub fn batch_latency_since(&self, before: &EngineMetrics) -> EngineMetrics {
        let batch_latency = self
            .batch_latency
            .iter()
            .map(|(le, n)| {
                let earlier = before
                    .batch_latency
                    .iter()
                    .find(|(b, _)| b == le)
                    .map_or(0, |(_, c)| *c);
                (*le, n.saturating_sub(earlier))
            })
            .collect();
        EngineMetrics {
            batch_latency,
            ..EngineMetrics::default()
        }
    }
}

/// Parses the Prometheus text of `/metrics` (only the families the bench uses).
pub fn parse_metrics(text: &str) -> EngineMetrics {
    let mut m = EngineMetrics::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        if name == "ferris_batch_latency_seconds_bucket" {
            let le = series
                .split("le=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .and_then(|le| match le {
                    "+Inf" => Some(f64::INFINITY),
                    bound => bound.parse::<f64>().ok(),
                });
            if let (Some(le), Ok(count)) = (le, value.trim().parse::<u64>()) {
                match m.batch_latency.iter_mut().find(|(b, _)| *b == le) {
                    Some((_, c)) => *c += count,
                    None => m.batch_latency.push((le, count)),
                }
            }
            continue;
        }
        let Ok(v) = value.trim().parse::<i64>() else {
            continue;
        };
        let u = u64::try_from(v).unwrap_or(0);
        match name {
            "ferris_records_in_total" => m.records_in += u,
            "ferris_records_out_total" => m.records_out += u,
            "ferris_dlq_records_total" => m.dead_letters += u,
            "ferris_in_flight_records" => m.in_flight += u,
            "ferris_consumer_lag_records" => m.consumer_lag.push(v),
            "ferris_batches_total" => m.batches += u,
            "ferris_batch_limit_records" => m.batch_limit.push(u),
            "ferris_batch_linger_microseconds" => m.linger_us.push(u),
            _ => {}
        }
    }
    m
}

/// GET http://ADDR/metrics.
pub fn scrape(addr: SocketAddr) -> Result<EngineMetrics> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .with_context(|| format!("cannot connect to the engine's metrics at {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    let Some((head, text)) = body.split_once("\r\n\r\n") else {
        bail!("malformed HTTP answer from {addr}");
    };
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!(
            "metrics at {addr} answered {}",
            head.lines().next().unwrap_or("")
        );
    }
    Ok(parse_metrics(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_and_metrics_parse() {
        let stat = "1234 (ferris-shard 0) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3 0";
        assert_eq!(parse_stat(stat), Some(("ferris-shard 0".to_string(), 300)));
        let text = "# HELP x\nferris_records_in_total{shard=\"0\",job=\"j\"} 7\n\
                    ferris_records_in_total{shard=\"1\",job=\"j\"} 5\n\
                    ferris_consumer_lag_records{shard=\"0\",job=\"j\"} -1\n\
                    ferris_consumer_lag_records{shard=\"1\",job=\"j\"} 40\n\
                    ferris_batch_size_avg{shard=\"1\",job=\"j\"} 3.5\n\
                    ferris_batches_total{shard=\"0\",job=\"j\"} 2\n\
                    ferris_batches_total{shard=\"1\",job=\"j\"} 1\n\
                    ferris_batch_limit_records{shard=\"0\",job=\"j\"} 64\n\
                    ferris_batch_limit_records{shard=\"1\",job=\"j\"} 256\n\
                    ferris_batch_linger_microseconds{shard=\"1\",job=\"j\"} 2560\n";
        let m = parse_metrics(text);
        assert_eq!(m.records_in, 12);
        assert_eq!(m.batches, 3);
        assert_eq!(m.batch_limit, vec![64, 256]);
        assert_eq!(m.linger_us, vec![2560]);
        assert_eq!(m.consumer_lag, vec![-1, 40]);
        assert_eq!(m.known_lag(), Some(40));
    }

    #[test]
    fn batch_latency_buckets_sum_over_shards_and_give_quantile_bounds() {
        let mut text = String::new();
        // Shard 0: 90 batches <= 1 ms, 10 more <= 2.5 ms. Shard 1: 100 batches <= 1 ms.
        for (shard, counts) in [(0, [0, 90, 100, 100]), (1, [50, 100, 100, 100])] {
            for (le, n) in ["0.0005", "0.001", "0.0025", "+Inf"].iter().zip(counts) {
                text.push_str(&format!(
                    "ferris_batch_latency_seconds_bucket{{shard=\"{shard}\",job=\"j\",le=\"{le}\"}} {n}\n"
                ));
            }
        }
        text.push_str("ferris_batch_latency_seconds_count{shard=\"0\",job=\"j\"} 100\n");
        let m = parse_metrics(&text);
        assert_eq!(
            m.batch_latency,
            vec![
                (0.0005, 50),
                (0.001, 190),
                (0.0025, 200),
                (f64::INFINITY, 200)
            ]
        );
        assert_eq!(m.batch_latency_quantile(0.25), Some((0.0005, 200)));
        assert_eq!(m.batch_latency_quantile(0.5), Some((0.001, 200)));
        assert_eq!(m.batch_latency_quantile(0.95), Some((0.001, 200)));
        assert_eq!(m.batch_latency_quantile(0.99), Some((0.0025, 200)));
        assert_eq!(parse_metrics("").batch_latency_quantile(0.5), None);
        // Since an earlier scrape with 40 batches <= 0.5 ms and 10 <= 1 ms.
        let earlier = EngineMetrics {
            batch_latency: vec![(0.0005, 40), (0.001, 50), (0.0025, 50), (f64::INFINITY, 50)],
            ..EngineMetrics::default()
        };
        let since = m.batch_latency_since(&earlier);
        assert_eq!(
            since.batch_latency,
            vec![
                (0.0005, 10),
                (0.001, 140),
                (0.0025, 150),
                (f64::INFINITY, 150)
            ]
        );
        assert_eq!(since.batch_latency_quantile(0.5), Some((0.001, 150)));
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let pid = std::process::id();
        assert!(process_cpu_seconds(pid, clock_ticks()).unwrap() >= 0.0);
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(!thread_cpu(pid, clock_ticks()).is_empty());
        assert!(!cpu_times().is_empty());
    }
}
