//! A Schema-Registry-compatible HTTP server for tests: [`TestRegistry`].
//!
//! It speaks the part of the Confluent Schema Registry REST API the engine uses, with the
//! registry's semantics and error bodies:
//!
//! - `POST /subjects/{subject}/versions` with `{"schema": ..., "schemaType": ...}` registers a
//!   schema and answers `{"id": N}`. Ids are global and start at 1; the same schema (same type,
//!   same text) gets the same id under every subject, and registering it again under a subject
//!   that has it creates no version. A schema that does not parse (Avro via `apache-avro`,
//!   Protobuf via `protox`, JSON Schema as JSON) is refused with 422 / error code 42201, as the
//!   registry does. Unlike the real registry, schemas are compared as exact text, not in a
//!   canonical form.
//! - `GET /schemas/ids/{id}` answers `{"schema": ..., "schemaType": ...}`, leaving
//!   `schemaType` out for Avro like the registry; an unknown id is 404 with
//!   `{"error_code":40403,"message":"Schema not found"}`.
//! - `GET /subjects`, `GET /subjects/{subject}/versions` and
//!   `GET /subjects/{subject}/versions/{version|latest}`; an unknown subject is 404 / 40401,
//!   an unknown version 404 / 40402.
//!
//! Tests prove caching with the request counters ([`TestRegistry::requests_for_id`],
//! [`TestRegistry::total_requests`]) and failure paths with
//! [`TestRegistry::set_unavailable`], which makes every request answer 503.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;

use ferris_engine::codec::registry::SchemaType;
use serde_json::json;
use tiny_http::{Header, Method, Request, Response, Server};

// The engine shares nothing between shards and so forbids locks (clippy.toml); this server is
// a test fixture outside the engine, where one lock between the test thread and the serving
// thread is the simple and correct choice.
#[allow(clippy::disallowed_types)]
type Shared<T> = Arc<std::sync::Mutex<T>>;

#[allow(clippy::disallowed_types)]
fn shared<T>(value: T) -> Shared<T> {
    Arc::new(std::sync::Mutex::new(value))
}

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A Schema-Registry-compatible server on `127.0.0.1` and a free port, serving from a
/// background thread until it is dropped. See the [module documentation](self).
pub struct TestRegistry {
    url: String,
    server: Arc<Server>,
    state: Shared<State>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for TestRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRegistry")
            .field("url", &self.url)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// What the registry holds, and what it has been asked.
#[derive(Debug, Default)]
struct State {
    /// Schema id `i + 1` is `schemas[i]`.
    schemas: Vec<(SchemaType, String)>,
    /// Each subject's versions (version `v` is `versions[v - 1]`), as schema ids.
    subjects: BTreeMap<String, Vec<u32>>,
    unavailable: bool,
    total_requests: usize,
    id_requests: BTreeMap<u32, usize>,
    registrations: BTreeMap<String, usize>,
}

impl State {
    /// Registers `schema` under `subject`: the id of an identical schema if there is one
    /// (adding it to the subject's versions if the subject lacks it), else a new id.
    fn register(&mut self, subject: &str, schema_type: SchemaType, schema: &str) -> u32 {
        let existing = self
            .schemas
            .iter()
            .position(|(t, s)| *t == schema_type && s == schema);
        let index = match existing {
            Some(index) => index,
            None => {
                self.schemas.push((schema_type, schema.to_string()));
                self.schemas.len() - 1
            }
        };
        let id = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let versions = self.subjects.entry(subject.to_string()).or_default();
        if !versions.contains(&id) {
            versions.push(id);
        }
        id
    }

    fn schema(&self, id: u32) -> Option<&(SchemaType, String)> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        self.schemas.get(index)
    }
}

impl TestRegistry {
    /// Starts a registry on `127.0.0.1` and a port the system picks.
    ///
    /// # Panics
    ///
    /// If no port can be bound.
    pub fn start() -> TestRegistry {
        let server = match Server::http("127.0.0.1:0") {
            Ok(server) => Arc::new(server),
            Err(e) => panic!("test registry: cannot bind 127.0.0.1:0: {e}"),
        };
        let url = match server.server_addr().to_ip() {
            Some(addr) => format!("http://{addr}"),
            None => panic!("test registry: bound to a non-IP address"),
        };
        let state = shared(State::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let (server, state, stopping) = (server.clone(), state.clone(), stopping.clone());
            // The engine keeps threads for its shard runtime (clippy.toml); a test server
            // answering HTTP on its own thread is outside that runtime and blocks nothing.
            #[allow(clippy::disallowed_methods)]
            std::thread::spawn(move || serve(&server, &state, &stopping))
        };
        TestRegistry {
            url,
            server,
            state,
            stopping,
            thread: Some(thread),
        }
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Registers `schema` under `subject` directly (for test setup), with the semantics of
    /// `POST /subjects/{subject}/versions`, and returns its id. Unlike the HTTP endpoint this
    /// neither checks that the schema parses (so a test can plant a broken one) nor counts as
    /// a request.
    pub fn register(&self, subject: &str, schema_type: SchemaType, schema: &str) -> u32 {
        self.with_state(|s| s.register(subject, schema_type, schema))
    }

    /// The schema registered under `id`, if any.
    pub fn schema(&self, id: u32) -> Option<(SchemaType, String)> {
        self.with_state(|s| s.schema(id).cloned())
    }

    /// The schema ids of `subject`'s versions, oldest first (empty for an unknown subject).
    pub fn versions(&self, subject: &str) -> Vec<u32> {
        self.with_state(|s| s.subjects.get(subject).cloned().unwrap_or_default())
    }

    /// While `unavailable`, every request is answered 503
    /// `{"error_code":50301,"message":"Service unavailable"}` (and still counted).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.with_state(|s| s.unavailable = unavailable);
    }

    /// How many HTTP requests the server has received, of any kind.
    pub fn total_requests(&self) -> usize {
        self.with_state(|s| s.total_requests)
    }

    /// How many `GET /schemas/ids/{id}` requests the server has received for `id` (answered
    /// or not).
    pub fn requests_for_id(&self, id: u32) -> usize {
        self.with_state(|s| s.id_requests.get(&id).copied().unwrap_or(0))
    }

    /// How many `POST /subjects/{subject}/versions` requests the server has received for
    /// `subject` (answered or not).
    pub fn registrations(&self, subject: &str) -> usize {
        self.with_state(|s| s.registrations.get(subject).copied().unwrap_or(0))
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // A panic while holding the lock can only come from a bug here; the state is still
        // consistent enough to report from.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            // A panic in the serving thread has already been reported on stderr.
            let _ = thread.join();
        }
    }
}

/// Answers requests until the registry is dropped.
fn serve(server: &Server, state: &Shared<State>, stopping: &AtomicBool) {
    loop {
        match server.recv() {
            Ok(request) => handle(request, state),
            // `recv` fails when unblocked by Drop, and on a failed accept: only the first ends
            // the loop.
            Err(_) if stopping.load(Ordering::SeqCst) => return,
            Err(_) => {}
        }
    }
}

/// An answer: status and JSON body.
type Answer = (u16, serde_json::Value);

fn error(status: u16, error_code: u32, message: impl Into<String>) -> Answer {
    (
        status,
        json!({"error_code": error_code, "message": message.into()}),
    )
}

fn handle(mut request: Request, state: &Shared<State>) {
    let mut body = String::new();
    let read = request.as_reader().read_to_string(&mut body);
    let (status, answer) = {
        // The lock is held for the state change only, not while talking to the client.
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        state.total_requests += 1;
        match read {
            Err(e) => error(400, 400, format!("cannot read the request body: {e}")),
            Ok(_) => route(request.method(), request.url(), &body, &mut state),
        }
    };
    let response = Response::from_string(answer.to_string())
        .with_status_code(status)
        .with_header(content_type());
    // The client may have gone away (a timeout test); nothing to do about it here.
    let _ = request.respond(response);
}

fn content_type() -> Header {
    match Header::from_bytes("Content-Type", CONTENT_TYPE) {
        Ok(header) => header,
        Err(()) => unreachable!("a constant, valid header"),
    }
}

fn route(method: &Method, url: &str, body: &str, state: &mut State) -> Answer {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();

    // Count before answering, so that requests refused as unavailable count too.
    match (method, segments.as_slice()) {
        (Method::Get, ["schemas", "ids", id]) => {
            if let Ok(id) = id.parse::<u32>() {
                *state.id_requests.entry(id).or_default() += 1;
            }
        }
        (Method::Post, ["subjects", subject, "versions"]) => {
            *state.registrations.entry(subject.to_string()).or_default() += 1;
        }
        _ => {}
    }
    if state.unavailable {
        return error(503, 50301, "Service unavailable");
    }

    match (method, segments.as_slice()) {
        (Method::Get, ["schemas", "ids", id]) => {
            match id.parse::<u32>().ok().and_then(|id| state.schema(id)) {
                Some((schema_type, schema)) => (200, schema_json(*schema_type, schema, None)),
                None => error(404, 40403, "Schema not found"),
            }
        }
        (Method::Get, ["subjects"]) => (200, json!(state.subjects.keys().collect::<Vec<_>>())),
        (Method::Get, ["subjects", subject, "versions"]) => match state.subjects.get(*subject) {
            Some(versions) => (200, json!((1..=versions.len()).collect::<Vec<_>>())),
            None => subject_not_found(subject),
        },
        (Method::Get, ["subjects", subject, "versions", version]) => {
            get_version(state, subject, version)
        }
        (Method::Post, ["subjects", subject, "versions"]) => post_version(state, subject, body),
        (_, ["schemas", "ids", _])
        | (_, ["subjects"])
        | (_, ["subjects", _, "versions"])
        | (_, ["subjects", _, "versions", _]) => error(405, 405, "HTTP 405 Method Not Allowed"),
        _ => error(404, 404, "HTTP 404 Not Found"),
    }
}

fn subject_not_found(subject: &str) -> Answer {
    error(404, 40401, format!("Subject '{subject}' not found."))
}

/// The registry's schema object; `subject` adds the subject-version fields.
fn schema_json(
    schema_type: SchemaType,
    schema: &str,
    subject: Option<(&str, usize, u32)>,
) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    if let Some((subject, version, id)) = subject {
        object.insert("subject".into(), subject.into());
        object.insert("version".into(), version.into());
        object.insert("id".into(), id.into());
    }
    // The registry leaves the type out for Avro, its default.
    if schema_type != SchemaType::Avro {
        object.insert("schemaType".into(), schema_type.as_str().into());
    }
    object.insert("schema".into(), schema.into());
    serde_json::Value::Object(object)
}

fn get_version(state: &State, subject: &str, version: &str) -> Answer {
    let Some(versions) = state.subjects.get(subject) else {
        return subject_not_found(subject);
    };
    let number = match version {
        "latest" => versions.len(),
        other => match other.parse::<usize>() {
            Ok(n) if (1..=versions.len()).contains(&n) => n,
            _ => return error(404, 40402, format!("Version {version} not found.")),
        },
    };
    let id = versions[number - 1];
    match state.schema(id) {
        Some((schema_type, schema)) => (
            200,
            schema_json(*schema_type, schema, Some((subject, number, id))),
        ),
        None => error(
            500,
            50001,
            format!("version {number} names unknown schema id {id}"),
        ),
    }
}

fn post_version(state: &mut State, subject: &str, body: &str) -> Answer {
    let request: serde_json::Value = match serde_json::from_str(body) {
        Ok(request) => request,
        Err(e) => return error(400, 400, format!("Unrecognized request body: {e}")),
    };
    let Some(schema) = request.get("schema").and_then(|s| s.as_str()) else {
        return error(
            422,
            42201,
            "Invalid schema: no \"schema\" string in the request",
        );
    };
    let schema_type = match request.get("schemaType") {
        None | Some(serde_json::Value::Null) => SchemaType::Avro,
        Some(name) => match name.as_str().and_then(SchemaType::from_registry_name) {
            Some(t) => t,
            None => return error(422, 42201, format!("Invalid schema type {name}")),
        },
    };
    if let Err(problem) = check_schema(schema_type, schema) {
        return error(422, 42201, format!("Invalid schema: {problem}"));
    }
    let id = state.register(subject, schema_type, schema);
    (200, json!({"id": id}))
}

/// Whether `schema` parses as a schema of its type, as the registry checks on registration.
fn check_schema(schema_type: SchemaType, schema: &str) -> Result<(), String> {
    match schema_type {
        SchemaType::Avro => apache_avro::Schema::parse_str(schema)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        SchemaType::Protobuf => protox::file::File::from_source("schema.proto", schema)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        SchemaType::Json => serde_json::from_str::<serde_json::Value>(schema)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    }
}

/// Decodes `%XX` escapes in one path segment (invalid escapes are kept as they are).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) if hex.iter().all(u8::is_ascii_hexdigit) => std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
