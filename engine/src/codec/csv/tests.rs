use super::*;

use crate::sql::planner::SystemColumn;

/// One record as `(line, fields, quoted-empty flags)`.
type Read3 = (u64, Vec<String>, Vec<bool>);

/// The header and every record of `text`.
fn read_all(text: &[u8]) -> (Vec<String>, Vec<Read3>) {
    let mut reader = CsvReader::new(text).unwrap();
    let header = reader.header().to_vec();
    let mut records = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        let fields = (0..r.len())
            .map(|i| String::from_utf8(r.get(i).unwrap().to_vec()).unwrap())
            .collect();
        let quoted = (0..r.len()).map(|i| r.is_quoted_empty(i)).collect();
        records.push((r.line(), fields, quoted));
    }
    (header, records)
}

fn payload(names: &[&str]) -> Vec<InputField> {
    names
        .iter()
        .map(|n| InputField {
            name: n.to_string(),
            system: None,
        })
        .collect()
}

/// Every record of `text` decoded into the header's columns: `(line, row or error text)`.
fn decode_all(text: &str, schema: Option<&str>) -> Vec<(u64, Result<Row, String>)> {
    let schema = schema.map(|s| CsvSchema::parse(s).unwrap());
    let mut reader = CsvReader::new(text.as_bytes()).unwrap();
    let header = reader.header().to_vec();
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut decoder = CsvDecoder::new(&header, &payload(&names), schema.as_ref()).unwrap();
    let mut out = Vec::new();
    while let Some(record) = reader.next_record().unwrap() {
        let mut row = Row::new();
        let result = decoder
            .decode(record, &mut row)
            .map(|()| row)
            .map_err(|e| e.to_string());
        out.push((record.line(), result));
    }
    out
}

/// The one value of a one-column CSV whose only record is `field`.
fn one(field: &str) -> Result<Value, String> {
    let text = format!("v\n{field}\n");
    let mut rows = decode_all(&text, None);
    assert_eq!(rows.len(), 1, "{text:?}");
    rows.remove(0).1.map(|mut row| row.remove(0))
}

fn typed(field: &str, ty: &str) -> Result<Value, String> {
    let text = format!("v\n{field}\n");
    let schema = format!("v {ty}");
    let mut rows = decode_all(&text, Some(&schema));
    assert_eq!(rows.len(), 1, "{text:?}");
    rows.remove(0).1.map(|mut row| row.remove(0))
}

fn dec(text: &str) -> Value {
    Value::Decimal(text.parse().unwrap())
}

fn s(text: &str) -> Value {
    Value::string(text)
}

#[test]
fn quoted_fields_hold_commas_quotes_and_line_breaks() {
    let text = b"a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\nplain,,\"\"\r\n";
    let (header, records) = read_all(text);
    assert_eq!(header, ["a", "b", "c"]);
    assert_eq!(
        records,
        vec![
            (
                2,
                vec!["x, y".into(), "say \"hi\"".into(), "two\r\nlines".into()],
                vec![false, false, false]
            ),
            (
                4,
                vec!["plain".into(), "".into(), "".into()],
                vec![false, false, true]
            ),
        ]
    );
}

#[test]
fn line_numbers_are_where_records_start() {
    // Header on line 1; a blank line; a record whose quoted field spans lines 3 to 5; a CRLF
    // record; blank CRLF lines; a last record without a line break.
    let text = b"id,note\n\n1,\"one\ntwo\nthree\"\n2,x\r\n\r\n\r\n3,\"\"\n4,y";
    let (_, records) = read_all(text);
    let lines: Vec<(u64, &str)> = records
        .iter()
        .map(|(line, f, _)| (*line, f[0].as_str()))
        .collect();
    assert_eq!(lines, vec![(3, "1"), (6, "2"), (9, "3"), (10, "4")]);
    assert_eq!(records[2].2, vec![false, true]);
}

#[test]
fn the_header_drops_a_byte_order_mark_and_refuses_duplicates() {
    let (header, records) = read_all(b"\xEF\xBB\xBFsymbol,price\nA,1\n");
    assert_eq!(header, ["symbol", "price"]);
    assert_eq!(records.len(), 1);

    let err = CsvReader::new(&b"a,b,a\n1,2,3\n"[..]).unwrap_err();
    assert_eq!(err.to_string(), "the header names column 'a' twice");
    let err = CsvReader::new(&b"a,\xFF\n"[..]).unwrap_err();
    assert_eq!(err.to_string(), "column 2 of the header is not valid UTF-8");

    let (header, records) = read_all(b"");
    assert!(header.is_empty() && records.is_empty());
    let (header, records) = read_all(b"a,b\n");
    assert_eq!((header, records), (vec!["a".into(), "b".into()], vec![]));
}

#[test]
fn quoted_empty_fields_are_found_in_any_position() {
    let mut flags = Vec::new();
    mark_quoted_empty(b"\"\",,\"a,\"\"\",\"\"\r\n", &mut flags);
    assert_eq!(flags, vec![true, false, false, true]);
    flags.clear();
    mark_quoted_empty(b"\"\"", &mut flags);
    assert_eq!(flags, vec![true]);
}

#[test]
fn an_empty_field_is_null_and_a_quoted_empty_field_is_the_empty_string() {
    let rows = decode_all("a,b,c\n,\"\",x\n\"\",,\n", None);
    assert_eq!(
        rows,
        vec![
            (2, Ok(vec![Value::Null, s(""), s("x")])),
            (3, Ok(vec![s(""), Value::Null, Value::Null])),
        ]
    );
    // Declared types: an empty field is still NULL; only STRING takes "".
    let rows = decode_all("a,b\n,\"\"\n", Some("a BIGINT, b STRING"));
    assert_eq!(rows, vec![(2, Ok(vec![Value::Null, s("")]))]);
    assert_eq!(
        typed("\"\"", "BIGINT"),
        Err("malformed CSV: column 'v': cannot cast '' to BIGINT".into())
    );
}

#[test]
fn values_are_inferred_one_by_one() {
    assert_eq!(one("true"), Ok(Value::Boolean(true)));
    assert_eq!(one("false"), Ok(Value::Boolean(false)));
    assert_eq!(one("TRUE"), Ok(s("TRUE")));
    assert_eq!(one("42"), Ok(Value::BigInt(42)));
    assert_eq!(one("-0"), Ok(Value::BigInt(0)));
    assert_eq!(one("\"42\""), Ok(Value::BigInt(42)));
    assert_eq!(one("-9223372036854775808"), Ok(Value::BigInt(i64::MIN)));
    assert_eq!(one("9223372036854775808"), Ok(dec("9223372036854775808")));
    assert_eq!(one("12.50"), Ok(dec("12.50")));
    assert_eq!(one("AAPL"), Ok(s("AAPL")));
    // Not JSON numbers: kept as written.
    for text in [
        "+1", ".5", "5.", "007", "1,000", " 42", "NaN", "inf", "1e", "0x1F", "-",
    ] {
        let field = if text.contains(',') {
            format!("\"{text}\"")
        } else {
            text.to_string()
        };
        assert_eq!(one(&field), Ok(s(text)), "{text}");
    }
}

#[test]
fn decimals_at_the_edges_are_exact() {
    let edge = |text: &str| match one(text) {
        Ok(Value::Decimal(d)) => (d.mantissa(), d.scale(), d.to_string()),
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(edge("-0.5"), (-5, 1, "-0.5".into()));
    assert_eq!(
        edge("0.000000000000000001"),
        (1, 18, "0.000000000000000001".into())
    );
    let max = "99999999999999999999999999999999999999";
    assert_eq!(edge(max), (10i128.pow(38) - 1, 0, max.into()));
    let fraction = "-1234567890123456789.0123456789012345678";
    assert_eq!(
        edge(fraction),
        (-12345678901234567890123456789012345678, 19, fraction.into())
    );
    assert_eq!(edge("1e3"), (1000, 0, "1000".into()));
    assert_eq!(edge("1.5e-3"), (15, 4, "0.0015".into()));
    assert_eq!(edge("2.50E+2"), (250, 0, "250".into()));
}

#[test]
fn a_number_no_decimal_holds_is_a_record_error() {
    assert_eq!(
        one("123456789012345678901234567890123456789"),
        Err(
            "malformed CSV: column 'v': number 123456789012345678901234567890123456789 \
             cannot be represented exactly (decimal overflow)"
                .into()
        )
    );
    assert_eq!(
        one("1e39"),
        Err(
            "malformed CSV: column 'v': number 1e39 cannot be represented exactly \
             (decimal overflow)"
                .into()
        )
    );
}

#[test]
fn records_of_the_wrong_width_are_errors_and_reading_goes_on() {
    let rows = decode_all("a,b\n1,2\n3\n4,5,6\n7,8\n", None);
    assert_eq!(
        rows,
        vec![
            (2, Ok(vec![Value::BigInt(1), Value::BigInt(2)])),
            (
                3,
                Err("malformed CSV: expected 2 fields as in the header, found 1".into())
            ),
            (
                4,
                Err("malformed CSV: expected 2 fields as in the header, found 3".into())
            ),
            (5, Ok(vec![Value::BigInt(7), Value::BigInt(8)])),
        ]
    );
}

#[test]
fn invalid_utf8_in_a_used_field_is_a_record_error() {
    let text = b"a,b\nok,\xC3\x28\n";
    let mut reader = CsvReader::new(&text[..]).unwrap();
    let header = reader.header().to_vec();
    let mut decoder = CsvDecoder::new(&header, &payload(&["b"]), None).unwrap();
    let record = reader.next_record().unwrap().unwrap();
    let err = decoder.decode(record, &mut Row::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed CSV: column 'b' is not valid UTF-8 (byte 1)"
    );
    // A field the query does not use is not looked at.
    let mut decoder = CsvDecoder::new(&header, &payload(&["a"]), None).unwrap();
    let mut row = Row::new();
    decoder.decode(record, &mut row).unwrap();
    assert_eq!(row, vec![s("ok")]);
}

#[test]
fn the_decoder_fills_payload_slots_by_name_and_leaves_system_slots() {
    let text = "price,symbol,extra\n1.5,AAPL,zzz\n";
    let mut reader = CsvReader::new(text.as_bytes()).unwrap();
    let header = reader.header().to_vec();
    let fields = vec![
        InputField {
            name: "symbol".into(),
            system: None,
        },
        InputField {
            name: "_offset".into(),
            system: Some(SystemColumn::Offset),
        },
        InputField {
            name: "price".into(),
            system: None,
        },
    ];
    let mut decoder = CsvDecoder::new(&header, &fields, None).unwrap();
    let record = reader.next_record().unwrap().unwrap();
    let mut row = vec![s("stale"), Value::BigInt(7), s("stale"), s("gone")];
    decoder.decode(record, &mut row).unwrap();
    assert_eq!(row, vec![s("AAPL"), Value::BigInt(7), dec("1.5")]);

    let err = CsvDecoder::new(&header, &payload(&["qty"]), None).unwrap_err();
    assert_eq!(
        err,
        "column 'qty' is not in the CSV header (columns: price, symbol, extra)"
    );
}

#[test]
fn schemas_parse_with_the_sql_type_names() {
    let schema = CsvSchema::parse(
        "symbol STRING, price DECIMAL(18,2), qty BIGINT, ts TIMESTAMP, ok BOOLEAN, x DOUBLE, \
         \"unit \"\"price\"\"\" NUMERIC(10, 4), n INTEGER, t VARCHAR, d DECIMAL",
    )
    .unwrap();
    assert_eq!(
        schema.to_string(),
        "symbol STRING, price DECIMAL(18,2), qty BIGINT, ts TIMESTAMP, ok BOOLEAN, x DOUBLE, \
         unit \"price\" DECIMAL(10,4), n BIGINT, t STRING, d DECIMAL"
    );
    assert_eq!(
        schema.type_of("price"),
        Some(CastTarget::Decimal {
            precision_scale: Some((18, 2))
        })
    );
    assert_eq!(
        schema.type_of("unit \"price\""),
        Some(CastTarget::Decimal {
            precision_scale: Some((10, 4))
        })
    );
    assert_eq!(schema.type_of("PRICE"), None);
}

#[test]
fn bad_schemas_name_the_column_and_the_problem() {
    let err = |text: &str| CsvSchema::parse(text).unwrap_err();
    assert_eq!(
        err("a BIGINT, b FOO"),
        "column 'b': 'FOO' is not a type (write STRING, BIGINT, DOUBLE, DECIMAL(p,s), BOOLEAN \
         or TIMESTAMP)"
    );
    assert_eq!(
        err("p DECIMAL(40,2)"),
        "column 'p': DECIMAL precision/scale 40 out of range 1..38"
    );
    assert_eq!(
        err("p DECIMAL(4,6)"),
        "column 'p': DECIMAL(4,6): scale larger than precision"
    );
    assert_eq!(
        err("a BIGINT) AS x, CAST(c AS BIGINT"),
        "column 'a': 'BIGINT) AS x' is not a type (write STRING, BIGINT, DOUBLE, DECIMAL(p,s), \
         BOOLEAN or TIMESTAMP)"
    );
    assert_eq!(
        err("a BIGINT) + (1"),
        "column 'a': 'BIGINT) + (1' is not a type (write STRING, BIGINT, DOUBLE, DECIMAL(p,s), \
         BOOLEAN or TIMESTAMP)"
    );
    assert_eq!(
        err("a BIGINT; DROP"),
        "column 'a': 'BIGINT; DROP' is not a type (write STRING, BIGINT, DOUBLE, DECIMAL(p,s), \
         BOOLEAN or TIMESTAMP)"
    );
    assert_eq!(err("a BIGINT, a STRING"), "column 'a' is declared twice");
    assert_eq!(
        err("a BIGINT, b"),
        "column 'b' has no type (write 'b TYPE')"
    );
    assert_eq!(
        err("a BIGINT,"),
        "column definition 2 of the schema is empty (write 'name TYPE, ...')"
    );
    assert_eq!(
        err(""),
        "column definition 1 of the schema is empty (write 'name TYPE, ...')"
    );
    assert_eq!(
        err("1a BIGINT"),
        "'1a' is not a column name (quote it: \"1a\")"
    );
    assert_eq!(
        err("\"open BIGINT"),
        "unterminated quoted column name in '\"open BIGINT'"
    );
}

#[test]
fn the_header_must_name_exactly_the_declared_columns() {
    let schema = CsvSchema::parse("symbol STRING, price DECIMAL(18,2), qty BIGINT").unwrap();
    let header = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(
        schema.check_header(&header(&["qty", "symbol", "price"])),
        Ok(())
    );
    assert_eq!(
        schema.check_header(&header(&["symbol", "Price", "quantity", "qty"])),
        Err(
            "the header does not match the schema (declared but not in the header: price; \
             in the header but not declared: Price, quantity)"
                .into()
        )
    );
    assert_eq!(
        schema.check_header(&header(&["symbol", "price"])),
        Err("the header does not match the schema (declared but not in the header: qty)".into())
    );
}

#[test]
fn declared_decimals_must_fit_exactly() {
    let ty = "DECIMAL(18,2)";
    assert_eq!(typed("12.5", ty), Ok(dec("12.50")));
    assert_eq!(
        typed("12.5", ty).map(|v| v.to_string()),
        Ok("12.50".to_string())
    );
    assert_eq!(typed("1.230", ty), Ok(dec("1.23")));
    assert_eq!(typed("-0.5", ty), Ok(dec("-0.50")));
    assert_eq!(typed("1e2", ty), Ok(dec("100.00")));
    assert_eq!(
        typed("9999999999999999.99", ty),
        Ok(dec("9999999999999999.99"))
    );
    assert_eq!(
        typed("1.234", ty),
        Err(
            "malformed CSV: column 'v': 1.234 has more than 2 digits after the point for \
             DECIMAL(18,2)"
                .into()
        )
    );
    assert_eq!(
        typed("10000000000000000", ty),
        Err("malformed CSV: column 'v': value 10000000000000000 does not fit DECIMAL(18,2)".into())
    );
    assert_eq!(
        typed("\"12,5\"", ty),
        Err("malformed CSV: column 'v': cannot cast '12,5' to DECIMAL(18,2)".into())
    );
}

#[test]
fn declared_types_convert_like_cast_and_fail_with_the_column_and_value() {
    assert_eq!(typed("42", "BIGINT"), Ok(Value::BigInt(42)));
    assert_eq!(typed("007", "BIGINT"), Ok(Value::BigInt(7)));
    assert_eq!(typed("007", "STRING"), Ok(s("007")));
    assert_eq!(typed(" padded ", "STRING"), Ok(s(" padded ")));
    assert_eq!(typed("12.50", "DECIMAL"), Ok(dec("12.50")));
    assert_eq!(typed("0.25", "DOUBLE"), Ok(Value::Double(0.25)));
    assert_eq!(typed("yes", "BOOLEAN"), Ok(Value::Boolean(true)));
    assert_eq!(typed("false", "BOOLEAN"), Ok(Value::Boolean(false)));
    assert_eq!(
        typed("2026-01-01T00:00:00Z", "TIMESTAMP"),
        Ok(Value::Timestamp(1_767_225_600_000))
    );
    assert_eq!(
        typed("2026-01-01", "TIMESTAMP"),
        Ok(Value::Timestamp(1_767_225_600_000))
    );
    assert_eq!(
        typed("1767225600000", "TIMESTAMP"),
        Ok(Value::Timestamp(1_767_225_600_000))
    );
    let err = |field: &str, ty: &str| typed(field, ty).unwrap_err();
    assert_eq!(
        err("1.5", "BIGINT"),
        "malformed CSV: column 'v': cannot cast '1.5' to BIGINT"
    );
    assert_eq!(
        err("99999999999999999999", "BIGINT"),
        "malformed CSV: column 'v': cannot cast '99999999999999999999' to BIGINT"
    );
    assert_eq!(
        err("abc", "DECIMAL(18,2)"),
        "malformed CSV: column 'v': cannot cast 'abc' to DECIMAL(18,2)"
    );
    assert_eq!(
        err("maybe", "BOOLEAN"),
        "malformed CSV: column 'v': cannot cast 'maybe' to BOOLEAN"
    );
    assert_eq!(
        err("2026-13-01", "TIMESTAMP"),
        "malformed CSV: column 'v': cannot cast '2026-13-01' to TIMESTAMP"
    );
    assert_eq!(
        err("99999999999999999999", "TIMESTAMP"),
        "malformed CSV: column 'v': cannot cast '99999999999999999999' to TIMESTAMP"
    );
    assert_eq!(
        err("1e999", "DOUBLE"),
        "malformed CSV: column 'v': cannot cast '1e999' to DOUBLE"
    );
}

#[test]
fn declared_type_errors_carry_their_line() {
    let rows = decode_all(
        "symbol,qty\nA,1\n\"B\nB\",x\nC,3\n",
        Some("symbol STRING, qty BIGINT"),
    );
    assert_eq!(
        rows,
        vec![
            (2, Ok(vec![s("A"), Value::BigInt(1)])),
            (
                3,
                Err("malformed CSV: column 'qty': cannot cast 'x' to BIGINT".into())
            ),
            (5, Ok(vec![s("C"), Value::BigInt(3)])),
        ]
    );
}

fn encode_rows(names: &[&str], rows: &[Row]) -> Result<String, CodecError> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut encoder = CsvEncoder::new(&names);
    let mut out = Vec::new();
    encoder.write_header(&mut out);
    for row in rows {
        encoder.encode(row, &mut out)?;
        out.push(b'\n');
    }
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn the_encoder_quotes_only_when_needed() {
    let text = encode_rows(
        &["s", "n", "d", "b", "t", "j", "x"],
        &[
            vec![
                s("plain"),
                Value::BigInt(-42),
                dec("18725.00"),
                Value::Boolean(true),
                Value::Timestamp(1_767_225_600_000),
                Value::Json(Arc::from(r#"{"a":[1,2]}"#)),
                Value::Double(0.1),
            ],
            vec![
                s("a,b \"q\"\nz"),
                Value::Null,
                dec("-0.5"),
                Value::Boolean(false),
                Value::Null,
                Value::Json(Arc::from("[]")),
                Value::Double(1e300),
            ],
            vec![s("")],
        ],
    )
    .unwrap();
    assert_eq!(
        text,
        "s,n,d,b,t,j,x\n\
         plain,-42,18725.00,true,2026-01-01T00:00:00.000Z,\"{\"\"a\"\":[1,2]}\",0.1\n\
         \"a,b \"\"q\"\"\nz\",,-0.5,false,,\"[]\",1e300\n\
         \"\",,,,,,\n"
    );
}

#[test]
fn the_header_is_written_once_and_quoted_like_strings() {
    let names = vec!["a b".to_string(), "x,y".to_string(), String::new()];
    let mut encoder = CsvEncoder::new(&names);
    let mut out = Vec::new();
    encoder.encode(&[Value::BigInt(1)], &mut out).unwrap();
    out.push(b'\n');
    encoder.write_header(&mut out);
    encoder.encode(&[Value::BigInt(2)], &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "a b,\"x,y\",\"\"\n1,,\n2,,"
    );
}

#[test]
fn a_double_that_is_not_finite_is_not_encoded() {
    let names = vec!["a".to_string(), "b".to_string()];
    let mut encoder = CsvEncoder::new(&names);
    let mut out = Vec::new();
    encoder.write_header(&mut out);
    let err = encoder
        .encode(&[Value::BigInt(1), Value::Double(f64::NAN)], &mut out)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot encode DOUBLE NaN as CSV (only finite numbers are written)"
    );
    assert_eq!(out, b"a,b\n", "nothing of the failed row is written");
}

#[test]
fn csv_round_trips_through_the_codec_exactly() {
    let text = "symbol,price,qty,note,flag\n\
                AAPL,187.25,100,\"hello, world\",true\n\
                \"MS\"\"FT\",-0.50,,\"\",false\n\
                X,1e3,-7,\"two\nlines\",\n";
    let mut reader = CsvReader::new(text.as_bytes()).unwrap();
    let header = reader.header().to_vec();
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut decoder = CsvDecoder::new(&header, &payload(&names), None).unwrap();
    let mut encoder = CsvEncoder::new(&header);
    let mut out = Vec::new();
    encoder.write_header(&mut out);
    let mut row = Row::new();
    while let Some(record) = reader.next_record().unwrap() {
        decoder.decode(record, &mut row).unwrap();
        encoder.encode(&row, &mut out).unwrap();
        out.push(b'\n');
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "symbol,price,qty,note,flag\n\
         AAPL,187.25,100,\"hello, world\",true\n\
         \"MS\"\"FT\",-0.50,,\"\",false\n\
         X,1000,-7,\"two\nlines\",\n"
    );
}

#[test]
fn a_large_input_keeps_its_line_numbers_across_buffer_refills() {
    // Well past the tap's 1 MiB release step and the reader's 256 KiB buffer.
    let mut text = String::from("i,s\n");
    for i in 0..100_000 {
        if i % 1000 == 0 {
            text.push_str(&format!("{i},\"multi\nline\"\n"));
        } else {
            text.push_str(&format!("{i},\"\"\n"));
        }
    }
    let mut reader = CsvReader::new(text.as_bytes()).unwrap();
    let mut line = 2;
    let mut n = 0;
    while let Some(r) = reader.next_record().unwrap() {
        assert_eq!(r.line(), line, "record {n}");
        let multi = n % 1000 == 0;
        assert_eq!(r.is_quoted_empty(1), !multi, "record {n}");
        line += if multi { 2 } else { 1 };
        n += 1;
    }
    assert_eq!(n, 100_000);
}

#[test]
fn a_reader_error_is_an_io_error() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let err = CsvReader::new(Failing).unwrap_err();
    assert_eq!(err.to_string(), "disk on fire");
}
