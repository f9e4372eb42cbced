//! How a stream's record keys and values are written, as its `WITH` properties say:
//! `'<stream>.format'`, `'<stream>.key.format'`, the schema properties and the Schema Registry
//! URL. A [`StreamFormat`] is resolved once when the application is loaded (schemas parsed and
//! compiled, files read); each shard then builds its own [`Decoder`] or [`Encoder`] from it
//! once, and reuses it for every record (the codec cache: nothing is parsed or looked up per
//! batch).

use std::path::Path;
use std::sync::Arc;

use crate::codec::avro::{AvroDecoder, AvroEncoder, AvroSchema};
use crate::codec::json::{JsonDecoder, JsonEncoder, decode_value, write_value};
use crate::codec::protobuf::{ProtoSchema, ProtobufDecoder, ProtobufEncoder};
use crate::codec::registered::RegistryDecoder;
use crate::codec::registry::{
    RegistryClient, SchemaType, value_subject, write_frame, write_message_indexes,
};
use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::sql::planner::InputField;
use crate::value::{Row, Value};

/// How a record key is read into `_key` and written from it (`'<stream>.key.format'`).
#[derive(Debug, Clone, Default)]
pub enum KeyFormat {
    /// The key's bytes as text (`STRING`; bytes that are not UTF-8 are replaced). Writing
    /// uses the value's SQL text form (`CAST(_key AS STRING)`).
    #[default]
    String,
    /// The key is one JSON value, typed like a JSON field: `"A"` is a STRING, `42` a BIGINT,
    /// `12.50` a DECIMAL, an object or array JSON text. Writing produces the value's JSON.
    Json,
    /// The key is one Avro datum of `'<stream>.key.avro.schema'` (any Avro type), typed like an
    /// Avro field: a `long` is a BIGINT, a record JSON text. Kept as a one-field record
    /// wrapping the key schema: its binary encoding is exactly the key's.
    Avro(Arc<AvroSchema>),
}

/// The field of the record that wraps an Avro key schema.
const AVRO_KEY_FIELD: &str = "key";

impl KeyFormat {
    /// `string` or `json`, in any case (`avro` needs a schema: see
    /// [`StreamFormat::from_properties`]).
    pub fn parse(text: &str) -> Result<KeyFormat, String> {
        match text.to_ascii_lowercase().as_str() {
            "string" => Ok(KeyFormat::String),
            "json" => Ok(KeyFormat::Json),
            _ => Err(format!(
                "unknown key format '{text}' (use 'string', 'json' or 'avro')"
            )),
        }
    }

    /// Avro keys of the schema `text` (any Avro type).
    pub fn avro(text: &str) -> Result<KeyFormat, String> {
        let wrapped = format!(
            r#"{{"type":"record","name":"Key","namespace":"ferris.key","fields":[{{"name":"{AVRO_KEY_FIELD}","type":{text}}}]}}"#
        );
        AvroSchema::parse(&wrapped).map(|s| KeyFormat::Avro(Arc::new(s)))
    }

    /// The key reader and writer of one shard.
    pub fn codec(&self) -> Result<KeyCodec, String> {
        Ok(match self {
            KeyFormat::String => KeyCodec::String,
            KeyFormat::Json => KeyCodec::Json,
            KeyFormat::Avro(schema) => {
                let field = [InputField {
                    name: AVRO_KEY_FIELD.to_string(),
                    system: None,
                }];
                KeyCodec::Avro {
                    decoder: Box::new(AvroDecoder::new(schema, &field)?),
                    encoder: AvroEncoder::new(schema, &[AVRO_KEY_FIELD.to_string()])?,
                    row: Vec::with_capacity(1),
                }
            }
        })
    }
}

/// Reads record keys into `_key` values and writes `_key` values as record keys, for one
/// shard (see [`KeyFormat`]).
#[derive(Debug, Clone)]
pub enum KeyCodec {
    /// Text keys.
    String,
    /// JSON keys.
    Json,
    /// Avro keys.
    Avro {
        /// Reads the wrapping record's one field (boxed: the other variants are empty).
        decoder: Box<AvroDecoder>,
        /// Writes it.
        encoder: AvroEncoder,
        /// The one-slot row, reused.
        row: Row,
    },
}

impl KeyCodec {
    /// The `_key` value of a record key.
    pub fn read(&mut self, key: &[u8]) -> Result<Value, CodecError> {
        let in_key = |e: CodecError, format: &'static str| match e {
            CodecError::Malformed { message, .. } => CodecError::Malformed { format, message },
            other => other,
        };
        match self {
            KeyCodec::String => Ok(Value::string(&String::from_utf8_lossy(key))),
            KeyCodec::Json => decode_value(key).map_err(|e| in_key(e, "JSON key")),
            KeyCodec::Avro { decoder, row, .. } => {
                decoder
                    .decode(key, row)
                    .map_err(|e| in_key(e, "Avro key"))?;
                Ok(row.pop().unwrap_or(Value::Null))
            }
        }
    }

    /// Writes the record key for `value` into `out` (cleared first); `Ok(false)` for `NULL`,
    /// which means "no key".
    pub fn write(&mut self, value: &Value, out: &mut Vec<u8>) -> Result<bool, CodecError> {
        out.clear();
        if value.is_null() {
            return Ok(false);
        }
        match self {
            KeyCodec::String => match value {
                Value::String(s) => out.extend_from_slice(s.as_bytes()),
                other => {
                    use std::io::Write as _;
                    write!(out, "{other}")
                        .map_err(|e| CodecError::Unencodable(format!("key: {e}")))?;
                }
            },
            KeyCodec::Json => write_value(value, out)?,
            KeyCodec::Avro { encoder, .. } => {
                encoder.encode(std::slice::from_ref(value), out)?;
            }
        }
        Ok(true)
    }
}

/// How a stream's record values are encoded (`'<stream>.format'`).
#[derive(Debug, Clone, Default)]
pub enum ValueFormat {
    /// JSON objects with exact numbers (the default).
    #[default]
    Json,
    /// One Avro datum per value, with the schema of `'<stream>.avro.schema'` or
    /// `'<stream>.avro.schema.file'`; a registry source may go without (each value names its
    /// writer schema).
    Avro(Option<Arc<AvroSchema>>),
    /// One Protobuf message per value, of `'<stream>.protobuf.message'` in
    /// `'<stream>.protobuf.file'`; a registry source may go without.
    Protobuf(Option<Arc<ProtoSchema>>),
}

/// Everything about a stream's record layout: value format, key format, Schema Registry.
#[derive(Debug, Clone, Default)]
pub struct StreamFormat {
    /// The value's format.
    pub value: ValueFormat,
    /// The key's format.
    pub key: KeyFormat,
    /// `'<stream>.schema.registry.url'`: values are in the Confluent wire format.
    pub registry: Option<RegistryClient>,
    /// A registry sink's schema id, once [`StreamFormat::register`] has registered it.
    pub schema_id: Option<u32>,
}

/// A property of a stream's format that is wrong: the key (without the stream prefix) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// The property key, e.g. `avro.schema.file`.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl StreamFormat {
    /// Whether an output column that copies this source's field `from` unchanged may be written
    /// to `sink`'s field `to` as the field's bytes in the consumed record (zero-copy
    /// pass-through): always between JSON topics; between plain Avro topics where both schemas
    /// give the fields the same type; between plain Protobuf topics for singular strings of the
    /// same presence. Never with a Schema Registry on the Avro or Protobuf side (a source's
    /// writer schema varies per record), nor from one format to another.
    pub fn copies_as(&self, sink: &StreamFormat, from: &str, to: &str) -> bool {
        match (&self.value, &self.registry, &sink.value, &sink.registry) {
            (ValueFormat::Json, _, ValueFormat::Json, _) => true,
            (ValueFormat::Avro(Some(a)), None, ValueFormat::Avro(Some(b)), None) => {
                a.same_field_type(from, b, to)
            }
            (ValueFormat::Protobuf(Some(a)), None, ValueFormat::Protobuf(Some(b)), None) => {
                a.same_string_field(from, b, to)
            }
            _ => false,
        }
    }

    /// The format a stream's properties describe; `lookup(key)` gives the value of
    /// `'<stream>.<key>'`. Schema files are read and compiled here, once. `sink` says whether
    /// the stream is written (a sink always needs its schema; a registry source does not).
    pub fn from_properties<'a>(
        lookup: impl Fn(&str) -> Option<&'a str>,
        sink: bool,
    ) -> Result<StreamFormat, FormatError> {
        let err = |key: &'static str, message: String| FormatError { key, message };
        let registry = lookup("schema.registry.url")
            .map(RegistryClient::new)
            .transpose()
            .map_err(|m| err("schema.registry.url", m))?;
        let key_schema = match (lookup("key.avro.schema"), lookup("key.avro.schema.file")) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "key.avro.schema",
                    "give the key schema inline or as a file, not both".into(),
                ));
            }
            (Some(inline), None) => Some(("key.avro.schema", inline.to_string())),
            (None, Some(path)) => Some((
                "key.avro.schema.file",
                std::fs::read_to_string(path)
                    .map_err(|e| err("key.avro.schema.file", format!("cannot read {path}: {e}")))?,
            )),
            (None, None) => None,
        };
        let key = match (lookup("key.format"), key_schema) {
            (Some(k), Some((which, text))) if k.eq_ignore_ascii_case("avro") => {
                KeyFormat::avro(&text).map_err(|m| err(which, m))?
            }
            (Some(k), None) if k.eq_ignore_ascii_case("avro") => {
                return Err(err(
                    "key.format",
                    "Avro keys need their schema: set 'key.avro.schema' or 'key.avro.schema.file'"
                        .into(),
                ));
            }
            (_, Some((which, _))) => {
                return Err(err(which, "set, but 'key.format' is not 'avro'".into()));
            }
            (Some(k), None) => KeyFormat::parse(k).map_err(|m| err("key.format", m))?,
            (None, None) => KeyFormat::default(),
        };
        let format = lookup("format").map(str::to_ascii_lowercase);
        let avro_keys = ["avro.schema", "avro.schema.file"];
        let proto_keys = ["protobuf.file", "protobuf.message"];
        let stray = |keys: &[&'static str], format: &str| {
            keys.iter()
                .find(|k| lookup(k).is_some())
                .map(|k| err(k, format!("set, but the stream's format is {format}")))
        };
        let value = match format.as_deref() {
            None | Some("json") => {
                if let Some(e) = stray(&avro_keys, "json").or_else(|| stray(&proto_keys, "json")) {
                    return Err(e);
                }
                if registry.is_some() {
                    return Err(err(
                        "schema.registry.url",
                        "the Schema Registry wire format is for 'avro' and 'protobuf' values; \
                         this stream's format is json"
                            .into(),
                    ));
                }
                ValueFormat::Json
            }
            Some("avro") => {
                if let Some(e) = stray(&proto_keys, "avro") {
                    return Err(e);
                }
                let text = match (lookup("avro.schema"), lookup("avro.schema.file")) {
                    (Some(_), Some(_)) => {
                        return Err(err(
                            "avro.schema",
                            "give the schema inline or as a file, not both".into(),
                        ));
                    }
                    (Some(inline), None) => Some(inline.to_string()),
                    (None, Some(path)) => Some(std::fs::read_to_string(path).map_err(|e| {
                        err("avro.schema.file", format!("cannot read {path}: {e}"))
                    })?),
                    (None, None) => None,
                };
                let schema = match text {
                    Some(t) => Some(Arc::new(AvroSchema::parse(&t).map_err(|m| {
                        let key = if lookup("avro.schema").is_some() {
                            "avro.schema"
                        } else {
                            "avro.schema.file"
                        };
                        err(key, m)
                    })?)),
                    None if registry.is_some() && !sink => None,
                    None => {
                        return Err(err(
                            "avro.schema",
                            "an Avro stream needs its schema: set 'avro.schema' (inline JSON) \
                             or 'avro.schema.file'"
                                .into(),
                        ));
                    }
                };
                ValueFormat::Avro(schema)
            }
            Some("protobuf") => {
                if let Some(e) = stray(&avro_keys, "protobuf") {
                    return Err(e);
                }
                let schema = match (lookup("protobuf.file"), lookup("protobuf.message")) {
                    (Some(file), Some(message)) => Some(Arc::new(
                        ProtoSchema::from_file(Path::new(file), message)
                            .map_err(|m| err("protobuf.file", m))?,
                    )),
                    (Some(_), None) => {
                        return Err(err(
                            "protobuf.message",
                            "name the message type of the values (e.g. 'shop.Order')".into(),
                        ));
                    }
                    (None, Some(_)) => {
                        return Err(err(
                            "protobuf.file",
                            "give the .proto file that defines the message".into(),
                        ));
                    }
                    (None, None) if registry.is_some() && !sink => None,
                    (None, None) => {
                        return Err(err(
                            "protobuf.file",
                            "a Protobuf stream needs 'protobuf.file' and 'protobuf.message'".into(),
                        ));
                    }
                };
                ValueFormat::Protobuf(schema)
            }
            Some(other) => {
                return Err(err(
                    "format",
                    format!("unknown format '{other}' (use 'json', 'avro' or 'protobuf')"),
                ));
            }
        };
        Ok(StreamFormat {
            value,
            key,
            registry,
            schema_id: None,
        })
    }

    /// The payload columns a local schema declares (for `SELECT *`), if there is one.
    pub fn schema_columns(&self) -> Option<Vec<String>> {
        match &self.value {
            ValueFormat::Json => None,
            ValueFormat::Avro(schema) => schema.as_ref().map(|s| s.field_names()),
            ValueFormat::Protobuf(schema) => schema.as_ref().map(|s| {
                s.descriptor()
                    .fields()
                    .map(|f| f.name().to_string())
                    .collect()
            }),
        }
    }

    /// For a sink with a registry: registers its schema under `<topic>-value` (or finds the
    /// identical version already there) and keeps the id for [`StreamFormat::encoder`].
    pub fn register(&mut self, topic: &str) -> Result<(), String> {
        let Some(client) = &self.registry else {
            return Ok(());
        };
        let subject = value_subject(topic);
        let (kind, text) = match &self.value {
            ValueFormat::Json => return Ok(()),
            ValueFormat::Avro(Some(s)) => (SchemaType::Avro, s.text()),
            ValueFormat::Protobuf(Some(s)) => (SchemaType::Protobuf, s.source()),
            ValueFormat::Avro(None) | ValueFormat::Protobuf(None) => {
                return Err("a sink needs its schema to register it".into());
            }
        };
        let id = client
            .register(&subject, kind, text)
            .map_err(|e| format!("registering the schema as '{subject}': {e}"))?;
        self.schema_id = Some(id);
        Ok(())
    }

    /// A decoder for records of this stream, filling the payload slots of `fields`.
    pub fn decoder(&self, fields: &[InputField]) -> Result<Decoder, String> {
        Ok(match (&self.value, &self.registry) {
            (ValueFormat::Json, _) => Decoder::Json(JsonDecoder::new(fields)),
            (ValueFormat::Avro(_), Some(client)) => {
                Decoder::Registry(Box::new(RegistryDecoder::avro(client.clone(), fields)))
            }
            (ValueFormat::Protobuf(_), Some(client)) => {
                Decoder::Registry(Box::new(RegistryDecoder::protobuf(client.clone(), fields)))
            }
            (ValueFormat::Avro(Some(schema)), None) => {
                Decoder::Avro(AvroDecoder::new(schema, fields)?)
            }
            (ValueFormat::Protobuf(Some(schema)), None) => {
                Decoder::Protobuf(ProtobufDecoder::new(schema, fields)?)
            }
            (ValueFormat::Avro(None) | ValueFormat::Protobuf(None), None) => {
                return Err("no schema to decode with".into());
            }
        })
    }

    /// An encoder writing the columns `names`, in order (a registry sink must have been
    /// [registered](StreamFormat::register)).
    pub fn encoder(&self, names: &[String]) -> Result<Encoder, String> {
        let (inner, indexes) = match &self.value {
            ValueFormat::Json => return Ok(Encoder::Json(JsonEncoder::new(names))),
            ValueFormat::Avro(Some(schema)) => {
                (Encoder::Avro(AvroEncoder::new(schema, names)?), None)
            }
            ValueFormat::Protobuf(Some(schema)) => (
                Encoder::Protobuf(ProtobufEncoder::new(schema, names)?),
                Some(schema.message_indexes()),
            ),
            ValueFormat::Avro(None) | ValueFormat::Protobuf(None) => {
                return Err("a sink needs its schema".into());
            }
        };
        if self.registry.is_none() {
            return Ok(inner);
        }
        let id = self
            .schema_id
            .ok_or("the sink's schema is not registered yet")?;
        let mut prefix = Vec::with_capacity(8);
        write_frame(id, &mut prefix);
        if let Some(indexes) = indexes {
            write_message_indexes(&indexes, &mut prefix);
        }
        Ok(Encoder::Framed {
            prefix,
            inner: Box::new(inner),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Decimal;

    fn props<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |key| pairs.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    #[test]
    fn fields_are_copied_as_bytes_only_between_formats_that_write_them_alike() {
        let avro = |long: &str| StreamFormat {
            value: ValueFormat::Avro(Some(Arc::new(
                AvroSchema::parse(&format!(
                    r#"{{"type":"record","name":"R","fields":[{{"name":"id","type":"{long}"}}]}}"#
                ))
                .unwrap(),
            ))),
            ..StreamFormat::default()
        };
        let json = StreamFormat::default();
        // JSON writes any value as its text: any field, under any name.
        assert!(json.copies_as(&json, "id", "other"));
        assert!(avro("long").copies_as(&avro("long"), "id", "id"));
        assert!(!avro("long").copies_as(&avro("int"), "id", "id"));
        assert!(!avro("long").copies_as(&json, "id", "id"));
        assert!(!json.copies_as(&avro("long"), "id", "id"));
        // A registry source names its writer schema per record: never copied from.
        let mut framed = avro("long");
        framed.registry = Some(RegistryClient::new("http://127.0.0.1:1").unwrap());
        assert!(!framed.copies_as(&avro("long"), "id", "id"));
        assert!(!avro("long").copies_as(&framed, "id", "id"));
    }

    #[test]
    fn string_and_json_keys_read_and_write() {
        let mut text = KeyFormat::String.codec().unwrap();
        assert_eq!(text.read(b"AAPL").unwrap(), Value::string("AAPL"));
        let mut out = Vec::new();
        assert!(text.write(&Value::BigInt(-7), &mut out).unwrap());
        assert_eq!(out, b"-7");
        assert!(!text.write(&Value::Null, &mut out).unwrap());
        assert!(out.is_empty());

        let mut json = KeyFormat::Json.codec().unwrap();
        assert_eq!(json.read(b"42").unwrap(), Value::BigInt(42));
        assert_eq!(
            json.read(b"12.50").unwrap(),
            Value::Decimal(Decimal::new(1250, 2).unwrap())
        );
        assert_eq!(json.read(br#""A""#).unwrap(), Value::string("A"));
        assert_eq!(
            json.read(br#"{"a": 1}"#).unwrap(),
            Value::Json("{\"a\":1}".into())
        );
        let err = json.read(b"not json").unwrap_err().to_string();
        assert!(err.starts_with("malformed JSON key: "), "{err}");
        assert!(json.write(&Value::string("x\"y"), &mut out).unwrap());
        assert_eq!(out, br#""x\"y""#);
    }

    #[test]
    fn avro_keys_of_any_schema_read_and_write_the_plain_datum() {
        let format = StreamFormat::from_properties(
            props(&[("key.format", "avro"), ("key.avro.schema", r#""long""#)]),
            false,
        )
        .unwrap();
        let mut long = format.key.codec().unwrap();
        // -3 zig-zag encoded is 5.
        assert_eq!(long.read(&[5]).unwrap(), Value::BigInt(-3));
        let mut out = Vec::new();
        assert!(long.write(&Value::BigInt(-3), &mut out).unwrap());
        assert_eq!(out, [5]);
        let err = long.read(&[0x80]).unwrap_err().to_string();
        assert!(err.starts_with("malformed Avro key: "), "{err}");

        let record = KeyFormat::avro(
            r#"{"type":"record","name":"K","fields":[{"name":"acct","type":"string"},
                {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}]}"#,
        )
        .unwrap();
        let mut record = record.codec().unwrap();
        // "ab" (length 2 -> 4), then the decimal 12.50 = 1250 = 0x04e2 (length 2 -> 4).
        let datum = [4, b'a', b'b', 4, 0x04, 0xe2];
        let value = record.read(&datum).unwrap();
        assert_eq!(value, Value::Json(r#"{"acct":"ab","amount":12.50}"#.into()));
        assert!(record.write(&value, &mut out).unwrap());
        assert_eq!(out, datum);
    }

    #[test]
    fn format_properties_are_checked() {
        let err = |pairs: &[(&str, &str)], sink: bool| {
            StreamFormat::from_properties(props(pairs), sink).unwrap_err()
        };
        assert_eq!(
            err(&[("key.format", "avro")], false).message,
            "Avro keys need their schema: set 'key.avro.schema' or 'key.avro.schema.file'"
        );
        assert_eq!(
            err(&[("key.avro.schema", "\"long\"")], false).message,
            "set, but 'key.format' is not 'avro'"
        );
        assert_eq!(err(&[("key.format", "xml")], false).key, "key.format");
        assert_eq!(err(&[("format", "avro")], false).key, "avro.schema");
        // A registry source needs no local schema; a registry sink does.
        let registry = [
            ("format", "avro"),
            ("schema.registry.url", "http://127.0.0.1:1"),
        ];
        assert!(StreamFormat::from_properties(props(&registry), false).is_ok());
        assert_eq!(err(&registry, true).key, "avro.schema");
        assert_eq!(
            err(&[("format", "json"), ("protobuf.file", "x.proto")], false).message,
            "set, but the stream's format is json"
        );
        assert_eq!(
            err(
                &[("format", "protobuf"), ("protobuf.file", "x.proto")],
                false
            )
            .key,
            "protobuf.message"
        );
        let missing = err(
            &[
                ("format", "protobuf"),
                ("protobuf.file", "/nonexistent/x.proto"),
                ("protobuf.message", "X"),
            ],
            false,
        );
        assert_eq!(missing.key, "protobuf.file");
        assert!(missing.message.contains("x.proto"), "{}", missing.message);
        assert_eq!(
            err(&[("schema.registry.url", "https://r:8081")], false).key,
            "schema.registry.url"
        );
    }
}
