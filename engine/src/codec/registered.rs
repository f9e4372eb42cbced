//! Decoding records written in the Schema Registry wire format: each value names its writer
//! schema by id, so the decoder for an id is built the first time the id is seen (the schema
//! fetched from the registry, parsed or compiled, mapped onto the plan's input fields) and kept
//! for every later record of that id. Each shard has its own cache; nothing is shared.
//!
//! A schema that cannot be had is remembered too, so that a burst of records with an unknown
//! id costs one registry request, not one each: an id the registry does not have stays unknown
//! for the shard's lifetime (ids are immutable), while an unreachable registry is asked again
//! after [`RETRY_AFTER`]. Records that cannot be decoded meanwhile go to the dead-letter topic
//! with the reason.

use std::time::{Duration, Instant};

use crate::codec::avro::{AvroDecoder, AvroSchema};
use crate::codec::protobuf::{MessageRef, ProtoSchema, ProtobufDecoder};
use crate::codec::registry::{
    RegistryClient, RegistryError, SchemaType, read_message_indexes, split_frame,
};
use crate::error::CodecError;
use crate::exec::pool::PoolStats;
use crate::sql::planner::InputField;
use crate::value::Row;

/// How long a failure to reach the registry is remembered before the registry is asked again.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

const FORMAT: &str = "Schema Registry wire format";

/// The decoder of one writer schema, or why there is none.
#[derive(Debug, Clone)]
enum Entry<D> {
    /// Not built yet.
    New,
    Ready(D),
    /// Permanent (unknown id, a schema of the wrong type, a schema that does not compile).
    Failed(String),
    /// The registry could not be asked; try again after the instant.
    Unavailable(String, Instant),
}

/// Decodes Confluent-framed Avro or Protobuf values, one cached decoder per writer schema.
#[derive(Debug, Clone)]
pub struct RegistryDecoder {
    client: RegistryClient,
    fields: Vec<InputField>,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Avro(hashbrown::HashMap<u32, Entry<AvroDecoder>>),
    /// Keyed by schema id and message indexes (`[0]`: the file's first message).
    Protobuf(hashbrown::HashMap<(u32, Vec<i32>), Entry<ProtobufDecoder>>),
}

impl RegistryDecoder {
    /// The string pools of the decoders built so far, summed (see
    /// [`crate::codec::strings::StringPool`]).
    pub fn string_stats(&self) -> PoolStats {
        fn sum<'a, D: 'a>(
            entries: impl Iterator<Item = &'a Entry<D>>,
            stats: fn(&D) -> PoolStats,
        ) -> PoolStats {
            entries
                .filter_map(|e| match e {
                    Entry::Ready(d) => Some(stats(d)),
                    _ => None,
                })
                .fold(PoolStats::default(), PoolStats::plus)
        }
        match &self.kind {
            Kind::Avro(cache) => sum(cache.values(), |d| d.strings().stats()),
            Kind::Protobuf(cache) => sum(cache.values(), |d| d.strings().stats()),
        }
    }

    /// Avro values whose writer schemas are in the registry at `client`.
    pub fn avro(client: RegistryClient, fields: &[InputField]) -> RegistryDecoder {
        RegistryDecoder {
            client,
            fields: fields.to_vec(),
            kind: Kind::Avro(hashbrown::HashMap::new()),
        }
    }

    /// Protobuf values whose schemas are in the registry at `client`.
    pub fn protobuf(client: RegistryClient, fields: &[InputField]) -> RegistryDecoder {
        RegistryDecoder {
            client,
            fields: fields.to_vec(),
            kind: Kind::Protobuf(hashbrown::HashMap::new()),
        }
    }

    /// Decodes one framed value into `row`.
    pub fn decode(&mut self, bytes: &[u8], row: &mut Row) -> Result<(), CodecError> {
        let (id, rest) = split_frame(bytes)?;
        match &mut self.kind {
            Kind::Avro(cache) => {
                let entry = cache.entry(id).or_insert(Entry::New);
                refresh(entry, || {
                    let schema = fetch(&self.client, id, SchemaType::Avro)?;
                    let schema = AvroSchema::parse(&schema)
                        .map_err(|e| Fetch::Failed(format!("schema id {id}: {e}")))?;
                    AvroDecoder::new(&schema, &self.fields)
                        .map_err(|e| Fetch::Failed(format!("schema id {id}: {e}")))
                });
                match entry {
                    Entry::Ready(d) => d.decode(rest, row),
                    Entry::Failed(m) | Entry::Unavailable(m, _) => Err(not_decodable(m)),
                    Entry::New => Err(not_decodable("schema not fetched")),
                }
            }
            Kind::Protobuf(cache) => {
                let (indexes, rest) = read_message_indexes(rest)?;
                let key = (id, indexes);
                if !cache.contains_key(&key) {
                    cache.insert(key.clone(), Entry::New);
                }
                let Some(entry) = cache.get_mut(&key) else {
                    return Err(not_decodable("schema cache lost an entry"));
                };
                let indexes = &key.1;
                refresh(entry, || {
                    let source = fetch(&self.client, id, SchemaType::Protobuf)?;
                    let file = format!("schema-{id}.proto");
                    let schema =
                        ProtoSchema::from_source(&file, &source, MessageRef::Indexes(indexes))
                            .map_err(|e| Fetch::Failed(format!("schema id {id}: {e}")))?;
                    ProtobufDecoder::new(&schema, &self.fields)
                        .map_err(|e| Fetch::Failed(format!("schema id {id}: {e}")))
                });
                match entry {
                    Entry::Ready(d) => d.decode(rest, row),
                    Entry::Failed(m) | Entry::Unavailable(m, _) => Err(not_decodable(m)),
                    Entry::New => Err(not_decodable("schema not fetched")),
                }
            }
        }
    }
}

enum Fetch {
    Failed(String),
    Unavailable(String),
}

/// Builds the entry's decoder if it has none and may try now.
fn refresh<D>(entry: &mut Entry<D>, build: impl FnOnce() -> Result<D, Fetch>) {
    let due = match entry {
        Entry::New => true,
        Entry::Unavailable(_, since) => since.elapsed() >= RETRY_AFTER,
        Entry::Ready(_) | Entry::Failed(_) => false,
    };
    if due {
        *entry = match build() {
            Ok(d) => Entry::Ready(d),
            Err(Fetch::Failed(m)) => Entry::Failed(m),
            Err(Fetch::Unavailable(m)) => Entry::Unavailable(m, Instant::now()),
        };
    }
}

/// The text of schema `id`, which must be of type `want`.
fn fetch(client: &RegistryClient, id: u32, want: SchemaType) -> Result<String, Fetch> {
    let schema = client.schema_by_id(id).map_err(|e| match e {
        RegistryError::Unreachable { .. } | RegistryError::Rejected { .. } => {
            Fetch::Unavailable(format!("schema id {id}: {e}"))
        }
        other => Fetch::Failed(format!("unknown schema id {id}: {other}")),
    })?;
    if schema.schema_type != want {
        return Err(Fetch::Failed(format!(
            "schema id {id} is a {} schema, but the stream's format is {want}",
            schema.schema_type
        )));
    }
    Ok(schema.schema)
}

fn not_decodable(message: &str) -> CodecError {
    CodecError::Malformed {
        format: FORMAT,
        message: message.to_string(),
    }
}
