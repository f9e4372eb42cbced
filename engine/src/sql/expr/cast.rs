//! `CAST(x AS T)`.
//!
//! Conversions that lose digits do so only because the user asked (`CAST` is explicit) and
//! round half away from zero; a value that does not fit the target is an error, never clamped.

use std::fmt;
use std::sync::Arc;

use crate::error::EvalError;
use crate::value::{Decimal, DecimalError, Value};

/// The target of a `CAST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastTarget {
    /// `BIGINT` (`INT`, `INTEGER`, `SMALLINT`)
    BigInt,
    /// `DOUBLE` (`FLOAT`, `REAL`, `DOUBLE PRECISION`)
    Double,
    /// `DECIMAL(p, s)` / `NUMERIC(p, s)`; unconstrained keeps the value's scale.
    Decimal {
        /// `(precision, scale)` if given.
        precision_scale: Option<(u8, u8)>,
    },
    /// `STRING` (`VARCHAR`, `TEXT`, `CHAR`)
    String,
    /// `BOOLEAN`
    Boolean,
    /// `TIMESTAMP`
    Timestamp,
}

impl fmt::Display for CastTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CastTarget::BigInt => f.write_str("BIGINT"),
            CastTarget::Double => f.write_str("DOUBLE"),
            CastTarget::Decimal {
                precision_scale: Some((p, s)),
            } => write!(f, "DECIMAL({p},{s})"),
            CastTarget::Decimal {
                precision_scale: None,
            } => f.write_str("DECIMAL"),
            CastTarget::String => f.write_str("STRING"),
            CastTarget::Boolean => f.write_str("BOOLEAN"),
            CastTarget::Timestamp => f.write_str("TIMESTAMP"),
        }
    }
}

impl CastTarget {
    /// Converts `v` (NULL stays NULL).
    pub fn cast(&self, v: Value) -> Result<Value, EvalError> {
        if v.is_null() {
            return Ok(Value::Null);
        }
        let fail = |v: &Value| EvalError::Cast {
            value: quoted(v),
            target: self.to_string(),
        };
        match self {
            CastTarget::BigInt => match &v {
                Value::BigInt(_) => Ok(v),
                Value::Decimal(d) => decimal_to_i64(d).map(Value::BigInt).ok_or_else(|| fail(&v)),
                Value::Double(f) => {
                    let r = f.round();
                    // i64::MIN is exactly -2^63; 2^63 itself is out of range.
                    if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&r) {
                        Ok(Value::BigInt(r as i64))
                    } else {
                        Err(fail(&v))
                    }
                }
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Value::BigInt)
                    .map_err(|_| fail(&v)),
                Value::Boolean(b) => Ok(Value::BigInt(i64::from(*b))),
                Value::Timestamp(ms) => Ok(Value::BigInt(*ms)),
                _ => Err(fail(&v)),
            },
            CastTarget::Double => match &v {
                Value::Double(_) => Ok(v),
                Value::BigInt(i) => Ok(Value::Double(*i as f64)),
                Value::Decimal(d) => Ok(Value::Double(d.to_f64())),
                Value::String(s) => match s.trim().parse::<f64>() {
                    Ok(f) if f.is_finite() => Ok(Value::Double(f)),
                    _ => Err(fail(&v)),
                },
                _ => Err(fail(&v)),
            },
            CastTarget::Decimal { precision_scale } => {
                let d = match &v {
                    Value::Decimal(d) => *d,
                    Value::BigInt(i) => Decimal::from_i64(*i),
                    Value::Double(f) => Decimal::from_f64(*f).map_err(|_| fail(&v))?,
                    Value::String(s) => s.trim().parse::<Decimal>().map_err(|_| fail(&v))?,
                    _ => return Err(fail(&v)),
                };
                match precision_scale {
                    None => Ok(Value::Decimal(d)),
                    Some((p, s)) => {
                        d.to_precision(*p, *s)
                            .map(Value::Decimal)
                            .map_err(|e| match e {
                                DecimalError::PrecisionExceeded { .. } | DecimalError::Overflow => {
                                    EvalError::Overflow(
                                        DecimalError::PrecisionExceeded {
                                            value: d.to_string(),
                                            precision: *p,
                                            scale: *s,
                                        }
                                        .to_string(),
                                    )
                                }
                                other => other.into(),
                            })
                    }
                }
            }
            CastTarget::String => match v {
                Value::String(_) => Ok(v),
                Value::Json(s) => Ok(Value::String(s)),
                other => Ok(Value::String(Arc::from(other.to_string()))),
            },
            CastTarget::Boolean => match &v {
                Value::Boolean(_) => Ok(v),
                Value::BigInt(i) => Ok(Value::Boolean(*i != 0)),
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "t" | "yes" | "y" | "1" | "on" => Ok(Value::Boolean(true)),
                    "false" | "f" | "no" | "n" | "0" | "off" => Ok(Value::Boolean(false)),
                    _ => Err(fail(&v)),
                },
                _ => Err(fail(&v)),
            },
            CastTarget::Timestamp => match &v {
                Value::Timestamp(_) => Ok(v),
                Value::BigInt(ms) => Ok(Value::Timestamp(*ms)),
                Value::String(s) => parse_timestamp(s)
                    .map(Value::Timestamp)
                    .ok_or_else(|| fail(&v)),
                _ => Err(fail(&v)),
            },
        }
    }
}

fn quoted(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// Rounds half away from zero to an integer and converts, if it fits `i64`.
fn decimal_to_i64(d: &Decimal) -> Option<i64> {
    d.round_dp(0).ok()?.to_i64()
}

/// Parses RFC 3339 (`2026-01-02T03:04:05.678Z`, `+02:00` offsets), `YYYY-MM-DD HH:MM:SS[.fff]`
/// (UTC) or `YYYY-MM-DD` (midnight UTC) into epoch milliseconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cast(v: Value, t: CastTarget) -> String {
        match t.cast(v) {
            Ok(v) => format!("{v:?}"),
            Err(e) => format!("error {e}"),
        }
    }

    fn dec(s: &str) -> Value {
        Value::Decimal(s.parse().unwrap())
    }

    #[test]
    fn to_bigint_rounds_half_away_from_zero() {
        assert_eq!(cast(dec("2.5"), CastTarget::BigInt), "BigInt(3)");
        assert_eq!(cast(dec("-2.5"), CastTarget::BigInt), "BigInt(-3)");
        assert_eq!(cast(Value::Double(-2.5), CastTarget::BigInt), "BigInt(-3)");
        assert_eq!(
            cast(Value::string(" 42 "), CastTarget::BigInt),
            "BigInt(42)"
        );
        assert_eq!(
            cast(Value::string("abc"), CastTarget::BigInt),
            "error cannot cast 'abc' to BIGINT"
        );
        assert_eq!(
            cast(Value::Double(1e30), CastTarget::BigInt),
            "error cannot cast 1000000000000000000000000000000 to BIGINT"
        );
    }

    #[test]
    fn to_decimal_checks_precision() {
        let t = CastTarget::Decimal {
            precision_scale: Some((4, 2)),
        };
        assert_eq!(cast(dec("12.345"), t), format!("{:?}", dec("12.35")));
        assert_eq!(
            cast(dec("123.45"), t),
            "error numeric overflow: value 123.45 does not fit DECIMAL(4,2)"
        );
        assert_eq!(
            cast(
                Value::string("12.50"),
                CastTarget::Decimal {
                    precision_scale: None
                }
            ),
            format!("{:?}", dec("12.50"))
        );
    }

    #[test]
    fn to_string_keeps_digits_and_sign() {
        assert_eq!(cast(dec("-0.5"), CastTarget::String), "String(\"-0.5\")");
        assert_eq!(
            cast(Value::Timestamp(1_767_225_600_123), CastTarget::String),
            "String(\"2026-01-01T00:00:00.123Z\")"
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_timestamp("2026-01-01T00:00:00Z"),
            Some(1_767_225_600_000)
        );
        assert_eq!(
            parse_timestamp("2026-01-01T02:00:00+02:00"),
            Some(1_767_225_600_000)
        );
        assert_eq!(
            parse_timestamp("2026-01-01 00:00:00.5"),
            Some(1_767_225_600_500)
        );
        assert_eq!(parse_timestamp("2026-01-01"), Some(1_767_225_600_000));
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
