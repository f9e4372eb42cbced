//! Record formats.
//!
//! A codec is built once per plan (names resolved to row slots up front) and then decodes or
//! encodes one record at a time without looking anything up by name.
//!
//! - [`json`]: JSON objects with exact numbers — number text becomes `BIGINT` or an exact
//!   `DECIMAL`, never an `f64`; nested objects and arrays stay JSON text with their digits.
//! - [`avro`]: one Avro datum per value, decoded straight into rows from a compiled schema.
//! - [`protobuf`]: the user's own `.proto` message, compiled at start, wire format walked
//!   straight into rows.
//! - [`registry`]: the Confluent Schema Registry wire format and client; [`registered`]: the
//!   per-shard decoder cache per writer schema id.
//! - [`csv`]: CSV files with a header row (`ferris query`).
//! - [`format`]: a stream's key and value format from its properties, and the [`Decoder`] /
//!   [`Encoder`] each shard builds from it once.

pub mod avro;
pub mod copy;
pub mod csv;
pub mod format;
pub mod json;
pub mod protobuf;
pub mod registered;
pub mod registry;
pub mod strings;

pub use json::{JsonDecoder, JsonEncoder, JsonPath, infer_columns, json_value};

use crate::error::CodecError;
use crate::exec::pool::PoolStats;
use crate::value::{Row, Value};

/// A decoder of record values, built once per shard and job from a
/// [`format::StreamFormat`].
#[derive(Debug, Clone)]
pub enum Decoder {
    /// JSON objects.
    Json(JsonDecoder),
    /// Avro datums of one schema.
    Avro(avro::AvroDecoder),
    /// Protobuf messages of one type.
    Protobuf(protobuf::ProtobufDecoder),
    /// Avro or Protobuf in the Schema Registry wire format.
    Registry(Box<registered::RegistryDecoder>),
}

impl Decoder {
    /// Decodes one record value into `row` (see [`JsonDecoder::decode`] for the row contract).
    #[inline]
    pub fn decode(&mut self, bytes: &[u8], row: &mut Row) -> Result<(), CodecError> {
        match self {
            Decoder::Json(d) => d.decode(bytes, row),
            Decoder::Avro(d) => d.decode(bytes, row),
            Decoder::Protobuf(d) => d.decode(bytes, row),
            Decoder::Registry(d) => d.decode(bytes, row),
        }
    }

    /// Sets up zero-copy pass-through (JSON, plain Avro and plain Protobuf; see
    /// [`JsonDecoder::copy_fields`], [`avro::AvroDecoder::copy_fields`] and
    /// [`protobuf::ProtobufDecoder::copy_fields`]): true if this decoder notes copyable bytes.
    pub fn copy_fields(&mut self, copied: &[bool], copy_only: &[bool]) -> bool {
        match self {
            Decoder::Json(d) => {
                d.copy_fields(copied, copy_only);
                true
            }
            Decoder::Avro(d) => {
                d.copy_fields(copied, copy_only);
                true
            }
            Decoder::Protobuf(d) => {
                d.copy_fields(copied, copy_only);
                true
            }
            Decoder::Registry(_) => false,
        }
    }

    /// The counters of the decoder's string pool (see [`strings::StringPool`]).
    pub fn string_stats(&self) -> PoolStats {
        match self {
            Decoder::Json(d) => d.strings().stats(),
            Decoder::Avro(d) => d.strings().stats(),
            Decoder::Protobuf(d) => d.strings().stats(),
            Decoder::Registry(d) => d.string_stats(),
        }
    }

    /// Switches the string pool off (or on again), for measuring without it; a registry
    /// decoder's pools stay on.
    pub fn set_string_pool(&mut self, enabled: bool) {
        match self {
            Decoder::Json(d) => d.strings_mut().set_enabled(enabled),
            Decoder::Avro(d) => d.strings_mut().set_enabled(enabled),
            Decoder::Protobuf(d) => d.strings_mut().set_enabled(enabled),
            Decoder::Registry(_) => {}
        }
    }

    /// The copyable value text of the last record, per input slot (empty unless set up).
    #[inline]
    pub fn spans(&self) -> &[copy::Span] {
        match self {
            Decoder::Json(d) => d.spans(),
            Decoder::Avro(d) => d.spans(),
            Decoder::Protobuf(d) => d.spans(),
            Decoder::Registry(_) => &[],
        }
    }
}

/// An encoder of record values, built once per shard and job from a
/// [`format::StreamFormat`].
#[derive(Debug, Clone)]
pub enum Encoder {
    /// JSON objects.
    Json(JsonEncoder),
    /// Avro datums of one schema.
    Avro(avro::AvroEncoder),
    /// Protobuf messages of one type.
    Protobuf(protobuf::ProtobufEncoder),
    /// Another encoder's output after a fixed prefix: the Schema Registry wire format's magic
    /// byte and schema id (and, for Protobuf, the message indexes).
    Framed {
        /// The bytes written before each value.
        prefix: Vec<u8>,
        /// The value's encoder.
        inner: Box<Encoder>,
    },
}

impl Encoder {
    /// Appends one encoded record value for `row` to `out`; on error nothing is appended.
    #[inline]
    pub fn encode(&mut self, row: &[Value], out: &mut Vec<u8>) -> Result<(), CodecError> {
        match self {
            Encoder::Json(e) => e.encode(row, out),
            Encoder::Avro(e) => e.encode(row, out),
            Encoder::Protobuf(e) => e.encode(row, out),
            Encoder::Framed { prefix, inner } => {
                let start = out.len();
                out.extend_from_slice(prefix);
                inner.encode(row, out).inspect_err(|_| out.truncate(start))
            }
        }
    }

    /// Sets up zero-copy pass-through (JSON, plain Avro and plain Protobuf; see
    /// [`JsonEncoder::copy_columns`], [`avro::AvroEncoder::copy_columns`] and
    /// [`protobuf::ProtobufEncoder::copy_columns`]): true if this encoder copies bytes. The
    /// caller pairs it with a decoder of the same format, and for Avro and Protobuf only copies
    /// fields whose types are the same on both sides.
    pub fn copy_columns(&mut self, copies: impl IntoIterator<Item = (usize, usize)>) -> bool {
        match self {
            Encoder::Json(e) => {
                e.copy_columns(copies);
                true
            }
            Encoder::Avro(e) => {
                e.copy_columns(copies);
                true
            }
            Encoder::Protobuf(e) => {
                e.copy_columns(copies);
                true
            }
            Encoder::Framed { .. } => false,
        }
    }

    /// [`Encoder::encode`], writing the columns set up with [`Encoder::copy_columns`] from
    /// the decoded record: the value text the decoder noted in `spans` of `source`, else the
    /// slot's value in `input` (see [`JsonEncoder::encode_copying`]).
    #[inline]
    pub fn encode_copying(
        &mut self,
        row: &[Value],
        input: &[Value],
        source: &[u8],
        spans: &[copy::Span],
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        match self {
            Encoder::Json(e) => e.encode_copying(row, input, source, spans, out),
            Encoder::Avro(e) => e.encode_copying(row, input, source, spans, out),
            Encoder::Protobuf(e) => e.encode_copying(row, input, source, spans, out),
            other => other.encode(row, out),
        }
    }
}
