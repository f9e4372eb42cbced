//! # ferris-topology
//!
//! Hardware topology and shard layout planning.
