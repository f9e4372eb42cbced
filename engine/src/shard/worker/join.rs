//! The join half of a shard: the right input (a table or a co-partitioned stream), the join
//! state, and how joined rows reach the producer and the offset trackers.
//!
//! - **Tables** (`kafka_table`) are read by a consumer of their own from the beginning of
//!   every partition the shard needs (all of them when replicated, the shard's own partition
//!   numbers when partitioned), with no consumer group commits. Until that consumer has
//!   reached the end each partition had at start, the shard polls nothing from the stream.
//!   `file_table`s are loaded when the shard starts.
//! - **Interval joins** read the right topic's partitions with the same numbers as the left
//!   slice, in the job's consumer group; the right offsets are tracked and committed like the
//!   left ones. A row stored in the join state *holds* its offset (one pending output) until
//!   it is evicted; an unmatched outer row emitted at eviction is one more output of it.
//!
//! Outputs are tagged with their cause: a left record (partition, offset), a right one (the
//! partition with [`RIGHT_FLAG`] set in the delivery opaque), or nothing to commit (table
//! records' dead letters, [`TABLE_PARTITION`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message, OwnedMessage};

use super::{
    Assignment, Consumer_, JobShard, OutKey, ShardSettings, SystemSlots, fill_right_slots,
    headers_of,
};
use crate::codec::Decoder;
use crate::connector::kafka::{Record, ShardConsumerContext, client_config, config_error};
use crate::error::{FerrisError, Result};
use crate::exec::join::{
    IntervalJoin, Pushed, Side, TableChange, TableJoin, late_join_reason, state_full_reason,
};
use crate::job::app::{Distribution, JoinInputKind, KafkaJob};
use crate::metrics::ShardMetrics;
use crate::shard::offsets::{OffsetTracker, pack};
use crate::sql::aggregate::LatePolicy;
use crate::sql::join::JoinPlan;
use crate::value::{Row, Value};

/// Set in the partition of a delivery opaque: the output's cause is a right-input record.
pub(super) const RIGHT_FLAG: i32 = 0x4000;

/// The partition of a delivery opaque whose acknowledgement commits nothing (a dead letter
/// of a table record: tables are read from their beginning at every start).
pub(super) const TABLE_PARTITION: i32 = 0xfffd;

/// The longest a shard waits for its tables to load before it starts on the stream anyway.
const BOOTSTRAP_LIMIT: Duration = Duration::from_secs(120);

/// What caused a joined row: the side and its record.
pub(super) type Tag = (Side, i32, i64);

/// The join state.
pub(super) enum JoinOp {
    Table(Box<TableJoin>),
    Interval(Box<IntervalJoin<Tag>>),
}

/// A shard's right input and join state.
pub(super) struct JoinRuntime {
    op: JoinOp,
    plan: JoinPlan,
    consumer: Option<Consumer_>,
    topic: String,
    name: String,
    decoder: Decoder,
    row: Row,
    slots: SystemSlots,
    /// Right-input offsets (interval joins).
    pub(super) tracker: OffsetTracker,
    /// Table partitions not yet read to the end they had at start.
    bootstrap: Vec<i32>,
    bootstrap_started: Instant,
    /// When each (side, partition) of an interval join last had a record.
    last_seen: Vec<(Side, i32, Instant)>,
    idle_timeout: Duration,
    emitted: Vec<(Tag, Row)>,
    released: Vec<Tag>,
    joined: Vec<Row>,
    rejected_logged: bool,
    late: u64,
}

impl std::fmt::Debug for JoinRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JoinRuntime({})", self.name)
    }
}

impl JoinRuntime {
    /// The right input and empty state of `job`'s join on one shard; a file table is loaded
    /// here.
    pub(super) fn new(
        job: &KafkaJob,
        assignment: &Assignment,
        settings: &ShardSettings,
        metrics: &Arc<ShardMetrics>,
    ) -> Result<Option<JoinRuntime>> {
        let (Some(plan), Some(input)) = (&job.plan.join, &job.join) else {
            return Ok(None);
        };
        let context = |what: &str| format!("{}: {what} '{}'", job.name, input.endpoint.name);
        let decoder = input
            .format
            .decoder(&plan.right_input)
            .map_err(|m| FerrisError::Config(format!("{}: {m}", context("input"))))?;
        let slots = SystemSlots {
            slots: plan
                .right_input
                .iter()
                .enumerate()
                .filter_map(|(i, f)| f.system.map(|s| (i, s)))
                .collect(),
            key: input
                .format
                .key
                .codec()
                .map_err(|m| FerrisError::Config(format!("{} key: {m}", context("input"))))?,
        };
        let left_len = job.plan.input.len();
        let op = if plan.is_table_join() {
            JoinOp::Table(Box::new(TableJoin::new(plan, left_len)))
        } else {
            JoinOp::Interval(Box::new(
                IntervalJoin::new(plan, left_len).map_err(FerrisError::Internal)?,
            ))
        };
        let mut runtime = JoinRuntime {
            op,
            plan: plan.clone(),
            consumer: None,
            topic: input.endpoint.topic.clone(),
            name: input.endpoint.name.clone(),
            decoder,
            row: Vec::new(),
            slots,
            tracker: OffsetTracker::new(),
            bootstrap: Vec::new(),
            bootstrap_started: Instant::now(),
            last_seen: Vec::new(),
            idle_timeout: Duration::from_millis(
                u64::try_from(plan.settings.idle_timeout_ms).unwrap_or(0),
            ),
            emitted: Vec::new(),
            released: Vec::new(),
            joined: Vec::new(),
            rejected_logged: false,
            late: 0,
        };
        let static_partitions = match assignment {
            Assignment::Static(p) => Some(p.clone()),
            Assignment::Group(_) => None,
        };
        let consumer_defaults = settings.preset.consumer_defaults();
        let make_consumer = |group: String, extra: &[(&str, &str)]| -> Result<Consumer_> {
            let mut props = vec![("group.id".to_string(), group)];
            props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            props.extend(input.endpoint.client_properties.iter().cloned());
            client_config(&settings.brokers, &consumer_defaults, &props)
                // The table is read through the consumer's own queue (nothing forwards to a
                // `Source`).
                .create_with_context(ShardConsumerContext::new(
                    Arc::clone(metrics),
                    &input.endpoint.topic,
                ))
                .map_err(|e| config_error(&context("consumer of"), e))
        };
        match &input.kind {
            JoinInputKind::FileTable(path) => runtime.load_file(&job.name, path)?,
            JoinInputKind::KafkaTable(distribution) => {
                let consumer = make_consumer(
                    format!("ferris-{}-table", job.name),
                    &[("enable.partition.eof", "true")],
                )?;
                let partitions = match distribution {
                    Distribution::Replicated => {
                        let md = consumer
                            .fetch_metadata(Some(&runtime.topic), Duration::from_secs(10))
                            .map_err(|e| config_error(&context("metadata of"), e))?;
                        md.topics()
                            .iter()
                            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                            .collect::<Vec<i32>>()
                    }
                    Distribution::Partitioned => static_partitions.ok_or_else(|| {
                        FerrisError::Config(format!(
                            "{}: a partitioned table needs static partitions: run without \
                             --group, or make '{}' replicated",
                            job.name, input.endpoint.name
                        ))
                    })?,
                };
                let mut tpl = TopicPartitionList::new();
                for p in &partitions {
                    // Offset 0 rather than Offset::Beginning: tansu 0.6.0 answers "earliest"
                    // with the first batch written, not offset 0, after concurrent writers; a
                    // compacted partition whose offset 0 is gone starts at its earliest
                    // ('auto.offset.reset').
                    tpl.add_partition_offset(&runtime.topic, *p, Offset::Offset(0))
                        .map_err(|e| config_error(&context("assigning"), e))?;
                }
                consumer
                    .assign(&tpl)
                    .map_err(|e| config_error(&context("assigning"), e))?;
                runtime.bootstrap = partitions;
                runtime.consumer = Some(consumer);
            }
            JoinInputKind::Stream => {
                let Some(partitions) = static_partitions else {
                    return Err(FerrisError::Config(format!(
                        "{}: an interval join reads co-partitioned topics by partition number: \
                         run it without --group",
                        job.name
                    )));
                };
                let consumer = make_consumer(format!("ferris-{}", job.name), &[])?;
                let mut tpl = TopicPartitionList::new();
                for p in &partitions {
                    tpl.add_partition(&runtime.topic, *p);
                }
                // Every partition of both sides holds the watermark back until it has a
                // record or goes idle.
                if let JoinOp::Interval(state) = &mut runtime.op {
                    for &p in &partitions {
                        for side in [Side::Left, Side::Right] {
                            state.register(side, p as u32);
                            runtime.last_seen.push((side, p, Instant::now()));
                        }
                    }
                }
                consumer
                    .assign(&tpl)
                    .map_err(|e| config_error(&context("assigning"), e))?;
                runtime.consumer = Some(consumer);
            }
        }
        Ok(Some(runtime))
    }

    /// Loads a JSON-lines file table; a bad line is reported on stderr and skipped.
    fn load_file(&mut self, job: &str, path: &std::path::Path) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(|source| FerrisError::Io {
            context: format!("{job}: cannot read the table file {}", path.display()),
            source,
        })?;
        let JoinOp::Table(table) = &mut self.op else {
            return Ok(());
        };
        let mut bad = 0u64;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut row = Vec::new();
            let result = self
                .decoder
                .decode(line.as_bytes(), &mut row)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    for &(slot, column) in &self.slots.slots {
                        row[slot] = match column {
                            crate::sql::planner::SystemColumn::Offset => {
                                Value::BigInt(i as i64 + 1)
                            }
                            crate::sql::planner::SystemColumn::Partition => Value::BigInt(0),
                            crate::sql::planner::SystemColumn::Topic => Value::string(&self.name),
                            _ => Value::Null,
                        };
                    }
                    table.apply(row).map_err(|e| e.to_string())
                });
            match result {
                Ok(TableChange::StateFull) => {
                    return Err(FerrisError::Config(format!(
                        "{job}: the table file {} does not fit the job's 'state.max_bytes'",
                        path.display()
                    )));
                }
                Ok(_) => {}
                Err(message) => {
                    bad += 1;
                    if bad <= 10 {
                        eprintln!(
                            "ferris: {job}: table file {}:{}: {message} (skipped)",
                            path.display(),
                            i + 1
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Notes that a (side, partition) had a record.
    fn seen(&mut self, side: Side, partition: i32) {
        match self
            .last_seen
            .iter_mut()
            .find(|(s, p, _)| *s == side && *p == partition)
        {
            Some(entry) => entry.2 = Instant::now(),
            None => self.last_seen.push((side, partition, Instant::now())),
        }
    }

    /// Whether the shard still reads its tables to the end they had at start.
    pub(super) fn bootstrapping(&self) -> bool {
        !self.bootstrap.is_empty()
    }

    /// Rows held by the join state (their offsets are pending outputs).
    pub(super) fn held(&self) -> u64 {
        match &self.op {
            JoinOp::Interval(j) => j.buffered() as u64,
            JoinOp::Table(_) => 0,
        }
    }

    /// Commits the right input's delivered offsets (interval joins).
    pub(super) fn commit(&mut self, mode: CommitMode) {
        let Some(consumer) = &self.consumer else {
            return;
        };
        if !matches!(self.op, JoinOp::Interval(_)) {
            return;
        }
        let commits = self.tracker.to_commit();
        if commits.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &commits {
            if tpl
                .add_partition_offset(&self.topic, *p, Offset::Offset(*o))
                .is_err()
            {
                return;
            }
        }
        match consumer.commit(&tpl, mode) {
            Ok(()) => self.tracker.mark_committed(&commits),
            Err(e) => eprintln!("ferris: join input '{}': commit: {e}", self.name),
        }
    }

    /// Sends every commit point again with the next commit.
    pub(super) fn forget_commits(&mut self) {
        self.tracker.forget_commits();
    }
}

impl JobShard {
    /// Joins one decoded left record (in `self.row`) and sends what it produced. Returns the
    /// outputs to wait for before its offset commits (a stored row counts one, held).
    pub(super) fn join_left(&mut self, message: &OwnedMessage) -> Result<u32> {
        let Some(mut join) = self.join.take() else {
            return Ok(0);
        };
        let result = self.join_left_with(&mut join, message);
        self.join = Some(join);
        result
    }

    fn join_left_with(&mut self, join: &mut JoinRuntime, message: &OwnedMessage) -> Result<u32> {
        let (partition, offset) = (message.partition(), message.offset());
        let opaque = pack(partition, offset);
        let row = std::mem::take(&mut self.row);
        join.seen(Side::Left, partition);
        let mut outputs = 0u32;
        let mut held = 0u32;
        let mut failure: Option<String> = None;
        let mut full = false;
        match &mut join.op {
            JoinOp::Table(table) => {
                join.joined.clear();
                if let Err(e) = table.probe(&row, &mut join.joined) {
                    failure = Some(e.to_string());
                }
            }
            JoinOp::Interval(state) => {
                join.emitted.clear();
                match state.push_from(
                    Side::Left,
                    partition as u32,
                    row.clone(),
                    (Side::Left, partition, offset),
                    &mut join.emitted,
                ) {
                    Ok(Pushed::Stored) => held = 1,
                    Ok(Pushed::NullKey) => {}
                    Ok(Pushed::Late { time, watermark }) => {
                        join.late += 1;
                        if join.plan.settings.late_policy == LatePolicy::DeadLetter {
                            failure = Some(late_join_reason(time, watermark));
                        }
                    }
                    Ok(Pushed::StateFull) => full = true,
                    Err(e) => failure = Some(e.to_string()),
                }
                join.joined.clear();
                join.joined.extend(join.emitted.drain(..).map(|(_, r)| r));
            }
        }
        self.row = row;
        if full {
            failure = Some(self.state_full(join));
        }
        if let Some(reason) = failure {
            self.send_dead_letter(
                message.key(),
                message.payload(),
                &reason,
                partition,
                offset,
                opaque,
            )?;
            ShardMetrics::add(&self.metrics.eval_errors, 1);
            ShardMetrics::add(&self.metrics.dlq_records, 1);
            self.report.dead_letters += 1;
            return Ok(1 + held);
        }
        let rows = std::mem::take(&mut join.joined);
        for r in &rows {
            outputs += self.send_joined(r, Some(message), opaque)?;
        }
        join.joined = rows;
        Ok(outputs + held)
    }

    fn state_full(&self, join: &mut JoinRuntime) -> String {
        ShardMetrics::add(&self.metrics.join_state_rejected, 1);
        let limit = join.plan.settings.state_max_bytes.unwrap_or_default();
        if !join.rejected_logged {
            join.rejected_logged = true;
            eprintln!(
                "ferris: shard {} job {}: the join state reached its limit of {limit} bytes \
                 ('state.max_bytes'): records that need new state go to the dead-letter topic \
                 (ferris_join_state_rejected_total counts them)",
                self.metrics.shard, self.job.name
            );
        }
        state_full_reason(limit)
    }

    /// Filters, projects, encodes and sends one joined row. Returns the outputs sent (0 if
    /// WHERE dropped it; a failure goes to the dead-letter topic and counts as one).
    fn send_joined(
        &mut self,
        row: &Row,
        message: Option<&OwnedMessage>,
        opaque: usize,
    ) -> Result<u32> {
        let kept = match self.pipeline.process_row_into(row, &mut self.result) {
            Ok(k) => k,
            Err(e) => return self.joined_failure(message, opaque, e.to_string()),
        };
        if !kept {
            return Ok(0);
        }
        self.out.clear();
        if let Err(e) = self.encoder.encode(&self.result, &mut self.out) {
            return self.joined_failure(message, opaque, e.to_string());
        }
        // The query's `_key` and `_headers`, else the left record's (a stream-table join's
        // output keeps its stream record's key), else none.
        let layout = self.job.output;
        let out_key = match layout.key {
            Some(k) => match self.sink_key.write(&self.result[k], &mut self.key) {
                Ok(true) => OutKey::Encoded,
                Ok(false) => OutKey::Absent,
                Err(e) => return self.joined_failure(message, opaque, e.to_string()),
            },
            None if message.is_some() => OutKey::Input,
            None => OutKey::Absent,
        };
        let headers = match layout.headers {
            Some(h) => match headers_of(&self.result[h]) {
                Ok(h) => h,
                Err(e) => return self.joined_failure(message, opaque, e.to_string()),
            },
            None => message.and_then(|m| m.headers().cloned()),
        };
        self.send_output(opaque, out_key, message.and_then(|m| m.key()), headers)?;
        ShardMetrics::add(&self.metrics.records_out, 1);
        ShardMetrics::add(&self.metrics.bytes_out, self.out.len() as u64);
        self.report.records_out += 1;
        Ok(1)
    }

    fn joined_failure(
        &mut self,
        message: Option<&OwnedMessage>,
        opaque: usize,
        reason: String,
    ) -> Result<u32> {
        let (partition, offset) = crate::shard::offsets::unpack(opaque);
        self.send_dead_letter(
            message.and_then(|m| m.key()),
            message.and_then(|m| m.payload()),
            &reason,
            partition & !RIGHT_FLAG,
            offset,
            opaque,
        )?;
        ShardMetrics::add(&self.metrics.eval_errors, 1);
        ShardMetrics::add(&self.metrics.dlq_records, 1);
        self.report.dead_letters += 1;
        Ok(1)
    }

    /// Polls a batch of the right input (table updates or right stream records) and joins
    /// it; then moves an interval join's watermark. Returns the records polled.
    pub(super) fn pump_join(&mut self) -> Result<usize> {
        let Some(mut join) = self.join.take() else {
            return Ok(0);
        };
        let result = self.pump_join_with(&mut join);
        self.join = Some(join);
        result
    }

    fn pump_join_with(&mut self, join: &mut JoinRuntime) -> Result<usize> {
        let mut n = 0usize;
        if let Some(consumer) = join.consumer.take() {
            let polled = self.poll_right(join, &consumer);
            join.consumer = Some(consumer);
            n = polled?;
        }
        if !join.bootstrap.is_empty() && join.bootstrap_started.elapsed() > BOOTSTRAP_LIMIT {
            eprintln!(
                "ferris: shard {} job {}: table '{}' did not reach its end within {:?}; \
                 joining the stream anyway",
                self.metrics.shard, self.job.name, join.name, BOOTSTRAP_LIMIT
            );
            join.bootstrap.clear();
        }
        if let JoinOp::Interval(state) = &mut join.op {
            let idle = join.idle_timeout;
            for &(side, p, last) in &join.last_seen {
                if last.elapsed() >= idle {
                    state.set_idle(side, p as u32);
                }
            }
            join.emitted.clear();
            join.released.clear();
            state.advance(&mut join.emitted, &mut join.released);
            let emitted = std::mem::take(&mut join.emitted);
            for ((side, p, o), row) in &emitted {
                let flag = match side {
                    Side::Left => {
                        self.tracker.add_output(*p, *o);
                        0
                    }
                    Side::Right => {
                        join.tracker.add_output(*p, *o);
                        RIGHT_FLAG
                    }
                };
                let sent = self.send_joined(row, None, pack(*p | flag, *o))?;
                if sent == 0 {
                    match side {
                        Side::Left => self.tracker.acked(*p, *o),
                        Side::Right => join.tracker.acked(*p, *o),
                    }
                }
            }
            join.emitted = emitted;
            for (side, p, o) in join.released.drain(..) {
                match side {
                    Side::Left => self.tracker.acked(p, o),
                    Side::Right => join.tracker.acked(p, o),
                }
            }
            let m = &self.metrics;
            m.state_bytes
                .store(state.state_bytes() as u64, Ordering::Relaxed);
            m.state_groups
                .store(state.buffered() as u64, Ordering::Relaxed);
            m.watermark_ms
                .store(state.watermark().unwrap_or(-1), Ordering::Relaxed);
            m.late_records.store(join.late, Ordering::Relaxed);
        } else if let JoinOp::Table(table) = &join.op {
            let m = &self.metrics;
            m.state_bytes
                .store(table.state_bytes() as u64, Ordering::Relaxed);
            m.state_groups.store(table.len() as u64, Ordering::Relaxed);
        }
        Ok(n)
    }

    fn poll_right(&mut self, join: &mut JoinRuntime, consumer: &Consumer_) -> Result<usize> {
        let mut n = 0usize;
        while n < self.settings.batch_size {
            let message = match consumer.poll(Duration::ZERO) {
                None => break,
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    join.bootstrap.retain(|b| *b != p);
                    continue;
                }
                Some(Err(e)) => {
                    eprintln!(
                        "ferris: shard {} job {}: consumer of '{}': {e}",
                        self.metrics.shard, self.job.name, join.name
                    );
                    break;
                }
                Some(Ok(m)) => m,
            };
            n += 1;
            ShardMetrics::add(&self.metrics.records_in, 1);
            ShardMetrics::add(&self.metrics.bytes_in, message.payload_len() as u64);
            self.report.records_in += 1;
            match &join.op {
                JoinOp::Table(_) => self.apply_table_record(join, &message)?,
                JoinOp::Interval(_) => self.join_right_record(join, &message)?,
            }
        }
        Ok(n)
    }

    /// Applies one table record: an upsert, or a tombstone's delete.
    fn apply_table_record(
        &mut self,
        join: &mut JoinRuntime,
        message: &BorrowedMessage<'_>,
    ) -> Result<()> {
        let JoinOp::Table(table) = &mut join.op else {
            return Ok(());
        };
        let (partition, offset) = (message.partition(), message.offset());
        let failure = match message.payload() {
            None => {
                if let Some(k) = message.key() {
                    table.delete_record_key(k);
                }
                None
            }
            Some(payload) => {
                let mut row = std::mem::take(&mut join.row);
                let decoded = join
                    .decoder
                    .decode(payload, &mut row)
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        fill_right_slots(
                            &Record::of(message),
                            &join.topic,
                            &mut row,
                            &mut join.slots,
                        )
                        .map_err(|e| e.to_string())
                    });
                let outcome = match decoded {
                    Err(reason) => Some(reason),
                    Ok(()) => match table.apply_keyed(message.key(), row.clone()) {
                        Ok(TableChange::StateFull) => Some(String::new()),
                        Ok(_) => None,
                        Err(e) => Some(e.to_string()),
                    },
                };
                join.row = row;
                outcome
            }
        };
        let failure = match failure {
            Some(r) if r.is_empty() => Some(self.state_full(join)),
            other => other,
        };
        if let Some(reason) = failure {
            self.send_dead_letter(
                message.key(),
                message.payload(),
                &format!("table '{}': {reason}", join.name),
                partition,
                offset,
                pack(TABLE_PARTITION, 0),
            )?;
            ShardMetrics::add(&self.metrics.dlq_records, 1);
            self.report.dead_letters += 1;
        }
        Ok(())
    }

    /// Joins one right-stream record of an interval join.
    fn join_right_record(
        &mut self,
        join: &mut JoinRuntime,
        message: &BorrowedMessage<'_>,
    ) -> Result<()> {
        let (partition, offset) = (message.partition(), message.offset());
        let opaque = pack(partition | RIGHT_FLAG, offset);
        join.seen(Side::Right, partition);
        let mut row = std::mem::take(&mut join.row);
        let decoded = match message.payload() {
            None => Err("empty record (null value)".to_string()),
            Some(payload) => join
                .decoder
                .decode(payload, &mut row)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    fill_right_slots(&Record::of(message), &join.topic, &mut row, &mut join.slots)
                        .map_err(|e| e.to_string())
                }),
        };
        let mut held = 0u32;
        let mut failure = decoded.err();
        if failure.is_none()
            && let JoinOp::Interval(state) = &mut join.op
        {
            join.emitted.clear();
            match state.push_from(
                Side::Right,
                partition as u32,
                row.clone(),
                (Side::Right, partition, offset),
                &mut join.emitted,
            ) {
                Ok(Pushed::Stored) => held = 1,
                Ok(Pushed::NullKey) => {}
                Ok(Pushed::Late { time, watermark }) => {
                    join.late += 1;
                    if join.plan.settings.late_policy == LatePolicy::DeadLetter {
                        failure = Some(late_join_reason(time, watermark));
                    }
                }
                Ok(Pushed::StateFull) => failure = Some(String::new()),
                Err(e) => failure = Some(e.to_string()),
            }
        }
        join.row = row;
        let failure = match failure {
            Some(r) if r.is_empty() => Some(self.state_full(join)),
            other => other,
        };
        if let Some(reason) = failure {
            join.emitted.clear();
            self.send_dead_letter(
                message.key(),
                message.payload(),
                &reason,
                partition,
                offset,
                opaque,
            )?;
            ShardMetrics::add(&self.metrics.dlq_records, 1);
            self.report.dead_letters += 1;
            join.tracker.consumed(partition, offset, 1 + held);
            return Ok(());
        }
        let emitted = std::mem::take(&mut join.emitted);
        let mut outputs = 0u32;
        for (_, r) in &emitted {
            outputs += self.send_joined(r, None, opaque)?;
        }
        join.emitted = emitted;
        join.tracker.consumed(partition, offset, outputs + held);
        Ok(())
    }
}
