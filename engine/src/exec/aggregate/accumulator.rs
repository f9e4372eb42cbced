//! Aggregate accumulators (being written).
