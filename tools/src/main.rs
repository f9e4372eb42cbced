//! `ferris`: the FerrisStreams command line.
//!
//! Each subcommand lives in its own module and returns `anyhow::Result`; `main` turns errors
//! into `error: ...` on stderr and the exit status (2 for errors in the user's SQL, 1 for the
//! rest).

mod bench;
mod generate;
mod kafka_io;
mod query;
mod run;
mod topology;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferris_engine::FerrisError;

/// Counts allocations per thread (for `ferris bench nexmark`); otherwise the system allocator.
#[global_allocator]
static ALLOCATOR: ferris_tools::alloc::Counting = ferris_tools::alloc::Counting;

const EXAMPLES: &str = "\
Examples:
  ferris gen trades --count 1000000 --output /tmp/trades.jsonl
  ferris query --input /tmp/trades.jsonl \\
      \"SELECT symbol, price * quantity AS notional FROM trades WHERE price * quantity > 100000\"
  cat trades.jsonl | ferris query \"SELECT symbol, price FROM trades WHERE side = 'SELL'\"
  ferris run --brokers 127.0.0.1:9092 --metrics-addr 127.0.0.1:9100 examples/big_trades_kafka.sql

Exit status: 0 on success (records that fail are reported on stderr and skipped),
1 on I/O errors or a rejected record with --strict, 2 when the SQL does not parse or plan.";

/// FerrisStreams: streaming SQL over JSON records, with exact decimals for money.
#[derive(Debug, Parser)]
#[command(name = "ferris", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one SQL statement over JSON-lines or CSV files (or stdin); print the results as JSON
    /// lines or CSV.
    Query(query::QueryArgs),
    /// Run an application's CREATE STREAM jobs over Kafka until SIGINT/SIGTERM.
    Run(run::RunArgs),
    /// Write JSON lines (a file or stdin) to a Kafka topic, one record per line.
    Produce(kafka_io::ProduceArgs),
    /// Print a Kafka topic's records from the beginning, one per line.
    Consume(kafka_io::ConsumeArgs),
    /// Generate deterministic test data as JSON lines.
    Gen(generate::GenArgs),
    /// Detect this machine's cores into a topology file, or show what a topology file plans.
    Topology(topology::TopologyArgs),
    /// Benchmarks: Nexmark in memory, a Kafka load test, the regression gate.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Query(args) => query::run(args),
        Command::Run(args) => run::run(args),
        Command::Produce(args) => kafka_io::produce(args),
        Command::Consume(args) => kafka_io::consume(args),
        Command::Gen(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
        // Exits 2 on an invalid topology file, so it reports its own errors.
        Command::Topology(args) => return topology::main(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.downcast_ref::<FerrisError>() {
                Some(f) if f.is_sql_error() => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
    }
}

/// The reader of our output went away (`ferris query ... | head`): not an error worth a message.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = match cause.downcast_ref::<FerrisError>() {
            Some(FerrisError::Io { source, .. }) => Some(source),
            _ => cause.downcast_ref::<std::io::Error>(),
        };
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
