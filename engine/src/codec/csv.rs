//! csv (being written).
