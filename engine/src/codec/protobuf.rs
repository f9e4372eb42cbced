//! protobuf (being written).
