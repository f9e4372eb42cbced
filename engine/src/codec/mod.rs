//! Record formats.
//!
//! A codec is built once per plan (names resolved to row slots up front) and then decodes or
//! encodes one record at a time without looking anything up by name.
//!
//! - [`json`]: JSON objects with exact numbers — number text becomes `BIGINT` or an exact
//!   `DECIMAL`, never an `f64`; nested objects and arrays stay JSON text with their digits.

pub mod avro;
pub mod csv;
pub mod json;
pub mod protobuf;
pub mod registry;

pub use json::{JsonDecoder, JsonEncoder, JsonPath, infer_columns, json_value};
