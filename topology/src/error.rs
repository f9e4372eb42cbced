//! The one error type of the crate.

/// Why a topology cannot be read, or a layout cannot be planned.
///
/// The file variants carry the file name as the user gave it and the key in TOML path form
/// (`shards[1].cpu`), so that the message alone says where to look.
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
    /// The topology file could not be read.
    #[error("{file}: cannot read: {reason}")]
    Io {
        /// The file, as named by the user.
        file: String,
        /// The OS error, as text (kept as text so the error stays `Clone + Eq`).
        reason: String,
    },
    /// The topology file is not valid TOML.
    #[error("{file}: TOML syntax error at line {line}, column {column}: {reason}")]
    Syntax {
        /// The file, as named by the user.
        file: String,
        /// 1-based line of the error, as toml reports it.
        line: usize,
        /// 1-based column of the error, as toml reports it.
        column: usize,
        /// toml's description.
        reason: String,
    },
    /// The topology file is valid TOML, but a key is unknown, missing, of the wrong type, or
    /// its value contradicts the machine or the rest of the file.
    #[error("{file}: {key}: {reason}")]
    Invalid {
        /// The file, as named by the user.
        file: String,
        /// The key in TOML path form: `layout.shards`, `cores[2].pus`, `shards[1].cpu`.
        key: String,
        /// What is wrong with it, and where it helps, what would be right.
        reason: String,
    },
    /// A shard of a layout is on a CPU this process may not use (a file written on another
    /// machine, or a CPU set narrowed by taskset or a cgroup).
    #[error(
        "{file}: shards[{shard}].cpu: CPU {cpu} is not available to this process (CPUs: {})",
        crate::file::join(available)
    )]
    CpuUnavailable {
        /// The file, as named by the user.
        file: String,
        /// The shard id.
        shard: usize,
        /// The CPU it names.
        cpu: usize,
        /// The CPUs this process may use.
        available: Vec<usize>,
    },
}
