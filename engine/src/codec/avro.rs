//! Avro records (binary encoding of one datum) with exact decimals.
//!
//! The schema is parsed once with `apache_avro` and compiled into a flat table of [`Node`]s;
//! the decoder and encoder then walk the binary encoding themselves (zig-zag varints, length
//! prefixes, array and map blocks) straight into and out of rows, without building
//! `apache_avro` values per record. The top-level schema must be a record.
//!
//! # Reading (Avro -> SQL)
//!
//! | Avro                                             | SQL                                   |
//! |--------------------------------------------------|---------------------------------------|
//! | `null`                                           | `NULL`                                |
//! | `boolean`                                        | `BOOLEAN`                             |
//! | `int`, `long`                                    | `BIGINT`                              |
//! | `float`, `double`                                | `DOUBLE`                              |
//! | `string`, `uuid`, `enum` (the symbol)            | `STRING`                              |
//! | `decimal` (on `bytes` or `fixed`)                | `DECIMAL` exactly at the schema scale |
//! | `big-decimal`                                    | `DECIMAL` at the datum's own scale    |
//! | `timestamp-millis`, `local-timestamp-millis`     | `TIMESTAMP`                           |
//! | `timestamp-micros`/`-nanos`, `local-…`           | `TIMESTAMP`, floored to milliseconds  |
//! | `date`                                           | `TIMESTAMP` at midnight UTC           |
//! | `time-millis`, `time-micros`                     | `BIGINT` (ms or µs of the day)        |
//! | `["null", T]`, `[T, "null"]`                     | `NULL` or T                           |
//! | other unions                                     | the value of the branch present       |
//! | `record`, `array`, `map`                         | `JSON` text                           |
//!
//! - A decimal's unscaled value is big-endian two's complement; one that does not fit 38
//!   digits is an error for that record (never rounded). A schema decimal with a precision
//!   above 38 is rejected when the schema is parsed. Reading does not hold a value to the
//!   schema's precision (the value is exact either way); writing does.
//! - The engine's `TIMESTAMP` has millisecond precision: reading `timestamp-micros` (or
//!   `-nanos`) drops the sub-millisecond digits toward negative infinity (floor), so
//!   `-1` µs reads as `-1` ms, the millisecond that contains it. Writing multiplies by 1000
//!   (or 1,000,000), checked for overflow.
//! - Nested values (records, arrays, maps) become compact JSON text in Avro's JSON encoding,
//!   with two differences that make them useful to SQL: unions are written as the value of
//!   their branch (no `{"type": value}` wrapper) and decimals as exact JSON numbers with their
//!   scale (`12.50`). Other logical types keep their underlying number (a nested
//!   `timestamp-micros` is its microseconds, a `date` its days); `bytes` and `fixed` are JSON
//!   strings of the bytes as ISO-8859-1 characters; a non-finite float is the string `"NaN"`,
//!   `"Infinity"` or `"-Infinity"`.
//! - A field the query reads that the schema does not have is `NULL`, like a missing JSON key.
//!   A field the query reads whose type is `bytes`, `fixed` or `duration` without a mapping
//!   (FerrisStreams has no binary type) fails when the decoder is built; fields the query does
//!   not read are skipped without building any value, whatever their type.
//!
//! # Writing (SQL -> Avro)
//!
//! Output columns are matched by name to the schema's top-level fields. A schema field without
//! a column gets its `default`, else `null` when it is nullable; otherwise building the encoder
//! fails, as it does for a column the schema does not have. Every conversion is checked and
//! none changes a value silently:
//!
//! - `NULL` needs a union with a `null` branch.
//! - `BIGINT` -> `int` (range checked), `long`, `decimal` (exact), `float`/`double` (only when
//!   exactly representable), `time-millis`/`time-micros` (within one day).
//! - `DECIMAL` -> `decimal`: rescaled exactly to the schema's scale (to a smaller scale only
//!   when the dropped digits are zero), checked against the precision and the `fixed` size;
//!   -> `int`/`long` when integral and in range; -> `string` as its text. Never to `float` or
//!   `double`: money does not pass through binary floating point.
//! - `DOUBLE` -> `double`, or `float` (rounded to the nearest `f32`, as the schema asks, but a
//!   finite value that overflows `f32` is an error).
//! - `STRING` -> `string`, `enum` (the symbol must exist), `uuid` (the 8-4-4-4-12 hex form).
//! - `TIMESTAMP` -> `timestamp-*` (checked), `date` (only at exact midnight UTC), `long` (ms).
//! - `BOOLEAN` -> `boolean`. `JSON` -> `record`/`array`/`map` (parsed against the schema,
//!   numbers read exactly from their text, `f64` only for `float`/`double` fields) or
//!   `string` (the text).
//! - For any other union, the first branch whose natural SQL type is the value's is tried
//!   first, then the other branches in order.
//!
//! Nested JSON follows the reading rules in reverse: a union takes the first branch that
//! accepts the JSON value; a missing record key takes the field's default or `null`; an
//! unknown key is an error.

use std::fmt;
use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::schema::Name;
use hashbrown::HashMap;

use crate::codec::copy::{FieldCopy, Span};
use crate::codec::strings::StringPool;
use crate::error::CodecError;
use crate::sql::planner::InputField;
use crate::value::{Row, Value};

mod read;
mod write;

#[cfg(test)]
mod tests;

const FORMAT: &str = "Avro";

/// The largest precision of a `decimal` the engine's `DECIMAL` holds exactly.
const MAX_PRECISION: usize = 38;

/// Index of a [`Node`] in a schema's node table.
type NodeId = usize;

/// Units of a timestamp logical type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeUnit {
    Millis,
    Micros,
    Nanos,
}

impl TimeUnit {
    /// Units per millisecond.
    fn per_milli(self) -> i64 {
        match self {
            TimeUnit::Millis => 1,
            TimeUnit::Micros => 1_000,
            TimeUnit::Nanos => 1_000_000,
        }
    }
}

/// One compiled Avro type. Named types are resolved: a reference is the index of the node it
/// names, so recursive schemas are cycles in the table.
#[derive(Debug, Clone)]
enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
    /// The symbols, shared so that reading one clones a reference count.
    Enum(Arc<[Arc<str>]>),
    Decimal {
        precision: u8,
        scale: u8,
        /// The `fixed` size, or `None` for `bytes`.
        fixed: Option<usize>,
    },
    BigDecimal,
    Uuid,
    Date,
    TimeMillis,
    TimeMicros,
    /// `timestamp-*` and `local-timestamp-*` (the same instant arithmetic for the engine).
    Timestamp(TimeUnit),
    Duration,
    Array(NodeId),
    Map(NodeId),
    Union(Box<[NodeId]>),
    Record(Box<[Field]>),
}

/// A record field.
#[derive(Debug, Clone)]
struct Field {
    name: Box<str>,
    node: NodeId,
    /// The schema's `default`, as JSON text.
    default: Option<Box<str>>,
}

/// A short description of a node for messages (`long`, `fixed(16)`, `union [null, bytes]`).
fn describe(nodes: &[Node], id: NodeId) -> String {
    match &nodes[id] {
        Node::Null => "null".into(),
        Node::Boolean => "boolean".into(),
        Node::Int => "int".into(),
        Node::Long => "long".into(),
        Node::Float => "float".into(),
        Node::Double => "double".into(),
        Node::Bytes => "bytes".into(),
        Node::String => "string".into(),
        Node::Fixed(n) => format!("fixed({n})"),
        Node::Enum(_) => "enum".into(),
        Node::Decimal {
            precision, scale, ..
        } => format!("decimal({precision},{scale})"),
        Node::BigDecimal => "big-decimal".into(),
        Node::Uuid => "uuid".into(),
        Node::Date => "date".into(),
        Node::TimeMillis => "time-millis".into(),
        Node::TimeMicros => "time-micros".into(),
        Node::Timestamp(TimeUnit::Millis) => "timestamp-millis".into(),
        Node::Timestamp(TimeUnit::Micros) => "timestamp-micros".into(),
        Node::Timestamp(TimeUnit::Nanos) => "timestamp-nanos".into(),
        Node::Duration => "duration".into(),
        Node::Array(_) => "array".into(),
        Node::Map(_) => "map".into(),
        Node::Union(branches) => {
            let names: Vec<String> = branches.iter().map(|&b| describe(nodes, b)).collect();
            format!("union [{}]", names.join(", "))
        }
        Node::Record(_) => "record".into(),
    }
}

/// A parsed Avro schema whose top level is a record (validated once, at start).
#[derive(Clone)]
pub struct AvroSchema {
    /// The schema JSON as given.
    text: Arc<str>,
    /// Every compiled type; the top-level record is `root`.
    nodes: Arc<[Node]>,
    root: NodeId,
}

impl fmt::Debug for AvroSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AvroSchema")
            .field("fields", &self.field_names())
            .finish_non_exhaustive()
    }
}

impl AvroSchema {
    /// Parses and compiles `text`. Fails if it is not a valid Avro schema, if its top level is
    /// not a record, if a decimal's precision exceeds 38 (or its scale its precision), or if
    /// it puts `uuid` on `fixed` (which `apache_avro` cannot tell from a string `uuid`).
    pub fn parse(text: &str) -> Result<AvroSchema, String> {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("invalid Avro schema JSON: {e}"))?;
        check_logical_types(&json, "")?;
        let schema = Schema::parse_str(text).map_err(|e| format!("invalid Avro schema: {e}"))?;
        if !matches!(schema, Schema::Record(_)) {
            return Err(format!(
                "the top-level Avro schema must be a record, found {}",
                format!("{:?}", apache_avro::schema::SchemaKind::from(&schema)).to_lowercase()
            ));
        }
        let mut compiler = Compiler::default();
        let root = compiler.compile(&schema)?;
        Ok(AvroSchema {
            text: Arc::from(text),
            nodes: Arc::from(compiler.nodes),
            root,
        })
    }

    /// The schema JSON as given (for registering it in a Schema Registry).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The top-level field names, in schema order.
    pub fn field_names(&self) -> Vec<String> {
        self.fields().iter().map(|f| f.name.to_string()).collect()
    }

    fn fields(&self) -> &[Field] {
        match &self.nodes[self.root] {
            Node::Record(fields) => fields,
            _ => &[],
        }
    }

    /// True when the top-level field `name` of this schema and the field `other_name` of
    /// `other` have the same type, so that a datum of one is, byte for byte, a datum of the
    /// other (unions with their branches in the same order, records with the same fields; names
    /// of named types, docs and defaults do not matter to the encoding). False when either field
    /// is missing, and for types nested deeper than 32 levels (recursive ones included).
    pub fn same_field_type(&self, name: &str, other: &AvroSchema, other_name: &str) -> bool {
        let find =
            |s: &AvroSchema, n: &str| s.fields().iter().find(|f| *f.name == *n).map(|f| f.node);
        match (find(self, name), find(other, other_name)) {
            (Some(a), Some(b)) => same_node(&self.nodes, a, &other.nodes, b, 0),
            _ => false,
        }
    }
}

/// [`AvroSchema::same_field_type`] for two compiled types.
fn same_node(a: &[Node], x: NodeId, b: &[Node], y: NodeId, depth: usize) -> bool {
    if depth > 32 {
        return false;
    }
    let d = depth + 1;
    match (&a[x], &b[y]) {
        (Node::Null, Node::Null)
        | (Node::Boolean, Node::Boolean)
        | (Node::Int, Node::Int)
        | (Node::Long, Node::Long)
        | (Node::Float, Node::Float)
        | (Node::Double, Node::Double)
        | (Node::Bytes, Node::Bytes)
        | (Node::String, Node::String)
        | (Node::BigDecimal, Node::BigDecimal)
        | (Node::Uuid, Node::Uuid)
        | (Node::Date, Node::Date)
        | (Node::TimeMillis, Node::TimeMillis)
        | (Node::TimeMicros, Node::TimeMicros)
        | (Node::Duration, Node::Duration) => true,
        (Node::Fixed(m), Node::Fixed(n)) => m == n,
        (Node::Enum(s), Node::Enum(t)) => s == t,
        (
            Node::Decimal {
                precision: p,
                scale: s,
                fixed: f,
            },
            Node::Decimal {
                precision: q,
                scale: t,
                fixed: g,
            },
        ) => p == q && s == t && f == g,
        (Node::Timestamp(u), Node::Timestamp(v)) => u == v,
        (Node::Array(i), Node::Array(j)) | (Node::Map(i), Node::Map(j)) => {
            same_node(a, *i, b, *j, d)
        }
        (Node::Union(s), Node::Union(t)) => {
            s.len() == t.len()
                && s.iter()
                    .zip(t.iter())
                    .all(|(i, j)| same_node(a, *i, b, *j, d))
        }
        (Node::Record(f), Node::Record(g)) => {
            f.len() == g.len()
                && f.iter()
                    .zip(g.iter())
                    .all(|(f, g)| f.name == g.name && same_node(a, f.node, b, g.node, d))
        }
        _ => false,
    }
}

/// Checks the logical types `apache_avro` would silently ignore or misread: a decimal whose
/// precision is out of 1..=38 or below its scale, and `uuid` on `fixed`. `field` names the
/// enclosing record field for the message.
fn check_logical_types(json: &serde_json::Value, field: &str) -> Result<(), String> {
    let at = |what: String| {
        if field.is_empty() {
            what
        } else {
            format!("field {field}: {what}")
        }
    };
    match json {
        serde_json::Value::Array(items) => {
            for item in items {
                check_logical_types(item, field)?;
            }
        }
        serde_json::Value::Object(map) => {
            match map.get("logicalType").and_then(|t| t.as_str()) {
                Some("decimal") => {
                    let int = |key: &str| map.get(key).and_then(serde_json::Value::as_u64);
                    let precision = int("precision").ok_or_else(|| {
                        at("a decimal needs a positive integer precision".to_string())
                    })?;
                    let scale = match map.get("scale") {
                        None => 0,
                        Some(_) => int("scale").ok_or_else(|| {
                            at("a decimal's scale is a non-negative integer".to_string())
                        })?,
                    };
                    if precision == 0 || precision > MAX_PRECISION as u64 {
                        return Err(at(format!(
                            "decimal precision {precision} is outside 1..=38 (DECIMAL holds at \
                             most 38 digits exactly)"
                        )));
                    }
                    if scale > precision {
                        return Err(at(format!(
                            "decimal scale {scale} exceeds its precision {precision}"
                        )));
                    }
                }
                Some("uuid") if map.get("type").and_then(|t| t.as_str()) == Some("fixed") => {
                    return Err(at(
                        "uuid on fixed is not supported; use {\"type\":\"string\",\
                         \"logicalType\":\"uuid\"}"
                            .to_string(),
                    ));
                }
                _ => {}
            }
            for (key, value) in map {
                if key == "fields"
                    && let serde_json::Value::Array(fields) = value
                {
                    for f in fields {
                        let name = f.get("name").and_then(|n| n.as_str()).unwrap_or("?");
                        let path = if field.is_empty() {
                            name.to_string()
                        } else {
                            format!("{field}.{name}")
                        };
                        check_logical_types(f, &path)?;
                    }
                } else if key != "default" {
                    check_logical_types(value, field)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Compiles an `apache_avro` schema into a node table.
#[derive(Default)]
struct Compiler {
    nodes: Vec<Node>,
    /// Named types (records, enums, fixed) by full name.
    named: HashMap<String, NodeId>,
}

impl Compiler {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn name(&mut self, name: &Name, id: NodeId) {
        self.named.insert(name.fullname(None), id);
    }

    fn compile(&mut self, schema: &Schema) -> Result<NodeId, String> {
        let node = match schema {
            Schema::Null => Node::Null,
            Schema::Boolean => Node::Boolean,
            Schema::Int => Node::Int,
            Schema::Long => Node::Long,
            Schema::Float => Node::Float,
            Schema::Double => Node::Double,
            Schema::Bytes => Node::Bytes,
            Schema::String => Node::String,
            Schema::Uuid => Node::Uuid,
            Schema::BigDecimal => Node::BigDecimal,
            Schema::Date => Node::Date,
            Schema::TimeMillis => Node::TimeMillis,
            Schema::TimeMicros => Node::TimeMicros,
            Schema::TimestampMillis | Schema::LocalTimestampMillis => {
                Node::Timestamp(TimeUnit::Millis)
            }
            Schema::TimestampMicros | Schema::LocalTimestampMicros => {
                Node::Timestamp(TimeUnit::Micros)
            }
            Schema::TimestampNanos | Schema::LocalTimestampNanos => {
                Node::Timestamp(TimeUnit::Nanos)
            }
            Schema::Duration => Node::Duration,
            Schema::Array(a) => {
                let items = self.compile(&a.items)?;
                Node::Array(items)
            }
            Schema::Map(m) => {
                let values = self.compile(&m.types)?;
                Node::Map(values)
            }
            Schema::Union(u) => {
                let branches = u
                    .variants()
                    .iter()
                    .map(|b| self.compile(b))
                    .collect::<Result<Box<[NodeId]>, String>>()?;
                Node::Union(branches)
            }
            Schema::Record(r) => {
                // Reserved first so that the fields may refer to the record itself.
                let id = self.push(Node::Null);
                self.name(&r.name, id);
                let mut fields = Vec::with_capacity(r.fields.len());
                for f in &r.fields {
                    fields.push(Field {
                        name: Box::from(f.name.as_str()),
                        node: self.compile(&f.schema)?,
                        default: f.default.as_ref().map(|d| Box::from(d.to_string())),
                    });
                }
                self.nodes[id] = Node::Record(fields.into());
                return Ok(id);
            }
            Schema::Enum(e) => {
                let symbols: Vec<Arc<str>> =
                    e.symbols.iter().map(|s| Arc::from(s.as_str())).collect();
                let id = self.push(Node::Enum(symbols.into()));
                self.name(&e.name, id);
                return Ok(id);
            }
            Schema::Fixed(f) => {
                let id = self.push(Node::Fixed(f.size));
                self.name(&f.name, id);
                return Ok(id);
            }
            Schema::Decimal(d) => {
                // Checked by `check_logical_types`; checked again so that a wrong value can
                // never wrap.
                let precision = u8::try_from(d.precision)
                    .ok()
                    .filter(|&p| usize::from(p) <= MAX_PRECISION)
                    .ok_or_else(|| format!("decimal precision {} exceeds 38", d.precision))?;
                let scale = u8::try_from(d.scale)
                    .ok()
                    .filter(|&s| s <= precision)
                    .ok_or_else(|| format!("decimal scale {} exceeds its precision", d.scale))?;
                let fixed = match d.inner.as_ref() {
                    Schema::Fixed(f) => Some((f.size, &f.name)),
                    _ => None,
                };
                let id = self.push(Node::Decimal {
                    precision,
                    scale,
                    fixed: fixed.map(|(size, _)| size),
                });
                if let Some((_, name)) = fixed {
                    self.name(name, id);
                }
                return Ok(id);
            }
            Schema::Ref { name } => {
                let full = name.fullname(None);
                return self
                    .named
                    .get(&full)
                    .copied()
                    .ok_or_else(|| format!("unknown named type {full}"));
            }
        };
        Ok(self.push(node))
    }
}

/// Whether the top-level field type `id` can be read into a SQL value.
fn check_readable(nodes: &[Node], id: NodeId) -> Result<(), String> {
    match &nodes[id] {
        Node::Bytes | Node::Fixed(_) | Node::Duration => Err(format!(
            "has type {}, which has no SQL type (FerrisStreams has no binary type)",
            describe(nodes, id)
        )),
        Node::Union(branches) => {
            for &b in branches.iter() {
                check_readable(nodes, b).map_err(|_| {
                    format!(
                        "has type {}: its branch {} has no SQL type (FerrisStreams has no \
                         binary type)",
                        describe(nodes, id),
                        describe(nodes, b)
                    )
                })?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// One top-level field of the decoder's program.
#[derive(Debug, Clone)]
struct ReadStep {
    node: NodeId,
    /// The row slots the field fills; empty when the query does not read it (skipped).
    slots: Box<[usize]>,
}

/// Decodes Avro datums into rows laid out by a plan's [`InputField`]s.
///
/// Built once per plan: every top-level field of the schema is either skipped or read into
/// its slots, in schema order, so decoding does not look anything up by name.
#[derive(Debug, Clone)]
pub struct AvroDecoder {
    nodes: Arc<[Node]>,
    /// Field names, for messages.
    names: Box<[Box<str>]>,
    steps: Box<[ReadStep]>,
    /// Every payload slot, reset to `NULL` before each record.
    payload_slots: Box<[usize]>,
    /// The row width (payload and system slots).
    width: usize,
    /// Short strings decoded before, per slot (see [`StringPool`]).
    strings: StringPool,
    /// Per step, what the output copies of it (see [`AvroDecoder::copy_fields`]).
    copies: Box<[FieldCopy]>,
    /// Per slot, the bytes of its field in the last datum, for the slots the output copies.
    spans: Vec<Span>,
    /// Reused to check nested values that are only copied.
    scratch: String,
}

impl AvroDecoder {
    /// The decoder's string pool (see [`StringPool`]).
    pub fn strings(&self) -> &StringPool {
        &self.strings
    }

    /// The decoder's string pool, to switch it off for measuring.
    pub fn strings_mut(&mut self) -> &mut StringPool {
        &mut self.strings
    }

    /// A decoder filling the payload slots of `fields` (slots with `system: Some(_)` are left
    /// to the connector). A payload field the schema does not have is always `NULL`; one whose
    /// type has no SQL type (`bytes`, `fixed`, `duration`) is an error naming it.
    pub fn new(schema: &AvroSchema, fields: &[InputField]) -> Result<AvroDecoder, String> {
        let record = schema.fields();
        let mut slots: Vec<Vec<usize>> = vec![Vec::new(); record.len()];
        let mut payload_slots = Vec::new();
        for (slot, input) in fields.iter().enumerate() {
            if input.system.is_some() {
                continue;
            }
            payload_slots.push(slot);
            if let Some(i) = record.iter().position(|f| *f.name == *input.name) {
                check_readable(&schema.nodes, record[i].node)
                    .map_err(|e| format!("Avro field {} {e}", input.name))?;
                slots[i].push(slot);
            }
        }
        let steps = record
            .iter()
            .zip(slots)
            .map(|(f, slots)| ReadStep {
                node: f.node,
                slots: slots.into(),
            })
            .collect();
        Ok(AvroDecoder {
            nodes: Arc::clone(&schema.nodes),
            names: record.iter().map(|f| f.name.clone()).collect(),
            steps,
            payload_slots: payload_slots.into(),
            width: fields.len(),
            strings: StringPool::new(fields.len()),
            copies: vec![FieldCopy::None; record.len()].into(),
            spans: Vec::new(),
            scratch: String::new(),
        })
    }

    /// Sets up zero-copy pass-through: `copied[slot]` when an output column copies the slot's
    /// field, `copy_only[slot]` when nothing else reads it. After [`AvroDecoder::decode`],
    /// [`AvroDecoder::spans`] holds the bytes of each copied field in the datum, for an
    /// encoder whose field has the same type ([`AvroSchema::same_field_type`]); a copy-only
    /// field is checked as decoding it would be (a datum that does not decode is refused the
    /// same way) but its slot stays `NULL`.
    pub fn copy_fields(&mut self, copied: &[bool], copy_only: &[bool]) {
        let nodes = &self.nodes;
        self.copies = self
            .steps
            .iter()
            .map(
                |step| match FieldCopy::of(step.slots.iter().copied(), copied, copy_only) {
                    // No bytes to copy (`null`, an empty record): encoded from its value.
                    FieldCopy::Only if read::zero_width(nodes, step.node, 0) => FieldCopy::Decoded,
                    copy => copy,
                },
            )
            .collect();
        let any = self.copies.iter().any(|c| *c != FieldCopy::None);
        self.spans = if any {
            vec![Span::default(); self.width]
        } else {
            Vec::new()
        };
    }

    /// Per slot, where the field an output column copies lies in the last decoded datum
    /// (empty unless set up with [`AvroDecoder::copy_fields`]).
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Decodes one datum in Avro binary encoding (no container header, no registry prefix)
    /// into `row`; all bytes must be consumed. The row gets one slot per input field and every
    /// payload slot is set. System slots are left as they are.
    pub fn decode(&mut self, bytes: &[u8], row: &mut Row) -> Result<(), CodecError> {
        row.resize(self.width, Value::Null);
        for &slot in self.payload_slots.iter() {
            row[slot] = Value::Null;
        }
        let mut reader = read::Reader::new(bytes, &self.nodes);
        for (i, step) in self.steps.iter().enumerate() {
            let copy = self.copies[i];
            let start = reader.position();
            let result = match &*step.slots {
                _ if copy == FieldCopy::Only => reader.check(step.node, &mut self.scratch),
                [] => reader.skip(step.node, 0),
                [slot] => reader
                    .value(step.node, &mut self.strings, *slot)
                    .map(|v| row[*slot] = v),
                [rest @ .., last] => reader.value(step.node, &mut self.strings, *last).map(|v| {
                    for &slot in rest {
                        row[slot] = v.clone();
                    }
                    row[*last] = v;
                }),
            };
            if let Err(e) = result {
                return Err(malformed(format!("field {}: {e}", self.names[i])));
            }
            if copy != FieldCopy::None {
                let span = Span::new(start, reader.position());
                for &slot in step.slots.iter() {
                    self.spans[slot] = span;
                }
            }
        }
        if reader.remaining() > 0 {
            return Err(malformed(format!(
                "{} trailing bytes after the datum",
                reader.remaining()
            )));
        }
        Ok(())
    }
}

fn malformed(message: String) -> CodecError {
    CodecError::Malformed {
        format: FORMAT,
        message,
    }
}

/// Where one top-level field's bytes come from.
#[derive(Debug, Clone)]
enum Source {
    /// The output column at this index.
    Column(usize),
    /// Fixed bytes, encoded once: the field's default, or its `null` branch.
    Constant(Box<[u8]>),
}

/// One top-level field of the encoder's program.
#[derive(Debug, Clone)]
struct WriteStep {
    name: Box<str>,
    node: NodeId,
    source: Source,
}

/// Encodes rows as Avro datums of one record schema.
#[derive(Debug, Clone)]
pub struct AvroEncoder {
    nodes: Arc<[Node]>,
    /// One step per schema field, in schema order.
    steps: Box<[WriteStep]>,
    /// Per step, the input slot whose bytes it copies (see [`AvroEncoder::copy_columns`]).
    copy_from: Box<[Option<usize>]>,
}

impl AvroEncoder {
    /// An encoder writing rows whose columns are `names`, in order. Every column must be a
    /// field of the schema; every schema field without a column needs a default or a `null`
    /// branch.
    pub fn new(schema: &AvroSchema, names: &[String]) -> Result<AvroEncoder, String> {
        let record = schema.fields();
        let nodes = &schema.nodes;
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(format!("output column {name} appears twice"));
            }
            if !record.iter().any(|f| *f.name == **name) {
                return Err(format!(
                    "output column {name} is not a field of the Avro schema (fields: {})",
                    schema.field_names().join(", ")
                ));
            }
        }
        let mut steps = Vec::with_capacity(record.len());
        for f in record {
            let source = match names.iter().position(|n| **n == *f.name) {
                Some(i) => Source::Column(i),
                None => Source::Constant(constant(nodes, f)?),
            };
            steps.push(WriteStep {
                name: f.name.clone(),
                node: f.node,
                source,
            });
        }
        let copy_from = vec![None; steps.len()].into();
        Ok(AvroEncoder {
            nodes: Arc::clone(nodes),
            steps: steps.into(),
            copy_from,
        })
    }

    /// Sets up zero-copy pass-through: each `(column, slot)` says that output column `column`
    /// copies input slot `slot` unchanged, and that the source's field has the same type as
    /// this schema's (the caller checks with [`AvroSchema::same_field_type`]).
    pub fn copy_columns(&mut self, copies: impl IntoIterator<Item = (usize, usize)>) {
        for (column, slot) in copies {
            for (step, from) in self.steps.iter().zip(self.copy_from.iter_mut()) {
                if matches!(step.source, Source::Column(i) if i == column) {
                    *from = Some(slot);
                }
            }
        }
    }

    /// [`AvroEncoder::encode`], except that a field set up by [`AvroEncoder::copy_columns`]
    /// is written by copying the bytes of `source` (the decoded datum) that its slot's span in
    /// `spans` names, or, without one, by encoding the slot's value in `input`. Such columns of
    /// `row` are not read (the projection need not compute them).
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

    /// Appends `row` as one Avro datum (binary encoding, no header) to `out`. A missing
    /// trailing value is `NULL`. On error nothing is appended.
    pub fn encode(&mut self, row: &[Value], out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.write(row, None, out)
    }

    /// [`AvroEncoder::encode`], copying as [`AvroEncoder::encode_copying`] does when given the
    /// decoded datum (`input`, `source`, `spans`).
    fn write(
        &mut self,
        row: &[Value],
        copying: Option<(&[Value], &[u8], &[Span])>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let start = out.len();
        for (step, from) in self.steps.iter().zip(self.copy_from.iter()) {
            let value = match (&step.source, from, copying) {
                (Source::Constant(bytes), _, _) => {
                    out.extend_from_slice(bytes);
                    continue;
                }
                (Source::Column(_), Some(slot), Some((input, source, spans))) => {
                    if let Some(bytes) = Span::bytes(spans, *slot, source) {
                        out.extend_from_slice(bytes);
                        continue;
                    }
                    input.get(*slot)
                }
                (Source::Column(i), _, _) => row.get(*i),
            };
            let result =
                write::sql_value(&self.nodes, step.node, value.unwrap_or(&Value::Null), out);
            if let Err(e) = result {
                out.truncate(start);
                return Err(unencodable(step, &e));
            }
        }
        Ok(())
    }
}

/// The error for a value `step`'s field cannot hold.
fn unencodable(step: &WriteStep, e: &str) -> CodecError {
    CodecError::Unencodable(if e == write::NOT_NULLABLE {
        format!("Avro field {} is not nullable (got NULL)", step.name)
    } else {
        format!("Avro field {}: {e}", step.name)
    })
}

/// The bytes of a field without an output column: its default, else its `null` branch.
fn constant(nodes: &[Node], field: &Field) -> Result<Box<[u8]>, String> {
    let mut out = Vec::new();
    if let Some(default) = &field.default {
        write::default_value(nodes, field.node, default, &mut out)
            .map_err(|e| format!("Avro field {}: invalid default {default}: {e}", field.name))?;
        return Ok(out.into());
    }
    if let Node::Union(branches) = &nodes[field.node]
        && let Some(i) = branches
            .iter()
            .position(|&b| matches!(nodes[b], Node::Null))
    {
        write::long(i as i64, &mut out);
        return Ok(out.into());
    }
    Err(format!(
        "Avro field {} has no output column, no default and is not nullable",
        field.name
    ))
}
