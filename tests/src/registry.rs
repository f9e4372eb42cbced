//! A Schema Registry compatible test server (being written).
