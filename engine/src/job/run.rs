//! `ferris run`: every job of an application on every shard, until told to stop.
//!
//! Start-up is checked before any shard starts: the application plans, the brokers answer
//! within the connect timeout, and each source topic exists. Then one executor per shard is
//! started (pinned to its CPU) and runs every job on its slice of partitions (or as a member of
//! the consumer group). The calling thread prints a progress line every few seconds and serves
//! nothing else; when the stop flag is set, shards drain their deliveries, commit, and return.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::connector::kafka::{ensure_topics, partition_count, read_checkpoint_floor};
use crate::error::{FerrisError, Result};
use crate::job::app::{Distribution, JoinInput, JoinInputKind, KafkaJob, load_app};
use crate::job::preset::{EngineOverrides, Preset};
use crate::metrics::{MetricsServer, ShardMetrics};
use crate::shard::exchange::mesh;
use crate::shard::runtime::{self, ShardHandle, spawn_shard};
use crate::shard::state::{ShardMsg, checkpoint_topic, checkpoints};
use crate::shard::{
    Assignment, JobShard, ShardReport, ShardSettings, StatefulSetup, partitions_of,
};

/// What one shard returns: `(shard, job, report)` per job it ran.
type ShardReports = Vec<(usize, String, ShardReport)>;
type ShardWork = (
    Arc<KafkaJob>,
    Assignment,
    Arc<ShardMetrics>,
    Option<StatefulSetup>,
    ShardSettings,
);

/// Batches each exchange ring holds before its sender must wait (backpressure).
const EXCHANGE_RING_CAPACITY: usize = 64;

/// Where a shard runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardPlacement {
    /// Shard id, from 0.
    pub id: usize,
    /// The CPU it is pinned to (`None`: not pinned).
    pub cpu: Option<usize>,
}

/// How `ferris run` runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The shards and their CPUs.
    pub shards: Vec<ShardPlacement>,
    /// `Some(group)`: shards join this consumer group instead of taking static slices.
    pub group: Option<String>,
    /// `HOST:PORT` for `/metrics` and `/health`.
    pub metrics_addr: Option<String>,
    /// How long to wait for the brokers at start.
    pub connect_timeout: Duration,
    /// How often the progress line is printed (`None`: never).
    pub progress_interval: Option<Duration>,
    /// Per-shard settings (brokers, drain timeout). Each job's batch size, commit interval,
    /// idle sleep and preset come from its preset, then [`RunOptions::engine`]: see
    /// [`Preset::shard_settings`].
    pub settings: ShardSettings,
    /// The preset of jobs that do not name one with `'<job>.preset'` (`--preset`).
    pub preset: Preset,
    /// Engine settings given explicitly (`--batch-size`): they win over every job's preset.
    pub engine: EngineOverrides,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            shards: vec![ShardPlacement { id: 0, cpu: None }],
            group: None,
            metrics_addr: None,
            connect_timeout: Duration::from_secs(10),
            progress_interval: Some(Duration::from_secs(5)),
            settings: ShardSettings::default(),
            preset: Preset::Balanced,
            engine: EngineOverrides::default(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Per (shard, job) reports.
    pub shards: Vec<(usize, String, ShardReport)>,
}

impl RunReport {
    /// Records consumed in total.
    pub fn records_in(&self) -> u64 {
        self.shards.iter().map(|(_, _, r)| r.records_in).sum()
    }
}

/// Plans `sql`, checks the brokers and topics, and runs until `stop` is set. Progress goes to
/// `progress` (stderr in the CLI).
pub fn run_app(
    sql: &str,
    opts: &RunOptions,
    stop: Arc<AtomicBool>,
    progress: &mut dyn Write,
) -> Result<RunReport> {
    let mut jobs = load_app(sql)?;
    for job in &mut jobs {
        // A registry sink's schema is registered once, before any shard builds its encoder.
        job.sink_format.register(&job.sink.topic).map_err(|m| {
            FerrisError::Config(format!("{}: sink '{}': {m}", job.name, job.sink.name))
        })?;
    }
    let jobs: Vec<Arc<KafkaJob>> = jobs.into_iter().map(Arc::new).collect();
    if opts.shards.is_empty() {
        return Err(FerrisError::Config("no shards to run on".into()));
    }
    // Each job's engine settings: its preset (or the run's), then the explicit flags.
    let job_settings: Vec<ShardSettings> = jobs
        .iter()
        .map(|j| job_shard_settings(j, opts))
        .collect::<Result<_>>()?;
    let brokers = &opts.settings.brokers;
    let mut partitions = Vec::with_capacity(jobs.len());
    for job in &jobs {
        let n = partition_count(brokers, &job.source.topic, opts.connect_timeout)?;
        if let Some(input) = &job.join {
            check_join_input(job, input, n, brokers, opts)?;
        }
        let out = job.sink_partitions.unwrap_or(n as i32);
        let mut wanted = vec![(job.sink.topic.clone(), out), (job.dlq_topic.clone(), out)];
        if job.plan.aggregate.as_ref().is_some_and(checkpoints) {
            wanted.push((checkpoint_topic(&job.sink.topic), 1));
        }
        for t in ensure_topics(brokers, &wanted, opts.connect_timeout)? {
            let _ = writeln!(
                progress,
                "ferris run: created topic '{t}' with {out} partitions"
            );
        }
        partitions.push(n);
    }
    let metrics: Vec<Vec<Arc<ShardMetrics>>> = opts
        .shards
        .iter()
        .map(|s| {
            jobs.iter()
                .map(|j| ShardMetrics::new(s.id, &j.name))
                .collect()
        })
        .collect();
    let healthy = Arc::new(AtomicBool::new(true));
    let _server = match &opts.metrics_addr {
        Some(addr) => {
            let all = metrics.iter().flatten().cloned().collect();
            let server = MetricsServer::start(addr, all, Arc::clone(&healthy))?;
            let _ = writeln!(
                progress,
                "ferris run: metrics at http://{}/metrics",
                server.addr
            );
            Some(server)
        }
        None => None,
    };
    for ((job, n), settings) in jobs.iter().zip(&partitions).zip(&job_settings) {
        let _ = writeln!(
            progress,
            "ferris run: job {}: {} ({n} partitions) -> {} (dead letters: {}) on {} shard(s){}, \
             preset {}",
            job.name,
            job.source.topic,
            job.sink.topic,
            job.dlq_topic,
            opts.shards.len(),
            opts.group
                .as_ref()
                .map(|g| format!(", group {g}"))
                .unwrap_or_default(),
            settings.preset
        );
    }

    let shard_count = opts.shards.len();
    // Which shards run each job: with static slices, those that own a partition of its source.
    let runs = |job: usize, shard_index: usize| -> bool {
        opts.group.is_some() || !partitions_of(shard_index, shard_count, partitions[job]).is_empty()
    };
    // Aggregating jobs get one exchange ring per ordered pair of the shards that run them.
    let mut exchange_ends: Vec<Vec<Option<StatefulSetup>>> = Vec::with_capacity(jobs.len());
    for (j, job) in jobs.iter().enumerate() {
        let floor = match &job.plan.aggregate {
            Some(a) if checkpoints(a) => read_checkpoint_floor(
                brokers,
                &checkpoint_topic(&job.sink.topic),
                opts.connect_timeout,
            )?,
            _ => None,
        };
        let participants: Vec<usize> = (0..shard_count).filter(|&i| runs(j, i)).collect();
        let mut slots: Vec<Option<StatefulSetup>> = (0..shard_count).map(|_| None).collect();
        if job.plan.aggregate.is_some() {
            let n = participants.len();
            let mut ends = if n > 1 {
                mesh::<ShardMsg>(n, EXCHANGE_RING_CAPACITY)
                    .into_iter()
                    .map(Some)
                    .collect()
            } else {
                vec![None]
            };
            for (me, &i) in participants.iter().enumerate() {
                slots[i] = Some(StatefulSetup {
                    me,
                    shards: n,
                    exchange: ends.get_mut(me).and_then(Option::take),
                    floor,
                });
            }
        }
        exchange_ends.push(slots);
    }
    let mut handles: Vec<ShardHandle<Result<ShardReports>>> = Vec::new();
    for (index, (placement, shard_metrics)) in opts.shards.iter().zip(&metrics).enumerate() {
        let mut work: Vec<ShardWork> = Vec::new();
        for (j, ((job, n), m)) in jobs.iter().zip(&partitions).zip(shard_metrics).enumerate() {
            if !runs(j, index) {
                continue;
            }
            let assignment = match &opts.group {
                Some(g) => Assignment::Group(g.clone()),
                None => Assignment::Static(partitions_of(index, shard_count, *n)),
            };
            let stateful = exchange_ends[j][index].take();
            work.push((
                Arc::clone(job),
                assignment,
                Arc::clone(m),
                stateful,
                job_settings[j].clone(),
            ));
        }
        let shard_stop = Arc::clone(&stop);
        let id = placement.id;
        let handle = spawn_shard(id, placement.cpu, move || run_shard(id, work, shard_stop));
        match handle {
            Ok(h) => handles.push(h),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                for h in handles {
                    let _ = h.join();
                }
                return Err(e);
            }
        }
    }

    let flat: Vec<Arc<ShardMetrics>> = metrics.iter().flatten().cloned().collect();
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut last_in = 0u64;
    while !stop.load(Ordering::Relaxed) && !handles.iter().all(ShardHandle::is_finished) {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(every) = opts.progress_interval
            && last_report.elapsed() >= every
        {
            let total_in: u64 = flat.iter().map(|m| ShardMetrics::get(&m.records_in)).sum();
            let rate = (total_in - last_in) as f64 / last_report.elapsed().as_secs_f64();
            let _ = writeln!(
                progress,
                "{}",
                progress_line(started.elapsed(), &flat, rate)
            );
            last_in = total_in;
            last_report = Instant::now();
        }
    }
    healthy.store(false, Ordering::Relaxed);
    // A shard that failed leaves the others running: stop them too.
    stop.store(true, Ordering::Relaxed);
    let mut report = RunReport::default();
    let mut first_error = None;
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => report.shards.extend(r),
            Ok(Err(e)) | Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let total_in: u64 = flat.iter().map(|m| ShardMetrics::get(&m.records_in)).sum();
    let _ = writeln!(
        progress,
        "ferris run: stopped after {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        summary(&report, total_in)
    );
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// A job's engine settings: its preset (or the run's), then the explicit flags, then its
/// memory budget (the `auto` preset's: an error under another preset, where nothing would
/// keep to it).
fn job_shard_settings(job: &KafkaJob, opts: &RunOptions) -> Result<ShardSettings> {
    let preset = job.preset.unwrap_or(opts.preset);
    let mut settings = preset.shard_settings(&opts.settings, &opts.engine);
    if let Some(budget) = job.memory_max_bytes {
        match &mut settings.adaptive {
            Some(limits) => limits.memory_budget = budget,
            None => {
                return Err(FerrisError::Config(format!(
                    "{}: '{}.memory.max_bytes' is the memory budget of the 'auto' preset, and \
                     the job runs with '{preset}': set '{}.preset' = 'auto' (or --preset auto)",
                    job.name, job.name, job.name
                )));
            }
        }
    }
    Ok(settings)
}

/// The right input of a join exists and, where the join reads by partition number, has as
/// many partitions as the left source.
fn check_join_input(
    job: &KafkaJob,
    input: &JoinInput,
    left_partitions: usize,
    brokers: &str,
    opts: &RunOptions,
) -> Result<()> {
    let co_partitioned = match &input.kind {
        JoinInputKind::FileTable(path) => {
            if !path.is_file() {
                return Err(FerrisError::Config(format!(
                    "{}: the table file '{}' of '{}' does not exist",
                    job.name,
                    path.display(),
                    input.endpoint.name
                )));
            }
            return Ok(());
        }
        JoinInputKind::KafkaTable(Distribution::Replicated) => false,
        JoinInputKind::KafkaTable(Distribution::Partitioned) | JoinInputKind::Stream => true,
    };
    let n = partition_count(brokers, &input.endpoint.topic, opts.connect_timeout)?;
    if co_partitioned && n != left_partitions {
        return Err(FerrisError::Config(format!(
            "{}: '{}' ({n} partitions) and '{}' ({left_partitions} partitions) must be \
             co-partitioned (the same number of partitions, both keyed by the join key) for \
             this join",
            job.name, input.endpoint.topic, job.source.topic
        )));
    }
    if co_partitioned && opts.group.is_some() {
        return Err(FerrisError::Config(format!(
            "{}: this join reads co-partitioned topics by partition number: run it without \
             --group",
            job.name
        )));
    }
    Ok(())
}

async fn run_shard(id: usize, work: Vec<ShardWork>, stop: Arc<AtomicBool>) -> Result<ShardReports> {
    let mut tasks = Vec::with_capacity(work.len());
    for (job, assignment, metrics, stateful, settings) in work {
        let shard = match JobShard::new(
            Arc::clone(&job),
            &assignment,
            settings,
            metrics,
            Arc::clone(&stop),
            stateful,
        ) {
            Ok(s) => s,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        let stop = Arc::clone(&stop);
        let name = job.name.clone();
        tasks.push(runtime::spawn_local(async move {
            let r = shard.run().await;
            if r.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            (name, r)
        }));
    }
    let mut reports = Vec::with_capacity(tasks.len());
    let mut first_error = None;
    for t in tasks {
        let (name, r) = t.await;
        match r {
            Ok(report) => reports.push((id, name, report)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(reports),
    }
}

fn progress_line(elapsed: Duration, metrics: &[Arc<ShardMetrics>], rate: f64) -> String {
    let mut line = format!(
        "ferris run: {:>6.1} s {:>10.0} rec/s |",
        elapsed.as_secs_f64(),
        rate
    );
    for m in metrics {
        let lag = m.consumer_lag.load(Ordering::Relaxed);
        line.push_str(&format!(
            " {}@{}: in {} out {} dlq {} lag {} |",
            m.job,
            m.shard,
            ShardMetrics::get(&m.records_in),
            ShardMetrics::get(&m.records_out),
            ShardMetrics::get(&m.dlq_records),
            if lag < 0 {
                "?".to_string()
            } else {
                lag.to_string()
            },
        ));
    }
    line.pop();
    line.trim_end().to_string()
}

fn summary(report: &RunReport, total_in: u64) -> String {
    let out: u64 = report.shards.iter().map(|(_, _, r)| r.records_out).sum();
    let dlq: u64 = report.shards.iter().map(|(_, _, r)| r.dead_letters).sum();
    let undelivered: u64 = report.shards.iter().map(|(_, _, r)| r.undelivered).sum();
    let mut s = format!("{total_in} records in, {out} out, {dlq} dead letters");
    if undelivered > 0 {
        s.push_str(&format!(
            ", {undelivered} outputs undelivered (their inputs were not committed and will be read again)"
        ));
    }
    s
}
