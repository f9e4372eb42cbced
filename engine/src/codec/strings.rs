//! A decoder's pool of short string values: a string decoded before is not allocated again.
//!
//! Streams repeat their short strings (symbols, sides, currencies, account and country codes):
//! decoding `"AAPL"` for the millionth time need not allocate a millionth `Arc<str>`. Each
//! decoder (one per job per shard: nothing is shared between shards) keeps, per input field, a
//! table of the strings of at most [`MAX_LEN`] bytes it decoded; a string found there is handed
//! out as a clone of the pooled `Arc<str>` (a reference count, no allocation). The values are
//! immutable, so sharing one among many rows, or with another shard through the exchange, is
//! safe; the pool only keeps one reference, so a value lives as long as its last user.
//!
//! A field of mostly distinct values (ids, free text) would only pay the lookup: the pool
//! watches each field's hits over windows of [`WINDOW`] lookups, and a field below half hits
//! gets its table emptied and is not pooled for the next [`REST`] values, then tried again
//! (a stream whose values change so much that the hits fall below half starts over the same
//! way; one whose new values still leave half hits keeps its first [`MAX_ENTRIES`] strings,
//! and allocates the new ones). A field holds at most [`MAX_ENTRIES`] strings; past that, new
//! strings are allocated and not kept. The counters feed `ferris_string_pool_hits_total`,
//! `ferris_string_pool_misses_total` and `ferris_string_pool_held`; they count the strings of
//! top-level fields. Not counted, and not pooled: strings inside nested JSON values, the
//! strings of a record the single-pass JSON scan hands to serde_json (invalid records, numbers
//! no `DECIMAL` holds), and Protobuf wrapper messages (`google.protobuf.StringValue`).

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;

use crate::exec::pool::PoolStats;

/// The longest string pooled, in bytes.
pub const MAX_LEN: usize = 32;
/// Strings kept per field at most.
pub const MAX_ENTRIES: usize = 1024;
/// Lookups per field between two checks of its hit rate.
pub const WINDOW: u32 = 4096;
/// Values of a field decoded without the pool after a window of less than half hits.
pub const REST: u32 = 65_536;

/// Per input slot, the strings decoded before (see the module docs).
///
/// The tables hash with a fixed seed, so that a decoder does the same work on the same input
/// in every process (the regression gate counts instructions). Crafted colliding strings
/// cannot do much with it: a field holds at most [`MAX_ENTRIES`] strings, and colliding
/// distinct strings are misses, which put the field to rest.
pub struct StringPool {
    fields: Vec<Field>,
    hasher: foldhash::fast::FixedState,
    enabled: bool,
    hits: u64,
    misses: u64,
}

#[derive(Default)]
struct Field {
    table: HashTable<Arc<str>>,
    /// Lookups and hits in the current window.
    lookups: u32,
    hits: u32,
    /// Values still to decode without the pool.
    resting: u32,
}

impl StringPool {
    /// An empty pool for rows of `width` slots.
    pub fn new(width: usize) -> StringPool {
        StringPool {
            fields: (0..width).map(|_| Field::default()).collect(),
            hasher: foldhash::fast::FixedState::default(),
            enabled: true,
            hits: 0,
            misses: 0,
        }
    }

    /// Turns pooling on or off (off: every string is allocated, for measuring without it).
    /// Turning it off empties the tables.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
        if !enabled {
            for f in &mut self.fields {
                f.table = HashTable::new();
            }
        }
    }

    /// The value of the string `s` decoded into `slot`: a pooled one if `s` was seen before.
    #[inline]
    pub fn get(&mut self, slot: usize, s: &str) -> Arc<str> {
        match self.fields.get_mut(slot) {
            Some(field) if self.enabled && s.len() <= MAX_LEN => {
                if field.resting > 0 {
                    field.resting -= 1;
                    self.misses += 1;
                    return Arc::from(s);
                }
                let hash = self.hasher.hash_one(s);
                let found = field.table.find(hash, |v| v.as_ref() == s).map(Arc::clone);
                field.lookups += 1;
                let value = match found {
                    Some(v) => {
                        field.hits += 1;
                        self.hits += 1;
                        v
                    }
                    None => {
                        self.misses += 1;
                        let v: Arc<str> = Arc::from(s);
                        if field.table.len() < MAX_ENTRIES {
                            let hasher = &self.hasher;
                            field
                                .table
                                .insert_unique(hash, Arc::clone(&v), |x| hasher.hash_one(&**x));
                        }
                        v
                    }
                };
                if field.lookups >= WINDOW {
                    if field.hits < WINDOW / 2 {
                        field.table = HashTable::new();
                        field.resting = REST;
                    }
                    field.lookups = 0;
                    field.hits = 0;
                }
                value
            }
            _ => {
                self.misses += 1;
                Arc::from(s)
            }
        }
    }

    /// Hits (strings reused), misses (strings allocated) and the strings held now.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            hits: self.hits,
            misses: self.misses,
            held: self.fields.iter().map(|f| f.table.len()).sum(),
        }
    }
}

impl Clone for StringPool {
    /// A new, empty pool of the same width and setting (a pool belongs to one decoder).
    fn clone(&self) -> StringPool {
        let mut pool = StringPool::new(self.fields.len());
        pool.enabled = self.enabled;
        pool
    }
}

impl fmt::Debug for StringPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StringPool")
            .field("enabled", &self.enabled)
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_string_is_the_same_allocation() {
        let mut pool = StringPool::new(2);
        let a = pool.get(0, "AAPL");
        let b = pool.get(0, "AAPL");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*b, "AAPL");
        assert_eq!(
            pool.stats(),
            PoolStats {
                hits: 1,
                misses: 1,
                held: 1
            }
        );
    }

    #[test]
    fn fields_have_their_own_tables() {
        let mut pool = StringPool::new(2);
        let a = pool.get(0, "BUY");
        let b = pool.get(1, "BUY");
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(pool.stats().held, 2);
        assert_eq!(pool.stats().misses, 2);
    }

    #[test]
    fn long_strings_and_unknown_slots_are_allocated_and_not_kept() {
        let mut pool = StringPool::new(1);
        let long = "x".repeat(MAX_LEN + 1);
        let a = pool.get(0, &long);
        let b = pool.get(0, &long);
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(&*b, long.as_str());
        let c = pool.get(5, "AAPL");
        assert_eq!(&*c, "AAPL");
        assert_eq!(
            pool.stats(),
            PoolStats {
                hits: 0,
                misses: 3,
                held: 0
            }
        );
        let exact = "y".repeat(MAX_LEN);
        let d = pool.get(0, &exact);
        assert!(Arc::ptr_eq(&d, &pool.get(0, &exact)));
    }

    #[test]
    fn a_field_keeps_at_most_max_entries() {
        let mut pool = StringPool::new(1);
        for i in 0..MAX_ENTRIES + 10 {
            pool.get(0, &format!("s{i}"));
        }
        assert_eq!(pool.stats().held, MAX_ENTRIES);
        // One that did not fit is allocated each time.
        let late = format!("s{}", MAX_ENTRIES + 5);
        assert!(!Arc::ptr_eq(&pool.get(0, &late), &pool.get(0, &late)));
        // One that fit is reused.
        assert!(Arc::ptr_eq(&pool.get(0, "s7"), &pool.get(0, "s7")));
    }

    #[test]
    fn a_field_of_distinct_values_rests_and_is_tried_again() {
        let mut pool = StringPool::new(2);
        // Field 0: every value new. Field 1: one value.
        for i in 0..WINDOW {
            pool.get(0, &format!("id-{i}"));
            pool.get(1, "EUR");
        }
        let s = pool.stats();
        assert_eq!(
            s.held, 1,
            "field 0 was emptied after its window, field 1 kept EUR"
        );
        assert_eq!(s.hits, u64::from(WINDOW) - 1);
        // While field 0 rests, repeats are allocated and not looked up.
        let a = pool.get(0, "id-1");
        assert!(!Arc::ptr_eq(&a, &pool.get(0, "id-1")));
        assert_eq!(pool.stats().held, 1);
        for _ in 2..REST {
            pool.get(0, "id-1");
        }
        // Rest over: pooled again.
        let b = pool.get(0, "id-1");
        assert!(Arc::ptr_eq(&b, &pool.get(0, "id-1")));
        assert_eq!(pool.stats().held, 2);
        // Field 1 was never affected.
        assert!(Arc::ptr_eq(&pool.get(1, "EUR"), &pool.get(1, "EUR")));
    }

    #[test]
    fn switched_off_it_allocates_every_string_and_holds_none() {
        let mut pool = StringPool::new(1);
        pool.get(0, "AAPL");
        pool.set_enabled(false);
        assert_eq!(pool.stats().held, 0);
        let a = pool.get(0, "AAPL");
        assert!(!Arc::ptr_eq(&a, &pool.get(0, "AAPL")));
        assert_eq!(pool.stats().hits, 0);
        assert_eq!(pool.stats().misses, 3);
        let copy = pool.clone();
        assert_eq!(copy.stats(), PoolStats::default());
    }
}
