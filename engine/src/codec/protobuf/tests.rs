//! Protobuf codec tests.
