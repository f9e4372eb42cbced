//! JSON records with exact numbers.
//!
//! Numbers never pass through `f64` (DESIGN decision 6): a number written without fraction or
//! exponent that fits `i64` becomes `BIGINT`; every other number text is parsed by
//! [`Decimal::from_str`], so `12.50` keeps its scale and `1e3` is exactly `1000`. A number
//! that no `DECIMAL` can hold exactly is an error, not a rounded value. Nested objects and
//! arrays stay JSON text ([`Value::Json`]), compacted but otherwise byte for byte, so their
//! numbers keep their digits too.
//!
//! The decoder scans the top-level object once by hand (`scan_record`): keys without
//! escapes are compared in place with the wanted names, strings are taken from the decoder's
//! [`StringPool`] (or copied out of the input once, if new), numbers are scanned once by the JSON grammar, and unwanted values
//! are checked and skipped without building anything; nested objects and arrays, and escaped
//! text, are left to `serde_json`. Input the scan does not accept is walked again by `serde_json`
//! alone, so that errors carry its messages (with line and column). When a key appears twice the
//! last occurrence wins.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write as _;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{
    self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;

use super::copy::Span;
use super::strings::StringPool;
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
    /// `order[k]`: the index in `fields.names` of the `k`-th key of the last record where it
    /// was wanted, tried first for the `k`-th key of the next (records of one stream usually
    /// list their keys in one order).
    order: Vec<usize>,
    /// Whether any output column copies a slot (see [`JsonDecoder::copy_fields`]).
    copying: bool,
    /// Per slot: whether an output column copies it.
    copied: Vec<bool>,
    /// Per slot: whether only copies read it, so that its value need not be built.
    copy_only: Vec<bool>,
    /// Per slot: where the last record's value of a copied field lies in the input, when its
    /// text is exactly what [`JsonEncoder`] would write for its value.
    spans: Vec<Span>,
    /// Short strings decoded before, per slot (see [`StringPool`]).
    strings: StringPool,
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
            order: Vec::new(),
            copying: false,
            copied: vec![false; fields.len()],
            copy_only: vec![false; fields.len()],
            spans: vec![Span::NONE; fields.len()],
            strings: StringPool::new(fields.len()),
        }
    }

    /// The decoder's string pool (see [`StringPool`]).
    pub fn strings(&self) -> &StringPool {
        &self.strings
    }

    /// The decoder's string pool, to switch it off for measuring.
    pub fn strings_mut(&mut self) -> &mut StringPool {
        &mut self.strings
    }

    /// Zero-copy pass-through: output columns copy the payload slots with `copied[slot]` from
    /// the input text (see [`JsonEncoder::copy_columns`]). For those slots the decoder notes
    /// where each record's value text lies ([`JsonDecoder::spans`]) whenever that text is what
    /// the encoder would write for the value anyway (strings without escapes, integers and
    /// plain decimals as written, literals, nested values without whitespace), and, when
    /// `copy_only[slot]` says nothing but copies reads the slot, does not build its value.
    /// Other values are decoded as usual, so the output is the same either way.
    pub fn copy_fields(&mut self, copied: &[bool], copy_only: &[bool]) {
        for slot in 0..self.width {
            self.copied[slot] = copied.get(slot).copied().unwrap_or(false);
            self.copy_only[slot] =
                self.copied[slot] && copy_only.get(slot).copied().unwrap_or(false);
        }
        self.copying = self.copied.iter().any(|&c| c);
    }

    /// Per input slot, the value text of the last decoded record that an output column may
    /// copy (none for slots no column copies, and for values whose text must be re-encoded).
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Decodes one JSON object into `row`: the row gets one slot per input field, and every
    /// payload slot is set (a missing key gives `NULL`). System slots are left as they are.
    pub fn decode(&mut self, bytes: &[u8], row: &mut Row) -> Result<(), CodecError> {
        if row.len() != self.width {
            row.resize(self.width, Value::Null);
        }
        let copying = self.copying;
        if copying {
            self.spans.fill(Span::NONE);
        }
        // Validating the whole line at once is cheaper than checking every string and raw
        // value on its own.
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                self.clear(row);
                return Err(malformed(format!(
                    "invalid UTF-8 at line 1 column {}",
                    e.valid_up_to() + 1
                )));
            }
        };
        if first_byte(bytes) != Some(b'{') {
            self.clear(row);
            return Err(not_an_object(bytes));
        }
        // With at most 64 names the scan records which it saw, and only the others are reset.
        let tracked = self.fields.names.len() <= 64;
        if !tracked {
            self.clear(row);
        }
        let copies = Copies {
            active: copying,
            copied: &self.copied,
            copy_only: &self.copy_only,
            spans: &mut self.spans,
        };
        if let Ok(seen) = scan_record(
            text,
            &self.fields,
            &mut self.order,
            row,
            copies,
            &mut self.strings,
        ) {
            if tracked {
                let mut missing = !seen & self.fields.all;
                while missing != 0 {
                    let name = missing.trailing_zeros() as usize;
                    missing &= missing - 1;
                    for &slot in &self.fields.names[name].1 {
                        row[slot] = Value::Null;
                    }
                }
            }
            return Ok(());
        }
        // The scan stopped (invalid JSON, or a number no DECIMAL holds): serde_json walks the
        // record again from a clean row, to decode it or name the error exactly. Every value is
        // decoded then, and nothing is copied.
        self.clear(row);
        if copying {
            self.spans.fill(Span::NONE);
        }
        let mut de = serde_json::Deserializer::from_str(text);
        de.deserialize_map(RowVisitor {
            fields: &self.fields,
            row,
        })
        .and_then(|()| de.end())
        .map_err(malformed)
    }

    /// Sets every payload slot of `row` to `NULL`.
    fn clear(&self, row: &mut [Value]) {
        for &slot in &self.payload_slots {
            row[slot] = Value::Null;
        }
    }
}

/// What [`scan_record`] notes for copied fields.
struct Copies<'a> {
    active: bool,
    copied: &'a [bool],
    copy_only: &'a [bool],
    spans: &'a mut [Span],
}

/// Why [`scan_record`] stopped: the record is not valid JSON, or holds a value it leaves to
/// serde_json to report (a number no `DECIMAL` can hold exactly).
#[derive(Debug)]
struct Fallback;

/// Decodes one top-level object in a single pass over `text` (already valid UTF-8), filling the
/// slots of wanted keys. Keys and strings without escapes are compared and copied straight from
/// the input; numbers are scanned once; nested objects and arrays are left to serde_json. It
/// never accepts what serde_json rejects, and decodes what it accepts as serde_json would;
/// anything else is a [`Fallback`], for the caller to re-decode with serde_json so that the
/// message is serde_json's own. Returns one bit per name seen (for the first 64 names); `row`
/// may be partly filled on error.
fn scan_record(
    text: &str,
    fields: &FieldIndex,
    order: &mut Vec<usize>,
    row: &mut [Value],
    copies: Copies<'_>,
    strings: &mut StringPool,
) -> Result<u64, Fallback> {
    let mut seen = 0u64;
    // How many keys came before the current one.
    let mut keys = 0;
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err(Fallback);
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return Err(Fallback);
            }
            let (end, escaped) = scan_string(b, i)?;
            let position = keys;
            keys += 1;
            let slots = if escaped {
                let key: String =
                    serde_json::from_str(slice(text, i, end)?).map_err(|_| Fallback)?;
                fields.find(key.as_bytes())
            } else {
                let key = &b[i + 1..end - 1];
                match order.get(position).and_then(|&n| fields.names.get(n)) {
                    Some((name, slots)) if same_bytes(name.as_bytes(), key) => {
                        Some((order[position], slots.as_slice()))
                    }
                    _ => {
                        let found = fields.find(key);
                        if let Some((name, _)) = found {
                            if let Some(hint) = order.get_mut(position) {
                                *hint = name;
                            } else if order.len() == position && position < 256 {
                                order.push(name);
                            }
                        }
                        found
                    }
                }
            };
            i = skip_ws(b, end);
            if b.get(i) != Some(&b':') {
                return Err(Fallback);
            }
            i = skip_ws(b, i + 1);
            i = match slots {
                Some((name, [rest @ .., last])) => {
                    seen |= 1u64.checked_shl(name as u32).unwrap_or(0);
                    if copies.active
                        && (copies.copied[*last] || rest.iter().any(|&s| copies.copied[s]))
                    {
                        let (end, canonical) = copyable(text, i)?;
                        let span = if canonical {
                            Span {
                                start: u32::try_from(i).map_err(|_| Fallback)?,
                                end: u32::try_from(end).map_err(|_| Fallback)?,
                            }
                        } else {
                            Span::NONE
                        };
                        let all_copy_only = canonical
                            && copies.copy_only[*last]
                            && rest.iter().all(|&s| copies.copy_only[s]);
                        for &slot in rest.iter().chain(std::iter::once(last)) {
                            if copies.copied[slot] {
                                copies.spans[slot] = span;
                            }
                        }
                        if all_copy_only {
                            end
                        } else {
                            let end = scan_value(text, i, &mut row[*last], strings, *last)?;
                            for &slot in rest {
                                row[slot] = row[*last].clone();
                            }
                            end
                        }
                    } else {
                        let end = scan_value(text, i, &mut row[*last], strings, *last)?;
                        for &slot in rest {
                            row[slot] = row[*last].clone();
                        }
                        end
                    }
                }
                _ => skip_value(text, i)?,
            };
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err(Fallback),
            }
        }
    }
    if skip_ws(b, i) == b.len() {
        Ok(seen)
    } else {
        Err(Fallback)
    }
}

/// `text[start..end]`, or a [`Fallback`] where that is not a slice of it.
fn slice(text: &str, start: usize, end: usize) -> Result<&str, Fallback> {
    text.get(start..end).ok_or(Fallback)
}

/// The index of the first byte at or after `i` that is not JSON whitespace.
#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// Stores the value starting at `b[i]` (not whitespace) in `out`, the value of `slot` (its
/// strings through the pool); the index just past it.
#[inline]
fn scan_value(
    text: &str,
    i: usize,
    out: &mut Value,
    strings: &mut StringPool,
    slot: usize,
) -> Result<usize, Fallback> {
    let b = text.as_bytes();
    match b.get(i) {
        Some(b'"') => {
            let (end, escaped) = scan_string(b, i)?;
            *out = Value::String(if escaped {
                let s: String = serde_json::from_str(slice(text, i, end)?).map_err(|_| Fallback)?;
                strings.get(slot, &s)
            } else {
                strings.get(slot, slice(text, i + 1, end - 1)?)
            });
            Ok(end)
        }
        Some(b't') => {
            *out = Value::Boolean(true);
            literal(b, i, b"true")
        }
        Some(b'f') => {
            *out = Value::Boolean(false);
            literal(b, i, b"false")
        }
        Some(b'n') => {
            *out = Value::Null;
            literal(b, i, b"null")
        }
        Some(b'{' | b'[') => {
            let raw = nested(text, i)?;
            *out = Value::Json(compact(raw));
            Ok(i + raw.len())
        }
        Some(_) => {
            let (end, small) = scan_number(b, i)?;
            *out = match small {
                Some(v) => Value::BigInt(v),
                None => number(slice(text, i, end)?).map_err(|_| Fallback)?,
            };
            Ok(end)
        }
        None => Err(Fallback),
    }
}

/// Checks the value starting at `b[i]` (not whitespace) without converting it: the index just
/// past it, and whether its text is exactly what [`write_value`] writes for its decoded value
/// (so that copying the text equals decoding and encoding it): a string without escapes, a
/// literal, an integer of at most 18 digits or a decimal `-?d+.d+` of at most 38 digits other
/// than a negative zero, an object or array without whitespace.
fn copyable(text: &str, i: usize) -> Result<(usize, bool), Fallback> {
    let b = text.as_bytes();
    match b.get(i) {
        Some(b'"') => scan_string(b, i).map(|(end, escaped)| (end, !escaped)),
        Some(b'{' | b'[') => {
            let raw = nested(text, i)?;
            let plain = !raw
                .bytes()
                .any(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'));
            Ok((i + raw.len(), plain))
        }
        Some(b't' | b'f' | b'n') => skip_value(text, i).map(|end| (end, true)),
        Some(_) => {
            let (end, small) = scan_number(b, i)?;
            let raw = &b[i..end];
            let negative_zero =
                raw.first() == Some(&b'-') && raw[1..].iter().all(|&c| c == b'0' || c == b'.');
            let canonical = !negative_zero
                && match small {
                    Some(_) => true,
                    None => {
                        let digits = raw.iter().filter(|c| c.is_ascii_digit()).count();
                        digits <= 38
                            && raw.contains(&b'.')
                            && !raw.iter().any(|&c| c == b'e' || c == b'E')
                    }
                };
            Ok((end, canonical))
        }
        None => Err(Fallback),
    }
}

/// Checks the value starting at `b[i]` (not whitespace) without converting it; the index just
/// past it.
fn skip_value(text: &str, i: usize) -> Result<usize, Fallback> {
    let b = text.as_bytes();
    match b.get(i) {
        Some(b'"') => scan_string(b, i).map(|(end, _)| end),
        Some(b't') => literal(b, i, b"true"),
        Some(b'f') => literal(b, i, b"false"),
        Some(b'n') => literal(b, i, b"null"),
        Some(b'{' | b'[') => nested(text, i).map(|raw| i + raw.len()),
        Some(_) => scan_number(b, i).map(|(end, _)| end),
        None => Err(Fallback),
    }
}

/// The index just past `word` if `b[i..]` starts with it.
#[inline]
fn literal(b: &[u8], i: usize, word: &[u8]) -> Result<usize, Fallback> {
    match b.get(i..i + word.len()) {
        Some(found) if found == word => Ok(i + word.len()),
        _ => Err(Fallback),
    }
}

/// The raw text of the object or array starting at `text[i]`, checked by serde_json.
fn nested(text: &str, i: usize) -> Result<&str, Fallback> {
    let mut de = serde_json::Deserializer::from_str(slice(text, i, text.len())?);
    let raw: &RawValue = serde::Deserialize::deserialize(&mut de).map_err(|_| Fallback)?;
    Ok(raw.get())
}

/// Scans the string literal starting with the quote at `b[i]`: the index just past its closing
/// quote, and whether it holds escapes. Control characters and malformed escapes are errors
/// (escaped text is decoded, and `\u` surrogates checked, by serde_json).
#[inline]
fn scan_string(b: &[u8], i: usize) -> Result<(usize, bool), Fallback> {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        // Eight bytes at a time up to the first quote, backslash or control character.
        while let Some(chunk) = b.get(j..).and_then(<[u8]>::first_chunk::<8>) {
            let w = u64::from_le_bytes(*chunk);
            let ctrl = w.wrapping_sub(ONES * 0x20) & !w;
            let q = w ^ (ONES * u64::from(b'"'));
            let quote = q.wrapping_sub(ONES) & !q;
            let s = w ^ (ONES * u64::from(b'\\'));
            let slash = s.wrapping_sub(ONES) & !s;
            let found = (ctrl | quote | slash) & HIGH;
            if found != 0 {
                j += (found.trailing_zeros() / 8) as usize;
                break;
            }
            j += 8;
        }
        match b.get(j) {
            Some(b'"') => return Ok((j + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                j += match b.get(j + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
                    Some(b'u') => match b.get(j + 2..j + 6) {
                        Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => 6,
                        _ => return Err(Fallback),
                    },
                    _ => return Err(Fallback),
                };
            }
            Some(0x00..=0x1f) | None => return Err(Fallback),
            Some(_) => j += 1,
        }
    }
}

/// Scans the JSON number starting at `b[i]`: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
/// Returns the index just past it and, for an integer of at most 18 digits, its value (longer
/// integers and every other form are converted from the text by [`number`]).
#[inline]
fn scan_number(b: &[u8], i: usize) -> Result<(usize, Option<i64>), Fallback> {
    let mut j = i;
    let negative = b.get(j) == Some(&b'-');
    if negative {
        j += 1;
    }
    let digits_start = j;
    let mut n: u64 = 0;
    match b.get(j) {
        Some(b'0') => {
            j += 1;
            if b.get(j).is_some_and(u8::is_ascii_digit) {
                return Err(Fallback);
            }
        }
        Some(b'1'..=b'9') => {
            while let Some(&d @ b'0'..=b'9') = b.get(j) {
                n = n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                j += 1;
            }
        }
        _ => return Err(Fallback),
    }
    let mut integer = j - digits_start <= 18;
    if b.get(j) == Some(&b'.') {
        integer = false;
        j = digits(b, j + 1)?;
    }
    if let Some(b'e' | b'E') = b.get(j) {
        integer = false;
        j += 1;
        if let Some(b'+' | b'-') = b.get(j) {
            j += 1;
        }
        j = digits(b, j)?;
    }
    if !integer {
        return Ok((j, None));
    }
    // At most 18 digits: `n < 10^18` fits i64 either way round.
    let v = n as i64;
    Ok((j, Some(if negative { -v } else { v })))
}

/// The index past one or more ASCII digits starting at `b[i]`.
#[inline]
fn digits(b: &[u8], mut i: usize) -> Result<usize, Fallback> {
    let start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if i == start { Err(Fallback) } else { Ok(i) }
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
    /// One bit per name, for the first 64 names.
    all: u64,
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
        let all = match names.len() {
            0 => 0,
            n @ 1..64 => (1 << n) - 1,
            _ => u64::MAX,
        };
        FieldIndex { names, by_len, all }
    }

    /// The index and slots of `key`, if it is wanted.
    #[inline]
    fn find(&self, key: &[u8]) -> Option<(usize, &[usize])> {
        self.by_len
            .get(key.len())?
            .iter()
            .find(|&&i| same_bytes(self.names[i].0.as_bytes(), key))
            .map(|&i| (i, self.names[i].1.as_slice()))
    }
}

/// `a == b` for slices of the same length, without a call to `memcmp` for short keys: two
/// overlapping loads from each end cover up to 16 bytes.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    fn ends<const N: usize>(s: &[u8]) -> Option<(&[u8; N], &[u8; N])> {
        Some((s.first_chunk::<N>()?, s.last_chunk::<N>()?))
    }
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        0..4 => a == b,
        4..8 => ends::<4>(a) == ends::<4>(b),
        8..=16 => ends::<8>(a) == ends::<8>(b),
        _ => a == b,
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
        Ok(self.fields.find(key.as_bytes()).map(|(_, slots)| slots))
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
    /// Per column: the input slot whose text it copies, if any (see
    /// [`JsonEncoder::copy_columns`]).
    copy_from: Vec<Option<usize>>,
}

impl JsonEncoder {
    /// An encoder writing the columns `names`, in order.
    pub fn new(names: &[String]) -> JsonEncoder {
        let prefixes: Vec<Vec<u8>> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut p = vec![if i == 0 { b'{' } else { b',' }];
                escape_str(name, &mut p);
                p.push(b':');
                p
            })
            .collect();
        let copy_from = vec![None; prefixes.len()];
        JsonEncoder {
            prefixes,
            copy_from,
        }
    }

    /// Zero-copy pass-through: column `column` copies the value text of input slot `slot` when
    /// the decoder noted one ([`JsonDecoder::copy_fields`]); see
    /// [`JsonEncoder::encode_copying`].
    pub fn copy_columns(&mut self, copies: impl IntoIterator<Item = (usize, usize)>) {
        for (column, slot) in copies {
            if let Some(c) = self.copy_from.get_mut(column) {
                *c = Some(slot);
            }
        }
    }

    /// [`JsonEncoder::encode`], except that a column set up by
    /// [`JsonEncoder::copy_columns`] is written from the decoded record: by copying the bytes of
    /// `source` its slot's span in `spans` names, or, without one, by encoding the slot's value
    /// in `input` (the decoded row). Such columns of `row` are not read (the projection need not
    /// compute them).
    pub fn encode_copying(
        &mut self,
        row: &[Value],
        input: &[Value],
        source: &[u8],
        spans: &[Span],
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        if self.prefixes.is_empty() {
            out.extend_from_slice(b"{}");
            return Ok(());
        }
        let start = out.len();
        for (i, prefix) in self.prefixes.iter().enumerate() {
            out.extend_from_slice(prefix);
            let value = match self.copy_from[i] {
                Some(slot) => {
                    if let Some(text) = Span::bytes(spans, slot, source) {
                        out.extend_from_slice(text);
                        continue;
                    }
                    input.get(slot)
                }
                None => row.get(i),
            };
            if let Err(e) = write_value(value.unwrap_or(&Value::Null), out) {
                out.truncate(start);
                return Err(e);
            }
        }
        out.push(b'}');
        Ok(())
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
