//! The load: one loop that produces trades at a steady rate to one topic and, between sends,
//! consumes another topic without blocking, measuring each output's end-to-end latency from the
//! `sent_us` stamp it carries. No threads of its own (librdkafka's do the network I/O).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use ferris_tools::trades::{START_MS, TradeGenerator};
use hdrhistogram::Histogram;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::job::SENT_FIELD;

/// One clock for send stamps and receive times: epoch microseconds, advanced by a monotonic
/// clock so that a wall-clock step during the run does not distort latencies.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
    base_us: u64,
}

impl Clock {
    /// Starts the clock now.
    pub fn new() -> Clock {
        let base_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(0))
            .unwrap_or(0);
        Clock {
            base: Instant::now(),
            base_us,
        }
    }

    /// Epoch microseconds now.
    pub fn now_us(&self) -> u64 {
        self.base_us + u64::try_from(self.base.elapsed().as_micros()).unwrap_or(0)
    }
}

/// Client settings both the load producer and consumers use.
pub fn client_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("broker.address.family", "v4")
        .set("log_level", "3");
    c
}

#[derive(Debug, Default)]
struct AckContext {
    acked: AtomicU64,
    failed: AtomicU64,
    first_error: OnceLock<String>,
}

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        match result {
            Ok(_) => self.acked.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                let _ = self.first_error.set(e.to_string());
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// What to do.
#[derive(Debug, Clone)]
pub struct Load<'a> {
    /// Bootstrap servers.
    pub brokers: &'a str,
    /// Where the trades go.
    pub produce_topic: &'a str,
    /// Where the outputs are read from (all partitions, from the beginning).
    pub consume_topic: &'a str,
    /// Partitions of `consume_topic`.
    pub consume_partitions: usize,
    /// Trades to produce.
    pub records: u64,
    /// `fetch.wait.max.ms` of the output consumer.
    pub fetch_wait_ms: u32,
    /// Records per second (0: as fast as the producer takes them); ignored with `phases`.
    pub rate: u64,
    /// A schedule of rates instead of one (`--phases`): each phase's rate for its seconds.
    pub phases: &'a [Phase],
    /// Trade generator seed.
    pub seed: u64,
    /// Send stamps and receive times.
    pub clock: Clock,
    /// Give up when nothing moves (sent, acknowledged, received, or the hook's own progress
    /// marker) for this long.
    pub stall_timeout: Duration,
}

/// One part of a changing load: `rate` records/s for `seconds`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    /// Records per second.
    pub rate: u64,
    /// How long.
    pub seconds: f64,
}

impl Phase {
    /// Parses `RATE:SECONDS,RATE:SECONDS,...`.
    pub fn parse_list(text: &str) -> Result<Vec<Phase>> {
        let phases = text
            .split(',')
            .map(|p| {
                let (rate, seconds) = p
                    .split_once(':')
                    .with_context(|| format!("phase '{p}': expected RATE:SECONDS"))?;
                let rate: u64 = rate
                    .trim()
                    .parse()
                    .ok()
                    .filter(|r| *r > 0)
                    .with_context(|| format!("phase '{p}': the rate is not a positive number"))?;
                let seconds: f64 = seconds
                    .trim()
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .with_context(|| format!("phase '{p}': the seconds are not positive"))?;
                Ok(Phase { rate, seconds })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(phases)
    }

    /// Records the whole schedule produces.
    pub fn total_records(phases: &[Phase]) -> u64 {
        Self::due(phases, f64::INFINITY)
    }

    /// Records due `elapsed` seconds into the schedule.
    pub fn due(phases: &[Phase], elapsed: f64) -> u64 {
        let mut due = 0.0;
        let mut start = 0.0;
        for p in phases {
            let within = (elapsed - start).clamp(0.0, p.seconds);
            due += within * p.rate as f64;
            start += p.seconds;
        }
        due.round() as u64
    }

    /// The phase a record sent `at` seconds into the schedule belongs to (the last one after
    /// the end).
    pub fn index_at(phases: &[Phase], at: f64) -> usize {
        let mut end = 0.0;
        for (i, p) in phases.iter().enumerate() {
            end += p.seconds;
            if at < end {
                return i;
            }
        }
        phases.len().saturating_sub(1)
    }
}

/// Counters the loop keeps, handed to the hook.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Records handed to the producer.
    pub sent: u64,
    /// Records the broker acknowledged.
    pub acked: u64,
    /// Records consumed from the output topic.
    pub received: u64,
    /// Outputs without a readable `sent_us`.
    pub unstamped: u64,
    /// Seconds since the first send.
    pub elapsed: f64,
}

/// What the hook answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Go on; the value is a progress marker (a change counts as progress for stall detection).
    Continue(u64),
    /// Stop: the phase is complete.
    Done,
}

/// What a phase measured.
#[derive(Debug)]
pub struct Measured {
    /// End-to-end latency per output, microseconds.
    pub latency_us: Histogram<u64>,
    /// The same, per phase of the schedule (by the output's send time; empty without phases).
    pub phase_latency_us: Vec<Histogram<u64>>,
    /// Final counters.
    pub counts: Counts,
    /// Seconds from the first send to the last acknowledgement.
    pub produce_seconds: f64,
    /// Seconds from the first send to the end of the phase.
    pub seconds: f64,
}

fn sent_us_of(payload: &[u8]) -> Option<u64> {
    let key = format!("\"{SENT_FIELD}\":");
    let at = payload
        .windows(key.len())
        .position(|w| w == key.as_bytes())?;
    let digits: &[u8] = &payload[at + key.len()..];
    let digits = digits.trim_ascii_start();
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// Writes trade `id` as JSON, stamped `sent_us`.
fn encode(out: &mut Vec<u8>, id: u64, t: &ferris_tools::trades::TradeDraw, sent_us: u64) {
    use std::io::Write;
    out.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{{\"id\":{id},\"symbol\":\"{}\",\"price\":{}.{:02},\"quantity\":{},\"side\":\"{}\",\
         \"account\":\"ACC-{:04}\",\"ts\":{},\"{SENT_FIELD}\":{sent_us}}}",
        t.symbol,
        t.price_cents / 100,
        t.price_cents % 100,
        t.quantity,
        t.side,
        t.account,
        t.ts
    );
}

/// Runs the load until the hook says `Done` (called about every 50 ms, and once more as soon as
/// everything produced is acknowledged). Fails on a delivery error, or when nothing moves for
/// `stall_timeout`.
pub fn run(load: &Load<'_>, hook: &mut dyn FnMut(&Counts) -> Result<Step>) -> Result<Measured> {
    let producer: BaseProducer<AckContext> = client_config(load.brokers)
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.timeout.ms", "300000")
        .set("max.in.flight.requests.per.connection", "1")
        .create_with_context(AckContext::default())
        .context("cannot create the load producer")?;
    let consumer: BaseConsumer = client_config(load.brokers)
        .set("group.id", "ferris-bench")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", load.fetch_wait_ms.to_string())
        .set("fetch.error.backoff.ms", "10")
        .create()
        .context("cannot create the output consumer")?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..load.consume_partitions {
        tpl.add_partition_offset(load.consume_topic, p as i32, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    // Warm up: connections, topic metadata and the consumer's first fetch, so that the first
    // records do not wait for them.
    producer
        .client()
        .fetch_metadata(Some(load.produce_topic), Duration::from_secs(10))
        .with_context(|| format!("no metadata for {}", load.produce_topic))?;
    consumer
        .client()
        .fetch_metadata(Some(load.consume_topic), Duration::from_secs(10))
        .with_context(|| format!("no metadata for {}", load.consume_topic))?;
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(500) {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(50)) {
            bail!("{} is not empty", load.consume_topic);
        }
    }

    let mut latency = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    let mut phase_latency = vec![latency.clone(); load.phases.len()];
    let mut trades = TradeGenerator::new(load.seed, START_MS);
    let mut pending = trades.next();
    let mut payload = Vec::with_capacity(192);
    let mut key = String::with_capacity(8);
    let mut counts = Counts::default();
    let started = Instant::now();
    let started_us = load.clock.now_us();
    let mut produce_done: Option<Instant> = None;
    let mut next_hook = Instant::now();
    let mut last_marker = (0u64, 0u64, 0u64, 0u64);
    let mut last_move = Instant::now();
    loop {
        // Produce what is due.
        let elapsed = started.elapsed().as_secs_f64();
        let due = if !load.phases.is_empty() {
            Phase::due(load.phases, elapsed).min(load.records)
        } else if load.rate == 0 {
            load.records
        } else {
            ((elapsed * load.rate as f64) as u64 + 1).min(load.records)
        };
        let mut burst = 0;
        while counts.sent < due && burst < 2000 {
            let Some(t) = pending else { break };
            encode(&mut payload, counts.sent, &t, load.clock.now_us());
            key.clear();
            key.push_str(&format!("ACC-{:04}", t.account));
            let record = BaseRecord::to(load.produce_topic)
                .key(key.as_str())
                .payload(&payload[..]);
            match producer.send(record) {
                Ok(()) => {
                    counts.sent += 1;
                    burst += 1;
                    pending = trades.next();
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => break,
                Err((e, _)) => bail!("cannot produce to {}: {e}", load.produce_topic),
            }
        }
        producer.poll(Duration::ZERO);
        let ctx = producer.context();
        if ctx.failed.load(Ordering::Relaxed) > 0 {
            bail!(
                "the broker refused records for {}: {}",
                load.produce_topic,
                ctx.first_error.get().map_or("?", String::as_str)
            );
        }
        counts.acked = ctx.acked.load(Ordering::Relaxed);
        if produce_done.is_none() && counts.acked >= load.records {
            produce_done = Some(Instant::now());
            next_hook = Instant::now();
        }

        // Consume: wait for an output at most until the next send is due (1 ms granularity:
        // what falls due meanwhile goes out in one burst; each record is stamped when sent).
        let wait = if counts.sent < due && burst >= 2000 {
            Duration::ZERO
        } else {
            Duration::from_millis(1)
        };
        let mut first = true;
        for _ in 0..10_000 {
            let polled = consumer.poll(if first { wait } else { Duration::ZERO });
            first = false;
            match polled {
                None => break,
                Some(Err(e)) => eprintln!("ferris bench kafka: consumer: {e}"),
                Some(Ok(m)) => {
                    let now = load.clock.now_us();
                    counts.received += 1;
                    match m.payload().and_then(sent_us_of) {
                        Some(sent) => {
                            let us = now.saturating_sub(sent).max(1);
                            latency.saturating_record(us);
                            if !phase_latency.is_empty() {
                                let at = sent.saturating_sub(started_us) as f64 / 1e6;
                                phase_latency[Phase::index_at(load.phases, at)]
                                    .saturating_record(us);
                            }
                        }
                        None => counts.unstamped += 1,
                    }
                }
            }
        }

        if Instant::now() >= next_hook {
            next_hook = Instant::now() + Duration::from_millis(50);
            counts.elapsed = started.elapsed().as_secs_f64();
            let marker = match hook(&counts)? {
                Step::Done => break,
                Step::Continue(m) => m,
            };
            let now = (counts.sent, counts.acked, counts.received, marker);
            if now != last_marker {
                last_marker = now;
                last_move = Instant::now();
            } else if last_move.elapsed() >= load.stall_timeout {
                bail!(
                    "nothing moved for {:.0} s: {} of {} records sent, {} acknowledged, {} outputs received",
                    load.stall_timeout.as_secs_f64(),
                    counts.sent,
                    load.records,
                    counts.acked,
                    counts.received
                );
            }
        }
    }
    let end = started.elapsed().as_secs_f64();
    counts.elapsed = end;
    Ok(Measured {
        latency_us: latency,
        phase_latency_us: phase_latency,
        counts,
        produce_seconds: produce_done.map_or(end, |t| (t - started).as_secs_f64()),
        seconds: end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_stamped_and_the_stamp_is_found_again() {
        let t = TradeGenerator::new(1, START_MS).next().unwrap();
        let mut buf = Vec::new();
        encode(&mut buf, 7, &t, 1_767_225_600_123_456);
        let text = std::str::from_utf8(&buf).unwrap();
        assert!(text.starts_with("{\"id\":7,\"symbol\":"), "{text}");
        assert_eq!(sent_us_of(&buf), Some(1_767_225_600_123_456));
        assert_eq!(sent_us_of(b"{\"a\":1,\"sent_us\": 42}"), Some(42));
        assert_eq!(sent_us_of(b"{\"a\":1}"), None);
    }

    #[test]
    fn a_schedule_parses_and_says_what_is_due_when() {
        let p = Phase::parse_list("1000:10, 200000:5,1000:2.5").unwrap();
        assert_eq!(
            p,
            vec![
                Phase {
                    rate: 1000,
                    seconds: 10.0
                },
                Phase {
                    rate: 200_000,
                    seconds: 5.0
                },
                Phase {
                    rate: 1000,
                    seconds: 2.5
                },
            ]
        );
        assert_eq!(Phase::total_records(&p), 10_000 + 1_000_000 + 2_500);
        assert_eq!(Phase::due(&p, 0.0), 0);
        assert_eq!(Phase::due(&p, 5.0), 5_000);
        assert_eq!(Phase::due(&p, 11.0), 210_000);
        assert_eq!(Phase::due(&p, 100.0), 1_012_500);
        assert_eq!(Phase::index_at(&p, 9.99), 0);
        assert_eq!(Phase::index_at(&p, 10.0), 1);
        assert_eq!(Phase::index_at(&p, 16.0), 2);
        assert_eq!(Phase::index_at(&p, 99.0), 2);
        for bad in ["", "1000", "0:5", "1000:0", "x:1", "1000:-1"] {
            assert!(Phase::parse_list(bad).is_err(), "{bad}");
        }
    }
}
