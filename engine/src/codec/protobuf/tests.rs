//! Protobuf codec tests: round trips, cross-checks against `prost_reflect::DynamicMessage` (an
//! independent implementation of the wire format) both ways, and the failure paths.

use std::str::FromStr;
use std::sync::Arc;

use prost::Message as _;
use prost_reflect::{DynamicMessage, MapKey, ReflectMessage, Value as PValue};

use super::*;
use crate::error::CodecError;
use crate::sql::planner::{InputField, SystemColumn};
use crate::value::{Decimal, Row, Value};

/// Every kind of field. `package google.type` so that `Decimal` and `Money` are the well-known
/// ones while everything stays in one in-memory file.
const ALL: &str = r#"syntax = "proto3";
package google.type;

import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

message Decimal { string value = 1; }
message Money { string currency_code = 1; int64 units = 2; int32 nanos = 3; }
enum Side { SIDE_UNSPECIFIED = 0; BUY = 1; SELL = 2; }
message Leg { string symbol = 1; int64 qty = 2; Decimal price = 3; Side side = 4; }

message All {
  int32 i32 = 1;
  int64 i64 = 2;
  uint32 u32 = 3;
  uint64 u64 = 4;
  sint32 s32 = 5;
  sint64 s64 = 6;
  fixed32 f32 = 7;
  fixed64 f64 = 8;
  sfixed32 sf32 = 9;
  sfixed64 sf64 = 10;
  float fl = 11;
  double db = 12;
  bool flag = 13;
  string text = 14;
  bytes blob = 15;
  Side side = 16;
  Decimal price = 17;
  Money cost = 18;
  google.protobuf.Timestamp at = 19;
  google.protobuf.Int64Value maybe_i64 = 20;
  google.protobuf.StringValue maybe_text = 21;
  google.protobuf.DoubleValue maybe_db = 22;
  google.protobuf.BoolValue maybe_flag = 23;
  optional int64 opt = 24;
  Leg leg = 25;
  repeated int64 nums = 26;
  repeated int64 loose = 27 [packed = false];
  repeated string tags = 28;
  map<string, int64> counts = 29;
  repeated Leg legs = 30;
  oneof choice {
    string note = 31;
    int64 code = 32;
  }
  google.protobuf.BytesValue maybe_blob = 33;
}

message Outer {
  message Inner {
    message Deep { int64 x = 1; }
  }
  map<string, string> m = 1;
  message Second { int64 y = 1; }
}
"#;

fn all() -> ProtoSchema {
    ProtoSchema::from_source("all.proto", ALL, MessageRef::Name("All")).unwrap()
}

fn inputs(names: &[&str]) -> Vec<InputField> {
    names
        .iter()
        .map(|n| InputField {
            name: (*n).to_string(),
            system: None,
        })
        .collect()
}

fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_string()).collect()
}

fn decode(schema: &ProtoSchema, names: &[&str], bytes: &[u8]) -> Result<Row, CodecError> {
    let mut decoder = ProtobufDecoder::new(schema, &inputs(names)).unwrap();
    let mut row = Row::new();
    decoder.decode(bytes, &mut row).map(|()| row)
}

fn encode(schema: &ProtoSchema, names: &[&str], row: &[Value]) -> Result<Vec<u8>, CodecError> {
    let mut encoder = ProtobufEncoder::new(schema, &columns(names)).unwrap();
    let mut out = Vec::new();
    encoder.encode(row, &mut out).map(|()| out)
}

fn dynamic(schema: &ProtoSchema) -> DynamicMessage {
    DynamicMessage::new(schema.descriptor().clone())
}

fn set(m: &mut DynamicMessage, name: &str, v: PValue) {
    m.try_set_field_by_name(name, v).unwrap();
}

/// A nested message of the field `name`'s type with the given fields.
fn nested(m: &DynamicMessage, name: &str, fields: &[(&str, PValue)]) -> PValue {
    let field = m.descriptor().get_field_by_name(name).unwrap();
    let prost_reflect::Kind::Message(desc) = field.kind() else {
        panic!("{name} is not a message field");
    };
    let mut inner = DynamicMessage::new(desc);
    for (n, v) in fields {
        set(&mut inner, n, v.clone());
    }
    PValue::Message(inner)
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn s(text: &str) -> Value {
    Value::String(Arc::from(text))
}

fn json(text: &str) -> Value {
    Value::Json(Arc::from(text))
}

fn malformed_message(e: CodecError) -> String {
    match e {
        CodecError::Malformed { format, message } => {
            assert_eq!(format, "Protobuf");
            message
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn unencodable_message(e: CodecError) -> String {
    match e {
        CodecError::Unencodable(message) => message,
        other => panic!("expected Unencodable, got {other:?}"),
    }
}

const SCALARS: [&str; 16] = [
    "i32", "i64", "u32", "u64", "s32", "s64", "f32", "f64", "sf32", "sf64", "fl", "db", "flag",
    "text", "side", "opt",
];

#[test]
fn decodes_every_scalar_kind_as_prost_reflect_encodes_it() {
    let schema = all();
    let mut m = dynamic(&schema);
    set(&mut m, "i32", PValue::I32(-5));
    set(&mut m, "i64", PValue::I64(i64::MIN));
    set(&mut m, "u32", PValue::U32(u32::MAX));
    set(&mut m, "u64", PValue::U64(u64::MAX));
    set(&mut m, "s32", PValue::I32(i32::MIN));
    set(&mut m, "s64", PValue::I64(-1));
    set(&mut m, "f32", PValue::U32(4_000_000_000));
    set(&mut m, "f64", PValue::U64(7));
    set(&mut m, "sf32", PValue::I32(-7));
    set(&mut m, "sf64", PValue::I64(i64::MAX));
    set(&mut m, "fl", PValue::F32(0.1));
    set(&mut m, "db", PValue::F64(-2.5e300));
    set(&mut m, "flag", PValue::Bool(true));
    set(&mut m, "text", PValue::String("héllo".to_string()));
    set(&mut m, "side", PValue::EnumNumber(2));
    set(&mut m, "opt", PValue::I64(0));
    let row = decode(&schema, &SCALARS, &m.encode_to_vec()).unwrap();
    assert_eq!(
        row,
        vec![
            Value::BigInt(-5),
            Value::BigInt(i64::MIN),
            Value::BigInt(i64::from(u32::MAX)),
            Value::Decimal(dec("18446744073709551615")),
            Value::BigInt(i64::from(i32::MIN)),
            Value::BigInt(-1),
            Value::BigInt(4_000_000_000),
            Value::BigInt(7),
            Value::BigInt(-7),
            Value::BigInt(i64::MAX),
            Value::Double(f64::from(0.1f32)),
            Value::Double(-2.5e300),
            Value::Boolean(true),
            s("héllo"),
            s("SELL"),
            Value::BigInt(0),
        ]
    );
}

#[test]
fn encodes_every_scalar_kind_byte_for_byte_like_prost_reflect() {
    let schema = all();
    let row = vec![
        Value::BigInt(-5),
        Value::BigInt(i64::MIN),
        Value::BigInt(i64::from(u32::MAX)),
        Value::Decimal(dec("18446744073709551615")),
        Value::BigInt(i64::from(i32::MIN)),
        Value::BigInt(-1),
        Value::BigInt(4_000_000_000),
        Value::BigInt(7),
        Value::BigInt(-7),
        Value::BigInt(i64::MAX),
        Value::Double(0.5),
        Value::Double(-2.5e300),
        Value::Boolean(true),
        s("héllo"),
        s("SELL"),
        Value::BigInt(0),
    ];
    let ours = encode(&schema, &SCALARS, &row).unwrap();
    let mut m = dynamic(&schema);
    set(&mut m, "i32", PValue::I32(-5));
    set(&mut m, "i64", PValue::I64(i64::MIN));
    set(&mut m, "u32", PValue::U32(u32::MAX));
    set(&mut m, "u64", PValue::U64(u64::MAX));
    set(&mut m, "s32", PValue::I32(i32::MIN));
    set(&mut m, "s64", PValue::I64(-1));
    set(&mut m, "f32", PValue::U32(4_000_000_000));
    set(&mut m, "f64", PValue::U64(7));
    set(&mut m, "sf32", PValue::I32(-7));
    set(&mut m, "sf64", PValue::I64(i64::MAX));
    set(&mut m, "fl", PValue::F32(0.5));
    set(&mut m, "db", PValue::F64(-2.5e300));
    set(&mut m, "flag", PValue::Bool(true));
    set(&mut m, "text", PValue::String("héllo".to_string()));
    set(&mut m, "side", PValue::EnumNumber(2));
    set(&mut m, "opt", PValue::I64(0));
    assert_eq!(ours, m.encode_to_vec());
    // And back through our decoder.
    let mut expected = row.clone();
    expected[10] = Value::Double(0.5);
    assert_eq!(decode(&schema, &SCALARS, &ours).unwrap(), expected);
}

#[test]
fn round_trips_every_supported_type() {
    let schema = all();
    let names = [
        "i64",
        "text",
        "side",
        "price",
        "cost",
        "at",
        "maybe_i64",
        "maybe_text",
        "maybe_db",
        "maybe_flag",
        "opt",
        "leg",
        "nums",
        "loose",
        "tags",
        "counts",
        "legs",
        "note",
        "u64",
    ];
    let row = vec![
        Value::BigInt(42),
        s("a \"quoted\" line\n"),
        s("BUY"),
        Value::Decimal(dec("-1234.5600")),
        json(r#"{"currency_code":"EUR","amount":-0.75}"#),
        Value::Timestamp(1_767_225_600_123),
        Value::BigInt(0),
        s(""),
        Value::Double(1.25),
        Value::Boolean(false),
        Value::BigInt(-3),
        json(r#"{"symbol":"AAPL","qty":100,"price":187.25,"side":"SELL"}"#),
        json("[1,-2,9223372036854775807]"),
        json("[5,6]"),
        json(r#"["x","y\u0000z"]"#),
        json(r#"{"a":1,"b":-2}"#),
        json(
            r#"[{"symbol":"X","qty":1,"side":"SIDE_UNSPECIFIED"},{"symbol":"Y","qty":0,"price":0.001,"side":"BUY"}]"#,
        ),
        s("hello"),
        Value::Decimal(dec("9223372036854775808")),
    ];
    let bytes = encode(&schema, &names, &row).unwrap();
    let back = decode(&schema, &names, &bytes).unwrap();
    assert_eq!(back, row);
    // The decimal keeps its scale, not only its value.
    assert_eq!(back[3].to_string(), "-1234.5600");
    // prost-reflect reads the same message.
    let m = DynamicMessage::decode(schema.descriptor().clone(), bytes.as_slice()).unwrap();
    assert_eq!(
        m.get_field_by_name("nums")
            .unwrap()
            .as_list()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(m.get_field_by_name("note").unwrap().as_str(), Some("hello"));
    let counts = m.get_field_by_name("counts").unwrap();
    let counts = counts.as_map().unwrap();
    assert_eq!(
        counts.get(&MapKey::String("b".to_string())),
        Some(&PValue::I64(-2))
    );
}

#[test]
fn absent_fields_follow_proto3_presence() {
    let schema = all();
    let names = [
        "i64",
        "fl",
        "flag",
        "text",
        "side",
        "opt",
        "price",
        "at",
        "maybe_i64",
        "leg",
        "nums",
        "counts",
        "note",
        "code",
        "no_such_field",
        "u64",
    ];
    let row = decode(&schema, &names, &[]).unwrap();
    assert_eq!(
        row,
        vec![
            Value::BigInt(0),
            Value::Double(0.0),
            Value::Boolean(false),
            s(""),
            s("SIDE_UNSPECIFIED"),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            json("[]"),
            json("{}"),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::BigInt(0),
        ]
    );
}

#[test]
fn system_slots_are_left_alone_and_payload_slots_reset() {
    let schema = all();
    let fields = vec![
        InputField {
            name: "_offset".to_string(),
            system: Some(SystemColumn::Offset),
        },
        InputField {
            name: "opt".to_string(),
            system: None,
        },
        InputField {
            name: "i64".to_string(),
            system: None,
        },
        InputField {
            name: "i64".to_string(),
            system: None,
        },
    ];
    let mut decoder = ProtobufDecoder::new(&schema, &fields).unwrap();
    let mut row = vec![Value::BigInt(99)];
    let mut m = dynamic(&schema);
    set(&mut m, "opt", PValue::I64(5));
    set(&mut m, "i64", PValue::I64(6));
    decoder.decode(&m.encode_to_vec(), &mut row).unwrap();
    assert_eq!(
        row,
        vec![
            Value::BigInt(99),
            Value::BigInt(5),
            Value::BigInt(6),
            Value::BigInt(6)
        ]
    );
    // The next record lacks both: the optional one becomes NULL, the implicit one 0.
    decoder.decode(&[], &mut row).unwrap();
    assert_eq!(
        row,
        vec![
            Value::BigInt(99),
            Value::Null,
            Value::BigInt(0),
            Value::BigInt(0)
        ]
    );
}

#[test]
fn decimals_round_trip_exactly_at_the_edges() {
    let schema = all();
    for text in [
        "0",
        "7",
        "-7",
        "0.000000000000000001",
        "1.000000000000000000",
        "-0.5",
        "-0.000000000000000001",
        "12345678901234567890123456789012345678",
        "-99999999999999999999999999999999999999",
        "0.12345678901234567890123456789012345678",
        "-1234567890123456789.012345678901234567",
    ] {
        let d = dec(text);
        let bytes = encode(&schema, &["price"], &[Value::Decimal(d)]).unwrap();
        // The text travels as written, scale included.
        let m = DynamicMessage::decode(schema.descriptor().clone(), bytes.as_slice()).unwrap();
        let price = m.get_field_by_name("price").unwrap();
        let price = price.as_message().unwrap();
        assert_eq!(
            price.get_field_by_name("value").unwrap().as_str(),
            Some(text)
        );
        let row = decode(&schema, &["price"], &bytes).unwrap();
        let Value::Decimal(back) = &row[0] else {
            panic!("{text}: {row:?}");
        };
        assert_eq!(back.to_string(), text);
        assert_eq!((back.mantissa(), back.scale()), (d.mantissa(), d.scale()));
    }
}

#[test]
fn decimal_text_from_other_writers_is_parsed_exactly() {
    let schema = all();
    for (text, expected) in [("+1.50", "1.50"), ("1.5e-3", "0.0015"), ("2E2", "200")] {
        let mut m = dynamic(&schema);
        let price = nested(&m, "price", &[("value", PValue::String(text.to_string()))]);
        set(&mut m, "price", price);
        let row = decode(&schema, &["price"], &m.encode_to_vec()).unwrap();
        assert_eq!(row[0].to_string(), expected, "{text}");
    }
}

#[test]
fn bad_decimal_text_is_a_record_error() {
    let schema = all();
    for text in [
        "",
        "NULL",
        "12,5",
        "NaN",
        "123456789012345678901234567890123456789",
    ] {
        let mut m = dynamic(&schema);
        let price = nested(&m, "price", &[("value", PValue::String(text.to_string()))]);
        set(&mut m, "price", price);
        let err = decode(&schema, &["price", "i64"], &m.encode_to_vec()).unwrap_err();
        let message = malformed_message(err);
        assert!(
            message.starts_with("field 'price' (17) at byte 0: google.type.Decimal value"),
            "{message}"
        );
        assert!(message.contains(&format!("'{text}'")), "{message}");
    }
    // And the encoder refuses text that is no decimal.
    let err = encode(&schema, &["price"], &[s("NULL")]).unwrap_err();
    assert_eq!(
        unencodable_message(err),
        "STRING 'NULL' as field 'price' of google.type.All: the text is not an exact decimal \
         (invalid decimal literal 'NULL')"
    );
}

#[test]
fn decimal_conversions_are_checked() {
    let schema = all();
    let err = encode(&schema, &["i32"], &[Value::Decimal(dec("12.5"))]).unwrap_err();
    assert_eq!(
        unencodable_message(err),
        "DECIMAL 12.5 as field 'i32' of google.type.All: 12.5 is not an integer"
    );
    let err = encode(&schema, &["i32"], &[Value::Decimal(dec("2147483648"))]).unwrap_err();
    assert_eq!(
        unencodable_message(err),
        "DECIMAL 2147483648 as field 'i32' of google.type.All: 2147483648 is out of range for \
         int32"
    );
    // Integral decimals fit.
    let bytes = encode(&schema, &["i32"], &[Value::Decimal(dec("-42.000"))]).unwrap();
    assert_eq!(
        decode(&schema, &["i32"], &bytes).unwrap(),
        vec![Value::BigInt(-42)]
    );
    for field in ["db", "fl"] {
        let err = encode(&schema, &[field], &[Value::Decimal(dec("0.1"))]).unwrap_err();
        assert!(
            unencodable_message(err).contains("money never passes through binary floating point"),
        );
    }
    let err = encode(&schema, &["u64"], &[Value::BigInt(-1)]).unwrap_err();
    assert!(unencodable_message(err).ends_with("-1 is out of range for uint64"));
    let err = encode(&schema, &["u32"], &[Value::BigInt(1 << 32)]).unwrap_err();
    assert!(unencodable_message(err).ends_with("4294967296 is out of range for uint32"));
    let err = encode(
        &schema,
        &["u64"],
        &[Value::Decimal(dec("18446744073709551616"))],
    )
    .unwrap_err();
    assert!(unencodable_message(err).ends_with("out of range for uint64"));
}

#[test]
fn bigint_goes_to_floating_point_only_when_exact() {
    let schema = all();
    let ok = encode(
        &schema,
        &["db", "fl"],
        &[Value::BigInt(1 << 53), Value::BigInt(1 << 24)],
    )
    .unwrap();
    assert_eq!(
        decode(&schema, &["db", "fl"], &ok).unwrap(),
        vec![Value::Double(9007199254740992.0), Value::Double(16777216.0)]
    );
    let err = encode(&schema, &["db"], &[Value::BigInt((1 << 53) + 1)]).unwrap_err();
    assert!(
        unencodable_message(err)
            .ends_with("9007199254740993 is not exactly representable as double")
    );
    let err = encode(&schema, &["fl"], &[Value::BigInt((1 << 24) + 1)]).unwrap_err();
    assert!(unencodable_message(err).ends_with("16777217 is not exactly representable as float"));
    let err = encode(&schema, &["db"], &[Value::BigInt(i64::MAX)]).unwrap_err();
    assert!(unencodable_message(err).contains("not exactly representable"));
    let err = encode(&schema, &["fl"], &[Value::Double(1e300)]).unwrap_err();
    assert!(unencodable_message(err).ends_with("out of range for float"));
}

#[test]
fn implicit_defaults_are_omitted_and_explicit_ones_written() {
    let schema = all();
    let names = [
        "i64",
        "fl",
        "db",
        "flag",
        "text",
        "side",
        "opt",
        "maybe_i64",
        "u32",
    ];
    let row = vec![
        Value::BigInt(0),
        Value::Double(0.0),
        Value::Double(0.0),
        Value::Boolean(false),
        s(""),
        s("SIDE_UNSPECIFIED"),
        Value::BigInt(0),
        Value::BigInt(0),
        Value::Null,
    ];
    let bytes = encode(&schema, &names, &row).unwrap();
    // Only the empty wrapper (field 20, length 0) and `opt` (explicit presence: field 24,
    // varint 0).
    assert_eq!(bytes, vec![0xa2, 0x01, 0x00, 0xc0, 0x01, 0x00]);
    let mut m = dynamic(&schema);
    set(&mut m, "opt", PValue::I64(0));
    let empty = nested(&m, "maybe_i64", &[]);
    set(&mut m, "maybe_i64", empty);
    assert_eq!(bytes, m.encode_to_vec());
    // -0.0 is not the default.
    let bytes = encode(&schema, &["db"], &[Value::Double(-0.0)]).unwrap();
    assert_eq!(bytes.len(), 9);
    // NULL leaves every kind of field unset.
    let nulls = vec![Value::Null; names.len()];
    assert_eq!(encode(&schema, &names, &nulls).unwrap(), Vec::<u8>::new());
}

#[test]
fn fields_are_written_in_field_number_order() {
    let schema = all();
    let bytes = encode(
        &schema,
        &["text", "i64", "i32"],
        &[s("z"), Value::BigInt(2), Value::BigInt(1)],
    )
    .unwrap();
    assert_eq!(bytes, vec![0x08, 0x01, 0x10, 0x02, 0x72, 0x01, b'z']);
}

#[test]
fn uint64_above_i64_max_is_an_exact_decimal() {
    let schema = all();
    for v in [i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
        let mut m = dynamic(&schema);
        set(&mut m, "u64", PValue::U64(v));
        set(&mut m, "f64", PValue::U64(v));
        let row = decode(&schema, &["u64", "f64"], &m.encode_to_vec()).unwrap();
        let expected = match i64::try_from(v) {
            Ok(i) => Value::BigInt(i),
            Err(_) => Value::Decimal(Decimal::new(i128::from(v), 0).unwrap()),
        };
        assert_eq!(row, vec![expected.clone(), expected.clone()]);
        assert_eq!(
            encode(&schema, &["u64", "f64"], &row).unwrap(),
            m.encode_to_vec()
        );
    }
}

#[test]
fn enums_by_name_and_unknown_numbers() {
    let schema = all();
    let mut m = dynamic(&schema);
    set(&mut m, "side", PValue::EnumNumber(7));
    assert_eq!(
        decode(&schema, &["side"], &m.encode_to_vec()).unwrap(),
        vec![s("7")]
    );
    let bytes = encode(&schema, &["side"], &[s("BUY")]).unwrap();
    assert_eq!(bytes, vec![0x80, 0x01, 0x01]);
    let bytes = encode(&schema, &["side"], &[Value::BigInt(7)]).unwrap();
    assert_eq!(decode(&schema, &["side"], &bytes).unwrap(), vec![s("7")]);
    let err = encode(&schema, &["side"], &[s("HOLD")]).unwrap_err();
    assert_eq!(
        unencodable_message(err),
        "STRING 'HOLD' as field 'side' of google.type.All: 'HOLD' is not a value of enum \
         google.type.Side (values: SIDE_UNSPECIFIED, BUY, SELL)"
    );
}

#[test]
fn timestamps_have_millisecond_precision() {
    let schema = all();
    let cases = [
        (1_767_225_600, 123_456_789, 1_767_225_600_123),
        (0, 0, 0),
        (-1, 999_000_000, -1),
        (-1, 999_999_999, -1),
        (-62_135_596_800, 0, -62_135_596_800_000),
    ];
    for (seconds, nanos, ms) in cases {
        let mut m = dynamic(&schema);
        let at = nested(
            &m,
            "at",
            &[
                ("seconds", PValue::I64(seconds)),
                ("nanos", PValue::I32(nanos)),
            ],
        );
        set(&mut m, "at", at);
        assert_eq!(
            decode(&schema, &["at"], &m.encode_to_vec()).unwrap(),
            vec![Value::Timestamp(ms)],
            "{seconds}.{nanos}"
        );
    }
    // Encoding: seconds floor, nanos non-negative, as prost-reflect writes them.
    let bytes = encode(&schema, &["at"], &[Value::Timestamp(-1)]).unwrap();
    let mut m = dynamic(&schema);
    let at = nested(
        &m,
        "at",
        &[
            ("seconds", PValue::I64(-1)),
            ("nanos", PValue::I32(999_000_000)),
        ],
    );
    set(&mut m, "at", at);
    assert_eq!(bytes, m.encode_to_vec());
    // Epoch milliseconds into an int64.
    let bytes = encode(&schema, &["i64"], &[Value::Timestamp(1_000)]).unwrap();
    assert_eq!(
        decode(&schema, &["i64"], &bytes).unwrap(),
        vec![Value::BigInt(1000)]
    );
    // Out-of-range nanos are a record error.
    let mut m = dynamic(&schema);
    let at = nested(&m, "at", &[("nanos", PValue::I32(-1))]);
    set(&mut m, "at", at);
    let message = malformed_message(decode(&schema, &["at"], &m.encode_to_vec()).unwrap_err());
    assert_eq!(
        message,
        "field 'at' (19) at byte 0: google.protobuf.Timestamp nanos -1 outside 0..999999999"
    );
}

#[test]
fn wrappers_are_their_value_or_null() {
    let schema = all();
    let names = ["maybe_i64", "maybe_text", "maybe_db", "maybe_flag"];
    let mut m = dynamic(&schema);
    // Present but holding the default: the default, not NULL.
    let empty = nested(&m, "maybe_i64", &[]);
    set(&mut m, "maybe_i64", empty);
    let text = nested(
        &m,
        "maybe_text",
        &[("value", PValue::String("x".to_string()))],
    );
    set(&mut m, "maybe_text", text);
    let db = nested(&m, "maybe_db", &[("value", PValue::F64(-0.25))]);
    set(&mut m, "maybe_db", db);
    let row = decode(&schema, &names, &m.encode_to_vec()).unwrap();
    assert_eq!(
        row,
        vec![Value::BigInt(0), s("x"), Value::Double(-0.25), Value::Null]
    );
    assert_eq!(encode(&schema, &names, &row).unwrap(), m.encode_to_vec());
}

#[test]
fn money_is_json_with_an_exact_amount() {
    let schema = all();
    let cases = [
        (
            "USD",
            12,
            500_000_000,
            r#"{"currency_code":"USD","amount":12.5}"#,
        ),
        (
            "EUR",
            0,
            -750_000_000,
            r#"{"currency_code":"EUR","amount":-0.75}"#,
        ),
        ("JPY", -3, 0, r#"{"currency_code":"JPY","amount":-3}"#),
        (
            "CHF",
            0,
            1,
            r#"{"currency_code":"CHF","amount":0.000000001}"#,
        ),
    ];
    for (currency, units, nanos, text) in cases {
        let mut m = dynamic(&schema);
        let cost = nested(
            &m,
            "cost",
            &[
                ("currency_code", PValue::String(currency.to_string())),
                ("units", PValue::I64(units)),
                ("nanos", PValue::I32(nanos)),
            ],
        );
        set(&mut m, "cost", cost);
        let row = decode(&schema, &["cost"], &m.encode_to_vec()).unwrap();
        assert_eq!(row, vec![json(text)]);
        assert_eq!(encode(&schema, &["cost"], &row).unwrap(), m.encode_to_vec());
    }
    let mut m = dynamic(&schema);
    let cost = nested(
        &m,
        "cost",
        &[("units", PValue::I64(1)), ("nanos", PValue::I32(-1))],
    );
    set(&mut m, "cost", cost);
    let message = malformed_message(decode(&schema, &["cost"], &m.encode_to_vec()).unwrap_err());
    assert!(
        message.ends_with("units 1 and nanos -1 have opposite signs"),
        "{message}"
    );
    let err = encode(
        &schema,
        &["cost"],
        &[json(r#"{"currency_code":"USD","amount":0.0000000001}"#)],
    )
    .unwrap_err();
    assert!(unencodable_message(err).ends_with("has more than 9 fractional digits"));
}

#[test]
fn nested_messages_become_json_with_exact_numbers() {
    let schema = all();
    let mut m = dynamic(&schema);
    let leg = nested(
        &m,
        "leg",
        &[
            ("symbol", PValue::String("AAPL".to_string())),
            ("qty", PValue::I64(9_007_199_254_740_993)),
        ],
    );
    let PValue::Message(mut leg) = leg else {
        unreachable!()
    };
    let price = nested(
        &DynamicMessage::new(leg.descriptor()),
        "price",
        &[("value", PValue::String("187.250".to_string()))],
    );
    leg.set_field_by_name("price", price);
    set(&mut m, "leg", PValue::Message(leg));
    let row = decode(&schema, &["leg"], &m.encode_to_vec()).unwrap();
    assert_eq!(
        row,
        vec![json(
            r#"{"symbol":"AAPL","qty":9007199254740993,"price":187.250,"side":"SIDE_UNSPECIFIED"}"#
        )]
    );
    assert_eq!(encode(&schema, &["leg"], &row).unwrap(), m.encode_to_vec());
    // An empty nested message: implicit fields with their defaults, the unset one left out.
    let mut m = dynamic(&schema);
    let leg = nested(&m, "leg", &[]);
    set(&mut m, "leg", leg);
    assert_eq!(
        decode(&schema, &["leg"], &m.encode_to_vec()).unwrap(),
        vec![json(r#"{"symbol":"","qty":0,"side":"SIDE_UNSPECIFIED"}"#)]
    );
}

#[test]
fn repeated_fields_packed_and_unpacked() {
    let schema = all();
    // nums (26) packed [1, 150], then one unpacked 3; loose (27) unpacked, then packed.
    let bytes = [
        0xd2, 0x01, 0x03, 0x01, 0x96, 0x01, // nums packed: 1, 150
        0xd0, 0x01, 0x03, // nums unpacked: 3
        0xd8, 0x01, 0x7f, // loose unpacked: 127
        0xda, 0x01, 0x02, 0x02, 0x04, // loose packed: 2, 4
        0xe2, 0x01, 0x01, b'a', 0xe2, 0x01, 0x00, // tags: "a", ""
    ];
    assert_eq!(
        decode(&schema, &["nums", "loose", "tags"], &bytes).unwrap(),
        vec![json("[1,150,3]"), json("[127,2,4]"), json(r#"["a",""]"#)]
    );
    // prost-reflect agrees, and reads our encoding (packed nums, unpacked loose).
    let reference = DynamicMessage::decode(schema.descriptor().clone(), &bytes[..]).unwrap();
    let ours = encode(
        &schema,
        &["nums", "loose", "tags"],
        &[json("[1,150,3]"), json("[127,2,4]"), json(r#"["a",""]"#)],
    )
    .unwrap();
    assert_eq!(ours, reference.encode_to_vec());
    assert_eq!(&ours[..3], &[0xd2, 0x01, 0x04]);
}

#[test]
fn maps_become_json_objects_with_sorted_keys() {
    let schema = all();
    let mut m = dynamic(&schema);
    set(
        &mut m,
        "counts",
        PValue::Map(
            [("b", 2i64), ("a", -1), ("c\"", 0)]
                .into_iter()
                .map(|(k, v)| (MapKey::String(k.to_string()), PValue::I64(v)))
                .collect(),
        ),
    );
    let row = decode(&schema, &["counts"], &m.encode_to_vec()).unwrap();
    assert_eq!(row, vec![json(r#"{"a":-1,"b":2,"c\"":0}"#)]);
    let back = encode(&schema, &["counts"], &row).unwrap();
    let m2 = DynamicMessage::decode(schema.descriptor().clone(), back.as_slice()).unwrap();
    assert_eq!(m2, m);
}

#[test]
fn repeated_messages_and_oneofs() {
    let schema = all();
    let text = r#"[{"symbol":"X","qty":1,"side":"BUY"},{"symbol":"","qty":0,"price":-0.5,"side":"SIDE_UNSPECIFIED"}]"#;
    let bytes = encode(&schema, &["legs", "code"], &[json(text), Value::BigInt(0)]).unwrap();
    let row = decode(&schema, &["legs", "note", "code"], &bytes).unwrap();
    assert_eq!(row, vec![json(text), Value::Null, Value::BigInt(0)]);
}

#[test]
fn json_that_does_not_fit_the_descriptor_is_unencodable() {
    let schema = all();
    let cases = [
        ("leg", r#"{"symbol":"X","size":1}"#, "has no field 'size'"),
        ("leg", r#"{"qty":1.5}"#, "qty: 1.5 is not an integer"),
        ("nums", r#"[1,"x"]"#, "\"x\" is not an integer"),
        ("nums", r#"{"a":1}"#, "expected a JSON array"),
        ("counts", r#"{"a":"b"}"#, "\"b\" is not an integer"),
        (
            "leg",
            r#"{"side":"HOLD"}"#,
            "'HOLD' is not a value of enum google.type.Side",
        ),
        ("leg", r#"{"price":1e400}"#, "is not an exact decimal"),
        ("leg", "{", "invalid JSON text"),
    ];
    for (field, text, wanted) in cases {
        let err = encode(&schema, &[field], &[json(text)]).unwrap_err();
        let message = unencodable_message(err);
        assert!(message.contains(wanted), "{text}: {message}");
    }
    let err = encode(&schema, &["leg"], &[Value::BigInt(1)]).unwrap_err();
    assert!(unencodable_message(err).contains("no conversion"));
}

#[test]
fn last_occurrence_wins_and_message_occurrences_merge() {
    let schema = all();
    let mut bytes = vec![0x10, 0x01, 0x72, 0x01, b'a', 0x10, 0x02, 0x72, 0x01, b'b'];
    // `at` twice: seconds in the first, nanos in the second.
    bytes.extend_from_slice(&[0x9a, 0x01, 0x02, 0x08, 0x05]);
    bytes.extend_from_slice(&[0x9a, 0x01, 0x05, 0x10, 0x80, 0xad, 0xe2, 0x04]);
    // `leg` twice: symbol in the first, qty in the second.
    bytes.extend_from_slice(&[0xca, 0x01, 0x03, 0x0a, 0x01, b'Z']);
    bytes.extend_from_slice(&[0xca, 0x01, 0x02, 0x10, 0x07]);
    let row = decode(&schema, &["i64", "text", "at", "leg"], &bytes).unwrap();
    assert_eq!(
        row,
        vec![
            Value::BigInt(2),
            s("b"),
            Value::Timestamp(5_010),
            json(r#"{"symbol":"Z","qty":7,"side":"SIDE_UNSPECIFIED"}"#),
        ]
    );
}

#[test]
fn unknown_fields_and_groups_are_skipped() {
    let schema = all();
    let mut bytes = vec![0x10, 0x2a]; // i64 = 42
    bytes.extend_from_slice(&[0xf8, 0x0f, 0xff, 0xff, 0x03]); // field 255 varint
    bytes.extend_from_slice(&[0xb9, 0x0f, 1, 2, 3, 4, 5, 6, 7, 8]); // field 247 fixed64
    bytes.extend_from_slice(&[0xb2, 0x0f, 0x03, b'x', b'y', b'z']); // field 246 bytes
    bytes.extend_from_slice(&[0xad, 0x0f, 1, 2, 3, 4]); // field 245 fixed32
    // field 244 group holding a varint and a nested group, then closed.
    bytes.extend_from_slice(&[0xa3, 0x0f, 0x08, 0x01, 0x13, 0x14, 0xa4, 0x0f]);
    bytes.extend_from_slice(&[0x72, 0x02, b'o', b'k']); // text
    // A field far above the direct table, read by the query.
    assert_eq!(
        decode(&schema, &["i64", "text"], &bytes).unwrap(),
        vec![Value::BigInt(42), s("ok")]
    );
    // Known fields the query does not read are skipped too.
    assert_eq!(decode(&schema, &["text"], &bytes).unwrap(), vec![s("ok")]);
}

#[test]
fn malformed_records_are_errors_naming_the_place() {
    let schema = all();
    let names = ["i64", "text", "price", "nums"];
    let cases: [(&[u8], &str); 11] = [
        (&[0x10, 0x80], "field 'i64' (2) at byte 0: truncated varint"),
        (&[0x10], "field 'i64' (2) at byte 0: truncated varint"),
        (&[0x80], "at byte 0: truncated varint"),
        (
            &[0x72, 0x05, b'a', b'b'],
            "field 'text' (14) at byte 0: length 5 past the end (2 bytes left)",
        ),
        (
            &[0x72, 0x02, 0xc3, 0x28],
            "field 'text' (14) at byte 0: invalid UTF-8 in string at offset 0",
        ),
        (
            &[0x17, 0x01],
            "field 'i64' (2) at byte 0: wire type 7 does not fit int64",
        ),
        (
            &[0x0f, 0x01],
            "field number 1 at byte 0: invalid wire type 7",
        ),
        (
            &[0x0c],
            "field number 1 at byte 0: end-group tag without a group",
        ),
        (
            &[0x0b, 0x08, 0x01],
            "field number 1 at byte 0: group not closed",
        ),
        (&[0x00, 0x01], "at byte 0: invalid field number 0"),
        (
            &[0x8a, 0x01, 0x03, 0x0a, 0x05, b'1'],
            "field 'price' (17) at byte 0: length 5 past the end (1 bytes left)",
        ),
    ];
    for (bytes, wanted) in cases {
        let message = malformed_message(decode(&schema, &names, bytes).unwrap_err());
        assert_eq!(message, wanted, "{bytes:?}");
    }
    let too_long = [
        0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ];
    let message = malformed_message(decode(&schema, &names, &too_long).unwrap_err());
    assert_eq!(
        message,
        "field 'i64' (2) at byte 0: varint longer than 10 bytes"
    );
    // A truncated packed list, found by prost-reflect on the JSON path.
    let message =
        malformed_message(decode(&schema, &names, &[0xd2, 0x01, 0x01, 0x80]).unwrap_err());
    assert!(message.starts_with("field 'nums': "), "{message}");
}

#[test]
fn a_failed_record_leaves_payload_slots_null() {
    let schema = all();
    let mut decoder = ProtobufDecoder::new(&schema, &inputs(&["i64", "text"])).unwrap();
    let mut row = Row::new();
    decoder.decode(&[0x10, 0x05], &mut row).unwrap();
    assert_eq!(row, vec![Value::BigInt(5), s("")]);
    assert!(decoder.decode(&[0x10, 0x05, 0x72, 0x09], &mut row).is_err());
    assert_eq!(row, vec![Value::Null, Value::Null]);
}

#[test]
fn a_failed_encode_appends_nothing() {
    let schema = all();
    let mut encoder = ProtobufEncoder::new(&schema, &columns(&["i64", "i32"])).unwrap();
    let mut out = vec![0xaa];
    let err = encoder
        .encode(&[Value::BigInt(1), Value::BigInt(1 << 40)], &mut out)
        .unwrap_err();
    assert_eq!(
        err,
        CodecError::Unencodable(
            "BIGINT 1099511627776 as field 'i32' of google.type.All: 1099511627776 is out of \
             range for int32"
                .to_string()
        )
    );
    assert_eq!(out, vec![0xaa]);
    let err = encoder
        .encode(&[s("1"), Value::Null], &mut out)
        .unwrap_err();
    assert_eq!(
        unencodable_message(err),
        "STRING '1' as field 'i64' of google.type.All: no conversion to int64"
    );
    assert_eq!(out, vec![0xaa]);
}

#[test]
fn construction_errors_name_the_field() {
    let schema = all();
    let err = ProtobufDecoder::new(&schema, &inputs(&["i64", "blob"])).unwrap_err();
    assert_eq!(
        err,
        "field 'blob' of google.type.All is bytes: FerrisStreams has no binary SQL type; leave \
         it out of the query"
    );
    let err = ProtobufDecoder::new(&schema, &inputs(&["maybe_blob"])).unwrap_err();
    assert!(err.contains("is google.protobuf.BytesValue"), "{err}");
    let leg = ProtoSchema::from_source("all.proto", ALL, MessageRef::Name("Leg")).unwrap();
    let err = ProtobufEncoder::new(&leg, &columns(&["symbol", "quantity"])).unwrap_err();
    assert_eq!(
        err,
        "output column 'quantity' has no field in message google.type.Leg (fields: symbol (1), \
         qty (2), price (3), side (4))"
    );
    // A bytes field can be written from a string.
    let bytes = encode(&schema, &["blob"], &[s("hi")]).unwrap();
    assert_eq!(bytes, vec![0x7a, 0x02, b'h', b'i']);
}

#[test]
fn message_indexes_follow_the_declarations() {
    let cases: [(&str, &[i32]); 6] = [
        ("google.type.Decimal", &[0]),
        ("All", &[3]),
        ("Outer", &[4]),
        ("Outer.Inner", &[4, 0]),
        ("google.type.Outer.Inner.Deep", &[4, 0, 0]),
        // The map entry type of `m` is nested type 1.
        ("Second", &[4, 2]),
    ];
    for (name, indexes) in cases {
        let by_name = ProtoSchema::from_source("all.proto", ALL, MessageRef::Name(name)).unwrap();
        assert_eq!(by_name.message_indexes(), indexes, "{name}");
        let by_index =
            ProtoSchema::from_source("all.proto", ALL, MessageRef::Indexes(indexes)).unwrap();
        assert_eq!(by_index.full_name(), by_name.full_name());
    }
    let first = ProtoSchema::from_source("all.proto", ALL, MessageRef::Indexes(&[])).unwrap();
    assert_eq!(first.full_name(), "google.type.Decimal");
    assert_eq!(first.source(), ALL);
    let err = ProtoSchema::from_source("all.proto", ALL, MessageRef::Indexes(&[4, 9])).unwrap_err();
    assert_eq!(
        err,
        "message indexes [4, 9] do not name a message in all.proto"
    );
}

#[test]
fn unknown_and_ambiguous_message_names() {
    let err = ProtoSchema::from_source("all.proto", ALL, MessageRef::Name("Order")).unwrap_err();
    assert!(
        err.starts_with(
            "message 'Order' not found in all.proto (messages: google.type.Decimal, \
             google.type.Money, google.type.Leg, google.type.All, google.type.Outer"
        ),
        "{err}"
    );
    let source = "syntax = \"proto3\";\npackage a;\nmessage X {}\nmessage Y { message X {} }\n";
    let err = ProtoSchema::from_source("x.proto", source, MessageRef::Name("X")).unwrap_err();
    assert_eq!(
        err,
        "message name 'X' is ambiguous in x.proto: a.X, a.Y.X; give the full name"
    );
    assert_eq!(
        ProtoSchema::from_source("x.proto", source, MessageRef::Name("a.Y.X"))
            .unwrap()
            .message_indexes(),
        vec![1, 0]
    );
}

#[test]
fn compile_errors_show_file_and_line() {
    let source = "syntax = \"proto3\";\n\nmessage Bid {\n  int64 auction = 1\n}\n";
    let err = ProtoSchema::from_source("bid.proto", source, MessageRef::Name("Bid")).unwrap_err();
    assert!(
        err.starts_with("cannot compile bid.proto: bid.proto:5:1: "),
        "{err}"
    );
    let source = "syntax = \"proto3\";\nmessage Bid {\n  Price price = 1;\n}\n";
    let err = ProtoSchema::from_source("bid.proto", source, MessageRef::Name("Bid")).unwrap_err();
    assert!(
        err.starts_with("cannot compile bid.proto: bid.proto:3:3: "),
        "{err}"
    );
    assert!(err.contains("Price"), "{err}");
}

#[test]
fn from_file_resolves_imports_next_to_the_file() {
    let dir = std::env::temp_dir().join(format!("ferris-protobuf-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("google/type")).unwrap();
    std::fs::write(
        dir.join("google/type/decimal.proto"),
        "syntax = \"proto3\";\npackage google.type;\nmessage Decimal { string value = 1; }\n",
    )
    .unwrap();
    let shop = "syntax = \"proto3\";\npackage shop;\nimport \"google/type/decimal.proto\";\n\
                import \"google/protobuf/timestamp.proto\";\n\
                message Order { string id = 1; google.type.Decimal total = 2; \
                google.protobuf.Timestamp at = 3; }\n";
    std::fs::write(dir.join("shop.proto"), shop).unwrap();
    let schema = ProtoSchema::from_file(&dir.join("shop.proto"), "Order").unwrap();
    assert_eq!(schema.full_name(), "shop.Order");
    assert_eq!(schema.source(), shop);
    assert_eq!(schema.message_indexes(), vec![0]);
    let names = ["id", "total", "at"];
    let row = vec![
        s("o-1"),
        Value::Decimal(dec("10.10")),
        Value::Timestamp(1_000),
    ];
    let bytes = encode(&schema, &names, &row).unwrap();
    assert_eq!(decode(&schema, &names, &bytes).unwrap(), row);
    // The imported file's messages are found too; a missing import names the file and line.
    assert_eq!(
        ProtoSchema::from_file(&dir.join("shop.proto"), "google.type.Decimal")
            .unwrap()
            .source(),
        "syntax = \"proto3\";\npackage google.type;\nmessage Decimal { string value = 1; }\n"
    );
    std::fs::write(
        dir.join("broken.proto"),
        "syntax = \"proto3\";\nimport \"missing.proto\";\n",
    )
    .unwrap();
    let err = ProtoSchema::from_file(&dir.join("broken.proto"), "X").unwrap_err();
    assert!(
        err.contains("broken.proto:2:1: import 'missing.proto' not found"),
        "{err}"
    );
    let err = ProtoSchema::from_file(&dir.join("absent.proto"), "X").unwrap_err();
    assert!(err.contains("absent.proto"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn decoder_and_encoder_are_reusable_across_records() {
    let schema = all();
    let names = ["i64", "price", "at", "nums", "text"];
    let mut decoder = ProtobufDecoder::new(&schema, &inputs(&names)).unwrap();
    let mut encoder = ProtobufEncoder::new(&schema, &columns(&names)).unwrap();
    let mut row = Row::new();
    for i in 0..100i64 {
        let input = vec![
            Value::BigInt(i - 50),
            if i % 3 == 0 {
                Value::Null
            } else {
                Value::Decimal(Decimal::new(i128::from(i) * 7, (i % 19) as u8).unwrap())
            },
            Value::Timestamp(i * 1_001 - 30_000),
            json(&format!("[{i},{}]", -i)),
            s(&"x".repeat(i as usize)),
        ];
        let mut out = Vec::new();
        encoder.encode(&input, &mut out).unwrap();
        decoder.decode(&out, &mut row).unwrap();
        assert_eq!(row, input, "record {i}");
    }
}

#[test]
fn money_types_can_be_imported_from_an_in_memory_source() {
    let source = "syntax = \"proto3\";\npackage pay;\nimport \"google/type/decimal.proto\";\n\
                  import \"google/type/money.proto\";\n\
                  message Payment { google.type.Decimal amount = 1; google.type.Money fee = 2; }\n";
    let schema =
        ProtoSchema::from_source("pay.proto", source, MessageRef::Name("Payment")).unwrap();
    let row = vec![
        Value::Decimal(dec("-0.010")),
        json(r#"{"currency_code":"USD","amount":0.25}"#),
    ];
    let bytes = encode(&schema, &["amount", "fee"], &row).unwrap();
    assert_eq!(decode(&schema, &["amount", "fee"], &bytes).unwrap(), row);
}

// Zero-copy pass-through of strings between plain Protobuf topics.

const PASS: &str = r#"syntax = "proto3";
package t;
message Trade { int64 id = 1; string symbol = 2; optional string venue = 3; string account = 4; string side = 5; }
message Out { string account = 1; int64 id = 2; string symbol = 7; optional string venue = 8; optional string side = 9; }
"#;

fn pass(message: &str) -> ProtoSchema {
    ProtoSchema::from_source("pass.proto", PASS, MessageRef::Name(message)).unwrap()
}

fn trade_bytes(symbol: &str) -> Vec<u8> {
    let mut m = DynamicMessage::new(pass("Trade").descriptor().clone());
    m.set_field_by_name("id", PValue::I64(7));
    m.set_field_by_name("symbol", PValue::String(symbol.into()));
    m.set_field_by_name("account", PValue::String("ACC-1".into()));
    m.set_field_by_name("side", PValue::String("BUY".into()));
    m.encode_to_vec()
}

/// A decoder of `Trade` for the slots `id, symbol, venue, account`, all copied, none read
/// elsewhere.
fn copying_decoder() -> ProtobufDecoder {
    let mut decoder = ProtobufDecoder::new(
        &pass("Trade"),
        &inputs(&["id", "symbol", "venue", "account"]),
    )
    .unwrap();
    decoder.copy_fields(&[true; 4], &[true; 4]);
    decoder
}

#[test]
fn copied_strings_pass_through_as_their_bytes_and_are_not_built() {
    let (from, to) = (pass("Trade"), pass("Out"));
    assert!(from.same_string_field("symbol", &to, "symbol"));
    assert!(from.same_string_field("venue", &to, "venue"));
    assert!(from.same_string_field("account", &to, "account"));
    // Not copied: another presence, another type, a missing field.
    assert!(!from.same_string_field("side", &to, "side"));
    assert!(!from.same_string_field("id", &to, "id"));
    assert!(!from.same_string_field("symbol", &to, "nope"));

    let bytes = trade_bytes("AAPL");
    let mut decoder = copying_decoder();
    let mut row = Row::new();
    decoder.decode(&bytes, &mut row).unwrap();
    // `id` is no string, so it is decoded; the strings are not built; `venue` is absent.
    assert_eq!(
        row,
        vec![Value::BigInt(7), Value::Null, Value::Null, Value::Null]
    );
    let pool = decoder.strings().stats();
    assert_eq!((pool.hits, pool.misses), (0, 0), "no string was decoded");

    let mut encoder =
        ProtobufEncoder::new(&to, &["account", "id", "symbol", "venue"].map(String::from)).unwrap();
    // What the shard sets up: the string columns copy, `id` is computed.
    encoder.copy_columns([(0, 3), (2, 1), (3, 2)]);
    let projected = vec![Value::Null, Value::BigInt(7), Value::Null, Value::Null];
    let mut out = Vec::new();
    encoder
        .encode_copying(&projected, &row, &bytes, decoder.spans(), &mut out)
        .unwrap();
    let mut want = DynamicMessage::new(to.descriptor().clone());
    want.set_field_by_name("account", PValue::String("ACC-1".into()));
    want.set_field_by_name("id", PValue::I64(7));
    want.set_field_by_name("symbol", PValue::String("AAPL".into()));
    assert_eq!(out, want.encode_to_vec());

    // The next record has a venue and no account: nothing of the first one is left over.
    let mut m = DynamicMessage::new(from.descriptor().clone());
    m.set_field_by_name("symbol", PValue::String("MSFT".into()));
    m.set_field_by_name("venue", PValue::String("XNAS".into()));
    let bytes = m.encode_to_vec();
    decoder.decode(&bytes, &mut row).unwrap();
    let projected = vec![Value::Null, Value::BigInt(0), Value::Null, Value::Null];
    out.clear();
    encoder
        .encode_copying(&projected, &row, &bytes, decoder.spans(), &mut out)
        .unwrap();
    let mut want = DynamicMessage::new(to.descriptor().clone());
    want.set_field_by_name("symbol", PValue::String("MSFT".into()));
    want.set_field_by_name("venue", PValue::String("XNAS".into()));
    assert_eq!(out, want.encode_to_vec());
}

#[test]
fn a_copy_only_string_is_still_checked_for_utf8() {
    let mut bytes = trade_bytes("AAPL");
    let at = bytes.windows(4).position(|w| w == b"AAPL").unwrap();
    bytes[at + 1] = 0xff;
    let mut decoder = copying_decoder();
    let mut row = Row::new();
    match decoder.decode(&bytes, &mut row) {
        Err(CodecError::Malformed { message, .. }) => assert_eq!(
            message,
            format!(
                "field 'symbol' (2) at byte {}: invalid UTF-8 in string at offset 1",
                at - 2
            )
        ),
        other => panic!("expected a malformed record, got {other:?}"),
    }
}
