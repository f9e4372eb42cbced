//! GROUP BY aggregation over time windows.

pub mod accumulator;
pub mod key;
pub mod watermark;
pub mod window;
