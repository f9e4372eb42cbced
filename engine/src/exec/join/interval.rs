//! The stream-stream interval join.
//!
//! A left row at time `t` and a right row at time `u` with equal keys match when
//! `lower <= u - t <= upper` (and the `ON` residual holds). Both sides are buffered by key.
//! Each side reads one or more *sources* (a file; Kafka partitions). A source's mark is the
//! largest time seen on it; a side's is the smallest mark of its sources (a registered source
//! without a record yet holds it back, an idle one does not); the join's watermark `W` is the
//! smaller side mark minus the out-of-orderness bound, and never goes down. Then:
//!
//! - a row whose time is below `W` is *late*: some partner it could have had may already be
//!   evicted, so it is not joined (the caller reports or drops it, per `'late.records'`);
//! - a left row is evicted once `t + upper < W` and a right row once `u - lower < W`: no
//!   on-time row can match it any more. An evicted row of an outer side that never matched
//!   is emitted then, with NULLs for the other side.
//!
//! Every stored row carries the caller's tag `T` (for `ferris query` its line, for a shard its
//! source offset), handed back when the row leaves the state so that the offset can commit.

use std::collections::BTreeMap;

use hashbrown::HashMap;

use super::{Shape, combine, eval_key, key_bytes, residual_holds, row_bytes};
use crate::error::EvalError;
use crate::exec::aggregate::event_time_millis;
use crate::exec::aggregate::key::GroupKey;
use crate::sql::expr::Expr;
use crate::sql::join::{IntervalBounds, JoinKind, JoinPlan};
use crate::value::Row;

type Hasher = foldhash::fast::RandomState;

/// A join input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The `FROM` input.
    Left,
    /// The `JOIN` input.
    Right,
}

/// What became of a pushed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Joined with the other side's buffered rows and stored.
    Stored,
    /// Its key has a NULL: it can match nothing; emitted at once by an outer join of its
    /// side, else dropped. Not stored.
    NullKey,
    /// Behind the watermark: not joined, not stored.
    Late {
        /// The row's event time.
        time: i64,
        /// The join's watermark.
        watermark: i64,
    },
    /// Storing it would pass the state limit: not joined, not stored.
    StateFull,
}

#[derive(Debug)]
struct Entry<T> {
    time: i64,
    seq: u64,
    row: Row,
    tag: T,
    matched: bool,
}

/// The largest time seen on one source of a side.
#[derive(Debug, Clone, Copy)]
struct SourceMark {
    id: u32,
    max: Option<i64>,
    idle: bool,
}

#[derive(Debug)]
struct Buffer<T> {
    by_key: HashMap<GroupKey, Vec<Entry<T>>, Hasher>,
    /// `(time after which the row is evicted, seq)` -> its key.
    expiry: BTreeMap<(i64, u64), GroupKey>,
    sources: Vec<SourceMark>,
}

impl<T> Buffer<T> {
    fn new() -> Buffer<T> {
        Buffer {
            by_key: HashMap::with_hasher(Hasher::default()),
            expiry: BTreeMap::new(),
            sources: Vec::new(),
        }
    }

    fn source(&mut self, id: u32) -> &mut SourceMark {
        let i = match self.sources.iter().position(|s| s.id == id) {
            Some(i) => i,
            None => {
                self.sources.push(SourceMark {
                    id,
                    max: None,
                    idle: false,
                });
                self.sources.len() - 1
            }
        };
        &mut self.sources[i]
    }

    /// `None`: the side does not hold the watermark back (no active source); `Some(None)`:
    /// it holds it back entirely (an active source has no record yet); else its mark.
    fn mark(&self) -> Option<Option<i64>> {
        let mut active = self.sources.iter().filter(|s| !s.idle).peekable();
        active.peek()?;
        let mut min = i64::MAX;
        for s in active {
            match s.max {
                None => return Some(None),
                Some(m) => min = min.min(m),
            }
        }
        Some(Some(min))
    }
}

/// Both sides' buffers and the watermark.
#[derive(Debug)]
pub struct IntervalJoin<T> {
    shape: Shape,
    kind: JoinKind,
    bounds: IntervalBounds,
    left_time: Expr,
    right_time: Expr,
    max_out_of_orderness_ms: i64,
    limit: Option<u64>,
    left: Buffer<T>,
    right: Buffer<T>,
    seq: u64,
    bytes: usize,
    watermark: Option<i64>,
}

impl<T: Clone> IntervalJoin<T> {
    /// An empty join for `plan` (an interval join), whose left row has `left_len` slots.
    pub fn new(plan: &JoinPlan, left_len: usize) -> Result<IntervalJoin<T>, String> {
        let (Some(bounds), Some(left_time), Some(right_time)) = (
            plan.interval,
            plan.left_time.clone(),
            plan.right_time.clone(),
        ) else {
            return Err("not an interval join".into());
        };
        Ok(IntervalJoin {
            shape: Shape::new(plan, left_len),
            kind: plan.kind,
            bounds,
            left_time,
            right_time,
            max_out_of_orderness_ms: plan.settings.max_out_of_orderness_ms,
            limit: plan.settings.state_max_bytes,
            left: Buffer::new(),
            right: Buffer::new(),
            seq: 0,
            bytes: 0,
            watermark: None,
        })
    }

    /// The event time of a row of `side`.
    pub fn time_of(&self, side: Side, row: &[crate::value::Value]) -> Result<i64, EvalError> {
        let e = match side {
            Side::Left => &self.left_time,
            Side::Right => &self.right_time,
        };
        event_time_millis(&e.eval(row)?)
    }

    /// Joins one row with the other side's buffered rows (matches go to `out` with `tag`,
    /// in the order the partners arrived) and stores it. Call [`IntervalJoin::advance`]
    /// afterwards to evict what the row's time closed.
    pub fn push(
        &mut self,
        side: Side,
        row: Row,
        tag: T,
        out: &mut Vec<(T, Row)>,
    ) -> Result<Pushed, EvalError> {
        self.push_from(side, 0, row, tag, out)
    }

    /// [`IntervalJoin::push`] of a row read from `source` of its side (a Kafka partition).
    pub fn push_from(
        &mut self,
        side: Side,
        source: u32,
        row: Row,
        tag: T,
        out: &mut Vec<(T, Row)>,
    ) -> Result<Pushed, EvalError> {
        let time = self.time_of(side, &row)?;
        let keys = match side {
            Side::Left => &self.shape.left_keys,
            Side::Right => &self.shape.right_keys,
        };
        let key = eval_key(keys, &row)?;
        if let Some(w) = self.watermark
            && time < w
        {
            return Ok(Pushed::Late { time, watermark: w });
        }
        let s = &self.shape;
        let Some(key) = key else {
            let keeps = match side {
                Side::Left => self.kind.keeps_left(),
                Side::Right => self.kind.keeps_right(),
            };
            if keeps {
                out.push((tag, self.unmatched(side, &row)));
            }
            self.observe(side, source, time);
            return Ok(Pushed::NullKey);
        };
        let added = row_bytes(&row) + key_bytes(&key) + 48;
        if let Some(limit) = self.limit
            && (self.bytes + added) as u64 > limit
        {
            return Ok(Pushed::StateFull);
        }
        let (mine, other) = match side {
            Side::Left => (&mut self.left, &mut self.right),
            Side::Right => (&mut self.right, &mut self.left),
        };
        let mut matched = false;
        let start = out.len();
        if let Some(partners) = other.by_key.get_mut(&key) {
            let mut hits = Vec::new();
            for (i, p) in partners.iter().enumerate() {
                let diff = match side {
                    Side::Left => p.time.saturating_sub(time),
                    Side::Right => time.saturating_sub(p.time),
                };
                if diff < self.bounds.lower_ms || diff > self.bounds.upper_ms {
                    continue;
                }
                let combined = match side {
                    Side::Left => combine(Some(&row), s.left_len, Some(&p.row), s.right_len),
                    Side::Right => combine(Some(&p.row), s.left_len, Some(&row), s.right_len),
                };
                match residual_holds(s.residual.as_ref(), &combined) {
                    Ok(true) => {
                        out.push((tag.clone(), combined));
                        hits.push(i);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        out.truncate(start);
                        return Err(e);
                    }
                }
            }
            for i in hits {
                partners[i].matched = true;
                matched = true;
            }
        }
        let seq = self.seq;
        self.seq += 1;
        let expires = match side {
            Side::Left => time.saturating_add(self.bounds.upper_ms),
            Side::Right => time.saturating_sub(self.bounds.lower_ms),
        };
        mine.expiry.insert((expires, seq), key.clone());
        mine.by_key.entry(key).or_default().push(Entry {
            time,
            seq,
            row,
            tag,
            matched,
        });
        self.bytes += added;
        self.observe(side, source, time);
        Ok(Pushed::Stored)
    }

    fn buffer(&mut self, side: Side) -> &mut Buffer<T> {
        match side {
            Side::Left => &mut self.left,
            Side::Right => &mut self.right,
        }
    }

    /// Registers a source of a side before its first row: until it has one (or is idle) it
    /// holds the watermark back.
    pub fn register(&mut self, side: Side, source: u32) {
        self.buffer(side).source(source);
    }

    /// Forgets a source (a partition no longer read).
    pub fn forget(&mut self, side: Side, source: u32) {
        self.buffer(side).sources.retain(|s| s.id != source);
    }

    fn observe(&mut self, side: Side, source: u32, time: i64) {
        let s = self.buffer(side).source(source);
        s.max = Some(s.max.map_or(time, |m| m.max(time)));
        s.idle = false;
    }

    fn unmatched(&self, side: Side, row: &[crate::value::Value]) -> Row {
        let s = &self.shape;
        match side {
            Side::Left => combine(Some(row), s.left_len, None, s.right_len),
            Side::Right => combine(None, s.left_len, Some(row), s.right_len),
        }
    }

    /// Marks a source idle: it no longer holds the watermark back, until its next row.
    pub fn set_idle(&mut self, side: Side, source: u32) {
        self.buffer(side).source(source).idle = true;
    }

    /// Moves the watermark from both sides' times and evicts what it closed: unmatched
    /// outer rows go to `out` (left evictions first, each side in eviction-time order), and
    /// the tag of every evicted row to `released`.
    pub fn advance(&mut self, out: &mut Vec<(T, Row)>, released: &mut Vec<T>) {
        let candidate = match (self.left.mark(), self.right.mark()) {
            (Some(Some(l)), Some(Some(r))) => Some(l.min(r)),
            (Some(Some(l)), None) => Some(l),
            (None, Some(Some(r))) => Some(r),
            _ => None,
        };
        let Some(c) = candidate else { return };
        let w = c.saturating_sub(self.max_out_of_orderness_ms);
        if self.watermark.is_some_and(|old| old >= w) {
            return;
        }
        self.watermark = Some(w);
        self.evict(Side::Left, Some(w), out, released);
        self.evict(Side::Right, Some(w), out, released);
    }

    /// End of input: evicts every row (unmatched outer rows are emitted).
    pub fn close_all(&mut self, out: &mut Vec<(T, Row)>, released: &mut Vec<T>) {
        self.evict(Side::Left, None, out, released);
        self.evict(Side::Right, None, out, released);
    }

    fn evict(
        &mut self,
        side: Side,
        below: Option<i64>,
        out: &mut Vec<(T, Row)>,
        released: &mut Vec<T>,
    ) {
        let keeps = match side {
            Side::Left => self.kind.keeps_left(),
            Side::Right => self.kind.keeps_right(),
        };
        loop {
            let b = match side {
                Side::Left => &mut self.left,
                Side::Right => &mut self.right,
            };
            let Some(entry) = b.expiry.first_entry() else {
                break;
            };
            if below.is_some_and(|w| entry.key().0 >= w) {
                break;
            }
            let ((_, seq), key) = entry.remove_entry();
            let Some(list) = b.by_key.get_mut(&key) else {
                continue;
            };
            let Some(i) = list.iter().position(|e| e.seq == seq) else {
                continue;
            };
            let e = list.remove(i);
            if list.is_empty() {
                b.by_key.remove(&key);
            }
            self.bytes = self
                .bytes
                .saturating_sub(row_bytes(&e.row) + key_bytes(&key) + 48);
            if keeps && !e.matched {
                let row = self.unmatched(side, &e.row);
                out.push((e.tag.clone(), row));
            }
            released.push(e.tag);
        }
    }

    /// The join's watermark, once both sides have seen a row.
    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    /// Rows buffered on both sides.
    pub fn buffered(&self) -> usize {
        self.left.expiry.len() + self.right.expiry.len()
    }

    /// Estimated bytes of the buffered rows.
    pub fn state_bytes(&self) -> usize {
        self.bytes
    }
}
