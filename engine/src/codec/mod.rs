//! Record formats.
//!
//! A codec is built once per plan (names resolved to row slots up front) and then decodes or
//! encodes one record at a time without looking anything up by name.
//!
//! - [`json`]: JSON objects with exact numbers — number text becomes `BIGINT` or an exact
//!   `DECIMAL`, never an `f64`; nested objects and arrays stay JSON text with their digits.

pub mod avro;
pub mod csv;
pub mod format;
pub mod json;
pub mod protobuf;
pub mod registry;

pub use json::{JsonDecoder, JsonEncoder, JsonPath, infer_columns, json_value};

use crate::error::CodecError;
use crate::value::{Row, Value};

/// A decoder of record values, built once per shard and job from a
/// [`format::StreamFormat`].
#[derive(Debug, Clone)]
pub enum Decoder {
    /// JSON objects.
    Json(JsonDecoder),
}

impl Decoder {
    /// Decodes one record value into `row` (see [`JsonDecoder::decode`] for the row contract).
    #[inline]
    pub fn decode(&mut self, bytes: &[u8], row: &mut Row) -> Result<(), CodecError> {
        match self {
            Decoder::Json(d) => d.decode(bytes, row),
        }
    }
}

/// An encoder of record values, built once per shard and job from a
/// [`format::StreamFormat`].
#[derive(Debug, Clone)]
pub enum Encoder {
    /// JSON objects.
    Json(JsonEncoder),
}

impl Encoder {
    /// Appends one encoded record value for `row` to `out`; on error nothing is appended.
    #[inline]
    pub fn encode(&mut self, row: &[Value], out: &mut Vec<u8>) -> Result<(), CodecError> {
        match self {
            Encoder::Json(e) => e.encode(row, out),
        }
    }
}
