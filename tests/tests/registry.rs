//! The Schema Registry client against [`TestRegistry`]: registering and fetching Avro and
//! Protobuf schemas, registry semantics (same schema, same id), and every failure a job can
//! meet (unknown id, a registry that answers 503, nothing listening, a registry that never
//! answers, a server that is not a registry, an https URL).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use ferris_engine::codec::registry::{
    CONNECT_TIMEOUT, RegisteredSchema, RegistryClient, RegistryError, SchemaType,
    read_message_indexes, split_frame, value_subject, write_frame, write_message_indexes,
};
use ferris_tests::registry::TestRegistry;

const TRADE_AVRO: &str = r#"{"type":"record","name":"Trade","namespace":"ferris.test","fields":[{"name":"symbol","type":"string"},{"name":"quantity","type":"long"}]}"#;

const TRADE_AVRO_V2: &str = r#"{"type":"record","name":"Trade","namespace":"ferris.test","fields":[{"name":"symbol","type":"string"},{"name":"quantity","type":"long"},{"name":"venue","type":["null","string"],"default":null}]}"#;

const TRADE_PROTO: &str = r#"syntax = "proto3";
package ferris.test;

message Header {
  string source = 1;
}

message Trade {
  string symbol = 1;
  int64 quantity = 2;
}
"#;

fn client(registry: &TestRegistry) -> RegistryClient {
    RegistryClient::new(&registry.url()).expect("the test registry's URL is valid")
}

/// A port nothing listens on: bound by the system, then released.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a bound address").port()
}

#[test]
fn registers_and_fetches_an_avro_schema() {
    let registry = TestRegistry::start();
    let client = client(&registry);
    let id = client
        .register("trades-value", SchemaType::Avro, TRADE_AVRO)
        .unwrap();
    assert_eq!(id, 1);
    assert_eq!(
        client.schema_by_id(1).unwrap(),
        RegisteredSchema {
            id: 1,
            schema_type: SchemaType::Avro,
            schema: TRADE_AVRO.to_string()
        }
    );
    assert_eq!(registry.versions("trades-value"), [1]);
    assert_eq!(registry.registrations("trades-value"), 1);
    assert_eq!(registry.requests_for_id(1), 1);
    assert_eq!(registry.total_requests(), 2);
}

#[test]
fn registers_and_fetches_a_protobuf_schema() {
    let registry = TestRegistry::start();
    let client = client(&registry);
    let id = client
        .register("trades-value", SchemaType::Protobuf, TRADE_PROTO)
        .unwrap();
    assert_eq!(id, 1);
    let expected = RegisteredSchema {
        id: 1,
        schema_type: SchemaType::Protobuf,
        schema: TRADE_PROTO.to_string(),
    };
    assert_eq!(client.schema_by_id(1).unwrap(), expected);
    assert_eq!(client.latest("trades-value").unwrap(), expected);
    assert_eq!(
        registry.schema(1),
        Some((SchemaType::Protobuf, TRADE_PROTO.to_string()))
    );
}

#[test]
fn same_schema_registers_once() {
    let registry = TestRegistry::start();
    let client = client(&registry);
    let subject = value_subject("trades");
    assert_eq!(
        client
            .register(&subject, SchemaType::Avro, TRADE_AVRO)
            .unwrap(),
        1
    );
    assert_eq!(
        client
            .register(&subject, SchemaType::Avro, TRADE_AVRO)
            .unwrap(),
        1
    );
    assert_eq!(registry.versions(&subject), [1]);
    assert_eq!(registry.registrations(&subject), 2);

    // Ids are global: the same schema under another subject keeps its id.
    assert_eq!(
        client
            .register("quotes-value", SchemaType::Avro, TRADE_AVRO)
            .unwrap(),
        1
    );
    // A new version gets the next id and becomes the latest.
    assert_eq!(
        client
            .register(&subject, SchemaType::Avro, TRADE_AVRO_V2)
            .unwrap(),
        2
    );
    assert_eq!(registry.versions(&subject), [1, 2]);
    assert_eq!(client.latest(&subject).unwrap().id, 2);
    assert_eq!(client.latest(&subject).unwrap().schema, TRADE_AVRO_V2);
    // Going back to the first schema reuses its id and adds no version.
    assert_eq!(
        client
            .register(&subject, SchemaType::Avro, TRADE_AVRO)
            .unwrap(),
        1
    );
    assert_eq!(registry.versions(&subject), [1, 2]);
}

#[test]
fn ids_are_shared_across_schema_types() {
    let registry = TestRegistry::start();
    let client = client(&registry);
    assert_eq!(
        client
            .register("a-value", SchemaType::Avro, TRADE_AVRO)
            .unwrap(),
        1
    );
    assert_eq!(
        client
            .register("b-value", SchemaType::Protobuf, TRADE_PROTO)
            .unwrap(),
        2
    );
    assert_eq!(
        client
            .register("c-value", SchemaType::Json, r#"{"type":"object"}"#)
            .unwrap(),
        3
    );
    assert_eq!(
        client.schema_by_id(2).unwrap().schema_type,
        SchemaType::Protobuf
    );
    assert_eq!(
        client.schema_by_id(3).unwrap().schema_type,
        SchemaType::Json
    );
}

#[test]
fn setup_registration_is_visible_to_the_client() {
    let registry = TestRegistry::start();
    let id = registry.register("trades-value", SchemaType::Protobuf, TRADE_PROTO);
    assert_eq!(id, 1);
    assert_eq!(registry.total_requests(), 0);
    let client = client(&registry);
    assert_eq!(client.schema_by_id(1).unwrap().schema, TRADE_PROTO);
    assert_eq!(client.schema_by_id(1).unwrap().schema, TRADE_PROTO);
    // The client itself does not cache: the counters see every fetch.
    assert_eq!(registry.requests_for_id(1), 2);
    assert_eq!(registry.requests_for_id(2), 0);
    assert_eq!(registry.total_requests(), 2);
}

#[test]
fn subjects_with_reserved_characters_travel_as_one_segment() {
    let registry = TestRegistry::start();
    let client = client(&registry);
    let subject = "team/a trades-value";
    assert_eq!(
        client
            .register(subject, SchemaType::Avro, TRADE_AVRO)
            .unwrap(),
        1
    );
    assert_eq!(registry.versions(subject), [1]);
    assert_eq!(registry.registrations(subject), 1);
    assert_eq!(client.latest(subject).unwrap().id, 1);
}

#[test]
fn unknown_id_is_not_found() {
    let registry = TestRegistry::start();
    registry.register("trades-value", SchemaType::Avro, TRADE_AVRO);
    let err = client(&registry).schema_by_id(42).unwrap_err();
    assert_eq!(
        err,
        RegistryError::NotFound {
            what: "schema id 42".to_string()
        }
    );
    assert_eq!(
        err.to_string(),
        "schema id 42 not found in the schema registry"
    );
    assert_eq!(registry.requests_for_id(42), 1);
}

#[test]
fn unknown_subject_is_not_found() {
    let registry = TestRegistry::start();
    let err = client(&registry).latest("nope-value").unwrap_err();
    assert_eq!(
        err.to_string(),
        "subject 'nope-value' not found in the schema registry"
    );
}

#[test]
fn invalid_schemas_are_rejected_with_the_registry_reason() {
    let registry = TestRegistry::start();
    let client = client(&registry);
    let url = registry.url();
    for (schema_type, schema) in [
        (
            SchemaType::Avro,
            r#"{"type":"record","name":"T","fields":[{"name":"x","type":"nope"}]}"#,
        ),
        (SchemaType::Protobuf, "message Trade { string symbol = ; }"),
        (SchemaType::Json, "{not json"),
    ] {
        let err = client
            .register("bad-value", schema_type, schema)
            .unwrap_err();
        let RegistryError::Rejected { status, message } = &err else {
            panic!("expected Rejected, got {err:?}");
        };
        assert_eq!(*status, 422, "{schema_type}");
        let prefix = format!("POST {url}/subjects/bad-value/versions: Invalid schema: ");
        assert!(message.starts_with(&prefix), "{message}");
        assert!(message.ends_with(" (error code 42201)"), "{message}");
    }
    assert!(registry.versions("bad-value").is_empty());
    assert_eq!(registry.schema(1), None);
}

#[test]
fn unavailable_registry_is_rejected_with_a_clear_message() {
    let registry = TestRegistry::start();
    let client = client(&registry);
    let url = registry.url();
    registry.register("trades-value", SchemaType::Avro, TRADE_AVRO);
    registry.set_unavailable(true);

    let err = client.schema_by_id(1).unwrap_err();
    assert_eq!(
        err,
        RegistryError::Rejected {
            status: 503,
            message: format!("GET {url}/schemas/ids/1: Service unavailable (error code 50301)")
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "schema registry answered HTTP 503: GET {url}/schemas/ids/1: Service unavailable \
             (error code 50301)"
        )
    );
    let err = client
        .register("trades-value", SchemaType::Avro, TRADE_AVRO)
        .unwrap_err();
    assert_eq!(
        err,
        RegistryError::Rejected {
            status: 503,
            message: format!(
                "POST {url}/subjects/trades-value/versions: Service unavailable (error code \
                 50301)"
            )
        }
    );
    // Refused requests are counted too.
    assert_eq!(registry.requests_for_id(1), 1);
    assert_eq!(registry.registrations("trades-value"), 1);

    registry.set_unavailable(false);
    assert_eq!(client.schema_by_id(1).unwrap().schema, TRADE_AVRO);
}

#[test]
fn nothing_listening_is_unreachable_at_once() {
    let port = free_port();
    let client = RegistryClient::new(&format!("http://127.0.0.1:{port}/")).unwrap();
    let started = Instant::now();
    let err = client.schema_by_id(1).unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(
        err,
        RegistryError::Unreachable {
            url: format!("http://127.0.0.1:{port}/schemas/ids/1"),
            message: "connection refused (is the registry running at this address?)".to_string()
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "schema registry at http://127.0.0.1:{port}/schemas/ids/1 is unreachable: connection \
             refused (is the registry running at this address?)"
        )
    );
    assert!(elapsed < CONNECT_TIMEOUT, "took {elapsed:?}");
}

#[test]
fn dropped_registry_stops_listening() {
    let registry = TestRegistry::start();
    let client = client(&registry);
    registry.register("trades-value", SchemaType::Avro, TRADE_AVRO);
    assert_eq!(client.schema_by_id(1).unwrap().id, 1);
    drop(registry);
    let started = Instant::now();
    let err = client.schema_by_id(1).unwrap_err();
    // Refused once the listener is closed; a connection that reached its backlog just before
    // is reset instead. Either way the registry is reported unreachable, at once.
    assert!(
        matches!(&err, RegistryError::Unreachable { message, .. }
            if message.starts_with("connection refused") || message.contains("reset")),
        "{err:?}"
    );
    assert!(
        started.elapsed() < CONNECT_TIMEOUT,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn silent_registry_times_out() {
    // Connections complete in the kernel's backlog, but nothing ever answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let client = RegistryClient::with_timeout(&url, Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let err = client.schema_by_id(7).unwrap_err();
    let elapsed = started.elapsed();
    let RegistryError::Unreachable {
        url: requested,
        message,
    } = &err
    else {
        panic!("expected Unreachable, got {err:?}");
    };
    assert_eq!(*requested, format!("{url}/schemas/ids/7"));
    assert!(
        message.starts_with("no answer within the timeout"),
        "{message}"
    );
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(3),
        "took {elapsed:?}"
    );
}

#[test]
fn a_server_that_is_not_a_registry_gives_an_invalid_response() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let client = RegistryClient::new(&url).unwrap();
    let err = std::thread::scope(|scope| {
        scope.spawn(|| {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "client closed before the end of its request");
                request.extend_from_slice(&buf[..n]);
            }
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                )
                .unwrap();
        });
        client.schema_by_id(1).unwrap_err()
    });
    assert_eq!(
        err,
        RegistryError::InvalidResponse {
            message: format!(
                "GET {url}/schemas/ids/1: expected value at line 1 column 1; the body is \"hello\""
            )
        }
    );
}

#[test]
fn https_is_refused_at_construction() {
    assert_eq!(
        RegistryClient::new("https://registry.example:8081").unwrap_err(),
        "schema registry URL 'https://registry.example:8081' uses https, which is not \
         supported: the registry client speaks plain http only (use an http:// URL)"
    );
}

#[test]
fn avro_value_round_trips_through_the_registry() {
    let registry = TestRegistry::start();
    let client = client(&registry);
    // The writer: register, then frame an Avro datum with the id.
    let id = client
        .register("trades-value", SchemaType::Avro, TRADE_AVRO)
        .unwrap();
    let schema = apache_avro::Schema::parse_str(TRADE_AVRO).unwrap();
    let record = apache_avro::types::Value::Record(vec![
        (
            "symbol".to_string(),
            apache_avro::types::Value::String("AAPL".to_string()),
        ),
        ("quantity".to_string(), apache_avro::types::Value::Long(100)),
    ]);
    let mut value = Vec::new();
    write_frame(id, &mut value);
    value.extend(apache_avro::to_avro_datum(&schema, record.clone()).unwrap());
    assert_eq!(
        value,
        [0, 0, 0, 0, 1, 0x08, b'A', b'A', b'P', b'L', 0xc8, 0x01]
    );

    // The reader: id from the frame, writer schema from the registry.
    let (id, mut payload) = split_frame(&value).unwrap();
    let writer = client.schema_by_id(id).unwrap();
    assert_eq!(writer.schema_type, SchemaType::Avro);
    let writer = apache_avro::Schema::parse_str(&writer.schema).unwrap();
    let decoded = apache_avro::from_avro_datum(&writer, &mut payload, None).unwrap();
    assert_eq!(decoded, record);
    assert!(payload.is_empty());
}

#[test]
fn protobuf_value_round_trips_through_the_registry() {
    use prost::Message as _;
    use prost_reflect::{DescriptorPool, DynamicMessage, Value};

    fn pool(source: &str) -> DescriptorPool {
        let file = protox::file::File::from_source("trade.proto", source).unwrap();
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_proto(file.file_descriptor_proto().clone())
            .unwrap();
        pool
    }

    let registry = TestRegistry::start();
    let client = client(&registry);
    let id = client
        .register("trades-value", SchemaType::Protobuf, TRADE_PROTO)
        .unwrap();

    // The writer: Trade is the second top-level message, index [1].
    let trade = pool(TRADE_PROTO)
        .get_message_by_name("ferris.test.Trade")
        .unwrap();
    let mut message = DynamicMessage::new(trade);
    message.set_field_by_name("symbol", Value::String("AAPL".to_string()));
    message.set_field_by_name("quantity", Value::I64(100));
    let mut value = Vec::new();
    write_frame(id, &mut value);
    write_message_indexes(&[1], &mut value);
    value.extend(message.encode_to_vec());
    assert_eq!(
        value,
        [
            0, 0, 0, 0, 1, 0x02, 0x02, 0x0a, 0x04, b'A', b'A', b'P', b'L', 0x10, 0x64
        ]
    );

    // The reader: id, then indexes, then the payload, resolved against the fetched schema.
    let (id, rest) = split_frame(&value).unwrap();
    let (indexes, payload) = read_message_indexes(rest).unwrap();
    assert_eq!(indexes, [1]);
    let writer = client.schema_by_id(id).unwrap();
    assert_eq!(writer.schema_type, SchemaType::Protobuf);
    let writer = pool(&writer.schema);
    let file = writer.get_file_by_name("trade.proto").unwrap();
    let descriptor = file.messages().nth(1).unwrap();
    assert_eq!(descriptor.full_name(), "ferris.test.Trade");
    let decoded = DynamicMessage::decode(descriptor, payload).unwrap();
    assert_eq!(
        decoded.get_field_by_name("symbol").unwrap().as_ref(),
        &Value::String("AAPL".to_string())
    );
    assert_eq!(
        decoded.get_field_by_name("quantity").unwrap().as_ref(),
        &Value::I64(100)
    );
    assert_eq!(registry.requests_for_id(1), 1);
}

/// One raw HTTP/1.1 exchange with `Connection: close`: the status and the body.
fn raw_http(url: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let addr = url.strip_prefix("http://").expect("an http URL");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the test registry");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .expect("a header end");
    (status, body)
}

#[test]
fn test_registry_serves_the_subject_endpoints() {
    let registry = TestRegistry::start();
    let url = registry.url();
    registry.register("b-value", SchemaType::Avro, TRADE_AVRO);
    registry.register("a-value", SchemaType::Protobuf, TRADE_PROTO);
    registry.register("b-value", SchemaType::Avro, TRADE_AVRO_V2);

    assert_eq!(
        raw_http(&url, "GET", "/subjects", ""),
        (200, r#"["a-value","b-value"]"#.to_string())
    );
    assert_eq!(
        raw_http(&url, "GET", "/subjects/b-value/versions", ""),
        (200, "[1,2]".to_string())
    );
    assert_eq!(
        raw_http(&url, "GET", "/subjects/a-value/versions/1", ""),
        (
            200,
            serde_json::json!({
                "subject": "a-value", "version": 1, "id": 2,
                "schemaType": "PROTOBUF", "schema": TRADE_PROTO
            })
            .to_string()
        )
    );
    assert_eq!(
        raw_http(&url, "GET", "/subjects/b-value/versions/latest", ""),
        (
            200,
            serde_json::json!({
                "subject": "b-value", "version": 2, "id": 3, "schema": TRADE_AVRO_V2
            })
            .to_string()
        )
    );
    assert_eq!(
        raw_http(&url, "GET", "/subjects/b-value/versions/3", ""),
        (
            404,
            r#"{"error_code":40402,"message":"Version 3 not found."}"#.to_string()
        )
    );
    assert_eq!(
        raw_http(&url, "GET", "/subjects/nope/versions", ""),
        (
            404,
            r#"{"error_code":40401,"message":"Subject 'nope' not found."}"#.to_string()
        )
    );
    assert_eq!(
        raw_http(&url, "GET", "/schemas/ids/9", ""),
        (
            404,
            r#"{"error_code":40403,"message":"Schema not found"}"#.to_string()
        )
    );
    assert_eq!(
        raw_http(&url, "DELETE", "/schemas/ids/1", ""),
        (
            405,
            r#"{"error_code":405,"message":"HTTP 405 Method Not Allowed"}"#.to_string()
        )
    );
    assert_eq!(
        raw_http(&url, "GET", "/config", ""),
        (
            404,
            r#"{"error_code":404,"message":"HTTP 404 Not Found"}"#.to_string()
        )
    );
    assert_eq!(
        raw_http(&url, "POST", "/subjects/c-value/versions", "{}"),
        (
            422,
            r#"{"error_code":42201,"message":"Invalid schema: no \"schema\" string in the request"}"#
                .to_string()
        )
    );
    assert_eq!(
        raw_http(
            &url,
            "POST",
            "/subjects/c-value/versions",
            r#"{"schema":"{}","schemaType":"XML"}"#
        ),
        (
            422,
            r#"{"error_code":42201,"message":"Invalid schema type \"XML\""}"#.to_string()
        )
    );
    assert_eq!(
        raw_http(&url, "POST", "/subjects/c-value/versions", "not json").0,
        400
    );
    assert_eq!(registry.total_requests(), 12);
    assert_eq!(registry.registrations("c-value"), 3);
    assert_eq!(registry.requests_for_id(9), 1);
    assert!(registry.versions("c-value").is_empty());
}
