//! Protobuf records, read and written against the user's own `.proto` file.
//!
//! The `.proto` file is compiled once, at start, with `protox` (no code generation step). The
//! decoder and the encoder then compile the message descriptor into a table indexed by field
//! number and walk the wire format themselves: no `DynamicMessage` is built per record, except
//! for fields that become JSON text (nested messages, repeated fields, maps), which are rare on
//! the data path.
//!
//! # Type mapping
//!
//! | Protobuf | SQL |
//! |---|---|
//! | `int32`, `sint32`, `sfixed32`, `int64`, `sint64`, `sfixed64`, `uint32`, `fixed32` | `BIGINT` |
//! | `uint64`, `fixed64` | `BIGINT` up to `i64::MAX`, above it an exact `DECIMAL` of scale 0 |
//! | `float`, `double` | `DOUBLE` (a `float` is widened exactly) |
//! | `bool` | `BOOLEAN` |
//! | `string` | `STRING` (invalid UTF-8 is a record error) |
//! | enum | `STRING`: the value's name; a number the enum does not declare gives its digits |
//! | `google.type.Decimal` | `DECIMAL`, parsed exactly from its text |
//! | `google.type.Money` | `JSON` text `{"currency_code":"USD","amount":12.5}` |
//! | `google.protobuf.Timestamp` | `TIMESTAMP` (milliseconds, see below) |
//! | `google.protobuf.*Value` wrappers | the wrapped value, or `NULL` when the wrapper is absent |
//! | other messages, repeated fields, maps | `JSON` text |
//! | `bytes` | not readable: FerrisStreams has no binary SQL type |
//!
//! **Money** is exact end to end. The one decimal convention is `google.type.Decimal`
//! (`message Decimal { string value = 1; }`): its text is parsed by [`Decimal::from_str`](crate::value::Decimal), so
//! `12.50` keeps its scale and a value with more than 38 digits is an error, never a rounded
//! number. protox does not ship `google/type/*.proto`, so `google/type/decimal.proto` and
//! `google/type/money.proto` are built in (a file of the user's with the same name wins); any
//! message whose full name is `google.type.Decimal` with a string field 1 is taken, whether
//! imported or declared in the user's own file (`package google.type;`). An empty or unparsable text is a record
//! error (an absent field is `NULL`). `google.type.Money` stays JSON text because its currency
//! is data: `{"currency_code":"EUR","amount":-0.75}`, the amount being `units + nanos / 10^9`
//! written exactly with trailing zeros removed; units and nanos of opposite signs, or nanos
//! beyond ±999,999,999, are record errors.
//!
//! **Timestamps**: `TIMESTAMP` has millisecond precision, so a `google.protobuf.Timestamp` becomes
//! `seconds * 1000 + floor(nanos / 1_000_000)`; sub-millisecond digits are dropped (inside JSON
//! text they are kept: a nested timestamp is written as RFC 3339 text with all its digits).
//!
//! **Presence** follows proto3: an absent field with implicit presence (a plain proto3 scalar)
//! decodes as its default (`0`, `''`, `false`, the enum's first value); an absent field with
//! explicit presence (`optional`, proto2 fields, message fields, oneof members) decodes as
//! `NULL`; an absent repeated field is `[]` and an absent map `{}`. When a non-repeated field
//! occurs several times the last occurrence wins (and occurrences of a message field merge);
//! repeated scalars are accepted packed and unpacked. Unknown fields and groups are skipped.
//! A column the query reads that the message does not have decodes as `NULL`, like a missing
//! JSON key.
//!
//! **JSON text** of nested messages names fields as declared in the `.proto`, writes every field
//! with implicit presence (defaults included) and every set field with explicit presence, keeps
//! numbers exact (64-bit integers as JSON numbers, `google.type.Decimal` as an exact JSON number),
//! writes enums by name, `bytes` as base64, and map keys in sorted order.
//!
//! # Encoding
//!
//! Output columns are matched by name to the message's fields; a column with no field is an
//! error at construction, and fields without a column stay unset. Every value is converted with
//! checks (a conversion that would lose information is a record error naming the field):
//! `NULL` leaves the field unset (so an implicit-presence scalar reads back as its default);
//! `BIGINT` goes to any integer kind within its range, to `float`/`double` only when exactly
//! representable, to `google.type.Decimal`, or to `string` as text; `DECIMAL` goes to
//! `google.type.Decimal` (its text, scale kept), to `string`, or to an integer kind when integral
//! and in range, never to `float`/`double` (money never passes through binary floating point);
//! `DOUBLE` goes to `double`/`float` (a `float` takes the nearest value; overflowing to infinity
//! is an error); `STRING` to `string`, `bytes` (its UTF-8), an enum (the name must exist) or
//! `google.type.Decimal` (when it is an exact decimal); `TIMESTAMP` to
//! `google.protobuf.Timestamp` or an integer (epoch milliseconds); `BOOLEAN` to `bool`; JSON text
//! to nested message, repeated and map fields (parsed against the descriptor, numbers exactly
//! from their text) or to `string`. Implicit-presence fields equal to their default are omitted
//! (canonical encoding), and fields are written in field-number order.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use prost_reflect::{DescriptorPool, Kind, MessageDescriptor};
use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};

mod decode;
mod encode;
mod json;
#[cfg(test)]
mod tests;
mod wire;

pub use decode::ProtobufDecoder;
pub use encode::ProtobufEncoder;

const FORMAT: &str = "Protobuf";

/// A compiled message type (validated once, at start).
#[derive(Debug, Clone)]
pub struct ProtoSchema {
    message: MessageDescriptor,
    /// The source text of the file that defines the message.
    source: Arc<str>,
}

/// Which message of a `.proto` file a [`ProtoSchema`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRef<'a> {
    /// A full name (`shop.Order`), or a bare name (`Order`) or trailing part of a full name
    /// (`Order.Line`) that is unique in the file and its imports.
    Name(&'a str),
    /// Confluent Schema Registry message indexes (see [`ProtoSchema::message_indexes`]); an
    /// empty list means the first message, as in Confluent's wire format.
    Indexes(&'a [i32]),
}

impl ProtoSchema {
    /// True when field `name` of this message and field `other_name` of `other`'s are both
    /// singular `string` fields with the same presence (both `optional`, or both implicit), so
    /// that one's bytes after the tag are the other's value: what zero-copy pass-through copies.
    pub fn same_string_field(&self, name: &str, other: &ProtoSchema, other_name: &str) -> bool {
        let (Some(a), Some(b)) = (
            self.descriptor().get_field_by_name(name),
            other.descriptor().get_field_by_name(other_name),
        ) else {
            return false;
        };
        let string = |f: &prost_reflect::FieldDescriptor| {
            matches!(f.kind(), Kind::String) && !f.is_list() && !f.is_map()
        };
        string(&a) && string(&b) && a.supports_presence() == b.supports_presence()
    }

    /// Compiles `path` (imports resolved relative to its directory; the well-known types
    /// `google/protobuf/*.proto` come with protox) and finds `message` (full name like
    /// `shop.Order`, or a bare name if unique).
    pub fn from_file(path: &Path, message: &str) -> Result<ProtoSchema, String> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => Path::new(".").to_path_buf(),
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("'{}' is not a .proto file name", path.display()))?;
        let mut resolver = ChainFileResolver::new();
        resolver.add(IncludeFileResolver::new(dir.clone()));
        resolver.add(GoogleTypeResolver);
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler
            .open_file(name)
            .map_err(|e| format!("cannot compile {}: {e:?}", path.display()))?;
        let pool = compiler.descriptor_pool();
        let message = find_by_name(&pool, name, message)?;
        let defining = message.parent_file();
        let source = std::fs::read_to_string(dir.join(defining.name())).map_err(|e| {
            format!(
                "cannot read {} (defines {}): {e}",
                dir.join(defining.name()).display(),
                message.full_name()
            )
        })?;
        Ok(ProtoSchema {
            message,
            source: Arc::from(source),
        })
    }

    /// Compiles one .proto source held in memory (as a Schema Registry returns it); `message`
    /// chosen by name or by Confluent message indexes. Only the well-known
    /// `google/protobuf/*.proto` files can be imported.
    pub fn from_source(
        file_name: &str,
        source: &str,
        message: MessageRef<'_>,
    ) -> Result<ProtoSchema, String> {
        let mut resolver = ChainFileResolver::new();
        resolver.add(SourceResolver {
            name: file_name.to_string(),
            source: source.to_string(),
        });
        resolver.add(GoogleTypeResolver);
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler
            .open_file(file_name)
            .map_err(|e| format!("cannot compile {file_name}: {e:?}"))?;
        let pool = compiler.descriptor_pool();
        let message = match message {
            MessageRef::Name(name) => find_by_name(&pool, file_name, name)?,
            MessageRef::Indexes(indexes) => find_by_indexes(&pool, file_name, indexes)?,
        };
        if message.parent_file().name() != file_name {
            return Err(format!(
                "message {} is defined in {}, not in {file_name}",
                message.full_name(),
                message.parent_file().name()
            ));
        }
        Ok(ProtoSchema {
            message,
            source: Arc::from(source),
        })
    }

    /// The .proto source text of the file that defines the message (for registering the schema
    /// in a Schema Registry).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Confluent Schema Registry message indexes of this message in its file: `[0]` for the
    /// first top-level message, `[1, 0]` for the first nested message of the second one, etc.
    /// Nested types are counted as the descriptor declares them (map entry types included).
    pub fn message_indexes(&self) -> Vec<i32> {
        let mut indexes = Vec::new();
        let mut current = self.message.clone();
        loop {
            match current.parent_message() {
                Some(parent) => {
                    indexes.push(position(parent.child_messages(), &current));
                    current = parent;
                }
                None => {
                    indexes.push(position(current.parent_file().messages(), &current));
                    break;
                }
            }
        }
        indexes.reverse();
        indexes
    }

    /// The message's full name (`shop.Order`).
    pub fn full_name(&self) -> &str {
        self.message.full_name()
    }

    pub(crate) fn descriptor(&self) -> &MessageDescriptor {
        &self.message
    }
}

/// The index of `target` among `messages` (they always contain it).
fn position(
    mut messages: impl Iterator<Item = MessageDescriptor>,
    target: &MessageDescriptor,
) -> i32 {
    messages
        .position(|m| m == *target)
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or(0)
}

/// `google/type/decimal.proto` and `google/type/money.proto` as published in
/// googleapis, so that a `.proto` file (or a schema fetched from a registry, which carries no
/// references) can import the money types the way protox lets it import
/// `google/protobuf/*.proto`. A file of the user's with the same name takes precedence.
struct GoogleTypeResolver;

const GOOGLE_TYPE_FILES: [(&str, &str); 2] = [
    (
        "google/type/decimal.proto",
        "syntax = \"proto3\";\npackage google.type;\n\
         option java_multiple_files = true;\n\
         message Decimal {\n  string value = 1;\n}\n",
    ),
    (
        "google/type/money.proto",
        "syntax = \"proto3\";\npackage google.type;\n\
         option java_multiple_files = true;\n\
         message Money {\n  string currency_code = 1;\n  int64 units = 2;\n  int32 nanos = 3;\n}\n",
    ),
];

impl FileResolver for GoogleTypeResolver {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        let path = path.to_str()?;
        GOOGLE_TYPE_FILES
            .iter()
            .find(|(name, _)| *name == path)
            .map(|(name, _)| (*name).to_string())
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match GOOGLE_TYPE_FILES.iter().find(|(n, _)| *n == name) {
            Some((name, source)) => File::from_source(name, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// Serves one in-memory file to protox.
struct SourceResolver {
    name: String,
    source: String,
}

impl FileResolver for SourceResolver {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        (path.to_str() == Some(self.name.as_str())).then(|| self.name.clone())
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == self.name {
            File::from_source(name, &self.source)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

/// The message called `name`: a full name, or a bare name matching exactly one message.
fn find_by_name(
    pool: &DescriptorPool,
    file: &str,
    name: &str,
) -> Result<MessageDescriptor, String> {
    let name = name.strip_prefix('.').unwrap_or(name);
    if let Some(m) = pool.get_message_by_name(name) {
        return Ok(m);
    }
    let user_messages = || {
        pool.all_messages()
            .filter(|m| !m.is_map_entry() && !m.parent_file().name().starts_with("google/"))
    };
    // A bare name or a trailing part of a full name (`Inner`, `Outer.Inner`).
    let suffix = format!(".{name}");
    let matches: Vec<MessageDescriptor> = pool
        .all_messages()
        .filter(|m| m.full_name() == name || m.full_name().ends_with(&suffix))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!(
            "message '{name}' not found in {file} (messages: {})",
            names(user_messages())
        )),
        several => Err(format!(
            "message name '{name}' is ambiguous in {file}: {}; give the full name",
            names(several.iter().cloned())
        )),
    }
}

fn names(messages: impl Iterator<Item = MessageDescriptor>) -> String {
    let all: Vec<String> = messages.map(|m| m.full_name().to_string()).collect();
    if all.is_empty() {
        "none".to_string()
    } else {
        all.join(", ")
    }
}

/// The message at Confluent `indexes` in `file`.
fn find_by_indexes(
    pool: &DescriptorPool,
    file: &str,
    indexes: &[i32],
) -> Result<MessageDescriptor, String> {
    let fd = pool
        .get_file_by_name(file)
        .ok_or_else(|| format!("{file} was not compiled"))?;
    let indexes = if indexes.is_empty() {
        &[0][..]
    } else {
        indexes
    };
    let bad = || format!("message indexes {indexes:?} do not name a message in {file}");
    let nth = |mut it: Box<dyn Iterator<Item = MessageDescriptor> + '_>, i: i32| {
        usize::try_from(i).ok().and_then(|i| it.nth(i))
    };
    let mut current = nth(Box::new(fd.messages()), indexes[0]).ok_or_else(bad)?;
    for &i in &indexes[1..] {
        let next = nth(Box::new(current.child_messages()), i).ok_or_else(bad)?;
        current = next;
    }
    Ok(current)
}

/// The scalar kinds, as the wire walker reads and writes them.
#[derive(Debug, Clone)]
pub(crate) enum Scalar {
    Int32,
    Int64,
    UInt32,
    UInt64,
    SInt32,
    SInt64,
    Fixed32,
    Fixed64,
    SFixed32,
    SFixed64,
    Float,
    Double,
    Bool,
    String,
    Bytes,
    Enum(Arc<EnumNames>),
}

impl Scalar {
    /// The scalar for `kind`, `None` for a message.
    fn of(kind: &Kind) -> Option<Scalar> {
        Some(match kind {
            Kind::Int32 => Scalar::Int32,
            Kind::Int64 => Scalar::Int64,
            Kind::Uint32 => Scalar::UInt32,
            Kind::Uint64 => Scalar::UInt64,
            Kind::Sint32 => Scalar::SInt32,
            Kind::Sint64 => Scalar::SInt64,
            Kind::Fixed32 => Scalar::Fixed32,
            Kind::Fixed64 => Scalar::Fixed64,
            Kind::Sfixed32 => Scalar::SFixed32,
            Kind::Sfixed64 => Scalar::SFixed64,
            Kind::Float => Scalar::Float,
            Kind::Double => Scalar::Double,
            Kind::Bool => Scalar::Bool,
            Kind::String => Scalar::String,
            Kind::Bytes => Scalar::Bytes,
            Kind::Enum(e) => Scalar::Enum(Arc::new(EnumNames::new(e))),
            Kind::Message(_) => return None,
        })
    }

    /// The wire type a non-packed value of this kind has.
    fn wire_type(&self) -> u8 {
        match self {
            Scalar::Fixed64 | Scalar::SFixed64 | Scalar::Double => wire::I64,
            Scalar::Fixed32 | Scalar::SFixed32 | Scalar::Float => wire::I32,
            Scalar::String | Scalar::Bytes => wire::LEN,
            _ => wire::VARINT,
        }
    }

    /// The type as written in a `.proto` file.
    fn name(&self) -> &'static str {
        match self {
            Scalar::Int32 => "int32",
            Scalar::Int64 => "int64",
            Scalar::UInt32 => "uint32",
            Scalar::UInt64 => "uint64",
            Scalar::SInt32 => "sint32",
            Scalar::SInt64 => "sint64",
            Scalar::Fixed32 => "fixed32",
            Scalar::Fixed64 => "fixed64",
            Scalar::SFixed32 => "sfixed32",
            Scalar::SFixed64 => "sfixed64",
            Scalar::Float => "float",
            Scalar::Double => "double",
            Scalar::Bool => "bool",
            Scalar::String => "string",
            Scalar::Bytes => "bytes",
            Scalar::Enum(_) => "enum",
        }
    }
}

/// An enum's value names by number, sorted for binary search; names are shared, so decoding an
/// enum does not allocate.
#[derive(Debug)]
pub(crate) struct EnumNames {
    full_name: String,
    /// The name of the first declared value: an absent field's value.
    default: Arc<str>,
    by_number: Vec<(i32, Arc<str>)>,
}

impl EnumNames {
    fn new(e: &prost_reflect::EnumDescriptor) -> EnumNames {
        let mut by_number: Vec<(i32, Arc<str>)> = Vec::new();
        for v in e.values() {
            // With `allow_alias` the first name of a number is its name.
            if !by_number.iter().any(|(n, _)| *n == v.number()) {
                by_number.push((v.number(), Arc::from(v.name())));
            }
        }
        by_number.sort_by_key(|(n, _)| *n);
        EnumNames {
            full_name: e.full_name().to_string(),
            default: Arc::from(e.default_value().name()),
            by_number,
        }
    }

    fn name(&self, number: i32) -> Option<&Arc<str>> {
        self.by_number
            .binary_search_by_key(&number, |(n, _)| *n)
            .ok()
            .map(|i| &self.by_number[i].1)
    }
}

/// Well-known messages with a SQL type of their own.
#[derive(Debug, Clone)]
pub(crate) enum Special {
    /// `google.type.Decimal`: exact `DECIMAL`.
    Decimal,
    /// `google.type.Money`: JSON text with the currency and the exact amount.
    Money,
    /// `google.protobuf.Timestamp`: `TIMESTAMP`.
    Timestamp,
    /// `google.protobuf.*Value`: the wrapped scalar.
    Wrapper(Scalar),
}

impl Special {
    /// The special meaning of `message`, if it has one (checked by full name and field shape,
    /// so a look-alike with other fields stays an ordinary message).
    fn of(message: &MessageDescriptor) -> Option<Special> {
        let field = |n: u32, kind: Kind| {
            message
                .get_field(n)
                .is_some_and(|f| f.kind() == kind && !f.is_list())
        };
        match message.full_name() {
            "google.type.Decimal" if field(1, Kind::String) => Some(Special::Decimal),
            "google.type.Money"
                if field(1, Kind::String) && field(2, Kind::Int64) && field(3, Kind::Int32) =>
            {
                Some(Special::Money)
            }
            "google.protobuf.Timestamp" => Some(Special::Timestamp),
            "google.protobuf.DoubleValue"
            | "google.protobuf.FloatValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue" => message
                .get_field(1)
                .and_then(|f| Scalar::of(&f.kind()))
                .map(Special::Wrapper),
            _ => None,
        }
    }
}

/// How a field is read or written.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    Scalar(Scalar),
    Special(Special),
    /// Nested messages, repeated fields and maps: JSON text.
    Json,
}

impl Shape {
    fn of(field: &prost_reflect::FieldDescriptor) -> Shape {
        if field.is_list() || field.is_map() {
            return Shape::Json;
        }
        match field.kind() {
            Kind::Message(m) => Special::of(&m).map_or(Shape::Json, Shape::Special),
            kind => Scalar::of(&kind).map_or(Shape::Json, Shape::Scalar),
        }
    }
}

/// The field list of `message` for error messages: `auction (1), bidder (2)`.
fn field_list(message: &MessageDescriptor) -> String {
    let all: Vec<String> = message
        .fields()
        .map(|f| format!("{} ({})", f.name(), f.number()))
        .collect();
    if all.is_empty() {
        "none".to_string()
    } else {
        all.join(", ")
    }
}

/// `value` as shown in an error message.
struct Shown<'a>(&'a crate::value::Value);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::value::Value;
        match self.0 {
            Value::String(s) => write!(f, "STRING '{s}'"),
            Value::Json(s) => write!(f, "JSON {s}"),
            v => write!(f, "{} {v}", v.data_type()),
        }
    }
}
