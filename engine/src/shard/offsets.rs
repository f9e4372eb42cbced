//! At-least-once bookkeeping: which input offsets may be committed.
//!
//! An input record is *done* when every output it caused (sink record or dead-letter record)
//! has been acknowledged by the broker; a record that caused no output is done at once. The
//! offset committed for a partition is the first offset that is not done yet (or one past the
//! last consumed offset when everything is done), so a commit never runs ahead of delivered
//! output, whatever order the acknowledgements arrive in (DESIGN decision 7).

use std::collections::VecDeque;

/// Records in flight for one partition, in consumption (offset) order.
#[derive(Debug, Default)]
struct PartitionOffsets {
    partition: i32,
    /// `(offset, outputs not yet acknowledged)`, offsets ascending.
    pending: VecDeque<(i64, u32)>,
    /// One past the highest offset consumed.
    next_offset: Option<i64>,
    /// The offset last committed (the next offset to read).
    committed: Option<i64>,
}

impl PartitionOffsets {
    fn commit_point(&self) -> Option<i64> {
        match self.pending.front() {
            Some((offset, _)) => Some(*offset),
            None => self.next_offset,
        }
    }
}

/// Tracks in-flight records of the partitions a shard owns.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: Vec<PartitionOffsets>,
}

impl OffsetTracker {
    /// An empty tracker.
    pub fn new() -> OffsetTracker {
        OffsetTracker::default()
    }

    fn entry(&mut self, partition: i32) -> &mut PartitionOffsets {
        let i = match self
            .partitions
            .iter()
            .position(|p| p.partition == partition)
        {
            Some(i) => i,
            None => {
                self.partitions.push(PartitionOffsets {
                    partition,
                    ..PartitionOffsets::default()
                });
                self.partitions.len() - 1
            }
        };
        &mut self.partitions[i]
    }

    /// Record `offset` of `partition` was consumed and caused `outputs` records that await
    /// acknowledgement (0: done now).
    pub fn consumed(&mut self, partition: i32, offset: i64, outputs: u32) {
        let p = self.entry(partition);
        if outputs > 0 {
            p.pending.push_back((offset, outputs));
        } else if p.pending.is_empty() && p.next_offset.is_some_and(|n| offset < n) {
            // A replayed offset below what we have seen: nothing to do.
            return;
        }
        p.next_offset = Some(p.next_offset.map_or(offset + 1, |n| n.max(offset + 1)));
    }

    /// One output of record `offset` was acknowledged.
    pub fn acked(&mut self, partition: i32, offset: i64) {
        let p = self.entry(partition);
        // Offsets of a partition are usually consecutive, so the record's place is usually its
        // distance from the first one pending; otherwise search.
        let guess = p
            .pending
            .front()
            .and_then(|(first, _)| usize::try_from(offset.checked_sub(*first)?).ok())
            .filter(|&i| p.pending.get(i).is_some_and(|(o, _)| *o == offset));
        let found = guess.or_else(|| p.pending.binary_search_by_key(&offset, |(o, _)| *o).ok());
        if let Some(i) = found {
            let n = &mut p.pending[i].1;
            *n = n.saturating_sub(1);
        }
        while p.pending.front().is_some_and(|(_, n)| *n == 0) {
            p.pending.pop_front();
        }
    }

    /// One more output for a record that is still pending (a row held by join state that
    /// emits when it leaves the state): its offset commits only once that output is
    /// acknowledged too. A record that is no longer pending gets nothing.
    pub fn add_output(&mut self, partition: i32, offset: i64) {
        let p = self.entry(partition);
        if let Ok(i) = p.pending.binary_search_by_key(&offset, |(o, _)| *o) {
            p.pending[i].1 += 1;
        }
    }

    /// Partitions whose commit point moved since the last [`OffsetTracker::mark_committed`],
    /// as `(partition, offset to commit)`.
    pub fn to_commit(&self) -> Vec<(i32, i64)> {
        self.partitions
            .iter()
            .filter_map(|p| {
                let at = p.commit_point()?;
                (p.committed != Some(at)).then_some((p.partition, at))
            })
            .collect()
    }

    /// The offset that may be committed for `partition` now: the first one not done, or one
    /// past the last consumed.
    pub fn commit_point(&self, partition: i32) -> Option<i64> {
        self.partitions
            .iter()
            .find(|p| p.partition == partition)
            .and_then(PartitionOffsets::commit_point)
    }

    /// Records that `(partition, offset)` pairs were committed.
    pub fn mark_committed(&mut self, commits: &[(i32, i64)]) {
        for &(partition, offset) in commits {
            self.entry(partition).committed = Some(offset);
        }
    }

    /// Forgets what was committed, so that [`OffsetTracker::to_commit`] lists every partition's
    /// commit point again.
    pub fn forget_commits(&mut self) {
        for p in &mut self.partitions {
            p.committed = None;
        }
    }

    /// Records consumed but not yet committable (the commit lag).
    pub fn pending_records(&self) -> u64 {
        self.partitions
            .iter()
            .map(|p| match (p.commit_point(), p.next_offset) {
                (Some(c), Some(n)) => (n - c).max(0) as u64,
                _ => 0,
            })
            .sum()
    }

    /// Output records not yet acknowledged.
    pub fn unacknowledged(&self) -> u64 {
        self.partitions
            .iter()
            .flat_map(|p| p.pending.iter())
            .map(|(_, n)| u64::from(*n))
            .sum()
    }

    /// Forgets a partition (it was revoked from this shard).
    pub fn forget(&mut self, partition: i32) {
        self.partitions.retain(|p| p.partition != partition);
    }
}

/// Packs `(partition, offset)` into the `usize` that rides along with a produced record as its
/// delivery opaque (no allocation per record). Partitions < 2^16, offsets < 2^48.
pub fn pack(partition: i32, offset: i64) -> usize {
    ((partition as u64 & 0xffff) << 48 | (offset as u64 & 0xffff_ffff_ffff)) as usize
}

/// The inverse of [`pack`].
pub fn unpack(packed: usize) -> (i32, i64) {
    let v = packed as u64;
    ((v >> 48) as i32, (v & 0xffff_ffff_ffff) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_never_passes_an_unacknowledged_record() {
        let mut t = OffsetTracker::new();
        t.consumed(0, 10, 1);
        t.consumed(0, 11, 0); // filtered out
        t.consumed(0, 12, 1);
        t.consumed(1, 5, 1);
        assert_eq!(t.to_commit(), vec![(0, 10), (1, 5)]);
        assert_eq!(t.pending_records(), 4);
        t.acked(0, 12); // out of order ack: 10 still pending
        assert_eq!(t.to_commit(), vec![(0, 10), (1, 5)]);
        t.acked(0, 10);
        assert_eq!(t.to_commit(), vec![(0, 13), (1, 5)]);
        t.mark_committed(&[(0, 13), (1, 5)]);
        assert_eq!(t.to_commit(), vec![]);
        t.acked(1, 5);
        assert_eq!(t.to_commit(), vec![(1, 6)]);
        t.mark_committed(&[(1, 6)]);
        assert_eq!(t.to_commit(), vec![]);
        t.forget_commits();
        assert_eq!(t.to_commit(), vec![(0, 13), (1, 6)]);
        assert_eq!(t.pending_records(), 0);
        assert_eq!(t.unacknowledged(), 0);
    }

    #[test]
    fn records_with_two_outputs_need_both_acks() {
        let mut t = OffsetTracker::new();
        t.consumed(3, 0, 2);
        t.acked(3, 0);
        assert_eq!(t.to_commit(), vec![(3, 0)]);
        assert_eq!(t.unacknowledged(), 1);
        t.acked(3, 0);
        assert_eq!(t.to_commit(), vec![(3, 1)]);
    }

    #[test]
    fn all_filtered_records_commit_at_once() {
        let mut t = OffsetTracker::new();
        for o in 100..200 {
            t.consumed(2, o, 0);
        }
        assert_eq!(t.to_commit(), vec![(2, 200)]);
        t.forget(2);
        assert_eq!(t.to_commit(), vec![]);
    }

    #[test]
    fn packing_round_trips() {
        for (p, o) in [(0, 0), (7, 123_456_789), (65_535, (1 << 48) - 1)] {
            assert_eq!(unpack(pack(p, o)), (p, o));
        }
    }
}
