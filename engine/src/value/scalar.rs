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
    let mut out = Vec::with_capacity(24);
    write_timestamp(ms, &mut out);
    String::from_utf8(out).unwrap_or_else(|_| ms.to_string())
}

/// Appends `ms` as [`format_timestamp`] writes it, without allocating: years 0000 to 9999 are
/// written digit by digit (days to civil date after Howard Hinnant's `civil_from_days`); other
/// years go through chrono, and times chrono cannot represent as their number.
pub fn write_timestamp(ms: i64, out: &mut Vec<u8>) {
    // 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z in epoch ms.
    const MIN: i64 = -62_167_219_200_000;
    const MAX: i64 = 253_402_300_800_000;
    if !(MIN..MAX).contains(&ms) {
        match chrono::DateTime::from_timestamp_millis(ms) {
            Some(t) => {
                out.extend_from_slice(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().as_bytes())
            }
            None => out.extend_from_slice(ms.to_string().as_bytes()),
        }
        return;
    }
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let digits = |out: &mut Vec<u8>, v: i64, width: u32| {
        for i in (0..width).rev() {
            out.push(b'0' + ((v / 10i64.pow(i)) % 10) as u8);
        }
    };
    digits(out, year, 4);
    out.push(b'-');
    digits(out, month, 2);
    out.push(b'-');
    digits(out, day, 2);
    out.push(b'T');
    digits(out, in_day / 3_600_000, 2);
    out.push(b':');
    digits(out, in_day / 60_000 % 60, 2);
    out.push(b':');
    digits(out, in_day / 1_000 % 60, 2);
    out.push(b'.');
    digits(out, in_day % 1_000, 3);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_form(ms: i64) -> String {
        match chrono::DateTime::from_timestamp_millis(ms) {
            Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            None => ms.to_string(),
        }
    }

    #[test]
    fn timestamps_format_like_chrono_everywhere() {
        let mut cases = vec![
            0,
            -1,
            1_767_225_600_000,
            951_782_400_000, // 2000-02-29
            -62_167_219_200_000,
            -62_167_219_200_001,
            253_402_300_799_999,
            253_402_300_800_000,
            i64::MIN,
            i64::MAX,
        ];
        // A deterministic spread over the whole range of years 0..9999 and beyond.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push((x % 400_000_000_000_000) as i64 - 100_000_000_000_000);
        }
        for ms in cases {
            assert_eq!(format_timestamp(ms), chrono_form(ms), "{ms}");
        }
    }
}
