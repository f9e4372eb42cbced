//! Writing the Avro binary encoding: SQL values into top-level fields with checked conversions,
//! and JSON text into nested records, arrays and maps (and into defaults).

use std::fmt;
use std::str::FromStr;

use serde::de::{Deserializer as _, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::read::MAX_DEPTH;
use super::{Node, NodeId, describe};
use crate::value::{Decimal, Value};

type R<T> = Result<T, String>;

/// The error of a `NULL` written to a field without a `null` branch (the caller names the
/// field in its own words).
pub(super) const NOT_NULLABLE: &str = "is not nullable";

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// Appends a zig-zag varint `long`.
#[inline]
pub(super) fn long(v: i64, out: &mut Vec<u8>) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn int(v: i64, out: &mut Vec<u8>) -> R<()> {
    if i32::try_from(v).is_err() {
        return Err(format!("{v} is out of the range of an Avro int"));
    }
    long(v, out);
    Ok(())
}

/// Appends length-prefixed bytes.
#[inline]
fn bytes(b: &[u8], out: &mut Vec<u8>) {
    long(b.len() as i64, out);
    out.extend_from_slice(b);
}

/// Appends one SQL value as the Avro type `id`.
pub(super) fn sql_value(nodes: &[Node], id: NodeId, value: &Value, out: &mut Vec<u8>) -> R<()> {
    let node = &nodes[id];
    if let Node::Union(branches) = node {
        return union(nodes, id, branches, value, out);
    }
    match (node, value) {
        (Node::Null, Value::Null) => Ok(()),
        (_, Value::Null) => Err(NOT_NULLABLE.to_string()),
        (Node::Boolean, Value::Boolean(b)) => {
            out.push(u8::from(*b));
            Ok(())
        }
        (Node::Int, Value::BigInt(v)) => int(*v, out),
        (Node::Int, Value::Decimal(d)) => int(integral(d)?, out),
        (Node::Long, Value::BigInt(v) | Value::Timestamp(v)) => {
            long(*v, out);
            Ok(())
        }
        (Node::Long, Value::Decimal(d)) => {
            long(integral(d)?, out);
            Ok(())
        }
        (Node::Float, Value::Double(d)) => float(*d, out),
        (Node::Float, Value::BigInt(v)) => {
            let f = *v as f32;
            if f as i128 != i128::from(*v) {
                return Err(format!(
                    "BIGINT {v} is not exactly representable as an Avro float"
                ));
            }
            out.extend_from_slice(&f.to_le_bytes());
            Ok(())
        }
        (Node::Double, Value::Double(d)) => {
            out.extend_from_slice(&d.to_le_bytes());
            Ok(())
        }
        (Node::Double, Value::BigInt(v)) => {
            let f = *v as f64;
            if f as i128 != i128::from(*v) {
                return Err(format!(
                    "BIGINT {v} is not exactly representable as an Avro double"
                ));
            }
            out.extend_from_slice(&f.to_le_bytes());
            Ok(())
        }
        (Node::Float | Node::Double, Value::Decimal(d)) => Err(format!(
            "DECIMAL {d} cannot be written to an Avro {}: money never passes through binary \
             floating point (use a decimal or string field)",
            describe(nodes, id)
        )),
        (Node::String, Value::String(s) | Value::Json(s)) => {
            bytes(s.as_bytes(), out);
            Ok(())
        }
        (Node::String, Value::Decimal(d)) => {
            bytes(d.to_string().as_bytes(), out);
            Ok(())
        }
        (Node::Uuid, Value::String(s)) => {
            check_uuid(s)?;
            bytes(s.as_bytes(), out);
            Ok(())
        }
        (Node::Enum(symbols), Value::String(s)) => {
            let i = symbols.iter().position(|sym| **sym == **s).ok_or_else(|| {
                let all: Vec<&str> = symbols.iter().map(|s| &**s).collect();
                format!("unknown enum symbol '{s}' (symbols: {})", all.join(", "))
            })?;
            long(i as i64, out);
            Ok(())
        }
        (
            Node::Decimal {
                precision,
                scale,
                fixed,
            },
            Value::Decimal(_) | Value::BigInt(_),
        ) => {
            let d = match value {
                Value::BigInt(v) => Decimal::from_i64(*v),
                Value::Decimal(d) => *d,
                _ => Decimal::ZERO,
            };
            decimal(&d, *precision, *scale, *fixed, out)
        }
        (Node::BigDecimal, Value::Decimal(d)) => {
            big_decimal(d, out);
            Ok(())
        }
        (Node::BigDecimal, Value::BigInt(v)) => {
            big_decimal(&Decimal::from_i64(*v), out);
            Ok(())
        }
        (Node::Date, Value::Timestamp(ms)) => {
            if ms.rem_euclid(DAY_MS) != 0 {
                return Err(format!(
                    "TIMESTAMP {} is not at midnight UTC, so it is not an Avro date",
                    value
                ));
            }
            int(ms.div_euclid(DAY_MS), out)
        }
        (Node::TimeMillis, Value::BigInt(v)) => {
            if !(0..DAY_MS).contains(v) {
                return Err(format!("{v} ms is not a time of day (0..86400000)"));
            }
            int(*v, out)
        }
        (Node::TimeMicros, Value::BigInt(v)) => {
            if !(0..DAY_MS * 1000).contains(v) {
                return Err(format!("{v} µs is not a time of day (0..86400000000)"));
            }
            long(*v, out);
            Ok(())
        }
        (Node::Timestamp(unit), Value::Timestamp(ms)) => {
            let v = ms.checked_mul(unit.per_milli()).ok_or_else(|| {
                format!(
                    "TIMESTAMP {} overflows an Avro {}",
                    value,
                    describe(nodes, id)
                )
            })?;
            long(v, out);
            Ok(())
        }
        (Node::Record(_) | Node::Array(_) | Node::Map(_), Value::Json(text)) => {
            let raw: &RawValue =
                serde_json::from_str(text).map_err(|e| format!("invalid JSON text: {e}"))?;
            json_value(nodes, id, raw.get(), Mode::Data, out, 0)
        }
        (Node::Bytes | Node::Fixed(_) | Node::Duration, _) => Err(format!(
            "cannot write {} to an Avro {} (FerrisStreams has no binary type)",
            sql_type(value),
            describe(nodes, id)
        )),
        _ => Err(format!(
            "cannot write {} {} to an Avro {}",
            sql_type(value),
            value,
            describe(nodes, id)
        )),
    }
}

fn sql_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NULL",
        Value::Boolean(_) => "BOOLEAN",
        Value::BigInt(_) => "BIGINT",
        Value::Double(_) => "DOUBLE",
        Value::Decimal(_) => "DECIMAL",
        Value::String(_) => "STRING",
        Value::Timestamp(_) => "TIMESTAMP",
        Value::Json(_) => "JSON",
    }
}

/// Whether `node` is where a value of this SQL type naturally goes.
fn natural(node: &Node, value: &Value) -> bool {
    matches!(
        (node, value),
        (Node::Boolean, Value::Boolean(_))
            | (Node::Int | Node::Long, Value::BigInt(_))
            | (Node::Float | Node::Double, Value::Double(_))
            | (Node::Decimal { .. } | Node::BigDecimal, Value::Decimal(_))
            | (Node::String | Node::Enum(_) | Node::Uuid, Value::String(_))
            | (Node::Timestamp(_) | Node::Date, Value::Timestamp(_))
            | (
                Node::Record(_) | Node::Array(_) | Node::Map(_),
                Value::Json(_)
            )
    )
}

/// A SQL value into a union: `NULL` into its `null` branch, anything else into the first
/// natural branch that takes it, else the first other branch that takes it.
fn union(
    nodes: &[Node],
    id: NodeId,
    branches: &[NodeId],
    value: &Value,
    out: &mut Vec<u8>,
) -> R<()> {
    if value.is_null() {
        let i = branches
            .iter()
            .position(|&b| matches!(nodes[b], Node::Null))
            .ok_or_else(|| NOT_NULLABLE.to_string())?;
        long(i as i64, out);
        return Ok(());
    }
    let start = out.len();
    let mut first_error = None;
    let mut candidates = 0;
    for pass_natural in [true, false] {
        for (i, &b) in branches.iter().enumerate() {
            if matches!(nodes[b], Node::Null) || natural(&nodes[b], value) != pass_natural {
                continue;
            }
            candidates += 1;
            long(i as i64, out);
            match sql_value(nodes, b, value, out) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    out.truncate(start);
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    let error = first_error.unwrap_or_default();
    if candidates == 1 {
        return Err(error);
    }
    Err(format!(
        "no branch of {} takes {} {value} ({error})",
        describe(nodes, id),
        sql_type(value)
    ))
}

/// The integer value of a decimal, when it is one and fits `i64`.
fn integral(d: &Decimal) -> R<i64> {
    let p = 10i128.pow(u32::from(d.scale()));
    if d.mantissa() % p != 0 {
        return Err(format!("DECIMAL {d} is not an integer"));
    }
    i64::try_from(d.mantissa() / p)
        .map_err(|_| format!("DECIMAL {d} is out of the range of a long"))
}

/// A double into a float: rounded to the nearest `f32` (the schema chose binary floating
/// point), but a finite value too large for `f32` is refused rather than made infinite.
fn float(d: f64, out: &mut Vec<u8>) -> R<()> {
    let f = d as f32;
    if d.is_finite() && !f.is_finite() {
        return Err(format!("DOUBLE {d:?} overflows an Avro float"));
    }
    out.extend_from_slice(&f.to_le_bytes());
    Ok(())
}

/// `d` at `scale` without rounding: growing the scale is exact; shrinking it drops only zero
/// digits.
fn rescale_exact(d: &Decimal, scale: u8) -> R<Decimal> {
    if scale >= d.scale() {
        return d
            .rescale(scale)
            .map_err(|_| format!("DECIMAL {d} does not fit 38 digits at scale {scale}"));
    }
    let p = 10i128.pow(u32::from(d.scale() - scale));
    if d.mantissa() % p != 0 {
        return Err(format!(
            "DECIMAL {d} has more than {scale} fractional digits: writing it at scale {scale} \
             would round it"
        ));
    }
    Decimal::new(d.mantissa() / p, scale).map_err(|e| e.to_string())
}

/// The shortest big-endian two's complement form of `m` (at least one byte).
pub(super) fn minimal_twos_complement(m: i128) -> ([u8; 16], usize) {
    let be = m.to_be_bytes();
    let mut start = 0;
    while start < 15
        && ((be[start] == 0x00 && be[start + 1] & 0x80 == 0)
            || (be[start] == 0xff && be[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    (be, start)
}

/// Appends a `decimal(precision, scale)` on `bytes` (`fixed: None`) or `fixed(n)`.
fn decimal(
    d: &Decimal,
    precision: u8,
    scale: u8,
    fixed: Option<usize>,
    out: &mut Vec<u8>,
) -> R<()> {
    let r = rescale_exact(d, scale)?;
    if r.mantissa().unsigned_abs() >= 10u128.pow(u32::from(precision)) {
        return Err(format!(
            "DECIMAL {d} does not fit decimal({precision},{scale})"
        ));
    }
    let (be, start) = minimal_twos_complement(r.mantissa());
    let digits = &be[start..];
    match fixed {
        None => bytes(digits, out),
        Some(n) => {
            if digits.len() > n {
                return Err(format!(
                    "DECIMAL {d} needs {} bytes, more than the fixed size {n}",
                    digits.len()
                ));
            }
            let fill = if r.mantissa() < 0 { 0xff } else { 0x00 };
            out.resize(out.len() + (n - digits.len()), fill);
            out.extend_from_slice(digits);
        }
    }
    Ok(())
}

/// Appends a `big-decimal`: length-prefixed content of the unscaled bytes and the scale.
fn big_decimal(d: &Decimal, out: &mut Vec<u8>) {
    let (be, start) = minimal_twos_complement(d.mantissa());
    let digits = &be[start..];
    let mut content = Vec::with_capacity(digits.len() + 2);
    bytes(digits, &mut content);
    long(i64::from(d.scale()), &mut content);
    bytes(&content, out);
}

/// Checks the 8-4-4-4-12 hex form of a UUID.
fn check_uuid(s: &str) -> R<()> {
    let b = s.as_bytes();
    let ok = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if ok {
        Ok(())
    } else {
        Err(format!("'{s}' is not a UUID (8-4-4-4-12 hex digits)"))
    }
}

/// Whose JSON is being written: a value of the data, or a default from the schema (where a
/// union takes its first branch and `bytes`/`decimal` are strings of ISO-8859-1 characters, as
/// the Avro specification says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Data,
    Default,
}

/// Appends a field's default (`text` is its JSON).
pub(super) fn default_value(nodes: &[Node], id: NodeId, text: &str, out: &mut Vec<u8>) -> R<()> {
    let raw: &RawValue = serde_json::from_str(text).map_err(|e| e.to_string())?;
    json_value(nodes, id, raw.get(), Mode::Default, out, 0)
}

/// The first characters of a JSON value, for messages.
fn excerpt(raw: &str) -> String {
    let mut s: String = raw.chars().take(40).collect();
    if s.len() < raw.len() {
        s.push('…');
    }
    s
}

fn expected(what: &str, raw: &str) -> String {
    format!("expected {what}, found {}", excerpt(raw))
}

/// A JSON string of exactly `n` ISO-8859-1 characters as `fixed(n)` bytes.
fn fixed_bytes(raw: &str, n: usize, out: &mut Vec<u8>) -> R<()> {
    let b = json_latin1(raw)?;
    if b.len() != n {
        return Err(format!("{} bytes for a fixed of size {n}", b.len()));
    }
    out.extend_from_slice(&b);
    Ok(())
}

/// A JSON integer, read exactly from its text.
fn json_integer(raw: &str) -> R<i64> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return raw
            .parse::<i64>()
            .map_err(|_| format!("{raw} is out of the range of a long"));
    }
    if !matches!(raw.as_bytes().first(), Some(b'-' | b'0'..=b'9')) {
        return Err(expected("a JSON integer", raw));
    }
    let d = Decimal::from_str(raw).map_err(|_| format!("{raw} is not an integer"))?;
    integral(&d)
}

/// A JSON number read exactly from its text, or a JSON string holding a decimal literal.
fn json_decimal(raw: &str, mode: Mode) -> R<Decimal> {
    if raw.starts_with('"') {
        let s = json_string(raw)?;
        return Decimal::from_str(s.trim()).map_err(|_| format!("'{s}' is not a decimal number"));
    }
    if mode == Mode::Default && raw.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        // The schema parser has already read this number as an f64.
        return Err(
            "a decimal default must be a string of its unscaled bytes or an integer".to_string(),
        );
    }
    Decimal::from_str(raw).map_err(|_| format!("{} is not an exact DECIMAL", excerpt(raw)))
}

/// The content of a JSON string.
fn json_string(raw: &str) -> R<String> {
    if !raw.starts_with('"') {
        return Err(expected("a JSON string", raw));
    }
    serde_json::from_str::<String>(raw).map_err(|e| e.to_string())
}

/// A JSON string of ISO-8859-1 characters as bytes.
fn json_latin1(raw: &str) -> R<Vec<u8>> {
    json_string(raw)?
        .chars()
        .map(|c| u8::try_from(u32::from(c)).map_err(|_| format!("character {c:?} is not a byte")))
        .collect()
}

fn json_f64(raw: &str) -> R<f64> {
    match raw {
        "\"NaN\"" => return Ok(f64::NAN),
        "\"Infinity\"" => return Ok(f64::INFINITY),
        "\"-Infinity\"" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    if !matches!(raw.as_bytes().first(), Some(b'-' | b'0'..=b'9')) {
        return Err(expected("a JSON number", raw));
    }
    // Only float and double fields come here: serde_json rounds the text to the nearest f64.
    serde_json::from_str::<f64>(raw).map_err(|e| e.to_string())
}

/// The entries of a JSON object, in order.
fn json_entries(raw: &str) -> R<Vec<(String, &str)>> {
    struct Entries;
    impl<'de> Visitor<'de> for Entries {
        type Value = Vec<(String, &'de str)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                let value: &'de RawValue = map.next_value()?;
                entries.push((key, value.get()));
            }
            Ok(entries)
        }
    }
    if !raw.starts_with('{') {
        return Err(expected("a JSON object", raw));
    }
    serde_json::Deserializer::from_str(raw)
        .deserialize_map(Entries)
        .map_err(|e| e.to_string())
}

/// Appends the JSON value `raw` (valid JSON text) as the Avro type `id`.
fn json_value(
    nodes: &[Node],
    id: NodeId,
    raw: &str,
    mode: Mode,
    out: &mut Vec<u8>,
    depth: usize,
) -> R<()> {
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    let is_null = raw == "null";
    match &nodes[id] {
        Node::Union(branches) => {
            if mode == Mode::Default {
                // A union's default is a value of its first branch.
                long(0, out);
                return match branches.first() {
                    Some(&b) => json_value(nodes, b, raw, mode, out, depth),
                    None => Err("an empty union has no value".to_string()),
                };
            }
            if is_null {
                let i = branches
                    .iter()
                    .position(|&b| matches!(nodes[b], Node::Null))
                    .ok_or_else(|| format!("null, but {} is not nullable", describe(nodes, id)))?;
                long(i as i64, out);
                return Ok(());
            }
            let start = out.len();
            let mut first_error = None;
            let mut candidates = 0;
            for (i, &b) in branches.iter().enumerate() {
                if matches!(nodes[b], Node::Null) {
                    continue;
                }
                candidates += 1;
                long(i as i64, out);
                match json_value(nodes, b, raw, mode, out, depth) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        out.truncate(start);
                        first_error.get_or_insert(e);
                    }
                }
            }
            let error = first_error.unwrap_or_default();
            if candidates == 1 {
                return Err(error);
            }
            Err(format!(
                "no branch of {} takes {} ({error})",
                describe(nodes, id),
                excerpt(raw)
            ))
        }
        Node::Null if is_null => Ok(()),
        _ if is_null => Err(format!("null, but {} is not nullable", describe(nodes, id))),
        Node::Null => Err(expected("null", raw)),
        Node::Boolean => match raw {
            "true" => {
                out.push(1);
                Ok(())
            }
            "false" => {
                out.push(0);
                Ok(())
            }
            _ => Err(expected("a JSON boolean", raw)),
        },
        Node::Int | Node::Date | Node::TimeMillis => int(json_integer(raw)?, out),
        Node::Long | Node::TimeMicros | Node::Timestamp(_) => {
            long(json_integer(raw)?, out);
            Ok(())
        }
        Node::Float => float(json_f64(raw)?, out),
        Node::Double => {
            out.extend_from_slice(&json_f64(raw)?.to_le_bytes());
            Ok(())
        }
        Node::String => {
            bytes(json_string(raw)?.as_bytes(), out);
            Ok(())
        }
        Node::Uuid => {
            let s = json_string(raw)?;
            check_uuid(&s)?;
            bytes(s.as_bytes(), out);
            Ok(())
        }
        Node::Enum(_) => {
            let s = json_string(raw)?;
            sql_value(nodes, id, &Value::string(&s), out)
        }
        Node::Bytes => {
            bytes(&json_latin1(raw)?, out);
            Ok(())
        }
        Node::Fixed(n) => fixed_bytes(raw, *n, out),
        Node::Duration => fixed_bytes(raw, 12, out),
        Node::Decimal { fixed, .. } => {
            if mode == Mode::Default && raw.starts_with('"') {
                // The Avro specification writes a decimal default as its unscaled bytes.
                let b = json_latin1(raw)?;
                super::read::twos_complement(&b)?;
                return match fixed {
                    Some(n) => fixed_bytes(raw, *n, out),
                    None => {
                        bytes(&b, out);
                        Ok(())
                    }
                };
            }
            sql_value(nodes, id, &Value::Decimal(json_decimal(raw, mode)?), out)
        }
        Node::BigDecimal => sql_value(nodes, id, &Value::Decimal(json_decimal(raw, mode)?), out),
        Node::Array(item) => {
            if !raw.starts_with('[') {
                return Err(expected("a JSON array", raw));
            }
            let items: Vec<&RawValue> = serde_json::from_str(raw).map_err(|e| e.to_string())?;
            if !items.is_empty() {
                long(items.len() as i64, out);
                for (i, v) in items.iter().enumerate() {
                    json_value(nodes, *item, v.get(), mode, out, depth + 1)
                        .map_err(|e| format!("item {i}: {e}"))?;
                }
            }
            long(0, out);
            Ok(())
        }
        Node::Map(item) => {
            let entries = json_entries(raw)?;
            if !entries.is_empty() {
                long(entries.len() as i64, out);
                for (key, v) in &entries {
                    bytes(key.as_bytes(), out);
                    json_value(nodes, *item, v, mode, out, depth + 1)
                        .map_err(|e| format!("key {key}: {e}"))?;
                }
            }
            long(0, out);
            Ok(())
        }
        Node::Record(fields) => {
            let entries = json_entries(raw)?;
            if let Some((key, _)) = entries
                .iter()
                .find(|(k, _)| !fields.iter().any(|f| *f.name == **k))
            {
                let names: Vec<&str> = fields.iter().map(|f| &*f.name).collect();
                return Err(format!(
                    "key {key} is not a field of the record (fields: {})",
                    names.join(", ")
                ));
            }
            for f in fields.iter() {
                // The last occurrence of a repeated key wins, as in the JSON decoder.
                let found = entries.iter().rev().find(|(k, _)| **k == *f.name);
                let result = match (found, &f.default) {
                    (Some((_, v)), _) => json_value(nodes, f.node, v, mode, out, depth + 1),
                    (None, Some(default)) => {
                        let raw: &RawValue =
                            serde_json::from_str(default).map_err(|e| e.to_string())?;
                        json_value(nodes, f.node, raw.get(), Mode::Default, out, depth + 1)
                    }
                    (None, None) => json_value(nodes, f.node, "null", Mode::Data, out, depth + 1)
                        .map_err(|_| "missing, without a default, and not nullable".to_string()),
                };
                result.map_err(|e| format!("key {}: {e}", f.name))?;
            }
            Ok(())
        }
    }
}
