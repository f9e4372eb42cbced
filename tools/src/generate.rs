//! `ferris gen`: deterministic test data as JSON lines.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use ferris_engine::connector::file::create_output;
use ferris_tools::trades::write_trades;

#[derive(Debug, Args)]
pub struct GenArgs {
    #[command(subcommand)]
    dataset: Dataset,
}

#[derive(Debug, Subcommand)]
enum Dataset {
    /// Stock trades: symbol, price (2 decimals), quantity, side, ts (epoch ms), account.
    Trades {
        /// How many trades.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// The generator's seed: the same seed gives the same trades.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Write to PATH instead of stdout.
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
    },
}

pub fn run(args: GenArgs) -> anyhow::Result<()> {
    match args.dataset {
        Dataset::Trades {
            count,
            seed,
            output,
        } => {
            let path = output.unwrap_or_else(|| PathBuf::from("-"));
            let mut out = create_output(&path)?;
            write_trades(count, seed, &mut out)
                .and_then(|()| out.flush())
                .with_context(|| format!("cannot write {}", path.display()))
        }
    }
}
