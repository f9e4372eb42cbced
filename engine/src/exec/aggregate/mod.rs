//! GROUP BY aggregation over time windows: the [`Aggregator`] operator.
//!
//! # The path of a record
//!
//! 1. On the shard that read it, [`Aggregator::prepare`] reduces an input row to a [`Prepared`]
//!    record: the GROUP BY key values, the event time (windowed plans only) and the argument of
//!    every aggregate call (`NULL` for `COUNT(*)`). Only this crosses to the shard that owns the
//!    key, chosen by [`Aggregator::route`] (a fixed hash, the same on every shard and in every
//!    run; numbers group by value, so `1` and `1.00` are one group).
//! 2. On the owning shard, [`Aggregator::apply`] adds it to its group in every window it belongs
//!    to. Either every aggregate call of every affected group takes the record, or (an overflow,
//!    a type error in one call) none does and the record is rejected with that error.
//! 3. The shard raises the watermark ([`Aggregator::advance_watermark`]); windows whose end plus
//!    the allowed lateness is at or before it close.
//! 4. At the end of bounded input, [`Aggregator::close_all`] closes everything.
//!
//! # Windows
//!
//! Windows are half-open intervals of event time, `[start, end)`, in epoch milliseconds, aligned
//! to the epoch (see [`window`]): `TUMBLING(size)` puts a record at `t` in the one window whose
//! start is `floor(t / size) * size`; `SLIDING(size, advance)` in every window whose start is a
//! multiple of `advance` and that holds `t` (`size / advance` windows when it divides); a time
//! before 1970 works the same way (floor division). `SESSION(gap)` windows belong to one key: a
//! record at `t` opens the session `[t, t + gap)` or joins the session its interval overlaps, so
//! a session is `[first record, last record + gap)`; a record arriving out of order between two
//! sessions of its key bridges them into one. Records exactly `gap` apart are in two sessions.
//!
//! Event time is the plan's `event_time` expression: a BIGINT (epoch milliseconds), a TIMESTAMP,
//! or a STRING in ISO-8601 (RFC 3339 with a zone, or `YYYY-MM-DD HH:MM:SS[.fff]` taken as UTC).
//! NULL or any other value is an error of that record.
//!
//! # Watermark, lateness, closing
//!
//! The watermark (computed by the caller, e.g. with [`watermark::WatermarkTracker`] minus the
//! allowed out-of-orderness) says that no record older than it is expected. A window *closes*
//! once `end + allowed_lateness <= watermark`; a session likewise with its current end. A record
//! all of whose windows have closed is *late*: it changes nothing and `apply` answers
//! [`Absorbed::Late`] (the caller dead-letters or drops it per `late.records`). A record some of
//! whose sliding windows have closed goes into the open ones only. A session record is late when
//! it overlaps no open session of its key and `t + gap + allowed_lateness <= watermark`; one that
//! overlaps an open session extends it even if it is older than the watermark. Before the first
//! watermark nothing is late. The watermark only rises.
//!
//! # Results
//!
//! A group's result is computed over the *group row*
//! `[key values (as first seen), call values, _window_start, _window_end]` (the window slots
//! only when windowed, as BIGINT epoch ms): HAVING, if any, must be TRUE (FALSE, NULL or an
//! error emits nothing; an error is reported), then the plan's projection gives the output row.
//! Each result carries its upsert key: the group key values, then the window start when windowed.
//!
//! - `EMIT CHANGES`: every `apply` emits the new result of every group (per window) it changed,
//!   in window-start order. A group whose HAVING becomes false emits nothing (no retraction).
//!   Closing a window just drops its state.
//! - `EMIT FINAL`: a window's results are emitted once, when it closes: ordered by window end,
//!   then window start, then the order in which the groups were first seen in the window (for
//!   sessions: the order in which the sessions were opened). A GROUP BY without a window emits
//!   every group once at the end of input ([`Aggregator::close_all`]), in first-seen order.
//!
//! A GROUP BY without a window keeps its groups until input ends; with `state.ttl` a group not
//! updated for that long (processing time) is forgotten by [`Aggregator::expire`] (silently, also
//! under `EMIT FINAL`), and a later record for its key starts it again.
//!
//! # State
//!
//! Tumbling and sliding windows are kept in a B-tree by start (= by end, as all have one size),
//! each with a hash table of its groups (hashbrown, keyed by the prepared key without copying it)
//! and the groups in first-seen order. Sessions are kept per key, indexed by end (for closing)
//! and by start (for [`Aggregator::min_open_start`]). As accumulators cannot be merged, a session
//! keeps the call arguments of its records, and two sessions bridged by a record are recomputed
//! from them; session state therefore grows with the records of its open sessions.
//!
//! Under `EMIT CHANGES`, when a session grows backwards (an out-of-order record before its start)
//! or two sessions merge, its upsert key (key, window start) changes: the rows emitted under the
//! old start are not retracted.

pub mod accumulator;
pub mod key;
pub mod watermark;
pub mod window;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::hash::BuildHasher;

use hashbrown::{HashMap, HashTable};

use self::accumulator::{Accumulator, Staged};
use self::key::{GroupKey, route_hash};
use self::window::{SessionBounds, sessions_joined, window_size, window_starts};
use crate::error::{EvalError, FerrisError};
use crate::exec::pool::{PoolStats, VecPool};
use crate::sql::ast::{EmitMode, WindowKind};
use crate::sql::expr::Expr;
use crate::sql::expr::cast::parse_timestamp;
use crate::sql::planner::QueryPlan;
use crate::value::{Row, Value};

/// The hasher of the group tables (not the routing hash: this one may differ per process).
type TableHasher = foldhash::fast::RandomState;

/// A record reduced to what aggregation needs: evaluated on the shard that read it, so that
/// only this crosses to the shard owning the key.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The GROUP BY values, in GROUP BY order.
    pub key: Vec<Value>,
    /// The event time in epoch milliseconds; `None` for a GROUP BY without a window.
    pub time: Option<i64>,
    /// The argument of each aggregate call, in call order (`NULL` for `COUNT(*)`).
    pub args: Vec<Value>,
}

/// One result of the aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateOutput {
    /// The group key values followed, when windowed, by the window start (BIGINT ms): the upsert
    /// key of EMIT CHANGES.
    pub key: Vec<Value>,
    /// The result row (the plan's projection over the group row), or why computing it failed.
    pub result: Result<Row, EvalError>,
}

/// What [`Aggregator::apply`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absorbed {
    /// The record was added to its group(s) (or belongs to no window at all: a sliding window
    /// whose advance exceeds its size leaves gaps).
    Updated,
    /// Every window of the record had closed: it was not applied.
    Late {
        /// The end of the latest window the record belonged to (for a session: `t + gap`).
        window_end: i64,
        /// The watermark it was late against.
        watermark: i64,
    },
}

/// Why a record reported [`Absorbed::Late`] was not applied: the reason `ferris query` reports
/// and the dead-letter header carries.
pub fn late_reason(time: Option<i64>, window_end: i64, watermark: i64) -> String {
    format!(
        "late record: event time {} is in a window that closed at {window_end} (watermark \
         {watermark})",
        time.map_or("?".to_string(), |t| t.to_string())
    )
}

/// Converts an evaluated event time to epoch milliseconds: BIGINT (epoch ms), TIMESTAMP, or
/// ISO-8601 text (RFC 3339, or `YYYY-MM-DD HH:MM:SS[.fff]` as UTC).
pub fn event_time_millis(v: &Value) -> Result<i64, EvalError> {
    match v {
        Value::BigInt(ms) | Value::Timestamp(ms) => Ok(*ms),
        Value::String(s) => parse_timestamp(s).ok_or_else(|| {
            EvalError::Type(format!(
                "event time '{s}' is not an ISO-8601 timestamp (RFC 3339, or \
                 'YYYY-MM-DD HH:MM:SS[.fff]' in UTC)"
            ))
        }),
        Value::Null => Err(EvalError::Type("event time is NULL".into())),
        other => Err(EvalError::Type(format!(
            "event time must be BIGINT epoch milliseconds, TIMESTAMP or ISO-8601 text, \
             not {} {other}",
            other.data_type()
        ))),
    }
}

/// One group of one window (or of the whole stream).
#[derive(Debug)]
struct Group {
    key: GroupKey,
    hash: u64,
    accs: Box<[Accumulator]>,
    /// Processing time of the last update (for `state.ttl`).
    updated_ms: i64,
}

/// The groups of one window, in first-seen order, with a hash index.
#[derive(Debug, Default)]
struct Table {
    index: HashTable<usize>,
    groups: Vec<Group>,
}

impl Table {
    fn find(&self, hash: u64, key: &GroupKey) -> Option<usize> {
        self.index
            .find(hash, |&i| self.groups[i].key == *key)
            .copied()
    }

    fn insert(&mut self, group: Group) -> usize {
        let i = self.groups.len();
        let hash = group.hash;
        self.groups.push(group);
        let groups = &self.groups;
        self.index.insert_unique(hash, i, |&j| groups[j].hash);
        i
    }

    fn rebuild_index(&mut self) {
        self.index.clear();
        let groups = &self.groups;
        for (i, g) in groups.iter().enumerate() {
            self.index.insert_unique(g.hash, i, |&j| groups[j].hash);
        }
    }

    fn state_bytes(&self) -> usize {
        self.index.capacity() * (std::mem::size_of::<usize>() + 1)
            + self
                .groups
                .iter()
                .map(|g| std::mem::size_of::<Group>() + key_bytes(&g.key) + accs_bytes(&g.accs))
                .sum::<usize>()
    }
}

pub(crate) fn value_bytes(v: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match v {
            Value::String(s) | Value::Json(s) => s.len(),
            _ => 0,
        }
}

fn key_bytes(key: &GroupKey) -> usize {
    key.values().map(value_bytes).sum()
}

fn accs_bytes(accs: &[Accumulator]) -> usize {
    accs.iter().map(Accumulator::state_bytes).sum()
}

/// Computes result rows from group state.
#[derive(Debug)]
struct Emitter {
    having: Option<Expr>,
    projection: Vec<Expr>,
    row_len: usize,
}

impl Emitter {
    /// Pushes the result of a group (nothing if HAVING is not TRUE).
    fn emit(
        &self,
        key: &GroupKey,
        accs: &[Accumulator],
        window: Option<(i64, i64)>,
        out: &mut Vec<AggregateOutput>,
    ) {
        let result = match self.result(key, accs, window) {
            Ok(None) => return,
            Ok(Some(row)) => Ok(row),
            Err(e) => Err(e),
        };
        let mut upsert = Vec::with_capacity(key.0.len() + usize::from(window.is_some()));
        upsert.extend(key.values().cloned());
        if let Some((start, _)) = window {
            upsert.push(Value::BigInt(start));
        }
        out.push(AggregateOutput {
            key: upsert,
            result,
        });
    }

    fn result(
        &self,
        key: &GroupKey,
        accs: &[Accumulator],
        window: Option<(i64, i64)>,
    ) -> Result<Option<Row>, EvalError> {
        let mut row = Vec::with_capacity(self.row_len);
        row.extend(key.values().cloned());
        for a in accs {
            row.push(a.value()?);
        }
        if let Some((start, end)) = window {
            row.push(Value::BigInt(start));
            row.push(Value::BigInt(end));
        }
        if let Some(h) = &self.having
            && !matches!(h.eval(&row)?, Value::Boolean(true))
        {
            return Ok(None);
        }
        self.projection
            .iter()
            .map(|e| e.eval(&row))
            .collect::<Result<Row, _>>()
            .map(Some)
    }
}

/// Everything but the window state.
#[derive(Debug)]
struct Core {
    /// A fresh accumulator per call, cloned for every new group.
    templates: Box<[Accumulator]>,
    emitter: Emitter,
    hasher: TableHasher,
    emit: EmitMode,
    lateness: i64,
    watermark: Option<i64>,
    /// Open (window, key) states.
    groups: usize,
    /// Arrival number of the next record (orders session replays and sessions).
    seq: u64,
    /// Scratch: staged updates of the record being applied.
    staged: StagedScratch,
}

/// Staged updates of the record being applied (reused: no allocation per record).
#[derive(Default)]
struct StagedScratch(Vec<Staged>);

impl fmt::Debug for StagedScratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} staged", self.0.len())
    }
}

impl Core {
    fn closed(&self, end: i64) -> Option<i64> {
        self.watermark
            .filter(|&w| end.saturating_add(self.lateness) <= w)
    }

    fn changes(&self) -> bool {
        self.emit == EmitMode::Changes
    }
}

/// Stages `args` into `accs` (in `staged`, cleared first): nothing is changed.
fn stage_all(
    accs: &[Accumulator],
    args: &[Value],
    staged: &mut Vec<Staged>,
) -> Result<(), EvalError> {
    staged.clear();
    for (a, v) in accs.iter().zip(args) {
        staged.push(a.stage(v)?);
    }
    Ok(())
}

/// Commits what [`stage_all`] staged.
fn commit_all(accs: &mut [Accumulator], staged: &mut Vec<Staged>) {
    for (a, s) in accs.iter_mut().zip(staged.drain(..)) {
        a.commit(s);
    }
}

/// Tumbling or sliding windows by start.
#[derive(Debug)]
struct Windows {
    kind: WindowKind,
    size: i64,
    map: BTreeMap<i64, Table>,
    /// Scratch: (window start, existing group) of each open window of the record being applied.
    slots: Vec<(i64, Option<usize>)>,
}

impl Windows {
    fn apply(
        &mut self,
        core: &mut Core,
        p: &mut Prepared,
        now_ms: i64,
        out: &mut Vec<AggregateOutput>,
    ) -> Result<Absorbed, EvalError> {
        let t = p.time.ok_or_else(no_time)?;
        let mut key = GroupKey::new(std::mem::take(&mut p.key));
        let hash = core.hasher.hash_one(&key);
        core.staged.0.clear();
        self.slots.clear();
        let mut late = None;
        for start in window_starts(self.kind, t).into_iter().flatten() {
            let end = start.saturating_add(self.size);
            if let Some(w) = core.closed(end) {
                late = Some((end, w));
                continue;
            }
            let existing = self
                .map
                .get(&start)
                .and_then(|table| Some((table, table.find(hash, &key)?)));
            let (accs, group) = match existing {
                Some((table, i)) => (&table.groups[i].accs, Some(i)),
                None => (&core.templates, None),
            };
            for (a, v) in accs.iter().zip(&p.args) {
                core.staged.0.push(a.stage(v)?);
            }
            self.slots.push((start, group));
        }
        if self.slots.is_empty() {
            p.key = key.into_values();
            return Ok(match late {
                Some((window_end, watermark)) => Absorbed::Late {
                    window_end,
                    watermark,
                },
                None => Absorbed::Updated,
            });
        }
        let mut staged = core.staged.0.drain(..);
        let last = self.slots.len() - 1;
        for (n, &(start, group)) in self.slots.iter().enumerate() {
            let table = self.map.entry(start).or_default();
            let i = match group {
                Some(i) => i,
                None => {
                    let key = if n == last {
                        std::mem::replace(&mut key, GroupKey(Box::new([])))
                    } else {
                        key.clone()
                    };
                    core.groups += 1;
                    table.insert(Group {
                        key,
                        hash,
                        accs: core.templates.clone(),
                        updated_ms: now_ms,
                    })
                }
            };
            let g = &mut table.groups[i];
            for a in g.accs.iter_mut() {
                if let Some(s) = staged.next() {
                    a.commit(s);
                }
            }
            g.updated_ms = now_ms;
            if core.emit == EmitMode::Changes {
                let window = (start, start.saturating_add(self.size));
                core.emitter.emit(&g.key, &g.accs, Some(window), out);
            }
        }
        // The key's vector, unless a new group took it: back to the record, for the pool.
        p.key = key.into_values();
        Ok(Absorbed::Updated)
    }

    /// Closes the windows with `end + lateness <= limit` (all with `None`).
    fn close(&mut self, core: &mut Core, limit: Option<i64>, out: &mut Vec<AggregateOutput>) {
        while let Some(entry) = self.map.first_entry() {
            let start = *entry.key();
            let end = start.saturating_add(self.size);
            if let Some(w) = limit
                && end.saturating_add(core.lateness) > w
            {
                break;
            }
            let table = entry.remove();
            core.groups -= table.groups.len();
            if core.emit == EmitMode::Final {
                for g in &table.groups {
                    core.emitter.emit(&g.key, &g.accs, Some((start, end)), out);
                }
            }
        }
    }
}

/// One session of one key.
#[derive(Debug)]
struct Session {
    bounds: SessionBounds,
    /// When it was opened (the arrival number of its first record): emission order.
    seq: u64,
    accs: Box<[Accumulator]>,
    /// The call arguments of its records with their arrival numbers, in arrival order (to
    /// recompute a merged session).
    records: Vec<(u64, Box<[Value]>)>,
}

/// Session windows.
#[derive(Debug)]
struct Sessions {
    gap: i64,
    /// Each key's open sessions, sorted by start and disjoint.
    by_key: HashMap<GroupKey, Vec<Session>, TableHasher>,
    /// (end, start, seq) of every open session, for closing in order.
    by_end: BTreeMap<(i64, i64, u64), GroupKey>,
    /// (start, seq) of every open session.
    by_start: BTreeSet<(i64, u64)>,
}

impl Sessions {
    fn index(&mut self, key: GroupKey, s: &Session) {
        self.by_end
            .insert((s.bounds.end, s.bounds.start, s.seq), key);
        self.by_start.insert((s.bounds.start, s.seq));
    }

    fn unindex(&mut self, bounds: SessionBounds, seq: u64) -> Option<GroupKey> {
        self.by_start.remove(&(bounds.start, seq));
        self.by_end.remove(&(bounds.end, bounds.start, seq))
    }

    fn apply(
        &mut self,
        core: &mut Core,
        p: Prepared,
        out: &mut Vec<AggregateOutput>,
    ) -> Result<Absorbed, EvalError> {
        let t = p.time.ok_or_else(no_time)?;
        let key = GroupKey::new(p.key);
        let args = p.args.into_boxed_slice();
        let own = SessionBounds::of(t, self.gap);
        let range = match self.by_key.get(&key) {
            Some(list) => sessions_joined(list, |s| s.bounds, t, self.gap),
            None => 0..0,
        };
        let arrival = core.seq;
        let session = match range.len() {
            0 => {
                if let Some(watermark) = core.closed(own.end) {
                    return Ok(Absorbed::Late {
                        window_end: own.end,
                        watermark,
                    });
                }
                stage_all(&core.templates, &args, &mut core.staged.0)?;
                let mut accs = core.templates.clone();
                commit_all(&mut accs, &mut core.staged.0);
                core.groups += 1;
                let session = Session {
                    bounds: own,
                    seq: arrival,
                    accs,
                    records: vec![(arrival, args)],
                };
                self.index(key.clone(), &session);
                let list = self.by_key.entry(key.clone()).or_default();
                list.insert(range.start, session);
                &list[range.start]
            }
            1 => {
                let Some(list) = self.by_key.get_mut(&key) else {
                    return Err(internal_session());
                };
                let s = &mut list[range.start];
                stage_all(&s.accs, &args, &mut core.staged.0)?;
                commit_all(&mut s.accs, &mut core.staged.0);
                s.records.push((arrival, args));
                let bounds = s.bounds.cover(&own);
                if bounds != s.bounds {
                    let old = s.bounds;
                    s.bounds = bounds;
                    let seq = s.seq;
                    let k = self.unindex(old, seq).unwrap_or_else(|| key.clone());
                    self.by_end.insert((bounds.end, bounds.start, seq), k);
                    self.by_start.insert((bounds.start, seq));
                }
                let Some(list) = self.by_key.get(&key) else {
                    return Err(internal_session());
                };
                &list[range.start]
            }
            n => {
                let Some(list) = self.by_key.get_mut(&key) else {
                    return Err(internal_session());
                };
                // Recompute the bridged sessions from their records, in arrival order, then add
                // this one; nothing changes if any of it fails.
                let mut records: Vec<&(u64, Box<[Value]>)> = list[range.clone()]
                    .iter()
                    .flat_map(|s| s.records.iter())
                    .collect();
                records.sort_unstable_by_key(|r| r.0);
                let mut accs = core.templates.clone();
                for (_, rec) in records.iter().copied().chain([&(arrival, args.clone())]) {
                    for (a, v) in accs.iter_mut().zip(rec.iter()) {
                        a.update(v)?;
                    }
                }
                let mut bounds = own;
                let mut seq = u64::MAX;
                let mut merged = Vec::new();
                let removed: Vec<Session> = list.drain(range.clone()).collect();
                for s in removed {
                    self.unindex(s.bounds, s.seq);
                    bounds = bounds.cover(&s.bounds);
                    seq = seq.min(s.seq);
                    merged.extend(s.records);
                }
                merged.sort_unstable_by_key(|r| r.0);
                merged.push((arrival, args));
                core.groups -= n - 1;
                let session = Session {
                    bounds,
                    seq,
                    accs,
                    records: merged,
                };
                self.index(key.clone(), &session);
                let list = self.by_key.entry(key.clone()).or_default();
                list.insert(range.start, session);
                &list[range.start]
            }
        };
        core.seq += 1;
        if core.changes() {
            let window = (session.bounds.start, session.bounds.end);
            core.emitter.emit(&key, &session.accs, Some(window), out);
        }
        Ok(Absorbed::Updated)
    }

    /// Closes the sessions with `end + lateness <= limit` (all with `None`).
    fn close(&mut self, core: &mut Core, limit: Option<i64>, out: &mut Vec<AggregateOutput>) {
        while let Some(entry) = self.by_end.first_entry() {
            let (end, start, seq) = *entry.key();
            if let Some(w) = limit
                && end.saturating_add(core.lateness) > w
            {
                break;
            }
            let key = entry.remove();
            self.by_start.remove(&(start, seq));
            let Some(list) = self.by_key.get_mut(&key) else {
                continue;
            };
            if let Some(pos) = list.iter().position(|s| s.seq == seq) {
                let s = list.remove(pos);
                core.groups -= 1;
                if core.emit == EmitMode::Final {
                    core.emitter.emit(&key, &s.accs, Some((start, end)), out);
                }
            }
            if list.is_empty() {
                self.by_key.remove(&key);
            }
        }
    }

    fn state_bytes(&self) -> usize {
        let per_index = 2 * (std::mem::size_of::<(i64, i64, u64)>() + 16);
        self.by_key
            .iter()
            .map(|(k, list)| {
                key_bytes(k)
                    + list
                        .iter()
                        .map(|s| {
                            std::mem::size_of::<Session>()
                                + per_index
                                + key_bytes(k)
                                + accs_bytes(&s.accs)
                                + s.records
                                    .iter()
                                    .map(|(_, r)| 8 + r.iter().map(value_bytes).sum::<usize>())
                                    .sum::<usize>()
                        })
                        .sum::<usize>()
            })
            .sum()
    }
}

fn no_time() -> EvalError {
    EvalError::Type("a windowed aggregation needs the record's event time".into())
}

fn internal_session() -> EvalError {
    EvalError::Type("internal error: a session vanished while it was being updated".into())
}

/// The open state.
#[derive(Debug)]
enum State {
    /// GROUP BY without a window.
    Groups(Table),
    /// Tumbling or sliding windows.
    Windows(Windows),
    /// Session windows.
    Sessions(Sessions),
}

/// The GROUP BY / window aggregation operator of one shard: it owns the groups whose keys route
/// to the shard. See the [module documentation](crate::exec::aggregate) for the semantics.
pub struct Aggregator {
    keys: Vec<Expr>,
    args: Vec<Option<Expr>>,
    /// Set for windowed plans only.
    event_time: Option<Expr>,
    ttl_ms: Option<i64>,
    core: Core,
    state: State,
    /// Key and argument vectors of prepared records, reused once a record is applied (a new
    /// group keeps its key, a session its arguments).
    args_pool: VecPool<Value>,
}

/// Key and argument vectors an aggregator's pool keeps at most.
pub const ARGS_POOL_MAX: usize = 4096;

impl fmt::Debug for Aggregator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aggregator")
            .field("keys", &self.keys.len())
            .field("calls", &self.args.len())
            .field("emit", &self.core.emit)
            .field("watermark", &self.core.watermark)
            .field("groups", &self.core.groups)
            .finish_non_exhaustive()
    }
}

impl Aggregator {
    /// Builds the operator of `plan`. An internal error if the plan has no aggregation or a
    /// window without an event time; a plan error for a window size, advance or gap that is not
    /// positive.
    pub fn new(plan: &QueryPlan) -> Result<Aggregator, FerrisError> {
        let Some(agg) = &plan.aggregate else {
            return Err(FerrisError::Internal(
                "Aggregator::new on a plan without aggregation".into(),
            ));
        };
        let positive = match agg.window {
            None => true,
            Some(WindowKind::Tumbling { size_ms }) => size_ms > 0,
            Some(WindowKind::Sliding {
                size_ms,
                advance_ms,
            }) => size_ms > 0 && advance_ms > 0,
            Some(WindowKind::Session { gap_ms }) => gap_ms > 0,
        };
        if !positive {
            return Err(FerrisError::plan(
                "window size, advance and session gap must be positive",
                None,
            ));
        }
        let event_time = match (agg.window, &agg.event_time) {
            (None, _) => None,
            (Some(_), Some(e)) => Some(e.clone()),
            (Some(_), None) => {
                return Err(FerrisError::Internal(
                    "a windowed aggregation without an event time".into(),
                ));
            }
        };
        let hasher = TableHasher::default();
        let state = match agg.window {
            None => State::Groups(Table::default()),
            Some(WindowKind::Session { gap_ms }) => State::Sessions(Sessions {
                gap: gap_ms,
                by_key: HashMap::with_hasher(hasher.clone()),
                by_end: BTreeMap::new(),
                by_start: BTreeSet::new(),
            }),
            Some(kind) => State::Windows(Windows {
                kind,
                size: window_size(kind),
                map: BTreeMap::new(),
                slots: Vec::new(),
            }),
        };
        Ok(Aggregator {
            keys: agg.keys.clone(),
            args: agg.calls.iter().map(|c| c.arg.clone()).collect(),
            event_time,
            ttl_ms: agg.settings.state_ttl_ms,
            core: Core {
                templates: agg.calls.iter().map(Accumulator::new).collect(),
                emitter: Emitter {
                    having: agg.having.clone(),
                    projection: plan.projection.iter().map(|c| c.expr.clone()).collect(),
                    row_len: agg.group_row_len(),
                },
                hasher,
                emit: agg.emit,
                lateness: agg.settings.allowed_lateness_ms.max(0),
                watermark: None,
                groups: 0,
                seq: 0,
                staged: StagedScratch::default(),
            },
            state,
            args_pool: VecPool::new(ARGS_POOL_MAX),
        })
    }

    /// The counters of the key and argument vector pool.
    pub fn pool_stats(&self) -> PoolStats {
        self.args_pool.stats()
    }

    /// Replaces the key and argument pool by one that keeps `max` vectors (0: no pooling, to measure
    /// what the pool saves).
    pub fn set_pool_max(&mut self, max: usize) {
        self.args_pool = VecPool::new(max);
    }

    /// Evaluates the GROUP BY keys, event time and call arguments of an input row. Windowed plans
    /// need an event time (see [`event_time_millis`]); unwindowed ones get `None`.
    pub fn prepare(&self, row: &[Value]) -> Result<Prepared, EvalError> {
        let mut key = self.args_pool.take(self.keys.len());
        for k in &self.keys {
            key.push(k.eval(row)?);
        }
        let time = match &self.event_time {
            Some(e) => Some(event_time_millis(&e.eval(row)?)?),
            None => None,
        };
        let mut args = self.args_pool.take(self.args.len());
        for a in &self.args {
            args.push(match a {
                Some(e) => e.eval(row)?,
                None => Value::Null,
            });
        }
        Ok(Prepared { key, time, args })
    }

    /// Routing hash of a prepared record's key ([`key::route_hash`]).
    pub fn route(p: &Prepared) -> u64 {
        route_hash(&p.key)
    }

    /// Adds a record to its group(s). `EMIT CHANGES`: pushes the updated result of every
    /// group/window it changed, immediately, in window-start order. A record all of whose windows
    /// have closed is not applied: `Ok(Late {..})`. An accumulator error (overflow, type) leaves
    /// every group exactly as before and is returned. `now_ms` (processing time) stamps the group
    /// for `state.ttl`.
    pub fn apply(
        &mut self,
        mut p: Prepared,
        now_ms: i64,
        out: &mut Vec<AggregateOutput>,
    ) -> Result<Absorbed, EvalError> {
        if p.args.len() != self.args.len() || p.key.len() != self.keys.len() {
            return Err(EvalError::Type(format!(
                "a prepared record with {} keys and {} arguments for an aggregation with {} and {}",
                p.key.len(),
                p.args.len(),
                self.keys.len(),
                self.args.len()
            )));
        }
        let core = &mut self.core;
        let absorbed = match &mut self.state {
            State::Groups(table) => {
                let key = GroupKey::new(std::mem::take(&mut p.key));
                let hash = core.hasher.hash_one(&key);
                let i = match table.find(hash, &key) {
                    Some(i) => {
                        let g = &mut table.groups[i];
                        stage_all(&g.accs, &p.args, &mut core.staged.0)?;
                        commit_all(&mut g.accs, &mut core.staged.0);
                        g.updated_ms = now_ms;
                        p.key = key.into_values();
                        i
                    }
                    None => {
                        stage_all(&core.templates, &p.args, &mut core.staged.0)?;
                        let mut accs = core.templates.clone();
                        commit_all(&mut accs, &mut core.staged.0);
                        core.groups += 1;
                        table.insert(Group {
                            key,
                            hash,
                            accs,
                            updated_ms: now_ms,
                        })
                    }
                };
                if core.changes() {
                    let g = &table.groups[i];
                    core.emitter.emit(&g.key, &g.accs, None, out);
                }
                Ok(Absorbed::Updated)
            }
            State::Windows(w) => w.apply(core, &mut p, now_ms, out),
            // A session keeps its records' arguments.
            State::Sessions(s) => return s.apply(core, p, out),
        };
        self.args_pool.give(p.args);
        self.args_pool.give(p.key);
        absorbed
    }

    /// Raises the watermark (ignored unless higher than the current one) and closes every window
    /// with `end + allowed_lateness <= watermark`: `EMIT FINAL` pushes their results (ordered by
    /// window end, then window start, then first-seen order); `EMIT CHANGES` drops their state.
    pub fn advance_watermark(&mut self, watermark: i64, out: &mut Vec<AggregateOutput>) {
        if self.core.watermark.is_some_and(|w| watermark <= w) {
            return;
        }
        self.core.watermark = Some(watermark);
        match &mut self.state {
            State::Groups(_) => {}
            State::Windows(w) => w.close(&mut self.core, Some(watermark), out),
            State::Sessions(s) => s.close(&mut self.core, Some(watermark), out),
        }
    }

    /// The current watermark (`None` before the first).
    pub fn watermark(&self) -> Option<i64> {
        self.core.watermark
    }

    /// End of bounded input: closes everything still open as if the watermark were +infinity
    /// (the watermark itself is left as it is). `EMIT FINAL` emits every open window and, for a
    /// GROUP BY without window, every group once (in first-seen order).
    pub fn close_all(&mut self, out: &mut Vec<AggregateOutput>) {
        let core = &mut self.core;
        match &mut self.state {
            State::Groups(table) => {
                if core.emit == EmitMode::Final {
                    for g in &table.groups {
                        core.emitter.emit(&g.key, &g.accs, None, out);
                    }
                }
                *table = Table::default();
                core.groups = 0;
            }
            State::Windows(w) => w.close(core, None, out),
            State::Sessions(s) => s.close(core, None, out),
        }
    }

    /// GROUP BY without window: forgets groups not updated for `state.ttl` (processing time:
    /// `now_ms - last update >= ttl`). Returns how many. Nothing for windowed plans or without
    /// a TTL.
    pub fn expire(&mut self, now_ms: i64) -> usize {
        let (Some(ttl), State::Groups(table)) = (self.ttl_ms, &mut self.state) else {
            return 0;
        };
        let before = table.groups.len();
        table
            .groups
            .retain(|g| now_ms.saturating_sub(g.updated_ms) < ttl);
        let removed = before - table.groups.len();
        if removed > 0 {
            table.rebuild_index();
            self.core.groups -= removed;
        }
        removed
    }

    /// Smallest start of any open window or session (`None` if no open state); for an
    /// unwindowed plan with any group, `Some(i64::MIN)`. A record with event time `t` is fully
    /// done (its results emitted) once every open window starts after `t`.
    pub fn min_open_start(&self) -> Option<i64> {
        match &self.state {
            State::Groups(t) => (!t.groups.is_empty()).then_some(i64::MIN),
            State::Windows(w) => w.map.first_key_value().map(|(s, _)| *s),
            State::Sessions(s) => s.by_start.first().map(|(start, _)| *start),
        }
    }

    /// Open (window, key) states.
    pub fn groups(&self) -> usize {
        self.core.groups
    }

    /// Approximate bytes of state (walks every group: call it now and then, not per record).
    pub fn state_bytes(&self) -> usize {
        std::mem::size_of::<Aggregator>()
            + match &self.state {
                State::Groups(t) => t.state_bytes(),
                State::Windows(w) => {
                    w.map.values().map(Table::state_bytes).sum::<usize>()
                        + w.map.len() * std::mem::size_of::<(i64, Table)>()
                }
                State::Sessions(s) => s.state_bytes(),
            }
    }
}
