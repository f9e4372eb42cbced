//! The loop one shard runs for one job: poll -> decode -> filter/project -> encode -> produce,
//! then delivery reports -> offset commits. Everything here is owned by the shard: consumer,
//! producer, codec instances, buffers, offset tracker. Nothing is shared but the metrics
//! atomics (written here, read elsewhere) and the stop flag.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::adaptive::{Adaptive, AdaptiveLimits, Pressure};
use super::exchange::ExchangeEnd;
use super::offsets::{OffsetTracker, pack, unpack};
use super::runtime::{self, now_millis};
use super::state::{
    CHECKPOINT_PARTITION, Emit, OUTPUT_PARTITION, ShardMsg, StateShard, checkpoint_topic,
};
use super::wake::WakeSignal;
use crate::codec::format::KeyCodec;
use crate::codec::json::{encode_array, write_value};
use crate::codec::{Decoder, Encoder};
use crate::connector::kafka::{
    Delivery, Record, RecordHeaders, ShardConsumerContext, ShardProducerContext, Source,
    checkpoint_payload, client_config, config_error,
};
use crate::error::{CodecError, FerrisError, Result};
use crate::exec::Pipeline;
use crate::exec::passthrough::PassThrough;
use crate::job::app::KafkaJob;
use crate::job::preset::Preset;
use crate::metrics::ShardMetrics;
use crate::sql::planner::SystemColumn;
use crate::value::{Row, Value};

mod join;

use join::{JoinRuntime, RIGHT_FLAG, TABLE_PARTITION};

/// How long records the broker failed to take wait before they are sent again.
const RETRY_BACKOFF: Duration = Duration::from_millis(200);

/// How often every commit point is sent again, in case an asynchronous commit was lost.
const COMMIT_REFRESH: Duration = Duration::from_secs(5);

/// The longest an idle shard sleeps when it waits for records (it is woken as soon as one
/// arrives): it then checks the stop flag and serves the consumer's other events.
const IDLE_WAKE: Duration = Duration::from_millis(100);

/// How a shard gets its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// A fixed slice of the source topic's partitions.
    Static(Vec<i32>),
    /// Membership of this consumer group; the group protocol assigns partitions.
    Group(String),
}

/// What a shard running an aggregating job needs besides its partitions.
pub struct StatefulSetup {
    /// This shard's index among the shards running the job.
    pub me: usize,
    /// How many shards run the job.
    pub shards: usize,
    /// This shard's end of the job's exchange rings (`None` for one shard).
    pub exchange: Option<ExchangeEnd<ShardMsg>>,
    /// The closed watermark recorded in the job's checkpoint topic when it started.
    pub floor: Option<i64>,
}

impl std::fmt::Debug for StatefulSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StatefulSetup({} of {})", self.me, self.shards)
    }
}

/// Engine settings of a running shard.
#[derive(Debug, Clone)]
pub struct ShardSettings {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Records polled per batch at most.
    pub batch_size: usize,
    /// How often fully delivered offsets are committed.
    pub commit_interval: Duration,
    /// How long shutdown waits for outstanding deliveries before giving up (and not committing
    /// them).
    pub drain_timeout: Duration,
    /// Longest idle sleep when there is nothing to consume.
    pub max_idle_sleep: Duration,
    /// The job's preset: its client properties go between the engine's defaults and the
    /// user's properties. (Its engine settings are the fields above: see
    /// [`Preset::shard_settings`].)
    pub preset: Preset,
    /// The adaptive batching loop's bounds (the `auto` preset); `None`: the batch size is
    /// fixed.
    pub adaptive: Option<AdaptiveLimits>,
}

impl Default for ShardSettings {
    fn default() -> Self {
        ShardSettings {
            brokers: "127.0.0.1:9092".into(),
            batch_size: 1024,
            commit_interval: Duration::from_millis(200),
            drain_timeout: Duration::from_secs(30),
            max_idle_sleep: Duration::from_millis(5),
            preset: Preset::Balanced,
            adaptive: None,
        }
    }
}

/// What a shard did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardReport {
    /// Records consumed.
    pub records_in: u64,
    /// Records produced to the sink.
    pub records_out: u64,
    /// Records sent to the dead-letter topic.
    pub dead_letters: u64,
    /// Output records still unacknowledged at exit (their inputs were not committed).
    pub undelivered: u64,
}

type Consumer_ = BaseConsumer<ShardConsumerContext>;
type Producer_ = BaseProducer<ShardProducerContext>;

/// One job on one shard.
pub struct JobShard {
    job: Arc<KafkaJob>,
    settings: ShardSettings,
    metrics: Arc<ShardMetrics>,
    stop: Arc<AtomicBool>,
    /// The consumer and the queue its partitions' records arrive in (shared with the batch
    /// being worked on, which keeps both alive).
    source: Rc<Source>,
    producer: Producer_,
    deliveries: Arc<crossbeam_queue::SegQueue<Delivery>>,
    revoked: Arc<crossbeam_queue::SegQueue<i32>>,
    /// Records the broker failed to take for a reason of its own, to send again (with their
    /// packed input position), and when.
    /// Also the records the producer's full queue could not take yet (see [`send_blocking`]).
    /// A `RefCell` because records are parked from paths that hold a consumed message (a
    /// borrow of the consumer); the shard is one thread.
    retries: RefCell<Vec<(usize, OwnedMessage)>>,
    retry_at: Instant,
    decoder: Decoder,
    encoder: Encoder,
    pipeline: Pipeline,
    tracker: OffsetTracker,
    row: Row,
    /// The result row of the stateless pipeline, reused record after record.
    result: Row,
    out: Vec<u8>,
    report: ShardReport,
    /// Input slots filled from record metadata rather than the payload.
    system_slots: SystemSlots,
    /// Writes the query's `_key` as record keys.
    sink_key: KeyCodec,
    /// Set when the consumer's queue gets records: what an idle shard waits for.
    wake: Arc<WakeSignal>,
    /// Output columns the encoder copies from the input record (not computed by the
    /// projection); empty without zero-copy pass-through.
    copy_skip: Vec<bool>,
    /// GROUP BY state, for aggregating jobs.
    state: Option<StateShard>,
    /// The right input and join state, for join jobs.
    join: Option<JoinRuntime>,
    key: Vec<u8>,
    last_expiry: Instant,
    /// The adaptive batching loop (the `auto` preset).
    adaptive: Option<Adaptive>,
    /// Whether the first memory pressure was logged.
    pressure_logged: bool,
}

/// What one batch did, for the metrics.
#[derive(Debug, Default)]
struct BatchCounts {
    records: usize,
    bytes_in: u64,
    bytes_out: u64,
    out_count: u64,
    decode_errors: u64,
    eval_errors: u64,
    dlq: u64,
}

/// Where a stateless output record's key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutKey {
    /// The input record's key (the query sets none).
    Input,
    /// The bytes in `JobShard::key` (the query's `_key`).
    Encoded,
    /// No key (the query's `_key` is NULL).
    Absent,
}

impl std::fmt::Debug for JobShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "JobShard({} on shard {})",
            self.job.name, self.metrics.shard
        )
    }
}

impl JobShard {
    /// Creates the shard's clients and codecs for `job`, and takes its partitions.
    pub fn new(
        job: Arc<KafkaJob>,
        assignment: &Assignment,
        settings: ShardSettings,
        metrics: Arc<ShardMetrics>,
        stop: Arc<AtomicBool>,
        stateful: Option<StatefulSetup>,
    ) -> Result<JobShard> {
        let group = match assignment {
            Assignment::Static(_) => format!("ferris-{}", job.name),
            Assignment::Group(g) => g.clone(),
        };
        let mut consumer_props = vec![("group.id".to_string(), group)];
        consumer_props.extend(job.source.client_properties.iter().cloned());
        let consumer_defaults = settings.preset.consumer_defaults();
        let mut consumer: Consumer_ =
            client_config(&settings.brokers, &consumer_defaults, &consumer_props)
                .create_with_context(ShardConsumerContext::new(
                    Arc::clone(&metrics),
                    &job.source.topic,
                ))
                .map_err(|e| {
                    config_error(
                        &format!("{}: source '{}' consumer", job.name, job.source.name),
                        e,
                    )
                })?;
        let revoked = Arc::clone(&consumer.context().revoked);
        // An idle shard sleeps until librdkafka puts a record (or, on the consumer's own
        // queue, an event) in a drained queue.
        let wake = Arc::new(WakeSignal::default());
        {
            let wake = Arc::clone(&wake);
            consumer.set_nonempty_callback(move || wake.notify());
        }
        let source = {
            let wake = Arc::clone(&wake);
            Rc::new(Source::new(consumer, move || wake.notify())?)
        };
        let consumer = source.consumer();
        match assignment {
            Assignment::Static(partitions) => {
                let mut tpl = TopicPartitionList::new();
                for p in partitions {
                    tpl.add_partition(&job.source.topic, *p);
                }
                // Before the assignment starts fetching (see `connector::kafka::source`).
                source.forward(&job.source.topic, partitions)?;
                consumer.assign(&tpl).map_err(|e| {
                    config_error(
                        &format!("{}: assigning partitions {partitions:?}", job.name),
                        e,
                    )
                })?;
            }
            Assignment::Group(_) => consumer.subscribe(&[&job.source.topic]).map_err(|e| {
                config_error(
                    &format!("{}: subscribing to '{}'", job.name, job.source.topic),
                    e,
                )
            })?,
        }
        let context = ShardProducerContext::default();
        let deliveries = Arc::clone(&context.deliveries);
        let producer: Producer_ = client_config(
            &settings.brokers,
            &settings.preset.producer_defaults(),
            &job.sink.client_properties,
        )
        .create_with_context(context)
        .map_err(|e| {
            config_error(
                &format!("{}: sink '{}' producer", job.name, job.sink.name),
                e,
            )
        })?;
        let system_slots = job
            .plan
            .input
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.system.map(|s| (i, s)))
            .collect();
        let state = match stateful {
            Some(setup) if job.plan.aggregate.is_some() => {
                let floor = setup.floor;
                if let Some(f) = floor {
                    eprintln!(
                        "ferris: shard {} job {}: windows closed before {f} were emitted before \
                         the last stop; replayed records of those windows are skipped",
                        metrics.shard, job.name
                    );
                }
                let mut state =
                    StateShard::new(&job.plan, setup.me, setup.shards, setup.exchange, floor)?;
                if let Assignment::Static(partitions) = assignment {
                    for p in partitions {
                        state.register_partition(*p, now_millis());
                    }
                }
                Some(state)
            }
            _ => {
                if job.plan.aggregate.is_some() {
                    return Err(FerrisError::Internal(format!(
                        "{}: an aggregating job needs its state setup",
                        job.name
                    )));
                }
                None
            }
        };
        let decoder = job.source_format.decoder(&job.plan.input).map_err(|m| {
            FerrisError::Config(format!("{}: source '{}': {m}", job.name, job.source.name))
        })?;
        let encoder = job.sink_format.encoder(&job.output_names()).map_err(|m| {
            FerrisError::Config(format!("{}: sink '{}': {m}", job.name, job.sink.name))
        })?;
        let system_slots = SystemSlots {
            slots: system_slots,
            key: job.source_format.key.codec().map_err(|m| {
                FerrisError::Config(format!(
                    "{}: source '{}' key: {m}",
                    job.name, job.source.name
                ))
            })?,
        };
        let (mut decoder, mut encoder) = (decoder, encoder);
        let mut copy_skip = Vec::new();
        let join = JoinRuntime::new(&job, assignment, &settings, &metrics)?;
        // Zero-copy pass-through of unchanged fields where both ends write them alike (not for
        // joins: their output rows are not the consumed record's).
        let mut copies = PassThrough::of(&job.plan, job.output.payload);
        let names = job.output_names();
        copies.retain(|c| {
            names.get(c.output).is_some_and(|name| {
                job.source_format
                    .copies_as(&job.sink_format, &job.plan.input[c.slot].name, name)
            })
        });
        if join.is_none() && !copies.is_empty() {
            let mut copied = vec![false; job.plan.input.len()];
            for c in &copies.columns {
                copied[c.slot] = true;
            }
            if decoder.copy_fields(&copied, &copies.copy_only)
                && encoder.copy_columns(copies.columns.iter().map(|c| (c.output, c.slot)))
            {
                copy_skip = vec![false; job.plan.projection.len()];
                for c in &copies.columns {
                    copy_skip[c.output] = true;
                }
            }
        }
        let sink_key = job.sink_format.key.codec().map_err(|m| {
            FerrisError::Config(format!("{}: sink '{}' key: {m}", job.name, job.sink.name))
        })?;
        let adaptive = settings
            .adaptive
            .map(|limits| Adaptive::new(limits, Instant::now()));
        metrics.batch_limit.store(
            adaptive
                .as_ref()
                .map_or(settings.batch_size, Adaptive::batch_size) as u64,
            Ordering::Relaxed,
        );
        Ok(JobShard {
            adaptive,
            pressure_logged: false,
            wake,
            copy_skip,
            sink_key,
            state,
            join,
            key: Vec::with_capacity(64),
            last_expiry: Instant::now(),
            decoder,
            encoder,
            pipeline: Pipeline::new(&job.plan),
            job,
            settings,
            metrics,
            stop,
            source,
            producer,
            deliveries,
            revoked,
            retries: RefCell::new(Vec::new()),
            retry_at: Instant::now(),
            tracker: OffsetTracker::new(),
            row: Vec::new(),
            result: Vec::new(),
            out: Vec::with_capacity(512),
            report: ShardReport::default(),
            system_slots,
        })
    }

    /// Runs until the stop flag is set, then drains deliveries and commits.
    pub async fn run(mut self) -> Result<ShardReport> {
        let mut idle = Duration::from_micros(100);
        let mut last_commit = Instant::now();
        let mut last_refresh = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            // While records wait to be sent again, or rows wait for room in a ring, consume
            // nothing new (backpressure).
            let backpressured = self.state.as_ref().is_some_and(StateShard::backpressured)
                || self.adaptive.as_ref().is_some_and(Adaptive::pressure);
            let loading = self.join.as_ref().is_some_and(JoinRuntime::bootstrapping);
            let polled = if !self.retries.get_mut().is_empty() {
                self.resend_failed()?;
                0
            } else if backpressured || loading {
                0
            } else {
                self.process_batch()?
            };
            let pumped = self.pump_state()? + self.pump_join()?;
            let linger = self.adapt(polled);
            if loading && !self.join.as_ref().is_some_and(JoinRuntime::bootstrapping) {
                eprintln!(
                    "ferris: shard {} job {}: table loaded ({} rows); joining the stream",
                    self.metrics.shard,
                    self.job.name,
                    ShardMetrics::get(&self.metrics.state_groups)
                );
            }
            self.serve_delivery_reports();
            self.handle_deliveries()?;
            while let Some(p) = self.revoked.pop() {
                self.tracker.forget(p);
                if let Some(state) = &mut self.state {
                    state.forget_partition(p);
                }
            }
            if last_commit.elapsed() >= self.settings.commit_interval {
                // An asynchronous commit can fail after it was accepted; sending every commit
                // point again now and then repairs that (commits are idempotent).
                if last_refresh.elapsed() >= COMMIT_REFRESH {
                    self.tracker.forget_commits();
                    if let Some(j) = &mut self.join {
                        j.forget_commits();
                    }
                    last_refresh = Instant::now();
                }
                self.commit(CommitMode::Async);
                last_commit = Instant::now();
            }
            if polled == 0 && pumped == 0 {
                if idle >= self.settings.max_idle_sleep && self.quiet() {
                    // Nothing in flight and nothing to commit: sleep until a record arrives
                    // (or IDLE_WAKE passes, for the stop flag and rebalances).
                    self.wake.wait_for(IDLE_WAKE).await;
                } else {
                    runtime::sleep(idle).await;
                    idle = (idle * 2).min(self.settings.max_idle_sleep);
                }
            } else {
                idle = Duration::from_micros(100);
                match linger {
                    // A small batch at a high arrival rate: let the next one gather (the
                    // `auto` preset's linger).
                    Some(l) if pumped == 0 => runtime::sleep(l).await,
                    _ => runtime::yield_now().await,
                }
            }
        }
        self.drain().await
    }

    /// Records polled per batch at most: the adaptive loop's limit, or the fixed batch size.
    fn batch_limit(&self) -> usize {
        self.adaptive
            .as_ref()
            .map_or(self.settings.batch_size, Adaptive::batch_size)
    }

    /// Feeds the adaptive loop the batch just polled and lets it decide once per window.
    /// Returns the linger to apply after a partial batch (`None`: none).
    fn adapt(&mut self, polled: usize) -> Option<Duration> {
        // Only under `auto`: the other presets pay nothing for the loop each turn.
        self.adaptive.as_ref()?;
        let in_flight = self.unacknowledged();
        let a = self.adaptive.as_mut()?;
        a.record_batch(polled);
        let now = Instant::now();
        let (out_records, out_bytes) = (
            ShardMetrics::get(&self.metrics.records_out),
            ShardMetrics::get(&self.metrics.bytes_out),
        );
        // Outputs the broker has not acknowledged, at the average output size so far: what
        // larger batches make grow. (GROUP BY and join state have limits of their own.)
        let memory_bytes = (in_flight * out_bytes)
            .checked_div(out_records)
            .unwrap_or(0);
        if a.tick(
            now,
            Pressure {
                in_flight,
                memory_bytes,
            },
        ) {
            let m = &self.metrics;
            m.batch_limit
                .store(a.batch_size() as u64, Ordering::Relaxed);
            m.linger_us.store(
                u64::try_from(a.linger().as_micros()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            m.memory_pressure
                .store(u64::from(a.pressure()), Ordering::Relaxed);
            if a.pressure() && !self.pressure_logged {
                self.pressure_logged = true;
                eprintln!(
                    "ferris: shard {} job {}: memory budget reached ({memory_bytes} bytes of \
                     unacknowledged output > '{}.memory.max_bytes' = {} bytes): consuming \
                     nothing new until the broker catches up (logged once; see \
                     ferris_memory_pressure)",
                    m.shard,
                    self.job.name,
                    self.job.name,
                    a.limits().memory_budget
                );
            }
        }
        let linger = a.linger_after(polled);
        (!linger.is_zero()).then_some(linger)
    }

    /// Polls up to a batch of records and runs each through the job. Returns how many.
    fn process_batch(&mut self) -> Result<usize> {
        let limit = self.batch_limit();
        let started = Instant::now();
        let now_ms = now_millis();
        let mut counts = BatchCounts::default();
        // The consumer's own queue: rebalances, statistics and errors. A record reaches it only
        // where forwarding a partition to the shard's queue failed; it is handled here then,
        // in order (all of that partition's records come this way).
        let source = Rc::clone(&self.source);
        while counts.records < limit {
            match source.consumer().poll(Duration::ZERO) {
                None => break,
                Some(Err(e)) => {
                    // Transport errors are retried by librdkafka; they are reported, not fatal.
                    eprintln!(
                        "ferris: shard {} job {}: consumer: {e}",
                        self.metrics.shard, self.job.name
                    );
                    break;
                }
                Some(Ok(m)) => self.handle_consumed(Record::of(&m), now_ms, &mut counts)?,
            }
        }
        // The records, in one call.
        let batch = source.poll_batch(limit - counts.records);
        for record in batch.iter() {
            if let Some(e) = record.error() {
                eprintln!(
                    "ferris: shard {} job {}: consumer: {e}",
                    self.metrics.shard, self.job.name
                );
                continue;
            }
            self.handle_consumed(record, now_ms, &mut counts)?;
        }
        drop(batch);
        let n = counts.records;
        // An aggregating job's batch is routed by `pump_state`, which runs right after.
        if n > 0 {
            let m = &self.metrics;
            ShardMetrics::add(&m.records_in, n as u64);
            ShardMetrics::add(&m.bytes_in, counts.bytes_in);
            ShardMetrics::add(&m.records_out, counts.out_count);
            ShardMetrics::add(&m.bytes_out, counts.bytes_out);
            ShardMetrics::add(&m.decode_errors, counts.decode_errors);
            ShardMetrics::add(&m.eval_errors, counts.eval_errors);
            ShardMetrics::add(&m.dlq_records, counts.dlq);
            m.observe_batch(started.elapsed());
            let strings = self.decoder.string_stats();
            m.string_pool_hits.store(strings.hits, Ordering::Relaxed);
            m.string_pool_misses
                .store(strings.misses, Ordering::Relaxed);
            m.string_pool_held
                .store(strings.held as u64, Ordering::Relaxed);
            self.report.records_in += n as u64;
            self.report.records_out += counts.out_count;
            self.report.dead_letters += counts.dlq;
        }
        Ok(n)
    }

    /// Runs one consumed record through the job: decode, then route it to the GROUP BY state,
    /// join it, or filter, project and send it; a rejected record goes to the dead-letter
    /// topic. Notes its offset with the outputs it caused.
    fn handle_consumed(
        &mut self,
        message: Record<'_>,
        now_ms: i64,
        counts: &mut BatchCounts,
    ) -> Result<()> {
        counts.records += 1;
        counts.bytes_in += message.payload_len() as u64;
        let (partition, offset) = (message.partition(), message.offset());
        if self.state.is_some() {
            let routed = match self.state.as_mut() {
                Some(state) => route_record(
                    &message,
                    &self.job,
                    &mut self.decoder,
                    &self.pipeline,
                    &mut self.row,
                    &mut self.system_slots,
                    state,
                    now_ms,
                ),
                None => Ok(false),
            };
            match routed {
                Ok(held) => self.tracker.consumed(partition, offset, u32::from(held)),
                Err(RecordOutcome::Rejected { reason, decode }) => {
                    self.reject(&message, &reason, decode, counts)?;
                    self.tracker.consumed(partition, offset, 1);
                }
                Err(_) => self.tracker.consumed(partition, offset, 0),
            }
            return Ok(());
        }
        if self.join.is_some() {
            let outputs = match decode_record(
                &message,
                &self.job,
                &mut self.decoder,
                &mut self.row,
                &mut self.system_slots,
            ) {
                Ok(()) => {
                    // The join keeps the record: it is detached (one copy).
                    let owned = message.detach();
                    let outputs = self.join_left(&owned)?;
                    self.tracker.consumed(partition, offset, outputs);
                    return Ok(());
                }
                Err(RecordOutcome::Rejected { reason, decode }) => {
                    self.reject(&message, &reason, decode, counts)?;
                    1
                }
                Err(_) => 0,
            };
            self.tracker.consumed(partition, offset, outputs);
            return Ok(());
        }
        let outcome = handle_record(
            &message,
            &self.job,
            &mut self.decoder,
            &self.pipeline,
            &mut self.encoder,
            &mut self.row,
            &mut self.result,
            &mut self.out,
            &mut self.system_slots,
            &self.copy_skip,
        );
        // Where the output's key comes from, and its headers (the query's `_headers`, or
        // the input record's).
        let mut out_key = OutKey::Input;
        let mut out_headers = None;
        let outcome = match outcome {
            RecordOutcome::Output => {
                match output_key_and_headers(
                    &self.job,
                    &mut self.sink_key,
                    &message,
                    &self.result,
                    &mut self.key,
                ) {
                    Ok((key, headers)) => {
                        out_key = key;
                        out_headers = headers;
                        RecordOutcome::Output
                    }
                    Err(e) => RecordOutcome::Rejected {
                        reason: e.to_string(),
                        decode: false,
                    },
                }
            }
            other => other,
        };
        let outputs = match outcome {
            RecordOutcome::Dropped => 0,
            RecordOutcome::Output => {
                self.send_output(pack(partition, offset), out_key, message.key(), out_headers)?;
                counts.bytes_out += self.out.len() as u64;
                counts.out_count += 1;
                1
            }
            RecordOutcome::Rejected { reason, decode } => {
                self.reject(&message, &reason, decode, counts)?;
                1
            }
        };
        self.tracker.consumed(partition, offset, outputs);
        Ok(())
    }

    /// Counts a rejected record (a decode or an evaluation error) and sends it to the
    /// dead-letter topic.
    fn reject(
        &self,
        message: &Record<'_>,
        reason: &str,
        decode: bool,
        counts: &mut BatchCounts,
    ) -> Result<()> {
        if decode {
            counts.decode_errors += 1;
        } else {
            counts.eval_errors += 1;
        }
        counts.dlq += 1;
        let (partition, offset) = (message.partition(), message.offset());
        self.send_dead_letter(
            message.key(),
            message.payload(),
            reason,
            partition,
            offset,
            pack(partition, offset),
        )
    }

    /// Sends the encoded output in `self.out` to the sink, keyed as `out_key` says
    /// (`input_key` for [`OutKey::Input`]), with `headers`.
    fn send_output(
        &self,
        opaque: usize,
        out_key: OutKey,
        input_key: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
    ) -> Result<()> {
        send_blocking(&self.producer, &self.retries, || {
            let mut r =
                BaseRecord::with_opaque_to(&self.job.sink.topic, opaque).payload(&self.out[..]);
            match out_key {
                OutKey::Input => {
                    if let Some(k) = input_key {
                        r = r.key(k);
                    }
                }
                OutKey::Encoded => r = r.key(&self.key[..]),
                OutKey::Absent => {}
            }
            if let Some(h) = headers {
                r = r.headers(h);
            }
            r
        })
    }

    fn send_dead_letter(
        &self,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        reason: &str,
        partition: i32,
        offset: i64,
        opaque: usize,
    ) -> Result<()> {
        let partition_text = partition.to_string();
        let offset_text = offset.to_string();
        send_blocking(&self.producer, &self.retries, || {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "ferris.error",
                    value: Some(reason),
                })
                .insert(Header {
                    key: "ferris.job",
                    value: Some(&self.job.name),
                })
                .insert(Header {
                    key: "ferris.source.topic",
                    value: Some(&self.job.source.topic),
                })
                .insert(Header {
                    key: "ferris.source.partition",
                    value: Some(&partition_text),
                })
                .insert(Header {
                    key: "ferris.source.offset",
                    value: Some(&offset_text),
                });
            let mut r = BaseRecord::with_opaque_to(&self.job.dlq_topic, opaque).headers(headers);
            if let Some(k) = key {
                r = r.key(k);
            }
            if let Some(p) = payload {
                r = r.payload(p);
            }
            r
        })
    }

    /// Applies delivery reports. An acknowledged record completes its input. A record the
    /// broker refused for a reason of its own (broker or network trouble) is sent again, so
    /// good output is never diverted. A record refused for what it is (too large, invalid)
    /// goes to the dead-letter topic, and its input completes when that is acknowledged; a
    /// dead letter refused for what it is stops the shard without committing its input.
    fn handle_deliveries(&mut self) -> Result<()> {
        while let Some(d) = self.deliveries.pop() {
            let (partition, offset) = unpack(d.opaque);
            let Some(f) = d.failure else {
                match (&mut self.state, &mut self.join) {
                    (Some(state), _) if partition == OUTPUT_PARTITION => state.output_acked(offset),
                    (Some(state), _) if partition == CHECKPOINT_PARTITION => {
                        state.checkpoint_done(true)
                    }
                    (_, Some(_)) if partition == TABLE_PARTITION => {}
                    (_, Some(join)) if partition & RIGHT_FLAG != 0 => {
                        join.tracker.acked(partition & !RIGHT_FLAG, offset)
                    }
                    _ => self.tracker.acked(partition, offset),
                }
                continue;
            };
            if partition == CHECKPOINT_PARTITION {
                // Sent again with the next commit round.
                if let Some(state) = &mut self.state {
                    state.checkpoint_done(false);
                }
                continue;
            }
            let topic = f.message.topic().to_string();
            if !f.record_error {
                if self.retries.get_mut().is_empty() {
                    eprintln!(
                        "ferris: shard {} job {}: delivery to '{topic}' failed ({}); sending again",
                        self.metrics.shard, self.job.name, f.error
                    );
                    self.retry_at = Instant::now() + RETRY_BACKOFF;
                }
                self.retries.get_mut().push((d.opaque, f.message));
            } else if topic != self.job.dlq_topic {
                let reason = format!("delivery to '{topic}' failed: {}", f.error);
                let m = &f.message;
                self.send_dead_letter(m.key(), m.payload(), &reason, partition, offset, d.opaque)?;
                ShardMetrics::add(&self.metrics.dlq_records, 1);
                self.report.dead_letters += 1;
            } else {
                return Err(FerrisError::Kafka(format!(
                    "{}: the dead-letter topic '{topic}' refused a record ({}); stopping without \
                     committing partition {partition} offset {offset}",
                    self.job.name, f.error
                )));
            }
        }
        self.metrics
            .in_flight
            .store(self.unacknowledged(), Ordering::Relaxed);
        self.metrics
            .commit_lag
            .store(self.tracker.pending_records(), Ordering::Relaxed);
        Ok(())
    }

    /// Serves every delivery report waiting in the producer. `poll` handles one report event
    /// (one batch of acknowledgements) per call: calling it once per loop turn while each turn
    /// produces a full batch lets acknowledgements, and so commits, fall behind.
    fn serve_delivery_reports(&self) {
        loop {
            let before = self.deliveries.len();
            self.producer.poll(Duration::ZERO);
            if self.deliveries.len() == before {
                break;
            }
        }
    }

    /// Sends again the records the broker failed to take, once the back-off has passed.
    fn resend_failed(&mut self) -> Result<()> {
        if Instant::now() < self.retry_at {
            return Ok(());
        }
        // In order; the first that does not fit parks itself and the rest behind it again.
        for (opaque, m) in std::mem::take(self.retries.get_mut()) {
            send_blocking(&self.producer, &self.retries, || {
                let mut r = BaseRecord::with_opaque_to(m.topic(), opaque);
                if let Some(k) = m.key() {
                    r = r.key(k);
                }
                if let Some(p) = m.payload() {
                    r = r.payload(p);
                }
                if let Some(h) = m.headers() {
                    r = r.headers(h.clone());
                }
                r
            })?;
        }
        Ok(())
    }

    /// True when the shard waits for nothing but new records: no outputs or retries in flight,
    /// no state (peers' rows arrive through rings, which do not wake it), nothing to commit.
    fn quiet(&self) -> bool {
        self.state.is_none()
            && self.join.is_none()
            && self.retries.borrow().is_empty()
            && self.tracker.unacknowledged() == 0
            && self.tracker.to_commit().is_empty()
    }

    /// Output records handed to the producer and not yet acknowledged (records held by state
    /// are not outputs).
    fn unacknowledged(&self) -> u64 {
        let held = self.state.as_ref().map_or(0, StateShard::held);
        let outputs = self.state.as_ref().map_or(0, StateShard::unacknowledged);
        let (join_pending, join_held) = self
            .join
            .as_ref()
            .map_or((0, 0), |j| (j.tracker.unacknowledged(), j.held()));
        (self.tracker.unacknowledged() + join_pending).saturating_sub(held + join_held) + outputs
    }

    /// Runs the stateful half: applies what peers sent, sends results and rejected records,
    /// releases offsets whose state is emitted. Returns how much work there was.
    fn pump_state(&mut self) -> Result<usize> {
        let Some(state) = self.state.as_mut() else {
            return Ok(0);
        };
        let now_ms = now_millis();
        let received = state.receive(now_ms);
        state.end_batch(now_ms);
        if self.last_expiry.elapsed() >= Duration::from_secs(1) {
            state.expire(now_ms);
            // Walks every group: once a second, not per loop turn.
            let m = &self.metrics;
            m.state_groups
                .store(state.groups() as u64, Ordering::Relaxed);
            m.state_bytes
                .store(state.state_bytes() as u64, Ordering::Relaxed);
            let pool = state.pool_stats();
            m.pool_hits.store(pool.hits, Ordering::Relaxed);
            m.pool_misses.store(pool.misses, Ordering::Relaxed);
            m.pool_held.store(pool.held as u64, Ordering::Relaxed);
            // Group members learn their partitions from the group protocol.
            if let Ok(assigned) = self.source.consumer().assignment() {
                for e in assigned.elements_for_topic(&self.job.source.topic) {
                    state.register_partition(e.partition(), now_ms);
                }
            }
            self.last_expiry = Instant::now();
        }
        let emits = state.take_emits();
        let work = received + emits.len();
        let (mut out_count, mut bytes_out, mut dlq) = (0u64, 0u64, 0u64);
        for emit in emits {
            match emit {
                Emit::Output { seq, output } => {
                    self.key.clear();
                    let mut key_ok = encode_array(&output.key, &mut self.key).is_ok();
                    let mut headers = None;
                    let encoded = match output.result {
                        Ok(row) => {
                            self.out.clear();
                            let layout = self.job.output;
                            let key = match layout.key {
                                Some(k) => self
                                    .sink_key
                                    .write(&row[k], &mut self.key)
                                    .map(|present| key_ok = present),
                                None => Ok(()),
                            };
                            key.and_then(|()| match layout.headers {
                                Some(h) => headers_of(&row[h]).map(|h| headers = h),
                                None => Ok(()),
                            })
                            .and_then(|()| self.encoder.encode(&row, &mut self.out))
                            .map_err(|e| e.to_string())
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    let opaque = pack(OUTPUT_PARTITION, seq);
                    match encoded {
                        Ok(()) => {
                            let (key, out) = (&self.key, &self.out);
                            send_blocking(&self.producer, &self.retries, || {
                                let mut r =
                                    BaseRecord::with_opaque_to(&self.job.sink.topic, opaque)
                                        .payload(&out[..]);
                                if let Some(h) = headers {
                                    r = r.headers(h);
                                }
                                if key_ok { r.key(&key[..]) } else { r }
                            })?;
                            out_count += 1;
                            bytes_out += self.out.len() as u64;
                        }
                        Err(reason) => {
                            dlq += 1;
                            let key = key_ok.then_some(&self.key[..]).map(<[u8]>::to_vec);
                            self.send_dead_letter(
                                key.as_deref(),
                                None,
                                &format!("computing a result failed: {reason}"),
                                OUTPUT_PARTITION,
                                seq,
                                opaque,
                            )?;
                        }
                    }
                }
                Emit::Rejected {
                    seq,
                    origin,
                    time,
                    reason,
                } => {
                    dlq += 1;
                    let (partition, offset) = unpack(origin);
                    let payload = time.map(|t| format!("{{\"event_time\":{t}}}"));
                    self.send_dead_letter(
                        None,
                        payload.as_deref().map(str::as_bytes),
                        &reason,
                        partition,
                        offset,
                        pack(OUTPUT_PARTITION, seq),
                    )?;
                }
            }
        }
        let Some(state) = self.state.as_mut() else {
            return Ok(work);
        };
        if let Some(closed) = state.checkpoint_due() {
            let topic = checkpoint_topic(&self.job.sink.topic);
            let payload = checkpoint_payload(closed);
            let key = self.metrics.shard.to_string();
            send_blocking(&self.producer, &self.retries, || {
                BaseRecord::with_opaque_to(&topic, pack(CHECKPOINT_PARTITION, 0))
                    .key(key.as_bytes())
                    .payload(payload.as_bytes())
            })?;
        }
        let released = state.release();
        for origin in &released {
            let (p, o) = unpack(*origin);
            self.tracker.acked(p, o);
        }
        let m = &self.metrics;
        ShardMetrics::add(&m.records_out, out_count);
        ShardMetrics::add(&m.bytes_out, bytes_out);
        ShardMetrics::add(&m.dlq_records, dlq);
        m.state_groups
            .store(state.groups() as u64, Ordering::Relaxed);
        m.state_bytes
            .store(state.state_bytes() as u64, Ordering::Relaxed);
        m.watermark_ms
            .store(state.watermark().unwrap_or(-1), Ordering::Relaxed);
        m.late_records
            .store(state.counters().late, Ordering::Relaxed);
        m.replayed_records
            .store(state.counters().replayed, Ordering::Relaxed);
        m.ring_depth
            .store(state.ring_depth() as u64, Ordering::Relaxed);
        self.report.records_out += out_count;
        self.report.dead_letters += dlq;
        Ok(work + released.len())
    }

    fn commit(&mut self, mode: CommitMode) {
        let commits = self.tracker.to_commit();
        if commits.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &commits {
            if tpl
                .add_partition_offset(&self.job.source.topic, *p, Offset::Offset(*o))
                .is_err()
            {
                return;
            }
        }
        if let Some(j) = &mut self.join {
            j.commit(mode);
        }
        match self.source.consumer().commit(&tpl, mode) {
            Ok(()) => {
                self.tracker.mark_committed(&commits);
                ShardMetrics::add(&self.metrics.commits, 1);
            }
            // Nothing to worry about: the next commit carries the same or later offsets.
            Err(e) => eprintln!(
                "ferris: shard {} job {}: commit: {e}",
                self.metrics.shard, self.job.name
            ),
        }
    }

    /// Stops consuming, waits (bounded) for outstanding deliveries, commits what is delivered.
    async fn drain(mut self) -> Result<ShardReport> {
        let deadline = Instant::now() + self.settings.drain_timeout;
        while (self.unacknowledged() > 0 || !self.retries.get_mut().is_empty())
            && Instant::now() < deadline
        {
            self.pump_state()?;
            self.serve_delivery_reports();
            self.handle_deliveries()?;
            self.resend_failed()?;
            runtime::sleep(Duration::from_millis(1)).await;
        }
        self.handle_deliveries()?;
        self.pump_state()?;
        self.commit(CommitMode::Sync);
        self.report.undelivered = self.unacknowledged();
        if self.report.undelivered > 0 {
            // Purge so that dropping the producer does not block; those inputs stay
            // uncommitted and are consumed again on restart.
            self.producer
                .purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
        }
        Ok(self.report.clone())
    }
}

enum RecordOutcome {
    /// Filtered out: no output.
    Dropped,
    /// The encoded result is in the output buffer.
    Output,
    /// Goes to the dead-letter topic.
    Rejected { reason: String, decode: bool },
}

#[allow(clippy::too_many_arguments)]
fn handle_record(
    message: &Record<'_>,
    job: &KafkaJob,
    decoder: &mut Decoder,
    pipeline: &Pipeline,
    encoder: &mut Encoder,
    row: &mut Row,
    result: &mut Row,
    out: &mut Vec<u8>,
    system_slots: &mut SystemSlots,
    copy_skip: &[bool],
) -> RecordOutcome {
    if let Err(rejected) = decode_record(message, job, decoder, row, system_slots) {
        return rejected;
    }
    match pipeline.process_row_skipping(row, result, copy_skip) {
        Ok(false) => RecordOutcome::Dropped,
        Ok(true) => {
            out.clear();
            let source = message.payload().unwrap_or_default();
            match encoder.encode_copying(result, row, source, decoder.spans(), out) {
                Ok(()) => RecordOutcome::Output,
                Err(e) => RecordOutcome::Rejected {
                    reason: e.to_string(),
                    decode: false,
                },
            }
        }
        Err(e) => RecordOutcome::Rejected {
            reason: e.to_string(),
            decode: false,
        },
    }
}

/// Decodes a record's payload into `row` and fills its system columns; a null or undecodable
/// payload is rejected.
fn decode_record(
    message: &Record<'_>,
    job: &KafkaJob,
    decoder: &mut Decoder,
    row: &mut Row,
    system_slots: &mut SystemSlots,
) -> std::result::Result<(), RecordOutcome> {
    let Some(payload) = message.payload() else {
        return Err(RecordOutcome::Rejected {
            reason: "empty record (null value)".into(),
            decode: true,
        });
    };
    if let Err(e) = decoder.decode(payload, row) {
        return Err(RecordOutcome::Rejected {
            reason: e.to_string(),
            decode: true,
        });
    }
    fill_system_slots(message, job, row, system_slots).map_err(|e| RecordOutcome::Rejected {
        reason: e.to_string(),
        decode: true,
    })
}

/// Decodes a record of an aggregating job and routes it to the shard owning its key.
/// `Ok(true)`: held by state; `Ok(false)`: filtered out; `Err(Rejected)`: to the DLQ.
#[allow(clippy::too_many_arguments)]
fn route_record(
    message: &Record<'_>,
    job: &KafkaJob,
    decoder: &mut Decoder,
    pipeline: &Pipeline,
    row: &mut Row,
    system_slots: &mut SystemSlots,
    state: &mut StateShard,
    now_ms: i64,
) -> std::result::Result<bool, RecordOutcome> {
    decode_record(message, job, decoder, row, system_slots)?;
    let partition = message.partition();
    let rejected = |e: crate::error::EvalError| RecordOutcome::Rejected {
        reason: e.to_string(),
        decode: false,
    };
    if !pipeline.keep(row).map_err(rejected)? {
        state.touch(partition, now_ms);
        return Ok(false);
    }
    let prepared = state.prepare(row).map_err(rejected)?;
    state.route(
        prepared,
        partition,
        pack(partition, message.offset()),
        now_ms,
    );
    Ok(true)
}

/// The input slots that come from a record's metadata, and the reader of its key.
#[derive(Debug)]
struct SystemSlots {
    slots: Vec<(usize, SystemColumn)>,
    key: KeyCodec,
}

/// Fills the input slots that come from the record's metadata.
fn fill_system_slots(
    message: &Record<'_>,
    job: &KafkaJob,
    row: &mut Row,
    system_slots: &mut SystemSlots,
) -> std::result::Result<(), CodecError> {
    fill_right_slots(message, &job.source.topic, row, system_slots)
}

/// Fills the input slots that come from the metadata of a record of `topic`.
fn fill_right_slots(
    message: &Record<'_>,
    topic: &str,
    row: &mut Row,
    system_slots: &mut SystemSlots,
) -> std::result::Result<(), CodecError> {
    for &(slot, column) in &system_slots.slots {
        row[slot] = match column {
            SystemColumn::Offset => Value::BigInt(message.offset()),
            SystemColumn::Partition => Value::BigInt(i64::from(message.partition())),
            SystemColumn::Timestamp => message
                .timestamp()
                .to_millis()
                .map_or(Value::Null, Value::Timestamp),
            SystemColumn::Key => match message.key() {
                Some(k) => system_slots.key.read(k)?,
                None => Value::Null,
            },
            SystemColumn::Topic => Value::string(topic),
            SystemColumn::Headers => match message.headers() {
                Some(h) => headers_json(&h),
                None => Value::Json(Arc::from("{}")),
            },
        };
    }
    Ok(())
}

/// The key and headers of a stateless output `result`: the query's `_key` (written into `key`)
/// and `_headers` when it sets them, else the input record's.
fn output_key_and_headers(
    job: &KafkaJob,
    sink_key: &mut KeyCodec,
    message: &Record<'_>,
    result: &[Value],
    key: &mut Vec<u8>,
) -> std::result::Result<(OutKey, Option<OwnedHeaders>), CodecError> {
    let layout = job.output;
    let out_key = match layout.key {
        None => OutKey::Input,
        Some(k) => match sink_key.write(&result[k], key)? {
            true => OutKey::Encoded,
            false => OutKey::Absent,
        },
    };
    let headers = match layout.headers {
        None => message.headers().map(|h| h.detach()),
        Some(h) => headers_of(&result[h])?,
    };
    Ok((out_key, headers))
}

/// A record's headers as the JSON object `_headers` holds: names to UTF-8 text (bytes that are
/// not UTF-8 replaced), `null` for a header without a value.
fn headers_json(headers: &RecordHeaders<'_>) -> Value {
    let mut out = Vec::with_capacity(64);
    out.push(b'{');
    for (i, (name, value)) in headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing a STRING value never fails.
        let _ = write_value(&Value::string(&String::from_utf8_lossy(name)), &mut out);
        out.push(b':');
        let value = value.map_or(Value::Null, |v| Value::string(&String::from_utf8_lossy(v)));
        let _ = write_value(&value, &mut out);
    }
    out.push(b'}');
    Value::Json(Arc::from(String::from_utf8_lossy(&out)))
}

/// The record headers a `_headers` result sets: a JSON object (JSON value or STRING holding
/// one) of strings or nulls; NULL sets none. Other JSON values are written as their JSON text.
fn headers_of(value: &Value) -> std::result::Result<Option<OwnedHeaders>, CodecError> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::Json(t) | Value::String(t) => t,
        other => {
            return Err(CodecError::Unencodable(format!(
                "_headers must be a JSON object of strings, got {}",
                other.data_type()
            )));
        }
    };
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| {
            CodecError::Unencodable(format!("_headers must be a JSON object of strings: {e}"))
        })?;
    let mut headers = OwnedHeaders::new_with_capacity(map.len());
    for (name, v) in &map {
        let text = match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.as_str()),
            other => {
                return Err(CodecError::Unencodable(format!(
                    "_headers: header '{name}' must be a string or null, got {other}"
                )));
            }
        };
        headers = headers.insert(Header {
            key: name,
            value: text,
        });
    }
    Ok(Some(headers))
}

/// Hands a record to the producer. When its queue is full, or records are already parked (so
/// that order is kept), the record is parked in `parked` instead: the run loop then consumes
/// nothing new, serves delivery reports and sleeps on its timer, and sends the parked records
/// again once deliveries have made room (backpressure without spinning on the shard thread).
fn send_blocking<'a>(
    producer: &Producer_,
    parked: &RefCell<Vec<(usize, OwnedMessage)>>,
    make: impl FnOnce() -> BaseRecord<'a, [u8], [u8], usize>,
) -> Result<()> {
    let record = make();
    if !parked.borrow().is_empty() {
        park(record, parked);
        return Ok(());
    }
    match producer.send(record) {
        Ok(()) => Ok(()),
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
            park(r, parked);
            Ok(())
        }
        Err((e, r)) => Err(FerrisError::Kafka(format!(
            "producing to '{}' failed: {e}",
            r.topic
        ))),
    }
}

/// Keeps a record the producer could not take, to send again.
fn park(r: BaseRecord<'_, [u8], [u8], usize>, parked: &RefCell<Vec<(usize, OwnedMessage)>>) {
    let message = OwnedMessage::new(
        r.payload.map(<[u8]>::to_vec),
        r.key.map(<[u8]>::to_vec),
        r.topic.to_string(),
        rdkafka::Timestamp::NotAvailable,
        r.partition.unwrap_or(-1),
        -1,
        r.headers,
    );
    parked.borrow_mut().push((r.delivery_opaque, message));
}
