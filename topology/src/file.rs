//! The topology file: a TOML description of the machine (`[machine]`, `[[cores]]`), how to lay
//! shards over it (`[layout]`) and, optionally, the planned layout itself (`[[shards]]`).
//!
//! `ferris topology detect` writes it, a person edits it, `ferris run --topology FILE` reads
//! it. Every section is a struct with `deny_unknown_fields`; [`Topology::parse`] then checks
//! that the parts agree with each other, and every error names the file, the key and the
//! reason. docs/topology.md describes the format for users.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::Path;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::TopologyError;

/// A machine, and how shards are laid out on it: the contents of a topology file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Summary of the machine.
    pub machine: Machine,
    /// How to plan shards; every key has a default.
    #[serde(default)]
    pub layout: LayoutConfig,
    /// The physical cores, ids `0..n` in order.
    pub cores: Vec<Core>,
    /// A planned layout, shard ids `0..n` in order. Empty: plan from [`Topology::layout`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardEntry>,
}

/// `[machine]`: what was detected. The counts are checked against `[[cores]]`, so that an edit
/// that drops or adds a core by mistake is caught.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// Host name at detection time (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// How the machine was detected: `"hwloc"`, or `"os"` when hwloc was not usable
    /// (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_by: Option<String>,
    /// CPU packages (sockets).
    pub packages: usize,
    /// NUMA nodes (memory-only nodes included).
    pub numa_nodes: usize,
    /// Physical cores: the number of `[[cores]]` entries.
    pub cores: usize,
    /// Processing units (hardware threads): the number of CPUs over all `[[cores]]`.
    pub pus: usize,
}

/// `[[cores]]`: one physical core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Core {
    /// Physical core index, `0..n` in file order (hwloc's logical index).
    pub id: usize,
    /// OS CPU indices of its processing units (SMT siblings), first one first.
    pub pus: Vec<usize>,
    /// Package (socket) index.
    #[serde(default)]
    pub package: usize,
    /// NUMA node (OS index, as `numactl` takes it) of the memory closest to the core.
    #[serde(default)]
    pub numa_node: usize,
    /// L1 data cache size in KiB, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1d_kib: Option<u64>,
    /// L2 cache size in KiB, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2_kib: Option<u64>,
    /// Cores with the same `l2_group` share one L2 cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2_group: Option<usize>,
    /// L3 cache size in KiB, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l3_kib: Option<u64>,
    /// Cores with the same `l3_group` share one L3 cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l3_group: Option<usize>,
}

/// `[layout]`: how [`Topology::plan_layout`] places shards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutConfig {
    /// How many shards: `"auto"` (one per usable core, or per usable PU with SMT) or a number.
    #[serde(default)]
    pub shards: ShardCount,
    /// Core ids never to run a shard on.
    #[serde(default)]
    pub exclude_cores: Vec<usize>,
    /// One shard per PU (hardware thread) instead of one per physical core.
    #[serde(default)]
    pub use_smt_siblings: bool,
    /// Keep the last usable core free for librdkafka's threads, when at least two remain.
    #[serde(default)]
    pub reserve_kafka_core: bool,
}

/// `layout.shards`: `"auto"` or a positive number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ShardCount {
    /// One shard per usable core (or PU).
    #[default]
    Auto,
    /// Exactly this many shards (at least 1).
    Count(usize),
}

impl ShardCount {
    /// The number asked for, `None` for `"auto"`.
    pub fn get(self) -> Option<usize> {
        match self {
            ShardCount::Auto => None,
            ShardCount::Count(n) => Some(n),
        }
    }
}

impl fmt::Display for ShardCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardCount::Auto => f.write_str("\"auto\""),
            ShardCount::Count(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for ShardCount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ShardCount::Auto => s.serialize_str("auto"),
            ShardCount::Count(n) => s.serialize_u64(*n as u64),
        }
    }
}

impl<'de> Deserialize<'de> for ShardCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl Visitor<'_> for CountVisitor {
            type Value = ShardCount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"auto\" or a number of shards (at least 1)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ShardCount, E> {
                if v == "auto" {
                    Ok(ShardCount::Auto)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ShardCount, E> {
                match usize::try_from(v) {
                    Ok(n) if n >= 1 => Ok(ShardCount::Count(n)),
                    _ => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ShardCount, E> {
                match usize::try_from(v) {
                    Ok(n) if n >= 1 => Ok(ShardCount::Count(n)),
                    _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
                }
            }
        }
        d.deserialize_any(CountVisitor)
    }
}

/// `[[shards]]`: one shard of a planned layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardEntry {
    /// Shard id, `0..n` in file order.
    pub id: usize,
    /// OS CPU index the shard's executor is pinned to.
    pub cpu: usize,
}

impl Topology {
    /// Reads and validates a topology file. Errors name the file as given, the key and the
    /// reason.
    pub fn load(path: impl AsRef<Path>) -> Result<Topology, TopologyError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| TopologyError::Io {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        Topology::parse(&text, &file)
    }

    /// Parses and validates topology TOML; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<Topology, TopologyError> {
        let de = toml::Deserializer::parse(text).map_err(|e| syntax_error(text, file, &e))?;
        let topology: Topology =
            serde_path_to_error::deserialize(de).map_err(|e| serde_error(text, file, &e))?;
        topology.validate(file)?;
        Ok(topology)
    }

    /// The topology as a commented TOML file, which [`Topology::parse`] reads back unchanged.
    pub fn to_toml_string(&self) -> String {
        let mut out = String::new();
        // `write!` into a String cannot fail; the results are ignored on purpose.
        let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
        let host: String = match &self.machine.host {
            // A comment ends at the line's end: keep a strange host name on one line.
            Some(h) => h
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
            None => "an unnamed host".to_owned(),
        };
        let _ = writeln!(
            out,
            "# FerrisStreams topology — written by `ferris topology detect` on {host}, {date}."
        );
        out.push_str(
            "# Edit [layout] to choose where shards run; docs/topology.md describes every key.\n\n",
        );

        out.push_str("[machine]\n");
        if let Some(host) = &self.machine.host {
            let _ = writeln!(out, "host = {}", toml_string(host));
        }
        if let Some(by) = &self.machine.detected_by {
            let _ = writeln!(out, "detected_by = {}", toml_string(by));
        }
        let m = &self.machine;
        let _ = writeln!(out, "packages = {}", m.packages);
        let _ = writeln!(out, "numa_nodes = {}", m.numa_nodes);
        let _ = writeln!(out, "cores = {}", m.cores);
        let _ = writeln!(out, "pus = {}\n", m.pus);

        let l = &self.layout;
        out.push_str("[layout]\n");
        let _ = writeln!(
            out,
            "{:<27}# \"auto\": one per usable core (per PU with SMT), or a number",
            format!("shards = {}", l.shards)
        );
        let _ = writeln!(
            out,
            "{:<27}# core ids (see [[cores]]) that never run a shard",
            format!("exclude_cores = {}", toml_list(&l.exclude_cores))
        );
        let _ = writeln!(
            out,
            "{:<27}# true: one shard per PU (hardware thread)",
            format!("use_smt_siblings = {}", l.use_smt_siblings)
        );
        let _ = writeln!(
            out,
            "{:<27}# true: keep the last usable core for librdkafka",
            format!("reserve_kafka_core = {}", l.reserve_kafka_core)
        );

        out.push_str(
            "\n# Physical cores. id: core index; pus: its OS CPU indices (SMT siblings);\n\
             # package, numa_node: where it sits; l1d_kib, l2_kib, l3_kib: cache sizes;\n\
             # cores with the same l2_group / l3_group share that cache.",
        );
        for c in &self.cores {
            let _ = writeln!(
                out,
                "\n[[cores]]\nid = {}\npus = {}",
                c.id,
                toml_list(&c.pus)
            );
            let _ = writeln!(out, "package = {}\nnuma_node = {}", c.package, c.numa_node);
            let optional = [
                ("l1d_kib", c.l1d_kib),
                ("l2_kib", c.l2_kib),
                ("l2_group", c.l2_group.map(|g| g as u64)),
                ("l3_kib", c.l3_kib),
                ("l3_group", c.l3_group.map(|g| g as u64)),
            ];
            for (key, value) in optional {
                if let Some(v) = value {
                    let _ = writeln!(out, "{key} = {v}");
                }
            }
        }

        if !self.shards.is_empty() {
            out.push_str(
                "\n# The planned layout: shard id -> OS CPU. Delete these entries to have\n\
                 # `ferris run` plan from [layout]; edit them to place shards by hand.",
            );
            for s in &self.shards {
                let _ = writeln!(out, "\n[[shards]]\nid = {}\ncpu = {}", s.id, s.cpu);
            }
        }
        out
    }

    /// Every OS CPU index of the machine, ascending.
    pub fn cpus(&self) -> Vec<usize> {
        let mut cpus: Vec<usize> = self.cores.iter().flat_map(|c| c.pus.clone()).collect();
        cpus.sort_unstable();
        cpus
    }

    /// The core that has `cpu` as one of its PUs.
    pub fn core_of_cpu(&self, cpu: usize) -> Option<&Core> {
        self.cores.iter().find(|c| c.pus.contains(&cpu))
    }

    /// One line about the machine: `1 package, 1 NUMA node, 2 cores, 2 PUs`.
    pub fn summary(&self) -> String {
        let m = &self.machine;
        format!(
            "{}, {}, {}, {}",
            plural(m.packages, "package"),
            plural(m.numa_nodes, "NUMA node"),
            plural(m.cores, "core"),
            plural(m.pus, "PU"),
        )
    }

    /// Checks that the sections agree with each other. The first problem found is returned.
    pub(crate) fn validate(&self, file: &str) -> Result<(), TopologyError> {
        let invalid = |key: String, reason: String| TopologyError::Invalid {
            file: file.to_owned(),
            key,
            reason,
        };

        // [[cores]]: ids 0..n, at least one PU each, no PU twice.
        if self.cores.is_empty() {
            return Err(invalid(
                "cores".into(),
                "no [[cores]] entries; `ferris topology detect` writes them".into(),
            ));
        }
        let mut owner: BTreeMap<usize, usize> = BTreeMap::new();
        for (i, core) in self.cores.iter().enumerate() {
            if core.id != i {
                return Err(invalid(
                    format!("cores[{i}].id"),
                    format!(
                        "expected {i} (core ids run 0, 1, 2, ... in file order), found {}",
                        core.id
                    ),
                ));
            }
            if core.pus.is_empty() {
                return Err(invalid(
                    format!("cores[{i}].pus"),
                    "a core needs at least one PU".into(),
                ));
            }
            for &pu in &core.pus {
                if let Some(other) = owner.insert(pu, i) {
                    return Err(invalid(
                        format!("cores[{i}].pus"),
                        format!("CPU {pu} is already a PU of core {other}"),
                    ));
                }
            }
        }

        // [machine] counts.
        let m = &self.machine;
        let pus = owner.len();
        if m.cores != self.cores.len() {
            return Err(invalid(
                "machine.cores".into(),
                format!(
                    "is {} but there are {} [[cores]] entries",
                    m.cores,
                    self.cores.len()
                ),
            ));
        }
        if m.pus != pus {
            return Err(invalid(
                "machine.pus".into(),
                format!("is {} but the [[cores]] entries have {pus} PUs", m.pus),
            ));
        }
        let packages: Vec<usize> = distinct(self.cores.iter().map(|c| c.package));
        if m.packages < packages.len() {
            return Err(invalid(
                "machine.packages".into(),
                format!(
                    "is {} but [[cores]] name packages {}",
                    m.packages,
                    join(&packages)
                ),
            ));
        }
        let nodes: Vec<usize> = distinct(self.cores.iter().map(|c| c.numa_node));
        if m.numa_nodes < nodes.len() {
            return Err(invalid(
                "machine.numa_nodes".into(),
                format!(
                    "is {} but [[cores]] name NUMA nodes {}",
                    m.numa_nodes,
                    join(&nodes)
                ),
            ));
        }

        // [layout]: excluded cores exist, the shard count fits.
        let l = &self.layout;
        let core_ids: Vec<usize> = (0..self.cores.len()).collect();
        for (i, &core) in l.exclude_cores.iter().enumerate() {
            if core >= self.cores.len() {
                return Err(invalid(
                    format!("layout.exclude_cores[{i}]"),
                    format!("core {core} does not exist (cores: {})", join(&core_ids)),
                ));
            }
            if l.exclude_cores[..i].contains(&core) {
                return Err(invalid(
                    format!("layout.exclude_cores[{i}]"),
                    format!("core {core} is listed twice"),
                ));
            }
        }
        let usable = self.usable();
        if usable.cores.is_empty() {
            return Err(invalid(
                "layout.exclude_cores".into(),
                "excludes every core; no core is left for shards".into(),
            ));
        }
        if let Some(n) = l.shards.get()
            && n > usable.count()
        {
            return Err(invalid(
                "layout.shards".into(),
                format!("{n} shards but {}", usable.describe()),
            ));
        }

        // [[shards]]: ids 0..n, CPUs on this machine, each once, on usable cores.
        if self.shards.is_empty() {
            return Ok(());
        }
        let cpus = self.cpus();
        let mut used: BTreeMap<usize, usize> = BTreeMap::new(); // cpu -> shard
        let mut cores_used: BTreeMap<usize, usize> = BTreeMap::new(); // core -> shard
        for (i, shard) in self.shards.iter().enumerate() {
            if shard.id != i {
                return Err(invalid(
                    format!("shards[{i}].id"),
                    format!(
                        "expected {i} (shard ids run 0, 1, 2, ... in file order), found {}",
                        shard.id
                    ),
                ));
            }
            let key = format!("shards[{i}].cpu");
            let cpu = shard.cpu;
            let Some(&core) = owner.get(&cpu) else {
                return Err(invalid(
                    key,
                    format!("CPU {cpu} is not on this machine (CPUs: {})", join(&cpus)),
                ));
            };
            if let Some(other) = used.insert(cpu, i) {
                return Err(invalid(
                    key,
                    format!("CPU {cpu} is already used by shards[{other}]"),
                ));
            }
            if l.exclude_cores.contains(&core) {
                return Err(invalid(
                    key,
                    format!("CPU {cpu} is on core {core}, which layout.exclude_cores excludes"),
                ));
            }
            if let Some(other) = cores_used.insert(core, i)
                && !l.use_smt_siblings
            {
                return Err(invalid(
                    key,
                    format!(
                        "CPU {cpu} shares core {core} with shards[{other}]; set \
                         layout.use_smt_siblings = true to run shards on SMT siblings"
                    ),
                ));
            }
        }
        let n = self.shards.len();
        if let Some(want) = l.shards.get()
            && want != n
        {
            return Err(invalid(
                "shards".into(),
                format!("{n} [[shards]] entries but layout.shards = {want}"),
            ));
        }
        if n > usable.count() {
            return Err(invalid(
                "shards".into(),
                format!(
                    "{n} shards but {}; delete the [[shards]] entries to plan from [layout]",
                    usable.describe()
                ),
            ));
        }
        if l.reserve_kafka_core
            && usable.reserved.is_some()
            && !usable.cores.iter().any(|c| !cores_used.contains_key(c))
        {
            return Err(invalid(
                "shards".into(),
                "layout.reserve_kafka_core needs one usable core without shards, and every \
                 usable core has one"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The cores (and PUs) shards may use under `[layout]`.
    pub(crate) fn usable(&self) -> Usable<'_> {
        let l = &self.layout;
        let mut cores: Vec<usize> = (0..self.cores.len())
            .filter(|c| !l.exclude_cores.contains(c))
            .collect();
        let remaining = cores.len();
        let reserved = if l.reserve_kafka_core && remaining >= 2 {
            cores.pop()
        } else {
            None
        };
        Usable {
            topology: self,
            cores,
            remaining,
            reserved,
        }
    }
}

/// The result of applying `[layout]`'s exclusions and reservation to `[[cores]]`.
#[derive(Debug)]
pub(crate) struct Usable<'a> {
    topology: &'a Topology,
    /// Core ids left for shards, ascending.
    pub(crate) cores: Vec<usize>,
    /// Cores left after exclusions, before the reservation.
    remaining: usize,
    /// The core kept for librdkafka.
    pub(crate) reserved: Option<usize>,
}

impl Usable<'_> {
    /// How many shards fit: usable cores, or their PUs with `use_smt_siblings`.
    pub(crate) fn count(&self) -> usize {
        if self.topology.layout.use_smt_siblings {
            self.cores
                .iter()
                .map(|&c| self.topology.cores[c].pus.len())
                .sum()
        } else {
            self.cores.len()
        }
    }

    /// `only 2 usable cores (4 cores, 1 excluded, 1 reserved for Kafka)`.
    fn describe(&self) -> String {
        let t = self.topology;
        let unit = if t.layout.use_smt_siblings {
            plural(self.count(), "usable PU")
        } else {
            plural(self.count(), "usable core")
        };
        format!(
            "only {unit} ({}, {} excluded, {} reserved for Kafka)",
            plural(t.cores.len(), "core"),
            t.cores.len() - self.remaining,
            usize::from(self.reserved.is_some()),
        )
    }
}

/// `1 core`, `2 cores`.
pub(crate) fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("{n} {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `0, 1, 2`.
pub(crate) fn join(values: &[usize]) -> String {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{v}");
    }
    out
}

fn distinct(values: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut v: Vec<usize> = values.collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn toml_list(values: &[usize]) -> String {
    format!("[{}]", join(values))
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// 1-based line and column of a byte offset, as toml counts them (columns in characters).
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn syntax_error(text: &str, file: &str, e: &toml::de::Error) -> TopologyError {
    let (line, column) = e.span().map_or((1, 1), |s| line_column(text, s.start));
    TopologyError::Syntax {
        file: file.to_owned(),
        line,
        column,
        reason: e.message().trim().replace('\n', "; "),
    }
}

/// Turns serde's messages (`unknown field`, `missing field`, `invalid type`) into ones that
/// speak of keys and name the key in full.
fn serde_error(
    text: &str,
    file: &str,
    e: &serde_path_to_error::Error<toml::de::Error>,
) -> TopologyError {
    let mut key = String::new();
    for segment in e.path().iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => {
                let _ = write!(key, "[{index}]");
            }
            serde_path_to_error::Segment::Map { key: k } => push_key(&mut key, k),
            serde_path_to_error::Segment::Enum { variant } => push_key(&mut key, variant),
            serde_path_to_error::Segment::Unknown => push_key(&mut key, "?"),
        }
    }
    let inner = e.inner();
    let message = inner.message().trim();
    let at = inner.span().map(|s| line_column(text, s.start));
    let mut reason = if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        // serde_path_to_error already ends the path with the unknown key; toml sometimes not.
        if !key.ends_with(name) {
            push_key(&mut key, name);
        }
        let known = expected
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .replace('`', "");
        if known.is_empty() || known.starts_with("there are no fields") {
            "unknown key".to_owned()
        } else {
            format!("unknown key (known keys: {known})")
        }
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        push_key(&mut key, rest.trim_end_matches('`'));
        "missing key".to_owned()
    } else {
        message.to_owned()
    };
    if key.is_empty() {
        key.push_str("(top level)");
    }
    if let Some((line, column)) = at {
        let _ = write!(reason, " (line {line}, column {column})");
    }
    TopologyError::Invalid {
        file: file.to_owned(),
        key,
        reason,
    }
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

#[cfg(test)]
mod tests;
