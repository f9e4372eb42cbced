//! Shared helpers for the FerrisStreams black-box tests.
//!
//! - [`slt`]: the SQL conformance case format of `tests/sql/*.slt`, run by
//!   `tests/tests/conformance.rs`.

pub mod slt;
