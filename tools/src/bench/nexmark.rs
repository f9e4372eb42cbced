//! `ferris bench nexmark` (being built).

use clap::Args;

/// Arguments of `ferris bench nexmark`.
#[derive(Debug, Args)]
pub struct NexmarkArgs {}

/// Runs `ferris bench nexmark`.
pub fn run(_args: NexmarkArgs) -> anyhow::Result<()> {
    anyhow::bail!("ferris bench nexmark is being built")
}
