//! `ferris bench`: the performance lab's commands (docs/benchmarks.md).
//!
//! - `nexmark`: Nexmark queries over generated events, in memory, on N shards.
//! - `kafka`: a sustained load through the local broker and a job, end-to-end latency.
//! - `check`: the regression gate against the committed baseline.

pub mod check;
pub mod kafka;
pub mod nexmark;

use clap::{Args, Subcommand};

/// `ferris bench ...`
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    which: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Run a Nexmark query over generated events in memory.
    Nexmark(nexmark::NexmarkArgs),
    /// Produce a sustained load to a broker, run a job over it, report end-to-end latency.
    Kafka(kafka::KafkaBenchArgs),
    /// Run the quick regression suite and compare it to the committed baseline.
    Check(check::CheckArgs),
}

/// Runs a `ferris bench` subcommand.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.which {
        BenchCommand::Nexmark(a) => nexmark::run(a),
        BenchCommand::Kafka(a) => kafka::run(a),
        BenchCommand::Check(a) => check::run(a),
    }
}
