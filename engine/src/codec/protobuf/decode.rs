//! The decoder: a table indexed by field number, and a wire walker that fills row slots.

use std::str::FromStr;
use std::sync::Arc;

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};

use super::wire::{self, WireError};
use super::{FORMAT, ProtoSchema, Scalar, Shape, Special, json};
use crate::codec::copy::{FieldCopy, Span};
use crate::codec::strings::StringPool;
use crate::error::CodecError;
use crate::sql::planner::InputField;
use crate::value::{Decimal, Row, Value};

/// Marks a field number the query does not read.
const NOT_READ: u16 = u16::MAX;
/// Field numbers below this are found by indexing; the rare larger ones by a linear search.
const DIRECT_NUMBERS: u32 = 1 << 14;

/// Decodes serialized messages of one type into rows laid out by a plan's [`InputField`]s.
///
/// Built once per plan: every payload field the query reads is resolved to its field number and
/// conversion up front, so a record is one pass over its bytes with no lookup by name.
#[derive(Debug, Clone)]
pub struct ProtobufDecoder {
    message: MessageDescriptor,
    /// The fields the query reads, one entry per field.
    entries: Vec<Entry>,
    /// `by_number[n]`: the entry of field number `n`, or [`NOT_READ`].
    by_number: Vec<u16>,
    /// Entries of field numbers at or above [`DIRECT_NUMBERS`].
    far: Vec<(u32, u16)>,
    /// Payload slots naming no field of the message: always `NULL`.
    null_slots: Vec<usize>,
    /// The row width (payload and system slots).
    width: usize,
    /// `seen[i] == generation` when entry `i` occurred in the current record: no per-record
    /// reset is needed.
    seen: Vec<u32>,
    generation: u32,
    /// Per entry: the fields of a well-known message read so far in this record (occurrences
    /// of a message field merge).
    accs: Vec<Acc>,
    /// Per entry: the byte ranges (tag included) of a JSON field's occurrences.
    ranges: Vec<Vec<(usize, usize)>>,
    /// Where the occurrences of a JSON field are concatenated when there are several.
    scratch: Vec<u8>,
    /// Short strings decoded before, per slot (see [`StringPool`]).
    strings: StringPool,
    /// Per entry, what the output copies of it (see [`ProtobufDecoder::copy_fields`]).
    copies: Vec<FieldCopy>,
    /// Per slot, the bytes of its field's last occurrence in the record (after the tag), for
    /// the slots the output copies; none where the field is absent.
    spans: Vec<Span>,
}

/// One field the query reads.
#[derive(Debug, Clone)]
struct Entry {
    number: u32,
    field: FieldDescriptor,
    shape: Shape,
    /// The first row slot it fills, and any others reading the same name.
    slot: usize,
    also: Vec<usize>,
    /// The value when the field is absent: `NULL`, the default, `[]` or `{}`.
    absent: Value,
}

impl Entry {
    /// Every slot the field fills.
    fn slots(&self) -> impl Iterator<Item = usize> + Clone + '_ {
        std::iter::once(self.slot).chain(self.also.iter().copied())
    }
}

/// The fields of a well-known message, by position (see [`read_special`]).
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    /// Timestamp seconds, Money units.
    a: i64,
    /// Timestamp and Money nanos.
    b: i64,
    /// Decimal text, Money currency: a byte range of the record.
    text: Option<(usize, usize)>,
}

/// What went wrong inside one field; the decoder adds the field's name and position.
#[derive(Debug)]
enum FieldError {
    Wire(WireError),
    WireType { found: u8, kind: &'static str },
    Value(String),
}

impl From<WireError> for FieldError {
    fn from(e: WireError) -> FieldError {
        FieldError::Wire(e)
    }
}

impl ProtobufDecoder {
    /// The decoder's string pool (see [`StringPool`]).
    pub fn strings(&self) -> &StringPool {
        &self.strings
    }

    /// The decoder's string pool, to switch it off for measuring.
    pub fn strings_mut(&mut self) -> &mut StringPool {
        &mut self.strings
    }

    /// A decoder filling the payload slots of `fields` (slots with `system: Some(_)` are left
    /// to the connector). Fails if the query reads a field no SQL type can hold (`bytes`,
    /// groups).
    pub fn new(schema: &ProtoSchema, fields: &[InputField]) -> Result<ProtobufDecoder, String> {
        let message = schema.descriptor().clone();
        let mut entries: Vec<Entry> = Vec::new();
        let mut null_slots = Vec::new();
        for (slot, input) in fields.iter().enumerate() {
            if input.system.is_some() {
                continue;
            }
            let Some(field) = message.get_field_by_name(&input.name) else {
                null_slots.push(slot);
                continue;
            };
            if let Some(e) = entries.iter_mut().find(|e| e.number == field.number()) {
                e.also.push(slot);
                continue;
            }
            check_readable(&message, &field)?;
            let shape = Shape::of(&field);
            entries.push(Entry {
                number: field.number(),
                absent: absent_value(&field, &shape),
                shape,
                field,
                slot,
                also: Vec::new(),
            });
        }
        if entries.len() >= usize::from(NOT_READ) {
            return Err(format!("too many fields read from {}", message.full_name()));
        }
        let direct = entries
            .iter()
            .map(|e| e.number)
            .filter(|&n| n < DIRECT_NUMBERS)
            .max()
            .map_or(0, |n| n as usize + 1);
        let mut by_number = vec![NOT_READ; direct];
        let mut far = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if e.number < DIRECT_NUMBERS {
                by_number[e.number as usize] = i as u16;
            } else {
                far.push((e.number, i as u16));
            }
        }
        let n = entries.len();
        Ok(ProtobufDecoder {
            message,
            entries,
            by_number,
            far,
            null_slots,
            width: fields.len(),
            seen: vec![0; n],
            generation: 0,
            accs: vec![Acc::default(); n],
            ranges: vec![Vec::new(); n],
            scratch: Vec::new(),
            strings: StringPool::new(fields.len()),
            copies: vec![FieldCopy::None; n],
            spans: Vec::new(),
        })
    }

    /// Sets up zero-copy pass-through of singular `string` fields: `copied[slot]` when an
    /// output column copies the slot's field, `copy_only[slot]` when nothing else reads it.
    /// After [`ProtobufDecoder::decode`], [`ProtobufDecoder::spans`] holds the bytes of each
    /// copied field's last occurrence (its length and text), for an encoder whose field is a
    /// `string` with the same presence; a copy-only field is checked for UTF-8 as decoding it
    /// would be, but not built (its slot holds no value of this record). Other fields are
    /// decoded as before.
    pub fn copy_fields(&mut self, copied: &[bool], copy_only: &[bool]) {
        for (e, copy) in self.entries.iter().zip(self.copies.iter_mut()) {
            *copy = if matches!(e.shape, Shape::Scalar(Scalar::String)) {
                FieldCopy::of(e.slots(), copied, copy_only)
            } else {
                FieldCopy::None
            };
        }
        self.spans = if self.copies.iter().any(|c| *c != FieldCopy::None) {
            vec![Span::default(); self.width]
        } else {
            Vec::new()
        };
    }

    /// Per slot, where the string an output column copies lies in the last decoded record
    /// (empty unless set up with [`ProtobufDecoder::copy_fields`]).
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Decodes one serialized message (no registry prefix) into `row`: the row gets one slot
    /// per input field and every payload slot is set. System slots are left as they are. On
    /// error the payload slots are `NULL`.
    pub fn decode(&mut self, bytes: &[u8], row: &mut Row) -> Result<(), CodecError> {
        row.resize(self.width, Value::Null);
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.seen.fill(0);
            self.generation = 1;
        }
        self.spans.fill(Span::default());
        let result = self.walk(bytes, row).and_then(|()| self.finish(bytes, row));
        if result.is_err() {
            for e in &self.entries {
                row[e.slot] = Value::Null;
                for &s in &e.also {
                    row[s] = Value::Null;
                }
            }
        }
        for &slot in &self.null_slots {
            row[slot] = Value::Null;
        }
        result
    }

    #[inline(always)]
    fn lookup(&self, number: u32) -> Option<usize> {
        match self.by_number.get(number as usize) {
            Some(&i) if i != NOT_READ => Some(usize::from(i)),
            Some(_) => None,
            None if self.far.is_empty() => None,
            None => self
                .far
                .iter()
                .find(|(n, _)| *n == number)
                .map(|(_, i)| usize::from(*i)),
        }
    }

    /// One pass over the record's fields.
    fn walk(&mut self, bytes: &[u8], row: &mut Row) -> Result<(), CodecError> {
        let mut pos = 0;
        while pos < bytes.len() {
            let start = pos;
            let (number, wire_type) =
                wire::tag(bytes, &mut pos).map_err(|e| malformed_at(start, &e))?;
            match self.lookup(number) {
                None => wire::skip(bytes, &mut pos, number, wire_type).map_err(|e| {
                    malformed(format!("field number {number} at byte {start}: {e}"))
                })?,
                Some(i) => self
                    .read(i, wire_type, bytes, &mut pos, start, row)
                    .map_err(|e| self.field_error(i, start, e))?,
            }
        }
        Ok(())
    }

    /// Reads one occurrence of entry `i`, whose tag started at `start`.
    #[inline(always)]
    fn read(
        &mut self,
        i: usize,
        wire_type: u8,
        bytes: &[u8],
        pos: &mut usize,
        start: usize,
        row: &mut Row,
    ) -> Result<(), FieldError> {
        let first = self.seen[i] != self.generation;
        self.seen[i] = self.generation;
        let entry = &self.entries[i];
        match &entry.shape {
            Shape::Scalar(s) if self.copies[i] != FieldCopy::None => {
                let value_start = *pos;
                if self.copies[i] == FieldCopy::Only {
                    if wire_type != wire::LEN {
                        return Err(FieldError::WireType {
                            found: wire_type,
                            kind: s.name(),
                        });
                    }
                    utf8(wire::len_delimited(bytes, pos)?)?;
                } else {
                    let v = read_scalar(
                        s,
                        wire_type,
                        bytes,
                        pos,
                        Some((&mut self.strings, entry.slot)),
                    )?;
                    put(&mut row[entry.slot], v);
                }
                let span = Span::new(value_start, *pos);
                for slot in entry.slots() {
                    self.spans[slot] = span;
                }
            }
            Shape::Scalar(s) => put(
                &mut row[entry.slot],
                read_scalar(
                    s,
                    wire_type,
                    bytes,
                    pos,
                    Some((&mut self.strings, entry.slot)),
                )?,
            ),
            Shape::Special(special) => {
                if wire_type != wire::LEN {
                    return Err(FieldError::WireType {
                        found: wire_type,
                        kind: "a message",
                    });
                }
                let body = wire::len_delimited(bytes, pos)?;
                let end = *pos;
                let acc = &mut self.accs[i];
                if first {
                    *acc = Acc::default();
                    if let Special::Wrapper(s) = special {
                        row[entry.slot] = scalar_default(s);
                    }
                }
                read_special(
                    special,
                    acc,
                    &bytes[..end],
                    end - body.len(),
                    &mut row[entry.slot],
                )?;
            }
            Shape::Json => {
                wire::skip(bytes, pos, entry.number, wire_type)?;
                let ranges = &mut self.ranges[i];
                if first {
                    ranges.clear();
                }
                ranges.push((start, *pos));
            }
        }
        Ok(())
    }

    /// Fills absent fields, renders JSON fields and copies values to repeated slots.
    fn finish(&mut self, bytes: &[u8], row: &mut Row) -> Result<(), CodecError> {
        for (i, e) in self.entries.iter().enumerate() {
            if self.seen[i] != self.generation {
                row[e.slot] = e.absent.clone();
            } else if let Shape::Json = e.shape {
                let ranges = &self.ranges[i];
                let body = match ranges.as_slice() {
                    [(s, end)] => &bytes[*s..*end],
                    _ => {
                        self.scratch.clear();
                        for &(s, end) in ranges {
                            self.scratch.extend_from_slice(&bytes[s..end]);
                        }
                        &self.scratch[..]
                    }
                };
                let field_error =
                    |what: String| malformed(format!("field '{}': {what}", e.field.name()));
                let message = DynamicMessage::decode(self.message.clone(), body)
                    .map_err(|err| field_error(err.to_string()))?;
                let text = json::field_json(&message, &e.field).map_err(field_error)?;
                row[e.slot] = Value::Json(Arc::from(text));
            }
            for &s in &e.also {
                row[s] = row[e.slot].clone();
            }
        }
        Ok(())
    }

    fn field_error(&self, i: usize, start: usize, e: FieldError) -> CodecError {
        let entry = &self.entries[i];
        let what = match e {
            FieldError::Wire(w) => w.to_string(),
            FieldError::WireType { found, kind } => {
                format!("wire type {found} does not fit {kind}")
            }
            FieldError::Value(v) => v,
        };
        malformed(format!(
            "field '{}' ({}) at byte {start}: {what}",
            entry.field.name(),
            entry.number
        ))
    }
}

fn malformed(message: String) -> CodecError {
    CodecError::Malformed {
        format: FORMAT,
        message,
    }
}

fn malformed_at(pos: usize, e: &WireError) -> CodecError {
    malformed(format!("at byte {pos}: {e}"))
}

/// Fails for fields no SQL type can hold.
fn check_readable(message: &MessageDescriptor, field: &FieldDescriptor) -> Result<(), String> {
    let unreadable = |what: &str| {
        Err(format!(
            "field '{}' of {} is {what}: FerrisStreams has no binary SQL type; leave it out of \
             the query",
            field.name(),
            message.full_name()
        ))
    };
    if field.is_group() {
        return Err(format!(
            "field '{}' of {} is a group, which FerrisStreams does not read",
            field.name(),
            message.full_name()
        ));
    }
    match Shape::of(field) {
        Shape::Scalar(Scalar::Bytes) => unreadable("bytes"),
        Shape::Special(Special::Wrapper(Scalar::Bytes)) => unreadable("google.protobuf.BytesValue"),
        _ => Ok(()),
    }
}

/// The value of an absent field (see the module documentation on presence).
fn absent_value(field: &FieldDescriptor, shape: &Shape) -> Value {
    if field.is_map() {
        return Value::Json(Arc::from("{}"));
    }
    if field.is_list() {
        return Value::Json(Arc::from("[]"));
    }
    if field.supports_presence() || matches!(field.kind(), Kind::Message(_)) {
        return Value::Null;
    }
    match shape {
        Shape::Scalar(s) => scalar_default(s),
        _ => Value::Null,
    }
}

/// The proto3 default of a scalar.
fn scalar_default(s: &Scalar) -> Value {
    match s {
        Scalar::Float | Scalar::Double => Value::Double(0.0),
        Scalar::Bool => Value::Boolean(false),
        Scalar::String | Scalar::Bytes => Value::String(Arc::from("")),
        Scalar::Enum(names) => Value::String(names.default.clone()),
        _ => Value::BigInt(0),
    }
}

/// Stores `v` in `slot`, overwriting a plain value of the same type in place: the usual case
/// (each slot holds the same type record after record) then skips dropping the old value.
#[inline(always)]
fn put(slot: &mut Value, v: Value) {
    match (slot, v) {
        (Value::BigInt(x), Value::BigInt(y)) => *x = y,
        (Value::Timestamp(x), Value::Timestamp(y)) => *x = y,
        (Value::Double(x), Value::Double(y)) => *x = y,
        (Value::Decimal(x), Value::Decimal(y)) => *x = y,
        (slot, v) => *slot = v,
    }
}

/// A `uint64`/`fixed64`: `BIGINT` when it fits, else an exact `DECIMAL`.
#[inline(always)]
fn unsigned(v: u64) -> Result<Value, FieldError> {
    match i64::try_from(v) {
        Ok(i) => Ok(Value::BigInt(i)),
        Err(_) => Decimal::new(i128::from(v), 0)
            .map(Value::Decimal)
            .map_err(|e| FieldError::Value(e.to_string())),
    }
}

/// Reads one non-packed scalar value.
#[inline(always)]
fn read_scalar(
    s: &Scalar,
    wire_type: u8,
    buf: &[u8],
    pos: &mut usize,
    strings: Option<(&mut StringPool, usize)>,
) -> Result<Value, FieldError> {
    if wire_type != s.wire_type() {
        return Err(FieldError::WireType {
            found: wire_type,
            kind: s.name(),
        });
    }
    Ok(match s {
        // int32 values are sign-extended to 64 bits on the wire; the low 32 bits are the value.
        Scalar::Int32 => Value::BigInt(i64::from(wire::varint(buf, pos)? as i32)),
        Scalar::Int64 => Value::BigInt(wire::varint(buf, pos)? as i64),
        Scalar::UInt32 => Value::BigInt(i64::from(wire::varint(buf, pos)? as u32)),
        Scalar::UInt64 => unsigned(wire::varint(buf, pos)?)?,
        Scalar::SInt32 => {
            Value::BigInt(i64::from(wire::unzigzag32(wire::varint(buf, pos)? as u32)))
        }
        Scalar::SInt64 => Value::BigInt(wire::unzigzag64(wire::varint(buf, pos)?)),
        Scalar::Bool => Value::Boolean(wire::varint(buf, pos)? != 0),
        Scalar::Enum(names) => {
            let number = wire::varint(buf, pos)? as i32;
            match names.name(number) {
                Some(name) => Value::String(name.clone()),
                None => Value::String(Arc::from(number.to_string())),
            }
        }
        Scalar::Fixed32 => Value::BigInt(i64::from(wire::fixed32(buf, pos)?)),
        Scalar::SFixed32 => Value::BigInt(i64::from(wire::fixed32(buf, pos)? as i32)),
        Scalar::Float => Value::Double(f64::from(f32::from_bits(wire::fixed32(buf, pos)?))),
        Scalar::Fixed64 => unsigned(wire::fixed64(buf, pos)?)?,
        Scalar::SFixed64 => Value::BigInt(wire::fixed64(buf, pos)? as i64),
        Scalar::Double => Value::Double(f64::from_bits(wire::fixed64(buf, pos)?)),
        Scalar::String => {
            let text = utf8(wire::len_delimited(buf, pos)?)?;
            Value::String(match strings {
                Some((pool, slot)) => pool.get(slot, text),
                None => Arc::from(text),
            })
        }
        Scalar::Bytes => {
            return Err(FieldError::Value("bytes have no SQL type".to_string()));
        }
    })
}

fn utf8(bytes: &[u8]) -> Result<&str, FieldError> {
    std::str::from_utf8(bytes).map_err(|e| {
        FieldError::Value(format!(
            "invalid UTF-8 in string at offset {}",
            e.valid_up_to()
        ))
    })
}

/// Reads the body `buf[start..]` of one occurrence of a well-known message, merging into `acc`,
/// and writes the value so far into `slot`.
fn read_special(
    special: &Special,
    acc: &mut Acc,
    buf: &[u8],
    start: usize,
    slot: &mut Value,
) -> Result<(), FieldError> {
    let expect = |found: u8, wanted: u8, kind: &'static str| {
        if found == wanted {
            Ok(())
        } else {
            Err(FieldError::WireType { found, kind })
        }
    };
    let mut pos = start;
    while pos < buf.len() {
        let (number, wire_type) = wire::tag(buf, &mut pos)?;
        match (special, number) {
            (Special::Decimal | Special::Money, 1) => {
                expect(wire_type, wire::LEN, "string")?;
                let text = wire::len_delimited(buf, &mut pos)?;
                acc.text = Some((pos - text.len(), pos));
            }
            (Special::Timestamp, 1) | (Special::Money, 2) => {
                expect(wire_type, wire::VARINT, "int64")?;
                acc.a = wire::varint(buf, &mut pos)? as i64;
            }
            (Special::Timestamp, 2) | (Special::Money, 3) => {
                expect(wire_type, wire::VARINT, "int32")?;
                acc.b = i64::from(wire::varint(buf, &mut pos)? as i32);
            }
            (Special::Wrapper(s), 1) => put(slot, read_scalar(s, wire_type, buf, &mut pos, None)?),
            _ => wire::skip(buf, &mut pos, number, wire_type)?,
        }
    }
    let text = |acc: &Acc| match acc.text {
        Some((s, e)) => utf8(&buf[s..e]),
        None => Ok(""),
    };
    match special {
        Special::Decimal => {
            let t = text(acc)?;
            let d = Decimal::from_str(t).map_err(|e| {
                FieldError::Value(format!(
                    "google.type.Decimal value '{t}' is not an exact decimal ({e})"
                ))
            })?;
            put(slot, Value::Decimal(d));
        }
        Special::Timestamp => {
            let ms = json::timestamp_millis(acc.a, acc.b).map_err(FieldError::Value)?;
            put(slot, Value::Timestamp(ms));
        }
        Special::Money => {
            let t = text(acc)?;
            let j = json::money_json(t, acc.a, acc.b).map_err(FieldError::Value)?;
            *slot = Value::Json(Arc::from(j));
        }
        Special::Wrapper(_) => {}
    }
    Ok(())
}
