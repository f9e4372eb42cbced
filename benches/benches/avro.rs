//! Placeholder: replaced by the avro codec benchmark.
fn main() {}
