//! `ferris bench kafka` (being built).

use clap::Args;

/// Arguments of `ferris bench kafka`.
#[derive(Debug, Args)]
pub struct KafkaBenchArgs {}

/// Runs `ferris bench kafka`.
pub fn run(_args: KafkaBenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("ferris bench kafka is being built")
}
