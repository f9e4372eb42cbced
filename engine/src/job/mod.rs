//! Running planned queries end to end.
//!
//! - [`query`]: `ferris query` — one statement over JSON-lines files or in-memory text, bad
//!   records reported with their line numbers and skipped.
//! - [`app`]: application files for `ferris run`: `CREATE STREAM` statements and their `WITH`
//!   properties become Kafka jobs.
//! - [`preset`]: performance presets (`'<job>.preset'`, `ferris run --preset`): librdkafka and
//!   engine settings between the engine's defaults and the user's own.
//! - [`run`]: `ferris run` — every job on every shard until stopped.

pub mod app;
pub mod preset;
pub mod query;
pub mod run;

pub use query::{
    InputSpec, QueryOptions, QueryOutcome, QueryStats, RecordIssue, run_query, run_query_on_lines,
};
