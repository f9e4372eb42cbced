//! `ferris run`: an application's CREATE STREAM jobs over Kafka, on pinned shards, until
//! SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use ferris_engine::job::preset::{EngineOverrides, Preset};
use ferris_engine::job::run::{RunOptions, ShardPlacement, run_app};
use ferris_engine::shard::ShardSettings;
use signal_hook::consts::{SIGINT, SIGTERM};

/// Arguments of `ferris run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The application: a file of CREATE STREAM ... AS SELECT ... WITH (...) statements.
    pub app: PathBuf,
    /// Topology file (from `ferris topology detect`); without one the machine is detected and
    /// one shard runs per physical core.
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// Kafka bootstrap servers [default: $FERRIS_BROKERS or 127.0.0.1:9092].
    #[arg(long)]
    pub brokers: Option<String>,
    /// Join this consumer group (scale-out across processes) instead of taking static
    /// partition slices.
    #[arg(long)]
    pub group: Option<String>,
    /// Run this many shards (the first N of the layout; extra shards beyond the layout run
    /// unpinned).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Serve Prometheus metrics at http://ADDR/metrics and a health check at /health.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
    /// Performance preset of every job that does not set its own with '<job>.preset':
    /// low_latency, balanced, high_throughput, durable (acks=all, idempotent producer) or
    /// auto (adaptive batch size and linger, following the load).
    /// Each is a set of librdkafka and engine settings (docs/operations.md, "Presets"); a
    /// property in the application and --batch-size win over it.
    #[arg(long, value_name = "NAME", default_value = "balanced")]
    pub preset: String,
    /// Records polled per batch at most, for every job [default: the preset's; 1024 for
    /// balanced].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seconds to wait for the brokers at start.
    #[arg(long, default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 5.0)]
    pub progress_interval: f64,
    /// Seconds to wait at shutdown for outstanding deliveries.
    #[arg(long, default_value_t = 30.0)]
    pub drain_timeout: f64,
}

/// Runs the application until a signal; a second SIGINT/SIGTERM exits at once.
pub fn run(args: RunArgs) -> Result<()> {
    let preset = Preset::from_name(&args.preset).context("--preset")?;
    let sql = std::fs::read_to_string(&args.app)
        .with_context(|| format!("cannot read {}", args.app.display()))?;
    let planned = ferris_topology::plan_shards(args.topology.as_deref())?;
    for w in &planned.warnings {
        eprintln!("ferris run: warning: {w}");
    }
    let mut shards: Vec<ShardPlacement> = planned
        .layout
        .shards
        .iter()
        .map(|s| ShardPlacement {
            id: s.id,
            cpu: Some(s.core),
        })
        .collect();
    if let Some(n) = args.shards {
        anyhow::ensure!(n > 0, "--shards must be at least 1");
        if n > shards.len() {
            eprintln!(
                "ferris run: warning: {n} shards on {} planned cores: shards {}..{} run unpinned",
                shards.len(),
                shards.len(),
                n - 1
            );
        }
        shards = (0..n)
            .map(|id| ShardPlacement {
                id,
                cpu: shards.get(id).and_then(|s| s.cpu),
            })
            .collect();
    }
    let brokers = args
        .brokers
        .or_else(|| {
            std::env::var("FERRIS_BROKERS")
                .ok()
                .filter(|b| !b.is_empty())
        })
        .unwrap_or_else(|| "127.0.0.1:9092".to_string());

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // The second signal, while the first drain is running, exits at once.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let seconds = |s: f64| Duration::from_secs_f64(s.max(0.0));
    let opts = RunOptions {
        shards,
        group: args.group,
        metrics_addr: args.metrics_addr,
        connect_timeout: seconds(args.connect_timeout),
        progress_interval: (args.progress_interval > 0.0).then(|| seconds(args.progress_interval)),
        settings: ShardSettings {
            brokers,
            drain_timeout: seconds(args.drain_timeout),
            ..ShardSettings::default()
        },
        preset,
        engine: EngineOverrides {
            batch_size: args.batch_size.map(|n| n.max(1)),
            ..EngineOverrides::default()
        },
    };
    run_app(&sql, &opts, stop, &mut std::io::stderr())?;
    Ok(())
}
