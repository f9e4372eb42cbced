//! `ferris bench check` (being built).

use clap::Args;

/// Arguments of `ferris bench check`.
#[derive(Debug, Args)]
pub struct CheckArgs {}

/// Runs `ferris bench check`.
pub fn run(_args: CheckArgs) -> anyhow::Result<()> {
    anyhow::bail!("ferris bench check is being built")
}
