//! GROUP BY aggregation over time windows.

pub mod key;
