//! Event-time progress over several sources.
//!
//! A *source* is whatever delivers records in its own (roughly) increasing time order: a Kafka
//! partition, or an upstream shard. Each source has a high-water mark, the largest event time it
//! has reported. The watermark is the smallest high-water mark over the *active* sources: no
//! active source will (modulo out-of-orderness, which the caller subtracts) deliver anything
//! older.
//!
//! A source is active while it was last observed or touched less than `idle_timeout` ago
//! (processing time); an idle source no longer holds the watermark back, and becomes active again
//! with its next record. A source that is active but has not reported any time yet holds the
//! watermark where it is (it may still deliver old records). The watermark never goes down, and
//! does not advance when every source is idle. An `idle_timeout` of zero or less disables
//! idleness: every known source always counts.

use hashbrown::HashMap;

/// One source's progress.
#[derive(Debug, Clone, Copy)]
struct Source {
    /// The largest time observed, if any.
    high: Option<i64>,
    /// When it was last active (processing time, ms).
    active_ms: i64,
}

/// The minimum over sources of their progress; idle sources stop holding it back.
#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    idle_timeout_ms: i64,
    sources: HashMap<u32, Source, foldhash::fast::RandomState>,
    last: Option<i64>,
}

impl WatermarkTracker {
    /// A tracker whose sources go idle after `idle_timeout_ms` without activity (`<= 0`: never).
    pub fn new(idle_timeout_ms: i64) -> Self {
        WatermarkTracker {
            idle_timeout_ms,
            sources: HashMap::default(),
            last: None,
        }
    }

    fn source(&mut self, source: u32, now_ms: i64) -> &mut Source {
        let s = self.sources.entry(source).or_insert(Source {
            high: None,
            active_ms: now_ms,
        });
        s.active_ms = s.active_ms.max(now_ms);
        s
    }

    /// Source `source` has reached `time` (its own high-water mark rises to max(old, time)); it
    /// was active at `now_ms` (processing time).
    pub fn observe(&mut self, source: u32, time: i64, now_ms: i64) {
        let s = self.source(source, now_ms);
        s.high = Some(s.high.map_or(time, |h| h.max(time)));
    }

    /// Source is active but has no new time (keeps it from going idle).
    pub fn touch(&mut self, source: u32, now_ms: i64) {
        self.source(source, now_ms);
    }

    /// Removes a source (partition revoked, shard gone).
    pub fn forget(&mut self, source: u32) {
        self.sources.remove(&source);
    }

    /// The number of sources known (active or idle).
    pub fn sources(&self) -> usize {
        self.sources.len()
    }

    /// The minimum over sources active at `now_ms` of their high-water marks, never lower than
    /// what it returned before (monotone). `None` if no active source has reported a time and
    /// nothing was returned before. If every source is idle, or an active source has not reported
    /// a time yet, the previous value: the watermark does not advance on idleness alone.
    pub fn watermark(&mut self, now_ms: i64) -> Option<i64> {
        let mut min: Option<i64> = None;
        let mut held = false;
        for s in self.sources.values() {
            let active = self.idle_timeout_ms <= 0
                || now_ms.saturating_sub(s.active_ms) < self.idle_timeout_ms;
            if !active {
                continue;
            }
            match s.high {
                Some(h) => min = Some(min.map_or(h, |m| m.min(h))),
                None => held = true,
            }
        }
        if !held && let Some(m) = min {
            self.last = Some(self.last.map_or(m, |l| l.max(m)));
        }
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_over_sources() {
        let mut w = WatermarkTracker::new(1_000);
        assert_eq!(w.watermark(0), None);
        w.observe(0, 100, 0);
        assert_eq!(w.watermark(0), Some(100));
        w.observe(1, 50, 0);
        // Monotone: source 1 at 50 cannot pull it back below 100.
        assert_eq!(w.watermark(0), Some(100));
        w.observe(0, 300, 10);
        w.observe(1, 200, 10);
        assert_eq!(w.watermark(10), Some(200));
        // A source's own mark never goes back.
        w.observe(1, 150, 20);
        w.observe(1, 250, 20);
        assert_eq!(w.watermark(20), Some(250));
    }

    #[test]
    fn idle_sources_stop_holding_it_back() {
        let mut w = WatermarkTracker::new(1_000);
        w.observe(0, 100, 0);
        w.observe(1, 500, 0);
        assert_eq!(w.watermark(0), Some(100));
        w.observe(1, 900, 600);
        assert_eq!(w.watermark(999), Some(100));
        // Source 0 is idle from 1000 ms on.
        assert_eq!(w.watermark(1_000), Some(900));
        // Source 0 comes back with an old time: the watermark stays.
        w.observe(0, 200, 1_100);
        assert_eq!(w.watermark(1_100), Some(900));
        w.observe(0, 2_000, 1_200);
        w.observe(1, 1_500, 1_200);
        assert_eq!(w.watermark(1_200), Some(1_500));
    }

    #[test]
    fn all_idle_keeps_the_previous_value() {
        let mut w = WatermarkTracker::new(1_000);
        w.observe(0, 100, 0);
        assert_eq!(w.watermark(0), Some(100));
        assert_eq!(w.watermark(5_000), Some(100));
        let mut fresh = WatermarkTracker::new(1_000);
        fresh.observe(0, 100, 0);
        assert_eq!(
            fresh.watermark(5_000),
            None,
            "idle before anything was returned"
        );
    }

    #[test]
    fn touch_keeps_a_source_active_and_a_timeless_source_holds_back() {
        let mut w = WatermarkTracker::new(1_000);
        w.observe(0, 100, 0);
        w.observe(1, 500, 0);
        w.touch(0, 900);
        assert_eq!(w.watermark(1_500), Some(100));
        w.touch(2, 1_500);
        w.observe(0, 600, 1_500);
        assert_eq!(w.watermark(1_500), Some(100), "source 2 has no time yet");
        assert_eq!(w.watermark(2_600), Some(100), "all idle");
        w.observe(0, 700, 2_700);
        assert_eq!(w.watermark(2_700), Some(700), "source 2 went idle");
    }

    #[test]
    fn forget_removes_a_source() {
        let mut w = WatermarkTracker::new(1_000);
        w.observe(0, 100, 0);
        w.observe(1, 500, 0);
        assert_eq!(w.sources(), 2);
        w.forget(0);
        assert_eq!(w.sources(), 1);
        assert_eq!(w.watermark(0), Some(500));
    }

    #[test]
    fn no_idle_timeout_means_never_idle() {
        let mut w = WatermarkTracker::new(0);
        w.observe(0, 100, 0);
        w.observe(1, 500, 0);
        assert_eq!(w.watermark(1_000_000), Some(100));
    }
}
