//! Shard layouts: which shard runs on which CPU.
//!
//! [`ShardLayout::plan`] places shards over a flat list of CPUs; [`Topology::plan_layout`]
//! builds that list from the topology's cores (first PU of each core, or every PU with SMT)
//! after `[layout]`'s exclusions and reservation, or takes the file's `[[shards]]` as they are.

use std::fmt::{self, Write as _};

use crate::{Topology, TopologyError};

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

impl Topology {
    /// The shard layout this topology asks for.
    ///
    /// With `[[shards]]` entries, those are the layout. Otherwise one shard per usable
    /// physical core on its first PU (with `use_smt_siblings`, one per PU: the first PU of
    /// every core, then the second of every core, so that shards spread over physical cores
    /// before they share one), ids in core order, as many as `layout.shards` asks for.
    /// `reserve_kafka_core` keeps the last usable core (all its PUs) out, when at least two
    /// cores remain after exclusions; its CPUs are [`ShardLayout::reserved`].
    pub fn plan_layout(&self) -> Result<ShardLayout, TopologyError> {
        self.validate("topology")?;
        let usable = self.usable();
        if !self.shards.is_empty() {
            let shards: Vec<ShardSpec> = self
                .shards
                .iter()
                .map(|s| ShardSpec {
                    id: s.id,
                    core: s.cpu,
                })
                .collect();
            // A hand-written layout may sit on the core planning would reserve: keep the last
            // usable core that has no shard instead.
            let reserved = match usable.reserved {
                None => Vec::new(),
                Some(_) => (0..self.cores.len())
                    .rev()
                    .filter(|c| !self.layout.exclude_cores.contains(c))
                    .map(|c| &self.cores[c])
                    .find(|core| !shards.iter().any(|s| core.pus.contains(&s.core)))
                    .map(|core| core.pus.clone())
                    .unwrap_or_default(),
            };
            return Ok(ShardLayout { shards, reserved });
        }
        let depth = if self.layout.use_smt_siblings {
            usable
                .cores
                .iter()
                .map(|&c| self.cores[c].pus.len())
                .max()
                .unwrap_or(1)
        } else {
            1
        };
        let units: Vec<usize> = (0..depth)
            .flat_map(|level| {
                usable
                    .cores
                    .iter()
                    .filter_map(move |&c| self.cores[c].pus.get(level).copied())
            })
            .collect();
        let opts = LayoutOptions {
            shards: self.layout.shards.get(),
            ..LayoutOptions::default()
        };
        let mut layout = ShardLayout::plan(&Cpus { cores: units }, &opts)?;
        layout.reserved = usable
            .reserved
            .map(|c| self.cores[c].pus.clone())
            .unwrap_or_default();
        Ok(layout)
    }
}

impl Topology {
    /// The layout as a table, one line per shard, then the reserved core if any:
    /// `shard 0 -> cpu 0 (core 0, package 0, numa node 0)`.
    pub fn layout_table(&self, layout: &ShardLayout) -> String {
        let mut out = String::new();
        for s in &layout.shards {
            let _ = match self.core_of_cpu(s.core) {
                Some(c) => writeln!(
                    out,
                    "shard {} -> cpu {} (core {}, package {}, numa node {})",
                    s.id, s.core, c.id, c.package, c.numa_node
                ),
                None => writeln!(out, "shard {} -> cpu {}", s.id, s.core),
            };
        }
        if let Some(core) = layout
            .reserved
            .first()
            .and_then(|&cpu| self.core_of_cpu(cpu))
        {
            let _ = writeln!(
                out,
                "reserved for librdkafka: core {} (cpus {})",
                core.id,
                crate::file::join(&layout.reserved)
            );
        }
        out
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

    /// 2 packages x 2 cores x 2 SMT threads, numbered the way Linux numbers Intel parts:
    /// the first threads of all cores, then the second threads.
    fn two_packages(layout: &str) -> Topology {
        let mut text =
            String::from("[machine]\npackages = 2\nnuma_nodes = 2\ncores = 4\npus = 8\n");
        text.push_str(layout);
        for (id, pus, package) in [
            (0, "[0, 4]", 0),
            (1, "[1, 5]", 0),
            (2, "[2, 6]", 1),
            (3, "[3, 7]", 1),
        ] {
            text.push_str(&format!(
                "[[cores]]\nid = {id}\npus = {pus}\npackage = {package}\nnuma_node = {package}\n\
                 l2_kib = 1024\nl2_group = {id}\nl3_kib = 16384\nl3_group = {package}\n"
            ));
        }
        Topology::parse(&text, "two.toml").unwrap()
    }

    fn cpus_of(layout: &ShardLayout) -> Vec<usize> {
        layout.shards.iter().map(|s| s.core).collect()
    }

    #[test]
    fn one_shard_per_physical_core_on_its_first_pu() {
        let l = two_packages("").plan_layout().unwrap();
        assert_eq!(
            l.shards,
            (0..4)
                .map(|i| ShardSpec { id: i, core: i })
                .collect::<Vec<_>>()
        );
        assert!(l.reserved.is_empty());
    }

    #[test]
    fn smt_siblings_spread_over_cores_first() {
        let t = two_packages("[layout]\nuse_smt_siblings = true\n");
        assert_eq!(
            cpus_of(&t.plan_layout().unwrap()),
            vec![0, 1, 2, 3, 4, 5, 6, 7]
        );
        let t = two_packages("[layout]\nuse_smt_siblings = true\nshards = 3\n");
        assert_eq!(cpus_of(&t.plan_layout().unwrap()), vec![0, 1, 2]);
    }

    #[test]
    fn exclusion_and_reservation_take_whole_cores() {
        let t = two_packages("[layout]\nexclude_cores = [0]\nreserve_kafka_core = true\n");
        let l = t.plan_layout().unwrap();
        assert_eq!(
            l.shards,
            vec![ShardSpec { id: 0, core: 1 }, ShardSpec { id: 1, core: 2 }]
        );
        assert_eq!(l.reserved, vec![3, 7]);

        let t = two_packages(
            "[layout]\nexclude_cores = [1]\nreserve_kafka_core = true\nuse_smt_siblings = true\n\
             shards = 3\n",
        );
        let l = t.plan_layout().unwrap();
        assert_eq!(cpus_of(&l), vec![0, 2, 4]);
        assert_eq!(l.reserved, vec![3, 7]);
        assert_eq!(
            t.layout_table(&l),
            "shard 0 -> cpu 0 (core 0, package 0, numa node 0)\n\
             shard 1 -> cpu 2 (core 2, package 1, numa node 1)\n\
             shard 2 -> cpu 4 (core 0, package 0, numa node 0)\n\
             reserved for librdkafka: core 3 (cpus 3, 7)\n"
        );
    }

    #[test]
    fn reservation_needs_two_cores_left() {
        let t = two_packages("[layout]\nexclude_cores = [0, 1, 2]\nreserve_kafka_core = true\n");
        let l = t.plan_layout().unwrap();
        assert_eq!(l.shards, vec![ShardSpec { id: 0, core: 3 }]);
        assert!(l.reserved.is_empty());
    }

    #[test]
    fn written_shards_are_the_layout() {
        let t = two_packages(
            "[layout]\nreserve_kafka_core = true\n\
             [[shards]]\nid = 0\ncpu = 3\n[[shards]]\nid = 1\ncpu = 2\n",
        );
        let l = t.plan_layout().unwrap();
        assert_eq!(
            l.shards,
            vec![ShardSpec { id: 0, core: 3 }, ShardSpec { id: 1, core: 2 }]
        );
        // The last usable core (3) runs a shard, so the last one without a shard is kept.
        assert_eq!(l.reserved, vec![1, 5]);
    }

    #[test]
    fn a_layout_with_every_core_excluded_does_not_load() {
        let mut t = two_packages("");
        t.layout.exclude_cores = vec![0, 1, 2, 3];
        assert_eq!(
            t.plan_layout().unwrap_err().to_string(),
            "topology: layout.exclude_cores: excludes every core; no core is left for shards"
        );
    }
}
