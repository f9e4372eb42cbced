//! # ferris-topology
//!
//! Where shards run. FerrisStreams runs one shard per CPU core; this crate answers "which
//! cores, and which shard gets which core".
//!
//! Today it knows the CPUs the process may use (from the OS) and plans a [`ShardLayout`] over
//! them, honouring excluded cores and a core reserved for librdkafka's threads. Detection of
//! packages, NUMA nodes, SMT siblings and caches through hwloc, and the editable topology file,
//! build on this layout.

use std::fmt;

/// Why a layout cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// Exclusions and reservations leave no core for a shard.
    #[error(
        "no core left for shards: {available} available, {excluded} excluded, {reserved} reserved"
    )]
    NoCoreLeft {
        /// Cores the process may use.
        available: usize,
        /// Cores excluded by the user.
        excluded: usize,
        /// Cores reserved for other threads.
        reserved: usize,
    },
    /// More shards were asked for than there are usable cores.
    #[error("{requested} shards requested but only {usable} usable cores")]
    InsufficientCores {
        /// Shards asked for.
        requested: usize,
        /// Cores left after exclusions and reservations.
        usable: usize,
    },
    /// An excluded core does not exist.
    #[error("excluded core {core} is not one of the available cores {available:?}")]
    UnknownCore {
        /// The core named.
        core: usize,
        /// The cores that exist.
        available: Vec<usize>,
    },
}

/// The CPUs this process may run on, by OS index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpus {
    /// OS CPU indices, ascending.
    pub cores: Vec<usize>,
}

impl Cpus {
    /// The CPUs the OS lets this process use (`0..available_parallelism`).
    pub fn detect() -> Cpus {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        Cpus {
            cores: (0..n).collect(),
        }
    }
}

/// Options for planning a layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayoutOptions {
    /// Cores never to run a shard on.
    pub exclude: Vec<usize>,
    /// Keep the last usable core free for librdkafka's background threads (only when at least
    /// two cores remain, so that a one-core machine still runs).
    pub reserve_for_kafka: bool,
    /// Exactly this many shards (default: one per usable core).
    pub shards: Option<usize>,
}

/// One shard and the core it is pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    /// Shard id, from 0.
    pub id: usize,
    /// OS CPU index it runs on.
    pub core: usize,
}

/// The planned shards, plus the cores left for other threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardLayout {
    /// One entry per shard, ids ascending.
    pub shards: Vec<ShardSpec>,
    /// Cores reserved for non-shard threads (librdkafka).
    pub reserved: Vec<usize>,
}

impl ShardLayout {
    /// Plans shards over `cpus`.
    pub fn plan(cpus: &Cpus, opts: &LayoutOptions) -> Result<ShardLayout, TopologyError> {
        if let Some(&core) = opts.exclude.iter().find(|c| !cpus.cores.contains(c)) {
            return Err(TopologyError::UnknownCore {
                core,
                available: cpus.cores.clone(),
            });
        }
        let mut usable: Vec<usize> = cpus
            .cores
            .iter()
            .copied()
            .filter(|c| !opts.exclude.contains(c))
            .collect();
        let mut reserved = Vec::new();
        if opts.reserve_for_kafka && usable.len() >= 2 {
            reserved.extend(usable.pop());
        }
        if usable.is_empty() {
            return Err(TopologyError::NoCoreLeft {
                available: cpus.cores.len(),
                excluded: opts.exclude.len(),
                reserved: reserved.len(),
            });
        }
        let count = opts.shards.unwrap_or(usable.len());
        if count == 0 || count > usable.len() {
            return Err(TopologyError::InsufficientCores {
                requested: count,
                usable: usable.len(),
            });
        }
        let shards = usable
            .iter()
            .take(count)
            .enumerate()
            .map(|(id, &core)| ShardSpec { id, core })
            .collect();
        Ok(ShardLayout { shards, reserved })
    }
}

impl fmt::Display for ShardLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.shards {
            writeln!(f, "shard {} -> core {}", s.id, s.core)?;
        }
        if !self.reserved.is_empty() {
            writeln!(f, "reserved for librdkafka: {:?}", self.reserved)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus(n: usize) -> Cpus {
        Cpus {
            cores: (0..n).collect(),
        }
    }

    #[test]
    fn one_shard_per_core_by_default() {
        let l = ShardLayout::plan(&cpus(4), &LayoutOptions::default()).unwrap();
        assert_eq!(
            l.shards,
            (0..4)
                .map(|i| ShardSpec { id: i, core: i })
                .collect::<Vec<_>>()
        );
        assert!(l.reserved.is_empty());
    }

    #[test]
    fn exclusions_and_reservation() {
        let opts = LayoutOptions {
            exclude: vec![0],
            reserve_for_kafka: true,
            shards: None,
        };
        let l = ShardLayout::plan(&cpus(4), &opts).unwrap();
        assert_eq!(
            l.shards,
            vec![ShardSpec { id: 0, core: 1 }, ShardSpec { id: 1, core: 2 }]
        );
        assert_eq!(l.reserved, vec![3]);
        assert_eq!(
            l.to_string(),
            "shard 0 -> core 1\nshard 1 -> core 2\nreserved for librdkafka: [3]\n"
        );
    }

    #[test]
    fn a_single_core_still_runs_one_shard() {
        let opts = LayoutOptions {
            reserve_for_kafka: true,
            ..LayoutOptions::default()
        };
        let l = ShardLayout::plan(&cpus(1), &opts).unwrap();
        assert_eq!(l.shards, vec![ShardSpec { id: 0, core: 0 }]);
        assert!(l.reserved.is_empty());
    }

    #[test]
    fn impossible_layouts_are_errors() {
        let all = LayoutOptions {
            exclude: vec![0, 1],
            ..LayoutOptions::default()
        };
        assert_eq!(
            ShardLayout::plan(&cpus(2), &all).unwrap_err(),
            TopologyError::NoCoreLeft {
                available: 2,
                excluded: 2,
                reserved: 0
            }
        );
        let many = LayoutOptions {
            shards: Some(3),
            ..LayoutOptions::default()
        };
        assert_eq!(
            ShardLayout::plan(&cpus(2), &many).unwrap_err().to_string(),
            "3 shards requested but only 2 usable cores"
        );
        let bad = LayoutOptions {
            exclude: vec![7],
            ..LayoutOptions::default()
        };
        assert!(matches!(
            ShardLayout::plan(&cpus(2), &bad),
            Err(TopologyError::UnknownCore { core: 7, .. })
        ));
    }

    #[test]
    fn detect_finds_at_least_one_core() {
        let c = Cpus::detect();
        assert!(!c.cores.is_empty());
        assert_eq!(c.cores[0], 0);
    }
}
