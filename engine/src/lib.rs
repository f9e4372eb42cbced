//! # ferris-engine
//!
//! Everything on the FerrisStreams data path.
//!
//! - [`value`]: the data model — [`value::Value`], exact [`value::Decimal`], positional rows and
//!   batches.
//! - [`sql`]: the FerrisStreams SQL dialect on top of `sqlparser` (statements, `WINDOW`, `EMIT`,
//!   `WITH`), the planner that resolves names to positions, and compiled expressions.
//! - [`exec`]: operators, one per file (filter, projection).
//! - [`codec`]: record formats (JSON, with exact decimals).
//! - [`connector`]: where records come from and go to (JSON-lines files and stdio).
//! - [`job`]: running planned queries end to end (`ferris query` over files, `ferris run` over
//!   Kafka).
//! - [`shard`]: thread-per-core shards (glommio executors pinned to cores), the per-shard
//!   Kafka loop and the at-least-once offset bookkeeping.
//! - [`metrics`]: per-shard counters, Prometheus text and the `/metrics` endpoint.
//!
//! A record flows: connector -> codec (decode into a [`value::Row`] laid out by the plan) ->
//! operators over a [`value::Batch`] -> codec (encode) -> connector. Names are resolved once, at
//! plan time; nothing on the per-record path looks a column up by name.

pub mod codec;
pub mod connector;
pub mod error;
pub mod exec;
pub mod job;
pub mod metrics;
pub mod shard;
pub mod sql;
pub mod value;

pub use error::{CodecError, EvalError, FerrisError, Position, Result};
