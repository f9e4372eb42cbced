use std::fmt;
use std::sync::Arc;

use super::{DataType, Decimal};

/// One SQL value. Cloning is cheap: strings and JSON are reference counted.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// `BOOLEAN`
    Boolean(bool),
    /// `BIGINT`
    BigInt(i64),
    /// `DOUBLE`
    Double(f64),
    /// `DECIMAL`, exact.
    Decimal(Decimal),
    /// `STRING`
    String(Arc<str>),
    /// `TIMESTAMP` in epoch milliseconds (UTC).
    Timestamp(i64),
    /// A nested JSON object or array, as compact JSON text exactly as read (numbers keep their
    /// digits).
    Json(Arc<str>),
}

impl Value {
    /// The value's type (`Null` for `NULL`).
    pub fn data_type(&self) -> DataType {
        match self {
            Value::Null => DataType::Null,
            Value::Boolean(_) => DataType::Boolean,
            Value::BigInt(_) => DataType::BigInt,
            Value::Double(_) => DataType::Double,
            Value::Decimal(_) => DataType::Decimal {
                precision: None,
                scale: None,
            },
            Value::String(_) => DataType::String,
            Value::Timestamp(_) => DataType::Timestamp,
            Value::Json(_) => DataType::Json,
        }
    }

    /// True for SQL `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A string value.
    pub fn string(s: &str) -> Value {
        Value::String(Arc::from(s))
    }
}

impl fmt::Display for Value {
    /// The SQL text form: what `CAST(v AS STRING)` gives (timestamps as ISO-8601 UTC with
    /// milliseconds, JSON as its text, NULL as `NULL`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::BigInt(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::String(s) => f.write_str(s),
            Value::Timestamp(ms) => f.write_str(&format_timestamp(*ms)),
            Value::Json(j) => f.write_str(j),
        }
    }
}

/// Formats epoch milliseconds as ISO-8601 UTC with millisecond precision
/// (`2026-01-02T03:04:05.678Z`).
pub fn format_timestamp(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => ms.to_string(),
    }
}
