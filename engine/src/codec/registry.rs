//! The Confluent Schema Registry: its wire format and a blocking client.
//!
//! A value written by a Schema-Registry-aware producer is framed as
//!
//! ```text
//! 0x00 | schema id (4 bytes, big-endian) | [Protobuf only: message indexes] | payload
//! ```
//!
//! The magic byte says "registry framing, version 0"; the id names the writer's schema in the
//! registry, so a reader can decode values written with any registered version. Protobuf values
//! also say which message of the `.proto` file they are: a list of indexes (the top-level
//! message, then nested ones), written as zig-zag varints after the id, where the common case
//! "first top-level message" is the single byte `0`.
//!
//! # How the engine uses it
//!
//! - **Sources** read the id of each value with [`split_frame`] (and, for Protobuf, the indexes
//!   with [`read_message_indexes`]). The first time a shard meets an id it fetches the writer
//!   schema with [`RegistryClient::schema_by_id`] and builds a decoder for it; the decoder is
//!   cached per shard under that id, so the registry is asked once per id and shard, never per
//!   record. Ids are immutable in a registry, which is what makes the cache safe without expiry.
//! - **Sinks** register their output schema at start with [`RegistryClient::register`] under
//!   the subject [`value_subject`]`(topic)` and prefix every value with the returned id
//!   ([`write_frame`]), followed for Protobuf by the message indexes
//!   ([`write_message_indexes`]). Registering a schema the subject already has returns the
//!   existing id, so restarting a job does not create versions.
//!
//! # Subjects
//!
//! Schemas are registered under subjects. The engine uses the registry's default
//! TopicNameStrategy: the value schema of topic `trades` lives under `trades-value`
//! ([`value_subject`]) and its key schema under `trades-key` ([`key_subject`]).
//!
//! # The client
//!
//! [`RegistryClient`] speaks plain HTTP only (the build carries no TLS stack): an `https://`
//! URL is refused when the client is built, with a message that says so, rather than failing
//! on the first lookup. Every call is bounded: the connection must open within
//! [`CONNECT_TIMEOUT`] and the whole request finish within [`REQUEST_TIMEOUT`], so a shard that
//! meets a new schema id blocks for at most that long. Proxy environment variables are
//! ignored: the registry is reached directly.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::error::CodecError;

#[cfg(test)]
mod tests;

const FORMAT: &str = "Schema Registry wire format";

/// The first byte of every framed value.
pub const MAGIC_BYTE: u8 = 0;

/// Magic byte and schema id.
pub const HEADER_LEN: usize = 5;

/// The most message indexes [`read_message_indexes`] accepts: one per level of message
/// nesting, and no real schema nests this deep. The bound keeps a corrupt count from making a
/// reader allocate or loop on garbage.
pub const MAX_MESSAGE_INDEXES: usize = 32;

/// How long opening the connection to the registry may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one whole request (connect, send, receive the response and its body) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn malformed(message: impl fmt::Display) -> CodecError {
    CodecError::Malformed {
        format: FORMAT,
        message: message.to_string(),
    }
}

/// Splits a value in the Confluent wire format: magic byte 0, then the schema id as 4 bytes
/// big-endian, then the payload.
///
/// A value that does not start with the magic byte, or that is shorter than the 5-byte header,
/// is [`CodecError::Malformed`] with a message that says what was found.
pub fn split_frame(bytes: &[u8]) -> Result<(u32, &[u8]), CodecError> {
    let Some(&first) = bytes.first() else {
        return Err(malformed(
            "empty value; expected magic byte 0x00 and a 4-byte schema id",
        ));
    };
    // The magic byte is checked before the length: a short value with the wrong first byte is
    // far more likely unframed data than a truncated frame, and the hint says which.
    if first != MAGIC_BYTE {
        return Err(malformed(format!(
            "magic byte {first:#04x}, expected 0x00{}",
            unframed_hint(first)
        )));
    }
    match bytes {
        [_, a, b, c, d, payload @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), payload)),
        _ => Err(malformed(format!(
            "value is {} byte{}, shorter than the {HEADER_LEN}-byte header (magic byte and \
             schema id)",
            bytes.len(),
            if bytes.len() == 1 { "" } else { "s" }
        ))),
    }
}

/// What an unframed value probably is, judging by its first byte.
fn unframed_hint(first: u8) -> &'static str {
    match first {
        b'{' | b'[' => " (is this plain JSON?)",
        b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => " (is this plain JSON or text?)",
        _ => " (is this value written without the schema registry?)",
    }
}

/// Appends the 5-byte header of a value written with schema `id`: magic byte 0, then the id
/// big-endian. The payload follows.
pub fn write_frame(id: u32, out: &mut Vec<u8>) {
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&id.to_be_bytes());
}

/// The Protobuf message-index list that follows the id in Confluent's Protobuf framing: a
/// zig-zag varint count then that many zig-zag varint indexes; the single byte 0 means `[0]`.
///
/// Returns the indexes and the rest of the value (the Protobuf payload). The count is bounded
/// by [`MAX_MESSAGE_INDEXES`]; a negative count, a varint longer than 32 bits, and a list cut
/// short are errors. Indexes are returned as written: resolving them against the schema (and
/// rejecting negative or out-of-range ones) is the caller's, which knows the messages.
pub fn read_message_indexes(bytes: &[u8]) -> Result<(Vec<i32>, &[u8]), CodecError> {
    let mut pos = 0;
    let count = read_varint(bytes, &mut pos, "the message index count")?;
    if count == 0 {
        return Ok((vec![0], &bytes[pos..]));
    }
    let count = usize::try_from(count)
        .map_err(|_| malformed(format!("message index count {count} is negative")))?;
    if count > MAX_MESSAGE_INDEXES {
        return Err(malformed(format!(
            "message index count {count} exceeds the limit of {MAX_MESSAGE_INDEXES}"
        )));
    }
    let mut indexes = Vec::with_capacity(count);
    for i in 0..count {
        let what = format!("message index {} of {count}", i + 1);
        indexes.push(read_varint(bytes, &mut pos, &what)?);
    }
    Ok((indexes, &bytes[pos..]))
}

/// Appends a Protobuf message-index list (see [`read_message_indexes`]). `[0]` (the first
/// top-level message, by far the most common) is written as the single byte 0, as Confluent's
/// serializers do; so is an empty list, which means the same thing.
pub fn write_message_indexes(indexes: &[i32], out: &mut Vec<u8>) {
    if indexes.is_empty() || indexes == [0] {
        out.push(0);
        return;
    }
    // A slice longer than i32::MAX cannot exist in practice; saturating keeps this total.
    write_varint(i32::try_from(indexes.len()).unwrap_or(i32::MAX), out);
    for &index in indexes {
        write_varint(index, out);
    }
}

/// Reads one zig-zag varint of at most 32 bits at `*pos`, advancing `*pos`.
fn read_varint(bytes: &[u8], pos: &mut usize, what: &str) -> Result<i32, CodecError> {
    let mut raw: u32 = 0;
    for shift in (0..35).step_by(7) {
        let Some(&byte) = bytes.get(*pos) else {
            return Err(malformed(format!(
                "value ends inside {what} (truncated after {} bytes)",
                bytes.len()
            )));
        };
        *pos += 1;
        // The fifth byte may carry only the top 4 bits of 32 and no continuation bit.
        if shift == 28 && byte & 0xf0 != 0 {
            return Err(malformed(format!("{what} is a varint longer than 32 bits")));
        }
        raw |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(zigzag_decode(raw));
        }
    }
    // Unreachable: the fifth byte either ends the varint or fails the check above.
    Err(malformed(format!("{what} is a varint longer than 32 bits")))
}

fn write_varint(value: i32, out: &mut Vec<u8>) {
    let mut raw = zigzag_encode(value);
    while raw >= 0x80 {
        out.push((raw & 0x7f) as u8 | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

fn zigzag_encode(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

fn zigzag_decode(raw: u32) -> i32 {
    // `raw >> 1` has 31 bits, so the cast keeps its value.
    ((raw >> 1) as i32) ^ -((raw & 1) as i32)
}

/// The subject of topic `topic`'s value schema under the TopicNameStrategy: `<topic>-value`.
pub fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// The subject of topic `topic`'s key schema under the TopicNameStrategy: `<topic>-key`.
pub fn key_subject(topic: &str) -> String {
    format!("{topic}-key")
}

/// The kind of a registered schema: the registry's `schemaType` (absent means Avro).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaType {
    /// An Avro schema (JSON text).
    Avro,
    /// A Protobuf schema (`.proto` text).
    Protobuf,
    /// A JSON Schema.
    Json,
}

impl SchemaType {
    /// The registry's name: `AVRO`, `PROTOBUF` or `JSON`.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Protobuf => "PROTOBUF",
            SchemaType::Json => "JSON",
        }
    }

    /// The type with registry name `name` (exactly as the registry writes it: `AVRO`,
    /// `PROTOBUF`, `JSON`).
    pub fn from_registry_name(name: &str) -> Option<SchemaType> {
        match name {
            "AVRO" => Some(SchemaType::Avro),
            "PROTOBUF" => Some(SchemaType::Protobuf),
            "JSON" => Some(SchemaType::Json),
            _ => None,
        }
    }
}

impl fmt::Display for SchemaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A schema as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSchema {
    /// The registry's global id of the schema.
    pub id: u32,
    /// Avro, Protobuf or JSON Schema.
    pub schema_type: SchemaType,
    /// The schema text (Avro JSON, `.proto` source, or JSON Schema).
    pub schema: String,
}

/// Why a registry call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry does not have what was asked for.
    #[error("{what} not found in the schema registry")]
    NotFound {
        /// What was looked up (`schema id 7`, `subject 'trades-value'`).
        what: String,
    },
    /// The registry could not be reached or did not answer in time.
    #[error("schema registry at {url} is unreachable: {message}")]
    Unreachable {
        /// The URL that was requested.
        url: String,
        /// Why (connection refused, timed out, host not found).
        message: String,
    },
    /// The registry answered with an error status.
    #[error("schema registry answered HTTP {status}: {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The request and the registry's explanation (its `message` and `error_code`).
        message: String,
    },
    /// The registry answered 200 with a body this client cannot read.
    #[error("schema registry sent an unreadable response: {message}")]
    InvalidResponse {
        /// The request and what is wrong with the body.
        message: String,
    },
    /// The schema uses a registry feature the engine does not support.
    #[error("{message}")]
    Unsupported {
        /// What is unsupported, naming the schema.
        message: String,
    },
}

/// A blocking client of a Confluent-compatible Schema Registry.
///
/// Plain HTTP only (see the [module documentation](self)). Every request is bounded by
/// [`CONNECT_TIMEOUT`] and [`REQUEST_TIMEOUT`] (or the timeout given to
/// [`RegistryClient::with_timeout`]). Each request opens its own connection: lookups are rare
/// (once per schema id and shard, once per sink start), and a kept connection to a registry
/// that has since gone away would cost a full timeout where a new one is refused at once.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    /// The base URL, `http://host[:port][/path]`, without a trailing slash.
    url: String,
    agent: ureq::Agent,
}

/// The media types the registry speaks, newest first, as its own clients send them.
const ACCEPT: &str =
    "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json";
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// How much of an unexpected response body an error message quotes.
const QUOTED_BODY_CHARS: usize = 200;

impl RegistryClient {
    /// A client of the registry at `url` (`http://host:port[/path]`; a trailing slash is
    /// tolerated, the port defaults to 80). The URL is checked here, so a wrong one fails when
    /// the job is built: an `https` URL, another scheme, a missing host, a bad port,
    /// credentials, a query or a fragment are errors that say so. Nothing is contacted yet.
    pub fn new(url: &str) -> Result<RegistryClient, String> {
        RegistryClient::with_timeouts(url, CONNECT_TIMEOUT, REQUEST_TIMEOUT)
    }

    /// Like [`RegistryClient::new`], with both the connect and the whole-request timeout set to
    /// `timeout` (for tests, and registries known to be local).
    pub fn with_timeout(url: &str, timeout: Duration) -> Result<RegistryClient, String> {
        RegistryClient::with_timeouts(url, timeout, timeout)
    }

    fn with_timeouts(
        url: &str,
        connect: Duration,
        request: Duration,
    ) -> Result<RegistryClient, String> {
        let url = normalize_url(url)?;
        let agent = ureq::Agent::config_builder()
            // Error statuses carry the registry's explanation in the body: read it.
            .http_status_as_error(false)
            .proxy(None)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .timeout_connect(Some(connect))
            .timeout_global(Some(request))
            .user_agent("ferris-streams")
            .build()
            .into();
        Ok(RegistryClient { url, agent })
    }

    /// The registry's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// GET `{url}/schemas/ids/{id}`: the schema registered under global id `id`. The answer is
    /// `{"schema": "...", "schemaType": "PROTOBUF" | "AVRO" | "JSON"}` (absent means Avro).
    /// An unknown id (HTTP 404, error code 40403) is [`RegistryError::NotFound`] naming
    /// `schema id N`. A schema that references other schemas is
    /// [`RegistryError::Unsupported`].
    pub fn schema_by_id(&self, id: u32) -> Result<RegisteredSchema, RegistryError> {
        let url = format!("{}/schemas/ids/{id}", self.url);
        let (status, body) = self.exchange("GET", &url, None)?;
        match status {
            200 => {
                let answer: SchemaAnswer = parse_answer("GET", &url, &body)?;
                answer.into_schema(id, &format!("schema id {id}"), &url)
            }
            404 => Err(RegistryError::NotFound {
                what: format!("schema id {id}"),
            }),
            _ => Err(rejection("GET", &url, status, &body)),
        }
    }

    /// GET `{url}/subjects/{subject}/versions/latest`: the newest schema of `subject`. An
    /// unknown subject (HTTP 404) is [`RegistryError::NotFound`] naming the subject.
    pub fn latest(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        let url = format!(
            "{}/subjects/{}/versions/latest",
            self.url,
            encode_path_segment(subject)
        );
        let (status, body) = self.exchange("GET", &url, None)?;
        match status {
            200 => {
                let answer: SchemaAnswer = parse_answer("GET", &url, &body)?;
                let Some(id) = answer.id else {
                    return Err(RegistryError::InvalidResponse {
                        message: format!("GET {url}: the answer has no \"id\""),
                    });
                };
                answer.into_schema(
                    id,
                    &format!("the latest schema of subject '{subject}'"),
                    &url,
                )
            }
            404 => Err(RegistryError::NotFound {
                what: format!("subject '{subject}'"),
            }),
            _ => Err(rejection("GET", &url, status, &body)),
        }
    }

    /// POST `{url}/subjects/{subject}/versions` with `{"schema": text, "schemaType": ...}`
    /// (Content-Type `application/vnd.schemaregistry.v1+json`); the answer is `{"id": N}`.
    /// Registering a schema identical to an existing version of the subject returns that
    /// version's id and creates nothing (registry semantics), so a sink may register at every
    /// start. `schemaType` is left out for Avro, which every registry version reads as Avro.
    /// An invalid schema (HTTP 422) or one incompatible with the subject's earlier versions
    /// (HTTP 409) is [`RegistryError::Rejected`] with the registry's explanation.
    pub fn register(
        &self,
        subject: &str,
        schema_type: SchemaType,
        schema: &str,
    ) -> Result<u32, RegistryError> {
        let url = format!(
            "{}/subjects/{}/versions",
            self.url,
            encode_path_segment(subject)
        );
        let mut request = serde_json::Map::new();
        request.insert("schema".into(), schema.into());
        if schema_type != SchemaType::Avro {
            request.insert("schemaType".into(), schema_type.as_str().into());
        }
        let request = serde_json::Value::Object(request).to_string();
        let (status, body) = self.exchange("POST", &url, Some(&request))?;
        if status != 200 {
            return Err(rejection("POST", &url, status, &body));
        }
        let answer: IdAnswer = parse_answer("POST", &url, &body)?;
        u32::try_from(answer.id).map_err(|_| RegistryError::InvalidResponse {
            message: format!("POST {url}: id {} is not a schema id", answer.id),
        })
    }

    /// Sends one request and reads the whole answer: its status and body text.
    fn exchange(
        &self,
        method: &str,
        url: &str,
        body: Option<&str>,
    ) -> Result<(u16, String), RegistryError> {
        let unreachable = |e: ureq::Error| RegistryError::Unreachable {
            url: url.to_string(),
            message: describe_transport_error(&e),
        };
        let mut response = match body {
            None => self
                .agent
                .get(url)
                .header("Accept", ACCEPT)
                .call()
                .map_err(unreachable)?,
            Some(body) => self
                .agent
                .post(url)
                .header("Accept", ACCEPT)
                .header("Content-Type", CONTENT_TYPE)
                .send(body)
                .map_err(unreachable)?,
        };
        let status = response.status().as_u16();
        let text =
            response
                .body_mut()
                .read_to_string()
                .map_err(|e| RegistryError::Unreachable {
                    url: url.to_string(),
                    message: format!(
                        "{method} answered HTTP {status} but reading the body failed: {}",
                        describe_transport_error(&e)
                    ),
                })?;
        Ok((status, text))
    }
}

/// A transport error in words a user can act on.
fn describe_transport_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => format!("no answer within the timeout ({e})"),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused (is the registry running at this address?)".to_string()
        }
        ureq::Error::HostNotFound => "host not found".to_string(),
        other => other.to_string(),
    }
}

/// Checks a registry URL and returns it as `http://authority[/path]` without a trailing slash.
fn normalize_url(url: &str) -> Result<String, String> {
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err("the schema registry URL is empty; expected http://host:port".to_string());
    }
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(format!(
            "schema registry URL '{url}' has no scheme; expected http://host:port"
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" => {}
        "https" => {
            return Err(format!(
                "schema registry URL '{url}' uses https, which is not supported: the registry \
                 client speaks plain http only (use an http:// URL)"
            ));
        }
        other => {
            return Err(format!(
                "schema registry URL '{url}' has scheme '{other}'; expected http://host:port"
            ));
        }
    }
    if rest.contains(['?', '#']) {
        return Err(format!(
            "schema registry URL '{url}' has a query or fragment; expected http://host:port[/path]"
        ));
    }
    let rest = rest.trim_end_matches('/');
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(format!(
            "schema registry URL '{url}' has credentials, which are not supported"
        ));
    }
    let (host, port) = split_host_port(authority)
        .map_err(|problem| format!("schema registry URL '{url}' {problem}"))?;
    if host.is_empty() {
        return Err(format!("schema registry URL '{url}' has no host"));
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p != 0 => {}
            _ => {
                return Err(format!(
                    "schema registry URL '{url}' has port '{port}'; expected a number from 1 \
                     to 65535"
                ));
            }
        }
    }
    if let Some(bad) = path
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '\\')
    {
        return Err(format!(
            "schema registry URL '{url}' has {bad:?} in its path"
        ));
    }
    Ok(format!("http://{authority}{path}"))
}

/// Splits `host[:port]` or `[v6]:port`, checking the host's characters.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err("has an unclosed '[' in its host".to_string());
        };
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(format!("has host '[{host}]', which is not an IPv6 address"));
        }
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("has '{after}' after its IPv6 host")),
            },
        };
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if let Some(bad) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!("has {bad:?} in its host '{host}'"));
    }
    Ok((host, port))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so that any subject name
/// (which may contain `/`, spaces, or non-ASCII) is one path segment.
fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A registry answer carrying a schema (`/schemas/ids/N`, `/subjects/S/versions/V`).
#[derive(Deserialize)]
struct SchemaAnswer {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    /// Present in subject-version answers only.
    id: Option<u32>,
    #[serde(default)]
    references: Vec<Reference>,
}

#[derive(Deserialize)]
struct Reference {
    name: String,
}

impl SchemaAnswer {
    fn into_schema(
        self,
        id: u32,
        what: &str,
        url: &str,
    ) -> Result<RegisteredSchema, RegistryError> {
        let schema_type = match self.schema_type.as_deref() {
            None => SchemaType::Avro,
            Some(name) => SchemaType::from_registry_name(name).ok_or_else(|| {
                RegistryError::InvalidResponse {
                    message: format!(
                        "GET {url}: schemaType '{name}' is none of AVRO, PROTOBUF, JSON"
                    ),
                }
            })?,
        };
        // The referenced schemas would have to be fetched and given to the decoder too; without
        // them the schema does not resolve, so say so now rather than fail on a missing type.
        if !self.references.is_empty() {
            let names: Vec<&str> = self.references.iter().map(|r| r.name.as_str()).collect();
            return Err(RegistryError::Unsupported {
                message: format!(
                    "{what} references other schemas ({}); schema references are not supported",
                    names.join(", ")
                ),
            });
        }
        Ok(RegisteredSchema {
            id,
            schema_type,
            schema: self.schema,
        })
    }
}

/// The answer to a registration.
#[derive(Deserialize)]
struct IdAnswer {
    id: i64,
}

/// The body of a registry error: `{"error_code": 40403, "message": "Schema not found"}`.
#[derive(Deserialize)]
struct ErrorAnswer {
    error_code: Option<i64>,
    message: Option<String>,
}

fn parse_answer<'a, T: Deserialize<'a>>(
    method: &str,
    url: &str,
    body: &'a str,
) -> Result<T, RegistryError> {
    serde_json::from_str(body).map_err(|e| RegistryError::InvalidResponse {
        message: format!("{method} {url}: {e}; the body is {}", quote(body)),
    })
}

/// A [`RegistryError::Rejected`] for an error status, with the registry's explanation when the
/// body is a registry error, and otherwise the start of the body.
fn rejection(method: &str, url: &str, status: u16, body: &str) -> RegistryError {
    let detail = match serde_json::from_str::<ErrorAnswer>(body) {
        Ok(ErrorAnswer {
            error_code,
            message: Some(message),
        }) => match error_code {
            Some(code) => format!("{message} (error code {code})"),
            None => message,
        },
        _ if body.trim().is_empty() => "empty response body".to_string(),
        _ => quote(body),
    };
    RegistryError::Rejected {
        status,
        message: format!("{method} {url}: {detail}"),
    }
}

/// The start of `body`, quoted, for error messages.
fn quote(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(QUOTED_BODY_CHARS) {
        Some((end, _)) => format!("{:?}...", &body[..end]),
        None => format!("{body:?}"),
    }
}
