//! Reading the Avro binary encoding: a cursor over one datum that reads top-level values into
//! SQL values, nested values into JSON text, and skips what the query does not use.

use std::fmt::Write as _;
use std::sync::Arc;

use super::{Node, NodeId};
use crate::codec::strings::StringPool;
use crate::value::{Decimal, Value};

/// Nesting deeper than this is refused: a recursive schema lets a small corrupt or hostile
/// datum nest without bound, and every level is a stack frame.
pub(super) const MAX_DEPTH: usize = 128;

/// Items of an array or map block whose items take no bytes (`null`, empty records) are capped
/// at this many per datum; any other item takes at least one byte, so the datum's length
/// bounds them.
const MAX_EMPTY_ITEMS: u64 = 1 << 16;

type R<T> = Result<T, String>;

fn truncated() -> String {
    "truncated datum".to_string()
}

/// A cursor over one datum.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    nodes: &'a [Node],
    /// Zero-width items read so far (see [`MAX_EMPTY_ITEMS`]).
    empty_items: u64,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8], nodes: &'a [Node]) -> Reader<'a> {
        Reader {
            bytes,
            pos: 0,
            nodes,
            empty_items: 0,
        }
    }

    /// Bytes not read yet.
    pub(super) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Bytes read so far: where the next value starts.
    pub(super) fn position(&self) -> usize {
        self.pos
    }

    /// A zig-zag varint `long`.
    #[inline]
    pub(super) fn long(&mut self) -> R<i64> {
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(truncated());
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err("varint does not fit a long".to_string());
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok((value >> 1) as i64 ^ -((value & 1) as i64))
    }

    fn int(&mut self) -> R<i32> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| format!("int {v} out of range"))
    }

    /// `n` raw bytes.
    #[inline]
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(truncated)?;
        let bytes = self.bytes.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    /// A length prefix.
    #[inline]
    fn len(&mut self) -> R<usize> {
        let n = self.long()?;
        if n < 0 {
            return Err(format!("negative length {n}"));
        }
        // A length beyond the datum is truncation, whatever the platform's usize.
        usize::try_from(n).map_err(|_| truncated())
    }

    /// Length-prefixed bytes.
    #[inline]
    fn bytes(&mut self) -> R<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    /// A length-prefixed UTF-8 string.
    #[inline]
    fn str(&mut self) -> R<&'a str> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes).map_err(|e| {
            format!(
                "invalid UTF-8 in a string at byte {} of {}",
                e.valid_up_to(),
                bytes.len()
            )
        })
    }

    fn boolean(&mut self) -> R<bool> {
        match self.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(format!("invalid boolean byte {b}")),
        }
    }

    fn float(&mut self) -> R<f32> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn double(&mut self) -> R<f64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    /// A union's branch.
    fn branch(&mut self, branches: &[NodeId]) -> R<NodeId> {
        let i = self.long()?;
        usize::try_from(i)
            .ok()
            .and_then(|i| branches.get(i).copied())
            .ok_or_else(|| {
                format!(
                    "invalid union branch index {i} (the union has {})",
                    branches.len()
                )
            })
    }

    /// An enum's symbol.
    fn symbol<'s>(&mut self, symbols: &'s [Arc<str>]) -> R<&'s Arc<str>> {
        let i = self.long()?;
        usize::try_from(i)
            .ok()
            .and_then(|i| symbols.get(i))
            .ok_or_else(|| {
                format!(
                    "invalid enum index {i} (the enum has {} symbols)",
                    symbols.len()
                )
            })
    }

    /// A `decimal`'s unscaled bytes as an exact decimal.
    fn decimal(&mut self, scale: u8, fixed: Option<usize>) -> R<Decimal> {
        let bytes = match fixed {
            Some(n) => self.take(n)?,
            None => self.bytes()?,
        };
        let mantissa = twos_complement(bytes)?;
        Decimal::new(mantissa, scale).map_err(|_| {
            format!(
                "decimal with unscaled value of {} bytes does not fit 38 digits",
                bytes.len()
            )
        })
    }

    /// A `big-decimal`: length-prefixed bytes holding the unscaled bytes and the scale.
    fn big_decimal(&mut self) -> R<Decimal> {
        let content = self.bytes()?;
        let mut inner = Reader::new(content, self.nodes);
        let unscaled = inner.bytes()?;
        let scale = inner.long()?;
        if inner.remaining() > 0 {
            return Err("trailing bytes in a big-decimal".to_string());
        }
        let mantissa = twos_complement(unscaled)?;
        let too_big = || "big-decimal does not fit DECIMAL (38 digits, scale 0..=38)".to_string();
        if scale < 0 {
            // value = unscaled * 10^-scale, an integer.
            let factor = u32::try_from(-scale)
                .ok()
                .and_then(|e| 10i128.checked_pow(e))
                .ok_or_else(too_big)?;
            let m = mantissa.checked_mul(factor).ok_or_else(too_big)?;
            return Decimal::new(m, 0).map_err(|_| too_big());
        }
        let scale = u8::try_from(scale).map_err(|_| too_big())?;
        Decimal::new(mantissa, scale).map_err(|_| too_big())
    }

    /// The next array or map block's item count; 0 ends the sequence.
    fn block(&mut self, item: NodeId) -> R<u64> {
        let count = self.long()?;
        let n = if count < 0 {
            // A negative count is followed by the block's size in bytes.
            self.len()?;
            count.unsigned_abs()
        } else {
            count as u64
        };
        self.check_count(n, item)?;
        Ok(n)
    }

    /// Refuses item counts the datum cannot hold, before looping over them.
    fn check_count(&mut self, n: u64, item: NodeId) -> R<()> {
        if zero_width(self.nodes, item, 0) {
            self.empty_items += n;
            if self.empty_items > MAX_EMPTY_ITEMS {
                return Err(format!(
                    "more than {MAX_EMPTY_ITEMS} zero-byte items in one datum"
                ));
            }
        } else if n > self.remaining() as u64 {
            return Err(format!(
                "block of {n} items in {} remaining bytes",
                self.remaining()
            ));
        }
        Ok(())
    }

    /// Reads a top-level field's value, the value of `slot` (its strings through the pool; its
    /// type was checked readable when the decoder was built).
    pub(super) fn value(&mut self, id: NodeId, strings: &mut StringPool, slot: usize) -> R<Value> {
        let nodes = self.nodes;
        Ok(match &nodes[id] {
            Node::Null => Value::Null,
            Node::Boolean => Value::Boolean(self.boolean()?),
            Node::Int | Node::TimeMillis => Value::BigInt(i64::from(self.int()?)),
            Node::Long | Node::TimeMicros => Value::BigInt(self.long()?),
            Node::Float => Value::Double(f64::from(self.float()?)),
            Node::Double => Value::Double(self.double()?),
            Node::String | Node::Uuid => Value::String(strings.get(slot, self.str()?)),
            Node::Enum(symbols) => Value::String(Arc::clone(self.symbol(symbols)?)),
            Node::Decimal { scale, fixed, .. } => Value::Decimal(self.decimal(*scale, *fixed)?),
            Node::BigDecimal => Value::Decimal(self.big_decimal()?),
            Node::Date => Value::Timestamp(i64::from(self.int()?) * 86_400_000),
            Node::Timestamp(unit) => Value::Timestamp(self.long()?.div_euclid(unit.per_milli())),
            Node::Union(branches) => {
                let b = self.branch(branches)?;
                self.value(b, strings, slot)?
            }
            Node::Array(_) | Node::Map(_) | Node::Record(_) => {
                let mut out = String::new();
                self.json(id, &mut out, 0)?;
                Value::Json(Arc::from(out))
            }
            Node::Bytes | Node::Fixed(_) | Node::Duration => {
                return Err("binary value has no SQL type".to_string());
            }
        })
    }

    /// Reads a top-level field's value as [`Reader::value`] does, refusing what it refuses,
    /// without building it: for a field the output only copies. Nested values are checked by
    /// writing their JSON text into `scratch`, which is reused.
    pub(super) fn check(&mut self, id: NodeId, scratch: &mut String) -> R<()> {
        let nodes = self.nodes;
        match &nodes[id] {
            Node::Null => {}
            Node::Boolean => {
                self.boolean()?;
            }
            Node::Int | Node::TimeMillis | Node::Date => {
                self.int()?;
            }
            Node::Long | Node::TimeMicros | Node::Timestamp(_) => {
                self.long()?;
            }
            Node::Float => {
                self.float()?;
            }
            Node::Double => {
                self.double()?;
            }
            Node::String | Node::Uuid => {
                self.str()?;
            }
            Node::Enum(symbols) => {
                self.symbol(symbols)?;
            }
            Node::Decimal { scale, fixed, .. } => {
                self.decimal(*scale, *fixed)?;
            }
            Node::BigDecimal => {
                self.big_decimal()?;
            }
            Node::Union(branches) => {
                let b = self.branch(branches)?;
                self.check(b, scratch)?;
            }
            Node::Array(_) | Node::Map(_) | Node::Record(_) => {
                scratch.clear();
                self.json(id, scratch, 0)?;
            }
            Node::Bytes | Node::Fixed(_) | Node::Duration => {
                return Err("binary value has no SQL type".to_string());
            }
        }
        Ok(())
    }

    /// Skips one value without building it.
    pub(super) fn skip(&mut self, id: NodeId, depth: usize) -> R<()> {
        let nodes = self.nodes;
        match &nodes[id] {
            Node::Null => {}
            Node::Boolean => {
                self.take(1)?;
            }
            Node::Int
            | Node::Long
            | Node::Date
            | Node::TimeMillis
            | Node::TimeMicros
            | Node::Timestamp(_)
            | Node::Enum(_) => {
                self.long()?;
            }
            Node::Float => {
                self.take(4)?;
            }
            Node::Double => {
                self.take(8)?;
            }
            Node::Bytes
            | Node::String
            | Node::Uuid
            | Node::BigDecimal
            | Node::Decimal { fixed: None, .. } => {
                self.bytes()?;
            }
            Node::Fixed(n) | Node::Decimal { fixed: Some(n), .. } => {
                self.take(*n)?;
            }
            Node::Duration => {
                self.take(12)?;
            }
            Node::Union(branches) => {
                let b = self.branch(branches)?;
                self.skip(b, depth)?;
            }
            Node::Array(item) | Node::Map(item) => {
                let depth = deeper(depth)?;
                let is_map = matches!(nodes[id], Node::Map(_));
                loop {
                    let count = self.long()?;
                    if count == 0 {
                        break;
                    }
                    if count < 0 {
                        // The block's byte size lets it be skipped whole.
                        let size = self.len()?;
                        self.take(size)?;
                        continue;
                    }
                    self.check_count(count as u64, *item)?;
                    for _ in 0..count {
                        if is_map {
                            self.bytes()?;
                        }
                        self.skip(*item, depth)?;
                    }
                }
            }
            Node::Record(fields) => {
                let depth = deeper(depth)?;
                for f in fields.iter() {
                    self.skip(f.node, depth)?;
                }
            }
        }
        Ok(())
    }

    /// Appends one value as JSON text (see the module doc for the nested encoding).
    pub(super) fn json(&mut self, id: NodeId, out: &mut String, depth: usize) -> R<()> {
        let nodes = self.nodes;
        match &nodes[id] {
            Node::Null => out.push_str("null"),
            Node::Boolean => out.push_str(if self.boolean()? { "true" } else { "false" }),
            Node::Int | Node::Date | Node::TimeMillis => push_display(out, self.int()?),
            Node::Long | Node::TimeMicros | Node::Timestamp(_) => push_display(out, self.long()?),
            Node::Float => {
                let v = self.float()?;
                if v.is_finite() {
                    // `Debug` is the shortest round-trip text, a valid JSON number.
                    let _ = write!(out, "{v:?}");
                } else {
                    push_non_finite(out, f64::from(v));
                }
            }
            Node::Double => {
                let v = self.double()?;
                if v.is_finite() {
                    let _ = write!(out, "{v:?}");
                } else {
                    push_non_finite(out, v);
                }
            }
            Node::String | Node::Uuid => escape(self.str()?, out),
            Node::Enum(symbols) => escape(self.symbol(symbols)?, out),
            Node::Bytes => latin1(self.bytes()?, out),
            Node::Fixed(n) => latin1(self.take(*n)?, out),
            Node::Duration => latin1(self.take(12)?, out),
            Node::Decimal { scale, fixed, .. } => push_display(out, self.decimal(*scale, *fixed)?),
            Node::BigDecimal => push_display(out, self.big_decimal()?),
            Node::Union(branches) => {
                let b = self.branch(branches)?;
                self.json(b, out, depth)?;
            }
            Node::Array(item) => {
                let depth = deeper(depth)?;
                out.push('[');
                let mut first = true;
                loop {
                    let count = self.block(*item)?;
                    if count == 0 {
                        break;
                    }
                    for _ in 0..count {
                        if !first {
                            out.push(',');
                        }
                        first = false;
                        self.json(*item, out, depth)?;
                    }
                }
                out.push(']');
            }
            Node::Map(item) => {
                let depth = deeper(depth)?;
                out.push('{');
                let mut first = true;
                loop {
                    let count = self.block(*item)?;
                    if count == 0 {
                        break;
                    }
                    for _ in 0..count {
                        if !first {
                            out.push(',');
                        }
                        first = false;
                        escape(self.str()?, out);
                        out.push(':');
                        self.json(*item, out, depth)?;
                    }
                }
                out.push('}');
            }
            Node::Record(fields) => {
                let depth = deeper(depth)?;
                out.push('{');
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    escape(&f.name, out);
                    out.push(':');
                    self.json(f.node, out, depth)?;
                }
                out.push('}');
            }
        }
        Ok(())
    }
}

/// One level deeper, refused past [`MAX_DEPTH`].
fn deeper(depth: usize) -> R<usize> {
    if depth >= MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    Ok(depth + 1)
}

/// Whether a value of `id` may take no bytes at all.
pub(super) fn zero_width(nodes: &[Node], id: NodeId, depth: usize) -> bool {
    match &nodes[id] {
        Node::Null => true,
        Node::Fixed(0) | Node::Decimal { fixed: Some(0), .. } => true,
        // A recursive record always holds a union or array (at least one byte) on the way back
        // to itself; the depth bound only guards against a malformed table.
        Node::Record(fields) => {
            depth < MAX_DEPTH && fields.iter().all(|f| zero_width(nodes, f.node, depth + 1))
        }
        _ => false,
    }
}

/// Big-endian two's complement bytes as an `i128`; longer inputs are accepted when the extra
/// leading bytes only extend the sign.
pub(super) fn twos_complement(bytes: &[u8]) -> R<i128> {
    let Some(&first) = bytes.first() else {
        return Err("decimal with no bytes".to_string());
    };
    let fill = if first & 0x80 != 0 { 0xff } else { 0x00 };
    let mut buf = [fill; 16];
    if bytes.len() > 16 {
        let (extra, rest) = bytes.split_at(bytes.len() - 16);
        let sign = if rest[0] & 0x80 != 0 { 0xff } else { 0x00 };
        if extra.iter().any(|&b| b != sign) {
            return Err(format!(
                "decimal unscaled value of {} bytes does not fit 38 digits",
                bytes.len()
            ));
        }
        buf.copy_from_slice(rest);
    } else {
        buf[16 - bytes.len()..].copy_from_slice(bytes);
    }
    Ok(i128::from_be_bytes(buf))
}

fn push_display(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

/// A non-finite float as the JSON string Avro's JSON encoding uses.
fn push_non_finite(out: &mut String, v: f64) {
    out.push_str(if v.is_nan() {
        "\"NaN\""
    } else if v > 0.0 {
        "\"Infinity\""
    } else {
        "\"-Infinity\""
    });
}

/// Bytes as a JSON string of ISO-8859-1 characters (Avro's JSON encoding of bytes).
fn latin1(bytes: &[u8], out: &mut String) {
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    escape(&text, out);
}

/// Appends `s` as a quoted JSON string.
pub(super) fn escape(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if short.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}
