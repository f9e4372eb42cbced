use super::*;

fn message(err: CodecError) -> String {
    match err {
        CodecError::Malformed { format, message } => {
            assert_eq!(format, "Schema Registry wire format");
            message
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn indexes_bytes(indexes: &[i32]) -> Vec<u8> {
    let mut out = Vec::new();
    write_message_indexes(indexes, &mut out);
    out
}

// ---- frame ----

#[test]
fn write_frame_is_magic_then_big_endian_id() {
    let mut out = vec![0xaa];
    write_frame(0x0102_0304, &mut out);
    assert_eq!(out, [0xaa, 0x00, 0x01, 0x02, 0x03, 0x04]);
}

#[test]
fn split_frame_round_trips_ids_and_payloads() {
    for id in [0, 1, 255, 256, 65_536, 0x7fff_ffff, u32::MAX] {
        let mut out = Vec::new();
        write_frame(id, &mut out);
        out.extend_from_slice(b"payload");
        assert_eq!(split_frame(&out).unwrap(), (id, &b"payload"[..]));
    }
}

#[test]
fn split_frame_reads_a_known_value() {
    let bytes = [0x00, 0x00, 0x00, 0x01, 0x2c, 0x02, 0x06];
    assert_eq!(split_frame(&bytes).unwrap(), (300, &[0x02, 0x06][..]));
}

#[test]
fn split_frame_accepts_an_empty_payload() {
    assert_eq!(split_frame(&[0, 0, 0, 0, 7]).unwrap(), (7, &[][..]));
}

#[test]
fn split_frame_rejects_plain_json() {
    let err = split_frame(br#"{"symbol":"AAPL"}"#).unwrap_err();
    assert_eq!(
        message(err),
        "magic byte 0x7b, expected 0x00 (is this plain JSON?)"
    );
}

#[test]
fn split_frame_rejects_other_magic_bytes() {
    assert_eq!(
        message(split_frame(&[0x01, 0, 0, 0, 1, 9]).unwrap_err()),
        "magic byte 0x01, expected 0x00 (is this value written without the schema registry?)"
    );
    assert_eq!(
        message(split_frame(b"42").unwrap_err()),
        "magic byte 0x34, expected 0x00 (is this plain JSON or text?)"
    );
}

#[test]
fn split_frame_checks_magic_before_length() {
    // One byte of unframed data: the wrong magic byte is the useful thing to say.
    assert_eq!(
        message(split_frame(b"[").unwrap_err()),
        "magic byte 0x5b, expected 0x00 (is this plain JSON?)"
    );
}

#[test]
fn split_frame_rejects_short_values() {
    assert_eq!(
        message(split_frame(&[]).unwrap_err()),
        "empty value; expected magic byte 0x00 and a 4-byte schema id"
    );
    assert_eq!(
        message(split_frame(&[0]).unwrap_err()),
        "value is 1 byte, shorter than the 5-byte header (magic byte and schema id)"
    );
    assert_eq!(
        message(split_frame(&[0, 0, 0, 1]).unwrap_err()),
        "value is 4 bytes, shorter than the 5-byte header (magic byte and schema id)"
    );
}

// ---- message indexes ----

#[test]
fn first_message_is_the_single_byte_zero() {
    assert_eq!(indexes_bytes(&[0]), [0x00]);
    assert_eq!(indexes_bytes(&[]), [0x00]);
    let (indexes, rest) = read_message_indexes(&[0x00, 0x08, 0x96, 0x01]).unwrap();
    assert_eq!(indexes, [0]);
    assert_eq!(rest, [0x08, 0x96, 0x01]);
}

#[test]
fn known_encodings_are_zigzag_varints() {
    // count 1 -> 2, index 1 -> 2
    assert_eq!(indexes_bytes(&[1]), [0x02, 0x02]);
    // [1, 0]: count 2 -> 4, 1 -> 2, 0 -> 0
    assert_eq!(indexes_bytes(&[1, 0]), [0x04, 0x02, 0x00]);
    // [0, 2]: the list is only shortened when it is exactly [0]
    assert_eq!(indexes_bytes(&[0, 2]), [0x04, 0x00, 0x04]);
    // -1 -> 1, 64 -> 128 (two bytes)
    assert_eq!(indexes_bytes(&[-1, 64]), [0x04, 0x01, 0x80, 0x01]);
    // i32::MIN -> u32::MAX, i32::MAX -> u32::MAX - 1
    assert_eq!(
        indexes_bytes(&[i32::MIN, i32::MAX]),
        [
            0x04, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xfe, 0xff, 0xff, 0xff, 0x0f
        ]
    );
}

#[test]
fn message_indexes_round_trip() {
    let cases: &[&[i32]] = &[
        &[0],
        &[1],
        &[1, 0],
        &[0, 0],
        &[3, 1, 4, 1, 5],
        &[-1],
        &[-64, 63, 64, -65],
        &[i32::MAX, i32::MIN, 0],
        &[7; MAX_MESSAGE_INDEXES],
    ];
    for &case in cases {
        let mut bytes = indexes_bytes(case);
        bytes.extend_from_slice(b"rest");
        let (indexes, rest) = read_message_indexes(&bytes).unwrap();
        assert_eq!(indexes, case, "{case:?}");
        assert_eq!(rest, b"rest", "{case:?}");
    }
}

#[test]
fn message_indexes_follow_the_frame() {
    let mut value = Vec::new();
    write_frame(12, &mut value);
    write_message_indexes(&[1, 0], &mut value);
    value.extend_from_slice(&[0x08, 0x01]);
    let (id, after_id) = split_frame(&value).unwrap();
    assert_eq!(id, 12);
    let (indexes, payload) = read_message_indexes(after_id).unwrap();
    assert_eq!(indexes, [1, 0]);
    assert_eq!(payload, [0x08, 0x01]);
}

#[test]
fn empty_index_list_is_truncated() {
    assert_eq!(
        message(read_message_indexes(&[]).unwrap_err()),
        "value ends inside the message index count (truncated after 0 bytes)"
    );
}

#[test]
fn list_shorter_than_its_count_is_truncated() {
    // count 2, one index
    assert_eq!(
        message(read_message_indexes(&[0x04, 0x02]).unwrap_err()),
        "value ends inside message index 2 of 2 (truncated after 2 bytes)"
    );
    // a varint cut after its continuation byte
    assert_eq!(
        message(read_message_indexes(&[0x02, 0x80]).unwrap_err()),
        "value ends inside message index 1 of 1 (truncated after 2 bytes)"
    );
    assert_eq!(
        message(read_message_indexes(&[0x80]).unwrap_err()),
        "value ends inside the message index count (truncated after 1 bytes)"
    );
}

#[test]
fn negative_count_is_rejected() {
    // zig-zag 1 is -1
    assert_eq!(
        message(read_message_indexes(&[0x01, 0x02]).unwrap_err()),
        "message index count -1 is negative"
    );
}

#[test]
fn huge_counts_are_rejected_before_reading() {
    // 33 -> 66
    assert_eq!(
        message(read_message_indexes(&[66]).unwrap_err()),
        "message index count 33 exceeds the limit of 32"
    );
    // i32::MAX, with no indexes after it: the bound is checked before any allocation
    assert_eq!(
        message(read_message_indexes(&[0xfe, 0xff, 0xff, 0xff, 0x0f]).unwrap_err()),
        "message index count 2147483647 exceeds the limit of 32"
    );
}

#[test]
fn count_at_the_limit_is_accepted() {
    let mut bytes = vec![64];
    bytes.extend_from_slice(&[0x02; 32]);
    let (indexes, rest) = read_message_indexes(&bytes).unwrap();
    assert_eq!(indexes, [1; 32]);
    assert!(rest.is_empty());
}

#[test]
fn varints_longer_than_32_bits_are_rejected() {
    // fifth byte with bits above 32
    assert_eq!(
        message(read_message_indexes(&[0xff, 0xff, 0xff, 0xff, 0x1f]).unwrap_err()),
        "the message index count is a varint longer than 32 bits"
    );
    // fifth byte with a continuation bit (a sixth byte would follow)
    assert_eq!(
        message(read_message_indexes(&[0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]).unwrap_err()),
        "message index 1 of 1 is a varint longer than 32 bits"
    );
}

// ---- subjects, schema types ----

#[test]
fn topic_name_strategy_subjects() {
    assert_eq!(value_subject("trades"), "trades-value");
    assert_eq!(key_subject("trades"), "trades-key");
    assert_eq!(value_subject("a.b-c_d"), "a.b-c_d-value");
}

#[test]
fn schema_type_names() {
    for t in [SchemaType::Avro, SchemaType::Protobuf, SchemaType::Json] {
        assert_eq!(SchemaType::from_registry_name(t.as_str()), Some(t));
        assert_eq!(t.to_string(), t.as_str());
    }
    assert_eq!(SchemaType::Protobuf.as_str(), "PROTOBUF");
    assert_eq!(SchemaType::from_registry_name("avro"), None);
    assert_eq!(SchemaType::from_registry_name("XML"), None);
}

// ---- URLs ----

#[test]
fn urls_are_normalized() {
    let cases = [
        ("http://localhost:8081", "http://localhost:8081"),
        ("http://localhost:8081/", "http://localhost:8081"),
        ("  http://127.0.0.1:8081//  ", "http://127.0.0.1:8081"),
        ("HTTP://registry.local", "http://registry.local"),
        (
            "http://registry:8081/api/sr/",
            "http://registry:8081/api/sr",
        ),
        ("http://[::1]:8081", "http://[::1]:8081"),
    ];
    for (input, expected) in cases {
        let client = RegistryClient::new(input).unwrap();
        assert_eq!(client.url(), expected, "{input}");
    }
}

#[test]
fn bad_urls_are_refused_with_a_reason() {
    let cases = [
        (
            "",
            "the schema registry URL is empty; expected http://host:port",
        ),
        (
            "localhost:8081",
            "schema registry URL 'localhost:8081' has no scheme; expected http://host:port",
        ),
        (
            "https://registry:8081",
            "schema registry URL 'https://registry:8081' uses https, which is not supported: the \
             registry client speaks plain http only (use an http:// URL)",
        ),
        (
            "ftp://registry",
            "schema registry URL 'ftp://registry' has scheme 'ftp'; expected http://host:port",
        ),
        ("http://", "schema registry URL 'http://' has no host"),
        (
            "http://:8081",
            "schema registry URL 'http://:8081' has no host",
        ),
        (
            "http://registry:80x",
            "schema registry URL 'http://registry:80x' has port '80x'; expected a number from 1 \
             to 65535",
        ),
        (
            "http://registry:0",
            "schema registry URL 'http://registry:0' has port '0'; expected a number from 1 to \
             65535",
        ),
        (
            "http://registry:65536",
            "schema registry URL 'http://registry:65536' has port '65536'; expected a number \
             from 1 to 65535",
        ),
        (
            "http://user:secret@registry:8081",
            "schema registry URL 'http://user:secret@registry:8081' has credentials, which are \
             not supported",
        ),
        (
            "http://registry:8081/?x=1",
            "schema registry URL 'http://registry:8081/?x=1' has a query or fragment; expected \
             http://host:port[/path]",
        ),
        (
            "http://reg istry:8081",
            "schema registry URL 'http://reg istry:8081' has ' ' in its host 'reg istry'",
        ),
        (
            "http://[::1:8081",
            "schema registry URL 'http://[::1:8081' has an unclosed '[' in its host",
        ),
        (
            "http://[::1]8081",
            "schema registry URL 'http://[::1]8081' has '8081' after its IPv6 host",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(RegistryClient::new(input).unwrap_err(), expected, "{input}");
    }
}

#[test]
fn subjects_are_one_path_segment() {
    assert_eq!(encode_path_segment("trades-value"), "trades-value");
    assert_eq!(encode_path_segment("a/b c"), "a%2Fb%20c");
    assert_eq!(encode_path_segment("é"), "%C3%A9");
}

// ---- registry answers ----

#[test]
fn rejections_quote_the_registry_explanation() {
    let err = rejection(
        "POST",
        "http://r/subjects/t-value/versions",
        409,
        r#"{"error_code":409,"message":"Schema being registered is incompatible"}"#,
    );
    assert_eq!(
        err,
        RegistryError::Rejected {
            status: 409,
            message: "POST http://r/subjects/t-value/versions: Schema being registered is \
                      incompatible (error code 409)"
                .to_string()
        }
    );
    assert_eq!(
        rejection("GET", "http://r/x", 502, "<html>Bad Gateway</html>"),
        RegistryError::Rejected {
            status: 502,
            message: "GET http://r/x: \"<html>Bad Gateway</html>\"".to_string()
        }
    );
    assert_eq!(
        rejection("GET", "http://r/x", 500, "  "),
        RegistryError::Rejected {
            status: 500,
            message: "GET http://r/x: empty response body".to_string()
        }
    );
}

#[test]
fn long_bodies_are_cut_in_messages() {
    let body = "x".repeat(500);
    assert_eq!(quote(&body), format!("\"{}\"...", "x".repeat(200)));
}

#[test]
fn schema_answers_default_to_avro_and_refuse_references() {
    let answer: SchemaAnswer = serde_json::from_str(r#"{"schema":"\"long\""}"#).unwrap();
    assert_eq!(
        answer.into_schema(3, "schema id 3", "u").unwrap(),
        RegisteredSchema {
            id: 3,
            schema_type: SchemaType::Avro,
            schema: "\"long\"".to_string()
        }
    );
    let answer: SchemaAnswer =
        serde_json::from_str(r#"{"schema":"s","schemaType":"XML"}"#).unwrap();
    assert_eq!(
        answer
            .into_schema(3, "schema id 3", "http://r/schemas/ids/3")
            .unwrap_err(),
        RegistryError::InvalidResponse {
            message: "GET http://r/schemas/ids/3: schemaType 'XML' is none of AVRO, PROTOBUF, \
                      JSON"
                .to_string()
        }
    );
    let answer: SchemaAnswer = serde_json::from_str(
        r#"{"schema":"s","schemaType":"PROTOBUF","references":[
            {"name":"common.proto","subject":"common","version":1}]}"#,
    )
    .unwrap();
    assert_eq!(
        answer
            .into_schema(4, "schema id 4", "u")
            .unwrap_err()
            .to_string(),
        "schema id 4 references other schemas (common.proto); schema references are not \
         supported"
    );
}
