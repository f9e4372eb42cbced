//! Window assignment: which windows a record with event time `t` (epoch milliseconds) belongs to.
//!
//! Tumbling and sliding windows are aligned to the epoch: their starts are multiples of the size
//! (tumbling) or of the advance (sliding) counted from `1970-01-01T00:00:00Z`, also for times
//! before it (floor division, so `-1` is in the window that starts at `-size`). A window is the
//! half-open interval `[start, start + size)`.
//!
//! Session windows belong to a key: a record at `t` opens the session `[t, t + gap)`; a record
//! whose own interval `[t, t + gap)` overlaps an open session of its key joins it, so a session is
//! `[first record, last record + gap)`. A record that overlaps two sessions (it arrived out of
//! order, between them) bridges them into one. Records exactly `gap` apart are in different
//! sessions.
//!
//! Arithmetic saturates at the ends of `i64`, so absurd times cannot panic.

use std::ops::Range;

use crate::sql::ast::WindowKind;

/// `floor(t / step) * step`: the aligned start at or before `t`. `step` must be positive.
pub fn align(t: i64, step: i64) -> i64 {
    t.saturating_sub(t.rem_euclid(step))
}

/// The start of the tumbling window of `size` milliseconds that holds `t`.
pub fn tumbling_start(t: i64, size: i64) -> i64 {
    align(t, size)
}

/// The starts of the windows that hold a time, in ascending order. Allocation-free.
#[derive(Debug, Clone)]
pub struct WindowStarts {
    next: i64,
    last: i64,
    step: i64,
    done: bool,
}

impl Iterator for WindowStarts {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        if self.done || self.next > self.last {
            return None;
        }
        let s = self.next;
        match s.checked_add(self.step) {
            Some(n) => self.next = n,
            None => self.done = true,
        }
        Some(s)
    }
}

/// The starts of every sliding window of `size` ms advancing by `advance` ms that holds `t`: the
/// multiples `s` of `advance` with `s <= t < s + size`, ascending. Empty when `advance > size`
/// and `t` falls in a gap between windows. `size` and `advance` must be positive.
pub fn sliding_starts(t: i64, size: i64, advance: i64) -> WindowStarts {
    let last = align(t, advance);
    // The smallest multiple of `advance` strictly greater than `t - size`.
    let first = align(t.saturating_sub(size), advance).saturating_add(advance);
    WindowStarts {
        next: first,
        last,
        step: advance,
        done: false,
    }
}

/// The starts of the windows of a tumbling or sliding `kind` that hold `t`, ascending; `None`
/// for session windows (they depend on the key's other records: see [`sessions_joined`]).
pub fn window_starts(kind: WindowKind, t: i64) -> Option<WindowStarts> {
    match kind {
        WindowKind::Tumbling { size_ms } => Some(sliding_starts(t, size_ms, size_ms)),
        WindowKind::Sliding {
            size_ms,
            advance_ms,
        } => Some(sliding_starts(t, size_ms, advance_ms)),
        WindowKind::Session { .. } => None,
    }
}

/// The length of a window of `kind` (for sessions: the gap, the length of a one-record session).
pub fn window_size(kind: WindowKind) -> i64 {
    match kind {
        WindowKind::Tumbling { size_ms } | WindowKind::Sliding { size_ms, .. } => size_ms,
        WindowKind::Session { gap_ms } => gap_ms,
    }
}

/// The bounds of a session: `[start, end)` where `end` is the last record's time plus the gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionBounds {
    /// The first record's time.
    pub start: i64,
    /// The last record's time plus the gap (exclusive).
    pub end: i64,
}

impl SessionBounds {
    /// The session a lone record at `t` opens: `[t, t + gap)`.
    pub fn of(t: i64, gap: i64) -> SessionBounds {
        SessionBounds {
            start: t,
            end: t.saturating_add(gap),
        }
    }

    /// True if the two half-open intervals share a point.
    pub fn overlaps(&self, other: &SessionBounds) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The smallest interval covering both.
    pub fn cover(&self, other: &SessionBounds) -> SessionBounds {
        SessionBounds {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// Which of a key's sessions a record at `t` joins. `sessions` must be sorted by start and pairwise
/// disjoint (as the sessions of one key always are); `bounds` reads a session's bounds. Returns
/// the (contiguous) index range of the sessions whose bounds overlap `[t, t + gap)`: empty (at
/// the index where a new session belongs) if the record opens a new session, one session if it
/// extends it, several if it bridges them into one.
pub fn sessions_joined<S>(
    sessions: &[S],
    bounds: impl Fn(&S) -> SessionBounds,
    t: i64,
    gap: i64,
) -> Range<usize> {
    let own = SessionBounds::of(t, gap);
    // Disjoint and sorted by start means sorted by end too.
    let lo = sessions.partition_point(|s| bounds(s).end <= own.start);
    let hi = sessions.partition_point(|s| bounds(s).start < own.end);
    lo..hi.max(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(kind: WindowKind, t: i64) -> Vec<i64> {
        window_starts(kind, t).unwrap().collect()
    }

    const T10: WindowKind = WindowKind::Tumbling { size_ms: 10 };

    #[test]
    fn tumbling_windows_are_epoch_aligned() {
        assert_eq!(starts(T10, 0), [0]);
        assert_eq!(starts(T10, 9), [0]);
        assert_eq!(starts(T10, 10), [10]);
        assert_eq!(starts(T10, 12_345), [12_340]);
        assert_eq!(tumbling_start(60_001, 60_000), 60_000);
    }

    #[test]
    fn tumbling_windows_before_the_epoch_use_floor_division() {
        assert_eq!(starts(T10, -1), [-10]);
        assert_eq!(starts(T10, -10), [-10]);
        assert_eq!(starts(T10, -11), [-20]);
        assert_eq!(align(-1, 60_000), -60_000);
    }

    #[test]
    fn sliding_windows_hold_a_time_in_every_overlapping_window_ascending() {
        let k = WindowKind::Sliding {
            size_ms: 30,
            advance_ms: 10,
        };
        assert_eq!(starts(k, 25), [0, 10, 20]);
        assert_eq!(starts(k, 30), [10, 20, 30]);
        assert_eq!(starts(k, 0), [-20, -10, 0]);
        assert_eq!(starts(k, -5), [-30, -20, -10]);
    }

    #[test]
    fn sliding_size_not_a_multiple_of_the_advance() {
        let k = WindowKind::Sliding {
            size_ms: 10,
            advance_ms: 4,
        };
        // [0,10) [4,14) [8,18) hold 9; [-4,6) does not.
        assert_eq!(starts(k, 9), [0, 4, 8]);
        // [4,14) [8,18) [12,22) hold 13.
        assert_eq!(starts(k, 13), [4, 8, 12]);
        assert_eq!(starts(k, 10), [4, 8]);
        assert_eq!(starts(k, -1), [-8, -4]);
        for t in -50..50 {
            for s in starts(k, t) {
                assert!(s <= t && t < s + 10 && s.rem_euclid(4) == 0, "{t} in {s}");
            }
            let expected = (-100..100)
                .filter(|s: &i64| s.rem_euclid(4) == 0 && *s <= t && t < s + 10)
                .count();
            assert_eq!(starts(k, t).len(), expected, "{t}");
        }
    }

    #[test]
    fn sliding_with_gaps_leaves_some_times_in_no_window() {
        let k = WindowKind::Sliding {
            size_ms: 5,
            advance_ms: 10,
        };
        assert_eq!(starts(k, 3), [0]);
        assert!(starts(k, 7).is_empty());
        assert_eq!(starts(k, -8), [-10]);
        assert!(starts(k, -3).is_empty());
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let k = WindowKind::Sliding {
            size_ms: 30,
            advance_ms: 10,
        };
        assert!(!starts(k, i64::MAX).is_empty());
        let _ = starts(k, i64::MIN);
        let _ = starts(T10, i64::MIN);
        assert_eq!(SessionBounds::of(i64::MAX, 5).end, i64::MAX);
        assert!(window_starts(WindowKind::Session { gap_ms: 5 }, 0).is_none());
    }

    fn joined(sessions: &[(i64, i64)], t: i64, gap: i64) -> Range<usize> {
        sessions_joined(
            sessions,
            |&(start, end)| SessionBounds { start, end },
            t,
            gap,
        )
    }

    #[test]
    fn sessions_open_extend_and_bridge() {
        let gap = 10;
        // Sessions [0, 15) (records 0 and 5) and [40, 50) (record 40).
        let s = [(0, 15), (40, 50)];
        assert_eq!(joined(&s, 12, gap), 0..1, "extends the first");
        assert_eq!(joined(&s, -5, gap), 0..1, "extends the first backwards");
        assert_eq!(
            joined(&s, -10, gap),
            0..0,
            "exactly gap before: a new session"
        );
        assert_eq!(
            joined(&s, 15, gap),
            1..1,
            "exactly gap after the last record"
        );
        assert_eq!(joined(&s, 20, gap), 1..1);
        assert_eq!(joined(&s, 31, gap), 1..2, "reaches the second");
        assert_eq!(joined(&s, 60, gap), 2..2);
        // Sessions [0, 15) and [20, 30): a record at 14 bridges them.
        let s = [(0, 15), (20, 30)];
        assert_eq!(joined(&s, 14, gap), 0..2);
        assert_eq!(joined(&[], 14, gap), 0..0);
    }

    #[test]
    fn session_bounds_cover_and_overlap() {
        let a = SessionBounds::of(0, 10);
        let b = SessionBounds::of(10, 10);
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&SessionBounds::of(-9, 10)));
        assert_eq!(a.cover(&b), SessionBounds { start: 0, end: 20 });
        assert_eq!(
            SessionBounds::of(-25, 10),
            SessionBounds {
                start: -25,
                end: -15
            }
        );
    }
}
