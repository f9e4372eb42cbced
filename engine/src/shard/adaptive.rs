//! Adaptive batching, the `auto` preset: a feedback loop on each shard that moves two engine
//! settings between the low-latency and the high-throughput ends as the load changes.
//!
//! - **Batch limit**: records polled per batch at most ([`AdaptiveLimits::min_batch`] to
//!   [`AdaptiveLimits::max_batch`]).
//! - **Linger**: after a batch that did not fill the limit, how long the shard lets records
//!   accumulate in the consumer's queue before it polls again (0 to [`AdaptiveLimits::max_linger`]). The
//!   shard's outputs reach the producer in bursts of that many records, so librdkafka (at
//!   `linger.ms` 0 under `auto`) sends fewer, larger requests: the engine's linger is the
//!   producer's.
//!
//! Once per control window ([`WINDOW`]) the loop reads what the shard observed and decides:
//!
//! 1. **Memory pressure**, checked every loop turn rather than once a window: when the shard's
//!    memory use (bytes of the outputs the broker has not acknowledged: what larger batches make
//!    grow; GROUP BY and join state have limits of their own) goes over its budget
//!    (`'<job>.memory.max_bytes'`), the batch limit halves, the linger goes to 0 and
//!    [`Adaptive::pressure`] is set: the shard consumes nothing new until it is under the
//!    budget again. Each window it stays over halves the batch limit again.
//! 2. **Batch limit**: when at least half of the window's batches filled the limit (the shard
//!    is behind: records wait in the queue), the limit doubles, unless the producer's queue
//!    holds more than [`AdaptiveLimits::queue_high`] unacknowledged records (then the producer
//!    is what is behind, and bigger batches would only queue more). When the largest batch of
//!    the window used a quarter of the limit or less, the limit halves.
//! 3. **Linger** follows the arrival rate (records consumed per second, smoothed over windows):
//!    below [`AdaptiveLimits::linger_from_rate`] it is 0, so a record at a light load is
//!    processed as soon as it arrives; above, it is the time [`AdaptiveLimits::turn_records`]
//!    records take to arrive, at most [`AdaptiveLimits::max_linger`]. The latency it adds is
//!    therefore bounded by `max_linger`, and only paid at loads where per-turn costs matter.
//!    It never throttles a shard that is behind: a full batch is followed by the next poll at
//!    once ([`Adaptive::linger_after`]), and while the linger is on the batch limit is at least
//!    four times `turn_records`, so a lingering turn does not fill it.
//!
//! The loop is pure arithmetic over what the shard hands it (no clock of its own), so its
//! behaviour is tested with made-up loads below and measured on Kafka in docs/benchmarks.md.

use std::time::{Duration, Instant};

/// How often the loop decides.
pub const WINDOW: Duration = Duration::from_millis(100);

/// The loop's bounds and thresholds (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveLimits {
    /// The smallest batch limit (the low-latency end).
    pub min_batch: usize,
    /// The largest batch limit (the high-throughput end).
    pub max_batch: usize,
    /// The longest linger.
    pub max_linger: Duration,
    /// Records the linger aims to gather per loop turn.
    pub turn_records: u64,
    /// Records per second below which the linger is 0.
    pub linger_from_rate: u64,
    /// Unacknowledged output records above which the batch limit does not grow.
    pub queue_high: u64,
    /// The shard's memory budget in bytes.
    pub memory_budget: u64,
}

/// The default memory budget of a shard under `auto`.
pub const DEFAULT_MEMORY_BUDGET: u64 = 256 << 20;

impl Default for AdaptiveLimits {
    fn default() -> Self {
        AdaptiveLimits {
            min_batch: 64,
            max_batch: 8192,
            max_linger: Duration::from_millis(1),
            turn_records: 256,
            linger_from_rate: 20_000,
            queue_high: 100_000,
            memory_budget: DEFAULT_MEMORY_BUDGET,
        }
    }
}

/// What the shard observed since the window began, handed to [`Adaptive::tick`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    /// Output records handed to the producer and not yet acknowledged.
    pub in_flight: u64,
    /// Estimated bytes of the output records the broker has not acknowledged.
    pub memory_bytes: u64,
}

/// The adaptive batching state of one shard.
#[derive(Debug, Clone)]
pub struct Adaptive {
    limits: AdaptiveLimits,
    batch: usize,
    linger: Duration,
    /// Smoothed arrival rate, records per second (`None` before the first window).
    rate: Option<f64>,
    pressure: bool,
    window_start: Instant,
    records: u64,
    batches: u64,
    full: u64,
    largest: usize,
}

impl Adaptive {
    /// Starts at the low-latency end: the smallest batch limit, no linger.
    pub fn new(limits: AdaptiveLimits, now: Instant) -> Adaptive {
        let max_batch = limits.max_batch.max(1);
        let limits = AdaptiveLimits {
            min_batch: limits.min_batch.clamp(1, max_batch),
            max_batch,
            ..limits
        };
        Adaptive {
            batch: limits.min_batch,
            limits,
            linger: Duration::ZERO,
            rate: None,
            pressure: false,
            window_start: now,
            records: 0,
            batches: 0,
            full: 0,
            largest: 0,
        }
    }

    /// The batch limit now.
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// The linger now.
    pub fn linger(&self) -> Duration {
        self.linger
    }

    /// How long to wait after a batch of `records` before polling again: the linger after a
    /// batch that did not fill the limit, none after a full one (records are waiting).
    pub fn linger_after(&self, records: usize) -> Duration {
        if records < self.batch {
            self.linger
        } else {
            Duration::ZERO
        }
    }

    /// True while the shard is over its memory budget: it consumes nothing new.
    pub fn pressure(&self) -> bool {
        self.pressure
    }

    /// The smoothed arrival rate, records per second.
    pub fn rate(&self) -> f64 {
        self.rate.unwrap_or(0.0)
    }

    /// The bounds the loop keeps to.
    pub fn limits(&self) -> &AdaptiveLimits {
        &self.limits
    }

    /// Notes one batch of `records` (polled under the current limit).
    pub fn record_batch(&mut self, records: usize) {
        if records == 0 {
            return;
        }
        self.records += records as u64;
        self.batches += 1;
        if records >= self.batch {
            self.full += 1;
        }
        self.largest = self.largest.max(records);
    }

    /// Checks the memory budget now: called every loop turn, so that a shard over it stops
    /// consuming at once (the batch limit halves and the linger goes to 0 as it does) and goes
    /// on as soon as it is under. Returns whether the pressure changed.
    pub fn check_memory(&mut self, memory_bytes: u64) -> bool {
        let over = memory_bytes > self.limits.memory_budget;
        if over == self.pressure {
            return false;
        }
        self.pressure = over;
        if over {
            self.batch = (self.batch / 2).max(self.limits.min_batch);
            self.linger = Duration::ZERO;
        }
        true
    }

    /// Decides, if a window has passed since the last decision. Returns whether the batch
    /// limit, the linger or the pressure changed.
    pub fn tick(&mut self, now: Instant, p: Pressure) -> bool {
        let changed = self.check_memory(p.memory_bytes);
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed < WINDOW {
            return changed;
        }
        let before = (self.batch, self.linger, self.pressure);
        let l = self.limits;
        let window_rate = self.records as f64 / elapsed.as_secs_f64();
        let rate = match self.rate {
            None => window_rate,
            Some(r) => 0.5 * r + 0.5 * window_rate,
        };
        self.rate = Some(rate);
        if self.pressure {
            // Still over the budget a window later: smaller again.
            if !changed {
                self.batch = (self.batch / 2).max(l.min_batch);
            }
            self.linger = Duration::ZERO;
        } else {
            if self.batches > 0 && self.full * 2 >= self.batches && p.in_flight <= l.queue_high {
                self.batch = (self.batch * 2).min(l.max_batch);
            } else if self.largest * 4 <= self.batch {
                self.batch = (self.batch / 2).max(l.min_batch);
            }
            self.linger = if rate < l.linger_from_rate as f64 || rate <= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(l.turn_records as f64 / rate).min(l.max_linger)
            };
            if !self.linger.is_zero() && p.in_flight <= l.queue_high {
                // A lingering turn gathers about `turn_records`: a limit of four times that
                // is never what holds a shard back (it could take 4 x 256 records per 1 ms).
                self.batch = self
                    .batch
                    .max((4 * l.turn_records).try_into().unwrap_or(usize::MAX))
                    .min(l.max_batch);
            }
        }
        self.window_start = now;
        self.records = 0;
        self.batches = 0;
        self.full = 0;
        self.largest = 0;
        changed || (self.batch, self.linger, self.pressure) != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `seconds` of a load of `rate` records/s to the loop the way a shard would see it:
    /// every `turn` the records that arrived meanwhile are polled, in batches of at most the
    /// limit (what does not fit waits for the next turn, like a consumer's queue).
    struct Sim {
        a: Adaptive,
        now: Instant,
        arrived: Instant,
        queued: f64,
        /// The last batch.
        last: usize,
    }

    impl Sim {
        fn new() -> Sim {
            let now = Instant::now();
            Sim {
                a: Adaptive::new(AdaptiveLimits::default(), now),
                now,
                arrived: now,
                queued: 0.0,
                last: 0,
            }
        }

        /// Runs the load; `per_record` is the shard's processing time per record, which
        /// bounds how many records one turn can take.
        fn run(&mut self, rate: f64, seconds: f64, per_record: Duration, p: Pressure) {
            let end = self.now + Duration::from_secs_f64(seconds);
            while self.now < end {
                let turn = Duration::from_micros(100).max(self.a.linger_after(self.last));
                self.now += turn;
                // Records keep arriving while the last batch was processed, and meanwhile.
                self.queued += rate * (self.now - self.arrived).as_secs_f64();
                self.arrived = self.now;
                // One turn polls one batch; a turn that processes more takes longer.
                let n = (self.queued as usize).min(self.a.batch_size());
                self.queued -= n as f64;
                self.last = n;
                self.a.record_batch(n);
                self.now += per_record * n as u32;
                self.a.tick(self.now, p);
            }
        }
    }

    const FAST: Duration = Duration::from_nanos(500);

    #[test]
    fn it_starts_at_the_low_latency_end() {
        let a = Adaptive::new(AdaptiveLimits::default(), Instant::now());
        assert_eq!(a.batch_size(), 64);
        assert_eq!(a.linger(), Duration::ZERO);
        assert!(!a.pressure());
    }

    #[test]
    fn a_light_load_keeps_small_batches_and_no_linger() {
        let mut s = Sim::new();
        s.run(1_000.0, 3.0, FAST, Pressure::default());
        assert_eq!(s.a.batch_size(), 64);
        assert_eq!(s.a.linger(), Duration::ZERO);
        assert!((s.a.rate() - 1_000.0).abs() < 100.0, "{}", s.a.rate());
    }

    #[test]
    fn a_heavy_load_lingers_and_then_a_light_one_returns_to_the_low_latency_end() {
        let mut s = Sim::new();
        s.run(400_000.0, 3.0, FAST, Pressure::default());
        // 256 records take 0.64 ms to arrive at 400 K/s.
        let linger = s.a.linger().as_secs_f64() * 1000.0;
        assert!((0.55..0.75).contains(&linger), "linger {linger} ms");
        // Each lingering turn gathers about 256 records: the limit is four times that.
        assert_eq!(s.a.batch_size(), 1024);

        s.run(1_000.0, 3.0, FAST, Pressure::default());
        assert_eq!(s.a.linger(), Duration::ZERO);
        assert_eq!(s.a.batch_size(), 64);
    }

    #[test]
    fn the_linger_never_passes_its_maximum() {
        let mut s = Sim::new();
        s.run(25_000.0, 2.0, FAST, Pressure::default());
        // 256 records take 10 ms at 25 K/s: capped at 1 ms.
        assert_eq!(s.a.linger(), Duration::from_millis(1));
    }

    #[test]
    fn a_backlog_grows_the_batch_limit_to_its_maximum() {
        let mut s = Sim::new();
        // The shard takes 5 us per record: 200 K/s is all it can do, so records pile up.
        s.run(
            400_000.0,
            3.0,
            Duration::from_micros(5),
            Pressure::default(),
        );
        assert_eq!(s.a.batch_size(), 8192);
    }

    #[test]
    fn a_full_producer_queue_stops_the_batch_limit_growing() {
        let mut s = Sim::new();
        let p = Pressure {
            in_flight: 200_000,
            memory_bytes: 0,
        };
        s.run(400_000.0, 3.0, Duration::from_micros(5), p);
        assert_eq!(s.a.batch_size(), 64);
    }

    #[test]
    fn memory_pressure_halves_batches_pauses_the_shard_and_lets_go_under_the_budget() {
        let mut s = Sim::new();
        s.run(
            400_000.0,
            2.0,
            Duration::from_micros(5),
            Pressure::default(),
        );
        assert_eq!(s.a.batch_size(), 8192);
        let over = Pressure {
            in_flight: 0,
            memory_bytes: DEFAULT_MEMORY_BUDGET + 1,
        };
        // At once, between windows.
        assert!(s.a.check_memory(over.memory_bytes));
        assert!(s.a.pressure());
        assert_eq!(s.a.batch_size(), 4096);
        assert_eq!(s.a.linger(), Duration::ZERO);
        assert!(
            !s.a.check_memory(over.memory_bytes),
            "no change while it stays over"
        );
        assert_eq!(s.a.batch_size(), 4096);
        // A window later, still over: halved again.
        let t = s.now + WINDOW;
        assert!(s.a.tick(t, over));
        assert!(s.a.pressure());
        assert_eq!(s.a.batch_size(), 2048);
        // Under the budget: released at once.
        assert!(s.a.check_memory(DEFAULT_MEMORY_BUDGET));
        assert!(!s.a.pressure());
        assert_eq!(s.a.batch_size(), 2048);
    }

    #[test]
    fn nothing_changes_within_a_window() {
        let now = Instant::now();
        let mut a = Adaptive::new(AdaptiveLimits::default(), now);
        a.record_batch(64);
        assert!(!a.tick(now + WINDOW / 2, Pressure::default()));
        assert_eq!(a.batch_size(), 64);
        assert!(
            a.tick(now + WINDOW, Pressure::default()),
            "one full batch doubles"
        );
        assert_eq!(a.batch_size(), 128);
    }

    #[test]
    fn the_bounds_are_kept_whatever_they_are() {
        let limits = AdaptiveLimits {
            min_batch: 500,
            max_batch: 100,
            ..AdaptiveLimits::default()
        };
        let a = Adaptive::new(limits, Instant::now());
        assert_eq!(a.batch_size(), 100);
        assert_eq!(a.limits().min_batch, 100);
    }
}
