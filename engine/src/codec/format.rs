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
use crate::value::Value;

/// How a record key is read into `_key` and written from it (`'<stream>.key.format'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFormat {
    /// The key's bytes as text (`STRING`; bytes that are not UTF-8 are replaced). Writing
    /// uses the value's SQL text form (`CAST(_key AS STRING)`).
    #[default]
    String,
    /// The key is one JSON value, typed like a JSON field: `"A"` is a STRING, `42` a BIGINT,
    /// `12.50` a DECIMAL, an object or array JSON text. Writing produces the value's JSON.
    Json,
}

impl KeyFormat {
    /// `string` or `json`, in any case.
    pub fn parse(text: &str) -> Result<KeyFormat, String> {
        match text.to_ascii_lowercase().as_str() {
            "string" => Ok(KeyFormat::String),
            "json" => Ok(KeyFormat::Json),
            _ => Err(format!(
                "unknown key format '{text}' (use 'string' or 'json')"
            )),
        }
    }

    /// The `_key` value of a record key.
    pub fn read(self, key: &[u8]) -> Result<Value, CodecError> {
        match self {
            KeyFormat::String => Ok(Value::string(&String::from_utf8_lossy(key))),
            KeyFormat::Json => decode_value(key).map_err(|e| match e {
                CodecError::Malformed { message, .. } => CodecError::Malformed {
                    format: "JSON key",
                    message,
                },
                other => other,
            }),
        }
    }

    /// Writes the record key for `value` into `out` (cleared first); `Ok(false)` for `NULL`,
    /// which means "no key".
    pub fn write(self, value: &Value, out: &mut Vec<u8>) -> Result<bool, CodecError> {
        out.clear();
        if value.is_null() {
            return Ok(false);
        }
        match self {
            KeyFormat::String => match value {
                Value::String(s) => out.extend_from_slice(s.as_bytes()),
                other => {
                    use std::io::Write as _;
                    write!(out, "{other}")
                        .map_err(|e| CodecError::Unencodable(format!("key: {e}")))?;
                }
            },
            KeyFormat::Json => write_value(value, out)?,
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
        let key = match lookup("key.format") {
            Some(k) => KeyFormat::parse(k).map_err(|m| err("key.format", m))?,
            None => KeyFormat::default(),
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
