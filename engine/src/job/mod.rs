//! Running planned queries end to end.
//!
//! - [`query`]: `ferris query` — one statement over JSON-lines files or in-memory text, bad
//!   records reported with their line numbers and skipped.

pub mod query;

pub use query::{
    InputSpec, QueryOptions, QueryOutcome, QueryStats, RecordIssue, run_query, run_query_on_lines,
};
