//! Shared helpers for the FerrisStreams black-box tests.
//!
//! - [`slt`]: the SQL conformance case format of `tests/sql/*.slt`, run by
//!   `tests/tests/conformance.rs`.
//! - [`kafka`]: topics, producers, readers and `ferris run` processes for the Kafka end-to-end
//!   tests of `tests/tests/kafka_*.rs`, against a real broker (`tools/dev-broker.sh start`).
//! - [`vwap`]: the windowed VWAP job of the Kafka window tests and its exact expected output.

pub mod kafka;
pub mod registry;
pub mod slt;
pub mod vwap;
