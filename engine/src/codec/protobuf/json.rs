//! JSON text for the fields that have no SQL type of their own (nested messages, repeated
//! fields, maps), both ways, with exact numbers; and the conversions of the well-known money
//! and time messages shared by the decoder and the encoder.
//!
//! These paths go through `prost_reflect::DynamicMessage`: they are rare on the data path, and
//! the reflection library handles packed and unpacked lists, map entries and message merging.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use prost_reflect::Value as PValue;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage,
};
use serde_json::value::RawValue;

use super::{Special, field_list};
use crate::value::{Decimal, write_timestamp};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// `google.protobuf.Timestamp` as epoch milliseconds, rounding sub-millisecond nanos down.
pub(crate) fn timestamp_millis(seconds: i64, nanos: i64) -> Result<i64, String> {
    if !(0..NANOS_PER_SECOND).contains(&nanos) {
        return Err(format!(
            "google.protobuf.Timestamp nanos {nanos} outside 0..999999999"
        ));
    }
    seconds
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(nanos / 1_000_000))
        .ok_or_else(|| {
            format!("google.protobuf.Timestamp seconds {seconds} outside the TIMESTAMP range")
        })
}

/// `google.type.Money` as JSON text: `{"currency_code":"USD","amount":12.5}`, the amount
/// exact with trailing zeros removed.
pub(crate) fn money_json(currency: &str, units: i64, nanos: i64) -> Result<String, String> {
    if nanos.abs() >= NANOS_PER_SECOND {
        return Err(format!(
            "google.type.Money nanos {nanos} outside -999999999..999999999"
        ));
    }
    if (units > 0 && nanos < 0) || (units < 0 && nanos > 0) {
        return Err(format!(
            "google.type.Money units {units} and nanos {nanos} have opposite signs"
        ));
    }
    let amount = Decimal::new(
        i128::from(units) * i128::from(NANOS_PER_SECOND) + i128::from(nanos),
        9,
    )
    .map_err(|e| e.to_string())?
    .normalize();
    let mut out = String::from("{\"currency_code\":");
    push_str(currency, &mut out);
    let _ = write!(out, ",\"amount\":{amount}}}");
    Ok(out)
}

/// The JSON text of `field` of `message` (an absent list is `[]`, an absent map `{}`).
pub(crate) fn field_json(
    message: &DynamicMessage,
    field: &FieldDescriptor,
) -> Result<String, String> {
    let mut out = String::new();
    write_field(&message.get_field(field), field, &mut out)?;
    Ok(out)
}

fn write_field(value: &PValue, field: &FieldDescriptor, out: &mut String) -> Result<(), String> {
    let kind = field.kind();
    if field.is_map() {
        let Kind::Message(entry) = &kind else {
            return Err(format!(
                "map field '{}' without an entry type",
                field.name()
            ));
        };
        let value_kind = entry.map_entry_value_field().kind();
        let Some(map) = value.as_map() else {
            return Err(format!("field '{}' is not a map", field.name()));
        };
        let mut entries: Vec<(&MapKey, &PValue)> = map.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        out.push('{');
        for (i, (key, v)) in entries.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let key_text = match key {
                MapKey::Bool(b) => b.to_string(),
                MapKey::I32(n) => n.to_string(),
                MapKey::I64(n) => n.to_string(),
                MapKey::U32(n) => n.to_string(),
                MapKey::U64(n) => n.to_string(),
                MapKey::String(s) => s.clone(),
            };
            push_str(&key_text, out);
            out.push(':');
            write_single(v, &value_kind, out)?;
        }
        out.push('}');
        return Ok(());
    }
    if field.is_list() {
        let Some(list) = value.as_list() else {
            return Err(format!("field '{}' is not a list", field.name()));
        };
        out.push('[');
        for (i, v) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_single(v, &kind, out)?;
        }
        out.push(']');
        return Ok(());
    }
    write_single(value, &kind, out)
}

fn write_single(value: &PValue, kind: &Kind, out: &mut String) -> Result<(), String> {
    match value {
        PValue::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        PValue::I32(n) => {
            let _ = write!(out, "{n}");
        }
        PValue::I64(n) => {
            let _ = write!(out, "{n}");
        }
        PValue::U32(n) => {
            let _ = write!(out, "{n}");
        }
        PValue::U64(n) => {
            let _ = write!(out, "{n}");
        }
        PValue::F32(f) => push_float(f.is_finite(), *f < 0.0, format_args!("{f:?}"), out),
        PValue::F64(f) => push_float(f.is_finite(), *f < 0.0, format_args!("{f:?}"), out),
        PValue::String(s) => push_str(s, out),
        PValue::Bytes(b) => {
            out.push('"');
            base64(b, out);
            out.push('"');
        }
        PValue::EnumNumber(n) => match kind {
            Kind::Enum(e) => match e.get_value(*n) {
                Some(v) => push_str(v.name(), out),
                None => {
                    let _ = write!(out, "{n}");
                }
            },
            _ => {
                let _ = write!(out, "{n}");
            }
        },
        PValue::Message(m) => write_message(m, out)?,
        PValue::List(_) | PValue::Map(_) => {
            return Err("a list or map where a single value belongs".to_string());
        }
    }
    Ok(())
}

/// A finite float as its shortest round-trip text; NaN and infinities as the strings the
/// proto3 JSON mapping uses.
fn push_float(finite: bool, negative: bool, text: std::fmt::Arguments<'_>, out: &mut String) {
    if finite {
        let _ = out.write_fmt(text);
    } else {
        let s = out.len();
        let _ = out.write_fmt(text);
        let nan = out[s..].contains("NaN");
        out.truncate(s);
        out.push_str(match (nan, negative) {
            (true, _) => "\"NaN\"",
            (false, true) => "\"-Infinity\"",
            (false, false) => "\"Infinity\"",
        });
    }
}

fn write_message(m: &DynamicMessage, out: &mut String) -> Result<(), String> {
    let desc = m.descriptor();
    let field = |n: u32| desc.get_field(n).map(|f| m.get_field(&f).into_owned());
    match Special::of(&desc) {
        Some(Special::Decimal) => {
            let text = field(1).and_then(|v| v.as_str().map(str::to_string));
            let text = text.unwrap_or_default();
            let d = Decimal::from_str(&text).map_err(|e| {
                format!("google.type.Decimal value '{text}' is not an exact decimal ({e})")
            })?;
            let _ = write!(out, "{d}");
        }
        Some(Special::Timestamp) => {
            let seconds = field(1).and_then(|v| v.as_i64()).unwrap_or(0);
            let nanos = field(2).and_then(|v| v.as_i32()).unwrap_or(0);
            let ms = timestamp_millis(seconds, i64::from(nanos))?;
            let mut text = Vec::new();
            write_timestamp(ms, &mut text);
            let mut text = String::from_utf8(text).map_err(|e| e.to_string())?;
            let sub_ms = nanos % 1_000_000;
            if sub_ms != 0 && text.ends_with('Z') {
                text.pop();
                let _ = write!(text, "{sub_ms:06}Z");
            }
            push_str(&text, out);
        }
        Some(Special::Money) => {
            let currency = field(1).and_then(|v| v.as_str().map(str::to_string));
            let units = field(2).and_then(|v| v.as_i64()).unwrap_or(0);
            let nanos = field(3).and_then(|v| v.as_i32()).unwrap_or(0);
            out.push_str(&money_json(
                &currency.unwrap_or_default(),
                units,
                i64::from(nanos),
            )?);
        }
        Some(Special::Wrapper(_)) => match desc.get_field(1) {
            Some(f) => write_single(&m.get_field(&f), &f.kind(), out)?,
            None => out.push_str("null"),
        },
        None => {
            out.push('{');
            let mut first = true;
            for f in desc.fields() {
                if f.supports_presence() && !m.has_field(&f) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                push_str(f.name(), out);
                out.push(':');
                write_field(&m.get_field(&f), &f, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Appends `s` as a quoted JSON string.
pub(crate) fn push_str(s: &str, out: &mut String) {
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        // Serializing a str cannot fail; keep the text rather than lose it.
        Err(_) => {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (the proto3 JSON form of `bytes`).
fn base64(bytes: &[u8], out: &mut String) {
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

/// Decodes standard or URL-safe base64, padded or not.
fn unbase64(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return Err(format!("invalid base64 character '{}'", c as char)),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

/// The value of `field` written as the JSON text `text` (a nested message, a list, a map, or a
/// single value), parsed against the descriptor with exact numbers.
pub(crate) fn field_from_json(text: &str, field: &FieldDescriptor) -> Result<PValue, String> {
    let raw: &RawValue =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON text: {e}"))?;
    from_json_field(raw.get(), field)
}

fn from_json_field(raw: &str, field: &FieldDescriptor) -> Result<PValue, String> {
    let kind = field.kind();
    if field.is_map() {
        let Kind::Message(entry) = &kind else {
            return Err(format!(
                "map field '{}' without an entry type",
                field.name()
            ));
        };
        let key_kind = entry.map_entry_key_field().kind();
        let value_kind = entry.map_entry_value_field().kind();
        let object = object(raw)?;
        let map = object
            .into_iter()
            .map(|(k, v)| {
                Ok((
                    map_key(&k, &key_kind)?,
                    from_json_single(v.get(), &value_kind)?,
                ))
            })
            .collect::<Result<_, String>>()?;
        return Ok(PValue::Map(map));
    }
    if field.is_list() {
        let items: Vec<&RawValue> = serde_json::from_str(raw)
            .map_err(|_| format!("expected a JSON array, found {}", excerpt(raw)))?;
        let list = items
            .iter()
            .map(|v| from_json_single(v.get(), &kind))
            .collect::<Result<Vec<_>, String>>()?;
        return Ok(PValue::List(list));
    }
    from_json_single(raw, &kind)
}

fn excerpt(raw: &str) -> String {
    if raw.len() <= 40 {
        raw.to_string()
    } else {
        let end = (0..=40)
            .rev()
            .find(|&i| raw.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}...", &raw[..end])
    }
}

fn object(raw: &str) -> Result<BTreeMap<String, &RawValue>, String> {
    serde_json::from_str(raw).map_err(|_| format!("expected a JSON object, found {}", excerpt(raw)))
}

fn string(raw: &str) -> Result<String, String> {
    serde_json::from_str(raw).map_err(|_| format!("expected a JSON string, found {}", excerpt(raw)))
}

fn map_key(key: &str, kind: &Kind) -> Result<MapKey, String> {
    let int = || integer(key);
    Ok(match kind {
        Kind::String => MapKey::String(key.to_string()),
        Kind::Bool => match key {
            "true" => MapKey::Bool(true),
            "false" => MapKey::Bool(false),
            _ => return Err(format!("map key '{key}' is not a bool")),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(narrow(int()?, "int32")?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(narrow(int()?, "int64")?),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(narrow(int()?, "uint32")?),
        Kind::Uint64 | Kind::Fixed64 => MapKey::U64(narrow(int()?, "uint64")?),
        _ => return Err(format!("map key '{key}' of an unsupported key type")),
    })
}

/// An integer from number text (or a quoted number, as proto3 JSON writes 64-bit integers);
/// `12.0` and `1e3` are integers, `12.5` is not.
fn integer(text: &str) -> Result<i128, String> {
    let t = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if let Ok(i) = t.parse::<i128>() {
        return Ok(i);
    }
    let d = Decimal::from_str(t).map_err(|_| format!("{text} is not an integer"))?;
    let n = d.normalize();
    if n.scale() != 0 {
        return Err(format!("{text} is not an integer"));
    }
    Ok(n.mantissa())
}

fn narrow<T: TryFrom<i128>>(v: i128, kind: &str) -> Result<T, String> {
    T::try_from(v).map_err(|_| format!("{v} is out of range for {kind}"))
}

fn from_json_single(raw: &str, kind: &Kind) -> Result<PValue, String> {
    Ok(match kind {
        Kind::Message(m) => PValue::Message(message_from_json(raw, m)?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => PValue::I32(narrow(integer(raw)?, "int32")?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => PValue::I64(narrow(integer(raw)?, "int64")?),
        Kind::Uint32 | Kind::Fixed32 => PValue::U32(narrow(integer(raw)?, "uint32")?),
        Kind::Uint64 | Kind::Fixed64 => PValue::U64(narrow(integer(raw)?, "uint64")?),
        Kind::Double => PValue::F64(float(raw)?),
        Kind::Float => {
            let f = float(raw)?;
            let narrowed = f as f32;
            if f.is_finite() && !narrowed.is_finite() {
                return Err(format!("{raw} is out of range for float"));
            }
            PValue::F32(narrowed)
        }
        Kind::Bool => match raw {
            "true" => PValue::Bool(true),
            "false" => PValue::Bool(false),
            _ => return Err(format!("expected true or false, found {}", excerpt(raw))),
        },
        Kind::String => PValue::String(string(raw)?),
        Kind::Bytes => PValue::Bytes(unbase64(&string(raw)?)?.into()),
        Kind::Enum(e) => {
            if raw.starts_with('"') {
                let name = string(raw)?;
                let v = e
                    .get_value_by_name(&name)
                    .ok_or_else(|| format!("'{name}' is not a value of enum {}", e.full_name()))?;
                PValue::EnumNumber(v.number())
            } else {
                PValue::EnumNumber(narrow(integer(raw)?, "an enum")?)
            }
        }
    })
}

/// A JSON number (or the strings `NaN`, `Infinity`, `-Infinity`) for a `float`/`double` field.
/// The field is binary floating point by its declaration, so the nearest value is taken.
fn float(raw: &str) -> Result<f64, String> {
    match raw {
        "\"NaN\"" => return Ok(f64::NAN),
        "\"Infinity\"" => return Ok(f64::INFINITY),
        "\"-Infinity\"" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let t = raw
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(raw);
    serde_json::from_str::<f64>(t).map_err(|_| format!("expected a number, found {}", excerpt(raw)))
}

/// An exact decimal from a JSON number or a quoted number.
fn decimal(raw: &str) -> Result<Decimal, String> {
    let t = raw
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(raw);
    Decimal::from_str(t).map_err(|e| format!("{} is not an exact decimal ({e})", excerpt(raw)))
}

fn set(m: &mut DynamicMessage, number: u32, value: PValue) -> Result<(), String> {
    let desc = m.descriptor();
    let f = desc
        .get_field(number)
        .ok_or_else(|| format!("{} has no field {number}", desc.full_name()))?;
    m.try_set_field(&f, value).map_err(|e| e.to_string())
}

/// A `google.type.Decimal` holding `d`'s text (scale kept).
pub(crate) fn decimal_message(
    desc: &MessageDescriptor,
    d: &Decimal,
) -> Result<DynamicMessage, String> {
    let mut m = DynamicMessage::new(desc.clone());
    set(&mut m, 1, PValue::String(d.to_string()))?;
    Ok(m)
}

/// `(currency_code, units, nanos)` of a `google.type.Money` written as
/// `{"currency_code":"USD","amount":12.5}` or `{"currency_code":"USD","units":12,"nanos":500000000}`.
pub(crate) fn money_from_json(raw: &str) -> Result<(String, i64, i32), String> {
    let object = object(raw)?;
    let currency = match object.get("currency_code") {
        Some(c) => string(c.get())?,
        None => String::new(),
    };
    if let Some(amount) = object.get("amount") {
        let d = decimal(amount.get())?;
        if d.normalize().scale() > 9 {
            return Err(format!(
                "google.type.Money amount {d} has more than 9 fractional digits"
            ));
        }
        let m = d.rescale(9).map_err(|e| e.to_string())?.mantissa();
        let units = narrow::<i64>(m / i128::from(NANOS_PER_SECOND), "google.type.Money units")?;
        let nanos = (m % i128::from(NANOS_PER_SECOND)) as i32;
        return Ok((currency, units, nanos));
    }
    let units = match object.get("units") {
        Some(u) => narrow(integer(u.get())?, "int64")?,
        None => 0,
    };
    let nanos: i32 = match object.get("nanos") {
        Some(n) => narrow(integer(n.get())?, "int32")?,
        None => 0,
    };
    // Validates the combination exactly as a decoded one is.
    money_json(&currency, units, i64::from(nanos))?;
    Ok((currency, units, nanos))
}

fn message_from_json(raw: &str, desc: &MessageDescriptor) -> Result<DynamicMessage, String> {
    let mut m = DynamicMessage::new(desc.clone());
    match Special::of(desc) {
        Some(Special::Decimal) => return decimal_message(desc, &decimal(raw)?),
        Some(Special::Timestamp) => {
            let (seconds, nanos) = if raw.starts_with('"') {
                let text = string(raw)?;
                let t = chrono::DateTime::parse_from_rfc3339(&text)
                    .map_err(|e| format!("'{text}' is not an RFC 3339 timestamp ({e})"))?;
                (t.timestamp(), t.timestamp_subsec_nanos() as i32)
            } else {
                let ms: i64 = narrow(integer(raw)?, "epoch milliseconds")?;
                (
                    ms.div_euclid(1000),
                    (ms.rem_euclid(1000) * 1_000_000) as i32,
                )
            };
            set(&mut m, 1, PValue::I64(seconds))?;
            set(&mut m, 2, PValue::I32(nanos))?;
        }
        Some(Special::Money) => {
            let (currency, units, nanos) = money_from_json(raw)?;
            set(&mut m, 1, PValue::String(currency))?;
            set(&mut m, 2, PValue::I64(units))?;
            set(&mut m, 3, PValue::I32(nanos))?;
        }
        Some(Special::Wrapper(_)) => {
            if let Some(f) = desc.get_field(1) {
                let v = from_json_single(raw, &f.kind())?;
                m.try_set_field(&f, v).map_err(|e| e.to_string())?;
            }
        }
        None => {
            for (key, value) in object(raw)? {
                let f = desc
                    .get_field_by_name(&key)
                    .or_else(|| desc.get_field_by_json_name(&key))
                    .ok_or_else(|| {
                        format!(
                            "{} has no field '{key}' (fields: {})",
                            desc.full_name(),
                            field_list(desc)
                        )
                    })?;
                if value.get() == "null" {
                    continue;
                }
                let v = from_json_field(value.get(), &f).map_err(|e| format!("{key}: {e}"))?;
                m.try_set_field(&f, v).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(m)
}
