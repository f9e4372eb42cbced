//! Per-shard counters and the Prometheus text they are served as.
//!
//! Each shard owns one [`ShardMetrics`] and is its only writer; readers (the progress line, the
//! `/metrics` endpoint) load the atomics with relaxed ordering. Updates happen once per batch,
//! not per record (DESIGN decision 5), so the atomics cost nothing measurable.

mod server;

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

pub use server::MetricsServer;

/// Upper bounds (microseconds) of the batch latency histogram buckets.
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

/// Counters of one shard running one job.
#[derive(Debug)]
pub struct ShardMetrics {
    /// The shard id.
    pub shard: usize,
    /// The job (statement) name.
    pub job: String,
    /// Records consumed.
    pub records_in: AtomicU64,
    /// Records produced to the sink.
    pub records_out: AtomicU64,
    /// Payload bytes consumed.
    pub bytes_in: AtomicU64,
    /// Payload bytes produced to the sink.
    pub bytes_out: AtomicU64,
    /// Records that failed to decode.
    pub decode_errors: AtomicU64,
    /// Records whose evaluation failed.
    pub eval_errors: AtomicU64,
    /// Records sent to the dead-letter topic.
    pub dlq_records: AtomicU64,
    /// Batches processed.
    pub batches: AtomicU64,
    /// Records consumed but whose offsets are not committed yet.
    pub commit_lag: AtomicU64,
    /// Records in the assigned partitions not consumed yet (from librdkafka statistics; -1 if
    /// unknown).
    pub consumer_lag: AtomicI64,
    /// Output records handed to the producer and not yet acknowledged.
    pub in_flight: AtomicU64,
    /// Offset commits done.
    pub commits: AtomicU64,
    /// Open GROUP BY states (window, key) on this shard.
    pub state_groups: AtomicU64,
    /// Approximate bytes of GROUP BY state on this shard.
    pub state_bytes: AtomicU64,
    /// The shard's event-time watermark (epoch ms; -1 before the first).
    pub watermark_ms: AtomicI64,
    /// Records that arrived after their windows closed.
    pub late_records: AtomicU64,
    /// Records replayed after a restart whose windows were already emitted (skipped).
    pub replayed_records: AtomicU64,
    /// Records a join did not store because its state limit (`'state.max_bytes'`) was reached.
    pub join_state_rejected: AtomicU64,
    /// Messages waiting in the exchange rings towards this shard.
    pub ring_depth: AtomicU64,
    /// Records polled per batch at most (the `auto` preset moves it).
    pub batch_limit: AtomicU64,
    /// The adaptive loop's linger, microseconds.
    pub linger_us: AtomicU64,
    /// 1 while the shard is over its memory budget and consumes nothing new.
    pub memory_pressure: AtomicU64,
    /// Vectors taken from the shard's pools (aggregation keys and arguments).
    pub pool_hits: AtomicU64,
    /// Vectors allocated because a pool was empty.
    pub pool_misses: AtomicU64,
    /// Vectors in the shard's pools now.
    pub pool_held: AtomicU64,
    /// Decoded strings reused from the decoder's string pool.
    pub string_pool_hits: AtomicU64,
    /// Decoded strings allocated (not found in the pool, too long, or a field at rest).
    pub string_pool_misses: AtomicU64,
    /// Strings in the decoder's string pool now.
    pub string_pool_held: AtomicU64,
    /// Batch processing latency (poll to hand-off to the producer), microseconds, cumulative
    /// per bucket of [`LATENCY_BUCKETS_US`] plus +Inf.
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
}

impl ShardMetrics {
    /// Zeroed counters for `shard` running `job`.
    pub fn new(shard: usize, job: &str) -> Arc<ShardMetrics> {
        Arc::new(ShardMetrics {
            shard,
            job: job.to_string(),
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            decode_errors: AtomicU64::new(0),
            eval_errors: AtomicU64::new(0),
            dlq_records: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            commit_lag: AtomicU64::new(0),
            consumer_lag: AtomicI64::new(-1),
            in_flight: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            state_groups: AtomicU64::new(0),
            state_bytes: AtomicU64::new(0),
            watermark_ms: AtomicI64::new(-1),
            late_records: AtomicU64::new(0),
            join_state_rejected: AtomicU64::new(0),
            replayed_records: AtomicU64::new(0),
            ring_depth: AtomicU64::new(0),
            batch_limit: AtomicU64::new(0),
            linger_us: AtomicU64::new(0),
            memory_pressure: AtomicU64::new(0),
            pool_hits: AtomicU64::new(0),
            pool_misses: AtomicU64::new(0),
            pool_held: AtomicU64::new(0),
            string_pool_hits: AtomicU64::new(0),
            string_pool_misses: AtomicU64::new(0),
            string_pool_held: AtomicU64::new(0),
            latency_buckets: Default::default(),
            latency_sum_us: AtomicU64::new(0),
        })
    }

    /// Adds `n` to a counter (single writer: a relaxed add is enough).
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Records one batch's processing latency.
    pub fn observe_batch(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    /// Current value of a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A metric family: name, help text, and how to read its value from a shard.
type Family<T> = (&'static str, &'static str, fn(&ShardMetrics) -> T);

/// A counter family: the value is an atomic of the shard.
type Counter = (
    &'static str,
    &'static str,
    for<'a> fn(&'a ShardMetrics) -> &'a AtomicU64,
);

/// Writes one metric family: its HELP and TYPE lines, then one sample per shard.
fn family(
    out: &mut String,
    shards: &[Arc<ShardMetrics>],
    name: &str,
    kind: &str,
    help: &str,
    value: impl Fn(&ShardMetrics) -> i64,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for m in shards {
        let _ = writeln!(
            out,
            "{name}{{shard=\"{}\",job=\"{}\"}} {}",
            m.shard,
            m.job,
            value(m)
        );
    }
}

/// Renders every shard's counters in the Prometheus text exposition format.
pub fn render_prometheus(shards: &[Arc<ShardMetrics>]) -> String {
    let mut out = String::new();
    let counters: [Counter; 16] = [
        ("ferris_records_in_total", "Records consumed", |m| {
            &m.records_in
        }),
        (
            "ferris_records_out_total",
            "Records produced to the sink",
            |m| &m.records_out,
        ),
        ("ferris_bytes_in_total", "Payload bytes consumed", |m| {
            &m.bytes_in
        }),
        ("ferris_bytes_out_total", "Payload bytes produced", |m| {
            &m.bytes_out
        }),
        (
            "ferris_decode_errors_total",
            "Records that failed to decode",
            |m| &m.decode_errors,
        ),
        (
            "ferris_eval_errors_total",
            "Records whose evaluation failed",
            |m| &m.eval_errors,
        ),
        (
            "ferris_dlq_records_total",
            "Records sent to the dead-letter topic",
            |m| &m.dlq_records,
        ),
        ("ferris_batches_total", "Batches processed", |m| &m.batches),
        ("ferris_commits_total", "Offset commits", |m| &m.commits),
        (
            "ferris_late_records_total",
            "Records that arrived after their windows closed",
            |m| &m.late_records,
        ),
        (
            "ferris_replayed_records_total",
            "Records replayed after a restart whose windows were already emitted",
            |m| &m.replayed_records,
        ),
        (
            "ferris_pool_hits_total",
            "Vectors reused from the shard's pools (aggregation keys and arguments)",
            |m| &m.pool_hits,
        ),
        (
            "ferris_pool_misses_total",
            "Vectors allocated because a pool was empty",
            |m| &m.pool_misses,
        ),
        (
            "ferris_string_pool_hits_total",
            "Decoded strings reused from the shard's string pool",
            |m| &m.string_pool_hits,
        ),
        (
            "ferris_string_pool_misses_total",
            "Decoded strings of top-level fields allocated (new, longer than 32 bytes, or a field of distinct values)",
            |m| &m.string_pool_misses,
        ),
        (
            "ferris_join_state_rejected_total",
            "Records a join did not store because its state limit was reached",
            |m| &m.join_state_rejected,
        ),
    ];
    for (name, help, counter) in counters {
        family(&mut out, shards, name, "counter", help, |m| {
            ShardMetrics::get(counter(m)) as i64
        });
    }
    let gauges: [Family<i64>; 13] = [
        (
            "ferris_commit_lag_records",
            "Records consumed whose offsets are not committed yet",
            |m| ShardMetrics::get(&m.commit_lag) as i64,
        ),
        (
            "ferris_consumer_lag_records",
            "Records in assigned partitions not consumed yet (-1: unknown)",
            |m| m.consumer_lag.load(Ordering::Relaxed),
        ),
        (
            "ferris_in_flight_records",
            "Output records not yet acknowledged by the broker",
            |m| ShardMetrics::get(&m.in_flight) as i64,
        ),
        (
            "ferris_state_groups",
            "Open GROUP BY states (window, key)",
            |m| ShardMetrics::get(&m.state_groups) as i64,
        ),
        (
            "ferris_state_bytes",
            "Approximate bytes of GROUP BY state",
            |m| ShardMetrics::get(&m.state_bytes) as i64,
        ),
        (
            "ferris_watermark_ms",
            "Event-time watermark, epoch ms (-1: none yet)",
            |m| m.watermark_ms.load(Ordering::Relaxed),
        ),
        (
            "ferris_ring_depth",
            "Messages waiting in the exchange rings towards the shard",
            |m| ShardMetrics::get(&m.ring_depth) as i64,
        ),
        (
            "ferris_batch_limit_records",
            "Records polled per batch at most",
            |m| ShardMetrics::get(&m.batch_limit) as i64,
        ),
        (
            "ferris_batch_linger_microseconds",
            "How long a shard lets records gather after a partial batch (auto preset)",
            |m| ShardMetrics::get(&m.linger_us) as i64,
        ),
        ("ferris_pool_held", "Vectors in the shard's pools", |m| {
            ShardMetrics::get(&m.pool_held) as i64
        }),
        (
            "ferris_string_pool_held",
            "Strings in the shard's string pool",
            |m| ShardMetrics::get(&m.string_pool_held) as i64,
        ),
        (
            "ferris_memory_pressure",
            "1 while the shard is over its memory budget and consumes nothing new",
            |m| ShardMetrics::get(&m.memory_pressure) as i64,
        ),
        ("ferris_batch_size_avg", "Average records per batch", |m| {
            ShardMetrics::get(&m.records_in)
                .checked_div(ShardMetrics::get(&m.batches))
                .unwrap_or(0) as i64
        }),
    ];
    for (name, help, value) in gauges {
        family(&mut out, shards, name, "gauge", help, value);
    }
    let name = "ferris_batch_latency_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Batch processing latency, poll to producer hand-off\n# TYPE {name} histogram"
    );
    for m in shards {
        let labels = format!("shard=\"{}\",job=\"{}\"", m.shard, m.job);
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
            cumulative += m.latency_buckets[i].load(Ordering::Relaxed);
            let le = *bound as f64 / 1e6;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        cumulative += m.latency_buckets[LATENCY_BUCKETS_US.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
        let sum = m.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {sum}\n{name}_count{{{labels}}} {cumulative}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_exact_series() {
        let m = ShardMetrics::new(1, "big");
        ShardMetrics::add(&m.records_in, 10);
        ShardMetrics::add(&m.records_out, 4);
        m.observe_batch(Duration::from_micros(80));
        m.observe_batch(Duration::from_millis(2));
        m.observe_batch(Duration::from_secs(3));
        m.string_pool_hits.store(97, Ordering::Relaxed);
        m.string_pool_misses.store(3, Ordering::Relaxed);
        m.string_pool_held.store(2, Ordering::Relaxed);
        let text = render_prometheus(&[m]);
        for line in [
            "ferris_records_in_total{shard=\"1\",job=\"big\"} 10",
            "ferris_records_out_total{shard=\"1\",job=\"big\"} 4",
            "ferris_batches_total{shard=\"1\",job=\"big\"} 3",
            "ferris_batch_size_avg{shard=\"1\",job=\"big\"} 3",
            "ferris_consumer_lag_records{shard=\"1\",job=\"big\"} -1",
            "ferris_batch_latency_seconds_bucket{shard=\"1\",job=\"big\",le=\"0.00005\"} 0",
            "ferris_batch_latency_seconds_bucket{shard=\"1\",job=\"big\",le=\"0.0001\"} 1",
            "ferris_batch_latency_seconds_bucket{shard=\"1\",job=\"big\",le=\"0.0025\"} 2",
            "ferris_batch_latency_seconds_bucket{shard=\"1\",job=\"big\",le=\"1\"} 2",
            "ferris_batch_latency_seconds_bucket{shard=\"1\",job=\"big\",le=\"+Inf\"} 3",
            "ferris_batch_latency_seconds_count{shard=\"1\",job=\"big\"} 3",
            "ferris_batch_latency_seconds_sum{shard=\"1\",job=\"big\"} 3.00208",
            "ferris_string_pool_hits_total{shard=\"1\",job=\"big\"} 97",
            "ferris_string_pool_misses_total{shard=\"1\",job=\"big\"} 3",
            "ferris_string_pool_held{shard=\"1\",job=\"big\"} 2",
            "# TYPE ferris_string_pool_hits_total counter",
            "# TYPE ferris_string_pool_held gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }
}
