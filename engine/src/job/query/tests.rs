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
    let inputs = [InputSpec {
        name: "t".into(),
        path: path.clone(),
    }];
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
    let inputs = [InputSpec {
        name: "t".into(),
        path: "/nonexistent/t.jsonl".into(),
    }];
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
    assert_eq!(
        spec("trades=data/x.jsonl"),
        InputSpec {
            name: "trades".into(),
            path: "data/x.jsonl".into()
        }
    );
    assert_eq!(
        spec("data/trades.jsonl"),
        InputSpec {
            name: "trades".into(),
            path: "data/trades.jsonl".into()
        }
    );
    assert_eq!(
        spec("-"),
        InputSpec {
            name: "stdin".into(),
            path: "-".into()
        }
    );
    assert_eq!(
        spec("t=-"),
        InputSpec {
            name: "t".into(),
            path: "-".into()
        }
    );
    assert_eq!(
        spec("./a=b.jsonl"),
        InputSpec {
            name: "a=b".into(),
            path: "./a=b.jsonl".into()
        }
    );
    assert!(InputSpec::parse("").is_err());
    assert!(InputSpec::parse("t=").is_err());
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
