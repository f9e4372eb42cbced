//! Per-core CPU cost of `ferris run` against a plain rdkafka consume-and-produce loop.
//!
//! ```text
//! tools/dev-broker.sh start
//! cargo run --release -p ferris-benches --bin kafka_cpu -- --records 1000000
//! ```
//!
//! Produces N trades to a fresh 8-partition topic, then
//! (a) runs a plain loop in this process: one `BaseConsumer` assigned every partition from
//!     offset 0 and one `BaseProducer` copying each key and payload through to another topic,
//!     until N records are acknowledged; it measures wall time and this process's CPU time
//!     (utime + stime of /proc/self/stat, librdkafka's threads included);
//! (a') runs the same loop passing each record's headers on too, as `ferris run` does (for a
//!     record without headers that is one `rd_kafka_message_headers` call, which librdkafka
//!     answers by allocating and freeing a parse buffer);
//! (a'') runs the loop with headers reading the engine's way: a batch at a time from a queue
//!     each partition forwards to (`ferris_engine::connector::kafka::Source`), headers read
//!     through `Record::headers`; the same consumer and producer settings otherwise. The loop
//!     the engine's own consumption code would give with no SQL, codec or delivery tracking;
//! (b) runs `ferris run --shards 1` with a filter that passes everything and projects every
//!     field (so the output volume matches), until its metrics (`--metrics-addr`) count N outputs
//!     and none in flight (every output acknowledged, the plain loop's end point); it measures
//!     wall time and the ferris process's CPU time (/proc/PID/stat) then, waits (untimed) until
//!     its group has committed all N input offsets, and stops it with SIGTERM.
//!
//! It repeats (a), (a'), (a'') and (b) `--runs` times (default 5) over the same input, each run to
//! fresh output topics and a fresh consumer group, and prints records/s and CPU-seconds per
//! million records per run, then the medians of every column (ratios: the median of the per-run
//! ratios): one run on a shared VM moves by 20% from the next, and the broker shares the cores.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use ferris_engine::connector::kafka::{ShardConsumerContext, Source};
use ferris_engine::metrics::ShardMetrics;
use ferris_tests::kafka::{
    FerrisProcess, Outgoing, brokers, committed_offsets, consume_all, create_topic, free_port,
    http_get, metric_sum, reachable, scratch_dir, trades, unique_name,
};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

type Result<T> = std::result::Result<T, String>;

const PARTITIONS: i32 = 8;

#[derive(Debug)]
struct Args {
    records: usize,
    brokers: String,
    shards: usize,
    runs: usize,
    verify: bool,
    /// `'<sink>.<key>' = '<value>'` properties added to the job's `WITH`.
    properties: Vec<(String, String)>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        records: 1_000_000,
        brokers: brokers(),
        shards: 1,
        runs: 5,
        verify: true,
        properties: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--records" => {
                args.records = value("--records")?
                    .replace('_', "")
                    .parse()
                    .map_err(|e| format!("--records: {e}"))?;
            }
            "--brokers" => args.brokers = value("--brokers")?,
            "--shards" => {
                args.shards = value("--shards")?
                    .parse()
                    .map_err(|e| format!("--shards: {e}"))?;
            }
            "--runs" => {
                args.runs = value("--runs")?
                    .parse()
                    .map_err(|e| format!("--runs: {e}"))?;
                if args.runs == 0 {
                    return Err("--runs must be at least 1".into());
                }
            }
            "--property" => {
                let p = value("--property")?;
                let (k, v) = p
                    .split_once('=')
                    .ok_or_else(|| format!("--property {p}: expected KEY=VALUE"))?;
                args.properties
                    .push((k.trim().to_string(), v.trim().to_string()));
            }
            "--no-verify" => args.verify = false,
            "-h" | "--help" => {
                println!(
                    "usage: kafka_cpu [--records N] [--brokers HOST:PORT] [--shards N] [--runs N]\n\
                     \x20      [--property KEY=VALUE]... [--no-verify]\n\
                     Compares the CPU time per million records of `ferris run` with a plain rdkafka\n\
                     consume-produce loop, --runs times (default 5), and prints the medians.\n\
                     --property adds '<job>.KEY' = 'VALUE' to the job (e.g. preset=low_latency,\n\
                     linger.ms=10); source.KEY=VALUE sets the source's KEY (a consumer property).\n\
                     Needs a broker: tools/dev-broker.sh start"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    Ok(args)
}

/// Clock ticks per second of /proc/*/stat times.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a process in seconds, from /proc/PID/stat (`self` for this process).
fn cpu_seconds(pid: &str, ticks: f64) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}"))?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')').ok_or("no ) in stat")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .ok_or_else(|| format!("short {path}"))?
            .parse::<f64>()
            .map_err(|e| format!("{path}: {e}"))
    };
    // utime is field 14, stime field 15: indexes 11 and 12 from field 3.
    Ok((field(11)? + field(12)?) / ticks)
}

#[derive(Debug, Default)]
struct Failures {
    failed: std::sync::atomic::AtomicUsize,
    acked: std::sync::atomic::AtomicUsize,
}

impl ClientContext for Failures {}

impl ProducerContext for Failures {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        let counter = if result.is_ok() {
            &self.acked
        } else {
            &self.failed
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct Measured {
    wall: Duration,
    cpu: f64,
}

impl Measured {
    fn records_per_s(&self, n: usize) -> f64 {
        n as f64 / self.wall.as_secs_f64()
    }

    fn cpu_per_million(&self, n: usize) -> f64 {
        self.cpu * 1_000_000.0 / n as f64
    }
}

/// (a) The plain loop: consume every partition, copy key and payload (and the headers, with
/// `headers`, as the engine does) to `out`.
fn plain_loop(
    brokers: &str,
    input: &str,
    out: &str,
    n: usize,
    headers: bool,
    ticks: f64,
) -> Result<Measured> {
    let cpu0 = cpu_seconds("self", ticks)?;
    let start = Instant::now();
    let (config, producer) = plain_clients(brokers)?;
    let consumer: BaseConsumer = config.create().map_err(|e| format!("consumer: {e}"))?;
    consumer
        .assign(&all_partitions(input)?)
        .map_err(|e| format!("assign: {e}"))?;
    let mut consumed = 0;
    let mut idle = Instant::now();
    while consumed < n {
        match consumer.poll(Duration::from_millis(100)) {
            None => {
                if idle.elapsed() > Duration::from_secs(30) {
                    return Err(format!("plain loop: stuck at {consumed} of {n} records"));
                }
            }
            Some(Err(e)) => return Err(format!("plain loop consume: {e}")),
            Some(Ok(m)) => {
                idle = Instant::now();
                consumed += 1;
                let h = if headers {
                    m.headers().map(|h| h.detach())
                } else {
                    None
                };
                send_copy(&producer, out, m.key(), m.payload(), h)?;
            }
        }
    }
    finish(producer, consumer, n, start, cpu0, ticks)
}

/// The consumer and producer settings of the plain loops.
fn plain_clients(brokers: &str) -> Result<(ClientConfig, BaseProducer<Failures>)> {
    let mut consumer = ClientConfig::new();
    consumer
        .set("bootstrap.servers", brokers)
        .set("group.id", unique_name("kafka-cpu-plain"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "50");
    let producer: BaseProducer<Failures> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "200000")
        .set("message.timeout.ms", "0")
        .create_with_context(Failures::default())
        .map_err(|e| format!("producer: {e}"))?;
    Ok((consumer, producer))
}

/// Every partition of `input` from offset 0.
fn all_partitions(input: &str) -> Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(input, p, Offset::Offset(0))
            .map_err(|e| format!("assign: {e}"))?;
    }
    Ok(tpl)
}

/// Sends a copy of one record to `out`, waiting while the producer's queue is full.
fn send_copy(
    producer: &BaseProducer<Failures>,
    out: &str,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    headers: Option<OwnedHeaders>,
) -> Result<()> {
    let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(out);
    if let Some(k) = key {
        record = record.key(k);
    }
    if let Some(p) = payload {
        record = record.payload(p);
    }
    if let Some(h) = headers {
        record = record.headers(h);
    }
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((e, back)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                record = back;
                producer.poll(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(format!("plain loop produce: {e}")),
        }
    }
    producer.poll(Duration::ZERO);
    Ok(())
}

/// Waits until every record is acknowledged; the wall time to then and the CPU time of the
/// whole loop (the clients' shutdown included).
fn finish<T>(
    producer: BaseProducer<Failures>,
    consumer: T,
    n: usize,
    start: Instant,
    cpu0: f64,
    ticks: f64,
) -> Result<Measured> {
    producer
        .flush(Duration::from_secs(120))
        .map_err(|e| format!("plain loop flush: {e}"))?;
    let wall = start.elapsed();
    let context = producer.context();
    let failed = context.failed.load(std::sync::atomic::Ordering::Relaxed);
    let acked = context.acked.load(std::sync::atomic::Ordering::Relaxed);
    if failed > 0 || acked != n {
        return Err(format!(
            "plain loop: {acked} acknowledged, {failed} failed of {n}"
        ));
    }
    drop(consumer);
    drop(producer);
    let cpu = cpu_seconds("self", ticks)? - cpu0;
    Ok(Measured { wall, cpu })
}

/// (a'') The loop with headers, reading a batch at a time the engine's way.
fn batch_loop(brokers: &str, input: &str, out: &str, n: usize, ticks: f64) -> Result<Measured> {
    let cpu0 = cpu_seconds("self", ticks)?;
    let start = Instant::now();
    let (config, producer) = plain_clients(brokers)?;
    let consumer = config
        .create_with_context(ShardConsumerContext::new(
            ShardMetrics::new(0, "kafka_cpu"),
            input,
        ))
        .map_err(|e| format!("consumer: {e}"))?;
    // Woken like a shard: librdkafka calls back when a record lands in the drained queue.
    let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
    let source = std::rc::Rc::new(
        Source::new(consumer, move || {
            let _ = wake.try_send(());
        })
        .map_err(|e| e.to_string())?,
    );
    let partitions: Vec<i32> = (0..PARTITIONS).collect();
    source
        .forward(input, &partitions)
        .map_err(|e| e.to_string())?;
    source
        .consumer()
        .assign(&all_partitions(input)?)
        .map_err(|e| format!("assign: {e}"))?;
    let mut consumed = 0;
    let mut idle = Instant::now();
    while consumed < n {
        if let Some(Err(e)) = source.consumer().poll(Duration::ZERO) {
            return Err(format!("batch loop consume: {e}"));
        }
        let batch = source.poll_batch(1024);
        if batch.is_empty() {
            if idle.elapsed() > Duration::from_secs(30) {
                return Err(format!("batch loop: stuck at {consumed} of {n} records"));
            }
            // As the plain loop's `poll(100 ms)`, waits up to 100 ms for a record.
            let _ = woken.recv_timeout(Duration::from_millis(100));
            continue;
        }
        idle = Instant::now();
        for m in batch.iter() {
            if let Some(e) = m.error() {
                return Err(format!("batch loop consume: {e}"));
            }
            consumed += 1;
            send_copy(
                &producer,
                out,
                m.key(),
                m.payload(),
                m.headers().map(|h| h.detach()),
            )?;
        }
    }
    finish(producer, source, n, start, cpu0, ticks)
}

/// (b) `ferris run --shards N` with a pass-everything job, until all N input offsets are
/// committed.
fn ferris(
    brokers: &str,
    input: &str,
    out: &str,
    n: usize,
    shards: usize,
    properties: &[(String, String)],
    ticks: f64,
) -> Result<Measured> {
    let name = unique_name("kafka_cpu").replace('-', "_");
    let extra: String = properties
        .iter()
        .map(|(k, v)| match k.strip_prefix("source.") {
            Some(k) => format!(",\n               'trades.{k}' = '{v}'"),
            None => format!(",\n               '{name}.{k}' = '{v}'"),
        })
        .collect();
    let sql = format!(
        "CREATE STREAM {name} AS\n\
         SELECT id, symbol, price, quantity, side, account, ts\n\
         FROM trades\n\
         WHERE price > 0\n\
         WITH ('trades.type' = 'kafka_source', 'trades.topic' = '{input}', 'trades.format' = 'json',\n\
               '{name}.type' = 'kafka_sink', '{name}.topic' = '{out}', '{name}.format' = 'json'{extra});\n"
    );
    let app = scratch_dir()?.join(format!("{name}.sql"));
    std::fs::write(&app, sql).map_err(|e| format!("write {}: {e}", app.display()))?;
    let group = format!("ferris-{name}");
    let shards = shards.to_string();
    let metrics_addr = format!("127.0.0.1:{}", free_port()?);
    // Found (and built if needed) before the clock starts.
    let bin = ferris_tests::kafka::ferris_bin()?;
    println!("  {}", bin.display());
    let start = Instant::now();
    let mut process = FerrisProcess::spawn(
        &name,
        &[
            "run",
            "--brokers",
            brokers,
            "--shards",
            &shards,
            "--progress-interval",
            "0",
            "--metrics-addr",
            &metrics_addr,
            app.to_str().ok_or("app path is not UTF-8")?,
        ],
    )?;
    let pid = process.id().to_string();
    // The clock stops when every output is acknowledged, the plain loop's end point: the job's
    // metrics count the outputs and those still in flight.
    let mut last = 0.0;
    let mut last_change = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(status) = process.try_status()? {
            return Err(format!(
                "ferris run exited with {status}:\n{}",
                process.output()
            ));
        }
        let Ok(text) = http_get(&metrics_addr, "/metrics") else {
            continue;
        };
        let out = metric_sum(&text, "ferris_records_out_total");
        if out >= n as f64 && metric_sum(&text, "ferris_in_flight_records") == 0.0 {
            break;
        }
        if out != last {
            last = out;
            last_change = Instant::now();
        } else if last_change.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "ferris run: stuck at {out} of {n} outputs:\n{}",
                process.output()
            ));
        }
    }
    let wall = start.elapsed();
    let cpu = cpu_seconds(&pid, ticks)?;
    // Not timed: the job then commits every input offset.
    let waited = Instant::now();
    loop {
        let committed: i64 = committed_offsets(brokers, &group, input)
            .unwrap_or_else(|_| BTreeMap::new())
            .values()
            .sum();
        if committed as usize >= n {
            break;
        }
        if waited.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "ferris run: {committed} of {n} input offsets committed 30 s after the last \
                 acknowledgement:\n{}",
                process.output()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = process.terminate(Duration::from_secs(30))?;
    if !status.success() {
        return Err(format!(
            "ferris run exited with {status}:\n{}",
            process.output()
        ));
    }
    Ok(Measured { wall, cpu })
}

fn verify(brokers: &str, topic: &str, n: usize) -> Result<()> {
    let got = consume_all(
        brokers,
        topic,
        n,
        Duration::from_secs(10),
        Duration::from_secs(300),
    )?;
    if got.len() < n {
        return Err(format!("{topic} holds {} records, expected {n}", got.len()));
    }
    println!("  verified: {topic} holds {} records", got.len());
    Ok(())
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let first = args.brokers.split(',').next().unwrap_or_default();
    if !reachable(first, Duration::from_secs(2)) {
        return Err(format!(
            "no Kafka broker at {first}: start one with `tools/dev-broker.sh start`"
        ));
    }
    let ticks = clock_ticks();
    let n = args.records;
    let input = unique_name("kafka-cpu-in");
    create_topic(&args.brokers, &input, PARTITIONS)?;
    println!("producing {n} trades to {input} ({PARTITIONS} partitions)");
    let started = Instant::now();
    let records: Vec<Outgoing> = trades(n, 7, 0)
        .iter()
        .map(|t| t.outgoing(PARTITIONS))
        .collect();
    let bytes: usize = records.iter().map(|r| r.payload.len()).sum();
    ferris_tests::kafka::produce(&args.brokers, &input, &records)?;
    drop(records);
    println!(
        "  {n} records, {:.1} bytes/record on average, produced in {:.2?}",
        bytes as f64 / n as f64,
        started.elapsed()
    );

    let mut runs = Vec::with_capacity(args.runs);
    for run in 1..=args.runs {
        println!("run {run} of {}", args.runs);
        let plain_out = unique_name("kafka-cpu-plain-out");
        let headers_out = unique_name("kafka-cpu-plain-headers-out");
        let batched_out = unique_name("kafka-cpu-batched-out");
        let ferris_out = unique_name("kafka-cpu-ferris-out");
        for t in [&plain_out, &headers_out, &batched_out, &ferris_out] {
            create_topic(&args.brokers, t, PARTITIONS)?;
        }
        println!("(a) plain rdkafka consume -> produce loop (copy key and payload)");
        let plain = plain_loop(&args.brokers, &input, &plain_out, n, false, ticks)?;
        report(&plain, n);
        if args.verify {
            verify(&args.brokers, &plain_out, n)?;
        }
        println!("(a') the plain loop passing each record's headers on too, as the engine does");
        let headers = plain_loop(&args.brokers, &input, &headers_out, n, true, ticks)?;
        report(&headers, n);
        if args.verify {
            verify(&args.brokers, &headers_out, n)?;
        }
        println!("(a'') the loop with headers, reading a batch at a time as the engine does");
        let batched = batch_loop(&args.brokers, &input, &batched_out, n, ticks)?;
        report(&batched, n);
        if args.verify {
            verify(&args.brokers, &batched_out, n)?;
        }
        println!(
            "(b) ferris run --shards {}: WHERE price > 0, every field projected{}",
            args.shards,
            args.properties
                .iter()
                .map(|(k, v)| format!(", {k}={v}"))
                .collect::<String>()
        );
        let engine = ferris(
            &args.brokers,
            &input,
            &ferris_out,
            n,
            args.shards,
            &args.properties,
            ticks,
        )?;
        report(&engine, n);
        if args.verify {
            verify(&args.brokers, &ferris_out, n)?;
        }
        let run = Run {
            plain,
            headers,
            batched,
            engine,
        };
        println!(
            "ratio ferris / plain: CPU per record {:.2}x (against the loop with headers {:.2}x, \
             the batched loop {:.2}x), wall {:.2}x",
            run.cpu_ratio(),
            run.cpu_ratio_headers(),
            run.cpu_ratio_batched(),
            run.wall_ratio()
        );
        runs.push(run);
    }

    println!();
    println!(
        "| run | plain: records/s | plain: CPU-s per million | plain with headers: CPU-s per million | batched loop: CPU-s per million | ferris: records/s | ferris: CPU-s per million | CPU ratio to plain | CPU ratio to plain with headers | CPU ratio to the batched loop | wall ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let row = |label: &str, v: [f64; 10]| {
        println!(
            "| {label} | {:.0} | {:.3} | {:.3} | {:.3} | {:.0} | {:.3} | {:.2}x | {:.2}x | {:.2}x | {:.2}x |",
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]
        );
    };
    let values = |r: &Run| {
        [
            r.plain.records_per_s(n),
            r.plain.cpu_per_million(n),
            r.headers.cpu_per_million(n),
            r.batched.cpu_per_million(n),
            r.engine.records_per_s(n),
            r.engine.cpu_per_million(n),
            r.cpu_ratio(),
            r.cpu_ratio_headers(),
            r.cpu_ratio_batched(),
            r.wall_ratio(),
        ]
    };
    for (i, r) in runs.iter().enumerate() {
        row(&(i + 1).to_string(), values(r));
    }
    let all: Vec<[f64; 10]> = runs.iter().map(values).collect();
    row(
        "**median**",
        std::array::from_fn(|c| median(all.iter().map(|v| v[c]).collect())),
    );
    Ok(())
}

/// One run's four measurements over the same input.
struct Run {
    plain: Measured,
    headers: Measured,
    batched: Measured,
    engine: Measured,
}

impl Run {
    fn cpu_ratio(&self) -> f64 {
        self.engine.cpu / self.plain.cpu
    }

    fn cpu_ratio_headers(&self) -> f64 {
        self.engine.cpu / self.headers.cpu
    }

    fn cpu_ratio_batched(&self) -> f64 {
        self.engine.cpu / self.batched.cpu
    }

    fn wall_ratio(&self) -> f64 {
        self.engine.wall.as_secs_f64() / self.plain.wall.as_secs_f64()
    }
}

fn report(m: &Measured, n: usize) {
    println!(
        "  wall {:.2} s, {:.0} records/s, CPU {:.2} s = {:.3} CPU-s per million",
        m.wall.as_secs_f64(),
        m.records_per_s(n),
        m.cpu,
        m.cpu_per_million(n)
    );
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("kafka_cpu: {e}");
        std::process::exit(1);
    }
}
