//! `ferris produce` and `ferris consume`: JSON lines into and out of a Kafka topic, for demos
//! and for looking at topics (Debian's kcat cannot talk to every Kafka-compatible broker).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use ferris_engine::codec::json::JsonDecoder;
use ferris_engine::connector::kafka::{ensure_topics, partition_count};
use ferris_engine::sql::planner::InputField;
use ferris_engine::value::Value;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

fn brokers(arg: Option<String>) -> String {
    arg.or_else(|| {
        std::env::var("FERRIS_BROKERS")
            .ok()
            .filter(|b| !b.is_empty())
    })
    .unwrap_or_else(|| "127.0.0.1:9092".to_string())
}

/// Arguments of `ferris produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The topic to write to.
    #[arg(long)]
    topic: String,
    /// JSON-lines file to read (default: stdin).
    #[arg(long, short)]
    input: Option<PathBuf>,
    /// Use this top-level field's value as the record key.
    #[arg(long)]
    key: Option<String>,
    /// Partitions of the topic if it has to be created.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Kafka bootstrap servers [default: $FERRIS_BROKERS or 127.0.0.1:9092].
    #[arg(long)]
    brokers: Option<String>,
}

/// Produces every non-blank line as one record.
pub fn produce(args: ProduceArgs) -> Result<()> {
    let brokers = brokers(args.brokers);
    let wanted = [(args.topic.clone(), args.partitions.max(1))];
    for t in ensure_topics(&brokers, &wanted, Duration::from_secs(10))? {
        eprintln!(
            "ferris produce: created topic '{t}' with {} partition(s)",
            args.partitions.max(1)
        );
    }
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "500000")
        .create()
        .context("cannot create a Kafka producer")?;
    let reader: Box<dyn BufRead> = match &args.input {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut key_decoder = args.key.as_ref().map(|k| {
        JsonDecoder::new(&[InputField {
            name: k.clone(),
            system: None,
        }])
    });
    let mut row = Vec::new();
    let mut count = 0u64;
    let started = Instant::now();
    for (i, line) in reader.lines().enumerate() {
        let line = line.context("reading input")?;
        if line.trim().is_empty() {
            continue;
        }
        let key = match key_decoder.as_mut() {
            Some(d) => match d.decode(line.as_bytes(), &mut row) {
                Ok(()) if !row[0].is_null() => Some(match &row[0] {
                    Value::String(s) => s.to_string(),
                    other => other.to_string(),
                }),
                _ => None,
            },
            None => None,
        };
        loop {
            let mut record = BaseRecord::<str, str>::to(&args.topic).payload(&line);
            if let Some(k) = &key {
                record = record.key(k.as_str());
            }
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => bail!("line {}: cannot produce: {e}", i + 1),
            }
        }
        count += 1;
    }
    producer
        .flush(Duration::from_secs(60))
        .context("flushing to the broker")?;
    eprintln!(
        "ferris produce: {count} records to '{}' in {:.2} s",
        args.topic,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Arguments of `ferris consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// The topic to read, from the beginning of every partition.
    #[arg(long)]
    topic: String,
    /// Stop after this many records.
    #[arg(long)]
    max: Option<u64>,
    /// Stop after this many seconds without a new record.
    #[arg(long, default_value_t = 3.0)]
    idle_timeout: f64,
    /// Print each record as `partition offset key headers payload` (tab-separated).
    #[arg(long)]
    verbose: bool,
    /// Kafka bootstrap servers [default: $FERRIS_BROKERS or 127.0.0.1:9092].
    #[arg(long)]
    brokers: Option<String>,
}

/// Prints every record's payload, one per line.
pub fn consume(args: ConsumeArgs) -> Result<()> {
    let brokers = brokers(args.brokers);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "ferris-consume")
        .set("enable.auto.commit", "false")
        .create()
        .context("cannot create a Kafka consumer")?;
    let partitions = partition_count(&brokers, &args.topic, Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(&args.topic, p as i32, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let out = std::io::stdout();
    let mut out = out.lock();
    let idle = Duration::from_secs_f64(args.idle_timeout.max(0.0));
    let mut last = Instant::now();
    let mut count = 0u64;
    while args.max.is_none_or(|m| count < m) && last.elapsed() < idle {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => eprintln!("ferris consume: {e}"),
            Some(Ok(m)) => {
                last = Instant::now();
                count += 1;
                let payload = String::from_utf8_lossy(m.payload().unwrap_or_default());
                if args.verbose {
                    let key = String::from_utf8_lossy(m.key().unwrap_or_default());
                    let headers: Vec<String> = m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|x| {
                                    format!(
                                        "{}={}",
                                        x.key,
                                        String::from_utf8_lossy(x.value.unwrap_or_default())
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "{}\t{}\t{key}\t{}\t{payload}",
                        m.partition(),
                        m.offset(),
                        headers.join(",")
                    )?;
                } else {
                    writeln!(out, "{payload}")?;
                }
            }
        }
    }
    eprintln!("ferris consume: {count} records from '{}'", args.topic);
    Ok(())
}
