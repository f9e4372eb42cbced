//! # ferris-tools
//!
//! The `ferris` command line lives in `main.rs`; this library holds what other crates of the
//! workspace reuse from it: the deterministic trade generator behind `ferris gen trades`, which
//! the end-to-end tests and the Kafka benchmark draw their data from too, and the counting
//! allocator ([`alloc`]) that `ferris bench nexmark` and the criterion benches install to report
//! allocations per record.

pub mod alloc;
pub mod trades;
