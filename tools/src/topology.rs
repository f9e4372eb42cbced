//! `ferris topology`: detect this machine into a topology file, and show what a file plans.
//!
//! Exit status: 0 on success, 1 when a file cannot be read or written, 2 when a topology file
//! is invalid (the message names the key and the reason).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use ferris_topology::{Topology, TopologyError};

const EXAMPLES: &str = "\
Examples:
  ferris topology detect --output topology.toml
  ferris topology show topology.toml
  ferris run --topology topology.toml app.sql

The file format is described in docs/topology.md.";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct TopologyArgs {
    #[command(subcommand)]
    command: TopologyCommand,
}

#[derive(Debug, Subcommand)]
enum TopologyCommand {
    /// Detect packages, NUMA nodes, cores, SMT siblings and caches (hwloc) and write them as a
    /// topology file, with the default layout planned; prints a summary on stderr.
    Detect {
        /// Write the file here instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Validate a topology file and print the machine, its cores and the shard -> CPU table.
    Show {
        /// The topology file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// Runs `ferris topology ...` and reports its own errors, since an invalid file exits with 2.
pub fn main(args: TopologyArgs) -> ExitCode {
    let result = match args.command {
        TopologyCommand::Detect { output } => detect(output),
        TopologyCommand::Show { file } => show(&file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.downcast_ref::<TopologyError>() {
                Some(TopologyError::Io { .. }) | None => ExitCode::from(1),
                Some(_) => ExitCode::from(2),
            }
        }
    }
}

fn detect(output: Option<PathBuf>) -> anyhow::Result<()> {
    let detected = Topology::detect();
    for warning in &detected.warnings {
        eprintln!("warning: {warning}");
    }
    let t = &detected.topology;
    let text = t.to_toml_string();
    let target = match &output {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("{}: cannot write", path.display()))?;
            path.display().to_string()
        }
        None => {
            std::io::stdout().lock().write_all(text.as_bytes())?;
            "stdout".to_owned()
        }
    };
    eprintln!(
        "detected {} with {}; planned {} shards; wrote {target}",
        t.summary(),
        t.machine.detected_by.as_deref().unwrap_or("?"),
        t.shards.len(),
    );
    Ok(())
}

fn show(file: &std::path::Path) -> anyhow::Result<()> {
    let t = Topology::load(file)?;
    let layout = t.plan_layout()?;
    let mut out = String::new();
    let m = &t.machine;
    let mut from = Vec::new();
    if let Some(host) = &m.host {
        from.push(format!("host {host}"));
    }
    if let Some(by) = &m.detected_by {
        from.push(format!("detected by {by}"));
    }
    out.push_str(&format!("{}: {}", file.display(), t.summary()));
    if !from.is_empty() {
        out.push_str(&format!(" ({})", from.join(", ")));
    }
    out.push('\n');
    for c in &t.cores {
        out.push_str(&format!(
            "core {}: cpus {}, package {}, numa node {}{}\n",
            c.id,
            join(&c.pus),
            c.package,
            c.numa_node,
            caches(c)
        ));
    }
    let l = &t.layout;
    out.push_str(&format!(
        "\nlayout: shards = {}, exclude_cores = [{}], use_smt_siblings = {}, \
         reserve_kafka_core = {}\n",
        l.shards,
        join(&l.exclude_cores),
        l.use_smt_siblings,
        l.reserve_kafka_core
    ));
    out.push_str(&format!(
        "{} shards, {}:\n",
        layout.shards.len(),
        if t.shards.is_empty() {
            "planned from [layout]"
        } else {
            "as written in [[shards]]"
        }
    ));
    out.push_str(&t.layout_table(&layout));
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}

/// `, L1d 32 KiB, L2 1024 KiB (group 0), L3 32768 KiB (group 0)`, or nothing when unknown.
fn caches(c: &ferris_topology::Core) -> String {
    let mut out = String::new();
    if let Some(kib) = c.l1d_kib {
        out.push_str(&format!(", L1d {kib} KiB"));
    }
    for (level, kib, group) in [(2, c.l2_kib, c.l2_group), (3, c.l3_kib, c.l3_group)] {
        match (kib, group) {
            (Some(kib), Some(g)) => out.push_str(&format!(", L{level} {kib} KiB (group {g})")),
            (Some(kib), None) => out.push_str(&format!(", L{level} {kib} KiB")),
            (None, Some(g)) => out.push_str(&format!(", L{level} group {g}")),
            (None, None) => {}
        }
    }
    out
}

fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
