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

// The single-pass scanner. `scan_record` either decodes a record or hands it to serde_json
// (`decode` then re-walks it with `RowVisitor`), so every test below compares `decode` with
// that serde_json walk on its own: the two must agree on every value and every error.

/// What serde_json alone makes of `bytes` (the decoder before the scanner).
fn reference(names: &[&str], bytes: &[u8]) -> Result<Row, CodecError> {
    let decoder = JsonDecoder::new(&fields(names));
    let mut row = vec![Value::Null; names.len()];
    let text = std::str::from_utf8(bytes).map_err(|e| {
        malformed(format!(
            "invalid UTF-8 at line 1 column {}",
            e.valid_up_to() + 1
        ))
    })?;
    if first_byte(bytes) != Some(b'{') {
        return Err(not_an_object(bytes));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(RowVisitor {
        fields: &decoder.fields,
        row: &mut row,
    })
    .and_then(|()| de.end())
    .map_err(malformed)?;
    Ok(row)
}

fn decode_bytes(names: &[&str], bytes: &[u8]) -> Result<Row, CodecError> {
    let mut decoder = JsonDecoder::new(&fields(names));
    let mut row = Row::new();
    decoder.decode(bytes, &mut row).map(|()| row)
}

/// Whether the scanner decodes `json` by itself, without falling back to serde_json.
fn scans(names: &[&str], json: &str) -> bool {
    let mut decoder = JsonDecoder::new(&fields(names));
    let mut row = vec![Value::Null; names.len()];
    let copies = Copies {
        active: false,
        copied: &decoder.copied,
        copy_only: &decoder.copy_only,
        spans: &mut decoder.spans,
    };
    let mut strings = StringPool::new(names.len());
    scan_record(
        json,
        &decoder.fields,
        &mut Vec::new(),
        &mut row,
        copies,
        &mut strings,
    )
    .is_ok()
}

#[test]
fn repeated_short_strings_come_from_the_pool_with_the_same_values() {
    let mut decoder = JsonDecoder::new(&fields(&["symbol", "note"]));
    let mut first = Vec::new();
    let mut second = Vec::new();
    let record = br#"{"symbol":"AAPL","note":"a\u0041"}"#;
    decoder.decode(record, &mut first).unwrap();
    decoder.decode(record, &mut second).unwrap();
    assert_eq!(first, vec![Value::string("AAPL"), Value::string("aA")]);
    assert_eq!(first, second);
    let (Value::String(a), Value::String(b)) = (&first[0], &second[0]) else {
        panic!("strings: {first:?}");
    };
    assert!(Arc::ptr_eq(a, b), "the second AAPL is the pooled one");
    // Escaped text is unescaped by serde_json, then pooled like the rest.
    let (Value::String(a), Value::String(b)) = (&first[1], &second[1]) else {
        panic!("strings: {first:?}");
    };
    assert!(Arc::ptr_eq(a, b));
    let s = decoder.strings().stats();
    assert_eq!((s.hits, s.misses, s.held), (2, 2, 2));

    // Without the pool: the same values, none shared.
    decoder.strings_mut().set_enabled(false);
    let mut third = Vec::new();
    decoder.decode(record, &mut third).unwrap();
    assert_eq!(third, first);
    let (Value::String(a), Value::String(c)) = (&first[0], &third[0]) else {
        panic!("strings: {third:?}");
    };
    assert!(!Arc::ptr_eq(a, c));
}

/// `decode` agrees with serde_json on `json`, and returns what it returned.
fn agrees(names: &[&str], json: &[u8]) -> Result<Row, CodecError> {
    let got = decode_bytes(names, json);
    assert_eq!(
        got,
        reference(names, json),
        "{:?}",
        String::from_utf8_lossy(json)
    );
    got
}

/// Asserts that `json` is malformed, both for the scanner and for serde_json.
fn rejected(names: &[&str], json: &str) {
    if let Ok(json) = std::str::from_utf8(json.as_bytes()) {
        assert!(!scans(names, json), "the scanner accepted {json:?}");
    }
    match agrees(names, json.as_bytes()) {
        Err(CodecError::Malformed {
            format: "JSON",
            message,
        }) => assert!(message.contains("column"), "{json:?}: {message}"),
        other => panic!("{json:?}: {other:?}"),
    }
}

#[test]
fn invalid_numbers_are_malformed_wanted_or_not() {
    for bad in [
        "01",
        "-01",
        "00",
        "1.",
        "-1.",
        ".5",
        "-.5",
        "+1",
        "1e",
        "1E",
        "1e+",
        "1e-",
        "1.e3",
        "-",
        "--1",
        "0x1",
        "1.5.3",
        "1e3e3",
        "1e3.5",
        "Infinity",
        "-Infinity",
        "NaN",
        "1_000",
        "0.-1",
        "1ee3",
        "-e1",
        "1 2",
    ] {
        for names in [&["x"][..], &["y"][..]] {
            rejected(names, &format!(r#"{{"x":{bad}}}"#));
            rejected(names, &format!(r#"{{"y":1,"x":{bad},"z":2}}"#));
            rejected(names, &format!(r#"{{"x":{bad} }}"#));
        }
    }
}

#[test]
fn valid_numbers_are_scanned_exactly() {
    let cases: &[(&str, Value)] = &[
        ("-0", Value::BigInt(0)),
        ("0", Value::BigInt(0)),
        ("7", Value::BigInt(7)),
        ("-7", Value::BigInt(-7)),
        ("999999999999999999", Value::BigInt(999_999_999_999_999_999)),
        (
            "-999999999999999999",
            Value::BigInt(-999_999_999_999_999_999),
        ),
        (
            "1000000000000000000",
            Value::BigInt(1_000_000_000_000_000_000),
        ),
        ("9223372036854775807", Value::BigInt(i64::MAX)),
        ("-9223372036854775808", Value::BigInt(i64::MIN)),
        ("9223372036854775808", dec("9223372036854775808")),
        ("-9223372036854775809", dec("-9223372036854775809")),
        ("1e3", dec("1000")),
        ("1E+3", dec("1000")),
        ("1e-3", dec("0.001")),
        ("0.1", dec("0.1")),
        ("-0.0", dec("0.0")),
        ("0e0", dec("0")),
        ("12.50", dec("12.50")),
        ("1.5E-3", dec("0.0015")),
    ];
    for (text, want) in cases {
        for json in [
            format!(r#"{{"x":{text}}}"#),
            format!(r#"{{ "x" : {text} , "y" : {text} }}"#),
        ] {
            assert!(scans(&["x"], &json), "{json}");
            let row = agrees(&["x"], json.as_bytes()).unwrap();
            assert_eq!(&row[0], want, "{json}");
            if let Value::Decimal(_) = want {
                assert_eq!(dec_parts(&row[0]), dec_parts(want), "{json}");
            }
        }
    }
    // Out of DECIMAL range: the scanner leaves the message to serde_json.
    let json = r#"{"x":1e400}"#;
    assert!(!scans(&["x"], json));
    assert!(matches!(
        agrees(&["x"], json.as_bytes()),
        Err(CodecError::Malformed { .. })
    ));
}

#[test]
fn control_characters_in_strings_are_malformed() {
    for c in ['\u{0}', '\u{1}', '\t', '\n', '\r', '\u{1f}'] {
        for names in [&["a"][..], &["b"][..]] {
            rejected(names, &format!(r#"{{"a":"x{c}y"}}"#));
            rejected(names, &format!(r#"{{"a{c}":1}}"#));
            rejected(names, &format!(r#"{{"a":{{"k":"{c}"}}}}"#));
            rejected(names, &format!(r#"{{"a":"{c}","b":1}}"#));
        }
    }
    // DEL and anything from 0x20 up are plain characters.
    let row = agrees(&["a"], "{\"a\":\"x\u{7f} é\u{10ffff}\"}".as_bytes()).unwrap();
    assert_eq!(row, vec![s("x\u{7f} é\u{10ffff}")]);
}

#[test]
fn escapes_in_keys_and_values() {
    let json = r#"{"q\"k":"\"\\\/\b\f\n\r\t","\u0075":"\u00e9\ud83d\ude00\u0041","plain":"a\\b"}"#;
    let row = agrees(&["q\"k", "u", "plain"], json.as_bytes()).unwrap();
    assert_eq!(row, vec![s("\"\\/\u{8}\u{c}\n\r\t"), s("é😀A"), s("a\\b")]);
    assert!(scans(&["q\"k", "u", "plain"], json));
    // An escaped key that is not wanted is skipped; a wanted escaped key still wins as the
    // last duplicate.
    let row = agrees(&["ab"], br#"{"a\u0062":1,"\u0061b":2,"x\n":3}"#).unwrap();
    assert_eq!(row, vec![Value::BigInt(2)]);
    for bad in [
        r#"{"a":"\x"}"#,
        r#"{"a":"\u12g4"}"#,
        r#"{"a":"\u12"}"#,
        r#"{"a":"\U0041"}"#,
        r#"{"a":"\"}"#,
        r#"{"a\q":1}"#,
        r#"{"a":"\'"}"#,
    ] {
        rejected(&["a"], bad);
        rejected(&["z"], bad);
    }
    // A lone surrogate is an error in a wanted string (it has no UTF-8 form); serde_json
    // skips it in an unwanted one, and so does the scanner.
    for lone in [r#"{"a":"\ud83d"}"#, r#"{"a":"\ude00x"}"#] {
        assert!(agrees(&["a"], lone.as_bytes()).is_err(), "{lone}");
        assert_eq!(agrees(&["z"], lone.as_bytes()).unwrap(), vec![Value::Null]);
    }
    assert!(agrees(&["x"], br#"{"\ud83dx":1}"#).is_err());
}

#[test]
fn nested_values_with_brackets_in_strings() {
    let text = r#"{"m":{"s":"}{][\"}","t":["]",{"u":"{"}]},"l":["}",[[]],{}],"a":1}"#;
    let row = agrees(&["m", "l", "a"], text.as_bytes()).unwrap();
    assert_eq!(
        row,
        vec![
            json(r#"{"s":"}{][\"}","t":["]",{"u":"{"}]}"#),
            json(r#"["}",[[]],{}]"#),
            Value::BigInt(1)
        ]
    );
    assert!(scans(&["m", "l", "a"], text));
    assert_eq!(
        agrees(&["a"], text.as_bytes()).unwrap(),
        vec![Value::BigInt(1)]
    );
    for bad in [
        r#"{"m":{"a":01}}"#,
        r#"{"m":[1,]}"#,
        r#"{"m":{"a" 1}}"#,
        r#"{"m":{"a":1}]}"#,
        r#"{"m":["x"}"#,
        r#"{"m":{"a":"\x"}}"#,
        r#"{"m":[1 2]}"#,
        r#"{"m":{1:2}}"#,
    ] {
        rejected(&["m"], bad);
        rejected(&["z"], bad);
    }
}

#[test]
fn whitespace_is_allowed_between_every_token() {
    let text = " \t\r\n{ \n\"a\"\t:\r \"x\" ,\n \"b\" : [ 1 , { \"c\" : 2 } ] , \"c\":true ,\"d\" :null,\"e\": -1.5e2 } \n\t ";
    let row = agrees(&["a", "b", "c", "d", "e"], text.as_bytes()).unwrap();
    assert_eq!(
        row,
        vec![
            s("x"),
            json(r#"[1,{"c":2}]"#),
            Value::Boolean(true),
            Value::Null,
            dec("-150")
        ]
    );
    assert!(scans(&["a", "b", "c", "d", "e"], text));
    assert_eq!(agrees(&["a"], b" { } ").unwrap(), vec![Value::Null]);
    // Only JSON whitespace: not a form feed or a vertical tab.
    rejected(&["a"], "{\u{c}\"a\":1}");
    rejected(&["a"], "{\"a\":1\u{b}}");
}

#[test]
fn malformed_structure_is_rejected() {
    for bad in [
        r#"{"a":1,}"#,
        r#"{,"a":1}"#,
        r#"{"a":1,,"b":2}"#,
        r#"{"a" 1}"#,
        r#"{"a"::1}"#,
        r#"{"a":1 "b":2}"#,
        r#"{a:1}"#,
        r#"{'a':1}"#,
        r#"{"a":1}}"#,
        r#"{"a":1}{}"#,
        r#"{"a":1} x"#,
        r#"{"a":tru}"#,
        r#"{"a":truex}"#,
        r#"{"a":nul}"#,
        r#"{"a":False}"#,
        r#"{"a":}"#,
        r#"{"a"}"#,
        r#"{"a":1]"#,
        r#"{"#,
        r#"{""#,
        r#"{"a"#,
        r#"{"a":"#,
        r#"{"a":"x"#,
        r#"{"a":"x\"#,
    ] {
        rejected(&["a"], bad);
        rejected(&["b"], bad);
    }
}

/// A record with every kind of value, escapes and whitespace.
const RICH: &str = r#"{"auction":1007, "price":-12.50e1,"channel":"ch\"an\u00e9l","url":"https://x.y/?a=1&b=}","n":null,"t":true,"f":false,"meta":{"a":[1,{"b":"]"}],"c":-0.5},"list":[ ],"big":123456789012345678901,"extra":"","z":0}"#;

const RICH_NAMES: [&str; 12] = [
    "auction", "price", "channel", "url", "n", "t", "f", "meta", "list", "big", "extra", "z",
];

#[test]
fn every_truncation_of_a_record_is_malformed() {
    assert!(scans(&RICH_NAMES, RICH));
    assert!(agrees(&RICH_NAMES, RICH.as_bytes()).is_ok());
    for names in [&RICH_NAMES[..], &["z"][..], &[][..]] {
        for end in 0..RICH.len() {
            let cut = &RICH.as_bytes()[..end];
            match agrees(names, cut) {
                Err(CodecError::Malformed { .. }) => {}
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(cut)),
            }
        }
    }
}

#[test]
fn single_byte_changes_agree_with_serde_json() {
    let bytes = RICH.as_bytes();
    let mut variants = Vec::new();
    for at in 0..bytes.len() {
        let mut removed = bytes.to_vec();
        removed.remove(at);
        variants.push(removed);
        for b in *br#"" \{}[],:0-.eE+1\x01a"# {
            let mut changed = bytes.to_vec();
            changed[at] = b;
            variants.push(changed.clone());
            changed.insert(at, b);
            variants.push(changed);
        }
    }
    for v in &variants {
        agrees(&RICH_NAMES, v).ok();
        agrees(&["z", "meta"], v).ok();
    }
}

#[test]
fn key_order_changes_and_missing_keys_between_records() {
    let names = ["a", "b", "cc", "dd", "a"];
    let mut decoder = JsonDecoder::new(&fields(&names));
    let mut row = Row::new();
    for json in [
        r#"{"a":1,"b":2,"cc":3,"dd":4}"#,
        r#"{"dd":"x","cc":"y","b":"z","a":"w"}"#,
        r#"{"x":0,"a":1,"y":0,"dd":2}"#,
        r#"{"b":[1],"cc":{"k":1}}"#,
        r#"{}"#,
        r#"{"a":1,"b":2,"cc":3,"dd":4,"ee":5,"ff":6}"#,
        r#"{"a":1,"b":2,"cc":3,"dd":04}"#,
        r#"{"cc":1,"a":2,"cc":3}"#,
        r#"{"ab":1,"cd":2,"c":3,"ddd":4,"A":5}"#,
    ] {
        let got = decoder
            .decode(json.as_bytes(), &mut row)
            .map(|()| row.clone());
        assert_eq!(got, reference(&names, json.as_bytes()), "{json}");
    }
}

#[test]
fn many_names_are_reset_too() {
    let names: Vec<String> = (0..70).map(|i| format!("f{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut decoder = JsonDecoder::new(&fields(&names));
    let mut row = Row::new();
    let all = format!(
        "{{{}}}",
        (0..70)
            .map(|i| format!("\"f{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    decoder.decode(all.as_bytes(), &mut row).unwrap();
    assert_eq!(row[69], Value::BigInt(69));
    decoder.decode(br#"{"f3":"x","f68":1}"#, &mut row).unwrap();
    for (i, v) in row.iter().enumerate() {
        let want = match i {
            3 => s("x"),
            68 => Value::BigInt(1),
            _ => Value::Null,
        };
        assert_eq!(v, &want, "f{i}");
    }
}

#[test]
fn key_comparison_checks_every_byte() {
    let alphabet = "abcdefghijklmnopqrstuvwxyz";
    for len in 0..=alphabet.len() {
        let name = &alphabet[..len];
        let index = FieldIndex::new(&[(0, name)]);
        assert_eq!(index.find(name.as_bytes()).map(|(i, _)| i), Some(0));
        for at in 0..len {
            let mut key = name.as_bytes().to_vec();
            key[at] = b'_';
            assert_eq!(index.find(&key), None, "{name} vs {key:?}");
        }
        let longer = format!("{name}_");
        assert_eq!(index.find(longer.as_bytes()), None);
    }
    let row = agrees(&["", "a"], br#"{"":1,"a":2}"#).unwrap();
    assert_eq!(row, vec![Value::BigInt(1), Value::BigInt(2)]);
}

#[test]
fn deeply_nested_values_agree_with_serde_json() {
    for depth in [1, 126, 127, 128, 300] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let json = format!(r#"{{"d":{deep},"a":1}}"#);
        assert_eq!(
            agrees(&["d", "a"], json.as_bytes()).unwrap(),
            vec![Value::Json(Arc::from(deep.as_str())), Value::BigInt(1)]
        );
        assert_eq!(
            agrees(&["a"], json.as_bytes()).unwrap(),
            vec![Value::BigInt(1)]
        );
        let open = format!(r#"{{"d":{}}}"#, "[".repeat(depth));
        rejected(&["d"], &open);
        rejected(&["a"], &open);
    }
}

/// Copying value text (zero-copy pass-through) must write exactly what decoding and encoding
/// the value writes, for every kind of value, and decode the same errors.
#[test]
fn copying_field_text_writes_exactly_what_encoding_the_value_writes() {
    let fields: Vec<InputField> = ["a", "b", "c"]
        .iter()
        .map(|n| InputField {
            name: (*n).to_string(),
            system: None,
        })
        .collect();
    let names: Vec<String> = ["a", "b", "c", "a2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut plain = JsonDecoder::new(&fields);
    let mut copying = JsonDecoder::new(&fields);
    // `b` is also read by something other than a copy, so its value is still built.
    copying.copy_fields(&[true, true, true], &[true, false, true]);
    let mut plain_out = JsonEncoder::new(&names);
    let mut copying_out = JsonEncoder::new(&names);
    copying_out.copy_columns([(0, 0), (1, 1), (2, 2), (3, 0)]);
    let values = [
        r#""plain""#,
        r#""esc\"aped\n""#,
        r#""\u00e9t\u00e9""#,
        r#""""#,
        "0",
        "-0",
        "-7",
        "123456789012345678",
        "1234567890123456789",
        "9223372036854775807",
        "-9223372036854775808",
        "12.50",
        "-0.5",
        "-0.0",
        "0.000",
        "1e3",
        "-1.5E-2",
        "12345678901234567890123456789012345678",
        "0.1234567890123456789012345678901234567",
        "1234567890123456789012345678901234567.8",
        "true",
        "false",
        "null",
        r#"{"x":1,"y":[1,2.50]}"#,
        r#"{ "x" : 1 }"#,
        r#"[1, "a b"]"#,
        "[]",
    ];
    let mut records: Vec<String> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let w = values[(i + 7) % values.len()];
        records.push(format!(r#"{{"a":{v},"b":{w},"c":{v}}}"#));
        records.push(format!(r#"{{"c":{w}, "a" : {v}}}"#));
        records.push(format!(r#"{{"a":{v},"a":{w},"z":{v}}}"#));
    }
    records.push(r#"{"a":"x","b":1e400,"c":2}"#.into());
    records.push(r#"{"a":"x","b":01}"#.into());
    records.push(r#"{"a":"unterminated}"#.into());
    records.push("{}".into());
    records.push(r#"{"a":"x\"y","b":"q","c":[1,{"k":"v"}]}"#.into());
    let (mut row_a, mut row_b) = (Row::new(), Row::new());
    let mut copied = 0;
    for record in &records {
        let bytes = record.as_bytes();
        let a = plain.decode(bytes, &mut row_a);
        let b = copying.decode(bytes, &mut row_b);
        assert_eq!(a, b, "decode result of {record}");
        if a.is_err() {
            continue;
        }
        if copying.spans().iter().any(|s| !s.is_none()) {
            copied += 1;
        }
        // The copied-only `a` and `c` may hold stale values; `b` must be exact.
        assert_eq!(row_a[1], row_b[1], "the value of b in {record}");
        let projected = |row: &Row| {
            vec![
                row[0].clone(),
                row[1].clone(),
                row[2].clone(),
                row[0].clone(),
            ]
        };
        let (mut want, mut got) = (Vec::new(), Vec::new());
        plain_out.encode(&projected(&row_a), &mut want).unwrap();
        // The copied columns are not computed by the projection: they come from the input.
        let skipped = vec![Value::Null, row_b[1].clone(), Value::Null, Value::Null];
        copying_out
            .encode_copying(&skipped, &row_b, bytes, copying.spans(), &mut got)
            .unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap(),
            "output of {record}"
        );
    }
    // Most records had some text to copy (the test is about the copies).
    assert!(copied > records.len() / 2, "{copied} of {}", records.len());
}
