//! Kafka through librdkafka (`rdkafka`'s `BaseConsumer` / `BaseProducer`, polled without
//! blocking from the shard that owns them; DESIGN decision 3).
//!
//! This module builds client configurations (engine defaults, then the user's properties, which
//! always win), the contexts that carry delivery reports and statistics back to the shard, and
//! the bounded start-up check that the brokers and the source topic are there.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_queue::SegQueue;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;

use crate::error::{FerrisError, Result};
use crate::metrics::ShardMetrics;

mod source;

pub use source::{ForwardTarget, Record, RecordBatch, RecordHeaders, Source, SourceConsumer};

/// Consumer settings the engine relies on; a user property with the same key overrides them.
pub const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    // Offsets are committed by the engine, only once the output they caused is delivered.
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("auto.offset.reset", "earliest"),
    ("enable.partition.eof", "false"),
    ("fetch.wait.max.ms", "50"),
    // Consumer lag for metrics arrives through librdkafka's statistics.
    ("statistics.interval.ms", "2000"),
];

/// Producer settings the engine relies on; a user property with the same key overrides them.
pub const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("linger.ms", "5"),
    // Never give up on a record while the broker is away: nothing is dropped, the queue fills,
    // and a full queue stops consumption (backpressure).
    ("message.timeout.ms", "0"),
    // Keeps records of one key in order through retries. (The idempotent producer would allow
    // five requests in flight, but on tansu 0.6 a restarted engine's records were acknowledged
    // and then missing from the topic: see docs/operations.md.)
    ("max.in.flight.requests.per.connection", "1"),
    ("queue.buffering.max.messages", "200000"),
];

/// Builds a client configuration: `bootstrap.servers`, then `defaults`, then `properties`.
pub fn client_config(
    brokers: &str,
    defaults: &[(&str, &str)],
    properties: &[(String, String)],
) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    for (k, v) in defaults {
        c.set(*k, *v);
    }
    for (k, v) in properties {
        c.set(k, v);
    }
    c
}

/// Turns an rdkafka configuration error into one that names the property.
pub fn config_error(what: &str, e: KafkaError) -> FerrisError {
    FerrisError::Config(format!("{what}: {e}"))
}

/// One delivery report, carried from the producer callback to the shard loop.
#[derive(Debug)]
pub struct Delivery {
    /// The packed `(partition, offset)` of the input record (see `shard::offsets::pack`).
    pub opaque: usize,
    /// `None` when the broker acknowledged the record; else why it failed, with the record so
    /// that it can be sent to the dead-letter topic.
    pub failure: Option<FailedRecord>,
}

/// A record the broker did not take.
#[derive(Debug)]
pub struct FailedRecord {
    /// Why.
    pub error: String,
    /// True when the record itself is at fault (too large, invalid): sending it again cannot
    /// work. Otherwise the failure is the broker's or the network's, and the record is sent
    /// again.
    pub record_error: bool,
    /// The record (topic, key, payload, headers).
    pub message: OwnedMessage,
}

/// Errors that reject the record itself, whatever the broker's state.
pub fn is_record_error(code: Option<RDKafkaErrorCode>) -> bool {
    matches!(
        code,
        Some(
            RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::InvalidTimestamp
        )
    )
}

/// The producer's context: delivery reports go into a lock-free queue that the shard drains
/// after each `poll` (the callback runs inside `poll`, on the shard's own thread).
#[derive(Debug, Default)]
pub struct ShardProducerContext {
    /// Reports not yet seen by the shard.
    pub deliveries: Arc<SegQueue<Delivery>>,
}

impl ClientContext for ShardProducerContext {}

impl ProducerContext for ShardProducerContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let failure = match result {
            Ok(_) => None,
            Err((e, m)) => Some(FailedRecord {
                error: e.to_string(),
                record_error: is_record_error(e.rdkafka_error_code()),
                message: m.detach(),
            }),
        };
        self.deliveries.push(Delivery { opaque, failure });
    }
}

/// The consumer's context: publishes consumer lag from librdkafka statistics and notes
/// partitions revoked by a group rebalance.
#[derive(Debug)]
pub struct ShardConsumerContext {
    /// Where lag is published.
    pub metrics: Arc<ShardMetrics>,
    /// The source topic (statistics cover every topic of the client).
    pub topic: String,
    /// Partitions revoked since the shard last looked.
    pub revoked: Arc<SegQueue<i32>>,
    /// Where assigned partitions forward their records (the shard's [`Source`] queue).
    pub forward: ForwardTarget,
}

impl ShardConsumerContext {
    /// The context of a consumer of `topic` that publishes its lag to `metrics`.
    pub fn new(metrics: Arc<ShardMetrics>, topic: &str) -> ShardConsumerContext {
        ShardConsumerContext {
            metrics,
            topic: topic.to_string(),
            revoked: Arc::new(SegQueue::new()),
            forward: ForwardTarget::default(),
        }
    }
}

impl ClientContext for ShardConsumerContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(t) = statistics.topics.get(&self.topic) {
            let lag: i64 = t
                .partitions
                .values()
                .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
                .map(|p| p.consumer_lag)
                .sum();
            self.metrics.consumer_lag.store(lag, Ordering::Relaxed);
        }
    }
}

impl ConsumerContext for ShardConsumerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(list) => {
                for e in list.elements() {
                    self.revoked.push(e.partition());
                }
            }
            // Before librdkafka starts fetching them (see `source`).
            Rebalance::Assign(list) => {
                let partitions: Vec<i32> = list
                    .elements_for_topic(&self.topic)
                    .iter()
                    .map(|e| e.partition())
                    .collect();
                self.forward
                    .forward(consumer.client().native_ptr(), &self.topic, &partitions);
            }
            Rebalance::Error(_) => {}
        }
    }
}

/// Creates the topics of `wanted` (`(name, partitions)`) that do not exist yet, with the
/// broker's default replication factor. Returns the names created. librdkafka producers do not
/// create topics, and a record for a missing topic would wait forever.
pub fn ensure_topics(
    brokers: &str,
    wanted: &[(String, i32)],
    timeout: Duration,
) -> Result<Vec<String>> {
    let probe: BaseConsumer = client_config(brokers, &[], &[])
        .create()
        .map_err(|e| config_error("cannot create a Kafka client", e))?;
    let mut missing = Vec::new();
    for (topic, partitions) in wanted {
        let md = probe
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| FerrisError::Config(format!("cannot reach Kafka at {brokers}: {e}")))?;
        let exists = md
            .topics()
            .iter()
            .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty());
        if !exists && !missing.iter().any(|(t, _): &(&str, i32)| t == topic) {
            missing.push((topic.as_str(), *partitions));
        }
    }
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let admin: AdminClient<DefaultClientContext> = client_config(brokers, &[], &[])
        .create()
        .map_err(|e| config_error("cannot create a Kafka admin client", e))?;
    let new: Vec<NewTopic<'_>> = missing
        .iter()
        .map(|(t, p)| NewTopic::new(t, *p, TopicReplication::Fixed(-1)))
        .collect();
    let opts = AdminOptions::new()
        .operation_timeout(Some(timeout))
        .request_timeout(Some(timeout));
    let results = futures_executor::block_on(admin.create_topics(&new, &opts))
        .map_err(|e| FerrisError::Config(format!("cannot create topics on {brokers}: {e}")))?;
    let mut created = Vec::new();
    for r in results {
        match r {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(FerrisError::Config(format!(
                    "cannot create topic '{name}' on {brokers}: {code}"
                )));
            }
        }
    }
    Ok(created)
}

/// Waits up to `timeout` for the brokers to answer and returns the partition count of `topic`.
/// Fails with a message that names the brokers or the topic.
pub fn partition_count(brokers: &str, topic: &str, timeout: Duration) -> Result<usize> {
    let consumer: BaseConsumer = client_config(brokers, &[], &[])
        .create()
        .map_err(|e| config_error("cannot create a Kafka client", e))?;
    let md = consumer.fetch_metadata(Some(topic), timeout).map_err(|e| {
        FerrisError::Config(format!(
            "cannot reach Kafka at {brokers} within {:.0?}: {e} (is the broker running? \
             set --brokers or FERRIS_BROKERS)",
            timeout
        ))
    })?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| {
            FerrisError::Config(format!(
                "topic '{topic}' not in the metadata from {brokers}"
            ))
        })?;
    if let Some(e) = t.error() {
        return Err(FerrisError::Config(format!(
            "source topic '{topic}' is not available on {brokers}: {:?} (create it first)",
            RDKafkaErrorCode::from(e)
        )));
    }
    if t.partitions().is_empty() {
        return Err(FerrisError::Config(format!(
            "source topic '{topic}' has no partitions"
        )));
    }
    Ok(t.partitions().len())
}

/// The largest closed watermark recorded in a job's checkpoint topic (records
/// `{"closed":<epoch ms>}`, one per partition 0), or `None` if it holds none. Reads the topic
/// from the beginning until nothing new arrives for a second.
pub fn read_checkpoint_floor(brokers: &str, topic: &str, timeout: Duration) -> Result<Option<i64>> {
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = client_config(
        brokers,
        &[
            ("enable.auto.commit", "false"),
            ("group.id", "ferris-checkpoint-reader"),
        ],
        &[],
    )
    .create()
    .map_err(|e| config_error("cannot create a Kafka client", e))?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .map_err(|e| config_error("checkpoint topic", e))?;
    consumer
        .assign(&tpl)
        .map_err(|e| config_error(&format!("reading checkpoint topic '{topic}'"), e))?;
    let deadline = std::time::Instant::now() + timeout;
    let mut quiet_since = std::time::Instant::now();
    let mut floor: Option<i64> = None;
    while std::time::Instant::now() < deadline && quiet_since.elapsed() < Duration::from_secs(1) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                quiet_since = std::time::Instant::now();
                let closed = m
                    .payload()
                    .and_then(|p| std::str::from_utf8(p).ok())
                    .and_then(parse_checkpoint);
                if let Some(c) = closed {
                    floor = Some(floor.map_or(c, |f| f.max(c)));
                }
            }
            Some(Err(e)) => {
                return Err(FerrisError::Kafka(format!(
                    "reading checkpoint topic '{topic}': {e}"
                )));
            }
            None => {}
        }
    }
    Ok(floor)
}

/// The payload of a checkpoint record.
pub fn checkpoint_payload(closed: i64) -> String {
    format!("{{\"closed\":{closed}}}")
}

/// The closed watermark of a checkpoint record's payload.
pub fn parse_checkpoint(payload: &str) -> Option<i64> {
    payload
        .trim()
        .strip_prefix("{\"closed\":")?
        .strip_suffix('}')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_properties_override_defaults() {
        let c = client_config(
            "b:1",
            CONSUMER_DEFAULTS,
            &[("auto.offset.reset".into(), "latest".into())],
        );
        assert_eq!(c.get("auto.offset.reset"), Some("latest"));
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("bootstrap.servers"), Some("b:1"));
    }

    #[test]
    fn unreachable_broker_is_a_clear_bounded_error() {
        let started = std::time::Instant::now();
        // Port 1 on loopback: nothing listens there.
        let e = partition_count("127.0.0.1:1", "t", Duration::from_millis(500)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        let text = e.to_string();
        assert!(
            text.starts_with("configuration error: cannot reach Kafka at 127.0.0.1:1 within"),
            "{text}"
        );
    }

    #[test]
    fn checkpoint_records_round_trip() {
        assert_eq!(
            parse_checkpoint(&checkpoint_payload(1_767_225_600_000)),
            Some(1_767_225_600_000)
        );
        assert_eq!(parse_checkpoint(&checkpoint_payload(-5)), Some(-5));
        assert_eq!(parse_checkpoint("{\"closed\":x}"), None);
        assert_eq!(parse_checkpoint("garbage"), None);
    }
}
