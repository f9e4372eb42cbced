//! The stateful half of a job on a shard: GROUP BY state, repartitioning through the exchange
//! rings, watermarks, and the rule that decides when an input offset may be committed.
//!
//! # Data flow
//!
//! The shard that reads a record evaluates what aggregation needs ([`Prepared`]: keys, event
//! time, call arguments) and routes it by the key's hash to the shard that owns the key: its own
//! aggregator, or a peer's through the SPSC ring to that peer. Each poll batch is one
//! [`ShardMsg::Rows`] per peer (rows may be empty), numbered by the sender, carrying the
//! sender's watermark after that batch. A shard's watermark is the minimum over its sources (the
//! partitions it reads, and every peer) of their watermarks; idle partitions are left out after
//! `'watermark.idle_timeout'`, and a peer with no active partition reports none.
//!
//! # When an offset may be committed (crash safety)
//!
//! State lives only in memory; after a crash it is rebuilt by replay, so the committed offset
//! must never pass a record whose results are not yet emitted and acknowledged. A record is
//! *held* until:
//! 1. every shard its batch sent rows to has absorbed that batch and had every output it
//!    emitted up to then acknowledged (peers report this as [`Progress`] over the reverse ring);
//! 2. for tumbling and sliding windows: every window it belongs to has closed — the last one
//!    ends at `align(t, advance) + size`, and that plus the allowed lateness is at or below the
//!    *closed watermark* `C`, the minimum over all shards of the watermark up to which each has
//!    emitted and had acknowledged its closed windows; for session windows: no open session on
//!    the owning shard starts at or before it.
//!
//! Shards record `C` in the job's checkpoint topic (`<sink topic>.ferris-checkpoints`,
//! `{"closed":<ms>}`), and a record is released only under a `C` the broker has acknowledged
//! there. On restart the largest recorded `C` becomes the aggregator's starting watermark, so a
//! replayed record whose windows were all emitted before the crash is skipped (counted as
//! replayed) instead of re-opening one of those windows with part of its records. (Kafka commit
//! metadata would be the natural home for `C`, but the test broker does not keep it.) Consequences, documented in
//! docs/sql.md: after a restart a window can be emitted again (identical, whole) if its
//! emission was acknowledged but the commit that followed it was lost; session windows and
//! GROUP BY without a window have no such floor, so a session or running total can be emitted
//! again with part of its records after a crash.

use std::collections::VecDeque;

use crate::error::{EvalError, FerrisError, Result};
use crate::exec::aggregate::watermark::WatermarkTracker;
use crate::exec::aggregate::window::align;
use crate::exec::aggregate::{Absorbed, AggregateOutput, Aggregator, Prepared, late_reason};
use crate::exec::pool::VecPool;
use crate::shard::exchange::ExchangeEnd;
use crate::shard::offsets::OffsetTracker;
use crate::sql::aggregate::{AggregatePlan, LatePolicy};
use crate::sql::ast::WindowKind;
use crate::sql::planner::QueryPlan;

/// The delivery-opaque partition of aggregate outputs (their "offset" is an output sequence
/// number), so that their acknowledgements are told apart from those of per-record outputs.
pub const OUTPUT_PARTITION: i32 = 0xffff;

/// Rings between shards carry these.
#[derive(Debug)]
pub enum ShardMsg {
    /// One batch's records for the receiving shard, and the sender's watermark after it.
    Rows {
        /// The sender's batch number.
        batch: u64,
        /// The records, each with its origin (`offsets::pack(partition, offset)`).
        rows: Vec<(Prepared, usize)>,
        /// The sender's watermark; `None` when none of its partitions is active.
        watermark: Option<i64>,
    },
    /// How far the sender has got with the receiver's records.
    Progress(Progress),
}

/// What a shard reports to each source shard, as of a moment at which every output it had
/// emitted was acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// The last batch of the receiver's that the sender had absorbed.
    pub absorbed: u64,
    /// Windows ending (plus allowed lateness) at or before this were emitted.
    pub closed: Option<i64>,
    /// The smallest start of open window state (`None`: nothing open).
    pub min_open: Option<i64>,
}

/// What the shard must send: a result, or a record that cannot be aggregated.
#[derive(Debug)]
pub enum Emit {
    /// A result row for the sink (its sequence number is the delivery opaque's offset).
    Output {
        /// Output sequence number.
        seq: i64,
        /// The result.
        output: AggregateOutput,
    },
    /// A record that goes to the dead-letter topic from this shard.
    Rejected {
        /// Output sequence number.
        seq: i64,
        /// `offsets::pack(partition, offset)` of the record.
        origin: usize,
        /// Its event time, if it had one.
        time: Option<i64>,
        /// Why.
        reason: String,
    },
}

/// Records of one batch whose offsets wait for their state to be emitted.
#[derive(Debug)]
struct Hold {
    batch: u64,
    /// Shards the batch sent rows to (bit per shard).
    mask: u64,
    /// The latest event time among the records (or `i64::MIN` without time).
    max_time: i64,
    records: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    /// Outputs sent before the snapshot (their sequence numbers are below this).
    sent: i64,
    absorbed: Vec<u64>,
    closed: Option<i64>,
    min_open: Option<i64>,
}

/// Counters of the stateful half, for metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StateCounters {
    /// Records that arrived after their windows closed.
    pub late: u64,
    /// Records replayed after a restart whose windows were already emitted (skipped).
    pub replayed: u64,
}

/// The stateful half of one job on one shard.
pub struct StateShard {
    agg: Aggregator,
    plan: AggregatePlan,
    me: usize,
    shards: usize,
    exchange: Option<ExchangeEnd<ShardMsg>>,
    // Source side.
    batch: u64,
    outbox: Vec<Vec<(Prepared, usize)>>,
    backlog: Vec<VecDeque<ShardMsg>>,
    current: Hold,
    holds: VecDeque<Hold>,
    held: u64,
    partitions: WatermarkTracker,
    /// When this shard last had a record, or started: after `idle_timeout` without one it
    /// stops holding other shards' watermarks back.
    active_ms: Option<i64>,
    known_partitions: Vec<i32>,
    sent_watermark: Vec<Option<Option<i64>>>,
    // Owner side.
    source_watermark: Vec<Option<Option<i64>>>,
    absorbed: Vec<u64>,
    sent: i64,
    acks: OffsetTracker,
    snapshots: VecDeque<Snapshot>,
    last_snapshot: Option<Snapshot>,
    closed: Option<i64>,
    progress_from: Vec<Option<Progress>>,
    unsent_progress: Vec<Option<Progress>>,
    floor: Option<i64>,
    /// The closed watermark in flight to the checkpoint topic, and the last one acknowledged.
    checkpoint_pending: Option<i64>,
    checkpoint_acked: Option<i64>,
    /// Progress or the checkpoint moved since holds were last checked.
    progress_changed: bool,
    scratch: Vec<AggregateOutput>,
    emits: Vec<Emit>,
    counters: StateCounters,
    /// Record batches for the exchange: a batch received from another shard is recycled here,
    /// into this shard's pool, once absorbed (never sent back).
    batches: VecPool<(Prepared, usize)>,
    /// The origin lists of holds, reused once a hold is released.
    origins: VecPool<usize>,
}

impl std::fmt::Debug for StateShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateShard({} of {})", self.me, self.shards)
    }
}

impl StateShard {
    /// The stateful half for shard `me` of `shards`; `exchange` is this shard's end of the
    /// rings (`None` when there is one shard). `floor` is the closed watermark read from the
    /// commit metadata at start.
    pub fn new(
        plan: &QueryPlan,
        me: usize,
        shards: usize,
        exchange: Option<ExchangeEnd<ShardMsg>>,
        floor: Option<i64>,
    ) -> Result<StateShard> {
        let aggregate = plan.aggregate.clone().ok_or_else(|| {
            FerrisError::Internal("a stateful shard needs an aggregate plan".into())
        })?;
        if shards > 64 {
            return Err(FerrisError::Config(
                "aggregating jobs run on at most 64 shards".into(),
            ));
        }
        let mut agg = Aggregator::new(plan)?;
        // Sessions and running totals have no floor (see the module docs).
        let floor = floor.filter(|_| checkpoints(&aggregate));
        let mut scratch = Vec::new();
        if let Some(f) = floor {
            agg.advance_watermark(f, &mut scratch);
        }
        Ok(StateShard {
            partitions: WatermarkTracker::new(aggregate.settings.idle_timeout_ms),
            active_ms: None,
            known_partitions: Vec::new(),
            agg,
            me,
            shards,
            exchange,
            batch: 0,
            outbox: (0..shards).map(|_| Vec::new()).collect(),
            backlog: (0..shards).map(|_| VecDeque::new()).collect(),
            current: Hold {
                batch: 1,
                mask: 0,
                max_time: i64::MIN,
                records: Vec::new(),
            },
            holds: VecDeque::new(),
            held: 0,
            sent_watermark: vec![None; shards],
            source_watermark: vec![None; shards],
            absorbed: vec![0; shards],
            sent: 0,
            acks: OffsetTracker::new(),
            snapshots: VecDeque::new(),
            last_snapshot: None,
            closed: floor,
            progress_from: vec![None; shards],
            unsent_progress: vec![None; shards],
            floor,
            checkpoint_pending: None,
            checkpoint_acked: floor,
            progress_changed: false,
            scratch,
            emits: Vec::new(),
            counters: StateCounters::default(),
            plan: aggregate,
            batches: VecPool::new(2 * shards + 4),
            origins: VecPool::new(64),
        })
    }

    /// Evaluates what aggregation needs from an input row.
    pub fn prepare(&self, row: &[crate::value::Value]) -> std::result::Result<Prepared, EvalError> {
        self.agg.prepare(row)
    }

    /// Routes a prepared record read from `origin` (`offsets::pack(partition, offset)`) at
    /// processing time `now_ms`. Its offset is held until its state is emitted.
    pub fn route(&mut self, p: Prepared, partition: i32, origin: usize, now_ms: i64) {
        self.active_ms = Some(now_ms);
        if let Some(t) = p.time {
            self.partitions.observe(partition as u32, t, now_ms);
            self.current.max_time = self.current.max_time.max(t);
        } else {
            self.partitions.touch(partition as u32, now_ms);
        }
        let owner = if self.shards == 1 {
            0
        } else {
            (Aggregator::route(&p) % self.shards as u64) as usize
        };
        self.current.mask |= 1 << owner;
        self.current.records.push(origin);
        self.held += 1;
        self.outbox[owner].push((p, origin));
    }

    /// A partition that had records this batch, though none of them reached aggregation (all
    /// filtered out), still counts as active.
    pub fn touch(&mut self, partition: i32, now_ms: i64) {
        self.active_ms = Some(now_ms);
        self.partitions.touch(partition as u32, now_ms);
    }

    /// A partition assigned to this shard: until its first record it holds the watermark
    /// where it is (unless it stays idle for the idle timeout), so that the partitions read
    /// first do not make the others' records late.
    pub fn register_partition(&mut self, partition: i32, now_ms: i64) {
        if self.known_partitions.contains(&partition) {
            return;
        }
        self.known_partitions.push(partition);
        self.partitions.touch(partition as u32, now_ms);
    }

    /// A partition was revoked: it no longer holds the watermark back.
    pub fn forget_partition(&mut self, partition: i32) {
        self.known_partitions.retain(|p| *p != partition);
        self.partitions.forget(partition as u32);
    }

    /// Ends the poll batch: applies this shard's own rows, sends the others' (with this shard's
    /// watermark), and keeps the batch's offsets held.
    pub fn end_batch(&mut self, now_ms: i64) {
        let local_wm = self.local_watermark(now_ms);
        let has_rows = self.outbox.iter().any(|o| !o.is_empty());
        let wm_changed = self.sent_watermark.iter().any(|w| *w != Some(local_wm));
        if !has_rows && !wm_changed {
            return;
        }
        self.batch += 1;
        let batch = self.batch;
        for to in 0..self.shards {
            let rows = if self.outbox[to].is_empty() {
                Vec::new()
            } else {
                let room = self.outbox[to].len();
                std::mem::replace(&mut self.outbox[to], self.batches.take(room))
            };
            if rows.is_empty() && self.sent_watermark[to] == Some(local_wm) {
                continue;
            }
            self.sent_watermark[to] = Some(local_wm);
            if to == self.me {
                self.absorb(self.me, batch, rows, local_wm, now_ms);
            } else {
                self.backlog[to].push_back(ShardMsg::Rows {
                    batch,
                    rows,
                    watermark: local_wm,
                });
            }
        }
        if !self.current.records.is_empty() {
            let room = self.current.records.len();
            let next = Hold {
                batch: batch + 1,
                mask: 0,
                max_time: i64::MIN,
                records: self.origins.take(room),
            };
            let mut hold = std::mem::replace(&mut self.current, next);
            hold.batch = batch;
            self.holds.push_back(hold);
        } else {
            self.current.batch = batch + 1;
        }
        self.flush_backlog();
    }

    /// This shard's watermark for the others: `None` once it has been idle for the idle
    /// timeout (it no longer holds them back); `i64::MIN` while it is active but has seen no
    /// event time yet (it holds them where they are).
    fn local_watermark(&mut self, now_ms: i64) -> Option<i64> {
        let idle_timeout = self.plan.settings.idle_timeout_ms;
        let active = *self.active_ms.get_or_insert(now_ms);
        if idle_timeout > 0 && now_ms.saturating_sub(active) >= idle_timeout {
            return None;
        }
        Some(self.partitions.watermark(now_ms).map_or(i64::MIN, |w| {
            w.saturating_sub(self.plan.settings.max_out_of_orderness_ms)
        }))
    }

    /// True while messages wait for room in a ring (the shard should not poll more).
    pub fn backpressured(&self) -> bool {
        self.backlog.iter().any(|b| !b.is_empty())
    }

    fn flush_backlog(&mut self) {
        let Some(ex) = &self.exchange else {
            return;
        };
        for (to, queue) in self.backlog.iter_mut().enumerate() {
            while let Some(msg) = queue.pop_front() {
                if let Err(msg) = ex.try_send(to, msg) {
                    queue.push_front(msg);
                    break;
                }
            }
        }
    }

    /// Applies one batch of `from`'s records and its watermark.
    fn absorb(
        &mut self,
        from: usize,
        batch: u64,
        mut rows: Vec<(Prepared, usize)>,
        watermark: Option<i64>,
        now_ms: i64,
    ) {
        for (p, origin) in rows.drain(..) {
            let time = p.time;
            match self.agg.apply(p, now_ms, &mut self.scratch) {
                Ok(Absorbed::Updated) => {}
                Ok(Absorbed::Late {
                    window_end,
                    watermark,
                }) => {
                    let lateness = self.plan.settings.allowed_lateness_ms;
                    if self
                        .floor
                        .is_some_and(|f| window_end.saturating_add(lateness) <= f)
                    {
                        self.counters.replayed += 1;
                    } else {
                        self.counters.late += 1;
                        if self.plan.settings.late_policy == LatePolicy::DeadLetter {
                            self.drain_scratch();
                            let seq = self.next_seq();
                            self.emits.push(Emit::Rejected {
                                seq,
                                origin,
                                time,
                                reason: late_reason(time, window_end, watermark),
                            });
                        }
                    }
                }
                Err(e) => {
                    self.drain_scratch();
                    let seq = self.next_seq();
                    self.emits.push(Emit::Rejected {
                        seq,
                        origin,
                        time,
                        reason: e.to_string(),
                    });
                }
            }
            self.drain_scratch();
        }
        self.batches.give(rows);
        self.absorbed[from] = batch;
        self.source_watermark[from] = Some(watermark);
        self.advance(now_ms);
    }

    fn next_seq(&mut self) -> i64 {
        let seq = self.sent;
        self.sent += 1;
        self.acks.consumed(0, seq, 1);
        seq
    }

    fn drain_scratch(&mut self) {
        for output in std::mem::take(&mut self.scratch) {
            let seq = self.next_seq();
            self.emits.push(Emit::Output { seq, output });
        }
    }

    /// Moves the aggregator's watermark to the minimum over the sources that have one, once
    /// every source has reported.
    fn advance(&mut self, _now_ms: i64) {
        if self.plan.window.is_none() {
            return;
        }
        if self.source_watermark.iter().any(Option::is_none) {
            return;
        }
        let wm = self
            .source_watermark
            .iter()
            .filter_map(|w| w.flatten())
            .min();
        if let Some(wm) = wm.filter(|w| *w > i64::MIN) {
            self.agg.advance_watermark(wm, &mut self.scratch);
            self.drain_scratch();
        }
    }

    /// Receives what peers sent, applies it, and publishes progress. Returns how many
    /// messages were handled.
    pub fn receive(&mut self, now_ms: i64) -> usize {
        let mut n = 0;
        while let Some((from, msg)) = self.exchange.as_mut().and_then(ExchangeEnd::try_recv) {
            n += 1;
            match msg {
                ShardMsg::Rows {
                    batch,
                    rows,
                    watermark,
                } => self.absorb(from, batch, rows, watermark, now_ms),
                ShardMsg::Progress(p) => {
                    self.progress_from[from] = Some(p);
                    self.progress_changed = true;
                }
            }
            if n >= 64 {
                break;
            }
        }
        self.flush_backlog();
        n
    }

    /// Takes what must be sent to the sink or the dead-letter topic.
    pub fn take_emits(&mut self) -> Vec<Emit> {
        std::mem::take(&mut self.emits)
    }

    /// Output `seq` was acknowledged.
    pub fn output_acked(&mut self, seq: i64) {
        self.acks.acked(0, seq);
    }

    /// GROUP BY without window: forgets expired groups.
    pub fn expire(&mut self, now_ms: i64) -> usize {
        self.agg.expire(now_ms)
    }

    /// Records a snapshot of this shard's progress, publishes the latest one whose outputs are
    /// all acknowledged to every source, and returns the held records whose state is now
    /// emitted (their offsets may be committed).
    pub fn release(&mut self) -> Vec<usize> {
        let snap = Snapshot {
            sent: self.sent,
            absorbed: self.absorbed.clone(),
            closed: self.agg.watermark(),
            min_open: self.agg.min_open_start(),
        };
        // Only a snapshot that differs from the last one taken (queued or already published)
        // is worth publishing: an idle shard sends nothing and so lets its peers sleep.
        if self.last_snapshot.as_ref() != Some(&snap) {
            self.last_snapshot = Some(snap.clone());
            self.snapshots.push_back(snap);
        }
        let acked_below = self.acks.commit_point(0).unwrap_or(self.sent);
        let mut ready = None;
        while self
            .snapshots
            .front()
            .is_some_and(|s| s.sent <= acked_below)
        {
            ready = self.snapshots.pop_front();
        }
        if let Some(s) = ready {
            self.closed = s.closed.or(self.closed);
            for to in 0..self.shards {
                let p = Progress {
                    absorbed: s.absorbed[to],
                    closed: self.closed,
                    min_open: s.min_open,
                };
                if to == self.me {
                    self.progress_from[to] = Some(p);
                    self.progress_changed = true;
                } else {
                    self.unsent_progress[to] = Some(p);
                }
            }
        }
        if let Some(ex) = &self.exchange {
            for (to, slot) in self.unsent_progress.iter_mut().enumerate() {
                if let Some(p) = slot.take()
                    && let Err(ShardMsg::Progress(p)) = ex.try_send(to, ShardMsg::Progress(p))
                {
                    *slot = Some(p);
                }
            }
        }
        self.released()
    }

    /// The closed watermark over every shard: windows ending (plus lateness) at or before it
    /// were emitted and acknowledged everywhere.
    pub fn closed_watermark(&self) -> Option<i64> {
        let mut c: Option<i64> = None;
        for p in &self.progress_from {
            let closed = p.as_ref()?.closed?;
            c = Some(c.map_or(closed, |x| x.min(closed)));
        }
        c.or(self.floor)
    }

    /// Whether this job checkpoints its closed watermark (tumbling and sliding windows).
    pub fn checkpoints(&self) -> bool {
        checkpoints(&self.plan)
    }

    /// A closed watermark to record in the checkpoint topic now, if it moved and none is in
    /// flight; the caller sends it and reports the acknowledgement.
    pub fn checkpoint_due(&mut self) -> Option<i64> {
        if !self.checkpoints() || self.checkpoint_pending.is_some() {
            return None;
        }
        let c = self.closed_watermark().filter(|c| *c > i64::MIN)?;
        if self.checkpoint_acked.is_some_and(|a| a >= c) {
            return None;
        }
        self.checkpoint_pending = Some(c);
        Some(c)
    }

    /// The checkpoint in flight was acknowledged (`true`) or must be sent again (`false`).
    pub fn checkpoint_done(&mut self, acked: bool) {
        if let Some(c) = self.checkpoint_pending.take()
            && acked
        {
            self.checkpoint_acked = Some(self.checkpoint_acked.map_or(c, |a| a.max(c)));
            self.progress_changed = true;
        }
    }

    fn released(&mut self) -> Vec<usize> {
        // Holds are released only by new progress (or a new checkpoint): skip the scan
        // otherwise.
        if !std::mem::take(&mut self.progress_changed) {
            return Vec::new();
        }
        // A record's offset is committed only under a closed watermark that is durably
        // recorded, so a restart can skip its windows (see the module docs).
        let closed = match (self.closed_watermark(), self.checkpoint_acked) {
            (Some(c), Some(a)) if self.checkpoints() => Some(c.min(a)),
            (_, None) if self.checkpoints() => None,
            (c, _) => c,
        };
        let lateness = self.plan.settings.allowed_lateness_ms;
        let window = self.plan.window;
        let progress = &self.progress_from;
        let done = |h: &Hold| -> bool {
            for (d, p) in progress.iter().enumerate() {
                if h.mask & (1 << d) == 0 {
                    continue;
                }
                let Some(p) = p else { return false };
                if p.absorbed < h.batch {
                    return false;
                }
                if let Some(WindowKind::Session { .. }) = window
                    && p.min_open.is_some_and(|m| m <= h.max_time)
                {
                    return false;
                }
            }
            // The last window of a record at `t` ends at `align(t, advance) + size` (a tumbling
            // window advances by its size).
            let (size_ms, advance_ms) = match window {
                Some(WindowKind::Tumbling { size_ms }) => (size_ms, size_ms),
                Some(WindowKind::Sliding {
                    size_ms,
                    advance_ms,
                }) => (size_ms, advance_ms),
                _ => return true,
            };
            closed.is_some_and(|c| {
                align(h.max_time, advance_ms).saturating_add(size_ms + lateness) <= c
            })
        };
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.holds.len() {
            if done(&self.holds[i]) {
                if let Some(h) = self.holds.remove(i) {
                    self.held -= h.records.len() as u64;
                    out.extend_from_slice(&h.records);
                    self.origins.give(h.records);
                }
            } else {
                i += 1;
            }
        }
        out
    }

    /// The counters of the shard's vector pools: the aggregator's keys and arguments, the
    /// exchange's record batches and the holds' origin lists (recycled locally: what other
    /// shards send feeds this shard's pools).
    pub fn pool_stats(&self) -> crate::exec::pool::PoolStats {
        self.agg
            .pool_stats()
            .plus(self.batches.stats())
            .plus(self.origins.stats())
    }

    /// The counters of the exchange's record batch pool alone.
    pub fn batch_pool_stats(&self) -> crate::exec::pool::PoolStats {
        self.batches.stats()
    }

    /// Records whose offsets are held by state.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Outputs sent and not yet acknowledged.
    pub fn unacknowledged(&self) -> u64 {
        self.acks.unacknowledged()
    }

    /// Open groups (window, key).
    pub fn groups(&self) -> usize {
        self.agg.groups()
    }

    /// Approximate bytes of state.
    pub fn state_bytes(&self) -> usize {
        self.agg.state_bytes()
    }

    /// The aggregator's watermark.
    pub fn watermark(&self) -> Option<i64> {
        self.agg.watermark()
    }

    /// Late and replayed counts.
    pub fn counters(&self) -> &StateCounters {
        &self.counters
    }

    /// Messages waiting in the rings towards this shard.
    pub fn ring_depth(&self) -> usize {
        self.exchange.as_ref().map_or(0, ExchangeEnd::inbound_depth)
    }
}

/// Whether a job with this aggregation checkpoints its closed watermark: tumbling and sliding
/// windows (sessions and running totals have no floor; see the module docs).
pub fn checkpoints(plan: &AggregatePlan) -> bool {
    matches!(
        plan.window,
        Some(WindowKind::Tumbling { .. } | WindowKind::Sliding { .. })
    )
}

/// The delivery-opaque partition of checkpoint records.
pub const CHECKPOINT_PARTITION: i32 = 0xfffe;

/// The checkpoint topic of a job whose sink topic is `sink_topic`.
pub fn checkpoint_topic(sink_topic: &str) -> String {
    format!("{sink_topic}.ferris-checkpoints")
}

#[cfg(test)]
mod tests;
