use super::*;
use crate::sql::planner::SystemColumn;

fn fields(names: &[&str]) -> Vec<InputField> {
    names
        .iter()
        .map(|n| InputField {
            name: n.to_string(),
            system: None,
        })
        .collect()
}

fn decode(names: &[&str], json: &str) -> Result<Row, CodecError> {
    let mut decoder = JsonDecoder::new(&fields(names));
    let mut row = Row::new();
    decoder.decode(json.as_bytes(), &mut row).map(|()| row)
}

/// `(mantissa, scale)` of a decimal value, to check the scale exactly (decimal equality is
/// numeric: `1.0 == 1.00`).
fn dec_parts(v: &Value) -> (i128, u8) {
    match v {
        Value::Decimal(d) => (d.mantissa(), d.scale()),
        other => panic!("expected a decimal, got {other:?}"),
    }
}

fn dec(text: &str) -> Value {
    Value::Decimal(Decimal::from_str(text).unwrap())
}

fn s(text: &str) -> Value {
    Value::string(text)
}

fn json(text: &str) -> Value {
    Value::Json(Arc::from(text))
}

#[test]
fn decodes_scalars_into_their_slots() {
    let row = decode(
        &["symbol", "qty", "ok", "none", "flag"],
        r#"{"qty": 100, "symbol": "AAPL", "ok": true, "none": null, "flag": false, "other": 1}"#,
    )
    .unwrap();
    assert_eq!(
        row,
        vec![
            s("AAPL"),
            Value::BigInt(100),
            Value::Boolean(true),
            Value::Null,
            Value::Boolean(false)
        ]
    );
}

#[test]
fn decimals_keep_their_written_scale() {
    let row = decode(
        &["a", "b", "c", "d", "e"],
        r#"{"a":12.50,"b":-0.5,"c":0.1,"d":1e3,"e":1.5e-3}"#,
    )
    .unwrap();
    assert_eq!(dec_parts(&row[0]), (1250, 2));
    assert_eq!(dec_parts(&row[1]), (-5, 1));
    assert_eq!(dec_parts(&row[2]), (1, 1));
    assert_eq!(row[3], dec("1000"));
    assert_eq!(dec_parts(&row[4]), (15, 4));
}

#[test]
fn integers_are_bigint_until_they_do_not_fit() {
    let row = decode(
        &["max", "min", "big", "neg_zero"],
        r#"{"max":9223372036854775807,"min":-9223372036854775808,"big":123456789012345678901234567890,"neg_zero":-0}"#,
    )
    .unwrap();
    assert_eq!(row[0], Value::BigInt(i64::MAX));
    assert_eq!(row[1], Value::BigInt(i64::MIN));
    assert_eq!(dec_parts(&row[2]), (123456789012345678901234567890, 0));
    assert_eq!(row[3], Value::BigInt(0));
}

#[test]
fn numbers_beyond_decimal_range_are_errors() {
    let err = decode(&["x"], r#"{"x": 1e400}"#).unwrap_err();
    let CodecError::Malformed { format, message } = err else {
        panic!("{err:?}")
    };
    assert_eq!(format, "JSON");
    assert!(message.contains("1e400"), "{message}");
    // An unwanted field is skipped without being converted.
    assert_eq!(
        decode(&["y"], r#"{"x": 1e400, "y": 1}"#).unwrap(),
        vec![Value::BigInt(1)]
    );
}

#[test]
fn nested_values_are_compact_json_with_their_digits() {
    let row = decode(
        &["meta", "list"],
        r#"{"meta": {"venue": "X NAS", "fees": 0.350, "n": [1, 2.0]}, "list": [ 1 , {"a" : "b c"} ]}"#,
    )
    .unwrap();
    assert_eq!(
        row[0],
        json(r#"{"venue":"X NAS","fees":0.350,"n":[1,2.0]}"#)
    );
    assert_eq!(row[1], json(r#"[1,{"a":"b c"}]"#));
}

#[test]
fn strings_are_unescaped() {
    let row = decode(
        &["a", "b"],
        r#"{"a":"line\nbreak \"quoted\" \u00e9\\","b":"plain é"}"#,
    )
    .unwrap();
    assert_eq!(row, vec![s("line\nbreak \"quoted\" é\\"), s("plain é")]);
}

#[test]
fn escaped_keys_are_matched() {
    let row = decode(&["a b", "é"], r#"{"a\u0020b":1,"\u00e9":2}"#).unwrap();
    assert_eq!(row, vec![Value::BigInt(1), Value::BigInt(2)]);
}

#[test]
fn missing_keys_are_null_and_duplicates_take_the_last() {
    let row = decode(&["a", "b"], r#"{"a":1,"a":2}"#).unwrap();
    assert_eq!(row, vec![Value::BigInt(2), Value::Null]);
}

#[test]
fn a_reused_row_is_reset() {
    let mut decoder = JsonDecoder::new(&fields(&["a", "b"]));
    let mut row = Row::new();
    decoder.decode(br#"{"a":1,"b":"x"}"#, &mut row).unwrap();
    decoder.decode(br#"{"a":2}"#, &mut row).unwrap();
    assert_eq!(row, vec![Value::BigInt(2), Value::Null]);
}

#[test]
fn system_slots_are_left_to_the_connector() {
    let fields = vec![
        InputField {
            name: "_offset".into(),
            system: Some(SystemColumn::Offset),
        },
        InputField {
            name: "a".into(),
            system: None,
        },
    ];
    let mut decoder = JsonDecoder::new(&fields);
    let mut row = vec![Value::BigInt(7)];
    decoder
        .decode(br#"{"_offset":"payload","a":1}"#, &mut row)
        .unwrap();
    assert_eq!(row, vec![Value::BigInt(7), Value::BigInt(1)]);
}

#[test]
fn the_same_name_in_two_slots_fills_both() {
    let mut decoder = JsonDecoder::new(&fields(&["a", "a"]));
    let mut row = Row::new();
    decoder.decode(br#"{"a":3}"#, &mut row).unwrap();
    assert_eq!(row, vec![Value::BigInt(3), Value::BigInt(3)]);
}

#[test]
fn malformed_input_is_reported_with_the_column() {
    for bad in [
        r#"{"a": 1"#,
        r#"{"a": }"#,
        r#"{"a": 1} x"#,
        "",
        "nope",
        r#"{"a": 01}"#,
    ] {
        match decode(&["a"], bad) {
            Err(CodecError::Malformed {
                format: "JSON",
                message,
            }) => {
                assert!(message.contains("column"), "{bad:?}: {message}")
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn non_objects_are_not_records() {
    for (text, what) in [
        ("[1,2]", "array"),
        ("42", "number"),
        (r#""s""#, "string"),
        ("true", "boolean"),
        ("null", "null"),
    ] {
        match decode(&["a"], text) {
            Err(CodecError::NotARecord(message)) => assert!(message.contains(what), "{message}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn infers_the_union_of_keys_in_first_seen_order() {
    let lines = [
        r#"{"b":1,"a":{"x":1}}"#,
        "not json",
        r#"[1]"#,
        r#"{"c":1,"a":2,"#,
        r#"{"a":2,"d":null,"b":3}"#,
    ];
    let columns = infer_columns(lines.iter().map(|l| l.as_bytes()));
    assert_eq!(columns, vec!["b", "a", "d"]);
    assert!(infer_columns(std::iter::empty()).is_empty());
}

fn encode(names: &[&str], row: &[Value]) -> Result<String, CodecError> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut encoder = JsonEncoder::new(&names);
    let mut out = b"prefix ".to_vec();
    encoder.encode(row, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn encodes_every_type_exactly() {
    let row = vec![
        dec("12.50"),
        dec("-0.5"),
        Value::BigInt(-9223372036854775808),
        Value::Double(0.1),
        Value::Double(1e300),
        Value::Double(-2.0),
        s("a\"b\\c\nd\u{1}é"),
        Value::Boolean(true),
        Value::Null,
        Value::Timestamp(1_767_225_600_123),
        json(r#"{"fees":0.350}"#),
    ];
    let names = [
        "p", "pnl", "i", "d", "big", "neg", "s", "b", "n", "ts", "meta",
    ];
    assert_eq!(
        encode(&names, &row).unwrap(),
        r#"prefix {"p":12.50,"pnl":-0.5,"i":-9223372036854775808,"d":0.1,"big":1e300,"neg":-2.0,"s":"a\"b\\c\nd\u0001é","b":true,"n":null,"ts":"2026-01-01T00:00:00.123Z","meta":{"fees":0.350}}"#
    );
}

#[test]
fn encoded_doubles_are_valid_json() {
    for d in [
        1e300,
        1e-7,
        1.5e16,
        123.456,
        -0.0,
        f64::MAX,
        f64::MIN_POSITIVE,
    ] {
        let text = encode(&["d"], &[Value::Double(d)]).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text["prefix ".len()..]).unwrap();
        assert_eq!(parsed["d"].as_f64(), Some(d), "{text}");
    }
}

#[test]
fn non_finite_doubles_are_unencodable_and_append_nothing() {
    let names = vec!["a".to_string(), "b".to_string()];
    let mut encoder = JsonEncoder::new(&names);
    let mut out = b"kept".to_vec();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = encoder
            .encode(&[Value::BigInt(1), Value::Double(bad)], &mut out)
            .unwrap_err();
        assert!(matches!(err, CodecError::Unencodable(_)), "{err:?}");
    }
    assert_eq!(out, b"kept");
}

#[test]
fn escapes_names_and_handles_short_rows() {
    assert_eq!(
        encode(&["a\"b", "c"], &[Value::BigInt(1)]).unwrap(),
        r#"prefix {"a\"b":1,"c":null}"#
    );
    assert_eq!(encode(&[], &[]).unwrap(), "prefix {}");
}

#[test]
fn decode_then_encode_keeps_digits() {
    let input = r#"{"price":187.250,"qty":100,"pnl":-0.5,"meta":{"venue":"XNAS","fees":0.35},"note":"a\tb"}"#;
    let names = ["price", "qty", "pnl", "meta", "note"];
    let row = decode(&names, input).unwrap();
    assert_eq!(encode(&names, &row).unwrap(), format!("prefix {input}"));
}

fn path_value(text: &str, path: &str) -> Value {
    json_value(text, &JsonPath::parse(path).unwrap()).unwrap()
}

#[test]
fn json_paths_parse() {
    assert_eq!(JsonPath::parse("$").unwrap().steps, vec![]);
    assert_eq!(
        JsonPath::parse("$.a[0].b['c d'][\"e\"]").unwrap().steps,
        vec![
            PathStep::Key("a".into()),
            PathStep::Index(0),
            PathStep::Key("b".into()),
            PathStep::Key("c d".into()),
            PathStep::Key("e".into()),
        ]
    );
    for bad in [
        "", "a.b", "$.", "$..a", "$[", "$[x]", "$['a'", "$[1", "$a", "$[-1]",
    ] {
        let err = JsonPath::parse(bad).unwrap_err();
        assert!(err.contains("invalid JSON path"), "{bad}: {err}");
    }
}

#[test]
fn json_value_walks_objects_and_arrays() {
    let doc =
        r#"{"venue":"XNAS","fees":0.350,"legs":[{"px":1.10},{"px":2}],"a key":{"x":null},"n":9}"#;
    assert_eq!(path_value(doc, "$.venue"), s("XNAS"));
    assert_eq!(dec_parts(&path_value(doc, "$.fees")), (350, 3));
    assert_eq!(dec_parts(&path_value(doc, "$.legs[0].px")), (110, 2));
    assert_eq!(path_value(doc, "$.legs[1].px"), Value::BigInt(2));
    assert_eq!(path_value(doc, "$.legs[1]"), json(r#"{"px":2}"#));
    assert_eq!(path_value(doc, "$['a key']"), json(r#"{"x":null}"#));
    assert_eq!(path_value(doc, "$['a key'].x"), Value::Null);
    assert_eq!(path_value(doc, "$"), json(doc));
    // Paths that lead nowhere give NULL.
    for missing in [
        "$.nope",
        "$.legs[2]",
        "$.venue.x",
        "$.n[0]",
        "$.legs.px",
        "$[0]",
    ] {
        assert_eq!(path_value(doc, missing), Value::Null, "{missing}");
    }
    assert_eq!(path_value(" [1, [2, 3]] ", "$[1]"), json("[2,3]"));
    assert_eq!(path_value("42", "$"), Value::BigInt(42));
}

#[test]
fn json_value_rejects_invalid_documents() {
    let path = JsonPath::parse("$.a").unwrap();
    for bad in ["{", "{\"a\":1} x", "nope", ""] {
        assert!(
            matches!(
                json_value(bad, &path),
                Err(CodecError::Malformed { format: "JSON", .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn invalid_utf8_is_malformed_with_its_column() {
    let mut decoder = JsonDecoder::new(&fields(&["a"]));
    let mut row = Row::new();
    let err = decoder.decode(b"{\"a\":\"\xff\"}", &mut row).unwrap_err();
    assert_eq!(
        err,
        CodecError::Malformed {
            format: "JSON",
            message: "invalid UTF-8 at line 1 column 7".into()
        }
    );
}

#[test]
fn keys_encode_as_arrays() {
    let mut out = Vec::new();
    encode_array(
        &[
            Value::string("A\"B"),
            Value::BigInt(60_000),
            Value::Null,
            Value::Decimal("-0.50".parse().unwrap()),
        ],
        &mut out,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"["A\"B",60000,null,-0.50]"#
    );
    let mut out = b"x".to_vec();
    assert!(encode_array(&[Value::Double(f64::NAN)], &mut out).is_err());
    assert_eq!(out, b"x");
}
