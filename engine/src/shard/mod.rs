//! Shards: one per core, each running the whole read -> decode -> SQL -> encode -> produce loop
//! for the partitions it owns.
//!
//! - [`runtime`]: the seam to the executor (glommio, one pinned `LocalExecutor` per shard).
//! - [`worker`]: the loop of one job on one shard, with its own consumer, producer and codecs.
//! - [`adaptive`]: the `auto` preset's feedback loop on batch size and linger.
//! - [`offsets`]: the at-least-once bookkeeping that decides which offsets may be committed.

pub mod adaptive;
pub mod exchange;
pub mod offsets;
pub mod runtime;
pub mod state;
pub mod wake;
pub mod worker;

pub use worker::{Assignment, JobShard, ShardReport, ShardSettings, StatefulSetup};

/// Partition `p` of a topic belongs to shard `p % shards` (static slices).
pub fn partitions_of(shard: usize, shards: usize, partitions: usize) -> Vec<i32> {
    (0..partitions)
        .filter(|p| p % shards == shard)
        .map(|p| p as i32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_slices_cover_every_partition_once() {
        assert_eq!(partitions_of(0, 2, 8), vec![0, 2, 4, 6]);
        assert_eq!(partitions_of(1, 2, 8), vec![1, 3, 5, 7]);
        assert_eq!(partitions_of(2, 3, 2), Vec::<i32>::new());
    }
}
