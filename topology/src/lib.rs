//! # ferris-topology
//!
//! Where shards run. FerrisStreams runs one shard per CPU core; this crate answers "which
//! cores, and which shard gets which core".
//!
//! - [`detect`](Topology::detect) asks hwloc for packages, NUMA nodes, physical cores, their
//!   PUs (SMT siblings) and caches, and falls back to the OS CPU count with a warning when
//!   hwloc is not usable.
//! - [`file`] is the topology file: TOML a person can read and edit
//!   ([`Topology::to_toml_string`], [`Topology::load`]), validated so that every error names
//!   the key and the reason. docs/topology.md is its user documentation.
//! - [`layout`] plans a [`ShardLayout`] (shard id -> OS CPU) from the topology's `[layout]`
//!   section ([`Topology::plan_layout`]) or from a flat CPU list ([`ShardLayout::plan`]).
//!
//! The runtime calls one function, [`plan_shards`], with the `--topology` file if the user
//! gave one.

mod detect;
mod error;
pub mod file;
pub mod layout;

use std::path::Path;

pub use detect::Detected;
pub use error::TopologyError;
pub use file::{Core, LayoutConfig, Machine, ShardCount, ShardEntry, Topology};
pub use layout::{Cpus, LayoutOptions, ShardLayout, ShardSpec};

/// A layout to run, with the topology it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedShards {
    /// The topology file's contents, or the detected machine.
    pub topology: Topology,
    /// Shard id -> OS CPU, and the CPUs reserved for librdkafka.
    pub layout: ShardLayout,
    /// Detection problems worth logging (hwloc unavailable); the layout is still usable.
    pub warnings: Vec<String>,
}

/// What `ferris run [--topology FILE]` calls to know where shards run.
///
/// With a file: load and validate it, plan its layout, and check that every shard's CPU is
/// one this process may use (the file may come from another machine). Without: detect the
/// machine and plan one shard per physical core.
pub fn plan_shards(topology_file: Option<&Path>) -> Result<PlannedShards, TopologyError> {
    let detected = Topology::detect();
    let Some(path) = topology_file else {
        let layout = detected.topology.plan_layout()?;
        return Ok(PlannedShards {
            topology: detected.topology,
            layout,
            warnings: detected.warnings,
        });
    };
    let topology = Topology::load(path)?;
    let layout = topology.plan_layout()?;
    let available = detected.topology.cpus();
    if let Some(s) = layout.shards.iter().find(|s| !available.contains(&s.core)) {
        return Err(TopologyError::CpuUnavailable {
            file: path.display().to_string(),
            shard: s.id,
            cpu: s.core,
            available,
        });
    }
    Ok(PlannedShards {
        topology,
        layout,
        warnings: detected.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_file_the_machine_is_detected() {
        let p = plan_shards(None).unwrap();
        assert_eq!(p.layout.shards.len(), p.topology.cores.len());
        assert_eq!(p.layout.shards[0].core, p.topology.cores[0].pus[0]);
    }

    #[test]
    fn a_file_from_another_machine_is_refused() {
        let dir = std::env::temp_dir().join(format!("ferris-topology-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.toml");
        let cpus = Cpus {
            cores: (0..4096).collect(),
        };
        let mut t = Topology::from_cpus(&cpus);
        t.layout.shards = ShardCount::Count(1);
        t.shards = vec![ShardEntry { id: 0, cpu: 4095 }];
        std::fs::write(&path, t.to_toml_string()).unwrap();
        let err = plan_shards(Some(&path)).unwrap_err();
        assert!(
            matches!(
                err,
                TopologyError::CpuUnavailable {
                    shard: 0,
                    cpu: 4095,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("big.toml: shards[0].cpu: CPU 4095 is not available to this process"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
