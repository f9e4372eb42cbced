//! How a stream's record keys and values are written, as its `WITH` properties say:
//! `'<stream>.format'`, `'<stream>.key.format'`, the schema properties and the Schema Registry
//! URL. A [`StreamFormat`] is resolved once when the application is loaded (schemas parsed and
//! compiled, files read); each shard then builds its own [`Decoder`] or [`Encoder`] from it
//! once, and reuses it for every record (the codec cache: nothing is parsed or looked up per
//! batch).

use crate::codec::json::{JsonDecoder, JsonEncoder, decode_value, write_value};
use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::sql::planner::InputField;
use crate::value::Value;

/// How a record key is read into `_key` and written from it (`'<stream>.key.format'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFormat {
    /// The key's bytes as text (`STRING`; bytes that are not UTF-8 are replaced). Writing
    /// uses the value's SQL text form (`CAST(_key AS STRING)`).
    #[default]
    String,
    /// The key is one JSON value, typed like a JSON field: `"A"` is a STRING, `42` a BIGINT,
    /// `12.50` a DECIMAL, an object or array JSON text. Writing produces the value's JSON.
    Json,
}

impl KeyFormat {
    /// `string` or `json`, in any case.
    pub fn parse(text: &str) -> Result<KeyFormat, String> {
        match text.to_ascii_lowercase().as_str() {
            "string" => Ok(KeyFormat::String),
            "json" => Ok(KeyFormat::Json),
            _ => Err(format!(
                "unknown key format '{text}' (use 'string' or 'json')"
            )),
        }
    }

    /// The `_key` value of a record key.
    pub fn read(self, key: &[u8]) -> Result<Value, CodecError> {
        match self {
            KeyFormat::String => Ok(Value::string(&String::from_utf8_lossy(key))),
            KeyFormat::Json => decode_value(key).map_err(|e| match e {
                CodecError::Malformed { message, .. } => CodecError::Malformed {
                    format: "JSON key",
                    message,
                },
                other => other,
            }),
        }
    }

    /// Writes the record key for `value` into `out` (cleared first); `Ok(false)` for `NULL`,
    /// which means "no key".
    pub fn write(self, value: &Value, out: &mut Vec<u8>) -> Result<bool, CodecError> {
        out.clear();
        if value.is_null() {
            return Ok(false);
        }
        match self {
            KeyFormat::String => match value {
                Value::String(s) => out.extend_from_slice(s.as_bytes()),
                other => {
                    use std::io::Write as _;
                    write!(out, "{other}")
                        .map_err(|e| CodecError::Unencodable(format!("key: {e}")))?;
                }
            },
            KeyFormat::Json => write_value(value, out)?,
        }
        Ok(true)
    }
}

/// How a stream's record values are encoded (`'<stream>.format'`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ValueFormat {
    /// JSON objects with exact numbers (the default).
    #[default]
    Json,
}

/// Everything about a stream's record layout: value format and key format.
#[derive(Debug, Clone, Default)]
pub struct StreamFormat {
    /// The value's format.
    pub value: ValueFormat,
    /// The key's format.
    pub key: KeyFormat,
}

impl StreamFormat {
    /// A decoder for records of this stream, filling the payload slots of `fields`.
    pub fn decoder(&self, fields: &[InputField]) -> Result<Decoder, String> {
        match &self.value {
            ValueFormat::Json => Ok(Decoder::Json(JsonDecoder::new(fields))),
        }
    }

    /// An encoder writing the columns `names`, in order.
    pub fn encoder(&self, names: &[String]) -> Result<Encoder, String> {
        match &self.value {
            ValueFormat::Json => Ok(Encoder::Json(JsonEncoder::new(names))),
        }
    }
}
