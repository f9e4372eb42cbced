//! JSON records with exact numbers.
//!
//! Numbers never pass through `f64` (DESIGN decision 6): a number written without fraction or
//! exponent that fits `i64` becomes `BIGINT`; every other number text is parsed by
//! [`Decimal::from_str`], so `12.50` keeps its scale and `1e3` is exactly `1000`. A number
//! that no `DECIMAL` can hold exactly is an error, not a rounded value. Nested objects and
//! arrays stay JSON text ([`Value::Json`]), compacted but otherwise byte for byte, so their
//! numbers keep their digits too.
//!
//! The decoder walks the top-level object once with `serde_json`, taking wanted fields as
//! borrowed raw text and skipping the rest without building anything. When a key appears twice
//! the last occurrence wins.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write as _;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{
    self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;

use crate::error::CodecError;
use crate::sql::planner::InputField;
use crate::value::{Decimal, Row, Value, write_timestamp};

#[cfg(test)]
mod tests;

const FORMAT: &str = "JSON";

fn malformed(message: impl fmt::Display) -> CodecError {
    CodecError::Malformed {
        format: FORMAT,
        message: message.to_string(),
    }
}

/// Decodes JSON objects into rows laid out by a plan's [`InputField`]s.
///
/// Built once per plan: the payload field names are indexed once (see [`FieldIndex`]) so that
/// each key of a record is found without hashing or allocating.
#[derive(Debug, Clone)]
pub struct JsonDecoder {
    /// Payload field names and the row slots they fill.
    fields: FieldIndex,
    /// Every payload slot, reset to `NULL` before each record.
    payload_slots: Vec<usize>,
    /// The row width (payload and system slots).
    width: usize,
}

impl JsonDecoder {
    /// A decoder filling the payload slots of `fields` (slots with `system: Some(_)` are left
    /// to the connector).
    pub fn new(fields: &[InputField]) -> JsonDecoder {
        let payload: Vec<(usize, &str)> = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.system.is_none())
            .map(|(slot, f)| (slot, f.name.as_str()))
            .collect();
        JsonDecoder {
            fields: FieldIndex::new(&payload),
            payload_slots: payload.iter().map(|(slot, _)| *slot).collect(),
            width: fields.len(),
        }
    }

    /// Decodes one JSON object into `row`: the row gets one slot per input field, and every
    /// payload slot is set (a missing key gives `NULL`). System slots are left as they are.
    pub fn decode(&mut self, bytes: &[u8], row: &mut Row) -> Result<(), CodecError> {
        row.resize(self.width, Value::Null);
        for &slot in &self.payload_slots {
            row[slot] = Value::Null;
        }
        // Validating the whole line at once is cheaper than serde_json checking every string
        // and raw value on its own.
        let text = std::str::from_utf8(bytes).map_err(|e| {
            malformed(format!(
                "invalid UTF-8 at line 1 column {}",
                e.valid_up_to() + 1
            ))
        })?;
        if first_byte(bytes) != Some(b'{') {
            return Err(not_an_object(bytes));
        }
        let mut de = serde_json::Deserializer::from_str(text);
        de.deserialize_map(RowVisitor {
            fields: &self.fields,
            row,
        })
        .and_then(|()| de.end())
        .map_err(malformed)
    }
}

/// The first byte that is not JSON whitespace.
fn first_byte(bytes: &[u8]) -> Option<u8> {
    bytes
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// The error for input that does not start with `{`: `NotARecord` if it is valid JSON,
/// `Malformed` if it is not JSON at all.
fn not_an_object(bytes: &[u8]) -> CodecError {
    if let Err(e) = serde_json::from_slice::<IgnoredAny>(bytes) {
        return malformed(e);
    }
    let what = match first_byte(bytes) {
        Some(b'[') => "a JSON array",
        Some(b'"') => "a JSON string",
        Some(b't' | b'f') => "a JSON boolean",
        Some(b'n') => "JSON null",
        _ => "a JSON number",
    };
    CodecError::NotARecord(format!("expected a JSON object, found {what}"))
}

/// The decoder's name lookup: payload names grouped by byte length, so that a key is compared
/// with the few wanted names of its own length (usually none or one), never hashed.
#[derive(Debug, Clone)]
struct FieldIndex {
    /// Unique names, each with every slot it fills (a name may fill several).
    names: Vec<(Box<str>, Vec<usize>)>,
    /// `by_len[n]`: indices into `names` of the names `n` bytes long.
    by_len: Vec<Vec<usize>>,
}

impl FieldIndex {
    fn new(payload: &[(usize, &str)]) -> FieldIndex {
        let mut names: Vec<(Box<str>, Vec<usize>)> = Vec::new();
        for &(slot, name) in payload {
            match names.iter_mut().find(|(n, _)| &**n == name) {
                Some((_, slots)) => slots.push(slot),
                None => names.push((Box::from(name), vec![slot])),
            }
        }
        let longest = names.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let mut by_len = vec![Vec::new(); longest + 1];
        for (i, (name, _)) in names.iter().enumerate() {
            by_len[name.len()].push(i);
        }
        FieldIndex { names, by_len }
    }

    /// The slots of `key`, if it is wanted.
    fn find(&self, key: &str) -> Option<&[usize]> {
        self.by_len
            .get(key.len())?
            .iter()
            .map(|&i| &self.names[i])
            .find(|(name, _)| name.as_bytes() == key.as_bytes())
            .map(|(_, slots)| slots.as_slice())
    }
}

/// Walks the top-level object, filling the slots of wanted keys.
struct RowVisitor<'a> {
    fields: &'a FieldIndex,
    row: &'a mut [Value],
}

impl<'de> Visitor<'de> for RowVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(found) = map.next_key_seed(KeyLookup {
            fields: self.fields,
        })? {
            let Some(slots) = found else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let raw: &'de RawValue = map.next_value()?;
            let value = convert_raw(raw.get()).map_err(de::Error::custom)?;
            if let [rest @ .., last] = slots {
                for &slot in rest {
                    self.row[slot] = value.clone();
                }
                self.row[*last] = value;
            }
        }
        Ok(())
    }
}

/// Reads one object key and looks it up, without allocating for unescaped keys.
struct KeyLookup<'a> {
    fields: &'a FieldIndex,
}

impl<'de, 'a> DeserializeSeed<'de> for KeyLookup<'a> {
    type Value = Option<&'a [usize]>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'a> Visitor<'de> for KeyLookup<'a> {
    type Value = Option<&'a [usize]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.fields.find(key))
    }
}

/// One JSON value (a record key, say), typed like a field of a JSON record: strings are
/// `STRING`, numbers exact, objects and arrays JSON text.
pub fn decode_value(bytes: &[u8]) -> Result<Value, CodecError> {
    let raw: &RawValue = serde_json::from_slice(bytes).map_err(malformed)?;
    convert_raw(raw.get()).map_err(malformed)
}

/// Converts the raw text of one valid JSON value. The error is a plain message (the only
/// failure is a number no `DECIMAL` can hold exactly).
fn convert_raw(raw: &str) -> Result<Value, String> {
    match raw.as_bytes().first() {
        Some(b'"') => unescape(raw).map(Value::String),
        Some(b't') => Ok(Value::Boolean(true)),
        Some(b'f') => Ok(Value::Boolean(false)),
        Some(b'n') => Ok(Value::Null),
        Some(b'{' | b'[') => Ok(Value::Json(compact(raw))),
        Some(_) => number(raw),
        None => Err("empty JSON value".to_string()),
    }
}

/// The content of a JSON string literal.
fn unescape(raw: &str) -> Result<Arc<str>, String> {
    if !raw.contains('\\')
        && let Some(inner) = raw.get(1..raw.len() - 1)
    {
        return Ok(Arc::from(inner));
    }
    serde_json::from_str::<String>(raw)
        .map(Arc::from)
        .map_err(|e| e.to_string())
}

/// `BIGINT` for plain integers that fit, exact `DECIMAL` for everything else.
fn number(raw: &str) -> Result<Value, String> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = raw.parse::<i64>()
    {
        return Ok(Value::BigInt(i));
    }
    Decimal::from_str(raw)
        .map(Value::Decimal)
        .map_err(|e| format!("number {raw} cannot be represented exactly ({e})"))
}

/// Valid JSON text with the whitespace outside strings removed; everything else is kept byte
/// for byte.
fn compact(raw: &str) -> Arc<str> {
    let bytes = raw.as_bytes();
    if !bytes
        .iter()
        .any(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Arc::from(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    Arc::from(out)
}

/// The union of the top-level keys of `records`, in first-seen order. Records that are not
/// valid JSON objects are skipped. Used to learn a file's columns from its first records.
pub fn infer_columns<'a>(records: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut columns = Vec::new();
    let mut keys = Vec::new();
    for record in records {
        if first_byte(record) != Some(b'{') {
            continue;
        }
        keys.clear();
        let mut de = serde_json::Deserializer::from_slice(record);
        let ok = de
            .deserialize_map(KeyCollector { keys: &mut keys })
            .and_then(|()| de.end());
        if ok.is_err() {
            continue;
        }
        for key in keys.drain(..) {
            if !seen.contains(&key) {
                seen.insert(key.clone());
                columns.push(key);
            }
        }
    }
    columns
}

/// Collects an object's keys, skipping the values.
struct KeyCollector<'a> {
    keys: &'a mut Vec<String>,
}

impl<'de> Visitor<'de> for KeyCollector<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            self.keys.push(key);
        }
        Ok(())
    }
}

/// Encodes rows as JSON objects with fixed keys.
#[derive(Debug, Clone)]
pub struct JsonEncoder {
    /// `{"name":` for the first column, `,"name":` for the others, escaped once.
    prefixes: Vec<Vec<u8>>,
}

impl JsonEncoder {
    /// An encoder writing the columns `names`, in order.
    pub fn new(names: &[String]) -> JsonEncoder {
        let prefixes = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut p = vec![if i == 0 { b'{' } else { b',' }];
                escape_str(name, &mut p);
                p.push(b':');
                p
            })
            .collect();
        JsonEncoder { prefixes }
    }

    /// Appends `row` as one JSON object (no newline) to `out`. A missing trailing value is
    /// written as `null`. On error nothing is appended.
    pub fn encode(&mut self, row: &[Value], out: &mut Vec<u8>) -> Result<(), CodecError> {
        if self.prefixes.is_empty() {
            out.extend_from_slice(b"{}");
            return Ok(());
        }
        let start = out.len();
        for (i, prefix) in self.prefixes.iter().enumerate() {
            out.extend_from_slice(prefix);
            if let Err(e) = write_value(row.get(i).unwrap_or(&Value::Null), out) {
                out.truncate(start);
                return Err(e);
            }
        }
        out.push(b'}');
        Ok(())
    }
}

/// Writes `values` as a JSON array (`["AAPL",1700000040000]`): the record key of an
/// aggregate's output, so that every update of one group lands on the same partition.
pub fn encode_array(values: &[Value], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    out.push(b'[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if let Err(e) = write_value(v, out) {
            out.truncate(start);
            return Err(e);
        }
    }
    out.push(b']');
    Ok(())
}

/// Appends one value as JSON (what a JSON record holds for it).
pub fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::BigInt(i) => push_i64(*i, out),
        Value::Double(d) => {
            if !d.is_finite() {
                return Err(CodecError::Unencodable(format!(
                    "DOUBLE {d} as JSON (JSON numbers are finite)"
                )));
            }
            // `Debug` is the shortest text that round-trips, with an exponent for very large
            // or small magnitudes (`1e300`, `1e-7`): always a valid JSON number.
            write!(out, "{d:?}").map_err(|e| CodecError::Unencodable(e.to_string()))?;
        }
        Value::Decimal(d) => {
            write!(out, "{d}").map_err(|e| CodecError::Unencodable(e.to_string()))?;
        }
        Value::String(s) => escape_str(s, out),
        Value::Timestamp(ms) => {
            out.push(b'"');
            write_timestamp(*ms, out);
            out.push(b'"');
        }
        Value::Json(text) => out.extend_from_slice(text.as_bytes()),
    }
    Ok(())
}

/// Appends the decimal digits of `v`.
fn push_i64(v: i64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `s` as a quoted JSON string.
fn escape_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// One step of a [`JsonPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathStep {
    /// `.name` or `['name']`
    Key(String),
    /// `[n]`
    Index(usize),
}

/// A parsed JSON path for `JSON_VALUE`: `$`, `$.a.b`, `$.a[0].b`, `$['a key']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    steps: Vec<PathStep>,
}

impl JsonPath {
    /// Parses a path. The error names the problem and its 1-based character position.
    pub fn parse(path: &str) -> Result<JsonPath, String> {
        let chars: Vec<char> = path.chars().collect();
        let err = |at: usize, what: &str| {
            format!("invalid JSON path '{path}' at character {}: {what}", at + 1)
        };
        if chars.first() != Some(&'$') {
            return Err(err(0, "a path starts with '$'"));
        }
        let mut steps = Vec::new();
        let mut i = 1;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    let start = i + 1;
                    i = start;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    if i == start {
                        return Err(err(start, "expected a key name after '.'"));
                    }
                    steps.push(PathStep::Key(chars[start..i].iter().collect()));
                }
                '[' => {
                    i += 1;
                    match chars.get(i) {
                        Some(&q @ ('\'' | '"')) => {
                            let mut key = String::new();
                            i += 1;
                            loop {
                                match chars.get(i) {
                                    None => return Err(err(i, "unterminated quoted key")),
                                    Some('\\') if i + 1 < chars.len() => {
                                        key.push(chars[i + 1]);
                                        i += 2;
                                    }
                                    Some(&c) if c == q => {
                                        i += 1;
                                        break;
                                    }
                                    Some(&c) => {
                                        key.push(c);
                                        i += 1;
                                    }
                                }
                            }
                            steps.push(PathStep::Key(key));
                        }
                        Some(c) if c.is_ascii_digit() => {
                            let start = i;
                            while chars.get(i).is_some_and(char::is_ascii_digit) {
                                i += 1;
                            }
                            let digits: String = chars[start..i].iter().collect();
                            let index = digits
                                .parse()
                                .map_err(|_| err(start, "array index too large"))?;
                            steps.push(PathStep::Index(index));
                        }
                        _ => return Err(err(i, "expected an array index or a quoted key")),
                    }
                    if chars.get(i) != Some(&']') {
                        return Err(err(i, "expected ']'"));
                    }
                    i += 1;
                }
                _ => return Err(err(i, "expected '.' or '['")),
            }
        }
        Ok(JsonPath { steps })
    }
}

/// The value at `path` in the JSON document `json_text`, converted like a decoded field
/// (scalars typed, objects and arrays as compact [`Value::Json`]); `NULL` if the path leads
/// nowhere. Invalid JSON is an error.
pub fn json_value(json_text: &str, path: &JsonPath) -> Result<Value, CodecError> {
    let root: &RawValue = serde_json::from_str(json_text).map_err(malformed)?;
    let mut current = root.get();
    for step in &path.steps {
        let next = match step {
            PathStep::Key(key) if current.starts_with('{') => {
                serde_json::Deserializer::from_str(current).deserialize_map(FindKey { key })
            }
            PathStep::Index(index) if current.starts_with('[') => {
                serde_json::Deserializer::from_str(current)
                    .deserialize_seq(FindIndex { index: *index })
            }
            _ => return Ok(Value::Null),
        };
        match next.map_err(malformed)? {
            Some(raw) => current = raw,
            None => return Ok(Value::Null),
        }
    }
    convert_raw(current).map_err(malformed)
}

/// Finds the raw text of one key of an object (the last one if repeated).
struct FindKey<'k> {
    key: &'k str,
}

impl<'de> Visitor<'de> for FindKey<'_> {
    type Value = Option<&'de str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(hit) = map.next_key_seed(KeyEquals { key: self.key })? {
            if hit {
                let raw: &'de RawValue = map.next_value()?;
                found = Some(raw.get());
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Reads one object key and compares it with `key`.
struct KeyEquals<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for KeyEquals<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyEquals<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.key)
    }
}

/// Finds the raw text of one element of an array.
struct FindIndex {
    index: usize,
}

impl<'de> Visitor<'de> for FindIndex {
    type Value = Option<&'de str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut i = 0;
        loop {
            if i == self.index {
                match seq.next_element::<&'de RawValue>()? {
                    Some(raw) => found = Some(raw.get()),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }
}
