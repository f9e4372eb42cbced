//! Helpers for the Kafka end-to-end tests (`tests/tests/kafka_*.rs`) against a real broker:
//! topics, a fast producer, a reader of whole topics, committed and end offsets, deterministic
//! trades with their expected outputs computed here (integer cents, never f64), and `ferris run`
//! as a child process that is killed when its guard drops.
//!
//! The broker comes from `$FERRIS_BROKERS` (default `127.0.0.1:9092`); start one with
//! `tools/dev-broker.sh start`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use ferris_tools::trades::{START_MS, TradeGenerator};

/// Errors of the helpers: a message that says what failed.
pub type Result<T> = std::result::Result<T, String>;

const DEFAULT_BROKERS: &str = "127.0.0.1:9092";

/// The broker address the tests use: `$FERRIS_BROKERS` or `127.0.0.1:9092`.
pub fn brokers() -> String {
    std::env::var("FERRIS_BROKERS")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| DEFAULT_BROKERS.to_string())
}

/// Whether something accepts TCP connections at `addr` (HOST:PORT) within `timeout`.
pub fn reachable(addr: &str, timeout: Duration) -> bool {
    let Ok(addrs) = addr.to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| TcpStream::connect_timeout(&a, timeout).is_ok())
}

/// The broker for a test, or `None` when `FERRIS_SKIP_KAFKA=1` (the test then returns early,
/// saying so). Panics with the way to start one when the broker does not answer: an
/// end-to-end test never passes silently without a broker.
pub fn broker_or_skip(test: &str) -> Option<String> {
    if std::env::var("FERRIS_SKIP_KAFKA").is_ok_and(|v| v == "1") {
        eprintln!("{test}: skipped (FERRIS_SKIP_KAFKA=1)");
        return None;
    }
    let brokers = brokers();
    let first = brokers.split(',').next().unwrap_or(DEFAULT_BROKERS).trim();
    assert!(
        reachable(first, Duration::from_secs(2)),
        "{test}: no Kafka broker at {first} ($FERRIS_BROKERS). Start the local one with \
         `tools/dev-broker.sh start` (or set FERRIS_SKIP_KAFKA=1 to skip the Kafka tests)"
    );
    Some(brokers)
}

/// A name no other test of this or another test process uses: `PREFIX-PID-N-MILLIS`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() % 1_000_000)
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{millis}", std::process::id())
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("broker.address.family", "v4")
        .set("log_level", "3");
    config
}

/// Creates `name` with `partitions` partitions; an existing topic is an error.
pub fn create_topic(brokers: &str, name: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers)
        .create()
        .map_err(|e| format!("admin client: {e}"))?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = futures_executor::block_on(admin.create_topics([&topic], &opts))
        .map_err(|e| format!("create topic {name}: {e}"))?;
    for r in results {
        r.map_err(|(t, code)| format!("create topic {t}: {code}"))?;
    }
    // The broker may answer metadata requests before the topic shows up in them.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match partition_count(brokers, name) {
            Ok(n) if n == partitions as usize => return Ok(()),
            Ok(_) | Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(n) => return Err(format!("topic {name} has {n} partitions, not {partitions}")),
            Err(e) => return Err(e),
        }
    }
}

/// How many partitions `topic` has (an error when it does not exist).
pub fn partition_count(brokers: &str, topic: &str) -> Result<usize> {
    ferris_engine::connector::kafka::partition_count(brokers, topic, Duration::from_secs(10))
        .map_err(|e| e.to_string())
}

/// One record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub partition: i32,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
}

#[derive(Debug, Default)]
struct CountingContext {
    failed: AtomicUsize,
    first_error: OnceLock<String>,
}

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let _ = self.first_error.set(e.to_string());
        }
    }
}

/// Produces `records` to `topic` (to the partition each names), batched (`linger.ms` 5), and
/// waits until the broker has acknowledged every one: an error if any was not. One request in
/// flight at a time, so that tansu writes a partition's batches in offset order.
pub fn produce(brokers: &str, topic: &str, records: &[Outgoing]) -> Result<()> {
    produce_with_headers(brokers, topic, records, &[])
}

/// [`produce`], with `headers[i]` (name, value) on record `i` (records past the end of
/// `headers` get none).
pub fn produce_with_headers(
    brokers: &str,
    topic: &str,
    records: &[Outgoing],
    headers: &[Vec<(String, String)>],
) -> Result<()> {
    let producer: BaseProducer<CountingContext> = client_config(brokers)
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.timeout.ms", "60000")
        .set("max.in.flight.requests.per.connection", "1")
        .create_with_context(CountingContext::default())
        .map_err(|e| format!("producer: {e}"))?;
    for (i, r) in records.iter().enumerate() {
        let mut record = BaseRecord::to(topic)
            .partition(r.partition)
            .key(&r.key[..])
            .payload(&r.payload[..]);
        if let Some(list) = headers.get(i).filter(|l| !l.is_empty()) {
            let mut owned = OwnedHeaders::new_with_capacity(list.len());
            for (name, value) in list {
                owned = owned.insert(Header {
                    key: name,
                    value: Some(value.as_str()),
                });
            }
            record = record.headers(owned);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, back)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(format!("produce to {topic}: {e}")),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| format!("flush to {topic}: {e}"))?;
    let context = producer.context();
    match context.failed.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(format!(
            "{n} of {} records to {topic} were not delivered: {}",
            records.len(),
            context.first_error.get().map_or("?", String::as_str)
        )),
    }
}

/// Produces tombstones (a key and no value) to the partitions named, and waits until the
/// broker has acknowledged every one.
pub fn produce_tombstones(brokers: &str, topic: &str, keys: &[(i32, Vec<u8>)]) -> Result<()> {
    let producer: BaseProducer<CountingContext> = client_config(brokers)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .set("max.in.flight.requests.per.connection", "1")
        .create_with_context(CountingContext::default())
        .map_err(|e| format!("producer: {e}"))?;
    for (partition, key) in keys {
        let record: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to(topic).partition(*partition).key(&key[..]);
        producer
            .send(record)
            .map_err(|(e, _)| format!("produce a tombstone to {topic}: {e}"))?;
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| format!("flush to {topic}: {e}"))?;
    match producer.context().failed.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(format!("{n} tombstones to {topic} were not delivered")),
    }
}

/// A record read back from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Consumed {
    /// The payload as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.payload.as_deref().unwrap_or_default()).into_owned()
    }

    /// The key as text (lossy).
    pub fn key_text(&self) -> String {
        String::from_utf8_lossy(self.key.as_deref().unwrap_or_default()).into_owned()
    }

    /// The value of the header `name` as text, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

/// Reads every partition of `topic` from the beginning until `expected` records have come (then
/// a short grace period shows extra ones) or nothing new came for `idle`, at most `max` in all.
/// Records come sorted by (partition, offset).
pub fn consume_all(
    brokers: &str,
    topic: &str,
    expected: usize,
    idle: Duration,
    max: Duration,
) -> Result<Vec<Consumed>> {
    let partitions = partition_count(brokers, topic)?;
    let consumer: BaseConsumer = client_config(brokers)
        .set("group.id", unique_name("ferris-tests-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "50")
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        let p = i32::try_from(p).map_err(|e| e.to_string())?;
        // Offset 0, not Offset::Beginning: tansu 0.6.0 (memory storage) answers "earliest" with
        // the batch written first, which is not offset 0 when two producers wrote at once.
        tpl.add_partition_offset(topic, p, Offset::Offset(0))
            .map_err(|e| format!("assign: {e}"))?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| format!("assign {topic}: {e}"))?;
    let start = Instant::now();
    let mut last = Instant::now();
    let mut out = Vec::with_capacity(expected);
    let grace = Duration::from_millis(300).min(idle);
    loop {
        let now = Instant::now();
        let limit = if out.len() >= expected { grace } else { idle };
        if now.duration_since(last) >= limit || now.duration_since(start) >= max {
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => return Err(format!("consume {topic}: {e}")),
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_string(),
                                    h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Consumed {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec),
                    headers,
                });
                last = Instant::now();
            }
        }
    }
    out.sort_by_key(|c| (c.partition, c.offset));
    Ok(out)
}

/// The offsets group `group` has committed for each partition of `topic` (partitions without a
/// commit are left out).
pub fn committed_offsets(brokers: &str, group: &str, topic: &str) -> Result<BTreeMap<i32, i64>> {
    let partitions = partition_count(brokers, topic)?;
    let consumer: BaseConsumer = client_config(brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, i32::try_from(p).map_err(|e| e.to_string())?);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .map_err(|e| format!("committed offsets of {group} on {topic}: {e}"))?;
    let mut out = BTreeMap::new();
    for e in committed.elements() {
        if let Offset::Offset(o) = e.offset() {
            out.insert(e.partition(), o);
        }
    }
    Ok(out)
}

/// The end offset of each partition of `topic` as the broker lists it (ListOffsets, latest).
///
/// Tansu 0.6.0 (memory storage) answers with the base offset of the newest record *batch* + 1,
/// not the offset after the last record, so this lags behind the real end by up to a batch: use
/// it only to see whether anything was written (`> 0`); [`end_offsets`] reads the real ends.
pub fn listed_end_offsets(brokers: &str, topic: &str) -> Result<BTreeMap<i32, i64>> {
    let partitions = partition_count(brokers, topic)?;
    let consumer: BaseConsumer = client_config(brokers)
        .set("group.id", "ferris-tests-watermarks")
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    let mut out = BTreeMap::new();
    for p in 0..partitions {
        let p = i32::try_from(p).map_err(|e| e.to_string())?;
        let (_, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .map_err(|e| format!("watermarks of {topic}/{p}: {e}"))?;
        out.insert(p, high);
    }
    Ok(out)
}

/// The end offset (the offset after the last record) of each partition of `topic`, found by
/// reading the topic until `expected` records came (see [`listed_end_offsets`] for why).
pub fn end_offsets(brokers: &str, topic: &str, expected: usize) -> Result<BTreeMap<i32, i64>> {
    let partitions = partition_count(brokers, topic)?;
    let records = consume_all(
        brokers,
        topic,
        expected,
        Duration::from_secs(10),
        Duration::from_secs(120),
    )?;
    if records.len() < expected {
        return Err(format!(
            "{topic} holds {} records, expected {expected}",
            records.len()
        ));
    }
    Ok(ends_of(&records, partitions))
}

/// The end offset of each of `partitions` partitions given all the records of a topic.
pub fn ends_of(records: &[Consumed], partitions: usize) -> BTreeMap<i32, i64> {
    let mut out: BTreeMap<i32, i64> = (0..partitions)
        .filter_map(|p| i32::try_from(p).ok())
        .map(|p| (p, 0))
        .collect();
    for r in records {
        let end = out.entry(r.partition).or_insert(0);
        *end = (*end).max(r.offset + 1);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Trades

/// One generated trade. `id` is unique in a data set, so an output can be traced to its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    pub id: u64,
    pub symbol: &'static str,
    pub price_cents: u64,
    pub quantity: u64,
    pub side: &'static str,
    pub account: u64,
    pub ts: u64,
}

impl Trade {
    /// The record key: the account, e.g. `ACC-0042`.
    pub fn key(&self) -> String {
        format!("ACC-{:04}", self.account)
    }

    /// `price` as written in the JSON, always with 2 decimals: `187.25`.
    pub fn price(&self) -> String {
        cents(self.price_cents)
    }

    /// `price * quantity` in cents, exactly.
    pub fn notional_cents(&self) -> u64 {
        self.price_cents * self.quantity
    }

    /// The input record:
    /// `{"id":7,"symbol":"AAPL","price":187.25,"quantity":100,"side":"BUY","account":"ACC-0042","ts":1767225600000}`.
    pub fn json(&self) -> String {
        format!(
            r#"{{"id":{},"symbol":"{}","price":{},"quantity":{},"side":"{}","account":"{}","ts":{}}}"#,
            self.id,
            self.symbol,
            self.price(),
            self.quantity,
            self.side,
            self.key(),
            self.ts
        )
    }

    /// The partition of this trade's key among `partitions`: one key, one partition, so the
    /// order of a key's records is the order they were produced in.
    pub fn partition(&self, partitions: i32) -> i32 {
        i32::try_from(self.account % u64::try_from(partitions).unwrap_or(1)).unwrap_or(0)
    }

    /// This trade as a record for `partitions` partitions.
    pub fn outgoing(&self, partitions: i32) -> Outgoing {
        Outgoing {
            partition: self.partition(partitions),
            key: self.key().into_bytes(),
            payload: self.json().into_bytes(),
        }
    }
}

/// Formats cents as a decimal with exactly 2 fraction digits: 1872500 -> `18725.00`.
pub fn cents(c: u64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

/// `count` deterministic trades (the same `seed` gives the same trades) with ids
/// `first_id..first_id + count`.
pub fn trades(count: usize, seed: u64, first_id: u64) -> Vec<Trade> {
    TradeGenerator::new(seed, START_MS + first_id)
        .take(count)
        .zip(first_id..)
        .map(|(t, id)| Trade {
            id,
            symbol: t.symbol,
            price_cents: t.price_cents,
            quantity: t.quantity,
            side: t.side,
            account: t.account,
            ts: t.ts,
        })
        .collect()
}

/// The filter-and-projection job of the end-to-end tests, with its expected output.
#[derive(Debug, Clone)]
pub struct BigTradesJob {
    /// The job (stream) name; offsets are committed under `ferris-<name>`.
    pub name: String,
    pub source_topic: String,
    pub sink_topic: String,
    /// Notional threshold in cents: a trade passes when `price * quantity > threshold`.
    pub threshold_cents: u64,
    /// Extra `'key' = 'value'` WITH properties.
    pub extra_properties: Vec<(String, String)>,
    /// `AND side <> 'HOLD'` in the WHERE clause: true for every trade, and it makes the shard
    /// decode `side` (a column that is only copied is never decoded).
    pub decode_side: bool,
}

impl BigTradesJob {
    /// A job with unique topic names from `prefix`, filtering at 50,000.00.
    pub fn new(prefix: &str) -> Self {
        let name = unique_name(prefix).replace('-', "_");
        Self {
            source_topic: format!("{name}_in"),
            sink_topic: format!("{name}_out"),
            name,
            threshold_cents: 5_000_000,
            extra_properties: Vec::new(),
            decode_side: false,
        }
    }

    /// The group id under which the engine commits the source offsets in static mode.
    pub fn group(&self) -> String {
        format!("ferris-{}", self.name)
    }

    /// The dead-letter topic (the engine's default: `<sink topic>.dlq`).
    pub fn dlq_topic(&self) -> String {
        format!("{}.dlq", self.sink_topic)
    }

    /// The application file text.
    pub fn sql(&self) -> String {
        let mut props = vec![
            ("trades.type".to_string(), "kafka_source".to_string()),
            ("trades.topic".to_string(), self.source_topic.clone()),
            ("trades.format".to_string(), "json".to_string()),
            (format!("{}.type", self.name), "kafka_sink".to_string()),
            (format!("{}.topic", self.name), self.sink_topic.clone()),
            (format!("{}.format", self.name), "json".to_string()),
        ];
        props.extend(self.extra_properties.iter().cloned());
        let with = props
            .iter()
            .map(|(k, v)| format!("    '{k}' = '{v}'"))
            .collect::<Vec<_>>()
            .join(",\n");
        format!(
            "CREATE STREAM {} AS\n\
             SELECT id, symbol, side, price * quantity AS notional, account\n\
             FROM trades\n\
             WHERE price * quantity > {}{}\n\
             WITH (\n{with}\n);\n",
            self.name,
            cents(self.threshold_cents),
            if self.decode_side {
                " AND side <> 'HOLD'"
            } else {
                ""
            }
        )
    }

    /// Whether `trade` passes the filter.
    pub fn passes(&self, trade: &Trade) -> bool {
        trade.notional_cents() > self.threshold_cents
    }

    /// The exact output record of `trade`, if it passes.
    pub fn expected(&self, trade: &Trade) -> Option<String> {
        self.passes(trade).then(|| {
            format!(
                r#"{{"id":{},"symbol":"{}","side":"{}","notional":{},"account":"{}"}}"#,
                trade.id,
                trade.symbol,
                trade.side,
                cents(trade.notional_cents()),
                trade.key()
            )
        })
    }

    /// Writes the application file into `dir` and returns its path.
    pub fn write_app(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(format!("{}.sql", self.name));
        std::fs::write(&path, self.sql()).map_err(|e| format!("write {}: {e}", path.display()))?;
        Ok(path)
    }
}

/// Extracts the number after `"id":` from an output or input JSON record.
pub fn id_of(json: &str) -> Option<u64> {
    let rest = &json[json.find("\"id\":")? + 5..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A multiset of strings: each with how many times it occurs.
pub fn multiset<I: IntoIterator<Item = String>>(items: I) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in items {
        *m.entry(s).or_insert(0) += 1;
    }
    m
}

/// Describes how two multisets differ (at most a few examples of each side), or `None`.
pub fn multiset_diff(
    expected: &BTreeMap<String, usize>,
    actual: &BTreeMap<String, usize>,
) -> Option<String> {
    let missing: Vec<_> = expected
        .iter()
        .filter(|(k, n)| actual.get(*k).copied().unwrap_or(0) < **n)
        .collect();
    let extra: Vec<_> = actual
        .iter()
        .filter(|(k, n)| expected.get(*k).copied().unwrap_or(0) < **n)
        .collect();
    if missing.is_empty() && extra.is_empty() {
        return None;
    }
    let total = |m: &BTreeMap<String, usize>| m.values().sum::<usize>();
    Some(format!(
        "expected {} records, got {}; {} missing or too few (e.g. {:?}), {} unexpected or too many (e.g. {:?})",
        total(expected),
        total(actual),
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(3).collect::<Vec<_>>()
    ))
}

// ---------------------------------------------------------------------------------------------
// Processes

/// The workspace root (the parent of `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// A scratch directory for one test process: `<tmp>/ferris-tests-<pid>`.
pub fn scratch_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("ferris-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// The `ferris` binary: `$FERRIS_BIN`, else `target/<profile>/ferris` of the profile this
/// executable was built in (a test in `deps/` or a binary such as a benchmark), brought up to date once per test process with
/// `cargo build -p ferris-tools --bin ferris` (a no-op after `cargo test --workspace`, which
/// builds it; `cargo test -p ferris-tests` alone would otherwise run a stale or missing one).
pub fn ferris_bin() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(find_or_build_ferris).clone()
}

fn find_or_build_ferris() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("FERRIS_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    // Test executables live in target/<profile>/deps/, binaries in target/<profile>/.
    let profile_dir = exe
        .parent()
        .and_then(|dir| {
            if dir.file_name().is_some_and(|n| n == "deps") {
                dir.parent()
            } else {
                Some(dir)
            }
        })
        .ok_or_else(|| format!("no target dir above {}", exe.display()))?;
    let bin = profile_dir.join(format!("ferris{}", std::env::consts::EXE_SUFFIX));
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["build", "--quiet", "-p", "ferris-tools", "--bin", "ferris"])
        .current_dir(workspace_root());
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    match cmd.status() {
        Ok(status) if status.success() && bin.is_file() => Ok(bin),
        Ok(status) if bin.is_file() => {
            eprintln!(
                "ferris-tests: `cargo build -p ferris-tools` failed ({status}); using the existing {}",
                bin.display()
            );
            Ok(bin)
        }
        Ok(status) => Err(format!(
            "cargo build -p ferris-tools failed ({status}) and there is no {}",
            bin.display()
        )),
        Err(e) if bin.is_file() => {
            eprintln!(
                "ferris-tests: cannot run cargo ({e}); using the existing {}",
                bin.display()
            );
            Ok(bin)
        }
        Err(e) => Err(format!("cannot run cargo to build ferris: {e}")),
    }
}

/// A running `ferris` process. Dropping it kills the process (SIGKILL) and reaps it, so a
/// failing test leaves nothing behind.
#[derive(Debug)]
pub struct FerrisProcess {
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl FerrisProcess {
    /// Starts `ferris ARGS...`; stdout and stderr go to `<scratch>/<name>.log`.
    pub fn spawn(name: &str, args: &[&str]) -> Result<Self> {
        let bin = ferris_bin()?;
        let log = scratch_dir()?.join(format!("{name}.log"));
        let out = File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("dup {}: {e}", log.display()))?;
        let child = Command::new(&bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        Ok(Self {
            child,
            log,
            status: None,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote so far (stdout and stderr together).
    pub fn output(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Sends `signal` (e.g. `TERM`, `KILL`) with kill(1).
    pub fn signal(&self, signal: &str) -> Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .map_err(|e| format!("kill -{signal}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -{signal} {} failed", self.child.id()))
        }
    }

    /// The exit status if the process has exited.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait().map_err(|e| format!("wait: {e}"))?;
        }
        Ok(self.status)
    }

    /// Waits at most `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_status()? {
                return Ok(Some(s));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits at most `timeout` for the exit status (SIGKILL if it does not come:
    /// an error naming the output).
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        self.signal("TERM")?;
        match self.wait_timeout(timeout)? {
            Some(s) => Ok(s),
            None => {
                self.kill();
                Err(format!(
                    "ferris did not exit within {timeout:?} of SIGTERM; its output:\n{}",
                    self.output()
                ))
            }
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

impl Drop for FerrisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// GET `http://ADDR/PATH` (HTTP/1.0, no keep-alive): the body, or an error.
pub fn http_get(addr: &str, path: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")
        .map_err(|e| format!("write {addr}: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("read {addr}: {e}"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP header from {addr}: {response:?}"))?;
    let ok = head.starts_with("HTTP/1.") && head.split(' ').nth(1) == Some("200");
    if !ok {
        return Err(format!(
            "GET {path} from {addr}: {}",
            head.lines().next().unwrap_or("")
        ));
    }
    Ok(body.to_string())
}

/// The sum over all label sets of the Prometheus metric `name` in `text` (0 when absent).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name).then(|| value.trim().parse::<f64>().ok())?
        })
        .sum()
}

/// A tansu broker of a test's own (another port, its data in a SQLite file under `data`, so
/// that it survives a restart), started and stopped with `tools/dev-broker.sh`. Dropping it
/// stops the broker.
#[derive(Debug)]
pub struct OwnBroker {
    pub port: u16,
    pub data: PathBuf,
    dir: PathBuf,
}

impl OwnBroker {
    /// Starts a broker on a free port with its data in `data`.
    pub fn start(data: PathBuf) -> Result<Self> {
        let broker = Self {
            port: free_port()?,
            dir: data.join("broker"),
            data,
        };
        broker.script("start")?;
        Ok(broker)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs `tools/dev-broker.sh VERB` for this broker.
    pub fn script(&self, verb: &str) -> Result<()> {
        let output = Command::new(workspace_root().join("tools/dev-broker.sh"))
            .arg(verb)
            .env("FERRIS_BROKER_PORT", self.port.to_string())
            .env("FERRIS_BROKER_DATA", &self.data)
            .env("FERRIS_BROKER_DIR", &self.dir)
            .output()
            .map_err(|e| format!("tools/dev-broker.sh {verb}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "tools/dev-broker.sh {verb} (port {}) failed: {}{}",
                self.port,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read(self.dir.join(format!("tansu-{}.log", self.port)))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for OwnBroker {
    /// Stops the broker and deletes its SQLite files (tens of MB); its log stays.
    fn drop(&mut self) {
        let _ = self.script("stop");
        if let Ok(entries) = std::fs::read_dir(&self.data) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with("tansu.db") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}
