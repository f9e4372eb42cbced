use std::fmt;

/// The SQL types of FerrisStreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `BOOLEAN`
    Boolean,
    /// `BIGINT`: signed 64-bit integer.
    BigInt,
    /// `DOUBLE`: IEEE 754 binary64; never used for money.
    Double,
    /// `DECIMAL(p, s)`: exact; `precision` is `None` for an unconstrained decimal.
    Decimal {
        /// Total significant digits allowed, if constrained.
        precision: Option<u8>,
        /// Fractional digits, if constrained.
        scale: Option<u8>,
    },
    /// `STRING` (also `VARCHAR`, `TEXT`).
    String,
    /// `TIMESTAMP`: milliseconds since the Unix epoch, UTC.
    Timestamp,
    /// A nested JSON object or array, kept as its text.
    Json,
    /// The type of the `NULL` literal.
    Null,
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Boolean => f.write_str("BOOLEAN"),
            DataType::BigInt => f.write_str("BIGINT"),
            DataType::Double => f.write_str("DOUBLE"),
            DataType::Decimal {
                precision: Some(p),
                scale,
            } => {
                write!(f, "DECIMAL({p},{})", scale.unwrap_or(0))
            }
            DataType::Decimal { .. } => f.write_str("DECIMAL"),
            DataType::String => f.write_str("STRING"),
            DataType::Timestamp => f.write_str("TIMESTAMP"),
            DataType::Json => f.write_str("JSON"),
            DataType::Null => f.write_str("NULL"),
        }
    }
}
