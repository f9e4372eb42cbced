//! A counting global allocator: `std::alloc::System`, plus per-thread counters of allocations
//! and requested bytes, so `ferris bench nexmark` can report allocations per event.
//!
//! The counters are thread-local `Cell`s with a `const` initialiser and no destructor: reading
//! or bumping them never allocates and touches no shared cache line, so the hot path pays one
//! thread-local increment per allocation. A thread reads its own counts with [`snapshot`] before
//! and after the work it wants to measure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

/// Allocations (`alloc`, `alloc_zeroed` and `realloc` calls) and requested bytes made by the
/// calling thread so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocCount {
    /// Calls that allocated (a `realloc` counts as one).
    pub allocs: u64,
    /// Bytes requested by those calls.
    pub bytes: u64,
}

impl AllocCount {
    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: AllocCount) -> AllocCount {
        AllocCount {
            allocs: self.allocs.wrapping_sub(earlier.allocs),
            bytes: self.bytes.wrapping_sub(earlier.bytes),
        }
    }
}

/// The calling thread's counts so far.
pub fn snapshot() -> AllocCount {
    AllocCount {
        allocs: ALLOCS.try_with(Cell::get).unwrap_or(0),
        bytes: BYTES.try_with(Cell::get).unwrap_or(0),
    }
}

fn count(size: usize) {
    // `try_with`: during thread teardown the slots may be gone; such allocations go uncounted.
    let _ = ALLOCS.try_with(|c| c.set(c.get().wrapping_add(1)));
    let _ = BYTES.try_with(|c| c.set(c.get().wrapping_add(size as u64)));
}

/// The process's allocator (installed in the `ferris` binary and the criterion benches):
/// delegates every call to [`System`].
#[derive(Debug)]
pub struct Counting;

// SAFETY: `GlobalAlloc` is an `unsafe` trait, so implementing it needs `unsafe impl`; unsafe code
// is denied in the workspace and allowed here and in `connector::kafka::source` (librdkafka FFI)
// alone. Every method forwards its arguments unchanged to `System`, which upholds the trait's
// contract; the only extra work is bumping thread-local counters, which neither allocates nor
// unwinds.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (every allocation goes through this type).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: as for `dealloc`, with the caller's `new_size` contract passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations per item of running `work` once on the calling thread over `items` items:
/// `(allocations, bytes)` per item. Meaningful only where [`Counting`] is the global allocator.
pub fn per_item(items: usize, work: impl FnOnce()) -> (f64, f64) {
    let before = snapshot();
    work();
    let d = snapshot().since(before);
    let n = items.max(1) as f64;
    (d.allocs as f64 / n, d.bytes as f64 / n)
}
