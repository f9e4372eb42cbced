use super::*;

const TRADES: &str = r#"{"symbol":"AAPL","price":187.25,"quantity":100,"side":"BUY"}
{"symbol":"MSFT","price":415.50,"quantity":5,"side":"SELL"}

{"symbol":"NVDA","price":875.40,"quantity":20,"side":"BUY"}
"#;

fn run(sql: &str, inputs: &[(&str, &str)]) -> QueryOutcome {
    run_query_on_lines(sql, inputs, &QueryOptions::default()).unwrap()
}

#[test]
fn filters_and_projects_in_input_order() {
    let outcome = run(
        "SELECT symbol, price * quantity AS notional FROM trades WHERE quantity >= 20",
        &[("trades", TRADES)],
    );
    assert_eq!(
        outcome.output,
        vec![
            r#"{"symbol":"AAPL","notional":18725.00}"#,
            r#"{"symbol":"NVDA","notional":17508.00}"#
        ]
    );
    assert!(outcome.issues.is_empty());
    let stats = outcome.stats;
    assert_eq!(
        (stats.records_in, stats.records_out, stats.skipped()),
        (3, 2, 0)
    );
}

#[test]
fn a_create_stream_statement_runs_too() {
    let outcome = run(
        "CREATE STREAM small AS SELECT symbol FROM trades WHERE quantity < 20;",
        &[("trades", TRADES)],
    );
    assert_eq!(outcome.output, vec![r#"{"symbol":"MSFT"}"#]);
}

#[test]
fn stream_names_match_case_insensitively_and_other_inputs_are_ignored() {
    let outcome = run(
        "SELECT symbol FROM Trades WHERE side = 'SELL'",
        &[("other", "not even json\n"), ("TRADES", TRADES)],
    );
    assert_eq!(outcome.output, vec![r#"{"symbol":"MSFT"}"#]);
    assert!(outcome.issues.is_empty());
}

#[test]
fn system_columns_come_from_the_connector() {
    let outcome = run(
        "SELECT _offset, _partition, _topic, symbol FROM trades",
        &[("trades", TRADES)],
    );
    assert_eq!(
        outcome.output,
        vec![
            r#"{"_offset":1,"_partition":0,"_topic":"trades","symbol":"AAPL"}"#,
            r#"{"_offset":2,"_partition":0,"_topic":"trades","symbol":"MSFT"}"#,
            r#"{"_offset":4,"_partition":0,"_topic":"trades","symbol":"NVDA"}"#,
        ]
    );
}

#[test]
fn malformed_records_are_reported_with_their_line_and_skipped() {
    let input = "{\"a\":1}\n{\"a\":\n\n[1,2]\n{\"a\":2}\n";
    let outcome = run("SELECT a FROM t", &[("t", input)]);
    assert_eq!(outcome.output, vec![r#"{"a":1}"#, r#"{"a":2}"#]);
    let lines: Vec<u64> = outcome.issues.iter().map(|i| i.line).collect();
    assert_eq!(lines, vec![2, 4]);
    assert!(
        outcome.issues[0].message.starts_with("malformed JSON: "),
        "{:?}",
        outcome.issues
    );
    assert!(
        outcome.issues[1].message.starts_with("not a record: "),
        "{:?}",
        outcome.issues
    );
    assert_eq!(
        outcome.issues[0].to_string(),
        format!("t:2: {}", outcome.issues[0].message)
    );
    let stats = outcome.stats;
    assert_eq!(
        (
            stats.records_in,
            stats.records_out,
            stats.malformed,
            stats.eval_errors
        ),
        (4, 2, 2, 0)
    );
}

#[test]
fn evaluation_errors_are_reported_with_their_line_and_skipped() {
    let input = "{\"price\":1.5}\n{\"price\":\"abc\"}\n{\"price\":2}\n";
    for batch_size in [1, 2, 1024] {
        let opts = QueryOptions {
            strict: false,
            batch_size,
            ..QueryOptions::default()
        };
        let outcome =
            run_query_on_lines("SELECT price * 2 AS p FROM t", &[("t", input)], &opts).unwrap();
        assert_eq!(
            outcome.output,
            vec![r#"{"p":3.0}"#, r#"{"p":4}"#],
            "batch size {batch_size}"
        );
        assert_eq!(outcome.issues.len(), 1);
        assert_eq!(
            (outcome.issues[0].stream.as_str(), outcome.issues[0].line),
            ("t", 2)
        );
        assert_eq!((outcome.stats.eval_errors, outcome.stats.malformed), (1, 0));
    }
}

#[test]
fn strict_stops_at_the_first_bad_record() {
    let opts = QueryOptions {
        strict: true,
        ..QueryOptions::default()
    };
    let err = run_query_on_lines("SELECT a FROM t", &[("t", "{\"a\":1}\n\n{oops}\n")], &opts)
        .unwrap_err();
    match err {
        FerrisError::Record {
            stream,
            line,
            message,
        } => {
            assert_eq!((stream.as_str(), line), ("t", 3));
            assert!(message.starts_with("malformed JSON"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_empty_input_has_open_columns_and_no_output() {
    let outcome = run("SELECT anything FROM t", &[("t", "")]);
    assert!(outcome.output.is_empty());
    assert_eq!(
        outcome.stats,
        QueryStats {
            elapsed: outcome.stats.elapsed,
            ..QueryStats::default()
        }
    );
}

#[test]
fn sql_errors_are_sql_errors() {
    for sql in [
        "SELECT nope FROM trades",
        "SELECT FROM WHERE",
        "SELECT symbol FROM elsewhere",
    ] {
        let err =
            run_query_on_lines(sql, &[("trades", TRADES)], &QueryOptions::default()).unwrap_err();
        assert!(err.is_sql_error(), "{sql}: {err:?}");
    }
}

#[test]
fn exactly_one_statement_is_run() {
    let err = run_query_on_lines(
        "SELECT a FROM t; SELECT b FROM t",
        &[("t", "{\"a\":1,\"b\":2}")],
        &QueryOptions::default(),
    )
    .unwrap_err();
    assert!(err.is_sql_error());
    assert!(err.to_string().contains("one statement, got 2"), "{err}");
}

#[test]
fn columns_are_learnt_from_the_first_records_and_the_rest_still_flows() {
    let mut input = String::new();
    for i in 1..=2500 {
        input.push_str(&format!("{{\"i\":{i}}}\n"));
    }
    let outcome = run(
        "SELECT _offset, i FROM t WHERE i % 1000 = 0",
        &[("t", &input)],
    );
    assert_eq!(
        outcome.output,
        vec![
            r#"{"_offset":1000,"i":1000}"#,
            r#"{"_offset":2000,"i":2000}"#
        ]
    );
    assert_eq!(outcome.stats.records_in, 2500);
}

#[test]
fn the_file_form_writes_lines_and_reports_issues() {
    let path = std::env::temp_dir().join(format!("ferris-job-test-{}.jsonl", std::process::id()));
    std::fs::write(&path, "{\"a\":1}\nbad\n{\"a\":2}\n").unwrap();
    let inputs = [InputSpec::new("t", path.clone())];
    let (mut output, mut report) = (Vec::new(), Vec::new());
    let stats = run_query(
        "SELECT a FROM t",
        &inputs,
        &mut output,
        &mut report,
        &QueryOptions::default(),
    )
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(String::from_utf8(output).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
    let report = String::from_utf8(report).unwrap();
    assert!(report.starts_with("t:2: malformed JSON: "), "{report}");
    assert_eq!(report.lines().count(), 1);
    assert_eq!(
        (stats.records_in, stats.records_out, stats.malformed),
        (3, 2, 1)
    );
}

#[test]
fn a_missing_input_file_is_an_io_error() {
    let inputs = [InputSpec::new("t", "/nonexistent/t.jsonl")];
    let err = run_query(
        "SELECT a FROM t",
        &inputs,
        &mut Vec::new(),
        &mut Vec::new(),
        &QueryOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, FerrisError::Io { .. }), "{err:?}");
}

#[test]
fn input_specs_parse() {
    let spec = |s: &str| InputSpec::parse(s).unwrap();
    let json = |name: &str, path: &str| InputSpec {
        name: name.into(),
        path: path.into(),
        format: Format::Json,
        schema: None,
    };
    assert_eq!(spec("trades=data/x.jsonl"), json("trades", "data/x.jsonl"));
    assert_eq!(
        spec("data/trades.jsonl"),
        json("trades", "data/trades.jsonl")
    );
    assert_eq!(spec("-"), json("stdin", "-"));
    assert_eq!(spec("t=-"), json("t", "-"));
    assert_eq!(spec("./a=b.jsonl"), json("a=b", "./a=b.jsonl"));
    assert_eq!(spec("data/t.txt"), json("t", "data/t.txt"));
    assert_eq!(
        spec("data/trades.CSV"),
        InputSpec {
            name: "trades".into(),
            path: "data/trades.CSV".into(),
            format: Format::Csv,
            schema: None,
        }
    );
    assert_eq!(spec("t=x.csv").format, Format::Csv);
    assert!(InputSpec::parse("").is_err());
    assert!(InputSpec::parse("t=").is_err());
}

#[test]
fn formats_parse_and_follow_file_names() {
    assert_eq!("csv".parse::<Format>(), Ok(Format::Csv));
    assert_eq!("JSON".parse::<Format>(), Ok(Format::Json));
    assert_eq!(
        "xml".parse::<Format>(),
        Err("unknown format 'xml' (use 'json' or 'csv')".to_string())
    );
    assert_eq!(Format::Csv.to_string(), "csv");
    let of = |p: &str| Format::of_path(Path::new(p));
    assert_eq!(of("a/b.csv"), Some(Format::Csv));
    assert_eq!(of("b.ndjson"), Some(Format::Json));
    assert_eq!(of("b.jsonl"), Some(Format::Json));
    assert_eq!(of("b.tsv"), None);
    assert_eq!(of("-"), None);
}

#[test]
fn the_from_name_names_stdin() {
    let statement = parse_one("SELECT a FROM Trades WHERE a > 1").unwrap();
    assert_eq!(statement.source_name().as_deref(), Some("Trades"));
}

#[test]
fn a_tenth_summed_a_million_times_is_exactly_a_hundred_thousand() {
    let mut text = String::with_capacity(24 * 1_000_001);
    for i in 0..1_000_000u32 {
        let k = if i % 2 == 0 { "a" } else { "b" };
        text.push_str(&format!("{{\"k\":\"{k}\",\"x\":0.1}}\n"));
    }
    let total = run(
        "SELECT SUM(x) AS s, AVG(x) AS a, COUNT(*) AS n FROM t EMIT FINAL",
        &[("t", &text)],
    );
    assert_eq!(total.output, vec![r#"{"s":100000.0,"a":0.1,"n":1000000}"#]);
    // One more record of -0.1 for key a: 49999.9 / 500001 = 0.09999960... rounds to 0.1
    // at 6 digits (half away from zero), and the sum stays exact.
    text.push_str("{\"k\":\"a\",\"x\":-0.1}\n");
    let by_key = run(
        "SELECT k, SUM(x) AS s, AVG(x) AS a, COUNT(*) AS n, MIN(x) AS lo FROM t GROUP BY k EMIT FINAL",
        &[("t", &text)],
    );
    assert_eq!(
        by_key.output,
        vec![
            r#"{"k":"a","s":49999.9,"a":0.1,"n":500001,"lo":-0.1}"#,
            r#"{"k":"b","s":50000.0,"a":0.1,"n":500000,"lo":0.1}"#,
        ]
    );
}

const TRADES_CSV: &str = "symbol,price,quantity,side,note\r\n\
AAPL,187.25,100,BUY,\r\n\
MSFT,415.50,5,SELL,\"small, but \"\"urgent\"\"\"\r\n\
NVDA,875.40,20,BUY,\"two\r\nlines\"\r\n\
XOM,112.45\r\n\
\r\n\
XOM,112.45,300,SELL,\"\"\r\n";

fn csv_out() -> QueryOptions {
    QueryOptions {
        output_format: Format::Csv,
        ..QueryOptions::default()
    }
}

fn run_inputs(sql: &str, inputs: &[MemoryInput<'_>], opts: &QueryOptions) -> QueryOutcome {
    run_query_on_inputs(sql, inputs, opts).unwrap()
}

#[test]
fn a_csv_filter_and_projection_writes_exact_csv() {
    let outcome = run_inputs(
        "SELECT symbol, price * quantity AS notional, note FROM trades \
         WHERE price * quantity > 2000",
        &[MemoryInput::csv("trades", TRADES_CSV)],
        &csv_out(),
    );
    assert_eq!(
        outcome.output.join("\n"),
        "symbol,notional,note\n\
         AAPL,18725.00,\n\
         MSFT,2077.50,\"small, but \"\"urgent\"\"\"\n\
         NVDA,17508.00,\"two\r\nlines\"\n\
         XOM,33735.00,\"\""
    );
    // The short record starts on line 6: the quoted field before it spans lines 4 and 5.
    assert_eq!(
        outcome
            .issues
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["trades:6: malformed CSV: expected 5 fields as in the header, found 2"]
    );
    let stats = outcome.stats;
    assert_eq!(
        (
            stats.records_in,
            stats.records_out,
            stats.malformed,
            stats.eval_errors
        ),
        (5, 4, 1, 0)
    );
}

#[test]
fn csv_in_json_out_with_inferred_types_and_line_offsets() {
    let outcome = run_inputs(
        "SELECT _offset AS line, symbol, price, quantity, note FROM trades WHERE side = 'BUY' \
         OR note = ''",
        &[MemoryInput::csv("trades", TRADES_CSV)],
        &QueryOptions::default(),
    );
    assert_eq!(
        outcome.output,
        vec![
            r#"{"line":2,"symbol":"AAPL","price":187.25,"quantity":100,"note":null}"#,
            r#"{"line":4,"symbol":"NVDA","price":875.40,"quantity":20,"note":"two\r\nlines"}"#,
            r#"{"line":8,"symbol":"XOM","price":112.45,"quantity":300,"note":""}"#,
        ]
    );
    assert_eq!(outcome.issues.len(), 1);
}

#[test]
fn json_in_csv_out_writes_every_type() {
    let input = r#"{"s":"a,b","n":null,"e":"","d":-0.50,"t":"2026-01-01T00:00:00Z","j":{"k":[1,2.50]},"b":true}
{"s":"plain","d":1e3,"t":"2026-01-01","j":[],"b":false,"n":7}
"#;
    let outcome = run_inputs(
        "SELECT s, n, e, d, CAST(t AS TIMESTAMP) AS t, j, b FROM t",
        &[MemoryInput::json("t", input)],
        &csv_out(),
    );
    assert_eq!(
        outcome.output,
        vec![
            "s,n,e,d,t,j,b",
            r#""a,b",,"",-0.50,2026-01-01T00:00:00.000Z,"{""k"":[1,2.50]}",true"#,
            r#"plain,7,,1000,2026-01-01T00:00:00.000Z,"[]",false"#,
        ]
    );
}

#[test]
fn csv_round_trips_through_a_query_exactly() {
    let input = "id,amount,memo,ok\n\
                 1,0.000000000000000001,\"a \"\"quoted\"\" memo, with a comma\",true\n\
                 2,-0.5,,false\n\
                 3,99999999999999999999999999999999999999,\"\",\n\
                 4,1.50,\"line one\nline two\",true\n";
    let outcome = run_inputs(
        "SELECT * FROM t",
        &[MemoryInput::csv("t", input)],
        &csv_out(),
    );
    assert!(outcome.issues.is_empty(), "{:?}", outcome.issues);
    let mut text = outcome.output.join("\n");
    text.push('\n');
    assert_eq!(text, input);
}

#[test]
fn an_aggregation_with_a_window_over_declared_csv() {
    let input = "symbol,price,qty,ts\n\
                 A,10.00,1,2026-01-01T00:00:01Z\n\
                 B,20.50,2,2026-01-01T00:00:02Z\n\
                 A,11.00,3,2026-01-01T00:00:09.999Z\n\
                 A,12.25,4,1767225610000\n\
                 B,21.5,2,2026-01-01T00:00:25Z\n";
    let schema =
        CsvSchema::parse("symbol STRING, price DECIMAL(18,2), qty BIGINT, ts TIMESTAMP").unwrap();
    let outcome = run_inputs(
        "SELECT symbol, SUM(price * qty) / SUM(qty) AS vwap, SUM(qty) AS volume, \
         COUNT(*) AS n, _window_start AS ws FROM trades GROUP BY symbol \
         WINDOW TUMBLING(ts, 10s) EMIT FINAL",
        &[MemoryInput::csv("trades", input).with_schema(schema)],
        &csv_out(),
    );
    assert!(outcome.issues.is_empty(), "{:?}", outcome.issues);
    assert_eq!(
        outcome.output,
        vec![
            "symbol,vwap,volume,n,ws",
            "A,10.75,4,2,1767225600000",
            "B,20.5,2,1,1767225600000",
            "A,12.25,4,1,1767225610000",
            "B,21.5,2,1,1767225620000",
        ]
    );
}

#[test]
fn declared_type_errors_are_reported_at_their_line() {
    let input = "symbol,price\nA,1.25\n\"B\nB\",1.255\nC,x\nD,12345678901234567\nE,2\n";
    let schema = CsvSchema::parse("symbol STRING, price DECIMAL(18,2)").unwrap();
    let outcome = run_inputs(
        "SELECT symbol, price FROM t",
        &[MemoryInput::csv("t", input).with_schema(schema)],
        &QueryOptions::default(),
    );
    assert_eq!(
        outcome.output,
        vec![
            r#"{"symbol":"A","price":1.25}"#,
            r#"{"symbol":"E","price":2.00}"#
        ]
    );
    assert_eq!(
        outcome
            .issues
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec![
            "t:3: malformed CSV: column 'price': 1.255 has more than 2 digits after the point \
             for DECIMAL(18,2)",
            "t:5: malformed CSV: column 'price': cannot cast 'x' to DECIMAL(18,2)",
            "t:6: malformed CSV: column 'price': value 12345678901234567 does not fit \
             DECIMAL(18,2)",
        ]
    );
    assert_eq!(outcome.stats.malformed, 3);
}

#[test]
fn a_number_too_big_for_a_decimal_is_a_record_error() {
    let input = "v\n1\n1e39\n2\n";
    let outcome = run_inputs(
        "SELECT v FROM t",
        &[MemoryInput::csv("t", input)],
        &QueryOptions::default(),
    );
    assert_eq!(outcome.output, vec![r#"{"v":1}"#, r#"{"v":2}"#]);
    assert_eq!(
        outcome.issues[0].to_string(),
        "t:3: malformed CSV: column 'v': number 1e39 cannot be represented exactly \
         (decimal overflow)"
    );
}

#[test]
fn strict_stops_at_the_first_bad_csv_record() {
    let opts = QueryOptions {
        strict: true,
        ..csv_out()
    };
    let err = run_query_on_inputs(
        "SELECT symbol FROM trades",
        &[MemoryInput::csv("trades", TRADES_CSV)],
        &opts,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "trades:6: malformed CSV: expected 5 fields as in the header, found 2"
    );
}

#[test]
fn an_unknown_csv_column_is_a_plan_error_listing_the_header() {
    let err = run_query_on_inputs(
        "SELECT symbol, qty FROM trades",
        &[MemoryInput::csv("trades", TRADES_CSV)],
        &QueryOptions::default(),
    )
    .unwrap_err();
    assert!(err.is_sql_error(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "unknown column 'qty' at line 1, column 16; stream 'trades' has columns: symbol, \
         price, quantity, side, note"
    );
}

#[test]
fn a_schema_that_does_not_match_the_header_stops_the_run() {
    let schema = CsvSchema::parse("symbol STRING, price DECIMAL(10,2), qty BIGINT").unwrap();
    let err = run_query_on_inputs(
        "SELECT symbol FROM trades",
        &[MemoryInput::csv("trades", "symbol,price,quantity\nA,1,2\n").with_schema(schema)],
        &QueryOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "configuration error: input 'trades' (input 'trades'): the header does not match the \
         schema (declared but not in the header: qty; in the header but not declared: quantity)"
    );

    let schema = CsvSchema::parse("a BIGINT").unwrap();
    let err = run_query_on_inputs(
        "SELECT a FROM t",
        &[MemoryInput {
            schema: Some(schema),
            ..MemoryInput::json("t", "{\"a\":1}\n")
        }],
        &QueryOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "configuration error: input 't' is JSON lines: only CSV inputs take a schema"
    );
}

#[test]
fn an_empty_csv_input_writes_only_the_header() {
    for text in ["", "a,b\n"] {
        let outcome = run_inputs(
            "SELECT a, b FROM t",
            &[MemoryInput::csv("t", text)],
            &csv_out(),
        );
        assert_eq!(outcome.output, vec!["a,b"], "{text:?}");
        assert_eq!(outcome.stats.records_in, 0);
        let outcome = run_inputs(
            "SELECT a, b FROM t",
            &[MemoryInput::csv("t", text)],
            &QueryOptions::default(),
        );
        assert!(outcome.output.is_empty());
    }
    // With a schema, an empty input still knows its columns.
    let schema = CsvSchema::parse("a BIGINT").unwrap();
    let err = run_query_on_inputs(
        "SELECT b FROM t",
        &[MemoryInput::csv("t", "").with_schema(schema)],
        &QueryOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("unknown column 'b'"), "{err}");
}

#[test]
fn a_duplicate_csv_header_column_is_refused() {
    let err = run_query_on_inputs(
        "SELECT a FROM t",
        &[MemoryInput::csv("t", "a,b,a\n1,2,3\n")],
        &QueryOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read input 't': the header names column 'a' twice"
    );
}

#[test]
fn the_file_form_reads_csv_files_and_writes_csv() {
    let dir = std::env::temp_dir().join(format!("ferris-job-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trades = dir.join("trades.csv");
    std::fs::write(&trades, TRADES_CSV).unwrap();
    let inputs = [InputSpec::parse(trades.to_str().unwrap()).unwrap()];
    assert_eq!(inputs[0].format, Format::Csv);
    let (mut output, mut report) = (Vec::new(), Vec::new());
    let stats = run_query(
        "SELECT symbol, quantity FROM trades WHERE side = 'SELL'",
        &inputs,
        &mut output,
        &mut report,
        &csv_out(),
    )
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        String::from_utf8(output).unwrap(),
        "symbol,quantity\nMSFT,5\nXOM,300\n"
    );
    assert_eq!(
        String::from_utf8(report).unwrap(),
        "trades:6: malformed CSV: expected 5 fields as in the header, found 2\n"
    );
    assert_eq!((stats.records_in, stats.records_out), (5, 2));
}

#[test]
fn csv_and_json_inputs_mix() {
    let outcome = run_inputs(
        "SELECT a FROM c",
        &[
            MemoryInput::json("j", "{\"x\":1}\n"),
            MemoryInput::csv("c", "a\n1\n2\n"),
        ],
        &QueryOptions::default(),
    );
    assert_eq!(outcome.output, vec![r#"{"a":1}"#, r#"{"a":2}"#]);
}

const ORDERS: &str = r#"{"id":1,"cust":10,"amount":5.50,"ts":1000}
{"id":2,"cust":11,"amount":7,"ts":2000}
{"id":3,"cust":null,"amount":1,"ts":3000}
{"id":4,"cust":12,"amount":2,"ts":4000}
"#;

const CUSTOMERS: &str = r#"{"cid":10,"name":"ann","ts":0}
{"cid":11,"name":"bob","ts":0}
{"cid":10,"name":"ann v2","ts":1500}
{"cid":11,"__deleted":true,"ts":1500}
"#;

#[test]
fn stream_table_join_reads_the_table_first_without_event_times() {
    let outcome = run(
        "SELECT o.id, c.name, o.amount FROM orders o LEFT JOIN customers c ON o.cust = c.cid",
        &[("orders", ORDERS), ("customers", CUSTOMERS)],
    );
    assert_eq!(
        outcome.output,
        vec![
            r#"{"id":1,"name":"ann v2","amount":5.50}"#,
            r#"{"id":2,"name":null,"amount":7}"#,
            r#"{"id":3,"name":null,"amount":1}"#,
            r#"{"id":4,"name":null,"amount":2}"#,
        ]
    );
    assert!(outcome.issues.is_empty(), "{:?}", outcome.issues);
}

#[test]
fn stream_table_join_merges_by_event_time_when_both_inputs_have_one() {
    let outcome = run(
        "SELECT o.id, c.name FROM orders o JOIN customers c ON o.cust = c.cid \
         WITH ('orders.event.time.field' = 'ts', 'customers.event.time.field' = 'ts')",
        &[("orders", ORDERS), ("customers", CUSTOMERS)],
    );
    assert_eq!(outcome.output, vec![r#"{"id":1,"name":"ann"}"#]);
}

#[test]
fn interval_join_matches_within_the_bound_and_emits_unmatched_left_rows() {
    let shipments = r#"{"order_id":1,"ts":1500}
{"order_id":2,"ts":9000}
{"order_id":1,"ts":2500}
"#;
    let outcome = run(
        "SELECT o.id, s.ts AS shipped FROM orders o LEFT JOIN shipments s \
         ON o.id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '1' SECOND",
        &[("orders", ORDERS), ("shipments", shipments)],
    );
    assert_eq!(
        outcome.output,
        vec![
            r#"{"id":1,"shipped":1500}"#,
            r#"{"id":2,"shipped":null}"#,
            r#"{"id":3,"shipped":null}"#,
            r#"{"id":4,"shipped":null}"#,
        ]
    );
}
