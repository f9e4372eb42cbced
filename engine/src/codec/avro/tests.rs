use std::str::FromStr;
use std::sync::Arc;

use apache_avro::types::Value as AvroValue;

use super::*;
use crate::sql::planner::SystemColumn;
use crate::value::Decimal;

fn record(fields: &str) -> String {
    format!(r#"{{"type":"record","name":"R","namespace":"t","fields":[{fields}]}}"#)
}

fn schema(fields: &str) -> AvroSchema {
    AvroSchema::parse(&record(fields)).unwrap()
}

fn reference(fields: &str) -> apache_avro::Schema {
    apache_avro::Schema::parse_str(&record(fields)).unwrap()
}

fn inputs(names: &[&str]) -> Vec<InputField> {
    names
        .iter()
        .map(|n| InputField {
            name: n.to_string(),
            system: None,
        })
        .collect()
}

fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn decode(fields: &str, names: &[&str], bytes: &[u8]) -> Result<Row, CodecError> {
    let mut decoder = AvroDecoder::new(&schema(fields), &inputs(names)).unwrap();
    let mut row = Row::new();
    decoder.decode(bytes, &mut row).map(|()| row)
}

fn encode(fields: &str, names: &[&str], row: &[Value]) -> Result<Vec<u8>, CodecError> {
    let mut encoder = AvroEncoder::new(&schema(fields), &columns(names)).unwrap();
    let mut out = Vec::new();
    encoder.encode(row, &mut out).map(|()| out)
}

/// apache-avro's encoding of a record of `values` (named like the schema's fields).
fn avro_bytes(fields: &str, values: Vec<(&str, AvroValue)>) -> Vec<u8> {
    let record = AvroValue::Record(
        values
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    );
    apache_avro::to_avro_datum(&reference(fields), record).unwrap()
}

/// apache-avro's reading of `bytes`, as `(field, value)` pairs.
fn avro_read(fields: &str, bytes: &[u8]) -> Vec<(String, AvroValue)> {
    let mut reader = bytes;
    let value = apache_avro::from_avro_datum(&reference(fields), &mut reader, None).unwrap();
    assert!(reader.is_empty(), "apache-avro left {} bytes", reader.len());
    match value {
        AvroValue::Record(fields) => fields,
        other => panic!("expected a record, got {other:?}"),
    }
}

fn dec(text: &str) -> Value {
    Value::Decimal(Decimal::from_str(text).unwrap())
}

fn parts(v: &Value) -> (i128, u8) {
    match v {
        Value::Decimal(d) => (d.mantissa(), d.scale()),
        other => panic!("expected a decimal, got {other:?}"),
    }
}

fn s(text: &str) -> Value {
    Value::string(text)
}

fn json(text: &str) -> Value {
    Value::Json(Arc::from(text))
}

fn avro_decimal(m: i128) -> AvroValue {
    let (be, start) = write::minimal_twos_complement(m);
    AvroValue::Decimal(apache_avro::Decimal::from(be[start..].to_vec()))
}

fn malformed_message(result: Result<Row, CodecError>) -> String {
    match result {
        Err(CodecError::Malformed { format, message }) => {
            assert_eq!(format, "Avro");
            message
        }
        other => panic!("expected a malformed-record error, got {other:?}"),
    }
}

fn unencodable_message(result: Result<Vec<u8>, CodecError>) -> String {
    match result {
        Err(CodecError::Unencodable(message)) => message,
        other => panic!("expected an unencodable-value error, got {other:?}"),
    }
}

const SCALARS: &str = r#"
    {"name":"n","type":"null"},
    {"name":"b","type":"boolean"},
    {"name":"i","type":"int"},
    {"name":"l","type":"long"},
    {"name":"f","type":"float"},
    {"name":"d","type":"double"},
    {"name":"s","type":"string"},
    {"name":"e","type":{"type":"enum","name":"Side","symbols":["BUY","SELL"]}},
    {"name":"u","type":{"type":"string","logicalType":"uuid"}},
    {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
    {"name":"fprice","type":{"type":"fixed","name":"F8","size":8,"logicalType":"decimal","precision":18,"scale":4}},
    {"name":"day","type":{"type":"int","logicalType":"date"}},
    {"name":"tm","type":{"type":"int","logicalType":"time-millis"}},
    {"name":"tu","type":{"type":"long","logicalType":"time-micros"}},
    {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
    {"name":"tsu","type":{"type":"long","logicalType":"timestamp-micros"}},
    {"name":"tsn","type":{"type":"long","logicalType":"timestamp-nanos"}},
    {"name":"lts","type":{"type":"long","logicalType":"local-timestamp-millis"}},
    {"name":"ltsu","type":{"type":"long","logicalType":"local-timestamp-micros"}}
"#;

const SCALAR_NAMES: [&str; 19] = [
    "n", "b", "i", "l", "f", "d", "s", "e", "u", "price", "fprice", "day", "tm", "tu", "ts", "tsu",
    "tsn", "lts", "ltsu",
];

const UUID: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";
const DAY: i64 = 86_400_000;

/// The scalar record as apache-avro values, with the given sub-millisecond timestamps.
fn scalar_values(tsu: i64, tsn: i64, ltsu: i64) -> Vec<(&'static str, AvroValue)> {
    vec![
        ("n", AvroValue::Null),
        ("b", AvroValue::Boolean(true)),
        ("i", AvroValue::Int(-42)),
        ("l", AvroValue::Long(-9_000_000_000_000)),
        ("f", AvroValue::Float(1.5)),
        ("d", AvroValue::Double(-0.1)),
        ("s", AvroValue::String("h\u{e9}llo \"q\"".into())),
        ("e", AvroValue::Enum(1, "SELL".into())),
        ("u", AvroValue::String(UUID.into())),
        ("price", avro_decimal(1250)),
        (
            "fprice",
            AvroValue::Decimal(apache_avro::Decimal::from(
                (-12_345_678i64).to_be_bytes().to_vec(),
            )),
        ),
        ("day", AvroValue::Date(20_454)),
        ("tm", AvroValue::TimeMillis(45_296_789)),
        ("tu", AvroValue::TimeMicros(45_296_789_123)),
        ("ts", AvroValue::TimestampMillis(1_767_225_600_123)),
        ("tsu", AvroValue::TimestampMicros(tsu)),
        ("tsn", AvroValue::TimestampNanos(tsn)),
        ("lts", AvroValue::LocalTimestampMillis(-5)),
        ("ltsu", AvroValue::LocalTimestampMicros(ltsu)),
    ]
}

fn scalar_row(tsu_ms: i64, tsn_ms: i64, ltsu_ms: i64) -> Row {
    vec![
        Value::Null,
        Value::Boolean(true),
        Value::BigInt(-42),
        Value::BigInt(-9_000_000_000_000),
        Value::Double(1.5),
        Value::Double(-0.1),
        s("h\u{e9}llo \"q\""),
        s("SELL"),
        s(UUID),
        dec("12.50"),
        dec("-1234.5678"),
        Value::Timestamp(20_454 * DAY),
        Value::BigInt(45_296_789),
        Value::BigInt(45_296_789_123),
        Value::Timestamp(1_767_225_600_123),
        Value::Timestamp(tsu_ms),
        Value::Timestamp(tsn_ms),
        Value::Timestamp(-5),
        Value::Timestamp(ltsu_ms),
    ]
}

#[test]
fn decodes_every_scalar_type_written_by_apache_avro() {
    let bytes = avro_bytes(SCALARS, scalar_values(1_767_225_600_123_456, -1, -1_500));
    let row = decode(SCALARS, &SCALAR_NAMES, &bytes).unwrap();
    // Sub-millisecond digits are floored: -1 ns is in millisecond -1, -1500 µs in -2.
    assert_eq!(row, scalar_row(1_767_225_600_123, -1, -2));
    assert_eq!(parts(&row[9]), (1250, 2));
    assert_eq!(parts(&row[10]), (-12_345_678, 4));
}

#[test]
fn encodes_every_scalar_type_readably_by_apache_avro() {
    let row = scalar_row(1_767_225_600_123, -1, -2);
    let bytes = encode(SCALARS, &SCALAR_NAMES, &row).unwrap();
    // Whole milliseconds are written exactly in the finer units.
    let expected = scalar_values(1_767_225_600_123_000, -1_000_000, -2_000);
    let expected_bytes = avro_bytes(SCALARS, expected);
    assert_eq!(bytes, expected_bytes);
    let read = avro_read(SCALARS, &bytes);
    assert_eq!(read.len(), 19);
    match &read[8].1 {
        AvroValue::Uuid(u) => assert_eq!(u.to_string(), UUID),
        other => panic!("expected a uuid, got {other:?}"),
    }
    // And back again through the decoder.
    assert_eq!(decode(SCALARS, &SCALAR_NAMES, &bytes).unwrap(), row);
}

#[test]
fn timestamps_floor_to_milliseconds_and_scale_up_checked() {
    let fields = r#"{"name":"t","type":{"type":"long","logicalType":"timestamp-micros"}}"#;
    for (micros, ms) in [
        (0, 0),
        (999, 0),
        (1_000, 1),
        (-1, -1),
        (-1_000, -1),
        (-1_001, -2),
    ] {
        let bytes = avro_bytes(fields, vec![("t", AvroValue::TimestampMicros(micros))]);
        assert_eq!(
            decode(fields, &["t"], &bytes).unwrap(),
            vec![Value::Timestamp(ms)],
            "{micros} µs"
        );
    }
    let message = unencodable_message(encode(fields, &["t"], &[Value::Timestamp(i64::MAX / 100)]));
    assert!(
        message.contains("overflows an Avro timestamp-micros"),
        "{message}"
    );
}

/// `(schema, value text, unscaled, scale)`: decimals at the edges, each read from apache-avro's
/// bytes, written back to the same bytes, and read back to the same digits and scale.
#[test]
fn decimals_at_the_edges_round_trip_exactly() {
    let max38 = "99999999999999999999999999999999999999";
    let cases: Vec<(&str, String, i128, u8)> = vec![
        (
            r#"{"type":"bytes","logicalType":"decimal","precision":18,"scale":0}"#,
            "0".into(),
            0,
            0,
        ),
        (
            r#"{"type":"bytes","logicalType":"decimal","precision":18,"scale":0}"#,
            "-1".into(),
            -1,
            0,
        ),
        (
            r#"{"type":"bytes","logicalType":"decimal","precision":18,"scale":0}"#,
            "128".into(),
            128,
            0,
        ),
        (
            r#"{"type":"bytes","logicalType":"decimal","precision":18,"scale":0}"#,
            "-129".into(),
            -129,
            0,
        ),
        (
            r#"{"type":"bytes","logicalType":"decimal","precision":18,"scale":18}"#,
            "-0.500000000000000000".into(),
            -500_000_000_000_000_000,
            18,
        ),
        (
            r#"{"type":"bytes","logicalType":"decimal","precision":18,"scale":18}"#,
            "-0.000000000000000001".into(),
            -1,
            18,
        ),
        (
            r#"{"type":"bytes","logicalType":"decimal","precision":18,"scale":18}"#,
            "0.999999999999999999".into(),
            999_999_999_999_999_999,
            18,
        ),
        (
            r#"{"type":"bytes","logicalType":"decimal","precision":38,"scale":0}"#,
            max38.into(),
            i128::from_str(max38).unwrap(),
            0,
        ),
        (
            r#"{"type":"bytes","logicalType":"decimal","precision":38,"scale":0}"#,
            format!("-{max38}"),
            -i128::from_str(max38).unwrap(),
            0,
        ),
        (
            r#"{"type":"bytes","logicalType":"decimal","precision":38,"scale":38}"#,
            format!("-0.{max38}"),
            -i128::from_str(max38).unwrap(),
            38,
        ),
        (
            r#"{"type":"fixed","name":"F16","size":16,"logicalType":"decimal","precision":38,"scale":10}"#,
            format!("-{}.{}", &max38[..28], &max38[28..]),
            -i128::from_str(max38).unwrap(),
            10,
        ),
        (
            r#"{"type":"fixed","name":"F3","size":3,"logicalType":"decimal","precision":6,"scale":2}"#,
            "-0.01".into(),
            -1,
            2,
        ),
        (
            r#"{"type":"fixed","name":"F3","size":3,"logicalType":"decimal","precision":6,"scale":2}"#,
            "9999.99".into(),
            999_999,
            2,
        ),
    ];
    for (ty, text, unscaled, scale) in cases {
        let fields = format!(r#"{{"name":"x","type":{ty}}}"#);
        let fixed = ty.contains("fixed");
        let reference_value = if fixed {
            let size: usize = if ty.contains("F16") { 16 } else { 3 };
            let be = unscaled.to_be_bytes();
            AvroValue::Decimal(apache_avro::Decimal::from(be[16 - size..].to_vec()))
        } else {
            avro_decimal(unscaled)
        };
        let bytes = avro_bytes(&fields, vec![("x", reference_value.clone())]);
        let row = decode(&fields, &["x"], &bytes).unwrap();
        assert_eq!(parts(&row[0]), (unscaled, scale), "{text}");
        assert_eq!(row[0].to_string(), text);
        let written = encode(&fields, &["x"], &[dec(&text)]).unwrap();
        assert_eq!(written, bytes, "{text} as {ty}");
        assert_eq!(
            avro_read(&fields, &written),
            vec![("x".to_string(), reference_value)]
        );
    }
}

#[test]
fn decimals_are_rescaled_exactly_or_refused() {
    let fields =
        r#"{"name":"p","type":{"type":"bytes","logicalType":"decimal","precision":6,"scale":2}}"#;
    // Growing the scale is exact; trailing zeros may be dropped; BIGINT is a decimal too.
    for (value, unscaled) in [
        (dec("12.5"), 1250),
        (dec("12.500"), 1250),
        (dec("-0.5"), -50),
        (Value::BigInt(7), 700),
    ] {
        let bytes = encode(fields, &["p"], std::slice::from_ref(&value)).unwrap();
        assert_eq!(
            bytes,
            avro_bytes(fields, vec![("p", avro_decimal(unscaled))]),
            "{value}"
        );
    }
    let message = unencodable_message(encode(fields, &["p"], &[dec("12.345")]));
    assert_eq!(
        message,
        "Avro field p: DECIMAL 12.345 has more than 2 fractional digits: writing it at scale 2 \
         would round it"
    );
    let message = unencodable_message(encode(fields, &["p"], &[dec("10000.00")]));
    assert_eq!(
        message,
        "Avro field p: DECIMAL 10000.00 does not fit decimal(6,2)"
    );
    let message = unencodable_message(encode(fields, &["p"], &[Value::Double(1.5)]));
    assert!(
        message.contains("cannot write DOUBLE 1.5 to an Avro decimal(6,2)"),
        "{message}"
    );

    // A fixed too small for the value (the schema's precision allows more than 2 bytes hold).
    let fields = r#"{"name":"p","type":{"type":"fixed","name":"F2","size":2,"logicalType":"decimal","precision":6,"scale":0}}"#;
    let message = unencodable_message(encode(fields, &["p"], &[dec("99999")]));
    assert_eq!(
        message,
        "Avro field p: DECIMAL 99999 needs 3 bytes, more than the fixed size 2"
    );
    assert_eq!(
        encode(fields, &["p"], &[dec("-32768")]).unwrap(),
        vec![0x80, 0x00]
    );
}

#[test]
fn decimals_that_do_not_fit_are_record_errors() {
    let fields =
        r#"{"name":"p","type":{"type":"bytes","logicalType":"decimal","precision":38,"scale":0}}"#;
    // 10^38 fits i128 but not 38 digits.
    let ten38 = 10i128.pow(38);
    let bytes = avro_bytes(fields, vec![("p", avro_decimal(ten38))]);
    let message = malformed_message(decode(fields, &["p"], &bytes));
    assert!(message.starts_with("field p: decimal"), "{message}");
    assert!(message.contains("does not fit 38 digits"), "{message}");
    // 17 bytes that are more than a sign extension.
    let mut big = vec![34u8];
    big.push(0x01);
    big.extend([0u8; 16]);
    let message = malformed_message(decode(fields, &["p"], &big));
    assert!(
        message.contains("17 bytes does not fit 38 digits"),
        "{message}"
    );
    // 17 bytes that only extend the sign are fine.
    let mut extended = vec![34u8];
    extended.extend([0xffu8; 17]);
    assert_eq!(decode(fields, &["p"], &extended).unwrap(), vec![dec("-1")]);
    // No bytes at all.
    let message = malformed_message(decode(fields, &["p"], &[0]));
    assert_eq!(message, "field p: decimal with no bytes");
}

#[test]
fn nullable_unions_both_ways() {
    let fields = r#"{"name":"a","type":["null","long"]},{"name":"b","type":["string","null"]}"#;
    let cases = [
        (
            vec![
                ("a", AvroValue::Union(0, Box::new(AvroValue::Null))),
                ("b", AvroValue::Union(1, Box::new(AvroValue::Null))),
            ],
            vec![Value::Null, Value::Null],
        ),
        (
            vec![
                ("a", AvroValue::Union(1, Box::new(AvroValue::Long(-7)))),
                (
                    "b",
                    AvroValue::Union(0, Box::new(AvroValue::String("x".into()))),
                ),
            ],
            vec![Value::BigInt(-7), s("x")],
        ),
    ];
    for (values, row) in cases {
        let bytes = avro_bytes(fields, values);
        assert_eq!(decode(fields, &["a", "b"], &bytes).unwrap(), row);
        assert_eq!(encode(fields, &["a", "b"], &row).unwrap(), bytes);
    }
}

#[test]
fn other_unions_take_the_branch_present() {
    let fields = r#"{"name":"v","type":["null","string","long","double"]}"#;
    let cases = [
        (
            AvroValue::Union(1, Box::new(AvroValue::String("s".into()))),
            s("s"),
        ),
        (
            AvroValue::Union(2, Box::new(AvroValue::Long(5))),
            Value::BigInt(5),
        ),
        (
            AvroValue::Union(3, Box::new(AvroValue::Double(0.25))),
            Value::Double(0.25),
        ),
    ];
    for (value, sql) in cases {
        let bytes = avro_bytes(fields, vec![("v", value)]);
        assert_eq!(decode(fields, &["v"], &bytes).unwrap(), vec![sql.clone()]);
        assert_eq!(encode(fields, &["v"], &[sql]).unwrap(), bytes);
    }
    // A DECIMAL has no natural branch here: the first branch that takes it (string) does.
    assert_eq!(
        encode(fields, &["v"], &[dec("1.50")]).unwrap(),
        avro_bytes(
            fields,
            vec![(
                "v",
                AvroValue::Union(1, Box::new(AvroValue::String("1.50".into())))
            )]
        )
    );
    let message = unencodable_message(encode(fields, &["v"], &[Value::Boolean(true)]));
    assert!(
        message.starts_with(
            "Avro field v: no branch of union [null, string, long, double] takes BOOLEAN true"
        ),
        "{message}"
    );
}

const NESTED: &str = r#"
    {"name":"id","type":"long"},
    {"name":"order","type":{"type":"record","name":"Order","fields":[
        {"name":"qty","type":"int"},
        {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
        {"name":"note","type":["null","string"]},
        {"name":"raw","type":"bytes"},
        {"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}},
        {"name":"side","type":{"type":"enum","name":"S","symbols":["BUY","SELL"]}}
    ]}},
    {"name":"fills","type":{"type":"array","items":"double"}},
    {"name":"tags","type":{"type":"map","values":"long"}}
"#;

fn nested_reference() -> Vec<(&'static str, AvroValue)> {
    vec![
        ("id", AvroValue::Long(1)),
        (
            "order",
            AvroValue::Record(vec![
                ("qty".into(), AvroValue::Int(3)),
                ("price".into(), avro_decimal(-5)),
                (
                    "note".into(),
                    AvroValue::Union(1, Box::new(AvroValue::String("a\"b\n".into()))),
                ),
                ("raw".into(), AvroValue::Bytes(vec![0x00, 0x41, 0xe9, 0xff])),
                (
                    "at".into(),
                    AvroValue::TimestampMicros(1_767_225_600_123_456),
                ),
                ("side".into(), AvroValue::Enum(0, "BUY".into())),
            ]),
        ),
        (
            "fills",
            AvroValue::Array(vec![AvroValue::Double(1.5), AvroValue::Double(-2e-7)]),
        ),
        (
            "tags",
            AvroValue::Map(
                [("k".to_string(), AvroValue::Long(-3))]
                    .into_iter()
                    .collect(),
            ),
        ),
    ]
}

const NESTED_ORDER_JSON: &str = "{\"qty\":3,\"price\":-0.05,\"note\":\"a\\\"b\\n\",\"raw\":\"\\u0000A\u{e9}\u{ff}\",\
     \"at\":1767225600123456,\"side\":\"BUY\"}";

#[test]
fn nested_records_arrays_and_maps_are_json_text_and_back() {
    let names = ["id", "order", "fills", "tags"];
    let bytes = avro_bytes(NESTED, nested_reference());
    let row = decode(NESTED, &names, &bytes).unwrap();
    assert_eq!(
        row,
        vec![
            Value::BigInt(1),
            json(NESTED_ORDER_JSON),
            json("[1.5,-2e-7]"),
            json("{\"k\":-3}"),
        ]
    );
    // Writing the JSON text back gives apache-avro's bytes.
    assert_eq!(encode(NESTED, &names, &row).unwrap(), bytes);
    // Whitespace, key order and a missing nullable key are fine when writing.
    let row = vec![
        Value::BigInt(1),
        json(r#"{ "side": "SELL", "at": 5, "raw": "", "price": 12.5, "qty": 1 }"#),
        json("[]"),
        json("{}"),
    ];
    let written = encode(NESTED, &names, &row).unwrap();
    let read = avro_read(NESTED, &written);
    assert_eq!(
        read[1].1,
        AvroValue::Record(vec![
            ("qty".into(), AvroValue::Int(1)),
            ("price".into(), avro_decimal(1250)),
            (
                "note".into(),
                AvroValue::Union(0, Box::new(AvroValue::Null))
            ),
            ("raw".into(), AvroValue::Bytes(vec![])),
            ("at".into(), AvroValue::TimestampMicros(5)),
            ("side".into(), AvroValue::Enum(1, "SELL".into())),
        ])
    );
    assert_eq!(read[2].1, AvroValue::Array(vec![]));
}

#[test]
fn nested_json_that_does_not_fit_the_schema_is_refused() {
    let names = ["id", "order", "fills", "tags"];
    let order = |text: &str| vec![Value::BigInt(1), json(text), json("[]"), json("{}")];
    let cases = [
        (
            r#"{"qty":1,"price":1,"raw":"","at":0,"side":"BUY","extra":1}"#,
            "key extra is not a field of the record (fields: qty, price, note, raw, at, side)",
        ),
        (
            r#"{"price":1,"raw":"","at":0,"side":"BUY"}"#,
            "key qty: missing, without a default, and not nullable",
        ),
        (
            r#"{"qty":1.5,"price":1,"raw":"","at":0,"side":"BUY"}"#,
            "key qty: DECIMAL 1.5 is not an integer",
        ),
        (
            r#"{"qty":1,"price":0.001,"raw":"","at":0,"side":"BUY"}"#,
            "key price: DECIMAL 0.001 has more than 2 fractional digits",
        ),
        (
            r#"{"qty":1,"price":1,"raw":"\u0100","at":0,"side":"BUY"}"#,
            "key raw: character 'Ā' is not a byte",
        ),
        (
            r#"{"qty":1,"price":1,"raw":"","at":0,"side":"HOLD"}"#,
            "key side: unknown enum symbol 'HOLD' (symbols: BUY, SELL)",
        ),
        (r#"[1]"#, "expected a JSON object, found [1]"),
    ];
    for (text, expected) in cases {
        let message = unencodable_message(encode(NESTED, &names, &order(text)));
        assert!(message.starts_with("Avro field order: "), "{message}");
        assert!(
            message.contains(expected),
            "{message} should contain {expected}"
        );
    }
    let message = unencodable_message(encode(
        NESTED,
        &names,
        &[
            Value::BigInt(1),
            json(r#"{"qty":1,"price":1,"raw":"","at":0,"side":"BUY"}"#),
            json("[\"x\"]"),
            json("{}"),
        ],
    ));
    assert!(
        message.contains("field fills: item 0: expected a JSON number"),
        "{message}"
    );
}

/// A datum with an array and a map written with negative block counts (count, byte size),
/// then a positive block, as some writers buffer them.
fn negative_blocks() -> (String, Vec<u8>) {
    let fields = r#"{"name":"a","type":{"type":"array","items":"long"}},
        {"name":"m","type":{"type":"map","values":"string"}},
        {"name":"tail","type":"long"}"#;
    let mut b = Vec::new();
    // a: block of -2 items in 2 bytes (1, -1), block of 1 item (64 = two bytes), end.
    write::long(-2, &mut b);
    write::long(2, &mut b);
    write::long(1, &mut b);
    write::long(-1, &mut b);
    write::long(1, &mut b);
    write::long(64, &mut b);
    write::long(0, &mut b);
    // m: block of -1 entry {"k": "v"} in 4 bytes, end.
    write::long(-1, &mut b);
    write::long(4, &mut b);
    write::long(1, &mut b);
    b.push(b'k');
    write::long(1, &mut b);
    b.push(b'v');
    write::long(0, &mut b);
    write::long(99, &mut b);
    (fields.to_string(), b)
}

#[test]
fn negative_block_counts_are_read_and_skipped() {
    let (fields, bytes) = negative_blocks();
    assert_eq!(
        decode(&fields, &["a", "m", "tail"], &bytes).unwrap(),
        vec![json("[1,-1,64]"), json("{\"k\":\"v\"}"), Value::BigInt(99)]
    );
    assert_eq!(
        decode(&fields, &["tail"], &bytes).unwrap(),
        vec![Value::BigInt(99)]
    );
    // apache-avro reads the same datum the same way.
    let read = avro_read(&fields, &bytes);
    assert_eq!(
        read[0].1,
        AvroValue::Array(vec![
            AvroValue::Long(1),
            AvroValue::Long(-1),
            AvroValue::Long(64)
        ])
    );
}

#[test]
fn skips_unread_fields_of_every_kind() {
    let fields = format!(
        r#"{SCALARS},
        {{"name":"raw","type":"bytes"}},
        {{"name":"fx","type":{{"type":"fixed","name":"F4","size":4}}}},
        {{"name":"dur","type":{{"type":"fixed","name":"D","size":12,"logicalType":"duration"}}}},
        {{"name":"nested","type":{{"type":"record","name":"N","fields":[{{"name":"x","type":{{"type":"array","items":{{"type":"map","values":["null","F4"]}}}}}}]}}}},
        {{"name":"opt","type":["null","bytes","string"]}},
        {{"name":"tail","type":"long"}}"#
    );
    let mut values = scalar_values(7, 8, 9);
    values.extend([
        ("raw", AvroValue::Bytes(vec![1, 2, 3])),
        ("fx", AvroValue::Fixed(4, vec![9, 9, 9, 9])),
        (
            "dur",
            AvroValue::Duration(apache_avro::Duration::new(
                apache_avro::Months::new(1),
                apache_avro::Days::new(2),
                apache_avro::Millis::new(3),
            )),
        ),
        (
            "nested",
            AvroValue::Record(vec![(
                "x".into(),
                AvroValue::Array(vec![
                    AvroValue::Map(
                        [
                            (
                                "a".to_string(),
                                AvroValue::Union(
                                    1,
                                    Box::new(AvroValue::Fixed(4, vec![1, 2, 3, 4])),
                                ),
                            ),
                            (
                                "b".to_string(),
                                AvroValue::Union(0, Box::new(AvroValue::Null)),
                            ),
                        ]
                        .into_iter()
                        .collect(),
                    ),
                    AvroValue::Map(Default::default()),
                ]),
            )]),
        ),
        (
            "opt",
            AvroValue::Union(1, Box::new(AvroValue::Bytes(vec![0xff]))),
        ),
        ("tail", AvroValue::Long(-123_456_789)),
    ]);
    let bytes = avro_bytes(&fields, values);
    assert_eq!(
        decode(&fields, &["tail"], &bytes).unwrap(),
        vec![Value::BigInt(-123_456_789)]
    );
    // Reading the nested record turns the fixed into ISO-8859-1 characters.
    let row = decode(&fields, &["tail", "nested", "i"], &bytes).unwrap();
    assert_eq!(row[2], Value::BigInt(-42));
    let Value::Json(text) = &row[1] else {
        panic!("{row:?}")
    };
    assert!(
        [
            "{\"x\":[{\"a\":\"\\u0001\\u0002\\u0003\\u0004\",\"b\":null},{}]}",
            "{\"x\":[{\"b\":null,\"a\":\"\\u0001\\u0002\\u0003\\u0004\"},{}]}",
        ]
        .contains(&&**text),
        "{text}"
    );
}

#[test]
fn query_fields_missing_from_the_schema_are_null_and_system_slots_stay() {
    let fields = r#"{"name":"a","type":"long"},{"name":"b","type":"string"}"#;
    let mut input = inputs(&["b", "nope", "a", "a"]);
    input.push(InputField {
        name: "_offset".into(),
        system: Some(SystemColumn::Offset),
    });
    let mut decoder = AvroDecoder::new(&schema(fields), &input).unwrap();
    let mut row = vec![
        s("stale"),
        s("stale"),
        s("stale"),
        s("stale"),
        Value::BigInt(77),
    ];
    let bytes = avro_bytes(
        fields,
        vec![
            ("a", AvroValue::Long(5)),
            ("b", AvroValue::String("x".into())),
        ],
    );
    decoder.decode(&bytes, &mut row).unwrap();
    assert_eq!(
        row,
        vec![
            s("x"),
            Value::Null,
            Value::BigInt(5),
            Value::BigInt(5),
            Value::BigInt(77)
        ]
    );
}

#[test]
fn reading_a_binary_field_is_refused_at_start_but_skipping_it_is_fine() {
    let fields = r#"{"name":"raw","type":"bytes"},{"name":"opt","type":["null",{"type":"fixed","name":"F","size":2}]},{"name":"x","type":"long"}"#;
    let sch = schema(fields);
    assert_eq!(
        AvroDecoder::new(&sch, &inputs(&["raw"])).unwrap_err(),
        "Avro field raw has type bytes, which has no SQL type (FerrisStreams has no binary type)"
    );
    assert_eq!(
        AvroDecoder::new(&sch, &inputs(&["opt"])).unwrap_err(),
        "Avro field opt has type union [null, fixed(2)]: its branch fixed(2) has no SQL type \
         (FerrisStreams has no binary type)"
    );
    let bytes = avro_bytes(
        fields,
        vec![
            ("raw", AvroValue::Bytes(vec![1])),
            (
                "opt",
                AvroValue::Union(1, Box::new(AvroValue::Fixed(2, vec![1, 2]))),
            ),
            ("x", AvroValue::Long(3)),
        ],
    );
    assert_eq!(
        decode(fields, &["x"], &bytes).unwrap(),
        vec![Value::BigInt(3)]
    );
}

#[test]
fn every_truncation_of_a_datum_is_an_error() {
    let bytes = avro_bytes(SCALARS, scalar_values(1, 2, 3));
    for len in 0..bytes.len() {
        let message = malformed_message(decode(SCALARS, &SCALAR_NAMES, &bytes[..len]));
        assert!(message.ends_with("truncated datum"), "{len}: {message}");
        // Skipping everything notices the truncation too.
        let message = malformed_message(decode(SCALARS, &[], &bytes[..len]));
        assert!(message.ends_with("truncated datum"), "{len}: {message}");
    }
}

#[test]
fn corrupt_datums_are_errors_naming_the_field() {
    let fields = r#"{"name":"a","type":"long"},{"name":"s","type":"string"},{"name":"u","type":["null","long"]},{"name":"b","type":"boolean"},{"name":"i","type":"int"},{"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}}"#;
    let names = ["a", "s", "u", "b", "i", "e"];
    // A valid datum: a=1, s="ok", u=null, b=true, i=2, e=X.
    let good = vec![2, 4, b'o', b'k', 0, 1, 4, 0];
    assert_eq!(
        decode(fields, &names, &good).unwrap(),
        vec![
            Value::BigInt(1),
            s("ok"),
            Value::Null,
            Value::Boolean(true),
            Value::BigInt(2),
            s("X")
        ]
    );
    let with = |at: usize, replace: &[u8]| {
        let mut b = good.clone();
        b.splice(at..at + 1, replace.iter().copied());
        b
    };
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            with(0, &[0xff; 10]),
            "field a: varint does not fit a long".into(),
        ),
        (with(1, &[3]), "field s: negative length -2".into()),
        (
            with(2, &[0xc3]),
            "field s: invalid UTF-8 in a string at byte 0 of 2".into(),
        ),
        (
            with(4, &[4]),
            "field u: invalid union branch index 2 (the union has 2)".into(),
        ),
        (
            with(4, &[1]),
            "field u: invalid union branch index -1 (the union has 2)".into(),
        ),
        (with(5, &[2]), "field b: invalid boolean byte 2".into()),
        (
            with(6, &[0x80, 0x80, 0x80, 0x80, 0x10]),
            "field i: int 2147483648 out of range".into(),
        ),
        (
            with(7, &[2]),
            "field e: invalid enum index 1 (the enum has 1 symbols)".into(),
        ),
        (
            {
                let mut b = good.clone();
                b.push(0);
                b
            },
            "1 trailing bytes after the datum".into(),
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(malformed_message(decode(fields, &names, &bytes)), expected);
    }
    // A skipped string of a huge length is truncation, not an allocation.
    let mut huge = vec![2];
    write::long(i64::MAX, &mut huge);
    assert_eq!(
        malformed_message(decode(fields, &["a"], &huge)),
        "field s: truncated datum"
    );
}

#[test]
fn huge_block_counts_are_refused_before_looping() {
    let fields = r#"{"name":"a","type":{"type":"array","items":"long"}},{"name":"n","type":{"type":"array","items":"null"}}"#;
    let mut b = Vec::new();
    write::long(1 << 40, &mut b);
    for names in [&["a"][..], &[]] {
        let message = malformed_message(decode(fields, names, &b));
        assert!(
            message.starts_with("field a: block of 1099511627776 items in 0 remaining bytes"),
            "{message}"
        );
    }
    // Nulls take no bytes: their count is capped instead.
    let mut b = vec![0];
    write::long(1 << 40, &mut b);
    let message = malformed_message(decode(fields, &["n"], &b));
    assert_eq!(
        message,
        "field n: more than 65536 zero-byte items in one datum"
    );
    let mut b = vec![0];
    write::long(3, &mut b);
    b.push(0);
    assert_eq!(
        decode(fields, &["n"], &b).unwrap(),
        vec![json("[null,null,null]")]
    );
}

#[test]
fn recursive_schemas_round_trip_and_deep_nesting_is_refused() {
    let fields = r#"{"name":"list","type":{"type":"record","name":"Node","fields":[
        {"name":"v","type":"long"},{"name":"next","type":["null","Node"]}]}}"#;
    let text = r#"{"v":1,"next":{"v":2,"next":null}}"#;
    let bytes = encode(fields, &["list"], &[json(text)]).unwrap();
    assert_eq!(bytes, vec![2, 2, 4, 0]);
    assert_eq!(decode(fields, &["list"], &bytes).unwrap(), vec![json(text)]);
    // 200 levels: each is a value and a union index.
    let mut deep = Vec::new();
    for _ in 0..200 {
        deep.extend([2, 2]);
    }
    deep.extend([2, 0]);
    for names in [&["list"][..], &[]] {
        let message = malformed_message(decode(fields, names, &deep));
        assert_eq!(message, "field list: nested deeper than 128 levels");
    }
}

#[test]
fn named_types_are_reused_by_reference() {
    let fields = r#"{"name":"a","type":{"type":"enum","name":"E","namespace":"x","symbols":["P","Q"]}},
        {"name":"b","type":"x.E"},
        {"name":"c","type":{"type":"fixed","name":"M","size":4,"logicalType":"decimal","precision":8,"scale":3}},
        {"name":"d","type":["null","M"]}"#;
    let row = vec![s("Q"), s("P"), dec("1.234"), dec("-0.001")];
    let bytes = encode(fields, &["a", "b", "c", "d"], &row).unwrap();
    // a = 1, b = 0, c = 1234 in 4 bytes, d = branch 1 and -1 in 4 bytes. (apache-avro 0.21
    // cannot resolve a reference to a named decimal fixed, so these bytes are written out.)
    assert_eq!(
        bytes,
        vec![2, 0, 0, 0, 0x04, 0xd2, 2, 0xff, 0xff, 0xff, 0xff]
    );
    let enums = r#"{"name":"a","type":{"type":"enum","name":"E","namespace":"x","symbols":["P","Q"]}},
        {"name":"b","type":"x.E"}"#;
    assert_eq!(
        avro_read(enums, &bytes[..2]),
        vec![
            ("a".to_string(), AvroValue::Enum(1, "Q".into())),
            ("b".to_string(), AvroValue::Enum(0, "P".into())),
        ]
    );
    assert_eq!(decode(fields, &["a", "b", "c", "d"], &bytes).unwrap(), row);
}

#[test]
fn big_decimal_keeps_the_datums_scale() {
    let fields = r#"{"name":"x","type":{"type":"bytes","logicalType":"big-decimal"}}"#;
    for text in ["0", "-0.5", "12.340", "-0.000000000000000001"] {
        let bytes = encode(fields, &["x"], &[dec(text)]).unwrap();
        let row = decode(fields, &["x"], &bytes).unwrap();
        assert_eq!(row[0].to_string(), text);
    }
    // unscaled 5 at scale -2 is 500.
    let bytes = vec![6, 2, 5, 3];
    assert_eq!(
        decode(fields, &["x"], &bytes).unwrap()[0].to_string(),
        "500"
    );
}

#[test]
fn checked_scalar_conversions_refuse_silent_changes() {
    let fields = r#"{"name":"i","type":["null","int"]},{"name":"d","type":"double"},{"name":"f","type":"float"},
        {"name":"u","type":{"type":"string","logicalType":"uuid"}},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}},
        {"name":"day","type":{"type":"int","logicalType":"date"}},
        {"name":"l","type":"long"},{"name":"s","type":"string"}"#;
    let names = ["i", "d", "f", "u", "e", "day", "l", "s"];
    let good = || {
        vec![
            Value::BigInt(1),
            Value::BigInt(1 << 53),
            Value::Double(0.1),
            s(UUID),
            s("A"),
            Value::Timestamp(-DAY),
            dec("-9.00"),
            dec("1.50"),
        ]
    };
    let bytes = encode(fields, &names, &good()).unwrap();
    let read = avro_read(fields, &bytes);
    assert_eq!(read[1].1, AvroValue::Double(9_007_199_254_740_992.0));
    assert_eq!(read[2].1, AvroValue::Float(0.1));
    assert_eq!(read[5].1, AvroValue::Date(-1));
    assert_eq!(read[6].1, AvroValue::Long(-9));
    assert_eq!(read[7].1, AvroValue::String("1.50".into()));
    let cases: Vec<(usize, Value, &str)> = vec![
        (
            0,
            Value::BigInt(1 << 31),
            "Avro field i: 2147483648 is out of the range of an Avro int",
        ),
        (
            1,
            Value::BigInt((1 << 53) + 1),
            "Avro field d: BIGINT 9007199254740993 is not exactly representable as an Avro double",
        ),
        (
            1,
            Value::BigInt(i64::MAX),
            "Avro field d: BIGINT 9223372036854775807 is not exactly representable as an Avro double",
        ),
        (
            1,
            dec("0.1"),
            "Avro field d: DECIMAL 0.1 cannot be written to an Avro double: money never passes through binary floating point (use a decimal or string field)",
        ),
        (
            2,
            Value::Double(1e300),
            "Avro field f: DOUBLE 1e300 overflows an Avro float",
        ),
        (
            3,
            s("67e55044-10b1-426f-9247-bb680e5fe0c"),
            "Avro field u: '67e55044-10b1-426f-9247-bb680e5fe0c' is not a UUID (8-4-4-4-12 hex digits)",
        ),
        (
            3,
            s("67e55044x10b1-426f-9247-bb680e5fe0c8"),
            "Avro field u: '67e55044x10b1-426f-9247-bb680e5fe0c8' is not a UUID (8-4-4-4-12 hex digits)",
        ),
        (
            4,
            s("B"),
            "Avro field e: unknown enum symbol 'B' (symbols: A)",
        ),
        (
            5,
            Value::Timestamp(DAY + 1),
            "Avro field day: TIMESTAMP 1970-01-02T00:00:00.001Z is not at midnight UTC, so it is not an Avro date",
        ),
        (6, dec("1.5"), "Avro field l: DECIMAL 1.5 is not an integer"),
        (6, Value::Null, "Avro field l is not nullable (got NULL)"),
        (
            7,
            Value::BigInt(1),
            "Avro field s: cannot write BIGINT 1 to an Avro string",
        ),
    ];
    for (i, value, expected) in cases {
        let mut row = good();
        row[i] = value;
        let mut encoder = AvroEncoder::new(&schema(fields), &columns(&names)).unwrap();
        let mut out = vec![7u8];
        let err = encoder.encode(&row, &mut out).unwrap_err();
        assert_eq!(err, CodecError::Unencodable(expected.to_string()));
        assert_eq!(out, vec![7u8], "nothing appended on error");
    }
}

#[test]
fn encoder_columns_must_match_the_schema() {
    let fields = r#"{"name":"a","type":"long"},{"name":"b","type":["null","string"]},
        {"name":"c","type":"string","default":"dflt"},
        {"name":"d","type":[{"type":"bytes","logicalType":"decimal","precision":4,"scale":2},"string"],"default":"\u0004\u00d2"},
        {"name":"e","type":["long","null"],"default":5}"#;
    let sch = schema(fields);
    assert_eq!(
        AvroEncoder::new(&sch, &columns(&["a", "zz"])).unwrap_err(),
        "output column zz is not a field of the Avro schema (fields: a, b, c, d, e)"
    );
    assert_eq!(
        AvroEncoder::new(&sch, &columns(&["b"])).unwrap_err(),
        "Avro field a has no output column, no default and is not nullable"
    );
    assert_eq!(
        AvroEncoder::new(&sch, &columns(&["a", "a"])).unwrap_err(),
        "output column a appears twice"
    );
    // Missing fields take their defaults or null; columns may come in any order.
    let mut encoder = AvroEncoder::new(&sch, &columns(&["a"])).unwrap();
    let mut out = Vec::new();
    encoder.encode(&[Value::BigInt(3)], &mut out).unwrap();
    assert_eq!(
        avro_read(fields, &out),
        vec![
            ("a".to_string(), AvroValue::Long(3)),
            (
                "b".to_string(),
                AvroValue::Union(0, Box::new(AvroValue::Null))
            ),
            ("c".to_string(), AvroValue::String("dflt".into())),
            (
                "d".to_string(),
                AvroValue::Union(0, Box::new(avro_decimal(1234)))
            ),
            (
                "e".to_string(),
                AvroValue::Union(0, Box::new(AvroValue::Long(5)))
            ),
        ]
    );
    assert_eq!(
        decode(fields, &["d", "e"], &out).unwrap(),
        vec![dec("12.34"), Value::BigInt(5)]
    );
    // A default that does not fit its type fails at start (apache-avro lets a union's default
    // match any branch; the specification says the first).
    let bad = schema(r#"{"name":"a","type":["int","string"],"default":"x"}"#);
    assert_eq!(
        AvroEncoder::new(&bad, &[]).unwrap_err(),
        "Avro field a: invalid default \"x\": expected a JSON integer, found \"x\""
    );
}

#[test]
fn json_and_decimals_write_to_string_fields_as_text() {
    let fields = r#"{"name":"s","type":"string"}"#;
    let bytes = encode(fields, &["s"], &[json(r#"{"a":[1.50]}"#)]).unwrap();
    assert_eq!(
        avro_read(fields, &bytes)[0].1,
        AvroValue::String(r#"{"a":[1.50]}"#.into())
    );
}

#[test]
fn schema_errors_are_found_at_start() {
    let cases = [
        (
            r#"{"type":"enum","name":"E","symbols":["A"]}"#.to_string(),
            "the top-level Avro schema must be a record, found enum",
        ),
        (
            "\"long\"".to_string(),
            "the top-level Avro schema must be a record, found long",
        ),
        (
            record(
                r#"{"name":"p","type":{"type":"bytes","logicalType":"decimal","precision":39,"scale":2}}"#,
            ),
            "field p: decimal precision 39 is outside 1..=38 (DECIMAL holds at most 38 digits exactly)",
        ),
        (
            record(
                r#"{"name":"o","type":{"type":"record","name":"In","fields":[{"name":"q","type":{"type":"fixed","name":"Q","size":20,"logicalType":"decimal","precision":40}}]}}"#,
            ),
            "field o.q: decimal precision 40 is outside 1..=38",
        ),
        (
            record(
                r#"{"name":"p","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":5}}"#,
            ),
            "field p: decimal scale 5 exceeds its precision 4",
        ),
        (
            record(
                r#"{"name":"u","type":{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}}"#,
            ),
            "field u: uuid on fixed is not supported",
        ),
        (
            record(r#"{"name":"x","type":"nope"}"#),
            "invalid Avro schema: ",
        ),
        ("{".to_string(), "invalid Avro schema JSON: "),
    ];
    for (text, expected) in cases {
        let err = AvroSchema::parse(&text).unwrap_err();
        assert!(
            err.starts_with(expected),
            "{err} should start with {expected}"
        );
    }
}

#[test]
fn schema_keeps_its_text_and_field_names() {
    let text = record(r#"{"name":"b","type":"long"},{"name":"a","type":"string"}"#);
    let sch = AvroSchema::parse(&text).unwrap();
    assert_eq!(sch.text(), text);
    assert_eq!(sch.field_names(), vec!["b".to_string(), "a".to_string()]);
}

#[test]
fn non_finite_nested_floats_are_strings_and_back() {
    let fields = r#"{"name":"a","type":{"type":"array","items":"double"}}"#;
    let bytes = avro_bytes(
        fields,
        vec![(
            "a",
            AvroValue::Array(vec![
                AvroValue::Double(f64::NAN),
                AvroValue::Double(f64::NEG_INFINITY),
            ]),
        )],
    );
    let row = decode(fields, &["a"], &bytes).unwrap();
    assert_eq!(row, vec![json(r#"["NaN","-Infinity"]"#)]);
    assert_eq!(encode(fields, &["a"], &row).unwrap(), bytes);
}

#[test]
fn repeated_strings_come_from_the_pool_in_plain_and_union_fields() {
    let fields = r#"{"name":"a","type":"string"},{"name":"b","type":["null","string"]}"#;
    let bytes = avro_bytes(
        fields,
        vec![
            ("a", AvroValue::String("EUR".into())),
            (
                "b",
                AvroValue::Union(1, Box::new(AvroValue::String("BUY".into()))),
            ),
        ],
    );
    let mut decoder = AvroDecoder::new(&schema(fields), &inputs(&["a", "b"])).unwrap();
    let (mut first, mut second) = (Row::new(), Row::new());
    decoder.decode(&bytes, &mut first).unwrap();
    decoder.decode(&bytes, &mut second).unwrap();
    assert_eq!(first, vec![s("EUR"), s("BUY")]);
    assert_eq!(second, first);
    for slot in 0..2 {
        let (Value::String(x), Value::String(y)) = (&first[slot], &second[slot]) else {
            panic!("strings: {first:?}");
        };
        assert!(Arc::ptr_eq(x, y), "slot {slot} was not pooled");
    }
    let stats = decoder.strings().stats();
    assert_eq!((stats.hits, stats.misses, stats.held), (2, 2, 2));
}

// Zero-copy pass-through between plain Avro topics.

const TRADE: &str = r#"
    {"name":"id","type":"long"},
    {"name":"symbol","type":"string"},
    {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
    {"name":"note","type":["null","string"]},
    {"name":"side","type":{"type":"enum","name":"Side","symbols":["BUY","SELL"]}},
    {"name":"fills","type":{"type":"array","items":"long"}}
"#;

fn trade_datum(symbol: AvroValue) -> Vec<u8> {
    avro_bytes(
        TRADE,
        vec![
            ("id", AvroValue::Long(7)),
            ("symbol", symbol),
            ("price", avro_decimal(18_725)),
            (
                "note",
                AvroValue::Union(1, Box::new(AvroValue::String("late fill".into()))),
            ),
            ("side", AvroValue::Enum(1, "SELL".into())),
            (
                "fills",
                AvroValue::Array(vec![AvroValue::Long(3), AvroValue::Long(-4)]),
            ),
        ],
    )
}

/// A decoder of `TRADE` for the query's slots `price, id, symbol, note, side, fills` where
/// every field is copied and `price` is also read (by a filter).
fn copying_decoder() -> AvroDecoder {
    let names = ["price", "id", "symbol", "note", "side", "fills"];
    let mut decoder = AvroDecoder::new(&schema(TRADE), &inputs(&names)).unwrap();
    decoder.copy_fields(&[true; 6], &[false, true, true, true, true, true]);
    decoder
}

#[test]
fn copied_fields_pass_through_as_their_bytes_and_copy_only_ones_are_not_built() {
    let bytes = trade_datum(AvroValue::String("AAPL".into()));
    let mut decoder = copying_decoder();
    let mut row = Row::new();
    decoder.decode(&bytes, &mut row).unwrap();
    // Only the field read elsewhere is built; the copy-only slots stay NULL.
    assert_eq!(
        row,
        vec![
            dec("187.25"),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
    assert_eq!(decoder.strings().stats().misses, 0, "no string was decoded");

    // The same schema, columns in schema order: the output is the input, byte for byte.
    let names = columns(&["id", "symbol", "price", "note", "side", "fills"]);
    let mut encoder = AvroEncoder::new(&schema(TRADE), &names).unwrap();
    encoder.copy_columns([(0, 1), (1, 2), (2, 0), (3, 3), (4, 4), (5, 5)]);
    let projected = vec![Value::Null; 6];
    let mut out = Vec::new();
    encoder
        .encode_copying(&projected, &row, &bytes, decoder.spans(), &mut out)
        .unwrap();
    assert_eq!(out, bytes);

    // Another schema: fields reordered, one computed (from the row), one left to its default.
    let sink = r#"
        {"name":"side","type":{"type":"enum","name":"Side","symbols":["BUY","SELL"]}},
        {"name":"notional","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
        {"name":"symbol","type":"string"},
        {"name":"venue","type":"string","default":"XNAS"},
        {"name":"id","type":"long"}
    "#;
    let mut encoder = AvroEncoder::new(
        &schema(sink),
        &columns(&["symbol", "id", "side", "notional"]),
    )
    .unwrap();
    encoder.copy_columns([(0, 2), (1, 1), (2, 4)]);
    let projected = vec![Value::Null, Value::Null, Value::Null, dec("1872.50")];
    let mut out = Vec::new();
    encoder
        .encode_copying(&projected, &row, &bytes, decoder.spans(), &mut out)
        .unwrap();
    assert_eq!(
        out,
        avro_bytes(
            sink,
            vec![
                ("side", AvroValue::Enum(1, "SELL".into())),
                ("notional", avro_decimal(187_250)),
                ("symbol", AvroValue::String("AAPL".into())),
                ("venue", AvroValue::String("XNAS".into())),
                ("id", AvroValue::Long(7)),
            ]
        )
    );
}

#[test]
fn a_copy_only_field_is_refused_where_decoding_it_would_be() {
    // `symbol` is copied, never decoded: its bytes are still checked for UTF-8.
    let mut bytes = trade_datum(AvroValue::String("AAPL".into()));
    let at = bytes.windows(4).position(|w| w == b"AAPL").unwrap();
    bytes[at + 1] = 0xff;
    let mut decoder = copying_decoder();
    let mut row = Row::new();
    let message = malformed_message(decoder.decode(&bytes, &mut row).map(|()| row));
    assert_eq!(
        message,
        "field symbol: invalid UTF-8 in a string at byte 1 of 4"
    );
    // An enum index past the symbols, likewise (`side` is the byte after `note`'s text).
    let mut bytes = trade_datum(AvroValue::String("AAPL".into()));
    let at = bytes.windows(9).position(|w| w == b"late fill").unwrap() + 9;
    assert_eq!(bytes[at], 2, "zig-zag 1, SELL");
    bytes[at] = 4;
    let mut row = Row::new();
    let message = malformed_message(decoder.decode(&bytes, &mut row).map(|()| row));
    assert_eq!(
        message,
        "field side: invalid enum index 2 (the enum has 2 symbols)"
    );
}

#[test]
fn a_field_is_copied_only_between_the_same_types() {
    let a = schema(TRADE);
    let same = |other: &str, name: &str| a.same_field_type(name, &schema(other), name);
    // The same type under another record and enum name still encodes alike.
    assert!(same(
        r#"{"name":"side","type":{"type":"enum","name":"Other","symbols":["BUY","SELL"]}}"#,
        "side"
    ));
    assert!(same(
        r#"{"name":"fills","type":{"type":"array","items":"long"}}"#,
        "fills"
    ));
    assert!(same(
        r#"{"name":"note","type":["null","string"],"default":null}"#,
        "note"
    ));
    // Anything that changes the bytes does not.
    assert!(!same(r#"{"name":"note","type":["string","null"]}"#, "note"));
    assert!(!same(
        r#"{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}}"#,
        "price"
    ));
    assert!(!same(
        r#"{"name":"side","type":{"type":"enum","name":"Side","symbols":["SELL","BUY"]}}"#,
        "side"
    ));
    assert!(!same(
        r#"{"name":"fills","type":{"type":"array","items":"int"}}"#,
        "fills"
    ));
    assert!(!same(r#"{"name":"id","type":"int"}"#, "id"));
    assert!(!same(
        r#"{"name":"symbol","type":{"type":"string","logicalType":"uuid"}}"#,
        "symbol"
    ));
    // A field the other schema does not have.
    assert!(!a.same_field_type("id", &schema(r#"{"name":"x","type":"long"}"#), "id"));
}

#[test]
fn a_copied_field_of_no_bytes_is_encoded_from_its_value() {
    // `empty` takes no bytes in a datum: there is nothing to copy, so it is decoded and
    // encoded like any computed column, and the output is still the input.
    let fields = r#"
        {"name":"id","type":"long"},
        {"name":"empty","type":{"type":"record","name":"E","fields":[]}},
        {"name":"nothing","type":"null"}
    "#;
    let bytes = avro_bytes(
        fields,
        vec![
            ("id", AvroValue::Long(-3)),
            ("empty", AvroValue::Record(vec![])),
            ("nothing", AvroValue::Null),
        ],
    );
    let names = ["id", "empty", "nothing"];
    let mut decoder = AvroDecoder::new(&schema(fields), &inputs(&names)).unwrap();
    decoder.copy_fields(&[true; 3], &[true; 3]);
    let mut row = Row::new();
    decoder.decode(&bytes, &mut row).unwrap();
    assert_eq!(row, vec![Value::Null, json("{}"), Value::Null]);
    let mut encoder = AvroEncoder::new(&schema(fields), &columns(&names)).unwrap();
    encoder.copy_columns([(0, 0), (1, 1), (2, 2)]);
    let mut out = Vec::new();
    encoder
        .encode_copying(
            &vec![Value::Null; 3],
            &row,
            &bytes,
            decoder.spans(),
            &mut out,
        )
        .unwrap();
    assert_eq!(out, bytes);
}
