//! CSV records with a header row and exact numbers.
//!
//! **Reading.** The input is RFC 4180 CSV, read with the `csv` crate: fields are separated by
//! commas, a field may be quoted with `"` (inside it, `""` is one quote, and commas and line
//! breaks are part of the field), records end with `\n` or `\r\n`, and blank lines hold no
//! record. The first record is the header: it names the columns (a UTF-8 byte order mark
//! before it is ignored; two columns may not share a name). Every later record must have as
//! many fields as the header; one that does not is a bad record (reported and skipped like any
//! other). A record's line number is the line it starts on, counting the header as line 1, so
//! a record whose quoted field spans lines is reported at its first line.
//!
//! **Empty fields.** An empty unquoted field (`a,,c`) is `NULL`; a quoted empty field
//! (`a,"",c`) is the empty string. Quotes change nothing else: `"42"` is read like `42`.
//!
//! **Types without a schema** are inferred value by value, as the JSON codec does: `true` and
//! `false` are `BOOLEAN`; a number written in JSON's number syntax (`-12`, `0.5`, `1e3`; not
//! `+1`, `.5`, `007` or `1,000`) is `BIGINT` when it has no fraction or exponent and fits
//! `i64`, and an exact `DECIMAL` otherwise (`12.50` keeps its scale, `1e3` is `1000`; a number
//! no `DECIMAL` holds exactly, such as 39 significant digits, is a bad record, never a rounded
//! value); anything else is a `STRING`, exactly as written (surrounding spaces included).
//! Numbers never pass through floating point.
//!
//! **Types with a schema** (`--schema 'symbol STRING, price DECIMAL(18,2), qty BIGINT'`) are
//! declared with the SQL type names of `CAST`: `STRING` (`VARCHAR`, `TEXT`), `BIGINT` (`INT`,
//! `INTEGER`), `DOUBLE` (`FLOAT`, `REAL`), `DECIMAL(p,s)` (`NUMERIC`), `BOOLEAN`,
//! `TIMESTAMP`. The header must then name exactly the declared columns, in any order, or the
//! run does not start. Each field is converted as `CAST('text' AS type)` converts it, with two
//! differences: `DECIMAL(p,s)` never rounds (a value with more than `s` digits after the
//! point, other than trailing zeros, is a bad record, as is one with more than `p - s` digits
//! before it), and `TIMESTAMP` also takes epoch milliseconds (`1767225600000`) besides
//! ISO-8601 text. A value that does not convert is a bad record that names the column, the
//! value and the type. An empty unquoted field is still `NULL`; a quoted empty field is the
//! empty string, which only a `STRING` column takes.
//!
//! **Writing.** The first line is the header (the output column names), then one line per
//! row, each ending in `\n`. `NULL` is an empty field and the empty string is `""`; other
//! strings are quoted only when they contain a comma, a quote or a line break. `DECIMAL` is
//! written as its exact text with its scale (`18725.00`), `TIMESTAMP` as ISO-8601 UTC with
//! milliseconds (`2026-01-01T00:00:00.000Z`), `DOUBLE` as its shortest exact text, and JSON
//! values as their compact text, always quoted. A `DOUBLE` that is NaN or infinite cannot be
//! written.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;
use std::sync::Arc;

use csv::ByteRecord;

use crate::error::{CodecError, FerrisError};
use crate::sql::expr::{CastTarget, Expr};
use crate::sql::parser::parse_statements;
use crate::sql::planner::{Catalog, InputField, StreamColumns, plan};
use crate::value::{Decimal, Row, Value, write_timestamp};

#[cfg(test)]
mod tests;

const FORMAT: &str = "CSV";

fn malformed(message: impl fmt::Display) -> CodecError {
    CodecError::Malformed {
        format: FORMAT,
        message: message.to_string(),
    }
}

/// Declared column types for a CSV input: `col TYPE, col TYPE, ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSchema {
    columns: Vec<(String, CastTarget)>,
}

impl CsvSchema {
    /// Parses `name TYPE, name TYPE, ...`. A name is an identifier or a double-quoted name
    /// (`"unit price" DECIMAL(10,4)`); a type is one `CAST` takes. The error names the column
    /// and the problem.
    pub fn parse(text: &str) -> Result<CsvSchema, String> {
        let mut columns: Vec<(String, CastTarget)> = Vec::new();
        for (i, item) in split_top_level(text).into_iter().enumerate() {
            let item = item.trim();
            if item.is_empty() {
                return Err(format!(
                    "column definition {} of the schema is empty (write 'name TYPE, ...')",
                    i + 1
                ));
            }
            let (name, type_text) = split_name(item)?;
            if type_text.is_empty() {
                return Err(format!("column '{name}' has no type (write '{name} TYPE')"));
            }
            if columns.iter().any(|(n, _)| *n == name) {
                return Err(format!("column '{name}' is declared twice"));
            }
            let target = cast_target(type_text).map_err(|e| format!("column '{name}': {e}"))?;
            columns.push((name, target));
        }
        if columns.is_empty() {
            return Err("the schema declares no columns (write 'name TYPE, ...')".into());
        }
        Ok(CsvSchema { columns })
    }

    /// The declared columns and their types, in declaration order.
    pub fn columns(&self) -> &[(String, CastTarget)] {
        &self.columns
    }

    /// The declared type of column `name`.
    pub fn type_of(&self, name: &str) -> Option<CastTarget> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
    }

    /// Checks that `header` names exactly the declared columns (in any order); the error
    /// lists the columns missing from the header and those the schema does not declare.
    pub fn check_header(&self, header: &[String]) -> Result<(), String> {
        let missing: Vec<&str> = self
            .columns
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !header.iter().any(|h| h == n))
            .collect();
        let extra: Vec<&str> = header
            .iter()
            .map(String::as_str)
            .filter(|h| self.type_of(h).is_none())
            .collect();
        if missing.is_empty() && extra.is_empty() {
            return Ok(());
        }
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!(
                "declared but not in the header: {}",
                missing.join(", ")
            ));
        }
        if !extra.is_empty() {
            parts.push(format!(
                "in the header but not declared: {}",
                extra.join(", ")
            ));
        }
        Err(format!(
            "the header does not match the schema ({})",
            parts.join("; ")
        ))
    }
}

impl fmt::Display for CsvSchema {
    /// The schema in the form [`CsvSchema::parse`] reads (`symbol STRING, qty BIGINT`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, target)) in self.columns.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name} {target}")?;
        }
        Ok(())
    }
}

/// `text` split at the commas outside parentheses and double quotes.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0usize, false, 0);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            ',' if !quoted && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A column definition's name and the type text after it.
fn split_name(item: &str) -> Result<(String, &str), String> {
    if let Some(rest) = item.strip_prefix('"') {
        // A quoted name: `""` inside is one quote.
        let mut name = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '"' {
                name.push(c);
                continue;
            }
            if rest[i + 1..].starts_with('"') {
                name.push('"');
                chars.next();
                continue;
            }
            return Ok((name, rest[i + 1..].trim()));
        }
        return Err(format!("unterminated quoted column name in '{item}'"));
    }
    let end = item.find(char::is_whitespace).unwrap_or(item.len());
    let (name, rest) = item.split_at(end);
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "'{name}' is not a column name (quote it: \"{}\")",
            name.replace('"', "\"\"")
        ));
    }
    Ok((name.to_string(), rest.trim()))
}

/// The `CAST` target a type name stands for, resolved by the SQL planner itself so that a
/// schema accepts exactly the type names (and `DECIMAL` bounds) `CAST` accepts.
fn cast_target(type_text: &str) -> Result<CastTarget, String> {
    let unsupported = || {
        format!(
            "'{type_text}' is not a type (write STRING, BIGINT, DOUBLE, DECIMAL(p,s), BOOLEAN or \
             TIMESTAMP)"
        )
    };
    // Only names, numbers, parentheses and commas: the text is spliced into a statement.
    if !type_text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ' ' | '(' | ')' | ','))
    {
        return Err(unsupported());
    }
    struct Open;
    impl Catalog for Open {
        fn stream_columns(&self, _: &str) -> Option<StreamColumns> {
            Some(StreamColumns::Open)
        }
        fn stream_names(&self) -> Vec<String> {
            vec!["s".into()]
        }
    }
    let message = |e: FerrisError| match e {
        FerrisError::Parse { .. } => unsupported(),
        FerrisError::Plan { message, .. } if message.starts_with("CAST to ") => unsupported(),
        FerrisError::Plan { message, .. } => message,
        other => other.to_string(),
    };
    let sql = format!("SELECT CAST(c AS {type_text}) FROM s");
    let statements = parse_statements(&sql).map_err(message)?;
    let [statement] = statements.as_slice() else {
        return Err(unsupported());
    };
    let planned = plan(statement, &Open).map_err(message)?;
    match (planned.projection.as_slice(), &planned.filter) {
        ([column], None) => match &column.expr {
            Expr::Cast { expr, target } if matches!(**expr, Expr::Column(_)) => Ok(*target),
            _ => Err(unsupported()),
        },
        _ => Err(unsupported()),
    }
}

/// Reads CSV records from `R` with their line numbers, after the header.
///
/// Quoting is parsed by the `csv` crate; the raw bytes of each record are kept as well (by a
/// tap on the input) because the crate does not say which fields were quoted, and a quoted
/// empty field (`""`) means something else than an empty one.
pub struct CsvReader<R: Read> {
    reader: csv::Reader<Tap<R>>,
    header: Vec<String>,
    record: CsvRecord,
}

impl<R: Read> fmt::Debug for CsvReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsvReader")
            .field("header", &self.header)
            .field("line", &self.record.line)
            .finish()
    }
}

/// One CSV record: its fields and the line it starts on.
#[derive(Debug, Clone, Default)]
pub struct CsvRecord {
    fields: ByteRecord,
    /// `quoted_empty[i]`: field `i` was written `""` (only filled when some field is empty).
    quoted_empty: Vec<bool>,
    line: u64,
}

impl CsvRecord {
    /// The 1-based line the record starts on.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True for a record without fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Field `i`'s content (quotes removed), if there is one.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.fields.get(i)
    }

    /// True if field `i` was written as a quoted empty field (`""`).
    pub fn is_quoted_empty(&self, i: usize) -> bool {
        self.quoted_empty.get(i).copied().unwrap_or(false)
    }
}

impl<R: Read> CsvReader<R> {
    /// Reads the header of `input`. An input without any record has an empty header. Fails on
    /// I/O errors and on a header that is not UTF-8 or names a column twice.
    pub fn new(input: R) -> io::Result<CsvReader<R>> {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(256 * 1024)
            .from_reader(Tap {
                inner: input,
                kept: Vec::new(),
                base: 0,
            });
        let mut reader = CsvReader {
            reader,
            header: Vec::new(),
            record: CsvRecord::default(),
        };
        if !reader.read()? {
            return Ok(reader);
        }
        let mut header = Vec::with_capacity(reader.record.len());
        for (i, bytes) in reader.record.fields.iter().enumerate() {
            let bytes = match i {
                0 => bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes),
                _ => bytes,
            };
            let name = std::str::from_utf8(bytes).map_err(|_| {
                invalid_data(format!("column {} of the header is not valid UTF-8", i + 1))
            })?;
            if header.iter().any(|h: &String| h == name) {
                return Err(invalid_data(format!(
                    "the header names column '{name}' twice"
                )));
            }
            header.push(name.to_string());
        }
        reader.header = header;
        Ok(reader)
    }

    /// The header's column names, in order (empty for an empty input).
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The next record, or `None` at the end of the input.
    pub fn next_record(&mut self) -> io::Result<Option<&CsvRecord>> {
        Ok(if self.read()? {
            Some(&self.record)
        } else {
            None
        })
    }

    /// Reads one record into `self.record`, with its start line and quoted empty fields.
    fn read(&mut self) -> io::Result<bool> {
        let record = &mut self.record;
        let more = self
            .reader
            .read_byte_record(&mut record.fields)
            .map_err(csv_error)?;
        if !more {
            return Ok(false);
        }
        let (start, mut line) = record
            .fields
            .position()
            .map_or((0, 1), |p| (p.byte(), p.line()));
        let end = self.reader.position().byte();
        let tap = self.reader.get_mut();
        let raw = tap.slice(start, end);
        // The crate's start position is where the previous record ended: blank lines and the
        // rest of a `\r\n` may come before the record itself.
        let mut skip = 0;
        for &b in raw {
            match b {
                b'\n' => line += 1,
                b'\r' => {}
                _ => break,
            }
            skip += 1;
        }
        record.line = line;
        record.quoted_empty.clear();
        if record.fields.iter().any(<[u8]>::is_empty) {
            mark_quoted_empty(&raw[skip.min(raw.len())..], &mut record.quoted_empty);
        }
        tap.release(end);
        Ok(true)
    }
}

fn invalid_data(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn csv_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => invalid_data(format!("{other:?}")),
    }
}

/// Sets `quoted[i]` for each field of the raw record that is exactly `""`.
fn mark_quoted_empty(raw: &[u8], quoted: &mut Vec<bool>) {
    let mut in_quotes = false;
    let mut field_start = 0;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if in_quotes {
            if b == b'"' {
                in_quotes = false;
            }
        } else {
            match b {
                b'"' => in_quotes = true,
                b',' => {
                    quoted.push(&raw[field_start..i] == b"\"\"");
                    field_start = i + 1;
                }
                b'\n' | b'\r' => break,
                _ => {}
            }
        }
        i += 1;
    }
    quoted.push(&raw[field_start..i] == b"\"\"");
}

/// Passes the input through to the `csv` crate, keeping a copy of what it read since the
/// current record began.
struct Tap<R> {
    inner: R,
    /// The input from byte `base` on.
    kept: Vec<u8>,
    base: u64,
}

impl<R> Tap<R> {
    /// The input bytes `start..end` (empty if they are no longer kept).
    fn slice(&self, start: u64, end: u64) -> &[u8] {
        let from = start.saturating_sub(self.base);
        let to = end.saturating_sub(self.base);
        usize::try_from(from)
            .ok()
            .zip(usize::try_from(to).ok())
            .and_then(|(from, to)| self.kept.get(from..to))
            .unwrap_or(&[])
    }

    /// Bytes before `end` are no longer needed. They are dropped in large steps, so that the
    /// copy of what remains is paid once per many records.
    fn release(&mut self, end: u64) {
        const STEP: u64 = 1 << 20;
        let done = end.saturating_sub(self.base);
        if done >= STEP
            && let Ok(done) = usize::try_from(done)
        {
            self.kept.drain(..done.min(self.kept.len()));
            self.base = end;
        }
    }
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.kept.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// How one payload slot is filled.
#[derive(Debug, Clone)]
struct SlotSource {
    /// The row slot.
    slot: usize,
    /// The record's field index.
    field: usize,
    /// The header name, for error messages.
    name: Arc<str>,
    /// The declared type, or `None` to infer it per value.
    declared: Option<CastTarget>,
}

/// Decodes CSV records into rows laid out by a plan's [`InputField`]s.
///
/// Built once per plan and header: every payload field is matched to its header column once,
/// so decoding a record looks nothing up by name.
#[derive(Debug, Clone)]
pub struct CsvDecoder {
    slots: Vec<SlotSource>,
    /// The header's width: every record must have this many fields.
    fields: usize,
    /// The row width (payload and system slots).
    width: usize,
}

impl CsvDecoder {
    /// A decoder filling the payload slots of `fields` (slots with `system: Some(_)` are left
    /// to the connector) from the columns of `header`, converting to the types of `schema`
    /// where one is given. Fails if a payload field is not a header column.
    pub fn new(
        header: &[String],
        fields: &[InputField],
        schema: Option<&CsvSchema>,
    ) -> Result<CsvDecoder, String> {
        let mut slots = Vec::new();
        for (slot, f) in fields.iter().enumerate() {
            if f.system.is_some() {
                continue;
            }
            let Some(field) = header.iter().position(|h| *h == f.name) else {
                return Err(format!(
                    "column '{}' is not in the CSV header (columns: {})",
                    f.name,
                    header.join(", ")
                ));
            };
            slots.push(SlotSource {
                slot,
                field,
                name: Arc::from(f.name.as_str()),
                declared: schema.and_then(|s| s.type_of(&f.name)),
            });
        }
        Ok(CsvDecoder {
            slots,
            fields: header.len(),
            width: fields.len(),
        })
    }

    /// Decodes one record into `row`: the row gets one slot per input field, and every payload
    /// slot is set. System slots are left as they are. On error the payload slots hold no
    /// value of this record that matters (the record is to be skipped).
    pub fn decode(&mut self, record: &CsvRecord, row: &mut Row) -> Result<(), CodecError> {
        row.resize(self.width, Value::Null);
        if record.len() != self.fields {
            return Err(malformed(format!(
                "expected {} fields as in the header, found {}",
                self.fields,
                record.len()
            )));
        }
        for s in &self.slots {
            let bytes = record.get(s.field).unwrap_or_default();
            row[s.slot] = if bytes.is_empty() && !record.is_quoted_empty(s.field) {
                Value::Null
            } else {
                let text = std::str::from_utf8(bytes).map_err(|e| {
                    malformed(format!(
                        "column '{}' is not valid UTF-8 (byte {})",
                        s.name,
                        e.valid_up_to() + 1
                    ))
                })?;
                match s.declared {
                    None => infer(text),
                    Some(target) => declared(text, target),
                }
                .map_err(|e| malformed(format!("column '{}': {e}", s.name)))?
            };
        }
        Ok(())
    }
}

/// The value of an unquoted or quoted non-empty field without a declared type (or of `""`).
fn infer(text: &str) -> Result<Value, String> {
    match text {
        "true" => return Ok(Value::Boolean(true)),
        "false" => return Ok(Value::Boolean(false)),
        _ => {}
    }
    match number_kind(text.as_bytes()) {
        None => Ok(Value::String(Arc::from(text))),
        Some(NumberKind::Integer) => match text.parse::<i64>() {
            Ok(i) => Ok(Value::BigInt(i)),
            Err(_) => exact_decimal(text),
        },
        Some(NumberKind::Other) => exact_decimal(text),
    }
}

fn exact_decimal(text: &str) -> Result<Value, String> {
    Decimal::from_str(text)
        .map(Value::Decimal)
        .map_err(|e| format!("number {text} cannot be represented exactly ({e})"))
}

enum NumberKind {
    /// Digits only, with an optional `-`.
    Integer,
    /// With a fraction or an exponent.
    Other,
}

/// Whether `b` is a number in JSON's syntax: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn number_kind(b: &[u8]) -> Option<NumberKind> {
    let digits_from = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits_from(i + 1),
        _ => return None,
    }
    let mut kind = NumberKind::Integer;
    if b.get(i) == Some(&b'.') {
        let end = digits_from(i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
        kind = NumberKind::Other;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits_from(i);
        if end == i {
            return None;
        }
        i = end;
        kind = NumberKind::Other;
    }
    (i == b.len()).then_some(kind)
}

/// The value of a field of a declared type: `CAST('text' AS target)`, except that
/// `DECIMAL(p,s)` must hold the value exactly and `TIMESTAMP` also takes epoch milliseconds.
fn declared(text: &str, target: CastTarget) -> Result<Value, String> {
    match target {
        CastTarget::Decimal {
            precision_scale: Some((p, s)),
        } => {
            let unconstrained = CastTarget::Decimal {
                precision_scale: None,
            };
            let Value::Decimal(d) = unconstrained
                .cast(Value::string(text))
                .map_err(|_| cannot_convert(text, target))?
            else {
                return Err(cannot_convert(text, target));
            };
            // The exact value first: CAST would round away digits beyond the scale.
            match d.to_precision(p, s) {
                Ok(fitted) if fitted == d => Ok(Value::Decimal(fitted)),
                Ok(_) => Err(format!(
                    "{text} has more than {s} digits after the point for DECIMAL({p},{s})"
                )),
                Err(e) => Err(e.to_string()),
            }
        }
        CastTarget::Timestamp if is_integer(text) => match text.parse::<i64>() {
            Ok(ms) => Ok(Value::Timestamp(ms)),
            Err(_) => Err(cannot_convert(text, target)),
        },
        _ => target.cast(Value::string(text)).map_err(|e| e.to_string()),
    }
}

/// `-?[0-9]+`
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn cannot_convert(text: &str, target: CastTarget) -> String {
    format!("cannot cast '{text}' to {target}")
}

/// Encodes rows as CSV records under a header row.
#[derive(Debug, Clone)]
pub struct CsvEncoder {
    /// The header line, `\n` included.
    header: Vec<u8>,
    width: usize,
    header_written: bool,
}

impl CsvEncoder {
    /// An encoder writing the columns `names`, in order.
    pub fn new(names: &[String]) -> CsvEncoder {
        let mut header = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                header.push(b',');
            }
            write_string(name, &mut header);
        }
        header.push(b'\n');
        CsvEncoder {
            header,
            width: names.len(),
            header_written: false,
        }
    }

    /// Appends the header line (with its `\n`) to `out`, unless it was written already.
    pub fn write_header(&mut self, out: &mut Vec<u8>) {
        if !self.header_written {
            out.extend_from_slice(&self.header);
            self.header_written = true;
        }
    }

    /// Appends `row` as one record (no line terminator) to `out`, after the header line if
    /// this is the first thing written. A missing trailing value is written as `NULL` (an
    /// empty field). On error nothing is appended but the header.
    pub fn encode(&mut self, row: &[Value], out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.write_header(out);
        let start = out.len();
        for i in 0..self.width {
            if i > 0 {
                out.push(b',');
            }
            if let Err(e) = write_value(row.get(i).unwrap_or(&Value::Null), out) {
                out.truncate(start);
                return Err(e);
            }
        }
        Ok(())
    }
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
    use std::io::Write as _;
    match value {
        Value::Null => {}
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::BigInt(i) => {
            write!(out, "{i}").map_err(|e| CodecError::Unencodable(e.to_string()))?;
        }
        Value::Double(d) => {
            if !d.is_finite() {
                return Err(CodecError::Unencodable(format!(
                    "DOUBLE {d} as CSV (only finite numbers are written)"
                )));
            }
            // The shortest text that round-trips, as the JSON encoder writes it.
            write!(out, "{d:?}").map_err(|e| CodecError::Unencodable(e.to_string()))?;
        }
        Value::Decimal(d) => {
            write!(out, "{d}").map_err(|e| CodecError::Unencodable(e.to_string()))?;
        }
        Value::String(s) => write_string(s, out),
        Value::Timestamp(ms) => write_timestamp(*ms, out),
        Value::Json(text) => write_quoted(text, out),
    }
    Ok(())
}

/// Appends `s` as a field: quoted if it is empty (so that it is not read back as `NULL`) or
/// holds a comma, a quote or a line break.
fn write_string(s: &str, out: &mut Vec<u8>) {
    if s.is_empty() || s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        write_quoted(s, out);
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// Appends `s` in quotes, doubling the quotes inside.
fn write_quoted(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for (i, part) in s.split('"').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(part.as_bytes());
    }
    out.push(b'"');
}
