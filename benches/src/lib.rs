//! Shared helpers for the FerrisStreams benchmarks.
