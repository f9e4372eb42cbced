//! The Protobuf wire format: varints, tags, fixed-width values and skipping.

/// Wire type of varints (`int32`, `int64`, `bool`, enums, ...).
pub(crate) const VARINT: u8 = 0;
/// Wire type of 8-byte values (`fixed64`, `sfixed64`, `double`).
pub(crate) const I64: u8 = 1;
/// Wire type of length-delimited values (strings, bytes, messages, packed repeated fields).
pub(crate) const LEN: u8 = 2;
/// Wire type that opens a (deprecated) group.
pub(crate) const START_GROUP: u8 = 3;
/// Wire type that closes a group.
pub(crate) const END_GROUP: u8 = 4;
/// Wire type of 4-byte values (`fixed32`, `sfixed32`, `float`).
pub(crate) const I32: u8 = 5;

/// Groups nested deeper than this are rejected rather than followed (a guard against stack
/// exhaustion on hostile input).
const MAX_GROUP_DEPTH: u32 = 64;

/// What is wrong with the bytes; the decoder adds the field and the position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireError {
    /// The input ends inside a value.
    Truncated(&'static str),
    /// A varint longer than 10 bytes (or a 10th byte above 1).
    VarintTooLong,
    /// A length-delimited value claims more bytes than are left.
    LengthPastEnd { length: u64, left: usize },
    /// Wire types 6 and 7 do not exist.
    InvalidWireType(u8),
    /// Field number 0 or above 2^29 - 1.
    InvalidFieldNumber(u64),
    /// An end-group tag without its start, or a group that is not closed.
    Group(&'static str),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Truncated(what) => write!(f, "truncated {what}"),
            WireError::VarintTooLong => f.write_str("varint longer than 10 bytes"),
            WireError::LengthPastEnd { length, left } => {
                write!(f, "length {length} past the end ({left} bytes left)")
            }
            WireError::InvalidWireType(w) => write!(f, "invalid wire type {w}"),
            WireError::InvalidFieldNumber(n) => write!(f, "invalid field number {n}"),
            WireError::Group(what) => f.write_str(what),
        }
    }
}

/// Reads one varint at `*pos`, advancing it.
#[inline(always)]
pub(crate) fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    // One- and two-byte varints (tags, small numbers, lengths up to 16 KiB) are the common
    // case; the loop is out of line.
    match buf.get(*pos..*pos + 2) {
        Some(&[b0, b1]) => {
            if b0 < 0x80 {
                *pos += 1;
                return Ok(u64::from(b0));
            }
            if b1 < 0x80 {
                *pos += 2;
                return Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7));
            }
            varint_slow(buf, pos)
        }
        _ => match buf.get(*pos) {
            Some(&b) if b < 0x80 => {
                *pos += 1;
                Ok(u64::from(b))
            }
            Some(_) => varint_slow(buf, pos),
            None => Err(WireError::Truncated("varint")),
        },
    }
}

#[inline(never)]
fn varint_slow(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let mut value = 0u64;
    for i in 0..10 {
        let Some(&b) = buf.get(*pos + i) else {
            return Err(WireError::Truncated("varint"));
        };
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            // The 10th byte carries only the top bit of a u64.
            if i == 9 && b > 1 {
                return Err(WireError::VarintTooLong);
            }
            *pos += i + 1;
            return Ok(value);
        }
    }
    Err(WireError::VarintTooLong)
}

/// Reads a tag: `(field number, wire type)`.
#[inline(always)]
pub(crate) fn tag(buf: &[u8], pos: &mut usize) -> Result<(u32, u8), WireError> {
    let key = varint(buf, pos)?;
    let number = key >> 3;
    if number == 0 || number > (1 << 29) - 1 {
        return Err(WireError::InvalidFieldNumber(number));
    }
    Ok((number as u32, (key & 7) as u8))
}

/// Reads 4 little-endian bytes.
#[inline(always)]
pub(crate) fn fixed32(buf: &[u8], pos: &mut usize) -> Result<u32, WireError> {
    let bytes = buf
        .get(*pos..*pos + 4)
        .ok_or(WireError::Truncated("fixed32 value"))?;
    *pos += 4;
    let mut b = [0u8; 4];
    b.copy_from_slice(bytes);
    Ok(u32::from_le_bytes(b))
}

/// Reads 8 little-endian bytes.
#[inline(always)]
pub(crate) fn fixed64(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let bytes = buf
        .get(*pos..*pos + 8)
        .ok_or(WireError::Truncated("fixed64 value"))?;
    *pos += 8;
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    Ok(u64::from_le_bytes(b))
}

/// Reads a length prefix and returns the bytes it covers.
#[inline(always)]
pub(crate) fn len_delimited<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a [u8], WireError> {
    let length = varint(buf, pos)?;
    let left = buf.len() - *pos;
    if length > left as u64 {
        return Err(WireError::LengthPastEnd { length, left });
    }
    let start = *pos;
    *pos += length as usize;
    Ok(&buf[start..*pos])
}

/// Skips the value of a field with wire type `wire` (a whole group for `START_GROUP`).
pub(crate) fn skip(buf: &[u8], pos: &mut usize, number: u32, wire: u8) -> Result<(), WireError> {
    skip_at_depth(buf, pos, number, wire, 0)
}

fn skip_at_depth(
    buf: &[u8],
    pos: &mut usize,
    number: u32,
    wire: u8,
    depth: u32,
) -> Result<(), WireError> {
    match wire {
        VARINT => varint(buf, pos).map(drop),
        I64 => fixed64(buf, pos).map(drop),
        I32 => fixed32(buf, pos).map(drop),
        LEN => len_delimited(buf, pos).map(drop),
        START_GROUP => {
            if depth >= MAX_GROUP_DEPTH {
                return Err(WireError::Group("groups nested too deeply"));
            }
            loop {
                if *pos >= buf.len() {
                    return Err(WireError::Group("group not closed"));
                }
                let (n, w) = tag(buf, pos)?;
                if w == END_GROUP {
                    if n != number {
                        return Err(WireError::Group("end-group tag of another group"));
                    }
                    return Ok(());
                }
                skip_at_depth(buf, pos, n, w, depth + 1)?;
            }
        }
        END_GROUP => Err(WireError::Group("end-group tag without a group")),
        w => Err(WireError::InvalidWireType(w)),
    }
}

/// Appends `v` as a varint.
#[inline(always)]
pub(crate) fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The number of bytes `put_varint(v)` writes.
#[inline(always)]
pub(crate) fn varint_len(v: u64) -> usize {
    // 1 byte per 7 significant bits, at least 1.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends a tag.
#[inline(always)]
pub(crate) fn put_tag(number: u32, wire: u8, out: &mut Vec<u8>) {
    put_varint((u64::from(number) << 3) | u64::from(wire), out);
}

/// Zigzag decoding of `sint32`.
#[inline(always)]
pub(crate) fn unzigzag32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// Zigzag decoding of `sint64`.
#[inline(always)]
pub(crate) fn unzigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Zigzag encoding of `sint32`.
#[inline(always)]
pub(crate) fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Zigzag encoding of `sint64`.
#[inline(always)]
pub(crate) fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}
