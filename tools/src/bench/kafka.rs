//! `ferris bench kafka`: a sustained, paced load through a broker and a job running in
//! `ferris run`, with end-to-end latency (send time to the moment the output is consumed),
//! throughput, consumer lag over time, the engine's CPU (total and per thread), machine CPU per
//! core, and the engine's resident memory. The same run first measures the broker floor: the
//! same producer and consumer with no engine in between (docs/benchmarks.md, "Kafka load test").
//!
//! Every input record is a trade stamped with `sent_us` (its send time in epoch microseconds);
//! the job must select `sent_us` so that each output carries it back (see [`job`]).

mod job;
mod load;
mod probe;

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use ferris_engine::connector::kafka::ensure_topics;
use hdrhistogram::Histogram;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use serde_json::{Value as Json, json};

use load::{Clock, Counts, Load, Measured, Phase, Step};
use probe::EngineMetrics;

/// Arguments of `ferris bench kafka`.
#[derive(Debug, Args)]
pub struct KafkaBenchArgs {
    /// Trades to produce through the job.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// Records per second to produce (0: as fast as the producer takes them).
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// A changing load instead of --rate and --records: `RATE:SECONDS,...`, e.g.
    /// `1000:10,200000:10,1000:10`. The report then has a line per phase and a timeline of the
    /// engine's batch size, batch limit, linger and latency (see the `auto` preset).
    #[arg(long, value_name = "RATE:SECONDS,...")]
    phases: Option<String>,
    /// The job: an application file with one CREATE STREAM that selects `sent_us` [default: a
    /// filter + projection over trades, `price * quantity > 50000`].
    #[arg(long, value_name = "FILE")]
    job: Option<PathBuf>,
    /// Kafka bootstrap servers [default: $FERRIS_BROKERS or 127.0.0.1:9092].
    #[arg(long)]
    brokers: Option<String>,
    /// Partitions of the input topic (and of the output topic).
    #[arg(long, default_value_t = 2)]
    partitions: i32,
    /// `ferris run --shards N` [default: one shard per physical core].
    #[arg(long)]
    shards: Option<usize>,
    /// `ferris run --batch-size N`.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Records for the broker floor (same rate, no engine) [default: the records of 10 s at
    /// --rate, at least 1000, at most --records]; 0 skips it.
    #[arg(long)]
    floor_records: Option<u64>,
    /// Extra property of the job's source (librdkafka consumer), `KEY=VALUE`; repeatable.
    #[arg(long = "source-property", value_name = "KEY=VALUE")]
    source_properties: Vec<String>,
    /// Extra property of the job's sink (librdkafka producer), `KEY=VALUE`; repeatable.
    #[arg(long = "sink-property", value_name = "KEY=VALUE")]
    sink_properties: Vec<String>,
    /// `fetch.wait.max.ms` of the bench's own consumers (the broker floor's and the output's).
    #[arg(long, default_value_t = 10)]
    fetch_wait_ms: u32,
    /// Seed of the generated trades.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Seconds between lag / memory / CPU samples.
    #[arg(long, default_value_t = 1.0)]
    sample_interval: f64,
    /// Seconds to let the engine settle (assign partitions, first fetch) before producing.
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
    /// Fail when nothing moves for this many seconds.
    #[arg(long, default_value_t = 30.0)]
    stall_timeout: f64,
    /// Print one JSON object with the results on stdout.
    #[arg(long)]
    json: bool,
    /// Keep the bench's topics and the engine's log afterwards (default: delete them).
    #[arg(long)]
    keep: bool,
}

fn key_values(list: &[String], what: &str) -> Result<Vec<(String, String)>> {
    list.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, _)| !k.is_empty())
                .with_context(|| format!("--{what} '{kv}': expected KEY=VALUE"))
        })
        .collect()
}

/// One sample of the engine phase.
#[derive(Debug, Clone)]
struct Sample {
    t: f64,
    acked: u64,
    metrics: EngineMetrics,
    received: u64,
    rss_kib: Option<u64>,
    cpu_seconds: f64,
}

impl Sample {
    /// Records produced (acknowledged) and not yet consumed by the engine.
    fn lag(&self) -> i64 {
        self.acked as i64 - self.metrics.records_in as i64
    }

    fn to_json(&self) -> Json {
        json!({
            "t_s": round3(self.t),
            "produced": self.acked,
            "engine_in": self.metrics.records_in,
            "engine_out": self.metrics.records_out,
            "received": self.received,
            "lag_records": self.lag(),
            "consumer_lag_records": self.metrics.known_lag(),
            "in_flight": self.metrics.in_flight,
            "rss_kib": self.rss_kib,
            "cpu_seconds": round3(self.cpu_seconds),
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    round3(h.value_at_quantile(q) as f64 / 1000.0)
}

fn latency_json(m: &Measured, records: u64) -> Json {
    let h = &m.latency_us;
    json!({
        "records": records,
        "outputs": m.counts.received,
        "seconds": round3(m.seconds),
        "records_per_sec": (records as f64 / m.seconds.max(1e-9)).round(),
        "p50_ms": ms(h, 0.50),
        "p95_ms": ms(h, 0.95),
        "p99_ms": ms(h, 0.99),
        "max_ms": round3(h.max() as f64 / 1000.0),
        "mean_ms": round3(h.mean() / 1000.0),
    })
}

/// `ferris run` as a child process; killed if still running when dropped.
#[derive(Debug)]
struct Engine {
    child: Child,
    log: PathBuf,
}

impl Engine {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Fails (with the end of its log) if the engine has exited.
    fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "ferris run exited early ({status}); the end of its log ({}):\n{}",
                self.log.display(),
                self.log_tail(20)
            );
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    fn stop(&mut self, grace: Duration) -> Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("ferris bench kafka: ferris run did not stop within {grace:?}: killing it");
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_addr() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").context("cannot find a free port for /metrics")?;
    Ok(l.local_addr()?)
}

fn delete_topics(brokers: &str, topics: &[&str]) {
    let admin: Result<AdminClient<DefaultClientContext>, _> = load::client_config(brokers).create();
    if let Ok(admin) = admin {
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
        let _ = futures_executor::block_on(admin.delete_topics(topics, &opts));
    }
}

/// Runs `ferris bench kafka`.
pub fn run(mut args: KafkaBenchArgs) -> Result<()> {
    let phases = match &args.phases {
        Some(text) => Phase::parse_list(text).context("--phases")?,
        None => Vec::new(),
    };
    if !phases.is_empty() {
        args.records = Phase::total_records(&phases);
        // The floor of a changing load is not one number; ask for it with --floor-records.
        args.floor_records.get_or_insert(0);
    }
    anyhow::ensure!(args.records > 0, "--records must be at least 1");
    anyhow::ensure!(args.partitions > 0, "--partitions must be at least 1");
    let brokers = args
        .brokers
        .clone()
        .or_else(|| {
            std::env::var("FERRIS_BROKERS")
                .ok()
                .filter(|b| !b.is_empty())
        })
        .unwrap_or_else(|| "127.0.0.1:9092".to_string());
    let source_extra = key_values(&args.source_properties, "source-property")?;
    let sink_extra = key_values(&args.sink_properties, "sink-property")?;
    let (sql, job_name) = match &args.job {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
            p.display().to_string(),
        ),
        None => (job::DEFAULT_JOB.to_string(), "default".to_string()),
    };
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() % 100_000_000)
        .unwrap_or(0);
    let tag = format!("ferris-bench-{}-{millis}", std::process::id());
    let (in_topic, out_topic, floor_topic) = (
        format!("{tag}-in"),
        format!("{tag}-out"),
        format!("{tag}-floor"),
    );
    let bench_job = job::prepare(&sql, &in_topic, &out_topic, &source_extra, &sink_extra)?;
    let expected = args
        .job
        .is_none()
        .then(|| job::default_job_expected(args.records, args.seed));
    let out_partitions = bench_job.job.sink_partitions.unwrap_or(args.partitions);
    let floor_records = args.floor_records.unwrap_or_else(|| {
        let ten_s = if args.rate == 0 {
            args.records
        } else {
            args.rate * 10
        };
        ten_s.max(1000).min(args.records)
    });
    let mut wanted = vec![
        (in_topic.clone(), args.partitions),
        (out_topic.clone(), out_partitions),
        (bench_job.job.dlq_topic.clone(), out_partitions),
    ];
    if floor_records > 0 {
        wanted.push((floor_topic.clone(), args.partitions));
    }
    ensure_topics(&brokers, &wanted, Duration::from_secs(10))
        .with_context(|| format!("cannot create the bench topics on {brokers}"))?;
    let dir = std::env::temp_dir().join(&tag);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let result = bench(
        &args,
        &phases,
        &brokers,
        &bench_job,
        &dir,
        expected,
        floor_records,
        &floor_topic,
    );
    if !args.keep {
        let dlq = bench_job.job.dlq_topic.as_str();
        delete_topics(&brokers, &[&in_topic, &out_topic, dlq, &floor_topic]);
        if result.is_ok() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let mut report = result?;
    if let Json::Object(o) = &mut report {
        o.insert("job".into(), json!(job_name));
        o.insert("input_topic".into(), json!(in_topic));
        o.insert("output_topic".into(), json!(out_topic));
    }
    if args.json {
        println!("{report}");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn bench(
    args: &KafkaBenchArgs,
    phases: &[Phase],
    brokers: &str,
    bench_job: &job::BenchJob,
    dir: &Path,
    expected: Option<u64>,
    floor_records: u64,
    floor_topic: &str,
) -> Result<Json> {
    let clock = Clock::new();
    let stall = Duration::from_secs_f64(args.stall_timeout.max(1.0));
    let job = &bench_job.job;

    // 1. The broker floor: the same load straight through one topic.
    let floor = if floor_records > 0 {
        let load = Load {
            brokers,
            produce_topic: floor_topic,
            consume_topic: floor_topic,
            consume_partitions: usize::try_from(args.partitions).unwrap_or(1),
            records: floor_records,
            fetch_wait_ms: args.fetch_wait_ms,
            rate: args.rate,
            phases,
            seed: args.seed,
            clock,
            stall_timeout: stall,
        };
        eprintln!(
            "ferris bench kafka: broker floor: {floor_records} records at {} through '{floor_topic}'",
            load_text(args, phases)
        );
        let m = load::run(&load, &mut |c: &Counts| {
            Ok(if c.received >= floor_records {
                Step::Done
            } else {
                Step::Continue(0)
            })
        })?;
        Some(m)
    } else {
        None
    };

    // 2. The engine.
    let app = dir.join("job.sql");
    std::fs::write(&app, &bench_job.sql)
        .with_context(|| format!("cannot write {}", app.display()))?;
    let log_path = dir.join("ferris-run.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let metrics_addr = free_addr()?;
    let exe = std::env::current_exe().context("cannot find the ferris binary")?;
    let mut cmd = Command::new(&exe);
    cmd.arg("run")
        .arg("--brokers")
        .arg(brokers)
        .arg("--metrics-addr")
        .arg(metrics_addr.to_string())
        .arg("--progress-interval")
        .arg("0");
    if let Some(n) = args.shards {
        cmd.arg("--shards").arg(n.to_string());
    }
    if let Some(n) = args.batch_size {
        cmd.arg("--batch-size").arg(n.to_string());
    }
    cmd.arg(&app)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let mut engine = Engine {
        child: cmd
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?,
        log: log_path,
    };
    let ready_by = Instant::now() + Duration::from_secs(30);
    while probe::scrape(metrics_addr).is_err() {
        engine.check_alive()?;
        if Instant::now() > ready_by {
            bail!("ferris run did not serve /metrics at {metrics_addr} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs_f64(args.settle.max(0.0)));
    engine.check_alive()?;
    eprintln!(
        "ferris bench kafka: engine (pid {}): job {}: '{}' -> '{}'; {} records at {}",
        engine.pid(),
        job.name,
        job.source.topic,
        job.sink.topic,
        args.records,
        load_text(args, phases)
    );

    let ticks = probe::clock_ticks();
    let pid = engine.pid();
    let cpu_start = probe::process_cpu_seconds(pid, ticks)?;
    let cores_before = probe::cpu_times();
    let sample_every = Duration::from_secs_f64(args.sample_interval.max(0.05));
    let mut samples: Vec<Sample> = Vec::new();
    let mut next_sample = Instant::now();
    let mut next_scrape = Instant::now();
    let mut metrics = EngineMetrics::default();
    let mut complete_since: Option<Instant> = None;
    let mut rss_max = 0u64;
    let records = args.records;
    let load = Load {
        brokers,
        produce_topic: &job.source.topic,
        consume_topic: &job.sink.topic,
        consume_partitions: ferris_engine::connector::kafka::partition_count(
            brokers,
            &job.sink.topic,
            Duration::from_secs(10),
        )?,
        records,
        fetch_wait_ms: args.fetch_wait_ms,
        rate: args.rate,
        phases,
        seed: args.seed,
        clock,
        stall_timeout: stall,
    };
    let measured = load::run(&load, &mut |c: &Counts| {
        let now = Instant::now();
        if now >= next_scrape {
            next_scrape = now + Duration::from_millis(200);
            engine.check_alive()?;
            if let Ok(m) = probe::scrape(metrics_addr) {
                metrics = m;
            }
        }
        if now >= next_sample {
            next_sample += sample_every;
            let s = Sample {
                t: c.elapsed,
                acked: c.acked,
                metrics: metrics.clone(),
                received: c.received,
                rss_kib: probe::rss_kib(pid),
                cpu_seconds: probe::process_cpu_seconds(pid, ticks).unwrap_or(0.0) - cpu_start,
            };
            rss_max = rss_max.max(s.rss_kib.unwrap_or(0));
            eprintln!(
                "ferris bench kafka: {:>7.1} s produced {:>9} engine in {:>9} out {:>9} received {:>9} lag {:>8} rss {:>7} KiB cpu {:>6.2} s",
                s.t,
                s.acked,
                s.metrics.records_in,
                s.metrics.records_out,
                s.received,
                s.lag(),
                s.rss_kib.unwrap_or(0),
                s.cpu_seconds
            );
            samples.push(s);
        }
        // Complete: every record produced and consumed by the engine, every output it sent
        // received (and, for the default job, as many as expected), stable over 300 ms.
        let complete = c.acked >= records
            && metrics.records_in >= records
            && c.received >= metrics.records_out
            && expected.is_none_or(|e| c.received >= e);
        if !complete {
            complete_since = None;
        } else if complete_since.is_none() {
            complete_since = Some(now);
        } else if complete_since.is_some_and(|t| now - t >= Duration::from_millis(300)) {
            return Ok(Step::Done);
        }
        Ok(Step::Continue(metrics.records_in))
    })?;
    let engine_cpu = probe::process_cpu_seconds(pid, ticks)?;
    let threads = probe::thread_cpu(pid, ticks);
    let cores = probe::busy_percent(&cores_before, &probe::cpu_times());
    let final_metrics = probe::scrape(metrics_addr).unwrap_or(metrics);
    let rss_end = probe::rss_kib(pid);
    rss_max = rss_max.max(rss_end.unwrap_or(0));
    engine.stop(Duration::from_secs(40))?;
    let summary = engine
        .log_tail(50)
        .lines()
        .rfind(|l| l.contains("stopped after"))
        .unwrap_or("")
        .to_string();

    let received = measured.counts.received;
    let produce_rate = records as f64 / measured.produce_seconds.max(1e-9);
    let mut e2e = latency_json(&measured, records);
    let floor_json = floor.as_ref().map(|f| latency_json(f, floor_records));
    let added_p95 = floor
        .as_ref()
        .map(|f| round3(ms(&measured.latency_us, 0.95) - ms(&f.latency_us, 0.95)));
    let dropped = expected.map(|e| e as i64 - received as i64);
    let threads_json: Vec<Json> = threads
        .iter()
        .map(|t| json!({"tid": t.tid, "name": t.name, "cpu_seconds": round3(t.cpu_seconds)}))
        .collect();
    let mut report = json!({
        "bench": "kafka",
        "records": records,
        "rate": args.rate,
        "partitions": args.partitions,
        "shards": final_metrics.consumer_lag.len(),
        "brokers": brokers,
        "produce_records_per_sec": produce_rate.round(),
        "records_in": final_metrics.records_in,
        "records_out": received,
        "engine_records_out": final_metrics.records_out,
        "expected_out": expected,
        "missing_out": dropped,
        "dead_letters": final_metrics.dead_letters,
        "unstamped_out": measured.counts.unstamped,
        "cpu_seconds": round3(engine_cpu),
        "cpu_seconds_during_load": round3(engine_cpu - cpu_start),
        "threads": threads_json,
        "cpu_busy_percent_per_core": cores.iter().map(|p| round3(*p)).collect::<Vec<_>>(),
        "rss_kib_max": rss_max,
        "rss_kib_end": rss_end,
        "lag": samples.iter().map(Sample::to_json).collect::<Vec<_>>(),
        "floor": floor_json,
        "p95_over_floor_ms": added_p95,
        "engine_batch_latency_ms": batch_latency_json(&final_metrics),
        "engine_summary": summary,
    });
    let (phases_json, phases_text) = phase_report(phases, &measured, &samples);
    if let Json::Object(o) = &mut report
        && !phases.is_empty()
    {
        o.insert("phases".into(), phases_json);
    }
    if let (Json::Object(o), Json::Object(e)) = (&mut report, &mut e2e) {
        for (k, v) in std::mem::take(e) {
            if k != "records" {
                o.insert(k, v);
            }
        }
    }
    eprint!(
        "{}{phases_text}",
        human(&report, &measured, floor.as_ref(), &threads, &samples)
    );
    if let Some(e) = expected
        && received != e
    {
        bail!(
            "the job output {received} records, the default job should output {e} for these {records} trades"
        );
    }
    if received < final_metrics.records_out {
        bail!(
            "received {received} outputs, the engine sent {}",
            final_metrics.records_out
        );
    }
    Ok(report)
}

/// The engine's own batch latency histogram (poll to producer hand-off): the bucket bounds (ms)
/// of its p50, p95 and p99, and how many batches.
fn batch_latency_json(m: &probe::EngineMetrics) -> Json {
    let bound = |q: f64| {
        m.batch_latency_quantile(q).map(|(le, _)| {
            if le.is_finite() {
                json!(round3(le * 1e3))
            } else {
                json!("+Inf")
            }
        })
    };
    match m.batch_latency_quantile(1.0) {
        Some((_, batches)) => json!({
            "p50_le": bound(0.5),
            "p95_le": bound(0.95),
            "p99_le": bound(0.99),
            "batches": batches,
        }),
        None => Json::Null,
    }
}

/// What the engine did between two samples.
#[derive(Debug, Clone, PartialEq)]
struct Interval {
    t0: f64,
    t1: f64,
    /// Records the engine consumed per second.
    rate_in: f64,
    /// Records per batch on average (0: no batch).
    avg_batch: f64,
    /// The largest batch limit and linger (microseconds) of the shards at the end.
    batch_limit: u64,
    linger_us: u64,
    /// Bucket bound (ms) of the engine's batch latency p95 over the interval.
    engine_p95_le_ms: Option<f64>,
}

fn interval(a: &Sample, b: &Sample) -> Interval {
    let dt = (b.t - a.t).max(1e-9);
    let records = b.metrics.records_in.saturating_sub(a.metrics.records_in);
    let batches = b.metrics.batches.saturating_sub(a.metrics.batches);
    Interval {
        t0: a.t,
        t1: b.t,
        rate_in: records as f64 / dt,
        avg_batch: if batches == 0 {
            0.0
        } else {
            records as f64 / batches as f64
        },
        batch_limit: b.metrics.batch_limit.iter().copied().max().unwrap_or(0),
        linger_us: b.metrics.linger_us.iter().copied().max().unwrap_or(0),
        engine_p95_le_ms: b
            .metrics
            .batch_latency_since(&a.metrics)
            .batch_latency_quantile(0.95)
            .map(|(le, _)| le * 1e3),
    }
}

fn le_text(le: Option<f64>) -> String {
    match le {
        Some(v) if v.is_finite() => format!("<= {v:.2}"),
        Some(_) => "> 1000".into(),
        None => "-".into(),
    }
}

/// Per phase: the rate asked for, the end-to-end latency of the outputs sent in it, and what
/// the engine did over it; then the timeline of every sample interval.
fn phase_report(phases: &[Phase], m: &Measured, samples: &[Sample]) -> (Json, String) {
    let mut text = String::new();
    if phases.is_empty() {
        return (Json::Null, text);
    }
    let _ = writeln!(
        text,
        "  phases (end-to-end latency by send time; engine figures over the samples inside the phase):"
    );
    let _ = writeln!(
        text,
        "  {:>10} {:>10} {:>12} {:>9} {:>9} {:>9} {:>10} {:>11} {:>10} {:>14}",
        "phase s",
        "rate",
        "engine in/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "avg batch",
        "batch limit",
        "linger us",
        "engine p95 ms"
    );
    let mut out = Vec::new();
    let mut start = 0.0;
    for (i, p) in phases.iter().enumerate() {
        let end = start + p.seconds;
        let inside: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.t >= start && s.t <= end + 1e-9)
            .collect();
        let iv = match (inside.first(), inside.last()) {
            (Some(a), Some(b)) if b.t > a.t => Some(interval(a, b)),
            _ => None,
        };
        let h = &m.phase_latency_us[i];
        let lat = |q: f64| (!h.is_empty()).then(|| ms(h, q));
        let _ = writeln!(
            text,
            "  {:>10} {:>10} {:>12.0} {:>9} {:>9} {:>9} {:>10.1} {:>11} {:>10} {:>14}",
            format!("{start:.0}-{end:.0}"),
            p.rate,
            iv.as_ref().map_or(f64::NAN, |v| v.rate_in),
            lat(0.5).map_or("-".into(), |v| format!("{v:.2}")),
            lat(0.95).map_or("-".into(), |v| format!("{v:.2}")),
            lat(0.99).map_or("-".into(), |v| format!("{v:.2}")),
            iv.as_ref().map_or(f64::NAN, |v| v.avg_batch),
            iv.as_ref().map_or(0, |v| v.batch_limit),
            iv.as_ref().map_or(0, |v| v.linger_us),
            le_text(iv.as_ref().and_then(|v| v.engine_p95_le_ms)),
        );
        out.push(json!({
            "start_s": round3(start),
            "end_s": round3(end),
            "rate": p.rate,
            "outputs": h.len(),
            "p50_ms": lat(0.5),
            "p95_ms": lat(0.95),
            "p99_ms": lat(0.99),
            "engine_records_per_sec": iv.as_ref().map(|v| v.rate_in.round()),
            "avg_batch": iv.as_ref().map(|v| round3(v.avg_batch)),
            "batch_limit_end": iv.as_ref().map(|v| v.batch_limit),
            "linger_us_end": iv.as_ref().map(|v| v.linger_us),
            "engine_p95_le_ms": iv.as_ref().and_then(|v| v.engine_p95_le_ms.filter(|x| x.is_finite())),
        }));
        start = end;
    }
    let _ = writeln!(text, "  timeline:");
    let _ = writeln!(
        text,
        "  {:>7} {:>12} {:>10} {:>11} {:>10} {:>14}",
        "t s", "engine in/s", "avg batch", "batch limit", "linger us", "engine p95 ms"
    );
    let mut timeline = Vec::new();
    for w in samples.windows(2) {
        let v = interval(&w[0], &w[1]);
        let _ = writeln!(
            text,
            "  {:>7.1} {:>12.0} {:>10.1} {:>11} {:>10} {:>14}",
            v.t1,
            v.rate_in,
            v.avg_batch,
            v.batch_limit,
            v.linger_us,
            le_text(v.engine_p95_le_ms)
        );
        timeline.push(json!({
            "t_s": round3(v.t1),
            "engine_records_per_sec": v.rate_in.round(),
            "avg_batch": round3(v.avg_batch),
            "batch_limit": v.batch_limit,
            "linger_us": v.linger_us,
            "engine_p95_le_ms": v.engine_p95_le_ms.filter(|x| x.is_finite()),
        }));
    }
    (json!({"phases": out, "timeline": timeline}), text)
}

fn load_text(args: &KafkaBenchArgs, phases: &[Phase]) -> String {
    if phases.is_empty() {
        rate_text(args.rate)
    } else {
        format!("phases {}", args.phases.as_deref().unwrap_or(""))
    }
}

fn rate_text(rate: u64) -> String {
    if rate == 0 {
        "full speed".to_string()
    } else {
        format!("{rate} records/s")
    }
}

fn human(
    r: &Json,
    e2e: &Measured,
    floor: Option<&Measured>,
    threads: &[probe::ThreadCpu],
    samples: &[Sample],
) -> String {
    let mut s = String::new();
    let f = |k: &str| r.get(k).and_then(Json::as_f64).unwrap_or(f64::NAN);
    let lat = |name: &str, m: &Measured| {
        let h = &m.latency_us;
        format!(
            "  {name:<12} p50 {:>8.2} ms  p95 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  ({} outputs)\n",
            ms(h, 0.5),
            ms(h, 0.95),
            ms(h, 0.99),
            h.max() as f64 / 1000.0,
            m.counts.received
        )
    };
    let _ = writeln!(
        s,
        "ferris bench kafka: {} records in {:.2} s: {:.0} records/s through the engine (produced at {:.0}/s)",
        f("records"),
        f("seconds"),
        f("records_per_sec"),
        f("produce_records_per_sec"),
    );
    let _ = writeln!(s, "  end-to-end latency (send -> output consumed):");
    s.push_str(&lat("engine path", e2e));
    if let Some(fl) = floor {
        s.push_str(&lat("broker floor", fl));
        let _ = writeln!(s, "  engine adds {:.2} ms at p95", f("p95_over_floor_ms"));
    }
    if let Some(b) = r.get("engine_batch_latency_ms").filter(|b| !b.is_null()) {
        let _ = writeln!(
            s,
            "  engine's own histogram (poll -> producer hand-off, per batch): p50 <= {} ms, p95 <= {} ms, p99 <= {} ms ({} batches; bucket bounds)",
            b["p50_le"], b["p95_le"], b["p99_le"], b["batches"]
        );
    }
    let _ = writeln!(
        s,
        "  outputs {} (engine sent {}, expected {}), dead letters {}",
        r["records_out"], r["engine_records_out"], r["expected_out"], r["dead_letters"]
    );
    let _ = writeln!(
        s,
        "  engine CPU {:.2} s in total ({:.2} s during the load; {:.2} CPU-s per million records); machine busy per core: {}",
        f("cpu_seconds"),
        f("cpu_seconds_during_load"),
        f("cpu_seconds_during_load") * 1e6 / f("records").max(1.0),
        r["cpu_busy_percent_per_core"]
            .as_array()
            .map(|a| a
                .iter()
                .map(|p| format!("{:.0}%", p.as_f64().unwrap_or(0.0)))
                .collect::<Vec<_>>()
                .join(" "))
            .unwrap_or_default()
    );
    let busy: Vec<String> = threads
        .iter()
        .filter(|t| t.cpu_seconds >= 0.01)
        .take(8)
        .map(|t| format!("{} {:.2} s", t.name, t.cpu_seconds))
        .collect();
    let _ = writeln!(s, "  engine threads: {}", busy.join(", "));
    let _ = writeln!(
        s,
        "  engine RSS max {} KiB; lag (produced - consumed by the engine) max {}",
        r["rss_kib_max"],
        samples.iter().map(Sample::lag).max().unwrap_or(0)
    );
    let _ = writeln!(s, "  {}", r["engine_summary"].as_str().unwrap_or(""));
    s
}
