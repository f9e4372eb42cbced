//! Per-shard pools of vectors, reused across records and batches instead of allocated anew.
//!
//! A pool belongs to one operator on one shard (it is not `Sync`): nothing is shared between
//! shards. A vector that crosses to another shard inside a batch (a prepared record routed to
//! the shard that owns its key) is **recycled locally**: the receiving shard gives it to its
//! own pool when it is done with it, and never sends it back. With keys spread over the
//! shards, every shard sends about as many vectors as it receives, so each pool stays fed.
//!
//! A pool holds at most [`VecPool::new`]'s `max` vectors (the rest are freed), so a burst does
//! not pin memory for ever. It counts hits (a vector reused) and misses (one allocated) for the
//! metrics `ferris_pool_hits_total`, `ferris_pool_misses_total` and `ferris_pool_held`.

use std::cell::{Cell, RefCell};

/// A pool's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Vectors taken from the pool.
    pub hits: u64,
    /// Vectors allocated because the pool was empty.
    pub misses: u64,
    /// Vectors in the pool now.
    pub held: usize,
}

impl PoolStats {
    /// Hits over takes (1.0 before any take).
    pub fn hit_rate(&self) -> f64 {
        let takes = self.hits + self.misses;
        if takes == 0 {
            1.0
        } else {
            self.hits as f64 / takes as f64
        }
    }

    /// The sum of two pools' counters.
    pub fn plus(self, other: PoolStats) -> PoolStats {
        PoolStats {
            hits: self.hits + other.hits,
            misses: self.misses + other.misses,
            held: self.held + other.held,
        }
    }
}

/// A pool of empty vectors of `T`.
#[derive(Debug)]
pub struct VecPool<T> {
    free: RefCell<Vec<Vec<T>>>,
    max: usize,
    hits: Cell<u64>,
    misses: Cell<u64>,
}

impl<T> VecPool<T> {
    /// An empty pool that keeps at most `max` vectors (0: a pool that only allocates, for
    /// measuring without pools).
    pub fn new(max: usize) -> VecPool<T> {
        VecPool {
            free: RefCell::new(Vec::new()),
            max,
            hits: Cell::new(0),
            misses: Cell::new(0),
        }
    }

    /// An empty vector with room for `capacity` items: a pooled one if there is one.
    pub fn take(&self, capacity: usize) -> Vec<T> {
        match self.free.borrow_mut().pop() {
            Some(mut v) => {
                self.hits.set(self.hits.get() + 1);
                v.reserve(capacity);
                v
            }
            None => {
                self.misses.set(self.misses.get() + 1);
                Vec::with_capacity(capacity)
            }
        }
    }

    /// Gives a vector back: emptied and kept, unless the pool is full or the vector never
    /// allocated.
    pub fn give(&self, mut v: Vec<T>) {
        let mut free = self.free.borrow_mut();
        if free.len() < self.max && v.capacity() > 0 {
            v.clear();
            free.push(v);
        }
    }

    /// The counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            hits: self.hits.get(),
            misses: self.misses.get(),
            held: self.free.borrow().len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_given_back_is_taken_again_empty_with_its_room() {
        let pool: VecPool<u32> = VecPool::new(2);
        let mut v = pool.take(4);
        assert_eq!(
            pool.stats(),
            PoolStats {
                hits: 0,
                misses: 1,
                held: 0
            }
        );
        v.extend([1, 2, 3]);
        let ptr = v.as_ptr();
        pool.give(v);
        assert_eq!(pool.stats().held, 1);
        let again = pool.take(2);
        assert!(again.is_empty());
        assert!(again.capacity() >= 4);
        assert_eq!(again.as_ptr(), ptr, "the same allocation");
        assert_eq!(
            pool.stats(),
            PoolStats {
                hits: 1,
                misses: 1,
                held: 0
            }
        );
        assert!((pool.stats().hit_rate() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn the_pool_keeps_at_most_its_maximum_and_no_empty_vectors() {
        let pool: VecPool<u8> = VecPool::new(2);
        for _ in 0..5 {
            pool.give(vec![1]);
        }
        pool.give(Vec::new());
        assert_eq!(pool.stats().held, 2);
        let off: VecPool<u8> = VecPool::new(0);
        off.give(vec![1]);
        assert_eq!(off.stats().held, 0);
        let _ = off.take(1);
        assert_eq!(off.stats().misses, 1);
        assert_eq!(PoolStats::default().hit_rate(), 1.0);
    }
}
