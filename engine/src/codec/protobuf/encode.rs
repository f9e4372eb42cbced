//! The encoder: output columns resolved to fields once, values written with checked
//! conversions in field-number order.

use std::fmt::Write as _;
use std::str::FromStr;

use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, MessageDescriptor};

use super::wire::{self, put_varint, varint_len};
use super::{EnumNames, ProtoSchema, Scalar, Shape, Shown, Special, field_list, json};
use crate::codec::copy::Span;
use crate::error::CodecError;
use crate::value::{Decimal, Value, write_timestamp};

/// Encodes rows as serialized messages of one type.
#[derive(Debug, Clone)]
pub struct ProtobufEncoder {
    message: MessageDescriptor,
    /// The fields written, in field-number order.
    targets: Vec<Target>,
    /// Scratch space for a wrapper's body and for number text.
    scratch: Vec<u8>,
    text: String,
    /// Per target, the input slot whose bytes it copies (see
    /// [`ProtobufEncoder::copy_columns`]).
    copy_from: Vec<Option<usize>>,
}

/// One output column and the field it writes.
#[derive(Debug, Clone)]
struct Target {
    column: usize,
    field: FieldDescriptor,
    shape: Shape,
    /// The field's tag, encoded once.
    tag: Vec<u8>,
    /// Implicit presence: a value equal to the default is not written.
    implicit: bool,
}

impl ProtobufEncoder {
    /// An encoder writing the columns `names` (in row order) to the fields of the same names.
    /// Fails for a column the message has no field for (the error lists the fields), for two
    /// columns writing one field, and for groups.
    pub fn new(schema: &ProtoSchema, names: &[String]) -> Result<ProtobufEncoder, String> {
        let message = schema.descriptor().clone();
        let mut targets: Vec<Target> = Vec::with_capacity(names.len());
        for (column, name) in names.iter().enumerate() {
            let field = message.get_field_by_name(name).ok_or_else(|| {
                format!(
                    "output column '{name}' has no field in message {} (fields: {})",
                    message.full_name(),
                    field_list(&message)
                )
            })?;
            if targets.iter().any(|t| t.field == field) {
                return Err(format!(
                    "output column '{name}' appears twice; each field of {} is written once",
                    message.full_name()
                ));
            }
            if field.is_group() {
                return Err(format!(
                    "field '{name}' of {} is a group, which FerrisStreams does not write",
                    message.full_name()
                ));
            }
            let shape = Shape::of(&field);
            let wire_type = match &shape {
                Shape::Scalar(s) => s.wire_type(),
                _ => wire::LEN,
            };
            let mut tag = Vec::new();
            wire::put_tag(field.number(), wire_type, &mut tag);
            targets.push(Target {
                column,
                implicit: !field.supports_presence() && !field.is_list() && !field.is_map(),
                field,
                shape,
                tag,
            });
        }
        targets.sort_by_key(|t| t.field.number());
        Ok(ProtobufEncoder {
            message,
            copy_from: vec![None; targets.len()],
            targets,
            scratch: Vec::new(),
            text: String::new(),
        })
    }

    /// Sets up zero-copy pass-through: each `(column, slot)` says that output column `column`
    /// copies input slot `slot` unchanged, a `string` field of the source with the same
    /// presence as this one's (the caller checks with [`ProtoSchema::same_string_field`]).
    ///
    /// [`ProtoSchema::same_string_field`]: super::ProtoSchema::same_string_field
    pub fn copy_columns(&mut self, copies: impl IntoIterator<Item = (usize, usize)>) {
        for (column, slot) in copies {
            for (t, from) in self.targets.iter().zip(self.copy_from.iter_mut()) {
                if t.column == column {
                    *from = Some(slot);
                }
            }
        }
    }

    /// [`ProtobufEncoder::encode`], except that a field set up by
    /// [`ProtobufEncoder::copy_columns`] is written as its tag and the bytes of `source` (the
    /// decoded record) its slot's span in `spans` names, or, without one (the field was absent),
    /// from the slot's value in `input`. Such columns of `row` are not read.
    pub fn encode_copying(
        &mut self,
        row: &[Value],
        input: &[Value],
        source: &[u8],
        spans: &[Span],
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        self.write(row, Some((input, source, spans)), out)
    }

    /// Appends `row` as one serialized message (no registry prefix) to `out`. A missing
    /// trailing value is `NULL` (the field is left unset). On error nothing is appended.
    pub fn encode(&mut self, row: &[Value], out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.write(row, None, out)
    }

    /// [`ProtobufEncoder::encode`], copying as [`ProtobufEncoder::encode_copying`] does when
    /// given the decoded record (`input`, `source`, `spans`).
    fn write(
        &mut self,
        row: &[Value],
        copying: Option<(&[Value], &[u8], &[Span])>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let start = out.len();
        for (t, from) in self.targets.iter().zip(self.copy_from.iter()) {
            let value = match (from, copying) {
                (Some(slot), Some((input, source, spans))) => {
                    if let Some(bytes) = Span::bytes(spans, *slot, source) {
                        out.extend_from_slice(&t.tag);
                        out.extend_from_slice(bytes);
                        continue;
                    }
                    input.get(*slot)
                }
                _ => row.get(t.column),
            };
            let value = value.unwrap_or(&Value::Null);
            let written = write_column(
                t,
                value,
                &self.message,
                &mut self.scratch,
                &mut self.text,
                out,
            );
            if let Err(e) = written {
                out.truncate(start);
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Writes `value` as field `t` of `message` (nothing for `NULL`: the field is left unset).
fn write_column(
    t: &Target,
    value: &Value,
    message: &MessageDescriptor,
    scratch: &mut Vec<u8>,
    text: &mut String,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    if value.is_null() {
        return Ok(());
    }
    write_field(t, value, message, scratch, text, out).map_err(|e| {
        CodecError::Unencodable(format!(
            "{} as field '{}' of {}: {e}",
            Shown(value),
            t.field.name(),
            message.full_name()
        ))
    })
}

fn write_field(
    t: &Target,
    value: &Value,
    message: &MessageDescriptor,
    scratch: &mut Vec<u8>,
    text: &mut String,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    match &t.shape {
        Shape::Scalar(s) => write_scalar(s, &t.tag, t.implicit, value, text, out),
        Shape::Special(Special::Decimal) => {
            let d = match value {
                Value::Decimal(d) => *d,
                Value::BigInt(i) => Decimal::from_i64(*i),
                Value::String(s) => Decimal::from_str(s)
                    .map_err(|e| format!("the text is not an exact decimal ({e})"))?,
                _ => return Err(mismatch("google.type.Decimal")),
            };
            text.clear();
            let _ = write!(text, "{d}");
            let body = 1 + varint_len(text.len() as u64) + text.len();
            out.extend_from_slice(&t.tag);
            put_varint(body as u64, out);
            out.push(0x0a);
            put_varint(text.len() as u64, out);
            out.extend_from_slice(text.as_bytes());
            Ok(())
        }
        Shape::Special(Special::Timestamp) => {
            let ms = match value {
                Value::Timestamp(ms) | Value::BigInt(ms) => *ms,
                _ => return Err(mismatch("google.protobuf.Timestamp")),
            };
            let seconds = ms.div_euclid(1000);
            let nanos = ms.rem_euclid(1000) * 1_000_000;
            let mut body = 0;
            if seconds != 0 {
                body += 1 + varint_len(seconds as u64);
            }
            if nanos != 0 {
                body += 1 + varint_len(nanos as u64);
            }
            out.extend_from_slice(&t.tag);
            put_varint(body as u64, out);
            if seconds != 0 {
                out.push(0x08);
                put_varint(seconds as u64, out);
            }
            if nanos != 0 {
                out.push(0x10);
                put_varint(nanos as u64, out);
            }
            Ok(())
        }
        Shape::Special(Special::Money) => {
            let Value::Json(j) = value else {
                return Err(mismatch(
                    "google.type.Money (write JSON {\"currency_code\":...,\"amount\":...})",
                ));
            };
            let (currency, units, nanos) = json::money_from_json(j)?;
            scratch.clear();
            if !currency.is_empty() {
                scratch.push(0x0a);
                put_varint(currency.len() as u64, scratch);
                scratch.extend_from_slice(currency.as_bytes());
            }
            if units != 0 {
                scratch.push(0x10);
                put_varint(units as u64, scratch);
            }
            if nanos != 0 {
                scratch.push(0x18);
                // int32 values are sign-extended to 64 bits on the wire.
                put_varint(i64::from(nanos) as u64, scratch);
            }
            out.extend_from_slice(&t.tag);
            put_varint(scratch.len() as u64, out);
            out.extend_from_slice(scratch);
            Ok(())
        }
        Shape::Special(Special::Wrapper(s)) => {
            // The wrapped value is a proto3 field with implicit presence: a default is empty.
            scratch.clear();
            write_scalar(s, &[0x08 | s.wire_type()], true, value, text, scratch)?;
            out.extend_from_slice(&t.tag);
            put_varint(scratch.len() as u64, out);
            out.extend_from_slice(scratch);
            Ok(())
        }
        Shape::Json => {
            let text = match value {
                Value::Json(j) => &**j,
                _ => return Err(mismatch("a nested message, list or map (write JSON text)")),
            };
            let v = json::field_from_json(text, &t.field)?;
            let mut m = DynamicMessage::new(message.clone());
            m.try_set_field(&t.field, v).map_err(|e| e.to_string())?;
            m.encode_raw(out);
            Ok(())
        }
    }
}

fn mismatch(target: &str) -> String {
    format!("no conversion to {target}")
}

/// Writes one scalar (tag included) unless `implicit` and the value is the default.
fn write_scalar(
    s: &Scalar,
    tag: &[u8],
    implicit: bool,
    value: &Value,
    text: &mut String,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    match s {
        Scalar::Float | Scalar::Double => {
            let f = match value {
                Value::Double(f) => *f,
                Value::BigInt(i) => {
                    let f = *i as f64;
                    let exact = match s {
                        Scalar::Float => (f as f32) as i128 == i128::from(*i),
                        _ => f as i128 == i128::from(*i),
                    };
                    if !exact {
                        return Err(format!("{i} is not exactly representable as {}", s.name()));
                    }
                    f
                }
                Value::Decimal(_) => {
                    return Err(format!(
                        "a DECIMAL never goes to {} (money never passes through binary \
                         floating point)",
                        s.name()
                    ));
                }
                _ => return Err(mismatch(s.name())),
            };
            if let Scalar::Float = s {
                let narrowed = f as f32;
                if f.is_finite() && !narrowed.is_finite() {
                    return Err("out of range for float".to_string());
                }
                if implicit && narrowed.to_bits() == 0 {
                    return Ok(());
                }
                out.extend_from_slice(tag);
                out.extend_from_slice(&narrowed.to_le_bytes());
            } else {
                if implicit && f.to_bits() == 0 {
                    return Ok(());
                }
                out.extend_from_slice(tag);
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
        Scalar::Bool => {
            let Value::Boolean(b) = value else {
                return Err(mismatch("bool"));
            };
            if implicit && !b {
                return Ok(());
            }
            out.extend_from_slice(tag);
            out.push(u8::from(*b));
        }
        Scalar::String | Scalar::Bytes => {
            let s: &str = match value {
                Value::String(s) | Value::Json(s) => s,
                Value::BigInt(_) | Value::Decimal(_) | Value::Boolean(_) => {
                    text.clear();
                    let _ = write!(text, "{value}");
                    text
                }
                Value::Double(d) if d.is_finite() => {
                    text.clear();
                    let _ = write!(text, "{d:?}");
                    text
                }
                Value::Timestamp(ms) => {
                    let mut b = Vec::with_capacity(24);
                    write_timestamp(*ms, &mut b);
                    text.clear();
                    text.push_str(&String::from_utf8_lossy(&b));
                    text
                }
                _ => return Err(mismatch(s.name())),
            };
            if implicit && s.is_empty() {
                return Ok(());
            }
            out.extend_from_slice(tag);
            put_varint(s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        Scalar::Enum(names) => {
            let number = match value {
                Value::String(name) => names.number(name).ok_or_else(|| {
                    format!(
                        "'{name}' is not a value of enum {} (values: {})",
                        names.full_name,
                        names.list()
                    )
                })?,
                Value::BigInt(i) => {
                    i32::try_from(*i).map_err(|_| format!("{i} is out of range for an enum"))?
                }
                _ => return Err(mismatch("an enum")),
            };
            if implicit && number == 0 {
                return Ok(());
            }
            out.extend_from_slice(tag);
            put_varint(i64::from(number) as u64, out);
        }
        _ => {
            let n: i128 = match value {
                Value::BigInt(i) | Value::Timestamp(i) => i128::from(*i),
                Value::Decimal(d) => {
                    let n = d.normalize();
                    if n.scale() != 0 {
                        return Err(format!("{d} is not an integer"));
                    }
                    n.mantissa()
                }
                _ => return Err(mismatch(s.name())),
            };
            let (lo, hi) = match s {
                Scalar::Int32 | Scalar::SInt32 | Scalar::SFixed32 => {
                    (i128::from(i32::MIN), i128::from(i32::MAX))
                }
                Scalar::UInt32 | Scalar::Fixed32 => (0, i128::from(u32::MAX)),
                Scalar::UInt64 | Scalar::Fixed64 => (0, i128::from(u64::MAX)),
                _ => (i128::from(i64::MIN), i128::from(i64::MAX)),
            };
            if n < lo || n > hi {
                return Err(format!("{n} is out of range for {}", s.name()));
            }
            if implicit && n == 0 {
                return Ok(());
            }
            out.extend_from_slice(tag);
            match s {
                // Negative int32 values are sign-extended to 64 bits on the wire.
                Scalar::Int32 | Scalar::Int64 => put_varint(n as i64 as u64, out),
                Scalar::UInt32 | Scalar::UInt64 => put_varint(n as u64, out),
                Scalar::SInt32 => put_varint(u64::from(wire::zigzag32(n as i32)), out),
                Scalar::SInt64 => put_varint(wire::zigzag64(n as i64), out),
                Scalar::Fixed32 => out.extend_from_slice(&(n as u32).to_le_bytes()),
                Scalar::SFixed32 => out.extend_from_slice(&(n as i32).to_le_bytes()),
                Scalar::Fixed64 => out.extend_from_slice(&(n as u64).to_le_bytes()),
                _ => out.extend_from_slice(&(n as i64).to_le_bytes()),
            }
        }
    }
    Ok(())
}

impl EnumNames {
    /// The number of the value called `name`.
    fn number(&self, name: &str) -> Option<i32> {
        self.by_number
            .iter()
            .find(|(_, n)| &**n == name)
            .map(|(number, _)| *number)
    }

    fn list(&self) -> String {
        let names: Vec<&str> = self.by_number.iter().map(|(_, n)| &**n).collect();
        names.join(", ")
    }
}
