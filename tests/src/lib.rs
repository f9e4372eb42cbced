//! Shared helpers for the FerrisStreams black-box tests.
//!
//! - [`slt`]: the SQL conformance case format of `tests/sql/*.slt`, run by
//!   `tests/tests/conformance.rs`.
//! - [`kafka`]: topics, producers, readers and `ferris run` processes for the Kafka end-to-end
//!   tests of `tests/tests/kafka_*.rs`, against a real broker (`tools/dev-broker.sh start`).

pub mod kafka;
pub mod slt;
