//! Placeholder: replaced by the protobuf codec benchmark.
fn main() {}
