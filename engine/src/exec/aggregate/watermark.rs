//! Watermarks (being written).
