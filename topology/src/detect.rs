//! Hardware detection: hwloc (through `hwlocality`) when it works, the OS CPU count when not.
//!
//! hwloc reports only the PUs this process is allowed to use (a taskset or cgroup CPU set
//! narrows them), so a detected topology is the machine as the process sees it.

use hwlocality::object::TopologyObject;
use hwlocality::object::attributes::ObjectAttributes;
use hwlocality::object::types::ObjectType;

use crate::{Core, Cpus, LayoutConfig, Machine, ShardEntry, Topology};

/// A detected topology, and what went wrong on the way (detection itself never fails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The machine, with the default `[layout]` and the layout planned from it as
    /// `[[shards]]`.
    pub topology: Topology,
    /// Why the result is less than hwloc would give (hwloc failed and the OS CPU count was
    /// used instead); empty when hwloc worked.
    pub warnings: Vec<String>,
}

impl Topology {
    /// Detects this machine with hwloc; if hwloc fails (or panics), falls back to
    /// [`Cpus::detect`] and says so in [`Detected::warnings`].
    pub fn detect() -> Detected {
        let mut warnings = Vec::new();
        let detected = match std::panic::catch_unwind(from_hwloc) {
            Ok(Ok(t)) => match t.validate("hwloc") {
                Ok(()) => Some(t),
                Err(e) => {
                    warnings.push(format!("hwloc gave an inconsistent topology ({e})"));
                    None
                }
            },
            Ok(Err(e)) => {
                warnings.push(format!("hwloc detection failed: {e}"));
                None
            }
            Err(_) => {
                warnings.push("hwloc detection panicked".to_owned());
                None
            }
        };
        let mut topology = detected.unwrap_or_else(|| {
            let t = Topology::from_cpus(&Cpus::detect());
            if let Some(w) = warnings.last_mut() {
                w.push_str(&format!(
                    "; using the OS CPU count instead ({} CPUs, each taken as one core; no \
                     SMT, NUMA or cache information)",
                    t.cores.len()
                ));
            }
            t
        });
        topology.machine.host = hostname();
        topology.shards = match topology.plan_layout() {
            Ok(layout) => layout
                .shards
                .iter()
                .map(|s| ShardEntry {
                    id: s.id,
                    cpu: s.core,
                })
                .collect(),
            Err(e) => {
                warnings.push(format!("no default layout: {e}"));
                Vec::new()
            }
        };
        Detected { topology, warnings }
    }

    /// A topology with each CPU taken as one core of one package and one NUMA node: what is
    /// known without hwloc.
    pub fn from_cpus(cpus: &Cpus) -> Topology {
        let cores: Vec<Core> = cpus
            .cores
            .iter()
            .enumerate()
            .map(|(id, &cpu)| Core {
                id,
                pus: vec![cpu],
                package: 0,
                numa_node: 0,
                l1d_kib: None,
                l2_kib: None,
                l2_group: None,
                l3_kib: None,
                l3_group: None,
            })
            .collect();
        Topology {
            machine: Machine {
                host: None,
                detected_by: Some("os".to_owned()),
                packages: 1,
                numa_nodes: 1,
                cores: cores.len(),
                pus: cores.len(),
            },
            layout: LayoutConfig::default(),
            cores,
            shards: Vec::new(),
        }
    }
}

fn from_hwloc() -> Result<Topology, String> {
    let hw = hwlocality::Topology::new().map_err(|e| e.to_string())?;
    let packages = hw.objects_with_type(ObjectType::Package).count().max(1);
    let numa_nodes = hw.objects_with_type(ObjectType::NUMANode).count().max(1);
    let mut objects: Vec<&TopologyObject> = hw.objects_with_type(ObjectType::Core).collect();
    if objects.is_empty() {
        // Some virtual machines show PUs without Core objects: each PU is then a core.
        objects = hw.objects_with_type(ObjectType::PU).collect();
    }
    let mut cores = Vec::with_capacity(objects.len());
    for object in objects {
        let pus: Vec<usize> = match object.cpuset() {
            Some(set) => set.iter_set().map(usize::from).collect(),
            None => continue,
        };
        if pus.is_empty() {
            continue;
        }
        let mut core = Core {
            id: cores.len(),
            pus,
            package: object
                .first_ancestor_with_type(ObjectType::Package)
                .map_or(0, TopologyObject::logical_index),
            numa_node: object
                .nodeset()
                .and_then(|set| set.first_set())
                .map_or(0, usize::from),
            l1d_kib: None,
            l2_kib: None,
            l2_group: None,
            l3_kib: None,
            l3_group: None,
        };
        for cache in object.ancestors() {
            let Some(ObjectAttributes::Cache(attributes)) = cache.attributes() else {
                continue;
            };
            let kib = attributes.size().map(|s| s.get() / 1024);
            match cache.object_type() {
                ObjectType::L1Cache => core.l1d_kib = kib,
                ObjectType::L2Cache => {
                    core.l2_kib = kib;
                    core.l2_group = Some(cache.logical_index());
                }
                ObjectType::L3Cache => {
                    core.l3_kib = kib;
                    core.l3_group = Some(cache.logical_index());
                }
                _ => {}
            }
        }
        cores.push(core);
    }
    if cores.is_empty() {
        return Err("hwloc found no cores".to_owned());
    }
    let pus = cores.iter().map(|c| c.pus.len()).sum();
    Ok(Topology {
        machine: Machine {
            host: None,
            detected_by: Some("hwloc".to_owned()),
            packages,
            numa_nodes,
            cores: cores.len(),
            pus,
        },
        layout: LayoutConfig::default(),
        cores,
        shards: Vec::new(),
    })
}

fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_finds_cores_and_only_usable_cpus() {
        let d = Topology::detect();
        let t = &d.topology;
        assert!(!t.cores.is_empty());
        let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
        for core in &t.cores {
            assert!(!core.pus.is_empty());
            for &pu in &core.pus {
                assert!(pu < nproc, "PU {pu} >= nproc {nproc}");
            }
        }
        assert_eq!(t.machine.cores, t.cores.len());
        assert!(!t.shards.is_empty());
        // This project's build machines have hwloc; detection must not have fallen back.
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        assert_eq!(t.machine.detected_by.as_deref(), Some("hwloc"));
    }

    #[test]
    fn round_trip_detect_toml_load() {
        let t = Topology::detect().topology;
        let text = t.to_toml_string();
        assert!(text.starts_with("# FerrisStreams topology"), "{text}");
        assert_eq!(Topology::parse(&text, "detected.toml").unwrap(), t);
    }

    #[test]
    fn the_os_fallback_is_one_core_per_cpu() {
        let t = Topology::from_cpus(&Cpus {
            cores: vec![0, 1, 2],
        });
        assert_eq!(t.cores.len(), 3);
        assert_eq!(t.cores[2].pus, vec![2]);
        assert_eq!(t.summary(), "1 package, 1 NUMA node, 3 cores, 3 PUs");
        let text = t.to_toml_string();
        assert_eq!(Topology::parse(&text, "os.toml").unwrap(), t);
    }
}
