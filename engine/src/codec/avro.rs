//! avro (being written).
